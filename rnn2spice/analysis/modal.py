"""The exact solution of a linear network in its eigenbasis, vectorised over time points
(THEORY.md 6; the fast path of :func:`rnn2spice.analysis.reference.solve_linear`).

With A = V diag(lambda) V^-1 (eq. 4, dh/dt = A h + w_in x + c) every mode z = V^-1 h obeys
a scalar equation z' = lambda z + g(t).  Between two input breakpoints the forcing g is a
constant plus a ramp plus sines, so a mode starting at z(t0) is, with s = t - t0,

    z(s) = e^(lambda s) z(t0) + a s phi1(lambda s) + b s^2 phi2(lambda s)
           + sum over sines and signs of  c e^(lambda s) s phi1((mu - lambda) s),   mu = +-i omega

with phi1(x) = (e^x - 1)/x and phi2(x) = (e^x - 1 - x)/x^2 (series near 0: no cancellation).
The states at the breakpoints follow from one scalar recurrence per mode, solved as a
prefix scan; every time point is then one closed-form evaluation from its interval's start,
all at once in numpy: the
cost is linear in the number of breakpoints and time points with no Python work per time
point (ngspice's steps are all different under its truncation-error control, so the
stepwise propagators expm(M dt) of the general path would be one expm per point).

Accuracy is about cond(V) x 1e-16 relative; a network whose eigenvector matrix is worse
conditioned than :data:`MAX_CONDITION` (defective or nearly so) returns ``None`` and the
caller uses the general path.
"""

from __future__ import annotations

import numpy as np

from rnn2spice.network.spec import RnnSpec

#: Largest condition number of the eigenvector matrix for which the modal solution is used
#: (errors ~ cond x 1e-16, so <= 1e-12 relative).
MAX_CONDITION = 1e4
#: |x| below which phi1, phi2 are summed as series (12 terms: error < 0.1^12 / 12!).
_SERIES_BELOW = 0.1
#: Time points evaluated per block (bounds the memory of the (points, n) complex arrays).
_BLOCK_VALUES = 2**21


def _phi1(x: np.ndarray) -> np.ndarray:
    """(e^x - 1) / x, 1 at x = 0."""
    out = np.empty_like(x)
    small = np.abs(x) < _SERIES_BELOW
    xs = x[small]
    term, total = np.ones_like(xs), np.ones_like(xs)
    for k in range(2, 14):
        term = term * xs / k
        total = total + term
    out[small] = total
    xl = x[~small]
    out[~small] = np.expm1(xl) / xl
    return out


def _phi2(x: np.ndarray) -> np.ndarray:
    """(e^x - 1 - x) / x^2, 1/2 at x = 0."""
    out = np.empty_like(x)
    small = np.abs(x) < _SERIES_BELOW
    xs = x[small]
    term, total = np.full_like(xs, 0.5), np.full_like(xs, 0.5)
    for k in range(3, 15):
        term = term * xs / k
        total = total + term
    out[small] = total
    xl = x[~small]
    out[~small] = (np.expm1(xl) - xl) / (xl * xl)
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


class _Forcing:
    """The modal forcing on every interval: constant ``a`` and ramp ``b`` (segments, n),
    and per sine the complex amplitudes of e^(+-i omega s) (segments, n) each."""

    def __init__(self, spec: RnnSpec, vinv: np.ndarray, t0: np.ndarray, level: np.ndarray, slope: np.ndarray,
                 linear: list[int], sines: list):
        _, w_in, drive = spec.paper_form()
        bz = vinv @ w_in                                     # (n, m) modal input weights
        self.a = np.broadcast_to(vinv @ drive, (t0.size, vinv.shape[0])).astype(complex)
        self.b = np.zeros_like(self.a)
        if linear:
            self.a = self.a + level @ bz[:, linear].T
            self.b = self.b + slope @ bz[:, linear].T
        self.sines = []
        for l, wave in sines:
            self.a = self.a + wave.offset * bz[:, l]
            phase = np.exp(1j * (wave.omega * t0 + np.radians(wave.phase)))[:, None]  # e^(i theta(t0))
            # amplitude sin(theta) = amplitude (e^(i theta) - e^(-i theta)) / 2i
            self.sines.append((1j * wave.omega, wave.amplitude * phase / 2j * bz[:, l]))
            self.sines.append((-1j * wave.omega, -wave.amplitude * np.conj(phase) / 2j * bz[:, l]))

    def response(self, lam: np.ndarray, seg: np.ndarray, s: np.ndarray) -> np.ndarray:
        """The forced part of z on interval ``seg`` after time ``s`` from its start (zero start)."""
        s = s[:, None]
        x = lam * s
        out = self.a[seg] * s * _phi1(x) + self.b[seg] * (s * s) * _phi2(x)
        for mu, amp in self.sines:
            out += amp[seg] * _sine_response(lam, mu, s)
        return out


def _scan(d: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All prefixes of the affine maps z -> d_i z + f_i (rows), composed: row i of the result
    maps z_0 to z_{i+1}.  Hillis-Steele doubling, log2(rows) vectorised passes; it only
    multiplies and adds (no division by decayed products), so it is as stable as the loop."""
    d, f = d.copy(), f.copy()
    k = 1
    while k < d.shape[0]:
        # (d_i, f_i) after (d_{i-k}, f_{i-k}): d_i d_{i-k}, d_i f_{i-k} + f_i
        f[k:] = d[k:] * f[:-k] + f[k:]
        d[k:] = d[k:] * d[:-k]
        k *= 2
    return d, f


def solve_modal(spec: RnnSpec, t: np.ndarray, edges: np.ndarray, level: np.ndarray, slope: np.ndarray,
                linear: list[int], sines: list) -> np.ndarray | None:
    """h(t) (len(t), n) of the linear network, or ``None`` when the eigenbasis is too badly
    conditioned (or the solution leaves the floating-point range) for this path.

    ``edges``: the input breakpoints (s) covering ``t``; ``level``, ``slope`` (segments,
    inputs): the piecewise-linear inputs ``linear`` on each interval; ``sines``: (index,
    :class:`~rnn2spice.network.waveform.Sine`) pairs.
    """
    n = spec.n
    a_mat = spec.state_matrix()
    with np.errstate(all="ignore"):
        lam, v = np.linalg.eig(a_mat)
        if not np.all(np.isfinite(lam)) or np.linalg.cond(v) > MAX_CONDITION:
            return None
        vinv = np.linalg.inv(v)
        t0, dur = edges[:-1], np.diff(edges)
        force = _Forcing(spec, vinv, t0, level, slope, linear, sines)
        segs = np.arange(t0.size)
        # the mode at every breakpoint: z_{i+1} = e^(lambda dur_i) z_i + f_i, one recurrence per mode
        decay = np.exp(lam * dur[:, None])
        kick = np.concatenate([force.response(lam, segs[i:i + 4096], dur[i:i + 4096])
                               for i in range(0, t0.size, 4096)]) if t0.size else np.zeros((0, n), complex)
        z0 = (vinv @ np.asarray(spec.h0, dtype=float)).astype(complex)
        scale, shift = _scan(decay, kick)       # z_{i+1} = scale_i z_0 + shift_i
        starts = np.concatenate([z0[None, :], scale[:-1] * z0 + shift[:-1]])
        out = np.empty((t.size, n))
        block = max(1, _BLOCK_VALUES // max(n, 1))
        for lo in range(0, t.size, block):
            tt = t[lo:lo + block]
            seg = np.clip(np.searchsorted(edges, tt, side="right") - 1, 0, t0.size - 1)
            s = tt - t0[seg]
            zt = np.exp(lam * s[:, None]) * starts[seg] + force.response(lam, seg, s)
            out[lo:lo + block] = (zt @ v.T).real
    if not np.all(np.isfinite(out)):
        return None
    return out
