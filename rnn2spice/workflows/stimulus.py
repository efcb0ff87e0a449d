"""Task stimuli: the input samples of a trial and their sample-and-hold waveform.

Input: the continuous input holds ``x[k]`` over ``[k dt, (k+1) dt)`` (sample and hold), written
as a PWL whose edges take ``EDGE_FRACTION * dt`` from each step boundary.  Consecutive equal
samples make no knot.  Alignment: ``h[k]`` is compared with the continuous state at
``t = (k+1) dt`` (the forward-Euler step of size ``tau = dt`` of the CTRNN *is* the discrete
map).  The circuit's readout is linearly interpolated at those times (its own step is
~100x shorter than dt); the circuit-vs-reference error is taken at ngspice's own time points.

Response window: steps ``[start, end)``; for the delayed-decision stimulus ``start = 120 + d``
and ``end = T`` (the task's target is non-zero there).

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn2spice.errors import SpecError, UsageError, clip, shown
from rnn2spice.network.files import _npy_header, csv_lines
from rnn2spice.network.numbers import is_real, is_whole
from rnn2spice.network.spec import MAX_INPUTS, MAX_PWL_POINTS, MAX_TOTAL_POINTS, RnnSpec
from rnn2spice.network.waveform import Pwl

KINDS = ("pulse",)
TRIAL_STEPS = 370
PULSE_START = 50
PULSE_STEPS = 20
MAX_JITTER = 70
RESPONSE_START = 120
HANN_POINTS = 10
#: Edge of the sample-and-hold PWL, as a fraction of dt.
EDGE_FRACTION = 0.01
MAX_STEPS = MAX_PWL_POINTS // 2
#: Samples of one trial (steps x inputs): the sample-and-hold inputs take up to 2 knots per
#: sample, and all inputs together at most MAX_TOTAL_POINTS (as in a spec).
MAX_TRIAL_SAMPLES = MAX_TOTAL_POINTS // 2
MAX_TRIALS = 1000
#: Samples of a stimulus file over all its trials (80 MB of doubles).
MAX_STIMULUS_SAMPLES = 10_000_000
#: Seeds of numpy's generator are non-negative; this bound keeps them a 64-bit number.
MAX_SEED = 2**64 - 1


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
    # numbers as numbers (the API's task(trials="2") had raised a bare TypeError from "<=", and
    # trials=2.5 passed the range check to fail in range())
    if not (is_real(value) and math.isfinite(value)):
        raise UsageError(f"--value must be a finite number (got {shown(value)})")
    if not (is_real(noise) and math.isfinite(noise) and noise >= 0):
        raise UsageError(f"--noise must be a non-negative standard deviation (got {shown(noise)})")
    if not (is_whole(trials) and 1 <= trials <= MAX_TRIALS):
        raise UsageError(f"--trials must be a whole number between 1 and {MAX_TRIALS} (got {shown(trials)})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be an integer from 0 to 2**64 - 1 (got {shown(seed)})")
    if delay is not None and not (is_whole(delay) and 1 <= delay <= MAX_JITTER):
        raise UsageError(f"--delay must be between 1 and {MAX_JITTER} steps (got {shown(delay)})")
    last_d = delay if delay is not None else MAX_JITTER
    if not (is_whole(steps) and RESPONSE_START + last_d < steps <= MAX_STEPS):
        raise UsageError(f"--steps must be more than {RESPONSE_START + last_d} (the response window starts at "
                         f"{RESPONSE_START} + d) and at most {MAX_STEPS} (got {shown(steps)})")
    if m != 1:
        raise UsageError(f"the pulse stimulus is the delayed-decision protocol of a network with 1 input; this "
                         f"network has m = {m} inputs: give a stimulus file of shape (steps, {m}) or "
                         f"(trials, steps, {m}) instead" if m else
                         "the pulse stimulus needs a network with one input (the spec has m = 0)")
    if steps * m > MAX_TRIAL_SAMPLES:
        raise UsageError(f"--steps {steps} with the spec's m = {m} inputs gives {steps * m} samples per trial; "
                         f"at most {MAX_TRIAL_SAMPLES} (steps x inputs) are supported")
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
    try:
        if not path.is_file():
            raise SpecError(where, str(path), "file not found" if not path.exists() else "is not a file")
    except OSError as exc:  # a name too long, a loop of links, ...
        raise SpecError(where, str(path), f"cannot access the file: {clip(exc.strerror or exc)}") from None
    if path.suffix.lower() == ".npy":
        try:  # shape and type from the header, checked before any data are read
            with open(path, "rb") as fh:
                shape, dtype = _npy_header(fh)
        except Exception as exc:
            raise SpecError(where, path.name, f"cannot read as a .npy array: {clip(exc)}") from None
        if dtype.kind not in "fiu":
            raise SpecError(where, f"dtype {dtype}", f"{path.name} must hold real numbers")
        if not 1 <= len(shape) <= 3:
            raise SpecError(where, f"shape {shape}", f"{path.name} must have 1 to 3 dimensions")
        if math.prod(shape) > MAX_STIMULUS_SAMPLES:
            raise SpecError(where, f"shape {shape}", f"{path.name} is too large: at most {MAX_STIMULUS_SAMPLES} "
                                                     "samples are read")
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise SpecError(where, path.name, f"cannot read as a .npy array: {clip(exc)}") from None
        if arr.dtype.kind not in "fiu":
            raise SpecError(where, f"dtype {arr.dtype}", f"{path.name} must hold real numbers")
        arr = arr.astype(float)
        arr = _trials_steps_inputs(arr, m, path.name)
    else:
        arr = _read_samples_csv(path)[None]
        if arr.shape[2] != m:
            raise SpecError(where, f"shape {arr.shape[1:]}", _misfit(arr.shape[1:], m, path.name))
    if arr.shape[1] < 1 or arr.shape[1] > MAX_STEPS:
        raise SpecError(where, f"{arr.shape[1]} steps", f"must have between 1 and {MAX_STEPS} steps")
    if arr.shape[1] * m > MAX_TRIAL_SAMPLES:
        raise SpecError(where, f"{arr.shape[1]} steps x {m} inputs", f"at most {MAX_TRIAL_SAMPLES} samples per trial")
    if arr.shape[0] < 1:
        raise SpecError(where, "0 trials", f"{path.name} holds no trial: a task check needs at least one")
    if arr.shape[0] > MAX_TRIALS:
        raise SpecError(where, f"{arr.shape[0]} trials", f"at most {MAX_TRIALS} trials")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        t, k, l = (int(i) for i in bad[0])
        raise SpecError(where, float(arr[t, k, l]), f"{path.name}: trial {t}, step {k}, input {l} is not finite")
    steps = arr.shape[1]
    win = check_window(window, steps)
    return [Stimulus(arr[i], win, f"{path.name} #{i}") for i in range(arr.shape[0])]


def _misfit(shape, m: int, name: str) -> str:
    """Why a stimulus of ``shape`` does not fit a network with ``m`` inputs, naming both shapes."""
    fits = f"(steps, {m}) or (trials, steps, {m})" + (", (steps,) or (trials, steps) with trials <= steps"
                                                      if m == 1 else "")
    return (f"{name} of shape {tuple(int(d) for d in shape)} does not fit the network's {m} input(s): "
            f"a stimulus has shape {fits}")


def _trials_steps_inputs(arr: np.ndarray, m: int, name: str) -> np.ndarray:
    """A .npy stimulus as (trials, steps, m); a shape that does not fit ``m`` inputs is refused.

    A 2-D array is (steps, m); for m = 1 also (trials, steps), but only when it has no more
    trials than steps: a (370, 3) array for a 1-input network is far more likely 370 steps of
    3 inputs than 370 trials of 3 steps, and is refused rather than guessed."""
    where = "--stimulus"
    if arr.ndim == 1 and m == 1:
        return arr[None, :, None]
    if arr.ndim == 2 and arr.shape[1] == m:
        return arr[None]
    if arr.ndim == 2 and m == 1 and arr.shape[0] <= arr.shape[1]:
        return arr[:, :, None]
    if arr.ndim == 3 and arr.shape[2] == m:
        return arr
    raise SpecError(where, f"shape {arr.shape}", _misfit(arr.shape, m, name))


def _read_samples_csv(path: Path) -> np.ndarray:
    rows = []
    try:
        for lineno, row in enumerate(csv.reader(csv_lines(path, "--stimulus", str(path))), start=1):
            if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            if len(row) > MAX_INPUTS:
                raise SpecError("--stimulus", path.name, f"line {lineno}: {len(row)} columns; at most "
                                                         f"{MAX_INPUTS} inputs are supported")
            try:
                vals = [float(c) for c in row]
            except ValueError:
                if not rows:
                    continue  # header
                raise SpecError("--stimulus", path.name, f"line {lineno}: not a number: {','.join(row)[:60]!r}") from None
            if rows and len(vals) != len(rows[0]):
                raise SpecError("--stimulus", path.name, f"line {lineno}: {len(vals)} columns, expected {len(rows[0])}")
            rows.append(vals)
            if len(rows) > MAX_STEPS or len(rows) * len(vals) > MAX_TRIAL_SAMPLES:
                raise SpecError("--stimulus", path.name, f"more than {MAX_STEPS} steps or "
                                                         f"{MAX_TRIAL_SAMPLES} samples (steps x inputs)")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError("--stimulus", path.name, f"cannot read: {clip(exc)}") from None
    except csv.Error as exc:  # NUL bytes, a field beyond csv's size limit, ...
        raise SpecError("--stimulus", path.name, f"not a readable CSV file: {clip(exc)}") from None
    if not rows:
        raise SpecError("--stimulus", path.name, "holds no samples (one row per step, one column per input)")
    return np.array(rows, dtype=float)


def check_window(window, steps: int) -> tuple[int, int]:
    if window is None:
        return (0, steps)
    start, end = window
    end = steps if end is None else end
    if not 0 <= start < end <= steps:
        raise UsageError(f"--window must satisfy 0 <= START < END <= {steps} steps (got {clip(f'{start}:{end}', 80)})")
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
    raise UsageError(f"--window must be START or START:END in steps (got {shown(text)})")


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


def trial_spec(spec: RnnSpec, path, *, dt: float | None = None, trial: int = 0) -> RnnSpec:
    """``spec`` running trial ``trial`` of the stimulus file ``path`` (.npy or CSV, one sample
    per ``dt`` s, :func:`~rnn2spice.workflows.stimulus.load_stimulus_file`): its inputs are the
    samples held for dt (sample and hold, as ``task`` runs them) and ``t_stop`` = steps x dt;
    ``dt`` defaults to the spec's ``provenance.mapping.dt``.  So a real trial of an imported
    network is checked without editing its spec."""
    step = spec_dt(spec, dt)
    if spec.m == 0:
        raise UsageError(f"--stimulus: spec {spec.name!r} has no inputs (w_in has 0 columns)")
    stimuli = load_stimulus_file(path, spec.m)
    if not (isinstance(trial, int) and 0 <= trial < len(stimuli)):
        raise UsageError(f"--trial must be 0 .. {len(stimuli) - 1}: the stimulus file holds {len(stimuli)} "
                         f"trial(s) (got {trial!r})")
    return stimulus_spec(spec, stimuli[trial].x, step)


def spec_dt(spec: RnnSpec, dt: float | None) -> float:
    """dt from the option, else from the spec's provenance (written by ``rnn2spice import``)."""
    if dt is not None:
        return dt
    mapping = spec.provenance.get("mapping") if isinstance(spec.provenance, dict) else None
    value = mapping.get("dt") if isinstance(mapping, dict) else None
    if is_real(value) and math.isfinite(value) and value > 0:
        return float(value)
    raise UsageError(f"spec {spec.name!r} records no time step (provenance.mapping.dt); pass --dt SECONDS")
