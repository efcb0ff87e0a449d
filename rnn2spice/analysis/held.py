"""The circuit as ngspice holds it: element values, initial conditions, analysis, sources.

The certificate (:mod:`rnn2spice.analysis.certificate`) takes the topology from the netlist
text (the strict reader) and every number from ngspice itself
(:func:`rnn2spice.spice.inspect.device_values`), so it certifies what the simulation will
use, not what Python reads in the text:

* :func:`held_netlist` -- the parsed netlist with each element's values replaced by
  ngspice's (R ``resistance``; C, L ``capacitance``/``inductance`` and ``ic``; G, E, F, H
  ``gain``; I ``dc``; V ``dc``, ``acmag``, ``function`` and ``coeffs``; a gyrator as its two
  VCCS ``g.<x>.g_a`` / ``g.<x>.g_b``; a behavioural source's gain as ngspice forms it from
  the expression and its ``m``), with the list of values ngspice reads differently from the
  text and of elements it did not load;
* :func:`analysis_problems` -- ``uic`` on the ``.tran`` card (without it ngspice computes
  an operating point and ignores every ``IC=``) and the step, stop and maximum step as
  ngspice reads and uses them, against the compiled IR (or, for a netlist file, the spec);
* :func:`waveform_problems` -- every input source's transient function and parameters as
  ngspice holds them, against the spec's waveform objects.

ngspice cannot report a ``.tran`` card or the number inside a behavioural-source
expression; for those the reproduction of its parsers in :mod:`rnn2spice.circuit.spicenum`
is used (tested against ngspice itself).
"""

from __future__ import annotations

import dataclasses
import math

from rnn2spice.circuit import ir
from rnn2spice.circuit.reader import ParsedNetlist, tran_max_step
from rnn2spice.circuit.spicenum import expression_value, inp_evaluate
from rnn2spice.network.waveform import Pulse, Pwl, Sine, Step
from rnn2spice.spice.inspect import device_values

#: ngspice's transient function codes (enum in src/spicelib/devices/vsrc/vsrcdefs.h).
FUNCTIONS = {0: "none", 1: "PULSE", 2: "SIN", 3: "EXP", 4: "SFFM", 5: "PWL"}
#: Relative agreement asked of analysis and waveform parameters (as of the matrices).
RTOL = 1e-12

_PARAMS = {
    ir.Resistor: (("resistance", "resistance"),),
    ir.Capacitor: (("capacitance", "capacitance"), ("ic", "ic")),
    ir.Inductor: (("inductance", "inductance"), ("ic", "ic")),
    ir.Vccs: (("gm", "gain"),), ir.Cccs: (("gain", "gain"),), ir.Vcvs: (("gain", "gain"),),
    ir.Ccvs: (("r", "gain"),), ir.CurrentSource: (("dc", "dc"),),
    ir.VoltageSource: (("dc", "dc"), ("ac", "acmag")),
}


@dataclasses.dataclass(frozen=True, eq=False)
class Held:
    """A parsed netlist with ngspice's values, and what the query found."""

    net: ParsedNetlist
    misread: tuple = ()        # (element, parameter, value in the text, value in ngspice)
    missing: tuple = ()        # elements ngspice did not load / parameters it did not answer
    functions: dict = dataclasses.field(default_factory=dict)  # V name -> (code, coeffs)
    version: str = ""
    messages: tuple = ()
    seconds: float = 0.0


def queries(net: ParsedNetlist) -> list[tuple[str, str]]:
    """Every (device, parameter) the certificate needs from ngspice."""
    out = []
    for e in net.elements:
        if isinstance(e, ir.Gyrator):
            out += [(f"g.{e.name}.g_a", "gain"), (f"g.{e.name}.g_b", "gain")]
        elif isinstance(e, ir.BEHAVIOURAL):
            if net.tanh_texts.get(e.name, (None, None))[1] is not None:
                out.append((e.name, "m"))
        else:
            out += [(e.name, p) for _, p in _PARAMS[type(e)]]
            if isinstance(e, ir.VoltageSource):
                out.append((e.name, "function"))
                if e.waveform is not None:
                    out.append((e.name, "coeffs"))
    return out


def _differs(a: float, b: float) -> bool:
    return not (a == b or (math.isnan(a) and math.isnan(b)))


def held_netlist(text: str, net: ParsedNetlist) -> Held:
    """``net`` (parsed from ``text``) with every value as ngspice holds it after loading ``text``."""
    got = device_values(text, queries(net))
    vals = got.values
    misread, missing, elements, functions = [], [], [], {}

    def take(e, field: str, device: str, param: str):
        if (device, param) not in vals:
            missing.append((e.name, param))
            return getattr(e, field)
        value = vals[(device, param)]
        if _differs(value, getattr(e, field)):
            misread.append((e.name, param, getattr(e, field), value))
        return value

    for e in net.elements:
        if isinstance(e, ir.Gyrator):
            ga = take(e, "g", f"g.{e.name}.g_a", "gain")
            gb = vals.get((f"g.{e.name}.g_b", "gain"))
            if gb is None:
                missing.append((e.name, "g_b gain"))
                gb = -ga
            ground = "0"
            elements += [ir.Vccs(f"g.{e.name}.g_a", ground, e.a, e.b, ground, ga),
                         ir.Vccs(f"g.{e.name}.g_b", ground, e.b, e.a, ground, gb)]
            continue
        if isinstance(e, ir.BEHAVIOURAL):
            gain_text, m_text = net.tanh_texts.get(e.name, (None, None))
            m = 1.0
            if m_text is not None:
                m = vals.get((e.name, "m"))
                if m is None:
                    missing.append((e.name, "m"))
                    m = inp_evaluate(m_text)
            gain = expression_value(gain_text) * m if gain_text is not None else e.gain
            if _differs(gain, e.gain):
                misread.append((e.name, "gain", e.gain, gain))
            elements.append(dataclasses.replace(e, gain=gain))
            continue
        changes = {}
        for field, param in _PARAMS[type(e)]:
            value = take(e, field, e.name, param)
            if value is not getattr(e, field) and _differs(value, getattr(e, field)):
                changes[field] = value
        if isinstance(e, ir.VoltageSource):
            code = vals.get((e.name, "function"))
            if code is None:
                missing.append((e.name, "function"))
            functions[e.name] = (int(code) if code is not None else None, vals.get((e.name, "coeffs"), ()))
        elements.append(dataclasses.replace(e, **changes) if changes else e)
    held = dataclasses.replace(net, elements=tuple(elements))
    return Held(held, tuple(misread), tuple(dict.fromkeys(missing)), functions, got.version, got.messages,
                got.seconds)


def text_netlist(net: ParsedNetlist) -> Held:
    """``net`` with the values as the text states them (no ngspice): gyrators as two VCCS."""
    elements, functions = [], {}
    for e in net.elements:
        if isinstance(e, ir.Gyrator):
            elements += [ir.Vccs(f"g.{e.name}.g_a", "0", e.a, e.b, "0", e.g),
                         ir.Vccs(f"g.{e.name}.g_b", "0", e.b, e.a, "0", -e.g)]
            continue
        if isinstance(e, ir.VoltageSource):
            functions[e.name] = _text_function(e.waveform)
        elements.append(e)
    return Held(dataclasses.replace(net, elements=tuple(elements)), functions=functions)


def _text_function(w) -> tuple[int, tuple]:
    if w is None:
        return 0, ()
    if isinstance(w, Pulse):
        return 1, (w.low, w.high, w.delay, w.rise, w.fall, w.width, w.period)
    if isinstance(w, Sine):
        return 2, (w.offset, w.amplitude, w.frequency, 0.0, 0.0, w.phase)
    if isinstance(w, Step):
        return 5, (w.at, 0.0, w.at + w.rise, w.value_after)
    return 5, tuple(x for pair in zip(w.times, w.values) for x in pair)


def expected_function(w) -> tuple[int, tuple]:
    """(ngspice function code, coefficients) the spec's waveform ``w`` is written as."""
    return _text_function(w)


def _close(a: float, b: float, scale: float) -> bool:
    return a == b or abs(a - b) <= RTOL * max(abs(a), abs(b), scale)


def _show(code, coeffs) -> str:
    return f"{FUNCTIONS.get(code, code)}({' '.join(repr(float(c)) for c in coeffs)})"


def waveform_problems(held: Held, spec) -> list[str]:
    """Input sources whose transient function differs from the spec's ``inputs[l]``."""
    problems = []
    for e in held.net.elements:
        if not (isinstance(e, ir.VoltageSource) and e.name.startswith("vx_") and e.name[3:].isdigit()):
            continue
        l = int(e.name[3:])
        if l >= len(spec.inputs):
            continue  # the matrices' comparison reports an input the spec lacks
        code, coeffs = held.functions.get(e.name, (None, ()))
        want_code, want = expected_function(spec.inputs[l])
        label = f"input source Vx_{l} (line {held.net.line_of.get(e.name, '?')})"
        if code != want_code or len(coeffs) != len(want):
            problems.append(f"{label}: ngspice holds {_show(code, coeffs)}, the spec's inputs[{l}] is "
                            f"{_show(want_code, want)}")
            continue
        times = {1: (2, 3, 4, 5, 6), 2: (), 5: tuple(range(0, len(want), 2))}.get(code, ())
        t_scale = max([abs(want[i]) for i in times] + [spec.t_stop]) if times else 0.0
        v_scale = max([abs(w) for i, w in enumerate(want) if i not in times] + [0.0])
        for i, (a, b) in enumerate(zip(coeffs, want)):
            if not _close(a, b, t_scale if i in times else v_scale):
                problems.append(f"{label}: parameter {i + 1} of {FUNCTIONS[code]} is {a!r} in ngspice, "
                                f"{b!r} in the spec's inputs[{l}] ({_show(code, coeffs)})")
                break
    return problems


def analysis_problems(net: ParsedNetlist, spec, expected=None) -> list[str]:
    """What is wrong with the analysis card as ngspice reads it (empty: nothing)."""
    a = net.analysis
    if isinstance(a, ir.AcSweep):
        if isinstance(expected, ir.Transient):
            return ["the netlist has an .ac sweep, the compiled circuit a transient"]
        if isinstance(expected, ir.AcSweep) and not (
                a.points_per_decade == expected.points_per_decade and _close(a.f_start, expected.f_start, 0)
                and _close(a.f_stop, expected.f_stop, 0)):
            return [f".ac dec {a.points_per_decade} {a.f_start!r} {a.f_stop!r}, the compiled circuit has "
                    f"dec {expected.points_per_decade} {expected.f_start!r} {expected.f_stop!r}"]
        return []
    problems = []
    line = f"the .tran card (line {_line_of_card(net, '.tran')})"
    if not net.uic:
        problems.append(f"{line} has no 'uic': ngspice then computes an operating point and ignores every IC=, "
                        "so the initial state is not h0")
    vals = [inp_evaluate(t) for t in net.tran_tokens]
    step, stop = vals[0], vals[1]
    start = vals[2] if len(vals) > 2 else 0.0
    max_step = tran_max_step(vals)
    if start != 0.0:
        problems.append(f"{line} starts saving at {start!r} s, not 0")
    if isinstance(expected, ir.AcSweep):
        problems.append("the netlist has a transient, the compiled circuit an .ac sweep")
    elif isinstance(expected, ir.Transient):
        for what, got, want in (("step", step, expected.step), ("stop", stop, expected.stop),
                                ("maximum step", max_step, expected.max_step)):
            if not _close(got, want, 0.0):
                problems.append(f"{line}: ngspice's {what} is {got!r} s, the compiled circuit's {want!r} s")
    else:
        if not _close(stop, spec.t_stop, 0.0):
            problems.append(f"{line}: ngspice's stop time is {stop!r} s, the spec's t_stop {spec.t_stop!r} s")
        if spec.t_step is not None and max_step > spec.t_step * (1 + RTOL):
            problems.append(f"{line}: ngspice's maximum step {max_step!r} s exceeds the spec's t_step "
                            f"{spec.t_step!r} s")
    return problems


def _line_of_card(net: ParsedNetlist, card: str):
    for lineno, text in net.text_of.items():
        if text.strip().lower().startswith(card):
            return lineno
    return "?"
