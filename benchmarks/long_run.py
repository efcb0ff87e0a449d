"""Long runs: N consecutive simulations in one process; memory growth and slowdown.

    python benchmarks/long_run.py [--runs 1000] [--spec netlists/tanh4.yaml] [--backend shared]
                                  [--warmup 20] [--no-reset] [--json out/long_run.json]

Compiles the spec once, then simulates it ``--runs`` times through ``rnn2spice.workflows.pipeline.simulate``
(shared library by default: one libngspice for the whole process).  After a warm-up
(allocator pools, ngspice's one-time tables) it records the resident set size (VmRSS)
after every run and the wall time of every run, and prints:

* RSS growth (MB) from the end of the warm-up to the last run, and over the second half
  alone (a steady leak shows in both; a one-time cost only in the first), with the slope
  of a straight-line fit (kB per run);
* the mean time per run over the first and the last 10 % of the runs, and their ratio.

PySpice users report memory growing with every transient run: every run adds a circuit
and a plot to ngspice's global lists.  rnn2spice.spice.ngspice clears both after each run
(``remcirc`` and ``destroy all``); ``--no-reset`` disables that, to measure what it saves.
Targets: growth <= 50 MB and slowdown <= 10 % over 1000 runs.  Exit 0 when both hold.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEMORY_TARGET_MB = 50.0
SLOWDOWN_TARGET = 1.10


def rss_bytes() -> int:
    """Resident set size of this process (Linux: /proc/self/statm)."""
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(runs: int = 1000, spec_path: Path = ROOT / "netlists" / "tanh4.yaml", *, backend: str = "shared",
            warmup: int = 20, reset: bool = True, form: str = "parallel", progress=None) -> dict:
    """Simulate ``spec_path`` ``warmup + runs`` times in this process; figures as a dict."""
    import numpy as np

    from rnn2spice.spice import shared
    from rnn2spice.circuit.compiler import compile_rnn
    from rnn2spice.workflows.pipeline import simulate
    from rnn2spice.network.load import load_spec

    compiled = compile_rnn(load_spec(spec_path), form=form)
    saved_reset = shared._SharedEngine.reset
    if not reset:
        shared._SharedEngine.reset = lambda self: None
    try:
        first = simulate(compiled, backend=backend)
        for _ in range(warmup):
            simulate(compiled, backend=backend)
        rss = np.empty(runs)
        seconds = np.empty(runs)
        base = rss_bytes()
        for i in range(runs):
            start = time.perf_counter()
            traj = simulate(compiled, backend=backend)
            seconds[i] = time.perf_counter() - start
            rss[i] = rss_bytes()
            if i == runs - 1 or i % 50 == 0:
                # every run must give the same waveforms: no state carried from one to the next
                assert np.array_equal(traj.states, first.states), f"run {i} differs from the first"
            if progress and (i + 1) % progress == 0:
                print(f"  {i + 1}/{runs}: RSS {rss[i] / 2**20:.1f} MiB, {seconds[i] * 1e3:.2f} ms", file=sys.stderr,
                      flush=True)
    finally:
        shared._SharedEngine.reset = saved_reset
    tenth = max(1, runs // 10)
    half = runs // 2
    slope = float(np.polyfit(np.arange(runs), rss, 1)[0]) if runs > 1 else 0.0
    t_start, t_end = float(np.mean(seconds[:tenth])), float(np.mean(seconds[-tenth:]))
    return {
        "spec": str(spec_path.name),
        "form": form,
        "backend": first.backend,
        "ngspice": first.ngspice_version,
        "points_per_run": int(first.time.size),
        "runs": runs,
        "warmup_runs": warmup,
        "reset_after_each_run": reset,
        "rss_start_mb": base / 1e6,
        "rss_end_mb": float(rss[-1]) / 1e6,
        "rss_growth_mb": float(rss[-1] - base) / 1e6,
        "rss_growth_second_half_mb": float(rss[-1] - rss[half - 1]) / 1e6 if runs > 1 else 0.0,
        "rss_slope_kb_per_run": slope / 1e3,
        "ms_per_run_first_10pct": t_start * 1e3,
        "ms_per_run_last_10pct": t_end * 1e3,
        "slowdown_ratio": t_end / t_start,
        "ms_per_run_median": float(np.median(seconds)) * 1e3,
    }


def table(result: dict) -> str:
    rows = [
        ("spec / form / backend", f"{result['spec']} / {result['form']} / {result['backend']} (ngspice {result['ngspice']})"),
        ("runs (+ warm-up)", f"{result['runs']} (+{result['warmup_runs']}), {result['points_per_run']} points each"),
        ("reset after each run", "yes" if result["reset_after_each_run"] else "no (--no-reset)"),
        ("RSS start -> end", f"{result['rss_start_mb']:.1f} -> {result['rss_end_mb']:.1f} MB"),
        ("RSS growth (target <= 50 MB)", f"{result['rss_growth_mb']:.2f} MB "
                                         f"(second half {result['rss_growth_second_half_mb']:.2f} MB, "
                                         f"slope {result['rss_slope_kb_per_run']:.2f} kB/run)"),
        ("time per run, first 10 %", f"{result['ms_per_run_first_10pct']:.3f} ms"),
        ("time per run, last 10 %", f"{result['ms_per_run_last_10pct']:.3f} ms"),
        ("slowdown (target <= 1.10)", f"{result['slowdown_ratio']:.3f}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--spec", type=Path, default=ROOT / "netlists" / "tanh4.yaml")
    ap.add_argument("--backend", default="shared", choices=("shared", "subprocess"))
    ap.add_argument("--form", default="parallel", choices=("parallel", "series"))
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--no-reset", dest="reset", action="store_false",
                    help="do not clear ngspice's circuits and plots after each run (to measure the leak it prevents)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    result = measure(args.runs, args.spec, backend=args.backend, warmup=args.warmup, reset=args.reset,
                     form=args.form, progress=max(1, args.runs // 10))
    print(table(result))
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    ok = result["rss_growth_mb"] <= MEMORY_TARGET_MB and result["slowdown_ratio"] <= SLOWDOWN_TARGET
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
