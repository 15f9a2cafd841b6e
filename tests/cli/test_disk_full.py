"""A full disk: a clear one-line error, exit 74, and nothing already committed is lost.

The disk is made full for the child alone with RLIMIT_FSIZE (writes past the limit fail with
EFBIG, SIGXFSZ ignored): the same failing-write path as ENOSPC, without mounting anything."""

import json
import resource
import signal
import subprocess

from conftest import BIN, EXIT_IO, EXIT_OK, write_wav


def small_file_limit(limit_bytes):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def test_full_disk_during_commit_keeps_the_store(audiosim, library):
    for i in range(50):
        write_wav(library / "first" / f"a{i}.wav", seconds=0.05, frequency=100 + i)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    before = audiosim.status()
    for i in range(600):
        write_wav(library / "second" / f"b{i}.wav", seconds=0.05, frequency=1000 + i)

    result = subprocess.run(audiosim.argv("ingest", "."), cwd=library, capture_output=True,
                            preexec_fn=small_file_limit(40_000), timeout=120)
    assert result.returncode == EXIT_IO
    errors = [line for line in result.stderr.decode().splitlines() if "error:" in line]
    assert len(errors) == 1 and "cannot write" in errors[0] and "File too large" in errors[0]

    after = audiosim.status()
    assert after["files"]["total"] == before["files"]["total"] == 50
    manifest = json.loads((audiosim.store / "manifest.json").read_text())
    on_disk = sorted(p.name for p in (audiosim.store / "catalog").iterdir())
    assert on_disk == sorted(s["file"].split("/")[1] for s in manifest["catalog"]), "no temporaries left"

    audiosim.run("ingest", ".", check_code=EXIT_OK)
    assert audiosim.status()["files"]["total"] == 650


def test_full_stdout_is_an_error(audiosim, library):
    write_wav(library / "a.wav")
    with open("/dev/full", "wb") as full:
        result = subprocess.run(audiosim.argv("ingest", "--format", "tsv", "."), cwd=library, stdout=full,
                                stderr=subprocess.PIPE, timeout=60)
    assert result.returncode == EXIT_IO
    assert "cannot write to standard output" in result.stderr.decode()


def test_full_disk_during_embed_keeps_the_store(audiosim, library):
    from conftest import tone
    for i in range(40):
        write_wav(library / f"e{i}.wav", tone(seconds=1.0, rate=22050, seed=i), rate=22050)
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    audiosim.run("chunk", check_code=EXIT_OK)
    before = json.loads((audiosim.store / "manifest.json").read_text())
    # Vectors of 40 files (147 floats each) are ~24 KB: a 12 KB file-size limit fails that write.
    result = subprocess.run(audiosim.argv("embed"), cwd=library, capture_output=True,
                            preexec_fn=small_file_limit(12_000), timeout=120)
    assert result.returncode == EXIT_IO
    errors = [line for line in result.stderr.decode().splitlines() if "error:" in line]
    assert len(errors) == 1 and "File too large" in errors[0]
    after = json.loads((audiosim.store / "manifest.json").read_text())
    assert after["catalog"] == before["catalog"] and after["chunks"] == before["chunks"]
    assert not after.get("embeddings") or all(not s["segments"] for s in after["embeddings"].values())
    audiosim.run("embed", check_code=EXIT_OK)
    (stage,) = audiosim.status()["stages"]["embed"].values()
    assert stage["files"] == 40 and stage["files_to_embed"] == 0
