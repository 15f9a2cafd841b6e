"""The crash harness (docs/RELIABILITY.md): every writing command killed with SIGKILL at random
moments, round after round, while the library changes between rounds (files added, changed,
removed, renamed). After every kill `audiosim check` must find the store whole; at the end the
store, brought up to date, must equal one built from scratch on the final library.

Rounds: $AUDIOSIM_KILL_ROUNDS (default 3, for CI; docs/RELIABILITY.md records a run of 100, one
kill per writing command per round). The seed is $AUDIOSIM_KILL_SEED (default 1)."""

import json
import os
import random
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np

from conftest import EXIT_OK, Audiosim, read_manifest

ROUNDS = int(os.environ.get("AUDIOSIM_KILL_ROUNDS", "3"))
SEED = int(os.environ.get("AUDIOSIM_KILL_SEED", "1"))
WRITERS = (
    ("ingest", ["ingest", "--commit-every", "1", "--prune", "--metadata", "metadata.csv", "."]),
    ("chunk", ["chunk", "--commit-every", "1"]),
    ("embed", ["embed", "--commit-every", "1"]),
    ("index", ["index"]),
    ("pairs", ["pairs", "--min-score", "0.5"]),
)
AUDIO = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".opus")


def change_library(library, rng, round_number):
    """Adds two files (copies with reversed samples), rewrites two, removes one, renames two: work
    for every writer, of about the same size each round."""
    # Plain WAVs whose samples start at byte 44, so that the changes keep every file valid audio.
    files = sorted(p for p in library.rglob("*.wav") if "dupes" not in p.parts and p.read_bytes()[36:40] == b"data")
    picked = rng.sample(files, 7)
    for n, source in enumerate(picked[:2]):
        data = bytearray(source.read_bytes())
        data[44:] = data[:43:-1][: len(data) - 44]  # the same WAV header, other samples
        (source.parent / f"added-{round_number}-{n}.wav").write_bytes(bytes(data))
    for changed in picked[2:4]:
        samples = bytearray(changed.read_bytes())
        for i in range(100, len(samples), 97):
            samples[i] ^= 0x10
        changed.write_bytes(bytes(samples))
    picked[4].unlink()
    for renamed in picked[5:]:
        renamed.rename(renamed.with_name(f"renamed-{round_number}-{renamed.name}"))


def kill_at_random(audiosim, argv, duration, rng):
    """Starts a writer and kills it after a random part of its usual duration. True when the kill
    landed while it ran."""
    proc = audiosim.popen(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, duration))
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    return alive


def check_whole(audiosim, after):
    result = audiosim.run("check", "--format", "jsonl")
    assert result.returncode == EXIT_OK, f"check after {after}:\n{result.stdout.decode()}\n{result.stderr.decode()}"


def fold(store, entries, read):
    """Applies segments in order the way the store does: drops or removals first, then rows."""
    table = {}
    for entry in entries:
        with h5py.File(store / entry["file"], "r") as f:
            read(f, table)
    return table


def store_contents(audiosim):
    """Everything the store holds, keyed by path instead of ids (ids differ between stores)."""
    store = audiosim.store
    manifest = read_manifest(store)

    def catalog_rows(f, table):
        for path in f["removed/path"][()]:
            table.pop(path, None)
        files = f["files"]
        for i, path in enumerate(files["path"][()]):
            table[path] = (int(files["file_id"][i]), int(files["hash"][i]), int(files["status"][i]))

    catalog = fold(store, manifest["catalog"], catalog_rows)
    path_of = {file_id: path for path, (file_id, _, status) in catalog.items() if status == 0}

    def by_file(group, columns):
        def read(f, table):
            for file_id in f["dropped/file_id"][()]:
                table.pop(int(file_id), None)
            rows = f[group]
            ids = rows["file_id"][()]
            values = {name: rows[name][()] for name in columns}
            for file_id in set(ids.tolist()):
                mask = ids == file_id
                table[file_id] = {name: values[name][mask] for name in columns}
        return read

    (profile,) = manifest["chunks"]
    chunks = fold(store, manifest["chunks"][profile]["segments"], by_file("chunks", ("start_frame", "frames", "flags")))
    (key,) = manifest["embeddings"]
    vectors = fold(store, manifest["embeddings"][key]["segments"], by_file("embeddings", ("vector",)))
    with h5py.File(store / manifest["pairs"][key]["file"], "r") as f:
        pairs = {(path_of[int(a)], path_of[int(b)]): float(s)
                 for a, b, s in zip(f["pairs/file_a"][()], f["pairs/file_b"][()], f["pairs/score"][()])}
    return {
        "catalog": {path: (hash_, status) for path, (_, hash_, status) in catalog.items()},
        "chunks": {path_of[i]: {k: v.tolist() for k, v in c.items()} for i, c in chunks.items() if i in path_of},
        "vectors": {path_of[i]: v["vector"] for i, v in vectors.items() if i in path_of},
        "pairs": pairs,
    }


def test_kill_every_writer_at_random_while_the_library_changes(tmp_path, demo):
    rng = random.Random(SEED)
    library = tmp_path / "library"
    shutil.copytree(demo, library)
    audiosim = Audiosim(tmp_path / "store", library)
    for name, argv in WRITERS:
        assert audiosim.run(*argv, timeout=600).returncode == EXIT_OK, name
    # A calibration round, not killed: how long each writer takes for one round's changes.
    change_library(library, rng, -1)
    durations = {}
    for name, argv in WRITERS:
        start = time.monotonic()
        assert audiosim.run(*argv, timeout=600).returncode == EXIT_OK, name
        durations[name] = max(0.05, time.monotonic() - start)
    landed = {name: 0 for name, _ in WRITERS}
    for round_number in range(ROUNDS):
        change_library(library, rng, round_number)
        for name, argv in WRITERS:
            landed[name] += kill_at_random(audiosim, argv, durations[name], rng)
            check_whole(audiosim, f"round {round_number}, {name} killed")
    print(json.dumps({"rounds": ROUNDS, "kills_while_running": landed, "durations": durations}))
    # Some kills must have landed mid-run for every writer (a kill after the end tests nothing).
    assert all(count > 0 for count in landed.values()), landed

    for name, argv in WRITERS:  # the killed store, brought up to date
        assert audiosim.run(*argv, timeout=600).returncode == EXIT_OK, name
    scratch = Audiosim(tmp_path / "scratch", library)
    for name, argv in WRITERS:
        assert scratch.run(*argv, timeout=600).returncode == EXIT_OK, name
    check_whole(audiosim, "the final runs")
    ours, theirs = store_contents(audiosim), store_contents(scratch)
    assert ours["catalog"] == theirs["catalog"]
    assert ours["chunks"] == theirs["chunks"]
    assert ours["vectors"].keys() == theirs["vectors"].keys()
    for path, vectors in ours["vectors"].items():
        np.testing.assert_allclose(vectors, theirs["vectors"][path], atol=1e-5, err_msg=str(path))
    only_ours = {pair: ours["pairs"][pair] for pair in ours["pairs"].keys() - theirs["pairs"].keys()}
    only_theirs = {pair: theirs["pairs"][pair] for pair in theirs["pairs"].keys() - ours["pairs"].keys()}
    assert not only_ours and not only_theirs, (only_ours, only_theirs)
    for pair, score in ours["pairs"].items():
        assert abs(score - theirs["pairs"][pair]) < 1e-5, pair
