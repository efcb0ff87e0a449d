"""Simulator: runs an ngspice netlist text and returns its waveforms.

Two backends give the same :class:`SimulationResult` for the same netlist text:

``'shared'``
    libngspice through PySpice's ``NgSpiceShared``, in this process.  Fast (no process
    start, no file round trip), but ngspice keeps global state, so one instance serves
    the whole process under a lock and is reset after every run.
``'subprocess'``
    ``ngspice -b -r <raw> <netlist>`` in a temporary directory, raw file parsed here.
    Slower, but isolated, killable (``timeout``) and needs only the ngspice binary.

``'auto'`` picks ``'shared'`` when PySpice imports and libngspice loads, else
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

Safety.  ngspice reads ``.spiceinit`` from its working directory at start-up and runs
its commands (``shell`` included): the binary runs with ``-n`` in a fresh temporary
directory, and libngspice is initialised inside an empty temporary directory (and with
``ngSpice_nospiceinit()`` where the library has it; ngspice 39 has not, so the user's own
``~/.spiceinit`` is still read by the shared backend).  In the shared library a run
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
raw-file parser and vector names, :mod:`~rnn2spice.spice.log` the reading of ngspice's output.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn2spice.errors import SimulationError, UsageError
from rnn2spice.spice.batch import _binary_version, _ngspice_executable, _run_subprocess
from rnn2spice.spice.shared import _engine_retired, _run_shared, _shared_engine

__all__ = ["SimulationResult", "available_backends", "ngspice_version", "simulate_netlist"]

BACKENDS = ("shared", "subprocess")


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


# --------------------------------------------------------------------------- public API


def available_backends() -> list[str]:
    """Backends that can run here, in preference order (may be empty).

    The first call loads libngspice to find out (a few tens of ms).
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
    return _binary_version(_ngspice_executable(None))


def simulate_netlist(
    netlist: str,
    *,
    netlist_path: Path | None = None,
    backend: str = "auto",
    timeout: float | None = None,
) -> SimulationResult:
    """Run ``netlist`` (complete text, one analysis, ending in ``.end``) in ngspice.

    ``netlist_path`` is only quoted in messages (the text is what runs).  ``timeout`` (s,
    ``None`` = no limit) bounds the simulation time; on expiry the run is stopped and
    :class:`SimulationError` raised; with ``backend='auto'`` a time limit selects the
    subprocess backend, which can always be killed (module docstring, "Safety").  Any ngspice failure (rejected netlist, no
    convergence, no data, crash) raises :class:`SimulationError` with ngspice's lines.
    """
    if not isinstance(netlist, str) or not netlist.strip():
        raise UsageError("netlist must be a non-empty netlist text")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0 or not math.isfinite(timeout)):
        raise UsageError(f"timeout must be a positive finite number of seconds or None (got {timeout!r})")
    path = Path(netlist_path) if netlist_path is not None else None
    if backend == "auto" and timeout is not None and _subprocess_problem() is None:
        backend = "subprocess"  # a process can always be killed; libngspice only between steps
    try:
        backend = _resolve_backend(backend)
        run = _run_shared if backend == "shared" else _run_subprocess
        vectors, version, log = run(netlist, path, timeout)
    except SimulationError as exc:
        if path is not None:
            raise
        raise _with_saved_netlist(exc, netlist) from None
    return SimulationResult(vectors=vectors, backend=backend, ngspice_version=version, log=log, netlist_path=path)


def _with_saved_netlist(exc: SimulationError, netlist: str) -> SimulationError:
    """``exc`` naming a file that holds the netlist (``ngspice -b FILE`` reruns it)."""
    try:
        fd, name = tempfile.mkstemp(prefix="rnn2spice-failed-", suffix=".cir")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(netlist)
    except OSError:
        return exc
    return SimulationError(str(exc).split("\nngspice said:")[0], netlist_path=Path(name),
                           ngspice_message=exc.ngspice_message)


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
        else:
            raise SimulationError(f"no ngspice backend can run here: {shared}; {binary}")
    return _AUTO_BACKEND


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
