"""Requested vs achieved accuracy of ``check(rtol=X)``: random networks and the trained ones.

    python benchmarks/rtol.py [--random 50] [--no-trained] [--json out.json]

For every network and target: the achieved error (the per-neuron verdict figure, THEORY.md
6), its ratio to the request, and the number of runs ``check`` needed.  The promise: never
worse than requested, and within 10x of it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import KERAS_DIR, random_spec  # noqa: E402
from rnn2spice import import_model  # noqa: E402
from rnn2spice.workflows.pipeline import check  # noqa: E402


def networks(count: int, trained: bool, tmp: Path):
    for seed in range(count):
        n = 2 + seed % 12
        if seed % 2:
            yield f"linear n={n} s{seed}", random_spec(n, seed=seed, kinds=("pulse", "sine"))
        else:
            yield f"tanh n={n} s{seed}", random_spec(n, seed=seed, kinds=("pulse",), convention="ctrnn",
                                                    activation="tanh", gain=1.5)
    if trained:
        for path in sorted(KERAS_DIR.glob("*.hdf5")):
            yield f"trained {path.stem}", import_model(path, tmp / f"{path.stem}.yaml", dt=1e-3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--random", type=int, default=50)
    ap.add_argument("--no-trained", action="store_true")
    ap.add_argument("--targets", type=float, nargs="+", default=[1e-3, 1e-5])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in networks(args.random, not args.no_trained, Path(tmp)):
            targets = args.targets[:1] if name.startswith("trained") else args.targets
            for rtol in targets:
                r = check(spec, rtol=rtol, backend="subprocess")
                err = r.comparison.verdict_error
                rows.append({"network": name, "rtol": rtol, "achieved": err, "ratio": err / rtol,
                             "runs": len(r.runs), "passed": r.passed, "seconds": sum(r.timings.values())})
                print(f"{name:>44} rtol {rtol:.0e}: achieved {err:.2e} ({err / rtol:.2f} of it), "
                      f"{len(r.runs)} run(s), {rows[-1]['seconds']:.1f} s", flush=True)
    worse = [r for r in rows if r["ratio"] > 1]
    far = [r for r in rows if r["ratio"] < 0.1]
    ratios = sorted(r["ratio"] for r in rows)
    print(f"\n{len(rows)} checks: achieved/requested from {ratios[0]:.2f} to {ratios[-1]:.2f} "
          f"(median {ratios[len(ratios) // 2]:.2f}); worse than requested: {len(worse)}; "
          f"more than 10x better: {len(far)}; runs: "
          f"{ {k: sum(r['runs'] == k for r in rows) for k in sorted({r['runs'] for r in rows})} }")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if not worse else 1


if __name__ == "__main__":
    sys.exit(main())
