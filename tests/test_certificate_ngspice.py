"""The certificate certifies what ngspice will simulate (issue 9, part 1).

Every number the certificate uses comes from ngspice after it has loaded the netlist
(rnn2spice.spice.inspect); numbers the compiler writes survive ngspice's own parser
(rnn2spice.circuit.spicenum, checked here against the real ngspice); the initial
conditions, the analysis and the input waveforms are part of the claim; and waveform
values ngspice would reinterpret are refused in the spec.
"""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest

from conftest import NETLISTS, random_spec
from rnn2spice.analysis.certificate import certify, verify_netlist
from rnn2spice.circuit import spicenum
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.circuit.reader import parse_netlist
from rnn2spice.circuit.writer import fmt
from rnn2spice.errors import NetlistError, SpecError
from rnn2spice.network.load import load_spec
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.spice.inspect import device_values
from rnn2spice.spice.ngspice import simulate_netlist
from rnn2spice.workflows import pipeline

pytestmark = pytest.mark.ngspice

#: The issue's network: neuron 1 drives neuron 0 a million times harder than either leaks,
#: and nothing drives neuron 1.  A is defective (double eigenvalue -1e3), so a stray
#: coupling from 0 to 1 of 1e-4 /s turns the decay into a 1e4 rad/s oscillation.
ISSUE = {"name": "issue9", "tau": 1.0e-3, "w": [[0.0, 1.0e12], [0.0, 0.0]], "h0": [1.0, 0.5], "t_stop": 5.0e-3}

#: What rnn2spice wrote for ISSUE before this fix (--coupling gyrator): ngspice reads the
#: resistors as 0.002 ohm (conductance 500 S) and the gyrator through its subcircuit
#: parameter as 500.0000000000001 S, so G(1, 0) = 500 - 500.0000000000001 is not 0.
OLD_ISSUE_NETLIST = """rnn2spice: issue9
.subckt gyrator a b g=1
G_a 0 a b 0 {g}
G_b 0 b a 0 {-g}
.ends gyrator
R_0 h0 0 1000000
C_0 h0 0 1.0000000000000001e-09 IC=1
R_1 h1 0 1000000
C_1 h1 0 1.0000000000000001e-09 IC=0.5
RS_0_1 h0 h1 0.0019999999999999996
RG_0 h0 0 -0.0019999999999999996
RG_1 h1 0 -0.0019999999999999996
XG_0_1 h0 h1 gyrator g=500.00000000000006
.options reltol=1e-05 abstol=1e-12 vntol=1e-06 chgtol=1e-14 trtol=7
.save v(h0) v(h1)
.tran 2e-06 0.005 0 2e-06 uic
.end
"""


def _simulated_error(text: str, spec) -> float:
    """Relative max error of ngspice's run of ``text`` against the exact reference."""
    result = simulate_netlist(text, backend="subprocess")
    t = result.vectors["time"]
    states = np.stack([result.vectors["v(h0)"], result.vectors["v(h1)"]], axis=1)
    ref = pipeline.solve_reference(spec, t)
    return float(np.max(np.abs(states - ref)) / np.max(np.abs(ref)))


# ----------------------------------------------------------------------------- the issue's examples

def test_one_way_gyrator_coupling_compiles_to_what_ngspice_simulates():
    spec = spec_from_dict(ISSUE)
    compiled = compile_rnn(spec, coupling="gyrator")
    cert = certify(compiled)
    assert cert.passed, cert.describe()
    assert cert.values_from.startswith("ngspice")
    assert cert.equations.a[1, 0] == 0.0  # the coupling 0 -> 1 is absent in ngspice's matrix too
    result = pipeline.check(compiled)
    assert result.passed, result.summary()  # and ngspice agrees with the reference


def test_old_one_way_gyrator_netlist_fails_as_ngspice_does():
    spec = spec_from_dict(ISSUE)
    cert = verify_netlist(OLD_ISSUE_NETLIST, spec)
    assert not cert.passed
    assert (cert.worst["matrix"], cert.worst["row"], cert.worst["col"]) == ("A", 1, 0)
    assert "a coupling the network does not have" in cert.describe()
    assert any(m[0] == "rs_0_1" and m[3] == 0.002 for m in cert.misread)  # ngspice's reading, not Python's
    assert _simulated_error(OLD_ISSUE_NETLIST, spec) > 1e-2  # ngspice indeed leaves the network


def test_deleting_uic_fails_naming_it():
    spec = load_spec(NETLISTS / "damped-oscillator.yaml")
    text = (NETLISTS / "damped-oscillator.cir").read_text()
    assert verify_netlist(text, spec).passed
    cert = verify_netlist(re.sub(r" uic$", "", text, flags=re.M), spec)
    assert not cert.passed and "'uic'" in cert.describe() and "IC=" in cert.describe()


@pytest.mark.parametrize("edit, field", [
    (lambda t: t.replace(" 0.001 1)", " 0.0011 1)"), "parameter 6 of PULSE"),        # width
    (lambda t: t.replace("PULSE(0 1 ", "PULSE(0 1.5 "), "parameter 2 of PULSE"),     # high
    (lambda t: re.sub(r"PULSE\((.*)\)", r"PWL(0 0 1e-3 1)", t), "PWL"),           # another function
])
def test_a_changed_waveform_fails_naming_the_source(edit, field):
    spec = load_spec(NETLISTS / "damped-oscillator.yaml")
    text = edit((NETLISTS / "damped-oscillator.cir").read_text())
    cert = verify_netlist(text, spec)
    assert not cert.passed
    assert "input source Vx_0" in cert.describe() and field in cert.describe(), cert.describe()


def test_zero_pulse_width_is_refused_in_the_spec():
    with pytest.raises(SpecError, match=r"inputs\[0\]\.width"):
        spec_from_dict({"name": "p", "tau": 1e-3, "w": [[0.0]], "w_in": [[1000.0]], "t_stop": 1e-2,
                        "inputs": [{"kind": "pulse", "high": 1.0, "delay": 1e-3, "width": 0, "period": 4e-3}]})


def test_writer_emits_text_ngspice_reads_exactly_where_17g_is_misread():
    x = 0.0019999999999999996  # 1 / 500.00000000000006, the issue's resistor
    assert spicenum.inp_evaluate(format(x, ".17g")) == 0.002 != x
    text = fmt(x)
    assert float(text) == x
    got = device_values(f"t\nG_0 0 a a 0 {format(x, '.17g')}\nG_1 0 a a 0 {text}\nR_0 a 0 1\n.tran 1 2\n.end\n",
                        [("g_0", "gain"), ("g_1", "gain")])
    assert got.values[("g_0", "gain")] == 0.002     # what ngspice made of the old text
    assert got.values[("g_1", "gain")] == x         # and of the writer's


# ----------------------------------------------------------------------------- number paths vs the real ngspice

def test_the_number_parsers_reproduce_ngspice_on_random_doubles():
    rng = random.Random(9)
    xs = [math.exp(rng.uniform(-55, 55)) * rng.choice((1, -1)) for _ in range(1500)]
    xs += [0.1 * k for k in range(1, 40)] + [1e-9, 3e-6, 0.0019999999999999996, 1e12, 1.0 / 3.0]
    texts = [fmt(x) for x in xs]
    numparam = [fmt(x, "numparam") for x in xs[:300]]
    lines = ["t", ".subckt gyrator a b g=1", "G_a 0 a b 0 {g}", "G_b 0 b a 0 {-g}", ".ends gyrator"]
    lines += [f"G_{i} 0 a a 0 {s}" for i, s in enumerate(texts)]
    lines += [f"G_o{i} 0 a a 0 {format(x, '.17g')}" for i, x in enumerate(xs)]
    lines += [f"XG_{i} a b gyrator g={s}" for i, s in enumerate(numparam)]
    lines += ["R_a a 0 1", "R_b b 0 1", ".tran 1 2", ".end", ""]
    queries = ([(f"g_{i}", "gain") for i in range(len(xs))] + [(f"g_o{i}", "gain") for i in range(len(xs))]
               + [(f"g.xg_{i}.g_a", "gain") for i in range(len(numparam))])
    held = device_values("\n".join(lines), queries)
    assert not held.missing
    for i, (x, s) in enumerate(zip(xs, texts)):
        assert float(s) == x
        assert held.values[(f"g_{i}", "gain")] == spicenum.inp_evaluate(s), s
        assert held.values[(f"g_o{i}", "gain")] == spicenum.inp_evaluate(format(x, ".17g"))
        assert (held.values[(f"g_{i}", "gain")] == x) == spicenum.spice_exact(x)
    for i, s in enumerate(numparam):
        assert held.values[(f"g.xg_{i}.g_a", "gain")] == spicenum.numparam_value(s)
    exact = sum(held.values[(f"g_{i}", "gain")] == x for i, x in enumerate(xs))
    old = sum(held.values[(f"g_o{i}", "gain")] == x for i, x in enumerate(xs))
    assert exact >= 0.95 * len(xs) and exact > old + 0.2 * len(xs), (exact, old)


def test_a_wrapped_exponent_is_refused():
    # Python reads 1e-18446744073709551622 as 0, ngspice's int exponent wraps to -6
    spec = load_spec(NETLISTS / "damped-oscillator.yaml")
    text = (NETLISTS / "damped-oscillator.cir").read_text()
    assert spicenum.inp_evaluate("1e-18446744073709551622") == 1e-06
    bad = text.replace("\n.options", "\nG_9 0 h0 h1 0 1e-18446744073709551622\n.options")
    with pytest.raises(NetlistError, match=r"ngspice reads the number '1e-18446744073709551622'.* as 1e-06"):
        parse_netlist(bad)
    cert = verify_netlist(bad, spec)   # a netlist the certificate cannot prove: a FAIL naming the line (exit 1)
    assert not cert.passed
    assert re.search(r"line \d+: .*ngspice reads the number '1e-18446744073709551622'.* as 1e-06", cert.describe())


def test_behavioural_gains_are_exact_in_ngspice():
    # a number inside a B expression is reprinted by ngspice with 11 digits: the gain is
    # split between the expression and m=, and ngspice's product is the gain itself
    spec = random_spec(6, seed=5, kinds=("pulse",), activation="tanh", convention="ctrnn")
    for form in ("parallel", "series"):
        compiled = compile_rnn(spec, form=form)
        cert = certify(compiled)
        assert cert.passed and cert.a_error <= 1e-14, cert.describe()
        gains = {e.name.lower(): e.gain for e in compiled.circuit.elements if type(e).__name__.startswith("Tanh")}
        held = {e.name: e.gain for e in parse_netlist(compiled.netlist).elements if e.name in gains}
        assert held == gains
        assert not [m for m in cert.misread if m[0] in gains]
    # the old form: a 17-digit gain in the expression, no m: ngspice uses 11 digits
    old = "B_9 0 h0 I=6.6666666666666671e-07*tanh(V(h1))"
    net = parse_netlist(f"t\n{old}\nR_0 h0 0 1\nC_0 h0 0 1e-9 IC=0\nR_1 h1 0 1\nC_1 h1 0 1e-9 IC=0\n"
                        ".save v(h0) v(h1)\n.tran 1e-6 1e-5 0 1e-6 uic\n.end\n")
    gain = net.elements[0].gain
    assert gain == spicenum.expression_value("6.6666666666666671e-07") and abs(gain / 6.6666666666666671e-07 - 1) > 1e-12


def test_the_analysis_is_ngspice_reading_of_the_compiled_one():
    compiled = compile_rnn(load_spec(NETLISTS / "damped-oscillator.yaml"))
    text = compiled.netlist
    tran = re.search(r"^\.tran .*$", text, re.M).group(0)
    step, stop, start, max_step = tran.split()[1:5]
    slower = text.replace(tran, f".tran {step} {stop} 0 {float(max_step) * 4!r} uic")
    verify = verify_netlist
    cert = verify(slower, compiled.spec, analysis=compiled.circuit.analysis)
    assert not cert.passed and "maximum step" in cert.describe()
    shorter = text.replace(tran, f".tran {step} {float(stop) / 2!r} 0 {max_step} uic")
    cert = verify(shorter, compiled.spec)
    assert not cert.passed and "t_stop" in cert.describe()
    late = text.replace(tran, f".tran {step} {stop} 1e-3 {max_step} uic")
    assert "starts saving" in verify(late, compiled.spec).describe()


def test_waveform_values_ngspice_would_reinterpret_are_refused():
    base = {"name": "p", "tau": 1e-3, "w": [[0.0]], "w_in": [[1000.0]], "t_stop": 1e-2}
    for wave, field in (({"kind": "sine", "amplitude": 1.0, "frequency": 5e-324}, r"inputs\[0\]\.frequency"),
                        ({"kind": "pwl", "points": [[0, 1e-300], [1e-3, 1]]}, r"inputs\[0\]\.points\[0\]\[1\]"),
                        ({"kind": "step", "value": 1.0, "at": 1e-3, "rise": 1e-310}, r"inputs\[0\]\.rise")):
        with pytest.raises(SpecError, match=field):
            spec_from_dict({**base, "inputs": [wave]})


def test_random_networks_are_certified_with_ngspice_values():
    for n, seed in ((5, 1), (12, 2)):
        for activation, couplings in (("linear", ("vccs", "gyrator")), ("tanh", ("vccs",))):
            spec = random_spec(n, seed=seed, kinds=("step", "sine", "pulse", "pwl"), activation=activation,
                               convention="ctrnn")
            for coupling in couplings:
                for form in (("parallel", "series") if coupling == "vccs" else ("parallel",)):
                    cert = certify(compile_rnn(spec, form=form, coupling=coupling))
                    assert cert.passed and cert.values_from.startswith("ngspice"), cert.describe()
                    assert not cert.problems


def test_sparse_one_way_networks_compile_exactly():
    rng = np.random.default_rng(4)
    w = np.triu(rng.standard_normal((6, 6)) * 2e3, 1)  # every coupling one-way
    w[w < 0] *= 1e6
    spec = spec_from_dict({"name": "sparse", "tau": 1e-3, "w": w.tolist(), "h0": rng.uniform(-1, 1, 6).tolist(),
                           "t_stop": 1e-3})
    cert = certify(compile_rnn(spec, coupling="gyrator"))
    assert cert.passed, cert.describe()
    assert np.all(cert.equations.a[np.tril_indices(6, -1)] == 0.0)
