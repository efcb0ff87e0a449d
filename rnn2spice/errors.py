"""Exceptions of rnn2spice.

One root, :class:`Rnn2SpiceError`; every subclass also derives from the builtin
exception a Python user would expect (``SpecError`` is a ``ValueError``), so callers
may catch either.  Messages name the offending field and its value.
"""

from __future__ import annotations

import math
import os


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


class UnknownOptionError(UsageError, TypeError):
    """An API function was given a keyword it does not take (also a TypeError, as Python's own
    message for it would be; this one names the nearest keyword)."""


class OutputError(Rnn2SpiceError, OSError):
    """An output file cannot be written where the user asked."""


class NetlistError(Rnn2SpiceError, ValueError):
    """A netlist uses SPICE the certificate reader does not accept (the certificate: a FAIL
    naming the line, exit 1; elsewhere: the netlist is refused)."""


class NetlistUnreadable(NetlistError):
    """Text that is not read as a netlist at all: not text, control or non-ASCII characters,
    empty, no ``.end`` card, or a field beyond the reading limits (bad input, exit 2, also
    for ``verify``; docs/certificate.md, "What verify's exit codes mean")."""


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


class NgspiceUnavailable(SimulationError):
    """ngspice cannot be run here at all (not installed, its library not loadable or unsafe,
    no backend, a solver it lacks): the netlist played no part, so no copy of it is kept."""


#: Cost budgets of one simulation run and one reference solve (issue 19): what passes every
#: a-priori check may still cost far more than its estimate (a relu network cutting its steps
#: at every kink, a reference restarting at every crossing).  name -> (environment variable
#: that raises it, default, unit).  ``points``: ngspice time points of one run, the reference
#: solver's steps; ``crossings``: the reference's kink crossings in one solve; ``seconds``:
#: the wall-clock time of one run and of one reference solve.  The default points budget is
#: the a-priori limit of the compiler (MAX_TIME_STEPS): a run may not spend more than a run
#: may be estimated to.
BUDGETS = {
    "points": ("RNN2SPICE_MAX_POINTS", 1_000_000, "points"),
    "crossings": ("RNN2SPICE_MAX_CROSSINGS", 10_000, "crossings"),
    "seconds": ("RNN2SPICE_MAX_SECONDS", 3600.0, "s"),
}
#: A run whose points (ngspice's time points, the reference's steps) pass this fraction of
#: the budget is judged by its projection too: points so far / fraction of t_stop done.  A
#: run projected beyond the budget ends there, in a tenth of the time it would take to reach
#: it (a 10 kHz sine over 10 s: ~5 million points, stopped after 100,000).
PROJECT_AFTER = 0.1


def over_budget(count: int, fraction: float, name: str = "points") -> str | None:
    """Why ``count`` so far, at ``fraction`` (0..1) of the run, goes beyond the ``name``
    budget (counted, or projected once past PROJECT_AFTER of it), or None."""
    limit = budget(name)
    if count > limit:
        return f"more than {limit:g} {name}"
    if count >= PROJECT_AFTER * limit and 0 < fraction < 1 and count / fraction > limit:
        return f"{count} {name} at {100 * fraction:.3g} % of the run, projected {count / fraction:.3g}"
    return None


def over_points_budget(points: int, fraction: float) -> str | None:
    """:func:`over_budget` of the points budget."""
    return over_budget(points, fraction, "points")


def budget(name: str) -> float:
    """The ``name`` budget (:data:`BUDGETS`): its environment variable, else the default."""
    env, default, _ = BUDGETS[name]
    raw = os.environ.get(env)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise UsageError(f"{env} must be a positive number of {BUDGETS[name][2]} (got {clip(raw, 40)!r})")
    return value


class BudgetExceeded(Rnn2SpiceError, RuntimeError):
    """A simulation run or a reference solve went beyond one of its :data:`BUDGETS` and was
    stopped; the message names the budget and how to raise it."""

    def __init__(self, who: str, name: str, found: str):
        env, _, unit = BUDGETS[name]
        self.who, self.budget = who, name
        super().__init__(f"{who}: {found}: beyond the {name} budget of {budget(name):g} {unit}; stopped "
                         f"(raise it with the environment variable {env})")


class ComponentValueWarning(UserWarning):
    """A built circuit has a part outside the practical range (R outside 100 ohm .. 10 Mohm,
    C below 10 pF or above 100 uF) or a voltage beyond the op-amp rails; names the part."""


class ReferenceSolverError(Rnn2SpiceError, ArithmeticError):
    """The exact reference (THEORY.md section 6) cannot be computed: the ODE solver gave up,
    or the solution leaves the floating-point range (an unstable network)."""


class CertificateFailed(Rnn2SpiceError, ValueError):
    """The netlist does not realise the network; no simulation of it is used.

    ``certificate`` is the failed :class:`~rnn2spice.analysis.certificate.Certificate`
    (``worst`` says where), ``report`` the JSON report of the stopped run.
    """

    def __init__(self, message: str, *, certificate=None, report: dict | None = None):
        self.certificate = certificate
        self.report = report if report is not None else {"passed": False}
        super().__init__(message)


#: Longest echo of a user value in a message (characters); longer ones end in "...".
SHOW_LIMIT = 80


def _show_field(field: object, limit: int = SHOW_LIMIT) -> str:
    """A field path as typed, unless it holds control characters (a hostile key): then
    its repr(), so it cannot start a new line or drive the terminal; shortened.  Only the
    first few hundred characters are ever looked at."""
    text = field if isinstance(field, str) else shown(field, 4 * limit)
    text = text[: 4 * limit]
    if not text.isprintable():
        text = repr(text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _show(value: object, limit: int = SHOW_LIMIT) -> str:
    """repr() of a value, shortened so a huge matrix does not flood the terminal."""
    return shown(value, limit)


def clip(text: str, limit: int = 200) -> str:
    """Free text for a one-line message (a parser's complaint, an OS error): control
    characters escaped, cut to ``limit`` characters (ending in ``...``)."""
    text = str(text)[: 4 * limit]
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Full(Exception):
    """The bounded repr has its characters."""


def shown(value: object, limit: int = SHOW_LIMIT) -> str:
    """``repr(value)`` cut to ``limit`` characters (ending in ``...`` when cut), built
    piece by piece and stopped as soon as the limit is passed: the cost is bounded by
    ``limit``, not by the size of the value, so a matrix of millions of entries, a YAML alias
    bomb (a list that is the same list many times over) or a self-containing list costs no
    more than a number.  Every echo of a user value in a message goes through here.
    """
    parts: list[str] = []
    room = [limit + 1]

    def put(text: str) -> None:
        parts.append(text[: room[0]])
        room[0] -= len(text)
        if room[0] <= 0:
            raise _Full

    def items(seq, opening: str, closing: str, one: str = "") -> None:
        put(opening)
        for i, item in enumerate(seq):
            if i:
                put(", ")
            walk(item)
        put(one + closing)

    def walk(v) -> None:
        kind = type(v)
        if kind is str:
            put(repr(v[: room[0]]) if len(v) > room[0] else repr(v))
        elif kind in (bytes, bytearray):
            put(repr(v[: room[0]]) if len(v) > room[0] else repr(v))
        elif kind is int:
            try:
                put(repr(v))
            except ValueError:  # beyond sys.get_int_max_str_digits()
                put(f"<integer of {v.bit_length()} bits>")
        elif kind is list:
            items(v, "[", "]")
        elif kind is tuple:
            items(v, "(", ")", "," if len(v) == 1 else "")
        elif kind is dict:
            put("{")
            for i, (key, item) in enumerate(v.items()):
                if i:
                    put(", ")
                walk(key)
                put(": ")
                walk(item)
            put("}")
        elif kind in (set, frozenset):
            if not v:
                put(f"{kind.__name__}()")
            else:
                items(v, "{" if kind is set else "frozenset({", "}" if kind is set else "})")
        elif isinstance(v, (list, tuple, dict)):
            # a subclass (OrderedDict from a pickle, a named tuple): its own __repr__ would
            # walk the whole structure, so it is shown as its base type inside its name
            put(f"{kind.__name__}(")
            walk(dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else tuple(v))
            put(")")
        else:
            put(repr(v))

    try:
        walk(value)
    except _Full:
        pass
    except RecursionError:
        parts.append("...")
        room[0] = 0
    text = "".join(parts)
    if room[0] <= 0 or len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
