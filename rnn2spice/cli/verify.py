"""``rnn2spice verify SPEC [--netlist FILE.cir]``: the equivalence certificate alone."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnn2spice.analysis.certificate import TOLERANCE
from rnn2spice.cli.common import (add_spec_command, check_outputs, check_tolerance, circuit_options,
                                  load_spec_arg, summary_stream, verdict_code, write_output)
from rnn2spice.report.files import json_text
from rnn2spice.workflows.verify import verify

NAME = "verify"


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, "Certify from the netlist text alone that the circuit realises "
                                    "the spec; exit 0 PASS, 1 FAIL, 2 bad input.")
    p.description = (
        "Certify from the netlist text alone that the circuit realises the spec: its exact state "
        "equations, every element explained by the spec, the numerics (docs/certificate.md). "
        "Exit 0: PASS. Exit 1: FAIL, a netlist that is not proved equal, with the element or line "
        "and why: a different network, an element the spec does not explain, a card or expression "
        "outside what the certificate proves (e.g. V=tanh(V(z0))*1.01+sin(time), .control), real "
        "parts, looser numerics. Exit 2: bad input, nothing judged: the netlist file missing or not "
        "readable, not ASCII text, no .end card, a field beyond the reading limits; a bad spec or option.")
    circuit_options(p, accuracy=False)
    p.add_argument("--netlist", type=Path, default=None, metavar="FILE.cir",
                   help="verify this existing netlist instead of compiling the spec (--form and "
                        "--coupling are then not used)")
    p.add_argument("--rtol", type=float, default=None, metavar="X",
                   help="accuracy target (1e-9 .. 0.1) whose .options and maximum step the netlist must be no "
                        "looser than (default: the default accuracy's, 1e-3)")
    p.add_argument("--report", type=Path, default=None, help="JSON report to write")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help=f"pass threshold on the relative discrepancies (default {TOLERANCE:g})")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    check_outputs(args, inputs={"--netlist": args.netlist}, report=args.report)
    check_tolerance(args.tolerance)
    result = verify(load_spec_arg(args), form=args.form, coupling=args.coupling, netlist=args.netlist,
                    tolerance=args.tolerance, rtol=args.rtol)
    print(result.summary(), file=summary_stream(args))
    if args.report is not None:
        write_output(args.report, json_text(result.report()), field="--report")
    return verdict_code(result.passed)
