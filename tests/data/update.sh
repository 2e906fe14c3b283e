#!/bin/sh
# Copies the reference data again from the project's shared data folder into tests/data, after the
# references were regenerated there: tests/data/update.sh [FOLDER]  (default: ../shared/data next
# to the checkout). Copies the case files (*.json), make_refs.py and systems/*; this folder's
# README.md and update.sh are clmd's own and are left alone. Then review `git status` and commit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-$here/../../../shared/data}
if [ ! -f "$src/make_refs.py" ] || [ ! -d "$src/systems" ]; then
    echo "update.sh: $src does not look like the reference data folder (no make_refs.py or systems/)" >&2
    exit 1
fi
mkdir -p "$here/systems"
cp "$src"/*.json "$src/make_refs.py" "$here/"
cp "$src"/systems/* "$here/systems/"
chmod u+w "$here"/*.json "$here/make_refs.py" "$here"/systems/*
chmod +x "$here/make_refs.py"
echo "copied $(ls "$src"/*.json | wc -l) reference files and $(ls "$src"/systems | wc -l) systems from $src"
du -sh "$here"
