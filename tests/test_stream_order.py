"""Standard output and standard error read into one file or terminal (``2>&1``) show the
command's lines in the order it wrote them, whatever Python's buffering (new-user finding on
issue 19: ``bom``'s CSV came after its summary without PYTHONUNBUFFERED, before it with it).
The command line's standard error flushes standard output before each write of its own
(rnn2spice/cli/app.py, ``_Guarded``).  Each case runs the command with both streams on one
pipe, buffered (PYTHONUNBUFFERED unset) and unbuffered, and must read the same.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import env_with

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "netlists" / "damped-oscillator.yaml"
BIG = ROOT / "netlists" / "random20.yaml"


def merged(args: list[str], cwd: Path, unbuffered: bool) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "rnn2spice", *args], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300,
                          env=env_with(PYTHONUNBUFFERED="1" if unbuffered else None))
    return done.returncode, done.stdout


@pytest.mark.parametrize("spec", [EXAMPLE, BIG], ids=["small-csv", "csv-over-8kB"])
def test_bom_csv_then_its_summary_in_the_order_written(tmp_path, spec):
    runs = [merged(["bom", str(spec)], tmp_path, unbuffered) for unbuffered in (False, True)]
    assert runs[0] == runs[1]
    code, text = runs[0]
    lines = text.splitlines()
    assert code == 0 and lines[0] == "Designators,Qty,Value,Part,Footprint"
    summary = [k for k, line in enumerate(lines) if line.startswith("bill of materials of ")]
    assert summary and all(line.count(",") >= 4 for line in lines[:summary[0]])  # every CSV row before it


@pytest.mark.ngspice
def test_a_report_on_standard_output_after_the_summary_it_follows(tmp_path):
    """verify --report -: the summary (standard error), then the JSON report (standard output)."""
    runs = [merged(["verify", str(EXAMPLE), "--report", "-"], tmp_path, unbuffered) for unbuffered in (False, True)]
    (code, text), (_, other) = runs
    assert code == 0
    assert text.startswith("spec damped-oscillator: ") and text.index("\n{\n") > 0
    assert json.loads(text[text.index("\n{\n") + 1:])["passed"] is True
    first = [line.split(":")[0] for line in text.split("\n{\n")[0].splitlines()]
    assert first == [line.split(":")[0] for line in other.split("\n{\n")[0].splitlines()]  # buffered or not
