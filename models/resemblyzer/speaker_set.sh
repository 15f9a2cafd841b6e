#!/usr/bin/env bash
# Makes the speaker-retrieval set of models/resemblyzer/README.md: espeak-ng voices each saying
# the same ten sentences (22050 Hz WAV, as espeak-ng writes them), plus the demo library's speech
# words labeled with the voice data/make_demo_library.py gave them (one word each, at a random
# pitch and speed). Labels are speakers: a query's relevant files are the same voice's.
#   models/resemblyzer/speaker_set.sh OUT [DEMO]   # OUT/library/..., OUT/labels.tsv (path<TAB>label),
#                                                  # OUT/labels-timbre.tsv (the three accents of one voice as one label)
set -euo pipefail
out=${1:?usage: speaker_set.sh OUT [DEMO]}
demo=${2:-$(dirname "$0")/../../data/demo}
# The demo's six voices (SPEECH_VOICES of data/make_demo_library.py, in speech-01..06 order), then two more.
demo_voices=(en-us en+f3 en-gb-x-rp+m3 en-gb-scotland+f2 en-029 en-us+Annie)
voices=("${demo_voices[@]}" en-gb en+m7)
sentences=(
  "The quick brown fox jumps over the lazy dog near the river bank."
  "Please call Stella and ask her to bring these things with her from the store."
  "Sample libraries hold thousands of drum hits, loops and spoken phrases."
  "A speaker encoder turns a voice into a vector of numbers."
  "We measured how often the nearest file was said by the same voice."
  "Seven slim snakes slid silently under the wooden bridge."
  "The meeting starts at nine, so please do not be late again."
  "Rain fell on the roof all night while the radio played old songs."
  "Every morning she walked her two dogs along the beach."
  "Numbers like forty two and one thousand are easy to say."
)
mkdir -p "$out/library/espeak-ng" "$out/library/demo"
printf 'path\tlabel\n' > "$out/labels.tsv"
for voice in "${voices[@]}"; do
  for i in "${!sentences[@]}"; do
    file=espeak-ng/$voice-$i.wav
    espeak-ng -v "$voice" -w "$out/library/$file" "${sentences[$i]}"
    printf '%s\t%s\n' "$file" "$voice" >> "$out/labels.tsv"
  done
done
for i in "${!demo_voices[@]}"; do
  source=$(ls "$demo"/speech/speech-0$((i + 1)).*)
  cp "$source" "$out/library/demo/"
  printf '%s\t%s\n' "demo/$(basename "$source")" "${demo_voices[$i]}" >> "$out/labels.tsv"
done
# en-us, en-gb and en-029 are espeak-ng's default voice with three accents: one synthetic speaker.
awk -F'\t' 'BEGIN { OFS = "\t" } NR > 1 && ($2 == "en-us" || $2 == "en-gb" || $2 == "en-029") { $2 = "default-voice" } { print }' \
  "$out/labels.tsv" > "$out/labels-timbre.tsv"
