"""Start-up checks for libngspice, made before this process loads it.

A libngspice is started (``ngSpice_Init``) and run on a tiny netlist first in a child
Python process (:func:`probe_library`): a build that crashes on start-up, or on a run,
takes down the child, never this process.  The child also reports the version, the file
that loaded, and whether ngspice accepts ``.options klu`` and reports using KLU.  Verdicts
are cached for the process per list of candidate names, and redone when the file that
loaded changes (path, mtime, size).

ngspice sources a user start-up file in ``ngSpice_Init``, before the caller can say
anything: ``./.spiceinit``, else ``.spiceinit`` in the passwd home directory.  This holds
in every POSIX build of ngspice 39 to 46 (``ngSpice_nospiceinit``, from ngspice 44, only
acts in builds without ``pwd.h``, i.e. Windows, and Debian's 46 crashes in it when it is
called before ``ngSpice_Init``, as the header asks).  So the library is only ever started
in an empty working directory, and not at all while a user start-up file exists
(:func:`user_init_files`).

ngspice's system start-up file ``spinit`` loads code models by absolute path, and a
library looks for it where it was configured to (``/usr/share/ngspice/scripts``).  A
library unpacked elsewhere (``scripts/setup.sh`` keeps ngspice 39 in ``.venv/ngspice-39``)
would read the installed ngspice's spinit and load that version's code models, so when
``SPICE_SCRIPTS`` and ``SPICE_LIB_DIR`` are unset and ``share/ngspice/scripts/spinit`` exists
up to three levels above the library file, ``SPICE_SCRIPTS`` names that folder while the
library starts (in the child, and in this process: :attr:`LibraryProbe.scripts`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from rnn2spice.spice.batch import popen_kwargs, with_parent_death
from rnn2spice.spice.log import signal_name
from rnn2spice.spice.scratch import scratch_dir

#: s a child process may take to load, start and run libngspice on the tiny netlist
PROBE_TIMEOUT = 60.0

#: Call ``ngSpice_nospiceinit()`` (before ``ngSpice_Init``) where ngspice honours it: only
#: builds without pwd.h (Windows) read the flag; everywhere else it does nothing at best.
CALL_NOSPICEINIT = sys.platform == "win32"

# The netlist of the check: an RC decay, so that a run makes a vector of many points.
_PROBE_NETLIST = ("rnn2spice start-up check", "R1 1 0 1000", "C1 1 0 1e-6 IC=1",
                  ".tran 1e-5 1e-3 0 1e-5 uic", ".end")

# Runs in the child (``python -I -S -c``): only the standard library.  Each step is
# announced on stdout (unbuffered) before it is taken, so a crash names its step.
_CHILD = r"""
import ctypes, json, os, sys
from ctypes import CFUNCTYPE, POINTER, Structure, byref, c_bool, c_char_p, c_double, c_int, c_short, c_void_p

def say(**record):
    os.write(1, (json.dumps(record) + "\n").encode())

nospiceinit, netlist, names = sys.argv[1] == "1", json.loads(sys.argv[2]), sys.argv[3:]
say(stage="load")
lib, errors = None, []
for name in names:
    try:
        lib = ctypes.CDLL(name)
        break
    except OSError as exc:
        errors.append(str(exc))
if lib is None:
    say(missing="; ".join(errors))
    sys.exit(0)
path = name
absent = [f for f in ("ngSpice_Init", "ngSpice_Circ", "ngSpice_Command", "ngGet_Vec_Info") if not hasattr(lib, f)]
if absent:
    say(loaded=path, problem="not an ngspice shared library (it has no %s)" % ", ".join(absent))
    sys.exit(0)
init = lib.ngSpice_Init

class DlInfo(Structure):
    _fields_ = [("fname", c_char_p), ("fbase", c_void_p), ("sname", c_char_p), ("saddr", c_void_p)]

try:
    info = DlInfo()
    if ctypes.CDLL(None).dladdr(ctypes.cast(init, c_void_p), byref(info)) and info.fname:
        path = os.path.realpath(info.fname.decode())
except Exception:
    pass
scripts = None
if not os.environ.get("SPICE_SCRIPTS") and not os.environ.get("SPICE_LIB_DIR"):
    # read the spinit (and so the code models) of the library's own installation
    folder = os.path.dirname(path)
    for _ in range(3):
        folder = os.path.dirname(folder)
        if os.path.isfile(os.path.join(folder, "share", "ngspice", "scripts", "spinit")):
            scripts = os.path.join(folder, "share", "ngspice", "scripts")
            os.environ["SPICE_SCRIPTS"] = scripts
            break
say(loaded=path, scripts=scripts)

lines = []

@CFUNCTYPE(c_int, c_char_p, c_int, c_void_p)
def send_char(text, ident, user):
    lines.append((text or b"").decode("utf-8", "replace"))
    return 0

@CFUNCTYPE(c_int, c_int, c_bool, c_bool, c_int, c_void_p)
def controlled_exit(status, immediate, quit, ident, user):
    lines.append("stderr ngspice requested exit with status %d" % status)
    return 0

@CFUNCTYPE(c_int, c_bool, c_int, c_void_p)
def bg_running(not_running, ident, user):
    return 0

class VectorInfo(Structure):
    _fields_ = [("v_name", c_char_p), ("v_type", c_int), ("v_flags", c_short),
                ("v_realdata", POINTER(c_double)), ("v_compdata", c_void_p), ("v_length", c_int)]

lib.ngSpice_Circ.argtypes = [POINTER(c_char_p)]
lib.ngSpice_Command.argtypes = [c_char_p]
lib.ngGet_Vec_Info.argtypes = [c_char_p]
lib.ngGet_Vec_Info.restype = POINTER(VectorInfo)

if nospiceinit and hasattr(lib, "ngSpice_nospiceinit"):
    say(stage="ngSpice_nospiceinit")
    lib.ngSpice_nospiceinit()
say(stage="ngSpice_Init")
rc = init(send_char, None, controlled_exit, None, None, bg_running, None)
if rc:
    say(problem="ngSpice_Init returned %d" % rc, lines=lines)
    sys.exit(0)
banner = list(lines)

def run(text):
    del lines[:]
    encoded = [line.encode() for line in text] + [b""]
    array = (c_char_p * (len(encoded) + 1))(*encoded, None)
    if lib.ngSpice_Circ(array) or lib.ngSpice_Command(b"run"):
        return 0
    info = lib.ngGet_Vec_Info(b"v(1)")
    points = info.contents.v_length if info else 0
    lib.ngSpice_Command(b"remcirc")
    lib.ngSpice_Command(b"destroy all")
    return points

say(stage="run")
points = run(netlist)
if points < 2:
    say(problem="the check netlist gave no data", lines=lines)
    sys.exit(0)
say(stage="run with .options klu")
klu_points = run(netlist[:-1] + [".options klu"] + netlist[-1:])
klu = klu_points > 1 and any("using klu" in line.lower() for line in lines)
say(stage="exit", done=True, banner=banner, klu=klu)
"""


@dataclass(frozen=True)
class LibraryProbe:
    """What a child process found out about a libngspice."""

    path: str | None        # the file that loaded (resolved); None when none did
    version: str            # as ngspice's banner says, e.g. '46'; '' when unknown
    klu: bool               # ngspice accepted '.options klu' and reported using KLU
    problem: str | None     # why this process must not load it; None when it may
    missing: bool = False   # no candidate could be loaded at all
    scripts: str | None = None  # SPICE_SCRIPTS for its start-up (module docstring), None: leave it


_LOCK = threading.Lock()
_PROBES: dict[tuple, tuple[LibraryProbe, tuple | None]] = {}


def probe_library(candidates: list[str], *, timeout: float = PROBE_TIMEOUT) -> LibraryProbe:
    """Load the first loadable of ``candidates`` in a child process, start it and run the
    check netlist there (with and without ``.options klu``); cached (module docstring)."""
    key = (tuple(candidates), CALL_NOSPICEINIT)
    with _LOCK:
        cached = _PROBES.get(key)
        if cached is not None and (cached[0].path is None or cached[1] == _signature(cached[0].path)):
            return cached[0]
        probe = _run_child(candidates, timeout)
        _PROBES[key] = (probe, _signature(probe.path))
        return probe


def _signature(path: str | None) -> tuple | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _run_child(candidates: list[str], timeout: float) -> LibraryProbe:
    if not sys.executable:
        return LibraryProbe(None, "", False, "no Python executable to check the library in a child process")
    args = [sys.executable, "-I", "-S", "-c", _CHILD, "1" if CALL_NOSPICEINIT else "0",
            json.dumps(list(_PROBE_NETLIST)), *candidates]
    with scratch_dir(prefix="rnn2spice-ngspice-probe-") as empty:
        try:
            done = subprocess.run(with_parent_death(args), cwd=empty, capture_output=True, text=True, errors="replace",
                                  stdin=subprocess.DEVNULL, timeout=timeout, **popen_kwargs())
        except subprocess.TimeoutExpired as exc:
            records = _records(exc.stdout)
            return LibraryProbe(records.get("loaded"), "", False,
                                f"it did not finish a start-up check within {timeout:g} s "
                                f"(stuck in {records.get('stage', 'load')})")
        except OSError as exc:
            return LibraryProbe(None, "", False, f"cannot start a child process to check it: {exc}")
    records = _records(done.stdout)
    path, stage = records.get("loaded"), records.get("stage", "load")
    if "missing" in records:
        return LibraryProbe(None, "", False, records["missing"], missing=True)
    if done.returncode < 0:
        return LibraryProbe(path, "", False,
                            f"a child process that loaded it was killed by {signal_name(done.returncode)} in {stage}")
    if "problem" in records:
        said = " / ".join(line.strip() for line in records.get("lines", []) if line.strip())[-300:]
        return LibraryProbe(path, "", False, records["problem"] + (f" (ngspice said: {said})" if said else ""))
    if done.returncode != 0 or not records.get("done"):
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])[-300:]
        return LibraryProbe(path, "", False, f"a child process that loaded it failed in {stage} "
                                             f"(exit status {done.returncode}){': ' + tail if tail else ''}")
    match = re.search(r"ngspice-(\S+)", "\n".join(records.get("banner", [])))
    return LibraryProbe(path, match.group(1) if match else "", bool(records.get("klu")), None,
                        scripts=records.get("scripts"))


def _records(stdout) -> dict:
    """The child's JSON lines merged in order (later keys win)."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8", "replace")
    merged: dict = {}
    for line in (stdout or "").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            merged.update(record)
    return merged


def user_init_files() -> list[Path]:
    """The user start-up files an ngspice library could source in ``ngSpice_Init`` that
    exist now.  POSIX builds read ``.spiceinit`` in the passwd home directory (the working
    directory is always an empty one); Windows builds also ``$HOME``, ``$USERPROFILE``,
    ``$SPICE_USERINIT_DIR`` and the name ``spice.rc``: all are checked."""
    dirs: list[str] = []
    try:
        import pwd

        dirs.append(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError, OSError):
        pass
    dirs += [os.environ.get(name, "") for name in ("HOME", "USERPROFILE", "SPICE_USERINIT_DIR")]
    found: list[Path] = []
    for folder in dict.fromkeys(d for d in dirs if d):
        for name in (".spiceinit", "spice.rc"):
            path = Path(folder) / name
            if os.path.lexists(path) and path not in found:
                found.append(path)
    return found
