"""From an imported network to a spec: :func:`build_spec`, :func:`spec_yaml` and :func:`import_model`.

The spec is YAML; matrices of networks with more than :data:`INLINE_MAX_NEURONS` neurons
go to ``<spec stem>.npz`` beside it.  Its default input (:func:`default_inputs`) is one
rectangular pulse on input 0 and 0 on the others.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn2spice._version import __version__
from rnn2spice.errors import OutputError, UsageError
from rnn2spice.network.dale import dale_report
from rnn2spice.network.load import load_spec, parse_text
from rnn2spice.network.spec import MAX_SPEC_BYTES, NAME_RE, RnnSpec, spec_from_dict
from rnn2spice.report.display import Displayed
from rnn2spice.report.files import (FILE, HEAD_BYTES, NEW, OUTPUT_KINDS, check_distinct, check_output, check_writable,
                                    output_target, write_atomic)
from rnn2spice.workflows.importers.detect import read_model
from rnn2spice.workflows.importers.network import (DEFAULT_STEPS, INLINE_MAX_NEURONS, ImportedNetwork,
                                                   continuous_equation, discrete_equation, positive_seconds)


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
    elif net.convention == "rate":
        raise UsageError(f"--tau is required for this rate network ({net.format}): the file does not record it, "
                         "and alpha = dt / tau sets the discrete update x[k] = (1 - alpha) x[k-1] + alpha (...) "
                         "(PsychRNN's defaults: dt = 10 ms, tau = 100 ms, alpha = 0.1)")
    else:
        tau_vec = np.full(net.n, dt)
        tau_from = "tau = dt"
    steps = net.steps or DEFAULT_STEPS
    t_stop = steps * dt if t_stop is None else positive_seconds(t_stop, "--t-stop")
    name = name if name is not None else default_name(source)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsageError(f"--name must match [A-Za-z][A-Za-z0-9_-]* with at most 64 characters (got {name!r})")

    arrays: dict[str, np.ndarray] = ({"W": net.w} if net.w_factors is None else
                                     {"W_M": net.w_factors[0], "W_N": net.w_factors[1]})
    arrays["W_in"] = net.w_in
    if net.bias is not None:
        arrays["b"] = net.bias
    if net.w_out is not None:
        arrays["w_out"] = net.w_out
        arrays["b_out"] = net.b_out if net.b_out is not None else np.zeros(net.w_out.shape[0])
    uniform = bool(np.all(tau_vec == tau_vec[0]))
    if not uniform:
        arrays["tau"] = tau_vec
    if net.h0 is not None:
        arrays["h0"] = net.h0
    inline = net.n <= INLINE_MAX_NEURONS
    if not inline and not npz_name:
        raise UsageError("a network this large needs an NPZ file for its matrices (npz_name)")

    def ref(key):
        return arrays[key].tolist() if inline else {"file": npz_name, "key": key}

    rate = net.convention == "rate"
    state = "x" if rate else "h"
    alpha = dt / tau_vec
    data: dict = {
        "name": name,
        "description": (f"Imported from {source.name} ({net.format}, {net.layout}): "
                        f"{net.n} neurons, {net.m} inputs"
                        + (f", {net.w_out.shape[0]} outputs" if net.w_out is not None else "")
                        + f"; discrete step dt = {dt!r} s mapped to tau = {float(tau_vec[0]) if uniform else 'per neuron'} s"
                        + (f" (alpha = dt / tau = {float(alpha[0]):.6g})." if rate and uniform else ".")),
        "convention": net.convention,
        "activation": net.activation,
        "tau": float(tau_vec[0]) if uniform else ref("tau"),
        "w": ref("W") if net.w_factors is None else {"factors": [ref("W_M"), ref("W_N")]},
        "w_in": ref("W_in"),
    }
    if net.bias is not None:
        data["bias"] = ref("b")
    if net.h0 is not None:
        data["h0"] = ref("h0")
    if net.w_out is not None:
        data["w_out"] = ref("w_out")
        data["b_out"] = ref("b_out")
        data["readout_of"] = net.readout_of or ("rate" if rate else "state")
    data["inputs"] = default_inputs(net.m, dt, t_stop)
    data["t_stop"] = float(t_stop)
    data["provenance"] = {
        "importer": f"rnn2spice {__version__}",
        "source": {
            "file": source.name,
            "sha256": sha256_file(source),
            "format": net.format,
            "layout": net.layout,
            **{k: v for k, v in net.details.items() if k not in ("names", "readout_from") and v is not None},
            "datasets": dict(net.details.get("names", {})),
        },
        "mapping": {
            "discrete": discrete_equation(net.convention, net.activation, net.readout_of),
            "continuous": continuous_equation(net.convention, net.activation, net.readout_of),
            "dt": float(dt),
            "tau_from": tau_from,
            **({"alpha": float(alpha[0]) if uniform else [float(a) for a in alpha]} if rate else {}),
            "input": ("u(t) = u[k]" if rate else "x(t) = x[k]") + " for k dt <= t < (k+1) dt (sample and hold)",
            "alignment": f"{state}[k] corresponds to {state}((k+1) dt)",
            "readout": (None if net.w_out is None else
                        f"y = w_out f({state}) + b_out"
                        if (net.readout_of or ("rate" if rate else "state")) == "rate" and net.activation != "linear"
                        else f"y = w_out {state} + b_out"),
            **({"readout_from": net.details["readout_from"]} if net.details.get("readout_from") else {}),
            **({"rank": int(net.w_factors[0].shape[1])} if net.w_factors is not None else {}),
            "initial_state": "from the file" if net.h0 is not None else "zero",
            "recurrent_bias": net.bias is not None,
            "steps_in_file": net.steps,
        },
        **({"dale": dale_report(net.w).as_dict()} if rate and "dale" not in net.details else {}),
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
        f"# Input sample held over [k dt, (k+1) dt); {prov['alignment']}.\n"
        "# The inputs below are a default pulse for `rnn2spice check`; `rnn2spice task` replaces them.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()})
    return buf.getvalue()


@dataclass(frozen=True, eq=False, repr=False)
class ImportResult(Displayed):
    spec: RnnSpec
    spec_path: Path
    npz_path: Path | None
    network: ImportedNetwork

    def _headline(self) -> str:
        return f"{self.spec.name} -> {self.spec_path}" + ("" if self.npz_path is None else f" and {self.npz_path}")

    def _rows(self) -> list[tuple[str, str]]:
        return self.spec._facts()


def import_model(model: str | os.PathLike, output: str | os.PathLike, *, dt: float, tau: float | None = None,
                 fmt: str | None = None, name: str | None = None, t_stop: float | None = None,
                 force: bool = False, keys: str | None = None, convention: str | None = None,
                 activation: str | None = None, readout: str | None = None) -> ImportResult:
    """Read ``model``, write the spec ``output`` (YAML) and, for large networks, its NPZ.

    Everything is read, built and validated before anything is written; both files are
    written atomically (the NPZ first, so the spec never refers to a missing file).

    The NPZ is ``<stem>.npz`` beside the file the spec is written to (a symbolic link
    ``output`` is followed).  An existing NPZ there is replaced only when it is the matrix
    file of an earlier import to ``output`` (:func:`is_imported_npz`) or ``force`` is true.
    ``output`` must be a regular file or a new path (the spec is read back and names its NPZ
    by a relative path), and neither file may be the model.

    ``keys``, ``convention``, ``activation``, ``readout``: see
    :func:`~rnn2spice.workflows.importers.detect.read_model`.
    """
    model, output = Path(model), Path(output)
    dt = positive_seconds(dt, "--dt")
    if tau is not None:
        positive_seconds(tau, "--tau")
    if t_stop is not None:
        positive_seconds(t_stop, "--t-stop")
    if output.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"--output must be a .yaml or .yml file (got {str(output)!r})")
    check_distinct({"--output": output}, {"the model file": model})
    target = output_target(output, "--output")
    if target.kind not in (NEW, FILE):
        raise OutputError(f"--output: {str(output)!r} is a device or FIFO; an imported spec must be a regular "
                          "file (it is read back, and names its matrix file beside it)")
    check_output(output, "--output", "spec", force=force)  # only a spec rnn2spice wrote is replaced
    npz_path = (target.real if output.is_symlink() else output).with_suffix(".npz")
    net = read_model(model, fmt, keys=keys, convention=convention, activation=activation, readout=readout)
    inline = net.n <= INLINE_MAX_NEURONS
    if not inline:
        check_distinct({"--output (matrices)": npz_path}, {"the model file": model, "--output": output})
        check_matrix_file(npz_path, output, "--output (matrices)", force=force)
    data, arrays = build_spec(net, source=model, dt=dt, tau=tau, name=name, t_stop=t_stop,
                              npz_name=None if inline else npz_path.name)
    # validate the spec before writing anything (the arrays in place of their file references)
    def inline_copy(val):
        if isinstance(val, dict) and set(val) == {"file", "key"}:
            return np.asarray(arrays[val["key"]], dtype=float)
        if isinstance(val, dict) and set(val) == {"factors"}:
            return {"factors": [inline_copy(v) for v in val["factors"]]}
        return val

    spec_from_dict({key: inline_copy(val) for key, val in data.items()})
    text = spec_yaml(data)
    if not inline:
        write_atomic(npz_path, npz_bytes(arrays), field="--output (matrices)")
    write_atomic(output, text, field="--output")
    spec = load_spec(output)
    return ImportResult(spec, output, None if inline else npz_path, net)


def check_matrix_file(npz_path: Path, spec_path: Path, field: str, *, force: bool = False) -> None:
    """The output rule for the ``<stem>.npz`` written beside a spec (``import``,
    ``Network.save``): writable, and an existing file there is replaced only when it is the
    matrix file of an earlier spec rnn2spice wrote to ``spec_path`` (:func:`is_imported_npz`),
    or with ``force``; otherwise :class:`OutputError` names it."""
    check_writable(npz_path, field)
    if not force and os.path.lexists(npz_path) and not is_imported_npz(npz_path, spec_path):
        raise OutputError(f"{field}: {str(npz_path)!r} exists and is not the matrix file of an earlier spec "
                          f"rnn2spice wrote to {str(spec_path)!r}; refusing to replace it (move it away, choose "
                          "another name, or pass --force (force=True))")


def is_imported_npz(npz_path: str | os.PathLike, spec_path: str | os.PathLike) -> bool:
    """Whether ``npz_path`` is the matrix file of the spec ``spec_path`` that rnn2spice wrote
    (``import`` or ``Network.save``): that spec exists, carries rnn2spice's first line
    (report/files.py ``SPEC_HEADS``) or ``provenance.importer``, refers to the NPZ by name for
    its matrices, and the NPZ holds exactly the arrays it refers to."""
    npz_path, spec_path = Path(npz_path), Path(spec_path)
    try:
        if not spec_path.is_file() or spec_path.stat().st_size > MAX_SPEC_BYTES:
            return False
        text = spec_path.read_text(encoding="utf-8")
        data = parse_text(text, spec_path)
        provenance = data.get("provenance") if isinstance(data, dict) else None
        importer = provenance.get("importer") if isinstance(provenance, dict) else None
        if not (OUTPUT_KINDS["spec"].is_ours(text.encode()[:HEAD_BYTES])
                or (isinstance(importer, str) and importer.startswith("rnn2spice"))):
            return False
        refs = [val for val in data.values() if isinstance(val, dict)]
        refs += [f for val in refs if set(val) == {"factors"} and isinstance(val["factors"], list)
                 for f in val["factors"] if isinstance(f, dict)]
        keys = {val.get("key") for val in refs
                if set(val) == {"file", "key"} and val.get("file") == npz_path.name}
        if not keys:
            return False
        with np.load(npz_path, allow_pickle=False) as archive:
            return set(archive.files) == keys
    except Exception:  # unreadable, not YAML, not an NPZ: not ours
        return False
