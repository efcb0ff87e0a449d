"""Chaotic networks: lambda_1, the horizon and the statistics beyond it (THEORY.md 9, issue 24).

The tangent-linear estimate (analysis/lyapunov.py) is checked against a known exponent (a
linear network: max Re eig(A)), against an independent route (Benettin's two nearby
trajectories, integrated by scipy on the network's own right-hand side) and against the
published g-dependence.  The statistical verdict is checked on runs that are right (a
trajectory from h0 perturbed at the floor) and on runs whose statistics differ (weights
x 1.3, one tau doubled) without ngspice; one ngspice test runs ``check`` end to end.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from rnn2spice.report.figures import png_bytes
from rnn2spice.analysis import chaos
from rnn2spice.analysis.lyapunov import largest_exponent
from rnn2spice.analysis.reference import solve, solve_nonlinear
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.pipeline import Trajectory, judge


def random_net(*, n, g, seed, convention="rate", t_stop=0.5, tau=1e-3, activation="tanh"):
    """The Sompolinsky-Crisanti-Sommers network: W_ij ~ N(0, g^2 / n), h0 ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    return spec_from_dict({"name": "scs", "tau": tau, "w": rng.normal(0.0, g / np.sqrt(n), (n, n)).tolist(),
                           "h0": rng.normal(0.0, 1.0, n).tolist(), "t_stop": t_stop, "convention": convention,
                           "activation": activation})


def benettin(spec, t_stop, *, d0=1e-8, interval=5e-3, burn_in=0.1):
    """Benettin et al. (1980) with two trajectories: a copy d0 away, renormalised every
    ``interval`` s; scipy's DOP853 on the network's equations written out here."""
    w, lam = np.asarray(spec.w), 1.0 / np.asarray(spec.tau)
    if spec.convention == "rate":
        def rhs(_, h):
            return lam * (-h + w @ np.tanh(h))
    else:
        def rhs(_, h):
            return lam * (-h + np.tanh(w @ h))
    x = np.array(spec.h0, dtype=float)
    y = x + d0 * np.random.default_rng(1).standard_normal(x.size) / np.sqrt(x.size)
    total = span = 0.0
    steps = int(round(t_stop / interval))
    for i in range(steps):
        x = solve_ivp(rhs, (0, interval), x, method="DOP853", rtol=1e-10, atol=1e-12).y[:, -1]
        y = solve_ivp(rhs, (0, interval), y, method="DOP853", rtol=1e-10, atol=1e-12).y[:, -1]
        d = np.linalg.norm(y - x)
        if i >= burn_in * steps:
            total += np.log(d / d0)
            span += interval
        y = x + (y - x) * d0 / d
    return total / span


# =========================================================================== lambda_1

@pytest.mark.parametrize("seed", range(3))
def test_linear_network_exponent_is_the_largest_real_eigenvalue(seed):
    # J = A everywhere: the tangent integration along the trajectory must find max Re eig(A),
    # whether the leading eigenvalue is real or a complex pair (random A of both kinds)
    rng = np.random.default_rng(seed)
    n = 8
    tau = rng.uniform(0.5e-3, 2e-3, n)
    w = rng.normal(0.0, 1.2 / np.sqrt(n), (n, n)) / tau[:, None]
    spec = spec_from_dict({"name": "lin", "tau": tau.tolist(), "w": w.tolist(), "h0": rng.normal(0, 1, n).tolist(),
                           "t_stop": 0.5})
    exact = float(np.max(np.linalg.eigvals(spec.state_matrix()).real))
    t = np.linspace(0, 0.5, 5001)
    h = solve(spec, t)
    est = largest_exponent(spec, t, h).value
    # a complex leading pair (or a non-normal A) makes ln|v| oscillate by O(1) around its
    # mean slope: over the 0.45 s averaged that is ~1 1/s
    assert est == pytest.approx(exact, abs=max(0.01 * abs(exact), 3.0))
    # the shortcut of chaos.horizon for a linear network is exact
    assert chaos.horizon(spec, t, h, floor=5e-4, threshold=1e-3).lyapunov_exponent == pytest.approx(exact)


@pytest.mark.parametrize("convention,seed", [pytest.param("rate", 0, marks=pytest.mark.slow), ("ctrnn", 0)])
def test_tangent_estimate_agrees_with_benettin_two_trajectories(convention, seed):
    # the bar: within 30 % of an independent estimate (measured agreement ~1-10 %)
    spec = random_net(n=30, g=4.0, seed=seed, convention=convention, t_stop=0.2)
    t = np.linspace(0, 0.2, 2001)
    ref = solve_nonlinear(spec, t, rtol=1e-10, atol=1e-12)
    mine = largest_exponent(spec, t, ref).value
    other = benettin(spec, 0.2)
    assert other > 20.0   # chaotic: the comparison means something
    assert mine == pytest.approx(other, rel=0.3)


@pytest.mark.slow
def test_g_dependence_follows_the_published_curve():
    """Sompolinsky, Crisanti & Sommers (1988), Phys. Rev. Lett. 61, 259: for n -> infinity
    the rest state is stable below g = 1 (there lambda_1 tau = g - 1, the edge of the circular
    law of W), lambda_1 = 0 at g = 1, and above it lambda_1 > 0 grows with g (as (g - 1)^2
    near 1).  Engelken, Wolf & Abbott (2020, arXiv:2006.02427) Fig. 2: lambda_1 tau is of
    order 0.1-0.5 for g = 2..4 at large n.  Checked at n = 300."""
    out = {}
    for g in (0.5, 1.0, 2.0, 3.0, 4.0):
        spec = random_net(n=300, g=g, seed=7, t_stop=0.2)
        t = np.linspace(0, 0.2, 2001)
        ref = solve_nonlinear(spec, t, rtol=1e-9, atol=1e-11)
        out[g] = largest_exponent(spec, t, ref).value * 1e-3    # lambda_1 tau
    assert out[0.5] == pytest.approx(0.5 - 1.0, abs=0.1)
    assert abs(out[1.0]) < 0.1
    assert 0.0 < out[2.0] < out[3.0] < out[4.0]
    assert 0.03 < out[2.0] and out[4.0] < 0.8


# =========================================================================== the verdict

def _trajectory(spec, t, states):
    return Trajectory(t, states, "reference", "none", 0.0)


@pytest.fixture(scope="module")
def chaotic():
    """A chaotic rate network (n = 30, g = 4, lambda_1 ~ 100 1/s, 200 time constants), its compiled circuit
    and a time grid like ngspice's."""
    spec = random_net(n=30, g=4.0, seed=0, t_stop=0.2)
    return spec, compile_rnn(spec), np.linspace(0.0, 0.2, 2001)


@pytest.fixture(scope="module")
def right(chaotic):
    """The verdict on a correct run: the same network from h0 moved by 1e-4 (the run's
    error is of that order)."""
    spec, compiled, t = chaotic
    moved = replace(spec, h0=np.asarray(spec.h0) + 1e-4 * np.random.default_rng(3).standard_normal(spec.n))
    return judge(compiled, _trajectory(spec, t, solve_nonlinear(moved, t, rtol=1e-9, atol=1e-11)))


def test_a_right_run_passes_pointwise_to_the_horizon_and_statistically_beyond(right):
    result = right
    assert result.horizon.chaotic and result.lyapunov_exponent > 30.0
    assert 0 < result.predictability_horizon < 0.1
    # the pointwise error over the whole run is O(1): only the two-part verdict passes it
    assert np.max(np.abs(result.states - result.reference)) > 0.1
    assert result.pointwise_passed and result.statistics.passed, result.statistics.describe()
    assert result.passed
    rep = result.report()
    assert rep["lyapunov_exponent"] == result.lyapunov_exponent and rep["horizon"] == result.predictability_horizon
    assert rep["parts"] == {"pointwise": True, "statistics": True}
    assert set(rep["statistics"]["parts"]) == {"mean", "variance", "autocorrelation", "population",
                                               "lyapunov_exponent"}
    assert "horizon" in result.summary() and "lambda_1" in result.summary()
    # the horizon is where floor exp(Lambda) reaches the threshold: ~ ln(threshold / floor) / lambda_1
    # (later by the tangent's alignment at the start: Lambda dips before it grows)
    h = result.horizon
    assert 1 / 3 < h.horizon / (np.log(h.threshold / h.floor) / h.lyapunov_exponent) < 3
    assert h.exponent.crossing(np.log(h.threshold / h.floor)) == h.horizon


@pytest.mark.parametrize("tamper", ["weights x1.3", pytest.param("one tau doubled", marks=pytest.mark.slow)])
def test_a_run_whose_statistics_differ_fails_the_statistical_part(chaotic, tamper):
    spec, compiled, t = chaotic
    if tamper == "weights x1.3":
        wrong = replace(spec, w=np.asarray(spec.w) * 1.3)
    else:   # the most active neuron's time constant doubled
        k = int(np.argmax(solve_nonlinear(spec, t, rtol=1e-8, atol=1e-10).var(axis=0)))
        wrong = replace(spec, tau=np.asarray(spec.tau) * np.where(np.arange(spec.n) == k, 2.0, 1.0))
    result = judge(compiled, _trajectory(spec, t, solve_nonlinear(wrong, t, rtol=1e-9, atol=1e-11)))
    assert result.statistics is not None and not result.statistics.passed
    assert not result.passed
    assert "FAIL" in result.summary() and "statistics" in result.summary()


def test_a_non_chaotic_network_keeps_the_pointwise_verdict():
    spec = random_net(n=20, g=0.8, seed=1, t_stop=0.05)
    t = np.linspace(0, 0.05, 1001)
    ref = solve_nonlinear(spec, t)
    result = judge(compile_rnn(spec), _trajectory(spec, t, ref + 2e-3))   # 2e-3 off: fails pointwise
    assert result.lyapunov_exponent < 0 and result.predictability_horizon is None
    assert result.statistics is None and not result.passed
    assert result.comparison.points == t.size
    assert result.report()["parts"] == {"pointwise": False, "statistics": None}


def test_the_figure_of_a_chaotic_run_is_a_png(right):
    png = png_bytes(right.plot())  # figure() is the deprecated name
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.ngspice
@pytest.mark.slow
def test_check_of_a_chaotic_circuit_passes_with_lambda_and_horizon():
    from rnn2spice.workflows.pipeline import check
    spec = random_net(n=30, g=4.0, seed=0, t_stop=0.3)
    result = check(spec)
    assert result.passed, result.summary()
    # two runs, none refined: pointwise over [0, ~T_p] at a tighter target, statistics over t_stop
    assert [r["role"] for r in result.runs] == ["pointwise", "statistics"]
    assert result.runs[0]["t_stop"] < 0.1 * 0.3 and result.runs[1]["t_stop"] == 0.3
    assert result.trajectory.time[-1] == pytest.approx(0.3)
    other = benettin(spec, 0.3)
    assert result.lyapunov_exponent == pytest.approx(other, rel=0.3)
    assert result.predictability_horizon is not None


def test_a_chaotic_task_trial_holds_the_circuit_to_its_model_only_up_to_the_horizon():
    # criterion 4 (circuit vs continuous model) looks at [0, horizon] only; the decision
    # criteria are untouched (they compare with the discrete network over the window)
    from rnn2spice.workflows.stimulus import Stimulus
    from rnn2spice.workflows.task import TrialResult
    steps = 20
    grid = (np.arange(steps) + 1) * 1e-3
    y = np.ones((steps, 1))
    t_sp = np.linspace(0, 0.02, 201)
    y_ref = np.ones((t_sp.size, 1))
    y_sp = y_ref.copy()
    y_sp[t_sp > 0.01] += 0.5               # diverged after 10 ms
    stim = Stimulus(np.zeros((steps, 1)), (10, 20), "pulse")

    def trial(horizon):
        return TrialResult(stim, grid, y, y, y, t_sp, y_sp, y_ref, 0.0, 0.05, 0.5, False,
                           lyapunov_exponent=None if horizon is None else 300.0, horizon=horizon)
    assert not trial(None).checks()["circuit_within_tolerance"]
    assert trial(0.009).checks()["circuit_within_tolerance"]
    assert trial(0.009).passed and trial(0.009).as_dict()["horizon"] == 0.009
    assert not trial(0.015).checks()["circuit_within_tolerance"]
