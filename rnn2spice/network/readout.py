"""The linear readout ``y = w_out h + b_out`` of a spec, applied to state trajectories.

Trained networks (Keras ``Dense``, a PyTorch ``nn.Linear`` after ``nn.RNN``) report their
answer through this readout, so ``check`` compares it as well as the states
(:func:`rnn2spice.analysis.metrics.compare_readout`, part of the verdict), and ``task``
decides from it.
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

