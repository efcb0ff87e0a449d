"""The end-to-end job: compile, simulate with ngspice, solve the reference, compare."""

from __future__ import annotations

import time as _time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnn2spice.analysis import reference
from rnn2spice.analysis.metrics import THRESHOLDS, Comparison, compare
from rnn2spice.analysis.certificate import certify_or_stop
from rnn2spice.circuit.compiler import CompiledNetwork, compile_rnn
from rnn2spice.errors import SimulationError
from rnn2spice.network.readout import readout_errors
from rnn2spice.spice.ngspice import simulate_netlist
from rnn2spice.network.spec import RnnSpec


@dataclass(frozen=True, eq=False)
class Trajectory:
    """States read back from ngspice at its own time points, in model units."""

    time: np.ndarray    # (points,) s
    states: np.ndarray  # (points, n)
    backend: str
    ngspice_version: str
    seconds: float      # wall time of the simulation call


@dataclass(frozen=True, eq=False)
class CheckResult:
    compiled: CompiledNetwork
    trajectory: Trajectory
    reference: np.ndarray
    comparison: Comparison
    timings: dict = field(default_factory=dict)
    certificate: object = None  # certificate.Certificate of the netlist text, checked before simulating

    @property
    def passed(self) -> bool:
        return self.comparison.passed

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


def simulate(compiled: CompiledNetwork, *, backend: str = "auto", timeout: float | None = None,
             netlist_path: Path | None = None) -> Trajectory:
    """Run the compiled netlist in ngspice and read the states back.

    On failure the :class:`SimulationError` names the netlist (``netlist_path``, or a
    temporary copy that :func:`simulate_netlist` keeps) so the user can rerun it.
    """
    start = _time.perf_counter()
    result = simulate_netlist(compiled.netlist, netlist_path=netlist_path, backend=backend, timeout=timeout)
    seconds = _time.perf_counter() - start
    try:
        t = np.asarray(result.vectors["time"], dtype=float)
        states = np.stack([np.asarray(result.vectors[p], dtype=float) for p in compiled.state_probes], axis=1)
    except KeyError as exc:
        raise SimulationError(f"ngspice returned no vector {exc.args[0]!r}", netlist_path=netlist_path,
                              ngspice_message=result.log[-2000:]) from None
    return Trajectory(t, states, result.backend, result.ngspice_version, seconds)


def check(spec: RnnSpec, *, form: str = "parallel", coupling: str = "vccs", accuracy: str = "default",
          backend: str = "auto", threshold: float | None = None, timeout: float | None = None,
          netlist_path: Path | None = None) -> CheckResult:
    """Compile ``spec``, simulate it, and compare with the exact reference.

    ``threshold`` on the relative max error defaults to 1e-3 (``default`` accuracy) or
    1e-6 (``high``).
    """
    timings = {}
    start = _time.perf_counter()
    compiled = compile_rnn(spec, form=form, coupling=coupling, accuracy=accuracy)
    timings["compile"] = _time.perf_counter() - start
    cert = certify_or_stop(compiled)  # the netlist text realises the spec, or stop (exit 1)
    timings["certificate"] = cert.seconds
    traj = simulate(compiled, backend=backend, timeout=timeout, netlist_path=netlist_path)
    timings["simulate"] = traj.seconds
    start = _time.perf_counter()
    ref = solve_reference(spec, traj.time)
    timings["reference"] = _time.perf_counter() - start
    cmp = compare(traj.states, ref, threshold=THRESHOLDS[accuracy] if threshold is None else threshold)
    return CheckResult(compiled, traj, ref, cmp, timings, certificate=cert)


def solve_reference(spec: RnnSpec, times: np.ndarray) -> np.ndarray:
    """:func:`reference.solve`, with its failures as :class:`ReferenceSolverError` (exit 3)."""
    from rnn2spice.errors import ReferenceSolverError

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
