#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang into build-fuzz/ and runs each, one after
# another, for N iterations (default 1000000) over its seed corpus, stopping at the first finding.
#   scripts/fuzz.sh [N [TARGET...]]      FUZZ_SECONDS=S caps each target's time too
# New inputs go to build-fuzz/found/TARGET (tests/fuzz/corpus is only read); a finding leaves its
# input in build-fuzz/artifacts/ and the log in build-fuzz/logs/TARGET.log. Replay one with
# build-fuzz/bin/TARGET FILE. The short CI run is CTest's label fuzz: ctest --test-dir build-fuzz -L fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in tests/fuzz/fuzz_*.cpp; do
    name=$(basename "$source" .cpp)
    [ "$name" = fuzz_support ] || targets+=("$name")
  done
fi
if [ ! -f build-fuzz/build.ninja ]; then
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DAUDIOSIM_FUZZ=ON >/dev/null
fi
cmake --build build-fuzz --target "${targets[@]}"
mkdir -p build-fuzz/artifacts build-fuzz/logs
# Undefined behaviour is fatal; tests/ubsan.supp says what is let through and why.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/ubsan.supp
for target in "${targets[@]}"; do
  mkdir -p "build-fuzz/found/$target"
  printf 'fuzz: %s, %s runs\n' "$target" "$runs" >&2
  # HDF5 itself hangs or crashes on some damaged bytes: the byte-level target keeps going past
  # findings (each one's input is kept for triage: ours, or HDF5's; docs/RELIABILITY.md).
  keep_going=()
  [ "$target" = fuzz_segment_bytes ] && keep_going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  # 2 GiB: an allocation beyond it is a finding (a reader trusting a count); 10 s: a hang is one too.
  if ! "build-fuzz/bin/$target" -runs="$runs" -max_total_time="${FUZZ_SECONDS:-0}" "${keep_going[@]}" \
      -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/artifacts/$target-" "build-fuzz/found/$target" "tests/fuzz/corpus/$target" \
      >"build-fuzz/logs/$target.log" 2>&1; then
    tail -n 40 "build-fuzz/logs/$target.log" >&2
    printf 'fuzz: %s: finding (log above: build-fuzz/logs/%s.log)\n' "$target" "$target" >&2
    exit 1
  fi
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|Done)' "build-fuzz/logs/$target.log" >&2 || true
done
