"""The activation functions f, as numpy functions: THE table of the numeric layers.

Every numeric use of an activation reads :data:`ACTIVATIONS`: the spec's validation (its
names), the readout of the ``rate`` convention (f), the reference solver (f, its pieces at
a kink), the certificate and the AC check (f', the linearisation, THEORY.md 7).  The SPICE
expressions are the circuit layer's (:mod:`rnn2spice.circuit.writer`); the reader keeps its
own copy of them on purpose (:mod:`rnn2spice.circuit.reader`).

Arguments and values are dimensionless (model units).  Each function is finite for every
finite argument: sigmoid is written 1/2 + tanh(z/2)/2 and softplus max(z, 0) +
log(1 + exp(-|z|)), so no exp overflows.

relu at its kink: ``slope(0) = 1``, the right derivative (THEORY.md 7).  The choice is a
convention of the linearisation only: at the default h0 = 0 of a ``rate`` network the
linearisation then holds every weight (with 0 it would be -I/tau and certify none of them).
The reference never evaluates f' at the kink: it restarts its solver there and integrates
each side with its own smooth piece (:attr:`Activation.pieces`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Activation:
    """f, f' and what the reference and the step selection need to know of f."""

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    slope: Callable[[np.ndarray], np.ndarray]   # f'; at a kink the right derivative
    max_slope: float                            # sup |f'| (1/s per 1/s: bounds the Jacobian)
    #: At a kink at z = 0: the smooth (f, f') on z < 0 and on z > 0; None when f is smooth.
    pieces: tuple | None = None


def _sigmoid(z):
    return 0.5 + 0.5 * np.tanh(0.5 * np.asarray(z, dtype=float))


def _zero(z):
    return np.zeros_like(np.asarray(z, dtype=float))


def _one(z):
    return np.ones_like(np.asarray(z, dtype=float))


def _identity(z):
    return np.asarray(z, dtype=float)


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    Activation("linear", _identity, _one, 1.0),
    Activation("tanh", np.tanh, lambda z: 1.0 - np.tanh(z) ** 2, 1.0),
    Activation("relu", lambda z: np.maximum(z, 0.0), lambda z: np.where(np.asarray(z) >= 0.0, 1.0, 0.0), 1.0,
               pieces=((_zero, _zero), (_identity, _one))),
    Activation("sigmoid", _sigmoid, lambda z: 0.25 * (1.0 - np.tanh(0.5 * np.asarray(z, dtype=float)) ** 2), 0.25),
    Activation("softplus", lambda z: np.logaddexp(0.0, z), _sigmoid, 1.0),
)}
