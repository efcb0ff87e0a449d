"""The trained 100-neuron network built from real parts: parts count, predicted vs simulated
readout over one delayed-decision trial, the decision, and a Monte Carlo of the real build
(every R and C within ``--tolerance``, op-amp offsets and transistor mismatch drawn): ``--runs N``
draws simulated in ngspice one at a time, ``--predicted M`` draws predicted
(:func:`rnn2spice.workflows.realdraw.predict_draw`, the same draws), from draw ``--first``; the
right-decision rate with its 95 % Clopper-Pearson interval.  ``--json`` is rewritten after each
draw, so an interrupted run keeps what it measured.

    .venv/bin/python benchmarks/real_parts_trained.py [--opamp TL072] [--snap E24] [--value 1]
        [--delay 30] [--runs 0] [--predicted 0] [--first 0] [--paired] [--skip-nominal] [--tolerance 0.05]
        [--json FILE]

The network is tests/data/keras-rnn/dm_delayed_ortho_bias_gap0.hdf5 imported with dt = 1 ms;
the stimulus is ``pulse_trials(value, delay=delay, m=1)[0]``.  One ngspice run of the
transistor circuit (~5,000 nodes) takes minutes (docs/real-parts.md has the measured times).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import KERAS_DIR  # noqa: E402
from rnn2spice import import_model  # noqa: E402
from rnn2spice.circuit.realparts import Build  # noqa: E402
from rnn2spice.spice.ngspice import SolverFallbackWarning  # noqa: E402
from rnn2spice.network.readout import readout  # noqa: E402
from rnn2spice.workflows.build import bom  # noqa: E402
from rnn2spice.workflows.montecarlo import montecarlo  # noqa: E402
from rnn2spice.workflows.realbuild import check_build, compile_build, trimmed_build  # noqa: E402
from rnn2spice.workflows.realdraw import drawn, predict_draw  # noqa: E402
from rnn2spice.workflows.stimulus import pulse_trials, stimulus_spec  # noqa: E402
from rnn2spice.workflows.task import DEFAULT_DEAD_ZONE, compile_trial, decision, run_discrete  # noqa: E402


def say(*args) -> None:
    print(*args, flush=True)


def simulated_draws(spec, stim, build, args, out) -> list[dict]:
    """Draws ``first .. first + runs - 1`` of the Monte Carlo, each simulated alone (one
    ngspice run at a time), its record written to ``--json`` as soon as it is done."""
    records = []
    for k in range(args.first, args.first + args.runs):
        start, cpu = time.perf_counter(), time.process_time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SolverFallbackWarning)
            mc = montecarlo(spec, run=k, tolerance=args.tolerance, form="opamp", coupling="resistor", stimulus=stim,
                            dt=1e-3, build=build, jobs=1, backend="subprocess")
        rec = dict(mc.records[0])
        # KLU stopped and the run was repeated with Sparse (solver 'auto'): say so per draw
        rec["klu_fallback"] = any(issubclass(w.category, SolverFallbackWarning) for w in caught)
        d = rec.get("decision") or {}
        keep = {key: rec.get(key) for key in ("run", "seed_path", "status", "passed", "error", "points", "seconds",
                                              "message", "ngspice_message", "klu_fallback")}
        keep.update(decision=d.get("decision"), mean=d.get("mean"), right=d.get("match"),
                    wall=time.perf_counter() - start, cpu_python=time.process_time() - cpu)
        records.append(keep)
        say(f"draw {k}: {rec['status']}, decision {d.get('decision')} (right: {d.get('match')}), window mean "
            f"{d.get('mean')}, {keep['wall']:.0f} s wall" + (", KLU stopped: Sparse" if rec["klu_fallback"] else ""))
        out["montecarlo"] = records
        if args.json is not None:
            args.json.write_text(json.dumps(out, indent=1, default=str))
    return records


def clopper_pearson(right: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval of a rate right / total."""
    from scipy.stats import beta
    a = (1.0 - level) / 2
    lo = 0.0 if right == 0 else float(beta.ppf(a, right, total - right + 1))
    hi = 1.0 if right == total else float(beta.ppf(1 - a, right + 1, total - right))
    return lo, hi


def predicted_draws(compiled, trial, stim, args, out) -> dict:
    """Draws ``first .. first + predicted - 1`` predicted (workflows/realdraw.py: each block
    characterised with its drawn parts, op-amp offsets in the predicted circuit), the same
    draws as montecarlo's runs; each written to ``--json`` when done."""
    grid = (np.arange(stim.x.shape[0]) + 1) * 1e-3
    s, e = stim.window
    target = decision(float(readout(trial, run_discrete(trial, stim.x, 1e-3))[s:e, 0].mean()), DEFAULT_DEAD_ZONE)
    rows = []
    for k in range(args.first, args.first + args.predicted):
        start, cpu = time.perf_counter(), time.process_time()
        states, curves = predict_draw(drawn(compiled, tolerance=args.tolerance, run=k), grid)
        mean = float(readout(trial, states)[s:e, 0].mean())
        rows.append({"run": k, "mean": mean, "decision": decision(mean, DEFAULT_DEAD_ZONE),
                     "block_error_max": float(np.max(curves.error(lambda z: -np.tanh(z)))),
                     "wall": time.perf_counter() - start, "cpu_python": time.process_time() - cpu})
        say(f"predicted draw {k}: window mean {mean:.4f}, decision {rows[-1]['decision']}, "
            f"{rows[-1]['wall']:.0f} s wall")
        right = sum(r["decision"] == target for r in rows)
        lo, hi = clopper_pearson(right, len(rows))
        out["predicted_draws"] = {"draws": rows, "right": right, "total": len(rows), "rate": right / len(rows),
                                  "ci95": [lo, hi], "dead_zone": DEFAULT_DEAD_ZONE,
                                  "discrete_decision": target}
        if args.json is not None:
            args.json.write_text(json.dumps(out, indent=1, default=str))
    return out.get("predicted_draws", {})


def paired_draws(spec, compiled, trial, stim, build, args, out) -> dict:
    """Each draw predicted and then simulated: the simulated right-decision rate with its 95 %
    interval, the predicted rate on the same draws, and per draw |mean_sim - mean_pred| (the
    window's mean readout) and whether the two decisions agree; ``--json`` after each pair."""
    pairs = []
    for k in range(args.first, args.first + args.runs):
        one = argparse.Namespace(**{**vars(args), "first": k, "runs": 1, "predicted": 1, "json": None})
        predicted = predicted_draws(compiled, trial, stim, one, {})
        pred, target = predicted["draws"][0], predicted["discrete_decision"]
        sim = simulated_draws(spec, stim, build, one, {})[0]
        for key in ("mean", "decision"):  # montecarlo's are per readout output: this network has one
            if isinstance(sim[key], list):
                sim[key] = sim[key][0]
        pairs.append({"run": k, "predicted": pred, "simulated": sim,
                      "mean_difference": None if sim["mean"] is None else abs(sim["mean"] - pred["mean"]),
                      "decisions_agree": sim["decision"] == pred["decision"]})
        done = [p for p in pairs if p["simulated"]["status"] == "ok"]
        right = sum(p["simulated"]["decision"] == target for p in done)
        lo, hi = clopper_pearson(right, len(done)) if done else (0.0, 1.0)
        out["paired"] = {"draws": pairs, "simulated": len(done), "right": right, "ci95": [lo, hi],
                         "discrete_decision": target,
                         "predicted_right_same_draws": sum(p["predicted"]["decision"] == target for p in done),
                         "decisions_agree": sum(p["decisions_agree"] for p in done),
                         "klu_fallbacks": sum(bool(p["simulated"]["klu_fallback"]) for p in pairs)}
        say(f"pair {k}: window mean predicted {pred['mean']:.4f} (decision {pred['decision']}), simulated "
            f"{sim['mean']} (decision {sim['decision']}); so far {right} of {len(done)} simulated draws right "
            f"(95 % CI {lo:.3f} .. {hi:.3f}), decisions agree in {out['paired']['decisions_agree']}")
        if args.json is not None:
            args.json.write_text(json.dumps(out, indent=1, default=str))
    return out["paired"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opamp", default="TL072")
    ap.add_argument("--snap", default="E24")
    ap.add_argument("--value", type=float, default=1.0)
    ap.add_argument("--delay", type=int, default=30)
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--first", type=int, default=0, help="first draw (seed path (0, k)) of --runs")
    ap.add_argument("--predicted", type=int, default=0,
                    help="draws predicted (the predicted circuit with each draw's parts), from --first")
    ap.add_argument("--skip-nominal", action="store_true", help="no nominal check (only the draws)")
    ap.add_argument("--paired", action="store_true",
                    help="draws --first .. --first + --runs - 1 each predicted and then simulated, one after the other "
                         "(an interrupted run keeps whole pairs)")
    args = ap.parse_args()
    spec = import_model(KERAS_DIR / "dm_delayed_ortho_bias_gap0.hdf5", dt=1e-3)
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
    out: dict = {}
    if not args.skip_nominal:
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
    if args.predicted:
        mc_circuit = compile_trial(spec, stim, 1e-3, form="opamp", coupling="resistor",
                                   build=trimmed_build(spec.activation, build, build.rails(spec)))
        assert mc_circuit.netlist == compiled.netlist, "the benchmark's circuit is not montecarlo's"
        pd = predicted_draws(compiled, trial, stim, args, out)
        say(f"predicted draws: {pd['right']} of {pd['total']} right, rate {pd['rate']:.3f} "
            f"(95 % CI {pd['ci95'][0]:.3f} .. {pd['ci95'][1]:.3f})")
    if args.paired:
        paired_draws(spec, compiled, trial, stim, build, args, out)
    elif args.runs:
        out["montecarlo"] = simulated_draws(spec, stim, build, args, out)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
