"""Property: any small random spec, through compile -> certificate -> simulate -> reference -> compare, ends in a verdict (pass, or a measured mismatch) or a
clear rnn2spice error -- never another exception.

Random: n 1..5, m 0..2, weights with zeros and large values (unstable and stiff networks
included), every waveform kind, both conventions and activations, both forms and couplings
(some combinations are refused on purpose), random accuracy.  ~30 examples, < 60 s.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.cli.common import exit_code
from rnn2spice.errors import Rnn2SpiceError
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.pipeline import check

EXAMPLES = 30
OUTCOMES: Counter = Counter()

# dimensionless weight magnitudes: zero, small, order one, large (stiff or unstable)
MAGNITUDES = st.sampled_from([0.0, 0.0, 0.05, 0.5, 1.0, 2.0, 10.0, 300.0])


@st.composite
def weights(draw, shape):
    mags = draw(st.lists(MAGNITUDES, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=len(mags), max_size=len(mags)))
    return (np.array(mags) * np.array(signs)).reshape(shape)


@st.composite
def waveform(draw, t_stop):
    kind = draw(st.sampled_from(["step", "pulse", "sine", "pwl"]))
    frac = st.floats(0.0, 0.9)
    level = st.floats(-2.0, 2.0, allow_nan=False)
    if kind == "step":
        return {"kind": "step", "value": draw(level), "at": draw(frac) * t_stop}
    if kind == "pulse":
        rise, fall, width = (draw(st.floats(0.001, 0.1)) * t_stop for _ in range(3))
        period = draw(st.floats(1.0, 4.0)) * (rise + fall + width)
        return {"kind": "pulse", "low": draw(level), "high": draw(level), "delay": draw(frac) * t_stop,
                "rise": rise, "fall": fall, "width": width, "period": period}
    if kind == "sine":
        return {"kind": "sine", "amplitude": draw(level), "frequency": draw(st.floats(0.1, 20.0)) / t_stop,
                "offset": draw(level), "phase": draw(st.floats(-360.0, 360.0))}
    times = sorted(set(draw(st.lists(frac, min_size=1, max_size=6))))
    return {"kind": "pwl", "points": [[t * t_stop, draw(level)] for t in times]}


@st.composite
def specs(draw):
    n = draw(st.integers(1, 5))
    m = draw(st.integers(0, 2))
    convention = draw(st.sampled_from(["paper", "ctrnn"]))
    tau = np.array(draw(st.lists(st.floats(2e-4, 2e-3), min_size=n, max_size=n)))
    big_w, big_u = draw(weights((n, n))), draw(weights((n, m)))
    scale = (1.0 / tau)[:, None] if convention == "paper" else 1.0  # paper weights are 1/s
    t_stop = draw(st.floats(2.0, 8.0)) * float(tau.max())
    data = {
        "name": "prop",
        "convention": convention,
        "activation": draw(st.sampled_from(["linear", "tanh"])),
        "tau": tau.tolist() if draw(st.booleans()) else float(tau[0]),
        "w": (big_w * scale).tolist(),
        "h0": draw(st.lists(st.floats(-2.0, 2.0), min_size=n, max_size=n)),
        "t_stop": t_stop,
    }
    if isinstance(data["tau"], float):
        data["w"] = (big_w * (1.0 / tau[0] if convention == "paper" else 1.0)).tolist()
    if m:
        data["w_in"] = (big_u * scale).tolist()
        data["inputs"] = [draw(waveform(t_stop)) for _ in range(m)]
    if convention == "ctrnn" and draw(st.booleans()):
        data["bias"] = draw(st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n))
    options = {"form": draw(st.sampled_from(["parallel", "series"])),
               "coupling": draw(st.sampled_from(["vccs", "vccs", "gyrator"])),
               "accuracy": draw(st.sampled_from(["default", "default", "high"]))}
    return data, options


def pipeline(data: dict, form: str, coupling: str, accuracy: str) -> str:
    spec = spec_from_dict(data)
    compiled = compile_rnn(spec, form=form, coupling=coupling, accuracy=accuracy)
    # certificate first (CertificateFailed is an Rnn2SpiceError), then ngspice and the reference
    result = check(compiled, backend="shared", timeout=20)
    trajectory = result.trajectory
    assert trajectory.states.shape == (trajectory.time.size, spec.n)
    assert np.isfinite(result.comparison.rel_max_error) or not np.all(np.isfinite(trajectory.states))
    return "pass" if result.passed else "mismatch"


@pytest.mark.ngspice
@pytest.mark.filterwarnings("error")  # a RuntimeWarning on the terminal is not a clear error either
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(specs())
def test_random_specs_end_in_a_verdict_or_a_clear_error(case):
    data, options = case
    try:
        outcome = pipeline(data, **options)
    except Rnn2SpiceError as exc:
        text = str(exc)
        assert text.strip(), type(exc).__name__
        assert exit_code(exc) in (1, 2, 3)
        outcome = f"{type(exc).__name__} (exit {exit_code(exc)})"
    OUTCOMES[outcome] += 1


@pytest.mark.ngspice
def test_report_outcomes():
    """Runs after the property test (file order): every example ended in a tallied outcome,
    and the random specs exercised both verdicts' side of the pipeline, not only refusals."""
    print("\nproperty outcomes:", dict(OUTCOMES))
    assert sum(OUTCOMES.values()) >= EXAMPLES, OUTCOMES
    assert OUTCOMES["pass"] >= EXAMPLES // 3, OUTCOMES  # most random specs simulate and pass
