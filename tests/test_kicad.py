"""The KiCad writer, checked by KiCad itself: ``rnn2spice kicad`` -> ``kicad-cli sch erc`` (no
errors, no warnings) -> ``kicad-cli sch export netlist --format spice`` -> ngspice (the
project's spice layer) gives the states of rnn2spice's own netlist of the same build.

Tests marked ``kicad`` need KiCad 9's ``kicad-cli`` (scripts/setup.sh installs it); like the
ngspice tests they are never skipped: without it they fail.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import rnn2spice
from rnn2spice.circuit import ir, kicad_parts
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.circuit.kicad import MAX_INPUTS, MAX_NEURONS, MAX_PARTS, SYMBOL_TABLE, write_kicad
from rnn2spice.circuit.kicad_parts import plain
from rnn2spice.circuit.realparts import Build
from rnn2spice.cli import main
from rnn2spice.errors import NetlistError, OutputError, UsageError
from rnn2spice.network.load import load_spec
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.spice.ngspice import simulate_netlist
from rnn2spice.workflows.kicad import kicad
from tests.conftest import NETLISTS, random_spec_dict

#: KiCad's netlist in ngspice against rnn2spice's own, relative to the largest state (issue 22).
TOLERANCE = 1e-3


@pytest.fixture(scope="session")
def kicad_cli() -> str:
    found = shutil.which("kicad-cli")
    assert found, "kicad-cli (KiCad 9) is not installed: run scripts/setup.sh"
    version = subprocess.run([found, "version"], capture_output=True, text=True, timeout=60).stdout.strip()
    assert int(version.split(".")[0]) >= 9, f"kicad-cli {version}: KiCad 9 or later is needed"
    return found


def _cli(kicad_cli: str, *args: str) -> subprocess.CompletedProcess:
    run = subprocess.run([kicad_cli, *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"kicad-cli {' '.join(args)} failed: {run.stdout}\n{run.stderr}"
    assert "annotation errors" not in run.stdout + run.stderr  # every reference is annotated
    return run


def erc(kicad_cli: str, schematic: Path) -> list[dict]:
    """Every violation KiCad's electrical rules check reports (errors and warnings)."""
    report = schematic.with_name("erc.json")
    _cli(kicad_cli, "sch", "erc", "--severity-all", "--format", "json", "-o", str(report), str(schematic))
    return [v | {"sheet": s["path"]} for s in json.loads(report.read_text())["sheets"] for v in s["violations"]]


def spice_export(kicad_cli: str, schematic: Path) -> str:
    out = schematic.with_name("kicad.cir")
    _cli(kicad_cli, "sch", "export", "netlist", "--format", "spice", "-o", str(out), str(schematic))
    # KiCad's simulator runs in the project folder; our runs are in a temporary one, where
    # ngspice 39 (unlike 46) does not find a relative .include: name the project's file.
    return re.sub(r'^(\.include\s+)"?([^"\n/][^"\n]*)"?\s*$',
                  lambda m: f'{m.group(1)}"{schematic.parent / m.group(2)}"', out.read_text(), flags=re.M | re.I)


def state_error(result, kicad_netlist: str) -> tuple[float, float]:
    """(largest |KiCad's state - rnn2spice's| / largest |state|, largest |state|): both netlists run
    in ngspice; KiCad's waveform interpolated at rnn2spice's time points."""
    ours = simulate_netlist(result.netlist).vectors
    theirs = simulate_netlist(kicad_netlist).vectors
    probes = result.compiled.state_probes
    ours_names = [f"v({p.target.lower()})" if p.kind == "voltage" else f"i({p.target.lower()})" for p in probes]
    a = np.array([ours[name] for name in ours_names])
    b = np.array([np.interp(ours["time"], theirs["time"], theirs[name]) for name in result.state_vectors()])
    scale = float(np.max(np.abs(a)))
    assert scale > 0 and a.shape[1] > 10
    return float(np.max(np.abs(a - b))) / scale, scale


def through_kicad(kicad_cli: str, spec, folder: Path, **options) -> float:
    """kicad -> ERC clean -> KiCad's SPICE export -> ngspice: the states' relative error."""
    result = kicad(spec, output=folder / f"{spec.name}.kicad_sch", **options)
    assert erc(kicad_cli, result.schematic) == []
    netlist = spice_export(kicad_cli, result.schematic)
    for e in ir.expand(result.circuit.elements):  # every element is in KiCad's netlist under its name
        if isinstance(e, ir.DEFINITIONS):  # model cards and subcircuits: in the model library
            continue
        name = kicad_parts.reference(e.name)
        assert f"\n{'X' + name if _is_opamp(e) else name} " in netlist, e.name
    error, _ = state_error(result, netlist)
    assert error <= TOLERANCE, f"{spec.name} {options}: KiCad's netlist differs by {error:.3g} of the largest state"
    return error


def _is_opamp(e) -> bool:
    return isinstance(e, ir.Vcvs) and e.n == "0" and e.ctrl_p == "0" and e.gain > 0


NAMED = [("damped-oscillator", "parallel", None), ("damped-oscillator", "parallel", "gyrator"),
         ("damped-oscillator", "series", None), ("damped-oscillator", "opamp", None),
         ("tanh4", "parallel", None), ("tanh4", "series", None), ("tanh4", "opamp", None),
         ("rate-relu4", "parallel", None), ("rate-relu4", "series", None), ("rate-relu4", "opamp", None),
         ("lowrank-tanh6", "opamp", None)]


@pytest.mark.kicad
@pytest.mark.ngspice
@pytest.mark.parametrize("name, form, coupling", NAMED, ids=[f"{n}-{f}-{c or 'default'}" for n, f, c in NAMED])
def test_kicad_checks_and_simulates_the_circuit(kicad_cli, tmp_path, name, form, coupling):
    """Linear, tanh and relu networks in every form (and the gyrator coupling): ERC has
    nothing to say, and KiCad's netlist gives rnn2spice's states."""
    spec = load_spec(NETLISTS / f"{name}.yaml")
    assert through_kicad(kicad_cli, spec, tmp_path, form=form, coupling=coupling) <= TOLERANCE


RANDOM = [(2, "linear", "parallel", ("sine", "pwl")), (3, "tanh", "series", ("pulse", "step")),
          (3, "relu", "opamp", ("pwl", "sine")), (4, "tanh", "opamp", ("sine",)), (1, "linear", "series", ("pwl",)),
          (6, "tanh", "parallel", ("pwl", "pulse")), (5, "linear", "opamp", ("step",)),
          (3, "linear", "gyrator", ("pulse",))]


@pytest.mark.kicad
@pytest.mark.ngspice
@pytest.mark.parametrize("seed, case", list(enumerate(RANDOM)), ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in RANDOM])
def test_random_networks_through_kicad(kicad_cli, tmp_path, seed, case):
    """Random networks, conventions, inputs of every kind (sines with negative offsets, PWL and
    pulses through zero: KiCad's sources flipped or raw) and negative biases; n = 5, 6 are
    drawn one sheet per neuron."""
    n, activation, form, kinds = case
    convention = ("paper", "ctrnn", "rate")[seed % 3] if activation != "linear" else "paper"
    data = random_spec_dict(n, seed=100 + seed, kinds=kinds, convention=convention, activation=activation)
    if convention != "paper":
        data["bias"] = np.random.default_rng(seed).uniform(-0.5, 0.5, n).tolist()
    for wave in data.get("inputs", []):
        if wave["kind"] == "sine":
            wave["offset"] = -abs(wave["offset"]) - 0.1
        if wave["kind"] == "pulse" and seed % 2:
            wave["low"], wave["high"] = -wave["high"], -0.1  # all negative: a flipped KiCad pulse
    spec = spec_from_dict(data)
    if seed % 4 == 1:  # a scaled circuit (THEORY.md 5): 10x faster, 0.5 V or A per unit of state
        spec = spec.with_scales(10.0, 0.5)
    if form == "gyrator":  # resistors of both signs (a negative one is a raw-SPICE element) and gyrators
        circuit = compile_rnn(spec, coupling="gyrator").circuit
        assert min(e.resistance for e in circuit.elements if isinstance(e, ir.Resistor)) < 0
        assert any(isinstance(e, ir.Gyrator) and e.g < 0 for e in circuit.elements)
    through_kicad(kicad_cli, spec, tmp_path, **({"coupling": "gyrator"} if form == "gyrator" else {"form": form}))
    sheets = sorted(p.name for p in tmp_path.glob("*.kicad_sch"))
    assert len(sheets) == (1 if n <= 4 else n + 2), sheets  # root + a sheet per neuron + inputs


@pytest.mark.slow
@pytest.mark.kicad
@pytest.mark.ngspice
def test_the_largest_network_through_kicad(kicad_cli, tmp_path):
    """n = MAX_NEURONS, dense (674 parts): one sheet per neuron; ERC clean and the states right
    (about a minute: KiCad's ERC time grows steeply with n, see MAX_NEURONS); with
    MAX_INPUTS dense inputs the circuit has too many parts and is refused, naming the count."""
    data = random_spec_dict(MAX_NEURONS, seed=7, kinds=("step", "sine"))
    through_kicad(kicad_cli, spec_from_dict(data), tmp_path, form="parallel")
    assert len(list(tmp_path.glob("*.kicad_sch"))) == MAX_NEURONS + 2
    wide = spec_from_dict(random_spec_dict(MAX_NEURONS, seed=7, kinds=("step",) * MAX_INPUTS))
    with pytest.raises(UsageError, match=f"has 1[0-9]{{3}} parts .n = {MAX_NEURONS}.; KiCad schematics support "
                                         f"at most {MAX_PARTS} parts"):
        kicad(wide, output=tmp_path / "wide.kicad_sch")
    assert not (tmp_path / "wide.kicad_sch").exists()


@pytest.mark.kicad
@pytest.mark.ngspice
def test_snapped_build_through_kicad(kicad_cli, tmp_path):
    """--snap: the schematic holds the preferred values, and simulates as rnn2spice's snapped netlist."""
    spec = load_spec(NETLISTS / "tanh4.yaml")
    through_kicad(kicad_cli, spec, tmp_path, form="opamp", snap="E24")
    values = [e.resistance for e in ir.expand(kicad(spec, output=tmp_path / "again.kicad_sch", form="opamp",
                                                    snap="E24").circuit.elements) if isinstance(e, ir.Resistor)]
    mantissas = {round(v / 10 ** np.floor(np.log10(v)), 6) for v in values}
    assert mantissas <= {1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2.0, 2.2, 2.4, 2.7, 3.0, 3.3, 3.6, 3.9, 4.3, 4.7, 5.1,
                         5.6, 6.2, 6.8, 7.5, 8.2, 9.1}


@pytest.mark.kicad
def test_kicad_renders_the_schematic(kicad_cli, tmp_path):
    """``kicad-cli sch export svg`` draws every sheet (docs/kicad.md shows one)."""
    spec = spec_from_dict(random_spec_dict(6, seed=3, kinds=("step",), activation="tanh", convention="ctrnn"))
    result = kicad(spec, output=tmp_path / "net.kicad_sch", form="parallel")
    _cli(kicad_cli, "sch", "export", "svg", "-o", str(tmp_path / "svg"), str(result.schematic))
    pictures = sorted((tmp_path / "svg").glob("*.svg"))
    assert len(pictures) == 8  # the root, six neurons, the inputs
    for picture in pictures:
        text = picture.read_text()
        assert text.lstrip().startswith("<?xml") and "<svg" in text and len(text) > 5000, picture.name


def test_every_element_kind_has_a_kicad_part():
    """A new IR element kind needs its KiCad part (ARCHITECTURE.md, "Where to add"); one
    without it is refused naming the element."""
    kinds = set(ir.Element.__args__) - {ir.VccsBlock}
    assert kinds <= set(kicad_parts._METHODS), kinds - set(kicad_parts._METHODS)

    @dataclass(frozen=True)
    class Memristor:
        name: str
        a: str
        b: str

    c = compile_rnn(load_spec(NETLISTS / "damped-oscillator.yaml"))
    odd = dataclasses.replace(c.circuit, elements=c.circuit.elements + (Memristor("M_0", "h0", "0"),))
    with pytest.raises(NetlistError, match="no symbol for element 'M_0' .Memristor."):
        write_kicad(odd, name="odd", neurons=2)


def test_output_is_deterministic_and_numbers_are_exact(tmp_path):
    spec = load_spec(NETLISTS / "tanh4.yaml")
    c = compile_rnn(spec, form="opamp")
    assert write_kicad(c.circuit, name="a", neurons=4) == write_kicad(c.circuit, name="a", neurons=4)
    rng = np.random.default_rng(0)
    for x in np.concatenate([10.0 ** rng.uniform(-18, 15, 500), [0.0, 1.0, 5e-324, 1.7976931348623157e308]]):
        text = plain(float(x))
        assert float(text) == x and set(text) <= set("0123456789.")


def test_bad_requests_exit_2_and_write_nothing(tmp_path, capsys):
    spec_path = tmp_path / "big.json"
    n = MAX_NEURONS + 1
    spec_path.write_text(json.dumps({"name": "big", "tau": 1e-3, "w": np.zeros((n, n)).tolist(), "t_stop": 1e-2}))
    out = tmp_path / "out"
    out.mkdir()
    tanh4 = str(NETLISTS / "tanh4.yaml")
    cases = [([str(spec_path), "-o", str(out / "big.kicad_sch")], f"n = {n} neurons"),
             ([tanh4, "--form", "parallel", "--coupling", "gyrator", "-o", str(out / "t.kicad_sch")], "gyrator"),
             ([tanh4, "--form", "series", "--coupling", "resistor", "-o", str(out / "t.kicad_sch")], "resistor"),
             ([tanh4, "-o", str(out / "t.sch")], "NAME.kicad_sch"),
             ([tanh4, "-o", str(out / "missing" / "t.kicad_sch")], "does not exist")]
    for args, named in cases:
        assert main(["kicad", *args]) == 2
        assert named in capsys.readouterr().err, args
        assert list(out.iterdir()) == []
    assert main(["kicad", tanh4, "--form", "ladder", "-o", str(out / "t.kicad_sch")]) == 2  # argparse's choices
    assert "'ladder'" in capsys.readouterr().err and list(out.iterdir()) == []
    # an existing file that is not of its kind, at the output path or beside it: nothing written
    for clash in ("t.kicad_sch", "t.kicad_pro", "t.lib", "rnn2spice.kicad_sym"):
        (out / clash).write_text("my notes\n")
        assert main(["kicad", tanh4, "--form", "opamp", "-o", str(out / "t.kicad_sch")]) == 2
        assert repr(str(out / clash)) in capsys.readouterr().err
        assert [p.name for p in out.iterdir()] == [clash] and (out / clash).read_text() == "my notes\n"
        (out / clash).unlink()


def test_api_and_an_existing_symbol_table(tmp_path):
    """``rnn2spice.kicad`` is the API's entry over the workflow (the command's options as
    keywords: tests/test_api_options.py); another project's sym-lib-table is left alone, an
    earlier output is replaced."""
    assert rnn2spice.kicad is rnn2spice.api.kicad
    spec = load_spec(NETLISTS / "damped-oscillator.yaml")
    table = tmp_path / SYMBOL_TABLE
    table.write_text("(sym_lib_table (version 7) (lib (name \"mine\")(type \"KiCad\")(uri \"x\")(options \"\")(descr \"\")))\n")
    first = kicad(spec, output=tmp_path / "d.kicad_sch", form="series")
    assert first.skipped == (table,) and "mine" in table.read_text()
    table.unlink()
    again = kicad(spec, output=str(tmp_path / "d.kicad_sch"), form="series")
    assert table in again.files and again.skipped == () and "i(vs_0)" in again.summary()
    with pytest.raises(UsageError, match="output must name"):
        kicad(spec, output=tmp_path / "d.svg")
    (tmp_path / "e.lib").write_text("* not a model library\n")
    with pytest.raises(OutputError, match="e.lib"):
        kicad(spec, output=tmp_path / "e.kicad_sch", form="parallel", coupling="gyrator")
    assert not (tmp_path / "e.kicad_sch").exists()


REAL = [("tanh4", {"opamp": "TL072"}), ("tanh4", {"opamp": "LM358", "activation_circuit": "transistor"}),
        ("damped-oscillator", {"opamp": "OPA227"}), ("relu", {"opamp": "TL072", "activation_circuit": "transistor"})]


@pytest.mark.kicad
@pytest.mark.ngspice
@pytest.mark.parametrize("name, options", REAL, ids=[f"{n}-{'-'.join(o.values())}" for n, o in REAL])
def test_real_parts_through_kicad(kicad_cli, tmp_path, name, options):
    """Real-part builds (issue 21): op-amp macro-models (5-pin subcircuits with supply rails),
    transistor tanh (2N3904 pairs) and relu (1N4148 rectifiers) as KiCad symbols over the model
    library: ERC clean, KiCad's netlist gives rnn2spice's states."""
    if name == "relu":
        data = random_spec_dict(3, seed=5, kinds=("sine",), convention="ctrnn", activation="relu")
        data["bias"] = [0.2, -0.1, 0.3]
        spec = spec_from_dict(data)
    else:
        spec = load_spec(NETLISTS / f"{name}.yaml")
    build = Build(**options)
    through_kicad(kicad_cli, spec, tmp_path, form="opamp", build=build)
    library = (tmp_path / f"{spec.name}.lib").read_text()
    assert f".subckt {options['opamp']} " in library
    if options.get("activation_circuit") == "transistor":
        assert ".model" in library
