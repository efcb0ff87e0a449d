"""The ``'shared'`` backend: libngspice in this process, through PySpice's ``NgSpiceShared``.

One engine serves the whole process under a lock and is reset after every run; runs go
through ngspice's background thread so that they can be halted, and an engine that
exits or will not stop is retired for good (see :mod:`rnn2spice.spice.ngspice`,
"Safety").  The library file is ``$RNN2SPICE_LIBNGSPICE`` when set, else PySpice's
choice (``NGSPICE_LIBRARY_PATH``, else ``libngspice.so``, then ``libngspice.so.0``).

Start-up, in this order: refuse while a user ``.spiceinit`` exists that ngspice would
source; start the library in a child process and run a netlist there
(:mod:`rnn2spice.spice.probe`: a build that crashes takes down the child, not us); then
load the very file the child loaded, and call ``ngSpice_Init`` (through PySpice) in an
empty working directory.  ``ngSpice_nospiceinit`` is not called on POSIX systems, where no
ngspice version honours it and Debian's ngspice 46 crashes in it.

Progress: ngspice's status callback ('tran: 45.2%') is kept by the engine and read by the
thread that waits for a run, which tells the caller's ``progress``.

This module is a little longer than 400 lines: the engine, its PySpice subclass (whose
callbacks run in ngspice's threads) and the locked run share one state machine and are
clearer read together.
"""

from __future__ import annotations

import ctypes
import locale
import logging
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from rnn2spice.errors import PROJECT_AFTER, BudgetExceeded, NgspiceUnavailable, SimulationError, budget, over_points_budget
from rnn2spice.spice.batch import _tran_stop
from rnn2spice.spice.log import _PROGRESS, _check_output, _excerpt, _fatal_lines
from rnn2spice.spice.probe import CALL_NOSPICEINIT, probe_library, user_init_files
from rnn2spice.spice.rawfile import finish_vectors
from rnn2spice.spice.scratch import scratch_dir

#: Environment variable naming the libngspice file to load (overrides NGSPICE_LIBRARY_PATH).
LIBNGSPICE_ENV = "RNN2SPICE_LIBNGSPICE"

_INSTALL_LIBNGSPICE = (
    "install it with `apt-get install libngspice0-dev` (Debian/Ubuntu; provides libngspice.so), "
    "or set NGSPICE_LIBRARY_PATH to the library file, or use backend='subprocess'"
)

_STATE_LOCK = threading.Lock()       # guards the caches below
_SHARED_ENGINE: "_SharedEngine | None" = None
_SHARED_ERROR: str | None = None   # why the shared backend cannot start
_SHARED_MISSING = False            # ... and it is only that none is installed (no notice needed)

_SHARED_LOCK = threading.Lock()  # libngspice is one global state machine per process
_BG_STOP_WAIT = 30.0             # s to wait for ngspice's background thread after bg_halt
_WAIT_SLICE = 0.25               # s between checks while waiting for a background run
_PROGRESS_SLICE = 0.1            # ... when a progress callback is to be told
#: The run pauses at this fraction of the points budget to judge its seconds projection ...
SECONDS_CHECK_AFTER = 0.01
#: ... once it has run this many seconds (a cheaper start is judged at PROJECT_AFTER's pause).
SECONDS_PROJECT_AFTER = 2.0
_STOPPED_AFTER = re.compile(r"condition met: stop\s+after")  # ngspice paused at the points budget
_PAUSE_LINES = re.compile(r"condition met: stop|pause requested|simulation interrupted")
_STATUS_PERCENT = re.compile(r"^\s*\w+:\s*([0-9.]+)\s*%")  # ngspice's status line: 'tran: 45.2%'


class _SharedEngine:
    """The process's libngspice instance (via PySpice) and what it printed."""

    def __init__(self, ngspice, ffi, version: str, *, klu: bool = False, library: str = ""):
        self.ngspice = ngspice
        self.ffi = ffi
        self.version = version
        self.klu = klu                # accepts '.options klu' (checked in the child process)
        self.library = library        # the file loaded
        self.dead: str | None = None  # set when ngspice asked to exit: unusable from then on
        self.stuck = False  # a halted background run did not stop: never send it commands again

    def command(self, command: str) -> None:
        """Send one command; ngspice's verdict is read from its lines, not from PySpice."""
        from PySpice.Spice.NgSpice.Shared import NgSpiceCircuitError, NgSpiceCommandError

        try:
            self.ngspice.exec_command(command)
        except (NgSpiceCommandError, NgSpiceCircuitError):
            pass  # never raised by our subclass, which does not flag stderr lines
        except NameError as exc:  # PySpice's way of reporting a non-zero return code
            raise SimulationError(f"ngspice shared library refused command {command!r}: {exc}") from None

    def vectors_of_current_plot(self) -> tuple[str, dict[str, np.ndarray]]:
        """(plot name, {ngspice vector name: copied array}) of the plot the last run made."""
        lib, ffi = self.ngspice._ngspice_shared, self.ffi
        plot = ffi.string(lib.ngSpice_CurPlot()).decode("utf-8", "replace")
        vectors: dict[str, np.ndarray] = {}
        names_c = lib.ngSpice_AllVecs(plot.encode("utf-8"))
        i = 0
        while names_c[i] != ffi.NULL:
            name = ffi.string(names_c[i]).decode("utf-8", "replace")
            i += 1
            info = lib.ngGet_Vec_Info(f"{plot}.{name}".encode("utf-8"))
            if info == ffi.NULL:
                continue
            n = int(info.v_length)
            if info.v_compdata != ffi.NULL:
                pairs = np.frombuffer(ffi.buffer(info.v_compdata, n * 16), dtype=np.float64)
                vectors[name] = pairs[0::2] + 1j * pairs[1::2]  # a new array: ngspice may free its own
            elif info.v_realdata != ffi.NULL:
                vectors[name] = np.frombuffer(ffi.buffer(info.v_realdata, n * 8), dtype=np.float64).copy()
            else:
                vectors[name] = np.empty(0)
        # ngspice lists vectors newest first; reversed, the order is the raw file's (scale first).
        return plot, dict(reversed(vectors.items()))

    def reset(self) -> None:
        """Forget the circuit and all plots, so runs neither interact nor accumulate memory."""
        for command in ("delete all", "remcirc", "destroy all"):
            try:
                self.command(command)
            except SimulationError:
                pass


def _shared_missing() -> bool:
    """True when the shared backend failed only because no library is installed (PySpice
    absent, or no libngspice found where none was named): nothing worth a notice."""
    return _SHARED_ENGINE is None and _SHARED_MISSING


def _engine_retired() -> bool:
    """True once the process's engine has been retired (it exited, or would not stop)."""
    engine = _SHARED_ENGINE
    return engine is not None and engine.dead is not None


def _shared_engine() -> _SharedEngine:
    """The process's :class:`_SharedEngine`, created on first use (failure is cached)."""
    global _SHARED_ENGINE, _SHARED_ERROR
    with _STATE_LOCK:
        if _SHARED_ENGINE is None and _SHARED_ERROR is None:
            try:
                _SHARED_ENGINE = _create_shared_engine()
            except SimulationError as exc:
                _SHARED_ERROR = str(exc)
        if _SHARED_ERROR is not None:
            raise NgspiceUnavailable(_SHARED_ERROR)  # a fresh exception: re-raising one grows its traceback
        assert _SHARED_ENGINE is not None
        if _SHARED_ENGINE.dead:
            raise NgspiceUnavailable(_SHARED_ENGINE.dead)
        return _SHARED_ENGINE


def _library_candidates(default: str) -> list[str]:
    chosen = os.environ.get(LIBNGSPICE_ENV)
    if chosen:
        return [chosen]  # the user's explicit choice: no fallback that would hide a wrong path
    candidates = [default.format("")]
    # Debian's runtime package (libngspice0) ships only libngspice.so.0; the unversioned
    # name PySpice asks for comes with libngspice0-dev.
    if "NGSPICE_LIBRARY_PATH" not in os.environ and sys.platform.startswith("linux"):
        candidates.append("libngspice.so.0")
    return candidates


def _create_shared_engine() -> _SharedEngine:
    """Start libngspice in this process, after the checks of :mod:`rnn2spice.spice.probe`:
    no user start-up file that ngspice would run, and a child process that started the
    same library and ran a netlist with it survived."""
    global _SHARED_MISSING
    try:
        from PySpice.Spice.NgSpice import Shared as pyspice_shared
    except Exception as exc:  # ImportError, or cffi/platform trouble inside PySpice
        _SHARED_MISSING = True
        raise NgspiceUnavailable(
            f"the 'shared' ngspice backend needs PySpice, which failed to import ({exc}); "
            "pip install PySpice, or use backend='subprocess'"
        ) from None

    candidates = _library_candidates(pyspice_shared.NgSpiceShared.LIBRARY_PATH or "libngspice{}.so")
    init_files = user_init_files()
    if init_files:
        raise NgspiceUnavailable(
            f"the ngspice shared library would run the commands of {init_files[0]} when it starts "
            "(it reads that file before it can be told not to); move the file away, or use "
            "backend='subprocess' (ngspice -b -n skips it)"
        )
    probe = probe_library(candidates)
    if probe.missing:
        _SHARED_MISSING = not _library_chosen()
        chosen = os.environ.get(LIBNGSPICE_ENV)
        if chosen:  # the user's choice: say which setting is wrong, not how to install ngspice
            raise NgspiceUnavailable(f"{LIBNGSPICE_ENV}={chosen!r} cannot be loaded as the ngspice shared library "
                                     f"({probe.problem}); point it at libngspice.so.0, or unset it")
        raise NgspiceUnavailable(f"cannot load the ngspice shared library ({probe.problem}); {_INSTALL_LIBNGSPICE}")
    if probe.problem is not None:
        named = f" ({LIBNGSPICE_ENV}={os.environ[LIBNGSPICE_ENV]!r})" if os.environ.get(LIBNGSPICE_ENV) else ""
        raise NgspiceUnavailable(f"the ngspice shared library {probe.path}{named} is not safe to load: {probe.problem}")
    library = probe.path

    cls = _quiet_ngspice_class(pyspice_shared)
    pyspice_logger = pyspice_shared.NgSpiceShared._logger
    version_filter = _DropUnsupportedVersion()
    pyspice_logger.addFilter(version_filter)  # PySpice 1.5 knows ngspice only up to 34
    try:
        ngspice = _init_in_empty_directory(cls, library, probe.scripts)
    except SimulationError:
        raise
    except Exception as exc:
        raise NgspiceUnavailable(f"cannot start the ngspice shared library {library}: {exc}") from None
    finally:
        pyspice_logger.removeFilter(version_filter)
    banner = "\n".join(text for _, text in ngspice.lines)
    match = re.search(r"ngspice-(\S+)", banner)
    version = match.group(1) if match else (probe.version or str(ngspice.ngspice_version or "unknown"))
    ngspice.lines.clear()
    return _SharedEngine(ngspice, pyspice_shared.ffi, version, klu=probe.klu, library=library)


def _library_chosen() -> bool:
    """True when the user named the library (so failing to load it deserves a notice)."""
    return bool(os.environ.get(LIBNGSPICE_ENV) or os.environ.get("NGSPICE_LIBRARY_PATH"))


def _init_in_empty_directory(cls, library: str, scripts: str | None):
    """``cls(library)`` (which calls ngSpice_Init) in an empty working directory, so that
    no ``./.spiceinit`` is sourced: ngspice would run its commands, ``shell`` included.
    (The home directory's one is refused before: :func:`~rnn2spice.spice.probe.user_init_files`.)
    ``scripts``: ``SPICE_SCRIPTS`` during the call (ngspice copies it), as in the child."""
    if CALL_NOSPICEINIT:
        nospiceinit = getattr(ctypes.CDLL(library), "ngSpice_nospiceinit", None)  # ngspice >= 44
        if nospiceinit is not None:
            nospiceinit()  # before ngSpice_Init, as sharedspice.h asks; the child survived it
    old_cwd = os.getcwd()
    set_scripts = scripts is not None and "SPICE_SCRIPTS" not in os.environ
    with scratch_dir(prefix="rnn2spice-ngspice-init-") as empty:
        os.chdir(empty)
        if set_scripts:
            os.environ["SPICE_SCRIPTS"] = scripts
        try:
            return cls(library)
        finally:
            if set_scripts:
                os.environ.pop("SPICE_SCRIPTS", None)
            os.chdir(old_cwd)


class _DropUnsupportedVersion(logging.Filter):
    """Drops PySpice's 'Unsupported Ngspice version NN' warning: harmless, and users can't act on it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unsupported Ngspice version")


_QUIET_CLASS = None


def _quiet_ngspice_class(pyspice_shared):
    """NgSpiceShared subclass that records ngspice's output instead of judging it."""
    global _QUIET_CLASS
    if _QUIET_CLASS is not None:
        return _QUIET_CLASS
    NgSpiceShared, ffi = pyspice_shared.NgSpiceShared, pyspice_shared.ffi

    class QuietNgSpiceShared(NgSpiceShared):
        def __init__(self, library_path: str):
            self.LIBRARY_PATH = library_path
            self.lines: list[tuple[str, str]] = []   # (stream, text) in arrival order
            self.exit_status: int | None = None
            self.background_done = threading.Event()
            self.status_fraction = 0.0  # progress of the current run as ngspice's status line says
            super().__init__(ngspice_id=0, send_data=False, verbose=False)

        def _load_library(self, verbose):
            # As PySpice does, minus a second ffi.cdef (which raises if the API is
            # already declared in this process).
            if not sys.platform.startswith("win"):
                locale.setlocale(locale.LC_NUMERIC, "C")  # ngspice parses numbers with strtod
            try:
                ffi.typeof("vector_info")
            except Exception:
                ffi.cdef((Path(pyspice_shared.__file__).parent / "api.h").read_text())
            self._ngspice_shared = ffi.dlopen(self.library_path)

        # Callbacks run in ngspice's threads: they must never raise.

        @staticmethod
        def _send_char(message_c, ngspice_id, user_data):
            try:
                self = ffi.from_handle(user_data)
                text = ffi.string(message_c).decode("utf-8", "replace")
                if text.endswith("\r") or _PROGRESS.match(text):
                    return 0  # progress meter, sent without the stream prefix
                stream, _, content = text.partition(" ")
                if stream not in ("stdout", "stderr"):
                    stream, content = "stdout", text
                content = content.rstrip("\n")
                self.lines.append((stream, content))
                # PySpice's own parsers (version) read these; its error flags stay unset.
                (self._stderr if stream == "stderr" else self._stdout).append(content)
            except Exception:
                pass
            return 0

        @staticmethod
        def _send_stat(message_c, ngspice_id, user_data):
            # ngspice's status line, e.g. 'tran: 45.2%' (at most every ~0.1 s), '--ready--'.
            try:
                self = ffi.from_handle(user_data)
                match = _STATUS_PERCENT.search(ffi.string(message_c).decode("utf-8", "replace"))
                if match:
                    self.status_fraction = max(self.status_fraction, min(float(match.group(1)) / 100.0, 1.0))
            except Exception:
                pass
            return 0

        @staticmethod
        def _exit(exit_status, immediate_unloading, quit_exit, ngspice_id, user_data):
            try:
                self = ffi.from_handle(user_data)
                self.exit_status = int(exit_status)
                self.lines.append(("stderr", f"ngspice requested exit with status {int(exit_status)}"))
                self.background_done.set()
            except Exception:
                pass
            return 0

        @staticmethod
        def _background_thread_running(not_running, ngspice_id, user_data):
            # ngspice passes True when the background thread has *stopped*.
            try:
                self = ffi.from_handle(user_data)
                self._is_running = not not_running
                if not_running:
                    self.background_done.set()
            except Exception:
                pass
            return 0

    _QUIET_CLASS = QuietNgSpiceShared
    return QuietNgSpiceShared


def _run_shared(netlist: str, netlist_path: Path | None, timeout: float | None,
                progress: Callable[[float], None] | None = None) -> tuple[dict[str, np.ndarray], str, str]:
    """Run ``netlist`` in libngspice: (normalised vectors, ngspice version, log text).

    ``progress(fraction)`` is called in this thread while waiting, with the fraction ngspice's
    status line reports (not throttled or made monotone here: :mod:`rnn2spice.spice.ngspice` does).

    Raises :class:`SimulationError` on any failure (``netlist_path`` is only quoted)."""
    engine = _shared_engine()
    ngspice = engine.ngspice
    with _SHARED_LOCK:
        ngspice.lines.clear()
        ngspice.exit_status = None
        timed_out, ended, why = False, "done", ""
        plot, raw = "", {}
        try:
            try:
                ngspice.load_circuit(netlist)
            except NameError as exc:  # non-zero return of ngSpice_Circ
                ngspice.lines.append(("stderr", f"Error: {exc}"))
            # A rejected netlist leaves no circuit: 'run' would only add a confusing line.
            loaded = not _fatal_lines([t for _, t in ngspice.lines]) and ngspice.exit_status is None
            if loaded:
                ended, why = _run_in_background(engine, timeout, progress, _tran_stop(netlist))
                timed_out = ended == "timeout"
                if ended == "done" and ngspice.exit_status is None:
                    plot, raw = engine.vectors_of_current_plot()
        finally:
            lines = [text for _, text in ngspice.lines]
            if ngspice.exit_status is not None:
                # ngspice unwound its state for exit: it cannot be trusted again in this process.
                engine.dead = (
                    f"the ngspice shared library exited (status {ngspice.exit_status}) and cannot be "
                    "reused in this process; use backend='subprocess'"
                )
            elif engine.stuck:
                # bg_halt did not stop ngspice's thread: resetting under it could crash the process
                engine.dead = (
                    f"the ngspice shared library did not stop within {_BG_STOP_WAIT:g} s of bg_halt and "
                    "cannot be reused in this process; use backend='subprocess'"
                )
            else:
                engine.reset()
            ngspice.lines.clear()

    if ended == "points":
        raise BudgetExceeded("ngspice", "points", f"time points: {why}")
    if ended == "seconds":
        raise BudgetExceeded("ngspice", "seconds", why or f"still running after {budget('seconds'):g} s")
    if timed_out:
        raise SimulationError(
            f"ngspice did not finish within {timeout:g} s", netlist_path=netlist_path, ngspice_message=_excerpt(lines)
        )
    if engine.dead:
        raise SimulationError(engine.dead, netlist_path=netlist_path, ngspice_message=_excerpt(lines))
    _check_output(lines, raw, plot_ok=plot not in ("", "const"), netlist_path=netlist_path)
    return finish_vectors(raw), engine.version, "\n".join(lines)


def _time_points(engine: _SharedEngine) -> tuple[int, float]:
    """(points, last time) of the current plot's ``time`` vector; only while ngspice is paused
    or done (its background thread grows the vectors)."""
    lib, ffi = engine.ngspice._ngspice_shared, engine.ffi
    info = lib.ngGet_Vec_Info(b"time")
    if info == ffi.NULL or info.v_realdata == ffi.NULL or info.v_length < 1:
        return 0, 0.0
    n = int(info.v_length)
    return n, float(info.v_realdata[n - 1])


def _run_in_background(engine: _SharedEngine, timeout: float | None,
                       progress: Callable[[float], None] | None = None,
                       t_stop: float | None = None) -> tuple[str, str]:
    """Run in ngspice's background thread so that it can be halted (time limit, Ctrl-C):
    ``('done', '')`` when it ended by itself, ``('timeout', '')`` after ``timeout`` s,
    ``('seconds', why)`` after the seconds budget or projected beyond it at a pause (why: the
    projection, empty at the deadline), ``('points', why)`` beyond the points
    budget: ngspice itself pauses the run (its ``stop after N`` condition counts output
    points) at PROJECT_AFTER of the budget, where the run's projection is judged (points /
    fraction of ``t_stop`` done: :func:`~rnn2spice.errors.over_points_budget`) and it is
    resumed to stop at the budget itself.  Any exception while waiting (KeyboardInterrupt,
    or raised by ``progress``) halts the run first and is then re-raised."""
    ngspice = engine.ngspice
    lib = ngspice._ngspice_shared
    ngspice.background_done.clear()
    ngspice.status_fraction = 0.0
    limit = int(budget("points"))
    # pauses: SECONDS_CHECK_AFTER of the points budget (the seconds projection), PROJECT_AFTER
    # (the points projection, and seconds again), the budget itself
    pauses = sorted({max(1, int(SECONDS_CHECK_AFTER * limit)), max(1, int(PROJECT_AFTER * limit)), limit}
                    if t_stop else {limit})
    checkpoint = pauses[0]
    engine.command("delete all")  # no stop condition left from an earlier run
    engine.command(f"stop after {checkpoint}")
    engine.command("bg_run")
    now = time.monotonic()
    limits = [(now + budget("seconds"), "seconds")] + ([] if timeout is None else [(now + timeout, "timeout")])
    deadline, why = min(limits)
    idle = 0
    slice_ = _WAIT_SLICE if progress is None else _PROGRESS_SLICE
    try:
        while True:
            wait = min(slice_, deadline - time.monotonic())
            if wait <= 0:
                break
            ended = ngspice.background_done.wait(wait)
            if not ended:
                if progress is not None:
                    progress(ngspice.status_fraction)
                # never started, or ended without the callback: do not wait forever
                idle = idle + 1 if not lib.ngSpice_running() else 0
                ended = idle * slice_ >= 2 * _WAIT_SLICE
            if not ended:
                continue
            if not any(_STOPPED_AFTER.search(text) for _, text in ngspice.lines):
                return "done", ""
            # paused by the stop condition: at the budget, or at a checkpoint before it
            count, last = _time_points(engine)
            fraction = last / t_stop if t_stop else 0.0
            seconds = _seconds_projection(time.monotonic() - now, fraction)
            if seconds is not None:
                return "seconds", seconds
            reason = over_points_budget(count, fraction)
            if reason is not None or checkpoint >= limit:
                return "points", reason or f"more than {limit} points"
            checkpoint = next(p for p in pauses if p > checkpoint)
            # the pause's own lines are not the run's: a completed run must not read as interrupted
            ngspice.lines[:] = [(k, t) for k, t in ngspice.lines if not _PAUSE_LINES.search(t)]
            ngspice.background_done.clear()
            engine.command("delete all")
            engine.command(f"stop after {checkpoint}")
            engine.command("bg_resume")
            idle = 0
    except BaseException:
        _halt(engine)
        raise
    _halt(engine)
    return why, ""


def _seconds_projection(elapsed: float, fraction: float) -> str | None:
    """Why a run ``elapsed`` s in, at ``fraction`` of t_stop, goes beyond the seconds budget by
    its projection (elapsed / fraction: the average rate since the start, the operating point
    included), or None; judged once SECONDS_PROJECT_AFTER s have passed.  A circuit whose
    points are costly (a transistor build driven by a fast sine: 100,000 points took 87-104 s,
    0.25-1.4 % of its run) is stopped at its first pause, not at the points projection."""
    if elapsed < SECONDS_PROJECT_AFTER or not 0 < fraction < 1:
        return None
    limit = budget("seconds")
    if elapsed / fraction <= limit:
        return None
    return f"{elapsed:.3g} s at {100 * fraction:.3g} % of the run, projected {elapsed / fraction:.3g} s"


def _halt(engine: _SharedEngine) -> None:
    """Ask ngspice's background thread to stop and wait for it; mark the engine stuck if not."""
    engine.command("bg_halt")
    if not engine.ngspice.background_done.wait(_BG_STOP_WAIT) and engine.ngspice._ngspice_shared.ngSpice_running():
        engine.stuck = True
