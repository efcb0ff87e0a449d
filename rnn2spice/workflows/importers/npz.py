"""NPZ importer: the matrices of a network from a numpy ``.npz`` archive.

``npz``
    A numpy ``.npz`` archive with the keys ``W`` (n x n), ``U`` or ``W_in`` (n x m,
    optional: no inputs), ``b`` (n), ``w_out`` (p x n, or n for p = 1), ``b_out`` (p) and
    ``tau`` (s, scalar or n; used unless ``tau=`` is given) -- all optional but ``W``.
    The allowed keys are :data:`~rnn2spice.workflows.importers.network.NPZ_KEYS`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnn2spice.errors import ModelError
from rnn2spice.workflows.importers.network import NPZ_KEYS, ImportedNetwork, _real


def read_npz(path: Path) -> ImportedNetwork:
    """Matrices from an ``.npz`` archive with the documented keys (module docstring)."""
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ModelError("model", path.name, f"cannot read as an NPZ archive: {exc}") from None
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
            arrays = {k: archive[k] for k in keys}
        except Exception as exc:
            raise ModelError("model", path.name, f"cannot read an array: {exc}") from None
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
