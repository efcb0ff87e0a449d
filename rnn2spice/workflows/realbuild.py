"""A network built from real parts: blocks characterised in ngspice, the build's error predicted, then measured.

THEORY.md 11.  The module is over 400 lines on purpose: compiling, the skeleton, the prediction
and the check of a build share its block conventions (names, trim, the curve) and are read
together; the stages of the prediction live in stages.py.  For a :class:`~rnn2spice.circuit.realparts.Build`:

1. :func:`characterise` runs each activation block alone in ngspice (``.dc`` of its input
   over :data:`SWEEP` V) and returns its DC transfer curve g(z) (V(f) against V(z));
   :func:`trimmed_build` fits -A f(s z) to the analytic design's curve and designs once more
   with the divider and the output gain corrected by s and A (:class:`~rnn2spice.circuit.
   realparts.Trim`), twice; :func:`compile_build` compiles with that trim.
2. The **predicted circuit** is the compiled netlist with each op-amp a VCVS of the part's
   DC gain A0 and each block the behavioural source it replaces (the *skeleton*): its
   network is read back from the text (:func:`~rnn2spice.workflows.snapping.realised_network`:
   the snapped values, pruned weights and finite gains are all in it), and solved with each
   block's curve in place of f (:func:`predict`).
3. :func:`check_build` simulates the real netlist and reports ``build_error``: the worst
   per-neuron relative error against the ideal network, predicted and simulated, and
   ngspice against the prediction (the verdict).  Nothing here certifies a transistor
   circuit: the certificate is not applicable and the report says so.

The op-amps' input bias currents are in the skeleton; their output swing, closed-loop
bandwidth and slew rate are added by :mod:`rnn2spice.workflows.stages`; input offsets are not
(zero in a nominal build).  Units: V, s, ohm, degC.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import time as _time
import warnings
from dataclasses import dataclass

import numpy as np

from rnn2spice.analysis import reference
from rnn2spice.analysis.metrics import relative_error
from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import CompiledNetwork, compile_rnn
from rnn2spice.circuit.partlib import OPAMPS
from rnn2spice.circuit.realparts import Build, Trim, block_elements, definitions, design_block, supplies
from rnn2spice.circuit.writer import write_netlist
from rnn2spice.errors import ComponentValueWarning, SimulationError, UsageError
from rnn2spice.network.activations import ACTIVATIONS
from rnn2spice.network.readout import readout
from rnn2spice.network.scaling import unscaled_only
from rnn2spice.network.spec import RnnSpec
from rnn2spice.report.display import Displayed, Plotted
from rnn2spice.spice.ngspice import simulate_netlist
from rnn2spice.workflows.snapping import FLOOR, Realised, realised_network
from rnn2spice.workflows import stages as stg
from rnn2spice.workflows.stages import Linear, Prediction, saturation_line, solve

#: The block's input sweep (V): from -SWEEP to SWEEP in SWEEP_STEP.
SWEEP = 8.0
SWEEP_STEP = 0.01
#: The range the trim is fitted over (|z| <= FIT_RANGE, V).
FIT_RANGE = 3.0
#: Trim iterations (each one ngspice .dc run of ~1,600 points, ~20 ms).
TRIM_ROUNDS = 2
#: DC gain of a user's model in the prediction (its data sheet is not read).
USER_MODEL_GAIN = 1e5
#: Element-name prefixes of a block (realparts.block_elements), replaced in the skeleton.
BLOCK_PREFIXES = ("RBA_", "RBB_", "RBM_", "RBN_", "QP_", "QN_", "RT_", "RCP_", "RCN_", "RDP_", "RDG_", "RDN_",
                  "RDF_", "XD_", "RRI_", "RRF_", "DRA_", "DRB_", "XP_")
#: The op-amp of a block (tag D_k or P_k) as each op-amp kind is written (circuit/opamp.py:
#: X<tag> a macro-model instance, E<tag> an ideal or single-pole VCVS, GA/RA/CA<tag> the
#: single-pole's pole): a block of ideal op-amps was once left half in the skeleton (singular).
BLOCK_OPAMP = re.compile(r"^(X|E|GA|RA|CA)([DP])_(\d+)$")
#: The verdict: ngspice against the prediction within this fraction of the predicted build
#: error, or within AGREE_FLOOR (a build that is nearly ideal cannot be told apart finer).
AGREE_FRACTION = 0.5
#: What the prediction leaves out (the report says so).
NOT_PREDICTED = ("input offsets (zero in a nominal build), the op-amps' output resistance, the integrators' gain "
                 "error ~1/(2 pi GBW R C), the stages of a low-rank coupling's latent nodes and of a rate network's "
                 "activation nodes (they follow their neurons' static rule)")
AGREE_FLOOR = 5e-3


# =========================================================================== blocks

@dataclass(frozen=True, eq=False)
class Curve:
    """A block's DC transfer curve: V(f) (V) at V(z) = ``z`` (V); ``ideal`` = -f(z)."""

    activation: str
    z: np.ndarray
    g: np.ndarray
    design: str

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return np.interp(z, self.z, self.g)

    @property
    def ideal(self) -> np.ndarray:
        return -ACTIVATIONS[self.activation].f(self.z)

    def error(self, span: float = FIT_RANGE) -> float:
        """Largest |g - (-f)| over |z| <= span (V): the block's own error."""
        inside = np.abs(self.z) <= span
        return float(np.max(np.abs(self.g[inside] - self.ideal[inside])))

    def report(self) -> dict:
        return {"activation": self.activation, "design": self.design, "max_error_within_3V": self.error(),
                "offset_at_0": float(self(np.array([0.0]))[0])}


def block_circuit(activation: str, build: Build, rails: tuple[float, float]) -> ir.Circuit:
    """One block between a swept source ``VZ`` (node ``zin``) and ``fout``, with its op-amp and supplies."""
    design = design_block(activation, build, rails)
    made = []

    def opamp(tag, plus, minus, out):
        part = build.part
        made.append(tag)
        if part is not None:
            return [ir.Instance(f"X{tag}", (plus, minus, "vcc", "vee", out), part.name, (("v0", 0.0),))]
        if build.opamp_model is not None:
            from rnn2spice.circuit.usermodel import read_subcircuit
            sub = read_subcircuit(build.opamp_model)
            return [ir.Instance(f"X{tag}", (plus, minus, "vcc", "vee", out), sub.name)]
        return [ir.Vcvs(f"E{tag}", out, "0", plus, minus, 1e6)]

    body = block_elements(0, design, "zin", "fout", opamp)
    user = None
    if build.opamp_model is not None:
        from rnn2spice.circuit.usermodel import read_subcircuit
        user = read_subcircuit(build.opamp_model)
    head = definitions(build, user, transistors=any(isinstance(e, ir.Bjt) for e in body),
                       diodes=any(isinstance(e, ir.Diode) for e in body))
    elements = tuple(head + supplies(rails) + [ir.VoltageSource("VZ", "zin", "0", None, 0.0)] + body)
    return ir.Circuit(title=f"rnn2spice: {activation} block", comments=(design.describe()[:200],),
                      elements=elements, analysis=ir.DcSweep("VZ", -SWEEP, SWEEP, SWEEP_STEP),
                      options=ir.Options(reltol=1e-6, abstol=1e-12, vntol=1e-7, chgtol=1e-16, temp=float(build.temp)),
                      saves=(ir.Probe("voltage", "fout"),))


def characterise(activation: str, build: Build, rails: tuple[float, float]) -> Curve:
    """The block's DC transfer curve, by ngspice (module docstring)."""
    return _characterise(activation, build, tuple(rails))


@functools.lru_cache(maxsize=64)
def _characterise(activation: str, build: Build, rails: tuple) -> Curve:
    circuit = block_circuit(activation, build, rails)
    result = simulate_netlist(write_netlist(circuit))
    try:
        z = np.asarray(result.vectors["v(v-sweep)"], dtype=float)
        g = np.asarray(result.vectors["v(fout)"], dtype=float)
    except KeyError as exc:
        raise SimulationError(f"ngspice returned no vector {exc.args[0]!r} for the {activation} block") from None
    return Curve(activation, z, g, circuit.comments[0])


def _fit(curve: Curve) -> tuple[float, float]:
    """(s, A) of g(z) ~ -A f(s z) over |z| <= FIT_RANGE (least squares on a grid of s)."""
    f = ACTIVATIONS[curve.activation].f
    inside = np.abs(curve.z) <= FIT_RANGE
    z, g = curve.z[inside], curve.g[inside] - (curve(np.array([0.0]))[0] if curve.activation == "tanh" else 0.0)
    best = None
    for s in np.linspace(0.5, 1.5, 2001):
        basis = -f(s * z)
        a = float(basis @ g / (basis @ basis))
        res = float(np.sum((g - a * basis) ** 2))
        if best is None or res < best[0]:
            best = (res, float(s), a)
    return best[1], best[2]


def trimmed_build(spec_activation: str, build: Build, rails: tuple[float, float]) -> Build:
    """``build`` with the trim its blocks' measured curves call for (module docstring)."""
    if build.activation_circuit != "transistor" or spec_activation not in ("tanh", "sigmoid"):
        return build
    trim = Trim()
    for _ in range(TRIM_ROUNDS):
        b = build.with_trim(trim)
        s, a = _fit(characterise(spec_activation, b, rails))
        trim = Trim(trim.argument / s, trim.gain / a)
    return build.with_trim(trim)


def compile_build(spec: RnnSpec, *, form: str = "opamp", coupling: str | None = None, accuracy: str = "default",
                  rtol: float | None = None, build: Build | None = None) -> CompiledNetwork:
    """:func:`~rnn2spice.circuit.compiler.compile_rnn` with the blocks trimmed by their measured curves."""
    if build is not None and build.activation_circuit == "transistor" and form == "opamp":
        build = trimmed_build(spec.activation, build, build.rails(spec))
    return compile_rnn(spec, form=form, coupling=coupling, accuracy=accuracy, rtol=rtol, build=build)


# =========================================================================== prediction

def skeleton(compiled: CompiledNetwork) -> ir.Circuit:
    """The predicted circuit (module docstring): op-amps as VCVS of their DC gain, each block
    the behavioural source of its activation (gain -1), definitions and supplies dropped."""
    build = compiled.build
    gain = (build.part.gain if build.part is not None else USER_MODEL_GAIN if build.opamp_model else None)
    spec = compiled.spec
    out = []
    elements = list(compiled.circuit.expanded_elements())
    # a single-pole op-amp (GA<tag> into p<tag>, RA || CA, buffered by E<tag>): its DC gain
    # GA RA from its inputs; its pole would be a state the network does not have
    poles = {e.name[2:]: e for e in elements if isinstance(e, ir.Vccs) and e.name.startswith("GA")
             and e.dst == f"p{e.name[2:].lower()}"}
    ra = {e.name[2:]: e.resistance for e in elements if isinstance(e, ir.Resistor) and e.name[2:] in poles
          and e.name.startswith("RA")}
    for e in elements:
        if isinstance(e, ir.DEFINITIONS) or (isinstance(e, ir.VoltageSource) and e.name in ("VCC", "VEE")):
            continue
        if e.name[:2] in ("GA", "RA", "CA") and e.name[2:] in poles and not BLOCK_OPAMP.match(e.name):
            continue
        if isinstance(e, ir.Vcvs) and e.name[1:] in poles and not BLOCK_OPAMP.match(e.name):
            g = poles[e.name[1:]]
            out.append(ir.Vcvs(e.name, e.p, e.n, g.ctrl_p, g.ctrl_n, g.gm * ra[e.name[1:]]))
            continue
        amp = BLOCK_OPAMP.match(e.name)
        if e.name.startswith(BLOCK_PREFIXES) or amp:
            if amp and amp.group(1) in ("X", "E"):  # the block's op-amp, one per block: the source for it
                out.append(_source(spec.activation, int(amp.group(3))))
            continue
        if isinstance(e, ir.Instance):
            plus, minus, _, _, o = e.nodes
            out.append(ir.Vcvs("E" + e.name[1:], o, "0", plus, minus, float(gain)))
            if build.part is not None and build.part.bias:  # the bias current drawn by each input
                out += [ir.CurrentSource(f"IB{x}{e.name[1:]}", node, "0", float(build.part.bias))
                        for x, node in (("P", plus), ("N", minus)) if node != "0"]
            continue
        out.append(e)
    return dataclasses.replace(compiled.circuit, elements=tuple(out),
                               options=dataclasses.replace(compiled.circuit.options, temp=None))


def _source(activation: str, k: int):
    if activation == "tanh":
        return ir.TanhVoltage(f"B_{k}", f"f{k}", "0", -1.0, f"z{k}")
    return ir.ActivationVoltage(f"B_{k}", f"f{k}", "0", -1.0, f"z{k}", activation)


def predict(compiled: CompiledNetwork, times: np.ndarray, curve: Curve | None = None, *, swing: bool = True,
            dynamic: bool | None = None, slew: bool = True) -> Prediction:
    """The predicted circuit's states at ``times`` (s): its network (read back from the
    skeleton's text) with f replaced by the block's curve -g (``curve``), or f itself, and
    the op-amps' output swing (``swing``) and closed-loop bandwidth and slew rate
    (``dynamic``: True, False, or None: where they matter; ``slew=False`` leaves the slew
    rate out of the dynamic model; THEORY.md 11)."""
    spec = compiled.spec
    real = realised_network(write_netlist(skeleton(compiled)), spec)
    if curve is None:
        act = ACTIVATIONS[real.activation].f if real.k.shape[1] else None

        def phi(z):
            return act(z)
    else:
        def phi(z):
            return -curve(z)
    st = stg.stages(compiled) if swing or dynamic else None
    if st is not None and not swing:  # bandwidth alone: an unbounded swing
        st = dataclasses.replace(st, low=-math.inf, high=math.inf, windup=0.0 * st.windup)
    if st is not None and not slew:
        st = dataclasses.replace(st, slew=None)
    if st is None:
        ys = solve(real, spec, times, Linear(real, phi))
        return Prediction(ys, ys, real, None, False, "ideal op-amps: no swing, bandwidth or slew rate")
    return stg.predict_with_stages(real, st, spec, times, phi, dynamic)


# =========================================================================== check

@dataclass(frozen=True, eq=False, repr=False)
class BuildCheck(Displayed, Plotted):
    """A real-part (or snapped) build simulated and compared with its prediction and with the
    ideal network (worst per-neuron relative error, floor FLOOR of the largest state)."""

    compiled: CompiledNetwork
    time: np.ndarray
    states: np.ndarray          # ngspice
    ideal: np.ndarray           # the exact reference of the network
    predicted_states: np.ndarray
    predicted: float            # build error predicted (prediction vs ideal)
    simulated: float            # build error simulated (ngspice vs ideal)
    agreement: float            # ngspice vs the prediction
    curve: Curve | None
    seconds: float
    readout: dict | None = None
    saturation: tuple = ()      # stages.saturated: neurons whose state passes the op-amps' swing
    stages: dict | None = None  # what the prediction modelled (swing, GBW, slew, why)

    @property
    def ratio(self) -> float:
        return self.simulated / self.predicted if self.predicted > 0 else math.inf

    @property
    def passed(self) -> bool:
        """ngspice agrees with the prediction: within AGREE_FRACTION of the predicted build
        error or AGREE_FLOOR, and the build error predicted within 2x of the simulated one
        (or both below AGREE_FLOOR)."""
        agree = self.agreement <= max(AGREE_FRACTION * self.predicted, AGREE_FLOOR)
        within = (0.5 <= self.ratio <= 2.0) or max(self.predicted, self.simulated) <= AGREE_FLOOR
        return bool(agree and within)

    def verdict(self) -> str:
        """PASS/FAIL and what it judges: ngspice against the predicted circuit, not the build
        against the ideal network (that deviation is said beside it, in percent)."""
        dev = f"the build deviates {100 * self.simulated:.3g} % from the ideal network"
        if self.passed:
            return f"PASS (the simulated build matches its prediction; {dev})"
        return (f"FAIL (the simulated build does not match its prediction: ngspice vs prediction "
                f"{self.agreement:.3g}, predicted build error {100 * self.predicted:.3g} %; {dev})")

    def certified(self) -> str:
        b = self.compiled.build
        if b.real:
            return ("nothing: a circuit of real parts (transistor blocks, op-amp macro-models) is not a network the "
                    "certificate can read; judged against the predicted circuit instead")
        return (f"nothing of the snapped netlist ({b.snap} values realise a perturbed network); judged against the "
                "network it realises (the prediction)")

    def report(self) -> dict:
        c = self.compiled
        return {**c.describe(), "build": {"snap": c.build.snap, "opamp": c.build.opamp_model or c.build.opamp,
                                          "activation_circuit": c.build.activation_circuit, "temp": c.build.temp,
                                          "supply": list(c.build.rails(c.spec)),
                                          "trim": dataclasses.asdict(c.build.trim)},
                "certificate": None, "certified": self.certified(),
                "build_error": {"predicted": self.predicted, "simulated": self.simulated,
                                "ratio": self.ratio, "ngspice_vs_prediction": self.agreement},
                "block": None if self.curve is None else self.curve.report(),
                "realisation": c.realisation.as_dict(), "points": int(self.time.size),
                "readout": self.readout, "passed": self.passed, "seconds": self.seconds,
                "saturation": list(self.saturation), "stages": self.stages,
                "not_predicted": NOT_PREDICTED}

    def summary(self) -> str:
        c = self.compiled
        lines = [c.summary_head(), f"build: {c.build.describe()}", c.realisation.describe(),
                 f"certified: {self.certified()}"]
        if self.curve is not None:
            lines.append(f"{self.curve.activation} block (characterised in ngspice): largest error against the ideal "
                         f"activation {self.curve.error():.3e} V within |z| <= {FIT_RANGE:g} V")
        lines.append(f"build error (worst per-neuron relative error vs the ideal network): predicted "
                     f"{100 * self.predicted:.3g} %, simulated {100 * self.simulated:.3g} % (ratio {self.ratio:.2f}); "
                     f"ngspice vs predicted circuit {self.agreement:.3e} (what PASS judges)")
        if self.stages is not None:
            low, high = self.stages["swing"]
            lines.append(f"op-amps in the prediction: swing {low:.4g} .. {high:.4g} V"
                         f"{'' if self.stages['swing_known'] else ' (the rails: a user model)'}; {self.stages['why']}")
        for sat in self.saturation:
            lines.append(saturation_line(sat))
        if self.readout is not None:
            lines.append(f"readout: max |y| change predicted {self.readout['predicted']:.3e}, simulated "
                         f"{self.readout['simulated']:.3e}")
        lines.append(f"{self.time.size} time points in {self.seconds:.2f} s: {self.verdict()}")
        return "\n".join(lines)

    SHOWN = ("predicted_build_error", "simulated_build_error", "ngspice_vs_prediction", "points", "seconds")

    def _headline(self) -> str:
        return (f"{self.compiled.spec.name} ({self.compiled.build.describe()}): "
                f"{'PASS' if self.passed else 'FAIL'} (ngspice vs predicted circuit)")

    def _rows(self) -> list[tuple[str, str]]:
        return [("predicted_build_error",
                 f"{self.predicted:.3g} (worst per-neuron relative error vs the ideal network)"),
                ("simulated_build_error", f"{self.simulated:.3g}"),
                ("ngspice_vs_prediction", f"{self.agreement:.3g} (what PASS judges)"),
                ("points", str(self.time.size)), ("seconds", f"{self.seconds:.3g}")]

    def _draw(self, ax):
        """ngspice over the predicted circuit over the ideal network per neuron, and the errors."""
        from rnn2spice.report.build_figures import build_plot
        return build_plot(self.time, self.states, self.predicted_states, self.ideal, ax=ax,
                                  title=f"{self.compiled.spec.name}, {self.compiled.build.describe()}: ngspice vs "
                                        f"predicted circuit {self.agreement:.2e}, build error vs ideal "
                                        f"{self.simulated:.2e}")


def check_build(net: RnnSpec | CompiledNetwork, *, build: Build | None = None, accuracy: str = "default",
                backend: str = "auto", timeout: float | None = None, netlist_path=None,
                progress=None) -> BuildCheck:
    """Compile (blocks trimmed), simulate, predict and compare (module docstring)."""
    from rnn2spice.workflows.pipeline import simulate

    compiled = net if isinstance(net, CompiledNetwork) else compile_build(net, form="opamp", accuracy=accuracy,
                                                                         build=build)
    spec = compiled.spec
    unscaled_only(spec, "a real-part check")
    start = _time.perf_counter()
    traj = simulate(compiled, backend=backend, timeout=timeout, netlist_path=netlist_path, progress=progress)
    t = traj.time
    curve = None
    b = compiled.build
    if b.activation_circuit == "transistor" and spec.activation != "linear":
        curve = characterise(spec.activation, b, b.rails(spec))
    prediction = predict(compiled, t, curve)
    pred = prediction.states
    ideal = reference.solve(spec, t)
    sat, info = (), None
    if prediction.stages is not None:
        sat = tuple(stg.saturated(prediction.stages, prediction.capacitor, ideal))
        info = {**prediction.stages.describe(), "dynamic": prediction.dynamic, "why": prediction.reason}
        slow = stg.lag_warning(prediction.stages, b.opamp or b.opamp_model or "the op-amp")
        if slow:
            info["too_slow"] = slow
            warnings.warn(slow, ComponentValueWarning, stacklevel=2)
        if sat and not prediction.stages.swing_known:  # clipped at the rails: a bound, not the part's swing
            s0 = sat[0]
            warnings.warn(f"neuron {s0['neuron']} peaks at {s0['peak']:+.4g} V, beyond the supply "
                          f"{s0['swing'][0]:g} .. {s0['swing'][1]:g} V; the swing of {b.opamp_model} is not known, so "
                          f"the prediction clips at the rails and may not be trusted there "
                          f"({len(sat)} neuron(s) saturate)", ComponentValueWarning, stacklevel=2)
    floor = FLOOR * float(np.max(np.abs(ideal)))
    out = None
    if spec.w_out is not None:
        y_i, y_p, y_s = readout(spec, ideal), readout(spec, pred), readout(spec, traj.states)
        out = {"predicted": float(np.max(np.abs(y_p - y_i))), "simulated": float(np.max(np.abs(y_s - y_i))),
               "ngspice_vs_prediction": float(np.max(np.abs(y_s - y_p))), "final_ideal": y_i[-1].tolist(),
               "final_predicted": y_p[-1].tolist(), "final_simulated": y_s[-1].tolist()}
    return BuildCheck(compiled, t, traj.states, ideal, pred,
                      relative_error(pred, ideal, floor=floor).max, relative_error(traj.states, ideal, floor=floor).max,
                      relative_error(traj.states, pred, floor=floor).max, curve, _time.perf_counter() - start, out,
                      sat, info)


__all__ = ["BuildCheck", "Curve", "Prediction", "characterise", "check_build", "compile_build", "predict", "skeleton",
           "trimmed_build", "OPAMPS"]
