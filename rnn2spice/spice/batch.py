"""The ``'subprocess'`` backend: ``ngspice -b`` in a temporary directory, raw file parsed here.

Slower than the shared library, but isolated and killable (``timeout``), and it needs only
the ngspice binary: ``$RNN2SPICE_NGSPICE`` (a name looked up on PATH, or a path), read at
every call, else ``ngspice``.  It may be a wrapper script (an unpacked older ngspice that
needs ``LD_LIBRARY_PATH`` or ``SPICE_SCRIPTS``, see ``scripts/setup.sh``) as long as it
passes its arguments on; it runs with ``-b -n`` (batch, no ``.spiceinit``).

Budgets (:data:`rnn2spice.errors.BUDGETS`): ``ngspice -b -r`` writes its binary raw file as
it goes, so the time points of a running ``.tran`` are counted from the file's size (header,
then 8 bytes per variable and point); beyond the ``points`` budget, or after the ``seconds``
budget, ngspice is killed and :class:`~rnn2spice.errors.BudgetExceeded` says which budget
ended it and how to raise it.

Cleanup: ngspice is started with a parent-death signal (:func:`die_with_parent`), so that it
does not outlive a parent that was killed (SIGKILL leaves no chance to kill it); any exception
while it runs (KeyboardInterrupt, SystemExit from a SIGTERM handler) kills it and the
temporary directory is removed by its ``with`` block.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import sys
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from rnn2spice.errors import BudgetExceeded, NgspiceUnavailable, SimulationError, budget, over_points_budget
from rnn2spice.spice.log import _check_output, _clean_lines, _excerpt, _failure_summary, _fatal_lines, signal_name
from rnn2spice.spice.rawfile import finish_vectors, parse_raw
from rnn2spice.spice.scratch import scratch_dir

#: Environment variable naming the ngspice executable (a name on PATH, or a path).
NGSPICE_ENV = "RNN2SPICE_NGSPICE"
_DEFAULT_NGSPICE = "ngspice"

_INSTALL_HOW = "`apt-get install ngspice` on Debian/Ubuntu"
_INSTALL_NGSPICE = "install it with `apt-get install ngspice` (Debian/Ubuntu)"

_VERSION_LOCK = threading.Lock()  # guards the cache below
_BINARY_VERSIONS: dict[tuple, tuple[str, bool]] = {}


def _ngspice_command() -> str:
    """Name or path of the ngspice executable: ``$RNN2SPICE_NGSPICE``, else ``ngspice``."""
    return os.environ.get(NGSPICE_ENV) or _DEFAULT_NGSPICE


def _chosen() -> str:
    """How a message names the binary the user chose: ``RNN2SPICE_NGSPICE='...'``, or ``""``
    when the variable is unset (then ``ngspice`` on PATH is ours to look for)."""
    value = os.environ.get(NGSPICE_ENV)
    return f"{NGSPICE_ENV}={value!r}" if value else ""


def _not_runnable(command: str) -> str:
    """Why ``command`` (the value of RNN2SPICE_NGSPICE, which shutil.which did not accept)
    cannot be run, in a few words."""
    if os.sep not in command and not (os.altsep and os.altsep in command):
        return "names a program that is not on PATH"
    if not os.path.lexists(command):
        return "is a path where there is no file"
    if os.path.isdir(command):
        return "is a directory, not a program"
    if not os.path.exists(command):
        return "is a symbolic link to nothing"
    return "is a file that may not be executed (no execute permission)"


def _ngspice_executable(netlist_path: Path | None) -> str:
    command = _ngspice_command()
    found = shutil.which(command)
    if found is None:
        if _chosen():
            raise NgspiceUnavailable(f"{_chosen()} {_not_runnable(command)}; point it at the ngspice binary, or unset "
                                     f"it to use ngspice from PATH (to install ngspice: {_INSTALL_HOW})",
                                     netlist_path=netlist_path)
        raise NgspiceUnavailable(f"the ngspice program ({command!r}) is not on PATH; {_INSTALL_NGSPICE}",
                                 netlist_path=netlist_path)
    return found


def _binary_info(executable: str) -> tuple[str, bool]:
    """(version, KLU compiled in) of the binary, as ``ngspice -v`` reports them; cached per
    file (path, mtime, size).  Whether a run really used KLU is read from its own log.

    A binary that cannot be started, or one the user chose (RNN2SPICE_NGSPICE) whose ``-v``
    does not say ngspice (a script that is not a wrapper of it, ``/bin/true``), is
    :class:`NgspiceUnavailable` naming the variable and its value: otherwise the first sign
    would be a baffling failure of the run itself."""
    try:
        st = os.stat(executable)
        key = (executable, st.st_mtime_ns, st.st_size)
    except OSError:
        key = (executable, None, None)
    chosen = _chosen()
    with _VERSION_LOCK:
        if key not in _BINARY_VERSIONS:
            try:
                done = subprocess.run([executable, "-v"], capture_output=True, text=True, errors="replace",
                                      stdin=subprocess.DEVNULL, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise NgspiceUnavailable(f"{chosen} cannot be run ({executable} -v: {why}); point it at the ngspice "
                                         "binary, or unset it" if chosen
                                         else f"cannot run {executable} -v: {why}") from None
            text = done.stdout + done.stderr
            match = re.search(r"ngspice-(\S+)", text)
            if chosen and match is None and re.search(r"ngspice", text, re.IGNORECASE) is None:
                said = " ".join(text.split())[:80]
                raise NgspiceUnavailable(f"{chosen} does not run ngspice: `{executable} -v` exited with status "
                                         f"{done.returncode} and " + (f"printed {said!r}" if said else "printed nothing")
                                         + "; point it at the ngspice binary (or a wrapper that passes its arguments "
                                         "on), or unset it")
            klu = re.search(r"compiled with KLU\b", text, re.IGNORECASE) is not None
            _BINARY_VERSIONS[key] = (match.group(1) if match else "unknown", klu)
        return _BINARY_VERSIONS[key]


def _binary_version(executable: str) -> str:
    return _binary_info(executable)[0]


def _as_text(data) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data


# ngspice -b writes the simulated time of a .tran run about every 0.25 s, flushed, each
# ended by '\r': " Reference value :  2.67953e-04" -- on stdout (46), on stderr (39).
_REFERENCE_VALUE = re.compile(rb"Reference value\s*:\s*([-+0-9.eE]+)")
_TRAN_LINE = re.compile(r"^\s*\.tran\s+(\S+)\s+(\S+)", re.IGNORECASE | re.MULTILINE)
_SPICE_NUMBER = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)(meg|mil|[tgkmunpfa])?", re.IGNORECASE)
_SCALE = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "m": 1e-3, "mil": 25.4e-6, "u": 1e-6, "n": 1e-9,
          "p": 1e-12, "f": 1e-15, "a": 1e-18}
_PROGRESS_SLICE = 0.1  # s between progress reports while ngspice runs


def _tran_stop(netlist: str) -> float | None:
    """The stop time of the netlist's ``.tran`` line (s), or None (no .tran, or unreadable)."""
    match = _TRAN_LINE.search(netlist)
    number = _SPICE_NUMBER.match(match.group(2)) if match else None
    if number is None:
        return None
    suffix = (number.group(2) or "").lower()
    value = float(number.group(1)) * _SCALE.get(suffix, 1.0)
    return value if value > 0 else None


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it
except (AttributeError, OSError):  # not Linux
    _PRCTL = None


def die_with_parent() -> None:
    """In a child process before exec (``preexec_fn``): ask the kernel to SIGKILL it when the
    thread that started it ends (the parent killed by SIGKILL, which leaves no chance to kill
    its children), and end now if the parent is already gone.  Linux only; elsewhere nothing.
    Only an async-signal-safe system call runs here (no import, no lock)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:
            os._exit(1)


#: util-linux's setpriv sets the parent-death signal and execs the command: the same effect as
#: die_with_parent as a ``preexec_fn``, without running Python between fork and exec (unsafe in
#: a process with threads: it printed "Exception ignored in: _after_fork" tracebacks).
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


def with_parent_death(args: list) -> list:
    """``args`` run so that the child is SIGKILLed when this process dies (the parent killed by
    SIGKILL leaves no chance to kill its children); unchanged where setpriv is missing."""
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *args] if _SETPRIV else list(args)


def popen_kwargs() -> dict:
    """The Popen arguments every ngspice child gets (spice/ starts all of them): none now, the
    parent-death signal comes from :func:`with_parent_death` (no ``preexec_fn``)."""
    return {}


class _RawPoints:
    """Time points in a growing binary raw file (``ngspice -b -r``), from its size."""

    def __init__(self, path: Path | None):
        self.path = path
        self.start = self.width = None

    def count(self) -> int:
        if self.path is None:
            return 0
        try:
            size = self.path.stat().st_size
            if self.start is None:
                with open(self.path, "rb") as fh:
                    head = fh.read(65536)
                at = head.find(b"Binary:\n")
                found = re.search(rb"No\. Variables:\s*(\d+)", head)
                if at < 0 or found is None:
                    return 0
                complex_ = re.search(rb"Flags:\s*complex", head) is not None
                self.start, self.width = at + len(b"Binary:\n"), int(found.group(1)) * (16 if complex_ else 8)
            return max(0, size - self.start) // max(self.width, 1)
        except (OSError, ValueError):
            return 0


def _run_reporting(command: list[str], cwd: str, timeout: float | None, t_stop: float | None,
                   progress: Callable[[float], None], raw_file: Path | None = None) -> subprocess.CompletedProcess:
    """As ``subprocess.run(command, capture_output=True, text=True, ...)``, calling
    ``progress(simulated time / t_stop)`` in this thread while ngspice runs (the last
    "Reference value" it printed on either stream; 0 when ``t_stop`` is None).  Raises
    ``subprocess.TimeoutExpired`` (with the output so far) after killing ngspice; any
    exception from ``progress`` (or KeyboardInterrupt) kills ngspice and is re-raised.
    Beyond the ``points`` budget (points in ``raw_file``) or the ``seconds`` budget, ngspice
    is killed and :class:`BudgetExceeded` raised."""
    max_seconds = budget("seconds")
    points = _RawPoints(raw_file)
    proc = subprocess.Popen(with_parent_death(command), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, **popen_kwargs())
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}
    latest = [0.0]

    def drain(stream, key: str) -> None:
        while True:
            data = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not data:
                return
            chunks[key].append(data)
            if t_stop is not None:
                values = _REFERENCE_VALUE.findall(data)
                if values:
                    try:
                        latest[0] = float(values[-1]) / t_stop
                    except ValueError:
                        pass

    readers = [threading.Thread(target=drain, args=(proc.stdout, "out"), daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, "err"), daemon=True)]
    for reader in readers:
        reader.start()
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    timed_out = False
    try:
        while True:
            wait = _PROGRESS_SLICE if deadline is None else min(_PROGRESS_SLICE, deadline - time.monotonic())
            if wait <= 0:
                timed_out = True
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                progress(latest[0])
            where = f" at {100 * latest[0]:.3g} % of the run" if latest[0] > 0 else ""
            count = points.count()
            if (why := over_points_budget(count, latest[0])) is not None:
                raise BudgetExceeded("ngspice", "points", f"time points: {why}")
            if time.monotonic() - started > max_seconds:
                raise BudgetExceeded("ngspice", "seconds", f"still running after {max_seconds:g} s{where} "
                                     f"({count} time points)")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if timed_out:
            proc.kill()
        proc.wait()
        for reader in readers:
            reader.join()
        proc.stdout.close()
        proc.stderr.close()
    out, err = (b"".join(chunks[k]).decode("utf-8", "replace") for k in ("out", "err"))
    if timed_out:
        raise subprocess.TimeoutExpired(command, timeout, output=out, stderr=err)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def _run_subprocess(netlist: str, netlist_path: Path | None, timeout: float | None,
                    progress: Callable[[float], None] | None = None) -> tuple[dict[str, np.ndarray], str, str]:
    """Run ``netlist`` with ``ngspice -b``: (normalised vectors, ngspice version, log text).

    ``progress(fraction)`` is called in this thread while ngspice runs, with the simulated
    time over the ``.tran`` stop time (not throttled or made monotone here:
    :mod:`rnn2spice.spice.ngspice` does).

    Raises :class:`SimulationError` on any failure (``netlist_path`` is only quoted)."""
    executable = _ngspice_executable(netlist_path)
    version = _binary_version(executable)
    with scratch_dir(prefix="rnn2spice-ngspice-") as tmp:
        circuit_file = Path(tmp) / "circuit.cir"
        raw_file = Path(tmp) / "circuit.raw"
        circuit_file.write_text(netlist, encoding="utf-8")
        command = [executable, "-b", "-n", "-r", str(raw_file), str(circuit_file)]  # -n: no .spiceinit
        try:
            done = _run_reporting(command, tmp, timeout, _tran_stop(netlist),
                                  progress if progress is not None else (lambda fraction: None), raw_file)
        except subprocess.TimeoutExpired as exc:  # run() has already killed ngspice
            lines = _clean_lines(_as_text(exc.stdout)) + _clean_lines(_as_text(exc.stderr))
            raise SimulationError(f"ngspice did not finish within {timeout:g} s", netlist_path=netlist_path,
                                  ngspice_message=_excerpt(lines)) from None
        except OSError as exc:
            raise NgspiceUnavailable(f"cannot run {executable}: {exc}", netlist_path=netlist_path) from None
        lines = _clean_lines(done.stdout) + _clean_lines(done.stderr)
        log = "\n".join(lines)
        if done.returncode < 0:
            raise SimulationError(f"ngspice was killed by {signal_name(done.returncode)}", netlist_path=netlist_path,
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
            plots = parse_raw(raw_file.read_bytes())
        except ValueError as exc:
            raise SimulationError(f"cannot read ngspice's raw file: {exc}", netlist_path=netlist_path,
                                  ngspice_message=_excerpt(lines)) from None
    raw = plots[-1][1] if plots else {}
    _check_output(lines, raw, plot_ok=bool(plots), netlist_path=netlist_path)
    return finish_vectors(raw), version, log
