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
import re
import signal
import sys
import threading
import warnings

from rnn2spice._version import __version__
from rnn2spice.cli import (ac, bom, check, compile, importing, kicad, montecarlo, schematic, simulate, sweep, task,
                           verify)
from rnn2spice.cli.common import EXIT_SIMULATION, Terminated, exit_code, interrupted
from rnn2spice.errors import Rnn2SpiceError, UsageError, clip
from rnn2spice.spice.ngspice import BackendFallbackWarning, SolverFallbackWarning
from rnn2spice.spice.scratch import sweep_once

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


#: Two or three examples per command, printed at the end of its --help (a command module may
#: give its own as ``EXAMPLES``).
EXAMPLES = {
    "compile": ("rnn2spice compile netlists/damped-oscillator.yaml -o osc.cir",
                "rnn2spice compile netlists/tanh4.yaml --form opamp",
                "rnn2spice compile netlists/random20.yaml --coupling gyrator --accuracy high -o r20.cir"),
    "simulate": ("rnn2spice simulate netlists/damped-oscillator.yaml -o waveforms.csv",
                 "rnn2spice simulate netlists/tanh4.yaml --form series --backend subprocess"),
    "check": ("rnn2spice check netlists/damped-oscillator.yaml",
              "rnn2spice check netlists/tanh4.yaml --plot tanh4.png --report tanh4.json -v",
              "rnn2spice check netlists/random20.yaml --form series --accuracy high"),
    "verify": ("rnn2spice verify netlists/damped-oscillator.yaml --coupling gyrator",
               "rnn2spice verify netlists/tanh4.yaml --netlist netlists/tanh4.cir"),
    "ac": ("rnn2spice ac netlists/damped-oscillator.yaml --fmin 10 --fmax 1e5 --plot bode.png",
           "rnn2spice ac netlists/random20.yaml --fmin 1 --fmax 1e6 --form series --report ac.json"),
    "import": ("rnn2spice import model.hdf5 --dt 1e-3 -o net.yaml",
               "rnn2spice import psychrnn.npz --dt 1e-2 --tau 1e-1 -o rate.yaml",
               "rnn2spice import rnn.pt --dt 1e-3 --activation relu -o net.yaml"),
    "task": ("rnn2spice task net.yaml --stimulus pulse --value 1 --seed 0 --plot task.png",
             "rnn2spice task net.yaml --stimulus trials.npy --window 120 --trials 20 --jobs 2"),
    "montecarlo": ("rnn2spice montecarlo netlists/damped-oscillator.yaml --runs 200 --tolerance 5% --plot bands.png",
                   "rnn2spice montecarlo netlists/tanh4.yaml --runs 50 --tolerance 1% -o mc.json --resume",
                   "rnn2spice montecarlo netlists/tanh4.yaml --tolerance 5% --run 17   # run 17 alone, as in the study"),
    "sweep": ("rnn2spice sweep netlists/damped-oscillator.yaml --param circuit.capacitance=1e-9,1e-8",
              "rnn2spice sweep netlists/tanh4.yaml --param tolerance=1%,5% --runs 20 --plot sweep.png"),
    "bom": ("rnn2spice bom netlists/tanh4.yaml -o parts.csv",
            "rnn2spice bom netlists/tanh4.yaml --snap E24 --predict",
            "rnn2spice bom net.yaml --snap E24 --simulate --stimulus pulse --value 1"),
    "schematic": ("rnn2spice schematic netlists/damped-oscillator.yaml -o osc.svg",
                  "rnn2spice schematic netlists/tanh4.yaml --form opamp -o tanh4.png"),
    "kicad": ("rnn2spice kicad netlists/damped-oscillator.yaml -o osc.kicad_sch",
              "rnn2spice kicad netlists/tanh4.yaml --form opamp --snap E24 -o tanh4.kicad_sch"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise so main() reports them like every other error, and
    ``--help`` ends with the command's examples."""

    examples: tuple = ()

    def error(self, message):
        raise UsageError(clip(f"{self.prog}: {message}", 400))

    def format_help(self) -> str:
        text = super().format_help()
        if self.examples:
            text += "\nexamples:\n" + "".join(f"  {line}\n" for line in self.examples)
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnn2spice", description="Recurrent neural networks as ngspice circuits, "
                     "checked against the exact solution.")
    parser.add_argument("--version", action=_VersionAction,
                        help="show the versions of rnn2spice and ngspice, and ngspice's linear solver, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = False  # bare `rnn2spice` prints the usage and the commands (exit 0)
    parser.commands = {command.NAME: command.register(sub) for command in COMMANDS}
    for command in COMMANDS:
        parser.commands[command.NAME].examples = tuple(getattr(command, "EXAMPLES", EXAMPLES.get(command.NAME, ())))
    parser.examples = ("rnn2spice check netlists/damped-oscillator.yaml --plot osc.png",
                       "rnn2spice COMMAND --help        # a command's options and examples")
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
    still tells the result); everything else is the stream's.

    Order: standard error is given the output stream as ``before``; each of its writes
    first flushes what standard output holds and is itself flushed at once, so that both
    streams read into one file or terminal (``2>&1``) show the lines in the order the
    command wrote them, whatever the buffering (a CSV on standard output came after the
    summary on standard error without PYTHONUNBUFFERED, before it with it)."""

    def __init__(self, stream, name: str, before: "_Guarded | None" = None):
        self._stream = stream
        self._name = name
        self._before = before

    def _failed(self, error):
        if self._name == "output":
            raise _StreamFailed(self._name, error)

    #: Large texts go out in pieces, each flushed: a single write of megabytes into a pipe
    #: whose reader has gone can end after a partial write without any error (CPython's
    #: buffered writer), and the output would be cut silently.
    CHUNK = 1 << 16

    def write(self, text):
        if self._before is not None:
            try:
                self._before.flush()
            except _StreamFailed:  # standard output's own failure: reported by its own next flush, not
                pass               # instead of this message (an error line must still reach stderr)
        if self._stream is None:
            return self._failed("the descriptor is closed") or len(text)
        try:
            if self._before is not None:  # standard error: out at once, in order
                written = self._stream.write(text)
                self._stream.flush()
                return written
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


def _terminate(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code.  SIGTERM is handled like SIGINT (the default
    action would end the process at once and leave ngspice children, their temporary
    directories and a process pool's workers behind)."""
    real = {"output": sys.stdout, "error": sys.stderr}
    sys.stdout = _Guarded(real["output"], "output")
    sys.stderr = _Guarded(real["error"], "error", before=sys.stdout)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    except _StreamFailed as exc:
        _silence(real["output"])
        _say(f"rnn2spice: error: {exc}")
        return EXIT_SIMULATION
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        try:
            sys.stderr.flush()
        finally:
            sys.stdout, sys.stderr = real["output"], real["error"]
            _silence_failed_stderr(real["error"])


def _note(message, category, *args, **kwargs) -> None:
    """A library warning as one line on stderr: ``rnn2spice: note: ...``."""
    _say(f"rnn2spice: note: {message}")


#: Options whose value may start with a minus sign (a negative rail): argparse would read
#: ``--supply -12,12`` as the option ``-12,12``; :func:`join_negative_values` keeps it a value.
NEGATIVE_VALUED = ("--supply",)
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z")


def join_negative_values(argv: list[str]) -> list[str]:
    """``--supply -12,12`` -> ``--supply=-12,12`` and ``--supply -12 12`` -> ``--supply=-12,12``
    (a value is joined only when it is numbers: ``--supply --form x`` stays a missing value)."""
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        value = argv[i + 1] if i + 1 < len(argv) else None
        if token in NEGATIVE_VALUED and value is not None and value.startswith("-") and \
                all(_NUMBER.match(x.strip()) for x in value.split(",")):
            if "," not in value and i + 2 < len(argv) and _NUMBER.match(argv[i + 2]):
                out.append(f"{token}={value},{argv[i + 2]}")  # the two rails as two words
                i += 3
                continue
            out.append(f"{token}={value}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _main(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(join_negative_values(sys.argv[1:] if argv is None else list(argv)))
        if args.command is None:  # no command: what there is to do, not an error
            print(parser.format_help(), end="")
            return 0
        sweep_once()  # folders a SIGKILLed run left in TMPDIR: every command is "the next run" (spice/scratch.py)
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
    except KeyboardInterrupt as exc:  # SIGINT 130, SIGTERM (Terminated) 143
        what, code = interrupted(exc)
        _say(f"rnn2spice: {what}")
        return code
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
