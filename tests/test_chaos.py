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


# =========================================================================== the published g-dependence

def dmft_lambda(g, *, nodes=81, points=1001, half_width=40.0, grid=4001):
    """lambda_1 tau of dx/dt = -x + W tanh(x), W_ij ~ N(0, g^2/n), n -> infinity, by the
    dynamic mean-field theory of Sompolinsky, Crisanti & Sommers (1988), Phys. Rev. Lett. 61,
    259, Eqs. (6)-(10) (derived again in Crisanti & Sompolinsky (2018), Phys. Rev. E 98,
    062120, Sec. IV): the autocorrelation Delta(t) moves as a particle in the potential
    V(Delta) = -Delta^2 / 2 + g^2 <Phi(x) Phi(y)>, Phi = ln cosh, from Delta_0 (fixed by
    V(Delta_0) = V(0)) to 0; the tangent's correlation obeys the Schroedinger equation
    [-d^2/dt^2 + 1 - g^2 <phi'(x(t)) phi'(x(0))>] psi = E psi, and lambda_1 = -1 + sqrt(1 - E_0).
    Returns (lambda_1 tau, E_0, E_1): E_1 = 0 (the mode dDelta/dt) checks the numerics.
    Gaussian averages by quadrature, Delta(t) from energy conservation, the
    eigenvalues by finite differences (numpy/scipy only, ~1 s)."""
    from scipy.integrate import cumulative_trapezoid
    from scipy.linalg import eigh_tridiagonal
    from scipy.optimize import brentq

    # Gaussian averages by the trapezoidal rule on [-8, 8] (exponentially convergent for these
    # smooth integrands; Gauss-Hermite converges slowly on ln cosh at Delta_0 ~ 10)
    z = np.linspace(-8.0, 8.0, nodes)
    wz = np.exp(-z * z / 2)
    wz = wz / wz.sum()

    def big_phi(x):
        return np.logaddexp(x, -x) - np.log(2.0)   # ln cosh x, the integral of tanh

    def spread(d0):
        v = big_phi(np.sqrt(d0) * z)
        return wz @ v ** 2 - (wz @ v) ** 2

    d0 = brentq(lambda d: d * d / 2 - g * g * spread(d), 1e-6, 100.0 * g * g)

    def corr(f, d):   # <f(x) f(y)>, x and y ~ N(0, d0) with covariance d (array)
        d = np.clip(np.asarray(d, dtype=float), 0.0, d0)[:, None, None]
        inner = f(np.sqrt(d) * z[None, :, None] + np.sqrt(d0 - d) * z[None, None, :]) @ wz
        return inner ** 2 @ wz

    s = np.linspace(0.0, np.sqrt(d0), points)            # Delta = d0 - s^2 (the turning point regular)
    delta = d0 - s * s

    def potential(d):
        return -d * d / 2 + g * g * corr(big_phi, d)

    kinetic = np.maximum(potential(np.array([d0])) - potential(delta), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        integrand = 2 * s / np.sqrt(2 * kinetic)
    integrand[0] = integrand[1]
    t_of = cumulative_trapezoid(integrand, s, initial=0.0)
    ok = np.isfinite(t_of)
    t_of, delta = t_of[ok], delta[ok]
    tau = np.linspace(-half_width, half_width, grid)
    h = tau[1] - tau[0]
    d = np.interp(np.abs(tau), t_of, delta, right=0.0)
    table = np.linspace(0.0, d0, 401)
    v = 1.0 - g * g * np.interp(d, table, corr(lambda x: 1 - np.tanh(x) ** 2, table))
    e = eigh_tridiagonal(2 / h ** 2 + v, -np.ones(grid - 1) / h ** 2, select="i", select_range=(0, 1))[0]
    return -1.0 + np.sqrt(1.0 - e[0]), e[0], e[1]


def test_dmft_curve_itself():
    # the theory's own checks: E_1 = 0 (the zero mode dDelta/dt), lambda_1 = 0 at onset and
    # growing as (g - 1)^2 near it (SCS 1988), monotone in g
    values = {g: dmft_lambda(g) for g in (1.2, 1.5, 2.0, 3.0, 4.0)}
    for g, (lam, e0, e1) in values.items():
        assert abs(e1) < 0.01 and e0 < 0 and lam > 0
    lams = [values[g][0] for g in sorted(values)]
    assert all(a < b for a, b in zip(lams, lams[1:]))
    # (g - 1)^2 near onset: lambda(1.2) / lambda(1.5) ~ (0.2 / 0.5)^2 = 0.16 (measured 0.25)
    assert 0.1 < values[1.2][0] / values[1.5][0] < 0.4
    # the values this test module holds the finite networks to (lambda_1 tau)
    # (converged: 201 nodes, 2001 points give 0.1125, 0.2355, 0.3415)
    assert values[2.0][0] == pytest.approx(0.1125, abs=0.002)
    assert values[3.0][0] == pytest.approx(0.2355, abs=0.002)
    assert values[4.0][0] == pytest.approx(0.3415, abs=0.002)


@pytest.mark.slow
def test_g_dependence_matches_the_mean_field_theory_at_large_n():
    """lambda_1 tau of rate networks (the DMFT's model), n = 300, three draws each, 200 tau
    (burn-in 20 %), against the DMFT curve.  Finite n lowers lambda_1, most near the onset
    (longer correlation times): measured means 0.082, 0.189, 0.294 at g = 2, 3, 4 (DMFT
    0.1125, 0.2355, 0.3415: ratios 0.73, 0.80, 0.86) with draws spread +-0.02 (so +-0.01 on
    a mean of three, 0.1 of the ratio at g = 2); below g = 1 the rest state's g - 1."""
    t = np.linspace(0, 0.2, 2001)
    ratios = []
    for g in (2.0, 3.0, 4.0):
        est = []
        for seed in range(3):
            spec = random_net(n=300, g=g, seed=10 + seed, t_stop=0.2)
            ref = solve_nonlinear(spec, t, rtol=1e-7, atol=1e-9)
            est.append(largest_exponent(spec, t, ref, burn_in=0.2).value * 1e-3)
        ratios.append(np.mean(est) / dmft_lambda(g)[0])
    # finite n: 0.6 .. 1.0 of the n -> infinity value, and the same fraction at every g
    # (the shape of the curve, not only its sign and order)
    assert all(0.6 < r < 1.05 for r in ratios), ratios
    assert max(ratios) - min(ratios) < 0.25, ratios
    spec = random_net(n=300, g=0.5, seed=10, t_stop=0.2)
    ref = solve_nonlinear(spec, t, rtol=1e-7, atol=1e-9)
    assert largest_exponent(spec, t, ref).value * 1e-3 == pytest.approx(0.5 - 1.0, abs=0.1)


# =========================================================================== ngspice: margins, tampering, montecarlo

def _run_text(compiled, text):
    """A netlist text (the compiled one, altered) simulated, read back as the compiled one is."""
    from rnn2spice.circuit.writer import vector_name
    from rnn2spice.network.scaling import to_model
    from rnn2spice.spice.ngspice import simulate_netlist
    res = simulate_netlist(text)
    t = np.asarray(res.vectors["time"], dtype=float)
    states = np.stack([np.asarray(res.vectors[vector_name(p)], dtype=float) for p in compiled.state_probes], axis=1)
    t, states = to_model(compiled.spec, t, states)
    return Trajectory(t, states, res.backend, res.ngspice_version, 0.0)


def _tampered(text, tamper, neuron):
    """The netlist with every coupling gain x 1.3, or neuron ``neuron``'s capacitor doubled (its tau)."""
    import re
    if tamper == "weights x1.3":
        return re.sub(r"(?m)^(G\S* \S+ \S+ \S+ \S+ )(\S+)$", lambda m: f"{m.group(1)}{float(m.group(2)) * 1.3!r}", text)
    return re.sub(rf"(?m)^(C_{neuron} \S+ \S+ )(\S+)", lambda m: f"{m.group(1)}{float(m.group(2)) * 2.0!r}", text)


#: (convention, n, g, seed, whether 100 tau resolve one neuron's doubled tau statistically: at
#: g = 3 (lambda_1 tau ~ 0.2) they do not, and the tampered run fails the pointwise part only)
CASES = [("rate", 30, 4.0, 0, True), ("ctrnn", 30, 4.0, 0, True), ("rate", 40, 3.0, 2, False)]


@pytest.mark.ngspice
@pytest.mark.slow
@pytest.mark.parametrize("convention,n,g,seed,resolves_tau", CASES)
def test_check_passes_correct_chaotic_circuits_with_margin_and_fails_tampered_netlists(convention, n, g, seed,
                                                                                       resolves_tau):
    """A seeded spread of chaotic networks (both conventions, g 3..5, n 30..60, 100 tau):
    ``check`` passes with the pointwise error at most half its threshold (the safety factor:
    measured 0.2 .. 0.3) and every statistic within 0.9 of its bound; the same netlist with
    its weights x 1.3 or the most active neuron's tau doubled, simulated and judged, fails
    the statistical part (a saturated ctrnn network's statistics move little with its
    weights: there x 1.3 fails the pointwise part, at once)."""
    from rnn2spice.workflows.pipeline import check
    spec = random_net(n=n, g=g, seed=seed, convention=convention, t_stop=0.1)
    result = check(spec)
    assert result.horizon.chaotic, result.summary()
    assert result.passed, result.summary()
    cmp = result.comparison
    assert cmp.verdict_error <= cmp.threshold / chaos.SAFETY, result.summary()
    assert max(s for _, s, _ in result.statistics.scores()) < 0.9, result.statistics.describe()
    compiled = compile_rnn(spec)
    k = int(np.argmax(result.reference.var(axis=0)))
    for tamper in ("weights x1.3", "one tau doubled"):
        text = _tampered(compiled.netlist, tamper, k)
        assert text != compiled.netlist
        wrong = judge(compiled, _run_text(compiled, text))
        assert not wrong.passed, (tamper, wrong.summary())
        if (convention == "rate" and tamper == "weights x1.3") or (resolves_tau and tamper == "one tau doubled"):
            assert wrong.statistics is not None and not wrong.statistics.passed, (tamper, wrong.summary())


@pytest.mark.ngspice
def test_montecarlo_of_a_chaotic_network_judges_runs_beyond_the_horizon_by_statistics():
    """Issue 24 item 5: a Monte Carlo run of a chaotic network (parts at 1 %, threshold 10 %)
    is held to the nominal reference pointwise only up to the horizon, which starts from the
    parts' floor (2 x tolerance), and by its statistics beyond; over the whole run its
    divergence exceeds the threshold, so a pointwise verdict would fail a right circuit."""
    from rnn2spice.workflows.montecarlo import montecarlo
    spec = random_net(n=30, g=4.0, seed=0, t_stop=0.1)
    study = montecarlo(spec, runs=1, tolerance=0.01, seed=0, jobs=1)
    (rec,) = study.records
    assert rec["status"] == "ok" and rec["lyapunov_exponent"] > 30.0
    assert rec["horizon"] is not None and 0.0 < rec["horizon"] < 0.05
    assert rec["statistics"] is not None and all(rec["statistics"].values()), rec["statistics"]
    assert rec["error"] <= 0.1 and rec["passed"]
    states = np.asarray(rec["grid_states"])
    t = np.linspace(0.0, 0.1, states.shape[0])      # the study's uniform grid (study.GRID_POINTS)
    ref = solve_nonlinear(spec, t, rtol=1e-9, atol=1e-11)
    whole = np.max(np.abs(states - ref)) / np.max(np.abs(ref))
    assert whole > 0.1
