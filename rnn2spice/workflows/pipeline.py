"""The end-to-end job: compile, certify, simulate with ngspice, solve the reference, compare.

:func:`run` is the one pipeline core that ``check``, ``task`` and the studies share: the
netlist is certified before ngspice sees it (a failure stops with
:class:`~rnn2spice.errors.CertificateFailed`), then simulated.
"""

from __future__ import annotations

import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnn2spice.analysis import reference
from rnn2spice.analysis.certificate import Certificate, certify_or_stop
from rnn2spice.analysis.metrics import THRESHOLDS, Comparison, compare
from rnn2spice.circuit.compiler import CompiledNetwork, compile_rnn
from rnn2spice.circuit.writer import vector_name
from rnn2spice.errors import ReferenceSolverError, SimulationError, UsageError
from rnn2spice.network.readout import readout, readout_errors
from rnn2spice.network.spec import RnnSpec
from rnn2spice.report import figures
from rnn2spice.report.files import write_atomic
from rnn2spice.spice.ngspice import simulate_netlist


@dataclass(frozen=True, eq=False)
class Trajectory:
    """States read back from ngspice at its own time points, in model units."""

    time: np.ndarray    # (points,) s
    states: np.ndarray  # (points, n): volts (parallel) or amperes (series) per unit of h
    backend: str
    ngspice_version: str
    seconds: float      # wall time of the simulation call

    def __iter__(self):
        """``t, h = trajectory``."""
        return iter((self.time, self.states))


@dataclass(frozen=True, eq=False)
class CheckResult:
    """A simulated circuit compared with the exact reference (THEORY.md section 6)."""

    compiled: CompiledNetwork
    trajectory: Trajectory
    reference: np.ndarray     # (points, n) exact states at the trajectory's time points
    comparison: Comparison
    timings: dict = field(default_factory=dict)   # s per stage
    certificate: Certificate | None = None         # of the netlist text, checked before simulating

    @property
    def passed(self) -> bool:
        return self.comparison.passed

    @property
    def time(self) -> np.ndarray:
        return self.trajectory.time

    @property
    def states(self) -> np.ndarray:
        return self.trajectory.states

    def report(self) -> dict:
        """The JSON report of ``rnn2spice check``."""
        c = self.compiled
        tr = c.circuit.analysis
        return {
            **self.comparison.as_dict(),
            **c.describe(),
            "accuracy": c.accuracy,
            "max_step": float(tr.max_step),
            "reltol": float(c.circuit.options.reltol),
            "backend": self.trajectory.backend,
            "ngspice_version": self.trajectory.ngspice_version,
            "realisation": c.realisation.as_dict(),
            "certificate": self.certificate.as_dict() if self.certificate is not None else None,
            # y = w_out h + b_out from both trajectories; None without a readout
            "readout": readout_errors(c.spec, self.trajectory.states, self.reference),
            "timings_s": {k: float(v) for k, v in self.timings.items()},
        }

    def summary(self) -> str:
        """The verdict as text, in the order of the work: circuit, certificate, simulation, verdict."""
        c, r, tr = self.compiled, self.comparison, self.trajectory
        verdict = "PASS" if r.passed else "FAIL (mismatch beyond tolerance)"
        out = readout_errors(c.spec, tr.states, self.reference)
        readout_line = () if out is None else (
            f"readout y = w_out h + b_out ({out['outputs']} output(s)): max abs error {out['max_abs_error']:.3e}, "
            f"relative {out['rel_max_error']:.3e}",)
        return "\n".join((
            c.summary_head(),
            c.realisation.describe(),
            *(() if self.certificate is None else (self.certificate.describe(),)),
            f"accuracy {c.accuracy}: max step {c.circuit.analysis.max_step:.3g} s, reltol {c.circuit.options.reltol:g}",
            f"ngspice {tr.ngspice_version} via {tr.backend}: {r.points} time points in {tr.seconds:.3f} s",
            *readout_line,
            f"relative max error {r.rel_max_error:.3e} (threshold {r.threshold:.0e}), "
            f"max abs error {r.max_abs_error:.3e}: {verdict}",
        ))

    def figure(self) -> bytes:
        """PNG bytes: SPICE over the reference per neuron (and readout), and the error."""
        spec, c = self.compiled.spec, self.compiled
        y = readout(spec, self.trajectory.states)
        return figures.check_figure(
            self.trajectory.time, self.trajectory.states, self.reference,
            title=f"{spec.name}: {c.form}/{c.coupling}, rel. max error {self.comparison.rel_max_error:.2e}",
            readout=None if y is None else (y, readout(spec, self.reference)))

    def plot(self, path: str | os.PathLike) -> Path:
        """Write :meth:`figure` to ``path`` (PNG, atomically); returns the path."""
        write_atomic(path, self.figure(), field="plot")
        return Path(path)


def _compiled(net, form, coupling, accuracy) -> CompiledNetwork:
    """``net`` compiled, or ``net`` itself when it is already a compiled network."""
    if isinstance(net, CompiledNetwork):
        given = [k for k, v in (("form", form), ("coupling", coupling), ("accuracy", accuracy)) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} cannot be given with an already compiled network "
                             f"(it is {net.form}/{net.coupling}, accuracy {net.accuracy})")
        return net
    if not isinstance(net, RnnSpec):
        raise UsageError(f"network must be a Network (rnn2spice.load or rnn2spice.Network) or a compiled "
                         f"network (rnn2spice.compile) (got {type(net).__name__})")
    return compile_rnn(net, form=form or "parallel", coupling=coupling or "vccs", accuracy=accuracy or "default")


def simulate(net, *, form: str | None = None, coupling: str | None = None, accuracy: str | None = None,
             backend: str = "auto", timeout: float | None = None,
             netlist_path: str | os.PathLike | None = None) -> Trajectory:
    """Run the circuit of ``net`` (a network, compiled here, or a compiled network) in ngspice.

    ``timeout`` in seconds.  On failure the :class:`SimulationError` names the netlist
    (``netlist_path``, or a kept temporary copy) so the user can rerun it.
    """
    compiled = _compiled(net, form, coupling, accuracy)
    start = _time.perf_counter()
    result = simulate_netlist(compiled.netlist, netlist_path=netlist_path, backend=backend, timeout=timeout)
    seconds = _time.perf_counter() - start
    try:
        t = np.asarray(result.vectors["time"], dtype=float)
        states = np.stack([np.asarray(result.vectors[vector_name(p)], dtype=float) for p in compiled.state_probes], axis=1)
    except KeyError as exc:
        raise SimulationError(f"ngspice returned no vector {exc.args[0]!r}", netlist_path=netlist_path,
                              ngspice_message=result.log[-2000:]) from None
    return Trajectory(t, states, result.backend, result.ngspice_version, seconds)


def run(compiled: CompiledNetwork, *, certify: bool = True, backend: str = "auto", timeout: float | None = None,
        netlist_path: str | os.PathLike | None = None) -> tuple[Certificate | None, Trajectory]:
    """The pipeline core: certify the netlist text (raise CertificateFailed on a mismatch), then simulate."""
    cert = certify_or_stop(compiled) if certify else None
    return cert, simulate(compiled, backend=backend, timeout=timeout, netlist_path=netlist_path)


def check(net, *, form: str | None = None, coupling: str | None = None, accuracy: str | None = None,
          backend: str = "auto", tolerance: float | None = None, timeout: float | None = None,
          netlist_path: str | os.PathLike | None = None) -> CheckResult:
    """Compile ``net`` (unless compiled already), certify, simulate, compare with the exact reference.

    ``tolerance`` on the relative max error defaults to 1e-3 (``default`` accuracy) or
    1e-6 (``high``); ``timeout`` in seconds.
    """
    timings = {}
    start = _time.perf_counter()
    compiled = _compiled(net, form, coupling, accuracy)
    timings["compile"] = _time.perf_counter() - start
    cert, traj = run(compiled, backend=backend, timeout=timeout, netlist_path=netlist_path)
    timings["certificate"] = cert.seconds
    timings["simulate"] = traj.seconds
    start = _time.perf_counter()
    ref = solve_reference(compiled.spec, traj.time)
    timings["reference"] = _time.perf_counter() - start
    tol = THRESHOLDS[compiled.accuracy] if tolerance is None else tolerance
    cmp = compare(traj.states, ref, threshold=tol)
    return CheckResult(compiled, traj, ref, cmp, timings, certificate=cert)


def solve_reference(spec: RnnSpec, times: np.ndarray) -> np.ndarray:
    """:func:`reference.solve`, with its failures as :class:`ReferenceSolverError` (exit 3)."""
    try:
        with np.errstate(all="ignore"):
            ref = reference.solve(spec, times)
    except (RuntimeError, ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        raise ReferenceSolverError(f"the exact reference of spec {spec.name!r} cannot be computed: {exc}") from None
    if not np.all(np.isfinite(ref)):
        growth = float(np.max(np.linalg.eigvals(spec.state_matrix()).real))
        raise ReferenceSolverError(
            f"the exact reference of spec {spec.name!r} leaves the floating-point range before t_stop = "
            f"{spec.t_stop!r} s: the network is unstable (largest Re eig(A) = {growth:.3g} 1/s, "
            f"growth exp({growth * spec.t_stop:.3g}))")
    return ref
