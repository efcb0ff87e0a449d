"""Monte Carlo tolerances: the circuit of a network with every R, C and L drawn within a
tolerance, run after run, each scored against the nominal exact reference -- and, with a
task ``stimulus``, on its decision (:mod:`rnn2spice.workflows.study_decision`).

:func:`montecarlo` is one point of a study (:mod:`rnn2spice.workflows.study`): the rules of
the draws are in :mod:`rnn2spice.circuit.tolerance`, of the scoring, the journal and resume
in the study module.
"""

from __future__ import annotations

import os
from typing import Callable

from rnn2spice.circuit.compiler import CompiledNetwork, compile_rnn
from rnn2spice.circuit.tolerance import check_distribution, check_tolerance
from rnn2spice.errors import UsageError
from rnn2spice.network.numbers import is_whole
from rnn2spice.workflows.study import Point, check_runs, check_threshold, run_study
from rnn2spice.workflows.study_decision import compile_point, load_decision
from rnn2spice.workflows.study_result import StudyResult
from rnn2spice.workflows.task import DEFAULT_DEAD_ZONE

DEFAULT_RUNS = 20
DEFAULT_TOLERANCE = 0.05


def montecarlo(net, *, runs: int = DEFAULT_RUNS, tolerance: float = DEFAULT_TOLERANCE,
               distribution: str = "uniform", seed: int = 0, run: int | None = None, form: str | None = None,
               coupling: str | None = None, accuracy: str | None = None, rtol: float | None = None,
               threshold: float | None = None, pass_fraction: float = 1.0, backend: str = "auto",
               timeout: float | None = None, jobs: int | None = None, scheduler: str | None = None,
               output: str | os.PathLike | None = None, resume: bool = False, force: bool = False,
               progress: Callable[[int, int, dict], None] | None = None, stimulus=None, dt: float | None = None,
               window: tuple[int, int | None] | None = None, trial: int | None = None,
               dead_zone: float = DEFAULT_DEAD_ZONE, build=None) -> StudyResult:
    """``runs`` runs of the circuit of ``net`` (a network, or a compiled network) with every
    R, C, L within the relative ``tolerance`` (0.05 = 5 %; ``distribution`` ``uniform`` or
    ``normal`` with tolerance = 3 sigma), reproducible from ``seed``; ``run=K`` runs run K
    alone (the same draws as in the full study).  Each run passes when its worst neuron's
    (and readout output's) error against the nominal reference is within ``threshold``
    (default 0.1); the study passes when at least ``pass_fraction`` of the runs pass.
    ``jobs`` worker processes (default: every core; 1: in this process) or a Dask
    ``scheduler`` (address or ``'local'``); ``output``: results JSON (journal beside it,
    ``resume`` to continue an interrupted study; an existing file there is replaced only when it
    is the results of an earlier study, or with ``force``); ``progress(done, total, record)``.

    Decisions: with a ``stimulus`` (a ``.npy``/CSV file as ``task`` reads it, ``trial`` picking
    one of several; a :class:`~rnn2spice.workflows.stimulus.Stimulus`; or samples (steps, m)),
    ``dt`` (default: the spec's provenance), the response ``window`` (steps; default the
    stimulus's own, a file's whole trial) and ``dead_zone``, the circuit is that trial's and
    every run also records its readout decision next to the discrete network's and the
    nominal reference's; a run then passes when it makes the discrete network's decision (and,
    only when a ``threshold`` is given, its error is within it).

    ``build`` (:class:`~rnn2spice.circuit.realparts.Build`): the circuit of real parts (blocks
    trimmed as ``compile`` does); each run also draws the op-amps' offsets and the transistors'
    mismatch (:mod:`rnn2spice.circuit.tolerance`).
    """
    check_tolerance(tolerance)
    check_distribution(distribution)
    check_threshold(threshold)
    if run is None:
        members = list(range(check_runs(runs)))
    else:
        if not is_whole(run) or run < 0:
            raise UsageError(f"run must be a run index, 0 or more (got {run!r})")
        if resume:
            raise UsageError(f"run {run} reproduces one run alone; it cannot resume a study")
        members = [run]
    decision = None
    if isinstance(net, CompiledNetwork):
        given = [k for k, v in (("form", form), ("coupling", coupling), ("accuracy", accuracy), ("rtol", rtol),
                                ("build", build)) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} cannot be given with an already compiled network")
        if stimulus is not None:
            raise UsageError("a stimulus needs the network (its circuit is compiled with the stimulus as its input), "
                             "not an already compiled network")
        compiled = net
    else:
        # coupling None: the form's own (vccs for parallel and series, resistor for opamp)
        options = dict(form=form or "parallel", coupling=coupling, accuracy=accuracy or "default", rtol=rtol)
        if build is not None:
            from rnn2spice.workflows.realbuild import trimmed_build
            build = trimmed_build(net.activation, build, build.rails(net)) if options["form"] == "opamp" else build
            options["build"] = build
        if stimulus is not None:
            decision = load_decision(net, stimulus, dt=dt, window=window, trial=trial, dead_zone=dead_zone)
            compiled = compile_point(net, decision, **options)
        else:
            compiled = compile_rnn(net, **options)
    if stimulus is None and (dt, window, trial) != (None, None, None):
        raise UsageError("dt, window and trial apply to a stimulus; none is given")
    point = Point(compiled, float(tolerance), distribution, threshold, decision=decision)
    return run_study("montecarlo", [point], members, seed=seed, backend=backend, timeout=timeout, jobs=jobs,
                     scheduler=scheduler, output=output, resume=resume, pass_fraction=pass_fraction,
                     progress=progress, force=force)
