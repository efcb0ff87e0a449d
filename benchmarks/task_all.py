"""Task check of every shared Keras network on the delayed-decision task (slow: ~15 ngspice runs).

    python benchmarks/task_all.py [--values 1 -1 0] [--seed 0] [--noise 0] [--jobs 2] [--out out/task_all]

For each network in ../shared/data/keras-rnn and each pulse value: import the HDF5 file
(tau = dt = 1 ms), run one 370-step trial (d drawn from --seed) through the discrete network,
the continuous reference and the ngspice circuit (rnn2spice.workflows.task.run_trial), and print one
table row: readout differences, decisions, run time.  Writes results.json, one figure per
network and value, and a Markdown table to --out.  Exit 0 when every trial passes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KERAS_DIR = ROOT / "tests" / "data" / "keras-rnn"


def one(args: tuple) -> dict:
    path, value, seed, noise, out_dir = args
    from rnn2spice.report.figures import png_bytes
    from rnn2spice.workflows.importers import import_model
    from rnn2spice.report.files import write_atomic
    from rnn2spice.workflows.stimulus import pulse_trials
    from rnn2spice.workflows.task import TaskResult, run_trial

    with tempfile.TemporaryDirectory() as tmp:
        spec = import_model(path, Path(tmp) / "net.yaml", dt=1e-3).spec
        stim = pulse_trials(value, seed=seed, noise=noise, m=spec.m)[0]
        start = time.perf_counter()
        trial = run_trial(spec, stim, 1e-3)
        wall = time.perf_counter() - start
    result = TaskResult(spec, 1e-3, [trial], trial.tolerance, trial.dead_zone, False, "parallel", "default",
                        {"kind": "pulse", "value": value, "seed": seed, "noise": noise})
    name = Path(path).stem
    write_atomic(Path(out_dir) / f"{name}_{value:+g}.png", png_bytes(result.plot()))
    row = trial.as_dict()
    row.update(network=name, value=value, wall_s=wall)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--values", type=float, nargs="+", default=[1.0, -1.0, 0.0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "task_all")
    ap.add_argument("--networks", nargs="*", help="file names (default: all *.hdf5)")
    args = ap.parse_args(argv)
    files = sorted(KERAS_DIR.glob("*.hdf5"))
    if args.networks:
        files = [f for f in files if f.name in args.networks or f.stem in args.networks]
    if not files:
        print(f"no networks found in {KERAS_DIR}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(f), v, args.seed, args.noise, str(args.out)) for f in files for v in args.values]
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for row in pool.map(one, jobs):
            rows.append(row)
            print(f"{row['network']:36s} {row['value']:+g}: {'PASS' if row['passed'] else 'FAIL'} "
                  f"({row['timings_s']['spice']:.0f} s ngspice)", file=sys.stderr, flush=True)
    header = ("| network | pulse | d | decision discrete / SPICE | mean y discrete / SPICE | "
              "Δ mean | Δ end | max Δ over window | max abs(SPICE − reference) | "
              "ngspice wall / CPU (s) | pass |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        d = r["differences"]
        lines.append(
            f"| {r['network']} | {r['value']:+g} | {r['delay_steps']} | {r['discrete']['decision'][0]:+d} / "
            f"{r['spice']['decision'][0]:+d} | {r['discrete']['mean'][0]:+.4f} / {r['spice']['mean'][0]:+.4f} | "
            f"{d['spice_vs_discrete']['mean']:.1e} | {d['spice_vs_discrete']['end']:.1e} | "
            f"{d['spice_vs_discrete']['max_window']:.3f} | {d['spice_vs_reference']['max_trial']:.1e} | "
            f"{r['timings_s']['spice']:.0f} / {r['timings_s'].get('spice_cpu_in_process', float('nan')):.0f} | "
            f"{'yes' if r['passed'] else 'no'} |")
    table = "\n".join(lines)
    print(table)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    (args.out / "table.md").write_text(table + "\n")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
