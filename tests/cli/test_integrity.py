"""Store integrity (docs/RELIABILITY.md): checksums verified before parsing, a lost manifest never
loses the store, `audiosim check [--repair]`, damaged vectors never served, readers safe during
commits. Damage is made the way it happens: bytes flipped inside a dataset, files deleted."""

import json
import os
import pathlib
import shutil
import subprocess
import time

import h5py
import numpy as np
import pytest

from conftest import (EXIT_FORMAT, EXIT_INPUT, EXIT_OK, Audiosim, embedded_demo, parse_rows, read_manifest,
                      write_wav)


@pytest.fixture
def store(tmp_path, demo):
    """The demo library ingested, embedded, indexed and paired (a store's absolute library root
    makes copies of it differ from it, so each test makes its own)."""
    audiosim = embedded_demo(tmp_path, demo, index=True)
    audiosim.run("pairs", "--min-score", "0.5", check_code=EXIT_OK)
    return audiosim


def manifest(audiosim):
    return read_manifest(audiosim.store)


def snapshot(audiosim):
    """What the store holds, as status reports it (files, chunks and vectors per set)."""
    status = audiosim.status()
    return {"files": status["files"], "stages": status["stages"]}


def flip(path, offset, count=64):
    with open(path, "r+b") as f:
        f.seek(offset)
        data = bytearray(f.read(count))
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in data))


def dataset_offset(path, name):
    with h5py.File(path, "r") as f:
        dataset = f[name]
        if dataset.chunks:
            return dataset.id.get_chunk_info(0).byte_offset
        return dataset.id.get_offset()


def the_segment(audiosim, kind):
    m = manifest(audiosim)
    if kind == "catalog":
        return audiosim.store / m["catalog"][0]["file"]
    if kind == "chunks":
        return audiosim.store / m["chunks"]["sample"]["segments"][0]["file"]
    (key,) = m["embeddings"]
    return audiosim.store / m["embeddings"][key]["segments"][0]["file"]


def check(audiosim, *args, code):
    result = audiosim.run("check", "--format", "jsonl", *args, check_code=code)
    return parse_rows(result.stdout, "jsonl"), result.stderr.decode()


def error_line(result):
    lines = [line for line in result.stderr.decode().splitlines() if ": error: " in line]
    assert lines, result.stderr
    return lines[-1]


# ---------------------------------------------------------------------------------------------
# Checksums in the manifest.

def test_manifest_records_a_checksum_of_every_file(store):
    m = manifest(store)
    segments = m["catalog"] + m["chunks"]["sample"]["segments"] + [
        s for e in m["embeddings"].values() for s in e["segments"]]
    derived = [part for kind in ("indexes", "pairs") for entry in m[kind].values() for part in entry["files"].items()]
    assert segments and len(derived) == 4  # index payload, header and labels; pairs
    for entry in segments:
        data = (store.store / entry["file"]).read_bytes()
        assert entry["bytes"] == len(data) and len(entry["xxh3"]) == 16
    for file, checksum in derived:
        assert checksum["bytes"] == (store.store / file).stat().st_size
    rows, stderr = check(store, code=EXIT_OK)
    assert rows == [] and "0 problems" in stderr


def test_clean_store_checks_clean_and_repair_changes_nothing(store):
    before = manifest(store)
    check(store, "--repair", code=EXIT_OK)
    assert manifest(store) == before


# ---------------------------------------------------------------------------------------------
# A lost manifest.

def test_lost_manifest_is_a_damaged_store_never_a_new_one(store):
    files_before = sorted(p.relative_to(store.store) for p in store.store.rglob("*.h5"))
    expected = snapshot(store)
    (store.store / "manifest.json").unlink()
    for command in (["status"], ["query", "--item", "kick/kick-01.wav"], ["eval", "--labels", "labels.tsv"], ["report"]):
        result = store.run(*command, check_code=EXIT_FORMAT)
        assert "manifest.json is missing" in error_line(result) and "check --repair" in error_line(result)
    for command in (["embed"], ["chunk"], ["index"], ["pairs"], ["ingest", "."]):
        result = store.run(*command, check_code=EXIT_FORMAT)
        assert "damaged store" in error_line(result)
    # Nothing was garbage-collected, no manifest was written.
    assert sorted(p.relative_to(store.store) for p in store.store.rglob("*.h5")) == files_before
    assert not (store.store / "manifest.json").exists()
    rows, _ = check(store, code=EXIT_FORMAT)
    assert rows[0]["file"] == "manifest.json"

    rows, stderr = check(store, "--repair", code=EXIT_OK)
    assert any(r["event"] == "repair" and "rebuilt manifest.json" in r["detail"] for r in rows), stderr
    assert snapshot(store) == expected
    # The repaired store is whole: incremental runs find nothing to do, queries answer.
    store.run("embed", check_code=EXIT_OK)
    store.run("ingest", ".", "--metadata", "metadata.csv", check_code=EXIT_OK)
    assert snapshot(store) == expected
    query = parse_rows(store.run("query", "--item", "kick/kick-01.wav", "--format", "jsonl", check_code=EXIT_OK).stdout,
                       "jsonl")
    assert query and all(row["score"] <= 1.0 + 1e-6 for row in query)
    check(store, code=EXIT_OK)


def test_writers_other_than_ingest_never_create_a_store(tmp_path):
    typo = tmp_path / "no-such-store"
    audiosim = Audiosim(typo, tmp_path)
    for command in (["embed"], ["chunk"], ["index"], ["pairs"], ["status"], ["check"]):
        result = audiosim.run(*command, check_code=EXIT_INPUT)
        assert "no audiosim store" in error_line(result)
    assert not typo.exists()


def test_unparsable_manifest_is_rebuilt(store):
    expected = snapshot(store)
    path = store.store / "manifest.json"
    path.write_text(path.read_text()[:200])
    assert "not valid JSON" in error_line(store.run("status", check_code=EXIT_FORMAT))
    check(store, "--repair", code=EXIT_OK)
    assert snapshot(store) == expected


# ---------------------------------------------------------------------------------------------
# Damaged segments.

def indexed_query_unchanged(store, query, before):
    """A query through the index reads its payload and labels, not the tables: it answers exactly
    as before the damage (the labels describe those tables as they were, checksum-verified)."""
    result = store.run(*query, check_code=EXIT_OK)
    assert result.stdout == before


def test_damaged_catalog_segment_is_named_never_a_crash(store):
    query = ("query", "--item", "kick/kick-01.wav", "--format", "tsv")
    before = store.run(*query, check_code=EXIT_OK).stdout
    segment = the_segment(store, "catalog")
    flip(segment, segment.stat().st_size // 2, 256)
    name = str(segment.relative_to(store.store))
    for command in (["status"], ["status", "--errors"], ["query", "--item", "kick/kick-01.wav", "--exact"], ["embed"],
                    ["ingest", "."], ["pairs"], ["eval", "--labels", "labels.tsv"], ["index"]):
        result = store.run(*command, check_code=EXIT_FORMAT)
        assert name in error_line(result) and "damaged" in error_line(result), command
    indexed_query_unchanged(store, query, before)
    rows, _ = check(store, code=EXIT_FORMAT)
    assert [r["file"] for r in rows if r["event"] == "problem"][0] == name

    check(store, "--repair", code=EXIT_OK)
    assert (store.store / "damaged" / name).exists()  # moved aside, not deleted
    # The next ingest finds the files again, and embed redoes them.
    store.run("ingest", ".", "--metadata", "metadata.csv", check_code=EXIT_OK)
    store.run("embed", check_code=EXIT_OK, timeout=600)
    status = store.status()
    assert status["files"]["ok"] == len(list(store.cwd.rglob("*.wav"))) + len(
        [p for p in store.cwd.rglob("*") if p.suffix in (".flac", ".ogg", ".mp3", ".aiff", ".opus")])
    check(store, code=EXIT_OK)


def test_damaged_vectors_are_never_served_and_repair_redoes_exactly_their_files(store):
    segment = the_segment(store, "embeddings")
    with h5py.File(segment, "r") as f:
        files_in_segment = len(set(f["embeddings/file_id"][:].tolist()))
    query = ("query", "--item", "kick/kick-01.wav", "--format", "tsv")
    before = store.run(*query, check_code=EXIT_OK).stdout
    flip(segment, dataset_offset(segment, "embeddings/vector") + 4096, 64)
    name = str(segment.relative_to(store.store))
    for command in (["query", "--item", "kick/kick-01.wav", "--exact"],
                    ["eval", "--labels", "labels.tsv"], ["pairs"], ["index"], ["status"], ["embed"], ["report"]):
        result = store.run(*command, check_code=EXIT_FORMAT)
        assert name in error_line(result), (command, result.stderr)
    indexed_query_unchanged(store, query, before)

    rows, _ = check(store, code=EXIT_FORMAT)
    assert any(r["file"] == name and "XXH3" in r["detail"] for r in rows)
    check(store, "--repair", code=EXIT_OK)
    status = store.status()
    (set_status,) = status["stages"]["embed"].values()
    assert set_status["files_to_embed"] == files_in_segment
    store.run("embed", check_code=EXIT_OK, timeout=600)
    (set_status,) = store.status()["stages"]["embed"].values()
    assert set_status["files_to_embed"] == 0
    store.run("index", check_code=EXIT_OK)
    query = parse_rows(store.run("query", "--item", "kick/kick-01.wav", "--format", "jsonl", check_code=EXIT_OK).stdout,
                       "jsonl")
    assert query and max(row["score"] for row in query) <= 1.0 + 1e-6
    check(store, code=EXIT_OK)


def test_damaged_chunk_segment_is_detected_and_its_files_redone(store):
    segment = the_segment(store, "chunks")
    flip(segment, dataset_offset(segment, "chunks/start_frame"), 16)
    name = str(segment.relative_to(store.store))
    assert name in error_line(store.run("status", check_code=EXIT_FORMAT))
    check(store, "--repair", code=EXIT_OK)
    # The chunks are lost, so are the vectors made from them: embed redoes both.
    store.run("embed", check_code=EXIT_OK, timeout=600)
    (set_status,) = store.status()["stages"]["embed"].values()
    assert set_status["files_to_embed"] == 0 and set_status["vectors"] > 0
    check(store, code=EXIT_OK)


def test_vectors_of_wrong_length_are_refused_even_with_a_matching_checksum(store):
    """A writer's bug or damage from before checksums: the vector check, not the checksum, sees it."""
    segment = the_segment(store, "embeddings")
    with h5py.File(segment, "r+") as f:
        f["embeddings/vector"][3, :] *= 14820.0
    m = manifest(store)
    (key,) = m["embeddings"]
    for entry in m["embeddings"][key]["segments"]:
        if store.store / entry["file"] == segment:
            entry.pop("xxh3")
            entry.pop("bytes")
    (store.store / "manifest.json").write_text(json.dumps(m))
    line = error_line(store.run("query", "--item", "kick/kick-01.wav", "--exact", check_code=EXIT_FORMAT))
    assert "norm" in line and "not 1" in line


def test_damaged_or_deleted_index_and_pairs(store):
    m = manifest(store)
    (key,) = m["indexes"]
    payload = store.store / m["indexes"][key]["file"]
    flip(payload, payload.stat().st_size // 2, 32)
    assert str(payload.relative_to(store.store)) in error_line(
        store.run("query", "--item", "kick/kick-01.wav", check_code=EXIT_FORMAT))
    (store.store / m["pairs"][key]["file"]).unlink()
    assert "missing" in error_line(store.run("report", check_code=EXIT_FORMAT))
    rows, _ = check(store, code=EXIT_FORMAT)
    assert len([r for r in rows if r["event"] == "problem"]) == 2
    check(store, "--repair", code=EXIT_OK)
    assert manifest(store)["indexes"] == {} and manifest(store)["pairs"] == {}
    store.run("index", check_code=EXIT_OK)
    store.run("query", "--item", "kick/kick-01.wav", check_code=EXIT_OK)


def test_damaged_index_labels_are_named_and_repaired_with_their_index(store):
    m = manifest(store)
    (key,) = m["indexes"]
    labels_name = m["indexes"][key]["file"] + ".labels"
    assert labels_name in m["indexes"][key]["files"]
    flip(store.store / labels_name, 64, 16)
    assert labels_name in error_line(store.run("query", "--item", "kick/kick-01.wav", check_code=EXIT_FORMAT))
    rows, _ = check(store, code=EXIT_FORMAT)
    problems = [r for r in rows if r["event"] == "problem"]
    assert len(problems) == 1 and labels_name in json.dumps(problems[0])
    check(store, "--repair", code=EXIT_OK)
    assert manifest(store)["indexes"] == {}
    store.run("index", check_code=EXIT_OK)
    assert manifest(store)["indexes"][key]["file"] + ".labels" in manifest(store)["indexes"][key]["files"]
    store.run("query", "--item", "kick/kick-01.wav", check_code=EXIT_OK)


def test_cached_verification_gives_the_same_answers_and_still_catches_a_written_index(store):
    """verified.json spares later readers the hashing of settled files; a write to one changes its
    ctime, so it is hashed again; deleting or garbling the cache changes nothing but time."""
    m = manifest(store)
    (key,) = m["indexes"]
    payload_name = m["indexes"][key]["file"]
    payload = store.store / payload_name
    cache = store.store / "verified.json"
    query = ("query", store.cwd / "kick/kick-01.wav", "--format", "tsv")
    time.sleep(2.1)  # files younger than the ctime clock's coarsest tick are not written down
    first = store.run(*query, check_code=EXIT_OK).stdout
    assert first.count(b"\n") > 2
    files = json.loads(cache.read_text())["files"]
    assert payload_name in files and payload_name + ".json" in files
    assert store.run(*query, check_code=EXIT_OK).stdout == first  # now from the cache
    cache.unlink()
    assert store.run(*query, check_code=EXIT_OK).stdout == first
    cache.write_text("{ not json")
    assert store.run(*query, check_code=EXIT_OK).stdout == first
    assert payload_name in json.loads(cache.read_text())["files"]

    flip(payload, payload.stat().st_size // 2, 32)
    line = error_line(store.run(*query, check_code=EXIT_FORMAT))
    assert payload_name in line and "damaged" in line


def test_check_hashes_every_file_whatever_the_cache_says(store):
    """Damage without a write (bit-rot) keeps a file's stat: forged here by writing the damaged
    file's new stat into the cache. Readers trust it; check must not."""
    segment = the_segment(store, "embeddings")
    name = str(segment.relative_to(store.store))
    time.sleep(2.1)
    store.run("status", check_code=EXIT_OK)
    store.run("query", "--item", "kick/kick-01.wav", "--exact", check_code=EXIT_OK)
    cache = store.store / "verified.json"
    entries = json.loads(cache.read_text())
    assert name in entries["files"]
    flip(segment, dataset_offset(segment, "embeddings/vector") + 4096, 64)
    st = segment.stat()
    entries["files"][name].update(device=st.st_dev, inode=st.st_ino, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                  ctime_ns=st.st_ctime_ns)
    cache.write_text(json.dumps(entries))
    store.run("status", check_code=EXIT_OK)  # trusts the cache: the trade-off docs/RELIABILITY.md states
    rows, _ = check(store, code=EXIT_FORMAT)
    problems = [r for r in rows if r["event"] == "problem"]
    assert len(problems) == 1 and name in json.dumps(problems[0])


def test_legacy_store_without_checksums_still_reads_and_check_survives_damage(store):
    """Manifests from before checksums: read unverified; check parses their files in a child
    process, so bytes that crash HDF5 end the child, not check."""
    m = manifest(store)
    for entry in m["catalog"]:
        entry.pop("xxh3"), entry.pop("bytes")
    (store.store / "manifest.json").write_text(json.dumps(m))
    store.run("status", check_code=EXIT_OK)
    segment = the_segment(store, "catalog")
    with open(segment, "r+b") as f:
        f.truncate(segment.stat().st_size // 2)
    rows, _ = check(store, code=EXIT_FORMAT)
    assert any(r["file"] == str(segment.relative_to(store.store)) for r in rows)
    check(store, "--repair", code=EXIT_OK)


# ---------------------------------------------------------------------------------------------
# Readers during commits: no reference into a manifest survives a reload.

def test_readers_loop_while_a_writer_commits(tmp_path, demo):
    """status, query, eval and report in loops while embed commits file by file and compacts."""
    library = tmp_path / "library"
    shutil.copytree(demo, library)
    audiosim = Audiosim(tmp_path / "store", library)
    audiosim.run("ingest", "kick", "snare", check_code=EXIT_OK)
    audiosim.run("embed", check_code=EXIT_OK)
    audiosim.run("pairs", check_code=EXIT_OK)
    audiosim.run("ingest", "--commit-every", "1", ".", check_code=EXIT_OK)
    readers = (["status"], ["status", "--format", "json"], ["query", "--item", "kick/kick-01.wav", "--exact"],
               ["eval", "--labels", "labels.tsv"], ["report"])
    writer = audiosim.popen("embed", "--commit-every", "1", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    failures, runs = [], 0
    while writer.poll() is None:
        for command in readers:
            result = audiosim.run(*command)
            runs += 1
            text = result.stderr.decode()
            if result.returncode != EXIT_OK or "internal error" in text:
                failures.append((command, result.returncode, text))
    assert writer.wait(timeout=600) == EXIT_OK, writer.stderr.read()
    assert runs >= len(readers) and not failures, failures[:3]
    assert len(manifest(audiosim)["runs"]) >= 4
