"""Preferred values: the snapped circuit is a known (perturbed) network, predicted before simulating.

Every R and C of a compiled circuit is replaced by its nearest value of an E series
(:mod:`rnn2spice.circuit.eseries`).  The snapped netlist is read back like any netlist
(:mod:`rnn2spice.analysis.mna`, the certificate's state equations, finite op-amp gain
included) and written as one **realised network**:

    dy/dt = a y + b u + c + k f(z),      z = zy y + zu u + z0

(y the saved probes, u the inputs, f the activation of each behavioural source, k the
gain of each source's value into the states).  ``a``, ``b``, ``c`` and ``k`` come from the
netlist with every behavioural source replaced by an extra input (a voltage source, or for
a current source a unit VCCS driven by one): the circuit is then linear and its input
matrix's extra columns are ``k``; ``zy``, ``zu``, ``z0`` are the sources' argument maps.
The nominal network is written the same way from the spec, so the two compare term by
term, and the realised network is turned back into an :class:`RnnSpec` the exact
reference solves:

* activation inside (paper, ctrnn; h' = -h / tau + k f(W h + U x + b)): ``a`` and ``k``
  are diagonal; tau' = -1/a_kk and the activation's gain gamma_k = k_kk tau'_k (1 in the
  nominal ctrnn network, tau_k in the paper one) is absorbed by the state scale
  h = gamma h~: tau' h~' = -h~ + f(W diag(gamma) h~ + U x + b), a ctrnn spec;
* activation outside (rate): z = y; tau' = -1/a_kk, W' = tau' k, U' = tau' b, b' = tau' c;
* linear: dy/dt = a y + b u + c exactly (a ctrnn spec with tau = 1, W = a + I).

The **prediction** is that spec's reference against the nominal reference (states and
readout), and the eigenvalues of the linearisation at h(0) (inputs at t = 0); the
simulation of the snapped netlist is then compared with both: ngspice against the
prediction must be far below the snapping effect.  :func:`snap_trial` does it for one
task trial and reports whether the decision survives (the mean readout over the response
window, as ``task`` decides).  Ideal op-amps only (a single-pole macro-model adds states).

Units: ohm, farad, second, volt.

The module is a little longer than 400 lines on purpose: recovering the realised network,
predicting and comparing with ngspice are one chain that reads best in one place.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from rnn2spice.analysis import reference
from rnn2spice.analysis.metrics import relative_error
from rnn2spice.analysis.mna import state_equations
from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import CompiledNetwork, compile_rnn
from rnn2spice.circuit.eseries import snap_elements, snappable
from rnn2spice.circuit.reader import parse_netlist
from rnn2spice.circuit.writer import vector_name, write_netlist
from rnn2spice.errors import SimulationError, UsageError
from rnn2spice.network.activations import ACTIVATIONS
from rnn2spice.network.readout import readout
from rnn2spice.network.scaling import unscaled_only
from rnn2spice.network.spec import RnnSpec
from rnn2spice.network.waveform import Sine
from rnn2spice.report.display import Displayed
from rnn2spice.spice.ngspice import simulate_netlist

#: Relative floor of the state error metric (per neuron, of the largest state).
FLOOR = 1e-3
#: Off-diagonal entries of a and k (inside) at most this fraction of the largest count as zero.
STRUCTURE_TOL = 1e-9
#: Points of the prediction's time grid (besides a task trial's sample times).
GRID_POINTS = 2001


# =========================================================================== shared helpers

def run_probes(text: str, probes) -> tuple[np.ndarray, np.ndarray]:
    """ngspice's time points and the probes' waveforms (points, len(probes))."""
    result = simulate_netlist(text)
    try:
        t = np.asarray(result.vectors["time"], dtype=float)
        y = np.stack([np.asarray(result.vectors[vector_name(p)], dtype=float) for p in probes], axis=1)
    except KeyError as exc:
        raise SimulationError(f"ngspice returned no vector {exc.args[0]!r}") from None
    return t, y


def slow(eigs: np.ndarray, nominal: np.ndarray) -> np.ndarray:
    """The eigenvalues of ``eigs`` nearest to each nominal one (paired greedily)."""
    left = list(eigs)
    out = []
    for lam in nominal:
        i = int(np.argmin([abs(x - lam) for x in left]))
        out.append(left.pop(i))
    return np.array(out)


# =========================================================================== realised network

@dataclass(frozen=True, eq=False)
class Realised:
    """dy/dt = a y + b u + c + k f(z), z = zy y + zu u + z0 (module docstring); 1/s."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    k: np.ndarray        # (n, sources)
    zy: np.ndarray       # (sources, n)
    zu: np.ndarray       # (sources, m)
    z0: np.ndarray       # (sources,)
    y0: np.ndarray
    activation: str

    def jacobian(self, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        if self.k.shape[1] == 0:
            return self.a
        slope = ACTIVATIONS[self.activation].slope(self.zy @ y + self.zu @ u + self.z0)
        return self.a + self.k @ (slope[:, None] * self.zy)


def nominal_network(spec: RnnSpec) -> Realised:
    """The spec in the :class:`Realised` form."""
    n, m = spec.n, spec.m
    lam = spec.lam
    if spec.activation == "linear":
        w, w_in, drive = spec.paper_form()
        return Realised(w - np.diag(lam), w_in, drive, np.zeros((n, 0)), np.zeros((0, n)), np.zeros((0, m)),
                        np.zeros(0), np.asarray(spec.h0, float), "linear")
    if spec.convention == "rate":
        return Realised(-np.diag(lam), lam[:, None] * spec.w_in, lam * spec.bias, lam[:, None] * spec.w, np.eye(n),
                        np.zeros((n, m)), np.zeros(n), np.asarray(spec.h0, float), spec.activation)
    gain = lam if spec.convention == "ctrnn" else np.ones(n)
    return Realised(-np.diag(lam), np.zeros((n, m)), np.zeros(n), np.diag(gain), np.asarray(spec.w),
                    np.asarray(spec.w_in), np.asarray(spec.bias), np.asarray(spec.h0, float), spec.activation)


def realised_network(text: str, spec: RnnSpec) -> Realised:
    """The network a netlist realises (module docstring), from its element values alone."""
    net = parse_netlist(text)
    eq = state_equations(net)
    if eq.a.shape[0] != spec.n:
        raise UsageError(f"the netlist has {eq.a.shape[0]} states, the spec n = {spec.n}")
    m = spec.m
    if not eq.linearised:
        return Realised(eq.a, eq.b, eq.c, np.zeros((spec.n, 0)), np.zeros((0, spec.n)), np.zeros((0, m)),
                        np.zeros(0), eq.y0, "linear")
    args = {name: (func, ay, au, off) for name, func, ay, au, off in eq.arguments}
    elements, names, gains = [], [], []
    for e in net.elements:
        if not isinstance(e, ir.BEHAVIOURAL):
            elements.append(e)
            continue
        source = f"vx_{m + len(names)}"
        if isinstance(e, (ir.TanhVoltage, ir.ActivationVoltage)):
            elements.append(ir.VoltageSource(source, e.p, e.n))
        else:  # a current source: a unit VCCS driven by the extra input
            aux = f"snapaux{len(names)}"
            elements += [ir.Vccs(f"g{source}", e.src, e.dst, aux, "0", 1.0), ir.VoltageSource(source, aux, "0")]
        names.append(e.name)
        gains.append(e.gain)
    lin = state_equations(dataclasses.replace(net, elements=tuple(elements)))
    functions = {args[name][0] for name in names}
    if functions != {spec.activation}:
        raise UsageError(f"the netlist's sources compute {sorted(functions)}, the spec's activation is "
                         f"{spec.activation!r}")
    return Realised(lin.a, lin.b[:, :m], lin.c, lin.b[:, m:] * np.asarray(gains)[None, :],
                    np.array([args[nm][1] for nm in names]), np.array([args[nm][2] for nm in names]).reshape(len(names), m),
                    np.array([args[nm][3] for nm in names]), lin.y0, spec.activation)


def _diagonal(x: np.ndarray, what: str) -> np.ndarray:
    off = x - np.diag(np.diag(x))
    scale = float(np.max(np.abs(x))) or 1.0
    if np.max(np.abs(off), initial=0.0) > STRUCTURE_TOL * scale:
        raise UsageError(f"the snapped circuit's {what} is not diagonal: it is not a network of the spec's "
                         f"convention (largest off-diagonal entry {np.max(np.abs(off)):.3g}, of {scale:.3g})")
    return np.diag(x).copy()


def _small(x: np.ndarray, scale: float, what: str) -> None:
    if np.max(np.abs(x), initial=0.0) > STRUCTURE_TOL * max(scale, 1.0):
        raise UsageError(f"the snapped circuit has a {what} the spec's convention has no place for")


def as_spec(r: Realised, spec: RnnSpec) -> tuple[RnnSpec, np.ndarray]:
    """An :class:`RnnSpec` whose reference, times the returned state scale, is the solution
    of ``r`` (module docstring): (spec, scale) with h = scale * h~."""
    n = spec.n
    base = dict(name=spec.name, inputs=spec.inputs, t_stop=spec.t_stop, t_step=spec.t_step,
                activation=r.activation)
    if r.k.shape[1] == 0:
        return RnnSpec(tau=np.ones(n), w=r.a + np.eye(n), w_in=r.b, convention="ctrnn", bias=r.c, h0=r.y0,
                       **base), np.ones(n)
    diag_a = _diagonal(r.a, "leak matrix a")
    if not np.all(diag_a < 0):
        raise UsageError("the snapped circuit has a neuron without leak (a_kk >= 0)")
    tau = -1.0 / diag_a
    scale_a = float(np.max(np.abs(r.a)))
    if spec.convention == "rate":
        if not (np.array_equal(r.zy.shape, (n, n)) and np.allclose(r.zy, np.eye(n), rtol=0, atol=1e-12)):
            raise UsageError("the snapped rate circuit's sources do not take the states themselves")
        _small(r.zu, 1.0, "direct input into an activation")
        _small(r.z0, 1.0, "constant inside an activation")
        return RnnSpec(tau=tau, w=tau[:, None] * r.k, w_in=tau[:, None] * r.b, convention="rate", bias=tau * r.c,
                       h0=r.y0, **base), np.ones(n)
    _small(r.b, scale_a, "direct input into an integrator")
    _small(r.c, scale_a, "constant drive into an integrator")
    gamma = _diagonal(r.k, "source-to-state gain k") * tau
    if not np.all(gamma > 0):
        raise UsageError("the snapped circuit inverts an activation's sign")
    return RnnSpec(tau=tau, w=r.zy * gamma[None, :], w_in=r.zu, convention="ctrnn", bias=r.z0, h0=r.y0 / gamma,
                   **base), gamma


def solve_realised(r: Realised, spec: RnnSpec, times: np.ndarray) -> np.ndarray:
    pspec, scale = as_spec(r, spec)
    return reference.solve(pspec, times) * scale[None, :]


def _gain(r: Realised, spec: RnnSpec) -> np.ndarray:
    """The activation's gain in ctrnn terms (gamma_k = k_kk tau_k; inside only)."""
    return np.diag(r.k) * (-1.0 / np.diag(r.a))


# =========================================================================== snapping

def snapped_circuit(compiled: CompiledNetwork, series: str) -> ir.Circuit:
    """The compiled circuit with every R and C at its nearest ``series`` value."""
    c = compiled.circuit
    return dataclasses.replace(c, elements=snap_elements(c.expanded_elements(), series),
                               comments=c.comments + (f"R and C snapped to {series}",))


def value_of(e) -> float:
    """A resistor's resistance (ohm) or a capacitor's capacitance (F)."""
    return e.resistance if isinstance(e, ir.Resistor) else e.capacitance


def _rel(x: np.ndarray, x0: np.ndarray) -> float:
    x, x0 = np.asarray(x, float), np.asarray(x0, float)
    mask = x0 != 0
    return float(np.max(np.abs(x[mask] / x0[mask] - 1.0), initial=0.0))


@dataclass(frozen=True, eq=False, repr=False)
class SnapResult(Displayed):
    """A network built with preferred values: its realised network and the predicted effect,
    then (``simulate``) ngspice's.  State errors are the max per-neuron relative error
    (floor :data:`FLOOR` of the largest state), readout differences absolute."""

    spec: str
    series: str
    form: str
    activation: str
    netlist: str
    nominal: Realised
    snapped: Realised
    perturbed: RnnSpec          # the realised network as a spec (states times `scale`)
    scale: np.ndarray
    eig_nominal: np.ndarray     # linearisation at h(0), inputs at t = 0
    eig_snapped: np.ndarray
    changes: dict               # parameter -> largest relative change
    largest_change: float       # largest relative change of a part value
    parts: int                  # resistors and capacitors snapped
    times: np.ndarray           # the prediction's grid (s)
    h_nominal: np.ndarray       # (times, n)
    h_predicted: np.ndarray
    predicted: float            # states: prediction vs nominal
    readout_predicted: float | None   # max |y_pred - y_nom| over the run
    measured: float | None = None     # ngspice vs nominal
    agreement: float | None = None    # ngspice vs the prediction
    readout_measured: float | None = None
    readout_agreement: float | None = None
    sim_time: np.ndarray | None = None
    h_simulated: np.ndarray | None = None
    target: float = 0.0               # the simulation's own accuracy target (relative)
    readout_scale: float = 0.0        # max |y_nominal|

    SHOWN = ("series", "form", "resistors_and_capacitors_snapped", "largest_part_change", "eigenvalue_shift",
             "predicted_build_error", "simulated_build_error", "ngspice_vs_prediction", "readout_predicted",
             "readout_measured")

    def _headline(self) -> str:
        return f"{self.spec} snapped to {self.series}" + (
            (": PASS (ngspice matches the prediction)" if self.passed else ": FAIL (ngspice does not match the "
             "prediction)") if self.simulated else " (predicted)")

    @property
    def eigenvalue_shift(self) -> float:
        return float(np.max(np.abs(self.eig_snapped - self.eig_nominal) / np.abs(self.eig_nominal)))

    @property
    def simulated(self) -> bool:
        return self.measured is not None

    @property
    def passed(self) -> bool:
        """Simulated, and ngspice against the prediction at most a tenth of the snapping
        effect or the simulation's own accuracy target, whichever is larger (a snap that
        changes little cannot be told apart more finely than the simulator resolves it)."""
        if not self.simulated:
            return False
        ok = self.agreement <= max(0.1 * self.measured, self.target)
        if self.readout_measured is not None:
            ok = ok and self.readout_agreement <= max(0.1 * self.readout_measured, self.target * self.readout_scale,
                                                      1e-300)
        return bool(ok)

    def summary(self) -> str:
        text = (f"spec {self.spec} ({self.form} form, {self.activation}) snapped to {self.series}: {self.parts} "
                f"resistors and capacitors snapped, "
                f"largest part change {self.largest_change:.2%}; realised network: "
                + ", ".join(f"{k} {v:.2%}" for k, v in self.changes.items())
                + f"; eigenvalue shift at h(0) {self.eigenvalue_shift:.2e} relative; predicted build error "
                f"(worst per-neuron relative error vs the ideal network) {100 * self.predicted:.3g} %")
        if self.readout_predicted is not None:
            text += f", readout {self.readout_predicted:.3e}"
        if self.simulated:
            text += (f"; simulated build error {100 * self.measured:.3g} % (ngspice vs prediction "
                     f"{self.agreement:.1e})")
            if self.readout_measured is not None:
                text += (f", readout {self.readout_measured:.3e} (ngspice vs prediction "
                         f"{self.readout_agreement:.1e})")
            dev = f"the build deviates {100 * self.measured:.3g} % from the ideal network"
            text += (f": PASS (the simulated build matches its prediction; {dev})" if self.passed else
                     f": FAIL (the simulated build does not match its prediction; {dev})")
        else:
            text += " (predicted only: nothing simulated, no verdict)"
        return text

    def report(self) -> dict:
        return {"spec": self.spec, "series": self.series, "form": self.form, "activation": self.activation,
                "parts": self.parts, "resistors_and_capacitors_snapped": self.parts,
                "predicted_build_error": self.predicted, "simulated_build_error": self.measured,
                "ngspice_vs_prediction": self.agreement, "largest_part_change": self.largest_change,
                "changes": self.changes,
                "eigenvalue_shift": self.eigenvalue_shift,
                "eig_nominal": [[z.real, z.imag] for z in self.eig_nominal],
                "eig_snapped": [[z.real, z.imag] for z in self.eig_snapped],
                "predicted": self.predicted, "readout_predicted": self.readout_predicted,
                "simulated": self.simulated, "measured": self.measured, "agreement": self.agreement,
                "readout_measured": self.readout_measured, "readout_agreement": self.readout_agreement,
                "passed": self.passed,
                "perturbed": {"convention": self.perturbed.convention, "tau": self.perturbed.tau.tolist(),
                              "state_scale": self.scale.tolist()}}


#: Most extra prediction times ``snap`` takes (each is a reference point of two solutions).
MAX_EXTRA_TIMES = 1_000_000


def _check_times(times, spec: RnnSpec) -> np.ndarray | None:
    """``times`` as a 1-D float array inside [0, t_stop], or UsageError naming the first bad one."""
    if times is None:
        return None
    raw = np.asarray(times) if not isinstance(times, (str, bytes)) else np.asarray(times, dtype=object)
    if raw.dtype.kind not in "iuf" or np.ma.isMaskedArray(times):  # no bools, strings, timedeltas, objects
        raise UsageError(f"times must be a sequence of times in seconds (got {type(times).__name__} of "
                         f"{raw.dtype})")
    t = raw.astype(float)
    if t.ndim != 1 or t.size > MAX_EXTRA_TIMES:
        raise UsageError(f"times must be a 1-D sequence of at most {MAX_EXTRA_TIMES:,} times (got shape {t.shape})")
    bad = np.flatnonzero(~(np.isfinite(t) & (t >= 0) & (t <= spec.t_stop)))
    if bad.size:
        raise UsageError(f"times[{bad[0]}] must be a finite time within 0 .. t_stop = {spec.t_stop!r} s "
                         f"(got {float(t[bad[0]])!r})")
    return t


def snap(spec: RnnSpec, series: str = "E24", *, form: str = "opamp", accuracy: str = "high",
         simulate: bool = True, times: np.ndarray | None = None) -> SnapResult:
    """Predict the effect of snapping every R and C of ``spec``'s circuit to ``series``
    (exactly: the network the snapped netlist realises, module docstring), then
    (``simulate``) run the snapped netlist in ngspice.  ``times``: extra prediction times (s)."""
    unscaled_only(spec, "snap")
    extra = _check_times(times, spec)
    if form == "opamp" and spec.opamp.model != "ideal":
        raise UsageError(f"snap needs ideal op-amps (circuit.opamp.model is {spec.opamp.model!r}: its internal "
                         "poles are states of their own)")
    compiled = compile_rnn(spec, form=form, accuracy=accuracy)
    circuit = snapped_circuit(compiled, series)
    text = write_netlist(circuit)
    nom = nominal_network(spec)
    real = realised_network(text, spec)
    perturbed, scale = as_spec(real, spec)
    u0 = _inputs_at_zero(spec)
    eig_nom = np.linalg.eigvals(nom.jacobian(nom.y0, u0))
    eig_snap = slow(np.linalg.eigvals(real.jacobian(real.y0, u0)), eig_nom)
    elems = compiled.circuit.expanded_elements()
    part_changes = [abs(value_of(s) / value_of(e) - 1.0) for e, s in zip(elems, circuit.elements) if snappable(e)]
    changes = _changes(real, nom, perturbed, spec)
    grid = np.linspace(0.0, spec.t_stop, GRID_POINTS)
    if extra is not None:
        grid = np.union1d(grid, extra)
    sim_t = sim = None
    if simulate:
        sim_t, sim = run_probes(text, compiled.state_probes)
    every = grid if sim_t is None else np.union1d(grid, sim_t)
    h_nom_all = reference.solve(spec, every)
    h_pred_all = reference.solve(perturbed, every) * scale[None, :]
    at = np.searchsorted(every, grid)
    h_nom, h_pred = h_nom_all[at], h_pred_all[at]
    floor = FLOOR * float(np.max(np.abs(h_nom)))
    predicted = relative_error(h_pred, h_nom, floor=floor).max
    has_readout = spec.w_out is not None
    ro_pred = float(np.max(np.abs(readout(spec, h_pred) - readout(spec, h_nom)))) if has_readout else None
    extra = {}
    if simulate:
        at_s = np.searchsorted(every, sim_t)
        n_s, p_s = h_nom_all[at_s], h_pred_all[at_s]
        extra = dict(measured=relative_error(sim, n_s, floor=floor).max,
                     agreement=relative_error(sim, p_s, floor=floor).max, sim_time=sim_t, h_simulated=sim)
        if has_readout:
            y_sim = readout(spec, sim)
            extra.update(readout_measured=float(np.max(np.abs(y_sim - readout(spec, n_s)))),
                         readout_agreement=float(np.max(np.abs(y_sim - readout(spec, p_s)))))
    return SnapResult(spec.name, series, form, spec.activation, text, nom, real, perturbed, scale, eig_nom, eig_snap,
                      changes, max(part_changes, default=0.0), len(part_changes), grid, h_nom, h_pred, predicted,
                      ro_pred, **extra, target=float(compiled.target),
                      readout_scale=float(np.max(np.abs(readout(spec, h_nom)))) if has_readout else 0.0)


def _changes(real: Realised, nom: Realised, perturbed: RnnSpec, spec: RnnSpec) -> dict:
    """Largest relative change of each parameter of the realised network against the spec's."""
    if real.k.shape[1] == 0:  # linear: dh/dt = A h + w_in x + c
        out = {"A": _rel(real.a, nom.a), "w_in": _rel(real.b, nom.b), "drive": _rel(real.c, nom.c)}
    else:
        out = {"tau": _rel(perturbed.tau, spec.tau)}
        if spec.convention == "rate":
            out.update(W=_rel(perturbed.w, spec.w), w_in=_rel(perturbed.w_in, spec.w_in),
                       bias=_rel(perturbed.bias, spec.bias))
        else:
            out.update({"activation gain": _rel(_gain(real, spec), _gain(nom, spec)), "W": _rel(real.zy, nom.zy),
                        "w_in": _rel(real.zu, nom.zu), "bias": _rel(real.z0, nom.z0)})
    if spec.m == 0:
        out.pop("w_in")
    if not np.any(spec.bias) and not (real.k.shape[1] == 0 and np.any(nom.c)):
        out.pop("bias", None)
        out.pop("drive", None)
    return out


def _inputs_at_zero(spec: RnnSpec) -> np.ndarray:
    """u(0) (V) of every input."""
    out = []
    for wave in spec.inputs:
        if isinstance(wave, Sine):
            out.append(wave.offset + wave.amplitude * math.sin(math.radians(wave.phase)))
        else:
            times, values = wave.knots(spec.t_stop)
            out.append(float(np.interp(0.0, times, values)))
    return np.array(out, dtype=float)
