"""The op-amp stages of a real build in the prediction: output swing, closed-loop bandwidth, slew rate.

THEORY.md 11.  The predicted circuit of :mod:`rnn2spice.workflows.realbuild` is the network
the netlist realises with its op-amps linear (their DC gain A0, bias currents, snapped and
pruned values: :class:`~rnn2spice.workflows.snapping.Realised`).  A real op-amp also

* **saturates**: its output stays within ``V- + swing_low .. V+ - swing_high`` (the part's
  swing on the build's supply).  A memoryless stage (summer, inverter, the block's op-amp)
  gives ``clip(its linear output)``.  An integrator's *capacitor* voltage u is its state: its
  output is ``clip(u)``, and while it is clipped its inverting input leaves virtual ground,
  ``v_n = clip(u) - u``, so the input resistors' currents change:
  ``C du/dt = -u / R_f - sum_i G_i (s_i - v_n)``, i.e. the linear equation plus
  ``(G_in / C)(clip(u) - u)`` (G_in: every conductance at the inverting input but R_f);
* **lags**: a single-pole op-amp of gain-bandwidth GBW in a stage of noise gain
  ``NG = 1 + G_in / G_fb`` has the closed-loop pole ``GBW / NG``: the stage output follows its
  target as ``dv/dt = (v_target - v) / tau_s``, ``tau_s = NG / (2 pi GBW)``; an integrator's
  output follows its capacitor voltage with ``tau = 1 / (2 pi GBW)`` (its noise gain tends to 1
  above the integrator's own corner);
* **slews**: ``|dv/dt| <= SR`` on every stage output.

Signals follow the op-amp form's wiring (:mod:`rnn2spice.circuit.opamp`): a positive weight
is fed from the source's unity inverter (which clips and lags of its own), a negative one from
the source itself.  The lag and slew states are added only where they matter
(:func:`bandwidth_matters`, :func:`slew_matters`): otherwise the prediction is the static
(clipped) one.  Not modelled: the integrator's gain error ~ 1 / (2 pi GBW R C), output
resistance, and the stages of a low-rank coupling or of a rate network's activation nodes
(their outputs follow the static rule of their neurons).  Units: V, s, 1/s, Hz, V/s.

The module is a little longer than 400 lines on purpose: the stages read from the netlist, the
model they make and its solve are one chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.errors import UsageError
from rnn2spice.network.spec import RnnSpec
from rnn2spice.workflows.snapping import Realised

#: The lag states are added when the effect of the stage lags (:func:`lag_effect`) reaches
#: this (below it they change the states by less than ~0.1 %).
LAG_MATTERS = 1e-3
#: Most neurons the lag states are added for unless asked (the stiff solve grows ~n^2.5:
#: measured 10 s at n = 30, 57 s at n = 60 against 2-3 s without them).
DYNAMIC_MAX_NEURONS = 32
#: The slew states are added when a node's predicted rate reaches this fraction of the slew rate.
SLEW_MATTERS = 0.3


@dataclass(frozen=True, eq=False)
class Stages:
    """The op-amp stages of a compiled real build (module docstring); per neuron arrays."""

    low: float                 # output swing (V): lowest and highest output of every op-amp
    high: float
    gbw: float | None          # Hz (None: not known, a user's model)
    slew: float | None         # V/s
    leak: np.ndarray           # 1 / (R_k C_k) of each integrator (1/s)
    windup: np.ndarray         # G_in,k / C_k (1/s)
    tau_int: np.ndarray        # lag of each integrator's output (s)
    tau_sum: np.ndarray        # of each summer (s; 0: none)
    tau_inv: np.ndarray        # of each neuron's inverter (s)
    tau_xinv: np.ndarray       # of each input's inverter (s)
    tau_blk: np.ndarray        # of each activation block's op-amp (s; 0: behavioural)
    split: bool                # positive weights through inverters (full-rank summers, linear)
    summers: bool              # z comes from summers (paper, ctrnn)
    blocks: bool               # transistor blocks (their op-amp clips)
    swing_known: bool          # the part's swing (False: a user's model, the rails are used)

    def clip(self, v: np.ndarray) -> np.ndarray:
        return np.clip(v, self.low, self.high)

    @property
    def loop_lag(self) -> float:
        """The largest sum of lags around a neuron's loop (s)."""
        return float(np.max(self.tau_int + self.tau_inv + self.tau_sum + self.tau_blk))

    def describe(self) -> dict:
        return {"swing": [self.low, self.high], "swing_known": self.swing_known, "gbw": self.gbw,
                "slew_rate": self.slew, "largest_loop_lag": self.loop_lag}


def _conductances(elements) -> dict:
    """node -> [(resistor name, other node, conductance)]."""
    out: dict = {}
    for e in elements:
        if isinstance(e, ir.Resistor):
            out.setdefault(e.a, []).append((e.name, e.b, 1.0 / e.resistance))
            out.setdefault(e.b, []).append((e.name, e.a, 1.0 / e.resistance))
    return out


def stages(compiled) -> Stages | None:
    """The stages of ``compiled`` (a real build of the op-amp form), or None when its op-amps
    are ideal (VCVS: no swing, no bandwidth)."""
    build = compiled.build
    spec = compiled.spec
    part = build.part
    if part is None and build.opamp_model is None:
        return None
    vee, vcc = build.rails(spec)
    if part is not None:
        (low, high), gbw, slew = part.swing((vee, vcc)), part.gbw, part.slew
    else:  # a user's model: its swing is not read; no output passes its rails
        low, high, gbw, slew = vee, vcc, None, None
    elements = compiled.circuit.expanded_elements()
    res = _conductances(elements)
    caps = {e.name: e for e in elements if isinstance(e, ir.Capacitor)}
    diodes = [e for e in elements if isinstance(e, ir.Diode)]
    n, m = spec.n, spec.m
    w_t = (2.0 * math.pi * gbw) if gbw else math.inf
    leak, windup = np.zeros(n), np.zeros(n)
    tau_int, tau_sum, tau_inv, tau_blk = (np.zeros(n) for _ in range(4))
    tau_xinv = np.zeros(m)
    for e in elements:
        if not isinstance(e, ir.Instance):
            continue
        _, minus, _, _, out = e.nodes
        tag = e.name[1:]
        kind, _, index = tag.rpartition("_")
        if not index.isdigit():
            continue
        k = int(index)
        at = res.get(minus, [])
        if kind == "":  # integrator k: C_k and R_k from o<k> to n<k>
            c = caps.get(f"C_{k}")
            r_leak = [g for name, _, g in at if name == f"R_{k}"]
            if c is None or not r_leak:
                raise UsageError(f"integrator {k} of the compiled circuit has no C_{k} / R_{k}")
            leak[k] = r_leak[0] / c.capacitance
            windup[k] = sum(g for name, _, g in at if name != f"R_{k}") / c.capacitance
            tau_int[k] = 1.0 / w_t
            continue
        # a memoryless stage: feedback = resistors to the output (or through a diode from it)
        through = {out} | {d.a for d in diodes if d.k == out} | {d.k for d in diodes if d.a == out}
        fb = sum(g for _, other, g in at if other in through)
        g_in = sum(g for _, other, g in at if other not in through)
        noise_gain = 1.0 + g_in / fb if fb > 0 else 2.0
        lag = noise_gain / w_t
        if kind == "S":
            tau_sum[k] = lag
        elif kind == "I":
            tau_inv[k] = lag
        elif kind == "XI":
            tau_xinv[k] = lag
        elif kind in ("D", "P"):
            tau_blk[k] = lag
    for arr in (tau_inv, tau_sum, tau_xinv):  # unused stages: a unity stage's lag (never read)
        arr[arr == 0] = 2.0 / w_t
    nonlinear = spec.activation != "linear"
    summers = nonlinear and spec.convention != "rate"
    split = spec.w_factors is None and (summers or not nonlinear)
    blocks = build.activation_circuit == "transistor" and summers
    if not blocks:
        tau_blk[:] = 0.0
    if not summers:
        tau_sum[:] = 0.0
    return Stages(float(low), float(high), gbw, slew, leak, windup, tau_int, tau_sum, tau_inv, tau_xinv, tau_blk,
                  bool(split), bool(summers), bool(blocks), part is not None)


#: A loop lag of at least this fraction of the fastest integrator's tau is beyond what the part
#: can build faithfully: the first-order lag model still predicts it, and check says so.
LAG_COMPARABLE = 0.25


def lag_warning(st: Stages, part: str) -> str | None:
    """One line when a neuron's loop lag (its stages' closed-loop lags, s) reaches
    :data:`LAG_COMPARABLE` of the fastest integrator's tau = R_k C_k (s), else None."""
    if st.gbw is None or not st.leak.any():
        return None
    lags = st.tau_int + st.tau_inv + st.tau_sum + st.tau_blk
    k = int(np.argmax(lags))
    tau = 1.0 / float(np.max(st.leak))
    if lags[k] < LAG_COMPARABLE * tau:
        return None
    worst = "summer" if st.tau_sum[k] + st.tau_blk[k] >= st.tau_inv[k] else "inverter"
    return (f"{part} (GBW {st.gbw:.3g} Hz) is too slow for this network: neuron {k}'s loop lags "
            f"{lags[k]:.3g} s (mostly its {worst}, noise gain / 2 pi GBW), {lags[k] / tau:.0%} of tau = {tau:.3g} s; "
            f"beyond what the part builds faithfully (the prediction models the lag to first order; "
            f"a faster op-amp, smaller weights or a larger tau)")


def fastest_rate(r) -> float:
    """A bound of the network's fastest rate (1/s): the largest row sum of |a| + |k| |zy|."""
    rows = np.sum(np.abs(r.a), axis=1)
    if r.k.shape[1]:
        rows = rows + np.abs(r.k) @ np.sum(np.abs(r.zy), axis=1)
    return float(np.max(rows))


def lag_effect(st: Stages, r, t_stop: float) -> float:
    """The relative effect the stage lags can have: a lag shifts a mode lambda by ~lambda^2 lag,
    which the run accumulates over ~|lambda| t_stop radians (an oscillation's phase)."""
    rate = fastest_rate(r)
    return st.loop_lag * rate * max(1.0, rate * t_stop)


def bandwidth_matters(st: Stages, r, t_stop: float) -> bool:
    return st.gbw is not None and lag_effect(st, r, t_stop) >= LAG_MATTERS


class Model:
    """dy/dt of the predicted circuit with its stages (module docstring): static (clipped)
    or ``dynamic`` (lag and slew states)."""

    def __init__(self, r, st: Stages, phi, u_at, dynamic: bool):
        self.r, self.st, self.phi, self.u_at, self.dynamic = r, st, phi, u_at, dynamic
        n = r.a.shape[0]
        self.n, self.m, self.p = n, r.b.shape[1], len(r.z0)
        self.leak = st.leak if st.leak.all() else -np.diag(r.a)
        rest = r.a + np.diag(self.leak)
        self.a_pos, self.a_neg = self._split(rest)
        self.b_pos, self.b_neg = self._split(r.b)
        self.zy_pos, self.zy_neg = self._split(r.zy)
        self.zu_pos, self.zu_neg = self._split(r.zu)
        # state layout: u (n) [, o (n), q (n), xq (m) [, zeta (p): summers]]; the block's op-amp
        # lag is folded into its summer's (two first-order lags in a chain, each much faster than
        # the network, act on it as one of their sum; a state of its own made the solver crawl
        # on the block's interpolated curve)
        self.zeta = dynamic and self.p > 0 and st.summers
        self.tau_z = st.tau_sum + st.tau_blk
        sizes = [n] + ([n, n, self.m] if dynamic else []) + ([self.p] if self.zeta else [])
        self.cuts = np.cumsum([0] + sizes)

    def _split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(through the inverters, straight): positive and negative entries, or all straight."""
        if self.st.split:
            return np.maximum(x, 0.0), np.minimum(x, 0.0)
        return np.zeros_like(x), x

    def _z(self, o, q, x, xq):
        z = self.zy_pos @ (-q) + self.zy_neg @ o + self.r.z0
        if self.m:
            z = z + self.zu_pos @ (-xq) + self.zu_neg @ x
        return self.st.clip(z) if self.st.summers else z

    def _f(self, z):
        f = self.phi(z)
        return np.clip(f, -self.st.high, -self.st.low) if self.st.blocks else f  # the node V(f) = -f clips

    def _du(self, u, o, q, x, xq, f):
        r, st = self.r, self.st
        d = -self.leak * u + self.a_pos @ (-q) + self.a_neg @ o + r.c + st.windup * (st.clip(u) - u)
        if self.m:
            d = d + self.b_pos @ (-xq) + self.b_neg @ x
        if self.p:
            d = d + r.k @ f
        return d

    def _limit(self, rate):
        s = self.st.slew
        return rate if s is None else np.clip(rate, -s, s)

    def initial(self, y0: np.ndarray, t0: float) -> np.ndarray:
        y0 = np.asarray(y0, float)
        if not self.dynamic:
            return y0
        st = self.st
        x = self.u_at(t0)
        o = st.clip(y0)
        q, xq = st.clip(-o), st.clip(-x)
        out = [y0, o, q, xq]
        if self.zeta:
            z = self._z(o, q, x, xq)
            out.append(z)
        return np.concatenate(out)

    def rhs(self, t, y):
        st = self.st
        x = self.u_at(t)
        if not self.dynamic:
            o = st.clip(y)
            q, xq = st.clip(-o), st.clip(-x)
            return self._du(y, o, q, x, xq, self._f(self._z(o, q, x, xq)) if self.p else None)
        c = self.cuts
        u, o, q, xq = y[c[0]:c[1]], y[c[1]:c[2]], y[c[2]:c[3]], y[c[3]:c[4]]
        f = None
        extra = []
        if self.zeta:
            zeta = y[c[4]:c[5]]
            extra.append(self._limit((self._z(o, q, x, xq) - zeta) / self.tau_z))
            f = self._f(zeta)
        elif self.p:
            f = self._f(self._z(o, q, x, xq))
        return np.concatenate([self._du(u, o, q, x, xq, f),
                               self._limit((st.clip(u) - o) / st.tau_int),
                               self._limit((st.clip(-o) - q) / st.tau_inv),
                               self._limit((st.clip(-x) - xq) / st.tau_xinv)] + extra)

    def outputs(self, ys: np.ndarray) -> np.ndarray:
        """The integrators' outputs (what ngspice saves: v(o<k>)) from solution rows ``ys``."""
        return self.st.clip(ys[:, :self.n]) if not self.dynamic else ys[:, self.n:2 * self.n]

    def node_rate(self, times: np.ndarray, ys: np.ndarray, inputs: np.ndarray) -> float:
        """The largest |dv/dt| (V/s) of the integrator outputs and the summers along a static solution."""
        if len(times) < 2:
            return 0.0
        o = self.st.clip(ys[:, :self.n])
        dt = np.maximum(np.diff(times), 1e-300)[:, None]
        worst = float(np.max(np.abs(np.diff(o, axis=0)) / dt, initial=0.0))
        if self.p:
            z = np.array([self._z(oi, self.st.clip(-oi), xi, self.st.clip(-xi)) for oi, xi in zip(o, inputs)])
            worst = max(worst, float(np.max(np.abs(np.diff(z, axis=0)) / dt, initial=0.0)))
        return worst


def saturated(st: Stages, u: np.ndarray, ideal: np.ndarray | None = None) -> list[dict]:
    """The neurons whose state passes the swing: {neuron, peak (V, the ideal network's if
    given, else the predicted capacitor voltage's), predicted range, swing}."""
    out = []
    ref = ideal if ideal is not None else u
    for k in range(u.shape[1]):
        lo, hi = float(np.min(u[:, k])), float(np.max(u[:, k]))
        if hi > st.high or lo < st.low:
            peak = float(ref[np.argmax(np.abs(ref[:, k])), k])
            out.append({"neuron": k, "peak": peak, "predicted_range": [lo, hi], "swing": [st.low, st.high]})
    return out


def saturation_line(sat: dict) -> str:
    """One line: the neuron, its peak and the swing it passes."""
    lo, hi = sat["swing"]
    return (f"saturates: neuron {sat['neuron']} peaks at {sat['peak']:+.4g} (the ideal network's state, V) beyond the "
            f"op-amps' swing {lo:.4g} .. {hi:.4g} V; predicted capacitor voltage {sat['predicted_range'][0]:.4g} .. "
            f"{sat['predicted_range'][1]:.4g} V, output clipped (in the prediction)")


@dataclass(frozen=True, eq=False)
class Prediction:
    """The predicted circuit's solution: ``states`` (what ngspice saves, V(o<k>)), the
    integrators' capacitor voltages ``capacitor`` (= states unless saturated), and what was
    modelled (:mod:`rnn2spice.workflows.stages`)."""

    states: np.ndarray
    capacitor: np.ndarray
    realised: Realised
    stages: object            # stages.Stages or None (ideal op-amps)
    dynamic: bool             # the lag and slew states were added
    reason: str               # why (or why not)


class Linear:
    """dy/dt = a y + b u + c + k phi(z), z = zy y + zu u + z0: op-amps without swing."""

    dynamic = False

    def __init__(self, r: Realised, phi):
        self.r, self.phi = r, phi

    def initial(self, y0, t0):
        return np.asarray(y0, float)

    def rhs_at(self, u):
        r = self.r

        def rhs(t, y):
            uu = u(t)
            d = r.a @ y + (r.b @ uu if r.b.size else 0.0) + r.c
            if r.k.shape[1]:
                d = d + r.k @ self.phi(r.zy @ y + (r.zu @ uu if r.zu.size else 0.0) + r.z0)
            return d
        return rhs


def inputs_at(spec: RnnSpec):
    def u_at(t):
        return np.array([float(np.asarray(w.value(np.array([t]), spec.t_stop))[0]) for w in spec.inputs])
    return u_at


def solve(r: Realised, spec: RnnSpec, times: np.ndarray, model) -> np.ndarray:
    """``model``'s solution at ``times`` (scipy LSODA, rtol 1e-8; 1e-6 with the lag states),
    piecewise between the inputs' knots so that no edge is stepped over."""
    from scipy.integrate import solve_ivp

    rhs = model.rhs_at(inputs_at(spec)) if isinstance(model, Linear) else model.rhs
    knots = {0.0, float(spec.t_stop)}
    for w in spec.inputs:
        if hasattr(w, "knots"):
            kt, _ = w.knots(spec.t_stop)
            knots.update(float(x) for x in kt if 0.0 < x < spec.t_stop)
    edges = sorted(knots)
    y = model.initial(r.y0, 0.0)
    out = np.empty((len(times), y.size))
    rate = float(np.max(np.abs(np.diag(r.a)))) or 1.0 / spec.t_stop
    tol = (1e-6, 1e-9) if model.dynamic else (1e-8, 1e-10)
    for t0, t1 in zip(edges[:-1], edges[1:]):
        if t1 <= t0:
            continue
        sel = (times >= t0) & (times <= t1)
        sol = solve_ivp(rhs, (t0, t1), y, method="LSODA", rtol=tol[0], atol=tol[1],
                        max_step=min(0.1 / rate, t1 - t0), t_eval=times[sel] if sel.any() else None)
        if not sol.success:
            raise UsageError(f"the predicted circuit cannot be solved: {sol.message}")
        if sel.any():
            out[sel] = sol.y.T
        y = sol.y[:, -1] if sol.y.shape[1] and (not sel.any() or sol.t[-1] == t1) else \
            solve_ivp(rhs, (t0, t1), y, method="LSODA", rtol=tol[0], atol=tol[1]).y[:, -1]
    return out


def predict_with_stages(real: Realised, st: Stages, spec: RnnSpec, times: np.ndarray, phi,
                        dynamic: bool | None) -> Prediction:
    """The predicted circuit with its stages ``st`` (module docstring): the lag and slew states
    when ``dynamic`` (None: where they matter, and at most :data:`DYNAMIC_MAX_NEURONS` neurons)."""
    if dynamic is None:
        effect = lag_effect(st, real, spec.t_stop)
        if spec.n > DYNAMIC_MAX_NEURONS:
            dynamic, reason = False, (f"bandwidth and slew not modelled: n = {spec.n} > {DYNAMIC_MAX_NEURONS} "
                                      f"(lag effect {effect:.3g}; predict(dynamic=True) adds them, slowly)")
        elif bandwidth_matters(st, real, spec.t_stop):
            dynamic, reason = True, (f"bandwidth modelled: loop lag {st.loop_lag:.3g} s, effect {effect:.3g} >= "
                                     f"{LAG_MATTERS:g}")
        else:
            model = Model(real, st, phi, inputs_at(spec), False)
            ys = solve(real, spec, times, model)
            rate = model.node_rate(times, ys, np.array([inputs_at(spec)(t) for t in times]))
            if st.slew is None or rate < SLEW_MATTERS * st.slew:
                why = ("bandwidth and slew not modelled: " + (
                    "the op-amp's GBW is not known" if st.gbw is None else
                    f"loop lag {st.loop_lag:.3g} s, effect {effect:.3g} < {LAG_MATTERS:g}, fastest node "
                    f"{rate:.3g} V/s < {SLEW_MATTERS:g} x slew rate"))
                return Prediction(model.outputs(ys), ys[:, :spec.n], real, st, False, why)
            dynamic, reason = True, f"slew modelled: fastest node {rate:.3g} V/s >= {SLEW_MATTERS:g} x slew rate"
    else:
        reason = "bandwidth and slew " + ("modelled (asked for)" if dynamic else "not modelled (asked for)")
    model = Model(real, st, phi, inputs_at(spec), bool(dynamic) and st.gbw is not None)
    ys = solve(real, spec, times, model)
    return Prediction(model.outputs(ys), ys[:, :spec.n], real, st, model.dynamic, reason)
