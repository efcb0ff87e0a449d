"""PyTorch importer: one ``nn.RNN`` (+ one ``nn.Linear`` readout) from a ``state_dict``.

``torch``
    A PyTorch ``state_dict`` (``torch.save(model.state_dict(), 'm.pt')``) of a module with
    one single-layer, unidirectional ``nn.RNN`` and optionally one ``nn.Linear`` readout.
    ``W = weight_hh_l0``, ``W_in = weight_ih_l0``, ``b = bias_ih_l0 + bias_hh_l0``,
    ``w_out = <linear>.weight``, ``b_out = <linear>.bias``.  A state_dict does not record
    the nonlinearity: ``tanh`` (nn.RNN's default) is assumed unless ``--activation`` says
    otherwise.  With torch installed the file is read by ``torch.load(weights_only=True)``;
    without it, a zip state_dict (torch >= 1.6) is read by a restricted unpickler that rebuilds
    tensors only (:func:`~rnn2spice.workflows.importers.archive.read_torch_zip`), and the
    legacy non-zip format needs torch (``pip install 'rnn2spice[torch]'``).

torch is imported inside :func:`load_state_dict` only, so that the other formats work without it
(and a legacy file without torch gives :data:`TORCH_INSTALL` as a :class:`MissingDependencyError`).
Other names or orientations: ``--keys`` (:mod:`~rnn2spice.workflows.importers.mapping`).
"""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path

import numpy as np

from rnn2spice.errors import MissingDependencyError, ModelError, clip
from rnn2spice.network.files import LIMIT_NOTE, MAX_NEURONS
from rnn2spice.workflows.importers.archive import check_nesting, check_tensor_bytes, read_torch_zip
from rnn2spice.workflows.importers.network import ImportedNetwork, _real

#: A state_dict archive may unpack to at most this many bytes (checked from the zip's
#: directory before torch reads it: a compressed member could unpack to gigabytes) ...
MAX_TORCH_BYTES = 256 * 2**20
#: ... in at most this many members, holding at most this many tensors.
MAX_TORCH_MEMBERS = 10_000

TORCH_INSTALL = ("reading PyTorch files needs torch, which is not installed: "
                 "pip install 'rnn2spice[torch]' (CPU wheels: add --index-url "
                 "https://download.pytorch.org/whl/cpu), or export the weights with numpy.savez and "
                 "import the .npz (keys W, U, b, w_out, b_out)")


def load_state_dict(path: Path) -> tuple[dict, str]:
    """(name -> float64 or integer numpy array, how it was read) of a saved state_dict.

    With torch: ``torch.load(weights_only=True)``.  Without torch, a zip file (``torch.save``'s
    format since torch 1.6) is read by :func:`~rnn2spice.workflows.importers.archive.read_torch_zip`
    (a restricted unpickler that rebuilds tensors and nothing else); the legacy format needs torch.
    A checkpoint ``{"state_dict" | "model_state_dict" | "model": {...}, ...}`` is unwrapped.
    """
    # A zip file is first read by the restricted unpickler (views, nothing built), which
    # refuses a costly file (tensors' logical size, nesting) before torch is even imported.
    _check_archive(path)
    scanned = read_torch_zip(path, unknown_ok=True) if zipfile.is_zipfile(path) else None
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None:
        if not zipfile.is_zipfile(path):
            raise MissingDependencyError(TORCH_INSTALL)
        obj = scanned if scanned is not None else read_torch_zip(path)
        reader = "rnn2spice restricted unpickler (torch not installed)"
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling refused, corrupt file, not a torch file
            text = str(exc)
            if "Weights only load failed" in text:
                # torch's text goes on to suggest weights_only=False, i.e. running the file's code:
                # name only what it refused
                found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
                what = f" ({found.group(1)})" if found else ""
                first = f"it holds Python objects besides tensors{what}, which are not loaded"
            else:
                first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
            raise ModelError("model", path.name, "cannot read as a PyTorch state_dict "
                             f"(save model.state_dict(), not the module): {clip(first)}") from None
        reader = f"torch {torch.__version__}"
        check_nesting(obj, path.name)  # (a legacy file, or one the restricted reader does not know)
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise ModelError("model", path.name, f"holds a {type(obj).__name__}, not a state_dict (a mapping of names to tensors)")
    if len(obj) > MAX_TORCH_MEMBERS:
        raise ModelError("model", path.name, f"holds {len(obj)} entries; at most {MAX_TORCH_MEMBERS} are read")
    total = 0
    for key, val in obj.items():
        if (torch is not None and isinstance(val, torch.Tensor)) or isinstance(val, np.ndarray):
            total += 8 * math.prod(tuple(val.shape))
    check_tensor_bytes(total, path.name)  # before any tensor is converted (copied)
    tensors = {}
    for key, val in obj.items():
        is_tensor = torch is not None and isinstance(val, torch.Tensor)
        if not (is_tensor or isinstance(val, np.ndarray)):
            raise ModelError(f"{path.name}: {clip(key, 100)}", type(val).__name__, "is not a tensor")
        # a tensor's shape may be far larger than its storage (stride 0): check before converting
        shape = tuple(val.shape)
        if len(shape) > 2:
            raise ModelError(f"{path.name}: {clip(key, 100)}", f"shape {shape}", "must have at most 2 dimensions")
        if any(d > 10 * MAX_NEURONS for d in shape) or math.prod(shape) > MAX_NEURONS * MAX_NEURONS:
            raise ModelError(f"{path.name}: {clip(key, 100)}", f"shape {shape}",
                             f"too large: at most {MAX_NEURONS} neurons are supported"
                             + LIMIT_NOTE.format(var="RNN2SPICE_MAX_NEURONS"))
        if is_tensor:
            tensors[key] = val.detach().cpu().to(torch.float64).numpy() if val.is_floating_point() else val.cpu().numpy()
        else:
            tensors[key] = val.astype(np.float64) if val.dtype.kind == "f" else val
    return tensors, reader


def read_torch(path: Path, *, activation: str | None = None) -> ImportedNetwork:
    """nn.RNN (+ nn.Linear) from a state_dict saved by ``torch.save``; ``activation``: the
    nonlinearity (nn.RNN's ``nonlinearity``, not in the file; default tanh)."""
    tensors, reader = load_state_dict(path)
    hh = [k for k in tensors if k.endswith("weight_hh_l0")]
    if not hh:
        raise ModelError("model", path.name, "no nn.RNN weights (no key ending in weight_hh_l0); "
                         f"keys: {', '.join(list(tensors)[:8])}")
    if len(hh) > 1:
        raise ModelError("model", path.name, f"{len(hh)} recurrent layers ({', '.join(hh)}); only one nn.RNN can be imported")
    pre = hh[0][: -len("weight_hh_l0")]
    extra = [k for k in tensors if k.startswith(pre) and re.search(r"_l[1-9]\d*$|_reverse$|weight_hr_l0$", k)]
    if extra:
        raise ModelError(f"{path.name}: {extra[0]}", "present", "only single-layer, unidirectional nn.RNN without "
                         "projections can be imported")
    names = {"w": f"{pre}weight_hh_l0", "w_in": f"{pre}weight_ih_l0"}
    if names["w_in"] not in tensors:
        raise ModelError("model", path.name, f"has {names['w']} but no {names['w_in']}")
    w = _real(tensors[names["w"]], names["w"], path)
    w_in = _real(tensors[names["w_in"]], names["w_in"], path)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        gates = " (LSTM or GRU?)" if w.ndim == 2 and w.shape[0] in (3 * w.shape[1], 4 * w.shape[1]) else ""
        raise ModelError(names["w"], f"shape {w.shape}", "must be square for nn.RNN" + gates)
    n = w.shape[0]
    used = {names["w"], names["w_in"]}
    bias = None
    for key in (f"{pre}bias_ih_l0", f"{pre}bias_hh_l0"):
        if key in tensors:
            b = _real(tensors[key], key, path)
            if b.shape != (n,):
                raise ModelError(key, f"shape {b.shape}", f"must have {n} entries")
            bias = b if bias is None else bias + b
            used.add(key)
    if bias is not None:
        names["bias"] = " + ".join(k for k in (f"{pre}bias_ih_l0", f"{pre}bias_hh_l0") if k in used)
    # readout: a linear layer whose weight is (p, n)
    rest = {k: v for k, v in tensors.items() if k not in used}
    candidates = [k[: -len("weight")] for k, v in rest.items()
                  if k.endswith("weight") and v.ndim == 2 and v.shape[1] == n]
    if len(candidates) > 1:
        raise ModelError("model", path.name, "several possible readout layers ("
                         + ", ".join(c + "weight" for c in candidates) + "); keep one nn.Linear after the RNN")
    w_out = b_out = None
    if candidates:
        lin = candidates[0]
        names["w_out"] = f"{lin}weight"
        w_out = _real(rest.pop(names["w_out"]), names["w_out"], path)
        if f"{lin}bias" in rest:
            names["b_out"] = f"{lin}bias"
            b_out = _real(rest.pop(names["b_out"]), names["b_out"], path)
        else:
            b_out = np.zeros(w_out.shape[0])
    if rest:
        raise ModelError(f"{path.name}: {next(iter(rest))}", f"shape {tuple(rest[next(iter(rest))].shape)}",
                         "unrecognised parameter; only nn.RNN (+ one nn.Linear readout) can be imported")
    details = {"names": names, "reader": reader,
               "assumed": (f"nonlinearity {activation} (--activation)" if activation else
                           "nonlinearity tanh (nn.RNN default; a state_dict does not record it)")}
    return ImportedNetwork(w=w, w_in=w_in, bias=bias, w_out=w_out, b_out=b_out, format="torch",
                           activation=activation or "tanh", layout="torch-state_dict", details=details)


def _check_archive(path: Path) -> None:
    """Refuse a zip state_dict that would unpack beyond MAX_TORCH_BYTES or has more than
    MAX_TORCH_MEMBERS members, from the zip directory alone (the legacy, non-zip format is
    bounded by the size of the file)."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError("model", path.name, f"cannot read as a PyTorch state_dict: {clip(exc)}") from None
    if len(infos) > MAX_TORCH_MEMBERS:
        raise ModelError("model", path.name, f"holds {len(infos)} zip members; at most {MAX_TORCH_MEMBERS} are read")
    total = sum(info.file_size for info in infos)
    if total > MAX_TORCH_BYTES:
        raise ModelError("model", path.name, f"unpacks to {total} bytes; at most {MAX_TORCH_BYTES} are read")
