"""The result of a study (:mod:`rnn2spice.workflows.study`): records, statistics, report, figure."""

from __future__ import annotations

from rnn2spice.circuit import ir

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn2spice.circuit.compiler import CompiledNetwork
from rnn2spice.network.readout import readout, readout_label
from rnn2spice.report import study_figures
from rnn2spice.report.display import Displayed, Plotted

#: Percentiles of the summary statistics.
PERCENTILES = (5, 25, 50, 75, 95)


@dataclass(frozen=True, eq=False)
class StudyPoint:
    """One design of a study, as it ran: the compiled network, its values and the nominal
    reference on the uniform grid of the records."""

    index: int
    values: dict
    compiled: CompiledNetwork
    tolerance: float
    distribution: str
    threshold: float
    grid: np.ndarray        # (G,) s
    reference: np.ndarray   # (G, n) the nominal exact states on the grid
    certificate: dict       # of the nominal netlist
    decision: object = None  # study_decision.Decision with the nominal decisions, or None
    threshold_given: bool = True  # False: the default threshold (with a decision, not a criterion)

    def describe(self) -> dict:
        c = self.compiled
        return {"point": self.index, "values": self.values, "form": c.form, "coupling": c.coupling,
                "accuracy": c.accuracy, "rtol": float(c.target), "tolerance": self.tolerance,
                "distribution": self.distribution, "threshold": self.threshold,
                "t_stop": c.spec.t_stop, "certificate": self.certificate,
                **({} if self.decision is None else {"decision": self.decision.describe()})}


def stats(values) -> dict | None:
    """min, percentiles and max of the finite ``values`` (None when there are none)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not x.size:
        return None
    q = np.percentile(x, PERCENTILES)
    return {"min": float(x.min()), **{f"p{p}": float(v) for p, v in zip(PERCENTILES, q)}, "max": float(x.max()),
            "median": float(q[2])}


@dataclass(frozen=True, eq=False, repr=False)
class StudyResult(Displayed, Plotted):
    """Every run of a study: ``records`` (one dict per run, sorted by point and run), the
    points, and what ran (``executed``: the runs simulated in this call; ``resumed``: how
    many came from an earlier, interrupted call)."""

    kind: str                 # 'montecarlo' or 'sweep'
    points: tuple             # StudyPoint
    records: tuple            # dict per run
    seed: int
    fingerprint: str
    executed: tuple           # (point, run) simulated by this call, in completion order
    resumed: int
    how: str                  # 'serial', 'process pool of 2', 'dask tcp://...'
    seconds: float
    pass_fraction: float      # a point passes when at least this fraction of its runs passes
    timeout: float | None = None

    @property
    def spec(self):
        return self.points[0].compiled.spec

    def runs_of(self, point: int = 0) -> list[dict]:
        return [r for r in self.records if r["point"] == point]

    def record(self, run: int, point: int = 0) -> dict:
        for r in self.records:
            if r["point"] == point and r["run"] == run:
                return r
        raise KeyError(f"no run {run} of point {point} in this study")

    def errors(self, point: int = 0, key: str = "error") -> np.ndarray:
        """``key`` (``error``, ``state_error``, ``readout_error``) per run of ``point``; inf for a failed run."""
        return np.array([float(r[key]) if r.get(key) is not None else np.nan for r in self.runs_of(point)])

    def point_summary(self, point: int = 0) -> dict:
        runs = self.runs_of(point)
        ok = [r for r in runs if r["status"] == "ok"]
        passed = sum(bool(r["passed"]) for r in runs)
        fraction = passed / len(runs) if runs else 0.0
        extra = {}
        if self.points[point].decision is not None:
            right = [r["run"] for r in runs if r.get("decision", {}).get("match")]
            extra["decision"] = {
                "discrete": self.points[point].decision.discrete["decision"],
                "reference": (self.points[point].decision.reference or {}).get("decision"),
                "runs": len(runs), "right": len(right), "fraction": len(right) / len(runs) if runs else 0.0,
                "same_as_reference": sum(bool(r["decision"]["match_reference"]) for r in runs),
                "wrong_runs": [r["run"] for r in runs if r["run"] not in set(right)],
                "mean_readout": stats(r["decision"]["mean"][0] for r in ok),
            }
        return {"runs": len(runs), "completed": len(ok), "failed": len(runs) - len(ok), "passed": passed,
                "pass_fraction": fraction, "pass": bool(runs) and fraction >= self.pass_fraction,
                "threshold": self.points[point].threshold,
                "error": stats(r["error"] for r in ok), "state_error": stats(r["state_error"] for r in ok),
                "readout_error": stats(r["readout_error"] for r in ok if r.get("readout_error") is not None),
                "failures": [{"run": r["run"], "error_type": r["error_type"], "message": r["message"]}
                             for r in runs if r["status"] != "ok"], **extra}

    @property
    def passed(self) -> bool:
        """Every point has at least ``pass_fraction`` of its runs within its threshold
        (a failed run does not pass)."""
        return all(self.point_summary(p.index)["pass"] for p in self.points)

    def report(self) -> dict:
        """The JSON results file: the study, per point its statistics, and every record."""
        s = self.spec
        return {"kind": self.kind, "passed": self.passed, "spec": s.name, "n": s.n, "m": s.m,
                "seed": self.seed, "fingerprint": self.fingerprint, "timeout": self.timeout,
                "pass_fraction_required": self.pass_fraction,
                "error_rule": "per run: the worst neuron's (or readout output's) max |h_run - h_ref| on its own "
                              "scale against the NOMINAL exact reference at ngspice's time points; a run passes "
                              "when it is within its point's threshold; a failed run does not pass",
                "tolerance_rule": "every R, C, L times f: uniform f in [1-t, 1+t], or normal with sigma = t/3 "
                                  "truncated at 3 sigma; run k draws from SeedSequence(seed, spawn_key=(k,))",
                "certified": "each point's nominal netlist, once; perturbed circuits are not the network and "
                             "are not certified",
                **({"decision_rule": "with a stimulus: the readout of each run at (k+1) dt, its mean over the "
                                     "response window, 0 when |mean| < dead_zone, else its sign; a run decides "
                                     "right when every output's decision equals the discrete network's; it "
                                     "passes when it decides right (and its error is within the threshold, "
                                     "when one is given)"}
                   if any(p.decision is not None for p in self.points) else {}),
                "ran": {"how": self.how, "executed": len(self.executed), "resumed": self.resumed,
                        "seconds": self.seconds},
                "points": [{**p.describe(), "summary": self.point_summary(p.index)} for p in self.points],
                "records": list(self.records)}

    def summary(self) -> str:
        lines = [self._head()]
        if self.kind == "sweep":
            lines += self._table()
        else:
            lines += self._point_lines(0)
        lines.append(f"ran {len(self.executed)} run(s) ({self.how}, {self.seconds:.1f} s), {self.resumed} resumed "
                     f"from an earlier call: {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)

    def _head(self) -> str:
        p0, s = self.points[0], self.spec
        c = p0.compiled
        runs = len(self.runs_of(0))
        if self.kind == "montecarlo":
            what = (f"{runs} run(s), every R, C, L within {100 * p0.tolerance:g} % ({p0.distribution}"
                    + (", sigma = tolerance/3" if p0.distribution == "normal" else "") + f"), seed {self.seed}")
        else:
            what = f"{len(self.points)} point(s) x {runs} run(s), seed {self.seed}"
        if p0.decision is not None:
            what += f", trial [{p0.decision.stimulus.label}] (dt {p0.decision.dt:g} s)"
        passed = p0.certificate.get("passed")
        cert = ("nominal netlist not certified (real parts or preferred values: judged by check's prediction)"
                if passed is None else f"nominal netlist certified ({'PASS' if passed else 'FAIL'})")
        if any(isinstance(e, ir.REAL_PARTS) for e in c.circuit.elements):
            what += ", op-amp offsets and transistor mismatch drawn too"
        return f"{self.kind} {s.name}: n = {s.n}, {c.form}/{c.coupling}, {what}; {cert}, perturbed circuits are not certified"

    def _point_lines(self, point: int) -> list[str]:
        ps = self.point_summary(point)
        out = []
        for key, label in (("state_error", "error per neuron (worst)"), ("readout_error", "readout error (worst)")):
            st = ps[key]
            if st is not None:
                out.append(f"{label} against the nominal reference: median {st['median']:.3e}, 5..95 % "
                           f"{st['p5']:.3e} .. {st['p95']:.3e}, max {st['max']:.3e}")
        out += self._chaos_lines(point, ps["threshold"])
        fails = "".join(f"; run {f['run']} failed: {f['error_type']}: {f['message'][:160]}" for f in ps["failures"][:3])
        dec = self.points[point].decision
        if dec is None:
            out.append(f"{ps['passed']}/{ps['runs']} run(s) within threshold {ps['threshold']:g} ({ps['failed']} "
                       f"failed{fails}): pass fraction {ps['pass_fraction']:.3g} (required {self.pass_fraction:g})")
            return out
        d, (s, e) = ps["decision"], dec.window
        mean = d["mean_readout"]
        out.append(f"decision (mean readout over steps {s}..{e} = {(s + 1) * dec.dt:g}..{e * dec.dt:g} s, 0 when "
                   f"|mean| < {dec.dead_zone:g}): discrete network {d['discrete']}, nominal reference "
                   f"{d['reference']}" + ("" if mean is None else f"; runs' mean readout (output 0) median "
                                                                   f"{mean['median']:+.4f}, 5..95 % {mean['p5']:+.4f} .. "
                                                                   f"{mean['p95']:+.4f}"))
        wrong = ", ".join(str(k) for k in d["wrong_runs"][:10]) + (", ..." if len(d["wrong_runs"]) > 10 else "")
        out.append(f"right decision (the discrete network's) in {d['right']}/{d['runs']} run(s): fraction "
                   f"{d['fraction']:.3g}" + (f"; wrong or failed: run {wrong}" if wrong else ""))
        crit = (f"decides right and within threshold {ps['threshold']:g}" if self.points[point].threshold_given
                else "decides right; the error is not a criterion without a threshold")
        out.append(f"{ps['passed']}/{ps['runs']} run(s) pass ({crit}; {ps['failed']} failed{fails}): pass fraction "
                   f"{ps['pass_fraction']:.3g} (required {self.pass_fraction:g})")
        return out

    def _chaos_lines(self, point: int, threshold: float) -> list[str]:
        """Runs of a chaotic network are judged pointwise only up to their horizon and by
        statistics beyond (THEORY.md 9); without this line the summary of a chaotic Monte Carlo
        (n = 80, g = 4, 1 % parts: errors 0.16-0.51 up to 11 ms, every statistic passing) read
        as if the whole run had been compared."""
        chaotic = [r for r in self.runs_of(point) if r["status"] == "ok" and r.get("horizon") is not None]
        if not chaotic:
            return []
        horizons = np.array([float(r["horizon"]) for r in chaotic])
        lam = np.array([float(r["lyapunov_exponent"]) for r in chaotic])
        pointwise = sum(float(r["state_error"]) <= threshold for r in chaotic)
        statistics = sum(bool(r.get("statistics")) and all(r["statistics"].values()) for r in chaotic)
        return [f"chaotic in {len(chaotic)} run(s) (lambda_1 median {np.median(lam):.4g} 1/s): the error above is up "
                f"to each run's horizon (median {np.median(horizons):.4g} s, from the parts' floor), statistics "
                f"beyond; pointwise part within {threshold:g} in {pointwise}/{len(chaotic)}, statistics pass in "
                f"{statistics}/{len(chaotic)}"]

    def _table(self) -> list[str]:
        keys = list(self.points[0].values)
        decided = any(p.decision is not None for p in self.points)
        head = ["point", *keys, "runs", "failed", "median error", "p95 error", "max error",
                *(["right decision"] if decided else []), "passed", "verdict"]
        rows = []
        for p in self.points:
            ps = self.point_summary(p.index)
            st = ps["error"] or {}
            rows.append([str(p.index), *(str(p.values[k]) for k in keys), str(ps["runs"]), str(ps["failed"]),
                         *(f"{st[k]:.3e}" if st else "-" for k in ("median", "p95", "max")),
                         *([f"{ps['decision']['right']}/{ps['runs']}"] if decided else []),
                         f"{ps['passed']}/{ps['runs']}", "PASS" if ps["pass"] else "FAIL"])
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        out = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
        out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        for p in self.points:
            for f in self.point_summary(p.index)["failures"][:3]:
                out.append(f"point {p.index} run {f['run']} failed: {f['error_type']}: {f['message'][:200]}")
        return out

    def _headline(self) -> str:
        runs = len(self.records)
        passed = sum(bool(r["passed"]) for r in self.records)
        return (f"{self.kind} {self.spec.name}: {len(self.points)} point(s), {passed}/{runs} runs pass "
                f"({self.how}, {self.seconds:.1f} s): {'PASS' if self.passed else 'FAIL'}")

    def _rows(self) -> list[tuple[str, str]]:
        rows = []
        for p in self.points[:6]:
            ps = self.point_summary(p.index)
            st = ps["error"] or {}
            label = ", ".join(f"{k}={v}" for k, v in p.values.items()) or f"point {p.index}"
            err = f"error median {st['median']:.2e}, p95 {st['p95']:.2e}" if st else "no error"
            rows.append((label, f"{ps['passed']}/{ps['runs']} pass, {ps['failed']} failed; {err}"))
        if len(self.points) > 6:
            rows.append(("...", f"{len(self.points) - 6} more points (summary() lists them)"))
        return rows

    def _draw(self, ax):
        """A Monte Carlo's percentile bands and error histogram; a sweep's error per point (with
        a legend)."""
        if self.kind == "sweep":
            labels = [", ".join(f"{k}={v}" for k, v in p.values.items()) for p in self.points]
            return study_figures.sweep_plot(labels, [self.errors(p.index) for p in self.points],
                                            [p.threshold for p in self.points], title=f"sweep {self.spec.name}",
                                            ax=ax)
        p0 = self.points[0]
        ok = [r for r in self.runs_of(0) if r["status"] == "ok"]
        states = np.array([r["grid_states"] for r in ok]) if ok else np.zeros((0, p0.grid.size, self.spec.n))
        y = (np.array([r["grid_readout"] for r in ok]) if ok and ok[0].get("grid_readout") is not None else None)
        dec, title = p0.decision, f"{self.spec.name}: {len(ok)} runs, R, C, L within {100 * p0.tolerance:g} % ({p0.distribution})"
        overlay = None
        if dec is not None:
            d, (s, e) = self.point_summary(0)["decision"], dec.window
            title += (f"\ndecision (mean readout over the window) right in {d['right']}/{d['runs']} runs "
                      f"({100 * d['fraction']:.1f} %)")
            overlay = {"window": ((s + 1) * dec.dt, e * dec.dt), "dead_zone": dec.dead_zone, "time": dec.grid,
                       "y_discrete": dec.y_discrete, "discrete": d["discrete"]}
        return study_figures.bands_plot(
            p0.grid, states, p0.reference, self.errors(0), p0.threshold,
            readout=None if y is None else (y, readout(self.spec, p0.reference)), decision=overlay, title=title,
            readout_label=readout_label(self.spec),
            threshold_note="" if p0.threshold_given or dec is None else " (not a criterion)", ax=ax)
