"""Studies: many runs of compiled circuits (Monte Carlo tolerances, parameter sweeps).

A study is a list of **points** (a validated spec compiled with its options: the one design
of a Monte Carlo, or one per value of a sweep) times a list of **runs** per point.  Run ``k``
of a point simulates the point's circuit with every R, C and L drawn within the point's
tolerance by :func:`rnn2spice.circuit.tolerance.perturbed` from the seed path ``(seed, k)``
(tolerance 0: the circuit as compiled, run once: its runs would all be the same) at the compiled maximum step (no refinement as
in ``check``: the numerical error stays near the accuracy target), and scores it against the point's **nominal** exact
reference at ngspice's own time points with the one rule of
:mod:`rnn2spice.analysis.metrics`: every neuron (and readout output) on its own scale; the
run's ``error`` is the worst of them and it passes at the point's ``threshold``.  A point
with a task trial (``Point.decision``) also scores each run's readout decision against the
discrete network's (:mod:`rnn2spice.workflows.study_decision`): such a run passes when it
decides right, and only when a threshold is given, also on its error.

Certification: every point's nominal netlist is certified once, before any run
(:func:`~rnn2spice.analysis.certificate.certify_or_stop`); a perturbed circuit is not the
network and is not certified.  Runs of a point with tolerance 0 simulate the certified text.

Runs are independent jobs (:func:`rnn2spice.workflows.pool.run_jobs`: serial, process pool or
Dask); each returns a JSON-ready **record** (``point``, ``run``, ``seed_path``, ``status``
``ok`` or ``failed``, the errors, the states and readout on a uniform grid of
:data:`GRID_POINTS` times for the percentile bands; on failure the error type, its message
and ngspice's own lines).  A failed run (ngspice did not converge, ran out of time, the
reference failed) is recorded and the others go on.

Journal and resume: with an ``output`` path every record is appended, as it arrives, to the
JSON Lines file ``<output>.runs.jsonl`` (first line: the study's fingerprint); the finished
study is written to ``output`` atomically and the journal removed.  ``resume=True`` takes the
records of the journal (or of a finished ``output``) and runs only the others; a file whose
fingerprint differs is refused.  The fingerprint is the sha256 of the points' netlists and
readouts, tolerances, distributions, thresholds, the seed and the time limit -- not of the
number of runs, so a study can also be extended.

This module is longer than 400 lines: the run loop, the journal (its path checks, writing,
bounded reading back) and resume share one record format and fingerprint; split, that one
file format would be spread over several modules.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import stat
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from rnn2spice.analysis.certificate import certify_or_stop
from rnn2spice.circuit.realparts import Build
from rnn2spice.circuit.compiler import CompiledNetwork
from rnn2spice.circuit.tolerance import check_distribution, check_tolerance, passive_indices, perturbed
from rnn2spice.errors import OutputError, ReferenceSolverError, SimulationError, UsageError, clip
from rnn2spice.network.readout import readout
from rnn2spice.network.numbers import is_real
from rnn2spice.network.files import open_regular, read_regular
from rnn2spice.report.files import (check_distinct, check_output, is_json_report, json_text, register_output_kind,
                                    reserve_report_kinds, write_atomic)
from rnn2spice.spice.log import discard_saved_netlist
from rnn2spice.workflows.pipeline import judge, simulate, solve_reference
from rnn2spice.workflows import study_decision
from rnn2spice.workflows.pool import check_jobs, check_scheduler, run_jobs, workers_for
from rnn2spice.workflows.study_result import StudyPoint, StudyResult

#: Times of the uniform grid the runs' states are interpolated on (percentile bands).
GRID_POINTS = 201
#: Pass threshold of a run with perturbed parts (tolerance > 0) when none is given; a run
#: of the circuit as compiled passes at its accuracy target, as ``check`` does.
DEFAULT_THRESHOLD = 0.1
#: The certificate entry of a point built from real parts or preferred values.
UNCERTIFIED = {"passed": None, "certified": "nothing: a build of real parts or preferred values is not the network; "
                                            "see check for its predicted build error"}
#: Most runs of one study (points x runs).
MAX_MEMBERS = 100_000
JOURNAL_SUFFIX = ".runs.jsonl"
#: Record fields that hold text (never decoded as numbers when read back).
_TEXT = {"status", "error_type", "message", "ngspice_message", "distribution"}


@dataclass(frozen=True, eq=False)
class Point:
    """One design of a study: a compiled network, its tolerance and pass threshold, and the
    values of the swept parameters that made it (``{}`` in a Monte Carlo)."""

    compiled: CompiledNetwork
    tolerance: float = 0.0
    distribution: str = "uniform"
    threshold: float | None = None
    values: dict = dataclasses.field(default_factory=dict)
    decision: study_decision.Decision | None = None   # a trial: runs are scored on its decision too

    @property
    def pass_threshold(self) -> float:
        if self.threshold is not None:
            return float(self.threshold)
        return float(self.compiled.target) if self.tolerance == 0 else DEFAULT_THRESHOLD


@dataclass(frozen=True, eq=False)
class Member:
    """What a worker runs: run ``run`` of point ``point`` (everything it needs, picklable)."""

    point: int
    run: int
    seed: int
    compiled: CompiledNetwork
    tolerance: float
    distribution: str
    threshold: float
    backend: str
    timeout: float | None
    grid: np.ndarray
    decision: study_decision.Decision | None = None  # with the nominal decisions
    threshold_given: bool = True


def run_member(m: Member) -> dict:
    """Simulate and score one run (module docstring); ngspice's and the reference's failures
    are part of the record, any other exception is raised."""
    rec = {"point": m.point, "run": m.run, "seed_path": [int(m.seed), int(m.run)]}
    if m.tolerance > 0:
        circuit, factors = perturbed(m.compiled.circuit, m.tolerance, m.distribution, m.seed, m.run)
        compiled = dataclasses.replace(m.compiled, circuit=circuit)
        rec["factors"] = {"count": int(factors.size), "min": float(np.min(factors, initial=1.0)),
                          "max": float(np.max(factors, initial=1.0))}
    else:
        compiled = m.compiled
        rec["factors"] = {"count": len(passive_indices(m.compiled.circuit)), "min": 1.0, "max": 1.0}
    spec = m.compiled.spec
    cpu = _time.process_time()
    try:
        traj = simulate(compiled, backend=m.backend, timeout=m.timeout)
        # pointwise up to the horizon of a chaotic network, statistics beyond (THEORY.md 9)
        # the parts set the floor the divergence starts from (THEORY.md 9): a weight is a ratio
        # of two parts (R and C, or two resistors), each off by up to the tolerance
        verdict = judge(m.compiled, traj, tolerance=m.threshold,
                        floor=2.0 * m.tolerance if m.tolerance > 0 else None)
    except (SimulationError, ReferenceSolverError) as exc:
        if isinstance(exc, SimulationError):  # recorded, not shown: no copy of the netlist left behind
            exc = discard_saved_netlist(exc)  # (run K alone again: --run K)
        text = str(exc)
        rec.update(status="failed", passed=False, error=float("inf"), error_type=type(exc).__name__,
                   message=clip(text.split("\nngspice said:")[0], 1000),
                   ngspice_message=getattr(exc, "ngspice_message", "")[-4000:])
        if m.decision is not None:
            rec["decision"] = study_decision.failed(m.decision)
        return rec
    cmp = verdict.comparison
    states = np.stack([np.interp(m.grid, traj.time, traj.states[:, k]) for k in range(spec.n)], axis=1)
    y = readout(spec, states)
    passed = bool(verdict.passed)
    if m.decision is not None:  # the run passes on its decision (and its error only when a threshold is given)
        rec["decision"] = study_decision.score(spec, m.decision, traj.time, traj.states)
        passed = rec["decision"]["match"] and (passed or not m.threshold_given)
    rec.update(status="ok", passed=passed, error=float(cmp.verdict_error),
               state_error=float(cmp.rel_max_error_per_neuron), worst_neuron=int(cmp.worst_neuron),
               rel_error_per_neuron=[float(x) for x in cmp.rel_error_per_neuron],
               readout_error=None if cmp.readout is None else float(cmp.readout.rel_max_error_per_output),
               lyapunov_exponent=verdict.lyapunov_exponent, horizon=verdict.predictability_horizon,
               statistics=None if verdict.statistics is None else verdict.statistics.parts,
               points=int(traj.time.size), seconds=float(traj.seconds), backend=traj.backend,
               cpu_seconds=_time.process_time() - cpu,  # this process's CPU: ngspice (shared) and reference
               grid_states=states.tolist(), grid_readout=None if y is None else y.tolist())
    return rec


# --------------------------------------------------------------------------- journal

#: How a journal opens (:class:`_Journal` writes the study's fingerprint first).
_JOURNAL_HEAD = json.dumps({"fingerprint": ""})[:-2].encode()
#: The studies this module runs (the "kind" of their results files).
KINDS = ("montecarlo", "sweep")
#: A study's results file, for the output rule of the command line (-o of montecarlo and sweep).
register_output_kind("study", "a montecarlo or sweep results file written by rnn2spice", is_json_report(KINDS))
reserve_report_kinds(KINDS)  # a --report of another command never replaces a study's results
register_output_kind("journal", "the journal of an earlier rnn2spice study", lambda head: head.startswith(_JOURNAL_HEAD))


def fingerprint(kind: str, points: list[Point], seed: int, timeout: float | None) -> str:
    """sha256 of what decides a study's records (module docstring)."""
    def arr(a):
        return None if a is None else np.asarray(a, dtype=float).tolist()

    doc = {"kind": kind, "seed": int(seed), "timeout": timeout, "points": [
        {"netlist": hashlib.sha256(p.compiled.netlist.encode()).hexdigest(), "w_out": arr(p.compiled.spec.w_out),
         "b_out": arr(p.compiled.spec.b_out), "tolerance": p.tolerance, "distribution": p.distribution,
         "threshold": p.pass_threshold, "values": p.values,
         **({} if p.decision is None else {"decision": p.decision.fingerprint()})} for p in points]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def journal_path(output: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(output)}{JOURNAL_SUFFIX}")


def _decode(value, key: str | None = None):
    """A value read back from strict JSON: ``"inf"``, ``"-inf"``, ``"nan"`` as floats again."""
    if isinstance(value, dict):
        return {k: _decode(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, key) for v in value]
    if isinstance(value, str) and key not in _TEXT and value in ("inf", "-inf", "nan"):
        return float(value)
    return value


def load_finished(output: str | os.PathLike, fp: str) -> dict:
    """The records a study with fingerprint ``fp`` already has: from the journal beside
    ``output`` if there is one, else from a finished ``output``; ``{}`` when neither exists.
    A file of another study is refused (OutputError naming it); a last journal line cut
    short by a crash is ignored."""
    journal, final = journal_path(output), Path(output)
    records: list = []
    if journal.is_file():
        lines = _journal_lines(journal)
        try:
            head = json.loads(next(lines, "{}"))
        except json.JSONDecodeError:
            head = {}
        _same_study(head.get("fingerprint") if isinstance(head, dict) else None, fp, journal)
        for line in lines:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: that run is done again
    elif final.is_file():
        try:
            doc = json.loads(read_regular(final, "--resume", str(final), MAX_RESULTS_BYTES).decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise OutputError(f"--resume: {final} is not a study's results file ({clip(exc)})") from None
        _same_study(doc.get("fingerprint") if isinstance(doc, dict) else None, fp, final)
        records = _decode(doc.get("records", []))
    return {(r["point"], r["run"]): r for r in records if _usable(r)}


#: Bytes a journal or results file read back by ``resume`` may have: a record is ~0.5-1 kB,
#: so MAX_MEMBERS of them fit several times over; more is not a file this tool wrote.
MAX_RESULTS_BYTES = 512 * MAX_MEMBERS * 4
#: Bytes one journal line may have (a record; a longer line is not one, and is refused unread).
MAX_RECORD_BYTES = 1 << 16


def _journal_lines(path: Path):
    """The lines of a journal, bounded (:data:`MAX_RESULTS_BYTES` in all, each line at most
    :data:`MAX_RECORD_BYTES`, read as it goes); a file that is not UTF-8 text is refused, naming
    the line (OutputError: it is not a journal this tool wrote)."""
    with open_regular(path, "--resume", str(path), MAX_RESULTS_BYTES) as fh:
        for lineno in range(1, MAX_MEMBERS + 2):
            raw = fh.readline(MAX_RECORD_BYTES + 1)
            if not raw:
                return
            if len(raw) > MAX_RECORD_BYTES:
                raise OutputError(f"--resume: {clip(str(path))!r} line {lineno} is longer than {MAX_RECORD_BYTES:,} "
                                  "bytes: not a journal of rnn2spice")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise OutputError(f"--resume: {clip(str(path))!r} line {lineno} is not UTF-8 text: not a journal "
                                  "of rnn2spice") from None
        raise OutputError(f"--resume: {clip(str(path))!r} has more than {MAX_MEMBERS + 1} lines: not a journal "
                          "of rnn2spice")


def _real(value) -> bool:
    return value is None or is_real(value)


def _usable(record) -> bool:
    """Whether a record read back has the types the summary needs; one that does not (a file
    edited by hand, a line damaged by a crash) is dropped, and its run is done again."""
    if not isinstance(record, dict):
        return False
    if not all(isinstance(record.get(k), int) and not isinstance(record.get(k), bool) for k in ("point", "run")):
        return False
    if not all(_real(record.get(k)) for k in ("error", "state_error", "readout_error")):
        return False
    decision = record.get("decision")
    if decision is not None:
        mean = decision.get("mean") if isinstance(decision, dict) else None
        if not isinstance(mean, list) or not all(_real(v) and v is not None for v in mean):
            return False
    return True


def _same_study(found, fp: str, path: Path) -> None:
    if found != fp:
        raise OutputError(f"--resume: {path} holds the results of another study (fingerprint "
                          f"{str(found)[:12]}..., this study's {fp[:12]}...: a different spec or options); "
                          "run without --resume to start again, or choose another output")


def journal_of(output: str | os.PathLike | None) -> Path | None:
    """The journal beside ``output``, or None when there can be none: no ``output``, standard
    output (``-``), or an output that is not a regular file (``/dev/stdout``, a FIFO: a
    journal "beside" it would be a file in /dev, or one more FIFO that hangs its writer)."""
    if output is None or os.fspath(output) == "-":
        return None
    try:
        info = os.stat(output)
    except OSError:  # not there yet (or unreadable: check_output says so)
        return journal_path(output)
    return journal_path(output) if stat.S_ISREG(info.st_mode) else None


def check_journal(output: str | os.PathLike, field: str = "journal", *, force: bool = False,
                  inputs: dict | None = None) -> None:
    """The journal beside ``output`` is written and then removed: only an earlier journal
    may be there (never a link, which could lead to the spec, even with ``force``; never a
    FIFO, device or directory; a file of the user's only with ``force``), and never one of
    ``inputs`` (field -> path: the spec, a stimulus), not even with ``force``."""
    path = journal_of(output)
    if path is None:
        return
    if os.path.islink(path):
        raise OutputError(f"{field}: {clip(str(path))!r} is a symbolic link; refusing to write through it "
                          "(remove it or choose another output name)")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError(f"{field}: {clip(str(path))!r} is not a regular file (a journal is appended and synced "
                          "run by run); choose another output name")
    if inputs:
        check_distinct({field: path}, {k: v for k, v in inputs.items() if v is not None})
    check_output(path, field, "journal", force=force)


class _Journal:
    """Appends one JSON line per record, flushed and synced, so that a killed study keeps them."""

    def __init__(self, output, fp: str, keep: dict):
        self.path = journal_path(output)  # checked by run_study before any work (check_journal)
        # non-blocking: a FIFO put there since the check fails here instead of hanging
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0), 0o666)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OutputError(f"journal: {clip(str(self.path))!r} is not a regular file")
        os.set_blocking(fd, True)
        with open(fd, "w") as fh:
            fh.write(json.dumps({"fingerprint": fp}) + "\n")
            for rec in keep.values():
                fh.write(json.dumps(rec) + "\n")
        self.fh = open(self.path, "a")

    def append(self, rec: dict) -> None:
        self.fh.write(json.dumps(rec) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


# --------------------------------------------------------------------------- the study

def run_study(kind: str, points: list[Point], runs: list[int], *, seed: int = 0, backend: str = "auto",
              timeout: float | None = None, jobs: int | None = None, scheduler: str | None = None,
              output: str | os.PathLike | None = None, resume: bool = False, pass_fraction: float = 1.0,
              progress: Callable[[int, int, dict], None] | None = None, force: bool = False) -> StudyResult:
    """Every run of every point (module docstring); ``progress(done, total, record)`` after each run.
    ``force``: replace an existing ``output`` (and journal) even when it is not an earlier study's."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise UsageError(f"seed must be a whole number 0 .. 2**63 - 1 (got {seed!r})")
    if not is_real(pass_fraction) or not 0 <= pass_fraction <= 1:
        raise UsageError(f"pass_fraction must be between 0 and 1 (got {pass_fraction!r})")
    jobs, scheduler = check_jobs(jobs), check_scheduler(scheduler)
    if resume and (output is None or journal_of(output) is None):
        raise UsageError("resume needs the output file of the interrupted study (output / -o), a regular "
                         f"file (got {None if output is None else clip(os.fspath(output))!r})")
    members_total = sum(len(_runs_of(p, runs)) for p in points)
    if not 1 <= members_total <= MAX_MEMBERS:
        raise UsageError(f"a study has 1 .. {MAX_MEMBERS} runs (got {len(points)} points x {len(runs)} runs)")
    for p in points:
        check_tolerance(p.tolerance)
        check_distribution(p.distribution)
    start = _time.perf_counter()
    fp = fingerprint(kind, points, seed, timeout)
    if output is not None:  # the output rule (report/files.py): only an earlier results file, or force
        check_output(output, "output", "study", force=force)
        check_journal(output, force=force)
    done = load_finished(output, fp) if resume else {}
    wanted = {(i, k) for i, p in enumerate(points) for k in _runs_of(p, runs)}
    done = {key: rec for key, rec in done.items() if key in wanted}
    infos, members = [], []
    for i, p in enumerate(points):
        # the nominal circuit, once (CertificateFailed stops the study); a build of real parts or
        # preferred values is not a network the certificate reads (THEORY.md 11): said, not passed
        cert = certify_or_stop(p.compiled) if p.compiled.build == Build() else None
        grid = np.linspace(0.0, p.compiled.spec.t_stop, GRID_POINTS)
        try:
            ref = solve_reference(p.compiled.spec, grid)
        except ReferenceSolverError:  # each run fails likewise, and says so in its record
            ref = np.full((grid.size, p.compiled.spec.n), np.nan)
        decision = None if p.decision is None else study_decision.nominal(p.compiled.spec, p.decision)
        infos.append(StudyPoint(i, p.values, p.compiled, p.tolerance, p.distribution, p.pass_threshold, grid, ref,
                                cert.as_dict() if cert is not None else dict(UNCERTIFIED), decision,
                                p.threshold is not None))
        members += [Member(i, k, int(seed), p.compiled, p.tolerance, p.distribution, p.pass_threshold, backend,
                           timeout, grid, decision, p.threshold is not None)
                    for k in _runs_of(p, runs) if (i, k) not in done]
    records = dict(done)
    journal = _Journal(output, fp, done) if journal_of(output) is not None else None
    executed = []
    try:
        for _, rec in run_jobs(run_member, members, jobs=jobs, scheduler=scheduler):
            key = (rec["point"], rec["run"])
            records[key] = rec
            executed.append(key)
            if journal is not None:
                journal.append(rec)
            if progress is not None:
                progress(len(records), members_total, rec)
    except SimulationError as exc:  # the pool's or cluster's (a run's own failures are in its record)
        if journal is None:
            raise
        raise SimulationError(f"{exc}; the {len(records)} finished run(s) are kept in {journal.path}: run "
                              "again with --resume (resume=True) to continue") from None
    finally:
        if journal is not None:
            journal.close()
    how = workers_for(max(len(members), 1), jobs, scheduler)
    how = {"serial": "serial", "pool": f"process pool of {min(jobs, len(members))}",
           "dask": f"dask {scheduler}"}[how]
    result = StudyResult(kind, tuple(infos), tuple(records[key] for key in sorted(records)), int(seed), fp,
                         tuple(executed), len(done), how, _time.perf_counter() - start, float(pass_fraction),
                         timeout)
    if output is not None:
        write_atomic(output, json_text(result.report()), field="output")
        if journal is not None:
            journal_path(output).unlink(missing_ok=True)
    return result


def _runs_of(point: Point, runs: list[int]) -> list[int]:
    """The runs of ``point``: a point without tolerance runs once (all its runs would be the same)."""
    return list(runs) if point.tolerance > 0 else list(runs)[:1]


def check_runs(runs, name: str = "runs") -> int:
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or not 1 <= runs <= MAX_MEMBERS:
        raise UsageError(f"{name} must be a whole number 1 .. {MAX_MEMBERS} (got {runs!r})")
    return int(runs)


def check_threshold(threshold, name: str = "threshold") -> float | None:
    if threshold is None:
        return None
    if not is_real(threshold) or not (threshold > 0 and math.isfinite(threshold)):
        raise UsageError(f"{name} must be a positive relative error (got {threshold!r})")
    return float(threshold)
