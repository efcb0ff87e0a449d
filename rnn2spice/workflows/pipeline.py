"""The end-to-end job: compile, certify, simulate with ngspice, solve the reference, compare.

:func:`run` is the one pipeline core that ``check``, ``task`` and the studies share: the
netlist is certified before ngspice sees it (a failure stops with
:class:`~rnn2spice.errors.CertificateFailed`), then simulated.

The module is longer than 400 lines: ``check``'s refinement loop, its result object and the
two-part verdict of a chaotic run (pointwise up to the horizon, statistics beyond it:
``_pointwise``, ``_statistics``, :func:`judge`, THEORY.md 9) share one run's bookkeeping.
"""

from __future__ import annotations

import os
import time as _time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from rnn2spice.analysis import chaos, reference
from rnn2spice.analysis.certificate import Certificate, certify_or_stop
from rnn2spice.analysis.metrics import Comparison, compare, state_atol
from rnn2spice.analysis.transfer import describe_stability, stability
from rnn2spice.circuit.compiler import MARGIN, CompiledNetwork, compile_rnn
from rnn2spice.circuit.writer import vector_name
from rnn2spice.errors import BudgetExceeded, ReferenceSolverError, SimulationError, SpecError, UsageError, clip
from rnn2spice.network.dale import dale_report
from rnn2spice.network.readout import readout, readout_label
from rnn2spice.network.scaling import to_model
from rnn2spice.network.numbers import is_real
from rnn2spice.network.spec import RnnSpec
from rnn2spice.report import figures
from rnn2spice.report.display import Displayed, Plotted
from rnn2spice.spice.ngspice import simulate_netlist


@dataclass(frozen=True, eq=False, repr=False)
class Trajectory(Displayed):
    """States read back from ngspice at its own time points, in model time and units
    (THEORY.md 5: ngspice's time x time_scale, its volts or amperes / state_scale), from
    t = 0 with h0 (:func:`from_the_initial_state`; a real-part build from ngspice's first point)."""

    time: np.ndarray    # (points,) s, model time
    states: np.ndarray  # (points, n): h (ngspice's volts or amperes / state_scale)
    backend: str
    ngspice_version: str
    seconds: float      # wall time of the simulation call
    solver: str = "sparse"  # linear solver ngspice used, as its log says: 'klu' or 'sparse'

    def __iter__(self):
        """``t, h = trajectory``."""
        return iter((self.time, self.states))

    def report(self) -> dict:
        """What ran (no verdict: compare with the reference through :func:`check`)."""
        return {"points": int(self.time.size), "n": int(self.states.shape[1]), "backend": self.backend,
                "ngspice_version": self.ngspice_version, "solver": self.solver, "seconds": float(self.seconds)}

    SHOWN = ("n", "points", "backend", "ngspice_version", "solver", "seconds")

    def _headline(self) -> str:
        return f"{self.states.shape[1]} states at {self.time.size} time points"

    def summary(self) -> str:
        return (f"ngspice {self.ngspice_version} via {self.backend} ({self.solver}): {self.time.size} time points "
                f"of {self.states.shape[1]} states in {self.seconds:.3f} s")


@dataclass(frozen=True, eq=False, repr=False)
class CheckResult(Displayed, Plotted):
    """A simulated circuit compared with the exact reference (THEORY.md section 6).

    ``passed``, ``report()`` (the JSON report), ``summary()`` (the text ``check`` prints),
    ``plot()`` (a Figure); ``trajectory`` (``t, h = result.trajectory``) and ``reference``
    hold the arrays."""

    SHOWN = ("rel_max_error_per_neuron", "worst_neuron", "threshold", "rel_max_error", "points", "form",
             "coupling", "backend", "solver", "lyapunov_exponent", "horizon")

    compiled: CompiledNetwork
    trajectory: Trajectory
    reference: np.ndarray     # (points, n) exact states at the trajectory's time points
    comparison: Comparison
    timings: dict = field(default_factory=dict)   # s per stage
    certificate: Certificate | None = None         # of the netlist text, checked before simulating
    runs: tuple = ()                               # every run: max_step (s), points, error, seconds
    #: lambda_1 along the reference and the horizon of predictability (THEORY.md 9)
    horizon: chaos.Horizon | None = None
    #: beyond the horizon of a chaotic run: the circuit's statistics against an ensemble
    statistics: chaos.Statistics | None = None
    #: a chaotic check's pointwise run (compiled, certificate, trajectory, reference): the
    #: comparison is of it up to the horizon; ``trajectory`` is the statistical run
    pointwise_run: tuple | None = None

    @property
    def pointwise_passed(self) -> bool:
        """The pointwise part (up to the horizon of a chaotic run, else the whole run)."""
        return self.comparison.passed

    @property
    def passed(self) -> bool:
        return self.comparison.passed and (self.statistics is None or self.statistics.passed)

    @property
    def lyapunov_exponent(self) -> float | None:
        """lambda_1 (1/s, model time) along the reference; None when not estimated."""
        return None if self.horizon is None else self.horizon.lyapunov_exponent

    @property
    def predictability_horizon(self) -> float | None:
        """T_p (s, model time) of a chaotic run, None when the run stays predictable."""
        return None if self.horizon is None or not self.horizon.chaotic else self.horizon.horizon

    @property
    def time(self) -> np.ndarray:
        return self.trajectory.time

    @property
    def states(self) -> np.ndarray:
        return self.trajectory.states

    def report(self) -> dict:
        """The JSON report of ``rnn2spice check``."""
        c = self.compiled
        tr = c.circuit.analysis
        return {
            **self.comparison.as_dict(),
            **c.describe(),
            "accuracy": c.accuracy,
            "rtol": float(c.target),
            "max_step": float(tr.max_step),
            "runs": list(self.runs),
            "lyapunov_exponent": self.lyapunov_exponent,
            "horizon": self.predictability_horizon,
            "chaos": None if self.horizon is None else self.horizon.as_dict(),
            "parts": {"pointwise": self.pointwise_passed,
                      "statistics": None if self.statistics is None else self.statistics.passed},
            "statistics": None if self.statistics is None else self.statistics.as_dict(),
            "reltol": float(c.circuit.options.reltol),
            "backend": self.trajectory.backend,
            "ngspice_version": self.trajectory.ngspice_version,
            "solver": self.trajectory.solver,
            "realisation": c.realisation.as_dict(),
            "certificate": self.certificate.as_dict() if self.certificate is not None else None,
            "dale": dale_report(c.spec.w).as_dict(),
            "timings_s": {k: float(v) for k, v in self.timings.items()},
            "stability": self.stability(),
        }

    def stability(self) -> dict:
        """Growth rate and largest state of the run (:func:`~rnn2spice.analysis.transfer.stability`)."""
        return stability(self.compiled.spec, self.reference)

    def _headline(self) -> str:
        return f"{self.compiled.spec.name}: {self._verdict()}"

    def _verdict(self) -> str:
        r, st = self.comparison, self.statistics
        return "PASS" if self.passed else (
            f"FAIL (statistics beyond the horizon: {', '.join(st.failed())})" if r.passed else (
            f"FAIL (neuron {r.worst_neuron} beyond tolerance)" if not r.states_passed
            else f"FAIL (readout output {r.readout.worst_output} beyond tolerance)"))

    def summary(self, *, verbose: bool = True) -> str:
        """The verdict as text, in the order of the work: circuit, certificate, simulation, verdict.
        ``verbose=False``: three lines (what ran, the certificate's verdict, the comparison's)."""
        c, r, tr = self.compiled, self.comparison, self.trajectory
        st = self.statistics
        verdict = self._verdict()
        if not verbose:
            cert = ("" if self.certificate is None else
                    f"; certificate {'PASS' if self.certificate.passed else 'FAIL'}")
            out = r.readout
            readout_part = "" if out is None else (f"; readout {out.rel_max_error_per_output:.1e} "
                                                   f"at output {out.worst_output}")
            # a chaotic transient's horizon comes from its amplification, not lambda_1 (rate n = 120,
            # g = 5: 7.7 ms beside lambda_1 = 14 1/s, whose own horizon would be ~150 ms)
            h = self.horizon
            transient = ("" if h is None or not h.transient_chaos else ", a chaotic transient" + (
                "" if h.amplification is None else f": floor grown by exp({h.amplification:.3g})"))
            horizon = (f" up to the horizon {self.predictability_horizon:.4g} s (lambda_1 "
                       f"{self.lyapunov_exponent:.4g} 1/s{transient})" if self.predictability_horizon else "")
            return "\n".join((
                f"{c.spec.name}: n = {c.spec.n}, {c.spec.convention}/{c.spec.activation}, {c.form}/{c.coupling}{cert}",
                f"ngspice {tr.ngspice_version} ({tr.backend}, {tr.solver}): {tr.time.size} time points in "
                f"{tr.seconds:.2f} s{self._pointwise_cost()}",
                f"worst neuron {r.worst_neuron}: relative error {r.rel_max_error_per_neuron:.2e} "
                f"(threshold {r.threshold:.0e}){horizon}{readout_part}: {verdict}",
                # an unstable network is said even in the short form: a real circuit saturates
                *filter(None, (describe_stability(self.stability()),)),
            ))
        out = r.readout
        readout_line = () if out is None else (
            f"readout {readout_label(self.compiled.spec)} "
            f"({out.outputs} output(s)): relative max error per output "
            f"{out.rel_max_error_per_output:.3e} at output {out.worst_output}, global {out.errors.global_error:.3e}, "
            f"max abs error {out.errors.max_abs:.3e}",)
        return "\n".join((
            c.summary_head(),
            c.realisation.describe(),
            dale_report(c.spec.w).describe(),
            *(() if self.certificate is None else (self.certificate.describe(),)),
            f"accuracy {c.accuracy if c.rtol is None else 'rtol'}: target {c.target:g}, max step "
            f"{c.circuit.analysis.max_step:.3g} s{' (circuit time)' if c.spec.time_scale != 1.0 else ''}, "
            f"reltol {c.circuit.options.reltol:g}"
            + ("" if len(self.runs) < 2 or self.pointwise_run is not None
               else f" ({len(self.runs)} runs: a larger step missed the target)")
            + self._stopped_note()
            + ("" if self.pointwise_run is None else self._runs_line()),
            f"ngspice {tr.ngspice_version} via {tr.backend}: {tr.time.size} time points in {tr.seconds:.3f} s"
            + self._pointwise_cost(),
            *readout_line,
            *(() if self.horizon is None else (self._chaos_line(),)),
            *(() if st is None else (st.describe(),)),
            f"relative max error per neuron {r.rel_max_error_per_neuron:.3e} at neuron {r.worst_neuron} "
            f"(threshold {r.threshold:.0e}, amplitude floor {float(np.max(r.floor)):.1e}); global {r.rel_max_error:.3e}, "
            f"max abs error {r.max_abs_error:.3e}"
            + (f" up to the horizon {self.predictability_horizon:.4g} s" if self.predictability_horizon else "")
            + f": {verdict}",
            *filter(None, (describe_stability(self.stability()),)),
        ))

    def _pointwise_cost(self) -> str:
        """A chaotic check's trajectory is its statistical run; without this the pointwise run's
        ngspice points and seconds (1,322 points, 4.0 s of 9.9 s for docs/chaos.md's network)
        were missing from the line that reports ngspice's cost."""
        if self.pointwise_run is None:
            return ""
        point = [r for r in self.runs if r.get("role") == "pointwise"]
        # the pointwise run goes beside the statistical one as ngspice -b (pipeline._side_by_side)
        other = getattr(self.pointwise_run[2], "backend", None)
        via = "" if other in (None, self.trajectory.backend) else f" via {other}"
        return (f" (statistical run) + {sum(int(r['points']) for r in point)} in "
                f"{sum(float(r['seconds']) for r in point):.2f} s (pointwise run{'s' if len(point) > 1 else ''}{via})")

    def _stopped_note(self) -> str:
        """Why refinement stopped early (THEORY.md 9), or nothing."""
        stopped = [r for r in self.runs if r.get("refinement") == "stopped"]
        if not stopped:
            return ""
        i = self.runs.index(stopped[-1])
        a, b = self.runs[i - 1], self.runs[i]
        return (f"; refinement stopped: a smaller step left the error at {b['rel_max_error']:.2g} (was "
                f"{a['rel_max_error']:.2g}) and its divergence at {b['divergence']:.4g} s (was {a['divergence']:.4g} s): "
                "the network amplifies any floor (chaos), no step follows it pointwise")

    def _runs_line(self) -> str:
        """The two runs of a chaotic check (THEORY.md 9)."""
        point = [r for r in self.runs if r.get("role") == "pointwise"]
        p = point[-1]
        return (f"; chaotic: pointwise run over [0, {p['t_stop']:.4g}] s at rtol {p['rtol']:g} "
                f"({p['points']} points, {len(point)} run(s)), statistical run over the whole t_stop at rtol "
                f"{_statistics_rtol_text(self.runs)}, max step {self.compiled.circuit.analysis.max_step:.3g} s "
                f"({self.trajectory.time.size} points)")

    def _chaos_line(self) -> str:
        h = self.horizon
        lam = h.lyapunov_exponent
        if lam is None:
            return "largest Lyapunov exponent: not estimated (too many time constants for the tangent integration)"
        head = f"largest Lyapunov exponent lambda_1 = {lam:.4g} 1/s along the reference"
        sp = h.spread
        parted = ("" if sp is None else
                  f" (reference runs started at the floor part by {sp.largest:.2g}, {sp.reach:g} times closer by "
                  f"{sp.largest_tight:.2g}, limit {sp.limit:.2g})")
        c = h.convergence
        if c is not None and c.substeps:   # carried on past the run (THEORY.md 9)
            head += (f" (the attractor's rate carried on to {c.t_to:.3g} s" + (", where it settled" if c.settled else "")
                     + f": {c.value:.4g} +- {c.standard_error:.2g} 1/s)")
        elif c is not None:
            head += f" (+- {c.standard_error:.2g} 1/s)"
        if h.chaotic and h.transient_chaos:
            return (f"{head}: a chaotic transient, the accuracy floor {h.floor:.2g} grows by exp("
                    f"{h.amplification:.3g}) before the run settles{parted}, horizon T_p = {h.horizon:.4g} s "
                    f"(threshold {h.threshold:.0e}); pointwise up to T_p, statistics beyond")
        if h.chaotic:
            return (f"{head}: chaotic, horizon T_p = {h.horizon:.4g} s (accuracy floor {h.floor:.2g} grows to the "
                    f"threshold {h.threshold:.0e}); pointwise up to T_p, statistics beyond")
        if h.transient:   # a finite-time lambda_1 > 0 of an escape or a settling (THEORY.md 9)
            return f"{head}: {h.persistence.reason}{parted}; pointwise over the whole run"
        return f"{head}: {'not chaotic' if lam <= 0 else 'no horizon inside the run'}, pointwise over the whole run"

    def _draw(self, ax):
        """The inputs, SPICE over the reference per neuron (the worst always drawn), the
        readout, and the error."""
        spec, c = self.compiled.spec, self.compiled
        if self.statistics is not None:
            h, st = self.horizon, self.statistics
            return figures.chaos_plot(
                self.trajectory.time, self.trajectory.states, self.reference,
                # a chaotic transient's T_p is its amplification's, not lambda_1's (as the text says)
                title=f"{spec.name}: {c.form}/{c.coupling}, {'chaotic transient' if h.transient_chaos else 'chaotic'}: "
                      f"lambda_1 = {h.lyapunov_exponent:.3g} 1/s, "
                      f"T_p = {h.horizon:.3g} s, {'PASS' if self.passed else 'FAIL'}",
                growth_time=h.exponent.time, growth=h.exponent.growth[:, 0], exponent=h.lyapunov_exponent,
                floor=h.floor, threshold=h.threshold, horizon=h.horizon, scores=st.scores(), ax=ax,
                pointwise=None if self.pointwise_run is None else tuple(
                    (self.pointwise_run[2].time, self.pointwise_run[2].states, self.pointwise_run[3])))
        y = readout(spec, self.trajectory.states)
        t = self.trajectory.time
        x = (np.column_stack([w.value(t, spec.t_stop) for w in spec.inputs]) if spec.inputs
             else None)
        return figures.check_plot(
            t, self.trajectory.states, self.reference,
            title=f"{spec.name}: {c.form}/{c.coupling}, worst neuron {self.comparison.worst_neuron}: "
                  f"relative error {self.comparison.rel_max_error_per_neuron:.2e} ({self._verdict()})",
            readout=None if y is None else (y, readout(spec, self.reference)), inputs=x,
            worst=self.comparison.worst_neuron, readout_label=readout_label(spec), ax=ax)


def _statistics_rtol_text(runs) -> str:
    """The statistical run's rtol, as text."""
    return next((f"{r['rtol']:g}" for r in runs if r.get("role") == "statistics"), "?")


def _compiled(net, form, coupling, accuracy, rtol=None) -> CompiledNetwork:
    """``net`` compiled, or ``net`` itself when it is already a compiled network."""
    if isinstance(net, CompiledNetwork):
        given = [k for k, v in (("form", form), ("coupling", coupling), ("accuracy", accuracy), ("rtol", rtol))
                 if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} cannot be given with an already compiled network "
                             f"(it is {net.form}/{net.coupling}, accuracy {net.accuracy})")
        return net
    if not isinstance(net, RnnSpec):
        raise UsageError(f"network must be a Network (rnn2spice.load or rnn2spice.Network) or a compiled "
                         f"network (rnn2spice.compile) (got {type(net).__name__})")
    return compile_rnn(net, form=form or "parallel", coupling=coupling, accuracy=accuracy or "default",
                       rtol=rtol)


def simulate(net, *, form: str | None = None, coupling: str | None = None, accuracy: str | None = None,
             backend: str = "auto", timeout: float | None = None,
             netlist_path: str | os.PathLike | None = None,
             progress: Callable[[float], None] | None = None) -> Trajectory:
    """Run the circuit of ``net`` (a network, compiled here, or a compiled network) in ngspice.

    ``timeout`` in seconds; ``progress(fraction)``: see
    :func:`~rnn2spice.spice.ngspice.simulate_netlist`.  On failure the :class:`SimulationError` names the netlist
    (``netlist_path``, or a kept temporary copy) so the user can rerun it.
    """
    compiled = _compiled(net, form, coupling, accuracy)
    start = _time.perf_counter()
    result = simulate_netlist(compiled.netlist, netlist_path=netlist_path, backend=backend, timeout=timeout,
                              progress=progress)
    seconds = _time.perf_counter() - start
    try:
        t = np.asarray(result.vectors["time"], dtype=float)
        states = np.stack([np.asarray(result.vectors[vector_name(p)], dtype=float) for p in compiled.state_probes], axis=1)
    except KeyError as exc:
        raise SimulationError(f"ngspice returned no vector {exc.args[0]!r}", netlist_path=netlist_path,
                              ngspice_message=result.log[-2000:]) from None
    t, states = to_model(compiled.spec, t, states)  # model time and units (THEORY.md 5)
    if not compiled.build.real:  # a real part's output at 0 is its own (clipped at its swing), not h0
        t, states = from_the_initial_state(compiled.spec, t, states)
    return Trajectory(t, states, result.backend, result.ngspice_version, seconds, result.solver)


def from_the_initial_state(spec, t: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The trajectory from t = 0: ngspice (39 and 46, shared library and ``ngspice -b``) runs a
    ``.tran ... uic`` from the initial conditions without writing a point at 0, its first
    point is its first step; the state at 0 is h0 exactly (each state element's IC, which the
    certificate holds to the spec's h0 per entry), so the row (0, h0) is prepended.  A run
    that has the point keeps ngspice's own.  Not for a build of real parts: nothing certifies
    it, and an op-amp starts where its swing lets it."""
    if t.size and t[0] <= 0.0:
        return t, states
    h0 = np.asarray(spec.h0, dtype=float).reshape(1, -1)
    return np.concatenate([[0.0], t]), np.concatenate([h0, states], axis=0)


def run(compiled: CompiledNetwork, *, certify: bool = True, backend: str = "auto", timeout: float | None = None,
        netlist_path: str | os.PathLike | None = None,
        progress: Callable[[float], None] | None = None) -> tuple[Certificate | None, Trajectory]:
    """The pipeline core: certify the netlist text and simulate it.

    The certificate (its own ``ngspice -b`` that reports the values it holds, then Python)
    runs in a thread beside the simulation, so on two cores it costs no wall time; a failed
    certificate raises :class:`CertificateFailed` and the simulation's result is discarded,
    never returned.  When the simulation fails, a failed certificate is the error reported
    (it explains more)."""
    if not certify:
        return None, simulate(compiled, backend=backend, timeout=timeout, netlist_path=netlist_path,
                              progress=progress)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnn2spice-certificate")
    pending = pool.submit(certify_or_stop, compiled)
    try:
        traj = simulate(compiled, backend=backend, timeout=timeout, netlist_path=netlist_path, progress=progress)
    except Exception:
        if pending.exception() is not None:  # waits for the certificate
            raise pending.exception() from None
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return pending.result(), traj


#: At most this many runs in one ``check``: the first at the a-priori step, then smaller
#: steps while the error misses its target.
MAX_RUNS = 3


def check(net, *, form: str | None = None, coupling: str | None = None, accuracy: str | None = None,
          rtol: float | None = None, backend: str = "auto", tolerance: float | None = None,
          timeout: float | None = None, netlist_path: str | os.PathLike | None = None,
          refine: bool = True, progress: Callable[[float], None] | None = None) -> CheckResult:
    """Compile ``net`` (unless compiled already), certify, simulate, compare with the exact reference.

    ``rtol``: the model-level relative error to aim at (default: the accuracy mode's, 1e-3
    for ``default``, 1e-6 for ``high``); the maximum step is chosen from the network's
    rates for it, and a run that misses it is redone with a smaller step (at most
    :data:`MAX_RUNS` runs, ``refine=False`` for one); ``runs`` in the report lists them.
    ``tolerance``: the pass threshold, by default the target itself.  ``timeout`` in s.
    ``progress(fraction)`` is told the progress of each ngspice run in turn (from 0 again
    for a redone run; :func:`~rnn2spice.spice.ngspice.simulate_netlist`).

    A chaotic network (THEORY.md 9: lambda_1 > 0 along the reference and its growth from the
    accuracy floor reaches the threshold inside the run) is judged pointwise up to the
    horizon T_p and statistically beyond it; the step is refined only on the pointwise part.
    ``lyapunov_exponent`` (1/s) and ``horizon`` (s) are in every report.
    """
    check_tolerance(tolerance)
    timings = dict.fromkeys(("compile", "certificate", "simulate", "reference", "chaos"), 0.0)
    start = _time.perf_counter()
    compiled = _compiled(net, form, coupling, accuracy, rtol)
    timings["compile"] += _time.perf_counter() - start
    reference.check_restarts(compiled.spec)  # before ngspice runs: a reference doomed a priori
    threshold = compiled.target if tolerance is None else tolerance
    options = dict(backend=backend, timeout=timeout, netlist_path=netlist_path, progress=progress)
    # the horizon from the spec alone, before any run: a chaotic network is run twice (below)
    prediction = _predict(compiled, threshold, timings)
    if prediction is not None and prediction[0].chaotic:
        return _check_chaotic(compiled, prediction, threshold, refine, timings, options)
    runs = []
    compiled, cert, traj, ref, hz, cmp = _refined(compiled, tolerance, refine, timings, runs, options,
                                                  predicted=None if prediction is None else prediction[0])
    return CheckResult(compiled, traj, ref, cmp, timings, certificate=cert, runs=tuple(runs), horizon=hz)


#: ``check`` stops refining (THEORY.md 9) when a smaller step left the error above this fraction
#: of the larger step's (the trapezoidal error goes with the step squared: a step <= 0.7 times
#: as large halves it) and moved the time it passes the threshold by less than
#: :data:`DIVERGENCE_MOVE` of the run.
ERROR_SHRINK = 0.5
DIVERGENCE_MOVE = 0.1


def divergence_time(traj: Trajectory, ref: np.ndarray, cmp: Comparison, limit: float) -> float | None:
    """The first time (s, model) the verdict's per-neuron error (each neuron on its scale over
    the compared part, :mod:`~rnn2spice.analysis.metrics`) passes ``limit``; None if never."""
    points = min(cmp.points, traj.time.size)
    e = cmp.errors
    denominator = np.maximum(e.scale_per_channel, e.floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.abs(traj.states[:points] - ref[:points]) / np.where(denominator > 0, denominator, np.inf)
    over = np.flatnonzero(~(np.max(d, axis=1) <= limit))
    return float(traj.time[over[0]]) if over.size else None


def _hopeless(before: dict, after: dict, t0: float, t_end: float) -> bool:
    """A refined run (``after``) moved neither the error (kept above :data:`ERROR_SHRINK` of
    ``before``'s) nor its divergence time (by less than :data:`DIVERGENCE_MOVE` of the run):
    chaos amplifies the floor of any step; a wrong circuit fails as it does anyway."""
    a, b = before.get("divergence"), after.get("divergence")
    if a is None or b is None or not after["rel_max_error"] > ERROR_SHRINK * before["rel_max_error"]:
        return False
    return abs(b - a) < DIVERGENCE_MOVE * (t_end - t0)


def _refined(compiled: CompiledNetwork, tolerance, refine: bool, timings: dict, runs: list, options: dict, *,
             predicted: chaos.Horizon | None = None, role: str | None = None, upto: float | None = None,
             aim: float | None = None):
    """Run ``compiled`` and compare pointwise (up to ``upto`` s when given, else up to the
    horizon found along this run's reference); while the error misses the target (``aim``
    when given), again at a smaller step (at most :data:`MAX_RUNS` runs).  ``predicted``: the horizon already known
    (not estimated again).  Returns the last run's (compiled, certificate, trajectory,
    reference, horizon, comparison)."""
    while True:
        cert, traj = run(compiled, **options)
        timings["certificate"] += cert.seconds
        timings["simulate"] += traj.seconds
        ref, hz, cmp = _pointwise(compiled, traj, tolerance, timings, hz=predicted, upto=upto)
        # the pointwise error up to the horizon: beyond it the divergence is the network's,
        # and no smaller step would move it by more than ln(step ratio^2) / lambda_1
        err = cmp.verdict_error  # every neuron (and readout output) on its own scale
        limit = aim or compiled.target
        runs.append({"max_step": float(compiled.circuit.analysis.max_step), "points": int(traj.time.size),
                     "rel_max_error": float(err), "seconds": float(traj.seconds),
                     "horizon": hz.horizon if hz.chaotic else None,
                     "divergence": divergence_time(traj, ref, cmp, limit),
                     **({} if role is None else {"role": role, "rtol": float(compiled.target),
                                                 "t_stop": float(compiled.spec.t_stop)})})
        if not refine or err <= limit or len(runs) >= MAX_RUNS or not np.isfinite(err):
            return compiled, cert, traj, ref, hz, cmp
        if len(runs) >= 2 and _hopeless(runs[-2], runs[-1], float(traj.time[0]), float(traj.time[-1])):
            # a smaller step moved neither the error nor the time it passes the threshold: the
            # error is the network's amplification of any floor, not the step's (THEORY.md 9)
            runs[-1]["refinement"] = "stopped"
            return compiled, cert, traj, ref, hz, cmp
        # the trapezoidal error goes with the step squared: aim again at target / MARGIN
        shrink = min(0.7, max(0.05, float(np.sqrt(compiled.target / (MARGIN * err)))))
        start = _time.perf_counter()
        try:
            compiled = compiled.with_step_scale(compiled.step_scale * shrink)
        except SpecError:  # the smaller step would exceed the transient limits: report this run
            return compiled, cert, traj, ref, hz, cmp
        finally:
            timings["compile"] += _time.perf_counter() - start


#: A chaotic network's pointwise run aims at threshold / POINTWISE_TIGHTENING (THEORY.md 9): its
#: floor (target / 2 = threshold / 8) then leaves room for the safety factor chaos.SAFETY = 2,
#: and the horizon lies ln(threshold / (SAFETY floor)) = ln 4 of growth beyond the tangent's
#: alignment.  A tighter run lengthens the window only logarithmically, its points grow as
#: the target^-1/2.
POINTWISE_TIGHTENING = 4.0
#: The pointwise run goes this fraction past the horizon (the figure shows the divergence
#: leave the threshold), at most to t_stop.
POINTWISE_PAST = 0.1
#: The statistical run (the whole t_stop) is compiled for this model-level relative error (its
#: ngspice reltol, the Newton tolerance, and the target its certificate holds it to); its step is
#: set a priori (:data:`STATISTICS_STEP`).  Beyond the horizon only the statistics count, and they
#: need the attractor's dynamics resolved, not a pointwise tolerance (THEORY.md 9).  Measured when
#: the run was stepped by ngspice's truncation control aimed at this target, against the ensemble
#: at resolution 1e-3: at 0.1 n = 200, g = 6 ctrnn (5.3 points per tau) and n = 50, g = 4 scored
#: <= 0.67 of their bounds, but n = 100, g = 4 ctrnn took 2 points per tau and its statistics
#: moved (variance 2.4, lambda_1 30 against 97 1/s: FAIL); at 3e-2 it took 7.1 per tau and
#: scored 0.69, n = 50, g = 4 ctrnn 0.39.
STATISTICS_RTOL = 3e-2
#: ... and a chaotic transient's (``chaos.Horizon.transient_chaos``) at this: which cycle or fixed
#: point it settles on is decided while it wanders, and a coarse run may land where the network
#: almost never does (ctrnn n = 50, g = 6, seed 2, 0.5 s: at 3e-2 a cycle of 40 ms that 0 of 48
#: reference runs reach, the autocorrelation failing at 1.07 of its bound; at 1e-2 and 3e-3 the
#: 17.7 ms cycle 47 of 48 reach; 7,176 points against 4,254).
TRANSIENT_STATISTICS_RTOL = 1e-2
#: The statistics of the statistical run may differ from the members' by this fraction of
#: their size (besides their spread; the check's own target or threshold when larger): the
#: bias of its integration, measured below the ensemble's spread at STATISTICS_RTOL, is
#: allowed for at the level the earlier 1e-2 run needed.
STATISTICS_RESOLUTION = 1e-2
#: The statistical run's step, times the network's fastest rate |lambda|max (compiler.fastest_rate):
#: a-priori, as the trapezoidal rule's phase error per step (h |lambda|)^2 / 12 ~ 4 % on the
#: fastest mode bounds it, with ngspice's truncation control loosened to STATISTICS_TRTOL (at
#: ngspice's default 7 it rarely bound in the ctrnn convention but still rejected 19 % of the rate
#: convention's steps at n = 200, g = 6: 6,228 points instead of 5,208 at 30, equal statistics).  The truncation-controlled run at STATISTICS_RTOL rejected 28 % of its steps (n = 200,
#: g = 6, ctrnn; each rejection a dense 200 x 200 factorisation or three) and took 3.9 Newton
#: iterations per accepted point; at this step 3.1 (THEORY.md 9, measured numbers).
STATISTICS_STEP = 0.7
#: The statistical run's trtol (ngspice's default and compiler._trtol's cap: 7): the step is set
#: by STATISTICS_STEP, the truncation control only stops a gross local error (THEORY.md 9).
STATISTICS_TRTOL = 30.0


def _predict(compiled: CompiledNetwork, threshold: float, timings: dict):
    """(horizon of the check's pointwise run, grid, reference on it), from the reference on a
    uniform grid (no ngspice); None when lambda_1 cannot be afforded (THEORY.md 9)."""
    spec = compiled.spec
    grid = chaos.prediction_grid(spec)
    if not chaos.affordable(spec, grid):
        return None
    start = _time.perf_counter()
    ref = (np.zeros((grid.size, spec.n)) if spec.activation == "linear" else
           solve_reference(spec, grid, target=min(compiled.target, threshold)))
    timings["reference"] += _time.perf_counter() - start
    start = _time.perf_counter()
    floor = min(compiled.target, threshold / POINTWISE_TIGHTENING) / 2.0
    atol = state_atol(compiled.circuit.options, compiled.state_probes) / spec.state_scale
    hz = chaos.horizon(spec, grid, ref, floor=floor, threshold=threshold, atol=atol)
    timings["chaos"] += _time.perf_counter() - start
    return hz, grid, ref


def _variant(compiled: CompiledNetwork, *, rtol: float, t_stop: float | None = None) -> CompiledNetwork:
    """The same circuit aiming at ``rtol`` (over [0, t_stop] when given): only its .tran and
    .options differ (and they are certified against that target)."""
    spec = compiled.spec
    if t_stop is not None and t_stop < spec.t_stop:
        spec = replace(spec, t_stop=float(t_stop),
                       t_step=None if spec.t_step is None or spec.t_step > t_stop else spec.t_step)
    return compile_rnn(spec, form=compiled.form, coupling=compiled.coupling, accuracy=compiled.accuracy,
                       rtol=rtol, build=compiled.build)


def _statistical_variant(compiled: CompiledNetwork, *, rtol: float) -> CompiledNetwork:
    """The statistical run (THEORY.md 9): the circuit compiled for ``rtol`` (its Newton
    tolerance), stepping at :data:`STATISTICS_STEP` / |lambda|max (never beyond the maximum step
    written for ``rtol``) with ngspice's truncation control at :data:`STATISTICS_TRTOL`; the
    certificate holds the netlist to these.  A run the limits of the transient would refuse at
    that step (compiler.MAX_TIME_STEPS, MAX_TRANSIENT_VALUES), or a build of real parts (its own
    method and options), keeps the truncation-controlled run at ``rtol``."""
    from rnn2spice.circuit.compiler import MAX_TIME_STEPS, MAX_TRANSIENT_VALUES, fastest_rate
    from rnn2spice.circuit.ir import Transient

    whole = _variant(compiled, rtol=rtol)
    tr = whole.circuit.analysis
    if compiled.build.real or not isinstance(tr, Transient):
        return whole
    step = min(STATISTICS_STEP / fastest_rate(whole.circuit_spec), tr.max_step)
    count = tr.stop / step
    if count > MAX_TIME_STEPS or count * (whole.spec.n + 1) > MAX_TRANSIENT_VALUES:
        return whole
    circuit = replace(whole.circuit, analysis=Transient(step=step if whole.spec.t_step is None else tr.step,
                                                        stop=tr.stop, max_step=step),
                      options=replace(whole.circuit.options, trtol=max(whole.circuit.options.trtol,
                                                                        STATISTICS_TRTOL)))
    return replace(whole, circuit=circuit)


def _check_chaotic(compiled: CompiledNetwork, prediction: tuple, threshold: float, refine: bool,
                   timings: dict, options: dict) -> CheckResult:
    """Two runs of one circuit (THEORY.md 9): pointwise over [0, T_p (1 + POINTWISE_PAST)] at
    threshold / POINTWISE_TIGHTENING, judged up to the predicted horizon T_p; and the whole
    t_stop at :data:`STATISTICS_RTOL` (never tighter than needed, never looser than the check's
    own target), judged beyond T_p by its statistics against the reference ensemble.  The
    ensemble (numpy, no ngspice) is computed in a thread beside the two runs, and the two runs,
    independent of each other, go side by side where :func:`_side_by_side` allows it: the
    pointwise run (and its refinements) as ``ngspice -b`` in a thread, the statistical run here
    (with ``progress``)."""
    predicted, grid, ref_grid = prediction
    spec = compiled.spec
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnn2spice-ensemble")
    beside = None
    try:
        stat_rtol = max(compiled.target, TRANSIENT_STATISTICS_RTOL if predicted.transient_chaos else STATISTICS_RTOL)
        # the members start apart by the statistical run's floor, not the pointwise run's: that
        # run leaves the reference as early, so it and the members share as little of their start
        members = pool.submit(chaos.ensemble, spec, chaos.statistics_grid(predicted.horizon, spec.t_stop),
                              floor=stat_rtol / 2.0)
        start = _time.perf_counter()
        point_rtol = min(compiled.target, threshold / POINTWISE_TIGHTENING)
        short = _variant(compiled, rtol=point_rtol,
                         t_stop=min(spec.t_stop, predicted.horizon * (1.0 + POINTWISE_PAST)))
        whole = compiled if stat_rtol == compiled.target else _statistical_variant(compiled, rtol=stat_rtol)
        timings["compile"] += _time.perf_counter() - start
        runs: list = []
        # judged at the check's threshold (not the run's tighter target); refined only when it fails
        pointwise = dict(threshold=threshold, refine=refine, predicted=predicted, role="pointwise",
                         upto=predicted.horizon, aim=threshold)
        backends = _side_by_side(options)
        if backends is None:
            short, cert_p, traj_p, ref_p, _, cmp = _refined(short, tolerance=threshold, timings=timings,
                                                            runs=runs, options=options,
                                                            **_without(pointwise, "threshold"))
            cert, traj = run(whole, **options)
        else:
            beside = _Beside(short, pointwise, {**options, "backend": backends[0]})
            try:
                cert, traj = run(whole, **{**options, "backend": backends[1],
                                           "progress": beside.watch(options.get("progress"))})
            except _PointwiseFailed:
                raise beside.future.exception() from None
            short, cert_p, traj_p, ref_p, _, cmp = beside.result(timings, runs)
        timings["certificate"] += cert.seconds
        timings["simulate"] += traj.seconds
        runs.append({"max_step": float(whole.circuit.analysis.max_step), "points": int(traj.time.size),
                     "rel_max_error": None, "seconds": float(traj.seconds), "horizon": predicted.horizon,
                     "role": "statistics", "rtol": float(whole.target), "t_stop": float(spec.t_stop)})
        # beyond the reference's own horizon (~ln(1e-3 / 1e-11) / lambda_1) no solver is
        # pointwise exact: the reference of the statistical run is the predicted trajectory,
        # Hermite-interpolated (with dh/dt) from samples 1 / (PREDICTION_DENSITY |J|max) apart
        start = _time.perf_counter()
        ref = chaos.interpolate(spec, grid, ref_grid, traj.time)
        timings["reference"] += _time.perf_counter() - start
        stats = _statistics(whole, traj, predicted, timings, members=members,
                            resolution=max(STATISTICS_RESOLUTION, float(compiled.target), threshold))
    except BaseException:
        if beside is not None:
            beside.stop()
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return CheckResult(whole, traj, ref, cmp, timings, certificate=cert, runs=tuple(runs), horizon=predicted,
                       statistics=stats, pointwise_run=(short, cert_p, traj_p, ref_p))


def _without(d: dict, *keys) -> dict:
    """``d`` without ``keys``."""
    return {k: v for k, v in d.items() if k not in keys}


def _side_by_side(options: dict) -> tuple[str, str] | None:
    """(pointwise backend, statistical backend) when a chaotic check's two runs may go side by
    side, else None (one after the other): on at least two cores, unless the shared library
    was asked for (one engine per process); the pointwise run then goes to ``ngspice -b``,
    which a thread can run beside the shared library and which is killed when the check
    stops (:class:`_Beside`).  At n = 200, g = 6 (ctrnn) the pointwise run took 8 s of ngspice
    on the idle machine (722 points at 12 ms) and its certificate 3 s, which now overlap the
    statistical run; measured under load 6-9, the two runs' ngspice seconds summed to 219 s in
    a check of 186 s wall."""
    from rnn2spice.spice.ngspice import _subprocess_problem
    from rnn2spice.workflows.pool import available_cores

    backend = options.get("backend", "auto")
    if backend == "shared" or available_cores() < 2 or _subprocess_problem() is not None:
        return None
    return ("subprocess", backend)


class _Stopped(Exception):
    """Raised in the pointwise run's thread by its progress callback once the check stopped."""


class _PointwiseFailed(Exception):
    """Raised in the statistical run by its progress callback when the pointwise run failed:
    the check raises the pointwise run's error (not a SimulationError: the statistical run
    must not retry or blame its own netlist)."""


class _Beside:
    """The pointwise run of a chaotic check (:func:`_refined`, refinements included) in a
    thread of its own, with its own timings and runs, merged in :meth:`result`."""

    def __init__(self, short: CompiledNetwork, pointwise: dict, options: dict):
        import threading

        self.stopped = threading.Event()
        self.timings = dict.fromkeys(("compile", "certificate", "simulate", "reference", "chaos"), 0.0)
        self.runs: list = []
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnn2spice-pointwise")
        self.future = self.thread.submit(
            _refined, short, tolerance=pointwise["threshold"], timings=self.timings, runs=self.runs,
            options={**options, "progress": self._halt_when_stopped}, **_without(pointwise, "threshold"))

    def _halt_when_stopped(self, fraction: float) -> None:
        # ngspice -b is killed when its progress callback raises (spice/batch.py)
        if self.stopped.is_set():
            raise _Stopped()

    def watch(self, progress: Callable[[float], None] | None) -> Callable[[float], None]:
        """The statistical run's progress callback: the caller's, and a failed pointwise run
        stops it at once (its error is the check's: it names the circuit first)."""

        def told(fraction: float) -> None:
            if self.future.done() and self.future.exception() is not None:
                raise _PointwiseFailed()
            if progress is not None:
                progress(fraction)

        return told

    def stop(self) -> None:
        """The check stopped (an error, Ctrl-C): kill the pointwise run, do not wait for it."""
        self.stopped.set()
        self.thread.shutdown(wait=False, cancel_futures=True)

    def result(self, timings: dict, runs: list):
        """The pointwise run's (compiled, certificate, trajectory, reference, horizon,
        comparison), its runs appended to ``runs`` and its seconds added to ``timings``."""
        try:
            out = self.future.result()
        finally:
            self.thread.shutdown(wait=False)
        for k, v in self.timings.items():
            timings[k] = timings.get(k, 0.0) + v
        runs.extend(self.runs)
        return out


def accuracy_floor(compiled: CompiledNetwork) -> float:
    """eps of the horizon (THEORY.md 9): half the target the step aims at.  Measured at target
    1e-3 on two chaotic tanh networks (n = 80, g = 4): a correct circuit diverges as
    |sim - ref| = eps_run exp(Lambda(t)) with eps_run 5e-5 and 3e-4, so target / 2 puts the
    horizon before the actual divergence."""
    return float(compiled.target) / 2.0


def _pointwise(compiled: CompiledNetwork, traj: Trajectory, tolerance: float | None, timings: dict, *,
               hz: chaos.Horizon | None = None, upto: float | None = None, floor: float | None = None):
    """(reference, horizon, comparison up to the horizon) of one run; ``hz`` when already
    known (else found from ``floor``, by default :func:`accuracy_floor`), ``upto`` (s) the end
    of the comparison when given."""
    threshold = compiled.target if tolerance is None else tolerance
    start = _time.perf_counter()
    ref = solve_reference(compiled.spec, traj.time, target=min(compiled.target, tolerance or compiled.target))
    timings["reference"] += _time.perf_counter() - start
    atol = state_atol(compiled.circuit.options, compiled.state_probes) / compiled.spec.state_scale
    start = _time.perf_counter()
    # floor and threshold both relative to a neuron's own scale (the divergence spreads to
    # every neuron): the level ln(threshold / floor) does not depend on the scales
    if hz is None:
        hz = chaos.horizon(compiled.spec, traj.time, ref, floor=floor or accuracy_floor(compiled),
                           threshold=threshold, atol=atol)
    timings["chaos"] += _time.perf_counter() - start
    end = upto if upto is not None else hz.horizon if hz.chaotic else None
    part = slice(None) if end is None else slice(0, max(int(np.searchsorted(traj.time, end, side="right")), 2))
    cmp = compare(traj.states[part], ref[part], threshold=threshold, atol=atol, spec=compiled.spec)
    return ref, hz, cmp


def _statistics(compiled: CompiledNetwork, traj: Trajectory, hz: chaos.Horizon, timings: dict, members=None,
                threshold: float | None = None, resolution: float | None = None):
    """The statistical part of a chaotic run (None otherwise), on the uniform grid of
    :func:`chaos.statistics_grid` beyond the horizon; ``members``: a future of the ensemble
    on that grid when it is already being computed.  Each statistic may differ by the run's
    accuracy or the pass threshold, whichever is larger, of its size (a Monte Carlo run at 10 %
    is judged at 10 %), or by ``resolution`` when given."""
    if not hz.chaotic:
        return None
    start = _time.perf_counter()
    grid = chaos.statistics_grid(hz.horizon, traj.time[-1])
    members = (chaos.ensemble(compiled.spec, grid, floor=hz.floor) if members is None else members.result())
    circuit = chaos.resample(traj.time, traj.states, grid)
    stats = chaos.compare_statistics(compiled.spec, grid, circuit, members, start=hz.horizon,
                                     resolution=max(float(compiled.target), threshold or 0.0)
                                     if resolution is None else resolution)
    seconds = _time.perf_counter() - start
    timings["chaos"] += seconds
    return replace(stats, seconds=seconds)


def judge(compiled: CompiledNetwork, trajectory: Trajectory, *, tolerance: float | None = None,
          floor: float | None = None) -> CheckResult:
    """The verdict of :func:`check` on a trajectory simulated elsewhere (or altered): pointwise
    against the reference of ``compiled.spec`` up to the horizon, statistics beyond it.

    ``floor``: the relative error the run starts with, when larger than the simulator's
    (:func:`accuracy_floor`): a Monte Carlo run's parts, each off by up to their tolerance,
    make the circuit leave the nominal reference at that level from the start (THEORY.md 9)."""
    check_tolerance(tolerance)
    timings = dict.fromkeys(("compile", "certificate", "simulate", "reference", "chaos"), 0.0)
    ref, hz, cmp = _pointwise(compiled, trajectory, tolerance, timings,
                              floor=max(accuracy_floor(compiled), floor or 0.0))
    stats = _statistics(compiled, trajectory, hz, timings, threshold=tolerance)
    return CheckResult(compiled, trajectory, ref, cmp, timings, horizon=hz, statistics=stats)


def check_tolerance(tolerance, name: str = "tolerance") -> None:
    """A pass threshold is a positive finite number (or None for the target)."""
    if tolerance is not None and (not is_real(tolerance) or not 0 < tolerance < float("inf")):
        raise UsageError(f"{name} must be a positive finite number (got {tolerance!r})")


def solve_reference(spec: RnnSpec, times: np.ndarray, *, target: float | None = None) -> np.ndarray:
    """:func:`reference.solve`, with its failures as :class:`ReferenceSolverError` (exit 3).

    A reference that leaves the floating-point range is blamed on the network only when it
    can be: a linear network whose growth exp(max Re eig(A) t_stop) alone overflows
    (ReferenceSolverError, exit 3).  A tanh network cannot grow without bound and a stable
    or slowly growing one overflows only because its initial state or inputs are too
    large: a :class:`SpecError` naming the larger of them (exit 2).
    """
    try:
        with np.errstate(all="ignore"):
            ref = reference.solve(spec, times, target=target)
    except BudgetExceeded:  # a RuntimeError too, but its own one line (which budget, how to raise it)
        raise
    except (RuntimeError, ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        raise ReferenceSolverError(f"the exact reference of spec {spec.name!r} cannot be computed: "
                                   f"{clip(exc)}") from None
    if not np.all(np.isfinite(ref)):
        with np.errstate(all="ignore"):
            growth = float(np.max(np.linalg.eigvals(spec.state_matrix()).real))
        log_growth = growth * spec.t_stop
        if spec.activation == "linear" and log_growth > _OVERFLOW_LOG_GROWTH:
            raise ReferenceSolverError(
                f"the exact reference of spec {spec.name!r} leaves the floating-point range before t_stop = "
                f"{spec.t_stop!r} s: the network is unstable (largest Re eig(A) = {growth:.3g} 1/s, "
                f"growth exp({log_growth:.3g}))")
        sizes = {"h0": float(np.max(np.abs(spec.h0)))}
        for l, wave in enumerate(spec.inputs):
            values = [getattr(wave, k) for k in ("value_after", "low", "high", "offset") if hasattr(wave, k)]
            values += list(getattr(wave, "values", ()))
            sizes[f"inputs[{l}]"] = max((abs(v) for v in values), default=0.0) + abs(getattr(wave, "amplitude", 0.0))
        field = max(sizes, key=sizes.get)
        if sizes[field] * np.exp(min(max(log_growth, 0.0), 700.0)) < _LARGE_STATE:
            # neither the growth nor the data explain it: the solver's fault, not the user's
            raise ReferenceSolverError(
                f"the exact reference of spec {spec.name!r} leaves the floating-point range before t_stop = "
                f"{spec.t_stop!r} s although the initial state and inputs are at most {sizes[field]:.3g} and the "
                f"growth is at most exp({max(log_growth, 0.0):.3g}): the reference solver failed")
        network = ("a tanh network is bounded" if spec.activation == "tanh" else
                   "the network is stable" if growth <= 0 else f"the network grows only by exp({log_growth:.3g})")
        raise SpecError(field, sizes[field],
                        f"too large: the exact reference of spec {spec.name!r} leaves the floating-point range "
                        f"before t_stop = {spec.t_stop!r} s although {network} (largest Re eig(A) = {growth:.3g} "
                        "1/s); scale the initial state h0 and the inputs down")
    return ref


#: exp(600) ~ 1e260: a linear network whose growth over [0, t_stop] alone exceeds it
#: overflows from states of order one; below it, overflow needs huge initial states or inputs.
_OVERFLOW_LOG_GROWTH = 600.0
#: Initial states or inputs times the growth below this cannot overflow a correct solver.
_LARGE_STATE = 1e150
