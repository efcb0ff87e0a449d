"""Measured accuracy of every realisation on the bundled examples (the README's table).

    python benchmarks/accuracy.py [--json out.json]

For each example spec in netlists/ and each supported (form, coupling), both accuracy
modes: relative max error against the exact reference (THEORY.md 6), time points, and
the simulation time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnn2spice.errors import UsageError  # noqa: E402
from rnn2spice.workflows.pipeline import check  # noqa: E402
from rnn2spice.network.load import load_spec  # noqa: E402

EXAMPLES = ("non-interacting", "damped-oscillator", "random20", "tanh4")
REALISATIONS = (("parallel", "vccs"), ("parallel", "gyrator"), ("series", "vccs"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = []
    for stem in EXAMPLES:
        spec = load_spec(ROOT / "netlists" / f"{stem}.yaml")
        for form, coupling in REALISATIONS:
            for accuracy in ("default", "high"):
                try:
                    r = check(spec, form=form, coupling=coupling, accuracy=accuracy)
                except UsageError:
                    continue  # unsupported combination (gyrator with tanh)
                rows.append({"spec": stem, "form": form, "coupling": coupling, "accuracy": accuracy,
                             "rel_max_error_per_neuron": r.comparison.verdict_error,
                             "rel_max_error": r.comparison.rel_max_error, "points": r.comparison.points,
                             "simulate_s": r.timings["simulate"], "passed": r.passed})
    print("| spec | form | coupling | accuracy | rel. max error per neuron (global) | points | ngspice time |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['spec']} | {r['form']} | {r['coupling']} | {r['accuracy']} | "
              f"{r['rel_max_error_per_neuron']:.1e} ({r['rel_max_error']:.1e}) "
              f"| {r['points']} | {r['simulate_s']:.3f} s |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
