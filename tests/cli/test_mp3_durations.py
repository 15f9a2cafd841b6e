"""MP3 durations without --verify equal --verify's decoded count: from the Xing/Info header (less
the LAME delay and padding) or a walk over the frame headers. MP3s made by sox (LAME)."""

import pytest

from conftest import EXIT_OK, Audiosim, convert, parse_rows, tone, write_wav

# (name, rate, channels, sox output options): CBR files from sox carry no Info frame (walked);
# VBR ones carry Xing and LAME tags.
CASES = [
    ("cbr-44k-stereo.mp3", 44100, 2, ["-C", "128"]),
    ("cbr-22k-mono.mp3", 22050, 1, ["-C", "64"]),
    ("vbr-44k-stereo.mp3", 44100, 2, ["-C", "-4.2"]),
    ("vbr-22k-mono.mp3", 22050, 1, ["-C", "-2.5"]),
    ("short-cbr.mp3", 44100, 2, ["-C", "192"]),
    ("tagged-vbr.mp3", 44100, 2, ["-C", "-5", "--comment", "an ID3 tag"]),
]


def layer3_frame_bytes(header, rate):
    """The length of the MPEG-1 Layer III frame with this header (44.1 kHz streams)."""
    kbps = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
    return 144 * kbps[header[2] >> 4] * 1000 // rate + ((header[2] >> 1) & 1)


@pytest.fixture
def mp3s(library, tmp_path):
    for i, (name, rate, channels, options) in enumerate(CASES):
        seconds = 0.2 if name.startswith("short") else 2.3 + 0.37 * i
        wav = write_wav(tmp_path / f"{i}.wav", tone(seconds=seconds, rate=rate, channels=channels, seed=i), rate=rate)
        convert(wav, library / name, *options)
    # A VBR stream whose Xing frame is gone: libsndfile reads only as far as its length estimate.
    data = (library / "vbr-44k-stereo.mp3").read_bytes()
    assert data[36:40] == b"Xing"
    (library / "vbr-no-xing.mp3").write_bytes(data[layer3_frame_bytes(data, 44100):])
    # Cover art in an ID3v2 tag: libsndfile's estimate counts its bytes as audio (3 s more here).
    size = 100_000
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    cbr = (library / "cbr-44k-stereo.mp3").read_bytes()
    (library / "cover-art.mp3").write_bytes(b"ID3\x04\x00\x00" + syncsafe + bytes(size) + cbr)
    return library


def frames_by_path(audiosim, *args):
    rows, _ = audiosim.ingest_rows(*args, ".")
    return {row["path"]: row for row in rows}


def test_durations_without_verify_equal_the_decoded_count(mp3s, tmp_path):
    quick = frames_by_path(Audiosim(tmp_path / "quick", mp3s))
    verified = frames_by_path(Audiosim(tmp_path / "verified", mp3s), "--verify")
    assert set(quick) == {name for name, *_ in CASES} | {"vbr-no-xing.mp3", "cover-art.mp3"}
    assert quick["cover-art.mp3"]["frames"] == quick["cbr-44k-stereo.mp3"]["frames"]
    for path, row in quick.items():
        assert row["status"] == "ok", row
        assert row["frames"] == verified[path]["frames"], (path, row["frames"], verified[path]["frames"])
        assert row["duration"] == pytest.approx(verified[path]["duration"])
        assert row["frames_estimated"] is False, row
    assert quick["vbr-no-xing.mp3"]["warning"].startswith("short decode: libsndfile decodes ")
    assert all(row["warning"] == "" for path, row in quick.items() if path != "vbr-no-xing.mp3")


def test_the_library_hours_are_exact(mp3s, tmp_path):
    audiosim = Audiosim(tmp_path / "store", mp3s)
    rows, result = audiosim.ingest_rows(".")
    # Chunking decodes every file: its chunks end where the catalog says the file ends.
    chunks = parse_rows(audiosim.run("chunk", "--format", "jsonl", check_code=EXIT_OK).stdout, "jsonl")
    for row in rows:
        ends = [c["start"] + c["duration"] for c in chunks if c["path"] == row["path"]]
        assert max(ends) == pytest.approx(row["duration"], abs=1e-6), row["path"]
    status = audiosim.status()
    assert status["files"]["audio_seconds"] == pytest.approx(sum(row["duration"] for row in rows))
    assert status["files"]["durations_estimated"] == 0
    assert "estimated" not in result.stderr.decode().splitlines()[-1]

