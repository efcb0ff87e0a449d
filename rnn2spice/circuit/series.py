"""Series (impedance) form: loop currents are the state (THEORY.md sections 3 and 4).

Neuron k is the loop: EMF chain from ground up to node ``a<k>``, then ``L_<k>`` (a<k> to
b<k>), ``R_<k>`` (b<k> to c<k>) and the 0 V sense source ``Vs_<k>`` (c<k> to ground); the
current through ``Vs_<k>`` (A) is h_k.  Identification: tau_k = L_k / R_k (s),
rho = L w (ohm), gamma = L w_in, u = x; the inductance L (H) is the spec's design value,
so R_k = L / tau_k (ohm).  KVL: L_k di_k/dt + R_k i_k = e_k = V(a<k>).

Realisation registered here: ``("series", "vccs")`` -- the dual of the parallel VCCS form,
with current-controlled voltage sources:

* linear: ``H_<k>_<j>`` puts rho_kj i_j (V) into loop k (``H_3_7``: sensed in loop 7,
  acting on loop 3), ``EX_<k>_<l>`` gamma_kl v(x_l), ``VB_<k>`` the constant drive L c_k (V);
  the chain's intermediate nodes are ``e<k>_<idx>``.
* nonlinear (THEORY.md 4): ``B_<k>`` = gain_k f(V(z_k)) (V) with the summing node
  ``z<k>`` fed by ``FZ_<k>_<j>`` (CCCS of the current through ``Vs_<j>``).
* rate convention, nonlinear (THEORY.md 7): ``HQ_<k>`` makes V(q<k>) = i_k (1 ohm CCVS of
  the current through ``Vs_<k>``), ``B_<k>`` the rate node V(r<k>) = f(V(q<k>)) (V), and
  ``E_<k>_<j>`` puts rho_kj V(r<j>) (V) into loop k; inputs and drive as linear.

The gyrator coupling has no series dual here (declared unsupported below).
Element order: loops (EMFs, L, R, sense), [summing nodes | rate sources], input sources.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.circuit.parts import (BEHAVIOURAL, BuildContext, Realisation, form_header, inputs, latent_nodes,
                                     rank_costs, realisation, resistive_flags, summing_costs, summing_nodes,
                                     unsupported)
from rnn2spice.network.spec import RnnSpec

#: activation -> behavioural voltage source ``(name, p, n, gain, arg)`` of a loop (an EMF, or
#: the rate node of the rate convention).
SOURCES: dict[str, Callable[..., ir.Element]] = {a: voltage for a, (_, voltage) in BEHAVIOURAL.items()}

#: An EMF factory ``(p, n) -> element`` (the element's + and - nodes).
Emf = Callable[[str, str], ir.Element]

unsupported("series", "gyrator", "coupling 'gyrator' is not supported in the series form "
                                 "(its dual needs branches shared between loops); use coupling 'vccs'")


@form_header("series")
def header(spec: RnnSpec, build=None) -> tuple[str, str]:  # build: the opamp form's only
    return ("identification (THEORY.md 3): i(Vs_<k>) = h_k, tau_k = L_k / R_k, rho = L w (ohm), "
            "gamma = L w_in, u = x",
            f"L = {spec.inductance!r} H per loop")


@realisation("series", "vccs", activations=("linear", *SOURCES))
def vccs(ctx: BuildContext) -> Realisation:
    """CCVS coupling (linear), VCVS coupling from rate nodes (rate convention) or summing
    nodes and behavioural EMFs (nonlinear)."""
    if ctx.spec.activation == "linear":
        return _linear(ctx)
    if ctx.spec.convention == "rate":
        return _linear(ctx, rate=True)
    return _nonlinear(ctx)


def loop(ctx: BuildContext, k: int, emfs: list[Emf]) -> None:
    """Loop k: EMF chain from ground up to node a<k>, then L_k, R_k and the sense source.

    ``emfs`` are factories ``(p, n) -> element`` stacked in series, so that
    V(a<k>) = e_k and KVL gives L_k di_k/dt + R_k i_k = e_k (THEORY.md 3).
    """
    spec = ctx.spec
    top = "0"
    for idx, make in enumerate(emfs):
        upper = f"a{k}" if idx == len(emfs) - 1 else f"e{k}_{idx + 1}"
        ctx.add(make(upper, top))
        top = upper
    ind = spec.inductance
    ctx.add(ir.Inductor(f"L_{k}", top, f"b{k}", ind, ctx.initial(spec.h0[k])))
    ctx.add(ir.Resistor(f"R_{k}", f"b{k}", f"c{k}", float(ind / spec.tau[k])))
    ctx.add(ir.VoltageSource(f"Vs_{k}", f"c{k}", "0"))
    ctx.save("current", f"Vs_{k}")


def _linear(ctx: BuildContext, rate: bool = False) -> Realisation:
    """Loops with EMF chains; the coupling term of loop k from loop j is ``H_<k>_<j>``,
    rho_kj i_j, or with ``rate`` ``E_<k>_<j>``, rho_kj V(r<j>) = rho_kj f(i_j) (THEORY.md 7).
    A low-rank w = M N: ``EL_<k>_<i>``, L (D M)_ki V(l_i) (x s with ``rate``) from the latent
    nodes V(l) = N i (``FL``) or N f(h) (``GL`` from the rate nodes) (THEORY.md 8)."""
    spec = ctx.spec
    ind = spec.inductance
    s = ctx.state_scale
    w, w_in, drive = spec.paper_form()
    rho, gamma = ind * w * (s if rate else 1.0), ind * w_in  # rate: s W f(h) (THEORY.md 5)
    low = spec.w_factors is not None
    rho_m = ind * spec.paper_factors()[0] * (s if rate else 1.0) if low else None
    for k in range(spec.n):
        emfs: list[Emf] = []
        for i in (np.nonzero(rho_m[k])[0] if low else ()):
            emfs.append(lambda p, n, k=k, i=i: ir.Vcvs(f"EL_{k}_{i}", p, n, f"l{i}", "0", float(rho_m[k, i])))
        for j in (np.nonzero(rho[k])[0] if not low else ()):
            if rate:
                emfs.append(lambda p, n, k=k, j=j: ir.Vcvs(f"E_{k}_{j}", p, n, f"r{j}", "0", float(rho[k, j])))
            else:
                emfs.append(lambda p, n, k=k, j=j: ir.Ccvs(f"H_{k}_{j}", p, n, f"Vs_{j}", float(rho[k, j])))
        for l in np.nonzero(gamma[k])[0]:
            emfs.append(lambda p, n, k=k, l=l: ir.Vcvs(f"EX_{k}_{l}", p, n, f"x{l}", "0", float(gamma[k, l])))
        if drive[k] != 0.0:
            emfs.append(lambda p, n, k=k: ir.VoltageSource(f"VB_{k}", p, n, None, float(ind * drive[k] * s)))
        loop(ctx, k, emfs)
    if rate:
        source = SOURCES[spec.activation]
        for k in range(spec.n):
            ctx.add(ir.Ccvs(f"HQ_{k}", f"q{k}", "0", f"Vs_{k}", 1.0 / s))  # V(q) = i / s = h
            ctx.add(source(f"B_{k}", f"r{k}", "0", 1.0, f"q{k}"))
    if low:
        latent_nodes(ctx, "r" if rate else None)
    inputs(ctx)
    s = (rho + rho.T) / 2.0
    flags = resistive_flags(s, (rho - rho.T) / 2.0)
    if rate or low:
        flags["passive"] = False
    coupling = (np.count_nonzero(rho_m) + np.count_nonzero(spec.paper_factors()[1])) if low else np.count_nonzero(rho)
    rates = spec.n if rate else 0
    return Realisation(controlled_sources=int(coupling + np.count_nonzero(gamma)) + rates,
                       behavioural_sources=rates, **flags, **rank_costs(spec))


def _nonlinear(ctx: BuildContext) -> Realisation:
    """L_k di_k/dt + R_k i_k = gain_k sigma(V(z_k)), the dual of the parallel form's
    summing-node realisation; the gain (V) is numerically R_k in the ctrnn convention,
    L in the paper one."""
    spec = ctx.spec
    ind = spec.inductance
    r = ind / spec.tau
    gains = (r if spec.convention == "ctrnn" else np.full(spec.n, ind)) * ctx.out_scale
    source = SOURCES[spec.activation]
    for k in range(spec.n):
        loop(ctx, k, [lambda p, n, k=k: source(f"B_{k}", p, n, float(gains[k]), f"z{k}")])
    summing_nodes(ctx)
    inputs(ctx)
    return summing_costs(spec)
