"""Networks the size the field trains (issue 20): rows in the format of benchmarks/run.py.

    python benchmarks/trained_size.py [--quick]

* compile of a dense network of n = 1000 (1e6 coupling elements; target <= 2 s, i.e.
  >= 5e5 elements/s), spec validation excluded, netlist text included;
* one `task` trial (150 steps of 2 ms, a pulse) of a rank-2 rate network (tanh, tau = 20
  ms, W = m n^T / N, readout of the state) given as its factors -- r latent nodes, O(n r)
  elements -- against the same network with W multiplied out (dense, n^2 elements) in the
  same run: the ratio is the low-rank realisation's gain; targets: low rank <= 60 s, the
  dense n = 512 trial <= 180 s.

Wall times on a shared machine vary with its load; the in-process ngspice CPU time of each
trial is printed beside (``spice_cpu_in_process``).  ``--quick``: n = 300 compile and
n = 128 trials.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnn2spice.circuit.compiler import compile_rnn  # noqa: E402
from rows import markdown_row  # noqa: E402
from rnn2spice.network.spec import spec_from_dict  # noqa: E402
from rnn2spice.workflows.stimulus import Stimulus  # noqa: E402
from rnn2spice.workflows.task import run_task  # noqa: E402

DT = 2e-3


def bench_compile_large(quick: bool) -> list[dict]:
    n = 300 if quick else 1000
    rng = np.random.default_rng(0)
    spec = spec_from_dict({"name": "dense", "tau": 0.02, "convention": "rate", "activation": "tanh",
                           "w": 1.5 * rng.normal(size=(n, n)) / np.sqrt(n), "w_in": rng.normal(size=(n, 1)),
                           "t_stop": 0.3, "inputs": [{"kind": "step", "value": 1.0}]})
    start, cpu = time.perf_counter(), time.process_time()
    compiled = compile_rnn(spec)
    rate_s = time.process_time() - cpu
    text = compiled.netlist
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    target = n * n / 5e5  # the 5e5 elements/s (2 s at n = 1000)
    return [{"what": f"compile, dense rate/tanh n = {n} ({n * n} coupling elements, {len(text) / 1e6:.0f} MB): "
                     f"{n * n / seconds:.2g} elements/s vs 5e5/s (CPU {cpu:.2f} s, of which IR and step rate "
                     f"{rate_s:.2f} s, netlist text the rest)", "baseline_s": target, "ours_s": seconds,
             "ratio": seconds / target, "target": f"<= {target:.3g} s", "ok": seconds <= target}]


def low_rank_spec(n: int, factored: bool):
    rng = np.random.default_rng(1)
    m = rng.normal(size=(n, 2))
    nn = 1.6 * m + rng.normal(size=(n, 2))
    w = {"factors": [m / n, nn.T.copy()]} if factored else m @ nn.T / n
    return spec_from_dict({"name": "lowrank", "tau": 0.02, "convention": "rate", "activation": "tanh", "w": w,
                           "w_in": rng.normal(size=(n, 1)), "w_out": 4.0 * m[:, :1].T / n, "readout_of": "state",
                           "h0": list(0.1 * rng.normal(size=n)), "inputs": [{"kind": "step", "value": 0.0}],
                           "t_stop": 0.3, "provenance": {"mapping": {"dt": DT}}})


def _trial(spec) -> tuple[float, object]:
    x = np.zeros((150, 1))
    x[20:40, 0] = 1.0
    start = time.perf_counter()
    result = run_task(spec, [Stimulus(x, (100, 150), "pulse")], DT, jobs=1)
    return time.perf_counter() - start, result.trials[0]


def bench_low_rank_trial(quick: bool) -> list[dict]:
    n = 128 if quick else 512
    dense_s, dense = _trial(low_rank_spec(n, factored=False))
    low_s, low = _trial(low_rank_spec(n, factored=True))
    agree = float(np.max(np.abs(low.y_spice - dense.y_spice)))
    rows = [{"what": f"`task` trial, dense rate/tanh n = {n} ({n * n} coupling elements; ngspice CPU "
                     f"{dense.timings['spice_cpu_in_process']:.1f} s)", "baseline_s": 180.0, "ours_s": dense_s,
             "ratio": dense_s / 180.0, "target": "<= 180 s", "ok": dense_s <= 180.0},
            {"what": f"`task` trial, the same network as rank-2 factors ({4 * n + 2} coupling elements; ngspice CPU "
                     f"{low.timings['spice_cpu_in_process']:.1f} s; readouts agree to {agree:.1e}) vs dense",
             "baseline_s": dense_s, "ours_s": low_s, "ratio": low_s / dense_s, "target": "<= 60 s",
             "ok": low_s <= 60.0}]
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--compile-only", action="store_true")
    args = ap.parse_args()
    rows = bench_compile_large(args.quick) + ([] if args.compile_only else bench_low_rank_trial(args.quick))
    for row in rows:
        print(markdown_row(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
