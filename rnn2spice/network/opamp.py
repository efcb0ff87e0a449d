"""The op-amp model of the ``opamp`` form: the spec block ``circuit: {opamp: {...}}``.

    circuit:
      opamp: {model: ideal}                                   # VCVS of DC gain 1e6 (default)
      opamp: {model: single-pole, gain: 2e5, gbw: 1e6, rails: [-12, 12]}

* ``ideal``: a voltage-controlled voltage source of open-loop gain ``gain`` (V/V, default
  1e6).  The compiler compensates the resistor values for that finite gain exactly, so the
  circuit *is* the network (to round-off) and the certificate holds at 1e-12.
* ``single-pole``: DC gain ``gain`` (A0, default 2e5) and gain-bandwidth product ``gbw``
  (Hz, default 1e6): a VCCS into a resistor || capacitor pole, buffered (circuit/opamp.py).
  The values are the ideal op-amp's (not compensated): the error that A0 and gbw cause is
  what :mod:`rnn2spice.workflows.build` predicts and measures.
* ``rails``: ``[low, high]`` (V), the output swing; states outside it are warned about
  (:class:`~rnn2spice.errors.ComponentValueWarning`), the netlist does not clamp.

Units: V/V, Hz, V.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from rnn2spice.errors import SpecError
from rnn2spice.network.numbers import is_real

OPAMP_MODELS = ("ideal", "single-pole")
OPAMP_KEYS = ("model", "gain", "gbw", "rails")
DEFAULT_IDEAL_GAIN = 1e6
DEFAULT_MACRO_GAIN = 2e5
DEFAULT_GBW = 1e6


@dataclass(frozen=True)
class OpAmpModel:
    """An op-amp: ``model`` (``ideal`` | ``single-pole``), DC gain (V/V), GBW (Hz, single-pole
    only) and output rails (V, or None)."""

    model: str = "ideal"
    gain: float = DEFAULT_IDEAL_GAIN
    gbw: float | None = None
    rails: tuple[float, float] | None = None

    def describe(self) -> str:
        text = f"op-amp {self.model}, gain {self.gain:g}"
        if self.gbw is not None:
            text += f", GBW {self.gbw:g} Hz"
        if self.rails is not None:
            text += f", rails {self.rails[0]:g} .. {self.rails[1]:g} V"
        return text


def opamp_model(raw: Any, where: str = "circuit.opamp") -> OpAmpModel:
    """Validate the ``circuit.opamp`` mapping (None: the ideal op-amp)."""
    if raw is None:
        return OpAmpModel()
    if isinstance(raw, OpAmpModel):
        return raw
    if not isinstance(raw, dict):
        raise SpecError(where, raw, "must be a mapping (model, gain, gbw, rails)")
    unknown = [k for k in raw if k not in OPAMP_KEYS]
    if unknown:
        raise SpecError(f"{where}.{unknown[0]}", "given", f"is not a key of {where} ({', '.join(OPAMP_KEYS)})")
    model = raw.get("model", "ideal")
    if model not in OPAMP_MODELS:
        raise SpecError(f"{where}.model", model, f"must be one of {', '.join(OPAMP_MODELS)}")
    gain = _positive(raw.get("gain", DEFAULT_IDEAL_GAIN if model == "ideal" else DEFAULT_MACRO_GAIN), f"{where}.gain")
    if not 10.0 <= gain <= 1e15:
        raise SpecError(f"{where}.gain", gain, "must be between 10 and 1e15 (V/V)")
    gbw = None
    if model == "single-pole":
        gbw = _positive(raw.get("gbw", DEFAULT_GBW), f"{where}.gbw")
    elif raw.get("gbw") is not None:
        raise SpecError(f"{where}.gbw", raw["gbw"], "is only used with model single-pole")
    rails = raw.get("rails")
    if rails is not None:
        if not isinstance(rails, (list, tuple)) or len(rails) != 2:
            raise SpecError(f"{where}.rails", rails, "must be [low, high] in volts")
        low, high = (_number(v, f"{where}.rails") for v in rails)
        if not low < 0.0 < high:
            raise SpecError(f"{where}.rails", list(rails), "must be [low, high] with low < 0 < high (V)")
        rails = (low, high)
    return OpAmpModel(model, gain, gbw, rails)


def _number(value: Any, where: str) -> float:
    if isinstance(value, str) and re.fullmatch(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?", value[:100]):
        value = float(value)  # YAML 1.1 reads 1e6 as a string
    if not is_real(value) or not math.isfinite(value):
        raise SpecError(where, value, "must be a finite number")
    return float(value)


def _positive(value: Any, where: str) -> float:
    x = _number(value, where)
    if not x > 0:
        raise SpecError(where, value, "must be positive")
    return x
