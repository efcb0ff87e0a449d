"""Many runs: Monte Carlo tolerances, sweeps and task trials, serial, on a process pool and
on a Dask cluster (issue 12).

Small on purpose (n <= 2, t_stop of a few ms, a handful of runs): the machine has 2 cores.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.circuit.tolerance import passive_indices, perturb, perturbed
from rnn2spice.cli.app import main
from rnn2spice.errors import MissingDependencyError, OutputError, UsageError
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows import study as study_module
from rnn2spice.workflows.montecarlo import montecarlo
from rnn2spice.workflows.study import journal_path
from rnn2spice.workflows.stimulus import pulse_trials
from rnn2spice.workflows.sweep import parse_param, sweep
from rnn2spice.workflows.task import run_task

#: A damped oscillator with a readout, 5 ms.
OSC = {"name": "osc", "tau": 1.0e-3, "w": [[0.0, 3000.0], [-3000.0, 0.0]], "w_in": [[2000.0], [0.0]],
       "h0": [1.0, 0.0], "inputs": [{"kind": "step", "value": 1.0, "at": 2.0e-3}], "t_stop": 5.0e-3,
       "w_out": [[1.0, -1.0]]}
#: Grows as exp(1000 t): fine over 5 ms, beyond ngspice's range ("Timestep too small") over 1 s.
UNSTABLE = {"name": "unstable", "tau": 1.0e-3, "w": [[2000.0]], "h0": [1.0], "t_stop": 5.0e-3}
#: Fields of a record that must be identical however it was run (not the wall time).
SAME = ("point", "run", "seed_path", "status", "passed", "error", "state_error", "rel_error_per_neuron",
        "readout_error", "points", "factors", "decision")
#: A decision on a knife's edge: y = h = x = 0.505 at rest, dead zone 0.5.  The parallel cell's
#: resistor sets the gain (h = f_R x at rest), so a run decides 0 instead of +1 when f_R < 0.99.
MARGIN = {"name": "margin", "convention": "ctrnn", "activation": "linear", "tau": 1.0e-3, "w": [[0.0]],
          "w_in": [[1.0]], "w_out": [[1.0]], "t_stop": 0.03, "inputs": [{"kind": "step", "value": 0.0}],
          "provenance": {"mapping": {"dt": 1.0e-3}}}
MARGIN_X = 0.505


def write_spec(tmp_path: Path, data: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def assert_same_runs(a, b):
    """The records of two studies are equal run by run; their arrays exactly."""
    assert [(r["point"], r["run"]) for r in a] == [(r["point"], r["run"]) for r in b]
    for x, y in zip(a, b):
        for key in SAME:
            assert x.get(key) == y.get(key), (key, x.get(key), y.get(key))
        for key in ("grid_states", "grid_readout"):
            if x.get(key) is not None or y.get(key) is not None:
                np.testing.assert_array_equal(np.array(x[key]), np.array(y[key]))


# --------------------------------------------------------------------------- draws (no ngspice)

def test_draws_are_reproducible_per_run_and_within_tolerance():
    c = compile_rnn(spec_from_dict(OSC)).circuit
    where = passive_indices(c)
    assert [type(c.elements[i]) for i in where] == [ir.Resistor, ir.Capacitor] * 2
    for dist in ("uniform", "normal"):
        a, fa = perturbed(c, 0.05, dist, seed=7, run=3)
        b, fb = perturbed(c, 0.05, dist, seed=7, run=3)
        np.testing.assert_array_equal(fa, fb)
        assert a == b
        _, other = perturbed(c, 0.05, dist, seed=7, run=4)
        assert not np.array_equal(fa, other)
        _, many = perturbed(perturb(c, np.ones(len(where))), 0.05, dist, seed=1, run=0)
        assert np.all(np.abs(many - 1) <= 0.05)
        for i, f in zip(where, fa):  # only R and C change, by their factors
            old, new = c.elements[i], a.elements[i]
            field = "resistance" if isinstance(old, ir.Resistor) else "capacitance"
            assert getattr(new, field) == getattr(old, field) * f and new.name == old.name
        assert [e for i, e in enumerate(a.elements) if i not in where] == \
               [e for i, e in enumerate(c.elements) if i not in where]
    # normal: sigma = tolerance / 3, truncated at 3 sigma
    big = compile_rnn(spec_from_dict({**UNSTABLE, "w": np.zeros((60, 60)).tolist(), "h0": None})).circuit
    f = np.concatenate([perturbed(big, 0.03, "normal", 0, k)[1] for k in range(20)])
    assert np.all(np.abs(f - 1) <= 0.03) and 0.008 < np.std(f) < 0.012
    same, ones = perturbed(c, 0.0, "uniform", 0, 0)
    assert same == c and np.all(ones == 1)


def test_sweep_parameters_are_checked():
    assert parse_param("circuit.capacitance=1e-9, 2e-9") == ("circuit.capacitance", [1e-9, 2e-9])
    assert parse_param("tolerance=5%,0.1") == ("tolerance", [0.05, 0.1])
    assert parse_param("tau=x2,1e-3") == ("tau", [("x", 2.0), 1e-3])
    with pytest.raises(UsageError, match=r"--param 'nonsense=1': unknown parameter 'nonsense'"):
        parse_param("nonsense=1")
    with pytest.raises(UsageError, match=r"t_stop.*'abc' is not a number"):
        parse_param("t_stop=abc")
    with pytest.raises(UsageError, match="PATH=v1,v2"):
        parse_param("tau")


@pytest.mark.parametrize("argv,named", [
    (["montecarlo", "--tolerance", "-5%"], ["--tolerance", "-5%"]),
    (["montecarlo", "--tolerance", "150%"], ["--tolerance", "150%"]),
    (["montecarlo", "--runs", "0"], ["--runs", "0"]),
    (["montecarlo", "--jobs", "0"], ["--jobs", "0"]),
    (["montecarlo", "--run", "-1"], ["--run", "-1"]),
    (["sweep", "--param", "nonsense=1"], ["--param", "nonsense"]),
    (["sweep", "--param", "circuit.capacitance=1e-9,-1"], ["circuit.capacitance", "-1"]),
    (["sweep", "--param", "form=diagonal"], ["form", "diagonal"]),
])
def test_bad_options_exit_2_naming_them_and_write_nothing(tmp_path, capsys, argv, named):
    spec = write_spec(tmp_path, OSC)
    out = tmp_path / "results.json"
    rc = main([argv[0], str(spec), *argv[1:], "-o", str(out), "--plot", str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    assert rc == 2, err
    for word in named:
        assert word in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_without_dask_the_scheduler_option_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # as if it were not installed
    spec = write_spec(tmp_path, OSC)
    for argv in (["montecarlo", str(spec)], ["task", str(spec), "--stimulus", "pulse"]):
        assert main([*argv, "--scheduler", "local"]) == 2
        err = capsys.readouterr().err
        assert "needs Dask distributed" in err and "pip install 'rnn2spice[cluster]'" in err
    with pytest.raises(MissingDependencyError):
        montecarlo(spec_from_dict(OSC), runs=2, scheduler="tcp://127.0.0.1:1")
    assert main(["task", str(spec), "--stimulus", "pulse", "--jobs", "0"]) == 2
    assert "--jobs must be a whole number" in capsys.readouterr().err


def write_margin(tmp_path: Path, trials: int = 1) -> tuple[Path, Path]:
    spec = write_spec(tmp_path, MARGIN)
    stim = tmp_path / ("x.csv" if trials == 1 else "x.npy")
    if trials == 1:
        np.savetxt(stim, np.full(30, MARGIN_X))
    else:
        np.save(stim, np.full((trials, 30), MARGIN_X))
    return spec, stim


def test_decision_options_are_checked(tmp_path, capsys):
    spec, stim = write_margin(tmp_path)
    (tmp_path / "three").mkdir()
    _, several = write_margin(tmp_path / "three", trials=3)
    cases = [(["montecarlo", str(spec), "--window", "5"], "--window apply to a decision"),
             (["sweep", str(spec), "--param", "tau=x2", "--dt", "1e-3"], "--dt apply to a decision"),
             (["montecarlo", str(spec), "--stimulus", str(several)], "holds 3 trials"),
             (["montecarlo", str(spec), "--stimulus", str(several), "--trial", "3"], "--trial must be 0 .. 2"),
             (["montecarlo", str(spec), "--stimulus", str(stim), "--window", "40"], "--window must satisfy"),
             (["montecarlo", str(spec), "--stimulus", str(stim), "--dead-zone", "-1"], "--dead-zone"),
             (["montecarlo", str(spec), "--stimulus", str(tmp_path / "none.csv")], "--stimulus"),
             (["sweep", str(spec), "--param", "t_stop=0.01", "--stimulus", str(stim)], "t_stop cannot be swept"),
             (["montecarlo", str(spec), "--stimulus", str(stim), "-o", str(stim)], "--stimulus")]
    for argv, message in cases:
        assert main([*argv, "--jobs", "1"]) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
    with pytest.raises(UsageError, match="no readout"):
        montecarlo(spec_from_dict({**MARGIN, "w_out": None}), stimulus=stim)
    with pytest.raises(UsageError, match="not an already compiled network"):
        montecarlo(compile_rnn(spec_from_dict(MARGIN)), stimulus=stim)
    assert np.loadtxt(stim).shape == (30,)  # the stimulus named as an output is untouched


def test_resume_needs_an_output(tmp_path, capsys):
    spec = write_spec(tmp_path, OSC)
    assert main(["montecarlo", str(spec), "--resume"]) == 2
    assert "--resume needs -o/--output" in capsys.readouterr().err


# --------------------------------------------------------------------------- runs (ngspice)

@pytest.mark.ngspice
def test_serial_pool_and_dask_give_the_same_runs_and_run_k_alone_too():
    spec = spec_from_dict(OSC)
    serial = montecarlo(spec, runs=4, tolerance=0.05, seed=11, jobs=1)
    again = montecarlo(spec, runs=4, tolerance=0.05, seed=11, jobs=1)
    pool = montecarlo(spec, runs=4, tolerance=0.05, seed=11, jobs=2)
    dask = montecarlo(spec, runs=4, tolerance=0.05, seed=11, scheduler="local")
    assert (serial.how, pool.how, dask.how) == ("serial", "process pool of 2", "dask local")
    assert_same_runs(serial.records, again.records)
    assert_same_runs(serial.records, pool.records)
    assert_same_runs(serial.records, dask.records)
    alone = montecarlo(spec, runs=4, tolerance=0.05, seed=11, run=2, jobs=1)
    assert_same_runs(alone.records, [serial.record(2)])
    other = montecarlo(spec, runs=1, tolerance=0.05, seed=12, jobs=1)
    assert other.records[0]["error"] != serial.records[0]["error"]
    # 5 % parts move the states by percents; all runs are scored against the nominal reference
    errors = serial.errors()
    assert np.all((errors > 1e-3) & (errors < 0.1)) and serial.passed
    assert all(r["readout_error"] > 0 for r in serial.records)
    report = serial.report()
    assert report["points"][0]["certificate"]["passed"] and "not certified" in report["certified"]
    summary = report["points"][0]["summary"]
    assert summary["error"]["median"] == pytest.approx(float(np.median(errors)))
    assert summary["pass_fraction"] == 1.0 and summary["failed"] == 0


@pytest.mark.ngspice
def test_a_failing_member_is_reported_and_the_others_complete(tmp_path, capsys):
    spec = write_spec(tmp_path, UNSTABLE)
    out = tmp_path / "sweep.json"
    rc = main(["sweep", str(spec), "--param", "t_stop=0.005,1,0.004", "--threshold", "1%", "--jobs", "2",
               "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 1, captured.err
    assert "point 1 run 0 failed: SimulationError" in captured.out
    doc = json.loads(out.read_text())
    ok0, failed, ok2 = doc["records"]
    assert ok0["status"] == ok2["status"] == "ok" and ok0["passed"] and ok2["passed"]
    assert failed["status"] == "failed" and failed["error_type"] == "SimulationError"
    assert "Timestep too small" in failed["ngspice_message"] and failed["error"] == "inf"
    assert [p["summary"]["pass"] for p in doc["points"]] == [True, False, True]
    assert not journal_path(out).exists()


def interrupted_after_three(spec, out, runs: int) -> list[str]:
    """A Monte Carlo study of ``runs`` runs stopped by Ctrl-C after its third: the journal's lines."""
    def stop_after_three(done, total, record):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        montecarlo(spec, runs=runs, tolerance=0.05, seed=3, jobs=1, output=out, progress=stop_after_three)
    assert not out.exists()
    lines = journal_path(out).read_text().splitlines()
    assert len(lines) == 1 + 3  # the fingerprint, then runs 0, 1, 2
    return lines


def counted_simulator(monkeypatch) -> list:
    """The real simulator of the studies, counted: one entry per call in the returned list."""
    calls = []
    real = study_module.simulate

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(study_module, "simulate", counting)
    return calls


@pytest.mark.ngspice
def test_resume_after_an_interrupt_redoes_nothing_finished(tmp_path, monkeypatch):
    spec = spec_from_dict(OSC)
    out = tmp_path / "mc.json"
    interrupted_after_three(spec, out, 6)
    real = study_module.simulate
    calls = counted_simulator(monkeypatch)
    counting = study_module.simulate
    with pytest.raises(OutputError, match="another study"):  # other options: refused, nothing run
        montecarlo(spec, runs=6, tolerance=0.02, seed=3, jobs=1, output=out, resume=True)
    assert calls == []
    resumed = montecarlo(spec, runs=6, tolerance=0.05, seed=3, jobs=1, output=out, resume=True)
    assert len(calls) == 3 and resumed.resumed == 3
    assert sorted(resumed.executed) == [(0, 3), (0, 4), (0, 5)]
    monkeypatch.setattr(study_module, "simulate", real)
    fresh = montecarlo(spec, runs=6, tolerance=0.05, seed=3, jobs=1)
    assert_same_runs(resumed.records, fresh.records)
    # the finished file: resuming it again runs nothing, and its records read back exactly
    assert not journal_path(out).exists()
    monkeypatch.setattr(study_module, "simulate", counting)
    again = montecarlo(spec, runs=6, tolerance=0.05, seed=3, jobs=1, output=out, resume=True)
    assert len(calls) == 3 and again.resumed == 6 and again.executed == ()
    assert_same_runs(again.records, fresh.records)


@pytest.mark.ngspice
def test_montecarlo_command_writes_results_and_plot_and_run_k_reproduces(tmp_path, capsys):
    spec = write_spec(tmp_path, OSC)
    out, one = tmp_path / "mc.json", tmp_path / "one.json"
    rc = main(["montecarlo", str(spec), "--runs", "3", "--tolerance", "5%", "--distribution", "normal",
               "--seed", "4", "--jobs", "1", "-o", str(out), "--plot", str(tmp_path / "bands.png")])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "within 5 % (normal, sigma = tolerance/3)" in text and "perturbed circuits are not certified" in text
    assert (tmp_path / "bands.png").read_bytes()[:4] == b"\x89PNG"
    doc = json.loads(out.read_text())
    assert doc["kind"] == "montecarlo" and len(doc["records"]) == 3 and doc["passed"]
    assert doc["records"][1]["seed_path"] == [4, 1]
    assert main(["montecarlo", str(spec), "--tolerance", "0.05", "--distribution", "normal", "--seed", "4",
                 "--run", "1", "-o", str(one)]) == 0
    assert_same_runs(json.loads(one.read_text())["records"], [doc["records"][1]])


@pytest.mark.ngspice
def test_sweep_table_revalidates_each_point(tmp_path, capsys):
    spec = write_spec(tmp_path, OSC)
    rc = main(["sweep", str(spec), "--param", "circuit.capacitance=1e-9,1e-6", "--param", "tolerance=0,2%",
               "--runs", "2", "--jobs", "1", "--plot", str(tmp_path / "sweep.png")])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "point  circuit.capacitance  tolerance  runs" in text
    result = sweep(spec, {"tau": ["x1", "x2"]}, jobs=1)
    assert [p.compiled.spec.tau[0] for p in result.points] == [1e-3, 2e-3]
    assert [len(result.runs_of(p.index)) for p in result.points] == [1, 1]  # no tolerance: one run
    assert result.passed and all(r["error"] < 1e-3 for r in result.records)


@pytest.mark.ngspice
def test_a_run_whose_parts_flip_the_decision_is_reported(tmp_path, capsys):
    spec_path, stim = write_margin(tmp_path)
    spec = spec_from_dict(MARGIN)
    kw = dict(runs=8, tolerance=0.2, seed=5, stimulus=stim, window=(20, None))
    serial = montecarlo(spec, jobs=1, **kw)
    c = compile_rnn(spec_from_dict(MARGIN)).circuit
    r_index = [type(c.elements[i]) for i in passive_indices(c)].index(ir.Resistor)
    expected = []
    for r in serial.records:
        f_r = perturbed(c, 0.2, "uniform", 5, r["run"])[1][r_index]
        d = r["decision"]
        assert d["discrete"] == d["reference"] == [1]
        assert d["mean"][0] == pytest.approx(MARGIN_X * f_r, rel=2e-3)  # the gain is the resistor's
        assert abs(MARGIN_X * f_r - 0.5) > 1e-3  # (no run of this seed is too close to call)
        expected.append(MARGIN_X * f_r >= 0.5)
        assert d["match"] == d["match_reference"] == expected[-1] == r["passed"]
        assert d["decision"] == ([1] if expected[-1] else [0])
    assert 0 < sum(expected) < len(expected)  # both kinds, by construction of the seed
    ps = serial.point_summary()
    assert ps["decision"]["right"] == sum(expected) and ps["decision"]["fraction"] == sum(expected) / 8
    assert ps["decision"]["wrong_runs"] == [r["run"] for r, ok in zip(serial.records, expected) if not ok]
    assert ps["pass_fraction"] == ps["decision"]["fraction"] and not serial.passed
    assert f"right decision (the discrete network's) in {sum(expected)}/8 run(s)" in serial.summary()
    assert "the error is not a criterion" in serial.summary()
    # the same runs on a pool, alone, and resumed after an interrupt
    assert_same_runs(serial.records, montecarlo(spec, jobs=2, **kw).records)
    assert_same_runs(montecarlo(spec, run=3, jobs=1, **kw).records, [serial.record(3)])
    out = tmp_path / "mc.json"

    def stop_after_two(done, total, record):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        montecarlo(spec, jobs=1, output=out, progress=stop_after_two, **kw)
    with pytest.raises(OutputError, match="another study"):  # another window: another study
        montecarlo(spec, jobs=1, output=out, resume=True, **{**kw, "window": (10, None)})
    resumed = montecarlo(spec, jobs=1, output=out, resume=True, **kw)
    assert resumed.resumed == 2
    assert_same_runs(resumed.records, serial.records)
    doc = json.loads(out.read_text())
    assert doc["points"][0]["summary"]["decision"]["right"] == sum(expected) and "decision_rule" in doc
    # the command line: the same runs, the figure; with a threshold the error counts too
    rc = main(["montecarlo", str(spec_path), "--stimulus", str(stim), "--window", "20", "--tolerance", "20%",
               "--runs", "8", "--seed", "5", "--threshold", "0.01", "--jobs", "1", "-o", str(tmp_path / "cli.json"),
               "--plot", str(tmp_path / "mc.png")])
    text = capsys.readouterr().out
    assert rc == 1 and "decides right and within threshold 0.01" in text, text
    assert (tmp_path / "mc.png").read_bytes()[:4] == b"\x89PNG"
    cli = json.loads((tmp_path / "cli.json").read_text())["records"]
    assert [r["decision"] for r in cli] == [r["decision"] for r in serial.records]
    assert not any(r["passed"] for r in cli)  # 20 % parts: every run is beyond 1 % of the nominal
    # a sweep point per tolerance: a right decision at 0 %, fewer at 20 %
    rc = main(["sweep", str(spec_path), "--stimulus", str(stim), "--window", "20", "--param", "tolerance=0,20%",
               "--runs", "8", "--seed", "5", "--jobs", "1"])
    text = capsys.readouterr().out
    assert rc == 1 and "right decision" in text and f"{sum(expected)}/8" in text, text
    assert "1/1" in text.splitlines()[2], text


@pytest.mark.ngspice
def test_task_trials_are_the_same_serial_and_on_a_pool(tmp_path):
    data = {"name": "bistable", "convention": "ctrnn", "activation": "tanh", "tau": 1.0e-3,
            "w": [[1.6, 0.3], [0.3, 1.4]], "w_in": [[1.0], [0.6]], "w_out": [[0.6, 0.6]], "t_stop": 0.2,
            "inputs": [{"kind": "step", "value": 0.0}], "provenance": {"mapping": {"dt": 1.0e-3}}}
    spec = spec_from_dict(data)
    stimuli = pulse_trials(-1.0, trials=2, seed=1, noise=0.02, delay=5, steps=160)
    serial = run_task(spec, stimuli, 1e-3, jobs=1)
    pool = run_task(spec, stimuli, 1e-3, jobs=2)
    for a, b in zip(serial.trials, pool.trials):
        for key in ("y_discrete", "y_reference", "y_spice", "spice_time", "y_spice_raw"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert serial.passed == pool.passed


@pytest.mark.ngspice
def test_a_record_damaged_in_the_journal_is_done_again(tmp_path, monkeypatch):
    # red team: an "error" edited to a string crashed the resume with a TypeError (exit 70)
    spec = spec_from_dict(OSC)
    out = tmp_path / "mc.json"
    lines = interrupted_after_three(spec, out, 4)
    damaged = json.loads(lines[2])
    damaged["error"] = "abc"
    journal_path(out).write_text("\n".join([lines[0], lines[1], json.dumps(damaged), lines[3]]) + "\n")
    calls = counted_simulator(monkeypatch)
    resumed = montecarlo(spec, runs=4, tolerance=0.05, seed=3, jobs=1, output=out, resume=True)
    assert sorted(resumed.executed) == [(0, 1), (0, 3)] and len(calls) == 2
    fresh = montecarlo(spec, runs=4, tolerance=0.05, seed=3, jobs=1)
    assert [r["error"] for r in resumed.records] == [r["error"] for r in fresh.records]
