"""The process pool stops at once when its consumer stops (an error, Ctrl-C, an early exit)."""

from __future__ import annotations

import os
import time

from rnn2spice.workflows.pool import run_jobs


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
