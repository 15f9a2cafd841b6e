"""audiosim report: score histograms of all pairs (no stored pairs here: the pairs command writes
them; kept pairs are covered by tests/unit/test_report_histogram.cpp), the SVG plot, and topic
relevance with a scripted text tower (the model of test_query_text.py)."""

import json
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pytest

from conftest import EXIT_OK, EXIT_USAGE, Audiosim, parse_rows, read_manifest, tone, write_model, write_wav
from test_query_text import AUDIO, HIGH, LOW, TEXT

BUCKETS = ["very similar", "similar", "related", "different"]
FILES = len(LOW) + len(HIGH)


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    library = base / "library"
    for folder, frequencies in (("low", LOW), ("high", HIGH)):
        for frequency in frequencies:
            write_wav(library / folder / f"tone-{frequency}.wav", tone(seconds=1.0, rate=16000, frequency=frequency),
                      rate=16000)
    models = base / "models"
    write_model(models, "texttoy", AUDIO, dim=2, text_body=TEXT)
    audiosim = Audiosim(base / "store", library)
    env = {"AUDIOSIM_MODEL_PATH": str(models)}
    rows, _ = audiosim.ingest_rows(".")
    audiosim.file_ids = {row["path"]: row["file_id"] for row in rows}
    audiosim.run("embed", "--model", "texttoy", check_code=EXIT_OK, env=env)
    audiosim.run("embed", check_code=EXIT_OK, env=env)  # a second set, by the default model (no text tower)
    return audiosim, env


def report(audiosim, env, *args, check_code=EXIT_OK):
    return audiosim.run("report", "--model", "texttoy", *args, env=env, check_code=check_code)


def file_vectors(audiosim):
    """path -> the file vector (L2-normalized mean of its chunk vectors), from the store's files."""
    manifest = read_manifest(audiosim.store)
    key = next(k for k in manifest["embeddings"] if k.endswith("/texttoy@1") or "texttoy" in k)
    by_file = {}
    for segment in manifest["embeddings"][key]["segments"]:
        with h5py.File(audiosim.store / segment["file"]) as f:
            dropped = set(f["dropped/file_id"][:]) if "dropped" in f else set()
            for file_id in dropped:
                by_file.pop(int(file_id), None)
            ids, vectors = f["embeddings/file_id"][:], f["embeddings/vector"][:]
            for file_id in set(ids):
                by_file[int(file_id)] = vectors[ids == file_id]
    paths = {file_id: path for path, file_id in audiosim.file_ids.items()}
    out = {}
    for file_id, rows in by_file.items():
        mean = rows.astype(np.float64).mean(0)
        out[paths[file_id]] = mean / np.linalg.norm(mean)
    return out


def test_all_pairs_counts_add_up_and_the_missing_pairs_are_said(reported):
    audiosim, env = reported
    result = report(audiosim, env, "--format", "tsv")
    assert "no stored pairs" in result.stderr.decode() and "audiosim pairs" in result.stderr.decode()
    rows = parse_rows(result.stdout, "tsv")
    assert list(rows[0]) == ["scope", "group", "row", "low", "high", "bucket", "count", "share", "pairs", "population",
                             "sampled"]
    assert {row["scope"] for row in rows} == {"all"}  # nothing kept
    buckets = [row for row in rows if row["row"] == "bucket"]
    bins = [row for row in rows if row["row"] == "bin"]
    assert [row["bucket"] for row in buckets] == BUCKETS
    assert len(bins) == 40
    pairs = FILES * (FILES - 1) // 2
    assert sum(int(row["count"]) for row in buckets) == pairs
    assert sum(int(row["count"]) for row in bins) == pairs
    assert sum(float(row["share"]) for row in buckets) == pytest.approx(1, abs=1e-5)
    assert sum(float(row["share"]) for row in bins) == pytest.approx(1, abs=1e-5)
    assert all(row["pairs"] == str(pairs) and row["population"] == str(pairs) and row["sampled"] == "false" for row in rows)
    # Bins are whole 0.05 steps, each in the bucket of its scores; each bucket is the sum of its bins.
    assert [(float(r["low"]), float(r["high"])) for r in bins][:2] == [(-1.0, -0.95), (-0.95, -0.9)]
    assert float(bins[-1]["high"]) == 1.0
    for bucket in buckets:
        assert int(bucket["count"]) == sum(int(b["count"]) for b in bins if b["bucket"] == bucket["bucket"])
    assert [(float(b["low"]), float(b["high"])) for b in buckets] == [(0.8, 1.0), (0.6, 0.8), (0.4, 0.6), (-1.0, 0.4)]


def test_scores_match_numpy_per_group(reported):
    audiosim, env = reported
    vectors = file_vectors(audiosim)
    result = report(audiosim, env, "--group-by", "folder", "--format", "json")
    data = json.loads(result.stdout)
    assert data["group_by"] == "folder" and data["kept_pairs"] is None and data["files"] == FILES
    assert [g["group"] for g in data["groups"]] == ["high", "low"]
    for group in data["groups"]:
        paths = sorted(p for p in vectors if p.startswith(group["group"] + "/"))
        scores = [float(vectors[a] @ vectors[b]) for i, a in enumerate(paths) for b in paths[i + 1:]]
        assert group["files"] == len(paths) and group["all"]["population"] == len(scores) == group["all"]["pairs"]
        expected = [sum(1 for s in scores if lo <= s < hi or (hi == 1.0 and s >= lo))
                    for lo, hi in ((-9, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0))][::-1]
        assert [b["count"] for b in group["all"]["buckets"]] == expected
        assert group["kept"] is None


def test_a_stated_seeded_sample_for_large_groups(reported):
    audiosim, env = reported
    args = ("--exact-limit", "5", "--sample", "10", "--seed", "7", "--format", "json")
    first = report(audiosim, env, *args)
    assert "sample of 10 of 15 pairs, seed 7" in first.stderr.decode()
    data = json.loads(first.stdout)
    assert data["all_pairs"] == {"exact_limit": 5, "sample": 10, "seed": 7}
    (group,) = data["groups"]
    assert group["all"]["sampled"] is True and group["all"]["pairs"] == 10 and group["all"]["population"] == 15
    assert sum(b["count"] for b in group["all"]["bins"]) == 10
    assert report(audiosim, env, *args, "--threads", "3").stdout == first.stdout


def test_text_report_and_svg_plot(reported, tmp_path):
    audiosim, env = reported
    plot = tmp_path / "pairs.svg"
    result = report(audiosim, env, "--group-by", "folder", "--plot", plot)
    text = result.stdout.decode()
    for line in ("very similar  [0.80, 1.00]", "bin           [0.95, 1.00]", "different     [-1.00, 0.40)", "folder high: 3 files", "kept pairs  none stored"):
        assert line in text
    root = ET.parse(plot).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    labels = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for bucket in BUCKETS:
        assert bucket in labels
    assert "folder high: 3 files" in labels and "folder low: 3 files" in labels
    assert plot.read_bytes() == (report(audiosim, env, "--group-by", "folder", "--plot", plot), plot.read_bytes())[1]


def test_topics_per_group_match_numpy(reported):
    audiosim, env = reported
    vectors = file_vectors(audiosim)
    topics = {"high hats": np.array([0.0, 1.0]), "low rumble": np.array([1.0, 0.0])}  # the scripted text tower
    result = report(audiosim, env, "--group-by", "folder", "--topic", "high hats", "--topic", "low rumble",
                    "--format", "tsv")
    rows = parse_rows(result.stdout, "tsv")
    assert list(rows[0]) == ["topic", "group", "files", "mean", "min", "max"]
    assert [(r["topic"], r["group"]) for r in rows] == [(t, g) for t in topics for g in ("high", "low")]
    for row in rows:
        scores = [float(v @ topics[row["topic"]]) for p, v in vectors.items() if p.startswith(row["group"] + "/")]
        assert int(row["files"]) == len(scores) == 3
        assert -1 <= float(row["mean"]) <= 1
        assert float(row["mean"]) == pytest.approx(np.mean(scores), abs=1e-5)
        assert float(row["min"]) == pytest.approx(min(scores), abs=1e-5)
        assert float(row["max"]) == pytest.approx(max(scores), abs=1e-5)
    means = {(r["topic"], r["group"]): float(r["mean"]) for r in rows}
    assert means[("high hats", "high")] > 0.9 > 0.5 > means[("high hats", "low")]


def test_topic_on_a_model_without_a_text_tower_is_a_usage_error(reported):
    audiosim, env = reported
    result = audiosim.run("report", "--model", "audiosim-dsp", "--topic", "kick", env=env)
    assert result.returncode == EXIT_USAGE
    message = result.stderr.decode().strip()
    assert len(message.splitlines()) == 1
    assert "text tower" in message and "texttoy" in message
    assert result.stdout == b""
