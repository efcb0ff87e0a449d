"""Task check: does the circuit make the same decisions as the trained discrete network?

For every trial (one input sequence ``x[k]``, ``k = 0 .. T-1``, one sample per ``dt``):

* the **discrete** network itself, ``h[k] = tanh(W h[k-1] + W_in x[k] + b)``, ``h[-1] = h0``
  (numpy, float64), readout ``y[k] = w_out h[k] + b_out``;
* the **reference**: the continuous network of the spec (``tau dh/dt = -h + tanh(...)``)
  solved by :func:`rnn2spice.reference.solve` with the stimulus as its input;
* the **circuit**: :func:`rnn2spice.compiler.compile_rnn` of that same spec run in ngspice.

Input: the continuous input holds ``x[k]`` over ``[k dt, (k+1) dt)`` (sample and hold), written
as a PWL whose edges take ``EDGE_FRACTION * dt`` from each step boundary.  Consecutive equal
samples make no knot.  Alignment: ``h[k]`` is compared with the continuous state at
``t = (k+1) dt`` (the forward-Euler step of size ``tau = dt`` of the CTRNN *is* the discrete
map).  The circuit's readout is linearly interpolated at those times (its own step is
~100x shorter than dt); the circuit-vs-reference error is taken at ngspice's own time points.

Response window: steps ``[start, end)``; for the delayed-decision stimulus ``start = 120 + d``
and ``end = T`` (the task's target is non-zero there).

Decision (per output): the mean readout over the window, ``0`` when ``|mean| < dead_zone``
(default 0.5), else its sign (+1 or -1).

A trial passes when, for every output,
  1. the circuit's decision equals the discrete network's;
  2. ``|mean_circuit - mean_discrete| <= tolerance`` (default 0.05);
  3. ``|y_circuit(end) - y_discrete(end)| <= tolerance`` (last step of the window);
  4. ``max_t |y_circuit(t) - y_reference(t)| <= tolerance`` over the whole trial: the
     circuit implements its continuous model;
  5. with ``strict``: also ``max |y_circuit[k] - y_discrete[k]| <= tolerance`` over the window.
Criterion 5 is off by default: the continuous model (tau = dt) shares the discrete network's
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

Delayed-decision stimulus (``pulse``; data README, Jarne's generator with mem_gap 0):
370 steps; 0 except a 20-step pulse of height ``value`` starting at step ``50 + d``,
``d`` uniform in 1..70, smoothed by a 10-point Hann window (``same``-mode convolution over
the 20 pulse samples, divided by the window's sum); Gaussian noise of std ``noise`` added to
every sample of every input.  Random numbers: ``numpy.random.default_rng(seed)``, per trial
first ``d`` then the noise.  The pulse goes to input 0, other inputs get only noise.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import sys
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.errors import SpecError, UsageError
from rnn2spice.report.figures import png_bytes
from rnn2spice.network.readout import readout
from rnn2spice.network.spec import MAX_PWL_POINTS, RnnSpec
from rnn2spice.network.waveform import Pwl

KINDS = ("pulse",)
TRIAL_STEPS = 370
PULSE_START = 50
PULSE_STEPS = 20
MAX_JITTER = 70
RESPONSE_START = 120
HANN_POINTS = 10
DEFAULT_TOLERANCE = 0.05
DEFAULT_DEAD_ZONE = 0.5
#: Edge of the sample-and-hold PWL, as a fraction of dt.
EDGE_FRACTION = 0.01
MAX_STEPS = MAX_PWL_POINTS // 2
MAX_TRIALS = 1000


@dataclass(frozen=True, eq=False)
class Stimulus:
    """One trial's input samples ``x`` (steps, m), its response window, what it should give."""

    x: np.ndarray
    window: tuple[int, int]
    label: str
    value: float | None = None   # pulse value = the task's target over the window
    delay: int | None = None     # d (steps)

    def as_dict(self) -> dict:
        return {"label": self.label, "steps": int(self.x.shape[0]), "window": list(self.window),
                "value": self.value, "delay_steps": self.delay}


# --------------------------------------------------------------------------- stimuli

def hann_pulse(value: float, steps: int = PULSE_STEPS, points: int = HANN_POINTS) -> np.ndarray:
    """A ``steps``-sample pulse of height ``value`` smoothed by a ``points``-point Hann window."""
    from scipy.signal import convolve
    from scipy.signal.windows import hann

    win = hann(points)
    return convolve(np.full(steps, float(value)), win, mode="same") / win.sum()


def pulse_trials(value: float, *, trials: int = 1, seed: int = 0, noise: float = 0.0,
                 delay: int | None = None, steps: int = TRIAL_STEPS, m: int = 1) -> list[Stimulus]:
    """Delayed-decision trials (module docstring); ``delay`` fixes d instead of drawing it."""
    if not math.isfinite(value):
        raise UsageError(f"--value must be a finite number (got {value!r})")
    if not (math.isfinite(noise) and noise >= 0):
        raise UsageError(f"--noise must be a non-negative standard deviation (got {noise!r})")
    if not 1 <= trials <= MAX_TRIALS:
        raise UsageError(f"--trials must be between 1 and {MAX_TRIALS} (got {trials!r})")
    if delay is not None and not 1 <= delay <= MAX_JITTER:
        raise UsageError(f"--delay must be between 1 and {MAX_JITTER} steps (got {delay!r})")
    last_d = delay if delay is not None else MAX_JITTER
    if not RESPONSE_START + last_d < steps <= MAX_STEPS:
        raise UsageError(f"--steps must be more than {RESPONSE_START + last_d} (the response window starts at "
                         f"{RESPONSE_START} + d) and at most {MAX_STEPS} (got {steps!r})")
    if m < 1:
        raise UsageError("the pulse stimulus needs a network with at least one input (the spec has m = 0)")
    rng = np.random.default_rng(seed)
    pulse = hann_pulse(value)
    out = []
    for i in range(trials):
        d = int(rng.integers(1, MAX_JITTER + 1)) if delay is None else int(delay)
        x = np.zeros((steps, m))
        x[PULSE_START + d:PULSE_START + d + PULSE_STEPS, 0] = pulse
        if noise > 0:
            x = x + noise * rng.standard_normal((steps, m))
        out.append(Stimulus(x, (RESPONSE_START + d, steps), f"pulse {value:g}, d = {d}"
                            + (f", noise {noise:g}" if noise else "") + f", seed {seed} #{i}", float(value), d))
    return out


def load_stimulus_file(path: str | Path, m: int, window: tuple[int, int | None] | None = None) -> list[Stimulus]:
    """Samples from ``.npy`` or CSV, one value per dt.

    ``.npy``: shape (steps,) for m = 1, (steps, m), (trials, steps) for m = 1, or
    (trials, steps, m) (the Keras ``x_train`` layout).  CSV: one row per step, one column
    per input, an optional header row, ``#`` comment lines.  ``window`` (steps) defaults to
    the whole trial.
    """
    path = Path(path)
    where = "--stimulus"
    if not path.is_file():
        raise SpecError(where, str(path), "file not found" if not path.exists() else "is not a file")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise SpecError(where, path.name, f"cannot read as a .npy array: {exc}") from None
        if arr.dtype.kind not in "fiu":
            raise SpecError(where, f"dtype {arr.dtype}", f"{path.name} must hold real numbers")
        arr = arr.astype(float)
        if arr.ndim == 1:
            arr = arr[None, :, None]
        elif arr.ndim == 2:
            arr = arr[None] if arr.shape[1] == m else (arr[:, :, None] if m == 1 else arr[None])
        elif arr.ndim != 3:
            raise SpecError(where, f"shape {arr.shape}", f"{path.name} must have 1 to 3 dimensions")
    else:
        arr = _read_samples_csv(path)[None]
    if arr.shape[2] != m:
        raise SpecError(where, f"{arr.shape[2]} input column(s)", f"the spec has m = {m} inputs")
    if arr.shape[1] < 1 or arr.shape[1] > MAX_STEPS:
        raise SpecError(where, f"{arr.shape[1]} steps", f"must have between 1 and {MAX_STEPS} steps")
    if arr.shape[0] > MAX_TRIALS:
        raise SpecError(where, f"{arr.shape[0]} trials", f"at most {MAX_TRIALS} trials")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        t, k, l = (int(i) for i in bad[0])
        raise SpecError(where, float(arr[t, k, l]), f"{path.name}: trial {t}, step {k}, input {l} is not finite")
    steps = arr.shape[1]
    win = check_window(window, steps)
    return [Stimulus(arr[i], win, f"{path.name} #{i}") for i in range(arr.shape[0])]


def _read_samples_csv(path: Path) -> np.ndarray:
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for lineno, row in enumerate(csv.reader(fh), start=1):
                if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                    continue
                try:
                    vals = [float(c) for c in row]
                except ValueError:
                    if not rows:
                        continue  # header
                    raise SpecError("--stimulus", path.name, f"line {lineno}: not a number: {','.join(row)[:60]!r}") from None
                if rows and len(vals) != len(rows[0]):
                    raise SpecError("--stimulus", path.name, f"line {lineno}: {len(vals)} columns, expected {len(rows[0])}")
                rows.append(vals)
                if len(rows) > MAX_STEPS:
                    raise SpecError("--stimulus", path.name, f"more than {MAX_STEPS} steps")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError("--stimulus", path.name, f"cannot read: {exc}") from None
    if not rows:
        raise SpecError("--stimulus", path.name, "holds no samples (one row per step, one column per input)")
    return np.array(rows, dtype=float)


def check_window(window, steps: int) -> tuple[int, int]:
    if window is None:
        return (0, steps)
    start, end = window
    end = steps if end is None else end
    if not 0 <= start < end <= steps:
        raise UsageError(f"--window must satisfy 0 <= START < END <= {steps} steps (got {start}:{end})")
    return (int(start), int(end))


def parse_window(text: str | None) -> tuple[int, int | None] | None:
    if text is None:
        return None
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return (int(parts[0]), None)
        if len(parts) == 2:
            return (int(parts[0]), int(parts[1]) if parts[1].strip() else None)
    except ValueError:
        pass
    raise UsageError(f"--window must be START or START:END in steps (got {text!r})")


# --------------------------------------------------------------------------- the three models

def run_discrete(spec: RnnSpec, x: np.ndarray) -> np.ndarray:
    """States h[k] (steps, n) of the discrete network the spec was imported from.

    ``h[k] = sigma(W h[k-1] + W_in x[k] + b)``, ``h[-1] = h0``, sigma = tanh or identity.
    """
    if spec.convention != "ctrnn":
        raise UsageError(f"the task check needs a ctrnn spec (the discrete map uses W, W_in, b); "
                         f"spec {spec.name!r} has convention {spec.convention!r}")
    w, w_in, b = np.asarray(spec.w), np.asarray(spec.w_in), np.asarray(spec.bias)
    act = np.tanh if spec.activation == "tanh" else (lambda z: z)
    drive = x @ w_in.T + b
    h = np.array(spec.h0, dtype=float)
    out = np.empty((x.shape[0], spec.n))
    for k in range(x.shape[0]):
        h = act(w @ h + drive[k])
        out[k] = h
    return out


def hold_pwl(samples: np.ndarray, dt: float, edge: float) -> Pwl:
    """Sample and hold as a PWL: ``x[k]`` on ``[k dt + edge, (k+1) dt]``, a ramp before."""
    ts, vs = [0.0], [float(samples[0])]
    for k in range(1, samples.shape[0]):
        if samples[k] != samples[k - 1]:
            ts += [k * dt, k * dt + edge]
            vs += [float(samples[k - 1]), float(samples[k])]
    t_end = samples.shape[0] * dt
    if ts[-1] < t_end:
        ts.append(t_end)
        vs.append(float(samples[-1]))
    return Pwl(tuple(ts), tuple(vs))


def stimulus_spec(spec: RnnSpec, x: np.ndarray, dt: float, edge_fraction: float = EDGE_FRACTION) -> RnnSpec:
    """The spec with the stimulus as its inputs and ``t_stop = steps * dt``."""
    inputs = tuple(hold_pwl(x[:, l], dt, edge_fraction * dt) for l in range(spec.m))
    return dataclasses.replace(spec, inputs=inputs, t_stop=x.shape[0] * dt, t_step=None)


def decision(mean: float, dead_zone: float) -> int:
    """0 inside the dead zone ``|mean| < dead_zone``, else the sign of ``mean``."""
    return 0 if abs(mean) < dead_zone else (1 if mean > 0 else -1)


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

    def _stats(self, y: np.ndarray) -> dict:
        s, e = self.stimulus.window
        mean = y[s:e].mean(axis=0)
        return {"end": [float(v) for v in y[e - 1]], "mean": [float(v) for v in mean],
                "decision": [decision(float(v), self.dead_zone) for v in mean]}

    @property
    def stats(self) -> dict:
        return {"discrete": self._stats(self.y_discrete), "reference": self._stats(self.y_reference),
                "spice": self._stats(self.y_spice)}

    def differences(self) -> dict:
        s, e = self.stimulus.window
        st = self.stats

        def pair(a, b, ya, yb):
            return {"max_window": float(np.max(np.abs(ya[s:e] - yb[s:e]))),
                    "mean": float(max(abs(x - y) for x, y in zip(st[a]["mean"], st[b]["mean"]))),
                    "end": float(max(abs(x - y) for x, y in zip(st[a]["end"], st[b]["end"])))}

        out = {"spice_vs_discrete": pair("spice", "discrete", self.y_spice, self.y_discrete),
               "reference_vs_discrete": pair("reference", "discrete", self.y_reference, self.y_discrete),
               "spice_vs_reference": pair("spice", "reference", self.y_spice, self.y_reference)}
        err = np.abs(self.y_spice_raw - self.y_reference_raw)
        out["spice_vs_reference"]["max_trial"] = float(np.max(err)) if np.all(np.isfinite(err)) else float("inf")
        out["spice_vs_reference"]["state_rel_max_error"] = float(self.state_rel_error)
        return out

    def checks(self) -> dict:
        st, diff, tol = self.stats, self.differences(), self.tolerance
        sd = diff["spice_vs_discrete"]
        out = {
            "decision_match": st["spice"]["decision"] == st["discrete"]["decision"],
            "mean_within_tolerance": sd["mean"] <= tol,
            "end_within_tolerance": sd["end"] <= tol,
            "circuit_within_tolerance": diff["spice_vs_reference"]["max_trial"] <= tol,
        }
        if self.strict:
            out["max_window_within_tolerance"] = sd["max_window"] <= tol
        return out

    @property
    def decision_match(self) -> bool:
        return self.checks()["decision_match"]

    @property
    def passed(self) -> bool:
        return all(self.checks().values())

    def as_dict(self) -> dict:
        st = self.stats
        target = self.stimulus.value
        return {
            **self.stimulus.as_dict(),
            "passed": self.passed,
            "checks": self.checks(),
            **st,
            "target_decision": None if target is None else decision(target, self.dead_zone),
            "discrete_correct": None if target is None else all(d == decision(target, self.dead_zone)
                                                                 for d in st["discrete"]["decision"]),
            "differences": self.differences(),
            "spice_points": int(self.spice_time.size),
            "backend": self.backend,
            "ngspice_version": self.ngspice_version,
            "timings_s": {k: float(v) for k, v in self.timings.items()},
        }


def run_trial(spec: RnnSpec, stim: Stimulus, dt: float, *, form: str = "parallel", accuracy: str = "default",
              backend: str = "auto", timeout: float | None = None, tolerance: float = DEFAULT_TOLERANCE,
              dead_zone: float = DEFAULT_DEAD_ZONE, strict: bool = False) -> TrialResult:
    """Discrete network, continuous reference and circuit on one stimulus."""
    from rnn2spice.workflows.pipeline import simulate, solve_reference

    if spec.w_out is None:
        raise UsageError(f"spec {spec.name!r} has no readout (w_out): the task check decides from y = w_out h + b_out")
    timings = {}
    start = _time.perf_counter()
    y_disc = readout(spec, run_discrete(spec, stim.x))
    timings["discrete"] = _time.perf_counter() - start
    sspec = stimulus_spec(spec, stim.x, dt)
    compiled = compile_rnn(sspec, form=form, coupling="vccs", accuracy=accuracy)
    cpu = _time.process_time()
    traj = simulate(compiled, backend=backend, timeout=timeout)
    timings["spice"] = traj.seconds
    # CPU time of this process: ngspice's own cost with the in-process (shared) backend,
    # meaningful on a busy machine where the wall time is not
    timings["spice_cpu_in_process"] = _time.process_time() - cpu
    steps = stim.x.shape[0]
    grid = (np.arange(steps) + 1) * dt
    start = _time.perf_counter()
    times = np.union1d(traj.time, grid)
    ref_all = solve_reference(sspec, times)  # failures: ReferenceSolverError, exit 3
    timings["reference"] = _time.perf_counter() - start
    ref_raw = ref_all[np.searchsorted(times, traj.time)]
    ref_grid = ref_all[np.searchsorted(times, grid)]
    y_raw = readout(spec, traj.states)
    y_spice = np.stack([np.interp(grid, traj.time, y_raw[:, j]) for j in range(y_raw.shape[1])], axis=1)
    scale = float(np.max(np.abs(ref_raw))) if ref_raw.size else 0.0
    state_err = float(np.max(np.abs(traj.states - ref_raw))) if ref_raw.size else 0.0
    rel = state_err / scale if scale > 0 else (0.0 if state_err == 0 else float("inf"))
    if not np.all(np.isfinite(traj.states)):
        rel = float("inf")
    return TrialResult(stim, grid, y_disc, readout(spec, ref_grid), y_spice, traj.time, y_raw,
                       readout(spec, ref_raw), rel, tolerance, dead_zone, strict, timings,
                       traj.backend, traj.ngspice_version)


@dataclass(frozen=True, eq=False)
class TaskResult:
    spec: RnnSpec
    dt: float
    trials: list
    tolerance: float
    dead_zone: float
    strict: bool
    form: str
    accuracy: str
    stimulus: dict

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.trials)

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
            "criteria": ("decision = 0 if |mean readout over window| < dead_zone else its sign; a trial passes "
                         "when the circuit's decision equals the discrete network's, |mean_spice - mean_discrete| "
                         "and |end_spice - end_discrete| <= tolerance, and max |y_spice - y_reference| over the "
                         "trial <= tolerance" + ("; strict: also max |y_spice - y_discrete| over the window "
                                                 "<= tolerance" if self.strict else "")),
            "alignment": "h[k] <-> h((k+1) dt); x[k] held over [k dt, (k+1) dt)",
            "trials": [t.as_dict() for t in self.trials],
        }


def run_task(spec: RnnSpec, stimuli: list[Stimulus], dt: float, *, stimulus_info: dict | None = None,
             progress=None, **kwargs) -> TaskResult:
    trials = []
    for i, stim in enumerate(stimuli):
        trials.append(run_trial(spec, stim, dt, **kwargs))
        if progress is not None:
            progress(i, trials[-1])
    return TaskResult(spec, dt, trials, kwargs.get("tolerance", DEFAULT_TOLERANCE),
                      kwargs.get("dead_zone", DEFAULT_DEAD_ZONE), kwargs.get("strict", False),
                      kwargs.get("form", "parallel"), kwargs.get("accuracy", "default"), stimulus_info or {})


def spec_dt(spec: RnnSpec, dt: float | None) -> float:
    """dt from the option, else from the spec's provenance (written by ``rnn2spice import``)."""
    if dt is not None:
        return dt
    mapping = spec.provenance.get("mapping") if isinstance(spec.provenance, dict) else None
    value = mapping.get("dt") if isinstance(mapping, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    raise UsageError(f"spec {spec.name!r} records no time step (provenance.mapping.dt); pass --dt SECONDS")


# --------------------------------------------------------------------------- figure

MAX_PLOTTED_TRIALS = 4


def task_figure(result: TaskResult) -> bytes:
    """PNG: per trial (up to 4), input and readouts (top), readout differences (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trials = result.trials[:MAX_PLOTTED_TRIALS]
    fig, axes = plt.subplots(2, len(trials), figsize=(6.5 * len(trials), 6.5), sharex="col",
                             height_ratios=(2, 1), squeeze=False)
    ms = 1e3
    for col, tr in enumerate(trials):
        ax, ax2 = axes[0, col], axes[1, col]
        s, e = tr.stimulus.window
        t_grid = tr.grid * ms
        t_in = np.arange(tr.stimulus.x.shape[0]) * result.dt * ms
        ax.step(t_in, tr.stimulus.x[:, 0], where="post", color="0.6", lw=0.8, label="input x[k] (held)")
        ax.axvspan(t_grid[s] - result.dt * ms, t_grid[e - 1], color="C2", alpha=0.08, label="response window")
        for z in (-result.dead_zone, result.dead_zone):
            ax.axhline(z, color="0.5", lw=0.6, ls=":")
        ax.plot(t_grid, tr.y_discrete[:, 0], ".", color="C0", ms=2.5, label="discrete network y[k]")
        ax.plot(t_grid, tr.y_reference[:, 0], color="C1", lw=2.2, alpha=0.45, label="continuous reference")
        ax.plot(tr.spice_time * ms, tr.y_spice_raw[:, 0], "--", color="C3", lw=1.0, label="SPICE circuit")
        st = tr.stats
        verdict = "PASS" if tr.passed else "FAIL"
        ax.set_title(f"{tr.stimulus.label}\ndecision discrete {st['discrete']['decision'][0]:+d}, "
                     f"SPICE {st['spice']['decision'][0]:+d}: {verdict}", fontsize=9)
        ax.set_ylabel("readout y")
        if col == 0:
            ax.legend(fontsize=7, loc="best")
        d1 = np.abs(tr.y_spice[:, 0] - tr.y_discrete[:, 0])
        d2 = np.abs(tr.y_spice_raw[:, 0] - tr.y_reference_raw[:, 0])
        ax2.semilogy(t_grid, np.maximum(d1, 1e-12), color="C0", lw=0.9, label="|SPICE - discrete|")
        ax2.semilogy(tr.spice_time * ms, np.maximum(d2, 1e-12), color="C3", lw=0.7, label="|SPICE - reference|")
        ax2.axhline(result.tolerance, color="k", lw=0.7, ls="--", label="tolerance")
        ax2.set_xlabel("time (ms)")
        ax2.set_ylabel("readout difference")
        if col == 0:
            ax2.legend(fontsize=7, loc="best")
    shown = "" if len(trials) == len(result.trials) else f" (first {len(trials)} of {len(result.trials)} trials)"
    fig.suptitle(f"{result.spec.name}: task check, dt = {result.dt:g} s, tau = {float(result.spec.tau[0]):g} s{shown}",
                 fontsize=10)
    fig.tight_layout()
    return png_bytes(fig, dpi=100)


# --------------------------------------------------------------------------- command line

def register_commands(sub) -> None:
    from rnn2spice.cli.app import add_spec_command, circuit_options, sim_options

    p = add_spec_command(sub, "task", "Run the trained task on the discrete network, the continuous reference "
                                      "and the circuit; exit 0 when the circuit makes the same decisions.")
    p.add_argument("--stimulus", required=True, metavar="FILE|KIND",
                   help="samples (.npy or CSV, one value per dt) or 'pulse' (delayed-decision trial)")
    p.add_argument("--value", type=float, default=None, help="pulse value, e.g. 1, -1 or 0 (default 1)")
    p.add_argument("--seed", type=int, default=None, help="random seed of d and the noise (default 0)")
    p.add_argument("--noise", type=float, default=None, help="std of the Gaussian input noise (default 0)")
    p.add_argument("--trials", type=int, default=None, help="number of pulse trials (default 1)")
    p.add_argument("--delay", type=int, default=None, metavar="D", help="fix d (1..70 steps) instead of drawing it")
    p.add_argument("--steps", type=int, default=None, help=f"trial length in steps (default {TRIAL_STEPS})")
    p.add_argument("--dt", default=None, metavar="SECONDS",
                   help="time step of the discrete network (default: the spec's provenance.mapping.dt)")
    p.add_argument("--window", default=None, metavar="START[:END]",
                   help="response window in steps (default: 120 + d to the end for pulses, all steps for files)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"readout tolerance (default {DEFAULT_TOLERANCE})")
    p.add_argument("--dead-zone", dest="dead_zone", type=float, default=DEFAULT_DEAD_ZONE,
                   help=f"|mean readout| below this is decision 0 (default {DEFAULT_DEAD_ZONE})")
    p.add_argument("--strict", action="store_true",
                   help="also require max |SPICE - discrete| over the window <= tolerance")
    circuit_options(p)
    sim_options(p)
    p.add_argument("--report", type=Path, help="JSON report to write")
    p.add_argument("--plot", type=Path, help="PNG figure to write")
    p.set_defaults(func=cmd_task)


def cmd_task(args) -> int:
    from rnn2spice.cli.app import EXIT_MISMATCH, EXIT_PASS, check_outputs, check_timeout, load_spec_arg
    from rnn2spice.workflows.importers import positive_seconds
    from rnn2spice.report.files import json_text, write_atomic

    check_outputs(report=args.report, plot=args.plot)
    check_timeout(args.timeout)
    if not (math.isfinite(args.tolerance) and args.tolerance > 0):
        raise UsageError(f"--tolerance must be positive (got {args.tolerance!r})")
    if not (math.isfinite(args.dead_zone) and args.dead_zone >= 0):
        raise UsageError(f"--dead-zone must be a non-negative number (got {args.dead_zone!r})")
    if args.coupling != "vccs":
        raise UsageError(f"--coupling {args.coupling!r}: the task check builds tanh circuits, which need 'vccs'")
    dt = positive_seconds(args.dt, "--dt") if args.dt is not None else None
    window = parse_window(args.window)
    kind_opts = {k: getattr(args, k) for k in ("value", "seed", "noise", "trials", "delay", "steps")}
    spec = load_spec_arg(args)
    dt = spec_dt(spec, dt)
    if args.stimulus in KINDS:
        stimuli = pulse_trials(1.0 if args.value is None else args.value,
                               trials=1 if args.trials is None else args.trials,
                               seed=0 if args.seed is None else args.seed,
                               noise=0.0 if args.noise is None else args.noise, delay=args.delay,
                               steps=TRIAL_STEPS if args.steps is None else args.steps, m=spec.m)
        if window is not None:
            stimuli = [dataclasses.replace(s, window=check_window(window, s.x.shape[0])) for s in stimuli]
        info = {"kind": args.stimulus, **{k: v for k, v in kind_opts.items() if v is not None}}
    else:
        given = [f"--{k}" for k, v in kind_opts.items() if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} only apply to a generated stimulus (--stimulus "
                             f"{'|'.join(KINDS)}), not to the file {args.stimulus!r}")
        path = Path(args.stimulus)
        if not path.exists() and path.suffix == "":
            raise UsageError(f"--stimulus must be a file (.npy or CSV) or one of {', '.join(KINDS)} "
                             f"(got {args.stimulus!r})")
        stimuli = load_stimulus_file(path, spec.m, window)
        info = {"file": path.name, "trials": len(stimuli)}
    if spec.w_out is None:
        raise UsageError(f"spec {spec.name!r} has no readout (w_out): the task check decides from y = w_out h + b_out")

    def progress(i, tr):
        st, diff = tr.stats, tr.differences()
        print(f"trial {i + 1}/{len(stimuli)} [{tr.stimulus.label}]: decision discrete "
              f"{st['discrete']['decision']} SPICE {st['spice']['decision']}, mean readout "
              f"{st['discrete']['mean'][0]:+.4f} / {st['spice']['mean'][0]:+.4f}, |SPICE - discrete| mean "
              f"{diff['spice_vs_discrete']['mean']:.2e} end {diff['spice_vs_discrete']['end']:.2e} max "
              f"{diff['spice_vs_discrete']['max_window']:.2e}, |SPICE - reference| max "
              f"{diff['spice_vs_reference']['max_trial']:.2e} ({tr.timings['spice']:.1f} s ngspice): "
              f"{'PASS' if tr.passed else 'FAIL'}", file=sys.stderr, flush=True)

    result = run_task(spec, stimuli, dt, stimulus_info=info, progress=progress, form=args.form,
                      accuracy=args.accuracy, backend=args.backend, timeout=args.timeout,
                      tolerance=args.tolerance, dead_zone=args.dead_zone, strict=args.strict)
    matched = sum(t.decision_match for t in result.trials)
    print(f"task {spec.name}: {matched}/{len(result.trials)} decisions match, "
          f"{sum(t.passed for t in result.trials)}/{len(result.trials)} trials pass "
          f"(tolerance {args.tolerance:g}, dead zone {args.dead_zone:g}): {'PASS' if result.passed else 'FAIL'}")
    if args.report is not None:
        write_atomic(args.report, json_text(result.report()), field="--report")
    if args.plot is not None:
        write_atomic(args.plot, task_figure(result), field="--plot")
    return EXIT_PASS if result.passed else EXIT_MISMATCH
