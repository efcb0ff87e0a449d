"""Transient simulations in ngspice against the exact reference (THEORY.md 2, 3, 6)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import NETLISTS, WAVEFORM_KINDS, random_spec
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.workflows.pipeline import check, simulate
from rnn2spice.spice.ngspice import available_backends
from rnn2spice.network.load import load_spec
from rnn2spice.network.spec import spec_from_dict

pytestmark = pytest.mark.ngspice


def test_sign_of_g_pinned_by_one_neuron():
    # dh/dt = (w - 1/tau) h with w = +500 1/s, tau = 1 ms: decay rate 500 1/s.
    # A flipped G sign would give 1500 1/s, a missing G 1000 1/s.
    spec = spec_from_dict({"name": "sign", "tau": 1e-3, "w": [[500.0]], "h0": [1.0], "t_stop": 4e-3})
    traj = simulate(compile_rnn(spec, accuracy="high"))
    exact = np.exp(-500.0 * traj.time)
    assert np.max(np.abs(traj.states[:, 0] - exact)) < 1e-6
    assert abs(traj.states[-1, 0] - np.exp(-1500.0 * 4e-3)) > 0.1


def test_sign_of_input_g_pinned_by_one_neuron():
    # a constant input x = 1 through w_in = +1000 1/s drives h up to +w_in tau = +1
    spec = spec_from_dict({"name": "insign", "tau": 1e-3, "w": [[0.0]], "w_in": [[1000.0]], "t_stop": 1e-2,
                           "inputs": [{"kind": "pwl", "points": [[0, 1]]}]})
    traj = simulate(compile_rnn(spec))
    assert traj.states[-1, 0] == pytest.approx(1.0 - np.exp(-10), rel=1e-4)


@pytest.mark.parametrize("form", ["parallel", "series"])
def test_non_interacting_case_is_exponential_decay(form):
    spec = load_spec(NETLISTS / "non-interacting.yaml")
    traj = simulate(compile_rnn(spec, form=form, accuracy="high"))
    exact = spec.h0 * np.exp(-traj.time[:, None] / spec.tau)  # h_k(0) exp(-t / tau_k), tau = RC or L/R
    assert np.max(np.abs(traj.states - exact)) / np.max(np.abs(exact)) < 1e-6
    assert traj.time[-1] == pytest.approx(spec.t_stop)


def test_series_time_constant_is_l_over_r():
    # same tau with a different inductance: L/R = tau, the paper's R/L would change the decay
    data = {"name": "lr", "tau": 2e-3, "w": [[0.0]], "h0": [1.0], "t_stop": 6e-3, "circuit": {"inductance": 0.05}}
    compiled = compile_rnn(spec_from_dict(data), form="series", accuracy="high")
    r = next(e for e in compiled.circuit.elements if e.name == "R_0").resistance
    assert 0.05 / r == pytest.approx(2e-3, rel=1e-15)
    traj = simulate(compiled)
    np.testing.assert_allclose(traj.states[:, 0], np.exp(-traj.time / 2e-3), atol=1e-6)


@pytest.mark.parametrize("accuracy", ["default", "high"])
@pytest.mark.parametrize("n, kind", [(2, "step"), (3, "pulse"), (5, "sine"), (8, "pwl"), (13, "step"),
                                     (20, "sine"), (30, "pulse")])
def test_random_networks_pass(n, kind, accuracy):
    spec = random_spec(n, seed=100 + n, kinds=(kind,))
    result = check(spec, accuracy=accuracy)
    limit = 1e-3 if accuracy == "default" else 1e-6
    assert result.comparison.rel_max_error <= limit, result.report()
    assert result.passed


@pytest.mark.parametrize("kind", WAVEFORM_KINDS)
def test_every_input_kind_with_ctrnn_bias(kind):
    spec = random_spec(6, seed=7, kinds=(kind, "sine"), convention="ctrnn")
    result = check(spec, accuracy="high")
    assert result.comparison.rel_max_error <= 1e-6


@pytest.mark.parametrize("form, coupling", [("parallel", "vccs"), ("parallel", "gyrator"), ("series", "vccs")])
@pytest.mark.parametrize("n", [2, 9, 30])
def test_every_realisation_passes_on_non_symmetric_networks(form, coupling, n):
    spec = random_spec(n, seed=200 + n, kinds=("pulse", "sine"))
    assert not np.allclose(spec.w, spec.w.T)
    for accuracy, limit in (("default", 1e-3), ("high", 1e-6)):
        result = check(spec, form=form, coupling=coupling, accuracy=accuracy)
        assert result.comparison.rel_max_error <= limit, (accuracy, result.report())


def test_three_realisations_agree_with_each_other():
    spec = random_spec(10, seed=5, kinds=("step", "sine"))
    runs = {(f, c): simulate(compile_rnn(spec, form=f, coupling=c, accuracy="high"))
            for f, c in (("parallel", "vccs"), ("parallel", "gyrator"), ("series", "vccs"))}
    base = runs[("parallel", "vccs")]
    for key, traj in runs.items():
        # identical time grids are not guaranteed; compare on the common grid by interpolation
        other = np.stack([np.interp(base.time, traj.time, traj.states[:, k]) for k in range(spec.n)], axis=1)
        assert np.max(np.abs(other - base.states)) / np.max(np.abs(base.states)) < 2e-6, key


@pytest.mark.parametrize("form", ["parallel", "series"])
@pytest.mark.parametrize("convention", ["paper", "ctrnn"])
def test_tanh_networks_pass(form, convention):
    spec = random_spec(8, seed=31, kinds=("pulse",), activation="tanh", convention=convention, gain=1.5)
    result = check(spec, form=form)
    assert result.comparison.rel_max_error <= 1e-3
    assert check(spec, form=form, accuracy="high").comparison.rel_max_error <= 1e-6


@pytest.mark.parametrize("backend", ["shared", "subprocess"])
def test_both_backends_give_the_same_trajectory(backend):
    assert backend in available_backends()
    spec = load_spec(NETLISTS / "damped-oscillator.yaml")
    result = check(spec, backend=backend, accuracy="high")
    assert result.trajectory.backend == backend
    assert result.comparison.rel_max_error <= 1e-6


@pytest.mark.parametrize("stem", ["non-interacting", "damped-oscillator", "random20", "tanh4"])
def test_golden_examples_pass_in_both_accuracy_modes(stem):
    spec = load_spec(NETLISTS / f"{stem}.yaml")
    assert check(spec).passed
    assert check(spec, accuracy="high").comparison.rel_max_error <= 1e-6
