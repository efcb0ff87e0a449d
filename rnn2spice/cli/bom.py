"""``rnn2spice bom SPEC [--form opamp] [--snap E24 [--predict | --simulate] [--stimulus pulse|FILE]] [-o parts.csv]``:
the bill of materials, and what the preferred values do to the network.

``--predict`` recovers the network the snapped circuit realises and predicts its states and
readout against the nominal network (no simulator); ``--simulate`` also runs the snapped
netlist in ngspice (exit 1 when ngspice disagrees with the prediction by more than a tenth of
the snapping effect).  With ``--stimulus`` they run one task trial (as ``rnn2spice task``)
and say whether the decision survives.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rnn2spice.circuit.eseries import SERIES
from rnn2spice.cli.common import (EXIT_PASS, add_spec_command, build_from_args, build_options, check_outputs,
                                  is_stdout, load_spec_arg, verdict_code, write_output)
from rnn2spice.errors import UsageError, shown
from rnn2spice.report.files import json_text
from rnn2spice.workflows.build import bom, snap, snap_trial
from rnn2spice.workflows.stimulus import KINDS, load_stimulus_file, parse_window, pulse_trials
from rnn2spice.workflows.task import DEFAULT_DEAD_ZONE, spec_dt

NAME = "bom"


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, "Bill of materials of the built circuit (CSV); with --snap --predict, "
                                    "the effect of the preferred values on the network.")
    p.add_argument("--form", default="opamp", choices=("opamp", "parallel", "series"),
                   help="the realisation (default opamp: op-amps, resistors, capacitors)")
    build_options(p)
    p.add_argument("--footprint", default="tht", choices=("tht", "0805"),
                   help="KiCad footprints: through-hole (default) or 0805 surface mount")
    p.add_argument("--parts-list", dest="parts_list", action="store_true",
                   help="write one row per resistor, capacitor and reference (exact and chosen value) instead of "
                        "the orderable list grouped by part and value")
    p.add_argument("-o", "--output", type=Path, help="CSV file to write (default: standard output)")
    g = p.add_argument_group("effect of the preferred values (needs --snap)")
    g.add_argument("--predict", action="store_true",
                   help="recover the network the snapped circuit realises; predict its states and readout")
    g.add_argument("--simulate", action="store_true",
                   help="--predict, then run the snapped netlist in ngspice and compare")
    g.add_argument("--accuracy", default="default", choices=("default", "high"),
                   help="ngspice accuracy of --simulate (default aims at 1e-3, high at 1e-6)")
    g.add_argument("--stimulus", default=None, metavar="FILE|KIND",
                   help=f"one task trial instead of the spec's inputs: {'|'.join(KINDS)} (the delayed-decision "
                        "pulse) or samples (.npy / CSV, the first trial); reports whether the decision survives")
    g.add_argument("--value", type=float, default=None, help="pulse value (default 1)")
    g.add_argument("--delay", type=int, default=None, metavar="D", help="pulse delay d, 1..70 steps "
                                                                        "(default: drawn with --seed)")
    g.add_argument("--seed", type=int, default=None, help="random seed of d (default 0)")
    g.add_argument("--dt", type=float, default=None, metavar="SECONDS",
                   help="sample period of the stimulus (default: the spec's provenance.mapping.dt)")
    g.add_argument("--window", default=None, metavar="START[:END]",
                   help="response window of a stimulus file, in steps (default: the whole trial)")
    g.add_argument("--dead-zone", dest="dead_zone", type=float, default=DEFAULT_DEAD_ZONE,
                   help=f"decision 0 when |mean readout| is below this (default {DEFAULT_DEAD_ZONE})")
    g.add_argument("--report", type=Path, help="JSON report to write: the bill of materials with every warning, "
                                               "and the prediction with --predict or --simulate")
    p.set_defaults(func=run)
    return p


def _check_options(args) -> None:
    predict = args.predict or args.simulate
    if predict and args.snap is None:
        raise UsageError(f"--{'simulate' if args.simulate else 'predict'} needs --snap SERIES "
                         f"({', '.join(SERIES)})")
    trial_opts = {"--stimulus": args.stimulus, "--value": args.value,
                  "--delay": args.delay, "--seed": args.seed, "--dt": args.dt, "--window": args.window}
    given = [flag for flag, v in trial_opts.items() if v is not None]
    if given and not predict:
        raise UsageError(f"{', '.join(given)} only apply with --predict or --simulate")
    pulse_opts = [f for f in ("--value", "--delay", "--seed") if trial_opts[f] is not None]
    if args.stimulus is None and given:
        raise UsageError(f"{', '.join(given)} only apply with --stimulus")
    if args.stimulus is not None and args.stimulus not in KINDS and pulse_opts:
        raise UsageError(f"{', '.join(pulse_opts)} only apply to a generated stimulus (--stimulus "
                         f"{'|'.join(KINDS)}), not to the file {shown(args.stimulus)}")
    if args.stimulus in KINDS and args.window is not None:
        raise UsageError("--window only applies to a stimulus file (the pulse trial has its own window)")
    if args.dt is not None and not (args.dt > 0 and args.dt < float("inf")):
        raise UsageError(f"--dt must be a positive number of seconds (got {args.dt!r})")
    if not (args.dead_zone >= 0 and args.dead_zone < float("inf")):
        raise UsageError(f"--dead-zone must be a non-negative number (got {args.dead_zone!r})")


def _stimulus(args, spec):
    if args.stimulus in KINDS:
        return pulse_trials(1.0 if args.value is None else args.value, seed=0 if args.seed is None else args.seed,
                            delay=args.delay, m=spec.m)[0]
    path = Path(args.stimulus)
    if not path.suffix:
        raise UsageError(f"--stimulus must be a file (.npy or CSV) or one of {', '.join(KINDS)} "
                         f"(got {shown(args.stimulus)})")
    return load_stimulus_file(path, spec.m, parse_window(args.window))[0]


def run(args) -> int:
    _check_options(args)
    if is_stdout(args.report) and args.output is None:
        raise UsageError("--report - and the CSV (standard output without -o) cannot share standard output; "
                         "give -o FILE")
    check_outputs(args, inputs={"--stimulus": None if args.stimulus in KINDS else args.stimulus},
                  output=args.output, report=args.report, kinds={"output": "bom"})
    spec = load_spec_arg(args)
    build = build_from_args(args)
    real = build.real
    if real and (args.predict or args.simulate):
        raise UsageError(f"--{'simulate' if args.simulate else 'predict'} predicts preferred values on ideal op-amps; "
                         "a build of real parts is predicted and simulated by 'rnn2spice check' with the same options")
    result = bom(spec, form=args.form, snap=None if real else args.snap,
                 build=build if real else dataclasses.replace(build, snap=None))
    effect = None
    if args.predict or args.simulate:
        if args.stimulus is not None:
            stim = _stimulus(args, spec)
            effect = snap_trial(spec, stim, spec_dt(spec, args.dt), args.snap, form=args.form,
                                accuracy=args.accuracy, simulate=args.simulate, dead_zone=args.dead_zone)
        else:
            effect = snap(spec, args.snap, form=args.form, accuracy=args.accuracy, simulate=args.simulate)
    text = result.csv() if args.parts_list else result.order_csv()
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_output(args.output, text, field="--output")
    # every warning is in the report when there is one; say so only then
    where = ("in the report on standard output" if is_stdout(args.report) else f"in {args.report}") \
        if args.report is not None else "in --report FILE"
    print(result.summary(all_warnings=where), file=sys.stderr)
    if effect is not None:
        print(effect.summary(), file=sys.stderr)
    if args.report is not None:
        write_output(args.report, json_text({"bom": result.report(),
                                             **({} if effect is None else {"snap": effect.report()})}),
                     field="--report")
    if effect is None:
        return EXIT_PASS
    return verdict_code(effect.passed) if args.simulate else EXIT_PASS
