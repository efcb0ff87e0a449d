"""ngspice versions: a libngspice that crashes cannot take Python down, KLU is used exactly
where ngspice has it, and the CI run covers every installed version.

``scripts/test.sh`` runs the whole suite with the default ngspice (46 on Debian 12) and the
``ngspice`` tests again with ngspice 39, naming the version in ``RNN2SPICE_EXPECT_NGSPICE``;
the tests marked ``ngspice`` here therefore run on both.  The unpacked 39 lives in
``.venv/ngspice-39`` (``scripts/setup.sh``) and is also selected here through
``RNN2SPICE_NGSPICE`` / ``RNN2SPICE_LIBNGSPICE``, so that route is tested in every run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import GOOD_SPEC, env_with
from rnn2spice import __version__
from rnn2spice.errors import SimulationError, UsageError
from rnn2spice.spice import probe
from rnn2spice.spice.ngspice import (
    KLU_OPTION,
    ngspice_solver,
    ngspice_version,
    simulate_netlist,
    solver_in_log,
    with_klu_option,
)

ROOT = Path(__file__).resolve().parents[1]
OLD = ROOT / ".venv" / "ngspice-39"
RC = "rc decay\nR_0 h0 0 1000000\nC_0 h0 0 1e-9 IC=1\n.tran 1e-5 5e-3 0 1e-6 uic\n.end\n"
# What selects an ngspice: cleared for the runs that choose their own.
SELECTION = ("RNN2SPICE_NGSPICE", "RNN2SPICE_LIBNGSPICE", "NGSPICE_LIBRARY_PATH", "RNN2SPICE_SOLVER")


def major(version: str) -> int:
    return int(re.match(r"\d+", version).group())


def run_python(code: str, cwd: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          env=env_with(**env), timeout=300)


def run_cli(args, cwd: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnn2spice", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=env_with(**env), timeout=300)


@pytest.fixture
def work(tmp_path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "spec.yaml").write_text(yaml.safe_dump(GOOD_SPEC, sort_keys=False))
    return folder


def old_selection() -> dict:
    """RNN2SPICE_NGSPICE and RNN2SPICE_LIBNGSPICE of the unpacked ngspice 39 (its env file)."""
    env_file = OLD / "env"
    if not env_file.exists():
        if "VERSION_CODENAME=bookworm" in Path("/etc/os-release").read_text():
            pytest.fail(f"{OLD} is missing: scripts/setup.sh unpacks ngspice 39 on Debian 12")
        pytest.skip("ngspice 39 is only kept on Debian 12 (scripts/setup.sh)")
    found = dict(re.findall(r'^export (RNN2SPICE_\w+)="([^"]*)"$', env_file.read_text(), re.MULTILINE))
    assert set(found) == {"RNN2SPICE_NGSPICE", "RNN2SPICE_LIBNGSPICE"}, found
    return found


# --------------------------------------------------------------------------- the solver option


def test_the_klu_option_goes_just_before_end():
    assert KLU_OPTION == ".options klu"
    assert with_klu_option("t\nR1 1 0 1\n.end\n") == "t\nR1 1 0 1\n.options klu\n.end\n"
    assert with_klu_option("t\nR1 1 0 1\n.END\n\n") == "t\nR1 1 0 1\n.options klu\n.END\n\n"
    assert with_klu_option("t\nR1 1 0 1\n") == "t\nR1 1 0 1\n.options klu\n"
    assert with_klu_option("t\nR1 1 0 1") == "t\nR1 1 0 1\n.options klu\n"


def test_the_solver_is_read_from_the_log():
    assert solver_in_log("Doing analysis at TEMP = 27\nUsing KLU as Direct Linear Solver\n") == "klu"
    assert solver_in_log("Using SPARSE 1.3 as Direct Linear Solver\nNo. of Data Rows : 3") == "sparse"
    assert solver_in_log("Doing analysis at TEMP = 27\n") == "sparse"  # ngspice 39 says nothing: Sparse
    assert solver_in_log("Using KLU as Direct Linear Solver\nUsing SPARSE 1.3 as Direct Linear Solver") == "sparse"


def test_the_compiled_netlists_do_not_choose_a_solver():
    """The option is the simulation layer's: golden netlists (certified text) never carry it."""
    for path in (ROOT / "netlists").glob("*.cir"):
        assert "klu" not in path.read_text().lower(), path


def test_unknown_solvers_are_usage_errors(monkeypatch):
    with pytest.raises(UsageError, match="solver"):
        simulate_netlist(RC, solver="umfpack")
    monkeypatch.setenv("RNN2SPICE_SOLVER", "umfpack")
    with pytest.raises(UsageError, match="RNN2SPICE_SOLVER"):
        simulate_netlist(RC, backend="subprocess")


# --------------------------------------------------------------------------- a crashing library


def build_library(folder: Path, init_body: str, run_body: str = "return 0;") -> Path:
    """A shared library with libngspice's entry points; ngSpice_Init and ngSpice_Command do what they are told."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build a crashing stand-in for libngspice")
    source = folder / "fake.c"
    source.write_text(textwrap.dedent(f"""\
        #include <signal.h>
        #include <unistd.h>
        int ngSpice_Init(void *a, void *b, void *c, void *d, void *e, void *f, void *g) {{ {init_body} }}
        int ngSpice_Circ(char **lines) {{ return 0; }}
        int ngSpice_Command(char *command) {{ {run_body} }}
        void *ngGet_Vec_Info(char *name) {{ return 0; }}
        """))
    library = folder / "libfake.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


@pytest.fixture(scope="module")
def crashing_library(tmp_path_factory) -> Path:
    return build_library(tmp_path_factory.mktemp("segv"), "raise(SIGSEGV); return 0;")


def test_a_library_that_crashes_on_start_up_is_caught_in_a_child(crashing_library):
    verdict = probe.probe_library([str(crashing_library)])
    assert verdict.path == str(crashing_library.resolve())
    assert verdict.problem == "a child process that loaded it was killed by SIGSEGV in ngSpice_Init"
    assert probe.probe_library([str(crashing_library)]) is verdict  # cached ...
    os.utime(crashing_library, ns=(1, 1))
    assert probe.probe_library([str(crashing_library)]) is not verdict  # ... per file (mtime)


def test_a_library_that_crashes_in_a_run_is_caught_too(tmp_path):
    library = build_library(tmp_path, "return 0;", "raise(SIGSEGV); return 0;")
    verdict = probe.probe_library([str(library)])
    assert verdict.problem == "a child process that loaded it was killed by SIGSEGV in run"


def test_a_library_that_hangs_on_start_up_is_given_up(tmp_path):
    library = build_library(tmp_path, "pause(); return 0;")
    verdict = probe.probe_library([str(library)], timeout=2)
    assert verdict.problem == "it did not finish a start-up check within 2 s (stuck in ngSpice_Init)"


def test_files_that_are_not_libngspice(tmp_path):
    verdict = probe.probe_library([str(tmp_path / "nothing.so")])
    assert verdict.missing and verdict.path is None and "nothing.so" in verdict.problem
    libc = probe.probe_library(["libc.so.6"])
    assert not libc.missing and libc.problem.startswith("not an ngspice shared library (it has no ngSpice_Init")


@pytest.mark.ngspice
def test_crashing_library_falls_back_to_the_binary_with_one_notice(crashing_library, tmp_path):
    done = run_python(f"""
        import warnings
        from rnn2spice.spice.ngspice import BackendFallbackWarning, SimulationError, simulate_netlist
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print("backends", simulate_netlist({RC!r}).backend, simulate_netlist({RC!r}).backend)
        print("notices", [str(w.message) for w in caught if w.category is BackendFallbackWarning])
        try:
            simulate_netlist({RC!r}, backend="shared")
        except SimulationError as exc:
            print("shared:", exc)
        print("alive")
    """, tmp_path, RNN2SPICE_LIBNGSPICE=crashing_library)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "backends subprocess subprocess" in out and out.rstrip().endswith("alive")
    notices = eval(re.search(r"^notices (.*)$", out, re.MULTILINE).group(1))
    assert len(notices) == 1 and "\n" not in notices[0]
    assert "killed by SIGSEGV in ngSpice_Init" in notices[0] and notices[0].endswith("running ngspice -b instead")
    assert "shared: the ngspice shared library" in out and "SIGSEGV" in out


@pytest.mark.ngspice
@pytest.mark.parametrize("library", ["crashing", "missing"])
def test_cli_check_survives_a_bad_library_and_says_so_in_one_line(library, crashing_library, work):
    path = crashing_library if library == "crashing" else work / "no-such-libngspice.so"
    done = run_cli(["check", "spec.yaml", "--report", "report.json"], work, RNN2SPICE_LIBNGSPICE=path)
    assert done.returncode == 0, done.stderr
    notice = [line for line in done.stderr.splitlines() if line.startswith("rnn2spice: note: ")]
    assert len(notice) == 1 and str(path) in notice[0], done.stderr
    assert ("SIGSEGV" if library == "crashing" else "cannot open shared object file") in notice[0]
    assert json.loads((work / "report.json").read_text())["backend"] == "subprocess"


@pytest.mark.ngspice
def test_nospiceinit_is_only_ever_tried_in_a_child(monkeypatch):
    """sharedspice.h asks for ngSpice_nospiceinit() before ngSpice_Init; Debian's ngspice 46
    dies there (SIGSEGV).  On POSIX systems rnn2spice never calls it (no version acts on it
    there); forced to, the crash stays in the child that checks the library."""
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    from rnn2spice.spice.shared import _library_candidates

    candidates = _library_candidates(NgSpiceShared.LIBRARY_PATH or "libngspice{}.so")
    usual = probe.probe_library(candidates)
    assert usual.problem is None and usual.version == ngspice_version("shared")
    monkeypatch.setattr(probe, "CALL_NOSPICEINIT", True)
    forced = probe.probe_library(candidates)
    if major(usual.version) < 44:  # no such function: nothing is called
        assert forced.problem is None
    elif major(usual.version) == 46:
        assert forced.problem == "a child process that loaded it was killed by SIGSEGV in ngSpice_nospiceinit"


# --------------------------------------------------------------------------- KLU where ngspice has it


@pytest.mark.ngspice
@pytest.mark.parametrize("backend", ["shared", "subprocess"])
def test_klu_is_used_exactly_where_ngspice_has_it(backend):
    """Debian builds ngspice >= 42 with KLU; 39 has Sparse only."""
    expected = "klu" if major(ngspice_version(backend)) >= 42 else "sparse"
    assert ngspice_solver(backend) == expected
    result = simulate_netlist(RC, backend=backend)
    assert result.solver == expected
    assert ("Using KLU as Direct Linear Solver" in result.log) == (expected == "klu")
    sparse = simulate_netlist(RC, backend=backend, solver="sparse")
    assert sparse.solver == "sparse" and "Using KLU" not in sparse.log
    t, v = result.vectors["time"], result.vectors["v(h0)"]
    assert np.max(np.abs(v - np.interp(t, sparse.vectors["time"], sparse.vectors["v(h0)"]))) < 1e-6
    if expected == "klu":
        assert simulate_netlist(RC, backend=backend, solver="klu").solver == "klu"
    else:
        with pytest.raises(SimulationError, match="has no KLU solver"):
            simulate_netlist(RC, backend=backend, solver="klu")


@pytest.mark.ngspice
def test_a_netlist_that_chooses_its_solver_keeps_it():
    chosen = RC.replace(".end\n", ".options sparse\n.end\n")
    assert simulate_netlist(chosen, backend="subprocess").solver == "sparse"


@pytest.mark.ngspice
def test_the_solver_environment_variable(monkeypatch):
    monkeypatch.setenv("RNN2SPICE_SOLVER", "sparse")
    assert ngspice_solver("subprocess") == "sparse"
    assert simulate_netlist(RC, backend="subprocess").solver == "sparse"


# --------------------------------------------------------------------------- the version matrix


@pytest.mark.ngspice
def test_both_backends_run_the_version_this_run_is_for():
    """scripts/test.sh names the version of each run; both backends must run it."""
    shared, binary = ngspice_version("shared"), ngspice_version("subprocess")
    assert major(shared) == major(binary), (shared, binary)
    expected = os.environ.get("RNN2SPICE_EXPECT_NGSPICE")
    if expected:
        assert major(shared) == major(expected), f"this run is for ngspice {expected}, got {shared}"
    assert 39 <= major(shared) <= 46 or expected, f"ngspice {shared} is outside the supported 39 to 46"


@pytest.mark.ngspice
def test_the_environment_variables_select_ngspice_39(work):
    selection = old_selection()
    done = run_cli(["--version"], work, **{**{k: None for k in SELECTION}, **selection})
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"rnn2spice {__version__}; ngspice 39 (shared library), solver sparse\n"
    for backend in ("shared", "subprocess"):
        done = run_cli(["check", "spec.yaml", "--backend", backend, "--report", f"{backend}.json"], work,
                       **{**{k: None for k in SELECTION}, **selection})
        assert done.returncode == 0, done.stderr
        report = json.loads((work / f"{backend}.json").read_text())
        assert (report["backend"], report["ngspice_version"], report["solver"]) == (backend, "39", "sparse")


def test_the_ci_run_covers_both_versions():
    """.ci/run -> scripts/test.sh: everything with the default ngspice, then -m ngspice with 39."""
    assert "scripts/test.sh -q" in (ROOT / ".ci" / "run").read_text()
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert re.search(r"RNN2SPICE_EXPECT_NGSPICE=\$\{default#ngspice-\} run_pytest \"\$@\"", script)
    assert re.search(r"RNN2SPICE_EXPECT_NGSPICE=39 \\\n\s+run_pytest -m ngspice \"\$@\"", script)
    assert "[ $rc -eq 5 ]" in script


# --------------------------------------------------------------------------- .spiceinit, on every version


def test_user_init_files_include_the_passwd_home(tmp_path, monkeypatch):
    """ngspice's shared library reads ~/.spiceinit from the passwd entry, not from $HOME."""
    import pwd

    home = tmp_path / "pw-home"
    home.mkdir()
    (home / ".spiceinit").write_text("echo hello\n")
    entry = pwd.getpwuid(os.getuid())
    fields = list(entry)
    fields[5] = str(home)  # pw_dir
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: pwd.struct_passwd(fields))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert probe.user_init_files() == [home / ".spiceinit"]


@pytest.mark.ngspice
def test_a_home_spiceinit_is_never_run(work, tmp_path):
    """A ~/.spiceinit (here $HOME's) would be run by libngspice's start-up: the shared backend
    refuses to start, auto falls back to ngspice -b -n, which skips it."""
    home = tmp_path / "home"
    home.mkdir()
    marker = tmp_path / "marker"
    (home / ".spiceinit").write_text(f"shell touch {marker}\necho SPICEINIT-RAN\n")
    for backend, code in (("auto", 0), ("subprocess", 0), ("shared", 3)):
        done = run_cli(["check", "spec.yaml", "--backend", backend], work, HOME=home)
        assert done.returncode == code, done.stderr
        assert "SPICEINIT-RAN" not in done.stdout + done.stderr
        assert not marker.exists()
        if backend != "subprocess":
            assert f"would run the commands of {home / '.spiceinit'}" in done.stderr


# --------------------------------------------------------------------------- --version and the report


@pytest.mark.ngspice
def test_version_names_ngspice_and_its_solver(tmp_path):
    done = run_cli(["--version"], tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout == (f"rnn2spice {__version__}; ngspice {ngspice_version()} (shared library), "
                           f"solver {ngspice_solver()}\n")


def test_version_without_any_ngspice_still_answers(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = run_cli(["--version"], tmp_path, **{**{k: None for k in SELECTION}, "PATH": empty,
                                               "NGSPICE_LIBRARY_PATH": tmp_path / "no-libngspice.so"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"rnn2spice {__version__}; no ngspice (") and done.stdout.count("\n") == 1


@pytest.mark.ngspice
def test_the_check_report_names_version_and_solver(work):
    done = run_cli(["check", "spec.yaml", "--report", "report.json"], work)
    assert done.returncode == 0, done.stderr
    report = json.loads((work / "report.json").read_text())
    assert report["ngspice_version"] == ngspice_version()
    assert report["solver"] == ngspice_solver()


def test_ngspice_notes_on_stderr_are_not_failures():
    """ngspice 42/43 print the solver line on stderr, which PySpice 1.5 takes for an error
    (PySpice issues #379, #392); rnn2spice judges lines by their text, whatever the stream."""
    from rnn2spice.spice.log import _excerpt, _fatal_lines

    notes = ["Using SPARSE 1.3 as Direct Linear Solver", "Using KLU as Direct Linear Solver",
             "Note: No compatibility mode selected!", "Operating point simulation skipped by 'uic',",
             "  now using transient initial conditions."]
    assert _fatal_lines(notes) == []
    assert _excerpt(notes + ["Error: unknown subckt: x1"]) == "Error: unknown subckt: x1"


@pytest.mark.ngspice
@pytest.mark.parametrize("backend", ["shared", "subprocess"])
def test_a_run_klu_cannot_converge_is_repeated_with_sparse(backend, monkeypatch):
    # paper/softplus in the series form, seed 0: ngspice 46 with KLU stops with "Timestep too
    # small" at t = 0.89 ms, Sparse 1.3 runs it; with solver 'auto' the user gets the run
    import warnings

    from conftest import random_spec
    from rnn2spice.circuit.compiler import compile_rnn
    from rnn2spice.spice.ngspice import SolverFallbackWarning
    from rnn2spice.workflows.pipeline import check

    monkeypatch.delenv("RNN2SPICE_SOLVER", raising=False)
    spec = random_spec(5, seed=0, kinds=("pulse",), convention="paper", activation="softplus")
    netlist = compile_rnn(spec, form="series").netlist
    has_klu = major(ngspice_version(backend)) >= 42
    if has_klu:
        with pytest.raises(SimulationError, match="did not converge"):
            simulate_netlist(netlist, backend=backend, solver="klu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = check(spec, form="series", backend=backend)
    fell_back = [w for w in caught if issubclass(w.category, SolverFallbackWarning)]
    assert result.passed and result.trajectory.solver == "sparse"
    assert len(fell_back) == (1 if has_klu else 0)
    if has_klu:
        assert "Timestep too small" in str(fell_back[0].message)
        monkeypatch.setenv("RNN2SPICE_SOLVER", "klu")  # asked for KLU explicitly: no second run
        with pytest.raises(SimulationError, match="did not converge"):
            simulate_netlist(netlist, backend=backend)


# --------------------------------------------------------------------------- outputs from t = 0


@pytest.mark.ngspice
@pytest.mark.parametrize("version", ["this run's", "39"])
@pytest.mark.parametrize("backend", ["shared", "subprocess"])
def test_the_csv_starts_at_t_0_with_h0(work, version, backend):
    """ngspice (39 and 46, either backend) runs ``.tran ... uic`` without a point at 0; the
    waveforms start at t = 0 with h0 exactly, in model time and units (a time and a state
    scale, the series form's currents), followed by ngspice's own points."""
    spec = dict(GOOD_SPEC, h0=[0.7, -0.3], circuit={"time_scale": 1000.0, "state_scale": 0.5})
    (work / "scaled.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    selection = {} if version == "this run's" else {**{k: None for k in SELECTION}, **old_selection()}
    for form in ("parallel" if backend == "shared" else "series",):   # one run each: both forms over the matrix
        out = work / f"{form}-{backend}.csv"
        done = run_cli(["simulate", "scaled.yaml", "--form", form, "--backend", backend, "-o", out.name], work,
                       **selection)
        assert done.returncode == 0, done.stderr
        ran = re.search(r"ngspice (\d+)\S* via (\w+)", done.stdout + done.stderr)
        assert ran and ran.group(2) == backend, done.stdout + done.stderr
        if version == "39":
            assert ran.group(1) == "39"
        lines = out.read_text().splitlines()
        assert lines[0] == "time,h0,h1"
        first = [float(x) for x in lines[1].split(",")]
        assert first == [0.0, 0.7, -0.3], lines[1]
        t = np.array([float(line.split(",")[0]) for line in lines[1:]])
        assert t[1] > 0.0 and np.all(np.diff(t) > 0.0) and t[-1] == pytest.approx(5e-3, rel=1e-9)
        second = np.array([float(x) for x in lines[2].split(",")[1:]])
        assert np.max(np.abs(second - [0.7, -0.3])) < 0.05   # ngspice's first step is next to h0
