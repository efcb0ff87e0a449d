"""The reference's fast paths against straightforward evaluations (no ngspice).

Linear: the modal closed form (analysis/modal.py: Taylor form with a Horner series, the
exponential form, one mode per conjugate pair, real arithmetic for real spectra) against
the augmented matrix exponential evaluated in 32-digit arithmetic (mpmath; without it,
scipy's expm in double precision), every point propagated from its interval's start.
Nonlinear: the specialised right-hand sides and the vectorised dense output against the
general model and scipy's own interpolant.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.special import expit

from conftest import random_spec
from rnn2spice.analysis import modal, reference
from rnn2spice.network.spec import spec_from_dict

try:
    import mpmath
except ImportError:  # the float fallback is still independent of the modal path
    mpmath = None


def exact(spec, t: np.ndarray) -> np.ndarray:
    """h(t) from y' = M y, y = [h; 1; level, slope per PWL input; sin, cos per sine], each
    point as expm(M (t - t0)) y(t0) from its interval's start, the generators set at every
    knot from the same interval data the solver gets; in 32 digits when mpmath is there."""
    n = spec.n
    w, w_in, drive = spec.paper_form()
    edges = reference.breakpoints(spec, max(spec.t_stop, float(t[-1])))
    inputs = reference._Inputs(spec, edges)
    lin, sines = inputs.linear, inputs.sines
    base = n + 1 + 2 * len(lin)
    size = base + 2 * len(sines)
    mat = np.zeros((size, size))
    mat[:n, :n] = w - np.diag(spec.lam)
    mat[:n, n] = drive
    for j, l in enumerate(lin):
        mat[:n, n + 1 + 2 * j] = w_in[:, l]
        mat[n + 1 + 2 * j, n + 2 + 2 * j] = 1.0
    for j, (l, wave) in enumerate(sines):
        mat[:n, n] += w_in[:, l] * wave.offset
        mat[:n, base + 2 * j] = w_in[:, l] * wave.amplitude
        mat[base + 2 * j, base + 2 * j + 1], mat[base + 2 * j + 1, base + 2 * j] = wave.omega, -wave.omega
    if mpmath is not None:
        ctx, num = mpmath.workdps(32), mpmath.mpf
        m = mpmath.matrix(mat.tolist())

        def prop(dt, col):
            out = mpmath.expm(m * dt) * mpmath.matrix(col)
            return [out[q] for q in range(size)]
        sin, cos = mpmath.sin, mpmath.cos
    else:
        import contextlib
        ctx, num, sin, cos = contextlib.nullcontext(), float, np.sin, np.cos

        def prop(dt, col):
            return list(expm(mat * dt) @ np.array(col))
    seg = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, edges.size - 2)
    out = np.empty((t.size, n))
    with ctx:
        y = [num(float(v)) for v in spec.h0] + [num(1)] + [num(0)] * (size - n - 1)
        for i in range(edges.size - 1):
            t0 = num(float(edges[i]))
            for j in range(len(lin)):
                y[n + 1 + 2 * j], y[n + 2 + 2 * j] = num(inputs.level[i, j]), num(inputs.slope[i, j])
            for j, (_, wave) in enumerate(sines):
                arg = num(wave.omega) * t0 + num(float(np.radians(wave.phase)))
                y[base + 2 * j], y[base + 2 * j + 1] = sin(arg), cos(arg)
            for k in np.nonzero(seg == i)[0]:
                out[k] = [float(v) for v in prop(num(float(t[k])) - t0, y)[:n]]
            y = prop(num(float(edges[i + 1])) - t0, y)
    return out


def from_state_matrix(a: np.ndarray, tau: float, **extra):
    """A paper-convention spec whose state matrix is exactly ``a`` (w = a + lam)."""
    n = a.shape[0]
    return spec_from_dict({"name": "given", "tau": [tau] * n, "w": (a + np.eye(n) / tau).tolist(),
                           "h0": np.linspace(-0.8, 0.6, n).tolist(), **extra})


def similar(blocks: np.ndarray, seed: int) -> np.ndarray:
    """V B V^-1 with a random, well-conditioned real V."""
    rng = np.random.default_rng(seed)
    v = np.eye(blocks.shape[0]) + 0.3 * rng.standard_normal(blocks.shape)
    return v @ blocks @ np.linalg.inv(v)


def networks() -> dict:
    pwl = {"kind": "pwl", "points": [[0.0, 0.0], [5e-4, 1.0], [1.3e-3, -0.4], [2.2e-3, -0.4], [4e-3, 0.9],
                                     [6.5e-3, 0.2]]}
    step = {"kind": "step", "value": 0.7, "at": 2.5e-3, "rise": 1e-6}
    near_zero = np.zeros((4, 4))
    near_zero[1, 1] = -1e-3                                   # |lambda| 1e-3 /s next to 583 /s
    near_zero[2:, 2:] = [[-500.0, 300.0], [-300.0, -500.0]]
    return {
        # real spectrum, no sine: the all-real path (the benchmark's network, PWL ramps)
        "real_pwl": spec_from_dict({"name": "knots", "tau": [1e-2, 2e-2], "w": [[0, 10], [-10, 0]],
                                    "w_in": [[500, 0], [0, 200]], "h0": [0.3, -0.2], "t_stop": 8e-3,
                                    "inputs": [pwl, step]}),
        # complex pairs, pulse and sine: one mode per pair, complex arithmetic
        "complex_pulse_sine": random_spec(5, seed=3, kinds=("pulse", "sine")),
        # an exactly zero and a near-zero eigenvalue beside a complex pair; ramps
        "near_zero": from_state_matrix(similar(near_zero, 1), 1e-3, t_stop=8e-3,
                                       w_in=[[800.0, 0.0], [0.0, 300.0], [-200.0, 500.0], [100.0, 100.0]],
                                       inputs=[pwl, step]),
        # a sine at the natural frequency of a lightly damped pair (mu close to lambda)
        "resonant_sine": from_state_matrix(np.array([[-50.0, 2 * np.pi * 300], [-2 * np.pi * 300, -50.0]]), 1e-3,
                                           t_stop=8e-3, w_in=[[400.0], [0.0]],
                                           inputs=[{"kind": "sine", "amplitude": 1.0, "frequency": 300.0,
                                                    "phase": 20.0, "offset": 0.1}]),
        # fast modes, long intervals: every kick in the exponential form
        "fast_real": from_state_matrix(similar(np.diag([-2e4, -7e3, -1.3e4]), 2), 1e-4, t_stop=8e-3,
                                       w_in=[[1e4], [-3e3], [5e3]], inputs=[pwl]),
    }


NETWORKS = networks()
_EXACT: dict = {}


def times(spec) -> np.ndarray:
    """Random points, every breakpoint and points just after each (s ~ 1e-9 t_stop)."""
    edges = reference.breakpoints(spec)
    rng = np.random.default_rng(7)
    return np.sort(np.concatenate([rng.uniform(0, spec.t_stop, 20), edges, edges[:-1] + 1e-9 * spec.t_stop]))


def exact_of(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in _EXACT:
        t = times(NETWORKS[name])
        _EXACT[name] = t, exact(NETWORKS[name], t)
    return _EXACT[name]


def rel_error(h: np.ndarray, ref: np.ndarray) -> float:
    """Worst error of any neuron on its own scale."""
    return float(np.max(np.abs(h - ref) / np.max(np.abs(ref), axis=0)))


@pytest.mark.parametrize("taylor_below", [modal._TAYLOR_BELOW, 0.05])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_modal_path_equals_high_precision(name, taylor_below, monkeypatch):
    # the default split between the Taylor and exponential forms, and one that gives most
    # points to the exponential form (whose expm1(x) - x loses ~4e-16/|x|: not below 0.05)
    spec = NETWORKS[name]
    t, ref = exact_of(name)
    monkeypatch.setattr(modal, "_TAYLOR_BELOW", taylor_below)
    edges = reference.breakpoints(spec)
    inputs = reference._Inputs(spec, edges)
    h = modal.solve_modal(spec, t, edges, inputs.level, inputs.slope, inputs.linear, inputs.sines)
    assert h is not None                      # every network here has a good eigenbasis
    assert rel_error(h, ref) < 1e-13
    assert rel_error(reference.solve(spec, t), ref) < 1e-13


def test_every_evaluation_branch_is_exercised(monkeypatch):
    # the networks above reach all three branches of _Modes.at: Taylor only, exponential
    # only, and blocks that mix both
    seen = []
    taylor, exponential, at = modal._Modes._taylor, modal._Modes._exponential, modal._Modes.at

    def spy_at(self, tables, seg, s):
        seen.append(set())
        return at(self, tables, seg, s)

    monkeypatch.setattr(modal._Modes, "at", spy_at)
    monkeypatch.setattr(modal._Modes, "_taylor", lambda self, *a: seen[-1].add("taylor") or taylor(self, *a))
    monkeypatch.setattr(modal._Modes, "_exponential", lambda self, *a: seen[-1].add("exp") or exponential(self, *a))
    for spec in NETWORKS.values():
        reference.solve(spec, times(spec))
    kinds = {frozenset(s) for s in seen}
    assert {frozenset({"taylor"}), frozenset({"exp"}), frozenset({"taylor", "exp"})} <= kinds


def test_real_spectrum_uses_real_arithmetic_and_pairs_are_halved():
    lam = np.linalg.eigvals(NETWORKS["real_pwl"].state_matrix())
    assert not np.iscomplexobj(lam)
    lam = np.linalg.eigvals(NETWORKS["near_zero"].state_matrix())
    v = np.linalg.eig(NETWORKS["near_zero"].state_matrix())[1]
    keep, proj = modal._kept_modes(lam, v, real=False)
    assert keep.size == 3 and proj.shape == (6, 4)    # the pair counts once


@pytest.mark.parametrize("xmax", [0.0, 1e-8, 1e-3, 0.05, 0.2, 0.5])
def test_phi2_series_is_truncated_below_1e17(xmax):
    # the number of terms from the largest |x| keeps the truncation < 1e-17 relative for
    # every |x| <= xmax, complex included (checked against the 40-term sum)
    terms = modal._series_terms(xmax)
    fact = np.cumprod([1.0] + [float(k) for k in range(1, 45)])
    for x in xmax * np.exp(1j * np.linspace(0, np.pi, 7)):
        full = sum(x**k / fact[k + 2] for k in range(40))
        part = sum(x**k / fact[k + 2] for k in range(terms))
        assert abs(full - part) <= 1e-17 * abs(full)


# --- nonlinear ----------------------------------------------------------------------------

def nonlinear(convention: str, activation: str, seed: int = 4):
    return random_spec(6, seed=seed, kinds=("pulse", "sine", "pwl"), convention=convention, activation=activation)


def plain_rhs(spec):
    """dh/dt written out from THEORY.md 1, 4, 7, independent of the reference's model."""
    f = {"tanh": np.tanh, "sigmoid": expit, "softplus": lambda z: np.logaddexp(0.0, z)}[
        spec.activation]
    w, w_in, lam = np.asarray(spec.w), np.asarray(spec.w_in), spec.lam
    bias = np.asarray(spec.bias) if spec.convention in ("ctrnn", "rate") and spec.bias is not None else 0.0

    def rhs(t, h):
        x = reference.input_values(spec, [t])[0]
        if spec.convention == "rate":
            return lam * (-h + w @ f(h) + w_in @ x + bias)
        if spec.convention == "ctrnn":
            return lam * (-h + f(w @ h + w_in @ x + bias))
        return -lam * h + f(w @ h + w_in @ x)
    return rhs


CASES = [(c, a) for c in ("paper", "ctrnn", "rate") for a in ("tanh", "sigmoid", "softplus")]


@pytest.mark.parametrize("convention, activation", CASES)
def test_specialised_rhs_equals_the_model_equations(convention, activation):
    spec = nonlinear(convention, activation)
    edges = reference.breakpoints(spec)
    model = reference._Model(spec, reference._Inputs(spec, edges))
    plain = plain_rhs(spec)
    rng = np.random.default_rng(1)
    for i, (t0, t1) in enumerate(zip(edges[:-1], edges[1:])):
        model.segment = i
        fast = model.smooth_rhs()
        for time in (t0, t0 + rng.uniform() * (t1 - t0), t1):
            h = rng.uniform(-2, 2, spec.n)
            want = plain(time, h)
            np.testing.assert_allclose(fast(time, h.copy()), want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))
            np.testing.assert_allclose(model.rhs(time, h), want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))


@pytest.mark.parametrize("convention, activation", CASES)
def test_nonlinear_reference_equals_a_plain_tight_solve(convention, activation):
    # the whole driver (specialised rhs, dense output read at once) against solve_ivp on
    # the plain equations at rtol 1e-13, restarted at the same breakpoints
    from scipy.integrate import solve_ivp

    spec = nonlinear(convention, activation)
    edges = reference.breakpoints(spec)
    rng = np.random.default_rng(2)
    t = np.sort(np.concatenate([np.linspace(0, spec.t_stop, 300), rng.uniform(0, spec.t_stop, 50), edges]))
    got = reference.solve(spec, t)
    want = np.empty_like(got)
    h = np.array(spec.h0, dtype=float)
    for i, (t0, t1) in enumerate(zip(edges[:-1], edges[1:])):
        sel = (t >= t0) & ((t < t1) | (i == edges.size - 2))
        sol = solve_ivp(plain_rhs(spec), (t0, t1), h, method="DOP853", rtol=1e-13, atol=1e-15, dense_output=True)
        want[sel] = sol.sol(t[sel]).T
        h = sol.y[:, -1]
    assert rel_error(got, want) < 1e-8


def test_dense_values_equal_scipys_interpolant():
    from scipy.integrate import solve_ivp

    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 5)) * 50 - 100 * np.eye(5)

    def rhs(t, y):
        return a @ np.tanh(y) + np.sin(30 * t)
    sol = solve_ivp(rhs, (0.1, 0.6), rng.normal(size=5), method="DOP853", rtol=1e-10, dense_output=True)
    # random points, every step boundary (the later step's polynomial, as scipy picks), ends
    t = np.sort(np.concatenate([rng.uniform(0.1, 0.6, 400), sol.t, sol.t[3:4], [0.1, 0.6]]))
    np.testing.assert_allclose(reference.dense_values(sol, t), sol.sol(t).T, rtol=1e-14, atol=1e-15)
    assert reference.dense_values(sol, t[:0]).shape == (0, 5)
    # unsorted times and other methods' interpolants: scipy's own evaluation
    np.testing.assert_array_equal(reference.dense_values(sol, t[::-1]), sol.sol(t[::-1]).T)
    radau = solve_ivp(rhs, (0.1, 0.6), np.ones(5), method="Radau", rtol=1e-8, dense_output=True)
    np.testing.assert_array_equal(reference.dense_values(radau, t), radau.sol(t).T)


def test_dense_values_after_a_terminal_event():
    # a run stopped by an event ends its step times at the event, inside the last step:
    # that step's polynomial still runs over the whole step
    from scipy.integrate import solve_ivp

    def hit(t, y):
        return y[0] - 0.5
    hit.terminal = True
    sol = solve_ivp(lambda t, y: -3.0 * y + np.array([0.0, 1.0]), (0.0, 2.0), [1.0, 0.0], method="DOP853",
                    rtol=1e-10, dense_output=True, events=hit)
    assert sol.status == 1 and sol.sol.ts[-1] == sol.t_events[0][0]
    t = np.linspace(0.0, sol.t[-1], 333)
    np.testing.assert_allclose(reference.dense_values(sol, t), sol.sol(t).T, rtol=1e-14, atol=1e-15)


def test_the_nonlinear_reference_tightens_for_tight_targets(monkeypatch):
    # the reference must stay >= 10x below the error the check judges, down to rtol 1e-9
    from rnn2spice.analysis import reference as ref_module
    from rnn2spice.network.spec import spec_from_dict

    spec = spec_from_dict({"name": "t", "tau": [1e-3, 2e-3], "w": [[0.5, -1.2], [1.1, 0.3]], "activation": "tanh",
                           "convention": "ctrnn", "h0": [0.3, -0.2], "t_stop": 5e-3})
    seen = []
    real = ref_module.solve_nonlinear
    monkeypatch.setattr(ref_module, "solve_nonlinear", lambda s, t, **kw: seen.append(kw) or real(s, t, **kw))
    t = np.linspace(0, spec.t_stop, 50)
    for target in (None, 1e-3, 1e-7, 1e-8, 1e-9):
        ref_module.solve(spec, t, target=target)
    assert [kw["rtol"] for kw in seen] == [1e-11, 1e-11, 1e-11, 1e-13, 1e-13]
