"""The resemblyzer model (models/resemblyzer): installed by scripts/install-model.sh, it keeps the
model contract, and audiosim's vectors equal the package's own Python inference.

What is compared: for each 16 kHz WAV file, the vector audiosim stores (`embed --model
resemblyzer --profile whole`: one chunk per file, decoded by libsndfile, the TorchScript run by
the C++ runner) against Resemblyzer 0.1.4's
    VoiceEncoder("cpu").embed_utterance(normalize_volume(wav, -30, increase_only=True))
on the same samples read with soundfile: the package's preprocess_wav less its resampling (the
files are 16 kHz already) and its webrtcvad silence trim, which the TorchScript leaves out
(models/resemblyzer/README.md). The package computes the mel spectrogram with librosa
(models/resemblyzer/requirements.txt), so the front end is compared too, not only the network.
Measured: max |difference| 1.9e-07 per component (librosa 0.11.0, torch 2.11.0, this machine);
the test allows 1e-5, the contract's batch tolerance.

Audio: espeak-ng sentences (three voices, three sentences each) and the demo library's speech
words (six voices, MP3/FLAC/Opus/AIFF/WAV), all converted to 16 kHz WAV here."""

import pathlib
import subprocess

import numpy as np
import pytest
import soundfile

from conftest import EXIT_OK, Audiosim, assert_keeps_the_contract, convert, install_model
from test_embed import read_vectors

RATE = 16000
TOLERANCE = 1e-5  # max |difference| per component; measured 1.9e-07
VOICES = ("en-us", "en+f3", "en-gb-scotland+f2")
SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "Sample libraries hold thousands of drum hits, loops and spoken phrases.",
)


@pytest.fixture(scope="module")
def model_dir():
    """models/resemblyzer with its export and the package itself (the reference)."""
    return install_model("resemblyzer", ("resemblyzer",), "resemblyzer")


@pytest.fixture(scope="module")
def speech(tmp_path_factory, demo):
    """A library of 16 kHz mono WAVs: espeak-ng/VOICE-N.wav, one of them 40 dB down in quiet/, and
    demo/speech-NN.wav."""
    library = tmp_path_factory.mktemp("resemblyzer") / "library"
    for voice in VOICES:
        for index, sentence in enumerate(SENTENCES):
            raw = library / "raw" / f"{voice}-{index}.wav"
            raw.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), sentence], check=True, capture_output=True)
            convert(raw, library / "espeak-ng" / raw.name, effects=("rate", str(RATE)))
    # 40 dB down: below -30 dBFS RMS, where the package's normalize_volume raises the level
    convert(raw, library / "quiet" / raw.name, effects=("rate", str(RATE), "gain", "-40"))
    for source in sorted((demo / "speech").iterdir()):
        # sox here reads no Opus: libsndfile decodes, sox resamples
        samples, rate = soundfile.read(str(source), dtype="float32")
        raw = library / "raw" / f"{source.stem}.wav"
        soundfile.write(str(raw), samples, rate, subtype="FLOAT")
        convert(raw, library / "demo" / raw.name, effects=("rate", str(RATE)))
    return library


@pytest.fixture(scope="module")
def stored(model_dir, speech, tmp_path_factory):
    """{catalog path: audiosim's vector} for every file of `speech`, one chunk per file."""
    audiosim = Audiosim(tmp_path_factory.mktemp("store") / "store", speech)
    rows, _ = audiosim.ingest_rows("espeak-ng", "quiet", "demo")
    paths = {row["file_id"]: row["path"] for row in rows}
    env = {"AUDIOSIM_MODEL_PATH": str(model_dir)}
    audiosim.run("embed", "--model", "resemblyzer", "--profile", "whole", env=env, check_code=EXIT_OK, timeout=300)
    vectors = read_vectors(audiosim.store)
    assert sorted(file_id for file_id, _ in vectors.values()) == sorted(paths), "one vector per file"
    return {paths[file_id]: vector for file_id, vector in vectors.values()}


def test_models_check_passes(model_dir, tmp_path):
    assert_keeps_the_contract(model_dir, "resemblyzer", 256, tmp_path)


def test_sidecar_names_the_package_and_its_weights(model_dir):
    import json
    meta = json.loads((model_dir / "resemblyzer-v1.json").read_text())
    assert (meta["name"], meta["version"], meta["sample_rate"], meta["embedding_dim"]) == ("resemblyzer", "1", RATE, 256)
    assert meta["normalized"] is True and meta["text_tower"] is None and meta["license"] == "Apache-2.0"
    assert meta["package"]["version"] == "0.1.4" and len(meta["weights_sha256"]) == 64


def test_vectors_equal_the_packages_own_inference(model_dir, speech, stored):
    from resemblyzer import VoiceEncoder
    from resemblyzer.audio import normalize_volume

    encoder = VoiceEncoder("cpu", verbose=False)
    worst = {}
    for path, vector in stored.items():
        wav, rate = soundfile.read(str(speech / path), dtype="float32")
        assert rate == RATE and wav.ndim == 1
        reference = encoder.embed_utterance(normalize_volume(wav, -30, increase_only=True))
        worst[path] = float(np.abs(reference - vector).max())
    assert len(worst) == len(VOICES) * len(SENTENCES) + 1 + 6
    assert max(worst.values()) <= TOLERANCE, sorted(worst.items(), key=lambda kv: -kv[1])[:3]


def test_same_voice_scores_higher_than_other_voices(stored):
    """A speaker test: sentences said by one espeak-ng voice are nearer each other than to the
    other voices' (the default DSP model, made for one-shots, is not asked to do this)."""
    paths = sorted(p for p in stored if p.startswith("espeak-ng/"))
    voice = [pathlib.PurePath(p).stem.rsplit("-", 1)[0] for p in paths]
    matrix = np.stack([stored[p] for p in paths])
    scores = matrix @ matrix.T
    np.fill_diagonal(scores, -np.inf)
    for i, path in enumerate(paths):
        assert voice[int(np.argmax(scores[i]))] == voice[i], f"{path}: nearest is another voice"
    for name in VOICES:
        mine = [i for i, v in enumerate(voice) if v == name]
        others = [i for i, v in enumerate(voice) if v != name]
        same = np.mean([scores[i, j] for i in mine for j in mine if i != j])
        different = np.mean([scores[i, j] for i in mine for j in others])
        assert same > different + 0.05, f"{name}: same voice {same:.3f}, other voices {different:.3f}"
