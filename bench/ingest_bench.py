#!/usr/bin/env python3
"""Benchmark `audiosim ingest` on a large library of short files and on hour-long files.

Generates two test libraries once (cached under --work, reused when present):

  short/  10,000 one-shots of 0.2-2 s in 100 nested folders of 100 files:
          ~85 % WAV (mostly 44.1 kHz 16-bit, some 48 kHz / 24-bit), ~6 % FLAC,
          ~5 % MP3, ~4 % OGG Vorbis; mono and stereo.
  long/   20 files of one hour each: 5 WAV stereo, 5 WAV mono (44.1 kHz 16-bit),
          5 FLAC stereo, 5 MP3 stereo 128 kbit/s (6.3 GiB in all; 7.7 GiB with short/).

Then, for each library and for the default thread count and `-j 1`, it times a
first ingest into a fresh store and a re-run over the unchanged library, with
/usr/bin/time -v for peak RSS (wall time measured around it). Before each library's runs every
file is read once (warm-up), so the runs measure page-cache, not disk, speed;
the page-cache residency (fincore) is recorded before every run.

Prints a table and PASS/MISS against the targets, and writes a JSON result.
Exit status: 0 all ran (targets met or not), 1 audiosim failed, 2 usage/setup.
"""

import argparse
import concurrent.futures as cf
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchlib import cpu_busy, ensure

DATA_VERSION = {"short": 1, "long": 3}  # bump when generated data changes, to force regeneration
SR = 44100

TARGET_FIRST_FPS = 1000.0    # first ingest, short files, files/s
TARGET_RERUN_FPS = 20000.0   # re-run over an unchanged library, files/s
TARGET_PEAK_MIB = 300.0      # peak RSS, any case

DEFAULT_BIN = Path(__file__).resolve().parent.parent / "build" / "bin" / "audiosim"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# WAV writing
# ---------------------------------------------------------------------------------------------

def wav_header(n_frames, channels, sr, bits):
    block = channels * bits // 8
    data_bytes = n_frames * block
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sr, sr * block, block, bits)
            + b"data" + struct.pack("<I", data_bytes))


def pcm_bytes(x, bits):
    """x: float32 array (frames, channels) in [-1, 1] -> interleaved little-endian PCM bytes."""
    x = np.clip(x, -1.0, 1.0)
    if bits == 16:
        return (x * 32767.0).astype("<i2").tobytes()
    if bits == 24:
        i = (x * 8388607.0).astype("<i4")
        return i.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    raise ValueError(bits)


def sox_from_raw(raw, channels, out, extra=()):
    """Encode 16-bit raw PCM bytes (stdin) to `out`, format from its extension."""
    cmd = ["sox", "-q", "-t", "raw", "-r", str(SR), "-e", "signed", "-b", "16", "-c", str(channels),
           "-", *extra, str(out)]
    subprocess.run(cmd, input=raw, check=True)


# ---------------------------------------------------------------------------------------------
# Short-file library
# ---------------------------------------------------------------------------------------------

CATEGORIES = ["kicks", "snares", "hats", "perc", "fx", "vox", "bass", "synth", "foley", "loops"]


def one_shot(rng, n, channels):
    t = np.arange(n, dtype=np.float32) / SR
    tau = rng.uniform(0.05, 0.6)
    env = np.exp(-t / tau, dtype=np.float32)
    f0 = rng.uniform(40, 2000)
    tone = np.sin(2 * np.pi * f0 * t + rng.uniform(0, 6.28), dtype=np.float32)
    noise = rng.standard_normal((n, channels), dtype=np.float32) * rng.uniform(0.02, 0.4)
    x = (tone[:, None] + noise) * (env[:, None] * rng.uniform(0.2, 0.8))
    return x


def generate_short(root, n_files, seed):
    rng = np.random.default_rng(seed)
    per_dir = 100
    n_dirs = (n_files + per_dir - 1) // per_dir
    entries = []
    jobs = []
    pool = cf.ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    for i in range(n_files):
        d = i // per_dir
        folder = root / f"pack_{d // 10:02d}" / f"{CATEGORIES[d % 10]}_{d:03d}"
        if i % per_dir == 0:
            folder.mkdir(parents=True, exist_ok=True)
        dur = float(rng.uniform(0.2, 2.0))
        channels = 2 if rng.random() < 0.6 else 1
        r = rng.random()
        fmt = "wav" if r < 0.85 else "flac" if r < 0.91 else "mp3" if r < 0.96 else "ogg"
        sr, bits = SR, 16
        if fmt == "wav":
            q = rng.random()
            if q < 0.06:
                sr, bits = 48000, 24
            elif q < 0.10:
                bits = 24
        n = int(dur * sr)
        x = one_shot(rng, n, channels)
        path = folder / f"{CATEGORIES[d % 10]}_{i % per_dir:03d}.{fmt}"
        if fmt == "wav":
            with open(path, "wb") as f:
                f.write(wav_header(n, channels, sr, bits))
                f.write(pcm_bytes(x, bits))
        else:
            jobs.append(pool.submit(sox_from_raw, pcm_bytes(x, 16), channels, path))
        entries.append({"path": str(path.relative_to(root)), "format": fmt, "channels": channels,
                        "rate": sr, "bits": bits, "seconds": n / sr})
    for j in jobs:
        j.result()
    pool.shutdown()
    return entries, n_dirs


# ---------------------------------------------------------------------------------------------
# Hour-long library
# ---------------------------------------------------------------------------------------------

LONG_SPECS = ([("wav", 2)] * 5 + [("wav", 1)] * 5 + [("flac", 2)] * 5 + [("mp3", 2)] * 5)


def generate_long_one(args):
    path, fmt, channels, seconds, seed = args
    rng = np.random.default_rng(seed)
    block = 10 * SR
    n_total = int(seconds * SR)
    # Cheap but non-repeating content: a chord whose partials are multiples of 0.1 Hz, so one
    # precomputed 10 s block loops seamlessly, under a random smooth gain ramp per block, plus a
    # slice of a 30 s noise pool at a random offset (no two blocks, and no two files, are equal).
    t = np.arange(block, dtype=np.float64) / SR
    freqs = np.round(rng.uniform(55, 880, size=3), 1)
    tone = sum(np.sin(2 * np.pi * f * t) * (0.25 / (k + 1)) for k, f in enumerate(freqs)).astype(np.float32)
    pool = rng.standard_normal((30 * SR + block, channels), dtype=np.float32)
    pool *= 0.03 if fmt != "flac" else 0.001  # quieter noise keeps the FLACs moderately sized
    if fmt == "wav":
        out = open(path, "wb")
        out.write(wav_header(n_total, channels, SR, 16))
        write = out.write
        proc = None
    else:
        # -C 128.9: 128 kbit/s CBR, fastest LAME algorithm (a standard stream, generated ~1.5x faster)
        extra = ["-C", "0"] if fmt == "flac" else ["-C", "128.9"]
        proc = subprocess.Popen(["sox", "-q", "-t", "raw", "-r", str(SR), "-e", "signed", "-b", "16",
                                 "-c", str(channels), "-", *extra, str(path)], stdin=subprocess.PIPE)
        write = proc.stdin.write
    done = 0
    g0 = 0.6
    while done < n_total:
        n = min(block, n_total - done)
        g1 = float(rng.uniform(0.2, 1.0))
        ramp = np.linspace(g0, g1, n, dtype=np.float32)
        g0 = g1
        off = int(rng.integers(0, 30 * SR))
        x = pool[off:off + n] + (tone[:n] * ramp)[:, None]
        write(pcm_bytes(x, 16))
        done += n
    if proc is None:
        out.close()
    else:
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"sox failed for {path}")
    return str(path)


def generate_long(root, seconds, seed):
    root.mkdir(parents=True, exist_ok=True)
    jobs, entries = [], []
    for i, (fmt, ch) in enumerate(LONG_SPECS):
        name = f"{'album' if i % 2 else 'session'}_{i:02d}_{'stereo' if ch == 2 else 'mono'}.{fmt}"
        sub = root / ("recordings" if i < 10 else "masters")
        sub.mkdir(exist_ok=True)
        p = sub / name
        jobs.append((p, fmt, ch, seconds, seed + i))
        entries.append({"path": str(p.relative_to(root)), "format": fmt, "channels": ch,
                        "rate": SR, "bits": 16, "seconds": float(seconds)})
    jobs.sort(key=lambda j: {"mp3": 0, "flac": 1}.get(j[1], 2))  # slowest (encoded) first
    with cf.ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        for p in ex.map(generate_long_one, jobs):
            log(f"  wrote {p}")
    return entries


def tree_bytes(root):
    total = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            total += os.path.getsize(os.path.join(dirpath, n))
    return total


def all_files(root):
    out = []
    for dirpath, _, names in os.walk(root):
        out.extend(os.path.join(dirpath, n) for n in names)
    return out


def wait_until_quiet(max_busy, timeout):
    """Wait until other work leaves the CPUs mostly idle; returns the last busy fraction seen."""
    t0 = time.monotonic()
    busy = cpu_busy()
    while max_busy is not None and busy > max_busy and time.monotonic() - t0 < timeout:
        log(f"machine busy ({busy * 100:.0f}% CPU, load {os.getloadavg()[0]:.1f}); waiting for it to calm down")
        time.sleep(10)
        busy = cpu_busy()
    return busy


def warm_up(files):
    t0 = time.monotonic()
    total = 0
    buf = bytearray(8 << 20)
    for p in files:
        with open(p, "rb", buffering=0) as f:
            while True:
                k = f.readinto(buf)
                if not k:
                    break
                total += k
    return total, time.monotonic() - t0


def evict(files):
    """Drop the files' clean pages from the page cache (POSIX_FADV_DONTNEED; no root needed).
    The VM's host may still cache the disk image, so "cold" here means cold in this kernel only."""
    os.sync()
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def page_cache_fraction(files):
    """Fraction of the files' bytes resident in the page cache (fincore), or None."""
    if not shutil.which("fincore"):
        return None
    res = size = 0
    for i in range(0, len(files), 500):
        r = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES,SIZE",
                            *files[i:i + 500]], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        for line in r.stdout.split("\n"):
            parts = line.split()
            if len(parts) == 2:
                res += int(parts[0])
                size += int(parts[1])
    return min(1.0, res / size) if size else None


# ---------------------------------------------------------------------------------------------
# Running audiosim
# ---------------------------------------------------------------------------------------------

SUMMARY_RE = re.compile(
    r"(?P<scanned>\d+) files scanned: (?P<added>\d+) added, (?P<changed>\d+) changed, "
    r"(?P<touched>\d+) touched, (?P<unchanged>\d+) unchanged, (?P<failed>\d+) failed.*?"
    r"in (?P<secs>[\d.]+) s \((?P<fps>[\d.]+) files/s, (?P<rt>[\d.]+)x realtime\).*?"
    r"peak memory (?P<peak>[\d.]+) MiB")


class AudiosimError(Exception):
    pass


def timed(cmd, env=None, cwd=None):
    """Run cmd under /usr/bin/time -v; returns (rc, stdout, stderr, wall_s, peak_kb, rusage)."""
    tfile = Path(os.environ.get("TMPDIR", "/tmp")) / f"audiosim-bench-time-{os.getpid()}.txt"
    t0 = time.monotonic()
    r = subprocess.run(["/usr/bin/time", "-v", "-o", str(tfile), *cmd],
                       capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.monotonic() - t0
    tv = tfile.read_text() if tfile.exists() else ""
    tfile.unlink(missing_ok=True)
    info = {}
    for line in tv.splitlines():
        if ":" in line:
            k, _, v = line.strip().rpartition(": ")
            info[k.strip()] = v.strip()
    peak_kb = int(info.get("Maximum resident set size (kbytes)", "0"))
    # wall: measured here (monotonic, ~1 ms of /usr/bin/time fork/exec included), finer than time's 10 ms
    rus = {"user_s": float(info.get("User time (seconds)", "nan")),
           "sys_s": float(info.get("System time (seconds)", "nan")),
           "cpu_percent": info.get("Percent of CPU this job got", ""),
           "major_faults": int(info.get("Major (requiring I/O) page faults", "0")),
           "fs_inputs": int(info.get("File system inputs", "0")),
           "fs_outputs": int(info.get("File system outputs", "0")),
           "vol_ctx": int(info.get("Voluntary context switches", "0"))}
    return r.returncode, r.stdout, r.stderr, wall, peak_kb, rus


def run_ingest(binary, store, lib, threads, extra=()):
    cmd = [str(binary), "--store", str(store)]
    if threads:
        cmd += ["-j", str(threads)]
    cmd += ["ingest", "--root", str(lib), *extra, str(lib)]
    env = {k: v for k, v in os.environ.items() if k != "AUDIOSIM_STORE"}
    for attempt in range(3):
        rc, out, err, wall, peak_kb, rus = timed(cmd, env=env)
        # 126/127 with "cannot run": /usr/bin/time could not exec the binary (being rebuilt); wait, retry
        if rc in (126, 127) and "cannot run" in err and attempt < 2:
            log(f"{binary} could not be started ({err.strip()}); waiting for it")
            time.sleep(30)
            wait_for_binary(binary)
            continue
        break
    if rc != 0:
        raise AudiosimError(f"{' '.join(cmd)} exited {rc}\n{err.strip()}")
    m = SUMMARY_RE.search(err)
    summary = {k: float(v) for k, v in m.groupdict().items()} if m else None
    return {"command": " ".join(cmd), "wall_s": wall, "peak_rss_kb": peak_kb, "rusage": rus,
            "summary": summary, "stderr_tail": err.strip().splitlines()[-1:] if err.strip() else []}


def binary_identity(binary):
    try:
        st = binary.stat()
        ver = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60).stdout
        return {"mtime": st.st_mtime, "size": st.st_size, "version": ver.strip().splitlines()[:1]}
    except (OSError, subprocess.SubprocessError):
        return None


def wait_for_binary(binary, timeout=180):
    t0 = time.monotonic()
    while not (binary.is_file() and os.access(binary, os.X_OK)):
        if time.monotonic() - t0 > timeout:
            return False
        log(f"{binary} not there yet (someone may be rebuilding); waiting")
        time.sleep(15)
    return True


def startup_numbers(binary, reps=5):
    out = {}
    for name, args in (("--help", ["--help"]), ("--version", ["--version"])):
        walls, peaks = [], []
        for _ in range(reps):
            rc, _, err, wall, peak, _ = timed([str(binary), *args])
            if rc != 0:
                raise AudiosimError(f"audiosim {name} exited {rc}: {err.strip()}")
            walls.append(wall)
            peaks.append(peak)
        out[name] = {"wall_s_median": statistics.median(walls), "wall_s_all": walls,
                     "peak_rss_kb_median": statistics.median(peaks), "peak_rss_kb_all": peaks}
    return out


# ---------------------------------------------------------------------------------------------
# Machine description
# ---------------------------------------------------------------------------------------------

def machine_info(work):
    info = {"nproc": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["ram_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                info["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    try:
        src = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", str(work)],
                             capture_output=True, text=True).stdout.split()
        info["filesystem"] = " ".join(src)
        dev = os.path.basename(src[0])
        rot = Path(f"/sys/block/{dev}/queue/rotational")
        if rot.exists():
            info["disk"] = (f"{dev} (virtio block device, kernel reports rotational="
                            f"{rot.read_text().strip()}; the physical medium is not visible from the VM)"
                            if dev.startswith("vd") else f"{dev} rotational={rot.read_text().strip()}")
    except (OSError, IndexError):
        pass
    return info


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def fmt_row(cols, widths):
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cols, widths)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--audiosim", type=Path, default=DEFAULT_BIN, help="binary (default: %(default)s)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/audiosim-bench"),
                    help="folder for generated libraries and stores, reused between runs (default: %(default)s)")
    ap.add_argument("--json", type=Path, default=None,
                    help="result file (default: WORK/ingest_result.json)")
    ap.add_argument("--short-files", type=int, default=10000, help="files in the short library (default 10000)")
    ap.add_argument("--long-seconds", type=float, default=3600.0,
                    help="length of each of the 20 long files (default 3600)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case; the median is reported (default 3)")
    ap.add_argument("--threads", default="default,1",
                    help="comma-separated thread settings; 'default' = no -j (default: %(default)s)")
    ap.add_argument("--only", choices=["short", "long"], help="run one library only")
    ap.add_argument("--verify", action="store_true",
                    help="also time a first ingest with --verify (full decode), default threads")
    ap.add_argument("--cold", action="store_true",
                    help="also time a first ingest (default threads) after evicting the library from the page "
                         "cache with posix_fadvise(DONTNEED) (informational: the VM host may still cache it)")
    ap.add_argument("--no-warmup", action="store_true", help="skip the warm-up read (page cache may be cold)")
    ap.add_argument("--max-busy", type=float, default=0.25,
                    help="before each run, wait until the CPUs are at most this busy (fraction, measured "
                         "over 0.5 s; other sessions may be compiling); negative: don't wait (default 0.25)")
    ap.add_argument("--quiet-timeout", type=float, default=300,
                    help="longest wait for a quiet machine before each run, seconds (default 300)")
    ap.add_argument("--generate-only", action="store_true", help="generate the libraries and stop")
    a = ap.parse_args()

    if a.max_busy is not None and a.max_busy < 0:
        a.max_busy = None
    if a.repeat < 1:
        ap.error("--repeat must be >= 1")
    threads = []
    for t in a.threads.split(","):
        t = t.strip()
        if t == "default":
            threads.append(0)
        elif t.isdigit() and int(t) > 0:
            threads.append(int(t))
        else:
            ap.error(f"bad thread setting {t!r}")
    for tool in ("sox", "/usr/bin/time"):
        if not shutil.which(tool):
            print(f"ingest_bench: {tool} is required", file=sys.stderr)
            return 2

    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    json_path = a.json or work / "ingest_result.json"

    datasets = {}
    if a.only in (None, "short"):
        spec = {"version": DATA_VERSION["short"], "kind": "short", "files": a.short_files, "seed": 1}
        datasets["short"] = ensure(work, "short", lambda root: generate_short(root, a.short_files, 1)[0], spec, log)
    if a.only in (None, "long"):
        spec = {"version": DATA_VERSION["long"], "kind": "long", "files": len(LONG_SPECS),
                "seconds": a.long_seconds, "seed": 1000}
        datasets["long"] = ensure(work, "long", lambda root: generate_long(root, a.long_seconds, 1000), spec, log)
    sizes = {name: tree_bytes(work / name) for name in datasets}
    for name, b in sizes.items():
        log(f"{name}: {len(datasets[name]['files'])} files, {b / 2**30:.2f} GiB on disk")
    if a.generate_only:
        return 0

    if not wait_for_binary(a.audiosim):
        print(f"ingest_bench: {a.audiosim} not found", file=sys.stderr)
        return 2

    result = {"date": datetime.date.today().isoformat(), "machine": machine_info(work),
              "audiosim": a.audiosim.as_posix(), "binary_at_start": binary_identity(a.audiosim),
              "repeat": a.repeat,
              "targets": {"first_ingest_short_files_per_s": TARGET_FIRST_FPS,
                          "rerun_unchanged_files_per_s": TARGET_RERUN_FPS,
                          "peak_rss_mib": TARGET_PEAK_MIB},
              "datasets": {n: {"files": len(d["files"]), "bytes": sizes[n],
                               "audio_hours": sum(f["seconds"] for f in d["files"]) / 3600,
                               "generation_seconds": d.get("seconds"),
                               "formats": {fm: sum(1 for f in d["files"] if f["format"] == fm)
                                           for fm in sorted({f["format"] for f in d["files"]})}}
                           for n, d in datasets.items()},
              "cases": []}
    try:
        result["audiosim_version"] = subprocess.run([str(a.audiosim), "--version"], capture_output=True,
                                                    text=True).stdout.strip().splitlines()
        result["startup"] = startup_numbers(a.audiosim)

        stores = work / "stores"
        for name, d in datasets.items():
            lib = work / name
            files = all_files(lib)
            audio_s = sum(f["seconds"] for f in d["files"])
            if not a.no_warmup:
                nbytes, dt = warm_up(files)
                log(f"warm-up read of {name}: {nbytes / 2**30:.2f} GiB in {dt:.1f} s "
                    f"({nbytes / 2**20 / max(dt, 1e-9):.0f} MiB/s)")
                result["datasets"][name]["warmup_read_s"] = round(dt, 2)
            plan = []
            for th in threads:
                plan.append((f"{name} first ingest", "first", th, ()))
                plan.append((f"{name} re-run unchanged", "rerun", th, ()))
            if a.verify:
                plan.append((f"{name} first ingest --verify", "first", 0, ("--verify",)))
            if a.cold:
                plan.append((f"{name} first ingest, cold cache", "cold", 0, ()))
            for label, kind, th, extra in plan:
                runs = []
                for rep in range(a.repeat):
                    store = stores / f"{name}-j{th or 'default'}{''.join(extra).replace('-', '_')}"
                    if kind == "cold":
                        store = stores / f"{name}-cold"
                        shutil.rmtree(store, ignore_errors=True)
                        evict(files)
                    elif kind == "first":
                        shutil.rmtree(store, ignore_errors=True)
                    elif not store.exists():
                        raise AudiosimError(f"no store for the re-run: {store}")
                    cached = page_cache_fraction(files)
                    busy = wait_until_quiet(a.max_busy, a.quiet_timeout)
                    load = os.getloadavg()[0]
                    r = run_ingest(a.audiosim, store, lib, th, extra)
                    r["page_cache_fraction_before"] = cached
                    r["cpu_busy_before"] = busy
                    r["loadavg1_before"] = load
                    s = r["summary"]
                    if s is None:
                        raise AudiosimError(f"no summary line from audiosim: {r['stderr_tail']}")
                    if int(s["scanned"]) != len(d["files"]) or int(s["failed"]) != 0:
                        raise AudiosimError(f"audiosim scanned {int(s['scanned'])} of {len(d['files'])} "
                                            f"files, {int(s['failed'])} failed")
                    if kind == "rerun" and int(s["unchanged"]) != len(d["files"]):
                        raise AudiosimError(f"re-run found only {int(s['unchanged'])} unchanged files")
                    runs.append(r)
                    log(f"{label} (-j {th or 'default'}) #{rep + 1}: {r['wall_s']:.2f} s, "
                        f"peak {r['peak_rss_kb'] / 1024:.1f} MiB, page cache "
                        f"{'?' if cached is None else f'{cached * 100:.0f}%'}, other CPU load {busy * 100:.0f}%; audiosim: {r['stderr_tail'][0][-160:]}")
                walls = [r["wall_s"] for r in runs]
                wall = statistics.median(walls)
                peak_kb = max(r["peak_rss_kb"] for r in runs)
                case = {"case": label, "dataset": name, "kind": kind,
                        "threads": th or f"default ({os.cpu_count()})", "extra": list(extra),
                        "files": len(d["files"]), "audio_hours": audio_s / 3600,
                        "wall_s": wall, "wall_s_all": walls,
                        "files_per_s": len(d["files"]) / wall, "x_realtime": audio_s / wall,
                        "peak_rss_mib": peak_kb / 1024,
                        "audiosim_reported_files_per_s": statistics.median(r["summary"]["fps"] for r in runs),
                        "audiosim_reported_peak_mib": max(r["summary"]["peak"] for r in runs),
                        "user_s": statistics.median(r["rusage"]["user_s"] for r in runs),
                        "sys_s": statistics.median(r["rusage"]["sys_s"] for r in runs),
                        "page_cache_fraction_before": [r["page_cache_fraction_before"] for r in runs],
                        "cpu_busy_before": [r["cpu_busy_before"] for r in runs],
                        "loadavg1_before": [r["loadavg1_before"] for r in runs],
                        "command": runs[-1]["command"], "runs": runs}
                result["cases"].append(case)
    except AudiosimError as e:
        print(f"ingest_bench: audiosim error: {e}", file=sys.stderr)
        result["error"] = str(e)
        json_path.write_text(json.dumps(result, indent=2))
        return 1

    # ---- targets ---------------------------------------------------------------------------
    checks = []
    for c in result["cases"]:
        default = c["extra"] == [] and isinstance(c["threads"], str)
        if c["dataset"] == "short" and c["kind"] in ("first", "cold") and not c["extra"]:
            checks.append({"target": f"first ingest >= {TARGET_FIRST_FPS:,.0f} short files/s",
                           "case": f"{c['case']}, -j {c['threads']}", "value": c["files_per_s"],
                           "ok": c["files_per_s"] >= TARGET_FIRST_FPS,
                           "binding": default and c["kind"] == "first"})
        # The files/s target is judged on the 10k-file library only: a re-run over 20 files is
        # ~15 ms, all process start, so files/s there says nothing (reported in the table only).
        if c["kind"] == "rerun" and c["dataset"] == "short":
            checks.append({"target": f"re-run unchanged >= {TARGET_RERUN_FPS:,.0f} files/s",
                           "case": f"{c['case']}, -j {c['threads']}", "value": c["files_per_s"],
                           "ok": c["files_per_s"] >= TARGET_RERUN_FPS, "binding": default})
        checks.append({"target": f"peak RSS < {TARGET_PEAK_MIB:.0f} MiB",
                       "case": f"{c['case']}, -j {c['threads']}", "value": c["peak_rss_mib"],
                       "ok": c["peak_rss_mib"] < TARGET_PEAK_MIB, "binding": True})
    result["checks"] = checks
    result["binary_at_end"] = binary_identity(a.audiosim)
    result["binary_changed_during_run"] = result["binary_at_end"] != result["binary_at_start"]
    result["all_binding_targets_met"] = all(ch["ok"] for ch in checks if ch["binding"])
    json_path.write_text(json.dumps(result, indent=2))

    # ---- report ----------------------------------------------------------------------------
    m = result["machine"]
    print(f"\naudiosim ingest benchmark, {result['date']}, {m.get('cpu_model', '?')}, nproc {m['nproc']}, "
          f"{m.get('ram_gib', '?')} GiB RAM, {m.get('os', '?')}")
    for n, d in result["datasets"].items():
        print(f"  {n}: {d['files']} files, {d['audio_hours']:.2f} h of audio, {d['bytes'] / 2**30:.2f} GiB, "
              f"formats {d['formats']}")
    print("  'busy before' = highest whole-machine CPU use seen in the 0.5 s before a run (others' work)")
    print(f"  median of {a.repeat} runs; files in page cache before every run "
          f"({'warm-up read done' if not a.no_warmup else 'NO warm-up read'}; 'cold cache' rows: evicted with "
          f"fadvise DONTNEED, the VM host may still cache); 'cached' = page-cache share before the run (fincore); "
          f"wall time measured around /usr/bin/time, "
          f"including process start\n")
    hdr = ["case", "-j", "files", "seconds", "files/s", "x realtime", "peak RSS MiB", "cached", "busy before"]
    rows = []
    for c in result["cases"]:
        cf_ = [x for x in c["page_cache_fraction_before"] if x is not None]
        rows.append([c["case"], str(c["threads"]).split()[0], c["files"], f"{c['wall_s']:.3f}",
                     f"{c['files_per_s']:,.0f}", f"{c['x_realtime']:,.0f}", f"{c['peak_rss_mib']:.1f}",
                     f"{min(cf_) * 100:.0f}%" if cf_ else "?",
                     f"{max(c['cpu_busy_before']) * 100:.0f}%"])
    widths = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    print(fmt_row(hdr, widths))
    for r in rows:
        print(fmt_row(r, widths))
    print("\nx realtime = hours of audio in the library / wall time (for re-runs nothing is decoded or hashed)")
    print("\ntargets (files/s judged at default threads, -j 1 rows informational; peak RSS judged on every run):")
    for ch in checks:
        unit = "MiB" if "RSS" in ch["target"] else "files/s"
        print(f"  {'PASS' if ch['ok'] else 'MISS'}  {ch['target']:<36} {ch['case']:<48} "
              f"{ch['value']:,.1f} {unit}{'' if ch['binding'] else '  (informational)'}")
    st = result["startup"]
    print(f"\nstartup: audiosim --help {st['--help']['wall_s_median']:.2f} s "
          f"{st['--help']['peak_rss_kb_median']:,.0f} KB; audiosim --version (loads the torch plugin) "
          f"{st['--version']['wall_s_median']:.2f} s {st['--version']['peak_rss_kb_median']:,.0f} KB")
    if result["binary_changed_during_run"]:
        print("\nWARNING: the audiosim binary changed during the benchmark (rebuilt?); re-run for clean numbers")
    print(f"\nall binding targets: {'PASS' if result['all_binding_targets_met'] else 'MISS'}")
    print(f"result: {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
