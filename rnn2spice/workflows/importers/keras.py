"""Keras importer: one ``SimpleRNN`` (+ one ``Dense`` readout) from an HDF5 file.

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
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from rnn2spice.errors import ModelError, clip
from rnn2spice.network.spec import LIMIT_NOTE, MAX_NEURONS
from rnn2spice.workflows.importers.network import ImportedNetwork, _real

#: Links (groups, datasets, soft and external links) looked at in a model file at most.
MAX_HDF5_LINKS = 10_000
#: Nesting of layers in ``model_config`` (TimeDistributed, nested models) read at most.
MAX_CONFIG_DEPTH = 32
#: Attributes read (model_config, keras_version, backend): at most this many characters.
MAX_ATTRIBUTE_CHARS = 1 << 20
#: Errors h5py raises on a corrupt or unreadable file, besides its own OSError.
_H5_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError, AttributeError)


def read_keras(path: Path) -> ImportedNetwork:
    """SimpleRNN (+ Dense) from a Keras HDF5 file, Keras 2 or 3 layout.

    Only data stored in the file itself are read: a file with an external link (to another
    file), a dataset in external raw storage (any readable file) or a virtual dataset is
    refused, as is a dataset whose declared shape is beyond the size limits (checked before
    reading, so a 17 kB file cannot declare a 100000 x 100000 matrix into memory).
    """
    import h5py

    try:
        fh = h5py.File(path, "r")
    except _H5_ERRORS as exc:
        raise ModelError("model", path.name, f"cannot read as HDF5 (Keras): {clip(exc)}") from None
    try:
        with fh:
            return _read_open_keras(fh, path)
    except ModelError:
        raise
    except RecursionError:
        raise ModelError("model", path.name, "cannot read as HDF5 (Keras): nested too deeply") from None
    except _H5_ERRORS as exc:  # a corrupt chunk, a broken heap, ...
        raise ModelError("model", path.name, f"cannot read as HDF5 (Keras): {clip(exc)}") from None


def _read_open_keras(fh, path: Path) -> ImportedNetwork:
    import h5py

    _refuse_outside_data(fh, path)
    attrs = {k: _attr_text(fh.attrs, k, path) for k in ("model_config", "keras_version", "backend")
             if k in fh.attrs}
    full_model = "model_weights" in fh
    root = fh["model_weights"] if full_model else fh
    if not isinstance(root, h5py.Group):
        raise ModelError(f"{path.name}: model_weights", "a dataset", "must be a group of layers (as Keras writes it)")
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
    read = lambda name, where: _dataset(root[name], where, path)  # noqa: E731
    rnn = [g for g, d in groups.items() if "recurrent_kernel" in d]
    if not rnn:
        raise ModelError("model", path.name, "no recurrent layer found (no dataset named recurrent_kernel); "
                         "expected a Keras SimpleRNN")
    if len(rnn) > 1:
        raise ModelError("model", path.name, f"{len(rnn)} recurrent layers ({clip(', '.join(full(g) for g in rnn))}); "
                         "only a single SimpleRNN layer can be imported")
    cell = groups.pop(rnn[0])
    if "kernel" not in cell:
        raise ModelError(full(rnn[0]), "no kernel", "the recurrent layer has no input kernel")
    names = {"w": full(cell["recurrent_kernel"]), "w_in": full(cell["kernel"])}
    rk = read(cell["recurrent_kernel"], names["w"])
    kernel = read(cell["kernel"], names["w_in"])
    if rk.ndim != 2 or rk.shape[0] != rk.shape[1]:
        gates = f" ({rk.shape[1] // rk.shape[0]} gates: LSTM or GRU?)" if rk.ndim == 2 and rk.shape[0] and rk.shape[1] % rk.shape[0] == 0 else ""
        raise ModelError(names["w"], f"shape {rk.shape}", "must be square for a SimpleRNN" + gates)
    n = rk.shape[0]
    if kernel.ndim != 2 or kernel.shape[1] != n:
        raise ModelError(names["w_in"], f"shape {kernel.shape}", f"must be (inputs, {n})")
    bias = None
    if "bias" in cell:
        names["bias"] = full(cell["bias"])
        bias = read(cell["bias"], names["bias"])
        if bias.shape != (n,):
            raise ModelError(names["bias"], f"shape {bias.shape}", f"must have {n} entries")
    dense = [g for g, d in groups.items() if "kernel" in d]
    stray = [g for g, d in groups.items() if "kernel" not in d]
    if stray:
        raise ModelError(full(stray[0]), "bias without kernel", "unrecognised layer; only SimpleRNN + Dense models can be imported")
    w_out = b_out = None
    if len(dense) > 1:
        raise ModelError("model", path.name, f"{len(dense)} layers with a kernel besides the SimpleRNN "
                         f"({clip(', '.join(full(g) for g in dense))}); only SimpleRNN + one Dense readout can be imported")
    if dense:
        d = groups[dense[0]]
        names["w_out"] = full(d["kernel"])
        dk = read(d["kernel"], names["w_out"])
        if dk.ndim != 2 or dk.shape[0] != n:
            raise ModelError(names["w_out"], f"shape {dk.shape}",
                             f"a Dense readout after the SimpleRNN must have kernel shape ({n}, outputs)")
        w_out = dk.T
        if "bias" in d:
            names["b_out"] = full(d["bias"])
            b_out = read(d["bias"], names["b_out"])
        else:
            b_out = np.zeros(w_out.shape[0])
    activation, steps, layers = _keras_config(attrs.get("model_config"), path)
    version = attrs.get("keras_version", "")[:100]
    if version:
        layout = f"keras{version.split('.')[0]}-hdf5"
    else:
        layout = "keras2-hdf5" if any(v.endswith(":0") for v in names.values()) else "keras3-hdf5"
    details = {"names": names, "keras_version": version or None, "backend": attrs.get("backend", "")[:100] or None,
               "layers": layers, "full_model": full_model}
    return ImportedNetwork(w=rk.T.copy(), w_in=kernel.T.copy(), bias=bias, w_out=w_out, b_out=b_out,
                           activation=activation, steps=steps, format="keras", layout=layout, details=details)


def _refuse_outside_data(fh, path: Path) -> None:
    """Refuse a file that reaches outside itself: an external link, a dataset with external
    raw storage (it reads any file, which would end up in the spec) or a virtual dataset.
    Every link is looked at (up to MAX_HDF5_LINKS), used by the model or not."""
    import h5py

    count = 0

    def check(name, link):  # returns the problem to stop the walk (an exception here would not pass h5py)
        nonlocal count
        count += 1
        if count > MAX_HDF5_LINKS:
            return ("model", path.name, f"more than {MAX_HDF5_LINKS} groups, datasets and links; "
                    "not a Keras SimpleRNN model file")
        where = f"{path.name}: {clip(name, 100)}"
        if isinstance(link, h5py.ExternalLink):
            return (where, f"external link to {clip(link.filename, 100)}",
                    "links to other files are not followed; save the model as one self-contained file")
        if isinstance(link, h5py.HardLink):
            try:
                obj = fh.get(name)
                if isinstance(obj, h5py.Dataset):
                    if obj.is_virtual:
                        return (where, "a virtual dataset",
                                "refers to data in other files; only data stored in the model file are read")
                    if obj.external:
                        return (where, "external raw storage",
                                "its data live in another file; only data stored in the model file are read")
            except _H5_ERRORS as exc:
                return (where, "unreadable object", f"cannot read as HDF5 (Keras): {clip(exc)}")
        return None

    problem = fh.visititems_links(check)
    if problem is not None:
        raise ModelError(*problem)


def _dataset(ds, where: str, path: Path) -> np.ndarray:
    """A numeric dataset of at most 2 dimensions and MAX_NEURONS^2 entries, shape and type
    checked before a byte of it is read."""
    import h5py

    if not isinstance(ds, h5py.Dataset):
        raise ModelError(where, type(ds).__name__, f"in {path.name} must be a dataset")
    shape = ds.shape
    if shape is None:
        raise ModelError(where, "no data (null dataspace)", f"in {path.name} must hold an array")
    if len(shape) > 2:
        raise ModelError(where, f"shape {tuple(shape)}", f"in {path.name} must have at most 2 dimensions")
    if any(d > 10 * MAX_NEURONS for d in shape) or math.prod(shape) > MAX_NEURONS * MAX_NEURONS:
        raise ModelError(where, f"shape {tuple(shape)}", f"in {path.name}: too large: at most {MAX_NEURONS} neurons "
                         "are supported" + LIMIT_NOTE.format(var="RNN2SPICE_MAX_NEURONS"))
    if ds.dtype.kind not in "fiu":
        raise ModelError(where, f"dtype {ds.dtype}", f"in {path.name} must hold real numbers")
    try:
        data = ds[()]
    except _H5_ERRORS as exc:
        raise ModelError(where, f"shape {tuple(shape)}", f"in {path.name} cannot be read: {clip(exc)}") from None
    return _real(data, where, path)


def _attr_text(attrs, key: str, path: Path) -> str:
    """A text attribute, at most MAX_ATTRIBUTE_CHARS characters."""
    try:
        value = attrs[key]
    except _H5_ERRORS as exc:
        raise ModelError(f"{path.name}: {key}", "unreadable attribute", clip(exc)) from None
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise ModelError(f"{path.name}: {key}", f"shape {value.shape}", "must be a text attribute")
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_ATTRIBUTE_CHARS:
        raise ModelError(f"{path.name}: {key}", f"{len(text)} characters", f"at most {MAX_ATTRIBUTE_CHARS} are read")
    return text


def _keras_config(text: str | None, path: Path) -> tuple[str, int | None, list | None]:
    """(activation, sequence length, layer classes) from the model_config attribute.

    Checks what the weights alone cannot show: a SimpleRNN activation other than tanh or
    linear, a Dense readout with a nonlinear activation, other layers with weights.
    """
    if not text:
        return "tanh", None, None
    try:
        config = json.loads(text)
    except RecursionError:
        raise ModelError(f"{path.name}: model_config", f"{len(text)} characters", "nested too deeply to read") from None
    except (json.JSONDecodeError, ValueError):  # ValueError: an integer of more than 4300 digits
        return "tanh", None, None
    layers = _layer_configs(config, path)
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
    # what goes into the spec's provenance: short class names only
    classes = [clip(c, 100) for c in classes if isinstance(c, str)][:100]
    return activation, steps, classes


def _layer_configs(config, path: Path, depth: int = 0) -> list[tuple[str, dict]]:
    """Flatten (class_name, config) of every layer, unwrapping TimeDistributed."""
    if depth > MAX_CONFIG_DEPTH:
        raise ModelError(f"{path.name}: model_config", f"layers nested more than {MAX_CONFIG_DEPTH} deep",
                         "not a Keras SimpleRNN model")
    out = []
    if isinstance(config, dict):
        cfg = config.get("config", {})
        layers = cfg.get("layers") if isinstance(cfg, dict) else None
        if isinstance(layers, list):
            for layer in layers:
                out.extend(_layer_configs(layer, path, depth + 1))
        elif "class_name" in config:
            if config["class_name"] == "TimeDistributed" and isinstance(cfg, dict) and "layer" in cfg:
                out.extend(_layer_configs(cfg["layer"], path, depth + 1))
            else:
                out.append((config["class_name"], cfg if isinstance(cfg, dict) else {}))
    return out
