"""Preferred values for nonlinear networks: the snapped circuit is a known perturbed network
(recovered exactly, predicted), confirmed by ngspice; a task trial's decision; the CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from rnn2spice.api import Network
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.cli.app import main
from rnn2spice.errors import UsageError
from rnn2spice.network.opamp import OpAmpModel
from rnn2spice.network.spec import RnnSpec
from rnn2spice.workflows.build import snap, snap_trial
from rnn2spice.workflows.snapping import as_spec, nominal_network, realised_network
from rnn2spice.workflows.stimulus import pulse_trials

from test_opamp import random_net


def bistable(n: int = 10, seed: int = 3) -> RnnSpec:
    """A trained-like 10-neuron ctrnn (tau = dt = 1 ms): a shared positive feedback of gain 2
    makes two attractors h ~ +-0.96; the delayed-decision pulse picks one; readout the mean."""
    rng = np.random.default_rng(seed)
    w = 2.0 / n * np.ones((n, n)) + 0.15 * rng.normal(size=(n, n)) / np.sqrt(n)
    return Network(name="bistable", tau=1e-3, w=w, w_in=rng.uniform(0.5, 1.5, (n, 1)), bias=np.zeros(n),
                   convention="ctrnn", activation="tanh", t_stop=0.37,
                   inputs=[{"kind": "step", "value": 0.0}], w_out=np.full((1, n), 1.0 / n), b_out=[0.0])


@pytest.mark.parametrize("n,activation,convention,form", [
    (6, "tanh", "ctrnn", "opamp"), (7, "tanh", "paper", "opamp"), (6, "relu", "rate", "opamp"),
    (5, "sigmoid", "ctrnn", "parallel"), (5, "softplus", "rate", "parallel")])
def test_unsnapped_circuit_realises_the_nominal_network(n, activation, convention, form):
    # the recovery is exact: the compiled (unsnapped) netlist gives back the spec's network
    net = random_net(n, 40 + n, activation, convention)
    real = realised_network(compile_rnn(net, form=form).netlist, net)
    nom = nominal_network(net)
    for name in ("a", "b", "c", "k", "zy", "zu", "z0", "y0"):
        got, want = getattr(real, name), getattr(nom, name)
        assert np.allclose(got, want, rtol=1e-9, atol=1e-9 * max(1.0, float(np.max(np.abs(want), initial=0)))), name
    perturbed, scale = as_spec(real, net)
    assert np.allclose(perturbed.tau, net.tau, rtol=1e-9)


@pytest.mark.ngspice
@pytest.mark.parametrize("n,activation,convention,form", [
    (6, "tanh", "ctrnn", "opamp"), (7, "tanh", "paper", "opamp"), (6, "relu", "rate", "opamp"),
    (8, "relu", "ctrnn", "opamp"), (5, "tanh", "ctrnn", "parallel")])
def test_nonlinear_snap_prediction_matches_ngspice(n, activation, convention, form):
    net = random_net(n, n, activation, convention)
    r = snap(net, "E24", form=form, accuracy="high")
    assert r.passed, r.summary()
    # measured (ngspice 46): effect 1.9e-2 .. 5.5e-2, ngspice vs prediction 1.5e-7 .. 4.3e-7
    assert r.predicted > 5e-3
    assert r.agreement < 1e-3 * r.predicted
    assert abs(r.measured / r.predicted - 1.0) < 1e-2
    assert r.eigenvalue_shift > 1e-3 and r.largest_change <= 0.08


def test_prediction_without_simulator_and_parameters():
    net = random_net(6, 6, "tanh", "paper")
    r = snap(net, "E12", simulate=False)
    assert not r.simulated and not r.passed and r.measured is None
    assert set(r.changes) >= {"tau", "activation gain", "W", "w_in"}
    assert 0 < r.changes["tau"] <= 0.1 and r.largest_change <= 0.1   # E12: parts within ~10 %
    assert r.perturbed.convention == "ctrnn" and r.scale.shape == (6,)
    # E96 moves parts ~8x less than E12: the trajectory 8.3x less (4.3e-3 vs 3.6e-2)
    fine = snap(net, "E96", simulate=False)
    assert fine.predicted < r.predicted / 3 and fine.largest_change <= 0.0125  # E96 gaps up to 2.4 %


def test_single_pole_refused():
    net = dataclasses.replace(random_net(3, 3, "tanh", "ctrnn"), opamp=OpAmpModel("single-pole", 2e5, 1e6))
    with pytest.raises(UsageError, match=r"circuit\.opamp\.model"):
        snap(net, "E24", simulate=False)


@pytest.mark.ngspice
def test_snap_trial_decision_survives_and_prediction_holds():
    spec = bistable()
    stim = pulse_trials(1.0, seed=0, delay=60)[0]
    trial = snap_trial(spec, stim, 1e-3, "E24")
    rep = trial.report()
    assert trial.passed, trial.summary()
    assert rep["nominal"]["decision"] == rep["predicted"]["decision"] == rep["simulated"]["decision"] == [1]
    assert rep["discrete"]["decision"] == [1]
    assert rep["decision_survives"] == {"predicted": True, "simulated": True}
    ch = rep["readout_change"]
    assert ch["predicted_max"] > 1e-3
    assert ch["simulated_vs_predicted_max"] < 0.1 * ch["predicted_max"]
    assert abs(ch["simulated_mean"] - ch["predicted_mean"]) < 0.1 * ch["predicted_mean"]
    # a dead zone between the nominal and the snapped mean readout: the prediction says the
    # decision changes, and so does the circuit
    nom, pred = rep["nominal"]["mean"][0], rep["predicted"]["mean"][0]
    edge = snap_trial(spec, stim, 1e-3, "E24", dead_zone=(nom + pred) / 2)
    assert edge.survives_predicted is False and edge.survives_simulated is False
    assert edge.report()["simulated"]["decision"] == edge.report()["predicted"]["decision"]


@pytest.mark.ngspice
def test_cli_bom_simulate_stimulus_report(tmp_path, capsys):
    spec = bistable()
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"name": "bistable", "convention": "ctrnn", "activation": "tanh",
                                "tau": 1e-3, "w": spec.w.tolist(), "w_in": spec.w_in.tolist(), "t_stop": 0.37,
                                "inputs": [{"kind": "step", "value": 0.0}], "w_out": spec.w_out.tolist()}))
    report, parts = tmp_path / "snap.json", tmp_path / "parts.csv"
    code = main(["bom", str(path), "--snap", "E24", "--simulate", "--stimulus", "pulse", "--delay", "60",
                 "--dt", "1e-3", "--report", str(report), "-o", str(parts)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "decision survives" in err and "31 op-amps" in err
    data = json.loads(report.read_text())
    assert data["snap"]["decision_survives"] == {"predicted": True, "simulated": True}
    assert data["bom"]["opamps"] == 31 and parts.is_file()


@pytest.mark.parametrize("argv,flag", [
    (["--predict"], "--snap"),
    (["--snap", "E24", "--stimulus", "pulse"], "--predict"),
    (["--snap", "E24", "--predict", "--value", "1"], "--stimulus"),
    (["--snap", "E24", "--predict", "--stimulus", "x.npy", "--delay", "3"], "--delay"),
    (["--snap", "E24", "--predict", "--stimulus", "pulse", "--dt", "-1"], "--dt"),
    (["--snap", "E24", "--predict", "--stimulus", "pulse", "--delay", "99", "--dt", "1e-3"], "--delay"),
    (["--snap", "E24", "--predict", "--stimulus", "pulse", "--window", "3"], "--window"),
    (["--snap", "E24", "--predict", "--stimulus", "pulse", "--dead-zone", "-1", "--dt", "1e-3"], "--dead-zone"),
    (["--snap", "E7", "--predict"], "E7"),
])
def test_cli_bad_options_exit_2(tmp_path, capsys, argv, flag):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"name": "s", "convention": "ctrnn", "activation": "tanh", "tau": 1e-3,
                                "w": [[0.5]], "w_in": [[1.0]], "t_stop": 0.37, "w_out": [[1.0]],
                                "inputs": [{"kind": "step", "value": 0.0}]}))
    report = tmp_path / "r.json"
    assert main(["bom", str(spec), *argv, "-o", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err
    assert not (tmp_path / "p.csv").exists() and not report.exists()


def test_cli_predict_without_simulator(tmp_path, capsys):
    # the spec's own inputs, no stimulus: prediction only, exit 0, the report says not simulated
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"name": "s", "convention": "ctrnn", "activation": "tanh", "tau": [1e-3, 2e-3],
                                "w": [[0.5, -1.3], [1.1, 0.2]], "w_in": [[1.0], [-0.4]], "bias": [0.1, 0.0],
                                "h0": [0.3, -0.2], "t_stop": 0.01, "w_out": [[1.0, -1.0]],
                                "inputs": [{"kind": "sine", "amplitude": 0.5, "frequency": 200}]}))
    report = tmp_path / "r.json"
    assert main(["bom", str(spec), "--snap", "E12", "--predict", "--report", str(report),
                 "-o", str(tmp_path / "p.csv")]) == 0
    err = capsys.readouterr().err
    assert "snapped to E12" in err and "predicted build error" in err and "(predicted only: nothing simulated" in err
    data = json.loads(report.read_text())["snap"]
    assert data["simulated"] is False and data["predicted"] > 1e-3 and data["readout_predicted"] > 0
    assert data["perturbed"]["convention"] == "ctrnn" and len(data["perturbed"]["tau"]) == 2
