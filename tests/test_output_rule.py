"""One output rule for every file the tool writes (issue 19): an existing file is replaced only
when it is of the kind the option writes (or with --force), otherwise exit 2 naming it and
nothing is written; ``-`` is standard output for reports, CSV and netlists; a figure's format
follows its extension (png, pdf, svg).

Every writing option is tried against an unrelated file (a spec: ``check a.yaml --report
b.yaml`` used to destroy b.yaml), which must survive byte for byte; the refusal comes before
any work, so those cases are quick.  The cases that run (an earlier output replaced, --force,
``-``, figure formats) use the bundled 2-neuron example.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rnn2spice.cli import app
from rnn2spice.errors import OutputError
from rnn2spice.report.files import OUTPUT_KINDS, check_output, json_text, register_output_kind

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "netlists" / "damped-oscillator.yaml"

#: (command line with {spec} and {out}, the option, the kind it writes)
WRITERS = [
    (["compile", "{spec}", "-o", "{out}"], "--output", "netlist"),
    (["simulate", "{spec}", "-o", "{out}"], "--output", "csv"),
    (["bom", "{spec}", "-o", "{out}"], "--output", "bom"),
    (["bom", "{spec}", "--snap", "E24", "--predict", "-o", "{w}/bom.csv", "--report", "{out}"], "--report", "report"),
    (["check", "{spec}", "--netlist", "{out}"], "--netlist", "netlist"),
    (["check", "{spec}", "--report", "{out}"], "--report", "report"),
    (["check", "{spec}", "--plot", "{out}.png"], "--plot", "png"),
    (["check", "{spec}", "--plot", "{out}.pdf"], "--plot", "pdf"),
    (["check", "{spec}", "--plot", "{out}.svg"], "--plot", "svg"),
    (["verify", "{spec}", "--report", "{out}"], "--report", "report"),
    (["ac", "{spec}", "--fmin", "1", "--fmax", "1e3", "--report", "{out}"], "--report", "report"),
    (["ac", "{spec}", "--fmin", "1", "--fmax", "1e3", "--plot", "{out}.svg"], "--plot", "svg"),
    (["schematic", "{spec}", "-o", "{out}.svg"], "--output", "svg"),
    (["montecarlo", "{spec}", "--runs", "2", "-o", "{out}"], "--output", "study"),
    (["montecarlo", "{spec}", "--runs", "2", "--plot", "{out}.pdf"], "--plot", "pdf"),
]


def _argv(template, work: Path, out: Path) -> list[str]:
    return [a.format(spec=work / "spec.yaml", out=out, w=work) for a in template]


@pytest.fixture
def work(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "spec.yaml")
    return tmp_path


@pytest.mark.parametrize("template,flag,kind", WRITERS, ids=[f"{t[0]}{f}-{k}" for t, f, k in WRITERS])
def test_an_unrelated_file_survives_every_writing_option(work, capsys, template, flag, kind):
    victim_text = EXAMPLE.read_text()  # a spec named by mistake
    argv = _argv(template, work, work / "victim")
    target = Path(next(a for a in argv if a.startswith(str(work / "victim"))))
    target.write_text(victim_text)
    code = app.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert target.read_text() == victim_text
    line, = err.strip().splitlines()
    assert line.startswith(f"rnn2spice: error: {flag}: {str(target)!r} exists and is not {OUTPUT_KINDS[kind].what}")
    assert "--force" in line


def test_force_replaces_and_an_earlier_output_is_replaced(work, capsys):
    out = work / "out.cir"
    out.write_text("not a netlist\n")
    assert app.main(["compile", str(work / "spec.yaml"), "-o", str(out)]) == 2
    assert app.main(["compile", str(work / "spec.yaml"), "-o", str(out), "--force"]) == 0
    first = out.read_text()
    assert first.startswith("rnn2spice: ")
    assert app.main(["compile", str(work / "spec.yaml"), "-o", str(out), "--form", "series"]) == 0  # ours: replaced
    assert out.read_text() != first and out.read_text().startswith("rnn2spice: ")
    capsys.readouterr()


@pytest.mark.ngspice
def test_check_replaces_its_own_outputs_and_writes_real_figure_formats(work, capsys):
    spec = str(work / "spec.yaml")
    outputs = {"--report": work / "r.json", "--netlist": work / "n.cir", "--plot": work / "f.pdf"}
    argv = ["check", spec, *[x for flag, path in outputs.items() for x in (flag, str(path))]]
    assert app.main(argv) == 0
    assert app.main(argv) == 0  # the second time every output is an earlier one of its kind
    assert json.loads(outputs["--report"].read_text())["passed"] is True
    assert outputs["--netlist"].read_text().startswith("rnn2spice: ")
    pdf = outputs["--plot"].read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert app.main(["check", spec, "--plot", str(work / "f.svg")]) == 0
    svg = (work / "f.svg").read_text()
    assert "<svg" in svg and svg.rstrip().endswith("</svg>")
    assert app.main(["check", spec, "--plot", str(work / "f.png")]) == 0
    assert (work / "f.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # a figure of one kind is not replaced by another kind under its name
    (work / "g.svg").write_bytes(pdf)
    assert app.main(["check", spec, "--plot", str(work / "g.svg")]) == 2
    assert (work / "g.svg").read_bytes() == pdf
    capsys.readouterr()


@pytest.mark.ngspice
def test_dash_is_standard_output_for_reports_csv_and_netlists(work, capsys):
    spec = str(work / "spec.yaml")
    assert app.main(["check", spec, "--report", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["passed"] is True            # nothing else on standard output
    assert "PASS" in err                                # the summary went to standard error
    assert app.main(["compile", spec, "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("rnn2spice: damped-oscillator\n")
    assert app.main(["simulate", spec, "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("time,h0,h1\n")
    assert app.main(["check", spec, "--netlist", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rnn2spice: damped-oscillator\n") and out.count("\n.end") == 1


@pytest.mark.parametrize("argv,fragment", [
    (["check", "{spec}", "--plot", "-"], "--plot: cannot tell the figure format"),
    (["check", "{spec}", "--report", "-", "--netlist", "-"], "--report and --netlist both name standard output"),
    (["bom", "{spec}", "--snap", "E24", "--predict", "--report", "-"], "cannot share standard output"),
    (["schematic", "{spec}", "-o", "-"], "schematic"),
    (["check", "{spec}", "--plot", "{w}/fig.jpg"], "must end in .png, .pdf, .svg (got '.jpg')"),
])
def test_what_standard_output_and_figures_refuse(work, capsys, argv, fragment):
    code = app.main([a.format(spec=work / "spec.yaml", w=work) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def test_the_recognisers_tell_each_kind_from_a_spec():
    from rnn2spice.report.files import waveforms_csv
    import numpy as np

    yaml_spec = EXAMPLE.read_bytes()
    json_spec = json_text({"name": "x", "tau": 1e-3, "w": [[0.0]]}).encode()  # indented like a report
    samples = {
        "report": [json_text({"passed": True, "x": 1}).encode(), json_text({"kind": "montecarlo"}).encode(), b"{}\n"],
        "csv": [waveforms_csv(np.zeros(2), np.zeros((2, 1))).encode()],
        "netlist": [(ROOT / "netlists" / "damped-oscillator.cir").read_bytes()],
        "png": [b"\x89PNG\r\n\x1a\n" + b"\0" * 20],
        "pdf": [b"%PDF-1.4\n"],
        "svg": [b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', b"<svg/>"],
    }
    for kind, good in samples.items():
        recognise = OUTPUT_KINDS[kind].is_ours
        assert all(recognise(g[:512]) for g in good), kind
        assert not recognise(yaml_spec[:512]) and not recognise(json_spec[:512]), kind
    assert not OUTPUT_KINDS["report"].is_ours(b'{"name": "x", "tau": 0.001}')  # json.dumps without indent


def test_a_new_kind_can_be_registered(tmp_path):
    """The rule is keyed by kind: a new command (e.g. a KiCad export) registers its own."""
    register_output_kind("kicad-test", "a KiCad schematic", lambda head: head.startswith(b"(kicad_sch"))
    try:
        path = tmp_path / "x.kicad_sch"
        path.write_text("(kicad_sch (version 1))\n")
        check_output(path, "--kicad", "kicad-test")
        path.write_text("name: spec\n")
        with pytest.raises(OutputError, match="is not a KiCad schematic"):
            check_output(path, "--kicad", "kicad-test")
        check_output(path, "--kicad", "kicad-test", force=True)
        with pytest.raises(OutputError, match="standard output"):
            check_output("-", "--kicad", "kicad-test")
    finally:
        del OUTPUT_KINDS["kicad-test"]
