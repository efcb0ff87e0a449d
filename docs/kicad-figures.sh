#!/usr/bin/env bash
# Regenerates the pictures of docs/kicad.md: `rnn2spice kicad`, then KiCad's own SVG export
# (kicad-cli, KiCad 9) of the schematic it wrote.  Run from anywhere: bash docs/kicad-figures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
figure() {  # figure SPEC FORM: docs/kicad-<spec name>-<form>.svg
    local name
    name=$(basename "$1" .yaml)
    .venv/bin/rnn2spice kicad "$1" --form "$2" -o "$tmp/$name.kicad_sch" >/dev/null
    kicad-cli sch export svg --exclude-drawing-sheet -o "$tmp/svg" "$tmp/$name.kicad_sch" >/dev/null
    cp "$tmp/svg/$name.svg" "docs/kicad-$name-$2.svg"
}
figure netlists/damped-oscillator.yaml parallel
figure netlists/damped-oscillator.yaml opamp
