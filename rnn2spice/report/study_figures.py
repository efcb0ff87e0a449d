"""Figures of studies (Monte Carlo, sweeps), from arrays: percentile bands, error histograms."""

from __future__ import annotations

import numpy as np

from rnn2spice.report.figures import MAX_TRACES, colors, neuron_subset, new_figure, png_bytes, title_text


def _bands(ax, t, runs, nominal, color, label):
    """5-95 % and 25-75 % bands of ``runs`` (runs, G) over ``t``, their median, the nominal line."""
    if runs.shape[0]:
        p5, p25, p50, p75, p95 = np.percentile(runs, (5, 25, 50, 75, 95), axis=0)
        ax.fill_between(t, p5, p95, color=color, alpha=0.18, lw=0)
        ax.fill_between(t, p25, p75, color=color, alpha=0.35, lw=0)
        ax.plot(t, p50, color=color, lw=1.0, ls="--")
    ax.plot(t, nominal, color=color, lw=1.2, label=label)


def bands_figure(*args, **kwargs) -> bytes:
    """PNG bytes of :func:`bands_plot`."""
    return png_bytes(bands_plot(*args, **kwargs))


def bands_plot(grid: np.ndarray, states: np.ndarray, reference: np.ndarray, errors: np.ndarray,
               threshold: float, *, title: str, readout: tuple[np.ndarray, np.ndarray] | None = None,
               decision: dict | None = None, threshold_note: str = "",
               readout_label: str = "y = w_out h + b_out", ax=None):
    """A Figure: per drawn neuron the nominal reference (line) and the runs' 5-95 % and
    25-75 % bands with their median (dashed); the readout likewise; the histogram of the
    runs' errors with the threshold.

    ``states``: (runs, G, n) on ``grid``; ``reference``: (G, n); ``errors``: per run (inf:
    failed); ``readout``: ((runs, G, p), (G, p)); ``decision`` (a task trial, drawn on the
    readout): ``window`` (t0, t1) s shaded, ``dead_zone`` (dotted at +-), the discrete
    network's readout ``y_discrete`` (steps, p) at ``time`` (steps,) and its ``discrete`` decision.
    With ``ax``: the states' bands alone, drawn into ``ax``.
    """
    rows = 3 if readout is not None else 2
    if ax is None:
        fig = new_figure((8, 3.0 * rows + 0.5))
        axes = fig.subplots(rows, 1, height_ratios=(2,) * (rows - 1) + (1.3,))
    else:
        fig, axes = ax.figure, [ax]
    scale = 1e3 if grid[-1] < 1.0 else 1.0
    t = grid * scale
    cols = colors()
    worst = None
    if states.shape[0]:  # the neuron whose runs stray furthest from the reference, on its own scale
        spread = np.nanmax(np.abs(states - reference[None]), axis=(0, 1))
        scale_k = np.maximum(np.max(np.abs(reference), axis=0), 1e-300)
        worst = int(np.argmax(spread / scale_k)) if np.all(np.isfinite(spread)) else None
    idx = neuron_subset(reference.shape[1], include=(worst,))
    for i, k in enumerate(idx):
        _bands(axes[0], t, states[:, :, k], reference[:, k], cols[i % len(cols)],
               f"h{k}" + (" (widest)" if k == worst and len(idx) < reference.shape[1] else ""))
    shown = "" if len(idx) == reference.shape[1] else f" ({len(idx)} of {reference.shape[1]} neurons)"
    axes[0].set_title(title_text(title + shown), fontsize=10)
    axes[0].set_ylabel("state h")
    axes[0].set_xlabel(f"time ({'ms' if scale == 1e3 else 's'})")
    axes[0].legend(fontsize=7, ncol=2, loc="best", title="line: nominal reference; bands: 5-95 %, 25-75 %; "
                   "dashed: median", title_fontsize=7)
    if ax is not None:
        return fig
    if readout is not None:
        y, y_ref = readout
        for j in range(min(y_ref.shape[1], MAX_TRACES)):
            _bands(axes[1], t, y[:, :, j], y_ref[:, j], cols[j % len(cols)], f"y{j} (nominal reference)")
        if decision is not None:
            t0, t1 = decision["window"]
            axes[1].axvspan(t0 * scale, t1 * scale, color="0.85", alpha=0.5, lw=0, label="response window")
            for sign in (1, -1):
                axes[1].axhline(sign * decision["dead_zone"], color="0.4", lw=0.8, ls=":",
                                label=f"dead zone +-{decision['dead_zone']:g}" if sign == 1 else None)
            yd = decision["y_discrete"]
            for j in range(min(yd.shape[1], MAX_TRACES)):
                axes[1].plot(decision["time"] * scale, yd[:, j], color="k", lw=0.8, ls="-.",
                             label=f"discrete network y{j} (decision {decision['discrete'][j]:+d})")
        axes[1].set_ylabel(f"readout {readout_label}", fontsize=8)
        axes[1].legend(fontsize=7, loc="best")
    for ax in axes[:-1]:
        ax.set_xlabel(f"time ({'ms' if scale == 1e3 else 's'})")
    ax = axes[-1]
    finite = errors[np.isfinite(errors) & (errors > 0)]
    if finite.size:
        lo, hi = np.log10(finite.min()), np.log10(max(finite.max(), threshold))
        bins = np.logspace(lo - 0.05, hi + 0.05, max(5, min(40, finite.size // 2 + 5)))
        passed = finite[finite <= threshold]
        ax.hist([passed, finite[finite > threshold]], bins=bins, color=["C0", "C3"], alpha=0.8, stacked=True,
                edgecolor="black", linewidth=0.6, label=[f"pass ({passed.size})", f"fail ({finite.size - passed.size})"])
        ax.set_xscale("log")
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # runs are counted, never fractional
    ax.axvline(threshold, color="C3", lw=1.2, ls=":", label=f"threshold {threshold:g}{threshold_note}")
    failed = int(np.sum(~np.isfinite(errors)))
    ax.set_xlabel("run error (worst neuron / output, relative to its own scale)"
                  + (f"; {failed} failed run(s) not shown" if failed else ""))
    ax.set_ylabel("runs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def sweep_figure(*args, **kwargs) -> bytes:
    """PNG bytes of :func:`sweep_plot`."""
    return png_bytes(sweep_plot(*args, **kwargs))


def sweep_plot(labels: list[str], errors: list[np.ndarray], thresholds: list[float], *, title: str, ax=None):
    """A Figure: the runs' errors per sweep point (dots; median and 5-95 % bar when there
    are several runs), thresholds dotted, failed runs as crosses at the top."""
    if ax is None:
        fig = new_figure((max(6, 0.6 * len(labels) + 3), 4.5))
        ax = fig.subplots()
    fig = ax.figure
    x = np.arange(len(labels))
    finite_all = np.concatenate([e[np.isfinite(e)] for e in errors]) if errors else np.zeros(0)
    top = float(finite_all.max()) * 3 if finite_all.size else 1.0
    for i, e in enumerate(errors):
        ok = e[np.isfinite(e)]
        ax.scatter(np.full(ok.size, i), ok, s=12, color="C0", alpha=0.6, label="run" if i == 0 else None)
        if ok.size > 1:
            p5, p50, p95 = np.percentile(ok, (5, 50, 95))
            ax.errorbar(i + 0.15, p50, yerr=[[p50 - p5], [p95 - p50]], fmt="o", color="C1", ms=4, capsize=3,
                        label="median, 5-95 %" if not ax.get_legend_handles_labels()[1].count("median, 5-95 %") else None)
        bad = int(np.sum(~np.isfinite(e)))
        if bad:
            ax.scatter([i], [top], marker="x", color="C3", s=40,
                       label="failed runs" if "failed runs" not in ax.get_legend_handles_labels()[1] else None)
            ax.annotate(f"{bad} failed", (i, top), fontsize=7, ha="center", va="bottom")
        ax.hlines(thresholds[i], i - 0.3, i + 0.3, color="C3", ls=":", lw=1, label="threshold" if i == 0 else None)
    ax.set_yscale("log")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("run error (worst neuron / output)")
    ax.set_title(title_text(title), fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
