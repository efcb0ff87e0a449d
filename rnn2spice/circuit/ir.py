"""Circuit intermediate representation: plain frozen dataclasses, no SPICE syntax.

The compiler builds a :class:`Circuit` of these elements; only :mod:`rnn2spice.circuit.writer`
turns them into text (and names the simulation vector of a :class:`Probe`).  Node and element
names are made by the compiler from indices, never from user text.  Units: ohm, farad,
henry, siemens, volt, ampere, second, hertz.  Ground is node ``"0"``.  Current-source
conventions follow SPICE: a source "from a to b" pushes current out of node a, through
itself, into node b.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rnn2spice.network.waveform import Waveform


@dataclass(frozen=True)
class Resistor:
    name: str
    a: str
    b: str
    resistance: float  # ohm; negative values are active elements


@dataclass(frozen=True)
class Capacitor:
    name: str
    a: str
    b: str
    capacitance: float  # F
    ic: float           # V(a, b) at t = 0


@dataclass(frozen=True)
class Inductor:
    name: str
    a: str
    b: str
    inductance: float  # H
    ic: float          # A flowing a -> b through the inductor at t = 0


@dataclass(frozen=True)
class Vccs:
    """Current ``gm * V(ctrl_p, ctrl_n)`` from node ``src`` through the element into ``dst``."""

    name: str
    src: str
    dst: str
    ctrl_p: str
    ctrl_n: str
    gm: float  # S


@dataclass(frozen=True)
class Cccs:
    """Current ``gain * I(sense)`` from ``src`` into ``dst``; ``sense`` is a 0 V source."""

    name: str
    src: str
    dst: str
    sense: str
    gain: float


@dataclass(frozen=True)
class Vcvs:
    """``V(p, n) = gain * V(ctrl_p, ctrl_n)``."""

    name: str
    p: str
    n: str
    ctrl_p: str
    ctrl_n: str
    gain: float


@dataclass(frozen=True)
class Ccvs:
    """``V(p, n) = r * I(sense)``; ``sense`` is a 0 V voltage source."""

    name: str
    p: str
    n: str
    sense: str
    r: float  # ohm


@dataclass(frozen=True)
class CurrentSource:
    """Constant current ``dc`` (A) from ``src`` into ``dst``."""

    name: str
    src: str
    dst: str
    dc: float


@dataclass(frozen=True)
class VoltageSource:
    """``V(p, n)`` = ``waveform`` in a transient (``dc`` when it is None); ``ac`` magnitude (V)."""

    name: str
    p: str
    n: str
    waveform: Waveform | None = None
    dc: float = 0.0
    ac: float = 0.0


@dataclass(frozen=True)
class TanhCurrent:
    """Behavioural current ``gain * tanh(V(arg))`` from ``src`` into ``dst``."""

    name: str
    src: str
    dst: str
    gain: float  # A
    arg: str


@dataclass(frozen=True)
class TanhVoltage:
    """Behavioural voltage ``V(p, n) = gain * tanh(V(arg))``."""

    name: str
    p: str
    n: str
    gain: float  # V
    arg: str


@dataclass(frozen=True)
class Gyrator:
    """Ideal gyrator of conductance g: ``i_a = g v_b`` into a, ``i_b = -g v_a`` into b."""

    name: str
    a: str
    b: str
    g: float  # S


Element = (Resistor | Capacitor | Inductor | Vccs | Cccs | Vcvs | Ccvs | CurrentSource
           | VoltageSource | TanhCurrent | TanhVoltage | Gyrator)


@dataclass(frozen=True)
class Transient:
    step: float      # s, print step
    stop: float      # s
    max_step: float  # s, bounds the integrator's step (sets accuracy and cost)


@dataclass(frozen=True)
class AcSweep:
    points_per_decade: int
    f_start: float  # Hz
    f_stop: float   # Hz


@dataclass(frozen=True)
class Options:
    reltol: float = 1e-3
    abstol: float = 1e-12  # A
    vntol: float = 1e-6    # V
    chgtol: float = 1e-14  # C
    trtol: float = 7.0


@dataclass(frozen=True)
class Probe:
    """A simulation vector to save: the voltage of node ``target`` to ground (V), or the
    current (A) through the 0 V voltage source named ``target``, from its + to its - node."""

    kind: Literal["voltage", "current"]
    target: str  # node name ("h0") or sense-source element name ("Vs_0")


@dataclass(frozen=True)
class Circuit:
    title: str
    comments: tuple[str, ...]
    elements: tuple[Element, ...]
    analysis: Transient | AcSweep
    options: Options
    saves: tuple[Probe, ...] = ()  # the vectors to keep (all others are discarded)
