"""The pretrained aisfx model (models/aisfx): scripts/install-model.sh installs it, it keeps the
model contract, its export is byte-identical on every run, and the vectors audiosim stores equal
the package's own inference on the same audio.

The model is installed here when missing (its pinned wheel from PyPI: about 40 MB with the
Essentia front end the reference needs); the tests skip only when PyPI cannot be reached.

Parity: audiosim (decode, embed --profile whole, the TorchScript export) against aisfx 0.1.2's
own pipeline (inference.main's steps with its defaults: the Essentia spectrogram of the file,
spectrogram_normalize 'original', blocking with hop 50 and partial blocks dropped, CrossNet
.get_embedding on the checkpoint's weights), pooled as the export pools (the mean over blocks,
L2-normalized). Both read the same 44.1 kHz mono float WAV files, so what differs is only float
rounding: measured max |difference| 1.4e-6 per component (cosine 1 - 1e-7) on the demo library
and speech; the test allows 1e-4 (cosine > 0.9999)."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from conftest import (EXIT_OK, ROOT, Audiosim, assert_export_is_byte_identical, assert_keeps_the_contract,
                      assert_rows_alone, demo_as_mono_wavs, install_model, mono_float_wav)
from test_embed import read_vectors

MODEL_DIR = ROOT / "models" / "aisfx"
SIDECAR = MODEL_DIR / "aisfx-v1.json"
WEIGHTS = MODEL_DIR / "aisfx-v1.pt"
RATE = 44100
MAX_ABS_DIFF = 1e-4  # measured 1.4e-6: float rounding of two float32 front ends and CNNs


@pytest.fixture(scope="module")
def installed():
    """The installed export's sidecar; installs the model (and the package's inference) if missing."""
    install_model("aisfx", ("essentia", "aisfx.inference"), "aisfx")
    return SIDECAR


def test_models_check_passes(installed, tmp_path):
    assert_keeps_the_contract(MODEL_DIR, "aisfx", 512, tmp_path)


def test_export_is_byte_identical(installed, tmp_path):
    assert_export_is_byte_identical(MODEL_DIR, "aisfx", tmp_path)


def test_rows_depend_only_on_their_own_samples(installed):
    together = assert_rows_alone(WEIGHTS, [1, 700, 88200, 150000, 0], 150000, 512, seed=7)
    assert (together[2] - together[3]).abs().max() > 1e-3  # different audio, different vectors


def package_embedding(path, network):
    """aisfx 0.1.2's own inference on one file, its block embeddings pooled as the export pools."""
    from aisfx import inference, preprocessing
    from aisfx.spectrogram import spectrogram_essentia
    spec = spectrogram_essentia.compute_spectrogram(
        filename=str(path), sr=inference.SAMPLE_RATE, block_size=inference.SPEC_BLOCK_LENGTH,
        hop_size=inference.SPEC_HOP_LENGTH, n_mels=inference.MEL_BINS, f_min=inference.F_MIN,
        f_max=inference.F_MAX)
    spec = preprocessing.spectrogram_normalize(spec, spec_norm="original")
    # inference.model_get_embedding's hop with emb_hop_size 0.5, without compute_hopSize's assert
    # (it refuses files under 51 frames, which blocking itself pads to one block)
    hop = int(np.round(inference.EMB_BLOCK_LENGTH * 0.5))
    blocks = preprocessing.blocking(spec, inference.EMB_BLOCK_LENGTH, hop, drop_partial_block=True)
    with torch.no_grad():
        embedding = network.get_embedding(torch.Tensor(blocks)).mean(dim=0).numpy()
    return embedding / np.linalg.norm(embedding)


def package_network():
    """CrossNet with the checkpoint's weights, built by the package (inference.load_bestModel).
    The package's load_weights calls torch.load without weights_only, refused by torch >= 2.6:
    the weights come from export.py's loader (sha256 checked, no code of the pickle runs)."""
    from aisfx import inference
    sys.path.insert(0, str(MODEL_DIR))
    try:
        import export
    finally:
        sys.path.remove(str(MODEL_DIR))
    weights, datasets = export.load_checkpoint(pathlib.Path(inference.get_path_modelWeights()))
    return inference.load_bestModel(weights, datasets, "cpu")


def speak(text, path, scratch):
    raw = scratch / (path.stem + ".espeak.wav")
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    return mono_float_wav(raw, path, RATE, scratch)


def test_vectors_equal_the_packages_own_inference(installed, tmp_path):
    library, scratch = tmp_path / "library", tmp_path / "scratch"
    scratch.mkdir()
    demo_as_mono_wavs(library, RATE, scratch)
    # speech: several 2.3 s blocks per file, so the mean over blocks is compared too
    (library / "espeak").mkdir()
    speak("The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
          library / "espeak" / "fox.wav", scratch)
    speak("Sound effects libraries hold footsteps, doors, engines and rain.",
          library / "espeak" / "library.wav", scratch)

    audiosim = Audiosim(tmp_path / "store", library)
    rows, _ = audiosim.ingest_rows(".")
    paths = {row["file_id"]: library / row["path"] for row in rows if row["file_id"] is not None}
    result = audiosim.run("embed", "--profile", "whole", "--model", str(installed), check_code=EXIT_OK, timeout=600)
    assert "on cpu" in result.stderr.decode()
    vectors = read_vectors(audiosim.store)
    # files whose only chunk is flagged (silent, noise floor) are not embedded
    assert len(vectors) >= len(paths) - 10 and len(vectors) > 50

    network = package_network()
    worst, long_files = 0.0, 0
    for file_id, vector in vectors.values():
        path = paths[file_id]
        expected = package_embedding(path, network)
        difference = float(np.abs(vector - expected).max())
        assert difference < MAX_ABS_DIFF, f"{path.relative_to(library)}: max |difference| {difference:.2e}"
        assert float(vector @ expected) > 1 - MAX_ABS_DIFF
        worst = max(worst, difference)
        long_files += soundfile.info(str(path)).frames > 3 * RATE
    assert long_files >= 2  # the speech, at least: rows of several blocks were compared
    print(f"aisfx parity: {len(vectors)} files, max |difference| {worst:.2e}")
