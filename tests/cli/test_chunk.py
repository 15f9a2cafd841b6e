"""audiosim chunk on real audio: profiles, edge cases, flags, incremental runs."""

import json
import struct

import h5py
import numpy as np
import pytest

from conftest import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, tone, write_wav


def chunk_rows(audiosim, *args, check_code=EXIT_OK):
    result = audiosim.run("chunk", "--format", "jsonl", *args, check_code=check_code)
    return [json.loads(line) for line in result.stdout.decode().splitlines()], result


def by_path(rows):
    grouped = {}
    for row in rows:
        grouped.setdefault(row["path"], []).append(row)
    return grouped


def write_wav_format(path, samples, rate, fmt):
    """samples [frames, channels] floats; fmt: 'u8' or 'f32' (8-bit unsigned or 32-bit float WAV)."""
    frames, channels = samples.shape
    if fmt == "u8":
        data = np.clip(samples * 127 + 128, 0, 255).astype(np.uint8).tobytes()
        tag, width = 1, 1
    else:
        data = samples.astype("<f4").tobytes()
        tag, width = 3, 4
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, tag, channels, rate, rate * channels * width, channels * width, width * 8) + b"data" + struct.pack("<I", len(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + data)


@pytest.fixture
def edge_library(library):
    write_wav(library / "one-sample.wav", np.array([[0.5]]), rate=44100)
    write_wav(library / "silence.wav", np.zeros((44100, 1)), rate=44100)
    write_wav(library / "exact-window.wav", tone(seconds=2.0, rate=22050), rate=22050)
    write_wav(library / "partial-last.wav", tone(seconds=3.7, rate=22050), rate=22050)
    write_wav(library / "eight-channels.wav", tone(seconds=1.0, rate=48000, channels=8), rate=48000)
    write_wav(library / "hi-res.wav", tone(seconds=2.5, rate=192000, channels=2), rate=192000)
    write_wav_format(library / "eight-bit.wav", tone(seconds=0.5, rate=8000), 8000, "u8")
    write_wav_format(library / "float.wav", tone(seconds=0.5, rate=44100, channels=2), 44100, "f32")
    # An empty WAV: a header with a data chunk of zero bytes (libsndfile reads it as 0 frames).
    write_wav_format(library / "empty-data.wav", np.zeros((0, 1)), 44100, "f32")
    quiet = np.concatenate([tone(seconds=1.0, rate=22050, amplitude=0.5), np.zeros((22050 * 3, 1))])
    write_wav(library / "hit-then-silence.wav", quiet, rate=22050)
    return library


def test_edge_cases_sample_profile(audiosim, edge_library):
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    rows, result = chunk_rows(audiosim)
    chunks = by_path(rows)
    assert len(chunks) == 10
    assert [(c["start"], c["duration"]) for c in chunks["one-sample.wav"]] == [(0, pytest.approx(1 / 44100))]
    assert chunks["silence.wav"][0]["flags"] == "silent"
    assert [c["duration"] for c in chunks["exact-window.wav"]] == [pytest.approx(2.0)]
    # 3.7 s with 2 s windows and 1 s hop: [0,2) [1,3), then the partial [2,3.7) of 1.7 s >= 0.5 s.
    assert [(c["start"], round(c["duration"], 3)) for c in chunks["partial-last.wav"]] == [(0, 2.0), (1, 2.0), (2, 1.7)]
    assert len(chunks["eight-channels.wav"]) == 1 and chunks["eight-channels.wav"][0]["flags"] == ""
    # 2.5 s: the full window [0,2), then the partial [1,2.5) of 1.5 s.
    assert [(c["start"], round(c["duration"], 3)) for c in chunks["hi-res.wav"]] == [(0, 2.0), (1, 1.5)]
    for name in ("eight-bit.wav", "float.wav"):
        (chunk,) = chunks[name]
        assert chunk["flags"] == "" and chunk["peak_db"] == pytest.approx(-6.02, abs=0.2), name
        assert chunk["rms_db"] == pytest.approx(-9.03, abs=0.3), name
    assert chunks["empty-data.wav"][0]["duration"] == 0 and "empty" in chunks["empty-data.wav"][0]["flags"]
    flags = [c["flags"] for c in chunks["hit-then-silence.wav"]]
    assert flags == ["", "silent", "silent"], flags
    assert "flagged" in result.stderr.decode()


def test_oneshot_and_custom_profiles_coexist(audiosim, library):
    write_wav(library / "long.wav", tone(seconds=12.0, rate=22050), rate=22050)
    write_wav(library / "short.wav", tone(seconds=0.3, rate=22050), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    rows, _ = chunk_rows(audiosim, "--profile", "oneshot")
    assert {r["path"]: round(r["duration"], 3) for r in rows} == {"long.wav": 10.0, "short.wav": 0.3}
    rows, _ = chunk_rows(audiosim, "--window", "1", "--hop", "1", "--last", "drop", "--name", "second")
    assert [r["start"] for r in by_path(rows)["long.wav"]] == list(range(12))
    rows, _ = chunk_rows(audiosim, "--whole", "12", "--name", "whole12")  # the sample preset, files <= 12 s whole
    assert {r["path"]: (r["start"], round(r["duration"], 3)) for r in rows} == {"long.wav": (0, 12.0), "short.wav": (0, 0.3)}
    rows, _ = chunk_rows(audiosim, "--whole", "11.5", "--name", "whole11")
    assert len(by_path(rows)["long.wav"]) == 11  # 2 s windows, 1 s apart: too long to be whole
    result = audiosim.run("chunk", "--window", "1", check_code=EXIT_USAGE)
    assert "--name" in result.stderr.decode()
    result = audiosim.run("chunk", "--window", "3", "--name", "second", check_code=EXIT_USAGE)
    assert "other parameters" in result.stderr.decode()
    manifest = json.loads((audiosim.store / "manifest.json").read_text())
    assert set(manifest["chunks"]) == {"oneshot", "second", "whole12", "whole11"}
    assert manifest["chunks"]["whole12"]["profile"]["whole_seconds"] == 12
    assert manifest["chunks"]["second"]["profile"]["window_seconds"] == 1

    # embed takes a stored profile by its name, and chunks new files with it.
    write_wav(library / "later.wav", tone(seconds=1.5, rate=22050), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    result = audiosim.run("embed", "--profile", "second", check_code=EXIT_OK)
    assert "3 files embedded" in result.stderr.decode()
    assert chunk_rows(audiosim, "--profile", "second")[0] == []  # embed chunked it already
    result = audiosim.run("embed", "--profile", "third", check_code=EXIT_USAGE)
    assert "unknown chunk profile 'third'" in result.stderr.decode() and "stored: oneshot, second" in result.stderr.decode()


def test_a_store_keeps_the_parameters_a_preset_had_when_it_first_chunked(audiosim, library):
    # A store chunked when oneshot was the first 2 s (made here with --name oneshot --first 2)
    # keeps them: a plain --profile oneshot chunks and embeds new files the same way, no error.
    write_wav(library / "a.wav", tone(seconds=5.0, rate=22050), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    rows, _ = chunk_rows(audiosim, "--profile", "oneshot", "--first", "2", "--name", "oneshot")
    assert [round(r["duration"], 3) for r in rows] == [2.0]
    write_wav(library / "b.wav", tone(seconds=5.0, rate=22050, frequency=300), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    rows, _ = chunk_rows(audiosim, "--profile", "oneshot")
    assert {r["path"]: round(r["duration"], 3) for r in rows} == {"b.wav": 2.0}
    write_wav(library / "c.wav", tone(seconds=5.0, rate=22050, frequency=500), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("embed", "--profile", "oneshot", check_code=EXIT_OK)
    manifest = json.loads((audiosim.store / "manifest.json").read_text())
    assert manifest["chunks"]["oneshot"]["profile"]["first_seconds"] == 2
    listed = audiosim.run("embed", "--profile", "oneshot", "--format", "jsonl", check_code=EXIT_OK)
    assert "3 up to date" in listed.stderr.decode()


def test_incremental_and_stale_chunks(audiosim, library):
    for i in range(3):
        write_wav(library / f"f{i}.wav", tone(seconds=1.5, rate=22050, frequency=200 + 100 * i), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    rows, _ = chunk_rows(audiosim)
    assert len(by_path(rows)) == 3
    rows, result = chunk_rows(audiosim)
    assert rows == [] and "3 up to date" in result.stderr.decode()
    write_wav(library / "f0.wav", tone(seconds=4.0, rate=22050, frequency=999), rate=22050)
    (library / "f1.wav").unlink()
    audiosim.run("ingest", "--prune", ".", check_code=EXIT_OK)
    rows, result = chunk_rows(audiosim)
    assert list(by_path(rows)) == ["f0.wav"] and len(rows) == 3
    assert "1 up to date" in result.stderr.decode() and "2 dropped" in result.stderr.decode()


def test_chunk_segments_documented_layout(audiosim, library):
    write_wav(library / "a.wav", tone(seconds=3.0, rate=22050), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("chunk", check_code=EXIT_OK)
    manifest = json.loads((audiosim.store / "manifest.json").read_text())
    (segment,) = manifest["chunks"]["sample"]["segments"]
    with h5py.File(audiosim.store / segment["file"], "r") as f:
        assert f.attrs["format"] == "audiosim-chunks" and f.attrs["format_version"] == 1
        assert json.loads(f.attrs["profile"])["name"] == "sample"
        group = f["chunks"]
        rows = int(group.attrs["rows"])
        assert rows == 2
        expected = {"chunk_id": np.uint64, "file_id": np.uint64, "start_frame": np.int64, "frames": np.int64,
                    "start": np.float64, "duration": np.float64, "rms_db": np.float32, "peak_db": np.float32,
                    "flags": np.uint8}
        for name, dtype in expected.items():
            assert group[name].dtype == dtype and group[name].shape == (rows,), name
        assert list(group["start_frame"][:]) == [0, 22050] and list(group["frames"][:]) == [44100, 44100]
        assert len(set(group["chunk_id"][:])) == rows
        assert f["dropped/file_id"].shape == (0,)


def test_undecodable_file_is_reported_and_others_go_on(audiosim, library):
    write_wav(library / "good.wav", tone(seconds=1.0, rate=22050), rate=22050)
    bad = write_wav(library / "bad.wav", tone(seconds=1.0, rate=22050), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    bad.unlink()  # recorded ok by ingest, gone now
    rows, result = chunk_rows(audiosim, check_code=EXIT_PARTIAL)
    grouped = by_path(rows)
    assert grouped["bad.wav"][0]["error"] == "No such file or directory"  # the path is in its own column
    assert grouped["good.wav"][0]["error"] == ""
    assert "audiosim chunk: error: bad.wav: No such file or directory" in result.stderr.decode()
