#!/usr/bin/env bash
# The main job on the bundled demo library: installs what is missing, builds, synthesizes the demo
# library (data/demo), ingests it with its metadata into build/demo.audiosim, cuts it into chunks
# and embeds them with the default model, indexes them, shows the store, queries with a re-encoded
# copy of a sample, lists duplicate clusters, reports the score distribution (build/demo-scores.svg)
# and scores retrieval against the labels.
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
step index --verify
"$audiosim" status
# A re-encoded copy of snare-01 queries the library: the original comes first.
"$audiosim" query --item dupes/snare-01-reencode.mp3 --limit 5 --format tsv
# The planted duplicates (data/demo/duplicates.tsv) as clusters, each with a suggested keeper.
"$audiosim" pairs --duplicates --format tsv
# How the scores of all pairs and of the kept ones are distributed; the plot is an SVG file.
"$audiosim" report --plot build/demo-scores.svg
"$audiosim" eval --profile oneshot --labels data/demo/labels.tsv
