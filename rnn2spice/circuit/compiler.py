"""Spec -> circuit IR (THEORY.md sections 2-4).  No SPICE syntax here.

:func:`compile_rnn` checks the choices, looks the (form, coupling) realisation up in
:data:`REALISATIONS`, lets it build the elements into a
:class:`~rnn2spice.circuit.parts.BuildContext` and adds what every netlist has: the
header comments, the options and the analysis (a transient with a bounded step, or an AC
sweep).  The realisations live in their form modules, which register themselves on
import:

* :mod:`rnn2spice.circuit.parallel` -- neuron k is the cell ``R_k || C_k`` at node
  ``h<k>``, its voltage (V) is h_k; tau = R C, alpha = C w, beta = C w_in (THEORY.md 2, 4).
* :mod:`rnn2spice.circuit.series` -- neuron k is the loop ``L_k, R_k`` sensed by the 0 V
  source ``Vs_<k>``, its current (A) is h_k; tau = L / R, rho = L w, gamma = L w_in
  (THEORY.md 3, 4).

Element names follow :mod:`rnn2spice.circuit.parts` (``R_3``, ``C_3``, ``G_3_7`` = from
node 7 into node 3).  Units: seconds, hertz, SI circuit units.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from rnn2spice._blas import one_blas_thread
from rnn2spice._version import __version__
from rnn2spice.circuit import ir, opamp, parallel, series
from rnn2spice.circuit.eseries import snap_elements
from rnn2spice.circuit.realparts import Build
from rnn2spice.circuit.parts import HEADERS, REALISATIONS, UNSUPPORTED, BuildContext, Realisation, Realiser
from rnn2spice.circuit.writer import write_netlist
from rnn2spice.errors import SpecError, UsageError
from rnn2spice.network.scaling import circuit_time, describe as describe_scales, is_scaled
from rnn2spice.network.numbers import is_real
from rnn2spice.network.spec import RnnSpec
from rnn2spice.network.waveform import max_rate

__all__ = ["ACCURACIES", "COUPLINGS", "FORMS", "OPTIONS", "REALISATIONS", "TARGETS", "MARGIN", "CompiledNetwork",
           "Realisation", "compile_rnn", "fastest_rate", "options_for", "step_factor", "transient"]


#: The form modules; importing them registers their realisations (a new form: add it here).
FORM_MODULES = (parallel, series, opamp)


def _forms() -> tuple[str, ...]:
    return tuple(dict.fromkeys(form for form, _ in REALISATIONS))


def _couplings() -> tuple[str, ...]:
    return tuple(dict.fromkeys(coupling for _, coupling in REALISATIONS))


#: The registered forms and couplings, in registration order (parallel first).
FORMS = _forms()
COUPLINGS = _couplings()
ACCURACIES = ("default", "high")

#: The model-level relative error each accuracy mode aims at (and ``check`` passes at).
TARGETS = {"default": 1e-3, "high": 1e-6}
#: Safety margin of the a-priori step: the trapezoidal error is about
#: (max_step |lambda|max)^2 / 12 relative, so the step aims at target / MARGIN.  Measured
#: (ngspice 39, the bundled examples and random linear and tanh networks): at
#: max_step |lambda|max = 0.1 the errors were 1.9e-4 .. 9.6e-4 against 8.3e-4 predicted;
#: ``check`` refines the step a posteriori when a run misses its target.
MARGIN = 3.0
#: Largest max_step |lambda|max the compiler writes: beyond ~0.3 ngspice's own local
#: truncation control sets the step, and the prediction above no longer holds.
MAX_STEP_FACTOR = 0.3
#: max_step * rate of the default mode before accuracy targeting (rnn2spice 0.1.0): it gave
#: errors ~100x below the 1e-3 threshold at 3x the cost (kept for benchmarks/run.py's baseline).
STEP_FACTOR_BEFORE = 0.02
OPTIONS = {
    # reltol also ends Newton iterations: 1e-3 leaves ~5e-4 error in tanh networks.
    "default": ir.Options(reltol=1e-5),
    "high": ir.Options(reltol=1e-9, abstol=1e-18, vntol=1e-12, chgtol=1e-22),
}


#: trtol * reltol = LTE_GAIN * rtol^1.5 (:func:`options_for`): calibrated on random linear and tanh
#: networks and the trained ones (benchmarks/rtol.py).
LTE_GAIN = 0.15
#: The maximum step is this many times the a-priori step of the trapezoidal bound
#: (:func:`step_factor`): inside it, ngspice's truncation-error control (trtol) chooses the
#: step, long where the state is smooth and short at edges and transients.  At the default
#: target that is max_step |lambda|max = 40 x 0.063 = 2.5 rad, so the fastest mode is still
#: sampled more than twice per period (its truncation-error estimate cannot alias).  Measured
#: (benchmarks/rtol.py): the error of 100 random and 5 trained checks is the same at caps
#: 10, 40 and none (the truncation control sets it), while a cap of 10 made 70 % of the
#: trained trial's 1,693 points (1,033 at 40).  Per-step control does not bound the phase
#: error accumulated over hundreds of periods of a lightly damped fast mode or a fast sine:
#: there the first run misses its target at any cap (measured alike at 10 and 40) and
#: ``check`` redoes it at a smaller step.
STEP_CAP = 40.0
#: A run's length is judged (MAX_TIME_STEPS, MAX_TRANSIENT_VALUES) at steps of this many
#: a-priori steps: on a persistently excited fastest mode ngspice's truncation control takes
#: about that (the trained trial: 1,033 points at the cap of 40, 1,166 at 10).
STEPS_PER_ESTIMATE = 10.0


def step_factor(rtol: float) -> float:
    """max_step * (fastest rate) that aims the trapezoidal error at ``rtol / MARGIN``."""
    return min(math.sqrt(12.0 * rtol / MARGIN), MAX_STEP_FACTOR)


def options_for(rtol: float) -> ir.Options:
    """Simulator tolerances for a model-level target ``rtol``: ngspice's reltol two decades
    below it (it ends the Newton iterations of the tanh sources), absolute tolerances tight
    below 1e-4, and the truncation-error tolerance trtol that makes ngspice's own step
    control aim at ``rtol`` (:data:`LTE_GAIN`)."""
    if rtol >= 1e-4:
        reltol = min(1e-3, rtol * 1e-2)
        return ir.Options(reltol=reltol, trtol=_trtol(rtol, reltol))
    reltol = max(rtol * 1e-3, 1e-12)
    return ir.Options(reltol=reltol, abstol=1e-18, vntol=1e-12, chgtol=1e-22, trtol=_trtol(rtol, reltol))


def _trtol(rtol: float, reltol: float) -> float:
    """ngspice accepts a local truncation error of trtol * reltol * |charge| per step; the
    error of the whole run grows about as its 0.65th power (measured), so trtol * reltol
    = LTE_GAIN * rtol^1.5."""
    return min(LTE_GAIN * rtol ** 1.5 / reltol, 7.0)


@dataclass(frozen=True, eq=False, repr=False)
class CompiledNetwork:
    """A circuit with the facts needed to read the state back from the simulation."""

    spec: RnnSpec
    circuit: ir.Circuit
    form: str
    coupling: str
    accuracy: str
    state_probes: tuple[ir.Probe, ...]   # h_k, one per neuron (writer.vector_name: 'v(h0)', 'i(vs_0)')
    realisation: Realisation = field(default_factory=Realisation)
    rtol: float | None = None            # model-level relative error asked for (None: the mode's)
    step_scale: float = 1.0              # max step relative to the a-priori one (check's refinement)
    build: Build = field(default_factory=Build)  # how it is built (real parts, preferred values)

    @functools.cached_property
    def circuit_spec(self) -> RnnSpec:
        """The network in circuit time (THEORY.md 5: tau / k, times / k; ``spec`` when k = 1):
        the circuit's analysis and waveforms are in its time, ``spec``'s are the model's."""
        return circuit_time(self.spec)

    @property
    def target(self) -> float:
        """The model-level relative error the maximum step aims at (and ``check`` passes at)."""
        return TARGETS[self.accuracy] if self.rtol is None else self.rtol

    def with_step_scale(self, step_scale: float) -> "CompiledNetwork":
        """The same network, compiled again with the maximum step scaled by ``step_scale``."""
        return compile_rnn(self.spec, form=self.form, coupling=self.coupling, accuracy=self.accuracy,
                           rtol=self.rtol, step_scale=step_scale, build=self.build)

    @functools.cached_property
    def netlist(self) -> str:
        """The netlist text (written once, on first use)."""
        return write_netlist(self.circuit)

    def __repr__(self) -> str:
        """Two lines (the netlist is ``.netlist``, the elements ``.circuit``)."""
        return f"<CompiledNetwork {self.spec.name}>\n  {self.summary_head()}; {ir.count(self.circuit.elements)} elements"

    def summary_head(self) -> str:
        """The first line of every command's summary."""
        s = self.spec
        return (f"spec {s.name}: n = {s.n}, m = {s.m}, {s.convention}/{s.activation}, "
                f"form {self.form}, coupling {self.coupling}"
                + ("" if s.rank is None else f", w of rank {s.rank} (latent nodes)")
                + ("" if not is_scaled(s) else f"; time scale {s.time_scale!r}, state scale {s.state_scale!r}"))

    def describe(self) -> dict:
        """The network and realisation, as the JSON reports of every command start."""
        return {"spec": self.spec.name, "n": self.spec.n, "m": self.spec.m, "form": self.form,
                "coupling": self.coupling, "convention": self.spec.convention,
                "activation": self.spec.activation, "time_scale": self.spec.time_scale,
                "state_scale": self.spec.state_scale, "rank": self.spec.rank,
                "readout_of": None if self.spec.w_out is None else ("rate" if self.spec.rate_readout else "state")}


def compile_rnn(spec: RnnSpec, *, form: str = "parallel", coupling: str | None = None,
                accuracy: str = "default", rtol: float | None = None, step_scale: float = 1.0,
                ac: tuple[float, float, int] | None = None, build: Build | None = None) -> CompiledNetwork:
    """Compile a validated spec into a circuit.

    ``form``: ``parallel`` (R||C cells, voltages) or ``series`` (R-L loops, currents).
    ``coupling``: ``vccs`` (controlled sources: VCCS in parallel form, CCVS in series form)
    or ``gyrator`` (resistors + gyrators, parallel linear networks only) or ``resistor`` (the
    ``opamp`` form: inverting integrators, :mod:`rnn2spice.circuit.opamp`); None: the form's
    first (vccs, for opamp resistor).
    ``accuracy``: ``default`` (aims at relative error 1e-3) or ``high`` (1e-6); ``rtol``
    overrides the target with any model-level relative error; ``step_scale`` (0 < s <= 1)
    shrinks the a-priori maximum step (``check`` uses it when a run misses its target).
    ``ac``: ``(f_start, f_stop, points_per_decade)`` (Hz) gives an AC sweep with unit AC
    magnitude on every input instead of the transient.
    ``build``: how it is built (:class:`~rnn2spice.circuit.realparts.Build`: preferred values,
    op-amps by part, transistor activations, temperature, supply; THEORY.md 11); real parts
    need the opamp form.
    """
    _choose("form", form, _forms())
    if coupling is None:  # the form's first registered coupling (vccs; resistor for opamp)
        coupling = next(c for f, c in REALISATIONS if f == form)
    _choose("coupling", coupling, _couplings())
    _choose("accuracy", accuracy, ACCURACIES)
    if rtol is not None and (not is_real(rtol) or not 1e-9 <= rtol <= 0.1):
        raise UsageError(f"rtol must be a relative error between 1e-9 and 0.1 (got {rtol!r})")
    if not (is_real(step_scale) and 0 < step_scale <= 1):
        raise UsageError(f"step_scale must be in (0, 1] (got {step_scale!r})")
    if rtol is not None and accuracy != "default":
        raise UsageError(f"rtol and accuracy {accuracy!r} both choose the target; give one of them (got rtol {rtol!r})")
    if not isinstance(spec, RnnSpec):
        raise UsageError(f"network must be a Network (rnn2spice.load or rnn2spice.Network) (got {type(spec).__name__})")
    target = TARGETS[accuracy] if rtol is None else float(rtol)
    realiser = _realiser(form, coupling, spec.activation)  # AC of a nonlinear network: at its operating point
    build = Build() if build is None else build
    if not isinstance(build, Build):
        raise UsageError(f"build must be a rnn2spice.Build (got {type(build).__name__})")
    if (build.real or build.opamp is not None) and form != "opamp":
        raise UsageError(f"op-amps by part and transistor activations need form 'opamp' (got form {form!r})")

    model, spec = spec, circuit_time(spec)  # THEORY.md 5: the circuit's time (tau / k, ...)
    ctx = BuildContext(spec, ac is not None, time_scale=model.time_scale, state_scale=model.state_scale,
                       build=build)
    realisation = realiser(ctx)
    elements = tuple(ctx.elements)
    if build.snap is not None:  # every R and C at its preferred value (the prediction reads them back)
        elements = snap_elements(ir.expand(elements), build.snap)

    if ac is not None:
        f_start, f_stop, ppd = ac
        analysis: ir.Transient | ir.AcSweep = ir.AcSweep(int(ppd), float(f_start), float(f_stop))
        options = OPTIONS["high"]
    else:
        analysis = transient(spec, target, step_scale)
        # a refined run (step_scale < 1) also tightens ngspice's tolerances: the Newton
        # tolerance (reltol) sets an error floor that a smaller step alone does not lower
        options = options_for(max(target * step_scale ** 2, 1e-12))
    if build.real and accuracy != "default":  # asked for: ngspice's own error well below the build's
        options = dataclasses.replace(options, abstol=max(options.abstol, 1e-15), chgtol=max(options.chgtol, 1e-18),
                                      vntol=max(options.vntol, 1e-9), temp=float(build.temp), method="gear")
    elif build.real:  # transistors and macro-models: currents ~uA, charges ~pC; the devices at temp.
        # Their build error is ~1e-2 and judged against a prediction to ~1e-3: ngspice's own
        # truncation control (trtol 7) and reltol 1e-4 suffice, and are ~10x faster than the
        # ideal circuit's 1e-5 / 0.47 on the hundreds of fast internal nodes (measured: the
        # 100-neuron trained network crawled at 10 ns steps after each input edge); Gear's
        # damping, not the trapezoidal rule's ringing on the macro-models' fast internal poles
        # (measured there: 80 ms of the trial in 1.5 min instead of 3, edges 10x faster)
        options = dataclasses.replace(options, reltol=max(options.reltol, REAL_RELTOL),
                                      trtol=max(options.trtol, REAL_TRTOL), abstol=max(options.abstol, 1e-12),
                                      chgtol=max(options.chgtol, 1e-16), vntol=max(options.vntol, 1e-7),
                                      temp=float(build.temp), method="gear")
    probes = ctx.probes
    label = "ac" if ac is not None else (accuracy if rtol is None else f"rtol {target:g}")
    comments = _header(spec, form, coupling, label, build) + ((describe_scales(model),) if is_scaled(model) else ())
    if build != Build():
        comments += (f"build: {build.describe()}"[:200],)
    if build.snap is not None:
        comments += (f"R and C snapped to {build.snap}",)
    circuit = ir.Circuit(title=f"rnn2spice: {spec.name}", comments=comments,
                         elements=elements, analysis=analysis, options=options,
                         saves=tuple(probes))
    return CompiledNetwork(model, circuit, form, coupling, accuracy, tuple(probes), realisation,
                           None if rtol is None else target, step_scale, build)


#: ngspice's reltol of a build from real parts (at least; compile_rnn).
REAL_RELTOL = 1e-4
#: ... and its truncation-error tolerance (at least; Gear, compile_rnn).
REAL_TRTOL = 1.0

#: Largest transient the compiler writes: (t_stop / max step) x (n states + time) values.
#: ngspice keeps every step in memory (8 bytes per value), and so do the reader and the
#: reference, so 5e7 is ~0.4 GB per copy.  Beyond it a run is hours long or exhausts
#: memory (in the shared-library backend: the Python process itself).
MAX_TRANSIENT_VALUES = 50_000_000
#: Largest number of maximum steps over [0, t_stop]: ngspice takes ~10 us per step for the
#: smallest network and the reference about as much, so 1e6 steps bound a run to tens of
#: seconds (a 300 s trial of a 1 ms oscillator would be 1.5e7 steps: refused).
MAX_TIME_STEPS = 1_000_000


#: From this many neurons on, the largest |eigenvalue| is found by Arnoldi iteration
#: (ARPACK) instead of all eigenvalues (LAPACK dgeev, O(n^3): 2.1-2.7 s at n = 1000 on one
#: core).  Measured on dense random A = (W - I) / tau, n = 1000, gains 0.5, 1.2, 3: with 40
#: Lanczos vectors and tolerance 1e-4, 0.19-0.53 s and within 7e-6 of dgeev's value (with
#: 20 vectors it once settled on a neighbour 0.13 % smaller).  The value sets the maximum
#: step only (the step's error goes as its square), and ``check`` refines a run that
#: misses its target, so such an error costs accuracy margin, never a wrong verdict.
ARNOLDI_NEURONS = 400
ARNOLDI_TOL = 1e-4
ARNOLDI_VECTORS = 40


def spectral_radius(spec: RnnSpec, slope: float) -> float:
    """max |eig(A)| of A = slope w - lam (1/s): all eigenvalues below :data:`ARNOLDI_NEURONS`
    neurons, else the one of largest magnitude by ARPACK (a low-rank w = M N applied as its
    factors, O(n r) a product), falling back to all of them when ARPACK does not converge."""
    n = spec.n
    if n == 0:
        return 0.0
    with one_blas_thread():
        if n >= ARNOLDI_NEURONS:
            from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, eigs

            lam = spec.lam
            if spec.w_factors is not None:
                dm, n_f = spec.paper_factors()
                op = LinearOperator((n, n), matvec=lambda v: slope * (dm @ (n_f @ v)) - lam * v, dtype=float)
            else:
                op = spec.state_matrix(slope)
            try:
                values = eigs(op, k=1, which="LM", v0=np.ones(n), tol=ARNOLDI_TOL, ncv=min(ARNOLDI_VECTORS, n - 1),
                              maxiter=20 * n, return_eigenvectors=False)
                return float(np.max(np.abs(values)))
            except (ArpackNoConvergence, ArpackError):
                pass
        return float(np.max(np.abs(np.linalg.eigvals(spec.state_matrix(slope)))))


def fastest_rate(spec: RnnSpec) -> float:
    """Largest |eigenvalue| of A or input angular rate, 1/s; a nonlinear network's A has
    every slope at the activation's largest |f'| (1, sigmoid 1/4: THEORY.md 7)."""
    rate = spectral_radius(spec, spec.max_slope)
    for wave in spec.inputs:
        rate = max(rate, max_rate(wave))
    return max(rate, 1.0 / spec.t_stop)


def transient(spec: RnnSpec, rtol: float, step_scale: float = 1.0) -> ir.Transient:
    """The .tran card: the maximum step aims the trapezoidal error at ``rtol / MARGIN``."""
    rate = fastest_rate(spec)
    max_step = min(STEP_CAP * step_factor(rtol) * step_scale / rate, spec.t_stop / 50.0)
    if spec.t_step is not None:
        max_step = min(max_step, spec.t_step)
    step = spec.t_step if spec.t_step is not None else max_step
    # the cost: steps of at most STEPS_PER_ESTIMATE a-priori steps, what the truncation control
    # takes where the fastest mode stays excited (the cap only bounds quiet stretches)
    steps = spec.t_stop / min(max_step, STEPS_PER_ESTIMATE * step_factor(rtol) * step_scale / rate)
    if steps * (spec.n + 1) > MAX_TRANSIENT_VALUES or steps > MAX_TIME_STEPS:
        by_t_step = spec.t_step is not None and max_step == spec.t_step
        raise SpecError("t_step" if by_t_step else "t_stop", spec.t_step if by_t_step else spec.t_stop,
                        f"needs {steps:.3g} time steps of about {spec.t_stop / steps:.3g} s "
                        + ("" if by_t_step else f"(fastest rate of the network or its inputs {rate:.3g} 1/s) ")
                        + f"x {spec.n + 1} vectors = {steps * (spec.n + 1):.3g} values; at most "
                        f"{MAX_TIME_STEPS:.0e} steps and {MAX_TRANSIENT_VALUES:.0e} values are supported: shorten t_stop"
                        + (" or lengthen t_step" if by_t_step else " or slow the network down (larger tau, smaller w)"))
    return ir.Transient(step=step, stop=spec.t_stop, max_step=max_step)


def _choose(name: str, value: str, choices) -> None:
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)} (got {value!r})")


def _realiser(form: str, coupling: str, activation: str) -> Realiser:
    """The registered realisation of (form, coupling) for ``activation``, or the UsageError
    saying why there is none (a coupling's activation limits first, then the pair)."""
    known = [r for r in REALISATIONS.values() if r.coupling == coupling]
    if not any(activation in r.activations for r in known):
        kinds = sorted({a for r in known for a in r.activations})
        what = "a linear interaction network" if kinds == ["linear"] else f"activations {', '.join(kinds)}"
        others = [repr(r.coupling) for r in REALISATIONS.values() if r.form == form and activation in r.activations]
        raise UsageError(f"coupling {coupling!r} realises {what}; activation {activation!r} "
                         + (f"needs coupling {' or '.join(others)}" if others
                            else f"has no realisation in the {form} form"))
    realiser = REALISATIONS.get((form, coupling))
    if realiser is None:
        raise UsageError(UNSUPPORTED.get((form, coupling))
                         or f"coupling {coupling!r} is not supported in the {form} form")
    if activation not in realiser.activations:
        raise UsageError(f"form {form!r} with coupling {coupling!r} does not realise activation {activation!r}")
    return realiser


def _header(spec: RnnSpec, form: str, coupling: str, accuracy: str, build=None) -> tuple[str, ...]:
    ident, design = HEADERS[form](spec, build)
    return (
        f"rnn2spice {__version__} netlist of spec {spec.name}",
        f"form {form}, coupling {coupling}, convention {spec.convention}, activation {spec.activation}, "
        f"accuracy {accuracy}",
        ident,
        f"n = {spec.n} neurons, m = {spec.m} inputs, {design}",
    ) + (() if spec.rank is None else (
        f"low rank w = M N, r = {spec.rank} (THEORY.md 8): latent nodes l<i> carry kappa = N s (1 ohm, no "
        f"capacitor), each neuron takes (D M) kappa",))
