"""``rnn2spice check SPEC``: certify, simulate, compare with the exact reference."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.circuit.realparts import Build
from rnn2spice.cli.common import (add_spec_command, build_from_args, build_options, check_outputs, check_timeout,
                                  check_tolerance, circuit_options, finish, is_stdout, load_spec_arg, sim_options,
                                  stimulus_options, write_output)
from rnn2spice.cli.progress import progress_bar
from rnn2spice.errors import CertificateFailed, UsageError
from rnn2spice.report.files import json_text
from rnn2spice.workflows.lowrank import check_truncated
from rnn2spice.workflows.pipeline import check
from rnn2spice.workflows.realbuild import check_build, compile_build

NAME = "check"


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, "Simulate and compare with the exact reference; exit 0 on pass, 1 on mismatch.")
    circuit_options(p)
    build_options(p)
    sim_options(p)
    stimulus_options(p)
    p.add_argument("--report", type=Path,
                   help="JSON report to write (-: standard output; the summary then goes to standard error)")
    p.add_argument("--plot", type=Path, help="figure to write (SPICE vs reference, error): .png, .pdf or .svg")
    p.add_argument("--netlist", type=Path, help="also write the netlist that was simulated (-: standard output)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print every detail (circuit, Dale's law, certificate, accuracy settings, solver) instead "
                        "of the three-line summary")
    p.add_argument("--rank", type=int, default=None, metavar="R",
                   help="truncate a dense w to rank R by SVD (r latent nodes, O(n r) elements); the truncation's "
                        "effect (reference of the truncated vs the full network) is printed before simulating, "
                        "and measured on the circuit after")
    p.add_argument("--tolerance", type=float, default=None,
                   help="pass threshold on the relative max error (default 1e-3, 1e-6 with --accuracy high)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    check_outputs(args, report=args.report, plot=args.plot, netlist=args.netlist)
    check_timeout(args.timeout)
    check_tolerance(args.tolerance)
    spec = load_spec_arg(args)
    to_file = args.netlist is not None and not is_stdout(args.netlist)
    build = build_from_args(args)
    if build != Build():  # real parts or preferred values: judged against the predicted circuit
        if args.rank is not None:
            raise UsageError("--rank truncates an ideal network; a build from real parts or preferred values is "
                             "checked against its own prediction: give one of them")
        compiled = compile_build(spec, form=args.form, coupling=args.coupling, accuracy=args.accuracy,
                                 rtol=args.rtol, build=build)
        if args.netlist is not None:
            write_output(args.netlist, compiled.netlist, field="--netlist")
        with progress_bar(args) as bar:
            result = check_build(compiled, backend=args.backend, timeout=args.timeout,
                                 netlist_path=args.netlist if to_file else None, progress=bar)
        return finish(args, result)
    if args.rank is not None:
        def said(prediction):
            print(f"predicted before simulating: {prediction.describe()}", file=sys.stderr, flush=True)

        with progress_bar(args) as bar:
            result = check_truncated(spec, args.rank, on_prediction=said, form=args.form, coupling=args.coupling,
                                     accuracy=args.accuracy, rtol=args.rtol, backend=args.backend,
                                     tolerance=args.tolerance, timeout=args.timeout,
                                     netlist_path=args.netlist if to_file else None, progress=bar)
        if args.netlist is not None:
            write_output(args.netlist, result.result.compiled.netlist, field="--netlist")
        return finish(args, result, result.summary(verbose=args.verbose))
    compiled = compile_rnn(spec, form=args.form, coupling=args.coupling, accuracy=args.accuracy, rtol=args.rtol)
    if to_file:  # written before the run: ngspice's messages name it
        write_output(args.netlist, compiled.netlist, field="--netlist")
    try:
        with progress_bar(args) as bar:
            result = check(compiled, backend=args.backend, tolerance=args.tolerance, timeout=args.timeout,
                           netlist_path=args.netlist if to_file else None, progress=bar)
    except CertificateFailed as exc:  # stopped before simulating; main() prints why, exit 1
        if args.report is not None:
            write_output(args.report, json_text(exc.report), field="--report")
        raise
    if args.netlist is not None and (not to_file or result.compiled is not compiled):  # what ran (refined)
        write_output(args.netlist, result.compiled.netlist, field="--netlist")
    return finish(args, result, result.summary(verbose=args.verbose))
