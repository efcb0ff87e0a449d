"""Equivalence certificate: read an emitted netlist back and prove it realises the spec.

The certificate does not trust the compiler or the IR.  It parses the netlist TEXT with a
strict reader for exactly the subset of SPICE that :mod:`rnn2spice.netlist` writes, builds
the circuit's modified nodal equations from the elements alone, eliminates every algebraic
unknown and compares the resulting state equations with the spec (THEORY.md sections 1-4):

    circuit:  dy/dt = A_c y + B_c u + c_c        y = the saved probes (.save), u = Vx_<l>
    spec:     dh/dt = A h + w_in x + c           A = w - lam  (spec.state_matrix())

Pass when ``max|A_c - A| / max|A|`` and ``max|B_c - w_in| / max|w_in|`` are both at most
``tolerance`` (default 1e-12); the constant drive (linear networks) and, for a transient,
the initial state are checked the same way.

Modified nodal analysis (MNA), written ``E x' = M x + N u + b``:

* unknowns ``x``: every non-ground node voltage, and the branch current of every V, E, H,
  L element and behavioural voltage source (current from its first node through the
  element to its second);
* node rows are KCL: ``C v' = -(currents leaving the node) + (currents injected)``;
* branch rows are the element's voltage law; an inductor's row is ``L j' = v_a - v_b``.

The unknowns with a capacitor or inductor (``E`` is diagonal on them: capacitors must be
grounded) are the state ``x_d``; the rest ``x_a`` are algebraic and are eliminated:
``x_a = -M_aa^-1 (M_ad x_d + N_a u + b_a)``.  The probes ``y = P x_d`` (a permutation
with signs, in practice) then give ``A_c = P A_x P^-1``.

Nonlinear sources ``B .. I=g*tanh(V(z))`` / ``V=g*tanh(V(z))`` are linearised with the
Jacobian at 0 (``tanh'(0) = 1``): a VCCS / VCVS of gain ``g`` controlled by ``V(z)``.
For tanh networks the constant sources (the bias) do not enter the linearisation, so the
drive is not compared.  A gyrator instance is its two VCCS (:data:`GYRATOR_TEXT`).
"""

from __future__ import annotations

import math
import re
import stat
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import warnings

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg
from threadpoolctl import threadpool_limits

from rnn2spice.circuit import ir
from rnn2spice.errors import NetlistError, Rnn2SpiceError
from rnn2spice.network.waveform import Pulse, Pwl, Sine

#: Default pass threshold on the relative discrepancies.
TOLERANCE = 1e-12
#: A saved probe may depend on an input directly only at round-off level (relative).
_FEEDTHROUGH_TOL = 1e-12

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUM_RE = re.compile(_NUM + r"\Z")
_IDENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,63}\Z")
_TITLE_RE = re.compile(r"[A-Za-z0-9 _:.()=,+/-]{1,120}\Z")
_COMMENT_RE = re.compile(r"\*(?: [A-Za-z0-9 _:.()=,+/*'|<>\[\]-]{0,200})?\Z")
_PRINTABLE_RE = re.compile(r"[\x20-\x7e\t]*\Z")
_V_REST_RE = re.compile(
    rf"DC\s+({_NUM})(?:\s+AC\s+({_NUM}))?(?:\s+(PULSE|SIN|PWL)\s*\(([^()]*)\))?\s*\Z", re.IGNORECASE)
_B_RE = re.compile(rf"([IV])=({_NUM})\*tanh\(V\(([A-Za-z0-9][A-Za-z0-9_]{{0,63}})\)\)\Z", re.IGNORECASE)
_PROBE_RE = re.compile(r"([vi])\(([A-Za-z0-9][A-Za-z0-9_]{0,63})\)\Z", re.IGNORECASE)
_INPUT_RE = re.compile(r"vx_(\d{1,6})\Z")
_OPTION_KEYS = ("reltol", "abstol", "vntol", "chgtol", "trtol")
_ELEMENT_LETTERS = "RCLGFEHIVBX"
#: The one subcircuit accepted, modelled below as its two VCCS: i_a = g v_b, i_b = -g v_a
#: (THEORY.md section 2).  Kept here, not imported from the writer, so that a change there
#: is refused instead of silently mis-modelled.
GYRATOR_TEXT = (
    ".subckt gyrator a b g=1",
    "G_a 0 a b 0 {g}",
    "G_b 0 b a 0 {-g}",
    ".ends gyrator",
)
#: Nodes ngspice treats as ground besides "0": refused, so the reader can never disagree.
_GROUND_ALIASES = ("gnd",)


# =========================================================================== parsing

@dataclass(frozen=True, eq=False)
class ParsedNetlist:
    """The netlist as read back: IR elements (names and nodes lower-cased, as ngspice
    reads them), the control cards, and the line number of every element."""

    title: str
    elements: tuple[ir.Element, ...]
    line_of: dict            # element name (lower case) -> line number (1-based)
    options: dict            # key -> float
    saves: tuple[str, ...]   # lower-case probes, e.g. 'v(h0)', 'i(vs_0)'
    analysis: ir.Transient | ir.AcSweep
    has_gyrator_subckt: bool
    text_of: dict = field(default_factory=dict)  # line number -> text (continuations joined)

    def fail(self, name: str, problem: str) -> NetlistError:
        """A :class:`NetlistError` naming the line of element ``name``."""
        lineno = self.line_of[name]
        return _fail(lineno, self.text_of.get(lineno, name), problem)

    def counts(self) -> dict:
        """Element counts of the netlist (what it costs to build)."""
        out = {"elements": len(self.elements)}
        kinds = {ir.Resistor: "resistors", ir.Capacitor: "capacitors", ir.Inductor: "inductors",
                 ir.Vccs: "vccs", ir.Cccs: "cccs", ir.Vcvs: "vcvs", ir.Ccvs: "ccvs",
                 ir.CurrentSource: "current_sources", ir.VoltageSource: "voltage_sources",
                 ir.TanhCurrent: "behavioural_sources", ir.TanhVoltage: "behavioural_sources",
                 ir.Gyrator: "gyrators"}
        for key in dict.fromkeys(kinds.values()):
            out[key] = 0
        for e in self.elements:
            out[kinds[type(e)]] += 1
        out["negative_resistors"] = sum(1 for e in self.elements
                                        if isinstance(e, ir.Resistor) and e.resistance < 0)
        return out


def _fail(lineno: int, text: str, problem: str) -> NetlistError:
    shown = text if len(text) <= 100 else text[:97] + "..."
    return NetlistError(f"netlist line {lineno}: {problem}: {shown!r}")


def parse_netlist(text: str) -> ParsedNetlist:
    """Parse netlist text; anything outside the subset raises :class:`NetlistError`
    naming the line number and its text."""
    if not isinstance(text, str):
        raise NetlistError("netlist must be text")
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    physical = [line[:-1] if line.endswith("\r") else line for line in physical]
    if not physical:
        raise NetlistError("netlist is empty")
    for i, line in enumerate(physical, start=1):
        if not _PRINTABLE_RE.match(line):
            raise _fail(i, line, "control or non-ASCII characters are outside the netlist subset")
    title = physical[0]
    if not _TITLE_RE.match(title) or title.startswith("."):
        raise _fail(1, title, "title line must be plain text ([A-Za-z0-9 _:.()=,+/-], not starting with '.')")

    # Join '+' continuation lines (only PWL sources of V cards use them).
    logical: list[tuple[int, str]] = []
    for i, line in enumerate(physical[1:], start=2):
        stripped = line.strip()
        if stripped and line[0] in " \t":
            raise _fail(i, line, "a card must start in the first column")
        if stripped.startswith("+"):
            if not logical or logical[-1][1][:1].upper() != "V":
                raise _fail(i, line, "'+' continuation line that does not continue a V source")
            lineno, prev = logical[-1]
            logical[-1] = (lineno, prev + " " + stripped[1:].strip())
        else:
            logical.append((i, line))

    elements: list[ir.Element] = []
    line_of: dict[str, int] = {}
    options: dict[str, float] = {}
    saves: list[str] = []
    save_line: dict[str, int] = {}
    analysis = None
    subckt = False
    ended = False
    it = iter(range(len(logical)))
    for idx in it:
        lineno, line = logical[idx]
        stripped = line.strip()
        if ended:
            if stripped:
                raise _fail(lineno, line, "text after .end")
            continue
        if not stripped:
            continue
        if stripped.startswith("*"):
            if not _COMMENT_RE.match(stripped):
                raise _fail(lineno, line, "comment text outside the netlist subset")
            continue
        if stripped.startswith("."):
            card = stripped.split()[0].lower()
            if card == ".subckt":
                block = [logical[idx + k][1].strip() if idx + k < len(logical) else "" for k in range(4)]
                if [" ".join(b.split()).lower() for b in block] != [s.lower() for s in GYRATOR_TEXT]:
                    raise _fail(lineno, line, "the only subcircuit allowed is rnn2spice's gyrator, exactly "
                                              "'" + " / ".join(GYRATOR_TEXT) + "'")
                if subckt:
                    raise _fail(lineno, line, "gyrator subcircuit defined twice")
                subckt = True
                for _ in range(3):
                    next(it)
            elif card == ".options":
                if options:
                    raise _fail(lineno, line, "second .options card")
                options.update(_parse_options(lineno, line))
            elif card == ".save":
                for tok in stripped.split()[1:]:
                    m = _PROBE_RE.match(tok)
                    if not m:
                        raise _fail(lineno, line, f"probe {tok!r} is not v(node) or i(vsource)")
                    probe = tok.lower()
                    if probe in save_line:
                        raise _fail(lineno, line, f"probe {tok!r} saved twice")
                    saves.append(probe)
                    save_line[probe] = lineno
                if len(stripped.split()) == 1:
                    raise _fail(lineno, line, ".save without probes")
            elif card in (".tran", ".ac"):
                if analysis is not None:
                    raise _fail(lineno, line, "second analysis card (exactly one .tran or .ac)")
                analysis = _parse_tran(lineno, line) if card == ".tran" else _parse_ac(lineno, line)
            elif card == ".end" and stripped.lower() == ".end":
                ended = True
            else:
                raise _fail(lineno, line, f"{card!r} is outside the netlist subset rnn2spice writes "
                                          "(.subckt gyrator, .options, .save, .tran, .ac, .end)")
            continue
        letter = stripped[0].upper()
        if letter not in _ELEMENT_LETTERS:
            raise _fail(lineno, line, f"unknown element type {stripped[0]!r} (the subset has "
                                      f"{', '.join(_ELEMENT_LETTERS)} elements)")
        element = _fast_element(letter, stripped) or _parse_element(lineno, line, stripped)
        key = element.name
        if key in line_of:
            raise _fail(lineno, line, f"duplicate element name {element.name!r} (first on line {line_of[key]})")
        line_of[key] = lineno
        elements.append(element)

    if not ended:
        raise NetlistError(f"netlist line {len(physical)}: missing .end card")
    if analysis is None:
        raise NetlistError("netlist has no analysis card (.tran or .ac)")

    # Cross references: sense sources, probes, the gyrator subcircuit.
    text_of = dict(logical)
    vsources = {e.name for e in elements if isinstance(e, ir.VoltageSource)}
    nodes = {"0"}
    for e in elements:
        nodes.update(_nodes_of(e))
        sense = getattr(e, "sense", None)
        if sense is not None and sense not in vsources:
            raise _fail(line_of[e.name], text_of[line_of[e.name]],
                        f"controlling source {sense!r} is not a V source of this netlist")
        if isinstance(e, ir.Gyrator) and not subckt:
            raise _fail(line_of[e.name], text_of[line_of[e.name]],
                        "gyrator instance without the gyrator subcircuit")
    for probe in saves:
        kind, name = probe[0], probe[2:-1]
        if kind == "v" and name not in nodes:
            raise _fail(save_line[probe], text_of[save_line[probe]], f"probe {probe} names no node")
        if kind == "i" and name not in vsources:
            raise _fail(save_line[probe], text_of[save_line[probe]],
                        f"probe {probe} names no V source")
    return ParsedNetlist(title, tuple(elements), line_of, options, tuple(saves), analysis, subckt, text_of)


def _terminals(e) -> tuple[str, ...]:
    """Nodes an element's current flows through (control nodes excluded)."""
    if isinstance(e, (ir.Resistor, ir.Capacitor, ir.Inductor, ir.Gyrator)):
        return (e.a, e.b)
    if isinstance(e, (ir.Vccs, ir.Cccs, ir.CurrentSource, ir.TanhCurrent)):
        return (e.src, e.dst)
    return (e.p, e.n)


def _nodes_of(e) -> tuple[str, ...]:
    if isinstance(e, (ir.Resistor, ir.Capacitor, ir.Inductor, ir.Gyrator)):
        return (e.a, e.b)
    if isinstance(e, ir.Vccs):
        return (e.src, e.dst, e.ctrl_p, e.ctrl_n)
    if isinstance(e, (ir.Cccs, ir.CurrentSource)):
        return (e.src, e.dst)
    if isinstance(e, ir.Vcvs):
        return (e.p, e.n, e.ctrl_p, e.ctrl_n)
    if isinstance(e, (ir.Ccvs, ir.VoltageSource)):
        return (e.p, e.n)
    if isinstance(e, ir.TanhCurrent):
        return (e.src, e.dst, e.arg)
    return (e.p, e.n, e.arg)  # TanhVoltage


def _number(lineno: int, line: str, token: str, what: str) -> float:
    if not _NUM_RE.match(token):
        raise _fail(lineno, line, f"malformed number {token!r} for {what} (plain decimal, no unit suffix)")
    x = float(token)
    if not math.isfinite(x):
        raise _fail(lineno, line, f"number {token!r} for {what} is not finite")
    return x


def _node(lineno: int, line: str, token: str) -> str:
    if not _IDENT_RE.match(token):
        raise _fail(lineno, line, f"malformed node name {token!r}")
    node = token.lower()
    if node in _GROUND_ALIASES:
        raise _fail(lineno, line, f"node name {token!r} is an ngspice alias of ground; the subset uses 0")
    return node


_ID = r"[A-Za-z0-9][A-Za-z0-9_]{0,63}"
_S = r"[ \t]+"
#: Whole-card patterns of the common cards: one match per line.  A card they do not match
#: goes to :func:`_parse_element`, which accepts it or says precisely what is wrong.
_FAST = {
    "R": re.compile(rf"({_ID}){_S}({_ID}){_S}({_ID}){_S}({_NUM})\Z"),
    "G": re.compile(rf"({_ID}){_S}({_ID}){_S}({_ID}){_S}({_ID}){_S}({_ID}){_S}({_NUM})\Z"),
    "E": re.compile(rf"({_ID}){_S}({_ID}){_S}({_ID}){_S}({_ID}){_S}({_ID}){_S}({_NUM})\Z"),
    "F": re.compile(rf"({_ID}){_S}({_ID}){_S}({_ID}){_S}([Vv][A-Za-z0-9_]{{0,63}}){_S}({_NUM})\Z"),
    "H": re.compile(rf"({_ID}){_S}({_ID}){_S}({_ID}){_S}([Vv][A-Za-z0-9_]{{0,63}}){_S}({_NUM})\Z"),
}
_FAST_TYPES = {"R": ir.Resistor, "G": ir.Vccs, "E": ir.Vcvs, "F": ir.Cccs, "H": ir.Ccvs}


def _fast_element(letter: str, stripped: str):
    """The element of a well-formed R, G, E, F or H card, or None (then the slow path decides)."""
    pattern = _FAST.get(letter)
    m = pattern.match(stripped) if pattern else None
    if m is None:
        return None
    *names, number = m.groups()
    names = [x.lower() for x in names]
    value = float(number)
    if not math.isfinite(value) or (letter == "R" and value == 0.0) or any(x in _GROUND_ALIASES for x in names[1:]):
        return None
    return _FAST_TYPES[letter](*names, value)


def _parse_element(lineno: int, line: str, stripped: str) -> ir.Element:
    letter = stripped[0].upper()
    tokens = stripped.split()
    name = tokens[0]
    if not _IDENT_RE.match(name):
        raise _fail(lineno, line, f"malformed element name {name!r}")
    name = name.lower()

    def expect(count: int, form: str) -> None:
        if len(tokens) != count:
            raise _fail(lineno, line, f"{letter} element needs the form '{form}' ({count} fields, found {len(tokens)})")

    def num(i: int, what: str) -> float:
        return _number(lineno, line, tokens[i], what)

    def node(i: int) -> str:
        return _node(lineno, line, tokens[i])

    if letter == "R":
        expect(4, "R<name> a b resistance")
        r = num(3, "resistance")
        if r == 0.0:
            raise _fail(lineno, line, "zero resistance")
        return ir.Resistor(name, node(1), node(2), r)
    if letter in "CL":
        what = "capacitance" if letter == "C" else "inductance"
        if len(tokens) not in (4, 5):
            expect(5, f"{letter}<name> a b {what} IC=value")
        value = num(3, what)
        if not value > 0.0:
            raise _fail(lineno, line, f"{what} must be positive")
        ic = 0.0
        if len(tokens) == 5:
            key, _, val = tokens[4].partition("=")
            if key.upper() != "IC" or not val:
                raise _fail(lineno, line, f"expected IC=value, found {tokens[4]!r}")
            ic = _number(lineno, line, val, "initial condition")
        cls = ir.Capacitor if letter == "C" else ir.Inductor
        return cls(name, node(1), node(2), value, ic)
    if letter == "G":
        expect(6, "G<name> src dst ctrl+ ctrl- gm")
        return ir.Vccs(name, node(1), node(2), node(3), node(4), num(5, "transconductance"))
    if letter == "E":
        expect(6, "E<name> p n ctrl+ ctrl- gain")
        return ir.Vcvs(name, node(1), node(2), node(3), node(4), num(5, "gain"))
    if letter in "FH":
        expect(5, f"{letter}<name> a b vsense {'gain' if letter == 'F' else 'transresistance'}")
        sense = tokens[3]
        if not _IDENT_RE.match(sense) or sense[0].upper() != "V":
            raise _fail(lineno, line, f"controlling source {sense!r} must be a V source name")
        cls = ir.Cccs if letter == "F" else ir.Ccvs
        return cls(name, node(1), node(2), sense.lower(), num(4, "gain"))
    if letter == "I":
        expect(5, "I<name> src dst DC value")
        if tokens[3].upper() != "DC":
            raise _fail(lineno, line, "current source needs the form 'I<name> src dst DC value'")
        return ir.CurrentSource(name, node(1), node(2), num(4, "current"))
    if letter == "V":
        if len(tokens) < 4:
            raise _fail(lineno, line, "V element needs the form 'V<name> p n DC value [AC mag] [PULSE|SIN|PWL(...)]'")
        rest = stripped.split(None, 3)[3]
        m = _V_REST_RE.match(rest)
        if not m:
            raise _fail(lineno, line, "V element needs the form 'V<name> p n DC value [AC mag] [PULSE|SIN|PWL(...)]'")
        dc = _number(lineno, line, m.group(1), "DC value")
        ac = _number(lineno, line, m.group(2), "AC magnitude") if m.group(2) else 0.0
        wave = _waveform(lineno, line, m.group(3), m.group(4)) if m.group(3) else None
        return ir.VoltageSource(name, node(1), node(2), wave, dc, ac)
    if letter == "B":
        expect(4, "B<name> a b I=g*tanh(V(z))  or  V=g*tanh(V(z))")
        m = _B_RE.match(tokens[3])
        if not m:
            raise _fail(lineno, line, "behavioural source must be I=g*tanh(V(node)) or V=g*tanh(V(node))")
        gain = _number(lineno, line, m.group(2), "gain")
        arg = _node(lineno, line, m.group(3))
        if m.group(1).upper() == "I":
            return ir.TanhCurrent(name, node(1), node(2), gain, arg)
        return ir.TanhVoltage(name, node(1), node(2), gain, arg)
    # letter == "X"
    expect(5, "X<name> a b gyrator g=conductance")
    if tokens[3].lower() != "gyrator":
        raise _fail(lineno, line, f"subcircuit {tokens[3]!r} is not rnn2spice's gyrator")
    key, _, val = tokens[4].partition("=")
    if key.lower() != "g" or not val:
        raise _fail(lineno, line, f"expected g=conductance, found {tokens[4]!r}")
    return ir.Gyrator(name, node(1), node(2), _number(lineno, line, val, "gyration conductance"))


def _waveform(lineno: int, line: str, kind: str, body: str):
    tokens = body.split()
    vals = [_number(lineno, line, t, f"{kind.upper()} argument") for t in tokens]
    kind = kind.upper()
    if kind == "PULSE":
        if len(vals) != 7:
            raise _fail(lineno, line, f"PULSE needs 7 values (low high delay rise fall width period), found {len(vals)}")
        return Pulse(*vals)
    if kind == "SIN":
        if len(vals) != 6 or vals[3] != 0.0 or vals[4] != 0.0:
            raise _fail(lineno, line, "SIN needs the form SIN(offset amplitude frequency 0 0 phase)")
        return Sine(vals[1], vals[2], vals[0], vals[5])
    if len(vals) < 2 or len(vals) % 2:
        raise _fail(lineno, line, f"PWL needs pairs of time and value, found {len(vals)} numbers")
    times = tuple(vals[0::2])
    if any(b <= a for a, b in zip(times, times[1:])) or times[0] < 0:
        raise _fail(lineno, line, "PWL times must be non-negative and strictly increasing")
    return Pwl(times, tuple(vals[1::2]))


def _parse_options(lineno: int, line: str) -> dict:
    out = {}
    tokens = line.split()[1:]
    if not tokens:
        raise _fail(lineno, line, ".options without settings")
    for tok in tokens:
        key, eq, val = tok.partition("=")
        if key.lower() not in _OPTION_KEYS or not eq:
            raise _fail(lineno, line, f"option {tok!r} is outside the subset ({', '.join(_OPTION_KEYS)})")
        x = _number(lineno, line, val, key)
        if not x > 0:
            raise _fail(lineno, line, f"option {key} must be positive")
        out[key.lower()] = x
    return out


def _parse_tran(lineno: int, line: str) -> ir.Transient:
    tokens = line.split()[1:]
    if tokens and tokens[-1].lower() == "uic":
        tokens = tokens[:-1]
    if not 2 <= len(tokens) <= 4:
        raise _fail(lineno, line, ".tran needs the form '.tran step stop [start [max_step]] [uic]'")
    vals = [_number(lineno, line, t, ".tran time") for t in tokens]
    if not (vals[0] > 0 and vals[1] > 0 and all(v >= 0 for v in vals[2:])):
        raise _fail(lineno, line, ".tran times must be positive")
    return ir.Transient(step=vals[0], stop=vals[1], max_step=vals[3] if len(vals) == 4 else vals[0])


def _parse_ac(lineno: int, line: str) -> ir.AcSweep:
    tokens = line.split()[1:]
    if len(tokens) != 4 or tokens[0].lower() != "dec" or not re.fullmatch(r"[1-9]\d{0,5}", tokens[1]):
        raise _fail(lineno, line, ".ac needs the form '.ac dec points f_start f_stop'")
    f0, f1 = (_number(lineno, line, t, "frequency") for t in tokens[2:])
    if not 0 < f0 <= f1:
        raise _fail(lineno, line, ".ac frequencies must satisfy 0 < f_start <= f_stop")
    return ir.AcSweep(int(tokens[1]), f0, f1)


# =========================================================================== equations

@dataclass(frozen=True, eq=False)
class StateEquations:
    """``dy/dt = a y + b u + c`` of a netlist, with y the saved probes and u the inputs."""

    a: np.ndarray          # (n, n)
    b: np.ndarray          # (n, m)
    c: np.ndarray | None   # (n,), None for nonlinear (linearised) circuits
    y0: np.ndarray         # (n,) initial state from the IC values
    probes: tuple[str, ...]
    form: str              # 'parallel' (capacitor voltages), 'series' (inductor currents), 'mixed'
    linearised: bool


def _voltage_law(e, inputs: dict) -> dict:
    """Terms of ``v_p - v_n = sum coeff * var`` of a voltage-defined branch; keys are
    ('v', node), ('i', vsource), ('u', input index) or ('1', '')."""
    if isinstance(e, ir.VoltageSource):
        return {("u", inputs[e.name]): 1.0} if e.name in inputs else ({("1", ""): e.dc} if e.dc else {})
    if isinstance(e, ir.Vcvs):
        terms = {}
        for node, g in ((e.ctrl_p, e.gain), (e.ctrl_n, -e.gain)):
            if node != "0":
                terms[("v", node)] = terms.get(("v", node), 0.0) + g
        return terms
    if isinstance(e, ir.Ccvs):
        return {("i", e.sense): e.r}
    return {("v", e.arg): e.gain} if e.arg != "0" else {}  # TanhVoltage, linearised at 0


class _Law:
    """A (possibly merged) voltage-defined branch p -> n with its terms."""

    __slots__ = ("name", "p", "n", "terms")

    def __init__(self, name: str, p: str, n: str, terms: dict):
        self.name, self.p, self.n, self.terms = name, p, n, terms

    def flip(self) -> None:
        self.p, self.n = self.n, self.p
        for key in self.terms:
            self.terms[key] = -self.terms[key]


def _merge_series_chains(laws: list, protected_nodes: set, protected_names: set, incident: dict) -> list:
    """Collapse chains of voltage-defined branches through nodes that nothing else touches
    (the CCVS/VCVS stacks of the series form): two laws p -> mid -> n become one p -> n
    with the summed terms.  Branches referenced as sense sources or probes are kept."""
    alive = {id(law): law for law in laws}
    for mid, members in incident.items():
        if mid == "0" or mid in protected_nodes or len(members) != 2:
            continue
        one, two = members
        if not (isinstance(one, _Law) and isinstance(two, _Law)) or one is two:
            continue
        if one.name in protected_names or two.name in protected_names:
            continue
        if one.p == mid and two.n == mid:       # orient as one: p -> mid, two: mid -> n
            one, two = two, one
        elif one.n != mid or two.p != mid:      # same orientation at mid: flip the smaller
            small = one if len(one.terms) <= len(two.terms) else two
            small.flip()
            if one.p == mid and two.n == mid:
                one, two = two, one
        if one.p == two.n:   # a loop of voltage sources: leave it (it is singular)
            continue
        big, small = (one, two) if len(one.terms) >= len(two.terms) else (two, one)
        for key, value in small.terms.items():
            big.terms[key] = big.terms.get(key, 0.0) + value
        merged = _Law(big.name, one.p, two.n, big.terms)
        del alive[id(one)], alive[id(two)]
        alive[id(merged)] = merged
        for node, old in ((one.p, one), (two.n, two)):
            if node != "0":  # ground is never merged: its incidence is not tracked
                incident[node] = [merged if x is old else x for x in incident[node]]
        incident[mid] = []
    return list(alive.values())


def state_equations(net: ParsedNetlist) -> StateEquations:
    """Assemble and reduce the MNA equations of a parsed netlist (see the module docstring)."""
    elements = net.elements
    inputs: dict[str, int] = {}
    for e in elements:
        if isinstance(e, ir.VoltageSource):
            m = _INPUT_RE.match(e.name)
            if m:
                inputs[e.name] = int(m.group(1))
            elif e.waveform is not None or e.ac != 0.0:
                raise net.fail(e.name, "only input sources Vx_<l> may carry a waveform or AC magnitude")
    m_in = max(inputs.values()) + 1 if inputs else 0
    if sorted(inputs.values()) != list(range(m_in)):
        raise NetlistError(f"input sources must be numbered Vx_0 .. Vx_{m_in - 1} without gaps "
                           f"(found {', '.join(sorted(inputs))})")
    if not net.saves:
        raise NetlistError("the netlist has no .save card: it does not say which quantities are the neuron states")

    # Voltage-defined branches as laws; series chains of them merged.
    laws, incident = [], {}
    protected_nodes = {p[2:-1] for p in net.saves if p[0] == "v"}
    protected_names = {p[2:-1] for p in net.saves if p[0] == "i"}
    linearised = False
    for e in elements:
        if isinstance(e, (ir.VoltageSource, ir.Vcvs, ir.Ccvs, ir.TanhVoltage)):
            law = _Law(e.name, e.p, e.n, _voltage_law(e, inputs))
            laws.append(law)
            terminals = (e.p, e.n)
            linearised |= isinstance(e, ir.TanhVoltage)
            law_or_elem = law
        else:
            terminals = _terminals(e)
            law_or_elem = e
        for node in terminals:
            if node != "0":
                incident.setdefault(node, []).append(law_or_elem)
        if isinstance(e, (ir.Vccs, ir.Vcvs)):
            protected_nodes.update((e.ctrl_p, e.ctrl_n))
        elif isinstance(e, (ir.TanhCurrent, ir.TanhVoltage)):
            protected_nodes.add(e.arg)
        elif isinstance(e, (ir.Cccs, ir.Ccvs)):
            protected_names.add(e.sense)
        linearised |= isinstance(e, ir.TanhCurrent)
    laws = _merge_series_chains(laws, protected_nodes, protected_names, incident)

    # Unknowns: node voltages, then branch currents of the laws and the inductors.
    node_index: dict[str, int] = {}
    for node, members in incident.items():
        if node != "0" and members:
            node_index[node] = len(node_index)
    for node in sorted(protected_nodes):
        if node != "0" and node not in node_index:
            node_index[node] = len(node_index)
    nn = len(node_index)
    inductors = [e for e in elements if isinstance(e, ir.Inductor)]
    branch = {law.name: nn + k for k, law in enumerate(laws)}
    branch.update({e.name: nn + len(laws) + k for k, e in enumerate(inductors)})
    size = nn + len(laws) + len(inductors)
    for name in protected_names:
        if name not in branch:
            raise NetlistError(f"current of {name!r} is sensed but {name!r} is not a voltage source")

    def idx(node: str) -> int:
        return -1 if node == "0" else node_index[node]

    rows: list = []
    cols: list = []
    vals: list = []
    e_diag = np.zeros(size)
    n_mat = np.zeros((size, m_in))
    b_vec = np.zeros(size)
    ic = np.zeros(size)

    def stamp(r, c, v) -> None:
        """Vectorised: add v at (r, c) wherever both indices are not ground."""
        r, c, v = np.broadcast_arrays(np.asarray(r), np.asarray(c), np.asarray(v, dtype=float))
        keep = (r >= 0) & (c >= 0)
        rows.append(r[keep])
        cols.append(c[keep])
        vals.append(v[keep])

    def gather(kind, nodes: tuple, value: str):
        """Index arrays of the given node fields and the value array of one element kind."""
        sel = [e for e in elements if isinstance(e, kind)]
        if not sel:
            return None
        return ([np.array([idx(getattr(e, f)) for e in sel], dtype=np.intp) for f in nodes]
                + [np.array([getattr(e, value) for e in sel], dtype=float)])

    # Node rows are KCL: C v' = -(currents leaving the node) + (currents injected).
    res = gather(ir.Resistor, ("a", "b"), "resistance")
    if res:
        a, b, r = res
        g = 1.0 / r
        stamp(np.concatenate([a, a, b, b]), np.concatenate([a, b, b, a]), np.concatenate([-g, g, -g, g]))
    vccs = gather(ir.Vccs, ("src", "dst", "ctrl_p", "ctrl_n"), "gm")
    vccs_parts = [vccs] if vccs else []
    tanh_i = [e for e in elements if isinstance(e, ir.TanhCurrent)]
    if tanh_i:  # linearised at 0: a VCCS of gain g controlled by V(arg)
        vccs_parts.append([np.array([idx(e.src) for e in tanh_i], dtype=np.intp),
                           np.array([idx(e.dst) for e in tanh_i], dtype=np.intp),
                           np.array([idx(e.arg) for e in tanh_i], dtype=np.intp),
                           np.full(len(tanh_i), -1, dtype=np.intp), np.array([e.gain for e in tanh_i])])
    gyr = gather(ir.Gyrator, ("a", "b"), "g")
    if gyr:  # G_a 0 a b 0 {g};  G_b 0 b a 0 {-g}
        a, b, g = gyr
        ground = np.full(a.size, -1, dtype=np.intp)
        vccs_parts.append([ground, a, b, ground, g])
        vccs_parts.append([ground, b, a, ground, -g])
    for src, dst, cp, cn, gm in vccs_parts:  # gm V(cp, cn) leaves src, enters dst
        stamp(np.concatenate([src, src, dst, dst]), np.concatenate([cp, cn, cp, cn]),
              np.concatenate([-gm, gm, gm, -gm]))
    for e in elements:
        if isinstance(e, ir.Capacitor):
            a, b = idx(e.a), idx(e.b)
            if (a >= 0) == (b >= 0):
                raise net.fail(e.name, "a capacitor must connect a node to ground 0")
            node = a if a >= 0 else b
            if e_diag[node]:
                raise net.fail(e.name, "second capacitor at the same node")
            e_diag[node] = e.capacitance
            ic[node] = e.ic if a >= 0 else -e.ic
        elif isinstance(e, ir.Cccs):
            j = branch[e.sense]
            stamp([idx(e.src), idx(e.dst)], [j, j], [-e.gain, e.gain])
        elif isinstance(e, ir.CurrentSource):
            for node, sign in ((idx(e.src), -1.0), (idx(e.dst), 1.0)):
                if node >= 0:
                    b_vec[node] += sign * e.dc
        elif isinstance(e, ir.Inductor):      # L j' = v_a - v_b, current a -> b
            j, a, b = branch[e.name], idx(e.a), idx(e.b)
            stamp([a, b, j, j], [j, j, a, b], [-1.0, 1.0, 1.0, -1.0])
            e_diag[j] = e.inductance
            ic[j] = e.ic
    for law in laws:                            # 0 = v_p - v_n - sum(terms)
        j, p, n = branch[law.name], idx(law.p), idx(law.n)
        r, c, v = [p, n, j, j], [j, j, p, n], [-1.0, 1.0, 1.0, -1.0]
        for (kind, key), coeff in law.terms.items():
            if kind in ("v", "i"):
                r.append(j)
                c.append(idx(key) if kind == "v" else branch[key])
                v.append(-coeff)
            elif kind == "u":
                n_mat[j, key] -= coeff
            else:
                b_vec[j] -= coeff
        stamp(r, c, v)

    mat = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(size, size))
    d = np.nonzero(e_diag)[0]
    a_idx = np.nonzero(e_diag == 0)[0]
    if d.size == 0:
        raise NetlistError("the netlist has no capacitor or inductor: no state")
    rows_a, rows_d = mat[a_idx], mat[d]
    rhs = np.concatenate([rows_a[:, d].toarray(), n_mat[a_idx], b_vec[a_idx, None]], axis=1)
    if a_idx.size:
        with warnings.catch_warnings():
            warnings.simplefilter("error", sparse_linalg.MatrixRankWarning)
            try:
                x = sparse_linalg.splu(rows_a[:, a_idx].tocsc()).solve(np.asfortranarray(rhs))
            except (RuntimeError, sparse_linalg.MatrixRankWarning):
                raise NetlistError("the circuit's algebraic equations are singular (a floating node, a loop of "
                                   "voltage sources or a cut set of current sources): no unique solution") from None
        if not np.all(np.isfinite(x)):
            raise NetlistError("the circuit's algebraic equations are singular: no unique solution")
    else:
        x = rhs
    x_d, x_u, x_b = x[:, :d.size], x[:, d.size:d.size + m_in], x[:, -1]
    m_da = rows_d[:, a_idx]
    inv_e = 1.0 / e_diag[d]
    a_x = inv_e[:, None] * (rows_d[:, d].toarray() - m_da @ x_d)
    b_x = inv_e[:, None] * (n_mat[d] - m_da @ x_u)
    c_x = inv_e * (b_vec[d] - m_da @ x_b)

    # Probes: y = P x_d + D u + y_off, with x_a = -(x_d x_d + x_u u + x_b).
    pos_d = {int(v): k for k, v in enumerate(d)}
    pos_a = {int(v): k for k, v in enumerate(a_idx)}
    p_mat = np.zeros((len(net.saves), d.size))
    d_mat = np.zeros((len(net.saves), m_in))
    y_off = np.zeros(len(net.saves))
    for row, probe in enumerate(net.saves):
        name = probe[2:-1]
        if name == "0":
            raise NetlistError(f"probe {probe} is ground")
        var = node_index[name] if probe[0] == "v" else branch[name]
        if var in pos_d:
            p_mat[row, pos_d[var]] = 1.0
        else:
            k = pos_a[var]
            p_mat[row] = -x_d[k]
            d_mat[row] = -x_u[k]
            y_off[row] = -x_b[k]
    if p_mat.shape[0] != p_mat.shape[1]:
        raise NetlistError(f"the netlist saves {p_mat.shape[0]} probes but has {p_mat.shape[1]} state variables "
                           "(capacitors and inductors): the probes are not the state")
    if np.linalg.matrix_rank(p_mat) < p_mat.shape[0]:
        raise NetlistError("the saved probes do not determine the circuit's state")
    if m_in and np.max(np.abs(d_mat)) > _FEEDTHROUGH_TOL * max(1.0, float(np.max(np.abs(p_mat)))):
        raise NetlistError("a saved probe depends directly on an input: the probes are not the state")
    # y = P x_d + y_off  =>  y' = P A_x P^-1 y + P B_x u + P c_x - P A_x P^-1 y_off
    a_c = np.linalg.solve(p_mat.T, (p_mat @ a_x).T).T
    b_c = p_mat @ b_x
    c_c = p_mat @ c_x - a_c @ y_off
    y0 = p_mat @ ic[d] + y_off
    has_c = any(isinstance(e, ir.Capacitor) for e in net.elements)
    has_l = any(isinstance(e, ir.Inductor) for e in net.elements)
    form = "mixed" if has_c and has_l else ("parallel" if has_c else "series")
    return StateEquations(a_c, b_c, None if linearised else c_c, y0, net.saves, form, linearised)


# =========================================================================== certificate

@dataclass(frozen=True, eq=False)
class Certificate:
    """Verdict of the comparison of a netlist's state equations with its spec.

    Errors are relative: ``max|circuit - spec| / max|spec|`` per matrix (absolute when the
    spec's matrix is zero).  ``worst`` locates the largest one: matrix ('A', 'B', 'drive'
    or 'h0'), row (neuron), column (neuron or input), both values.
    """

    passed: bool
    a_error: float
    b_error: float
    worst: dict
    tolerance: float = TOLERANCE
    drive_error: float | None = None   # linear networks only
    h0_error: float | None = None      # transient netlists only
    n: int = 0
    m: int = 0
    form: str = ""
    linearised: bool = False
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0
    equations: StateEquations | None = None

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "a_error": _json_float(self.a_error),
            "b_error": _json_float(self.b_error),
            "drive_error": None if self.drive_error is None else _json_float(self.drive_error),
            "h0_error": None if self.h0_error is None else _json_float(self.h0_error),
            "tolerance": self.tolerance,
            "worst": self.worst,
            "n": self.n,
            "m": self.m,
            "form": self.form,
            "linearised_at_0": self.linearised,
            "netlist_elements": self.counts,
            "seconds": self.seconds,
        }

    def describe(self) -> str:
        """One line for a summary."""
        verdict = "PASS" if self.passed else "FAIL"
        parts = [f"A error {self.a_error:.1e}", f"B error {self.b_error:.1e}"]
        if self.drive_error is not None:
            parts.append(f"drive error {self.drive_error:.1e}")
        if self.h0_error is not None:
            parts.append(f"h0 error {self.h0_error:.1e}")
        text = (f"certificate (netlist text -> state equations{', linearised at 0' if self.linearised else ''}): "
                f"{', '.join(parts)} (tolerance {self.tolerance:.0e}) in {self.seconds * 1e3:.1f} ms: {verdict}")
        if not self.passed:
            text += "\n  " + describe_worst(self.worst)
        return text


def describe_worst(worst: dict) -> str:
    if not worst:
        return "no discrepancy"
    if "problem" in worst:
        return f"{worst['matrix']}: {worst['problem']}"
    where = worst["matrix"] + (f"[{worst['row']}]" if worst.get("col") is None else f"[{worst['row']}, {worst['col']}]")
    names = [worst[k] for k in ("row_probe", "col_probe", "col_input") if k in worst]
    if names:
        where += f" ({' <- '.join(names)})"
    return (f"largest discrepancy at {where}: circuit {worst['circuit']!r}, spec {worst['spec']!r} "
            f"(relative {worst['relative_error']:.3e})")


class CertificateFailed(Rnn2SpiceError):
    """The netlist does not realise the spec (exit code 1, a mismatch)."""

    exit_code = 1

    def __init__(self, certificate: Certificate, report: dict | None = None):
        self.certificate = certificate
        self.report = report if report is not None else {"passed": False, "certificate": certificate.as_dict()}
        super().__init__("equivalence certificate failed, the netlist does not realise the spec; "
                         "nothing was simulated\n  " + describe_worst(certificate.worst))


def _json_float(x: float):
    return float(x) if math.isfinite(x) else str(x)


def _compare(name: str, circuit: np.ndarray, spec: np.ndarray) -> tuple[float, dict]:
    if circuit.shape != spec.shape:
        return math.inf, {"matrix": name, "problem": f"shape {circuit.shape} in the circuit, {spec.shape} in the spec"}
    if circuit.size == 0:
        return 0.0, {}
    diff = np.abs(circuit - spec)
    scale = float(np.max(np.abs(spec)))
    pos = np.unravel_index(int(np.argmax(diff)), diff.shape)
    worst_abs = float(diff[pos])
    err = worst_abs / scale if scale > 0 else worst_abs
    if not np.all(np.isfinite(circuit)):
        err = math.inf
    return err, {"matrix": name, "row": int(pos[0]), "col": int(pos[1]) if len(pos) > 1 else None,
                 "circuit": float(circuit[pos]), "spec": float(spec[pos]), "relative_error": _json_float(err)}


def verify_netlist(text: str, spec, *, tolerance: float = TOLERANCE) -> Certificate:
    """Certify that netlist ``text`` realises ``spec`` (an :class:`~rnn2spice.spec.RnnSpec`).

    Raises :class:`NetlistError` for text outside the subset; a netlist that parses but
    does not realise the spec gives ``passed = False`` and ``worst`` says where.
    """
    start = _time.perf_counter()
    net = parse_netlist(text)
    # One BLAS thread: the matrices are small and OpenBLAS threads spin against any other
    # busy process (a 100 x 100 solve measured 100 ms instead of 0.4 ms on a loaded box).
    with threadpool_limits(limits=1, user_api="blas"):
        eq = state_equations(net)
    _, w_in, drive = spec.paper_form()
    a_err, a_info = _compare("A", eq.a, spec.state_matrix())
    b_err, b_info = _compare("B", eq.b, np.asarray(w_in))
    checks = [(a_err, a_info), (b_err, b_info)]
    if (spec.activation == "linear") == eq.linearised:
        a_err = math.inf
        problem = ("the netlist has behavioural (tanh) sources, the spec is linear" if eq.linearised
                   else f"the spec has {spec.activation} activation, the netlist has no behavioural sources")
        checks.append((a_err, {"matrix": "A", "problem": problem}))
    drive_err = h0_err = None
    if eq.c is not None and spec.activation == "linear":
        drive_err, info = _compare("drive", eq.c, np.asarray(drive))
        checks.append((drive_err, info))
    if isinstance(net.analysis, ir.Transient):
        h0_err, info = _compare("h0", eq.y0, np.asarray(spec.h0))
        checks.append((h0_err, info))
    worst_err, worst = max(checks, key=lambda t: t[0])
    if worst.get("row") is not None and worst["row"] < len(eq.probes):
        worst["row_probe"] = eq.probes[worst["row"]]
        if worst["matrix"] == "A" and worst.get("col") is not None:
            worst["col_probe"] = eq.probes[worst["col"]]
        elif worst["matrix"] == "B":
            worst["col_input"] = f"Vx_{worst['col']}"
    passed = all(err <= tolerance for err, _ in checks)
    return Certificate(passed=passed, a_error=a_err, b_error=b_err, worst=worst if worst_err > 0 else {},
                       tolerance=tolerance, drive_error=drive_err, h0_error=h0_err, n=eq.a.shape[0],
                       m=eq.b.shape[1], form=eq.form, linearised=eq.linearised, counts=net.counts(),
                       seconds=_time.perf_counter() - start, equations=eq)


def certify(compiled, *, tolerance: float = TOLERANCE) -> Certificate:
    """Certify a :class:`~rnn2spice.compiler.CompiledNetwork` from its netlist text."""
    return verify_netlist(compiled.netlist, compiled.spec, tolerance=tolerance)


# =========================================================================== command line

def realisation_line(realisation) -> str:
    r = realisation.as_dict() if hasattr(realisation, "as_dict") else dict(realisation)
    return (f"realisation: {r['positive_resistors']} positive / {r['negative_resistors']} negative coupling "
            f"resistors, {r['gyrators']} gyrators, {r['controlled_sources']} controlled sources, "
            f"{r['behavioural_sources']} behavioural sources; interaction "
            f"{'reciprocal' if r['reciprocal'] else 'non-reciprocal'}, "
            f"{'passive (positive resistors and ideal gyrators suffice)' if r['passive'] else 'active'}")


def register_commands(sub) -> None:
    from rnn2spice.cli import app as cli

    p = cli.add_spec_command(sub, "verify", "Certify from the netlist text alone that the circuit realises "
                                            "the spec (A = w - lam, B = w_in); exit 0 pass, 1 mismatch, 2 bad input.")
    cli.circuit_options(p, accuracy=False)
    p.add_argument("--netlist", type=Path, default=None, metavar="FILE.cir",
                   help="verify this existing netlist instead of compiling the spec (--form and "
                        "--coupling are then not used)")
    p.add_argument("--report", type=Path, default=None, help="JSON report to write")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help=f"pass threshold on the relative discrepancies (default {TOLERANCE:g})")
    p.set_defaults(func=cmd_verify)


#: Netlists larger than this are refused before reading (a 2000-neuron dense network is ~300 MB).
MAX_NETLIST_BYTES = 512 * 1024 * 1024


def cmd_verify(args) -> int:
    from rnn2spice.cli import app as cli
    from rnn2spice.circuit.compiler import compile_rnn
    from rnn2spice.errors import UsageError
    from rnn2spice.report.files import json_text, write_atomic

    cli.check_outputs(report=args.report)
    if not (args.tolerance > 0 and math.isfinite(args.tolerance)):
        raise UsageError(f"--tolerance must be a positive number (got {args.tolerance!r})")
    spec = cli.load_spec_arg(args)
    realisation = None
    if args.netlist is not None:
        try:
            info = args.netlist.stat()
            if not stat.S_ISREG(info.st_mode):
                raise UsageError(f"--netlist: {str(args.netlist)!r} is not a regular file")
            if info.st_size > MAX_NETLIST_BYTES:
                raise UsageError(f"--netlist: {str(args.netlist)!r} is larger than {MAX_NETLIST_BYTES} bytes")
            text = args.netlist.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--netlist: cannot read {str(args.netlist)!r}: {exc}") from None
        source = str(args.netlist)
    else:
        compiled = compile_rnn(spec, form=args.form, coupling=args.coupling)
        text, realisation = compiled.netlist, compiled.realisation
        source = f"compiled, form {args.form}, coupling {args.coupling}"
    cert = verify_netlist(text, spec, tolerance=args.tolerance)
    lines = [f"spec {spec.name}: n = {spec.n}, m = {spec.m}, {spec.convention}/{spec.activation}; netlist: {source}"]
    c = cert.counts
    lines.append(f"netlist elements: {c['elements']} ({c['resistors']} R of which {c['negative_resistors']} negative, "
                 f"{c['capacitors']} C, {c['inductors']} L, {c['gyrators']} gyrators, "
                 f"{c['vccs'] + c['cccs'] + c['vcvs'] + c['ccvs']} controlled sources, "
                 f"{c['behavioural_sources']} behavioural sources)")
    if realisation is not None:
        lines.append(realisation_line(realisation))
    lines.append(cert.describe())
    print("\n".join(lines))
    if args.report is not None:
        report = {"spec": spec.name, "n": spec.n, "m": spec.m, "netlist": source,
                  "form": cert.form, "passed": cert.passed, "certificate": cert.as_dict(),
                  "realisation": realisation.as_dict() if realisation is not None else None}
        write_atomic(args.report, json_text(report), field="--report")
    return cli.EXIT_PASS if cert.passed else cli.EXIT_MISMATCH


# =========================================================================== check integration

def failure_report(compiled, certificate: Certificate) -> dict:
    """The JSON report of a ``check`` stopped by a failed certificate (nothing simulated)."""
    spec = compiled.spec
    return {"passed": False, "stopped_by": "certificate", "spec": spec.name, "n": spec.n, "m": spec.m,
            "form": compiled.form, "coupling": compiled.coupling, "convention": spec.convention,
            "activation": spec.activation, "accuracy": compiled.accuracy,
            "realisation": compiled.realisation.as_dict(), "certificate": certificate.as_dict()}


def certify_or_stop(compiled, *, tolerance: float = TOLERANCE) -> Certificate:
    """Certify before simulating: raise :class:`CertificateFailed` (exit 1) on a mismatch."""
    cert = certify(compiled, tolerance=tolerance)
    if not cert.passed:
        raise CertificateFailed(cert, failure_report(compiled, cert))
    return cert


def summary_lines(result) -> tuple[str, ...]:
    """Lines for ``check``'s summary: the realisation and the certificate."""
    lines = [realisation_line(result.compiled.realisation)]
    cert = getattr(result, "certificate", None)
    if cert is not None:
        lines.append(cert.describe())
    return tuple(lines)
