"""Throughput of many runs with 1 and 2 worker processes (issue 12): a markdown table row.

    python benchmarks/parallel.py [--runs 16] [--quick]

A Monte Carlo study (5 % tolerance) of a random tanh CTRNN (n = 30, sine input, 80 ms,
~6,000 ngspice time points, ~1 s per run) is run twice on the same machine: ``jobs=1`` (in
this process) and ``jobs=2`` (a process pool).  Each figure is the wall time of the whole
study, worker start-up included (a worker starts Python, imports rnn2spice and checks
libngspice in a child process: about 1 s).  The ratio is (1-worker time) / (2-worker time),
target >= 1.8 on 2 cores; the runs are checked to be identical run by run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import random_spec_dict  # noqa: E402
from rows import markdown_row  # noqa: E402
from rnn2spice.network.spec import spec_from_dict  # noqa: E402
from rnn2spice.workflows.montecarlo import montecarlo  # noqa: E402
from rnn2spice.workflows.pool import available_cores  # noqa: E402


def bench_parallel(quick: bool = False, runs: int | None = None) -> list[dict]:
    """One row in the format of benchmarks/run.py."""
    runs = runs or (6 if quick else 16)
    n, t_stop = (20, 0.04) if quick else (30, 0.08)
    data = random_spec_dict(n, seed=1, kinds=("sine",), convention="ctrnn", activation="tanh")
    data["t_stop"] = t_stop
    spec = spec_from_dict(data)
    seconds, results = {}, {}
    for jobs in (1, 2):
        start = time.perf_counter()
        results[jobs] = montecarlo(spec, runs=runs, tolerance=0.05, seed=0, jobs=jobs)
        seconds[jobs] = time.perf_counter() - start
    for a, b in zip(results[1].records, results[2].records):
        assert a["error"] == b["error"] and np.array_equal(a["grid_states"], b["grid_states"]), "runs differ"
    points = int(np.median([r["points"] for r in results[1].records]))
    ratio = seconds[1] / seconds[2]
    # cores the runs really had: their CPU time over the wall time (other work on the machine takes the rest)
    used = {j: sum(r["cpu_seconds"] for r in results[j].records) / seconds[j] for j in (1, 2)}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [{"what": f"`montecarlo` throughput, 2 workers vs 1 ({runs} runs of a tanh CTRNN, n = {n}, "
                     f"{points} points each; {available_cores()} cores, load average {load:.2f} after; "
                     f"cores the runs used {used[1]:.2f} / {used[2]:.2f}; worker start-up included; runs identical)",
             "baseline_s": seconds[1], "ours_s": seconds[2], "ratio": ratio, "target": ">= 1.8 (speed-up)",
             "ok": ratio >= 1.8}]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smaller network and 6 runs")
    ap.add_argument("--runs", type=int, default=None, help="runs per study (default 16, 6 with --quick)")
    args = ap.parse_args()
    rows = bench_parallel(args.quick, args.runs)
    print("| case | 1 worker | 2 workers | ratio | target | met |\n|---|---|---|---|---|---|")
    for r in rows:
        print(markdown_row(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
