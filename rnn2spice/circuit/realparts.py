"""A build from real parts: the options (:class:`Build`), sane values and the activation blocks.

THEORY.md 11.  The options of every command that compiles (``compile``, ``simulate``,
``check``, ``montecarlo``, ``bom``, ``kicad``) are one :class:`Build`:

* ``snap``: every R and C at its nearest value of an IEC 60063 series (E12 .. E96);
* ``opamp``: ``ideal`` / ``single-pole`` (the spec's ``circuit.opamp``), a library part
  (:data:`~rnn2spice.circuit.partlib.OPAMPS`: TL072, LM358, OPA227) or, with
  ``opamp_model`` = ``FILE.lib:SUBCKT``, a user's scanned vendor model;
* ``activation_circuit``: ``behavioural`` (a B source per neuron) or ``transistor``: tanh
  by a bipolar differential pair (2N3904) and a difference amplifier, sigmoid by the pair's
  single-ended output, relu by a precision rectifier (op-amp, two 1N4148); softplus has no
  block (refused, exit 2);
* ``temp`` (degC: V_T = kT/q of the pair) and ``supply`` (V, the rails).

Blocks (neuron k, input node ``z<k>`` = the summer's pre-activation in volts, output
``f<k>`` = -f(z), what the integrator takes through ``RF_<k>``):

* **tanh**: the divider ``RBA_<k>`` / ``RBB_<k>`` scales z to the base difference
  V_d = 2 V_T z (the other base sees the same source resistance, ``RBM_<k>`` || ``RBN_<k>``),
  so the collector currents differ by I_EE tanh(V_d / 2 V_T) = I_EE tanh(z); the tail is a
  resistor ``RT_<k>`` to V-; the difference amplifier (op-amp ``D_<k>``, ``RDP``/``RDG``,
  ``RDN``/``RDF``) gives f = (R_f / R_in)(v_cp - v_cn) = -(R_f / R_in) R_C I_EE tanh(z) = -tanh(z).
* **sigmoid**: V_d = V_T z, the collector current of one side is I_EE sigmoid(z); the
  difference amplifier takes v_cp against V+.
* **relu**: the inverting precision half-wave rectifier: f = -(R_f / R_in) relu(z).

Every block value is designed analytically, then corrected by a :class:`Trim` measured on
the block's DC transfer curve in ngspice (the workflow does that: the compiler cannot
simulate), and with ``snap`` each resistor pair whose ratio matters (divider, difference
amplifier) is chosen together from the series (:func:`ratio_pair`).  Units: ohm, F, V, A, degC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.circuit.eseries import SERIES, nearest
from rnn2spice.circuit.partlib import (ABSTRACT_OPAMPS, D1N4148, MACRO_CG, OPAMPS, PINS, Q2N3904, opamp_part,
                                       thermal_voltage)
from rnn2spice.errors import UsageError
from rnn2spice.network.activations import ACTIVATIONS
from rnn2spice.network.numbers import is_real

ACTIVATION_CIRCUITS = ("behavioural", "transistor")
DEFAULT_SUPPLY = (-12.0, 12.0)
#: The temperature range the device models are used over (degC).
TEMP_RANGE = (-40.0, 125.0)
#: Practical resistor range a build aims at (ohm); values outside are pruned or reported.
R_RANGE = (100.0, 10e6)
#: Smallest input resistor a summer of real op-amps gets (ohm): every source driving it is an
#: op-amp output of ~100 ohm open-loop output resistance (partlib ``rout``), held by its loop
#: gain only up to ~GBW / f.  At 100 ohm the output moved by rout / R = 100 % of the load's
#: change until the loop caught up (start-up and input edges, ~10 % glitches the prediction
#: does not model); at 1 kohm it is 10x less, and the TL072 / LM358 data sheets give the swing
#: into 2 kohm (a 10 V state into 1 kohm: 10 mA, within their 20-40 mA output current).
OPAMP_MIN_R = 1e3
#: Summer R0 a build prefers (ohm) inside the range its weights allow.
PREFERRED_R0 = 10e3
#: Integrator resistance a build centres its capacitor on (ohm): C = tau / this.
PREFERRED_RI = 100e3
#: Tail current of a differential pair (A), base-side divider resistance (ohm) and the
#: difference amplifier's input resistor (ohm).
TAIL_CURRENT = 1e-3
DIVIDER_R = 220.0
DIFF_R = 100e3
#: V_BE of the 2N3904 at the tail current, for the analytic tail resistor (V).
VBE_ESTIMATE = 0.65
#: Full collector swing R_C I_EE as a fraction of V+: large against the common-mode error of the
#: difference amplifier (its resistor mismatch times the collectors' DC level), yet the collectors
#: stay 0.2 V+ above the bases (no saturation).
COLLECTOR_SWING = 0.8
#: Precision rectifier resistors (ohm).
RECTIFIER_R = 10e3


@dataclass(frozen=True)
class Trim:
    """Measured corrections of a block: the argument's scale (the divider) and the output's
    gain (the difference amplifier), both 1 for the analytic design."""

    argument: float = 1.0
    gain: float = 1.0


@dataclass(frozen=True)
class Build:
    """How a network is built (module docstring).  Keyword names equal the CLI's options."""

    snap: str | None = None
    opamp: str | None = None
    opamp_model: str | None = None
    activation_circuit: str = "behavioural"
    temp: float = 27.0
    supply: tuple[float, float] | None = None
    trim: Trim = field(default_factory=Trim)
    footprint: str = "tht"

    def __post_init__(self):
        if self.snap is not None and self.snap not in SERIES:
            raise UsageError(f"snap must be one of {', '.join(SERIES)} (got {self.snap!r})")
        if self.opamp is not None and self.opamp not in ABSTRACT_OPAMPS:
            object.__setattr__(self, "opamp", opamp_part(self.opamp).name)
        if self.opamp_model is not None and self.opamp is not None and self.opamp not in ("ideal",):
            raise UsageError(f"opamp_model and opamp {self.opamp!r} both choose the op-amp; give one of them")
        if self.activation_circuit not in ACTIVATION_CIRCUITS:
            raise UsageError(f"activation_circuit must be one of {', '.join(ACTIVATION_CIRCUITS)} "
                             f"(got {self.activation_circuit!r})")
        if not (is_real(self.temp) and TEMP_RANGE[0] <= self.temp <= TEMP_RANGE[1]):
            raise UsageError(f"temp must be a temperature in degC within {TEMP_RANGE[0]:g} .. {TEMP_RANGE[1]:g} "
                             f"(got {self.temp!r})")
        if self.supply is not None:
            s = self.supply
            if (not isinstance(s, (tuple, list)) or len(s) != 2 or not all(is_real(v) for v in s)
                    or not (-18 <= s[0] <= -3 and 3 <= s[1] <= 18)):
                raise UsageError(f"supply must be (negative, positive) rails in volts, each 3 .. 18 V from ground "
                                 f"(got {s!r})")
            object.__setattr__(self, "supply", (float(s[0]), float(s[1])))
        if self.footprint not in ("tht", "0805"):
            raise UsageError(f"footprint must be tht or 0805 (got {self.footprint!r})")

    @property
    def part(self):
        """The library op-amp, or None (ideal, single-pole, a user model)."""
        return OPAMPS.get(self.opamp) if self.opamp is not None else None

    @property
    def real(self) -> bool:
        """Built from parts you can buy (op-amps by name or a transistor activation)."""
        return self.part is not None or self.opamp_model is not None or self.activation_circuit == "transistor"

    @property
    def sane(self) -> bool:
        """Values chosen for the practical ranges (:data:`R_RANGE`): every real or snapped build."""
        return self.real or self.snap is not None

    def rails(self, spec) -> tuple[float, float]:
        """The supply (V): this build's, else the spec's ``circuit.supply``, else +-12 V."""
        return self.supply or getattr(spec, "supply", None) or DEFAULT_SUPPLY

    def describe(self) -> str:
        parts = [f"op-amp {self.opamp_model or self.opamp or 'of the spec'}",
                 f"activation circuit {self.activation_circuit}"]
        if self.snap:
            parts.append(f"values {self.snap}")
        if self.real:
            parts.append(f"{self.temp:g} degC")
        return ", ".join(parts)

    def with_trim(self, trim: Trim) -> "Build":
        return replace(self, trim=trim)


# ---------------------------------------------------------------------------- values

def ratio_pair(ratio: float, base: float, series: str | None) -> tuple[float, float]:
    """(a, b) with b / a close to ``ratio`` and a near ``base`` (ohm): exact without a
    series, else both from ``series``, a within a factor 2 of ``base``, the pair whose
    ratio errs least."""
    if series is None:
        return base, base * ratio
    mantissas = SERIES[series][0]
    best = None
    for d in range(int(math.floor(math.log10(base / 2))), int(math.floor(math.log10(base * 2))) + 1):
        for mant in mantissas:
            a = float(f"{mant}e{d}")
            if not base / 2 <= a <= base * 2:
                continue
            b = nearest(a * ratio, series)
            err = abs(math.log(b / a / ratio))
            if best is None or err < best[0] - 1e-12:
                best = (err, a, b)
    return best[1], best[2]


def choose(value: float, series: str | None) -> float:
    return value if series is None else nearest(value, series)


@dataclass(frozen=True)
class BlockDesign:
    """The values of one activation block (ohm; every neuron's block is the same)."""

    activation: str
    values: dict

    def describe(self) -> str:
        return f"{self.activation} block: " + ", ".join(f"{k} {v:.4g}" for k, v in self.values.items())


def design_block(activation: str, build: Build, rails: tuple[float, float]) -> BlockDesign:
    """The block of ``activation`` for ``build`` (module docstring), trimmed by ``build.trim``."""
    series = build.snap
    vee, vcc = rails
    if activation == "relu":
        r = choose(RECTIFIER_R, series)
        return BlockDesign("relu", {"R_in": r, "R_f": r})
    if activation not in ("tanh", "sigmoid"):
        raise UsageError(f"activation_circuit 'transistor' has no block for activation {activation!r}: "
                         + ("softplus ln(1 + e^z) has no transistor circuit whose curve matches it within a "
                            "stated error here; use --activation-circuit behavioural" if activation == "softplus"
                            else "use --activation-circuit behavioural"))
    vt = thermal_voltage(build.temp)
    # V_d = 2 V_T z (tanh) or V_T z (sigmoid): the divider's ratio b / (a + b)
    k = (2.0 if activation == "tanh" else 1.0) * vt * build.trim.argument
    rb, ra = ratio_pair((1.0 - k) / k, DIVIDER_R, series)
    tail = choose((-VBE_ESTIMATE - vee) / TAIL_CURRENT, series)
    i_ee = (-VBE_ESTIMATE - vee) / tail
    rc = choose(COLLECTOR_SWING * vcc / i_ee, series)
    # f = (R_f / R_in) R_C' I_EE with R_C' = R_C || (R_in + R_f): the loaded collector
    gain = build.trim.gain
    ratio = gain / (rc * i_ee)
    for _ in range(3):
        rc_eff = 1.0 / (1.0 / rc + 1.0 / (DIFF_R * (1.0 + ratio)))
        ratio = gain / (rc_eff * i_ee)
    r_in, r_f = ratio_pair(ratio, DIFF_R, series)
    return BlockDesign(activation, {"R_a": ra, "R_b": rb, "R_tail": tail, "R_c": rc, "R_in": r_in, "R_f": r_f})


def block_elements(k: int, design: BlockDesign, z: str, f: str, opamp) -> list:
    """Neuron k's block from ``z`` to ``f`` (module docstring); ``opamp(tag, plus, minus, out)``
    adds an op-amp (elements) the way the build makes them."""
    v = design.values
    if design.activation == "relu":
        rn, ro = f"rn{k}", f"ro{k}"
        return ([ir.Resistor(f"RRI_{k}", z, rn, v["R_in"]), ir.Resistor(f"RRF_{k}", f, rn, v["R_f"]),
                 ir.Diode(f"DRA_{k}", ro, rn, D1N4148.name), ir.Diode(f"DRB_{k}", f, ro, D1N4148.name)]
                + opamp(f"P_{k}", "0", rn, ro))
    bp, bn, e, cp, cn, dp, dn = (f"{x}{k}" for x in ("bp", "bn", "qe", "cp", "cn", "dp", "dn"))
    els = [ir.Resistor(f"RBA_{k}", z, bp, v["R_a"]), ir.Resistor(f"RBB_{k}", bp, "0", v["R_b"]),
           ir.Resistor(f"RBM_{k}", bn, "0", v["R_a"]), ir.Resistor(f"RBN_{k}", bn, "0", v["R_b"]),
           ir.Bjt(f"QP_{k}", cp, bp, e, Q2N3904.name), ir.Bjt(f"QN_{k}", cn, bn, e, Q2N3904.name),
           ir.Resistor(f"RT_{k}", e, "vee", v["R_tail"]),
           ir.Resistor(f"RCP_{k}", "vcc", cp, v["R_c"]), ir.Resistor(f"RCN_{k}", "vcc", cn, v["R_c"]),
           ir.Resistor(f"RDP_{k}", cp, dp, v["R_in"]), ir.Resistor(f"RDG_{k}", dp, "0", v["R_f"]),
           ir.Resistor(f"RDN_{k}", cn if design.activation == "tanh" else "vcc", dn, v["R_in"]),
           ir.Resistor(f"RDF_{k}", f, dn, v["R_f"])]
    return els + opamp(f"D_{k}", dp, dn, f)


def definitions(build: Build, user=None, *, transistors: bool, diodes: bool) -> list:
    """The ``.subckt`` / ``.model`` definitions a build's elements reference."""
    out = []
    part = build.part
    if part is not None:
        out.append(ir.OpAmpMacro(part.name, part.gm, part.imax, part.rg, MACRO_CG, part.swing_high, part.swing_low,
                                 part.rout, part.bias, part.supply_current))
    if user is not None:
        out.append(user)
    if transistors:
        out.append(ir.ModelCard(Q2N3904.name, Q2N3904.kind, Q2N3904.params))
    if diodes:
        out.append(ir.ModelCard(D1N4148.name, D1N4148.kind, D1N4148.params))
    return out


def supplies(rails: tuple[float, float]) -> list:
    """The supply sources: ``VCC`` (node vcc) and ``VEE`` (node vee)."""
    return [ir.VoltageSource("VCC", "vcc", "0", None, float(rails[1])),
            ir.VoltageSource("VEE", "vee", "0", None, float(rails[0]))]


assert PINS == ("inp", "inn", "vcc", "vee", "out")  # the instance node order below relies on it


def loaded_starts(elements: list, rout: float, swing: tuple[float, float], source_value) -> list:
    """``elements`` with each op-amp instance's ``v0`` (its gain node at t = 0) raised by the drop
    its load current makes across the part's output resistance ``rout`` (ohm), so that the
    *output pin* starts at the stage's value (THEORY.md 11, start-up).

    Without it, an op-amp driving a low-ohm input resistor (a large weight: 100 ohm) starts
    ``rout I`` below its value and its loop pulls it back within ~1 us: a start-up glitch of
    ~10 % that no network has and the prediction cannot follow.  The load currents are those
    of the circuit at t = 0 (modified nodal analysis): op-amp outputs at their ``v0``,
    capacitors at their IC, sources at their value at t = 0 (``source_value(e)``, V),
    behavioural activations evaluated at their argument; transistors and diodes open (their
    currents load only the blocks' own op-amps, through >= 10 kohm).  ``swing``: the part's
    lowest and highest output (V); v0 stays within it (a clamped stage sits at its clamp)."""
    amps = [e for e in elements if isinstance(e, ir.Instance) and any(k == "v0" for k, _ in e.params)]
    if not amps or rout <= 0:
        return elements
    known = {e.nodes[4]: dict(e.params)["v0"] for e in amps}
    fixed: list[tuple[str, str, float, str | None]] = []  # (p, n, V(p, n), op-amp name)
    for e in amps:
        fixed.append((e.nodes[4], "0", known[e.nodes[4]], e.name))
    for e in elements:
        if isinstance(e, ir.Capacitor):
            fixed.append((e.a, e.b, float(e.ic), None))
        elif isinstance(e, ir.VoltageSource):
            fixed.append((e.p, e.n, float(source_value(e)), None))
        elif isinstance(e, (ir.TanhVoltage, ir.ActivationVoltage)) and e.arg in known:
            f = math.tanh if isinstance(e, ir.TanhVoltage) else ACTIVATIONS[e.function].f
            fixed.append((e.p, e.n, float(e.gain * f(known[e.arg])), None))
    resistors = [e for e in elements if isinstance(e, ir.Resistor)]
    nodes = sorted({x for p, n, _, _ in fixed for x in (p, n)} | {x for r in resistors for x in (r.a, r.b)} - {"0"})
    index = {x: i for i, x in enumerate(nodes)}
    size = len(nodes) + len(fixed)
    a = np.zeros((size, size))
    rhs = np.zeros(size)
    a[range(len(nodes)), range(len(nodes))] = 1e-12  # a node held by open devices only floats near 0
    for r in resistors:
        g = 1.0 / r.resistance
        for x, y in ((r.a, r.b), (r.b, r.a)):
            if x != "0":
                a[index[x], index[x]] += g
                if y != "0":
                    a[index[x], index[y]] -= g
    for j, (p, n, v, _) in enumerate(fixed):
        row = len(nodes) + j
        for x, sign in ((p, 1.0), (n, -1.0)):
            if x != "0":
                a[index[x], row] += sign
                a[row, index[x]] += sign
        rhs[row] = v
    sol = np.linalg.lstsq(a, rhs, rcond=None)[0]
    delivered = {name: -float(sol[len(nodes) + j]) for j, (_, _, _, name) in enumerate(fixed) if name}
    low, high = swing
    out = []
    for e in elements:
        if e.name in delivered:
            params = tuple((k, min(max(v + rout * delivered[e.name], low), high) if k == "v0" else v)
                           for k, v in e.params)
            e = replace(e, params=params)
        out.append(e)
    return out
