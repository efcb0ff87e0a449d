"""Input files are read only when they are regular files, and only up to their limits
(red-team findings on issue 19): ``--opamp-model /dev/zero:X`` read 22 GB before its size
check, a sparse multi-GB CSV waveform or ``--stimulus`` file was read whole by csv.reader.

Every case runs the real command line under the memory cap and time limit of
tests/test_hostile.py and must end with exit 2 and one line naming the option or field and
the file.  Sparse files (truncate) cost no disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from conftest import GOOD_SPEC
from test_hostile import TASK, run_cli, spec_yaml

from rnn2spice.network.files import MAX_CSV_BYTES, MAX_LINE_BYTES

SIX_GB = 6 << 30


def one_error(run) -> str:
    assert run.code == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnn2spice: error: "), run.stderr[-2000:]
    return lines[0]


def sparse(path: Path, size: int, head: bytes = b"") -> Path:
    path.write_bytes(head)
    os.truncate(path, size)
    return path


@pytest.mark.parametrize("model", ["/dev/zero", "fifo", "sparse"])
def test_opamp_model_reads_only_a_bounded_regular_file(tmp_path, model):
    kind = model
    (tmp_path / "spec.yaml").write_text(spec_yaml(), encoding="utf-8")
    if model == "fifo":
        model = str(tmp_path / "m.lib")
        os.mkfifo(model)  # no writer: an open() that blocks hangs the command
    elif model == "sparse":
        model = str(sparse(tmp_path / "m.lib", SIX_GB, b".subckt OPX 1 2 3 4 5\n"))
    run = run_cli(["compile", str(tmp_path / "spec.yaml"), "--form", "opamp", "--opamp-model", f"{model}:OPX"],
                  tmp_path)
    line = one_error(run)
    assert "--opamp-model" in line and repr(model) in line, line
    assert ("not a regular file" in line) if kind != "sparse" else ("at most 2,000,000" in line), line


def test_a_sparse_6_gb_csv_waveform_is_refused_by_its_size(tmp_path):
    sparse(tmp_path / "x.csv", SIX_GB, b"0,0\n1e-3,1\n")
    (tmp_path / "spec.yaml").write_text(spec_yaml(inputs=[{"kind": "file", "path": "x.csv"}]), encoding="utf-8")
    line = one_error(run_cli(["compile", str(tmp_path / "spec.yaml")], tmp_path))
    assert "inputs[0]" in line and "'x.csv'" in line and f"at most {MAX_CSV_BYTES:,}" in line, line
    assert "RNN2SPICE_MAX_CSV_BYTES" in line


def test_a_csv_line_longer_than_the_limit_is_refused_before_it_is_decoded(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"0,0\n" + b"1" * (4 * MAX_LINE_BYTES))
    (tmp_path / "spec.yaml").write_text(spec_yaml(inputs=[{"kind": "file", "path": "x.csv"}]), encoding="utf-8")
    line = one_error(run_cli(["compile", str(tmp_path / "spec.yaml")], tmp_path))
    assert "'x.csv'" in line and f"line 2 is longer than {MAX_LINE_BYTES:,} bytes" in line, line


@pytest.mark.parametrize("kind", ["sparse", "fifo", "/dev/zero"])
def test_stimulus_csv_reads_only_a_bounded_regular_file(tmp_path, kind):
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(TASK), encoding="utf-8")
    if kind == "sparse":
        stim = str(sparse(tmp_path / "x.csv", SIX_GB, b"0\n1\n"))
    elif kind == "fifo":
        stim = str(tmp_path / "x.csv")
        os.mkfifo(stim)
    else:
        stim = kind
    line = one_error(run_cli(["task", str(tmp_path / "task.yaml"), "--stimulus", stim], tmp_path))
    assert "--stimulus" in line and repr(stim) in line, line


def test_the_limits_still_let_ordinary_files_through(tmp_path):
    """A small CSV waveform and a lib file of ordinary size compile (the cross-check)."""
    (tmp_path / "x.csv").write_text("t,v\n0,0\n1e-3,1\n2e-3,0.5\n", encoding="utf-8")
    (tmp_path / "spec.yaml").write_text(spec_yaml(inputs=[{"kind": "file", "path": "x.csv"}]), encoding="utf-8")
    run = run_cli(["compile", str(tmp_path / "spec.yaml")], tmp_path)
    assert run.code == 0, run.stderr
    assert "PWL" in run.stdout.upper()
    assert GOOD_SPEC  # the spec helper builds on the shared good spec
