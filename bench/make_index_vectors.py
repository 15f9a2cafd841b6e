#!/usr/bin/env python3
"""Synthesize a large, realistic set of embedding vectors for the index benchmarks.

i.i.d. Gaussian vectors are hnswlib's worst case and unlike embeddings (docs/TOOLCHAIN-NOTES in
shared/): this script starts from real embeddings instead. It ingests and embeds a sample library
(default: ../shared/devset) into a store with the audiosim binary (default model audiosim-dsp v3, 147-d; the recorded runs used v2, 163-d,
default `sample` profile), reads the vectors from the store's embedding segments (docs/FORMAT.md),
and makes each synthetic vector as

    a = a random real vector, b = one of a's 10 nearest real vectors (picked at random),
    t ~ U(0, 1), noise ~ N(0, s^2 * C), x = normalize((1 - t) a + t b + noise)

C is the covariance of the real vectors, scaled to unit trace, so the noise follows the data's
own low-dimensional shape; s = --noise x the median distance from a real vector to its nearest
real neighbour. Queries are made the same way from another random stream, so they are held out
(not index members). Output (raw float32, row-major, no header):

    WORK/vectors-N.f32, WORK/queries-Q.f32 and WORK/vectors-N.json (recipe, seed, dim, statistics)

Deterministic for a given store and seed. Usage:
    .venv/bin/python bench/make_index_vectors.py --audiosim build/bin/audiosim [--count 1000000]
"""
import argparse
import json
import os
import subprocess
import sys

import h5py
import numpy as np


def build_store(audiosim, devset, store):
    if os.path.exists(os.path.join(store, "manifest.json")):
        return
    for args in (["ingest", devset], ["embed", "--device", "cpu"]):
        subprocess.run([audiosim, "--store", store] + args, check=True)


def read_vectors(store):
    """The current vectors of the store's one embedding set (later segments replace files)."""
    with open(os.path.join(store, "manifest.json")) as f:
        sets = json.load(f)["embeddings"]
    if len(sets) != 1:
        sys.exit(f"make_index_vectors: expected one embedding set in {store}, found {sorted(sets)}")
    (key, entry), = sets.items()
    by_file = {}
    for segment in entry["segments"]:
        with h5py.File(os.path.join(store, segment["file"]), "r") as h5:
            if "dropped" in h5 and "file_id" in h5["dropped"]:
                for file_id in h5["dropped/file_id"][:]:
                    by_file.pop(int(file_id), None)
            file_ids = h5["embeddings/file_id"][:]
            vectors = h5["embeddings/vector"][:]
            for file_id in np.unique(file_ids):
                by_file[int(file_id)] = vectors[file_ids == file_id]
    return key, np.concatenate([by_file[k] for k in sorted(by_file)]).astype(np.float32)


def synthesize(real, neighbours, noise_root, scale, count, rng, block=100_000):
    """Yields blocks of synthetic unit vectors (see the module docstring)."""
    n, dim = real.shape
    for start in range(0, count, block):
        rows = min(block, count - start)
        a = rng.integers(0, n, rows)
        b = neighbours[a, rng.integers(0, neighbours.shape[1], rows)]
        t = rng.random(rows, dtype=np.float32)[:, None]
        noise = (rng.standard_normal((rows, dim), dtype=np.float32) @ noise_root.T) * scale
        x = (1 - t) * real[a] + t * real[b] + noise
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        yield x.astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--audiosim", required=True, help="the audiosim binary")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--devset", default=os.path.normpath(os.path.join(here, "../../shared/devset")))
    parser.add_argument("--work", default="/tmp/audiosim-index-bench")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=0.5, help="noise scale, in median nearest-neighbour distances")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    os.makedirs(args.work, exist_ok=True)
    store = os.path.join(args.work, "devstore")
    build_store(args.audiosim, args.devset, store)
    key, real = read_vectors(store)
    n, dim = real.shape

    similarity = real @ real.T
    np.fill_diagonal(similarity, -np.inf)
    neighbours = np.argsort(-similarity, axis=1)[:, :10]
    nearest = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * similarity[np.arange(n), neighbours[:, 0]]))
    median_nearest = float(np.median(nearest))
    covariance = np.cov(real, rowvar=False)
    covariance /= np.trace(covariance)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    noise_root = (eigenvectors * np.sqrt(np.maximum(eigenvalues, 0.0))).astype(np.float32)
    scale = np.float32(args.noise * median_nearest)

    vectors_rng, queries_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(2))
    vectors_path = os.path.join(args.work, f"vectors-{args.count}.f32")
    queries_path = os.path.join(args.work, f"queries-{args.queries}.f32")
    for path, count, rng in ((vectors_path, args.count, vectors_rng), (queries_path, args.queries, queries_rng)):
        with open(path + ".tmp", "wb") as out:
            for block in synthesize(real, neighbours, noise_root, scale, count, rng):
                block.tofile(out)
        os.replace(path + ".tmp", path)

    explained = np.cumsum(np.sort(eigenvalues)[::-1])
    recipe = {
        "embedding_set": key, "real_vectors": n, "dim": dim, "count": args.count, "queries": args.queries,
        "seed": args.seed, "noise": args.noise, "median_nearest_distance": median_nearest,
        "variance_in_top_10_20_40_components": [float(explained[i]) for i in (9, 19, 39)],
        "vectors": vectors_path, "queries_file": queries_path,
    }
    with open(os.path.join(args.work, f"vectors-{args.count}.json"), "w") as f:
        json.dump(recipe, f, indent=1)
    print(json.dumps(recipe, indent=1))


if __name__ == "__main__":
    main()
