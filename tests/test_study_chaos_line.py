"""The summary of a Monte Carlo of a chaotic network says that each run's error is up to its
horizon and how many runs passed each part (docs/chaos.md: `montecarlo` gets check's
two-part verdict).  Measured: ctrnn n = 80, g = 4, 1 % parts, 3 runs: errors 0.16-0.51 up to
11.4 ms, every statistic passing; the summary named neither.  No ngspice: records as the
study writes them."""
from __future__ import annotations

from types import SimpleNamespace

from rnn2spice.workflows.study_result import StudyResult


def _record(run, error, horizon, stats_ok=True):
    return {"point": 0, "run": run, "status": "ok", "state_error": error, "lyapunov_exponent": 123.3,
            "horizon": horizon, "statistics": None if horizon is None else
            {"mean": True, "variance": stats_ok, "autocorrelation": True}}


def _lines(records):
    return StudyResult._chaos_lines(SimpleNamespace(runs_of=lambda point: records), 0, 0.1)


def test_a_chaotic_study_names_the_horizon_and_both_parts():
    lines = _lines([_record(0, 0.16, 0.0114), _record(1, 0.05, 0.0114, stats_ok=False), _record(2, 0.5, 0.012)])
    assert len(lines) == 1, lines
    assert "chaotic in 3 run(s) (lambda_1 median 123.3 1/s)" in lines[0]
    assert "median 0.0114 s" in lines[0] and "within 0.1 in 1/3, statistics pass in 2/3" in lines[0], lines


def test_a_study_of_a_predictable_network_has_no_such_line():
    assert _lines([_record(0, 0.01, None), {"point": 0, "run": 1, "status": "failed"}]) == []
