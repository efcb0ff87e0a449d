"""A one-line progress bar for ngspice runs, on standard error when it is a terminal.

``with progress_bar(args) as bar: simulate(..., progress=bar)``: the bar appears only after a
run has taken :data:`DELAY` seconds, is redrawn in place with ``'\\r'`` and its line is
cleared when the run ends (``progress(1.0)``) or fails.  Nothing is written when standard
error is not a terminal, or with ``--quiet``.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

#: Seconds a run must last before the bar appears.
DELAY = 2.0
WIDTH = 30


class ProgressBar:
    """Callable ``bar(fraction)`` drawing ``ngspice [#####-----]  45%`` on ``stream``."""

    def __init__(self, stream=None, enabled: bool = True):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and _isatty(self.stream)
        self.started: float | None = None  # when the current run first reported
        self.drawn = 0                     # length of the line on screen (0: nothing shown)

    def __call__(self, fraction: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if fraction >= 1.0:  # the run is over: the next one starts its own delay
            self.clear()
            self.started = None
            return
        if now - self.started < DELAY:
            return
        filled = int(WIDTH * max(fraction, 0.0))
        line = f"ngspice [{'#' * filled}{'-' * (WIDTH - filled)}] {100 * fraction:3.0f}%  {now - self.started:.0f} s"
        self.stream.write("\r" + line.ljust(self.drawn))
        self.stream.flush()
        self.drawn = len(line)

    def clear(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * self.drawn + "\r")
            self.stream.flush()
            self.drawn = 0


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


@contextmanager
def progress_bar(args, stream=None):
    """A :class:`ProgressBar` for a command's runs (off with ``--quiet``), cleared on exit."""
    bar = ProgressBar(stream, enabled=not getattr(args, "quiet", False))
    try:
        yield bar
    finally:
        bar.clear()
