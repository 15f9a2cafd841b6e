"""Which torch plugin a process loads (lib/model/backend): on the CPU the one without CUDA, whose
load costs a fraction of the CUDA one's (docs/PERFORMANCE.md); `version` the CUDA one. The dynamic
linker's own log (LD_DEBUG=files) names every library a process loads, dlopen'ed ones included."""

import pathlib
import re

import pytest

from conftest import EXIT_OK, tone, write_wav

CPU = {"libaudiosim_torch.so", "libtorch_cpu.so"}
CUDA = {"libaudiosim_torch_cuda.so", "libtorch_cuda.so"}


def loaded(audiosim, log_folder, *args):
    """The file names of the libraries the run of `args` loaded, and its result."""
    log_folder.mkdir()
    result = audiosim.run(*args, check_code=EXIT_OK,
                          env={"LD_DEBUG": "files", "LD_DEBUG_OUTPUT": str(log_folder / "ld")})
    names = set()
    for log in log_folder.glob("ld.*"):  # one per process: ld.PID
        names |= {pathlib.Path(path).name for path in re.findall(r"file=(\S+)", log.read_text())}
    assert "libc.so.6" in names, "the dynamic linker wrote no log"
    return names, result


def cuda_devices(audiosim):
    out = audiosim.run("version", check_code=EXIT_OK).stdout.decode()
    return int(re.search(r"^cuda compiled for CUDA \S+, (\d+) devices? found$", out, re.M).group(1))


@pytest.fixture
def embedded(audiosim, library, tmp_path):
    for i in range(3):
        write_wav(library / f"n{i}.wav", tone(seconds=1.0 + 0.5 * i, seed=i))
    audiosim.run("ingest", ".", check_code=EXIT_OK)
    names, result = loaded(audiosim, tmp_path / "embed", "embed", "--device", "cpu", "-v")
    assert CPU <= names and not CUDA & names, sorted(names)
    assert "on cpu" in result.stderr.decode()
    audiosim.run("index", check_code=EXIT_OK)
    return audiosim


def test_the_cpu_never_loads_cuda(embedded, library, tmp_path):
    for i, args in enumerate([("--device", "cpu"), ("--device", "cpu", "--exact")]):
        names, result = loaded(embedded, tmp_path / f"query{i}", "query", "--format", "tsv", *args, library / "n1.wav")
        assert CPU <= names and not CUDA & names, (args, sorted(names))
        assert b"n1.wav" in result.stdout


def test_auto_loads_cuda_only_where_the_driver_finds_a_device(embedded, library, tmp_path):
    expected = CUDA if cuda_devices(embedded) > 0 else CPU
    for i, args in enumerate([(), ("--exact",)]):  # auto is query's default
        names, result = loaded(embedded, tmp_path / f"query{i}", "query", "--format", "tsv", *args, library / "n2.wav")
        assert expected <= names, (args, sorted(names))
        if expected == CPU:
            assert not CUDA & names, (args, sorted(names))
        assert b"n2.wav" in result.stdout


def test_version_loads_the_cuda_plugin(audiosim, tmp_path):
    names, result = loaded(audiosim, tmp_path / "version", "version")
    assert CUDA <= names, sorted(names)
    assert re.search(rb"^cuda compiled for CUDA \d+\.\d+, \d+ devices? found$", result.stdout, re.M)
