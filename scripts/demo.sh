#!/usr/bin/env bash
# Set everything up, then run the main job on a bundled example: compile, simulate,
# compare with the exact solution, print the verdict, write a report and a plot to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
.venv/bin/rnn2spice compile netlists/damped-oscillator.yaml -o out/damped-oscillator.cir
.venv/bin/rnn2spice check netlists/damped-oscillator.yaml \
    --report out/damped-oscillator.json --plot out/damped-oscillator.png
echo "netlist, report and plot are in out/"
