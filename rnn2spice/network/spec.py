"""The RNN spec: validation and the model it describes (THEORY.md section 1).

A spec is a mapping (as parsed from YAML or JSON).  Every value is checked here, before
anything is compiled, and every problem raises :class:`~rnn2spice.errors.SpecError`
naming the field and the value.  Units are SI: seconds for ``tau``, ``t_stop``, waveform
times; 1/s for ``w`` and ``w_in`` in the ``paper`` convention; dimensionless in ``ctrnn`` and
``rate`` (THEORY.md section 7: the activation outside the weighted sum).

Layering inside ``rnn2spice.network`` (no cycle)::

    files.py  <-  spec.py  <-  load.py

:func:`spec_from_dict` reads the ``.npy``/``.npz``/CSV files a spec refers to through
:mod:`~rnn2spice.network.files` (relative to ``base_dir``), so it works on its own.
Reading the spec file itself (size limit, strict YAML, JSON) is
:func:`rnn2spice.network.load.load_spec`, which calls :func:`spec_from_dict`; it is not
importable from here, as that would make a cycle.

This module is a little longer than 400 lines on purpose: the validation of every spec key
stays in one place, in the order of the spec, so a field's rules are found by reading down.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rnn2spice.errors import SpecError, shown
from rnn2spice.network.activations import ACTIVATIONS as _FUNCTIONS
from rnn2spice.network.opamp import OpAmpModel, opamp_model
from rnn2spice.network.files import (LIMIT_NOTE, MAX_NEURONS, _limit, MAX_PWL_POINTS, MAX_TOTAL_POINTS, _array_from_file, _check_size,
                                     _did_you_mean, _Files, _read_csv)
from rnn2spice.network.waveform import Pulse, Pwl, Sine, Step, Waveform

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
CONVENTIONS = ("paper", "ctrnn", "rate")
#: The activations (their numeric table: :mod:`rnn2spice.network.activations`).
ACTIVATIONS = tuple(_FUNCTIONS)
#: Conventions with a constant drive ``bias`` (b, dimensionless, inside tau's bracket).
BIAS_CONVENTIONS = ("ctrnn", "rate")

#: MAX_NEURONS (n, refused before allocating n^2 memory) and MAX_PWL_POINTS are enforced
#: while reading files too, so they are defined in files.py and imported above.
MAX_INPUTS = 1000
#: A pulse input is expanded into 4 knots per period for the reference.
MAX_PULSE_PERIODS = MAX_PWL_POINTS // 4
#: Spec files larger than this are refused before reading (hostile or mistaken input): a
#: YAML parser builds a Python object per value, ~1 MiB of "[0,0,0,...]" takes ~2 s with
#: libyaml.  Large matrices belong in .npy/.npz files, long waveforms in CSV files.
MAX_SPEC_BYTES = 2**20
#: At most this many values (YAML nodes, JSON values) in a spec file, every use of a YAML
#: alias counting its whole value again ...
MAX_SPEC_NODES = 100_000
#: ... and of those at most this many reached through aliases (a "billion laughs" document
#: of 500 bytes expands to 10^9 values: refused before it is built).
MAX_ALIAS_NODES = 10_000
#: Longest number token: a numeric string (YAML 1.1 reads 1e-9 as a string) or an integer
#: literal (Python converts at most 4300 digits; no double needs more than ~330 characters).
#: Checked before any regular expression or conversion sees the token.
MAX_TOKEN_CHARS = 1000
#: Non-zero entries of w (or of its factors), w_in and w_out together: each is an element of
#: the netlist (w, w_in) or a term of the readout of every time point (w_out).  A budget, not
#: a cap on n: a dense network of 2000 neurons (4e6 weights) fits, compiling at ~6e5
#: elements/s (benchmarks/run.py) into ~200 MB of netlist; hostile input stays bounded by
#: it (a 70 kB .npz of a dense 2000 x 2000 matrix compiles for ~7 s, no more).  Raised by
#: the environment variable RNN2SPICE_MAX_WEIGHTS (read at import), which the message
#: of a spec that exceeds it names.
MAX_WEIGHTS = _limit("RNN2SPICE_MAX_WEIGHTS", 4_200_000)
#: An input's edges (rise, fall, width) and a pulse's period must be at least this many
#: ulps of the time at which they occur, so that its knots are distinct doubles (a period
#: below an ulp of the delay would repeat the same knot without end).
MIN_EDGE_ULPS = 64
#: Default design values of the circuit: capacitance per parallel cell (F), inductance per
#: series loop (H).
DEFAULT_CAPACITANCE = 1e-9
DEFAULT_INDUCTANCE = 1e-3
#: Default input-resistor base R0 (ohm) of the op-amp form (summers and inverters).
DEFAULT_RESISTANCE = 100e3

#: Largest |phase| of a sine input (degrees): beyond, the phase in radians has lost digits that
#: ngspice and the reference would round differently.
MAX_PHASE_DEGREES = 3600.0

TOP_KEYS = ("name", "description", "tau", "w", "w_in", "bias", "convention", "activation",
            "h0", "inputs", "t_stop", "t_step", "circuit", "w_out", "b_out", "readout_of", "provenance")
#: What the readout y = w_out (.) + b_out takes: the state h or the rate f(h) (THEORY.md 7).
READOUTS = ("state", "rate")
WAVE_KEYS = {
    "step": ("kind", "value", "at", "rise"),
    "pulse": ("kind", "low", "high", "delay", "rise", "fall", "width", "period"),
    "sine": ("kind", "amplitude", "frequency", "offset", "phase"),
    "pwl": ("kind", "points"),
    "file": ("kind", "path"),
}
CIRCUIT_KEYS = ("capacitance", "inductance", "opamp", "resistance", "time_scale", "state_scale", "supply")


#: Supplies a real-part build accepts (V): each rail at least this far from ground, at most the other.
SUPPLY_RANGE = (3.0, 18.0)


def _supply(raw) -> tuple[float, float] | None:
    """``circuit.supply``: ``[negative, positive]`` rails in volts (each 3 .. 18 V from ground), or None."""
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise SpecError("circuit.supply", raw, "must be [negative, positive] rails in volts, e.g. [-12, 12]")
    low, high = (_number(v, "circuit.supply") for v in raw)
    lo, hi = SUPPLY_RANGE
    if not (-hi <= low <= -lo and lo <= high <= hi):
        raise SpecError("circuit.supply", list(raw), f"must be [negative, positive] with each rail {lo:g} .. {hi:g} V "
                                                     "from ground")
    return (float(low), float(high))


class HugeInteger:
    """An integer literal of more than :data:`MAX_TOKEN_CHARS` characters, as the spec
    parsers (:mod:`rnn2spice.network.load`) keep it: never converted (Python refuses to
    convert more than 4300 digits, and no double is that large); :func:`spec_from_dict`
    refuses it wherever a number is expected, naming the field.  Its repr is short."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        body = self.text.strip()
        return f"{body[:20]}...({len(body)} characters)"

    __str__ = __repr__


@dataclass(frozen=True, eq=False, repr=False)
class RnnSpec:
    """A validated network.  Arrays are float64 and read-only.

    Paper convention:  dh/dt = -lam h + sigma(w h + w_in x)                 (eq. 1)
    CTRNN convention:  tau dh/dt = -h + sigma(w h + w_in x + bias)
    rate convention:   tau dh/dt = -h + w sigma(h) + w_in x + bias          (THEORY.md 7)
    """

    name: str
    tau: np.ndarray                 # (n,) s
    w: np.ndarray                   # (n, n)  1/s (paper) or dimensionless (ctrnn, rate)
    w_in: np.ndarray                # (n, m)
    inputs: tuple[Waveform, ...]    # m waveforms
    t_stop: float                   # s
    convention: str = "paper"
    activation: str = "linear"
    bias: np.ndarray | None = None  # (n,), ctrnn and rate only
    h0: np.ndarray | None = None    # (n,) initial state
    t_step: float | None = None     # s, output / maximum step
    capacitance: float = DEFAULT_CAPACITANCE  # F per parallel cell
    inductance: float = DEFAULT_INDUCTANCE    # H per series loop
    w_out: np.ndarray | None = None  # (p, n) readout
    b_out: np.ndarray | None = None  # (p,)
    description: str = ""
    provenance: dict = field(default_factory=dict)
    opamp: OpAmpModel = OpAmpModel()  # the op-amp of the opamp form (circuit.opamp)
    resistance: float = DEFAULT_RESISTANCE  # ohm, the opamp form's R0 (circuit.resistance)
    time_scale: float = 1.0   # k: circuit time = model time / k (THEORY.md 5, circuit.time_scale)
    state_scale: float = 1.0  # s: volts (amperes in the series form) per unit of h (circuit.state_scale)
    supply: tuple[float, float] | None = None  # V, (negative, positive) rails of a real-part build (circuit.supply)
    #: y = w_out h ("state") or w_out f(h) ("rate"); None: the convention's (rate: "rate", else "state")
    readout_of: str | None = None
    #: w = M N given as its factors (M n x r, N r x n; spec ``w: {factors: [M, N]}``), kept so
    #: the compiler realises the rank-r coupling with r latent nodes (THEORY.md 8); ``w`` is
    #: their product.
    w_factors: tuple[np.ndarray, np.ndarray] | None = None

    def __post_init__(self):
        n = self.tau.shape[0]
        if self.h0 is None:
            object.__setattr__(self, "h0", np.zeros(n))
        if self.bias is None:
            object.__setattr__(self, "bias", np.zeros(n))
        if self.readout_of not in (None, *READOUTS):
            raise ValueError(f"readout_of must be one of {READOUTS} or None (got {self.readout_of!r})")
        if self.w_factors is not None:
            m_f, n_f = self.w_factors
            if m_f.ndim != 2 or n_f.ndim != 2 or m_f.shape[0] != n or n_f.shape != (m_f.shape[1], n):
                raise ValueError(f"w_factors must be (n x r, r x n) with n = {n} (got {m_f.shape}, {n_f.shape})")
        for arr in (self.tau, self.w, self.w_in, self.h0, self.bias, self.w_out, self.b_out,
                    *(self.w_factors or ())):
            if arr is not None:
                arr.setflags(write=False)

    @property
    def rate_readout(self) -> bool:
        """Whether the readout takes the rates f(h) (``readout_of: rate``; by default in the
        rate convention) rather than the states h."""
        return (self.readout_of or ("rate" if self.convention == "rate" else "state")) == "rate"

    @property
    def rank(self) -> int | None:
        """r of a factored w = M N (None: dense)."""
        return None if self.w_factors is None else int(self.w_factors[0].shape[1])

    @property
    def n(self) -> int:
        return self.tau.shape[0]

    @property
    def m(self) -> int:
        return self.w_in.shape[1]

    @property
    def lam(self) -> np.ndarray:
        """Leak rates 1/tau_k (1/s)."""
        return 1.0 / self.tau

    def paper_form(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(w, w_in, c) of the paper convention, in 1/s, with the constant drive c (1/s).

        CTRNN and rate weights map as w = D W, w_in = D U, c = D b with D = diag(1/tau)
        (THEORY.md sections 1 and 7); exact for the linear network, and for a nonlinear one
        the network with every slope f' set to 1 (:meth:`state_matrix`).
        """
        if self.convention == "paper":
            return np.asarray(self.w), np.asarray(self.w_in), np.zeros(self.n)
        d = self.lam[:, None]
        return d * self.w, d * self.w_in, self.lam * self.bias

    def paper_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """(D M, N) of a factored w = M N in the paper convention (w_paper = D M N, 1/s; D as in
        :meth:`paper_form`), for the compiler's latent nodes (THEORY.md 8); a latent i that
        carries nothing (N's row or M's column all zero) has both zeroed."""
        m_f, n_f = (np.asarray(a) for a in self.w_factors)
        used = np.any(n_f, axis=1) & np.any(m_f, axis=0)
        m_f, n_f = m_f * used[None, :], n_f * used[:, None]
        if self.convention == "paper":
            return np.asarray(m_f), np.asarray(n_f)
        return self.lam[:, None] * m_f, np.asarray(n_f)

    def state_matrix(self, slope: float = 1.0) -> np.ndarray:
        """A = slope w - lam, 1/s: the linear network (eq. 4), or a nonlinear one with every
        f' set to ``slope`` (1: the structure the certificate compares, THEORY.md 7)."""
        w, _, _ = self.paper_form()
        return slope * w - np.diag(self.lam)

    def with_scales(self, time_scale: float | None = None, state_scale: float | None = None) -> "RnnSpec":
        """The same network with the circuit's time and/or state scale replaced (None: keep),
        validated like the spec keys ``circuit.time_scale`` / ``circuit.state_scale``."""
        k = self.time_scale if time_scale is None else _scale(time_scale, "circuit.time_scale")
        s = self.state_scale if state_scale is None else _scale(state_scale, "circuit.state_scale")
        if k == self.time_scale and s == self.state_scale:
            return self
        spec = replace(self, time_scale=k, state_scale=s)
        _check_scales(spec)
        return spec

    @property
    def max_slope(self) -> float:
        """sup |f'| of the activation (1 for linear, tanh, relu, softplus; 1/4 for sigmoid)."""
        return _FUNCTIONS[self.activation].max_slope

    def _facts(self) -> list[tuple[str, str]]:
        taus = np.unique(self.tau)
        facts = [("neurons n", str(self.n)), ("inputs m", str(self.m)),
                 ("readout p", "none" if self.w_out is None else str(self.w_out.shape[0])),
                 ("equation", f"{self.convention}, activation {self.activation}"),
                 ("tau (s)", f"{taus[0]:g}" if taus.size == 1 else f"{taus.min():g} .. {taus.max():g}"),
                 ("t_stop (s)", f"{self.t_stop:g}")]
        source = self.provenance.get("source")
        if isinstance(source, dict):
            source = source.get("file")
        if source:
            facts.append(("imported from", str(source)[:120]))
        return facts

    def __repr__(self) -> str:
        """A few lines (a network's arrays are in its fields, never in its repr)."""
        return "\n".join([f"<RnnSpec {self.name}>", *(f"  {k}: {v}" for k, v in self._facts())])

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(v)}</td></tr>" for k, v in self._facts())
        return f"<div><b>RnnSpec</b> {html.escape(self.name)}<table>{rows}</table></div>"

    def to_dict(self) -> dict:
        """The spec mapping of this network: :func:`spec_from_dict` of it gives the same network
        (every number exactly: floats stay Python floats, which YAML and JSON write in full).
        Arrays become nested lists; keys left at their defaults are omitted."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["convention"] = self.convention
        out["activation"] = self.activation
        out["tau"] = self.tau.tolist()
        out["w"] = (self.w.tolist() if self.w_factors is None else  # the rank-r coupling stays factored
                    {"factors": [self.w_factors[0].tolist(), self.w_factors[1].tolist()]})
        if self.m:
            out["w_in"] = self.w_in.tolist()
            out["inputs"] = [_waveform_dict(x) for x in self.inputs]
        if self.convention in BIAS_CONVENTIONS and np.any(self.bias):
            out["bias"] = self.bias.tolist()
        if np.any(self.h0):
            out["h0"] = self.h0.tolist()
        out["t_stop"] = float(self.t_stop)
        if self.t_step is not None:
            out["t_step"] = float(self.t_step)
        circuit = {k: float(v) for k, v, default in (
            ("capacitance", self.capacitance, DEFAULT_CAPACITANCE), ("inductance", self.inductance, DEFAULT_INDUCTANCE),
            ("resistance", self.resistance, DEFAULT_RESISTANCE), ("time_scale", self.time_scale, 1.0),
            ("state_scale", self.state_scale, 1.0)) if v != default}
        if self.opamp != OpAmpModel():
            op = self.opamp
            circuit["opamp"] = {"model": op.model, "gain": float(op.gain),
                                **({} if op.gbw is None else {"gbw": float(op.gbw)}),
                                **({} if op.rails is None else {"rails": [float(r) for r in op.rails]})}
        if circuit:
            out["circuit"] = circuit
        if self.w_out is not None:
            out["w_out"] = self.w_out.tolist()
            out["b_out"] = self.b_out.tolist()
        if self.readout_of is not None:
            out["readout_of"] = self.readout_of
        if self.provenance:
            out["provenance"] = _plain(self.provenance)
        return out


def _plain(value):
    """``value`` with numpy scalars and arrays as Python numbers and lists (YAML-safe)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _waveform_dict(wave: Waveform) -> dict:
    """The ``inputs[i]`` mapping of a waveform (a ``file`` input comes back as its ``pwl`` points)."""
    if isinstance(wave, Step):
        return {"kind": "step", "value": float(wave.value_after), "at": float(wave.at), "rise": float(wave.rise)}
    if isinstance(wave, Pulse):
        return {"kind": "pulse", **{k: float(getattr(wave, k)) for k in
                                    ("low", "high", "delay", "rise", "fall", "width", "period")}}
    if isinstance(wave, Sine):
        return {"kind": "sine", **{k: float(getattr(wave, k)) for k in ("amplitude", "frequency", "offset", "phase")}}
    if isinstance(wave, Pwl):
        return {"kind": "pwl", "points": [[float(t), float(v)] for t, v in zip(wave.times, wave.values)]}
    raise TypeError(f"no spec form for waveform {type(wave).__name__}")  # pragma: no cover - every kind above


def spec_from_dict(data: Any, *, base_dir: str | os.PathLike = ".", allow_outside: bool = False) -> RnnSpec:
    """Validate a spec mapping (as parsed from YAML/JSON) into an :class:`RnnSpec`.

    Array fields (tau, w, w_in, h0, bias, w_out, b_out) may be lists, numpy arrays or
    ``{file: ..., key: ...}`` references, which are read relative to ``base_dir``.
    """
    files = _Files(Path(base_dir).resolve(), allow_outside)
    if not isinstance(data, dict):
        raise SpecError("spec", data, "must be a mapping of keys to values")
    _check_keys(data, TOP_KEYS, "")
    for key in ("name", "tau", "w", "t_stop"):
        if key not in data:
            raise SpecError(key, None, "is required")

    name = data["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError("name", name, "must match [A-Za-z][A-Za-z0-9_-]* with at most 64 characters")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SpecError("description", description, "must be a string")

    convention = data.get("convention", "paper")
    if convention not in CONVENTIONS:
        raise SpecError("convention", convention, f"must be one of {', '.join(CONVENTIONS)}"
                        + _did_you_mean(convention, CONVENTIONS))
    activation = data.get("activation", "linear")
    if activation not in ACTIVATIONS:
        raise SpecError("activation", activation, f"must be one of {', '.join(ACTIVATIONS)}"
                        + _did_you_mean(activation, ACTIVATIONS))

    w_factors = None
    if isinstance(data["w"], dict) and "factors" in data["w"]:
        w, w_factors = _factors(data["w"], files)
    else:
        w = _matrix(data["w"], "w", files)
    n = w.shape[0]
    if w.shape[1] != n:
        raise SpecError("w", f"shape {w.shape}", "must be square (n x n)")
    if n == 0:
        raise SpecError("w", "shape (0, 0)", "the network has no neurons")

    tau_raw = data["tau"]
    if isinstance(tau_raw, (list, tuple, dict)) or (isinstance(tau_raw, np.ndarray) and tau_raw.ndim):
        tau = _vector(tau_raw, "tau", n, files)
    else:
        tau = np.full(n, _number(tau_raw, "tau"))
    for k, t in enumerate(tau):
        if not t > 0:
            raise SpecError("tau" if np.ndim(tau_raw) == 0 else f"tau[{k}]", float(t), "must be a positive number of seconds")

    inputs_raw = data.get("inputs", [])
    if inputs_raw is None:
        inputs_raw = []
    if not isinstance(inputs_raw, list):
        raise SpecError("inputs", inputs_raw, "must be a list of waveforms")
    if len(inputs_raw) > MAX_INPUTS:
        raise SpecError("inputs", f"{len(inputs_raw)} waveforms", f"at most {MAX_INPUTS} inputs are supported")

    t_stop = _number(data["t_stop"], "t_stop")
    if not t_stop > 0:
        raise SpecError("t_stop", t_stop, "must be a positive number of seconds")
    t_step = data.get("t_step")
    if t_step is not None:
        t_step = _number(t_step, "t_step")
        if not 0 < t_step <= t_stop:
            raise SpecError("t_step", t_step, f"must be positive and at most t_stop = {t_stop!r}")

    if "w_in" in data and data["w_in"] is not None:
        w_in = _matrix(data["w_in"], "w_in", files, allow_empty_columns=True)
        if w_in.shape[0] != n:
            raise SpecError("w_in", f"shape {w_in.shape}", f"must have n = {n} rows, one per neuron")
    else:
        w_in = np.zeros((n, 0))
    m = w_in.shape[1]
    coupling = (int(np.count_nonzero(w)) if w_factors is None
                else int(np.count_nonzero(w_factors[0]) + np.count_nonzero(w_factors[1])))
    weights = coupling + int(np.count_nonzero(w_in))
    if weights > MAX_WEIGHTS:
        raise SpecError("w_in" if coupling <= MAX_WEIGHTS else "w",
                        f"{weights} non-zero weights in w and w_in",
                        f"too large: at most {MAX_WEIGHTS} non-zero weights (w or its factors, w_in and w_out "
                        f"together) are supported{LIMIT_NOTE.format(var='RNN2SPICE_MAX_WEIGHTS')}")
    if len(inputs_raw) != m:
        raise SpecError("inputs", f"{len(inputs_raw)} waveforms",
                        f"w_in has m = {m} columns, so exactly {m} input waveforms are needed")
    inputs = []
    knots = 0
    for i, raw in enumerate(inputs_raw):
        wave = _waveform(raw, f"inputs[{i}]", t_stop, files, MAX_TOTAL_POINTS - knots)
        knots += knot_count(wave, t_stop)
        if knots > MAX_TOTAL_POINTS:
            raise SpecError(f"inputs[{i}]", f"{knots} knots in inputs[0..{i}]",
                            f"the inputs together may have at most {MAX_TOTAL_POINTS} knots (PWL points, "
                            "4 per pulse period, 2 per step)")
        inputs.append(wave)
    inputs = tuple(inputs)

    h0 = _vector(data["h0"], "h0", n, files) if data.get("h0") is not None else np.zeros(n)
    bias = None
    if data.get("bias") is not None:
        if convention not in BIAS_CONVENTIONS:
            raise SpecError("bias", "given", f"is only allowed with convention {' or '.join(BIAS_CONVENTIONS)} "
                                             f"(convention is {convention!r})")
        bias = _vector(data["bias"], "bias", n, files)

    circuit = data.get("circuit") or {}
    if not isinstance(circuit, dict):
        raise SpecError("circuit", circuit, "must be a mapping")
    _check_keys(circuit, CIRCUIT_KEYS, "circuit.")
    cap = _number(circuit.get("capacitance", DEFAULT_CAPACITANCE), "circuit.capacitance")
    ind = _number(circuit.get("inductance", DEFAULT_INDUCTANCE), "circuit.inductance")
    opamp = opamp_model(circuit.get("opamp"))  # the op-amp of the opamp form (network/opamp.py)
    res = _number(circuit.get("resistance", DEFAULT_RESISTANCE), "circuit.resistance")
    for key, val in (("circuit.capacitance", cap), ("circuit.inductance", ind), ("circuit.resistance", res)):
        if not val > 0:
            raise SpecError(key, val, "must be positive")
    time_scale = _scale(circuit.get("time_scale", 1.0), "circuit.time_scale")
    state_scale = _scale(circuit.get("state_scale", 1.0), "circuit.state_scale")
    supply = _supply(circuit.get("supply"))

    w_out = b_out = None
    if data.get("w_out") is not None:
        w_out = _matrix(data["w_out"], "w_out", files)
        if w_out.shape[1] != n:
            raise SpecError("w_out", f"shape {w_out.shape}", f"must have n = {n} columns")
        weights += int(np.count_nonzero(w_out))
        if weights > MAX_WEIGHTS:
            raise SpecError("w_out", f"{weights} non-zero weights in w, w_in and w_out",
                            f"too large: at most {MAX_WEIGHTS} non-zero weights (w or its factors, w_in and w_out "
                            f"together) are supported{LIMIT_NOTE.format(var='RNN2SPICE_MAX_WEIGHTS')}")
        b_out = (_vector(data["b_out"], "b_out", w_out.shape[0], files)
                 if data.get("b_out") is not None else np.zeros(w_out.shape[0]))
    elif data.get("b_out") is not None:
        raise SpecError("b_out", "given", "needs w_out")
    readout_of = data.get("readout_of")
    if readout_of is not None:
        if readout_of not in READOUTS:
            raise SpecError("readout_of", _short(readout_of), f"must be one of {', '.join(READOUTS)}"
                            + _did_you_mean(readout_of, READOUTS))
        if w_out is None:
            raise SpecError("readout_of", readout_of, "needs w_out (the readout it describes)")

    provenance = data.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise SpecError("provenance", provenance, "must be a mapping")

    spec = RnnSpec(name=name, tau=tau, w=w, w_in=w_in, inputs=inputs, t_stop=t_stop,
                   convention=convention, activation=activation, bias=bias, h0=h0,
                   t_step=t_step, capacitance=cap, inductance=ind, w_out=w_out, b_out=b_out,
                   description=description, provenance=provenance, opamp=opamp, resistance=res,
                   time_scale=time_scale, state_scale=state_scale, readout_of=readout_of, w_factors=w_factors,
                   supply=supply)
    _check_scales(spec)
    return spec


def _factors(raw: dict, files: _Files) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``w: {factors: [M, N]}``: w = M N with M (n x r) and N (r x n), each a matrix as ``w``
    may be (rows, an array, ``{file, key}``); returns (M N, (M, N))."""
    _check_keys(raw, ("factors",), "w.")
    parts = raw["factors"]
    if not isinstance(parts, (list, tuple)) or len(parts) != 2:
        raise SpecError("w.factors", _short(parts), "must be a list of two matrices [M, N] (w = M N, M n x r, N r x n)")
    m_f = _matrix(parts[0], "w.factors[0]", files)
    n_f = _to_float_array(parts[1], "w.factors[1]", files, 2)
    n, r = m_f.shape
    if n == 0 or r == 0:
        raise SpecError("w.factors[0]", f"shape {m_f.shape}", "must be n x r with n, r >= 1")
    if n_f.shape != (r, n):
        raise SpecError("w.factors[1]", f"shape {n_f.shape}", f"must be r x n = ({r}, {n}) to match w.factors[0] "
                                                               f"of shape {m_f.shape}")
    if r >= n:
        raise SpecError("w.factors[0]", f"shape {m_f.shape}", f"rank r = {r} is not below n = {n}: give w dense "
                                                               "(factors save elements only when r < n / 2)")
    with np.errstate(all="ignore"):
        w = m_f @ n_f
    bad = np.argwhere(~np.isfinite(w))
    if bad.size:
        raise SpecError("w.factors", f"w{list(int(i) for i in bad[0])}", "the product M N overflows")
    return w, (m_f, n_f)


# --------------------------------------------------------------------------- helpers

def _scale(value: Any, where: str) -> float:
    """A time or state scale: a finite positive number (THEORY.md 5)."""
    x = _number(value, where)
    if not x > 0:
        raise SpecError(where, value, "must be a positive number (1: unscaled)")
    return x


#: Largest sum of a row's |rates| (1/s, paper form): far beyond any network the step limits
#: admit, small enough that sums and products of rates stay finite.
MAX_ROW_RATE = 1e300


def _check_scales(spec: RnnSpec) -> None:
    """Every circuit value the compiler derives from the spec (R = tau / C or L / tau,
    alpha = C w, rho = L w, ...; THEORY.md sections 2-3) must be a finite non-zero double,
    unscaled and then with the circuit's time and state scales k and s (THEORY.md 5: tau / k,
    w k, times / k, h0 s, inputs s, drives k s), which are named when only they break it."""
    _check_values(spec, 1.0, 1.0)
    k, s = spec.time_scale, spec.state_scale
    if k == 1.0 and s == 1.0:
        return
    for key, value, kk, ss in (("circuit.time_scale", k, k, 1.0), ("circuit.state_scale", s, 1.0, s),
                               ("circuit.time_scale", k, k, s)):
        try:
            _check_values(spec, kk, ss)
        except SpecError as exc:
            raise SpecError(key, value, f"puts a circuit value outside the floating-point range ({exc})") from None


def _check_values(spec: RnnSpec, k: float, s: float) -> None:
    """The finite-range checks of :func:`_check_scales` at time scale k and state scale s."""
    with np.errstate(all="ignore"):
        if k != 1.0 or s != 1.0:
            times = [spec.t_stop / k] + ([spec.t_step / k] if spec.t_step is not None else [])
            if not all(math.isfinite(t) and t >= 1e-290 for t in times):
                raise SpecError("t_stop", spec.t_stop, f"gives the circuit's t_stop / k = {spec.t_stop / k!r} s")
            for name, arr in (("h0", spec.h0 * s), ("inputs", np.array([_wave_size(w) for w in spec.inputs]) * s)):
                if not np.all(np.isfinite(arr)):
                    raise SpecError(name, "scaled", "gives a non-finite circuit value (x s)")
        tau = spec.tau / k if k != 1.0 else spec.tau
        gains = (() if s == 1.0 else (("gain C s / tau", spec.capacitance * s / tau),
                                      ("gain L s / tau", spec.inductance * s / tau)))
        for label, values in (("1 / tau", 1.0 / tau), ("R = tau / C", tau / spec.capacitance),
                              ("R = L / tau", spec.inductance / tau), *gains):
            bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
            if bad.size:
                k = int(bad[0])
                raise SpecError("tau" if np.all(tau == tau[0]) else f"tau[{k}]", float(tau[k]),
                                f"gives {label} = {float(values[k])!r}, outside the floating-point range of the "
                                "circuit; rescale tau or circuit.capacitance / circuit.inductance")
        w, w_in, drive = spec.paper_form()
        for name, arr in (("w", w * k), ("w_in", w_in * k), ("bias", drive * (k * s))):
            for label, scale in (("", 1.0), (" x C", spec.capacitance * s), (" x L", spec.inductance * s)):
                scaled = arr * scale
                bad = np.argwhere(~np.isfinite(scaled))
                if bad.size:
                    idx = tuple(int(i) for i in bad[0])
                    raw = getattr(spec, name)[idx]
                    raise SpecError(name + "".join(f"[{i}]" for i in idx), float(raw),
                                    f"gives {name}{' / tau' if spec.convention in BIAS_CONVENTIONS else ''}{label} = "
                                    f"{float(scaled[idx])!r}, outside the floating-point range of the circuit")
        # each entry finite is not enough: a row's rates are summed (the spectral radius's bound,
        # an op-amp summer's total conductance), and two entries of 1e308 sum to infinity (a
        # ZeroDivisionError / OverflowError, exit 70, where a bad input is exit 2)
        for name, arr in (("w", w * k), ("w_in", w_in * k)):
            sums = np.abs(arr).sum(axis=1) if arr.size else np.zeros(0)
            bad = np.flatnonzero(~(np.isfinite(sums) & (sums <= MAX_ROW_RATE)))
            if bad.size:
                i = int(bad[0])
                raise SpecError(f"{name}[{i}]", f"row sum {float(sums[i]):.3g} 1/s",
                                f"the row's rates (|{name}|{' / tau' if spec.convention in BIAS_CONVENTIONS else ''}"
                                f", summed) are beyond {MAX_ROW_RATE:g} 1/s, outside the floating-point range "
                                "of the circuit")


def _wave_size(wave: Waveform) -> float:
    """Largest |value| of an input waveform (its knots, or offset + amplitude)."""
    if isinstance(wave, Sine):
        return abs(wave.offset) + abs(wave.amplitude)
    if isinstance(wave, Pulse):
        return max(abs(wave.low), abs(wave.high))
    return abs(wave.value_after) if isinstance(wave, Step) else max(abs(v) for v in wave.values)


def _check_keys(data: dict, allowed, prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise SpecError(f"{prefix}{key}", data[key] if not isinstance(data[key], (list, dict)) else type(data[key]).__name__,
                            "unknown key" + _did_you_mean(key, allowed))


#: A decimal number as YAML 1.1 leaves it a string ('1e-9'); unambiguous (linear time).
_NUMBER_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\Z")


#: A number followed by a unit or an SI suffix ('1 ms', '10k', '2.2uF'): the spec is in plain SI units.
_WITH_UNIT_RE = re.compile(r"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*[A-Za-z\u00b5\u03bc\u2126]{1,8}\s*\Z")


def _number(value: Any, where: str) -> float:
    """A finite real number; YAML's '1e-9' (read as a string by YAML 1.1) is accepted."""
    if isinstance(value, bool):
        raise SpecError(where, value, "must be a number")
    if isinstance(value, HugeInteger):
        raise SpecError(where, value, "must be finite (the number is beyond floating-point range)")
    given = value
    if isinstance(value, str):
        if len(value) > MAX_TOKEN_CHARS:  # checked before any pattern sees it
            raise SpecError(where, value, f"must be a number (a number has at most {MAX_TOKEN_CHARS} characters, "
                                          f"this string has {len(value)})")
        if _NUMBER_RE.match(value.strip()):
            value = float(value)  # the pattern admits only what float() parses
    if not isinstance(value, (int, float, np.integer, np.floating)):
        hint = (" in SI units without a unit or suffix (seconds, volts, ohms, farads: 1 ms is 1e-3)"
                if isinstance(value, str) and _WITH_UNIT_RE.match(value) else "")
        raise SpecError(where, value, "must be a number" + hint)
    try:
        x = float(value)
    except OverflowError:  # an integer beyond the range of a double
        raise SpecError(where, value, "must be finite (the number is beyond floating-point range)") from None
    if not math.isfinite(x):
        raise SpecError(where, given, "must be finite (no NaN or infinity)")
    return x


def _to_float_array(raw: Any, where: str, files: _Files, ndim: int) -> np.ndarray:
    """A finite float64 copy of a list (of rows), a numpy array or a {file: ..., key: ...}."""
    if isinstance(raw, dict):
        _check_keys(raw, ("file", "key"), f"{where}.")
        arr = _array_from_file(raw, where, files)
    elif isinstance(raw, np.ndarray):  # API users may pass arrays; same limits as a file
        _check_size(raw.shape, where)
        arr = raw
    else:
        if isinstance(raw, list):
            _check_size((len(raw),) + ((len(raw[0]),) if raw and isinstance(raw[0], list) else ()), where)
        if ndim == 2 and isinstance(raw, list):
            if not all(isinstance(row, list) for row in raw):
                raise SpecError(where, _short(raw), "must be a list of rows (a matrix)")
            lengths = {len(row) for row in raw}
            if len(lengths) > 1:
                raise SpecError(where, f"row lengths {sorted(lengths)}", "rows must all have the same length")
            arr = np.array([[_number(v, f"{where}[{i}][{j}]") for j, v in enumerate(row)]
                            for i, row in enumerate(raw)], dtype=float).reshape(len(raw), -1 if raw else 0)
        elif ndim == 1 and isinstance(raw, list):
            arr = np.array([_number(v, f"{where}[{i}]") for i, v in enumerate(raw)], dtype=float)
        else:
            raise SpecError(where, _short(raw), "must be a " + ("matrix (list of rows)" if ndim == 2 else "list of numbers")
                            + " or {file: ...}")
    if arr.dtype.kind not in "fiu":
        raise SpecError(where, f"dtype {arr.dtype}", "must hold real numbers (float or int)")
    arr = np.asarray(arr, dtype=float)
    if arr.ndim != ndim:
        raise SpecError(where, f"shape {arr.shape}", f"must have {ndim} dimension(s)")
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        idx = "".join(f"[{i}]" for i in bad[0])
        raise SpecError(f"{where}{idx}", float(arr[tuple(bad[0])]), "must be finite (no NaN or infinity)")
    return arr.copy()


def _matrix(raw, where, files, allow_empty_columns=False) -> np.ndarray:
    arr = _to_float_array(raw, where, files, 2)
    if arr.shape[0] > MAX_NEURONS:
        raise SpecError(where, f"shape {arr.shape}", f"too large: at most {MAX_NEURONS} neurons are supported"
                             + LIMIT_NOTE.format(var="RNN2SPICE_MAX_NEURONS"))
    return arr


def _vector(raw, where, n, files) -> np.ndarray:
    arr = _to_float_array(raw, where, files, 1)
    if arr.shape[0] != n:
        raise SpecError(where, f"length {arr.shape[0]}", f"must have n = {n} entries, one per neuron")
    return arr


def _short(value: Any) -> Any:
    """``value`` itself when its repr is short, else its repr cut to 60 characters (built
    in bounded time, :func:`rnn2spice.errors.shown`)."""
    text = shown(value, 60)
    return value if not text.endswith("...") else text


def knot_count(wave: Waveform, t_stop: float) -> int:
    """Knots of an input over [0, t_stop]: what its netlist card and the reference hold."""
    if isinstance(wave, Pwl):
        return len(wave.times)
    if isinstance(wave, Pulse):
        return 1 + 4 * wave.periods(t_stop)
    return 2 if isinstance(wave, Step) else 0


def _check_edge(where: str, key: str, x: float, at: float) -> None:
    """Refuse an edge or period ``x`` (s) below MIN_EDGE_ULPS ulps of the time ``at`` (s)
    where it occurs: ``at + x`` would not be a distinct double."""
    floor = MIN_EDGE_ULPS * math.ulp(abs(at))
    if x < floor:
        raise SpecError(f"{where}.{key}", x, f"is below {MIN_EDGE_ULPS} ulps of the time {at!r} s at which it "
                                             f"occurs (at least {floor!r} s): the knots would coincide in "
                                             "floating point")


def _waveform(raw: Any, where: str, t_stop: float, files: _Files, room: int = MAX_TOTAL_POINTS) -> Waveform:
    """Input ``where``; ``room``: knots the inputs before it leave of MAX_TOTAL_POINTS."""
    if not isinstance(raw, dict):
        raise SpecError(where, _short(raw), "must be a mapping with a 'kind'")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in WAVE_KEYS:
        raise SpecError(f"{where}.kind", kind, f"must be one of {', '.join(WAVE_KEYS)}" + _did_you_mean(kind, WAVE_KEYS))
    _check_keys(raw, WAVE_KEYS[kind], f"{where}.")
    default_edge = 1e-6 * t_stop  # finite edges: SPICE replaces a zero rise by its own step

    def num(key, default=None, *, positive=False, nonneg=False):
        if key not in raw:
            if default is None:
                raise SpecError(f"{where}.{key}", None, f"is required for a {kind} input")
            return default
        x = _number(raw[key], f"{where}.{key}")
        if x != 0 and abs(x) < 1e-290:  # ngspice reads digits x 10^exponent: 10^-308 and below underflow
            raise SpecError(f"{where}.{key}", x, "is too small for ngspice's number parser (it reads such a "
                            "number as 0 or another value): use a magnitude of at least 1e-290 or 0")
        if positive and not x > 0:
            raise SpecError(f"{where}.{key}", x, "must be positive")
        if nonneg and x < 0:
            raise SpecError(f"{where}.{key}", x, "must not be negative")
        return x

    if kind == "step":
        value, at, rise = num("value"), num("at", 0.0, nonneg=True), num("rise", default_edge, positive=True)
        _check_edge(where, "rise", rise, at + rise)
        return Step(value, at, rise)
    if kind == "pulse":
        low, high = num("low", 0.0), num("high")
        delay = num("delay", 0.0, nonneg=True)
        rise, fall = num("rise", default_edge, positive=True), num("fall", default_edge, positive=True)
        width = num("width", None, nonneg=True)
        if width == 0:  # ngspice 39 runs a zero width as TSTOP, 46 as 0: never what was meant
            raise SpecError(f"{where}.width", width, "must be positive (ngspice replaces a zero pulse width "
                            "by the stop time or by nothing, depending on its version)")
        period = num("period", 2.0 * t_stop + delay + rise + width + fall, positive=True)
        if period < (rise + width + fall) * (1.0 - 1e-12):  # equal up to rounding is a 100 % duty cycle
            raise SpecError(f"{where}.period", period, f"must be at least rise + width + fall = {rise + width + fall!r}")
        if (t_stop - delay) / period > MAX_PULSE_PERIODS:
            raise SpecError(f"{where}.period", period, f"gives {(t_stop - delay) / period:.3g} periods before "
                            f"t_stop = {t_stop!r}; at most {MAX_PULSE_PERIODS} are supported")
        pulse = Pulse(low, high, delay, rise, fall, width, period)
        count = pulse.periods(t_stop)
        last = delay + max(count - 1, 0) * period  # the last period starting before t_stop
        end = last + rise + width + fall
        _check_edge(where, "period", period, last + period)
        for key, x in (("rise", rise), ("width", width), ("fall", fall)):
            if key != "width" or x > 0:
                _check_edge(where, key, x, end)
        if 1 + 4 * count > room:
            raise SpecError(f"{where}.period", period, f"gives {count} periods before t_stop = {t_stop!r}, "
                            f"{1 + 4 * count} knots; {_room_note(room)}")
        return pulse
    if kind == "sine":
        freq = num("frequency", None, positive=True)
        phase = num("phase", 0.0)
        if not -MAX_PHASE_DEGREES <= phase <= MAX_PHASE_DEGREES:
            # ngspice and numpy reduce a huge phase differently (its radians lose their digits)
            raise SpecError(f"{where}.phase", phase, f"must be within +-{MAX_PHASE_DEGREES:g} degrees")
        return Sine(num("amplitude"), freq, num("offset", 0.0), phase)
    if kind == "pwl":
        points = raw.get("points")
        if not isinstance(points, list) or not points:
            raise SpecError(f"{where}.points", _short(points), "must be a non-empty list of [t, v] pairs")
        return _pwl(points, f"{where}.points", room=room)
    # kind == "file": CSV of t,v (an optional header line is skipped); reading stops at the room left
    path = files.resolve(raw.get("path"), f"{where}.path")
    limit = min(MAX_PWL_POINTS, max(room, 0))
    return _pwl(_read_csv(path, f"{where}.path", max_points=limit,
                          note="" if limit == MAX_PWL_POINTS else f" ({_room_note(room)})"),
                f"{where}.path", source=path.name, room=room)


def _room_note(room: int) -> str:
    return (f"the inputs together may have at most {MAX_TOTAL_POINTS} knots and the inputs before "
            f"this one leave {max(room, 0)}")


def _pwl(points: list, where: str, source: str | None = None, room: int = MAX_TOTAL_POINTS) -> Pwl:
    if len(points) > MAX_PWL_POINTS:
        raise SpecError(where, f"{len(points)} points", f"at most {MAX_PWL_POINTS} points are supported")
    if len(points) > room:
        raise SpecError(where, f"{len(points)} points", _room_note(room))
    ts, vs = [], []
    for i, p in enumerate(points):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise SpecError(f"{where}[{i}]", _short(p), "must be a pair [t, v]")
        ts.append(_number(p[0], f"{where}[{i}][0]"))
        vs.append(_number(p[1], f"{where}[{i}][1]"))
        for k, x in ((0, ts[-1]), (1, vs[-1])):
            if x != 0 and abs(x) < 1e-290:  # ngspice's parser reads it as 0 or another value
                raise SpecError(f"{where}[{i}][{k}]", x, "is too small for ngspice's number parser (it reads "
                                "such a number as 0 or another value): use a magnitude of at least 1e-290 or 0")
    if ts[0] < 0:
        raise SpecError(f"{where}[0][0]", ts[0], "times must not be negative")
    for i in range(1, len(ts)):
        if not ts[i] > ts[i - 1]:
            raise SpecError(f"{where}[{i}][0]", ts[i], f"times must increase strictly (previous {ts[i - 1]!r})")
    return Pwl(tuple(ts), tuple(vs))
