"""audiosim-dsp: the default audiosim model, hand-built DSP features of the log-mel spectrogram.

Everything from the waveform to the embedding runs inside one TorchScript module, so the C++ side
(and a GPU) runs exactly what was measured:

    waveform [B, S] (zero-padded rows) + lengths [B]
      -> zero every sample past the row's length
      -> cut silence at both ends: keep the first .. last sample within TRIM_DB of the row's loudest
         sample (v3: pre-roll, encoder delay and silent tails change nothing)
      -> pad n_fft/2 zeros each side, STFT (Hann 1024, hop 256)
      -> power mel spectrogram (Slaney mel, 64 bands, 0 .. 11025 Hz)
      -> level relative to the row's loudest frame, in dB, floored at FLOOR_DB (gain invariant)
      -> frames past the row's length set to the floor (so padding and batch mates never matter);
         envelope points past the row's end are the floor too (v4: the frames are not padded to
         the last envelope point any more, which made every short clip cost a 1.7 s one)
      -> the FEATURE BANK below (per-row, masked statistics)
      -> the selected groups only (v4: the others are not computed), standardize (tuning-set
         mean/std), clip, weight per group
      -> L2-normalize

The feature bank is the full set of candidates that models/default/tune.py measured; params.json
(written by tune.py) says which groups the exported model keeps, the per-group weights and the
per-dimension mean/std. export.py builds the module from params.json.

Gain invariance is exact up to the 1e-12 guard on the reference level: every level is relative to
the row's loudest frame. What remains of loudness is its *shape* (envelope over time, attack and
decay times, level of each sub-band relative to the peak). Invariance to silence at the ends is
exact to the sample (below TRIM_DB re the peak sample; set TRIM_DB to 0 to turn it off).
"""

import math
from typing import Dict, List, Tuple

import numpy as np
import torch
from torch import Tensor, nn

SAMPLE_RATE = 22050
N_FFT = 1024
HOP = 256
N_MELS = 64
FLOOR_DB = -80.0       # levels below the loudest frame are floored here
ACTIVE_DB = -40.0      # a frame is "active" when within this many dB of the loudest frame
N_CEP = 20             # cepstral coefficients (DCT-II of the dB mel spectrum)
N_SUB = 4              # sub-bands of the sub-band envelopes
N_FLUX = 16            # coarse bands of the spectral flux
# envelope sample points, in frames from the start of the clip (hop 256 at 22050 Hz = 11.6 ms)
ENV_FRAMES = [0, 1, 2, 3, 4, 6, 8, 11, 15, 20, 27, 36, 48, 64, 86, 115, 150]
# v2 candidates: robust to added noise, trims and codecs
W_POW = 0.5            # frame weight of the energy-weighted statistics: (frame power re peak) ** W_POW
SPEC_FLOOR_DB = -50.0  # floor of the energy-weighted spectra (dB re the loudest frame)
ONSET_DB = -20.0       # onset = first frame within this many dB of the loudest; onset envelope starts there
ENV_FLOOR_DB = -40.0   # floor of the onset envelope (a noise floor below it is not seen)
N_FINE = 40            # fine low spectrum: FFT bins 1..N_FINE (21.5 Hz each: 21 to 861 Hz)
FINE_FLOOR_DB = -40.0  # its floor, dB re its loudest bin
# v3: samples quieter than this (dB re the row's loudest sample) at either end of a row are silence
TRIM_DB = -60.0

# (name, dimension) of every group of the feature bank, in output order of AudiosimDSP.bank()
BANK_GROUPS: List[Tuple[str, int]] = [
    ("mel_mean", N_MELS),        # mean dB mel spectrum over all frames of the clip
    ("mel_mean_act", N_MELS),    # ... over active frames only (timbre, blind to silent tails)
    ("mel_std_act", N_MELS),     # per-band std over active frames (temporal texture)
    ("mel_peak", N_MELS),        # spectrum of the loudest frame (attack timbre)
    ("cep_mean", N_CEP),         # MFCC-like: DCT of the active-frame mean spectrum
    ("cep_std", N_CEP),          # std over active frames of per-frame cepstra
    ("cep_peak", N_CEP),         # DCT of the loudest frame's spectrum
    ("flux", N_FLUX),            # mean positive dB change per frame, 16 coarse bands
    ("env", len(ENV_FRAMES)),    # frame level (dB re peak) at fixed times: the loudness envelope
    ("sub_env", N_SUB * len(ENV_FRAMES)),  # the same for 4 sub-bands
    ("shape", 8),                # centroid, spread, flatness, rolloff: mean and std over active frames
    ("temporal", 6),             # log times: active duration, attack, decay to -20/-40 dB, energy centroid, clip length
    ("mel_wmean", N_MELS),       # energy-weighted mean dB mel spectrum (quiet frames and noise tails weigh little), floored
    ("cep_wmean", N_CEP),        # DCT of mel_wmean
    ("flux_w", N_FLUX),          # flux weighted by frame energy
    ("env_on", len(ENV_FRAMES)), # envelope from the onset (first frame within ONSET_DB of the peak), floored at ENV_FLOOR_DB
    ("fine_low", N_FINE),        # energy-weighted mean power in FFT bins 1..N_FINE, dB re the loudest of them, floored
    ("fine_cep", N_CEP),         # DCT of fine_low (its shape, not its bins)
    # v3 candidates: the sustain's timbre and its change over time (instruments), noise-robust like v2's
    ("cep_wstd", N_CEP),         # energy-weighted std over frames of the cepstra of the floored spectrum
    ("dcep_wstd", N_CEP),        # energy-weighted rms of the frame-to-frame cepstral change
    ("sub_env_on", N_SUB * len(ENV_FRAMES)),  # sub-band envelopes from the onset, floored like env_on
    ("mel_wstd", N_MELS),        # energy-weighted std over frames of the floored dB mel spectrum
    ("env_st", len(ENV_FRAMES)), # env (from the first sound: silence is trimmed), floored at ENV_FLOOR_DB
    ("sub_env_st", N_SUB * len(ENV_FRAMES)),  # sub_env likewise
]


def bank_slices() -> Dict[str, Tuple[int, int]]:
    """Start and end column of each group in the bank's output."""
    out: Dict[str, Tuple[int, int]] = {}
    at = 0
    for name, dim in BANK_GROUPS:
        out[name] = (at, at + dim)
        at += dim
    return out


BANK_DIM = sum(d for _, d in BANK_GROUPS)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (linear below 1 kHz, logarithmic above), as librosa's default."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = 0.0, fmax: float = SAMPLE_RATE / 2) -> np.ndarray:
    """[n_fft//2+1, n_mels] triangular Slaney-normalized filters (float64, deterministic)."""
    freqs = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    hz = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fb = np.zeros((n_fft // 2 + 1, n_mels))
    for m in range(n_mels):
        lo, mid, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[:, m] = np.maximum(0.0, np.minimum(up, down)) * (2.0 / (hi - lo))
    return fb


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_in, n_out] orthonormal DCT-II basis (columns), as used for MFCCs."""
    n = np.arange(n_in)[:, None] + 0.5
    k = np.arange(n_out)[None, :]
    basis = np.cos(math.pi / n_in * n * k) * math.sqrt(2.0 / n_in)
    basis[:, 0] /= math.sqrt(2.0)
    return basis


def _pool_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_in, n_out] averaging of contiguous equal blocks (n_in divisible by n_out)."""
    m = np.zeros((n_in, n_out))
    size = n_in // n_out
    for j in range(n_out):
        m[j * size:(j + 1) * size, j] = 1.0 / size
    return m


class AudiosimDSP(nn.Module):
    """The audiosim DSP embedding model.

    forward(waveforms [B, S] float32 mono at 22050 Hz, lengths [B] int64) -> [B, D] float32, L2-normalized.
    With the default arguments (no params) it returns the raw feature bank, for tuning.
    """

    def __init__(self, params: Dict = None):
        super().__init__()
        self.n_fft = N_FFT
        self.hop = HOP
        self.n_mels = N_MELS
        self.floor_db = FLOOR_DB
        self.floor_lin = 10.0 ** (FLOOR_DB / 10.0)
        self.active_db = ACTIVE_DB
        self.w_pow = W_POW
        self.spec_floor_db = SPEC_FLOOR_DB
        self.onset_db = ONSET_DB
        self.env_floor_db = ENV_FLOOR_DB
        self.n_fine = N_FINE
        self.fine_floor_db = FINE_FLOOR_DB
        self.trim = TRIM_DB < 0
        self.trim_ratio = 10.0 ** (TRIM_DB / 20.0)
        f64 = torch.float64
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True, dtype=f64).float())
        self.register_buffer("melfb", torch.from_numpy(mel_filterbank()).float())
        self.register_buffer("dct", torch.from_numpy(dct_matrix(N_MELS, N_CEP)).float())
        self.register_buffer("flux_pool", torch.from_numpy(_pool_matrix(N_MELS, N_FLUX)).float())
        self.register_buffer("sub_pool", torch.from_numpy(_pool_matrix(N_MELS, N_SUB) * (N_MELS // N_SUB)).float())
        self.register_buffer("env_idx", torch.tensor(ENV_FRAMES, dtype=torch.long))
        self.register_buffer("fine_dct", torch.from_numpy(dct_matrix(N_FINE, N_CEP)).float())
        self.register_buffer("band_pos", (torch.arange(N_MELS, dtype=f64) / (N_MELS - 1)).float())
        if params is None:
            # raw bank: identity standardization, every group
            self.use: List[bool] = [True for _ in BANK_GROUPS]
            self.order: List[int] = list(range(len(BANK_GROUPS)))
            self.standardize = False
            self.register_buffer("mean", torch.zeros(BANK_DIM))
            self.register_buffer("inv_std", torch.ones(BANK_DIM))
            self.register_buffer("weight", torch.ones(BANK_DIM))
            self.clip = 0.0
        else:
            self.standardize = True
            self.use: List[bool] = [name in params["groups"] for name, _ in BANK_GROUPS]
            names = [name for name, _ in BANK_GROUPS]
            self.order: List[int] = [names.index(name) for name in params["groups"]]   # output order
            slices = bank_slices()
            scale: List[float] = []
            for name in params["groups"]:
                a, b = slices[name]
                w = float(params["weights"][name]) / math.sqrt(b - a)   # group weight, split over its dims
                scale.extend([w] * (b - a))
            std = np.asarray(params["std"], dtype=np.float64)
            mean = np.asarray(params["mean"], dtype=np.float64)
            assert len(std) == len(scale) and len(mean) == len(scale)
            self.register_buffer("mean", torch.from_numpy(mean).float())
            self.register_buffer("inv_std", torch.from_numpy(1.0 / std).float())
            self.register_buffer("weight", torch.tensor(scale, dtype=f64).float())
            self.clip = float(params["clip"])

    def features(self, waveforms: Tensor, lengths: Tensor) -> List[Tensor]:
        """The feature bank's groups, in BANK_GROUPS order, each [B, dim]; every statistic is over
        the row's own frames only. Groups the model does not use (self.use) are not computed: they
        are [B, 0]."""
        use = self.use
        x = waveforms.to(torch.float32)
        B = x.shape[0]
        S = x.shape[1]
        dev = x.device
        lengths = lengths.to(dev).to(torch.long).clamp(0, S)
        if B > 0 and int(lengths.min()) < S:   # rows alone (the CPU path) have nothing to zero
            smask = torch.arange(S, device=dev).unsqueeze(0) < lengths.unsqueeze(1)
            x = torch.where(smask, x, torch.zeros_like(x))
        if self.trim:
            # leading and trailing silence: keep the first .. last sample within TRIM_DB of the peak
            # sample; one row (the CPU path) is sliced, a batch shifted row by row: the same samples
            ax = x.abs()
            if B == 1:
                # the peak of each block of 256 samples, then the first and last loud sample inside
                # the first and last loud block: a third of the cost of scanning every sample
                blocks = torch.constant_pad_nd(ax[0], [0, (256 - S % 256) % 256]).view(-1, 256).amax(dim=1)
                threshold = blocks.max().clamp(min=1e-30) * self.trim_ratio
                loud_blocks = torch.nonzero(blocks >= threshold)
                if loud_blocks.shape[0] > 0:
                    fb = int(loud_blocks[0, 0]) * 256
                    lb = int(loud_blocks[-1, 0]) * 256
                    first = fb + int(torch.nonzero(ax[0, fb:fb + 256] >= threshold)[0, 0])
                    last = lb + int(torch.nonzero(ax[0, lb:lb + 256] >= threshold)[-1, 0])
                    x = x[:, first:last + 1]
                    lengths = torch.full_like(lengths, x.shape[1])
            else:
                loud = ax >= ax.amax(dim=1, keepdim=True).clamp(min=1e-30) * self.trim_ratio
                has = loud.any(dim=1)
                lu = loud.to(torch.uint8)
                first = torch.where(has, torch.argmax(lu, dim=1), torch.zeros_like(lengths))
                last = torch.where(has, S - 1 - torch.argmax(lu.flip([1]), dim=1), lengths - 1)
                lengths = (last - first + 1).clamp(min=0)
                idx = (torch.arange(S, device=dev).unsqueeze(0) + first.unsqueeze(1)).clamp(max=S - 1)
                x = x.gather(1, idx)
                x = torch.where(torch.arange(S, device=dev).unsqueeze(0) < lengths.unsqueeze(1), x, torch.zeros_like(x))
            S = x.shape[1]
        nothing = torch.zeros(B, 0, device=dev)   # an unused group
        half = self.n_fft // 2
        # zero padding of n_fft/2 each side centres frame t on sample t*hop; it is the same whether
        # the row is alone or zero-padded in a batch (reflect padding would not be)
        x = torch.constant_pad_nd(x, [half, half], 0.0)
        frames = x.unfold(1, self.n_fft, self.hop) * self.window         # [B, T, n_fft]
        spec = torch.fft.rfft(frames, dim=2)                             # [B, T, F]
        ri = torch.view_as_real(spec)                                    # re^2 + im^2: one contiguous
        sq = ri * ri                                                     # product (not two strided ones)
        power = sq[:, :, :, 0] + sq[:, :, :, 1]
        mel = torch.matmul(power, self.melfb)                            # [B, T, M]
        T = mel.shape[1]
        nvalid = torch.div(lengths + (self.hop - 1), self.hop, rounding_mode="floor").clamp(1, T)
        tpos = torch.arange(T, device=dev)
        v = (tpos.unsqueeze(0) < nvalid.unsqueeze(1)).to(x.dtype)       # [B, T] frame belongs to the row
        energy = mel.sum(dim=2) * v
        ref = energy.max(dim=1).values                                   # loudest frame
        floor_lin = self.floor_lin
        inv = 1.0 / (ref + 1e-12)
        rel = mel * (inv.view(B, 1, 1) * v.unsqueeze(2))                 # power relative to the loudest frame
        L = 10.0 * torch.log10(rel + floor_lin)                          # [B, T, M] dB re peak, >= floor
        erel = energy * inv.unsqueeze(1)
        fdb = 10.0 * torch.log10(erel + floor_lin)                       # [B, T] frame level, dB re peak
        a = v * (fdb >= self.active_db).to(x.dtype)                      # active frames
        na = a.sum(dim=1).clamp(min=1.0).unsqueeze(1)
        a3 = a.unsqueeze(2)
        peak_i = torch.argmax(energy, dim=1)                             # first loudest frame
        M = self.n_mels
        C = self.dct.shape[1]

        mel_mean = nothing
        if use[0]:
            mel_mean = (L * v.unsqueeze(2)).sum(dim=1) / v.sum(dim=1).unsqueeze(1)
        mel_mean_act = nothing
        if use[1] or use[2] or use[4] or use[5]:
            mel_mean_act = (L * a3).sum(dim=1) / na
        mel_std_act = nothing
        if use[2]:
            dev_act = (L - mel_mean_act.unsqueeze(1)) * a3
            mel_std_act = torch.sqrt((dev_act * dev_act).sum(dim=1) / na + 1e-6)
        mel_peak = nothing
        if use[3] or use[6]:
            mel_peak = L.gather(1, peak_i.view(B, 1, 1).expand(B, 1, M)).squeeze(1)
        cep_mean = nothing
        if use[4] or use[5]:
            cep_mean = torch.matmul(mel_mean_act, self.dct)
        cep_std = nothing
        if use[5]:
            cep = torch.matmul(L, self.dct)                              # [B, T, C]
            cdev = (cep - cep_mean.unsqueeze(1)) * a3
            cep_std = torch.sqrt((cdev * cdev).sum(dim=1) / na + 1e-6)
        cep_peak = nothing
        if use[6]:
            cep_peak = torch.matmul(mel_peak, self.dct)

        flux = nothing
        if use[7]:
            # spectral flux: positive dB change between consecutive frames of the row
            d = torch.relu(L[:, 1:, :] - L[:, :-1, :])
            pv = v[:, 1:] * v[:, :-1]
            npairs = pv.sum(dim=1).clamp(min=1.0)
            flux = torch.matmul((d * pv.unsqueeze(2)).sum(dim=1) / npairs.unsqueeze(1), self.flux_pool)

        # the envelope points from the clip's first frame (silence is trimmed: its first sound)
        fixed_idx, fixed_past = self.envelope_frames(torch.zeros_like(nvalid), nvalid, T)
        env = nothing
        if use[8]:
            env = self.envelope(fdb, fixed_idx, fixed_past)
        sub_env = nothing
        if use[9]:
            sub_env = self.sub_envelope(rel, fixed_idx, fixed_past)

        shape = nothing
        if use[10]:
            # spectral shape on the mel power of each active frame (band position in 0..1)
            p = rel + 1e-20
            psum = p.sum(dim=2)
            cen = (p * self.band_pos).sum(dim=2) / psum
            spread = torch.sqrt((p * (self.band_pos.view(1, 1, -1) - cen.unsqueeze(2)) ** 2).sum(dim=2) / psum + 1e-9)
            flat = (L.mean(dim=2) - 10.0 * torch.log10(p.mean(dim=2))) / 10.0
            csum = torch.cumsum(p, dim=2) / psum.unsqueeze(2)
            roll = (csum < 0.85).to(x.dtype).mean(dim=2)
            shapes: List[Tensor] = []
            nas = na.squeeze(1)
            for f in [cen, spread, flat, roll]:
                m = (f * a).sum(dim=1) / nas
                sd = torch.sqrt((((f - m.unsqueeze(1)) * a) ** 2).sum(dim=1) / nas + 1e-9)
                shapes.append(m)
                shapes.append(sd)
            shape = torch.stack(shapes, dim=1)

        temporal = nothing
        if use[11]:
            # log seconds: active span, attack, decay to -20 and -40 dB, energy centroid, clip length
            fs = float(self.hop) / 22050.0
            tf = tpos.to(x.dtype).unsqueeze(0)
            last_act = (tf * a).max(dim=1).values
            first_act = torch.where(a > 0, tf, torch.full_like(tf, float(T))).min(dim=1).values
            first_act = torch.minimum(first_act, last_act)
            a20 = v * (fdb >= -20.0).to(x.dtype)
            last20 = (tf * a20).max(dim=1).values
            pk = peak_i.to(x.dtype)
            tcen = (tf * erel).sum(dim=1) / (erel.sum(dim=1) + 1e-12)
            eps_t = 0.01
            temporal = torch.stack([
                torch.log((last_act - first_act + 1.0) * fs + eps_t),
                torch.log((pk - first_act).clamp(min=0.0) * fs + eps_t),
                torch.log((last20 - pk).clamp(min=0.0) * fs + eps_t),
                torch.log((last_act - pk).clamp(min=0.0) * fs + eps_t),
                torch.log((tcen - first_act).clamp(min=0.0) * fs + eps_t),
                torch.log(lengths.to(x.dtype) / 22050.0 + eps_t),
            ], dim=1)

        # ---- v2 candidates: energy-weighted statistics, onset-aligned envelope, fine low spectrum
        wt = erel.clamp(min=0.0) ** self.w_pow * v                      # [B, T] frame weights (0 outside the row)
        wsum = wt.sum(dim=1).clamp(min=1e-12).unsqueeze(1)
        w3 = wt.unsqueeze(2)
        Lf = L.clamp(min=self.spec_floor_db)                             # the floored dB spectrum
        pw = torch.maximum(wt[:, 1:], wt[:, :-1]) * v[:, 1:] * v[:, :-1]  # weights of consecutive frame pairs
        mel_wmean = (Lf * w3).sum(dim=1) / wsum
        cep_wmean = torch.matmul(mel_wmean, self.dct)
        flux_w = nothing
        if use[14]:
            d = torch.relu(Lf[:, 1:, :] - Lf[:, :-1, :])
            flux_w = torch.matmul((d * pw.unsqueeze(2)).sum(dim=1) / pw.sum(dim=1).clamp(min=1e-12).unsqueeze(1),
                                  self.flux_pool)
        # onset: first frame within onset_db of the loudest (exists: the loudest frame itself)
        on = torch.where((fdb >= self.onset_db) & (v > 0), tpos.unsqueeze(0).expand(B, T),
                         torch.full((B, T), T, dtype=torch.long, device=dev)).min(dim=1).values.clamp(max=T - 1)
        eidx, past = self.envelope_frames(on, nvalid, T)
        env_on = self.envelope(fdb, eidx, past).clamp(min=self.env_floor_db)
        fine = nothing
        fine_cep = nothing
        if use[16] or use[17]:
            pf = power[:, :, 1:1 + self.n_fine]
            Tp = pf.shape[1]
            pm = (pf * wt[:, :Tp].unsqueeze(2)).sum(dim=1)               # weighted mean power per bin
            pref = pm.max(dim=1).values.unsqueeze(1)
            fine = 10.0 * torch.log10(pm / (pref + 1e-30) + 1e-12).clamp(min=self.fine_floor_db)
            fine_cep = torch.matmul(fine, self.fine_dct)

        cep_wstd = nothing
        dcep_wstd = nothing
        mel_wstd = nothing
        if use[18] or use[19] or use[21]:
            if use[21]:
                dl = (Lf - mel_wmean.unsqueeze(1)) * w3
                mel_wstd = torch.sqrt((dl * (Lf - mel_wmean.unsqueeze(1))).sum(dim=1) / wsum + 1e-6)
            if use[18] or use[19]:
                cf = torch.matmul(Lf, self.dct)                           # [B, T, C]
                if use[18]:
                    dc = cf - cep_wmean.unsqueeze(1)
                    cep_wstd = torch.sqrt((dc * dc * w3).sum(dim=1) / wsum + 1e-6)
                if use[19]:
                    dd = cf[:, 1:, :] - cf[:, :-1, :]
                    dcep_wstd = torch.sqrt((dd * dd * pw.unsqueeze(2)).sum(dim=1) / pw.sum(dim=1).clamp(min=1e-12).unsqueeze(1) + 1e-6)
        sub_env_on = nothing
        if use[20]:
            sub_env_on = self.sub_envelope(rel, eidx, past).clamp(min=self.env_floor_db)

        env_st = nothing
        if use[22]:
            env_st = self.envelope(fdb, fixed_idx, fixed_past).clamp(min=self.env_floor_db)
        sub_env_st = nothing
        if use[23]:
            sub_env_st = self.sub_envelope(rel, fixed_idx, fixed_past).clamp(min=self.env_floor_db)
        return [mel_mean, mel_mean_act, mel_std_act, mel_peak, cep_mean, cep_std, cep_peak,
                flux, env, sub_env, shape, temporal,
                mel_wmean, cep_wmean, flux_w, env_on, fine, fine_cep,
                cep_wstd, dcep_wstd, sub_env_on, mel_wstd, env_st, sub_env_st]

    def envelope_frames(self, start: Tensor, nvalid: Tensor, T: int) -> Tuple[Tensor, Tensor]:
        """The frames of the envelope points from frame `start` [B], clamped to the last frame
        [B, E], and which of them lie at or past the row's end [B, E]."""
        at = start.unsqueeze(1) + self.env_idx.unsqueeze(0)
        return at.clamp(max=T - 1), at >= nvalid.unsqueeze(1)

    def envelope(self, fdb: Tensor, idx: Tensor, past: Tensor) -> Tensor:
        """Frame levels (dB re peak) at the envelope points [B, E]; the floor past the row's end."""
        return fdb.gather(1, idx).masked_fill(past, self.floor_db)

    def sub_envelope(self, rel: Tensor, idx: Tensor, past: Tensor) -> Tensor:
        """The N_SUB sub-band levels (dB re the loudest frame) at the envelope points, flattened
        [B, E * N_SUB]; the floor past the row's end."""
        B, E, M = idx.shape[0], idx.shape[1], rel.shape[2]
        sub = torch.matmul(rel.gather(1, idx.unsqueeze(2).expand(B, E, M)), self.sub_pool)   # [B, E, N_SUB]
        sub_db = 10.0 * torch.log10(sub + self.floor_lin)
        return sub_db.masked_fill(past.unsqueeze(2), self.floor_db).reshape(B, -1)

    def forward(self, waveforms: Tensor, lengths: Tensor) -> Tensor:
        groups = self.features(waveforms, lengths)
        feats = torch.cat([groups[i] for i in self.order], dim=1)
        if not self.standardize:
            return feats
        z = (feats - self.mean) * self.inv_std
        if self.clip > 0:
            z = z.clamp(-self.clip, self.clip)       # a far outlier dimension must not swamp the rest
        z = z * self.weight
        norm = torch.sqrt((z * z).sum(dim=1, keepdim=True)).clamp(min=1e-12)
        return z / norm
