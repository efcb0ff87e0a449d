"""Truncating a dense w to rank r, and predicting what that does before simulating (THEORY.md 8).

:func:`truncate` keeps the r largest singular values of w: w_r = U_r S_r V_r^T, as the
factors M = U_r S_r, N = V_r^T (the spec's ``w: {factors: [M, N]}``), which the compiler
realises with r latent nodes.  :func:`predict` solves the exact reference of the full and
of the truncated network on the same grid and reports how far apart their readouts (or,
without a readout, their states) are: the truncation's effect, known before ngspice runs.
:func:`check_truncated` then checks the truncated circuit against its own reference, as
``check`` does, and measures the circuit's readout against the *full* network's reference,
which the prediction should match to within the circuit's own error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rnn2spice.errors import UsageError
from rnn2spice.network.readout import readout
from rnn2spice.network.spec import RnnSpec
from rnn2spice.report.display import Displayed, Plotted
from rnn2spice.workflows.pipeline import CheckResult, check, solve_reference

#: Points of the grid on which the full and truncated references are compared.
PREDICTION_POINTS = 401


def truncate(spec: RnnSpec, rank: int) -> RnnSpec:
    """``spec`` with w replaced by its best rank-``rank`` approximation, as factors."""
    n = spec.n
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank < n:
        raise UsageError(f"--rank must be an integer from 1 to n - 1 = {n - 1} (got {rank!r})")
    if spec.w_factors is not None and spec.rank <= rank:
        raise UsageError(f"--rank {rank}: w is already given as factors of rank {spec.rank}")
    u, s, vt = np.linalg.svd(np.asarray(spec.w), full_matrices=False)
    m_f, n_f = u[:, :rank] * s[:rank], vt[:rank].copy()
    return replace(spec, w=m_f @ n_f, w_factors=(m_f, n_f),
                   provenance={**spec.provenance, "truncation": {
                       "rank": int(rank), "kept_singular_values": [float(x) for x in s[:rank]],
                       "largest_dropped": float(s[rank]) if rank < s.size else 0.0,
                       "relative_2_norm_error": float(s[rank] / s[0]) if rank < s.size and s[0] > 0 else 0.0}})


@dataclass(frozen=True)
class Prediction:
    """The truncation's effect on the exact network: max |y_r - y| (or |h_r - h|) over the run."""

    rank: int
    of: str                     # "readout" or "states"
    max_difference: float       # model units of y (or h)
    scale: float                # max |y| (or |h|) of the full network
    relative_2_norm_error: float  # sigma_{r+1} / sigma_1 of w
    seconds: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def describe(self) -> str:
        return (f"rank {self.rank} truncation of w (sigma_r+1 / sigma_1 = {self.relative_2_norm_error:.3g}): "
                f"predicted max |{'y' if self.of == 'readout' else 'h'}_r - {'y' if self.of == 'readout' else 'h'}| "
                f"= {self.max_difference:.4g} ({self.max_difference / self.scale if self.scale else 0:.3g} of the "
                f"full network's max {self.scale:.4g})")


def _output(spec: RnnSpec, states: np.ndarray) -> np.ndarray:
    y = readout(spec, states)
    return states if y is None else y


def predict(spec: RnnSpec, rank: int) -> tuple[RnnSpec, Prediction]:
    """The truncated spec and the predicted effect (module docstring), from the references alone."""
    import time

    start = time.perf_counter()
    trunc = truncate(spec, rank)
    grid = np.linspace(0.0, spec.t_stop, PREDICTION_POINTS)
    full = _output(spec, solve_reference(spec, grid))
    low = _output(trunc, solve_reference(trunc, grid))
    return trunc, Prediction(int(rank), "readout" if spec.w_out is not None else "states",
                             float(np.max(np.abs(low - full))), float(np.max(np.abs(full))),
                             trunc.provenance["truncation"]["relative_2_norm_error"], time.perf_counter() - start)


@dataclass(frozen=True, eq=False, repr=False)
class TruncatedCheck(Displayed, Plotted):
    """``check`` of the truncated circuit, with the prediction and its measurement."""

    SHOWN = CheckResult.SHOWN

    full: RnnSpec
    prediction: Prediction
    result: CheckResult
    measured: float           # max |circuit's y - full network's y| over the simulation's points

    @property
    def passed(self) -> bool:
        return self.result.passed

    def _headline(self) -> str:
        return f"{self.result._headline()} (rank {self.prediction.rank} truncation)"

    def summary(self, *, verbose: bool = True) -> str:
        return (self.result.summary(verbose=verbose) + "\n" + self.prediction.describe()
                + f"; measured (circuit of the truncated network vs the full network's reference) {self.measured:.4g}")

    def report(self) -> dict:
        return {**self.result.report(), "truncation": {**self.prediction.as_dict(), "measured": self.measured}}

    def _draw(self, ax):
        return self.result._draw(ax)


def check_truncated(spec: RnnSpec, rank: int, *, on_prediction=None, **options) -> TruncatedCheck:
    """Predict the rank-``rank`` truncation's effect, then ``check`` the truncated circuit
    (``options``: :func:`~rnn2spice.workflows.pipeline.check`'s) and measure it against the
    full network's reference.  ``on_prediction(prediction)`` is called before simulating."""
    trunc, prediction = predict(spec, rank)
    if on_prediction is not None:
        on_prediction(prediction)
    result = check(trunc, **options)
    model_full = solve_reference(spec, result.time)  # the trajectory is in model time and units
    measured = float(np.max(np.abs(_output(trunc, result.states) - _output(spec, model_full))))
    return TruncatedCheck(spec, prediction, result, measured)
