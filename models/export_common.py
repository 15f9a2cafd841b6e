"""What every exporter under models/ shares: model.py compiled under a fixed name, the pinned
wheel's weights found and checked, the TorchScript saved and checked against the eager module,
and the sidecar written with the checksums printed.

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import export_common
"""

import hashlib
import importlib.metadata
import importlib.util
import io
import json
import linecache
import os
import sys
import types
from pathlib import Path

import torch


def fixed_hash_seed():
    """Re-runs the exporter under PYTHONHASHSEED=0 unless it already runs so. TorchScript writes
    some sets (an LSTM's constants, a module's Final attributes) in Python's string-hash order,
    which changes with every process otherwise; the archive's serialization id hashes what is
    written, so without a fixed seed no two exports are the same bytes. Call it first."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})


def fail(message: str):
    sys.exit(f"export.py: error: {message}")


def load_model_source(path: Path, recorded_name: str, module_name: str) -> types.ModuleType:
    """Runs model.py as a module whose source TorchScript records as `recorded_name` (its path in
    the repository), so that every clone, from any folder, exports the same bytes."""
    source = path.read_text()
    linecache.cache[recorded_name] = (len(source), None, source.splitlines(keepends=True), recorded_name)
    module = types.ModuleType(module_name)
    module.__file__ = recorded_name
    sys.modules[module_name] = module
    exec(compile(source, recorded_name, "exec"), module.__dict__)
    return module


def package_file(distribution: str, version: str, package: str, relative: str, sha256: str, model: str) -> Path:
    """A file inside an installed wheel (found without importing the package, whose __init__ may
    need what the export does not), checked against the pinned version and the file's sha256."""
    try:
        installed = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        fail(f"{distribution} is not installed: run scripts/install-model.sh {model}")
    if installed != version:
        fail(f"{distribution} {installed} is installed; this exporter is for {version} (models/{model}/wheel.txt)")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        fail(f"the {package} package is not importable: run scripts/install-model.sh {model}")
    path = Path(list(spec.submodule_search_locations)[0]).parent / relative
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        fail(f"{path}: sha256 {digest}, expected {sha256} ({distribution} {version})")
    return path


def save_checked(eager: torch.nn.Module, out: Path, name: str, version: str, waveforms: torch.Tensor,
                 lengths: torch.Tensor, atol: float, scripted=None) -> Path:
    """Scripts `eager` (unless `scripted` is given), saves it as out/NAME-vVERSION.pt, loads it
    back as the C++ side does and checks it against the eager module on the given rows."""
    out.mkdir(parents=True, exist_ok=True)
    scripted = scripted if scripted is not None else torch.jit.script(eager)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    pt = out / f"{name}-v{version}.pt"
    pt.write_bytes(buffer.getvalue())
    loaded = torch.jit.load(str(pt), map_location="cpu")
    with torch.no_grad():
        a, b = loaded(waveforms, lengths), eager(waveforms, lengths)
    if not (torch.isfinite(a).all() and torch.allclose(a, b, atol=atol)):
        fail(f"the saved model differs from the eager one by {float((a - b).abs().max()):.2e}")
    return pt


def write_sidecar(pt: Path, sidecar: dict) -> Path:
    """Writes the sidecar beside the .pt and prints both files' sizes and sha256."""
    js = pt.with_suffix(".json")
    js.write_text(json.dumps(sidecar, indent=2) + "\n")
    for f in (pt, js):
        print(f"{f}  {f.stat().st_size} bytes  sha256 {hashlib.sha256(f.read_bytes()).hexdigest()}")
    return js
