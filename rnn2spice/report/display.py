"""How results show themselves in a terminal and in Jupyter: a repr of a few lines, a small
HTML table, and ``plot()`` returning a matplotlib Figure.

A result class lists the entries of its ``report()`` worth showing (:attr:`Displayed.SHOWN`)
and says what it is (:meth:`Displayed._headline`); arrays never reach the repr (a check
result's dataclass repr used to print ~48,000 characters of them).
"""

from __future__ import annotations

import html
import math
import os
import warnings

from rnn2spice.errors import OutputError

#: Longest repr (characters): a few lines, whatever the network's size.
MAX_REPR = 1000


def _text(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) and value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e4) \
            else f"{value:g}"
    return str(value)


class Displayed:
    """A short ``repr`` and ``_repr_html_`` from a few entries of ``report()``."""

    #: Keys of ``report()`` shown (those present, in this order).
    SHOWN: tuple = ()

    def _headline(self) -> str:
        """One line: what this is (its network's name) and its verdict."""
        name = getattr(self, "spec", None)
        name = name if isinstance(name, str) else getattr(name, "name", "")
        verdict = getattr(self, "passed", None)
        verdict = "" if verdict is None else ("PASS" if verdict else "FAIL")
        return ": ".join(part for part in (name, verdict) if part)

    def _rows(self) -> list[tuple[str, str]]:
        try:
            report = self.report()
        except Exception:  # noqa: BLE001 - a repr must never raise
            return []
        rows = []
        for key in self.SHOWN:
            value = report.get(key)
            if value is not None and not isinstance(value, (dict, list, tuple)):
                rows.append((key, _text(value)))
        return rows

    def __repr__(self) -> str:
        head = f"<{type(self).__name__} {self._headline()}>".replace(" >", ">")
        lines = [head, *(f"  {k}: {v}" for k, v in self._rows())]
        text = "\n".join(lines)
        return text if len(text) <= MAX_REPR else text[: MAX_REPR - 4] + " ..."

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(v)}</td></tr>" for k, v in self._rows())
        return (f"<div><b>{html.escape(type(self).__name__)}</b> {html.escape(self._headline())}"
                f"<table>{rows}</table></div>")


class Plotted:
    """``plot(ax=None)``: a matplotlib Figure (``_draw(ax)`` makes it); ``path`` also writes it."""

    def _draw(self, ax):  # pragma: no cover - each result draws its own
        raise NotImplementedError

    def plot(self, path: str | os.PathLike | None = None, *, ax=None, force: bool = False):
        """The figure as a :class:`matplotlib.figure.Figure` (shown once in Jupyter, savable with
        ``fig.savefig(...)``).  ``ax``: draw the main panel into these axes of your own figure
        (the figure returned is then theirs).  ``path``: also write it there, as PNG, PDF or SVG
        by its extension (atomically; an existing file is replaced only when it is a figure of
        that format that rnn2spice wrote, or with ``force=True``)."""
        from rnn2spice.report.figures import figure_bytes
        from rnn2spice.report.files import check_output, figure_format, write_figure

        if path is not None:  # a bad name or an unrelated file before drawing
            if not isinstance(path, (str, os.PathLike)):
                raise OutputError(f"path: must be a file path (got {type(path).__name__})")
            check_output(path, "path", figure_format(path, "path"), force=force)
        fig = self._draw(ax)
        if path is not None:
            write_figure(path, figure_bytes(fig, figure_format(path, "path")), "path", force=force)
        return fig

    def figure(self) -> bytes:
        """Deprecated: the PNG bytes of :meth:`plot` (use ``plot()``, a Figure)."""
        from rnn2spice.report.figures import png_bytes

        warnings.warn("figure() is deprecated: plot() returns a matplotlib Figure "
                      "(fig.savefig(...) writes PNG, PDF or SVG)", DeprecationWarning, stacklevel=2)
        return png_bytes(self._draw(None))
