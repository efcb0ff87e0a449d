"""The command line: outputs, reports and exit codes (0 pass, 1 mismatch, 2 bad input, 3 simulator)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import earlier_output, NETLISTS
from rnn2spice.cli.app import main
from rnn2spice.network.load import load_spec

EXAMPLE = NETLISTS / "damped-oscillator.yaml"


def test_compile_writes_the_golden_netlist(tmp_path):
    out = tmp_path / "osc.cir"
    assert main(["compile", str(EXAMPLE), "-o", str(out)]) == 0
    assert out.read_text() == (NETLISTS / "damped-oscillator.cir").read_text()


def test_compile_to_stdout(capsys):
    assert main(["compile", str(EXAMPLE), "--form", "series"]) == 0
    assert capsys.readouterr().out == (NETLISTS / "damped-oscillator.series.cir").read_text()


@pytest.mark.ngspice
def test_check_passes_writes_report_and_plot(tmp_path, capsys):
    report, plot = tmp_path / "r.json", tmp_path / "p.png"
    assert main(["check", str(EXAMPLE), "-v", "--report", str(report), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "relative max error" in out
    data = json.loads(report.read_text())
    for key in ("passed", "rel_max_error", "max_abs_error", "n", "points", "backend", "ngspice_version",
                "rms_error_per_neuron", "accuracy", "realisation"):
        assert key in data
    assert data["passed"] is True and data["n"] == 2 and data["rel_max_error"] < 1e-3
    assert data["points"] > 100 and data["ngspice_version"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.ngspice
def test_check_mismatch_exits_1_and_still_reports(tmp_path):
    report = tmp_path / "r.json"
    assert main(["check", str(EXAMPLE), "--tolerance", "1e-12", "--report", str(report)]) == 1
    assert json.loads(report.read_text())["passed"] is False


@pytest.mark.ngspice
def test_check_high_accuracy_reaches_1e_6(tmp_path):
    report = tmp_path / "r.json"
    assert main(["check", str(NETLISTS / "random20.yaml"), "--accuracy", "high", "--report", str(report)]) == 0
    data = json.loads(report.read_text())
    assert data["accuracy"] == "high" and data["rel_max_error"] <= 1e-6


@pytest.mark.ngspice
def test_simulate_writes_csv_in_model_units(tmp_path):
    out = tmp_path / "w.csv"
    assert main(["simulate", str(EXAMPLE), "-o", str(out), "--backend", "subprocess"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "time,h0,h1"
    data = np.loadtxt(out, delimiter=",", skiprows=1)
    assert data.shape[1] == 3 and data[-1, 0] == pytest.approx(1e-2)
    # the trajectory starts at t = 0 with h0 = (1, 0) exactly; ngspice's own first point with
    # uic is one hundredth of the first step after 0, where the state has moved by about dh/dt * t
    assert data[0].tolist() == [0.0, 1.0, 0.0]
    assert 0 < data[1, 0] <= 1e-5
    assert abs(data[1, 1] - 1.0) < 2e3 * data[1, 0] and abs(data[1, 2]) < 4e3 * data[1, 0]


def test_bad_spec_exits_2_with_field_and_value(tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\ntau: -1e-3\nw: [[0]]\nt_stop: 1e-3\n")
    out = tmp_path / "out.cir"
    out.write_text("keep me")
    assert main(["compile", str(spec), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "tau" in err and "-0.001" in err and "Traceback" not in err
    assert out.read_text() == "keep me"


def test_usage_errors_exit_2(capsys):
    assert main(["frobnicate"]) == 2
    assert main(["check", str(EXAMPLE), "--accuracy", "extreme"]) == 2
    assert main(["check", str(EXAMPLE), "--tolerance", "-1"]) == 2
    assert "tolerance" in capsys.readouterr().err


def test_output_in_missing_directory_exits_2_before_work(tmp_path, capsys):
    assert main(["compile", str(EXAMPLE), "-o", str(tmp_path / "nope" / "x.cir")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.ngspice
def test_simulator_failure_exits_3_and_leaves_outputs_untouched(tmp_path, capsys, monkeypatch):
    # a run far too long for the time limit: ngspice is stopped, exit code 3 (the points
    # budget raised, so that the time limit, not the budget, is what stops it)
    monkeypatch.setenv("RNN2SPICE_MAX_POINTS", "1e9")
    spec = tmp_path / "long.yaml"
    # (9e5 steps: under the compiler's cap of 1e6 steps, several seconds without a limit)
    spec.write_text("name: long\ntau: 1.0e-3\nw: [[0]]\nh0: [1]\nt_stop: 0.09\nt_step: 1.0e-7\n")
    report = tmp_path / "r.json"
    report.write_bytes(earlier_output(report, b"old report"))  # an earlier report: the kind check passes
    code = main(["check", str(spec), "--timeout", "1", "--report", str(report)])
    assert code == 3
    err = capsys.readouterr().err
    assert "1 s" in err and ".cir" in err
    assert report.read_bytes() == earlier_output(report, b"old report")


@pytest.mark.ngspice
def test_console_script_and_module_entry_points(tmp_path):
    exe = shutil.which("rnn2spice", path=str(__import__("pathlib").Path(sys.executable).parent))
    for cmd in ([exe] if exe else []) + [[sys.executable, "-m", "rnn2spice"]]:
        cmd = cmd if isinstance(cmd, list) else [cmd]
        res = subprocess.run(cmd + ["check", str(EXAMPLE)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert "PASS" in res.stdout
        assert "Unsupported Ngspice version" not in res.stdout + res.stderr


def test_spec_round_trip_yaml_and_json_agree(tmp_path):
    import yaml

    data = yaml.safe_load(EXAMPLE.read_text())
    (tmp_path / "osc.json").write_text(json.dumps(data))
    a, b = load_spec(EXAMPLE), load_spec(tmp_path / "osc.json")
    assert np.array_equal(a.w, b.w) and a.inputs == b.inputs and a.t_stop == b.t_stop
