#!/usr/bin/env bash
# GPU throughput of `audiosim embed` with a CLAP-sized model (random weights, ~29 GFLOPs per
# 10 s clip: bench/make_clap_sized_model.py), compared with a published CLAP reference.
#
# On the GPU machine (run scripts/setup.sh first: it installs torch and builds build/):
#   bench/gpu_embed_bench.sh                 # 100 files x 2 min, 48 kHz 16-bit stereo WAV (3.3 h)
#   bench/gpu_embed_bench.sh --files 200     # more audio
# Without a GPU, to check that the script itself works (tiny, on CPU):
#   bench/gpu_embed_bench.sh --cpu-smoke
#
# Steps: generate the library (cached under --work), export the model, fresh store, ingest (not
# timed), then time
#   audiosim --store S -j 8 embed --model MODEL.json --device cuda --profile music --batch-size 64
# while `nvidia-smi --query-gpu=utilization.gpu --format=csv -lms 200` samples the GPU in the
# background. Prints x realtime (library audio / wall clock of the embed process, which includes
# process start, loading torch and the model, and chunking), audiosim's summary, mean and peak GPU
# utilization over the run, and the comparison with the reference: 48 hours to embed 13,171 music
# files (~1,100 h of audio) with CLAP on one V100, i.e. ~23x realtime.
set -euo pipefail
cd "$(dirname "$0")/.."

files=100 seconds=120 threads=8 batch=64 device=cuda smoke=0
work=${TMPDIR:-/tmp}/audiosim-gpu-bench
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; echo "options: --files N --seconds S -j N --batch-size B --work DIR --cpu-smoke"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    -j|--threads) threads=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --cpu-smoke) smoke=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_embed_bench: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ "$smoke" = 1 ]; then
  files=2 seconds=12 device=cpu batch=4 threads=$(nproc)
  work=$work-smoke
fi

say() { printf '[gpu-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bin=build/bin/audiosim
py=.venv/bin/python
[ -x "$bin" ] || { say "no $bin: run scripts/setup.sh first"; exit 2; }
[ -x "$py" ] || { say "no $py: run scripts/setup.sh first"; exit 2; }
if [ "$device" = cuda ]; then
  command -v nvidia-smi >/dev/null || { say "nvidia-smi not found: no GPU here? (--cpu-smoke tests the script on CPU)"; exit 2; }
  "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
    || { say "torch sees no CUDA device"; exit 2; }
fi

lib=$work/lib-${files}x${seconds}s
model=$work/model/clap-sized-random-v1
store=$work/store
mkdir -p "$work"

# --- library: 48 kHz 16-bit stereo WAV, music-like (chords, bass, noise-burst drums, dynamics) ---
if [ ! -f "$lib/.complete" ]; then
  say "generating $files files x $seconds s at 48 kHz in $lib"
  rm -rf "$lib"; mkdir -p "$lib"
  "$py" - "$lib" "$files" "$seconds" <<'PY'
import concurrent.futures as cf, os, struct, sys
import numpy as np
SR = 48000
root, n_files, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

def make(i):
    rng = np.random.default_rng(i)
    n = int(seconds * SR)
    t = np.arange(n, dtype=np.float32) / SR
    beat = int(SR * 60 / rng.uniform(80, 160))
    bar = 4 * beat
    x = np.zeros((n, 2), np.float32)
    base = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    for s in range(0, n, bar):
        e = min(n, s + bar)
        tt = t[: e - s]
        dyn = rng.uniform(0.3, 1.0)
        for k, semis in enumerate((0, rng.choice([3, 4]), 7)):
            f = base * 2 ** ((semis + rng.choice([0, 5, 7, 12])) / 12)
            y = (np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt)) * np.exp(-tt / 1.5) * 0.15 * dyn
            x[s:e, k % 2] += y; x[s:e, 1 - k % 2] += 0.5 * y
        for b in range(s, e, beat):                       # drums: decaying noise bursts
            m = min(e, b + beat // 2) - b
            x[b:b + m] += (rng.standard_normal((m, 2)).astype(np.float32)
                           * np.exp(-np.arange(m, dtype=np.float32) / (SR * 0.05))[:, None] * 0.3 * dyn)
    x += rng.standard_normal(x.shape).astype(np.float32) * 0.003
    x *= 0.8 / max(1e-6, np.abs(x).max())
    pcm = (x * 32767).astype("<i2").tobytes()
    with open(os.path.join(root, f"track_{i:04d}.wav"), "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE" + b"fmt "
                + struct.pack("<IHHIIHH", 16, 1, 2, SR, SR * 4, 4, 16) + b"data" + struct.pack("<I", len(pcm)) + pcm)

with cf.ProcessPoolExecutor(max_workers=os.cpu_count()) as ex:
    list(ex.map(make, range(n_files)))
PY
  touch "$lib/.complete"
fi
audio_s=$(awk -v f="$files" -v s="$seconds" 'BEGIN { print f * s }')

# --- model ---
if [ ! -f "$model.pt" ]; then
  say "exporting the CLAP-sized model"
  "$py" bench/make_clap_sized_model.py --out "$model"
fi
[ "$smoke" = 1 ] && "$bin" models check "$model.json" >/dev/null && say "models check: ok"

# --- store ---
rm -rf "$store"
"$bin" --store "$store" -q ingest --root "$lib" "$lib"
cat "$lib"/*.wav >/dev/null  # page cache

# --- GPU sampler ---
util=$work/gpu_util.csv
sampler=
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name --format=csv,noheader | head -1 >"$work/gpu_name.txt" || true
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 200 >"$util" &
  sampler=$!
  trap '[ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true' EXIT
  sleep 1
fi

cmd=("$bin" --store "$store" -j "$threads" embed --model "$model.json" --device "$device" --profile music --batch-size "$batch")
say "running: ${cmd[*]}"
start=$(date +%s.%N)
rc=0
"${cmd[@]}" 2>"$work/embed.err" || rc=$?
end=$(date +%s.%N)
if [ -n "$sampler" ]; then sleep 0.5; kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; sampler=; fi
cat "$work/embed.err" >&2
[ $rc -eq 0 ] || { say "audiosim embed exited $rc"; exit 1; }

wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
summary=$("$bin" --store "$store" status --format json)
"$py" - "$audio_s" "$wall" "$util" "$device" "$work/gpu_name.txt" "$summary" <<'PY'
import json, os, sys
audio_s, wall, util_path, device, name_path, summary = sys.argv[1:7]
audio_s, wall = float(audio_s), float(wall)
s = json.loads(summary)["last_run"]["summary"]
x = audio_s / wall
print(f"library: {audio_s / 3600:.2f} h of audio; device {s.get('device', device)}"
      + (f" ({open(name_path).read().strip()})" if os.path.exists(name_path) else ""))
print(f"embed wall clock: {wall:.1f} s (audiosim's own: {s['elapsed_seconds']:.1f} s, model {s['model_seconds']:.1f} s, "
      f"{s['chunks_embedded']} chunks of 10 s every 5 s in {s['batches']} batches)")
print(f"x realtime: {x:.0f}x (library audio / wall); {s['chunks_embedded'] / wall:.1f} chunks/s")
if device == "cuda" and os.path.exists(util_path):
    vals = []
    for line in open(util_path):
        try:
            vals.append(float(line.split(",")[0]))
        except ValueError:
            pass
    busy = vals[5:-3] if len(vals) > 10 else vals  # drop the samples before start and after the end
    if busy:
        print(f"GPU utilization (nvidia-smi, every 200 ms, {len(busy)} samples): mean {sum(busy) / len(busy):.0f} %, "
              f"peak {max(busy):.0f} %")
ref = 1100.0 / 48.0
print(f"reference: CLAP on one V100, 13,171 music files (~1,100 h) in 48 h = {ref:.0f}x realtime; "
      f"this run: {x:.0f}x = {x / ref:.1f}x the reference"
      + ("" if device == "cuda" else " (CPU smoke run: not a GPU measurement)"))
PY
