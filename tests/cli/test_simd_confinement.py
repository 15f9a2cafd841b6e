"""Only hnswlib's own functions may hold AVX instructions (AUDIOSIM_HNSW_ARCH, docs/ARCHITECTURE.md).

A copy of a shared template (json, std) compiled for AVX2 may be the one the linker keeps for the
whole program, and audiosim would then die of SIGILL on an older CPU far from any index code,
where check_hnsw_cpu_support() cannot help. -march on hnsw_index.cpp did exactly that.

The one other kind allowed: a clone of a function compiled for AVX2 by GCC's target_clones, which
its resolver picks at load time only on a CPU that has AVX2 (the FIR decimator's output loop,
lib/audio/resample.cpp). Such a clone must have its resolver in the binary."""

import re
import shutil
import subprocess

import pytest

from conftest import BIN

FUNCTION = re.compile(r"^[0-9a-f]+ <(.*)>:$")


def functions_with_avx(path):
    """(every function in the binary, those holding AVX instructions)."""
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", str(path)], check=True,
                             capture_output=True, text=True).stdout
    functions, found, function = set(), set(), None
    for line in listing.splitlines():
        match = FUNCTION.match(line)
        if match:
            function = match.group(1)
            functions.add(function)
            continue
        fields = line.split("\t")
        if function and len(fields) >= 2 and fields[1].split():
            instruction = fields[1].split()[0]
            # VEX/EVEX encodings are the v-prefixed mnemonics (verr/verw are older system instructions).
            if (instruction.startswith("v") and instruction not in ("verr", "verw")) or "%ymm" in line or "%zmm" in line:
                found.add(function)
    return functions, found


def dispatched_at_run_time(function, functions):
    """A target_clones clone for AVX2 whose resolver is in the binary."""
    clone = " [clone .avx2]"
    return function.endswith(clone) and function[: -len(clone)] + " [clone .resolver]" in functions


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils)")
@pytest.mark.parametrize("name", ["audiosim", "unit_tests"])
def test_only_hnswlib_functions_hold_avx_instructions(name):
    path = BIN.parent / name
    if not path.exists():
        pytest.skip(f"{path} is not built")
    functions, with_avx = functions_with_avx(path)
    outside = sorted(f for f in with_avx if "hnswlib::" not in f and not dispatched_at_run_time(f, functions))
    assert outside == []


def test_a_clone_without_its_resolver_is_not_allowed():
    functions = {"f(int) [clone .avx2]", "g(int) [clone .avx2]", "g(int) [clone .resolver]", "g(int)"}
    assert not dispatched_at_run_time("f(int) [clone .avx2]", functions)
    assert dispatched_at_run_time("g(int) [clone .avx2]", functions)
    assert not dispatched_at_run_time("g(int)", functions)
