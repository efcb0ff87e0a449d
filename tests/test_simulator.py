"""Tests of rnn2spice.spice.ngspice: both ngspice backends against closed-form circuits."""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import rnn2spice
from rnn2spice.spice import log as spice_log
from rnn2spice.spice import ngspice as simulator
from rnn2spice.spice import rawfile
from rnn2spice.errors import SimulationError, UsageError
from rnn2spice.spice.ngspice import SimulationResult, available_backends, ngspice_version, simulate_netlist

PACKAGE_ROOT = Path(rnn2spice.__file__).resolve().parents[1]

# One node, R = 1 MOhm, C = 1 nF, v(0) = 1 V: v(t) = exp(-t / 1 ms).
RC_NETLIST = """rc decay
R_0 h0 0 1000000
C_0 h0 0 1e-9 IC=1
.tran 1e-5 5e-3 0 1e-6 uic
.end
"""

# L = 1 mH, R = 1 Ohm, i(0) = 1 mA, ammeter Vs_0: i(t) = 1 mA exp(-t / 1 ms).
# The inductor's current flows h2 -> 0 inside it, so it enters h2 from Vs_0's minus
# terminal: Vs_0 is written "h3 h2" to make the branch current (+ -> -) positive.
INDUCTOR_NETLIST = """inductor loop
L_0 h2 0 1e-3 IC=1e-3
Vs_0 h3 h2 0
R_0 h3 0 1
.tran 1e-5 5e-3 0 1e-6 uic
.end
"""

# RC low-pass, R = 1 kOhm, C = 1 uF: H(f) = 1 / (1 + j 2 pi f R C).
AC_NETLIST = """ac lowpass
V_in in 0 dc 0 ac 1
R_0 in h0 1000
C_0 h0 0 1e-6
.ac dec 10 1 1e6
.end
"""

# Two ideal voltage sources in parallel: the MNA matrix is singular.
SINGULAR_NETLIST = """parallel sources
V_1 a 0 1
V_2 a 0 2
R_1 a 0 1
.tran 1e-5 5e-3 0 1e-6 uic
.end
"""

# 1e10 time points: never finishes within the test's patience.
ENDLESS_NETLIST = """endless
R_0 h0 0 1000000
C_0 h0 0 1e-9 IC=1
.tran 1e-9 10 0 1e-9 uic
.end
"""

BAD_NETLISTS = {
    "unknown_subckt": ("""unknown subckt
R_0 h0 0 1000000
X_1 h0 foo
.tran 1e-5 5e-3 0 1e-6 uic
.end
""", "unknown subckt"),
    "unknown_element": ("""unknown element
R_0 h0 0 1000000
Z_1 h0 0 foo
.tran 1e-5 5e-3 0 1e-6 uic
.end
""", "z_1 h0 0 foo"),
    "bad_analysis": ("""bad analysis
R_0 h0 0 1000000
C_0 h0 0 1e-9 IC=1
.tran 1e-5
.end
""", "TSTOP is invalid"),
}


def _require_backend(name: str) -> str:
    """``name`` if it can run; else fail (ngspice tests are never skipped: scripts/setup.sh
    installs both ngspice and libngspice0-dev) with the reason and the package to install."""
    if name not in available_backends():
        problem = simulator._shared_problem() if name == "shared" else simulator._subprocess_problem()
        pytest.fail(f"ngspice backend {name!r} cannot run here: {problem}")
    return name


@pytest.fixture(params=["shared", "subprocess"])
def backend(request) -> str:
    return _require_backend(request.param)


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


# --------------------------------------------------------------------------- without ngspice


@pytest.mark.parametrize(
    "name, expected",
    [
        ("time", "time"),
        ("frequency", "frequency"),
        ("h0", "v(h0)"),
        ("V(h0)", "v(h0)"),
        ("v(h0)", "v(h0)"),
        ("vs_0#branch", "i(vs_0)"),
        ("I(VS_0)", "i(vs_0)"),
        ("x_g.a", "v(x_g.a)"),
        ("@r_0[i]", "@r_0[i]"),
    ],
)
def test_vector_names_are_normalised(name, expected):
    assert rawfile.normalise_name(name) == expected


def _raw_header(plotname, flags, names, points):
    lines = ["Title: t", "Date: today", f"Plotname: {plotname}", f"Flags: {flags}",
             f"No. Variables: {len(names)}", f"No. Points: {points}    ", "Variables:"]
    lines += [f"\t{k}\t{name}\tvoltage" for k, name in enumerate(names)]
    return ("\n".join(lines) + "\n").encode()


def test_binary_raw_real_is_point_major():
    values = np.arange(12, dtype="<f8").reshape(4, 3)  # 4 points x (time, v(a), i(v1))
    data = _raw_header("Transient Analysis", "real", ["time", "v(a)", "i(v1)"], 4) + b"Binary:\n" + values.tobytes()
    [(plotname, vectors)] = rawfile.parse_raw(data)
    assert plotname == "Transient Analysis"
    assert list(vectors) == ["time", "v(a)", "i(v1)"]
    np.testing.assert_array_equal(vectors["v(a)"], [1, 4, 7, 10])
    np.testing.assert_array_equal(vectors["i(v1)"], [2, 5, 8, 11])


def test_binary_raw_complex_pairs_and_two_plots():
    pairs = np.array([[[1, 9], [0.5, -0.5]], [[10, 9], [0.1, -0.2]]], dtype="<f8")  # 2 points x 2 vars x (re, im)
    plot = _raw_header("AC Analysis", "complex", ["frequency", "v(a)"], 2) + b"Binary:\n" + pairs.tobytes()
    first = _raw_header("Transient Analysis", "real", ["time"], 1) + b"Binary:\n" + struct.pack("<d", 3.0)
    plots = rawfile.parse_raw(first + plot)
    assert [p for p, _ in plots] == ["Transient Analysis", "AC Analysis"]
    vectors = plots[1][1]
    np.testing.assert_array_equal(vectors["v(a)"], [0.5 - 0.5j, 0.1 - 0.2j])
    finished = rawfile.finish_vectors(vectors)
    assert finished["frequency"].dtype == np.float64  # the garbage imaginary part is dropped
    np.testing.assert_array_equal(finished["frequency"], [1, 10])
    assert finished["v(a)"].dtype == np.complex128


def test_ascii_raw_real_and_complex():
    real = _raw_header("Transient Analysis", "real", ["time", "v(a)"], 2) + (
        b"Values:\n0\t\t0.000000000000000e+00\n\t1.5e+00\n1\t\t1.0e-03\n\t-2.5e-01\n")
    [(_, vectors)] = rawfile.parse_raw(real)
    np.testing.assert_array_equal(vectors["time"], [0, 1e-3])
    np.testing.assert_array_equal(vectors["v(a)"], [1.5, -0.25])
    cplx = _raw_header("AC Analysis", "complex", ["frequency", "v(a)"], 1) + (
        b"Values:\n0\t\t1.0e+00,1.8e-174\n\t2.0e+00,-3.0e+00\n")
    [(_, vectors)] = rawfile.parse_raw(cplx)
    np.testing.assert_array_equal(vectors["v(a)"], [2 - 3j])


def test_truncated_raw_is_rejected():
    data = _raw_header("Transient Analysis", "real", ["time", "v(a)"], 5) + b"Binary:\n" + bytes(8 * 3)
    with pytest.raises(ValueError, match="shorter"):
        rawfile.parse_raw(data)


def test_excerpt_keeps_ngspice_reasons_and_collapses_repeats():
    lines = ["", "Note: No compatibility mode selected!", "Circuit: x"] + \
        ["Warning: singular matrix:  check node v_1#branch"] * 6 + \
        ["doAnalyses: TRAN:  Timestep too small; initial timepoint: cause unrecorded.",
         "Total DRAM available = 24105.133 MB."]
    text = spice_log._excerpt(lines)
    assert text.splitlines() == [
        "Warning: singular matrix:  check node v_1#branch  [6 times]",
        "doAnalyses: TRAN:  Timestep too small; initial timepoint: cause unrecorded.",
    ]


def test_unknown_backend_is_a_usage_error():
    with pytest.raises(UsageError, match="backend"):
        simulate_netlist(RC_NETLIST, backend="spectre")
    with pytest.raises(UsageError):
        ngspice_version("hspice")


@pytest.mark.parametrize("timeout", [0, -1, "1", True])
def test_bad_timeout_is_a_usage_error(timeout):
    with pytest.raises(UsageError, match="timeout"):
        simulate_netlist(RC_NETLIST, backend="subprocess", timeout=timeout)


def _unrunnable(tmp_path: Path, kind: str) -> str:
    """A value of RNN2SPICE_NGSPICE that is not a runnable ngspice, of the given kind."""
    def script(name: str, text: str, mode: int = 0o755) -> str:
        path = tmp_path / name
        path.write_text(text)
        path.chmod(mode)
        return str(path)

    if kind == "dangling-link":
        (tmp_path / "link").symlink_to(tmp_path / "gone")
        return str(tmp_path / "link")
    return {
        "name-not-on-path": lambda: "ngspice-not-installed-here",
        "missing-path": lambda: str(tmp_path / "no" / "ngspice"),
        "directory": lambda: str(tmp_path),
        "not-executable": lambda: script("ngspice.txt", "#!/bin/sh\nexec ngspice \"$@\"\n", 0o644),
        "not-a-program": lambda: script("garbage", "\x7fELF but not really"),
        "fails": lambda: script("fails.sh", "#!/bin/sh\necho 'usage: fails.sh' >&2\nexit 1\n"),
        "silent-success": lambda: script("true.sh", "#!/bin/sh\nexit 0\n"),
    }[kind]()


@pytest.mark.parametrize("kind,why", [
    ("name-not-on-path", "names a program that is not on PATH"), ("missing-path", "is a path where there is no file"),
    ("directory", "is a directory"), ("not-executable", "no execute permission"),
    ("dangling-link", "symbolic link to nothing"), ("not-a-program", "cannot be run (")
    , ("fails", "does not run ngspice: `"), ("silent-success", "exited with status 0 and printed nothing")])
def test_an_unrunnable_ngspice_names_the_variable_and_its_value(monkeypatch, tmp_path, kind, why, capsys):
    """RNN2SPICE_NGSPICE pointing at anything but a runnable ngspice: one error naming the
    variable, its value and what is wrong with it -- before any run (exit 3 on the command line)."""
    value = _unrunnable(tmp_path, kind)
    monkeypatch.setenv("RNN2SPICE_NGSPICE", value)
    with pytest.raises(rnn2spice.NgspiceUnavailable) as info:
        simulate_netlist(RC_NETLIST, backend="subprocess")
    message = str(info.value)
    assert message.startswith(f"RNN2SPICE_NGSPICE={value!r} "), message
    assert why in message and "\n" not in message
    from rnn2spice.cli.app import main

    spec = Path(__file__).resolve().parents[1] / "netlists" / "damped-oscillator.yaml"
    assert main(["simulate", str(spec), "--backend", "subprocess", "-o", str(tmp_path / "out.csv")]) == 3
    err = capsys.readouterr().err
    assert err == f"rnn2spice: error: {message}\n"
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("kind", ["missing-path", "not-a-program"])
def test_an_unloadable_libngspice_names_the_variable_and_its_value(tmp_path, kind):
    """The same for RNN2SPICE_LIBNGSPICE and the shared backend (in a fresh process: the
    library is loaded once per process)."""
    from conftest import env_with

    value = _unrunnable(tmp_path, kind)
    spec = Path(__file__).resolve().parents[1] / "netlists" / "damped-oscillator.yaml"
    done = subprocess.run([sys.executable, "-m", "rnn2spice", "simulate", str(spec), "--backend", "shared",
                           "-o", str(tmp_path / "out.csv")], env=env_with(RNN2SPICE_LIBNGSPICE=value),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith(f"rnn2spice: error: RNN2SPICE_LIBNGSPICE={value!r} cannot be loaded as the "
                                  "ngspice shared library ("), done.stderr
    assert len(done.stderr.splitlines()) == 1 and not (tmp_path / "out.csv").exists()


@pytest.mark.ngspice
def test_a_wrapper_that_passes_its_arguments_on_is_accepted(monkeypatch, tmp_path):
    import shutil

    wrapper = tmp_path / "my-ngspice"
    wrapper.write_text(f"#!/bin/sh\nexec {shutil.which('ngspice')} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("RNN2SPICE_NGSPICE", str(wrapper))
    assert simulate_netlist(RC_NETLIST, backend="subprocess").backend == "subprocess"


def test_missing_ngspice_binary_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("RNN2SPICE_NGSPICE", "ngspice-not-installed-here")
    with pytest.raises(SimulationError, match="apt-get install ngspice") as info:
        simulate_netlist(RC_NETLIST, backend="subprocess", netlist_path=tmp_path / "rc.cir")
    assert str(tmp_path / "rc.cir") in str(info.value)


# --------------------------------------------------------------------------- both backends


@pytest.mark.ngspice
def test_rc_decay_matches_exponential(backend, tmp_path):
    path = tmp_path / "rc.cir"
    result = simulate_netlist(RC_NETLIST, backend=backend, netlist_path=path)
    assert isinstance(result, SimulationResult)
    assert result.backend == backend
    assert result.netlist_path == path
    assert result.ngspice_version == ngspice_version(backend)
    assert result.ngspice_version[:1].isdigit()
    assert set(result.vectors) == {"time", "v(h0)"}
    t, v = result.vectors["time"], result.vectors["v(h0)"]
    assert t.dtype == np.float64 and v.dtype == np.float64
    assert len(t) > 500 and t[-1] == pytest.approx(5e-3)
    assert np.all(np.diff(t) > 0)
    rel_err = np.max(np.abs(v / np.exp(-t / 1e-3) - 1))
    assert rel_err < 1e-3
    assert "Error" not in result.log


@pytest.mark.ngspice
def test_inductor_loop_gives_branch_current(backend):
    result = simulate_netlist(INDUCTOR_NETLIST, backend=backend)
    t, i = result.vectors["time"], result.vectors["i(vs_0)"]
    assert i.dtype == np.float64
    assert "i(l_0)" in result.vectors  # inductors have a branch current too
    rel_err = np.max(np.abs(i / (1e-3 * np.exp(-t / 1e-3)) - 1))
    assert rel_err < 1e-3


@pytest.mark.ngspice
def test_ac_lowpass_matches_transfer_function(backend):
    result = simulate_netlist(AC_NETLIST, backend=backend)
    f, v = result.vectors["frequency"], result.vectors["v(h0)"]
    assert f.dtype == np.float64 and v.dtype == np.complex128
    assert result.vectors["i(v_in)"].dtype == np.complex128
    assert len(f) == 61 and f[0] == pytest.approx(1) and f[-1] == pytest.approx(1e6)
    expected = 1 / (1 + 2j * np.pi * f * 1000 * 1e-6)
    np.testing.assert_allclose(v, expected, rtol=1e-6, atol=1e-12)


@pytest.mark.ngspice
@pytest.mark.parametrize("case", sorted(BAD_NETLISTS))
def test_rejected_netlist_raises_with_ngspice_message_and_path(backend, case, tmp_path):
    netlist, ngspice_words = BAD_NETLISTS[case]
    path = tmp_path / f"{case}.cir"
    with pytest.raises(SimulationError) as info:
        simulate_netlist(netlist, backend=backend, netlist_path=path)
    text = str(info.value)
    assert ngspice_words.lower() in text.lower()
    assert str(path) in text
    assert info.value.netlist_path == path
    assert isinstance(info.value, RuntimeError)
    assert len(text.splitlines()) < 15  # ngspice's reasons, not its banner


@pytest.mark.ngspice
def test_singular_circuit_raises(backend, tmp_path):
    with pytest.raises(SimulationError, match="(?i)timestep too small|singular matrix") as info:
        simulate_netlist(SINGULAR_NETLIST, backend=backend, netlist_path=tmp_path / "singular.cir")
    assert "did not converge" in str(info.value)


@pytest.mark.ngspice
def test_netlist_without_analysis_raises(backend):
    with pytest.raises(SimulationError, match="no analysis data|no raw file"):
        simulate_netlist(RC_NETLIST.replace(".tran 1e-5 5e-3 0 1e-6 uic\n", ""), backend=backend)


@pytest.mark.ngspice
def test_timeout_stops_the_run_quickly(backend, monkeypatch):
    monkeypatch.setenv("RNN2SPICE_MAX_POINTS", "1e12")  # the time limit, not the points budget, stops it
    start = time.monotonic()
    with pytest.raises(SimulationError, match="did not finish within 1 s"):
        simulate_netlist(ENDLESS_NETLIST, backend=backend, timeout=1)
    assert time.monotonic() - start < 10
    # and the backend is usable again
    assert len(simulate_netlist(RC_NETLIST, backend=backend).vectors["time"]) > 500


@pytest.mark.ngspice
def test_runs_after_failures_equal_a_fresh_run(backend):
    reference = simulate_netlist(RC_NETLIST, backend=backend).vectors
    for bad in (BAD_NETLISTS["unknown_subckt"][0], SINGULAR_NETLIST):
        with pytest.raises(SimulationError):
            simulate_netlist(bad, backend=backend)
        again = simulate_netlist(RC_NETLIST, backend=backend).vectors
        assert again.keys() == reference.keys()
        for name in reference:
            np.testing.assert_array_equal(again[name], reference[name])


@pytest.mark.ngspice
def test_options_of_one_run_do_not_leak_into_the_next(backend):
    reference = simulate_netlist(RC_NETLIST, backend=backend).vectors
    loose = RC_NETLIST.replace(".tran", ".options reltol=0.01 method=gear maxord=2\n.tran")
    other = simulate_netlist(loose, backend=backend).vectors
    assert len(other["time"]) != len(reference["time"]) or not np.array_equal(other["v(h0)"], reference["v(h0)"])
    again = simulate_netlist(RC_NETLIST, backend=backend).vectors
    np.testing.assert_array_equal(again["time"], reference["time"])
    np.testing.assert_array_equal(again["v(h0)"], reference["v(h0)"])


@pytest.mark.ngspice
@pytest.mark.parametrize("netlist", [RC_NETLIST, INDUCTOR_NETLIST, AC_NETLIST], ids=["rc", "inductor", "ac"])
def test_backends_agree(netlist):
    shared = simulate_netlist(netlist, backend=_require_backend("shared"))
    binary = simulate_netlist(netlist, backend=_require_backend("subprocess"))
    assert list(shared.vectors) == list(binary.vectors)
    assert shared.ngspice_version == binary.ngspice_version
    for name, values in shared.vectors.items():
        assert values.dtype == binary.vectors[name].dtype
        assert values.shape == binary.vectors[name].shape
        scale = max(np.max(np.abs(values)), 1e-300)
        assert np.max(np.abs(values - binary.vectors[name])) <= 1e-12 * scale, name


@pytest.mark.ngspice
def test_auto_backend_prefers_shared():
    backends = available_backends()
    assert backends and set(backends) <= {"shared", "subprocess"}
    result = simulate_netlist(RC_NETLIST)
    assert result.backend == backends[0]
    assert ngspice_version() == result.ngspice_version


# --------------------------------------------------------------------------- shared backend


@pytest.mark.ngspice
def test_shared_backend_logs_nothing(caplog, capsys):
    _require_backend("shared")
    caplog.set_level(logging.DEBUG, logger="rnn2spice")
    caplog.set_level(logging.WARNING)
    simulate_netlist(RC_NETLIST, backend="shared")
    with pytest.raises(SimulationError):
        simulate_netlist(BAD_NETLISTS["unknown_subckt"][0], backend="shared")
    assert [r.getMessage() for r in caplog.records] == []
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def _run_python(code: str, **env_changes) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT), env.get("PYTHONPATH", "")])
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.ngspice
def test_no_unsupported_version_warning_when_the_library_loads():
    _require_backend("shared")  # the fresh interpreter below creates its own instance
    done = _run_python(f"""
        import logging
        logging.basicConfig(level=logging.DEBUG, format="LOG %(name)s %(levelname)s %(message)s")
        logging.getLogger("PySpice").setLevel(logging.WARNING)
        from rnn2spice.spice.ngspice import simulate_netlist, SimulationError
        r = simulate_netlist({RC_NETLIST!r}, backend="shared")
        try:
            simulate_netlist({BAD_NETLISTS["unknown_subckt"][0]!r}, backend="shared")
        except SimulationError:
            pass
        print("version", r.ngspice_version)
    """)
    assert done.returncode == 0, done.stderr
    assert "Unsupported Ngspice version" not in done.stdout + done.stderr
    assert "LOG PySpice" not in done.stdout + done.stderr
    assert done.stdout.strip().startswith("version ")


@pytest.mark.ngspice
def test_missing_shared_library_falls_back_and_says_what_to_install():
    _require_backend("subprocess")
    done = _run_python(f"""
        from rnn2spice.spice.ngspice import available_backends, simulate_netlist, SimulationError
        print("backends", available_backends())
        try:
            simulate_netlist({RC_NETLIST!r}, backend="shared")
        except SimulationError as exc:
            print("error", exc)
        print("auto", simulate_netlist({RC_NETLIST!r}).backend)
    """, NGSPICE_LIBRARY_PATH="/nonexistent/libngspice.so")
    assert done.returncode == 0, done.stderr
    assert "backends ['subprocess']" in done.stdout
    assert "libngspice0-dev" in done.stdout and "/nonexistent/libngspice.so" in done.stdout
    assert "auto subprocess" in done.stdout


@pytest.mark.ngspice
def test_shared_backend_is_thread_safe():
    _require_backend("shared")
    reference = simulate_netlist(RC_NETLIST, backend="shared").vectors["v(h0)"]
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(simulate_netlist(RC_NETLIST, backend="shared").vectors["v(h0)"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 20
    for values in results:
        np.testing.assert_array_equal(values, reference)


@pytest.mark.ngspice
def test_shared_backend_memory_is_flat_over_200_runs(record_property):
    _require_backend("shared")
    for _ in range(20):  # warm up allocator pools and ngspice's one-time tables
        simulate_netlist(RC_NETLIST, backend="shared")
    before = _rss_bytes()
    for _ in range(200):
        result = simulate_netlist(RC_NETLIST, backend="shared")
    del result
    growth = _rss_bytes() - before
    record_property("rss_growth_bytes_200_runs", growth)
    print(f"RSS growth over 200 shared runs: {growth / 2**20:.2f} MiB")
    assert growth < 30 * 2**20
