"""Pages and figures the documentation build generates (mkdocs-gen-files runs this).

Nothing here is pasted: the command-line reference is the argparse parser's own help, the
spec keys are the validator's tuples (``rnn2spice.network.spec``), the environment variables
are ``rnn2spice.cli.environment``'s table (held equal to the code's by a test), and the figures are drawn
from a real ngspice run and the compiled circuit at build time.  A new command, option or
spec key therefore appears in the documentation without anyone editing it.
"""

from __future__ import annotations

import os

import mkdocs_gen_files

import rnn2spice
from rnn2spice.cli import app
from rnn2spice.cli import environment
from rnn2spice.network import opamp as opamp_keys
from rnn2spice.network import spec as spec_keys

# argparse wraps help text to the terminal's width: fix it, so the pages do not depend on who builds them
os.environ["COLUMNS"] = "100"

#: One line per spec key (units SI).  A key the validator accepts but this table lacks is
#: still listed, marked as not described yet.
KEY_HELP = {
    "name": "the network's name: `[A-Za-z][A-Za-z0-9_-]*`, at most 64 characters (element names never use it)",
    "description": "free text, kept in the netlist header",
    "tau": "time constants (s): one number, or a list of n",
    "w": "recurrent weights, n x n: 1/s in the `paper` convention, dimensionless in `ctrnn` and `rate`; "
         "or `{factors: [M, N]}` for a rank-r `w = M N` (realised with r latent nodes)",
    "w_in": "input weights, n x m (omit without inputs)",
    "bias": "constant drive b, n values (`ctrnn` and `rate` only)",
    "convention": "`paper` (default), `ctrnn` or `rate` ([the network and its circuits](../explanation/circuits.md))",
    "activation": "the activation function",
    "h0": "initial state, n values (default zeros)",
    "inputs": "m input waveforms (table below)",
    "t_stop": "end of the transient analysis (s)",
    "t_step": "print step (s); also caps the integrator's step",
    "circuit": "design values of the circuit (table below)",
    "w_out": "readout weights, p x n: `y = w_out h + b_out` (`w_out f(x) + b_out` for `rate`)",
    "b_out": "readout offsets, p values",
    "readout_of": "what the readout takes: `state` (`w_out h`) or `rate` (`w_out f(h)`); default: the convention's",
    "provenance": "where an imported network came from (written by `rnn2spice import`; free mapping)",
    "capacitance": "F per parallel cell (default 1 nF); the op-amp form's integrating capacitor",
    "inductance": "H per series loop (default 1 mH)",
    "opamp": "the op-amp model of `--form opamp` (table below)",
    "resistance": "ohm: the op-amp form's input-resistor base R0 (default 100 kohm)",
    "time_scale": "k: the circuit runs k times faster than the model (tau / k); results stay in model time",
    "state_scale": "s: volts (amperes in the series form) per unit of state; results stay in model units",
    "model": "`ideal` (a VCVS of gain 1e6, compensated exactly) or `single-pole` (DC gain and GBW)",
    "gain": "DC open-loop gain (V/V)",
    "gbw": "gain-bandwidth product (Hz; single-pole only)",
    "rails": "output rails `[low, high]` (V): a state beyond them is warned about",
}
#: Choices the validator holds, shown beside their key.
KEY_CHOICES = {
    "readout_of": getattr(spec_keys, "READOUTS", ()),
    "convention": spec_keys.CONVENTIONS,
    "activation": spec_keys.ACTIVATIONS,
    "model": opamp_keys.OPAMP_MODELS,
}


def _key_table(keys) -> str:
    rows = ["| key | meaning | values |", "|---|---|---|"]
    for key in keys:
        choices = ", ".join(f"`{c}`" for c in KEY_CHOICES.get(key, ()))
        rows.append(f"| `{key}` | {KEY_HELP.get(key, '(not described yet)')} | {choices} |")
    return "\n".join(rows)


def spec_page() -> str:
    waves = ["| kind | keys |", "|---|---|"]
    for kind, keys in spec_keys.WAVE_KEYS.items():
        waves.append(f"| `{kind}` | {', '.join(f'`{k}`' for k in keys if k != 'kind')} |")
    return "\n\n".join((
        "# Spec keys",
        "Generated from the validator (`rnn2spice/network/spec.py`: `TOP_KEYS`, `CIRCUIT_KEYS`, "
        "`WAVE_KEYS`; `rnn2spice/network/opamp.py`: `OPAMP_KEYS`): these are exactly the keys a spec "
        "may have; any other key is refused with a did-you-mean. How they fit together, with an "
        "example: [the spec](spec.md).",
        "## Top level", _key_table(spec_keys.TOP_KEYS),
        "## `circuit:`", _key_table(spec_keys.CIRCUIT_KEYS),
        "## `circuit: {opamp: ...}`", _key_table(opamp_keys.OPAMP_KEYS),
        "## `inputs:` (one mapping per input, by `kind`)", "\n".join(waves),
        "## Limits",
        "\n".join(f"* `{name}` = {getattr(spec_keys, name):,}" for name in
                  ("MAX_NEURONS", "MAX_INPUTS", "MAX_WEIGHTS", "MAX_SPEC_BYTES", "MAX_SPEC_NODES",
                   "MAX_TOTAL_POINTS") if hasattr(spec_keys, name)),
    )) + "\n"


def _help(parser) -> str:
    return parser.format_help().rstrip()


def cli_page() -> str:
    parser = app.build_parser()
    parts = ["# Command line",
             "Generated from the parser (`rnn2spice.cli.app.build_parser`): the text below is what "
             "`rnn2spice COMMAND --help` prints. Exit codes: 0 pass, 1 mismatch beyond tolerance, "
             "2 bad input or usage, 3 simulator failure ([errors and exit codes](errors.md)).",
             "```text\n" + _help(parser) + "\n```"]
    for name in app.command_names():
        parts.append(f"## `rnn2spice {name}`")
        parts.append("```text\n" + _help(parser.commands[name]) + "\n```")
    return "\n\n".join(parts) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def environment_page() -> str:
    """Every environment variable the package reads and the fixed limits beside them, from
    ``rnn2spice.cli.environment`` (a test holds that table equal to the names in the code)."""
    rows = ["| variable | default | read | what it does |", "|---|---|---|---|"]
    rows += [f"| `{v.name}` | {_cell(v.default)} | {v.when} | {_cell(v.meaning)} |" for v in environment.variables()]
    fixed = ["| limit | value | what it bounds |", "|---|---|---|"]
    fixed += [f"| `{f.name}` | {f.value:,} | {_cell(f.meaning)} |" for f in environment.fixed_limits()]
    return "\n\n".join((
        "# Environment variables and limits",
        "Generated from `rnn2spice/cli/environment.py`, whose table a test holds equal to the "
        "`RNN2SPICE_*` names the code reads: these are all of them. The same variables hold for "
        "the command line and the Python API. A size limit is read once, when rnn2spice is "
        "imported; a budget or a backend choice at every run. How a run that goes beyond a "
        "limit or budget ends: [errors and exit codes](errors.md).",
        "\n".join(rows),
        "## Fixed limits",
        "No variable raises these; a file beyond one is refused with exit 2 naming the file and "
        "the limit. The spec's own limits: [spec keys](spec-keys.md#limits).",
        "\n".join(fixed),
        "## The test suite's own",
        "Read only by `tests/` and `scripts/` (a test holds this list equal to the names there too):",
        "\n".join(f"* `{name}`: {meaning}" for name, meaning in environment.TEST_SUITE.items()),
        "## Temporary folders",
        "ngspice runs in `$TMPDIR/rnn2spice-ngspice-*` folders, removed when the run ends (also on "
        "Ctrl-C and SIGTERM). Each holds a marker file `.rnn2spice-owner` naming its process; a "
        "run killed by SIGKILL cannot remove its folders (nor a process pool's `pymp-*`, which "
        "gets the same marker), so the next run removes every such folder whose owner process is "
        "gone, and nothing else (`rnn2spice/spice/scratch.py`). A folder whose marker was written "
        "on another machine (a TMPDIR shared over the network) or in another pid namespace (a "
        "container) is kept: its owner cannot be seen from here.",
    )) + "\n"


def figures() -> None:
    """The damped oscillator's schematic and its check against the exact reference (ngspice)."""
    net = rnn2spice.load("netlists/damped-oscillator.yaml")
    with mkdocs_gen_files.open("assets/damped-oscillator-schematic.svg", "wb") as fh:
        fh.write(rnn2spice.schematic(net, fmt="svg"))
    result = rnn2spice.check(net)
    fig = result.plot()
    with mkdocs_gen_files.open("assets/damped-oscillator-check.png", "wb") as fh:
        fig.savefig(fh, format="png", dpi=90)
    with mkdocs_gen_files.open("assets/damped-oscillator-check.txt", "w") as fh:
        fh.write(result.summary() + "\n")


with mkdocs_gen_files.open("reference/cli.md", "w") as fh:
    fh.write(cli_page())
with mkdocs_gen_files.open("reference/spec-keys.md", "w") as fh:
    fh.write(spec_page())
with mkdocs_gen_files.open("reference/environment.md", "w") as fh:
    fh.write(environment_page())
figures()
