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
from pathlib import Path

import numpy as np

from rnn2spice.errors import ModelError
from rnn2spice.workflows.importers.network import ImportedNetwork, _real


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
