#!/usr/bin/env python3
"""Pitch-class labels for the devset's instruments, parsed from their file names: the pitch test of
models/crepe/README.md.

    python3 models/crepe/pitch_labels.py ../shared/devset/instruments-labels.tsv pitch.tsv

Writes relative_path, label (pc_C .. pc_B) and source (the library folder, for --exclude-same
source). The pitch class, not the note: the libraries do not share one octave numbering
(Splendid names the piano's second-lowest key B-1, B0 in scientific pitch notation), while the
letter is the same in all. A name gives the
note as a letter, an optional # or b and an octave digit (C4, Eb1, "FF A#2", SteelDrum_061_Db4,
a1pp), a bare letter (the electric bass's A#.flac) or, for the Headroom piano, a MIDI number.
Files whose names carry no note (the flute and saxophone sample numbers) are left out."""

import csv
import re
import sys
from pathlib import PurePosixPath

# a letter not preceded by a letter, then an accidental and an octave not followed by a digit or #
NOTE = re.compile(r"(?<![A-Za-z])([A-Ga-g])(#|b)?(-1|\d)(?![0-9#])")
BARE = re.compile(r"^([A-G])(#|b)?$")
HEADROOM = re.compile(r"HEADROOM PIANO LEVEL\d CLOSE (\d+)$")
LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
ACCIDENTAL = {"#": 1, "b": -1, None: 0}
NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def pitch_class(path: str):
    stem = PurePosixPath(path).stem
    midi = HEADROOM.match(stem)
    if midi:
        return int(midi.group(1)) % 12
    note = NOTE.search(stem) or BARE.match(stem)
    if not note:
        return None
    return (LETTER[note.group(1).upper()] + ACCIDENTAL[note.group(2)]) % 12


def main():
    source, target = sys.argv[1:3]
    rows = list(csv.DictReader(open(source, newline=""), delimiter="\t"))
    labeled = 0
    with open(target, "w", newline="") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n")
        writer.writerow(["relative_path", "label", "source"])
        for row in rows:
            pc = pitch_class(row["relative_path"])
            if pc is not None:
                writer.writerow([row["relative_path"], f"pc_{NAMES[pc]}", row["relative_path"].split("/")[1]])
                labeled += 1
    print(f"pitch_labels.py: {labeled} of {len(rows)} files labeled", file=sys.stderr)


if __name__ == "__main__":
    main()
