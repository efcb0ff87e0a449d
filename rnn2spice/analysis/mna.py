"""State equations of a parsed netlist, assembled from its elements alone (THEORY.md sections 1-4).

    circuit:  dy/dt = A_c y + B_c u + c_c        y = the saved probes (.save), u = Vx_<l>

Modified nodal analysis (MNA), written ``E x' = M x + N u + b``:

* unknowns ``x``: every non-ground node voltage, and the branch current of every V, E, H,
  L element and behavioural voltage source (current from its first node through the
  element to its second);
* node rows are KCL: ``C v' = -(currents leaving the node) + (currents injected)``;
* branch rows are the element's voltage law; an inductor's row is ``L j' = v_a - v_b``.

The unknowns with a capacitor or inductor (``E`` is diagonal on them; a floating capacitor
a-b, e.g. an op-amp integrator's feedback C, makes v_a - v_b the unknown of node a and adds
row a to row b and takes -(row b) as row a, which keeps ``E`` diagonal) are the state ``x_d``; the rest
``x_a`` are algebraic and are eliminated:
``x_a = -M_aa^-1 (M_ad x_d + N_a u + b_a)``.  The probes ``y = P x_d`` (a permutation
with signs, in practice) then give ``A_c = P A_x P^-1``.

Nonlinear sources ``B .. I=g*f(V(z))`` / ``V=g*f(V(z))`` are linearised: a VCCS / VCVS of
gain ``g s`` controlled by ``V(z)``, with ``s`` the source's slope f' (``slopes``; 1 by
default, the *structure*: for tanh its linearisation at 0).  The certificate evaluates the
slopes at an operating point from the argument map (:attr:`StateEquations.arguments`:
every source's V(z) as an affine function of the probes and inputs) and assembles again
(THEORY.md 7).
A gyrator instance is its two VCCS (:data:`rnn2spice.circuit.reader.GYRATOR_TEXT`).

The input is a :class:`~rnn2spice.circuit.reader.ParsedNetlist`; the comparison with the
spec is :mod:`rnn2spice.analysis.certificate`.

This module is longer than 400 lines on purpose: it is one assembly (stamps, the floating-
capacitor congruence, the reduction and its structural zeros) that only makes sense whole.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from rnn2spice.circuit import ir
from rnn2spice.circuit.reader import ParsedNetlist, _terminals
from rnn2spice.errors import NetlistError

#: A saved probe may depend on an input directly only at round-off level (relative).
_FEEDTHROUGH_TOL = 1e-12
_INPUT_RE = re.compile(r"vx_(\d{1,6})\Z")


@dataclass(frozen=True, eq=False)
class StateEquations:
    """``dy/dt = a y + b u + c`` of a netlist, with y the saved probes and u the inputs."""

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

    def argument_values(self, y: np.ndarray, u: np.ndarray) -> dict:
        """Source name -> V(arg) at probes ``y`` and inputs ``u``."""
        return {name: float(ay @ y + au @ u + off) for name, _, ay, au, off in self.arguments}


def _voltage_law(e, inputs: dict, slope: float = 1.0) -> dict:
    """Terms of ``v_p - v_n = sum coeff * var`` of a voltage-defined branch; keys are
    ('v', node), ('i', vsource), ('u', input index) or ('1', '')."""
    if isinstance(e, ir.VoltageSource):
        return {("u", inputs[e.name]): 1.0} if e.name in inputs else ({("1", ""): e.dc} if e.dc else {})
    if isinstance(e, ir.Vcvs):
        terms = {}
        for node, g in ((e.ctrl_p, e.gain), (e.ctrl_n, -e.gain)):
            if node != "0":
                terms[("v", node)] = terms.get(("v", node), 0.0) + g
        return terms
    if isinstance(e, ir.Ccvs):
        return {("i", e.sense): e.r}
    return {("v", e.arg): e.gain * slope} if e.arg != "0" else {}  # behavioural, linearised


def _in_new(var: int, to_new) -> list:
    """An original unknown as (unknown, coefficient) terms of the transformed ones (floating
    capacitors, :func:`state_equations`): itself when there are none."""
    if to_new is None:
        return [(var, 1.0)]
    row = to_new.getrow(var)
    return [(int(j), float(v)) for j, v in zip(row.indices, row.data) if v != 0.0]


def _structural_zeros(k_mat, rhs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``x = k_mat^-1 rhs`` with every structurally zero entry exactly 0: the entries no
    nonzero of ``rhs`` reaches in the graph of ``k_mat`` (columns permuted to a zero-free
    diagonal by a maximum matching; edge j -> i where k[i, j] != 0).  LU fill computes such
    entries as cancelling sums, i.e. as round-off, which would be a stray coupling."""
    from scipy.sparse.csgraph import maximum_bipartite_matching

    k = sparse.csr_matrix(k_mat)
    k.eliminate_zeros()
    perm = maximum_bipartite_matching(k, perm_type="column")  # row i matched with column perm[i]
    if np.any(perm < 0):
        return x
    graph = (k[:, perm] != 0).astype(np.int8).tocsr()  # K' y = rhs, x[perm] = y
    reach = sparse.csr_matrix(rhs != 0, dtype=np.int8)
    for _ in range(graph.shape[0]):
        grown = ((reach + graph @ reach) != 0).astype(np.int8)
        if grown.nnz == reach.nnz:
            break
        reach = grown
    mask = np.zeros(x.shape, dtype=bool)
    mask[perm] = reach.toarray() != 0
    return np.where(mask, x, 0.0)


class _Law:
    """A (possibly merged) voltage-defined branch p -> n with its terms."""

    __slots__ = ("name", "p", "n", "terms")

    def __init__(self, name: str, p: str, n: str, terms: dict):
        self.name, self.p, self.n, self.terms = name, p, n, terms

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
        merged = _Law(big.name, one.p, two.n, big.terms)
        del alive[id(one)], alive[id(two)]
        alive[id(merged)] = merged
        for node, old in ((one.p, one), (two.n, two)):
            if node != "0":  # ground is never merged: its incidence is not tracked
                incident[node] = [merged if x is old else x for x in incident[node]]
        incident[mid] = []
    return list(alive.values())


def state_equations(net: ParsedNetlist, slopes: dict | None = None) -> StateEquations:
    """Assemble and reduce the MNA equations of a parsed netlist (see the module docstring);
    ``slopes``: behavioural source name -> f' of its linearisation (missing: 1)."""
    slopes = slopes or {}
    elements = net.elements
    inputs: dict[str, int] = {}
    for e in elements:
        if isinstance(e, ir.VoltageSource):
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

    # Voltage-defined branches as laws; series chains of them merged.
    laws, incident = [], {}
    protected_nodes = {p[2:-1] for p in net.saves if p[0] == "v"}
    protected_names = {p[2:-1] for p in net.saves if p[0] == "i"}
    linearised = False
    for e in elements:
        if isinstance(e, (ir.VoltageSource, ir.Vcvs, ir.Ccvs, ir.TanhVoltage, ir.ActivationVoltage)):
            law = _Law(e.name, e.p, e.n, _voltage_law(e, inputs, slopes.get(e.name, 1.0)))
            laws.append(law)
            terminals = (e.p, e.n)
            linearised |= isinstance(e, ir.BEHAVIOURAL)
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
        linearised |= isinstance(e, ir.BEHAVIOURAL)
    laws = _merge_series_chains(laws, protected_nodes, protected_names, incident)

    # Unknowns: node voltages, then branch currents of the laws and the inductors.
    node_index: dict[str, int] = {}
    for node, members in incident.items():
        if node != "0" and members:
            node_index[node] = len(node_index)
    for node in sorted(protected_nodes):
        if node != "0" and node not in node_index:
            node_index[node] = len(node_index)
    nn = len(node_index)
    inductors = [e for e in elements if isinstance(e, ir.Inductor)]
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
    n_mat = np.zeros((size, m_in))
    b_vec = np.zeros(size)
    ic = np.zeros(size)

    def stamp(r, c, v) -> None:
        """Vectorised: add v at (r, c) wherever both indices are not ground."""
        r, c, v = np.broadcast_arrays(np.asarray(r), np.asarray(c), np.asarray(v, dtype=float))
        keep = (r >= 0) & (c >= 0)
        rows.append(r[keep])
        cols.append(c[keep])
        vals.append(v[keep])

    def gather(kind, nodes: tuple, value: str):
        """Index arrays of the given node fields and the value array of one element kind."""
        sel = [e for e in elements if isinstance(e, kind)]
        if not sel:
            return None
        return ([np.array([idx(getattr(e, f)) for e in sel], dtype=np.intp) for f in nodes]
                + [np.array([getattr(e, value) for e in sel], dtype=float)])

    # Node rows are KCL: C v' = -(currents leaving the node) + (currents injected).
    res = gather(ir.Resistor, ("a", "b"), "resistance")
    if res:
        a, b, r = res
        g = 1.0 / r
        stamp(np.concatenate([a, a, b, b]), np.concatenate([a, b, b, a]), np.concatenate([-g, g, -g, g]))
    vccs = gather(ir.Vccs, ("src", "dst", "ctrl_p", "ctrl_n"), "gm")
    vccs_parts = [vccs] if vccs else []
    tanh_i = [e for e in elements if isinstance(e, (ir.TanhCurrent, ir.ActivationCurrent))]
    if tanh_i:  # linearised: a VCCS of gain g f' controlled by V(arg)
        vccs_parts.append([np.array([idx(e.src) for e in tanh_i], dtype=np.intp),
                           np.array([idx(e.dst) for e in tanh_i], dtype=np.intp),
                           np.array([idx(e.arg) for e in tanh_i], dtype=np.intp),
                           np.full(len(tanh_i), -1, dtype=np.intp),
                           np.array([e.gain * slopes.get(e.name, 1.0) for e in tanh_i])])
    gyr = gather(ir.Gyrator, ("a", "b"), "g")
    if gyr:  # G_a 0 a b 0 {g};  G_b 0 b a 0 {-g}
        a, b, g = gyr
        ground = np.full(a.size, -1, dtype=np.intp)
        vccs_parts.append([ground, a, b, ground, g])
        vccs_parts.append([ground, b, a, ground, -g])
    for src, dst, cp, cn, gm in vccs_parts:  # gm V(cp, cn) leaves src, enters dst
        stamp(np.concatenate([src, src, dst, dst]), np.concatenate([cp, cn, cp, cn]),
              np.concatenate([-gm, gm, gm, -gm]))
    floating = []  # (state node, other node, capacitance) of capacitors between two nodes
    for e in elements:
        if isinstance(e, ir.Capacitor):
            a, b = idx(e.a), idx(e.b)
            if a < 0 and b < 0:
                raise net.fail(e.name, "a capacitor must connect a node to ground 0 or to another node")
            if a >= 0 and b >= 0:  # floating (an integrator's feedback): its voltage v_a - v_b is the state
                if e_diag[a] or any(f[0] == a for f in floating):
                    raise net.fail(e.name, "second capacitor at the same node")
                floating.append((a, b, e.capacitance, e.name))
                ic[a] = e.ic
                continue
            node = a if a >= 0 else b
            if e_diag[node]:
                raise net.fail(e.name, "second capacitor at the same node")
            e_diag[node] = e.capacitance
            ic[node] = e.ic if a >= 0 else -e.ic
        elif isinstance(e, ir.Cccs):
            j = branch[e.sense]
            stamp([idx(e.src), idx(e.dst)], [j, j], [-e.gain, e.gain])
        elif isinstance(e, ir.CurrentSource):
            for node, sign in ((idx(e.src), -1.0), (idx(e.dst), 1.0)):
                if node >= 0:
                    b_vec[node] += sign * e.dc
        elif isinstance(e, ir.Inductor):      # L j' = v_a - v_b, current a -> b
            j, a, b = branch[e.name], idx(e.a), idx(e.b)
            stamp([a, b, j, j], [j, j, a, b], [-1.0, 1.0, 1.0, -1.0])
            e_diag[j] = e.inductance
            ic[j] = e.ic
    for a, b, _, name in floating:
        if e_diag[b] or any(f[0] == b for f in floating):
            raise net.fail(name, "a capacitor must connect a node to ground 0, or two nodes neither of which has "
                                 "another capacitor (an op-amp integrator's feedback)")
    for law in laws:                            # 0 = v_p - v_n - sum(terms)
        j, p, n = branch[law.name], idx(law.p), idx(law.n)
        r, c, v = [p, n, j, j], [j, j, p, n], [-1.0, 1.0, 1.0, -1.0]
        for (kind, key), coeff in law.terms.items():
            if kind in ("v", "i"):
                r.append(j)
                c.append(idx(key) if kind == "v" else branch[key])
                v.append(-coeff)
            elif kind == "u":
                n_mat[j, key] -= coeff
            else:
                b_vec[j] -= coeff
        stamp(r, c, v)

    mat = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(size, size))
    # Floating capacitors a-b: the unknown of node a becomes the capacitor voltage v_a - v_b
    # (x = T x~, T = prod(I + e_a e_b^T)); row a becomes -(KCL at b), whose currents give the
    # capacitor's (an integrator's virtual ground: no op-amp output current to cancel), and
    # row b the KCL of the supernode {a, b}: S E T is diagonal again.  ``to_new`` maps an
    # original unknown to its row of T.
    to_new = None
    if floating:
        eye = sparse.identity(size, format="csr")
        t_mat, s_mat = eye, eye
        e_full = sparse.diags(e_diag).tocsr()
        for a, b, cap, _ in floating:
            t_mat = t_mat @ (eye + sparse.csr_matrix(([1.0], ([a], [b])), shape=(size, size)))
            s_mat = (eye + sparse.csr_matrix(([-1.0, -1.0, 1.0], ([a, a, b], [a, b, a])), shape=(size, size))) @ s_mat
            e_full = e_full + sparse.csr_matrix(([cap, -cap, -cap, cap], ([a, a, b, b], [a, b, a, b])), shape=(size, size))
        e_new = (s_mat @ e_full @ t_mat).toarray()
        if np.any(e_new[~np.eye(size, dtype=bool)] != 0.0):
            raise NetlistError("the capacitors form a loop, a chain or a node with a second capacitor to "
                               "ground, which these state equations do not cover")
        e_diag = np.diag(e_new).copy()
        mat = (s_mat @ mat @ t_mat).tocsr()
        n_mat = s_mat @ n_mat
        b_vec = s_mat @ b_vec
        to_new = t_mat.tocsr()
    d = np.nonzero(e_diag)[0]
    a_idx = np.nonzero(e_diag == 0)[0]
    if d.size == 0:
        raise NetlistError("the netlist has no capacitor or inductor: no state")
    rows_a, rows_d = mat[a_idx], mat[d]
    rhs = np.concatenate([rows_a[:, d].toarray(), n_mat[a_idx], b_vec[a_idx, None]], axis=1)
    if a_idx.size:
        with warnings.catch_warnings():
            warnings.simplefilter("error", sparse_linalg.MatrixRankWarning)
            try:
                x = sparse_linalg.splu(rows_a[:, a_idx].tocsc()).solve(np.asfortranarray(rhs))
            except (RuntimeError, sparse_linalg.MatrixRankWarning):
                raise NetlistError("the circuit's algebraic equations are singular (a floating node, a loop of "
                                   "voltage sources or a cut set of current sources): no unique solution") from None
        if not np.all(np.isfinite(x)):
            raise NetlistError("the circuit's algebraic equations are singular: no unique solution")
        if to_new is not None:  # op-amp stages: LU fill leaves round-off where no path exists
            x = _structural_zeros(rows_a[:, a_idx], rhs, x)
    else:
        x = rhs
    x_d, x_u, x_b = x[:, :d.size], x[:, d.size:d.size + m_in], x[:, -1]
    m_da = rows_d[:, a_idx]
    inv_e = 1.0 / e_diag[d]
    a_x = inv_e[:, None] * (rows_d[:, d].toarray() - m_da @ x_d)
    b_x = inv_e[:, None] * (n_mat[d] - m_da @ x_u)
    c_x = inv_e * (b_vec[d] - m_da @ x_b)

    # Probes: y = P x_d + D u + y_off, with x_a = -(x_d x_d + x_u u + x_b).
    pos_d = {int(v): k for k, v in enumerate(d)}
    pos_a = {int(v): k for k, v in enumerate(a_idx)}
    p_mat = np.zeros((len(net.saves), d.size))
    d_mat = np.zeros((len(net.saves), m_in))
    y_off = np.zeros(len(net.saves))
    for row, probe in enumerate(net.saves):
        name = probe[2:-1]
        if name == "0":
            raise NetlistError(f"probe {probe} is ground")
        var = node_index[name] if probe[0] == "v" else branch[name]
        for var, coeff in _in_new(var, to_new):
            if var in pos_d:
                p_mat[row, pos_d[var]] += coeff
            else:
                k = pos_a[var]
                p_mat[row] -= coeff * x_d[k]
                d_mat[row] -= coeff * x_u[k]
                y_off[row] -= coeff * x_b[k]
    if p_mat.shape[0] != p_mat.shape[1]:
        raise NetlistError(f"the netlist saves {p_mat.shape[0]} probes but has {p_mat.shape[1]} state variables "
                           "(capacitors and inductors): the probes are not the state")
    if np.linalg.matrix_rank(p_mat) < p_mat.shape[0]:
        raise NetlistError("the saved probes do not determine the circuit's state")
    if m_in and np.max(np.abs(d_mat)) > _FEEDTHROUGH_TOL * max(1.0, float(np.max(np.abs(p_mat)))):
        raise NetlistError("a saved probe depends directly on an input: the probes are not the state")
    # y = P x_d + y_off  =>  y' = P A_x P^-1 y + P B_x u + P c_x - P A_x P^-1 y_off
    a_c = np.linalg.solve(p_mat.T, (p_mat @ a_x).T).T
    b_c = p_mat @ b_x
    c_c = p_mat @ c_x - a_c @ y_off
    y0 = p_mat @ ic[d] + y_off
    arguments = []
    if linearised:  # every source's V(arg) in y: x_d = P^-1 (y - y_off)
        p_inv_t = np.linalg.inv(p_mat).T
        for e in elements:
            if not isinstance(e, ir.BEHAVIOURAL):
                continue
            row_d, row_u, off = np.zeros(d.size), np.zeros(m_in), 0.0
            if e.arg != "0":
                for var, coeff in _in_new(node_index[e.arg], to_new):
                    if var in pos_d:
                        row_d[pos_d[var]] += coeff
                    else:
                        k = pos_a[var]
                        row_d, row_u, off = row_d - coeff * x_d[k], row_u - coeff * x_u[k], off - coeff * float(x_b[k])
            arg_y = p_inv_t @ row_d
            arguments.append((e.name, e.function, arg_y, row_u, off - float(arg_y @ y_off)))
    has_c = any(isinstance(e, ir.Capacitor) for e in net.elements)
    has_l = any(isinstance(e, ir.Inductor) for e in net.elements)
    form = "mixed" if has_c and has_l else ("parallel" if has_c else "series")
    if floating and form == "parallel":
        form = "opamp"  # capacitor voltages of integrators (floating capacitors)
    return StateEquations(a_c, b_c, None if linearised else c_c, y0, net.saves, form, linearised,
                          tuple(arguments))
