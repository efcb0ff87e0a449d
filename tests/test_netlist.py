"""Netlist text: determinism, element naming, number format, header (no ngspice needed)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import NETLISTS, random_spec
from rnn2spice import __version__
from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.errors import NetlistError, UsageError
from rnn2spice.circuit.writer import fmt, write_netlist
from rnn2spice.network.load import load_spec
from rnn2spice.network.spec import spec_from_dict


def test_number_format_round_trips_numpy_scalars():
    for x in (np.float64(1e-9) * 3, np.float32(0.1), 1 / 3, -2.5e-300, 1e300, 0.0, np.int64(7)):
        text = fmt(x)
        assert "np." not in text and float(text) == float(x)
    with pytest.raises(NetlistError):
        fmt(float("nan"))


def test_compiling_twice_gives_identical_text():
    spec = random_spec(7, seed=1, kinds=("sine", "pulse"))
    a, b = compile_rnn(spec).netlist, compile_rnn(spec).netlist
    assert a == b
    assert "\r" not in a and a.endswith(".end\n")


def test_parallel_vccs_elements_follow_the_identification():
    spec = spec_from_dict({"name": "three", "tau": [1e-3, 2e-3, 4e-3], "w": [[0, 250, 0], [0, 0, -100], [30, 0, 0]],
                           "w_in": [[0], [1000], [0]], "h0": [0.5, 0, -1], "t_stop": 1e-2,
                           "inputs": [{"kind": "step", "value": 1, "at": 0}], "circuit": {"capacitance": 2e-9}})
    text = compile_rnn(spec).netlist
    cards = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:] if line and line[0] not in "*.+"}
    c = 2e-9
    for k, tau in enumerate((1e-3, 2e-3, 4e-3)):
        assert float(cards[f"R_{k}"][2]) * c == pytest.approx(tau, rel=1e-15)  # tau = R C
        assert cards[f"C_{k}"][:2] == [f"h{k}", "0"]
    assert cards["C_0"][3] == "IC=0.5" and cards["C_2"][3] == "IC=-1"
    # G_k_j injects alpha_kj V(h_j) into node h_k: "G_k_j 0 h_k h_j 0 alpha"
    assert cards["G_0_1"] == ["0", "h0", "h1", "0", fmt(c * 250)]
    assert cards["G_1_2"] == ["0", "h1", "h2", "0", fmt(c * -100)]
    assert cards["G_2_0"] == ["0", "h2", "h0", "0", fmt(c * 30)]
    assert cards["GX_1_0"] == ["0", "h1", "x0", "0", fmt(c * 1000)]
    # zero weights emit no element
    assert sum(1 for name in cards if name.startswith("G")) == 4
    assert re.search(r"^\.tran \S+ 0\.01 0 \S+ uic$", text, re.M)


def test_header_records_name_identification_and_version():
    text = compile_rnn(load_spec(NETLISTS / "damped-oscillator.yaml")).netlist
    head = text.splitlines()[:6]
    assert head[0] == "rnn2spice: damped-oscillator"
    joined = "\n".join(head)
    assert f"rnn2spice {__version__}" in joined
    assert "tau_k = R_k C_k" in joined and "alpha = C w" in joined and "beta = C w_in" in joined
    series = compile_rnn(load_spec(NETLISTS / "damped-oscillator.yaml"), form="series").netlist
    assert "tau_k = L_k / R_k" in series and "rho = L w" in series


def test_golden_files_are_current():
    result = subprocess.run([sys.executable, str(NETLISTS / "regenerate.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_symmetric_w_compiles_to_zero_gyrators():
    spec = random_spec(6, seed=2, symmetric=True)
    compiled = compile_rnn(spec, coupling="gyrator")
    assert compiled.realisation.gyrators == 0 and compiled.realisation.reciprocal
    assert "gyrator" not in compiled.netlist.split(".options")[0].lower().replace("coupling gyrator", "")


def test_non_symmetric_w_needs_gyrators():
    spec = random_spec(6, seed=2)
    compiled = compile_rnn(spec, coupling="gyrator")
    k = (spec.w - spec.w.T) * spec.capacitance / 2
    assert compiled.realisation.gyrators == np.count_nonzero(np.triu(k, 1)) > 0
    assert not compiled.realisation.reciprocal
    assert compiled.netlist.count("\nXG_") == compiled.realisation.gyrators


def test_passive_network_has_no_negative_resistors():
    # symmetric w with non-negative off-diagonals and a dominant negative diagonal
    w = [[-3000, 1000, 500], [1000, -2500, 800], [500, 800, -2000]]
    spec = spec_from_dict({"name": "passive", "tau": 1e-3, "w": w, "h0": [1, 0, -1], "t_stop": 5e-3})
    real = compile_rnn(spec, coupling="gyrator").realisation
    assert real.passive and real.reciprocal
    assert real.negative_resistors == 0 and real.positive_resistors == 6 and real.gyrators == 0


def test_unsupported_combinations_are_refused_clearly():
    tanh = random_spec(3, seed=1, activation="tanh", convention="ctrnn")
    with pytest.raises(UsageError, match="gyrator"):
        compile_rnn(tanh, coupling="gyrator")
    with pytest.raises(UsageError, match="series"):
        compile_rnn(random_spec(3, seed=1), form="series", coupling="gyrator")
    with pytest.raises(UsageError, match="form"):
        compile_rnn(random_spec(3, seed=1), form="diagonal")


@pytest.mark.parametrize("bad", ["h0\n.control", "x y", "a;b", "", "ü", "{g}"])
def test_writer_refuses_unsafe_node_names(bad):
    circuit = ir.Circuit("t", (), (ir.Resistor("R_0", bad, "0", 1.0),), ir.Transient(1e-6, 1e-3, 1e-6), ir.Options())
    with pytest.raises(NetlistError):
        write_netlist(circuit)


def test_antisymmetric_coupling_is_passive_with_gyrators_only():
    # the damped oscillator's w is antisymmetric: S = 0, only lossless gyrators
    real = compile_rnn(load_spec(NETLISTS / "damped-oscillator.yaml"), coupling="gyrator").realisation
    assert real.gyrators == 1 and real.positive_resistors == real.negative_resistors == 0
    assert real.passive and not real.reciprocal
