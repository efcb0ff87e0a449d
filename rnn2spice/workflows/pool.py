"""Many independent runs on every core, or on a Dask cluster: :func:`run_jobs`.

Three ways to run the same list of jobs, giving the same results job by job:

* **serial** (``jobs=1``, or a single job): in this process, in order.
* **a process pool** (``jobs=N``, default: the cores this process may use,
  ``os.sched_getaffinity``): ngspice's shared library holds global state, so each worker is
  a process of its own with its own simulator, started by ``forkserver`` (``spawn`` where
  there is none): never a fork of a process that already holds a loaded libngspice.  Each
  worker limits numpy's BLAS to one thread (the work is parallel across processes).
* **Dask distributed** (``scheduler='tcp://host:8786'``, or ``'local'`` for a
  ``LocalCluster`` of :data:`LOCAL_WORKERS` processes with one thread each): every job is a
  task (``pure=False``); the workers need rnn2spice and ngspice installed.  Needs
  ``pip install 'rnn2spice[cluster]'`` (:class:`MissingDependencyError` otherwise).

A job is ``fn(item)`` with ``fn`` a module-level function (pickled by reference) and
``item`` picklable; it returns a picklable value.  Results are yielded as ``(index, value)``
in the order they complete; an exception a job raises is raised here (the pool is shut down
and pending jobs are cancelled); a worker that died raises :class:`SimulationError` (exit 3).
Catching the failures that belong to a run (ngspice's) is the job's business.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
from concurrent.futures.process import BrokenProcessPool
import multiprocessing
import multiprocessing.connection
import os
import queue
import signal
import sys
import threading
import warnings
from typing import Callable, Iterator, Sequence

from rnn2spice.errors import MissingDependencyError, SimulationError, UsageError, clip
from rnn2spice.network.numbers import is_whole
from rnn2spice.spice.batch import die_with_parent
from rnn2spice.spice.scratch import mark, sweep_once

#: Workers of ``scheduler='local'`` (processes, one thread each).
LOCAL_WORKERS = 2
#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = 30
CLUSTER_EXTRA = "pip install 'rnn2spice[cluster]'   (or: pip install 'dask[distributed]')"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_jobs(jobs, name: str = "jobs") -> int:
    """``jobs`` as a worker count: None means :func:`available_cores`."""
    if jobs is None:
        return available_cores()
    if not is_whole(jobs) or jobs < 1:
        raise UsageError(f"{name} must be a whole number of worker processes, at least 1 (got {jobs!r})")
    return jobs


def check_scheduler(scheduler, name: str = "scheduler") -> str | None:
    """None (no cluster), ``'local'`` or a Dask scheduler address (``tcp://host:8786``)."""
    if scheduler is None:
        return None
    if not isinstance(scheduler, str) or not scheduler.strip() or any(c.isspace() for c in scheduler.strip()):
        raise UsageError(f"{name} must be a Dask scheduler address such as tcp://host:8786, or 'local' "
                         f"(got {scheduler!r})")
    _distributed(scheduler.strip())  # missing Dask: said before any work
    return scheduler.strip()


def _distributed(scheduler: str):
    """The ``dask.distributed`` module, or MissingDependencyError with the pip line."""
    try:
        import dask.distributed
    except ImportError as exc:
        raise MissingDependencyError(f"--scheduler {scheduler!r} needs Dask distributed, which is not installed "
                                     f"({clip(exc)}): {CLUSTER_EXTRA}") from None
    return dask.distributed


def workers_for(count: int, jobs: int | None, scheduler: str | None) -> str:
    """How :func:`run_jobs` runs ``count`` jobs: ``'serial'``, ``'pool'`` or ``'dask'``."""
    if scheduler is not None:
        return "dask"
    return "serial" if min(check_jobs(jobs), count) <= 1 else "pool"


def run_jobs(fn: Callable, items: Sequence, *, jobs: int | None = None,
             scheduler: str | None = None) -> Iterator[tuple[int, object]]:
    """``(index, fn(items[index]))`` for every item, as they complete (module docstring)."""
    items = list(items)
    jobs = check_jobs(jobs)
    scheduler = check_scheduler(scheduler)
    if not items:
        return
    how = workers_for(len(items), jobs, scheduler)
    if how == "serial":
        for i, item in enumerate(items):
            yield i, fn(item)
    elif how == "pool":
        yield from _run_pool(fn, items, min(jobs, len(items)))
    else:
        yield from _run_dask(fn, items, scheduler)


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _mark_pool_folder() -> None:
    """Mark the ``pymp-*`` folder multiprocessing keeps for this process (the forkserver's
    socket lives there) as ours, so that a run after a SIGKILL of this one removes it
    (:mod:`rnn2spice.spice.scratch`); stale folders of dead runs go first."""
    import multiprocessing.util

    sweep_once()
    with contextlib.suppress(OSError):
        folder = multiprocessing.util.get_temp_dir()
        if _made_by_this_process(folder):
            mark(folder)


def _made_by_this_process(folder: str) -> bool:
    """Whether multiprocessing made ``folder`` in this process: the finalizer that removes it
    at exit records the pid that registered it.  A fork child (os.fork, a fork-started Pool of
    the user's) inherits its parent's folder, and multiprocessing itself leaves it to the
    parent; marked with the child's pid, the parent's live folder would be removed by the first
    run after the child ended.  Read from the private ``_finalizer_registry`` (as ``_stop``
    reads the executor's ``_processes``); where that is gone: unknown, so not marked (kept)."""
    import multiprocessing.util

    registry = getattr(multiprocessing.util, "_finalizer_registry", None)
    remove = getattr(multiprocessing.util, "_remove_temp_dir", None)
    for finalizer in list((registry or {}).values()):
        if getattr(finalizer, "_callback", None) is remove and folder in (getattr(finalizer, "_args", None) or ()):
            return getattr(finalizer, "_pid", None) == os.getpid()
    return False


def _init_worker() -> None:
    """A pool worker: numpy's BLAS on one thread (the parallelism is the processes'),
    SIGTERM (:func:`_stop`) unwinding the job so that its ngspice child is killed and its
    temporary files removed (``subprocess.run`` and ``with`` blocks do that on any exception),
    and a parent-death signal (:func:`~rnn2spice.spice.batch.die_with_parent`)."""
    # The command SIGKILLed (no chance to stop the pool): the worker ends at once, instead of
    # finishing the job it holds, and with it the ngspice it runs (in its memory, or as a child
    # with a parent-death signal).  A forkserver worker's parent is the forkserver, which
    # itself waits for the workers (they hold its "alive" pipe): so the worker watches the
    # command's own sentinel, a pipe that reaches EOF when the command is gone.
    die_with_parent()
    parent = multiprocessing.parent_process()
    if parent is not None and parent.sentinel is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True,
                         name="rnn2spice-parent-watch").start()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except Exception:  # noqa: BLE001 -- a missing or odd BLAS only costs speed
        pass
    # Last: a SIGTERM that arrives during the set-up above ends the worker silently (the
    # default action); raised inside an initializer it would be logged by the executor as
    # "Exception in initializer" with a traceback on the command's stderr.
    signal.signal(signal.SIGTERM, _terminated)


def _exit_with(sentinel) -> None:
    """Wait until the command's sentinel says it is gone, then end this worker now."""
    # A SIGTERM from the pool's _stop must reach the main thread, which runs the job and
    # unwinds it (killing its ngspice); delivered to this thread it would wait for the job.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    multiprocessing.connection.wait([sentinel])
    os._exit(128 + signal.SIGKILL)


_TERMINATED = False


def _terminated(signum, frame) -> None:
    global _TERMINATED
    _TERMINATED = True
    raise SystemExit(128 + signum)


def _job(fn: Callable, item):
    """``fn(item)`` in a worker; once SIGTERM has unwound it, the worker ends instead of
    reporting back and taking the next queued job (the executor catches every exception)."""
    try:
        return _with_warnings(fn, item)
    finally:
        if _TERMINATED:
            os._exit(128 + signal.SIGTERM)


def _with_warnings(fn: Callable, item):
    """``(fn(item), warnings it raised)`` in a worker process, for :func:`_replay` in the caller.

    A worker's warnings would otherwise be printed by the worker itself, in Python's two-line
    format and under its own filters, into the command's stderr (and lost with a Dask
    worker's log); replayed, they reach the caller's filters and the command line's one-line
    notes exactly as in a serial run."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the caller's filters decide, at the replay
        value = fn(item)
    return value, [(str(w.message), w.category) for w in caught]


def _replay(result):
    value, said = result
    for message, category in said:
        warnings.warn(message, category, stacklevel=3)
    return value


@contextlib.contextmanager
def _without_main(fn: Callable):
    """Start workers that do not run the caller's ``__main__`` again.

    A ``forkserver`` or ``spawn`` worker normally re-imports the main script so that it can
    find functions defined there; a plain script that calls ``montecarlo`` at top level (no
    ``if __name__ == "__main__":``) would then start the study again inside every worker
    and die ("an attempt has been made to start a new process before ..."). The jobs here
    are functions of rnn2spice itself, so while the workers start, ``__main__`` is hidden
    from multiprocessing (its ``__file__`` and ``__spec__``, from which the preparation data
    name it) -- unless the job itself lives in ``__main__`` and needs it."""
    main = sys.modules.get("__main__")
    if main is None or getattr(fn, "__module__", None) == "__main__":
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    try:
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _run_pool(fn, items, workers: int):
    context = _context()
    _mark_pool_folder()
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload([])  # the server itself need not import __main__ either
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker)
    clean = False
    try:
        with _without_main(fn):  # workers start during submit (and the forkserver with the first)
            futures = {pool.submit(_job, fn, item): i for i, item in enumerate(items)}
        for future in _completed(futures):
            try:
                value = _replay(future.result())
            except BrokenProcessPool as exc:
                raise SimulationError(f"a worker process died (killed, or out of memory) while running job "
                                      f"{futures[future]} of {len(items)}: {clip(exc)}") from None
            yield futures[future], value
        clean = True
    finally:
        if clean:
            pool.shutdown(wait=True)
        else:
            _stop(pool)


#: Seconds between the main thread's looks at pending signals while it waits for a job.
SIGNAL_POLL = 0.25


def _completed(futures) -> Iterator[cf.Future]:
    """``futures`` as they complete, waiting in short timed slices.

    Python runs signal handlers in the main thread only.  A Ctrl-C or SIGTERM that the kernel
    hands to another thread of the process (the executor's manager or queue-feeder thread) is
    merely noted, and a main thread blocked without a timeout in ``as_completed`` would act
    on it only at the next job's end, seconds or minutes later.  A timed wait returns to
    the interpreter often enough to run the handler at once.

    Each future reports itself once, when it completes, into a queue (``add_done_callback``):
    a timed ``concurrent.futures.wait`` over the pending set instead looks at every pending
    future after every completion and every slice, quadratic in the jobs (8000 quick jobs:
    55 s of waiting, 21 s of CPU, where this takes 3 s like ``as_completed``)."""
    done: queue.SimpleQueue = queue.SimpleQueue()
    for future in futures:
        future.add_done_callback(done.put)
    for _ in range(len(futures)):
        while True:
            try:
                future = done.get(timeout=SIGNAL_POLL)
            except queue.Empty:
                continue
            yield future
            break


def _stop(pool: cf.ProcessPoolExecutor) -> None:
    """On an error, an interrupt or a consumer that stopped early: drop the queued jobs and
    end the running ones now.  Cancelling alone leaves each worker finishing the job it holds
    and the jobs already queued to it, and the interpreter waits for them at exit (measured:
    Ctrl-C of a Monte Carlo study returned only ~40 s later).  ``_processes`` is the
    executor's own table of workers (Python 3.14 adds ``terminate_workers`` for this)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        try:
            process.terminate()
        except Exception:  # noqa: BLE001 -- already gone
            pass


def dask_client(scheduler: str):
    """A ``dask.distributed.Client`` for ``scheduler`` (``'local'``: a new LocalCluster)."""
    distributed = _distributed(scheduler)
    try:
        if scheduler == "local":
            cluster = distributed.LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            return distributed.Client(cluster)
        return distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SimulationError(f"cannot reach the Dask scheduler {scheduler!r} within {CONNECT_TIMEOUT} s: "
                              f"{clip(exc)}") from None


def _run_dask(fn, items, scheduler: str):
    as_completed = _distributed(scheduler).as_completed
    client = dask_client(scheduler)
    futures = []
    try:
        futures = [client.submit(_with_warnings, fn, item, pure=False) for item in items]
        index = {f.key: i for i, f in enumerate(futures)}
        for future in as_completed(futures):
            yield index[future.key], _replay(future.result())
    finally:
        for f in futures:
            f.cancel()
        cluster = client.cluster if scheduler == "local" else None
        client.close()
        if cluster is not None:
            cluster.close()
