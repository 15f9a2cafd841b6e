#!/usr/bin/env bash
# audiosim pairs at library scale: N files with one synthetic vector each (realistic vectors from
# bench/make_index_vectors.py, written into a store by make_bench_store), all k=10 neighbour pairs
# through the index (default) and exactly; the summary line of each run (time, pairs, peak memory)
# is printed.
#   [DIM=N] bench/pairs_bench.sh VECTORS.f32 [WORK]   (default DIM 163, audiosim-dsp v2's as in the recorded runs, v3 has 147;
#                                                     default WORK /tmp/audiosim-pairs-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
vectors=$1 work=${2:-/tmp/audiosim-pairs-bench}
dim=${DIM:-163}
mkdir -p "$work"
run() {  # STORE FILES ARGS...: a store of the first FILES vectors, then pairs ARGS
  local store=$work/$1 files=$2; shift 2
  if [ ! -f "$store/manifest.json" ]; then
    head -c $((files * dim * 4)) "$vectors" >"$work/vectors-$files.f32"
    build/bin/make_bench_store "$work/vectors-$files.f32" $dim "$store" 1
  fi
  /usr/bin/time -f "wall %e s, max RSS %M KiB" build/bin/audiosim --store "$store" pairs -q --format tsv "$@" >"$work/out.tsv"
  build/bin/audiosim --store "$store" status --format json | .venv/bin/python -c \
    'import json,sys; r=json.load(sys.stdin)["last_run"]["summary"]; print({k: r[k] for k in ("files","pairs","method","seconds","k","min_score")})'
}
echo "== 100,000 files, k 10, index (all cores)"; run store-100k 100000 -k 10 --min-score -1
echo "== 20,000 files, k 10, exact (CPU, all cores)"; run store-20k 20000 -k 10 --min-score -1 --exact --device cpu
