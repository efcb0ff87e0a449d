"""The ``rnn2spice`` console script's entry point, outside the package on purpose.

Importing anything inside ``rnn2spice`` first runs the package's ``__init__`` (numpy, scipy,
the whole API: seconds on a busy machine), and a Ctrl-C in that time ended in a 30-line
KeyboardInterrupt traceback.  Here the interrupt is caught around that import itself, before
any of it runs: one line and exit 130, as the command line says an interrupt once it runs
(rnn2spice.cli.common.interrupted); SIGTERM likewise says one line and exits 143 (nothing has
started yet that would need cleaning up).

``python -m rnn2spice`` cannot come in here first: the interpreter imports the package (its
``__init__``) before it runs ``rnn2spice/__main__.py``.  So the package's ``__init__`` asks
:func:`run_as_main` whether it is being imported for ``-m`` and, if so, runs its imports
inside :func:`starting`; ``__main__`` then calls :func:`main` here.  Both entry points thus
behave alike from the first import on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

#: The command line's words and exit codes (rnn2spice.cli.common.interrupted; a test holds
#: them equal): SIGINT 130, SIGTERM 128 + 15.
INTERRUPTED = ("interrupted", 130)
TERMINATED = ("terminated (SIGTERM)", 128 + signal.SIGTERM)


class _Terminated(KeyboardInterrupt):
    """SIGTERM during start-up (rnn2spice.cli.common.Terminated is not importable yet)."""


#: The signal that arrived while :func:`starting` was in force (None: none yet).
_received: list[int] = []


def _interrupt(signum, frame) -> None:
    _received.append(signum)
    raise KeyboardInterrupt()


def _terminate(signum, frame) -> None:
    _received.append(signum)
    raise _Terminated()


@contextlib.contextmanager
def starting():
    """Imports under way: SIGINT or SIGTERM end the process with one line on stderr and exit
    130 or 143.

    The handlers here note which signal came, because what reaches this block is not always
    the KeyboardInterrupt they raise: an interrupt inside a compiled module's initialisation
    can come out as another exception (numpy's: an ImportError "PyCapsule_Import could not
    import module datetime", exit 1 with a 20-line message, once in 18 measured Ctrl-Cs).  Any
    exception after a noted signal is that signal.

    The process ends at once (``os._exit``: nothing has started that needs cleaning up,
    nothing is on stdout): a SystemExit would unwind through the interpreter's own import of
    the package for ``python -m``, and a KeyboardInterrupt that crossed a compiled module's
    initialisation on the way (Cython modules of scipy run code through ``PyRun_String``)
    leaves CPython's "unhandled interrupt" flag set, so that the process ended by SIGINT (-2)
    instead of 130 in about half of the measured cases.  The previous handlers come back on
    the way out (the command line installs its own once it runs); a SIGINT that was ignored
    (a background job) stays ignored."""
    previous = {}
    for signum, handler in ((signal.SIGTERM, _terminate), (signal.SIGINT, _interrupt)):
        try:
            if signum == signal.SIGINT and signal.getsignal(signum) is not signal.default_int_handler:
                continue
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # signal handlers can only be set in the main thread
            pass
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, SystemExit) or not (_received or isinstance(exc, KeyboardInterrupt)):
            raise
        what, code = TERMINATED if (_received[:1] or [None])[0] == signal.SIGTERM or isinstance(exc, _Terminated) \
            else INTERRUPTED
        try:
            sys.stderr.write(f"rnn2spice: {what}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_as_main(argv: list[str] | None = None, orig_argv: list[str] | None = None) -> bool:
    """True while the interpreter locates the main module of ``python -m rnn2spice...``: it
    sets ``sys.argv[0]`` to ``"-m"`` for exactly that time (Python's documentation of
    ``-m``), and its own command line (``sys.orig_argv``) names an rnn2spice module.  A
    program of someone else's run with ``-m`` that imports rnn2spice keeps Python's own
    KeyboardInterrupt."""
    argv = sys.argv if argv is None else argv
    orig = getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
    if argv[:1] != ["-m"]:
        return False
    for i, word in enumerate(orig[1:], start=1):
        if word == "-m":
            name = orig[i + 1] if i + 1 < len(orig) else ""
        elif word.startswith("-m") and not word.startswith("--"):
            name = word[2:]
        else:
            continue
        return name == "rnn2spice" or name.startswith("rnn2spice.")
    return False


def main() -> int:
    with starting():
        from rnn2spice.cli.app import main as run
    return run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
