"""Temporary folders a killed run leaves behind are removed by the next run (issue 19):
``rnn2spice-*`` and ``pymp-*`` folders marked with an owner process that is dead go, and
nothing else -- not a folder without our marker, not one whose owner lives (also under
another pid of the same number: pid reuse), not a symbolic link, not a half-written marker,
not a marker from another pid namespace -- and two sweeps at once remove each folder once.

The end-to-end case SIGKILLs a real ``montecarlo --jobs 2`` (its ngspice folders and the
pool's ``pymp-*``) and runs the next command with the same TMPDIR.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import env_with
from rnn2spice.spice import scratch
from rnn2spice.spice.scratch import MARKER, mark, owner_alive, scratch_dir, sweep

ROOT = Path(__file__).resolve().parents[1]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def folder(base: Path, name: str, *, pid: int | None = None, files: int = 2) -> Path:
    path = base / name
    path.mkdir()
    for k in range(files):
        (path / f"f{k}.raw").write_bytes(b"x" * 100)
    (path / "sub").mkdir()
    (path / "sub" / "deep.txt").write_text("deep")
    if pid is not None:
        mark(path, pid=pid)
    return path


def test_a_scratch_folder_is_marked_with_this_process_and_removed_after_use(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch.tempfile, "tempdir", str(tmp_path))
    with scratch_dir("rnn2spice-ngspice-") as made:
        line = (Path(made) / MARKER).read_text()
        assert line.split()[:2] == ["rnn2spice", str(os.getpid())]
        assert owner_alive(line) is True
        assert sweep(tmp_path) == []  # its owner lives
        assert Path(made).is_dir()
    assert list(tmp_path.iterdir()) == []


def test_only_dead_owners_folders_of_ours_go(tmp_path):
    dead = dead_pid()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [folder(tmp_path, "rnn2spice-ngspice-aaaa", pid=dead), folder(tmp_path, "pymp-bbbb", pid=dead),
                 folder(tmp_path, "rnn2spice-inspect-cccc", pid=dead, files=0)]
        kept = [folder(tmp_path, "pymp-foreign"),                               # no marker: someone else's
                folder(tmp_path, "rnn2spice-ngspice-nomark"),                   # ours before its marker
                folder(tmp_path, "rnn2spice-ngspice-live", pid=child.pid),       # owner alive
                folder(tmp_path, "rnn2spice-ngspice-me", pid=os.getpid()),
                folder(tmp_path, "other-dead", pid=dead)]                        # not a name of ours
        boot, host = scratch._boot_id(), scratch._host()
        for name, text in [("rnn2spice-ngspice-garbage", "hello\n"),
                           ("rnn2spice-ngspice-half", f"rnn2spice {dead} 1 "),  # no newline: half written
                           ("rnn2spice-ngspice-ns",  # another pid namespace
                            f"rnn2spice {dead} 1 pid:[1] {boot} {host}\n")]:
            kept.append(folder(tmp_path, name))
            (kept[-1] / MARKER).write_text(text)
        reused = folder(tmp_path, "rnn2spice-ngspice-reused")   # the pid lives, but another process has it
        line = (scratch._owner_line(child.pid)).split()
        (reused / MARKER).write_text(f"rnn2spice {child.pid} {int(line[2]) + 1} {line[3]} {line[4]} {host}\n")
        stale.append(reused)
        rebooted = folder(tmp_path, "rnn2spice-ngspice-rebooted")  # the owner's pid lives, in this boot
        (rebooted / MARKER).write_text(f"rnn2spice {os.getpid()} {line[2]} {line[3]} another-boot {host}\n")
        stale.append(rebooted)
        elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
        elsewhere.mkdir()
        target = folder(elsewhere, "x", pid=dead)  # stale, but reached only through a link
        link = tmp_path / "rnn2spice-ngspice-link"
        link.symlink_to(target)
        removed = sweep(tmp_path)
    finally:
        child.kill()
        child.wait()
    assert sorted(removed) == sorted(p.name for p in stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in kept] + [link.name])
    assert all((p / "sub" / "deep.txt").exists() for p in kept)
    assert (target / "f0.raw").exists()  # a link is not followed


def test_a_sweep_killed_half_way_is_finished_by_the_next(tmp_path):
    dead = dead_pid()
    claimed = tmp_path / "rnn2spice-stale-zzzz"
    claimed.mkdir()
    mark(claimed, pid=dead)
    folder(claimed, "folder", pid=dead)
    assert sweep(tmp_path) == ["rnn2spice-stale-zzzz"]
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(["stale", "live", "foreign"]), min_size=1, max_size=12),
       sweepers=st.integers(2, 4))
def test_sweeps_at_once_remove_each_stale_folder_once_and_nothing_else(tmp_path_factory, kinds, sweepers):
    base = tmp_path_factory.mktemp("race")
    dead = dead_pid()
    names = {}
    for k, kind in enumerate(kinds):
        name = f"{'pymp' if k % 2 else 'rnn2spice-ngspice'}-{kind}{k}"
        folder(base, name, pid={"stale": dead, "live": os.getpid(), "foreign": None}[kind], files=20)
        names[name] = kind
    results, barrier = [], threading.Barrier(sweepers)

    def run():
        barrier.wait()
        results.append(sweep(base))

    threads = [threading.Thread(target=run) for _ in range(sweepers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    removed = [name for result in results for name in result]
    assert sorted(removed) == sorted(n for n, kind in names.items() if kind == "stale")  # each once
    assert sorted(p.name for p in base.iterdir()) == sorted(n for n, kind in names.items() if kind != "stale")


POOL = "import time; from rnn2spice.workflows.pool import run_jobs; list(run_jobs(time.sleep, [60, 60], jobs=2))"


@pytest.mark.ngspice
@pytest.mark.slow  # 17-25 s on the shared machine: two commands' start-up, a pool's workers, a simulation
def test_after_sigkill_the_next_run_removes_the_folders_left(tmp_path):
    """A simulation SIGKILLed while ngspice writes its raw file, and a process pool of two
    workers SIGKILLed: the ngspice folder and the pool's pymp-* stay (nothing can remove
    them then); the next command, with the same TMPDIR, removes them and nothing else."""
    from test_signals import descendants, start, wait_for

    proc, tmpdir = start(tmp_path, "simulate", "--backend", "subprocess", "-o", "out.csv")
    pool = subprocess.Popen([sys.executable, "-c", POOL], env=env_with(TMPDIR=tmpdir), cwd=tmp_path)
    try:
        wait_for(lambda: list(tmpdir.glob("rnn2spice-ngspice-*/circuit.raw")), 60, "the simulation's raw file")
        wait_for(lambda: len(descendants(pool.pid)) >= 3, 60, "the pool's forkserver and workers")
        proc.kill()
        pool.kill()
        proc.wait()
        pool.wait()
    finally:
        proc.kill()
        pool.kill()
    left = sorted(p.name for p in tmpdir.iterdir())
    assert any(n.startswith("pymp-") for n in left) and any(n.startswith("rnn2spice-ngspice-") for n in left), left
    assert all((tmpdir / n / MARKER).exists() for n in left), left
    foreign = tmpdir / "pymp-someone-else"
    foreign.mkdir()
    time.sleep(0.5)  # the workers (parent-death signal) and ngspice end
    done = subprocess.run([sys.executable, "-m", "rnn2spice", "simulate", str(ROOT / "netlists" / "damped-oscillator.yaml"),
                           "--backend", "subprocess", "-o", "-", "--quiet"], env=env_with(TMPDIR=tmpdir),
                          cwd=tmp_path, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmpdir.iterdir()] == [foreign.name]


def test_every_command_sweeps_even_one_that_runs_no_simulator(tmp_path):
    """compile runs no ngspice and makes no temporary folder; it is still the next run."""
    base = tmp_path / "tmp"
    base.mkdir()
    folder(base, "rnn2spice-ngspice-left", pid=dead_pid())
    foreign = folder(base, "pymp-foreign")
    done = subprocess.run([sys.executable, "-m", "rnn2spice", "compile", str(ROOT / "netlists" / "damped-oscillator.yaml"),
                           "-o", "-"], env=env_with(TMPDIR=base), cwd=tmp_path, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in base.iterdir()] == [foreign.name]


# -- found in review: folders of live runs that a sweep took for dead ones ------------------------

def without_proc(monkeypatch, tmp_path):
    """The module as on a system without /proc (macOS, the BSDs): every /proc path is missing."""
    real = scratch.Path
    gone = tmp_path / "no-proc"

    def path(p, *more):
        text = str(p)
        return real(gone, text[len("/proc/"):], *more) if text.startswith("/proc/") else real(p, *more)
    monkeypatch.setattr(scratch, "Path", path)
    monkeypatch.setattr(scratch, "_pid_namespace", lambda: "-")
    monkeypatch.setattr(scratch, "_boot_id", lambda: "-")


def test_without_proc_a_live_owners_folder_stays(tmp_path, monkeypatch):
    """Without /proc, "no /proc/<pid>/stat" had been read as "no such process": the folder of
    every live run (another command, a pool worker's ngspice) was removed by the next one."""
    base = tmp_path / "tmp"
    base.mkdir()
    without_proc(monkeypatch, tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = folder(base, "rnn2spice-ngspice-live", pid=child.pid)
        gone = folder(base, "rnn2spice-ngspice-dead", pid=dead_pid())
        assert (live / MARKER).read_text().split()[2:5] == ["-", "-", "-"]  # what such a system writes
        assert owner_alive((live / MARKER).read_text()) is True
        assert sweep(base) == [gone.name]  # kill(pid, 0) tells: the dead owner's goes
    finally:
        child.kill()
        child.wait()
    assert (live / "sub" / "deep.txt").exists()


def test_a_marker_written_on_another_machine_is_left_alone(tmp_path, monkeypatch):
    """A TMPDIR on a network file system shared by two machines: the other machine's live run
    has another boot id (and the same first pid namespace number, 4026531836, as every Linux
    machine); it had been judged "from an earlier boot" and removed."""
    with monkeypatch.context() as m:  # written there
        m.setattr(scratch, "_boot_id", lambda: "boot-of-the-other-machine")
        m.setattr(scratch, "_host", lambda: "the-other-machine", raising=False)
        theirs = folder(tmp_path, "rnn2spice-ngspice-theirs", pid=dead_pid())  # a pid dead here, alive there
    assert owner_alive((theirs / MARKER).read_text()) is None
    assert sweep(tmp_path) == []
    assert (theirs / "f0.raw").exists()


@pytest.mark.parametrize("pid, proc", [("\u00b2", True), ("99999999999999999999", False)])
def test_an_odd_marker_is_kept_and_fails_no_run(tmp_path, monkeypatch, pid, proc):
    """A marker of the right shape with a pid no process can have had raised out of the sweep,
    which every command runs first (so every command failed): int() of a superscript digit
    (ValueError), kill() of a pid beyond a C int where there is no /proc (OverflowError)."""
    if not proc:
        without_proc(monkeypatch, tmp_path)
    base = tmp_path / "tmp"
    base.mkdir()
    line = scratch._owner_line().split()
    odd = folder(base, "rnn2spice-ngspice-odd")
    (odd / MARKER).write_text(" ".join(["rnn2spice", pid, *line[2:]]) + "\n", encoding="utf-8")
    assert sweep(base) == []
    assert odd.is_dir()


FORK = """
import os, multiprocessing.util as util
from rnn2spice.workflows import pool
from rnn2spice.spice.scratch import MARKER, sweep
folder = util.get_temp_dir()                  # made by other code of this process first
pool._mark_pool_folder()                      # the parent's pool folder, marked with the parent
child = os.fork()
if child == 0:                                # a fork child running a pool of its own
    pool._mark_pool_folder()
    os._exit(0)
os.waitpid(child, 0)
print(open(os.path.join(folder, MARKER)).read().split()[1] == str(os.getpid()), sweep(), os.path.isdir(folder))
"""


def test_a_fork_child_does_not_take_its_parents_pool_folder(tmp_path):
    """A fork child inherits its parent's ``pymp-*`` folder; it had marked it with its own pid,
    so the first run after the child ended removed the live parent's folder (its forkserver's
    socket).  The parent's folder is marked with the parent even when other code made it."""
    done = subprocess.run([sys.executable, "-c", FORK], env=env_with(TMPDIR=tmp_path), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "[]", "True"]


def test_a_folder_put_at_the_name_between_the_look_and_the_rename_stays(tmp_path, monkeypatch):
    """The stale folder is gone (another sweep) and a folder that is not ours -- no marker --
    takes its name before this sweep's rename: it had been renamed and removed unseen."""
    stale = folder(tmp_path, "pymp-abcd", pid=dead_pid())
    real = scratch.tempfile.mkdtemp
    swapped = []

    def swap_then_mkdtemp(*args, **kwargs):  # called by the sweep between its look and its rename
        if not swapped:
            swapped.append(True)
            scratch.shutil.rmtree(stale)
            stale.mkdir()
            (stale / "precious.txt").write_text("someone else's")
        return real(*args, **kwargs)
    monkeypatch.setattr(scratch.tempfile, "mkdtemp", swap_then_mkdtemp)
    assert sweep(tmp_path) == []
    assert swapped and (stale / "precious.txt").read_text() == "someone else's"
    assert [p.name for p in tmp_path.iterdir()] == [stale.name]  # the claim folder is gone too
