"""Short version of benchmarks/long_run.py for CI: 100 consecutive in-process simulations of
a compiled tanh network must not grow the process's memory.  Asserts on memory only;
timing belongs in the benchmark (CI machines are noisy)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("long_run", ROOT / "benchmarks" / "long_run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.ngspice
@pytest.mark.parametrize("form", ["parallel", "series"])
def test_100_in_process_runs_keep_memory_flat(form, record_property):
    result = _benchmark().measure(100, ROOT / "netlists" / "tanh4.yaml", backend="shared", warmup=20, form=form)
    record_property("rss_growth_mb", result["rss_growth_mb"])
    print(f"\n{form}: RSS growth over 100 runs {result['rss_growth_mb']:.2f} MB, "
          f"slowdown {result['slowdown_ratio']:.3f} (not asserted)")
    assert result["backend"] == "shared"
    assert result["rss_growth_mb"] < 15.0  # generous: a per-run leak of the netlist's size would show at once
