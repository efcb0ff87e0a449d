"""Op-amp form: lossy inverting integrators, the state is each integrator's output voltage.

Neuron k is an inverting integrator: op-amp ``E_<k>`` (output ``o<k>``, inverting input
``n<k>``, non-inverting input grounded) with feedback ``C_<k>`` || ``R_<k>`` from ``o<k>``
to ``n<k>``.  With an ideal op-amp (v(n_k) = 0) KCL at the virtual ground gives

    C_k dv_k/dt = -v_k / R_k - sum_i s_i / R_ki        (s_i: the voltages feeding n<k>)

**Sign convention**: v(o<k>) = +h_k (the saved probe is the state itself).  A term
+|w| h_j needs s = -h_j: neuron j's **inverter** ``EI_<j>`` (unity gain, output ``q<j>``
= -h_j); a term -|w| h_j is fed straight from ``o<j>``.  So a neuron whose outgoing weights
are all <= 0 (an inhibitory neuron under Dale's law) needs no inverter, every other neuron
one, shared by all its targets; inputs likewise (``EXI_<l>``, output ``xq<l>`` = -x_l,
only for an input with a positive weight).  Constant drives come from the references
``VREFP`` (+1 V, node ``refp``) and ``VREFN`` (-1 V, ``refn``).

Identification (THEORY.md 2 with the integrator): tau_k = R_k C_k (s), R_kj = 1/(C |w_kj|)
(ohm, paper weights in 1/s; ctrnn and rate: w = W / tau), R_kl = 1/(C |w_in_kl|), h_k(0) the
capacitor's initial voltage (``uic``).  Nonlinear networks:

* paper and ctrnn (h' = -lam h + g f(W h + U x + b)): an inverting **summer** per neuron,
  ``ES_<k>`` with feedback ``RS_<k>`` (R0: spec ``circuit.resistance``, default
  :data:`SUMMER_RESISTANCE`) and inputs
  R0 / |W_kj|, gives V(z<k>) = W h + U x + b; the behavioural source ``B_<k>`` gives
  V(f<k>) = -f(V(z<k>)) and the integrator takes it through ``RF_<k>`` = 1/(C g_k)
  (g_k = 1/tau_k in ctrnn, 1 in paper);
* rate (tau h' = -h + W f(h) + U x + b): ``B_<k>`` gives V(r<k>) = f(v(o<k>)), the
  integrator takes W f(h) / tau from ``r<j>`` or its inverter ``ERI_<j>`` (``rq<j>``).

Op-amp models (:class:`~rnn2spice.network.opamp.OpAmpModel`, spec ``circuit.opamp``):

* ``ideal``: ``E.. out 0 0 in A`` (v_out = -A v_in).  Every resistor is compensated for the
  finite gain A exactly (:func:`_stage`), so the circuit's state equations are the network's
  to round-off (the certificate holds at 1e-12); the compensation moves values by ~1/A.
* ``single-pole``: ``GA..`` (A0 / RA S, from the inverting input) into node ``p..``,
  ``RA..`` (:data:`MACRO_RESISTANCE`) || ``CA..`` A0 / (2 pi GBW RA) F, buffered by ``E.. out 0 p.. 0 1``: DC gain A0,
  pole GBW / A0.  Values are the ideal ones (uncompensated); the internal capacitors add
  states, so the certificate (probes = states) does not apply: the effect is predicted
  and measured instead (:mod:`rnn2spice.workflows.build`).

Units: ohm, farad, volt, siemens, second.
"""

from __future__ import annotations

import math

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.circuit import realparts
from rnn2spice.circuit.eseries import nearest
from rnn2spice.circuit.parts import (BEHAVIOURAL, BuildContext, Realisation, form_header, inputs, rank_costs,
                                     realisation, unsupported, used_factors)
from rnn2spice.errors import UsageError
from rnn2spice.network.activations import ACTIVATIONS
from rnn2spice.network.opamp import OpAmpModel
from rnn2spice.network.spec import DEFAULT_RESISTANCE, RnnSpec
from rnn2spice.network.waveform import Sine

#: Default summer and inverter resistance R0 (ohm): feedback of a summer, both resistors of an
#: inverter (the spec's ``circuit.resistance``).
SUMMER_RESISTANCE = DEFAULT_RESISTANCE
#: The macro-model's pole resistor RA (ohm): GA = A0 / RA (S), CA = A0 / (2 pi GBW RA) (F).
MACRO_RESISTANCE = 1e6
#: activation -> behavioural voltage source ``(name, p, n, gain, arg)``.
SOURCES = {a: voltage for a, (_, voltage) in BEHAVIOURAL.items()}


def effective_model(spec: RnnSpec, build) -> OpAmpModel:
    """The abstract op-amp model the circuit is designed for: the spec's, or the build's
    ``ideal`` / ``single-pole`` when it names one."""
    model: OpAmpModel = spec.opamp
    if build is not None and build.opamp in realparts.ABSTRACT_OPAMPS and build.opamp != model.model:
        model = OpAmpModel(build.opamp, 1e6 if build.opamp == "ideal" else 2e5,
                           None if build.opamp == "ideal" else 1e6, model.rails)
    return model


def integrator_capacitance(spec: RnnSpec, build) -> float:
    """The integrators' C (F): the spec's, or for a real or snapped build an E12 value putting
    the integrator resistors tau / C near PREFERRED_RI."""
    if build is not None and build.sane:
        return nearest(float(np.median(spec.tau)) / realparts.PREFERRED_RI, "E12")
    return float(spec.capacitance)


def opamp_text(spec: RnnSpec, build) -> str:
    """The op-amp actually in the netlist, in words (one description: the header's)."""
    if build is not None and build.opamp_model is not None:
        return f"op-amp {build.opamp_model} (user macro-model)"
    if build is not None and build.part is not None:
        return f"op-amp {build.part.name} (library macro-model)"
    return effective_model(spec, build).describe()


@form_header("opamp")
def header(spec: RnnSpec, build=None) -> tuple[str, str]:
    return ("identification: v(o<k>) = h_k (inverting integrator output), tau_k = R_k C_k, R_kj = 1/(C |w_kj|) "
            "from o<j> (w < 0) or inverter q<j> = -h_j (w > 0)",
            f"C = {integrator_capacitance(spec, build)!r} F per integrator, {opamp_text(spec, build)}")


unsupported("opamp", "vccs", "the opamp form couples by input resistors into virtual grounds: use coupling 'resistor'")
unsupported("opamp", "gyrator", "the opamp form couples by input resistors into virtual grounds: use coupling 'resistor'")


class _Build:
    """The elements of one op-amp circuit, with the sign-inverted signals made on demand.

    An op-amp is named by a tag: ``_3`` (integrator 3), ``S_3`` (summer 3), ``I_3`` (inverter of
    neuron 3), ``XI_0`` (of input 0), ``RI_3`` (of rate node 3): its elements are ``E<tag>``
    and, for the macro-model, ``GA<tag>``, ``RA<tag>``, ``CA<tag>`` at node ``p<tag>``.
    """

    def __init__(self, ctx: BuildContext):
        self.ctx = ctx
        self.spec = ctx.spec
        self.build = ctx.build if ctx.build is not None else realparts.Build()
        self.model = effective_model(ctx.spec, self.build)
        self.part = self.build.part
        self.user = None
        if self.build.opamp_model is not None:
            from rnn2spice.circuit.usermodel import read_subcircuit  # reads the user's file once
            self.user = read_subcircuit(self.build.opamp_model)
        self.subckt = self.part.name if self.part is not None else (self.user.name if self.user else None)
        # The gain the values are compensated for: A (ideal) or none (real or macro-model: ideal values).
        self.gain = self.model.gain if self.model.model == "ideal" and self.subckt is None else math.inf
        self.r0 = float(ctx.spec.resistance)  # R0 of summers and inverters (circuit.resistance)
        self.c = float(ctx.spec.capacitance)
        if self.build.sane:  # values by design in 100 ohm .. 10 Mohm (THEORY.md 11)
            self.r0 = realparts.PREFERRED_R0
        self.c = integrator_capacitance(ctx.spec, self.build)
        self.pruned: list = []
        self.opamps = self.inverters = self.resistors = self.capacitors = self.transistors = self.diodes = 0
        self.later: list = []      # inverters and references: after the stages
        self.inverted: dict[str, str] = {}
        self.refs: set[str] = set()

    def add(self, *elements, later: bool = False) -> None:
        for e in elements:
            self.resistors += isinstance(e, ir.Resistor) and not e.name.startswith("RA")
            self.capacitors += isinstance(e, ir.Capacitor) and not e.name.startswith("CA")
            self.transistors += isinstance(e, ir.Bjt)
            self.diodes += isinstance(e, ir.Diode)
        if later:
            self.later.extend(elements)
        else:
            self.ctx.add(*elements)

    def resistor(self, name: str, a: str, b: str, value: float) -> list:
        """``R<name>``, or nothing when a sane build would need more than 10 Mohm: the weight is
        pruned (recorded; its effect is in the prediction, which reads the netlist)."""
        if self.build.sane and value > realparts.R_RANGE[1]:
            self.pruned.append((name, float(value)))
            return []
        return [ir.Resistor(name, a, b, value)]

    def opamp(self, tag: str, out: str, minus: str, initial: float, later: bool = False,
              state: bool = True, plus: str = "0") -> None:
        """v(out) = A v(plus, minus): ``E<tag>`` (ideal), the single-pole macro-model or a part
        (``X<tag>``, the library's or the user's subcircuit, on the supply nodes);
        ``initial``: the output's voltage at t = 0 (the macro-model's internal capacitor; in
        units of h, or with ``state=False`` a node voltage in model units: BuildContext.initial)."""
        self.add(*self.opamp_elements(tag, plus, minus, out, initial, state), later=later)

    def opamp_elements(self, tag: str, plus: str, minus: str, out: str, initial: float = 0.0,
                       state: bool = False) -> list:
        self.opamps += 1
        model = self.model
        if self.subckt is not None:
            params = ()
            if self.part is not None:  # the output at t = 0: within the swing (a saturated stage sits at it;
                # beyond it the clamp diodes would start forward-biased by volts, THEORY.md 11)
                low, high = self.part.swing(self.build.rails(self.spec))
                params = (("v0", min(max(self.ctx.initial(initial, state), low), high)),)
            return [ir.Instance(f"X{tag}", (plus, minus, "vcc", "vee", out), self.subckt, params)]
        if model.model == "ideal":
            return [ir.Vcvs(f"E{tag}", out, "0", plus, minus, float(model.gain))]
        node = f"p{tag.lower()}"
        r = MACRO_RESISTANCE
        return [ir.Vccs(f"GA{tag}", "0", node, plus, minus, float(model.gain / r)),
                ir.Resistor(f"RA{tag}", node, "0", r),
                ir.Capacitor(f"CA{tag}", node, "0", float(model.gain / (2.0 * math.pi * model.gbw * r)),
                             self.ctx.initial(initial, state)),
                ir.Vcvs(f"E{tag}", out, "0", node, "0", 1.0)]

    # ------------------------------------------------------------------ signals

    def signal(self, node: str, tag: str, weight: float, initial: float, state: bool = True) -> str:
        """The node feeding a term -|weight| s with s = -sign(weight) V(node): ``node`` itself
        for a negative weight, its unity inverter ``E<tag>``'s output (made once) for a positive one."""
        if weight < 0:
            return node
        if node not in self.inverted:
            out, minus = f"{node}q", f"{node}m"
            a = self.gain
            g0 = 1.0 / self.r0
            g_fb = g0 * (a - 1.0) / (a + 1.0) if math.isfinite(a) else g0  # exact gain -1 for A
            self.add(ir.Resistor(f"RIN_{tag}", node, minus, self.r0),
                     ir.Resistor(f"RFB_{tag}", out, minus, 1.0 / g_fb), later=True)
            self.opamp(tag, out, minus, -initial, later=True, state=state)
            self.inverters += 1
            self.inverted[node] = out
        return self.inverted[node]

    def reference(self, value: float) -> str:
        """``refn`` (-1 V) for a positive constant, ``refp`` (+1 V) for a negative one."""
        node = "refn" if value > 0 else "refp"
        self.refs.add(node)
        return node

    # ------------------------------------------------------------------ stages

    def integrator(self, k: int, terms: list, tau: float, h0: float) -> None:
        """Neuron k: v(o<k>)' = -v/tau - sum_i w_i s_i for terms (name, node s_i, w_i > 0, 1/s).

        KCL at n<k> with v(n) = -v(o)/A and beta = 1 + 1/A: C beta v' = -G_f beta v - sum G_i s_i
        - v sum G_i / A, so G_i = C beta w_i and G_f = C / tau - C sum w_i / A are exact for A,
        and the capacitor's initial voltage is beta h_k(0)."""
        c = self.c
        a = self.gain
        beta = 1.0 + 1.0 / a
        total = math.fsum(w for _, _, w in terms)
        leak = c / tau - c * total / a
        if not leak > 0:
            raise UsageError(f"op-amp gain {a:g} is too low for neuron {k}: tau = {tau:g} s against summed "
                             f"weights {total:g} 1/s leaves no leak resistor (circuit.opamp.gain)")
        out, minus = f"o{k}", f"n{k}"
        self.add(ir.Capacitor(f"C_{k}", out, minus, c, self.ctx.initial(beta * h0)),
                 ir.Resistor(f"R_{k}", out, minus, 1.0 / leak))
        self.opamp(f"_{k}", out, minus, h0)
        self.ctx.save("voltage", out)
        for name, node, w in terms:
            self.add(*self.resistor(name, node, minus, 1.0 / (c * beta * w)))

    def summer(self, k: int, terms: list, initial: float, node: str = "z") -> str:
        """Neuron k's pre-activation: v(z<k>) = -sum_i g_i s_i (terms (name, node, g_i > 0)):
        inputs g_i G0, feedback ``RS_<k>`` (G0 - sum g_i G0 / A) / beta, exact for A.
        ``node="l"``: latent node k of a low-rank coupling instead (``l<k>``, ``ls<k>``,
        ``RSL_<k>``, op-amp ``ESL_<k>``; THEORY.md 8); ``initial``: its voltage at t = 0."""
        a = self.gain
        r0 = self.r0
        if self.build.sane and terms:  # R0 / |g| inside 100 ohm .. 10 Mohm for as many terms as can be
            low, high = realparts.R_RANGE
            if self.subckt is not None:  # real op-amps drive every input resistor (realparts.OPAMP_MIN_R)
                low = realparts.OPAMP_MIN_R
            g_max, g_min = max(g for _, _, g in terms), min(g for _, _, g in terms)
            lo, hi = max(low * g_max, low), min(high * g_min, high)
            # the preferred R0 inside the feasible interval; none: the largest weight at 100 ohm
            # (the smallest ones beyond 10 Mohm are pruned by resistor()); low: 1 kohm with real op-amps
            r0 = min(max(r0, lo), hi) if lo <= hi else min(max(low * g_max, low), high)
        g0 = 1.0 / r0
        total = math.fsum(g for _, _, g in terms)
        g_fb = (g0 - g0 * total / a) / (1.0 + 1.0 / a)
        if not g_fb > 0:
            raise UsageError(f"op-amp gain {a:g} is too low for summer {k}: summed gain {total:g} "
                             "(circuit.opamp.gain)")
        latent = node == "l"
        out, minus = f"{node}{k}", (f"ls{k}" if latent else f"s{k}")
        self.add(ir.Resistor(f"RS{'L' if latent else ''}_{k}", out, minus, 1.0 / g_fb))
        self.opamp(f"S{'L' if latent else ''}_{k}", out, minus, initial, state=False)  # V(z) is in model units
        for name, src, g in terms:
            self.add(*self.resistor(name, src, minus, r0 / g))
        return out

    def activation(self, k: int, f, design) -> None:
        """Neuron k's V(f<k>) = -f(V(z<k>)): the behavioural source ``B_<k>`` or (``design``) the
        transistor block (realparts.block_elements)."""
        if design is None:
            self.ctx.add(f(f"B_{k}", f"f{k}", "0", -1.0, f"z{k}"))
            return
        self.add(*realparts.block_elements(k, design, f"z{k}", f"f{k}",
                                           lambda tag, plus, minus, out: self.opamp_elements(tag, plus, minus, out)))

    def finish(self, blocks: bool = False) -> Realisation:
        """Inverters and references after the stages, the supplies and the definitions of a
        real build (first); the cost."""
        self.ctx.add(*self.later)
        for node, value in (("refp", 1.0), ("refn", -1.0)):
            if node in self.refs:
                self.ctx.add(ir.VoltageSource(f"V{node.upper()}", node, "0", None, value))
        if self.subckt is not None or self.transistors or self.diodes:
            head = realparts.definitions(self.build, self.user, transistors=bool(self.transistors),
                                         diodes=bool(self.diodes))
            head += realparts.supplies(self.build.rails(self.spec))
            self.ctx.elements[:0] = head
        if self.part is not None:  # the output pins start at their values under load (THEORY.md 11)
            self.ctx.elements[:] = realparts.loaded_starts(
                self.ctx.elements, self.part.rout, self.part.swing(self.build.rails(self.spec)),
                lambda e: e.dc if e.waveform is None else _value_at_zero(e.waveform, self.spec.t_stop))
        spec = self.spec
        w = spec.w
        return Realisation(positive_resistors=self.resistors, controlled_sources=self.opamps,
                           behavioural_sources=0 if spec.activation == "linear" or blocks else spec.n,
                           reciprocal=bool(np.array_equal(w, w.T)), passive=False, opamps=self.opamps,
                           inverters=self.inverters, resistors=self.resistors, capacitors=self.capacitors,
                           transistors=self.transistors, diodes=self.diodes, pruned=tuple(self.pruned),
                           **rank_costs(spec))

    def latent(self, node: str, tag: str, start: np.ndarray) -> None:
        """The latent summers of a low-rank w = M N (THEORY.md 8): V(l_i) = sum_j N_ij V(<node><j>)
        (``RLN_<i>_<j>`` from the node or its inverter ``E<tag>_<j>``); ``start``: V(<node>)
        at t = 0 (V)."""
        n_f = used_factors(self.spec)[1]
        for i in np.flatnonzero(np.any(n_f, axis=1)):
            terms = [(f"RLN_{i}_{j}", self.signal(f"{node}{j}", f"{tag}_{j}", n_f[i, j], float(start[j]), state=False),
                      abs(float(n_f[i, j]))) for j in np.nonzero(n_f[i])[0]]
            self.summer(i, terms, float(n_f[i] @ start), node="l")


@realisation("opamp", "resistor", activations=("linear", *SOURCES))
def resistor(ctx: BuildContext) -> Realisation:
    """Inverting integrators coupled by input resistors (module docstring)."""
    spec = ctx.spec
    b = _Build(ctx)
    n, m = spec.n, spec.m
    design = None
    if b.build.activation_circuit == "transistor" and spec.activation != "linear":
        if spec.convention == "rate":
            raise UsageError("activation_circuit 'transistor' builds networks whose activation takes the summed "
                             "input (paper, ctrnn); the rate convention f(h) is not built from transistors yet: use "
                             "--activation-circuit behavioural")
        design = realparts.design_block(spec.activation, b.build, b.build.rails(spec))
    s = ctx.state_scale  # THEORY.md 5: h0, inputs (BuildContext) and drives x s
    h0 = np.asarray(spec.h0, dtype=float)
    x0 = np.array([_value_at_zero(wave, spec.t_stop) for wave in spec.inputs])

    def input_terms(k: int, w_in: np.ndarray, drive: float, scale: float = s) -> list:
        terms = [(f"RX_{k}_{l}", b.signal(f"x{l}", f"XI_{l}", w_in[l], x0[l]), abs(float(w_in[l])))
                 for l in np.nonzero(w_in)[0]]
        if drive:
            terms.append((f"RD_{k}", b.reference(drive), abs(float(drive) * scale)))
        return terms

    if spec.activation == "linear" or spec.convention == "rate":
        w, w_in, drive = spec.paper_form()  # 1/s
        rate = spec.activation != "linear"
        if rate:
            f = SOURCES[spec.activation]
            act = _activation(spec.activation)
        low = spec.w_factors is not None
        if low:  # V(l) = N v(o) = s N h, or N f(h) from the rate nodes (THEORY.md 8)
            start = np.array([act(v) for v in h0]) if rate else h0 * s
            b.latent("r" if rate else "o", "RI" if rate else "I", start)
            dm = spec.paper_factors()[0]
            l0 = used_factors(spec)[1] @ start
        for k in range(n):
            terms = []
            for i in (np.nonzero(dm[k])[0] if low else ()):
                terms.append((f"RWL_{k}_{i}", b.signal(f"l{i}", f"LI_{i}", dm[k, i], float(l0[i]), state=False),
                              abs(float(dm[k, i] * s)) if rate else abs(float(dm[k, i]))))
            for j in (np.nonzero(w[k])[0] if not low else ()):
                node, start = (f"r{j}", float(act(h0[j]))) if rate else (f"o{j}", float(h0[j]))
                # rate: the rate node is f(h) in model units, the term s W f(h) (THEORY.md 5)
                terms.append((f"RW_{k}_{j}", b.signal(node, f"{'R' if rate else ''}I_{j}", w[k, j], start,
                                                      state=not rate),
                              abs(float(w[k, j] * s)) if rate else abs(float(w[k, j]))))
            b.integrator(k, terms + input_terms(k, w_in[k], drive[k]), float(spec.tau[k]), float(h0[k]))
        if rate:
            for k in range(n):
                if s != 1.0:  # f takes h = v / s, from node q<k> = v(o<k>) / s (``EQ_<k>``)
                    ctx.add(ir.Vcvs(f"EQ_{k}", f"q{k}", "0", f"o{k}", "0", 1.0 / s))
                ctx.add(f(f"B_{k}", f"r{k}", "0", 1.0, f"o{k}" if s == 1.0 else f"q{k}"))
    else:  # paper, ctrnn: h' = -lam h + g f(W h + U x + b)
        f = SOURCES[spec.activation]
        gains = (1.0 / spec.tau if spec.convention == "ctrnn" else np.ones(n)) * ctx.out_scale
        # the summers take v = s h and u = s x with weights / s (paper: / (s k)), so V(z) is
        # the model's pre-activation (THEORY.md 5); the bias (1 V references) is not scaled
        w_z, w_in_z = spec.w * ctx.arg_scale, spec.w_in * ctx.arg_scale
        pre = w_z @ (h0 * s) + w_in_z @ (x0 * s) + spec.bias
        low = spec.w_factors is not None
        if low:  # V(l) = N v(o) = s N h, z gets M V(l) / s (THEORY.md 8)
            b.latent("o", "I", h0 * s)
            m_used, n_used = used_factors(spec)
            m_z = m_used * ctx.arg_scale
            l0 = n_used @ (h0 * s)
        for k in range(n):
            terms = ([(f"RWL_{k}_{i}", b.signal(f"l{i}", f"LI_{i}", m_z[k, i], float(l0[i]), state=False),
                       abs(float(m_z[k, i]))) for i in np.nonzero(m_z[k])[0]] if low else
                     [(f"RW_{k}_{j}", b.signal(f"o{j}", f"I_{j}", w_z[k, j], float(h0[j])), abs(float(w_z[k, j])))
                      for j in np.nonzero(spec.w[k])[0]])
            b.summer(k, terms + input_terms(k, w_in_z[k], float(spec.bias[k]), 1.0), float(pre[k]))
            b.activation(k, f, design)
            b.integrator(k, [(f"RF_{k}", f"f{k}", float(gains[k]))], float(spec.tau[k]), float(h0[k]))
    inputs(ctx)
    return b.finish(blocks=design is not None)


def _activation(name: str):
    return ACTIVATIONS[name].f


def _value_at_zero(wave, t_stop: float) -> float:
    """An input's value at t = 0 (V): the initial output of its inverter."""
    if isinstance(wave, Sine):
        return float(wave.offset + wave.amplitude * math.sin(math.radians(wave.phase)))
    times, values = wave.knots(t_stop)
    return float(np.interp(0.0, times, values))
