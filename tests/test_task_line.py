"""The line `rnn2spice task` prints per trial says how far a chaotic trial is held to its
reference (the horizon), as the criterion it is judged by does.  No ngspice: a stand-in
trial with the fields the line reads."""
from __future__ import annotations

from types import SimpleNamespace

from rnn2spice.cli.task import trial_line


def _trial(horizon, lam):
    diff = {"spice_vs_discrete": {"mean": 0.15, "end": 0.34, "max_window": 2.7, "rms_window": 1.0},
            "spice_vs_reference": {"max_trial": 3.13e-4}}
    stats = {"discrete": {"decision": [0], "mean": [0.0043]}, "spice": {"decision": [0], "mean": [-0.1486]}}
    return SimpleNamespace(stats=stats, differences=lambda: diff, stimulus=SimpleNamespace(label="pulse 1"),
                           horizon=horizon, lyapunov_exponent=lam, timings={"spice": 48.2}, passed=False,
                           failures=lambda: ["mean_within_tolerance: 0.15 > 0.05"])


def test_a_chaotic_trial_line_names_the_horizon_its_reference_error_is_measured_to():
    line = trial_line(0, 1, _trial(0.023365, 107.355))
    assert "|SPICE - reference| max 3.13e-04 up to the horizon 0.0234 s (lambda_1 107 1/s) (48.2 s ngspice): " \
           "FAIL mean_within_tolerance" in line, line
    plain = trial_line(0, 1, _trial(None, None))
    assert "max 3.13e-04 (48.2 s ngspice): FAIL" in plain and "horizon" not in plain, plain


def test_the_task_figure_marks_a_chaotic_trials_horizon():
    """The figure of a chaotic trial draws T_p in both panels (it drew none while the criterion
    stopped there); a trial without a horizon draws no such line."""
    import numpy as np

    from rnn2spice.report.figures import task_plot
    from rnn2spice.workflows.stimulus import Stimulus
    from rnn2spice.workflows.task import TrialResult

    steps = 20
    grid = (np.arange(steps) + 1) * 1e-3
    y = np.ones((steps, 1))
    t_sp = np.linspace(0, 0.02, 201)
    stim = Stimulus(np.zeros((steps, 1)), (10, 20), "pulse")

    def figure(horizon):
        trial = TrialResult(stim, grid, y, y, y, t_sp, np.ones((t_sp.size, 1)), np.ones((t_sp.size, 1)), 0.0, 0.05,
                            0.5, False, lyapunov_exponent=None if horizon is None else 300.0, horizon=horizon)
        result = SimpleNamespace(trials=[trial], dt=1e-3, dead_zone=0.5, tolerance=0.05,
                                 spec=SimpleNamespace(name="scs", tau=np.array([1e-3])))
        return task_plot(result)

    def vertical_lines_at(fig, x):
        return sum(1 for ax in fig.axes for line in ax.get_lines()
                   if len(set(np.atleast_1d(line.get_xdata()))) == 1 and np.atleast_1d(line.get_xdata())[0] == x)
    assert vertical_lines_at(figure(0.009), 9.0) == 2
    labels = [t.get_text() for ax in figure(0.009).axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any("horizon T_p (lambda_1 300 1/s)" in t for t in labels), labels
    assert vertical_lines_at(figure(None), 9.0) == 0


def _criteria_trial(horizon, criterion="decision", strict=False):
    import numpy as np

    from rnn2spice.workflows.stimulus import Stimulus
    from rnn2spice.workflows.task import TrialResult

    steps = 20
    grid = (np.arange(steps) + 1) * 1e-3
    disc = np.full((steps, 1), 0.9)
    spice = disc.copy()
    spice[14:] += 0.4          # parts from the discrete network from 15 ms on (beyond a horizon at 12 ms)
    t_sp = np.linspace(0, 0.02, 201)
    stim = Stimulus(np.zeros((steps, 1)), (10, 20), "pulse")
    return TrialResult(stim, grid, disc, disc, spice, t_sp, np.ones((t_sp.size, 1)), np.ones((t_sp.size, 1)), 0.0,
                       0.05, 0.5, strict, criterion=criterion, lyapunov_exponent=None if horizon is None else 300.0,
                       horizon=horizon)


def test_a_chaotic_trial_beyond_its_horizon_is_judged_by_its_decision():
    """Issue 24, item 5: the mean and end readouts of a chaotic trial are compared with the
    discrete network's only when its window ends before the horizon; the same readouts fail
    without a horizon, and the decision (+1 both) still counts."""
    plain = _criteria_trial(None, strict=True).checks()
    assert not plain["mean_within_tolerance"] and not plain["end_within_tolerance"]
    assert not plain["max_window_within_tolerance"]
    chaotic = _criteria_trial(0.012, strict=True)
    checks = chaotic.checks()
    assert checks["decision_match"] and checks["mean_within_tolerance"] and checks["end_within_tolerance"]
    assert checks["max_window_within_tolerance"] and chaotic.passed
    text = dict((name, m) for name, _, m in chaotic.criteria())["end_within_tolerance"]
    assert "not judged" in text and "horizon 0.012 s" in text, text
    late = _criteria_trial(0.05).checks()      # the window ends before the horizon: judged as ever
    assert not late["mean_within_tolerance"] and not late["end_within_tolerance"]


def test_a_chaotic_trajectory_trial_is_judged_up_to_its_horizon():
    up_to_parting = _criteria_trial(0.0145, criterion="trajectory")     # window 11..14 ms agrees
    assert up_to_parting.passed, up_to_parting.failures()
    past_parting = _criteria_trial(0.0165, criterion="trajectory")      # includes 15, 16 ms: 0.4 apart
    assert not past_parting.checks()["trajectory_max_within_tolerance"]
    early = _criteria_trial(0.005, criterion="trajectory")              # the whole window beyond T_p
    assert early.passed and "not judged" in early.criteria()[0][2]
