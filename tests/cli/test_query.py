"""audiosim query on the demo library (default profile sample, default model, indexed): files,
items and batches; self-matches, altered copies, filters, fusion scores, output formats, errors."""

import csv
import json
import re
import shutil

import numpy as np
import pytest

from conftest import (EXIT_INPUT, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, Audiosim, embedded_demo, parse_rows,
                      read_manifest, tone, write_wav)

COLUMNS = ["query", "rank", "path", "score", "votes", "total_similarity", "best_similarity", "best_region"]
EXPLAIN_COLUMNS = ["query", "query_chunk", "query_start", "query_end", "rank", "path", "match_start", "match_end",
                   "similarity"]
REGION = re.compile(r"^\d+\.\d{2}-\d+\.\d{2}>\d+\.\d{2}-\d+\.\d{2}$")
NUMBERS = ("score", "total_similarity", "best_similarity")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, demo):
    return embedded_demo(tmp_path_factory.mktemp("query"), demo, index=True)


@pytest.fixture(scope="module")
def metadata(demo):
    with open(demo / "metadata.csv", newline="") as f:
        return {row["path"]: row for row in csv.DictReader(f)}


def query(audiosim, *args, format="jsonl", check_code=EXIT_OK, input=None):
    """Runs query with --format and returns (rows, result)."""
    result = audiosim.run("query", "--format", format, *args, check_code=check_code, input=input)
    return parse_rows(result.stdout, format), result


def by_query(rows):
    grouped = {}
    for row in rows:
        grouped.setdefault(row["query"], []).append(row)
    return grouped


def chunk_counts(audiosim, paths):
    """Stored vectors per file: an item query keeping the item finds it with one vote per vector
    (at rank 1, or 2 behind a byte-identical copy)."""
    args = [a for path in paths for a in ("--item", path)]
    rows, _ = query(audiosim, *args, "--include-self", "--limit", "2")
    counts = {row["path"]: row["votes"] for row in rows if row["path"] == row["query"]}
    assert set(counts) == set(paths)
    return counts


def stderr_lines(result):
    return [line for line in result.stderr.decode().splitlines() if line.strip()]


def top(rows, n=3):
    return [(row["path"], row["score"]) for row in rows[:n]]


def test_every_stored_file_finds_itself_in_one_batch(indexed, metadata, demo):
    # Duplicates planted in the demo may tie with the original (same bytes, or a gain change the
    # model may not see): they alone may come before a file's own row, and only at score 1.
    twins = {}
    with open(demo / "duplicates.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            twins.setdefault(row["path"], set()).add(row["original"])
            twins.setdefault(row["original"], set()).add(row["path"])
    paths = sorted(metadata)
    counts = chunk_counts(indexed, paths)
    absolute = {str(indexed.cwd / path): path for path in paths}
    rows, result = query(indexed, "-", "--limit", "5", input="\n".join(absolute).encode() + b"\n")
    assert f"{len(paths)} queries answered, 0 failed" in result.stderr.decode()
    grouped = by_query(rows)
    assert set(grouped) == set(absolute)  # every query, named as given
    for name, results in grouped.items():
        path = absolute[name]
        assert [row["rank"] for row in results] == list(range(1, len(results) + 1))
        own = [row for row in results if row["path"] == path]
        assert own, (path, top(results))
        own = own[0]
        assert abs(own["score"] - 1) <= 1e-4, (path, own)
        assert abs(own["best_similarity"] - 1) <= 1e-4, (path, own)
        assert own["votes"] == counts[path], (path, own)
        for before in results[:own["rank"] - 1]:
            assert before["path"] in twins.get(path, set()) and before["score"] >= 1 - 1e-4, (path, top(results))


ITEM = "kick/kick-02.wav"


def test_item_by_path_absolute_path_or_id_excludes_itself(indexed):
    by_path, _ = query(indexed, "--item", ITEM)
    assert len(by_path) == 10  # the default limit
    assert [row["rank"] for row in by_path] == list(range(1, 11))
    assert all(row["query"] == ITEM and row["path"] != ITEM for row in by_path)
    by_absolute, _ = query(indexed, "--item", str(indexed.cwd / ITEM))
    by_id, _ = query(indexed, "--item", str(indexed.file_ids[ITEM]))
    assert by_absolute == by_path and by_id == by_path  # the query column names the catalog path
    with_self, _ = query(indexed, "--item", ITEM, "--include-self")
    assert with_self[0]["path"] == ITEM and abs(with_self[0]["score"] - 1) <= 1e-4
    assert [row["path"] for row in with_self[1:]] == [row["path"] for row in by_path[:9]]


def test_file_query_exclude_self(indexed):
    # A file query keeps stored files with its bytes unless --exclude-self: kick-03 has a byte-identical copy.
    path = str(indexed.cwd / "kick/kick-03.wav")
    kept, _ = query(indexed, path, "--limit", "3")
    assert {row["path"] for row in kept[:2]} == {"kick/kick-03.wav", "dupes/kick-03-exact.wav"}
    excluded, _ = query(indexed, path, "--limit", "3", "--exclude-self")
    assert not {row["path"] for row in excluded} & {"kick/kick-03.wav", "dupes/kick-03-exact.wav"}
    assert excluded[0]["path"] == kept[2]["path"]


def test_limit_and_min_score(indexed):
    everything, _ = query(indexed, "--item", ITEM, "--limit", "1000")
    assert len(everything) > 10
    scores = [row["score"] for row in everything]
    assert scores == sorted(scores, reverse=True)
    three, _ = query(indexed, "--item", ITEM, "--limit", "3")
    assert three == everything[:3]
    # A threshold halfway between two printed scores: they are rounded to 6 decimals, so one of them
    # as the threshold may lie above the score it was rounded from.
    last = next(i for i in range(4, len(scores) - 1) if scores[i] - scores[i + 1] > 2e-6)
    threshold = (scores[last] + scores[last + 1]) / 2
    above, _ = query(indexed, "--item", ITEM, "--limit", "1000", "--min-score", str(threshold))
    assert above == everything[:last + 1]
    none, _ = query(indexed, "--item", ITEM, "--min-score", "1")  # the item itself is left out
    assert none == []


def test_filters(indexed, metadata):
    tonal, _ = query(indexed, "--item", ITEM, "--filter", "content_type=tonal")
    tonal_files = {path for path, row in metadata.items() if row["content_type"] == "tonal"}
    assert {row["path"] for row in tonal} == tonal_files  # a drum query; every tonal file comes, and nothing else
    kicks, _ = query(indexed, "--item", ITEM, "--filter", "folder=kick")
    assert {row["path"] for row in kicks} == {p for p in metadata if p.startswith("kick/")} - {ITEM}
    either, _ = query(indexed, "--item", ITEM, "--filter", "folder=kick", "--filter", "folder=snare", "--limit", "100")
    assert {row["path"] for row in either} == {p for p in metadata if p.split("/")[0] in ("kick", "snare")} - {ITEM}
    both, _ = query(indexed, "--item", ITEM, "--filter", "content_type=drum", "--filter", "folder=tonal")
    assert both == []
    kit, _ = query(indexed, "--item", ITEM, "--filter", "tags=kitB", "--filter", "content_type=drum", "--limit", "100")
    assert {row["path"] for row in kit} == {p for p, row in metadata.items()
                                           if "kitB" in row["tags"].split(";") and row["content_type"] == "drum"} - {ITEM}


def test_exact_search_agrees_with_the_index(indexed):
    for item in (ITEM, "tonal/tonal-05.flac", "speech/speech-02.mp3", "loop/loop-01.mp3"):
        index, _ = query(indexed, "--item", item, "--limit", "5")
        exact, result = query(indexed, "--item", item, "--limit", "5", "--exact", "--device", "cpu", "-v")
        assert "exact search (--exact" in result.stderr.decode()
        assert [row["path"] for row in exact] == [row["path"] for row in index], item
        for a, b in zip(index, exact):
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)


def test_fusion_scores_follow_their_definitions(indexed):
    with_self, _ = query(indexed, "--item", "loop/loop-02.ogg", "--include-self", "--limit", "20")
    n = with_self[0]["votes"]  # the item's own chunks: every one votes for itself
    assert n > 1  # a 7 s loop has several chunks
    for row in with_self:
        assert row["score"] == pytest.approx((0.2 * row["votes"] + 0.8 * row["total_similarity"]) / n, abs=2e-6)
    weights, _ = query(indexed, "--item", "loop/loop-02.ogg", "--include-self", "--limit", "20",
                       "--vote-weight", "1", "--similarity-weight", "0")
    for row in weights:
        assert row["score"] == pytest.approx(row["votes"] / n, abs=1e-6)
    maximum, _ = query(indexed, "--item", "loop/loop-02.ogg", "--fusion", "max", "--limit", "20")
    for row in maximum:
        assert row["score"] == row["best_similarity"]
    assert [row["score"] for row in maximum] == sorted((row["score"] for row in maximum), reverse=True)
    mean, _ = query(indexed, "--item", "loop/loop-02.ogg", "--fusion", "mean", "--limit", "20")
    for row in mean:
        assert row["score"] == pytest.approx(row["total_similarity"] / row["votes"], abs=2e-6)
    rrf, _ = query(indexed, "--item", "loop/loop-02.ogg", "--include-self", "--fusion", "rrf", "--limit", "20")
    assert rrf[0]["path"] == "loop/loop-02.ogg" and rrf[0]["score"] == pytest.approx(1.0, abs=1e-6)
    assert all(0 < row["score"] < 1 for row in rrf[1:])
    # Votes and similarities do not depend on the fusion: the same files carry the same numbers.
    weighted = {row["path"]: row for row in with_self}
    for row in rrf:
        if row["path"] in weighted:
            assert row["votes"] == weighted[row["path"]]["votes"]
            assert row["total_similarity"] == weighted[row["path"]]["total_similarity"]


def test_explain_rows(indexed):
    rows, _ = query(indexed, "--item", "loop/loop-03.flac", "--explain", "--neighbours", "5", format="tsv")
    assert list(rows[0]) == EXPLAIN_COLUMNS
    chunks = sorted({int(row["query_chunk"]) for row in rows})
    assert chunks == list(range(len(chunks))) and len(chunks) > 1
    for chunk in chunks:
        mine = [row for row in rows if int(row["query_chunk"]) == chunk]
        assert [int(row["rank"]) for row in mine] == [1, 2, 3, 4, 5]
        similarities = [float(row["similarity"]) for row in mine]
        assert similarities == sorted(similarities, reverse=True)
        assert all(row["path"] != "loop/loop-03.flac" for row in mine)  # the item is excluded here too
        for row in mine:
            assert float(row["query_end"]) > float(row["query_start"]) >= 0
            assert float(row["match_end"]) > float(row["match_start"]) >= 0
    # A file's best similarity is its most similar explained hit.
    results, _ = query(indexed, "--item", "loop/loop-03.flac", "--neighbours", "5", "--limit", "3")
    for result in results:
        hits = [float(row["similarity"]) for row in rows if row["path"] == result["path"]]
        assert max(hits) == pytest.approx(result["best_similarity"], abs=1e-6)
    jsonl, _ = query(indexed, "--item", "loop/loop-03.flac", "--explain", "--neighbours", "5", "--limit", "3")
    assert [row["path"] for row in jsonl if "path" in row] == [row["path"] for row in results]
    explained = [row for row in jsonl if "matches" in row]
    assert [row["query_chunk"] for row in explained] == chunks
    assert all(len(row["matches"]) == 5 for row in explained)


def test_output_formats_agree_and_stdout_is_only_data(indexed):
    args = ("--item", ITEM, "--item", "snare/snare-05.wav", "--limit", "4")
    parsed = {}
    for format in ("tsv", "csv", "json", "jsonl"):
        rows, result = query(indexed, *args, "-v", format=format)
        assert "2 queries answered, 0 failed" in result.stderr.decode()  # logs on stderr
        if format in ("tsv", "csv"):
            separator = "\t" if format == "tsv" else ","
            lines = result.stdout.decode().splitlines()
            assert lines[0] == separator.join(COLUMNS)
            assert len(lines) == 1 + 8
            rows = [{**row, "rank": int(row["rank"]), "votes": int(row["votes"]),
                     **{name: float(row[name]) for name in NUMBERS}} for row in rows]
        else:
            assert all(list(row)[:len(COLUMNS)] == COLUMNS for row in rows)
            rows = [{name: row[name] for name in COLUMNS} for row in rows]
        assert all(REGION.match(row["best_region"]) for row in rows), rows
        parsed[format] = rows
    assert len(parsed["tsv"]) == 8
    assert [row["query"] for row in parsed["tsv"]] == [ITEM] * 4 + ["snare/snare-05.wav"] * 4
    for format in ("csv", "json", "jsonl"):  # tsv and csv write 6 significant digits
        assert len(parsed[format]) == 8
        for row, expected in zip(parsed[format], parsed["jsonl"]):
            assert {k: v for k, v in row.items() if k not in NUMBERS} == \
                {k: v for k, v in expected.items() if k not in NUMBERS}, format
            for name in NUMBERS:
                assert row[name] == pytest.approx(expected[name], rel=1e-5, abs=1e-6), (format, name)
    json_rows, _ = query(indexed, *args, format="json")
    assert all(len(row["regions"]) == row["votes"] for row in json_rows)


def test_text_needs_a_text_tower(indexed):
    result = indexed.run("query", "--text", "a kick drum", check_code=EXIT_USAGE)
    lines = stderr_lines(result)
    assert len(lines) == 1 and "text tower" in lines[0], lines
    assert result.stdout == b""


def test_a_silent_query_file_fails_alone(indexed, tmp_path):
    silent = write_wav(tmp_path / "silent.wav", np.zeros((44100, 1)))
    result = indexed.run("query", "--format", "tsv", str(silent), check_code=EXIT_INPUT)
    lines = stderr_lines(result)
    assert len(lines) == 1 and "silent.wav" in lines[0] and "silent" in lines[0].split("silent.wav", 1)[1], lines


@pytest.mark.parametrize("kind", ["missing", "corrupt"])
def test_a_bad_query_file_is_named_and_the_good_ones_answered(indexed, tmp_path, kind):
    bad = tmp_path / f"bad {kind}.wav"
    if kind == "corrupt":
        bad.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage, not audio" * 3)
    good = indexed.cwd / "tonal/tonal-05.flac"
    alone = indexed.run("query", "--format", "tsv", str(bad))
    assert alone.returncode == EXIT_INPUT, alone.stderr.decode()
    lines = stderr_lines(alone)
    assert len(lines) == 1 and f"bad {kind}.wav" in lines[0], lines
    for order in ((bad, good), (good, bad)):
        rows, result = query(indexed, *map(str, order), "--limit", "3", check_code=EXIT_PARTIAL)
        assert [row["query"] for row in rows] == [str(good)] * 3
        assert rows[0]["path"] == "tonal/tonal-05.flac"
        assert f"bad {kind}.wav" in result.stderr.decode()


def test_unknown_fusion_and_bad_filter_are_usage_errors(indexed):
    result = indexed.run("query", "--item", ITEM, "--fusion", "sum", check_code=EXIT_USAGE)
    assert "'sum'" in result.stderr.decode() and "rrf" in result.stderr.decode()
    result = indexed.run("query", "--item", ITEM, "--filter", "content_type", check_code=EXIT_USAGE)
    assert "FIELD=VALUE" in result.stderr.decode()
    result = indexed.run("query", "--item", "kick/none.wav", check_code=EXIT_INPUT)
    assert "kick/none.wav" in result.stderr.decode()
    # A number too large for a file id is an unknown item, not an internal error (exit 70 once).
    rows, result = query(indexed, "--item", "9" * 25, "--item", ITEM, "--limit", "2", check_code=EXIT_PARTIAL)
    assert [row["query"] for row in rows] == [ITEM] * 2
    assert "9" * 25 + ": not a stored file" in result.stderr.decode()


def test_without_an_index_queries_search_exactly(indexed, tmp_path):
    # A copy of the store whose manifest names no index: as before `audiosim index` ever ran.
    store = tmp_path / "store"
    shutil.copytree(indexed.store, store, ignore=shutil.ignore_patterns("indexes", "lock"))
    manifest = read_manifest(store)
    del manifest["indexes"]
    (store / "manifest.json").write_text(json.dumps(manifest))
    unindexed = Audiosim(store, indexed.cwd)
    for item in (ITEM, "speech/speech-04.wav"):
        rows, result = query(unindexed, "--item", item, "-v")
        assert "no index" in result.stderr.decode()
        expected, _ = query(indexed, "--item", item)
        assert [row["path"] for row in rows] == [row["path"] for row in expected]
        for a, b in zip(rows, expected):
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)


def test_index_labels_spare_the_tables_until_the_store_changes(indexed, tmp_path):
    """A query maps the index and its labels when they describe the store as it is; after a change
    it reads the tables (same answers) until `audiosim index` writes labels again."""
    store = tmp_path / "store"
    shutil.copytree(indexed.store, store, ignore=shutil.ignore_patterns("lock"))
    audiosim = Audiosim(store, indexed.cwd)

    def answers():
        rows, result = query(audiosim, "--item", ITEM, "--explain", "-vv")
        source = [line for line in stderr_lines(result) if line.startswith("audiosim query: sample/")]
        assert len(source) == 1
        return rows, source[0].split(": ", 2)[2]

    mapped, source = answers()
    assert source == "index"
    # An ingest that only changes the catalog (a file nothing is chunked or embedded from yet).
    library = tmp_path / "library"
    shutil.copytree(indexed.cwd, library)
    audiosim = Audiosim(store, library)
    write_wav(library / "new/late.wav", tone(seconds=1.0))
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    tables, source = answers()
    assert source == "index (store tables read: its labels predate the store's last change)"
    assert tables == mapped
    status = json.loads(audiosim.run("status", "--format", "json", check_code=EXIT_OK).stdout)
    (index,) = status["stages"]["index"].values()
    assert index["state"] == "up to date" and index["labels"] == "stale"
    assert "its labels predate" in audiosim.run("status", "--format", "text", check_code=EXIT_OK).stdout.decode()
    result = audiosim.run("index", check_code=EXIT_OK)
    assert "labels written again" in result.stderr.decode()
    again, source = answers()
    assert source == "index" and again == mapped
    status = json.loads(audiosim.run("status", "--format", "json", check_code=EXIT_OK).stdout)
    assert [index["labels"] for index in status["stages"]["index"].values()] == ["current"]
