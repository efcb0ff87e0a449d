"""``rnn2spice kicad SPEC [--form F] [--coupling C] [build options: --snap E24 --opamp TL072
--activation-circuit transistor ...] -o DIR/NAME.kicad_sch``: a KiCad 9 project.

KiCad opens, checks (ERC) and simulates what it writes: the symbols are embedded, every part
carries its simulation fields and the transient command is a directive on the sheet
(docs/kicad.md).  Exit 2 for a network beyond the supported size (24 neurons, 24 inputs), an
unsupported form or coupling, or an existing file at an output path that is not a file of
its kind; nothing is written then.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnn2spice.circuit.kicad import MAX_NEURONS
from rnn2spice.cli.common import (EXIT_PASS, add_spec_command, build_from_args, build_options, check_outputs,
                                  circuit_options, load_spec_arg)
from rnn2spice.workflows.kicad import check_output, check_size, kicad

NAME = "kicad"


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, "KiCad 9 project of the compiled circuit: schematic (embedded symbols, "
                                    "simulation fields, transient directive), project file and model library; "
                                    f"one sheet per neuron beyond 4, at most {MAX_NEURONS} neurons.")
    circuit_options(p)
    build_options(p)
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="root schematic to write, DIR/NAME.kicad_sch (the project files go beside it)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    check_output(args.output, "--output")  # a bad name before any work
    check_outputs(args, output=args.output, kinds={"output": "kicad_sch"})
    spec = load_spec_arg(args)
    check_size(spec)
    result = kicad(spec, output=args.output, form=args.form, coupling=args.coupling, accuracy=args.accuracy,
                   rtol=args.rtol, build=build_from_args(args), field="--output", force=args.force)
    print(result.summary())
    return EXIT_PASS
