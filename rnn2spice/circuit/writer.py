"""The only place that knows SPICE syntax: :class:`Circuit` IR -> ngspice netlist text.

Output is deterministic: elements in the order the compiler gave, ``\\n`` line ends and a
newline after ``.end``.  Numbers are written so that ngspice reads back the intended
double (:mod:`rnn2spice.circuit.spicenum`): ``'.17g'`` when ngspice's own parser reads that
text exactly, else another decimal string of the same double that it does read exactly
(every string is also read exactly by Python, and numpy 2 scalars never print as
``np.float64(...)``).  Device and analysis values are chosen for ngspice's device parser,
``.options`` values for its front-end parser, a gyrator's ``g=`` for the subcircuit
parameter path; a behavioural source's gain ``G*M`` is split between the expression
(``G``: ngspice reprints numbers there with 11 digits) and its ``m=M`` multiplier, chosen
so that ngspice's product is exactly the gain.  Every name and
node is checked against a strict pattern before it is written, so no text other than
compiler-made identifiers and numbers can reach the netlist.

The module is a little over 400 lines on purpose: it is the one place that knows syntax, so
the real parts' cards (transistor, diode, model card, op-amp macro-model, subcircuit instance)
live here with the others rather than in a second writer.
"""

from __future__ import annotations

import math
import re

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.circuit.spicenum import spice_text, tanh_gain_texts, text_lines
from rnn2spice.errors import NetlistError
from rnn2spice.network.waveform import Pulse, Pwl, Sine, Step

_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,63}\Z")
_TITLE = re.compile(r"[A-Za-z0-9 _:.()=,+/-]{1,120}\Z")
_COMMENT = re.compile(r"[A-Za-z0-9 _:.()=,+/*'|<>\[\]-]{0,200}\Z")
_PAIRS_PER_LINE = 6
_PROBE_LETTER = {"voltage": "v", "current": "i"}

#: Ideal gyrator (THEORY.md section 2) from two VCCS: i_a = g v_b, i_b = -g v_a.
GYRATOR_SUBCKT = (
    ".subckt gyrator a b g=1",
    "G_a 0 a b 0 {g}",
    "G_b 0 b a 0 {-g}",
    ".ends gyrator",
)


#: activation -> its ngspice expression of the argument ``{a}`` (a node name), one token (no
#: blanks), finite for every finite argument: sigmoid as 1/2 + tanh(z/2)/2 (no exp to
#: overflow, and ngspice's symbolic derivative stays finite), softplus as
#: uramp(z) + ln(1 + exp(-|z|)); relu is ``uramp`` (ngspice's derivative at 0 is 1/2, which
#: only its Newton iteration sees).  The reader keeps its own copy (circuit/reader.py).
EXPRESSIONS = {
    "tanh": "tanh(V({a}))",
    "relu": "uramp(V({a}))",
    "sigmoid": "(0.5+0.5*tanh(0.5*V({a})))",
    "softplus": "(uramp(V({a}))+ln(1+exp(-abs(V({a})))))",
}


def fmt(x: float, path: str = "device") -> str:
    """Locale-free text of a finite float that Python and ngspice's ``path`` parser
    ('device', 'option' or 'numparam', see :mod:`~rnn2spice.circuit.spicenum`) both read
    back as ``x`` (ngspice: the nearest it can for the ~2 % of doubles its parser cannot
    produce from any text Python reads as ``x``)."""
    if isinstance(x, (str, bytes)):  # float() would parse text: only numbers pass
        raise NetlistError(f"refusing to write text {x!r} where a number belongs")
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise NetlistError(f"refusing to write {x!r} where a number belongs") from None
    if not math.isfinite(x):
        raise NetlistError(f"refusing to write a non-finite number {x!r} into a netlist")
    return spice_text(x, path)


def _tanh_gain(gain: float) -> tuple[str, str]:
    """Texts (G, M) of a behavioural source's gain: ngspice's small-signal gain G M is
    exactly ``gain`` (:func:`rnn2spice.circuit.spicenum.tanh_gain_texts`)."""
    fmt(gain)  # the checks
    return tanh_gain_texts(float(gain))


def write_netlist(circuit: ir.Circuit) -> str:
    """The ngspice netlist of ``circuit`` as one string."""
    return NetlistWriter().write(circuit)


def library_text() -> str:
    """The part library as one SPICE file (``rnn2spice/circuit/models/rnn2spice.lib``): every
    op-amp macro-model of :mod:`rnn2spice.circuit.partlib` with its data-sheet citation, and
    the 2N3904 and 1N4148 model cards."""
    from rnn2spice.circuit.partlib import DEVICES, MACRO_CG, OPAMPS

    w = NetlistWriter()
    lines = ["* rnn2spice part library (written by rnn2spice.circuit.writer.library_text; do not edit)",
             "* op-amp pins: +in -in V+ V- out; instance parameters vos (input offset, V), v0 (initial output, V)"]
    for part in OPAMPS.values():
        lines.append("* " + "".join(ch if ch.isascii() else "?" for ch in part.citation()))
        lines.extend(w.opamp_macro(ir.OpAmpMacro(part.name, part.gm, part.imax, part.rg, MACRO_CG, part.swing_high,
                                                 part.swing_low, part.rout, part.bias, part.supply_current)).split("\n"))
    for dev in DEVICES.values():
        lines.append(f"* {dev.source}")
        lines.append(w.model_card(ir.ModelCard(dev.name, dev.kind, dev.params)))
    return "\n".join(lines) + "\n"


def vector_name(probe: ir.Probe) -> str:
    """The name ngspice gives the vector of ``probe``, lower case: ``v(h0)``, ``i(vs_0)``.

    The ``.save`` card lists exactly these names, so they are also the keys of the
    simulation result.
    """
    kind = probe.kind if isinstance(probe, ir.Probe) else None
    letter = _PROBE_LETTER.get(kind) if isinstance(kind, str) else None
    if letter is None or not _matches(_IDENT, probe.target):
        raise NetlistError(f"invalid probe {probe!r}")
    return f"{letter}({probe.target.lower()})"


class NetlistWriter:
    """One method per element kind; each docstring shows the SPICE card it writes."""

    def write(self, circuit: ir.Circuit) -> str:
        if not _matches(_TITLE, circuit.title):
            raise NetlistError(f"invalid netlist title {circuit.title!r}")
        lines = [circuit.title]
        for comment in circuit.comments:
            if not _matches(_COMMENT, comment):
                raise NetlistError(f"invalid comment text {comment!r}")
            lines.append(("* " + comment).rstrip())
        if any(isinstance(e, ir.Gyrator) for e in circuit.elements):
            lines.extend(GYRATOR_SUBCKT)
        seen: set[str] = set()
        blocks: dict[str, list[ir.VccsBlock]] = {}  # lower-case name prefix -> the blocks
        for element in circuit.elements:
            if isinstance(element, ir.VccsBlock):
                if len(element):
                    lines.append(self.vccs_block(element, blocks))
                continue
            if type(element) not in _METHODS:
                raise NetlistError(f"unknown circuit element {element!r}")
            key = str(element.name).lower()  # ngspice names are case-insensitive
            if key in seen:
                raise NetlistError(f"duplicate element name {element.name!r}")
            seen.add(key)
            method = getattr(self, _METHODS[type(element)])
            lines.extend(method(element).split("\n"))
        if blocks:
            _block_duplicates(seen, blocks)
        lines.append(self.options(circuit.options))
        if circuit.saves:
            lines.append(".save " + " ".join(self.probe(p) for p in circuit.saves))
        lines.append(self.analysis(circuit.analysis))
        lines.append(".end")
        lines.append("")  # the newline after .end, without copying the text once more
        return "\n".join(lines)

    # ------------------------------------------------------------------ elements

    def resistor(self, e: ir.Resistor) -> str:
        """``R<name> a b resistance``"""
        return self._card(e.name, "R", e.a, e.b, fmt(e.resistance))

    def capacitor(self, e: ir.Capacitor) -> str:
        """``C<name> a b capacitance IC=v0``"""
        return self._card(e.name, "C", e.a, e.b, fmt(e.capacitance), f"IC={fmt(e.ic)}")

    def inductor(self, e: ir.Inductor) -> str:
        """``L<name> a b inductance IC=i0``"""
        return self._card(e.name, "L", e.a, e.b, fmt(e.inductance), f"IC={fmt(e.ic)}")

    def vccs(self, e: ir.Vccs) -> str:
        """``G<name> src dst ctrl+ ctrl- gm`` (current gm V(ctrl+, ctrl-) from src into dst)"""
        return self._card(e.name, "G", e.src, e.dst, self._node(e.ctrl_p), self._node(e.ctrl_n), fmt(e.gm))

    def vccs_block(self, b: ir.VccsBlock, blocks: dict[str, list[ir.VccsBlock]] | None = None) -> str:
        """The cards :meth:`vccs` writes for each element of the block, all at once (numbers
        chosen and lines built in bulk, :func:`~rnn2spice.circuit.spicenum.text_lines`), one per line."""
        if not (_matches(_IDENT, b.prefix) and b.prefix[:1].upper() == "G"):
            raise NetlistError(f"invalid G element name prefix {b.prefix!r}")
        src, dst, ctrl_p, ctrl_n = (self._node(b.src), self._node(b.dst), self._node(b.ctrl_p),
                                    self._node(b.ctrl_n))
        rows, cols = b.rows, b.cols
        if len(rows) and (rows.min() < 0 or cols.min() < 0):
            raise NetlistError(f"negative index in VCCS block {b.prefix!r}")
        big = len(str(int(max(rows.max(), cols.max())))) if len(rows) else 0
        if len(b.prefix) + 2 * big + 2 > 64 or max(len(dst), len(ctrl_p)) + big > 64:
            raise NetlistError(f"VCCS block {b.prefix!r}: names longer than 64 characters")
        if not np.all(np.isfinite(b.gm)):
            raise NetlistError(f"refusing to write a non-finite number into a netlist (VCCS block {b.prefix!r})")
        if blocks is not None:  # names are unique within and across blocks of one prefix
            same = blocks.setdefault(b.prefix.lower(), [])
            same.append(b)
            r = np.concatenate([s.rows for s in same])
            c = np.concatenate([s.cols for s in same])
            key = r * (int(c.max()) + 1) + c
            if not np.all(key[1:] > key[:-1]) and len(np.unique(key)) != len(key):  # sorted: unique
                raise NetlistError(f"duplicate element name in VCCS block {b.prefix!r}")
        p = b.prefix
        return text_lines(f"{p}_", rows, "_", cols, f" {src} {dst}", rows, f" {ctrl_p}", cols, f" {ctrl_n} ", b.gm)

    def cccs(self, e: ir.Cccs) -> str:
        """``F<name> src dst vsense gain``"""
        return self._card(e.name, "F", e.src, e.dst, self._ident(e.sense), fmt(e.gain))

    def vcvs(self, e: ir.Vcvs) -> str:
        """``E<name> p n ctrl+ ctrl- gain``"""
        return self._card(e.name, "E", e.p, e.n, self._node(e.ctrl_p), self._node(e.ctrl_n), fmt(e.gain))

    def ccvs(self, e: ir.Ccvs) -> str:
        """``H<name> p n vsense r``"""
        return self._card(e.name, "H", e.p, e.n, self._ident(e.sense), fmt(e.r))

    def current_source(self, e: ir.CurrentSource) -> str:
        """``I<name> src dst DC i``"""
        return self._card(e.name, "I", e.src, e.dst, "DC", fmt(e.dc))

    def voltage_source(self, e: ir.VoltageSource) -> str:
        """``V<name> p n DC v [AC mag] [PULSE(...) | SIN(...) | PWL(...)]``"""
        parts = ["DC", fmt(e.dc)]
        if e.ac:
            parts += ["AC", fmt(e.ac)]
        if e.waveform is not None:
            parts.append(self.waveform(e.waveform))
        return self._card(e.name, "V", e.p, e.n, *parts)

    def tanh_current(self, e: ir.TanhCurrent) -> str:
        """``B<name> src dst I=G*tanh(V(arg)) m=M`` (gain G M, see :func:`_tanh_gain`)"""
        return self._behavioural(e, "I", e.src, e.dst)

    def tanh_voltage(self, e: ir.TanhVoltage) -> str:
        """``B<name> p n V=G*tanh(V(arg)) m=M`` (gain G M, see :func:`_tanh_gain`)"""
        return self._behavioural(e, "V", e.p, e.n)

    def activation_current(self, e: ir.ActivationCurrent) -> str:
        """``B<name> src dst I=G*<f of V(arg)> m=M``, f from :data:`EXPRESSIONS`, e.g.
        ``I=G*uramp(V(z0)) m=M`` (gain G M, see :func:`_tanh_gain`)"""
        return self._behavioural(e, "I", e.src, e.dst)

    def activation_voltage(self, e: ir.ActivationVoltage) -> str:
        """``B<name> p n V=G*<f of V(arg)> m=M``, e.g. ``V=1*uramp(V(h0)) m=1``"""
        return self._behavioural(e, "V", e.p, e.n)

    def _behavioural(self, e, kind: str, a: str, b: str) -> str:
        template = EXPRESSIONS.get(e.function) if isinstance(e.function, str) else None
        if template is None:
            raise NetlistError(f"no SPICE expression for activation {e.function!r} of {e.name!r}")
        g, m = _tanh_gain(e.gain)
        return self._card(e.name, "B", a, b, f"{kind}={g}*" + template.format(a=self._node(e.arg)), f"m={m}")

    def gyrator(self, e: ir.Gyrator) -> str:
        """``X<name> a b gyrator g=conductance`` (instance of :data:`GYRATOR_SUBCKT`; ``g`` is
        written for numparam's path, see :func:`fmt`)"""
        return self._card(e.name, "X", e.a, e.b, "gyrator", f"g={fmt(e.g, 'numparam')}")

    # ------------------------------------------------------------------ real parts (THEORY.md 11)

    def bjt(self, e: ir.Bjt) -> str:
        """``Q<name> c b e model``"""
        return self._card(e.name, "Q", e.c, e.b, self._node(e.e), self._ident(e.model))

    def diode(self, e: ir.Diode) -> str:
        """``D<name> anode cathode model``"""
        return self._card(e.name, "D", e.a, e.k, self._ident(e.model))

    def model_card(self, e: ir.ModelCard) -> str:
        """``.model name NPN(IS=.. BF=.. ...)`` or ``.model name D(...)``"""
        if e.kind not in ("NPN", "PNP", "D"):
            raise NetlistError(f"unknown device kind {e.kind!r} of model {e.name!r}")
        params = " ".join(f"{self._ident(k).upper()}={fmt(v)}" for k, v in e.params)
        return f".model {self._ident(e.name)} {e.kind}({params})"

    def opamp_macro(self, e: ir.OpAmpMacro) -> str:
        """The library's op-amp macro-model (partlib: a reduced Boyle-type model)::

            .subckt NAME inp inn vcc vee out params: vos=0 v0=0
            IBP inp 0 DC ib / IBN inn 0 DC ib   bias current into each input
            RIN inp inn rin
            B1 0 g I=imax*tanh(gm/imax*(V(inp,inn)-({vos})))   slew-limited transconductance, input offset
            RG g 0 rg / CG g 0 cg IC={v0}      DC gain gm rg, unity gain at gm / (2 pi cg)
            VHI vcc hi DC swing_high / DHI g hi dclamp    output clamps from each rail
            VLO lo vee DC swing_low / DLO lo g dclamp
            EOUT o 0 g 0 1 / ROUT o out rout   buffer, output resistance
            IQ vcc vee DC iq                   supply current
            .ends NAME

        The input offset is a term of B1's argument, not a source ``VOS inp inx`` in series
        with the + input: B1 sensing an internal node behind a voltage source made KLU (which
        keeps the pivot order it chose at t = 0 for the whole transient) stop a 5,000-node
        build with "timestep too small" at an input edge (THEORY.md 11, "The offset inside the
        transconductance").  The two differ only by vos / rin through RIN (3 fA at 3 mV, 1 TOhm).
        """
        name = self._ident(e.name)
        k = e.gm / e.imax
        lines = [f".subckt {name} inp inn vcc vee out params: vos=0 v0=0",
                 f"IBP inp 0 DC {fmt(e.bias)}", f"IBN inn 0 DC {fmt(e.bias)}",
                 f"RIN inp inn {fmt(e.rin)}",
                 # the offset inside the argument: no internal node behind a source (docstring)
                 f"B1 0 g I={fmt(e.imax)}*tanh({fmt(k)}*(V(inp,inn)-({{vos}})))",
                 f"RG g 0 {fmt(e.rg)}", f"CG g 0 {fmt(e.cg)} IC={{v0}}",
                 f"VHI vcc hi DC {fmt(e.swing_high)}", f"VLO lo vee DC {fmt(e.swing_low)}",
                 "DHI g hi dclamp", "DLO lo g dclamp",
                 # a sharp clamp (n = 0.05: the knee is ~30 mV wide), it carries at most imax
                 ".model dclamp D(IS=1e-15 N=0.05)",
                 "EOUT o 0 g 0 1", f"ROUT o out {fmt(e.rout)}",
                 f"IQ vcc vee DC {fmt(e.supply_current)}",
                 f".ends {name}"]
        return "\n".join(lines)

    def subcircuit_text(self, e: ir.SubcircuitText) -> str:
        """A user's subcircuit, its lines as read, after scanning them again here (no user
        text reaches the netlist unvalidated: :func:`rnn2spice.circuit.usermodel.scan_lines`)."""
        from rnn2spice.circuit.usermodel import scan_lines  # the scanner shares this layer
        scan_lines(e.lines, "subcircuit " + repr(e.name))
        return "\n".join(e.lines)

    def instance(self, e: ir.Instance) -> str:
        """``X<name> node... subckt [key=value ...]`` (values for numparam's path)"""
        nodes = [self._node(n) for n in e.nodes]
        params = [f"{self._ident(k)}={fmt(v, 'numparam')}" for k, v in e.params]
        return self._card(e.name, "X", nodes[0], nodes[1], *nodes[2:], self._ident(e.subckt), *params)

    # ------------------------------------------------------------------ sources

    def waveform(self, w) -> str:
        """``PULSE(low high delay rise fall width period)``, ``SIN(offset amp freq 0 0 phase)``
        or ``PWL(t1 v1 t2 v2 ...)`` (continued over ``+`` lines)."""
        if isinstance(w, Pulse):
            return "PULSE(" + " ".join(fmt(x) for x in (w.low, w.high, w.delay, w.rise, w.fall, w.width, w.period)) + ")"
        if isinstance(w, Sine):
            return "SIN(" + " ".join(fmt(x) for x in (w.offset, w.amplitude, w.frequency, 0.0, 0.0, w.phase)) + ")"
        if isinstance(w, Step):
            times, values = (w.at, w.at + w.rise), (0.0, w.value_after)
        elif isinstance(w, Pwl):
            times, values = w.times, w.values
        else:
            raise NetlistError(f"unknown waveform {type(w).__name__}")
        pairs = [f"{fmt(t)} {fmt(v)}" for t, v in zip(times, values)]
        chunks = [" ".join(pairs[i:i + _PAIRS_PER_LINE]) for i in range(0, len(pairs), _PAIRS_PER_LINE)]
        return "PWL(" + "\n+ ".join(chunks) + ")"

    # ------------------------------------------------------------------ control cards

    def options(self, o: ir.Options) -> str:
        """``.options reltol=.. abstol=.. vntol=.. chgtol=.. trtol=.. [temp=..]``"""
        return (f".options reltol={fmt(o.reltol, 'option')} abstol={fmt(o.abstol, 'option')} "
                f"vntol={fmt(o.vntol, 'option')} chgtol={fmt(o.chgtol, 'option')} trtol={fmt(o.trtol, 'option')}"
                + ("" if getattr(o, "temp", None) is None else f" temp={fmt(o.temp, 'option')}")
                + ("" if getattr(o, "method", None) is None else f" method={self._method(o.method)}"))

    def _method(self, method: str) -> str:
        if method != "gear":
            raise NetlistError(f"unknown integration method {method!r}")
        return method

    def analysis(self, a) -> str:
        """``.tran step stop 0 max_step uic`` or ``.ac dec points f_start f_stop``"""
        if isinstance(a, ir.Transient):
            return f".tran {fmt(a.step)} {fmt(a.stop)} 0 {fmt(a.max_step)} uic"
        if isinstance(a, ir.AcSweep):
            points = a.points_per_decade
            if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or not points > 0:
                raise NetlistError(f"invalid points per decade {points!r}")
            return f".ac dec {int(points)} {fmt(a.f_start)} {fmt(a.f_stop)}"
        if isinstance(a, ir.DcSweep):
            return f".dc {self._ident(a.source)} {fmt(a.start)} {fmt(a.stop)} {fmt(a.step)}"
        raise NetlistError(f"unknown analysis {type(a).__name__}")

    def probe(self, p: ir.Probe) -> str:
        """``v(node)`` or ``i(vsource)``: one word of the ``.save`` card (see :func:`vector_name`)"""
        return vector_name(p)

    # ------------------------------------------------------------------ checks

    def _card(self, name: str, letter: str, a: str, b: str, *rest: str) -> str:
        if not _matches(_IDENT, name) or name[:1].upper() != letter:
            raise NetlistError(f"invalid {letter} element name {name!r}")
        return " ".join((name, self._node(a), self._node(b)) + rest)

    def _node(self, node: str) -> str:
        if not _matches(_IDENT, node):
            raise NetlistError(f"invalid node name {node!r}")
        return node

    def _ident(self, name: str) -> str:
        if not _matches(_IDENT, name):
            raise NetlistError(f"invalid identifier {name!r}")
        return name


def _block_duplicates(seen: set[str], blocks: dict[str, list[ir.VccsBlock]]) -> None:
    """NetlistError if an element's (lower-case) name is also a name in a VCCS block."""
    for key in seen:
        head, _, col = key.rpartition("_")
        prefix, _, row = head.rpartition("_")
        if (prefix in blocks and row.isdigit() and col.isdigit() and str(int(row)) == row
                and str(int(col)) == col and any(np.any((b.rows == int(row)) & (b.cols == int(col)))
                                                  for b in blocks[prefix])):
            raise NetlistError(f"duplicate element name {key!r}")


def _matches(pattern: re.Pattern, text: object) -> bool:
    """``pattern`` matches all of ``text``, which must be a str (not bytes, not a number)."""
    return isinstance(text, str) and pattern.match(text) is not None


_METHODS = {
    ir.Resistor: "resistor", ir.Capacitor: "capacitor", ir.Inductor: "inductor",
    ir.Vccs: "vccs", ir.Cccs: "cccs", ir.Vcvs: "vcvs", ir.Ccvs: "ccvs",
    ir.CurrentSource: "current_source", ir.VoltageSource: "voltage_source",
    ir.TanhCurrent: "tanh_current", ir.TanhVoltage: "tanh_voltage", ir.Gyrator: "gyrator",
    ir.ActivationCurrent: "activation_current", ir.ActivationVoltage: "activation_voltage",
    ir.Bjt: "bjt", ir.Diode: "diode", ir.ModelCard: "model_card", ir.OpAmpMacro: "opamp_macro",
    ir.SubcircuitText: "subcircuit_text", ir.Instance: "instance",
}
