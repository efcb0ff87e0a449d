"""One output rule for every file the tool writes (issue 19): an existing file is replaced only
when it is of the kind the option writes (or with --force), otherwise exit 2 naming it and
nothing is written; ``-`` is standard output for reports, CSV and netlists; a figure's format
follows its extension (png, pdf, svg).

Every writing option -- discovered from the argparse parsers, so that a new one cannot be
missed -- and every API function that writes (discovered from the public signatures) is tried
against realistic unrelated files (a spec: ``check a.yaml --report b.yaml`` used to destroy
b.yaml; package.json, tsconfig.json, a hand-written netlist, other tools' CSV, PNG, PDF, SVG
and KiCad files), which must survive byte for byte; the refusal comes before any work, so
those cases are quick.  Kinds are recognised positively, by their writer's signature.  The
cases that run (an earlier output replaced, --force, ``-``, figure formats) use the bundled
2-neuron example.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rnn2spice.cli import app
from rnn2spice.errors import OutputError
from rnn2spice.report.files import OUTPUT_KINDS, check_output, json_text, register_output_kind

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "netlists" / "damped-oscillator.yaml"

KERAS = ROOT / "tests" / "data" / "keras-rnn" / "dm_delayed_normal_nobias_gap0.hdf5"

#: Every writing option of every command: (command, flag) -> (command line with {spec},
#: {out} and {w}; the kind it writes).  test_every_writing_option_is_listed discovers the
#: options from the argparse parsers, so a new one cannot be missed.
WRITERS = {
    ("compile", "--output"): (["compile", "{spec}", "-o", "{out}.cir"], "netlist"),
    ("simulate", "--output"): (["simulate", "{spec}", "-o", "{out}.csv"], "csv"),
    ("check", "--report"): (["check", "{spec}", "--report", "{out}.json"], "report"),
    ("check", "--netlist"): (["check", "{spec}", "--netlist", "{out}.cir"], "netlist"),
    ("check", "--plot"): (["check", "{spec}", "--plot", "{out}.png"], "png"),
    ("verify", "--report"): (["verify", "{spec}", "--report", "{out}.json"], "report"),
    ("ac", "--report"): (["ac", "{spec}", "--fmin", "1", "--fmax", "1e3", "--report", "{out}.json"], "report"),
    ("ac", "--plot"): (["ac", "{spec}", "--fmin", "1", "--fmax", "1e3", "--plot", "{out}.svg"], "svg"),
    ("import", "--output"): (["import", str(KERAS), "--dt", "1e-3", "-o", "{out}.yaml"], "spec"),
    ("task", "--report"): (["task", "{spec}", "--stimulus", "pulse", "--report", "{out}.json"], "report"),
    ("task", "--plot"): (["task", "{spec}", "--stimulus", "pulse", "--plot", "{out}.pdf"], "pdf"),
    ("montecarlo", "--output"): (["montecarlo", "{spec}", "--runs", "2", "-o", "{out}.json"], "study"),
    ("montecarlo", "--plot"): (["montecarlo", "{spec}", "--runs", "2", "--plot", "{out}.pdf"], "pdf"),
    ("sweep", "--output"): (["sweep", "{spec}", "--param", "tau=x1,x2", "-o", "{out}.json"], "study"),
    ("sweep", "--plot"): (["sweep", "{spec}", "--param", "tau=x1,x2", "--plot", "{out}.png"], "png"),
    ("bom", "--output"): (["bom", "{spec}", "-o", "{out}.csv"], "bom"),
    ("bom", "--report"): (["bom", "{spec}", "--snap", "E24", "--predict", "-o", "{w}/bom.csv", "--report",
                           "{out}.json"], "report"),
    ("schematic", "--output"): (["schematic", "{spec}", "-o", "{out}.svg"], "svg"),
    ("kicad", "--output"): (["kicad", "{spec}", "-o", "{out}.kicad_sch"], "kicad_sch"),
}
#: Options that name files the command reads (never written).
INPUTS = {"--stimulus", "--opamp-model"} | {"verify --netlist"}

#: Realistic files that are not rnn2spice's, each under every writing option's name.
PNG_OF_SOMEONE_ELSE = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
                       b"\x1f\x15\xc4\x89\x00\x00\x00\x19tEXtSoftware\x00Adobe ImageReadyq\xc9e<")
UNRELATED = {
    "package.json": b'{\n  "name": "my-app",\n  "version": "1.0.0",\n  "scripts": {"test": "jest"}\n}\n',
    "tsconfig.json": b'{\n  "compilerOptions": {\n    "target": "es2017",\n    "strict": true\n  }\n}\n',
    "report-of-another-tool.json": b'{\n  "kind": "montecarlo",\n  "passed": true\n}\n',
    "hand.cir": b"rnn2spice: my own test bench\n* written by hand\nR1 a 0 1k\n.tran 1u 1m\n.end\n",
    "measured.csv": b"time,voltage\n0,1\n",
    "photo.png": PNG_OF_SOMEONE_ELSE,
    "paper.pdf": b"%PDF-1.5\n1 0 obj << /Creator (LaTeX with hyperref) >> endobj\n%%EOF\n",
    "inkscape.svg": b'<?xml version="1.0"?>\n<!-- Created with Inkscape (http://www.inkscape.org/) -->\n'
                    b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    "spec.yaml": EXAMPLE.read_bytes(),
    "board.kicad_sch": b'(kicad_sch (version 20250114) (generator "eeschema") (generator_version "9.0"))\n',
    "parts.csv": b"Reference,Value,Footprint\nR1,1k,R_0805\n",
    # our exact header, numbers spelled by others: pandas' to_csv (shortest repr), numpy's savetxt
    "pandas-waveforms.csv": b"time,h0,h1\n0.0,0.1,0.2\n0.001,0.30000000000000004,-1.5\n",
    "savetxt-waveforms.csv": b"time,h0\n0.000000000000000000e+00,1.000000000000000056e-01\n",
    # a bill of materials of another tool under our headers: Qty is not the designators' count;
    # values typed by hand
    "other-order.csv": b"Designators,Qty,Value,Part,Footprint\nR1,4,10k,Resistor,R_0805\n",
    "other-parts.csv": b"designator,kind,exact_value,chosen_value,unit,tolerance,count\nR1,resistor,10k,10k,ohm,5%,1\n",
}


def writing_options() -> set[tuple[str, str]]:
    """(command, flag) of every option of every command that takes a file path and is not an
    input: read from the parsers."""
    from rnn2spice.cli.app import build_parser

    found = set()
    for name, sub in build_parser().commands.items():
        for action in sub._actions:
            if not action.option_strings:
                continue
            flag = action.option_strings[-1]
            takes_file = action.type is Path or "FILE" in str(action.metavar or "") or action.dest in (
                "output", "report", "plot", "netlist")
            if takes_file and flag not in INPUTS and f"{name} {flag}" not in INPUTS:
                found.add((name, flag))
    return found


def test_every_writing_option_is_listed():
    """A new writing option (or command) fails here until it is in WRITERS, and so tested."""
    assert writing_options() == set(WRITERS)


def _argv(template, work: Path, out: Path) -> list[str]:
    return [a.format(spec=work / "spec.yaml", out=out, w=work) for a in template]


@pytest.fixture
def work(tmp_path):
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec.update(w_out=[[1.0, 0.0]])  # a readout, so that task gets as far as its outputs
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    return tmp_path


@pytest.mark.parametrize("key", sorted(WRITERS), ids=[f"{c}{f}" for c, f in sorted(WRITERS)])
def test_no_writing_option_replaces_an_unrelated_file(work, capsys, key):
    """Every writing option, against every unrelated file under its name (a spec, package.json,
    someone else's netlist, CSV, PNG, PDF, SVG, KiCad sheet): exit 2, one line naming the file
    and --force, the file unchanged -- and nothing written beside it."""
    template, kind = WRITERS[key]
    flag = key[1]
    for victim_name, victim in UNRELATED.items():
        argv = _argv(template, work, work / "victim")
        target = Path(next(a for a in argv if a.startswith(str(work / "victim"))))
        target.write_bytes(victim)
        before = sorted(p.name for p in work.iterdir())
        code = app.main(argv)
        err = capsys.readouterr().err
        assert code == 2, (victim_name, err)
        assert target.read_bytes() == victim, victim_name
        line, = err.strip().splitlines()
        assert f"{flag}: {str(target)!r} exists and is not {OUTPUT_KINDS[kind].what}" in line, (victim_name, line)
        assert "--force" in line
        assert sorted(p.name for p in work.iterdir()) == before, victim_name


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


def genuine_outputs(tmp_path) -> dict[str, list[bytes]]:
    """Files of each kind as rnn2spice's own writers make them (no ngspice needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    import rnn2spice
    from rnn2spice.report.figures import figure_bytes
    from rnn2spice.report.files import waveforms_csv

    net = rnn2spice.load(EXAMPLE)
    fig = plt.figure()
    plt.plot([0, 1])
    figures = {fmt: figure_bytes(fig, fmt) for fmt in ("png", "pdf", "svg")}
    plt.close(fig)
    rnn2spice.save(net, tmp_path / "saved.yaml")
    big = rnn2spice.Network(name="big", tau=1e-3, w=np.eye(9) * -10, t_stop=1e-3)
    rnn2spice.save(big, tmp_path / "big.yaml")
    kicad = rnn2spice.kicad(net, output=tmp_path / "k.kicad_sch", form="opamp")
    bom = rnn2spice.bom(net, form="opamp")
    out = {
        "report": [json_text({"passed": True, "x": 1}).encode(), json_text({}).encode()],
        "study": [json_text({"kind": "montecarlo", "x": 1}).encode(), json_text({"kind": "sweep"}).encode()],
        "csv": [waveforms_csv(np.zeros(2), np.zeros((2, 3))).encode()],
        "bom": [bom.csv().encode(), bom.order_csv().encode()],
        "netlist": [rnn2spice.compile(net, form=f).netlist.encode() for f in ("parallel", "series", "opamp")],
        "spec": [(tmp_path / "saved.yaml").read_bytes(), (tmp_path / "big.yaml").read_bytes()],
        "png": [figures["png"]], "pdf": [figures["pdf"]], "svg": [figures["svg"]],
        "kicad_sch": [f.read_bytes() for f in kicad.files if f.suffix == ".kicad_sch"],
    }
    try:  # schematic pictures, when schemdraw is installed
        out["svg"].append(rnn2spice.schematic(net, fmt="svg"))
        out["png"].append(rnn2spice.schematic(net, fmt="png"))
    except rnn2spice.MissingDependencyError:
        pass
    return out


def _recognised(kind: str, data: bytes) -> bool:
    from rnn2spice.report.files import TAIL_BYTES

    spec = OUTPUT_KINDS[kind]
    head = spec.head_bytes
    sample = data[:head] + (data[max(head, len(data) - TAIL_BYTES):] if spec.tail else b"")
    return spec.is_ours(sample)


def test_each_kind_knows_its_own_files_and_no_one_elses(tmp_path):
    """Positive recognition: every file rnn2spice's writers make is of its kind; none of the
    unrelated files (package.json, tsconfig.json, a report of another tool, a hand-written
    netlist, someone else's PNG/PDF/SVG/CSV, a spec written by hand, a KiCad sheet saved by
    KiCad) is of any kind."""
    import rnn2spice.workflows.kicad  # noqa: F401 (registers the KiCad kinds)

    own = genuine_outputs(tmp_path)
    for kind, samples in own.items():
        assert samples and all(_recognised(kind, data) for data in samples), kind
        # and one kind's files are not another's
        for other in own:
            if other != kind and not (kind == "study" and other == "report"):  # a study is a report too
                assert not any(_recognised(other, data) for data in samples), (kind, other)
    for name, data in UNRELATED.items():
        assert [k for k in OUTPUT_KINDS if _recognised(k, data)] == [], name


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


# --------------------------------------------------------------------------- the Python API

#: Public functions and methods taking a path they read, or only quote in messages.
API_INPUTS = {"load", "simulate", "check", "check_build"}


def api_writers(tmp_path):
    """name -> (call(path, force) writing that path, the suffix it needs, its kind)."""
    import rnn2spice

    net = rnn2spice.load(EXAMPLE)
    result = rnn2spice.verify(net)
    return {
        "save": (lambda path, force: rnn2spice.save(net, path, force=force), ".yaml", "spec"),
        "RnnSpec.save": (lambda path, force: net.save(path, force=force), ".yml", "spec"),
        "import_model": (lambda path, force: rnn2spice.import_model(KERAS, path, dt=1e-3, force=force), ".yaml",
                         "spec"),
        "schematic": (lambda path, force: rnn2spice.schematic(net, path, force=force), ".svg", "svg"),
        "kicad": (lambda path, force: rnn2spice.kicad(net, output=path, force=force), ".kicad_sch", "kicad_sch"),
        "montecarlo": (lambda path, force: rnn2spice.montecarlo(net, runs=1, jobs=1, output=path, force=force),
                       ".json", "study"),
        "sweep": (lambda path, force: rnn2spice.sweep(net, {"tau": ["x1"]}, jobs=1, output=path, force=force),
                  ".json", "study"),
        "plot": (lambda path, force: result.plot(path, force=force) if hasattr(result, "plot") else
                 rnn2spice.ac(net, fmin=1, fmax=1e3).plot(path, force=force), ".pdf", "pdf"),
    }


def test_every_api_writer_is_listed(tmp_path):
    """Public functions (and result methods) with a ``path`` or ``output`` parameter write
    that file: each is in api_writers, or reads it (API_INPUTS)."""
    import inspect

    import rnn2spice

    found = set()
    for name in rnn2spice.__all__:
        obj = getattr(rnn2spice, name)
        members = inspect.getmembers(obj, callable) if isinstance(obj, type) else [(None, obj)]
        for member, fn in members:
            if (member or "").startswith("_"):
                continue
            try:
                params = inspect.signature(fn).parameters
            except (TypeError, ValueError):
                continue
            if {"path", "output"} & set(params):
                found.add(name if member is None else ("plot" if member == "plot" else f"{name}.{member}"))
    assert found - API_INPUTS == set(api_writers(tmp_path)) - {"sweep"}  # sweep takes output= in **options


@pytest.mark.ngspice  # montecarlo, sweep and ac run ngspice when forced
def test_api_writers_refuse_unrelated_files_and_replace_them_with_force(tmp_path):
    """Each API writer: an unrelated file under its name survives (OutputError naming it and
    force=True); with force=True it is replaced by a file of the writer's kind."""
    for name, (write, suffix, kind) in api_writers(tmp_path).items():
        target = tmp_path / f"victim-{name}{suffix}"
        for victim in (UNRELATED["package.json"], UNRELATED["spec.yaml"]):
            target.write_bytes(victim)
            with pytest.raises(OutputError, match=r"exists and is not .*force=True") as info:
                write(target, False)
            assert str(target) in str(info.value) and "\n" not in str(info.value), name
            assert target.read_bytes() == victim, name
        write(target, True)
        assert _recognised(kind, target.read_bytes()), name
        write(target, False)  # its own output is replaced without force
        assert _recognised(kind, target.read_bytes()), name


@pytest.mark.ngspice
def test_force_reaches_the_study_and_kicad_workflows(work, capsys):
    """--force got past the command line's check but the workflows checked again without it."""
    spec = str(work / "spec.yaml")
    victim = work / "results.json"
    victim.write_bytes(UNRELATED["package.json"])
    (work / "results.json.runs.jsonl").write_bytes(b"my notes\n")  # the journal's name, taken
    argv = ["montecarlo", spec, "--runs", "1", "--jobs", "1", "--quiet", "-o", str(victim)]
    assert app.main(argv) == 2 and victim.read_bytes() == UNRELATED["package.json"]
    assert app.main(argv + ["--force"]) == 0, capsys.readouterr().err
    assert json.loads(victim.read_text())["kind"] == "montecarlo"
    assert not (work / "results.json.runs.jsonl").exists()  # the journal, written and removed
    sheet = work / "k.kicad_sch"
    for name in ("k.kicad_pro", "rnn2spice.kicad_sym", "sym-lib-table"):
        (work / name).write_bytes(b"the user's own\n")
    assert app.main(["kicad", spec, "-o", str(sheet)]) == 2 and not sheet.exists()
    assert app.main(["kicad", spec, "-o", str(sheet), "--force"]) == 0, capsys.readouterr().err
    assert all((work / n).read_bytes() != b"the user's own\n" for n in ("k.kicad_pro", "rnn2spice.kicad_sym",
                                                                       "sym-lib-table"))
    capsys.readouterr()


def test_save_replaces_only_its_own_spec_and_matrix_file(tmp_path):
    """Network.save of a 9-neuron network writes <stem>.npz beside the spec: an NPZ there that
    is not the matrix file of an earlier save to the same spec survives (it used to be
    replaced, as was any YAML file)."""
    import numpy as np

    import rnn2spice

    big = rnn2spice.Network(name="big", tau=1e-3, w=np.eye(9) * -10, t_stop=1e-3)
    spec, npz = tmp_path / "big.yaml", tmp_path / "big.npz"
    np.savez(npz, data=np.arange(3.0))  # someone's array, under the name save would use
    mine = npz.read_bytes()
    with pytest.raises(OutputError, match=r"big\.npz.*is not the matrix file of an earlier spec") as info:
        big.save(spec)
    assert "\n" not in str(info.value) and npz.read_bytes() == mine and not spec.exists()
    big.save(spec, force=True)
    assert rnn2spice.load(spec).n == 9 and npz.read_bytes() != mine
    again = rnn2spice.Network(name="big", tau=2e-3, w=np.eye(9) * -5, t_stop=1e-3)
    again.save(spec)  # an earlier save's spec and matrix file: replaced without force
    assert float(rnn2spice.load(spec).tau[0]) == 2e-3


# --------------------------------------------------------------------------- the waveform CSV's signature

from hypothesis import given, settings, strategies as st  # noqa: E402

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 6), rows=st.integers(1, 40), data=st.data())
def test_every_waveform_csv_the_writer_makes_is_its_own(n, rows, data):
    import numpy as np

    from rnn2spice.report.files import waveforms_csv

    time = np.sort(np.array(data.draw(st.lists(st.floats(0, 1e3), min_size=rows, max_size=rows))))
    states = np.array(data.draw(st.lists(st.lists(FLOATS, min_size=n, max_size=n), min_size=rows, max_size=rows)))
    assert _recognised("csv", waveforms_csv(time, states).encode())


@pytest.mark.parametrize("n,rows", [(2000, 3), (3, 60_000)], ids=["header-over-2kB", "file-over-1MiB"])
def test_large_waveform_csvs_are_recognised(n, rows):
    """A 2000-neuron header is longer than the 2 kB other kinds read; a long run's file is
    read at its head and its tail."""
    import numpy as np

    from rnn2spice.report.files import waveforms_csv

    rng = np.random.default_rng(n)
    text = waveforms_csv(np.linspace(0, 1, rows), rng.standard_normal((rows, n))).encode()
    assert _recognised("csv", text)
    spelled = text.replace(b"\n0,", b"\n0.0,", 1)  # one number as another writer spells it
    assert not _recognised("csv", spelled)
    if rows > 1000:  # a row near the end, in the sampled tail
        cut = text.rindex(b"\n", 0, len(text) - 200)
        assert not _recognised("csv", text[:cut] + b"\n1.5,2,3" + text[cut:])  # time goes back
        assert not _recognised("csv", text[:cut] + b"\n1,0.1,3" + text[cut:])  # 0.1 is not the .17g spelling


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3), min_size=1, max_size=8))
def test_a_csv_with_our_header_from_another_writer_is_ours_only_when_spelled_alike(values):
    """Another writer's spelling of the same numbers (repr: pandas' and Python's csv module;
    numpy's savetxt ``%.18e``; ``%g``) is ours exactly when every number's text is what
    ``format(x, '.17g')`` makes of the number it reads as, checked here number by number."""
    values = sorted(values)  # time (the first column) goes forward
    for spell in (repr, lambda x: "%.18e" % x, lambda x: "%g" % x):
        text = "time,h0,h1\n" + "".join(",".join(spell(x) for x in row) + "\n" for row in values)
        alike = all(spell(x) == format(float(spell(x)), ".17g") for row in values for x in row)
        assert _recognised("csv", text.encode()) is alike


@pytest.mark.parametrize("text", [b"time,h0\n", b"time,h0\n0,1", b"time,h0\r\n0,1\r\n", b"time,h0\n0,1,2\n",
                                  b"time,h0\n0,x\n", b"time,h1\n0,1\n", b"time,h0\n1,1\n0,1\n"],
                         ids=["header-only", "no-final-newline", "crlf", "extra-column", "not-a-number",
                              "wrong-name", "time-goes-back"])
def test_what_the_waveform_writer_never_makes_is_not_ours(text):
    assert not _recognised("csv", text)
