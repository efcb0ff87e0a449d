"""Nothing a user writes reaches ngspice except through a strict validator or as a number
the compiler formatted.

ngspice netlists can run shell commands (``.control`` ... ``shell`` ... ``.endc``), read any
file (``.include``, ``.lib``) and source scripts.  These tests put adversarial text in every
user-supplied string (names, descriptions, provenance, keys, file paths), check the netlist
against a strict grammar of what the writer emits, run ngspice on it, and prove that no
marker file appeared and nothing else was written.  File references may not leave the
spec's directory unless ``--allow-outside-files`` is given.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import GOOD_SPEC, earlier_output
from rnn2spice.circuit import ir
from rnn2spice.cli.app import main
from rnn2spice.errors import NetlistError
from rnn2spice.circuit.writer import write_netlist
from rnn2spice.network.waveform import Pulse, Pwl, Sine, Step

ROOT = Path(__file__).resolve().parents[1]
OLD = b"existing output\n"

GOOD = GOOD_SPEC


def hostile_strings(marker: Path) -> dict[str, str]:
    """Adversarial text; every one would create ``marker`` if ngspice ever executed it."""
    m = str(marker)
    return {
        "control-block": f"\n.control\nshell touch {m}\n.endc\n",
        "control-block-cr": f"\r.control\rshell touch {m}\r.endc\r",
        "control-unicode-newlines": f"\u2028.control\u2028shell touch {m}\u2029.endc\x85",
        "comment-star": f"* \n.control\nshell touch {m}\n.endc",
        "semicolon": f"x ; .control shell touch {m}",
        "include": f"\n.include {m}\n.lib {m} x\n",
        "source": f"\nsource {m}\n",
        "braces": "{shell('touch " + m + "')} {1/0} {x}",
        "shell-syntax": f"$(touch {m}) `touch {m}` | touch {m} && touch {m}",
        "nul-and-escape": f"a\x00b\x1b[2J\x07\n.control\nshell touch {m}\n.endc",
        "unicode": "ñandú 🙂 \u202e.lortnoc\u202c ∑ 電路",
        "very-long": ("A" * 200_000) + f"\n.control\nshell touch {m}\n.endc",
        "dot-end": "\n.end\nR1 a b 1\n.tran 1 1\n",
    }


HOSTILE_IDS = list(hostile_strings(Path("/m")))

# The grammar of everything rnn2spice.circuit.writer writes: a line that does not match is an injection.
_ID = r"[A-Za-z0-9][A-Za-z0-9_]{0,63}"
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(
    rf"(?:{_ID}|{_NUM}|IC={_NUM}|g={_NUM}|[IV]={_NUM}\*tanh\(V\({_ID}\)\)|(?:PULSE|SIN|PWL)\({_NUM}|{_NUM}\))\Z"
)
_FIXED_LINES = {".subckt gyrator a b g=1", "G_a 0 a b 0 {g}", "G_b 0 b a 0 {-g}", ".ends gyrator", ".end"}


def assert_netlist_grammar(text: str, name: str) -> None:
    lines = text.split("\n")
    assert lines[-1] == "" and lines[-2] == ".end", "the netlist must end with .end and a newline"
    assert lines[0] == f"rnn2spice: {name}"
    for line in lines[1:-1]:
        if line in _FIXED_LINES:
            continue
        if line.startswith("* "):
            assert re.fullmatch(r"\* [A-Za-z0-9 _:.()=,+/*'|<>\[\]-]{0,200}", line), line
        elif line.startswith("+ "):
            assert all(_TOKEN.match(t) for t in line[2:].split()), line
        elif line.startswith(".options "):
            assert re.fullmatch(rf"\.options( [a-z]+={_NUM})+", line), line
        elif line.startswith(".save "):
            assert re.fullmatch(rf"\.save( [vi]\({_ID}\))+", line), line
        elif line.startswith(".tran "):
            assert re.fullmatch(rf"\.tran {_NUM} {_NUM} 0 {_NUM} uic", line), line
        elif line.startswith(".ac "):
            assert re.fullmatch(rf"\.ac dec \d+ {_NUM} {_NUM}", line), line
        else:
            assert re.match(r"[RCLGFEHIVBX]", line), line
            assert all(_TOKEN.match(t) for t in line.split()), line


def write_spec(path: Path, **changes) -> Path:
    data = dict(GOOD)
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=False), encoding="utf-8")
    return path


def files_in(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


# --------------------------------------------------------------------------- free text never reaches ngspice


@pytest.mark.ngspice
@pytest.mark.parametrize("kind", HOSTILE_IDS)
def test_description_and_provenance_are_inert(kind, tmp_path, capsys):
    """Free text (description, provenance values and keys) is accepted, never written to the
    netlist, and nothing runs when the circuit is simulated (both backends)."""
    marker = tmp_path / "marker"
    text = hostile_strings(marker)[kind]
    spec = write_spec(tmp_path / "spec.yaml", description=text,
                      provenance={"note": text, text[:300]: [text], "nested": {"deeper": text}})
    assert main(["compile", str(spec), "-o", str(tmp_path / "net.cir")]) == 0
    netlist = (tmp_path / "net.cir").read_text()
    assert_netlist_grammar(netlist, "good")
    for word in ("control", "shell", "include", "source", "touch", "marker", "{", "$", ";", "\x00"):
        assert word not in netlist
    for backend in ("shared", "subprocess"):
        assert main(["check", str(spec), "--backend", backend]) == 0, capsys.readouterr().err
    assert not marker.exists()
    assert set(files_in(tmp_path)) == {"spec.yaml", "net.cir"}


@pytest.mark.parametrize("kind", HOSTILE_IDS)
def test_hostile_name_is_refused_and_nothing_written(kind, tmp_path, capsys):
    marker = tmp_path / "marker"
    spec = write_spec(tmp_path / "spec.yaml", name=hostile_strings(marker)[kind])
    out = tmp_path / "out.cir"
    out.write_bytes(earlier_output(out, OLD))
    before = files_in(tmp_path)
    for argv in (["compile", str(spec), "-o", str(out)], ["check", str(spec), "--report", str(out)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("rnn2spice: error: name: must match") and err.count("\n") == 1, err
    assert files_in(tmp_path) == before and not marker.exists()


@pytest.mark.parametrize("kind", HOSTILE_IDS)
def test_hostile_keys_are_refused_in_one_line(kind, tmp_path, capsys):
    marker = tmp_path / "marker"
    key = hostile_strings(marker)[kind]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**GOOD, key: 1, "inputs": [{**GOOD["inputs"][0], key: 2}]}, sort_keys=False))
    before = files_in(tmp_path)
    assert main(["compile", str(spec), "-o", str(tmp_path / "out.cir")]) == 2
    err = capsys.readouterr().err
    assert "unknown key" in err and err.count("\n") == 1, err  # escaped: no line break, no terminal control
    assert "\x1b" not in err and "\x00" not in err and "\r" not in err
    assert files_in(tmp_path) == before and not marker.exists()


@pytest.mark.parametrize("kind", HOSTILE_IDS)
@pytest.mark.parametrize("where", ["matrix", "waveform"])
def test_hostile_file_paths_are_refused(kind, where, tmp_path, capsys):
    marker = tmp_path / "marker"
    path = hostile_strings(marker)[kind]
    work = tmp_path / "work"
    work.mkdir()
    if where == "matrix":
        spec = write_spec(work / "spec.yaml", w={"file": path})
    else:
        spec = write_spec(work / "spec.yaml", inputs=[{"kind": "file", "path": path}])
    before = files_in(tmp_path)
    assert main(["compile", str(spec), "-o", str(work / "out.cir")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("file not found" in err or "outside the spec's directory" in err
                                       or "non-empty file path" in err or "must be a .npy" in err), err
    assert files_in(tmp_path) == before and not marker.exists()


# --------------------------------------------------------------------------- file references stay in the spec's directory


@pytest.fixture
def layout(tmp_path):
    """work/spec.yaml may refer to work/*; tmp/outside.npy and tmp/outside.csv are outside it."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    w = np.array([[0.0, 1000.0], [-1000.0, 0.0]])
    np.save(work / "w.npy", w)
    np.save(tmp_path / "outside.npy", w)
    (tmp_path / "outside.csv").write_text("t,v\n0,0\n1e-3,1\n")
    (work / "inside.csv").write_text("t,v\n0,0\n1e-3,1\n")
    os.symlink(tmp_path / "outside.npy", work / "link-out.npy")
    os.symlink(work / "w.npy", work / "sub" / "link-in.npy")
    os.symlink(tmp_path / "outside.csv", work / "link-out.csv")
    return tmp_path, work


OUTSIDE_REFS = {
    "parent": ("w", {"file": "../outside.npy"}),
    "absolute": ("w", "ABS_NPY"),
    "symlink-out": ("w", {"file": "link-out.npy"}),
    "dotdot-deep": ("w", {"file": "sub/../../outside.npy"}),
    "csv-parent": ("inputs", [{"kind": "file", "path": "../outside.csv"}]),
    "csv-symlink-out": ("inputs", [{"kind": "file", "path": "link-out.csv"}]),
}


def _ref(layout, key, value):
    tmp, work = layout
    if value == "ABS_NPY":
        value = {"file": str(tmp / "outside.npy")}
    return {key: value}


@pytest.mark.parametrize("case", sorted(OUTSIDE_REFS))
def test_references_outside_the_spec_directory_need_the_flag(case, layout, capsys):
    tmp, work = layout
    key, value = OUTSIDE_REFS[case]
    spec = write_spec(work / "spec.yaml", **_ref(layout, key, value))
    out = work / "out.cir"
    out.write_bytes(earlier_output(out, OLD))
    assert main(["compile", str(spec), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "outside the spec's directory" in err and "--allow-outside-files" in err, err
    assert out.read_bytes() == earlier_output(out, OLD)
    # with the flag the same spec compiles, to the netlist of the inside copy
    assert main(["compile", str(spec), "-o", str(out), "--allow-outside-files"]) == 0
    inside = write_spec(work / "inside.yaml", **({"w": {"file": "w.npy"}} if key == "w" else
                                                 {"inputs": [{"kind": "file", "path": "inside.csv"}]}))
    assert main(["compile", str(inside), "-o", str(work / "inside.cir")]) == 0
    assert out.read_text() == (work / "inside.cir").read_text()


@pytest.mark.parametrize("ref", ["w.npy", "sub/../w.npy", "sub/link-in.npy", "./w.npy"])
def test_references_inside_the_spec_directory_are_accepted(ref, layout, capsys):
    tmp, work = layout
    spec = write_spec(work / "spec.yaml", w={"file": ref})
    assert main(["compile", str(spec), "-o", str(work / "out.cir")]) == 0


def test_references_resolve_against_the_spec_not_the_working_directory(layout, tmp_path, monkeypatch, capsys):
    tmp, work = layout
    other = tmp / "elsewhere"
    other.mkdir()
    np.save(other / "only-here.npy", np.zeros((2, 2)))
    monkeypatch.chdir(other)
    spec = write_spec(work / "spec.yaml", w={"file": "only-here.npy"})
    assert main(["compile", str(spec), "-o", str(work / "out.cir")]) == 2
    assert "w.file: file not found (got 'only-here.npy')" in capsys.readouterr().err


# --------------------------------------------------------------------------- the writer itself

BAD_IDENTIFIERS = ["h0\n.control", "h0 0", "h0;x", "{x}", "h0*", "ñ", "", "a" * 65, "x\r", ".include",
                   "0 0 1\nshell rm -rf x", "v(h0)", "h0\x00", "_h0", b"h0", 5, None]


def _elements(bad):
    """One hand-built element per kind, each with ``bad`` in one name or node slot."""
    good = "h0"
    yield ir.Resistor(bad, good, "0", 1.0)
    if isinstance(bad, str) and not re.fullmatch(r"[A-Za-z0-9_]*", bad):
        yield ir.Resistor(f"R_{bad}", good, "0", 1.0)  # a valid prefix does not help
    yield ir.Resistor("R_1", bad, "0", 1.0)
    yield ir.Capacitor("C_1", good, bad, 1e-9, 0.0)
    yield ir.Inductor("L_1", bad, good, 1e-3, 0.0)
    yield ir.Vccs("G_1", "0", good, bad, "0", 1e-3)
    yield ir.Vccs("G_1", "0", good, good, bad, 1e-3)
    yield ir.Cccs("F_1", "0", good, bad, 1.0)
    yield ir.Vcvs("E_1", bad, "0", good, "0", 1.0)
    yield ir.Ccvs("H_1", good, "0", bad, 1.0)
    yield ir.CurrentSource("I_1", "0", bad, 1.0)
    yield ir.VoltageSource("V_1", bad, "0", Step(1.0, 0.0, 1e-6))
    yield ir.TanhCurrent("B_1", "0", good, 1.0, bad)
    yield ir.TanhVoltage("B_1", good, "0", 1.0, bad)
    yield ir.Gyrator("XG_1", good, bad, 1e-3)


def _circuit(elements=(), **changes):
    fields = dict(title="rnn2spice: t", comments=("ok",), elements=tuple(elements),
                  analysis=ir.Transient(1e-5, 1e-3, 1e-6), options=ir.Options(), saves=(ir.Probe("voltage", "h0"),))
    fields.update(changes)
    return ir.Circuit(**fields)


def test_writer_accepts_the_good_circuit():
    text = write_netlist(_circuit([ir.Resistor("R_0", "h0", "0", 1.0), ir.Capacitor("C_0", "h0", "0", 1e-9, 1.0)]))
    assert_netlist_grammar(text, "t")


@pytest.mark.parametrize("bad", BAD_IDENTIFIERS, ids=[repr(b)[:20] for b in BAD_IDENTIFIERS])
def test_writer_refuses_hostile_names_and_nodes(bad):
    for element in _elements(bad):
        with pytest.raises(NetlistError):
            write_netlist(_circuit([element]))


@pytest.mark.parametrize("bad", ["t\n.control", "t\rx", "t{x}", "t;x", "", "x" * 121, "t$x", 7])
def test_writer_refuses_hostile_titles(bad):
    with pytest.raises(NetlistError):
        write_netlist(_circuit(title=bad))


@pytest.mark.parametrize("bad", ["ok\n.control", "ok\rshell", "{x}", "a;b", "$x", "x" * 201, "\u2028", None])
def test_writer_refuses_hostile_comments(bad):
    with pytest.raises(NetlistError):
        write_netlist(_circuit(comments=("ok", bad)))


@pytest.mark.parametrize("bad", [ir.Probe("voltage", "h0\n.control"), ir.Probe("voltage", "h0) i(x"),
                                 ir.Probe("voltage", "{x}"), ir.Probe("voltage", ""), ir.Probe("voltage", 3),
                                 ir.Probe("x", "h0"), ir.Probe("current", "vs_0;x"), "v(h0)", 3])
def test_writer_refuses_hostile_probes(bad):
    with pytest.raises(NetlistError):
        write_netlist(_circuit(saves=(ir.Probe("voltage", "h0"), bad)))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "1\n.control", "1e-3", b"1", None, [1.0], 1j])
def test_writer_refuses_anything_but_finite_numbers(bad):
    cases = [
        [ir.Resistor("R_0", "h0", "0", bad)],
        [ir.Capacitor("C_0", "h0", "0", 1e-9, bad)],
        [ir.VoltageSource("V_0", "x0", "0", Pwl((0.0, bad), (0.0, 1.0)))],
        [ir.VoltageSource("V_0", "x0", "0", Pulse(0.0, bad, 0.0, 1e-6, 1e-6, 1e-3, 1.0))],
        [ir.VoltageSource("V_0", "x0", "0", Sine(1.0, bad))],
        [ir.TanhCurrent("B_0", "0", "h0", bad, "z0")],
    ]
    for elements in cases:
        with pytest.raises(NetlistError):
            write_netlist(_circuit(elements))
    with pytest.raises(NetlistError):
        write_netlist(_circuit(analysis=ir.Transient(bad, 1e-3, 1e-6)))
    with pytest.raises(NetlistError):
        write_netlist(_circuit(options=ir.Options(reltol=bad)))
    with pytest.raises(NetlistError):
        write_netlist(_circuit(analysis=ir.AcSweep(10, bad, 1e3)))


@pytest.mark.parametrize("bad", ["10\n.control", 0, -3, 2.5, None, True])
def test_writer_refuses_bad_ac_points(bad):
    with pytest.raises(NetlistError):
        write_netlist(_circuit(analysis=ir.AcSweep(bad, 1.0, 1e3)))


def test_writer_refuses_duplicates_and_foreign_elements():
    with pytest.raises(NetlistError, match="duplicate"):
        write_netlist(_circuit([ir.Resistor("R_0", "h0", "0", 1.0), ir.Resistor("r_0", "h1", "0", 1.0)]))
    with pytest.raises(NetlistError, match="invalid R element name"):
        write_netlist(_circuit([ir.Resistor("X_0", "h0", "0", 1.0)]))
    with pytest.raises(NetlistError, match="unknown circuit element"):
        write_netlist(_circuit([".control\nshell touch x\n.endc"]))


# --------------------------------------------------------------------------- ngspice's own start-up files


@pytest.mark.ngspice
@pytest.mark.parametrize("backend", ["shared", "subprocess"])
def test_spiceinit_in_the_working_directory_is_not_run(backend, tmp_path):
    """ngspice sources ./.spiceinit at start-up (shell commands included): running rnn2spice in
    a directory holding a hostile one must not execute it."""
    marker = tmp_path / "marker"
    (tmp_path / ".spiceinit").write_text(f"shell touch {marker}\necho SPICEINIT-RAN\n")
    spec = write_spec(tmp_path / "spec.yaml")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "rnn2spice", "check", "spec.yaml", "--backend", backend],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "SPICEINIT-RAN" not in done.stdout + done.stderr
    assert not marker.exists()


# --------------------------------------------------------------------------- other entry points


@pytest.mark.parametrize("payload", [".control\nshell touch {m}\n.endc", ".include {m}", "source {m}",
                                     ".lib {m} x", "R_9 h0 0 {{shell touch {m}}}"])
def test_verify_refuses_a_hostile_netlist_without_running_it(payload, tmp_path, capsys):
    marker = tmp_path / "marker"
    spec = write_spec(tmp_path / "spec.yaml")
    assert main(["compile", str(spec), "-o", str(tmp_path / "ok.cir")]) == 0
    text = (tmp_path / "ok.cir").read_text().replace(".end\n", payload.format(m=marker) + "\n.end\n")
    (tmp_path / "bad.cir").write_text(text)
    capsys.readouterr()
    assert main(["verify", str(spec), "--netlist", str(tmp_path / "bad.cir")]) in (1, 2)
    assert not marker.exists()


def test_import_keeps_a_hostile_model_file_name_inside_a_comment(tmp_path, capsys):
    """The importer quotes the model's file name in the spec's header comment: a newline in
    the name must not end the comment and add keys to the spec."""
    model = tmp_path / "evil\nt_step: 1.0e-9\ncircuit: {capacitance: 1.0e+3}\n#.npz"
    np.savez(model, W=np.zeros((2, 2)), U=np.ones((2, 1)))
    out = tmp_path / "spec.yaml"
    assert main(["import", str(model), "--dt", "1e-3", "-o", str(out)]) == 0, capsys.readouterr().err
    data = yaml.safe_load(out.read_text())
    assert "t_step" not in data and "circuit" not in data
    assert data["provenance"]["source"]["file"] == model.name
    assert all(line.startswith("#") for line in out.read_text().split("\nname:")[0].splitlines())
