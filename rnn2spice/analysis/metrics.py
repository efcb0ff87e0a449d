"""Comparison of simulated and reference trajectories (THEORY.md section 6).

One rule for every relative error rnn2spice reports -- the states of ``check``, the readout
``y = w_out h + b_out``, the entries of the AC transfer matrix -- in :func:`relative_error`.
Samples (time or frequency points) run along axis 0; every other index is a *channel* (a
neuron, an output, a (neuron, input) entry), and each channel is judged on its own scale:

    e_c = max_t |sim_c(t) - ref_c(t)| / max(max_t |ref_c(t)|, floor_c)

The verdict is on ``max_c e_c``, so a large channel cannot hide a wrong small one.  The
global figure ``max_{t,c} |sim - ref| / max_{t,c} |ref|`` is kept as a secondary number.

The floor (:func:`resolution_floor`) is where a channel stops being judged relative to its
own scale::

    floor_c = min(atol_c / threshold, max_{t,c} |ref|)

``atol_c`` is the simulator's absolute tolerance on that quantity, from the netlist's
``.options`` (:func:`state_atol`): ``vntol`` for a node voltage (parallel form), ``abstol``
for a branch current (series form); 1 V or 1 A is one unit of h.  Below the cap,
``e_c <= threshold`` means ``err_c <= max(threshold * scale_c, atol_c)`` -- SPICE's own
form of test (``reltol |x| + abstol``): an error no larger than what the netlist asks
ngspice to resolve never fails a channel (so a neuron that stays ~0 is not judged on
round-off), and any larger one is judged against the channel's own scale.  The cap at the
largest reference value keeps the verdict never looser than the global figure: a network
whose states all stay below ``atol / threshold`` is judged relative to its largest state,
as before.  The rules at the edges: a channel with ``floor = scale = 0`` has error 0 when
it is matched exactly and inf otherwise; a non-finite simulated (or reference) value makes
its channel's error inf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.network.readout import readout
from rnn2spice.network.spec import RnnSpec

#: Default pass thresholds on the relative max error, per accuracy mode.
THRESHOLDS = {"default": 1e-3, "high": 1e-6}


# =========================================================================== the one rule

@dataclass(frozen=True, eq=False)
class RelativeError:
    """Errors of ``sim`` against ``ref`` per channel, with the floor used (module docstring)."""

    per_channel: np.ndarray          # e_c, shape = the channel shape
    max_abs_per_channel: np.ndarray  # max_t |sim_c - ref_c|
    scale_per_channel: np.ndarray    # max_t |ref_c|
    floor: np.ndarray                # floor_c
    global_error: float              # max_{t,c} |sim - ref| / max_{t,c} |ref| (secondary)
    max_abs: float                   # max_{t,c} |sim - ref|
    scale: float                     # max_{t,c} |ref|

    @property
    def max(self) -> float:
        """The verdict figure ``max_c e_c`` (0 without channels)."""
        return float(np.max(self.per_channel)) if self.per_channel.size else 0.0

    @property
    def worst(self) -> tuple[int, ...]:
        """Index of the channel with the largest ``e_c`` (the first one on a tie)."""
        if not self.per_channel.size:
            return ()
        return tuple(int(i) for i in np.unravel_index(int(np.argmax(self.per_channel)), self.per_channel.shape))


def relative_error(simulated, reference, *, floor=0.0) -> RelativeError:
    """Per-channel and global relative errors of ``simulated`` against ``reference``.

    Both of shape (samples, *channels), real or complex; ``floor`` (absolute, units of the
    data) is a number or an array broadcast to the channel shape.
    """
    sim = np.asarray(simulated)
    ref = np.asarray(reference)
    if sim.shape != ref.shape:
        raise ValueError(f"shapes differ: simulated {sim.shape}, reference {ref.shape}")
    if sim.ndim < 1:
        raise ValueError("the data need a sample axis (axis 0)")
    channels = sim.shape[1:]
    floor = np.broadcast_to(np.asarray(floor, dtype=float), channels).copy()
    if sim.shape[0] == 0 or not int(np.prod(channels)):
        zeros = np.zeros(channels)
        return RelativeError(zeros, zeros, zeros, floor, 0.0, 0.0, 0.0)
    # a diverging run gives inf errors, not warnings
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        err = np.abs(sim - ref)
        finite = np.all(np.isfinite(sim) & np.isfinite(ref), axis=0)
        max_abs = np.where(finite, np.max(np.where(np.isfinite(err), err, 0.0), axis=0), np.inf)
        scale = np.max(np.where(np.isfinite(ref), np.abs(ref), 0.0), axis=0)
        den = np.maximum(scale, floor)
        per = np.where(den > 0, max_abs / np.where(den > 0, den, 1.0), np.where(max_abs == 0, 0.0, np.inf))
        g_abs = float(np.max(max_abs))
        g_scale = float(np.max(scale))
    if g_scale > 0:
        g = g_abs / g_scale
    else:  # the exact solution is identically zero: any error is infinitely relative
        g = 0.0 if g_abs == 0.0 else float("inf")
    return RelativeError(per, max_abs, scale, floor, g, g_abs, g_scale)


def resolution_floor(atol, threshold: float, scale: float) -> np.ndarray:
    """``min(atol / threshold, scale)``: the level below which a channel is judged against
    the simulator's absolute tolerance ``atol`` instead of its own scale (module docstring);
    ``scale`` is the largest reference value of all channels."""
    if not threshold > 0:
        raise ValueError(f"threshold must be positive (got {threshold!r})")
    return np.minimum(np.asarray(atol, dtype=float) / threshold, float(scale))


def state_atol(options: ir.Options, probes: Sequence[ir.Probe]) -> np.ndarray:
    """The simulator's absolute tolerance on each state, per unit of h: ``vntol`` (V) for a
    node voltage, ``abstol`` (A) for a branch current."""
    return np.array([options.vntol if p.kind == "voltage" else options.abstol for p in probes], dtype=float)


def _number_or_list(values: np.ndarray):
    """One number when every channel has the same value, else the list."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size and np.all(values == values[0]):
        return float(values[0])
    return [float(x) for x in values]


# =========================================================================== readout

@dataclass(frozen=True, eq=False)
class ReadoutComparison:
    """Errors of the readout ``y = w_out h + b_out`` computed from both trajectories.

    Each output is judged like a neuron; its ``atol`` is what the states' tolerances allow
    through the readout, ``sum_j |w_out_ij| atol_j``.
    """

    errors: RelativeError
    threshold: float

    @property
    def outputs(self) -> int:
        return int(self.errors.per_channel.size)

    @property
    def rel_max_error_per_output(self) -> float:
        return self.errors.max

    @property
    def worst_output(self) -> int:
        return self.errors.worst[0] if self.outputs else 0

    @property
    def passed(self) -> bool:
        return bool(self.errors.max <= self.threshold)

    def as_dict(self) -> dict:
        e = self.errors
        return {
            "passed": self.passed,
            "outputs": self.outputs,
            "rel_max_error_per_output": float(e.max),   # the verdict figure
            "worst_output": self.worst_output,
            "rel_error_per_output": [float(x) for x in e.per_channel],
            "rel_max_error": float(e.global_error),     # secondary: max error / largest |y|
            "max_abs_error": float(e.max_abs),
            "max_abs_error_per_output": [float(x) for x in e.max_abs_per_channel],
            "max_abs_reference": float(e.scale),
            "floor": [float(x) for x in e.floor],
        }


def compare_readout(spec: RnnSpec, simulated: np.ndarray, reference: np.ndarray, *, threshold: float,
                    atol) -> ReadoutComparison | None:
    """The readout of both state trajectories compared per output; ``None`` without a readout.

    ``atol``: the simulator's absolute tolerance per state (:func:`state_atol`).
    """
    y_sim, y_ref = readout(spec, simulated), readout(spec, reference)
    if y_sim is None:
        return None
    atol_y = np.abs(np.asarray(spec.w_out, dtype=float)) @ np.broadcast_to(np.asarray(atol, dtype=float), (spec.n,))
    scale = float(np.max(np.abs(y_ref))) if y_ref.size and np.all(np.isfinite(y_ref)) else 0.0
    return ReadoutComparison(relative_error(y_sim, y_ref, floor=resolution_floor(atol_y, threshold, scale)),
                             threshold)


# =========================================================================== states

@dataclass(frozen=True, eq=False)
class Comparison:
    """Errors of the simulated states (and readout) against the reference at the
    simulator's time points.

    Verdict: every neuron on its own scale, ``rel_max_error_per_neuron = max_k e_k``
    (module docstring), and every readout output likewise.  ``rel_max_error`` is the
    global figure ``max_{t,k} |sim_k - ref_k| / max_{t,k} |ref_k|`` (secondary).
    """

    errors: RelativeError
    rms_error_per_neuron: np.ndarray
    points: int
    threshold: float
    atol: np.ndarray                          # simulator tolerance per state the floor comes from
    readout: ReadoutComparison | None = field(default=None)

    @property
    def rel_max_error(self) -> float:
        """The global figure (secondary)."""
        return self.errors.global_error

    @property
    def max_abs_error(self) -> float:
        return self.errors.max_abs

    @property
    def max_abs_error_per_neuron(self) -> np.ndarray:
        return self.errors.max_abs_per_channel

    @property
    def rel_error_per_neuron(self) -> np.ndarray:
        return self.errors.per_channel

    @property
    def rel_max_error_per_neuron(self) -> float:
        """The verdict figure of the states, ``max_k e_k``."""
        return self.errors.max

    @property
    def worst_neuron(self) -> int:
        return self.errors.worst[0] if self.errors.per_channel.size else 0

    @property
    def floor(self) -> np.ndarray:
        return self.errors.floor

    @property
    def verdict_error(self) -> float:
        """What ``passed`` compares with the threshold: the worst neuron's or output's error."""
        out = self.readout.rel_max_error_per_output if self.readout is not None else 0.0
        return max(self.rel_max_error_per_neuron, out)

    @property
    def states_passed(self) -> bool:
        return bool(self.rel_max_error_per_neuron <= self.threshold)

    @property
    def passed(self) -> bool:
        """Every neuron and every readout output within the threshold."""
        return self.states_passed and (self.readout is None or self.readout.passed)

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "rel_max_error_per_neuron": float(self.rel_max_error_per_neuron),  # the verdict figure
            "worst_neuron": self.worst_neuron,
            "rel_error_per_neuron": [float(x) for x in self.rel_error_per_neuron],
            "floor": _number_or_list(self.floor),
            "atol": _number_or_list(self.atol),
            "rel_max_error": float(self.rel_max_error),   # secondary: the global figure
            "max_abs_error": float(self.max_abs_error),
            "threshold": float(self.threshold),
            "points": int(self.points),
            "max_abs_error_per_neuron": [float(x) for x in self.max_abs_error_per_neuron],
            "rms_error_per_neuron": [float(x) for x in self.rms_error_per_neuron],
            # y = w_out h + b_out from both trajectories; None without a readout
            "readout": None if self.readout is None else self.readout.as_dict(),
        }


def compare(simulated: np.ndarray, reference: np.ndarray, *, threshold: float, atol,
            spec: RnnSpec | None = None) -> Comparison:
    """Compare state arrays of shape (points, n) sampled at the same times.

    ``atol``: the simulator's absolute tolerance per state (a number or n of them,
    :func:`state_atol`), which sets the floor; with ``spec`` (that has a readout) the
    readout is compared too and is part of the verdict.
    """
    simulated = np.asarray(simulated, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if simulated.ndim != 2:
        raise ValueError(f"states must have shape (points, n) (got {simulated.shape})")
    n = simulated.shape[1]
    atol = np.broadcast_to(np.asarray(atol, dtype=float), (n,)).copy()
    scale = float(np.max(np.abs(reference))) if reference.size and np.all(np.isfinite(reference)) else 0.0
    errors = relative_error(simulated, reference, floor=resolution_floor(atol, threshold, scale))
    with np.errstate(over="ignore", invalid="ignore"):
        rms = np.sqrt(np.mean((simulated - reference) ** 2, axis=0)) if simulated.size else np.zeros(n)
    return Comparison(errors, rms, simulated.shape[0], threshold, atol,
                      None if spec is None else compare_readout(spec, simulated, reference,
                                                                threshold=threshold, atol=atol))
