"""``rnn2spice schematic`` and ``rnn2spice.schematic``: pictures drawn from the compiled circuit."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import xml.etree.ElementTree as ET

import pytest

import rnn2spice
from conftest import NETLISTS, random_spec, random_spec_dict
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.cli.app import main
from rnn2spice.errors import MissingDependencyError, UsageError
from rnn2spice.network.opamp import OpAmpModel
from rnn2spice.report.schematic import MAX_NEURONS, draw, eng

REALISATIONS = (("parallel", "vccs"), ("parallel", "gyrator"), ("series", "vccs"), ("opamp", "resistor"))
#: The elements of neuron k's cell, loop or integrator, by form.
CELL = {"parallel": ("C_{k}", "R_{k}"), "series": ("L_{k}", "R_{k}", "Vs_{k}"), "opamp": ("C_{k}", "R_{k}", "E_{k}")}
PNG = b"\x89PNG\r\n\x1a\n"


def svg_words(data: bytes) -> set[str]:
    """Every name-like word of the SVG's text elements."""
    root = ET.fromstring(data)
    text = " ".join(" ".join(t.itertext()) for t in root.iter() if t.tag.endswith("}text") or t.tag == "text")
    return set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", text))


def assert_names(compiled, data: bytes) -> None:
    # an SVG signed as rnn2spice's (the output rule replaces only its own pictures)
    assert data.startswith(b"<!-- Created by rnn2spice ") and data.split(b"-->\n", 1)[1].startswith(b"<svg")
    words = svg_words(data)
    for k in range(compiled.spec.n):
        for name in CELL[compiled.form]:
            assert name.format(k=k) in words, (name.format(k=k), sorted(words))
    # nothing summarised away without its name: every element of the netlist is named in the picture
    missing = {e.name for e in compiled.circuit.expanded_elements()} - words
    assert not missing, sorted(missing)


@pytest.mark.parametrize("form, coupling", REALISATIONS)
@pytest.mark.parametrize("n", range(1, MAX_NEURONS + 1))
def test_svg_of_small_linear_networks_names_every_element(tmp_path, form, coupling, n):
    data = random_spec_dict(n, seed=n, kinds=("step", "sine")[: 1 + n % 2])
    spec_file, out = tmp_path / "net.json", tmp_path / "net.svg"
    spec_file.write_text(json.dumps(data))
    assert main(["schematic", str(spec_file), "--form", form, "--coupling", coupling, "-o", str(out)]) == 0
    spec = rnn2spice.load(spec_file)
    assert_names(compile_rnn(spec, form=form, coupling=coupling), out.read_bytes())


@pytest.mark.parametrize("example", ["tanh4", "rate-relu4"])
@pytest.mark.parametrize("form", ["parallel", "series", "opamp"])
def test_svg_of_nonlinear_examples(example, form):
    compiled = compile_rnn(rnn2spice.load(NETLISTS / f"{example}.yaml"), form=form)
    assert_names(compiled, draw(compiled, "svg"))


def test_single_pole_opamps_are_named():
    net = dataclasses.replace(rnn2spice.load(NETLISTS / "damped-oscillator.yaml"),
                              opamp=OpAmpModel("single-pole", 2e5, 1e6))
    compiled = compile_rnn(net, form="opamp")
    assert_names(compiled, draw(compiled))


def test_summed_coupling_is_labelled_with_the_sum():
    compiled = compile_rnn(random_spec(4, seed=3), form="parallel")
    text = draw(compiled).decode()
    assert "Σ G_0_j v(h_j)" in text and "G_0_1 = " in text
    series = draw(compile_rnn(random_spec(3, seed=3), form="series")).decode()
    assert "Σ H_0_j i(Vs_j)" in series


@pytest.mark.parametrize("form", ["parallel", "series", "opamp"])
def test_png(tmp_path, form):
    out = tmp_path / "net.png"
    assert main(["schematic", str(NETLISTS / "damped-oscillator.yaml"), "--form", form, "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG
    assert main(["schematic", str(NETLISTS / "damped-oscillator.yaml"), "--form", form, "-o", str(out)]) == 0  # redraw


def test_five_neurons_are_refused_and_nothing_written(tmp_path, capsys):
    spec_file = tmp_path / "five.json"
    spec_file.write_text(json.dumps(random_spec_dict(5, seed=1)))
    out = tmp_path / "net.svg"
    assert main(["schematic", str(spec_file), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "n = 5" in err and f"at most {MAX_NEURONS} neurons" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["five.json"]
    with pytest.raises(UsageError, match="n = 5"):
        rnn2spice.schematic(random_spec(5, seed=1))


@pytest.mark.parametrize("name", ["net.pdf", "net", "net.svg.txt"])
def test_bad_suffix_is_refused(tmp_path, capsys, name):
    out = tmp_path / name
    assert main(["schematic", str(NETLISTS / "damped-oscillator.yaml"), "-o", str(out)]) == 2
    assert ".svg or .png" in capsys.readouterr().err
    assert not out.exists()


def test_an_existing_file_that_is_not_a_picture_survives(tmp_path, capsys):
    out = tmp_path / "net.svg"
    out.write_text("name: my spec\n")
    assert main(["schematic", str(NETLISTS / "damped-oscillator.yaml"), "-o", str(out)]) == 2
    assert "is not an SVG picture written by rnn2spice; refusing to replace it" in capsys.readouterr().err
    assert out.read_text() == "name: my spec\n"
    with pytest.raises(rnn2spice.OutputError):
        rnn2spice.schematic(rnn2spice.load(NETLISTS / "damped-oscillator.yaml"), out)
    assert out.read_text() == "name: my spec\n"
    # the spec itself is never an output
    spec = tmp_path / "osc.svg"
    spec.write_bytes((NETLISTS / "damped-oscillator.yaml").read_bytes())
    assert main(["schematic", str(spec), "-o", str(spec)]) == 2


def test_api(tmp_path):
    net = rnn2spice.load(NETLISTS / "damped-oscillator.yaml")
    svg = rnn2spice.schematic(net, form="series")
    assert svg.startswith(b"<!-- Created by rnn2spice ") and b"\n<svg " in svg and "L_0" in svg_words(svg)
    assert rnn2spice.schematic(net, fmt="png")[:8] == PNG
    out = tmp_path / "osc.png"
    data = rnn2spice.schematic(rnn2spice.compile(net, form="opamp"), out)
    assert out.read_bytes() == data and data[:8] == PNG and b"tEXtSoftware\x00rnn2spice " in data[:100]
    with pytest.raises(UsageError, match="fmt"):
        rnn2spice.schematic(net, tmp_path / "x.svg", fmt="png")


def test_missing_schemdraw(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "schemdraw", None)
    monkeypatch.setitem(sys.modules, "schemdraw.elements", None)
    compiled = compile_rnn(rnn2spice.load(NETLISTS / "damped-oscillator.yaml"))
    with pytest.raises(MissingDependencyError, match=r"pip install 'rnn2spice\[schematic\]'"):
        draw(compiled)
    out = tmp_path / "net.svg"
    assert main(["schematic", str(NETLISTS / "damped-oscillator.yaml"), "-o", str(out)]) == 2
    assert "pip install" in capsys.readouterr().err and not out.exists()


def test_engineering_notation():
    assert eng(1e-9, "F") == "1 nF"
    assert eng(333333.33333, "Ω") == "333.3 kΩ"
    assert eng(-3e-6, "S") == "-3 µS"
    assert eng(0.0, "A") == "0 A"
    assert eng(1.0, "Ω") == "1 Ω"
    assert eng(999.99, "Ω") == "1 kΩ"
