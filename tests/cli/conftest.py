"""Shared fixtures for the CLI tests: the real binary, a fresh store per test, audio makers.

The binary comes from $AUDIOSIM_BIN (set by CTest), else build/bin/audiosim. Audio is made here
(numpy + the stdlib wave module, sox for other formats) or taken from the synthesized demo library
($AUDIOSIM_DEMO, made by data/make_demo_library.py)."""

import csv
import importlib
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import wave

import h5py
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("AUDIOSIM_BIN", ROOT / "build" / "bin" / "audiosim")).resolve()
DEMO = pathlib.Path(os.environ.get("AUDIOSIM_DEMO", ROOT / "data" / "demo")).resolve()

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_INPUT, EXIT_FORMAT = 0, 1, 2, 3, 4
EXIT_BUSY, EXIT_IO, EXIT_INTERRUPTED = 6, 74, 130


class Audiosim:
    """Runs the binary against one store; returns CompletedProcess with bytes stdout/stderr."""

    def __init__(self, store, cwd):
        self.store = pathlib.Path(store)
        self.cwd = pathlib.Path(cwd)
        self.file_ids = {}  # catalog path -> file id, where a fixture recorded them

    def argv(self, *args):
        return [str(BIN), "--store", str(self.store), *[os.fsencode(a) if isinstance(a, bytes) else str(a) for a in args]]

    def run(self, *args, input=None, check_code=None, env=None, timeout=120):
        full_env = dict(os.environ)
        full_env.pop("AUDIOSIM_STORE", None)
        if env:
            full_env.update(env)
        result = subprocess.run(self.argv(*args), cwd=self.cwd, input=input, capture_output=True,
                                env=full_env, timeout=timeout)
        if check_code is not None:
            assert result.returncode == check_code, (
                f"exit {result.returncode}, expected {check_code}\nstdout:\n{result.stdout.decode(errors='replace')}"
                f"\nstderr:\n{result.stderr.decode(errors='replace')}")
        return result

    def popen(self, *args, **kwargs):
        return subprocess.Popen(self.argv(*args), cwd=self.cwd, **kwargs)

    def ingest_rows(self, *args, check_code=EXIT_OK, input=None):
        """Runs ingest with --format jsonl and returns (rows, result)."""
        result = self.run("ingest", "--format", "jsonl", *args, check_code=check_code, input=input)
        rows = [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]
        return rows, result

    def status(self):
        return json.loads(self.run("status", "--format", "json", check_code=EXIT_OK).stdout)


@pytest.fixture
def library(tmp_path):
    """An empty library folder."""
    folder = tmp_path / "library"
    folder.mkdir()
    return folder


@pytest.fixture
def audiosim(tmp_path, library):
    """The binary bound to a fresh store in tmp_path, run from the library folder (the root)."""
    return Audiosim(tmp_path / "store", library)


@pytest.fixture(scope="session")
def demo():
    if not (DEMO / "labels.tsv").exists():
        pytest.fail(f"demo library missing at {DEMO}: run data/make_demo_library.py (scripts/test.sh does)")
    return DEMO


def tone(seconds=0.5, rate=44100, channels=1, frequency=440.0, amplitude=0.5, seed=None):
    """A sine (or, with seed, noise) as float samples [frames, channels]."""
    frames = max(1, int(round(seconds * rate)))
    if seed is not None:
        mono = np.random.default_rng(seed).uniform(-amplitude, amplitude, frames)
    else:
        mono = amplitude * np.sin(2 * np.pi * frequency * np.arange(frames) / rate)
    return np.repeat(mono[:, None], channels, axis=1)


def write_wav(path, samples=None, rate=44100, **tone_args):
    """16-bit PCM WAV; samples [frames, channels] floats in [-1, 1] (default: a tone)."""
    if samples is None:
        samples = tone(rate=rate, **tone_args)
    path = pathlib.Path(os.fsdecode(path)) if isinstance(path, bytes) else pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def convert(source, target, *sox_args, effects=()):
    """Converts with sox (format from the target's extension; sox_args are output format options),
    applying sox effects (gain, rate, trim, ...)."""
    pathlib.Path(target).parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["sox", "-R", str(source), *sox_args, str(target), *effects], check=True, capture_output=True)
    return pathlib.Path(target)


def mono_float_wav(source, target, rate, scratch):
    """The file decoded (libsndfile), mixed to mono and resampled to `rate` (sox), as float WAV:
    what the pretrained models' parity tests feed both audiosim and the package's own inference.
    libsndfile decodes because sox here reads no Opus."""
    import soundfile
    samples, native_rate = soundfile.read(str(source), dtype="float32", always_2d=True)
    native = pathlib.Path(scratch) / (pathlib.Path(target).stem + ".native.wav")
    soundfile.write(str(native), samples.mean(axis=1), native_rate, subtype="FLOAT")
    convert(native, target, "-e", "floating-point", "-b", "32", effects=("rate", "-v", str(rate)))
    native.unlink()
    return pathlib.Path(target)


def demo_as_mono_wavs(library, rate, scratch):
    """Every audio file of the demo library as library/DIR/NAME.EXT.wav, mono float at `rate`
    (mono_float_wav). Returns how many."""
    sources = sorted(p for p in DEMO.rglob("*") if p.suffix in {".wav", ".aiff", ".flac", ".mp3", ".ogg", ".opus"})
    assert len(sources) > 50, DEMO
    for source in sources:
        relative = source.relative_to(DEMO)
        mono_float_wav(source, pathlib.Path(library) / relative.parent / f"{relative.stem}.{relative.suffix[1:]}.wav",
                       rate, scratch)
    return len(sources)


def pypi_unreachable(project):
    """Why PyPI (or $PIP_INDEX_URL) cannot be reached, or None."""
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/")
    try:
        with urllib.request.urlopen(f"{index}/{project}/", timeout=20):
            return None
    except OSError as error:
        return f"PyPI ({index}) unreachable: {error}"


def install_model(name, reference_modules, project):
    """models/NAME with its export (NAME-v1.pt and .json) and the modules of the package's own
    inference (the parity tests' reference), installed by scripts/install-model.sh when missing.
    Skips only when PyPI cannot be reached. Returns the folder."""
    folder = ROOT / "models" / name
    exported = (folder / f"{name}-v1.pt").exists() and (folder / f"{name}-v1.json").exists()

    def importable():
        importlib.invalidate_caches()
        try:
            for module in reference_modules:
                importlib.import_module(module)
            return True
        except ImportError:
            return False

    if exported and importable():
        return folder
    # An export without the package (another .venv exported it) needs --force to install the wheel.
    argv = ["bash", str(ROOT / "scripts" / "install-model.sh"), name, *(["--force"] if exported else [])]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        reason = pypi_unreachable(project)
        if reason:
            pytest.skip(f"cannot install {name}: {reason}")
        pytest.fail(f"scripts/install-model.sh {name} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    assert importable(), f"scripts/install-model.sh {name} did not make {', '.join(reference_modules)} importable"
    return folder


def assert_keeps_the_contract(folder, name, dim, cwd):
    """`audiosim models check` on models/NAME's sidecar: exit 0, every check ok, the model's
    dimension and id named."""
    result = subprocess.run([str(BIN), "models", "check", str(folder / f"{name}-v1.json")],
                            capture_output=True, text=True, cwd=cwd, timeout=300)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    rows = dict(line.split("\t")[:2] for line in result.stdout.splitlines()[1:])
    assert rows == {check: "ok" for check in
                    ("shape", "finite", "norms", "deterministic", "batch and padding", "distinct")}
    assert f"[5, {dim}]" in result.stdout and f"{name}-1-" in result.stderr


def assert_export_is_byte_identical(folder, name, out_dir):
    """models/NAME/export.py run again into out_dir writes the installed files' bytes."""
    subprocess.run([sys.executable, str(folder / "export.py"), "--out-dir", str(out_dir)],
                   check=True, capture_output=True, timeout=300)
    for file in (f"{name}-v1.pt", f"{name}-v1.json"):
        assert (out_dir / file).read_bytes() == (folder / file).read_bytes(), (
            f"{file} differs from a fresh export: re-run scripts/install-model.sh {name} --force")


def assert_rows_alone(model_file, lengths, width, dim, seed):
    """A model's rows depend only on their own samples: a batch of loud noise rows cut at `lengths`
    (the padding past each length is noise too, not zeros, so that a leak shows) against each row
    alone at its own length and against the batch reversed; every row finite and of unit norm.
    Returns the batch's vectors."""
    import torch
    model = torch.jit.load(str(model_file), map_location="cpu")
    lengths = torch.tensor(lengths)
    batch = torch.randn(len(lengths), width, generator=torch.Generator().manual_seed(seed)).clamp(-1, 1)
    with torch.no_grad():
        together = model(batch, lengths)
        alone = torch.cat([model(batch[i:i + 1, :int(n)], lengths[i:i + 1]) for i, n in enumerate(lengths)])
        reordered = model(batch.flip(0), lengths.flip(0)).flip(0)
    assert together.shape == (len(lengths), dim) and torch.isfinite(together).all()
    assert torch.allclose(together.norm(dim=1), torch.ones(len(lengths)), atol=1e-5)
    assert (together - alone).abs().max() < 1e-5
    assert (together - reordered).abs().max() < 1e-5
    return together


def copy_demo(demo, destination):
    shutil.copytree(demo, destination, dirs_exist_ok=True)
    return destination


def read_wav(path):
    """A 16-bit PCM WAV as (float samples [frames, channels], rate)."""
    with wave.open(str(path), "rb") as f:
        assert f.getsampwidth() == 2, path
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
        return pcm.reshape(-1, f.getnchannels()).astype(np.float64) / 32768, f.getframerate()


def embedded_demo(base, demo, index=False):
    """A copy of the demo library in base/library with its metadata, ingested into base/store and
    embedded with the default profile (sample) and model; with index, indexed too. The Audiosim
    returned knows the file ids ingest gave (file_ids: path -> id)."""
    library = copy_demo(demo, pathlib.Path(base) / "library")
    audiosim = Audiosim(pathlib.Path(base) / "store", library)
    rows, _ = audiosim.ingest_rows(".", "--metadata", "metadata.csv")
    audiosim.file_ids = {row["path"]: row["file_id"] for row in rows if row["file_id"] is not None}
    audiosim.run("embed", check_code=EXIT_OK, timeout=600)
    if index:
        audiosim.run("index", check_code=EXIT_OK)
    return audiosim


def parse_rows(stdout, format):
    """The rows of a command's tsv, csv, json or jsonl output as dicts (tsv/csv values are strings)."""
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    if format == "json":
        return json.loads(text)
    if format == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return list(csv.DictReader(io.StringIO(text), delimiter="\t" if format == "tsv" else ","))


def read_manifest(store):
    try:
        text = (store / "manifest.json").read_text()
    except FileNotFoundError:
        return None
    return json.loads(text)  # replaced by rename: always a whole manifest, never a torn one


# ---------------------------------------------------------------------------------------------
# Freezing and killing a writer.

def _state(stat_path):
    try:
        text = open(stat_path).read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2]


def freeze(proc, timeout=10):
    """SIGSTOP, then wait until every thread has stopped. True: frozen while running; False: it
    had already exited (its exit status is collected later)."""
    proc.send_signal(signal.SIGSTOP)
    if proc.returncode is not None:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        main = _state(f"/proc/{proc.pid}/stat")
        if main in (None, "Z", "X"):
            return False
        try:
            tasks = os.listdir(f"/proc/{proc.pid}/task")
        except FileNotFoundError:
            return False
        states = [_state(f"/proc/{proc.pid}/task/{task}/stat") for task in tasks]
        if all(s in ("T", "t", None) for s in states):
            return True
        time.sleep(0.0005)
    raise AssertionError(f"pid {proc.pid} did not stop within {timeout} s")


def wait_for_generation(store, generation, proc, timeout=60):
    """Until the manifest reaches `generation`; False if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manifest = read_manifest(store)
        if manifest and manifest["generation"] >= generation:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.0005)
    raise AssertionError(f"generation {generation} not reached in {timeout} s")


def kill_and_reap(proc):
    proc.send_signal(signal.SIGKILL)  # SIGKILL ends a stopped process too
    return proc.wait(timeout=60)


def write_model(folder, name, body, dim=8, text_body=None, sample_rate=16000):
    """A TorchScript model (made with the test environment's torch) plus its sidecar. `body` is
    forward's, `text_body` (optional) that of an embed_text(bytes, lengths) text tower."""
    import importlib.util
    import torch
    source = f"""
import torch
class M(torch.nn.Module):
    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
{body}
"""
    if text_body:
        source += f"""
    @torch.jit.export
    def embed_text(self, text: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
{text_body}
"""
    folder.mkdir(parents=True, exist_ok=True)
    module_path = folder / f"{name.replace('-', '_')}_source.py"  # TorchScript compiles from a real file
    module_path.write_text(source)
    spec = importlib.util.spec_from_file_location(module_path.stem + str(abs(hash(source))), module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.jit.script(module.M()).save(str(folder / f"{name}.pt"))
    tower = {"method": "embed_text", "input": "utf8-bytes", "max_bytes": 64} if text_body else None
    (folder / f"{name}.json").write_text(json.dumps({
        "name": name, "version": "1", "sample_rate": sample_rate, "window_seconds": 1.0, "embedding_dim": dim,
        "normalized": False, "license": "test", "source": "tests/cli/conftest.py", "text_tower": tower}))
    return folder / f"{name}.json"


# ---------------------------------------------------------------------------------------------
# Catalog segments read the way a reader must (the crash and concurrency tests): whole, or gone.

CATALOG_COLUMNS = ("file_id", "path", "size", "mtime_ns", "hash", "status", "error", "container", "codec",
                   "sample_rate", "channels", "frames", "duration", "ingested_ns")


class SegmentMissing(Exception):
    pass


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def read_segment(path):
    """One catalog segment, checked for completeness. SegmentMissing if it is not there (a
    compaction removed it after we read the manifest); anything else wrong fails the test."""
    if not path.exists():
        raise SegmentMissing(path)
    try:
        handle = h5py.File(path, "r")
    except OSError:
        if not path.exists():  # removed while HDF5 was opening it
            raise SegmentMissing(path)
        raise
    with handle as f:
        assert _text(f.attrs["format"]) == "audiosim-catalog", f"{path}: not a catalog segment"
        assert int(f.attrs["format_version"]) == 1, path
        generation = int(f.attrs["store_generation"])
        files = f["files"]
        rows = int(files.attrs["rows"])
        columns = {}
        for name in CATALOG_COLUMNS:
            data = files[name][()]
            assert data.shape == (rows,), f"{path}: files/{name} has {data.shape} rows, the group says {rows}"
            columns[name] = data
        status_names = {value: name for name, value in h5py.check_enum_dtype(files["status"].dtype).items()}
        removed = f["removed"]
        removed_paths = [os.fsdecode(p) for p in removed["path"][()]]
        assert len(removed_paths) == int(removed.attrs["rows"]), path
    records = []
    for i in range(rows):
        records.append({
            "file_id": int(columns["file_id"][i]),
            "path": os.fsdecode(columns["path"][i]),
            "size": int(columns["size"][i]),
            "mtime_ns": int(columns["mtime_ns"][i]),
            "hash": f"{int(columns['hash'][i]):016x}",
            "status": status_names[int(columns["status"][i])],
            "error": _text(columns["error"][i]),
            "container": _text(columns["container"][i]),
            "codec": _text(columns["codec"][i]),
            "sample_rate": int(columns["sample_rate"][i]),
            "channels": int(columns["channels"][i]),
            "frames": int(columns["frames"][i]),
            "duration": float(columns["duration"][i]),
            "ingested_ns": int(columns["ingested_ns"][i]),
        })
    paths = [r["path"] for r in records]
    assert len(set(paths)) == len(paths), f"{path}: a path appears twice in one segment"
    return {"generation": generation, "records": records, "removed": removed_paths}
