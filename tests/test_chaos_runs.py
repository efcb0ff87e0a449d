"""A chaotic check's two ngspice runs (THEORY.md 9, "Two runs"): side by side on two cores,
and the statistical run at its a-priori step.

The pointwise run goes to ``ngspice -b`` in a thread beside the statistical run; a failure of
either is the check's error, and a failed pointwise run stops the statistical one.  The
statistical run steps at :data:`~rnn2spice.workflows.pipeline.STATISTICS_STEP` / |lambda|max
with ngspice's truncation control at its default, and still tells a tampered circuit apart.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from rnn2spice.circuit.compiler import fastest_rate, options_for
from rnn2spice.errors import SimulationError
from rnn2spice.network.scaling import circuit_time
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows import pipeline


def random_net(*, n, g, seed, convention="rate", t_stop=0.1, tau=1e-3):
    rng = np.random.default_rng(seed)
    return spec_from_dict({"name": "scs", "tau": tau, "w": rng.normal(0.0, g / np.sqrt(n), (n, n)).tolist(),
                           "h0": rng.normal(0.0, 1.0, n).tolist(), "t_stop": t_stop, "convention": convention,
                           "activation": "tanh"})


def test_the_runs_go_side_by_side_unless_the_shared_library_was_asked_for(monkeypatch):
    import rnn2spice.workflows.pool as pool
    monkeypatch.setattr(pool, "available_cores", lambda: 2)
    assert pipeline._side_by_side({"backend": "auto"}) == ("subprocess", "auto")
    assert pipeline._side_by_side({"backend": "subprocess"}) == ("subprocess", "subprocess")
    # one libngspice per process: the user's shared library runs them one after the other
    assert pipeline._side_by_side({"backend": "shared"}) is None
    monkeypatch.setattr(pool, "available_cores", lambda: 1)
    assert pipeline._side_by_side({"backend": "auto"}) is None


@pytest.mark.ngspice
@pytest.mark.parametrize("cores", [1, 2])
def test_a_failed_pointwise_run_is_the_error_of_the_check(monkeypatch, cores):
    # the pointwise run fails at once; side by side its error stops the statistical run and is
    # raised (not the statistical run's, nor a SimulationError blaming the statistical netlist)
    import rnn2spice.workflows.pool as pool
    monkeypatch.setattr(pool, "available_cores", lambda: cores)
    calls = []

    def broken(compiled, **kw):
        calls.append(kw["options"]["backend"])
        raise SimulationError("the pointwise run broke")

    monkeypatch.setattr(pipeline, "_refined", broken)
    spec = random_net(n=30, g=4.0, seed=0, t_stop=0.3)
    with pytest.raises(SimulationError, match="the pointwise run broke"):
        pipeline.check(spec)
    assert calls == (["subprocess"] if cores == 2 else ["auto"])


def test_the_statistical_run_steps_at_its_a_priori_step():
    spec = random_net(n=40, g=4.0, seed=1, convention="ctrnn", t_stop=0.2)
    compiled = pipeline.compile_rnn(spec)
    whole = pipeline._statistical_variant(compiled, rtol=pipeline.STATISTICS_RTOL)
    tr, opts = whole.circuit.analysis, whole.circuit.options
    step = pipeline.STATISTICS_STEP / fastest_rate(circuit_time(spec))
    assert tr.max_step == pytest.approx(step) and tr.stop == spec.t_stop
    # the truncation control loosened beyond ngspice's default 7
    assert opts.trtol == pipeline.STATISTICS_TRTOL
    # Newton's tolerance stays the target's (the run is certified against these options)
    assert opts.reltol == options_for(pipeline.STATISTICS_RTOL).reltol
    assert re.search(r"(?m)^\.options .*\btrtol=30(\.0)?\b", whole.netlist), whole.netlist[-600:]


@pytest.mark.ngspice
def test_a_tampered_circuit_at_the_statistical_step_fails_its_statistics():
    # the statistical run's own netlist (its a-priori step and trtol) with every weight x 1.3,
    # judged beyond the horizon as check judges it: its variance, population and lambda_1 move
    # (measured: scores 4.8, 4.2 and 1.9 of their bounds; the correct run's largest is 0.33)
    import re
    from tests.test_chaos import _run_text

    spec = random_net(n=30, g=4.0, seed=0, convention="rate", t_stop=0.1)
    result = pipeline.check(spec)
    assert result.passed and result.statistics is not None, result.summary()
    whole = result.compiled
    assert whole.circuit.analysis.max_step == pytest.approx(
        pipeline.STATISTICS_STEP / fastest_rate(circuit_time(spec)))
    text = re.sub(r"(?m)^(G\S* \S+ \S+ \S+ \S+ )(\S+)$", lambda m: f"{m.group(1)}{float(m.group(2)) * 1.3!r}",
                  whole.netlist)
    assert text != whole.netlist
    timings = dict.fromkeys(("compile", "certificate", "simulate", "reference", "chaos"), 0.0)
    wrong = pipeline._statistics(whole, _run_text(whole, text), result.horizon, timings,
                                 resolution=max(pipeline.STATISTICS_RESOLUTION, result.comparison.threshold))
    assert not wrong.passed, wrong.describe()
    assert {"variance", "population"} <= set(wrong.failed()), wrong.describe()
