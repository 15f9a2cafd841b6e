"""silero-vad's 16 kHz network as audiosim's speech-activity contract (models/README.md).

    waveforms [B, S] float32 mono at 16 kHz (rows zero-padded) + lengths [B] int64
      -> per row, its own first `lengths[b]` samples, zero-padded to whole 512-sample windows
      -> each window with the 64 samples before it (zeros before the first), through the network
         with the recurrent state carried from window to window: the speech probability of every
         32 ms, exactly as the package's own model.audio_forward(x, 16000) gives it
      -> the fraction of the row's windows whose probability is at least THRESHOLD
    -> [B, 1] float32 in 0..1 (0 for an empty row)

The network is the package's TorchScript (silero_vad/data/silero_vad.jit), called through its
stateless `_model.forward(x, state)`: the package's own forward keeps state in module attributes,
which a model that several rows or threads share must not.
"""

from typing import List

import torch
from torch import Tensor, nn

SAMPLE_RATE = 16000
WINDOW = 512      # samples per probability at 16 kHz (the package's num_samples)
CONTEXT = 64      # samples of the previous window prepended (the package's context_size_samples)
THRESHOLD = 0.5   # the package's default speech threshold (get_speech_timestamps)


class SpeechActivity(nn.Module):
    def __init__(self, vad: torch.jit.ScriptModule):
        super().__init__()
        self.net = vad._model
        self.window = WINDOW
        self.context = CONTEXT
        self.threshold = THRESHOLD

    @torch.jit.export
    def probabilities(self, x: Tensor) -> Tensor:
        """x [1, S] at 16 kHz, S >= 1 -> [W] the speech probability of each 32 ms window."""
        pad = (self.window - x.shape[1] % self.window) % self.window
        x = torch.constant_pad_nd(x, [0, pad], 0.0)
        state = torch.zeros(2, 1, 128)
        context = torch.zeros(1, self.context)
        out: List[Tensor] = []
        for start in range(0, x.shape[1], self.window):
            window = torch.cat([context, x[:, start:start + self.window]], dim=1)
            p, state = self.net(window, state)
            out.append(p)
            context = window[:, -self.context:]
        return torch.cat(out, dim=1).squeeze(0)

    def forward(self, waveforms: Tensor, lengths: Tensor) -> Tensor:
        x = waveforms.to(torch.float32)
        rows: List[Tensor] = []
        for b in range(x.shape[0]):
            n = int(lengths[b].clamp(0, x.shape[1]))
            if n == 0:
                rows.append(torch.zeros(1))
                continue
            p = self.probabilities(x[b:b + 1, :n])
            rows.append((p >= self.threshold).to(torch.float32).mean().unsqueeze(0))
        return torch.stack(rows, dim=0)
