"""``rnn2spice ac SPEC --fmin HZ --fmax HZ``: AC sweep against the exact transfer matrix."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnn2spice.cli.common import (add_spec_command, check_outputs, check_timeout, check_tolerance,
                                  circuit_options, load_spec_arg, sim_options, finish)
from rnn2spice.workflows.ac import DEFAULT_POINTS_PER_DECADE, TOLERANCE, ac_check, check_sweep

NAME = "ac"


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, "AC sweep of the circuit against the exact transfer matrix "
                                    "H(j omega) = (j omega I - A)^-1 w_in; exit 0 pass, 1 mismatch, "
                                    "2 bad input, 3 simulator failure.")
    circuit_options(p, accuracy=False)
    sim_options(p)
    p.add_argument("--fmin", type=float, required=True, metavar="HZ", help="start frequency (Hz, > 0)")
    p.add_argument("--fmax", type=float, required=True, metavar="HZ", help="stop frequency (Hz, > fmin)")
    p.add_argument("--points-per-decade", type=int, default=DEFAULT_POINTS_PER_DECADE, metavar="N",
                   help=f"frequency points per decade (default {DEFAULT_POINTS_PER_DECADE})")
    p.add_argument("--report", type=Path, help="JSON report to write")
    p.add_argument("--plot", type=Path, help="Bode plot to write: .png, .pdf or .svg")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help=f"pass threshold on max|H_sim - H_ref| / max|H_ref| (default {TOLERANCE:g})")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    check_outputs(args, report=args.report, plot=args.plot)
    check_timeout(args.timeout)
    check_sweep(args.fmin, args.fmax, args.points_per_decade)
    check_tolerance(args.tolerance)
    result = ac_check(load_spec_arg(args), f_start=args.fmin, f_stop=args.fmax,
                      points_per_decade=args.points_per_decade, form=args.form, coupling=args.coupling,
                      backend=args.backend, timeout=args.timeout, tolerance=args.tolerance)
    return finish(args, result)
