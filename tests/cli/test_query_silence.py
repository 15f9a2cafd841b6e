"""Leading and trailing silence must not matter (issue 11): sample libraries hold the same hit
exported with different pre-roll, and MP3 and Opus encoders add a delay. The default model cuts
silence at both ends of every chunk, so a demo one-shot padded with 5 to 100 ms of silence, or
re-encoded, finds its original at rank 1."""

import csv
import subprocess

import numpy as np
import pytest
import soundfile

from conftest import EXIT_OK, convert, embedded_demo, write_wav
from test_query import by_query, query, top

ONE_SHOT_FOLDERS = ("kick", "snare", "tom", "clap", "hihat_closed", "hihat_open", "tonal")
PADDINGS_MS = ((5, 0), (25, 0), (100, 0), (0, 100), (40, 250))  # (before, after)
# A padded copy is the same samples, but resampling to the model's rate (22.05 kHz) sees them at
# another phase unless the padding is a whole number of the resampler's periods
MIN_PADDED_SCORE = 0.99


@pytest.fixture(scope="module")
def oneshot(tmp_path_factory, demo):
    """The demo library embedded and indexed with the one-shot profile (the first 10 s of a file)."""
    audiosim = embedded_demo(tmp_path_factory.mktemp("silence"), demo)
    audiosim.run("embed", "--profile", "oneshot", check_code=EXIT_OK, timeout=600)
    audiosim.run("index", "--profile", "oneshot", check_code=EXIT_OK)
    return audiosim


def one_shots(library):
    return sorted(str(p.relative_to(library)) for folder in ONE_SHOT_FOLDERS for p in (library / folder).iterdir())


def same_content(demo):
    """path -> the demo files with the same content (duplicates.tsv's exact and gain copies)."""
    twins = {}
    with open(demo / "duplicates.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["kind"] in ("exact", "gain"):
                twins.setdefault(row["original"], set()).add(row["path"])
    return twins


def padded_copies(library, original, folder):
    """{kind: path}: copies of one file with silence added at its ends (16-bit WAV, same rate)."""
    stem = original.replace("/", "_").rsplit(".", 1)[0]
    samples, rate = soundfile.read(library / original, always_2d=True)
    copies = {}
    for before_ms, after_ms in PADDINGS_MS:
        before = np.zeros((round(rate * before_ms / 1000), samples.shape[1]))
        after = np.zeros((round(rate * after_ms / 1000), samples.shape[1]))
        copies[f"{before_ms} ms before, {after_ms} ms after"] = write_wav(
            folder / f"{stem}.pad-{before_ms}-{after_ms}.wav", np.concatenate([before, samples, after]), rate=rate)
    return copies


def encoded_copies(library, original, folder):
    """{kind: path}: an MP3 (LAME, with the Xing/LAME tag that records its encoder delay and padding,
    written by libsndfile) and an Opus copy (its pre-skip is in the Ogg header)."""
    stem = original.replace("/", "_").rsplit(".", 1)[0]
    samples, rate = soundfile.read(library / original, always_2d=True)
    if samples.shape[1] > 2:  # the encoders take stereo at most; audiosim mixes to mono anyway
        samples = samples.mean(axis=1, keepdims=True)
    wav = write_wav(folder / f"{stem}.source.wav", samples, rate=rate)
    if rate > 48000:  # MPEG audio's highest rate
        wav = convert(wav, folder / f"{stem}.48k.wav", effects=("rate", "48000"))
    mp3 = folder / f"{stem}.mp3"
    mp3_source, mp3_rate = soundfile.read(wav, always_2d=True)
    soundfile.write(mp3, mp3_source, mp3_rate, format="MP3")
    # decoded gaplessly: the encoder's delay and padding are gone, the length is the source's
    assert soundfile.info(mp3).frames == len(mp3_source), mp3
    opus = folder / f"{stem}.opus"
    subprocess.run(["opusenc", "--quiet", "--bitrate", "96", str(wav), str(opus)], check=True, capture_output=True)
    return {"mp3": mp3, "opus 96k": opus}


def failures(audiosim, queries, twins, min_score=None):
    """Queries whose first row is not their original (or a copy of it with the same content)."""
    rows, result = query(audiosim, "-", "--profile", "oneshot", "--limit", "3", input="\n".join(queries).encode())
    grouped = by_query(rows)
    assert set(grouped) == set(queries), result.stderr.decode()
    failed = []
    for name, (original, kind) in sorted(queries.items(), key=lambda q: q[1]):
        first = grouped[name][0]
        if first["path"] not in {original} | twins.get(original, set()) or (min_score and first["score"] < min_score):
            failed.append(f"{original} ({kind}): {top(grouped[name])}")
    return failed


def test_silence_padded_one_shots_find_their_original_at_the_same_score(oneshot, demo, tmp_path):
    queries = {str(path): (original, kind) for original in one_shots(oneshot.cwd)
               for kind, path in padded_copies(oneshot.cwd, original, tmp_path).items()}
    assert len(queries) == len(PADDINGS_MS) * len(one_shots(oneshot.cwd))
    failed = failures(oneshot, queries, same_content(demo), min_score=MIN_PADDED_SCORE)
    assert not failed, "\n".join(failed)


def test_mp3_and_opus_copies_of_one_shots_find_their_original(oneshot, demo, tmp_path):
    queries = {str(path): (original, kind) for original in one_shots(oneshot.cwd)
               for kind, path in encoded_copies(oneshot.cwd, original, tmp_path).items()}
    failed = failures(oneshot, queries, same_content(demo))
    assert not failed, "\n".join(failed)
