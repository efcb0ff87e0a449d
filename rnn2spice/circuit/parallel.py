"""Parallel (admittance) form: node voltages are the state (THEORY.md sections 2 and 4).

Neuron k is the cell ``R_k || C_k`` from node ``h<k>`` to ground; v(h_k) (V) is h_k.
Identification: tau_k = R_k C_k (s), alpha = C w (S), beta = C w_in (S), u = x; the
capacitance C (F) is the spec's design value, so R_k = tau_k / C (ohm).

Realisations registered here:

* ``("parallel", "vccs")``, linear: ``G_<k>_<j>`` injects alpha_kj v(h_j) into node k
  (``G_3_7``: from node 7 into node 3), ``I_<k>`` the constant drive C c_k (A),
  ``GX_<k>_<l>`` injects beta_kl v(x_l).  Nonlinear (THEORY.md 4): the summing node
  ``z<k>`` (see :func:`~rnn2spice.circuit.parts.summing_nodes`) and ``B_<k>`` injecting
  gain_k tanh(V(z_k)) (A) into node k.
* ``("parallel", "vccs")``, rate convention (THEORY.md 7), nonlinear: ``B_<k>`` makes the
  rate node ``r<k>``, V(r_k) = f(v(h_k)) (V), and ``G_<k>_<j>`` injects alpha_kj V(r_j)
  into node k (``G_3_7``: from rate node 7 into node 3); drive and inputs as linear.
* ``("parallel", "gyrator")``, linear only: alpha = S + K by ``RS_<i>_<j>`` (conductance
  S_ij between h_i and h_j), ``RG_<i>`` (conductance -g_i to ground, g_i the row sum of S)
  and ``XG_<i>_<j>`` (ideal gyrator of conductance K_ij, i < j); drive and inputs as above.
  Values are chosen so that the cancellations hold as ngspice reads them
  (:func:`reciprocal_network`).

Element order: cells, [rate sources], coupling, drives, input sources, input couplings.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.circuit.spicenum import spice_exact
from rnn2spice.circuit.parts import (BEHAVIOURAL, BuildContext, Realisation, form_header, inputs, latent_nodes,
                                     realisation, resistive_flags, summing_costs, summing_nodes)
from rnn2spice.errors import UsageError
from rnn2spice.network.spec import RnnSpec

#: activation -> behavioural current source ``(name, src, dst, gain, arg)`` of a cell.
SOURCES: dict[str, Callable[..., ir.Element]] = {a: current for a, (current, _) in BEHAVIOURAL.items()}
#: activation -> behavioural voltage source ``(name, p, n, gain, arg)`` of a rate node.
RATE_SOURCES: dict[str, Callable[..., ir.Element]] = {a: voltage for a, (_, voltage) in BEHAVIOURAL.items()}


@form_header("parallel")
def header(spec: RnnSpec, build=None) -> tuple[str, str]:  # build: the opamp form's only
    return ("identification (THEORY.md 2): v(h<k>) = h_k, tau_k = R_k C_k, alpha = C w (S), "
            "beta = C w_in (S), u = x",
            f"C = {spec.capacitance!r} F per cell")


@realisation("parallel", "vccs", activations=("linear", *SOURCES))
def vccs(ctx: BuildContext) -> Realisation:
    """Controlled-source coupling (linear), rate nodes and coupling from them (rate
    convention), or summing nodes and behavioural cells (nonlinear)."""
    if ctx.spec.activation == "linear":
        return _linear(ctx, vccs_network)
    if ctx.spec.convention == "rate":
        return _linear(ctx, rate_network)
    return _nonlinear(ctx)


@realisation("parallel", "gyrator", activations=("linear",))
def gyrator(ctx: BuildContext) -> Realisation:
    """Resistors for the reciprocal part of alpha, gyrators for the rest (THEORY.md 2)."""
    if ctx.spec.w_factors is not None:
        raise UsageError("coupling 'gyrator' realises a dense w (resistors between every pair of cells); a low-rank "
                         "w (w: {factors: [M, N]}) needs coupling 'vccs' (its r latent nodes, THEORY.md 8)")
    return _linear(ctx, reciprocal_network)


def cells(ctx: BuildContext) -> float:
    """``R_<k>`` (tau_k / C ohm) and ``C_<k>`` (C farad, IC h0_k volt) at node ``h<k>``;
    returns C."""
    spec = ctx.spec
    c = spec.capacitance
    for k in range(spec.n):
        node = f"h{k}"
        ctx.add(ir.Resistor(f"R_{k}", node, "0", float(spec.tau[k] / c)))
        ctx.add(ir.Capacitor(f"C_{k}", node, "0", c, ctx.initial(spec.h0[k])))
        ctx.save("voltage", node)
    return c


def vccs_network(ctx: BuildContext, alpha: np.ndarray) -> dict:
    """``G_<k>_<j>``: current alpha_kj v(h_j) (A) from ground into node h_k; a low-rank
    w = M N: the latent nodes V(l) = N v(h) and ``GM_<k>_<i>``, C (D M)_ki V(l_i) (THEORY.md 8)."""
    if ctx.spec.w_factors is not None:
        return _low_rank(ctx, "h", ctx.spec.capacitance, alpha)
    ctx.add(vccs_block("G", "h", "h", alpha))
    return {"controlled_sources": int(np.count_nonzero(alpha)),
            **resistive_flags((alpha + alpha.T) / 2.0, (alpha - alpha.T) / 2.0)}


def vccs_block(prefix: str, dst: str, ctrl: str, matrix: np.ndarray) -> ir.VccsBlock:
    """``<prefix>_<k>_<j>`` for every non-zero matrix_kj, row by row: current matrix_kj
    V(<ctrl><j>) from ground into node <dst><k> (one bulk element, :class:`~ir.VccsBlock`)."""
    rows, cols = np.nonzero(matrix)
    return ir.VccsBlock(prefix, "0", dst, ctrl, "0", rows, cols, matrix[rows, cols])


def rate_network(ctx: BuildContext, alpha: np.ndarray) -> dict:
    """Rate convention (THEORY.md 7): ``B_<k>`` sets V(r<k>) = f(v(h<k>)) (V, gain 1) and
    ``G_<k>_<j>`` injects alpha_kj V(r<j>) (A) from ground into node h<k>: linear coupling
    from the rates, so C dv/dt = -v/R + alpha f(v) + ..., i.e. tau dh/dt = -h + W f(h) + ..."""
    source = RATE_SOURCES[ctx.spec.activation]
    s = ctx.state_scale
    for k in range(ctx.spec.n):
        if s != 1.0:  # THEORY.md 5: f takes h = v / s, from node q<k> = V(h<k>) / s (``EQ_<k>``)
            ctx.add(ir.Vcvs(f"EQ_{k}", f"q{k}", "0", f"h{k}", "0", 1.0 / s))
        ctx.add(source(f"B_{k}", f"r{k}", "0", 1.0, f"h{k}" if s == 1.0 else f"q{k}"))
    alpha = alpha * s  # s W f(h)
    if ctx.spec.w_factors is not None:  # V(l) = N f(h), then C s (D M) V(l) (THEORY.md 8)
        return {**_low_rank(ctx, "r", ctx.spec.capacitance * s, alpha),
                "behavioural_sources": ctx.spec.n}
    ctx.add(vccs_block("G", "h", "r", alpha))
    return {"controlled_sources": int(np.count_nonzero(alpha)),
            "behavioural_sources": ctx.spec.n,
            "reciprocal": bool(np.array_equal(alpha, alpha.T)), "passive": False}


def _low_rank(ctx: BuildContext, ctrl: str, gain: float, alpha: np.ndarray) -> dict:
    """Latent nodes V(l_i) = sum_j N_ij V(<ctrl><j>) and ``GM_<k>_<i>``: current gain (D M)_ki
    V(l_i) (A) into node h<k>, so alpha = gain D M N (THEORY.md 8); its cost fields."""
    _, costs = latent_nodes(ctx, ctrl)
    dm, n_f = ctx.spec.paper_factors()
    ctx.add(vccs_block("GM", "h", "l", gain * dm))
    return {"controlled_sources": int(np.count_nonzero(dm) + np.count_nonzero(n_f)),
            "reciprocal": bool(np.array_equal(alpha, alpha.T)), "passive": False, **costs}


def reciprocal_network(ctx: BuildContext, alpha: np.ndarray) -> dict:
    """alpha = S + K: resistors for S, ground conductances for its diagonal remainder,
    gyrators for K (THEORY.md section 2), with values chosen as ngspice will read them.

    ngspice computes a resistor's conductance as 1/R from the R it reads, and a gyrator's
    gain through the subcircuit-parameter path (:mod:`~rnn2spice.circuit.spicenum`), so
    1/(1/S_ij) is in general not S_ij and a coupling that must vanish would not: for a
    one-way pair (alpha_ij or alpha_ji exactly 0) the resistance is chosen among the doubles
    next to 1/S_ij such that ngspice reads it exactly and its conductance G = 1/R is exactly
    a gyration conductance ngspice can hold, and the gyrator gets +-G itself, so the zero
    entry is G - G = 0 in ngspice's matrix.  The ground remainder g_i = S_ii + sum_j G_ij is
    computed from those conductances (``-R_ij`` itself when it cancels a single coupling
    resistor exactly), so the diagonal is right with the values as read."""
    n = alpha.shape[0]
    s = (alpha + alpha.T) / 2.0
    k_part = (alpha - alpha.T) / 2.0
    held: dict[tuple[int, int], tuple[float, float]] = {}  # (i, j) -> (R, 1/R as ngspice computes it)
    for i in range(n):
        for j in range(i + 1, n):
            if s[i, j] != 0.0:
                one_way = k_part[i, j] != 0.0 and (alpha[i, j] == 0.0 or alpha[j, i] == 0.0)
                r = _exact_near(1.0 / float(s[i, j]), lambda r: spice_exact(r) and (
                    not one_way or spice_exact(1.0 / r, "numparam")))
                # conductance S_ij between i and j injects S_ij (v_j - v_i) into i
                ctx.add(ir.Resistor(f"RS_{i}_{j}", f"h{i}", f"h{j}", r))
                held[i, j] = held[j, i] = (r, 1.0 / r)
    ground = []
    for i in range(n):
        mine = [held[i, j] for j in range(n) if (i, j) in held]
        g = math.fsum([float(s[i, i])] + [c for _, c in mine])  # g_i = S_ii + sum_{j != i} G_ij
        if g == 0.0:
            continue
        if s[i, i] == 0.0 and len(mine) == 1:
            r = -mine[0][0]  # 1/(-R) = -(1/R): cancels the one coupling resistor exactly
        else:
            r = _exact_near(-1.0 / g, spice_exact)
        # conductance -g_i to ground supplies the rest of S_ii
        ctx.add(ir.Resistor(f"RG_{i}", f"h{i}", "0", r))
        ground.append(r)
    for i in range(n):
        for j in range(i + 1, n):
            if k_part[i, j] != 0.0:
                if (i, j) in held and alpha[j, i] == 0.0:
                    g = held[i, j][1]       # alpha_ji = G - g = 0
                elif (i, j) in held and alpha[i, j] == 0.0:
                    g = -held[i, j][1]      # alpha_ij = G + g = 0
                else:
                    g = _exact_near(float(k_part[i, j]), lambda x: spice_exact(x, "numparam"))
                ctx.add(ir.Gyrator(f"XG_{i}_{j}", f"h{i}", f"h{j}", g))
    real = resistive_flags(s, k_part)
    coupling = [r for (i, j), (r, _) in held.items() if i < j] + ground
    real["positive_resistors"] = sum(1 for r in coupling if r > 0)
    real["negative_resistors"] = sum(1 for r in coupling if r < 0)
    real["gyrators"] = int(np.count_nonzero(np.triu(k_part, 1)))
    return real


def _exact_near(x: float, ok: Callable[[float], bool], tries: int = 200) -> float:
    """``x`` or the nearest double to it for which ``ok`` holds (``x`` if none within ``tries``
    units in the last place)."""
    if ok(x):
        return x
    up = down = x
    for _ in range(tries):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        for y in (up, down):
            if ok(y):
                return y
    return x


def _linear(ctx: BuildContext, network: Callable[[BuildContext, np.ndarray], dict]) -> Realisation:
    """Cells, ``network(ctx, alpha)``, drives ``I_<k>`` (A), inputs and ``GX_<k>_<l>`` (S)."""
    spec = ctx.spec
    c = cells(ctx)
    w, w_in, drive = spec.paper_form()
    alpha, beta = c * w, c * w_in
    real = network(ctx, alpha)
    for k in np.nonzero(drive)[0]:
        ctx.add(ir.CurrentSource(f"I_{k}", "0", f"h{k}", float(c * drive[k] * ctx.state_scale)))
    inputs(ctx)
    ctx.add(vccs_block("GX", "h", "x", beta))
    real["controlled_sources"] = real.get("controlled_sources", 0) + int(np.count_nonzero(beta))
    return Realisation(**real)


def _nonlinear(ctx: BuildContext) -> Realisation:
    """C_k dv_k/dt + v_k/R_k = gain_k sigma(V(z_k)) with V(z_k) the weighted sum on a 1 ohm
    summing node (THEORY.md 4): linear mixing in VCCS, one-argument behavioural sources.
    The gain (A) is numerically C / tau_k in the ctrnn convention, C in the paper one."""
    spec = ctx.spec
    c = cells(ctx)
    gains = (c / spec.tau if spec.convention == "ctrnn" else np.full(spec.n, c)) * ctx.out_scale
    summing_nodes(ctx)
    source = SOURCES[spec.activation]
    for k in range(spec.n):
        ctx.add(source(f"B_{k}", "0", f"h{k}", float(gains[k]), f"z{k}"))
    inputs(ctx)
    return summing_costs(spec)
