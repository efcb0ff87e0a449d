"""``rnn2spice import MODEL --dt SECONDS -o SPEC.yaml``: a trained RNN as a spec."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from rnn2spice.cli.common import EXIT_PASS
from rnn2spice.network.dale import dale_report
from rnn2spice.workflows.importers import (DEFAULT_STEPS, FORMATS, IMPORT_ACTIVATIONS, IMPORT_CONVENTIONS, import_model,
                                           positive_seconds)

NAME = "import"


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="Import a trained RNN (Keras HDF5, PyTorch state_dict, NPZ, PsychRNN) as a spec.",
                       description="Import a trained discrete-time RNN h[k] = tanh(W h[k-1] + W_in x[k] + b) "
                                   "as a CTRNN spec tau dh/dt = -h + tanh(W h + W_in x + b) (tau = dt unless "
                                   "--tau), with its linear readout y = w_out h + b_out; or a rate network "
                                   "(PsychRNN, or --convention rate) x[k] = (1 - alpha) x[k-1] + alpha (W f(x[k-1]) "
                                   "+ W_in u[k] + b), alpha = dt / tau, as tau dx/dt = -x + W f(x) + W_in u + b "
                                   "with y = w_out f(x) + b_out.")
    p.add_argument("model", type=Path, help="model file: Keras .h5/.hdf5, PyTorch state_dict .pt/.pth, .npz, "
                                            "or a PsychRNN weights .npz (model.save)")
    p.add_argument("--dt", required=True, metavar="SECONDS", help="time step of the discrete network (s)")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="spec to write (.yaml); matrices of large networks go to the same name with .npz")
    p.add_argument("--tau", metavar="SECONDS", help="time constant (default: --dt for ctrnn networks; required "
                                                     "for rate networks such as PsychRNN's: alpha = dt / tau)")
    p.add_argument("--keys", metavar="MAP",
                   help="which arrays of a state_dict or .npz are the network, e.g. "
                        "'W=rnn.m@rnn.n/512,U=rnn.w_inp^T,w_out=rnn.w_out^T/512,b=a+b,h0=x0' "
                        "(targets W, U, b, w_out, b_out, h0, tau; ^T transposes, @ multiplies matrices (W=M@N stays "
                        "factored: a low-rank coupling), + sums, *NUMBER and /NUMBER scale, TARGET_scale=KEY|NUMBER "
                        "multiplies)")
    p.add_argument("--convention", choices=IMPORT_CONVENTIONS, default=None,
                   help="ctrnn: f inside the sum (Keras, nn.RNN; default); rate: f outside, "
                        "x[k] = (1 - alpha) x[k-1] + alpha (W f(x[k-1]) + U u[k] + b) (PsychRNN)")
    p.add_argument("--activation", choices=IMPORT_ACTIVATIONS, default=None,
                   help="nonlinearity f when the file does not record it (default: tanh; PsychRNN: its "
                        "transfer_function, else relu)")
    p.add_argument("--readout", choices=("state", "rate"), default=None,
                   help="what the readout w_out reads: the state (y = w_out h + b_out; low-rank and PsychRNN-style "
                        "models with out_nonlinearity identity) or the rate (y = w_out f(h) + b_out); default: the "
                        "framework's where the file records it (PsychRNN: rate; Keras, nn.RNN: state), else the "
                        "convention's (rate networks: rate), said in the provenance")
    p.add_argument("--format", choices=FORMATS, default=None, help="model format (default: detect)")
    p.add_argument("--name", help="spec name (default: from the model file name)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --output (and <stem>.npz beside it) even when it is not a spec "
                        "rnn2spice wrote (and its matrix file); by default only such files are replaced")
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
                          force=args.force, keys=args.keys, convention=args.convention, activation=args.activation,
                          readout=args.readout)
    spec, net = result.spec, result.network
    files = str(result.spec_path) + (f" and {result.npz_path}" if result.npz_path else "")
    readout = f", readout p = {spec.w_out.shape[0]}" if spec.w_out is not None else ", no readout"
    if spec.w_out is not None:
        readout += f" of the {'rate' if spec.rate_readout else 'state'}"
    eig = float(np.max(np.linalg.eigvals(spec.w).real))
    rank = f", w of rank {spec.rank} (factored)" if spec.rank is not None else ""
    print(f"wrote {files}: {net.format} ({net.layout}) -> {net.convention}/{net.activation}, n = {spec.n}{rank}, "
          f"m = {spec.m}{readout}, tau = {float(spec.tau[0]):g} s, t_stop = {spec.t_stop:g} s, "
          f"max Re eig(W) = {eig:.3f}", file=sys.stderr)
    if net.details.get("readout_from"):
        print(f"readout: {net.details['readout_from']}", file=sys.stderr)
    dale = net.details.get("dale") if isinstance(net.details.get("dale"), dict) else None
    if net.convention == "rate" or dale:
        ratio = f"dale_ratio {dale['dale_ratio']!r} (Dale's law {'applied' if dale['applied'] else 'off'}), " if dale else ""
        print(f"{ratio}{dale_report(spec.w).describe()}", file=sys.stderr)
    return EXIT_PASS
