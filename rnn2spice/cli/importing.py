"""``rnn2spice import MODEL --dt SECONDS -o SPEC.yaml``: a trained RNN as a spec."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from rnn2spice.cli.common import EXIT_PASS
from rnn2spice.workflows.importers import DEFAULT_STEPS, FORMATS, import_model, positive_seconds

NAME = "import"


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="Import a trained RNN (Keras HDF5, PyTorch state_dict, NPZ) as a spec.",
                       description="Import a trained discrete-time RNN h[k] = tanh(W h[k-1] + W_in x[k] + b) "
                                   "as a CTRNN spec tau dh/dt = -h + tanh(W h + W_in x + b) (tau = dt unless "
                                   "--tau), with its linear readout y = w_out h + b_out.")
    p.add_argument("model", type=Path, help="model file: Keras .h5/.hdf5, PyTorch state_dict .pt/.pth, or .npz")
    p.add_argument("--dt", required=True, metavar="SECONDS", help="time step of the discrete network (s)")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="spec to write (.yaml); matrices of large networks go to the same name with .npz")
    p.add_argument("--tau", metavar="SECONDS", help="time constant of the CTRNN (default: --dt)")
    p.add_argument("--format", choices=FORMATS, default=None, help="model format (default: detect)")
    p.add_argument("--name", help="spec name (default: from the model file name)")
    p.add_argument("--force", action="store_true",
                   help="overwrite an existing <stem>.npz beside the spec even when it is not the matrix file "
                        "of an earlier import to the same spec")
    p.add_argument("--t-stop", dest="t_stop", metavar="SECONDS",
                   help="simulation length (default: the sequence length in the file, else "
                        f"{DEFAULT_STEPS} steps)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    dt = positive_seconds(args.dt, "--dt")
    tau = positive_seconds(args.tau, "--tau") if args.tau is not None else None
    t_stop = positive_seconds(args.t_stop, "--t-stop") if args.t_stop is not None else None
    result = import_model(args.model, args.output, dt=dt, tau=tau, fmt=args.format, name=args.name, t_stop=t_stop,
                          force=args.force)
    spec, net = result.spec, result.network
    files = str(result.spec_path) + (f" and {result.npz_path}" if result.npz_path else "")
    readout = f", readout p = {spec.w_out.shape[0]}" if spec.w_out is not None else ", no readout"
    eig = float(np.max(np.linalg.eigvals(spec.w).real))
    print(f"wrote {files}: {net.format} ({net.layout}) -> n = {spec.n}, m = {spec.m}{readout}, "
          f"tau = {float(spec.tau[0]):g} s, t_stop = {spec.t_stop:g} s, max Re eig(W) = {eig:.3f}", file=sys.stderr)
    return EXIT_PASS
