"""``rnn2spice montecarlo SPEC --runs N --tolerance 5%``: component tolerances, run after run.

Also the options every study command shares (:func:`study_options`, :func:`check_study_args`,
:func:`run_study_command`), used by ``rnn2spice sweep``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

from rnn2spice.workflows.realbuild import compile_build
from rnn2spice.circuit.tolerance import DISTRIBUTIONS, check_tolerance
from rnn2spice.cli.common import (add_spec_command, check_outputs, check_timeout,
                                  build_from_args, build_options, circuit_options, load_spec_arg, write_plot,
                                  sim_options, interrupted, verdict_code)
from rnn2spice.cli.progress import ProgressBar
from rnn2spice.errors import UsageError
from rnn2spice.workflows.montecarlo import DEFAULT_RUNS, montecarlo
from rnn2spice.workflows.importers import positive_seconds
from rnn2spice.workflows.pool import check_jobs, check_scheduler
from rnn2spice.workflows.stimulus import parse_window
from rnn2spice.workflows.study import DEFAULT_THRESHOLD, check_journal, check_runs, check_threshold, journal_of, journal_path
from rnn2spice.workflows.sweep import parse_number
from rnn2spice.workflows.task import DEFAULT_DEAD_ZONE

NAME = "montecarlo"

#: argparse takes '-5%' or '-5e-2' for an option name and says only "expected one argument":
#: such values are let through, so that the check can name the option and the value.
_NEGATIVE_VALUE = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?%?$")


def study_options(p: argparse.ArgumentParser, runs_default: int) -> None:
    p._negative_number_matcher = _NEGATIVE_VALUE
    p.add_argument("--runs", type=int, default=runs_default,
                   help=f"runs (per point for a sweep) (default {runs_default})")
    p.add_argument("--distribution", default="uniform", choices=DISTRIBUTIONS,
                   help="uniform in [1-t, 1+t], or normal with tolerance = 3 sigma (truncated there)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws; run k draws from (seed, k) (default 0)")
    p.add_argument("--threshold", default=None, metavar="X",
                   help=f"a run passes when its worst neuron's (and readout output's) error against the nominal "
                        f"reference is within X (default {DEFAULT_THRESHOLD:g} with a tolerance, else the accuracy "
                        "target)")
    p.add_argument("--pass-fraction", dest="pass_fraction", type=float, default=1.0, metavar="F",
                   help="the study passes when at least this fraction of runs passes (default 1)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: every core; 1: in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS|local",
                   help="run on a Dask cluster (tcp://host:8786), or 'local' for a local cluster of 2 workers "
                        "(pip install 'rnn2spice[cluster]')")
    p.add_argument("-o", "--output", type=Path, default=None, metavar="RESULTS.json",
                   help="results (JSON; while running, each finished run is appended to RESULTS.json"
                        ".runs.jsonl)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted study of --output: finished runs are not run again")
    p.add_argument("--plot", type=Path, default=None, metavar="FIGURE", help="figure to write: .png, .pdf or .svg")
    d = p.add_argument_group("task decision (each run also scored on the readout's decision, as in 'task')")
    d.add_argument("--stimulus", type=Path, default=None, metavar="FILE",
                   help="input samples of one trial (.npy or CSV, one value per dt, as 'task' reads them): the "
                        "circuit runs this trial and every run records its decision")
    d.add_argument("--trial", type=int, default=None, metavar="I",
                   help="the trial of a stimulus file holding several (0-based)")
    d.add_argument("--dt", default=None, metavar="SECONDS",
                   help="time step of the discrete network (default: the spec's provenance.mapping.dt)")
    d.add_argument("--window", default=None, metavar="START[:END]",
                   help="response window in steps (default: the whole trial)")
    d.add_argument("--dead-zone", dest="dead_zone", type=float, default=DEFAULT_DEAD_ZONE,
                   help=f"|mean readout| below this is decision 0 (default {DEFAULT_DEAD_ZONE})")
    circuit_options(p)
    sim_options(p)


def check_study_args(args) -> dict:
    """The shared options checked, naming each flag and value; the workflow's keyword arguments."""
    check_outputs(args, inputs={"--stimulus": args.stimulus}, output=args.output, plot=args.plot,
                  kinds={"output": "study"})
    journal = journal_of(args.output)
    if journal is not None:  # never an input, even with --force; the spec's own files too (load_spec_arg)
        check_journal(args.output, field="the journal of --output", force=args.force,
                      inputs={"the spec": args.spec, "--stimulus": args.stimulus})
        args.checked_outputs = {**getattr(args, "checked_outputs", {}), "the journal of --output": journal}
    check_timeout(args.timeout)
    check_runs(args.runs, "--runs")
    check_jobs(args.jobs, "--jobs")
    check_scheduler(args.scheduler, "--scheduler")
    if not 0 <= args.pass_fraction <= 1:
        raise UsageError(f"--pass-fraction must be between 0 and 1 (got {args.pass_fraction!r})")
    if not 0 <= args.seed < 2**63:
        raise UsageError(f"--seed must be a whole number 0 .. 2**63 - 1 (got {args.seed!r})")
    if args.resume and args.output is None:
        raise UsageError("--resume needs -o/--output, the results file of the interrupted study")
    threshold = None if args.threshold is None else check_threshold(
        parse_number(args.threshold, "--threshold", percent=True), f"--threshold {args.threshold}")
    decision = {}
    if args.stimulus is None:
        given = [flag for flag, v in (("--trial", args.trial), ("--dt", args.dt), ("--window", args.window))
                 if v is not None] + (["--dead-zone"] if args.dead_zone != DEFAULT_DEAD_ZONE else [])
        if given:
            raise UsageError(f"{', '.join(given)} apply to a decision: give the trial with --stimulus FILE")
    else:
        if not (math.isfinite(args.dead_zone) and args.dead_zone >= 0):
            raise UsageError(f"--dead-zone must be a non-negative number (got {args.dead_zone!r})")
        if args.trial is not None and args.trial < 0:
            raise UsageError(f"--trial must be a trial index, 0 or more (got {args.trial!r})")
        decision = dict(stimulus=args.stimulus, trial=args.trial, window=parse_window(args.window),
                        dt=None if args.dt is None else positive_seconds(args.dt, "--dt"), dead_zone=args.dead_zone)
    return dict(distribution=args.distribution, seed=args.seed, threshold=threshold,
                pass_fraction=args.pass_fraction, backend=args.backend, timeout=args.timeout, jobs=args.jobs,
                scheduler=args.scheduler, output=args.output, resume=args.resume, force=args.force, **decision)


def tolerance_arg(text: str, flag: str = "--tolerance") -> float:
    value = parse_number(text, flag, percent=True)
    return check_tolerance(value, f"{flag} {text}")


def run_study_command(args, work) -> int:
    """Run ``work(progress)`` with a progress bar (terminal only), then print, plot, exit code."""
    bar = ProgressBar(enabled=not args.quiet)
    try:
        result = work(lambda done, total, rec: bar(done / total))
    except KeyboardInterrupt as exc:  # Ctrl-C 130, SIGTERM 143 (as main() says them), and where the runs are
        bar.clear()
        what, code = interrupted(exc)
        kept = (f"; finished runs are kept in {journal_path(args.output)}: run again with --resume to continue"
                if journal_of(args.output) is not None else "")
        print(f"rnn2spice: {what}{kept}", file=sys.stderr)
        return code
    finally:
        bar.clear()
    print(result.summary())
    if args.output is not None:
        print(f"wrote {args.output}")
    write_plot(args, result)
    return verdict_code(result.passed)


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, "Monte Carlo: draw every R, C, L of the circuit within a tolerance, run after "
                                      "run, and score each run against the nominal exact reference (with --stimulus: "
                                      "also its task decision); exit 0 when enough runs pass.")
    p.add_argument("--tolerance", default="5%", metavar="T",
                   help="relative tolerance of every R, C, L: 5%% or 0.05 (default 5%%)")
    p.add_argument("--run", type=int, default=None, metavar="K", help="reproduce run K alone (its draws are "
                                                                       "those of run K of the full study)")
    study_options(p, DEFAULT_RUNS)
    build_options(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    kwargs = check_study_args(args)
    tolerance = tolerance_arg(args.tolerance)
    if args.run is not None:
        if args.run < 0:
            raise UsageError(f"--run must be a run index, 0 or more (got {args.run!r})")
        if args.resume:
            raise UsageError(f"--run {args.run} reproduces one run alone; it cannot be combined with --resume")
    spec = load_spec_arg(args)
    build = build_from_args(args)
    if args.stimulus is None:
        spec = compile_build(spec, form=args.form, coupling=args.coupling, accuracy=args.accuracy, rtol=args.rtol,
                             build=build)
        circuit = {}
    else:  # compiled with the trial as its input
        circuit = dict(form=args.form, coupling=args.coupling, accuracy=args.accuracy, rtol=args.rtol, build=build)
    return run_study_command(args, lambda progress: montecarlo(
        spec, runs=args.runs, tolerance=tolerance, run=args.run, progress=progress, **circuit, **kwargs))
