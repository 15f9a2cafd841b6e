"""audiosim query with altered copies of stored demo files (outside the library, never ingested):
each must find its original at rank 1 with the default model (a product requirement)."""

import math

import numpy as np
import pytest

from conftest import convert, embedded_demo, read_wav, write_wav
from test_query import by_query, query, top


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, demo):
    return embedded_demo(tmp_path_factory.mktemp("altered"), demo, index=True)


ALTERED_ORIGINALS = ("kick/kick-02.wav", "snare/snare-05.wav", "tom/tom-02.flac", "hihat_open/hihat_open-02.wav",
                     "tonal/tonal-05.flac", "speech/speech-05.aiff", "loop/loop-03.flac")


def make_altered(library, original, folder):
    """The alterations of one stored file (written outside the library): {kind: path}."""
    stem = original.replace("/", "_").rsplit(".", 1)[0]
    original = library / original
    decoded = convert(original, folder / f"{stem}.decoded.wav", "-b", "16")
    samples, rate = read_wav(decoded)
    seconds = len(samples) / rate
    noise = np.random.default_rng(len(samples)).normal(0, 1, samples.shape)
    noise *= math.sqrt(np.mean(samples ** 2) / np.mean(noise ** 2)) / 10  # 20 dB below the signal's power
    return {
        "gain -6 dB": convert(original, folder / f"{stem}.gain.wav", effects=("gain", "-6")),
        "mp3": convert(original, folder / f"{stem}.mp3", "-C", "128"),
        "ogg": convert(original, folder / f"{stem}.ogg"),
        "22.05 kHz": convert(original, folder / f"{stem}.22k.wav", effects=("rate", "22050")),
        "first 10 % cut": convert(original, folder / f"{stem}.trim-start.wav", effects=("trim", f"{seconds * 0.1:.4f}")),
        "last 10 % cut": convert(original, folder / f"{stem}.trim-end.wav", effects=("trim", "0", f"{seconds * 0.9:.4f}")),
        "white noise 20 dB SNR": write_wav(folder / f"{stem}.noise.wav", samples + noise, rate=rate),
    }


def test_altered_copies_find_their_original(indexed, tmp_path):
    queries = {}
    for original in ALTERED_ORIGINALS:
        for kind, path in make_altered(indexed.cwd, original, tmp_path).items():
            queries[str(path)] = (original, kind)
    rows, result = query(indexed, "-", "--limit", "3", input="\n".join(queries).encode())
    grouped = by_query(rows)
    assert set(grouped) == set(queries), result.stderr.decode()
    failures = [(original, kind, top(grouped[name]))
                for name, (original, kind) in sorted(queries.items(), key=lambda q: q[1])
                if grouped[name][0]["path"] != original]
    assert not failures, "\n".join(f"{original} ({kind}): {results}" for original, kind, results in failures)
