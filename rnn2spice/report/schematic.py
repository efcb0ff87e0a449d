"""Schematic pictures (SVG, PNG) of small compiled networks, drawn with schemdraw.

The picture is drawn from the compiled circuit's elements (``CompiledNetwork.circuit``),
never re-derived from the spec, so it shows what the netlist holds: every name and value
is an element's.  It is meant for reading and teaching, so some things are summarised:

* **Controlled sources into one node or loop** (the coupling ``G_<k>_<j>``, ``GX_<k>_<l>``,
  ``GZ_..``, ``FZ_..``; in the series form the EMF chain ``H_<k>_<j>``, ``EX_<k>_<l>``,
  ``E_<k>_<j>``) are drawn as **one** dependent source labelled with the sum (``Σ G_0_j
  v(h_j)``), each element listed under it with its value.  The intermediate nodes of a
  series EMF chain (``e<k>_<i>``) are therefore not drawn.
* **Op-amps** are the op-amp symbol named after the netlist's ``E<tag>`` (an ideal op-amp
  is that VCVS; a single-pole macro-model's ``GA``/``RA``/``CA`` are named in its label,
  not drawn).  The non-inverting input is drawn grounded, as in the netlist.
* **Ground** is a symbol per block; a node's name is written once, at the block's left.
* Elements between two nodes that are not part of a loop or an op-amp stage (the gyrator
  coupling's ``RS_<i>_<j>`` and ``XG_<i>_<j>``) are drawn on wires above the cells; an
  ideal gyrator is a box.

Every other element is drawn on its own, labelled with its name and value in engineering
notation.  Only networks of at most :data:`MAX_NEURONS` neurons are drawn (a picture of
more is unreadable; the netlist is the reference).  Layout: a row of neurons (cells, loops
or integrators), a row of the other nodes and stages (summing and rate nodes, summers,
inverters, activation blocks), a row of inputs and references.

The module is longer than 400 lines because the three drawings (a node's branches to
ground, a series loop, an op-amp stage) share one sheet, one layout and one label
vocabulary; split it by drawing when a fourth kind of block comes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from rnn2spice.circuit import ir
from rnn2spice.errors import MissingDependencyError, UsageError
from rnn2spice.report.files import check_output, sign_image, write_file

#: The largest network drawn.
MAX_NEURONS = 4
#: Output suffix -> image format.
FORMATS = {".svg": "svg", ".png": "png"}
SCHEMDRAW_INSTALL = ("the schematic needs schemdraw, which is not installed: "
                     "pip install 'rnn2spice[schematic]' (or pip install 'schemdraw>=0.18')")

FONT = 11
CHAR = 0.17       # width of one character in drawing units at FONT
LENGTH = 3.0      # a vertical branch
ROW_GAP = 1.5
MAX_ROW = 48.0    # a row wraps beyond this width (drawing units)
_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"),
             (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))
_CONTROLLED = (ir.Vccs, ir.Cccs, ir.Vcvs, ir.Ccvs)
_CURRENT_OUT = (ir.Vccs, ir.Cccs, ir.CurrentSource, ir.TanhCurrent, ir.ActivationCurrent)


def eng(x: float, unit: str = "") -> str:
    """``x`` in engineering notation with 4 significant digits: ``eng(1e-9, "F") == "1 nF"``."""
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return f"{x:g} {unit}".strip()
    for scale, prefix in _PREFIXES:
        if abs(x) >= scale * 0.9995:
            break
    return f"{x / scale:.4g} {prefix}{unit}".strip()


def image_format(path) -> str:
    """``svg`` or ``png`` from the suffix of ``path``; UsageError naming any other suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"a schematic is written as .svg or .png; cannot tell the format of {str(path)!r} "
                         f"(suffix {suffix or 'none'!r})")
    return FORMATS[suffix]


def schematic(compiled, path=None, *, fmt: str | None = None, field: str = "path", force: bool = False) -> bytes:
    """The picture of ``compiled`` (:func:`draw`): written to ``path`` (``.svg`` or ``.png``,
    atomically) when given, else in ``fmt`` (``svg``, the default, or ``png``); returns the
    image bytes.  An existing file at ``path`` is replaced only when it is a picture of that
    format rnn2spice wrote, or with ``force`` (the output rule, report/files.py)."""
    if path is not None:
        suffix_fmt = image_format(path)
        if fmt is not None and fmt != suffix_fmt:
            raise UsageError(f"fmt {fmt!r} does not match the suffix of {str(path)!r}")
        fmt = suffix_fmt
        check_output(path, field, fmt, force=force)  # before drawing
    data = draw(compiled, fmt or "svg")
    if path is not None:
        write_file(path, data, field=field, kind=fmt, force=force)
    return data


def check_size(n: int, name: str = "the network") -> None:
    if n > MAX_NEURONS:
        raise UsageError(f"a schematic is drawn for networks of at most {MAX_NEURONS} neurons; {name} has "
                         f"n = {n} (the netlist, `rnn2spice compile`, shows any size)")


def _schemdraw():
    try:
        import schemdraw
        import schemdraw.elements as elm
    except ImportError:
        raise MissingDependencyError(SCHEMDRAW_INSTALL) from None
    return schemdraw, elm


# =========================================================================== labels

def _value(e) -> str:
    """An element's value text (name not included)."""
    if isinstance(e, ir.Resistor):
        return eng(e.resistance, "Ω")
    if isinstance(e, ir.Capacitor):
        return eng(e.capacitance, "F") + (f", IC {eng(e.ic, 'V')}" if e.ic else "")
    if isinstance(e, ir.Inductor):
        return eng(e.inductance, "H") + (f", IC {eng(e.ic, 'A')}" if e.ic else "")
    if isinstance(e, ir.Vccs):
        return f"{eng(e.gm, 'S')} · v({_ctrl(e.ctrl_p, e.ctrl_n)})"
    if isinstance(e, ir.Cccs):
        return f"{e.gain:.4g} · i({e.sense})"
    if isinstance(e, ir.Vcvs):
        return f"{e.gain:.4g} · v({_ctrl(e.ctrl_p, e.ctrl_n)})"
    if isinstance(e, ir.Ccvs):
        return f"{eng(e.r, 'Ω')} · i({e.sense})"
    if isinstance(e, ir.CurrentSource):
        return eng(e.dc, "A")
    if isinstance(e, ir.VoltageSource):
        if e.waveform is None:
            return eng(e.dc, "V")
        return f"{type(e.waveform).__name__.lower()} input"
    if isinstance(e, ir.BEHAVIOURAL):
        unit = "A" if isinstance(e, _CURRENT_OUT) else "V"
        gain = "" if abs(e.gain) == 1.0 and unit == "V" else eng(abs(e.gain), unit) + " · "
        return f"{'−' if e.gain < 0 else ''}{gain}{e.function}(v({e.arg}))"
    if isinstance(e, ir.Gyrator):
        return f"gyrator, g = {eng(e.g, 'S')}"
    return ""  # pragma: no cover - every IR kind is above


def _ctrl(p: str, n: str) -> str:
    return p if n == "0" else (f"−{n}" if p == "0" else f"{p}, {n}")


def _label(e) -> str:
    return f"{e.name}\n{_value(e)}"


def _sum_label(group: list) -> str:
    """``Σ G_0_j v(h_j) + GX_0_0 v(x0)`` and one line per element: the summed dependent source."""
    terms: dict[str, list] = {}
    for e in group:
        terms.setdefault(e.name.rsplit("_", 1)[0], []).append(e)
    parts = []
    for prefix, members in terms.items():
        e = members[0]
        ctrl = (f"i({e.sense})" if isinstance(e, (ir.Cccs, ir.Ccvs)) else f"v({_ctrl(e.ctrl_p, e.ctrl_n)})")
        if len(members) == 1:
            parts.append(f"{e.name} {ctrl}")
        else:
            idx = e.name.rsplit("_", 1)[1]
            ctrl = re.sub(rf"(_?){idx}(?=\))", "_j", ctrl)
            parts.append(f"Σ {prefix}_j {ctrl}")
    return "\n".join([" + ".join(parts)] + [f"{e.name} = {_coefficient(e)}" for e in group])


def _coefficient(e) -> str:
    if isinstance(e, ir.Vccs):
        return eng(e.gm, "S")
    if isinstance(e, ir.Ccvs):
        return eng(e.r, "Ω")
    return f"{e.gain:.4g}"


def _width(text: str) -> float:
    return CHAR * max(len(line) for line in text.split("\n"))


# =========================================================================== the drawing

class _Sheet:
    """A schemdraw drawing with a cursor per row (blocks placed left to right, wrapping)."""

    def __init__(self, schemdraw, elm, canvas: str, opamp_form: bool):
        self.elm = elm
        self.d = schemdraw.Drawing(canvas=canvas, show=False)
        self.d.config(fontsize=FONT, unit=LENGTH)
        self.opamp_form = opamp_form
        self.x = 0.0
        self.y = 0.0
        self.row_height = 0.0
        self.wrap = True  # off while drawing nodes that wires above must reach: one line
        self.attach: dict[str, tuple[float, float]] = {}  # node -> where a wire may join it

    def add(self, element):
        self.d.add(element)
        return element

    def place(self, width: float, height: float) -> tuple[float, float]:
        """Top-left corner of the next block of this size."""
        if self.wrap and self.x > 0 and self.x + width > MAX_ROW:
            self.newline()
        at = (self.x, self.y)
        self.x += width + 1.5
        self.row_height = max(self.row_height, height)
        return at

    def newline(self) -> None:
        if self.x > 0:
            self.y -= self.row_height + ROW_GAP
        self.x, self.row_height = 0.0, 0.0

    def node_text(self, node: str) -> str:
        if self.opamp_form:
            m = re.fullmatch(r"o(\d+)", node)
            if m:
                return f"{node} = h{m.group(1)}"
            m = re.fullmatch(r"(.+)q", node)
            if m:
                return f"{node} = −v({m.group(1)})"
        return node

    # ------------------------------------------------------------------ branches

    def branch(self, e, x: float, top: float, bottom: float, text: str | None = None, summed: bool = False):
        """A two-terminal element from node (top) to ground (bottom) at x."""
        elm = self.elm
        text = _label(e) if text is None else text
        up = (x, bottom), (x, top)
        if isinstance(e, ir.Resistor):
            el = elm.Resistor().endpoints((x, top), (x, bottom))
        elif isinstance(e, ir.Capacitor):
            el = elm.Capacitor().endpoints((x, top), (x, bottom))
        elif isinstance(e, ir.Inductor):
            el = elm.Inductor2().endpoints((x, top), (x, bottom))
        elif isinstance(e, _CURRENT_OUT):  # current from ground into the node: arrow upwards
            kind = elm.SourceI if isinstance(e, ir.CurrentSource) else elm.SourceControlledI
            el = kind().endpoints(*up) if e.dst != "0" else kind().endpoints(*up[::-1])
        elif isinstance(e, ir.VoltageSource) and e.waveform is not None:
            el = elm.SourceSin().endpoints(*up)
        elif isinstance(e, ir.VoltageSource):
            el = elm.SourceV().endpoints(*up)
        else:  # a (controlled or behavioural) voltage source, + at the node
            el = elm.SourceControlledV().endpoints(*up)
        return self.add(el.label(text, loc="bottom", halign="left", ofst=(0.6, 0)))

    def column(self, node: str, elements: list) -> None:
        """Node ``node``: its branches to ground side by side, controlled sources summed."""
        controlled = [e for e in elements if isinstance(e, _CONTROLLED)]
        items = [(e, None) for e in elements if not isinstance(e, _CONTROLLED)]
        if len(controlled) == 1:
            items.append((controlled[0], None))
        elif controlled:
            items.append((controlled[0], _sum_label(controlled)))
        widths = [max(2.2, 1.0 + _width(_label(e) if t is None else t)) for e, t in items]
        name = self.node_text(node)
        lead = max(1.0, CHAR * len(name) + 0.6)
        x0, y0 = self.place(lead + sum(widths), LENGTH + 2.5)
        top, bottom = y0 - 0.8, y0 - 0.8 - LENGTH
        elm = self.elm
        xs = [x0 + lead + sum(widths[:i]) for i in range(len(items))]
        self.add(elm.Line().at((x0 + lead - 0.6, top)).to((xs[-1], top)))
        self.add(elm.Dot().at((x0 + lead - 0.6, top)).label(name, loc="left"))
        self.attach[node] = (x0 + lead - 0.6, top)
        self.add(elm.Line().at((xs[0], bottom)).to((xs[-1], bottom)))
        self.add(elm.Ground().at((xs[0], bottom)))
        for x, (e, text) in zip(xs, items):
            self.branch(e, x, top, bottom, text)
            self.add(elm.Dot().at((x, top)))

    # ------------------------------------------------------------------ series loop

    def loop(self, k: int, emfs: list, ind, res, sense) -> None:
        """Loop k: the EMFs (summed) up the left leg, L_k along the top, R_k and the sense
        source down the right leg."""
        elm = self.elm
        controlled = [e for e in emfs if isinstance(e, _CONTROLLED)]
        items = [(e, None) for e in emfs if not isinstance(e, _CONTROLLED)]
        if controlled:
            items.insert(0, (controlled[0], _sum_label(controlled) if len(controlled) > 1 else None))
        texts = [(_label(e) if t is None else t) for e, t in items]
        left = max([_width(t) for t in texts] + [1.0]) + 1.2
        right = max(_width(_label(res)), _width(_label(sense) + " (h)")) + 1.2
        span = max(4.0, _width(_label(ind)) + 1.0)
        height = max(LENGTH * max(len(items), 1), 2 * LENGTH)
        x0, y0 = self.place(left + span + right, height + 3.0)
        xl, xr = x0 + left, x0 + left + span
        top, bottom = y0 - 1.6, y0 - 1.6 - height
        self.add(elm.Label().at((xl, y0)).label(f"loop {k}: h{k} = i({sense.name})", halign="left"))
        if items:
            step = height / len(items)
            for i, ((e, _), text) in enumerate(zip(items, texts)):
                self.add(elm.SourceControlledV().endpoints((xl, bottom + i * step), (xl, bottom + (i + 1) * step))
                         .label(text, loc="top", halign="right", ofst=(-0.6, 0))
                         if not isinstance(e, ir.VoltageSource) else
                         elm.SourceV().endpoints((xl, bottom + i * step), (xl, bottom + (i + 1) * step))
                         .label(text, loc="top", halign="right", ofst=(-0.6, 0)))
        else:
            self.add(elm.Line().at((xl, bottom)).to((xl, top)))
        self.add(elm.Inductor2().endpoints((xl, top), (xr, top)).label(_label(ind), loc="top"))
        mid = (top + bottom) / 2
        self.add(elm.Resistor().endpoints((xr, top), (xr, mid)).label(_label(res), loc="bottom",
                                                                       halign="left", ofst=(0.6, 0)))
        self.add(elm.SourceV().endpoints((xr, bottom), (xr, mid))
                 .label(f"{sense.name}\n0 V sense", loc="bottom", halign="left", ofst=(0.6, 0)))
        self.add(elm.Line().at((xr, bottom)).to((xl, bottom)))
        self.add(elm.Ground().at((xl, bottom)))

    # ------------------------------------------------------------------ op-amp stage

    def stage(self, amp, minus: str, feedback: list, inputs: list, macro: list) -> None:
        """An inverting stage: op-amp ``amp`` (output ``amp.p``), feedback elements between
        output and inverting input ``minus``, input resistors into ``minus``."""
        elm = self.elm
        out = amp.p
        in_texts = [f"{e.name} = {_value(e)}" for e in inputs]
        sources = [self.node_text(e.a if e.b == minus else e.b) for e in inputs]
        lead = max([CHAR * len(s) + 0.5 for s in sources] + [0.5])
        rlen = max([_width(t) + 0.6 for t in in_texts] + [2.5])
        fb_texts = [f"{e.name} = {_value(e)}" for e in feedback]
        out_text = self.node_text(out)
        body = max(3.5, max([_width(t) + 0.5 for t in fb_texts] + [0]))
        levels = 1.2 * len(feedback) + 0.8
        below = max(1.6 * max(len(inputs) - 1, 0), 2.4) + 0.8
        x0, y0 = self.place(lead + rlen + body + CHAR * len(out_text) + 1.0, levels + below)
        xn = x0 + lead + rlen
        yn = y0 - levels
        op = self.add(elm.Opamp().right().anchor("in1").at((xn + 0.8, yn)))
        self.add(elm.Line().at((xn, yn)).to(op.in1))
        self.add(elm.Ground().at(op.in2))
        xo = max(xn + body, op.out.x + 0.6)
        self.add(elm.Line().at(op.out).to((xo, op.out.y)))
        self.add(elm.Dot().at((xo, op.out.y)).label(out_text, loc="right"))
        name = amp.name + (f" (single-pole: {', '.join(e.name for e in macro)})" if macro else f", A = {amp.gain:g}")
        self.add(elm.Label().at((op.in2.x + 0.4, yn - 2.4)).label(name, halign="left"))
        self.attach[out] = (xo, op.out.y)
        for i, (e, text) in enumerate(zip(feedback, fb_texts)):
            y = yn + 1.2 * (i + 1)
            kind = elm.Capacitor if isinstance(e, ir.Capacitor) else elm.Resistor
            self.add(kind().endpoints((xn, y), (xo, y)).label(text, loc="top"))
        if feedback:
            ytop = yn + 1.2 * len(feedback)
            self.add(elm.Line().at((xn, yn)).to((xn, ytop)))
            self.add(elm.Line().at((xo, op.out.y)).to((xo, ytop)))
        for i, (e, text, src) in enumerate(zip(inputs, in_texts, sources)):
            y = yn - 1.6 * i
            self.add(elm.Resistor().endpoints((xn - rlen, y), (xn, y)).label(text, loc="top"))
            self.add(elm.Dot(open=True).at((xn - rlen, y)).label(src, loc="left"))
        if len(inputs) > 1:
            self.add(elm.Line().at((xn, yn)).to((xn, yn - 1.6 * (len(inputs) - 1))))
        self.add(elm.Dot().at((xn, yn)).label(minus, loc="bottom", halign="right", ofst=(-0.1, -0.1)))

    # ------------------------------------------------------------------ wires between nodes

    def bridges(self, elements: list) -> None:
        """Elements between two drawn nodes, each on a wire of its own above them."""
        elm = self.elm
        base = max((y for _, y in self.attach.values()), default=0.0) + 1.5
        reach: dict[str, float] = {}
        for i, e in enumerate(elements):
            a, b = (e.a, e.b)
            if a not in self.attach or b not in self.attach:  # pragma: no cover - the forms' nodes are drawn
                continue
            y = base + 1.8 * i
            xa, xb = sorted((self.attach[a][0], self.attach[b][0]))
            # the element in the first gap, so that it never sits on another node's wire
            xm = min([x - 0.8 for x, _ in self.attach.values() if xa < x < xb] + [xb])
            kind = elm.Resistor if isinstance(e, ir.Resistor) else elm.RBox
            self.add(kind().endpoints((xa, y), (xm, y)).label(_label(e).replace("\n", " "), loc="top"))
            if xm < xb:
                self.add(elm.Line().at((xm, y)).to((xb, y)))
            self.add(elm.Dot().at((xa, y)))
            self.add(elm.Dot().at((xb, y)))
            reach[a] = max(reach.get(a, y), y)
            reach[b] = max(reach.get(b, y), y)
        for node, y in reach.items():
            self.add(elm.Line().at(self.attach[node]).to((self.attach[node][0], y)))


def _nodes(e) -> tuple[str, str]:
    """The two terminals an element is drawn between (a controlled source: its output)."""
    for a, b in (("a", "b"), ("src", "dst"), ("p", "n")):
        if hasattr(e, a):
            return getattr(e, a), getattr(e, b)
    raise AssertionError(type(e))  # pragma: no cover


def _row(node: str) -> int:
    """Which row a node's column goes in: neurons, other nodes, inputs and references."""
    return 0 if re.fullmatch(r"h\d+", node) else 2 if re.fullmatch(r"x\d+|ref[pn]", node) else 1


def draw(compiled, fmt: str = "svg") -> bytes:
    """The schematic of ``compiled`` (a :class:`~rnn2spice.circuit.compiler.CompiledNetwork`)
    as SVG or PNG bytes (module docstring: what is summarised)."""
    if fmt not in FORMATS.values():
        raise UsageError(f"format must be one of {', '.join(FORMATS.values())} (got {fmt!r})")
    spec = compiled.spec
    check_size(spec.n, f"spec {spec.name}")
    schemdraw, elm = _schemdraw()
    if fmt == "png":
        import matplotlib

        matplotlib.use("Agg")
    sheet = _Sheet(schemdraw, elm, "svg" if fmt == "svg" else "matplotlib", compiled.form == "opamp")
    elements = list(compiled.circuit.expanded_elements())
    by_name = {e.name: e for e in elements}
    used: set[str] = set()

    stages = []  # (row, amp, minus, feedback, inputs, macro)
    if compiled.form == "opamp":
        for amp in [e for e in elements if isinstance(e, ir.Vcvs) and e.n == "0"]:
            tag = amp.name[1:]
            macro = [by_name[f"{p}{tag}"] for p in ("GA", "RA", "CA") if f"{p}{tag}" in by_name]
            minus = macro[0].ctrl_n if macro else amp.ctrl_n
            feedback = [e for e in elements if isinstance(e, (ir.Resistor, ir.Capacitor))
                        and {e.a, e.b} == {amp.p, minus}]
            inputs = [e for e in elements if isinstance(e, ir.Resistor) and minus in (e.a, e.b)
                      and e not in feedback]
            used.update(e.name for e in [amp, *macro, *feedback, *inputs])
            stages.append((0 if re.fullmatch(r"_\d+", tag) else 1, amp, minus, feedback, inputs, macro))
    loops = []
    if compiled.form == "series":
        for k in range(spec.n):
            chain = re.compile(rf"a{k}|e{k}_\d+")
            emfs = [e for e in elements if hasattr(e, "p") and chain.fullmatch(e.p)]
            parts = [by_name[f"L_{k}"], by_name[f"R_{k}"], by_name[f"Vs_{k}"]]
            used.update(e.name for e in emfs + parts)
            loops.append((k, emfs, *parts))

    columns: dict[str, list] = {}
    bridges = []
    for e in elements:
        if e.name in used:
            continue
        a, b = _nodes(e)
        if "0" in (a, b):
            columns.setdefault(b if a == "0" else a, []).append(e)
        else:
            bridges.append(e)

    title = (f"{spec.name}: form {compiled.form}, coupling {compiled.coupling}, {spec.convention}/"
             f"{spec.activation}, n = {spec.n}, m = {spec.m}")
    for row in (0, 1, 2):
        sheet.wrap = row > 0 or not bridges
        for k, emfs, ind, res, sense in (loops if row == 0 else []):
            sheet.loop(k, emfs, ind, res, sense)
        for r, amp, minus, feedback, inputs, macro in stages:
            if r == row:
                sheet.stage(amp, minus, feedback, inputs, macro)
        for node in sorted((n for n in columns if _row(n) == row), key=_node_order):
            sheet.column(node, columns[node])
        sheet.newline()
    sheet.bridges(bridges)
    box = sheet.d.get_bbox()
    sheet.add(elm.Label().at((box.xmin, box.ymax + 1.0)).label(title, halign="left", fontsize=FONT + 2))
    return sign_image(sheet.d.get_imagedata(fmt), fmt)  # signed: the output rule knows its own pictures


def _node_order(node: str) -> tuple:
    m = re.fullmatch(r"([a-z]+)(\d*)", node)
    return (m.group(1), int(m.group(2) or 0)) if m else (node, 0)
