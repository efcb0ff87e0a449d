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
            time.sleep(30)
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
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_FINDER)
    mark = tmp_path / "mark"
    env = env_with(RNN2SPICE_TRACEBACK=None, SLOW_IMPORT=slow, SLOW_MARK=mark)
    env["PYTHONPATH"] = f"{site}:{env['PYTHONPATH']}"
    proc = subprocess.Popen([*ENTRIES[entry], "compile", "x.yaml"], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 60
        while not mark.exists() and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.02)
        assert mark.exists(), f"never imported {slow}: {proc.communicate(timeout=30)}"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert (proc.returncode, err, out) == (code, f"rnn2spice: {said}\n", "")


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_each_entry_runs_the_command_line(tmp_path, entry):
    done = subprocess.run([*ENTRIES[entry], "compile", "missing.yaml"], cwd=tmp_path,
                          env=env_with(RNN2SPICE_TRACEBACK=None), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("rnn2spice: error: ") and len(done.stderr.splitlines()) == 1
