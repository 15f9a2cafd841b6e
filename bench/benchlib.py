"""What the Python benchmarks share: generated data sets cached under a work folder, waiting for a
quiet machine, timing a process from outside, the machine's description, and a Python with librosa
for the comparisons."""

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

LIBROSA_PIN = "librosa==0.11.0"  # last release for Python 3.11 (1.0 needs 3.12)

# The librosa pipelines run their processes with one thread each: BLAS threads on top of the
# processes would only contend for the same cores.
ONE_THREAD_ENV = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                    "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}


def ensure(work, name, make, version, log):
    """The data set WORK/NAME, made by make(root) -> [{"path", "seconds"}, ...] unless a complete
    one of this version is there. Returns its manifest."""
    root = work / name
    manifest = work / f"{name}.manifest.json"
    if manifest.exists() and root.is_dir():
        m = json.loads(manifest.read_text())
        if m.get("version") == version:
            return m
    if root.exists():
        shutil.rmtree(root)
    manifest.unlink(missing_ok=True)
    root.mkdir(parents=True)
    log(f"generating {root} ...")
    t0 = time.monotonic()
    files = make(root)
    m = {"version": version, "generated": datetime.datetime.now().isoformat(timespec="seconds"),
         "seconds": round(time.monotonic() - t0, 1), "files": files,
         "audio_seconds": sum(f["seconds"] for f in files)}
    manifest.write_text(json.dumps(m))  # written last: its presence means complete
    log(f"generated {root} in {m['seconds']} s")
    return m


def all_files(root):
    return sorted(str(p) for p in Path(root).rglob("*") if p.is_file())


def warm(root):
    """Reads every file once, so that runs measure the page cache, not the disk."""
    buf = bytearray(8 << 20)
    for p in all_files(root):
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def cpu_busy(interval=0.5):
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = sample()
    time.sleep(interval)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def wait_quiet(max_busy, log, timeout=120):
    """Waits (at most `timeout` s) until the CPUs are at most max_busy busy; returns what it saw."""
    t0 = time.monotonic()
    busy = cpu_busy()
    while busy > max_busy and time.monotonic() - t0 < timeout:
        log(f"machine busy ({busy * 100:.0f}% CPU); waiting")
        time.sleep(5)
        busy = cpu_busy()
    return busy


def run_measured(cmd, env=None, stdout=subprocess.DEVNULL):
    """Run cmd; returns (rc, stderr, wall seconds, peak RSS KiB of the process, user s, sys s).
    User and system time include the processes it waited for (workers of a pool)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env, text=True)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, err, wall, ru.ru_maxrss, ru.ru_utime, ru.ru_stime


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "?")
    os_name = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                    if l.startswith("PRETTY_NAME")), "?")
    return {"cpu": model, "nproc": os.cpu_count(), "mem_kb": mem, "os": os_name, "kernel": platform.release()}


def librosa_python(work, log):
    """A Python that imports librosa: the one running this script if it does, else a virtual
    environment WORK/librosa-venv with LIBROSA_PIN (made once, with pip). None if that fails."""
    def has_librosa(python):
        return subprocess.run([str(python), "-c", "import librosa, soxr"], capture_output=True).returncode == 0
    if has_librosa(sys.executable):
        return sys.executable
    venv = Path(work) / "librosa-venv"
    python = venv / "bin" / "python"
    if python.exists() and has_librosa(python):
        return str(python)
    log(f"librosa is not installed; installing {LIBROSA_PIN} into {venv} (pip)")
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", LIBROSA_PIN]]
    for step in steps:
        if subprocess.run(step).returncode != 0:
            log(f"could not install librosa ({' '.join(step)} failed)")
            return None
    return str(python)
