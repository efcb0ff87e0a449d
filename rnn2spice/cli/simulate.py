"""``rnn2spice simulate SPEC [-o waveforms.csv]``: run ngspice, write the states as CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnn2spice.cli.common import (EXIT_PASS, add_spec_command, build_from_args, build_options, check_outputs,
                                  check_timeout, circuit_options, is_stdout, load_spec_arg, sim_options,
                                  stimulus_options, write_output)
from rnn2spice.cli.progress import progress_bar
from rnn2spice.workflows.realbuild import compile_build
from rnn2spice.report.files import waveforms_csv
from rnn2spice.workflows.pipeline import simulate

NAME = "simulate"


def register(sub) -> argparse.ArgumentParser:
    p = add_spec_command(sub, NAME, "Simulate the circuit; write the states as CSV (time,h0,...).")
    circuit_options(p)
    build_options(p)
    sim_options(p)
    stimulus_options(p)
    p.add_argument("-o", "--output", type=Path, help="CSV file to write (default or -: standard output): time,h0,... "
                   "in model time and units, from t = 0 with h0")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    check_outputs(args, output=args.output, kinds={"output": "csv"})
    check_timeout(args.timeout)
    compiled = compile_build(load_spec_arg(args), form=args.form, coupling=args.coupling, accuracy=args.accuracy,
                             rtol=args.rtol, build=build_from_args(args))
    with progress_bar(args) as bar:
        traj = simulate(compiled, backend=args.backend, timeout=args.timeout, progress=bar)
    text = waveforms_csv(traj.time, traj.states)
    if args.output is None or is_stdout(args.output):
        sys.stdout.write(text)
    else:
        write_output(args.output, text, field="--output")
        print(f"wrote {args.output} ({traj.time.size} points, ngspice {traj.ngspice_version} "
              f"via {traj.backend})", file=sys.stderr)
    return EXIT_PASS
