"""NPZ importer: the matrices of a network from a numpy ``.npz`` archive.

``npz``
    A numpy ``.npz`` archive with the keys ``W`` (n x n), ``U`` or ``W_in`` (n x m,
    optional: no inputs), ``b`` (n), ``w_out`` (p x n, or n for p = 1), ``b_out`` (p) and
    ``tau`` (s, scalar or n; used unless ``tau=`` is given) -- all optional but ``W``.
    The allowed keys are :data:`~rnn2spice.workflows.importers.network.NPZ_KEYS`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rnn2spice.errors import ModelError, clip
from rnn2spice.network.files import LIMIT_NOTE, MAX_NEURONS, _npy_header
from rnn2spice.workflows.importers.network import NPZ_KEYS, ImportedNetwork, _real

#: The zip signatures an .npz archive starts with (a local file header, or an empty archive).
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def read_npz(path: Path) -> ImportedNetwork:
    """Matrices from an ``.npz`` archive with the documented keys (module docstring).

    Every array's shape and type are read from its header and checked before its data
    (a small archive may declare a huge array, or hold a compressed one).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise ModelError("model", path.name, f"cannot read the file: {clip(exc.strerror or exc)}") from None
    if head == b"\x93NUMPY":  # np.load would read the whole array before we could look at it
        raise ModelError("model", path.name, "is a single .npy array, not an .npz archive with keys W, U, ...")
    if head[:4] not in _ZIP_MAGIC:
        raise ModelError("model", path.name, "cannot read as an NPZ archive: not a zip file")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ModelError("model", path.name, f"cannot read as an NPZ archive: {clip(exc)}") from None
    if not hasattr(archive, "files"):
        raise ModelError("model", path.name, "is a single .npy array, not an .npz archive with keys W, U, ...")
    with archive:
        keys = list(archive.files)
        unknown = [k for k in keys if k not in NPZ_KEYS]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], NPZ_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ModelError(f"{path.name}: key", unknown[0], f"unknown key; allowed: {', '.join(NPZ_KEYS)}{hint}")
        if "W" not in keys:
            raise ModelError(f"{path.name}: key", "W", f"is required (the recurrent matrix); the archive holds {', '.join(keys) or 'nothing'}")
        if "U" in keys and "W_in" in keys:
            raise ModelError(f"{path.name}: key", "U and W_in", "give the input matrix once, as U or as W_in")
        try:
            for k in keys:
                with archive.zip.open(k + ".npy") as member:
                    shape, dtype = _npy_header(member)
                _check_array(shape, dtype, f"{path.name}: {k}", path)
            arrays = {k: archive[k] for k in keys}
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError("model", path.name, f"cannot read an array: {clip(exc)}") from None
    arrays = {k: _real(v, f"{path.name}: {k}", path) for k, v in arrays.items()}
    w = arrays["W"]
    if w.ndim != 2:
        raise ModelError(f"{path.name}: W", f"shape {w.shape}", "must be a matrix (n x n)")
    n = w.shape[0]
    w_in = arrays.get("U", arrays.get("W_in"))
    if w_in is None:
        w_in = np.zeros((n, 0))
    elif w_in.ndim == 1 and w_in.shape == (n,):
        w_in = w_in[:, None]
    names = {"w": "W", "w_in": "U" if "U" in keys else "W_in", "bias": "b", "w_out": "w_out", "b_out": "b_out"}
    names = {k: f"{path.name}: {v}" for k, v in names.items()}
    w_out = arrays.get("w_out")
    if w_out is not None and w_out.ndim == 1:
        w_out = w_out[None, :]
    if w_out is not None and w_out.ndim != 2:
        raise ModelError(f"{path.name}: w_out", f"shape {w_out.shape}", "must be a matrix (p x n) or a vector (n)")
    b_out = arrays.get("b_out")
    if b_out is not None and b_out.ndim == 0:
        b_out = b_out.reshape(1)
    if w_out is not None and b_out is None:
        b_out = np.zeros(w_out.shape[0])
    tau = arrays.get("tau")
    if tau is not None:
        if tau.ndim == 0:
            tau = np.full(n, float(tau))
        if tau.shape != (n,):
            raise ModelError(f"{path.name}: tau", f"shape {tau.shape}", f"must be a scalar or have n = {n} entries")
        if not np.all(tau > 0):
            raise ModelError(f"{path.name}: tau", float(tau[np.argmin(tau)]), "must be positive (seconds)")
    return ImportedNetwork(w=w, w_in=w_in, bias=arrays.get("b"), w_out=w_out, b_out=b_out, tau=tau,
                           format="npz", layout="npz", details={"names": names, "keys": keys})


def _check_array(shape, dtype, where: str, path: Path) -> None:
    """A real array of at most 2 dimensions and MAX_NEURONS^2 entries, from its header."""
    if len(shape) > 2:
        raise ModelError(where, f"shape {tuple(shape)}", "must have at most 2 dimensions")
    if any(d > 10 * MAX_NEURONS for d in shape) or math.prod(shape) > MAX_NEURONS * MAX_NEURONS:
        raise ModelError(where, f"shape {tuple(shape)}", f"too large: at most {MAX_NEURONS} neurons are supported"
                             + LIMIT_NOTE.format(var="RNN2SPICE_MAX_NEURONS"))
    if dtype.kind not in "fiu":
        raise ModelError(where, f"dtype {dtype}", f"in {path.name} must hold real numbers")
