"""The largest Lyapunov exponent of a network along a sampled trajectory (THEORY.md 9).

A tangent vector v is carried along the trajectory h(t) by the variational equation

    dv/dt = J(t, h(t)) v,     J = d(dh/dt)/dh

(paper:  J v = -lam v + f'(z) (w v);  ctrnn: J v = lam (f'(z) (W v) - v);
 rate:   J v = -lam v + w_p (f'(h) v), w_p = D W the paper-form weights)

and renormalised after every step (Benettin et al. 1980): lambda_1 is the mean of
ln(|v| after / |v| before) per second after a burn-in that lets v align with the most
unstable direction.  The trajectory is given as samples (the exact reference, an ensemble
member or the circuit's own states): between samples h(t) is the cubic Hermite interpolant
with the network's own dh/dt at the samples, and v is stepped by classical Runge-Kutta on
a uniform grid fine enough for the fastest rate of J (``|J| <= max lam (1 + max f' |W|_2)``).
Several trajectories of the same network (shape (points, K, n)) are carried at once: one
matrix product per stage for all of them.  Cost: 4 products of (n x n) by (n x K) per
substep, about a second for n = 200 over 500 time constants: small next to ngspice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnn2spice._blas import one_blas_thread
from rnn2spice.analysis.reference import input_values
from rnn2spice.network.activations import ACTIVATIONS
from rnn2spice.network.spec import RnnSpec

#: RK4 substep: dt * (bound on |J|) at most this (RK4 is stable to 2.8; the bound is loose by the
#: typical slope f' < 1, so the modes that set lambda_1 are resolved to ~1e-3 per step).
STEP_FACTOR = 1.0
#: Fraction of the run before the exponent is averaged (v aligns with the leading direction).
BURN_IN = 0.1
#: Substeps per chunk of precomputed slopes (bounds memory: chunk x K x n doubles).
CHUNK = 512


class Dynamics:
    """dh/dt and J v of a network for many states at once (arrays (..., n))."""

    def __init__(self, spec: RnnSpec):
        self.spec = spec
        self.act = ACTIVATIONS[spec.activation]
        self.rate = spec.convention == "rate"
        self.lam = np.asarray(spec.lam, dtype=float)
        pw, pw_in, drive = spec.paper_form()
        if self.rate:                         # tau dh/dt = -h + W f(h) + U x + b
            self.w, self.w_in, self.const, self.gain = pw, pw_in, drive, 1.0
        elif spec.convention == "ctrnn":      # tau dh/dt = -h + f(W h + U x + b)
            self.w, self.w_in, self.const, self.gain = (np.asarray(spec.w, dtype=float),
                                                        np.asarray(spec.w_in, dtype=float),
                                                        np.asarray(spec.bias, dtype=float), self.lam)
        else:                                 # dh/dt = -lam h + f(w h + w_in x)
            self.w, self.w_in, self.const, self.gain = pw, pw_in, np.zeros(spec.n), 1.0

    def _drive(self, t: np.ndarray) -> np.ndarray:
        """w_in x(t) + const, shape (len(t), n)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        if not self.spec.m:   # an autonomous network: no input to evaluate (the ensemble's hot path)
            return np.broadcast_to(self.const, (t.size, self.spec.n))
        return input_values(self.spec, t) @ self.w_in.T + self.const

    def argument(self, t: np.ndarray, h: np.ndarray) -> np.ndarray:
        """z per state: h (rate) or w h + w_in x + const; h of shape (len(t), ..., n)."""
        if self.rate:
            return h
        drive = self._drive(t)
        return h @ self.w.T + drive.reshape(drive.shape[:1] + (1,) * (h.ndim - 2) + drive.shape[1:])

    def rhs(self, t: np.ndarray, h: np.ndarray) -> np.ndarray:
        """dh/dt at times t (points,) for h (points, ..., n)."""
        z = self.argument(t, h)
        if self.rate:
            drive = self._drive(t)
            return -self.lam * h + self.act.f(z) @ self.w.T + drive.reshape(
                drive.shape[:1] + (1,) * (h.ndim - 2) + drive.shape[1:])
        return self.gain * self.act.f(z) - self.lam * h

    def slopes(self, t: np.ndarray, h: np.ndarray) -> np.ndarray:
        """f'(z) per state, times the gain (ctrnn: lam) outside the rate form."""
        d = self.act.slope(self.argument(t, h))
        return d if self.rate else d * self.gain

    def bound(self) -> float:
        """An upper bound on |J| (1/s)."""
        norm = float(np.linalg.norm(self.w, 2)) if self.w.size else 0.0
        return float(np.max(self.lam)) + float(np.max(np.abs(self.gain))) * self.act.max_slope * norm

    def jv(self, d: np.ndarray, v: np.ndarray) -> np.ndarray:
        """J v for slopes ``d`` (K, n) and tangents ``v`` (K, n)."""
        if self.rate:
            return (d * v) @ self.w.T - self.lam * v
        return d * (v @ self.w.T) - self.lam * v


@dataclass(frozen=True)
class Exponent:
    """lambda_1 (1/s) per trajectory, the window it was averaged over and its cost."""

    values: np.ndarray   # (K,) 1/s
    t_from: float        # s, end of the burn-in
    t_to: float          # s
    substeps: int
    time: np.ndarray     # (substeps + 1,) s: the substep grid
    growth: np.ndarray   # (substeps + 1, K): ln |v(t)| / |v(t0)|, the cumulative stretching
    tangent: np.ndarray | None = None   # (K, n): the unit tangent at t_to (to carry it on)

    def crossing(self, level: float, which: int = 0) -> float | None:
        """First time (s) the stretching of trajectory ``which`` since its lowest point so far,
        Lambda(t) - min_{s <= t} Lambda(s), reaches ``level`` (ln of a growth factor); None when
        it never does.  An error made at time s grows by exp(Lambda(t) - Lambda(s)): the
        simulator makes one at every step, so the one made where Lambda was lowest grows most
        (the tangent's alignment dip at the start is no respite for them)."""
        g = self.growth[:, which]
        hit = np.flatnonzero(g - np.minimum.accumulate(g) >= level)
        return None if hit.size == 0 else float(self.time[hit[0]])

    @property
    def value(self) -> float:
        return float(self.values[0])


def hermite(t: np.ndarray, h: np.ndarray, dh: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Cubic Hermite interpolant of samples (t, h, dh/dt), h of shape (points, ...), at ``grid``."""
    i = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, t.size - 2)
    dt = t[i + 1] - t[i]
    s = np.where(dt > 0, (grid - t[i]) / np.where(dt > 0, dt, 1.0), 0.0)
    shape = (-1,) + (1,) * (h.ndim - 1)
    s, dt = s.reshape(shape), dt.reshape(shape)
    s2, s3 = s * s, s * s * s
    return ((2 * s3 - 3 * s2 + 1) * h[i] + (s3 - 2 * s2 + s) * dt * dh[i]
            + (-2 * s3 + 3 * s2) * h[i + 1] + (s3 - s2) * dt * dh[i + 1])


def largest_exponent(spec: RnnSpec, time: np.ndarray, states: np.ndarray, *, burn_in: float = BURN_IN,
                     seed: int = 0, tangent: np.ndarray | None = None) -> Exponent:
    """lambda_1 (1/s, model time) along the sampled trajectory ``states`` at ``time`` (s).

    ``states``: (points, n) for one trajectory or (points, K, n) for K of the same network
    at the same times.  The estimate is averaged over the run after its first ``burn_in``
    fraction.  A linear network gives the largest real part of eig(A) (J is A everywhere).
    ``tangent`` (K, n): the start vectors (an earlier estimate's ``tangent``, already aligned:
    the trajectory carried on), else random.
    """
    t = np.asarray(time, dtype=float)
    h = np.asarray(states, dtype=float)
    single = h.ndim == 2
    if single:
        h = h[:, None, :]
    if t.size < 2 or not t[-1] > t[0]:
        raise ValueError("a Lyapunov exponent needs at least two distinct time points")
    # drop repeated time points (ngspice writes a breakpoint twice): Hermite needs dt > 0
    keep = np.concatenate([[True], np.diff(t) > 0])
    t, h = t[keep], h[keep]
    model = Dynamics(spec)
    points, k, n = h.shape
    with one_blas_thread():
        dh = model.rhs(t, h)
        span = float(t[-1] - t[0])
        rate = model.bound()
        steps = max(int(np.ceil(span * rate / STEP_FACTOR)), 16)
        dt = span / steps
        start_avg = int(np.floor(burn_in * steps))
        rng = np.random.default_rng(seed)
        v = rng.standard_normal((k, n)) if tangent is None else np.array(tangent, dtype=float).reshape(k, n)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        total = np.zeros(k)
        growth = np.zeros((steps + 1, k))
        log_v = np.zeros(k)
        for lo in range(0, steps, CHUNK):
            hi = min(lo + CHUNK, steps)
            grid = t[0] + dt * np.arange(2 * lo, 2 * hi + 1) / 2.0   # substep ends and midpoints
            grid[-1] = min(grid[-1], t[-1])
            d = model.slopes(grid, hermite(t, h, dh, grid))      # (len(grid), K, n)
            for s in range(hi - lo):
                d0, dm, d1 = d[2 * s], d[2 * s + 1], d[2 * s + 2]
                k1 = model.jv(d0, v)
                k2 = model.jv(dm, v + 0.5 * dt * k1)
                k3 = model.jv(dm, v + 0.5 * dt * k2)
                k4 = model.jv(d1, v + dt * k3)
                v = v + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
                norm = np.linalg.norm(v, axis=1)
                v /= norm[:, None]
                log_v += np.log(norm)
                growth[lo + s + 1] = log_v
                if lo + s >= start_avg:
                    total += np.log(norm)
    averaged = (steps - start_avg) * dt
    return Exponent(total / averaged, float(t[0] + start_avg * dt), float(t[-1]), steps,
                    t[0] + dt * np.arange(steps + 1), growth, v)


def carry(spec: RnnSpec, t0: float, h: np.ndarray, v: np.ndarray, span: float) -> tuple:
    """The state ``h`` (n,) and its unit tangent ``v`` (n,) carried on together from ``t0``
    over ``span`` (s) by classical RK4 at the tangent's step (dt <= STEP_FACTOR / |J|max), the
    tangent renormalised after every step (THEORY.md 9: the converged lambda_1).

    Returns (time (steps + 1,), Lambda (steps + 1,) from 0, ln |dh/dt| (steps + 1,), h at the
    end, v at the end).  The
    state needs no tighter step: past the horizon no solver's trajectory is the exact one, it
    only has to be a trajectory on the attractor (RK4 at |J|max dt = 1 is a map O(dt^4) close to
    the flow).  One matrix product per stage carries both (the tangent and the state are
    multiplied by W together), ~30 us per substep at n = 50, ~4x cheaper than the reference
    by DOP853 plus :func:`largest_exponent`.  The inputs go on as in ``spec`` (its t_stop
    extended by the caller, as the netlist's sources would)."""
    model = Dynamics(spec)
    steps = max(int(np.ceil(span * model.bound() / STEP_FACTOR)), 1)
    dt = span / steps
    w_t = np.ascontiguousarray(model.w.T)
    lam, gain, act = model.lam, model.gain, model.act
    autonomous = not spec.m
    x = np.array([np.asarray(h, dtype=float), np.asarray(v, dtype=float)])   # (2, n): state, tangent
    x[1] /= np.linalg.norm(x[1])
    growth = np.zeros(steps + 1)
    speed = np.zeros(steps + 1)

    def stage(x, drive):
        out = np.empty_like(x)
        if model.rate:      # dh = -lam h + W f(h) + drive;  dv = -lam v + W (f'(h) v)
            y = np.array([act.f(x[0]), act.slope(x[0]) * x[1]]) @ w_t
            out[0] = y[0] + drive - lam * x[0]
            out[1] = y[1] - lam * x[1]
        else:               # z = W h + drive: dh = gain f(z) - lam h;  dv = gain f'(z) (W v) - lam v
            y = x @ w_t
            z = y[0] + drive
            out[0] = gain * act.f(z) - lam * x[0]
            out[1] = gain * act.slope(z) * y[1] - lam * x[1]
        return out

    log_v = 0.0
    with one_blas_thread():
        for lo in range(0, steps, CHUNK):
            hi = min(lo + CHUNK, steps)
            if autonomous:
                drives = np.broadcast_to(model.const, (2 * (hi - lo) + 1, spec.n))
            else:
                drives = model._drive(t0 + dt * np.arange(2 * lo, 2 * hi + 1) / 2.0)
            for s in range(hi - lo):
                d0, dm, d1 = drives[2 * s], drives[2 * s + 1], drives[2 * s + 2]
                k1 = stage(x, d0)
                speed[lo + s] = np.linalg.norm(k1[0])
                k2 = stage(x + 0.5 * dt * k1, dm)
                k3 = stage(x + 0.5 * dt * k2, dm)
                k4 = stage(x + dt * k3, d1)
                x = x + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
                norm = float(np.linalg.norm(x[1]))
                x[1] /= norm
                log_v += np.log(norm)
                growth[lo + s + 1] = log_v
        speed[-1] = np.linalg.norm(stage(x, drives[-1])[0])
    return t0 + dt * np.arange(steps + 1), growth, np.log(np.maximum(speed, 1e-300)), x[0].copy(), x[1].copy()
