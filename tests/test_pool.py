"""The process pool stops at once when its consumer stops (an error, Ctrl-C, an early exit)."""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
import warnings

from rnn2spice.spice.ngspice import SolverFallbackWarning
from rnn2spice.workflows.pool import _completed, run_jobs


def _sleepy(i: int) -> int:
    """Job 0 answers at once with its worker's pid; the others would take a minute."""
    if i:
        time.sleep(60)
    return os.getpid()


def _gone(pid: int, within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True  # ended, not yet reaped by its parent (the forkserver)
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_a_stopped_pool_ends_its_running_jobs_instead_of_finishing_them():
    # before: cancelling left each worker finishing its job and the ones queued to it, and
    # the interpreter waited for them at exit (Ctrl-C of a Monte Carlo study took ~40 s)
    jobs = run_jobs(_sleepy, range(6), jobs=2)
    index, pid = next(jobs)
    assert index == 0
    start = time.monotonic()
    jobs.close()  # what an exception or KeyboardInterrupt in the consumer does
    assert time.monotonic() - start < 20
    assert _gone(pid, within=20), "the pool's worker is still running a minute-long job"


def _warns(i: int) -> int:
    warnings.warn(f"job {i} fell back", SolverFallbackWarning, stacklevel=1)
    return os.getpid()


def test_a_workers_warnings_reach_the_caller_as_in_a_serial_run(capfd):
    """Each job's warning is raised again in the caller (its filters, the command line's
    one-line notes) -- not printed by the worker in Python's two-line format into the
    command's stderr, and not only once per worker."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pids = dict(run_jobs(_warns, range(4), jobs=2))
    assert os.getpid() not in pids.values()  # the jobs ran in workers
    said = sorted(str(w.message) for w in caught if w.category is SolverFallbackWarning)
    assert said == [f"job {i} fell back" for i in range(4)]
    assert "SolverFallbackWarning" not in capfd.readouterr().err


class _CountedFuture(cf.Future):
    """A Future that counts how often its state is looked at (the work of waiting on it)."""
    looks = 0

    @property
    def _state(self):
        _CountedFuture.looks += 1
        return self.__dict__["_counted_state"]

    @_state.setter
    def _state(self, value):
        self.__dict__["_counted_state"] = value


def test_waiting_for_jobs_costs_a_constant_per_job_not_one_per_pending_job():
    """Each completion had cost a look at every pending job (a timed concurrent.futures.wait
    over the pending set, again after every completion and every 0.25 s): quadratic in the
    runs, measured 55 s of waiting for 8000 quick jobs where as_completed took 3 s.  Counted
    here, without a clock: looks at the jobs' states per job."""
    n = 400
    futures = [_CountedFuture() for _ in range(n)]
    for f in futures:
        f.set_running_or_notify_cancel()
    _CountedFuture.looks = 0
    waiting = _completed({f: i for i, f in enumerate(futures)})
    futures[0].set_result(0)
    seen = []
    for f in waiting:  # each completion seen before the next job completes: the worst case
        seen.append(f)
        if len(seen) < n:
            futures[len(seen)].set_result(len(seen))
    assert seen == futures
    assert _CountedFuture.looks < 20 * n, _CountedFuture.looks
