"""Hostile inputs: implausible headers, cut WAV/AIFF files, files that fail inside embed, and FIFOs
and devices wherever a path is given (a FIFO must be refused, never opened: opening one blocks)."""

import json
import os
import pathlib
import struct

import h5py
import pytest

from conftest import (EXIT_INPUT, EXIT_OK, EXIT_PARTIAL, Audiosim, convert, parse_rows, tone,
                      write_wav)

TIMEOUT = 60  # a run that opens a FIFO blocks: the timeout fails the test instead of hanging it


def handmade_wav(path, rate, channels, frames, claimed_bytes=None):
    """A 16-bit PCM WAV written byte by byte: any header, however odd."""
    data = bytes(2 * channels * frames)
    size = len(data) if claimed_bytes is None else claimed_bytes
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
    pathlib.Path(path).write_bytes(header + b"data" + struct.pack("<I", size) + data)
    return pathlib.Path(path)


def error_lines(result):
    return [line for line in result.stderr.decode().splitlines() if ": error: " in line]


# ---------------------------------------------------------------------------------------------
# 1. Implausible headers

def test_implausible_headers_are_corrupt_and_embed_is_not_troubled(audiosim, library):
    handmade_wav(library / "one-hertz.wav", rate=1, channels=1, frames=44100)  # 12 h of audio by its header
    handmade_wav(library / "hundred.wav", rate=8000, channels=100, frames=80)
    write_wav(library / "good.wav", tone(seconds=1.0, rate=22050), rate=22050)
    rows, result = audiosim.ingest_rows(".", check_code=EXIT_PARTIAL)
    by_path = {row["path"]: row for row in rows}
    assert by_path["one-hertz.wav"]["status"] == "corrupt"
    assert by_path["one-hertz.wav"]["error"] == "implausible header: 1 Hz (audio is 1000 Hz to 768 kHz)"
    assert by_path["hundred.wav"]["status"] == "corrupt"
    assert by_path["hundred.wav"]["error"] == "implausible header: 100 channels (audio has 1 to 64)"
    assert by_path["good.wav"]["status"] == "ok"
    errors = error_lines(result)
    assert len(errors) == 2 and all(line.count("\n") == 0 for line in errors)
    assert any("one-hertz.wav: implausible header: 1 Hz" in line for line in errors)
    assert audiosim.status()["files"]["audio_seconds"] == pytest.approx(1.0)
    for _ in range(2):  # not only the first embed: every later one is clean too
        result = audiosim.run("embed", check_code=EXIT_OK, timeout=TIMEOUT)
        assert error_lines(result) == []


# ---------------------------------------------------------------------------------------------
# 3. Cut WAV and AIFF files: the audio there is, with a warning

@pytest.fixture
def cut_files(library, tmp_path):
    """A WAV and an AIFF (2 s, stereo, 16-bit) cut in the middle of their data: {name: frames present}."""
    source = write_wav(tmp_path / "source.wav", tone(seconds=2.0, rate=22050, channels=2), rate=22050)
    full_aiff = convert(source, tmp_path / "source.aiff")
    present = {}
    for name, full, header in (("cut.wav", source, 44), ("cut.aiff", full_aiff, None)):
        data = full.read_bytes()
        keep = len(data) // 2 + 1  # an odd cut: the half frame at the end is not audio
        (library / name).write_bytes(data[:keep])
        if header is None:  # AIFF: the sound data starts 8 bytes into the SSND chunk's body
            header = data.index(b"SSND") + 16
        present[name] = (keep - header) // 4
    return present


def test_cut_wav_and_aiff_are_ok_with_a_truncated_warning(audiosim, cut_files):
    rows, result = audiosim.ingest_rows(".", check_code=EXIT_OK)
    by_path = {row["path"]: row for row in rows}
    assert set(by_path) == set(cut_files)
    for name, frames in cut_files.items():
        row = by_path[name]
        assert row["status"] == "ok" and row["error"] == "", row
        assert row["frames"] == frames, (name, row["frames"], frames)
        assert row["warning"].startswith("truncated: data chunk declares "), row
        assert f"warning: {name}: truncated: " in result.stderr.decode()
    assert "2 with warnings" in result.stderr.decode().splitlines()[-1]
    status = audiosim.status()
    assert status["files"]["ok"] == 2 and status["files"]["with_warnings"] == 2
    assert {w["path"] for w in status["warnings"]} == set(cut_files)
    assert status["errors"] == []
    text = audiosim.run("status", check_code=EXIT_OK).stdout.decode()
    assert "warnings    2" in text and "cut.wav: truncated: data chunk declares" in text
    # Chunks end at the last frame there is, and embed reads them without an error.
    chunks = parse_rows(audiosim.run("chunk", "--format", "jsonl", check_code=EXIT_OK).stdout, "jsonl")
    for name, frames in cut_files.items():
        ends = [round((c["start"] + c["duration"]) * 22050) for c in chunks if c["path"] == name]
        assert max(ends) == frames, (name, ends, frames)
    result = audiosim.run("embed", check_code=EXIT_OK, timeout=TIMEOUT)
    assert "2 files embedded" in result.stderr.decode() and error_lines(result) == []


def test_strict_refuses_cut_files_as_truncated(audiosim, cut_files):
    rows, result = audiosim.ingest_rows("--strict", ".", check_code=EXIT_PARTIAL)
    for row in rows:
        assert row["status"] == "truncated" and row["error"].startswith("data chunk declares "), row
        assert row["warning"] == ""
    assert len(error_lines(result)) == 2


# ---------------------------------------------------------------------------------------------
# 2. A file that fails inside embed: named, recorded, not retried until it changes

def catalog_file_id(audiosim, path):
    """The file id the catalog holds for `path` (read with h5py, newest segment first)."""
    manifest = json.loads((audiosim.store / "manifest.json").read_text())
    for segment in reversed(manifest["catalog"]):
        with h5py.File(audiosim.store / segment["file"], "r") as f:
            paths = [p.decode() for p in f["files/path"][:]]
            if path in paths:
                return f["files/file_id"][paths.index(path)]
    raise AssertionError(path)


def spoil_keeping_size_and_mtime(path):
    """Garbage of the same size and mtime: ingest does not look at it again, decoding fails."""
    st = path.stat()
    path.write_bytes(b"\x5a" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("stage", ["chunk", "embed"])
def test_a_file_failing_inside_embed_is_recorded_and_not_retried_until_it_changes(audiosim, library, stage):
    write_wav(library / "good.wav", tone(seconds=1.0, rate=22050), rate=22050)
    bad = write_wav(library / "bad.wav", tone(seconds=1.0, rate=22050, frequency=700), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    if stage == "embed":
        audiosim.run("chunk", check_code=EXIT_OK)  # the file is chunked while good: embed's own decode fails
    spoil_keeping_size_and_mtime(bad)

    result = audiosim.run("embed", check_code=EXIT_PARTIAL, timeout=TIMEOUT)
    errors = error_lines(result)
    assert len(errors) == 1 and errors[0].startswith("audiosim embed: error: bad.wav: "), errors
    assert str(library) not in errors[0], "named by its catalog path"
    status = audiosim.status()
    (error,) = status["errors"]
    assert error["path"] == "bad.wav" and error["status"] == f"{stage}_failed"
    assert error["error"] == errors[0].split("bad.wav: ", 1)[1]
    assert error["set"].startswith("sample")
    listed = audiosim.run("status", "--errors", check_code=EXIT_OK).stdout.decode()
    assert f"{stage}_failed" in listed and "bad.wav: " in listed
    tsv = parse_rows(audiosim.run("status", "--format", "tsv", check_code=EXIT_OK).stdout, "tsv")
    assert [(r["path"], r["status"]) for r in tsv] == [("bad.wav", f"{stage}_failed")]
    # Recorded as docs/FORMAT.md says: group /failed of the stage's last segment.
    manifest = json.loads((audiosim.store / "manifest.json").read_text())
    sets = manifest["chunks"]["sample"] if stage == "chunk" else next(iter(manifest["embeddings"].values()))
    with h5py.File(audiosim.store / sets["segments"][-1]["file"], "r") as f:
        assert int(f["failed"].attrs["rows"]) == 1
        assert f["failed/file_id"][0] == catalog_file_id(audiosim, "bad.wav")
        assert f["failed/error"][0].decode() == error["error"]

    # Later runs leave it alone (exit 0, no error line) and say so; --retry-failed tries again.
    again = audiosim.run("embed", check_code=EXIT_OK, timeout=TIMEOUT)
    assert error_lines(again) == [] and "1 failed before, not retried" in again.stderr.decode()
    retried = audiosim.run("embed", "--retry-failed", check_code=EXIT_PARTIAL, timeout=TIMEOUT)
    assert len(error_lines(retried)) == 1

    # Once the file changes it is a new file: embedded, and the failure forgotten.
    write_wav(bad, tone(seconds=1.5, rate=22050, frequency=700), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    result = audiosim.run("embed", check_code=EXIT_OK, timeout=TIMEOUT)
    assert "1 files embedded" in result.stderr.decode()
    assert audiosim.status()["errors"] == []


# ---------------------------------------------------------------------------------------------
# 5. FIFOs and devices: refused at once, named with their kind

@pytest.fixture
def fifo(library):
    path = library / "pipe.wav"
    os.mkfifo(path)
    return path


def test_ingest_refuses_fifos_named_listed_or_inside_folders(audiosim, library, fifo):
    write_wav(library / "good.wav")
    cases = [((str(fifo.name),), None), (("-",), b"good.wav\npipe.wav\n"), ((".",), None), (("/dev/zero",), None)]
    for args, stdin in cases:
        result = audiosim.run("ingest", "--format", "jsonl", *args, input=stdin, timeout=TIMEOUT)
        assert result.returncode == EXIT_PARTIAL, (args, result.stderr.decode())
        rows = parse_rows(result.stdout, "jsonl")
        special = [row for row in rows if row["status"] != "ok"]
        assert len(special) == 1 and special[0]["status"] == "not_audio", (args, rows)
        kind = "a character device" if args == ("/dev/zero",) else "a FIFO"
        assert special[0]["error"] == f"is {kind}, not a regular file"
        (line,) = error_lines(result)
        assert f"{special[0]['path']}: is {kind}, not a regular file" in line


def test_metadata_labels_and_model_paths_refuse_fifos(audiosim, library, fifo):
    write_wav(library / "good.wav")
    result = audiosim.run("ingest", "--metadata", str(fifo), ".", timeout=TIMEOUT)
    assert result.returncode == EXIT_INPUT and f"{fifo}: is a FIFO, not a regular file" in result.stderr.decode()
    audiosim.run("ingest", "good.wav", check_code=EXIT_OK)
    model = library / "model.json"
    os.mkfifo(model)
    result = audiosim.run("embed", "--model", str(model), timeout=TIMEOUT)
    assert result.returncode != EXIT_OK and f"{model}: is a FIFO, not a regular file" in result.stderr.decode()


def test_query_and_eval_refuse_fifos(audiosim, library, fifo):
    write_wav(library / "good.wav", tone(seconds=1.0, rate=22050), rate=22050)
    audiosim.run("ingest", "good.wav", check_code=EXIT_OK)
    audiosim.run("embed", check_code=EXIT_OK, timeout=TIMEOUT)
    result = audiosim.run("query", "--format", "tsv", str(fifo), timeout=TIMEOUT)
    assert result.returncode == EXIT_INPUT
    (line,) = error_lines(result)
    assert line == f"audiosim query: error: {fifo}: is a FIFO, not a regular file"
    listed = audiosim.run("query", "--format", "tsv", "-", input=f"{fifo}\ngood.wav\n".encode(), timeout=TIMEOUT)
    assert listed.returncode == EXIT_PARTIAL and len(error_lines(listed)) == 1
    assert all(row["query"] == "good.wav" for row in parse_rows(listed.stdout, "tsv"))
    labels = library / "labels.tsv"
    os.mkfifo(labels)
    result = audiosim.run("eval", "--labels", str(labels), timeout=TIMEOUT)
    assert result.returncode == EXIT_INPUT and f"{labels}: is a FIFO, not a regular file" in result.stderr.decode()
