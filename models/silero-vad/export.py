#!/usr/bin/env python3
"""Export silero-vad as a speech-activity model: silero-vad-v1.pt and .json.

    .venv/bin/python models/silero-vad/export.py [--out-dir models/silero-vad]

Run by `scripts/install-model.sh silero-vad`, which first installs the pinned wheel (wheel.txt,
--no-deps). Reads the package's TorchScript (silero_vad/data/silero_vad.jit, checked against
JIT_SHA256) without importing the package, wraps its 16 kHz network in model.py's module (the
whole-row loop over 32 ms windows inside the TorchScript), scripts it, saves it, loads it back
and checks it against the eager module. The sidecar's role is speech-activity: chunk profiles
use it to flag chunks without speech (`chunk --speech-model silero-vad`, and the speech preset
when it is installed); it makes no embeddings.
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import export_common  # noqa: E402

import torch  # noqa: E402

NAME = "silero-vad"
VERSION = "1"
PACKAGE = "silero-vad"
PACKAGE_VERSION = "6.2.3"
PACKAGE_URL = "https://pypi.org/project/silero-vad/6.2.3/"
JIT_FILE = "silero_vad/data/silero_vad.jit"
# sha256 of silero_vad/data/silero_vad.jit in the silero-vad 6.2.3 wheel from PyPI
JIT_SHA256 = "e1122837f4154c511485fe0b9c64455f7b929c96fbb8d79fbdb336383ebd3720"

M = export_common.load_model_source(HERE / "model.py", "models/silero-vad/model.py", "silero_vad_model")


def sidecar() -> dict:
    return {
        "name": NAME,
        "version": VERSION,
        "role": "speech-activity",
        "sample_rate": M.SAMPLE_RATE,
        "window_seconds": 4.0,
        "embedding_dim": 1,
        "normalized": False,
        "license": "MIT",
        "source": f"{PACKAGE} {PACKAGE_VERSION} from PyPI ({PACKAGE_URL}), file {JIT_FILE} (the package's "
                  f"TorchScript); wrapped by models/{NAME}/export.py of audiosim",
        "package": {"name": PACKAGE, "version": PACKAGE_VERSION, "url": PACKAGE_URL,
                    "repository": "https://github.com/snakers4/silero-vad", "file": JIT_FILE},
        "citation": ["Silero Team. Silero VAD: pre-trained enterprise-grade Voice Activity Detector (VAD), Number "
                     "Detector and Language Classifier. https://github.com/snakers4/silero-vad, 2024"],
        "weights_sha256": JIT_SHA256,
        "text_tower": None,
        "inputs": {
            "waveforms": "float32 [B, S]: mono PCM at 16 kHz, nominal range -1..1, rows zero-padded to S",
            "lengths": "int64 [B]: true length of each row in samples (0..S); samples past it are ignored",
            "output": "float32 [B, 1]: the fraction of the row's 32 ms windows (512 samples, the last "
                      f"zero-padded) whose speech probability is at least {M.THRESHOLD}; 0 for an empty row. "
                      "The probabilities are the package's model.audio_forward(x, 16000) exactly",
            "min_length": "1 sample",
        },
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(HERE))
    args = ap.parse_args()
    out = Path(args.out_dir)

    jit = export_common.package_file(PACKAGE, PACKAGE_VERSION, "silero_vad", JIT_FILE, JIT_SHA256, NAME)
    eager = M.SpeechActivity(torch.jit.load(str(jit), map_location="cpu")).eval()
    # rows of different lengths (one sample, under one window, several) and levels
    g = torch.Generator().manual_seed(1234)
    wav = torch.randn(3, 24000, generator=g) * torch.tensor([[0.3], [0.001], [0.5]])
    lengths = torch.tensor([24000, 700, 1])
    pt = export_common.save_checked(eager, out, NAME, VERSION, wav, lengths, 0.0)
    export_common.write_sidecar(pt, sidecar())


if __name__ == "__main__":
    main()
