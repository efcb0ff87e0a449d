"""``rnn2spice task SPEC --stimulus FILE|pulse``: the trained task on network, reference and circuit."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from pathlib import Path

from rnn2spice.cli.common import (add_spec_command, check_outputs, check_timeout, check_tolerance,
                                  circuit_options, load_spec_arg, sim_options, finish)
from rnn2spice.cli.progress import progress_bar
from rnn2spice.errors import UsageError, shown
from rnn2spice.workflows.importers import positive_seconds
from rnn2spice.workflows.pool import check_jobs, check_scheduler
from rnn2spice.workflows.stimulus import (KINDS, TRIAL_STEPS, check_window, load_stimulus_file, parse_window,
                                          pulse_trials)
from rnn2spice.workflows.task import CRITERIA, DEFAULT_DEAD_ZONE, DEFAULT_TOLERANCE, run_task, spec_dt

NAME = "task"


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, "Run the trained task on the discrete network, the continuous reference "
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
    p.add_argument("--criterion", choices=CRITERIA, default="decision",
                   help="decision (default): the circuit's decision and mean readout are the discrete network's; "
                        "trajectory: its readout follows the discrete network's over the window (max and RMS "
                        "difference <= tolerance), decisions reported beside")
    p.add_argument("--strict", action="store_true",
                   help="also require max |SPICE - discrete| over the window <= tolerance")
    circuit_options(p)
    sim_options(p)
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="trials run in N worker processes (default: every core; 1: one after the other here)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS|local",
                   help="run the trials on a Dask cluster (tcp://host:8786, or 'local')")
    p.add_argument("--report", type=Path, help="JSON report to write")
    p.add_argument("--plot", type=Path, help="figure to write: .png, .pdf or .svg")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    check_outputs(args, inputs={"--stimulus": None if args.stimulus in KINDS else args.stimulus},
                  report=args.report, plot=args.plot)
    check_timeout(args.timeout)
    check_tolerance(args.tolerance)
    check_jobs(args.jobs, "--jobs")
    check_scheduler(args.scheduler, "--scheduler")
    if not (math.isfinite(args.dead_zone) and args.dead_zone >= 0):
        raise UsageError(f"--dead-zone must be a non-negative number (got {args.dead_zone!r})")
    if args.coupling == "gyrator":
        raise UsageError(f"--coupling {args.coupling!r}: the task check builds nonlinear circuits; gyrators "
                         "realise only a linear interaction (use vccs, or resistor in the opamp form)")
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
                             f"{'|'.join(KINDS)}), not to the file {shown(args.stimulus)}")
        path = Path(args.stimulus)
        if not os.path.lexists(path) and path.suffix == "":  # lexists: False, not OSError, on a bad name
            raise UsageError(f"--stimulus must be a file (.npy or CSV) or one of {', '.join(KINDS)} "
                             f"(got {shown(args.stimulus)})")
        stimuli = load_stimulus_file(path, spec.m, window)
        info = {"file": path.name, "trials": len(stimuli)}
    if spec.w_out is None:
        raise UsageError(f"spec {spec.name!r} has no readout (w_out): the task check decides from y = w_out h + b_out")

    def progress(i, tr):
        print(trial_line(i, len(stimuli), tr), file=sys.stderr, flush=True)

    with progress_bar(args) as bar:
        result = run_task(spec, stimuli, dt, stimulus_info=info, progress=progress, simulation_progress=bar,
                          form=args.form, coupling=args.coupling, accuracy=args.accuracy, rtol=args.rtol,
                          backend=args.backend,
                          timeout=args.timeout, tolerance=args.tolerance, dead_zone=args.dead_zone,
                          strict=args.strict, criterion=args.criterion, jobs=args.jobs, scheduler=args.scheduler)
    return finish(args, result)


def trial_line(i: int, count: int, tr) -> str:
    """The line printed after trial ``i`` of ``count`` (a :class:`~rnn2spice.workflows.task.TrialResult`)."""
    st, diff = tr.stats, tr.differences()
    return (f"trial {i + 1}/{count} [{tr.stimulus.label}]: decision discrete "
            f"{st['discrete']['decision']} SPICE {st['spice']['decision']}, mean readout "
            f"{st['discrete']['mean'][0]:+.4f} / {st['spice']['mean'][0]:+.4f}, |SPICE - discrete| mean "
            f"{diff['spice_vs_discrete']['mean']:.2e} end {diff['spice_vs_discrete']['end']:.2e} max "
            f"{diff['spice_vs_discrete']['max_window']:.2e} RMS {diff['spice_vs_discrete']['rms_window']:.2e}, "
            f"|SPICE - reference| max {diff['spice_vs_reference']['max_trial']:.2e}"
            # a chaotic trial is held to its reference only up to the horizon (THEORY.md 9); the
            # line said "max 3.13e-04" for a 0.37-s trial whose circuit parted from it at 23 ms
            + ("" if tr.horizon is None else f" up to the horizon {tr.horizon:.3g} s (lambda_1 "
               f"{tr.lyapunov_exponent:.3g} 1/s)")
            + f" ({tr.timings['spice']:.1f} s ngspice): "
            + ("PASS" if tr.passed else "FAIL " + "; ".join(tr.failures())))
