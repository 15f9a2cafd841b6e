"""One writer at a time, readers any time: the store lock and lock-free readers, on real processes.

A writer is held in place with SIGSTOP once it holds the lock (its pid is in the lock file), so
"while one ingest runs" is a fact of the test, not a race against the clock. Readers run against a
writer that is throttled (SIGSTOP/SIGCONT in short bursts), so they look at the store both while it
runs and while it is frozen at arbitrary points: mid-segment, mid-rename, mid-compaction."""

import fcntl
import json
import os
import re
import signal
import threading
import time

import pytest

from conftest import EXIT_BUSY, EXIT_OK, SegmentMissing, freeze, read_manifest, read_segment, wait_for_generation, write_wav

SAFE_WORD = re.compile(r"[A-Za-z0-9_\-+=./:,@%]+")


# ---------------------------------------------------------------------------------------------
# Helpers: libraries, the lock file, freezing a writer, reading the store from Python.

def make_library(library, count, folders=1, prefix="tone"):
    """`count` small WAVs spread over folders f0..f{folders-1}; returns their library paths."""
    paths = []
    for i in range(count):
        folder = library / f"f{i % folders}"
        paths.append(write_wav(folder / f"{prefix}-{i:04d}.wav", seconds=0.01 + 0.0005 * (i % 40),
                               rate=(8000, 22050, 44100)[i % 3], frequency=40 + 3 * i))
    return sorted(str(p.relative_to(library)) for p in paths)


def shell_quote(word):
    """How audiosim writes a command line (apps/main.cpp): safe words bare, others single-quoted."""
    return word if SAFE_WORD.fullmatch(word) else "'" + word.replace("'", "'\\''") + "'"


def command_line(argv):
    return " ".join(shell_quote(os.fsdecode(a)) for a in argv)


def lock_note(store):
    try:
        return (store / "lock").read_text()
    except FileNotFoundError:
        return ""


def wait_until_holding_lock(store, proc, timeout=60):
    """Until the lock file names proc as its holder (written right after flock succeeds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock_note(store).startswith(f"pid {proc.pid}:"):
            return
        assert proc.poll() is None, f"writer exited with {proc.returncode} before taking the lock"
        time.sleep(0.001)
    raise AssertionError(f"pid {proc.pid} never took the lock")


def read_store(store, attempts=10):
    """(manifest, {path: size}) read like audiosim's reader: the manifest, then the segments it
    names, re-reading the manifest only when a compaction removed a segment under us."""
    for _ in range(attempts):
        manifest = read_manifest(store)
        try:
            segments = [read_segment(store / entry["file"]) for entry in manifest["catalog"]]
        except SegmentMissing:
            continue
        records = {}
        for entry, segment in zip(manifest["catalog"], segments):
            assert len(segment["records"]) == entry["rows"], entry
            assert segment["generation"] <= manifest["generation"], entry
            for path in segment["removed"]:
                records.pop(path, None)
            records.update((r["path"], r["size"]) for r in segment["records"])
        return manifest, records
    raise AssertionError("segments kept vanishing")


@pytest.fixture
def processes():
    """Every writer a test starts: resumed and killed at the end, whatever happened."""
    started = []
    yield started
    for proc in started:
        if proc.returncode is None:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)


def start_writer(audiosim, processes, tmp_path, name, *args):
    out = open(tmp_path / f"{name}.stdout", "wb")
    err = open(tmp_path / f"{name}.stderr", "wb")
    with out, err:
        proc = audiosim.popen(*args, stdout=out, stderr=err)
    processes.append(proc)
    return proc


def output_of(tmp_path, name):
    return (tmp_path / f"{name}.stdout").read_text(), (tmp_path / f"{name}.stderr").read_text()


# ---------------------------------------------------------------------------------------------

def test_second_writer_fails_fast_naming_the_holder(audiosim, library, tmp_path, processes):
    store = audiosim.store
    files = make_library(library, 300)
    first_args = ("-j", "1", "ingest", "--commit-every", "20", ".")
    first = start_writer(audiosim, processes, tmp_path, "first", *first_args)
    wait_until_holding_lock(store, first)
    assert wait_for_generation(store, 1, first), "the writer exited before its first commit"
    assert freeze(first), "the writer finished before it was frozen"  # mid-run: it holds the lock for as long as the test needs
    manifest_before = read_manifest(store)
    note_before = lock_note(store)

    start = time.monotonic()
    second = audiosim.run("ingest", ".", timeout=30)
    elapsed = time.monotonic() - start
    stderr = second.stderr.decode()
    assert second.returncode == EXIT_BUSY, f"exit {second.returncode}: {stderr}"
    assert elapsed < 5, f"took {elapsed:.1f} s to report a busy store without --wait"
    assert second.stdout == b""
    lines = stderr.splitlines()
    assert len(lines) == 1 and stderr.endswith("\n"), f"not one line: {stderr!r}"
    holder = f"pid {first.pid}: {command_line(first.args)}"
    assert lines[0].startswith("audiosim ingest: error: store is locked by "), lines[0]
    assert holder in lines[0], f"the message does not name the holder {holder!r}: {lines[0]!r}"
    assert "--wait" in lines[0], "the message does not say how to wait"
    # The failed writer touched nothing: not the manifest, not the holder's note.
    assert read_manifest(store) == manifest_before
    assert lock_note(store) == note_before

    # Readers do not lock: status works while the writer holds the store, and shows its commits.
    status = audiosim.status()
    assert status["generation"] == manifest_before["generation"]
    assert 0 < status["files"]["total"] < len(files)

    first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=60) == EXIT_OK, output_of(tmp_path, "first")
    assert audiosim.status()["files"]["total"] == len(files)


def test_second_writer_with_wait_waits_for_the_first_then_succeeds(audiosim, library, tmp_path, processes):
    store = audiosim.store
    files = make_library(library, 300)
    first = start_writer(audiosim, processes, tmp_path, "first", "-j", "1", "ingest", "--commit-every", "20", ".")
    wait_until_holding_lock(store, first)
    assert freeze(first), "the writer finished before it was frozen"

    # --wait shorter than the hold: waits that long, then reports the busy store.
    start = time.monotonic()
    impatient = audiosim.run("--wait", "1", "ingest", ".", timeout=30)
    elapsed = time.monotonic() - start
    assert impatient.returncode == EXIT_BUSY, impatient.stderr
    assert 1.0 <= elapsed < 6, f"--wait 1 gave up after {elapsed:.2f} s"
    assert f"store is locked by pid {first.pid}:" in impatient.stderr.decode()

    # --wait longer than the hold: still waiting while the first is held...
    second = start_writer(audiosim, processes, tmp_path, "second", "--wait", "60", "--format", "jsonl", "ingest", ".")
    time.sleep(1.5)
    assert second.poll() is None, f"the second writer did not wait: {output_of(tmp_path, 'second')}"
    assert lock_note(store).startswith(f"pid {first.pid}:")
    # ... and once the first finishes, it takes the lock and runs on the first's results.
    first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=60) == EXIT_OK, output_of(tmp_path, "first")
    assert second.wait(timeout=60) == EXIT_OK, output_of(tmp_path, "second")
    stdout, stderr = output_of(tmp_path, "second")
    assert stdout == "", "the second writer re-read files the first had committed"
    assert "locked" not in stderr
    summary = audiosim.status()["last_run"]["summary"]
    assert summary["scanned"] == summary["unchanged"] == len(files) and summary["added"] == 0
    assert lock_note(store).startswith(f"pid {second.pid}:")


def test_readers_see_consistent_states_while_a_writer_commits(audiosim, library, tmp_path, processes):
    store = audiosim.store
    batches = [make_library(library / f"batch{b}", 40 if b == 0 else 150, prefix=f"b{b}") for b in range(5)]
    total = sum(len(batch) for batch in batches)
    audiosim.ingest_rows("batch0")  # a store exists before the readers start

    done = threading.Event()
    writer_codes, failures = [], []

    def writer():
        # Four runs, each adding a batch; --commit-every 10 commits often, and every run ends in a
        # compaction (more than 8 deltas), which removes the segments readers may be reading.
        try:
            for b in range(1, 5):
                inputs = [f"batch{k}" for k in range(b + 1)]
                proc = start_writer(audiosim, processes, tmp_path, f"writer{b}", "-j", "1", "ingest",
                                    "--commit-every", "10", *inputs)
                while proc.poll() is None:  # throttle: run 3 ms, frozen 10 ms
                    time.sleep(0.003)
                    proc.send_signal(signal.SIGSTOP)
                    time.sleep(0.010)
                    proc.send_signal(signal.SIGCONT)
                writer_codes.append(proc.returncode)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            failures.append(error)
        finally:
            done.set()

    python_seen = []  # (generation, files) from the h5py reader

    def python_reader():
        try:
            while not done.is_set():
                manifest, records = read_store(store)
                python_seen.append((manifest["generation"], len(records)))
        except BaseException as error:  # noqa: BLE001
            failures.append(error)

    threads = [threading.Thread(target=writer), threading.Thread(target=python_reader)]
    for thread in threads:
        thread.start()
    status_seen = []
    try:
        while not done.is_set():
            result = audiosim.run("status", "--format", "json", timeout=60)
            assert result.returncode == EXIT_OK, f"status failed during a write: {result.stderr.decode()}"
            assert result.stderr == b""
            status = json.loads(result.stdout)
            files = status["files"]
            assert files["total"] == files["ok"] + files["failed"] and files["failed"] == 0
            status_seen.append((status["generation"], files["total"]))
    finally:
        done.wait(timeout=120)
        for thread in threads:
            thread.join(timeout=120)
    assert not failures, failures
    assert writer_codes == [EXIT_OK] * 4

    for name, seen in (("status", status_seen), ("h5py reader", python_seen)):
        generations = [g for g, _ in seen]
        totals = [n for _, n in seen]
        assert generations == sorted(generations), f"{name}: the generation went backwards: {seen}"
        assert totals == sorted(totals), f"{name}: the file count went backwards: {seen}"
        assert all(len(batches[0]) <= n <= total for n in totals), seen
    # One generation, one state, whoever read it.
    by_generation = {}
    for generation, count in status_seen + python_seen:
        assert by_generation.setdefault(generation, count) == count, f"generation {generation} read as two states"
    assert len({n for _, n in status_seen}) >= 3, f"the readers hardly saw the writer progress: {status_seen}"
    assert len(status_seen) >= 10 and len(python_seen) >= 10

    final = audiosim.status()
    assert final["files"]["total"] == total
    manifest, records = read_store(store)
    assert len(records) == total


def test_status_never_fails_while_compactions_remove_segments(audiosim, library):
    """Readers take the manifest, then open the segments it names; a compaction committed in
    between removes those segments. A reader must then read the new manifest, never fail. Each
    writer run here commits 8 one-file deltas and compacts them away, while 3 readers poll."""
    store = audiosim.store
    make_library(library / "seed", 20)
    audiosim.ingest_rows("seed")

    stop = threading.Event()
    failures, calls = [], []

    def reader():
        while not stop.is_set():
            result = audiosim.run("status", "--format", "json", timeout=60)
            calls.append(result.returncode)
            if result.returncode != EXIT_OK:
                failures.append(result.stderr.decode().strip())
                stop.set()

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()
    compactions = 0
    deadline = time.monotonic() + 12
    try:
        while time.monotonic() < deadline and not stop.is_set():
            make_library(library / f"run{compactions}", 8, prefix=f"r{compactions}")
            audiosim.ingest_rows("-j", "1", "--commit-every", "1", f"run{compactions}")
            catalog = read_manifest(store)["catalog"]
            assert [entry["kind"] for entry in catalog] == ["base"], f"the run did not compact: {catalog}"
            compactions += 1
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=120)
    assert not failures, (f"{len(failures)} of {len(calls)} status calls failed while {compactions} compactions "
                          f"ran; first: {failures[0]}")
    assert compactions >= 5 and len(calls) >= 50, (compactions, len(calls))
    assert audiosim.status()["files"]["total"] == 20 + 8 * compactions


def test_lock_is_free_as_soon_as_a_killed_writer_is_gone(audiosim, library, tmp_path, processes):
    store = audiosim.store
    files = make_library(library, 500, folders=5)
    first = start_writer(audiosim, processes, tmp_path, "first", "-j", "1", "ingest", "--commit-every", "20", ".")
    wait_until_holding_lock(store, first)
    assert wait_for_generation(store, 1, first), "the writer exited before its first commit"
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    _, committed = read_store(store)
    assert 0 < len(committed) < len(files), "the kill did not land mid-run"

    # The kernel dropped the dead writer's flock: it can be taken at once, without waiting...
    with open(store / "lock", "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(lock, fcntl.LOCK_UN)
    # ... and the next writer, without --wait, runs at once and goes on from the last commit.
    start = time.monotonic()
    rows, result = audiosim.ingest_rows("-j", "1", ".")
    assert time.monotonic() - start < 30
    assert {row["path"] for row in rows} == set(files) - set(committed)
    assert lock_note(store).startswith("pid ") and f"pid {first.pid}:" not in lock_note(store)
    assert audiosim.status()["files"]["total"] == len(files)
