"""State equations of a parsed netlist, assembled from its elements alone (THEORY.md sections 1-4, 10).

    circuit:  dy/dt = A y + B u + c + G sigma      y = the saved probes (.save), u = Vx_<l>
              sigma_i = f_i(z_i),  z = Z_y y + Z_u u + z_0      (one per behavioural source i)

Modified nodal analysis (MNA), written ``E x' = M x + N u + S sigma + K 1``:

* unknowns ``x``: every non-ground node voltage, and the branch current of every V, E, H,
  L element and behavioural voltage source (current from its first node through the
  element to its second);
* node rows are KCL: ``C v' = -(currents leaving the node) + (currents injected)``;
* branch rows are the element's voltage law; an inductor's row is ``L j' = v_a - v_b``;
* every behavioural source ``B .. I=g*f(V(z))`` / ``V=g*f(V(z))`` is an independent
  source of value ``g sigma_i`` (a column of ``S``): the equations are affine in the
  sources' outputs, so nothing is linearised and the recovered map is exact; every
  constant source (an ``I`` card, a ``V`` card other than an input ``Vx_<l>``) is a column
  of ``K`` of its own, so each constant's contribution is known and can be named.

The unknowns with a capacitor or inductor (``E`` is diagonal on them; a floating capacitor
a-b, e.g. an op-amp integrator's feedback C, makes v_a - v_b the unknown of node a and adds
row a to row b and takes -(row b) as row a, which keeps ``E`` diagonal) are the state
``x_d``; the rest ``x_a`` are algebraic (capacitor-less nodes of any kind: summing nodes,
op-amp virtual grounds, latent nodes) and are eliminated:
``x_a = -M_aa^-1 (M_ad x_d + N_a u + S_a sigma + K_a 1)``.  The probes ``y = P x_d`` (a
permutation with non-zero factors; anything else is refused) then give ``A = P A_x P^-1``.
Each source's argument V(z) is read from the same solution, as an affine map of y, u,
sigma and the constants; an argument that depends on a source's output (``Z_sigma``
structurally non-zero) is reported in :attr:`StateEquations.coupled`.

**Structural zeros.**  An entry is zero by structure when no path leads from its column
to its row in the circuit's graph (the algebraic block ordered to a zero-free diagonal by
a maximum matching; edge j -> i where M_aa[i, j] != 0): such entries are set exactly 0
(LU fill computes them as cancelling sums, i.e. as round-off).  :attr:`StateEquations.magnitude`
holds, per entry, the sum of the absolute values of what the circuit adds up to form it
(the scale of its round-off).

A gyrator instance is its two VCCS (:data:`rnn2spice.circuit.reader.GYRATOR_TEXT`).  The
input is a :class:`~rnn2spice.circuit.reader.ParsedNetlist`; the comparison with the spec
is :mod:`rnn2spice.analysis.certificate`.

This module is longer than 400 lines on purpose: it is one assembly (stamps, the floating-
capacitor congruence, the reduction and its structural zeros) that only makes sense whole.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from rnn2spice.circuit import ir
from rnn2spice.circuit.reader import ParsedNetlist, _nodes_of, _terminals
from rnn2spice.errors import NetlistError

#: A saved probe may depend on an input directly only at round-off level (relative).
_FEEDTHROUGH_TOL = 1e-12
_INPUT_RE = re.compile(r"vx_(\d{1,6})\Z")
#: Columns of the algebraic block solved at a time (at least; up to 256 for small blocks, 65536 /
#: unknowns): SuperLU's solve slows down superlinearly with many right-hand sides on a large
#: block (measured, n = 500 op-amp circuit, 4 892 unknowns: 256 columns 3.4-21 s, 16 x 16 0.7 s).
_CHUNK = 16
#: Columns whose structure (:class:`_Reach`) is found at once (bounds the boolean work array).
_MASK_CHUNK = 1024


@dataclass(frozen=True, eq=False)
class StateEquations:
    """``dy/dt = a y + b u + c`` of a netlist, with y the saved probes and u the inputs;
    for a netlist with behavioural sources, ``a`` and ``b`` are its linearisation at the
    ``slopes`` asked for (default every f' = 1) and the exact equations are
    ``dy/dt = a0 y + b0 u + drive + g sigma``, ``sigma_i = f_i(arg_y[i] y + arg_u[i] u + arg_c[i])``."""

    a: np.ndarray          # (n, n)
    b: np.ndarray          # (n, m)
    c: np.ndarray | None   # (n,), None for nonlinear (linearised) circuits
    y0: np.ndarray         # (n,) initial state from the IC values
    probes: tuple[str, ...]
    form: str              # 'parallel' (capacitor voltages), 'series' (inductor currents), 'mixed', 'opamp'
    linearised: bool
    #: behavioural sources: (name, function, arg_y (n,), arg_u (m,), offset) with their argument
    #: V(arg) = arg_y . y + arg_u . u + offset (exact when no argument depends on a source's output)
    arguments: tuple = ()
    # --- the exact affine form (every netlist) ---
    a0: np.ndarray | None = None       # (n, n) without the behavioural sources
    b0: np.ndarray | None = None       # (n, m)
    drive: np.ndarray | None = None    # (n,) constant part, = sum of drive_by_source's columns
    g: np.ndarray | None = None        # (n, p) output map of the sources' sigma (gains included)
    sources: tuple = ()                # (p,) behavioural source names
    functions: tuple = ()              # (p,) their activations
    arg_y: np.ndarray | None = None    # (p, n)
    arg_u: np.ndarray | None = None    # (p, m)
    arg_c: np.ndarray | None = None    # (p,)
    coupled: tuple = ()                # sources whose argument depends on a source's output
    constants: tuple = ()              # (q,) constant source names (I cards, non-input V cards)
    drive_by_source: np.ndarray | None = None   # (n, q) each constant's part of ``drive``
    arg_by_source: np.ndarray | None = None     # (p, q) each constant's part of ``arg_c``
    #: per entry, the sum of |terms| the circuit adds to form it: keys 'a', 'b', 'drive', 'g',
    #: 'arg_y', 'arg_u', 'arg_c' (the scale of each entry's round-off)
    magnitude: dict = field(default_factory=dict)
    states: tuple = ()     # the element (capacitor or inductor) of each probe's state
    #: elements (other than capacitors and inductors) whose equations reach no state, probe or
    #: argument: removing them changes nothing, so nothing of a spec explains them
    inert: tuple = ()

    def argument_values(self, y: np.ndarray, u: np.ndarray) -> dict:
        """Source name -> V(arg) at probes ``y`` and inputs ``u``."""
        return {name: float(ay @ y + au @ u + off) for name, _, ay, au, off in self.arguments}


def _voltage_law(e, inputs: dict, sources: dict) -> dict:
    """Terms of ``v_p - v_n = sum coeff * var`` of a voltage-defined branch; keys are
    ('v', node), ('i', vsource), ('u', input index), ('s', source index) or ('1', name)."""
    if isinstance(e, ir.VoltageSource):
        return {("u", inputs[e.name]): 1.0} if e.name in inputs else ({("1", e.name): e.dc} if e.dc else {})
    if isinstance(e, ir.Vcvs):
        terms = {}
        for node, g in ((e.ctrl_p, e.gain), (e.ctrl_n, -e.gain)):
            if node != "0":
                terms[("v", node)] = terms.get(("v", node), 0.0) + g
        return terms
    if isinstance(e, ir.Ccvs):
        return {("i", e.sense): e.r}
    return {("s", sources[e.name]): e.gain}  # behavioural: g sigma


def _in_new(var: int, to_new) -> list:
    """An original unknown as (unknown, coefficient) terms of the transformed ones (floating
    capacitors, :func:`state_equations`): itself when there are none."""
    if to_new is None:
        return [(var, 1.0)]
    row = to_new.getrow(var)
    return [(int(j), float(v)) for j, v in zip(row.indices, row.data) if v != 0.0]


class _Reach:
    """Structural reachability in the algebraic block ``K`` (module docstring): which entries
    of ``K^-1 R`` can be non-zero for a right-hand side ``R``."""

    def __init__(self, k_mat):
        from scipy.sparse.csgraph import maximum_bipartite_matching

        k = sparse.csr_matrix(k_mat, copy=True)
        k.eliminate_zeros()
        self.perm = maximum_bipartite_matching(k, perm_type="column") if k.shape[0] else np.zeros(0, int)
        self.ok = not np.any(self.perm < 0)
        # K' = K[:, perm] has a zero-free diagonal; K' y = R, x[perm] = y
        self.graph = (k[:, self.perm] != 0).astype(np.int8).tocsr() if self.ok else None

    def mask(self, rhs) -> np.ndarray:
        """Boolean (rows of K, columns of rhs): True where ``K^-1 rhs`` may be non-zero."""
        reach = sparse.csr_matrix(rhs != 0, dtype=np.int8)
        for _ in range(self.graph.shape[0] + 1):
            grown = ((reach + self.graph @ reach) != 0).astype(np.int8)
            if grown.nnz == reach.nnz:
                break
            reach = grown
        out = np.zeros(rhs.shape, dtype=bool)
        out[self.perm] = reach.toarray() != 0
        return out



def _inert(acct: list, size: int, floating: list, d, a_idx, reach, m_da, read_alg: set, big_x, to_new,
           exempt: set, necessary) -> tuple:
    """Elements whose equations no state, probe or argument depends on (structurally: reverse
    reachability in the algebraic block's graph from the unknowns that are read), or whose
    current is a multiple of unknowns that are 0 by structure (a resistor at a node held at
    0 V, a VCCS reading a node nothing drives) unless the circuit needs it to be solvable
    (``necessary(name)``: without it the algebraic block is structurally singular, e.g. the
    feedback resistor of a summer whose weights are all 0, which holds the summer's output
    at its 0 V): removing them changes nothing, so nothing of a spec explains them.  An
    element at a node nothing reads is no exception (a fresh node hung on the network, a
    signal computed and never used).  ``exempt``:
    states and inputs (read by the probes; the spec's inputs with or without weights) and the
    behavioural sources (each is matched to an activation of the spec or fails: one whose
    weights are all 0 still realises its activation)."""
    n_alg = len(a_idx)
    row_ok = np.zeros(size, dtype=bool)    # equations (rows after the congruence) that matter
    row_ok[d] = True
    var_live = np.zeros(size, dtype=bool)  # unknowns that can be non-zero
    var_live[d] = True
    if n_alg:
        needed = np.zeros(n_alg, dtype=bool)
        needed[np.unique(m_da.tocoo().col)] = True
        needed[list(read_alg)] = True
        if reach is not None and reach.ok:   # y_r = x[perm[r]] is solved by equation r
            inv = np.empty(n_alg, dtype=np.intp)
            inv[reach.perm] = np.arange(n_alg)
            vec = np.zeros(n_alg, dtype=bool)
            vec[inv[np.flatnonzero(needed)]] = True
            graph_t = reach.graph.T.tocsr()
            for _ in range(n_alg + 1):   # y_i needed and equation i reads y_j: y_j needed
                grown = vec | (graph_t @ vec.astype(np.int8) != 0)
                if grown.sum() == vec.sum():
                    break
                vec = grown
            row_ok[a_idx] = vec
        else:
            row_ok[a_idx] = True
        var_live[a_idx] = np.asarray(abs(big_x).sum(axis=1)).ravel() > 0
    if to_new is not None:      # original unknown -> the transformed ones it is made of
        var_live = (abs(to_new) @ var_live.astype(np.float64)) > 0
    row_orig = row_ok.copy()    # an original row -> the rows it became (floating capacitors a-b)
    for a, b, _, _ in floating:
        row_orig[a], row_orig[b] = row_ok[b], row_ok[a] or row_ok[b]
    if not acct:
        return ()
    names = [name for block in acct for name in block[0]]
    r1, r2, c1, c2, fixed = (np.concatenate([block[i] for block in acct]) for i in (1, 2, 3, 4, 5))

    def pick(table, idx):
        return np.where(idx >= 0, table[np.maximum(idx, 0)], False)

    matters = pick(row_orig, r1) | pick(row_orig, r2)
    # a current proportional to structural zeros: no effect, unless the circuit cannot be
    # solved without the element (``necessary``)
    dead = ~(pick(var_live, c1) | pick(var_live, c2)) & (fixed < 0) & matters
    for k in np.flatnonzero(dead):
        if necessary(names[k]):
            dead[k] = False
    live = np.where(fixed >= 0, fixed == 1, ~dead)
    effect: dict = {}
    for name, ok in zip(names, matters & live):   # a merged law's members share its row
        effect[name] = effect.get(name, False) or bool(ok)
    return tuple(name for name, ok in effect.items() if not ok and name not in exempt)


class _Law:
    """A (possibly merged) voltage-defined branch p -> n with its terms."""

    __slots__ = ("name", "p", "n", "terms", "members")

    def __init__(self, name: str, p: str, n: str, terms: dict, members: tuple = ()):
        self.name, self.p, self.n, self.terms = name, p, n, terms
        self.members = members or (name,)   # the elements merged into it

    def flip(self) -> None:
        self.p, self.n = self.n, self.p
        for key in self.terms:
            self.terms[key] = -self.terms[key]


def _merge_series_chains(laws: list, protected_nodes: set, protected_names: set, incident: dict) -> list:
    """Collapse chains of voltage-defined branches through nodes that nothing else touches
    (the CCVS/VCVS stacks of the series form): two laws p -> mid -> n become one p -> n
    with the summed terms.  Branches referenced as sense sources or probes are kept."""
    alive = {id(law): law for law in laws}
    for mid, members in incident.items():
        if mid == "0" or mid in protected_nodes or len(members) != 2:
            continue
        one, two = members
        if not (isinstance(one, _Law) and isinstance(two, _Law)) or one is two:
            continue
        if one.name in protected_names or two.name in protected_names:
            continue
        if one.p == mid and two.n == mid:       # orient as one: p -> mid, two: mid -> n
            one, two = two, one
        elif one.n != mid or two.p != mid:      # same orientation at mid: flip the smaller
            small = one if len(one.terms) <= len(two.terms) else two
            small.flip()
            if one.p == mid and two.n == mid:
                one, two = two, one
        if one.p == two.n:   # a loop of voltage sources: leave it (it is singular)
            continue
        big, small = (one, two) if len(one.terms) >= len(two.terms) else (two, one)
        for key, value in small.terms.items():
            big.terms[key] = big.terms.get(key, 0.0) + value
        merged = _Law(big.name, one.p, two.n, big.terms, one.members + two.members)
        del alive[id(one)], alive[id(two)]
        alive[id(merged)] = merged
        for node, old in ((one.p, one), (two.n, two)):
            if node != "0":  # ground is never merged: its incidence is not tracked
                incident[node] = [merged if x is old else x for x in incident[node]]
        incident[mid] = []
    return list(alive.values())




def _structurally_regular(k) -> bool:
    """The square sparse matrix ``k`` has a zero-free diagonal after a column permutation
    (a perfect matching of its rows and columns)."""
    from scipy.sparse.csgraph import maximum_bipartite_matching

    if k.shape[0] == 0:
        return True
    return not np.any(maximum_bipartite_matching(sparse.csr_matrix(k), perm_type="column") < 0)


#: Two-terminal elements whose current is one: a terminal at a node nothing else touches
#: carries none, so the element has no effect (:func:`_dangling`).
_TWO_TERMINAL = (ir.Resistor, ir.Capacitor, ir.Inductor, ir.CurrentSource, ir.VoltageSource, ir.Vccs, ir.Cccs,
                 ir.Vcvs, ir.Ccvs) + tuple(ir.BEHAVIOURAL)
#: Of those, the ones defined by their current (a short across them carries nothing either).
_BY_CURRENT = (ir.Resistor, ir.CurrentSource, ir.Vccs, ir.Cccs, ir.TanhCurrent, ir.ActivationCurrent)


def _dangling(elements, saves, exempt: set) -> list:
    """Elements whose current is 0 by the circuit's graph: a two-terminal element with a
    terminal at a node that no other element's current reaches and nothing reads (no probe,
    control port or behavioural argument), pruned until none is left (a chain hung on the
    network), a current-defined element whose two terminals are one node, an element alone
    at a node (no other element's terminal, control ones included, and no probe), and a 0 V
    source whose current nothing reads (a wire the spec does not have).  They have
    no effect on the state equations whatever their values: nothing of a spec explains them."""
    read = {p[2:-1] for p in saves if p[0] == "v"} | {"0"}
    members: dict = {}
    out = []
    touching: dict = {}   # node -> the one element at it by any terminal (control ones included), or None: more
    for e in elements:    # one pass (n = 100 dense: 10^4 elements)
        terminals = _terminals(e)
        if isinstance(e, (ir.Vccs, ir.Vcvs)):
            read.update((e.ctrl_p, e.ctrl_n))
        elif isinstance(e, ir.BEHAVIOURAL):
            read.add(e.arg)
        elif isinstance(e, ir.Gyrator):
            read.update((e.a, e.b))
        for node in terminals:
            members.setdefault(node, []).append(e)
        if terminals[0] == terminals[-1] and isinstance(e, _BY_CURRENT) and e.name not in exempt:
            out.append(e.name)
        # a gyrator instance's two VCCS (g.<instance>.g_a, g_b) are one element
        whole = e.name.split(".")[1] if e.name.startswith("g.") and e.name.count(".") == 2 else e.name
        for node in _nodes_of(e):
            if touching.setdefault(node, whole) != whole:
                touching[node] = None
    probed = {p[2:-1] for p in saves if p[0] == "v"} | {"0"}
    out += [name for node, name in touching.items()   # alone at a node (a gyrator's port hung there)
            if name is not None and node not in probed and name not in exempt]
    # a 0 V source is a wire with an ammeter: explained only when its current is read (a sense
    # source of an F or H element, or an i(...) probe); otherwise it is a wire the spec lacks
    sensed = {e.sense for e in elements if isinstance(e, (ir.Cccs, ir.Ccvs))} | {p[2:-1] for p in saves if p[0] == "i"}
    out += [e.name for e in elements if isinstance(e, ir.VoltageSource) and e.dc == 0.0 and e.waveform is None
            and e.ac == 0.0 and e.name not in sensed and e.name not in exempt and e.name not in out]
    gone = set(out)
    count = {node: sum(e.name not in gone for e in ms) for node, ms in members.items()}   # current terminals left
    queue = [node for node, k in count.items() if k == 1 and node not in read]
    while queue:
        node = queue.pop()
        if count[node] != 1:
            continue
        e = next(x for x in members[node] if x.name not in gone)
        if not isinstance(e, _TWO_TERMINAL) or e.name in exempt:
            continue
        gone.add(e.name)
        out.append(e.name)
        for other in _terminals(e):
            count[other] -= 1
            if count[other] == 1 and other not in read:
                queue.append(other)
    return out


def dangling_elements(net: ParsedNetlist) -> list:
    """:func:`_dangling` of a parsed netlist (its inputs ``Vx_<l>`` and behavioural sources
    exempt: the spec has every input, and each source is matched to an activation or fails,
    one whose weights out are all 0 too): for a netlist
    whose equations cannot even be assembled, the elements to name first."""
    exempt = {e.name for e in net.elements if isinstance(e, ir.VoltageSource) and _INPUT_RE.match(e.name)
              or isinstance(e, ir.BEHAVIOURAL)}
    return _dangling(net.elements, net.saves, exempt)


def _singular_where(k_mat, a_idx, unknown_names: list, incident: dict) -> str:
    """Where a singular algebraic block is singular by structure: the unknowns no equation
    can solve for and the elements at them ('' when it is singular by its values only)."""
    from scipy.sparse.csgraph import maximum_bipartite_matching

    k = sparse.csr_matrix(k_mat, copy=True)
    k.eliminate_zeros()
    cols = np.flatnonzero(maximum_bipartite_matching(k, perm_type="row") < 0)   # unknowns no row solves
    rows = np.flatnonzero(maximum_bipartite_matching(k, perm_type="column") < 0)  # equations left over
    free = list(dict.fromkeys(unknown_names[int(a_idx[j])] for j in np.concatenate([cols, rows])))[:4]
    if not free:
        return ""
    found = []
    for kind, name in free:
        if kind == "node":
            for x in incident.get(name, []):
                for member in getattr(x, "members", (x.name,)):
                    if member not in found:
                        found.append(member)
        elif name not in found:
            found.append(name)
    lonely = [x for node, xs in incident.items() if node != "0" and len(xs) == 1
              for x in getattr(xs[0], "members", (xs[0].name,))]
    if lonely:   # an element alone at a node: the first suspect
        found = list(dict.fromkeys(lonely[:4] + found))
    where = ", ".join(f"{kind} {name}" for kind, name in free)
    return f"; no unique solution at {where} (elements there: {', '.join(found[:8]) or 'none'})"


def state_equations(net: ParsedNetlist, slopes: dict | None = None) -> StateEquations:
    """Assemble and reduce the MNA equations of a parsed netlist (see the module docstring);
    ``slopes``: behavioural source name -> f' at which :attr:`StateEquations.a` and ``b``
    are linearised (missing: 1); the exact affine form does not depend on them."""
    slopes = slopes or {}
    elements = net.elements
    kinds: dict = {}      # element type -> its elements, in netlist order (one pass: n = 1000 has 10^6)
    for e in elements:
        kinds.setdefault(type(e), []).append(e)

    def of(*types) -> list:
        """The elements of these types (by type, each in netlist order)."""
        if len(types) == 1:
            return kinds.get(types[0], [])
        return [e for t in types for e in kinds.get(t, ())]

    inputs: dict[str, int] = {}
    for e in of(ir.VoltageSource):
        m = _INPUT_RE.match(e.name)
        if m:
            inputs[e.name] = int(m.group(1))
        elif e.waveform is not None or e.ac != 0.0:
            raise net.fail(e.name, "only input sources Vx_<l> may carry a waveform or AC magnitude")
    m_in = max(inputs.values()) + 1 if inputs else 0
    if sorted(inputs.values()) != list(range(m_in)):
        raise NetlistError(f"input sources must be numbered Vx_0 .. Vx_{m_in - 1} without gaps "
                           f"(found {', '.join(sorted(inputs))})")
    if not net.saves:
        raise NetlistError("the netlist has no .save card: it does not say which quantities are the neuron states")
    behavioural = of(*ir.BEHAVIOURAL)
    src_index = {e.name: q for q, e in enumerate(behavioural)}
    constants = [e.name for e in of(ir.CurrentSource, ir.VoltageSource) if e.dc != 0.0 and e.name not in inputs]
    const_index = {name: q for q, name in enumerate(constants)}
    p_src, q_src = len(behavioural), len(constants)

    # Voltage-defined branches as laws; series chains of them merged.
    laws, incident = [], {}
    protected_nodes = {p[2:-1] for p in net.saves if p[0] == "v"}
    protected_names = {p[2:-1] for p in net.saves if p[0] == "i"}
    for e in elements:
        if isinstance(e, (ir.VoltageSource, ir.Vcvs, ir.Ccvs, ir.TanhVoltage, ir.ActivationVoltage)):
            law = _Law(e.name, e.p, e.n, _voltage_law(e, inputs, src_index))
            laws.append(law)
            terminals = (e.p, e.n)
            law_or_elem = law
        else:
            terminals = _terminals(e)
            law_or_elem = e
        for node in terminals:
            if node != "0":
                incident.setdefault(node, []).append(law_or_elem)
        if isinstance(e, (ir.Vccs, ir.Vcvs)):
            protected_nodes.update((e.ctrl_p, e.ctrl_n))
        elif isinstance(e, ir.BEHAVIOURAL):
            protected_nodes.add(e.arg)
        elif isinstance(e, (ir.Cccs, ir.Ccvs)):
            protected_names.add(e.sense)
    laws = _merge_series_chains(laws, protected_nodes, protected_names, incident)
    dangling = _dangling(elements, net.saves, set(inputs) | {e.name for e in of(*ir.BEHAVIOURAL)})

    # Unknowns: node voltages, then branch currents of the laws and the inductors.
    node_index: dict[str, int] = {}
    for node, members in incident.items():
        if node != "0" and members:
            node_index[node] = len(node_index)
    for node in sorted(protected_nodes):
        if node != "0" and node not in node_index:
            node_index[node] = len(node_index)
    nn = len(node_index)
    inductors = of(ir.Inductor)
    branch = {law.name: nn + k for k, law in enumerate(laws)}
    branch.update({e.name: nn + len(laws) + k for k, e in enumerate(inductors)})
    size = nn + len(laws) + len(inductors)
    for name in protected_names:
        if name not in branch:
            raise NetlistError(f"current of {name!r} is sensed but {name!r} is not a voltage source")

    def idx(node: str) -> int:
        return -1 if node == "0" else node_index[node]

    rows: list = []
    cols: list = []
    vals: list = []
    e_diag = np.zeros(size)
    ic = np.zeros(size)
    owner = [""] * size            # the capacitor or inductor of a state unknown
    # right-hand side columns: inputs (m), sources' sigma (p), constants (q)
    r_rows: list = []
    r_cols: list = []
    r_vals: list = []
    width = m_in + p_src + q_src

    def stamp(r, c, v) -> None:
        """Vectorised: add v at (r, c) wherever both indices are not ground."""
        r, c, v = np.broadcast_arrays(np.asarray(r), np.asarray(c), np.asarray(v, dtype=float))
        keep = (r >= 0) & (c >= 0)
        rows.append(r[keep])
        cols.append(c[keep])
        vals.append(v[keep])

    def source(r: int, c: int, v: float) -> None:
        if r >= 0:
            r_rows.append(r)
            r_cols.append(c)
            r_vals.append(v)

    # What each element enters (rows) and is proportional to (columns), for the check that
    # every element has an effect (:func:`_inert`): (name, row1, row2, col1, col2, fixed)
    # with -1 for none and ``fixed`` True when its value alone decides (a source's).
    acct: list = []   # blocks (names, row1, row2, col1, col2, fixed: 1 yes, 0 no effect, -1 by the columns)

    def account(items) -> None:
        """Entries (name, row1, row2, col1, col2, fixed[, node terminals t1, t2: default the rows])."""
        if items:
            items = [x if len(x) == 8 else (*x, x[1], x[2]) for x in items]
            names, *cols = zip(*items)
            acct.append((list(names), *(np.array(c, dtype=np.intp) for c in cols)))

    account([(e.name, idx(e.src), idx(e.dst), branch[e.sense], -1, -1 if e.gain else 0) for e in of(ir.Cccs)]
            + [(e.name, idx(e.src), idx(e.dst), -1, -1, int(e.dc != 0.0)) for e in of(ir.CurrentSource)]
            + [(e.name, idx(e.src), idx(e.dst), -1, -1, int(e.gain != 0.0))
               for e in of(ir.TanhCurrent, ir.ActivationCurrent)])

    def gather(kind, nodes: tuple, value: str):
        """Index arrays of the given node fields and the value array of one element kind."""
        sel = of(kind)
        if not sel:
            return None
        return ([np.array([idx(getattr(e, f)) for e in sel], dtype=np.intp) for f in nodes]
                + [np.array([getattr(e, value) for e in sel], dtype=float)])

    # Node rows are KCL: C v' = -(currents leaving the node) + (currents injected).
    res = gather(ir.Resistor, ("a", "b"), "resistance")
    if res:
        a, b, r = res
        acct.append(([e.name for e in of(ir.Resistor)], a, b, a, b, np.full(a.size, -1, dtype=np.intp), a, b))
        g = 1.0 / r
        stamp(np.concatenate([a, a, b, b]), np.concatenate([a, b, b, a]), np.concatenate([-g, g, -g, g]))
    vccs = gather(ir.Vccs, ("src", "dst", "ctrl_p", "ctrl_n"), "gm")
    vccs_parts = [vccs] if vccs else []
    if vccs:
        acct.append(([e.name for e in of(ir.Vccs)], *vccs[:4], np.where(vccs[4] != 0, -1, 0), *vccs[:2]))
    gyr = gather(ir.Gyrator, ("a", "b"), "g")
    if gyr:  # G_a 0 a b 0 {g};  G_b 0 b a 0 {-g}
        a, b, g = gyr
        acct.append(([e.name for e in of(ir.Gyrator)], a, b, a, b, np.where(g != 0, -1, 0), a, b))
        ground = np.full(a.size, -1, dtype=np.intp)
        vccs_parts.append([ground, a, b, ground, g])
        vccs_parts.append([ground, b, a, ground, -g])
    for src, dst, cp, cn, gm in vccs_parts:  # gm V(cp, cn) leaves src, enters dst
        stamp(np.concatenate([src, src, dst, dst]), np.concatenate([cp, cn, cp, cn]),
              np.concatenate([-gm, gm, gm, -gm]))
    floating = []  # (state node, other node, capacitance) of capacitors between two nodes
    for e in of(ir.Capacitor, ir.Cccs, ir.CurrentSource, ir.TanhCurrent, ir.ActivationCurrent, ir.Inductor):
        if isinstance(e, ir.Capacitor):
            a, b = idx(e.a), idx(e.b)
            if a < 0 and b < 0:
                raise net.fail(e.name, "a capacitor must connect a node to ground 0 or to another node")
            if a >= 0 and b >= 0:  # floating (an integrator's feedback): its voltage v_a - v_b is the state
                if e_diag[a] or any(f[0] == a for f in floating):
                    raise net.fail(e.name, "second capacitor at the same node")
                floating.append((a, b, e.capacitance, e.name))
                ic[a] = e.ic
                owner[a] = e.name
                continue
            node = a if a >= 0 else b
            if e_diag[node]:
                raise net.fail(e.name, "second capacitor at the same node")
            e_diag[node] = e.capacitance
            ic[node] = e.ic if a >= 0 else -e.ic
            owner[node] = e.name
        elif isinstance(e, ir.Cccs):
            j = branch[e.sense]
            stamp([idx(e.src), idx(e.dst)], [j, j], [-e.gain, e.gain])
        elif isinstance(e, ir.CurrentSource):
            if e.name in const_index:
                source(idx(e.src), m_in + p_src + const_index[e.name], -e.dc)
                source(idx(e.dst), m_in + p_src + const_index[e.name], e.dc)
        elif isinstance(e, (ir.TanhCurrent, ir.ActivationCurrent)):  # g sigma from src into dst
            source(idx(e.src), m_in + src_index[e.name], -e.gain)
            source(idx(e.dst), m_in + src_index[e.name], e.gain)
        elif isinstance(e, ir.Inductor):      # L j' = v_a - v_b, current a -> b
            j, a, b = branch[e.name], idx(e.a), idx(e.b)
            stamp([a, b, j, j], [j, j, a, b], [-1.0, 1.0, 1.0, -1.0])
            e_diag[j] = e.inductance
            ic[j] = e.ic
            owner[j] = e.name
    for a, b, _, name in floating:
        if e_diag[b] or any(f[0] == b for f in floating):
            other = owner[b] if e_diag[b] else next(f[3] for f in floating if f[0] == b)
            raise net.fail(name, "a capacitor must connect a node to ground 0, or two nodes neither of which has "
                                 f"another capacitor (an op-amp integrator's feedback); {other} "
                                 f"(line {net.line_of.get(other, '?')}) is the other capacitor there")
    law_acct: list = []
    for law in laws:                            # 0 = v_p - v_n - sum(terms)
        j, p, n = branch[law.name], idx(law.p), idx(law.n)
        law_acct.extend((member, j, -1, -1, -1, 1, p, n) for member in law.members)
        r, c, v = [p, n, j, j], [j, j, p, n], [-1.0, 1.0, 1.0, -1.0]
        for (kind, key), coeff in law.terms.items():
            if kind in ("v", "i"):
                r.append(j)
                c.append(idx(key) if kind == "v" else branch[key])
                v.append(-coeff)
            elif kind == "u":       # on the right-hand side: -coeff
                source(j, key, -coeff)
            elif kind == "s":
                source(j, m_in + key, -coeff)
            else:
                source(j, m_in + p_src + const_index[key], -coeff)
        stamp(r, c, v)

    account(law_acct)
    mat = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(size, size))
    # the same stamps in absolute value: the size of what each entry sums (its round-off scale)
    mat_abs = sparse.csr_matrix((np.abs(np.concatenate(vals)), (np.concatenate(rows), np.concatenate(cols))),
                                shape=(size, size))
    rhs = sparse.csr_matrix((np.asarray(r_vals, dtype=float), (np.asarray(r_rows, dtype=np.intp),
                             np.asarray(r_cols, dtype=np.intp))), shape=(size, width))
    # Floating capacitors a-b: the unknown of node a becomes the capacitor voltage v_a - v_b
    # (x = T x~, T = prod(I + e_a e_b^T)); row a becomes -(KCL at b), whose currents give the
    # capacitor's (an integrator's virtual ground: no op-amp output current to cancel), and
    # row b the KCL of the supernode {a, b}: S E T is diagonal again.  ``to_new`` maps an
    # original unknown to its row of T.  Everything stays sparse (an n = 800 op-amp circuit
    # has ~10^4 unknowns).
    to_new = s_mat = None
    if floating:
        fa = np.array([f[0] for f in floating], dtype=np.intp)
        fb = np.array([f[1] for f in floating], dtype=np.intp)
        cap = np.array([f[2] for f in floating])
        ones = np.ones(fa.size)
        eye = sparse.identity(size, format="csr")
        # the a's and b's are disjoint (checked above), so the products are one sum each
        t_mat = (eye + sparse.csr_matrix((ones, (fa, fb)), shape=(size, size))).tocsr()
        s_mat = (eye + sparse.csr_matrix((np.concatenate([-ones, -ones, ones]),
                                          (np.concatenate([fa, fa, fb]), np.concatenate([fa, fb, fa]))),
                                         shape=(size, size))).tocsr()
        e_full = (sparse.diags(e_diag) + sparse.csr_matrix(
            (np.concatenate([cap, -cap, -cap, cap]),
             (np.concatenate([fa, fa, fb, fb]), np.concatenate([fa, fb, fa, fb]))), shape=(size, size))).tocsr()
        e_new = (s_mat @ e_full @ t_mat).tocoo()
        off = (e_new.row != e_new.col) & (e_new.data != 0.0)
        if np.any(off):
            raise NetlistError("the capacitors form a loop, a chain or a node with a second capacitor to "
                               "ground, which these state equations do not cover")
        e_diag = np.asarray(e_new.tocsr().diagonal()).copy()
        mat = (s_mat @ mat @ t_mat).tocsr()
        mat_abs = (abs(s_mat) @ mat_abs @ abs(t_mat)).tocsr()
        rhs = (s_mat @ rhs).tocsr()
        to_new = t_mat
    d = np.nonzero(e_diag)[0]
    a_idx = np.nonzero(e_diag == 0)[0]
    nd = d.size
    if nd == 0:
        raise NetlistError("the netlist has no capacitor or inductor: no state")
    full = sparse.hstack([mat[:, d], rhs], format="csr")   # columns: states, inputs, sigma, constants
    full_abs = sparse.hstack([mat_abs[:, d], abs(rhs)], format="csr")
    cols_total = full.shape[1]
    if a_idx.size:
        k_mat = mat[a_idx][:, a_idx].tocsc()
        with warnings.catch_warnings():
            warnings.simplefilter("error", sparse_linalg.MatrixRankWarning)
            try:
                lu = sparse_linalg.splu(k_mat)
            except (RuntimeError, sparse_linalg.MatrixRankWarning):
                names = [None] * size
                for node, k in node_index.items():
                    names[k] = ("node", node)
                for name, k in branch.items():
                    names[k] = ("the current of", name)
                raise NetlistError("the circuit's algebraic equations are singular (a floating node, a loop of "
                                   "voltage sources or a cut set of current sources): no unique solution"
                                   + _singular_where(k_mat, a_idx, names, incident)) from None
        reach = _Reach(k_mat)
        rhs_a = full[a_idx].tocsc()
        pieces = []
        for outer in range(0, cols_total, _MASK_CHUNK):   # the structure once per wide block
            wide = rhs_a[:, outer:outer + _MASK_CHUNK]
            mask = reach.mask(wide) if reach.ok else None
            chunk = max(_CHUNK, min(256, 65536 // a_idx.size))   # small systems: few wide solves
            for start in range(0, wide.shape[1], chunk):   # X = K^-1 rhs_a, structural zeros exact
                dense = wide[:, start:start + chunk].toarray()
                x = lu.solve(np.asfortranarray(dense))
                # one step of iterative refinement: each entry to its own relative accuracy (LU
                # mixes rows of very different sizes; the residual is computed from K exactly)
                x += lu.solve(np.asfortranarray(dense - k_mat @ x))
                if not np.all(np.isfinite(x)):
                    raise NetlistError("the circuit's algebraic equations are singular: no unique solution")
                if mask is not None:
                    x = np.where(mask[:, start:start + chunk], x, 0.0)
                pieces.append(sparse.csc_matrix(x))
        big_x = sparse.hstack(pieces, format="csr")
        m_da = mat[d][:, a_idx]
        state_rows = (full[d] - m_da @ big_x).toarray()
        magnitude_rows = (full_abs[d] + mat_abs[d][:, a_idx] @ abs(big_x)).toarray()
    else:
        big_x = sparse.csr_matrix((0, cols_total))
        state_rows = full[d].toarray()
        magnitude_rows = full_abs[d].toarray()
    inv_e = 1.0 / e_diag[d]
    state_rows *= inv_e[:, None]
    magnitude_rows *= np.abs(inv_e)[:, None]
    pos_d = {int(v): k for k, v in enumerate(d)}
    pos_a = {int(v): k for k, v in enumerate(a_idx)}
    read_alg: set = set()   # algebraic unknowns the probes and the arguments read

    def read(var: int) -> np.ndarray:
        """An original unknown as a row over (states, inputs, sigma, constants)."""
        out = np.zeros(cols_total)
        for v, coeff in _in_new(var, to_new):
            if v in pos_d:
                out[pos_d[v]] += coeff
            else:
                read_alg.add(pos_a[v])
                out -= coeff * big_x.getrow(pos_a[v]).toarray().ravel()
        return out

    # Probes: y = P x_d + D u + Q sigma + y_off; P must be monomial (each probe one state).
    probe_rows = []
    for probe in net.saves:
        name = probe[2:-1]
        if name == "0":
            raise NetlistError(f"probe {probe} is ground")
        probe_rows.append(read(node_index[name] if probe[0] == "v" else branch[name]))
    probe_rows = np.array(probe_rows)
    p_mat = probe_rows[:, :nd]
    if p_mat.shape[0] != nd:
        unsaved = [owner[int(v)] for v in d if not np.any(p_mat[:, pos_d[int(v)]])]
        extra = (f"; not read by any probe: {', '.join(unsaved[:5])}" if unsaved and p_mat.shape[0] < nd else "")
        raise NetlistError(f"the netlist saves {p_mat.shape[0]} probes but has {nd} state variables "
                           f"(capacitors and inductors): the probes are not the state{extra}")
    nz = p_mat != 0
    monomial = bool(np.all(nz.sum(axis=1) == 1) and np.all(nz.sum(axis=0) == 1))
    if monomial:   # each probe one state, times a factor: transforms keep exact (structural) zeros
        pc = np.argmax(nz, axis=1)          # probe r reads state pc[r]
        pv = p_mat[np.arange(nd), pc]
        p_inv = np.zeros((nd, nd))
        p_inv[pc, np.arange(nd)] = 1.0 / pv
    else:          # any other invertible probe map (extra probes of internal states: build.py)
        if np.linalg.matrix_rank(p_mat) < nd:
            raise NetlistError("the saved probes do not determine the circuit's state")
        pc, pv = np.arange(nd), np.ones(nd)
        p_inv = np.linalg.inv(p_mat)
    scale = float(np.max(np.abs(p_mat)))
    if m_in and np.max(np.abs(probe_rows[:, nd:nd + m_in])) > _FEEDTHROUGH_TOL * scale:
        raise NetlistError("a saved probe depends directly on an input: the probes are not the state")
    if p_src and np.any(probe_rows[:, nd + m_in:nd + m_in + p_src]):
        raise NetlistError("a saved probe depends directly on a behavioural source's output: the probes are "
                           "not the state")
    # y = P x + y_off  =>  y' = P A_x P^-1 y + P (rest) - P A_x P^-1 y_off
    if monomial:
        rows_y = state_rows[pc] * pv[:, None]            # P times the state rows
        mag_y = magnitude_rows[pc] * np.abs(pv)[:, None]
        a_x = rows_y[:, :nd][:, pc] / pv[None, :]        # P A_x P^-1
        mag_a = mag_y[:, :nd][:, pc] / np.abs(pv)[None, :]
    else:
        rows_y = p_mat @ state_rows
        mag_y = np.abs(p_mat) @ magnitude_rows
        a_x = rows_y[:, :nd] @ p_inv
        mag_a = mag_y[:, :nd] @ np.abs(p_inv)
    y_off = probe_rows[:, nd + m_in + p_src:]        # (n, q): each constant's offset of the probes
    rest = rows_y[:, nd:]
    rest_mag = mag_y[:, nd:]
    b0, g_mat = rest[:, :m_in], rest[:, m_in:m_in + p_src]
    by_source = rest[:, m_in + p_src:] - (a_x @ y_off if q_src else 0.0)
    y0 = p_mat @ ic[d] + y_off.sum(axis=1)
    magnitude = {"a": mag_a, "b": rest_mag[:, :m_in], "g": rest_mag[:, m_in:m_in + p_src],
                 "drive": rest_mag[:, m_in + p_src:].sum(axis=1)}

    # Every source's argument, over (y, u, sigma, constants): x_d = P^-1 (y - y_off).
    arg_full = np.array([read(node_index[e.arg]) if e.arg != "0" else np.zeros(cols_total)
                         for e in behavioural]).reshape(p_src, cols_total)
    arg_y = arg_full[:, :nd][:, pc] / pv[None, :] if monomial else arg_full[:, :nd] @ p_inv
    arg_u = arg_full[:, nd:nd + m_in]
    arg_s = arg_full[:, nd + m_in:nd + m_in + p_src]
    arg_by_source = arg_full[:, nd + m_in + p_src:] - arg_y @ y_off
    coupled = tuple(e.name for e, row in zip(behavioural, arg_s) if np.any(row))
    arg_mag = np.abs(arg_full)
    magnitude.update(arg_y=(arg_mag[:, :nd][:, pc] / np.abs(pv)[None, :] if monomial
                            else arg_mag[:, :nd] @ np.abs(p_inv)), arg_u=arg_mag[:, nd:nd + m_in],
                     arg_c=arg_mag[:, nd + m_in + p_src:].sum(axis=1))
    drive = by_source.sum(axis=1)
    arg_c = arg_by_source.sum(axis=1)
    by_name = {e.name: e for e in elements}

    def necessary(name: str) -> bool:
        """Without element ``name`` the algebraic block is structurally singular (the circuit
        needs it to be solvable, though its current is 0 by structure)."""
        if not a_idx.size or name not in by_name:
            return False
        e = by_name[name]
        if isinstance(e, ir.Resistor):
            g, a, b = 1.0 / e.resistance, idx(e.a), idx(e.b)
            parts = [(a, a, -g), (a, b, g), (b, b, -g), (b, a, g)]
        elif isinstance(e, ir.Vccs):
            src, dst, cp, cn = idx(e.src), idx(e.dst), idx(e.ctrl_p), idx(e.ctrl_n)
            parts = [(src, cp, -e.gm), (src, cn, e.gm), (dst, cp, e.gm), (dst, cn, -e.gm)]
        elif isinstance(e, ir.Cccs):
            parts = [(idx(e.src), branch[e.sense], -e.gain), (idx(e.dst), branch[e.sense], e.gain)]
        elif isinstance(e, ir.Gyrator):
            parts = [(idx(e.a), idx(e.b), e.g), (idx(e.b), idx(e.a), -e.g)]
        else:
            return True   # a kind whose stamp is not taken apart here: kept (never a false failure)
        parts = [x for x in parts if x[0] >= 0 and x[1] >= 0]
        if not parts:
            return False
        r, c, v = (np.array(x) for x in zip(*parts))
        own = sparse.csr_matrix((v.astype(float), (r.astype(np.intp), c.astype(np.intp))), shape=(size, size))
        if s_mat is not None:
            own = s_mat @ own @ to_new
        own_k = own.tocsr()[a_idx][:, a_idx]
        rest = (k_mat - own_k).tocsr()
        rest.eliminate_zeros()
        if reach.ok:   # the matching already found survives unless the element held one of its entries
            hit = own_k.tocoo()
            left = np.array([rest[r, c] for r, c in zip(hit.row.tolist(), hit.col.tolist())], dtype=float)
            held = (reach.perm[hit.row] == hit.col) & (left == 0.0)
            if not np.any(held):
                return False
        return not _structurally_regular(rest)

    inert = _inert(acct, size, floating, d, a_idx, reach if a_idx.size else None,
                   mat[d][:, a_idx] if a_idx.size else None, read_alg, big_x, to_new,
                   {e.name for e in of(ir.Capacitor) + of(ir.Inductor)} | set(inputs) | set(src_index), necessary)
    inert = tuple(dict.fromkeys(dangling + list(inert)))
    # The linearisation (compatibility: ``a``, ``b`` at the slopes asked for, default 1).
    slope = np.array([slopes.get(e.name, 1.0) for e in behavioural])
    a_lin = a_x + (g_mat * slope[None, :]) @ arg_y if p_src else a_x
    b_lin = b0 + (g_mat * slope[None, :]) @ arg_u if p_src else b0
    arguments = tuple((e.name, e.function, arg_y[i], arg_u[i], float(arg_c[i])) for i, e in enumerate(behavioural))
    has_c, has_l = ir.Capacitor in kinds, ir.Inductor in kinds
    form = "mixed" if has_c and has_l else ("parallel" if has_c else "series")
    if floating and form == "parallel":
        form = "opamp"  # capacitor voltages of integrators (floating capacitors)
    linearised = bool(p_src)
    return StateEquations(a_lin, b_lin, None if linearised else drive, y0, net.saves, form, linearised, arguments,
                          a0=a_x, b0=b0, drive=drive, g=g_mat, sources=tuple(e.name for e in behavioural),
                          functions=tuple(e.function for e in behavioural), arg_y=arg_y, arg_u=arg_u,
                          arg_c=arg_c, coupled=coupled, constants=tuple(constants), drive_by_source=by_source,
                          arg_by_source=arg_by_source, magnitude=magnitude,
                          states=tuple(owner[int(d[v])] for v in pc) if monomial else (), inert=inert)
