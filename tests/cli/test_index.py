"""audiosim index on the demo library (default profile sample, default model): build, verify,
incremental updates after ingest and embed, rebuilds, status, the files it writes, and damaged
payloads that query refuses and index rebuilds."""

import json
import pathlib
import re

from conftest import EXIT_FORMAT, EXIT_OK, embedded_demo, parse_rows, read_manifest, tone, write_wav

KEY = re.compile(r"^sample/audiosim-dsp-")


def index_row(audiosim, *args):
    """Runs index --format json on the store's one set and returns its row."""
    result = audiosim.run("index", "--format", "json", *args, check_code=EXIT_OK, timeout=300)
    rows = parse_rows(result.stdout, "json")
    assert len(rows) == 1 and KEY.match(rows[0]["embeddings"]), rows
    return rows[0]


def index_status(audiosim):
    (index,) = audiosim.status()["stages"]["index"].values()
    return index


def vectors(audiosim):
    (embed,) = audiosim.status()["stages"]["embed"].values()
    return embed["vectors"]


def index_files(audiosim):
    return sorted(p.relative_to(audiosim.store).as_posix() for p in (audiosim.store / "indexes").rglob("*") if p.is_file())


def test_build_update_and_rebuild(tmp_path, demo):
    audiosim = embedded_demo(tmp_path, demo)
    assert index_status(audiosim)["state"] == "missing"
    total = vectors(audiosim)

    built = index_row(audiosim, "--verify")
    assert built["action"] == "built" and built["reason"] == ""
    assert built["vectors"] == built["added"] == total
    assert built["removed"] == built["deleted"] == 0
    assert (built["M"], built["ef_construction"], built["ef_search"]) == (16, 200, 100)
    assert built["recall_at_10"] >= 0.99
    status = index_status(audiosim)
    assert status["state"] == "up to date" and status["vectors"] == total and status["file"] == built["file"]
    assert status["labels"] == "current"

    # The files: a payload, its header and its labels under indexes/, named by the manifest.
    manifest = read_manifest(audiosim.store)
    (key,) = manifest["indexes"]
    entry = manifest["indexes"][key]
    assert pathlib.Path(built["file"]) == audiosim.store / entry["file"]
    assert index_files(audiosim) == [entry["file"], entry["file"] + ".json", entry["file"] + ".labels"]
    assert entry["file"].startswith(f"indexes/{key}/")
    header = json.loads((audiosim.store / (entry["file"] + ".json")).read_text())
    assert header["format"] == "audiosim-index" and header["format_version"] == 1
    assert header["model_id"] == manifest["embeddings"][key]["model_id"] and key.endswith("/" + header["model_id"])
    assert header["profile"] == "sample" and header["dim"] == 147 and header["metric"] == "cosine"
    assert header["count"] == total and header["deleted"] == 0
    assert re.fullmatch(r"[0-9a-f]{16}", header["embeddings_checksum"])
    assert header["params"] == {"M": 16, "ef_construction": 200, "ef_search": 100}

    again = index_row(audiosim)
    assert again["action"] == "up to date" and again["added"] == again["removed"] == 0
    assert again["file"] == built["file"]

    # New files: ingest + embed, then an incremental update.
    write_wav(audiosim.cwd / "new/tone.wav", tone(seconds=3.5, frequency=523.0))
    write_wav(audiosim.cwd / "new/noise.wav", tone(seconds=2.5, seed=3, amplitude=0.3))
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("embed", check_code=EXIT_OK)
    assert index_status(audiosim)["state"] == "stale"
    grown = vectors(audiosim)
    assert grown > total
    updated = index_row(audiosim, "--verify")
    assert updated["action"] == "updated"
    assert updated["added"] == grown - total > 0 and updated["removed"] == 0
    assert updated["vectors"] == grown and updated["recall_at_10"] >= 0.99
    assert updated["file"] != built["file"]
    payload = read_manifest(audiosim.store)["indexes"][key]["file"]
    assert index_files(audiosim) == [payload, payload + ".json", payload + ".labels"]

    # A file removed from the library: ingest --prune + embed drops its vectors.
    (audiosim.cwd / "loop/loop-02.ogg").unlink()
    audiosim.run("ingest", ".", "--prune", check_code=EXIT_OK)
    audiosim.run("embed", check_code=EXIT_OK)
    shrunk = vectors(audiosim)
    assert shrunk < grown
    removed = index_row(audiosim)
    assert removed["action"] == "updated"
    assert removed["removed"] == grown - shrunk and removed["added"] == 0
    assert removed["vectors"] == shrunk and removed["deleted"] == grown - shrunk
    assert index_status(audiosim)["state"] == "up to date"

    rebuilt = index_row(audiosim, "--rebuild")
    assert rebuilt["action"] == "rebuilt" and rebuilt["reason"] == "--rebuild"
    assert rebuilt["vectors"] == shrunk and rebuilt["deleted"] == 0

    smaller = index_row(audiosim, "--M", "8", "--verify")
    assert smaller["action"] == "rebuilt" and "M 16 -> 8" in smaller["reason"]
    assert smaller["M"] == 8 and smaller["recall_at_10"] >= 0.99
    ef = index_row(audiosim, "--ef", "150")
    assert ef["action"] == "updated" and ef["added"] == ef["removed"] == 0
    assert (ef["M"], ef["ef_search"]) == (8, 150)
    status = index_status(audiosim)
    assert status["state"] == "up to date" and status["params"] == {"M": 8, "ef_construction": 200, "ef_search": 150}
    header = json.loads(pathlib.Path(ef["file"] + ".json").read_text())
    assert header["params"]["ef_search"] == 150 and header["count"] == shrunk


def flip_middle(path):
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def test_a_damaged_payload_is_refused_by_query_and_rebuilt_by_index(tmp_path, demo):
    audiosim = embedded_demo(tmp_path, demo, index=True)
    for damage in (flip_middle, truncate):
        payload = pathlib.Path(index_row(audiosim)["file"])
        damage(payload)
        result = audiosim.run("query", "--item", "kick/kick-02.wav")
        assert 0 <= result.returncode <= 127  # never a crash (a signal would be negative)
        assert result.returncode == EXIT_FORMAT, (damage.__name__, result.stderr.decode())
        lines = result.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and payload.name in lines[0] and "audiosim index" in lines[0], lines
        assert result.stdout == b""

        rebuilt = index_row(audiosim)
        assert rebuilt["action"] == "rebuilt", damage.__name__
        assert payload.name in rebuilt["reason"] and "could not be loaded" in rebuilt["reason"]
        answered = audiosim.run("query", "--item", "kick/kick-02.wav", "--format", "jsonl", check_code=EXIT_OK)
        assert len(parse_rows(answered.stdout, "jsonl")) == 10
