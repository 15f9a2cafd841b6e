"""Progress is drawn on stderr only when it is a terminal, and never on stdout."""

import os
import pty
import shutil
import subprocess

from conftest import EXIT_OK, convert, tone, write_wav


def long_library(library):
    # Enough decoding work (--verify of FLAC, one thread) for several progress updates.
    source = write_wav(library / "src.wav", tone(seconds=150, rate=44100, channels=2, seed=1), rate=44100)
    first = convert(source, library / "flac" / "long0.flac")
    source.unlink()
    for i in range(1, 8):
        shutil.copy(first, library / "flac" / f"long{i}.flac")


def test_progress_on_a_terminal_not_on_a_pipe(audiosim, library):
    long_library(library)
    primary, secondary = pty.openpty()
    process = audiosim.popen("ingest", "--verify", "-j", "1", "--format", "tsv", "flac",
                             stdout=subprocess.PIPE, stderr=secondary,
                             env={**os.environ, "AUDIOSIM_PROGRESS_DELAY": "0"})
    os.close(secondary)
    terminal = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    stdout = process.stdout.read()
    assert process.wait(timeout=120) == EXIT_OK
    os.close(primary)
    assert b"\r\x1b[K[" in terminal and b"/8 " in terminal, terminal[-500:]
    assert b"8 files scanned" in terminal
    assert b"\r" not in stdout and stdout.count(b"\n") == 9

    (library / "flac" / "long0.flac").unlink()
    result = audiosim.run("ingest", "--verify", "-j", "1", "--prune", "flac", check_code=EXIT_OK,
                          env={"AUDIOSIM_PROGRESS_DELAY": "0"})
    assert b"\r" not in result.stderr and b"\x1b[" not in result.stderr
