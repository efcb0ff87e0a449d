"""What every realisation shares: the build context, the registry and the common parts.

A *realisation* turns a spec into circuit elements for one (form, coupling) pair, e.g.
parallel R||C cells coupled by VCCS (THEORY.md section 2) or series R-L loops coupled by
CCVS (section 3).  Each is a function ``build(ctx) -> Realisation`` registered with
:func:`realisation`; :mod:`rnn2spice.circuit.compiler` looks it up in
:data:`REALISATIONS`.  This module imports only the IR and the spec, so the form modules
(:mod:`~rnn2spice.circuit.parallel`, :mod:`~rnn2spice.circuit.series`) import it and the
compiler imports them: no cycles.

Shared parts: the input sources (``Vx_<l>`` at node ``x<l>``, V), the summing nodes of a
nonlinear network (THEORY.md section 4: node ``z<k>``, 1 ohm to ground, so V(z_k) in volts
equals the pre-activation (w h + w_in x + b)_k) and the cost/flag helpers of
:class:`Realisation`.

Naming scheme (all realisations): ``<letter><role>_<k>[_<j>]`` with k the neuron (or
loop) the element acts on and j the neuron or input it is controlled by; ``G_3_7`` is the
VCCS from node 7 into node 3, ``GZX_3_1`` injects input 1 into summing node z3, ``RZ_3``
is summing node 3's 1 ohm resistor.  Units: ohm, farad, henry, siemens, volt, ampere,
second.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.network.activations import ACTIVATIONS
from rnn2spice.network.scaling import scale_wave
from rnn2spice.network.spec import RnnSpec


@dataclass(frozen=True)
class Realisation:
    """What the interaction network costs to build."""

    positive_resistors: int = 0   # coupling resistors only (cells' R excluded)
    negative_resistors: int = 0
    gyrators: int = 0
    controlled_sources: int = 0   # G/F/E/H elements of the coupling and inputs
    behavioural_sources: int = 0
    reciprocal: bool = True       # the interaction matrix is symmetric (no gyrators needed)
    passive: bool = True          # realisable with positive resistors (and lossless gyrators) only
    opamps: int = 0               # opamp form: every op-amp (integrators, summers, inverters)
    inverters: int = 0            # opamp form: unity inverters (of which in opamps)
    resistors: int = 0            # opamp form: every resistor of the build
    capacitors: int = 0           # opamp form: every capacitor of the build
    transistors: int = 0          # real parts: bipolar transistors of the activation blocks
    diodes: int = 0               # real parts: diodes of the activation blocks
    pruned: tuple = ()            # real parts: (resistor, ohm it would have been) left out, beyond 10 Mohm
    latent_nodes: int = 0         # low-rank w = M N: the r latent nodes kappa = N (.) (THEORY.md 8)
    coupling_elements: int = 0    # elements of the recurrent coupling as built (low rank: O(n r))
    dense_coupling_elements: int = 0  # ... and what the dense w would have needed (non-zeros of M N)

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def describe_rank(self) -> str:
        """The low-rank line of a summary ('' for a dense coupling)."""
        if not self.latent_nodes:
            return ""
        return (f"; low rank r = {self.latent_nodes}: {self.coupling_elements} coupling elements through "
                f"{self.latent_nodes} latent nodes instead of {self.dense_coupling_elements} dense")

    def describe(self) -> str:
        """One line for a summary."""
        if self.opamps:
            return (f"realisation: {self.opamps} op-amps ({self.inverters} of them unity inverters), "
                    f"{self.resistors} resistors, {self.capacitors} capacitors, {self.behavioural_sources} "
                    f"behavioural sources" + (f", {self.transistors} transistors, {self.diodes} diodes"
                                               if self.transistors or self.diodes else "")
                    + (f", {len(self.pruned)} weights pruned (beyond 10 Mohm)" if self.pruned else "")
                    + f"; interaction {'reciprocal' if self.reciprocal else 'non-reciprocal'}, active"
                    + self.describe_rank())
        return (f"realisation: {self.positive_resistors} positive / {self.negative_resistors} negative coupling "
                f"resistors, {self.gyrators} gyrators, {self.controlled_sources} controlled sources, "
                f"{self.behavioural_sources} behavioural sources; interaction "
                f"{'reciprocal' if self.reciprocal else 'non-reciprocal'}, "
                f"{'passive (positive resistors and ideal gyrators suffice)' if self.passive else 'active'}"
                + self.describe_rank())


@dataclass(eq=False)
class BuildContext:
    """What a realisation builds into: elements in netlist order and one probe per neuron.

    ``probes[k]`` must be neuron k's state h_k (the form's identification), appended in
    neuron order; :func:`summing_nodes` senses the state through it.
    """

    spec: RnnSpec
    ac: bool  # an AC sweep: zero initial conditions, unit AC magnitude on every input
    elements: list[ir.Element] = field(default_factory=list)
    probes: list[ir.Probe] = field(default_factory=list)
    #: THEORY.md 5: ``spec`` is the network in circuit time already (tau / k, paper w x k);
    #: the time scale k is kept for the paper convention's nonlinear gain, the state scale s
    #: (V or A per unit of h) is applied by the forms: h0 s, inputs s, drives s, and a
    #: nonlinear network takes its argument in model units (weights x :attr:`arg_scale`)
    #: and gives s f (x :attr:`out_scale`).
    time_scale: float = 1.0
    state_scale: float = 1.0
    #: how it is built (:class:`rnn2spice.circuit.realparts.Build`; None: the ideal build)
    build: object = None

    @property
    def out_scale(self) -> float:
        """Factor on a nonlinear network's activation output: s (x k in the paper
        convention, whose w h + w_in x sits inside sigma in model time)."""
        return self.state_scale * (self.time_scale if self.spec.convention == "paper" else 1.0)

    @property
    def arg_scale(self) -> float:
        """Factor on the weights of a summing node (not the bias): 1 / :attr:`out_scale`."""
        return 1.0 / self.out_scale

    def add(self, *elements: ir.Element) -> None:
        self.elements.extend(elements)

    def save(self, kind: str, target: str) -> None:
        """Record the next neuron's state: ``("voltage", node)`` or ``("current", 0 V source)``."""
        self.probes.append(ir.Probe(kind, target))

    def initial(self, value: float, state: bool = True) -> float:
        """An initial condition: ``value`` in a transient (a state or input value in units
        of h, x the state scale; ``state=False``: a node value in model units, as it is),
        0 in an AC sweep."""
        return 0.0 if self.ac else float(value) * (self.state_scale if state else 1.0)


# ---------------------------------------------------------------------------- registry

Builder = Callable[[BuildContext], Realisation]


@dataclass(frozen=True)
class Realiser:
    """A registered realisation: ``build(ctx)`` for the activations it can realise."""

    form: str
    coupling: str
    activations: tuple[str, ...]
    build: Builder

    def __call__(self, ctx: BuildContext) -> Realisation:
        return self.build(ctx)


#: (form, coupling) -> builder, in registration order (which orders FORMS and COUPLINGS).
REALISATIONS: dict[tuple[str, str], Realiser] = {}
#: (form, coupling) -> why that pair has no realisation (the UsageError text).
UNSUPPORTED: dict[tuple[str, str], str] = {}
#: form -> ``header(spec) -> (identification line, design line)`` for the netlist comments.
HEADERS: dict[str, Callable[[RnnSpec], tuple[str, str]]] = {}


def realisation(form: str, coupling: str, *, activations: tuple[str, ...]) -> Callable[[Builder], Builder]:
    """Decorator: register ``build(ctx) -> Realisation`` as the (form, coupling) realisation."""

    def register(build: Builder) -> Builder:
        old = REALISATIONS.get((form, coupling))
        if old is not None and old.build.__qualname__ != build.__qualname__:  # (a reload may re-register)
            raise ValueError(f"two realisations of form {form!r} with coupling {coupling!r}")
        REALISATIONS[(form, coupling)] = Realiser(form, coupling, tuple(activations), build)
        return build

    return register


def unsupported(form: str, coupling: str, reason: str) -> None:
    """Declare that (form, coupling) has no realisation, and why (shown to the user)."""
    UNSUPPORTED[(form, coupling)] = reason


def form_header(form: str):
    """Decorator: register the form's ``header(spec, build) -> (identification, design)`` lines
    (``build``: the realparts.Build, or None; the design line names what is actually built)."""

    def register(header: Callable[..., tuple[str, str]]):
        HEADERS[form] = header
        return header

    return register


# ---------------------------------------------------------------------------- shared parts

#: THE behavioural element of each nonlinear activation: activation -> (current factory,
#: voltage factory), each ``(name, a, b, gain, arg) -> element`` (tanh keeps its own IR
#: elements; the others carry the function's name).  The form modules' SOURCES tables
#: take their column of it.
BEHAVIOURAL: dict[str, tuple[Callable[..., ir.Element], Callable[..., ir.Element]]] = {
    a: ((ir.TanhCurrent, ir.TanhVoltage) if a == "tanh" else
        (functools.partial(ir.ActivationCurrent, function=a), functools.partial(ir.ActivationVoltage, function=a)))
    for a in ACTIVATIONS if a != "linear"
}


def inputs(ctx: BuildContext) -> None:
    """One independent source per input: ``Vx_<l>`` at node ``x<l>`` (V, s x_l; unit AC in a sweep)."""
    for l, wave in enumerate(ctx.spec.inputs):
        if ctx.ac:
            ctx.add(ir.VoltageSource(f"Vx_{l}", f"x{l}", "0", None, 0.0, 1.0))
        else:
            ctx.add(ir.VoltageSource(f"Vx_{l}", f"x{l}", "0", scale_wave(wave, 1.0, ctx.state_scale)))


def latent_nodes(ctx: BuildContext, ctrl: str | None = None) -> tuple[np.ndarray, dict]:
    """The r latent nodes of a low-rank coupling w = M N (THEORY.md 8): node ``l<i>``
    (``RL_<i>``, 1 ohm to ground, no capacitor: an algebraic node) carries
    V(l_i) = sum_j N_ij s_j, fed by ``GL_<i>_<j>`` (VCCS of V(<ctrl><j>), S) or, with ``ctrl``
    None, of neuron j's state through its probe (a node: ``GL``; a sense source's current:
    ``FL_<i>_<j>``, CCCS).  Returns M (n x r, in the units of ``spec.w``: the caller scales it
    as it would scale w) and the cost fields of :class:`Realisation`.
    """
    m_f, n_f = used_factors(ctx.spec)
    for i in np.flatnonzero(np.any(n_f, axis=1)):
        ctx.add(ir.Resistor(f"RL_{i}", f"l{i}", "0", 1.0))
    rows, cols = np.nonzero(n_f)
    if ctrl is not None:
        ctx.add(ir.VccsBlock("GL", "0", "l", ctrl, "0", rows, cols, n_f[rows, cols]))
    else:
        for i, j in zip(rows.tolist(), cols.tolist()):
            probe = ctx.probes[j]
            if probe.kind == "voltage":
                ctx.add(ir.Vccs(f"GL_{i}_{j}", "0", f"l{i}", probe.target, "0", float(n_f[i, j])))
            else:
                ctx.add(ir.Cccs(f"FL_{i}_{j}", "0", f"l{i}", probe.target, float(n_f[i, j])))
    return np.asarray(m_f), rank_costs(ctx.spec)


def used_factors(spec: RnnSpec) -> tuple[np.ndarray, np.ndarray]:
    """(M, N) with every latent i that carries nothing zeroed in both: N's row i or M's
    column i all zero (sparse factors) would leave node l<i> fed or read by nothing, an
    element without effect on the equations, which the certificate refuses."""
    m_f, n_f = (np.asarray(a) for a in spec.w_factors)
    used = np.any(n_f, axis=1) & np.any(m_f, axis=0)
    if used.all():
        return m_f, n_f
    return m_f * used[None, :], n_f * used[:, None]


def rank_costs(spec: RnnSpec) -> dict:
    """The low-rank fields of :class:`Realisation` (empty for a dense w): r latent nodes,
    nnz(M) + nnz(N) + r coupling elements (the latent nodes' resistors included) against
    nnz(M N) dense."""
    if spec.w_factors is None:
        return {}
    m_f, n_f = used_factors(spec)
    r = int(np.count_nonzero(np.any(n_f, axis=1)))
    return {"latent_nodes": r,
            "coupling_elements": int(np.count_nonzero(m_f) + np.count_nonzero(n_f) + r),
            "dense_coupling_elements": int(np.count_nonzero(spec.w))}


def summing_nodes(ctx: BuildContext) -> None:
    """Node ``z<k>`` (``RZ_<k>``, 1 ohm to ground) carries V(z_k) = (w h + w_in x + b)_k in volts.

    Weights enter as transconductances/current gains into the 1 ohm load: ``GZ_<k>_<j>``
    (VCCS of v(h_j), S) or ``FZ_<k>_<j>`` (CCCS of the current through sense source j),
    ``GZX_<k>_<l>`` (VCCS of input l) and ``IZ_<k>`` (the bias, A).  The neurons' states
    are read through ``ctx.probes``, so every cell or loop must be built first.
    """
    spec = ctx.spec
    w, w_in = spec.w * ctx.arg_scale, spec.w_in * ctx.arg_scale  # model units (THEORY.md 5)
    for k in range(spec.n):
        ctx.add(ir.Resistor(f"RZ_{k}", f"z{k}", "0", 1.0))
    if spec.w_factors is not None:  # w = M N: z_k gets sum_i M_ki V(l_i), V(l) = N h (THEORY.md 8)
        m_f, _ = latent_nodes(ctx)
        m_z = m_f * ctx.arg_scale
        rows, cols = np.nonzero(m_z)
        ctx.add(ir.VccsBlock("GZL", "0", "z", "l", "0", rows, cols, m_z[rows, cols]))
    for k, j in zip(*np.nonzero(spec.w) if spec.w_factors is None else ((), ())):
        probe = ctx.probes[j]
        if probe.kind == "voltage":
            ctx.add(ir.Vccs(f"GZ_{k}_{j}", "0", f"z{k}", probe.target, "0", float(w[k, j])))
        else:
            ctx.add(ir.Cccs(f"FZ_{k}_{j}", "0", f"z{k}", probe.target, float(w[k, j])))
    for k, l in zip(*np.nonzero(spec.w_in)):
        ctx.add(ir.Vccs(f"GZX_{k}_{l}", "0", f"z{k}", f"x{l}", "0", float(w_in[k, l])))
    for k in np.nonzero(spec.bias)[0]:
        ctx.add(ir.CurrentSource(f"IZ_{k}", "0", f"z{k}", float(spec.bias[k])))


def summing_costs(spec: RnnSpec) -> Realisation:
    """The cost of a summing-node realisation: one controlled source per weight, one
    behavioural source per neuron; never passive (THEORY.md section 4)."""
    coupling = (np.count_nonzero(spec.w) if spec.w_factors is None
                else sum(np.count_nonzero(f) for f in used_factors(spec)))
    return Realisation(controlled_sources=int(coupling + np.count_nonzero(spec.w_in)),
                       behavioural_sources=spec.n, reciprocal=bool(np.array_equal(spec.w, spec.w.T)),
                       passive=False, **rank_costs(spec))


def resistive_flags(s: np.ndarray, k_part: np.ndarray) -> dict:
    """Reciprocity and passivity of alpha = S + K: passive when every coupling conductance
    and every ground conductance is non-negative (then S is negative semidefinite); the
    ideal gyrators of K are lossless, hence passive too (THEORY.md 2)."""
    n = s.shape[0]
    off = s[~np.eye(n, dtype=bool)]
    g = s.sum(axis=1)
    return {"reciprocal": bool(not np.any(k_part)),
            "passive": bool(not np.any(off < 0) and not np.any(g > 0))}
