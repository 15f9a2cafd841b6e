"""audiosim pairs on the demo library: planted duplicates found as clusters (and nothing else),
their keepers, pairs within groups, stored pairs, index pairs matching exact ones, output formats."""

import csv
import json
import os
import shutil

import h5py
import pytest

from conftest import EXIT_OK, EXIT_USAGE, embedded_demo, parse_rows, read_manifest, write_wav


@pytest.fixture(scope="module")
def paired(tmp_path_factory, demo):
    return embedded_demo(tmp_path_factory.mktemp("pairs"), demo)


def planted(demo):
    """{frozenset(copy, original)} of data/demo/duplicates.tsv."""
    with open(demo / "duplicates.tsv", newline="") as f:
        return {frozenset((row["path"], row["original"])) for row in csv.DictReader(f, delimiter="\t")}


def test_duplicates_finds_every_planted_cluster_and_nothing_else(paired, demo):
    result = paired.run("pairs", "--duplicates", check_code=EXIT_OK)
    rows = parse_rows(result.stdout, "tsv")
    clusters = {}
    for row in rows:
        clusters.setdefault(row["cluster"], []).append(row)
    found = {frozenset(row["path"] for row in members) for members in clusters.values()}
    assert found == planted(demo)
    for members in clusters.values():
        assert [row["role"] for row in members].count("keep") == 1
        assert members[0]["role"] == "keep"  # keeper first
        keeper = members[0]
        for row in members[1:]:
            if row["same_bytes_as_keeper"] == "true":
                continue
            assert float(row["waveform_match_to_keeper"]) >= 0.9
    # The keeper of the re-encode cluster is the lossless original; of the trim cluster, the longer file.
    keepers = {frozenset(row["path"] for row in members): members[0]["path"] for members in clusters.values()}
    assert keepers[frozenset(("dupes/snare-01-reencode.mp3", "snare/snare-01.wav"))] == "snare/snare-01.wav"
    assert keepers[frozenset(("dupes/hihat_open-01-trim.wav", "hihat_open/hihat_open-01.wav"))] == "hihat_open/hihat_open-01.wav"
    # Of the exact copy (the same file twice), the original, not the copy in dupes/ that sorts first.
    assert keepers[frozenset(("dupes/kick-03-exact.wav", "kick/kick-03.wav"))] == "kick/kick-03.wav"
    assert "duplicate clusters" in result.stderr.decode()


def test_the_keeper_of_identical_files_is_the_original(audiosim, library):
    """Copies as people make them: the same bytes, in a folder that sorts first, newer (cp), or with
    the same time (cp -p) and a copy's name."""
    def plant(original, frequency, copies, mtime):
        write_wav(library / original, frequency=frequency, seconds=1.5)
        os.utime(library / original, (mtime, mtime))
        for copy, copy_mtime in copies:
            (library / copy).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(library / original, library / copy)
            os.utime(library / copy, (copy_mtime, copy_mtime))
    plant("kick/kick.wav", 110, [("dupes/kick.wav", 1_600_000_100)], 1_600_000_000)
    plant("snare/snare.wav", 440, [("backup/snare copy.wav", 1_600_000_000), ("backup/Copy of snare (1).wav", 1_600_000_000)],
          1_600_000_000)
    plant("zz/hat.wav", 3520, [("hats/hat-long-name.wav", 1_600_000_000)], 1_600_000_000)
    audiosim.ingest_rows(".")
    audiosim.run("embed", check_code=EXIT_OK)
    rows = parse_rows(audiosim.run("pairs", "--duplicates", check_code=EXIT_OK).stdout, "tsv")
    keepers = {}
    for row in rows:
        keepers.setdefault(row["cluster"], []).append(row["path"])
    assert sorted(members[0] for members in keepers.values()) == ["kick/kick.wav", "snare/snare.wav", "zz/hat.wav"]
    assert sorted(len(members) for members in keepers.values()) == [2, 2, 3]


def test_pairs_are_kept_once_above_the_score_in_order_and_stored(paired):
    result = paired.run("pairs", "--min-score", "0.8", "--format", "jsonl", check_code=EXIT_OK)
    rows = parse_rows(result.stdout, "jsonl")
    assert rows, "the demo has similar sounds"
    keys = [(row["a"], row["b"]) for row in rows]
    assert len(set(keys)) == len(keys)
    assert all(a < b for a, b in keys)
    assert all(row["score"] >= 0.8 for row in rows)
    assert [row["score"] for row in rows] == sorted((row["score"] for row in rows), reverse=True)

    manifest = read_manifest(paired.store)
    (key, entry), = manifest["pairs"].items()
    assert key.startswith("sample/audiosim-dsp-")
    with h5py.File(paired.store / entry["file"], "r") as f:
        assert f.attrs["format"] == "audiosim-pairs" and f.attrs["format_version"] == 2
        assert f.attrs["min_score"] == 0.8 and f.attrs["k"] == 10 and f.attrs["group_by"] == ""
        assert f.attrs["method"].startswith("exact (cpu: ") and "mean chunk vectors" in f.attrs["file_similarity"]
        assert f["pairs"].attrs["rows"] == len(rows)
        assert sorted(f["pairs/score"][:].tolist(), reverse=True) == pytest.approx([row["score"] for row in rows], abs=1e-6)
    # A new run replaces the stored pairs; the old file is removed.
    paired.run("pairs", "--min-score", "0.9", check_code=EXIT_OK)
    newer = read_manifest(paired.store)["pairs"][key]["file"]
    assert newer != entry["file"] and not (paired.store / entry["file"]).exists()


def test_index_pairs_match_exact_pairs(paired):
    ann = parse_rows(paired.run("pairs", "--min-score", "0.5", check_code=EXIT_OK).stdout, "tsv")
    exact = parse_rows(paired.run("pairs", "--min-score", "0.5", "--exact", "--device", "cpu", check_code=EXIT_OK).stdout, "tsv")
    want = {(row["a"], row["b"]) for row in exact}
    got = {(row["a"], row["b"]) for row in ann}
    assert len(want & got) / len(want) >= 0.99
    scores = {(row["a"], row["b"]): float(row["score"]) for row in exact}
    for row in ann:  # the same score whichever search found the pair
        if (row["a"], row["b"]) in scores:
            assert float(row["score"]) == pytest.approx(scores[(row["a"], row["b"])], abs=1e-6)


def test_group_by_keeps_pairs_within_a_group(paired, demo):
    with open(demo / "metadata.csv", newline="") as f:
        content_type = {row["path"]: row["content_type"] for row in csv.DictReader(f)}
    result = paired.run("pairs", "--group-by", "content_type", "--min-score", "0", check_code=EXIT_OK)
    rows = parse_rows(result.stdout, "tsv")
    assert {row["group"] for row in rows} >= {"drum", "tonal"}
    # Per group summaries: in the run's record and on stderr.
    per_group = json.loads(paired.run("status", "--format", "json", check_code=EXIT_OK).stdout)["last_run"]["summary"]["per_group"]
    for name, group in per_group.items():
        assert group["pairs"] == sum(1 for row in rows if row["group"] == name)
        assert f"content_type={name}: {group['files']} files, {group['pairs']} pairs" in result.stderr.decode()
    for row in rows:
        assert content_type[row["a"]] == content_type[row["b"]] == row["group"]
    folders = parse_rows(paired.run("pairs", "--group-by", "folder", "--min-score", "0", check_code=EXIT_OK).stdout, "tsv")
    for row in folders:
        assert row["a"].rsplit("/", 1)[0] == row["b"].rsplit("/", 1)[0] == row["group"]


def test_clusters_are_connected_components_of_kept_pairs(paired):
    pairs = parse_rows(paired.run("pairs", "--min-score", "0.95", check_code=EXIT_OK).stdout, "tsv")
    rows = parse_rows(paired.run("pairs", "--min-score", "0.95", "--clusters", check_code=EXIT_OK).stdout, "tsv")
    members = {}
    for row in rows:
        members.setdefault(row["cluster"], set()).add(row["path"])
        assert int(row["size"]) == sum(1 for r in rows if r["cluster"] == row["cluster"])
    cluster_of = {path: c for c, paths in members.items() for path in paths}
    for pair in pairs:  # both ends of every kept pair in one component
        assert cluster_of[pair["a"]] == cluster_of[pair["b"]]
    assert set(cluster_of) == {p["a"] for p in pairs} | {p["b"] for p in pairs}


def test_usage_errors(paired):
    paired.run("pairs", "--duplicates", "--clusters", check_code=EXIT_USAGE)
    paired.run("pairs", "--format", "xml", check_code=EXIT_USAGE)
    paired.run("pairs", "-k", "0", check_code=EXIT_USAGE)


def test_report_reads_the_stored_pairs_per_group(paired, tmp_path):
    """pairs then report: the kept histogram counts exactly the stored pairs, per group, and the
    all-pairs histogram every pair of files within each group."""
    kept = parse_rows(paired.run("pairs", "--group-by", "content_type", "--min-score", "0.6", check_code=EXIT_OK).stdout, "tsv")
    plot = tmp_path / "scores.svg"
    report = json.loads(paired.run("report", "--format", "json", "--plot", plot, check_code=EXIT_OK).stdout)
    assert report["kept_pairs"]["pairs"] == len(kept) and report["kept_pairs"]["left_out"] == 0
    assert report["kept_pairs"]["parameters"]["group_by"] == "content_type"
    for group in report["groups"]:
        expected = sum(1 for row in kept if row["group"] == group["group"])
        assert sum(b["count"] for b in group["kept"]["buckets"]) == expected
        assert sum(b["count"] for b in group["kept"]["bins"]) == expected
        n = group["files"]
        assert group["all"]["pairs"] == n * (n - 1) // 2 and not group["all"]["sampled"]
        assert sum(b["count"] for b in group["all"]["buckets"]) == group["all"]["pairs"]
    assert plot.read_text().startswith("<?xml") or "<svg" in plot.read_text()
