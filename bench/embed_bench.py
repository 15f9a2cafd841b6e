#!/usr/bin/env python3
"""Benchmark the whole `audiosim embed` pipeline on CPU, and compare it with a librosa pipeline.

What `audiosim embed` does per file: decode (libsndfile), mix to mono, resample to the model's
22050 Hz, cut the stored chunks (the embed command first chunks files that have no chunks yet,
which is part of the run), batch, run the default TorchScript model (models/default,
audiosim-dsp-v1), normalize, write HDF5.

Generates, once, under --work (default /tmp/audiosim-embed-bench; reused afterwards):

  wav/       30 files x 2 min, 44.1 kHz 16-bit stereo WAV (1.0 h): music-like (chords, bass,
             melody notes, drum-like noise bursts, changing dynamics), every file distinct
  mp3/       the same 30 files as MP3 (sox/LAME, 128 kbit/s CBR)
  oneshots/  2,000 one-shots of 0.2-2 s, 44.1 kHz 16-bit WAV (60 % stereo)
  long1h/    one 1-hour file, 44.1 kHz 16-bit mono WAV         } memory: the same peak
  long10h/   one 10-hour file, 44.1 kHz 16-bit mono WAV (3 GiB) } whatever the file length

For each case: a fresh store, `audiosim ingest` (not timed), then `audiosim embed` timed from the
outside (wall clock around the process: includes process start and loading torch) with the peak
RSS of the process (wait4). The exact numbers of audiosim's own summary (elapsed, model time,
chunks) come from `audiosim status --format json` (last_run.summary). Page cache warmed first.

x realtime = hours of audio in the library / wall clock. (audiosim's own summary line counts
the audio of every chunk: with the default `sample` profile, 2 s windows every 1 s, that is
twice the library's audio; its column is shown separately as "summary x".)

The librosa pipeline (a subprocess with OMP/OpenBLAS/MKL/numba threads = 1): for each WAV file,
librosa.load(sr=22050, mono=True) (default resampler soxr_hq), melspectrogram (64 bands,
n_fft 1024, hop 256, power 2), log, then mean and std per chunk over the same 2 s windows every
1 s as audiosim's `sample` profile (128 numbers per chunk), saved as one .npy. Timed the same way.

Needs librosa: if the Python that runs the script lacks it, the script installs the pinned
version with pip into a virtual environment WORK/librosa-venv (benchlib.librosa_python; say
--no-librosa to skip the comparison).

Exit status: 0 all ran (targets met or not), 1 audiosim failed, 2 usage/setup.
"""

import argparse
import concurrent.futures as cf
import datetime
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchlib import ONE_THREAD_ENV, ensure as ensure_set, librosa_python, machine, run_measured, wait_quiet, warm

DATA_VERSION = 1  # bump when the generated data change
SR = 44100

TARGET_WAV_X = 500.0   # x realtime, -j 1, WAV 44.1 kHz 16-bit stereo, whole pipeline
TARGET_MP3_X = 300.0   # x realtime, -j 1, MP3

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = ROOT / "build" / "bin" / "audiosim"


def log(msg):
    print(f"[embed-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Signal generation
# ---------------------------------------------------------------------------------------------

def wav_header(n_frames, channels, sr=SR, bits=16):
    import struct
    block = channels * bits // 8
    data = n_frames * block
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * block, block, bits)
            + b"data" + struct.pack("<I", data))


def pcm16(x):
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


SCALE = np.array([0, 2, 3, 5, 7, 8, 10])  # natural minor


@functools.lru_cache(maxsize=4096)
def _note(midi, length, harmonics, decay):
    t = np.arange(length, dtype=np.float32) / SR
    f = 440.0 * 2 ** ((midi - 69) / 12)
    y = np.zeros(length, dtype=np.float32)
    for h in range(1, harmonics + 1):
        if f * h < SR / 2:
            y += np.sin(2 * np.pi * f * h * t + 0.7 * h).astype(np.float32) / h
    env = np.minimum(1.0, t / 0.01) * np.exp(-t / max(decay, 0.05))
    y = (y * env).astype(np.float32)
    y.setflags(write=False)
    return y


def music(rng, seconds, channels):
    """Music-like signal: beat grid with drums (noise bursts), bass, chords and a melody,
    dynamics changing every few bars. float32 (n, channels)."""
    n = int(seconds * SR)
    out = np.zeros((n, channels), dtype=np.float32)
    bpm = rng.uniform(80, 160)
    beat = int(SR * 60 / bpm)
    root = rng.integers(36, 48)  # MIDI note of the key's bass
    pan = rng.uniform(0.3, 0.7, size=8)

    def note(midi, length, harmonics, decay):
        return _note(int(midi), int(length), harmonics, round(float(decay), 1))

    def add(start, y, voice, gain):
        end = min(n, start + len(y))
        if end <= start:
            return
        y = y[:end - start] * gain
        if channels == 1:
            out[start:end, 0] += y
        else:
            out[start:end, 0] += y * (1 - pan[voice])
            out[start:end, 1] += y * pan[voice]

    chord_len = beat * 4
    for bar_start in range(0, n, chord_len):
        degree = rng.integers(0, 7)
        base = root + 12 + SCALE[degree]
        dyn = rng.uniform(0.3, 1.0)
        for k in (0, 2, 4):  # triad
            m = root + 12 + SCALE[(degree + k) % 7] + 12 * ((degree + k) // 7)
            add(bar_start, note(m, chord_len, 4, rng.uniform(0.8, 2.5)), 1 + k // 2, 0.12 * dyn)
        for b in range(4):
            s = bar_start + b * beat
            add(s, note(root + SCALE[degree], beat, 3, 0.3), 0, 0.25 * dyn)  # bass
            # drums: kick on 1 and 3 (low decaying tone + click), snare/hat noise bursts
            if b % 2 == 0:
                add(s, note(28, beat // 2, 1, 0.08), 4, 0.5 * dyn)
            burst = rng.standard_normal(beat // 2).astype(np.float32)
            env = np.exp(-np.arange(beat // 2, dtype=np.float32) / (SR * (0.12 if b % 2 else 0.02)))
            add(s + (beat // 2 if b % 2 == 0 else 0), burst * env, 5, (0.25 if b % 2 else 0.08) * dyn)
            for _ in range(rng.integers(0, 3)):  # melody
                off = int(rng.integers(0, 2)) * beat // 2
                m = base + 12 + SCALE[rng.integers(0, 7)]
                add(s + off, note(m, beat // 2, 6, 0.2), 6, 0.15 * dyn)
    out += rng.standard_normal(out.shape).astype(np.float32) * 0.003  # room noise floor
    peak = np.abs(out).max()
    return out * (0.8 / peak) if peak > 0 else out


def one_shot(rng, n, channels):
    t = np.arange(n, dtype=np.float32) / SR
    env = np.exp(-t / rng.uniform(0.05, 0.6)).astype(np.float32) * np.minimum(1.0, t / 0.002)
    f0 = rng.uniform(40, 2000)
    tone = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) / h for h in range(1, 4)).astype(np.float32)
    noise = rng.standard_normal((n, channels)).astype(np.float32) * rng.uniform(0.02, 0.5)
    return (tone[:, None] * 0.5 + noise) * (env[:, None] * rng.uniform(0.2, 0.8))


def write_wav(path, x):
    with open(path, "wb") as f:
        f.write(wav_header(x.shape[0], x.shape[1]))
        f.write(pcm16(x))


def gen_music_file(args):
    path, seed, seconds = args
    write_wav(path, music(np.random.default_rng(seed), seconds, 2))
    return path


def gen_long_file(args):
    """A long mono file written block by block (memory stays small while writing): each 60 s
    block is one of 20 distinct music blocks, rotated by a random offset, under a random gain,
    plus fresh noise, so no chunk is silent and neighbouring blocks differ."""
    path, seed, hours = args
    rng = np.random.default_rng(seed)
    pool = [music(np.random.default_rng(seed * 1000 + k), 60, 1)[:, 0] for k in range(20)]
    n_blocks = int(round(hours * 60))
    with open(path, "wb") as f:
        f.write(wav_header(n_blocks * 60 * SR, 1))
        for _ in range(n_blocks):
            x = np.roll(pool[rng.integers(0, len(pool))], int(rng.integers(0, 60 * SR))) * rng.uniform(0.3, 1.0)
            x += rng.standard_normal(x.shape[0]).astype(np.float32) * 0.003
            f.write(pcm16(x[:, None]))
    return path


def to_mp3(args):
    src, dst = args
    subprocess.run(["sox", "-q", str(src), "-C", "128.2", str(dst)], check=True)
    return dst


def make_wav(root):
    jobs = [(root / f"track_{i:02d}.wav", 1000 + i, 120.0) for i in range(30)]
    with cf.ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        list(ex.map(gen_music_file, jobs))
    return [{"path": p.name, "seconds": s} for p, _, s in jobs]


def make_mp3(root, wav_root, wav_files):
    jobs = [(wav_root / f["path"], root / (Path(f["path"]).stem + ".mp3")) for f in wav_files]
    with cf.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        list(ex.map(to_mp3, jobs))
    return [{"path": d.name, "seconds": 120.0} for _, d in jobs]


def make_oneshots(root):
    rng = np.random.default_rng(7)
    files = []
    for i in range(2000):
        folder = root / f"kit_{i // 100:02d}"
        folder.mkdir(exist_ok=True)
        n = int(rng.uniform(0.2, 2.0) * SR)
        ch = 2 if rng.random() < 0.6 else 1
        p = folder / f"hit_{i:04d}.wav"
        write_wav(p, one_shot(rng, n, ch))
        files.append({"path": str(p.relative_to(root)), "seconds": n / SR})
    return files


def make_long(root, hours, seed):
    p = root / f"session_{hours:g}h.wav"
    gen_long_file((p, seed, hours))
    return [{"path": p.name, "seconds": hours * 3600.0}]


# ---------------------------------------------------------------------------------------------
# Running things
# ---------------------------------------------------------------------------------------------

def wait_for_binary(binary, timeout=300):
    t0 = time.monotonic()
    while not (binary.is_file() and os.access(binary, os.X_OK)):
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"{binary} is missing (build it: scripts/setup.sh)")
        log(f"{binary} not there (being rebuilt?); waiting")
        time.sleep(10)


class Failed(Exception):
    pass


def audiosim_env():
    return {k: v for k, v in os.environ.items() if k != "AUDIOSIM_STORE"}


def run_case(args, name, lib, audio_seconds, threads, extra=(), perf=False):
    binary = args.bin
    store = args.work / "stores" / name
    if store.exists():
        shutil.rmtree(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    wait_for_binary(binary)
    r = subprocess.run([str(binary), "--store", str(store), "-q", "ingest", "--root", str(lib), str(lib)],
                       capture_output=True, text=True, env=audiosim_env())
    if r.returncode != 0:
        raise Failed(f"ingest of {lib} exited {r.returncode}: {r.stderr.strip()}")
    warm(lib)
    busy = wait_quiet(args.max_busy, log)
    cmd = [str(binary), "--store", str(store)]
    if threads:
        cmd += ["-j", str(threads)]
    cmd += ["embed", "--device", "cpu", *extra]
    full = cmd
    if perf:
        full = ["perf", "record", "-F", "999", "-g", "-q", "-o", str(args.work / "perf.data"), "--", *cmd]
    rc, err, wall, peak_kb, user, sys_ = run_measured(full, env=audiosim_env())
    if rc != 0:
        raise Failed(f"{' '.join(full)} exited {rc}:\n{err.strip()}")
    line = [l for l in err.splitlines() if l.startswith("audiosim embed:")]
    st = subprocess.run([str(binary), "--store", str(store), "status", "--format", "json"],
                        capture_output=True, text=True, env=audiosim_env())
    summary = json.loads(st.stdout)["last_run"]["summary"]
    if summary.get("files_failed"):
        raise Failed(f"{name}: {summary['files_failed']} files failed:\n{err.strip()}")
    peak_line = re.search(r"peak memory ([\d.]+) MiB", line[-1]) if line else None
    res = {
        "case": name, "threads": threads or os.cpu_count(), "command": " ".join(cmd),
        "library_audio_s": audio_seconds, "wall_s": wall, "user_s": user, "sys_s": sys_,
        "cpu_busy_before": round(busy, 3), "peak_rss_mib": peak_kb / 1024.0,
        "summary_peak_mib": float(peak_line.group(1)) if peak_line else None,
        "x_realtime": audio_seconds / wall,
        "x_per_cpu_s": audio_seconds / max(1e-9, user + sys_),
        "summary": summary, "summary_line": line[-1] if line else "",
        "chunks_per_s": summary["chunks_embedded"] / wall,
        "model_share": summary["model_seconds"] / wall,
        "summary_x": summary["audio_seconds"] / summary["elapsed_seconds"],
    }
    shutil.rmtree(store, ignore_errors=True)
    return res


# ---------------------------------------------------------------------------------------------
# The librosa pipeline
# ---------------------------------------------------------------------------------------------

LIBROSA_WORKER = r'''
import sys, time, json, resource
t_start = time.monotonic()
import numpy as np, librosa
t_import = time.monotonic() - t_start
paths, out = json.loads(sys.argv[1]), sys.argv[2]
t0 = time.monotonic()
feats, n_chunks = [], 0
for path in paths:
    y, sr = librosa.load(path, sr=22050, mono=True)          # res_type default: soxr_hq
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=1024, hop_length=256, n_mels=64)
    L = np.log(S + 1e-10)
    fpc, hop = int(round(2.0 * sr / 256)), int(round(1.0 * sr / 256))  # 2 s windows every 1 s
    starts = range(0, max(1, L.shape[1] - fpc + hop), hop)
    for s in starts:
        w = L[:, s:s + fpc]
        feats.append(np.concatenate([w.mean(axis=1), w.std(axis=1)]))
np.save(out, np.asarray(feats, dtype=np.float32))
t_loop = time.monotonic() - t0
print(json.dumps({"chunks": len(feats), "import_s": t_import, "loop_s": t_loop,
                  "librosa": librosa.__version__,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2])}))
'''


def run_librosa(args, python, lib, files, audio_seconds):
    env = {**os.environ, **ONE_THREAD_ENV}
    paths = [str(lib / f["path"]) for f in files]
    out = args.work / "librosa_features.npy"
    warm(lib)
    busy = wait_quiet(args.max_busy, log)
    cmd = [python, "-c", LIBROSA_WORKER, json.dumps(paths), str(out)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, env=env, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise Failed(f"librosa pipeline failed:\n{p.stderr.strip()}")
    info = json.loads(p.stdout.strip().splitlines()[-1])
    return {"case": "librosa WAV (1 thread)", "threads": 1, "library_audio_s": audio_seconds,
            "wall_s": wall, "x_realtime": audio_seconds / wall, "chunks": info["chunks"],
            "x_per_cpu_s": audio_seconds / max(1e-9, info["cpu_s"]),
            "chunks_per_s": info["chunks"] / wall, "import_s": info["import_s"],
            "loop_s": info["loop_s"], "x_realtime_loop": audio_seconds / info["loop_s"],
            "cpu_busy_before": round(busy, 3), "librosa": info["librosa"],
            "peak_rss_mib": info["peak_rss_kb"] / 1024.0}


# ---------------------------------------------------------------------------------------------
# perf
# ---------------------------------------------------------------------------------------------

def perf_summary(args, top=25):
    data = args.work / "perf.data"
    if not data.exists():
        return None
    out = {}
    for key, sort in (("by_dso", "dso"), ("by_symbol", "dso,sym")):
        r = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", sort, "--stdio",
                            "-g", "none", "--percent-limit", "0.5"], capture_output=True, text=True)
        rows = []
        for l in r.stdout.splitlines():
            m = re.match(r"\s+([\d.]+)%\s+(.*)$", l)
            if m:
                rows.append((float(m.group(1)), re.sub(r"\s+", " ", m.group(2)).strip()))
        out[key] = rows[:top]
    return out


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/audiosim-embed-bench"))
    ap.add_argument("--bin", type=Path, default=DEFAULT_BIN)
    ap.add_argument("--max-busy", type=float, default=0.3, help="wait before each run until CPUs are at most this busy")
    ap.add_argument("--no-librosa", action="store_true", help="skip the librosa comparison")
    ap.add_argument("--no-10h", action="store_true", help="skip the 10-hour file (memory check; ~2-3 min)")
    ap.add_argument("--perf", action="store_true", help="also profile the WAV -j 1 case with perf record -g")
    ap.add_argument("--json", type=Path, help="result JSON (default WORK/embed_result.json)")
    args = ap.parse_args()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    if not shutil.which("sox"):
        sys.exit("sox is needed to make the MP3s (scripts/setup.sh installs it)")
    if args.perf and not shutil.which("perf"):
        sys.exit("--perf: perf is not installed")
    python = None if args.no_librosa else librosa_python(args.work, log)

    w = args.work
    wav = ensure_set(w, "wav", make_wav, DATA_VERSION, log)
    mp3 = ensure_set(w, "mp3", lambda r: make_mp3(r, w / "wav", wav["files"]), DATA_VERSION, log)
    shots = ensure_set(w, "oneshots", make_oneshots, DATA_VERSION, log)
    long1 = ensure_set(w, "long1h", lambda r: make_long(r, 1, 11), DATA_VERSION, log)
    long10 = None if args.no_10h else ensure_set(w, "long10h", lambda r: make_long(r, 10, 12), DATA_VERSION, log)

    ver = subprocess.run([str(args.bin), "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    results = []

    def case(name, key, m, threads, extra=(), perf=False):
        log(f"running {name} (-j {threads or 'default'}) ...")
        r = run_case(args, f"{key}-j{threads or 'default'}" + "".join(extra).replace("-", "_"),
                     w / key, m["audio_seconds"], threads, extra, perf)
        r["case"] = name
        results.append(r)
        log(f"  {r['wall_s']:.2f} s, {r['x_realtime']:.0f}x realtime, peak {r['peak_rss_mib']:.0f} MiB | {r['summary_line']}")
        return r

    try:
        wav1 = case("WAV 44.1k stereo", "wav", wav, 1)
        case("WAV 44.1k stereo", "wav", wav, 0)
        mp31 = case("MP3 128k stereo", "mp3", mp3, 1)
        case("MP3 128k stereo", "mp3", mp3, 0)
        case("one-shots WAV", "oneshots", shots, 1)
        case("one-shots WAV", "oneshots", shots, 0)
        mem = [wav1]
        mem.append(case("1 h, one file (mono)", "long1h", long1, 1))
        if long10:
            mem.append(case("10 h, one file (mono)", "long10h", long10, 1))
        bs = [case("WAV, --batch-size 4", "wav", wav, 1, ("--batch-size", "4")),
              wav1,
              case("WAV, --batch-size 256", "wav", wav, 1, ("--batch-size", "256"))]
        mp3_b4 = case("MP3, --batch-size 4", "mp3", mp3, 1, ("--batch-size", "4"))
        if args.perf:
            log("profiling WAV -j 1 with perf record -g ...")
            pr = run_case(args, "wav-perf", w / "wav", wav["audio_seconds"], 1, (), perf=True)
            prof = perf_summary(args)
        else:
            pr = prof = None
    except Failed as e:
        log(f"audiosim failed: {e}")
        return 1

    lib_res = None
    if python:
        log("running the librosa pipeline on the WAV files (1 thread) ...")
        lib_res = run_librosa(args, python, w / "wav", wav["files"], wav["audio_seconds"])
        log(f"  {lib_res['wall_s']:.2f} s, {lib_res['x_realtime']:.0f}x realtime")

    # ------------------------------------------------------------------------------- report
    print()
    print(f"audiosim: {ver[0] if ver else '?'}; machine: {machine()}")
    print("x realtime = library audio / wall clock of the embed process (incl. start, torch load, chunking); "
          "x per CPU-s = library audio / (user + sys) CPU time of the process (robust to other load on the machine)")
    print()
    hdr = ["case", "-j", "audio h", "wall s", "x realtime", "x per CPU-s", "chunks/s", "model share", "peak RSS MiB",
           "summary x", "CPU busy before"]
    rows = []
    for r in results:
        rows.append([r["case"], str(r["threads"]), f"{r['library_audio_s'] / 3600:.2f}", f"{r['wall_s']:.2f}",
                     f"{r['x_realtime']:.0f}", f"{r['x_per_cpu_s']:.0f}", f"{r['chunks_per_s']:.0f}",
                     f"{r['model_share'] * 100:.0f} %", f"{r['peak_rss_mib']:.0f}", f"{r['summary_x']:.0f}",
                     f"{r['cpu_busy_before'] * 100:.0f} %"])
    if lib_res:
        rows.append([lib_res["case"], "1", f"{lib_res['library_audio_s'] / 3600:.2f}", f"{lib_res['wall_s']:.2f}",
                     f"{lib_res['x_realtime']:.0f}", f"{lib_res['x_per_cpu_s']:.0f}", f"{lib_res['chunks_per_s']:.0f}",
                     "-", f"{lib_res['peak_rss_mib']:.0f}", "-", f"{lib_res['cpu_busy_before'] * 100:.0f} %"])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    print(" | ".join(h.ljust(widths[i]) for i, h in enumerate(hdr)))
    print("-+-".join("-" * x for x in widths))
    for r in rows:
        print(" | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))

    print("\npeak RSS vs batch size (WAV, -j 1): " + ", ".join(
        f"{r['command'].split('--batch-size ')[-1] if '--batch-size' in r['command'] else 'default (8 on the CPU)'}: "
        f"{r['peak_rss_mib']:.0f} MiB ({r['x_realtime']:.0f}x)" for r in bs))
    print("peak RSS vs library shape (-j 1): " + ", ".join(f"{r['case']}: {r['peak_rss_mib']:.0f} MiB" for r in mem)
          + f", 2,000 one-shots: {results[4]['peak_rss_mib']:.0f} MiB")

    s = wav1["summary"]
    other = wav1["wall_s"] - s["elapsed_seconds"]
    print(f"\nwhere the time goes (WAV, -j 1): wall {wav1['wall_s']:.2f} s = process start + torch load + store open "
          f"{other:.2f} s + embed run {s['elapsed_seconds']:.2f} s, of which model (forward) {s['model_seconds']:.2f} s "
          f"({s['model_seconds'] / wav1['wall_s'] * 100:.0f} % of wall) and decode/mix/resample/chunk/write "
          f"{s['elapsed_seconds'] - s['model_seconds']:.2f} s")
    if prof:
        print("perf (WAV -j 1, self time by DSO):")
        for pct, name in prof["by_dso"][:12]:
            print(f"  {pct:5.1f} %  {name}")
        print("perf (top symbols):")
        for pct, name in prof["by_symbol"][:25]:
            print(f"  {pct:5.1f} %  {name}")

    verdict = []
    def judge(label, value, target):
        ok = value >= target
        verdict.append({"target": label, "measured": value, "goal": target, "pass": ok})
        print(f"{'PASS' if ok else 'MISS'}  {label}: {value:.0f}x realtime (target >= {target:.0f}x)")
    print()
    judge("WAV 44.1 kHz 16-bit stereo, -j 1, whole pipeline (wall)", wav1["x_realtime"], TARGET_WAV_X)
    judge("WAV, -j 1, per CPU-second (user+sys)", wav1["x_per_cpu_s"], TARGET_WAV_X)
    judge("MP3, -j 1, whole pipeline (wall)", mp31["x_realtime"], TARGET_MP3_X)
    judge("MP3, -j 1, per CPU-second (user+sys)", mp31["x_per_cpu_s"], TARGET_MP3_X)
    # Bounded: no case above the 1-hour library of 30 files by more than 10 % (the 10-hour file,
    # the 1-hour file, 2,000 one-shots); short files may need less (shorter rows in a batch).
    ref_peak = wav1["peak_rss_mib"]
    peaks = {r["case"]: r["peak_rss_mib"] for r in mem}
    peaks["2,000 one-shots"] = results[4]["peak_rss_mib"]
    ok = max(peaks.values()) <= 1.1 * ref_peak
    verdict.append({"target": "peak RSS independent of library size/file length", "pass": ok, "peaks_mib": peaks})
    print(f"{'PASS' if ok else 'MISS'}  peak RSS bounded (-j 1): " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items())
          + f" MiB (pass if none is more than 10 % above the 30-file hour, {ref_peak:.0f} MiB)")
    if lib_res:
        ratio = wav1["x_realtime"] / lib_res["x_realtime"]
        print(f"      audiosim WAV -j 1 vs librosa pipeline (1 thread, same files): {ratio:.1f}x faster "
              f"(librosa {lib_res['x_realtime']:.0f}x realtime wall, {lib_res['x_realtime_loop']:.0f}x without "
              f"its {lib_res['import_s']:.1f} s import)")

    out = args.json or (w / "embed_result.json")
    out.write_text(json.dumps({"date": datetime.date.today().isoformat(), "audiosim": ver, "machine": machine(),
                               "results": results, "librosa": lib_res, "verdict": verdict,
                               "perf": prof, "perf_run": pr}, indent=1))
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
