#!/usr/bin/env python3
"""End-to-end query latency: 5-second audio files against a store of N chunk vectors.

The store is written by make_bench_store from a vectors file (bench/make_index_vectors.py makes
1,000,000 realistic vectors of the default model's 163 dimensions from devset embeddings); `audiosim index` builds its index; then
`audiosim query -j 1` answers Q query files in one call (batch mode) and prints the median and p95
of the per-query time after loading: decoding the query file, chunking it (sample profile: 2 s
windows, 1 s hop: 4 chunks for 5 s), embedding it with the default model, searching each chunk's
100 nearest, fusing. The query files are devset one-shots laid end to end to fill 5 s (seeded).

    .venv/bin/python bench/query_bench.py --vectors /tmp/audiosim-index-bench/vectors-1000000.f32

Then the one-query process: wall time and peak RSS (/usr/bin/time -v) of `audiosim query FILE`
answering one file, the first call after the index was built (the store's files not yet in its
verification cache, whatever the page cache holds) and --process-runs calls after it; with
--process-only, only that (the store and index must exist).
"""
import argparse
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import time

import numpy as np
import soundfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(argv, **kwargs):
    start = time.monotonic()
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(f"{argv[0]} failed ({result.returncode}):\n{result.stderr}")
    return result, time.monotonic() - start


def make_query_files(devset, folder, count, seconds=5.0, rate=44100, seed=7):
    """5 s mono files of devset samples laid end to end (linear resampling is enough here)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(p for p in pathlib.Path(devset).rglob("*") if p.suffix.lower() in (".wav", ".flac", ".aif", ".aiff"))
    random = np.random.default_rng(seed)
    paths = []
    for q in range(count):
        out = np.zeros(0, dtype=np.float32)
        while len(out) < seconds * rate:
            data, source_rate = soundfile.read(str(sources[random.integers(len(sources))]), dtype="float32", always_2d=True)
            mono = data.mean(axis=1)
            positions = np.arange(0, len(mono) - 1, source_rate / rate)
            out = np.concatenate([out, np.interp(positions, np.arange(len(mono)), mono).astype(np.float32)])
        path = folder / f"query-{q:03}.wav"
        soundfile.write(str(path), out[: int(seconds * rate)], rate)
        paths.append(path)
    return paths


def one_query_process(audiosim, store, query_file, runs):
    """Whole `audiosim query FILE` processes: the first call, then the median of `runs` more."""
    calls = []
    for _ in range(runs + 1):
        result, _ = run(["/usr/bin/time", "-v", audiosim, "--store", store, "-j", "1", "query", "--format", "tsv",
                         query_file])
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
        rss_kb = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
        seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
        calls.append({"wall_s": seconds, "peak_rss_mib": round(int(rss_kb.group(1)) / 1024, 1), "stdout": result.stdout})
    warm = sorted(calls[1:], key=lambda c: c["wall_s"])
    return {"first_wall_s": calls[0]["wall_s"], "first_peak_rss_mib": calls[0]["peak_rss_mib"],
            "warm_runs": runs, "warm_median_wall_s": warm[len(warm) // 2]["wall_s"] if warm else None,
            "warm_wall_s": [c["wall_s"] for c in calls[1:]], "warm_peak_rss_mib": [c["peak_rss_mib"] for c in calls[1:]],
            "same_output": len({c["stdout"] for c in calls}) == 1, "rows": calls[0]["stdout"].count("\n") - 1,
            "load_average": os.getloadavg()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audiosim", default=ROOT / "build/bin/audiosim")
    parser.add_argument("--make-store", default=ROOT / "build/bin/make_bench_store")
    parser.add_argument("--vectors", required=True)
    parser.add_argument("--dim", type=int, default=163, help="dimension of the vectors (default 163: audiosim-dsp v2's, the dimension of the runs in docs/PERFORMANCE.md; v3 has 147)")
    parser.add_argument("--work", default="/tmp/audiosim-query-bench")
    parser.add_argument("--devset", default=ROOT.parent / "shared/devset")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--index-threads", type=int, default=os.cpu_count())
    parser.add_argument("--process-runs", type=int, default=5)
    parser.add_argument("--process-only", action="store_true")
    args = parser.parse_args()

    work = pathlib.Path(args.work)
    store = work / "store"
    count = os.path.getsize(args.vectors) // (4 * args.dim)
    report = {"vectors": count, "dim": args.dim, "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    if args.process_only:
        (query_file,) = make_query_files(args.devset, work / "queries", 1)
        report["one_query_process"] = one_query_process(args.audiosim, store, query_file, args.process_runs)
        print(json.dumps(report, indent=2))
        return
    if not (store / "manifest.json").exists():
        _, report["store_seconds"] = run([args.make_store, args.vectors, args.dim, store])
    result, report["index_seconds"] = run([args.audiosim, "--store", store, "-j", args.index_threads, "index",
                                           "--format", "json"])
    report["index"] = json.loads(result.stdout)[0]
    report["index_peak_memory"] = re.search(r"peak memory (.*)", result.stderr).group(1)
    report["index_bytes"] = os.path.getsize(report["index"]["file"])

    files = make_query_files(args.devset, work / "queries", args.queries)
    summary = re.compile(r"per query ([\d.]+) ms median, ([\d.]+) ms p95.*peak memory (.*)")
    for mode, extra in (("query_index", []), ("query_exact_torch_cpu", ["--exact", "--device", "cpu"])):
        result, wall = run([args.audiosim, "--store", store, "-j", "1", "query", *extra, "--format", "tsv", *files])
        found = summary.search(result.stderr)
        rows = result.stdout.count("\n") - 1
        report[mode] = {"median_ms": float(found.group(1)), "p95_ms": float(found.group(2)), "rows": rows,
                        "process_seconds": round(wall, 2), "peak_memory": found.group(3)}
    report["one_query_process"] = one_query_process(args.audiosim, store, files[0], args.process_runs)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
