"""audiosim query --text: a model with a text tower (models/README.md), scripted here so that the
answer is known: the audio tower maps low tones to one direction and high tones to another, the
text tower maps "high..." to the high direction and anything else to the low one."""

import json

import pytest

from conftest import EXIT_OK, EXIT_USAGE, Audiosim, tone, write_model, write_wav

# Zero-crossing rate puts a tone on a quarter circle: 50-90 Hz near (1, 0), 4-6 kHz at (0, 1).
AUDIO = """        mask = (torch.arange(waveforms.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)).float()
        signs = torch.sign(waveforms) * mask
        crossings = ((signs[:, 1:] * signs[:, :-1]) < 0).float().sum(1)
        rate = crossings / lengths.clamp(min=2).float()
        angle = (rate * 20).clamp(0, 1) * 1.5707963
        return torch.stack([torch.cos(angle), torch.sin(angle)], 1)"""
# UTF-8 'h' (104) first: the high direction.
TEXT = """        high = (text[:, 0] == 104).float()
        return torch.stack([1 - high, high], 1)"""

LOW = (50, 70, 90)
HIGH = (4100, 5100, 6100)  # not 4 kHz: at 16 kHz its samples are 0, 1, 0, -1, with no sign change


@pytest.fixture(scope="module")
def texted(tmp_path_factory):
    base = tmp_path_factory.mktemp("text")
    library = base / "library"
    for frequency in LOW + HIGH:
        write_wav(library / f"tone-{frequency}.wav", tone(seconds=1.0, rate=16000, frequency=frequency), rate=16000)
    models = base / "models"
    write_model(models, "texttoy", AUDIO, dim=2, text_body=TEXT)
    audiosim = Audiosim(base / "store", library)
    env = {"AUDIOSIM_MODEL_PATH": str(models)}
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("embed", "--model", "texttoy", check_code=EXIT_OK, env=env)
    audiosim.run("index", check_code=EXIT_OK)
    return audiosim, env


def query_rows(audiosim, env, *args):
    result = audiosim.run("query", "--format", "jsonl", *args, env=env, check_code=EXIT_OK)
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


@pytest.mark.parametrize("text, expected", [("high hats", HIGH), ("low rumble", LOW)])
def test_text_finds_the_files_its_tower_points_at(texted, text, expected):
    audiosim, env = texted
    rows = query_rows(audiosim, env, "--text", text, "--limit", "3")
    assert [row["query"] for row in rows] == [text] * 3
    assert sorted(row["path"] for row in rows) == sorted(f"tone-{f}.wav" for f in expected)
    assert all(row["votes"] == 1 and row["best_similarity"] > 0.9 for row in rows)


def test_several_texts_in_one_call_and_the_other_side_scores_low(texted):
    audiosim, env = texted
    rows = query_rows(audiosim, env, "--text", "high", "--text", "low", "--limit", "6")
    by_query = {}
    for row in rows:
        by_query.setdefault(row["query"], []).append(row)
    assert set(by_query) == {"high", "low"}
    for text, wanted in (("high", HIGH), ("low", LOW)):
        ranked = [row["path"] for row in by_query[text]]
        assert set(ranked[:3]) == {f"tone-{f}.wav" for f in wanted}
        assert all(row["best_similarity"] < 0.5 for row in by_query[text][3:])


def test_text_on_a_model_without_a_tower_names_the_models_with_one(texted, tmp_path, demo):
    audiosim, env = texted
    # A second set by the default model (no text tower) in the same store.
    audiosim.run("embed", check_code=EXIT_OK)
    result = audiosim.run("query", "--model", "audiosim-dsp", "--text", "kick", env=env)
    assert result.returncode == EXIT_USAGE
    message = result.stderr.decode().strip()
    assert len(message.splitlines()) == 1
    assert "text tower" in message and "texttoy" in message
