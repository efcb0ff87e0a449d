"""The command line: the only layer that knows argparse, exit codes and the terminal."""

from rnn2spice.cli.app import main

__all__ = ["main"]
