"""audiosim ingest on real audio: the demo library, incremental re-runs, metadata, inputs."""

import csv
import json
import os
import pathlib
import time

import pytest

from conftest import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, convert, copy_demo, tone, write_wav


def read_labels(demo):
    with open(demo / "labels.tsv") as f:
        return {row["path"]: row for row in csv.DictReader(f, delimiter="\t")}


def test_demo_library_every_file_recorded_with_its_properties(audiosim, library, demo):
    copy_demo(demo, library)
    rows, result = audiosim.ingest_rows(".", "--metadata", "metadata.csv")
    labels = read_labels(demo)
    by_path = {row["path"]: row for row in rows}
    assert set(by_path) == set(labels), "every labeled demo file, and nothing else, is listed"
    assert all(row["event"] == "added" and row["status"] == "ok" for row in rows)
    # Properties agree with sox's reading of the same files.
    import subprocess
    for path in ["kick/kick-01.wav", "tonal/tonal-03.wav"]:
        soxi = lambda flag: subprocess.run(["soxi", flag, str(library / path)], capture_output=True, text=True).stdout.strip()
        assert by_path[path]["sample_rate"] == int(soxi("-r"))
        assert by_path[path]["channels"] == int(soxi("-c"))
        assert by_path[path]["frames"] == int(soxi("-s"))
    containers = {row["container"] for row in rows}
    assert {"WAV", "AIFF", "FLAC", "OGG", "MPEG"} <= containers
    assert {row["codec"] for row in rows if row["path"].endswith(".opus")} == {"OPUS"}
    # The planted exact copy is recognized as a duplicate of its original.
    with open(demo / "duplicates.tsv") as f:
        exact = [r for r in csv.DictReader(f, delimiter="\t") if r["kind"] == "exact"]
    assert exact and all(by_path[r["path"]]["duplicate_of"] == r["original"] or
                         by_path[r["original"]]["duplicate_of"] == r["path"] for r in exact)
    status = audiosim.status()
    assert status["files"]["total"] == len(labels) and status["files"]["failed"] == 0
    assert status["files"]["duplicate_groups"] == len(exact)
    total_seconds = sum(row["duration"] for row in rows)
    assert status["files"]["audio_seconds"] == pytest.approx(total_seconds)


def test_summary_on_stderr_and_nothing_on_stdout_without_format(audiosim, library):
    write_wav(library / "a.wav")
    result = audiosim.run("ingest", ".", check_code=EXIT_OK)
    assert result.stdout == b""
    summary = result.stderr.decode()
    assert "1 files scanned: 1 added" in summary and "files/s" in summary and "peak memory" in summary


@pytest.mark.parametrize("fmt", ["tsv", "csv", "json", "jsonl"])
def test_listing_formats_parse(audiosim, library, fmt):
    write_wav(library / "one, two.wav")
    write_wav(library / "three.wav", frequency=220)
    out = audiosim.run("ingest", "--format", fmt, ".", check_code=EXIT_OK).stdout.decode()
    if fmt == "tsv":
        rows = list(csv.DictReader(out.splitlines(), delimiter="\t"))
    elif fmt == "csv":
        rows = list(csv.DictReader(out.splitlines()))
    elif fmt == "json":
        rows = json.loads(out)
    else:
        rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(row["path"] for row in rows) == ["one, two.wav", "three.wav"]
    assert all(row["event"] == "added" for row in rows)


def test_incremental_touch_modify_delete_add(audiosim, library):
    for i in range(4):
        write_wav(library / f"s{i}.wav", frequency=200 + 100 * i)
    first, _ = audiosim.ingest_rows(".")
    ids = {row["path"]: row["file_id"] for row in first}

    rows, result = audiosim.ingest_rows(".")
    assert rows == [] and "4 unchanged" in result.stderr.decode()

    os.utime(library / "s0.wav", (time.time() + 100, time.time() + 100))    # touch: content the same
    write_wav(library / "s1.wav", frequency=999)                             # modify
    (library / "s2.wav").unlink()                                            # delete
    write_wav(library / "s4.wav", frequency=777)                             # add
    rows, _ = audiosim.ingest_rows(".")
    events = {row["path"]: row for row in rows}
    assert events["s0.wav"]["event"] == "touched" and events["s0.wav"]["file_id"] == ids["s0.wav"]
    assert events["s1.wav"]["event"] == "changed" and events["s1.wav"]["file_id"] != ids["s1.wav"]
    assert events["s2.wav"]["event"] == "vanished"
    assert events["s4.wav"]["event"] == "added"
    assert "s3.wav" not in events
    assert audiosim.status()["files"]["total"] == 5, "vanished files stay until --prune"

    rows, _ = audiosim.ingest_rows(".", "--prune")
    assert [(row["event"], row["path"]) for row in rows] == [("removed", "s2.wav")]
    assert audiosim.status()["files"]["total"] == 4
    rows, result = audiosim.ingest_rows(".")
    assert rows == [] and "4 unchanged" in result.stderr.decode()


def test_same_size_same_mtime_change_is_not_seen_but_mtime_change_is(audiosim, library):
    """Unchanged means size and mtime equal (like make and rsync); a content change with a new mtime is found."""
    path = write_wav(library / "a.wav", frequency=300)
    audiosim.ingest_rows(".")
    stat = path.stat()
    write_wav(path, frequency=301)  # same length, so same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    rows, _ = audiosim.ingest_rows(".")
    assert rows == []
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    rows, _ = audiosim.ingest_rows(".")
    assert [row["event"] for row in rows] == ["changed"]


def test_only_scanned_folders_are_checked_for_vanished_files(audiosim, library):
    write_wav(library / "a" / "x.wav")
    write_wav(library / "b" / "y.wav")
    audiosim.ingest_rows(".")
    rows, _ = audiosim.ingest_rows("a")
    assert rows == [], "b/y.wav was not scanned, so it is not reported"
    (library / "b" / "y.wav").unlink()
    rows, _ = audiosim.ingest_rows("a")
    assert rows == []
    rows, _ = audiosim.ingest_rows("b")
    assert [(r["event"], r["path"]) for r in rows] == [("vanished", "b/y.wav")]


def test_metadata_joined_by_path_and_updated_without_rereading(audiosim, library, tmp_path):
    write_wav(library / "kick.wav")
    write_wav(library / "snare.wav", frequency=880)
    meta = tmp_path / "meta.csv"
    meta.write_text('path,title,tags,mood\nkick.wav,"Big ""boomy"" kick","drum;kick",dark\n'
                    f'{library / "snare.wav"},Snare,"drum,snare",\nmissing.wav,Nope,,\n')
    rows, result = audiosim.ingest_rows(".", "--metadata", str(meta))
    assert "metadata row names no stored file: missing.wav" in result.stderr.decode()
    import h5py
    # Metadata reaches the store (read back through the documented layout).
    status = audiosim.status()
    assert status["files"]["total"] == 2
    meta.write_text("path,title\nkick.wav,Renamed kick\n")
    rows, _ = audiosim.ingest_rows(".", "--metadata", str(meta))
    assert [(r["event"], r["path"]) for r in rows] == [("metadata", "kick.wav")]
    manifest = json.loads((audiosim.store / "manifest.json").read_text())
    values = {}
    for segment in manifest["catalog"]:
        with h5py.File(audiosim.store / segment["file"]) as f:
            paths = [p.decode() for p in f["files/path"][:]]
            for column in f["files/meta"]:
                present = f[f"files/meta/{column}/present"][:]
                for path, value, here in zip(paths, f[f"files/meta/{column}/value"][:], present):
                    if here:
                        values[(path, column)] = value.decode()
    assert values[("kick.wav", "title")] == "Renamed kick"
    assert values[("kick.wav", "tags")] == "drum;kick", "columns not in the new CSV are kept"
    assert values[("kick.wav", "mood")] == "dark"
    assert values[("snare.wav", "tags")] == "drum,snare"


def test_metadata_errors_are_one_line_and_change_nothing(audiosim, library, tmp_path):
    write_wav(library / "a.wav")
    bad = tmp_path / "bad.csv"
    bad.write_text("title,tags\nx,y\n")
    result = audiosim.run("ingest", "--metadata", str(bad), ".", check_code=3)
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "bad.csv" in lines[0] and "path" in lines[0]
    assert not (audiosim.store / "manifest.json").exists() or audiosim.status()["files"]["total"] == 0


def test_stdin_lists_newline_and_nul(audiosim, library):
    names = ["a.wav", "b c.wav", "d\nnewline.wav"]
    for i, name in enumerate(names):
        write_wav(library / name, frequency=300 + 50 * i)
    rows, _ = audiosim.ingest_rows("-", input=b"a.wav\nb c.wav\n")
    assert sorted(r["path"] for r in rows) == ["a.wav", "b c.wav"]
    rows, _ = audiosim.ingest_rows("-0", "-", input=b"d\nnewline.wav\0a.wav\0")
    assert [r["path"] for r in rows] == ["d\nnewline.wav"]


def test_non_utf8_names_are_stored_byte_exact(audiosim, library):
    name = b"caf\xe9 \xff.wav"
    write_wav(os.path.join(os.fsencode(library), name))
    result = audiosim.run("ingest", "--format", "tsv", ".", check_code=EXIT_OK)
    assert name in result.stdout, "TSV carries the name's bytes unchanged"
    import h5py
    manifest = json.loads((audiosim.store / "manifest.json").read_text())
    with h5py.File(audiosim.store / manifest["catalog"][-1]["file"]) as f:
        assert list(f["files/path"][:]) == [name]
    jsonl = audiosim.run("ingest", "--format", "jsonl", ".", check_code=EXIT_OK)
    assert jsonl.stdout == b"", "unchanged on the second run"


def test_include_exclude_and_hidden(audiosim, library):
    write_wav(library / "drums" / "kick.wav")
    write_wav(library / "drums" / "kick-old.wav")
    write_wav(library / "fx" / "rise.wav")
    write_wav(library / ".hidden" / "x.wav")
    write_wav(library / "drums" / ".DS_Store.wav")
    (library / "notes.txt").write_text("not audio")
    rows, _ = audiosim.ingest_rows(".", "--exclude", "*-old.wav", "--exclude", "fx")
    assert sorted(r["path"] for r in rows) == ["drums/kick.wav"]
    rows, _ = audiosim.ingest_rows(".", "--include", "fx/*.wav")
    assert sorted(r["path"] for r in rows) == ["fx/rise.wav"]


def test_symlinks_and_loops(audiosim, library, tmp_path):
    outside = tmp_path / "outside"
    write_wav(outside / "o.wav")
    write_wav(library / "real" / "r.wav")
    (library / "link").symlink_to(outside, target_is_directory=True)
    (library / "real" / "loop").symlink_to(library / "real", target_is_directory=True)
    rows, _ = audiosim.ingest_rows(".")
    assert [r["path"] for r in rows] == ["real/r.wav"], "links are not followed by default"
    rows, result = audiosim.ingest_rows(".", "--follow-symlinks", check_code=EXIT_PARTIAL)
    added = sorted(r["path"] for r in rows if r["event"] == "added")
    assert added == ["link/o.wav"]
    problems = [r for r in rows if r["event"] == "failed"]
    assert len(problems) == 1 and "loop" in problems[0]["error"] and problems[0]["path"] == "real/loop"


def test_paths_outside_the_root_are_absolute(audiosim, library, tmp_path):
    outside = write_wav(tmp_path / "elsewhere" / "x.wav")
    rows, _ = audiosim.ingest_rows(str(outside))
    assert [r["path"] for r in rows] == [str(outside)]


def test_root_is_fixed_when_the_store_is_created(audiosim, library, tmp_path):
    write_wav(library / "a.wav")
    audiosim.run("ingest", "--root", str(library), ".", check_code=EXIT_OK)
    other = tmp_path / "other"
    other.mkdir()
    result = audiosim.run("ingest", "--root", str(other), ".", check_code=EXIT_USAGE)
    assert "library root" in result.stderr.decode()


def test_store_found_from_env_and_from_parent_folders(tmp_path, library):
    from conftest import Audiosim, BIN
    import subprocess
    write_wav(library / "sub" / "a.wav")
    run = lambda args, cwd, env: subprocess.run([str(BIN), *args], cwd=cwd, capture_output=True,
                                                env={**os.environ, **env})
    result = run(["ingest", "."], library, {})
    assert result.returncode == 0 and (library / ".audiosim" / "manifest.json").exists()
    result = run(["status", "--format", "json"], library / "sub", {})
    assert json.loads(result.stdout)["files"]["total"] == 1, "found in a parent folder, like git"
    env_store = tmp_path / "envstore"
    result = run(["ingest", "."], library, {"AUDIOSIM_STORE": str(env_store)})
    assert result.returncode == 0 and (env_store / "manifest.json").exists()


def test_usage_errors_exit_2_with_one_line(audiosim, library):
    for args in (["ingest"], ["ingest", "--format", "xml", "."], ["frobnicate"], ["ingest", "--commit-interval", "-1", "."]):
        result = audiosim.run(*args)
        assert result.returncode == EXIT_USAGE, args
        assert result.stderr.decode().startswith("audiosim"), args


def test_status_without_store_is_an_input_error(tmp_path):
    from conftest import Audiosim
    result = Audiosim(tmp_path / "none", tmp_path).run("status")
    assert result.returncode == 3 and "no audiosim store" in result.stderr.decode()


def test_version_names_every_library(audiosim):
    out = audiosim.run("--version", check_code=EXIT_OK).stdout.decode()
    for name in ["audiosim", "torch", "cuda", "libsndfile", "libsamplerate", "hdf5", "hnswlib"]:
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    assert "torch 2.11.0" in out
    assert "compiled for CUDA" in out, "the CUDA-enabled libtorch is linked"


def test_hours_long_file_is_read_with_bounded_memory(audiosim, library):
    """A 3-hour 44.1 kHz stereo WAV (sparse: a header and 1.9 GB of silence) is hashed streaming."""
    import struct
    frames = 3 * 3600 * 44100
    data_bytes = frames * 4
    header = (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " +
              struct.pack("<IHHIIHH", 16, 1, 2, 44100, 44100 * 4, 4, 16) + b"data" + struct.pack("<I", data_bytes))
    path = library / "three-hours.wav"
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + data_bytes)
    rows, result = audiosim.ingest_rows(".")
    (row,) = rows
    assert row["status"] == "ok" and row["frames"] == frames and row["duration"] == pytest.approx(3 * 3600)
    summary = result.stderr.decode()
    peak_mib = float(summary.rsplit("peak memory ", 1)[1].split(" MiB")[0])
    if not os.environ.get("AUDIOSIM_SANITIZE"):  # ASan's shadow memory and quarantine are not ours
        assert peak_mib < 64, summary
