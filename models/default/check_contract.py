#!/usr/bin/env python3
"""Check that an exported audiosim model keeps the model contract (models/README.md).

    .venv/bin/python models/default/check_contract.py [MODEL.pt] [--device cpu|cuda] [--bench]

Loads the .pt with torch.jit.load (as the C++ side does) and its .json sidecar, and checks:
sidecar fields; output shape and dtype; finite outputs with norm ~1 on silence, full-scale noise,
1 sample, 50 ms, a zero length and a clipped square wave; determinism (same input twice); batch
invariance (a clip alone vs. in a batch with other clips of other lengths, zero-padded: max abs
difference < 1e-5); padding invariance (the same row padded to other widths, and garbage past
its length); gain invariance (a -6 dB and a -30 dB copy: cosine > 0.999). With --bench it also
measures speed on one CPU thread (batches of 2 s clips). Exits 1 when a check fails.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
FIELDS = ["name", "version", "sample_rate", "window_seconds", "embedding_dim", "normalized", "license",
          "source", "text_tower", "inputs"]


class Checker:
    def __init__(self):
        self.failed = 0

    def check(self, ok: bool, what: str, detail: str = ""):
        print(f"{'ok  ' if ok else 'FAIL'} {what}{(': ' + detail) if detail else ''}")
        if not ok:
            self.failed += 1


def tone(n, sr, f=440.0, amp=0.5):
    t = torch.arange(n, dtype=torch.float64) / sr
    return (amp * torch.sin(2 * math.pi * f * t) * torch.exp(-t * 8)).float()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="?", default=str(HERE / "audiosim-dsp-v4.pt"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bench", action="store_true", help="also measure x realtime on one CPU thread")
    args = ap.parse_args()
    c = Checker()
    dev = torch.device(args.device)

    meta = json.loads(Path(args.model).with_suffix(".json").read_text())
    c.check(all(k in meta for k in FIELDS), "sidecar fields", ", ".join(k for k in FIELDS if k not in meta))
    c.check(meta["normalized"] is True and meta["text_tower"] is None, "normalized true, no text tower")
    sr, dim = int(meta["sample_rate"]), int(meta["embedding_dim"])
    win = int(round(meta["window_seconds"] * sr))

    m = torch.jit.load(args.model, map_location=dev).eval()

    def run(w, lengths):
        with torch.no_grad():
            return m(w.to(dev), lengths.to(dev)).cpu()

    def one(x):
        return run(x.unsqueeze(0), torch.tensor([x.numel()]))[0]

    g = torch.Generator().manual_seed(7)
    noise = torch.rand(win, generator=g) * 2 - 1                     # full-scale noise
    sq = torch.sign(torch.sin(torch.arange(win) * 2 * math.pi * 110 / sr)).float()  # clipped square
    inputs = {
        "silence 2 s": torch.zeros(win),
        "full-scale noise": noise,
        "1 sample": torch.tensor([0.7]),
        "1 zero sample": torch.zeros(1),
        "50 ms tone": tone(int(0.05 * sr), sr),
        "clipped square": sq,
        "20 s tone": tone(20 * sr, sr),
    }
    for name, x in inputs.items():
        y = one(x)
        ok = y.shape == (dim,) and y.dtype == torch.float32 and bool(torch.isfinite(y).all())
        c.check(ok and abs(float(y.norm()) - 1) < 1e-4, f"finite, norm 1: {name}", f"norm {float(y.norm()):.6f}")
    y0 = run(torch.zeros(2, 100), torch.tensor([0, 100]))
    c.check(bool(torch.isfinite(y0).all()), "zero length row is finite")

    # shape and determinism
    clips = [tone(win, sr, 220), noise[: win // 3] * 0.1, tone(int(0.3 * sr), sr, 1000), tone(1234, sr, 3000)]
    S = win
    batch = torch.zeros(len(clips), S)
    lengths = torch.tensor([x.numel() for x in clips])
    for i, x in enumerate(clips):
        batch[i, : x.numel()] = x
    a = run(batch, lengths)
    b = run(batch, lengths)
    c.check(a.shape == (len(clips), dim) and a.dtype == torch.float32, "output shape [B, D] float32",
            str(tuple(a.shape)))
    c.check(torch.equal(a, b), "deterministic (same input twice)")

    # batch invariance: each clip alone (tensor exactly its length) vs. in the padded batch
    worst = max(float((one(x) - a[i]).abs().max()) for i, x in enumerate(clips))
    c.check(worst < 1e-5, "batch invariance (alone vs. padded batch of other lengths)", f"max abs diff {worst:.2e}")
    # order in the batch
    perm = torch.tensor([2, 0, 3, 1])
    worst = float((run(batch[perm], lengths[perm]) - a[perm]).abs().max())
    c.check(worst < 1e-5, "batch order invariance", f"max abs diff {worst:.2e}")

    # padding invariance: wider padding, and garbage past the length
    wide = torch.zeros(len(clips), S + 12345)
    wide[:, :S] = batch
    worst = float((run(wide, lengths) - a).abs().max())
    c.check(worst < 1e-5, "padding invariance (wider zero padding)", f"max abs diff {worst:.2e}")
    junk = batch.clone()
    for i, n in enumerate(lengths.tolist()):
        junk[i, n:] = torch.rand(S - n, generator=g)
    worst = float((run(junk, lengths) - a).abs().max())
    c.check(worst < 1e-5, "padding invariance (non-zero samples past the length are ignored)", f"max abs diff {worst:.2e}")

    # gain invariance
    for db in (-6.0, -30.0):
        k = 10 ** (db / 20)
        cos = min(float(one(x * k) @ one(x)) for x in clips)
        c.check(cos > 0.999, f"gain invariance ({db:+.0f} dB copy)", f"min cosine {cos:.6f}")

    if args.bench:
        torch.set_num_threads(1)
        B = 32
        w = torch.randn(B, int(2.0 * sr)) * 0.3
        ln = torch.full((B,), w.shape[1], dtype=torch.long)
        with torch.no_grad():
            for _ in range(3):
                m(w, ln)
            wall, cpu = [], []
            for _ in range(20):
                t0, c0 = time.perf_counter(), time.process_time()
                m(w, ln)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        audio = B * 2.0
        for name, ts in (("wall", sorted(wall)), ("cpu", sorted(cpu))):
            print(f"speed ({name} time): batch {B} x 2 s, 1 CPU thread: median {ts[len(ts) // 2] * 1000:.1f} ms = "
                  f"{audio / ts[len(ts) // 2]:.0f}x realtime, best {audio / ts[0]:.0f}x realtime")
    print("all checks passed" if c.failed == 0 else f"{c.failed} check(s) failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
