"""Simulator failures: each becomes SimulationError (exit code 3) carrying ngspice's own
message and the netlist path, and no waveform or report file is half-written.

Covered: no convergence ("timestep too small"), a singular matrix, a missing libngspice,
a missing ngspice binary, a killed or crashing ngspice, an ngspice that never returns
(--timeout), Ctrl-C during an in-process run, ngspice calling exit() in the shared library,
a reference solver that fails, and a disk that fills up while writing.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import earlier_output, env_with
from rnn2spice.cli.app import main
from rnn2spice.cli.common import exit_code
from rnn2spice.errors import ReferenceSolverError, SimulationError
from rnn2spice.spice.ngspice import simulate_netlist

ROOT = Path(__file__).resolve().parents[1]
OLD = b"existing output, must survive a failed run\n"
REAL_NGSPICE = shutil.which("ngspice")

RC_NETLIST = "rc decay\nR_0 h0 0 1000000\nC_0 h0 0 1e-9 IC=1\n.tran 1e-5 5e-3 0 1e-6 uic\n.end\n"
# v' = +1e5 v: overflows within the run, ngspice gives up ("timestep too small")
DIVERGING_NETLIST = ("diverging\nR_0 h0 0 1000000\nC_0 h0 0 1e-9 IC=1\nG_0_0 0 h0 h0 0 1e-4\n"
                     ".tran 1e-5 1e-2 0 1e-6 uic\n.end\n")
SINGULAR_NETLIST = "parallel sources\nV_1 a 0 1\nV_2 a 0 2\nR_1 a 0 1\n.tran 1e-5 5e-3 0 1e-6 uic\n.end\n"
ENDLESS_NETLIST = "endless\nR_0 h0 0 1000000\nC_0 h0 0 1e-9 IC=1\n.tran 1e-9 10 0 1e-9 uic\n.end\n"

SPEC = "name: small\ntau: 1.0e-3\nw: [[0, 1000], [-1000, 0]]\nh0: [1, 0]\nt_stop: 5.0e-3\n"
DIVERGING_SPEC = "name: diverges\ntau: 1.0e-3\nw: [[1.0e5, 0], [0, 0]]\nh0: [1, 1]\nt_stop: 1.0e-2\n"
# 9e5 steps of 0.1 us: seconds of ngspice time, under the compiler's cap of 1e6 steps
LONG_SPEC = "name: long\ntau: 1.0e-3\nw: [[0]]\nh0: [1]\nt_stop: 0.09\nt_step: 1.0e-7\n"


def run_cli(args, cwd, timeout=120, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnn2spice", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env_with(**env))


def files_in(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def work(tmp_path):
    """spec files and existing outputs (known content) in tmp_path."""
    for name, text in (("spec.yaml", SPEC), ("diverges.yaml", DIVERGING_SPEC), ("long.yaml", LONG_SPEC)):
        (tmp_path / name).write_text(text)
    for name in ("out.csv", "report.json", "plot.png"):  # an earlier figure is a PNG
        (tmp_path / name).write_bytes(earlier_output(name, OLD))  # an earlier output of its kind
    return tmp_path


def assert_one_message(err: str, *fragments: str) -> None:
    assert err.startswith("rnn2spice: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def fake_ngspice(tmp_path: Path, body: str) -> Path:
    """An executable ``ngspice`` in tmp_path/bin: ``-v`` is the real one's, ``-b`` runs ``body``
    (bash, with the real binary as $REAL)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    path = bindir / "ngspice"
    path.write_text(f"#!/bin/bash\nREAL={REAL_NGSPICE}\nif [ \"$1\" = \"-v\" ]; then exec \"$REAL\" -v; fi\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# --------------------------------------------------------------------------- ngspice's own failures


@pytest.mark.ngspice
@pytest.mark.parametrize("backend", ["shared", "subprocess"])
def test_non_convergence_carries_ngspice_message_and_path(backend, tmp_path):
    path = tmp_path / "diverging.cir"
    with pytest.raises(SimulationError) as info:
        simulate_netlist(DIVERGING_NETLIST, backend=backend, netlist_path=path)
    exc = info.value
    assert "ngspice did not converge" in str(exc)
    assert "Timestep too small" in exc.ngspice_message and "Timestep too small" in str(exc)
    assert exc.netlist_path == path and str(path) in str(exc)
    assert exit_code(exc) == 3


@pytest.mark.ngspice
@pytest.mark.parametrize("backend", ["shared", "subprocess"])
def test_singular_matrix_carries_ngspice_message(backend):
    with pytest.raises(SimulationError) as info:
        simulate_netlist(SINGULAR_NETLIST, backend=backend)
    exc = info.value
    assert "singular matrix" in exc.ngspice_message.lower()
    # without a path from the caller, the netlist is saved so that the message can name it
    assert exc.netlist_path is not None and Path(exc.netlist_path).read_text() == SINGULAR_NETLIST
    assert str(exc.netlist_path) in str(exc)


@pytest.mark.ngspice
@pytest.mark.parametrize("command", [["simulate", "diverges.yaml", "-o", "out.csv"],
                                     ["check", "diverges.yaml", "--report", "report.json", "--plot", "plot.png"]])
@pytest.mark.parametrize("backend", ["shared", "subprocess"])
def test_cli_non_convergence_exits_3_and_writes_nothing(command, backend, work):
    before = files_in(work)
    done = run_cli(command + ["--backend", backend], cwd=work)
    assert done.returncode == 3, done.stderr
    assert_one_message(done.stderr, "ngspice did not converge", "[netlist: ", ".cir]", "ngspice said:",
                       "Timestep too small")
    assert done.stdout == ""
    assert files_in(work) == before


# --------------------------------------------------------------------------- missing pieces


def private_tmp(root: Path) -> Path:
    """A temporary directory of the test's own (TMPDIR of the command): what a run leaves there
    is seen."""
    tmp = root.parent / f"{root.name}-private-tmp"  # beside the test's folder: not among its files
    tmp.mkdir(exist_ok=True)
    return tmp


@pytest.mark.ngspice
def test_missing_libngspice(work):
    before = files_in(work)
    tmp = private_tmp(work)
    bad = {"NGSPICE_LIBRARY_PATH": "/nonexistent/libngspice.so", "TMPDIR": tmp}
    done = run_cli(["simulate", "spec.yaml", "-o", "out.csv", "--backend", "shared"], cwd=work, **bad)
    assert done.returncode == 3, done.stderr
    assert_one_message(done.stderr, "cannot load the ngspice shared library", "/nonexistent/libngspice.so",
                       "libngspice0-dev")
    # ngspice never ran: no copy of the netlist is kept (it would reproduce nothing), none named
    assert "[netlist: " not in done.stderr and list(tmp.iterdir()) == []
    assert files_in(work) == before
    # auto falls back to the binary
    done = run_cli(["simulate", "spec.yaml", "-o", "out.csv"], cwd=work, **bad)
    assert done.returncode == 0, done.stderr
    assert "via subprocess" in done.stderr


@pytest.mark.ngspice
def test_missing_ngspice_binary(work, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    before = files_in(work)
    tmp = private_tmp(tmp_path)
    done = run_cli(["check", "spec.yaml", "--report", "report.json", "--backend", "subprocess"], cwd=work,
                   PATH=str(empty), TMPDIR=tmp)
    assert done.returncode == 3, done.stderr
    assert_one_message(done.stderr, "the ngspice program ('ngspice') is not on PATH", "apt-get install ngspice")
    assert "[netlist: " not in done.stderr and list(tmp.iterdir()) == []
    assert files_in(work) == before


@pytest.mark.ngspice
def test_no_backend_at_all(work, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    before = files_in(work)
    tmp = private_tmp(tmp_path)
    done = run_cli(["simulate", "spec.yaml", "-o", "out.csv"], cwd=work, PATH=str(empty),
                   NGSPICE_LIBRARY_PATH="/nonexistent/libngspice.so", TMPDIR=tmp)
    assert done.returncode == 3, done.stderr
    assert_one_message(done.stderr, "no ngspice backend can run here", "libngspice", "not on PATH")
    assert "[netlist: " not in done.stderr and list(tmp.iterdir()) == []
    assert files_in(work) == before


@pytest.mark.ngspice
@pytest.mark.parametrize("command", [
    ["check", "spec.yaml", "--report", "report.json"], ["simulate", "spec.yaml"], ["ac", "spec.yaml", "--fmin", "1",
                                                                                   "--fmax", "1e3"],
    ["montecarlo", "spec.yaml", "--runs", "2", "--jobs", "1", "-o", "mc.json"], ["bom", "spec.yaml", "--snap", "E24",
                                                                                 "--simulate"],
    ["task", "spec.yaml", "--stimulus", "pulse", "--steps", "20"]],
    ids=lambda c: c[0])
def test_without_ngspice_nothing_is_left_in_the_temporary_directory(work, tmp_path, command):
    """Every command that runs ngspice, with neither the program nor the library: one line,
    exit 3 (2 when the command refuses first), and nothing new in its private TMPDIR."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    tmp = private_tmp(tmp_path)
    done = run_cli(command, cwd=work, PATH=str(empty), NGSPICE_LIBRARY_PATH="/nonexistent/libngspice.so",
                   TMPDIR=tmp, RNN2SPICE_NGSPICE=None)
    assert done.returncode in (2, 3), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert list(tmp.iterdir()) == [], done.stderr


@pytest.mark.ngspice
def test_a_failed_run_keeps_only_the_copy_it_names(work, tmp_path):
    """ngspice ran the netlist and failed on it: the copy kept for `ngspice -b FILE` is named on
    the error's first line and is the only file left in the temporary directory."""
    tmp = private_tmp(tmp_path)
    done = run_cli(["simulate", "diverges.yaml", "--backend", "subprocess"], cwd=work, TMPDIR=tmp)
    assert done.returncode == 3, done.stderr
    left = list(tmp.iterdir())
    assert len(left) == 1 and left[0].name.startswith("rnn2spice-failed-") and left[0].suffix == ".cir", left
    assert f"[netlist: {left[0]}]" in done.stderr.splitlines()[0]
    assert "rnn2spice: diverges" in left[0].read_text()


# --------------------------------------------------------------------------- killed, crashing, never returning


@pytest.mark.ngspice
def test_killed_ngspice_process(tmp_path, monkeypatch):
    """The real ngspice, killed with SIGKILL in the middle of a run."""
    pidfile = tmp_path / "pid"
    wrapper = fake_ngspice(tmp_path, f'echo $$ > {pidfile}\nexec "$REAL" "$@"')
    monkeypatch.setenv("RNN2SPICE_NGSPICE", str(wrapper))
    monkeypatch.setenv("RNN2SPICE_MAX_POINTS", "1e12")  # the kill, not the points budget, ends the run

    def killer():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if pidfile.exists() and pidfile.read_text().strip():
                time.sleep(0.5)  # let ngspice start its run
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=killer)
    thread.start()
    start = time.monotonic()
    with pytest.raises(SimulationError) as info:
        simulate_netlist(ENDLESS_NETLIST, backend="subprocess", netlist_path=tmp_path / "endless.cir")
    thread.join()
    assert time.monotonic() - start < 30
    assert "ngspice was killed by SIGKILL" in str(info.value)
    assert str(tmp_path / "endless.cir") in str(info.value)


@pytest.mark.ngspice
@pytest.mark.parametrize("sig", ["SEGV", "ABRT"])
def test_crashing_ngspice_via_cli(sig, work, tmp_path):
    fake_ngspice(tmp_path, f"echo 'Error: simulated crash' >&2\nkill -{sig} $$")
    before = files_in(work)
    done = run_cli(["check", "spec.yaml", "--report", "report.json", "--backend", "subprocess"], cwd=work,
                   PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    assert done.returncode == 3, done.stderr
    assert_one_message(done.stderr, f"ngspice was killed by SIG{sig}", "Error: simulated crash", ".cir]")
    assert files_in(work) == before


@pytest.mark.ngspice
@pytest.mark.parametrize("backend", ["auto", "shared", "subprocess"])
def test_timeout_stops_a_run_that_would_take_minutes(backend, work):
    before = files_in(work)
    start = time.monotonic()
    # the points budget would stop this run too (projected beyond it): raised, so --timeout is what ends it
    done = run_cli(["simulate", "long.yaml", "-o", "out.csv", "--timeout", "1", "--backend", backend], cwd=work,
                   RNN2SPICE_MAX_POINTS="1e9")
    assert time.monotonic() - start < 30
    assert done.returncode == 3, done.stderr
    assert_one_message(done.stderr, "ngspice did not finish within 1 s", ".cir]")
    assert files_in(work) == before


@pytest.mark.ngspice
def test_timeout_stops_an_ngspice_that_never_returns(tmp_path, monkeypatch):
    """A binary that hangs (and ignores SIGTERM) is killed at the time limit."""
    wrapper = fake_ngspice(tmp_path, "trap '' TERM INT\nexec sleep 1000")
    monkeypatch.setenv("RNN2SPICE_NGSPICE", str(wrapper))
    start = time.monotonic()
    with pytest.raises(SimulationError, match="did not finish within 1 s") as info:
        simulate_netlist(RC_NETLIST, backend="subprocess", timeout=1)
    assert time.monotonic() - start < 10
    assert info.value.netlist_path is not None


@pytest.mark.ngspice
def test_auto_backend_with_a_time_limit_uses_a_killable_process():
    assert simulate_netlist(RC_NETLIST, timeout=30).backend == "subprocess"
    assert simulate_netlist(RC_NETLIST).backend == "shared"


@pytest.mark.ngspice
def test_ctrl_c_interrupts_an_in_process_run(work):
    """A foreground libngspice run swallows Ctrl-C (the KeyboardInterrupt dies in a cffi
    callback); rnn2spice runs it in ngspice's background thread and halts it instead."""
    before = files_in(work)
    proc = subprocess.Popen([sys.executable, "-m", "rnn2spice", "simulate", "long.yaml", "-o", "out.csv",
                             "--backend", "shared"], cwd=work, env=env_with(RNN2SPICE_MAX_POINTS="1e9"),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(4)  # start-up, compile, and well into the ngspice run
    assert proc.poll() is None
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - sent < 10
    assert proc.returncode == 130, err
    assert err.strip() == "rnn2spice: interrupted"
    assert files_in(work) == before


@pytest.mark.ngspice
def test_ngspice_exit_in_the_shared_library_does_not_end_python(tmp_path):
    """ngspice's 'quit' (or a fatal internal error) calls exit(): the library reports it, the
    engine is retired, the process lives on and 'auto' uses the binary from then on."""
    quitting = RC_NETLIST.replace(".end\n", ".control\nquit\n.endc\n.end\n")
    script = textwrap.dedent(f"""
        from rnn2spice.spice.ngspice import simulate_netlist, SimulationError
        try:
            simulate_netlist({quitting!r}, backend="shared")
        except SimulationError as exc:
            print("error:", str(exc).splitlines()[0])
        try:
            simulate_netlist({RC_NETLIST!r}, backend="shared")
        except SimulationError as exc:
            print("again:", str(exc).splitlines()[0])
        print("auto:", simulate_netlist({RC_NETLIST!r}).backend)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=env_with(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "error: the ngspice shared library exited" in done.stdout
    assert "again: the ngspice shared library exited" in done.stdout and "backend='subprocess'" in done.stdout
    assert "auto: subprocess" in done.stdout


# --------------------------------------------------------------------------- after ngspice


@pytest.mark.ngspice
@pytest.mark.parametrize("failure", ["raises", "overflows"])
def test_reference_failure_exits_3_and_writes_nothing(failure, work, monkeypatch, capsys):
    from rnn2spice.analysis import reference

    def broken(spec, t, **options):
        if failure == "raises":
            raise RuntimeError("reference ODE solver failed: Required step size is less than spacing between numbers.")
        return np.full((len(t), spec.n), np.inf)

    monkeypatch.setattr(reference, "solve", broken)
    before = files_in(work)
    code = main(["check", str(work / "spec.yaml"), "--report", str(work / "report.json"),
                 "--plot", str(work / "plot.png")])
    err = capsys.readouterr().err
    assert code == 3, err
    assert_one_message(err, "the exact reference of spec 'small'",
                       "Required step size" if failure == "raises" else "the reference solver failed")
    assert files_in(work) == before


def test_reference_error_is_exit_code_3():
    assert exit_code(ReferenceSolverError("x")) == 3 and issubclass(ReferenceSolverError, ArithmeticError)


@pytest.mark.ngspice
def test_disk_full_while_writing_leaves_the_old_file_and_no_temporary(work, monkeypatch, capsys):
    from rnn2spice.report import files as output

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "fsync", full)
    before = files_in(work)
    code = main(["simulate", str(work / "spec.yaml"), "-o", str(work / "out.csv")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert_one_message(err, "--output: cannot write", "out.csv", "No space left on device")
    assert files_in(work) == before
