"""The prediction of a Monte Carlo draw of a real build (workflows/realdraw.py, THEORY.md 11):
each block characterised with its drawn parts, the op-amps' drawn offsets in the predicted
circuit; checked against the nominal prediction and, draw by draw, against ngspice."""

from __future__ import annotations

import numpy as np
import pytest

from rnn2spice.circuit import ir
from rnn2spice.circuit.partlib import OPAMPS
from rnn2spice.circuit.realparts import Build, Trim
from rnn2spice.circuit.tolerance import perturbed
from rnn2spice.errors import UsageError
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.pipeline import simulate
from rnn2spice.workflows.realbuild import characterise, compile_build, predict, skeleton
from rnn2spice.workflows.realdraw import BlockCurves, block_circuit, drawn, offsets_outside, predict_draw

from test_real_parts import TRANSISTOR, random_spec


def compiled_for(seed: int, snap: str | None = "E24"):
    spec = spec_from_dict(random_spec(seed))
    return spec, compile_build(spec, build=Build(**TRANSISTOR, snap=snap))


def untrimmed(seed: int):
    """A transistor build compiled with a fixed trim (no ngspice needed)."""
    from rnn2spice.circuit.compiler import compile_rnn
    spec = spec_from_dict(random_spec(seed))
    return spec, compile_rnn(spec, form="opamp", build=Build(**TRANSISTOR, snap="E24", trim=Trim(1.02, 0.97)))


@pytest.mark.parametrize("seed", range(6))
def test_offsets_outside_moves_each_drawn_offset_into_a_series_source(seed):
    spec, c = untrimmed(seed)
    d = drawn(c, tolerance=0.05, run=seed)
    moved = offsets_outside(d).circuit.elements
    before = {e.name: e for e in d.circuit.elements if isinstance(e, ir.Instance) and e.subckt in OPAMPS}
    after = {e.name: e for e in moved if isinstance(e, ir.Instance)}
    sources = {e.name: e for e in moved if isinstance(e, ir.VoltageSource) and e.name.startswith("VOS")}
    for name, e in before.items():
        vos = dict(e.params)["vos"]
        if name.startswith(("XD_", "XP_")):  # a block's offset stays in the block (its curve has it)
            assert after[name] == e
            continue
        src = sources[f"VOS{name[1:]}"]
        assert (src.p, src.dc) == (e.nodes[0], vos) and src.n == after[name].nodes[0] != e.nodes[0]
        assert "vos" not in dict(after[name].params) and after[name].nodes[1:] == e.nodes[1:]
    assert len(sources) == sum(1 for n in before if not n.startswith(("XD_", "XP_")))
    # the skeleton reads the offsets back as constants: the realised network has them, the undrawn has not
    from rnn2spice.circuit.writer import write_netlist
    from rnn2spice.workflows.snapping import realised_network
    r_d = realised_network(write_netlist(skeleton(offsets_outside(d))), spec)
    r_0 = realised_network(write_netlist(skeleton(offsets_outside(c))), spec)
    assert r_d.a.shape == r_0.a.shape and not np.allclose(r_d.c, r_0.c, rtol=0, atol=1e-9)


def test_block_circuit_holds_every_block_on_one_swept_input():
    spec, c = untrimmed(2)
    d = drawn(c, tolerance=0.05, run=1)
    circuit, blocks = block_circuit(d)
    assert blocks == tuple(range(spec.n))
    nodes = {n for e in circuit.elements if isinstance(e, ir.Resistor) for n in (e.a, e.b)}
    assert "zin" in nodes and not any(n == f"z{k}" for k in range(spec.n) for n in nodes)
    q = [e for e in circuit.elements if isinstance(e, ir.Bjt)]
    assert len(q) == 2 * spec.n and len({e.model for e in q}) == 2 * spec.n  # each its own drawn card
    assert isinstance(circuit.analysis, ir.DcSweep) and len(circuit.saves) == spec.n


def test_block_curves_interpolate_each_block_like_np_interp():
    rng = np.random.default_rng(4)
    z = np.linspace(-8, 8, 1601)
    g = -np.tanh(z)[None, :] * rng.uniform(0.9, 1.1, (5, 1)) + rng.normal(0, 0.01, (5, 1))
    curves = BlockCurves(z, g, (3, 0, 4, 1, 2)).in_order([0, 1, 2, 3, 4])
    for _ in range(20):
        x = rng.uniform(-10, 10, 5)
        want = [np.interp(x[i], z, g[(3, 0, 4, 1, 2).index(i)]) for i in range(5)]
        assert np.allclose(curves(x), want, rtol=0, atol=1e-12)
    with pytest.raises(UsageError, match="neurons"):
        curves.in_order([7])


def test_predict_draw_needs_transistor_blocks():
    spec = spec_from_dict(random_spec(1))
    from rnn2spice.circuit.compiler import compile_rnn
    c = compile_rnn(spec, form="opamp", build=Build(opamp="TL072"))
    with pytest.raises(UsageError, match="transistor"):
        predict_draw(c, np.linspace(0, spec.t_stop, 5))


@pytest.mark.ngspice
def test_undrawn_prediction_is_the_nominal_one():
    spec, c = compiled_for(0)
    t = np.linspace(0, spec.t_stop, 101)
    nominal = predict(c, t, characterise(spec.activation, c.build, c.build.rails(spec))).states
    same, curves = predict_draw(c, t)  # (a draw at tolerance 0 still draws offsets and mismatch)
    assert np.max(np.abs(same - nominal)) <= 1e-5 * np.max(np.abs(nominal))  # the .dc of n blocks: ~1e-5 V apart
    inside = np.abs(curves.z) <= 3.0  # identical blocks, identical curves (to the .dc run's tolerances)
    assert np.ptp(curves.g[:, inside], axis=0).max() < 1e-4


@pytest.mark.ngspice
@pytest.mark.parametrize("seed, run", [(3, 0), (4, 2)])
def test_draw_predicted_as_ngspice_simulates_it(seed, run):
    """ngspice against the draw's own prediction: close, while the nominal prediction is far
    (the draw moves the network much more than the prediction misses)."""
    spec, c = compiled_for(seed)
    d = drawn(c, tolerance=0.05, run=run)
    t = np.linspace(0, spec.t_stop, 201)
    pred, curves = predict_draw(d, t)
    nominal = predict(c, t, characterise(spec.activation, c.build, c.build.rails(spec))).states
    traj = simulate(d, backend="subprocess")
    sim = np.stack([np.interp(t, traj.time, traj.states[:, k]) for k in range(spec.n)], axis=1)
    scale = np.max(np.abs(nominal))
    miss, moved = np.max(np.abs(sim - pred)) / scale, np.max(np.abs(sim - nominal)) / scale
    assert miss < 1e-2 and miss < 0.1 * moved, (miss, moved)
    # each block's curve is its own: the drawn pairs and resistors spread them
    assert np.ptp(curves.g[:, np.abs(curves.z - 2.0).argmin()]) > 1e-3


def test_drawn_is_montecarlos_draw():
    spec, c = untrimmed(5)
    d = drawn(c, tolerance=0.05, run=3, seed=7)
    circuit, _ = perturbed(c.circuit, 0.05, "uniform", 7, 3)
    assert d.circuit == circuit and d.spec is c.spec
