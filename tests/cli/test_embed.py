"""audiosim embed and models: the default model on real audio, determinism, incremental runs,
kill -9 mid-run, and models that break the contract."""

import json
import os
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from conftest import BIN, EXIT_OK, EXIT_PARTIAL, Audiosim, copy_demo, tone, write_model, write_wav

EXIT_MODEL = 5


def embedding_set(store):
    manifest = json.loads((store / "manifest.json").read_text())
    (key,) = manifest["embeddings"]
    return manifest, manifest["embeddings"][key]


def read_vectors(store):
    """{chunk_id: (file_id, vector)} folded over the set's segments."""
    manifest, entry = embedding_set(store)
    vectors = {}
    for segment in entry["segments"]:
        with h5py.File(store / segment["file"], "r") as f:
            dropped = set(f["dropped/file_id"][:])
            vectors = {c: v for c, v in vectors.items() if v[0] not in dropped}
            group = f["embeddings"]
            fresh_files = set(group["file_id"][:])
            vectors = {c: v for c, v in vectors.items() if v[0] not in fresh_files}
            for chunk_id, file_id, vector in zip(group["chunk_id"][:], group["file_id"][:], group["vector"][:]):
                vectors[int(chunk_id)] = (int(file_id), vector)
    return vectors


def test_demo_library_embeds_with_the_default_model(audiosim, library, demo):
    copy_demo(demo, library)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    result = audiosim.run("embed", check_code=EXIT_OK)
    summary = result.stderr.decode()
    assert "67 files embedded" in summary and "on cpu" in summary
    manifest, entry = embedding_set(audiosim.store)
    assert entry["profile"] == "sample" and entry["model"]["name"] == "audiosim-dsp"
    assert entry["model_id"].startswith("audiosim-dsp-4-") and entry["dim"] == entry["model"]["embedding_dim"]
    vectors = read_vectors(audiosim.store)
    matrix = np.stack([v for _, v in vectors.values()])
    assert matrix.dtype == np.float32 and matrix.shape[1] == entry["dim"]
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1, atol=1e-5)
    # Every chunk that is not flagged has exactly one vector.
    (chunk_segment,) = manifest["chunks"]["sample"]["segments"]
    with h5py.File(audiosim.store / chunk_segment["file"], "r") as f:
        unflagged = {int(c) for c, flags in zip(f["chunks/chunk_id"][:], f["chunks/flags"][:]) if flags == 0}
    assert set(vectors) == unflagged
    with h5py.File(audiosim.store / entry["segments"][0]["file"], "r") as f:
        assert f.attrs["format"] == "audiosim-embeddings" and f.attrs["model_id"] == entry["model_id"]


def test_embed_that_chunks_decodes_once_with_the_bits_of_chunk_then_embed(tmp_path, library, demo):
    """embed keeps the audio that its chunking decoded and embeds from it: every format of the
    demo library (WAV, AIFF, FLAC, MP3, Ogg Vorbis, Opus, 16 to 96 kHz) gives the bits of a
    separate `chunk`, whose audio is decoded again by `embed`."""
    copy_demo(demo, library)
    together, apart = Audiosim(tmp_path / "together", library), Audiosim(tmp_path / "apart", library)
    for store in (together, apart):
        store.run("ingest", ".", check_code=EXIT_OK)
    together.run("embed", check_code=EXIT_OK)
    apart.run("chunk", check_code=EXIT_OK)
    apart.run("embed", check_code=EXIT_OK)
    runs = {}
    for name, store in (("together", together), ("apart", apart)):
        manifest = json.loads((store.store / "manifest.json").read_text())
        (embed_run,) = [run for run in manifest["runs"] if run["command"] == "embed"]
        runs[name] = embed_run["summary"]["files_decoded_once"]
    assert runs == {"together": 67, "apart": 0}
    a, b = read_vectors(together.store), read_vectors(apart.store)
    assert set(a) == set(b) and len(a) >= 67
    for chunk_id in a:
        assert np.array_equal(a[chunk_id][1], b[chunk_id][1]), chunk_id


def test_vectors_are_the_same_bits_for_any_batch_size_and_thread_count(tmp_path, library):
    from conftest import Audiosim
    for i in range(12):  # 1 to 4 chunks of 0.3 to 2 s: batches mix lengths
        write_wav(library / f"s{i}.wav", tone(seconds=0.3 + 0.4 * i, rate=44100, seed=i), rate=44100)
    configurations = [("64", "1"), ("64", "1"), ("1", "2"), ("3", "1"), ("5", "2"), ("8", "2"), ("64", "2")]  # batch size, threads
    stores = [Audiosim(tmp_path / f"store{n}", library) for n in range(len(configurations))]
    for store, (batch, threads) in zip(stores, configurations):
        store.run("ingest", ".", check_code=EXIT_OK)
        store.run("embed", "--batch-size", batch, "-j", threads, check_code=EXIT_OK)
    runs = [read_vectors(s.store) for s in stores]
    assert all(set(run) == set(runs[0]) for run in runs)
    for chunk_id in runs[0]:
        for run in runs[1:]:
            assert np.array_equal(runs[0][chunk_id][1], run[chunk_id][1]), chunk_id


def test_incremental_embed_and_changed_files(audiosim, library):
    for i in range(3):
        write_wav(library / f"a{i}.wav", tone(seconds=1.0, rate=22050, frequency=200 + 150 * i), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("embed", check_code=EXIT_OK)
    before = read_vectors(audiosim.store)
    write_wav(library / "a3.wav", tone(seconds=1.0, rate=22050, frequency=900), rate=22050)
    write_wav(library / "a0.wav", tone(seconds=1.0, rate=22050, seed=5), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    result = audiosim.run("embed", check_code=EXIT_OK)
    summary = result.stderr.decode()
    assert "2 files embedded, 2 up to date" in summary and "1 dropped" in summary
    after = read_vectors(audiosim.store)
    assert len(after) == 4
    kept = set(before) & set(after)
    assert len(kept) == 2 and all(np.array_equal(before[c][1], after[c][1]) for c in kept)
    result = audiosim.run("embed", check_code=EXIT_OK)
    assert "0 files embedded, 4 up to date" in result.stderr.decode()


def test_flagged_chunks_are_not_embedded(audiosim, library):
    write_wav(library / "silence.wav", np.zeros((22050, 1)), rate=22050)
    write_wav(library / "tone.wav", tone(seconds=1.0, rate=22050), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    result = audiosim.run("embed", check_code=EXIT_OK)
    assert "1 files embedded" in result.stderr.decode() and "1 flagged" in result.stderr.decode()
    assert len(read_vectors(audiosim.store)) == 1
    result = audiosim.run("embed", check_code=EXIT_OK)
    assert "0 files embedded, 2 up to date" in result.stderr.decode(), "a silent file is not revisited"
    (stage,) = audiosim.status()["stages"]["embed"].values()
    assert stage["files"] == 1 and stage["files_to_embed"] == 0 and stage["vectors"] == 1
    write_wav(library / "new.wav", tone(seconds=1.0, rate=22050, frequency=880), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    (stage,) = audiosim.status()["stages"]["embed"].values()
    assert stage["files_to_embed"] == 1, "a new file, not chunked yet, is still to embed"


def test_status_counts_what_chunk_and_embed_then_do(audiosim, library):
    # status and the engines plan by the same rules (lib/stage): what status says is to do is
    # exactly what the next run does, through new, changed, silent, failed and removed files.
    for i in range(4):
        write_wav(library / f"t{i}.wav", tone(seconds=1.0, rate=22050, frequency=300 + 100 * i), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("embed", check_code=EXIT_OK)
    write_wav(library / "new.wav", tone(seconds=1.0, rate=22050, frequency=1500), rate=22050)
    write_wav(library / "silence.wav", np.zeros((22050, 1)), rate=22050)
    write_wav(library / "t0.wav", tone(seconds=1.5, rate=22050, frequency=333), rate=22050)  # changed
    (library / "t1.wav").unlink()
    audiosim.run("ingest", "--prune", ".", check_code=EXIT_OK)

    (chunk_stage,) = audiosim.status()["stages"]["chunk"].values()
    assert chunk_stage["files_to_chunk"] == 3
    result = audiosim.run("chunk", check_code=EXIT_OK)
    assert "3 files chunked" in result.stderr.decode(), result.stderr.decode()
    assert audiosim.status()["stages"]["chunk"]["sample"]["files_to_chunk"] == 0

    (embed_stage,) = audiosim.status()["stages"]["embed"].values()
    assert embed_stage["files_to_embed"] == 2, "the silent file has nothing to embed"
    result = audiosim.run("embed", check_code=EXIT_OK)
    assert "2 files embedded" in result.stderr.decode() and "2 dropped" in result.stderr.decode(), result.stderr.decode()
    (embed_stage,) = audiosim.status()["stages"]["embed"].values()
    assert embed_stage["files_to_embed"] == 0 and embed_stage["files"] == 4


def test_kill_9_during_embed_keeps_committed_files(audiosim, library):
    for i in range(120):
        write_wav(library / f"k{i:03}.wav", tone(seconds=2.0, rate=44100, seed=i), rate=44100)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("chunk", check_code=EXIT_OK)
    process = audiosim.popen("embed", "--commit-every", "5", "-j", "1", "--batch-size", "4",
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        manifest = json.loads((audiosim.store / "manifest.json").read_text())
        sets = manifest.get("embeddings", {})
        if sets and len(next(iter(sets.values()))["segments"]) >= 2:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    committed = read_vectors(audiosim.store)
    assert committed, "at least one commit landed before the kill"
    files = {file_id for file_id, _ in committed.values()}
    assert all(sum(1 for f, _ in committed.values() if f == file_id) == 1 for file_id in files), "whole files only"
    result = audiosim.run("embed", check_code=EXIT_OK)
    assert f"{len(files)} up to date" in result.stderr.decode()
    final = read_vectors(audiosim.store)
    assert len(final) == 120
    assert all(np.array_equal(committed[c][1], final[c][1]) for c in committed)


GOOD = """        mask = (torch.arange(waveforms.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)).float()
        x = waveforms * mask
        n = lengths.clamp(min=1).unsqueeze(1).float()
        mean = x.sum(1, keepdim=True) / n
        energy = (x * x).sum(1, keepdim=True) / n
        peak = x.abs().amax(1, keepdim=True)
        return torch.cat([mean, energy, peak, torch.ones_like(mean), mean * 2, energy * 3, peak + 1, energy + 1], 1)"""


@pytest.mark.parametrize("name, body, failed", [
    ("wrong-dim", "        return torch.zeros(waveforms.shape[0], 3)", "shape"),
    ("not-finite", "        return torch.full((waveforms.shape[0], 8), float('nan'))", "finite"),
    ("padding-dependent", "        m = waveforms.mean(1, keepdim=True)\n        return torch.cat([m + 1, m * 2 + 1, m.abs() + 1, m + 2, m + 3, m + 4, m + 5, m + 6], 1)", "batch and padding"),
])
def test_models_check_rejects_broken_models(audiosim, tmp_path, name, body, failed):
    sidecar = write_model(tmp_path / "models", name, body)
    result = audiosim.run("models", "check", str(sidecar))
    assert result.returncode == EXIT_MODEL
    message = result.stderr.decode().strip().splitlines()[-1]
    assert "breaks the model contract" in message and failed in message


def test_models_check_accepts_a_good_model_and_list_finds_it(audiosim, tmp_path):
    sidecar = write_model(tmp_path / "models", "good-test", GOOD)
    result = audiosim.run("models", "check", str(sidecar), check_code=EXIT_OK)
    assert "keeps the contract" in result.stderr.decode()
    listing = audiosim.run("models", "list", env={"AUDIOSIM_MODEL_PATH": str(tmp_path / "models")}, check_code=EXIT_OK)
    names = [line.split("\t")[0] for line in listing.stdout.decode().splitlines()[1:]]
    assert names[0] == "good-test" and "audiosim-dsp" in names


def test_a_changed_model_gets_a_new_id_and_its_own_vectors(audiosim, library, tmp_path):
    write_wav(library / "a.wav", tone(seconds=1.0, rate=16000), rate=16000)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    sidecar = write_model(tmp_path / "models", "tiny", GOOD)
    audiosim.run("embed", "--model", str(sidecar), check_code=EXIT_OK)
    write_model(tmp_path / "models", "tiny", GOOD.replace("peak + 1", "peak + 2"))
    audiosim.run("embed", "--model", str(sidecar), check_code=EXIT_OK)
    manifest = json.loads((audiosim.store / "manifest.json").read_text())
    assert len(manifest["embeddings"]) == 2, "two model ids, two embedding sets"


def test_broken_sidecar_and_missing_device_are_clear_errors(audiosim, library, tmp_path):
    write_wav(library / "a.wav")
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "bad"}')
    result = audiosim.run("embed", "--model", str(bad))
    assert result.returncode == EXIT_MODEL and "bad.json" in result.stderr.decode()
    result = audiosim.run("embed", "--device", "cuda:7")
    assert result.returncode == EXIT_MODEL and "cuda:7" in result.stderr.decode()
    result = audiosim.run("embed", "--model", "no-such-model")
    assert result.returncode == EXIT_MODEL and "audiosim-dsp" in result.stderr.decode()


def test_bf16_autocast_stays_close_to_fp32(tmp_path, library):
    from conftest import Audiosim
    for i in range(4):
        write_wav(library / f"b{i}.wav", tone(seconds=1.0, rate=44100, seed=10 + i), rate=44100)
    runs = []
    for precision in ("fp32", "bf16"):
        store = Audiosim(tmp_path / precision, library)
        store.run("ingest", ".", check_code=EXIT_OK)
        store.run("embed", "--precision", precision, check_code=EXIT_OK)
        runs.append(read_vectors(store.store))
    for chunk_id, (_, vector) in runs[0].items():
        assert float(np.dot(vector, runs[1][chunk_id][1])) > 0.99
    result = Audiosim(tmp_path / "fp16", library).run("embed", "--precision", "fp16", "--device", "cpu")
    assert result.returncode == 2 and "CUDA" in result.stderr.decode()


def test_a_file_that_cannot_be_decoded_is_named_and_the_rest_embedded(audiosim, library):
    write_wav(library / "good.wav", tone(seconds=1.0, rate=22050), rate=22050)
    gone = write_wav(library / "gone.wav", tone(seconds=1.0, rate=22050, frequency=700), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    gone.unlink()
    result = audiosim.run("embed", check_code=EXIT_PARTIAL)
    errors = [line for line in result.stderr.decode().splitlines() if ": error: " in line]
    assert len(errors) == 1 and "gone.wav" in errors[0]
    assert "1 files embedded" in result.stderr.decode() and "1 failed" in result.stderr.decode()


def test_a_query_after_the_model_changed_says_how_to_embed_with_the_new_one(tmp_path):
    # The store's vectors were made by one file of model "swap-test"; then another file of that
    # name replaces it (an upgrade): the query cannot embed with the old one and names the new.
    library = tmp_path / "library"
    write_wav(library / "a.wav", tone(seconds=0.5))
    models = tmp_path / "models"
    sidecar = write_model(models, "swap-test", GOOD)
    env = {"AUDIOSIM_MODEL_PATH": str(models)}
    audiosim = Audiosim(tmp_path / "store", library)
    audiosim.run("ingest", ".", check_code=EXIT_OK, env=env)
    audiosim.run("embed", "--model", "swap-test", check_code=EXIT_OK, env=env)
    write_model(models, "swap-test", GOOD.replace("peak + 1", "peak + 3"))
    result = audiosim.run("query", str(library / "a.wav"), check_code=EXIT_MODEL, env=env)
    message = result.stderr.decode()
    assert "swap-test-1-" in message and "not in the model search path" in message
    assert "embed --profile sample --model swap-test" in message
    audiosim.run("embed", "--model", "swap-test", check_code=EXIT_OK, env=env)
    audiosim.run("query", str(library / "a.wav"), "--model", "swap-test", check_code=EXIT_OK, env=env)
