"""A newcomer's way in (issue 23): short reprs and HTML tables, plot() returning a Figure,
networks that save and load, import without writing, option names as on the command line,
shapes that do not fit refused naming both, the command line's own manners, and studies
started from a plain script."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnn2spice
from rnn2spice.cli.app import COMMANDS, build_parser, main
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.stimulus import load_stimulus_file

from conftest import ROOT, env_with, random_spec_dict, snapshot

KERAS = ROOT / "tests" / "data" / "keras-rnn" / "dm_perceptual_ortho_nobias_0.hdf5"


def _same_network(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, tuple) and x and isinstance(x[0], np.ndarray):  # matrix factors
            assert len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y)), f.name
        elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x is not None and y is not None and np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


# ----------------------------------------------------------------------------- reprs, plots

@pytest.fixture(scope="module")
def checked_100():
    """A 100-neuron check (the trained Keras network, its default pulse, shortened)."""
    net = rnn2spice.import_model(KERAS, dt=1e-3, t_stop=0.05)
    return rnn2spice.check(net, rtol=1e-2)


@pytest.mark.ngspice
def test_results_show_a_few_lines_and_a_small_table(checked_100):
    small = rnn2spice.check(rnn2spice.load(ROOT / "netlists" / "damped-oscillator.yaml"))
    for result in (small, checked_100, small.trajectory, checked_100.trajectory):
        text = repr(result)
        assert len(text) <= 1000 and len(text.splitlines()) <= 12, text
        html = result._repr_html_()
        assert "<table>" in html and len(html) <= 3000
    head = repr(checked_100).splitlines()[0]
    assert head == f"<CheckResult {checked_100.compiled.spec.name}: PASS>"
    assert f"worst_neuron: {checked_100.comparison.worst_neuron}" in repr(checked_100)
    assert repr(checked_100.compiled.spec).startswith("<RnnSpec dm_perceptual_ortho_nobias_0>")


@pytest.mark.ngspice
def test_plot_returns_a_figure_with_inputs_and_the_worst_neuron(checked_100, tmp_path):
    from matplotlib.figure import Figure

    worst = checked_100.comparison.worst_neuron
    fig = checked_100.plot()
    assert isinstance(fig, Figure)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels[0] == "input x" and "state h (model units)" in labels
    states = fig.axes[labels.index("state h (model units)")]
    shown = [t.get_text() for t in states.get_legend().get_texts()]
    assert f"h{worst} (worst)" in shown and len(shown) <= 6
    assert all(ax.get_legend() is not None for ax in fig.axes)  # a legend on every panel
    title = fig._suptitle.get_text()
    assert max(len(line) for line in title.splitlines()) <= 70
    # the caller's axes: the overlay is drawn there, and that figure comes back
    own = Figure()
    ax = own.subplots()
    assert checked_100.plot(ax=ax) is own and len(ax.lines) == 2 * len(shown)
    # PDF and SVG from the Figure itself; a path writes a PNG as before
    for fmt, magic in (("pdf", b"%PDF"), ("svg", b"<?xml")):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt)
        assert buf.getvalue().startswith(magic)
    assert isinstance(checked_100.plot(tmp_path / "c.png"), Figure)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.warns(DeprecationWarning, match="plot"):
        assert checked_100.figure()[:4] == b"\x89PNG"


# ----------------------------------------------------------------------------- save / to_dict

SPECS = st.builds(
    lambda n, seed, kinds, convention, activation, readout, circuit: (n, seed, kinds, convention, activation,
                                                                       readout, circuit),
    st.integers(1, 12), st.integers(0, 2**32 - 1),
    st.lists(st.sampled_from(("step", "pulse", "sine", "pwl")), max_size=3),
    st.sampled_from(("paper", "ctrnn", "rate")), st.sampled_from(("linear", "tanh", "relu", "sigmoid", "softplus")),
    st.booleans(), st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SPECS)
def test_a_network_round_trips_through_save_and_to_dict(tmp_path, case):
    n, seed, kinds, convention, activation, with_readout, with_circuit = case
    if convention == "paper" and activation != "linear":
        activation = "tanh"
    data = random_spec_dict(n, seed=seed, kinds=tuple(kinds), convention=convention, activation=activation)
    rng = np.random.default_rng(seed)
    if convention == "rate":
        data["bias"] = rng.standard_normal(n).tolist()
    if with_readout:
        data["w_out"] = rng.standard_normal((2, n)).tolist()
        data["b_out"] = rng.standard_normal(2).tolist()
        data["readout_of"] = ("state", "rate")[seed % 2]
    if n >= 3 and seed % 3 == 0:  # a rank-1 coupling given by its factors stays factored
        data["w"] = {"factors": [(0.3 * rng.standard_normal((n, 1))).tolist(),
                                 (0.3 * rng.standard_normal((1, n))).tolist()]}
    if with_circuit:
        data["circuit"] = {"capacitance": float(rng.uniform(1e-10, 1e-8)), "time_scale": 10.0,
                           "opamp": {"model": "single-pole", "gbw": 1e7, "rails": [-12.0, 12.0]}}
    net = spec_from_dict(data)
    _same_network(spec_from_dict(net.to_dict()), net)
    with tempfile.TemporaryDirectory(dir=tmp_path) as here:  # one per example (tmp_path is shared)
        path = Path(here) / "net.yaml"
        assert net.save(path) == path
        _same_network(rnn2spice.load(path), net)
        assert (Path(here) / "net.npz").exists() == (n > 8)  # big matrices beside the spec, as import does


def test_save_refuses_what_is_not_a_spec_file(tmp_path):
    net = rnn2spice.load(ROOT / "netlists" / "damped-oscillator.yaml")
    with pytest.raises(rnn2spice.UsageError, match="yaml"):
        net.save(tmp_path / "net.cir")


# ----------------------------------------------------------------------------- import, bom, sweep

def test_import_model_writes_nothing_unless_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    net = rnn2spice.import_model(KERAS, dt=1e-3)
    assert snapshot(tmp_path) == before
    assert (net.n, net.m, net.w_out.shape) == (100, 1, (1, 100)) and net.provenance["source"]["sha256"]
    written = rnn2spice.import_model(KERAS, tmp_path / "dm.yaml", dt=1e-3)
    assert (tmp_path / "dm.yaml").exists() and (tmp_path / "dm.npz").exists()
    _same_network(net, written)


def test_bom_takes_the_command_line_option_name():
    net = rnn2spice.load(ROOT / "netlists" / "tanh4.yaml")
    snapped = rnn2spice.bom(net, snap="E24")
    assert snapped.series == "E24" and snapped.rows != rnn2spice.bom(net).rows
    with pytest.warns(DeprecationWarning, match="snap"):
        assert rnn2spice.bom(net, series="E24").rows == snapped.rows
    with pytest.raises(rnn2spice.UsageError, match="both"):
        rnn2spice.bom(net, snap="E24", series="E12")
    assert "snap" in build_parser().commands["bom"].format_help()


# ----------------------------------------------------------------------------- stimulus shapes

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 3), st.lists(st.integers(1, 6), min_size=1, max_size=3))
def test_a_stimulus_fits_the_inputs_or_is_refused_naming_both_shapes(tmp_path, m, shape):
    path = tmp_path / "s.npy"
    np.save(path, np.zeros(shape))
    trials, steps = {1: (1, shape[0]), 2: (1, shape[0]), 3: (shape[0], shape[1] if len(shape) > 1 else 0)}[len(shape)]
    fits = ((len(shape) == 1 and m == 1) or (len(shape) == 2 and shape[1] == m)
            or (len(shape) == 2 and m == 1 and shape[0] <= shape[1]) or (len(shape) == 3 and shape[2] == m))
    if fits:
        got = load_stimulus_file(path, m)
        assert all(s.x.shape[1] == m for s in got)
        assert sum(s.x.size for s in got) == int(np.prod(shape))
    else:
        with pytest.raises(rnn2spice.SpecError) as refused:
            load_stimulus_file(path, m)
        assert f"shape {tuple(shape)}" in str(refused.value) and f"{m} input(s)" in str(refused.value)
    del trials, steps


@pytest.fixture
def one_input_net(tmp_path):
    net = rnn2spice.Network(name="one", convention="ctrnn", activation="tanh", tau=1e-3, w=[[0.5, 0.1], [0.0, 0.4]],
                            w_in=[[1.0], [0.5]], w_out=[[1.0, -1.0]], t_stop=0.37,
                            inputs=[{"kind": "step", "value": 0.0}])
    path = tmp_path / "one.yaml"
    net.save(path)
    return path


def test_task_refuses_a_stimulus_of_the_wrong_width(one_input_net, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((370, 3)))  # 370 steps of 3 inputs, not 370 trials of 3 steps
    assert main(["task", str(one_input_net), "--stimulus", str(tmp_path / "x.npy"), "--dt", "1e-3"]) == 2
    err = capsys.readouterr().err
    assert "shape (370, 3)" in err and "1 input(s)" in err and err.count("\n") == 1


def test_task_pulse_says_when_the_inputs_do_not_fit(tmp_path, capsys):
    net = rnn2spice.Network(name="two", convention="ctrnn", tau=1e-3, w=[[0.5]], w_in=[[1.0, 1.0]], w_out=[[1.0]],
                            t_stop=0.37, inputs=[{"kind": "step", "value": 0.0}] * 2)
    net.save(tmp_path / "two.yaml")
    assert main(["task", str(tmp_path / "two.yaml"), "--stimulus", "pulse", "--dt", "1e-3"]) == 2
    err = capsys.readouterr().err
    assert "1 input" in err and "m = 2 inputs" in err and "(steps, 2)" in err


# ----------------------------------------------------------------------------- the command line

def test_bare_command_prints_usage_and_the_commands(capsys):
    assert main([]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: rnn2spice") and not err
    for command in COMMANDS:
        assert f"    {command.NAME}" in out


@pytest.mark.parametrize("name", [c.NAME for c in COMMANDS])
def test_every_help_ends_with_examples(name):
    text = build_parser().commands[name].format_help()
    tail = text.rstrip("\n").split("\nexamples:\n")
    assert len(tail) == 2, f"{name} --help has no examples"
    lines = tail[1].splitlines()
    assert 2 <= len(lines) <= 3 and all(line.startswith(f"  rnn2spice {name} ") for line in lines)


@pytest.mark.ngspice
def test_check_is_short_by_default_and_detailed_with_v(capsys):
    spec = str(ROOT / "netlists" / "tanh4.yaml")
    assert main(["check", spec]) == 0
    short = capsys.readouterr().out.splitlines()
    assert len(short) == 3 and short[-1].endswith(": PASS")
    assert main(["check", spec, "-v"]) == 0
    detail = capsys.readouterr().out
    assert len(detail.splitlines()) > 3 and "certificate (netlist -> state equations" in detail
    # a passing run says nothing that sounds like an error
    assert not any(word in " ".join(short).lower() for word in ("differently", "warning", "error:", "fail"))


# ----------------------------------------------------------------------------- a plain script

@pytest.mark.ngspice
def test_montecarlo_runs_from_a_plain_script(tmp_path):
    """No ``if __name__ == "__main__":``: the workers must not run the script again."""
    script = tmp_path / "study.py"
    script.write_text(
        "import rnn2spice\n"
        f"net = rnn2spice.load({str(ROOT / 'netlists' / 'damped-oscillator.yaml')!r})\n"
        "mc = rnn2spice.montecarlo(net, runs=2, tolerance=0.05, seed=0, jobs=2)\n"
        "print('RUNS', len(mc.records), mc.how)\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=env_with())
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("RUNS 2 process pool of 2") == 1  # once: the workers did not rerun it
    assert "Traceback" not in done.stderr


def test_sweep_takes_a_network():
    net = rnn2spice.load(ROOT / "netlists" / "damped-oscillator.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(rnn2spice.SpecError, match="capacitance"):
            rnn2spice.sweep(net, {"circuit.capacitance": [-1.0]}, jobs=1)
    assert Path(rnn2spice.__file__).exists()


# ----------------------------------------------------------------------------- figures that read well

@settings(max_examples=200, deadline=None)
@given(st.integers(1, 400), st.integers(1, 8), st.data())
def test_the_worst_neuron_is_always_among_those_drawn(n, limit, data):
    from rnn2spice.report.figures import neuron_subset

    worst = data.draw(st.integers(0, n - 1))
    shown = neuron_subset(n, limit, include=(worst,))
    assert worst in shown and len(shown) == min(n, limit) and shown == sorted(set(shown))


@pytest.mark.ngspice
def test_study_figures_have_edges_integer_counts_and_legends():
    net = rnn2spice.load(ROOT / "netlists" / "damped-oscillator.yaml")
    mc = rnn2spice.montecarlo(net, runs=5, tolerance=0.05, seed=1, jobs=1)
    fig = mc.plot()
    hist = fig.axes[-1]
    bars = [p for p in hist.patches if p.get_height() > 0]
    assert bars and all(p.get_edgecolor()[3] > 0 and p.get_linewidth() > 0 for p in bars)  # visible edges
    assert sum(p.get_height() for p in bars) == 5
    ticks = [t for t in hist.get_yticks() if hist.get_ylim()[0] <= t <= hist.get_ylim()[1]]
    assert all(float(t).is_integer() for t in ticks)  # runs are counted: no 0.5 run
    assert all(ax.get_legend() is not None for ax in fig.axes)
    sweep = rnn2spice.sweep(net, {"tolerance": ["1%", "5%"]}, runs=2, seed=0, jobs=1)
    assert sweep.plot().axes[0].get_legend() is not None
    assert len(repr(sweep)) <= 1000 and "tolerance=0.05" in repr(sweep)


def test_a_low_rank_network_saves_its_factors(tmp_path):
    rng = np.random.default_rng(3)
    data = random_spec_dict(20, seed=3, convention="rate", activation="tanh")
    data["w"] = {"factors": [rng.standard_normal((20, 2)).tolist(), rng.standard_normal((2, 20)).tolist()]}
    net = spec_from_dict(data)
    assert net.rank == 2
    back = rnn2spice.load(net.save(tmp_path / "lr.yaml"))
    assert back.rank == 2 and np.array_equal(back.w, net.w)
    _same_network(back, net)
    with np.load(tmp_path / "lr.npz") as archive:
        assert {"w_M", "w_N"} <= set(archive.files) and "w" not in archive.files  # factors, not the product


@pytest.mark.ngspice
def test_ac_takes_the_command_line_option_names():
    net = rnn2spice.load(ROOT / "netlists" / "damped-oscillator.yaml")
    new = rnn2spice.ac(net, fmin=10.0, fmax=1e4)
    with pytest.warns(DeprecationWarning, match="fmin"):
        old = rnn2spice.ac(net, f_start=10.0, f_stop=1e4)
    assert np.array_equal(new.frequency, old.frequency) and new.passed and old.passed
    with pytest.raises(rnn2spice.UsageError, match="fmin"):
        rnn2spice.ac(net, fmax=1e4)
    assert len(repr(new)) <= 1000 and type(new.plot()).__name__ == "ShownFigure"


def test_circuits_and_imports_have_short_reprs(tmp_path):
    from rnn2spice.workflows.importers import import_model

    imported = import_model(KERAS, tmp_path / "dm.yaml", dt=1e-3)
    assert len(repr(imported)) <= 1000 and "dm.yaml" in repr(imported) and "<table>" in imported._repr_html_()
    compiled = rnn2spice.compile(imported.spec)  # 100 neurons, ~10,000 elements: none of them in the repr
    assert len(repr(compiled)) <= 300 and "n = 100" in repr(compiled)


def test_a_kicad_result_shows_a_few_lines(tmp_path):
    """It printed as a 4,803-character dataclass dump (new user)."""
    result = rnn2spice.kicad(rnn2spice.load(ROOT / "netlists" / "tanh4.yaml"), output=tmp_path / "t.kicad_sch")
    text = repr(result)
    assert text.splitlines()[0] == "<KicadResult tanh4: PASS>" and len(text) <= 1000, text
    assert f"parts: {result.parts}" in text and "<table>" in result._repr_html_()
