"""The trained 100-neuron network built from real parts: parts count, predicted vs simulated
readout over one delayed-decision trial, the decision, and (``--runs N``) a Monte Carlo of the
real build (every R and C within ``--tolerance``, op-amp offsets and transistor mismatch drawn).

    .venv/bin/python benchmarks/real_parts_trained.py [--opamp TL072] [--snap E24] [--value 1]
        [--delay 30] [--runs 0] [--tolerance 0.05] [--json FILE]

The network is tests/data/keras-rnn/dm_delayed_ortho_bias_gap0.hdf5 imported with dt = 1 ms;
the stimulus is ``pulse_trials(value, delay=delay, m=1)[0]``.  One ngspice run of the
transistor circuit (~5,000 nodes) takes minutes (docs/real-parts.md has the measured times).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import KERAS_DIR  # noqa: E402
from rnn2spice import import_model  # noqa: E402
from rnn2spice.circuit.realparts import Build  # noqa: E402
from rnn2spice.network.readout import readout  # noqa: E402
from rnn2spice.workflows.build import bom  # noqa: E402
from rnn2spice.workflows.montecarlo import montecarlo  # noqa: E402
from rnn2spice.workflows.realbuild import check_build, compile_build  # noqa: E402
from rnn2spice.workflows.stimulus import pulse_trials, stimulus_spec  # noqa: E402
from rnn2spice.workflows.task import decision, run_discrete  # noqa: E402


def say(*args) -> None:
    print(*args, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opamp", default="TL072")
    ap.add_argument("--snap", default="E24")
    ap.add_argument("--value", type=float, default=1.0)
    ap.add_argument("--delay", type=int, default=30)
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = import_model(KERAS_DIR / "dm_delayed_ortho_bias_gap0.hdf5", Path(tmp) / "dm.yaml", dt=1e-3).spec
    build = Build(opamp=args.opamp, activation_circuit="transistor", snap=args.snap)
    stim = pulse_trials(args.value, delay=args.delay, m=1)[0]
    trial = stimulus_spec(spec, stim.x, 1e-3)
    start = time.perf_counter()
    compiled = compile_build(trial, form="opamp", build=build)
    parts = bom(trial, build=build)
    order = parts.order_rows()
    r = compiled.realisation
    say(f"network {spec.name}: n = {spec.n}, {spec.convention} {spec.activation}; build {build.describe()}; "
        f"compiled (blocks trimmed) in {time.perf_counter() - start:.1f} s")
    say(f"parts: {r.opamps} amplifiers in {next(x['Qty'] for x in order if x['Value'] == parts.build.part.package_part)} "
        f"{parts.build.part.package_part} packages, {r.resistors} resistors "
        f"({sum(1 for x in order if x['Part'].startswith('Resistor'))} distinct values), {r.capacitors} capacitors, "
        f"{r.transistors} transistors, {len(r.pruned)} weights pruned; orderable list {len(order)} lines, "
        f"{sum(x['Qty'] for x in order)} parts")
    start = time.perf_counter()
    res = check_build(compiled, backend="subprocess")
    seconds = time.perf_counter() - start
    grid = (np.arange(stim.x.shape[0]) + 1) * 1e-3
    s, e = stim.window

    def window_mean(t, h):
        y = readout(trial, h)[:, 0]
        return float(np.interp(grid, t, y)[s:e].mean())

    y_disc = readout(spec, run_discrete(spec, stim.x, 1e-3))[:, 0]
    means = {"discrete": float(y_disc[s:e].mean()), "ideal": window_mean(res.time, res.ideal),
             "predicted": window_mean(res.time, res.predicted_states), "simulated": window_mean(res.time, res.states)}
    decisions = {k: decision(v, 0.5) for k, v in means.items()}
    say(res.summary())
    say(f"check: {seconds:.0f} s; mean readout over the response window: "
        + ", ".join(f"{k} {v:.4f}" for k, v in means.items()) + "; decisions " + json.dumps(decisions))
    out = {"build": res.report(), "means": means, "decisions": decisions, "seconds": seconds}
    if args.runs:
        start = time.perf_counter()
        mc = montecarlo(spec, runs=args.runs, tolerance=args.tolerance, form="opamp", coupling="resistor",
                        stimulus=stim, dt=1e-3, build=build, jobs=1, backend="subprocess")
        rep = mc.report()
        say(mc.summary())
        say(f"monte carlo: {time.perf_counter() - start:.0f} s")
        out["montecarlo"] = rep
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
