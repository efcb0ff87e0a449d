"""A stable non-normal network is not a chaotic transient (THEORY.md 9, `chaos.horizon`).

A feedforward chain (w = 3 from neuron i to i + 1, n = 12, tanh, rate) at rest but for its last
neuron: lambda_1 = -466 1/s, the state decays, yet the tangent's growth weighted by the state,
A = 7.2, passes the transient level, because a tangent along the chain is amplified ~2e4 where
the state is 0.  Before, that alone gave a horizon (1.5 ms, "a chaotic transient"): the exact
trajectory then FAILED the statistics (autocorrelation 3.5 of its bound; the ensemble's
members, started at the floor on the chain's resting neurons too, were blown up by it), and
beyond 1.5 ms only statistics counted.  A run makes no error on a state at rest: trajectories
started at the floor relative to the state (`chaos.spread`) stay within it, so no horizon, and
the verdict is pointwise over the whole run.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn2spice.analysis import chaos
from rnn2spice.analysis.reference import solve_nonlinear
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.pipeline import Trajectory, judge

from test_chaos_transients import predicted


def chain(*, gain=1.0, convention="rate", n=12, w=3.0):
    """The chain, its last neuron at 0.1, a step of 0.1 into the last neuron at 20 ms (x ``gain``)."""
    weights = np.zeros((n, n))
    weights[np.arange(1, n), np.arange(n - 1)] = w
    h0 = np.zeros(n)
    h0[-1] = 0.1
    w_in = np.zeros((n, 1))
    w_in[-1, 0] = gain
    return spec_from_dict({"name": "chain", "tau": 1e-3, "w": weights.tolist(), "h0": h0.tolist(), "t_stop": 0.05,
                           "w_in": w_in.tolist(), "inputs": [{"kind": "step", "value": 0.1, "at": 0.02}],
                           "convention": convention, "activation": "tanh"})


@pytest.mark.parametrize("convention", ["rate", "ctrnn"])
def test_a_stable_feedforward_chain_gets_no_horizon(convention):
    hz = predicted(chain(convention=convention))
    # the tangent's linear growth does pass the level (the rule's trigger) ...
    assert hz.lyapunov_exponent < -300 and hz.amplification >= chaos.TRANSIENT_LEVEL + 3
    # ... but trajectories started at the floor do not part: not chaos, pointwise
    assert hz.spread is not None and hz.spread.largest < hz.spread.limit, hz.as_dict()
    assert not hz.chaotic and not hz.transient_chaos and hz.horizon is None


def test_the_chain_is_judged_pointwise_the_right_run_passes_an_input_gain_off_fails():
    spec = chain()
    t = np.linspace(0.0, spec.t_stop, 4001)
    compiled = compile_rnn(spec)
    right = judge(compiled, Trajectory(t, solve_nonlinear(spec, t, rtol=1e-10, atol=1e-13), "ref", "none", 0.0))
    assert right.statistics is None and right.predictability_horizon is None
    assert right.passed, right.summary()
    # the input arrives at 20 ms, after the horizon it had: 5 % off fails pointwise (error 5e-2)
    off = chain(gain=1.05)
    wrong = judge(compiled, Trajectory(t, solve_nonlinear(off, t, rtol=1e-10, atol=1e-13), "ref", "none", 0.0))
    assert not wrong.passed and wrong.comparison.verdict_error > 10 * wrong.comparison.threshold
