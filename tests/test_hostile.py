"""Hostile inputs through the real command line, each in a child process under a memory cap
and a time limit.

Every case runs ``python -m rnn2spice ...`` with ``RLIMIT_AS`` = :data:`MEMORY_LIMIT` and a
timeout of :data:`TIME_LIMIT` seconds, and asserts that it ends with exit code 2 (3 for an
environment fault: standard output that cannot be written), exactly one line on standard
error starting ``rnn2spice: error:``, short (every echo of a user value is bounded), no
``Traceback``, nothing on standard output, a peak RSS below :data:`RSS_LIMIT`, and that no
file of its work directory was created, changed or removed (existing outputs keep their
content).

Two classes (issue 9):

* **bounded cost**: small inputs that used to run for minutes or take gigabytes (a pulse
  whose period is below an ulp of its delay, a 500-byte YAML alias bomb, 30 000-digit tokens,
  20 inputs naming one 200 000-point CSV file, a 70 kB .npz of a dense 2000 x 2000 matrix,
  an HDF5 file declaring a 100000 x 100000 dataset, ...) and model files that reach outside
  themselves (HDF5 external storage, virtual datasets, external links);
* **clean errors**: inputs that used to end in a Python traceback with exit 1.

Keep it growing: a new hostile input gets a case here.  The measured worst case is printed
by ``pytest -s tests/test_hostile.py -k worst``.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml

from conftest import GOOD_SPEC, earlier_output, make_files, snapshot
ROOT = Path(__file__).resolve().parents[1]
#: Address space of a case (bytes): python + numpy + scipy + h5py take ~250 MB of it.
MEMORY_LIMIT = 1 << 30
#: Wall-clock limit of a case (s); they take 1-3 s on a quiet machine.
TIME_LIMIT = 10.0
#: Peak resident memory of a case (bytes).
RSS_LIMIT = 400 << 20
#: Longest acceptable message (characters): every echo of a user value is bounded.
MESSAGE_LIMIT = 1000
OLD = b"known content of an existing output file\n"

GOOD = GOOD_SPEC
#: A trained-style network for the task command (ctrnn, readout, recorded dt).
TASK = {
    "name": "task", "convention": "ctrnn", "activation": "tanh", "tau": 1.0e-3,
    "w": [[1.6, 0.3], [0.3, 1.4]], "w_in": [[1.0], [0.6]], "w_out": [[1.0, 0.0]],
    "inputs": [{"kind": "step", "value": 1.0}], "t_stop": 0.1, "provenance": {"mapping": {"dt": 1.0e-3}},
}


def spec_yaml(**changes) -> str:
    data = {**GOOD, **changes}
    return yaml.safe_dump({k: v for k, v in data.items() if v is not ...}, sort_keys=False)


def bomb(levels: int = 9) -> str:
    """A "billion laughs" YAML mapping: 9^levels strings from ~60 bytes per level."""
    lines = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghijk"[: levels - 1]:
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- file builders

def npy_header(shape, dtype="<f8") -> bytes:
    """A .npy file whose header declares ``shape`` but that holds no data."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def npz_header_member(path: Path, **members) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for key, data in members.items():
            zf.writestr(key + ".npy", data)


def dense_npz(path: Path) -> None:
    np.savez_compressed(path, W=np.full((2000, 2000), 1e-3))  # ~70 kB


def big_csv(path: Path, points: int = 200_000) -> None:
    t = np.arange(points) * 1e-8
    path.write_text("".join(f"{x!r},1.0\n" for x in t.tolist()))


def keras_file(path: Path, rk: Callable | None = None, *, config=None, model_weights_dataset=False) -> None:
    """A Keras-2 layout HDF5 file; ``rk(group, name)`` creates the recurrent kernel."""
    import h5py

    with h5py.File(path, "w") as f:
        if config is not None:
            f.attrs["model_config"] = config
        if model_weights_dataset:
            f["model_weights"] = np.zeros(3)
            return
        g = f.create_group("model_weights").create_group("rnn").create_group("rnn")
        g["kernel:0"] = np.ones((1, 3), np.float32)
        if rk is None:
            g["recurrent_kernel:0"] = np.eye(3, dtype=np.float32)
        else:
            rk(g, "recurrent_kernel:0", path.parent)


def external_storage(g, name, work):
    (work / "secret.bin").write_bytes(np.arange(9, dtype=np.float32).tobytes())
    g.create_dataset(name, shape=(3, 3), dtype=np.float32, external=[(str(work / "secret.bin"), 0, 36)])


def virtual_dataset(g, name, work):
    import h5py

    with h5py.File(work / "source.h5", "w") as f:
        f["x"] = np.arange(9, dtype=np.float32).reshape(3, 3)
    layout = h5py.VirtualLayout(shape=(3, 3), dtype=np.float32)
    layout[:] = h5py.VirtualSource(str(work / "source.h5"), "x", shape=(3, 3))
    g.create_virtual_dataset(name, layout)


def external_link(g, name, work):
    import h5py

    with h5py.File(work / "source.h5", "w") as f:
        f["x"] = np.arange(9, dtype=np.float32).reshape(3, 3)
    g[name] = h5py.ExternalLink(str(work / "source.h5"), "/x")


def huge_declared(g, name, work):
    g.create_dataset(name, shape=(100_000, 100_000), dtype=np.float64, chunks=(100, 100))  # 17 kB file


def root_external_link(path: Path) -> None:
    import h5py

    keras_file(path.parent / "other.h5")
    with h5py.File(path, "w") as f:
        f["model_weights"] = h5py.ExternalLink(str(path.parent / "other.h5"), "/model_weights")


def corrupt_chunk(path: Path) -> None:
    import h5py

    def compressed(g, name, work):
        g.create_dataset(name, data=np.random.default_rng(0).random((3, 3)).astype(np.float32), chunks=(3, 3),
                         compression="gzip")

    keras_file(path, compressed)
    with h5py.File(path, "r") as f:
        offset = f["model_weights/rnn/rnn/recurrent_kernel:0"].id.get_chunk_info(0).byte_offset
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + 20):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- pickles written by hand (issue 19)

def _pstr(text: str) -> bytes:
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


def _pint(value: int) -> bytes:
    return b"J" + value.to_bytes(4, "little", signed=True)


def doubling_list(levels: int = 64) -> bytes:
    """Pickle opcodes leaving one list on the stack that holds the same list twice, ``levels``
    times over: ~10 bytes a level, 2^levels leaves to anything that walks it (repr, a copy)."""
    ops = b"]q\x00" + (b"0" if levels else b"")
    for i in range(levels):
        ops += b"](h" + bytes([i]) + b"h" + bytes([i]) + b"eq" + bytes([i + 1]) + (b"0" if i < levels - 1 else b"")
    return ops


def torch_zip(path: Path, data_pkl: bytes, storages: dict | None = None) -> None:
    """A torch.save zip layout around a hand-written data.pkl."""
    stem = path.stem
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{stem}/data.pkl", data_pkl)
        zf.writestr(f"{stem}/byteorder", "little")
        for key, raw in (storages or {}).items():
            zf.writestr(f"{stem}/data/{key}", raw)
        zf.writestr(f"{stem}/version", "3\n")


def zero_stride_torch(path: Path, count: int = 10_000, n: int = 2000) -> None:
    """``count`` tensors of n x n with stride (0, 0) over one 8-byte storage (~640 kB for the
    defaults): ~320 GB once each is a real array."""
    pid = b"(" + _pstr("storage") + b"ctorch\nDoubleStorage\n" + _pstr("0") + _pstr("cpu") + _pint(1) + b"t"
    body = b""
    for i in range(count):
        storage = (pid + b"Qq\x01") if i == 0 else b"h\x01"
        body += (_pstr(f"t{i}") + b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + _pint(0)
                 + b"(" + _pint(n) + _pint(n) + b"t(" + _pint(0) + _pint(0) + b"t\x89)tR")
    torch_zip(path, b"\x80\x02}(" + body + b"u.", {"0": np.zeros(1).tobytes()})


def psychrnn_with_object(path: Path, pickle_bytes: bytes) -> None:
    """A PsychRNN weights file whose transfer_function member is ``pickle_bytes`` (an object array)."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    with zipfile.ZipFile(path, "w") as zf:
        for key, arr in {"W_rec": np.eye(3), "W_in": np.ones((3, 1)), "W_out": np.ones((1, 3))}.items():
            member = io.BytesIO()
            np.save(member, arr)
            zf.writestr(key + ".npy", member.getvalue())
        zf.writestr("transfer_function.npy", buf.getvalue() + pickle_bytes)


#: numpy.dtype(<a list doubling 64 times>, False, True): the dtype argument of an object array.
DTYPE_BOMB = b"\x80\x02cnumpy\ndtype\n(" + doubling_list() + b"\x89\x88tR."
#: numpy's object-array pickle whose BUILD state gives a shape doubling 64 times.
SHAPE_BOMB = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(K\x00tC\x01btR"
              b"(K\x01" + doubling_list() + b"cnumpy\ndtype\n(X\x02\x00\x00\x00O8\x89\x88tR"
              b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]tb.")


# --------------------------------------------------------------------------- the cases

@dataclass
class Case:
    id: str
    argv: list                    # "{w}" is the work directory
    files: dict                   # name -> str | bytes | callable(path)
    expect: tuple = ()            # fragments of the one-line message
    code: int = 2
    stdout: str = "pipe"          # pipe | full (/dev/full) | closed | broken (reader gone) | head (reader leaves)
    stderr: str = "pipe"          # pipe | full
    outputs: tuple = ()           # existing output files (known content) named in argv
    marks: tuple = ()             # pytest marks of the case


def _spec(**changes) -> dict:
    return {"spec.yaml": spec_yaml(**changes)}


def _pulse(**keys) -> list:
    return [{"kind": "pulse", "low": 0.0, "high": 1.0, **keys}]


_T_STOP = GOOD["t_stop"]
_JUST_BEFORE_STOP = math.nextafter(_T_STOP, 0.0)  # an ulp below t_stop: 8.7e-19 s

CASES = [
    # ------------------------------------------------------------ bounded cost: waveforms
    Case("pulse-period-below-an-ulp-of-its-delay",
         ["check", "{w}/spec.yaml", "--report", "{w}/report.json"],
         _spec(inputs=_pulse(delay=_JUST_BEFORE_STOP, rise=1e-22, fall=1e-22, width=1e-22, period=1e-20)),
         ("inputs[0].period", "ulps", "(got 1e-20)"), outputs=("report.json",)),
    Case("pulse-rise-below-an-ulp", ["compile", "{w}/spec.yaml", "-o", "{w}/out.cir"],
         _spec(inputs=_pulse(delay=1e-3, rise=1e-22, fall=1e-5, width=1e-3, period=4e-3)),
         ("inputs[0].rise", "ulps", "(got 1e-22)"), outputs=("out.cir",)),
    Case("step-rise-below-an-ulp-of-its-time", ["compile", "{w}/spec.yaml", "-o", "{w}/out.cir"],
         _spec(inputs=[{"kind": "step", "value": 1.0, "at": 1e10, "rise": 1e-10}]),
         ("inputs[0].rise", "ulps", "(got 1e-10)"), outputs=("out.cir",)),
    # ------------------------------------------------------------ bounded cost: YAML and tokens
    Case("yaml-alias-bomb-512-bytes", ["compile", "{w}/spec.yaml"],
         {"spec.yaml": spec_yaml().replace("name: good\n", "name:\n" + bomb())},
         ("spec", "aliases expand to more than 10000 values")),
    Case("yaml-alias-bomb-in-provenance", ["compile", "{w}/spec.yaml", "-o", "{w}/out.cir"],
         {"spec.yaml": spec_yaml() + "provenance:\n" + bomb()},
         ("spec", "aliases expand"), outputs=("out.cir",)),
    Case("number-string-of-30000-digits", ["compile", "{w}/spec.yaml"],
         _spec(inputs=[{"kind": "step", "value": "1" * 30_000 + "x"}]),
         ("inputs[0].value", "at most 1000 characters", "'111111")),
    Case("netlist-token-of-30000-digits", ["verify", "{w}/spec.yaml", "--netlist", "{w}/hostile.cir"],
         {"spec.yaml": spec_yaml(),
          "hostile.cir": "title\nR_0 h0 0 " + "1" * 30_000 + "x\n.tran 1e-6 1e-3\n.end\n"},
         ("netlist line 2", "30001 characters")),
    Case("netlist-400000-continuation-lines", ["verify", "{w}/spec.yaml", "--netlist", "{w}/hostile.cir"],
         {"spec.yaml": spec_yaml(),
          "hostile.cir": "title\nV_0 x0 0 DC 0 PWL(0 0\n" + "+ 1 1\n" * 400_000 + "+ )\n.tran 1e-6 1e-3\n"},
         ("netlist line 2", "PWL times")),
    # ------------------------------------------------------------ bounded cost: totals
    Case("twenty-inputs-naming-one-200000-point-csv", ["compile", "{w}/spec.yaml", "-o", "{w}/out.cir"],
         {"spec.yaml": spec_yaml(w_in=[[1.0] * 20, [0.0] * 20],
                                 inputs=[{"kind": "file", "path": "x.csv"} for _ in range(20)]),
          "x.csv": big_csv},
         ("inputs[1].path", "'x.csv'", "at most 200000 knots"), outputs=("out.cir",)),
    Case("spec-over-1-mib", ["compile", "{w}/spec.yaml"],
         {"spec.yaml": spec_yaml() + "description: [" + "0," * 750_000 + "0]\n"},
         ("spec", "bytes; at most 1048576 are read")),
    Case("yaml-spec-of-450000-values", ["compile", "{w}/spec.yaml"],
         {"spec.yaml": spec_yaml() + "description: [" + "0," * 450_000 + "0]\n"},
         ("spec", "more than 100000 values")),
    Case("json-spec-of-250000-values", ["compile", "{w}/spec.json", "-o", "{w}/out.cir"],
         {"spec.json": json.dumps({"name": "big", "tau": 1e-3, "t_stop": 1e-3, "w": [[0] * 500] * 500})},
         ("spec", "more than 100000 values"), outputs=("out.cir",)),
    Case("dense-2000-neurons-in-a-70-kb-npz", ["compile", "{w}/spec.yaml", "-o", "{w}/out.cir"],
         {"spec.yaml": spec_yaml(w={"file": "w.npz", "key": "W"}, w_in=..., inputs=..., h0=...), "w.npz": dense_npz},
         ("w", "4000000 non-zero values in", "compressed more than 64-fold", "RNN2SPICE_MAX_VALUES_PER_BYTE"),
         outputs=("out.cir",)),
    # ------------------------------------------------------------ model files reaching outside
    Case("hdf5-external-raw-storage", ["import", "{w}/model.h5", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"model.h5": lambda p: keras_file(p, external_storage)}, ("recurrent_kernel", "external raw storage")),
    Case("hdf5-virtual-dataset", ["import", "{w}/model.h5", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"model.h5": lambda p: keras_file(p, virtual_dataset)}, ("recurrent_kernel", "a virtual dataset")),
    Case("hdf5-external-link-to-a-dataset", ["import", "{w}/model.h5", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"model.h5": lambda p: keras_file(p, external_link)}, ("recurrent_kernel", "external link to")),
    Case("hdf5-external-link-to-the-weights", ["import", "{w}/model.h5", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"model.h5": root_external_link}, ("model_weights", "external link to", "links to other files")),
    Case("hdf5-declaring-100000x100000-in-17-kb", ["import", "{w}/model.h5", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"model.h5": lambda p: keras_file(p, huge_declared)}, ("shape (100000, 100000)", "too large")),
    Case("npz-model-member-declaring-30000x30000",
         ["import", "{w}/model.npz", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"model.npz": lambda p: npz_header_member(p, W=npy_header((30_000, 30_000)))},
         ("W", "shape (30000, 30000)", "too large")),
    Case("npy-as-npz-model-declaring-30000x30000",
         ["import", "{w}/model.npz", "--format", "npz", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"model.npz": npy_header((30_000, 30_000))}, ("model.npz", "single .npy array")),
    Case("task-stimulus-declaring-1000x100000x1000",
         ["task", "{w}/task.yaml", "--stimulus", "{w}/x.npy"],
         {"task.yaml": yaml.safe_dump(TASK), "x.npy": npy_header((1000, 100_000, 1000))},
         ("--stimulus", "shape (1000, 100000, 1000)", "too large")),
    # ------------------------------------------------------------ bounded cost: hostile model files (issue 19)
    Case("torch-persistent-id-doubling-64-times", ["import", "{w}/m.pt", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"m.pt": lambda p: torch_zip(p, b"\x80\x02" + doubling_list() + b"Q.")},
         ("m/data.pkl", "refused persistent id [[[[", "...")),
    Case("torch-state-dict-value-doubling-64-times", ["import", "{w}/m.pt", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"m.pt": lambda p: torch_zip(p, b"\x80\x02}" + _pstr("weight_hh_l0") + doubling_list() + b"s.")},
         ("m/data.pkl", "nested more than 12 levels deep")),
    Case("torch-100000-nested-lists-in-200-kb", ["import", "{w}/m.pt", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"m.pt": lambda p: torch_zip(p, b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".")},
         ("nested more than 12 levels deep",)),
    Case("torch-10000-zero-stride-2000x2000-over-8-bytes", ["import", "{w}/m.pt", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"m.pt": zero_stride_torch}, ("m/data.pkl", "too large", "logical size", "before building any")),
    Case("psychrnn-dtype-argument-doubling-64-times",
         ["import", "{w}/m.npz", "--format", "psychrnn", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"m.npz": lambda p: psychrnn_with_object(p, DTYPE_BOMB)}, ("transfer_function", "refused: dtype [[[[")),
    Case("psychrnn-object-array-shape-doubling-64-times",
         ["import", "{w}/m.npz", "--format", "psychrnn", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"m.npz": lambda p: psychrnn_with_object(p, SHAPE_BOMB)}, ("transfer_function", "object array of shape [[[[")),
    Case("psychrnn-member-of-2000-subarrays-of-2000x2000",
         ["import", "{w}/m.npz", "--format", "psychrnn", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"m.npz": lambda p: npz_header_member(p, W_rec=npy_header((2000,), [("x", "<f8", (2000, 2000))]),
                                               W_in=npy_header((3, 1)), W_out=npy_header((1, 3)))},
         ("W_rec", "must hold real numbers")),
    # ------------------------------------------------------------ clean errors: the spec
    Case("yaml-integer-of-5000-digits", ["compile", "{w}/spec.yaml"],
         {"spec.yaml": spec_yaml().replace("value: 1.0", "value: 1" + "0" * 5000)},
         ("inputs[0].value", "beyond floating-point range", "(5001 characters)")),
    Case("json-integer-of-5000-digits", ["compile", "{w}/spec.json"],
         {"spec.json": json.dumps(GOOD).replace('"t_stop": 0.005', '"t_stop": 1' + "0" * 5000)},
         ("t_stop", "beyond floating-point range")),
    Case("waveform-kind-is-a-list", ["compile", "{w}/spec.yaml"],
         _spec(inputs=[{"kind": ["step"], "value": 1.0}]), ("inputs[0].kind", "['step']")),
    Case("duplicate-key-in-a-flow-mapping", ["compile", "{w}/spec.yaml", "-o", "{w}/out.cir"],
         {"spec.yaml": spec_yaml().replace("- kind: step\n", "- {kind: step, kind: pulse}\n")
                                  .replace("  value: 1.0\n  at: 0.001\n", "")},
         ("kind: duplicate key at line", "columns"), outputs=("out.cir",)),
    Case("yaml-timestamp-with-month-13", ["compile", "{w}/spec.yaml"],
         {"spec.yaml": spec_yaml().replace("t_stop: 0.005", "t_stop: 2001-13-45")},
         ("spec", "malformed YAML", "month must be in 1..12")),
    Case("waveform-file-name-too-long", ["compile", "{w}/spec.yaml"],
         _spec(inputs=[{"kind": "file", "path": "x" * 300 + ".csv"}]),
         ("inputs[0].path", "File name too long")),
    # ------------------------------------------------------------ clean errors: options
    Case("timeout-of-1e10-seconds", ["simulate", "{w}/spec.yaml", "--timeout", "1e10"], _spec(),
         ("--timeout", "at most 1e+06", "(got 10000000000.0)")),
    Case("task-seed-negative", ["task", "{w}/task.yaml", "--stimulus", "pulse", "--seed", "-1"],
         {"task.yaml": yaml.safe_dump(TASK)}, ("--seed", "(got -1)")),
    Case("task-seed-of-4000-digits", ["task", "{w}/task.yaml", "--stimulus", "pulse", "--seed", "9" * 4000],
         {"task.yaml": yaml.safe_dump(TASK)}, ("--seed", "(got 99999", "...")),
    Case("task-seed-of-5000-digits", ["task", "{w}/task.yaml", "--stimulus", "pulse", "--seed", "9" * 5000],
         {"task.yaml": yaml.safe_dump(TASK)}, ("--seed", "invalid int value", "...")),
    Case("task-stimulus-of-zero-trials", ["task", "{w}/task.yaml", "--stimulus", "{w}/x.npy", "--report", "{w}/r.json"],
         {"task.yaml": yaml.safe_dump(TASK), "x.npy": lambda p: np.save(p, np.zeros((0, 50, 1)))},
         ("--stimulus", "0 trials", "no trial"), outputs=("r.json",)),
    Case("task-stimulus-csv-with-a-huge-field", ["task", "{w}/task.yaml", "--stimulus", "{w}/x.csv"],
         {"task.yaml": yaml.safe_dump(TASK), "x.csv": "0\n" + "1" * 200_000 + "\n"},
         ("--stimulus", "x.csv'", "line 2 is longer than 65,536 bytes")),
    # ------------------------------------------------------------ clean errors: outputs and streams
    Case("output-under-proc", ["compile", "{w}/spec.yaml", "-o", "/proc/rnn2spice-x.cir"], _spec(), ("--output",)),
    Case("plot-unwritable-after-the-report",
         ["check", "{w}/spec.yaml", "--report", "{w}/report.json", "--plot", "/proc/rnn2spice-x.png"],
         _spec(), ("--plot",), outputs=("report.json",)),
    Case("stdout-is-dev-full", ["compile", "{w}/spec.yaml"], _spec(), ("standard output", "No space left"),
         code=3, stdout="full"),
    Case("stdout-is-closed", ["compile", "{w}/spec.yaml"], _spec(), ("standard output",), code=3, stdout="closed"),
    Case("stdout-reader-gone", ["compile", "{w}/spec.yaml"], _spec(), ("standard output", "Broken pipe"),
         code=3, stdout="broken"),
    Case("stdout-reader-leaves-after-100-bytes", ["compile", "{w}/spec.yaml"],
         {"spec.yaml": spec_yaml(inputs=[{"kind": "file", "path": "x.csv"}]), "x.csv": lambda p: big_csv(p, 20_000)},
         ("standard output", "Broken pipe"), code=3, stdout="head"),
    Case("stderr-is-dev-full", ["compile", "{w}/missing.yaml"], {}, code=2, stderr="full"),
    # ------------------------------------------------------------ clean errors: model files
    Case("hdf5-corrupt-chunk", ["import", "{w}/model.h5", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"model.h5": corrupt_chunk}, ("recurrent_kernel", "cannot be read")),
    Case("hdf5-deeply-nested-model-config", ["import", "{w}/model.h5", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"model.h5": lambda p: keras_file(p, config="[" * 100_000 + "]" * 100_000)},
         ("model_config", "nested too deeply")),
    Case("hdf5-model-weights-is-a-dataset", ["import", "{w}/model.h5", "--dt", "1e-3", "-o", "{w}/net.yaml"],
         {"model.h5": lambda p: keras_file(p, model_weights_dataset=True)}, ("model_weights", "must be a group")),
]
CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS)


# --------------------------------------------------------------------------- running a case

@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int  # bytes


def _limits() -> None:  # in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(argv: list[str], cwd: Path, *, stdout: str = "pipe", stderr: str = "pipe") -> Run:
    """``python -m rnn2spice argv`` under the memory cap; killed after TIME_LIMIT seconds."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("RNN2SPICE_TRACEBACK", None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        close_in_child, close_in_parent, head = None, [], None
        if stdout == "pipe":
            out_target = out
        elif stdout == "full":
            out_target = open("/dev/full", "wb")  # noqa: SIM115 - closed below
            close_in_parent.append(out_target)
        elif stdout == "broken":
            r, w = os.pipe()
            os.close(r)  # the reader is gone before the child writes
            out_target = w
            close_in_parent.append(w)
        elif stdout == "head":  # like `| head -c 100`: read a little, then leave
            head, w = os.pipe()
            out_target = w
            close_in_parent.append(w)
        else:  # closed
            out_target = None
            close_in_child = 1
        err_target = err
        if stderr == "full":
            err_target = open("/dev/full", "wb")  # noqa: SIM115
            close_in_parent.append(err_target)

        def preexec():
            _limits()
            if close_in_child is not None:
                os.close(close_in_child)

        start = time.monotonic()
        parent_rss = _vm_kib("self", "VmRSS") * 1024
        proc = subprocess.Popen([sys.executable, "-m", "rnn2spice", *argv], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out_target, stderr=err_target, preexec_fn=preexec)
        own_peak = 0
        for item in close_in_parent:
            item.close() if hasattr(item, "close") else os.close(item)
        if head is not None:
            os.read(head, 100)
            os.close(head)
        while True:
            own_peak = max(own_peak, _vm_kib(proc.pid, "VmHWM") * 1024)   # before reaping: gone after
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > TIME_LIMIT:
                proc.kill()
                os.wait4(proc.pid, 0)
                pytest.fail(f"{argv[:2]} still running after {TIME_LIMIT} s")
            time.sleep(0.01)
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        # The child's ru_maxrss also counts the pages of this (forked) process before the exec:
        # Linux merges the old mm's high-water mark at exec, so a pytest worker at 495 MiB made
        # every case "use" 495 MiB.  Only a ru_maxrss above this process's RSS at the fork is
        # surely the child's own; below it the child's own high-water mark (VmHWM of its mm
        # after the exec, polled while it runs) is the peak.
        maxrss = usage.ru_maxrss * 1024
        peak = max(own_peak, maxrss if maxrss > 1.05 * parent_rss else 0)
        return Run(proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                   seconds, peak)


def _vm_kib(pid, field: str) -> int:
    """``field`` (VmRSS, VmHWM) of /proc/<pid>/status in KiB; 0 when unreadable (a zombie has none)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


MEASURED: dict[str, Run] = {}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_hostile_input_is_refused_cheaply_and_cleanly(case: Case, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    make_files(work, case.files)
    for name in case.outputs:
        (work / name).write_bytes(earlier_output(name, OLD))  # an earlier output of its kind
    before = snapshot(work)
    argv = [a.replace("{w}", str(work)) for a in case.argv]
    run = run_cli(argv, work, stdout=case.stdout, stderr=case.stderr)
    MEASURED[case.id] = run
    assert run.code == case.code, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    if case.stderr == "pipe":
        lines = run.stderr.splitlines()
        assert len(lines) == 1, run.stderr[-2000:]
        assert lines[0].startswith("rnn2spice: error: "), lines[0][:300]
        assert len(lines[0]) <= MESSAGE_LIMIT, f"{len(lines[0])} characters: {lines[0][:300]}"
        for fragment in case.expect:
            assert fragment in lines[0], (fragment, lines[0][:MESSAGE_LIMIT])
    if case.stdout == "pipe":
        assert run.stdout == ""
    assert run.seconds < TIME_LIMIT
    assert run.peak_rss < RSS_LIMIT, f"peak RSS {run.peak_rss / 2**20:.0f} MiB"
    assert snapshot(work) == before, "a file of the work directory was created, changed or removed"


def test_worst_case_cost_of_the_catalogue(capsys):
    """Prints the slowest and the largest case (run with -s); needs the cases above."""
    if len(MEASURED) < len(CASES):
        pytest.skip("run the whole module to measure the catalogue")
    slow = max(MEASURED.items(), key=lambda kv: kv[1].seconds)
    big = max(MEASURED.items(), key=lambda kv: kv[1].peak_rss)
    with capsys.disabled():
        print(f"\nslowest: {slow[0]} {slow[1].seconds:.2f} s; largest: {big[0]} {big[1].peak_rss / 2**20:.0f} MiB")
    assert slow[1].seconds < TIME_LIMIT and big[1].peak_rss < RSS_LIMIT


# --------------------------------------------------------------------------- below the command line

def test_reports_are_strict_json():
    """No bare NaN / Infinity (not JSON): non-finite numbers become "nan" / "inf" / "-inf"."""
    from rnn2spice.report.files import GENERATOR, json_text

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    text = json_text({"error": float("inf"), "runs": [{"x": float("nan"), "y": np.float64(-np.inf)}],
                      "n": np.int64(3), "ok": np.bool_(True), "v": np.array([1.0, np.inf])})
    data = json.loads(text, parse_constant=refuse)
    assert data == {"generator": GENERATOR, "error": "inf", "runs": [{"x": "nan", "y": "-inf"}], "n": 3, "ok": True,
                    "v": [1.0, "inf"]}
    assert next(iter(data)) == "generator"  # first: the signature the output rule reads


def test_overflow_from_a_huge_input_is_not_blamed_on_stability():
    """A stable network driven by an input near the top of the double range: the reference
    overflows because of the input (a user mistake, exit 2), not an unstable network."""
    from rnn2spice.errors import SpecError
    from rnn2spice.network.spec import spec_from_dict
    from rnn2spice.workflows.pipeline import solve_reference

    spec = spec_from_dict({**GOOD, "inputs": [{"kind": "step", "value": 1e306, "at": 1e-3}]})
    with pytest.raises(SpecError) as info:
        solve_reference(spec, np.linspace(0.0, spec.t_stop, 50))
    message = str(info.value)
    assert "unstable" not in message and message.startswith("inputs[0]: too large") and "is stable" in message


def test_pulse_knots_are_computed_by_index():
    """A pulse whose period is below an ulp of its delay (not validated): knots() ends (run
    in a capped child process: a running-time loop would fill the memory of the machine)."""
    from rnn2spice.network.waveform import Pulse

    code = ("from rnn2spice.network.waveform import Pulse\n"
            f"tk, vk = Pulse(0.0, 1.0, {_JUST_BEFORE_STOP!r}, 1e-22, 1e-22, 0.0, 1e-20).knots({_T_STOP!r})\n"
            "import numpy as np\n"
            "assert tk.size == vk.size and np.all(np.diff(tk) > 0)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=TIME_LIMIT, preexec_fn=_limits)
    assert done.returncode == 0, done.stderr[-2000:]
    tk, _ = Pulse(0.0, 1.0, 1e-3, 1e-4, 2e-4, 5e-4, 1.5e-3).knots(5e-3)
    assert tk.tolist() == pytest.approx([0.0, 1e-3, 1.1e-3, 1.6e-3, 1.8e-3, 2.5e-3, 2.6e-3, 3.1e-3, 3.3e-3,
                                         4.0e-3, 4.1e-3, 4.6e-3, 4.8e-3])


def test_task_result_of_no_trial_does_not_pass():
    from rnn2spice.errors import UsageError
    from rnn2spice.network.spec import spec_from_dict
    from rnn2spice.workflows.task import run_task

    spec = spec_from_dict(TASK)
    with pytest.raises(UsageError, match="at least one trial"):
        run_task(spec, [], 1e-3)


def test_an_unexpected_exception_is_one_line_and_exit_70(tmp_path, monkeypatch, capsys):
    """The safety net: a bug ends in one 'internal error' line and exit 70, not a traceback."""
    from rnn2spice.cli import app, compile as compile_cmd

    def broken(args):
        raise RuntimeError("a bug\nwith a second line")

    monkeypatch.setattr(compile_cmd, "run", broken)
    monkeypatch.delenv("RNN2SPICE_TRACEBACK", raising=False)
    (tmp_path / "spec.yaml").write_text(spec_yaml())
    code = app.main(["compile", str(tmp_path / "spec.yaml")])
    err = capsys.readouterr().err
    assert code == app.EXIT_INTERNAL == 70
    assert err.startswith("rnn2spice: internal error: RuntimeError: a bug") and len(err.strip().splitlines()) == 1


def colliding_keys(count: int = 30_000, key=lambda k: k * (2**61 - 1)) -> bytes:
    """Pickle opcodes leaving a dict of ``count`` integer keys that share one hash (CPython hashes
    an int modulo 2^61 - 1): each insertion probes every earlier key (30,000: ~30 s; 75,000 fit
    in the 1 MB a data.pkl may have: minutes)."""
    ops = b"}("
    for k in range(count):
        raw = key(k).to_bytes((key(k).bit_length() + 8) // 8 or 1, "little", signed=True)
        ops += b"\x8a" + bytes([len(raw)]) + raw + b"K\x00"
    return ops + b"u"


#: the same keys as a frozenset, and a tuple key (tuples can be chosen to collide as well)
FROZENSET_BOMB = b"\x80\x04(" + colliding_keys(1)[2:-1] + b"\x8a\x08" + (2**61 - 1).to_bytes(8, "little") + b"\x91."
TUPLE_KEY = b"\x80\x02}K\x01K\x02\x86K\x00s."


# --------------------------------------------------------------------------- hostile model files, in process

MODEL_FILES = {  # name -> (builder, format)
    "persistent-id-bomb.pt": (lambda p: torch_zip(p, b"\x80\x02" + doubling_list() + b"Q."), None),
    "value-bomb.pt": (lambda p: torch_zip(p, b"\x80\x02}" + _pstr("weight_hh_l0") + doubling_list() + b"s."), None),
    "nested.pt": (lambda p: torch_zip(p, b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b"."), None),
    "zero-stride.pt": (zero_stride_torch, None),
    "dtype-bomb.npz": (lambda p: psychrnn_with_object(p, DTYPE_BOMB), "psychrnn"),
    "shape-bomb.npz": (lambda p: psychrnn_with_object(p, SHAPE_BOMB), "psychrnn"),
    "hash-collision.pt": (lambda p: torch_zip(p, b"\x80\x02" + colliding_keys() + b"."), None),
    "hash-collision.npz": (lambda p: psychrnn_with_object(p, b"\x80\x02" + colliding_keys() + b"."), "psychrnn"),
    "frozenset-collision.pt": (lambda p: torch_zip(p, FROZENSET_BOMB), None),
    "tuple-key.pt": (lambda p: torch_zip(p, TUPLE_KEY), None),
    "ordered-dict-args.pt": (lambda p: torch_zip(p, b"\x80\x02ccollections\nOrderedDict\n]\x85R."), None),
}


@pytest.mark.parametrize("name", list(MODEL_FILES))
def test_hostile_model_file_is_refused_in_well_under_a_second(tmp_path, name):
    """The reading itself (no interpreter start-up): a ModelError, within the hang guard (its
    time: benchmarks/hostile_reading.py, ~1-200 ms), with or without
    torch (a zip file is checked by the restricted reader before torch is imported)."""
    from rnn2spice.errors import ModelError
    from rnn2spice.workflows.importers.detect import read_model

    build, fmt = MODEL_FILES[name]
    path = tmp_path / name
    build(path)
    start = time.perf_counter()
    with pytest.raises(ModelError) as info:
        read_model(path, fmt)
    seconds = time.perf_counter() - start
    # a hang guard (an unguarded reading takes minutes or all memory); the speed itself is
    # benchmarks/hostile_reading.py (a timed unit test would measure the machine's load)
    assert seconds < TIME_LIMIT, f"{name}: {seconds:.2f} s"
    assert len(str(info.value)) < MESSAGE_LIMIT


def test_nesting_and_logical_size_limits_are_exact():
    """check_nesting accepts MAX_DEPTH levels and refuses one more; a shared list counts each
    time it is met; check_tensor_bytes refuses one byte beyond MAX_TENSOR_BYTES."""
    from rnn2spice.errors import ModelError
    from rnn2spice.workflows.importers.archive import (MAX_DEPTH, MAX_NODES, MAX_TENSOR_BYTES, check_nesting,
                                                       check_tensor_bytes)

    def nested(depth):
        value = 1.0
        for _ in range(depth):
            value = {"a": value}
        return value

    check_nesting(nested(MAX_DEPTH), "x")
    with pytest.raises(ModelError, match="nested more than"):
        check_nesting(nested(MAX_DEPTH + 1), "x")
    shared = list(range(MAX_NODES // 4))
    check_nesting([shared, shared], "x")
    with pytest.raises(ModelError, match=f"more than {MAX_NODES} values"):
        check_nesting([shared] * 5, "x")
    check_tensor_bytes(MAX_TENSOR_BYTES, "x")
    with pytest.raises(ModelError, match="logical size"):
        check_tensor_bytes(MAX_TENSOR_BYTES + 1, "x")


def test_shown_is_bounded_for_container_subclasses():
    import collections

    from rnn2spice.errors import shown

    bomb = []
    for _ in range(64):
        bomb = [bomb, bomb]
    start = time.perf_counter()
    text = shown(collections.OrderedDict(w=bomb), 60)
    assert time.perf_counter() - start < TIME_LIMIT   # hang guard (2^64 leaves); speed: benchmarks/hostile_reading.py
    assert text.startswith("OrderedDict({'w': [[[") and text.endswith("...") and len(text) == 60


@pytest.mark.parametrize("layout", ["mapping", "set"])
def test_spec_keys_sharing_one_hash_are_refused_at_once(layout):
    """YAML integer keys k (2^61 - 1) share one hash: 20,000 of them (600 kB) took ~20 s to
    insert (36,000 in a 1 MB spec: 68 s); the first such key is refused, naming its line."""
    from rnn2spice.errors import SpecError
    from rnn2spice.network.load import parse_text

    tag = " !!set" if layout == "set" else ""
    text = "name: x\nextra:" + tag + "\n" + "".join(f"  ? {k * (2**61 - 1)}\n" if layout == "set"
                                                    else f"  {k * (2**61 - 1)}: 0\n" for k in range(20_000))
    start = time.perf_counter()
    with pytest.raises(SpecError, match="line 4: an integer key of 2.61 - 1 or more is refused"):
        parse_text(text, Path("spec.yaml"))
    assert time.perf_counter() - start < TIME_LIMIT  # hang guard
    assert parse_text("a: {1: 2, -3: 4}\n", Path("spec.yaml")) == {"a": {1: 2, -3: 4}}
