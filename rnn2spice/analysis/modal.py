"""The exact solution of a linear network in its eigenbasis, vectorised over time points
(THEORY.md 6; the fast path of :func:`rnn2spice.analysis.reference.solve_linear`).

With A = V diag(lambda) V^-1 (eq. 4, dh/dt = A h + w_in x + c) every mode z = V^-1 h obeys
a scalar equation z' = lambda z + g(t).  Between two input breakpoints the forcing g is a
constant a plus a ramp b s plus sines, so a mode starting at z0, with s = t - t0 and
x = lambda s, is

    z(s) = e^x z0 + a s phi1(x) + b s^2 phi2(x)
           + sum over sines and signs of  c e^x s phi1((mu - lambda) s),   mu = +-i omega

with phi1(x) = (e^x - 1)/x and phi2(x) = (e^x - 1 - x)/x^2.  For |x| <= 1/2 the same z is
its Taylor form z0 + s D1 + s^2 D2 phi2(x) (D1 = lambda z0 + a, D2 = lambda D1 + b: exact,
as e^x = 1 + x phi1, phi1 = 1 + x phi2), so one series gives all three functions; it is
summed by Horner in the real s with per-mode coefficients lambda^k/(k+2)!, as few terms as
the block's largest |x| needs for a truncation error < 1e-17 relative.  Beyond 1/2:
z = z0 + expm1(x) (z0 + a/lambda) + (expm1(x) - x) b/lambda^2.

The states at the breakpoints follow from one scalar recurrence per mode, solved as a
prefix scan; every time point is then one closed-form evaluation from its interval's start,
all at once in numpy: the cost is linear in the number of breakpoints and time points with
no Python work per time point (ngspice's steps are all different under its truncation-error
control, so the stepwise propagators expm(M dt) of the general path would be one expm per
point).  A is real, so of each complex-conjugate pair of modes only one is computed (h takes
2 Re of its part); with real eigenvalues and no sine input everything is real arithmetic.

Accuracy is about cond(V) x 1e-16 relative; a network whose eigenvector matrix is worse
conditioned than :data:`MAX_CONDITION` (defective or nearly so) returns ``None`` and the
caller uses the general path.
"""

from __future__ import annotations

import math

import numpy as np

from rnn2spice.network.spec import RnnSpec

#: Largest condition number of the eigenvector matrix for which the modal solution is used
#: (errors ~ cond x 1e-16, so <= 1e-12 relative).
MAX_CONDITION = 1e4
#: |x| = |lambda s| up to which a point takes the Taylor form: there its terms are at most
#: ~3x the result (e^-x), and beyond it expm1(x) - x loses at most ~8e-16 relative.
_TAYLOR_BELOW = 0.5
#: Truncation bound of the phi2 series (absolute; |phi2(x)| >= 0.28 for |x| <= 1, so < 1e-17 relative).
_SERIES_TOL = 2.5e-18
#: Point x mode values evaluated per block (bounds the memory: ~100 MB at most).
_BLOCK_VALUES = 2**19


def _series_terms(xmax: float) -> int:
    """Terms of phi2(x) = sum_k x^k/(k+2)! needed for |x| <= xmax (< 1): the first k whose
    remaining tail, bounded by a geometric series, is below :data:`_SERIES_TOL`."""
    term, k = 0.5, 0                        # term = xmax^k / (k+2)!
    while term / (1.0 - xmax / (k + 3)) > _SERIES_TOL:
        k += 1
        term *= xmax / (k + 2)
    return max(k, 1)


def _phi1(x: np.ndarray) -> np.ndarray:
    """(e^x - 1) / x, 1 at x = 0 (the sine responses)."""
    out = np.empty_like(x)
    small = np.abs(x) < 0.1
    xs = x[small]
    term, total = np.ones_like(xs), np.ones_like(xs)
    for k in range(2, 14):                  # 12 terms: error < 0.1^12 / 12!
        term = term * xs / k
        total = total + term
    out[small] = total
    xl = x[~small]
    out[~small] = np.expm1(xl) / xl
    return out


def _sine_response(lam: np.ndarray, mu: complex, s: np.ndarray) -> np.ndarray:
    """integral_0^s e^(lambda (s - u)) e^(mu u) du for s (k, 1) and lambda (n,): (k, n)."""
    delta = (mu - lam) * s
    near = np.abs(delta) < 1.0
    out = np.empty(delta.shape, dtype=complex)
    ls = lam * s
    out[near] = (np.exp(ls) * s * _phi1(delta))[near]
    far = ~near
    if np.any(far):
        diff = np.broadcast_to(mu - lam, delta.shape)[far]
        out[far] = (np.exp(np.broadcast_to(mu * s, delta.shape)[far]) - np.exp(ls[far])) / diff
    return out


def _split(z: np.ndarray) -> np.ndarray:
    """(parts, ...) real: (re, im) of a complex array, the array itself (1 part) when real."""
    return np.stack([z.real, z.imag]) if np.iscomplexobj(z) else z[None]


class _Modes:
    """The kept modes (``lam``), their forcing on every interval -- constant ``a`` and ramp
    ``b`` (modes, segments), per sine the complex amplitudes of e^(+-i omega s) -- and the
    closed form of z on any interval from given interval starts.

    Arrays are mode-major, (modes, points), and the hot path splits complex numbers into
    real and imaginary parts (parts, modes, points): numpy's inner loops then run along the
    points however few the modes, and scaling by the real s is one real multiply."""

    def __init__(self, lam: np.ndarray, bz: np.ndarray, const: np.ndarray, t0: np.ndarray, level: np.ndarray,
                 slope: np.ndarray, linear: list[int], sines: list):
        self.lam = lam
        self.a = np.repeat(const[:, None], t0.size, axis=1)
        self.b = np.zeros_like(self.a)
        if linear:
            self.a += bz[:, linear] @ level.T
            self.b += bz[:, linear] @ slope.T
        self.sines = []
        for l, wave in sines:
            self.a += wave.offset * bz[:, l:l + 1]
            phase = np.exp(1j * (wave.omega * t0 + np.radians(wave.phase)))[None, :]  # e^(i theta(t0))
            # amplitude sin(theta) = amplitude (e^(i theta) - e^(-i theta)) / 2i
            self.sines.append((1j * wave.omega, wave.amplitude / 2j * bz[:, l:l + 1] * phase))
            self.sines.append((-1j * wave.omega, -wave.amplitude / 2j * bz[:, l:l + 1] * np.conj(phase)))
        mag = np.abs(lam)
        top = float(mag.max()) if mag.size else 0.0
        # the series runs in u = sigma s with coefficients (lambda/sigma)^k: sigma a power of
        # 2 (exact scaling), so lambda^k can neither overflow nor underflow
        self.sigma = 2.0 ** round(math.log2(top)) if top > 0 else 1.0
        self.unit, self.unit_mag = lam / self.sigma, mag / self.sigma
        self.parts = 2 if np.iscomplexobj(lam) else 1

    def tables(self, z0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per interval from the starts ``z0`` (modes, segments): the Taylor form's (z0, D1,
        D2), split (3, parts, modes, segments), and ``z0`` for the exponential form."""
        lam = self.lam[:, None]
        d1 = lam * z0 + self.a
        return np.stack([_split(z0), _split(d1), _split(lam * d1 + self.b)]), z0

    def _taylor(self, tab: np.ndarray, seg: np.ndarray, s: np.ndarray, xmax: float) -> np.ndarray:
        """z0 + s (D1 + s D2 phi2(x)), split, for points with |x| <= ``xmax``."""
        terms = _series_terms(xmax)
        coef = np.empty((terms, self.unit.size), self.unit.dtype)   # (lambda/sigma)^k / (k+2)!
        coef[0] = 0.5
        for k in range(1, terms):
            coef[k] = coef[k - 1] * self.unit / (k + 2)
        coef = np.moveaxis(_split(coef), 0, 1)[..., None]          # (terms, parts, modes, 1)
        u = s * self.sigma
        phi2 = np.empty((self.parts, self.unit.size, s.size))
        phi2[:] = coef[-1]
        for c in coef[-2::-1]:              # Horner in the real u
            phi2 *= u
            phi2 += c
        g = tab.take(seg, axis=3)           # (3, parts, modes, points)
        if self.parts == 1:
            z = g[2] * phi2
        else:                               # D2 phi2, complex
            z = np.empty_like(phi2)
            np.multiply(g[2, 0], phi2[0], out=z[0])
            z[0] -= g[2, 1] * phi2[1]
            np.multiply(g[2, 0], phi2[1], out=z[1])
            z[1] += g[2, 1] * phi2[0]
        z *= s                              # z0 + s (D1 + s D2 phi2)
        z += g[1]
        z *= s
        z += g[0]
        return z

    def _exponential(self, z0: np.ndarray, seg: np.ndarray, s: np.ndarray) -> np.ndarray:
        """z0 + expm1(x) (z0 + a/lambda) + (expm1(x) - x) b/lambda^2, split."""
        lam = self.lam[:, None]
        x = lam * s
        e1 = np.expm1(x)
        g0, a, b = z0.take(seg, axis=1), self.a.take(seg, axis=1), self.b.take(seg, axis=1)
        return _split(g0 + e1 * (g0 + a / lam) + (e1 - x) * (b / (lam * lam)))

    def at(self, tables: tuple, seg: np.ndarray, s: np.ndarray) -> np.ndarray:
        """z, split (parts, modes, points), at time ``s`` after the start of interval ``seg``
        (per point)."""
        taylor, z0 = tables
        if s.size == 0:
            return np.zeros((self.parts, self.lam.size, 0))
        u_max, u_min = float(s.max()) * self.sigma, float(s.min()) * self.sigma
        top = u_max * float(self.unit_mag.max())
        with np.errstate(all="ignore"):
            if top <= _TAYLOR_BELOW:        # the common case: no masks
                z = self._taylor(taylor, seg, s, top)
            elif u_min * float(self.unit_mag.min()) > _TAYLOR_BELOW:
                z = self._exponential(z0, seg, s)
            else:
                # mixed: each form on the points that need it; a point's modes of the other
                # form (possibly overflowed) are replaced
                xabs = self.unit_mag[:, None] * (s * self.sigma)
                near = xabs <= _TAYLOR_BELOW
                z = np.empty((self.parts, self.lam.size, s.size))
                cols = np.nonzero(near.any(axis=0))[0]
                if cols.size:
                    xmax = float(np.max(xabs, where=near, initial=0.0))
                    z[..., cols] = self._taylor(taylor, seg[cols], s[cols], xmax)
                cols = np.nonzero(~near.all(axis=0))[0]
                z[..., cols] = np.where(near[:, cols], z[..., cols], self._exponential(z0, seg[cols], s[cols]))
            if self.sines:
                forced = sum(amp.take(seg, axis=1) * _sine_response(self.lam[:, None], mu, s[None, :])
                             for mu, amp in self.sines)
                z += _split(forced)
        return z


def _scan(d: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All prefixes of the affine maps z -> d_i z + f_i (along the last axis), composed:
    entry i of the result maps z_0 to z_{i+1}.  Hillis-Steele doubling, log2(length)
    vectorised passes; it only multiplies and adds (no division by decayed products), so
    it is as stable as the loop."""
    d, f = d.copy(), f.copy()
    k = 1
    while k < d.shape[-1]:
        # (d_i, f_i) after (d_{i-k}, f_{i-k}): d_i d_{i-k}, d_i f_{i-k} + f_i
        f[..., k:] = d[..., k:] * f[..., :-k] + f[..., k:]
        d[..., k:] = d[..., k:] * d[..., :-k]
        k *= 2
    return d, f


def _kept_modes(lam: np.ndarray, v: np.ndarray, real: bool) -> tuple[np.ndarray, np.ndarray]:
    """Which modes to compute and the real matrix (parts x modes, n) that maps their split z
    to h: one of each conjugate pair (LAPACK returns them exactly conjugate), twice."""
    if real:
        return np.arange(lam.size), v.real.T.copy()
    upper, lower = np.nonzero(lam.imag > 0)[0], np.nonzero(lam.imag < 0)[0]
    paired = upper.size == lower.size and np.array_equal(np.conj(lam[upper]), lam[lower])
    keep = np.nonzero(lam.imag >= 0)[0] if paired else np.arange(lam.size)
    vk = v[:, keep] * np.where(paired & (lam[keep].imag > 0), 2.0, 1.0)
    return keep, np.concatenate([vk.real.T, -vk.imag.T])   # Re(v z) = v_re z_re - v_im z_im


def _segment_of(t: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The interval of each time point (a point on an inner edge starts the next one)."""
    inner = edges[1:-1]
    if t.size > 1 and not np.all(t[1:] >= t[:-1]):
        return np.clip(np.searchsorted(edges, t, side="right") - 1, 0, edges.size - 2)
    # sorted: count the inner edges <= t by a histogram of where they fall, O(points + edges)
    first = np.searchsorted(t, inner, side="left")
    return np.cumsum(np.bincount(first, minlength=t.size + 1)[:t.size])


def solve_modal(spec: RnnSpec, t: np.ndarray, edges: np.ndarray, level: np.ndarray, slope: np.ndarray,
                linear: list[int], sines: list) -> np.ndarray | None:
    """h(t) (len(t), n) of the linear network, or ``None`` when the eigenbasis is too badly
    conditioned (or the solution leaves the floating-point range) for this path.

    ``t``: times >= 0 (non-decreasing is fastest); ``edges``: the input breakpoints (s)
    covering ``t``; ``level``, ``slope`` (segments, inputs): the piecewise-linear inputs
    ``linear`` on each interval; ``sines``: (index, :class:`~rnn2spice.network.waveform.Sine`) pairs.
    """
    n = spec.n
    _, w_in, drive = spec.paper_form()
    with np.errstate(all="ignore"):
        lam, v = np.linalg.eig(spec.state_matrix())
        if not np.all(np.isfinite(lam)) or np.linalg.cond(v) > MAX_CONDITION:
            return None
        vinv = np.linalg.inv(v)
        real = not np.iscomplexobj(lam) and not sines
        keep, proj = _kept_modes(lam, v, real)
        vk = vinv[keep].real if real else vinv[keep].astype(complex)
        t0, dur = edges[:-1], np.diff(edges)
        modes = _Modes(lam[keep].real if real else lam[keep].astype(complex), vk @ w_in, vk @ drive, t0,
                       level, slope, linear, sines)
        block = max(1, _BLOCK_VALUES // max(n, 1))
        # the mode at every breakpoint: z_{i+1} = e^(lambda dur_i) z_i + f_i, one recurrence
        # per mode, the kick f_i the interval's forced response from 0
        segs = np.arange(t0.size)
        zero = modes.tables(np.zeros_like(modes.a))
        kick = np.concatenate([modes.at(zero, segs[i:i + block], dur[i:i + block])
                               for i in range(0, t0.size, block)] or [modes.at(zero, segs, dur)], axis=2)
        kick = kick[0] + 1j * kick[1] if modes.parts == 2 else kick[0]
        z0 = (vk @ np.asarray(spec.h0, dtype=float))[:, None]
        # z_{i+1} = scale_i z_0 + shift_i
        scale, shift = _scan(np.exp(modes.lam[:, None] * dur), kick)
        starts = modes.tables(np.concatenate([z0, scale[:, :-1] * z0 + shift[:, :-1]], axis=1))
        seg = _segment_of(t, edges)
        out = np.empty((t.size, n))
        for lo in range(0, t.size, block):
            sg = seg[lo:lo + block]
            zt = modes.at(starts, sg, t[lo:lo + block] - t0[sg])
            np.matmul(zt.reshape(-1, zt.shape[-1]).T, proj, out=out[lo:lo + block])
    if not np.all(np.isfinite(out)):
        return None
    return out
