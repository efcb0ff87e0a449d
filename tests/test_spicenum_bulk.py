"""The bulk (numpy) number choice and the bulk VCCS element against their one-at-a-time twins."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnn2spice.circuit import ir, spicenum
from rnn2spice.circuit.parallel import vccs_block
from rnn2spice.circuit.writer import NetlistWriter, write_netlist
from rnn2spice.errors import NetlistError

ROOT = Path(__file__).resolve().parents[1]


def _values(seed: int) -> np.ndarray:
    """> 100,000 doubles: random bit patterns (the full exponent range, subnormals included),
    coupling values as the compiler makes them (C w, C = 1e-9, w ~ 100 N(0, 1)), uniform,
    integers, and special cases."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2 ** 63, size=45_000, dtype=np.uint64) | (
        rng.integers(0, 2, size=45_000, dtype=np.uint64) << np.uint64(63))
    anyd = bits.view(np.float64)
    anyd = anyd[np.isfinite(anyd)]
    specials = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1e-300, -1e-300,
                1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308, 1.0, -1.0, 0.1, 0.2, 0.3,
                1e-3, 1e-9, 1e-15, 1e-18, 0.0019999999999999996, 2.0 ** 53, 2.0 ** 60 + 2048.0, 1e16, 1e22, 1e23,
                123456789012345.0, 999.9999999999999, 1000.0000000000001]
    specials += [2.0 ** k for k in range(-1074, 1024, 7)] + [-(10.0 ** k) for k in range(-307, 308, 3)]
    specials += [math.nextafter(10.0 ** k, math.inf) for k in range(-300, 300, 11)]
    return np.concatenate([
        anyd,
        1e-9 * 100 * rng.normal(size=30_000),
        rng.uniform(-1, 1, size=10_000),
        rng.integers(-10 ** 9, 10 ** 9, size=10_000).astype(float),
        rng.normal(size=5_000) * 10.0 ** rng.integers(-20, 20, size=5_000),
        np.array(specials),
    ])


def test_bulk_choice_agrees_with_the_scalar_one_element_by_element():
    x = _values(7)
    assert len(x) >= 100_000
    texts, exact = spicenum.choose_many(x)
    bad = []
    for v, t, ex in zip(x.tolist(), texts, exact.tolist()):
        want = spicenum._choose.__wrapped__(v, "device")  # uncached: the reference itself
        if (t, ex) != want:
            bad.append((v, t, ex, want))
    assert not bad, bad[:5]
    assert not exact.all() and exact.mean() > 0.9  # the hard cases were exercised


def test_bulk_reader_agrees_with_inp_evaluate():
    x = _values(3)[::7]
    tokens = ["%.17g" % v for v in x.tolist()] + [repr(v) for v in x.tolist()] + ["1.5e+10", "-0", "12", "3.",
                                                                                  "0.000125", "7e-3", "1E5"]
    got = spicenum.inp_evaluate_many(tokens)
    want = np.array([spicenum.inp_evaluate(t) for t in tokens])
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))


def test_other_paths_and_the_single_value_functions_agree():
    x = np.array([1e-3, 0.1, 1.0 / 3.0, 7.0, 2.5e-7])
    for path in ("option", "numparam"):
        assert spicenum.spice_texts(x, path) == [spicenum.spice_text(v, path) for v in x]
    assert spicenum.spice_texts([]) == []


def _block(n: int = 9, m: int = 7, seed: int = 4) -> ir.VccsBlock:
    rng = np.random.default_rng(seed)
    a = 1e-7 * rng.normal(size=(n, m)) * (rng.random((n, m)) < 0.7)
    return vccs_block("G", "h", "x", a)


def _circuit(elements) -> ir.Circuit:
    return ir.Circuit("bulk", ("a block",), tuple(elements), ir.Transient(1e-6, 1e-3, 1e-6), ir.Options())


def test_block_writes_the_same_cards_as_its_elements():
    b = _block()
    head = [ir.Resistor("R_0", "h0", "0", 1e3)]
    assert write_netlist(_circuit(head + [b])) == write_netlist(_circuit(head + list(b.expand())))
    assert NetlistWriter().vccs_block(b).split("\n") == [NetlistWriter().vccs(e) for e in b.expand()]
    assert ir.count([b, head[0]]) == len(b) + 1
    assert _circuit(head + [b]).expanded_elements() == tuple(head) + b.expand()


def test_block_is_read_only_and_perturbable():
    b = _block()
    with pytest.raises(ValueError):
        b.gm[0] = 1.0
    c = dataclasses.replace(b, gm=b.gm * 1.01)
    assert c != b and c.gm.flags.writeable is False and np.array_equal(c.rows, b.rows)
    assert dataclasses.replace(b) == b


def test_block_names_are_checked():
    b = _block()
    clash = ir.Vccs(f"G_{b.rows[0]}_{b.cols[0]}", "0", "h0", "h1", "0", 1.0)
    with pytest.raises(NetlistError):
        write_netlist(_circuit([b, clash]))
    with pytest.raises(NetlistError):
        write_netlist(_circuit([b, b]))
    with pytest.raises(NetlistError):
        write_netlist(_circuit([dataclasses.replace(b, prefix="R")]))
    with pytest.raises(NetlistError):
        write_netlist(_circuit([dataclasses.replace(b, dst="h 0")]))
    with pytest.raises(NetlistError):
        write_netlist(_circuit([dataclasses.replace(b, gm=np.where(b.gm == b.gm[0], np.nan, b.gm))]))
    write_netlist(_circuit([b, ir.Vccs("G_01_2", "0", "h0", "h1", "0", 1.0)]))  # another name


def test_goldens_unchanged():
    done = subprocess.run([sys.executable, str(ROOT / "netlists" / "regenerate.py"), "--check"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.ngspice
def test_ngspice_holds_the_bulk_written_values():
    from rnn2spice.spice.inspect import device_values

    rng = np.random.default_rng(11)
    a = 1e-7 * rng.normal(size=(6, 6))
    b = vccs_block("G", "h", "h", a)
    texts, exact = spicenum.choose_many(b.gm)
    assert not exact.all()  # some values need another spelling than '.17g'
    cells = [ir.Resistor(f"R_{k}", f"h{k}", "0", 1e3) for k in range(6)]
    cells += [ir.Capacitor(f"C_{k}", f"h{k}", "0", 1e-9, 0.0) for k in range(6)]
    text = write_netlist(_circuit(cells + [b]))
    names = [e.name.lower() for e in b.expand()]
    got = device_values(text, [(nm, "gain") for nm in names])
    held = np.array([got.values[(nm, "gain")] for nm in names])
    assert np.array_equal(held[exact], b.gm[exact])
    assert np.all(np.abs(held - b.gm) <= 2 * np.spacing(np.abs(b.gm)))
