"""A chaotic transient (THEORY.md 9, `chaos.amplification`): a random network that wanders
chaotically and then settles on a fixed point has lambda_1 <= 0 over the run, yet its accuracy
floor grows meanwhile, so a correct circuit cannot follow the reference pointwise through the
wandering (a new user's rate network, n = 50, g = 4, seed 5: pointwise error / threshold 0.99
over 0.2 s).  It gets a horizon where the growth reaches ln 4 and is judged like a chaotic run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rnn2spice.analysis import chaos
from rnn2spice.analysis.reference import solve_nonlinear
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.workflows.pipeline import Trajectory, judge

from test_chaos import random_net
from test_chaos_transients import draw, predicted, KINDS


def settling():
    """The new user's network: ~40 ms of chaotic wandering, then a fixed point (lambda_1 ~ -47 1/s)."""
    return random_net(n=50, g=4.0, seed=5, convention="rate", t_stop=0.2)


@pytest.fixture(scope="module")
def predicted_settling():
    spec = settling()
    grid = np.linspace(0.0, spec.t_stop, 2001)
    ref = solve_nonlinear(spec, grid, rtol=1e-8, atol=1e-10)
    return spec, grid, ref, chaos.horizon(spec, grid, ref, floor=1.25e-4, threshold=1e-3)


def test_the_amplification_is_the_tangent_growth_weighted_by_the_state_independently_computed(predicted_settling):
    spec, grid, ref, hz = predicted_settling
    e = hz.exponent
    growth = chaos.amplification(e, grid, ref)
    # the definition written out as all pairs (s <= t) on a coarse subsample (an independent route)
    idx = np.linspace(0, e.time.size - 1, 300).astype(int)
    size = np.interp(e.time[idx], grid, np.linalg.norm(ref, axis=1))
    lam = e.growth[idx, 0]
    pairs = lam[None, :] - lam[:, None] + np.log(size / np.max(np.linalg.norm(ref, axis=1)))[:, None]  # [s, t]
    brute = np.max(np.where(np.tri(idx.size, dtype=bool).T, pairs, -np.inf), axis=0)
    assert np.all(growth[idx] >= brute - 1e-9)             # the fine grid only adds candidates s
    assert np.max(growth) == pytest.approx(float(np.max(brute)), abs=0.05)
    assert hz.amplification == pytest.approx(float(np.max(growth)))
    assert hz.transient_chaos and hz.lyapunov_exponent < 0


def test_a_settling_chaotic_transient_has_a_horizon_although_lambda_is_negative():
    spec = settling()
    hz = predicted(spec)
    assert hz.lyapunov_exponent < 0 and hz.transient_chaos and hz.chaotic, hz.as_dict()
    assert hz.amplification >= chaos.TRANSIENT_LEVEL
    # the horizon lies inside the wandering (it stops by ~40 ms), where the growth first reaches ln 4
    assert 0.002 < hz.horizon < 0.04
    assert hz.as_dict()["transient_chaos"] is True and hz.as_dict()["horizon"] == hz.horizon
    # judge() decides the same along a run's own samples: pointwise up to T_p, statistics beyond;
    # a trajectory from h0 moved by 1e-5 passes, the network with its weights x 1.3 fails
    t = np.linspace(0.0, spec.t_stop, 4001)
    ref = solve_nonlinear(spec, t, rtol=1e-10, atol=1e-12)
    rng = np.random.default_rng(1)
    moved = solve_nonlinear(replace(spec, h0=np.asarray(spec.h0) + 1e-5 * rng.standard_normal(spec.n)), t,
                            rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(moved - ref)) > 1e-5   # it does leave the reference while wandering
    result = judge(compile_rnn(spec), Trajectory(t, moved, "reference", "none", 0.0))
    assert result.horizon.chaotic and result.horizon.transient_chaos and result.statistics is not None
    assert result.comparison.points < t.size and result.passed, result.summary()
    other = solve_nonlinear(replace(spec, w=np.asarray(spec.w) * 1.3), t, rtol=1e-10, atol=1e-12)
    wrong = judge(compile_rnn(spec), Trajectory(t, other, "reference", "none", 0.0))
    assert not wrong.passed and not wrong.statistics.passed


@pytest.mark.parametrize("kind,seed", [(k, s) for k in KINDS for s in range(4) if k != "linear"])
def test_escapes_and_cycles_stay_below_the_transient_level(kind, seed):
    # the rule's other side: their floor grows with the motion (relative to the state), not beyond it
    hz = predicted(draw(kind, seed))
    assert not hz.transient_chaos and hz.horizon is None, (kind, seed, hz.as_dict())


@pytest.mark.ngspice
def test_check_of_the_settling_network_passes_with_a_horizon_and_statistics():
    # measured: 7 s (35 s on a loaded machine), pointwise error / threshold 0.15 up to T_p = 18 ms (0.99 over the whole
    # run before), every statistic passing
    from rnn2spice.workflows.pipeline import check
    result = check(settling())
    assert result.horizon.transient_chaos and result.predictability_horizon is not None
    assert result.statistics is not None and result.statistics.passed, result.summary()
    assert result.comparison.verdict_error <= 0.5 * result.comparison.threshold
    assert "chaotic transient" in result.summary()
    assert result.passed
