"""Task check: stimuli, the discrete network, decisions, the `rnn2spice task` command, and
trained Keras networks whose circuits must make the discrete network's decisions.

The four 100-neuron runs (two networks x pulse +1/-1, 370 ms each, ~37000 ngspice time
points) cost ~2 min of CPU each in ngspice 39 here (more wall time on a busy machine); the
full 5 networks x {+1, -1, 0} is ``python benchmarks/task_all.py``.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from rnn2spice.cli.app import main
from rnn2spice.workflows.importers import import_model
from rnn2spice.workflows.stimulus import (EDGE_FRACTION, hann_pulse, hold_pwl, load_stimulus_file, parse_window,
                                          pulse_trials)
from rnn2spice.workflows.task import CRITERIA, DEFAULT_DEAD_ZONE, decision, run_discrete, run_trial

from conftest import KERAS_DIR  # noqa: E402  (tests/data/keras-rnn, in the repository)


def shared_file(name: str) -> Path:
    path = KERAS_DIR / name
    assert path.is_file(), (f"shared test data missing: {path}; the tests expect the read-only "
                            f"tests/data/keras-rnn directory of the repository ({KERAS_DIR})")
    return path


@pytest.fixture
def bistable(tmp_path):
    """A 2-neuron bistable memory: a +-pulse latches the readout near +-1.12, 0 leaves it at 0.

    Discrete and continuous (tau = dt) versions share the attractors, so they agree once settled.
    """
    np.savez(tmp_path / "bi.npz", W=[[1.6, 0.3], [0.3, 1.4]], U=[[1.0], [0.6]], w_out=[[0.6, 0.6]], b_out=[0.0])
    assert main(["import", str(tmp_path / "bi.npz"), "--dt", "1e-3", "-o", str(tmp_path / "bi.yaml")]) == 0
    return tmp_path / "bi.yaml"


# --------------------------------------------------------------------------- stimuli

def test_hann_pulse_shape():
    """'same'-mode convolution of 20 ones with a 10-point Hann window / its sum: the middle
    of the 29-sample full convolution, samples 4..23 (as scipy.signal.convolve centres it)."""
    x = hann_pulse(1.0)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(10) / 9)  # symmetric Hann, zero at both ends
    np.testing.assert_allclose(x, np.convolve(np.ones(20), win)[4:24] / win.sum(), atol=1e-15)
    np.testing.assert_allclose(x[4:17], 1.0, atol=1e-12)  # full height where the window fits
    assert x[0] == pytest.approx(0.5) and x[0] < x[1] < x[2] < x[3] < 1.0  # ramps at both ends
    assert 1.0 > x[17] > x[18] > x[19] > 0.5
    np.testing.assert_allclose(hann_pulse(-1.0), -x)


def test_pulse_trials_follow_the_task():
    trials = pulse_trials(-1.0, trials=200, seed=3)
    delays = [t.delay for t in trials]
    assert min(delays) >= 1 and max(delays) <= 70 and len(set(delays)) > 40
    for t in trials[:20]:
        d = t.delay
        assert t.x.shape == (370, 1) and t.window == (120 + d, 370) and t.value == -1.0
        nonzero = np.nonzero(t.x[:, 0])[0]
        assert nonzero.min() >= 50 + d and nonzero.max() < 70 + d
        np.testing.assert_allclose(t.x[50 + d:70 + d, 0], hann_pulse(-1.0))
    again = pulse_trials(-1.0, trials=200, seed=3)
    assert [t.delay for t in again] == delays
    assert [t.delay for t in pulse_trials(-1.0, trials=200, seed=4)] != delays


def test_pulse_noise_and_fixed_delay():
    clean = pulse_trials(1.0, delay=12)[0]
    noisy = pulse_trials(1.0, delay=12, noise=0.05, seed=7)[0]
    assert clean.delay == noisy.delay == 12
    resid = noisy.x - clean.x
    assert 0.04 < resid.std() < 0.06 and abs(resid.mean()) < 0.01
    np.testing.assert_array_equal(noisy.x, pulse_trials(1.0, delay=12, noise=0.05, seed=7)[0].x)
    assert not np.any(pulse_trials(0.0, delay=5)[0].x)


def test_hold_pwl_holds_each_sample():
    x = np.array([0.0, 0.0, 1.0, 1.0, -0.5, 2.0])
    dt = 1e-3
    pwl = hold_pwl(x, dt, EDGE_FRACTION * dt)
    mid = (np.arange(x.size) + 0.5) * dt
    np.testing.assert_array_equal(pwl.value(mid, x.size * dt), x)
    late = (np.arange(x.size) + 1 - 1e-9) * dt  # just before each step ends: still the sample
    np.testing.assert_allclose(pwl.value(late, x.size * dt), x)
    assert len(pwl.times) == 1 + 2 * 3 + 1  # start, two knots per change, end
    assert len(hold_pwl(np.ones(50), dt, 1e-5).times) == 2


def test_decision_dead_zone():
    assert DEFAULT_DEAD_ZONE == 0.5
    assert [decision(v, 0.5) for v in (0.49, -0.49, 0.5, -0.5, 1.2, -3.0, 0.0)] == [0, 0, 1, -1, 1, -1, 0]


def test_run_discrete_is_the_recursion(bistable):
    from rnn2spice.network.load import load_spec

    spec = load_spec(bistable)
    x = np.random.default_rng(0).standard_normal((30, 1))
    h, expect = np.zeros(2), []
    for k in range(30):
        h = np.tanh(np.array([[1.6, 0.3], [0.3, 1.4]]) @ h + np.array([1.0, 0.6]) * x[k, 0])
        expect.append(h)
    np.testing.assert_allclose(run_discrete(spec, x), expect, rtol=1e-14, atol=1e-15)


def test_stimulus_files(tmp_path):
    (tmp_path / "s.csv").write_text("x\n0\n0.5\n# comment\n1\n1\n")
    [s] = load_stimulus_file(tmp_path / "s.csv", m=1)
    np.testing.assert_array_equal(s.x[:, 0], [0, 0.5, 1, 1])
    assert s.window == (0, 4)
    np.save(tmp_path / "a.npy", np.arange(12.0).reshape(3, 4))  # (trials, steps) for m = 1
    trials = load_stimulus_file(tmp_path / "a.npy", m=1, window=(1, None))
    assert len(trials) == 3 and trials[2].x[:, 0].tolist() == [8, 9, 10, 11] and trials[0].window == (1, 4)
    np.save(tmp_path / "b.npy", np.zeros((2, 5, 3)))  # Keras x_train layout
    assert [t.x.shape for t in load_stimulus_file(tmp_path / "b.npy", m=3)] == [(5, 3), (5, 3)]
    np.save(tmp_path / "c.npy", np.zeros((5, 2)))  # (steps, inputs)
    assert load_stimulus_file(tmp_path / "c.npy", m=2)[0].x.shape == (5, 2)
    with pytest.raises(ValueError, match=r"shape \(4, 1\) does not fit the network's 2 input"):
        load_stimulus_file(tmp_path / "s.csv", m=2)
    np.save(tmp_path / "nan.npy", np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="step 1"):
        load_stimulus_file(tmp_path / "nan.npy", m=1)
    (tmp_path / "bad.csv").write_text("1\n2\nthree\n")
    with pytest.raises(ValueError, match="line 3"):
        load_stimulus_file(tmp_path / "bad.csv", m=1)
    assert parse_window("120") == (120, None) and parse_window("5:9") == (5, 9)
    with pytest.raises(ValueError, match="--window"):
        parse_window("a:b")


# --------------------------------------------------------------------------- the command, small network

@pytest.mark.ngspice
def test_task_pass_report_and_plot(bistable, tmp_path, capsys):
    rc = main(["task", str(bistable), "--stimulus", "pulse", "--value", "-1", "--seed", "2", "--trials", "2",
               "--noise", "0.02", "--report", str(tmp_path / "r.json"), "--plot", str(tmp_path / "p.png")])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "2/2 decisions match" in out.out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] and report["all_decisions_match"] and report["dt"] == 1e-3
    assert report["stimulus"] == {"kind": "pulse", "value": -1.0, "seed": 2, "noise": 0.02, "trials": 2}
    for t in report["trials"]:
        assert t["discrete"]["decision"] == t["spice"]["decision"] == [-1] and t["discrete_correct"]
        assert t["window"] == [120 + t["delay_steps"], 370]
        d = t["differences"]
        assert d["spice_vs_discrete"]["mean"] < 0.05 and d["spice_vs_discrete"]["end"] < 0.05
        assert d["spice_vs_reference"]["max_trial"] < 1e-3
        assert set(t["checks"]) == {"decision_match", "mean_within_tolerance", "end_within_tolerance",
                                    "circuit_within_tolerance"}
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.ngspice
def test_task_zero_pulse_and_file_stimulus(bistable, tmp_path, capsys):
    assert main(["task", str(bistable), "--stimulus", "pulse", "--value", "0", "--delay", "10"]) == 0
    stims = np.stack([pulse_trials(v, delay=20)[0].x for v in (1.0, 0.0)])  # (2, 370, 1)
    np.save(tmp_path / "x.npy", stims)
    assert main(["task", str(bistable), "--stimulus", str(tmp_path / "x.npy"), "--window", "140",
                 "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [t["spice"]["decision"] for t in report["trials"]] == [[1], [0]]
    assert report["trials"][0]["window"] == [140, 370] and report["trials"][0]["target_decision"] is None


@pytest.mark.ngspice
def test_task_mismatch_exit_1(tmp_path, capsys):
    """tau = 100 dt: the continuous network (and so the circuit) is far too slow to latch in
    time; the discrete network decides +1, the circuit 0."""
    np.savez(tmp_path / "bi.npz", W=[[1.6, 0.3], [0.3, 1.4]], U=[[1.0], [0.6]], w_out=[[0.6, 0.6]])
    assert main(["import", str(tmp_path / "bi.npz"), "--dt", "1e-3", "--tau", "0.1", "-o", str(tmp_path / "s.yaml")]) == 0
    assert main(["task", str(tmp_path / "s.yaml"), "--stimulus", "pulse", "--delay", "30",
                 "--report", str(tmp_path / "r.json")]) == 1
    line = capsys.readouterr().out.strip()
    assert "FAIL -- failed: decision_match in 1/1 trial (decision SPICE 0 != discrete +1 (mean readout" in line, line
    assert "circuit_within_tolerance" not in line  # the circuit follows its model: not a failure
    t = json.loads((tmp_path / "r.json").read_text())["trials"][0]
    assert t["discrete"]["decision"] == [1] and t["spice"]["decision"] == [0]
    assert t["checks"]["decision_match"] is False and t["checks"]["circuit_within_tolerance"] is True


@pytest.mark.ngspice
def test_task_simulator_failure_exit_3(bistable, capsys):
    assert main(["task", str(bistable), "--stimulus", "pulse", "--delay", "3", "--backend", "subprocess",
                 "--timeout", "1e-4"]) == 3
    assert "ngspice" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["--stimulus", "missing.csv"], ["--stimulus", "missing.csv", "not found"]),
    (["--stimulus", "pulsee"], ["--stimulus", "pulse", "'pulsee'"]),
    (["--stimulus", "pulse", "--value", "nan"], ["--value", "nan"]),
    (["--stimulus", "pulse", "--noise", "-0.1"], ["--noise", "-0.1"]),
    (["--stimulus", "pulse", "--trials", "0"], ["--trials", "0"]),
    (["--stimulus", "pulse", "--delay", "71"], ["--delay", "71"]),
    (["--stimulus", "pulse", "--steps", "150"], ["--steps", "150"]),
    (["--stimulus", "pulse", "--window", "10:5"], ["--window", "10:5"]),
    (["--stimulus", "pulse", "--dt", "-1"], ["--dt", "'-1'"]),
    (["--stimulus", "pulse", "--tolerance", "0"], ["--tolerance", "0"]),
    (["--stimulus", "pulse", "--dead-zone", "-1"], ["--dead-zone", "-1"]),
    (["--stimulus", "pulse", "--coupling", "gyrator"], ["--coupling", "gyrator"]),
])
def test_task_bad_inputs_exit_2(bistable, capsys, argv, words):
    assert main(["task", str(bistable), *argv]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err


def test_task_bad_specs_and_files_exit_2(bistable, tmp_path, capsys):
    (tmp_path / "s.csv").write_text("0\n1\n")
    assert main(["task", str(bistable), "--stimulus", str(tmp_path / "s.csv"), "--seed", "3"]) == 2
    assert "--seed" in capsys.readouterr().err
    (tmp_path / "two.csv").write_text("0,1\n1,1\n")
    assert main(["task", str(bistable), "--stimulus", str(tmp_path / "two.csv")]) == 2
    assert "shape (2, 2) does not fit the network's 1 input(s)" in capsys.readouterr().err
    # no readout
    np.savez(tmp_path / "nr.npz", W=[[0.5]], U=[[1.0]])
    assert main(["import", str(tmp_path / "nr.npz"), "--dt", "1e-3", "-o", str(tmp_path / "nr.yaml")]) == 0
    assert main(["task", str(tmp_path / "nr.yaml"), "--stimulus", "pulse"]) == 2
    assert "no readout (w_out)" in capsys.readouterr().err
    # a hand-written spec records no dt: --dt is needed
    (tmp_path / "hand.yaml").write_text("name: hand\nconvention: ctrnn\nactivation: tanh\ntau: 1.0e-3\n"
                                        "w: [[0.5]]\nw_in: [[1.0]]\nw_out: [[1.0]]\n"
                                        "inputs: [{kind: step, value: 1}]\nt_stop: 1.0e-2\n")
    assert main(["task", str(tmp_path / "hand.yaml"), "--stimulus", "pulse"]) == 2
    assert "--dt" in capsys.readouterr().err
    assert main(["task", str(tmp_path / "missing.yaml"), "--stimulus", "pulse"]) == 2
    assert "missing.yaml" in capsys.readouterr().err


# --------------------------------------------------------------------------- trained Keras networks

@pytest.mark.ngspice
@pytest.mark.slow
@pytest.mark.parametrize("name", ["dm_delayed_ortho_bias_gap0.hdf5", "dm_delayed_normal_nobias_gap0.hdf5"])
@pytest.mark.parametrize("value", [1.0, -1.0])
def test_trained_network_circuit_makes_the_keras_decision(name, value, tmp_path):
    """370 ms trial of a 100-neuron trained network in ngspice (~2 min CPU)."""
    spec = import_model(shared_file(name), tmp_path / "net.yaml", dt=1e-3).spec
    stim = pulse_trials(value, delay=25, seed=0)[0]
    trial = run_trial(spec, stim, 1e-3)
    st, diff = trial.stats, trial.differences()
    # the decision of the circuit is the Keras network's, and the right answer
    assert st["spice"]["decision"] == st["discrete"]["decision"] == [int(value)]
    # readout over the response window: mean and final value within 0.05 of Keras'
    assert diff["spice_vs_discrete"]["mean"] <= 0.05
    assert diff["spice_vs_discrete"]["end"] <= 0.05
    # the circuit is its continuous network to ~1e-5; what remains is the tau = dt mapping,
    # whose transient at the start of the window settles within 50 steps
    assert diff["spice_vs_reference"]["max_trial"] <= 1e-3
    s, e = stim.window
    assert np.max(np.abs(trial.y_spice[s + 50:e] - trial.y_discrete[s + 50:e])) <= 0.05
    assert trial.passed


@pytest.mark.ngspice
def test_task_in_the_opamp_form_needs_no_coupling_option(bistable, tmp_path, capsys):
    # the form's own coupling (resistor) is used; it used to ask for vccs and fail
    assert main(["task", str(bistable), "--stimulus", "pulse", "--value", "1", "--delay", "10", "--form", "opamp",
                 "--report", str(tmp_path / "r.json")]) == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["trials"][0]["spice"]["decision"] == [1]


# --------------------------------------------------------------------------- a failure names its criterion

def _trial(rng, steps, p, *, offset, ref_offset, tolerance, strict=False, criterion="decision"):
    """A TrialResult from readouts made up here (no simulator: the verdict's wording is judged)."""
    from rnn2spice.workflows.stimulus import Stimulus
    from rnn2spice.workflows.task import TrialResult, trial_grid

    grid = trial_grid(steps, 1e-3)
    y_disc = rng.uniform(-1.5, 1.5, (steps, p))
    y_spice = y_disc + offset + rng.normal(0, 0.01, (steps, p))
    y_ref = y_spice + ref_offset
    stim = Stimulus(np.zeros((steps, 1)), (steps // 2, steps), "made up")
    return TrialResult(stim, grid, y_disc, y_ref, y_spice, grid, y_spice, y_ref, 0.0, tolerance, 0.5, strict,
                       criterion=criterion)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(4, 60), p=st.integers(1, 3),
       offset=st.floats(-0.3, 0.3), ref_offset=st.floats(-0.2, 0.2), tolerance=st.floats(0.01, 0.2),
       strict=st.booleans(), criterion=st.sampled_from(CRITERIA))
def test_a_failed_trial_names_each_failed_criterion_with_its_value_and_limit(seed, steps, p, offset, ref_offset,
                                                                            tolerance, strict, criterion):
    rng = np.random.default_rng(seed)
    trial = _trial(rng, steps, p, offset=offset, ref_offset=ref_offset, tolerance=tolerance, strict=strict,
                   criterion=criterion)
    s, e = trial.stimulus.window
    d = trial.y_spice - trial.y_discrete
    # the measured values, computed here another way
    measured = {"mean_within_tolerance": np.abs(d[s:e].mean(axis=0)).max(),
                "end_within_tolerance": np.abs(d[e - 1]).max(),
                "circuit_within_tolerance": np.abs(trial.y_spice_raw - trial.y_reference_raw).max(),
                "max_window_within_tolerance": np.abs(d[s:e]).max(),
                "trajectory_max_within_tolerance": np.abs(d[s:e]).max(),
                "trajectory_rms_within_tolerance": np.sqrt((d[s:e] ** 2).mean(axis=0)).max()}
    failures = trial.failures()
    assert [f.split(":")[0] for f in failures] == [k for k, ok in trial.checks().items() if not ok]
    assert trial.passed == (not failures)
    for line in failures:
        name = line.split(":")[0]
        if name == "decision_match":
            st_ = trial.stats
            assert f"SPICE {','.join(f'{v:+d}' if v else '0' for v in st_['spice']['decision'])} != discrete" in line
            continue
        value_text, limit_text = line.split(" > tolerance ")
        value, limit = float(value_text.split()[-1]), float(limit_text)
        assert value == pytest.approx(measured[name], rel=6e-4, abs=1e-12), line
        assert limit == pytest.approx(tolerance, rel=1e-6)
        assert value > limit  # shown with the digits that tell it from the limit


def test_the_verdict_line_says_which_criterion_failed_in_how_many_trials():
    from rnn2spice.workflows.task import TaskResult

    rng = np.random.default_rng(0)
    trials = [_trial(rng, 40, 1, offset=0.0, ref_offset=0.0, tolerance=0.05),
              _trial(rng, 40, 1, offset=0.0, ref_offset=0.3, tolerance=0.05),
              _trial(rng, 40, 1, offset=0.0, ref_offset=0.1, tolerance=0.05)]
    spec = types.SimpleNamespace(name="made-up")
    line = TaskResult(spec, 1e-3, trials, 0.05, 0.5, False, "parallel", "default", {}).summary()
    assert line.startswith("task made-up: 3/3 decisions match, 1/3 trials pass (tolerance 0.05, dead zone 0.5): FAIL")
    assert line.endswith(" -- failed: circuit_within_tolerance in 2/3 trials (trial 2: max |SPICE - reference| over "
                         "the trial 0.3 > tolerance 0.05)")
    assert "\n" not in line
    passing = TaskResult(spec, 1e-3, trials[:1], 0.05, 0.5, False, "parallel", "default", {}).summary()
    assert passing.endswith(": PASS")
