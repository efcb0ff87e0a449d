"""E24 snapping of a trained 100-neuron network: parts count, predicted vs simulated readout
change over one delayed-decision trial, and whether the decision survives.

    .venv/bin/python benchmarks/snap_trained.py [--series E24] [--value 1] [--delay 60] [--json FILE]

The network is tests/data/keras-rnn/dm_delayed_ortho_bias_gap0.hdf5 imported with dt = 1 ms
(as benchmarks/run.py), built in the op-amp form with ideal op-amps; the stimulus is
``pulse_trials(value, seed=0, delay=delay)[0]`` (370 steps).  Takes ~30 s (one ngspice run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import KERAS_DIR  # noqa: E402
from rnn2spice import import_model  # noqa: E402
from rnn2spice.circuit.compiler import compile_rnn  # noqa: E402
from rnn2spice.workflows.build import bom, snap_trial  # noqa: E402
from rnn2spice.workflows.stimulus import pulse_trials  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="E24")
    ap.add_argument("--value", type=float, default=1.0)
    ap.add_argument("--delay", type=int, default=60)
    ap.add_argument("--json", type=Path, default=None, help="write the full report here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = import_model(KERAS_DIR / "dm_delayed_ortho_bias_gap0.hdf5", Path(tmp) / "dm.yaml", dt=1e-3)
    parts = bom(spec, form="opamp", snap=args.series)
    real = compile_rnn(spec, form="opamp").realisation
    counts = parts.counts()
    print(f"network {spec.name}: n = {spec.n}, m = {spec.m}, {spec.convention} {spec.activation}, tau = 1 ms")
    print(f"parts ({args.series}): {parts.opamps} op-amps ({spec.n} integrators, {spec.n} summers, "
          f"{real.inverters} inverters), {counts['resistor']} resistors, {counts['capacitor']} capacitors, "
          f"{counts['reference']} voltage references, {parts.behavioural} activation blocks; "
          f"{len({(k, v) for _, k, _, v, _, _ in parts.rows if k == 'resistor'})} distinct resistor values")
    stim = pulse_trials(args.value, seed=0, delay=args.delay)[0]
    start = time.perf_counter()
    predicted = snap_trial(spec, stim, 1e-3, args.series, simulate=False)
    t_pred = time.perf_counter() - start
    start = time.perf_counter()
    trial = snap_trial(spec, stim, 1e-3, args.series, simulate=True)
    t_sim = time.perf_counter() - start
    rep = trial.report()
    ch, s = rep["readout_change"], rep["snap"]
    print(f"realised network: largest part change {s['largest_part_change']:.2%}; "
          + ", ".join(f"{k} {v:.2%}" for k, v in s["changes"].items())
          + f"; eigenvalue shift at h(0) {s['eigenvalue_shift']:.3e} relative")
    print(f"trial [{stim.label}], window steps {stim.window[0]}..{stim.window[1]}:")
    print(f"  mean readout: nominal {rep['nominal']['mean'][0]:.4f}, predicted {rep['predicted']['mean'][0]:.4f}, "
          f"simulated {rep['simulated']['mean'][0]:.4f}, discrete network {rep['discrete']['mean'][0]:.4f}")
    print(f"  readout change: predicted mean {ch['predicted_mean']:.4e} max {ch['predicted_max']:.4e}; "
          f"simulated mean {ch['simulated_mean']:.4e} max {ch['simulated_max']:.4e}; "
          f"simulated vs predicted max {ch['simulated_vs_predicted_max']:.2e}")
    print(f"  states (max per-neuron relative): predicted {s['predicted']:.3e}, simulated {s['measured']:.3e}, "
          f"ngspice vs prediction {s['agreement']:.2e}")
    print(f"  decision: nominal {rep['nominal']['decision']}, predicted {rep['predicted']['decision']}, "
          f"simulated {rep['simulated']['decision']}, discrete {rep['discrete']['decision']}: "
          f"{'survives' if trial.survives_simulated else 'CHANGES'}")
    print(f"  time: prediction {t_pred:.1f} s, prediction + ngspice {t_sim:.1f} s; verdict "
          f"{'PASS' if trial.passed else 'FAIL'} (same decision predicted, ngspice within a tenth of the effect)")
    assert predicted.report()["predicted"] == rep["predicted"]
    if args.json is not None:
        args.json.write_text(json.dumps(rep, indent=1))
    return 0 if trial.passed else 1


if __name__ == "__main__":
    sys.exit(main())
