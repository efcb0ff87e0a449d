"""Importing files whose names or orientation differ (--keys), torch files without torch,
and Keras files without biases or with numbered layer names."""

from __future__ import annotations

import io
import json
import pickletools
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from rnn2spice.cli.app import main
from rnn2spice.errors import ModelError, UsageError
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.importers import import_model, parse_keys, read_model
from rnn2spice.workflows.importers.archive import read_torch_zip
from rnn2spice.workflows.importers.mapping import Term
from rnn2spice.workflows.task import run_discrete

KEYS = ("W=rnn.w_rec,U=rnn.w_inp^T,U_scale=rnn.w_inp_scale,w_out=rnn.w_out^T,w_out_scale=rnn.w_out_scale,"
        "b=rnn.b_a+rnn.b_b,h0=rnn.h0")


# --------------------------------------------------------------------------- a torch zip, written by hand

def _str(text: str) -> bytes:
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


def _int(value: int) -> bytes:
    return b"J" + value.to_bytes(4, "little", signed=True)


def _tuple(items) -> bytes:
    return b"(" + b"".join(items) + b"t"


_STORAGE = {np.dtype("float64"): "DoubleStorage", np.dtype("float32"): "FloatStorage",
            np.dtype("float16"): "HalfStorage", np.dtype("int64"): "LongStorage"}


def torch_pickle(tensors: dict) -> tuple[bytes, list[bytes]]:
    """Protocol-2 pickle of an OrderedDict of tensors, as torch.save writes it (GLOBAL
    collections.OrderedDict / torch._utils._rebuild_tensor_v2 / torch.<Type>Storage, storages
    as persistent ids), and the raw storages.  Fortran-ordered arrays become strided tensors."""
    body, storages = b"", []
    for i, (key, arr) in enumerate(tensors.items()):
        arr = np.asarray(arr)
        fortran = arr.ndim == 2 and arr.flags.f_contiguous and not arr.flags.c_contiguous
        storages.append(arr.ravel(order="F" if fortran else "C").astype(arr.dtype.newbyteorder("<")).tobytes())
        stride = (1, arr.shape[0]) if fortran else tuple(s // arr.itemsize for s in arr.strides)
        pid = _tuple([_str("storage"), b"ctorch\n" + _STORAGE[arr.dtype].encode() + b"\n", _str(str(i)), _str("cpu"),
                      _int(arr.size)])
        body += (_str(key) + b"ctorch._utils\n_rebuild_tensor_v2\n" + b"(" + pid + b"Q" + _int(0)
                 + _tuple(_int(d) for d in arr.shape) + _tuple(_int(s) for s in stride) + b"\x89"
                 + b"ccollections\nOrderedDict\n)R" + b"tR")
    data = b"\x80\x02ccollections\nOrderedDict\n)R(" + body + b"u."
    pickletools.dis(data, out=io.StringIO())  # a well-formed pickle
    return data, storages


def write_torch_zip(path: Path, tensors: dict, *, pickle_bytes: bytes | None = None) -> None:
    data, storages = torch_pickle(tensors)
    stem = path.stem
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{stem}/data.pkl", pickle_bytes if pickle_bytes is not None else data)
        zf.writestr(f"{stem}/byteorder", "little")
        for i, raw in enumerate(storages):
            zf.writestr(f"{stem}/data/{i}", raw)
        zf.writestr(f"{stem}/version", "3\n")


def no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError


def rate_model(seed=0, n=5, m=2, p=1):
    """A rate RNN stored in another orientation, with scalar gains (names of a typical repo)."""
    rng = np.random.default_rng(seed)
    return {"rnn.w_rec": rng.standard_normal((n, n)) / np.sqrt(n), "rnn.w_inp": rng.standard_normal((m, n)),
            "rnn.w_out": rng.standard_normal((n, p)), "rnn.w_inp_scale": np.array(0.5),
            "rnn.w_out_scale": np.array(2.0), "rnn.b_a": rng.standard_normal(n) * 0.1,
            "rnn.b_b": rng.standard_normal(n) * 0.1, "rnn.h0": rng.standard_normal(n) * 0.1,
            "rnn.unused_mask": np.ones((n, n))}


def manual_spec(model, convention="ctrnn", activation="tanh", tau=1e-3):
    return spec_from_dict({
        "name": "manual", "convention": convention, "activation": activation, "tau": tau,
        "w": model["rnn.w_rec"].tolist(), "w_in": (0.5 * model["rnn.w_inp"].T).tolist(),
        "bias": (model["rnn.b_a"] + model["rnn.b_b"]).tolist(), "h0": model["rnn.h0"].tolist(),
        "w_out": (2.0 * model["rnn.w_out"].T).tolist(), "b_out": [0.0],
        "inputs": [{"kind": "step", "value": 1.0, "at": 1e-3}, {"kind": "step", "value": 0.0, "at": 1e-3}],
        "t_stop": 0.1})


# --------------------------------------------------------------------------- the restricted torch reader

def test_torch_zip_read_without_torch(tmp_path, monkeypatch):
    no_torch(monkeypatch)
    rng = np.random.default_rng(3)
    tensors = {"a": rng.standard_normal((3, 4)), "f32": rng.standard_normal((2, 2)).astype(np.float32),
               "half": rng.standard_normal(5).astype(np.float16), "scalar": np.array(0.25),
               "strided": np.asfortranarray(rng.standard_normal((3, 2))), "count": np.array([7], dtype=np.int64)}
    write_torch_zip(tmp_path / "m.pt", tensors)
    got = read_torch_zip(tmp_path / "m.pt")
    assert list(got) == list(tensors)
    for key, arr in tensors.items():
        np.testing.assert_array_equal(got[key], arr)
        assert got[key].dtype == arr.dtype


@pytest.mark.torch
def test_torch_zip_reader_equals_torch_load(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rnn = torch.nn.RNN(3, 4)
    sd = rnn.state_dict()
    sd["t"] = torch.randn(4, 3).t()  # a strided view
    sd["bf16"] = torch.randn(3).to(torch.bfloat16)
    sd["half"] = torch.randn(2, 2).half()
    sd["scalar"] = torch.tensor(1.5, dtype=torch.float64)
    torch.save(sd, tmp_path / "r.pt")
    got = read_torch_zip(tmp_path / "r.pt")
    assert list(got) == list(sd)
    for key, val in sd.items():
        np.testing.assert_array_equal(got[key].astype(np.float64), val.to(torch.float64).numpy())


@pytest.mark.parametrize("module, name", [(b"os", b"system"), (b"builtins", b"eval"), (b"torch", b"load")])
def test_hostile_torch_pickle_is_refused(tmp_path, monkeypatch, capsys, module, name):
    no_torch(monkeypatch)
    marker = tmp_path / "pwned"
    cmd = f"touch {marker}".encode()
    hostile = b"\x80\x02c" + module + b"\n" + name + b"\nX" + len(cmd).to_bytes(4, "little") + cmd + b"\x85R."
    write_torch_zip(tmp_path / "evil.pt", {"w": np.eye(2)}, pickle_bytes=hostile)
    with pytest.raises(ModelError) as info:
        read_model(tmp_path / "evil.pt", keys="W=w")
    text = str(info.value)
    assert "refused global" in text and f"{module.decode()}.{name.decode()}" in text and "data.pkl" in text
    assert not marker.exists()
    out = tmp_path / "e.yaml"
    assert main(["import", str(tmp_path / "evil.pt"), "--dt", "1e-3", "--keys", "W=w", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "refused global" in err and "Traceback" not in err
    assert not marker.exists() and not out.exists()


@pytest.mark.parametrize("mutate, words", [
    (lambda t: {"w": t["w"], "big": None}, ["storage"]),  # a persistent id for a missing member
    (None, ["bytes for", "elements"]),
])
def test_torch_zip_inconsistent_storage(tmp_path, monkeypatch, mutate, words):
    no_torch(monkeypatch)
    path = tmp_path / "m.pt"
    write_torch_zip(path, {"w": np.eye(3)})
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if mutate is None:
        members["m/data/0"] = members["m/data/0"][:-8]  # one element short
    else:
        del members["m/data/0"]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ModelError) as info:
        read_model(path, keys="W=w")
    for word in words:
        assert word in str(info.value)


def test_legacy_torch_file_without_torch_needs_torch(tmp_path, monkeypatch):
    from rnn2spice.errors import MissingDependencyError

    no_torch(monkeypatch)
    (tmp_path / "old.pt").write_bytes(b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.")  # the legacy magic number
    with pytest.raises(MissingDependencyError, match="rnn2spice\\[torch\\]"):
        read_model(tmp_path / "old.pt", "torch")


# --------------------------------------------------------------------------- --keys

def test_parse_keys():
    mapping = parse_keys(KEYS)
    assert mapping.terms["U"] == (Term((("rnn.w_inp", True),)),)
    assert mapping.terms["b"] == (Term((("rnn.b_a", False),)), Term((("rnn.b_b", False),)))
    assert mapping.scales == {"U": "rnn.w_inp_scale", "w_out": "rnn.w_out_scale"}
    assert parse_keys("W=a, W_in=b^T ,W_in_scale=0.5, x0=c").scales == {"U": 0.5}


@pytest.mark.parametrize("text, words", [
    ("U=a", ["must map W"]),
    ("W=a,Q=b", ["unknown target", "'Q'"]),
    ("W=a,w_ot=b", ["unknown target", "did you mean 'w_out'"]),
    ("W=a,W=b", ["W given twice"]),
    ("W", ["TARGET=EXPR"]),
    ("W=a,U_scale=2", ["U_scale is given but U is not mapped"]),
    ("W=a+", ["is not KEY or KEY^T"]),
    ("W=a,U=b,U_scale=inf", ["finite number"]),
    ("", ["--keys must be"]),
])
def test_parse_keys_errors(text, words):
    with pytest.raises(UsageError) as info:
        parse_keys(text)
    for word in words:
        assert word in str(info.value), str(info.value)


@pytest.mark.parametrize("source", ["torch-zip-without-torch", "torch", "npz"])
def test_mapping_equals_manual_construction(tmp_path, monkeypatch, source):
    model = rate_model()
    if source == "npz":
        path = tmp_path / "model.npz"
        np.savez(path, **model)
    elif source == "torch":
        torch = pytest.importorskip("torch")
        path = tmp_path / "model.pt"
        torch.save({k: torch.from_numpy(v) for k, v in model.items()}, path)
    else:
        no_torch(monkeypatch)
        path = tmp_path / "model.pt"
        write_torch_zip(path, model)
    result = import_model(path, tmp_path / "m.yaml", dt=1e-3, keys=KEYS)
    spec, manual = result.spec, manual_spec(model)
    for field in ("w", "w_in", "bias", "h0", "w_out", "b_out", "tau"):
        np.testing.assert_array_equal(getattr(spec, field), getattr(manual, field), err_msg=field)
    assert (spec.convention, spec.activation) == ("ctrnn", "tanh")
    src = spec.provenance["source"]
    assert src["datasets"]["w_in"] == f"{path.name}: rnn.w_inp^T * rnn.w_inp_scale"
    assert src["datasets"]["bias"] == f"{path.name}: rnn.b_a + rnn.b_b"
    assert src["unused_keys"] == {"count": 1, "first": ["rnn.unused_mask"]}
    assert src["layout"] == f"{'npz' if source == 'npz' else 'torch'}-mapped"
    # the discrete model of the spec is the mapped network's
    x = np.random.default_rng(1).standard_normal((20, 2))
    np.testing.assert_array_equal(run_discrete(spec, x), run_discrete(manual, x))


def test_mapping_rate_convention(tmp_path):
    model = rate_model()
    np.savez(tmp_path / "model.npz", **model)
    spec = import_model(tmp_path / "model.npz", tmp_path / "m.yaml", dt=1e-3, tau=1e-2, keys=KEYS,
                        convention="rate", activation="relu").spec
    manual = manual_spec(model, "rate", "relu", 1e-2)
    for field in ("w", "w_in", "bias", "h0", "w_out", "b_out", "tau"):
        np.testing.assert_array_equal(getattr(spec, field), getattr(manual, field), err_msg=field)
    assert (spec.convention, spec.activation) == ("rate", "relu")
    assert spec.provenance["mapping"]["alpha"] == pytest.approx(0.1)
    assert spec.provenance["dale"]["obeys"] is False
    with pytest.raises(UsageError, match="--tau is required"):
        import_model(tmp_path / "model.npz", tmp_path / "n.yaml", dt=1e-3, keys=KEYS, convention="rate")
    assert not (tmp_path / "n.yaml").exists()


def test_mapping_sum_reproduces_nn_rnn_import(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    net = torch.nn.RNN(2, 4).double()
    torch.save(net.state_dict(), tmp_path / "r.pt")
    plain = import_model(tmp_path / "r.pt", tmp_path / "a.yaml", dt=1e-3).spec
    mapped = import_model(tmp_path / "r.pt", tmp_path / "b.yaml", dt=1e-3,
                          keys="W=weight_hh_l0,U=weight_ih_l0,b=bias_ih_l0+bias_hh_l0").spec
    for field in ("w", "w_in", "bias"):
        np.testing.assert_array_equal(getattr(plain, field), getattr(mapped, field))


@pytest.mark.parametrize("keys, words", [
    ("W=rnn.w_rc", ["--keys W", "rnn.w_rc", "did you mean 'rnn.w_rec'"]),
    ("W=rnn.w_rec,U=rnn.w_inp", ["--keys U", "shape (2, 5)", "U=KEY^T"]),
    ("W=rnn.w_inp", ["--keys W", "shape (2, 5)", "square"]),
    ("W=rnn.w_rec,U=rnn.w_inp^T,U_scale=rnn.w_rec", ["U_scale", "rnn.w_rec", "one number"]),
    ("W=rnn.w_rec,b=rnn.b_a+rnn.w_rec", ["--keys b", "rnn.w_rec", "equal shapes"]),
    ("W=rnn.w_rec,w_out=rnn.w_out", ["--keys w_out", "shape (5, 1)", "w_out=KEY^T"]),
    ("W=rnn.w_rec,h0=rnn.w_out_scale", ["--keys h0", "n = 5"]),
    ("W=rnn.w_rec^T^T", ["is not KEY or KEY^T"]),
    ("W=rnn.h0^T", ["only a matrix can be transposed"]),
])
def test_mapping_errors_name_the_key(tmp_path, capsys, keys, words):
    np.savez(tmp_path / "model.npz", **rate_model())
    out = tmp_path / "m.yaml"
    assert main(["import", str(tmp_path / "model.npz"), "--dt", "1e-3", "--keys", keys, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err
    assert "Traceback" not in err and not out.exists()


def test_keys_do_not_apply_to_keras_and_psychrnn_needs_no_convention(tmp_path, capsys):
    path = tmp_path / "k.h5"
    write_keras3(path)
    with pytest.raises(UsageError, match="--keys applies to torch and npz"):
        read_model(path, keys="W=a")
    assert main(["import", str(path), "--dt", "1e-3", "--convention", "rate", "-o", str(tmp_path / "k.yaml")]) == 2
    assert "Keras file records its own activation" in capsys.readouterr().err


def test_cli_mapping_import(tmp_path, capsys):
    np.savez(tmp_path / "model.npz", **rate_model())
    assert main(["import", str(tmp_path / "model.npz"), "--dt", "1e-3", "--tau", "1e-2", "--keys", KEYS,
                 "--convention", "rate", "--activation", "tanh", "-o", str(tmp_path / "m.yaml")]) == 0
    err = capsys.readouterr().err
    assert "npz (npz-mapped) -> rate/tanh, n = 5, m = 2, readout p = 1" in err
    assert "Dale's law: not obeyed" in err


# --------------------------------------------------------------------------- Keras: no bias, numbered names

def write_keras3(path: Path, *, n=4, m=1, p=2, rnn="simple_rnn_1", dense="dense_3", model="sequential_2",
                 rnn_bias=False, dense_bias=False, seed=4):
    """The Keras 3 full-model HDF5 layout of tests/data/keras-rnn, with numbered names."""
    rng = np.random.default_rng(seed)
    w = {"kernel": rng.standard_normal((m, n)).astype(np.float32),
         "recurrent_kernel": rng.standard_normal((n, n)).astype(np.float32),
         "bias": rng.standard_normal(n).astype(np.float32),
         "dense_kernel": rng.standard_normal((n, p)).astype(np.float32),
         "dense_bias": rng.standard_normal(p).astype(np.float32)}
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 30, m], "name": "input_layer_2"}},
              {"class_name": "SimpleRNN", "config": {"name": rnn, "units": n, "activation": "tanh",
                                                     "use_bias": rnn_bias, "return_sequences": True}},
              {"class_name": "Dense", "config": {"name": dense, "units": p, "activation": "linear",
                                                 "use_bias": dense_bias}}]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.6.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": model, "layers": layers}})
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = np.array([rnn, dense], dtype=object)
        cell = root.create_group(rnn).create_group(model).create_group(rnn).create_group("simple_rnn_cell")
        cell["kernel"] = w["kernel"]
        cell["recurrent_kernel"] = w["recurrent_kernel"]
        if rnn_bias:
            cell["bias"] = w["bias"]
        d = root.create_group(dense).create_group(model).create_group(dense)
        d["kernel"] = w["dense_kernel"]
        if dense_bias:
            d["bias"] = w["dense_bias"]
        root.create_group("top_level_model_weights")
        adam = f.create_group("optimizer_weights").create_group("adam")
        adam[f"{model}_{rnn}_simple_rnn_cell_kernel_momentum"] = np.zeros((m, n), np.float32)
        adam[f"{model}_{dense}_kernel_velocity"] = np.zeros((n, p), np.float32)
        adam["iteration"] = np.int64(10)
    return w


@pytest.mark.parametrize("rnn_bias, dense_bias", [(False, False), (True, False), (False, True)])
def test_keras3_numbered_layers_without_bias(tmp_path, rnn_bias, dense_bias):
    path = tmp_path / "k3.hdf5"
    w = write_keras3(path, rnn_bias=rnn_bias, dense_bias=dense_bias)
    spec = import_model(path, tmp_path / "k3.yaml", dt=1e-3).spec
    np.testing.assert_array_equal(spec.w, w["recurrent_kernel"].astype(float).T)
    np.testing.assert_array_equal(spec.w_in, w["kernel"].astype(float).T)
    np.testing.assert_array_equal(spec.bias, w["bias"].astype(float) if rnn_bias else np.zeros(4))
    np.testing.assert_array_equal(spec.w_out, w["dense_kernel"].astype(float).T)
    np.testing.assert_array_equal(spec.b_out, w["dense_bias"].astype(float) if dense_bias else np.zeros(2))
    src = spec.provenance["source"]
    assert src["layout"] == "keras3-hdf5" and src["layers"] == ["InputLayer", "SimpleRNN", "Dense"]
    assert src["datasets"]["w"] == "model_weights/simple_rnn_1/sequential_2/simple_rnn_1/simple_rnn_cell/recurrent_kernel"
    assert ("bias" in src["datasets"]) is rnn_bias and ("b_out" in src["datasets"]) is dense_bias
    assert spec.provenance["mapping"]["recurrent_bias"] is rnn_bias
    assert spec.t_stop == pytest.approx(30e-3)
    # Keras: h[t] = tanh(x[t] @ kernel + h[t-1] @ recurrent_kernel (+ bias)); y = h @ dense_kernel (+ bias)
    x = np.random.default_rng(0).standard_normal((9, 1))
    h, ys = np.zeros(4), []
    for t in range(9):
        h = np.tanh(x[t] @ w["kernel"].astype(float) + h @ w["recurrent_kernel"].astype(float)
                    + (w["bias"] if rnn_bias else 0))
        ys.append(h @ w["dense_kernel"].astype(float) + (w["dense_bias"] if dense_bias else 0))
    y = run_discrete(spec, x) @ spec.w_out.T + spec.b_out
    np.testing.assert_allclose(y, np.array(ys), rtol=1e-12, atol=1e-12)


def test_keras2_numbered_layers_without_bias(tmp_path):
    """Keras 2 names (simple_rnn_3/simple_rnn_3/kernel:0, dense_7/...), no bias anywhere."""
    rng = np.random.default_rng(6)
    kernel, rk, dk = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3), (3, 3), (3, 1)))
    path = tmp_path / "k2.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        layers = [{"class_name": "SimpleRNN", "config": {"name": "simple_rnn_3", "units": 3, "use_bias": False,
                                                         "activation": "tanh", "batch_input_shape": [None, 12, 2]}},
                  {"class_name": "Dense", "config": {"name": "dense_7", "units": 1, "use_bias": False,
                                                     "activation": "linear"}}]
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": "sequential_4",
                                                                                    "layers": layers}}).encode()
        root = f.create_group("model_weights")
        g = root.create_group("simple_rnn_3").create_group("simple_rnn_3")
        g["kernel:0"], g["recurrent_kernel:0"] = kernel, rk
        root.create_group("dense_7").create_group("dense_7")["kernel:0"] = dk
    spec = import_model(path, tmp_path / "k2.yaml", dt=1e-3).spec
    np.testing.assert_array_equal(spec.w, rk.astype(float).T)
    np.testing.assert_array_equal(spec.w_out, dk.astype(float).T)
    assert not np.any(spec.bias) and not np.any(spec.b_out)
    assert spec.provenance["source"]["layout"] == "keras2-hdf5"
    assert spec.provenance["source"]["datasets"]["w_out"] == "model_weights/dense_7/dense_7/kernel:0"
