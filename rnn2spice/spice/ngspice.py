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
``backend='auto'``, and if a halted shared run does not stop within ``_BG_STOP_WAIT``
the engine is retired (never reset under a running thread) and later runs use the binary.
If ngspice asks to exit (``quit``, fatal internal errors) the engine is retired likewise.

Failure is decided here, not by PySpice: PySpice 1.5 treats every line ngspice writes on
stderr as an error (PySpice issues #379, #392) and raises exceptions with empty
messages.  We collect ngspice's lines ourselves and raise :class:`SimulationError`
carrying the relevant ones and the netlist path.

Vector names are normalised for both backends: ``'time'`` (s) or ``'frequency'`` (Hz),
node voltages ``'v(h0)'`` (V), branch currents ``'i(vs_0)'`` (A).
"""

from __future__ import annotations

import ctypes
import locale
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn2spice.errors import SimulationError, UsageError

__all__ = ["SimulationResult", "available_backends", "ngspice_version", "simulate_netlist"]

BACKENDS = ("shared", "subprocess")

#: Name (or path) of the ngspice executable used by the 'subprocess' backend.
_NGSPICE_COMMAND = "ngspice"

_INSTALL_NGSPICE = "install it with `apt-get install ngspice` (Debian/Ubuntu)"
_INSTALL_LIBNGSPICE = (
    "install it with `apt-get install libngspice0-dev` (Debian/Ubuntu; provides libngspice.so), "
    "or set NGSPICE_LIBRARY_PATH to the library file, or use backend='subprocess'"
)


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
        if backend == "shared":
            return _run_shared(netlist, path, timeout)
        return _run_subprocess(netlist, path, timeout)
    except SimulationError as exc:
        if path is not None:
            raise
        raise _with_saved_netlist(exc, netlist) from None


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

_STATE_LOCK = threading.Lock()       # guards the caches below
_AUTO_BACKEND: str | None = None
_SHARED_ENGINE: "_SharedEngine | None" = None
_SHARED_ERROR: str | None = None   # why the shared backend cannot start
_BINARY_VERSIONS: dict[str, str] = {}


def _resolve_backend(backend: str) -> str:
    global _AUTO_BACKEND
    if backend in BACKENDS:
        return backend
    if backend != "auto":
        raise UsageError(f"unknown simulator backend {backend!r}; choose one of 'auto', 'shared', 'subprocess'")
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


# --------------------------------------------------------------------------- failure detection

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
    r"|Shared ngspice|Text \(code\)|Stack =|Library pages)",
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


# --------------------------------------------------------------------------- vector names


def _normalise_name(name: str) -> str:
    """'V(h0)' / 'h0' -> 'v(h0)'; 'vs_0#branch' / 'I(vs_0)' -> 'i(vs_0)'; scales unchanged."""
    key = name.strip().lower()
    if key in ("time", "frequency") or key.startswith("@"):
        return key
    if key.endswith("#branch"):
        return f"i({key[: -len('#branch')]})"
    if re.fullmatch(r"[vi]\(.+\)", key):
        return key
    return f"v({key})"


def _finish_vectors(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Normalise names and dtypes; every array is an owned copy."""
    vectors: dict[str, np.ndarray] = {}
    for name, values in raw.items():
        key = _normalise_name(name)
        if key == "frequency":
            # ngspice stores the AC scale as complex with an undefined imaginary part
            # (garbage in binary raw files): keep the real frequency only.
            vectors[key] = np.array(np.real(values), dtype=np.float64)
        elif np.iscomplexobj(values):
            vectors[key] = np.array(values, dtype=np.complex128)
        else:
            vectors[key] = np.array(values, dtype=np.float64)
    return vectors


# --------------------------------------------------------------------------- shared backend

_SHARED_LOCK = threading.Lock()  # libngspice is one global state machine per process
_BG_STOP_WAIT = 30.0             # s to wait for ngspice's background thread after bg_halt
_WAIT_SLICE = 0.25               # s between checks while waiting for a background run


class _SharedEngine:
    """The process's libngspice instance (via PySpice) and what it printed."""

    def __init__(self, ngspice, ffi, version: str):
        self.ngspice = ngspice
        self.ffi = ffi
        self.version = version
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
        for command in ("remcirc", "destroy all"):
            try:
                self.command(command)
            except SimulationError:
                pass


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
            raise SimulationError(_SHARED_ERROR)  # a fresh exception: re-raising one grows its traceback
        assert _SHARED_ENGINE is not None
        if _SHARED_ENGINE.dead:
            raise SimulationError(_SHARED_ENGINE.dead)
        return _SHARED_ENGINE


def _library_candidates(default: str) -> list[str]:
    candidates = [default.format("")]
    # Debian's runtime package (libngspice0) ships only libngspice.so.0; the unversioned
    # name PySpice asks for comes with libngspice0-dev.
    if "NGSPICE_LIBRARY_PATH" not in os.environ and sys.platform.startswith("linux"):
        candidates.append("libngspice.so.0")
    return candidates


def _create_shared_engine() -> _SharedEngine:
    try:
        from PySpice.Spice.NgSpice import Shared as pyspice_shared
    except Exception as exc:  # ImportError, or cffi/platform trouble inside PySpice
        raise SimulationError(
            f"the 'shared' ngspice backend needs PySpice, which failed to import ({exc}); "
            "pip install PySpice, or use backend='subprocess'"
        ) from None

    problems = []
    library = None
    for candidate in _library_candidates(pyspice_shared.NgSpiceShared.LIBRARY_PATH or "libngspice{}.so"):
        try:
            ctypes.CDLL(candidate)
        except OSError as exc:
            problems.append(str(exc))
        else:
            library = candidate
            break
    if library is None:
        raise SimulationError(
            f"cannot load the ngspice shared library ({'; '.join(problems)}); {_INSTALL_LIBNGSPICE}"
        )

    cls = _quiet_ngspice_class(pyspice_shared)
    pyspice_logger = pyspice_shared.NgSpiceShared._logger
    version_filter = _DropUnsupportedVersion()
    pyspice_logger.addFilter(version_filter)  # PySpice 1.5 knows ngspice only up to 34
    try:
        ngspice = _init_without_spiceinit(cls, library)
    except SimulationError:
        raise
    except Exception as exc:
        raise SimulationError(f"cannot start the ngspice shared library {library}: {exc}") from None
    finally:
        pyspice_logger.removeFilter(version_filter)
    banner = "\n".join(text for _, text in ngspice.lines)
    match = re.search(r"ngspice-(\S+)", banner)
    version = match.group(1) if match else str(ngspice.ngspice_version or "unknown")
    ngspice.lines.clear()
    return _SharedEngine(ngspice, pyspice_shared.ffi, version)


def _init_without_spiceinit(cls, library: str):
    """``cls(library)`` (which calls ngSpice_Init) such that no ``.spiceinit`` of the
    current directory is sourced: ngspice would run its commands, ``shell`` included."""
    try:
        nospiceinit = getattr(ctypes.CDLL(library), "ngSpice_nospiceinit", None)  # ngspice >= 40
    except OSError:
        nospiceinit = None
    if nospiceinit is not None:
        nospiceinit()
    old_cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="rnn2spice-ngspice-init-") as empty:
        os.chdir(empty)
        try:
            return cls(library)
        finally:
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


def _run_shared(netlist: str, netlist_path: Path | None, timeout: float | None) -> SimulationResult:
    global _AUTO_BACKEND
    engine = _shared_engine()
    ngspice = engine.ngspice
    with _SHARED_LOCK:
        ngspice.lines.clear()
        ngspice.exit_status = None
        timed_out = False
        plot, raw = "", {}
        try:
            try:
                ngspice.load_circuit(netlist)
            except NameError as exc:  # non-zero return of ngSpice_Circ
                ngspice.lines.append(("stderr", f"Error: {exc}"))
            # A rejected netlist leaves no circuit: 'run' would only add a confusing line.
            loaded = not _fatal_lines([t for _, t in ngspice.lines]) and ngspice.exit_status is None
            if loaded:
                timed_out = _run_in_background(engine, timeout)
                if not timed_out and ngspice.exit_status is None:
                    plot, raw = engine.vectors_of_current_plot()
        finally:
            lines = [text for _, text in ngspice.lines]
            if ngspice.exit_status is not None:
                # ngspice unwound its state for exit: it cannot be trusted again in this process.
                engine.dead = (
                    f"the ngspice shared library exited (status {ngspice.exit_status}) and cannot be "
                    "reused in this process; use backend='subprocess'"
                )
                _AUTO_BACKEND = None
            elif engine.stuck:
                # bg_halt did not stop ngspice's thread: resetting under it could crash the process
                engine.dead = (
                    f"the ngspice shared library did not stop within {_BG_STOP_WAIT:g} s of bg_halt and "
                    "cannot be reused in this process; use backend='subprocess'"
                )
                _AUTO_BACKEND = None
            else:
                engine.reset()
            ngspice.lines.clear()

    if timed_out:
        raise SimulationError(
            f"ngspice did not finish within {timeout:g} s", netlist_path=netlist_path, ngspice_message=_excerpt(lines)
        )
    if engine.dead:
        raise SimulationError(engine.dead, netlist_path=netlist_path, ngspice_message=_excerpt(lines))
    _check_output(lines, raw, plot_ok=plot not in ("", "const"), netlist_path=netlist_path)
    return SimulationResult(
        vectors=_finish_vectors(raw),
        backend="shared",
        ngspice_version=engine.version,
        log="\n".join(lines),
        netlist_path=netlist_path,
    )


def _run_in_background(engine: _SharedEngine, timeout: float | None) -> bool:
    """Run in ngspice's background thread so that it can be halted (time limit, Ctrl-C);
    True if it timed out.  Any exception while waiting (KeyboardInterrupt) halts the run
    first and is then re-raised."""
    ngspice = engine.ngspice
    lib = ngspice._ngspice_shared
    ngspice.background_done.clear()
    engine.command("bg_run")
    deadline = None if timeout is None else time.monotonic() + timeout
    idle = 0
    try:
        while True:
            wait = _WAIT_SLICE if deadline is None else min(_WAIT_SLICE, deadline - time.monotonic())
            if wait <= 0:
                break
            if ngspice.background_done.wait(wait):
                return False
            # never started, or ended without the callback: do not wait forever
            idle = idle + 1 if not lib.ngSpice_running() else 0
            if idle >= 2:
                return False
    except BaseException:
        _halt(engine)
        raise
    _halt(engine)
    return True


def _halt(engine: _SharedEngine) -> None:
    """Ask ngspice's background thread to stop and wait for it; mark the engine stuck if not."""
    engine.command("bg_halt")
    if not engine.ngspice.background_done.wait(_BG_STOP_WAIT) and engine.ngspice._ngspice_shared.ngSpice_running():
        engine.stuck = True


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


# --------------------------------------------------------------------------- subprocess backend


def _ngspice_executable(netlist_path: Path | None) -> str:
    found = shutil.which(_NGSPICE_COMMAND)
    if found is None:
        raise SimulationError(f"the ngspice program ({_NGSPICE_COMMAND!r}) is not on PATH; {_INSTALL_NGSPICE}",
                              netlist_path=netlist_path)
    return found


def _binary_version(executable: str) -> str:
    with _STATE_LOCK:
        if executable not in _BINARY_VERSIONS:
            try:
                done = subprocess.run([executable, "-v"], capture_output=True, text=True, errors="replace",
                                      stdin=subprocess.DEVNULL, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SimulationError(f"cannot run {executable} -v: {exc}") from None
            match = re.search(r"ngspice-(\S+)", done.stdout + done.stderr)
            _BINARY_VERSIONS[executable] = match.group(1) if match else "unknown"
        return _BINARY_VERSIONS[executable]


def _as_text(data) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


def _run_subprocess(netlist: str, netlist_path: Path | None, timeout: float | None) -> SimulationResult:
    executable = _ngspice_executable(netlist_path)
    version = _binary_version(executable)
    with tempfile.TemporaryDirectory(prefix="rnn2spice-ngspice-") as tmp:
        circuit_file = Path(tmp) / "circuit.cir"
        raw_file = Path(tmp) / "circuit.raw"
        circuit_file.write_text(netlist, encoding="utf-8")
        try:
            done = subprocess.run(
                [executable, "-b", "-n", "-r", str(raw_file), str(circuit_file)],  # -n: no .spiceinit
                cwd=tmp, capture_output=True, text=True, errors="replace",
                stdin=subprocess.DEVNULL, timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:  # run() has already killed ngspice
            lines = _clean_lines(_as_text(exc.stdout)) + _clean_lines(_as_text(exc.stderr))
            raise SimulationError(f"ngspice did not finish within {timeout:g} s", netlist_path=netlist_path,
                                  ngspice_message=_excerpt(lines)) from None
        except OSError as exc:
            raise SimulationError(f"cannot run {executable}: {exc}", netlist_path=netlist_path) from None
        lines = _clean_lines(done.stdout) + _clean_lines(done.stderr)
        log = "\n".join(lines)
        if done.returncode < 0:
            try:
                name = signal.Signals(-done.returncode).name
            except ValueError:
                name = f"signal {-done.returncode}"
            raise SimulationError(f"ngspice was killed by {name}", netlist_path=netlist_path,
                                  ngspice_message=_excerpt(lines))
        if _fatal_lines(lines) or done.returncode != 0:
            summary = _failure_summary(lines)
            if done.returncode != 0:
                summary += f" (exit status {done.returncode})"
            raise SimulationError(summary, netlist_path=netlist_path, ngspice_message=_excerpt(lines))
        if not raw_file.exists():
            raise SimulationError("ngspice wrote no raw file (is there a .tran or .ac line?)",
                                  netlist_path=netlist_path, ngspice_message=_excerpt(lines))
        try:
            plots = _parse_raw(raw_file.read_bytes())
        except ValueError as exc:
            raise SimulationError(f"cannot read ngspice's raw file: {exc}", netlist_path=netlist_path,
                                  ngspice_message=_excerpt(lines)) from None
    raw = plots[-1][1] if plots else {}
    _check_output(lines, raw, plot_ok=bool(plots), netlist_path=netlist_path)
    return SimulationResult(
        vectors=_finish_vectors(raw),
        backend="subprocess",
        ngspice_version=version,
        log=log,
        netlist_path=netlist_path,
    )


def _parse_raw(data: bytes) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Plots of a SPICE raw file (binary or ascii) as ``[(plotname, {name: array})]``.

    Binary data is float64 little-endian, point-major; complex plots store (re, im) pairs
    for every variable.  Names are returned as the file spells them.
    """
    plots = []
    pos = 0
    while pos < len(data):
        if not data[pos:].strip():
            break
        header: dict[str, str] = {}
        names: list[str] = []
        mode = None
        while mode is None:
            end = data.find(b"\n", pos)
            if end < 0:
                raise ValueError("raw file header ends before 'Binary:' or 'Values:'")
            line = data[pos:end].decode("latin-1").rstrip("\r")
            pos = end + 1
            if not line.strip():
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "variables":
                count = _header_int(header, "no. variables")
                first = value.split()
                if first:
                    names.append(first[1])
                while len(names) < count:
                    end = data.find(b"\n", pos)
                    if end < 0:
                        raise ValueError("raw file ends inside the variable list")
                    parts = data[pos:end].decode("latin-1").split()
                    pos = end + 1
                    if parts:
                        if len(parts) < 2:
                            raise ValueError(f"bad variable line {parts!r}")
                        names.append(parts[1])
            elif key in ("binary", "values"):
                mode = key
            else:
                header[key] = value.strip()
        count = len(names)
        points = _header_int(header, "no. points")
        is_complex = "complex" in header.get("flags", "").lower()
        width = 2 if is_complex else 1
        if mode == "binary":
            n_values = points * count * width
            if pos + 8 * n_values > len(data):
                raise ValueError(f"binary data shorter than {points} points x {count} variables")
            table = np.frombuffer(data, dtype="<f8", count=n_values, offset=pos).reshape(points, count, width)
            pos += 8 * n_values
        else:
            end = data.find(b"\nTitle:", pos)
            end = len(data) if end < 0 else end + 1
            tokens = data[pos:end].decode("latin-1").split()
            pos = end
            if len(tokens) != points * (count + 1):
                raise ValueError(f"ascii data has {len(tokens)} fields, expected {points * (count + 1)}")
            table = np.empty((points, count, width))
            for p in range(points):
                for k, token in enumerate(tokens[p * (count + 1) + 1 : (p + 1) * (count + 1)]):
                    table[p, k, :] = [float(x) for x in token.split(",")][:width]
        vectors: dict[str, np.ndarray] = {}
        for k, name in enumerate(names):
            if is_complex:
                vectors[name] = table[:, k, 0] + 1j * table[:, k, 1]
            else:
                vectors[name] = table[:, k, 0].copy()
        plots.append((header.get("plotname", ""), vectors))
    return plots


def _header_int(header: dict[str, str], key: str) -> int:
    try:
        return int(header[key].split()[0])
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"raw file header lacks a valid {key!r} line") from None
