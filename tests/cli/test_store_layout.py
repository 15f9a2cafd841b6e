"""The store as docs/FORMAT.md documents it, read with h5py and json the way users will."""

import json

import h5py
import numpy as np
import pytest

from conftest import EXIT_OK, EXIT_PARTIAL, write_wav

COMMON_ATTRIBUTES = {"format", "format_version", "writer", "command_line", "created", "store_generation", "library_root"}
FILE_COLUMNS = {
    "file_id": np.uint64, "size": np.uint64, "mtime_ns": np.int64, "hash": np.uint64,
    "sample_rate": np.uint32, "channels": np.uint32, "frames": np.int64, "duration": np.float64,
    "ingested_ns": np.int64, "frames_estimated": np.uint8,
}
STRING_COLUMNS = {"path", "error", "container", "codec", "warning"}
STATUS_NAMES = ["ok", "empty", "not_audio", "corrupt", "truncated", "unreadable", "vanished"]


def load_manifest(store):
    return json.loads((store / "manifest.json").read_text())


def test_manifest_fields(audiosim, library):
    write_wav(library / "a.wav")
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    manifest = load_manifest(audiosim.store)
    assert manifest["format"] == "audiosim-store" and manifest["format_version"] == 1
    assert manifest["writer"].startswith("audiosim ")
    assert "ingest" in manifest["command_line"]
    assert manifest["library_root"] == str(library)
    assert manifest["next_file_id"] == 2
    assert manifest["generation"] >= 1
    for key in ("created", "updated"):
        assert manifest[key].endswith("Z") and "T" in manifest[key]
    (segment,) = manifest["catalog"]
    assert set(segment) == {"file", "kind", "rows", "removed", "xxh3", "bytes"} and segment["rows"] == 1
    run = manifest["runs"][0]
    assert run["command"] == "ingest" and run["summary"]["added"] == 1


def test_catalog_segment_layout(audiosim, library, tmp_path):
    write_wav(library / "kick.wav", rate=48000, channels=2, seconds=0.25)
    (library / "broken.wav").write_text("nope")
    meta = tmp_path / "m.csv"
    meta.write_text("path,title,tags\nkick.wav,Kick,drum;kick\n")
    audiosim.run("ingest", "--metadata", str(meta), ".", check_code=EXIT_PARTIAL)
    manifest = load_manifest(audiosim.store)
    (segment,) = manifest["catalog"]
    with h5py.File(audiosim.store / segment["file"], "r") as f:
        assert COMMON_ATTRIBUTES <= set(f.attrs)
        assert f.attrs["format"] == "audiosim-catalog" and f.attrs["format_version"] == 1
        generation_in_name = int(segment["file"].split("/")[1].split("-")[0])
        assert f.attrs["store_generation"] == generation_in_name <= manifest["generation"]
        files = f["files"]
        rows = int(files.attrs["rows"])
        assert rows == 2 == segment["rows"]
        for name, dtype in FILE_COLUMNS.items():
            assert files[name].dtype == dtype and files[name].shape == (rows,), name
        for name in STRING_COLUMNS:
            assert h5py.check_string_dtype(files[name].dtype) is not None, name
        assert h5py.check_string_dtype(files["path"].dtype).encoding == "ascii", "paths are raw bytes"
        mapping = h5py.check_enum_dtype(files["status"].dtype)
        assert mapping == {name: i for i, name in enumerate(STATUS_NAMES)}
        paths = [p.decode() for p in files["path"][:]]
        kick, broken = paths.index("kick.wav"), paths.index("broken.wav")
        assert files["sample_rate"][kick] == 48000 and files["channels"][kick] == 2
        assert files["frames"][kick] == 12000 and files["duration"][kick] == pytest.approx(0.25)
        assert files["container"][kick] == b"WAV" and files["codec"][kick] == b"PCM_16"
        assert files["status"][kick] == 0 and files["status"][broken] == STATUS_NAMES.index("not_audio")
        assert files["error"][broken] and files["error"][kick] == b""
        assert files["size"][kick] == (library / "kick.wav").stat().st_size
        assert files["mtime_ns"][kick] == (library / "kick.wav").stat().st_mtime_ns
        assert set(files["meta"]) == {"title", "tags"}
        assert files["meta/title/value"][kick] == b"Kick" and files["meta/title/present"][kick] == 1
        assert files["meta/title/present"][broken] == 0
        assert f["removed"].attrs["rows"] == 0 and f["removed/path"].shape == (0,)


def test_hash_is_xxh3_64_of_the_file_bytes(audiosim, library):
    xxhash = pytest.importorskip("xxhash", reason="the xxhash Python package cross-checks the hash")
    path = write_wav(library / "a.wav", seconds=3)
    rows, _ = audiosim.ingest_rows(".")
    assert rows[0]["hash"] == xxhash.xxh3_64_hexdigest(path.read_bytes())


def test_deltas_then_compaction_into_one_base(audiosim, library):
    for round_number in range(9):
        write_wav(library / f"f{round_number}.wav", frequency=100 + round_number)
        audiosim.run("ingest", ".", check_code=EXIT_OK)
        manifest = load_manifest(audiosim.store)
        kinds = [s["kind"] for s in manifest["catalog"]]
        assert kinds.count("base") <= 1 and (not kinds or kinds[0] == "base" or "base" not in kinds)
    (library / "f0.wav").unlink()
    audiosim.run("ingest", "--prune", ".", check_code=EXIT_OK)
    manifest = load_manifest(audiosim.store)
    on_disk = sorted(p.name for p in (audiosim.store / "catalog").iterdir())
    assert on_disk == sorted(s["file"].split("/")[1] for s in manifest["catalog"]), "no garbage left behind"
    # Folding the segments in order gives the catalog: later rows replace earlier, removed drops.
    catalog = {}
    for segment in manifest["catalog"]:
        with h5py.File(audiosim.store / segment["file"], "r") as f:
            for path, file_id in zip(f["files/path"][:], f["files/file_id"][:]):
                catalog[path.decode()] = int(file_id)
            for path in f["removed/path"][:]:
                catalog.pop(path.decode(), None)
    assert sorted(catalog) == [f"f{i}.wav" for i in range(1, 9)]
    assert audiosim.status()["files"]["total"] == 8


def test_reader_refuses_newer_versions_with_a_clear_message(audiosim, library):
    write_wav(library / "a.wav")
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    manifest_path = audiosim.store / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    segment_path = audiosim.store / manifest["catalog"][0]["file"]
    with h5py.File(segment_path, "r+") as f:
        f.attrs["format_version"] = np.int64(7)
    # A newer writer would have recorded the checksum of its file; without one the file is read
    # unverified, as in stores from before checksums, and the version check speaks.
    del manifest["catalog"][0]["xxh3"], manifest["catalog"][0]["bytes"]
    manifest_path.write_text(json.dumps(manifest))
    result = audiosim.run("status")
    assert result.returncode == 4
    message = result.stderr.decode()
    assert "version 7" in message and "reads versions 1 to 1" in message and segment_path.name in message
    manifest["format_version"] = 3
    manifest_path.write_text(json.dumps(manifest))
    result = audiosim.run("status")
    assert result.returncode == 4 and "store format version 3" in result.stderr.decode()


def test_corrupt_store_files_give_a_clear_error_not_a_crash(audiosim, library):
    write_wav(library / "a.wav")
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    manifest = load_manifest(audiosim.store)
    segment_path = audiosim.store / manifest["catalog"][0]["file"]
    data = segment_path.read_bytes()
    segment_path.write_bytes(data[: len(data) // 3])
    result = audiosim.run("status")
    assert result.returncode == 4 and segment_path.name in result.stderr.decode()
    (audiosim.store / "manifest.json").write_text("{ not json")
    result = audiosim.run("status")
    assert result.returncode == 4 and "manifest.json" in result.stderr.decode()
    assert len(result.stderr.decode().strip().splitlines()) == 1
