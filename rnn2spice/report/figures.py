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
                 readout: tuple[np.ndarray, np.ndarray] | None = None,
                 readout_label: str = "y = w_out h + b_out") -> bytes:
    """PNG bytes: overlays of SPICE and reference (top), |error| per drawn neuron (bottom).

    ``readout``: (SPICE, reference) outputs y (``readout_label``: its formula), shape
    (points, p) each, drawn in a third panel when given.
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
        ax3.set_ylabel(f"readout {readout_label}", fontsize=8)
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


def chaos_figure(time: np.ndarray, simulated: np.ndarray, ref: np.ndarray, *, title: str, growth_time: np.ndarray,
                 growth: np.ndarray, exponent: float, floor: float, threshold: float, horizon: float,
                 scores: list[tuple[str, float, bool]]) -> bytes:
    """PNG bytes of a chaotic run (THEORY.md 9): states (top, horizon marked), the divergence
    max_k |sim - ref| / max |ref| on a log scale against the predicted floor exp(Lambda(t))
    and floor exp(lambda_1 t) (middle), and the statistics beyond the horizon as
    score / bound per test, <= 1 passes (bottom).  ``scores``: (name, score / bound, passed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = neuron_subset(simulated.shape[1], 4)
    scale = 1e3 if time[-1] < 1.0 else 1.0
    unit = "ms" if scale == 1e3 else "s"
    fig = plt.figure(figsize=(8, 9))
    ax1 = fig.add_subplot(3, 1, 1)
    ax2 = fig.add_subplot(3, 1, 2, sharex=ax1)
    ax3 = fig.add_subplot(3, 1, 3)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, k in enumerate(idx):
        col = colors[i % len(colors)]
        ax1.plot(time * scale, ref[:, k], color=col, lw=2.2, alpha=0.35, label=f"h{k}")
        ax1.plot(time * scale, simulated[:, k], color=col, lw=0.9, ls="--")
    big = float(np.max(np.abs(ref))) or 1.0
    with np.errstate(invalid="ignore"):
        div = np.max(np.abs(simulated - ref), axis=1) / big
    ax2.semilogy(time * scale, np.maximum(div, 1e-18), color="C3", lw=0.8, label="|SPICE - reference| / max|ref|")
    ax2.semilogy(growth_time * scale, floor * np.exp(growth), color="k", lw=1.0,
                 label="predicted: floor exp(Lambda(t)) along the reference")
    t0 = float(growth_time[0])
    ax2.semilogy(growth_time * scale, floor * np.exp(exponent * (growth_time - t0)), color="0.5", lw=0.8, ls=":",
                 label=f"floor exp(lambda_1 t), lambda_1 = {exponent:.3g} 1/s")
    ax2.axhline(threshold, color="C2", lw=0.8, ls="--", label="threshold")
    ax2.set_ylim(max(min(floor, float(np.min(div[div > 0])) if np.any(div > 0) else floor) / 10, 1e-16), 10.0)
    for ax in (ax1, ax2):
        ax.axvline(horizon * scale, color="C1", lw=1.2)
        ax.axvspan(horizon * scale, time[-1] * scale, color="C1", alpha=0.06)
    ax2.text(horizon * scale, threshold, " horizon T_p", color="C1", fontsize=8, va="bottom")
    ax1.set_title(title)
    ax1.set_ylabel("state h (model units)")
    ax1.legend(fontsize=7, ncol=2, loc="best", title="wide: reference, dashed: SPICE", title_fontsize=7)
    ax2.set_ylabel("divergence")
    ax2.set_xlabel(f"time ({unit}); pointwise up to T_p, statistics beyond (shaded)")
    ax2.legend(fontsize=7, loc="lower right")
    names = [n for n, _, _ in scores]
    values = [v for _, v, _ in scores]
    ax3.barh(names, values, color=["C2" if ok else "C3" for _, _, ok in scores])
    ax3.axvline(1.0, color="k", lw=0.8, ls="--")
    ax3.set_xlabel("beyond the horizon: circuit's score / bound from the reference ensemble (<= 1 passes)")
    fig.tight_layout()
    return png_bytes(fig)


def png_bytes(fig, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (written atomically by the caller); closes it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def bode_figure(result, *, title: str | None = None) -> bytes:
    """PNG bytes: magnitude (dB) and phase (deg) of SPICE (markers) over the exact H (lines),
    and the relative error, for a readable subset of neurons and inputs.

    ``result``: an :class:`~rnn2spice.workflows.ac.AcResult` (frequency, simulated,
    reference, tolerance, spec, compiled, rel_max_error_per_entry, worst_entry).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, m = result.reference.shape[1:]
    inputs = neuron_subset(m, 2)
    neurons = neuron_subset(n, 6 if len(inputs) == 1 else 3)
    f = result.frequency
    scale = float(np.max(np.abs(result.reference))) or 1.0
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(8, 8.5), sharex=True, height_ratios=(2, 2, 1))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ("-", "--")
    mark_every = max(1, f.size // 40)
    i = 0
    for li, l in enumerate(inputs):
        for k in neurons:
            col = colors[i % len(colors)]
            i += 1
            ref, sim = result.reference[:, k, l], result.simulated[:, k, l]
            label = f"h{k} / x{l}"
            with np.errstate(divide="ignore"):
                ax1.semilogx(f, 20 * np.log10(np.abs(ref)), color=col, ls=styles[li], lw=2.2, alpha=0.45, label=label)
                ax1.semilogx(f, 20 * np.log10(np.abs(sim)), color=col, ls="none", marker=".", ms=3,
                             markevery=mark_every)
            ax2.semilogx(f, np.degrees(np.unwrap(np.angle(ref))), color=col, ls=styles[li], lw=2.2, alpha=0.45)
            ax2.semilogx(f, np.degrees(np.unwrap(np.angle(sim))), color=col, ls="none", marker=".", ms=3,
                         markevery=mark_every)
            ax3.loglog(f, np.maximum(np.abs(sim - ref) / scale, 1e-18), color=col, ls=styles[li], lw=0.8)
    shown = []
    if len(neurons) < n:
        shown.append(f"{len(neurons)} of {n} neurons")
    if len(inputs) < m:
        shown.append(f"{len(inputs)} of {m} inputs")
    spec = result.spec
    worst = result.worst_entry
    head = title or (f"{spec.name}: {result.compiled.form}/{result.compiled.coupling}, "
                     f"rel. max error {result.rel_max_error_per_entry:.2e} (h{worst['neuron']} / x{worst['input']})")
    ax1.set_title(head + (f" ({', '.join(shown)})" if shown else ""))
    ax1.set_ylabel("|H| (dB, state per unit input)")
    ax1.legend(fontsize=7, ncol=2, loc="best", title="lines: exact, dots: SPICE", title_fontsize=7)
    ax2.set_ylabel("phase (deg)")
    ax3.axhline(result.tolerance, color="k", lw=0.8, ls=":")
    ax3.set_ylabel("|SPICE - exact| / max|H|")
    ax3.set_xlabel("frequency (Hz)")
    for ax in (ax1, ax2, ax3):
        ax.grid(True, which="both", lw=0.3, alpha=0.5)
    fig.tight_layout()
    return png_bytes(fig)


MAX_PLOTTED_TRIALS = 4


def task_figure(result) -> bytes:
    """PNG: per trial (up to 4), input and readouts (top), readout differences (bottom).

    ``result``: a :class:`~rnn2spice.workflows.task.TaskResult`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trials = result.trials[:MAX_PLOTTED_TRIALS]
    fig, axes = plt.subplots(2, len(trials), figsize=(6.5 * len(trials), 6.5), sharex="col",
                             height_ratios=(2, 1), squeeze=False)
    ms = 1e3
    for col, tr in enumerate(trials):
        ax, ax2 = axes[0, col], axes[1, col]
        s, e = tr.stimulus.window
        t_grid = tr.grid * ms
        t_in = np.arange(tr.stimulus.x.shape[0]) * result.dt * ms
        ax.step(t_in, tr.stimulus.x[:, 0], where="post", color="0.6", lw=0.8, label="input x[k] (held)")
        ax.axvspan(t_grid[s] - result.dt * ms, t_grid[e - 1], color="C2", alpha=0.08, label="response window")
        for z in (-result.dead_zone, result.dead_zone):
            ax.axhline(z, color="0.5", lw=0.6, ls=":")
        ax.plot(t_grid, tr.y_discrete[:, 0], ".", color="C0", ms=2.5, label="discrete network y[k]")
        ax.plot(t_grid, tr.y_reference[:, 0], color="C1", lw=2.2, alpha=0.45, label="continuous reference")
        ax.plot(tr.spice_time * ms, tr.y_spice_raw[:, 0], "--", color="C3", lw=1.0, label="SPICE circuit")
        st = tr.stats
        verdict = "PASS" if tr.passed else "FAIL"
        ax.set_title(f"{tr.stimulus.label}\ndecision discrete {st['discrete']['decision'][0]:+d}, "
                     f"SPICE {st['spice']['decision'][0]:+d}: {verdict}", fontsize=9)
        ax.set_ylabel("readout y")
        if col == 0:
            ax.legend(fontsize=7, loc="best")
        d1 = np.abs(tr.y_spice[:, 0] - tr.y_discrete[:, 0])
        d2 = np.abs(tr.y_spice_raw[:, 0] - tr.y_reference_raw[:, 0])
        ax2.semilogy(t_grid, np.maximum(d1, 1e-12), color="C0", lw=0.9, label="|SPICE - discrete|")
        ax2.semilogy(tr.spice_time * ms, np.maximum(d2, 1e-12), color="C3", lw=0.7, label="|SPICE - reference|")
        ax2.axhline(result.tolerance, color="k", lw=0.7, ls="--", label="tolerance")
        ax2.set_xlabel("time (ms)")
        ax2.set_ylabel("readout difference")
        if col == 0:
            ax2.legend(fontsize=7, loc="best")
    shown = "" if len(trials) == len(result.trials) else f" (first {len(trials)} of {len(result.trials)} trials)"
    fig.suptitle(f"{result.spec.name}: task check, dt = {result.dt:g} s, tau = {float(result.spec.tau[0]):g} s{shown}",
                 fontsize=10)
    fig.tight_layout()
    return png_bytes(fig, dpi=100)
