"""Exceptions of rnn2spice.

One root, :class:`Rnn2SpiceError`; every subclass also derives from the builtin
exception a Python user would expect (``SpecError`` is a ``ValueError``), so callers
may catch either.  Messages name the offending field and its value.
"""

from __future__ import annotations


class Rnn2SpiceError(Exception):
    """Root of every error rnn2spice raises on purpose."""


class SpecError(Rnn2SpiceError, ValueError):
    """The RNN spec (or a file it refers to) is invalid.

    ``field`` is the dotted path of the offending key (``inputs[1].period``), ``value``
    the value found there.
    """

    def __init__(self, field: str, value: object, problem: str):
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{_show_field(field)}: {problem} (got {_show(value)})")


class ModelError(SpecError):
    """A trained-model file cannot be imported; names the file or dataset and the value found."""


class MissingDependencyError(Rnn2SpiceError, ImportError):
    """An optional dependency (torch) is needed for this file and is not installed."""


class UsageError(Rnn2SpiceError, ValueError):
    """A command-line or API option is invalid or a combination is unsupported."""


class OutputError(Rnn2SpiceError, OSError):
    """An output file cannot be written where the user asked."""


class NetlistError(Rnn2SpiceError, ValueError):
    """A netlist uses SPICE the certificate reader does not accept."""


class SimulationError(Rnn2SpiceError, RuntimeError):
    """ngspice failed: no convergence, missing library, crash, time limit.

    Carries ngspice's own message and the path of the netlist that was run.
    """

    def __init__(self, message: str, *, netlist_path: object = None, ngspice_message: str = ""):
        self.netlist_path = netlist_path
        self.ngspice_message = ngspice_message.strip()
        text = message
        if netlist_path is not None:
            text += f" [netlist: {netlist_path}]"
        if self.ngspice_message:
            text += "\nngspice said:\n" + self.ngspice_message
        super().__init__(text)


class ReferenceSolverError(Rnn2SpiceError, ArithmeticError):
    """The exact reference (THEORY.md section 6) cannot be computed: the ODE solver gave up,
    or the solution leaves the floating-point range (an unstable network)."""


class CertificateFailed(Rnn2SpiceError, ValueError):
    """The netlist does not realise the network; nothing was simulated.

    ``certificate`` is the failed :class:`~rnn2spice.analysis.certificate.Certificate`
    (``worst`` says where), ``report`` the JSON report of the stopped run.
    """

    def __init__(self, message: str, *, certificate=None, report: dict | None = None):
        self.certificate = certificate
        self.report = report if report is not None else {"passed": False}
        super().__init__(message)


def _show_field(field: object, limit: int = 80) -> str:
    """A field path as typed, unless it holds control characters (a hostile key): then
    its repr(), so it cannot start a new line or drive the terminal; shortened."""
    text = str(field)
    if not text.isprintable():
        text = repr(text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _show(value: object, limit: int = 80) -> str:
    """repr() of a value, shortened so a huge matrix does not flood the terminal."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
