"""Frequency domain: ngspice's AC analysis against the exact transfer matrix (THEORY.md 6).

For a linear network the transfer matrix from inputs to states is

    H(s) = (s I - A)^-1 w_in,      A = w - lam,  s = j 2 pi f      (paper-form w, w_in)

The circuit is compiled with an ``.ac dec`` sweep; one ngspice run per input l, with AC
magnitude 1 on ``Vx_l`` only (the others 0), gives column l of H at ngspice's own
frequency points.  Metric (:mod:`rnn2spice.analysis.metrics`, THEORY.md 6): every entry
(neuron k, input l) is judged on its own scale,
``e_kl = max_f |H_sim - H_ref| / max(max_f |H_ref,kl|, floor_k)``, verdict on
``max_kl e_kl``; the floor comes from the AC netlist's absolute tolerance on the state
(``vntol`` per unit input in the parallel form, ``abstol`` in the series form) over the
tolerance, capped at ``max |H_ref|``.  The global figure
``max_{f,k,l} |H_sim - H_ref| / max_{f,k,l} |H_ref|`` stays as a secondary number.  The
largest magnitude (dB) and phase (degree) errors are reported over the entries with
``|H_ref| >= 1e-6 max|H_ref|`` (where dB and phase are meaningful).

A nonlinear network of the ``rate`` convention (THEORY.md 7) is compared through its
linearisation at the DC operating point h* that ngspice's AC analysis linearises at
(inputs at their DC value 0): ``A = (W diag f'(h*) - I) / tau``, ``B = D U``
(:func:`rnn2spice.analysis.transfer.operating_point`; refused when a relu neuron sits on
its kink there, where the small-signal model is one-sided).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnn2spice.analysis.certificate import Certificate, verify_netlist
from rnn2spice.analysis.metrics import RelativeError, relative_error, resolution_floor, state_atol
from rnn2spice.analysis.transfer import operating_point, transfer_matrix
from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import CompiledNetwork, compile_rnn
from rnn2spice.circuit.writer import vector_name, write_netlist
from rnn2spice.errors import SimulationError, UsageError, shown
from rnn2spice.network.numbers import is_real, is_whole
from rnn2spice.network.spec import RnnSpec
from rnn2spice.report import figures
from rnn2spice.report.display import Displayed, Plotted
from rnn2spice.spice import ngspice

#: Default pass threshold on the relative max error of every entry of H.
TOLERANCE = 1e-6
DEFAULT_POINTS_PER_DECADE = 20
#: At most this many frequency points per run.
MAX_POINTS = 100_000
#: Entries below this fraction of max|H_ref| are left out of the dB and phase errors.
DB_PHASE_FLOOR = 1e-6


@dataclass(frozen=True, eq=False, repr=False)
class AcResult(Displayed, Plotted):
    """Simulated and exact transfer matrices at ngspice's frequencies, and their errors."""

    compiled: CompiledNetwork
    frequency: np.ndarray     # (F,) Hz
    simulated: np.ndarray     # (F, n, m) complex, state per unit input
    reference: np.ndarray     # (F, n, m) complex
    tolerance: float
    backend: str
    ngspice_version: str
    timings: dict = field(default_factory=dict)
    certificate: Certificate | None = None
    operating_point: np.ndarray | None = None  # h* of a nonlinear network (None: linear)

    @property
    def spec(self) -> RnnSpec:
        return self.compiled.spec

    @functools.cached_property
    def errors(self) -> RelativeError:
        """Per entry (neuron, input), each on its own scale with the floor (module docstring)."""
        atol = state_atol(self.compiled.circuit.options, self.compiled.state_probes)[:, None]
        scale = float(np.max(np.abs(self.reference))) if self.reference.size else 0.0
        floor = resolution_floor(np.broadcast_to(atol, self.reference.shape[1:]), self.tolerance, scale)
        return relative_error(self.simulated, self.reference, floor=floor)

    @property
    def rel_max_error_per_entry(self) -> float:
        """The verdict figure: the worst entry's error on its own scale."""
        return self.errors.max

    @property
    def worst_entry(self) -> dict:
        """The entry with the largest error on its own scale: ``{"neuron": k, "input": l}``."""
        k, l = self.errors.worst or (0, 0)
        return {"neuron": k, "input": l}

    @property
    def rel_max_error(self) -> float:
        """The global figure (secondary): max error over the largest |H_ref|."""
        return self.errors.global_error

    def rel_error_per_input(self) -> list[float]:
        """The global figure of each input's column (secondary)."""
        return [relative_error(self.simulated[:, :, l], self.reference[:, :, l]).global_error
                for l in range(self.reference.shape[2])]

    def _meaningful(self) -> np.ndarray:
        scale = float(np.max(np.abs(self.reference))) if self.reference.size else 0.0
        return np.abs(self.reference) >= DB_PHASE_FLOOR * scale if scale > 0 else np.zeros(self.reference.shape, bool)

    @property
    def max_db_error(self) -> float:
        mask = self._meaningful()
        if not mask.any():
            return 0.0
        with np.errstate(divide="ignore"):
            err = np.abs(20.0 * np.log10(np.abs(self.simulated[mask]) / np.abs(self.reference[mask])))
        return float(np.max(err))

    @property
    def max_phase_error_deg(self) -> float:
        mask = self._meaningful()
        if not mask.any():
            return 0.0
        diff = np.angle(self.simulated[mask] / self.reference[mask], deg=True)
        return float(np.max(np.abs(diff)))

    @property
    def passed(self) -> bool:
        cert_ok = self.certificate is None or self.certificate.passed
        return bool(self.rel_max_error_per_entry <= self.tolerance) and cert_ok

    def worst(self) -> dict:
        err = np.abs(self.simulated - self.reference)
        if not err.size:
            return {}
        f, k, l = np.unravel_index(int(np.argmax(err)), err.shape)
        sim, ref = complex(self.simulated[f, k, l]), complex(self.reference[f, k, l])
        return {"frequency_hz": float(self.frequency[f]), "neuron": int(k), "input": int(l),
                "simulated": [sim.real, sim.imag], "reference": [ref.real, ref.imag],
                "abs_error": float(err[f, k, l])}

    def report(self) -> dict:
        """The JSON report of ``rnn2spice ac``."""
        c = self.compiled
        sweep = c.circuit.analysis
        return {
            "passed": self.passed,
            "rel_max_error_per_entry": _json(self.rel_max_error_per_entry),  # the verdict figure
            "worst_entry": self.worst_entry,
            "rel_error_per_entry": [[_json(x) for x in row] for row in self.errors.per_channel],  # [neuron][input]
            "floor": [_json(x) for x in self.errors.floor[:, 0]] if self.errors.floor.size else [],  # per neuron
            "rel_max_error": _json(self.rel_max_error),  # secondary: the global figure
            "rel_max_error_per_input": [_json(x) for x in self.rel_error_per_input()],
            "max_magnitude_error_db": _json(self.max_db_error),
            "max_phase_error_deg": _json(self.max_phase_error_deg),
            "tolerance": self.tolerance,
            "worst": self.worst(),
            **c.describe(),
            "f_start_hz": float(sweep.f_start / c.spec.time_scale),  # model frequencies (THEORY.md 5)
            "f_stop_hz": float(sweep.f_stop / c.spec.time_scale),
            "points_per_decade": int(sweep.points_per_decade),
            "points": int(self.frequency.size),
            "runs": int(c.spec.m),
            "backend": self.backend,
            "ngspice_version": self.ngspice_version,
            "realisation": c.realisation.as_dict(),
            "certificate": self.certificate.as_dict() if self.certificate is not None else None,
            "timings_s": {k: float(v) for k, v in self.timings.items()},
        }

    def summary(self) -> str:
        """The verdict as text."""
        c, spec = self.compiled, self.spec
        sweep = c.circuit.analysis
        verdict = "PASS" if self.passed else "FAIL (mismatch beyond tolerance)"
        w = self.worst()
        lines = [
            c.summary_head(),
            f"AC sweep {sweep.f_start / spec.time_scale:g} .. {sweep.f_stop / spec.time_scale:g} Hz"
            + ("" if spec.time_scale == 1.0 else f" (model; the circuit's x {spec.time_scale!r})")
            + f", {sweep.points_per_decade} points/decade: "
            f"{self.frequency.size} points x {spec.m} run(s), ngspice {self.ngspice_version} via {self.backend} "
            f"in {self.timings.get('simulate', 0.0):.3f} s",
        ]
        if self.certificate is not None:
            lines.append(self.certificate.describe())
        per_input = ", ".join(f"{x:.2e}" for x in self.rel_error_per_input())
        lines.append(f"max magnitude error {self.max_db_error:.3e} dB, max phase error "
                     f"{self.max_phase_error_deg:.3e} deg; relative error per input: {per_input}")
        if w:
            lines.append(f"largest error at {w['frequency_hz']:.6g} Hz, neuron {w['neuron']}, input {w['input']}: "
                         f"|SPICE - exact| = {w['abs_error']:.3e}")
        e = self.worst_entry
        lines.append(f"relative max error per entry {self.rel_max_error_per_entry:.3e} at neuron {e['neuron']}, "
                     f"input {e['input']} (threshold {self.tolerance:.0e}); global {self.rel_max_error:.3e}: {verdict}")
        return "\n".join(lines)

    SHOWN = ("rel_max_error_per_entry", "rel_max_error", "max_db_error", "max_phase_error_deg", "points",
             "f_start", "f_stop", "form", "backend")

    def _headline(self) -> str:
        return f"{self.spec.name}: {'PASS' if self.passed else 'FAIL'}"

    def _draw(self, ax):
        """The Bode plot of SPICE over the exact H, and the relative error."""
        return figures.bode_plot(self, ax=ax)


def _json(x: float):
    return float(x) if math.isfinite(x) else str(x)


def check_sweep(f_start: float, f_stop: float, points_per_decade: int) -> None:
    """Validate the sweep before any work; UsageError with the offending value."""
    for name, value in (("--fmin", f_start), ("--fmax", f_stop)):
        if not (is_real(value) and math.isfinite(value) and value > 0):
            raise UsageError(f"{name} must be a positive, finite frequency in Hz (got {value!r})")
    if not f_start < f_stop:
        raise UsageError(f"--fmin must be below --fmax (got --fmin {f_start!r} Hz, --fmax {f_stop!r} Hz)")
    if not is_whole(points_per_decade) or points_per_decade < 1:
        raise UsageError(f"--points-per-decade must be a positive integer (got {points_per_decade!r})")
    if points_per_decade > MAX_POINTS:  # also keeps a huge integer from overflowing the float below
        raise UsageError(f"--points-per-decade must be at most {MAX_POINTS} (got {shown(points_per_decade)})")
    points = points_per_decade * math.log10(f_stop / f_start) + 1
    if points > MAX_POINTS:
        raise UsageError(f"the sweep has about {points:.0f} points; at most {MAX_POINTS} are supported "
                         "(fewer --points-per-decade or a narrower band)")


def ac_netlists(compiled: CompiledNetwork) -> list[str]:
    """One netlist per input: unit AC magnitude on ``Vx_l`` only."""
    out = []
    for l in range(compiled.spec.m):
        elements = tuple(
            dataclasses.replace(e, ac=1.0 if e.name == f"Vx_{l}" else 0.0)
            if isinstance(e, ir.VoltageSource) and e.name.startswith("Vx_") else e
            for e in compiled.circuit.elements)
        if not any(isinstance(e, ir.VoltageSource) and e.name == f"Vx_{l}" and e.ac == 1.0 for e in elements):
            raise UsageError(f"the compiled circuit has no input source Vx_{l}")  # pragma: no cover
        out.append(write_netlist(dataclasses.replace(compiled.circuit, elements=elements)))
    return out


def ac_check(spec: RnnSpec, *, f_start: float, f_stop: float,
             points_per_decade: int = DEFAULT_POINTS_PER_DECADE, form: str = "parallel",
             coupling: str | None = None, backend: str = "auto", timeout: float | None = None,
             tolerance: float = TOLERANCE, certify: bool = True) -> AcResult:
    """AC-analyse the compiled circuit of a linear ``spec`` and compare with H(j omega).

    Raises UsageError for a nonlinear spec, a spec without inputs, a bad sweep or the opamp
    form with non-ideal op-amps (their poles are extra states), and
    SimulationError when ngspice fails.  With ``certify`` every AC netlist is first
    checked by :mod:`rnn2spice.certificate` (a failure makes the result fail).
    """
    if spec.activation != "linear" and spec.convention != "rate":
        raise UsageError(f"the AC analysis needs a linear network or the rate convention (linearised at its "
                         f"operating point); spec {spec.name} is nonlinear ({spec.convention}/{spec.activation})")
    if spec.m == 0:
        raise UsageError(f"spec {spec.name} has no inputs (w_in has no columns): there is no transfer function")
    if form == "opamp" and spec.opamp.model != "ideal":
        raise UsageError(f"the AC check compares the circuit with the network's transfer matrix; spec {spec.name} "
                         f"builds the opamp form with {spec.opamp.model} op-amps, whose poles are extra states "
                         "(not the network's): use the ideal op-amp model (circuit.opamp.model), or "
                         "rnn2spice.opamp_error for the effect of real op-amps")
    check_sweep(f_start, f_stop, points_per_decade)
    if not (tolerance > 0 and math.isfinite(tolerance)):
        raise UsageError(f"tolerance must be a positive finite number (got {tolerance!r})")
    timings = {}
    start = _time.perf_counter()
    at = None
    if spec.activation != "linear":
        at = (operating_point(spec), np.zeros(spec.m))
        on_kink = np.abs(at[0]) <= 1e-9 * max(1.0, float(np.max(np.abs(at[0]))))
        if spec.activation == "relu" and np.any(on_kink):
            k = int(np.flatnonzero(on_kink)[0])
            raise UsageError(f"spec {spec.name}: at the operating point neuron {k} sits on relu's kink "
                             f"(h*_{k} = {at[0][k]!r}): its small-signal model is one-sided; give it a bias")
    k = spec.time_scale  # THEORY.md 5: the circuit sweeps f k; its frequencies are mapped back (/ k)
    compiled = compile_rnn(spec, form=form, coupling=coupling, ac=(f_start * k, f_stop * k, points_per_decade))
    texts = ac_netlists(compiled)
    timings["compile"] = _time.perf_counter() - start
    certificate = None
    if certify:
        start = _time.perf_counter()
        certs = [verify_netlist(text, spec, analysis=compiled.circuit.analysis, operating_point=at) for text in texts]
        certificate = max(certs, key=lambda c: (not c.passed, c.a_error, c.b_error))
        timings["certificate"] = _time.perf_counter() - start
    freq = None
    columns = []
    backend_used = version = ""
    start = _time.perf_counter()
    for l, text in enumerate(texts):
        result = ngspice.simulate_netlist(text, backend=backend, timeout=timeout)
        try:
            f = np.asarray(result.vectors["frequency"], dtype=float)
            col = np.stack([np.asarray(result.vectors[vector_name(p)], dtype=complex) for p in compiled.state_probes], axis=1)
        except KeyError as exc:
            raise SimulationError(f"ngspice returned no vector {exc.args[0]!r} in the AC run of input {l}",
                                  ngspice_message=result.log[-2000:]) from None
        f = f / k if k != 1.0 else f  # model frequencies
        if freq is None:
            freq = f
        elif f.shape != freq.shape or np.any(f != freq):
            raise SimulationError(f"the AC run of input {l} returned different frequency points")
        columns.append(col)
        backend_used, version = result.backend, result.ngspice_version
    timings["simulate"] = _time.perf_counter() - start
    start = _time.perf_counter()
    ref = transfer_matrix(spec, freq, at)
    timings["reference"] = _time.perf_counter() - start
    sim = np.stack(columns, axis=2)
    return AcResult(compiled, freq, sim, ref, tolerance, backend_used, version, timings, certificate,
                    None if at is None else at[0])
