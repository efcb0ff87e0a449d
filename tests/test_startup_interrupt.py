"""Ctrl-C while the command line starts (the package's imports take seconds on a busy
machine) is one line and exit 130, not a 30-line KeyboardInterrupt traceback (red-team
finding on issue 19): the console script's entry point, rnn2spice_launch.main, catches the
interrupt around the import of the package.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import env_with

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = "import sys, rnn2spice_launch; sys.argv[0] = 'rnn2spice'; sys.exit(rnn2spice_launch.main())"


def test_the_console_script_is_the_launcher():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["rnn2spice"] == "rnn2spice_launch:main"
    assert "rnn2spice_launch" in project["tool"]["setuptools"]["py-modules"]


@pytest.mark.parametrize("delay", [0.15, 0.4])
def test_ctrl_c_during_the_imports_is_one_line_exit_130(tmp_path, delay):
    # the import is made slow enough to be hit for sure: a finder that sleeps when the
    # package is first looked for (before any of it runs)
    env = env_with(RNN2SPICE_TRACEBACK=None)
    code = ("import sys, time, importlib.abc\n"
            "class Slow(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'rnn2spice': time.sleep(5)\n"
            "        return None\n"
            "sys.meta_path.insert(0, Slow())\n" + LAUNCH)
    proc = subprocess.Popen([sys.executable, "-c", code, "compile", "x.yaml"], cwd=tmp_path, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay + 0.5)  # the interpreter is up and inside the import
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err == "rnn2spice: interrupted\n"
    assert out == ""


def test_the_launcher_runs_the_command_line(tmp_path):
    done = subprocess.run([sys.executable, "-c", LAUNCH, "compile", "missing.yaml"], cwd=tmp_path,
                          env=env_with(RNN2SPICE_TRACEBACK=None), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("rnn2spice: error: ") and len(done.stderr.splitlines()) == 1
