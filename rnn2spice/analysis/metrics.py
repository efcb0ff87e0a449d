"""Comparison of simulated and reference trajectories (THEORY.md section 6)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default pass thresholds on the relative max error, per accuracy mode.
THRESHOLDS = {"default": 1e-3, "high": 1e-6}


@dataclass(frozen=True, eq=False)
class Comparison:
    """Errors of the simulated states against the reference at the simulator's time points.

    ``rel_max_error`` = max_{t,k} |sim_k(t) - ref_k(t)| / max_{t,k} |ref_k(t)|.
    """

    rel_max_error: float
    max_abs_error: float
    max_abs_error_per_neuron: np.ndarray
    rms_error_per_neuron: np.ndarray
    points: int
    threshold: float

    @property
    def passed(self) -> bool:
        return bool(self.rel_max_error <= self.threshold)

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "rel_max_error": float(self.rel_max_error),
            "max_abs_error": float(self.max_abs_error),
            "threshold": float(self.threshold),
            "points": int(self.points),
            "max_abs_error_per_neuron": [float(x) for x in self.max_abs_error_per_neuron],
            "rms_error_per_neuron": [float(x) for x in self.rms_error_per_neuron],
        }


def compare(simulated: np.ndarray, reference: np.ndarray, *, threshold: float) -> Comparison:
    """Compare arrays of shape (points, n) sampled at the same times."""
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run gives inf errors, not warnings
        return _compare(simulated, reference, threshold=threshold)


def _compare(simulated: np.ndarray, reference: np.ndarray, *, threshold: float) -> Comparison:
    simulated = np.asarray(simulated, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if simulated.shape != reference.shape:
        raise ValueError(f"shapes differ: simulated {simulated.shape}, reference {reference.shape}")
    err = np.abs(simulated - reference)
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    max_abs = float(np.max(err)) if err.size else 0.0
    if scale > 0.0:
        rel = max_abs / scale
    else:  # the exact solution is identically zero: any error is infinitely relative
        rel = 0.0 if max_abs == 0.0 else float("inf")
    if not np.all(np.isfinite(simulated)):
        rel = max_abs = float("inf")
    return Comparison(
        rel_max_error=rel,
        max_abs_error=max_abs,
        max_abs_error_per_neuron=err.max(axis=0) if err.size else np.zeros(simulated.shape[1]),
        rms_error_per_neuron=np.sqrt(np.mean(err**2, axis=0)) if err.size else np.zeros(simulated.shape[1]),
        points=simulated.shape[0],
        threshold=threshold,
    )
