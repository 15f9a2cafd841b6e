#!/usr/bin/env python3
"""Choose and weigh the features of audiosim-dsp by measurement, and report retrieval quality.

    .venv/bin/python models/default/tune.py [--devset ../shared/devset] [--demo data/demo]
                                            [--write-params] [--markdown]

Tuning set: drum-machines (devset). Held-out set: sonicpi (devset), only ever scored, never
used to choose anything. The synthetic demo library (data/demo) adds breadth (tonal, noise,
speech, loops) to the per-dimension mean/std only; it has no say in the weights.

What it does, all deterministic (no randomness is used anywhere):
 1. decodes every file (soundfile), mixes to mono, resamples to 22050 Hz with sox (`rate`, its
    default high quality), cuts the first WINDOW seconds (the one-shot mode); caches the decoded
    clips under $TMPDIR/audiosim-tune-cache;
 2. computes the raw feature bank of model.py for every clip (same TorchScript code as exported);
 3. scores every group alone on drum-machines, then a greedy forward selection of groups with
    per-group weights from a small grid, then coordinate refinement of the weights and of the
    z-score clip; the objective is the mean of mAP@10 on drum-machines counting all matches and
    counting only matches from another machine;
 4. prints tables: baselines (mean log-mel, MFCC mean+std) against the chosen model, on
    drum-machines and sonicpi; per-label precision; most confused label pairs;
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
WEIGHT_GRID = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0]
CLIP_GRID = [0.0, 3.0, 5.0]
MIN_GAIN = 1e-3     # a step must raise the objective by this much (smaller is noise on 239 queries)


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

def objective(emb, dm):
    a = evaluate(emb, dm)["AP@10"].mean()
    b = evaluate(emb, dm, exclude_same=True)["AP@10"].mean()
    return 0.5 * (a + b)


def tune(dm, stats_raws, log):
    mean_full, std_full = fit_stats(stats_raws, GROUPS)

    def score(groups, weights, clip):
        sel = np.concatenate([np.arange(*SLICES[g]) for g in groups])   # bank columns = mean_full columns
        return objective(embed(dm.feats["bank"], groups, weights, clip, mean_full[sel], std_full[sel]), dm)

    log("\n## Each group alone (drum-machines, objective = mean of mAP@10 all / other machine)\n")
    log("| group | dim | objective |")
    log("|---|---:|---:|")
    alone = {}
    for g in GROUPS:
        alone[g] = score([g], {g: 1.0}, 0.0)
        log(f"| {g} | {SLICES[g][1] - SLICES[g][0]} | {alone[g]:.3f} |")

    # greedy forward selection: add the group and weight that help most, until nothing helps
    best_g = max(GROUPS, key=lambda g: alone[g])
    chosen, weights, clip = [best_g], {best_g: 1.0}, 0.0
    best = alone[best_g]
    log(f"\n## Greedy forward selection\n\nstart: {best_g} ({best:.4f})")
    while True:
        cand = None
        for g in GROUPS:
            if g in chosen:
                continue
            for w in WEIGHT_GRID[1:]:
                s = score(chosen + [g], weights | {g: w}, clip)
                if s > best + MIN_GAIN and (cand is None or s > cand[0]):
                    cand = (s, g, w)
        if cand is None:
            break
        best, g, w = cand
        chosen.append(g)
        weights[g] = w
        log(f"+ {g} (weight {w}): {best:.4f}")

    # coordinate refinement of weights (a weight may drop to 0 = group removed) and of the clip
    for _ in range(3):
        changed = False
        for g in list(chosen):
            for w in WEIGHT_GRID:
                trial = [c for c in chosen if c != g or w > 0]
                if not trial:
                    continue
                s = score(trial, weights | {g: w}, clip)
                if s > best + MIN_GAIN:
                    best, weights[g], changed = s, w, True
                    log(f"~ {g} weight {w}: {best:.4f}")
            if weights[g] == 0:
                chosen.remove(g)
        for c in CLIP_GRID:
            s = score(chosen, weights, c)
            if s > best + MIN_GAIN:
                best, clip, changed = s, c, True
                log(f"~ clip {c}: {best:.4f}")
        if not changed:
            break
    # prune: drop a group whose removal costs less than MIN_GAIN (the simpler model wins a tie)
    while len(chosen) > 1:
        drops = [(score([c for c in chosen if c != g], weights, clip), g) for g in chosen]
        s, g = max(drops)
        if s < best - MIN_GAIN:
            break
        chosen.remove(g)
        best = s
        log(f"- {g} (costs less than {MIN_GAIN}): {best:.4f}")
    chosen = [g for g in GROUPS if g in chosen]          # bank order
    weights = {g: weights[g] for g in chosen}
    log(f"\nchosen: {chosen}\nweights: {weights}\nclip: {clip}\nobjective: {best:.4f}")
    log("\n## Ablation: the chosen model without one group (drum-machines objective)\n")
    log("| without | objective | change |")
    log("|---|---:|---:|")
    for g in chosen:
        rest = [c for c in chosen if c != g]
        s = score(rest, weights, clip)
        log(f"| {g} | {s:.4f} | {s - best:+.4f} |")
    return chosen, weights, clip


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


def sweep_frontend(dm, demo, log):
    """Whole tuning run for other level floors and active-frame thresholds (model.py constants)."""
    global BANK
    saved = (M.FLOOR_DB, M.ACTIVE_DB, BANK)
    rows = []
    for floor_db in (-60.0, -80.0, -100.0):
        for active_db in (-30.0, -40.0, -50.0):
            if active_db <= floor_db:
                continue
            M.FLOOR_DB, M.ACTIVE_DB = floor_db, active_db
            BANK = torch.jit.script(M.AudiosimDSP()).eval()
            raws = []
            for ds in [dm] + ([demo] if demo else []):
                wav, lengths = batch(ds.clips)
                with torch.no_grad():
                    raws.append(BANK(wav, lengths).double().numpy())
            sub = Dataset.__new__(Dataset)
            sub.__dict__.update(dm.__dict__)
            sub.feats = {"bank": raws[0]}
            chosen, weights, clip = tune(sub, raws, lambda *a: None)
            mean, std = fit_stats(raws, chosen)
            rows.append((floor_db, active_db, objective(embed(raws[0], chosen, weights, clip, mean, std), sub),
                         ", ".join(f"{g} {weights[g]}" for g in chosen)))
    M.FLOOR_DB, M.ACTIVE_DB, BANK = saved
    log("\n## Front-end sweep (drum-machines objective after the whole tuning run)\n")
    log("| floor dB | active dB | objective | chosen groups and weights |")
    log("|---:|---:|---:|---|")
    for r in rows:
        log(f"| {r[0]:.0f} | {r[1]:.0f} | {r[2]:.4f} | {r[3]} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devset", default=str(HERE.parent.parent.parent / "shared" / "devset"))
    ap.add_argument("--demo", default=str(HERE.parent.parent / "data" / "demo"))
    ap.add_argument("--write-params", action="store_true", help="write models/default/params.json")
    ap.add_argument("--choice", help="JSON {groups: [...], weights: {...}, clip: C}: skip the selection, use this "
                    "choice (fit mean/std, report, write params); v2's choice is models/default/choice.json")
    ap.add_argument("--sweep-frontend", action="store_true",
                    help="also tune with other floor / active-frame thresholds (drum-machines objective only)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    log = print

    global BANK
    BANK = torch.jit.script(M.AudiosimDSP()).eval()
    dev = Path(args.devset)
    dm = Dataset("drum-machines", dev, read_tsv(dev / "drum-machines-labels.tsv"),
                 read_tsv(dev / "drum-machines-machine.tsv"))
    sp = Dataset("sonicpi", dev, read_tsv(dev / "sonicpi-labels.tsv"))
    demo_dir = Path(args.demo)
    demo = None
    if (demo_dir / "labels.tsv").exists():
        demo_labels = {p: l for p, l in read_tsv(demo_dir / "labels.tsv").items() if not p.startswith("dupes/")}
        demo = Dataset("demo", demo_dir, demo_labels)
    for ds in [dm, sp] + ([demo] if demo else []):
        ds.feats = feature_sets(ds)
    sp_drum = sp.subset("sonicpi drum classes", read_tsv(dev / "sonicpi-drumclass.tsv"))
    log(f"# audiosim-dsp tuning\n\nclips: drum-machines {len(dm.paths)}, sonicpi {len(sp.paths)}, "
        f"demo {len(demo.paths) if demo else 0} (window {WINDOW} s, {SR} Hz)")

    if args.sweep_frontend:
        sweep_frontend(dm, demo, log)
    stats_sets = [dm.feats["bank"]] + ([demo.feats["bank"]] if demo else [])
    if args.choice:
        fixed = json.loads(Path(args.choice).read_text())
        chosen = [g for g in GROUPS if g in fixed["groups"]]
        weights, clip = {g: float(fixed["weights"][g]) for g in chosen}, float(fixed.get("clip", 0.0))
        log(f"\nchoice from {args.choice}: {chosen} {weights} clip {clip}")
    else:
        chosen, weights, clip = tune(dm, stats_sets, log)
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

    # baselines: standardized with the same tuning-side stats (drum-machines + demo)
    def base_emb(ds, key):
        ref = np.concatenate([dm.feats[key]] + ([demo.feats[key]] if demo else []))
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
    per_label(evaluate(embs[(fname, "sp")], sp), log, "sonicpi, audiosim-dsp")
    per_label(evaluate(embs[(fname, "sp")][keep], sp_drum), log, "sonicpi drum classes, audiosim-dsp")

    if args.write_params:
        out = HERE / "params.json"
        out.write_text(json.dumps(params, indent=1) + "\n")
        log(f"\nwrote {out}")


if __name__ == "__main__":
    main()
