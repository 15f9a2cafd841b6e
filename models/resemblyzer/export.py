#!/usr/bin/env python3
"""Export Resemblyzer's speaker encoder to TorchScript: resemblyzer-v1.pt and .json.

    .venv/bin/python models/resemblyzer/export.py [--out-dir models/resemblyzer]

Run by `scripts/install-model.sh resemblyzer`, which first installs the pinned wheel
(wheel.txt, --no-deps) and librosa (requirements.txt). Reads the weights from the installed
package (resemblyzer/pretrained.pt, checked against WEIGHTS_SHA256) without importing it (its
__init__ imports webrtcvad, which the export does not need), builds model.py's module with
librosa's Hann window and mel matrix as buffers, scripts it with torch.jit.script, saves it, loads
it back and checks it against the eager module. Deterministic: the same bytes on every run and
from any checkout (model.py is compiled under a fixed name, as models/default/export.py does).
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import export_common  # noqa: E402

# TorchScript writes an LSTM's constants in string-hash order: a fixed seed for the same bytes
export_common.fixed_hash_seed()

import torch  # noqa: E402

NAME = "resemblyzer"
VERSION = "1"
PACKAGE = "Resemblyzer"
PACKAGE_VERSION = "0.1.4"
PACKAGE_URL = "https://pypi.org/project/Resemblyzer/0.1.4/"
WEIGHTS_FILE = "resemblyzer/pretrained.pt"
# sha256 of resemblyzer/pretrained.pt in the Resemblyzer 0.1.4 wheel from PyPI
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"


M = export_common.load_model_source(HERE / "model.py", "models/resemblyzer/model.py", "resemblyzer_model")


def librosa_front_end() -> tuple:
    """librosa's own window and mel matrix for the package's melspectrogram call."""
    import librosa
    window = torch.from_numpy(librosa.filters.get_window("hann", M.N_FFT, fftbins=True))
    mel = torch.from_numpy(librosa.filters.mel(sr=M.SAMPLE_RATE, n_fft=M.N_FFT, n_mels=M.N_MELS))
    return window, mel, librosa.__version__


def build(weights: Path, window: torch.Tensor, mel: torch.Tensor) -> M.ResemblyzerEncoder:
    model = M.ResemblyzerEncoder(window, mel)
    state = torch.load(weights, map_location="cpu", weights_only=True)["model_state"]
    # similarity_weight/bias are GE2E's loss scale and offset, used only in training.
    state = {k: v for k, v in state.items() if not k.startswith("similarity_")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # the buffers are ours; every weight of the network must come from the checkpoint
    missing = [k for k in missing if k not in ("window", "mel_basis")]
    if missing or unexpected:
        export_common.fail(f"pretrained.pt does not fit the network: missing {missing}, unexpected {unexpected}")
    return model.eval()


def sidecar(librosa_version: str) -> dict:
    return {
        "name": NAME,
        "version": VERSION,
        "sample_rate": M.SAMPLE_RATE,
        "window_seconds": 4.0,
        "embedding_dim": M.EMBEDDING,
        "normalized": True,
        "license": "Apache-2.0",
        # `source` is a string for audiosim (lib/model/spec.cpp); `package` has the same as fields
        "source": f"{PACKAGE} {PACKAGE_VERSION} from PyPI ({PACKAGE_URL}), file {WEIGHTS_FILE}; exported by "
                  f"models/{NAME}/export.py of audiosim with librosa {librosa_version}'s window and mel matrix",
        "package": {"name": PACKAGE, "version": PACKAGE_VERSION, "url": PACKAGE_URL,
                    "repository": "https://github.com/resemble-ai/Resemblyzer", "file": WEIGHTS_FILE},
        "citation": [
            "Li Wan, Quan Wang, Alan Papir, Ignacio Lopez Moreno. Generalized End-to-End Loss for Speaker "
            "Verification. ICASSP 2018. arXiv:1710.10467",
            "Corentin Jemine. Resemblyzer (Resemble AI), https://github.com/resemble-ai/Resemblyzer",
        ],
        "weights_sha256": WEIGHTS_SHA256,
        "text_tower": None,
        "inputs": {
            "waveforms": "float32 [B, S]: mono PCM at 16 kHz, nominal range -1..1, rows zero-padded to S; "
                         "speech (the model is a speaker encoder); a row quieter than -30 dBFS RMS is raised "
                         "to it as the package's preprocess_wav does, a louder one is used as it is",
            "lengths": "int64 [B]: true length of each row in samples (0..S); samples past it are ignored",
            "output": "float32 [B, 256], L2-normalized (non-negative: ReLU outputs); compare with the dot "
                      "product (cosine); the mean of the row's 1.6 s partial utterances as in embed_utterance",
            "min_length": "1 sample (a row shorter than 1.6 s is zero-padded to one partial, as the package does); "
                          "silence gives a fixed finite vector",
            "not_included": "preprocess_wav's resampling (audiosim resamples) and its webrtcvad silence trim",
        },
        "front_end": {"n_fft": M.N_FFT, "hop": M.HOP, "window": "hann (periodic)", "center": True,
                      "pad_mode": "constant", "power": 2.0, "n_mels": M.N_MELS, "mel": "slaney",
                      "partial_frames": M.PARTIAL_FRAMES, "partial_step_frames": M.FRAME_STEP,
                      "min_coverage": M.MIN_COVERAGE_NUM / M.MIN_COVERAGE_DEN,
                      "volume_target_dbfs": M.TARGET_DBFS, "volume_increase_only": True},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(HERE))
    args = ap.parse_args()
    out = Path(args.out_dir)

    weights = export_common.package_file(PACKAGE, PACKAGE_VERSION, "resemblyzer", WEIGHTS_FILE, WEIGHTS_SHA256, NAME)
    window, mel, librosa_version = librosa_front_end()
    eager = build(weights, window, mel)
    # load back as the C++ side does and compare with the eager module: rows of different
    # lengths (1 sample, under one partial, several partials) and gains (one quiet row)
    g = torch.Generator().manual_seed(1234)
    wav = torch.randn(3, 48000, generator=g) * torch.tensor([[0.3], [0.001], [0.5]])
    lengths = torch.tensor([48000, 9000, 1])
    pt = export_common.save_checked(eager, out, NAME, VERSION, wav, lengths, 1e-5)
    export_common.write_sidecar(pt, sidecar(librosa_version))

if __name__ == "__main__":
    main()
