"""Dale's law (rnn2spice.network.dale) and its report in verify and check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnn2spice.cli.app import main
from rnn2spice.network.dale import dale_report
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.verify import verify


def test_columns_are_the_outgoing_weights():
    # w[k, j] is from j to k: neuron 0 excites (column 0 >= 0), neuron 1 inhibits, neuron 2 is silent
    w = np.array([[0.5, -1.0, 0.0],
                  [2.0, 0.0, 0.0],
                  [0.0, -0.3, 0.0]])
    rep = dale_report(w)
    assert rep.obeys and rep.signs == (1, -1, 0)
    assert (rep.excitatory, rep.inhibitory, rep.silent, rep.mixed, rep.first_mixed) == (1, 1, 1, 0, None)
    assert "obeyed (1 E, 1 I, 1 silent)" in rep.describe()
    # the transpose breaks it: rows are incoming weights, not outgoing ones
    rep_t = dale_report(w.T)
    assert not rep_t.obeys and rep_t.mixed == 1 and rep_t.first_mixed == 0
    assert "not obeyed (1 of 3 neurons" in rep_t.describe() and "first neuron 0" in rep_t.describe()


def test_self_connection_counts_and_signs_are_exact():
    w = np.array([[-0.1, 1.0], [1.0, 1.0]])  # neuron 0: -0.1 onto itself, +1 onto neuron 1: mixed
    assert dale_report(w).signs == (2, 1)
    w = np.array([[1.0, -1e-300], [1.0, 0.0]])  # a tiny negative weight is negative
    assert dale_report(w).signs == (1, -1)
    assert dale_report(np.zeros((2, 2))).as_dict()["silent"] == 2
    with pytest.raises(ValueError, match="square"):
        dale_report(np.zeros((2, 3)))


def test_psychrnn_style_matrix_obeys():
    rng = np.random.default_rng(0)
    n = 10
    dale_rec = np.diag([1.0] * 8 + [-1.0] * 2)
    w = np.abs(rng.standard_normal((n, n))) @ dale_rec
    rep = dale_report(w)
    assert rep.obeys and (rep.excitatory, rep.inhibitory) == (8, 2)
    d = rep.as_dict()
    assert d["obeys"] is True and "column j" in d["rule"]


def _spec(w):
    return spec_from_dict({"name": "d", "convention": "ctrnn", "tau": 1e-3, "w": w, "w_in": [[1.0], [0.0]],
                           "inputs": [{"kind": "step", "value": 1.0, "at": 1e-4}], "t_stop": 2e-3})


def test_verify_reports_dale(tmp_path, capsys):
    result = verify(_spec([[0.5, -0.4], [0.3, -0.2]]))
    assert result.report()["dale"]["obeys"] is True
    assert result.report()["dale"]["excitatory"] == 1 and result.report()["dale"]["inhibitory"] == 1
    assert "Dale's law: obeyed (1 E, 1 I)" in result.summary()
    result = verify(_spec([[0.5, 0.4], [-0.3, -0.2]]))
    assert result.report()["dale"]["obeys"] is False and "not obeyed (2 of 2" in result.summary()
    spec = tmp_path / "d.yaml"
    spec.write_text(json.dumps({"name": "d", "convention": "ctrnn", "tau": 1e-3, "w": [[0.5, -0.4], [0.3, -0.2]],
                                "w_in": [[1.0], [0.0]], "inputs": [{"kind": "step", "value": 1.0, "at": 1e-4}],
                                "t_stop": 2e-3}))
    assert main(["verify", str(spec), "--report", str(tmp_path / "v.json")]) == 0
    assert "Dale's law: obeyed" in capsys.readouterr().out
    assert json.loads((tmp_path / "v.json").read_text())["dale"]["obeys"] is True


@pytest.mark.ngspice
def test_check_reports_dale(tmp_path, capsys):
    spec = tmp_path / "d.yaml"
    spec.write_text(json.dumps({"name": "d", "convention": "ctrnn", "tau": 1e-3, "w": [[0.5, 0.4], [-0.3, -0.2]],
                                "w_in": [[1.0], [0.0]], "inputs": [{"kind": "step", "value": 1.0, "at": 1e-4}],
                                "t_stop": 2e-3}))
    assert main(["check", str(spec), "-v", "--report", str(tmp_path / "c.json")]) == 0
    assert "Dale's law: not obeyed (2 of 2 neurons" in capsys.readouterr().out
    report = json.loads((tmp_path / "c.json").read_text())
    assert report["dale"]["obeys"] is False and report["dale"]["mixed"] == 2
