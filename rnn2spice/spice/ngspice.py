"""Simulator: runs an ngspice netlist text and returns its waveforms.

Two backends give the same :class:`SimulationResult` for the same netlist text:

``'shared'``
    libngspice through PySpice's ``NgSpiceShared``, in this process.  Fast (no process
    start, no file round trip), but ngspice keeps global state, so one instance serves
    the whole process under a lock and is reset after every run.
``'subprocess'``
    ``ngspice -b -r <raw> <netlist>`` in a temporary directory, raw file parsed here.
    Slower, but isolated, killable (``timeout``) and needs only the ngspice binary.

``'auto'`` picks ``'shared'`` when PySpice imports and libngspice passes its start-up
checks ("Start-up safety" below), else
``'subprocess'`` -- except that a run with a ``timeout`` goes to ``'subprocess'`` whenever
the binary is available (see "Safety" below).

Environment, read when used (at every run for the binary, when libngspice is first loaded
for the library):

``RNN2SPICE_NGSPICE``
    name (looked up on PATH) or path of the ngspice binary of the ``'subprocess'``
    backend; default ``ngspice``.
``RNN2SPICE_LIBNGSPICE``
    the libngspice file the ``'shared'`` backend loads, tried alone (no fallback); when
    unset, PySpice's ``NGSPICE_LIBRARY_PATH`` or ``libngspice.so``, then (Linux, without
    ``NGSPICE_LIBRARY_PATH``) ``libngspice.so.0``.

``RNN2SPICE_SOLVER``
    ``auto`` (default), ``klu`` or ``sparse``: the linear solver (see "Solver").

Versions.  ngspice 39 to 46 are supported with both backends (``scripts/setup.sh`` installs
46 and unpacks 39 beside it; ``scripts/test.sh`` runs the suite on both).

Start-up safety.  A libngspice is never started in this process before a child process has
started the same file and run a netlist with it (:mod:`rnn2spice.spice.probe`): a build that
crashes there (Debian's ngspice 46 dies in ``ngSpice_nospiceinit()`` called before
``ngSpice_Init``, as its header prescribes) costs the child, and ``'auto'`` falls back to
``'subprocess'`` with a :class:`BackendFallbackWarning` (one line; the command line prints
it).  ngspice reads ``.spiceinit`` at start-up and runs its commands (``shell`` included):
the binary runs with ``-n`` in a fresh temporary directory; libngspice reads
``./.spiceinit``, else the home directory's, inside ``ngSpice_Init`` on every version (no
version lets a POSIX caller switch that off), so it is started in an empty temporary
directory, and not at all while a home ``.spiceinit`` exists (``'auto'`` then falls back,
with the warning).

Solver.  ngspice >= 42 built with KLU (Debian's 46 is) solves with KLU after
``.options klu`` and with Sparse 1.3 otherwise; 39 has only Sparse.  Whether a binary or
library has KLU is detected once per file (the library's child-process check runs a netlist
with ``.options klu`` and looks for ngspice's "Using KLU" line; the binary's ``-v`` banner
says "Compiled with KLU"), and then the option line is added by this layer to the text it
hands ngspice, just before ``.end``.  It is added here, not by the compiler, because the
compiled netlist is deterministic and certified (golden files, the strict reader) and the
solver is a choice of how to run it, not part of the circuit.  The solver a run really used
is read from that run's log (``SimulationResult.solver``).

Safety.  In the shared library a run
is always executed in ngspice's background thread while this thread waits, so Ctrl-C
(KeyboardInterrupt) halts it; a foreground ``run`` would swallow the interrupt in a cffi
callback and run on to the end.  ``bg_halt`` is only honoured between time steps, so a
run stuck inside one step (a huge dense matrix, a Newton loop) cannot be stopped in
process: a time limit is therefore enforced by killing an ``ngspice -b`` process when
``backend='auto'``, and if a halted shared run does not stop within ``shared._BG_STOP_WAIT``
the engine is retired (never reset under a running thread) and later runs use the binary.
If ngspice asks to exit (``quit``, fatal internal errors) the engine is retired likewise.

Failure is decided here, not by PySpice: PySpice 1.5 treats every line ngspice writes on
stderr as an error (PySpice issues #379, #392) and raises exceptions with empty
messages.  We collect ngspice's lines ourselves and raise :class:`SimulationError`
carrying the relevant ones and the netlist path (:mod:`rnn2spice.spice.log`).

Vector names are normalised for both backends: ``'time'`` (s) or ``'frequency'`` (Hz),
node voltages ``'v(h0)'`` (V), branch currents ``'i(vs_0)'`` (A).

Layout: this module is the entry point and chooses the backend; :mod:`~rnn2spice.spice.shared`
and :mod:`~rnn2spice.spice.batch` are the two backends, :mod:`~rnn2spice.spice.rawfile` the
raw-file parser and vector names, :mod:`~rnn2spice.spice.log` the reading of ngspice's output,
:mod:`~rnn2spice.spice.probe` the start-up checks of libngspice in a child process.
"""

from __future__ import annotations

import math
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from rnn2spice.errors import NgspiceUnavailable, SimulationError, UsageError
from rnn2spice.network.numbers import is_real
from rnn2spice.spice.batch import _binary_info, _ngspice_executable, _run_subprocess
from rnn2spice.spice.log import with_saved_netlist
from rnn2spice.spice.shared import _engine_retired, _run_shared, _shared_engine, _shared_missing

__all__ = ["BackendFallbackWarning", "SimulationResult", "SolverFallbackWarning", "available_backends", "describe_ngspice",
           "ngspice_solver", "ngspice_version", "simulate_netlist"]

BACKENDS = ("shared", "subprocess")
SOLVERS = ("auto", "klu", "sparse")
#: Environment variable choosing the linear solver when ``solver='auto'``: auto, klu, sparse.
SOLVER_ENV = "RNN2SPICE_SOLVER"

#: The option line added to the netlist text when ngspice has KLU (module docstring, "Solver").
KLU_OPTION = ".options klu"
# ngspice >= 42 says which solver each analysis uses; ngspice 39 has only Sparse and says nothing.
# A netlist that chooses its solver itself keeps its choice.
_CHOOSES_SOLVER = re.compile(r"^\s*\.options?\b.*\b(?:klu|sparse)\b", re.IGNORECASE | re.MULTILINE)
_SOLVER_LINE = re.compile(r"^\s*Using (\w+)(?: [\d.]+)? as Direct Linear Solver", re.IGNORECASE | re.MULTILINE)


class BackendFallbackWarning(UserWarning):
    """``backend='auto'`` could not use the shared library and runs ``ngspice -b`` instead
    (the message says why, in one line)."""


class SolverFallbackWarning(UserWarning):
    """``solver='auto'`` chose KLU and ngspice did not converge with it; the run was repeated
    with Sparse 1.3, ngspice's long-standing default (measured on ngspice 46: 'Timestep too
    small' on some stiff behavioural circuits, e.g. paper/softplus in the series form, that
    Sparse runs to the usual accuracy)."""


@dataclass(frozen=True)
class SimulationResult:
    """Waveforms of one ngspice analysis.

    ``vectors`` maps normalised lower-case names to arrays of equal length: the scale
    ``'time'`` (s, ``.tran``) or ``'frequency'`` (Hz, ``.ac``; always real float64),
    node voltages ``'v(h0)'`` (V) and branch currents ``'i(vs_0)'`` (A); float64 for
    ``.tran``, complex128 phasors for ``.ac``.
    """

    vectors: dict[str, np.ndarray]
    backend: str                 # 'shared' or 'subprocess'
    ngspice_version: str         # as ngspice reports it, e.g. '39'
    log: str                     # ngspice's stdout+stderr text of this run
    netlist_path: Path | None
    solver: str = "sparse"       # linear solver the run used, as ngspice's log says: 'klu' or 'sparse'


# --------------------------------------------------------------------------- public API


def available_backends() -> list[str]:
    """Backends that can run here, in preference order (may be empty).

    The first call checks libngspice in a child process and loads it (about 0.1 s).
    """
    found = []
    if _shared_problem() is None:
        found.append("shared")
    if _subprocess_problem() is None:
        found.append("subprocess")
    return found


def ngspice_version(backend: str = "auto") -> str:
    """ngspice's version as it reports it (``'39'``) for ``backend``."""
    backend = _resolve_backend(backend)
    if backend == "shared":
        return _shared_engine().version
    return _binary_info(_ngspice_executable(None))[0]


def ngspice_solver(backend: str = "auto", solver: str = "auto") -> str:
    """The linear solver a run with ``backend`` and ``solver`` uses: ``'klu'`` or ``'sparse'``."""
    return "klu" if _use_klu(_resolve_backend(backend), solver) else "sparse"


def describe_ngspice(backend: str = "auto") -> str:
    """One line naming the ngspice that runs, e.g. ``'ngspice 46 (shared library), solver klu'``.

    Raises :class:`SimulationError` when no ngspice can run."""
    backend = _resolve_backend(backend)
    where = "shared library" if backend == "shared" else "ngspice -b"
    return f"ngspice {ngspice_version(backend)} ({where}), solver {ngspice_solver(backend)}"


def simulate_netlist(
    netlist: str,
    *,
    netlist_path: Path | None = None,
    backend: str = "auto",
    timeout: float | None = None,
    solver: str = "auto",
    progress: Callable[[float], None] | None = None,
) -> SimulationResult:
    """Run ``netlist`` (complete text, one analysis, ending in ``.end``) in ngspice.

    ``netlist_path`` is only quoted in messages (the text is what runs).  ``timeout`` (s,
    ``None`` = no limit) bounds the simulation time; on expiry the run is stopped and
    :class:`SimulationError` raised; with ``backend='auto'`` a time limit selects the
    subprocess backend, which can always be killed (module docstring, "Safety").  ``solver``
    ``'auto'`` uses KLU where this ngspice has it (``$RNN2SPICE_SOLVER`` may say otherwise),
    ``'sparse'`` never, ``'klu'`` always (an error where it is missing); the result's
    ``solver`` is what ngspice's log says it used.  Any ngspice failure (rejected netlist, no
    convergence, no data, crash) raises :class:`SimulationError` with ngspice's lines.

    ``progress(fraction)`` (optional) is called in this thread while ngspice runs, with the
    fraction of the analysis done (0..1, never decreasing, at most about 10 calls a second),
    and with 1.0 once the run succeeded: the shared library reports it in its status line
    ('tran: 45.2%'), ``ngspice -b`` prints the simulated time of a ``.tran`` (a batch run of
    another analysis reports only the final 1.0).  An exception it raises stops the run.
    """
    if not isinstance(netlist, str) or not netlist.strip():
        raise UsageError("netlist must be a non-empty netlist text")
    if timeout is not None and (not is_real(timeout) or not timeout > 0 or not math.isfinite(timeout)):
        raise UsageError(f"timeout must be a positive finite number of seconds or None (got {timeout!r})")
    if solver not in SOLVERS:
        raise UsageError(f"unknown solver {solver!r}; choose one of {', '.join(map(repr, SOLVERS))}")
    path = Path(netlist_path) if netlist_path is not None else None
    if backend == "auto" and timeout is not None and _subprocess_problem() is None:
        backend = "subprocess"  # a process can always be killed; libngspice only between steps
    text = netlist
    try:
        backend = _resolve_backend(backend)
        klu = _use_klu(backend, solver) and not _CHOOSES_SOLVER.search(netlist)
        if klu:
            text = with_klu_option(netlist)
        run = _run_shared if backend == "shared" else _run_subprocess
        report = None if progress is None else _Progress(progress)
        try:
            vectors, version, log = run(text, path, timeout, report)
        except SimulationError as exc:
            chosen = solver if solver != "auto" else (os.environ.get(SOLVER_ENV) or "auto").strip().lower()
            said = f"{exc} {exc.ngspice_message or ''}"
            if not (klu and chosen == "auto" and _NO_CONVERGENCE.search(said)):
                raise
            report = None if progress is None else _Progress(progress)
            # Sparse's failure, if it fails too, is the one to report (the circuit's, not KLU's)
            vectors, version, log = run(netlist, path, timeout, report)
            warnings.warn(f"ngspice did not converge with the KLU solver ({_first_problem(said)}); "
                          "ran it again with Sparse 1.3", SolverFallbackWarning, stacklevel=2)
    except SimulationError as exc:
        if path is not None:
            raise
        raise with_saved_netlist(exc, netlist) from None
    if report is not None:
        report.done()
    return SimulationResult(vectors=vectors, backend=backend, ngspice_version=version, log=log, netlist_path=path,
                            solver=solver_in_log(log))


_NO_CONVERGENCE = re.compile(r"did not converge|timestep too small|singular matrix", re.IGNORECASE)


def _first_problem(text: str) -> str:
    """ngspice's first line naming the convergence problem, shortened."""
    for line in text.splitlines():
        if re.search(r"timestep too small|singular matrix", line, re.IGNORECASE):
            return line.strip()[:160]
    return "no convergence"


class _Progress:
    """Passes a backend's progress fractions on: clipped to 0..1, never decreasing, only
    when they grew, at most every :attr:`INTERVAL` seconds; :meth:`done` sends 1.0 once."""

    INTERVAL = 0.1

    def __init__(self, callback: Callable[[float], None]):
        self.callback = callback
        self.last = -1.0
        self.when = -math.inf

    def __call__(self, fraction: float) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0) if math.isfinite(fraction) else 0.0
        now = time.monotonic()
        if fraction > self.last and (now - self.when >= self.INTERVAL or self.last < 0):
            self.last, self.when = fraction, now
            self.callback(fraction)

    def done(self) -> None:
        if self.last < 1.0:
            self.last, self.when = 1.0, time.monotonic()
            self.callback(1.0)


def with_klu_option(netlist: str) -> str:
    """``netlist`` with :data:`KLU_OPTION` on a line of its own just before the final
    ``.end`` (so ngspice's line numbers still match the text), or appended without one."""
    lines = netlist.split("\n")
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip().lower() == ".end":
            return "\n".join(lines[:i] + [KLU_OPTION] + lines[i:])
        if lines[i].strip():
            break
    return netlist + ("" if netlist.endswith("\n") else "\n") + KLU_OPTION + "\n"


def solver_in_log(log: str) -> str:
    """The solver ngspice says its (last) analysis used: ``'klu'`` or ``'sparse'``."""
    said = _SOLVER_LINE.findall(log)
    return "klu" if said and said[-1].lower() == "klu" else "sparse"


def _use_klu(backend: str, solver: str) -> bool:
    """Whether a run on ``backend`` (resolved) adds :data:`KLU_OPTION`."""
    if solver == "auto":
        solver = (os.environ.get(SOLVER_ENV) or "auto").strip().lower()
        if solver not in SOLVERS:
            raise UsageError(f"${SOLVER_ENV} must be one of {', '.join(SOLVERS)} (got {solver!r})")
    if solver == "sparse":
        return False
    try:
        if backend == "shared":
            engine = _shared_engine()
            has, version = engine.klu, engine.version
        else:
            version, has = _binary_info(_ngspice_executable(None))
    except SimulationError:
        if solver == "klu":
            raise
        return False  # the run itself reports why ngspice cannot run, naming the netlist
    if solver == "klu" and not has:
        raise NgspiceUnavailable(f"ngspice {version} ({backend}) has no KLU solver; use solver 'auto' or 'sparse'")
    return has


# --------------------------------------------------------------------------- backend choice

_AUTO_BACKEND: str | None = None


def _resolve_backend(backend: str) -> str:
    global _AUTO_BACKEND
    if backend in BACKENDS:
        return backend
    if backend != "auto":
        raise UsageError(f"unknown simulator backend {backend!r}; choose one of 'auto', 'shared', 'subprocess'")
    if _AUTO_BACKEND == "shared" and _engine_retired():
        _AUTO_BACKEND = None  # the shared engine exited or would not stop: choose again
    if _AUTO_BACKEND is None:
        shared, binary = _shared_problem(), _subprocess_problem()
        if shared is None:
            _AUTO_BACKEND = "shared"
        elif binary is None:
            _AUTO_BACKEND = "subprocess"
            if not _shared_missing():  # a library that is there but unusable: say so, once
                _notice(f"{shared.splitlines()[0]}; running ngspice -b instead")
        else:
            raise NgspiceUnavailable(f"no ngspice backend can run here: {shared}; {binary}")
    return _AUTO_BACKEND


def _notice(message: str) -> None:
    """Warn with :class:`BackendFallbackWarning`, shown in one line by Python's default
    display (``rnn2spice:0: BackendFallbackWarning: ...``: no source line to quote)."""
    warnings.warn_explicit(message, BackendFallbackWarning, filename="rnn2spice", lineno=0,
                           module="rnn2spice.spice.ngspice")


def _shared_problem() -> str | None:
    """Why the shared backend cannot run, or None if it can."""
    try:
        _shared_engine()
    except SimulationError as exc:
        return str(exc)
    return None


def _subprocess_problem() -> str | None:
    """Why the subprocess backend cannot run, or None if it can."""
    try:
        _ngspice_executable(None)
    except SimulationError as exc:
        return str(exc)
    return None
