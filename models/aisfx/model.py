"""aisfx (Ma & Lerch, ISMIR 2022) as one TorchScript module: audiosim's model contract
(models/README.md) around the package's front end and CNN.

    forward(waveforms [B, S] float32 at 44.1 kHz, lengths [B] int64) -> [B, 512] float32, unit norm

Per row, exactly what the package computes for a file (aisfx 0.1.2, inference.main with its
defaults: the Essentia spectrogram, 'original' normalization, 0.5 block hop, partial blocks dropped):
  1. clip to [-1, 1]: Essentia's EasyLoader (replayGain -6 dB = gain 1) clips what it loads;
  2. frames of 2048 samples, hop 1024, the first centred on sample 0 (Essentia's FrameCutter,
     startFromZero false: 1024 zeros before the row, zeros after it), while a frame starts
     before the row's end: T = floor((N + 2047) / 1024) frames;
  3. symmetric Hann window (Essentia's Windowing, normalized false; its zero-phase rotation
     leaves the magnitude alone), |rfft|^2, Essentia's HTK mel bands (96, 0..22050 Hz,
     triangles in the mel domain, each band summing to 1: the matrix comes from export.py);
  4. log10(1e4 * bands + 1), divided by 9.457798957824707 (the paper's max over its datasets);
  5. blocks of 100 frames (2.3 s), hop 50 frames; a partial last block is dropped, and a row
     shorter than one block is one block padded with zero frames (preprocessing.blocking);
  6. the EmbeddingNet of the package's CrossNet (4 conv blocks, mean over mel, max over time)
     on every block.
Then what the package leaves to its user: the mean of the row's block embeddings, L2-normalized.
Rows shorter than 51 frames (1.16 s), where the package's compute_hopSize asserts, get the same
padded single block as rows of 51 to 99 frames.

A row depends only on its first lengths[i] samples: each row is cut to its length before its
front end, and the CNN sees every block separately (eval-mode batch norm), so padding, batch size
and batch neighbours change nothing beyond float rounding.
"""

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
N_MELS = 96
F_MIN, F_MAX = 0.0, 22050.0
LOG_SCALE = 1.0e4                 # shift_scale_log: log10(1e4 * x + 1)
NORM_MAX = 9.457798957824707      # spectrogram_normalize('original'): (spec - 0) / (max - 0)
BLOCK_FRAMES = 100                # EMB_BLOCK_LENGTH
BLOCK_HOP = 50                    # round(100 * emb_hop_size 0.5)
CNN_BATCH = 32                    # blocks per CNN call: bounds memory for long rows (a 1 h row has 3,100 blocks)
EMBEDDING_DIM = 512


class Conv3x3(nn.Module):
    """nn.Conv2d(in, out, 3, padding=1, bias=False) by hand: nn.Conv2d's TorchScript code lists
    its constants in set order, which changes from run to run and would make the export's bytes
    differ (the same holds for nn.BatchNorm2d below)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, None, 1, 1)


class BatchNormEval(nn.Module):
    """nn.BatchNorm2d(channels) in eval mode (running statistics, eps 1e-5), same state dict keys."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, 1e-5)


class ConvBlock(nn.Module):
    """Two 3x3 conv + batch norm + ReLU, then optional 2x2 max pooling (cnn2d.ConvBlock)."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool):
        super().__init__()
        self.conv1 = Conv3x3(in_channels, out_channels)
        self.conv2 = Conv3x3(out_channels, out_channels)
        self.bn1 = BatchNormEval(out_channels)
        self.bn2 = BatchNormEval(out_channels)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        if self.pool:  # the package's last block pools with kernel (1, 1): the identity
            x = F.max_pool2d(x, kernel_size=2)
        return x


class EmbeddingNet(nn.Module):
    """cnn2d.EmbeddingNet('max', 3, 1, 64): blocks [N, frames, mels] -> [N, 512]."""

    def __init__(self):
        super().__init__()
        self.conv_block1 = ConvBlock(1, 64, True)
        self.conv_block2 = ConvBlock(64, 128, True)
        self.conv_block3 = ConvBlock(128, 256, True)
        self.conv_block4 = ConvBlock(256, 512, False)

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        x = blocks.unsqueeze(1)
        x = self.conv_block4(self.conv_block3(self.conv_block2(self.conv_block1(x))))
        x = x.mean(dim=3)           # over mel bands
        return x.max(dim=2).values  # over time


class AisfxEmbedder(nn.Module):
    def __init__(self, mel_matrix: torch.Tensor):
        """mel_matrix: [N_FFT // 2 + 1, N_MELS], power spectrum bins -> mel bands."""
        super().__init__()
        assert tuple(mel_matrix.shape) == (N_FFT // 2 + 1, N_MELS)
        n = torch.arange(N_FFT, dtype=torch.float64)
        window = 0.5 - 0.5 * torch.cos(2.0 * torch.pi * n / (N_FFT - 1))  # symmetric, as Essentia's
        self.register_buffer("window", window.to(torch.float32))
        self.register_buffer("mel_matrix", mel_matrix.to(torch.float32).contiguous())
        self.embedding_net = EmbeddingNet()
        # TorchScript reads module attributes, not the globals above
        self.n_fft = N_FFT
        self.hop = HOP
        self.log_scale = LOG_SCALE
        self.norm_max = NORM_MAX
        self.block_frames = BLOCK_FRAMES
        self.block_hop = BLOCK_HOP
        self.embedding_dim = EMBEDDING_DIM
        self.cnn_batch = CNN_BATCH

    def log_mel(self, x: torch.Tensor) -> torch.Tensor:
        """One row's samples [N] -> normalized log-mel frames [T, N_MELS]."""
        n = x.numel()
        frames = (n + 2 * self.hop - 1) // self.hop  # frames start at -hop, 0, hop, ... while before n
        padded = torch.cat([x.new_zeros(self.hop), x, x.new_zeros(frames * self.hop - n)])
        spectrum = torch.fft.rfft(padded.unfold(0, self.n_fft, self.hop) * self.window)
        power = spectrum.real * spectrum.real + spectrum.imag * spectrum.imag
        bands = torch.matmul(power, self.mel_matrix)
        return torch.log10(bands * self.log_scale + 1.0) / self.norm_max

    def blocks(self, spec: torch.Tensor) -> torch.Tensor:
        """[T, N_MELS] -> [nb, BLOCK_FRAMES, N_MELS]: full blocks only, or one zero-padded block."""
        t = spec.size(0)
        if t < self.block_frames:
            return F.pad(spec, [0, 0, 0, self.block_frames - t]).unsqueeze(0)
        return spec.unfold(0, self.block_frames, self.block_hop).transpose(1, 2)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        rows = waveforms.size(0)
        width = waveforms.size(1)
        row_blocks: List[torch.Tensor] = []
        counts: List[int] = []
        for i in range(rows):
            n = min(max(int(lengths[i]), 0), width)
            x = waveforms[i, :n].to(torch.float32).clamp(-1.0, 1.0)
            blocks = self.blocks(self.log_mel(x))
            row_blocks.append(blocks)
            counts.append(blocks.size(0))
        if rows == 0:
            return waveforms.new_zeros(0, self.embedding_dim)
        all_blocks = torch.cat(row_blocks, dim=0)
        parts: List[torch.Tensor] = []
        for start in range(0, all_blocks.size(0), self.cnn_batch):
            parts.append(self.embedding_net(all_blocks[start:start + self.cnn_batch]))
        embeddings = torch.cat(parts, dim=0)
        owner = torch.repeat_interleave(torch.arange(rows, device=waveforms.device),
                                        torch.tensor(counts, device=waveforms.device))
        sums = embeddings.new_zeros(rows, embeddings.size(1)).index_add_(0, owner, embeddings)
        means = sums / torch.tensor(counts, dtype=embeddings.dtype, device=embeddings.device).unsqueeze(1)
        return F.normalize(means, p=2.0, dim=1)
