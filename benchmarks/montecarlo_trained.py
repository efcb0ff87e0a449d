"""The worked example of the README: a trained network with 5 % parts -- how often does the
circuit still make the right decision?

    python benchmarks/montecarlo_trained.py [--runs 200] [--jobs 2] [--rtol 1e-2] [--plot /tmp/mc-trained.png]

The Keras network ``tests/data/keras-rnn/dm_delayed_ortho_bias_gap0.hdf5`` (n = 100 tanh,
delayed decision) imported with ``dt = 1e-3`` as in ``benchmarks/run.py``; one delayed-decision
trial (``pulse_trials(1.0, seed=0, delay=60)[0]``: pulse +1 at step 110, response window
steps 180..370), saved as a ``.npy`` stimulus file; the ideal-form circuit (``parallel``,
``vccs``) with every R and C drawn uniformly within 5 %, ``--runs`` runs from seed 0 on
``--jobs`` worker processes.  Each run's decision (mean readout over the window, 0 when
``|mean| < 0.5``) is compared with the discrete network's.

Accuracy: the runs are simulated at ``--rtol`` (default 1e-2, ~700 time points per run
instead of ~1,800 at the default 1e-3).  The benchmark measures what that costs: the
unperturbed circuit's error against the exact reference at that rtol (the numerical floor),
and (``--confirm K``) runs 0..K-1 again at the default accuracy to compare their decisions.

Prints the summary and the README lines (markdown).  Writes only to a temporary directory
and the ``--plot`` path.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import KERAS_DIR  # noqa: E402
from rnn2spice import import_model  # noqa: E402
from rnn2spice.workflows.montecarlo import montecarlo  # noqa: E402
from rnn2spice.workflows.stimulus import pulse_trials  # noqa: E402

MODEL = "dm_delayed_ortho_bias_gap0.hdf5"


def fmt(st: dict | None, digits: str = ".2g") -> str:
    if st is None:
        return "-"
    return f"median {st['median']:{digits}}, 5..95 % {st['p5']:{digits}} .. {st['p95']:{digits}}, max {st['max']:{digits}}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rtol", type=float, default=1e-2, help="accuracy of the runs (default 1e-2)")
    ap.add_argument("--confirm", type=int, default=4, metavar="K",
                    help="run the first K runs again at the default accuracy (default 4; 0: skip)")
    ap.add_argument("--plot", type=Path, default=Path(tempfile.gettempdir()) / "mc-trained.png")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = import_model(KERAS_DIR / MODEL, tmp / "dm.yaml", dt=1e-3)
        stim = pulse_trials(1.0, seed=0, delay=60)[0]
        np.save(tmp / "pulse.npy", stim.x)
        common = dict(stimulus=tmp / "pulse.npy", window=stim.window, seed=args.seed, jobs=args.jobs)

        floor = montecarlo(spec, runs=1, tolerance=0.0, rtol=args.rtol, **common)
        nominal = floor.records[0]
        load0 = os.getloadavg()[0]
        start = time.perf_counter()
        mc = montecarlo(spec, runs=args.runs, tolerance=args.tolerance, rtol=args.rtol, **common)
        wall = time.perf_counter() - start
        load1 = os.getloadavg()[0]
        confirm = None
        if args.confirm:
            confirm = montecarlo(spec, runs=args.confirm, tolerance=args.tolerance, **common)
        mc.plot(args.plot)

    print(mc.summary())
    ps = mc.point_summary()
    d = ps["decision"]
    recs = [r for r in mc.records if r["status"] == "ok"]
    decisions = [r["decision"]["decision"][0] for r in recs]
    counts = {v: decisions.count(v) for v in (1, 0, -1)}
    seconds = np.array([r["seconds"] for r in recs])
    points = np.array([r["points"] for r in recs])
    cpu = sum(r["cpu_seconds"] for r in recs)
    print()
    print(f"- network: `{MODEL}` (n = {spec.n} tanh, imported with dt = 1e-3); trial: pulse +1, d = 60 "
          f"(steps {stim.window[0]}..{stim.window[1]} are the response window); discrete network's decision "
          f"{d['discrete']}, nominal reference's {d['reference']}")
    print(f"- {args.runs} runs, every R and C uniform within {100 * args.tolerance:g} % (parallel/vccs, seed "
          f"{args.seed}), --rtol {args.rtol:g}: **right decision in {d['right']}/{d['runs']} runs "
          f"({100 * d['fraction']:.1f} %)**; decisions +1 / 0 / -1: {counts[1]} / {counts[0]} / {counts[-1]}; "
          f"{ps['failed']} failed")
    print(f"- mean readout over the window (nominal {mc.points[0].decision.discrete['mean'][0]:+.3f} discrete, "
          f"{mc.points[0].decision.reference['mean'][0]:+.3f} reference): {fmt(d['mean_readout'], '+.3f')}")
    print(f"- error against the nominal reference (worst neuron, own scale): {fmt(ps['state_error'])}; readout: "
          f"{fmt(ps['readout_error'])}; numerical floor (the unperturbed circuit at --rtol {args.rtol:g}): "
          f"{nominal['error']:.1e}")
    print(f"- wall time {wall:.0f} s on {mc.how} ({wall / args.runs:.2f} s per run; per run ngspice "
          f"{np.median(seconds):.2f} s median, {int(np.median(points))} time points; CPU of the runs {cpu:.0f} s; "
          f"load average {load0:.2f} before, {load1:.2f} after)")
    if confirm is not None:
        same = [confirm.record(k)["decision"]["decision"] == mc.record(k)["decision"]["decision"]
                for k in range(args.confirm)]
        diff = [abs(confirm.record(k)["decision"]["mean"][0] - mc.record(k)["decision"]["mean"][0])
                for k in range(args.confirm)]
        print(f"- at the default accuracy (1e-3) runs 0..{args.confirm - 1} decide the same in {sum(same)}/"
              f"{args.confirm} (mean readout within {max(diff):.1e}; {int(np.median([r['points'] for r in confirm.records]))} "
              f"points per run)")
    print(f"- figure: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
