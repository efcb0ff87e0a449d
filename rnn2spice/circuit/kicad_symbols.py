"""The symbols of the KiCad writer (:mod:`rnn2spice.circuit.kicad`): drawings and pins, no circuit.

Each :class:`Symbol` is drawn here from scratch (KiCad's own libraries are not needed and not
copied): graphics in KiCad's symbol-library coordinates (millimetres, y up), pins whose
connection points lie on the 1.27 mm grid.  The writer embeds the symbols it uses in the
schematic's ``lib_symbols``, so a schematic opens, checks and simulates without any library
installed.

Pin geometry: a pin is ``(number, name, x, y, angle)``; ``(x, y)`` is the connection point
and ``angle`` the direction the pin's line runs from it into the body (0 right, 90 up, 180
left, 270 down), so the pin faces *outward* the opposite way: :func:`outward`.  Every pin
is electrically ``passive`` (ERC then checks connections, not driver roles, which an ideal
circuit does not have) except the ground symbol's ``power_in`` and the power flag's
``power_out``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: KiCad's library nickname of the embedded symbols (``lib_id "rnn2spice:R"``).
LIBRARY = "rnn2spice"


@dataclass(frozen=True)
class Pin:
    number: str
    name: str
    x: float       # mm, symbol coordinates (y up)
    y: float
    angle: int     # direction of the pin line from the connection point into the body


@dataclass(frozen=True)
class Symbol:
    name: str
    reference: str                 # reference prefix shown in the library ("R", "#PWR")
    description: str
    pins: tuple[Pin, ...]
    graphics: tuple[str, ...]      # S-expressions of the body (unit 0, style 1)
    power: bool = False            # a power symbol (ground, power flag)
    pin_type: str = "passive"
    width: int = 10                # layout cell width in 1.27 mm grid units
    anchor: int = 5                # x of the symbol origin inside its cell, grid units
    text_dx: int = 2               # reference and value: this far right of the origin, grid units
    text_dy: int = 1               # ... and this far above / below it

    def pin(self, number: str) -> Pin:
        return next(p for p in self.pins if p.number == number)


def outward(pin: Pin) -> int:
    """The direction (0 right, 90 up, 180 left, 270 down, symbol coordinates) a wire or label
    leaves the pin's connection point: opposite to the pin line."""
    return (pin.angle + 180) % 360


def _line(*points: tuple[float, float], width: float = 0.254, fill: str = "none") -> str:
    pts = " ".join(f"(xy {_n(x)} {_n(y)})" for x, y in points)
    return f"(polyline (pts {pts}) (stroke (width {_n(width)}) (type default)) (fill (type {fill})))"


def _circle(x: float, y: float, r: float, width: float = 0.254) -> str:
    return (f"(circle (center {_n(x)} {_n(y)}) (radius {_n(r)}) (stroke (width {_n(width)}) (type default)) "
            "(fill (type background)))")


def _rect(x0: float, y0: float, x1: float, y1: float) -> str:
    return (f"(rectangle (start {_n(x0)} {_n(y0)}) (end {_n(x1)} {_n(y1)}) (stroke (width 0.254) (type default)) "
            "(fill (type background)))")


def _arc(start: tuple[float, float], mid: tuple[float, float], end: tuple[float, float]) -> str:
    return (f"(arc (start {_n(start[0])} {_n(start[1])}) (mid {_n(mid[0])} {_n(mid[1])}) "
            f"(end {_n(end[0])} {_n(end[1])}) (stroke (width 0.254) (type default)) (fill (type none)))")


def _text(text: str, x: float, y: float, size: float = 1.27) -> str:
    return f'(text "{text}" (at {_n(x)} {_n(y)} 0) (effects (font (size {_n(size)} {_n(size)}))))'


def _n(x: float) -> str:
    """A coordinate in KiCad's text: at most 4 decimals, no trailing zeros."""
    text = f"{x:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


TOP, BOTTOM = Pin("1", "1", 0.0, 5.08, 270), Pin("2", "2", 0.0, -5.08, 90)
#: Control pins of a four-terminal controlled source: left of the body, + above, - below.
CTRL_P, CTRL_N = Pin("3", "C+", -5.08, 5.08, 270), Pin("4", "C-", -5.08, -5.08, 90)
_DIAMOND = _line((0, 2.54), (-2.54, 0), (0, -2.54), (2.54, 0), (0, 2.54), fill="background")
_ARROW = (_line((0, 1.524), (0, -1.524), width=0.1524),
          _line((-0.508, -0.762), (0, -1.524), (0.508, -0.762), width=0.1524))
_PLUS_MINUS = (_line((-0.508, 1.27), (0.508, 1.27), width=0.1524), _line((0, 0.762), (0, 1.778), width=0.1524),
               _line((-0.508, -1.27), (0.508, -1.27), width=0.1524))
_CONTROL_MARKS = (_text("+", -3.81, 3.81, 1.016), _text("-", -3.81, -3.81, 1.016))


def _two_pin(name: str, reference: str, description: str, *graphics: str, width: int = 10) -> Symbol:
    return Symbol(name, reference, description, (TOP, BOTTOM), graphics, width=width)


def _controlled(name: str, description: str, *graphics: str) -> Symbol:
    return Symbol(name, name[0], description, (TOP, BOTTOM, CTRL_P, CTRL_N),
                  (_DIAMOND, *graphics, *_CONTROL_MARKS), width=16, anchor=9)


def _behavioural(name: str, description: str, *graphics: str) -> Symbol:
    """A behavioural source: pins 1, 2 are its SPICE nodes; pin 3 (``in``, top left) shows the net
    its expression reads (not a SPICE node: ``Sim.Pins`` leaves it out)."""
    return Symbol(name, "B", description + "; pin 3 marks the net its expression reads",
                  (TOP, BOTTOM, Pin("3", "in", -5.08, 5.08, 270)),
                  (_DIAMOND, *graphics, _line((-5.08, 2.54), (-5.08, 1.27), (-2.54, 0), width=0.1524)),
                  width=16, anchor=9)


SYMBOLS: dict[str, Symbol] = {s.name: s for s in (
    _two_pin("R", "R", "Resistor", _rect(-1.016, -2.54, 1.016, 2.54)),
    _two_pin("C", "C", "Capacitor (initial voltage in its simulation model)",
             _line((-2.032, 0.762), (2.032, 0.762), width=0.508), _line((-2.032, -0.762), (2.032, -0.762), width=0.508),
             _line((0, 2.54), (0, 0.762)), _line((0, -2.54), (0, -0.762))),
    _two_pin("L", "L", "Inductor (initial current in its simulation model)",
             *(_arc((0, 2.54 - 1.27 * i), (1.016, 1.905 - 1.27 * i), (0, 1.27 - 1.27 * i)) for i in range(4))),
    _two_pin("V", "V", "Voltage source (+ at pin 1)", _circle(0, 0, 2.54), *_PLUS_MINUS, width=14),
    _two_pin("I", "I", "Current source (from pin 1 through the source to pin 2)", _circle(0, 0, 2.54), *_ARROW, width=14),
    _behavioural("BI", "Behavioural current source (from pin 1 through the source to pin 2)", *_ARROW),
    _behavioural("BV", "Behavioural voltage source (+ at pin 1)", *_PLUS_MINUS),
    _two_pin("F", "F", "Current-controlled current source (CCCS)", _DIAMOND, *_ARROW, width=14),
    _two_pin("H", "H", "Current-controlled voltage source (CCVS)", _DIAMOND, *_PLUS_MINUS, width=14),
    _controlled("G", "Voltage-controlled current source (VCCS)", *_ARROW),
    _controlled("E", "Voltage-controlled voltage source (VCVS)", *_PLUS_MINUS),
    _two_pin("GYRATOR", "X", "Ideal gyrator to ground (subcircuit)", _rect(-2.54, -2.54, 2.54, 2.54),
             _arc((-1.27, 0.635), (0, 1.524), (1.27, 0.635)), _arc((1.27, -0.635), (0, -1.524), (-1.27, -0.635)), width=14),
    Symbol("OPAMP", "U", "Operational amplifier (ideal: a subcircuit of gain A)",
           (Pin("1", "+", -7.62, -2.54, 0), Pin("2", "-", -7.62, 2.54, 0), Pin("3", "out", 7.62, 0.0, 180)),
           (_line((-5.08, 5.08), (-5.08, -5.08), (5.08, 0), (-5.08, 5.08), fill="background"),
            _text("+", -3.81, -2.54), _text("-", -3.81, 2.54)), width=26, anchor=15, text_dx=-2, text_dy=5),
    Symbol("OPAMP5", "U", "Operational amplifier with supply pins (a subcircuit: inp inn vcc vee out)",
           (Pin("1", "+", -7.62, -2.54, 0), Pin("2", "-", -7.62, 2.54, 0), Pin("3", "V+", -2.54, 7.62, 270),
            Pin("4", "V-", -2.54, -7.62, 90), Pin("5", "out", 7.62, 0.0, 180)),
           (_line((-5.08, 5.08), (-5.08, -5.08), (5.08, 0), (-5.08, 5.08), fill="background"),
            _text("+", -3.81, -2.54), _text("-", -3.81, 2.54)), width=26, anchor=15, text_dx=1, text_dy=7),
    Symbol("NPN", "Q", "NPN bipolar transistor (pins C, B, E)",
           (Pin("1", "C", 2.54, 5.08, 270), Pin("2", "B", -5.08, 0.0, 0), Pin("3", "E", 2.54, -5.08, 90)),
           (_circle(0.635, 0, 3.175), _line((-2.54, 0), (-0.635, 0)), _line((-0.635, 1.905), (-0.635, -1.905), width=0.508),
            _line((-0.635, 0.635), (2.54, 2.54)), _line((-0.635, -0.635), (2.54, -2.54)),
            _line((1.27, -2.286), (2.032, -2.286), (1.778, -1.524), (1.27, -2.286), fill="outline")), width=18, anchor=9, text_dx=4),
    Symbol("D", "D", "Diode (pins A, K)", (Pin("1", "A", 0.0, 5.08, 270), Pin("2", "K", 0.0, -5.08, 90)),
           (_line((-1.27, 1.27), (1.27, 1.27), (0, -1.27), (-1.27, 1.27), fill="background"),
            _line((-1.27, -1.27), (1.27, -1.27)), _line((0, 2.54), (0, -2.54))), width=10),
    Symbol("GND", "#PWR", "Ground (net GND, the simulator's node 0)", (Pin("1", "~", 0.0, 0.0, 270),),
           (_line((0, 0), (0, -1.27), (1.27, -1.27), (0, -2.54), (-1.27, -1.27), (0, -1.27), width=0),),
           power=True, pin_type="power_in"),
    Symbol("PWR_FLAG", "#FLG", "Marks the ground net as driven (for the electrical rules check)",
           (Pin("1", "~", 0.0, 0.0, 90),),
           (_line((0, 0), (0, 1.27), (-1.016, 1.905), (0, 2.54), (1.016, 1.905), (0, 1.27), width=0),),
           power=True, pin_type="power_out"),
)}


def library_symbol(symbol: Symbol) -> str:
    """The symbol's definition as it sits in a schematic's ``lib_symbols`` (and a .kicad_sym)."""
    name = symbol.name
    font = "(effects (font (size 1.27 1.27)))"
    hidden = "(effects (font (size 1.27 1.27)) (hide yes))"
    pins = "\n      ".join(
        f'(pin {symbol.pin_type} line (at {_n(p.x)} {_n(p.y)} {p.angle}) (length {_n(0 if symbol.power else 2.54)}) '
        f'(name "{p.name}" {font}) (number "{p.number}" {font}))' for p in symbol.pins)
    body = "\n      ".join(symbol.graphics)
    return (f'(symbol "{LIBRARY}:{name}"{" (power)" if symbol.power else ""} (pin_numbers (hide yes)) '
            f'(pin_names (offset 0) (hide yes)) (exclude_from_sim no) (in_bom {"no" if symbol.power else "yes"}) '
            f'(on_board {"no" if symbol.power else "yes"})\n'
            f'    (property "Reference" "{symbol.reference}" (at 2.54 1.27 0) {hidden if symbol.power else font})\n'
            f'    (property "Value" "{name}" (at 2.54 -1.27 0) {font})\n'
            f'    (property "Footprint" "" (at 0 0 0) {hidden})\n'
            f'    (property "Datasheet" "" (at 0 0 0) {hidden})\n'
            f'    (property "Description" "{symbol.description}" (at 0 0 0) {hidden})\n'
            f'    (symbol "{name}_0_1"\n      {body})\n'
            f'    (symbol "{name}_1_1"\n      {pins}))')
