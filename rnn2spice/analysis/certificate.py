"""Equivalence certificate: prove that what ngspice will simulate realises the spec.

The certificate does not trust the compiler or the IR, nor Python's reading of the text.
It parses the netlist TEXT with the strict reader (:mod:`rnn2spice.circuit.reader`: the
topology, and nothing outside the subset reaches ngspice), loads the text into ngspice
without running it and takes every element value, initial condition and source parameter
as ngspice holds it (:mod:`rnn2spice.analysis.held`), builds the circuit's exact state
equations from those elements alone (:mod:`rnn2spice.analysis.mna`: affine in the
behavioural sources' outputs, nothing linearised) and compares them, term by term, with
the spec's (THEORY.md 1-5, 7, 10; docs/certificate.md says exactly what is proved):

    circuit:  dy/dt = A y + B u + c + G sigma,   sigma_i = f_i(Z_y y + Z_u u + z_0)_i
    spec:     the same form of the scaled network (:func:`spec_equations`)

Every behavioural source is matched to the one spec activation it must realise (by the
one state its output drives, or in the rate convention the one state its argument
reads); then its function, its whole argument map (coefficients on states and inputs and
its constant offset) and its output column (gain) are compared, as are A, B, the constant
drive and h0.  Each entry is judged on its own scale: ``|circuit - spec| <= tolerance x
max(|spec|, ROUND x (sum of |terms| the circuit adds to form it) / tolerance)``; an entry
the spec has as exactly 0 must be exactly 0 in the circuit, where an entry no path of the
circuit's graph leads to is exactly 0 by structure (not by round-off).  An element the
spec does not explain therefore shows as an entry that differs: the failure names the
entry, the behavioural source or the constant sources (each constant's contribution is
known on its own) and the passive elements at the state it acts on.

Also certified: ngspice loaded every element; the transient carries ``uic``; its step and
stop are the compiled circuit's (or the spec's) and its maximum step and ``.options``
(reltol, abstol, vntol, chgtol, trtol; a missing one is ngspice's default) no looser than
what the compiler writes for the accuracy target (:func:`numerics_problems`; the
integration method is ngspice's default trapezoidal rule: the reader refuses any other
option); every input source's transient function, as ngspice holds it, is the spec's.

This module is over 400 lines on purpose: it is one proof (the spec's side, the matching of
sources to activations, the per-entry comparison and what a failure names) whose parts only
make sense together.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field

import numpy as np
from rnn2spice._blas import one_blas_thread

from rnn2spice.analysis.held import Held, analysis_problems, held_netlist, text_netlist, waveform_problems
from rnn2spice.analysis.mna import StateEquations, dangling_elements, state_equations
from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import TARGETS, options_for, transient
from rnn2spice.circuit.reader import CANONICAL_FORMS, ParsedNetlist, parse_netlist
from rnn2spice.errors import CertificateFailed, NetlistError, NetlistUnreadable, Rnn2SpiceError
from rnn2spice.network.scaling import circuit_inputs, circuit_time

#: Default pass threshold on the relative discrepancies.
TOLERANCE = 1e-12
#: Round-off allowed per entry, relative to the sum of the absolute values of the terms the
#: circuit adds up to form it (64 units in the last place of that sum).
ROUND = 2.0 ** -46
#: ngspice's option defaults (a netlist without the option runs with these).
NGSPICE_DEFAULTS = {"reltol": 1e-3, "abstol": 1e-12, "vntol": 1e-6, "chgtol": 1e-14, "trtol": 7.0}


# =========================================================================== certificate

@dataclass(frozen=True, eq=False)
class Certificate:
    """Verdict of the comparison of a netlist's state equations with its spec.

    Errors are per entry, each on its own scale (module docstring), the largest per part:
    ``a_error`` (A), ``b_error`` (B), ``drive_error`` (the constant drive), ``h0_error``
    (transient netlists), ``op_error`` (nonlinear networks: the behavioural sources' argument
    maps and output gains).  ``worst`` locates the largest one: matrix ('A', 'B', 'drive',
    'h0', 'gain', 'argument', ...), row, column, both values and, where known, the element.
    """

    passed: bool
    a_error: float
    b_error: float
    worst: dict
    tolerance: float = TOLERANCE
    drive_error: float | None = None
    h0_error: float | None = None      # transient netlists only
    op_error: float | None = None      # nonlinear only: arguments and output gains of the sources
    n: int = 0
    m: int = 0
    form: str = ""
    linearised: bool = False           # the netlist has behavioural sources (compared exactly, not linearised)
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0
    equations: StateEquations | None = None
    values_from: str = ""          # 'ngspice 39' (asked after loading the text) or 'text'
    ngspice_seconds: float = 0.0   # of that, the ngspice query
    misread: tuple = ()            # (element, parameter, text value, ngspice value)
    problems: tuple = ()           # analysis, numerics, initial conditions, sources, missing elements
    scales: tuple = (1.0, 1.0)     # (time_scale k, state_scale s): compared with the scaled network
    entries: int = 0               # how many numbers were compared

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "a_error": _json_float(self.a_error),
            "b_error": _json_float(self.b_error),
            "drive_error": None if self.drive_error is None else _json_float(self.drive_error),
            "h0_error": None if self.h0_error is None else _json_float(self.h0_error),
            "nonlinear_error": None if self.op_error is None else _json_float(self.op_error),
            "tolerance": self.tolerance,
            "round_off_allowance": ROUND,
            "entries_compared": self.entries,
            "worst": self.worst,
            "n": self.n,
            "m": self.m,
            "form": self.form,
            "behavioural_sources": self.linearised,
            "netlist_elements": self.counts,
            "seconds": self.seconds,
            "values_from": self.values_from,
            "ngspice_seconds": self.ngspice_seconds,
            "problems": list(self.problems),
            "misread_by_ngspice": [{"element": e, "parameter": p, "text": _json_float(a), "ngspice": _json_float(b)}
                                   for e, p, a, b in self.misread[:20]],
            "misread_count": len(self.misread),
            "time_scale": self.scales[0],
            "state_scale": self.scales[1],
        }

    def describe(self) -> str:
        """One line for a summary (and one per problem)."""
        verdict = "PASS" if self.passed else "FAIL"
        if self.values_from.startswith("not read"):   # refused before any equation (:func:`_refused`)
            return (f"certificate (netlist -> state equations): the netlist is refused before ngspice reads it, "
                    f"nothing is proved equal: {verdict}\n  " + describe_worst(self.worst))
        parts = [f"A error {self.a_error:.1e}", f"B error {self.b_error:.1e}"]
        if self.drive_error is not None:
            parts.append(f"drive error {self.drive_error:.1e}")
        if self.op_error is not None:
            parts.append(f"activation arguments and gains {self.op_error:.1e}")
        if self.h0_error is not None:
            parts.append(f"h0 error {self.h0_error:.1e}")
        source = f"values as {self.values_from} holds them" if self.values_from.startswith("ngspice") else "values as written"
        scaled = ("" if self.scales == (1.0, 1.0) else
                  f", against the scaled network (time scale {self.scales[0]!r}, state scale {self.scales[1]!r})")
        exact = ", exact nonlinear equations" if self.linearised else ""
        text = (f"certificate (netlist -> state equations, {source}{exact}{scaled}): "
                f"{', '.join(parts)} per entry ({self.entries} entries, tolerance {self.tolerance:.0e}) "
                f"in {self.seconds * 1e3:.1f} ms: {verdict}")
        if self.misread:
            worst = max(self.misread, key=lambda m: _relative(m[2], m[3]))
            text += (f"\n  note: ngspice holds {len(self.misread)} value(s) as the neighbouring double of the "
                     f"text's (largest: {worst[0]} {worst[1]} {worst[2]!r} -> {worst[3]!r}); certified with "
                     "the values ngspice holds")
        if not self.passed and self.worst:
            text += "\n  " + describe_worst(self.worst)
        for problem in self.problems:
            if problem != self.worst.get("problem"):
                text += "\n  " + problem
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
    text = (f"largest discrepancy at {where}: circuit {worst['circuit']!r}, spec {worst['spec']!r} "
            f"(relative {_show(worst['relative_error'])})")
    if worst.get("elements"):
        text += f"; {worst['elements']}"
    return text


def _show(x) -> str:
    return x if isinstance(x, str) else f"{x:.3e}"


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b)) if a != b else 0.0


def _json_float(x: float):
    return float(x) if math.isfinite(x) else str(x)


# =========================================================================== the spec's side

@dataclass(frozen=True, eq=False)
class SpecEquations:
    """The scaled network (THEORY.md 5) in the circuit's form: ``dv/dt = a v + b u + drive
    + g sigma``, ``sigma_i = f(arg_y v + arg_u u + arg_c)_i`` (``g`` has no columns for a
    linear network); ``anchor``: 'output' when source k drives state k alone (paper, ctrnn),
    'argument' when it reads state k alone (rate)."""

    a: np.ndarray
    b: np.ndarray
    drive: np.ndarray
    g: np.ndarray
    arg_y: np.ndarray
    arg_u: np.ndarray
    arg_c: np.ndarray
    function: str
    anchor: str


def spec_equations(spec) -> SpecEquations:
    """The spec's equations as the circuit must realise them: circuit time t / k, v = s h,
    u = s x (THEORY.md 5)."""
    k, s = spec.time_scale, spec.state_scale
    n, m = spec.n, spec.m
    w, w_in, drive = spec.paper_form()
    lam = np.asarray(spec.lam)
    if spec.activation == "linear":
        return SpecEquations(k * (w - np.diag(lam)), k * np.asarray(w_in), k * s * np.asarray(drive),
                             np.zeros((n, 0)), np.zeros((0, n)), np.zeros((0, m)), np.zeros(0), "linear", "output")
    if spec.convention == "rate":   # (tau/k) v' = -v + s W f(v / s) + U u + s b
        return SpecEquations(-k * np.diag(lam), k * np.asarray(w_in), k * s * np.asarray(drive), k * s * np.asarray(w),
                             np.eye(n) / s, np.zeros((n, m)), np.zeros(n), spec.activation, "argument")
    gain = (lam if spec.convention == "ctrnn" else np.ones(n)) * k * s
    bias = np.asarray(spec.bias, dtype=float) if spec.convention == "ctrnn" else np.zeros(n)
    return SpecEquations(-k * np.diag(lam), np.zeros((n, m)), np.zeros(n), np.diag(gain),
                         np.asarray(spec.w) / s, np.asarray(spec.w_in) / s, bias, spec.activation, "output")


# =========================================================================== comparison

def _entrywise(name: str, circuit: np.ndarray, spec: np.ndarray, magnitude: np.ndarray | None,
               tolerance: float) -> tuple[float, dict, int]:
    """The largest per-entry error (module docstring), where it is, and the entry count.
    A spec zero must be exactly zero; the error of the others is relative to their scale."""
    circuit, spec = np.atleast_1d(np.asarray(circuit, float)), np.atleast_1d(np.asarray(spec, float))
    if circuit.shape != spec.shape:
        return math.inf, {"matrix": name, "problem": f"shape {circuit.shape} in the circuit, {spec.shape} in the spec"}, 0
    if circuit.size == 0:
        return 0.0, {}, 0
    mag = np.zeros(spec.shape) if magnitude is None else np.abs(np.asarray(magnitude, float)).reshape(spec.shape)
    scale = np.maximum(np.abs(spec), ROUND * mag / tolerance)
    diff = np.abs(circuit - spec)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(diff == 0, 0.0, np.where(spec == 0, np.inf, diff / np.where(scale > 0, scale, 1.0)))
    err = np.where(np.isfinite(circuit), err, np.inf)
    pos = np.unravel_index(int(np.argmax(err)), err.shape)
    worst = float(err[pos])
    info = {"matrix": name, "row": int(pos[0]), "col": int(pos[1]) if len(pos) > 1 else None,
            "circuit": float(circuit[pos]), "spec": float(spec[pos]), "relative_error": _json_float(worst)}
    if spec[pos] == 0 and worst > 0:
        info["stray"] = True
    return worst, info, int(circuit.size)


def _match(eq: StateEquations, want: SpecEquations, net: ParsedNetlist) -> tuple[list, list]:
    """Circuit source index for each spec activation (by its anchor, :class:`SpecEquations`),
    and the problems: a source that is not one activation's, two for one, one missing."""
    n = want.a.shape[0]
    problems, order = [], [None] * want.g.shape[1]
    for i, name in enumerate(eq.sources):
        line = net.line_of.get(name, "?")
        support = np.flatnonzero(eq.g[:, i] if want.anchor == "output" else eq.arg_y[i])
        role = "drives" if want.anchor == "output" else "reads"
        if support.size != 1:
            states = ", ".join(eq.probes[j] for j in support[:5]) or "no state"
            problems.append(f"behavioural source {name} (line {line}) {role} {states}: each of the spec's "
                            f"activations {role} exactly one state, so it realises none of them")
            continue
        k = int(support[0])
        if k >= len(order):
            continue
        if order[k] is not None:
            problems.append(f"behavioural source {name} (line {line}) and {eq.sources[order[k]]} both "
                            f"realise neuron {k}'s activation ({eq.probes[k]}): the spec has one, and the "
                            "certificate expects it as one source (a gain split over sources is not summed)")
            continue
        order[k] = i
    for k, i in enumerate(order):
        if i is None and k < n:
            problems.append(f"no behavioural source realises neuron {k}'s activation ({want.function} of its "
                            f"{'argument' if want.anchor == 'output' else 'state'}, "
                            f"{eq.probes[k] if k < len(eq.probes) else k})")
    return order, problems


def _elements_at(net: ParsedNetlist, eq: StateEquations, row: int, limit: int = 8) -> str:
    """The two-terminal elements and independent sources at the state of probe ``row``
    (where an unexplained resistor, capacitor or source shows first)."""
    if eq is None or row >= len(eq.states):
        return ""
    by_name = {e.name: e for e in net.elements}
    state = by_name.get(eq.states[row])
    if state is None:
        return ""
    nodes = {x for x in _two_nodes(state) if x != "0"}
    found = [e.name for e in net.elements
             if isinstance(e, (ir.Resistor, ir.Capacitor, ir.Inductor, ir.CurrentSource, ir.VoltageSource))
             and nodes & set(_two_nodes(e))]
    shown = ", ".join(f"{name} (line {net.line_of.get(name, '?')})" for name in found[:limit])
    return f"elements at the state {eq.states[row]}: {shown}" + (" ..." if len(found) > limit else "")


def _two_nodes(e) -> tuple:
    if isinstance(e, (ir.Resistor, ir.Capacitor, ir.Inductor)):
        return (e.a, e.b)
    if isinstance(e, ir.CurrentSource):
        return (e.src, e.dst)
    return (e.p, e.n)


def _constants_in(eq: StateEquations, net: ParsedNetlist, part: np.ndarray, index: int) -> str:
    """The constant sources that contribute to entry ``index`` of ``part`` (drive_by_source
    or arg_by_source) and how much each gives."""
    row = part[index]
    found = [(eq.constants[q], float(row[q])) for q in np.flatnonzero(row)]
    if not found:
        return "no constant source reaches it"
    return "constant sources: " + ", ".join(f"{name} (line {net.line_of.get(name, '?')}) gives {value!r}"
                                            for name, value in found[:6])


def numerics_problems(net: ParsedNetlist, spec, *, options: ir.Options | None = None,
                      analysis: ir.Transient | None = None, rtol: float | None = None) -> list[str]:
    """``.options`` and the maximum step looser than what the compiler writes (empty: none).

    ``options``: the compiled circuit's (None: :func:`~rnn2spice.circuit.compiler.options_for`
    the target ``rtol``, default the 'default' accuracy's 1e-3); ``analysis``: the compiled
    transient (its maximum step is then held exactly by :func:`analysis_problems`), else the
    maximum step must not exceed the compiler's a-priori step for the target."""
    if not isinstance(net.analysis, ir.Transient):
        return []
    target = TARGETS["default"] if rtol is None else float(rtol)
    want = options if options is not None else options_for(target)
    source = "the compiled circuit's" if options is not None else f"what the compiler writes for target {target:g}"
    problems = []
    for key in ("reltol", "abstol", "vntol", "chgtol", "trtol"):
        got = net.options.get(key, NGSPICE_DEFAULTS[key])
        limit = getattr(want, key)
        if got > limit * (1.0 + 1e-12):
            written = "" if key in net.options else " (not given: ngspice's default)"
            problems.append(f".options {key} is {got!r}{written}, looser than {limit!r}, {source}")
    if analysis is None:
        from rnn2spice.circuit.compiler import STEP_CAP, fastest_rate, step_factor
        model = circuit_time(spec)
        with one_blas_thread():
            bound = min(STEP_CAP * step_factor(target) / fastest_rate(model), model.t_stop / 50.0)
        if model.t_step is not None:
            bound = min(bound, model.t_step)
        if net.analysis.max_step > bound * (1.0 + 1e-12):
            problems.append(f"the .tran card's maximum step {net.analysis.max_step!r} s is looser than "
                            f"{bound!r} s, what the compiler writes for target {target:g}")
    return problems


def verify_netlist(text: str, spec, *, tolerance: float = TOLERANCE, analysis=None,
                   ngspice: bool = True, operating_point: tuple | None = None,
                   options: ir.Options | None = None, rtol: float | None = None) -> Certificate:
    """Certify that netlist ``text`` realises ``spec`` (an :class:`~rnn2spice.spec.RnnSpec`)
    as ngspice will simulate it (module docstring).

    ``analysis``: the compiled circuit's :class:`~rnn2spice.circuit.ir.Transient` or
    ``AcSweep`` that ngspice's reading of the analysis card must match (None: a transient's
    stop time must be the spec's ``t_stop`` and its maximum step within the compiler's for
    the target).  ``options``: the compiled circuit's ``.options`` (None: those the compiler
    writes for ``rtol``, default the 'default' accuracy's target 1e-3).  ``ngspice=False``
    certifies the values as the text states them, without asking ngspice (the certificate
    says so in ``values_from``).  ``operating_point`` is accepted for compatibility and not
    needed: the nonlinear equations are compared exactly, everywhere.

    Raises :class:`~rnn2spice.errors.NetlistUnreadable` for text that is not read as a
    netlist at all (not text, no ``.end`` card, beyond the reading limits) and
    :class:`SimulationError` when ngspice cannot be run or does not load the text.  Every
    netlist that reads as one and is not proved equal gives ``passed = False`` with
    ``worst`` / ``problems`` naming the line or element and why: one that does not realise
    the spec, one with a card outside the subset the certificate proves (a function or
    expression outside the whitelist, ``.control``, an unknown element: refused before
    ngspice sees it), one built from real parts (nothing is certified).
    """
    del operating_point
    start = _time.perf_counter()
    try:
        net = parse_netlist(text)
    except NetlistUnreadable:   # not a netlist at all: bad input (exit 2)
        raise
    except NetlistError as exc:  # a netlist, with a card the certificate cannot prove: FAIL (exit 1)
        expected = ""
        if "behavioural source" in str(exc) and spec.activation in CANONICAL_FORMS:
            expected = (f"; the spec's activation {spec.activation} is expected as "
                        f"I=<g>*{CANONICAL_FORMS[spec.activation]} or V=<g>*{CANONICAL_FORMS[spec.activation]}")
        return _refused(f"the netlist is outside what the certificate proves equal: {exc}{expected}", spec,
                        tolerance, start)
    real = [e for e in net.elements if isinstance(e, ir.REAL_PARTS)]
    if real or net.subcircuits:
        kinds = sorted({type(e).__name__ for e in real} | ({"subcircuit"} if net.subcircuits else set()))
        first = (real or [e for e in net.elements if isinstance(e, ir.Instance)] or [None])[0]
        where = f", e.g. {first.name} (line {net.line_of.get(first.name, '?')})" if first is not None else ""
        return _refused(f"the netlist is built from real parts ({', '.join(kinds)}{where}): the certificate cannot "
                        "prove a transistor or macro-model circuit equals the network, so nothing is certified; "
                        "'rnn2spice check' with the same build options judges it against the predicted circuit "
                        "(build_error)", spec, tolerance, start, counts=net.counts())
    held: Held = held_netlist(text, net) if ngspice else text_netlist(net)
    k, s = spec.time_scale, spec.state_scale  # the scaled network (module docstring, THEORY.md 5)
    scaled = circuit_inputs(spec)  # the sources, h0 and times as the circuit carries them
    problems = [f"ngspice did not load or report {name} {param} (line {net.line_of.get(name, '?')})"
                for name, param in held.missing]
    if isinstance(net.analysis, ir.Transient):
        problems += waveform_problems(held, scaled)
    problems += analysis_problems(net, scaled, analysis)
    problems += numerics_problems(net, spec, options=options, analysis=analysis if isinstance(
        analysis, ir.Transient) else None, rtol=rtol)
    values_from = f"ngspice {held.version}" if ngspice else "text"
    try:
        with one_blas_thread():  # small matrices (rnn2spice/_blas.py)
            eq = state_equations(held.net)
    except NetlistError as exc:  # inside the subset, but not a network of this shape
        problem = f"the circuit is not a network of the spec's: {exc}"
        problems = [_unexplained(name, held.net) for name in dangling_elements(held.net)] + problems
        return Certificate(passed=False, a_error=math.inf, b_error=math.inf,
                           worst={"matrix": "netlist", "problem": problem}, tolerance=tolerance,
                           counts=net.counts(), seconds=_time.perf_counter() - start, values_from=values_from,
                           ngspice_seconds=held.seconds, misread=held.misread, problems=tuple([problem] + problems),
                           scales=(k, s))
    want = spec_equations(spec)
    checks: list = []
    problems = [_unexplained(name, held.net) for name in eq.inert] + problems
    entries = 0

    def check(name: str, circuit, spec_part, magnitude, describe=None) -> float:
        nonlocal entries
        err, info, count = _entrywise(name, circuit, spec_part, magnitude, tolerance)
        entries += count
        if err > tolerance and describe is not None and "problem" not in info:
            extra = describe(info)
            if extra:
                info["elements"] = extra
        checks.append((err, info))
        return err

    def at_state(info) -> str:
        return _elements_at(held.net, eq, info["row"])

    n_ok = eq.a0.shape == want.a.shape and eq.b0.shape[1] == want.b.shape[1]
    a_err = check("A", eq.a0, want.a, eq.magnitude["a"], at_state)
    b_err = check("B", eq.b0, want.b, eq.magnitude["b"], at_state)
    drive_err = check("drive", eq.drive, want.drive, eq.magnitude["drive"],
                      lambda info: _constants_in(eq, held.net, eq.drive_by_source, info["row"]) + "; "
                      + at_state(info))
    op_err = None
    if want.function == "linear" and eq.sources:
        checks.append((math.inf, {"matrix": "netlist", "problem": f"the spec is linear, the netlist has "
                                  f"behavioural sources ({', '.join(eq.sources[:4])})"}))
    elif want.function != "linear" and n_ok:
        op_err = 0.0
        order, unmatched = _match(eq, want, held.net)
        checks += [(math.inf, {"matrix": "netlist", "problem": p}) for p in unmatched]
        matched = [(kk, i) for kk, i in enumerate(order) if i is not None]
        for kk, i in matched:
            name = eq.sources[i]
            label = f"behavioural source {name} (line {held.net.line_of.get(name, '?')}), neuron {kk}'s activation"
            if eq.functions[i] != want.function:
                checks.append((math.inf, {"matrix": "netlist", "problem": f"{label} computes {eq.functions[i]}, "
                                                                          f"the spec's activation is {want.function}, "
                                                                          "expected as <g>*" +
                                                                          CANONICAL_FORMS.get(want.function, "?")}))
            if name in eq.coupled:
                checks.append((math.inf, {"matrix": "netlist", "problem": f"the argument of {label} depends on a "
                                                                          "behavioural source's output"}))
        if matched:
            ks, cs = (np.array(x) for x in zip(*matched))
            mag = eq.magnitude
            # every matched source at once (one comparison per part); a failure is then named
            # by its source: row (or column) k of the part is source order[k]'s
            for part, circuit, spec_part, magnitude in (
                    ("gain", eq.g[:, cs].T, want.g[:, ks].T, mag["g"][:, cs].T),
                    ("argument (states)", eq.arg_y[cs], want.arg_y[ks], mag["arg_y"][cs]),
                    ("argument (inputs)", eq.arg_u[cs], want.arg_u[ks], mag["arg_u"][cs]),
                    ("argument (offset)", eq.arg_c[cs][:, None], want.arg_c[ks][:, None], mag["arg_c"][cs][:, None])):
                err, info, count = _entrywise(part, circuit, spec_part, magnitude, tolerance)
                entries += count
                op_err = max(op_err, err)
                if info.get("row") is not None:
                    neuron, j = int(ks[info["row"]]), info["col"]  # (k is the time scale here)
                    i = int(cs[info["row"]])
                    name = eq.sources[i]
                    info["matrix"] = f"{part} of {name}"
                    info["row"], info["col"] = (j, None) if part != "argument (offset)" else (0, None)
                    if part == "gain":
                        info["row_probe"] = eq.probes[j]
                    elif part == "argument (states)":
                        info["col_probe"] = eq.probes[j]
                    elif part == "argument (inputs)":
                        info["col_input"] = f"Vx_{j}"
                    if err > tolerance:
                        info["elements"] = (f"behavioural source {name} (line {held.net.line_of.get(name, '?')}), "
                                            f"neuron {neuron}'s activation")
                        if part == "argument (offset)":
                            info["elements"] += "; " + _constants_in(eq, held.net, eq.arg_by_source, i)
                checks.append((err, info))
    h0_err = None
    if isinstance(net.analysis, ir.Transient):
        h0_err = check("h0", eq.y0, np.asarray(scaled.h0, dtype=float), None,
                       lambda info: _elements_at(held.net, eq, info["row"]))
    checks += [(math.inf, {"matrix": "netlist", "problem": p}) for p in problems]
    worst_err, worst = max(checks, key=lambda t: t[0])
    worst = dict(worst)
    if worst.get("row") is not None and worst["matrix"] in ("A", "B", "drive", "h0") and worst["row"] < len(eq.probes):
        worst["row_probe"] = eq.probes[worst["row"]]
        if worst["matrix"] == "A" and worst.get("col") is not None:
            worst["col_probe"] = eq.probes[worst["col"]]
        elif worst["matrix"] == "B":
            worst["col_input"] = f"Vx_{worst['col']}"
    passed = all(err <= tolerance for err, _ in checks)
    stray = [_stray_text(info) for err, info in checks if err > tolerance and info.get("stray")]
    return Certificate(passed=passed, a_error=a_err, b_error=b_err, worst=worst if worst_err > 0 else {},
                       tolerance=tolerance, drive_error=drive_err, h0_error=h0_err, op_error=op_err,
                       n=eq.a.shape[0], m=eq.b.shape[1], form=eq.form, linearised=eq.linearised,
                       counts=net.counts(), seconds=_time.perf_counter() - start, equations=eq,
                       values_from=values_from, ngspice_seconds=held.seconds, misread=held.misread,
                       problems=tuple(stray + problems), scales=(k, s), entries=entries)


def _refused(problem: str, spec, tolerance: float, start: float, counts: dict | None = None) -> Certificate:
    """The FAIL of a netlist that reads as one but whose equations the certificate cannot
    build (a card outside the subset it proves, real parts): nothing of it reaches ngspice."""
    return Certificate(passed=False, a_error=math.inf, b_error=math.inf,
                       worst={"matrix": "netlist", "problem": problem}, tolerance=tolerance, counts=counts or {},
                       seconds=_time.perf_counter() - start, values_from="not read (refused)",
                       problems=(problem,), scales=(spec.time_scale, spec.state_scale))


def _unexplained(name: str, net: ParsedNetlist) -> str:
    """The failure line of an element no equation needs (:attr:`StateEquations.inert`)."""
    line = net.line_of.get(name, net.line_of.get(name.split(".")[1] if "." in name else name, "?"))
    return (f"element {name} (line {line}) is not explained by the spec: it has no effect on the state "
            "equations (its current is 0 by the circuit's graph, or it drives only what nothing reads: a "
            "fresh node, a node held by an ideal source)")


def _stray_text(info: dict) -> str:
    where = f"{info['matrix']}[{info['row']}" + (f", {info['col']}]" if info.get("col") is not None else "]")
    what = {"A": "a coupling", "B": "an input coupling", "drive": "a constant drive", "h0": "an initial state"}.get(
        info["matrix"], "a term")
    text = f"{where} is {info['circuit']!r} in the circuit, exactly 0 in the spec: {what} the network does not have"
    return text + (f" ({info['elements']})" if info.get("elements") else "")


def certify(compiled, *, tolerance: float = TOLERANCE) -> Certificate:
    """Certify a :class:`~rnn2spice.compiler.CompiledNetwork` from its netlist text, with
    ngspice's analysis card and options held to the compiled ones."""
    return verify_netlist(compiled.netlist, compiled.spec, tolerance=tolerance, analysis=compiled.circuit.analysis,
                          options=compiled.circuit.options)


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
        raise CertificateFailed("equivalence certificate failed, the netlist does not realise the spec; "
                                "no simulation of it is used\n  " + describe_worst(cert.worst),
                                certificate=cert, report=failure_report(compiled, cert))
    return cert
