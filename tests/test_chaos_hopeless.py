"""No hopeless refinement (issue 24 item 3, THEORY.md 9): a transient with a chaotic phase.

``persistence`` calls a run a transient when its stretching stops rising (it settles), but a
random network may first wander chaotically and amplify the accuracy floor past the threshold
(the linear amplification A of the floor reaches the level): before, such runs kept the
pointwise verdict and ``check`` refined until it failed a correct circuit (rate and ctrnn, n
50..59, g 4.2..4.3, 0.2 s; ctrnn n = 50, g = 6, 0.5 s: 559,573 points, 780 s, FAIL).  The rank-1
escape of tests/test_chaos_transients.py has A = 3.9 too and its correct circuit passes
pointwise.  The trajectories tell them apart (``chaos.spread``): members started at the floor
and at floor / REACH (10) from h0; a horizon only when even the closer ones part by the limit.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from rnn2spice.analysis import chaos
from rnn2spice.analysis.reference import solve_nonlinear
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.workflows import pipeline
from rnn2spice.workflows.pipeline import Trajectory, judge

from test_chaos import random_net
from test_chaos_transients import predicted

#: (convention, n, g, seed) at 0.2 s, tau 1 ms: persistence says transient, A 6.1 .. 9.3; their
#: correct circuits failed or ran out of budget refining pointwise (ctrnn 50: 1.04e6 points projected)
HOPELESS = [("rate", 50, 4.31, 2), ("rate", 56, 4.32, 6), ("rate", 59, 4.23, 9), ("ctrnn", 50, 4.17, 2)]
#: the closer members stay below the limit: the rank-1 escape started from h0 ~ N(0, 0.1)
#: (the floor's members part by 1.0e-3 >= the limit 5e-4, those 10x closer by 1.1e-4)
FOLLOWED_H0 = 0.1


def _net(convention, n, g, seed, t_stop=0.2):
    return random_net(n=n, g=g, seed=seed, convention=convention, t_stop=t_stop)


def _escape():
    from rnn2spice.workflows.lowrank import truncate
    from test_trained_networks import _near_rank2
    return truncate(_near_rank2(t_stop=0.15), 1)


@pytest.mark.parametrize("case", HOPELESS)
def test_a_transient_with_a_chaotic_phase_gets_a_horizon(case):
    hz = predicted(_net(*case))
    # persistence judged it a transient (the rule before kept it pointwise) ...
    assert hz.persistence is not None and not hz.persistence.sustained
    assert hz.amplification >= chaos.TRANSIENT_LEVEL
    # ... but members 10x closer than the floor still part by the limit: chaos, not the step
    sp = hz.spread
    assert sp is not None and sp.hopeless and sp.largest_tight >= sp.limit, sp.as_dict()
    assert sp.largest > 100 * sp.limit    # saturated: the members decorrelate entirely
    assert hz.chaotic and hz.transient_chaos and 0.0 < hz.horizon < 0.05, hz.as_dict()
    # the horizon is the floor's, where A reaches the level (as for any chaotic transient)
    growth = chaos.amplification(hz.exponent, *_grid_ref(_net(*case)))
    level = max(chaos.horizon_level(hz.floor, hz.threshold), chaos.TRANSIENT_LEVEL)
    assert hz.horizon == pytest.approx(float(hz.exponent.time[np.flatnonzero(growth >= level)[0]]))
    assert hz.as_dict()["spread"]["hopeless"] is True


def _grid_ref(spec):
    grid = chaos.prediction_grid(spec)
    return grid, pipeline.solve_reference(spec, grid, target=1e-3)


def test_a_transient_a_tighter_run_follows_stays_pointwise():
    spec = _escape()
    hz = predicted(replace(spec, h0=np.random.default_rng(1).normal(0.0, FOLLOWED_H0, spec.n)))
    sp = hz.spread
    assert hz.transient and sp is not None and hz.amplification >= chaos.TRANSIENT_LEVEL
    # the floor's members do part by the limit, the closer ones stay below it: refinement works
    assert sp.largest >= sp.limit > sp.largest_tight and not sp.hopeless, sp.as_dict()
    assert not hz.chaotic and hz.horizon is None


@pytest.mark.parametrize("h0", [0.0, 1e-3, 1e-1])
def test_the_escape_from_the_unstable_origin_stays_pointwise(h0):
    # the rank-1 escape (A = 3.9): its error scales with its start, it does not saturate
    spec = _escape()
    if h0:
        spec = replace(spec, h0=np.random.default_rng(1).normal(0.0, h0, spec.n))
    hz = predicted(spec)
    assert hz.transient and hz.amplification >= chaos.TRANSIENT_LEVEL
    sp = hz.spread
    assert sp is not None and not sp.hopeless and not hz.chaotic and hz.horizon is None, sp.as_dict()
    assert sp.largest_tight < sp.limit
    if h0:   # linear: members REACH times closer part REACH times less (measured within 10 %)
        assert sp.largest_tight == pytest.approx(sp.largest / chaos.REACH, rel=0.3)


def test_judge_of_a_hopeless_transient_passes_a_right_run_and_fails_weights_x13():
    # the verdict along a run's own samples (judge: floor = target / 2): pointwise up to the
    # horizon, statistics beyond; a run from h0 moved by 1e-5 passes, weights x 1.3 fails
    spec = _net(*HOPELESS[3])
    t = np.linspace(0.0, spec.t_stop, 4001)
    ref = solve_nonlinear(spec, t, rtol=1e-10, atol=1e-12)
    moved = solve_nonlinear(replace(spec, h0=np.asarray(spec.h0) * (1 + 1e-5 * np.random.default_rng(2).choice(
        (-1.0, 1.0), spec.n))), t, rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(moved - ref)) > 1e-2   # pointwise over the whole run it fails by far
    result = judge(compile_rnn(spec), Trajectory(t, moved, "reference", "none", 0.0))
    assert result.horizon.transient and result.horizon.transient_chaos and result.horizon.spread.hopeless
    assert result.statistics is not None and result.passed, result.summary()
    assert "a chaotic transient" in result.summary() and "10 times closer" in result.summary()
    other = solve_nonlinear(replace(spec, w=np.asarray(spec.w) * 1.3), t, rtol=1e-10, atol=1e-12)
    wrong = judge(compile_rnn(spec), Trajectory(t, other, "reference", "none", 0.0))
    assert not wrong.passed


# =========================================================================== the refinement guard

def _fake_runs(monkeypatch, error):
    """``pipeline.run`` replaced: the exact reference plus ``error(t, step_scale)`` of its scale."""
    def fake(compiled, **_):
        spec = compiled.spec
        t = np.linspace(0.0, spec.t_stop, 2001)
        ref = solve_nonlinear(spec, t, rtol=1e-10, atol=1e-12)
        states = ref + error(t, compiled.step_scale)[:, None] * np.max(np.abs(ref), axis=0)
        return SimpleNamespace(seconds=0.0, describe=lambda: "certificate: not run", as_dict=dict), \
            Trajectory(t, states, "fake", "none", 0.0)
    monkeypatch.setattr(pipeline, "run", fake)
    monkeypatch.setattr(pipeline, "_predict", lambda *a, **k: None)


def _stable():
    return random_net(n=6, g=0.5, seed=1, t_stop=0.05)


def test_refinement_stops_when_a_smaller_step_moves_neither_error_nor_divergence(monkeypatch):
    # an error the network amplifies from any floor: it passes the threshold at 30 ms at any step
    _fake_runs(monkeypatch, lambda t, s: np.minimum(1e-3 * np.exp(400 * (t - 0.03)), 1.0))
    result = pipeline.check(_stable())
    assert len(result.runs) == 2 and result.runs[-1]["refinement"] == "stopped"
    assert result.runs[0]["divergence"] == pytest.approx(0.03, abs=1e-3)
    assert not result.passed and "refinement stopped" in result.summary()


def test_refinement_goes_on_while_the_error_shrinks_with_the_step(monkeypatch):
    # a step-limited error (the trapezoidal rule's, ~ step^2): refined until it passes
    _fake_runs(monkeypatch, lambda t, s: 4e-3 * s ** 2 * np.ones_like(t))
    result = pipeline.check(_stable())
    assert len(result.runs) >= 2 and all("refinement" not in r for r in result.runs)
    assert result.passed


def test_a_wrong_circuit_still_fails_when_refinement_stops(monkeypatch):
    # wrong from the start: diverges at t = 0 at every step; stopping saves runs, never passes it
    _fake_runs(monkeypatch, lambda t, s: 0.05 * np.ones_like(t))
    result = pipeline.check(_stable())
    assert result.runs[0]["divergence"] == 0.0 and len(result.runs) == 2
    assert result.runs[-1]["refinement"] == "stopped" and not result.passed


# =========================================================================== ngspice

@pytest.mark.ngspice
def test_check_of_a_hopeless_transient_passes_and_a_tampered_netlist_fails():
    """Measured: before, refinement projected 1.04e6 points (over the budget: stopped with an
    error); now 2,057 + 2,487 points in 10.5 s, pointwise 0.41 of the threshold up to T_p = 18 ms,
    every statistic passing (largest 0.22 of its bound)."""
    from test_chaos import _run_text, _tampered
    spec = _net(*HOPELESS[3])
    result = pipeline.check(spec)
    assert result.horizon.transient_chaos and result.horizon.spread.hopeless
    assert [r["role"] for r in result.runs] == ["pointwise", "statistics"]
    assert result.comparison.verdict_error <= result.comparison.threshold / chaos.SAFETY
    assert result.passed, result.summary()
    compiled = compile_rnn(spec)
    wrong = judge(compiled, _run_text(compiled, _tampered(compiled.netlist, "weights x1.3", 0)))
    assert not wrong.passed, wrong.summary()


def _bench():
    """The draw of benchmarks/chaos.py ``network(50, 6, "ctrnn", seed=2, t_stop=0.5)`` (same W, h0)."""
    return random_net(n=50, g=6.0, seed=2, convention="ctrnn", t_stop=0.5)


@pytest.mark.ngspice
def test_check_of_the_benchmark_transient_passes_without_refining():
    """ctrnn n = 50, g = 6, seed 2, 500 tau: persistence calls it a transient (it settles on a
    17.7 ms cycle), A = 26.9; before, refined pointwise to 559,573 points, 780 s, FAIL.  Measured
    now: 922 + 7,176 points, 17.7 s (load 8), pointwise 0.27 of the threshold, statistics pass."""
    result = pipeline.check(_bench())
    h = result.horizon
    assert h.transient and h.transient_chaos and h.spread.hopeless
    assert [r["role"] for r in result.runs] == ["pointwise", "statistics"]
    # the statistical run of a chaotic transient at TRANSIENT_STATISTICS_RTOL (at 3e-2 it settled
    # on a 40 ms cycle no reference run reaches, and the autocorrelation failed)
    assert result.runs[1]["rtol"] == pipeline.TRANSIENT_STATISTICS_RTOL
    assert result.passed, result.summary()


@pytest.mark.ngspice
@pytest.mark.slow
def test_the_benchmark_transient_with_its_weights_x13_fails():
    from test_chaos import _run_text, _tampered
    compiled = compile_rnn(_bench())
    wrong = judge(compiled, _run_text(compiled, _tampered(compiled.netlist, "weights x1.3", 0)))
    assert not wrong.passed, wrong.summary()
