"""audiosim eval on the demo library: retrieval quality of the default model's embeddings by label."""

import csv
import io
import json

import pytest

from conftest import EXIT_INPUT, EXIT_OK, EXIT_USAGE, Audiosim, copy_demo

METRICS = ("p_at_1", "p_at_5", "p_at_10", "map_at_10")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, demo):
    """The demo library ingested and embedded (profile oneshot, default model) once for the module."""
    base = tmp_path_factory.mktemp("eval")
    library = copy_demo(demo, base / "library")
    audiosim = Audiosim(base / "store", library)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("embed", "--profile", "oneshot", check_code=EXIT_OK, timeout=600)
    return audiosim


def eval_json(audiosim, *args, check_code=EXIT_OK):
    result = audiosim.run("eval", "--profile", "oneshot", "--format", "json", *args, check_code=check_code)
    return json.loads(result.stdout)


def label_rows(demo):
    with open(demo / "labels.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def check_metrics(row):
    for name in METRICS:
        assert row[name] is None or 0 <= row[name] <= 1, (name, row)


def test_labels_file_json(embedded, demo):
    report = eval_json(embedded, "--labels", "labels.tsv")
    for field in ("embeddings", "labels", "exclude_same", "scoring", "files", "queries", "skipped_queries",
                  "duplicate_pairs_removed", "mean_candidates", "mean_relevant", *METRICS, "per_label", "confusions"):
        assert field in report, field
    assert report["embeddings"].startswith("oneshot/audiosim-dsp-")
    check_metrics(report)
    files = report["files"]
    rows = label_rows(demo)
    # Every demo file is labeled and embedded (no flagged chunks), so every one queries.
    assert files["labeled_with_embeddings"] == len(rows)
    assert files["labeled_without_embeddings"] == 0 and files["label_rows_without_file"] == 0
    assert report["queries"] + report["skipped_queries"] == files["labeled_with_embeddings"]
    assert report["mean_candidates"] <= files["labeled_with_embeddings"] - 1
    # dupes/kick-03-exact.wav is byte-identical to kick/kick-03.wav: removed from each other's rankings.
    assert report["duplicate_pairs_removed"] == 2

    labels = sorted({row["label"] for row in rows})
    assert [row["label"] for row in report["per_label"]] == labels
    for row in report["per_label"]:
        check_metrics(row)
    assert sum(row["queries"] for row in report["per_label"]) == report["queries"]
    assert 0 < len(report["confusions"]) <= 10
    counts = [c["count"] for c in report["confusions"]]
    assert counts == sorted(counts, reverse=True)
    for c in report["confusions"]:
        assert c["query_label"] != c["retrieved_label"] and c["query_label"] in labels

    # Chance is about 1/9 for p@1 (10 labels of similar size); the DSP model must do far better.
    assert report["p_at_1"] > 0.5, report
    assert report["map_at_10"] > 0.3, report


def test_exclude_same_kit(embedded):
    everything = eval_json(embedded, "--labels", "labels.tsv")
    other_kits = eval_json(embedded, "--labels", "labels.tsv", "--exclude-same", "kit")
    assert other_kits["exclude_same"] == ["kit"]
    assert other_kits["mean_candidates"] < everything["mean_candidates"]
    assert other_kits["mean_relevant"] <= everything["mean_relevant"]
    check_metrics(other_kits)
    # Files with kit "-" (noise, speech, tonal) belong to no kit: nothing is removed for them.
    noise = {row["label"]: row for row in other_kits["per_label"]}["noise"]
    assert noise == {row["label"]: row for row in everything["per_label"]}["noise"]


def test_labels_from_folders(embedded, demo):
    from_file = eval_json(embedded, "--labels", "labels.tsv")
    from_folders = eval_json(embedded, "--labels-from-folders")
    assert from_folders["labels"] == "folders"
    folder_labels = {row["label"] for row in from_folders["per_label"]}
    # The demo's folders are its labels, but for dupes/, whose files carry their originals' labels.
    assert folder_labels == {row["label"] for row in label_rows(demo)} | {"dupes"}
    assert from_folders["files"]["labeled_with_embeddings"] == from_file["files"]["labeled_with_embeddings"]
    by_file = {row["label"]: row for row in from_file["per_label"]}
    by_folder = {row["label"]: row for row in from_folders["per_label"]}
    dupes_of = {row["label"] for row in label_rows(demo) if row["path"].startswith("dupes/")}
    for label in folder_labels - dupes_of - {"dupes"}:
        assert by_folder[label]["queries"] == by_file[label]["queries"], label


def test_exact_duplicate_is_never_a_hit(embedded, tmp_path):
    # kick-03 and its byte-identical copy share label x, nothing else does: if the copy counted, both
    # queries would score p@1 = 1. Instead they have no relevant candidate and are skipped. The
    # re-encoded snare (another hash) is a fair hit for its original.
    labels = tmp_path / "pairs.tsv"
    labels.write_text("path\tlabel\n"
                      "kick/kick-03.wav\tx\ndupes/kick-03-exact.wav\tx\n"
                      "snare/snare-01.wav\ty\ndupes/snare-01-reencode.mp3\ty\n"
                      "clap/clap-01.wav\tz\nclap/clap-02.mp3\tz\ntom/tom-01.wav\tz\n")
    report = eval_json(embedded, "--labels", str(labels))
    rows = {row["label"]: row for row in report["per_label"]}
    assert rows["x"]["queries"] == 0 and rows["x"]["skipped"] == 2 and rows["x"]["p_at_1"] is None
    assert rows["y"]["queries"] == 2 and rows["y"]["p_at_1"] == 1
    assert report["skipped_queries"] == 2 and report["duplicate_pairs_removed"] == 2
    everything = eval_json(embedded, "--labels", "labels.tsv")
    assert report["files"]["unlabeled_with_embeddings"] == everything["files"]["labeled_with_embeddings"] - 7


def test_tabular_formats_and_text(embedded):
    tsv = embedded.run("eval", "--profile", "oneshot", "--labels", "labels.tsv", "--format", "tsv", check_code=EXIT_OK)
    rows = list(csv.DictReader(io.StringIO(tsv.stdout.decode()), delimiter="\t"))
    assert list(rows[0]) == ["label", "queries", "skipped", *METRICS]
    assert [r["label"] for r in rows] == sorted(r["label"] for r in rows)
    jsonl = embedded.run("eval", "--profile", "oneshot", "--labels", "labels.tsv", "--format", "jsonl", check_code=EXIT_OK)
    assert [json.loads(line)["label"] for line in jsonl.stdout.decode().splitlines()] == [r["label"] for r in rows]
    text = embedded.run("eval", "--profile", "oneshot", "--labels", "labels.tsv", check_code=EXIT_OK).stdout.decode()
    for part in ("overall", "p@1", "mAP@10", "cosine", "exact duplicates", "most confused", "hihat_closed"):
        assert part in text, part
    # Deterministic: the same report twice.
    again = embedded.run("eval", "--profile", "oneshot", "--labels", "labels.tsv", check_code=EXIT_OK).stdout.decode()
    assert again == text


def test_model_and_embeddings_key_agree(embedded):
    by_model = eval_json(embedded, "--labels", "labels.tsv", "--model", "audiosim-dsp")
    by_key = eval_json(embedded, "--labels", "labels.tsv", "--embeddings", by_model["embeddings"])
    assert by_key == by_model


def test_errors(embedded):
    result = embedded.run("eval", "--profile", "oneshot", "--labels", "labels.tsv", "--exclude-same", "machine",
                          check_code=EXIT_USAGE)
    message = result.stderr.decode()
    assert "'machine'" in message and "path, label, kit" in message
    result = embedded.run("eval", "--profile", "oneshot", "--labels", "missing.tsv", check_code=EXIT_INPUT)
    assert "missing.tsv" in result.stderr.decode()
    # The sample profile was never embedded: the store names the sets it has.
    result = embedded.run("eval", "--profile", "sample", "--labels", "labels.tsv", check_code=EXIT_INPUT)
    assert "oneshot/audiosim-dsp-" in result.stderr.decode()
    # Without --profile or --model, the store's only set is the one evaluated.
    only = json.loads(embedded.run("eval", "--labels", "labels.tsv", "--format", "json", check_code=EXIT_OK).stdout)
    assert only["embeddings"].startswith("oneshot/audiosim-dsp-")
    embedded.run("eval", "--profile", "oneshot", check_code=EXIT_USAGE)
    embedded.run("eval", "--profile", "oneshot", "--labels", "labels.tsv", "--labels-from-folders", check_code=EXIT_USAGE)
    embedded.run("eval", "--profile", "oneshot", "--labels", "labels.tsv", "--format", "xml", check_code=EXIT_USAGE)
