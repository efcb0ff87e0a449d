"""``rnn2spice schematic SPEC [--form F] [--coupling C] -o net.svg|net.png``: a picture of the circuit."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.cli.common import EXIT_PASS, add_spec_command, check_outputs, circuit_options, load_spec_arg
from rnn2spice.report.schematic import MAX_NEURONS, check_size, image_format, schematic
from rnn2spice.report.files import write_atomic

NAME = "schematic"


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, f"Schematic picture (SVG or PNG) of the compiled circuit of a small network "
                                    f"(at most {MAX_NEURONS} neurons), drawn from its elements (needs schemdraw).")
    circuit_options(p, accuracy=False)
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="picture to write; the format follows the suffix: .svg or .png")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    fmt = image_format(args.output)  # a bad suffix before any work
    check_outputs(args, output=args.output, kinds={"output": fmt})  # a picture replaces a picture (or --force)
    spec = load_spec_arg(args)
    check_size(spec.n, f"spec {spec.name}")
    compiled = compile_rnn(spec, form=args.form, coupling=args.coupling)
    write_atomic(args.output, schematic(compiled, fmt=fmt), field="--output")
    print(f"wrote {args.output}: {compiled.summary_head()} ({ir.count(compiled.circuit.elements)} netlist elements)")
    return EXIT_PASS
