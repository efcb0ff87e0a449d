"""Spec -> circuit IR (THEORY.md sections 2-4).  No SPICE syntax here.

Parallel form: neuron k is the cell ``R_k || C_k`` at node ``h<k>``; its voltage is h_k.
Series form: neuron k is the loop ``L_k, R_k`` sensed by the 0 V source ``Vs_<k>``; its
current is h_k.  Identifications: tau = R C, alpha = C w, beta = C w_in (parallel);
tau = L / R, rho = L w, gamma = L w_in (series).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnn2spice._version import __version__
from rnn2spice.circuit import ir
from rnn2spice.errors import SpecError, UsageError
from rnn2spice.circuit.writer import write_netlist
from rnn2spice.network.spec import RnnSpec
from rnn2spice.network.waveform import max_rate

FORMS = ("parallel", "series")
COUPLINGS = ("vccs", "gyrator")
ACCURACIES = ("default", "high")

#: max_step * (fastest rate) per accuracy mode.  The trapezoidal error is about
#: (max_step |lambda|max)^2 / 12 relative, so 0.02 -> ~3e-5 and 0.001 -> ~1e-7.
STEP_FACTOR = {"default": 0.02, "high": 0.001}
OPTIONS = {
    # reltol also ends Newton iterations: 1e-3 leaves ~5e-4 error in tanh networks.
    "default": ir.Options(reltol=1e-5),
    "high": ir.Options(reltol=1e-9, abstol=1e-18, vntol=1e-12, chgtol=1e-22),
}


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

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False)
class CompiledNetwork:
    """A circuit with the facts needed to read the state back from the simulation."""

    spec: RnnSpec
    circuit: ir.Circuit
    form: str
    coupling: str
    accuracy: str
    state_probes: tuple[str, ...]   # 'v(h0)' or 'i(vs_0)', one per neuron
    realisation: Realisation = field(default_factory=Realisation)

    @property
    def netlist(self) -> str:
        return write_netlist(self.circuit)

    def describe(self) -> dict:
        """The network and realisation, as the JSON reports of every command start."""
        return {"spec": self.spec.name, "n": self.spec.n, "m": self.spec.m, "form": self.form,
                "coupling": self.coupling, "convention": self.spec.convention,
                "activation": self.spec.activation}


def compile_rnn(spec: RnnSpec, *, form: str = "parallel", coupling: str = "vccs",
                accuracy: str = "default", ac: tuple[float, float, int] | None = None) -> CompiledNetwork:
    """Compile a validated spec into a circuit.

    ``form``: ``parallel`` (R||C cells, voltages) or ``series`` (R-L loops, currents).
    ``coupling``: ``vccs`` (controlled sources: VCCS in parallel form, CCVS in series form)
    or ``gyrator`` (resistors + gyrators, parallel linear networks only).
    ``accuracy``: ``default`` or ``high`` (bounded step, tight tolerances).
    ``ac``: ``(f_start, f_stop, points_per_decade)`` (Hz) gives an AC sweep with unit AC
    magnitude on every input instead of the transient.
    """
    _choose("form", form, FORMS)
    _choose("coupling", coupling, COUPLINGS)
    _choose("accuracy", accuracy, ACCURACIES)
    if coupling == "gyrator" and spec.activation != "linear":
        raise UsageError("coupling 'gyrator' realises a linear interaction network; "
                         f"activation {spec.activation!r} needs coupling 'vccs'")
    if coupling == "gyrator" and form == "series":
        raise UsageError("coupling 'gyrator' is not supported in the series form "
                         "(its dual needs branches shared between loops); use coupling 'vccs'")
    if ac is not None and spec.activation != "linear":
        raise UsageError(f"AC analysis needs a linear network; activation is {spec.activation!r}")

    builder = _Builder(spec, form, ac is not None)
    if form == "parallel":
        if spec.activation == "linear":
            realisation = builder.parallel_linear(coupling)
        else:
            realisation = builder.parallel_tanh()
    else:
        realisation = builder.series_linear() if spec.activation == "linear" else builder.series_tanh()

    if ac is not None:
        f_start, f_stop, ppd = ac
        analysis: ir.Transient | ir.AcSweep = ir.AcSweep(int(ppd), float(f_start), float(f_stop))
        options = OPTIONS["high"]
    else:
        analysis = transient(spec, accuracy)
        options = OPTIONS[accuracy]
    probes = builder.probes
    comments = _header(spec, form, coupling, accuracy if ac is None else "ac")
    circuit = ir.Circuit(title=f"rnn2spice: {spec.name}", comments=comments,
                         elements=tuple(builder.elements), analysis=analysis, options=options,
                         saves=tuple(probes))
    return CompiledNetwork(spec, circuit, form, coupling, accuracy, tuple(probes), realisation)


#: Largest transient the compiler writes: (t_stop / max step) x (n states + time) values.
#: ngspice keeps every step in memory (8 bytes per value), and so do the reader and the
#: reference, so 5e7 is ~0.4 GB per copy.  Beyond it a run is hours long or exhausts
#: memory (in the shared-library backend: the Python process itself).
MAX_TRANSIENT_VALUES = 50_000_000


def fastest_rate(spec: RnnSpec) -> float:
    """Largest |eigenvalue| of A (linearised at 0) or input angular rate, 1/s."""
    a = spec.state_matrix()
    rate = float(np.max(np.abs(np.linalg.eigvals(a)))) if spec.n else 0.0
    for wave in spec.inputs:
        rate = max(rate, max_rate(wave))
    return max(rate, 1.0 / spec.t_stop)


def transient(spec: RnnSpec, accuracy: str) -> ir.Transient:
    """The .tran card: the maximum step bounds the trapezoidal error (see STEP_FACTOR)."""
    max_step = min(STEP_FACTOR[accuracy] / fastest_rate(spec), spec.t_stop / 50.0)
    if spec.t_step is not None:
        max_step = min(max_step, spec.t_step)
    step = spec.t_step if spec.t_step is not None else max_step
    steps = spec.t_stop / max_step
    if steps * (spec.n + 1) > MAX_TRANSIENT_VALUES:
        by_t_step = spec.t_step is not None and max_step == spec.t_step
        raise SpecError("t_step" if by_t_step else "t_stop", spec.t_step if by_t_step else spec.t_stop,
                        f"needs {steps:.3g} time steps of at most {max_step:.3g} s "
                        + ("" if by_t_step else f"(fastest rate of the network or its inputs {fastest_rate(spec):.3g} 1/s) ")
                        + f"x {spec.n + 1} vectors = {steps * (spec.n + 1):.3g} values; at most "
                        f"{MAX_TRANSIENT_VALUES:.0e} are supported: shorten t_stop"
                        + (" or lengthen t_step" if by_t_step else " or slow the network down (larger tau, smaller w)"))
    return ir.Transient(step=step, stop=spec.t_stop, max_step=max_step)


def _choose(name: str, value: str, choices) -> None:
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)} (got {value!r})")


def _header(spec: RnnSpec, form: str, coupling: str, accuracy: str) -> tuple[str, ...]:
    if form == "parallel":
        ident = ("identification (THEORY.md 2): v(h<k>) = h_k, tau_k = R_k C_k, alpha = C w (S), "
                 "beta = C w_in (S), u = x")
        design = f"C = {spec.capacitance!r} F per cell"
    else:
        ident = ("identification (THEORY.md 3): i(Vs_<k>) = h_k, tau_k = L_k / R_k, rho = L w (ohm), "
                 "gamma = L w_in, u = x")
        design = f"L = {spec.inductance!r} H per loop"
    return (
        f"rnn2spice {__version__} netlist of spec {spec.name}",
        f"form {form}, coupling {coupling}, convention {spec.convention}, activation {spec.activation}, "
        f"accuracy {accuracy}",
        ident,
        f"n = {spec.n} neurons, m = {spec.m} inputs, {design}",
    )


class _Builder:
    """Collects elements in a fixed order: cells, coupling, drives, inputs."""

    def __init__(self, spec: RnnSpec, form: str, ac: bool):
        self.spec = spec
        self.form = form
        self.ac = ac
        self.elements: list[ir.Element] = []
        self.probes: list[str] = []

    # ---------------------------------------------------------------- shared parts

    def inputs(self) -> None:
        """One independent source per input: ``Vx_<l>`` at node ``x<l>``."""
        for l, wave in enumerate(self.spec.inputs):
            if self.ac:
                self.elements.append(ir.VoltageSource(f"Vx_{l}", f"x{l}", "0", None, 0.0, 1.0))
            else:
                self.elements.append(ir.VoltageSource(f"Vx_{l}", f"x{l}", "0", wave))

    def parallel_cells(self) -> float:
        c = self.spec.capacitance
        for k in range(self.spec.n):
            node = f"h{k}"
            self.elements.append(ir.Resistor(f"R_{k}", node, "0", float(self.spec.tau[k] / c)))
            self.elements.append(ir.Capacitor(f"C_{k}", node, "0", c, 0.0 if self.ac else float(self.spec.h0[k])))
            self.probes.append(f"v({node})")
        return c

    # ---------------------------------------------------------------- parallel form

    def parallel_linear(self, coupling: str) -> Realisation:
        spec = self.spec
        c = self.parallel_cells()
        w, w_in, drive = spec.paper_form()
        alpha, beta = c * w, c * w_in
        counts = dict(controlled_sources=0)
        if coupling == "vccs":
            for k, j in zip(*np.nonzero(alpha)):
                self.elements.append(ir.Vccs(f"G_{k}_{j}", "0", f"h{k}", f"h{j}", "0", float(alpha[k, j])))
            counts["controlled_sources"] += int(np.count_nonzero(alpha))
            real = _resistive_costs((alpha + alpha.T) / 2.0, (alpha - alpha.T) / 2.0)
        else:
            real = self.reciprocal_network(alpha)
        for k in np.nonzero(drive)[0]:
            self.elements.append(ir.CurrentSource(f"I_{k}", "0", f"h{k}", float(c * drive[k])))
        self.inputs()
        for k, l in zip(*np.nonzero(beta)):
            self.elements.append(ir.Vccs(f"GX_{k}_{l}", "0", f"h{k}", f"x{l}", "0", float(beta[k, l])))
        counts["controlled_sources"] += int(np.count_nonzero(beta))
        return Realisation(**real, **counts)

    def reciprocal_network(self, alpha: np.ndarray) -> dict:
        """alpha = S + K: resistors for S, ground conductances for its diagonal remainder,
        gyrators for K (THEORY.md section 2)."""
        n = alpha.shape[0]
        s = (alpha + alpha.T) / 2.0
        k_part = (alpha - alpha.T) / 2.0
        for i in range(n):
            for j in range(i + 1, n):
                if s[i, j] != 0.0:
                    # conductance S_ij between i and j injects S_ij (v_j - v_i) into i
                    self.elements.append(ir.Resistor(f"RS_{i}_{j}", f"h{i}", f"h{j}", float(1.0 / s[i, j])))
        g = s.sum(axis=1)  # g_i = S_ii + sum_{j != i} S_ij
        for i in np.nonzero(g)[0]:
            # conductance -g_i to ground supplies the rest of S_ii
            self.elements.append(ir.Resistor(f"RG_{i}", f"h{i}", "0", float(-1.0 / g[i])))
        for i in range(n):
            for j in range(i + 1, n):
                if k_part[i, j] != 0.0:
                    self.elements.append(ir.Gyrator(f"XG_{i}_{j}", f"h{i}", f"h{j}", float(k_part[i, j])))
        real = _resistive_costs(s, k_part)
        off = s[~np.eye(n, dtype=bool)]
        real["positive_resistors"] = int(np.count_nonzero(off > 0) // 2 + np.count_nonzero(g < 0))
        real["negative_resistors"] = int(np.count_nonzero(off < 0) // 2 + np.count_nonzero(g > 0))
        real["gyrators"] = int(np.count_nonzero(np.triu(k_part, 1)))
        return real

    def parallel_tanh(self) -> Realisation:
        """C_k dv_k/dt + v_k/R_k = gain_k tanh(V(z_k)) with V(z_k) the weighted sum on a 1 ohm
        summing node (THEORY.md 4): linear mixing in VCCS, one-argument behavioural sources."""
        spec = self.spec
        c = self.parallel_cells()
        gains = c / spec.tau if spec.convention == "ctrnn" else np.full(spec.n, c)
        self.summing_nodes(sense=lambda j: ("v", f"h{j}"))
        for k in range(spec.n):
            self.elements.append(ir.TanhCurrent(f"B_{k}", "0", f"h{k}", float(gains[k]), f"z{k}"))
        self.inputs()
        return Realisation(controlled_sources=int(np.count_nonzero(spec.w) + np.count_nonzero(spec.w_in)),
                           behavioural_sources=spec.n, **_resistive_costs_flags(spec.w))

    def summing_nodes(self, sense) -> None:
        """Node z_k (1 ohm to ground) carries V(z_k) = (w h + w_in x + b)_k."""
        spec = self.spec
        for k in range(spec.n):
            self.elements.append(ir.Resistor(f"RZ_{k}", f"z{k}", "0", 1.0))
        for k, j in zip(*np.nonzero(spec.w)):
            kind, probe = sense(j)
            if kind == "v":
                self.elements.append(ir.Vccs(f"GZ_{k}_{j}", "0", f"z{k}", probe, "0", float(spec.w[k, j])))
            else:
                self.elements.append(ir.Cccs(f"FZ_{k}_{j}", "0", f"z{k}", probe, float(spec.w[k, j])))
        for k, l in zip(*np.nonzero(spec.w_in)):
            self.elements.append(ir.Vccs(f"GZX_{k}_{l}", "0", f"z{k}", f"x{l}", "0", float(spec.w_in[k, l])))
        for k in np.nonzero(spec.bias)[0]:
            self.elements.append(ir.CurrentSource(f"IZ_{k}", "0", f"z{k}", float(spec.bias[k])))

    # ---------------------------------------------------------------- series form

    def series_loop(self, k: int, emfs: list) -> None:
        """Loop k: EMF chain from ground up to node a<k>, then L_k, R_k and the sense source.

        ``emfs`` are factories ``(name, p, n) -> element`` stacked in series, so that
        V(a<k>) = e_k and KVL gives L_k di_k/dt + R_k i_k = e_k (THEORY.md 3).
        """
        spec = self.spec
        top = "0"
        for idx, make in enumerate(emfs):
            upper = f"a{k}" if idx == len(emfs) - 1 else f"e{k}_{idx + 1}"
            self.elements.append(make(upper, top))
            top = upper
        ind = spec.inductance
        self.elements.append(ir.Inductor(f"L_{k}", top, f"b{k}", ind, 0.0 if self.ac else float(spec.h0[k])))
        self.elements.append(ir.Resistor(f"R_{k}", f"b{k}", f"c{k}", float(ind / spec.tau[k])))
        self.elements.append(ir.VoltageSource(f"Vs_{k}", f"c{k}", "0"))
        self.probes.append(f"i(vs_{k})")

    def series_linear(self) -> Realisation:
        spec = self.spec
        ind = spec.inductance
        w, w_in, drive = spec.paper_form()
        rho, gamma = ind * w, ind * w_in
        for k in range(spec.n):
            emfs = []
            for j in np.nonzero(rho[k])[0]:
                emfs.append(lambda p, n, k=k, j=j: ir.Ccvs(f"H_{k}_{j}", p, n, f"Vs_{j}", float(rho[k, j])))
            for l in np.nonzero(gamma[k])[0]:
                emfs.append(lambda p, n, k=k, l=l: ir.Vcvs(f"EX_{k}_{l}", p, n, f"x{l}", "0", float(gamma[k, l])))
            if drive[k] != 0.0:
                emfs.append(lambda p, n, k=k: ir.VoltageSource(f"VB_{k}", p, n, None, float(ind * drive[k])))
            self.series_loop(k, emfs)
        self.inputs()
        s = (rho + rho.T) / 2.0
        return Realisation(controlled_sources=int(np.count_nonzero(rho) + np.count_nonzero(gamma)),
                           **_resistive_costs(s, (rho - rho.T) / 2.0))

    def series_tanh(self) -> Realisation:
        """L_k di_k/dt + R_k i_k = gain_k tanh(V(z_k)), the dual of :meth:`parallel_tanh`."""
        spec = self.spec
        ind = spec.inductance
        r = ind / spec.tau
        gains = r if spec.convention == "ctrnn" else np.full(spec.n, ind)
        for k in range(spec.n):
            self.series_loop(k, [lambda p, n, k=k: ir.TanhVoltage(f"B_{k}", p, n, float(gains[k]), f"z{k}")])
        self.summing_nodes(sense=lambda j: ("i", f"Vs_{j}"))
        self.inputs()
        return Realisation(controlled_sources=int(np.count_nonzero(spec.w) + np.count_nonzero(spec.w_in)),
                           behavioural_sources=spec.n, **_resistive_costs_flags(spec.w))


def _resistive_costs(s: np.ndarray, k_part: np.ndarray) -> dict:
    """Reciprocity and passivity of alpha = S + K: passive when every coupling conductance
    and every ground conductance is non-negative (then S is negative semidefinite); the
    ideal gyrators of K are lossless, hence passive too (THEORY.md 2)."""
    n = s.shape[0]
    off = s[~np.eye(n, dtype=bool)]
    g = s.sum(axis=1)
    return {"reciprocal": bool(not np.any(k_part)),
            "passive": bool(not np.any(off < 0) and not np.any(g > 0))}


def _resistive_costs_flags(w: np.ndarray) -> dict:
    return {"reciprocal": bool(np.array_equal(w, w.T)), "passive": False}
