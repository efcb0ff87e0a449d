"""The linear readout of a spec, applied to state trajectories (THEORY.md sections 6, 7).

    readout_of: state   y = w_out h + b_out      (default in the paper and ctrnn conventions)
    readout_of: rate    y = w_out f(h) + b_out   (default in the rate convention: the rates
                                                  r = f(h) are what the network emits)

A rate network whose trained readout is of the state (low-rank RNNs, PsychRNN-style models
with ``out_nonlinearity: identity``) says ``readout_of: state`` (THEORY.md 7).

Trained networks (Keras ``Dense``, a PyTorch ``nn.Linear`` after ``nn.RNN``, PsychRNN's
``W_out r``) report their answer through this readout, so ``check`` compares it as well as
the states (:func:`rnn2spice.analysis.metrics.compare_readout`, part of the verdict), and
``task`` decides from it.
"""

from __future__ import annotations

import numpy as np

from rnn2spice.network.activations import ACTIVATIONS
from rnn2spice.network.spec import RnnSpec

def readout(spec: RnnSpec, states: np.ndarray) -> np.ndarray | None:
    """``y(t)`` for states of shape (points, n): shape (points, p), from ``f(h)`` when the
    spec's readout is of the rate (:attr:`~rnn2spice.network.spec.RnnSpec.rate_readout`) and
    from ``h`` otherwise.

    ``None`` when the spec has no readout.
    """
    if spec.w_out is None:
        return None
    states = np.asarray(states, dtype=float)
    if spec.rate_readout:
        states = ACTIVATIONS[spec.activation].f(states)
    return states @ np.asarray(spec.w_out).T + np.asarray(spec.b_out)


def readout_label(spec: RnnSpec) -> str:
    """The readout's formula for figures and reports: ``y = w_out f(h) + b_out`` (f the
    activation's name) or ``y = w_out h + b_out``."""
    if spec.rate_readout and spec.activation != "linear":
        return f"y = w_out {spec.activation}(h) + b_out"
    return "y = w_out h + b_out"
