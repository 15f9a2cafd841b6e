"""Bad input: every broken file is recorded with a one-line cause, and the batch goes on."""

import json
import os
import pathlib
import random
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, EXIT_OK, EXIT_PARTIAL, Audiosim, convert, tone, write_wav

FORMATS = ["wav", "aiff", "flac", "ogg", "opus", "mp3"]


def make_format(folder, ext, seconds=2.0, stem="full"):
    wav = write_wav(folder / f"{stem}-source.wav", tone(seconds=seconds, channels=2, frequency=330))
    target = folder / f"{stem}.{ext}"
    if ext == "wav":
        shutil.move(wav, target)
    elif ext == "opus":
        subprocess.run(["opusenc", "--quiet", "--serial", "1", str(wav), str(target)], check=True)
        wav.unlink()
    else:
        convert(wav, target)
        wav.unlink()
    return target


def cut(path, fraction, target):
    data = path.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


@pytest.fixture
def corpus(library):
    """Good files of every format next to every kind of bad file; returns {name: expected status}."""
    expected = {}
    for ext in FORMATS:
        full = make_format(library, ext)
        expected[full.name] = {"ok"}
    for ext in ["flac", "ogg", "opus"]:
        expected[cut(library / f"full.{ext}", 0.5, library / f"cut.{ext}").name] = {"truncated", "corrupt"}
    # A cut WAV/AIFF data chunk is read as far as it goes (ok, with a warning; test_hostile_inputs).
    for ext in ["wav", "aiff"]:
        expected[cut(library / f"full.{ext}", 0.5, library / f"cut.{ext}").name] = {"ok"}
    # An MP3 has no length in its header (only an estimate): a cut one is a valid, shorter stream.
    expected[cut(library / "full.mp3", 0.5, library / "cut.mp3").name] = {"ok"}
    expected[cut(library / "full.wav", 30 / (library / "full.wav").stat().st_size, library / "header-only.wav").name] = {"corrupt"}
    (library / "empty.wav").write_bytes(b"")
    expected["empty.wav"] = {"empty"}
    (library / "text.mp3").write_text("this is not an mp3\n")
    expected["text.mp3"] = {"not_audio"}
    (library / "noise.flac").write_bytes(random.Random(7).randbytes(5000))
    expected["noise.flac"] = {"not_audio", "corrupt"}
    data = bytearray((library / "full.wav").read_bytes())
    data[20:22] = b"\x55\x00"  # an unknown codec tag in the fmt chunk
    (library / "bad-codec.wav").write_bytes(bytes(data))
    expected["bad-codec.wav"] = {"corrupt", "not_audio"}
    (library / "folder.wav").mkdir()  # a folder named like audio is walked as a folder
    write_wav(library / "folder.wav" / "inside.wav")
    expected["folder.wav/inside.wav"] = {"ok"}
    return expected


def test_corpus_each_file_recorded_with_cause_and_batch_goes_on(audiosim, corpus):
    rows, result = audiosim.ingest_rows(".", check_code=EXIT_PARTIAL)
    by_path = {row["path"]: row for row in rows}
    assert set(by_path) == set(corpus)
    for path, statuses in corpus.items():
        assert by_path[path]["status"] in statuses, (path, by_path[path])
    failed = {p for p, row in by_path.items() if row["status"] != "ok"}
    assert failed and all(by_path[p]["error"] and "\n" not in by_path[p]["error"] for p in failed)
    # One line on stderr per failed file, naming the file and the cause.
    error_lines = [l for l in result.stderr.decode().splitlines() if ": error: " in l]
    assert len(error_lines) == len(failed)
    for path in failed:
        assert any(f"error: {path}: {by_path[path]['error']}" in line for line in error_lines), path
    summary = result.stderr.decode().splitlines()[-1]
    assert f"{len(failed)} failed" in summary
    status = audiosim.status()
    assert status["files"]["failed"] == len(failed)
    assert status["files"]["ok"] == len(corpus) - len(failed)
    assert sorted(e["path"] for e in status["errors"]) == sorted(failed)


def test_failed_files_are_not_retried_until_they_change(audiosim, library, corpus):
    audiosim.ingest_rows(".", check_code=EXIT_PARTIAL)
    rows, result = audiosim.ingest_rows(".", check_code=EXIT_OK)
    assert rows == [], "an unchanged broken file is not read again"
    write_wav(library / "empty.wav")
    rows, _ = audiosim.ingest_rows(".", check_code=EXIT_OK)
    assert [(r["event"], r["path"], r["status"]) for r in rows] == [("changed", "empty.wav", "ok")]


def test_verify_decodes_everything(audiosim, corpus):
    rows, _ = audiosim.ingest_rows("--verify", ".", check_code=EXIT_PARTIAL)
    by_path = {row["path"]: row for row in rows}
    for ext in ["flac", "ogg", "opus"]:
        assert by_path[f"cut.{ext}"]["status"] in {"truncated", "corrupt"}
    for ext in ["wav", "aiff"]:
        assert by_path[f"cut.{ext}"]["status"] == "ok" and by_path[f"cut.{ext}"]["warning"].startswith("truncated: ")
    assert by_path["full.flac"]["frames"] == by_path["full.wav"]["frames"]


def test_missing_inputs_and_vanished_list_entries(audiosim, library):
    write_wav(library / "good.wav")
    rows, result = audiosim.ingest_rows("-", "no-such-folder", input=b"good.wav\ngone.wav\n", check_code=EXIT_PARTIAL)
    by_path = {row["path"]: row for row in rows}
    assert by_path["good.wav"]["event"] == "added"
    assert by_path["gone.wav"]["status"] == "vanished" and by_path["no-such-folder"]["status"] == "vanished"


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv (util-linux) to drop root")
def test_unreadable_file_is_recorded_and_others_go_on():
    # Root reads any file, so the run drops to nobody; the folders are made world-writable.
    base = pathlib.Path(tempfile.mkdtemp(prefix="audiosim-perm-"))
    try:
        base.chmod(0o777)
        library = base / "library"
        write_wav(library / "good.wav")
        secret = write_wav(library / "secret.wav", frequency=500)
        secret.chmod(0o000)
        library.chmod(0o777)
        argv = [str(BIN), "--store", str(base / "store"), "ingest", "--format", "jsonl", "."]
        if os.getuid() == 0:
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        result = subprocess.run(argv, cwd=library, capture_output=True, timeout=60)
        assert result.returncode == EXIT_PARTIAL, result.stderr
        rows = {r["path"]: r for r in map(json.loads, result.stdout.decode().splitlines())}
        assert rows["good.wav"]["status"] == "ok"
        assert rows["secret.wav"]["status"] == "unreadable" and "Permission denied" in rows["secret.wav"]["error"]
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_fuzz_cut_and_flipped_files_never_crash_or_hang(audiosim, library):
    """Cuts at many points and random byte flips, for every format: exit 0 or 1, never a crash or a hang."""
    rng = random.Random(2026)
    sources = [make_format(library / "src", ext, seconds=1.0) for ext in FORMATS]
    fuzz = library / "fuzz"
    fuzz.mkdir()
    for source in sources:
        data = source.read_bytes()
        for i in range(12):
            (fuzz / f"cut{i}-{source.name}").write_bytes(data[: rng.randrange(1, len(data))])
            flipped = bytearray(data)
            for _ in range(rng.randrange(1, 20)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            (fuzz / f"flip{i}-{source.name}").write_bytes(bytes(flipped))
    for extra in ([], ["--verify"]):
        result = audiosim.run("ingest", *extra, "--format", "jsonl", "fuzz", timeout=120)
        assert result.returncode in (EXIT_OK, EXIT_PARTIAL), result.stderr.decode()[-2000:]
        rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
        assert len(rows) == len(list(fuzz.iterdir())) or extra, "every fuzzed file is listed once"
        assert all(row["status"] == "ok" or row["error"] for row in rows)
