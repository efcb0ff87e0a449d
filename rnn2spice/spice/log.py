"""ngspice log triage: which of ngspice's lines mean failure, and which explain it.

Both backends collect ngspice's output lines themselves (PySpice's own verdict is not
trusted, see :mod:`rnn2spice.spice.ngspice`) and hand them here: :func:`_check_output`
decides whether a run failed and raises :class:`SimulationError` quoting the lines that
say why (:func:`_excerpt`), without the banner, statistics and progress meter.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
from pathlib import Path

import numpy as np

from rnn2spice.errors import NgspiceUnavailable, SimulationError

# Lines that mean the run failed, whatever the exit status says (ngspice -b exits 0 on
# some parse errors, and the shared library has no exit status at all).
_FATAL = re.compile(
    r"^\s*error\b|\berror\s*:|timestep too small|simulation\(s\) aborted|simulation interrupted"
    r"|circuit not parsed|aren't any circuits loaded",
    re.IGNORECASE,
)
# Lines worth quoting in an error message (the rest is banner and resource statistics).
_RELEVANT = re.compile(
    _FATAL.pattern + r"|warning|singular|unable|unknown|invalid|no such|cannot|can't|not found|failed"
    r"|too (?:low|small|large)|interrupted|aborted|gmin|source stepping",
    re.IGNORECASE,
)


# ngspice's progress meter ('Reference value :  1.0e-07' + carriage return): noise, not news.
_PROGRESS = re.compile(r"^\s*Reference value\s*:", re.IGNORECASE)


# What ngspice prints on every run (banner, resource statistics): never an explanation.
_CHATTER = re.compile(
    r"^\s*(?:\*\*|Note: No compatibility mode|Circuit:|binary raw file|ASCII raw file|Doing analysis at"
    r"|No\. of Data|Using transient initial|Total .*(?:time|DRAM)|DRAM currently|Maximum ngspice|Current ngspice"
    r"|Shared ngspice|Text \(code\)|Stack =|Library pages|Using \w+(?: [\d.]+)? as Direct Linear Solver"
    r"|Operating point simulation skipped|now using transient initial)",
    re.IGNORECASE,
)


def _clean_lines(text: str) -> list[str]:
    """Lines of ngspice's output without progress lines and trailing blanks."""
    lines = [line.rstrip() for line in text.splitlines() if not _PROGRESS.match(line)]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _fatal_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if _FATAL.search(line)]


def _excerpt(lines: list[str], *, limit: int = 25) -> str:
    """The lines of ngspice's output that explain a failure, repeats collapsed."""
    picked: list[str] = []
    follow = False
    for line in lines:
        text = line.rstrip()
        if not text.strip():
            follow = False
            continue
        if follow:
            # the netlist line ngspice quotes after 'Error on line 3 ...:' (indented by the
            # binary, not by the shared library)
            picked.append(text)
            follow = False
        elif _RELEVANT.search(text) and not _CHATTER.search(text):
            picked.append(text)
            follow = text.endswith(":") or text.endswith("from line")
    if not picked:  # nothing recognisable: the tail, minus banner and statistics, is the best guess
        picked = [line.rstrip() for line in lines if line.strip() and not _CHATTER.search(line)][-10:]
    collapsed: list[str] = []
    count = 0
    for i, text in enumerate(picked):
        count += 1
        if i + 1 < len(picked) and picked[i + 1] == text:
            continue
        collapsed.append(text if count == 1 else f"{text}  [{count} times]")
        count = 0
    if len(collapsed) > limit:
        collapsed = collapsed[: limit - 1] + [f"... ({len(collapsed) - limit + 1} more lines)"]
    return "\n".join(collapsed)


def _failure_summary(lines: list[str]) -> str:
    text = "\n".join(lines).lower()
    if "timestep too small" in text or "singular matrix" in text:
        return "ngspice did not converge"
    if "error on line" in text or "circuit not parsed" in text or "unknown subckt" in text:
        return "ngspice rejected the netlist"
    return "ngspice failed"


def _check_output(lines: list[str], raw: dict[str, np.ndarray], *, plot_ok: bool, netlist_path) -> None:
    """Raise SimulationError unless ngspice's lines and vectors say the analysis completed."""
    fatal = _fatal_lines(lines)
    if fatal:
        raise SimulationError(_failure_summary(lines), netlist_path=netlist_path, ngspice_message=_excerpt(lines))
    if not plot_ok or not raw:
        raise SimulationError(
            "ngspice produced no analysis data (is there a .tran or .ac line?)",
            netlist_path=netlist_path,
            ngspice_message=_excerpt(lines),
        )
    if any(len(values) == 0 for values in raw.values()):
        raise SimulationError(
            "ngspice produced an empty analysis", netlist_path=netlist_path, ngspice_message=_excerpt(lines)
        )


#: Prefix of the kept copy of a failed run's netlist (in the temporary directory).
FAILED_PREFIX = "rnn2spice-failed-"


def with_saved_netlist(exc: SimulationError, netlist: str) -> SimulationError:
    """``exc`` naming a file that holds the netlist (``ngspice -b FILE`` reruns it), when
    ngspice ran it: nothing is kept when ngspice could not be run at all
    (:class:`NgspiceUnavailable`: the copy would reproduce nothing).  The copy is the one
    file a failed run leaves behind, and its error names it; whoever handles the error
    without showing it calls :func:`discard_saved_netlist`."""
    if isinstance(exc, NgspiceUnavailable):
        return exc
    try:
        fd, name = tempfile.mkstemp(prefix=FAILED_PREFIX, suffix=".cir")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(netlist)
    except OSError:
        return exc
    kept = SimulationError(str(exc).split("\nngspice said:")[0], netlist_path=Path(name),
                           ngspice_message=exc.ngspice_message)
    kept.kept_copy = Path(name)
    return kept


def discard_saved_netlist(exc: SimulationError) -> SimulationError:
    """Remove the copy :func:`with_saved_netlist` kept for ``exc`` (an error that is recorded
    or retried, not shown: nobody would be told of the file); the same error without it."""
    path = getattr(exc, "kept_copy", None)
    if path is None:
        return exc
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    message = str(exc).split("\nngspice said:")[0].removesuffix(f" [netlist: {path}]")
    return type(exc)(message, ngspice_message=exc.ngspice_message)


def signal_name(returncode: int) -> str:
    """The signal that ended a process, from its negative return code: 'SIGSEGV'."""
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
