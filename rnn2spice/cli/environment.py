"""The environment variables rnn2spice reads, in one table: the documentation's reference
page is generated from it (``scripts/gen_docs.py``), and a test (tests/test_docs.py) holds it
equal to the ``RNN2SPICE_*`` names the code itself reads, so that none goes undocumented.

Defaults come from the code that reads each variable (the cost budgets of
:data:`rnn2spice.errors.BUDGETS`, the size limits of
:data:`rnn2spice.network.files.LIMIT_DEFAULTS`, the ngspice binary's name), never typed
here a second time.  The fixed limits beside them (no variable raises them: the 64 kB line
of a CSV file, ...) are listed too, from their constants.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnn2spice.errors import BUDGETS
from rnn2spice.network import files as network_files
from rnn2spice.network import spec as network_spec
from rnn2spice.spice import batch, ngspice, shared


@dataclass(frozen=True)
class Variable:
    """One environment variable: its ``name``, its ``default`` (as text), ``when`` it is read
    and what it does (``meaning``)."""

    name: str
    default: str
    when: str
    meaning: str


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


_BUDGET_MEANING = {
    "points": "ngspice's time points in one run, and the reference solver's steps in one solve",
    "crossings": "kink crossings (relu, hardtanh, ...) in one reference solve",
    "seconds": "wall-clock seconds of one ngspice run and of one reference solve",
}
_LIMIT_MEANING = {
    "RNN2SPICE_MAX_NEURONS": "neurons of a network (checked from a file's declared shape before its data are read)",
    "RNN2SPICE_MAX_WEIGHTS": "non-zero entries of w (or its factors), w_in and w_out together",
    "RNN2SPICE_MAX_CSV_BYTES": "bytes of a CSV file a spec (`kind: file` input, matrices) or `--stimulus` names: "
                               "checked against its size before a byte is read",
    "RNN2SPICE_MAX_VALUES_PER_BYTE": "values per stored byte of a compressed `.npz` member beyond 250,000 values "
                                     "(a tiny file that inflates to gigabytes is refused)",
}


def variables() -> tuple[Variable, ...]:
    """Every environment variable the package reads, in the order the page shows them."""
    out = [
        Variable(batch.NGSPICE_ENV, f"`{batch._DEFAULT_NGSPICE}`", "at every run",
                 "the ngspice binary (a name looked up on PATH, or a path; a wrapper script is fine) of the "
                 "`subprocess` backend and of the certificate's read-back of the values ngspice holds; when it "
                 "cannot be run, the error names the variable and its value"),
        Variable(shared.LIBNGSPICE_ENV, "PySpice's `NGSPICE_LIBRARY_PATH` or `libngspice.so`, then `libngspice.so.0`",
                 "when the library is first loaded",
                 "the libngspice file of the `shared` backend, tried alone (no fallback that would hide a wrong "
                 "path); it is started in a child process first"),
        Variable(ngspice.SOLVER_ENV, "`auto`", "at every run",
                 f"the linear solver: {', '.join(f'`{s}`' for s in ngspice.SOLVERS)} (`auto`: KLU where this "
                 "ngspice has it, with a fallback to `sparse` that says so; `klu` keeps a failure)"),
    ]
    for name, (env, default, unit) in BUDGETS.items():
        out.append(Variable(env, f"{_number(default)} {unit}", "at every run",
                            f"cost budget: {_BUDGET_MEANING[name]}; beyond it the run ends with one line naming "
                            "the budget and this variable (exit 3); anything but a positive number is exit 2"))
    for env, default in network_files.LIMIT_DEFAULTS.items():
        out.append(Variable(env, _number(default), "once, at import",
                            f"size limit against hostile input: {_LIMIT_MEANING[env]}; the message of a file beyond "
                            "it names this variable; anything but a positive integer leaves the default"))
    out.append(Variable("RNN2SPICE_TRACEBACK", "unset", "when a command fails",
                        "any non-empty value: an internal error (a bug) shows its Python traceback instead of the "
                        "one line `rnn2spice: internal error: ...` (exit 70)"))
    return tuple(out)


@dataclass(frozen=True)
class FixedLimit:
    """A limit no variable raises: its constant's ``name``, ``value`` and ``meaning``."""

    name: str
    value: int
    meaning: str


def fixed_limits() -> tuple[FixedLimit, ...]:
    return (
        FixedLimit("MAX_LINE_BYTES", network_files.MAX_LINE_BYTES,
                   "bytes of one line of a CSV file (a `kind: file` input, `--stimulus`): checked before the line "
                   "is decoded, so one 6 GB line costs no more than 64 kB"),
        FixedLimit("MAX_SPEC_BYTES", network_spec.MAX_SPEC_BYTES, "bytes of a spec file"),
        FixedLimit("MAX_SPEC_NODES", network_spec.MAX_SPEC_NODES, "YAML nodes of a spec"),
        FixedLimit("MAX_INPUTS", network_spec.MAX_INPUTS, "inputs of a network"),
        FixedLimit("MAX_PWL_POINTS", network_files.MAX_PWL_POINTS, "points of one PWL or CSV input"),
        FixedLimit("MAX_TOTAL_POINTS", network_files.MAX_TOTAL_POINTS,
                   "knots of all inputs together (a CSV file is read no further than the room left)"),
    )


#: Variables only the test suite and its scripts read (tests/, scripts/): name -> what it does.
#: A test holds this equal to the names found there, as :func:`variables` to the package's.
TEST_SUITE = {
    "RNN2SPICE_CONFORMANCE_N": "random networks of the conformance test (default 24)",
    "RNN2SPICE_CONFORMANCE_START": "number of the first of them (default 0): another slice of the same sequence",
    "RNN2SPICE_EXPECT_NGSPICE": "the ngspice version the run must find (scripts/test.sh sets it for each of its "
                                "two runs)",
    "RNN2SPICE_REQUIRE_TORCH": "the torch tests fail instead of skipping when torch is missing (CI)",
}

