"""Catalogue of hostile and mistaken inputs: each must end in exit code 2, a message that
names the field and the value, no traceback, and no output file created or changed.

Every case runs the real command line in-process (``rnn2spice.cli.app``) with outputs
that already exist (known content); a few also run ``python -m rnn2spice`` to show that
nothing but the one-line message reaches the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import NETLISTS
from conftest import GOOD_SPEC, earlier_output, make_files, snapshot
from rnn2spice.cli.app import command_names, main, required_options

OLD = b"known content of an existing output file\n"


def old_bytes(path) -> bytes:
    """Known content of an existing output: an earlier output of the kind the option writes
    (the one output rule replaces nothing else), then a marker."""
    return earlier_output(path, OLD)

# description second, as the line numbers some cases expect depend on it
GOOD = {"name": GOOD_SPEC["name"], "description": "A valid 2-neuron network; each case breaks one thing.", **GOOD_SPEC}


def spec_yaml(**changes) -> str:
    """GOOD with keys changed (a value of ``...`` deletes the key), as YAML."""
    data = {k: v for k, v in GOOD.items()}
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


def npy_bytes(array) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def npy_header_only(shape, dtype="<f8") -> bytes:
    """A .npy file whose header claims ``shape`` but that holds no data at all."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def npz_bytes(**arrays) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@dataclass
class Case:
    id: str
    files: dict                  # name -> str | bytes | callable(path)
    expect: tuple[str, ...]      # fragments of the message: the field and the value (and the problem)
    spec: str = "spec.yaml"      # the spec argument, relative to the work directory
    extra: tuple[str, ...] = ()  # more arguments after the spec (compile)
    commands: tuple[str, ...] = ("compile", "check")
    skip_root: bool = False
    kwargs: dict = field(default_factory=dict)


def _file_spec(**changes) -> dict:
    return {"spec.yaml": spec_yaml(**changes)}


def _dir(path: Path) -> None:
    path.mkdir()


def _unreadable(path: Path) -> None:
    path.write_bytes(npy_bytes(np.zeros((2, 2))))
    path.chmod(0)


CASES = [
    # ---------------------------------------------------------------- the file itself
    Case("missing-spec", {}, ("spec", "nope.yaml", "file not found"), spec="nope.yaml"),
    Case("spec-is-directory", {"adir.yaml": _dir}, ("spec", "adir.yaml", "not a regular file"), spec="adir.yaml"),
    Case("spec-not-utf8", {"spec.yaml": b"name: \xff\xfe\n"}, ("spec", "spec.yaml", "cannot read", "utf-8")),
    Case("malformed-yaml", {"spec.yaml": "name: x\ntau: [1.0e-3\nw: [[0]]\n"},
         ("spec", "spec.yaml", "malformed YAML at line", "expected ','")),
    Case("malformed-json", {"spec.json": '{"name": "x", "tau": , "w": [[0]]}'},
         ("spec", "spec.json", "malformed JSON at line 1 column 22"), spec="spec.json"),
    Case("yaml-not-a-mapping", {"spec.yaml": "- 1\n- 2\n"}, ("spec", "must be a mapping", "[1, 2]")),
    Case("netlist-as-spec", {"osc.cir": (NETLISTS / "tanh4.cir").read_text()},
         ("spec", "osc.cir", "is an ngspice netlist, not a spec", "rnn2spice verify SPEC --netlist"), spec="osc.cir"),
    Case("netlist-as-spec-crlf", {"net.yaml": "* a netlist\r\nR1 a 0 1k\r\n.END  \r\n\r\n"},
         ("spec", "net.yaml", "is an ngspice netlist"), spec="net.yaml"),
    Case("empty-file", {"spec.yaml": ""}, ("spec", "must be a mapping", "None")),
    Case("yaml-python-tag", {"spec.yaml": "name: !!python/object/apply:os.system ['echo pwned']\n"},
         ("spec", "malformed YAML", "python/object/apply:os.system")),
    Case("yaml-nested-too-deep", {"spec.yaml": "name: x\nw: " + "[" * 3000 + "]" * 3000 + "\n"},
         ("spec", "spec.yaml", "nested too deeply")),
    Case("json-nested-too-deep", {"spec.json": '{"w": ' + "[" * 100_000 + "]" * 100_000 + "}"},
         ("spec", "spec.json", "nested too deeply"), spec="spec.json"),
    Case("duplicate-key-yaml", {"spec.yaml": spec_yaml() + "w: [[5]]\n"},
         ("w: duplicate key at lines 4 and ", "'w'")),
    Case("duplicate-key-json", {"spec.json": '{"name": "x", "name": "y", "tau": 1e-3, "w": [[0]], "t_stop": 1}'},
         ("name: duplicate key", "'name'"), spec="spec.json"),
    Case("missing-required-key", _file_spec(w=...), ("w: is required", "None")),
    # ---------------------------------------------------------------- keys and names
    Case("unknown-key", _file_spec(tua=1.0), ("tua: unknown key", "did you mean 'tau'?", "1.0")),
    Case("unknown-waveform-key", _file_spec(inputs=[{"kind": "sine", "amplitdue": 1, "frequency": 1e3}]),
         ("inputs[0].amplitdue: unknown key", "did you mean 'amplitude'?", "1")),
    Case("unknown-circuit-key", _file_spec(circuit={"capacitence": 1e-9}),
         ("circuit.capacitence: unknown key", "did you mean 'capacitance'?", "1e-09")),
    Case("hostile-unknown-key", {"spec.yaml": spec_yaml() + '"x\\n.control\\x1b[2J": 1\n'},
         ("'x\\n.control\\x1b[2J': unknown key", "(got 1)")),
    Case("unknown-activation", _file_spec(activation="tahn"),
         ("activation", "'tahn'", "must be one of linear, tanh", "did you mean 'tanh'?")),
    Case("unknown-convention", _file_spec(convention="Paper"),
         ("convention", "'Paper'", "did you mean 'paper'?")),
    Case("unknown-waveform-kind", _file_spec(inputs=[{"kind": "sin", "amplitude": 1, "frequency": 1e3}]),
         ("inputs[0].kind", "'sin'", "did you mean 'sine'?")),
    Case("name-not-identifier", _file_spec(name="my net"), ("name", "'my net'", "must match")),
    Case("name-injection", _file_spec(name="x\n.control\nshell touch marker\n.endc"),
         ("name", "'x\\n.control\\nshell touch marker\\n.endc'")),
    Case("name-too-long", _file_spec(name="n" * 65), ("name", "'nnnn", "at most 64 characters")),
    Case("name-not-string", _file_spec(name=5), ("name", "(got 5)")),
    # ---------------------------------------------------------------- shapes
    Case("empty-network", _file_spec(tau=[], w=[], w_in=..., inputs=..., h0=...),
         ("w", "shape (0, 0)", "no neurons")),
    Case("w-not-square", _file_spec(w=[[0, 1]]), ("w", "shape (1, 2)", "square")),
    Case("w-ragged", _file_spec(w=[[0, 1], [2]]), ("w", "row lengths [1, 2]")),
    Case("w-three-dimensional", _file_spec(w=[[[0]]]), ("w[0][0]", "[0]", "must be a number")),
    Case("w-scalar", _file_spec(w=5), ("w", "(got 5)", "matrix")),
    Case("w-in-rows", _file_spec(w_in=[[1.0], [0.0], [2.0]]), ("w_in", "shape (3, 1)", "n = 2 rows")),
    Case("h0-length", _file_spec(h0=[1.0, 0.0, 0.0]), ("h0", "length 3", "n = 2 entries")),
    Case("tau-length", _file_spec(tau=[1e-3, 1e-3, 1e-3]), ("tau", "length 3", "n = 2 entries")),
    Case("inputs-fewer-than-w-in-columns", _file_spec(w_in=[[1.0, 2.0], [0.0, 0.0]]),
         ("inputs", "1 waveforms", "m = 2 columns")),
    Case("inputs-without-w-in", _file_spec(w_in=...), ("inputs", "1 waveforms", "m = 0 columns")),
    Case("w-out-columns", _file_spec(w_out=[[1.0, 2.0, 3.0]]), ("w_out", "shape (1, 3)", "n = 2 columns")),
    Case("b-out-without-w-out", _file_spec(b_out=[1.0]), ("b_out", "needs w_out")),
    Case("bias-in-paper-convention", _file_spec(bias=[0.1, 0.2]), ("bias", "convention ctrnn or rate", "paper")),
    # ---------------------------------------------------------------- numbers
    Case("yaml-nan-in-w", {"spec.yaml": spec_yaml().replace("- 1000.0\n", "- .nan\n", 1)},
         ("w[0][1]", "(got nan)", "finite")),
    Case("yaml-inf-tau", {"spec.yaml": spec_yaml().replace("tau: 0.001", "tau: .inf")}, ("tau", "(got inf)", "finite")),
    Case("yaml-minus-inf-h0", {"spec.yaml": spec_yaml().replace("- 1.0\n- 0.0\ninputs", "- -.inf\n- 0.0\ninputs")},
         ("h0[0]", "(got -inf)", "finite")),
    Case("json-nan", {"spec.json": json.dumps({**GOOD, "w": [[float("nan"), 0], [0, 0]]})},
         ("w[0][0]", "(got nan)"), spec="spec.json"),
    Case("json-infinity-t-stop", {"spec.json": json.dumps({**GOOD, "t_stop": float("inf")})},
         ("t_stop", "(got inf)"), spec="spec.json"),
    Case("nan-in-waveform", _file_spec(inputs=[{"kind": "pwl", "points": [[0, 0], [1e-3, float("nan")]]}]),
         ("inputs[0].points[1][1]", "(got nan)")),
    Case("nan-in-matrix-file", {"spec.yaml": spec_yaml(w={"file": "w.npy"}),
                                "w.npy": npy_bytes(np.array([[0.0, 1.0], [np.nan, 0.0]]))},
         ("w[1][0]", "(got nan)")),
    Case("string-overflowing-to-inf", _file_spec(t_stop="1e400"), ("t_stop", "'1e400'", "finite")),
    Case("integer-beyond-double", {"spec.yaml": spec_yaml().replace("- 1000.0\n", "- 1" + "0" * 400 + "\n", 1)},
         ("w[0][1]", "1000000", "beyond floating-point range")),
    Case("bool-as-number", _file_spec(tau=True), ("tau", "(got True)", "must be a number")),
    Case("number-with-unit", _file_spec(tau="1 ms"), ("tau", "(got '1 ms')", "must be a number in SI units", "1e-3")),
    Case("number-with-suffix", _file_spec(t_stop="10m"), ("t_stop", "(got '10m')", "without a unit or suffix")),
    Case("tau-zero", _file_spec(tau=0), ("tau", "(got 0.0)", "positive")),
    Case("tau-negative-entry", _file_spec(tau=[1e-3, -1e-3]), ("tau[1]", "(got -0.001)", "positive")),
    Case("tau-out-of-range", _file_spec(tau=1e300), ("tau", "(got 1e+300)", "R = tau / C = inf")),
    Case("w-over-tau-overflows", _file_spec(convention="ctrnn", tau=1e-10, w=[[0.0, 1e300], [0.0, 0.0]]),
         ("w[0][1]", "(got 1e+300)", "w / tau = inf")),
    # each entry finite, their row sum not: ZeroDivisionError / OverflowError (exit 70) before
    Case("w-row-sum-overflows", _file_spec(w=[[1e308, 1e308], [0.0, 0.0]]), ("w[0]", "row sum inf", "beyond 1e+300")),
    Case("w-row-sum-overflows-opamp", _file_spec(w=[[0.0, 0.0], [-1e308, -1e308]]), ("w[1]", "row sum inf"),
         extra=("--form", "opamp", "--opamp", "TL072")),
    Case("w-in-row-sum-overflows", _file_spec(w_in=[[1e308, 1e308], [0.0, 0.0]],
                                              inputs=[{"kind": "step", "value": 1.0, "at": 1e-3}] * 2),
         ("w_in[0]", "row sum inf")),
    Case("capacitance-negative", _file_spec(circuit={"capacitance": -1e-9}), ("circuit.capacitance", "(got -1e-09)")),
    Case("t-stop-zero", _file_spec(t_stop=0), ("t_stop", "(got 0.0)", "positive")),
    Case("t-stop-negative", _file_spec(t_stop=-1), ("t_stop", "(got -1.0)", "positive")),
    Case("t-step-above-t-stop", _file_spec(t_step=1.0), ("t_step", "(got 1.0)", "at most t_stop = 0.005")),
    Case("t-step-zero", _file_spec(t_step=0.0), ("t_step", "(got 0.0)")),
    Case("t-step-absurdly-small", _file_spec(t_step=1e-15), ("t_step", "(got 1e-15)", "5e+12 time steps")),
    Case("t-stop-absurdly-long", _file_spec(t_stop=1e30), ("t_stop", "(got 1e+30)", "time steps")),
    # ---------------------------------------------------------------- waveforms
    Case("pwl-non-monotonic", _file_spec(inputs=[{"kind": "pwl", "points": [[0, 0], [2e-3, 1], [1e-3, 0]]}]),
         ("inputs[0].points[2][0]", "(got 0.001)", "increase strictly")),
    Case("pwl-repeated-time", _file_spec(inputs=[{"kind": "pwl", "points": [[0, 0], [1e-3, 1], [1e-3, 0]]}]),
         ("inputs[0].points[2][0]", "(got 0.001)", "increase strictly")),
    Case("pwl-negative-time", _file_spec(inputs=[{"kind": "pwl", "points": [[-1e-3, 0], [1e-3, 1]]}]),
         ("inputs[0].points[0][0]", "(got -0.001)", "negative")),
    Case("pwl-not-pairs", _file_spec(inputs=[{"kind": "pwl", "points": [[0, 0, 0]]}]),
         ("inputs[0].points[0]", "[0, 0, 0]", "pair")),
    Case("step-negative-time", _file_spec(inputs=[{"kind": "step", "value": 1, "at": -1}]),
         ("inputs[0].at", "(got -1.0)", "negative")),
    Case("pulse-negative-delay", _file_spec(inputs=[{"kind": "pulse", "high": 1, "width": 1e-3, "delay": -1e-3}]),
         ("inputs[0].delay", "(got -0.001)")),
    Case("pulse-period-too-short", _file_spec(inputs=[{"kind": "pulse", "high": 1, "width": 1e-3, "rise": 1e-4,
                                                        "fall": 1e-4, "period": 1e-3}]),
         ("inputs[0].period", "(got 0.001)", "rise + width + fall")),
    Case("pulse-absurd-number-of-periods", _file_spec(inputs=[{"kind": "pulse", "high": 1, "width": 1e-15, "rise": 1e-15,
                                                                "fall": 1e-15, "period": 1e-14}]),
         ("inputs[0].period", "(got 1e-14)", "periods")),
    Case("sine-zero-frequency", _file_spec(inputs=[{"kind": "sine", "amplitude": 1, "frequency": 0}]),
         ("inputs[0].frequency", "(got 0.0)", "positive")),
    Case("waveform-not-mapping", _file_spec(inputs=[5]), ("inputs[0]", "(got 5)", "mapping")),
    Case("csv-waveform-with-nul", {"spec.yaml": spec_yaml(inputs=[{"kind": "file", "path": "x.csv"}]),
                                   "x.csv": b"0,0\n1e-3,\x001\n"},
         ("inputs[0].path", "'x.csv'", "line 2: not a number: '1e-3,\\x001'")),
    Case("csv-waveform-huge-field", {"spec.yaml": spec_yaml(inputs=[{"kind": "file", "path": "x.csv"}]),
                                     "x.csv": "0," + "1" * 200_000 + "\n"},
         ("inputs[0].path", "'x.csv'", "line 1 is longer than 65,536 bytes")),
    Case("csv-waveform-nan", {"spec.yaml": spec_yaml(inputs=[{"kind": "file", "path": "x.csv"}]),
                              "x.csv": "t,v\n0,0\n1e-3,nan\n"},
         ("inputs[0].path[1][1]", "(got nan)")),
    Case("csv-waveform-three-columns", {"spec.yaml": spec_yaml(inputs=[{"kind": "file", "path": "x.csv"}]),
                                        "x.csv": "0,0,0\n"},
         ("inputs[0].path", "'x.csv'", "line 1: expected 2 columns")),
    # ---------------------------------------------------------------- matrix files
    Case("matrix-file-missing", _file_spec(w={"file": "nope.npy"}), ("w.file", "'nope.npy'", "file not found")),
    Case("matrix-file-unreadable", {"spec.yaml": spec_yaml(w={"file": "w.npy"}), "w.npy": _unreadable},
         ("w.file", "'w.npy'", "Permission denied"), skip_root=True),
    Case("matrix-file-is-directory", {"spec.yaml": spec_yaml(w={"file": "w.npy"}), "w.npy": _dir},
         ("w.file", "'w.npy'", "not a regular file")),
    Case("matrix-file-corrupt", {"spec.yaml": spec_yaml(w={"file": "w.npy"}), "w.npy": b"\x93NUMPY garbage"},
         ("w.file", "'w.npy'", "cannot read as a numpy array")),
    Case("matrix-file-truncated", {"spec.yaml": spec_yaml(w={"file": "w.npy"}),
                                   "w.npy": npy_bytes(np.zeros((2, 2)))[:-8]},
         ("w.file", "'w.npy'", "cannot read as a numpy array")),
    Case("matrix-file-wrong-extension", {"spec.yaml": spec_yaml(w={"file": "w.txt"}), "w.txt": "0 1\n1 0\n"},
         ("w.file", "'w.txt'", "must be a .npy or .npz file")),
    Case("matrix-dtype-object", {"spec.yaml": spec_yaml(w={"file": "w.npy"}),
                                 "w.npy": npy_bytes(np.array([[0, {"a": 1}], [0, 0]], dtype=object))},
         ("w", "dtype object", "real numbers")),
    Case("matrix-dtype-complex", {"spec.yaml": spec_yaml(w={"file": "w.npy"}),
                                  "w.npy": npy_bytes(np.zeros((2, 2), dtype=complex))},
         ("w", "dtype complex128", "real numbers")),
    Case("matrix-dtype-bool", {"spec.yaml": spec_yaml(w={"file": "w.npy"}), "w.npy": npy_bytes(np.zeros((2, 2), bool))},
         ("w", "dtype bool", "real numbers")),
    Case("matrix-dtype-string", {"spec.yaml": spec_yaml(w={"file": "w.npy"}),
                                 "w.npy": npy_bytes(np.array([["0", "1"], ["1", "0"]]))},
         ("w", "dtype <U1", "real numbers")),
    Case("matrix-three-dimensional-file", {"spec.yaml": spec_yaml(w={"file": "w.npy"}),
                                           "w.npy": npy_bytes(np.zeros((2, 2, 2)))},
         ("w", "shape (2, 2, 2)", "at most 2 dimensions")),
    Case("matrix-header-claims-1e6-neurons", {"spec.yaml": spec_yaml(w={"file": "w.npy"}),
                                              "w.npy": npy_header_only((10**6, 10**6))},
         ("w", "shape (1000000, 1000000)", "too large")),
    Case("matrix-npz-missing-key", {"spec.yaml": spec_yaml(w={"file": "m.npz", "key": "Wx"}),
                                    "m.npz": npz_bytes(W=np.zeros((2, 2)))},
         ("w.key", "'Wx'", "did you mean 'W'?")),
    Case("matrix-npz-without-key", {"spec.yaml": spec_yaml(w={"file": "m.npz"}), "m.npz": npz_bytes(W=np.zeros((2, 2)))},
         ("w.key", "None", "needs the name of the array")),
    Case("matrix-npz-object-member", {"spec.yaml": spec_yaml(w={"file": "m.npz", "key": "W"}),
                                      "m.npz": npz_bytes(W=np.array([[None, 1], [2, 3]], dtype=object))},
         ("w", "dtype object")),
    Case("matrix-file-outside-directory", {"spec.yaml": spec_yaml(w={"file": "../w.npy"})},
         ("w.file", "'../w.npy'", "outside the spec's directory", "--allow-outside-files")),
]

CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS)


def outputs_for(command: str, root: Path) -> list[str]:
    """Arguments naming existing output files (known content) for ``command``."""
    names = {"compile": [("-o", "out.cir")], "simulate": [("-o", "out.csv")],
             "check": [("--report", "report.json"), ("--plot", "plot.png"), ("--netlist", "net.cir")]}[command]
    argv = []
    for option, name in names:
        (root / name).write_bytes(old_bytes(name))
        argv += [option, str(root / name)]
    return argv


def run_main(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_bad_input_is_refused_cleanly(case: Case, tmp_path, capsys, monkeypatch):
    if case.skip_root and os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "w.npy").write_bytes(npy_bytes(np.zeros((2, 2))))  # a real file outside the spec's directory
    make_files(work, case.files)
    monkeypatch.chdir(work)  # a stray relative write would show up in the snapshot
    for command in case.commands:
        argv = [command, work / case.spec, *case.extra, *outputs_for(command, work)]
        before = snapshot(tmp_path)
        code, out, err = run_main(argv, capsys)
        assert code == 2, (command, err)
        assert err.startswith("rnn2spice: error: "), err
        assert len(err.strip().splitlines()) == 1, err  # one line: no traceback, no injected lines
        for fragment in case.expect:
            assert fragment in err, (fragment, err)
        assert out == ""
        assert snapshot(tmp_path) == before, "an output file was created or changed"


def test_catalogue_size():
    assert len(CASES) >= 30


# A few cases through a real process: nothing but the message reaches the terminal.
SUBPROCESS_CASES = ["malformed-yaml", "json-nested-too-deep", "integer-beyond-double", "matrix-dtype-object",
                    "csv-waveform-huge-field", "hostile-unknown-key", "yaml-python-tag"]
ROOT = Path(__file__).resolve().parents[1]


def package_env() -> dict:
    """Environment in which ``python -m rnn2spice`` finds this checkout from any directory."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_in_a_subprocess_prints_one_line(case_id, tmp_path):
    case = CASES[CASE_IDS.index(case_id)]
    make_files(tmp_path, case.files)
    out = tmp_path / "out.cir"
    out.write_bytes(OLD)
    done = subprocess.run([sys.executable, "-m", "rnn2spice", "compile", str(tmp_path / case.spec), "-o", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, env=package_env())
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for fragment in case.expect:
        assert fragment in done.stderr
    assert out.read_bytes() == OLD


def test_absurd_npy_shape_is_refused_before_allocating(tmp_path):
    """A sparse 1.1 GB .npy (12000 x 12000 float64, np.lib.format.open_memmap): refused from
    its header, with the process's peak memory far below the array's size."""
    work = tmp_path / "work"
    work.mkdir()
    big = np.lib.format.open_memmap(work / "w.npy", mode="w+", dtype=np.float64, shape=(12000, 12000))
    del big  # never touched: the file is sparse
    (work / "spec.yaml").write_text(spec_yaml(w={"file": "w.npy"}))
    script = (
        "import resource, sys\n"
        "from rnn2spice.cli.app import main\n"
        f"code = main(['compile', {str(work / 'spec.yaml')!r}])\n"
        "print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=package_env())
    code, peak_kib = done.stdout.split()
    assert code == "2", done.stderr
    assert "shape (12000, 12000)" in done.stderr and "too large" in done.stderr
    assert int(peak_kib) < 400 * 1024, f"peak RSS {int(peak_kib) / 1024:.0f} MiB"  # the array alone is 1100 MiB


# --------------------------------------------------------------------------- command-line options

OPTION_CASES = [
    ("timeout-zero", ["simulate", "{spec}", "--timeout", "0"], ("--timeout", "(got 0.0)")),
    ("timeout-negative", ["check", "{spec}", "--timeout", "-5"], ("--timeout", "(got -5.0)")),
    ("timeout-infinite", ["simulate", "{spec}", "--timeout", "inf"], ("--timeout", "(got inf)", "finite")),
    ("timeout-nan", ["check", "{spec}", "--timeout", "nan"], ("--timeout", "(got nan)")),
    ("timeout-not-a-number", ["simulate", "{spec}", "--timeout", "soon"], ("--timeout", "'soon'")),
    ("tolerance-negative", ["check", "{spec}", "--tolerance", "-1"], ("--tolerance", "(got -1.0)")),
    ("unknown-form", ["compile", "{spec}", "--form", "ladder"], ("--form", "'ladder'")),
    ("unknown-backend", ["simulate", "{spec}", "--backend", "spectre"], ("--backend", "'spectre'")),
    ("unknown-command", ["frobnicate", "{spec}"], ("COMMAND", "'frobnicate'")),
    ("unknown-option", ["compile", "{spec}", "--colour", "red"], ("unrecognized arguments", "--colour")),
    ("gyrator-with-tanh", ["compile", "{tanh}", "--coupling", "gyrator"], ("coupling 'gyrator'", "'tanh'")),
    ("gyrator-in-series-form", ["compile", "{spec}", "--coupling", "gyrator", "--form", "series"],
     ("coupling 'gyrator'", "series")),
    ("output-in-missing-directory", ["compile", "{spec}", "-o", "{tmp}/missing/out.cir"],
     ("--output", "missing", "does not exist")),
    ("output-is-directory", ["compile", "{spec}", "-o", "{tmp}"], ("--output", "is a directory")),
]


@pytest.mark.parametrize("argv, expect", [c[1:] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES])
def test_bad_options_exit_2(argv, expect, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_yaml())
    tanh = tmp_path / "tanh.yaml"
    tanh.write_text(spec_yaml(activation="tanh", name="t"))
    existing = {name: tmp_path / name for name in ("out.cir", "out.csv", "report.json")}
    for path in existing.values():
        path.write_bytes(old_bytes(path))
    before = snapshot(tmp_path)
    argv = [a.format(spec=spec, tanh=tanh, tmp=tmp_path) for a in argv]
    code, out, err = run_main(argv, capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    for fragment in expect:
        assert fragment in err, (fragment, err)
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- every subcommand

#: The output options of each subcommand.  A subcommand missing here fails the test below:
#: add it, so that it is checked like the others.
OUTPUT_OPTIONS = {
    "compile": ("--output",),
    "simulate": ("--output",),
    "check": ("--report", "--plot", "--netlist"),
    "import": ("--output",),
    "task": ("--report", "--plot"),
    "verify": ("--report",),
    "ac": ("--report", "--plot"),
    "montecarlo": ("--output", "--plot"),
    "sweep": ("--output", "--plot"),
    "bom": ("--output", "--report"),  # --report: also without --predict (every warning)
    "schematic": ("--output",),
    "kicad": ("--output",),
}
#: Required options other than outputs, with harmless values.
REQUIRED_VALUES = {"--dt": "1e-3", "--stimulus": "pulse", "--fmin": "10", "--fmax": "1e5", "--param": "tau=1e-3"}
SUFFIX = {"--output": {"import": ".yaml", "simulate": ".csv", "montecarlo": ".json", "sweep": ".json",
                      "bom": ".csv", "schematic": ".svg", "kicad": ".kicad_sch"}, "--report": ".json", "--plot": ".png",
          "--netlist": ".cir"}




def _suffix(option: str, command: str) -> str:
    s = SUFFIX.get(option, ".out")
    return s.get(command, ".cir") if isinstance(s, dict) else s


def command_argv(command: str, first: Path, outputs: dict) -> list[str]:
    """``command first`` plus every required option (outputs from ``outputs``)."""
    argv = [command, str(first)]
    for option in required_options(command):
        if option in outputs:
            continue
        argv += [option, REQUIRED_VALUES[option]]
    for option, path in outputs.items():
        argv += [option, str(path)]
    return argv


def test_every_subcommand_is_in_the_catalogue():
    assert set(command_names()) == set(OUTPUT_OPTIONS), "add the new subcommand to OUTPUT_OPTIONS"


@pytest.mark.parametrize("command", sorted(OUTPUT_OPTIONS))
def test_subcommand_with_missing_input_exits_2_and_leaves_outputs(command, tmp_path, capsys):
    outputs = {}
    for option in OUTPUT_OPTIONS[command]:
        outputs[option] = tmp_path / f"existing{option.strip('-')}{_suffix(option, command)}"
        outputs[option].write_bytes(old_bytes(outputs[option]))
    before = snapshot(tmp_path)
    missing = tmp_path / ("nope.npz" if command == "import" else "nope.yaml")
    code, out, err = run_main(command_argv(command, missing, outputs), capsys)
    assert code == 2, err
    assert "nope." in err and ("not found" in err or "No such file" in err or "does not exist" in err), err
    assert len(err.strip().splitlines()) == 1, err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", sorted(OUTPUT_OPTIONS))
def test_subcommand_output_in_missing_directory_exits_2(command, tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_yaml())
    first = tmp_path / "model.npz" if command == "import" else spec
    if command == "import":
        first.write_bytes(npz_bytes(W=np.zeros((2, 2)), W_in=np.zeros((2, 1))))
    for option in OUTPUT_OPTIONS[command]:
        before = snapshot(tmp_path)
        outputs = {option: tmp_path / "missing" / f"x{_suffix(option, command)}"}
        code, out, err = run_main(command_argv(command, first, outputs), capsys)
        assert code == 2, (option, err)
        assert option in err and "missing" in err and "does not exist" in err, err
        assert snapshot(tmp_path) == before


#: Extra arguments that let a valid 2-neuron spec run through each simulating subcommand.
RUN_ARGS = {"task": ["--dt", "1e-4"], "ac": []}


@pytest.mark.parametrize("command", ["simulate", "check", "task", "ac"])
def test_subcommand_failing_in_the_simulator_leaves_existing_outputs(command, tmp_path, capsys, monkeypatch):
    """Validation passes, then ngspice cannot run (its binary is not on PATH): exit 3, the
    message says so, and every existing output is byte-identical, no temporary left."""
    monkeypatch.setenv("RNN2SPICE_NGSPICE", "ngspice-not-installed-here")
    spec = tmp_path / "spec.yaml"
    # task needs a ctrnn spec with a readout
    spec.write_text(spec_yaml(convention="ctrnn", w=[[0.5, 0.2], [-0.2, 0.5]], w_in=[[1.0], [0.0]],
                              w_out=[[1.0, 0.0]]))
    outputs = {}
    for option in OUTPUT_OPTIONS[command]:
        if option == "--netlist":
            continue  # written before simulating, on purpose: the error names it
        outputs[option] = tmp_path / f"existing{option.strip('-')}{_suffix(option, command)}"
        outputs[option].write_bytes(old_bytes(outputs[option]))
    before = snapshot(tmp_path)
    argv = command_argv(command, spec, outputs) + RUN_ARGS.get(command, []) + [
        "--backend", "subprocess"]
    code, out, err = run_main(argv, capsys)
    assert code == 3, err
    # ngspice never ran: no copy of the netlist is kept or named (it would reproduce nothing)
    assert "ngspice-not-installed-here" in err and "not on PATH" in err and ".cir" not in err, err
    assert snapshot(tmp_path) == before


@pytest.mark.ngspice
@pytest.mark.parametrize("command", ["simulate", "check"])
def test_diverging_network_exits_3_and_leaves_existing_outputs(command, tmp_path, capsys):
    """A spec that passes validation but diverges: ngspice stops ('timestep too small')."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_yaml(name="diverges", w=[[1e5, 0.0], [0.0, 0.0]], t_stop=1e-2))
    outputs = {option: tmp_path / f"existing{option.strip('-')}{_suffix(option, command)}"
               for option in OUTPUT_OPTIONS[command] if option != "--netlist"}
    for path in outputs.values():
        path.write_bytes(old_bytes(path))
    before = snapshot(tmp_path)
    code, out, err = run_main(command_argv(command, spec, outputs), capsys)
    assert code == 3, err
    assert "ngspice did not converge" in err and "Timestep too small" in err and ".cir" in err, err
    assert snapshot(tmp_path) == before


def test_example_specs_are_still_valid():
    """The catalogue's checks refuse nothing the project ships."""
    for path in sorted(NETLISTS.glob("*.yaml")):
        from rnn2spice.network.load import load_spec

        load_spec(path)
