#!/usr/bin/env python3
"""The whole audiosim job against the pipeline a user writes with librosa, on the same files.

audiosim (default model, all cores, a fresh store), the whole job as issue 10 defines it:
    audiosim ingest --root LIB LIB; audiosim embed --device cpu; audiosim pairs -k 10
(embed chunks the files first, in the same run; --separate-chunk runs `audiosim chunk` as a stage
of its own before embed, as the runs before 2026-12-07 18:55 UTC did)
librosa (librosa.load(path, sr=22050, mono=True, duration=10), MFCC 20 + delta, mean and std per
file: 80 numbers; 2 processes with multiprocessing, BLAS threads 1), then numpy: cosine similarity
of every file to every file and its top 10 neighbours.

`pairs` keeps every neighbour pair (--min-score -1). The librosa job runs once untimed on 32 files
first: numba compiles librosa's kernels on first use and caches them.

Both are timed from outside: wall clock around the processes, CPU = user + sys of them and of
every process they waited for (getrusage(RUSAGE_CHILDREN) of this script before and after).

Data sets, made once under --work (default /tmp/audiosim-librosa-compare; reused afterwards) from
the real recordings in the devset (read there, never copied into the repository):

  oneshots/  2,500 WAV one-shots averaging 0.5 s (log-normal lengths, 0.05-2 s) at 44.1 kHz
             (50 %), 48 kHz (30 %) and 96 kHz (20 %), 16-bit (24-bit at 96 kHz), mono or stereo
             (half each): a devset drum hit or instrument note, cut near its start, its speed
             varied by up to 6 % and re-rendered at the file's rate, gain -12..0 dB, a 5 ms fade
  notes/     1,500 MP3 notes averaging 2 s (1-3 s, uniform) at 44.1 kHz from the devset's
             instruments, varied the same way (up to 3 %), 50 ms fade, encoded by libsndfile (LAME)

Exit status: 0 all ran (targets met or not), 1 a run failed, 2 usage/setup.
"""

import argparse
import concurrent.futures as cf
import datetime
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from benchlib import ONE_THREAD_ENV, ensure, librosa_python, machine, wait_quiet, warm

DATA_VERSION = 1  # bump when the generated data change
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = ROOT / "build" / "bin" / "audiosim"
DEFAULT_DEVSET = ROOT.parent / "shared" / "devset"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
TARGETS = {"oneshots": 3.0, "notes": 1.5}  # audiosim at least this many times faster, wall and CPU


def log(msg):
    print(f"[librosa-compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def sources(devset, folders):
    out = []
    for folder in folders:
        out += sorted(str(p) for p in (devset / folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    return out


@functools.lru_cache(maxsize=64)
def read_source(path):
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    return x, rate


def render(rng, source, seconds, rate, channels, max_speed, fade_s):
    """`seconds` of `source` from near its start (less if it is shorter), its speed varied by up to
    max_speed, rendered at `rate` with `channels` (linear interpolation: the data need to be
    distinct and realistic, not hi-fi), gain -12..0 dB re its peak, faded out."""
    x, src_rate = read_source(source)
    skip = min(int(rng.uniform(0, 0.02) * src_rate), len(x) // 4)  # every cut starts a little differently
    x = np.concatenate([x[skip:], np.zeros((2, x.shape[1]), np.float32)])  # at least 2 frames to interpolate
    step = src_rate / rate * (1 + rng.uniform(-max_speed, max_speed))
    n = max(1, min(int(seconds * rate), int((len(x) - 1) / step)))
    pos = np.arange(n) * step
    y = np.stack([np.interp(pos, np.arange(len(x)), x[:, c]) for c in range(x.shape[1])], axis=1)
    if channels == 1:
        y = y.mean(axis=1, keepdims=True)
    elif y.shape[1] == 1:
        pan = rng.uniform(0.3, 0.7)
        y = np.concatenate([y * (1 - pan), y * pan], axis=1) * 2
    fade = min(n, max(1, int(fade_s * rate)))
    y[n - fade:] *= np.linspace(1, 0, fade)[:, None]
    peak = np.abs(y).max()
    gain = 10 ** (rng.uniform(-12, 0) / 20) / peak if peak > 0 else 1.0
    return (y * gain * 0.99).astype(np.float32)


def oneshot_seconds(rng):
    return float(np.clip(rng.lognormal(np.log(0.42), 0.6), 0.05, 2.0))  # mean ~0.5 s


def note_seconds(rng):
    return float(rng.uniform(1.0, 3.0))


def make_oneshot(job):
    path, seed, source, seconds = job
    rng = np.random.default_rng(seed)
    rate = int(rng.choice([44100, 48000, 96000], p=[0.5, 0.3, 0.2]))
    y = render(rng, source, seconds, rate, int(rng.integers(1, 3)), 0.06, 0.005)
    sf.write(path, y, rate, subtype="PCM_24" if rate == 96000 else "PCM_16")
    return {"path": str(Path(path).relative_to(Path(path).parent.parent)), "seconds": len(y) / rate}


def make_note(job):
    path, seed, source, seconds = job
    rng = np.random.default_rng(seed)
    channels = read_source(source)[0].shape[1]
    y = render(rng, source, seconds, 44100, channels, 0.03, 0.05)
    sf.write(path, y, 44100, format="MP3")
    return {"path": str(Path(path).relative_to(Path(path).parent.parent)), "seconds": sf.info(path).duration}


def make_set(root, count, pool, seed, lengths, maker, suffix):
    """count files made by maker((path, seed, source, seconds)) with lengths(rng) seconds, each cut
    from a random source of pool that is long enough (the longest if none is)."""
    rng = np.random.default_rng(seed)
    durations = np.array([sf.info(p).duration for p in pool])
    jobs = []
    for i in range(count):
        folder = root / f"pack_{i // 100:02d}"
        folder.mkdir(exist_ok=True)
        seconds = lengths(rng)
        long_enough = np.flatnonzero(durations >= seconds * 1.1)  # 1.1: room for the speed change
        source = pool[int(rng.choice(long_enough)) if len(long_enough) else int(durations.argmax())]
        jobs.append((str(folder / f"s{i:04d}{suffix}"), seed * 100000 + i, source, seconds))
    # Sorted by source so that each worker's cache of decoded sources is hit.
    jobs.sort(key=lambda j: j[2])
    with cf.ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        return list(ex.map(maker, jobs, chunksize=32))


# ---------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------

def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Failed(Exception):
    pass


def timed(cmd, env=None, stdout=subprocess.DEVNULL):
    """(wall s, CPU s) of cmd and everything it waited for."""
    cpu0, t0 = children_cpu(), time.monotonic()
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env, text=True)
    wall, cpu = time.monotonic() - t0, children_cpu() - cpu0
    if p.returncode != 0:
        raise Failed(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{p.stderr.strip()}")
    return wall, cpu


def stage_names(args):
    """The audiosim commands timed, in order."""
    return ["ingest"] + (["chunk"] if args.separate_chunk else []) + ["embed", "pairs"]


def run_audiosim(args, name, lib, n_files):
    store = args.work / "stores" / name
    shutil.rmtree(store, ignore_errors=True)
    store.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "AUDIOSIM_STORE"}
    base = [str(args.bin), "--store", str(store), "-q"]
    pairs_out = args.work / f"{name}.audiosim-pairs.tsv"
    stages = [("ingest", ["ingest", "--root", str(lib), str(lib)])]
    if args.separate_chunk:
        stages.append(("chunk", ["chunk"]))
    stages += [("embed", ["embed", "--device", "cpu"]), ("pairs", ["pairs", "-k", "10", "--min-score", "-1"])]
    warm(lib)
    busy, load = wait_quiet(args.max_busy, log), os.getloadavg()
    result = {"stages": {}, "cpu_busy_before": round(busy, 3), "loadavg_before": load}
    for stage, cmd in stages:
        with open(pairs_out, "w") if stage == "pairs" else open(os.devnull, "w") as out:
            wall, cpu = timed(base + cmd, env, out)
        result["stages"][stage] = {"wall_s": wall, "cpu_s": cpu}
    result["wall_s"] = sum(s["wall_s"] for s in result["stages"].values())
    result["cpu_s"] = sum(s["cpu_s"] for s in result["stages"].values())
    result["loadavg_after"] = os.getloadavg()
    status = json.loads(subprocess.run(base + ["status", "--format", "json"], capture_output=True, text=True,
                                       env=env).stdout)
    result["status"] = status
    embedded = [s.get("files") for s in status["stages"]["embed"].values() if not s.get("files_failed")]
    paired = status["last_run"]["summary"]
    if embedded != [n_files] or paired.get("files") != n_files or paired.get("files_without_vector"):
        raise Failed(f"{name}: not every one of the {n_files} files was embedded and paired: {json.dumps(status)}")
    if not args.keep_stores:
        shutil.rmtree(store, ignore_errors=True)
    return result


LIBROSA_JOB = r'''
import json, multiprocessing, sys, time
import numpy as np, librosa

def features(path):
    y, sr = librosa.load(path, sr=22050, mono=True, duration=10)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    delta = librosa.feature.delta(mfcc, mode="nearest")  # "nearest": files shorter than 9 frames too
    f = np.concatenate([mfcc, delta])
    return np.concatenate([f.mean(axis=1), f.std(axis=1)])

if __name__ == "__main__":
    paths, out = json.load(open(sys.argv[1])), sys.argv[2]
    pool = multiprocessing.Pool(2)
    X = np.asarray(pool.map(features, paths, chunksize=16), dtype=np.float32)
    pool.close()
    pool.join()
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    top = np.argpartition(-S, 10, axis=1)[:, :10]
    order = np.take_along_axis(S, top, axis=1).argsort(axis=1)[:, ::-1]
    np.save(out, np.take_along_axis(top, order, axis=1))
    print(json.dumps({"files": len(paths), "dim": X.shape[1], "librosa": librosa.__version__}))
'''


def run_librosa(args, python, name, lib, files):
    env = {**os.environ, **ONE_THREAD_ENV}
    paths = args.work / f"{name}.paths.json"
    out = args.work / f"{name}.librosa-top10.npy"
    # Once untimed on a few files: numba compiles librosa's kernels on first use and caches them
    # (minutes on this machine), a cost a user pays once, not per run.
    paths.write_text(json.dumps([str(lib / f["path"]) for f in files[:32]]))
    timed([python, "-c", LIBROSA_JOB, str(paths), str(out)], env)
    paths.write_text(json.dumps([str(lib / f["path"]) for f in files]))
    warm(lib)
    busy, load = wait_quiet(args.max_busy, log), os.getloadavg()
    wall, cpu = timed([python, "-c", LIBROSA_JOB, str(paths), str(out)], env)
    top = np.load(out)
    if top.shape != (len(files), 10):
        raise Failed(f"librosa pipeline wrote top-10 of shape {top.shape} for {len(files)} files")
    return {"wall_s": wall, "cpu_s": cpu, "cpu_busy_before": round(busy, 3), "loadavg_before": load,
            "loadavg_after": os.getloadavg()}


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/audiosim-librosa-compare"))
    ap.add_argument("--bin", type=Path, default=DEFAULT_BIN)
    ap.add_argument("--devset", type=Path, default=DEFAULT_DEVSET, help="the real recordings the data are cut from")
    ap.add_argument("--sets", default="oneshots,notes", help="comma-separated: oneshots, notes")
    ap.add_argument("--max-busy", type=float, default=0.3, help="wait before each run until CPUs are at most this busy")
    ap.add_argument("--no-librosa", action="store_true", help="run audiosim only (no ratios)")
    ap.add_argument("--keep-stores", action="store_true", help="keep WORK/stores/SET (to profile a stage again)")
    ap.add_argument("--separate-chunk", action="store_true", help="run `audiosim chunk` as its own stage before embed")
    ap.add_argument("--json", type=Path, help="result JSON (default WORK/librosa_compare.json)")
    args = ap.parse_args()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    sets = [s for s in args.sets.split(",") if s]
    if any(s not in TARGETS for s in sets):
        ap.error(f"--sets: one of {', '.join(TARGETS)}")
    if not args.devset.is_dir():
        log(f"{args.devset} not found (--devset): the data are cut from its recordings")
        return 2
    if not args.bin.is_file():
        log(f"{args.bin} not found (build it: scripts/setup.sh)")
        return 2
    python = None if args.no_librosa else librosa_python(args.work, log)
    if not args.no_librosa and not python:
        return 2

    makers = {
        "oneshots": lambda r: make_set(r, 2500, sources(args.devset, ["drum-machines", "sonicpi", "instruments"]),
                                       1, oneshot_seconds, make_oneshot, ".wav"),
        "notes": lambda r: make_set(r, 1500, sources(args.devset, ["instruments"]), 2, note_seconds,
                                    make_note, ".mp3"),
    }
    version = subprocess.run([str(args.bin), "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    report = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "audiosim": version,
              "machine": machine(), "sets": {}}
    try:
        for name in sets:
            m = ensure(args.work, name, makers[name], DATA_VERSION, log)
            lib, files = args.work / name, m["files"]
            entry = {"files": len(files), "audio_s": m["audio_seconds"],
                     "mean_s": m["audio_seconds"] / len(files)}
            log(f"{name}: audiosim {' + '.join(stage_names(args))} ({len(files)} files) ...")
            entry["audiosim"] = run_audiosim(args, name, lib, len(files))
            a = entry["audiosim"]
            log(f"  {a['wall_s']:.2f} s wall, {a['cpu_s']:.2f} s CPU: " + ", ".join(
                f"{k} {v['wall_s']:.2f}/{v['cpu_s']:.2f}" for k, v in a["stages"].items()))
            if python:
                log(f"{name}: librosa pipeline (2 processes) ...")
                entry["librosa"] = run_librosa(args, python, name, lib, files)
                b = entry["librosa"]
                log(f"  {b['wall_s']:.2f} s wall, {b['cpu_s']:.2f} s CPU")
                entry["wall_ratio"] = b["wall_s"] / a["wall_s"]
                entry["cpu_ratio"] = b["cpu_s"] / a["cpu_s"]
                entry["target"] = TARGETS[name]
                entry["met"] = entry["wall_ratio"] >= TARGETS[name] and entry["cpu_ratio"] >= TARGETS[name]
            report["sets"][name] = entry
    except Failed as e:
        log(f"failed: {e}")
        return 1

    print(f"audiosim: {version[0] if version else '?'}; machine: {report['machine']}")
    print(f"set | files | mean s | audiosim wall / CPU s ({', '.join(stage_names(args))}) | librosa wall / CPU s "
          "| faster: wall, CPU | target")
    for name, e in report["sets"].items():
        a = e["audiosim"]
        stages = ", ".join(f"{v['wall_s']:.2f}/{v['cpu_s']:.2f}" for v in a["stages"].values())
        line = f"{name} | {e['files']} | {e['mean_s']:.2f} | {a['wall_s']:.2f} / {a['cpu_s']:.2f} ({stages})"
        if "librosa" in e:
            b = e["librosa"]
            line += (f" | {b['wall_s']:.2f} / {b['cpu_s']:.2f} | {e['wall_ratio']:.2f}x, {e['cpu_ratio']:.2f}x"
                     f" | >= {e['target']}x: {'met' if e['met'] else 'NOT met'}")
        print(line + f" | load average before {a['loadavg_before'][0]:.2f}")
    out = args.json or args.work / "librosa_compare.json"
    out.write_text(json.dumps(report, indent=1))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
