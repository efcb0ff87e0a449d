"""Progress of long ngspice runs: the library callback and the command line's terminal bar."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys

import pytest

from conftest import ROOT, random_spec_dict
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.cli.progress import ProgressBar
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.spice.batch import _tran_stop
from rnn2spice.spice.ngspice import available_backends, simulate_netlist

# A random n = 40 tanh network at rtol 1e-6 runs a few seconds: several progress reports (ngspice
# reports about every 0.1 s in the library, every 0.25 s in batch).
MEDIUM = dict(n=40, seed=1, activation="tanh")
# n = 80 at rtol 1e-6 runs ~5-10 s (n = 60 took 4.5 s on a busy 2-core box): well over the bar's 2 s delay.
LONG = dict(n=80, seed=1, activation="tanh")


@pytest.mark.ngspice
@pytest.mark.parametrize("backend", ["shared", "subprocess"])
def test_callback_gets_monotone_fractions_ending_at_one(backend):
    if backend not in available_backends():
        pytest.fail(f"backend {backend!r} cannot run here")
    compiled = compile_rnn(spec_from_dict(random_spec_dict(**MEDIUM)), rtol=1e-6)
    seen: list[float] = []
    result = simulate_netlist(compiled.netlist, backend=backend, progress=seen.append)
    assert result.backend == backend
    assert seen[-1] == 1.0 and seen.count(1.0) == 1
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert all(a < b for a, b in zip(seen, seen[1:]))
    assert any(0.0 < f < 1.0 for f in seen), f"no report during the run: {seen}"


@pytest.mark.ngspice
def test_no_callback_keeps_results_identical():
    compiled = compile_rnn(spec_from_dict(random_spec_dict(n=3, seed=2)))
    for backend in available_backends():
        a = simulate_netlist(compiled.netlist, backend=backend)
        b = simulate_netlist(compiled.netlist, backend=backend, progress=lambda f: None)
        assert a.vectors.keys() == b.vectors.keys()
        assert all((a.vectors[k] == b.vectors[k]).all() for k in a.vectors)


def test_tran_stop_reads_spice_numbers():
    assert _tran_stop("* x\n.tran 1e-6 0.0080000000000000002 0 1e-6 uic\n.end\n") == 0.0080000000000000002
    assert _tran_stop(".TRAN 1u 8m\n") == pytest.approx(8e-3)
    assert _tran_stop(".ac dec 10 1 1e6\n") is None


class _Tty:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_bar_is_silent_off_a_terminal_and_when_quiet(monkeypatch):
    import io

    monkeypatch.setattr("rnn2spice.cli.progress.DELAY", 0.0)
    pipe = io.StringIO()
    bar = ProgressBar(pipe)
    for f in (0.1, 0.5, 1.0):
        bar(f)
    assert pipe.getvalue() == ""
    tty = _Tty()
    quiet = ProgressBar(tty, enabled=False)
    for f in (0.1, 0.5, 1.0):
        quiet(f)
    assert tty.text == ""
    loud = ProgressBar(tty)
    loud(0.1)
    loud(0.5)
    assert "\r" in tty.text and "50%" in tty.text
    loud(1.0)
    assert tty.text.endswith("\r") and tty.text.rstrip("\r ").endswith("s")  # line cleared at the end


def _write_spec(tmp_path, params) -> str:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(random_spec_dict(**params)))
    return str(path)


def _run_cli(args, stderr):
    return subprocess.run([sys.executable, "-m", "rnn2spice", *args], stdout=subprocess.PIPE, stderr=stderr,
                          stdin=subprocess.DEVNULL, cwd=ROOT, timeout=300)


@pytest.mark.ngspice
def test_cli_prints_no_bar_through_a_pipe(tmp_path):
    spec = _write_spec(tmp_path, MEDIUM)
    done = _run_cli(["simulate", spec, "--rtol", "1e-6", "-o", str(tmp_path / "w.csv")], subprocess.PIPE)
    assert done.returncode == 0, done.stderr
    err = done.stderr.decode()
    assert "\r" not in err and "ngspice [" not in err
    assert err.startswith("wrote ")


def _run_on_terminal(args) -> tuple[int, str]:
    """Run the command line with stderr on a pseudo-terminal: (exit code, what it wrote there)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "rnn2spice", *args], stdout=subprocess.PIPE,
                                stderr=slave, stdin=subprocess.DEVNULL, cwd=ROOT)
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        proc.communicate(timeout=300)
        return proc.returncode, b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


@pytest.mark.ngspice
def test_cli_shows_the_bar_on_a_terminal_unless_quiet(tmp_path):
    spec = _write_spec(tmp_path, LONG)
    base = ["simulate", spec, "--rtol", "1e-6", "-o", str(tmp_path / "w.csv")]
    code, err = _run_on_terminal(base)
    assert code == 0, err
    assert "ngspice [" in err and "%" in err and "\r" in err
    last = err.rsplit("ngspice [", 1)[1]
    assert "\r" in last  # the bar's line was cleared before "wrote ..."
    assert "wrote " in err
    code, err = _run_on_terminal(base + ["--quiet"])
    assert code == 0, err
    assert "ngspice [" not in err and "\r" not in err.replace("\r\n", "\n")
    assert "wrote " in err
