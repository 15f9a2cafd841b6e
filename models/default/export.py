#!/usr/bin/env python3
"""Export audiosim-dsp v3 to TorchScript: models/default/audiosim-dsp-v3.pt and .json.

    .venv/bin/python models/default/export.py [--out-dir models/default]

Builds the module of model.py from params.json (written by tune.py; the devset is not needed
here), scripts it with torch.jit.script, saves it (no optimize_for_inference: such files did not
load in older libtorch), loads it back with torch.jit.load and checks it against the eager module.
Deterministic: running it twice writes byte-identical files (compare with sha256sum), from any
checkout path and working directory (the archive names model.py by its path in the repository).
"""

import argparse
import hashlib
import io
import json
import linecache
import sys
import types
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# TorchScript records the source file name of the scripted code in the archive; load model.py
# under a fixed, checkout-independent name so that every clone exports the same bytes.
SRC_NAME = "models/default/model.py"


def _load_model_module() -> types.ModuleType:
    src = (HERE / "model.py").read_text()
    linecache.cache[SRC_NAME] = (len(src), None, src.splitlines(keepends=True), SRC_NAME)
    mod = types.ModuleType("model")
    mod.__file__ = SRC_NAME
    sys.modules["model"] = mod
    exec(compile(src, SRC_NAME, "exec"), mod.__dict__)
    return mod


M = _load_model_module()

NAME = "audiosim-dsp"
VERSION = "3"


def build(params: dict) -> torch.jit.ScriptModule:
    torch.manual_seed(0)  # nothing is random; fixed anyway
    return torch.jit.script(M.AudiosimDSP(params).eval())


def sidecar(params: dict, dim: int) -> dict:
    return {
        "name": NAME,
        "version": VERSION,
        "sample_rate": M.SAMPLE_RATE,
        "window_seconds": params["window_seconds"],
        "embedding_dim": dim,
        "normalized": True,
        "license": "MIT",
        "source": "DSP features of the log-mel spectrogram (timbre, spectral shape, loudness envelope, "
                  "spectral flux), standardized and weighted; built from models/default in the audiosim "
                  "repository (model.py, tune.py, export.py), no learned weights.",
        "text_tower": None,
        "inputs": {
            "waveforms": "float32 [B, S]: mono PCM at sample_rate, nominal range -1..1 (any gain: the "
                         "model is level invariant), rows zero-padded to S",
            "lengths": "int64 [B]: true length of each row in samples (0..S); samples past it are ignored",
            "output": "float32 [B, embedding_dim], L2-normalized; compare with the dot product (cosine)",
            "min_length": "1 sample (shorter than 1 frame hop still gives a finite vector); silence gives a fixed finite vector",
        },
        "features": {"groups": params["groups"], "weights": params["weights"], "clip": params["clip"],
                     "n_fft": M.N_FFT, "hop": M.HOP, "n_mels": M.N_MELS, "floor_db": M.FLOOR_DB,
                     "active_db": M.ACTIVE_DB, "w_pow": M.W_POW, "spec_floor_db": M.SPEC_FLOOR_DB,
                     "onset_db": M.ONSET_DB, "env_floor_db": M.ENV_FLOOR_DB, "n_fine": M.N_FINE,
                     "fine_floor_db": M.FINE_FLOOR_DB},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--params", default=str(HERE / "params.json"))
    ap.add_argument("--out-dir", default=str(HERE))
    args = ap.parse_args()
    params = json.loads(Path(args.params).read_text())
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    scripted = build(params)
    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    pt = out / f"{NAME}-v{VERSION}.pt"
    pt.write_bytes(buf.getvalue())

    # load back and compare with the eager module on a few inputs
    loaded = torch.jit.load(str(pt), map_location="cpu")
    eager = M.AudiosimDSP(params).eval()
    g = torch.Generator().manual_seed(1234)
    wav = torch.randn(3, 44100, generator=g) * torch.tensor([[0.5], [0.01], [1.0]])
    lengths = torch.tensor([44100, 11025, 700])
    with torch.no_grad():
        a = loaded(wav, lengths)
        b = eager(wav, lengths)
    dim = int(a.shape[1])
    assert torch.allclose(a, b, atol=1e-5), float((a - b).abs().max())

    meta = sidecar(params, dim)
    js = out / f"{NAME}-v{VERSION}.json"
    js.write_text(json.dumps(meta, indent=2) + "\n")
    for f in (pt, js):
        print(f"{f}  {f.stat().st_size} bytes  sha256 {hashlib.sha256(f.read_bytes()).hexdigest()}")
    print(f"embedding_dim {dim}")


if __name__ == "__main__":
    main()
