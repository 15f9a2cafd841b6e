#!/usr/bin/env python3
"""Export a randomly initialized audio encoder of CLAP's size, for speed tests of `audiosim embed`.

Not a useful model (random weights): it costs what CLAP's audio tower costs, so GPU and CPU
throughput measured with it predict what a real CLAP-class model would give.

Architecture (a plain conv + transformer stack, HTSAT-tiny's width and compute class):
  48 kHz mono -> zero past `lengths` -> STFT (n_fft 1024, hop 480: 100 frames/s, as CLAP)
  -> 64-band mel -> log -> Conv1d 64->256 (k5) -> Conv1d 256->512 (k3, stride 2: 50 tokens/s)
  -> sinusoidal positions -> 9 pre-LN transformer blocks (d 512, 8 heads, MLP 2048) with a key
  padding mask -> LayerNorm -> mean over valid tokens -> projection 512->512->512 (as CLAP).
About 29 M parameters; ~29 GFLOPs for one 10 s clip (printed, counted with
torch.utils.flop_counter.FlopCounterMode; the FFT is not counted there and is < 1 %).

Model contract (models/README.md): forward(waveforms float32 [B, S] at 48000 Hz, lengths int64
[B]) -> [B, 512]; padding-invariant: every frame that depends on samples past a row's length, and
every layer's output past the row's valid frames, is zeroed, so a row gives the same vector alone
or in a padded batch. Saved with torch.jit.save after torch.jit.script (no
optimize_for_inference). Writes PREFIX.pt and PREFIX.json (the sidecar).

  .venv/bin/python bench/make_clap_sized_model.py --out /tmp/clap-sized/clap-sized-random-v1
  build/bin/audiosim models check /tmp/clap-sized/clap-sized-random-v1.json
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

SR = 48000
N_FFT = 1024
HOP = 480
N_MELS = 64
D = 512
HEADS = 8
LAYERS = 9
MLP = 2048
OUT = 512


def mel_matrix(sr, n_fft, n_mels, fmin=50.0, fmax=14000.0):
    """HTK-style triangular mel filterbank, [n_fft // 2 + 1, n_mels]."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fb = np.zeros((n_fft // 2 + 1, n_mels), dtype=np.float32)
    for m in range(n_mels):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[:, m] = np.maximum(0.0, np.minimum(up, down))
    return torch.from_numpy(fb)


class Block(nn.Module):
    heads: torch.jit.Final[int]
    width: torch.jit.Final[int]

    def __init__(self):
        super().__init__()
        self.heads = HEADS
        self.width = D
        self.norm1 = nn.LayerNorm(D)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.norm2 = nn.LayerNorm(D)
        self.fc1 = nn.Linear(D, MLP)
        self.fc2 = nn.Linear(MLP, D)

    def forward(self, x: Tensor, attend: Tensor) -> Tensor:
        # x [B, T, D]; attend [B, 1, 1, T] bool, True where the key is a valid token
        b, t, _ = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, self.width // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, self.width))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ClapSizedEncoder(nn.Module):
    n_fft: torch.jit.Final[int]
    hop: torch.jit.Final[int]
    width: torch.jit.Final[int]

    def __init__(self):
        super().__init__()
        self.n_fft = N_FFT
        self.hop = HOP
        self.width = D
        self.register_buffer("window", torch.hann_window(N_FFT))
        self.register_buffer("mel", mel_matrix(SR, N_FFT, N_MELS))
        self.conv1 = nn.Conv1d(N_MELS, 256, 5, padding=2)
        self.conv2 = nn.Conv1d(256, D, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(D)
        self.head1 = nn.Linear(D, OUT)
        self.head2 = nn.Linear(OUT, OUT)

    def forward(self, waveforms: Tensor, lengths: Tensor) -> Tensor:
        b, s = waveforms.shape
        lengths = lengths.clamp(0, s)
        idx = torch.arange(s, device=waveforms.device)
        x = waveforms * (idx.unsqueeze(0) < lengths.unsqueeze(1)).to(waveforms.dtype)
        # constant zero padding (not reflect), so a frame past the end sees zeros whatever S is
        x = F.pad(x, (self.n_fft // 2, self.n_fft // 2))
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=False, return_complex=True)
        power = spec.real.pow(2) + spec.imag.pow(2)                      # [B, F, T]
        logmel = torch.log(torch.matmul(power.transpose(1, 2), self.mel) + 1e-6)  # [B, T, M]
        logmel = (logmel + 5.0) / 5.0
        frames = torch.div(lengths, self.hop, rounding_mode="floor") + 1       # valid frames per row
        t = logmel.shape[1]
        valid = (torch.arange(t, device=x.device).unsqueeze(0) < frames.unsqueeze(1)).to(x.dtype)
        h = logmel.transpose(1, 2) * valid.unsqueeze(1)                  # [B, M, T]
        h = F.gelu(self.conv1(h)) * valid.unsqueeze(1)
        h = F.gelu(self.conv2(h))                                        # [B, D, T2]
        t2 = h.shape[2]
        tokens = torch.div(frames + 1, 2, rounding_mode="floor")         # ceil(frames / 2)
        valid2 = torch.arange(t2, device=x.device).unsqueeze(0) < tokens.unsqueeze(1)  # [B, T2] bool
        h = h.transpose(1, 2) * valid2.unsqueeze(2).to(h.dtype)          # [B, T2, D]
        pos = torch.arange(t2, device=x.device, dtype=h.dtype).unsqueeze(1)
        div = torch.exp(torch.arange(0, self.width, 2, device=x.device, dtype=h.dtype) * (-math.log(10000.0) / self.width))
        pe = torch.cat([torch.sin(pos * div), torch.cos(pos * div)], dim=1)  # [T2, D]
        h = h + pe.unsqueeze(0)
        attend = valid2.unsqueeze(1).unsqueeze(2)                        # [B, 1, 1, T2]
        for block in self.blocks:
            h = block(h, attend)
        h = self.norm(h)
        w = valid2.to(h.dtype).unsqueeze(2)
        pooled = (h * w).sum(1) / w.sum(1).clamp_min(1.0)
        return self.head2(F.gelu(self.head1(pooled)))


def count_flops(model):
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.randn(1, 10 * SR) * 0.1
    lengths = torch.tensor([10 * SR])
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, lengths)
    return counter.get_total_flops()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/clap-sized/clap-sized-random-v1"),
                    help="output prefix: writes PREFIX.pt and PREFIX.json")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    model = ClapSizedEncoder().eval()
    params = sum(p.numel() for p in model.parameters())
    flops = count_flops(model)
    print(f"parameters: {params / 1e6:.1f} M; FLOPs for one 10 s clip at 48 kHz "
          f"(FlopCounterMode: matmul, conv, attention; FFT not counted): {flops / 1e9:.1f} GFLOPs")

    scripted = torch.jit.script(model)
    # quick self-check: padding invariance and agreement of the scripted module
    with torch.no_grad():
        a = torch.randn(SR * 3) * 0.3
        b = torch.randn(SR // 3) * 0.3
        batch = torch.zeros(2, SR * 3)
        batch[0] = a
        batch[1, : b.numel()] = b
        out = scripted(batch, torch.tensor([a.numel(), b.numel()]))
        alone = scripted(b.unsqueeze(0), torch.tensor([b.numel()]))
        eager = model(batch, torch.tensor([a.numel(), b.numel()]))
        diff_pad = (out[1] - alone[0]).abs().max().item()
        diff_script = (out - eager).abs().max().item()
    print(f"self-check: alone vs padded batch max |diff| {diff_pad:.2e}; scripted vs eager {diff_script:.2e}")
    if diff_pad > 1e-4 or not torch.isfinite(out).all():
        print("error: the model is not padding-invariant", file=sys.stderr)
        return 1

    args.out.parent.mkdir(parents=True, exist_ok=True)
    pt = args.out.with_name(args.out.name + ".pt")
    sidecar = args.out.with_name(args.out.name + ".json")
    torch.jit.save(scripted, str(pt))
    meta = {
        "name": "clap-sized-random",
        "version": "1",
        "sample_rate": SR,
        "window_seconds": 10.0,
        "embedding_dim": OUT,
        "normalized": False,
        "license": "test model, random weights",
        "source": "bench/make_clap_sized_model.py",
        "text_tower": None,
        "inputs": {
            "waveforms": "float32 [B, S]: mono PCM at 48000 Hz, rows zero-padded to S",
            "lengths": "int64 [B]: true length of each row in samples; samples past it are ignored",
            "output": "float32 [B, 512], not normalized; random weights: for speed tests only",
        },
        "size": {"parameters": params, "gflops_per_10s_clip": round(flops / 1e9, 2),
                 "layers": LAYERS, "width": D, "heads": HEADS, "tokens_per_second": SR / HOP / 2},
    }
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {pt} ({pt.stat().st_size / 1e6:.1f} MB) and {sidecar}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
