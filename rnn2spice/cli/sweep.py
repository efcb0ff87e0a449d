"""``rnn2spice sweep SPEC --param PATH=v1,v2,...``: the network at every value of its parameters."""

from __future__ import annotations

import argparse

from rnn2spice.cli.common import add_spec_command, load_spec_arg
from rnn2spice.cli.montecarlo import check_study_args, run_study_command, study_options, tolerance_arg
from rnn2spice.errors import UsageError
from rnn2spice.workflows.sweep import PARAMETERS, parse_param, sweep

NAME = "sweep"


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, "Run the network at every combination of parameter values (each a spec "
                                      "validated again and compiled); print a table; exit 0 when every point passes.")
    p.add_argument("--param", action="append", required=True, metavar="PATH=v1,v2,...",
                   help=f"a parameter and its values (repeat for a grid): {', '.join(PARAMETERS)}; "
                        "tau=x2 scales the spec's tau, tolerance=5%% draws every R, C, L within 5 %%")
    p.add_argument("--tolerance", default="0", metavar="T",
                   help="relative tolerance of every R, C, L at every point (default 0: the circuit as compiled)")
    study_options(p, 1)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    params = {}
    for text in args.param:
        path, values = parse_param(text)
        if path in params:
            raise UsageError(f"--param {path} is given twice; give all its values in one --param {path}=v1,v2,...")
        params[path] = values
    kwargs = check_study_args(args)
    tolerance = tolerance_arg(args.tolerance)
    load_spec_arg(args)  # the spec as every command reads it (and the outputs checked against its files)
    return run_study_command(args, lambda progress: sweep(
        args.spec, params, runs=args.runs, tolerance=tolerance, form=args.form, coupling=args.coupling,
        accuracy=args.accuracy, rtol=args.rtol, allow_outside_files=args.allow_outside_files, progress=progress,
        time_scale=args.time_scale, state_scale=args.state_scale,
        **kwargs))
