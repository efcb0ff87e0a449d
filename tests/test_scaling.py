"""Time and state scales (THEORY.md 5): circuit.time_scale / circuit.state_scale, --time-scale / --state-scale.

The circuit realises the scaled network (tau / k, v = s h, sources s x(k t)); every result
is mapped back to model time and units, and the certificate compares with the scaled network.
"""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest

from rnn2spice.analysis.certificate import verify_netlist
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.cli.app import main
from rnn2spice.errors import SpecError, UsageError
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.ac import ac_check
from rnn2spice.workflows.build import opamp_error
from rnn2spice.workflows.pipeline import check, simulate

FORMS = (("parallel", "vccs"), ("series", "vccs"), ("opamp", "resistor"))
SCALES = ((1e-3, 0.1), (1.0, 10.0), (1e3, 0.1), (1e3, 10.0))


def network(activation="linear", convention="ctrnn", k=1.0, s=1.0, **extra) -> dict:
    data = dict(name="net", tau=[0.01, 0.02], w=[[0.2, -0.9], [0.7, 0.1]], w_in=[[1.0], [0.5]],
                convention=convention, activation=activation, h0=[0.3, -0.2],
                inputs=[dict(kind="pulse", low=0.0, high=0.5, delay=0.02, width=0.02, rise=1e-4, fall=1e-4)],
                t_stop=0.08, circuit=dict(time_scale=k, state_scale=s), **extra)
    if convention != "paper":
        data["bias"] = [0.1, -0.2]
    return data


def spec(*args, **kwargs):
    return spec_from_dict(network(*args, **kwargs))


# --------------------------------------------------------------------------- without ngspice

def test_defaults_and_keys():
    plain = spec_from_dict({k: v for k, v in network().items() if k != "circuit"})
    assert (plain.time_scale, plain.state_scale, plain.resistance) == (1.0, 1.0, 100e3)
    scaled = spec(k=1e3, s=10.0)
    assert (scaled.time_scale, scaled.state_scale) == (1e3, 10.0)
    assert scaled.with_scales(1.0, 1.0).time_scale == 1.0


@pytest.mark.parametrize("key", ["time_scale", "state_scale"])
@pytest.mark.parametrize("value", [0, -2.0, "abc", float("nan"), float("inf"), True])
def test_bad_scale_is_refused_naming_the_key(key, value):
    data = network()
    data["circuit"] = {key: value}
    with pytest.raises(SpecError) as err:
        spec_from_dict(data)
    assert err.value.field == f"circuit.{key}"


def test_out_of_range_combination_is_refused():
    with pytest.raises(SpecError, match="circuit.time_scale"):
        spec(k=1e308)                       # t_stop / k, tau / k underflow
    with pytest.raises(SpecError, match="circuit.state_scale"):
        spec_from_dict({**network(s=1e305), "h0": [1e10, 0.0]})
    with pytest.raises(SpecError, match="circuit.resistance"):
        spec_from_dict({**network(), "circuit": {"resistance": -1.0}})


@pytest.mark.parametrize("form,coupling", FORMS + (("parallel", "gyrator"),))
@pytest.mark.parametrize("k,s", SCALES)
def test_netlist_values(form, coupling, k, s):
    """tau values are tau / k, initial conditions s h0, sources s x(k t), the .tran card / k."""
    plain = compile_rnn(spec(), form=form, coupling=coupling)
    scaled = compile_rnn(spec(k=k, s=s), form=form, coupling=coupling)
    text = scaled.netlist
    ics = [float(v) for v in re.findall(r"IC=(\S+)", text)]
    if form == "parallel":
        # R_k = tau_k / (k C)
        for kk, tau in enumerate((0.01, 0.02)):
            r = float(re.search(rf"^R_{kk} h{kk} 0 (\S+)$", text, re.M).group(1))
            assert r * 1e-9 == pytest.approx(tau / k, rel=1e-14)
        assert ics == pytest.approx([0.3 * s, -0.2 * s], rel=1e-15)
    elif form == "series":
        for kk, tau in enumerate((0.01, 0.02)):
            r = float(re.search(rf"^R_{kk} b{kk} c{kk} (\S+)$", text, re.M).group(1))
            assert 1e-3 / r == pytest.approx(tau / k, rel=1e-14)
        assert ics == pytest.approx([0.3 * s, -0.2 * s], rel=1e-15)
    else:  # opamp: C_k carries beta s h0 (beta = 1 + 1/A)
        assert ics == pytest.approx([0.3 * s, -0.2 * s], rel=1e-5)
    pa, sa = plain.circuit.analysis, scaled.circuit.analysis
    assert sa.stop == pytest.approx(pa.stop / k, rel=1e-15)
    assert sa.max_step == pytest.approx(pa.max_step / k, rel=1e-12)
    src = next(e for e in scaled.circuit.elements if getattr(e, "name", "") == "Vx_0").waveform
    assert (src.high, src.delay, src.width) == pytest.approx((0.5 * s, 0.02 / k, 0.02 / k), rel=1e-15)
    assert "time_scale" in text and plain.netlist.count("time_scale") == 0


def test_certificate_compares_the_scaled_network_and_catches_tampering():
    for act, conv in (("linear", "ctrnn"), ("tanh", "ctrnn"), ("tanh", "paper"), ("tanh", "rate")):
        sp = spec(act, conv, k=1e3, s=10.0)
        text = compile_rnn(sp, form="parallel").netlist
        cert = verify_netlist(text, sp, ngspice=False)
        assert cert.passed, cert.describe()
        assert "against the scaled network" in cert.describe()
        assert cert.as_dict()["time_scale"] == 1e3 and cert.as_dict()["state_scale"] == 10.0
        # the same netlist is not the unscaled network, nor another scale
        assert not verify_netlist(text, sp.with_scales(1.0, 1.0), ngspice=False).passed
        assert not verify_netlist(text, sp.with_scales(None, 1.0), ngspice=False).passed
        assert not verify_netlist(text, sp.with_scales(1.0, None), ngspice=False).passed
        # tampering: the initial condition, a cell capacitor
        assert not verify_netlist(text.replace("IC=3", "IC=0.3", 1), sp, ngspice=False).passed
        assert not verify_netlist(re.sub(r"^(C_0 h0 0 )\S+", r"\g<1>2e-09", text, count=1, flags=re.M),
                                  sp, ngspice=False).passed


def test_refused_where_not_supported():
    with pytest.raises(UsageError, match="time_scale"):
        opamp_error(spec(k=10.0), gbw=1e6)


def test_cli_bad_values_exit_2(tmp_path, capsys):
    path = tmp_path / "n.yaml"
    path.write_text(json.dumps(network()))
    for flag, value in (("--time-scale", "0"), ("--time-scale", "-1"), ("--state-scale", "nan"),
                        ("--state-scale", "inf"), ("--time-scale", "1e308")):
        assert main(["compile", str(path), flag, value]) == 2
        err = capsys.readouterr().err
        assert flag in err and f"circuit.{flag[2:].replace('-', '_')}" in err
    bad = network()
    bad["circuit"] = {"time_scale": -3}
    path.write_text(json.dumps(bad))
    assert main(["compile", str(path)]) == 2
    assert "circuit.time_scale" in capsys.readouterr().err


def test_cli_overrides_the_spec(tmp_path, capsys):
    path = tmp_path / "n.yaml"
    path.write_text(json.dumps(network(k=5.0, s=2.0)))
    assert main(["compile", str(path), "--time-scale", "1", "--state-scale", "1"]) == 0
    out = capsys.readouterr().out
    assert "scale" not in out and float(re.findall(r"IC=(\S+)", out)[0]) == 0.3
    assert main(["compile", str(path), "--state-scale", "4"]) == 0
    out = capsys.readouterr().out
    assert float(re.findall(r"IC=(\S+)", out)[0]) == pytest.approx(1.2, rel=1e-15) and "model time / 5.0" in out


# --------------------------------------------------------------------------- ngspice

CASES = [(form, coupling, act, conv, k, s)
         for (form, coupling) in FORMS
         for act, conv in (("linear", "ctrnn"), ("tanh", "ctrnn"), ("tanh", "paper"), ("tanh", "rate"))
         for k, s in ((1e-3, 10.0), (1e3, 0.1))] + [
    ("parallel", "gyrator", "linear", "paper", 1e3, 10.0),
    ("parallel", "vccs", "linear", "paper", 1.0, 0.1),
    ("series", "vccs", "tanh", "ctrnn", 1e3, 1.0)]


@pytest.mark.ngspice
@pytest.mark.parametrize("form,coupling,act,conv,k,s", CASES)
def test_check_passes(form, coupling, act, conv, k, s):
    result = check(spec(act, conv, k=k, s=s), form=form, coupling=coupling)
    assert result.certificate.passed and result.passed, result.summary()
    assert result.time[-1] == pytest.approx(0.08, rel=1e-9)  # model time
    report = result.report()
    assert report["time_scale"] == k and report["state_scale"] == s
    assert report["certificate"]["time_scale"] == k


@pytest.mark.ngspice
@pytest.mark.parametrize("form", ["parallel", "series", "opamp"])
def test_simulate_is_in_model_time_and_units(form, tmp_path, capsys):
    """simulate's CSV of the scaled circuit equals the unscaled run within the accuracy."""
    path = tmp_path / "n.yaml"
    path.write_text(json.dumps(network("tanh", "ctrnn")))
    runs = {}
    for k, s in ((1.0, 1.0), (1e3, 10.0), (1e-3, 0.1)):
        assert main(["simulate", str(path), "--form", form, "--time-scale", str(k), "--state-scale", str(s)]) == 0
        rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
        data = np.array([[float(x) for x in row] for row in rows[1:]])
        runs[k] = data
    base = runs[1.0]
    for k in (1e3, 1e-3):
        t, h = runs[k][:, 0], runs[k][:, 1:]
        assert t[-1] == pytest.approx(0.08, rel=1e-9)
        ref = np.stack([np.interp(t, base[:, 0], base[:, j]) for j in (1, 2)], axis=1)
        assert np.max(np.abs(h - ref)) / np.max(np.abs(base[:, 1:])) < 5e-3
    plain = simulate(compile_rnn(spec("tanh", "ctrnn"), form=form))
    traj = simulate(compile_rnn(spec("tanh", "ctrnn", k=1e3, s=10.0), form=form))
    assert traj.time[:5] == pytest.approx(plain.time[:5], rel=1e-9)  # ngspice's steps, mapped back x k
    assert traj.states[:5] == pytest.approx(plain.states[:5], rel=1e-5)  # volts / s


@pytest.mark.ngspice
def test_ac_frequencies_in_model_units():
    sp = spec("linear", "paper", k=1e3, s=10.0)
    result = ac_check(sp, f_start=1.0, f_stop=1e3, points_per_decade=5)
    assert result.passed, result.summary()
    assert result.frequency[0] == pytest.approx(1.0) and result.frequency[-1] == pytest.approx(1e3)
    assert result.report()["f_start_hz"] == pytest.approx(1.0)


@pytest.mark.ngspice
@pytest.mark.parametrize("form", ["parallel", "series"])
def test_task_decisions_in_model_time(tmp_path, capsys, form):
    np.savez(tmp_path / "bi.npz", W=[[1.6, 0.3], [0.3, 1.4]], U=[[1.0], [0.6]], w_out=[[0.6, 0.6]], b_out=[0.0])
    assert main(["import", str(tmp_path / "bi.npz"), "--dt", "1e-3", "-o", str(tmp_path / "bi.yaml")]) == 0
    bistable = tmp_path / "bi.yaml"
    rc = main(["task", str(bistable), "--stimulus", "pulse", "--value", "-1", "--seed", "2", "--trials", "1",
               "--form", form, "--time-scale", "1e3", "--state-scale", "10", "--report", str(tmp_path / "r.json")])
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] and report["all_decisions_match"] and report["dt"] == 1e-3


def test_opamp_resistance_key():
    """circuit.resistance is the op-amp form's R0 (summer feedback, inverter resistors)."""
    data = network("tanh", "ctrnn", k=10.0, s=2.0)
    data["circuit"]["resistance"] = 1e4
    sp = spec_from_dict(data)
    compiled = compile_rnn(sp, form="opamp")
    rs = [e.resistance for e in compiled.circuit.expanded_elements() if getattr(e, "name", "").startswith(("RS_", "RIN_"))]
    assert rs and all(r == pytest.approx(1e4, rel=1e-4) for r in rs)
    assert verify_netlist(compiled.netlist, sp, ngspice=False).passed
    default = compile_rnn(spec("tanh", "ctrnn"), form="opamp")
    assert all(e.resistance == pytest.approx(1e5, rel=1e-4) for e in default.circuit.expanded_elements()
               if getattr(e, "name", "").startswith(("RS_", "RIN_")))
