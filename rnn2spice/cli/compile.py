"""``rnn2spice compile SPEC [-o OUT.cir]``: write the netlist."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnn2spice.circuit import ir
from rnn2spice.cli.common import (EXIT_PASS, add_spec_command, build_from_args, build_options, check_outputs,
                                  circuit_options, is_stdout, load_spec_arg, write_output)
from rnn2spice.workflows.realbuild import compile_build

NAME = "compile"


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, "Compile a spec to an ngspice netlist.")
    circuit_options(p)
    build_options(p)
    p.add_argument("-o", "--output", type=Path, help="netlist file to write (default or -: standard output)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    check_outputs(args, output=args.output, kinds={"output": "netlist"})
    build = build_from_args(args)
    compiled = compile_build(load_spec_arg(args), form=args.form, coupling=args.coupling, accuracy=args.accuracy,
                             rtol=args.rtol, build=build)
    text = compiled.netlist
    if args.output is None or is_stdout(args.output):
        sys.stdout.write(text)
    else:
        write_output(args.output, text, field="--output")
        print(f"wrote {args.output} ({ir.count(compiled.circuit.elements)} netlist elements: {ir.ELEMENTS_MEANING}"
              f"{compiled.realisation.describe_rank()})", file=sys.stderr)
    return EXIT_PASS
