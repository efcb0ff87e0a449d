"""The Python API: the README's worked example runs as written, and the API's own promises."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import rnn2spice

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Ten lines of Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README has no python block under 'Ten lines of Python'"
    return match.group(1)


@pytest.mark.ngspice
def test_readme_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = readme_example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 12  # "ten lines", give or take
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert out.startswith("<CheckResult osc: PASS>") and len(out) < 1000
    from matplotlib.figure import Figure

    assert isinstance(namespace["fig"], Figure)
    again = rnn2spice.load(tmp_path / "osc.yaml")  # saved, and read back as the same network
    assert rnn2spice.compile(again).netlist == rnn2spice.compile(namespace["net"]).netlist


def test_network_validates_like_a_spec_file():
    with pytest.raises(rnn2spice.SpecError, match=r"w\[0\]\[1\]: must be finite"):
        rnn2spice.Network(name="x", tau=1e-3, w=np.array([[0.0, np.nan], [0.0, 0.0]]), t_stop=1e-2)
    with pytest.raises(ValueError, match="tau"):  # SpecError is a ValueError
        rnn2spice.Network(name="x", tau=-1.0, w=[[0.0]], t_stop=1e-2)


def test_network_equals_the_spec_file_it_mirrors():
    from_file = rnn2spice.load(ROOT / "netlists" / "damped-oscillator.yaml")
    built = rnn2spice.Network(name=from_file.name, tau=from_file.tau, w=from_file.w, w_in=from_file.w_in,
                              h0=from_file.h0, t_stop=from_file.t_stop, t_step=from_file.t_step,
                              inputs=[{"kind": "pulse", "low": 0.0, "high": 1.0, "delay": 4.0e-3, "rise": 1.0e-5,
                                       "fall": 1.0e-5, "width": 1.0e-3, "period": 1.0}])
    assert rnn2spice.compile(built).netlist == rnn2spice.compile(from_file).netlist


def test_compiled_options_cannot_be_overridden_silently():
    net = rnn2spice.load(ROOT / "netlists" / "non-interacting.yaml")
    compiled = rnn2spice.compile(net, form="series")
    with pytest.raises(rnn2spice.UsageError, match="form"):
        rnn2spice.check(compiled, form="parallel")


def test_api_errors_name_arguments_not_flags():
    net = rnn2spice.load(ROOT / "netlists" / "non-interacting.yaml")
    with pytest.raises(rnn2spice.UsageError, match=r"^tolerance must be a positive finite number"):
        rnn2spice.verify(net, tolerance=float("inf"))


@pytest.mark.ngspice
def test_plot_never_replaces_an_input(tmp_path):
    """Red team: ``result.plot('spec.yaml')`` replaced the spec with a PNG; a figure's format is
    now its extension's, and an existing file is replaced only when it is a figure of that
    format rnn2spice wrote (a figure being redrawn)."""
    spec_file = tmp_path / "osc.yaml"
    shutil.copy(ROOT / "netlists" / "damped-oscillator.yaml", spec_file)
    result = rnn2spice.check(rnn2spice.load(spec_file), backend="subprocess")
    before = spec_file.read_bytes()
    with pytest.raises(rnn2spice.OutputError, match="cannot tell the figure format"):
        result.plot(spec_file)
    assert spec_file.read_bytes() == before
    named_png = tmp_path / "spec-named.png"
    named_png.write_bytes(before)
    with pytest.raises(rnn2spice.OutputError, match="not a PNG picture written by rnn2spice") as refused:
        result.plot(named_png)
    assert "cannot read" not in str(refused.value)  # the refusal itself, not wrapped as a read error
    assert named_png.read_bytes() == before
    png = tmp_path / "osc.png"
    result.plot(png)
    result.plot(png)  # redrawing a figure is fine
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_small_spec_cannot_ask_for_millions_of_steps():
    """Red team: a 5-line spec with t_stop = 300 s of a 1 ms oscillator ran for minutes."""
    net = rnn2spice.Network(name="long", tau=1e-3, w=[[0.0, 3000.0], [-3000.0, 0.0]], h0=[1.0, 0.0], t_stop=300.0)
    with pytest.raises(rnn2spice.SpecError, match="t_stop.*steps"):
        rnn2spice.compile(net)


def test_huge_sine_phase_is_refused():
    with pytest.raises(rnn2spice.SpecError, match=r"inputs\[0\]\.phase"):
        rnn2spice.Network(name="x", tau=1e-3, w=[[0.0]], w_in=[[1.0]], t_stop=1e-2,
                          inputs=[{"kind": "sine", "amplitude": 1.0, "frequency": 100.0, "phase": 1e17}])


@pytest.mark.parametrize("call", [
    lambda net: rnn2spice.check(net, tolerance=True),
    lambda net: rnn2spice.check(net, tolerance="0.1"),
    lambda net: rnn2spice.load(None),
    lambda net: rnn2spice.compile("spec.yaml"),
    lambda net: rnn2spice.verify(net, netlist=5),
    lambda net: rnn2spice.compile(net, accuracy="high", rtol=1e-2),
])
def test_api_misuse_is_a_usage_error(call):
    net = rnn2spice.load(ROOT / "netlists" / "non-interacting.yaml")
    with pytest.raises(rnn2spice.UsageError):
        call(net)


def test_build_functions_are_the_api():
    """The op-amp form's build tools and the schematic are exported (and listed by help())."""
    from rnn2spice.workflows import build

    for name in ("opamp_error", "OpAmpError", "snap", "SnapResult", "value_warnings", "Bom"):
        assert name in rnn2spice.__all__ and getattr(rnn2spice, name) is getattr(build, name), name
    # bom: the API's own entry over build.bom, with the command's build options as keywords
    assert "bom" in rnn2spice.__all__ and rnn2spice.bom is rnn2spice.api.bom
    for name in ("schematic", "ComponentValueWarning"):
        assert name in rnn2spice.__all__ and hasattr(rnn2spice, name), name
    assert all(hasattr(rnn2spice, name) for name in rnn2spice.__all__)
    assert len(set(rnn2spice.__all__)) == len(rnn2spice.__all__)
    net = rnn2spice.load(ROOT / "netlists" / "damped-oscillator.yaml")
    parts = rnn2spice.bom(net, snap="E24")
    assert parts.opamps == 4 and parts.csv().startswith("designator,")
    assert rnn2spice.value_warnings(rnn2spice.compile(net, form="opamp"), warn=False) == []


def test_every_form_compiles_with_its_default_coupling():
    net = rnn2spice.load(ROOT / "netlists" / "damped-oscillator.yaml")
    assert rnn2spice.compile(net, form="opamp").coupling == "resistor"
    assert rnn2spice.compile(net, form="series").coupling == "vccs"


@pytest.mark.parametrize("times", [[1e9], [float("nan")], [-1e-3], [[1e-3]], "0.001", ["1e-3"], [False], [np.timedelta64(1, "ms")]])
def test_snap_refuses_times_outside_the_trial(times):
    # a huge time would allocate a grid up to it; NaN would poison the prediction silently
    net = rnn2spice.load(ROOT / "netlists" / "tanh4.yaml")
    with pytest.raises(rnn2spice.UsageError, match=r"^times"):
        rnn2spice.snap(net, times=times, simulate=False)


def test_numpy_scalars_are_numbers_everywhere():
    # np.float32 is not a Python float: every numeric argument must still take it (bools never)
    net = rnn2spice.load(ROOT / "netlists" / "non-interacting.yaml")
    from rnn2spice.circuit.tolerance import check_tolerance
    from rnn2spice.workflows.pipeline import check_tolerance as check_threshold
    from rnn2spice.workflows.ac import check_sweep

    assert check_tolerance(np.float32(0.05)) == pytest.approx(0.05)
    check_threshold(np.float32(1e-3))
    check_sweep(np.float32(1.0), np.float64(1e3), 10)
    assert rnn2spice.compile(net, rtol=np.float32(1e-3)).target == pytest.approx(1e-3)
    for bad in (np.bool_(True), True):
        with pytest.raises(rnn2spice.UsageError):
            check_tolerance(bad)
        with pytest.raises(rnn2spice.UsageError):
            rnn2spice.compile(net, rtol=bad)


def test_numpy_integers_are_whole_numbers():
    from rnn2spice.network.spec import spec_from_dict
    from rnn2spice.workflows.ac import check_sweep
    from rnn2spice.workflows.pool import check_jobs

    assert check_jobs(np.int64(2)) == 2
    check_sweep(1.0, 10.0, np.int32(5))
    data = {"name": "o", "tau": 1e-3, "w": [[0.0]], "t_stop": 1e-3,
            "circuit": {"opamp": {"model": "single-pole", "gain": np.float32(1e5), "gbw": np.int64(10**7)}}}
    assert spec_from_dict(data).opamp.gain == 1e5
    for bad in (True, np.bool_(True), 2.0):
        with pytest.raises(rnn2spice.UsageError):
            check_jobs(bad)
