#!/usr/bin/env python3
"""FAISS (IndexHNSWFlat and IndexFlatIP) against audiosim's index on the same vectors, in one run.

Reads the raw float32 files of bench/make_index_vectors.py, runs index_bench on them (unless
--no-index-bench) and measures FAISS the same way: build time, the RSS the index adds, recall@10
against exact search, queries/s on one thread. Prints one table with both.

    python -m venv /tmp/audiosim-bench-venv && /tmp/audiosim-bench-venv/bin/pip install -r bench/requirements.txt
    /tmp/audiosim-bench-venv/bin/python bench/faiss_compare.py --index-bench build/bin/index_bench \\
        --vectors /tmp/audiosim-index-bench/vectors-1000000.f32 --queries /tmp/audiosim-index-bench/queries-1000.f32

The faiss-cpu wheel carries its own OpenBLAS (faiss_cpu.libs/libopenblas*), so flat search does
not fall back to Debian's reference BLAS (shared/TOOLCHAIN-NOTES.md); the script prints the BLAS
libraries the process loaded to show it.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import faiss
import numpy as np

K = 10


def rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def loaded_blas():
    with open("/proc/self/maps") as maps:
        return sorted({os.path.basename(line.split()[-1]) for line in maps if "blas" in line.lower()})


def recall(found, exact):
    hits = sum(len(set(f[f >= 0]) & set(e)) for f, e in zip(found, exact))
    return hits / exact.size


def time_one_at_a_time(index, queries, count):
    """Latencies (s) of `count` single-query searches."""
    latencies = []
    for q in range(count):
        start = time.perf_counter()
        index.search(queries[q:q + 1], K)
        latencies.append(time.perf_counter() - start)
    return np.array(latencies)


def build(make_index, vectors, threads):
    faiss.omp_set_num_threads(threads)
    before = rss_bytes()
    start = time.perf_counter()
    index = make_index()
    index.add(vectors)
    seconds = time.perf_counter() - start
    return index, seconds, (rss_bytes() - before) / 2**20


def measure_faiss(vectors, queries, efs, build_threads, batch_1_queries):
    dim = vectors.shape[1]
    result = {"faiss_version": faiss.__version__, "blas": loaded_blas(), "compile": faiss.get_compile_options()}

    flat, flat_seconds, flat_mib = build(lambda: faiss.IndexFlatIP(dim), vectors, 1)
    start = time.perf_counter()
    _, exact = flat.search(queries, K)
    batch_qps = len(queries) / (time.perf_counter() - start)
    one = time_one_at_a_time(flat, queries, batch_1_queries)
    result["flat"] = {"build_s": flat_seconds, "index_rss_mib": flat_mib, "batch_all_qps": batch_qps,
                      "batch_1_qps": batch_1_queries / one.sum()}
    del flat

    result["hnsw_build"] = []
    hnsw = None
    for threads in build_threads:
        hnsw = None

        def make():
            index = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 200
            return index
        hnsw, seconds, mib = build(make, vectors, threads)
        result["hnsw_build"].append({"threads": threads, "seconds": seconds, "index_rss_mib": mib})
        print(f"faiss HNSW build, {threads} thread(s): {seconds:.1f} s, {mib:.0f} MiB", file=sys.stderr, flush=True)

    faiss.omp_set_num_threads(1)
    result["hnsw_search"] = []
    for ef in efs:
        hnsw.hnsw.efSearch = ef
        latencies = time_one_at_a_time(hnsw, queries, len(queries))
        start = time.perf_counter()
        _, found = hnsw.search(queries, K)
        batch_qps = len(queries) / (time.perf_counter() - start)
        result["hnsw_search"].append({
            "ef": ef, "recall_at_10": recall(found, exact), "qps": len(queries) / latencies.sum(),
            "batch_all_qps": batch_qps, "p50_ms": 1e3 * float(np.median(latencies)),
            "p95_ms": 1e3 * float(np.quantile(latencies, 0.95))})
    return result, exact


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vectors", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--dim", type=int, default=163, help="dimension of the vectors (default 163: audiosim-dsp v2's, the dimension of the runs in docs/PERFORMANCE.md; v3 has 147)")
    parser.add_argument("--index-bench", help="the index_bench binary (run first, on the same files)")
    parser.add_argument("--build-threads", default="1,2")
    parser.add_argument("--ef", default="50,100,200")
    parser.add_argument("--batch-1-queries", type=int, default=200)
    parser.add_argument("--json", help="write both results here")
    args = parser.parse_args()
    efs = [int(x) for x in args.ef.split(",")]
    build_threads = [int(x) for x in args.build_threads.split(",")]

    ours = None
    if args.index_bench:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "index_bench.json")
            subprocess.run([args.index_bench, "--vectors", args.vectors, "--queries", args.queries, "--dim",
                            str(args.dim), "--build-threads", *map(str, build_threads), "--ef", *map(str, efs),
                            "--batch-1-queries", str(args.batch_1_queries), "--json", path], check=True,
                           stdout=sys.stderr)
            with open(path) as f:
                ours = json.load(f)

    vectors = np.fromfile(args.vectors, dtype=np.float32).reshape(-1, args.dim)
    queries = np.fromfile(args.queries, dtype=np.float32).reshape(-1, args.dim)
    theirs, _ = measure_faiss(vectors, queries, efs, build_threads, args.batch_1_queries)

    print(f"# {len(vectors)} vectors x {args.dim}, {len(queries)} queries, k = {K}, one thread unless said; "
          f"faiss {theirs['faiss_version']} ({theirs['compile']}), BLAS: {', '.join(theirs['blas']) or 'none loaded'}")
    print("\n| index | build s (1 thread) | build s (2 threads) | index RSS MiB |")
    print("|---|---|---|---|")
    row = {b["threads"]: b for b in theirs["hnsw_build"]}
    print(f"| faiss IndexHNSWFlat | {row.get(1, {}).get('seconds', float('nan')):.1f} | "
          f"{row.get(2, {}).get('seconds', float('nan')):.1f} | {theirs['hnsw_build'][-1]['index_rss_mib']:.0f} |")
    if ours:
        row = {b["threads"]: b for b in ours["build"]}
        print(f"| audiosim HnswIndex | {row.get(1, {}).get('seconds', float('nan')):.1f} | "
              f"{row.get(2, {}).get('seconds', float('nan')):.1f} | {ours['build'][-1]['index_rss_mib']:.0f} |")
    print(f"| faiss IndexFlatIP | {theirs['flat']['build_s']:.1f} | - | {theirs['flat']['index_rss_mib']:.0f} |")

    print("\n| ef | faiss recall@10 | ours recall@10 | faiss q/s (one at a time) | ours q/s | faiss p50 ms | ours p50 ms "
          "| faiss q/s (one batch) |")
    print("|---|---|---|---|---|---|---|---|")
    for i, f in enumerate(theirs["hnsw_search"]):
        o = ours["search"][i] if ours else {}
        print(f"| {f['ef']} | {f['recall_at_10']:.4f} | {o.get('recall_at_10', float('nan')):.4f} | {f['qps']:.0f} | "
              f"{o.get('qps', float('nan')):.0f} | {f['p50_ms']:.3f} | {o.get('p50_ms', float('nan')):.3f} | "
              f"{f['batch_all_qps']:.0f} |")

    print("\n| exact search, 1 thread | batch 1 q/s | batch 64 q/s | all queries in one batch q/s |")
    print("|---|---|---|---|")
    print(f"| faiss IndexFlatIP | {theirs['flat']['batch_1_qps']:.1f} | - | {theirs['flat']['batch_all_qps']:.1f} |")
    for row in (ours or {}).get("exact", []):
        if row["threads"] == 1:
            print(f"| audiosim {row['device']} | {row['batch_1_qps']:.1f} | {row['batch_64_qps']:.1f} | - |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"faiss": theirs, "audiosim": ours}, f, indent=1)


if __name__ == "__main__":
    main()
