"""Figures: SPICE vs reference per neuron, and the error."""

from __future__ import annotations

import io

import numpy as np

#: At most this many neurons are drawn; for larger n an evenly spaced subset.
MAX_TRACES = 6


def neuron_subset(n: int, limit: int = MAX_TRACES) -> list[int]:
    if n <= limit:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, limit)})


def check_figure(time: np.ndarray, simulated: np.ndarray, ref: np.ndarray, *, title: str,
                 readout: tuple[np.ndarray, np.ndarray] | None = None) -> bytes:
    """PNG bytes: overlays of SPICE and reference (top), |error| per drawn neuron (bottom).

    ``readout``: (SPICE, reference) outputs y = w_out h + b_out, shape (points, p) each,
    drawn in a third panel when given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = neuron_subset(simulated.shape[1])
    scale = 1e3 if time[-1] < 1.0 else 1.0
    unit = "ms" if scale == 1e3 else "s"
    if readout is None:
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True, height_ratios=(2, 1))
    else:
        fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(8, 8.5), sharex=True, height_ratios=(2, 1, 1.3))
        for j in range(min(readout[0].shape[1], MAX_TRACES)):
            ax3.plot(time * scale, readout[1][:, j], color=f"C{j}", lw=2.5, alpha=0.35, label=f"y{j}")
            ax3.plot(time * scale, readout[0][:, j], color=f"C{j}", lw=1.0, ls="--")
        ax3.set_ylabel("readout y = w_out h + b_out")
        ax3.legend(fontsize=7, loc="best", title="wide: reference, dashed: SPICE", title_fontsize=7)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, k in enumerate(idx):
        col = colors[i % len(colors)]
        ax1.plot(time * scale, ref[:, k], color=col, lw=2.5, alpha=0.35, label=f"h{k}")
        ax1.plot(time * scale, simulated[:, k], color=col, lw=1.0, ls="--")
        err = np.abs(simulated[:, k] - ref[:, k])
        ax2.semilogy(time * scale, np.maximum(err, 1e-18), color=col, lw=0.8)
    shown = "" if len(idx) == simulated.shape[1] else f" ({len(idx)} of {simulated.shape[1]} neurons)"
    ax1.set_title(title + shown)
    ax1.set_ylabel("state h (model units)")
    ax1.legend(fontsize=7, ncol=2, loc="best", title="wide: reference, dashed: SPICE", title_fontsize=7)
    ax2.set_ylabel("|SPICE - reference|")
    (ax2 if readout is None else ax3).set_xlabel(f"time ({unit})")
    fig.tight_layout()
    return png_bytes(fig)


def png_bytes(fig, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (written atomically by the caller); closes it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()
