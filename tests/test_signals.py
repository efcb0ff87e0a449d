"""Signals (issue 19): SIGTERM to a running command behaves like Ctrl-C -- ngspice children
killed, temporary directories removed, a process pool's workers gone promptly, exit 143 --
and after SIGKILL of the command (no chance to clean up) no ngspice child or pool worker
keeps running (parent-death signal).

Each case runs ``python -m rnn2spice`` on a network that simulates for minutes (a relu network
under a 10 kHz sine, budgets raised), with TMPDIR pointing at a directory of the test, waits
until the work is under way (an ngspice child, or the pool's workers), signals it and
watches its process tree through /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from test_budgets import relu_sine

ROOT = Path(__file__).resolve().parents[1]
#: Runs of a few seconds each whose nominal reference is quick (linear: exact, no ODE solver).
POOL_SPEC = relu_sine(t_stop=0.3, activation="linear")
pytestmark = [pytest.mark.ngspice,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")]


def _ppid_and_name(pid: int) -> tuple[int, str, str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1: text.rindex(")")]
    state, ppid = text[text.rindex(")") + 2:].split()[:2]
    return int(ppid), name, state


def descendants(root: int) -> dict[int, str]:
    """pid -> command name of every live process below ``root``."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _ppid_and_name(int(entry))) is not None and info[2] != "Z":
            table[int(entry)] = info
    out, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, name, _) in table.items():
            if ppid == parent and pid not in out:
                out[pid] = name
                frontier.append(pid)
    return out


def alive(pid: int) -> bool:
    info = _ppid_and_name(pid)
    return info is not None and info[2] != "Z"


def start(tmp_path: Path, *args: str, spec: dict | None = None) -> tuple[subprocess.Popen, Path]:
    work = tmp_path / "work"
    tmpdir = tmp_path / "tmp"
    work.mkdir()
    tmpdir.mkdir()
    (work / "spec.yaml").write_text(yaml.safe_dump(spec or relu_sine()))
    env = dict(os.environ, TMPDIR=str(tmpdir), RNN2SPICE_MAX_POINTS="1e9", RNN2SPICE_MAX_SECONDS="1e6",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "rnn2spice", *args, str(work / "spec.yaml"), "--quiet"],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, tmpdir


def wait_for(condition, seconds: float, what: str):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"no {what} within {seconds} s")


def ngspice_children(pid: int) -> dict[int, str]:
    return {p: n for p, n in descendants(pid).items() if n.startswith("ngspice")}


def worker_ngspice(pid: int) -> dict[int, str]:
    """ngspice processes started by a pool worker (not by the command itself: its certificate)."""
    return {p: n for p, n in ngspice_children(pid).items() if (_ppid_and_name(p) or (pid,))[0] != pid}


@pytest.mark.parametrize("raised,code,said", [("Terminated", 143, "terminated (SIGTERM)"),
                                              ("KeyboardInterrupt", 130, "interrupted")])
def test_a_study_command_exits_as_main_does_on_each_signal(capsys, raised, code, said):
    """The study commands catch the interrupt to say where their finished runs are; the exit
    code and the words stay main()'s: 143 for SIGTERM, 130 for SIGINT."""
    import argparse

    from rnn2spice.cli import common
    from rnn2spice.cli.montecarlo import run_study_command

    def work(progress):
        raise getattr(common, raised, None) or KeyboardInterrupt()

    for output in (None, "res.json"):
        args = argparse.Namespace(quiet=True, output=output, plot=None)
        assert run_study_command(args, work) == code
        line, = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"rnn2spice: {said}")
        assert ("res.json.runs.jsonl" in line) == (output is not None)


def test_sigterm_during_a_batch_run_kills_ngspice_and_removes_its_directory(tmp_path):
    proc, tmpdir = start(tmp_path, "simulate", "--backend", "subprocess", "-o", "-")
    try:
        children = wait_for(lambda: ngspice_children(proc.pid), 30, "ngspice child")
        wait_for(lambda: list(tmpdir.glob("rnn2spice-ngspice-*/circuit.raw")), 10, "raw file")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert err.decode().strip().splitlines() == ["rnn2spice: terminated (SIGTERM)"]
    assert out == b""
    assert not any(alive(pid) for pid in children)
    assert list(tmpdir.iterdir()) == []


def test_sigterm_during_a_shared_library_run_ends_it_promptly(tmp_path):
    proc, tmpdir = start(tmp_path, "simulate", "--backend", "shared", "-o", "out.csv")
    try:
        # under way: libngspice loaded in the process (after its start-up check in a child), then a second
        wait_for(lambda: proc.poll() is None and _maps_ngspice(proc.pid), 30, "libngspice in the process")
        time.sleep(1.0)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        seconds = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert seconds < 10
    assert not (tmp_path / "work" / "out.csv").exists()
    assert [p.name for p in tmpdir.iterdir()] == []


def _maps_ngspice(pid: int) -> bool:
    try:
        return "libngspice" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.slow  # ~20 s on a loaded machine: start-up, certificate and nominal reference before the pool
@pytest.mark.parametrize("signum,code,said", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                              (signal.SIGINT, 130, "interrupted")], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_a_pool_ends_every_worker(tmp_path, signum, code, said):
    """SIGTERM exits 143 and SIGINT 130, from montecarlo --jobs 2 as from every command (it
    exited 130 for both: the study's own handler, which also says where the finished runs are,
    did not tell them apart)."""
    spec = POOL_SPEC
    proc, tmpdir = start(tmp_path, "montecarlo", "--runs", "40", "--jobs", "2", "--backend", "subprocess",
                         "-o", "mc.json", spec=spec)
    try:
        wait_for(lambda: worker_ngspice(proc.pid), 60, "ngspice child of a worker")
        tree = descendants(proc.pid)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1, err.decode()  # one line: no worker's traceback, no resource-tracker warning
    line = lines[0]
    assert line.startswith(f"rnn2spice: {said}; finished runs are kept in mc.json.runs.jsonl"), line
    survivors = wait_for(lambda: not any(alive(pid) for pid in tree) or None, 5, "end of every worker")
    assert survivors
    assert list(tmpdir.glob("rnn2spice-ngspice-*")) == []


@pytest.mark.parametrize("command", [
    ["simulate", "--backend", "subprocess", "-o", "out.csv"],
    pytest.param(["montecarlo", "--runs", "40", "--jobs", "2", "--backend", "subprocess"], marks=pytest.mark.slow),
    pytest.param(["montecarlo", "--runs", "40", "--jobs", "2", "--backend", "shared"], marks=pytest.mark.slow),
], ids=["simulate", "montecarlo-batch", "montecarlo-shared"])
def test_after_sigkill_no_ngspice_or_worker_keeps_running(tmp_path, command):
    spec = POOL_SPEC if command[0] == "montecarlo" else None
    proc, tmpdir = start(tmp_path, *command, spec=spec)
    try:
        if "shared" in command:  # ngspice runs inside the workers: wait until one has loaded it
            wait_for(lambda: any(_maps_ngspice(p) for p in descendants(proc.pid)), 60, "a worker running libngspice")
            time.sleep(0.5)
        elif command[0] == "montecarlo":
            wait_for(lambda: worker_ngspice(proc.pid), 60, "ngspice child of a worker")
        else:  # the simulation's ngspice (not a short version probe or certificate run): its raw file grows
            wait_for(lambda: list(tmpdir.glob("rnn2spice-ngspice-*/circuit.raw")), 60, "the simulation's raw file")
            wait_for(lambda: ngspice_children(proc.pid), 10, "ngspice child")
        tree = descendants(proc.pid)
        proc.kill()
        proc.wait()
    finally:
        proc.kill()
    assert tree
    wait_for(lambda: not any(alive(pid) for pid in tree) or None, 5,
             f"end of {sorted(tree.values())} after SIGKILL of their command")
