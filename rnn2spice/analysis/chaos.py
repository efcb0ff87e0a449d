"""Chaotic networks: the horizon of predictability and the statistics beyond it (THEORY.md 9).

Any error e0 of a run (the simulator's tolerance, round-off) grows along a chaotic
trajectory as e0 exp(Lambda(t)), Lambda(t) = ln |v(t)| / |v(0)| the cumulative stretching of
a tangent vector (:mod:`~rnn2spice.analysis.lyapunov`), on average exp(lambda_1 t).  With the
run's accuracy floor eps the circuit can follow the exact reference pointwise only up to
the horizon

    T_p = first t with eps exp(Lambda(t)) >= threshold      (~ ln(threshold / eps) / lambda_1)

:func:`horizon` finds it along the reference.  Beyond it a correct circuit is one more
trajectory on the same attractor: :func:`compare_statistics` judges it against an ensemble
of K reference runs started from h0 perturbed at eps (:func:`ensemble`) by per-neuron mean
and variance, per-neuron autocorrelation at a few lags, and lambda_1 along its own
trajectory, each within bounds from the ensemble's spread.

A positive finite-time lambda_1 is chaos only when the stretching relative to the motion,
Lambda - ln |dh/dt|, keeps rising (:func:`persistence`): an escape from an unstable fixed
point or a settling on a cycle is a transient, judged pointwise as before.

``check`` predicts the horizon before any run (:func:`prediction_grid`, :func:`interpolate`)
and computes the ensemble on :func:`statistics_grid` beside ngspice.

The module is longer than 400 lines: the horizon, the ensemble and the statistical tests
share the constants that set one verdict (floor, safety, members, resolution) and are read
together against THEORY.md 9.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as _stats

from scipy.integrate import solve_ivp

from rnn2spice._blas import one_blas_thread
from rnn2spice.analysis.lyapunov import STEP_FACTOR, Dynamics, Exponent, carry, hermite, largest_exponent
from rnn2spice.analysis.metrics import resolution_floor
from rnn2spice.analysis.reference import breakpoints, dense_values, solve_linear
from rnn2spice.network.spec import RnnSpec

#: Ensemble members (reference runs from perturbed h0).  12 gives t-quantiles with 11 degrees
#: of freedom and leave-one-out bounds that vary little between draws (with 8 the largest
#: score of one correct run over three ensemble draws ranged 0.6 .. 1.15, with 12 0.5 .. 0.75);
#: all members are one stacked ODE at :data:`ENSEMBLE_RTOL`.
MEMBERS = 12
#: The members' solver tolerance: a member only has to be a trajectory on the attractor.
ENSEMBLE_RTOL = 1e-6
#: Uniform samples of the window beyond the horizon the statistics are computed on (at most).
STAT_POINTS = 4000
#: Lags of the autocorrelation compared (evenly spaced up to the decorrelation lag).
LAGS = 8
#: False-alarm probability of each statistical test on a correct circuit (Bonferroni over channels).
ALPHA = 1e-3
#: Margin on the largest leave-one-out score of the ensemble's own members (:func:`_test`).
LOO_MARGIN = 1.0
#: A spread below this fraction of the channels' median spread is floored to it: a channel
#: that barely varies in the ensemble is not judged on a vanishing denominator.
SPREAD_FLOOR = 0.25
#: lambda_1 bound: besides the ensemble's t-bound, the tangent integration's own resolution
#: (relative) -- the ensemble members share their first horizon and so their exponents.
EXPONENT_RESOLUTION = 0.15
#: Safety factor of the horizon (THEORY.md 9): the pointwise part ends where the predicted
#: error floor exp(Lambda(t)) reaches threshold / SAFETY, so a correct circuit, whose actual
#: error floor is below the claimed one, ends it at most at threshold / SAFETY.  Applied when
#: the run is accurate enough for it (threshold / floor >= SAFETY^2, so the level
#: ln(threshold / (SAFETY floor)) is at least ln SAFETY); ``check``'s pointwise run is.
SAFETY = 2.0


@dataclass(frozen=True)
class Persistence:
    """Whether the stretching along the run is chaos or a transient's (THEORY.md 9,
    :func:`persistence`): per half window of the run and past it the floor of
    R = Lambda - ln |dh/dt| and the typical speed (median ln |dh/dt|)."""

    tiles: tuple            # of (t_from, t_to, median R, median ln |dh/dt|, at rest) per half window
    needed: float           # the rise of the median of R from one half window to the next that stretches
    sustained: bool         # chaos
    reason: str
    late_exponent: float    # 1/s: the mean stretching rate past the run (lambda_1 when decided in the run)

    def as_dict(self) -> dict:
        return {"sustained": self.sustained, "reason": self.reason, "late_lyapunov_exponent": self.late_exponent,
                "needed_rise": self.needed,
                "half_windows": [{"from": a, "to": b, "median_r": r, "median_ln_speed": m, "at_rest": z}
                                 for a, b, r, m, z in self.tiles]}


@dataclass(frozen=True)
class Horizon:
    """lambda_1 along the reference and the horizon of a run (None when never reached)."""

    exponent: Exponent | None   # None when not estimated
    floor: float                # eps, the run's accuracy floor (model units, relative to the scale)
    threshold: float
    horizon: float | None       # s, model time
    #: the test that a positive lambda_1 is the attractor's, not a transient's (None: not needed)
    persistence: Persistence | None = None
    #: ln of the largest growth of the accuracy floor along the run, :func:`amplification` (None: not measured)
    amplification: float | None = None
    #: the horizon is a chaotic transient's (the floor's finite-time growth reaches the threshold in a
    #: run that settles: lambda_1 <= 0 over the run, or the stretching does not persist), THEORY.md 9
    transient_chaos: bool = False
    #: the nonlinear test of a run ``persistence`` found a transient whose floor's growth reaches the
    #: level (:func:`spread`; None: not needed)
    spread: "Spread | None" = None
    #: lambda_1 carried on past the run until its standard error is small, :func:`converge` (None: not needed)
    convergence: Convergence | None = None

    @property
    def transient(self) -> bool:
        """lambda_1 > 0 along the run from a transient that does not persist past it."""
        return self.persistence is not None and not self.persistence.sustained

    @property
    def lyapunov_exponent(self) -> float | None:
        """lambda_1 (1/s): the finite-time value along the run's reference trajectory after the
        burn-in (issue 24's definition; a transient's may be > 0, :attr:`transient`).  It is what
        an independent estimate along the same trajectory measures (Benettin over the same
        window: within 30 % in 187 of 205 draws, n = 50 .. 200, g = 2 .. 6, both conventions,
        against 170 of 205 for the carried-on value); the attractor's own rate, carried on past
        the run to a small standard error, is :attr:`converged_exponent` (THEORY.md 9)."""
        return self.run_exponent

    @property
    def converged_exponent(self) -> float | None:
        """lambda_1 (1/s) of a chaotic run carried on past t_stop until its standard error is
        small (:func:`converge`), None when not carried on: the attractor's rate, of which the
        run's own value is a finite-time sample (+-50 % over 0.2 s at n = 50)."""
        return None if self.convergence is None else self.convergence.value

    @property
    def run_exponent(self) -> float | None:
        """The finite-time lambda_1 (1/s) along the run after the burn-in (what classifies it)."""
        return None if self.exponent is None else self.exponent.value

    @property
    def chaotic(self) -> bool:
        """A horizon inside the run: a positive lambda_1 whose growth reaches the threshold, or a
        chaotic transient's (:attr:`transient_chaos`); judged pointwise up to it, statistics beyond."""
        return self.horizon is not None and self.run_exponent is not None and (
            self.run_exponent > 0 or self.transient_chaos)

    def as_dict(self) -> dict:
        return {"lyapunov_exponent": self.lyapunov_exponent, "horizon": self.horizon, "chaotic": self.chaotic,
                "accuracy_floor": self.floor,
                "lyapunov_window": None if self.exponent is None else [self.exponent.t_from, self.exponent.t_to],
                "transient": self.transient, "transient_chaos": self.transient_chaos,
                "amplification": self.amplification,
                "persistence": None if self.persistence is None else self.persistence.as_dict(),
                "spread": None if self.spread is None else self.spread.as_dict(),
                "lyapunov_exponent_converged": self.converged_exponent,
                "lyapunov_standard_error": None if self.convergence is None else self.convergence.standard_error,
                "lyapunov_convergence": None if self.convergence is None else self.convergence.as_dict()}


#: The tangent integration is skipped beyond this many RK4 substeps (a stiff network over many
#: time constants) or this many multiply-adds (substeps x 4 x n^2, ~10 s): then no exponent and
#: no horizon are reported and the verdict is pointwise.
MAX_SUBSTEPS = 400_000
MAX_WORK = 2e10


def horizon(spec: RnnSpec, time: np.ndarray, reference: np.ndarray, *, floor: float,
            threshold: float, atol=None, converged: bool = True) -> Horizon:
    """lambda_1 along the reference trajectory (samples ``reference`` at ``time``) and the
    horizon where ``floor * exp(Lambda(t))`` reaches ``threshold`` (both relative to the
    largest reference state).  A linear network's lambda_1 is max Re eig(A) (exact, no
    integration) and it has no horizon (its relative error does not grow).  ``atol``: the
    simulator's absolute tolerance per state (model units), the floor of the verdict's metric
    in :func:`spread` (default 0).  A chaotic run's lambda_1 is also carried on past the run
    until its standard error is small (:func:`converge`; ``converged=False``: not, for callers
    that need only the horizon)."""
    t = np.asarray(time, dtype=float)
    if t.size < 2 or not t[-1] > t[0]:
        return Horizon(None, floor, threshold, None)
    level = horizon_level(floor, threshold)
    if spec.activation == "linear":
        # never chaotic: an unstable linear network's error grows with its state, so the
        # relative error the verdict judges does not (no horizon; pointwise as ever)
        lam = float(np.max(np.linalg.eigvals(spec.state_matrix()).real)) if spec.n else 0.0
        grid = np.array([t[0], t[-1]])
        exp = Exponent(np.array([lam]), float(t[0]), float(t[-1]), 0, grid, np.array([[0.0], [lam * (t[-1] - t[0])]]))
        return Horizon(exp, floor, threshold, None)
    if not affordable(spec, t):
        return Horizon(None, floor, threshold, None)
    exp = largest_exponent(spec, t, reference)
    growth = amplification(exp, t, reference)
    peak = float(np.max(growth))
    # chaotic: lambda_1 > 0 whose mean growth reaches the level inside the run (a transient
    # stretch of a limit cycle or a slow drift alone is not), the horizon where Lambda does
    tp = exp.crossing(level) if exp.value > 0 and exp.value * (t[-1] - t[0]) > level else None
    kept = None
    if tp is not None:
        # ... and whose growth persists: an escape from an unstable fixed point stretches as much
        # for a while, then the trajectories meet on the same fixed point or cycle again
        kept = persistence(spec, t, reference, exp)
        if kept.sustained:
            return Horizon(exp, floor, threshold, tp, kept, peak,
                           convergence=converge(spec, t, reference, exp) if converged else None)
    # not chaos, but a chaotic transient may still amplify the floor past the threshold before
    # the run settles: beyond that point no correct circuit follows the reference pointwise
    # (THEORY.md 9); an escape from a fixed point or a cycle's stretching stays below the level
    hit = np.flatnonzero(growth >= max(level, TRANSIENT_LEVEL))
    if not hit.size:
        return Horizon(exp, floor, threshold, None, kept, peak)
    if kept is None:
        # persistence has not judged it (lambda_1 <= 0, or its mean growth short of the level).
        # The tangent's growth is a linear bound: a stable non-normal network (a feedforward
        # chain at rest but for its last neuron, lambda_1 = -466 1/s) stretches a tangent by e^7.2
        # along states that stay at 0, where a run makes no error; it got a horizon and its exact
        # trajectory failed the statistics against members the chain blew up
        # (tests/test_chaos_nonnormal.py).  A horizon only when trajectories started at the floor
        # (:func:`spread`) do part by the limit (the settling network of
        # tests/test_chaos_transient_chaos.py: 1.9e-3 against 5e-4; the chain: 1.25e-4, its floor)
        sp = spread(spec, t, reference, floor=floor, threshold=threshold, atol=atol)
        parted = sp.largest >= sp.limit
        return Horizon(exp, floor, threshold, float(exp.time[hit[0]]) if parted else None, kept, peak, parted, sp)
    # persistence found a transient, yet the linear growth of the floor reaches the level: an
    # escape from a fixed point the trajectory first approaches (its floor grows with the
    # motion: the rank-1 escape of tests/test_chaos_transients.py, A = 3.9, passes pointwise)
    # or a chaotic phase before the settling (ctrnn n = 50, g = 6: A = 26.9, a right circuit
    # refined to 559,573 points and failed).  The tangent cannot tell them apart; the
    # trajectories themselves do (:func:`spread`): a horizon only when even members started
    # REACH times closer part by the threshold, so that no tighter run could follow pointwise.
    # The horizon is then the floor's as for any chaotic transient (where A reaches the level):
    # members started at the floor at t0 overstate a run's early error (its error is born along
    # the run, relative to the state then), their crossing came at 0.1 .. 0.6 ms, A's at 3 .. 18 ms
    sp = spread(spec, t, reference, floor=floor, threshold=threshold, atol=atol)
    if sp.hopeless:
        return Horizon(exp, floor, threshold, float(exp.time[hit[0]]), kept, peak, True, sp)
    return Horizon(exp, floor, threshold, None, kept, peak, spread=sp)


#: A chaotic transient's horizon needs at least this growth of the floor (ln S^2 = ln 4, the
#: level of ``check``'s pointwise run, THEORY.md 9): the stretching of an escape from a fixed point
#: or onto a cycle, measured relative to the state, stays below it (measured: at most 0.77 over
#: the 18 tanh and sigmoid transients of tests/test_chaos_transients.py; a transiently chaotic
#: random network reaches 1.9 .. 20).
TRANSIENT_LEVEL = float(np.log(SAFETY ** 2))
#: States below this fraction of the run's largest are weighted as if that large (the absolute
#: tolerance, not the relative, bounds the simulator's error there).
STATE_WEIGHT_FLOOR = 1e-6


def amplification(exp: Exponent, time: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """ln of the growth of the run's accuracy floor up to each substep of ``exp`` (THEORY.md 9):

        A(t) = max_{s <= t} [Lambda(t) - Lambda(s) + ln(|h(s)| / max |h|)]

    An error made at s grows by exp(Lambda(t) - Lambda(s)) and is born relative to the state
    there (the simulator's tolerance is relative), so a stretch that starts from a small state
    starts from a small error.  A transiently chaotic network's A rises while it wanders and
    stops as it settles."""
    size = np.linalg.norm(np.asarray(reference, dtype=float).reshape(len(time), -1), axis=1)
    at = np.interp(exp.time, np.asarray(time, dtype=float), size)
    weight = np.log(np.maximum(at / max(float(np.max(at)), 1e-300), STATE_WEIGHT_FLOOR))
    g = exp.growth[:, 0]
    return g - np.minimum.accumulate(g - weight)


#: Members per amplitude of :func:`spread` (each start is one more n-vector in one stacked ODE).
SPREAD_MEMBERS = 4
#: How much closer than the run's floor the second set of members of :func:`spread` starts: the
#: reduction of the error ``check``'s refinement buys in reasonable time (a step REACH^(1/2)
#: = 3.2 times smaller, as many times the points).  Measured, transients whose floor's members
#: part by F times the limit: F = 27 and 30 refined to 6.8 and 5.2 times the points (107 s and
#: 43 s, PASS); F = 67 ran one refined run past 200 s.  With REACH = 100 those three stayed pointwise.
REACH = 10.0
#: At most this many uniform samples of the run for :func:`spread` (the members' state is
#: (samples, 1 + 2 K, n) at once).
SPREAD_POINTS = 4001


@dataclass(frozen=True)
class Spread:
    """How far trajectories started at the accuracy floor part, in the verdict's own metric
    (:func:`spread`, THEORY.md 9)."""

    floor: float            # the run's floor eps (relative, per state)
    reach: float            # the second set of members starts at eps / reach
    limit: float            # the error the pointwise part allows: floor exp(level) (threshold / SAFETY)
    largest: float          # the largest error of a member started at eps over the run
    largest_tight: float    # ... of one started at eps / reach

    @property
    def hopeless(self) -> bool:
        """Even the members ``reach`` times closer part by the limit: no tighter run follows pointwise."""
        return self.largest >= self.limit and self.largest_tight >= self.limit

    def as_dict(self) -> dict:
        return {"floor": self.floor, "reach": self.reach, "limit": self.limit, "largest_error": self.largest,
                "largest_error_tight": self.largest_tight, "hopeless": self.hopeless}


def spread(spec: RnnSpec, time: np.ndarray, reference: np.ndarray, *, floor: float, threshold: float,
           atol=None, members: int = SPREAD_MEMBERS, reach: float = REACH, seed: int = 0) -> Spread:
    """Whether a pointwise verdict over the run means anything (THEORY.md 9): trajectories
    from the run's start perturbed per state as a simulator's relative tolerance does,
    h_c(0) (1 + a xi_c) with xi_c = +-1 at random (each state off by a, no
    Gaussian tail beyond the floor), ``members`` at a = ``floor`` and as many at
    a = ``floor / reach``, carried with the unperturbed start in one stacked ODE (DOP853 at
    :data:`ENSEMBLE_RTOL`, shared steps: the differences are the dynamics', not the solver's),
    and judged against it by the verdict's own metric (:mod:`~rnn2spice.analysis.metrics`):
    per neuron max_t |member - base| over max(max_t |base|, min(atol / threshold, max |base|)),
    the largest over neurons and members, against the limit floor exp(level) (threshold /
    SAFETY, :func:`horizon_level`).  In a linear regime (an escape
    from a fixed point, a cycle) the error scales with the start, and the closer members stay
    ``reach`` times below; in a chaotic phase it saturates at the states' size, whatever the start."""
    t = np.asarray(time, dtype=float)
    grid = np.linspace(float(t[0]), float(t[-1]), int(min(t.size, SPREAD_POINTS)))
    h = np.asarray(reference, dtype=float).reshape(t.size, -1)
    start = h[0]
    rng = np.random.default_rng(seed)
    amplitudes = np.concatenate([[0.0], np.full(members, floor), np.full(members, floor / reach)])
    xi = rng.choice((-1.0, 1.0), size=(amplitudes.size, spec.n))   # every state off by a, as at the floor
    first = start[None, :] * (1.0 + amplitudes[:, None] * xi)
    shape = first.shape
    scale = max(1.0, float(np.max(np.abs(h)))) if h.size else 1.0
    edges = _edges_inside(spec, grid, max(spec.t_stop, float(grid[-1])))
    out = _piecewise(_stacked_rhs(spec, shape), first.ravel(), edges, grid, scale,
                     "ODE solver failed in the spread test")
    out = out.reshape((grid.size,) + shape)
    base = out[:, 0]
    size = np.max(np.abs(base), axis=0)                                   # max_t |base_c|
    atol_c = np.zeros(spec.n) if atol is None else np.broadcast_to(np.asarray(atol, dtype=float), (spec.n,))
    denominator = np.maximum(size, resolution_floor(atol_c, threshold, float(np.max(size, initial=0.0))))
    denominator = np.where(denominator > 0, denominator, np.inf)

    def error(rows):   # the verdict's error over the run (metrics.compare), the worst member
        return float(np.max(np.max(np.abs(out[:, rows] - base[:, None, :]), axis=(0, 1)) / denominator))

    loose = error(slice(1, 1 + members))
    tight = error(slice(1 + members, None))
    limit = float(floor * np.exp(horizon_level(floor, threshold)))
    return Spread(float(floor), float(reach), limit, loose, tight)


#: A half window lasts WINDOW_GROWTH / (2 lambda_1) (4 e-foldings of the run's rate: beyond the
#: O(1) wobble of ln |v| and ln |dh/dt|), at most half the run after the tangent's burn-in.
WINDOW_GROWTH = 8.0
#: A step from one half window to the next rises when the median of R does so by more than this
#: fraction of what the run's lambda_1 gives (measured on chaotic networks: 0.5 .. 1.5 of it).
PERSIST = 0.25
#: Chaos: consecutive rising steps with the speed stationary add up to this much stretching
#: unexplained by the motion (e^4 ~ 55; a chaotic half window gives ~4 on its own).
CHAOS_RISE = 4.0
#: A transient: this many consecutive flat steps past the run.
FLAT_STEPS = 2
#: Half windows carried on past the run at most; undecided after them (the speed never settled): chaos.
CONTINUATION_TILES = 6
#: The typical speed (median ln |dh/dt| over a half window) stays put on an attractor: within ln 2.
SPEED_STATIONARY = float(np.log(2.0))
#: At rest: |dh/dt| below this fraction of |J|max max(1, |h|) over a whole half window.
REST = 1e-12


def persistence(spec: RnnSpec, time: np.ndarray, reference: np.ndarray, exp: Exponent) -> Persistence:
    """Whether the stretching of ``exp`` along ``reference`` (at ``time``) is chaos (THEORY.md 9).

    In an autonomous flow dh/dt is itself a tangent solution (d(dh/dt)/dt = J dh/dt), of
    exponent 0 on a bounded attractor: R = Lambda - ln |dh/dt| grows at lambda_1 in chaos and
    stays put where the trajectory escapes from or settles on a fixed point or a cycle (there
    the error grows and shrinks with the motion, as in a linear network).  The run after the
    tangent's burn-in is cut into half windows of :data:`WINDOW_GROWTH` / (2 lambda_1), back from
    its end; per half window the median of R and the typical speed (median ln |dh/dt|).  A step
    from one to the next is *flat* when the median of R rises by at most :data:`PERSIST` of the
    run's rate, *stretching* when it rises more with the speed within :data:`SPEED_STATIONARY`,
    else *drifting* (an approach to or an escape from a fixed point: the speed moves).  Chaos:
    consecutive stretching steps add up to :data:`CHAOS_RISE`, in the run or past it.  Past the
    run the reference and the tangent are carried on (:func:`carry_on`, the inputs as they go
    on) half window by half window: :data:`FLAT_STEPS` flat steps or a state at rest -> a
    transient, not chaos; undecided after :data:`CONTINUATION_TILES` (or when the tangent's
    budget, :data:`MAX_SUBSTEPS` and :data:`MAX_WORK` with the run's, is spent): chaos."""
    t = np.asarray(time, dtype=float)
    h = np.asarray(reference, dtype=float)
    lam = exp.value
    model = Dynamics(spec)
    with one_blas_thread():
        bound = model.bound()   # an SVD: once
        slope = model.rhs(t, h)
    half = min(float(t[-1] - exp.t_from), WINDOW_GROWTH / lam) / 2.0
    points = max(int(np.ceil(half * bound * PREDICTION_DENSITY)) + 1, 33)
    needed = PERSIST * lam * half
    count = max(int(np.floor((float(t[-1]) - exp.t_from) / half * (1 + 1e-9))), 2)
    tiles = []
    for k in reversed(range(count)):
        grid = np.linspace(float(t[-1]) - (k + 1) * half, float(t[-1]) - k * half, points)
        tiles.append(_tile(model, bound, grid, np.interp(grid, exp.time, exp.growth[:, 0]),
                           hermite(t, h, slope, grid)))
    rise = 0.0      # stretching added up over the current streak of stretching steps
    for a, b in zip(tiles[:-1], tiles[1:]):
        rise = rise + b[2] - a[2] if _step(a, b, needed) == "stretch" else 0.0
        if rise >= CHAOS_RISE:
            return Persistence(tuple(tiles), needed, True, f"in the run {_REASONS['chaos']}", lam)
    # Lambda carried on from its value at the run's end (the tiles' medians compare across it)
    start = total = float(exp.growth[-1, 0])
    tangent, t_now, h_now = exp.tangent, float(t[-1]), h[-1]
    verdict, flats = "undecided", 0
    # within the tangent integration's budget (MAX_SUBSTEPS, MAX_WORK) with the run's own
    per_tile = int(np.ceil(half * bound / STEP_FACTOR))
    left = min(MAX_SUBSTEPS, MAX_WORK / (4.0 * spec.n ** 2)) - np.ceil((t[-1] - t[0]) * bound / STEP_FACTOR)
    for _ in range(min(CONTINUATION_TILES, max(int(left // max(per_tile, 1)), 0))):
        longer = replace(spec, t_stop=t_now + half)   # the inputs go on as the netlist's sources would
        grid = np.linspace(t_now, t_now + half, points)
        states = carry_on(longer, h_now, grid)
        more = largest_exponent(longer, grid, states, burn_in=0.0, tangent=tangent)
        tiles.append(_tile(Dynamics(longer), bound, grid, total + np.interp(grid, more.time, more.growth[:, 0]),
                           states))
        total += float(more.growth[-1, 0])
        tangent, t_now, h_now = more.tangent, float(grid[-1]), states[-1]
        if tiles[-1][4]:
            verdict = "rest"
            break
        kind = _step(tiles[-2], tiles[-1], needed)
        rise = rise + tiles[-1][2] - tiles[-2][2] if kind == "stretch" else 0.0
        flats = flats + 1 if kind == "flat" else 0
        if rise >= CHAOS_RISE or flats >= FLAT_STEPS:
            verdict = "chaos" if rise >= CHAOS_RISE else "transient"
            break
    reason = (f"past the run {_REASONS[verdict]}" if verdict != "undecided" else
              f"undecided after {len(tiles) - count} half windows past the run: chaos (lambda_1 > 0)")
    return Persistence(tuple(tiles), needed, verdict not in ("transient", "rest"), reason,
                       (total - start) / (t_now - float(t[-1])) if t_now > float(t[-1]) else lam)


_REASONS = {"chaos": "the stretching relative to the motion rose by e^4 with the speed stationary: chaos",
            "transient": "the stretching relative to the motion stopped rising: a transient (an escape from or "
                         "a settling on a fixed point or a cycle), not chaos",
            "rest": "the state is at rest on a fixed point: not chaos"}


def _tile(model: Dynamics, bound: float, grid: np.ndarray, stretch: np.ndarray, states: np.ndarray) -> tuple:
    """(t_from, t_to, median R = Lambda - ln |dh/dt|, median ln |dh/dt|, at rest) over ``grid``;
    ``bound``: the model's |J|max."""
    with one_blas_thread():
        speed = np.linalg.norm(model.rhs(grid, states[:, None, :])[:, 0], axis=1)
    rest = float(np.max(speed)) <= REST * bound * max(1.0, float(np.max(np.abs(states))))
    ln_speed = np.log(np.maximum(speed, 1e-300))
    return (float(grid[0]), float(grid[-1]), float(np.median(stretch - ln_speed)), float(np.median(ln_speed)), rest)


def _step(a: tuple, b: tuple, needed: float) -> str:
    """A step from half window ``a`` to ``b``: "flat", "stretch" or "drift" (the speed moves)."""
    if b[2] - a[2] <= needed:
        return "flat"
    return "stretch" if abs(b[3] - a[3]) <= SPEED_STATIONARY else "drift"


def carry_on(spec: RnnSpec, h_start: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The reference carried on from ``h_start`` at ``grid[0]`` over ``grid`` (s): DOP853 at
    :data:`ENSEMBLE_RTOL` (it only has to be a trajectory on the attractor), restarted at the
    inputs' breakpoints; states (points, n)."""
    y = np.asarray(h_start, dtype=float)
    scale = max(1.0, float(np.max(np.abs(y)))) if y.size else 1.0
    return _piecewise(_stacked_rhs(spec, y.shape), y, _edges_inside(spec, grid, float(grid[-1])), grid, scale,
                      "ODE solver failed carrying the reference on")


def _stacked_rhs(spec: RnnSpec, shape: tuple):
    """dh/dt of states of ``shape`` (..., n) as one flat ODE vector (solve_ivp's y): one
    matrix product for all of them per evaluation."""
    model = Dynamics(spec)

    def rhs(t, y):
        return model.rhs(np.array([t]), y.reshape((1,) + tuple(shape))).ravel()

    return rhs


def _edges_inside(spec: RnnSpec, grid: np.ndarray, until: float) -> np.ndarray:
    """The inputs' breakpoints (up to ``until``) strictly inside ``grid``, with its two ends."""
    edges = breakpoints(spec, until)
    return np.unique(np.concatenate([[grid[0]], edges[(edges > grid[0]) & (edges < grid[-1])], [grid[-1]]]))


def _piecewise(rhs, y: np.ndarray, edges: np.ndarray, grid: np.ndarray, scale: float, what: str,
               kick=None) -> np.ndarray:
    """``y`` carried by DOP853 at :data:`ENSEMBLE_RTOL` from one input breakpoint (``edges``)
    to the next, sampled at ``grid``: shape (grid.size, y.size); ``kick(y)``, when given, is
    applied at every breakpoint after the first."""
    out = np.empty((grid.size, y.size))
    done = 0
    with one_blas_thread():
        for i, (t0, t1) in enumerate(zip(edges[:-1], edges[1:])):
            if i and kick is not None:
                y = kick(y)
            stop = int(np.searchsorted(grid, t1, side="right" if i == edges.size - 2 else "left"))
            sol = solve_ivp(rhs, (float(t0), float(t1)), y, method="DOP853", rtol=ENSEMBLE_RTOL,
                            atol=ENSEMBLE_RTOL * 1e-2 * scale, dense_output=True)
            if not sol.success:
                raise RuntimeError(f"{what}: {sol.message}")
            if stop > done:
                out[done:stop] = dense_values(sol, grid[done:stop])
                done = stop
            y = sol.y[:, -1]
    return out


#: The horizon is predicted before any run along the reference sampled this many times per
#: 1 / |J|max (the tangent's RK4 step) and at least/most this many points over the run.
PREDICTION_DENSITY = 2.0
PREDICTION_POINTS = (2001, 20001)


def prediction_grid(spec: RnnSpec) -> np.ndarray:
    """The uniform model-time grid (s) over [0, t_stop] the horizon is predicted on."""
    want = int(np.ceil(spec.t_stop * Dynamics(spec).bound() * PREDICTION_DENSITY)) + 1
    return np.linspace(0.0, spec.t_stop, int(np.clip(want, *PREDICTION_POINTS)))


def interpolate(spec: RnnSpec, time: np.ndarray, states: np.ndarray, at: np.ndarray) -> np.ndarray:
    """A trajectory sampled at ``time`` (points, n) at the times ``at``: cubic Hermite with the
    network's own dh/dt at the samples."""
    model = Dynamics(spec)
    with one_blas_thread():
        slope = model.rhs(time, states)
    return hermite(time, states, slope, np.clip(np.asarray(at, dtype=float), time[0], time[-1]))


def affordable(spec: RnnSpec, time: np.ndarray) -> bool:
    """Whether lambda_1 is estimated (:data:`MAX_SUBSTEPS`, :data:`MAX_WORK`; a linear network: always)."""
    if spec.activation == "linear":
        return True
    steps = substeps(spec, time)
    return steps <= MAX_SUBSTEPS and 4.0 * steps * spec.n ** 2 <= MAX_WORK


def horizon_level(floor: float, threshold: float) -> float:
    """ln of the growth the horizon allows: ln(threshold / (SAFETY floor)) when the run is
    accurate enough for the safety factor, else ln(threshold / floor) (0 when floor >= threshold)."""
    ratio = threshold / floor
    if ratio >= SAFETY ** 2:
        return float(np.log(ratio / SAFETY))
    return float(np.log(ratio)) if ratio > 1.0 else 0.0


def substeps(spec: RnnSpec, time: np.ndarray) -> int:
    """RK4 substeps :func:`largest_exponent` takes over ``time``."""
    return int(np.ceil((time[-1] - time[0]) * Dynamics(spec).bound() / STEP_FACTOR))


# =========================================================================== the converged lambda_1

#: The reported lambda_1 is carried on past the run until its standard error is at most this
#: fraction of it (THEORY.md 9).  The finite-time value along a run of T after the burn-in spreads
#: as sigma / sqrt(T) about the asymptotic one, sigma ~ 4 .. 12 (1/s) s^(1/2) measured at n = 50,
#: g = 3 (lambda_1 15 .. 60 1/s): +-50 % over 0.2 s; 10 % keeps the reported value within 30 % of the
#: long run's with ~3 standard errors to spare.
CONVERGED_ERROR = 0.1
#: Blocks of this many time constants (the slowest neuron's) give the standard error (batch
#: means): the local stretching rate decorrelates within ~5 tau (measured: the batch-means sigma
#: at 20 tau is within 0.6 .. 1.3 of that at 1000 tau on three n = 50 networks).
BLOCK_TAUS = 20.0
#: A standard error needs at least this many blocks (a shorter run is carried on to them).
MIN_BLOCKS = 8
#: ... and the window at least this many time constants: batch means over a few blocks of a
#: short run understate the error where the stretching decorrelates slowly (near the onset:
#: rate n = 200, g = 2, 0.2 s: 91.9 1/s with a standard error of < 10 % along the run, 69.3 over
#: 10 s).  Carrying a 0.2 s run on to 1,000 tau costs ~0.3 s of CPU at n = 50, ~0.6 s at n = 200.
MIN_WINDOW_TAUS = 1000.0
#: The continuation's budget: RK4 substeps (~30 us each at n = 50, ~50 us at n = 200: ~3 .. 5 s of
#: CPU) and multiply-adds (substeps x n^2: bounds a large n).  Spent, lambda_1 is reported with the
#: standard error reached (``converged`` False).
CONTINUATION_SUBSTEPS = 100_000
CONTINUATION_WORK = 4e9
#: Each piece of the continuation goes this much past the length the standard error so far asks
#: for (se ~ 1 / sqrt(window)), at least :data:`MIN_BLOCKS` blocks and at most a quarter of the budget
#: (so a settling is found before the budget is spent).
CONTINUATION_MARGIN = 1.2
#: Settled past the run: over the trailing S = max(SETTLE_SPAN sigma^2 / lambda_1^2, MIN_BLOCKS
#: blocks) of the continuation (sigma^2 = block length x variance of the block rates) the stretching
#: relative to the motion, R = Lambda - ln |dh/dt|, rose by at most PERSIST of lambda_1 S (chaos
#: gives lambda_1 S +- sigma sqrt(S): a 4-sigma event at SETTLE_SPAN = 28).
SETTLE_SPAN = 28.0


@dataclass(frozen=True)
class Convergence:
    """lambda_1 over the run after the burn-in and its continuation past t_stop (:func:`converge`)."""

    value: float               # 1/s
    standard_error: float      # 1/s, batch means over blocks of BLOCK_TAUS time constants
    run_value: float           # 1/s, the finite-time value along the run alone
    run_standard_error: float  # 1/s (nan: fewer than two blocks in the run)
    t_from: float              # s, the window: the run's after its burn-in ...
    t_to: float                # ... to the end of the continuation (or where it settled)
    blocks: int
    substeps: int              # of the continuation
    converged: bool            # standard_error <= CONVERGED_ERROR |value|
    settled: float | None = None   # s: the continuation settled on a fixed point or a cycle there

    def as_dict(self) -> dict:
        return {"value": self.value, "standard_error": self.standard_error, "run_value": self.run_value,
                "run_standard_error": self.run_standard_error, "window": [self.t_from, self.t_to],
                "blocks": self.blocks, "continuation_substeps": self.substeps, "converged": self.converged,
                "settled_at": self.settled}


def _blocks(time: np.ndarray, growth: np.ndarray, t_from: float, block: float,
            t_to: float | None = None) -> tuple[float, float, int]:
    """(mean rate, its standard error by batch means, blocks) of the stretching ``growth``
    (Lambda at ``time``) over [t_from, t_to or time[-1]]; the error nan below two blocks."""
    end = float(time[-1]) if t_to is None else float(t_to)
    span = end - t_from
    value = (float(np.interp(end, time, growth)) - float(np.interp(t_from, time, growth))) / span
    count = int(np.floor(span / block * (1 + 1e-9)))
    if count < 2:
        return value, float("nan"), count
    edges = t_from + block * np.arange(count + 1)
    rates = np.diff(np.interp(edges, time, growth)) / block
    return value, float(np.std(rates, ddof=1) / np.sqrt(count)), count


def _settled(time: np.ndarray, r: np.ndarray, rate: float, se: float, count: int, block: float,
             value: float) -> float | None:
    """Where the continuation (``time``, R = Lambda - ln |dh/dt| on it) settled on a fixed point or
    a cycle, None while R keeps rising (:data:`SETTLE_SPAN`; ``rate``: the chaotic rate expected,
    ``se`` and ``count`` the blocks' so far); also settled when the stretching carried on so far,
    ``value``, is no longer positive (chaos has lambda_1 > 0).  Returns the first time R came within
    ln 2 of its largest value: the end of the chaotic stretch."""
    if not rate > 0 or not np.isfinite(se) or time[-1] - time[0] < MIN_BLOCKS * block:
        return None
    if value > 0:
        span = max(SETTLE_SPAN * se * se * count * block / rate ** 2, MIN_BLOCKS * block)
        if time[-1] - time[0] < span:
            return None

        def median(a, b):
            return float(np.median(r[(time >= a) & (time <= b)]))

        if median(time[-1] - block, time[-1]) - median(time[-1] - span, time[-1] - span + block) > PERSIST * rate * span:
            return None
    return float(time[np.flatnonzero(r >= np.max(r) - np.log(2.0))[0]])


def converge(spec: RnnSpec, time: np.ndarray, reference: np.ndarray, exp: Exponent) -> Convergence:
    """lambda_1 of a chaotic run to a small standard error (THEORY.md 9).

    The finite-time value ``exp`` along the run after its burn-in spreads about the attractor's
    (a finite network's stretching comes in bursts: +-50 % over 0.2 s at n = 50).  Its standard
    error is estimated by batch means (blocks of :data:`BLOCK_TAUS` time constants); while it
    exceeds :data:`CONVERGED_ERROR` of the value (or fewer than :data:`MIN_BLOCKS` blocks) the
    reference and its tangent are carried on past t_stop together (:func:`~rnn2spice.analysis.
    lyapunov.carry`, the inputs going on as the netlist's sources would) for as long as the error
    so far asks for, within :data:`CONTINUATION_SUBSTEPS` and :data:`CONTINUATION_WORK`.  The
    value is the mean stretching rate over the run after the burn-in and the continuation.  A
    finite network may be chaotic only for a while: when the continuation settles on a fixed
    point or a cycle (:func:`_settled`) the value is that of the chaotic stretch before it (the
    rate of the chaos the run saw), and the continuation stops."""
    t = np.asarray(time, dtype=float)
    tau = float(1.0 / np.min(np.asarray(spec.lam, dtype=float)))
    block = BLOCK_TAUS * tau
    times, growths = [exp.time], [exp.growth[:, 0]]
    past_t, past_r = [], []
    run_se, count = _blocks(exp.time, exp.growth[:, 0], exp.t_from, block)[1:]
    value, se, run_value = exp.value, run_se, exp.value
    budget = int(min(CONTINUATION_SUBSTEPS, CONTINUATION_WORK / max(spec.n, 1) ** 2))
    left = budget
    bound = Dynamics(spec).bound()
    h_now, v_now, t_now, total, used = np.asarray(reference, dtype=float)[-1], exp.tangent[0], float(t[-1]), \
        float(exp.growth[-1, 0]), 0
    settled = None
    shortest = max(MIN_WINDOW_TAUS * tau, MIN_BLOCKS * block)
    while (t_now - exp.t_from < shortest * (1 - 1e-9) or not se <= CONVERGED_ERROR * abs(value)) and left > 0:
        span_now = t_now - exp.t_from
        want = span_now * (se / (CONVERGED_ERROR * abs(value))) ** 2 if np.isfinite(se) and value != 0 else 0.0
        more = max(CONTINUATION_MARGIN * want - span_now, shortest - span_now, MIN_BLOCKS * block)
        more = min(more, min(left, max(budget // 4, 1)) / bound * STEP_FACTOR)
        piece_t, piece_g, piece_s, h_now, v_now = carry(replace(spec, t_stop=t_now + more), t_now, h_now, v_now,
                                                        more)
        times.append(piece_t[1:])
        growths.append(total + piece_g[1:])
        past_t.append(piece_t[1:])
        past_r.append(total + piece_g[1:] - piece_s[1:])
        total += float(piece_g[-1])
        t_now = float(piece_t[-1])
        used += piece_t.size - 1
        left -= piece_t.size - 1
        all_t, all_g = np.concatenate(times), np.concatenate(growths)
        value, se, count = _blocks(all_t, all_g, exp.t_from, block)
        # the chaotic rate the test expects: the run's (positive: the run is chaotic) or the one
        # carried on, the larger (a settling dilutes the latter)
        settled = _settled(np.concatenate(past_t), np.concatenate(past_r), max(value, run_value), se, count,
                           block, value)
        if settled is not None:
            end = max(settled, float(t[-1]))
            value, se, count = _blocks(all_t, all_g, exp.t_from, block, end)
            t_now = end
            break
    return Convergence(float(value), float(se), float(run_value), float(run_se), float(exp.t_from), t_now, count,
                       used, bool(count >= 2 and se <= CONVERGED_ERROR * abs(value)), settled)


def ensemble(spec: RnnSpec, time: np.ndarray, *, floor: float, members: int = MEMBERS,
             seed: int = 0) -> np.ndarray:
    """K reference runs at ``time`` from h0 + floor * scale * N(0, 1) per neuron, shape
    (points, K, n); scale = max(1, max |h0|).

    All members are one stacked ODE (one matrix product per stage for all of them), by
    DOP853 at :data:`ENSEMBLE_RTOL`, restarted at every input breakpoint; a member only has
    to be a trajectory on the attractor, not the reference's own."""
    time = np.asarray(time, dtype=float)
    rng = np.random.default_rng(seed)
    h0 = np.asarray(spec.h0, dtype=float)
    scale = max(1.0, float(np.max(np.abs(h0)))) if h0.size else 1.0
    start = h0[None, :] + floor * scale * rng.standard_normal((members, spec.n))
    if spec.activation == "linear":
        out = np.empty((time.size, members, spec.n))
        for j in range(members):
            out[:, j, :] = solve_linear(replace(spec, h0=start[j]), time)
        return out
    shape = (members, spec.n)
    rhs = _stacked_rhs(spec, shape)
    edges = breakpoints(spec, max(spec.t_stop, float(time[-1]) if time.size else 0.0))
    # kicked again at every input breakpoint: a network that settles (a fixed point contracts
    # the start's perturbations to nothing) and is then driven into a chaotic phase would
    # otherwise carry 12 copies of one trajectory (ctrnn n = 30, g = 5, a step at 100 ms: all
    # members identical at the step, a right circuit failed with the variance at 32 of its bound)
    def kick(y):
        return y + floor * scale * rng.standard_normal(y.shape)

    out = _piecewise(rhs, start.ravel(), edges, time, scale, "ensemble ODE solver failed", kick=kick)
    return out.reshape((time.size,) + shape)


# =========================================================================== statistics

def statistics_grid(start: float, stop: float) -> np.ndarray:
    """The uniform grid (s) the statistics beyond the horizon are computed on: the ensemble is
    evaluated there and the circuit resampled linearly onto it (:data:`STAT_POINTS`)."""
    return np.linspace(float(start), float(stop), STAT_POINTS)


def resample(time: np.ndarray, states: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``states`` (points, n) at ``time`` linearly interpolated at ``grid``."""
    keep = np.concatenate([[True], np.diff(time) > 0])
    t, h = time[keep], states[keep]
    return np.stack([np.interp(grid, t, h[:, k]) for k in range(h.shape[1])], axis=1)


def _uniform(time: np.ndarray, states: np.ndarray, start: float) -> tuple[np.ndarray, np.ndarray]:
    """States (points, ..., n) linearly resampled on a uniform grid over [start, t_end]."""
    keep = np.concatenate([[True], np.diff(time) > 0])
    t, h = time[keep], states[keep]
    inside = int(np.count_nonzero(t >= start))
    m = int(min(STAT_POINTS, max(inside, 64)))
    grid = np.linspace(start, t[-1], m)
    i = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, t.size - 2)
    dt = t[i + 1] - t[i]
    s = ((grid - t[i]) / np.where(dt > 0, dt, 1.0)).reshape((-1,) + (1,) * (h.ndim - 1))
    return grid, h[i] + s * (h[i + 1] - h[i])


def _autocorrelation(h: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation per channel at integer ``lags``: h (m, ..., n) -> (..., n, L),
    the unbiased autocovariance sum_i x_i x_(i+l) / (m - l) over the variance, summed directly
    at the few lags asked for (8 lags of 13 x 200 channels: ~0.1 s; the FFT of every channel it
    replaced took ~1.5 s)."""
    x = h - h.mean(axis=0)
    m = x.shape[0]
    var = np.einsum("i...,i...->...", x, x) / m
    acov = np.stack([np.einsum("i...,i...->...", x[:m - int(l)], x[int(l):]) / (m - int(l)) for l in lags],
                    axis=-1)
    return acov / np.where(var > 0, var, 1.0)[..., None]


def _mean_autocorrelation(h: np.ndarray, count: int) -> np.ndarray:
    """The channels' mean normalised autocorrelation at lags 0 .. count - 1 (h (m, ..., n)):
    the mean over channels of irfft(|X|^2) / var is the irfft of the mean of |X|^2 / var, so
    one inverse transform serves them all (zero-padded to >= 2m: the linear, not circular,
    autocovariance; unbiased, / (m - l))."""
    x = h - h.mean(axis=0)
    m = x.shape[0]
    x = x.reshape(m, -1)
    size = 1 << int(np.ceil(np.log2(2 * m)))
    spec = np.fft.rfft(x, n=size, axis=0)
    var = np.einsum("ij,ij->j", x, x) / m
    weight = np.where(var > 0, 1.0 / np.where(var > 0, var, 1.0), 0.0) / x.shape[1]
    power = (spec.real ** 2 + spec.imag ** 2) @ weight
    acov = np.fft.irfft(power, n=size)[:count]
    return acov / (m - np.arange(count))


@dataclass(frozen=True)
class Test:
    """One statistic of the circuit against the ensemble: z-scores per channel."""

    name: str
    circuit: np.ndarray     # the circuit's statistic per channel
    mean: np.ndarray        # the ensemble's
    spread: np.ndarray      # the ensemble's standard deviation (floored)
    z: np.ndarray           # (circuit - mean) / (spread sqrt(1 + 1/K))
    bound_local: float      # per channel |z| bound
    bound_global: float     # rms z bound

    @property
    def worst(self) -> int:
        return int(np.argmax(np.abs(self.z).reshape(self.z.shape[0], -1).max(axis=1))) if self.z.ndim > 1 else \
            int(np.argmax(np.abs(self.z)))

    @property
    def max_z(self) -> float:
        return float(np.max(np.abs(self.z))) if self.z.size else 0.0

    @property
    def rms_z(self) -> float:
        return float(np.sqrt(np.mean(self.z ** 2))) if self.z.size else 0.0

    @property
    def passed(self) -> bool:
        return self.max_z <= self.bound_local and self.rms_z <= self.bound_global

    def as_dict(self) -> dict:
        return {"passed": self.passed, "max_z": self.max_z, "worst_neuron": self.worst, "rms_z": self.rms_z,
                "bound_max_z": self.bound_local, "bound_rms_z": self.bound_global}


def _z(circuit: np.ndarray, members: np.ndarray, floor_fraction: float, absolute_floor: float,
       resolution: float = 0.0):
    """(mean, floored spread, z) of ``circuit`` against ``members`` (K, channels)."""
    k = members.shape[0]
    mean = members.mean(axis=0)
    sd = members.std(axis=0, ddof=1)
    floor = max(floor_fraction * float(np.median(sd)) if sd.size else 0.0, absolute_floor, 1e-300)
    # a run accurate to a relative `resolution` may move a statistic by that much of its size
    spread = np.maximum(np.maximum(sd, floor), resolution * np.abs(mean))
    return mean, spread, (circuit - mean) / (spread * np.sqrt(1.0 + 1.0 / k))


#: Draws of the parametric bootstrap of the rms bound (:func:`null_rms_bound`).
BOOTSTRAP = 1000


def null_rms_bound(members: np.ndarray, floor_fraction: float, absolute_floor: float, resolution: float,
                   *, draws: int = BOOTSTRAP, seed: int = 0) -> float:
    """The (1 - :data:`ALPHA`) quantile of a correct circuit's rms z over correlated channels
    (THEORY.md 9), by a parametric bootstrap: K + 1 Gaussian draws with the members' mean and
    sample covariance S (rank K - 1, so no C x C matrix: draws = mean + xi (members - mean) /
    sqrt(K - 1), xi ~ N(0, I_K)), the first judged against the other K exactly as the circuit
    is (their mean, their floored spread); a scaled chi-square fitted to the draws' mean square
    by its first two moments (Satterthwaite) gives the quantile.  The rank K - 1 covariance
    is more concentrated than the true one (it counts at most K - 1 independent channels), so
    the bound errs on the safe side: shrinking it towards independence to match an unbiased
    estimate of tr(R^2) (Bai & Saranadasa 1996) missed, with K = 12, 5 % of correct circuits on
    one-factor channels (correlation 0.5), where this bound misses < 1 % (tests/test_chaos_bound.py)."""
    k, channels = members.shape
    if k < 4 or channels < 1:
        return 0.0
    mean = members.mean(axis=0)
    dev = (members - mean) / np.sqrt(k - 1)
    rng = np.random.default_rng(seed)
    squares = []
    chunk = max(1, min(draws, int(4e6 // ((k + 1) * channels))))
    for lo in range(0, draws, chunk):
        xi = rng.standard_normal((min(chunk, draws - lo), k + 1, k))
        sample = mean + xi @ dev                                 # (draws, K + 1, channels)
        circuit, others = sample[:, 0], sample[:, 1:]
        mu = others.mean(axis=1)
        sd = others.std(axis=1, ddof=1)
        floor = np.maximum(floor_fraction * np.median(sd, axis=1), max(absolute_floor, 1e-300))
        spread = np.maximum(np.maximum(sd, floor[:, None]), resolution * np.abs(mu))
        z = (circuit - mu) / (spread * np.sqrt(1.0 + 1.0 / k))
        squares.append(np.mean(z * z, axis=1))
    sq = np.concatenate(squares)
    m, v = float(np.mean(sq)), float(np.var(sq, ddof=1))
    if not m > 0 or not v > 0:
        return float(np.sqrt(max(m, 0.0)))
    nu = 2.0 * m * m / v
    return float(np.sqrt(m * _stats.chi2.ppf(1.0 - ALPHA, nu) / nu))


def _test(name: str, circuit: np.ndarray, members: np.ndarray, *, floor_fraction: float = SPREAD_FLOOR,
          absolute_floor: float = 0.0, resolution: float = 0.0) -> Test:
    """z-scores of ``circuit`` (channels) against ``members`` (K, channels).

    Bounds (THEORY.md 9), each with the false-alarm probability :data:`ALPHA` on a circuit
    that is one more member: per channel the t distribution's (K - 1 degrees of freedom) with
    Bonferroni over the channels (valid for any correlation between them); rms over channels
    sqrt((K-1)/(K-3) chi2^{-1}_nu(1 - ALPHA) / nu), the scaled chi-square of a sum of
    correlated squares with nu = :func:`effective_channels` (the lags of one neuron, the
    neurons of one network are correlated: counting them as independent understated the
    spread of a correct circuit's rms, measured 1 false alarm in 12 at n = 200, g = 6).
    Neither bound is below :data:`LOO_MARGIN` times the largest score of a member against
    the others (leave one out), an empirical floor for when the model misjudges."""
    k = members.shape[0]
    mean, spread, z = _z(circuit, members, floor_fraction, absolute_floor, resolution)
    channels = max(z.size, 1)
    dof = k - 1
    local = float(_stats.t.ppf(1.0 - ALPHA / (2 * channels), dof))
    second = dof / (dof - 2) if dof > 2 else 3.0
    # independent channels (the least the bound may be: a run off by its resolution in every
    # channel has rms z ~ 1), and correlated ones as the members are
    glob = float(np.sqrt(second * _stats.chi2.ppf(1.0 - ALPHA, channels) / channels))
    glob = max(glob, null_rms_bound(members, floor_fraction, absolute_floor, resolution))
    if k >= 4 and z.size:
        loo = [_z(members[j], np.delete(members, j, axis=0), floor_fraction, absolute_floor, resolution)[2]
               for j in range(k)]
        local = max(local, LOO_MARGIN * max(float(np.max(np.abs(x))) for x in loo))
        glob = max(glob, LOO_MARGIN * max(float(np.sqrt(np.mean(x ** 2))) for x in loo))
    return Test(name, circuit, mean, spread, z, local, glob)


@dataclass(frozen=True)
class Statistics:
    """The statistical part of a chaotic run's verdict (beyond the horizon)."""

    start: float              # s, the window's start (the horizon)
    stop: float
    members: int
    tests: tuple              # of Test
    exponent_circuit: float   # lambda_1 along the circuit's trajectory (1/s)
    exponent_members: np.ndarray
    exponent_bound: float     # |circuit - mean| allowed (1/s)
    lags: np.ndarray          # s
    seconds: float = 0.0

    @property
    def exponent_passed(self) -> bool:
        return bool(abs(self.exponent_circuit - float(np.mean(self.exponent_members))) <= self.exponent_bound)

    @property
    def parts(self) -> dict:
        out = {t.name: t.passed for t in self.tests}
        out["lyapunov_exponent"] = self.exponent_passed
        return out

    @property
    def passed(self) -> bool:
        return all(self.parts.values())

    def scores(self) -> list[tuple[str, float, bool]]:
        """(name, score / bound, passed) per part, the largest ratio of each test's two bounds."""
        out = [(t.name, max(t.max_z / t.bound_local, t.rms_z / t.bound_global), t.passed) for t in self.tests]
        dev = abs(self.exponent_circuit - float(np.mean(self.exponent_members)))
        out.append(("lyapunov_exponent", dev / self.exponent_bound if self.exponent_bound > 0 else 0.0,
                    self.exponent_passed))
        return out

    def failed(self) -> list[str]:
        return [k for k, v in self.parts.items() if not v]

    def as_dict(self) -> dict:
        return {"passed": self.passed, "window": [self.start, self.stop], "members": self.members,
                "parts": self.parts, **{t.name: t.as_dict() for t in self.tests},
                "lyapunov_exponent": {"passed": self.exponent_passed, "circuit": self.exponent_circuit,
                                      "ensemble_mean": float(np.mean(self.exponent_members)),
                                      "ensemble_std": float(np.std(self.exponent_members, ddof=1)),
                                      "bound": self.exponent_bound},
                "lags_s": [float(x) for x in self.lags], "seconds": self.seconds}

    def describe(self) -> str:
        parts = ", ".join(f"{k} {'pass' if v else 'FAIL'}" for k, v in self.parts.items())
        return (f"statistics beyond the horizon ({self.start:.4g} .. {self.stop:.4g} s, {self.members} reference "
                f"runs from h0 perturbed at the floor): {parts}; lambda_1 along the circuit "
                f"{self.exponent_circuit:.4g} 1/s vs {float(np.mean(self.exponent_members)):.4g} "
                f"+- {self.exponent_bound:.2g}")


#: No epoch of a driven run (:func:`_epochs`) is shorter than this fraction of the window (a
#: pulse's rise joins its neighbour).  Cutting the window also into 8 equal epochs (for a sine,
#: which has no breakpoints) was tried: a member settling in another basin after a step then
#: failed 3 of 12 times (1.93 of the bound), against 0 with the breakpoints alone.
SHORTEST_EPOCH = 1.0 / 16.0


def _epochs(spec: RnnSpec, grid: np.ndarray) -> list[tuple[int, int]]:
    """(first, stop) rows of ``grid`` per epoch of the inputs (THEORY.md 9): the window cut at
    every input breakpoint inside it, no epoch shorter than :data:`SHORTEST_EPOCH` of the window;
    [] for an undriven network or a window with fewer than 2 epochs."""
    if not spec.inputs or grid.size < 64:
        return []
    t0, t1 = float(grid[0]), float(grid[-1])
    shortest = (t1 - t0) * SHORTEST_EPOCH
    cuts = breakpoints(spec, t1)
    kept = [t0]
    for c in cuts[(cuts > t0) & (cuts < t1)]:
        if c - kept[-1] >= shortest and t1 - c >= shortest:
            kept.append(float(c))
    if len(kept) < 2:
        return []
    rows = np.searchsorted(grid, np.array(kept + [t1 + 1.0]), side="left")
    return [(int(a), int(b)) for a, b in zip(rows[:-1], rows[1:]) if b > a]


def compare_statistics(spec: RnnSpec, time: np.ndarray, circuit: np.ndarray, members: np.ndarray, *,
                       start: float, resolution: float = 0.0) -> Statistics:
    """The circuit's trajectory (points, n) against the ensemble (points, K, n), all at
    ``time``, beyond ``start`` (s): mean, variance, autocorrelation per neuron and lambda_1;
    a driven network also per epoch of its inputs the neurons' means and their projection on
    each input's column of w_in (THEORY.md 9).

    ``resolution``: the circuit run's relative accuracy (its rtol): each statistic's spread is
    at least that fraction of its size (the mean's: of the largest state), since a correct run
    at that accuracy may move it so much (THEORY.md 9)."""
    time = np.asarray(time, dtype=float)
    both = np.concatenate([members, circuit[:, None, :]], axis=1)     # (points, K + 1, n)
    grid, h = _uniform(time, both, start)
    dt = float(grid[1] - grid[0]) if grid.size > 1 else 0.0
    mean = h.mean(axis=0)                                              # (K + 1, n)
    var = h.var(axis=0)
    scale = float(np.max(np.abs(members))) if members.size else 1.0
    # lags: evenly up to where the ensemble's neuron-averaged autocorrelation falls to 1/e
    # (at most a quarter of the window)
    pop = _mean_autocorrelation(h[:, :-1], max(grid.size // 4, 2))       # (lags,)
    below = np.flatnonzero(pop < np.exp(-1.0))
    reach = int(below[0]) if below.size else pop.size - 1
    lag_idx = np.unique(np.maximum(1, np.round(np.linspace(0, reach, LAGS + 1)[1:]).astype(int)))
    rho = _autocorrelation(h, lag_idx)                                  # (K + 1, n, L)
    # the population's order parameters (the dynamic mean-field theory's, THEORY.md 9): the
    # mean variance q and the neuron-averaged autocorrelation C(lag); a change of every
    # neuron a little (weights x 1.3) moves them far beyond their small ensemble spread
    population = np.concatenate([var.mean(axis=1)[:, None], rho.mean(axis=1)], axis=1)   # (K + 1, 1 + L)
    r = float(resolution)
    # driven: per neuron the mean over each epoch of the inputs, else a missing or inverted input
    # passes (a 30-tau pulse into a chaotic network moves the window's statistics < 0.6 of their bounds)
    epochs = _epochs(spec, grid)
    driven = np.stack([h[a:b].mean(axis=0) for a, b in epochs], axis=-1) if epochs else None  # (K + 1, n, E)
    # ... and its population form: per input and epoch those means projected on the input's
    # column of w_in, summed over the neurons it drives (a change of every driven neuron a little,
    # the input's gain, moves it beyond the small spread of a sum)
    if driven is not None:
        u = np.asarray(spec.w_in, dtype=float).reshape(spec.n, -1)
        norm = np.linalg.norm(u, axis=0)
        u = u[:, norm > 0] / norm[norm > 0]
        response = np.einsum("knE,nm->kmE", driven, u) if u.shape[1] else None
    else:
        response = None
    tests = (_test("mean", mean[-1], mean[:-1], absolute_floor=max(1e-9, r) * scale),
             _test("variance", var[-1], var[:-1], absolute_floor=1e-18 * scale ** 2, resolution=r),
             _test("autocorrelation", rho[-1].ravel(), rho[:-1].reshape(rho.shape[0] - 1, -1),
                   resolution=r),
             _test("population", population[-1], population[:-1], floor_fraction=0.0, resolution=r),
             *(() if driven is None else (
                 _test("input", driven[-1].ravel(), driven[:-1].reshape(driven.shape[0] - 1, -1),
                       absolute_floor=max(1e-9, r) * scale),)),
             *(() if response is None else (
                 _test("input_response", response[-1].ravel(), response[:-1].reshape(response.shape[0] - 1, -1),
                       floor_fraction=0.0, absolute_floor=max(1e-9, r) * scale),)))
    # lambda_1 along the window beyond the horizon only (the members share their start)
    inside = max(int(np.searchsorted(time, start, side="left")) - 1, 0)
    exps = largest_exponent(spec, time[inside:], both[inside:]).values
    ens = exps[:-1]
    k = ens.size
    t_bound = float(_stats.t.ppf(1.0 - ALPHA / 2, k - 1)) * float(np.std(ens, ddof=1)) * np.sqrt(1 + 1 / k)
    bound = max(t_bound, EXPONENT_RESOLUTION * abs(float(np.mean(ens))))
    return Statistics(float(start), float(time[-1]), k, tests, float(exps[-1]), ens, bound, lag_idx * dt)
