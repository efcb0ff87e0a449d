"""The summary of a chaotic check reports ngspice's cost of both runs (docs/chaos.md).

A chaotic check's ``trajectory`` is its statistical run; the pointwise run (up to the
horizon) is a second ngspice run whose points and seconds the summary used to leave out
(docs/chaos.md's network: 3,417 points in 5.9 s printed, 1,322 more in 4.0 s not).
No ngspice needed: the runs' records are put on a judged result."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from rnn2spice.analysis import chaos
from rnn2spice.analysis.reference import solve
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.pipeline import Trajectory, judge


def _two_runs():
    spec = spec_from_dict({"name": "osc", "tau": 1e-3, "w": [[0.0, 3000.0], [-3000.0, 0.0]],
                           "h0": [1.0, 0.0], "t_stop": 1e-2})
    t = np.linspace(0.0, spec.t_stop, 501)
    result = judge(compile_rnn(spec), Trajectory(t, solve(spec, t), "shared", "klu", 5.0))
    runs = ({"role": "pointwise", "points": 1322, "seconds": 4.0, "rtol": 2.5e-4, "t_stop": 1.35e-3},
            {"role": "statistics", "points": 501, "seconds": 5.0, "rtol": 3e-2, "t_stop": 1e-2})
    return result, replace(result, runs=runs, pointwise_run=(None, None, None, None))


def test_the_ngspice_line_counts_the_pointwise_run_too():
    single, chaotic = _two_runs()
    line = chaotic.summary(verbose=False).splitlines()[1]
    assert "501 time points in 5.00 s (statistical run) + 1322 in 4.00 s (pointwise run)" in line, line
    assert any("501 time points in 5.000 s (statistical run) + 1322 in 4.00 s (pointwise run)" in x
               for x in chaotic.summary().splitlines()), chaotic.summary()
    # beside the statistical run the pointwise run went to ngspice -b: the line says so
    t = np.linspace(0.0, 1.35e-3, 11)
    beside = replace(chaotic, pointwise_run=(None, None, Trajectory(t, np.zeros((11, 2)), "subprocess", "", 4.0), None))
    assert "+ 1322 in 4.00 s (pointwise run via subprocess)" in beside.summary(verbose=False), beside.summary()
    # one run: the line as before
    assert single.summary(verbose=False).splitlines()[1].endswith("501 time points in 5.00 s")
    assert "amplitude floor" in single.summary()


def test_the_short_form_says_a_chaotic_transients_horizon_is_its_amplifications():
    """rate n = 120, g = 5: "up to the horizon 0.0077 s (lambda_1 14.08 1/s)" could not be
    reconciled with lambda_1 (its own horizon ~150 ms); the line now says why."""
    single, _ = _two_runs()
    h = chaos.Horizon(exponent=SimpleNamespace(value=14.08), floor=1.25e-4, threshold=1e-3, horizon=0.0077,
                      amplification=7.7, transient_chaos=True)
    line = replace(single, horizon=h).summary(verbose=False).splitlines()[2]
    assert "up to the horizon 0.0077 s (lambda_1 14.08 1/s, a chaotic transient: floor grown by exp(7.7))" in line, line
    plain = replace(single, horizon=replace(h, transient_chaos=False)).summary(verbose=False).splitlines()[2]
    assert "(lambda_1 14.08 1/s):" in plain, plain


def test_the_figure_title_of_a_chaotic_transient_says_so(monkeypatch):
    """rate n = 50, g = 6 settles on a cycle: the text said "a chaotic transient", the title "chaotic"."""
    import rnn2spice.workflows.pipeline as pipeline

    titles = []
    fake = SimpleNamespace(
        statistics=SimpleNamespace(scores=lambda: {}), compiled=SimpleNamespace(spec=SimpleNamespace(name="scs"),
                                                                                  form="parallel", coupling="vccs"),
        horizon=chaos.Horizon(exponent=SimpleNamespace(value=62.5, time=np.zeros(2), growth=np.zeros((2, 1))),
                              floor=1.25e-4, threshold=1e-3, horizon=0.0062, amplification=15.2, transient_chaos=True),
        trajectory=SimpleNamespace(time=np.zeros(2), states=np.zeros((2, 1))), reference=np.zeros((2, 1)),
        passed=True, pointwise_run=None)
    monkeypatch.setattr(pipeline.figures, "chaos_plot", lambda *a, title, **k: titles.append(title))
    pipeline.CheckResult._draw(fake, None)
    fake.horizon = replace(fake.horizon, transient_chaos=False)
    pipeline.CheckResult._draw(fake, None)
    assert titles[0].startswith("scs: parallel/vccs, chaotic transient: lambda_1 = 62.5 1/s"), titles
    assert titles[1].startswith("scs: parallel/vccs, chaotic: lambda_1"), titles
