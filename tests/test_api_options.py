"""Every command's options are its API function's keywords, with the same names and values.

The project rule "keyword-only options; API names equal to the CLI's": read from the argparse
parsers themselves (as test_docs.py reads them), every option of every command that has an API
function is a keyword of that function (or listed in EXCEPTIONS with the reason), the choices
and defaults agree, and the values the command takes as text (``--tolerance 5%``, ``--supply
-12,12``) are taken by the function too.  The calls a user found refused run for real.
"""

from __future__ import annotations

import argparse
import inspect
import json
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import rnn2spice
from rnn2spice.cli.app import build_parser, main
from rnn2spice.report.files import json_text
from rnn2spice.workflows.sweep import parse_number

ROOT = Path(__file__).resolve().parents[1]

#: command -> API function
API = {"compile": "compile", "simulate": "simulate", "check": "check", "verify": "verify", "ac": "ac",
       "import": "import_model", "task": "task", "montecarlo": "montecarlo", "sweep": "sweep", "bom": "bom",
       "schematic": "schematic", "kicad": "kicad"}

#: Options that are the command line's own, on every command that has them: why the API differs.
CLI_ONLY = {
    "spec": "the spec file: the API's first argument is the Network (rnn2spice.load reads the file)",
    "allow_outside_files": "how the spec file is read: rnn2spice.load(path, allow_outside_files=True)",
    "quiet": "the terminal's progress bar: the API's progress= callback",
    "report": "the JSON file: result.report() is the same dict",
    "plot": "the figure file: result.plot() is the Figure",
    "verbose": "the printed summary: result.summary(verbose=True)",
}
#: (command, option) -> why the API has no keyword of that name.
EXCEPTIONS = {
    **{(c, "output"): "the command writes the text the API returns (.netlist, a Trajectory, Bom.order_csv())"
       for c in ("compile", "simulate", "bom")},
    **{(c, "force"): "replaces the command's output file; the API writes no file here"
       for c in ("compile", "simulate", "check", "verify", "ac", "task", "bom")},
    **{(c, o): "a trial from a file replaces the spec's inputs: in Python, give the Network those inputs"
       for c in ("simulate", "check") for o in ("stimulus", "dt", "trial")},
    ("check", "netlist"): "writes the netlist: result.compiled.netlist (netlist_path= keeps ngspice's input file)",
    ("schematic", "output"): "the picture's file is the API's second argument, path",
    ("sweep", "param"): "the points are the API's second argument, params={'circuit.capacitance': [...]}",
    **{("task", o): "the trials are the API's stimuli= (rnn2spice.pulse_trials(value, delay=, steps=), or "
                    "Stimulus objects with their window)" for o in ("stimulus", "delay", "steps", "window")},
    **{("bom", o): "--predict/--simulate report the preferred values' effect: the API's snap() and snap_trial() "
                   "take these" for o in ("predict", "simulate", "accuracy", "stimulus", "value", "delay", "seed",
                                          "dt", "window", "dead_zone")},
    ("bom", "parts_list"): "which CSV is printed: Bom.csv() (--parts-list) or Bom.order_csv()",
}
#: (command, option) -> the API's default, where the command's text default is spelt otherwise
#: or the API's None means "the same as the command's".
SAME_DEFAULT = {("montecarlo", "tolerance"): 0.05, ("sweep", "tolerance"): 0.0}
#: (command, option) -> the API's default where the command's is None and its run() applies that value
#: (one pulse trial of height 1; the API's task has no "not given" to tell apart).
CLI_NONE_MEANS = {("task", "value"): 1.0, ("task", "trials"): 1, ("task", "seed"): 0, ("task", "noise"): 0.0}


def commands():
    parser = build_parser()
    return [(name, sub) for name, sub in parser.commands.items() if name in API]


def options(sub):
    return [a for a in sub._actions if not isinstance(a, argparse._HelpAction)]


def api_keywords(name: str) -> dict[str, inspect.Parameter]:
    func = getattr(rnn2spice, API[name])
    params = dict(inspect.signature(func).parameters)
    if name == "sweep":  # sweep passes **options on to the study's keywords
        params.update(inspect.signature(rnn2spice.workflows.sweep.sweep).parameters)
    if name == "montecarlo":
        params.update(inspect.signature(rnn2spice.workflows.montecarlo.montecarlo).parameters)
    return {k: p for k, p in params.items() if p.kind is not p.VAR_KEYWORD}


def test_every_command_with_a_function_is_mapped():
    assert set(API) <= set(build_parser().commands)
    for name in API:
        assert callable(getattr(rnn2spice, API[name])), name


def mismatches() -> list[str]:
    found = []
    for name, sub in commands():
        keywords = api_keywords(name)
        for action in options(sub):
            dest = action.dest
            if dest in CLI_ONLY or (name, dest) in EXCEPTIONS:
                continue
            if dest not in keywords:
                found.append(f"{name} --{dest.replace('_', '-')}: rnnspice.{API[name]}() has no keyword {dest}")
                continue
            param = keywords[dest]
            if param.kind is param.POSITIONAL_ONLY:
                found.append(f"{name} {dest}: positional only in the API")
            cli_default, api_default = action.default, param.default
            if (name, dest) in SAME_DEFAULT:
                cli_default = parse_number(cli_default, dest, percent=True)
                assert SAME_DEFAULT[(name, dest)] == cli_default
            if (name, dest) in CLI_NONE_MEANS:
                assert api_default == CLI_NONE_MEANS[(name, dest)], (name, dest)
                continue
            if cli_default is None and api_default not in (None, param.empty, False, ()):
                found.append(f"{name} --{dest}: no default on the command line (its own choice), {api_default!r} "
                             "in the API")
            if api_default is not param.empty and api_default is not None and cli_default is not None \
                    and api_default != cli_default:
                found.append(f"{name} --{dest}: default {cli_default!r} on the command line, {api_default!r} in the API")
            if action.choices is not None and api_default not in (None, param.empty) \
                    and api_default not in action.choices:
                found.append(f"{name} --{dest}: the API's default {api_default!r} is not one of {action.choices}")
    return found


def test_command_options_are_the_functions_keywords():
    assert mismatches() == []


def test_exceptions_are_still_needed():
    """An exception listed for an option the function has since gained is stale: remove it."""
    parser = build_parser()
    for (name, dest), why in EXCEPTIONS.items():
        assert dest in [a.dest for a in options(parser.commands[name])], (name, dest)
        assert dest not in api_keywords(name) or dest == "output" and name == "schematic", (name, dest, why)


BUILD = ("snap", "opamp", "opamp_model", "activation_circuit", "temp", "supply")


@pytest.mark.parametrize("name", ["compile", "simulate", "check", "montecarlo", "kicad", "bom"])
def test_build_options_are_keywords_and_build_too(name):
    keywords = api_keywords(name)
    assert "build" in keywords
    for key in BUILD:
        assert key in keywords, (name, key)


# -- values: what the command takes as text, the function takes too ---------------------------------

def tiny():
    return rnn2spice.Network(name="tiny", tau=1e-3, w=[[-0.5, 0.3], [-0.3, -0.5]], w_in=[[1.0], [0.0]],
                             inputs=[{"kind": "step", "value": 1.0}], t_stop=4e-3)


def tiny_tanh():
    return rnn2spice.Network(name="tinyt", tau=1e-3, w=[[-0.5, 0.3], [-0.3, -0.5]], w_in=[[1.0], [0.0]],
                             inputs=[{"kind": "step", "value": 1.0}], t_stop=4e-3, activation="tanh")


@pytest.mark.parametrize("form", ["parallel", "series", "opamp"])
def test_every_form_choice_compiles_and_verifies_with_its_own_coupling(form):
    """Every --form the commands offer, with no coupling given, is taken by compile and verify
    (verify took vccs as its default and refused the opamp form)."""
    net = tiny()
    compiled = rnn2spice.compile(net, form=form)
    result = rnn2spice.verify(net, form=form)
    assert result.passed, result.summary()
    assert f"coupling {compiled.coupling}" in result.source
    if form == "opamp":
        assert compiled.coupling == "resistor"


def test_verify_matches_the_command(tmp_path):
    spec = tmp_path / "tiny.yaml"
    rnn2spice.save(tiny(), spec)
    report = tmp_path / "v.json"
    assert main(["verify", str(spec), "--form", "opamp", "--report", str(report)]) == 0
    api = json.loads(json_text(rnn2spice.verify(rnn2spice.load(spec), form="opamp").report()))
    cli = json.loads(report.read_text())

    def judged(report):  # what was judged, without the run's own timings and the writer's name
        if isinstance(report, dict):
            return {k: judged(v) for k, v in report.items() if k != "generator" and "time" not in k
                    and "seconds" not in k and not k.endswith("_ms")}
        return report
    assert judged(api) == judged(cli)
    assert cli["certificate"]["passed"] is True


@pytest.mark.parametrize("supply", ["-12,12", (-12, 12), [-12.0, 12.0]])
def test_supply_as_the_command_spells_it(supply):
    net = tiny()
    a = rnn2spice.compile(net, form="opamp", supply=supply, snap="E24")
    b = rnn2spice.compile(net, form="opamp", build=rnn2spice.Build(supply=(-12.0, 12.0), snap="E24"))
    assert a.netlist == b.netlist
    with pytest.raises(rnn2spice.UsageError, match="supply"):
        rnn2spice.compile(net, form="opamp", supply="12")


def test_build_and_its_fields_are_not_both_given():
    with pytest.raises(rnn2spice.UsageError, match="build or snap"):
        rnn2spice.compile(tiny(), form="opamp", build=rnn2spice.Build(), snap="E24")
    with pytest.raises(rnn2spice.UsageError, match="build must be"):
        rnn2spice.check(tiny(), form="opamp", build={"snap": "E24"})


@pytest.mark.parametrize("scale", [("time_scale", 1e3), ("state_scale", 0.5)])
def test_scales_as_the_command(scale, tmp_path):
    key, value = scale
    spec = tmp_path / "tiny.yaml"
    rnn2spice.save(tiny(), spec)
    out = tmp_path / "t.cir"
    assert main(["compile", str(spec), f"--{key.replace('_', '-')}", str(value), "-o", str(out)]) == 0
    assert rnn2spice.compile(rnn2spice.load(spec), **{key: value}).netlist == out.read_text()
    assert rnn2spice.compile(tiny(), **{key: value}).netlist != rnn2spice.compile(tiny()).netlist


# -- unknown keywords: a did-you-mean, as a spec file's unknown key --------------------------------

PUBLIC = ["load", "Network", "compile", "simulate", "check", "verify", "ac", "task", "import_model", "montecarlo",
          "sweep", "bom", "schematic", "kicad", "save"]


def test_network_typo_names_the_keyword():
    with pytest.raises(TypeError, match=r"Network\(\) has no option 'activaton'; did you mean 'activation'\?"):
        rnn2spice.Network(name="x", tau=1e-3, w=[[0.0]], t_stop=1e-3, activaton="tanh")
    with pytest.raises(rnn2spice.UsageError):  # also the project's own error (exit 2 on the command line)
        rnn2spice.Network(name="x", tau=1e-3, w=[[0.0]], t_stop=1e-3, activaton="tanh")


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(PUBLIC), data=st.data())
def test_a_misspelt_keyword_is_refused_before_anything_runs(name, data):
    """A keyword with one letter dropped, doubled or changed is refused with the nearest real
    one (every public function, any of its keywords), before the function does anything."""
    func = getattr(rnn2spice, name)
    keywords = [k for k, p in inspect.signature(func).parameters.items()
                if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if name == "sweep":
        keywords = [k for k in inspect.signature(rnn2spice.workflows.sweep.sweep).parameters if k != "spec"]
    if name == "montecarlo":  # its own keywords and the study's it passes on
        keywords += [k for k in inspect.signature(rnn2spice.workflows.montecarlo.montecarlo).parameters
                     if k not in keywords and k != "net"]
    key = data.draw(st.sampled_from(keywords))
    i = data.draw(st.integers(0, len(key) - 1))
    how = data.draw(st.sampled_from(["drop", "double", "change"]))
    wrong = {"drop": key[:i] + key[i + 1:], "double": key[:i] + key[i] + key[i:],
             "change": key[:i] + data.draw(st.sampled_from(string.ascii_lowercase)) + key[i + 1:]}[how]
    if wrong in keywords or not wrong.isidentifier():
        return
    with pytest.raises(rnn2spice.UnknownOptionError) as info:
        func(object(), **{wrong: 1})  # object(): a function that ran would refuse it differently
    text = str(info.value)
    assert f"{name}() has no option {wrong!r}" in text and "\n" not in text
    assert "did you mean" in text or "it takes" in text
    assert isinstance(info.value, TypeError)


# -- the calls a user found refused, run for real --------------------------------------------------

@pytest.mark.ngspice
def test_check_takes_build_as_compile_does(tmp_path):
    net = tiny()
    via_build = rnn2spice.check(net, form="opamp", build=rnn2spice.Build(snap="E24"))
    via_fields = rnn2spice.check(net, form="opamp", snap="E24")
    direct = rnn2spice.check_build(rnn2spice.compile(net, form="opamp", snap="E24"))
    assert isinstance(via_build, rnn2spice.BuildCheck)
    assert via_build.compiled.netlist == via_fields.compiled.netlist == direct.compiled.netlist
    assert via_build.report()["build_error"] == pytest.approx(direct.report()["build_error"], rel=1e-6)
    spec = tmp_path / "tiny.yaml"
    rnn2spice.save(net, spec)
    report = tmp_path / "c.json"
    main(["check", str(spec), "--form", "opamp", "--snap", "E24", "--quiet", "--report", str(report)])
    cli = json.loads(report.read_text())
    assert cli["passed"] == via_build.passed
    assert cli["build_error"] == pytest.approx(via_build.report()["build_error"], rel=1e-6)
    assert cli["build"] == via_build.report()["build"]
    with pytest.raises(rnn2spice.UsageError, match="tolerance"):
        rnn2spice.check(net, form="opamp", snap="E24", tolerance=0.1)


@pytest.mark.ngspice
def test_simulate_takes_rtol_and_build():
    net = tiny()
    a = rnn2spice.simulate(net, form="opamp", snap="E24")
    b = rnn2spice.simulate(rnn2spice.compile(net, form="opamp", build=rnn2spice.Build(snap="E24")))
    np.testing.assert_allclose(a.states, b.states, rtol=0, atol=1e-9)
    c = rnn2spice.simulate(net, rtol=1e-2)
    assert c.states.shape[1] == 2 and np.all(np.isfinite(c.states))


@pytest.mark.ngspice
def test_bom_takes_the_commands_build_options(tmp_path):
    net = tiny_tanh()
    result = rnn2spice.bom(net, form="opamp", opamp="TL072", activation_circuit="transistor", snap="E24")
    spec = tmp_path / "t.yaml"
    rnn2spice.save(net, spec)
    out = tmp_path / "parts.csv"
    assert main(["bom", str(spec), "--opamp", "TL072", "--activation-circuit", "transistor", "--snap", "E24",
                 "-o", str(out)]) == 0
    assert result.order_csv() == out.read_text()
    assert "TL072" in result.order_csv() and "2N3904" in result.order_csv()
    plain = rnn2spice.bom(tiny(), snap="E24")  # ideal op-amps: the exact values with the preferred ones beside
    out2 = tmp_path / "plain.csv"
    rnn2spice.save(tiny(), tmp_path / "p.yaml")
    assert main(["bom", str(tmp_path / "p.yaml"), "--snap", "E24", "--parts-list", "-o", str(out2)]) == 0
    assert plain.csv() == out2.read_text()


@pytest.mark.ngspice
@pytest.mark.parametrize("text", ["5%", "0.05", 0.05])
def test_montecarlo_tolerance_as_the_command_spells_it(text):
    net = tiny()
    result = rnn2spice.montecarlo(net, tolerance=text, runs=2, jobs=1, threshold="50%")
    reference = rnn2spice.montecarlo(net, tolerance=0.05, runs=2, jobs=1, threshold=0.5)
    assert result.passed == reference.passed
    got, want = result.report()["records"], reference.report()["records"]
    assert [r["factors"] for r in got] == [r["factors"] for r in want]  # the same draws: 5 % is 0.05
    assert [r["error"] for r in got] == pytest.approx([r["error"] for r in want], rel=1e-9)
    assert max(r["factors"]["max"] for r in got) <= 1.05 and min(r["factors"]["min"] for r in got) >= 0.95
    with pytest.raises(rnn2spice.UsageError, match="tolerance"):
        rnn2spice.montecarlo(net, tolerance="500%", runs=1, jobs=1)


def test_task_passes_its_coupling_on():
    """task's coupling reaches the compiler (the command had refused only gyrator and passed no
    other value on): resistor is the opamp form's, refused for the parallel form."""
    net = rnn2spice.Network(name="ro", tau=1e-3, w=[[-0.5]], w_in=[[1.0]], w_out=[[1.0]], t_stop=4e-3,
                            activation="tanh", convention="ctrnn", bias=[0.0],
                            inputs=[{"kind": "step", "value": 0.0}])
    with pytest.raises(rnn2spice.UsageError, match="resistor"):
        rnn2spice.task(net, dt=1e-4, form="parallel", coupling="resistor", jobs=1)


@pytest.mark.ngspice
def test_task_with_the_forms_own_coupling_named():
    net = rnn2spice.Network(name="ro", tau=1e-3, w=[[-0.5]], w_in=[[1.0]], w_out=[[1.0]], t_stop=4e-3,
                            activation="tanh", convention="ctrnn", bias=[0.0],
                            inputs=[{"kind": "step", "value": 0.0}])
    named = rnn2spice.task(net, dt=1e-4, form="opamp", coupling="resistor", jobs=1, rtol=1e-2)
    default = rnn2spice.task(net, dt=1e-4, form="opamp", jobs=1, rtol=1e-2)
    assert named.passed == default.passed
    assert named.report()["trials"][0]["spice"] == default.report()["trials"][0]["spice"]


@pytest.mark.ngspice
def test_sweep_scales_as_the_command(tmp_path):
    """--time-scale reaches every sweep point (the command read it and ran the spec unscaled)."""
    spec = tmp_path / "tiny.yaml"
    rnn2spice.save(tiny(), spec)
    out = tmp_path / "s.json"
    assert main(["sweep", str(spec), "--param", "accuracy=default", "--time-scale", "1000", "--jobs", "1",
                 "--quiet", "-o", str(out)]) == 0
    cli = json.loads(out.read_text())["records"]
    scaled = rnn2spice.sweep(tiny(), {"accuracy": ["default"]}, time_scale=1000, jobs=1).report()["records"]
    same = rnn2spice.sweep(tiny().with_scales(1000, None), {"accuracy": ["default"]}, jobs=1).report()["records"]
    plain = rnn2spice.sweep(tiny(), {"accuracy": ["default"]}, jobs=1).report()["records"]
    assert [r["error"] for r in scaled] == [r["error"] for r in same] == [r["error"] for r in cli]
    assert [r["error"] for r in scaled] != [r["error"] for r in plain]  # the scale changed the circuit run


@pytest.mark.ngspice
def test_sweep_takes_the_commands_spellings_and_the_forms_own_coupling():
    """sweep(tolerance="5%") as --tolerance 5%; form opamp without a coupling compiles with the
    form's own (the workflow's default was vccs, which the opamp form refuses)."""
    result = rnn2spice.sweep(tiny(), {"form": ["opamp"]}, tolerance="5%", runs=1, jobs=1, threshold="50%")
    reference = rnn2spice.sweep(tiny(), {"form": ["opamp"]}, tolerance=0.05, runs=1, jobs=1, threshold=0.5)
    got, want = result.report()["records"], reference.report()["records"]
    assert [r["factors"] for r in got] == [r["factors"] for r in want] and got[0]["status"] == "ok"


# -- found in review: keywords accepted and dropped, defaults not the command's ------------------

def test_montecarlo_and_sweep_take_the_network_by_its_name():
    """``montecarlo(net=...)``, ``sweep(net=..., params=...)``: the keyword check had listed only
    the options passed on, and refused the function's own first argument by name."""
    for call in (lambda: rnn2spice.montecarlo(net=tiny(), runs=0),
                 lambda: rnn2spice.sweep(net=tiny(), params={"accuracy": ["default"]}, runs=0)):
        with pytest.raises(rnn2spice.UsageError, match="runs must be") as info:
            call()
        assert not isinstance(info.value, rnn2spice.UnknownOptionError)


@pytest.mark.parametrize("call, named", [
    (lambda c: rnn2spice.check(c, snap="E24"), "snap"),
    (lambda c: rnn2spice.check(c, build=rnn2spice.Build(snap="E24")), "build"),
    (lambda c: rnn2spice.simulate(c, opamp="TL072"), "opamp"),
    (lambda c: rnn2spice.montecarlo(c, snap="E24", runs=1, jobs=1), "snap"),
    (lambda c: rnn2spice.montecarlo(c, time_scale=10, runs=1, jobs=1), "time_scale"),
    (lambda c: rnn2spice.schematic(c, form="series"), "form"),
    (lambda c: rnn2spice.schematic(c, time_scale=10), "time_scale"),
])
def test_a_compiled_network_refuses_what_it_has_fixed(call, named):
    """check(compiled, snap="E24") had run the unsnapped circuit and passed; montecarlo(compiled,
    snap=...) likewise; schematic(compiled, form="series") drew the parallel circuit.  Now one
    line naming the keyword, before anything runs."""
    with pytest.raises(rnn2spice.UsageError) as info:
        call(rnn2spice.compile(tiny()))
    text = str(info.value)
    assert text.startswith(f"{named} cannot be given with an already compiled network") and "\n" not in text


@pytest.mark.ngspice
def test_check_of_a_network_compiled_with_a_build_checks_that_build():
    """A circuit compiled with preferred values had been certified against the ideal network
    (CertificateFailed, a multi-line error) instead of checked against its prediction."""
    net = tiny()
    compiled = rnn2spice.compile(net, form="opamp", snap="E24")
    result = rnn2spice.check(compiled)
    direct = rnn2spice.check(net, form="opamp", snap="E24")
    assert isinstance(result, rnn2spice.BuildCheck) and result.passed
    assert result.compiled.netlist == direct.compiled.netlist
    assert result.report()["build_error"] == pytest.approx(direct.report()["build_error"], rel=1e-6)


@pytest.mark.ngspice
def test_check_with_a_build_and_no_form_compiles_the_commands_form(tmp_path):
    """check(net, snap="E24") had compiled the opamp form where ``rnn2spice check --snap E24``
    compiles the parallel one (--form's default): the same options, two different circuits."""
    spec = tmp_path / "tiny.yaml"
    rnn2spice.save(tiny(), spec)
    netlist = tmp_path / "c.cir"
    assert main(["check", str(spec), "--snap", "E24", "--quiet", "--netlist", str(netlist)]) == 0
    result = rnn2spice.check(tiny(), snap="E24")
    assert result.compiled.form == "parallel"
    assert result.compiled.netlist == netlist.read_text()


@pytest.mark.ngspice
def test_montecarlo_in_the_opamp_form_without_a_coupling():
    """montecarlo(net, form="opamp") had been refused ("use coupling 'resistor'"): the workflow
    filled in vccs where every other function takes the form's own coupling."""
    result = rnn2spice.montecarlo(tiny(), form="opamp", runs=1, jobs=1, tolerance="1%")
    record = result.report()["records"][0]
    assert record["status"] == "ok", record


@pytest.mark.parametrize("call, named", [
    (lambda: rnn2spice.check(tiny(), refine="no"), "refine must be True or False (got 'no')"),
    (lambda: rnn2spice.task(tiny(), dt=1e-4, strict="yes"), "strict must be True or False"),
    (lambda: rnn2spice.montecarlo(tiny(), runs=1, resume="false"), "resume must be True or False"),
    (lambda: rnn2spice.sweep(tiny(), {"accuracy": ["default"]}, force=1), "force must be True or False (got 1)"),
    (lambda: rnn2spice.save(tiny(), "/nonexistent-s4/x.yaml", force="no"), "force must be True or False"),
    (lambda: rnn2spice.check(tiny(), progress="yes"), "progress must be a function"),
    (lambda: rnn2spice.check(tiny(), netlist_path=123), "netlist_path must be a file path or None (got 123)"),
    (lambda: rnn2spice.task(tiny_tanh(), dt=1e-4, trials="2", jobs=1), "--trials must be a whole number"),
    (lambda: rnn2spice.pulse_trials(1.0, trials=2.5), "--trials must be a whole number"),
    (lambda: rnn2spice.pulse_trials("1"), "--value must be a finite number (got '1')"),
    (lambda: rnn2spice.import_model(5, dt=1e-3), "model must be a file path (got 5)"),
    (lambda: rnn2spice.schematic(tiny(), 5), "path must be a file path or None (got 5)"),
    (lambda: rnn2spice.montecarlo(tiny(), runs=1, jobs=1, output=5), "output must be a file path or None (got 5)"),
])
def test_values_of_the_wrong_type_are_refused_naming_the_keyword(call, named):
    """refine="no" had meant refine (any non-empty text is true); progress="yes",
    netlist_path=123 and a number for a file (import_model's model, schematic's path,
    montecarlo's output) had raised Python's bare TypeError from inside the run, trials="2" one
    from a comparison; trials=2.5 had passed the range check."""
    with pytest.raises(rnn2spice.UsageError) as info:
        call()
    assert str(info.value).startswith(named) and "\n" not in str(info.value)


def test_sweep_params_as_a_list_says_what_it_got():
    """A list of pairs had been reported as "(got none)"."""
    with pytest.raises(rnn2spice.UsageError, match=r"params must map .* \(got a list\)$"):
        rnn2spice.sweep(tiny(), [("accuracy", ["default"])])
    with pytest.raises(rnn2spice.UsageError, match=r"\(got none\)$"):
        rnn2spice.sweep(tiny(), {})


def test_network_inputs_as_one_mapping_or_none():
    """inputs={"kind": "step", ...} had been read as the waveforms "kind" and "value" ("exactly
    1 input waveforms are needed (got '2 waveforms')"); inputs=None a bare TypeError."""
    with pytest.raises(rnn2spice.SpecError, match=r"^inputs: must be a list of waveform mappings") as info:
        rnn2spice.Network(name="x", tau=1e-3, w=[[0.0]], w_in=[[1.0]], t_stop=1e-3,
                          inputs={"kind": "step", "value": 1.0})
    assert "\n" not in str(info.value)
    net = rnn2spice.Network(name="x", tau=1e-3, w=[[-1.0]], t_stop=1e-3, inputs=None)
    assert net.m == 0


@pytest.mark.parametrize("call", [lambda c: rnn2spice.ac(c, fmin=1, fmax=1e3), lambda c: rnn2spice.task(c, dt=1e-4)])
def test_ac_and_task_refuse_a_compiled_network_in_one_line(call):
    """They take a Network only; a CompiledNetwork had raised a bare AttributeError."""
    with pytest.raises(rnn2spice.UsageError, match=r"^network must be a Network .*\(got CompiledNetwork\)$"):
        call(rnn2spice.compile(tiny()))
