#!/usr/bin/env python3
"""MFCC statistics on the devset's instruments, the baseline of docs/QUALITY.md.

    WORK/librosa-venv/bin/python bench/mfcc_instruments.py [--devset ../shared/devset] SECONDS...

librosa's MFCC-20 + delta, mean and std over the first SECONDS of each file (22.05 kHz mono),
standardized over the set, compared by cosine; every file queries the others (leave-one-out), ties
broken by path, as `audiosim eval` does. Prints p@10 for the same instrument, and for the same
instrument from another library only (instruments-source.tsv; queries without such a match are
skipped). The venv is the one bench/librosa_compare.py builds (librosa 0.11).
"""
import argparse
import csv
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import librosa
import numpy as np


def read_labels(path):
    with open(path) as f:
        rows = csv.reader(f, delimiter="\t")
        next(rows)
        return {row[0]: row[1] for row in rows}


def features(job):
    path, seconds = job
    y, _ = librosa.load(path, sr=22050, mono=True, duration=seconds)
    mfcc = librosa.feature.mfcc(y=y, sr=22050, n_mfcc=20)
    delta = librosa.feature.delta(mfcc)
    return np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)])


def precision_at_10(X, paths, labels, source, other_source_only):
    X = (X - X.mean(0)) / (X.std(0) + 1e-12)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    scores = X @ X.T
    found = []
    for i, path in enumerate(paths):
        candidates = [j for j in range(len(paths))
                      if j != i and not (other_source_only and source.get(paths[j]) == source.get(path))]
        if not any(labels[paths[j]] == labels[path] for j in candidates):
            continue
        top = sorted(candidates, key=lambda j: (-scores[i, j], paths[j]))[:10]
        found.append(sum(labels[paths[j]] == labels[path] for j in top) / 10)
    return float(np.mean(found)), len(found)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devset", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "devset")
    ap.add_argument("seconds", type=float, nargs="+")
    args = ap.parse_args()
    labels = read_labels(args.devset / "instruments-labels.tsv")
    source = read_labels(args.devset / "instruments-source.tsv")
    paths = sorted(labels)
    with ProcessPoolExecutor(2) as pool:
        for seconds in args.seconds:
            X = np.stack(list(pool.map(features, [(str(args.devset / p), seconds) for p in paths], chunksize=8)))
            every = precision_at_10(X, paths, labels, source, False)
            other = precision_at_10(X, paths, labels, source, True)
            print(f"first {seconds:g} s: p@10 {every[0]:.3f} ({every[1]} queries); "
                  f"other source only {other[0]:.3f} ({other[1]} queries)", flush=True)


if __name__ == "__main__":
    main()
