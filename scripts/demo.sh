#!/usr/bin/env bash
# The main job on the bundled demo library: installs what is missing, builds, synthesizes the demo
# library (data/demo), ingests it with its metadata into build/demo.audiosim, cuts it into chunks
# and embeds them with the default model, shows the store and scores retrieval against the labels.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python data/make_demo_library.py data/demo
export AUDIOSIM_STORE=$PWD/build/demo.audiosim
audiosim=build/bin/audiosim
step() {  # exit 1 means some files failed (each named above); anything else stops the demo
  local rc=0
  "$audiosim" "$@" || rc=$?
  [ "$rc" -le 1 ] || exit "$rc"
}
step ingest --root data/demo --metadata data/demo/metadata.csv data/demo
step embed --profile sample
step embed --profile oneshot
"$audiosim" status
"$audiosim" eval --profile oneshot --labels data/demo/labels.tsv
