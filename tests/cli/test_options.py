"""Options are checked before any work: every numeric option has a range and must be a finite
number in it (an integer without overflow where it counts), unknown fields of --filter and
--group-by are usage errors that list the known ones, and a metadata CSV or labels TSV that names a
column twice is refused. Each failure is one line on stderr and a documented exit code."""

import pytest

from conftest import EXIT_INPUT, EXIT_OK, EXIT_USAGE, embedded_demo, parse_rows, read_manifest

# (arguments, what the one-line message says after "--option: ")
BAD_VALUES = [
    (["-j", "0", "status"], "--threads: 0 is out of range [1, 1024]"),
    (["--threads", "99999999999999999999", "status"], "--threads: 99999999999999999999 is out of range [1, 1024]"),
    (["-j", "-1", "status"], "--threads: -1 is not an integer in [1, 1024]"),
    (["--wait", "-1", "status"], "--wait: -1 is out of range [0, 86400]"),
    (["--wait", "nan", "status"], "--wait: nan is not a finite number in [0, 86400]"),
    (["ingest", ".", "--commit-interval", "0"], "--commit-interval: 0 is out of range (0, 86400]"),
    (["ingest", ".", "--commit-every", "-1"], "--commit-every: -1 is not an integer in [0, 1000000000]"),
    (["chunk", "--window", "-1"], "--window: -1 is out of range [0, 86400]"),
    (["chunk", "--hop", "0"], "--hop: 0 is out of range (0, 86400]"),
    (["chunk", "--min", "nan"], "--min: nan is not a finite number in [0, 86400]"),
    (["chunk", "--first", "1e9"], "--first: 1e9 is out of range [0, 86400]"),
    (["chunk", "--silence-db", "inf"], "--silence-db: inf is not a finite number in [-200, -1]"),
    (["chunk", "--floor-db", "5"], "--floor-db: 5 is out of range [-200, -1]"),
    (["embed", "--batch-size", "0"], "--batch-size: 0 is out of range [1, 4096]"),
    (["embed", "--batch-size", "18446744073709551616"], "--batch-size: 18446744073709551616 is out of range [1, 4096]"),
    (["index", "--M", "1"], "--M: 1 is out of range [2, 10000]"),
    (["index", "--ef", "0"], "--ef: 0 is out of range [1, 100000]"),
    (["index", "--ef-construction", "99999999999999999999"],
     "--ef-construction: 99999999999999999999 is out of range [1, 100000]"),
    (["index", "--max-deleted", "1.5"], "--max-deleted: 1.5 is out of range [0, 1]"),
    (["index", "--verify-queries", "0"], "--verify-queries: 0 is out of range [1, 10000000]"),
    (["query", "--item", "x", "--min-score", "2"], "--min-score: 2 is out of range [-1, 1]"),
    (["query", "--item", "x", "--min-score", "nan"], "--min-score: nan is not a finite number in [-1, 1]"),
    (["query", "--item", "x", "--limit", "0"], "--limit: 0 is out of range [1, 100000]"),
    (["query", "--item", "x", "--limit", "99999999999999999999"],
     "--limit: 99999999999999999999 is out of range [1, 100000]"),
    (["query", "--item", "x", "--limit", "1.5"], "--limit: 1.5 is not an integer in [1, 100000]"),
    (["query", "--item", "x", "--neighbours", "0"], "--neighbours: 0 is out of range [1, 100000]"),
    (["query", "--item", "x", "--vote-weight", "-1"], "--vote-weight: -1 is out of range [0, 1000]"),
    (["query", "--item", "x", "--similarity-weight", "nan"],
     "--similarity-weight: nan is not a finite number in [0, 1000]"),
    (["query", "--item", "x", "--rrf-k", "-5"], "--rrf-k: -5 is out of range [0, 1000000]"),
    (["query", "--item", "x", "--batch-size", "0"], "--batch-size: 0 is out of range [1, 4096]"),
    (["pairs", "-k", "0"], "--neighbours: 0 is out of range [1, 10000]"),
    (["pairs", "--min-score", "2"], "--min-score: 2 is out of range [-1, 1]"),
    (["pairs", "--min-score", "-inf"], "--min-score: -inf is not a finite number in [-1, 1]"),
    (["pairs", "--near-threshold", "nan"], "--near-threshold: nan is not a finite number in [-1, 1]"),
    (["pairs", "--waveform-threshold", "-2"], "--waveform-threshold: -2 is out of range [-1, 1]"),
    (["report", "--sample", "0"], "--sample: 0 is out of range [1, 100000000]"),
    (["report", "--exact-limit", "-1"], "--exact-limit: -1 is not an integer in [0, 1000000000000]"),
    (["report", "--seed", "18446744073709551616"],
     "--seed: 18446744073709551616 is out of range [0, 18446744073709551615]"),
    # --device is declared once (apps/cli) and checked when parsed, by every command that has it.
    (["embed", "--device", "tpu"], "--device: unknown device 'tpu' (auto, cpu, cuda, cuda:N)"),
    (["query", "--item", "x", "--device", "cuda:x"], "--device: unknown device 'cuda:x' (auto, cpu, cuda, cuda:N)"),
    (["pairs", "--exact", "--device", "gpu"], "--device: unknown device 'gpu' (auto, cpu, cuda, cuda:N)"),
    (["report", "--device", "cuda:"], "--device: unknown device 'cuda:' (auto, cpu, cuda, cuda:N)"),
    (["models", "check", "audiosim-dsp", "--device", "CPU"], "--device: unknown device 'CPU' (auto, cpu, cuda, cuda:N)"),
]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, demo):
    return embedded_demo(tmp_path_factory.mktemp("options"), demo, index=True)


def one_line_error(result, code=EXIT_USAGE):
    """The single stderr line of a failed run (stdout empty)."""
    assert result.returncode == code, result.stderr.decode()
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("args,message", BAD_VALUES, ids=[" ".join(args) for args, _ in BAD_VALUES])
def test_bad_numeric_values_are_one_line_usage_errors(audiosim, args, message):
    line = one_line_error(audiosim.run(*args))
    assert line.startswith("audiosim ") and f"error: {message} (see audiosim " in line, line


def test_integers_are_decimal(indexed):
    # strtoull would read 010 as octal 8.
    rows = parse_rows(indexed.run("query", "--item", "kick/kick-01.wav", "--limit", "010", "--format", "tsv",
                                  check_code=EXIT_OK).stdout, "tsv")
    assert len(rows) == 10


def test_an_unknown_filter_field_is_a_usage_error_listing_the_known_ones(indexed):
    line = one_line_error(indexed.run("query", "--item", "kick/kick-01.wav", "--filter", "nosuchfield=x"))
    assert line == ("audiosim query: error: --filter nosuchfield: no such field in the catalog (known: folder, tags, "
                    "path, content_type, description, title)")
    indexed.run("query", "--item", "kick/kick-01.wav", "--filter", "content_type=drum", check_code=EXIT_OK)


def test_an_unknown_group_by_column_is_a_usage_error_and_keeps_the_stored_pairs(indexed):
    indexed.run("pairs", check_code=EXIT_OK)
    stored = read_manifest(indexed.store)["pairs"]
    line = one_line_error(indexed.run("pairs", "--group-by", "nosuchcolumn"))
    assert line == ("audiosim pairs: error: --group-by nosuchcolumn: no such field in the catalog (known: folder, "
                    "tags, content_type, description, title)")
    assert read_manifest(indexed.store)["pairs"] == stored, "the stored pairs were replaced"
    line = one_line_error(indexed.run("report", "--group-by", "nosuchcolumn"))
    assert line.startswith("audiosim report: error: --group-by nosuchcolumn: no such field")
    indexed.run("report", "--group-by", "content_type", check_code=EXIT_OK)


def test_a_metadata_csv_naming_a_column_twice_is_refused(audiosim, library):
    (library / "a.wav").write_bytes(b"")
    (library / "meta.csv").write_text("path,title,tags,title\na.wav,one,x,two\n")
    line = one_line_error(audiosim.run("ingest", ".", "--metadata", "meta.csv"), EXIT_INPUT)
    assert line.endswith("meta.csv: column 'title' appears twice in the header"), line


def test_a_labels_tsv_naming_a_column_twice_is_refused(indexed, tmp_path):
    labels = tmp_path / "labels.tsv"
    labels.write_text("path\tlabel\tkit\tlabel\nkick/kick-01.wav\tkick\tkitA\tdrum\n")
    line = one_line_error(indexed.run("eval", "--labels", str(labels)), EXIT_INPUT)
    assert line == f"audiosim eval: error: {labels}: column 'label' appears twice in the header"
