"""IR element -> KiCad part: the symbol, the net of each pin and KiCad's simulation fields.

The mapping half of the KiCad writer (:mod:`rnn2spice.circuit.kicad` lays the parts out and
writes the files).  Every IR element is one :class:`Part` whose reference is the element's
name (KiCad writes it as the SPICE name).  Resistors, DC and waveform sources are KiCad's own
models (``Sim.Device`` R, V, I with ``Sim.Type`` SIN, PULSE, PWL); capacitors and inductors
(their ``IC=``), controlled sources (E, F, G, H) and behavioural sources (B) are KiCad's
raw-SPICE elements, as its own simulation library draws them; an ideal op-amp (the VCVS
``E.. out 0 0 in- A``) is an op-amp symbol over a subcircuit and a gyrator the netlist
writer's gyrator subcircuit, both from the model library beside the schematic.

**Numbers.**  KiCad copies a raw-SPICE model text verbatim unless it is one bare number, and
re-prints a number it parses (source parameters, a bare model number) with 6 significant
digits unless it is a plain non-negative decimal, which it copies.  So every number KiCad
parses is written as the shortest plain decimal that reads back as the same double
(:func:`plain`), and a negative one is avoided by an equivalent connection: a VCCS, current
source, DC source or gyrator with its two output pins (a VCVS: its control pins) swapped and
the magnitude, a sine with its phase turned by 180 degrees; a PULSE or PWL source whose values
change sign and a negative resistor are raw-SPICE elements (text verbatim).  Raw texts use
:func:`rnn2spice.circuit.writer.fmt`, what the netlist writer writes.  Shown values
(``Value``) are for reading only (4 digits); they describe the part as connected.

Real parts (issue 21): an op-amp subcircuit instance is a 5-pin op-amp symbol (``Sim.Device``
SUBCKT, ``Sim.Library``, ``Sim.Name``, ``Sim.Pins`` by the definition's pin names), BJTs and
diodes raw-SPICE Q and D elements naming their ``.model`` with ``lib``; the definitions (model
cards, macro-models, user subcircuits) are text of the model library, as the netlist writer
writes them.  A new element kind is one method of :class:`Mapper` and an entry of ``_METHODS``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.circuit.spicenum import tanh_gain_texts
from rnn2spice.circuit.writer import _METHODS as WRITER_METHODS  # the writer's method of each definition
from rnn2spice.circuit.writer import EXPRESSIONS, NetlistWriter, fmt
from rnn2spice.errors import NetlistError
from rnn2spice.network.waveform import Pulse, Pwl, Sine, Step

#: The ideal op-amp subcircuit (v(out) = a (v(inp) - v(inn))) in the model library.
OPAMP_SUBCKT = (".subckt rnn2spice_opamp inp inn out a=100000", "E_1 out 0 inp inn {a}", ".ends rnn2spice_opamp")
NET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,63}\Z")


@dataclass(frozen=True)
class Part:
    """One symbol on the sheet: ``nets[i]`` is the net of pin ``i + 1`` ("0": ground)."""

    symbol: str
    ref: str
    value: str
    nets: tuple[str, ...]
    sim: tuple[tuple[str, str], ...]


def plain(x: float) -> str:
    """The shortest plain decimal (no sign, no exponent) that reads back as ``x`` >= 0: the
    only number text KiCad copies into its netlist unchanged (module docstring)."""
    fmt(x)  # the checks (a finite number)
    if not x >= 0:
        raise NetlistError(f"internal: {x!r} is negative where KiCad needs a plain decimal")
    return np.format_float_positional(float(x), unique=True, trim="-")


def eng(x: float, unit: str) -> str:
    """A short value for reading on the sheet (4 significant digits, SI prefix): ``1.5k``."""
    if x == 0 or not math.isfinite(x):
        return f"0{unit}"
    exp = min(max(int(math.floor(math.log10(abs(x)) / 3)), -5), 4)
    prefix = {-5: "f", -4: "p", -3: "n", -2: "u", -1: "m", 0: "", 1: "k", 2: "M", 3: "G", 4: "T"}[exp]
    return f"{x / 1000.0 ** exp:.4g}{prefix}{unit}"


def _params(**values: str) -> str:
    """``Sim.Params`` text: ``type="G" model="..."`` (values quoted only where KiCad needs it)."""
    return " ".join(f'{k}="{v}"' if k in ("type", "model", "pwl", "lib") else f"{k}={v}" for k, v in values.items())


def _raw(spice_type: str, model: str, pins: int) -> tuple[tuple[str, str], ...]:
    """A raw-SPICE element: ``<type><ref> <nodes of pins 1..> <model>``."""
    return (("Sim.Device", "SPICE"), ("Sim.Params", _params(type=spice_type, model=model)),
            ("Sim.Pins", " ".join(f"{i}={i}" for i in range(1, pins + 1))))


def _source(device: str, kind: str | None, params: str) -> tuple[tuple[str, str], ...]:
    fields = [("Sim.Device", device)] + ([("Sim.Type", kind)] if kind else [])
    return tuple(fields + [("Sim.Params", params), ("Sim.Pins", "1=+ 2=-")])


def reference(name: str) -> str:
    """The KiCad reference (and so the SPICE name in KiCad's netlist) of element ``name``: the
    name itself, or with ``_1`` appended when it does not end in a digit (``VREFP``): KiCad
    takes a reference without a number for an unannotated symbol."""
    return name if name[-1:].isdigit() else f"{name}_1"


class Mapper:
    """IR element -> :class:`Part` (one method per element kind; the hook for new kinds)."""

    def __init__(self, net, library: str):
        self.net = net              # node -> net name (rename applied, checked)
        self.library = library      # the model library's file name
        self.subcircuits: set[str] = set()
        #: definitions (model cards, op-amp macro-models, user subcircuits): name -> element, in
        #: order; the model library holds their text as the netlist writer writes it
        self.definitions: dict[str, object] = {}

    def define(self, elements) -> None:
        """Collect the definitions first: an instance's pins are named by its definition."""
        for e in elements:
            if isinstance(e, ir.DEFINITIONS):
                self.definitions[e.name] = e

    def library_lines(self) -> list[str]:
        w = NetlistWriter()
        return [line for e in self.definitions.values() for line in
                getattr(w, WRITER_METHODS[type(e)])(e).split("\n")]

    def parts(self, e) -> list[Part]:
        if isinstance(e, ir.VccsBlock):
            return [p for x in e.expand() for p in self.parts(x)]
        method = _METHODS.get(type(e))
        if method is None:
            raise NetlistError(f"the KiCad writer has no symbol for element {getattr(e, 'name', e)!r} "
                               f"({type(e).__name__})")
        part = getattr(self, method)(e)
        return part if isinstance(part, list) else [part]

    def _part(self, symbol: str, e, value: str, nodes, sim) -> Part:
        if not (isinstance(e.name, str) and NET.match(e.name)):
            raise NetlistError(f"invalid element name {e.name!r}")
        return Part(symbol, reference(e.name), value, tuple(self.net(n) for n in nodes), tuple(sim))

    def resistor(self, e: ir.Resistor) -> Part:
        r = float(e.resistance)
        if r > 0:
            return self._part("R", e, eng(r, "Ω"), (e.a, e.b), _source("R", None, f"r={plain(r)}"))
        return self._part("R", e, eng(r, "Ω"), (e.a, e.b), _raw("R", f"r={fmt(r)}", 2))

    def capacitor(self, e: ir.Capacitor) -> Part:
        return self._part("C", e, eng(e.capacitance, "F"), (e.a, e.b),
                          _raw("C", f"{fmt(e.capacitance)} IC={fmt(e.ic)}", 2))

    def inductor(self, e: ir.Inductor) -> Part:
        return self._part("L", e, eng(e.inductance, "H"), (e.a, e.b),
                          _raw("L", f"{fmt(e.inductance)} IC={fmt(e.ic)}", 2))

    def vccs(self, e: ir.Vccs) -> Part:
        g = float(e.gm)
        out = (e.src, e.dst) if g >= 0 else (e.dst, e.src)  # -g from a to b = g from b to a
        return self._part("G", e, eng(abs(g), "S"), (*out, e.ctrl_p, e.ctrl_n), _raw("G", plain(abs(g)), 4))

    def vcvs(self, e: ir.Vcvs) -> Part:
        a = float(e.gain)
        if e.n == "0" and e.ctrl_p == "0" and a > 0:  # v(out) = -A v(in-): an op-amp, + input grounded
            self.subcircuits.add("opamp")
            return self._part("OPAMP", e, f"ideal A={eng(a, '')}", ("0", e.ctrl_n, e.p),
                              (("Sim.Device", "SUBCKT"), ("Sim.Library", self.library), ("Sim.Name", "rnn2spice_opamp"),
                               ("Sim.Params", f"a={plain(a)}"), ("Sim.Pins", "1=inp 2=inn 3=out")))
        ctrl = (e.ctrl_p, e.ctrl_n) if a >= 0 else (e.ctrl_n, e.ctrl_p)  # -a V(c+, c-) = a V(c-, c+)
        return self._part("E", e, eng(abs(a), ""), (e.p, e.n, *ctrl), _raw("E", plain(abs(a)), 4))

    def cccs(self, e: ir.Cccs) -> Part:
        return self._part("F", e, f"{eng(e.gain, '')} I({e.sense})", (e.src, e.dst),
                          _raw("F", f"{self._sense(e.sense)} {fmt(e.gain)}", 2))

    def ccvs(self, e: ir.Ccvs) -> Part:
        return self._part("H", e, f"{eng(e.r, 'Ω')} I({e.sense})", (e.p, e.n),
                          _raw("H", f"{self._sense(e.sense)} {fmt(e.r)}", 2))

    def current_source(self, e: ir.CurrentSource) -> Part:
        i = float(e.dc)
        pins = (e.src, e.dst) if i >= 0 else (e.dst, e.src)
        return self._part("I", e, eng(abs(i), "A"), pins, _source("I", None, f"dc={plain(abs(i))}"))

    def voltage_source(self, e: ir.VoltageSource) -> Part:
        flip, kind, params, value = self._waveform(e)
        if kind == "raw":
            return self._part("V", e, value, (e.p, e.n), _raw("V", params, 2))
        if e.ac:
            params += f" ac={plain(abs(float(e.ac)))}" + (" ph=180" if (e.ac < 0) != flip else "")
        return self._part("V", e, value, (e.n, e.p) if flip else (e.p, e.n), _source("V", kind, params))

    def _waveform(self, e: ir.VoltageSource) -> tuple[bool, str | None, str, str]:
        """(pins swapped, Sim.Type or "raw", Sim.Params or the raw model text, shown value)."""
        w = e.waveform
        if w is None:
            return e.dc < 0, None, f"dc={plain(abs(float(e.dc)))}", eng(abs(float(e.dc)), "V")
        if isinstance(w, Sine):
            flip = w.offset < 0
            offset, amplitude, phase = (-w.offset, -w.amplitude, w.phase) if flip else (w.offset, w.amplitude, w.phase)
            if amplitude < 0:  # -a sin(x) = a sin(x + 180 degrees)
                amplitude, phase = -amplitude, phase + 180.0
            phase = math.fmod(phase, 360.0) + (360.0 if math.fmod(phase, 360.0) < 0 else 0.0)
            return flip, "SIN", (f"dc={plain(offset)} ampl={plain(amplitude)} f={plain(w.frequency)} td=0 theta=0 "
                                 f"phase={plain(phase)}"), f"sine {eng(amplitude, 'V')} {eng(w.frequency, 'Hz')}"
        if isinstance(w, Pulse):
            values = (w.low, w.high)
            times = (w.delay, w.rise, w.fall, w.width, w.period)
            shown = f"pulse {eng(w.low, 'V')}..{eng(w.high, 'V')}"
            flip = max(values) <= 0 and min(values) < 0
            if min(values) >= 0 or flip:
                y1, y2 = (abs(v) for v in values)
                shown = f"pulse {eng(y1, 'V')}..{eng(y2, 'V')}"
                return flip, "PULSE", (f"y1={plain(y1)} y2={plain(y2)} " + " ".join(
                    f"{k}={plain(t)}" for k, t in zip(("td", "tr", "tf", "tw", "per"), times))), shown
            return False, "raw", f"DC {fmt(e.dc)} {NetlistWriter().waveform(w)}", shown
        if isinstance(w, (Step, Pwl)):
            times, values = ((w.at, w.at + w.rise), (0.0, w.value_after)) if isinstance(w, Step) else (w.times, w.values)
            values = [float(v) for v in values]
            flip = max(values) <= 0 and min(values) < 0
            shown = f"PWL {len(values)} points"
            if min(values) >= 0 or flip:
                pairs = " ".join(f"{plain(float(t))} {plain(abs(v))}" for t, v in zip(times, values))
                return flip, "PWL", _params(pwl=pairs), shown
            text = NetlistWriter().waveform(w).replace("\n+ ", " ")  # one line: a KiCad field
            return False, "raw", f"DC {fmt(e.dc)} {text}", shown
        raise NetlistError(f"unknown waveform {type(w).__name__} of {e.name!r}")

    def behavioural(self, e) -> Part:
        template = EXPRESSIONS.get(e.function) if isinstance(e.function, str) else None
        if template is None:
            raise NetlistError(f"no SPICE expression for activation {e.function!r} of {e.name!r}")
        fmt(e.gain)
        g, m = tanh_gain_texts(float(e.gain))
        current = isinstance(e, (ir.TanhCurrent, ir.ActivationCurrent))
        kind, pins = ("I", (e.src, e.dst)) if current else ("V", (e.p, e.n))
        model = f"{kind}={g}*" + template.format(a=self.net(e.arg)) + f" m={m}"
        return self._part("BI" if current else "BV", e, f"{eng(e.gain, 'A' if current else 'V')} {e.function}",
                          (*pins, e.arg), _raw("B", model, 2))

    def gyrator(self, e: ir.Gyrator) -> Part:
        self.subcircuits.add("gyrator")
        g = float(e.g)
        pins = (e.a, e.b) if g >= 0 else (e.b, e.a)  # a gyrator of -g from a to b is one of g from b to a
        return self._part("GYRATOR", e, f"gyrator {eng(abs(g), 'S')}", pins,
                          (("Sim.Device", "SUBCKT"), ("Sim.Library", self.library), ("Sim.Name", "gyrator"),
                           ("Sim.Params", f"g={plain(abs(g))}"), ("Sim.Pins", "1=a 2=b")))

    # ------------------------------------------------------------------ real parts (issue 21)

    def definition(self, e) -> list:
        """Model cards, macro-models, user subcircuits: text of the model library, no symbol."""
        return []

    def instance(self, e) -> Part:
        """A subcircuit instance: an op-amp (5 pins: +in -in V+ V- out) or a box of its pins,
        ``Sim.Device`` SUBCKT from the model library; its parameters in ``Sim.Params``
        (a negative one KiCad re-prints with 6 digits)."""
        d = self.definitions.get(e.subckt)
        if isinstance(d, ir.OpAmpMacro):
            pins = ("inp", "inn", "vcc", "vee", "out")
        elif isinstance(d, ir.SubcircuitText):
            pins = tuple(d.pins)
        else:
            raise NetlistError(f"instance {e.name!r}: no definition of subcircuit {e.subckt!r} in the circuit")
        if len(pins) != len(e.nodes) or len(pins) != 5:
            raise NetlistError(f"the KiCad writer draws 5-pin op-amp subcircuits only (instance {e.name!r}: "
                               f"{len(e.nodes)} pins)")
        params = " ".join(f"{k}={plain(abs(v)) if v >= 0 else fmt(v)}" for k, v in e.params)
        self.subcircuits.add("definitions")
        return self._part("OPAMP5", e, e.subckt, e.nodes,
                          (("Sim.Device", "SUBCKT"), ("Sim.Library", self.library), ("Sim.Name", e.subckt),
                           *((("Sim.Params", params),) if params else ()),
                           ("Sim.Pins", " ".join(f"{i}={p}" for i, p in enumerate(pins, 1)))))

    def bjt(self, e) -> Part:
        self.subcircuits.add("definitions")
        return self._part("NPN", e, e.model, (e.c, e.b, e.e),
                          (("Sim.Device", "SPICE"), ("Sim.Params", _params(type="Q", model=e.model, lib=self.library)),
                           ("Sim.Pins", "1=1 2=2 3=3")))

    def diode(self, e) -> Part:
        self.subcircuits.add("definitions")
        return self._part("D", e, e.model, (e.a, e.k),
                          (("Sim.Device", "SPICE"), ("Sim.Params", _params(type="D", model=e.model, lib=self.library)),
                           ("Sim.Pins", "1=1 2=2")))

    def _sense(self, name: str) -> str:
        if not (isinstance(name, str) and NET.match(name) and name[:1].upper() == "V"):
            raise NetlistError(f"invalid sense source name {name!r}")
        return reference(name)


_METHODS = {
    ir.Resistor: "resistor", ir.Capacitor: "capacitor", ir.Inductor: "inductor", ir.Vccs: "vccs",
    ir.Cccs: "cccs", ir.Vcvs: "vcvs", ir.Ccvs: "ccvs", ir.CurrentSource: "current_source",
    ir.VoltageSource: "voltage_source", ir.Gyrator: "gyrator",
    **{kind: "behavioural" for kind in ir.BEHAVIOURAL},
    ir.Instance: "instance", ir.Bjt: "bjt", ir.Diode: "diode",
    **{kind: "definition" for kind in ir.DEFINITIONS},
}


def group_of(name: str) -> str:
    """The block an element is drawn in: ``inputs`` (input sources, their inverters and the
    references), the neuron of its name's first index (``G_3_7``: 3; parts.py's naming
    scheme), or ``shared``."""
    if name.startswith(("Vx_", "VREF")) or "XI_" in name:
        return "inputs"
    found = re.search(r"_(\d+)", name)
    return f"neuron {int(found.group(1))}" if found else "shared"

