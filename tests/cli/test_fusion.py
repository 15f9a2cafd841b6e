"""Scoring with several models at once (--fuse MODEL[=WEIGHT]: eval, classify, query, pairs, report): the demo library
embedded by the default model and by a small level-statistics test model, both with the one-shot
profile. A fused score is the weighted mean of the models' cosines, so fusing one model changes
nothing, and a fusion dominated by one model ranks as that model does."""

import json

import pytest

from conftest import EXIT_OK, EXIT_USAGE, Audiosim, copy_demo, write_model

# Level statistics (mean, energy, peak) of the row: a poor but deterministic second opinion.
LEVELS = """        mask = (torch.arange(waveforms.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)).float()
        x = waveforms * mask
        n = lengths.clamp(min=1).unsqueeze(1).float()
        energy = (x * x).sum(1, keepdim=True) / n
        peak = x.abs().amax(1, keepdim=True)
        crossings = ((x[:, 1:] * x[:, :-1]) < 0).float().sum(1, keepdim=True) / n
        return torch.cat([energy.sqrt() / (peak + 1e-9), crossings * 10, torch.ones_like(peak)], 1)"""


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, demo):
    base = tmp_path_factory.mktemp("fusion")
    audiosim = Audiosim(base / "store", copy_demo(demo, base / "library"))
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("embed", "--profile", "oneshot", check_code=EXIT_OK, timeout=600)
    sidecar = write_model(base / "models", "levels-test", LEVELS, dim=3, sample_rate=22050)
    audiosim.run("embed", "--profile", "oneshot", "--model", str(sidecar), check_code=EXIT_OK, timeout=600)
    audiosim.levels = str(sidecar)
    return audiosim


def eval_json(audiosim, *args, check_code=EXIT_OK):
    result = audiosim.run("eval", "--profile", "oneshot", "--labels", "labels.tsv", "--format", "json", *args,
                          check_code=check_code)
    return json.loads(result.stdout) if check_code == EXIT_OK else result


METRICS = ("p_at_1", "p_at_5", "p_at_10", "map_at_10", "queries")


def test_one_model_fused_is_that_model(two_models):
    plain = eval_json(two_models, "--model", "audiosim-dsp")
    fused = eval_json(two_models, "--fuse", "audiosim-dsp=2.5")
    assert fused["embeddings"] == plain["embeddings"].replace("/", "/fusion+", 1) + "=2.5"
    for metric in METRICS:
        assert fused[metric] == pytest.approx(plain[metric], abs=1e-9), metric


def test_weights_move_the_fusion_between_the_models(two_models):
    dsp = eval_json(two_models, "--model", "audiosim-dsp")
    levels = eval_json(two_models, "--model", two_models.levels)
    assert dsp["map_at_10"] > levels["map_at_10"] + 0.1  # the test model is poor: a real difference
    even = eval_json(two_models, "--fuse", "audiosim-dsp", "--fuse", two_models.levels)
    assert even["embeddings"].startswith("oneshot/fusion+audiosim-dsp-") and "=1+levels-test-" in even["embeddings"]
    mostly_dsp = eval_json(two_models, "--fuse", "audiosim-dsp=1000", "--fuse", f"{two_models.levels}=1")
    mostly_levels = eval_json(two_models, "--fuse", "audiosim-dsp=1", "--fuse", f"{two_models.levels}=1000")
    assert mostly_dsp["map_at_10"] == pytest.approx(dsp["map_at_10"], abs=0.02)
    # the levels model ties many files (3 dimensions, one constant): a 1/1001 share of the default
    # model's cosine still orders them, so the fusion moves towards the levels model, not onto it
    assert levels["map_at_10"] <= mostly_levels["map_at_10"] < even["map_at_10"] < mostly_dsp["map_at_10"]

    rows = [json.loads(line) for line in two_models.run(
        "classify", "--profile", "oneshot", "--labels", "labels.tsv", "--evaluate", "--fuse", "audiosim-dsp",
        "--fuse", two_models.levels, "--format", "jsonl", check_code=EXIT_OK).stdout.decode().splitlines()]
    assert len(rows) == even["queries"] + even["skipped_queries"]


def test_fusion_errors_name_the_problem(two_models):
    result = eval_json(two_models, "--fuse", "audiosim-dsp", "--model", "audiosim-dsp", check_code=EXIT_USAGE)
    assert b"--fuse" in result.stderr
    result = eval_json(two_models, "--fuse", "audiosim-dsp=heavy", check_code=EXIT_USAGE)
    assert b"audiosim-dsp=heavy" in result.stderr
    result = eval_json(two_models, "--fuse", "audiosim-dsp=0", check_code=EXIT_USAGE)
    assert b"weight" in result.stderr


def query_scores(audiosim, *args):
    result = audiosim.run("query", "--profile", "oneshot", "--format", "jsonl", *args, check_code=EXIT_OK)
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def test_query_fuses_the_models_file_scores(two_models):
    item = "kick/kick-01.wav"
    each = {name: {row["path"]: row["score"] for row in query_scores(two_models, "--item", item, "--model", model,
                                                                      "--limit", "1000")}
            for name, model in (("dsp", "audiosim-dsp"), ("levels", two_models.levels))}
    fused = query_scores(two_models, "--item", item, "--fuse", "audiosim-dsp=3", "--fuse", two_models.levels,
                         "--limit", "8")
    assert len(fused) == 8
    assert [row["rank"] for row in fused] == list(range(1, 9))
    scores = [row["score"] for row in fused]
    assert scores == sorted(scores, reverse=True)
    for row in fused:
        expected = (3 * each["dsp"].get(row["path"], 0) + each["levels"].get(row["path"], 0)) / 4
        assert row["score"] == pytest.approx(expected, abs=2e-6), row["path"]
    # the fusion is not either model's ranking alone
    dsp_order = sorted(each["dsp"], key=lambda p: -each["dsp"][p])[:8]
    assert [row["path"] for row in fused] != dsp_order or scores != [each["dsp"][p] for p in dsp_order]
    # --min-score applies to the fused score
    kept = query_scores(two_models, "--item", item, "--fuse", "audiosim-dsp=3", "--fuse", two_models.levels,
                        "--min-score", str(scores[3] - 1e-5))  # printed scores are rounded to 6 decimals
    assert [row["path"] for row in kept] == [row["path"] for row in fused[:len(kept)]] and len(kept) >= 4


def test_query_fusion_errors(two_models):
    result = two_models.run("query", "--profile", "oneshot", "--item", "kick/kick-01.wav", "--fuse", "audiosim-dsp",
                            "--fuse", two_models.levels, "--explain", check_code=EXIT_USAGE)
    assert b"--explain" in result.stderr and b"several" in result.stderr
    result = two_models.run("query", "--profile", "oneshot", "--item", "kick/kick-01.wav", "--fuse", "audiosim-dsp",
                            "--embeddings", "oneshot/x", check_code=EXIT_USAGE)
    assert b"--fuse" in result.stderr


def test_aspects_are_named_fusions(two_models):
    plain = eval_json(two_models, "--model", "audiosim-dsp")
    drums = eval_json(two_models, "--aspect", "drums")
    assert drums["embeddings"] == plain["embeddings"].replace("/", "/fusion+", 1) + "=1"
    assert drums["map_at_10"] == pytest.approx(plain["map_at_10"], abs=1e-9)
    rows = query_scores(two_models, "--item", "kick/kick-01.wav", "--aspect", "drums")
    assert rows == query_scores(two_models, "--item", "kick/kick-01.wav", "--model", "audiosim-dsp")

    result = eval_json(two_models, "--aspect", "loudness", check_code=EXIT_USAGE)
    assert b"drums" in result.stderr and b"timbre" in result.stderr
    result = eval_json(two_models, "--aspect", "drums", "--model", "audiosim-dsp", check_code=EXIT_USAGE)
    assert b"--aspect" in result.stderr
    # voice needs resemblyzer: not installed, the message says how; installed, this store has no
    # embeddings of it, and the message names the sets there are
    result = two_models.run("eval", "--profile", "oneshot", "--labels", "labels.tsv", "--aspect", "voice")
    assert result.returncode in (3, 5) and b"resemblyzer" in result.stderr
    if result.returncode == 5:
        assert b"scripts/install-model.sh resemblyzer" in result.stderr


def test_one_fused_model_can_explain(two_models):
    explained = two_models.run("query", "--profile", "oneshot", "--item", "kick/kick-01.wav", "--aspect", "drums",
                               "--explain", "--format", "jsonl", check_code=EXIT_OK).stdout.decode().splitlines()
    assert any("query_chunk" in json.loads(line) for line in explained)


def pair_scores(audiosim, *args):
    result = audiosim.run("pairs", "--profile", "oneshot", "--min-score", "-1", "-k", "100", "--exact",
                          "--device", "cpu", "--format", "jsonl", *args, check_code=EXIT_OK)
    return {(row["a"], row["b"]): row["score"] for row in map(json.loads, result.stdout.decode().splitlines())}


def test_pairs_and_report_fuse_the_models(two_models):
    each = {name: pair_scores(two_models, "--model", model) for name, model in (("dsp", "audiosim-dsp"),
                                                                               ("levels", two_models.levels))}
    fused = pair_scores(two_models, "--fuse", "audiosim-dsp=3", "--fuse", two_models.levels)
    # k covers every file: all pairs are there, each the weighted mean of the two models' cosines
    assert set(fused) == set(each["dsp"]) == set(each["levels"]) and len(fused) > 1000
    for pair, score in fused.items():
        assert score == pytest.approx((3 * each["dsp"][pair] + each["levels"][pair]) / 4, abs=2e-6), pair
    assert max(abs(score - each["dsp"][pair]) for pair, score in fused.items()) > 0.01

    # stored beside the single models' pairs, under the fusion's key; report reads it back
    manifest = json.loads((two_models.store / "manifest.json").read_text())
    keys = [key for key in manifest["pairs"] if "/fusion+" in key]
    assert len(keys) == 1 and keys[0].startswith("oneshot/fusion+audiosim-dsp-") and keys[0].endswith("=1")
    report = json.loads(two_models.run("report", "--profile", "oneshot", "--fuse", "audiosim-dsp=3", "--fuse",
                                       two_models.levels, "--format", "json", check_code=EXIT_OK).stdout)
    assert report["kept_pairs"]["pairs"] == len(fused)
    plain = json.loads(two_models.run("report", "--profile", "oneshot", "--model", "audiosim-dsp", "--format", "json",
                                      check_code=EXIT_OK).stdout)
    assert report != plain
    result = two_models.run("report", "--profile", "oneshot", "--aspect", "drums", "--topic", "kick",
                            check_code=EXIT_USAGE)
    assert b"--topic" in result.stderr
