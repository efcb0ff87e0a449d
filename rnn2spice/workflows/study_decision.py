"""Task decisions in a study (Monte Carlo, sweep): does each run still make the right decision?

A study point with a :class:`Decision` is one trial of the task check
(:mod:`rnn2spice.workflows.task`): its circuit is the spec with the stimulus as its input
(:func:`~rnn2spice.workflows.task.compile_trial`), and every run is scored as a trial is:
the readout of ngspice's states interpolated at ``(k+1) dt``, its mean over the response
window, ``0`` when ``|mean| < dead_zone``, else its sign
(:func:`~rnn2spice.workflows.task.window_stats`).

The **nominal** decisions, once per point: the discrete network's (``run_discrete``, what the
trained network decides: the *right* decision) and the nominal continuous reference's
(:func:`~rnn2spice.workflows.pipeline.solve_reference` of the unperturbed network).  Each run's
record holds ``decision``: the circuit's mean, end value and decision per output, the two
nominal decisions and ``match`` (every output equals the discrete network's decision) and
``match_reference``.  A run decides right when ``match``; with a decision a run *passes* when
it decides right (and, only when a threshold is given, its error is within it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn2spice.errors import ReferenceSolverError, UsageError
from rnn2spice.network.readout import readout
from rnn2spice.network.numbers import is_real, is_whole
from rnn2spice.network.spec import RnnSpec
from rnn2spice.workflows.pipeline import solve_reference
from rnn2spice.workflows.stimulus import Stimulus, check_window, load_stimulus_file
from rnn2spice.workflows.task import (DEFAULT_DEAD_ZONE, compile_trial, on_grid, run_discrete, spec_dt, trial_grid,
                                      window_stats)


@dataclass(frozen=True, eq=False)
class Decision:
    """The trial of a study point: its stimulus (samples, response window), ``dt`` and dead
    zone; ``discrete`` / ``reference``: the nominal decisions (:func:`nominal`)."""

    stimulus: Stimulus
    dt: float
    dead_zone: float = DEFAULT_DEAD_ZONE
    discrete: dict | None = None     # window_stats of the discrete network
    reference: dict | None = None    # window_stats of the nominal continuous reference
    y_discrete: np.ndarray | None = None   # (steps, p) on the step grid, for the figure

    @property
    def window(self) -> tuple[int, int]:
        return self.stimulus.window

    @property
    def grid(self) -> np.ndarray:
        return trial_grid(self.stimulus.x.shape[0], self.dt)

    def describe(self) -> dict:
        s, e = self.window
        return {"stimulus": self.stimulus.label, "steps": int(self.stimulus.x.shape[0]), "dt": self.dt,
                "window": [s, e], "window_s": [float((s + 1) * self.dt), float(e * self.dt)],
                "dead_zone": self.dead_zone, "discrete": self.discrete, "reference": self.reference}

    def fingerprint(self) -> dict:
        """What decides the runs' decision scores beyond the netlist (which holds the samples)."""
        return {"dt": self.dt, "window": list(self.window), "dead_zone": self.dead_zone}


def load_decision(spec: RnnSpec, stimulus, *, dt: float | None = None, window=None, trial: int | None = None,
                  dead_zone: float = DEFAULT_DEAD_ZONE) -> Decision:
    """A :class:`Decision` for ``spec`` from ``stimulus``: a file (``.npy`` or CSV, as ``task``
    reads it; ``trial`` picks one of several trials), a :class:`Stimulus`, or samples (steps, m).
    ``window``: ``(start, end)`` in steps (end None: to the last step; default: the
    stimulus's own, the whole trial for files); ``dt`` defaults to the spec's provenance."""
    if spec.w_out is None:
        raise UsageError(f"spec {spec.name!r} has no readout (w_out): a decision is made from y = w_out h + b_out")
    if spec.convention not in ("ctrnn", "rate"):
        raise UsageError(f"a decision needs the discrete network of a ctrnn or rate spec; spec {spec.name!r} has "
                         f"convention {spec.convention!r}")
    if not is_real(dead_zone) or not (np.isfinite(dead_zone) and dead_zone >= 0):
        raise UsageError(f"dead_zone must be a non-negative number (got {dead_zone!r})")
    dt = spec_dt(spec, dt)
    if isinstance(stimulus, Stimulus):
        stims = [stimulus]
    elif isinstance(stimulus, (str, os.PathLike)):
        stims = load_stimulus_file(Path(stimulus), spec.m)
    else:
        x = np.asarray(stimulus, dtype=float)
        if x.ndim == 1 and spec.m == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != spec.m or not x.shape[0] or not np.all(np.isfinite(x)):
            raise UsageError(f"stimulus must be a file, a Stimulus or finite samples (steps, m = {spec.m}) "
                             f"(got shape {x.shape})")
        stims = [Stimulus(x, (0, x.shape[0]), "samples")]
    if trial is None:
        if len(stims) > 1:
            raise UsageError(f"the stimulus holds {len(stims)} trials; a study runs one: choose it with "
                             f"trial / --trial 0 .. {len(stims) - 1}")
        trial = 0
    if not is_whole(trial) or not 0 <= trial < len(stims):
        raise UsageError(f"--trial must be 0 .. {len(stims) - 1} (got {trial!r})")
    stim = stims[trial]
    if window is not None:
        from dataclasses import replace

        stim = replace(stim, window=check_window(window, stim.x.shape[0]))
    return Decision(stim, float(dt), float(dead_zone))


def compile_point(spec: RnnSpec, decision: Decision, **options):
    """The circuit of a point with a decision (:func:`~rnn2spice.workflows.task.compile_trial`)."""
    return compile_trial(spec, decision.stimulus, decision.dt, **options)


def nominal(spec: RnnSpec, decision: Decision) -> Decision:
    """``decision`` with the nominal decisions of ``spec`` (the trial's spec, stimulus as its
    input): the discrete network's and the nominal continuous reference's (None when the
    reference fails)."""
    from dataclasses import replace

    y_disc = readout(spec, run_discrete(spec, decision.stimulus.x, decision.dt))
    try:
        ref = window_stats(readout(spec, solve_reference(spec, decision.grid)), decision.window, decision.dead_zone)
    except ReferenceSolverError:  # every run fails likewise, and says so in its record
        ref = None
    return replace(decision, discrete=window_stats(y_disc, decision.window, decision.dead_zone), reference=ref,
                   y_discrete=y_disc)


def score(spec: RnnSpec, decision: Decision, time: np.ndarray, states: np.ndarray) -> dict:
    """The decision of a run from ngspice's ``time`` and ``states`` (module docstring)."""
    st = window_stats(on_grid(decision.grid, time, readout(spec, states)), decision.window, decision.dead_zone)
    return {**st, "discrete": decision.discrete["decision"],
            "reference": None if decision.reference is None else decision.reference["decision"],
            "match": st["decision"] == decision.discrete["decision"],
            "match_reference": decision.reference is not None and st["decision"] == decision.reference["decision"]}


def failed(decision: Decision) -> dict:
    """The decision field of a run that did not complete: no decision, not right."""
    return {"end": None, "mean": None, "decision": None, "discrete": decision.discrete["decision"],
            "reference": None if decision.reference is None else decision.reference["decision"],
            "match": False, "match_reference": False}
