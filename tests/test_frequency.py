"""AC analysis against the exact transfer matrix H(j omega) = (j omega I - A)^-1 w_in."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from conftest import NETLISTS, random_spec
from rnn2spice.spice import ngspice as simulator
from rnn2spice.cli.app import main
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.errors import SimulationError, UsageError
from rnn2spice.analysis.transfer import transfer_matrix
from rnn2spice.report.figures import bode_figure
from rnn2spice.workflows.ac import ac_check, ac_netlists, check_sweep
from rnn2spice.network.load import load_spec
from rnn2spice.network.opamp import OpAmpModel
from rnn2spice.network.spec import spec_from_dict

EXAMPLE = NETLISTS / "damped-oscillator.yaml"
REALISATIONS = (("parallel", "vccs"), ("parallel", "gyrator"), ("series", "vccs"), ("opamp", "resistor"))


def test_transfer_matrix_of_one_neuron_is_a_low_pass():
    spec = spec_from_dict({"name": "one", "tau": 2e-3, "w": [[300.0]], "w_in": [[700.0]],
                           "inputs": [{"kind": "step", "value": 1.0}], "t_stop": 1e-2})
    f = np.logspace(0, 5, 11)
    h = transfer_matrix(spec, f)
    assert h.shape == (11, 1, 1)
    expected = 700.0 / (2j * np.pi * f + 1 / 2e-3 - 300.0)
    np.testing.assert_allclose(h[:, 0, 0], expected, rtol=1e-14)


def test_transfer_matrix_uses_the_paper_form_of_a_ctrnn():
    spec = random_spec(4, seed=1, kinds=("step", "sine"), convention="ctrnn")
    f = np.array([10.0, 1e3])
    d = np.diag(1 / spec.tau)
    a = d @ spec.w - d
    for i, fi in enumerate(f):
        np.testing.assert_allclose(transfer_matrix(spec, f)[i],
                                   np.linalg.solve(2j * np.pi * fi * np.eye(4) - a, d @ spec.w_in), rtol=1e-12)


def test_one_netlist_per_input_with_unit_ac_on_that_input_only():
    spec = random_spec(3, seed=2, kinds=("step", "pulse", "sine"))
    compiled = compile_rnn(spec, ac=(1.0, 1e4, 10))
    texts = ac_netlists(compiled)
    assert len(texts) == 3
    for l, text in enumerate(texts):
        cards = [line for line in text.split("\n") if line.startswith("Vx_")]
        assert len(cards) == 3
        for k, card in enumerate(cards):
            assert card.endswith("DC 0 AC 1") == (k == l), card
    assert ".ac dec 10 1 10000" in texts[0]
    # the default compile (and so every golden netlist) is unchanged
    assert compile_rnn(load_spec(EXAMPLE)).netlist == (NETLISTS / "damped-oscillator.cir").read_text()


@pytest.mark.parametrize("f_start, f_stop, ppd, message", [
    (0.0, 1e3, 10, "--fmin"), (-1.0, 1e3, 10, "--fmin"), (1.0, float("inf"), 10, "--fmax"),
    (1e3, 1e3, 10, "below"), (1e4, 1e3, 10, "below"), (1.0, 1e3, 0, "points-per-decade"),
    (1e-3, 1e9, 10_000, "at most"),
])
def test_bad_sweeps_are_refused(f_start, f_stop, ppd, message):
    with pytest.raises(UsageError, match=message):
        check_sweep(f_start, f_stop, ppd)


def test_nonlinear_or_inputless_specs_are_refused():
    with pytest.raises(UsageError, match="linear"):
        ac_check(load_spec(NETLISTS / "tanh4.yaml"), f_start=1, f_stop=1e3)
    with pytest.raises(UsageError, match="no inputs"):
        ac_check(load_spec(NETLISTS / "non-interacting.yaml"), f_start=1, f_stop=1e3)


@pytest.mark.ngspice
@pytest.mark.parametrize("form, coupling", REALISATIONS)
@pytest.mark.parametrize("m", (1, 2))
def test_ac_matches_the_transfer_matrix(form, coupling, m):
    kinds = ("step", "sine")[:m]
    errors = []
    for n, convention in ((4, "paper"), (12, "ctrnn")):
        spec = random_spec(n, seed=10 * n + m, kinds=kinds, convention=convention)
        result = ac_check(spec, f_start=1.0, f_stop=1e6, points_per_decade=10, form=form, coupling=coupling)
        assert result.simulated.shape == (61, n, m) and result.frequency[0] == pytest.approx(1.0)
        assert result.passed and result.rel_max_error <= 1e-6, result.report()
        assert result.certificate.passed
        assert result.max_db_error < 1e-6 and result.max_phase_error_deg < 1e-5
        errors.append(result.rel_max_error)
    print(f"{form}/{coupling}, m = {m}: AC relative max errors {errors}")


@pytest.mark.ngspice
def test_ac_cli_pass_report_and_plot(tmp_path, capsys):
    report, plot = tmp_path / "ac.json", tmp_path / "bode.png"
    args = ["ac", str(NETLISTS / "random20.yaml"), "--fmin", "1", "--fmax", "1e6", "--points-per-decade", "5",
            "--form", "series", "--report", str(report), "--plot", str(plot)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "dB" in out and "certificate" in out
    data = json.loads(report.read_text())
    assert data["passed"] is True and data["rel_max_error"] <= 1e-6 and data["runs"] == 2
    assert data["points"] == 31 and len(data["rel_max_error_per_input"]) == 2
    assert data["form"] == "series" and data["ngspice_version"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # an impossible tolerance is a mismatch
    assert main(["ac", str(EXAMPLE), "--fmin", "10", "--fmax", "1e4", "--tolerance", "1e-300"]) == 1


def test_ac_cli_bad_input_exits_2(tmp_path, capsys):
    assert main(["ac", str(NETLISTS / "tanh4.yaml"), "--fmin", "1", "--fmax", "1e3"]) == 2
    assert "linear" in capsys.readouterr().err
    assert main(["ac", str(EXAMPLE), "--fmin", "1e3", "--fmax", "1e3"]) == 2
    assert "--fmin must be below --fmax" in capsys.readouterr().err
    assert main(["ac", str(EXAMPLE), "--fmin", "-5", "--fmax", "1e3"]) == 2
    assert main(["ac", str(EXAMPLE), "--fmin", "1"]) == 2                       # --fmax missing
    assert main(["ac", str(EXAMPLE), "--fmin", "1", "--fmax", "1e3", "--form", "series",
                 "--coupling", "gyrator"]) == 2
    assert main(["ac", str(EXAMPLE), "--fmin", "1", "--fmax", "1e3", "--tolerance", "0"]) == 2
    assert main(["ac", str(EXAMPLE), "--fmin", "1", "--fmax", "1e3", "--report", str(tmp_path / "no" / "r.json")]) == 2


@pytest.mark.ngspice
def test_ac_of_the_opamp_form(tmp_path, capsys):
    """Ideal op-amps: the AC check passes (from the CLI too, with the form's default coupling);
    single-pole op-amps add poles that are not the network's: refused, not a wrong answer."""
    assert main(["ac", str(EXAMPLE), "--fmin", "1", "--fmax", "1e5", "--form", "opamp"]) == 0
    out = capsys.readouterr().out
    assert "form opamp, coupling resistor" in out and "PASS" in out
    spec = load_spec(EXAMPLE)
    result = ac_check(spec, f_start=1.0, f_stop=1e5, form="opamp")
    assert result.passed and result.rel_max_error_per_entry <= 1e-12
    macro = dataclasses.replace(spec, opamp=OpAmpModel("single-pole", 2e5, 1e6))
    with pytest.raises(UsageError, match="single-pole op-amps"):
        ac_check(macro, f_start=1.0, f_stop=1e5, form="opamp")
    spec_file = tmp_path / "osc.yaml"
    spec_file.write_text(EXAMPLE.read_text() + "circuit: {opamp: {model: single-pole, gain: 2.0e5, gbw: 1.0e6}}\n")
    assert main(["ac", str(spec_file), "--fmin", "1", "--fmax", "1e5", "--form", "opamp"]) == 2
    assert "ideal op-amp model" in capsys.readouterr().err


def test_ac_cli_simulator_failure_exits_3(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise SimulationError("ngspice crashed", ngspice_message="boom")

    monkeypatch.setattr(simulator, "simulate_netlist", broken)
    assert main(["ac", str(EXAMPLE), "--fmin", "1", "--fmax", "1e3"]) == 3
    assert "ngspice crashed" in capsys.readouterr().err


@pytest.mark.ngspice
def test_bode_plot_of_a_large_network_shows_a_subset():
    spec = random_spec(30, seed=7, kinds=("step", "sine", "pulse"))
    result = ac_check(spec, f_start=10, f_stop=1e5, points_per_decade=5)
    assert result.passed
    png = bode_figure(result)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
