"""The linear readout ``y = w_out h + b_out`` of a spec, applied to state trajectories.

Trained networks (Keras ``Dense``, a PyTorch ``nn.Linear`` after ``nn.RNN``) report their
answer through this readout, so ``check`` compares it as well as the states, and
``task`` decides from it.
"""

from __future__ import annotations

import numpy as np

from rnn2spice.network.spec import RnnSpec


def readout(spec: RnnSpec, states: np.ndarray) -> np.ndarray | None:
    """``y(t) = w_out h(t) + b_out`` for states of shape (points, n): shape (points, p).

    ``None`` when the spec has no readout.
    """
    if spec.w_out is None:
        return None
    states = np.asarray(states, dtype=float)
    return states @ np.asarray(spec.w_out).T + np.asarray(spec.b_out)


def readout_errors(spec: RnnSpec, simulated: np.ndarray, reference: np.ndarray) -> dict | None:
    """Errors of the readout computed from simulated and reference states (same times).

    ``max_abs_error`` over time and outputs, and per output; ``rel_max_error`` divides by
    the largest |reference readout| (inf when that is 0 and the error is not).
    """
    y_sim, y_ref = readout(spec, simulated), readout(spec, reference)
    if y_sim is None:
        return None
    err = np.abs(y_sim - y_ref)
    max_abs = float(np.max(err)) if err.size else 0.0
    scale = float(np.max(np.abs(y_ref))) if y_ref.size else 0.0
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    if not np.all(np.isfinite(y_sim)):
        max_abs = rel = float("inf")
    return {
        "outputs": int(y_sim.shape[1]),
        "max_abs_error": max_abs,
        "rel_max_error": rel,
        "max_abs_error_per_output": [float(x) for x in (err.max(axis=0) if err.size else np.zeros(y_sim.shape[1]))],
        "max_abs_reference": scale,
    }
