"""Only hnswlib's own functions may hold AVX instructions (AUDIOSIM_HNSW_ARCH, docs/ARCHITECTURE.md).

A copy of a shared template (json, std) compiled for AVX2 may be the one the linker keeps for the
whole program, and audiosim would then die of SIGILL on an older CPU far from any index code,
where check_hnsw_cpu_support() cannot help. -march on hnsw_index.cpp did exactly that."""

import re
import shutil
import subprocess

import pytest

from conftest import BIN

FUNCTION = re.compile(r"^[0-9a-f]+ <(.*)>:$")


def functions_with_avx(path):
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", str(path)], check=True,
                             capture_output=True, text=True).stdout
    found, function = set(), None
    for line in listing.splitlines():
        match = FUNCTION.match(line)
        if match:
            function = match.group(1)
            continue
        fields = line.split("\t")
        if function and len(fields) >= 2 and fields[1].split():
            instruction = fields[1].split()[0]
            # VEX/EVEX encodings are the v-prefixed mnemonics (verr/verw are older system instructions).
            if (instruction.startswith("v") and instruction not in ("verr", "verw")) or "%ymm" in line or "%zmm" in line:
                found.add(function)
    return found


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils)")
@pytest.mark.parametrize("name", ["audiosim", "unit_tests"])
def test_only_hnswlib_functions_hold_avx_instructions(name):
    path = BIN.parent / name
    if not path.exists():
        pytest.skip(f"{path} is not built")
    outside = sorted(f for f in functions_with_avx(path) if "hnswlib::" not in f)
    assert outside == []
