"""Regenerate (or, with --check, verify) the golden netlists next to this file.

    python netlists/regenerate.py          # rewrite every golden .cir
    python netlists/regenerate.py --check  # exit 1 and list the goldens that differ
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from rnn2spice.circuit.compiler import compile_rnn  # noqa: E402
from rnn2spice.network.load import load_spec  # noqa: E402

#: (spec file, form, coupling, golden file)
GOLDENS = (
    ("non-interacting.yaml", "parallel", "vccs", "non-interacting.cir"),
    ("non-interacting.yaml", "series", "vccs", "non-interacting.series.cir"),
    ("damped-oscillator.yaml", "parallel", "vccs", "damped-oscillator.cir"),
    ("damped-oscillator.yaml", "parallel", "gyrator", "damped-oscillator.gyrator.cir"),
    ("damped-oscillator.yaml", "series", "vccs", "damped-oscillator.series.cir"),
    ("random20.yaml", "parallel", "vccs", "random20.cir"),
    ("tanh4.yaml", "parallel", "vccs", "tanh4.cir"),
    ("tanh4.yaml", "series", "vccs", "tanh4.series.cir"),
    ("tanh4.yaml", "opamp", "resistor", "tanh4.opamp.cir"),
    ("rate-relu4.yaml", "parallel", "vccs", "rate-relu4.cir"),
    ("rate-relu4.yaml", "series", "vccs", "rate-relu4.series.cir"),
    ("lowrank-tanh6.yaml", "parallel", "vccs", "lowrank-tanh6.cir"),
    ("lowrank-tanh6.yaml", "series", "vccs", "lowrank-tanh6.series.cir"),
    ("lowrank-tanh6.yaml", "opamp", "resistor", "lowrank-tanh6.opamp.cir"),
)


def golden_text(spec_name: str, form: str, coupling: str) -> str:
    return compile_rnn(load_spec(HERE / spec_name), form=form, coupling=coupling).netlist


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for spec_name, form, coupling, golden in GOLDENS:
        text = golden_text(spec_name, form, coupling)
        path = HERE / golden
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(golden)
        else:
            path.write_text(text, newline="\n")
            print(f"wrote {path.relative_to(HERE.parent)}")
    from rnn2spice.circuit.writer import library_text  # the shipped part library, same rule
    lib = HERE.parent / "rnn2spice" / "circuit" / "models" / "rnn2spice.lib"
    if check:
        if not lib.exists() or lib.read_text() != library_text():
            stale.append(str(lib.relative_to(HERE.parent)))
    else:
        lib.write_text(library_text(), newline="\n")
        print(f"wrote {lib.relative_to(HERE.parent)}")
    if stale:
        print("golden netlists out of date: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
