"""Which reader a model file needs, and reading it: :func:`detect_format`, :func:`read_model`.

:func:`read_model` also applies the options a file cannot state for itself: ``keys`` (a
``--keys`` mapping for a state_dict or an .npz whose names or orientation differ,
:mod:`~rnn2spice.workflows.importers.mapping`), ``convention`` and ``activation``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from rnn2spice.errors import ModelError, UsageError, clip, shown
from rnn2spice.workflows.importers.archive import NpzArchive
from rnn2spice.workflows.importers.keras import read_keras
from rnn2spice.workflows.importers.mapping import KeyMapping, apply_mapping, parse_keys
from rnn2spice.network.spec import READOUTS
from rnn2spice.workflows.importers.network import (FORMATS, HDF5_MAGIC, IMPORT_ACTIVATIONS, IMPORT_CONVENTIONS,
                                                   ImportedNetwork, _check_network, _real)
from rnn2spice.workflows.importers.npz import read_npz
from rnn2spice.workflows.importers.psychrnn import is_psychrnn_members, read_psychrnn
from rnn2spice.workflows.importers.pytorch import load_state_dict, read_torch


def detect_format(path: Path) -> str:
    """``keras`` (HDF5 signature), ``psychrnn`` (zip of .npy with W_rec, W_in, W_out), ``npz``
    (other zips of .npy) or ``torch`` (zip with data.pkl)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except FileNotFoundError:
        raise ModelError("model", str(path), "file not found") from None
    except OSError as exc:
        raise ModelError("model", str(path), f"cannot read the file: {exc.strerror or exc}") from None
    if head == HDF5_MAGIC:
        return "keras"
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            names = []
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            raise ModelError("model", path.name, "is a Keras 3 '.keras' archive, which is not supported; "
                             "save the model as HDF5 with model.save('model.h5') and import that")
        if names and all(n.endswith(".npy") for n in names):
            return "psychrnn" if is_psychrnn_members(names) else "npz"
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5", ".keras"):
        return "keras"
    if suffix == ".npz":
        return "npz"
    if suffix in (".pt", ".pth", ".bin"):
        return "torch"
    raise ModelError("model", path.name, "unknown model format: not HDF5 (Keras), a PyTorch state_dict "
                     "or an NPZ archive; pass --format " + "|".join(FORMATS))


def read_model(path: str | os.PathLike, fmt: str | None = None, *, keys: str | KeyMapping | None = None,
               convention: str | None = None, activation: str | None = None,
               readout: str | None = None) -> ImportedNetwork:
    """Read a trained network; ``fmt`` is one of :data:`FORMATS` or None (detect).

    ``readout``: ``state`` (y = w_out h + b_out) or ``rate`` (y = w_out f(h) + b_out); None: the
    framework's own where the file records it (PsychRNN: rate), else the convention's (rate
    networks: rate, ctrnn: state), and ``details["readout_from"]`` says it was assumed.

    ``keys``: a ``--keys`` mapping (torch and npz files); ``convention``: ``ctrnn`` or ``rate``
    (with ``keys``, or for an npz; PsychRNN files are ``rate``, Keras and nn.RNN ``ctrnn``);
    ``activation``: the nonlinearity when the file does not record it (torch, npz, psychrnn).
    """
    path = Path(path)
    if convention is not None and convention not in IMPORT_CONVENTIONS:
        raise UsageError(f"--convention must be one of {', '.join(IMPORT_CONVENTIONS)} (got {shown(convention)})")
    if activation is not None and activation not in IMPORT_ACTIVATIONS:
        raise UsageError(f"--activation must be one of {', '.join(IMPORT_ACTIVATIONS)} (got {shown(activation)})")
    if readout is not None and readout not in READOUTS:
        raise UsageError(f"--readout must be one of {', '.join(READOUTS)} (got {shown(readout)})")
    mapping = parse_keys(keys) if isinstance(keys, str) else keys
    try:
        if not path.exists():
            raise ModelError("model", str(path), "file not found")
        if not path.is_file():
            raise ModelError("model", str(path), "is not a file")
    except OSError as exc:  # a name too long, a loop of links, ...
        raise ModelError("model", str(path), f"cannot access the file: {exc.strerror or exc}") from None
    if fmt is None:
        fmt = detect_format(path)
        if mapping is not None and fmt == "psychrnn":
            fmt = "npz"  # the user maps the keys himself
    elif fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if mapping is not None:
        if fmt not in ("torch", "npz"):
            raise UsageError(f"--keys applies to torch and npz files (this one is {fmt})")
        net = _read_mapped(path, fmt, mapping, convention or "ctrnn", activation)
    elif fmt == "keras":
        given = [f"--{k} {v}" for k, v in (("convention", convention), ("activation", activation)) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: a Keras file records its own activation and is a ctrnn "
                             "network (h[k] = f(W h[k-1] + W_in x[k] + b)); leave these options out")
        net = read_keras(path)
    elif fmt == "psychrnn":
        if convention not in (None, "rate"):
            raise UsageError(f"--convention {convention}: a PsychRNN network is a rate network "
                             "(activation outside the sum); leave --convention out")
        net = read_psychrnn(path, activation=activation)
    elif fmt == "torch":
        if convention not in (None, "ctrnn"):
            raise UsageError(f"--convention {convention}: an nn.RNN state_dict is a ctrnn network "
                             "(h[k] = f(W h[k-1] + W_in x[k] + b)); for another layout map its keys with --keys")
        net = read_torch(path, activation=activation)
    else:
        net = read_npz(path)
        net.convention = convention or "ctrnn"
        if activation is not None:
            net.activation = activation
    _check_network(net, path)
    if mapping is None and fmt in ("keras", "torch") and net.readout_of is None:
        net.readout_of = "state"  # a Dense / nn.Linear layer reads the RNN layer's output h itself
        net.details["readout_from"] = f"{fmt}: the readout layer takes the RNN layer's output h"
    if readout is not None:
        if net.readout_of is not None and net.readout_of != readout:
            net.details["readout_from"] = f"--readout {readout} (the file's framework reads the {net.readout_of})"
        else:
            net.details["readout_from"] = f"--readout {readout}"
        net.readout_of = readout
    elif net.readout_of is None:
        net.readout_of = "rate" if net.convention == "rate" else "state"
        if net.w_out is not None:
            net.details["readout_from"] = (f"assumed: the readout is of the {net.readout_of} (the file does not "
                                           "record it; --readout state|rate says it)")
    return net


def _read_mapped(path: Path, fmt: str, mapping: KeyMapping, convention: str, activation: str | None) -> ImportedNetwork:
    """The arrays ``mapping`` names, from a torch state_dict or an npz."""
    if fmt == "torch":
        arrays, reader = load_state_dict(path)
        arrays = {k: _real(v, f"{path.name}: {k}", path) if k in mapping.keys_used() else v for k, v in arrays.items()}
    else:
        reader = "numpy (allow_pickle=False)"
        with NpzArchive(path) as archive:
            # unused members are not read (None); a mapped key the archive lacks is named by apply_mapping
            arrays = {k: (_real(archive.array(k), archive.where(k), path) if k in mapping.keys_used() else None)
                      for k in archive.keys}
    fields, names, unused = apply_mapping(mapping, arrays, path.name)
    details = {"names": names, "reader": reader, "keys": clip(mapping.text, 500),
               "unused_keys": {"count": len(unused), "first": [clip(k, 60) for k in unused[:8]]} if unused else None,
               "activation_from": "--activation" if activation else "default (tanh; the file does not record it)"}
    return ImportedNetwork(w=fields["w"], w_factors=fields.get("w_factors"), w_in=fields["w_in"], bias=fields.get("bias"),
                           w_out=fields.get("w_out"),
                           b_out=fields.get("b_out"), tau=fields.get("tau"), h0=fields.get("h0"),
                           activation=activation or "tanh", convention=convention, format=fmt,
                           layout=f"{fmt}-mapped", details=details)
