"""The equivalence certificate: netlist text -> state equations, compared with the spec."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re

import numpy as np
import pytest

from conftest import NETLISTS, random_spec
from rnn2spice.workflows import pipeline as harness
from rnn2spice.circuit import ir
from rnn2spice.cli import check as check_command
from rnn2spice.cli.common import exit_code
from rnn2spice.errors import CertificateFailed
from rnn2spice.analysis.certificate import certify, verify_netlist
from rnn2spice.analysis.mna import state_equations
from rnn2spice.circuit.reader import GYRATOR_TEXT, parse_netlist
from rnn2spice.cli.app import main
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.errors import NetlistError
from rnn2spice.circuit.writer import GYRATOR_SUBCKT, vector_name
from rnn2spice.network.load import load_spec
from rnn2spice.network.spec import spec_from_dict

EXAMPLE = NETLISTS / "damped-oscillator.yaml"


def _goldens():
    spec = importlib.util.spec_from_file_location("regenerate", NETLISTS / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.GOLDENS


GOLDENS = _goldens()
#: (form, coupling) pairs the compiler supports, per activation.
REALISATIONS = {"linear": (("parallel", "vccs"), ("parallel", "gyrator"), ("series", "vccs")),
                "tanh": (("parallel", "vccs"), ("series", "vccs"))}


def _replace_line(text: str, pattern: str, new_line) -> str:
    """Replace the one line matching ``pattern`` (regex from the start) by new_line(old)."""
    lines = text.split("\n")
    hits = [i for i, line in enumerate(lines) if re.match(pattern, line)]
    assert len(hits) == 1, (pattern, hits)
    lines[hits[0]] = new_line(lines[hits[0]])
    return "\n".join(lines)


def _scale_last_field(factor: float):
    def edit(line: str) -> str:
        head, value = line.rsplit(" ", 1)
        if "=" in value:
            key, val = value.split("=", 1)
            return f"{head} {key}={format(float(val) * factor, '.17g')}"
        return f"{head} {format(float(value) * factor, '.17g')}"
    return edit


# ----------------------------------------------------------------------------- passes

@pytest.mark.parametrize("spec_name, form, coupling, golden", GOLDENS, ids=[g[3] for g in GOLDENS])
def test_every_golden_netlist_is_certified(spec_name, form, coupling, golden):
    spec = load_spec(NETLISTS / spec_name)
    cert = verify_netlist((NETLISTS / golden).read_text(), spec)
    assert cert.passed, cert.describe()
    assert cert.a_error <= 1e-14 and cert.b_error <= 1e-14
    assert cert.h0_error is not None and cert.h0_error <= 1e-14
    assert cert.form == form
    assert cert.linearised == (spec.activation != "linear")
    assert cert.drive_error is not None and cert.drive_error <= 1e-12  # every network: the constant drive too
    assert (cert.op_error is None) == (spec.activation == "linear")
    assert cert.n == spec.n and cert.m == spec.m


CASES = [(n, act, conv, form, coupling, m)
         for i, n in enumerate((2, 3, 5, 8, 13, 21, 30))
         for act in ("linear", "tanh")
         for conv in ("paper", "ctrnn")
         for form, coupling in REALISATIONS[act]
         for m in ((0, 1, 2)[(i + len(conv)) % 3],)]


@pytest.mark.parametrize("n, activation, convention, form, coupling, m", CASES)
def test_random_networks_are_certified(n, activation, convention, form, coupling, m):
    spec = random_spec(n, seed=100 + n, kinds=("step", "sine")[:m], activation=activation, convention=convention)
    compiled = compile_rnn(spec, form=form, coupling=coupling)
    cert = certify(compiled)
    assert cert.passed, cert.describe()
    eq = cert.equations
    assert eq.a.shape == (n, n) and eq.b.shape == (n, m)
    np.testing.assert_allclose(eq.a, spec.state_matrix(), rtol=0, atol=1e-12 * np.abs(spec.state_matrix()).max())
    if activation == "linear" and convention == "ctrnn":  # constant drive lam * b from the bias
        assert cert.drive_error <= 1e-12


@pytest.mark.parametrize("form, coupling", REALISATIONS["linear"])
def test_ac_netlists_are_certified(form, coupling):
    spec = random_spec(7, seed=3, kinds=("step", "pulse"))
    compiled = compile_rnn(spec, form=form, coupling=coupling, ac=(1.0, 1e5, 5))
    cert = certify(compiled)
    assert cert.passed and cert.h0_error is None  # an AC netlist has no initial state


def test_parser_reads_back_what_the_writer_wrote():
    spec = random_spec(6, seed=8, kinds=("step", "pulse", "sine", "pwl"), convention="ctrnn")
    for form, coupling in REALISATIONS["linear"]:
        compiled = compile_rnn(spec, form=form, coupling=coupling)
        net = parse_netlist(compiled.netlist)
        assert len(net.elements) == len(compiled.circuit.expanded_elements())
        for got, want in zip(net.elements, compiled.circuit.expanded_elements()):
            assert type(got) is type(want)
            for f in dataclasses.fields(want):
                a, b = getattr(got, f.name), getattr(want, f.name)
                if f.name == "waveform":
                    if b is not None:  # a step is written as a PWL: compare the values
                        t = np.linspace(0, spec.t_stop, 101)
                        np.testing.assert_array_equal(a.value(t, spec.t_stop), b.value(t, spec.t_stop))
                elif isinstance(b, str):
                    assert a == b.lower()
                else:
                    assert a == b  # numbers round-trip exactly
        assert net.saves == tuple(vector_name(p) for p in compiled.circuit.saves)
        assert net.analysis == compiled.circuit.analysis
        # temp and method are written only when set (a build from real parts)
        assert net.options == {k: v for k, v in dataclasses.asdict(compiled.circuit.options).items() if v is not None}


def test_gyrator_model_matches_the_writer():
    assert GYRATOR_TEXT == GYRATOR_SUBCKT


# ----------------------------------------------------------------------------- failures

@pytest.fixture(scope="module")
def random20():
    spec = load_spec(NETLISTS / "random20.yaml")
    return spec, (NETLISTS / "random20.cir").read_text()


def _fails_at(text, spec, matrix, row, col):
    cert = verify_netlist(text, spec)
    assert not cert.passed
    w = cert.worst
    assert (w["matrix"], w["row"], w["col"]) == (matrix, row, col), w
    assert "circuit" in w and "spec" in w and w["relative_error"] > cert.tolerance
    assert f"{matrix}[{row}" in cert.describe()
    return cert


def test_one_perturbed_vccs_is_found(random20):
    spec, text = random20
    bad = _replace_line(text, r"G_3_7 ", _scale_last_field(1 + 1e-9))
    cert = _fails_at(bad, spec, "A", 3, 7)
    assert cert.worst["row_probe"] == "v(h3)" and cert.worst["col_probe"] == "v(h7)"
    assert cert.worst["circuit"] == pytest.approx(cert.worst["spec"] * (1 + 1e-9), rel=1e-12)


def test_one_perturbed_input_gain_is_found(random20):
    spec, text = random20
    cert = _fails_at(_replace_line(text, r"GX_5_1 ", _scale_last_field(1.001)), spec, "B", 5, 1)
    assert cert.worst["col_input"] == "Vx_1"


def test_perturbed_cell_resistor_capacitor_and_ic_are_found(random20):
    spec, text = random20
    _fails_at(_replace_line(text, r"R_4 ", _scale_last_field(1.000001)), spec, "A", 4, 4)
    cert = verify_netlist(_replace_line(text, r"C_9 ", lambda line: line.replace("1.0000000000000001e-09",
                                                                                  "1.01e-09", 1)), spec)
    assert not cert.passed and cert.worst["row"] == 9
    cert = verify_netlist(_replace_line(text, r"C_2 ", lambda line: line.rsplit("=", 1)[0] + "=0.5"), spec)
    assert not cert.passed and (cert.worst["matrix"], cert.worst["row"]) == ("h0", 2)


def test_removed_element_is_found(random20):
    spec, text = random20
    bad = "\n".join(line for line in text.split("\n") if not line.startswith("G_11_2 "))
    cert = _fails_at(bad, spec, "A", 11, 2)
    assert cert.worst["circuit"] == 0.0


def test_gyrator_sign_swap_is_found():
    spec = load_spec(EXAMPLE)
    text = (NETLISTS / "damped-oscillator.gyrator.cir").read_text()
    bad = _replace_line(text, r"XG_0_1 ", lambda line: line.replace("g=", "g=-"))
    cert = verify_netlist(bad, spec)
    assert not cert.passed and cert.a_error == pytest.approx(2.0)
    assert cert.worst["matrix"] == "A" and {cert.worst["row"], cert.worst["col"]} == {0, 1}
    assert cert.worst["circuit"] == pytest.approx(-cert.worst["spec"])


def test_series_and_tanh_perturbations_are_found():
    spec = random_spec(9, seed=4, kinds=("step",), convention="ctrnn")
    text = compile_rnn(spec, form="series").netlist
    _fails_at(_replace_line(text, r"H_2_6 ", _scale_last_field(1 + 1e-8)), spec, "A", 2, 6)
    _fails_at(_replace_line(text, r"EX_7_0 ", _scale_last_field(-1)), spec, "B", 7, 0)
    cert = verify_netlist(_replace_line(text, r"VB_4 ", _scale_last_field(1.5)), spec)
    assert not cert.passed and (cert.worst["matrix"], cert.worst["row"]) == ("drive", 4)

    tspec = random_spec(6, seed=5, kinds=("pulse",), activation="tanh", convention="ctrnn")
    for form, probe in (("parallel", "v(h1)"), ("series", "i(vs_1)")):
        text = compile_rnn(tspec, form=form).netlist
        def bump(line):
            gain = re.search(r"=([^*]+)\*", line).group(1)
            return line.replace(gain, format(float(gain) * 1.0001, ".17g"), 1)

        cert = verify_netlist(_replace_line(text, r"B_1 ", bump), tspec)
        assert not cert.passed and cert.worst["row"] == 1 and cert.worst["row_probe"] == probe
        # a weight inside tanh is neuron 3's argument's coefficient on state 0, not A[3, 0]
        _fails_at(_replace_line(text, r"(GZ|FZ)_3_0 ", _scale_last_field(1.01)), tspec,
                  "argument (states) of b_3", 0, None)


def test_swapped_probes_and_wrong_activation_fail():
    spec = load_spec(EXAMPLE)
    text = (NETLISTS / "damped-oscillator.cir").read_text()
    cert = verify_netlist(text.replace(".save v(h0) v(h1)", ".save v(h1) v(h0)"), spec)
    assert not cert.passed  # the state order is part of the claim
    tanh = load_spec(NETLISTS / "tanh4.yaml")
    cert = verify_netlist(text, tanh)
    assert not cert.passed and cert.a_error == float("inf")
    cert = verify_netlist((NETLISTS / "tanh4.cir").read_text(), spec)
    assert not cert.passed and "shape" in cert.worst.get("problem", "")


# ----------------------------------------------------------------------------- refusals

BASE = (NETLISTS / "damped-oscillator.cir").read_text()
BASE_LINES = BASE.split("\n")


def _insert(line: str, at: int = 9) -> str:
    return "\n".join(BASE_LINES[:at] + [line] + BASE_LINES[at:])


@pytest.mark.parametrize("line", [
    ".control", ".include /etc/passwd", "shell rm -rf /", ".lib models.lib", ".param g=1",
    ".model dmod d", "D1 h0 0 dmod", "M1 h0 h1 0 0 nmos", "K1 L_0 L_1 0.5", "S1 h0 0 h1 0 sw", "Q1 a b c npn",
    "T1 a 0 b 0 z0=50", ".func f(x) {x}", ".ic v(h0)=1", ".nodeset v(h0)=0", ".option reltol=1e-3",
    "R_9 h0 0 1k", "R_9 h0 0 1e-9F", "R_9 h0 0 nan", "R_9 h0 0 inf", "R_9 h0 0 1..2", "R_9 h0 0 {1/2}",
    "R_9 h0 0 0", "R_9 h0 gnd 1", "R_9 h0 0 1 2", "R_9 h0", "C_9 h0 0 -1e-9 IC=0", "G_9 0 h0 h1 0",
    "B_9 0 h0 I=1*exp(V(h1))", "B_9 0 h0 V=v(h1)*v(h1)", "X_9 h0 h1 other g=1", "X_9 h0 h1 gyrator r=1",
    "V_9 h2 0 DC 0 AC 1 90", "V_9 h2 0 PULSE(0 1 0 1 1 1)", "V_9 h2 0 DC 0 SIN(0 1 1e3 1e-3 0 0)",
    "I_9 0 h0 1e-6", "F_9 0 h0 Vnone 1", "H_9 a 0 R_0 1", "* comment with a ; semicolon", " R_9 h0 0 1",
    "+ 1 2", ".tran 1e-6 1e-3", ".save all", ".end\nR_9 h0 0 1", "R_0 h0 0 5",
])
def test_lines_outside_the_subset_are_refused_with_their_line_number(line):
    text = _insert(line)
    with pytest.raises(NetlistError) as info:
        parse_netlist(text)
    message = str(info.value)
    lineno = int(re.search(r"line (\d+)", message).group(1))
    assert 1 <= lineno <= len(text.split("\n"))
    shown = text.split("\n")[lineno - 1].strip()
    assert repr(shown[:60])[1:-1][:40] in message or shown[:40] in message, (message, shown)
    if not line.startswith((".end", "R_0", "F_9", "H_9", ".tran")):  # those name the first card
        assert lineno == 10, message


@pytest.mark.parametrize("text, where", [
    ("*ng_script\n.control\nshell ls\n.endc\n.end\n", "line 1"),
    (".control\n.end\n", "line 1"),
    ("title\nR_0 h0 0 1\n", "missing .end"),
    ("title\nR_0 h0 0 1\nC_0 h0 0 1e-9 IC=0\n.save v(h0)\n.end\n", "no analysis"),
    ("title\n.subckt other a b\nR1 a b 1\n.ends other\n.end\n", "line 2"),
    ("title\nV_0 x0 0 DC 0\nR_0 h0 0 1\n+ 5\n.end\n", "line 4"),
    ("title\nR_0 h0 0 1\nC_0 h0 0 1e-9 IC=0\n.save v(h7)\n.tran 1 2\n.end\n", "line 4"),
    ("title \x1b[2J\n.end\n", "line 1"),
    ("", "empty"),
])
def test_malformed_netlists_are_refused(text, where):
    with pytest.raises(NetlistError, match=re.escape(where)):
        parse_netlist(text)


@pytest.mark.parametrize("line", [
    "B_9 0 h0 I=1*exp(V(h1))", "B_9 0 h0 V=v(h1)*v(h1)", "B_9 h9 0 V=tanh(V(h0))*1.01+sin(time)",
    "B_9 h9 0 V=1*atan(V(h0))", ".control", ".include /etc/passwd", "shell rm -rf /", ".param g=1",
    "T1 a 0 b 0 z0=50", "X_9 h0 h1 other g=1", "R_9 h0 0 1k", " R_9 h0 0 1", "I_9 0 h0 1e-6",
])
def test_a_netlist_outside_the_subset_is_a_fail_naming_the_line(line):
    """Issue 18's boundary (docs/certificate.md): a netlist that reads as one but that the
    certificate cannot prove equal is a FAIL naming the line and why, never bad input; it is
    refused before ngspice sees it."""
    cert = verify_netlist(_insert(line), load_spec(EXAMPLE))
    assert not cert.passed and cert.values_from.startswith("not read")
    text = cert.describe()
    assert "line 10" in text and line.split()[0].strip() in text, text


@pytest.mark.parametrize("text, why", [
    ("title \x1b[2J\n.end\n", "control or non-ASCII"),
    ("title\nR_0 h0 0 caf\u00e9\n.end\n", "control or non-ASCII"),
    ("", "empty"),
    ("title\nR_0 h0 0 1\n", "no .end card"),
    ("name: osc\ntau: 1.0e-3\nw: [[0, 1], [-1, 0]]\n", "no .end card"),   # a spec given as the netlist
    ("title\nR_0 h0 0 " + "1" * 300 + "\n.end\n", "300 characters"),
])
def test_text_that_is_not_a_netlist_is_bad_input(text, why):
    from rnn2spice.errors import NetlistUnreadable

    with pytest.raises(NetlistUnreadable, match=re.escape(why)):
        verify_netlist(text, load_spec(EXAMPLE))
    assert exit_code(NetlistUnreadable("x")) == 2


def test_verify_exit_codes_on_both_sides_of_the_boundary(tmp_path, capsys):
    """Exit 1 for every netlist not proved equal, the element or line named; exit 2 only for
    input that is not read (missing, not text, not a netlist, beyond the reading limits)."""
    bad = tmp_path / "bad.cir"
    tampered = _replace_line(BASE, r"G_1_0 ", lambda line: "B_9 h9 0 V=tanh(V(h0))*1.01+sin(time)")
    for text, code, where in ((tampered, 1, "b_9"), (_insert("B_9 h9 0 V=1*atan(V(h0))"), 1, "line 10"),
                              (_insert("R_9 h0 nfresh 1000"), 1, "r_9 (line 10)"),
                              (_insert("XG_9 nf1 nf2 gyrator g=1e-06").replace(
                                  "R_0 ", "\n".join(GYRATOR_TEXT) + "\nR_0 ", 1), 1, "xg_9"),
                              ("title\nR_0 h0 0 1\n", 2, "no .end card"),
                              (BASE.replace("1000000", "\u00b5", 1), 2, "ascii")):
        bad.write_text(text, encoding="utf-8")
        assert main(["verify", str(EXAMPLE), "--netlist", str(bad)]) == code, text
        out, err = capsys.readouterr()
        if code == 1:
            assert "FAIL" in out and where in out.lower() and not err, (out, err)
        else:
            assert where in err and "FAIL" not in out, (out, err)
    bad.write_bytes(b"\x00\xff\x00binary")
    assert main(["verify", str(EXAMPLE), "--netlist", str(bad)]) == 2
    assert main(["verify", str(EXAMPLE), "--netlist", str(tmp_path / "missing.cir")]) == 2


def test_a_circuit_of_another_shape_is_a_mismatch_naming_why():
    """Text inside the subset whose circuit is not a network of the spec's (no probes, a
    floating node, a chain of capacitors, an extra state) fails the certificate (exit 1)."""
    spec = load_spec(EXAMPLE)
    no_save = "\n".join(line for line in BASE_LINES if not line.startswith(".save"))
    floating = _insert("G_9 0 h0 floating 0 1")
    chain = _replace_line(BASE, r"C_1 ", lambda line: line.replace("h1 0", "h1 h0"))
    extra_state = _insert("C_9 extra 0 1e-9 IC=0\nR_9 extra h0 1e3")
    for text, why in ((no_save, "no .save"), (floating, "singular"),
                      (chain, "line 9: a capacitor must connect a node to ground"),
                      (extra_state, "not read by any probe: c_9")):
        cert = verify_netlist(text, spec)
        assert not cert.passed and why in cert.worst["problem"], cert.describe()
        assert why in cert.describe()


def test_gyrator_instance_needs_the_subcircuit():
    text = (NETLISTS / "damped-oscillator.gyrator.cir").read_text()
    stripped = "\n".join(line for line in text.split("\n") if line not in GYRATOR_SUBCKT)
    with pytest.raises(NetlistError, match="without the gyrator subcircuit"):
        parse_netlist(stripped)
    tampered = text.replace("G_b 0 b a 0 {-g}", "G_b 0 b a 0 {g}")
    with pytest.raises(NetlistError, match="line 6"):
        parse_netlist(tampered)


# ----------------------------------------------------------------------------- realisation

def _paper_spec(w, tau=1e-3):
    n = len(w)
    return spec_from_dict({"name": "r", "tau": tau, "w": w, "w_in": [[1000.0]] * n,
                           "inputs": [{"kind": "step", "value": 1.0}], "t_stop": 5e-3})


def _netlist_coupling_resistors(compiled):
    counts = parse_netlist(compiled.netlist).counts()
    cells = compiled.spec.n
    return counts["resistors"] - cells - counts["negative_resistors"], counts["negative_resistors"], counts["gyrators"]


def test_realisation_symmetric_w_needs_no_gyrator():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((5, 5)) * 300
    w = (w + w.T) / 2
    compiled = compile_rnn(_paper_spec(w.tolist()), coupling="gyrator")
    r = compiled.realisation
    assert r.gyrators == 0 and r.reciprocal is True
    pos, neg, gyr = _netlist_coupling_resistors(compiled)
    assert (pos, neg, gyr) == (r.positive_resistors, r.negative_resistors, 0)
    assert certify(compiled).passed


def test_realisation_nonsymmetric_w_needs_gyrators():
    spec = random_spec(6, seed=2)
    compiled = compile_rnn(spec, coupling="gyrator")
    r = compiled.realisation
    assert r.gyrators >= 1 and r.reciprocal is False and r.passive is False
    pos, neg, gyr = _netlist_coupling_resistors(compiled)
    assert (pos, neg, gyr) == (r.positive_resistors, r.negative_resistors, r.gyrators)
    assert gyr == np.count_nonzero(np.triu(spec.w - spec.w.T, 1))
    assert certify(compiled).passed


def test_realisation_passive_example():
    # symmetric, non-negative off-diagonal, diagonally dominant: positive resistors only
    w = [[-3000.0, 1000.0, 500.0], [1000.0, -2000.0, 0.0], [500.0, 0.0, -600.0]]
    compiled = compile_rnn(_paper_spec(w), coupling="gyrator")
    r = compiled.realisation
    assert r.passive is True and r.reciprocal is True
    assert r.negative_resistors == 0 and r.gyrators == 0 and r.positive_resistors == 2 + 3
    pos, neg, gyr = _netlist_coupling_resistors(compiled)
    assert (pos, neg, gyr) == (5, 0, 0)
    assert certify(compiled).passed
    assert compile_rnn(_paper_spec(w), coupling="vccs").realisation.passive is True


# ----------------------------------------------------------------------------- command line

def test_verify_cli_exit_codes(tmp_path, capsys):
    report = tmp_path / "v.json"
    assert main(["verify", str(EXAMPLE), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "realisation:" in out and "certificate" in out
    data = json.loads(report.read_text())
    assert data["passed"] is True and data["certificate"]["a_error"] <= 1e-12
    assert data["realisation"]["gyrators"] == 0

    assert main(["verify", str(EXAMPLE), "--coupling", "gyrator", "--report", str(report)]) == 0
    assert json.loads(report.read_text())["realisation"]["gyrators"] == 1

    bad = tmp_path / "bad.cir"
    bad.write_text(_replace_line(BASE, r"G_1_0 ", _scale_last_field(1.01)))
    assert main(["verify", str(EXAMPLE), "--netlist", str(bad), "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "A[1, 0]" in out
    data = json.loads(report.read_text())
    assert data["passed"] is False and data["certificate"]["worst"]["row"] == 1

    good = tmp_path / "good.cir"
    good.write_text((NETLISTS / "damped-oscillator.series.cir").read_text())
    assert main(["verify", str(EXAMPLE), "--netlist", str(good)]) == 0

    bad.write_text(_insert(".control"))   # a netlist with a card outside the subset: FAIL, not bad input
    assert main(["verify", str(EXAMPLE), "--netlist", str(bad)]) == 1
    assert "line 10" in capsys.readouterr().out
    assert main(["verify", str(EXAMPLE), "--netlist", str(tmp_path / "missing.cir")]) == 2
    assert main(["verify", str(EXAMPLE), "--netlist", str(tmp_path)]) == 2  # a directory
    assert main(["verify", str(tmp_path / "missing.yaml")]) == 2
    assert main(["verify", str(EXAMPLE), "--tolerance", "-1"]) == 2
    assert main(["verify", str(EXAMPLE), "--form", "series", "--coupling", "gyrator"]) == 2


def _sabotaged_compile(real_compile):
    """compile_rnn whose circuit has one coupling gain 1 % off."""
    def compile_(spec, **kwargs):
        compiled = real_compile(spec, **kwargs)
        elements = tuple(dataclasses.replace(e, gm=e.gm * 1.01) if isinstance(e, ir.Vccs) and e.name == "G_1_0" else e
                         for e in compiled.circuit.expanded_elements())
        return dataclasses.replace(compiled, circuit=dataclasses.replace(compiled.circuit, elements=elements))
    return compile_


def test_check_stops_before_simulating_when_the_certificate_fails(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(harness, "compile_rnn", _sabotaged_compile(compile_rnn))
    monkeypatch.setattr(check_command, "compile_rnn", _sabotaged_compile(compile_rnn))  # the CLI compiles once itself

    def no_simulation(*args, **kwargs):
        raise AssertionError("simulated although the certificate failed")

    monkeypatch.setattr(harness, "simulate", no_simulation)
    with pytest.raises(CertificateFailed) as info:
        harness.check(load_spec(EXAMPLE))
    assert exit_code(info.value) == 1 and info.value.certificate.worst["row"] == 1
    report = tmp_path / "r.json"
    assert main(["check", str(EXAMPLE), "--report", str(report)]) == 1
    assert "certificate failed" in capsys.readouterr().err
    data = json.loads(report.read_text())
    assert data["passed"] is False and data["stopped_by"] == "certificate"
    assert data["certificate"]["passed"] is False and data["certificate"]["worst"]["matrix"] == "A"


@pytest.mark.ngspice
def test_check_reports_the_certificate(tmp_path, capsys):
    report = tmp_path / "r.json"
    assert main(["check", str(NETLISTS / "tanh4.yaml"), "--form", "series", "-v", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"certificate .*exact nonlinear equations.*PASS", out) and "realisation:" in out
    data = json.loads(report.read_text())
    assert data["certificate"]["passed"] is True and data["certificate"]["a_error"] <= 1e-12
    assert "certificate" in data["timings_s"] and data["realisation"]["behavioural_sources"] == 4


# ----------------------------------------------------------------------------- issue 18: the proof

def _fails_naming(text, spec, *words, **kwargs):
    cert = verify_netlist(text, spec, ngspice=False, **kwargs)
    assert not cert.passed, cert.describe()
    for word in words:
        assert word.lower() in cert.describe().lower(), (word, cert.describe())
    return cert


def test_nonlinear_tamperings_of_the_issue_fail_naming_what_differs():
    """Each tampering the certificate used to pass (issue 18) fails and names the element."""
    tanh4 = load_spec(NETLISTS / "tanh4.yaml")
    par = (NETLISTS / "tanh4.cir").read_text()
    assert verify_netlist(par, tanh4, ngspice=False).passed
    # a bias current x 50, another sign-flipped: the argument's offset, naming the source
    _fails_naming(_replace_line(par, r"IZ_1 ", _scale_last_field(50)), tanh4, "argument (offset) of b_1", "iz_1")
    _fails_naming(_replace_line(par, r"IZ_0 ", _scale_last_field(-1)), tanh4, "argument (offset) of b_0", "iz_0")
    # an extra current source into a state node
    _fails_naming(par.replace(".options", "I 0 h2 DC 2e-6\n.options"), tanh4, "drive[2]", "i (line")
    # argument resistor doubled, source gain halved: 0.5 tanh(2 z), same slope at 0
    both = _replace_line(_replace_line(par, r"RZ_3 ", _scale_last_field(2)), r"B_3 ",
                         lambda line: line.replace(re.search(r"=([^*]+)\*", line).group(1),
                                                   repr(float(re.search(r"=([^*]+)\*", line).group(1)) / 2)))
    _fails_naming(both, tanh4, "of b_3")
    # the op-amp form's reference 1 V -> 3 V
    opamp = (NETLISTS / "tanh4.opamp.cir").read_text()
    assert verify_netlist(opamp, tanh4, ngspice=False).passed
    _fails_naming(_replace_line(opamp, r"VREFN ", lambda line: line.replace("DC -1", "DC -3")), tanh4,
                  "argument (offset)", "vrefn")
    # a series loop EMF in a sense source
    series = (NETLISTS / "tanh4.series.cir").read_text()
    _fails_naming(_replace_line(series, r"Vs_0 ", lambda line: line.replace("DC 0", "DC 0.5")), tanh4, "vs_0")
    # rate series: the drive VB x (-10)
    relu4 = load_spec(NETLISTS / "rate-relu4.yaml")
    rate = (NETLISTS / "rate-relu4.series.cir").read_text()
    assert verify_netlist(rate, relu4, ngspice=False).passed
    _fails_naming(_replace_line(rate, r"VB_1 ", _scale_last_field(-10)), relu4, "drive[1]", "vb_1")


def test_relu_made_into_min_fails():
    """-relu(-z) = min(z, 0): the argument negated and the gain negated (same slope where z > 0)."""
    spec = random_spec(3, seed=7, kinds=("step",), activation="relu", convention="ctrnn")
    text = compile_rnn(spec).netlist
    flipped = text
    for line in text.split("\n"):
        if re.match(r"(GZ|GZX|IZ)_1_?\d* ", line) or re.match(r"IZ_1 ", line):
            flipped = _replace_line(flipped, re.escape(line.split()[0]) + " ", _scale_last_field(-1))
    flipped = _replace_line(flipped, r"B_1 ", lambda line: line.replace("I=", "I=-"))
    cert = _fails_naming(flipped, spec, "of b_1")
    assert cert.op_error > 1.0


def test_series_exact_zero_weights_certify_and_zeros_are_exact():
    """Issue 18's false failure: exact zero weights in the series form are zero by structure."""
    spec = spec_from_dict({"name": "zeros", "tau": 1e-3, "w": [[-500, 0, 16], [-551, -500, 2013],
                                                                [-5422, -3778, -850]], "h0": [0.5, 0.5, 0.5],
                           "t_stop": 5e-3})
    for form in ("series", "parallel"):
        cert = certify(compile_rnn(spec, form=form))
        assert cert.passed, cert.describe()
        assert cert.equations.a[0, 1] == 0.0


def test_h0_and_entries_are_judged_each_on_its_own_scale():
    spec = spec_from_dict({"name": "scales", "tau": [1e-3, 1e-3, 1e-3], "w": [[0, 0, 0], [0, 0, 0], [0, 0, 0]],
                           "h0": [1e10, 0, 1e-6], "t_stop": 5e-3})
    text = compile_rnn(spec).netlist
    assert verify_netlist(text, spec, ngspice=False).passed
    bad = _replace_line(_replace_line(text, r"C_1 ", lambda line: line.replace("IC=0", "IC=1e-3")),
                        r"C_2 ", lambda line: re.sub(r"IC=\S+", "IC=-1e-6", line))
    cert = _fails_naming(bad, spec, "h0[")
    assert cert.worst["matrix"] == "h0" and cert.worst["row"] in (1, 2)


def test_loose_numerics_fail_naming_option_and_both_values():
    spec = load_spec(EXAMPLE)
    compiled = compile_rnn(spec)
    text = compiled.netlist
    loose = re.sub(r"\.options .*", ".options reltol=0.5 trtol=1e6 chgtol=1 abstol=1 vntol=1", text)
    cert = _fails_naming(loose, spec, ".options reltol is 0.5", "trtol is 1000000.0", "chgtol", "abstol", "vntol")
    assert "looser than" in cert.describe()
    tran = next(line for line in text.split("\n") if line.startswith(".tran"))
    t = tran.split()
    long_step = " ".join(t[:4] + [t[2]] + t[5:])   # maximum step = t_stop
    _fails_naming(text.replace(tran, long_step), spec, "maximum step")
    # the compiled circuit's own options and step certify; tighter ones too
    assert verify_netlist(text, spec, ngspice=False).passed
    tight = re.sub(r"reltol=\S+", "reltol=1e-9", text)
    assert verify_netlist(tight, spec, ngspice=False).passed


def test_an_element_with_no_effect_is_named():
    spec = load_spec(NETLISTS / "tanh4.yaml")
    opamp = (NETLISTS / "tanh4.opamp.cir").read_text()
    loaded = opamp.replace(".options", "R_load o1 0 1000\n.options")   # an ideal op-amp output: no effect
    _fails_naming(loaded, spec, "r_load", "no effect")


def test_unstable_networks_are_reported_with_growth_rate_and_largest_state():
    from rnn2spice.analysis.transfer import describe_stability, stability

    spec = spec_from_dict({"name": "grow", "tau": 1e-3, "w": [[3000.0, 0.0], [500.0, 1500.0]], "h0": [1.0, 0.5],
                           "t_stop": 1e-2, "circuit": {"state_scale": 0.5}})
    states = np.array([[1.0, 0.5], [7e13, -2e13]])
    info = stability(spec, states)
    assert info["unstable"] and info["growth_rate"] == pytest.approx(2000.0)
    assert info["largest_state"] == 7e13 and info["largest_state_in_circuit"] == 3.5e13
    line = describe_stability(info)
    assert "growth rate 2e+03 1/s" in line and "7e+13" in line and "saturates at its supply rails" in line
    assert "(-12 .. 12 V)" in line  # the default supply of a real build
    # unstable at h0 but bounded inside the rails (a saturating tanh network): nothing to warn of
    bounded = stability(spec, np.array([[1.0, 0.5], [0.9, -0.8]]))
    assert bounded["unstable"] and not bounded["beyond_rails"] and describe_stability(bounded) == ""
    railed = spec_from_dict({"name": "grow", "tau": 1e-3, "w": [[3000.0, 0.0], [500.0, 1500.0]], "h0": [1.0, 0.5],
                             "t_stop": 1e-2, "circuit": {"supply": [-5, 5]}})
    assert "(-5 .. 5 V)" in describe_stability(stability(railed, np.array([[1.0, 0.5], [6.0, 0.0]])))
    calm = spec_from_dict({"name": "calm", "tau": 1e-3, "w": [[0.0, 0.0], [0.0, 0.0]], "t_stop": 1e-2})
    assert describe_stability(stability(calm, np.zeros((2, 2)))) == ""


# ----------------------------------------------------------------------------- equivalent forms

TANH4 = (NETLISTS / "tanh4.cir").read_text()


@pytest.mark.parametrize("rewrite, expected", [
    # odd symmetry: -tanh(-z) is tanh(z), but not the form the certificate compares
    (lambda line: line.replace("I=9.9999999999999995e-07*tanh(V(z0))", "I=-9.9999999999999995e-07*tanh(-V(z0))"),
     "I=<g>*tanh(V(<node>))"),
    # the gain after the function
    (lambda line: line.replace("I=9.9999999999999995e-07*tanh(V(z0))", "I=tanh(V(z0))*9.9999999999999995e-07"),
     "I=<g>*tanh(V(<node>))"),
    # the gain split over two sources: each activation is one source
    (lambda line: line.replace("9.9999999999999995e-07", "5e-07") + "\n" + line.replace(
        "B_0 ", "B_9 ").replace("9.9999999999999995e-07", "4.9999999999999995e-07"), "one source"),
])
def test_equivalent_rewrites_fail_saying_the_expected_form(rewrite, expected):
    """docs/certificate.md: the certificate proves equality with one canonical form per
    activation (a behavioural source G*f(V(node)), f spelled as the writer spells it); an
    equivalent rewrite fails, and the failure says which form was expected."""
    spec = load_spec(NETLISTS / "tanh4.yaml")
    cert = verify_netlist(_replace_line(TANH4, r"B_0 ", rewrite), spec, ngspice=False)
    assert not cert.passed
    assert expected in cert.describe() and "b_0" in cert.describe().lower(), cert.describe()


def test_a_sigmoid_written_with_tanh_differently_fails_naming_the_sigmoid_form():
    spec = random_spec(3, seed=2, kinds=("step",), activation="sigmoid", convention="ctrnn")
    text = compile_rnn(spec).netlist
    b0 = next(line for line in text.split("\n") if line.startswith("B_0 "))
    arg = re.search(r"V\((\w+)\)", b0).group(1)
    gain = re.search(r"I=([^*]+)\*", b0).group(1)
    bad = text.replace(b0, f"B_0 {b0.split()[1]} {b0.split()[2]} I={gain}*(0.5*(1+tanh(V({arg})/2))) m=1")
    cert = verify_netlist(bad, spec, ngspice=False)
    assert not cert.passed
    assert "the spec's activation sigmoid is expected as I=<g>*(0.5+0.5*tanh(0.5*V(<node>)))" in cert.describe()
    # a tanh where the spec has a sigmoid, in the whitelist: the function differs, the form is named
    wrong = text.replace(b0, b0.replace(f"(0.5+0.5*tanh(0.5*V({arg})))", f"tanh(V({arg}))"))
    cert = verify_netlist(wrong, spec, ngspice=False)
    assert not cert.passed and "expected as <g>*(0.5+0.5*tanh(0.5*V(<node>)))" in cert.describe(), cert.describe()


@pytest.mark.parametrize("form", ["parallel", "series", "opamp"])
@pytest.mark.parametrize("convention", ["ctrnn", "rate"])
def test_a_neuron_with_all_weights_zero_certifies_and_a_load_on_its_summer_does_not(form, convention):
    """A summer whose weights are all 0 holds its output at 0 V by structure: its elements
    are the ones the circuit needs to be solvable (explained), and an extra element reading
    that 0 V node has no effect (unexplained, named)."""
    from rnn2spice.network.spec import spec_from_dict

    spec = spec_from_dict({"name": "zero", "tau": [1e-3, 2e-3, 1e-3], "convention": convention,
                           "activation": "tanh", "w": [[0.5, 0.0, -1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.3]],
                           "w_in": [[1.0], [0.0], [0.0]], "bias": [0.1, 0.0, 0.0], "h0": [0.2, 0.0, -0.1],
                           "inputs": [{"kind": "step", "value": 1.0, "at": 1e-3}], "t_stop": 5e-3})
    compiled = compile_rnn(spec, form=form)
    cert = verify_netlist(compiled.netlist, spec, ngspice=False, analysis=compiled.circuit.analysis,
                          options=compiled.circuit.options)
    assert cert.passed, cert.describe()
    lines = compiled.netlist.split("\n")
    end = next(i for i, line in enumerate(lines) if line.startswith(".options"))
    nodes = {tok for line in lines[1:] if line[:1] in "RCEGBL" for tok in line.split()[1:3]} - {"0"}
    for node in sorted(nodes):   # a VCCS reading each node in turn, into a state: it must be named or change A
        probe = "h0" if form != "series" else next(n for n in sorted(nodes) if n.startswith("a"))
        bad = "\n".join(lines[:end] + [f"G_dx 0 {probe} {node} 0 1e-15"] + lines[end:])
        got = verify_netlist(bad, spec, ngspice=False, analysis=compiled.circuit.analysis,
                             options=compiled.circuit.options)
        assert not got.passed, f"G_dx reading {node} is certified\n{got.describe()}"


@pytest.mark.parametrize("name, element", [("damped-oscillator", "R_0 "), ("tanh4", "RZ_1 "), ("tanh4", "C_2 ")])
def test_a_0_volt_source_splitting_a_node_is_unexplained(name, element):
    """A 0 V source in series (a wire with an ammeter nobody reads) changes no equation, but
    the spec has no such wire: it fails, named; the series form's sense sources, whose
    currents F/H elements and probes read, certify (the golden series netlists)."""
    spec = load_spec(NETLISTS / f"{name}.yaml")
    text = (NETLISTS / f"{name}.cir").read_text()
    node = next(line for line in text.split("\n") if line.startswith(element)).split()[1]
    split = _replace_line(text, element, lambda line: line.replace(f" {node} ", " nsplit ", 1)
                          + f"\nV_dx {node} nsplit DC 0")
    cert = verify_netlist(split, spec, ngspice=False)
    assert not cert.passed and "v_dx (line" in cert.describe(), cert.describe()
    for series in ("damped-oscillator.series.cir", "tanh4.series.cir", "rate-relu4.series.cir"):
        spec = load_spec(NETLISTS / (series.split(".")[0] + ".yaml"))
        assert verify_netlist((NETLISTS / series).read_text(), spec, ngspice=False).passed, series


def test_a_bounded_network_beyond_the_rails_is_not_called_exponentially_growing():
    """A chaotic rate network (n = 120, g = 5) reached 20 with a growth rate at h0 of 2.4e3 1/s
    over 0.2 s: the line said "exp(474) over the run"; its states are bounded, only beyond the rails."""
    from rnn2spice.analysis.transfer import describe_stability, stability

    # rate convention: growth rate 1e3 (3 sech^2(1) - 1) = 260 1/s at h0, exp(52) over 0.2 s
    spec = spec_from_dict({"name": "grow", "tau": 1e-3, "w": [[3.0, 0.0], [0.5, 1.5]], "h0": [1.0, 0.5],
                           "t_stop": 0.2, "activation": "tanh", "convention": "rate"})
    info = stability(spec, np.array([[1.0, 0.5], [20.0, -3.0]]))
    assert info["unstable"] and info["bounded"] and info["beyond_rails"]
    line = describe_stability(info)
    assert "exp(" not in line and "largest state is 20" in line and "state_scale: 0.48" in line, line
    # 0.48 x 20 = 9.6 V = 0.8 of the 12-V rail
    grown = stability(spec, np.array([[1.0, 0.5], [7e13, -3.0]]))
    assert not grown["bounded"] and "exp(" in describe_stability(grown)
