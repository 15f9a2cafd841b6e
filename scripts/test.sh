#!/usr/bin/env bash
# The whole test suite on a fresh clone: installs what is missing, builds, makes the demo library,
# runs every test (unit, cli, slow) through CTest. Tests labelled gpu need a CUDA device and run
# only when asked: `scripts/test.sh -L gpu`. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python data/make_demo_library.py data/demo
cd build
if [ $# -eq 0 ]; then set -- -LE gpu; fi
ctest --output-on-failure --timeout 900 "$@"
