"""From proof to build: op-amp non-idealities, preferred values, value warnings, the BOM.

* :func:`opamp_error` -- a linear network built with single-pole op-amps (DC gain A0, GBW):
  the circuit's full state equations (neurons *and* the op-amps' internal poles, from the
  netlist text by :mod:`rnn2spice.analysis.mna`) give the perturbed network exactly; its
  solution against the nominal reference is the **predicted** error, ngspice's against the
  same reference the **measured** one.  The slow eigenvalues of the full matrix against
  eig(A) are the first-order picture (each integrator's leak grows by about
  sum_j |w_kj| / A0 and its gain falls by the loop gain).
* :func:`snap` -- every R and C snapped to an E series (:mod:`rnn2spice.workflows.snapping`):
  the snapped netlist is again a network, linear or not (tau, w, w_in, bias and the
  activation's gain recovered from its values by the certificate's state equations);
  eigenvalue shift and predicted states and readout before simulating, then the simulation;
  :func:`~rnn2spice.workflows.snapping.snap_trial` for one task trial and its decision.
* :func:`value_warnings` -- parts outside 100 ohm .. 10 Mohm, 10 pF .. 100 uF, states beyond
  the op-amp rails (:class:`~rnn2spice.errors.ComponentValueWarning`).
* :func:`bom` -- the bill of materials of a compiled circuit, as CSV.

Units: ohm, farad, volt, hertz, second.

The module is over 400 lines on purpose: the BOM's two views (the parts list and the orderable
list grouped by part, packages and footprints) read the same rows and belong together with the
value warnings they report.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np

from rnn2spice.analysis import reference
from rnn2spice.analysis.metrics import relative_error
from rnn2spice.analysis.mna import StateEquations, state_equations
from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import CompiledNetwork, compile_rnn
from rnn2spice.circuit.eseries import nearest, snappable, tolerance
from rnn2spice.circuit.reader import parse_netlist
from rnn2spice.circuit.writer import write_netlist
from rnn2spice.errors import ComponentValueWarning, SimulationError, UsageError
from rnn2spice.network.opamp import OpAmpModel
from rnn2spice.network.spec import RnnSpec
from rnn2spice.network.readout import readout
from rnn2spice.report.display import Displayed
from rnn2spice.network.scaling import unscaled_only
from rnn2spice.workflows.stimulus import Stimulus, stimulus_spec
from rnn2spice.workflows.task import decision, run_discrete
from rnn2spice.spice.log import discard_saved_netlist
from rnn2spice.workflows.snapping import FLOOR, run_probes, slow, value_of
from rnn2spice.workflows.snapping import SnapResult, snap, snapped_circuit  # noqa: F401 (re-exported API)

#: Value warnings a summary lists (the report has all).
MAX_WARNINGS_SHOWN = 10
#: Practical part ranges: resistors (ohm), capacitors (F).
R_RANGE = (100.0, 10e6)
C_RANGE = (10e-12, 100e-6)
#: ngspice tolerances the single-pole macro-models need (A, C): at 1e-18 A / 1e-22 C the
#: damped oscillator's pulse edge stopped with "timestep too small" (ngspice 46).
MACRO_ABSTOL = 1e-15
MACRO_CHGTOL = 1e-20


# =========================================================================== shared

def full_equations(text: str) -> StateEquations:
    """State equations of a netlist with every capacitor a state: the saved probes first (the
    neurons), then per op-amp macro-model its internal node ``p..`` (an integrator's: its
    inverting input, as v(p) is the saved output there)."""
    net = parse_netlist(text)
    by_name = {e.name: e for e in net.elements}
    extra = []
    for e in net.elements:
        if isinstance(e, ir.Capacitor) and e.name.startswith("ca"):
            tag = e.name[2:]
            out = by_name[f"e{tag}"].p
            # an integrator's output is already a probe and equals v(p): its virtual ground instead
            extra.append(f"v({by_name[f'ga{tag}'].ctrl_n})" if f"v({out})" in net.saves else f"v({e.a})")
    extra = tuple(extra)
    return state_equations(dataclasses.replace(net, saves=net.saves + extra))


def linear_solution(eq: StateEquations, spec: RnnSpec, times: np.ndarray) -> np.ndarray:
    """The exact solution of dy/dt = a y + b u + c from y0 (the netlist's equations, with the
    spec's inputs), by the reference's matrix exponentials; shape (len(times), size)."""
    size = eq.a.shape[0]
    pseudo = RnnSpec(name=spec.name, tau=np.ones(size), w=eq.a + np.eye(size), w_in=eq.b, inputs=spec.inputs,
                     t_stop=spec.t_stop, convention="ctrnn", activation="linear",
                     bias=np.zeros(size) if eq.c is None else eq.c, h0=eq.y0)
    return reference.solve(pseudo, times)


def _linear_only(spec: RnnSpec, what: str) -> None:
    if spec.activation != "linear":
        raise UsageError(f"{what} predicts linear networks; activation is {spec.activation!r}")


# =========================================================================== op-amp error

@dataclass(frozen=True, eq=False, repr=False)
class OpAmpError(Displayed):
    """Predicted and measured error of a network built with single-pole op-amps."""

    spec: str
    gain: float
    gbw: float
    predicted: float          # max per-neuron relative error of the perturbed solution vs nominal
    measured: float           # the same for ngspice's solution
    eig_nominal: np.ndarray
    eig_circuit: np.ndarray   # the slow eigenvalues of the full circuit matrix
    states: int               # neurons + op-amp poles

    SHOWN = ("gain", "gbw", "states", "predicted", "measured", "ratio")

    @property
    def ratio(self) -> float:
        return self.measured / self.predicted if self.predicted > 0 else math.inf

    @property
    def passed(self) -> bool:
        """Prediction within a factor 2 of the measurement."""
        return 0.5 <= self.ratio <= 2.0

    def summary(self) -> str:
        shift = float(np.max(np.abs(self.eig_circuit - self.eig_nominal) / np.abs(self.eig_nominal)))
        return (f"spec {self.spec}: single-pole op-amps A0 = {self.gain:g}, GBW = {self.gbw:g} Hz "
                f"({self.states} states): eigenvalue shift {shift:.2e} relative; error predicted "
                f"{self.predicted:.3e}, measured {self.measured:.3e} (ratio {self.ratio:.3f}): "
                f"{'PASS' if self.passed else 'FAIL'}")

    def report(self) -> dict:
        return {"spec": self.spec, "gain": self.gain, "gbw": self.gbw, "predicted": self.predicted,
                "measured": self.measured, "ratio": self.ratio, "passed": self.passed, "states": self.states,
                "eig_nominal": [[z.real, z.imag] for z in self.eig_nominal],
                "eig_circuit": [[z.real, z.imag] for z in self.eig_circuit]}


def opamp_error(spec: RnnSpec, *, gbw: float, gain: float = 2e5, accuracy: str = "high") -> OpAmpError:
    """Predict (full state equations of the netlist) and measure (ngspice) the error that
    single-pole op-amps of DC gain ``gain`` and gain-bandwidth ``gbw`` (Hz) cause in a
    linear network built in the opamp form."""
    _linear_only(spec, "opamp_error")
    unscaled_only(spec, "opamp_error")
    model = OpAmpModel("single-pole", float(gain), float(gbw))
    compiled = compile_rnn(dataclasses.replace(spec, opamp=model), form="opamp", accuracy=accuracy)
    # the macro-models' currents (~uA) do not converge against abstol 1e-18 A at input edges
    options = compiled.circuit.options
    text = write_netlist(dataclasses.replace(compiled.circuit, options=dataclasses.replace(
        options, abstol=max(options.abstol, MACRO_ABSTOL), chgtol=max(options.chgtol, MACRO_CHGTOL))))
    eq = full_equations(text)
    try:
        t, sim = run_probes(text, compiled.state_probes)
    except SimulationError as exc:  # "timestep too small" at an input edge: once more with ngspice's default trtol
        discard_saved_netlist(exc)  # retried, not shown: its kept copy would be left behind untold
        text = write_netlist(dataclasses.replace(compiled.circuit, options=dataclasses.replace(
            options, abstol=max(options.abstol, MACRO_ABSTOL), chgtol=max(options.chgtol, MACRO_CHGTOL), trtol=7.0)))
        t, sim = run_probes(text, compiled.state_probes)
    nominal = reference.solve(spec, t)
    perturbed = linear_solution(eq, spec, t)[:, :spec.n]
    floor = FLOOR * float(np.max(np.abs(nominal)))
    eig_nom = np.linalg.eigvals(spec.state_matrix())
    return OpAmpError(spec.name, float(gain), float(gbw),
                      relative_error(perturbed, nominal, floor=floor).max,
                      relative_error(sim, nominal, floor=floor).max,
                      eig_nom, slow(np.linalg.eigvals(eq.a), eig_nom), eq.a.shape[0])


# =========================================================================== snapping
# snap, SnapResult, snapped_circuit: rnn2spice.workflows.snapping (imported above, part of this module's API)


# =========================================================================== value warnings

def value_warnings(compiled: CompiledNetwork, *, states: np.ndarray | None = None, warn: bool = True) -> list[str]:
    """Parts outside :data:`R_RANGE` / :data:`C_RANGE` and (``states``: the reference, shape
    (times, n)) states beyond the op-amp rails; each also a :class:`ComponentValueWarning`."""
    out = []
    for e in compiled.circuit.expanded_elements():
        if isinstance(e, ir.Resistor) and snappable(e) and not R_RANGE[0] <= abs(e.resistance) <= R_RANGE[1]:
            out.append(f"{e.name} = {e.resistance:.4g} ohm is outside {R_RANGE[0]:g} .. {R_RANGE[1]:g} ohm")
        elif isinstance(e, ir.Capacitor) and snappable(e) and not C_RANGE[0] <= e.capacitance <= C_RANGE[1]:
            out.append(f"{e.name} = {e.capacitance:.4g} F is outside {C_RANGE[0]:g} .. {C_RANGE[1]:g} F")
    rails = compiled.spec.opamp.rails
    if rails is not None and states is not None and compiled.form == "opamp":
        volts = np.asarray(states) * compiled.spec.state_scale  # v(o) = s h (THEORY.md 5)
        peak_hi, peak_lo = np.max(volts, axis=0), np.min(volts, axis=0)
        for k in range(compiled.spec.n):
            if peak_hi[k] > rails[1] or peak_lo[k] < rails[0]:
                out.append(f"v(o{k}) = h_{k} reaches {peak_lo[k]:.3g} .. {peak_hi[k]:.3g} V, beyond the rails "
                           f"{rails[0]:g} .. {rails[1]:g} V")
    if warn:
        for text in out:
            warnings.warn(text, ComponentValueWarning, stacklevel=2)
    return out


# =========================================================================== bill of materials

KINDS = {ir.Resistor: "resistor", ir.Capacitor: "capacitor"}


@dataclass(frozen=True, eq=False, repr=False)
class Bom(Displayed):
    """Bill of materials: one row per part (designator, kind, exact value, preferred value,
    tolerance), and the grouped counts."""

    spec: str
    form: str
    series: str | None
    rows: tuple = ()             # (designator, kind, exact value, chosen value, tolerance, unit)
    opamps: int = 0
    behavioural: int = 0
    warnings: tuple = ()
    passed: bool = True
    build: object = None         # the Build (op-amp part, footprints); None: the ideal build

    def order_rows(self) -> list[dict]:
        """The orderable list: one row per part and value, with designators, ``Qty``, ``Value``,
        ``Part`` and KiCad ``Footprint`` (``build.footprint``: tht or 0805); op-amps counted in
        packages (duals, quads), one 100 nF decoupling capacitor per package, the supply and
        reference connectors."""
        import math as _math

        from rnn2spice.circuit.partlib import D1N4148, PASSIVE_FOOTPRINTS, Q2N3904

        style = 1 if self.build is not None and self.build.footprint == "0805" else 0
        part = self.build.part if self.build is not None else None
        out = []
        groups: dict = {}
        for des, kind, _, chosen, tol, unit in self.rows:
            if kind in ("resistor", "capacitor"):
                groups.setdefault((kind, chosen, tol), []).append(des)
        for (kind, chosen, tol), des in sorted(groups.items(), key=lambda kv: (kv[0][0] != "resistor", kv[0][1])):
            grade = f"{100 * tol:g}%" if tol is not None else "exact value (not preferred)"
            out.append({"Designators": " ".join(des), "Qty": len(des),
                        "Value": _eng(chosen, "" if kind == "resistor" else "F"),
                        "Part": f"{'Resistor' if kind == 'resistor' else 'Capacitor (C0G or film)'} {grade}"
                                + (f" {self.series}" if self.series else ""),
                        "Footprint": PASSIVE_FOOTPRINTS[kind][style]})
        amps = [des for des, kind, *_ in self.rows if kind == "opamp"]
        if amps:
            per = part.per_package if part is not None else 2
            packages = _math.ceil(len(amps) / per)
            out.append({"Designators": " ".join(f"U{i + 1}" for i in range(packages)), "Qty": packages,
                        "Value": part.package_part if part is not None else "op-amp",
                        "Part": (f"{part.package_part} ({'dual' if per == 2 else 'quad' if per == 4 else 'single'} "
                                 f"op-amp; {len(amps)} amplifiers)") if part is not None
                        else f"op-amp, dual (choose one with --opamp; {len(amps)} amplifiers)",
                        "Footprint": (part.footprints[style] if part is not None
                                      else "Package_DIP:DIP-8_W7.62mm" if style == 0
                                      else "Package_SO:SOIC-8_3.9x4.9mm_P1.27mm")})
            out.append({"Designators": " ".join(f"CD{i + 1}" for i in range(2 * packages)), "Qty": 2 * packages,
                        "Value": "100nF", "Part": "Capacitor X7R 10% (supply decoupling, one per rail per package)",
                        "Footprint": PASSIVE_FOOTPRINTS["capacitor"][style]})
        for kind, dev in (("transistor", Q2N3904), ("diode", D1N4148)):
            des = [d for d, k, *_ in self.rows if k == kind]
            if des:
                out.append({"Designators": " ".join(des), "Qty": len(des), "Value": dev.part,
                            "Part": dev.part + (" (NPN; a matched dual such as DMMT3904 keeps pairs matched)"
                                                if kind == "transistor" else " (small-signal diode)"),
                            "Footprint": dev.footprints[style]})
        supplies = [(d, v) for d, k, v, *_ in self.rows if k == "supply"]
        if supplies or amps:
            volts = " / ".join(_eng(v, "V") for _, v in sorted(supplies, key=lambda x: x[1])) or "+-12V"
            out.append({"Designators": "J1", "Qty": 1, "Value": volts,
                        "Part": f"supply connector (V-, GND, V+: {volts})", "Footprint": PASSIVE_FOOTPRINTS["supply"][style]})
        refs = [(d, v) for d, k, v, *_ in self.rows if k == "reference"]
        for i, (des, v) in enumerate(refs):
            out.append({"Designators": f"J{2 + i}", "Qty": 1, "Value": _eng(v, "V"),
                        "Part": f"reference {_eng(v, 'V')} ({des}: a precision reference or a trimmed divider + buffer)",
                        "Footprint": PASSIVE_FOOTPRINTS["reference"][style]})
        inputs = [d for d, k, *_ in self.rows if k == "input"]
        for i, des in enumerate(inputs):
            out.append({"Designators": f"J{2 + len(refs) + i}", "Qty": 1, "Value": "input",
                        "Part": f"input connector ({des})", "Footprint": PASSIVE_FOOTPRINTS["input"][style]})
        return out

    def order_csv(self) -> str:
        """:meth:`order_rows` as CSV (quoted fields)."""
        import csv as _csv
        import io as _io

        buf = _io.StringIO()
        w = _csv.DictWriter(buf, fieldnames=["Designators", "Qty", "Value", "Part", "Footprint"], lineterminator="\n")
        w.writeheader()
        w.writerows(self.order_rows())
        return buf.getvalue()

    SHOWN = ("form", "series", "parts_to_order", "order_lines", "opamps", "resistors", "capacitors", "references",
             "behavioural")

    @property
    def parts_to_order(self) -> int:
        """Pieces to buy: the sum of ``Qty`` over the orderable list (:meth:`order_rows`; op-amps
        in packages, decoupling capacitors and connectors included, behavioural activation
        blocks not: they are not parts)."""
        return sum(r["Qty"] for r in self.order_rows())

    def _headline(self) -> str:
        return f"{self.spec}: {self.parts_to_order} parts to order, {len(self.warnings)} warning(s)"

    def counts(self) -> Counter:
        return Counter(kind for _, kind, *_ in self.rows)

    def grouped(self) -> list[tuple]:
        """(kind, chosen value, unit, tolerance, count, designators) per distinct resistor and capacitor."""
        groups: dict = {}
        for des, kind, _, chosen, tol, unit in self.rows:
            if kind not in ("resistor", "capacitor"):
                continue
            groups.setdefault((kind, chosen, unit, tol), []).append(des)
        return [(k, v, u, t, len(d), " ".join(d)) for (k, v, u, t), d in groups.items()]

    def csv(self) -> str:
        """One row per resistor, capacitor and reference (exact and chosen value): the parts list
        behind :meth:`order_csv`."""
        lines = ["designator,kind,exact_value,chosen_value,unit,tolerance,count"]
        for des, kind, exact, chosen, tol, unit in self.rows:
            if kind not in ("resistor", "capacitor", "reference"):
                continue
            lines.append(f"{des},{kind},{exact!r},{chosen!r},{unit},{'' if tol is None else tol},1")
        return "\n".join(lines) + "\n"

    def summary(self, *, all_warnings: str = "in .report()['warnings']") -> str:
        """The counts and the first MAX_WARNINGS_SHOWN warnings; beyond them, where every one
        is (``all_warnings``: the API's ``.report()``; the command line says its --report)."""
        c = self.counts()
        text = (f"bill of materials of {self.spec} ({self.form} form{', ' + self.series if self.series else ''}): "
                f"{self.opamps} op-amps, {c['resistor']} resistors, {c['capacitor']} capacitors, "
                f"{c['reference']} voltage references")
        if c["transistor"] or c["diode"]:
            text += f", {c['transistor']} transistors, {c['diode']} diodes"
        order = self.order_rows()
        text += (f"; {self.parts_to_order} parts to order on {len(order)} lines (op-amps in packages, decoupling "
                 f"capacitors and connectors included)")
        if self.behavioural:
            text += (f"; not orderable: {self.behavioural} behavioural activation blocks (ideal sources in the "
                     f"netlist; --activation-circuit transistor builds and lists them from parts)")
        for w in self.warnings[:MAX_WARNINGS_SHOWN]:
            text += "\n  warning: " + w
        if len(self.warnings) > MAX_WARNINGS_SHOWN:
            text += (f"\n  ... and {len(self.warnings) - MAX_WARNINGS_SHOWN} more warnings "
                     f"({len(self.warnings)} in all, every one {all_warnings})")
        return text

    def report(self) -> dict:
        c = self.counts()
        return {"spec": self.spec, "form": self.form, "series": self.series, "opamps": self.opamps,
                "resistors": c["resistor"], "capacitors": c["capacitor"], "references": c["reference"],
                "transistors": c["transistor"], "diodes": c["diode"], "order": self.order_rows(),
                "parts_to_order": self.parts_to_order, "order_lines": len(self.order_rows()),
                "behavioural": self.behavioural, "warnings": list(self.warnings),
                "parts": [dict(zip(("designator", "kind", "exact_value", "chosen_value", "tolerance", "unit"),
                                   (d, k, e, ch, t, u))) for d, k, e, ch, t, u in self.rows
                          if k in ("resistor", "capacitor", "reference")]}


def bom(spec: RnnSpec, *, form: str = "opamp", snap: str | None = None, series: str | None = None,
        build=None) -> Bom:
    """The parts of ``spec`` built in ``form`` (the opamp form: real parts), each resistor and
    capacitor with its exact value and, with ``snap`` (``"E12"``, ``"E24"``, ``"E48"``,
    ``"E96"``: the command's ``--snap``), its nearest preferred value.  ``series`` is the
    old name of ``snap`` (deprecated).  ``build`` (:class:`~rnn2spice.circuit.realparts.Build`):
    the op-amp part, transistor blocks, supply and footprints of the orderable list
    (:meth:`Bom.order_rows`); its own ``snap`` is in the compiled values."""
    from rnn2spice.circuit.realparts import Build
    from rnn2spice.workflows.realbuild import compile_build

    if series is not None:  # the old name
        if snap is not None:
            raise UsageError("give snap (the preferred-value series), not both snap and series")
        warnings.warn("bom(series=...) is deprecated: use snap=, as --snap", DeprecationWarning, stacklevel=2)
    series = snap if series is None else series
    build = Build() if build is None else build
    if series is not None and build.snap is not None and series != build.snap:
        raise UsageError(f"snap {series!r} and build.snap {build.snap!r} both choose the values; give one of them")
    series = series or build.snap
    # a build's snap is in the compiled values (block pairs are chosen together); ``snap``
    # alone keeps the exact values and lists the nearest preferred one beside each
    compiled = compile_build(spec, form=form, build=build)
    rows = []
    opamps = behavioural = 0
    for e in compiled.circuit.expanded_elements():
        if isinstance(e, (ir.Resistor, ir.Capacitor)) and snappable(e):
            exact = value_of(e)
            chosen = nearest(abs(exact), series) * (1 if exact > 0 else -1) if series else exact
            rows.append((e.name, KINDS[type(e)], exact, chosen, tolerance(series) if series else None,
                         "ohm" if isinstance(e, ir.Resistor) else "F"))
        elif (isinstance(e, ir.Vcvs) and form == "opamp") or isinstance(e, ir.Instance):
            opamps += 1
            rows.append((e.name, "opamp", None, None, None, ""))
        elif isinstance(e, ir.Bjt):
            rows.append((e.name, "transistor", None, None, None, ""))
        elif isinstance(e, ir.Diode):
            rows.append((e.name, "diode", None, None, None, ""))
        elif isinstance(e, ir.VoltageSource) and e.name.upper() in ("VCC", "VEE"):
            rows.append((e.name, "supply", e.dc, e.dc, None, "V"))
        elif isinstance(e, ir.VoltageSource) and not e.name.lower().startswith("vx_"):
            rows.append((e.name, "reference", e.dc, e.dc, None, "V"))
        elif isinstance(e, ir.VoltageSource):
            rows.append((e.name, "input", None, None, None, "V"))
        elif isinstance(e, ir.BEHAVIOURAL):
            behavioural += 1
    msgs = tuple(value_warnings(compiled, warn=False))
    if compiled.realisation.pruned:
        msgs += (f"{len(compiled.realisation.pruned)} weights pruned (their resistors would exceed 10 Mohm; the "
                 "prediction of check includes their absence)",)
    return Bom(spec.name, form, series, tuple(rows), opamps, behavioural, msgs, build=build)


def _eng(x: float, unit: str) -> str:
    """4700 -> '4.7k', 1e-08 -> '10n' (+ unit)."""
    if x == 0:
        return "0" + unit
    for exp, prefix in ((6, "M"), (3, "k"), (0, ""), (-3, "m"), (-6, "u"), (-9, "n"), (-12, "p")):
        if abs(x) >= 10.0 ** exp * (1 - 1e-9):
            return f"{x / 10.0 ** exp:.4g}{prefix}{unit}"
    return f"{x:.4g}{unit}"


# =========================================================================== a task trial, snapped

@dataclass(frozen=True, eq=False, repr=False)
class SnapTrial(Displayed):
    """One task trial (:mod:`rnn2spice.workflows.task`) of a network built with preferred
    values: the readout of the nominal network (its exact reference), of the snapped one
    (predicted) and of ngspice's snapped circuit, sampled at ``(k+1) dt``; and whether the
    decision (mean readout over the response window, 0 inside the dead zone) survives."""

    snap: SnapResult
    stimulus: Stimulus
    dt: float
    dead_zone: float
    y_nominal: np.ndarray       # (steps, p)
    y_predicted: np.ndarray
    y_simulated: np.ndarray | None
    y_discrete: np.ndarray | None   # the trained discrete network (ctrnn, rate), for context

    def _headline(self) -> str:
        return (f"{self.snap.spec} ({self.snap.series}, {self.stimulus.label}): decision "
                f"{'survives' if self.survives_predicted else 'changes'} (predicted)"
                + ("" if self.survives_simulated is None else
                   f", {'survives' if self.survives_simulated else 'changes'} (simulated)"))

    def _rows(self) -> list[tuple[str, str]]:
        return [(name, f"mean readout {self._mean(y)[0]:+.4f}, decision {self._decide(y)[0]:+d}") for name, y in
                (("nominal", self.y_nominal), ("predicted", self.y_predicted), ("simulated", self.y_simulated),
                 ("discrete", self.y_discrete)) if y is not None]

    def _mean(self, y):
        s, e = self.stimulus.window
        return [float(v) for v in y[s:e].mean(axis=0)]

    def _decide(self, y):
        return [decision(v, self.dead_zone) for v in self._mean(y)]

    @property
    def survives_predicted(self) -> bool:
        return self._decide(self.y_predicted) == self._decide(self.y_nominal)

    @property
    def survives_simulated(self) -> bool | None:
        return None if self.y_simulated is None else self._decide(self.y_simulated) == self._decide(self.y_nominal)

    @property
    def passed(self) -> bool:
        """Simulated, the snap prediction confirmed (:attr:`SnapResult.passed`) and the
        simulated decision the predicted one."""
        return bool(self.y_simulated is not None and self.snap.passed
                    and self._decide(self.y_simulated) == self._decide(self.y_predicted))

    def report(self) -> dict:
        out = {"stimulus": self.stimulus.as_dict(), "dt": self.dt, "dead_zone": self.dead_zone,
               "snap": self.snap.report(), "passed": self.passed}
        for name, y in (("nominal", self.y_nominal), ("predicted", self.y_predicted),
                        ("simulated", self.y_simulated), ("discrete", self.y_discrete)):
            if y is not None:
                out[name] = {"mean": self._mean(y), "decision": self._decide(y)}
        out["readout_change"] = {"predicted_mean": _worst(self._mean(self.y_predicted), self._mean(self.y_nominal)),
                                 "predicted_max": float(np.max(np.abs(self.y_predicted - self.y_nominal)))}
        if self.y_simulated is not None:
            out["readout_change"].update(
                simulated_mean=_worst(self._mean(self.y_simulated), self._mean(self.y_nominal)),
                simulated_max=float(np.max(np.abs(self.y_simulated - self.y_nominal))),
                simulated_vs_predicted_max=float(np.max(np.abs(self.y_simulated - self.y_predicted))))
        out["decision_survives"] = {"predicted": self.survives_predicted, "simulated": self.survives_simulated}
        return out

    def summary(self) -> str:
        r = self.report()
        ch = r["readout_change"]
        text = (f"trial [{self.stimulus.label}]: mean readout over the window nominal {_fmt(r['nominal']['mean'])}, "
                f"snapped predicted {_fmt(r['predicted']['mean'])}")
        if self.y_simulated is not None:
            text += f", simulated {_fmt(r['simulated']['mean'])}"
        text += (f"; readout change predicted mean {ch['predicted_mean']:.3e} max {ch['predicted_max']:.3e}")
        if self.y_simulated is not None:
            text += (f", simulated mean {ch['simulated_mean']:.3e} max {ch['simulated_max']:.3e} "
                     f"(simulated vs predicted max {ch['simulated_vs_predicted_max']:.1e})")
        text += (f"; decision nominal {r['nominal']['decision']}, snapped predicted {r['predicted']['decision']}"
                 + (f", simulated {r['simulated']['decision']}" if self.y_simulated is not None else "")
                 + (f" (discrete network {r['discrete']['decision']})" if self.y_discrete is not None else "")
                 + f": decision {'survives' if self.survives_predicted else 'CHANGES'}")
        return self.snap.summary() + "\n" + text


def _worst(a: list, b: list) -> float:
    return float(max(abs(x - y) for x, y in zip(a, b)))


def _fmt(values: list) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in values) + "]"


def snap_trial(spec: RnnSpec, stimulus: Stimulus, dt: float, series: str = "E24", *, form: str = "opamp",
               accuracy: str = "default", simulate: bool = True, dead_zone: float = 0.5) -> SnapTrial:
    """:func:`snap` on one task trial (``stimulus``: a :class:`~rnn2spice.workflows.stimulus.Stimulus`,
    one sample per ``dt`` s): predicted and (``simulate``) simulated readout change and decision."""
    if spec.w_out is None:
        raise UsageError(f"spec {spec.name!r} has no readout (w_out): a decision needs y = w_out h + b_out")
    if not (dead_zone >= 0 and math.isfinite(dead_zone)):
        raise UsageError(f"dead_zone must be a non-negative number (got {dead_zone!r})")
    sspec = stimulus_spec(spec, stimulus.x, dt)
    grid = (np.arange(stimulus.x.shape[0]) + 1) * dt
    result = snap(sspec, series, form=form, accuracy=accuracy, simulate=simulate, times=grid)
    at = np.searchsorted(result.times, grid)
    y_nom = readout(spec, result.h_nominal[at])
    y_pred = readout(spec, result.h_predicted[at])
    y_sim = None
    if simulate:
        raw = readout(spec, result.h_simulated)
        y_sim = np.stack([np.interp(grid, result.sim_time, raw[:, j]) for j in range(raw.shape[1])], axis=1)
    y_disc = readout(spec, run_discrete(spec, stimulus.x, dt)) if spec.convention in ("ctrnn", "rate") else None
    return SnapTrial(result, stimulus, float(dt), float(dead_zone), y_nom, y_pred, y_sim, y_disc)
