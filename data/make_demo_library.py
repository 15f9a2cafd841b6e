#!/usr/bin/env python3
"""Synthesize the audiosim demo sample library (no third-party audio).

Makes a small, labeled, fully synthetic sample library for the demo and tests:

  OUTDIR/<label>/<label>-NN.<ext>
      63 sounds in 10 classes, the folder name being the label: kick, snare,
      hihat_closed, hihat_open, clap, tom (from three synthetic kits, kitA-C),
      tonal (plucks, bells, bass notes), noise (white, pink, brown), speech
      (single words spoken by espeak-ng) and loop (drum patterns built from
      the kit sounds).
  OUTDIR/dupes/           planted duplicates of four sounds: an exact copy,
                          an MP3 re-encode, a -6 dB gain change, a 10 % trim
  OUTDIR/labels.tsv       path, label, kit ("-" outside the drum kits)
  OUTDIR/duplicates.tsv   path, original, kind (exact, reencode, gain, trim)
  OUTDIR/metadata.csv     path, title, description, content_type, tags
  OUTDIR/.stamp           sha256 of this script; a matching stamp skips the run

The files are spread over WAV (16-bit, 24-bit, 32-bit float), AIFF, FLAC,
Ogg Vorbis, Opus and MP3 at 22050, 44100, 48000 and 96000 Hz, mostly mono,
some stereo and one 6-channel WAV. Every random choice is seeded, so the same
script always yields the same WAV sample data. The library is built in
OUTDIR.tmp and renamed over OUTDIR, so an interrupted run leaves no half library.

Usage: python3 data/make_demo_library.py [OUTDIR]     (default: data/demo)
Needs numpy plus the tools sox (with MP3 support), espeak-ng and opusenc.
"""

import argparse
import csv
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 20240611
PROG = "make_demo_library"


@dataclass(frozen=True)
class Kit:
    """Synthesis scaling shared by all drum sounds of one kit."""

    name: str
    pitch: float
    decay: float
    bright: float


KITS = (
    Kit("kitA", pitch=1.0, decay=1.0, bright=1.0),
    Kit("kitB", pitch=0.82, decay=1.35, bright=0.75),
    Kit("kitC", pitch=1.22, decay=0.7, bright=1.3),
)


@dataclass(frozen=True)
class SoundClass:
    """How many sounds of a class to make; formats, rates, channels cycle."""

    count: int
    content_type: str
    formats: tuple
    rates: tuple
    channels: tuple = (1,)
    uses_kit: bool = False


CLASSES = {
    "kick": SoundClass(8, "drum", ("wav16", "wav24", "wav16", "flac", "wav16", "mp3", "aiff", "wavf32"),
                       (44100, 48000, 96000, 22050), uses_kit=True),
    "snare": SoundClass(8, "drum", ("wav16", "ogg", "wav16", "opus", "wav24", "wav16", "flac", "wavf32"),
                        (48000, 44100, 22050, 96000), channels=(2, 1), uses_kit=True),
    "hihat_closed": SoundClass(8, "drum", ("wav16", "aiff", "wav16", "mp3", "wav16", "flac", "wav16", "ogg"),
                               (96000, 44100, 48000, 22050), uses_kit=True),
    "hihat_open": SoundClass(6, "drum", ("wav16", "wav24", "opus", "wav16", "flac", "wavf32"),
                             (44100, 48000, 96000), uses_kit=True),
    "clap": SoundClass(6, "drum", ("wav16", "mp3", "wav16", "aiff", "ogg", "wav16"),
                       (22050, 44100, 48000), uses_kit=True),
    "tom": SoundClass(6, "drum", ("wav16", "flac", "wav24", "wav16", "opus", "aiff"),
                      (48000, 44100, 96000), uses_kit=True),
    "tonal": SoundClass(8, "tonal", ("wav16", "ogg", "wav16", "wav16", "flac", "mp3", "wav24", "opus"),
                        (44100, 48000, 22050), channels=(1, 2, 6, 1, 1, 2, 1, 2)),
    "noise": SoundClass(4, "noise", ("wav16", "flac", "ogg", "mp3"), (22050, 44100, 48000)),
    "speech": SoundClass(6, "speech", ("wav16", "mp3", "flac", "wav16", "aiff", "opus"), (22050,)),
    "loop": SoundClass(3, "loop", ("mp3", "ogg", "flac"), (44100, 48000, 22050), channels=(2,), uses_kit=True),
}

EXTENSIONS = {"wav16": "wav", "wav24": "wav", "wavf32": "wav", "aiff": "aiff",
              "flac": "flac", "ogg": "ogg", "opus": "opus", "mp3": "mp3"}
SOX_OPTIONS = {"wavf32": ["-e", "floating-point", "-b", "32"], "aiff": ["-b", "16"],
               "flac": ["-b", "16"], "ogg": ["-C", "4"], "mp3": ["-C", "128"]}

# Planted duplicates: (original sound, kind); each original must be a WAV.
DUPLICATES = (("kick-03", "exact"), ("snare-01", "reencode"), ("tonal-01", "gain"), ("hihat_open-01", "trim"))
DUPLICATE_NOTES = {"exact": "byte-identical copy", "reencode": "re-encoded as MP3, 128 kbit/s",
                   "gain": "attenuated by 6 dB", "trim": "last 10 % cut off"}

SPEECH_WORDS = ("kick", "snare", "hello", "sample", "library", "drum")
SPEECH_VOICES = ("en-us", "en+f3", "en-gb-x-rp+m3", "en-gb-scotland+f2", "en-029", "en-us+Annie")
ESPEAK_RATE = 22050

HAT_RATIOS = (1.0, 1.4826, 1.8003, 2.5461, 2.6303, 3.8971)  # TR-808 cymbal oscillators
BELL_RATIOS = (0.56, 0.92, 1.19, 1.71, 2.0, 2.74, 3.0, 3.76, 4.07)  # Risset's bell
BELL_AMPS = (1.0, 0.67, 1.0, 1.8, 2.67, 1.67, 1.46, 1.33, 1.33)
BELL_DECAYS = (1.0, 0.9, 0.65, 0.55, 0.325, 0.35, 0.25, 0.2, 0.15)
NOISE_SLOPES = (("white", 0.0), ("pink", 0.5), ("brown", 1.0))  # amplitude ~ f ** -slope


@dataclass(frozen=True)
class Planned:
    """One sound to synthesize and where and how to write it."""

    label: str
    index: int
    kit: Kit | None
    fmt: str
    rate: int
    channels: int

    @property
    def name(self):
        return f"{self.label}-{self.index + 1:02d}"

    @property
    def path(self):
        return f"{self.label}/{self.name}.{EXTENSIONS[self.fmt]}"

    @property
    def kit_name(self):
        return self.kit.name if self.kit else "-"


@dataclass(frozen=True)
class Entry:
    """One written audio file, as listed in labels.tsv and metadata.csv."""

    path: str
    label: str
    kit: str
    title: str
    description: str
    content_type: str
    tags: str
    seconds: float


# --- signal helpers ---------------------------------------------------------

def times(rate, seconds):
    return np.arange(int(seconds * rate)) / rate


def unit(x):
    return x / np.max(np.abs(x))


def shape_spectrum(x, rate, gain):
    """Zero-phase filter: multiply the spectrum of x by gain(frequency in Hz)."""
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return np.fft.irfft(np.fft.rfft(x) * gain(freqs), n=len(x))


def band(x, rate, low=None, high=None):
    """Second-order high-pass at low Hz and/or low-pass at high Hz."""
    def gain(f):
        g = np.ones_like(f)
        if low:
            g /= np.sqrt(1 + (low / np.maximum(f, 1.0)) ** 4)
        if high:
            g /= np.sqrt(1 + (f / high) ** 4)
        return g
    return shape_spectrum(x, rate, gain)


def onset_decay(t, start, tau):
    """Exponential decay starting at time start, silent before it."""
    return np.where(t >= start, np.exp(-np.maximum(t - start, 0) / tau), 0.0)


def sweep_sine(t, rate, f_start, f_end, tau):
    """Sine whose frequency glides exponentially from f_start to f_end."""
    freq = f_end + (f_start - f_end) * np.exp(-t / tau)
    return np.sin(2 * np.pi * np.cumsum(freq) / rate)


def partials(t, rate, freqs, amps, taus):
    """Sum of decaying sines, skipping those above 0.45 * rate."""
    out = np.zeros_like(t)
    for freq, amp, tau in zip(freqs, amps, taus):
        if freq < 0.45 * rate:
            out += amp * np.sin(2 * np.pi * freq * t) * np.exp(-t / tau)
    return out


def white(rng, t):
    return rng.standard_normal(len(t))


# --- drum synthesis ---------------------------------------------------------

def synth_kick(rng, rate, kit, index):
    f_start = rng.uniform(130, 200) * kit.pitch
    f_end = rng.uniform(42, 60) * kit.pitch
    tau = rng.uniform(0.12, 0.3) * kit.decay
    t = times(rate, rng.uniform(2.5, 3.5) * tau + 0.05)
    body = sweep_sine(t, rate, f_start, f_end, rng.uniform(0.02, 0.05)) * np.exp(-t / tau)
    click = unit(band(white(rng, t), rate, low=1500 * kit.bright)) * np.exp(-t / 0.003)
    x = np.tanh(1.5 * body) + rng.uniform(0.15, 0.4) * click
    return x, f"Synthetic kick drum, pitch sweep {f_start:.0f} to {f_end:.0f} Hz, decay {tau:.2f} s"


def synth_snare(rng, rate, kit, index):
    freq = rng.uniform(170, 240) * kit.pitch
    tone_tau = rng.uniform(0.04, 0.09) * kit.decay
    noise_tau = rng.uniform(0.08, 0.2) * kit.decay
    t = times(rate, 4 * noise_tau + 0.05)
    tone = (np.sin(2 * np.pi * freq * t) + 0.5 * np.sin(2 * np.pi * 1.47 * freq * t)) * np.exp(-t / tone_tau)
    rattle = unit(band(white(rng, t), rate, low=900 * kit.bright, high=8000 * kit.bright)) * np.exp(-t / noise_tau)
    mix = rng.uniform(0.4, 0.7)
    x = (1 - mix) * unit(tone) + mix * rattle
    return x, f"Synthetic snare, {freq:.0f} Hz body, noise decay {noise_tau:.2f} s"


def hat(rng, rate, kit, tau, seconds):
    """Metallic square-wave cluster plus noise, high-passed, decaying with tau."""
    base = rng.uniform(300, 420) * kit.pitch
    t = times(rate, seconds)
    metal = sum(np.sign(np.sin(2 * np.pi * base * r * t + rng.uniform(0, 2 * np.pi))) for r in HAT_RATIOS)
    raw = metal / len(HAT_RATIOS) + rng.uniform(0.3, 0.8) * white(rng, t)
    cutoff = min(7000 * kit.bright, 0.4 * rate)
    return band(raw, rate, low=cutoff) * np.exp(-t / tau), base, cutoff


def synth_hihat_closed(rng, rate, kit, index):
    tau = rng.uniform(0.015, 0.05) * kit.decay
    x, base, cutoff = hat(rng, rate, kit, tau, 5 * tau + 0.03)
    return x, f"Closed hi-hat, metallic cluster at {base:.0f} Hz, high-pass {cutoff:.0f} Hz"


def synth_hihat_open(rng, rate, kit, index):
    tau = rng.uniform(0.15, 0.4) * kit.decay
    x, base, cutoff = hat(rng, rate, kit, tau, 3 * tau + 0.1)
    return x, f"Open hi-hat, metallic cluster at {base:.0f} Hz, decay {tau:.2f} s"


def synth_clap(rng, rate, kit, index):
    bursts = int(rng.integers(3, 6))
    gap = rng.uniform(0.006, 0.013)
    tau = rng.uniform(0.08, 0.2) * kit.decay
    t = times(rate, bursts * gap + 4 * tau)
    env = sum(onset_decay(t, k * gap, 0.004) for k in range(bursts))
    env += 0.6 * onset_decay(t, (bursts - 1) * gap, tau)
    centre = rng.uniform(1000, 1800) * kit.bright
    x = band(white(rng, t), rate, low=centre / 1.6, high=centre * 1.6) * env
    return x, f"Hand clap, {bursts} noise bursts, centred at {centre:.0f} Hz"


def synth_tom(rng, rate, kit, index):
    f_end = rng.uniform(75, 170) * kit.pitch
    f_start = f_end * rng.uniform(1.3, 1.8)
    tau = rng.uniform(0.18, 0.4) * kit.decay
    t = times(rate, 3 * tau + 0.05)
    body = sweep_sine(t, rate, f_start, f_end, rng.uniform(0.05, 0.12)) * np.exp(-t / tau)
    skin = unit(band(white(rng, t), rate, low=300, high=3000 * kit.bright)) * np.exp(-t / 0.01)
    return body + 0.15 * skin, f"Tom, pitch {f_start:.0f} to {f_end:.0f} Hz, decay {tau:.2f} s"


# --- other sounds -----------------------------------------------------------

def pluck(rng, rate):
    f0 = 110 * 2 ** (rng.integers(0, 24) / 12)
    tau = rng.uniform(0.25, 0.6)
    damping = rng.uniform(0.2, 0.6)  # how much faster the upper harmonics die
    t = times(rate, rng.uniform(0.5, 1.5))
    k = np.arange(1, 25)
    x = partials(t, rate, f0 * k, 1 / k, tau / (1 + damping * (k - 1)))
    return x, f"Plucked string at {f0:.1f} Hz, decay {tau:.2f} s"


def bell(rng, rate):
    f0 = rng.uniform(300, 900)
    seconds = rng.uniform(1.2, 2.0)
    t = times(rate, seconds)
    ratios = np.array(BELL_RATIOS) * rng.uniform(0.99, 1.01, len(BELL_RATIOS))
    x = partials(t, rate, f0 * ratios, BELL_AMPS, np.array(BELL_DECAYS) * seconds / 2)
    return x, f"Bell with inharmonic partials, fundamental {f0:.0f} Hz"


def bass(rng, rate):
    f0 = 41.2 * 2 ** (rng.integers(0, 15) / 12)
    cutoff = rng.uniform(200, 800)
    seconds = rng.uniform(0.5, 1.4)
    t = times(rate, seconds)
    k = np.arange(1, 40)
    x = partials(t, rate, f0 * k, (1 / k) / np.sqrt(1 + (f0 * k / cutoff) ** 4), np.full(len(k), 10.0))
    envelope = np.minimum(t / 0.005, 1) * (0.6 + 0.4 * np.exp(-t / 0.15)) * np.clip((seconds - t) / 0.08, 0, 1)
    return x * envelope, f"Bass note at {f0:.1f} Hz, low-pass {cutoff:.0f} Hz"


def synth_tonal(rng, rate, kit, index):
    return (pluck, bell, bass)[index % 3](rng, rate)


def synth_noise(rng, rate, kit, index):
    colour, slope = NOISE_SLOPES[index % len(NOISE_SLOPES)]
    seconds = rng.uniform(1, 3)
    t = times(rate, seconds)
    x = shape_spectrum(white(rng, t), rate, lambda f: np.maximum(f, 20.0) ** -slope)
    return x * np.minimum(t / 0.02, 1), f"{colour.capitalize()} noise, {seconds:.1f} s"


def synth_speech(rng, rate, kit, index):
    word, voice = SPEECH_WORDS[index], SPEECH_VOICES[index]
    speed, pitch = int(rng.integers(120, 190)), int(rng.integers(30, 70))
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        run_tool(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", tmp.name, word])
        with wave.open(tmp.name) as w:
            if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (rate, 2, 1):
                sys.exit(f"{PROG}: espeak-ng did not write {rate} Hz 16-bit mono for voice {voice}")
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768
    return x, f'The word "{word}" spoken by espeak-ng, voice {voice}, {speed} words per minute'


def synth_loop(rng, rate, kit, index):
    bpm = int(rng.integers(100, 131))
    step = 60 / bpm / 4
    bar = 16 * step
    bars = int(rng.integers(np.ceil(4 / bar), np.floor(8 / bar) + 1))  # 4 to 8 seconds
    steps = 16 * bars
    extra_kicks = set(rng.choice([3, 6, 10, 14], size=2, replace=False).tolist())
    voices = (  # (one-shot, steps of the 16-step bar, pan from -1 to 1)
        (synth_kick(rng, rate, kit, 0)[0], {0, 8} | extra_kicks, 0.0),
        (synth_snare(rng, rate, kit, 0)[0], {4, 12}, -0.25),
        (synth_hihat_closed(rng, rate, kit, 0)[0], set(range(0, 14, 2)), 0.35),
        (synth_hihat_open(rng, rate, kit, 0)[0], {14}, 0.35),
    )
    length = int(steps * step * rate)
    out = np.zeros((length + max(len(shot) for shot, _, _ in voices), 2))
    for shot, hits, pan in voices:
        gains = np.array([np.cos((pan + 1) * np.pi / 4), np.sin((pan + 1) * np.pi / 4)])
        for s in (s for s in range(steps) if s % 16 in hits):
            start = int(s * step * rate)
            out[start:start + len(shot)] += rng.uniform(0.7, 1.0) * unit(shot)[:, None] * gains
    return out[:length], f"Drum loop at {bpm} BPM, {bars} bars of 4/4, {kit.name} sounds"


SYNTHS = {"kick": synth_kick, "snare": synth_snare, "hihat_closed": synth_hihat_closed,
          "hihat_open": synth_hihat_open, "clap": synth_clap, "tom": synth_tom, "tonal": synth_tonal,
          "noise": synth_noise, "speech": synth_speech, "loop": synth_loop}


def spread_channels(x, channels, rng, rate):
    """Turn a mono signal into channels, each with its own small delay and gain."""
    if x.ndim == 2:
        return x
    columns = [x]
    for _ in range(channels - 1):
        delay = int(rng.integers(0, rate // 1250))  # up to 0.8 ms
        columns.append(rng.uniform(0.6, 1.0) * np.concatenate([np.zeros(delay), x[:len(x) - delay]]))
    return np.stack(columns, axis=1)


def finish(x, rng, rate):
    """Fade out the last 5 ms and normalize to a random peak of -6 to -1 dBFS."""
    fade = min(len(x), int(0.005 * rate))
    x = x.copy()
    x[len(x) - fade:] *= np.linspace(1, 0, fade)[:, None]
    return unit(x) * 10 ** (rng.uniform(-6, -1) / 20)


def render(sound):
    """Synthesize a planned sound: (frames x channels float array, description)."""
    rng = np.random.default_rng([SEED, zlib.crc32(sound.name.encode())])
    x, description = SYNTHS[sound.label](rng, sound.rate, sound.kit, sound.index)
    return finish(spread_channels(x, sound.channels, rng, sound.rate), rng, sound.rate), description


# --- writing files ----------------------------------------------------------

def run_tool(cmd, data=None):
    result = subprocess.run(cmd, input=data, capture_output=True)
    if result.returncode != 0:
        sys.exit(f"{PROG}: {' '.join(cmd)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def pcm_bytes(data, bits):
    """Interleaved little-endian signed PCM of the given bit depth."""
    ints = np.round(np.clip(data, -1, 1) * (2 ** (bits - 1) - 1)).astype("<i4")
    return ints.view(np.uint8).reshape(-1, 4)[:, :bits // 8].tobytes()


def write_audio(path, data, rate, fmt):
    """Write float frames x channels data to path in format fmt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = data.shape[1]
    if fmt in ("wav16", "wav24"):
        bits = 16 if fmt == "wav16" else 24
        with wave.open(str(path), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(bits // 8)
            w.setframerate(rate)
            w.writeframes(pcm_bytes(data, bits))
    elif fmt == "opus":
        run_tool(["opusenc", "--quiet", "--raw", "--raw-bits", "16", "--raw-rate", str(rate),
                  "--raw-chan", str(channels), "--serial", str(zlib.crc32(path.name.encode())),
                  "--bitrate", "64", "-", str(path)], pcm_bytes(data, 16))
    else:
        run_tool(["sox", "-D", "-R", "-t", "f32", "-r", str(rate), "-c", str(channels), "-",
                  *SOX_OPTIONS[fmt], str(path)], data.astype("<f4").tobytes())


def title_for(sound):
    if sound.label == "speech":
        return f'Spoken word "{SPEECH_WORDS[sound.index]}"'
    kit = f" ({sound.kit.name})" if sound.kit else ""
    return f"{sound.label.replace('_', ' ').capitalize()} {sound.index + 1:02d}{kit}"


def tags_for(sound):
    content_type = CLASSES[sound.label].content_type
    return ";".join(dict.fromkeys(t for t in (content_type, sound.label, sound.kit_name) if t != "-"))


def plan_sounds():
    for label, cls in CLASSES.items():
        for i in range(cls.count):
            fmt = cls.formats[i % len(cls.formats)]
            rate = cls.rates[i % len(cls.rates)]
            if fmt == "mp3":
                rate = min(rate, 48000)  # LAME cannot encode above 48 kHz
            kit = KITS[i % len(KITS)] if cls.uses_kit else None
            yield Planned(label, i, kit, fmt, rate, cls.channels[i % len(cls.channels)])


def make_duplicate(outdir, sound, data, kind):
    """Write one planted duplicate of sound; returns (path, seconds)."""
    fmt = "mp3" if kind == "reencode" else sound.fmt
    path = f"dupes/{sound.name}-{kind}.{EXTENSIONS[fmt]}"
    (outdir / "dupes").mkdir(exist_ok=True)
    if kind == "exact":
        shutil.copyfile(outdir / sound.path, outdir / path)
    elif kind == "gain":
        data = data * 10 ** (-6 / 20)
    elif kind == "trim":
        data = data[:int(0.9 * len(data))]
    if kind != "exact":
        write_audio(outdir / path, data, sound.rate, fmt)
    return path, len(data) / sound.rate


def build(outdir):
    """Write all sounds and duplicates; returns (entries, duplicate rows)."""
    entries, originals = [], {}
    for sound in plan_sounds():
        data, description = render(sound)
        write_audio(outdir / sound.path, data, sound.rate, sound.fmt)
        entry = Entry(sound.path, sound.label, sound.kit_name, title_for(sound), description,
                      CLASSES[sound.label].content_type, tags_for(sound), len(data) / sound.rate)
        entries.append(entry)
        originals[sound.name] = (sound, data, entry)
    duplicates = []
    for name, kind in DUPLICATES:
        sound, data, entry = originals[name]
        path, seconds = make_duplicate(outdir, sound, data, kind)
        entries.append(Entry(path, entry.label, entry.kit, f"{entry.title} ({kind} duplicate)",
                             f"Planted duplicate of {entry.path}, {DUPLICATE_NOTES[kind]}",
                             entry.content_type, entry.tags + ";duplicate", seconds))
        duplicates.append((path, entry.path, kind))
    return sorted(entries, key=lambda e: e.path), sorted(duplicates)


def write_tables(outdir, entries, duplicates):
    with open(outdir / "labels.tsv", "w", newline="") as f:
        f.write("path\tlabel\tkit\n")
        f.writelines(f"{e.path}\t{e.label}\t{e.kit}\n" for e in entries)
    with open(outdir / "duplicates.tsv", "w", newline="") as f:
        f.write("path\toriginal\tkind\n")
        f.writelines("\t".join(row) + "\n" for row in duplicates)
    with open(outdir / "metadata.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(["path", "title", "description", "content_type", "tags"])
        writer.writerows([e.path, e.title, e.description, e.content_type, e.tags] for e in entries)


# --- main -------------------------------------------------------------------

def check_tools():
    for tool, package in (("sox", "sox"), ("espeak-ng", "espeak-ng"), ("opusenc", "opus-tools")):
        if shutil.which(tool) is None:
            sys.exit(f"{PROG}: required tool '{tool}' not found on PATH (install {package})")
    help_text = subprocess.run(["sox", "-h"], capture_output=True, text=True).stdout
    formats = next((line.split() for line in help_text.splitlines() if line.startswith("AUDIO FILE FORMATS")), [])
    if "mp3" not in formats:
        sys.exit(f"{PROG}: sox cannot write MP3 (install libsox-fmt-mp3)")


def replace_dir(tmp, outdir):
    """Move tmp to outdir, replacing any previous outdir."""
    old = outdir.with_name(outdir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if outdir.exists():
        outdir.rename(old)
    tmp.rename(outdir)
    shutil.rmtree(old, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description="Synthesize the audiosim demo sample library.")
    parser.add_argument("outdir", nargs="?", type=Path, default=Path(__file__).resolve().parent / "demo",
                        help="folder to create (default: data/demo next to this script)")
    outdir = parser.parse_args().outdir
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    stamp = outdir / ".stamp"
    if stamp.is_file() and stamp.read_text().strip() == digest:
        print("demo library up to date", file=sys.stderr)
        return
    check_tools()
    started = time.monotonic()
    tmp = outdir.with_name(outdir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    entries, duplicates = build(tmp)
    write_tables(tmp, entries, duplicates)
    (tmp / ".stamp").write_text(digest + "\n")
    replace_dir(tmp, outdir)
    seconds = sum(e.seconds for e in entries)
    print(f"demo library: {len(entries)} files, {seconds:.1f} s of audio, in {outdir} "
          f"({time.monotonic() - started:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
