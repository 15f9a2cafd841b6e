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
