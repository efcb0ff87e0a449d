"""The ``rnn2spice`` command: the parser and ``main``.

Each command lives in a module of its own in this package with ``register(subparsers)``
and ``run(args) -> exit code``; :data:`COMMANDS` lists them in the order of ``--help``.
"""

from __future__ import annotations

import argparse
import sys

from rnn2spice._version import __version__
from rnn2spice.cli import ac, check, compile, importing, simulate, task, verify
from rnn2spice.cli.common import EXIT_INTERRUPTED, exit_code
from rnn2spice.errors import Rnn2SpiceError, UsageError

#: The command modules, in the order ``rnn2spice --help`` lists them.
COMMANDS = (compile, simulate, check, verify, ac, importing, task)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors raise so main() reports them like every other error."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnn2spice", description="Recurrent neural networks as ngspice circuits, "
                     "checked against the exact solution.")
    parser.add_argument("--version", action="version", version=f"rnn2spice {__version__}")
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


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except Rnn2SpiceError as exc:
        print(f"rnn2spice: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print("rnn2spice: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
