"""Resemblyzer's GE2E speaker encoder with its front end, as one TorchScript module.

audiosim's model contract (models/README.md): forward(waveforms [B, S] float32 at 16 kHz,
lengths [B] int64) -> [B, 256] float32, L2-normalized. Each row goes through what the package
(Resemblyzer 0.1.4) does between a 16 kHz waveform and VoiceEncoder.embed_utterance's vector:

1. normalize_volume(wav, -30 dBFS, increase_only=True), the part of preprocess_wav that is a
   pure function of the samples. Kept: the LSTM is not level invariant, and the package never
   feeds it a quieter clip than -30 dBFS RMS.
2. embed_utterance's partial utterances: 160 mel frames (1.6 s) every 77 frames (rate 1.3 per
   second), the last one dropped when less than 75 % of it is audio (unless it is the only one),
   the waveform zero-padded to the end of the last partial.
3. wav_to_mel_spectrogram: librosa.feature.melspectrogram with n_fft 400 (25 ms), hop 160
   (10 ms), a periodic Hann window, centred frames zero-padded at both ends (librosa >= 0.10's
   pad_mode "constant"), power 2, 40 Slaney mel bands. The window and the mel matrix are
   librosa's own arrays, stored as buffers by export.py. Not a log-mel: the package feeds power.
4. The encoder: a 3-layer LSTM (256), the last layer's final hidden state, Linear 256 -> 256,
   ReLU, L2 norm per partial; the row's vector is the L2-normalized mean of its partials.

Not inside: preprocess_wav's resampling (audiosim's lib/audio resamples to 16 kHz) and its
trim_long_silences (webrtcvad, a C library with no torch equivalent): silences longer than
about 0.2 s are not cut out here, so a chunk with long pauses gets a somewhat different vector
from the package's preprocess_wav + embed_utterance (README.md measures how much).
"""

from typing import List

import torch
from torch import nn

SAMPLE_RATE = 16000
N_FFT = 400             # mel_window_length 25 ms
HOP = 160               # mel_window_step 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160    # partials_n_frames: 1.6 s
# embed_utterance(rate=1.3): frame_step = round((16000 / 1.3) / 160) = round(76.9) = 77
FRAME_STEP = 77
# embed_utterance(min_coverage=0.75), as the fraction 3/4 so that the test is exact in integers
MIN_COVERAGE_NUM = 3
MIN_COVERAGE_DEN = 4
TARGET_DBFS = -30.0     # audio_norm_target_dBFS
HIDDEN = 256
LAYERS = 3
EMBEDDING = 256


class ResemblyzerEncoder(nn.Module):
    def __init__(self, window: torch.Tensor, mel_basis: torch.Tensor):
        super().__init__()
        # Names as in resemblyzer.VoiceEncoder, so that pretrained.pt's state dict loads as is.
        self.lstm = nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, EMBEDDING)
        self.relu = nn.ReLU()
        # TorchScript reads no module globals: the constants the methods use are attributes.
        self.n_fft, self.hop, self.partial_frames, self.frame_step = N_FFT, HOP, PARTIAL_FRAMES, FRAME_STEP
        self.coverage_num, self.coverage_den = MIN_COVERAGE_NUM, MIN_COVERAGE_DEN
        self.embedding = EMBEDDING
        self.target_rms: float = 10.0 ** (TARGET_DBFS / 20.0)  # -30 dBFS as an RMS of -1..1 samples
        # librosa's arrays: the float64 periodic Hann window (librosa multiplies the float32
        # frames by it in float64 before the FFT) and the float32 [40, 201] Slaney mel matrix.
        self.register_buffer("window", window.to(torch.float64))
        self.register_buffer("mel_basis", mel_basis.to(torch.float32))

    def partial_starts(self, n: int) -> List[int]:
        """First mel frame of each partial utterance of an n-sample waveform, exactly as
        VoiceEncoder.compute_partial_slices (always at least one)."""
        hop, frames, step = self.hop, self.partial_frames, self.frame_step
        n_frames = (n + 1 + hop - 1) // hop                 # ceil((n + 1) / samples_per_frame)
        steps = max(1, n_frames - frames + step + 1)
        starts: List[int] = []
        for start in range(0, steps, step):
            starts.append(start)
        covered = n - starts[-1] * hop                      # audio samples in the last partial
        if covered * self.coverage_den < self.coverage_num * frames * hop and len(starts) > 1:
            starts = starts[:-1]
        return starts

    def normalize_volume(self, wav: torch.Tensor) -> torch.Tensor:
        """Raise a quiet row to -30 dBFS RMS; leave a louder one (and silence) as it is."""
        if wav.numel() == 0:
            return wav
        rms = torch.sqrt(torch.mean(wav.to(torch.float64) ** 2))
        if float(rms) == 0.0:
            return wav  # the package would multiply by inf here; silence stays silence
        gain = self.target_rms / rms
        if float(gain) <= 1.0:
            return wav
        return (wav.to(torch.float64) * gain).to(torch.float32)

    def mel_frames(self, wav: torch.Tensor) -> torch.Tensor:
        """[frames, 40] power mel spectrogram of a 1-D waveform, as librosa computes it."""
        spec = torch.stft(wav.to(torch.float64), self.n_fft, self.hop, self.n_fft, self.window, center=True,
                          pad_mode="constant", normalized=False, onesided=True, return_complex=True)
        # librosa stores the float64 FFT as complex64, then takes |.|^2 and the mel product in float32
        power = spec.to(torch.complex64).abs() ** 2
        return torch.matmul(self.mel_basis, power).transpose(0, 1)

    def partials(self, row: torch.Tensor, n: int) -> torch.Tensor:
        """[P, 160, 40]: the partial utterances of one row's first n samples."""
        wav = self.normalize_volume(row[:n])
        starts = self.partial_starts(n)
        stop = (starts[-1] + self.partial_frames) * self.hop
        # Frames up to the last partial's end reach at most n_fft / 2 samples past `stop`: the
        # rest of a longer row (a dropped last partial) cannot change them, so it is not computed.
        wav = wav[: min(n, stop + self.n_fft)]
        wav = nn.functional.pad(wav, [0, max(0, stop - wav.numel())])
        mel = self.mel_frames(wav)
        return torch.stack([mel[s:s + self.partial_frames] for s in starts])

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        rows = waveforms.size(0)
        mels: List[torch.Tensor] = []
        counts: List[int] = []
        for i in range(rows):
            n = min(max(int(lengths[i]), 0), waveforms.size(1))
            p = self.partials(waveforms[i], n)
            mels.append(p)
            counts.append(p.size(0))
        if rows == 0:
            return torch.zeros(0, self.embedding, dtype=torch.float32, device=waveforms.device)
        # Every partial of every row through the LSTM in one batch (one call on a GPU).
        _, (hidden, _) = self.lstm(torch.cat(mels, dim=0))
        partial = self.relu(self.linear(hidden[-1]))
        # The package divides without a guard; a partial whose ReLU output is all zero would be
        # NaN there and is a zero vector here (never seen on real input).
        partial = partial / torch.linalg.vector_norm(partial, dim=1, keepdim=True).clamp_min(1e-12)
        out: List[torch.Tensor] = []
        first = 0
        for count in counts:
            mean = partial[first:first + count].mean(dim=0)
            out.append(mean / mean.norm().clamp_min(1e-12))
            first += count
        return torch.stack(out)
