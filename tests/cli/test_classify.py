"""audiosim classify on the demo library: half of the files keep their label, the other half get
one from their labeled neighbours (weighted kNN), and --evaluate measures the vote leave-one-out."""

import csv
import io
import json

import pytest

from conftest import EXIT_OK, EXIT_USAGE, embedded_demo

# The default model must label most unlabeled demo files right; a vote that ignored the vectors
# would get about one in ten (ten labels).
MIN_ACCURACY = 0.75


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, demo):
    return embedded_demo(tmp_path_factory.mktemp("classify"), demo)


@pytest.fixture(scope="module")
def truth(demo):
    with open(demo / "labels.tsv", newline="") as f:
        return {row["path"]: row for row in csv.DictReader(f, delimiter="\t")}


@pytest.fixture(scope="module")
def half_labels(embedded, truth, tmp_path_factory):
    """Every other labeled file keeps its row (with its kit column); the rest are unlabeled."""
    kept = {path: row for i, (path, row) in enumerate(sorted(truth.items())) if i % 2 == 0}
    path = tmp_path_factory.mktemp("labels") / "half.tsv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "kit"], delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept.values())
    return path, kept


def classify(audiosim, *args, format="jsonl", check_code=EXIT_OK):
    result = audiosim.run("classify", "--format", format, *args, check_code=check_code)
    return result


def test_unlabeled_files_get_their_neighbours_label(embedded, truth, half_labels):
    labels_path, kept = half_labels
    result = classify(embedded, "--labels", str(labels_path))
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert rows, result.stderr.decode()
    paths = [row["path"] for row in rows]
    assert paths == sorted(paths) and not set(paths) & set(kept)
    # every demo file has a vector: each unlabeled one is predicted
    assert set(truth) - set(kept) <= set(paths)
    known = [row for row in rows if row["path"] in truth]
    correct = sum(row["label"] == truth[row["path"]]["label"] for row in known)
    assert correct >= MIN_ACCURACY * len(known), [(r["path"], r["label"]) for r in known]
    for row in rows:
        assert 0 < row["confidence"] <= 1 and 1 <= row["votes"] <= row["voters"] <= 10
        scores = [n["score"] for n in row["neighbours"]]
        assert scores == sorted(scores, reverse=True)
        assert all(n["path"] in kept and n["label"] == kept[n["path"]]["label"] for n in row["neighbours"])
        assert abs(sum(n["weight"] for n in row["neighbours"]) - 1) < 1e-4
        assert row["votes"] == sum(n["label"] == row["label"] for n in row["neighbours"])
        # the prediction is the label of the heaviest neighbours
        weights = {}
        for n in row["neighbours"]:
            weights[n["label"]] = weights.get(n["label"], 0) + n["weight"]
        assert weights[row["label"]] == max(weights.values())
        assert abs(weights[row["label"]] - row["confidence"]) < 1e-4
    assert "unlabeled files labeled from" in result.stderr.decode()

    tsv = classify(embedded, "--labels", str(labels_path), "--k", "3", format="tsv").stdout.decode()
    table = list(csv.DictReader(io.StringIO(tsv), delimiter="\t"))
    assert list(table[0]) == ["path", "label", "confidence", "votes", "voters", "neighbours"]
    assert [row["path"] for row in table] == paths
    assert all(row["voters"] == "3" and row["neighbours"].count(" | ") == 2 for row in table)


def test_evaluate_reports_leave_one_out_accuracy(embedded, truth):
    report = json.loads(classify(embedded, "--labels", "labels.tsv", "--evaluate", format="json").stdout)
    rows = report["predictions"]
    assert report["held_out"] == len(rows) == len(truth)
    assert all(row["true_label"] == truth[row["path"]]["label"] for row in rows)
    assert report["correct"] == sum(row["correct"] for row in rows) == sum(row["label"] == row["true_label"] for row in rows)
    assert report["accuracy"] == pytest.approx(report["correct"] / (report["held_out"] - report["without_candidate"]))
    assert report["accuracy"] >= MIN_ACCURACY
    assert sum(label["files"] for label in report["per_label"]) == report["held_out"] - report["without_candidate"]
    shares = [level["predictions"] for level in report["coverage"]]
    assert shares == sorted(shares, reverse=True) and shares[0] <= report["held_out"]
    # no file votes for itself, nor does its byte-identical copy (dupes/kick-03-exact.wav)
    for row in rows:
        assert row["path"] not in [n["path"] for n in row["neighbours"]]
    kick = next(row for row in rows if row["path"] == "kick/kick-03.wav")
    assert "dupes/kick-03-exact.wav" not in [n["path"] for n in kick["neighbours"]]

    # Neighbours from the same kit do not vote: every voter comes from another kit.
    by_kit = json.loads(classify(embedded, "--labels", "labels.tsv", "--evaluate", "--exclude-same", "kit",
                                 format="json").stdout)
    for row in by_kit["predictions"]:
        kit = truth[row["path"]]["kit"]
        if kit not in ("", "-"):
            assert all(truth[n["path"]]["kit"] != kit for n in row["neighbours"]), row["path"]

    text = classify(embedded, "--labels-from-folders", "--evaluate", format="text").stdout.decode()
    assert "accuracy" in text and "labels      folders" in text


def test_usage_errors_name_the_problem(embedded):
    result = classify(embedded, check_code=EXIT_USAGE)
    assert b"--labels" in result.stderr
    result = classify(embedded, "--labels", "labels.tsv", format="text", check_code=EXIT_USAGE)
    assert b"--evaluate" in result.stderr
    result = classify(embedded, "--labels", "labels.tsv", "--evaluate", "--exclude-same", "machine", format="json",
                      check_code=EXIT_USAGE)
    assert b"machine" in result.stderr and b"kit" in result.stderr
    result = classify(embedded, "--labels", "labels.tsv", "--k", "0", check_code=EXIT_USAGE)
    assert b"--k" in result.stderr
