"""The imported network and what every importer shares: formats, limits, equations, checks.

An importer reads a trained discrete-time RNN into an :class:`ImportedNetwork` in
column-vector form (``W`` is n x n, ``W_in`` n x m, ``w_out`` p x n); :func:`_check_network`
then checks the shapes common to every format.  The equation strings go into the spec's
provenance and into the header of the spec file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnn2spice.errors import ModelError, UsageError, shown
from rnn2spice.network.spec import ACTIVATIONS, LIMIT_NOTE, MAX_INPUTS, MAX_NEURONS

FORMATS = ("keras", "torch", "npz", "psychrnn")
#: Conventions an import can produce: ``ctrnn`` (activation inside the sum, Keras / nn.RNN) and
#: ``rate`` (activation outside the sum, PsychRNN and other rate networks).
IMPORT_CONVENTIONS = ("ctrnn", "rate")
#: Activations an importer may be told (``--activation``); the spec decides what it can build.
#: Every activation the spec knows (network/spec.ACTIVATIONS), in its order.
IMPORT_ACTIVATIONS = tuple(ACTIVATIONS)
#: Networks up to this size are written inline in the YAML; larger ones use an NPZ file.
INLINE_MAX_NEURONS = 8
#: Default trial length (steps) when the model file does not record its sequence length.
DEFAULT_STEPS = 100
NPZ_KEYS = ("W", "U", "W_in", "b", "w_out", "b_out", "tau")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

DISCRETE_EQ = "h[k] = tanh(W h[k-1] + W_in x[k] + b), h[-1] = 0"
LINEAR_DISCRETE_EQ = "h[k] = W h[k-1] + W_in x[k] + b, h[-1] = 0"
CONTINUOUS_EQ = "tau dh/dt = -h + tanh(W h + W_in x + b), h(0) = 0"
LINEAR_CONTINUOUS_EQ = "tau dh/dt = -h + W h + W_in x + b, h(0) = 0"
#: The rate (PsychRNN) form: activation outside the sum, leak alpha = dt / tau per step.
RATE_DISCRETE_EQ = ("x[k] = (1 - alpha) x[k-1] + alpha (W f(x[k-1]) + W_in u[k] + b), alpha = dt / tau, "
                    "x[-1] = x0; y[k] = w_out f(x[k]) + b_out")
RATE_CONTINUOUS_EQ = "tau dx/dt = -x + W f(x) + W_in u + b, x(0) = x0; y = w_out f(x) + b_out"


def discrete_equation(convention: str, activation: str, readout_of: str | None = None) -> str:
    """The discrete update an imported network runs (for the provenance and the spec header);
    ``readout_of="state"``: a rate network's readout of the state x."""
    if convention == "rate" and readout_of == "state":
        return discrete_equation(convention, activation).split("; y[k]")[0] + "; y[k] = w_out x[k] + b_out"
    if convention == "rate":
        return RATE_DISCRETE_EQ.replace("f(", f"{activation}(") if activation != "linear" else \
            RATE_DISCRETE_EQ.replace("f(x[k-1])", "x[k-1]").replace("f(x[k])", "x[k]")
    if activation == "linear":
        return LINEAR_DISCRETE_EQ
    return DISCRETE_EQ.replace("tanh", activation)


def continuous_equation(convention: str, activation: str, readout_of: str | None = None) -> str:
    """The continuous network the circuit realises (for the provenance and the spec header)."""
    if convention == "rate" and readout_of == "state":
        return continuous_equation(convention, activation).split("; y =")[0] + "; y = w_out x + b_out"
    if convention == "rate":
        return RATE_CONTINUOUS_EQ.replace("f(", f"{activation}(") if activation != "linear" else \
            RATE_CONTINUOUS_EQ.replace("f(x)", "x")
    if activation == "linear":
        return LINEAR_CONTINUOUS_EQ
    return CONTINUOUS_EQ.replace("tanh", activation)


@dataclass(eq=False)
class ImportedNetwork:
    """A discrete-time RNN as read from a file, in column-vector form (float64)."""

    w: np.ndarray                    # (n, n)  recurrent weights W
    w_in: np.ndarray                 # (n, m)  input weights
    bias: np.ndarray | None          # (n,) or None when the model has no recurrent bias
    w_out: np.ndarray | None = None  # (p, n)
    b_out: np.ndarray | None = None  # (p,)
    activation: str = "tanh"
    tau: np.ndarray | None = None    # (n,) s, only when the file records it (npz)
    steps: int | None = None         # sequence length recorded in the file
    convention: str = "ctrnn"        # "ctrnn" (f inside the sum) or "rate" (f outside)
    h0: np.ndarray | None = None     # (n,) initial state, when the file records it (PsychRNN init_state)
    w_factors: tuple | None = None   # (M (n, r), N (r, n)) when W = M N was given factored (--keys W=M@N)
    readout_of: str | None = None    # "state" or "rate" when known (PsychRNN: rate; --readout)
    format: str = ""
    layout: str = ""
    details: dict = field(default_factory=dict)  # dataset names, versions

    @property
    def n(self) -> int:
        return self.w.shape[0]

    @property
    def m(self) -> int:
        return self.w_in.shape[1]


def _real(arr, where: str, path: Path) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise ModelError(where, f"dtype {arr.dtype}", f"in {path.name} must hold real numbers")
    arr = arr.astype(np.float64)
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = "".join(f"[{i}]" for i in bad[0])
        raise ModelError(f"{where}{idx}", float(arr[tuple(bad[0])]), f"in {path.name} must be finite")
    return arr


def _check_network(net: ImportedNetwork, path: Path) -> None:
    n = net.w.shape[0]
    where = net.details.get("names", {})
    if net.w.ndim != 2 or net.w.shape[1] != n or n == 0:
        raise ModelError(where.get("w", "W"), f"shape {net.w.shape}", "the recurrent matrix must be square and non-empty")
    if n > MAX_NEURONS:
        raise ModelError(where.get("w", "W"), f"shape {net.w.shape}", f"too large: at most {MAX_NEURONS} neurons are supported"
                             + LIMIT_NOTE.format(var="RNN2SPICE_MAX_NEURONS"))
    if net.w_in.ndim != 2 or net.w_in.shape[0] != n:
        raise ModelError(where.get("w_in", "W_in"), f"shape {net.w_in.shape}", f"must have n = {n} rows (after transposing)")
    if net.w_in.shape[1] > MAX_INPUTS:
        raise ModelError(where.get("w_in", "W_in"), f"shape {net.w_in.shape}", f"at most {MAX_INPUTS} inputs are supported")
    if net.bias is not None and net.bias.shape != (n,):
        raise ModelError(where.get("bias", "b"), f"shape {net.bias.shape}", f"must have n = {n} entries")
    if net.w_out is not None:
        if net.w_out.ndim != 2 or net.w_out.shape[1] != n:
            raise ModelError(where.get("w_out", "w_out"), f"shape {net.w_out.shape}", f"the readout must have n = {n} columns")
        if net.b_out is not None and net.b_out.shape != (net.w_out.shape[0],):
            raise ModelError(where.get("b_out", "b_out"), f"shape {net.b_out.shape}",
                             f"must have p = {net.w_out.shape[0]} entries, one per output")
    elif net.b_out is not None:
        raise ModelError(where.get("b_out", "b_out"), "given", "a readout bias needs readout weights w_out")
    if net.w_factors is not None:
        m_f, n_f = net.w_factors
        if m_f.ndim != 2 or m_f.shape[0] != n or n_f.shape != (m_f.shape[1], n):
            raise ModelError(where.get("w", "W"), f"factors of shapes {m_f.shape}, {n_f.shape}",
                             f"must be n x r and r x n with n = {n}")
    if net.h0 is not None and net.h0.shape != (n,):
        raise ModelError(where.get("h0", "h0"), f"shape {net.h0.shape}", f"must have n = {n} entries")
    if net.tau is not None and net.tau.shape != (n,):
        raise ModelError(where.get("tau", "tau"), f"shape {net.tau.shape}", f"must be a scalar or have n = {n} entries")


def positive_seconds(value, field: str) -> float:
    """A finite positive number of seconds, or UsageError naming the option."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{field} must be a positive number of seconds (got {shown(value)})") from None
    if not (math.isfinite(x) and x > 0):
        raise UsageError(f"{field} must be a positive number of seconds (got {shown(value)})")
    return x
