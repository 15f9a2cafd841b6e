#!/usr/bin/env bash
# Installs a pretrained model whose weights ship inside a PyPI wheel, exported to audiosim's
# TorchScript contract (models/README.md), into models/NAME/ where `--model NAME` finds it.
#   scripts/install-model.sh NAME [--force]   # e.g. aisfx
#   scripts/install-model.sh --list
# models/NAME/ holds the exporter (export.py), the pinned wheel (wheel.txt: installed with
# --no-deps, so its stale dependency pins never touch .venv) and, when the exporter needs more,
# its own pins (requirements.txt). The export (NAME-vN.pt + sidecar) is gitignored: third-party
# weights are never committed. Safe to run again: an existing export is kept unless --force.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'install-model: %s\n' "$*" >&2; }
die() { printf 'install-model: error: %s\n' "$*" >&2; exit 2; }

installable() {
  for exporter in models/*/export.py; do
    local folder=${exporter%/export.py}
    [ -f "$folder/wheel.txt" ] && basename "$folder"
  done
}

[ $# -ge 1 ] || die "usage: scripts/install-model.sh NAME [--force] | --list"
if [ "$1" = --list ]; then installable; exit 0; fi
name=$1
force=${2:-}
[ -z "$force" ] || [ "$force" = --force ] || die "unknown option $force (--force re-exports)"
folder=models/$name
[ -f "$folder/export.py" ] && [ -f "$folder/wheel.txt" ] \
  || die "no installable model '$name' (installable: $(installable | tr '\n' ' '))"
python=.venv/bin/python
[ -x "$python" ] || die ".venv is missing: run scripts/setup.sh first"

if [ -z "$force" ] && ls "$folder"/"$name"-v*.pt >/dev/null 2>&1 && ls "$folder"/"$name"-v*.json >/dev/null 2>&1; then
  say "$name is installed ($(ls "$folder"/"$name"-v*.pt)); --force exports it again"
  exit 0
fi
say "installing the pinned wheel of $name ($(grep -v '^#' "$folder/wheel.txt" | tr '\n' ' ')) without its dependencies"
"$python" -m pip install -q --disable-pip-version-check --no-deps -r "$folder/wheel.txt"
if [ -f "$folder/requirements.txt" ]; then
  say "installing what the exporter of $name needs ($folder/requirements.txt)"
  "$python" -m pip install -q --disable-pip-version-check -r "$folder/requirements.txt"
fi
say "exporting $name to $folder"
"$python" "$folder/export.py" --out-dir "$folder"
