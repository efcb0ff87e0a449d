"""Importers: trained discrete-time RNNs -> rnn2spice specs (CTRNN, tanh).

Sources
-------
``keras``
    A full-model Keras HDF5 file (``model.save('m.h5')``) or a weights file
    (``model.save_weights('m.weights.h5')``) holding one ``SimpleRNN`` and optionally one
    ``Dense`` readout.  Both the Keras 3 layout
    (``model_weights/simple_rnn/sequential/simple_rnn/simple_rnn_cell/kernel``) and the
    Keras 2 layout (``model_weights/simple_rnn_1/simple_rnn_1/kernel:0``) are found by
    walking the file for datasets named ``kernel``, ``recurrent_kernel`` and ``bias`` (with
    or without ``:0``).  Read with h5py; TensorFlow is not needed.
    ``W = recurrent_kernel.T``, ``W_in = kernel.T``, ``b = bias``,
    ``w_out = dense_kernel.T``, ``b_out = dense_bias``.
``torch``
    A PyTorch ``state_dict`` (``torch.save(model.state_dict(), 'm.pt')``) of a module with
    one single-layer, unidirectional ``nn.RNN`` and optionally one ``nn.Linear`` readout.
    ``W = weight_hh_l0``, ``W_in = weight_ih_l0``, ``b = bias_ih_l0 + bias_hh_l0``,
    ``w_out = <linear>.weight``, ``b_out = <linear>.bias``.  A state_dict does not record
    the nonlinearity: ``tanh`` (nn.RNN's default) is assumed.  Needs torch
    (``pip install 'rnn2spice[torch]'``); the file is read with ``weights_only=True``.
``npz``
    A numpy ``.npz`` archive with the keys ``W`` (n x n), ``U`` or ``W_in`` (n x m,
    optional: no inputs), ``b`` (n), ``w_out`` (p x n, or n for p = 1), ``b_out`` (p) and
    ``tau`` (s, scalar or n; used unless ``tau=`` is given) -- all optional but ``W``.

Mapping (THEORY.md 1): the discrete network ``h[k] = tanh(W h[k-1] + W_in x[k] + b)`` with
step ``dt`` becomes the CTRNN ``tau dh/dt = -h + tanh(W h + W_in x + b)`` with
``tau = dt`` unless given.  Its forward-Euler step of size ``tau`` *is* the discrete map,
so the input sample ``x[k]`` is held over ``[k dt, (k+1) dt)`` and ``h[k]`` corresponds to
``h((k+1) dt)``.  The two models share their fixed points but not their transients
(see ``rnn2spice task`` for how closely their readouts agree).

The spec is YAML; matrices of networks with more than :data:`INLINE_MAX_NEURONS` neurons
go to ``<spec stem>.npz`` beside it.  Its default input is one rectangular pulse
(height 1, 20 steps wide, at step 50, edges of one step) on input 0 and 0 on the others,
so that ``rnn2spice check`` exercises the dynamics; ``rnn2spice task`` replaces the inputs
by its stimuli.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnn2spice._version import __version__
from rnn2spice.errors import MissingDependencyError, ModelError, OutputError, UsageError
from rnn2spice.report.files import check_writable, write_atomic
from rnn2spice.network.spec import MAX_INPUTS, MAX_NEURONS, NAME_RE, RnnSpec, spec_from_dict

FORMATS = ("keras", "torch", "npz")
#: Networks up to this size are written inline in the YAML; larger ones use an NPZ file.
INLINE_MAX_NEURONS = 8
#: Default trial length (steps) when the model file does not record its sequence length.
DEFAULT_STEPS = 100
NPZ_KEYS = ("W", "U", "W_in", "b", "w_out", "b_out", "tau")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

DISCRETE_EQ = "h[k] = tanh(W h[k-1] + W_in x[k] + b), h[-1] = 0"
LINEAR_DISCRETE_EQ = "h[k] = W h[k-1] + W_in x[k] + b, h[-1] = 0"
CONTINUOUS_EQ = "tau dh/dt = -h + tanh(W h + W_in x + b), h(0) = 0"
LINEAR_CONTINUOUS_EQ = "tau dh/dt = -h + W h + W_in x + b, h(0) = 0"


@dataclass(eq=False)
class ImportedNetwork:
    """A discrete-time RNN as read from a file, in column-vector form (float64)."""

    w: np.ndarray                    # (n, n)  recurrent weights W
    w_in: np.ndarray                 # (n, m)  input weights
    bias: np.ndarray | None          # (n,) or None when the model has no recurrent bias
    w_out: np.ndarray | None = None  # (p, n)
    b_out: np.ndarray | None = None  # (p,)
    activation: str = "tanh"
    tau: np.ndarray | None = None    # (n,) s, only when the file records it (npz)
    steps: int | None = None         # sequence length recorded in the file
    format: str = ""
    layout: str = ""
    details: dict = field(default_factory=dict)  # dataset names, versions

    @property
    def n(self) -> int:
        return self.w.shape[0]

    @property
    def m(self) -> int:
        return self.w_in.shape[1]


# --------------------------------------------------------------------------- reading

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
    if not path.exists():
        raise ModelError("model", str(path), "file not found")
    if not path.is_file():
        raise ModelError("model", str(path), "is not a file")
    if fmt is None:
        fmt = detect_format(path)
    elif fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    reader = {"keras": read_keras, "torch": read_torch, "npz": read_npz}[fmt]
    net = reader(path)
    _check_network(net, path)
    return net


def _real(arr, where: str, path: Path) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise ModelError(where, f"dtype {arr.dtype}", f"in {path.name} must hold real numbers")
    arr = arr.astype(np.float64)
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = "".join(f"[{i}]" for i in bad[0])
        raise ModelError(f"{where}{idx}", float(arr[tuple(bad[0])]), f"in {path.name} must be finite")
    return arr


def _check_network(net: ImportedNetwork, path: Path) -> None:
    n = net.w.shape[0]
    where = net.details.get("names", {})
    if net.w.ndim != 2 or net.w.shape[1] != n or n == 0:
        raise ModelError(where.get("w", "W"), f"shape {net.w.shape}", "the recurrent matrix must be square and non-empty")
    if n > MAX_NEURONS:
        raise ModelError(where.get("w", "W"), f"shape {net.w.shape}", f"too large: at most {MAX_NEURONS} neurons are supported")
    if net.w_in.ndim != 2 or net.w_in.shape[0] != n:
        raise ModelError(where.get("w_in", "W_in"), f"shape {net.w_in.shape}", f"must have n = {n} rows (after transposing)")
    if net.w_in.shape[1] > MAX_INPUTS:
        raise ModelError(where.get("w_in", "W_in"), f"shape {net.w_in.shape}", f"at most {MAX_INPUTS} inputs are supported")
    if net.bias is not None and net.bias.shape != (n,):
        raise ModelError(where.get("bias", "b"), f"shape {net.bias.shape}", f"must have n = {n} entries")
    if net.w_out is not None:
        if net.w_out.ndim != 2 or net.w_out.shape[1] != n:
            raise ModelError(where.get("w_out", "w_out"), f"shape {net.w_out.shape}", f"the readout must have n = {n} columns")
        if net.b_out is not None and net.b_out.shape != (net.w_out.shape[0],):
            raise ModelError(where.get("b_out", "b_out"), f"shape {net.b_out.shape}",
                             f"must have p = {net.w_out.shape[0]} entries, one per output")
    elif net.b_out is not None:
        raise ModelError(where.get("b_out", "b_out"), "given", "a readout bias needs readout weights w_out")


# ---- Keras

def read_keras(path: Path) -> ImportedNetwork:
    """SimpleRNN (+ Dense) from a Keras HDF5 file, Keras 2 or 3 layout."""
    import h5py

    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError("model", path.name, f"cannot read as HDF5 (Keras): {exc}") from None
    with fh:
        attrs = {k: _attr_text(v) for k, v in fh.attrs.items()}
        full_model = "model_weights" in fh
        root = fh["model_weights"] if "model_weights" in fh else fh
        groups: dict[str, dict[str, str]] = {}

        def visit(name, obj):
            if not isinstance(obj, h5py.Dataset):
                return
            parent, _, base = name.rpartition("/")
            base = base.split(":")[0]
            if base in ("kernel", "recurrent_kernel", "bias"):
                groups.setdefault(parent, {})[base] = name

        root.visititems(visit)
        groups = {g: d for g, d in groups.items() if not g.startswith("optimizer_weights")}
        prefix = root.name.strip("/")
        full = lambda name: f"{prefix}/{name}" if prefix else name  # noqa: E731
        rnn = [g for g, d in groups.items() if "recurrent_kernel" in d]
        if not rnn:
            raise ModelError("model", path.name, "no recurrent layer found (no dataset named recurrent_kernel); "
                             "expected a Keras SimpleRNN")
        if len(rnn) > 1:
            raise ModelError("model", path.name, f"{len(rnn)} recurrent layers ({', '.join(full(g) for g in rnn)}); "
                             "only a single SimpleRNN layer can be imported")
        cell = groups.pop(rnn[0])
        if "kernel" not in cell:
            raise ModelError(full(rnn[0]), "no kernel", "the recurrent layer has no input kernel")
        names = {"w": full(cell["recurrent_kernel"]), "w_in": full(cell["kernel"])}
        rk = _real(root[cell["recurrent_kernel"]][()], names["w"], path)
        kernel = _real(root[cell["kernel"]][()], names["w_in"], path)
        if rk.ndim != 2 or rk.shape[0] != rk.shape[1]:
            gates = f" ({rk.shape[1] // rk.shape[0]} gates: LSTM or GRU?)" if rk.ndim == 2 and rk.shape[0] and rk.shape[1] % rk.shape[0] == 0 else ""
            raise ModelError(names["w"], f"shape {rk.shape}", "must be square for a SimpleRNN" + gates)
        n = rk.shape[0]
        if kernel.ndim != 2 or kernel.shape[1] != n:
            raise ModelError(names["w_in"], f"shape {kernel.shape}", f"must be (inputs, {n})")
        bias = None
        if "bias" in cell:
            names["bias"] = full(cell["bias"])
            bias = _real(root[cell["bias"]][()], names["bias"], path)
            if bias.shape != (n,):
                raise ModelError(names["bias"], f"shape {bias.shape}", f"must have {n} entries")
        dense = [g for g, d in groups.items() if "kernel" in d]
        stray = [g for g, d in groups.items() if "kernel" not in d]
        if stray:
            raise ModelError(full(stray[0]), "bias without kernel", "unrecognised layer; only SimpleRNN + Dense models can be imported")
        w_out = b_out = None
        if len(dense) > 1:
            raise ModelError("model", path.name, f"{len(dense)} layers with a kernel besides the SimpleRNN "
                             f"({', '.join(full(g) for g in dense)}); only SimpleRNN + one Dense readout can be imported")
        if dense:
            d = groups[dense[0]]
            names["w_out"] = full(d["kernel"])
            dk = _real(root[d["kernel"]][()], names["w_out"], path)
            if dk.ndim != 2 or dk.shape[0] != n:
                raise ModelError(names["w_out"], f"shape {dk.shape}",
                                 f"a Dense readout after the SimpleRNN must have kernel shape ({n}, outputs)")
            w_out = dk.T
            if "bias" in d:
                names["b_out"] = full(d["bias"])
                b_out = _real(root[d["bias"]][()], names["b_out"], path)
            else:
                b_out = np.zeros(w_out.shape[0])
    activation, steps, layers = _keras_config(attrs.get("model_config"), path)
    version = attrs.get("keras_version", "")
    if version:
        layout = f"keras{version.split('.')[0]}-hdf5"
    else:
        layout = "keras2-hdf5" if any(v.endswith(":0") for v in names.values()) else "keras3-hdf5"
    details = {"names": names, "keras_version": version or None, "backend": attrs.get("backend") or None,
               "layers": layers, "full_model": full_model}
    return ImportedNetwork(w=rk.T.copy(), w_in=kernel.T.copy(), bias=bias, w_out=w_out, b_out=b_out,
                           activation=activation, steps=steps, format="keras", layout=layout, details=details)


def _attr_text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _keras_config(text: str | None, path: Path) -> tuple[str, int | None, list | None]:
    """(activation, sequence length, layer classes) from the model_config attribute.

    Checks what the weights alone cannot show: a SimpleRNN activation other than tanh or
    linear, a Dense readout with a nonlinear activation, other layers with weights.
    """
    if not text:
        return "tanh", None, None
    try:
        config = json.loads(text)
    except json.JSONDecodeError:
        return "tanh", None, None
    layers = _layer_configs(config)
    classes = [cls for cls, _ in layers]
    activation, steps = "tanh", None
    for cls, cfg in layers:
        if cls == "InputLayer":
            shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
            if isinstance(shape, list) and len(shape) >= 2 and isinstance(shape[1], int):
                steps = shape[1]
        elif cls == "SimpleRNN":
            act = cfg.get("activation", "tanh")
            if act not in ("tanh", "linear"):
                raise ModelError("model_config: SimpleRNN.activation", act,
                                 f"in {path.name}: only tanh (or linear) networks can be built as circuits")
            activation = act
            if cfg.get("go_backwards"):
                raise ModelError("model_config: SimpleRNN.go_backwards", True, f"in {path.name}: not supported")
            if steps is None:
                shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
                if isinstance(shape, list) and len(shape) >= 2 and isinstance(shape[1], int):
                    steps = shape[1]
        elif cls == "Dense":
            act = cfg.get("activation", "linear")
            if act not in ("linear", None):
                raise ModelError("model_config: Dense.activation", act,
                                 f"in {path.name}: only a linear readout y = w_out h + b_out can be imported")
        elif cls in ("LSTM", "GRU", "Bidirectional", "Conv1D", "Embedding"):
            raise ModelError("model_config", cls, f"in {path.name}: only SimpleRNN (+ Dense) models can be imported")
    return activation, steps, classes


def _layer_configs(config) -> list[tuple[str, dict]]:
    """Flatten (class_name, config) of every layer, unwrapping TimeDistributed."""
    out = []
    if isinstance(config, dict):
        cfg = config.get("config", {})
        layers = cfg.get("layers") if isinstance(cfg, dict) else None
        if isinstance(layers, list):
            for layer in layers:
                out.extend(_layer_configs(layer))
        elif "class_name" in config:
            if config["class_name"] == "TimeDistributed" and isinstance(cfg, dict) and "layer" in cfg:
                out.extend(_layer_configs(cfg["layer"]))
            else:
                out.append((config["class_name"], cfg if isinstance(cfg, dict) else {}))
    return out


# ---- PyTorch

TORCH_INSTALL = ("reading PyTorch files needs torch, which is not installed: "
                 "pip install 'rnn2spice[torch]' (CPU wheels: add --index-url "
                 "https://download.pytorch.org/whl/cpu), or export the weights with numpy.savez and "
                 "import the .npz (keys W, U, b, w_out, b_out)")


def read_torch(path: Path) -> ImportedNetwork:
    """nn.RNN (+ nn.Linear) from a state_dict saved by ``torch.save``."""
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(TORCH_INSTALL) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, corrupt file, not a torch file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError("model", path.name, "cannot read as a PyTorch state_dict "
                         f"(save model.state_dict(), not the module): {first}") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
        raise ModelError("model", path.name, f"holds a {type(obj).__name__}, not a state_dict (a mapping of names to tensors)")
    tensors = {}
    for key, val in obj.items():
        if not isinstance(val, torch.Tensor):
            raise ModelError(f"{path.name}: {key}", type(val).__name__, "is not a tensor")
        tensors[key] = val.detach().cpu().to(torch.float64).numpy() if val.is_floating_point() else val.cpu().numpy()
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
    details = {"names": names, "torch_version": str(torch.__version__),
               "assumed": "nonlinearity tanh (nn.RNN default; a state_dict does not record it)"}
    return ImportedNetwork(w=w, w_in=w_in, bias=bias, w_out=w_out, b_out=b_out, format="torch",
                           layout="torch-state_dict", details=details)


# ---- NPZ

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


# --------------------------------------------------------------------------- writing

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_name(path: Path) -> str:
    """A spec name from a file name: [A-Za-z][A-Za-z0-9_-]*, at most 64 characters."""
    stem = path.name.split(".")[0] if not path.name.startswith(".") else path.stem
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")
    if not name or not name[0].isalpha():
        name = "net-" + name
    return name[:64].rstrip("-_") or "net"


def positive_seconds(value, field: str) -> float:
    """A finite positive number of seconds, or UsageError naming the option."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{field} must be a positive number of seconds (got {value!r})") from None
    if not (math.isfinite(x) and x > 0):
        raise UsageError(f"{field} must be a positive number of seconds (got {value!r})")
    return x


def build_spec(net: ImportedNetwork, *, source: Path, dt: float, tau: float | None = None,
               name: str | None = None, t_stop: float | None = None,
               npz_name: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """The spec mapping (YAML-ready) and the arrays for its NPZ file (empty when inline).

    ``npz_name``: file the matrices go to when the network has more than
    :data:`INLINE_MAX_NEURONS` neurons (required then).
    """
    dt = positive_seconds(dt, "--dt")
    if tau is not None:
        tau_vec = np.full(net.n, positive_seconds(tau, "--tau"))
        tau_from = "--tau"
    elif net.tau is not None:
        tau_vec = net.tau
        tau_from = "the model file"
    else:
        tau_vec = np.full(net.n, dt)
        tau_from = "tau = dt"
    steps = net.steps or DEFAULT_STEPS
    t_stop = steps * dt if t_stop is None else positive_seconds(t_stop, "--t-stop")
    name = name if name is not None else default_name(source)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsageError(f"--name must match [A-Za-z][A-Za-z0-9_-]* with at most 64 characters (got {name!r})")

    arrays: dict[str, np.ndarray] = {"W": net.w, "W_in": net.w_in}
    if net.bias is not None:
        arrays["b"] = net.bias
    if net.w_out is not None:
        arrays["w_out"] = net.w_out
        arrays["b_out"] = net.b_out if net.b_out is not None else np.zeros(net.w_out.shape[0])
    uniform = bool(np.all(tau_vec == tau_vec[0]))
    if not uniform:
        arrays["tau"] = tau_vec
    inline = net.n <= INLINE_MAX_NEURONS
    if not inline and not npz_name:
        raise UsageError("a network this large needs an NPZ file for its matrices (npz_name)")

    def ref(key):
        return arrays[key].tolist() if inline else {"file": npz_name, "key": key}

    linear = net.activation == "linear"
    data: dict = {
        "name": name,
        "description": (f"Imported from {source.name} ({net.format}, {net.layout}): "
                        f"{net.n} neurons, {net.m} inputs"
                        + (f", {net.w_out.shape[0]} outputs" if net.w_out is not None else "")
                        + f"; discrete step dt = {dt!r} s mapped to tau = {float(tau_vec[0]) if uniform else 'per neuron'} s."),
        "convention": "ctrnn",
        "activation": net.activation,
        "tau": float(tau_vec[0]) if uniform else ref("tau"),
        "w": ref("W"),
        "w_in": ref("W_in"),
    }
    if net.bias is not None:
        data["bias"] = ref("b")
    if net.w_out is not None:
        data["w_out"] = ref("w_out")
        data["b_out"] = ref("b_out")
    data["inputs"] = default_inputs(net.m, dt, t_stop)
    data["t_stop"] = float(t_stop)
    data["provenance"] = {
        "importer": f"rnn2spice {__version__}",
        "source": {
            "file": source.name,
            "sha256": sha256_file(source),
            "format": net.format,
            "layout": net.layout,
            **{k: v for k, v in net.details.items() if k != "names" and v is not None},
            "datasets": dict(net.details.get("names", {})),
        },
        "mapping": {
            "discrete": LINEAR_DISCRETE_EQ if linear else DISCRETE_EQ,
            "continuous": LINEAR_CONTINUOUS_EQ if linear else CONTINUOUS_EQ,
            "dt": float(dt),
            "tau_from": tau_from,
            "input": "x(t) = x[k] for k dt <= t < (k+1) dt (sample and hold)",
            "alignment": "h[k] corresponds to h((k+1) dt)",
            "readout": "y = w_out h + b_out" if net.w_out is not None else None,
            "recurrent_bias": net.bias is not None,
            "steps_in_file": net.steps,
        },
        "default_input": "one pulse of height 1 on input 0 (20 steps from step 50, 1-step edges), 0 on the others",
    }
    return data, ({} if inline else arrays)


def default_inputs(m: int, dt: float, t_stop: float) -> list:
    """Pulse (height 1, width 20 dt, delay 50 dt, edges dt) on input 0, zero on the others.

    Shortened proportionally when the trial is shorter than 100 steps.
    """
    steps = max(1, int(round(t_stop / dt)))
    delay = min(50, steps // 5) * dt
    width = max(1, min(20, steps // 10)) * dt
    edge = dt if steps >= 10 else t_stop / 100
    inputs = []
    for l in range(m):
        if l == 0:
            inputs.append({"kind": "pulse", "low": 0.0, "high": 1.0, "delay": float(delay), "rise": float(edge),
                           "fall": float(edge), "width": float(width), "period": float(2 * t_stop + delay + width + 2 * edge)})
        else:
            inputs.append({"kind": "pwl", "points": [[0.0, 0.0]]})
    return inputs


def spec_yaml(data: dict) -> str:
    import yaml

    prov = data["provenance"]["mapping"]
    source = data["provenance"]["source"]["file"]
    source = source if source.isprintable() else repr(source)  # a newline in a file name would end the comment
    header = (
        f"# Written by rnn2spice import from {source}\n"
        f"# (sha256 {data['provenance']['source']['sha256']}).\n"
        f"# Discrete network:  {prov['discrete']}, step dt = {prov['dt']!r} s\n"
        f"# Circuit model:     {prov['continuous']}\n"
        "# Input sample x[k] is held over [k dt, (k+1) dt); h[k] ~ h((k+1) dt).\n"
        "# The inputs below are a default pulse for `rnn2spice check`; `rnn2spice task` replaces them.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()})
    return buf.getvalue()


@dataclass(frozen=True, eq=False)
class ImportResult:
    spec: RnnSpec
    spec_path: Path
    npz_path: Path | None
    network: ImportedNetwork


def import_model(model: str | os.PathLike, output: str | os.PathLike, *, dt: float, tau: float | None = None,
                 fmt: str | None = None, name: str | None = None, t_stop: float | None = None) -> ImportResult:
    """Read ``model``, write the spec ``output`` (YAML) and, for large networks, its NPZ.

    Everything is read, built and validated before anything is written; both files are
    written atomically (the NPZ first, so the spec never refers to a missing file).
    """
    model, output = Path(model), Path(output)
    dt = positive_seconds(dt, "--dt")
    if tau is not None:
        positive_seconds(tau, "--tau")
    if t_stop is not None:
        positive_seconds(t_stop, "--t-stop")
    if output.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"--output must be a .yaml or .yml file (got {str(output)!r})")
    check_writable(output, "--output")
    npz_path = output.with_suffix(".npz")
    net = read_model(model, fmt)
    inline = net.n <= INLINE_MAX_NEURONS
    if not inline:
        check_writable(npz_path, "--output (matrices)")
        if npz_path.resolve() == model.resolve():
            raise OutputError(f"--output: the matrices would go to {str(npz_path)!r}, which is the model file "
                              "being imported; choose another output name")
    if output.resolve() == model.resolve():
        raise OutputError(f"--output: {str(output)!r} is the model file being imported")
    data, arrays = build_spec(net, source=model, dt=dt, tau=tau, name=name, t_stop=t_stop,
                              npz_name=None if inline else npz_path.name)
    # validate the spec before writing anything (inline copy of the arrays)
    check = dict(data)
    for key, val in data.items():
        if isinstance(val, dict) and set(val) == {"file", "key"}:
            check[key] = arrays[val["key"]].tolist()
    spec_from_dict(check)
    text = spec_yaml(data)
    if not inline:
        write_atomic(npz_path, npz_bytes(arrays), field="--output (matrices)")
    write_atomic(output, text, field="--output")
    from rnn2spice.network.spec import load_spec

    spec = load_spec(output)
    return ImportResult(spec, output, None if inline else npz_path, net)


# --------------------------------------------------------------------------- command line

def register_commands(sub) -> None:
    p = sub.add_parser("import", help="Import a trained RNN (Keras HDF5, PyTorch state_dict, NPZ) as a spec.",
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
    p.add_argument("--t-stop", dest="t_stop", metavar="SECONDS",
                   help="simulation length (default: the sequence length in the file, else "
                        f"{DEFAULT_STEPS} steps)")
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    import sys

    dt = positive_seconds(args.dt, "--dt")
    tau = positive_seconds(args.tau, "--tau") if args.tau is not None else None
    t_stop = positive_seconds(args.t_stop, "--t-stop") if args.t_stop is not None else None
    result = import_model(args.model, args.output, dt=dt, tau=tau, fmt=args.format, name=args.name, t_stop=t_stop)
    spec, net = result.spec, result.network
    files = str(result.spec_path) + (f" and {result.npz_path}" if result.npz_path else "")
    readout = f", readout p = {spec.w_out.shape[0]}" if spec.w_out is not None else ", no readout"
    eig = float(np.max(np.linalg.eigvals(spec.w).real))
    print(f"wrote {files}: {net.format} ({net.layout}) -> n = {spec.n}, m = {spec.m}{readout}, "
          f"tau = {float(spec.tau[0]):g} s, t_stop = {spec.t_stop:g} s, max Re eig(W) = {eig:.3f}", file=sys.stderr)
    return 0
