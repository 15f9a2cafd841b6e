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

import importlib
import os
import pathlib
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
import soundfile
import torch

from conftest import BIN, DEMO, EXIT_OK, ROOT, Audiosim, convert
from test_embed import read_vectors

MODEL_DIR = ROOT / "models" / "aisfx"
SIDECAR = MODEL_DIR / "aisfx-v1.json"
WEIGHTS = MODEL_DIR / "aisfx-v1.pt"
RATE = 44100
MAX_ABS_DIFF = 1e-4  # measured 1.4e-6: float rounding of two float32 front ends and CNNs


def pypi_unreachable():
    """Why PyPI cannot be reached, or None."""
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/")
    try:
        with urllib.request.urlopen(f"{index}/aisfx/", timeout=20):
            return None
    except OSError as error:
        return f"PyPI ({index}) unreachable: {error}"


def reference_importable():
    importlib.invalidate_caches()
    try:
        importlib.import_module("essentia")
        importlib.import_module("aisfx.inference")
        return True
    except ImportError:
        return False


@pytest.fixture(scope="module")
def installed():
    """The installed export's sidecar; installs the model (and the package's inference) if missing."""
    if not (SIDECAR.exists() and WEIGHTS.exists() and reference_importable()):
        force = ["--force"] if SIDECAR.exists() else []
        result = subprocess.run(["bash", str(ROOT / "scripts" / "install-model.sh"), "aisfx", *force],
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            reason = pypi_unreachable()
            if reason:
                pytest.skip(f"cannot install aisfx: {reason}")
            pytest.fail(f"scripts/install-model.sh aisfx failed:\n{result.stdout}\n{result.stderr}")
        assert reference_importable(), "install-model.sh did not install aisfx's inference (requirements.txt)"
    return SIDECAR


def test_models_check_passes(installed, tmp_path):
    result = subprocess.run([str(BIN), "models", "check", "aisfx"], capture_output=True, text=True,
                            env={**os.environ, "AUDIOSIM_MODEL_PATH": str(MODEL_DIR)}, cwd=tmp_path)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    rows = dict(line.split("\t")[:2] for line in result.stdout.splitlines()[1:])
    assert rows == {check: "ok" for check in
                    ("shape", "finite", "norms", "deterministic", "batch and padding", "distinct")}
    assert "[5, 512]" in result.stdout and "aisfx-1-" in result.stderr


def test_export_is_byte_identical(installed, tmp_path):
    subprocess.run([sys.executable, str(MODEL_DIR / "export.py"), "--out-dir", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    for name in ("aisfx-v1.pt", "aisfx-v1.json"):
        assert (tmp_path / name).read_bytes() == (MODEL_DIR / name).read_bytes(), (
            f"{name} differs from a fresh export: re-run scripts/install-model.sh aisfx --force")


def test_rows_depend_only_on_their_own_samples(installed):
    model = torch.jit.load(str(WEIGHTS), map_location="cpu")
    generator = torch.Generator().manual_seed(7)
    lengths = torch.tensor([1, 700, 88200, 150000, 0])
    # padding past each row's length is loud noise, not zeros: it must not leak in
    batch = torch.randn(5, 150000, generator=generator).clamp(-1, 1)
    with torch.no_grad():
        together = model(batch, lengths)
        alone = torch.cat([model(batch[i:i + 1, :int(n)], lengths[i:i + 1]) for i, n in enumerate(lengths)])
        reordered = model(batch.flip(0), lengths.flip(0)).flip(0)
    assert together.shape == (5, 512) and torch.isfinite(together).all()
    assert torch.allclose(together.norm(dim=1), torch.ones(5), atol=1e-5)
    assert (together - alone).abs().max() < 1e-5
    assert (together - reordered).abs().max() < 1e-5
    assert (together[2] - together[3]).abs().max() > 1e-3  # different audio, different vectors


def mono_44k(source, target, scratch):
    """The file decoded (libsndfile), mixed to mono, resampled to 44.1 kHz (sox), as float WAV."""
    samples, rate = soundfile.read(str(source), dtype="float32", always_2d=True)
    native = scratch / (target.stem + ".native.wav")
    soundfile.write(str(native), samples.mean(axis=1), rate, subtype="FLOAT")
    convert(native, target, "-e", "floating-point", "-b", "32", effects=("rate", "-v", str(RATE)))
    native.unlink()
    return target


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
    return mono_44k(raw, path, scratch)


def test_vectors_equal_the_packages_own_inference(installed, tmp_path):
    library, scratch = tmp_path / "library", tmp_path / "scratch"
    scratch.mkdir()
    sources = sorted(p for p in DEMO.rglob("*") if p.suffix in {".wav", ".aiff", ".flac", ".mp3", ".ogg", ".opus"})
    assert len(sources) > 50, DEMO
    for source in sources:
        relative = source.relative_to(DEMO)
        target = library / relative.parent / f"{relative.stem}.{relative.suffix[1:]}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        mono_44k(source, target, scratch)
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
