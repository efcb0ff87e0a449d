"""Issue #21 follow-up: every real-build result the CLI returns supports --plot / --report;
the netlist header names the op-amp actually built; each count has one name, the same from the
CLI and the API; PASS says what it judges and the build error is labelled."""

from __future__ import annotations

import argparse
import csv
import json
import re

import numpy as np
import pytest
import yaml

from rnn2spice.circuit import ir
from rnn2spice.circuit.partlib import ABSTRACT_OPAMPS, OPAMPS
from rnn2spice.circuit.reader import parse_netlist
from rnn2spice.circuit.realparts import Build
from rnn2spice.cli.app import build_parser, main
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.build import bom, snap
from rnn2spice.workflows.realbuild import check_build, compile_build

from conftest import ROOT

#: The real-build option sets (--form opamp): each alone, and all together.
REAL_OPTIONS = {
    "TL072": ["--opamp", "TL072"],
    "transistor": ["--activation-circuit", "transistor"],
    "E24": ["--snap", "E24"],
    "all": ["--opamp", "TL072", "--activation-circuit", "transistor", "--snap", "E24"],
}


def tiny(seed: int = 0, n: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    return {"name": f"tiny{seed}", "convention": "ctrnn", "activation": "tanh", "tau": 1e-3,
            "w": (rng.normal(0, 0.6, (n, n))).tolist(), "w_in": rng.normal(0, 1, (n, 1)).tolist(),
            "h0": rng.uniform(-0.4, 0.4, n).tolist(), "bias": rng.uniform(-0.2, 0.2, n).tolist(),
            "inputs": [{"kind": "pulse", "low": 0.0, "high": 0.8, "delay": 1e-3, "rise": 1e-5, "fall": 1e-5,
                        "width": 1.5e-3, "period": 1.0}], "t_stop": 4e-3}


def commands_with(*flags) -> dict:
    """Subcommand -> its option strings, for those taking the build options and any of ``flags``."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    out = {}
    for name, p in sub.choices.items():
        opts = {o for a in p._actions for o in a.option_strings}
        if "--opamp" in opts and opts & set(flags):
            out[name] = opts
    return out


def test_the_audit_covers_check_and_montecarlo():
    # the parametrised test below derives its commands from the parser; this pins that it sees them
    assert {"check", "montecarlo", "bom"} <= set(commands_with("--plot", "--report"))


@pytest.mark.ngspice
@pytest.mark.parametrize("command", sorted(commands_with("--plot", "--report")))
@pytest.mark.parametrize("build", sorted(REAL_OPTIONS))
def test_every_real_build_result_writes_its_plot_and_report(tmp_path, capsys, command, build):
    spec = tmp_path / "net.yaml"
    spec.write_text(yaml.safe_dump(tiny(len(build))))
    opts = commands_with("--plot", "--report")[command]
    argv = [command, str(spec), "--form", "opamp", *REAL_OPTIONS[build]]
    plot, report = tmp_path / "fig.png", tmp_path / "rep.json"
    if "--plot" in opts:
        argv += ["--plot", str(plot)]
    if "--report" in opts:
        argv += ["--report", str(report)]
    if command == "montecarlo":
        argv += ["--runs", "2", "--jobs", "1", "--tolerance", "1%"]
    if command == "bom":  # its report is of --predict, which needs ideal op-amps
        argv += ["--snap", "E24", "--predict", "-o", str(tmp_path / "bom.csv")] if "--snap" not in argv else \
            ["--predict", "-o", str(tmp_path / "bom.csv")]
    code = main(argv)
    err = capsys.readouterr().err
    assert "internal error" not in err and code != 70, err
    if command == "bom" and build != "E24":  # a real build is predicted by check: refused, one line, exit 2
        assert code == 2 and "rnn2spice check" in err and len(err.strip().splitlines()) == 1, err
        return
    assert code in (0, 1), err
    if "--plot" in opts:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if "--report" in opts:
        assert isinstance(json.loads(report.read_text()), dict)


@pytest.mark.ngspice
def test_build_check_plot_repr_and_verdict():
    spec = spec_from_dict(tiny(7, n=3))
    res = check_build(spec, build=Build(opamp="TL072", activation_circuit="transistor", snap="E24"))
    fig = res.plot()
    from matplotlib.figure import Figure
    assert isinstance(fig, Figure)
    lines = [ln for ax in fig.axes for ln in ax.get_lines()]
    # three traces per neuron in the overlay (ideal, predicted, ngspice), two per neuron in the error panel
    assert len(fig.axes) == 2 and len(fig.axes[0].get_lines()) == 3 * 3 and len(lines) == 5 * 3
    top = fig.axes[0].get_lines()
    assert np.allclose(top[0].get_ydata(), res.ideal[:, 0]) and np.allclose(top[1].get_ydata(),
                                                                           res.predicted_states[:, 0])
    assert np.allclose(top[2].get_ydata(), res.states[:, 0])
    text = repr(res)
    assert text.startswith("<BuildCheck tiny7") and len(text) < 1000 and "array" not in text
    assert "ngspice_vs_prediction" in text and "predicted_build_error" in text
    summary = res.summary()
    pct = f"{100 * res.simulated:.3g} %"
    assert f"the build deviates {pct} from the ideal network" in summary
    assert ("PASS (the simulated build matches its prediction" in summary) == res.passed
    assert "worst per-neuron relative error vs the ideal network" in summary


@pytest.mark.parametrize("opamp", ABSTRACT_OPAMPS + tuple(OPAMPS))
def test_netlist_header_names_the_opamp_built_and_nothing_else(opamp):
    spec = spec_from_dict(tiny(3))
    c = compile_build(spec, form="opamp", build=Build(opamp=opamp))
    header = "\n".join(c.circuit.comments)
    named = re.findall(r"op-amp ([\w.:-]+)", header)
    assert named and set(named) == {opamp}, header
    other = [o for o in ABSTRACT_OPAMPS + tuple(OPAMPS) if o != opamp]
    assert not any(re.search(rf"\bop-amp {re.escape(o)}\b", header) for o in other), header
    # the integrator C said is the one in the netlist
    said = float(re.search(r"C = ([0-9.e+-]+) F per integrator", header).group(1))
    caps = {e.capacitance for e in c.circuit.elements if isinstance(e, ir.Capacitor) and e.name.startswith("C_")}
    assert caps == {said}, (said, caps)


@pytest.mark.parametrize("build", [Build(opamp="TL072"), Build(opamp="TL072", snap="E24"),
                                   Build(activation_circuit="transistor", opamp="LM358", snap="E12")],
                         ids=["TL072", "TL072-E24", "transistor-LM358-E12"])
def test_netlist_elements_compiler_equals_reader_and_cli(tmp_path, capsys, build):
    spec = spec_from_dict(tiny(4, n=3))
    c = compile_build(spec, form="opamp", build=build)
    counted = ir.count(c.circuit.elements)
    assert parse_netlist(c.netlist).counts()["elements"] == counted
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(tiny(4, n=3)))
    opts = ["--opamp", build.opamp] + (["--snap", build.snap] if build.snap else []) + \
        ["--activation-circuit", build.activation_circuit]
    assert main(["compile", str(path), "--form", "opamp", *opts, "-o", str(tmp_path / "n.cir")]) == 0
    err = capsys.readouterr().err
    assert f"({counted} netlist elements: {ir.ELEMENTS_MEANING}" in err
    main(["verify", "--netlist", str(tmp_path / "n.cir"), str(path)])
    out = capsys.readouterr()
    assert f"netlist elements: {counted} (" in out.out + out.err


@pytest.mark.parametrize("activation_circuit", ["behavioural", "transistor"])
def test_bom_parts_to_order_cli_equals_api(tmp_path, capsys, activation_circuit):
    spec = tmp_path / "net.yaml"
    spec.write_text(yaml.safe_dump(tiny(5, n=3)))
    b = bom(spec_from_dict(tiny(5, n=3)), build=Build(opamp="TL072", snap="E24",
                                                        activation_circuit=activation_circuit))
    assert b.parts_to_order == sum(r["Qty"] for r in b.order_rows())
    assert f"{b.parts_to_order} parts to order" in repr(b)
    assert main(["bom", str(spec), "--opamp", "TL072", "--snap", "E24", "--activation-circuit", activation_circuit,
                 "-o", str(tmp_path / "b.csv")]) == 0
    err = capsys.readouterr().err
    assert f"{b.parts_to_order} parts to order on {len(b.order_rows())} lines" in err
    with open(tmp_path / "b.csv", newline="") as fh:
        assert sum(int(r["Qty"]) for r in csv.DictReader(fh)) == b.parts_to_order
    assert ("not orderable: " in err) == (activation_circuit == "behavioural")
    assert b.report()["parts_to_order"] == b.parts_to_order


def test_snap_counts_and_labels_cli_equals_api(tmp_path, capsys):
    d = tiny(6, n=3)
    spec = tmp_path / "net.yaml"
    spec.write_text(yaml.safe_dump(d))
    res = snap(spec_from_dict(d), "E24", simulate=False)
    b = bom(spec_from_dict(d), snap="E24")
    c = b.counts()
    assert res.parts == c["resistor"] + c["capacitor"]
    assert main(["bom", str(spec), "--snap", "E24", "--predict", "-o", str(tmp_path / "b.csv")]) == 0
    err = capsys.readouterr().err
    assert f"{res.parts} resistors and capacitors snapped" in err
    assert (f"predicted build error (worst per-neuron relative error vs the ideal network) "
            f"{100 * res.predicted:.3g} %") in err
    assert "PASS" not in err and "no verdict" in err
    assert "resistors_and_capacitors_snapped: " + str(res.parts) in repr(res)


@pytest.mark.ngspice
@pytest.mark.parametrize("opamp", ABSTRACT_OPAMPS)
def test_transistor_blocks_on_abstract_opamps_are_predicted(opamp):
    # the predicted circuit once kept an ideal-op-amp block's VCVS without its inputs (singular)
    # and a single-pole op-amp's pole capacitor (a state the network does not have)
    spec = spec_from_dict(tiny(11, n=2))
    res = check_build(spec, build=Build(opamp=opamp, activation_circuit="transistor"))
    assert np.all(np.isfinite(res.predicted_states)) and res.predicted_states.shape == res.states.shape
    assert res.passed, res.summary()
