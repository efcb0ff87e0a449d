"""The reference solver against closed forms and an independent ODE solver (no ngspice)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from conftest import WAVEFORM_KINDS, random_spec
from rnn2spice.analysis import reference
from rnn2spice.network.spec import spec_from_dict


def one_neuron(**extra):
    base = {"name": "one", "tau": 1e-3, "w": [[0.0]], "h0": [0.7], "t_stop": 5e-3}
    base.update(extra)
    return spec_from_dict(base)


def test_decay_is_exponential():
    spec = one_neuron()
    t = np.linspace(0, 5e-3, 101)
    h = reference.solve(spec, t)[:, 0]
    np.testing.assert_allclose(h, 0.7 * np.exp(-t / 1e-3), rtol=1e-13, atol=1e-15)


def test_step_input_closed_form():
    # dh/dt = a h + b x, x a ramp of duration r to value v at t0: closed form after the ramp
    a, b, v, t0, r = -1000.0, 500.0, 2.0, 1e-3, 1e-4
    spec = one_neuron(h0=[0.0], w_in=[[b]], inputs=[{"kind": "step", "value": v, "at": t0, "rise": r}])
    t = np.linspace(0, 5e-3, 501)
    h = reference.solve(spec, t)[:, 0]
    # ramp x = v (s - t0)/r on [t0, t0+r]: h(t0+r) = b v / r * int_0^r e^{a(r-s)} s ds
    k = b * v / r
    h_r = k * (np.exp(a * r) - 1 - a * r) / a**2
    after = t >= t0 + r
    exact = h_r * np.exp(a * (t[after] - t0 - r)) + (b * v / -a) * (1 - np.exp(a * (t[after] - t0 - r)))
    np.testing.assert_allclose(h[after], exact, rtol=1e-11, atol=1e-14)
    assert np.all(h[t <= t0] == 0.0)


def test_sine_input_closed_form():
    # forced + transient response of dh/dt = a h + b sin(omega t + phi)
    a, b, f, phi = -1000.0, 800.0, 300.0, np.radians(40.0)
    omega = 2 * np.pi * f
    spec = one_neuron(h0=[0.3], w_in=[[b]],
                      inputs=[{"kind": "sine", "amplitude": 1.0, "frequency": f, "phase": 40.0}])
    t = np.linspace(0, 5e-3, 777)
    h = reference.solve(spec, t)[:, 0]
    gain = b / (1j * omega - a)
    forced = np.imag(gain * np.exp(1j * (omega * t + phi)))
    exact = forced + (0.3 - forced[0]) * np.exp(a * t)
    np.testing.assert_allclose(h, exact, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", WAVEFORM_KINDS)
def test_linear_reference_matches_tight_ode_solver(kind):
    spec = random_spec(6, seed=11, kinds=(kind, "sine"))
    t = np.linspace(0, spec.t_stop, 400)
    exact = reference.solve(spec, t)
    w, w_in, c = spec.paper_form()
    a = w - np.diag(spec.lam)
    edges = reference.breakpoints(spec)
    ode = np.empty_like(exact)
    h = np.array(spec.h0)
    for t0, t1 in zip(edges[:-1], edges[1:]):
        sel = (t >= t0) & ((t < t1) | (t1 == edges[-1]))
        sol = solve_ivp(lambda s, y: a @ y + w_in @ reference.input_values(spec, [s])[0] + c, (t0, t1), h,
                        method="DOP853", rtol=1e-13, atol=1e-15, dense_output=True)
        if sel.any():
            ode[sel] = sol.sol(t[sel]).T
        h = sol.y[:, -1]
    rel = np.max(np.abs(exact - ode)) / np.max(np.abs(exact))
    assert rel < 1e-9


def test_ctrnn_linear_equals_paper_form():
    ctrnn = random_spec(5, seed=3, kinds=("pulse",), convention="ctrnn")
    tau = ctrnn.tau
    paper = spec_from_dict({
        "name": "paper", "tau": tau.tolist(), "w": (ctrnn.w / tau[:, None]).tolist(),
        "w_in": np.hstack([ctrnn.w_in / tau[:, None], (ctrnn.bias / tau)[:, None]]).tolist(),
        "h0": ctrnn.h0.tolist(), "t_stop": ctrnn.t_stop,
        "inputs": [{"kind": "pulse", "low": ctrnn.inputs[0].low, "high": ctrnn.inputs[0].high,
                    "delay": ctrnn.inputs[0].delay, "rise": ctrnn.inputs[0].rise, "fall": ctrnn.inputs[0].fall,
                    "width": ctrnn.inputs[0].width, "period": ctrnn.inputs[0].period},
                   {"kind": "pwl", "points": [[0.0, 1.0]]}],
    })
    t = np.linspace(0, ctrnn.t_stop, 300)
    np.testing.assert_allclose(reference.solve(ctrnn, t), reference.solve(paper, t), rtol=1e-10, atol=1e-13)


def test_nonlinear_reference_is_linear_for_small_signals():
    # tanh(x) = x - x^3/3: with states ~1e-4 the tanh net equals the linear one to ~1e-8 relative
    lin = random_spec(4, seed=5, kinds=(), convention="ctrnn")
    data = {"name": "small", "tau": lin.tau.tolist(), "w": lin.w.tolist(), "convention": "ctrnn",
            "h0": (1e-4 * lin.h0).tolist(), "t_stop": lin.t_stop}
    t = np.linspace(0, lin.t_stop, 200)
    h_lin = reference.solve(spec_from_dict(data), t)
    h_tanh = reference.solve(spec_from_dict({**data, "activation": "tanh"}), t)
    assert np.max(np.abs(h_lin - h_tanh)) / np.max(np.abs(h_lin)) < 1e-6


def test_pulse_knots_follow_spice_semantics():
    spec = one_neuron(w_in=[[1.0]], inputs=[{"kind": "pulse", "low": -1, "high": 2, "delay": 1e-3, "rise": 1e-4,
                                            "fall": 2e-4, "width": 5e-4, "period": 1.5e-3}])
    wave = spec.inputs[0]
    t = np.array([0.0, 1e-3, 1.05e-3, 1.1e-3, 1.6e-3, 1.7e-3, 1.8e-3, 2.5e-3, 2.55e-3])
    np.testing.assert_allclose(wave.value(t, spec.t_stop), [-1, -1, 0.5, 2, 2, 0.5, -1, -1, 0.5], atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_modal_path_equals_the_stepwise_propagators(seed, monkeypatch):
    # two independent exact routes: closed forms in the eigenbasis (all points at once)
    # and expm(M dt) steps from point to point; random networks, every input kind
    from rnn2spice.analysis import modal

    spec = random_spec(2 + seed % 9, seed=seed, kinds=("pulse", "sine", "pwl", "step"))
    rng = np.random.default_rng(seed)
    t = np.sort(np.concatenate([np.linspace(0, spec.t_stop, 2000), rng.uniform(0, spec.t_stop, 300),
                                reference.breakpoints(spec)]))
    fast = reference.solve(spec, t)
    assert modal.solve_modal is not None
    monkeypatch.setattr(modal, "MAX_CONDITION", 0.0)  # every network takes the general path
    slow = reference.solve(spec, t)
    assert np.max(np.abs(fast - slow)) <= 1e-12 * np.max(np.abs(slow))


def test_defective_state_matrix_takes_the_general_path():
    # A = [[-1, 1], [0, -1]] / ms has one eigenvector: the modal path declines, the answer
    # is still the closed form h1 = (h1(0) + t h2(0)/tau) e^(-t/tau), h2 = h2(0) e^(-t/tau)
    from rnn2spice.analysis import modal
    from rnn2spice.network.spec import spec_from_dict

    spec = spec_from_dict({"name": "jordan", "tau": [1e-3, 1e-3], "w": [[0, 1e3], [0, 0]], "w_in": [[0], [0]],
                           "h0": [0.5, 1.0], "t_stop": 5e-3, "inputs": [{"kind": "step", "value": 0.0}]})
    t = np.linspace(0, 5e-3, 200)
    assert modal.solve_modal(spec, t, reference.breakpoints(spec), np.zeros((1, 1)), np.zeros((1, 1)), [0], []) is None
    h = reference.solve(spec, t)
    e = np.exp(-t / 1e-3)
    assert np.allclose(h[:, 0], (0.5 + t / 1e-3) * e, rtol=0, atol=1e-13)
    assert np.allclose(h[:, 1], e, rtol=0, atol=1e-13)
