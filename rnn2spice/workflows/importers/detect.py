"""Which reader a model file needs, and reading it: :func:`detect_format`, :func:`read_model`."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from rnn2spice.errors import ModelError, UsageError
from rnn2spice.workflows.importers.keras import read_keras
from rnn2spice.workflows.importers.network import FORMATS, HDF5_MAGIC, ImportedNetwork, _check_network
from rnn2spice.workflows.importers.npz import read_npz
from rnn2spice.workflows.importers.pytorch import read_torch


def detect_format(path: Path) -> str:
    """``keras`` (HDF5 signature), ``npz`` (zip of .npy) or ``torch`` (zip with data.pkl)."""
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
            return "npz"
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
                     "or an NPZ archive; pass --format keras|torch|npz")


def read_model(path: str | os.PathLike, fmt: str | None = None) -> ImportedNetwork:
    """Read a trained network; ``fmt`` is one of :data:`FORMATS` or None (detect)."""
    path = Path(path)
    try:
        if not path.exists():
            raise ModelError("model", str(path), "file not found")
        if not path.is_file():
            raise ModelError("model", str(path), "is not a file")
    except OSError as exc:  # a name too long, a loop of links, ...
        raise ModelError("model", str(path), f"cannot access the file: {exc.strerror or exc}") from None
    if fmt is None:
        fmt = detect_format(path)
    elif fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    reader = {"keras": read_keras, "torch": read_torch, "npz": read_npz}[fmt]
    net = reader(path)
    _check_network(net, path)
    return net
