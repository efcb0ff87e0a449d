"""Preferred values (IEC 60063 E series) and snapping a circuit's R and C to them.

``nearest(x, "E24")`` is the preferred value nearest to x in log distance (|ln(p / x)|
smallest, ties to the smaller value); :func:`snap_elements` replaces every resistor and
capacitor of the build (not an op-amp macro-model's internal ``RA``/``CA``) by its nearest
preferred value.  Tolerances are those the series are made for: E12 10 %, E24 5 %,
E48 2 %, E96 1 %.  Units: ohm, farad (any positive value: the tables are per decade).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.errors import UsageError

E12 = (10, 12, 15, 18, 22, 27, 33, 39, 47, 56, 68, 82)
E24 = (10, 11, 12, 13, 15, 16, 18, 20, 22, 24, 27, 30, 33, 36, 39, 43, 47, 51, 56, 62, 68, 75, 82, 91)
E96 = (100, 102, 105, 107, 110, 113, 115, 118, 121, 124, 127, 130, 133, 137, 140, 143, 147, 150, 154, 158, 162,
       165, 169, 174, 178, 182, 187, 191, 196, 200, 205, 210, 215, 221, 226, 232, 237, 243, 249, 255, 261, 267,
       274, 280, 287, 294, 301, 309, 316, 324, 332, 340, 348, 357, 365, 374, 383, 392, 402, 412, 422, 432, 442,
       453, 464, 475, 487, 499, 511, 523, 536, 549, 562, 576, 590, 604, 619, 634, 649, 665, 681, 698, 715, 732,
       750, 768, 787, 806, 825, 845, 866, 887, 909, 931, 953, 976)
E48 = E96[::2]
#: series -> (mantissas of one decade, scaled to [1, 10)), tolerance (relative)
SERIES = {name: (tuple(v / (10 if len(str(v)) == 2 else 100) for v in values), tol)
          for name, values, tol in (("E12", E12, 0.10), ("E24", E24, 0.05), ("E48", E48, 0.02), ("E96", E96, 0.01))}


def _table(series: str):
    if series not in SERIES:
        raise UsageError(f"snap must be one of {', '.join(SERIES)} (got {series!r})")
    return SERIES[series]


def tolerance(series: str) -> float:
    """The relative tolerance parts of ``series`` are made to (0.05 for E24)."""
    return _table(series)[1]


def nearest(x: float, series: str) -> float:
    """The preferred value of ``series`` nearest to ``x`` > 0 in log distance."""
    mantissas, _ = _table(series)
    if not (x > 0 and math.isfinite(x)):
        raise UsageError(f"a preferred value needs a positive finite value (got {x!r})")
    decade = math.floor(math.log10(x))
    best = None
    for d in (decade - 1, decade, decade + 1):
        for mant in mantissas:
            p = float(f"{mant}e{d}")  # decimal text: 4.7e3 exactly as written, not 4.7 * 1000
            dist = abs(math.log(p / x))
            if best is None or dist < best[0] - 1e-12:
                best = (dist, p)
    return best[1]


def snappable(e) -> bool:
    """A resistor or capacitor of the build (an op-amp macro-model's RA / CA are not parts)."""
    return (isinstance(e, ir.Resistor) and not e.name.upper().startswith("RA")) or \
        (isinstance(e, ir.Capacitor) and not e.name.upper().startswith("CA"))


def snap_elements(elements, series: str) -> tuple:
    """``elements`` with every :func:`snappable` value replaced by its nearest preferred value
    (a capacitor keeps its initial voltage)."""
    _table(series)
    out = []
    for e in elements:
        if isinstance(e, ir.Resistor) and snappable(e):
            out.append(dataclasses.replace(e, resistance=math.copysign(nearest(abs(e.resistance), series),
                                                                       e.resistance)))
        elif isinstance(e, ir.Capacitor) and snappable(e):
            out.append(dataclasses.replace(e, capacitance=nearest(e.capacitance, series)))
        else:
            out.append(e)
    return tuple(out)


def log_errors(elements, snapped) -> np.ndarray:
    """Relative change of each snapped value (p / x - 1)."""
    return np.array([(s.resistance / e.resistance if isinstance(e, ir.Resistor) else s.capacitance / e.capacitance) - 1.0
                     for e, s in zip(elements, snapped) if snappable(e)])
