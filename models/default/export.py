#!/usr/bin/env python3
"""Export audiosim-dsp v4 to TorchScript: models/default/audiosim-dsp-v4.pt and .json.

    .venv/bin/python models/default/export.py [--out-dir models/default]

Builds the module of model.py from params.json (written by tune.py; the devset is not needed
here), scripts it with torch.jit.script, saves it (no optimize_for_inference: such files did not
load in older libtorch), loads it back with torch.jit.load and checks it against the eager module.
Deterministic: running it twice writes byte-identical files (compare with sha256sum), from any
checkout path and working directory (the archive names model.py by its path in the repository).
"""

import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import export_common  # noqa: E402

# TorchScript records the source file name of the scripted code in the archive: model.py is
# compiled under its path in the repository, so that every clone exports the same bytes.
M = export_common.load_model_source(HERE / "model.py", "models/default/model.py", "model")

NAME = "audiosim-dsp"
VERSION = "4"


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

    eager = M.AudiosimDSP(params).eval()
    # load back and compare with the eager module on a few inputs
    g = torch.Generator().manual_seed(1234)
    wav = torch.randn(3, 44100, generator=g) * torch.tensor([[0.5], [0.01], [1.0]])
    lengths = torch.tensor([44100, 11025, 700])
    pt = export_common.save_checked(eager, out, NAME, VERSION, wav, lengths, 1e-5, scripted=build(params))
    with torch.no_grad():
        dim = int(eager(wav[:1], lengths[:1]).shape[1])
    export_common.write_sidecar(pt, sidecar(params, dim))
    print(f"embedding_dim {dim}")


if __name__ == "__main__":
    main()
