#!/usr/bin/env python3
"""Choose and weigh the features of audiosim-dsp by measurement, and report retrieval quality.

    .venv/bin/python models/default/tune.py [--devset ../shared/devset] [--demo data/demo]
                                            [--start CHOICE] [--choice CHOICE] [--write-params]

Tuning sets (v3): drum-machines and instruments (devset). Held-out set: sonicpi (devset), only
ever scored, never used to choose anything. The synthetic demo library (data/demo) adds breadth
(noise, speech, loops) to the per-dimension mean/std only; it has no say in the weights.

What it does, all deterministic (no randomness is used anywhere):
 1. decodes every file (soundfile), mixes to mono, resamples to 22050 Hz with sox (`rate`, its
    default high quality), cuts the first WINDOW seconds (the one-shot mode); caches the decoded
    clips under $TMPDIR/audiosim-tune-cache;
 2. computes the raw feature bank of model.py for every clip (same TorchScript code as exported);
 3. scores every group alone, then a greedy forward selection among the noise-robust CANDIDATES
    with per-group weights from a small grid (from --start's choice, v3 from v2's:
    choice-v2.json), then coordinate refinement of the weights, then pruning: a group goes when the objective loses less than
    PRUNE_TOLERANCE without it (the smaller model wins a near tie). The objective is the mean of
    four mAP@10: drum-machines counting all matches and only matches from another machine,
    instruments counting all matches and only matches from another source; a drum mAP@10 more
    than DRUM_SLACK below the start's is penalized (twice the shortfall), so that instruments
    are not bought with drums;
 4. prints tables: baselines (mean log-mel, MFCC mean+std) against the chosen model, on
    drum-machines, instruments and sonicpi; per-label precision; most confused label pairs;
 5. with --write-params writes models/default/params.json (groups, weights, clip, mean, std),
    which export.py turns into the TorchScript model.

Scoring: every labeled file queries all the others by cosine similarity; a query's own copy in
another format (the 13 MP3 twins of 808-mini Opus files) is never counted, neither as a hit nor
as a miss. P@k = fraction of the k nearest with the query's label; AP@10 = sum over the hits in
the top 10 of precision at that rank, divided by min(10, number of relevant items); queries with
no relevant item left are skipped. --exclude-same machine drops candidates from the query's
machine (the hard case: a TR-808 snare must find a LM-2 snare).
"""

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import model as M  # noqa: E402

SR = M.SAMPLE_RATE
WINDOW = 2.0
CACHE = Path(tempfile.gettempdir()) / "audiosim-tune-cache"
WEIGHT_GRID = [0.25, 0.5, 1.0, 1.5, 2.0]
MIN_GAIN = 1e-3          # a step must raise the objective by this much (smaller is noise on 239 queries)
PRUNE_TOLERANCE = 3e-3   # a group whose removal costs less than this goes
DRUM_SLACK = 0.01        # how far a drum mAP@10 may fall below the start's before it is penalized


# ---------------------------------------------------------------------------------------- data

def decode(path: Path) -> np.ndarray:
    """Mono float32 at 22050 Hz, first 30 s at most (cached)."""
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|v1".encode()).hexdigest()[:24]
    cached = CACHE / f"{key}.npy"
    if cached.exists():
        return np.load(cached)
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1).astype(np.float32)[: int(rate * 30)]
    if rate != SR:
        proc = subprocess.run(
            ["sox", "-D", "-V1", "-t", "f32", "-r", str(rate), "-c", "1", "-",
             "-t", "f32", "-r", str(SR), "-c", "1", "-", "rate"],
            input=mono.tobytes(), capture_output=True, check=True)
        mono = np.frombuffer(proc.stdout, dtype=np.float32).copy()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cached, mono)
    return mono


def read_tsv(path: Path) -> dict:
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return {r[0]: r[1] for r in rows[1:] if len(r) >= 2}


class Dataset:
    def __init__(self, name, root: Path, labels: dict, groups: dict = None):
        self.name = name
        self.paths = sorted(labels)
        self.labels = [labels[p] for p in self.paths]
        self.groups = [groups.get(p, "") for p in self.paths] if groups else None
        self.clips = [decode(root / p) for p in self.paths]
        # twins: same folder and stem, another extension (808-mini .mp3 vs .ogg)
        stems = defaultdict(list)
        for i, p in enumerate(self.paths):
            stems[os.path.splitext(p)[0]].append(i)
        self.twin = np.zeros((len(self.paths), len(self.paths)), dtype=bool)
        for idx in stems.values():
            for i in idx:
                for j in idx:
                    if i != j:
                        self.twin[i, j] = True

    def subset(self, name, labels: dict):
        """The same clips with other labels (only paths in labels)."""
        sub = Dataset.__new__(Dataset)
        sub.name = name
        keep = [i for i, p in enumerate(self.paths) if p in labels]
        sub.paths = [self.paths[i] for i in keep]
        sub.labels = [labels[p] for p in sub.paths]
        sub.groups = None
        sub.clips = [self.clips[i] for i in keep]
        sub.twin = self.twin[np.ix_(keep, keep)]
        sub.feats = {k: v[keep] for k, v in self.feats.items()} if hasattr(self, "feats") else None
        return sub


def batch(clips, window=WINDOW):
    n = int(round(window * SR))
    wav = torch.zeros(len(clips), n)
    lengths = torch.zeros(len(clips), dtype=torch.long)
    for i, c in enumerate(clips):
        c = c[:n]
        wav[i, : len(c)] = torch.from_numpy(c)
        lengths[i] = len(c)
    return wav, lengths


# ------------------------------------------------------------------------------------ features

def baseline_frames(wav, lengths):
    """Absolute dB log-mel frames [B, T, M] and validity mask, same front end as the model."""
    mod = BANK
    x = wav * (torch.arange(wav.shape[1])[None] < lengths[:, None])
    x = torch.nn.functional.pad(x, [M.N_FFT // 2, M.N_FFT // 2])
    spec = torch.stft(x, M.N_FFT, M.HOP, M.N_FFT, mod.window, center=False, return_complex=True)
    mel = (spec.abs() ** 2).transpose(1, 2) @ mod.melfb
    L = 10 * torch.log10(mel + 1e-10)
    nv = ((lengths + M.HOP - 1) // M.HOP).clamp(min=1)
    v = (torch.arange(L.shape[1])[None] < nv[:, None]).float()
    return L, v


def feature_sets(ds):
    """Raw features of a dataset: the bank and the two baselines."""
    wav, lengths = batch(ds.clips)
    with torch.no_grad():
        bank = torch.cat([BANK(wav[i:i + 64], lengths[i:i + 64]) for i in range(0, len(ds.clips), 64)])
        L, v = baseline_frames(wav, lengths)
        n = v.sum(1, keepdim=True)
        logmel_mean = (L * v[..., None]).sum(1) / n
        dct = torch.from_numpy(M.dct_matrix(M.N_MELS, 20)).float()
        cep = L @ dct
        cmean = (cep * v[..., None]).sum(1) / n
        cstd = ((((cep - cmean[:, None]) * v[..., None]) ** 2).sum(1) / n).sqrt()
    return {"bank": bank.double().numpy(), "logmel_mean": logmel_mean.double().numpy(),
            "mfcc_mean_std": torch.cat([cmean, cstd], 1).double().numpy()}


# ---------------------------------------------------------------------------------- evaluation

def evaluate(emb, ds, exclude_same=False, ks=(1, 5, 10)):
    """Per-query P@k and AP@10 (dict of arrays over scored queries) + nearest-neighbour confusions."""
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    sim = emb @ emb.T
    n = len(ds.labels)
    labels = np.array(ds.labels)
    out = {f"P@{k}": [] for k in ks}
    out["AP@10"] = []
    out["query_label"] = []
    confusions = Counter()
    for q in range(n):
        cand = np.ones(n, dtype=bool)
        cand[q] = False
        cand &= ~ds.twin[q]
        if exclude_same and ds.groups is not None:
            cand &= np.array(ds.groups) != ds.groups[q]
        rel = cand & (labels == labels[q])
        if rel.sum() == 0:
            continue
        idx = np.where(cand)[0]
        order = idx[np.argsort(-sim[q, idx], kind="stable")]
        hits = labels[order[:10]] == labels[q]
        for k in ks:
            out[f"P@{k}"].append(hits[:k].mean())
        prec = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        out["AP@10"].append((prec * hits).sum() / min(10, rel.sum()))
        out["query_label"].append(labels[q])
        if labels[order[0]] != labels[q]:
            confusions[tuple(sorted((labels[q], labels[order[0]])))] += 1
    res = {k: np.array(v) for k, v in out.items()}
    res["confusions"] = confusions
    return res


def summary(res):
    return {k: float(res[k].mean()) for k in ("P@1", "P@5", "P@10", "AP@10")} | {"queries": len(res["AP@10"])}


# ------------------------------------------------------------------------------- model pieces

SLICES = M.bank_slices()
GROUPS = [g for g, _ in M.BANK_GROUPS]
# Candidates of the selection: groups whose levels are floored or energy-weighted, so that noise at
# 20 dB SNR does not fill them (v2's finding, docs/QUALITY.md); v1's deep-floor groups (mel_mean,
# cep_std, flux, env, sub_env, ...) let noisy copies of decaying drums lose their originals.
CANDIDATES = ["cep_mean", "temporal", "mel_wmean", "cep_wmean", "flux_w", "env_on", "fine_cep",
              "cep_wstd", "dcep_wstd", "sub_env_on", "mel_wstd"]


def fit_stats(raw_list, groups):
    """Per-dimension mean/std over the stats sets; a std floor of 10 % of the group's median std."""
    X = np.concatenate([select(r, groups) for r in raw_list])
    mean = X.mean(0)
    std = X.std(0)
    at = 0
    for g in groups:
        a, b = SLICES[g]
        s = std[at: at + b - a]
        floor = 0.1 * max(float(np.median(s)), 1e-6)
        std[at: at + b - a] = np.maximum(s, floor)
        at += b - a
    return mean, std


def select(raw, groups):
    return np.concatenate([raw[:, SLICES[g][0]:SLICES[g][1]] for g in groups], 1)


def embed(raw, groups, weights, clip, mean, std):
    z = (select(raw, groups) - mean) / std
    if clip > 0:
        z = np.clip(z, -clip, clip)
    w = np.concatenate([np.full(SLICES[g][1] - SLICES[g][0], weights[g] / np.sqrt(SLICES[g][1] - SLICES[g][0]))
                        for g in groups])
    return z * w


def raw_stats(X):
    return X.mean(0), np.maximum(X.std(0), 1e-6)


# ------------------------------------------------------------------------------------ tuning

class Objective:
    """Mean of four mAP@10 (drums all / other machine, instruments all / other source), with the
    drum guard relative to the drum scores of `guard` (an embedding function; None: no guard)."""

    def __init__(self, dm, ins, embed_fn, guard=None):
        self.dm, self.ins, self.embed_fn = dm, ins, embed_fn
        self.floor = None
        if guard is not None:
            parts = self.parts(*guard)
            self.floor = (parts[0] - DRUM_SLACK, parts[1] - DRUM_SLACK)

    def parts(self, groups, weights):
        e_dm, e_ins = self.embed_fn(self.dm, groups, weights), self.embed_fn(self.ins, groups, weights)
        return [evaluate(e_dm, self.dm)["AP@10"].mean(), evaluate(e_dm, self.dm, exclude_same=True)["AP@10"].mean(),
                evaluate(e_ins, self.ins)["AP@10"].mean(), evaluate(e_ins, self.ins, exclude_same=True)["AP@10"].mean()]

    def __call__(self, groups, weights):
        p = self.parts(groups, weights)
        penalty = 0.0 if self.floor is None else 2 * (max(0.0, self.floor[0] - p[0]) + max(0.0, self.floor[1] - p[1]))
        return sum(p) / 4 - penalty


def tune(dm, ins, stats_raws, start, log):
    mean_full, std_full = fit_stats(stats_raws, GROUPS)

    def embed_fn(ds, groups, weights):
        sel = np.concatenate([np.arange(*SLICES[g]) for g in groups])   # bank columns = mean_full columns
        return embed(ds.feats["bank"], groups, weights, 0.0, mean_full[sel], std_full[sel])

    score = Objective(dm, ins, embed_fn, guard=(list(start), dict(start)) if start else None)
    log("\n## Each group alone (mAP@10: drums all, other machine, instruments all, other source)\n")
    log("| group | dim | drums | other machine | instruments | other source |")
    log("|---|---:|---:|---:|---:|---:|")
    for g in GROUPS:
        p = score.parts([g], {g: 1.0})
        log(f"| {g} | {SLICES[g][1] - SLICES[g][0]} | " + " | ".join(f"{x:.3f}" for x in p) + " |")

    chosen, weights = list(start), dict(start)
    best = score(chosen, weights) if chosen else -1.0
    log(f"\n## Greedy forward selection\n\nstart: {chosen} ({best:.4f})")
    while True:
        cand = None
        for g in CANDIDATES:
            if g in chosen:
                continue
            for w in WEIGHT_GRID:
                s = score(chosen + [g], weights | {g: w})
                if s > best + MIN_GAIN and (cand is None or s > cand[0]):
                    cand = (s, g, w)
        if cand is None:
            break
        best, g, w = cand
        chosen.append(g)
        weights[g] = w
        log(f"+ {g} (weight {w}): {best:.4f}")

    # coordinate refinement of the weights (a weight of 0 removes the group)
    for _ in range(3):
        changed = False
        for g in list(chosen):
            for w in [0.0] + WEIGHT_GRID:
                trial = [c for c in chosen if c != g or w > 0]
                if not trial:
                    continue
                s = score(trial, weights | {g: w})
                if s > best + MIN_GAIN:
                    best, weights[g], changed = s, w, True
                    log(f"~ {g} weight {w}: {best:.4f}")
            if weights[g] == 0:
                chosen.remove(g)
        if not changed:
            break
    while len(chosen) > 1:
        drops = [(score([c for c in chosen if c != g], weights), g) for g in chosen]
        s, g = max(drops)
        if s < best - PRUNE_TOLERANCE:
            break
        chosen.remove(g)
        best = s
        log(f"- {g} (costs less than {PRUNE_TOLERANCE}): {best:.4f}")
    chosen = [g for g in GROUPS if g in chosen]          # bank order
    weights = {g: weights[g] for g in chosen}
    log(f"\nchosen: {chosen}\nweights: {weights}\nobjective: {best:.4f}")
    log("\n## Ablation: the chosen model without one group\n")
    log("| without | objective | change |")
    log("|---|---:|---:|")
    for g in chosen:
        s = score([c for c in chosen if c != g], weights)
        log(f"| {g} | {s:.4f} | {s - best:+.4f} |")
    return chosen, weights, 0.0


# ---------------------------------------------------------------------------------- reporting

def table_row(name, dim, res_list):
    cells = []
    for r in res_list:
        s = summary(r)
        cells += [f"{s['P@1']:.3f}", f"{s['P@5']:.3f}", f"{s['P@10']:.3f}", f"{s['AP@10']:.3f}"]
    return f"| {name} | {dim} | " + " | ".join(cells) + " |"


def per_label(res, log, title):
    log(f"\n### {title}: per label\n")
    log("| label | queries | P@1 | P@5 | P@10 | mAP@10 |")
    log("|---|---:|---:|---:|---:|---:|")
    labs = res["query_label"]
    for lab in sorted(set(labs)):
        m = labs == lab
        log(f"| {lab} | {m.sum()} | {res['P@1'][m].mean():.3f} | {res['P@5'][m].mean():.3f} | "
            f"{res['P@10'][m].mean():.3f} | {res['AP@10'][m].mean():.3f} |")
    log(f"\nMost confused label pairs (nearest neighbour has the other label, both directions):\n")
    for (a, b), c in res["confusions"].most_common(8):
        log(f"- {a} / {b}: {c}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devset", default=str(HERE.parent.parent.parent / "shared" / "devset"))
    ap.add_argument("--demo", default=str(HERE.parent.parent / "data" / "demo"))
    ap.add_argument("--write-params", action="store_true", help="write models/default/params.json")
    ap.add_argument("--choice", help="JSON {groups: [...], weights: {...}, clip: C}: skip the selection, use this "
                    "choice (fit mean/std, report, write params); v3's choice is models/default/choice.json")
    ap.add_argument("--start", default=str(HERE / "choice-v2.json"),
                    help="the selection starts from this choice and guards its drum scores ('' starts empty, unguarded)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    log = print

    global BANK
    BANK = torch.jit.script(M.AudiosimDSP()).eval()
    dev = Path(args.devset)
    dm = Dataset("drum-machines", dev, read_tsv(dev / "drum-machines-labels.tsv"),
                 read_tsv(dev / "drum-machines-machine.tsv"))
    ins = Dataset("instruments", dev, read_tsv(dev / "instruments-labels.tsv"), read_tsv(dev / "instruments-source.tsv"))
    sp = Dataset("sonicpi", dev, read_tsv(dev / "sonicpi-labels.tsv"))
    demo_dir = Path(args.demo)
    demo = None
    if (demo_dir / "labels.tsv").exists():
        demo_labels = {p: l for p, l in read_tsv(demo_dir / "labels.tsv").items() if not p.startswith("dupes/")}
        demo = Dataset("demo", demo_dir, demo_labels)
    for ds in [dm, ins, sp] + ([demo] if demo else []):
        ds.feats = feature_sets(ds)
    sp_drum = sp.subset("sonicpi drum classes", read_tsv(dev / "sonicpi-drumclass.tsv"))
    log(f"# audiosim-dsp tuning\n\nclips: drum-machines {len(dm.paths)}, instruments {len(ins.paths)}, sonicpi {len(sp.paths)}, "
        f"demo {len(demo.paths) if demo else 0} (window {WINDOW} s, {SR} Hz)")

    stats_sets = [dm.feats["bank"]] + ([demo.feats["bank"]] if demo else []) + [ins.feats["bank"]]
    if args.choice:
        fixed = json.loads(Path(args.choice).read_text())
        chosen = [g for g in GROUPS if g in fixed["groups"]]
        weights, clip = {g: float(fixed["weights"][g]) for g in chosen}, float(fixed.get("clip", 0.0))
        log(f"\nchoice from {args.choice}: {chosen} {weights} clip {clip}")
    else:
        start = {}
        if args.start:
            fixed = json.loads(Path(args.start).read_text())
            start = {g: float(fixed["weights"][g]) for g in fixed["groups"]}
        chosen, weights, clip = tune(dm, ins, stats_sets, start, log)
    mean, std = fit_stats(stats_sets, chosen)
    params = {"groups": chosen, "weights": weights, "clip": clip,
              "window_seconds": WINDOW, "mean": [round(float(x), 6) for x in mean],
              "std": [round(float(x), 6) for x in std]}
    # embed exactly as the exported model will (rounded constants, TorchScript forward)
    final = torch.jit.script(M.AudiosimDSP(params)).eval()

    def final_emb(ds):
        wav, lengths = batch(ds.clips)
        with torch.no_grad():
            return torch.cat([final(wav[i:i + 64], lengths[i:i + 64]) for i in range(0, len(ds.clips), 64)]).double().numpy()

    # baselines: standardized with the same tuning-side stats (drum-machines + demo + instruments)
    def base_emb(ds, key):
        ref = np.concatenate([dm.feats[key]] + ([demo.feats[key]] if demo else []) + [ins.feats[key]])
        mu, sd = raw_stats(ref)
        return (ds.feats[key] - mu) / sd

    systems = [("(a) mean log-mel, standardized", M.N_MELS, lambda ds: base_emb(ds, "logmel_mean")),
               ("(b) MFCC-20 mean+std, standardized", 40, lambda ds: base_emb(ds, "mfcc_mean_std")),
               ("(c) audiosim-dsp", int(sum(SLICES[g][1] - SLICES[g][0] for g in chosen)), final_emb)]

    log("\n## Results (first 2 s of each file, cosine, each labeled file queries all others)\n")
    log("Tuning set (drum-machines; 'other machine' = only matches from another machine count):\n")
    log("| system | dim | P@1 | P@5 | P@10 | mAP@10 | P@1 other machine | P@5 | P@10 | mAP@10 |")
    log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    embs = {}
    for name, dim, fn in systems:
        embs[(name, "dm")] = e = fn(dm)
        log(table_row(name, dim, [evaluate(e, dm), evaluate(e, dm, exclude_same=True)]))
    log("\nTuning set (instruments; 'other source' = only matches from another library count, where a "
        "label has several):\n")
    log("| system | dim | P@1 | P@5 | P@10 | mAP@10 | P@1 other source | P@5 | P@10 | mAP@10 |")
    log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, dim, fn in systems:
        embs[(name, "ins")] = e = fn(ins)
        log(table_row(name, dim, [evaluate(e, ins), evaluate(e, ins, exclude_same=True)]))
    log("\nHeld-out set (sonicpi, never used for any choice; labels = name prefix; drum classes = "
        "sonicpi-drumclass.tsv subset):\n")
    log("| system | dim | P@1 | P@5 | P@10 | mAP@10 | P@1 drum classes | P@5 | P@10 | mAP@10 |")
    log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    keep = [sp.paths.index(p) for p in sp_drum.paths]
    for name, dim, fn in systems:
        embs[(name, "sp")] = e = fn(sp)
        log(table_row(name, dim, [evaluate(e, sp), evaluate(e[keep], sp_drum)]))
    if demo:
        log("\nSynthetic demo library (data/demo without dupes/; only its mean/std were used):\n")
        log("| system | dim | P@1 | P@5 | P@10 | mAP@10 |")
        log("|---|---:|---:|---:|---:|---:|")
        for name, dim, fn in systems:
            log(table_row(name, dim, [evaluate(fn(demo), demo)]))

    fname = systems[-1][0]
    per_label(evaluate(embs[(fname, "dm")], dm), log, "drum-machines, audiosim-dsp")
    per_label(evaluate(embs[(fname, "dm")], dm, exclude_same=True), log,
              "drum-machines other machine only, audiosim-dsp")
    per_label(evaluate(embs[(fname, "ins")], ins), log, "instruments, audiosim-dsp")
    per_label(evaluate(embs[(fname, "sp")], sp), log, "sonicpi, audiosim-dsp")
    per_label(evaluate(embs[(fname, "sp")][keep], sp_drum), log, "sonicpi drum classes, audiosim-dsp")

    if args.write_params:
        out = HERE / "params.json"
        out.write_text(json.dumps(params, indent=1) + "\n")
        log(f"\nwrote {out}")


if __name__ == "__main__":
    main()
