"""Figures of studies (Monte Carlo, sweeps), from arrays: percentile bands, error histograms."""

from __future__ import annotations

import numpy as np

from rnn2spice.report.figures import MAX_TRACES, neuron_subset, png_bytes


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bands(ax, t, runs, nominal, color, label):
    """5-95 % and 25-75 % bands of ``runs`` (runs, G) over ``t``, their median, the nominal line."""
    if runs.shape[0]:
        p5, p25, p50, p75, p95 = np.percentile(runs, (5, 25, 50, 75, 95), axis=0)
        ax.fill_between(t, p5, p95, color=color, alpha=0.18, lw=0)
        ax.fill_between(t, p25, p75, color=color, alpha=0.35, lw=0)
        ax.plot(t, p50, color=color, lw=1.0, ls="--")
    ax.plot(t, nominal, color=color, lw=1.2, label=label)


def bands_figure(grid: np.ndarray, states: np.ndarray, reference: np.ndarray, errors: np.ndarray,
                 threshold: float, *, title: str, readout: tuple[np.ndarray, np.ndarray] | None = None,
                 decision: dict | None = None, threshold_note: str = "",
                 readout_label: str = "y = w_out h + b_out") -> bytes:
    """PNG bytes: per drawn neuron the nominal reference (line) and the runs' 5-95 % and
    25-75 % bands with their median (dashed); the readout likewise; the histogram of the
    runs' errors with the threshold.

    ``states``: (runs, G, n) on ``grid``; ``reference``: (G, n); ``errors``: per run (inf:
    failed); ``readout``: ((runs, G, p), (G, p)); ``decision`` (a task trial, drawn on the
    readout): ``window`` (t0, t1) s shaded, ``dead_zone`` (dotted at +-), the discrete
    network's readout ``y_discrete`` (steps, p) at ``time`` (steps,) and its ``discrete`` decision.
    """
    plt = _plt()
    rows = 3 if readout is not None else 2
    fig, axes = plt.subplots(rows, 1, figsize=(8, 3.0 * rows + 0.5), height_ratios=(2,) * (rows - 1) + (1.3,))
    scale = 1e3 if grid[-1] < 1.0 else 1.0
    t = grid * scale
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    idx = neuron_subset(reference.shape[1])
    for i, k in enumerate(idx):
        _bands(axes[0], t, states[:, :, k], reference[:, k], colors[i % len(colors)], f"h{k}")
    shown = "" if len(idx) == reference.shape[1] else f" ({len(idx)} of {reference.shape[1]} neurons)"
    axes[0].set_title(title + shown, fontsize=10)
    axes[0].set_ylabel("state h")
    axes[0].legend(fontsize=7, ncol=2, loc="best", title="line: nominal reference; bands: 5-95 %, 25-75 %; "
                   "dashed: median", title_fontsize=7)
    if readout is not None:
        y, y_ref = readout
        for j in range(min(y_ref.shape[1], MAX_TRACES)):
            _bands(axes[1], t, y[:, :, j], y_ref[:, j], colors[j % len(colors)], f"y{j} (nominal reference)")
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
        ax.hist(finite, bins=bins, color="C0", alpha=0.7)
        ax.set_xscale("log")
    ax.axvline(threshold, color="C3", lw=1.2, ls=":", label=f"threshold {threshold:g}{threshold_note}")
    failed = int(np.sum(~np.isfinite(errors)))
    ax.set_xlabel("run error (worst neuron / output, relative to its own scale)"
                  + (f"; {failed} failed run(s) not shown" if failed else ""))
    ax.set_ylabel("runs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return png_bytes(fig)


def sweep_figure(labels: list[str], errors: list[np.ndarray], thresholds: list[float], *, title: str) -> bytes:
    """PNG bytes: the runs' errors per sweep point (dots; median and 5-95 % bar when there
    are several runs), thresholds dotted, failed runs as crosses at the top."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(labels) + 3), 4.5))
    x = np.arange(len(labels))
    finite_all = np.concatenate([e[np.isfinite(e)] for e in errors]) if errors else np.zeros(0)
    top = float(finite_all.max()) * 3 if finite_all.size else 1.0
    for i, e in enumerate(errors):
        ok = e[np.isfinite(e)]
        ax.scatter(np.full(ok.size, i), ok, s=12, color="C0", alpha=0.6)
        if ok.size > 1:
            p5, p50, p95 = np.percentile(ok, (5, 50, 95))
            ax.errorbar(i + 0.15, p50, yerr=[[p50 - p5], [p95 - p50]], fmt="o", color="C1", ms=4, capsize=3)
        bad = int(np.sum(~np.isfinite(e)))
        if bad:
            ax.scatter([i], [top], marker="x", color="C3", s=40)
            ax.annotate(f"{bad} failed", (i, top), fontsize=7, ha="center", va="bottom")
        ax.hlines(thresholds[i], i - 0.3, i + 0.3, color="C3", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("run error (worst neuron / output)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)
