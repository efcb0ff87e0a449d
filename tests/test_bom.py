"""Bill of materials (workflow and ``rnn2spice bom``) and component-value warnings."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest

from rnn2spice.api import Network
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.cli.app import main
from rnn2spice.errors import ComponentValueWarning
from rnn2spice.network.load import load_spec
from rnn2spice.network.opamp import OpAmpModel
from rnn2spice.workflows.build import bom, value_warnings

NETLISTS = Path(__file__).resolve().parent.parent / "netlists"


def test_bom_contents_damped_oscillator():
    b = bom(load_spec(NETLISTS / "damped-oscillator.yaml"), snap="E24")
    rows = list(csv.DictReader(io.StringIO(b.csv())))
    by = {r["designator"]: r for r in rows}
    # 2 integrators (C, R_k), w_01 = 3000 from the inverter of neuron 1, w_10 = -3000 direct,
    # w_in = 2000 from the input's inverter, and two inverters of 2 resistors each
    assert sorted(by) == sorted(["C_0", "R_0", "RW_0_1", "RX_0_0", "C_1", "R_1", "RW_1_0",
                                 "RIN_I_1", "RFB_I_1", "RIN_XI_0", "RFB_XI_0"])
    assert float(by["RW_0_1"]["exact_value"]) == pytest.approx(1 / (1e-9 * 3000), rel=1e-5)
    assert float(by["RW_0_1"]["chosen_value"]) == 330000.0
    assert float(by["C_0"]["chosen_value"]) == 1e-9 and by["C_0"]["tolerance"] == "0.05"
    assert (b.opamps, b.counts()["resistor"], b.counts()["capacitor"]) == (4, 9, 2)
    assert "4 op-amps, 9 resistors, 2 capacitors" in b.summary()


def test_bom_references_and_behavioural_blocks():
    b = bom(load_spec(NETLISTS / "tanh4.yaml"))
    assert b.counts()["reference"] == 2 and b.behavioural == 4
    assert all(r[3] == r[2] for r in b.rows)  # no series: the chosen value is the exact one


def test_cli_bom_writes_csv(tmp_path, capsys):
    out = tmp_path / "parts.csv"
    assert main(["bom", str(NETLISTS / "damped-oscillator.yaml"), "--snap", "E12", "--parts-list", "-o", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 11 and {r["tolerance"] for r in rows} == {"0.1"}
    assert "4 op-amps" in capsys.readouterr().err


def test_cli_bom_bad_series_exit_2(capsys):
    assert main(["bom", str(NETLISTS / "damped-oscillator.yaml"), "--snap", "E7"]) == 2
    assert "E7" in capsys.readouterr().err


def test_value_warnings_name_the_part():
    # tau = 1 s with C = 1 nF: R_0 = 1 Gohm; a 1 uF... and a 1 pF capacitor
    slow = Network(name="slow", tau=[1.0], w=[[0.0]], t_stop=1.0, h0=[1.0])
    with pytest.warns(ComponentValueWarning, match=r"R_0 = 1e\+09 ohm is outside 100 .. 1e\+07 ohm"):
        value_warnings(compile_rnn(slow, form="opamp"))
    tiny = dataclasses.replace(slow, capacitance=1e-12, tau=np.array([1e-6]), t_stop=1e-5)
    msgs = value_warnings(compile_rnn(tiny, form="opamp"), warn=False)
    assert any("C_0 = 1e-12 F is outside" in m for m in msgs)


def test_value_warnings_rails():
    net = Network(name="big", tau=[1e-3], w=[[0.0]], t_stop=1e-2, h0=[15.0])
    net = dataclasses.replace(net, opamp=OpAmpModel(rails=(-12.0, 12.0)))
    states = np.array([[15.0], [5.0]])
    msgs = value_warnings(compile_rnn(net, form="opamp"), states=states, warn=False)
    assert msgs == ["v(o0) = h_0 reaches 5 .. 15 V, beyond the rails -12 .. 12 V"]


def test_summary_lists_ten_warnings_report_all():
    # tau = 1 s with C = 1 nF: every R_k = 1 Gohm; 12 warnings, the summary shows 10
    slow = Network(name="slow12", tau=[1.0] * 12, w=np.zeros((12, 12)), t_stop=1.0, h0=np.ones(12))
    b = bom(slow)
    assert len(b.warnings) == 12 and len(b.report()["warnings"]) == 12
    assert b.summary().count("warning: ") == 10
    assert "... and 2 more warnings (12 in all, every one in .report()['warnings'])" in b.summary()


@pytest.mark.parametrize("report", [None, "bom.json", "-"])
def test_the_command_says_where_every_warning_is_and_it_is_there(tmp_path, capsys, report):
    """bom with more warnings than it shows says where all of them are -- the --report it was
    given (also without --predict), or that --report FILE writes them -- and that is true."""
    import json

    slow = Network(name="slow12", tau=[1.0] * 12, w=np.zeros((12, 12)), t_stop=1.0, h0=np.ones(12))
    slow.save(tmp_path / "slow.yaml")
    argv = ["bom", str(tmp_path / "slow.yaml"), "-o", str(tmp_path / "parts.csv")]
    if report is not None:
        argv += ["--report", report if report == "-" else str(tmp_path / report)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    where = {None: "every one in --report FILE", "-": "every one in the report on standard output",
             "bom.json": f"every one in {tmp_path / 'bom.json'}"}[report]
    assert f"... and 2 more warnings (12 in all, {where})" in err, err
    if report is not None:
        written = json.loads(out if report == "-" else (tmp_path / report).read_text())
        assert len(written["bom"]["warnings"]) == 12 and "snap" not in written
    else:
        assert out == "" and not (tmp_path / "bom.json").exists()


@pytest.mark.parametrize("options", [[], ["--parts-list"], ["--snap", "E96", "--footprint", "0805"],
                                     ["--opamp", "TL072", "--activation-circuit", "transistor", "--snap", "E24"],
                                     ["--opamp", "LM358", "--parts-list", "--snap", "E24"]])
@pytest.mark.parametrize("spec", ["tanh4.yaml", "random20.yaml"])
def test_every_bill_of_materials_is_recognised_as_one_and_replaced(tmp_path, capsys, options, spec):
    """The output rule knows a bill of materials by its header and its rows as the writer makes
    them (report/files.py _is_bom): every variant the command writes is replaced by the next run."""
    from rnn2spice.report.files import HEAD_BYTES, OUTPUT_KINDS

    out = tmp_path / "parts.csv"
    argv = ["bom", str(NETLISTS / spec), *options, "-o", str(out)]
    assert main(argv) == 0
    assert OUTPUT_KINDS["bom"].is_ours(out.read_bytes()[:HEAD_BYTES])
    assert main(argv) == 0, capsys.readouterr().err  # an earlier bill of materials: replaced
