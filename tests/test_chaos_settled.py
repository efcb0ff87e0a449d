"""A network that settles and is then driven into a chaotic phase (THEORY.md 9, `chaos.ensemble`).

ctrnn, n = 30, g = 5, seed 4, w_in ~ N(0, 1), a step of 1 at 100 ms, 0.2 s: it settles on a
fixed point before the step (lambda_1 = -46 1/s over the run) and wanders after it; the horizon
is 103 ms.  The ensemble's members were perturbed at t = 0 only, the fixed point contracted that
to nothing, and all 12 were one trajectory after the step (each 1.0 from the reference at
0.2 s, identical to each other): the right circuit FAILED `check` (variance 32, autocorrelation
20, population 8.2, mean 4.1 of their bounds).  Kicked again at the floor at every input
breakpoint, the members part as circuits do: PASS (largest 0.05).
"""

from __future__ import annotations

import numpy as np
import pytest

from rnn2spice.analysis import chaos
from rnn2spice.network.spec import spec_from_dict


def settled(*, n=30, g=5.0, seed=4):
    rng = np.random.default_rng(seed)
    w, h0, w_in = rng.normal(0, g / np.sqrt(n), (n, n)), rng.normal(0, 1, n), rng.normal(0, 1, (n, 1))
    return spec_from_dict({"name": "settled", "tau": 1e-3, "w": w.tolist(), "h0": h0.tolist(), "w_in": w_in.tolist(),
                           "inputs": [{"kind": "step", "value": 1.0, "at": 0.1, "rise": 1e-4}], "t_stop": 0.2,
                           "convention": "ctrnn", "activation": "tanh"})


def test_the_members_of_a_settled_network_part_after_the_step():
    spec = settled()
    t = np.linspace(0.0, spec.t_stop, 801)
    m = chaos.ensemble(spec, t, floor=5e-3)
    # settled before the step: the start's perturbation contracted (the members agree to 1e-6)
    assert np.max(np.abs(m[390] - m[390, :1])) < 1e-4
    # after it the members are distinct trajectories, not one
    late = m[-1]
    pairs = np.max(np.abs(late[:, None, :] - late[None, :, :]), axis=2)
    assert np.min(pairs[np.triu_indices(late.shape[0], 1)]) > 1e-3, np.round(pairs, 3)


@pytest.mark.ngspice
def test_check_of_the_settled_network_passes():
    from rnn2spice.workflows.pipeline import check
    result = check(settled())
    assert result.horizon.chaotic and result.predictability_horizon > 0.1
    assert result.passed, result.summary()
