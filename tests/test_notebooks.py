"""The notebooks in examples/ run top to bottom (issue 23), in a real Jupyter kernel, and show
what they promise: short reprs, figures, and no error output."""

from __future__ import annotations

import time

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
#: Longest a notebook may take (s): "a minute or two each" on a shared machine.
BUDGET = 240


def test_there_are_at_least_three_notebooks():
    assert [p.name for p in NOTEBOOKS][:3] == ["01-first-circuit.ipynb", "02-trained-network.ipynb",
                                              "03-build-monte-carlo.ipynb"]


@pytest.mark.ngspice
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path):
    nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[docs]'")
    nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[docs]'")
    book = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(book, timeout=BUDGET, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    assert time.perf_counter() - start < BUDGET
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr" and "Traceback" in o.get("text", "")]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "a notebook shows at least one figure"
    for o in outputs:  # every result's repr stays short
        text = o.get("data", {}).get("text/plain", "")
        assert len(text) <= 1000 or text.startswith("'") or "netlist" in path.name, text[:200]
    tables = [o for o in outputs if "<table>" in o.get("data", {}).get("text/html", "")]
    assert tables, "results show a small table in Jupyter"
