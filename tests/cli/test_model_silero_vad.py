"""Speech activity (models/silero-vad): the exported model gives the package's own probabilities,
and a chunk profile with it flags the chunks without speech (no_speech), which embed skips.
Installs silero-vad from PyPI when missing (skips only when PyPI cannot be reached)."""

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile
import torch

from conftest import EXIT_OK, EXIT_USAGE, BIN, DEMO, convert, install_model, tone, write_wav

EXIT_MODEL = 5  # docs/CLI.md, "Exit codes"

SENTENCES = [
    "The quick brown fox jumps over the lazy dog, and then it runs into the forest.",
    "Please keep the sample library tidy: every kick, snare and hat in its own folder.",
]


@pytest.fixture(scope="module")
def silero(tmp_path_factory):
    return install_model("silero-vad", ["silero_vad"], "silero-vad")


def espeak(text, target):
    """A sentence spoken by espeak-ng (22050 Hz WAV), about 4 to 5 s."""
    subprocess.run(["espeak-ng", "-w", str(target), text], check=True, capture_output=True)
    return target


def at_16k(source, scratch):
    """The file as mono float32 samples at 16 kHz (sox), the rate the model takes."""
    target = convert(source, scratch / (source.stem + ".16k.wav"), "-e", "floating-point", "-b", "32",
                     effects=("remix", "-", "rate", "-v", "16000"))
    samples, rate = soundfile.read(str(target), dtype="float32")
    assert rate == 16000
    return torch.from_numpy(samples).unsqueeze(0)


def test_the_exported_model_gives_the_packages_probabilities(silero, tmp_path):
    from silero_vad import load_silero_vad

    package = load_silero_vad()
    exported = torch.jit.load(str(silero / "silero-vad-v1.pt"))
    sources = [espeak(text, tmp_path / f"sentence-{i}.wav") for i, text in enumerate(SENTENCES)]
    sources += sorted((DEMO / "speech").glob("*.wav")) + sorted((DEMO / "tonal").glob("*.wav"))[:2]
    for source in sources:
        x = at_16k(source, tmp_path)
        with torch.no_grad():
            expected = package.audio_forward(x, 16000).squeeze(0)
            got = exported.probabilities(x)
            share = exported(x, torch.tensor([x.shape[1]]))
        assert torch.equal(got, expected), source.name
        assert share.shape == (1, 1) and float(share) == pytest.approx(float((expected >= 0.5).float().mean()))
    # rows alone or in a padded batch: the same shares
    rows = [at_16k(source, tmp_path)[0] for source in sources[:3]]
    batch = torch.zeros(len(rows), max(len(r) for r in rows))
    for i, row in enumerate(rows):
        batch[i, :len(row)] = row
    with torch.no_grad():
        together = exported(batch, torch.tensor([len(r) for r in rows]))
        alone = torch.cat([exported(r.unsqueeze(0), torch.tensor([len(r)])) for r in rows])
    assert torch.equal(together, alone)


@pytest.fixture
def mixed_library(library, tmp_path):
    """Speech, speech then a tone, and sounds without speech."""
    espeak(SENTENCES[0], library / "fox.wav")
    spoken, rate = soundfile.read(str(espeak(SENTENCES[1], tmp_path / "tidy.wav")), dtype="float32")
    assert len(spoken) / rate > 3.5
    held = tone(seconds=10.0, rate=rate, frequency=330.0, amplitude=0.3)[:, 0]
    write_wav(library / "tidy-then-tone.wav", np.concatenate([spoken, held])[:, None], rate=rate)
    write_wav(library / "tone.wav", tone(seconds=6.0, rate=22050, frequency=220.0), rate=22050)
    write_wav(library / "noise.wav", tone(seconds=6.0, rate=44100, amplitude=0.2, seed=3), rate=44100)
    shutil.copy(DEMO / "kick" / "kick-01.wav", library / "kick.wav")
    return library


def chunk_rows(audiosim, *args, check_code=EXIT_OK):
    result = audiosim.run("chunk", "--format", "jsonl", *args, check_code=check_code)
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def test_the_speech_profile_flags_chunks_without_speech(silero, audiosim, mixed_library):
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    rows = chunk_rows(audiosim, "--profile", "speech")
    flags = {}
    for row in rows:
        flags.setdefault(row["path"], []).append((row["start"], row["flags"]))
    assert {flag for _, flag in flags["fox.wav"]} == {""}  # speech throughout
    for path in ("tone.wav", "noise.wav", "kick.wav"):
        assert {flag for _, flag in flags[path]} == {"no_speech"}, (path, flags[path])
    # 4 s windows, 2 s apart: the sentence fills the first, the tone the last ones
    mixed = flags["tidy-then-tone.wav"]
    assert mixed[0] == (0, "") and len(mixed) >= 6
    assert all(flag == "no_speech" for start, flag in mixed if start >= 6)

    manifest = json.loads((audiosim.store / "manifest.json").read_text())
    activity = manifest["chunks"]["speech"]["profile"]["speech_activity"]
    assert activity["model"] == "silero-vad" and activity["model_id"].startswith("silero-vad-1-")
    assert activity["min_speech"] == 0.1

    result = audiosim.run("embed", "--profile", "speech", check_code=EXIT_OK)
    speech_chunks = sum(1 for row in rows if row["flags"] == "")
    assert f"{speech_chunks} chunks ({len(rows) - speech_chunks} flagged, not embedded)" in result.stderr.decode()

    # without it (--speech-model none, under another name): no chunk is flagged
    plain = chunk_rows(audiosim, "--profile", "speech", "--speech-model", "none", "--name", "speech-plain")
    assert {row["flags"] for row in plain} == {""} and len(plain) == len(rows)


def test_a_query_file_is_flagged_as_stored_files_are(silero, audiosim, mixed_library, tmp_path):
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("embed", "--profile", "speech", check_code=EXIT_OK)
    spoken = espeak("Hello there, this is a question about the fox.", tmp_path / "question.wav")
    result = audiosim.run("query", "--profile", "speech", "--format", "jsonl", str(spoken), check_code=EXIT_OK)
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    # only speech chunks are stored: the answers are the spoken files
    assert rows and {row["path"] for row in rows} <= {"fox.wav", "tidy-then-tone.wav"}
    # a query without speech has nothing to search with, as a silent one
    held = write_wav(tmp_path / "held.wav", tone(seconds=5.0, rate=22050, frequency=262.0), rate=22050)
    result = audiosim.run("query", "--profile", "speech", str(held))
    assert result.returncode == 3 and b"without speech" in result.stderr and b"held.wav" in result.stderr
    # the same tone in a profile without speech activity is a query like any other
    audiosim.run("embed", "--profile", "sample", check_code=EXIT_OK)
    audiosim.run("query", "--profile", "sample", str(held), check_code=EXIT_OK)


def test_speech_model_on_another_profile_and_its_errors(silero, audiosim, mixed_library, tmp_path):
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    strict = chunk_rows(audiosim, "--profile", "oneshot", "--speech-model", "silero-vad", "--min-speech", "0.9",
                        "--name", "strict")
    lenient = chunk_rows(audiosim, "--profile", "oneshot", "--speech-model", "silero-vad", "--min-speech", "0.05",
                         "--name", "lenient")
    # one chunk a file (the first 10 s); a higher bar flags at least as many
    assert {r["path"]: r["flags"] for r in lenient}["fox.wav"] == ""
    assert sum(r["flags"] == "no_speech" for r in strict) >= sum(r["flags"] == "no_speech" for r in lenient)
    assert {r["path"]: r["flags"] for r in strict}["tone.wav"] == "no_speech"

    result = audiosim.run("embed", "--model", "silero-vad", check_code=EXIT_USAGE)
    assert b"speech-activity" in result.stderr and b"no embeddings" in result.stderr
    result = audiosim.run("chunk", "--speech-model", "audiosim-dsp", "--name", "wrong", check_code=EXIT_USAGE)
    assert b"not a speech-activity model" in result.stderr

    # the profile's chunks were flagged by one model: another file under that name is an error
    copy = tmp_path / "vad-copy"
    copy.mkdir()
    for name in ("silero-vad-v1.pt", "silero-vad-v1.json"):
        shutil.copy(silero / name, copy / name)
    chunk_rows(audiosim, "--speech-model", str(copy / "silero-vad-v1.json"), "--name", "copied")
    with open(copy / "silero-vad-v1.pt", "ab") as changed:
        changed.write(b"\0")
    write_wav(mixed_library / "later.wav", tone(seconds=2.0, rate=22050), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    result = audiosim.run("chunk", "--profile", "copied", check_code=EXIT_MODEL)
    assert b"flagged by the speech model silero-vad-1-" in result.stderr and b"another --name" in result.stderr


def test_models_check_knows_a_speech_activity_model(silero):
    result = subprocess.run([str(BIN), "models", "check", "silero-vad"], capture_output=True, text=True, timeout=300)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    rows = dict(line.split("\t")[:2] for line in result.stdout.splitlines()[1:])
    assert rows == {check: "ok" for check in ("shape", "finite", "speech shares", "deterministic", "batch and padding")}
