"""Soundness of the statistical verdict beyond the horizon (THEORY.md 9, issue 24).

A correct circuit is one more trajectory on the attractor, exchangeable with the ensemble's
members: judged against the others, a member must pass (each part's false-alarm probability is
chaos.ALPHA).  The rms bound over channels is checked for calibration on synthetic Gaussian
statistics whose channels are correlated (as the lags of a neuron and the neurons of a network
are), where counting the channels as independent rejects far more often than ALPHA; and on
real ensembles, members judged as circuits.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rnn2spice.analysis import chaos
from rnn2spice.network.spec import spec_from_dict


def _one_factor(rng, reps, k, channels, rho):
    """reps x (k + 1) draws of `channels` Gaussian statistics with pairwise correlation rho
    and channel scales spread over a decade (one common factor)."""
    scale = np.exp(rng.uniform(-1.0, 1.0, channels))
    common = rng.standard_normal((reps, k + 1, 1))
    own = rng.standard_normal((reps, k + 1, channels))
    return 3.0 + scale * (np.sqrt(rho) * common + np.sqrt(1.0 - rho) * own)


@pytest.mark.parametrize("rho,channels", [(0.5, 60), (0.9, 30), (0.0, 40)])
def test_rms_bound_holds_its_false_alarm_rate_on_correlated_channels(rho, channels):
    # a correct circuit (draw 0) against K members (draws 1..K): its rms z exceeds the bound
    # with probability ~ALPHA = 1e-3; over 200 repetitions at most 2 exceedances (P(>= 3) <
    # 2e-3 at ALPHA; at 1 % it would be 0.32).  The chi-square bound of independent channels,
    # the rule before, exceeds it often when the channels are correlated.
    rng = np.random.default_rng(int(rho * 10) + channels)
    reps, k = 200, chaos.MEMBERS
    data = _one_factor(rng, reps, k, channels, rho)
    dof = k - 1
    independent = float(np.sqrt(dof / (dof - 2) * stats.chi2.ppf(1 - chaos.ALPHA, channels) / channels))
    over = over_independent = 0
    for r in range(reps):
        circuit, members = data[r, 0], data[r, 1:]
        test = chaos._test("x", circuit, members)
        over += test.rms_z > test.bound_global
        over_independent += test.rms_z > independent
        assert test.bound_global >= independent * (1 - 1e-12)   # never below the independent one
    assert over <= 2, over
    if rho >= 0.5:
        assert over_independent >= 10, over_independent


def test_bootstrap_bound_grows_with_the_correlation_of_the_channels():
    rng = np.random.default_rng(1)
    bounds = [chaos.null_rms_bound(_one_factor(rng, 1, chaos.MEMBERS - 1, 200, rho)[0], 0.0, 0.0, 0.0)
              for rho in (0.0, 0.5, 0.95)]
    assert bounds[0] < bounds[1] < bounds[2]
    # independent channels: the rank K - 1 bootstrap counts at most K - 1 of them (~1.9, against
    # 1.3 for 200 truly independent ones); one channel: ~the t quantile 4.6
    assert bounds[0] < 2.2 and bounds[2] > 2.5


def test_ensemble_members_judged_as_circuits_pass():
    """Six extra members of a chaotic network's ensemble (n = 30, g = 4, rate), each judged
    as the circuit against the 12 members: every part passes (the rule before failed a
    correct n = 200, g = 6 member in 12 on its autocorrelation rms)."""
    rng = np.random.default_rng(0)
    n = 30
    spec = spec_from_dict({"name": "scs", "tau": 1e-3, "w": rng.normal(0.0, 4.0 / np.sqrt(n), (n, n)).tolist(),
                           "h0": rng.normal(0.0, 1.0, n).tolist(), "t_stop": 0.2, "convention": "rate",
                           "activation": "tanh"})
    start = 0.02
    grid = np.linspace(start, 0.2, 1500)
    extra = 6
    every = chaos.ensemble(spec, grid, floor=5e-3, members=chaos.MEMBERS + extra, seed=4)
    members = every[:, :chaos.MEMBERS]
    worst = 0.0
    for j in range(extra):
        st = chaos.compare_statistics(spec, grid, every[:, chaos.MEMBERS + j], members, start=start,
                                      resolution=1e-3)
        assert st.passed, st.describe()
        worst = max(worst, max(s for _, s, _ in st.scores()))
    assert worst < 1.0
