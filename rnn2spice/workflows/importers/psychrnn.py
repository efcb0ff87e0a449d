"""PsychRNN importer: a ``Basic`` rate network from the ``.npz`` that ``model.save(path)`` writes.

``psychrnn``
    PsychRNN (murraylab/PsychRNN, ``psychrnn/backend/rnn.py``: ``RNN.save`` = ``np.savez`` of
    ``get_weights()``) stores ``W_rec`` (N, N), ``W_in`` (N, m), ``W_out`` (p, N), ``b_rec`` (N),
    ``b_out`` (p), ``init_state`` (1, N), the fixed masks ``rec_connectivity``,
    ``input_connectivity``, ``output_connectivity``, the Dale matrices ``Dale_rec`` (diagonal,
    +1 excitatory / -1 inhibitory) and ``Dale_out`` (diagonal, 1 / 0), the optimiser's slots
    (``W_rec/Adam``, ``W_rec/Adam_1``, ...: ignored) and two pickled objects, ``dale_ratio``
    (``None`` or a number) and ``transfer_function`` (a function).

    The network runs on the *effective* weights (``RNN.get_effective_W_rec`` / ``_W_in`` /
    ``_W_out``)::

        W_rec_eff = W_rec * rec_connectivity;     if dale_ratio: W_rec_eff = |W_rec_eff| @ Dale_rec
        W_in_eff  = W_in * input_connectivity;    if dale_ratio: W_in_eff  = |W_in_eff|
        W_out_eff = W_out * output_connectivity;  if dale_ratio: W_out_eff = |W_out_eff| @ Dale_out

    (``if dale_ratio`` is Python truthiness, as in PsychRNN: ``None`` and ``0`` leave Dale's law
    off).  ``get_weights`` already stores the effective matrices under the plain names; the
    maps are idempotent, so they are applied again here (a hand-assembled file with raw
    weights gives the same network) and the provenance says whether the stored ones were
    effective.  ``models/basic.py`` then runs, with ``alpha = dt / tau``::

        x[k] = (1 - alpha) x[k-1] + alpha (W_rec_eff f(x[k-1]) + W_in_eff u[k] + b_rec) + noise
        y[k] = W_out_eff f(x[k]) + b_out,        x[-1] = init_state

    i.e. the rate convention ``tau dx/dt = -x + W f(x) + W_in u + b`` stepped by forward Euler
    (the recurrent noise is not part of the circuit).  ``dt`` and ``tau`` are not in the file
    (``--dt``, ``--tau``).  ``f`` is named by the pickled ``transfer_function``
    (``tensorflow...relu`` -> ``relu``; the name is read from the pickle, nothing is imported
    or called), ``--activation`` if given, else PsychRNN's default ``relu``.

    The pickled members are read by the restricted decoder of
    :mod:`~rnn2spice.workflows.importers.archive` (never ``np.load(allow_pickle=True)``).
"""

from __future__ import annotations

import math

from pathlib import Path

import numpy as np

from rnn2spice.errors import ModelError, clip, shown
from rnn2spice.network.dale import dale_report
from rnn2spice.workflows.importers.archive import GlobalRef, NpzArchive
from rnn2spice.workflows.importers.network import IMPORT_ACTIVATIONS, ImportedNetwork, _real

#: Arrays of a PsychRNN Basic model file (besides optimiser slots, which contain a '/').
PSYCHRNN_ARRAYS = ("W_rec", "W_in", "W_out", "b_rec", "b_out", "init_state", "Dale_rec", "Dale_out",
                   "rec_connectivity", "input_connectivity", "output_connectivity")
PSYCHRNN_OBJECTS = ("dale_ratio", "transfer_function")
#: Names of transfer functions (the last part of the pickled name) and the activation they are.
TRANSFER_FUNCTIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "softplus": "softplus",
                      "identity": "linear", "linear": "linear"}
DEFAULT_ACTIVATION = "relu"


def is_psychrnn_members(names: list[str]) -> bool:
    """Whether the zip members look like a PsychRNN weights file (W_rec, W_in, W_out .npy)."""
    return all(f"{k}.npy" in names for k in ("W_rec", "W_in", "W_out"))


def read_psychrnn(path: Path, *, activation: str | None = None) -> ImportedNetwork:
    """The effective rate network of a PsychRNN ``.npz`` (module docstring)."""
    with NpzArchive(path) as archive:
        missing = [k for k in ("W_rec", "W_in", "W_out") if k not in archive.keys]
        if missing:
            raise ModelError(f"{path.name}: key", missing[0], "is required in a PsychRNN weights file (model.save); "
                             f"the archive holds {clip(', '.join(archive.keys), 200) or 'nothing'}")
        arrays = {k: _real(archive.array(k), archive.where(k), path) for k in PSYCHRNN_ARRAYS if k in archive.keys}
        objects = {k: archive.object_items(k) for k in PSYCHRNN_OBJECTS if k in archive.keys}
        ignored = [k for k in archive.keys if k not in PSYCHRNN_ARRAYS and k not in PSYCHRNN_OBJECTS]
    where = lambda k: f"{path.name}: {k}"  # noqa: E731
    w_rec, w_in, w_out = arrays["W_rec"], arrays["W_in"], arrays["W_out"]
    if w_rec.ndim != 2 or w_rec.shape[0] != w_rec.shape[1] or w_rec.shape[0] == 0:
        raise ModelError(where("W_rec"), f"shape {w_rec.shape}", "must be square (N_rec, N_rec)")
    n = w_rec.shape[0]
    if w_in.ndim == 1 and w_in.shape == (n,):
        w_in = w_in[:, None]
    if w_in.ndim != 2 or w_in.shape[0] != n:
        raise ModelError(where("W_in"), f"shape {w_in.shape}", f"must be (N_rec, N_in) = ({n}, inputs)")
    if w_out.ndim == 1 and w_out.shape == (n,):
        w_out = w_out[None, :]
    if w_out.ndim != 2 or w_out.shape[1] != n:
        raise ModelError(where("W_out"), f"shape {w_out.shape}", f"must be (N_out, N_rec) = (outputs, {n})")
    m, p = w_in.shape[1], w_out.shape[0]
    shapes = {"b_rec": (n,), "b_out": (p,), "rec_connectivity": (n, n), "input_connectivity": (n, m),
              "output_connectivity": (p, n), "Dale_rec": (n, n), "Dale_out": (n, n)}
    for key, shape in shapes.items():
        if key in arrays and arrays[key].shape != shape:
            raise ModelError(where(key), f"shape {arrays[key].shape}", f"must be {shape} for N_rec = {n}, "
                             f"N_in = {m}, N_out = {p}")
    h0 = arrays.get("init_state")
    if h0 is not None:
        if h0.size != n or h0.ndim > 2:
            raise ModelError(where("init_state"), f"shape {h0.shape}", f"must be (1, {n})")
        h0 = h0.reshape(n)

    dale_ratio = _dale_ratio(objects.get("dale_ratio"), where("dale_ratio"))
    dale_on = bool(dale_ratio)  # PsychRNN: `if self.dale_ratio:`
    if dale_on and ("Dale_rec" not in arrays or "Dale_out" not in arrays):
        raise ModelError(where("Dale_rec" if "Dale_rec" not in arrays else "Dale_out"), "missing",
                         f"Dale's law is on (dale_ratio = {dale_ratio!r}) and needs Dale_rec and Dale_out")

    def masked(key, mask):
        return arrays[key] * arrays[mask] if mask in arrays else arrays[key]

    w_eff = masked("W_rec", "rec_connectivity")
    w_in_eff = (w_in * arrays["input_connectivity"]) if "input_connectivity" in arrays else w_in
    w_out_eff = (w_out * arrays["output_connectivity"]) if "output_connectivity" in arrays else w_out
    if dale_on:
        w_eff = np.abs(w_eff) @ arrays["Dale_rec"]
        w_in_eff = np.abs(w_in_eff)
        w_out_eff = np.abs(w_out_eff) @ arrays["Dale_out"]
    stored_effective = {"W_rec": bool(np.array_equal(w_eff, w_rec)), "W_in": bool(np.array_equal(w_in_eff, w_in)),
                        "W_out": bool(np.array_equal(w_out_eff, w_out))}

    act, act_from, file_function = _activation(objects.get("transfer_function"), activation, where("transfer_function"))
    dale = {"dale_ratio": dale_ratio, "applied": dale_on}
    if "Dale_rec" in arrays:
        diag = np.diag(arrays["Dale_rec"])
        dale["Dale_rec"] = {"excitatory (+1)": int(np.sum(diag == 1)), "inhibitory (-1)": int(np.sum(diag == -1)),
                            "diagonal": bool(np.array_equal(arrays["Dale_rec"], np.diag(diag)))}
    if "Dale_out" in arrays:
        diag = np.diag(arrays["Dale_out"])
        dale["Dale_out"] = {"to readout (1)": int(np.sum(diag == 1)), "not to readout (0)": int(np.sum(diag == 0)),
                            "diagonal": bool(np.array_equal(arrays["Dale_out"], np.diag(diag)))}
    report = dale_report(w_eff).as_dict()
    report.pop("rule")
    dale["effective_W"] = report
    connectivity = {k: float(np.mean(arrays[k] != 0)) for k in ("rec_connectivity", "input_connectivity",
                                                                 "output_connectivity") if k in arrays}
    names = {"w": where("W_rec"), "w_in": where("W_in"), "w_out": where("W_out")}
    if "b_rec" in arrays:
        names["bias"] = where("b_rec")
    if "b_out" in arrays:
        names["b_out"] = where("b_out")
    if h0 is not None:
        names["h0"] = where("init_state")
    details = {
        "names": names,
        "effective": ("W = W_rec * rec_connectivity, W_in = W_in * input_connectivity, w_out = W_out * "
                      "output_connectivity" + ("; Dale's law: W = |W| @ Dale_rec, W_in = |W_in|, "
                                               "w_out = |w_out| @ Dale_out" if dale_on else "")),
        "stored_weights_effective": stored_effective,
        "dale": dale,
        "connectivity_density": connectivity or None,
        "activation_from": act_from,
        "transfer_function": file_function,
        "not_in_file": "dt and tau (alpha = dt / tau): --dt and --tau; the recurrent noise rec_noise is not imported",
        "ignored_keys": {"count": len(ignored), "first": [clip(k, 60) for k in ignored[:8]]} if ignored else None,
    }
    return ImportedNetwork(w=w_eff, w_in=w_in_eff, bias=arrays.get("b_rec"), w_out=w_out_eff,
                           b_out=arrays.get("b_out", np.zeros(p)), activation=act, convention="rate", h0=h0,
                           readout_of="rate", format="psychrnn", layout="psychrnn-npz",
                           details={**details, "readout_from": "PsychRNN's Basic model (y = W_out f(x) + b_out)"})


def _dale_ratio(value, where: str):
    """None or a number from the decoded dale_ratio object (PsychRNN < 1.0 files have none)."""
    if value is None:
        return None
    shape, items = value
    if len(items) != 1:
        raise ModelError(where, f"shape {shape}", "must be a single value (None or a number)")
    item = items[0]
    if item is None:
        return None
    # a pickled int may exceed the float range (10**400): not finite, not an OverflowError
    if isinstance(item, bool) or not isinstance(item, (int, float)) or not (abs(item) < 1e300 and math.isfinite(item)):
        raise ModelError(where, shown(item, 80), "must be None or a finite number")
    if not 0 <= item <= 1:
        raise ModelError(where, item, "must be between 0 and 1 (PsychRNN's dale_ratio)")
    return item


def _activation(value, option: str | None, where: str) -> tuple[str, str, str | None]:
    """(activation, where it came from, the file's function name or None)."""
    name = None
    if value is not None:
        shape, items = value
        if len(items) == 1 and isinstance(items[0], GlobalRef):
            name = str(items[0])
        elif len(items) == 1 and items[0] is None:
            name = None
        else:
            raise ModelError(where, shown(items, 80), "must name a function (a pickled reference)")
    known = TRANSFER_FUNCTIONS.get(name.rpartition(".")[2]) if name else None
    if option is not None:
        if option not in IMPORT_ACTIVATIONS:
            raise ModelError("--activation", option, f"must be one of {', '.join(IMPORT_ACTIVATIONS)}")
        note = f"--activation (the file names {name})" if name else "--activation"
        return option, note, name
    if name is None:
        return DEFAULT_ACTIVATION, "PsychRNN's default tf.nn.relu (the file names no transfer_function)", None
    if known is None:
        raise ModelError(where, name, f"is not one of the known transfer functions "
                         f"({', '.join(sorted(TRANSFER_FUNCTIONS))}); pass --activation to say which it is")
    return known, f"transfer_function {name}", name
