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


def _adversarial(seed: int) -> np.ndarray:
    """Doubles that take the bulk choice's rarer branches: within 40 ulps of a power of ten
    (some left to the scalar path), integers past 2^53 and short binary fractions (19-digit
    forms with ties), tiny and huge magnitudes, and couplings whose '.17g' text ngspice
    misses by more than one ulp (the nearest text is tracked)."""
    rng = np.random.default_rng(seed)
    near10 = [10.0 ** k for k in range(-40, 41, 3)] + [10.0 ** k for k in (-300, -280, 200, 279, 280)]
    out = []
    for v in near10:
        for step in (-40, -7, -2, -1, 1, 2, 3, 17, 40):
            w = v
            for _ in range(abs(step)):
                w = math.nextafter(w, math.inf if step > 0 else -math.inf)
            out.append(w)
    out += rng.integers(2 ** 53, 2 ** 62, 400).astype(float).tolist()
    out += (rng.integers(-2 ** 20, 2 ** 20, 400) / 2.0 ** rng.integers(0, 30, 400)).tolist()
    out += (rng.normal(size=400) * 10.0 ** rng.uniform(-300, 300, 400)).tolist()
    cw = 1e-9 * 100 * rng.normal(size=40_000)
    miss = np.array([abs(spicenum.inp_evaluate("%.17g" % v) - abs(v)) for v in np.abs(cw)])
    far = cw[miss > np.spacing(np.abs(cw))]
    assert len(far) > 100  # '.17g' misses by more than an ulp: the nearest text is tracked
    return np.array(out + far[:1500].tolist() + cw[:3000].tolist())


def test_bulk_choice_agrees_with_the_scalar_on_adversarial_values(monkeypatch):
    seen = {"nearest tracked": 0}
    pack = spicenum._pack

    def spy_pack(b):   # rows of ten misses: groups without an exact candidate, tracking the nearest
        seen["nearest tracked"] += b.shape[1] == 10
        return pack(b)

    monkeypatch.setattr(spicenum, "_pack", spy_pack)
    x = _adversarial(5)
    texts, exact = spicenum.choose_many(x)
    bad = [(v, t, e, spicenum._choose.__wrapped__(v, "device")) for v, t, e in zip(x.tolist(), texts, exact.tolist())
           if (t, e) != spicenum._choose.__wrapped__(v, "device")]
    assert not bad, bad[:5]
    assert all(seen.values()), seen


def test_prefix_mantissas_are_inpevaluates():
    """M(p), M of p without its trailing zeros and how many, for prefixes of every level,
    zeros at the end and across the 15-digit head, and groups whose prefixes change length
    (a window across a power of ten: the general path, which values seldom reach)."""
    rng = np.random.default_rng(2)
    for nd in (15, 16, 17, 18):
        p0 = [int(v) for v in rng.integers(10 ** (nd - 1), 10 ** nd - 30, 60)]
        p0 += [10 ** (nd - 1), 10 ** (nd - 1) - 3, 10 ** nd - 5, 10 ** nd - 1, 123 * 10 ** (nd - 3) - 2,
               7 * 10 ** (nd - 1) - 1, 10 ** (nd - 15) * 999999999999990 - 4]
        p0 = np.array(p0, dtype=np.uint64)
        npf = rng.integers(1, 22, len(p0))
        starts = np.concatenate(([0], np.cumsum(npf)[:-1]))
        grp = np.repeat(np.arange(len(p0)), npf)
        j = np.arange(int(npf.sum())) - starts[grp]
        m, ms, z = spicenum._prefix_mantis(p0, p0 + (npf - 1).astype(np.uint64), grp, j, nd)
        for i, (g, jj) in enumerate(zip(grp.tolist(), j.tolist())):
            text = str(int(p0[g]) + jj)
            assert m[i] == spicenum.inp_evaluate(text), text
            assert (ms[i], z[i]) == (spicenum.inp_evaluate(text.rstrip("0")), len(text) - len(text.rstrip("0"))), text


def test_capped_run_is_the_first_200_candidates_in_order():
    def first_200(da, db):   # the order of _candidates: by distance from mid, the lower first
        run = sorted(range(da, db + 1), key=lambda o: (abs(o), o))[:spicenum._CAP]
        return (min(run), max(run)) if run else None

    rng = np.random.default_rng(3)
    cases = [(a, a + w) for a in range(-260, 261, 13) for w in range(-2, 460, 11)]
    cases += list(zip(rng.integers(-3000, 3000, 2000).tolist(), rng.integers(-3000, 3000, 2000).tolist()))
    da, db = np.array(cases).T
    lo, hi = spicenum._capped(da, db)
    for (a, b), l, h in zip(cases, lo.tolist(), hi.tolist()):
        want = first_200(a, b)
        assert (want is None and l > h) or want == (l, h), (a, b, l, h)


def test_best_rank_table_is_the_order_of_a_row():
    table = spicenum._best_rank().reshape(12, 1024)
    for place in range(-1, 11):
        for bits in range(1024):
            ranks = [2 * abs(d - place) + (d > place) for d in range(10) if bits >> d & 1]
            assert table[place + 1, bits] == (min(ranks) if ranks else spicenum._NONE)


def test_tables_are_exact():
    from fractions import Fraction

    pw, hi, lo = spicenum._tables()
    for s in range(-spicenum._DD, spicenum._DD + 1, 7):
        f = Fraction(10) ** s
        assert hi[s + spicenum._DD] == float(f) and lo[s + spicenum._DD] == float(f - Fraction(float(f)))
    e = np.array([-10 ** 6, -401, -400, -323, 0, 22, 308, 309, 400, 401, 10 ** 6])
    assert spicenum._pow10_many(e).tolist() == [spicenum._pow10(float(v)) for v in e.tolist()]
    quads, holes, exps = spicenum._text_tables()
    assert quads.tobytes() == "".join(f"{i:04d}" for i in range(10 ** 4)).encode()
    assert holes.tobytes() == "".join(f"{i:>4d}" for i in range(10 ** 4)).replace(" ", "\0").encode()
    assert exps.tobytes() == "".join(f"e{v:+03d}".ljust(8, "\0") for v in range(-400, 401)).encode()


def test_text_lines_in_chunks_write_every_line_as_the_single_value_functions(monkeypatch):
    monkeypatch.setattr(spicenum, "_ROWS", 7)     # chunks of 7 lines, the last one short
    x = np.concatenate([_adversarial(8)[:150], [0.0, -0.0, 5e-324, 1e300, 123.0, 0.000125, 1e16, -2.5, 1e-5]])
    ints = np.arange(len(x)) * 977 % 123457       # widths past four digits, and 0
    got = spicenum.text_lines("G_", ints, "_", ints[::-1].copy(), " a b ", x, "", np.zeros(len(x), dtype=int))
    text = [spicenum._choose.__wrapped__(v, "device")[0] for v in x.tolist()]   # uncached: -0.0 is not 0.0
    want = "\n".join(f"G_{i}_{k} a b {t}0" for i, k, t in zip(ints, ints[::-1], text))
    assert got == want
    small = np.arange(len(x)) * 37 % 1000        # adjacent three-digit fields, the first at the start
    got = spicenum.text_lines(small, small[::-1].copy(), small % 10, "|", x)
    assert got == "\n".join(f"{i}{k}{i % 10}|{t}" for i, k, t in zip(small, small[::-1], text))
    assert spicenum.text_lines("x", np.zeros(0, dtype=int)) == ""
    with pytest.raises(ValueError):
        spicenum.text_lines(np.arange(3), np.zeros(2))


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
