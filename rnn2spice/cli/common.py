"""What every command shares: exit codes, the spec argument, option groups, output checks.

Only the command line knows exit codes: 0 pass, 1 mismatch beyond tolerance (or a failed
certificate), 2 bad input or usage, 3 simulator or reference-solver failure, 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rnn2spice.errors import CertificateFailed, ReferenceSolverError, SimulationError, UsageError
from rnn2spice.network.load import load_spec
from rnn2spice.report.files import check_writable

EXIT_PASS, EXIT_MISMATCH, EXIT_USAGE, EXIT_SIMULATION, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def exit_code(exc: BaseException) -> int:
    """The exit code of an error: 1 for a failed certificate (a mismatch), 3 when ngspice or
    the reference solver failed (the environment, not the input), 2 for everything else."""
    if isinstance(exc, CertificateFailed):
        return EXIT_MISMATCH
    if isinstance(exc, (SimulationError, ReferenceSolverError)):
        return EXIT_SIMULATION
    return EXIT_USAGE


def verdict_code(passed: bool) -> int:
    return EXIT_PASS if passed else EXIT_MISMATCH


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


def load_spec_arg(args):
    return load_spec(args.spec, allow_outside=args.allow_outside_files)


def check_outputs(**paths) -> None:
    """Check every requested output location before doing any work."""
    for field, path in paths.items():
        if path is not None:
            check_writable(path, field=f"--{field}")


def check_timeout(timeout) -> None:
    if timeout is not None and not 0 < timeout < math.inf:
        raise UsageError(f"--timeout must be a positive finite number of seconds (got {timeout!r})")


def check_tolerance(tolerance, flag: str = "--tolerance") -> None:
    if tolerance is not None and not (tolerance > 0 and math.isfinite(tolerance)):
        raise UsageError(f"{flag} must be a positive number (got {tolerance!r})")
