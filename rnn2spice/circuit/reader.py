"""Strict reader of the netlist subset rnn2spice writes: netlist TEXT -> IR elements.

Used by the equivalence certificate (:mod:`rnn2spice.analysis.certificate`), which must not
trust the compiler or the IR: it reads back exactly the subset of SPICE that
:mod:`rnn2spice.circuit.writer` emits and refuses everything else with a
:class:`~rnn2spice.errors.NetlistError` naming the line number and its text.  Names and
nodes are lower-cased, as ngspice reads them.  A gyrator instance needs the one subcircuit
accepted, :data:`GYRATOR_TEXT`.

This module is over 400 lines on purpose: it is one grammar (the card driver
:func:`parse_netlist` plus the per-card parsers it dispatches to and their shared
token checks), and splitting it would separate the subset's rules from each other.

Layer rule: imports only :mod:`rnn2spice.errors`, :mod:`rnn2spice.circuit.ir` and
:mod:`rnn2spice.network`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from rnn2spice.circuit import ir
from rnn2spice.circuit.spicenum import expression_value, read
from rnn2spice.errors import NetlistError, NetlistUnreadable
from rnn2spice.network.waveform import Pulse, Pwl, Sine

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
#: Longest token (field of a card) the subset has: a number written as '.17g' is at most
#: 24 characters, a name 64, ``I=<number>*tanh(V(<name>))`` 100, the softplus expression
#: (its argument twice) 190.  Checked before any
#: pattern sees a token or a card (the number pattern backtracks quadratically on a long
#: run of digits: a 30 000-digit token would take ~40 s).
_MAX_TOKEN = 200
#: Longest card the whole-card patterns (_FAST) are tried on: 6 fields and their blanks.
_MAX_FAST_CARD = 6 * _MAX_TOKEN + 64
_NUM_RE = re.compile(_NUM + r"\Z")
_IDENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,63}\Z")
_TITLE_RE = re.compile(r"[A-Za-z0-9 _:.()=,+/-]{1,120}\Z")
_COMMENT_RE = re.compile(r"\*(?: [A-Za-z0-9 _:.()=,+/*'|<>\[\]-]{0,200})?\Z")
_PRINTABLE_RE = re.compile(r"[\x20-\x7e\t]*\Z")
_V_REST_RE = re.compile(
    rf"DC\s+({_NUM})(?:\s+AC\s+({_NUM}))?(?:\s+(PULSE|SIN|PWL)\s*\(([^()]*)\))?\s*\Z", re.IGNORECASE)
#: The behavioural-source expressions of the subset, f of V(<node>) for each activation,
#: kept here and not imported from the writer (like GYRATOR_TEXT): a change there is
#: refused, not silently read as the old function.  Group ``a`` is the argument node.
_ARG = r"V\((?P<a>[A-Za-z0-9][A-Za-z0-9_]{0,63})\)"
FUNCTION_PATTERNS = {
    "tanh": rf"tanh\({_ARG}\)",
    "relu": rf"uramp\({_ARG}\)",
    "sigmoid": rf"\(0\.5\+0\.5\*tanh\(0\.5\*{_ARG}\)\)",
    "softplus": rf"\(uramp\({_ARG}\)\+ln\(1\+exp\(-abs\(V\((?P=a)\)\)\)\)\)",
}
#: The same forms as written (what a failure says was expected); equivalent expressions
#: (-tanh(-x), 0.5*(1+tanh(x/2)), a gain split over sources) are not these and are refused.
CANONICAL_FORMS = {
    "tanh": "tanh(V(<node>))",
    "relu": "uramp(V(<node>))",
    "sigmoid": "(0.5+0.5*tanh(0.5*V(<node>)))",
    "softplus": "(uramp(V(<node>))+ln(1+exp(-abs(V(<node>)))))",
}
_B_RES = {name: re.compile(rf"([IV])=({_NUM})\*{body}\Z", re.IGNORECASE) for name, body in FUNCTION_PATTERNS.items()}
_M_RE = re.compile(rf"m=({_NUM})\Z", re.IGNORECASE)
_PROBE_RE = re.compile(r"([vi])\(([A-Za-z0-9][A-Za-z0-9_]{0,63})\)\Z", re.IGNORECASE)
_OPTION_KEYS = ("reltol", "abstol", "vntol", "chgtol", "trtol", "temp")
_ELEMENT_LETTERS = "RCLGFEHIVBXQD"
#: The one subcircuit accepted, modelled (rnn2spice.analysis.mna) as its two VCCS: i_a = g v_b, i_b = -g v_a
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
    uic: bool | None = None  # the .tran card ends in 'uic' (None for .ac)
    #: behavioural source name -> (text of G in ``I=G*f(..)``, text of m or None)
    tanh_texts: dict = field(default_factory=dict)
    tran_tokens: tuple = ()  # the numbers of the .tran card as written (step stop [start [max]])
    #: real parts (THEORY.md 11): subcircuit name -> its lines (the library's or a scanned user's)
    subcircuits: dict = field(default_factory=dict)

    def fail(self, name: str, problem: str) -> NetlistError:
        """A :class:`NetlistError` naming the line of element ``name``."""
        lineno = self.line_of[name]
        return _fail(lineno, self.text_of.get(lineno, name), problem)

    def counts(self) -> dict:
        """Element counts of the netlist (what it costs to build)."""
        out = {"elements": ir.count(self.elements)}  # the compiler's count (ir.ELEMENTS_MEANING)
        kinds = {ir.Resistor: "resistors", ir.Capacitor: "capacitors", ir.Inductor: "inductors",
                 ir.Vccs: "vccs", ir.Cccs: "cccs", ir.Vcvs: "vcvs", ir.Ccvs: "ccvs",
                 ir.CurrentSource: "current_sources", ir.VoltageSource: "voltage_sources",
                 ir.TanhCurrent: "behavioural_sources", ir.TanhVoltage: "behavioural_sources",
                 ir.ActivationCurrent: "behavioural_sources", ir.ActivationVoltage: "behavioural_sources",
                 ir.Gyrator: "gyrators", ir.Bjt: "transistors", ir.Diode: "diodes", ir.ModelCard: "models",
                 ir.Instance: "subcircuit_instances"}
        for key in dict.fromkeys(kinds.values()):
            out[key] = 0
        for e in self.elements:
            out[kinds[type(e)]] += 1
        out["negative_resistors"] = sum(1 for e in self.elements
                                        if isinstance(e, ir.Resistor) and e.resistance < 0)
        return out


def _fail(lineno: int, text: str, problem: str, kind: type = NetlistError) -> NetlistError:
    shown = text if len(text) <= 100 else text[:97] + "..."
    return kind(f"netlist line {lineno}: {problem}: {shown!r}")


def _unreadable(lineno: int, text: str, problem: str) -> NetlistUnreadable:
    return _fail(lineno, text, problem, NetlistUnreadable)


_END_RE = re.compile(r"^[ \t]*\.end[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)


def parse_netlist(text: str) -> ParsedNetlist:
    """Parse netlist text; anything outside the subset raises :class:`NetlistError`
    naming the line number and its text; text that is not read as a netlist at all (not
    text, control or non-ASCII characters, empty, no ``.end`` card, a field beyond the
    reading limits) raises :class:`~rnn2spice.errors.NetlistUnreadable`."""
    try:
        return _parse(text)
    except NetlistUnreadable:
        raise
    except NetlistError as exc:
        if isinstance(text, str) and not _END_RE.search(text):
            raise NetlistUnreadable(f"{exc}; and the text has no .end card: it is not read as a netlist") from None
        raise


def _parse(text: str) -> ParsedNetlist:
    if not isinstance(text, str):
        raise NetlistUnreadable("netlist must be text")
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    physical = [line[:-1] if line.endswith("\r") else line for line in physical]
    if not physical:
        raise NetlistUnreadable("netlist is empty")
    for i, line in enumerate(physical, start=1):
        if not _PRINTABLE_RE.match(line):
            raise _unreadable(i, line, "control or non-ASCII characters: not netlist text")
    title = physical[0]
    if not _TITLE_RE.match(title) or title.startswith("."):
        raise _fail(1, title, "title line must be plain text ([A-Za-z0-9 _:.()=,+/-], not starting with '.')")

    # Join '+' continuation lines (only PWL sources of V cards use them).
    logical: list[tuple[int, str]] = []
    pieces: dict[int, list[str]] = {}  # index in logical -> continuation texts (joined once: linear)
    for i, line in enumerate(physical[1:], start=2):
        stripped = line.strip()
        if stripped and line[0] in " \t":
            raise _fail(i, line, "a card must start in the first column")
        if stripped.startswith("+"):
            if not logical or logical[-1][1][:1].upper() != "V":
                raise _fail(i, line, "'+' continuation line that does not continue a V source")
            pieces.setdefault(len(logical) - 1, [logical[-1][1]]).append(stripped[1:].strip())
        else:
            logical.append((i, line))
    for idx, parts in pieces.items():
        logical[idx] = (logical[idx][0], " ".join(parts))

    elements: list[ir.Element] = []
    line_of: dict[str, int] = {}
    tanh_texts: dict[str, tuple[str, str | None]] = {}
    options: dict[str, float] = {}
    saves: list[str] = []
    save_line: dict[str, int] = {}
    analysis = uic = None
    tran_tokens: tuple[str, ...] = ()
    subckt = False
    subcircuits: dict[str, tuple[str, ...]] = {}
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
            longest = max(map(len, stripped.split()))
            if longest > _MAX_TOKEN:
                raise _unreadable(lineno, line, f"a field of {longest} characters (the subset has at most {_MAX_TOKEN})")
            card = stripped.split()[0].lower()
            if card == ".subckt" and len(stripped.split()) > 1 and stripped.split()[1].lower() != "gyrator":
                end = _subcircuit(logical, idx, subcircuits)
                for _ in range(end - idx):
                    next(it)
                continue
            if card == ".model":
                element = _parse_model(lineno, line, stripped)
                if element.name in line_of:
                    raise _fail(lineno, line, f"model {element.name!r} defined twice")
                line_of[element.name] = lineno
                elements.append(element)
                continue
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
                if card == ".tran":
                    tran_tokens = tuple(stripped.split()[1:])
                    uic = bool(tran_tokens) and tran_tokens[-1].lower() == "uic"
                    tran_tokens = tran_tokens[:-1] if uic else tran_tokens
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
        if letter == "B":
            tokens = stripped.split()
            tanh_texts[key] = (_behavioural(tokens[3])[1].group(2),
                               _M_RE.match(tokens[4]).group(1) if len(tokens) == 5 else None)

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
        if isinstance(e, ir.Instance) and e.subckt not in subcircuits:
            raise _fail(line_of[e.name], text_of[line_of[e.name]], f"subcircuit {e.subckt!r} is not defined here")
        if isinstance(e, (ir.Bjt, ir.Diode)) and not isinstance(_model_of(elements, e.model), ir.ModelCard):
            raise _fail(line_of[e.name], text_of[line_of[e.name]], f"model {e.model!r} is not defined here")
    for probe in saves:
        kind, name = probe[0], probe[2:-1]
        if kind == "v" and name not in nodes:
            raise _fail(save_line[probe], text_of[save_line[probe]], f"probe {probe} names no node")
        if kind == "i" and name not in vsources:
            raise _fail(save_line[probe], text_of[save_line[probe]],
                        f"probe {probe} names no V source")
    return ParsedNetlist(title, tuple(elements), line_of, options, tuple(saves), analysis, subckt, text_of,
                         uic, tanh_texts, tran_tokens, subcircuits)


# ---------------------------------------------------------------------------- real parts (THEORY.md 11)

def _model_of(elements, name: str):
    return next((e for e in elements if isinstance(e, ir.ModelCard) and e.name == name), None)


def _subcircuit(logical, idx: int, subcircuits: dict) -> int:
    """Read the ``.subckt`` block starting at logical line ``idx`` into ``subcircuits``; the
    index of its ``.ends``.  Accepted: a library op-amp exactly as the writer writes it
    (:data:`rnn2spice.circuit.partlib.OPAMPS`), or a block the user-model scanner passes
    (:func:`rnn2spice.circuit.usermodel.scan_lines`: no control statement, include, analysis)."""
    from rnn2spice.circuit.partlib import MACRO_CG, OPAMPS
    from rnn2spice.circuit.usermodel import scan_lines
    from rnn2spice.circuit.writer import NetlistWriter
    from rnn2spice.errors import UsageError

    lineno, line = logical[idx]
    tokens = line.split()
    name = tokens[1]
    if not _IDENT_RE.match(name):
        raise _fail(lineno, line, f"malformed subcircuit name {name!r}")
    end = next((k for k in range(idx + 1, len(logical)) if logical[k][1].split()[:1]
                and logical[k][1].split()[0].lower() == ".ends"), None)
    if end is None:
        raise _fail(lineno, line, f"subcircuit {name!r} has no .ends")
    body = tuple(logical[k][1] for k in range(idx, end + 1))
    part = OPAMPS.get(name)
    if part is not None:
        expected = NetlistWriter().opamp_macro(ir.OpAmpMacro(
            part.name, part.gm, part.imax, part.rg, MACRO_CG, part.swing_high, part.swing_low, part.rout, part.bias,
            part.supply_current)).split("\n")
        if list(body) != expected:
            raise _fail(lineno, line, f"subcircuit {name!r} is not the library's {name} macro-model as rnn2spice "
                                      "writes it")
    else:  # a user's op-amp model: five pins (+in -in V+ V- out), scanned
        pins = [t for t in tokens[2:] if "=" not in t and t.lower() != "params:"]
        if len(pins) != 5:
            raise _fail(lineno, line, f"subcircuit {name!r} is neither rnn2spice's gyrator, a library op-amp nor an "
                                      f"op-amp model of 5 pins (+in -in V+ V- out)")
        try:
            scan_lines(body, "subcircuit", first_line=lineno)
        except UsageError as exc:
            raise NetlistError(f"netlist {exc}") from None
    if name.lower() in subcircuits:
        raise _fail(lineno, line, f"subcircuit {name!r} defined twice")
    subcircuits[name.lower()] = body
    return end


_MODEL_RE = re.compile(rf"\.model\s+({_IDENT_RE.pattern[:-2]})\s+(NPN|PNP|D)\(([^()]*)\)\Z", re.IGNORECASE)


def _parse_model(lineno: int, line: str, stripped: str) -> ir.ModelCard:
    m = _MODEL_RE.match(stripped)
    if not m:
        raise _fail(lineno, line, ".model needs the form '.model name NPN(KEY=value ...)' or D(...)")
    params = []
    for tok in m.group(3).split():
        key, eq, val = tok.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z]{1,6}", key):
            raise _fail(lineno, line, f"model parameter {tok!r} is not KEY=value")
        params.append((key.upper(), _number(lineno, line, val, f"model parameter {key}")))
    return ir.ModelCard(m.group(1).lower(), m.group(2).upper(), tuple(params))


def _terminals(e) -> tuple[str, ...]:
    """Nodes an element's current flows through (control nodes excluded)."""
    if isinstance(e, (ir.Bjt, ir.Diode, ir.Instance, ir.ModelCard)):
        return _nodes_of(e)
    if isinstance(e, (ir.Resistor, ir.Capacitor, ir.Inductor, ir.Gyrator)):
        return (e.a, e.b)
    if isinstance(e, (ir.Vccs, ir.Cccs, ir.CurrentSource, ir.TanhCurrent, ir.ActivationCurrent)):
        return (e.src, e.dst)
    return (e.p, e.n)


def _nodes_of(e) -> tuple[str, ...]:
    if isinstance(e, ir.Bjt):
        return (e.c, e.b, e.e)
    if isinstance(e, ir.Diode):
        return (e.a, e.k)
    if isinstance(e, ir.Instance):
        return e.nodes
    if isinstance(e, ir.ModelCard):
        return ()
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
    if isinstance(e, (ir.TanhCurrent, ir.ActivationCurrent)):
        return (e.src, e.dst, e.arg)
    return (e.p, e.n, e.arg)  # TanhVoltage, ActivationVoltage


def _number(lineno: int, line: str, token: str, what: str, path: str = "device") -> float:
    if len(token) > _MAX_TOKEN:
        raise _unreadable(lineno, line,
                          f"a number of {len(token)} characters for {what} (the subset has at most {_MAX_TOKEN})")
    if not _NUM_RE.match(token):
        raise _fail(lineno, line, f"malformed number {token!r} for {what} (plain decimal, no unit suffix)")
    x = float(token)
    if not math.isfinite(x):
        raise _fail(lineno, line, f"number {token!r} for {what} is not finite")
    _check_spice_reading(lineno, line, token, x, what, path)
    return x


def _suspicious(token: str, x: float) -> bool:
    """Whether ngspice's reading of ``token`` may be more than a few units in the last place
    from ``x = float(token)``: only when the exponent has more than three digits (its C int
    wraps), the mantissa more than 25 (its double overflows), or ``x`` is zero, subnormal or
    near the range ends (pow(10, e) under- or overflows).  Otherwise INPevaluate and
    ft_numparse err by a few ulps at most (spicenum)."""
    mantissa, _, exponent = token.lower().partition("e")
    return (len(exponent.lstrip("+-")) > 3 or len(mantissa) > 26
            or not (1e-290 < abs(x) < 1e290) or x == 0.0)


def _check_spice_reading(lineno: int, line: str, token: str, x: float, what: str, path: str = "device") -> None:
    """Refuse a number that ngspice would silently read as something else (a wrapped
    exponent, an underflow to 0, an overflow): relative difference above 1e-12."""
    if not _suspicious(token, x):
        return
    got = read(token, path)
    if got == x or (math.isfinite(got) and abs(got - x) <= 1e-12 * max(abs(got), abs(x))):
        return
    raise _fail(lineno, line, f"ngspice reads the number {token!r} for {what} as {got!r}, not {x!r} "
                              "(its parser is not Python's; write the value in plain range)")


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
    m = pattern.match(stripped) if pattern and len(stripped) <= _MAX_FAST_CARD else None
    if m is None:
        return None
    *names, number = m.groups()
    names = [x.lower() for x in names]
    value = float(number)
    if _suspicious(number, value):
        return None  # the slow path checks ngspice's reading
    if not math.isfinite(value) or (letter == "R" and value == 0.0) or any(x in _GROUND_ALIASES for x in names[1:]):
        return None
    return _FAST_TYPES[letter](*names, value)


def _parse_element(lineno: int, line: str, stripped: str) -> ir.Element:
    letter = stripped[0].upper()
    tokens = stripped.split()
    for tok in tokens:
        if len(tok) > _MAX_TOKEN:
            raise _unreadable(lineno, line, f"a field of {len(tok)} characters (the subset has at most {_MAX_TOKEN})")
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
        if len(tokens) != 5:
            expect(4, "B<name> a b I=g*f(V(z)) [m=multiplier]  or  V=g*f(V(z)) [m=multiplier]")
        function, m = _behavioural(tokens[3])
        if not m:
            raise _fail(lineno, line, "behavioural source must be I=<g>*f or V=<g>*f, <g> a number and f "
                                      "exactly one of " + ", ".join(CANONICAL_FORMS.values()) + " (an "
                                      "equivalent expression is not proved equal: the certificate compares "
                                      "these forms)")
        multiplier = 1.0
        if len(tokens) == 5:
            mm = _M_RE.match(tokens[4])
            if not mm:
                raise _fail(lineno, line, f"expected m=multiplier after the expression, found {tokens[4]!r}")
            multiplier = _number(lineno, line, mm.group(1), "multiplier m")
        # The gain as ngspice forms it: numbers in an expression are reprinted with 11
        # digits (spicenum.expression_value), then multiplied by m (ASRCload).
        gain = expression_value(m.group(2)) * multiplier if _number(lineno, line, m.group(2), "gain") else 0.0
        arg = _node(lineno, line, m.group("a"))
        current = m.group(1).upper() == "I"
        if function == "tanh":
            return (ir.TanhCurrent if current else ir.TanhVoltage)(name, node(1), node(2), gain, arg)
        return (ir.ActivationCurrent if current else ir.ActivationVoltage)(name, node(1), node(2), gain, arg, function)
    if letter == "Q":
        expect(5, "Q<name> c b e model")
        return ir.Bjt(name, node(1), node(2), node(3), _model_name(lineno, line, tokens[4]))
    if letter == "D":
        expect(4, "D<name> anode cathode model")
        return ir.Diode(name, node(1), node(2), _model_name(lineno, line, tokens[3]))
    # letter == "X"
    if len(tokens) >= 7 and tokens[3].lower() != "gyrator":  # X<name> inp inn vcc vee out subckt [k=v ...]
        nodes = tuple(node(i) for i in range(1, 6))
        sub = _model_name(lineno, line, tokens[6])
        params = []
        for tok in tokens[7:]:
            key, eq, val = tok.partition("=")
            if not eq or key.lower() not in ("vos", "v0"):
                raise _fail(lineno, line, f"instance parameter {tok!r} is not vos=value or v0=value")
            params.append((key.lower(), _number(lineno, line, val, key, "numparam")))
        return ir.Instance(name, nodes, sub, tuple(params))
    expect(5, "X<name> a b gyrator g=conductance")
    if tokens[3].lower() != "gyrator":
        raise _fail(lineno, line, f"subcircuit {tokens[3]!r} is not rnn2spice's gyrator")
    key, _, val = tokens[4].partition("=")
    if key.lower() != "g" or not val:
        raise _fail(lineno, line, f"expected g=conductance, found {tokens[4]!r}")
    return ir.Gyrator(name, node(1), node(2), _number(lineno, line, val, "gyration conductance"))


def _model_name(lineno: int, line: str, token: str) -> str:
    if not _IDENT_RE.match(token):
        raise _fail(lineno, line, f"malformed model or subcircuit name {token!r}")
    return token.lower()


def _behavioural(token: str) -> tuple[str | None, re.Match | None]:
    """(activation, match) of a behavioural source's expression token, or (None, None)."""
    for function, pattern in _B_RES.items():
        m = pattern.match(token)
        if m:
            return function, m
    return None, None


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
        if key.lower() == "method" and val.lower() == "gear":  # a real-part build (THEORY.md 11)
            out["method"] = "gear"
            continue
        if key.lower() not in _OPTION_KEYS or not eq:
            raise _fail(lineno, line, f"option {tok!r} is outside the subset ({', '.join(_OPTION_KEYS)})")
        x = _number(lineno, line, val, key, "option")
        if not x > 0 and key.lower() != "temp":
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
    return ir.Transient(step=vals[0], stop=vals[1], max_step=tran_max_step(vals))


def tran_max_step(vals) -> float:
    """The maximum step ngspice uses for ``.tran`` values (step, stop[, start[, tmax]]):
    tmax when given and non-zero, else min(step, (stop - start) / 50) (TRANinit,
    src/spicelib/analysis/traninit.c)."""
    step, stop = vals[0], vals[1]
    start = vals[2] if len(vals) > 2 else 0.0
    tmax = vals[3] if len(vals) > 3 else 0.0
    if tmax != 0.0:
        return tmax
    return step if step < (stop - start) / 50.0 else (stop - start) / 50.0


def _parse_ac(lineno: int, line: str) -> ir.AcSweep:
    tokens = line.split()[1:]
    if len(tokens) != 4 or tokens[0].lower() != "dec" or not re.fullmatch(r"[1-9]\d{0,5}", tokens[1]):
        raise _fail(lineno, line, ".ac needs the form '.ac dec points f_start f_stop'")
    f0, f1 = (_number(lineno, line, t, "frequency") for t in tokens[2:])
    if not 0 < f0 <= f1:
        raise _fail(lineno, line, ".ac frequencies must satisfy 0 < f_start <= f_stop")
    return ir.AcSweep(int(tokens[1]), f0, f1)
