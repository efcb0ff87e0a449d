"""Command line: ``rnn2spice compile | simulate | check``.

Exit codes: 0 pass, 1 mismatch beyond tolerance, 2 bad input or usage, 3 simulator failure
(ngspice, or the exact reference solver), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from rnn2spice._version import __version__
from rnn2spice.errors import Rnn2SpiceError, UsageError

EXIT_PASS, EXIT_MISMATCH, EXIT_USAGE, EXIT_SIMULATION = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise so main() reports them like every other error."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnn2spice", description="Recurrent neural networks as ngspice circuits, "
                     "checked against the exact solution.")
    parser.add_argument("--version", action="version", version=f"rnn2spice {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    spec_command = lambda name, help_text: add_spec_command(sub, name, help_text)  # noqa: E731

    p = spec_command("compile", "Compile a spec to an ngspice netlist.")
    circuit_options(p)
    p.add_argument("-o", "--output", type=Path, help="netlist file to write (default: standard output)")
    p.set_defaults(func=cmd_compile)

    p = spec_command("simulate", "Simulate the circuit; write the states as CSV (time,h0,...).")
    circuit_options(p)
    sim_options(p)
    p.add_argument("-o", "--output", type=Path, help="CSV file to write (default: standard output)")
    p.set_defaults(func=cmd_simulate)

    p = spec_command("check", "Simulate and compare with the exact reference; exit 0 on pass, 1 on mismatch.")
    circuit_options(p)
    sim_options(p)
    p.add_argument("--report", type=Path, help="JSON report to write")
    p.add_argument("--plot", type=Path, help="PNG figure to write (SPICE vs reference, error)")
    p.add_argument("--netlist", type=Path, help="also write the netlist that was simulated")
    p.add_argument("--tolerance", type=float, default=None,
                   help="pass threshold on the relative max error (default 1e-3, 1e-6 with --accuracy high)")
    p.set_defaults(func=cmd_check)

    for module in EXTRA_COMMANDS:
        importlib.import_module(f"rnn2spice.{module}").register_commands(sub)
    return parser


#: Modules that add subcommands: each defines ``register_commands(subparsers)`` and uses
#: :func:`add_spec_command`, :func:`circuit_options` and :func:`sim_options` below.
EXTRA_COMMANDS: tuple[str, ...] = ("workflows.importers", "workflows.task", "analysis.certificate", "workflows.ac")


def add_spec_command(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand whose first argument is a spec file."""
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("spec", type=Path, help="network spec (.yaml, .yml or .json)")
    p.add_argument("--allow-outside-files", action="store_true",
                   help="let the spec refer to files outside its own directory")
    return p


def circuit_options(p, accuracy: bool = True) -> None:
    p.add_argument("--form", default="parallel", choices=("parallel", "series"),
                   help="parallel: R||C cells, voltages are the state; series: R-L loops, currents")
    p.add_argument("--coupling", default="vccs", choices=("vccs", "gyrator"),
                   help="vccs: controlled sources; gyrator: resistors + gyrators (parallel, linear)")
    if accuracy:
        p.add_argument("--accuracy", default="default", choices=("default", "high"),
                       help="high: bounded step and tight tolerances")


def sim_options(p) -> None:
    p.add_argument("--backend", default="auto", choices=("auto", "shared", "subprocess"),
                   help="ngspice shared library via PySpice, or `ngspice -b` (auto: shared if it loads)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="give up on ngspice after this many seconds")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except Rnn2SpiceError as exc:
        print(f"rnn2spice: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rnn2spice: interrupted", file=sys.stderr)
        return 130


# ------------------------------------------------------------------------- commands

def load_spec_arg(args):
    from rnn2spice.network.spec import load_spec

    return load_spec(args.spec, allow_outside=args.allow_outside_files)


def check_outputs(**paths) -> None:
    """Check every requested output location before doing any work."""
    from rnn2spice.report.files import check_writable

    for field, path in paths.items():
        if path is not None:
            check_writable(path, field=f"--{field}")


def cmd_compile(args) -> int:
    from rnn2spice.circuit.compiler import compile_rnn
    from rnn2spice.report.files import write_atomic

    check_outputs(output=args.output)
    compiled = compile_rnn(load_spec_arg(args), form=args.form, coupling=args.coupling, accuracy=args.accuracy)
    text = compiled.netlist
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.output, text, field="--output")
        print(f"wrote {args.output} ({len(compiled.circuit.elements)} elements)", file=sys.stderr)
    return EXIT_PASS


def cmd_simulate(args) -> int:
    from rnn2spice.circuit.compiler import compile_rnn
    from rnn2spice.workflows.pipeline import simulate
    from rnn2spice.report.files import waveforms_csv, write_atomic

    check_outputs(output=args.output)
    check_timeout(args.timeout)
    compiled = compile_rnn(load_spec_arg(args), form=args.form, coupling=args.coupling, accuracy=args.accuracy)
    traj = simulate(compiled, backend=args.backend, timeout=args.timeout)
    text = waveforms_csv(traj.time, traj.states)
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.output, text, field="--output")
        print(f"wrote {args.output} ({traj.time.size} points, ngspice {traj.ngspice_version} "
              f"via {traj.backend})", file=sys.stderr)
    return EXIT_PASS


def cmd_check(args) -> int:
    from rnn2spice.workflows.pipeline import check
    from rnn2spice.report.files import json_text, write_atomic

    check_outputs(report=args.report, plot=args.plot, netlist=args.netlist)
    check_timeout(args.timeout)
    if args.tolerance is not None and not args.tolerance > 0:
        raise UsageError(f"--tolerance must be positive (got {args.tolerance!r})")
    spec = load_spec_arg(args)
    if args.netlist is not None:
        from rnn2spice.circuit.compiler import compile_rnn

        write_atomic(args.netlist, compile_rnn(spec, form=args.form, coupling=args.coupling,
                                               accuracy=args.accuracy).netlist, field="--netlist")
    from rnn2spice.analysis.certificate import CertificateFailed

    try:
        result = check(spec, form=args.form, coupling=args.coupling, accuracy=args.accuracy,
                       backend=args.backend, threshold=args.tolerance, timeout=args.timeout,
                       netlist_path=args.netlist)
    except CertificateFailed as exc:  # stopped before simulating; main() prints why, exit 1
        if args.report is not None:
            write_atomic(args.report, json_text(exc.report), field="--report")
        raise
    print(summary(result))
    if args.report is not None:
        write_atomic(args.report, json_text(result.report()), field="--report")
    if args.plot is not None:
        from rnn2spice.report.figures import check_figure
        from rnn2spice.network.readout import readout

        y = readout(spec, result.trajectory.states)
        png = check_figure(result.trajectory.time, result.trajectory.states, result.reference,
                           title=f"{spec.name}: {result.compiled.form}/{result.compiled.coupling}, "
                                 f"rel. max error {result.comparison.rel_max_error:.2e}",
                           readout=None if y is None else (y, readout(spec, result.reference)))
        write_atomic(args.plot, png, field="--plot")
    return EXIT_PASS if result.passed else EXIT_MISMATCH


def summary(result) -> str:
    """Human-readable verdict of a check."""
    from rnn2spice.analysis.certificate import summary_lines

    c, r, tr = result.compiled, result.comparison, result.trajectory
    verdict = "PASS" if r.passed else "FAIL (mismatch beyond tolerance)"
    out = result.report().get("readout")
    readout_line = () if out is None else (
        f"readout y = w_out h + b_out ({out['outputs']} output(s)): max abs error {out['max_abs_error']:.3e}, "
        f"relative {out['rel_max_error']:.3e}",)
    # in the order of the work: circuit, certificate (before ngspice), simulation, verdict last
    return "\n".join((
        f"spec {c.spec.name}: n = {c.spec.n}, m = {c.spec.m}, {c.spec.convention}/{c.spec.activation}, "
        f"form {c.form}, coupling {c.coupling}",
        *summary_lines(result),
        f"accuracy {c.accuracy}: max step {c.circuit.analysis.max_step:.3g} s, reltol {c.circuit.options.reltol:g}",
        f"ngspice {tr.ngspice_version} via {tr.backend}: {r.points} time points in {tr.seconds:.3f} s",
        *readout_line,
        f"relative max error {r.rel_max_error:.3e} (threshold {r.threshold:.0e}), "
        f"max abs error {r.max_abs_error:.3e}: {verdict}",
    ))


def check_timeout(timeout) -> None:
    if timeout is not None and not 0 < timeout < float("inf"):
        raise UsageError(f"--timeout must be a positive finite number of seconds (got {timeout!r})")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
