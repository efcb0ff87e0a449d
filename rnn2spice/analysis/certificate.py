"""Equivalence certificate: prove that what ngspice will simulate realises the spec.

The certificate does not trust the compiler or the IR, nor Python's reading of the text.
It parses the netlist TEXT with the strict reader (:mod:`rnn2spice.circuit.reader`: the
topology, and nothing outside the subset reaches ngspice), loads the text into ngspice
without running it and takes every element value, initial condition and source parameter
as ngspice holds it (:mod:`rnn2spice.analysis.held`), builds the circuit's state equations
from those elements alone (:mod:`rnn2spice.analysis.mna`) and compares them with the spec
(THEORY.md sections 1-4):

    circuit:  dy/dt = A_c y + B_c u + c_c        y = the saved probes (.save), u = Vx_<l>
    spec:     dh/dt = A h + w_in x + c           A = w - lam  (spec.state_matrix())

Pass when ``max|A_c - A| / max|A|`` and ``max|B_c - w_in| / max|w_in|`` are both at most
``tolerance`` (default 1e-12); the constant drive (linear networks) and, for a transient,
the initial state are checked the same way.  Besides: every coupling the spec does not
have (an off-diagonal zero of A, a zero of w_in) must be exactly zero in the circuit (a
stray coupling can change a network's dynamics completely, however small); ngspice must
have loaded every element; a transient must carry ``uic`` and ngspice's step, stop and
maximum step must be the compiled circuit's; every input source's transient function, as
ngspice holds it, must be the spec's waveform.

Nonlinear networks (THEORY.md 4, 7) are compared twice: with every behavioural source at
slope 1 (the *structure*, ``A``/``B`` above: every weight enters it whatever the state; for
tanh it is the linearisation at 0), and linearised at an operating point, the initial
state h0 with the inputs at t = 0 for a transient (for an AC sweep the DC operating point
the caller states), where each source's slope is f' of its argument as the netlist itself
computes it (:attr:`~rnn2spice.analysis.mna.StateEquations.arguments`) against the spec's
``A = (W diag f'(h) - I) / tau`` (rate) or ``diag(f'(z)) w - lam`` (``op_error``).  Every
source must compute the spec's activation.  The constant sources (the bias) do not enter a
linearisation, so for nonlinear networks the drive is not compared.

A spec with a time scale k or state scale s (THEORY.md 5) is compared as the SCALED network
the circuit realises: ``A_c = k A``, ``B_c = k w_in``, drive ``k s c``, initial state
``s h0``, sources ``s x(k t)``, the analysis in circuit time; a nonlinear network's sources
are evaluated at ``(s h, s x)`` (they must see the model's argument there) and its
linearisation is ``k`` times the model's.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field

import numpy as np
from rnn2spice._blas import one_blas_thread

from rnn2spice.analysis.held import Held, analysis_problems, held_netlist, text_netlist, waveform_problems
from rnn2spice.analysis.mna import StateEquations, state_equations
from rnn2spice.analysis.reference import input_values
from rnn2spice.analysis.transfer import linearisation
from rnn2spice.circuit import ir
from rnn2spice.circuit.reader import parse_netlist
from rnn2spice.errors import CertificateFailed
from rnn2spice.network.activations import ACTIVATIONS
from rnn2spice.network.scaling import circuit_inputs

#: Default pass threshold on the relative discrepancies.
TOLERANCE = 1e-12


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
    op_error: float | None = None      # nonlinear only: A and B linearised at the operating point
    n: int = 0
    m: int = 0
    form: str = ""
    linearised: bool = False
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0
    equations: StateEquations | None = None
    values_from: str = ""          # 'ngspice 39' (asked after loading the text) or 'text'
    ngspice_seconds: float = 0.0   # of that, the ngspice query
    misread: tuple = ()            # (element, parameter, text value, ngspice value)
    problems: tuple = ()           # analysis, initial conditions, sources, missing elements
    scales: tuple = (1.0, 1.0)     # (time_scale k, state_scale s): compared with the scaled network

    def as_dict(self) -> dict:
        return {
            "passed": self.passed,
            "a_error": _json_float(self.a_error),
            "b_error": _json_float(self.b_error),
            "drive_error": None if self.drive_error is None else _json_float(self.drive_error),
            "h0_error": None if self.h0_error is None else _json_float(self.h0_error),
            "operating_point_error": None if self.op_error is None else _json_float(self.op_error),
            "tolerance": self.tolerance,
            "worst": self.worst,
            "n": self.n,
            "m": self.m,
            "form": self.form,
            "linearised_at_0": self.linearised,
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
        """One line for a summary."""
        verdict = "PASS" if self.passed else "FAIL"
        parts = [f"A error {self.a_error:.1e}", f"B error {self.b_error:.1e}"]
        if self.drive_error is not None:
            parts.append(f"drive error {self.drive_error:.1e}")
        if self.h0_error is not None:
            parts.append(f"h0 error {self.h0_error:.1e}")
        if self.op_error is not None:
            parts.append(f"linearised at the operating point {self.op_error:.1e}")
        source = f"values as {self.values_from} holds them" if self.values_from.startswith("ngspice") else "values as written"
        scaled = ("" if self.scales == (1.0, 1.0) else
                  f", against the scaled network (time scale {self.scales[0]!r}, state scale {self.scales[1]!r})")
        text = (f"certificate (netlist -> state equations, {source}{', activation sources at unit slope (every weight)' if self.linearised else ''}{scaled}): "
                f"{', '.join(parts)} (tolerance {self.tolerance:.0e}) in {self.seconds * 1e3:.1f} ms: {verdict}")
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
    return (f"largest discrepancy at {where}: circuit {worst['circuit']!r}, spec {worst['spec']!r} "
            f"(relative {worst['relative_error']:.3e})")


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b)) if a != b else 0.0


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


def _stray(name: str, circuit: np.ndarray, spec: np.ndarray, off_diagonal: bool) -> tuple[float, dict]:
    """A coupling the spec does not have: non-zero in the circuit where the spec is exactly 0."""
    if circuit.shape != spec.shape or circuit.size == 0:
        return 0.0, {}
    stray = (spec == 0) & (circuit != 0)
    if off_diagonal:
        np.fill_diagonal(stray, False)
    if not stray.any():
        return 0.0, {}
    pos = np.unravel_index(int(np.argmax(np.where(stray, np.abs(circuit), -1.0))), stray.shape)
    return math.inf, {"matrix": name, "row": int(pos[0]), "col": int(pos[1]), "circuit": float(circuit[pos]),
                      "spec": 0.0, "relative_error": "inf",
                      "problem": f"{name}[{pos[0]}, {pos[1]}] is {float(circuit[pos])!r} in the circuit, exactly 0 "
                                 f"in the spec: a coupling the network does not have"}


def verify_netlist(text: str, spec, *, tolerance: float = TOLERANCE, analysis=None,
                   ngspice: bool = True, operating_point: tuple | None = None) -> Certificate:
    """Certify that netlist ``text`` realises ``spec`` (an :class:`~rnn2spice.spec.RnnSpec`)
    as ngspice will simulate it.

    ``analysis``: the compiled circuit's :class:`~rnn2spice.circuit.ir.Transient` or
    ``AcSweep`` that ngspice's reading of the analysis card must match (None: a transient's
    stop time must be the spec's ``t_stop`` and its maximum step at most ``t_step``).
    ``ngspice=False`` certifies the values as the text states them, without asking ngspice
    (the certificate says so in ``values_from``).  ``operating_point``: ``(h, x)``, the state
    and inputs a nonlinear network is linearised at (default: h0 and the inputs at t = 0).

    Raises :class:`NetlistError` for text outside the subset and :class:`SimulationError`
    when ngspice cannot be run or does not load the text; a netlist that loads but does not
    realise the spec gives ``passed = False`` and ``worst`` / ``problems`` say where.
    """
    start = _time.perf_counter()
    net = parse_netlist(text)
    held: Held = held_netlist(text, net) if ngspice else text_netlist(net)
    with one_blas_thread():  # small matrices (rnn2spice/_blas.py)
        eq = state_equations(held.net)
    k, s = spec.time_scale, spec.state_scale  # the scaled network (module docstring, THEORY.md 5)
    _, w_in, drive = spec.paper_form()
    a_spec, b_spec = spec.state_matrix() * k, np.asarray(w_in) * k
    drive = np.asarray(drive) * (k * s)
    scaled = circuit_inputs(spec)  # the sources, h0 and times as the circuit carries them
    a_err, a_info = _compare("A", eq.a, a_spec)
    b_err, b_info = _compare("B", eq.b, b_spec)
    checks = [(a_err, a_info), (b_err, b_info), _stray("A", eq.a, a_spec, True), _stray("B", eq.b, b_spec, False)]
    if (spec.activation == "linear") == eq.linearised:
        a_err = math.inf
        problem = ("the netlist has behavioural (tanh) sources, the spec is linear" if eq.linearised
                   else f"the spec has {spec.activation} activation, the netlist has no behavioural sources")
        checks.append((a_err, {"matrix": "A", "problem": problem}))
    drive_err = h0_err = None
    if eq.c is not None and spec.activation == "linear":
        drive_err, info = _compare("drive", eq.c, np.asarray(drive))
        checks.append((drive_err, info))
    op_err = None
    if eq.linearised and spec.activation != "linear":
        with one_blas_thread():
            op_err, op_checks = _at_operating_point(held, eq, spec, operating_point)
        checks += op_checks
    problems = [f"ngspice did not load or report {name} {param} (line {net.line_of.get(name, '?')})"
                for name, param in held.missing]
    if isinstance(net.analysis, ir.Transient):
        h0_err, info = _compare("h0", eq.y0, np.asarray(scaled.h0))
        checks.append((h0_err, info))
        problems += waveform_problems(held, scaled)
    problems += analysis_problems(net, scaled, analysis)
    checks += [(math.inf, {"matrix": "netlist", "problem": p}) for p in problems]
    worst_err, worst = max(checks, key=lambda t: t[0])
    if worst.get("row") is not None and worst["row"] < len(eq.probes):
        worst["row_probe"] = eq.probes[worst["row"]]
        if worst["matrix"] == "A" and worst.get("col") is not None:
            worst["col_probe"] = eq.probes[worst["col"]]
        elif worst["matrix"] == "B":
            worst["col_input"] = f"Vx_{worst['col']}"
    passed = all(err <= tolerance for err, _ in checks)
    stray = [info["problem"] for err, info in checks[2:4] if err > 0]
    return Certificate(passed=passed, a_error=a_err, b_error=b_err, worst=worst if worst_err > 0 else {},
                       tolerance=tolerance, drive_error=drive_err, h0_error=h0_err, op_error=op_err,
                       n=eq.a.shape[0],
                       m=eq.b.shape[1], form=eq.form, linearised=eq.linearised, counts=net.counts(),
                       seconds=_time.perf_counter() - start, equations=eq,
                       values_from=f"ngspice {held.version}" if ngspice else "text", ngspice_seconds=held.seconds,
                       misread=held.misread, problems=tuple(stray + problems), scales=(k, s))


def _at_operating_point(held: Held, eq: StateEquations, spec, point) -> tuple[float, list]:
    """The circuit linearised where the spec is (module docstring): (error, checks)."""
    checks = []
    for name, function, *_ in eq.arguments:
        if function != spec.activation:
            checks.append((math.inf, {"matrix": "netlist", "problem": f"behavioural source {name} (line "
                           f"{held.net.line_of.get(name, '?')}) computes {function}, the spec's activation is "
                           f"{spec.activation}"}))
    if checks:
        return math.inf, checks
    if point is None:
        point = (np.asarray(spec.h0, dtype=float), input_values(spec, np.zeros(1))[0])
    h, x = (np.asarray(v, dtype=float) for v in point)
    if eq.b.shape[1] != x.size or eq.a.shape[0] != h.size:
        return math.inf, [(math.inf, {"matrix": "A", "problem": "the circuit's size is not the spec's"})]
    k, s = spec.time_scale, spec.state_scale
    h_c, x_c = h * s, x * s  # the circuit's state and sources at the model's point (THEORY.md 5)
    args = eq.argument_values(h_c, x_c)
    slopes = {name: float(ACTIVATIONS[function].slope(args[name])) for name, function, *_ in eq.arguments}
    at = state_equations(held.net, slopes)
    moved = [name for name, value in at.argument_values(h_c, x_c).items()
             if not math.isclose(value, args[name], rel_tol=1e-9, abs_tol=1e-12 * max(1.0, abs(value)))]
    if moved:  # an argument that depends on a source's output: outside what is modelled
        checks.append((math.inf, {"matrix": "netlist", "problem": f"the argument of behavioural source {moved[0]} "
                                                                   "depends on a behavioural source's output"}))
    a_spec, b_spec = linearisation(spec, h, x)
    a_err, a_info = _compare("A at the operating point", at.a, np.asarray(a_spec) * k)
    b_err, b_info = _compare("B at the operating point", at.b, np.asarray(b_spec) * k)
    checks += [(a_err, a_info), (b_err, b_info)]
    return max(a_err, b_err), checks


def certify(compiled, *, tolerance: float = TOLERANCE) -> Certificate:
    """Certify a :class:`~rnn2spice.compiler.CompiledNetwork` from its netlist text, with
    ngspice's analysis card held to the compiled one."""
    return verify_netlist(compiled.netlist, compiled.spec, tolerance=tolerance, analysis=compiled.circuit.analysis)


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
