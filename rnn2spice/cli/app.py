"""The ``rnn2spice`` command: the parser and ``main``.

Each command lives in a module of its own in this package with ``register(subparsers)``
and ``run(args) -> exit code``; :data:`COMMANDS` lists them in the order of ``--help``.

``main`` ends every run with an exit code and at most one line on standard error (plus
ngspice's own lines for a simulator failure), never a traceback:

* an :class:`~rnn2spice.errors.Rnn2SpiceError`: its message, exit 1 / 2 / 3
  (:func:`rnn2spice.cli.common.exit_code`);
* standard output cannot be written (a closed pipe as in ``| head``, a full disk,
  ``>/dev/full``, a closed descriptor): exit 3 (:data:`EXIT_SIMULATION`, the environment),
  with a line on standard error; standard error that cannot be written is ignored (there is
  nowhere left to report to; the exit code still tells the result);
* out of memory: exit 3;
* any other exception is a bug of rnn2spice: one line ``rnn2spice: internal error: ...``,
  exit :data:`EXIT_INTERNAL` (70, ``EX_SOFTWARE`` of sysexits.h); set the environment
  variable ``RNN2SPICE_TRACEBACK=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from rnn2spice._version import __version__
from rnn2spice.cli import (ac, bom, check, compile, importing, kicad, montecarlo, schematic, simulate, sweep, task,
                           verify)
from rnn2spice.cli.common import EXIT_INTERRUPTED, EXIT_SIMULATION, exit_code
from rnn2spice.errors import Rnn2SpiceError, UsageError, clip
from rnn2spice.spice.ngspice import BackendFallbackWarning, SolverFallbackWarning

#: The command modules, in the order ``rnn2spice --help`` lists them.
COMMANDS = (compile, simulate, check, verify, ac, importing, task, montecarlo, sweep, bom, schematic, kicad)
#: Exit code of an unexpected exception (a bug): EX_SOFTWARE of sysexits.h.
EXIT_INTERNAL = 70


class _VersionAction(argparse.Action):
    """``--version``: rnn2spice's version, and the ngspice and linear solver a run would use."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from rnn2spice.spice.ngspice import describe_ngspice

        try:
            ngspice = describe_ngspice()
        except Rnn2SpiceError as exc:
            ngspice = f"no ngspice ({str(exc).splitlines()[0][:200]})"
        print(f"rnn2spice {__version__}; {ngspice}")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise so main() reports them like every other error."""

    def error(self, message):
        raise UsageError(clip(f"{self.prog}: {message}", 400))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnn2spice", description="Recurrent neural networks as ngspice circuits, "
                     "checked against the exact solution.")
    parser.add_argument("--version", action=_VersionAction,
                        help="show the versions of rnn2spice and ngspice, and ngspice's linear solver, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    parser.commands = {command.NAME: command.register(sub) for command in COMMANDS}
    return parser


def command_names() -> tuple[str, ...]:
    """The subcommands, as ``rnn2spice --help`` lists them."""
    return tuple(command.NAME for command in COMMANDS)


def required_options(name: str) -> list[str]:
    """The options command ``name`` cannot run without (its long spellings)."""
    sub = build_parser().commands[name]
    return [a.option_strings[-1] for a in sub._actions if a.option_strings and a.required]


class _StreamFailed(Exception):
    """Writing standard output or standard error failed (not an OSError, so that no
    handler meant for a file catches it)."""

    def __init__(self, name: str, error: BaseException | str):
        self.name = name
        self.error = error
        reason = error if isinstance(error, str) else (getattr(error, "strerror", None) or str(error))
        super().__init__(f"cannot write to standard {name}: {reason}")


class _Guarded:
    """A standard stream whose write failures (or absence: a closed descriptor makes it
    None) raise :class:`_StreamFailed` (standard output: the run's result is lost) or are
    ignored (standard error: diagnostics, with nowhere left to report them; the exit code
    still tells the result); everything else is the stream's."""

    def __init__(self, stream, name: str):
        self._stream = stream
        self._name = name

    def _failed(self, error):
        if self._name == "output":
            raise _StreamFailed(self._name, error)

    #: Large texts go out in pieces, each flushed: a single write of megabytes into a pipe
    #: whose reader has gone can end after a partial write without any error (CPython's
    #: buffered writer), and the output would be cut silently.
    CHUNK = 1 << 16

    def write(self, text):
        if self._stream is None:
            return self._failed("the descriptor is closed") or len(text)
        try:
            if len(text) <= self.CHUNK:
                return self._stream.write(text)
            for start in range(0, len(text), self.CHUNK):
                self._stream.write(text[start:start + self.CHUNK])
                self._stream.flush()
            return len(text)
        except OSError as exc:
            return self._failed(exc) or len(text)

    def flush(self):
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except OSError as exc:
            self._failed(exc)

    def __getattr__(self, name):
        if self._stream is None:
            raise AttributeError(name)
        return getattr(self._stream, name)


#: Longest line main() prints (characters): a longer one keeps its start (the field) and its
#: end (the reason) around " ... ", so that no echo of a path or value can flood the terminal.
MAX_LINE = 1000


def _shorten(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 305] + " ... " + line[-300:]


def _say(text: str) -> None:
    """A message on standard error (each line at most MAX_LINE characters), if it can still
    be written."""
    try:
        print("\n".join(_shorten(line) for line in text.split("\n")), file=sys.stderr, flush=True)
    except (_StreamFailed, OSError, ValueError):
        pass


def _silence(stream) -> None:
    """Point a failed standard stream's descriptor at /dev/null, so that Python's own flush
    at exit does not fail again ('Exception ignored ... BrokenPipeError', exit 120)."""
    try:
        fd = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's capture) or none to fix
        pass


def _silence_failed_stderr(stream) -> None:
    """If standard error cannot take what is buffered, point it at /dev/null (see _silence)."""
    try:
        if stream is not None:
            stream.flush()
    except (OSError, ValueError):
        _silence(stream)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    real = {"output": sys.stdout, "error": sys.stderr}
    sys.stdout, sys.stderr = _Guarded(real["output"], "output"), _Guarded(real["error"], "error")
    try:
        return _main(argv)
    except _StreamFailed as exc:
        _silence(real["output"])
        _say(f"rnn2spice: error: {exc}")
        return EXIT_SIMULATION
    finally:
        try:
            sys.stderr.flush()
        finally:
            sys.stdout, sys.stderr = real["output"], real["error"]
            _silence_failed_stderr(real["error"])


def _note(message, category, *args, **kwargs) -> None:
    """A library warning as one line on stderr: ``rnn2spice: note: ...``."""
    _say(f"rnn2spice: note: {message}")


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings():
            # the library warns when it falls back to another backend; the command says so in one line
            warnings.simplefilter("ignore", BackendFallbackWarning)
            warnings.showwarning = _note
            warnings.simplefilter("always", BackendFallbackWarning)
            warnings.simplefilter("always", SolverFallbackWarning)
            code = args.func(args)
        sys.stdout.flush()  # a failure to deliver the output is this run's, not the interpreter's exit
        return code
    except _StreamFailed:
        raise
    except Rnn2SpiceError as exc:
        _say(f"rnn2spice: error: {exc}")
        return exit_code(exc)
    except KeyboardInterrupt:
        _say("rnn2spice: interrupted")
        return EXIT_INTERRUPTED
    except MemoryError:
        _say("rnn2spice: error: out of memory")
        return EXIT_SIMULATION
    except Exception as exc:  # a bug: one line, not a traceback (RNN2SPICE_TRACEBACK=1 shows it)
        if os.environ.get("RNN2SPICE_TRACEBACK"):
            raise
        _say(f"rnn2spice: internal error: {type(exc).__name__}: {clip(exc)} (please report it; "
             "RNN2SPICE_TRACEBACK=1 shows the traceback)")
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
