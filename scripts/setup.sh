#!/usr/bin/env bash
# Installs what is missing and builds audiosim. Safe to run again: each step checks first.
#   1. Debian packages (apt-get, as root or through sudo)
#   2. the project's Python environment .venv with the pinned torch (scripts/requirements.txt)
#   3. cmake configure + build of a preset of CMakePresets.json (the argument; default: `default`,
#      into build/, binary build/bin/audiosim; `asan` builds build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

packages=(
  build-essential cmake ninja-build pkg-config git python3 python3-venv
  libsndfile1-dev libsamplerate0-dev libhdf5-dev libhnswlib-dev libcli11-dev libfmt-dev doctest-dev
  nlohmann-json3-dev libxxhash-dev
  sox libsox-fmt-all espeak-ng opus-tools
)

install_packages() {
  local missing=()
  for package in "${packages[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" = installed ] || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]}"
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

find_cuda_toolkit() {
  # The CUDA-enabled libtorch's CMake config needs the CUDA toolkit (nvcc) of its major version.
  for candidate in "${CUDAToolkit_ROOT:-}" /usr/local/cuda; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/nvcc" ] && { echo "$candidate"; return; }
  done
  command -v nvcc >/dev/null && { dirname "$(dirname "$(command -v nvcc)")"; return; }
  die "no CUDA toolkit (nvcc) found: torch 2.11.0 from PyPI is built for CUDA 13; install the CUDA 13 toolkit or set CUDAToolkit_ROOT"
}

torch_pin() { sed -n 's/^torch==\([^ #]*\).*/\1/p' scripts/requirements.txt; }

require_free_space() {   # folder, GiB, what for
  local available_kib
  available_kib=$(df -Pk "$1" | awk 'NR == 2 { print $4 }')
  [ "$available_kib" -ge $(($2 * 1024 * 1024)) ] \
    || die "$1: only $((available_kib / 1024)) MiB free; $2 GiB are needed for $3"
}

install_python_environment() {
  local python=.venv/bin/python
  [ -x "$python" ] || { say "creating .venv"; python3 -m venv .venv; }
  if ! "$python" - <<'PY' 2>/dev/null
import importlib.metadata as m, pathlib, sys
lines = [l.split('#')[0].strip() for l in pathlib.Path('scripts/requirements.txt').read_text().splitlines()]
pins = [l.split('==') for l in lines if l]
sys.exit(any(m.version(name) != version for name, version in pins))
PY
  then
    # torch with its CUDA libraries is ~5.5 GiB installed, and pip holds the downloaded wheels
    # (~3 GiB) in a temporary folder until it has installed them all: fail early and plainly
    # rather than with pip's traceback from deep inside a download
    if ! "$python" -c "import importlib.metadata as m, sys; sys.exit(m.version('torch') != '$(torch_pin)')" 2>/dev/null; then
      require_free_space . 6 "the Python environment (.venv)"
      require_free_space "${TMPDIR:-/tmp}" 3 "pip's downloads (set TMPDIR to use another folder)"
    fi
    say "installing Python packages (scripts/requirements.txt; torch is large, this takes a few minutes)"
    "$python" -m pip install -q --disable-pip-version-check --no-cache-dir -r scripts/requirements.txt
  fi
}

build() {
  local preset=$1 dir torch_prefix cuda_root
  dir=build; [ "$preset" = default ] || dir=build-$preset
  torch_prefix=$(.venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')
  cuda_root=$(find_cuda_toolkit)
  if [ ! -f "$dir/build.ninja" ]; then
    say "configuring $dir/ (preset $preset)"
    mkdir -p "$dir"
    cmake --preset "$preset" -DCMAKE_PREFIX_PATH="$torch_prefix" -DCUDAToolkit_ROOT="$cuda_root" >"$dir/cmake.log" 2>&1 \
      || { cat "$dir/cmake.log" >&2; die "cmake failed (log above)"; }
  fi
  say "building"
  cmake --build --preset "$preset" -- -j"$(nproc)" >&2
  say "done: $dir/bin/audiosim"
}

install_packages
install_python_environment
build "${1:-default}"
