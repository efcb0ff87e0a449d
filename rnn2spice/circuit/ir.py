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
from typing import ClassVar, Literal

import numpy as np

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


@dataclass(frozen=True, eq=False)
class VccsBlock:
    """Many VCCS at once (a dense coupling): element i is ``Vccs(f"{prefix}_{rows[i]}_{cols[i]}",
    src, f"{dst}{rows[i]}", f"{ctrl_p}{cols[i]}", ctrl_n, gm[i])``.

    ``dst`` and ``ctrl_p`` are node-name prefixes; ``rows``, ``cols`` (int) and ``gm`` (S) are
    read-only arrays of one length.  The writer writes the block in bulk; :meth:`expand` gives
    the elements one by one (what the reader reads back from the text).  A perturbed copy:
    ``dataclasses.replace(block, gm=new_values)``.
    """

    prefix: str
    src: str
    dst: str
    ctrl_p: str
    ctrl_n: str
    rows: np.ndarray
    cols: np.ndarray
    gm: np.ndarray

    def __post_init__(self):
        for name, dtype in (("rows", np.int64), ("cols", np.int64), ("gm", np.float64)):
            a = np.array(getattr(self, name), dtype=dtype).ravel()
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        if not len(self.rows) == len(self.cols) == len(self.gm):
            raise ValueError("VccsBlock rows, cols and gm must have one length")

    def __len__(self) -> int:
        return len(self.gm)

    def __eq__(self, other) -> bool:
        return (type(other) is VccsBlock and (self.prefix, self.src, self.dst, self.ctrl_p, self.ctrl_n)
                == (other.prefix, other.src, other.dst, other.ctrl_p, other.ctrl_n)
                and all(np.array_equal(getattr(self, f), getattr(other, f)) for f in ("rows", "cols", "gm")))

    __hash__ = None

    def expand(self) -> tuple[Vccs, ...]:
        """The elements one by one."""
        return tuple(Vccs(f"{self.prefix}_{r}_{c}", self.src, f"{self.dst}{r}", f"{self.ctrl_p}{c}", self.ctrl_n, g)
                     for r, c, g in zip(self.rows.tolist(), self.cols.tolist(), self.gm.tolist()))


def expand(elements) -> tuple:
    """``elements`` with every block (:class:`VccsBlock`) replaced by its elements, in order."""
    out = []
    for e in elements:
        if isinstance(e, VccsBlock):
            out.extend(e.expand())
        else:
            out.append(e)
    return tuple(out)


#: What "netlist elements" means wherever it is printed (compile, schematic, verify): the
#: element instances, a block counted element by element; .subckt / .model definitions, the
#: title, options and analysis are not elements (the reader of the written netlist agrees).
ELEMENTS_MEANING = "element instances; .subckt/.model definitions, title, options and analysis not counted"


def count(elements) -> int:
    """The number of netlist elements (:data:`ELEMENTS_MEANING`)."""
    return sum(len(e) if isinstance(e, VccsBlock) else 0 if isinstance(e, DEFINITIONS) else 1 for e in elements)


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

    function: ClassVar[str] = "tanh"
    name: str
    src: str
    dst: str
    gain: float  # A
    arg: str


@dataclass(frozen=True)
class TanhVoltage:
    """Behavioural voltage ``V(p, n) = gain * tanh(V(arg))``."""

    function: ClassVar[str] = "tanh"
    name: str
    p: str
    n: str
    gain: float  # V
    arg: str


@dataclass(frozen=True)
class ActivationCurrent:
    """Behavioural current ``gain * f(V(arg))`` from ``src`` into ``dst``; ``function`` names
    f (``relu``, ``sigmoid``, ``softplus``: :mod:`rnn2spice.network.activations`)."""

    name: str
    src: str
    dst: str
    gain: float  # A
    arg: str
    function: str


@dataclass(frozen=True)
class ActivationVoltage:
    """Behavioural voltage ``V(p, n) = gain * f(V(arg))`` (see :class:`ActivationCurrent`)."""

    name: str
    p: str
    n: str
    gain: float  # V
    arg: str
    function: str


#: The behavioural sources: every one has ``gain``, ``arg`` and ``function``.
BEHAVIOURAL = (TanhCurrent, TanhVoltage, ActivationCurrent, ActivationVoltage)


@dataclass(frozen=True)
class Gyrator:
    """Ideal gyrator of conductance g: ``i_a = g v_b`` into a, ``i_b = -g v_a`` into b."""

    name: str
    a: str
    b: str
    g: float  # S


# ---------------------------------------------------------------- real parts (THEORY.md 11)

@dataclass(frozen=True)
class Bjt:
    """Bipolar transistor: collector, base, emitter, the name of its :class:`ModelCard`."""

    name: str
    c: str
    b: str
    e: str
    model: str


@dataclass(frozen=True)
class Diode:
    """Diode from anode ``a`` to cathode ``k`` (its :class:`ModelCard` by name)."""

    name: str
    a: str
    k: str
    model: str


@dataclass(frozen=True)
class ModelCard:
    """A device model: ``kind`` (``NPN``, ``D``) and its parameters (SI units), in order."""

    name: str
    kind: str
    params: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class OpAmpMacro:
    """An op-amp macro-model definition (the library's, :mod:`rnn2spice.circuit.partlib`):
    pins ``inp inn vcc vee out``, instance parameters ``vos`` (V) and ``v0`` (initial output, V).
    gm (S) and imax (A) into RG (ohm) || CG (F); the output clamps ``swing_high`` below V+ and
    ``swing_low`` above V-; ``bias`` (A) into each input; ``supply_current`` (A) rail to rail."""

    name: str
    gm: float
    imax: float
    rg: float
    cg: float
    swing_high: float
    swing_low: float
    rout: float
    bias: float
    supply_current: float
    rin: float = 1e12


@dataclass(frozen=True)
class SubcircuitText:
    """A user's vendor subcircuit, already scanned (:func:`rnn2spice.circuit.usermodel.scan`):
    its lines from ``.subckt`` to ``.ends`` as read."""

    name: str
    pins: tuple[str, ...]
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Instance:
    """Subcircuit instance ``X<name> nodes... subckt [key=value ...]`` (values in SI units)."""

    name: str
    nodes: tuple[str, ...]
    subckt: str
    params: tuple[tuple[str, float], ...] = ()


#: Definitions: written where they stand, referenced by name by instances and devices.
DEFINITIONS = (ModelCard, OpAmpMacro, SubcircuitText)
#: The element kinds of a real-part build (not read by the certificate's state equations).
REAL_PARTS = (Bjt, Diode, ModelCard, OpAmpMacro, SubcircuitText, Instance)


Element = (Resistor | Capacitor | Inductor | Vccs | VccsBlock | Cccs | Vcvs | Ccvs | CurrentSource
           | VoltageSource | TanhCurrent | TanhVoltage | ActivationCurrent | ActivationVoltage | Gyrator
           | Bjt | Diode | ModelCard | OpAmpMacro | SubcircuitText | Instance)


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
class DcSweep:
    """``.dc`` of the voltage source ``source`` from ``start`` to ``stop`` by ``step`` (V)."""

    source: str
    start: float
    stop: float
    step: float


@dataclass(frozen=True)
class Options:
    reltol: float = 1e-3
    abstol: float = 1e-12  # A
    vntol: float = 1e-6    # V
    chgtol: float = 1e-14  # C
    trtol: float = 7.0
    temp: float | None = None  # degC of every device (None: ngspice's 27 degC, not written)
    method: str | None = None  # integration method: None (trapezoidal, not written) or "gear"


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
    analysis: Transient | AcSweep | DcSweep
    options: Options
    saves: tuple[Probe, ...] = ()  # the vectors to keep (all others are discarded)

    def expanded_elements(self) -> tuple[Element, ...]:
        """:attr:`elements` with every block one element at a time (:func:`expand`)."""
        return expand(self.elements)
