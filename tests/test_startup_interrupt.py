"""Ctrl-C or SIGTERM while the command line starts (the package's imports take seconds on a
busy machine) is one line and exit 130 or 143, not a 30-line KeyboardInterrupt traceback
(red-team finding on issue 19) -- from the console script (rnn2spice_launch.main) and from
``python -m rnn2spice``, whose package ``__init__`` runs before ``__main__`` can catch
anything (it guards its own imports when it is being imported for ``-m``).

An import is made slow enough to be hit for sure: a ``sitecustomize`` on PYTHONPATH puts a
finder first that, when the named module is looked for, leaves a mark and sleeps; the test
signals once the mark is there.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rnn2spice_launch
from conftest import env_with

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = "import sys, rnn2spice_launch; sys.argv[0] = 'rnn2spice'; sys.exit(rnn2spice_launch.main())"
SLOW_FINDER = """\
import os, sys, time, importlib.abc
class Slow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == os.environ.get("SLOW_IMPORT"):
            open(os.environ["SLOW_MARK"], "w").close()
            if os.environ.get("SLOW_BROKEN"):  # an import that fails by itself, no signal
                raise ImportError("broken on purpose")
            try:
                time.sleep(30)
            except KeyboardInterrupt:
                if os.environ.get("SLOW_CONVERT"):  # as numpy's C import turns it into an ImportError
                    raise ImportError("PyCapsule_Import could not import module 'datetime'") from None
                raise
        return None
sys.meta_path.insert(0, Slow())
"""
ENTRIES = {"console-script": [sys.executable, "-c", LAUNCH], "python-m": [sys.executable, "-m", "rnn2spice"]}


def test_the_console_script_is_the_launcher():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["rnn2spice"] == "rnn2spice_launch:main"
    assert "rnn2spice_launch" in project["tool"]["setuptools"]["py-modules"]


def test_the_launcher_says_what_the_command_line_says():
    from rnn2spice.cli.common import Terminated, interrupted

    assert interrupted(KeyboardInterrupt()) == rnn2spice_launch.INTERRUPTED
    assert interrupted(Terminated()) == rnn2spice_launch.TERMINATED


@pytest.mark.parametrize("argv,orig,expected", [
    (["-m"], ["python", "-m", "rnn2spice", "check"], True),
    (["-m"], ["python", "-X", "dev", "-m", "rnn2spice.cli.app"], True),
    (["-m"], ["python", "-mrnn2spice"], True),
    (["-m"], ["python", "-m", "rnn2spice_other"], False),   # someone else's module
    (["-m"], ["python", "-m", "mytool", "rnn2spice"], False),
    (["/usr/bin/rnn2spice"], ["python", "-m", "rnn2spice"], False),  # located already: __main__ runs
    (["-c"], ["python", "-c", "import rnn2spice"], False),
])
def test_only_python_m_rnn2spice_guards_the_package_import(argv, orig, expected):
    assert rnn2spice_launch.run_as_main(argv, orig) is expected


@pytest.mark.parametrize("entry,slow", [("console-script", "rnn2spice.api"), ("python-m", "rnn2spice.api"),
                                        ("python-m", "scipy.integrate"), ("python-m", "rnn2spice.cli.app")])
@pytest.mark.parametrize("signum,code,said", [(signal.SIGINT, 130, "interrupted"),
                                              (signal.SIGTERM, 143, "terminated (SIGTERM)")], ids=["INT", "TERM"])
def test_a_signal_during_the_imports_is_one_line(tmp_path, entry, slow, signum, code, said):
    proc = _slow_start(tmp_path, entry, slow)
    _signal_when_slow(proc, tmp_path / "mark", signum, code, f"rnn2spice: {said}\n")


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_an_interrupt_that_comes_out_as_another_exception_is_still_the_interrupt(tmp_path, entry):
    """A Ctrl-C inside numpy's C import came out as an ImportError (exit 1, 20 lines): the
    signal was noted, so it is the interrupt."""
    proc = _slow_start(tmp_path, entry, "rnn2spice.api", SLOW_CONVERT=1)
    _signal_when_slow(proc, tmp_path / "mark", signal.SIGINT, 130, "rnn2spice: interrupted\n")


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_an_import_that_fails_without_a_signal_is_not_called_an_interrupt(tmp_path, entry):
    proc = _slow_start(tmp_path, entry, "rnn2spice.api", SLOW_BROKEN=1)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "ImportError: broken on purpose" in err and "interrupted" not in err


def _slow_start(tmp_path: Path, entry: str, slow: str, **more) -> subprocess.Popen:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_FINDER)
    env = env_with(RNN2SPICE_TRACEBACK=None, SLOW_IMPORT=slow, SLOW_MARK=tmp_path / "mark", **more)
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    return subprocess.Popen([*ENTRIES[entry], "compile", "x.yaml"], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _signal_when_slow(proc: subprocess.Popen, mark: Path, signum: int, code: int, said: str) -> None:
    """Once the slow import is under way, the signal; then exit ``code``, ``said`` on stderr alone."""
    try:
        end = time.monotonic() + 60
        while not mark.exists() and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.02)
        assert mark.exists(), f"never reached the slow import: {proc.communicate(timeout=30)}"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert (proc.returncode, err, out) == (code, said, "")


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_each_entry_runs_the_command_line(tmp_path, entry):
    done = subprocess.run([*ENTRIES[entry], "compile", "missing.yaml"], cwd=tmp_path,
                          env=env_with(RNN2SPICE_TRACEBACK=None), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("rnn2spice: error: ") and len(done.stderr.splitlines()) == 1
