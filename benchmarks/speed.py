"""Speed of the harness against plain `ngspice -b` on the same netlist, measured in one run.

    python benchmarks/speed.py [--sizes 10 30 100] [--repeat 3] [--json out.json]

For each network size: the median wall time of
  * baseline  `ngspice -b -r out.raw netlist.cir` (the simulator alone, no Python),
  * shared    rnn2spice's shared-library backend (load, run, read vectors),
  * subproc   rnn2spice's subprocess backend (ngspice -b + raw-file parse),
  * check     compile + simulate (auto backend) + exact reference + comparison,
reported as seconds and as ratios to the baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import random_spec  # noqa: E402
from rnn2spice.circuit.compiler import compile_rnn  # noqa: E402
from rnn2spice.workflows.pipeline import check  # noqa: E402
from rnn2spice.spice.ngspice import simulate_netlist  # noqa: E402


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 30, 100])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--activation", default="linear", choices=("linear", "tanh"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    for n in args.sizes:
        spec = random_spec(n, seed=n, kinds=("pulse", "sine"), convention="ctrnn", activation=args.activation)
        netlist = compile_rnn(spec).netlist
        with tempfile.TemporaryDirectory() as tmp:
            cir = Path(tmp) / "net.cir"
            cir.write_text(netlist)
            raw = Path(tmp) / "out.raw"
            base = median_time(lambda: subprocess.run(["ngspice", "-b", "-r", str(raw), str(cir)],
                                                      capture_output=True, check=True), args.repeat)
        shared = median_time(lambda: simulate_netlist(netlist, backend="shared"), args.repeat)
        sub = median_time(lambda: simulate_netlist(netlist, backend="subprocess"), args.repeat)
        result = check(spec)
        full = median_time(lambda: check(spec), args.repeat)
        rows.append({"n": n, "points": result.comparison.points, "baseline_s": base, "shared_s": shared,
                     "subprocess_s": sub, "check_s": full, "shared_ratio": shared / base,
                     "subprocess_ratio": sub / base, "check_ratio": full / base,
                     "rel_max_error": result.comparison.rel_max_error})
    print(f"{'n':>5} {'points':>7} {'ngspice -b':>11} {'shared':>14} {'subprocess':>14} {'full check':>14} {'rel err':>9}")
    for r in rows:
        print(f"{r['n']:>5} {r['points']:>7} {r['baseline_s']:>10.3f}s "
              f"{r['shared_s']:>7.3f}s x{r['shared_ratio']:<5.2f}{r['subprocess_s']:>7.3f}s x{r['subprocess_ratio']:<5.2f}"
              f"{r['check_s']:>7.3f}s x{r['check_ratio']:<5.2f}{r['rel_max_error']:>9.1e}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
