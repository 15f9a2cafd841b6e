#!/usr/bin/env python3
"""Export the pretrained aisfx model to audiosim's TorchScript contract: aisfx-v1.pt and .json.

    .venv/bin/python models/aisfx/export.py [--out-dir models/aisfx]

Run by scripts/install-model.sh aisfx, after it installed the pinned wheel (wheel.txt, --no-deps).
Reads the checkpoint inside the installed wheel (aisfx/models/checkpoint.pth), checks its sha256,
loads it with torch.load(weights_only=True) and an allowlist of the two numpy globals its dataset
table needs (no code of the pickle runs), puts its EmbeddingNet weights into model.py's module
(the package's Essentia front end rebuilt in torch, blocking and pooling: see model.py), scripts
and saves it, loads it back and checks it against the eager module. The classifier heads of the
checkpoint (one per training dataset) are not part of the embedding and are left out.

Deterministic: running it twice writes byte-identical files, from any checkout path (the archive
names model.py by its path in the repository).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import export_common  # noqa: E402

NAME = "aisfx"
VERSION = "1"
PACKAGE_VERSION = "0.1.2"
CHECKPOINT_SHA256 = "499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5"
CITATION = ("A. B. Ma and A. Lerch, \"Representation Learning for the Automatic Indexing of Sound "
            "Effects Libraries\", Proceedings of the 23rd International Society for Music Information "
            "Retrieval Conference (ISMIR), Bengaluru, India, 2022, pp. 866-875. "
            "https://doi.org/10.5281/zenodo.7316800")


M = export_common.load_model_source(HERE / "model.py", "models/aisfx/model.py", "aisfx_model")


def load_checkpoint(path: Path):
    """(state_dict, dataset table) of the checkpoint, without running code from the pickle.

    The file is a pickled (OrderedDict of tensors, {dataset: (numpy int64 index, classes)}): the
    numpy scalars need numpy's scalar constructor and dtype classes, allowlisted here and nothing else."""
    from numpy._core.multiarray import scalar
    allowed = [(scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype(np.int64))]
    with torch.serialization.safe_globals(allowed):
        weights, datasets = torch.load(path, map_location="cpu", weights_only=True)
    return weights, datasets


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def essentia_mel_matrix() -> np.ndarray:
    """Essentia's MelBands(warpingFormula htkMel, weighting warping, normalize unit_sum) as a
    [bins, bands] matrix on the power spectrum. Its quirks, kept: band i spans bins
    round(f_i / df) .. round(f_{i+2} / df) inclusive, the triangle's weights are linear in mel,
    and each band's weights sum to 1. Matches essentia 2.1b6's matrix within 1e-6 (float32)."""
    bins = M.N_FFT // 2 + 1
    edges = mel_to_hz(np.linspace(hz_to_mel(M.F_MIN), hz_to_mel(M.F_MAX), M.N_MELS + 2))
    df = (M.SAMPLE_RATE / 2.0) / (bins - 1)
    matrix = np.zeros((M.N_MELS, bins))
    for band in range(M.N_MELS):
        low, mid, high = edges[band], edges[band + 1], edges[band + 2]
        first, last = int(low / df + 0.5), int(high / df + 0.5)
        for j in range(first, min(last + 1, bins)):
            f = j * df
            if low <= f < mid:
                matrix[band, j] = (hz_to_mel(f) - hz_to_mel(low)) / (hz_to_mel(mid) - hz_to_mel(low))
            elif mid <= f < high:
                matrix[band, j] = (hz_to_mel(high) - hz_to_mel(f)) / (hz_to_mel(high) - hz_to_mel(mid))
        total = matrix[band].sum()
        if total > 0:
            matrix[band] /= total
    return matrix.T


def build(weights) -> torch.nn.Module:
    model = M.AisfxEmbedder(torch.from_numpy(essentia_mel_matrix()))
    prefix = "embedding_net."
    net_weights = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    model.embedding_net.load_state_dict(net_weights, strict=True)
    return model.eval()


def sidecar() -> dict:
    return {
        "name": NAME,
        "version": VERSION,
        "sample_rate": M.SAMPLE_RATE,
        "window_seconds": 2.3,
        "embedding_dim": M.EMBEDDING_DIM,
        "normalized": True,
        "license": "CC-BY-4.0",
        # audiosim reads "source" as one string (lib/model/spec.cpp); the parts are in "package"
        "source": f"aisfx {PACKAGE_VERSION} from PyPI (https://pypi.org/project/aisfx/), file "
                  "aisfx/models/checkpoint.pth (model X-Sequential-CE) by Alison Bernice Ma and Alexander "
                  "Lerch; converted to TorchScript by audiosim's models/aisfx/export.py",
        "package": {"name": "aisfx", "version": PACKAGE_VERSION, "url": "https://pypi.org/project/aisfx/",
                    "file": "aisfx/models/checkpoint.pth", "repository": "https://github.com/alisonbma/aisfx"},
        "attribution": "aisfx pre-trained model (c) 2022 A. B. Ma and A. Lerch, licensed CC BY 4.0 "
                       "(https://creativecommons.org/licenses/by/4.0/); changed: converted to TorchScript, "
                       "with the package's front end, blocking and a mean over blocks added",
        "trust": "the checkpoint is a pickle: export.py checks its sha256 and loads it with "
                 "torch.load(weights_only=True), allowing only numpy's scalar and dtype globals; "
                 "audiosim loads only the TorchScript file",
        "citation": CITATION,
        "weights_sha256": CHECKPOINT_SHA256,
        "text_tower": None,
        "inputs": {
            "waveforms": "float32 [B, S]: mono PCM at 44100 Hz, rows zero-padded to S; clipped to -1..1 "
                         "as the package's loader does; not level invariant (the log-mel is absolute)",
            "lengths": "int64 [B]: true length of each row in samples (0..S); samples past it are ignored",
            "output": "float32 [B, 512], L2-normalized mean of the embeddings of the row's 2.3 s blocks "
                      "(100 frames of 1024 samples, hop 50 frames)",
            "min_length": "1 sample: a row shorter than one block (2.3 s) is one block padded with silent "
                          "frames; silence gives a fixed finite vector",
            "front_end": "Essentia's as in aisfx 0.1.2: 2048-sample symmetric Hann frames, hop 1024, first "
                         "centred on sample 0; 96 HTK mel bands 0-22050 Hz (unit sum); log10(1e4 x + 1) / "
                         "9.4578",
        },
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", default=str(HERE))
    args = parser.parse_args()
    out = Path(args.out_dir)

    checkpoint = export_common.package_file("aisfx", PACKAGE_VERSION, "aisfx", "aisfx/models/checkpoint.pth",
                                            CHECKPOINT_SHA256, NAME)
    weights, _datasets = load_checkpoint(checkpoint)
    eager = build(weights)
    # Load back and compare with the eager module: a block and a half, a padded row, one sample.
    generator = torch.Generator().manual_seed(1234)
    waveforms = torch.randn(3, 160000, generator=generator) * torch.tensor([[0.3], [0.05], [0.5]])
    lengths = torch.tensor([160000, 30000, 1])
    pt = export_common.save_checked(eager, out, NAME, VERSION, waveforms, lengths, 1e-6)
    export_common.write_sidecar(pt, sidecar())

if __name__ == "__main__":
    main()
