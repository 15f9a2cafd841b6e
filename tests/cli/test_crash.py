"""A writer dying at any point: kill -9, SIGINT/SIGTERM, and the temporaries a dead writer leaves.

Each kill round freezes a real ingest with SIGSTOP at a point a seeded RNG picks (a random delay,
or right after its k-th commit), reads the store as a reader sees it at that instant (manifest,
then the segments it names), then kills the frozen writer with SIGKILL. Since a frozen process runs
no code before it dies, the store after the kill must be exactly what was read: nothing committed
lost, nothing half-written visible. Every stored record is checked against the file on disk and
against a reference store built by one uninterrupted run, and the next writer must carry on from
there. Every outcome of a round (killed mid-run, killed before its first commit, finished before
the freeze) is checked the same way; a final assertion makes sure some kills landed mid-run."""

import json
import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import (Audiosim, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, SegmentMissing, freeze, kill_and_reap, read_manifest,
                      read_segment, wait_for_generation, write_wav)

ROUNDS = 6
BATCHES = ROUNDS  # round r ingests batch0..batch{r}: every round has new work to be killed in
SMALL_PER_BATCH = 90
COMMIT_EVERY = "20"

CHECKED = ("size", "hash", "status", "container", "codec", "sample_rate", "channels", "frames", "duration")
SEGMENT_NAME = re.compile(r"(\d{8})-(delta|base)\.h5")
SEGMENT_TEMPORARY = re.compile(r"\d{8}-(delta|base)\.h5\.tmp\.\d+\.[0-9a-f]{8}")


# ---------------------------------------------------------------------------------------------
# Reading the store the way a reader must: manifest first, then the immutable segments it names.

class StoreView:
    def __init__(self, manifest, segments, records):
        self.manifest = manifest
        self.segments = segments  # per manifest entry: {"generation", "records", "removed"}
        self.records = records    # path -> record, deltas applied in order

    @property
    def generation(self):
        return self.manifest["generation"]


def read_store(store, attempts=10):
    """The store as a reader sees it, or None when there is no manifest (nothing committed yet)."""
    for _ in range(attempts):
        manifest = read_manifest(store)
        if manifest is None:
            return None
        try:
            segments = [read_segment(store / entry["file"]) for entry in manifest["catalog"]]
        except SegmentMissing:
            continue  # compacted away under us: read the new manifest, as audiosim's reader does
        records = {}
        for entry, segment in zip(manifest["catalog"], segments):
            assert len(segment["records"]) == entry["rows"], f"{entry['file']}: row count differs from the manifest"
            assert len(segment["removed"]) == entry["removed"], entry["file"]
            assert segment["generation"] <= manifest["generation"], entry["file"]
            for path in segment["removed"]:
                records.pop(path, None)
            for record in segment["records"]:
                records[record["path"]] = record
        return StoreView(manifest, segments, records)
    raise AssertionError(f"{store}: the segments of {attempts} successive manifests kept vanishing")


def check_records(view, library, reference):
    """Every stored record is a library file, complete and correct."""
    for path, record in view.records.items():
        assert path in reference, f"stored record for {path!r}, which is no library file"
        st = os.stat(library / path)
        assert record["status"] == "ok" and record["error"] == "", record
        assert record["size"] == st.st_size, f"{path}: stored size {record['size']}, file has {st.st_size}"
        assert record["mtime_ns"] == st.st_mtime_ns, path
        expected = reference[path]
        for key in CHECKED:
            assert record[key] == expected[key], (
                f"{path}: {key} is {record[key]!r}, a clean ingest says {expected[key]!r}")
        assert record["ingested_ns"] > 0, path
    file_ids = [r["file_id"] for r in view.records.values()]
    assert len(set(file_ids)) == len(file_ids), "two stored files share a file_id"
    assert all(0 < i < view.manifest["next_file_id"] for i in file_ids), "a file_id at or past next_file_id"


def catalog_garbage(store, manifest, strict=True):
    """Files in catalog/ and manifest temporaries that the manifest does not name. With `strict`,
    each must be something a dead audiosim writer can leave (a temporary, or a segment renamed just
    before its manifest commit). Returns name -> identity, to check the next writer removes it."""
    generation = manifest["generation"] if manifest else 0
    referenced = {entry["file"] for entry in manifest["catalog"]} if manifest else set()
    present = {f"catalog/{name}" for name in os.listdir(store / "catalog")}
    assert referenced <= present, f"the manifest names missing segments: {referenced - present}"
    garbage = {}
    for relative in sorted(present - referenced):
        name = relative.split("/", 1)[1]
        orphan = SEGMENT_NAME.fullmatch(name)
        if not strict:
            pass
        elif orphan:
            # Renamed into place just before a manifest commit that never happened, or replaced
            # by a compaction whose manifest is committed and whose clean-up was cut short.
            bases = [int(SEGMENT_NAME.fullmatch(e["file"].split("/", 1)[1]).group(1))
                     for e in manifest["catalog"] if e["kind"] == "base"] if manifest else []
            orphan_generation = int(orphan.group(1))
            assert orphan_generation == generation + 1 or (bases and orphan_generation < max(bases)), (
                f"{relative}: an unreferenced segment neither of the next generation ({generation + 1}) "
                f"nor older than the current base")
        else:
            assert SEGMENT_TEMPORARY.fullmatch(name), f"unexpected file in catalog/: {name}"
        garbage[relative] = identity(store / relative)
    for name in os.listdir(store):
        if name.startswith("manifest.json.tmp."):
            garbage[name] = identity(store / name)
    return garbage


def identity(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def status_of(audiosim):
    result = audiosim.run("status", "--format", "json", timeout=60)
    return result, (json.loads(result.stdout) if result.returncode == EXIT_OK else None)


# ---------------------------------------------------------------------------------------------
# Libraries.

def make_library(library):
    """BATCHES folders of small WAVs (varied rates, channels, lengths) plus one larger file each."""
    paths = []
    for b in range(BATCHES):
        for i in range(SMALL_PER_BATCH):
            paths.append(write_wav(library / f"batch{b}" / f"small-{i:03d}.wav", seconds=0.01 + 0.001 * (i % 40),
                                   rate=(8000, 16000, 22050, 44100)[i % 4], channels=1 + i % 2,
                                   frequency=50 + 7 * i + 1000 * b))
        paths.append(write_wav(library / f"batch{b}" / "large.wav", seconds=15, channels=2, seed=b))
    return sorted(str(p.relative_to(library)) for p in paths)


def make_flat_library(library, count):
    return sorted(str(write_wav(library / f"f{i // 100}" / f"tone-{i:04d}.wav", seconds=0.01 + 0.0005 * (i % 50),
                                frequency=60 + 3 * i).relative_to(library)) for i in range(count))


def reference_rows(tmp_path, library, *args):
    """A clean, uninterrupted ingest of the same library into a fresh store: the expected records."""
    reference = Audiosim(tmp_path / "reference-store", library)
    start = time.monotonic()
    rows, _ = reference.ingest_rows("-j", "1", "--commit-every", COMMIT_EVERY, *args)
    elapsed = time.monotonic() - start
    assert all(row["event"] == "added" and row["status"] == "ok" for row in rows)
    return {row["path"]: row for row in rows}, elapsed


def rows_of(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------

def test_kill_9_at_random_points_loses_nothing_committed(audiosim, library, tmp_path):
    store = audiosim.store
    all_files = make_library(library)
    reference, full_seconds = reference_rows(tmp_path, library, ".")
    assert set(reference) == set(all_files)
    seconds_per_file = full_seconds / len(all_files)

    rng = np.random.default_rng(20240611)
    previous = None   # StoreView after the previous round
    garbage = {}      # left by the previous kill: name -> identity
    outcomes = []
    for round_number in range(ROUNDS):
        inputs = [f"batch{b}" for b in range(round_number + 1)]
        in_scope = {p for p in all_files if p.split("/")[0] in inputs}
        committed_before = dict(previous.records) if previous else {}
        start_generation = previous.generation if previous else 0
        pending = len(in_scope - set(committed_before))
        if round_number % 2 == 0:
            trigger = ("after commit", int(rng.integers(1, 3)))
        else:
            trigger = ("after seconds", float(rng.uniform(0, 1.3 * (0.01 + pending * seconds_per_file))))

        stderr_path = tmp_path / f"round{round_number}.stderr"
        with open(stderr_path, "wb") as stderr:
            proc = audiosim.popen("-j", "1", "ingest", "--commit-every", COMMIT_EVERY, *inputs,
                                  stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            if trigger[0] == "after commit":
                wait_for_generation(store, start_generation + trigger[1], proc)
            else:
                time.sleep(trigger[1])
            running = freeze(proc)
            frozen = read_store(store)
            # A reader while the writer is frozen at an arbitrary point sees that same state.
            result, frozen_status = status_of(audiosim)
            if frozen is None:
                assert result.returncode == EXIT_INPUT and b"no audiosim store here" in result.stderr, result
            else:
                assert result.returncode == EXIT_OK, result.stderr
                assert frozen_status["generation"] == frozen.generation
                assert frozen_status["files"]["total"] == len(frozen.records)
        finally:
            code = kill_and_reap(proc)
        describe = f"round {round_number} ({trigger[0]} {trigger[1]}), stderr: {stderr_path.read_text()!r}"
        if running:
            assert code == -signal.SIGKILL, describe
        else:
            assert code == EXIT_OK, f"the ingest ended by itself with exit {code}; {describe}"

        after = read_store(store)
        if after is None:
            # Killed before its first commit into a new store: there is nothing to read yet.
            assert frozen is None and previous is None, describe
            result, _ = status_of(audiosim)
            assert result.returncode == EXIT_INPUT and b"no audiosim store here" in result.stderr, describe
        else:
            # (b) The kill changed nothing: the store holds exactly what was committed when frozen.
            assert frozen is not None, f"a manifest appeared after the writer was frozen; {describe}"
            assert after.manifest == frozen.manifest, describe
            assert after.records == frozen.records, describe
            assert after.generation >= start_generation, describe
            # ... and everything committed by earlier rounds is still there, unchanged.
            for path, record in committed_before.items():
                assert after.records.get(path) == record, (
                    f"{path}: committed before round {round_number}, now {after.records.get(path)}")
            # (a) The store is readable by audiosim and agrees with what we read.
            result, status = status_of(audiosim)
            assert result.returncode == EXIT_OK, f"status after the kill: {result.stderr!r}; {describe}"
            assert status["generation"] == after.generation
            assert status["files"]["total"] == status["files"]["ok"] == len(after.records), describe
            # (c) Every record is complete and correct, and only files this run or earlier ones scanned.
            check_records(after, library, reference)
            assert set(after.records) <= in_scope, describe
            if code == EXIT_OK:
                assert set(after.records) == in_scope, (
                    f"a run that ended by itself did not commit all its files; {describe}")
        # (d) Whatever is left in catalog/ is a recognizable temporary or orphan, not named by the
        # manifest; what the previous kill left is gone once this round's writer got going.
        new_garbage = catalog_garbage(store, after.manifest if after else None)
        if after is not None and after.generation > start_generation:
            for name, ident in garbage.items():
                assert identity(store / name) != ident, (
                    f"{name}, left by the previous kill, survived a writer; {describe}")
        garbage = new_garbage
        committed = len(after.records) if after else 0
        outcomes.append({"round": round_number, "trigger": trigger, "exit": code,
                         "committed_before": len(committed_before), "committed": committed,
                         "in_scope": len(in_scope), "generation": after.generation if after else None,
                         "left": sorted(new_garbage)})
        if after is not None:
            previous = after

    # Kills that landed mid-run: killed after committing some of this round's files, not all.
    mid_run = [o for o in outcomes
               if o["exit"] == -signal.SIGKILL and o["committed_before"] < o["committed"] < o["in_scope"]]
    assert len(mid_run) >= 2, f"too few kills landed mid-run: {outcomes}"

    # A final uninterrupted run reads only what no round committed, and completes.
    rows, _ = audiosim.ingest_rows("-j", "1", "--commit-every", COMMIT_EVERY, ".")
    committed = set(previous.records) if previous else set()
    assert {row["path"] for row in rows} == set(all_files) - committed, (
        "the final run re-read committed files or missed some")
    assert all(row["event"] == "added" and row["status"] == "ok" for row in rows), rows
    for row in rows:
        for key in CHECKED:
            assert row[key] == reference[row["path"]][key], (row["path"], key)
    final = read_store(store)
    assert set(final.records) == set(all_files)
    check_records(final, library, reference)
    occurrences = [r["path"] for segment in final.segments for r in segment["records"]]
    assert len(occurrences) == len(all_files), "some file was stored twice (ingested again after a kill)"
    assert catalog_garbage(store, final.manifest) == {}, "temporaries or orphans survived the final run"
    status = audiosim.status()
    assert status["files"]["total"] == status["files"]["ok"] == len(all_files)
    assert status["last_run"]["summary"]["interrupted"] is False

    # A re-run finds everything unchanged.
    rows, _ = audiosim.ingest_rows("-j", "1", ".")
    assert rows == []
    summary = audiosim.status()["last_run"]["summary"]
    assert summary["scanned"] == summary["unchanged"] == len(all_files)
    assert summary["added"] == summary["changed"] == summary["touched"] == summary["failed"] == 0


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_commits_what_was_read_and_the_next_run_finishes(audiosim, library, tmp_path, signal_number):
    store = audiosim.store
    all_files = make_flat_library(library, 500)
    reference, _ = reference_rows(tmp_path, library, ".")

    out_path, err_path = tmp_path / "interrupted.jsonl", tmp_path / "interrupted.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = audiosim.popen("-j", "1", "--format", "jsonl", "ingest", "--commit-every", COMMIT_EVERY, ".",
                              stdout=out, stderr=err)
    try:
        # After its first commit the ingest is past installing its signal handlers.
        assert wait_for_generation(store, 1, proc), f"the ingest ended early: {err_path.read_text()}"
        assert freeze(proc), "the ingest finished before it could be interrupted"
        frozen = read_store(store)
        proc.send_signal(signal_number)  # delivered when it continues
        proc.send_signal(signal.SIGCONT)
        code = proc.wait(timeout=60)
    finally:
        if proc.returncode is None:
            kill_and_reap(proc)
    stderr = err_path.read_text()
    assert code == EXIT_INTERRUPTED, f"exit {code}, stderr: {stderr}"
    assert "interrupted; everything read so far is committed" in stderr

    after = read_store(store)
    reported = {row["path"] for row in rows_of(out_path)}
    assert set(frozen.records) <= set(after.records), "the interrupted run lost what it had committed"
    assert reported == set(after.records), "files it reported reading are not committed (or the reverse)"
    assert 0 < len(after.records) < len(all_files), "it did not stop early"
    check_records(after, library, reference)
    status = audiosim.status()
    assert status["files"]["total"] == len(after.records) > 0
    assert status["last_run"]["summary"]["interrupted"] is True
    assert catalog_garbage(store, after.manifest) == {}

    rows, _ = audiosim.ingest_rows("-j", "1", ".")
    assert {row["path"] for row in rows} == set(all_files) - set(after.records)
    assert all(row["event"] == "added" for row in rows)
    final = read_store(store)
    assert set(final.records) == set(all_files)
    check_records(final, library, reference)
    assert audiosim.status()["files"]["total"] == len(all_files)


def test_stray_temporaries_do_not_disturb_readers_and_the_next_writer_removes_them(audiosim, library, tmp_path):
    store = audiosim.store
    first = make_flat_library(library / "first", 30)
    audiosim.ingest_rows("first")
    for i in range(5):
        write_wav(library / "second" / f"late-{i}.wav", seconds=0.02, frequency=900 + 50 * i)
    audiosim.ingest_rows("first", "second")
    before = read_store(store)
    assert len(before.records) == 35 and len(before.manifest["catalog"]) >= 2, before.manifest["catalog"]
    status_before = audiosim.status()
    text_before = audiosim.run("status", check_code=EXIT_OK).stdout
    g = before.generation
    segment_bytes = (store / before.manifest["catalog"][0]["file"]).read_bytes()

    strays = {
        # The names a dead writer leaves: a segment temporary, a manifest temporary (garbage)...
        "catalog/00000099-delta.h5.tmp.123.abcd": os.urandom(4096),
        "manifest.json.tmp.1.x": b'{"format": "audiosim-store", "generation": 99, "catalog": [{"file": "catalog/000',
        # ... a half-written segment temporary for the next generation (an HDF5 file cut short) ...
        f"catalog/{g + 1:08}-delta.h5.tmp.4242.0badf00d": segment_bytes[: len(segment_bytes) // 2],
        # ... an empty one, and a whole segment renamed into place whose manifest never landed.
        f"catalog/{g + 1:08}-base.h5.tmp.4243.00000000": b"",
        f"catalog/{g + 1:08}-base.h5": segment_bytes,
        "manifest.json.tmp.777.deadbeef": b"",
    }
    for name, content in strays.items():
        (store / name).write_bytes(content)

    # Readers: audiosim and a plain HDF5 reader see the store exactly as before.
    status = audiosim.status()
    assert {k: status[k] for k in ("generation", "files")} == {k: status_before[k] for k in ("generation", "files")}
    assert audiosim.run("status", check_code=EXIT_OK).stdout == text_before
    again = read_store(store)
    assert again.manifest == before.manifest and again.records == before.records
    assert set(catalog_garbage(store, again.manifest, strict=False)) == set(strays)

    # The next writer, with nothing to do, removes every stray and commits normally.
    rows, result = audiosim.ingest_rows(".")
    assert rows == [], rows
    for name in strays:
        assert not (store / name).exists(), f"{name} survived the next writer"
    after = read_store(store)
    assert after.records == before.records and after.generation > g
    assert catalog_garbage(store, after.manifest) == {}

    # And the store goes on taking new files, one segment name after another.
    write_wav(library / "third" / "new.wav", seconds=0.05, frequency=333)
    rows, _ = audiosim.ingest_rows(".")
    assert [(row["event"], row["path"]) for row in rows] == [("added", "third/new.wav")]
    final = read_store(store)
    assert len(final.records) == 36 and {f"first/{p}" for p in first} <= set(final.records)
    assert catalog_garbage(store, final.manifest) == {}
    assert audiosim.status()["files"]["total"] == 36
