"""Task check: does the circuit make the same decisions as the trained discrete network?

For every trial (one input sequence ``x[k]``, ``k = 0 .. T-1``, one sample per ``dt``):

* the **discrete** network itself (numpy, float64, :func:`run_discrete`): for a ``ctrnn`` spec
  ``h[k] = tanh(W h[k-1] + W_in x[k] + b)``, ``h[-1] = h0``, readout ``y[k] = w_out h[k] + b_out``;
  for a ``rate`` spec (PsychRNN) ``x[k] = (1 - alpha) x[k-1] + alpha (W f(x[k-1]) + W_in u[k] + b)``,
  ``alpha = dt / tau``, readout ``y[k] = w_out f(x[k]) + b_out``;
* the **reference**: the continuous network of the spec (``tau dh/dt = -h + tanh(...)``)
  solved by :func:`rnn2spice.reference.solve` with the stimulus as its input;
* the **circuit**: :func:`rnn2spice.compiler.compile_rnn` of that same spec run in ngspice.

Decision (per output): the mean readout over the window, ``0`` when ``|mean| < dead_zone``
(default 0.5), else its sign (+1 or -1).

A trial passes when, for every output,
  1. the circuit's decision equals the discrete network's;
  2. ``|mean_circuit - mean_discrete| <= tolerance`` (default 0.05);
  3. ``|y_circuit(end) - y_discrete(end)| <= tolerance`` (last step of the window);
  4. ``max_t |y_circuit(t) - y_reference(t)| <= tolerance`` over the whole trial: the
     circuit implements its continuous model;
  5. with ``strict``: also ``max |y_circuit[k] - y_discrete[k]| <= tolerance`` over the window.
A chaotic trial (THEORY.md 9) is held to 4 only up to its horizon T_p, and when its window
ends beyond T_p it is judged by 1 alone: 2, 3 and 5 compare two trajectories that have parted
there (the trajectory criterion below is then taken over the window up to T_p).
With ``criterion="trajectory"`` (a task whose answer is a trajectory, e.g. a phase, not a
sign) a trial passes instead when, for every output, the circuit's readout follows the
discrete network's over the response window: ``max |y_circuit[k] - y_discrete[k]|`` and
their RMS difference both ``<= tolerance``, with criterion 4; the decisions are reported
beside it.  Criterion 5 is off by default: the continuous model (tau = dt) shares the discrete network's
fixed points but not its transients, and at the start of the response window their readouts
differ by up to ~0.4 on the shared networks, whatever the circuit does.  All differences are
reported in any case, split into circuit error (circuit - reference) and mapping error
(reference - discrete).

Measured limits of the tau = dt mapping on the shared Keras networks (benchmarks/task_all.py):
with +-1 pulses every circuit makes the discrete network's decision and its mean readout is
within 0.02 of it; with a 0 pulse the discrete networks answer 0 by sitting in fast (period-2
or period-4) oscillations orthogonal to the readout, which a continuous-time network cannot
sustain (eigenvalues of W near -1 are strongly damped in tau dh/dt = -h + ...).  Without noise
the continuous network of the biased one drifts (readout up to 0.5, mean 0.07); with the
training noise (sigma 0.05) the continuous networks fall into the +-1 attractors, so their
circuits answer +-1 where the discrete network answers 0.  The circuit still follows its
continuous model to ~1e-5: the task check reports these as mapping differences and fails.

Stimuli (inputs, windows, the delayed-decision pulse): :mod:`rnn2spice.workflows.stimulus`.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from rnn2spice.analysis import chaos
from rnn2spice.analysis.metrics import relative_error
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.errors import UsageError
from rnn2spice.network.activations import ACTIVATIONS
from rnn2spice.network.readout import readout, readout_label
from rnn2spice.network.spec import RnnSpec
from rnn2spice.report import figures
from rnn2spice.report.display import Displayed, Plotted
from rnn2spice.workflows.pipeline import accuracy_floor, run, solve_reference
from rnn2spice.workflows.pool import run_jobs, workers_for
from rnn2spice.workflows.stimulus import Stimulus, spec_dt, stimulus_spec, trial_spec  # noqa: F401 (API)
from rnn2spice.workflows.task_verdict import failed_criteria, trial_criteria

DEFAULT_TOLERANCE = 0.05
DEFAULT_DEAD_ZONE = 0.5
#: What a trial is judged on (module docstring): the decision of the mean readout, or the
#: readout's trajectory over the response window.
CRITERIA = ("decision", "trajectory")


def run_discrete(spec: RnnSpec, x: np.ndarray, dt: float | None = None) -> np.ndarray:
    """States (steps, n) of the discrete network the spec was imported from.

    ``ctrnn`` (Keras, nn.RNN): ``h[k] = f(W h[k-1] + W_in x[k] + b)``, ``h[-1] = h0``.
    ``rate`` (PsychRNN): ``x[k] = (1 - alpha) x[k-1] + alpha (W f(x[k-1]) + W_in u[k] + b)``,
    ``alpha = dt / tau`` (per neuron), ``x[-1] = h0``; ``dt`` defaults to the spec's
    ``provenance.mapping.dt``.  The readout of either is :func:`~rnn2spice.network.readout.readout`.
    """
    if spec.convention not in ("ctrnn", "rate"):
        raise UsageError(f"the task check needs a ctrnn or rate spec (the discrete map uses W, W_in, b); "
                         f"spec {spec.name!r} has convention {spec.convention!r}")
    w, w_in, b = np.asarray(spec.w), np.asarray(spec.w_in), np.asarray(spec.bias)
    act = ACTIVATIONS[spec.activation].f
    drive = x @ w_in.T + b
    h = np.array(spec.h0, dtype=float)
    out = np.empty((x.shape[0], spec.n))
    if spec.convention == "rate":
        alpha = spec_dt(spec, dt) / np.asarray(spec.tau)
        for k in range(x.shape[0]):
            h = (1.0 - alpha) * h + alpha * (w @ act(h) + drive[k])
            out[k] = h
        return out
    for k in range(x.shape[0]):
        h = act(w @ h + drive[k])
        out[k] = h
    return out


def decision(mean: float, dead_zone: float) -> int:
    """0 inside the dead zone ``|mean| < dead_zone``, else the sign of ``mean``."""
    return 0 if abs(mean) < dead_zone else (1 if mean > 0 else -1)


def window_stats(y: np.ndarray, window: tuple[int, int], dead_zone: float) -> dict:
    """Readout ``y`` (steps, p) over the response ``window`` (steps ``[start, end)``): per
    output its value at the last step, its mean and the :func:`decision` of the mean."""
    s, e = window
    mean = y[s:e].mean(axis=0)
    return {"end": [float(v) for v in y[e - 1]], "mean": [float(v) for v in mean],
            "decision": [decision(float(v), dead_zone) for v in mean]}


def trial_grid(steps: int, dt: float) -> np.ndarray:
    """The times ``(k+1) dt`` at which ``h[k]`` of a trial of ``steps`` steps is compared."""
    return (np.arange(steps) + 1) * dt


def on_grid(grid: np.ndarray, time: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` (points, p) at ngspice's ``time`` linearly interpolated on ``grid``: (G, p)."""
    return np.stack([np.interp(grid, time, y[:, j]) for j in range(y.shape[1])], axis=1)


def compile_trial(spec: RnnSpec, stim: Stimulus, dt: float, *, form: str = "parallel", coupling: str | None = None,
                  accuracy: str = "default", rtol: float | None = None, build=None):
    """The circuit of one trial: ``spec`` with the stimulus as its input (``stimulus_spec``), compiled
    (``build``: how, :class:`~rnn2spice.circuit.realparts.Build`)."""
    return compile_rnn(stimulus_spec(spec, stim.x, dt), form=form, coupling=coupling, accuracy=accuracy, rtol=rtol,
                       build=build)


@dataclass(frozen=True, eq=False)
class TrialResult:
    stimulus: Stimulus
    grid: np.ndarray          # (steps,) s, (k+1) dt
    y_discrete: np.ndarray    # (steps, p)
    y_reference: np.ndarray   # (steps, p) on the grid
    y_spice: np.ndarray       # (steps, p) interpolated on the grid
    spice_time: np.ndarray    # (points,) ngspice's time points
    y_spice_raw: np.ndarray   # (points, p)
    y_reference_raw: np.ndarray  # (points, p) reference at ngspice's points
    state_rel_error: float
    tolerance: float
    dead_zone: float
    strict: bool
    timings: dict = field(default_factory=dict)
    backend: str = ""
    ngspice_version: str = ""
    criterion: str = "decision"
    #: lambda_1 (1/s) along the reference and the horizon (s) of a chaotic trial (THEORY.md 9):
    #: the circuit is held to its continuous model pointwise only up to the horizon; beyond it
    #: the trial is judged by its decision
    lyapunov_exponent: float | None = None
    horizon: float | None = None

    def _stats(self, y: np.ndarray) -> dict:
        return window_stats(y, self.stimulus.window, self.dead_zone)

    @property
    def stats(self) -> dict:
        return {"discrete": self._stats(self.y_discrete), "reference": self._stats(self.y_reference),
                "spice": self._stats(self.y_spice)}

    def differences(self) -> dict:
        s, e = self.stimulus.window
        st = self.stats

        def pair(a, b, ya, yb):
            return {"max_window": float(np.max(np.abs(ya[s:e] - yb[s:e]))),
                    "rms_window": float(np.max(np.sqrt(np.mean((ya[s:e] - yb[s:e]) ** 2, axis=0)))),
                    "mean": float(max(abs(x - y) for x, y in zip(st[a]["mean"], st[b]["mean"]))),
                    "end": float(max(abs(x - y) for x, y in zip(st[a]["end"], st[b]["end"])))}

        out = {"spice_vs_discrete": pair("spice", "discrete", self.y_spice, self.y_discrete),
               "reference_vs_discrete": pair("reference", "discrete", self.y_reference, self.y_discrete),
               "spice_vs_reference": pair("spice", "reference", self.y_spice, self.y_reference)}
        upto = slice(None) if self.horizon is None else slice(
            0, int(np.searchsorted(self.spice_time, self.horizon, side="right")))
        err = np.abs(self.y_spice_raw[upto] - self.y_reference_raw[upto])
        out["spice_vs_reference"]["max_trial"] = float(np.max(err)) if np.all(np.isfinite(err)) else float("inf")
        out["spice_vs_reference"]["state_rel_max_error"] = float(self.state_rel_error)
        return out

    def criteria(self) -> list[tuple[str, bool, str]]:
        """Each criterion of this trial (module docstring) as ``(name, passed, measured)``:
        :func:`~rnn2spice.workflows.task_verdict.trial_criteria`."""
        return trial_criteria(self)

    def checks(self) -> dict:
        """Criterion name -> passed (:meth:`criteria`)."""
        return {name: ok for name, ok, _ in self.criteria()}

    def failures(self) -> list[str]:
        """Each failed criterion, named, with the measured value and its limit."""
        return [f"{name}: {measured}" for name, ok, measured in self.criteria() if not ok]

    @property
    def decision_match(self) -> bool:
        st = self.stats
        return st["spice"]["decision"] == st["discrete"]["decision"]

    @property
    def passed(self) -> bool:
        return all(self.checks().values())

    def as_dict(self) -> dict:
        st = self.stats
        target = self.stimulus.value
        return {
            **self.stimulus.as_dict(),
            "passed": self.passed,
            "criterion": self.criterion,
            "checks": self.checks(),
            **st,
            "target_decision": None if target is None else decision(target, self.dead_zone),
            "discrete_correct": None if target is None else all(d == decision(target, self.dead_zone)
                                                                 for d in st["discrete"]["decision"]),
            "differences": self.differences(),
            "spice_points": int(self.spice_time.size),
            "lyapunov_exponent": self.lyapunov_exponent,
            "horizon": self.horizon,
            "backend": self.backend,
            "ngspice_version": self.ngspice_version,
            "timings_s": {k: float(v) for k, v in self.timings.items()},
        }


def run_trial(spec: RnnSpec, stim: Stimulus, dt: float, *, form: str = "parallel", accuracy: str = "default",
              rtol: float | None = None, coupling: str | None = None,
              backend: str = "auto", timeout: float | None = None, tolerance: float = DEFAULT_TOLERANCE,
              dead_zone: float = DEFAULT_DEAD_ZONE, strict: bool = False, criterion: str = "decision",
              progress: Callable[[float], None] | None = None) -> TrialResult:
    """Discrete network, continuous reference and circuit on one stimulus; ``criterion``:
    ``decision`` or ``trajectory`` (module docstring).

    ``coupling``: None, the form's own (``vccs``; ``resistor`` for ``opamp``).
    ``progress(fraction)``: the ngspice run's progress
    (:func:`~rnn2spice.spice.ngspice.simulate_netlist`)."""
    if spec.w_out is None:
        raise UsageError(f"spec {spec.name!r} has no readout (w_out): the task check decides from y = w_out h + b_out")
    if criterion not in CRITERIA:
        raise UsageError(f"criterion must be one of {', '.join(CRITERIA)} (got {criterion!r})")
    timings = {}
    start = _time.perf_counter()
    y_disc = readout(spec, run_discrete(spec, stim.x, dt))
    timings["discrete"] = _time.perf_counter() - start
    compiled = compile_trial(spec, stim, dt, form=form, coupling=coupling, accuracy=accuracy, rtol=rtol)
    sspec = compiled.spec
    cpu = _time.process_time()
    _, traj = run(compiled, backend=backend, timeout=timeout, progress=progress)  # certified, then simulated
    timings["spice"] = traj.seconds
    # CPU time of this process: ngspice's own cost with the in-process (shared) backend,
    # meaningful on a busy machine where the wall time is not
    timings["spice_cpu_in_process"] = _time.process_time() - cpu
    steps = stim.x.shape[0]
    grid = trial_grid(steps, dt)
    start = _time.perf_counter()
    times = np.union1d(traj.time, grid)
    ref_all = solve_reference(sspec, times)  # failures: ReferenceSolverError, exit 3
    timings["reference"] = _time.perf_counter() - start
    ref_raw = ref_all[np.searchsorted(times, traj.time)]
    ref_grid = ref_all[np.searchsorted(times, grid)]
    y_raw = readout(spec, traj.states)
    y_spice = on_grid(grid, traj.time, y_raw)
    # informative (the trial is judged on y): the global figure of THEORY.md 6
    rel = relative_error(traj.states, ref_raw).global_error
    # a chaotic trial: criterion 4 only up to the horizon where the floor grows to the tolerance
    y_ref_raw = readout(spec, ref_raw)
    big = float(np.max(np.abs(y_ref_raw))) if y_ref_raw.size and np.all(np.isfinite(y_ref_raw)) else 0.0
    start = _time.perf_counter()
    hz = chaos.horizon(sspec, traj.time, ref_raw, floor=accuracy_floor(compiled),
                       threshold=tolerance / big if big > 0 else tolerance,
                       converged=False)   # per trial: the horizon, not a converged lambda_1 (seconds each)
    timings["chaos"] = _time.perf_counter() - start
    return TrialResult(stim, grid, y_disc, readout(spec, ref_grid), y_spice, traj.time, y_raw,
                       y_ref_raw, rel, tolerance, dead_zone, strict, timings,
                       traj.backend, traj.ngspice_version, criterion, hz.lyapunov_exponent,
                       hz.horizon if hz.chaotic else None)


@dataclass(frozen=True, eq=False, repr=False)
class TaskResult(Displayed, Plotted):
    spec: RnnSpec
    dt: float
    trials: list
    tolerance: float
    dead_zone: float
    strict: bool
    form: str
    accuracy: str
    stimulus: dict
    criterion: str = "decision"

    @property
    def passed(self) -> bool:
        """Every trial passed; no trial is no pass."""
        return bool(self.trials) and all(t.passed for t in self.trials)

    SHOWN = ("n", "m", "dt", "form", "accuracy", "tolerance", "dead_zone", "all_decisions_match")

    def _headline(self) -> str:
        matched = sum(t.decision_match for t in self.trials)
        return (f"{self.spec.name}: {matched}/{len(self.trials)} decisions match, "
                f"{sum(t.passed for t in self.trials)}/{len(self.trials)} trials pass: "
                f"{'PASS' if self.passed else 'FAIL'}")

    def _draw(self, ax):
        """Per trial (up to 4), input and readouts, and their differences."""
        return figures.task_plot(self, ax=ax)

    def summary(self) -> str:
        """The verdict as one line; a failure names each criterion that failed, in how many
        trials, and its worst measured value against the limit."""
        matched = sum(t.decision_match for t in self.trials)
        if self.criterion == "trajectory":
            worst = max((t.differences()["spice_vs_discrete"] for t in self.trials), key=lambda d: d["max_window"])
            line = (f"task {self.spec.name} (trajectory): {sum(t.passed for t in self.trials)}/{len(self.trials)} "
                    f"trials pass, readout |SPICE - discrete| over the window max {worst['max_window']:.3g} RMS "
                    f"{worst['rms_window']:.3g} (tolerance {self.tolerance:g}); {matched}/{len(self.trials)} "
                    f"decisions match: {'PASS' if self.passed else 'FAIL'}")
        else:
            line = (f"task {self.spec.name}: {matched}/{len(self.trials)} decisions match, "
                    f"{sum(t.passed for t in self.trials)}/{len(self.trials)} trials pass "
                    f"(tolerance {self.tolerance:g}, dead zone {self.dead_zone:g}): {'PASS' if self.passed else 'FAIL'}")
        failed = self.failed_criteria()
        return line + (" -- failed: " + "; ".join(failed) if failed else "")

    def failed_criteria(self) -> list[str]:
        """Per criterion that failed in any trial: :func:`~rnn2spice.workflows.task_verdict.failed_criteria`."""
        return failed_criteria(self.trials)

    def report(self) -> dict:
        return {
            "passed": self.passed,
            "all_decisions_match": all(t.decision_match for t in self.trials),
            "spec": self.spec.name,
            "n": self.spec.n, "m": self.spec.m, "p": int(self.spec.w_out.shape[0]),
            "dt": self.dt, "tau": [float(x) for x in np.unique(self.spec.tau)],
            "form": self.form, "accuracy": self.accuracy,
            "stimulus": self.stimulus,
            "tolerance": self.tolerance, "dead_zone": self.dead_zone, "strict": self.strict,
            "readout": readout_label(self.spec), "criterion": self.criterion,
            "criteria": ("trajectory: a trial passes when max and RMS |y_spice - y_discrete| over the response "
                         "window and max |y_spice - y_reference| over the trial are <= tolerance (decisions "
                         "reported beside)") if self.criterion == "trajectory" else ("decision = 0 if |mean readout over window| < dead_zone else its sign; a trial passes "
                         "when the circuit's decision equals the discrete network's, |mean_spice - mean_discrete| "
                         "and |end_spice - end_discrete| <= tolerance, and max |y_spice - y_reference| over the "
                         "trial <= tolerance" + ("; strict: also max |y_spice - y_discrete| over the window "
                                                 "<= tolerance" if self.strict else "")),
            "alignment": "h[k] <-> h((k+1) dt); x[k] held over [k dt, (k+1) dt)",
            "trials": [t.as_dict() for t in self.trials],
        }


def run_task(spec: RnnSpec, stimuli: list[Stimulus], dt: float, *, stimulus_info: dict | None = None,
             progress=None, simulation_progress: Callable[[float], None] | None = None, jobs: int | None = None,
             scheduler: str | None = None, **kwargs) -> TaskResult:
    """Every trial of ``stimuli`` (at least one: a task check of no trial would pass vacuously).

    Trials run in ``jobs`` worker processes (default: every core; ``1``, or a single trial: in
    this process) or on a Dask ``scheduler`` (:mod:`rnn2spice.workflows.pool`); the results are
    the same trial by trial.  ``progress(i, trial)`` is called after each trial (in the order
    they finish); ``simulation_progress(fraction)`` during each trial's ngspice run
    (``run_trial``'s ``progress``) when the trials run in this process."""
    if len(stimuli) < 1:
        raise UsageError("the task check needs at least one trial (got 0 stimuli)")
    if kwargs.get("criterion", "decision") not in CRITERIA:
        raise UsageError(f"criterion must be one of {', '.join(CRITERIA)} (got {kwargs.get('criterion')!r})")
    in_process = workers_for(len(stimuli), jobs, scheduler) == "serial"
    items = [(spec, stim, dt, {**kwargs, "progress": simulation_progress if in_process else None})
             for stim in stimuli]
    trials: list = [None] * len(stimuli)
    for i, trial in run_jobs(_trial_job, items, jobs=jobs, scheduler=scheduler):
        trials[i] = trial
        if progress is not None:
            progress(i, trial)
    return TaskResult(spec, dt, trials, kwargs.get("tolerance", DEFAULT_TOLERANCE),
                      kwargs.get("dead_zone", DEFAULT_DEAD_ZONE), kwargs.get("strict", False),
                      kwargs.get("form", "parallel"), kwargs.get("accuracy", "default"), stimulus_info or {},
                      kwargs.get("criterion", "decision"))


def _trial_job(item) -> TrialResult:
    """One trial in a worker (:func:`run_task`): ``(spec, stimulus, dt, run_trial's options)``."""
    spec, stim, dt, kwargs = item
    return run_trial(spec, stim, dt, **kwargs)
