#!/usr/bin/env bash
# The main job on the bundled demo library: installs what is missing, builds, synthesizes the demo
# library (data/demo), ingests it with its metadata into build/demo.audiosim and shows the store.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python data/make_demo_library.py data/demo
export AUDIOSIM_STORE=$PWD/build/demo.audiosim
audiosim=build/bin/audiosim
rc=0
"$audiosim" ingest --root data/demo --metadata data/demo/metadata.csv data/demo || rc=$?
[ "$rc" -le 1 ] || exit "$rc"  # 1: some files failed, and the listing above says which
"$audiosim" status
