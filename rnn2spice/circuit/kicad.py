"""The KiCad writer: :class:`~rnn2spice.circuit.ir.Circuit` IR -> a KiCad 9 project (schematic,
project file, model library), a sibling of :mod:`rnn2spice.circuit.writer` over the same IR.

Only these modules know KiCad's syntax: this one (sheets, layout, files), its element mapping
(:mod:`rnn2spice.circuit.kicad_parts`: symbol, pins and simulation fields of every IR element,
numbers KiCad copies exactly) and its drawings (:mod:`rnn2spice.circuit.kicad_symbols`).
:func:`write_kicad` returns the files' texts; it writes nothing.  KiCad reads the schematic,
checks it (ERC) and exports the SPICE netlist its simulator (ngspice) runs (docs/kicad.md):
every IR element is one symbol named as in rnn2spice's netlist, with its ``Sim.*`` fields.

* **Nets.**  Every pin ends in a global label naming its net (the IR node, or ``rename``'s
  name for it: the state nets ``h0 ... h{n-1}``), ground pins in a ``GND`` symbol (net
  ``GND``, which ngspice takes as node 0); a global label names the same net on every sheet.
* **Analysis.**  The ``.tran`` card (with ``uic``: the capacitors' and inductors' ``IC=`` are
  the initial state) and the ``.options`` card are text directives on the root sheet, written
  by the netlist writer itself.

Layout: the parts of one neuron (every element whose name's first index is k: cell,
couplings into it, its summing node and activation) form a block of rows; inputs and
references one more block.  Up to :data:`FLAT_NEURONS` neurons the blocks share one sheet;
beyond, each block is a hierarchical sheet and the root shows the sheets on a grid.  At most
:data:`MAX_NEURONS` neurons and :data:`MAX_INPUTS` inputs (a neuron's sheet holds n + m
couplings).  Output is deterministic (UUIDs derived from names).  Units: millimetres on the
sheet, SI in the circuit.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from rnn2spice._version import __version__
from rnn2spice.circuit import ir
from rnn2spice.circuit.kicad_parts import NET, OPAMP_SUBCKT, Mapper, Part, group_of
from rnn2spice.circuit.kicad_symbols import LIBRARY, SYMBOLS, Symbol, library_symbol, outward
from rnn2spice.circuit.writer import GYRATOR_SUBCKT, NetlistWriter
from rnn2spice.errors import NetlistError, UsageError

#: The largest network written.  KiCad's ERC time grows steeply with the number of global labels
#: (n + m per neuron's sheet, n sheets): measured for dense linear networks in the parallel form
#: (kicad-cli 9.0.8, 2 shared cores): n = 16 6.6 s, n = 24 51 s, n = 32 482 s (export 2.5, 5.6,
#: 6.6 s; 322, 674 and 1154 parts); beyond, a designer would wait minutes for every check, so
#: at most MAX_NEURONS neurons, MAX_INPUTS inputs and MAX_PARTS parts (a dense n = 24, m = 24
#: network has 1,300 and took over 300 s).
MAX_NEURONS = 24
MAX_INPUTS = 24
MAX_PARTS = 700
#: Up to this many neurons the schematic is one sheet; beyond, one sheet per neuron.
FLAT_NEURONS = 4
#: KiCad 9's schematic file format.
FILE_VERSION = 20250114
#: The embedded symbols as a project symbol library too, and the project's table naming it: with
#: them KiCad finds the library the symbols' ``lib_id`` names (no ERC warning, and the designer
#: can place more of them).  The table is the project directory's: see :data:`OPTIONAL_FILES`.
SYMBOL_FILE = f"{LIBRARY}.kicad_sym"
SYMBOL_TABLE = "sym-lib-table"
SYMBOL_TABLE_TEXT = (f'(sym_lib_table\n  (version 7)\n  (lib (name "{LIBRARY}")(type "KiCad")'
                     f'(uri "${{KIPRJMOD}}/{SYMBOL_FILE}")(options "")(descr "rnn2spice symbols"))\n)\n')
#: Files written only where no other file of that name exists (a directory's own symbol table).
OPTIONAL_FILES = (SYMBOL_TABLE,)
_GROUND = "GND"
_UNIT = 1.27                     # the grid, mm
_ROW = 24                        # row pitch, grid units
_MARGIN, _TITLE_BLOCK = 20, 36   # grid units
#: ISO sheets (name, width, height in mm), landscape; the first the layout fits is used.
PAPERS = (("A4", 297.0, 210.0), ("A3", 420.0, 297.0), ("A2", 594.0, 420.0), ("A1", 841.0, 594.0),
          ("A0", 1189.0, 841.0))
_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,99}\Z")
_TEXT = re.compile(r"[A-Za-z0-9 _:.()=,+/*'|<>\[\]-]{0,200}\Z")
_NAMESPACE = uuid.UUID("6f1c2d2e-8a4b-5c2d-9e4f-72726e327370")



@dataclass(frozen=True)
class _Placed:
    part: Part
    x: int   # grid units
    y: int


def _layout(blocks: list[list[Part]], width: int, top: int) -> tuple[list[_Placed], int]:
    """Parts in rows, block after block; a row wraps at ``width`` grid units.  Returns the
    placements and the bottom (grid units)."""
    placed, y = [], top
    for block in blocks:
        x = _MARGIN
        y += _ROW // 2
        for part in block:
            symbol = SYMBOLS[part.symbol]
            if x + symbol.width > width - _MARGIN and x > _MARGIN:
                x, y = _MARGIN, y + _ROW
            placed.append(_Placed(part, x + symbol.anchor, y))
            x += symbol.width
        y += _ROW // 2
    return placed, y


def _paper(blocks: list[list[Part]], top: int) -> tuple[tuple[str, float, float], list[_Placed]]:
    """The smallest ISO sheet the blocks fit on, and their placements on it."""
    for paper in PAPERS:
        width, height = (round(size / _UNIT) for size in paper[1:])
        placed, bottom = _layout(blocks, width, top)
        if bottom <= height - _TITLE_BLOCK:
            return paper, placed
    raise UsageError(f"the network's {sum(map(len, blocks))} parts do not fit a KiCad sheet of size A0; "
                     f"at most {MAX_NEURONS} neurons and {MAX_INPUTS} inputs are supported")


def _q(text: str) -> str:
    """A KiCad string: quoted, backslash and quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mm(units: float) -> str:
    text = f"{units * _UNIT:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class _Sheet:
    """The items of one schematic file."""

    def __init__(self, writer: "KicadWriter", path: str, key: str):
        self.w, self.path, self.key = writer, path, key  # path: "/<root>[/<sheet>]" of its symbols
        self.items: list[str] = []
        self.used: set[str] = set()

    def uid(self, *what) -> str:
        return str(uuid.uuid5(_NAMESPACE, "/".join([self.w.name, self.key, *map(str, what)])))

    def symbol(self, symbol: Symbol, ref: str, value: str, x: float, y: float, sim=(), angle: int = 0) -> None:
        self.used.add(symbol.name)
        font = "(effects (font (size 1.27 1.27)) (justify left))"
        hidden = "(effects (font (size 1.27 1.27)) (hide yes))"
        rx, ry_ref, ry_val = x + symbol.text_dx, y - symbol.text_dy, y + symbol.text_dy
        if symbol.power:
            props = [f'(property "Reference" {_q(ref)} (at {_mm(x)} {_mm(y)} 0) {hidden})',
                     f'(property "Value" {_q(value)} (at {_mm(x + 1)} {_mm(y - 3)} 0) '
                     f'{hidden if symbol.name == "GND" else font})']
        else:
            props = [f'(property "Reference" {_q(ref)} (at {_mm(rx)} {_mm(ry_ref)} 0) {font})',
                     f'(property "Value" {_q(value)} (at {_mm(rx)} {_mm(ry_val)} 0) {font})']
        props += [f'(property {_q(k)} "" (at {_mm(x)} {_mm(y)} 0) {hidden})' for k in ("Footprint", "Datasheet",
                                                                                      "Description")]
        props += [f'(property {_q(k)} {_q(v)} (at {_mm(x)} {_mm(y)} 0) {hidden})' for k, v in sim]
        pins = " ".join(f'(pin "{p.number}" (uuid "{self.uid(ref, "pin", p.number)}"))' for p in symbol.pins)
        self.items.append(
            f'(symbol (lib_id "{LIBRARY}:{symbol.name}") (at {_mm(x)} {_mm(y)} {angle}) (unit 1) '
            f'(exclude_from_sim no) (in_bom {"no" if symbol.power else "yes"}) (on_board {"no" if symbol.power else "yes"}) '
            f'(dnp no) (uuid "{self.uid(ref)}")\n  ' + "\n  ".join(props) + f"\n  {pins}\n"
            f'  (instances (project {_q(self.w.name)} (path "{self.path}" (reference {_q(ref)}) (unit 1)))))')

    def part(self, placed: _Placed) -> None:
        part, symbol = placed.part, SYMBOLS[placed.part.symbol]
        self.symbol(symbol, part.ref, part.value, placed.x, placed.y, part.sim)
        for pin, net in zip(symbol.pins, part.nets):
            x, y = placed.x + pin.x / _UNIT, placed.y - pin.y / _UNIT  # the sheet's y runs down
            direction = outward(pin)
            if net == "0":
                self.ground(x, y, direction)
            else:
                self.label(net, x, y, direction)

    def ground(self, x: float, y: float, direction: int = 270) -> str:
        """A ground symbol at (x, y), drawn away from the pin (``direction`` it leaves in)."""
        ref = self.w.next_power()
        self.symbol(SYMBOLS["GND"], ref, _GROUND, x, y, angle={270: 0, 90: 180, 0: 90, 180: 270}[direction])
        return ref

    def label(self, net: str, x: float, y: float, direction: int) -> None:
        justify = "left" if direction in (0, 90) else "right"
        self.items.append(
            f'(global_label {_q(net)} (shape passive) (at {_mm(x)} {_mm(y)} {direction}) (fields_autoplaced yes) '
            f'(effects (font (size 1.27 1.27)) (justify {justify})) (uuid "{self.uid("label", net, x, y)}") '
            f'(property "Intersheetrefs" "${{INTERSHEET_REFS}}" (at {_mm(x)} {_mm(y)} 0) '
            f'(effects (font (size 1.27 1.27)) (hide yes))))')

    def text(self, text: str, x: float, y: float, size: float = 1.27, sim: bool = False) -> None:
        if not _TEXT.match(text) and not text.startswith((".tran ", ".options ")):
            raise NetlistError(f"invalid sheet text {text!r}")
        self.items.append(f'(text {_q(text)} (exclude_from_sim {"no" if sim else "yes"}) (at {_mm(x)} {_mm(y)} 0) '
                          f'(effects (font (size {size:g} {size:g})) (justify left bottom)) (uuid "{self.uid("text", text)}"))')

    def file(self, paper: str, own_uuid: str, title: tuple[str, ...], root: bool, extra: list[str] = ()) -> str:
        symbols = "\n".join("  " + library_symbol(SYMBOLS[name]) for name in sorted(self.used))
        block = ""
        if title:
            comments = "".join(f" (comment {i} {_q(c)})" for i, c in enumerate(title[1:5], 1))
            block = f"(title_block (title {_q(title[0])}){comments})\n"
        tail = '(sheet_instances (path "/" (page "1")))\n' if root else ""
        return (f'(kicad_sch (version {FILE_VERSION}) (generator "rnn2spice") (generator_version "9.0") '
                f'(uuid "{own_uuid}") (paper "{paper}")\n{block}(lib_symbols\n{symbols}\n)\n'
                + "\n".join(self.items + list(extra)) + f"\n{tail}(embedded_fonts no)\n)\n")


class KicadWriter:
    """The files of one KiCad project for one circuit (see :func:`write_kicad`)."""

    def __init__(self, circuit: ir.Circuit, name: str, rename: Mapping[str, str], neurons: int):
        if not (isinstance(name, str) and _NAME.match(name)):
            raise UsageError(f"KiCad project name must be 1-100 letters, digits, '_', '-', '+' or '.' "
                             f"(not first) (got {name!r})")
        if not isinstance(circuit.analysis, ir.Transient):
            raise UsageError(f"a KiCad schematic is written for a transient analysis (got {type(circuit.analysis).__name__})")
        if not (isinstance(neurons, int) and 0 <= neurons <= MAX_NEURONS):
            raise UsageError(f"KiCad schematics support at most {MAX_NEURONS} neurons (got n = {neurons})")
        self.circuit, self.name, self.neurons = circuit, name, neurons
        self.rename = dict(rename)
        self.root_uuid = str(uuid.uuid5(_NAMESPACE, f"{name}/root"))
        self.powers = 0
        self.library = f"{name}.lib"
        nodes = _nodes(circuit)
        for old, new in self.rename.items():
            if not (NET.match(str(old)) and NET.match(str(new))):
                raise NetlistError(f"invalid net rename {old!r} -> {new!r}")
            if new in nodes and new not in self.rename:
                raise NetlistError(f"cannot name net {old!r} {new!r}: the circuit has a node {new!r}")
        self.mapper = Mapper(self.net, self.library)

    def net(self, node: str) -> str:
        if node == "0":
            return "0"
        if not (isinstance(node, str) and NET.match(node)) or node.lower() == _GROUND.lower():
            raise NetlistError(f"invalid node name {node!r}")
        return self.rename.get(node, node)

    def next_power(self) -> str:
        self.powers += 1
        return f"#PWR{self.powers:04d}"

    def files(self) -> dict[str, str]:
        blocks: dict[str, list[Part]] = {}
        self.mapper.define(self.circuit.elements)
        for e in self.circuit.elements:
            for part in self.mapper.parts(e):
                blocks.setdefault(group_of(part.ref), []).append(part)
        refs = [p.ref.lower() for block in blocks.values() for p in block]
        if len(refs) > MAX_PARTS:
            raise UsageError(f"the circuit of {self.circuit.title!r} has {len(refs)} parts (n = {self.neurons}); KiCad "
                             f"schematics support at most {MAX_PARTS} parts (its checks take minutes beyond)")
        if len(set(refs)) != len(refs):
            raise NetlistError("duplicate element name in the circuit")
        order = sorted(blocks, key=lambda g: (g == "inputs", g == "shared", int(g.split()[1]) if
                                              g.startswith("neuron ") else 0))
        root = _Sheet(self, f"/{self.root_uuid}", "root")
        files: dict[str, str] = {}
        header = self._directives(root)
        flat = self.neurons <= FLAT_NEURONS
        if flat:
            (paper, _, _), placed = _paper([blocks[g] for g in order], self._power_flag(root, header))
            for p in placed:
                root.part(p)
        else:
            sheets = []
            for page, group in enumerate(order, 2):
                file = f"{self.name}-{group.replace(' ', '')}.kicad_sch"
                sheet_uuid = str(uuid.uuid5(_NAMESPACE, f"{self.name}/sheet/{group}"))
                child = _Sheet(self, f"/{self.root_uuid}/{sheet_uuid}", group)
                (child_paper, _, _), placed = _paper([blocks[group]], self._power_flag(child, 4) if page == 2 else 4)
                for p in placed:
                    child.part(p)
                child.text(f"{group} of {self.circuit.title}", _MARGIN, 6, 2.0)
                files[file] = child.file(child_paper, str(uuid.uuid5(_NAMESPACE, f"{self.name}/file/{group}")), (),
                                         False)
                sheets.append((group, file, sheet_uuid, page))
            paper, extra = self._sheet_symbols(sheets, header)
            root.items.extend(extra)
        title = self._title()  # the title block: the title and the first comments (all are on the sheet)
        files = {f"{self.name}.kicad_sch": root.file(paper, self.root_uuid, (title[0], *(c[:90] for c in title[1:3])),
                                                     True), **files}
        if self.mapper.subcircuits:
            files[self.library] = self._library()
        files[f"{self.name}.kicad_pro"] = self._project(files)
        files[SYMBOL_FILE] = symbol_library()
        files[SYMBOL_TABLE] = SYMBOL_TABLE_TEXT
        return files

    def _title(self) -> tuple[str, ...]:
        lines = (self.circuit.title, *self.circuit.comments)
        for line in lines:
            if not (isinstance(line, str) and _TEXT.match(line)):
                raise NetlistError(f"invalid title or comment text {line!r}")
        return lines

    def _directives(self, root: _Sheet) -> int:
        """The simulation commands and notes at the root sheet's top; the grid row below them."""
        w = NetlistWriter()
        y = 14
        lines = self._title()
        root.text(f"{lines[0]}: KiCad simulates this sheet with the directives below "
                  "(transient with uic: the C and L models' IC= are the initial state)", _MARGIN, y, 1.5)
        for i, comment in enumerate(lines[1:], 1):
            root.text(comment, _MARGIN, y + 1.5 * i)
        if self.rename:  # the header's identification names the IR nodes
            renamed = ", ".join(f"{old} is net {new}" for old, new in sorted(self.rename.items())[:8])
            root.text(f"on the sheets: {renamed}{' ...' if len(self.rename) > 8 else ''}", _MARGIN,
                      y + 1.5 * len(lines))
            y += 1.5
        y += 1.5 * len(lines) + 1.5
        root.text(w.analysis(self.circuit.analysis), _MARGIN, y, sim=True)
        root.text(w.options(self.circuit.options), _MARGIN, y + 2, sim=True)
        return int(y) + 4

    def _power_flag(self, sheet: _Sheet, y: int) -> int:
        """The ground net is driven (ERC): a power flag on a ground symbol, on a sheet that has
        other ground pins (on a sheet of its own KiCad finds the ground pin unconnected)."""
        sheet.ground(_MARGIN + 2, y + 4)
        sheet.symbol(SYMBOLS["PWR_FLAG"], "#FLG0001", "PWR_FLAG", _MARGIN + 2, y + 4)
        return y + 6

    def _sheet_symbols(self, sheets, top: int) -> tuple[str, list[str]]:
        cols = 8
        width, height, pitch_x, pitch_y = 24, 10, 32, 16
        rows = -(-len(sheets) // cols)
        need_w, need_h = 2 * _MARGIN + cols * pitch_x, top + 4 + rows * pitch_y + _TITLE_BLOCK
        paper = next((p[0] for p in PAPERS if p[1] / _UNIT >= need_w and p[2] / _UNIT >= need_h), None)
        if paper is None:
            raise UsageError(f"{len(sheets)} sheets do not fit a root sheet of size A0")
        items = []
        for i, (group, file, sheet_uuid, page) in enumerate(sheets):
            x, y = _MARGIN + (i % cols) * pitch_x, top + 4 + (i // cols) * pitch_y
            items.append(
                f'(sheet (at {_mm(x)} {_mm(y)}) (size {_mm(width)} {_mm(height)}) (exclude_from_sim no) (in_bom yes) '
                f'(on_board yes) (dnp no) (fields_autoplaced yes) (stroke (width 0.1524) (type solid)) '
                f'(fill (color 0 0 0 0.0000)) (uuid "{sheet_uuid}")\n'
                f'  (property "Sheetname" {_q(group)} (at {_mm(x)} {_mm(y - 0.5)} 0) '
                f'(effects (font (size 1.27 1.27)) (justify left bottom)))\n'
                f'  (property "Sheetfile" {_q(file)} (at {_mm(x)} {_mm(y + height + 0.5)} 0) '
                f'(effects (font (size 1.27 1.27)) (justify left top)))\n'
                f'  (instances (project {_q(self.name)} (path "/{self.root_uuid}" (page "{page}")))))')
        return paper, items

    def _library(self) -> str:
        lines = [f"* rnn2spice {__version__} models of {self.name}.kicad_sch (KiCad Sim.Library)"]
        if "opamp" in self.mapper.subcircuits:
            lines += ["* ideal op-amp: v(out) = a (v(inp) - v(inn)), a from the symbol's Sim.Params", *OPAMP_SUBCKT]
        if "definitions" in self.mapper.subcircuits:
            lines += ["* the build's parts (rnn2spice's netlist writer)", *self.mapper.library_lines()]
        if "gyrator" in self.mapper.subcircuits:
            lines += ["* ideal gyrator to ground: i_a = g v_b, i_b = -g v_a (THEORY.md 2)", *GYRATOR_SUBCKT]
        return "\n".join(lines) + "\n"

    def _project(self, files: Mapping[str, str]) -> str:
        sheets = [[self.root_uuid, "Root"]] + [
            [str(uuid.uuid5(_NAMESPACE, f"{self.name}/sheet/{f[len(self.name) + 1:-10]}")), ""]
            for f in files if f.endswith(".kicad_sch") and f != f"{self.name}.kicad_sch"]
        project = {"meta": {"filename": f"{self.name}.kicad_pro", "version": 3},
                   "schematic": {"legacy_lib_dir": "", "legacy_lib_list": []},
                   "sheets": sheets, "text_variables": {}}
        return json.dumps(project, indent=2, sort_keys=True) + "\n"


def symbol_library() -> str:
    """Every symbol of :data:`~rnn2spice.circuit.kicad_symbols.SYMBOLS` as a KiCad symbol library."""
    body = "\n".join("  " + library_symbol(s).replace(f'(symbol "{LIBRARY}:', '(symbol "', 1)
                     for s in SYMBOLS.values())
    return f'(kicad_symbol_lib (version 20241209) (generator "rnn2spice") (generator_version "9.0")\n{body}\n)\n'


def _nodes(circuit: ir.Circuit) -> set[str]:
    nodes: set[str] = set()
    for e in circuit.elements:
        for field in ("a", "b", "src", "dst", "p", "n", "ctrl_p", "ctrl_n", "arg"):
            value = getattr(e, field, None)
            if isinstance(value, str):
                nodes.add(value)
    return nodes


def write_kicad(circuit: ir.Circuit, *, name: str, rename: Mapping[str, str] | None = None,
                neurons: int) -> dict[str, str]:
    """The files of a KiCad 9 project of ``circuit`` (a transient): file name -> text.

    ``<name>.kicad_sch`` (the root sheet), one ``<name>-neuron<k>.kicad_sch`` per neuron
    (and ``<name>-inputs.kicad_sch``) beyond :data:`FLAT_NEURONS` ``neurons``,
    ``<name>.kicad_pro`` and, when a subcircuit is used, the model library ``<name>.lib``.
    ``rename`` maps IR nodes to the net names shown and simulated (``{"o0": "h0"}``).
    """
    return KicadWriter(circuit, name, rename or {}, neurons).files()
