"""The figure of a real-part / snapped build (workflows/realbuild.py BuildCheck.plot): ngspice,
the predicted circuit and the ideal network per neuron, and the two errors; the layout and
colours of figures.py."""

from __future__ import annotations

import numpy as np

from rnn2spice.report.figures import colors, neuron_subset, new_figure, time_axis, title_text


def build_plot(time: np.ndarray, simulated: np.ndarray, predicted: np.ndarray, ideal: np.ndarray, *, title: str,
               ax=None):
    """A Figure of a real-part / snapped build: per drawn neuron (the one where ngspice is
    furthest from the ideal network always among them) the ideal network (wide, faint), the
    predicted circuit (thin) and ngspice (dashed); below, |ngspice - predicted| (solid: what
    PASS judges) and |ngspice - ideal| (dotted: the build error).  With ``ax``: only the
    overlays, drawn into ``ax``."""
    worst = int(np.argmax(np.max(np.abs(simulated - ideal), axis=0)))
    idx = neuron_subset(simulated.shape[1], include=(worst,))
    scale, unit = time_axis(time)
    cols = colors()
    shown = "" if len(idx) == simulated.shape[1] else f"{len(idx)} of {simulated.shape[1]} neurons; "

    def overlays(a):
        for i, k in enumerate(idx):
            col = cols[i % len(cols)]
            a.plot(time * scale, ideal[:, k], color=col, lw=3.0, alpha=0.3,
                   label=f"h{k}" + (" (furthest from ideal)" if k == worst else ""))
            a.plot(time * scale, predicted[:, k], color=col, lw=1.0)
            a.plot(time * scale, simulated[:, k], color="k", lw=0.8, ls="--")
        a.set_ylabel("state h (model units)")
        a.legend(fontsize=7, ncol=2, loc="best", title=shown + "wide: ideal network, thin: predicted circuit, "
                 "dashed: ngspice", title_fontsize=7)

    if ax is not None:
        overlays(ax)
        ax.set_xlabel(f"time ({unit})")
        ax.set_title(title_text(title), fontsize=9)
        return ax.figure
    tiny = 1e-9 * max(float(np.max(np.abs(ideal))), 1e-30)  # below it: start-up zeros, not errors
    fig = new_figure((8, 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.0, 1.0])
    overlays(top)
    for i, k in enumerate(idx):
        col = cols[i % len(cols)]
        bottom.semilogy(time * scale, np.maximum(np.abs(simulated[:, k] - predicted[:, k]), tiny), color=col,
                        lw=0.8, label=f"h{k}")
        bottom.semilogy(time * scale, np.maximum(np.abs(simulated[:, k] - ideal[:, k]), tiny), color=col,
                        lw=0.8, ls=":")
    bottom.set_ylabel("|error|")
    bottom.legend(fontsize=7, ncol=min(len(idx), 6), loc="best",
                  title="solid: ngspice - predicted, dotted: ngspice - ideal", title_fontsize=7)
    for a in (top, bottom):
        a.grid(True, lw=0.3, alpha=0.5)
    bottom.set_xlabel(f"time ({unit})")
    fig.suptitle(title_text(title), fontsize=10)
    fig.tight_layout()
    return fig
