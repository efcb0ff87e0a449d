"""Importers: the five shared Keras files, Keras 2 / PyTorch / NPZ files made here with known
weights, output safety, and the `rnn2spice import` command line."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from rnn2spice.cli.app import main
from rnn2spice.workflows.importers import (INLINE_MAX_NEURONS, MissingDependencyError, ModelError, import_model,
                                 read_model)
from rnn2spice.network.load import load_spec
from rnn2spice.workflows.stimulus import pulse_trials
from rnn2spice.workflows.task import run_discrete

from conftest import KERAS_DIR  # noqa: E402  (tests/data/keras-rnn, in the repository)
SHARED = {  # file: (recurrent bias?, sequence length recorded in the file)
    "dm_delayed_ortho_bias_gap0.hdf5": (True, 370),
    "dm_delayed_ortho_nobias_gap0.hdf5": (False, 300),
    "dm_delayed_normal_nobias_gap0.hdf5": (False, 370),
    "dm_long_short_ortho_nobias_gap0.hdf5": (False, 370),
    "dm_perceptual_ortho_nobias_0.hdf5": (False, 480),
}


def shared_file(name: str) -> Path:
    path = KERAS_DIR / name
    assert path.is_file(), (f"shared test data missing: {path}; the tests expect the read-only "
                            f"tests/data/keras-rnn directory of the repository ({KERAS_DIR})")
    return path


def h5_datasets(path: Path) -> dict:
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, np.array(obj)) if isinstance(obj, h5py.Dataset) else None)
    return found


def require_torch():
    """torch for the tests marked ``torch``: skipped without it, unless RNN2SPICE_REQUIRE_TORCH=1."""
    try:
        import torch
    except ImportError:
        if os.environ.get("RNN2SPICE_REQUIRE_TORCH"):
            pytest.fail("torch is required here (RNN2SPICE_REQUIRE_TORCH is set): pip install 'rnn2spice[torch]'")
        pytest.skip("torch not installed (pip install 'rnn2spice[torch]'); "
                    "set RNN2SPICE_REQUIRE_TORCH=1 to make this a failure")
    return torch


# --------------------------------------------------------------------------- shared Keras files

def test_shared_data_path_resolves():
    assert KERAS_DIR.is_dir(), f"shared data directory missing: {KERAS_DIR}"
    assert sorted(p.name for p in KERAS_DIR.glob("*.hdf5")) == sorted(SHARED)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_import_shared_keras_file(name, tmp_path):
    path = shared_file(name)
    has_bias, steps = SHARED[name]
    result = import_model(path, tmp_path / "net.yaml", dt=1e-3)
    spec = result.spec
    data = h5_datasets(path)
    cell = "model_weights/simple_rnn/sequential/simple_rnn/simple_rnn_cell/"
    dense = "model_weights/dense/sequential/dense/"
    assert (spec.n, spec.m) == (100, 1)
    assert spec.convention == "ctrnn" and spec.activation == "tanh"
    np.testing.assert_array_equal(spec.w, data[cell + "recurrent_kernel"].T)
    np.testing.assert_array_equal(spec.w_in, data[cell + "kernel"].T)
    np.testing.assert_array_equal(spec.bias, data[cell + "bias"] if has_bias else np.zeros(100))
    np.testing.assert_array_equal(spec.w_out, data[dense + "kernel"].T)
    np.testing.assert_array_equal(spec.b_out, data[dense + "bias"])
    np.testing.assert_array_equal(spec.tau, np.full(100, 1e-3))
    assert spec.t_stop == pytest.approx(steps * 1e-3)
    # matrices in an NPZ beside the spec, referenced by file and key
    assert result.npz_path == tmp_path / "net.npz" and result.npz_path.is_file()
    text = (tmp_path / "net.yaml").read_text()
    assert "{file: net.npz, key: W}" in text or "file: net.npz" in text
    with np.load(result.npz_path) as npz:
        assert set(npz.files) == {"W", "W_in", "w_out", "b_out"} | ({"b"} if has_bias else set())
    prov = spec.provenance
    assert prov["source"]["file"] == name
    assert prov["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert prov["source"]["format"] == "keras" and prov["source"]["layout"] == "keras3-hdf5"
    assert prov["mapping"]["dt"] == 1e-3 and prov["mapping"]["tau_from"] == "tau = dt"
    assert prov["mapping"]["recurrent_bias"] is has_bias
    assert "tanh(W h[k-1] + W_in x[k] + b)" in prov["mapping"]["discrete"]


@pytest.mark.parametrize("name", sorted(SHARED))
@pytest.mark.parametrize("value", [1.0, -1.0])
def test_imported_keras_network_solves_its_task(name, value, tmp_path):
    """A wrong transpose would not: the discrete network of the imported spec answers the pulse
    sign over the response window (numpy only, no ngspice)."""
    spec = import_model(shared_file(name), tmp_path / "net.yaml", dt=1e-3).spec
    stim = pulse_trials(value, delay=30, m=1)[0]
    y = run_discrete(spec, stim.x) @ spec.w_out.T + spec.b_out
    s, e = stim.window
    assert np.sign(y[s:e].mean()) == value and abs(y[s:e].mean() - value) < 0.1
    assert abs(y[e - 1, 0] - value) < 0.1


def test_default_input_is_a_pulse_and_tau_option(tmp_path):
    spec = import_model(shared_file("dm_delayed_ortho_bias_gap0.hdf5"), tmp_path / "a.yaml", dt=1e-3,
                        tau=2e-3, t_stop=0.1, name="custom").spec
    assert spec.name == "custom" and spec.t_stop == pytest.approx(0.1)
    np.testing.assert_array_equal(spec.tau, np.full(100, 2e-3))
    assert spec.provenance["mapping"]["tau_from"] == "--tau"
    # 100 steps: the default pulse is shortened to 10 steps from step 20 (1-step edges)
    wave = spec.inputs[0]
    assert wave.value(np.array([0.0195, 0.025, 0.0325]), spec.t_stop).tolist() == pytest.approx([0.0, 1.0, 0.0])
    full = import_model(shared_file("dm_delayed_ortho_bias_gap0.hdf5"), tmp_path / "b.yaml", dt=1e-3).spec
    assert full.inputs[0].value(np.array([0.0495, 0.06, 0.0725]), full.t_stop).tolist() == pytest.approx([0.0, 1.0, 0.0])


# --------------------------------------------------------------------------- Keras 2 layout

def write_keras2(path: Path, *, n=3, m=2, p=2, seed=1, dense=True, bias=True, full_model=True,
                 rnn_activation="tanh", dense_activation="linear", recurrent_shape=None, steps=50):
    """A Keras-2-style HDF5 file (names with ':0', no cell group) with known weights."""
    rng = np.random.default_rng(seed)
    w = {"kernel": rng.standard_normal((m, n)).astype(np.float32),
         "recurrent_kernel": rng.standard_normal(recurrent_shape or (n, n)).astype(np.float32),
         "bias": rng.standard_normal(n).astype(np.float32),
         "dense_kernel": rng.standard_normal((n, p)).astype(np.float32),
         "dense_bias": rng.standard_normal(p).astype(np.float32)}
    layers = [{"class_name": "SimpleRNN", "config": {"name": "simple_rnn_1", "units": n, "activation": rnn_activation,
                                                     "batch_input_shape": [None, steps, m]}}]
    if dense:
        layers.append({"class_name": "Dense", "config": {"name": "dense_1", "units": p, "activation": dense_activation}})
    with h5py.File(path, "w") as f:
        if full_model:
            f.attrs["keras_version"] = b"2.4.0"
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": layers}}).encode()
            root = f.create_group("model_weights")
        else:
            root = f
        g = root.create_group("simple_rnn_1").create_group("simple_rnn_1")
        g["kernel:0"] = w["kernel"]
        g["recurrent_kernel:0"] = w["recurrent_kernel"]
        if bias:
            g["bias:0"] = w["bias"]
        if dense:
            d = root.create_group("dense_1").create_group("dense_1")
            d["kernel:0"] = w["dense_kernel"]
            d["bias:0"] = w["dense_bias"]
        if full_model:  # optimizer state must be ignored
            f.create_group("optimizer_weights").create_group("Adam")["kernel:0"] = np.zeros((5, 5), np.float32)
    return w


@pytest.mark.parametrize("full_model", [True, False])
def test_keras2_layout_known_weights(tmp_path, full_model):
    path = tmp_path / "k2.h5"
    w = write_keras2(path, full_model=full_model)
    result = import_model(path, tmp_path / "k2.yaml", dt=2e-3)
    spec = result.spec
    np.testing.assert_array_equal(spec.w, w["recurrent_kernel"].astype(float).T)
    np.testing.assert_array_equal(spec.w_in, w["kernel"].astype(float).T)
    np.testing.assert_array_equal(spec.bias, w["bias"].astype(float))
    np.testing.assert_array_equal(spec.w_out, w["dense_kernel"].astype(float).T)
    np.testing.assert_array_equal(spec.b_out, w["dense_bias"].astype(float))
    np.testing.assert_array_equal(spec.tau, np.full(3, 2e-3))
    # small networks are written inline: no NPZ
    assert result.npz_path is None and not (tmp_path / "k2.npz").exists()
    src = spec.provenance["source"]
    assert src["layout"] == ("keras2-hdf5")
    assert src["datasets"]["w"].endswith("simple_rnn_1/simple_rnn_1/recurrent_kernel:0")
    if full_model:
        assert spec.t_stop == pytest.approx(50 * 2e-3) and src["keras_version"] == "2.4.0"
    else:
        assert spec.t_stop == pytest.approx(100 * 2e-3)  # DEFAULT_STEPS
    # the discrete map of the spec is Keras' h[t] = tanh(x[t] @ kernel + h[t-1] @ recurrent_kernel + bias)
    x = np.random.default_rng(0).standard_normal((7, 2))
    h = np.zeros(3)
    expect = []
    for t in range(7):
        h = np.tanh(x[t] @ w["kernel"].astype(float) + h @ w["recurrent_kernel"].astype(float) + w["bias"])
        expect.append(h)
    np.testing.assert_allclose(run_discrete(spec, x), np.array(expect), rtol=1e-12, atol=1e-14)


def test_keras_without_dense_or_bias(tmp_path):
    path = tmp_path / "k.h5"
    write_keras2(path, dense=False, bias=False)
    spec = import_model(path, tmp_path / "k.yaml", dt=1e-3).spec
    assert spec.w_out is None and not np.any(spec.bias)
    assert spec.provenance["mapping"]["recurrent_bias"] is False


@pytest.mark.parametrize("kwargs, words", [
    ({"recurrent_shape": (3, 12)}, ["recurrent_kernel", "(3, 12)", "LSTM"]),
    ({"rnn_activation": "relu"}, ["activation", "relu"]),
    ({"dense_activation": "sigmoid"}, ["Dense.activation", "sigmoid", "linear readout"]),
])
def test_keras_unsupported_models(tmp_path, kwargs, words):
    path = tmp_path / "bad.h5"
    write_keras2(path, **kwargs)
    with pytest.raises(ModelError) as info:
        read_model(path)
    for word in words:
        assert word in str(info.value)


def test_keras_two_recurrent_layers_and_no_rnn(tmp_path):
    path = tmp_path / "two.h5"
    write_keras2(path)
    with h5py.File(path, "a") as f:
        g = f["model_weights"].create_group("simple_rnn_2").create_group("simple_rnn_2")
        g["kernel:0"] = np.zeros((3, 3), np.float32)
        g["recurrent_kernel:0"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ModelError, match="2 recurrent layers"):
        read_model(path)
    path = tmp_path / "dense_only.h5"
    with h5py.File(path, "w") as f:
        f.create_group("model_weights").create_group("dense").create_group("dense")["kernel:0"] = np.zeros((3, 1))
    with pytest.raises(ModelError, match="recurrent_kernel"):
        read_model(path)


# --------------------------------------------------------------------------- NPZ

def test_npz_known_weights_and_tau(tmp_path):
    rng = np.random.default_rng(5)
    W, U, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 2)), rng.standard_normal(4)
    w_out, tau = rng.standard_normal(4), np.array([1e-3, 2e-3, 3e-3, 4e-3])
    np.savez(tmp_path / "net.npz", W=W, U=U, b=b, w_out=w_out, b_out=np.float64(0.25), tau=tau)
    spec = import_model(tmp_path / "net.npz", tmp_path / "spec.yaml", dt=1e-3).spec
    np.testing.assert_array_equal(spec.w, W)
    np.testing.assert_array_equal(spec.w_in, U)
    np.testing.assert_array_equal(spec.bias, b)
    np.testing.assert_array_equal(spec.w_out, w_out[None, :])
    np.testing.assert_array_equal(spec.b_out, [0.25])
    np.testing.assert_array_equal(spec.tau, tau)
    assert spec.provenance["mapping"]["tau_from"] == "the model file"
    assert spec.provenance["source"]["format"] == "npz"
    spec2 = import_model(tmp_path / "net.npz", tmp_path / "spec2.yaml", dt=1e-3, tau=5e-3).spec
    np.testing.assert_array_equal(spec2.tau, np.full(4, 5e-3))


def test_npz_w_in_alias_and_large_network_goes_to_npz(tmp_path):
    n = INLINE_MAX_NEURONS + 2
    rng = np.random.default_rng(6)
    W, W_in = rng.standard_normal((n, n)) / n, rng.standard_normal((n, 1))
    np.savez(tmp_path / "big.npz", W=W, W_in=W_in)
    result = import_model(tmp_path / "big.npz", tmp_path / "bigspec.yaml", dt=1e-3)
    assert result.npz_path == tmp_path / "bigspec.npz"
    np.testing.assert_array_equal(load_spec(tmp_path / "bigspec.yaml").w, W)
    np.testing.assert_array_equal(result.spec.w_in, W_in)
    assert result.spec.w_out is None


@pytest.mark.parametrize("arrays, words", [
    ({"W": np.eye(2), "U": np.ones((2, 1)), "W_in": np.ones((2, 1))}, ["U and W_in"]),
    ({"W": np.eye(2), "Wrec": np.eye(2)}, ["Wrec", "unknown key", "allowed"]),
    ({"U": np.ones((2, 1))}, ["'W'", "required"]),
    ({"W": np.ones((2, 3))}, ["W", "(2, 3)", "square"]),
    ({"W": np.array([[1.0, np.nan], [0.0, 1.0]])}, ["W[0][1]", "finite"]),
    ({"W": np.eye(2), "b": np.ones(3)}, ["b", "(3,)"]),
    ({"W": np.eye(2), "tau": np.array(-1.0)}, ["tau", "positive"]),
])
def test_npz_bad_archives(tmp_path, arrays, words):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelError) as info:
        read_model(tmp_path / "bad.npz")
    for word in words:
        assert word in str(info.value)


# --------------------------------------------------------------------------- PyTorch

@pytest.mark.torch
def test_torch_state_dict_matches_torch_forward(tmp_path):
    torch = require_torch()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.RNN(2, 5, batch_first=True)
            self.fc = torch.nn.Linear(5, 1)

        def forward(self, x):
            return self.fc(self.rnn(x)[0])

    torch.manual_seed(0)
    net = Net().double()
    torch.save(net.state_dict(), tmp_path / "net.pt")
    spec = import_model(tmp_path / "net.pt", tmp_path / "net.yaml", dt=1e-3).spec
    sd = net.state_dict()
    np.testing.assert_array_equal(spec.w, sd["rnn.weight_hh_l0"].numpy())
    np.testing.assert_array_equal(spec.w_in, sd["rnn.weight_ih_l0"].numpy())
    np.testing.assert_array_equal(spec.bias, (sd["rnn.bias_ih_l0"] + sd["rnn.bias_hh_l0"]).numpy())
    assert spec.provenance["source"]["format"] == "torch"
    assert spec.provenance["source"]["datasets"]["w_out"] == "fc.weight"
    x = np.random.default_rng(1).standard_normal((40, 2))
    with torch.no_grad():
        expect = net(torch.from_numpy(x)[None])[0].numpy()
    y = run_discrete(spec, x) @ spec.w_out.T + spec.b_out
    np.testing.assert_allclose(y, expect, rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_torch_bare_rnn_checkpoint_and_refusals(tmp_path):
    torch = require_torch()
    torch.manual_seed(1)
    rnn = torch.nn.RNN(1, 4, bias=False)
    torch.save({"epoch": 3, "model_state_dict": rnn.state_dict()}, tmp_path / "ckpt.pth")
    spec = import_model(tmp_path / "ckpt.pth", tmp_path / "c.yaml", dt=1e-3).spec
    np.testing.assert_array_equal(spec.w, rnn.state_dict()["weight_hh_l0"].numpy())
    assert spec.w_out is None and not np.any(spec.bias)
    torch.save(torch.nn.RNN(1, 4, num_layers=2).state_dict(), tmp_path / "two.pt")
    with pytest.raises(ModelError, match="single-layer"):
        read_model(tmp_path / "two.pt")
    torch.save(torch.nn.LSTM(1, 4).state_dict(), tmp_path / "lstm.pt")
    with pytest.raises(ModelError, match="LSTM"):
        read_model(tmp_path / "lstm.pt")
    torch.save(rnn, tmp_path / "module.pt")  # a pickled module, not a state_dict
    with pytest.raises(ModelError, match="state_dict") as info:
        read_model(tmp_path / "module.pt")
    # torch's own text advises weights_only=False (running the file's code): never passed on
    assert "torch.nn.modules.rnn.RNN" in str(info.value) and "weights_only" not in str(info.value)


@pytest.mark.torch
def test_torch_parameters_saved_as_a_dict_are_read_with_and_without_torch(tmp_path, monkeypatch):
    # torch.save(dict(model.named_parameters())) pickles nn.Parameter, not plain tensors
    torch = require_torch()
    torch.manual_seed(2)
    rnn = torch.nn.RNN(2, 3)
    torch.save(dict(rnn.named_parameters()), tmp_path / "params.pt")
    with_torch = import_model(tmp_path / "params.pt", tmp_path / "a.yaml", dt=1e-3).spec
    monkeypatch.setitem(sys.modules, "torch", None)  # the restricted reader
    without = import_model(tmp_path / "params.pt", tmp_path / "b.yaml", dt=1e-3).spec
    for spec in (with_torch, without):
        np.testing.assert_array_equal(spec.w, rnn.weight_hh_l0.detach().numpy())
        np.testing.assert_array_equal(spec.w_in, rnn.weight_ih_l0.detach().numpy())


def test_torch_missing_gives_install_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    (tmp_path / "net.pt").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(MissingDependencyError, match=r"pip install 'rnn2spice\[torch\]'"):
        read_model(tmp_path / "net.pt", "torch")
    assert main(["import", str(tmp_path / "net.pt"), "--format", "torch", "--dt", "1e-3",
                 "-o", str(tmp_path / "n.yaml")]) == 2
    assert "rnn2spice[torch]" in capsys.readouterr().err
    assert not (tmp_path / "n.yaml").exists()


# --------------------------------------------------------------------------- outputs and CLI

def test_failed_import_leaves_existing_files(tmp_path):
    out = tmp_path / "spec.yaml"
    out.write_text("keep me\n")
    (tmp_path / "bad.h5").write_bytes(b"not hdf5 at all")
    assert main(["import", str(tmp_path / "bad.h5"), "--dt", "1e-3", "-o", str(out)]) == 2
    assert out.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.h5", "spec.yaml"]


def test_matrices_would_overwrite_the_model(tmp_path, capsys):
    n = INLINE_MAX_NEURONS + 1
    np.savez(tmp_path / "net.npz", W=np.eye(n) * 0.5)
    before = (tmp_path / "net.npz").read_bytes()
    assert main(["import", str(tmp_path / "net.npz"), "--dt", "1e-3", "-o", str(tmp_path / "net.yaml")]) == 2
    assert "model file" in capsys.readouterr().err
    assert (tmp_path / "net.npz").read_bytes() == before and not (tmp_path / "net.yaml").exists()


def test_cli_import_writes_spec(tmp_path, capsys):
    model = shared_file("dm_delayed_ortho_bias_gap0.hdf5")
    assert main(["import", str(model), "--dt", "1e-3", "-o", str(tmp_path / "dm.yaml")]) == 0
    err = capsys.readouterr().err
    assert "wrote" in err and "n = 100" in err and "dm.npz" in err
    assert load_spec(tmp_path / "dm.yaml").provenance["source"]["file"] == model.name


@pytest.mark.parametrize("argv, words", [
    (["--dt", "abc"], ["--dt", "'abc'"]),
    (["--dt=-1e-3"], ["--dt", "'-1e-3'", "positive"]),
    (["--dt", "-0.001"], ["--dt", "'-0.001'", "positive"]),
    (["--dt", "0"], ["--dt", "'0'"]),
    (["--dt", "nan"], ["--dt", "'nan'"]),
    (["--dt", "1e-3", "--tau", "-2"], ["--tau", "'-2'"]),
    (["--dt", "1e-3", "--t-stop", "inf"], ["--t-stop", "'inf'"]),
    (["--dt", "1e-3", "--name", "9bad name"], ["--name", "9bad name"]),
    (["--dt", "1e-3", "--format", "onnx"], ["--format", "onnx"]),
    (["--dt", "1e-3", "--format", "npz"], ["cannot read as an NPZ", "dm_delayed_ortho_bias_gap0.hdf5"]),
    ([], ["--dt"]),
])
def test_cli_import_bad_options(tmp_path, capsys, argv, words):
    model = shared_file("dm_delayed_ortho_bias_gap0.hdf5")
    assert main(["import", str(model), "-o", str(tmp_path / "x.yaml"), *argv]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "x.yaml").exists()


def test_cli_import_bad_files(tmp_path, capsys):
    assert main(["import", str(tmp_path / "missing.h5"), "--dt", "1e-3", "-o", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert "model" in err and "missing.h5" in err and "not found" in err
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["import", str(tmp_path / "notes.txt"), "--dt", "1e-3", "-o", str(tmp_path / "x.yaml")]) == 2
    assert "unknown model format" in capsys.readouterr().err
    model = shared_file("dm_delayed_ortho_bias_gap0.hdf5")
    assert main(["import", str(model), "--dt", "1e-3", "-o", str(tmp_path / "nodir" / "x.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["import", str(model), "--dt", "1e-3", "-o", str(tmp_path / "x.json")]) == 2
    assert ".yaml" in capsys.readouterr().err


@pytest.mark.ngspice
def test_check_reports_and_plots_the_readout(tmp_path, capsys):
    path = tmp_path / "k2.h5"
    write_keras2(path, n=3, m=2, p=2, steps=20)
    assert main(["import", str(path), "--dt", "1e-3", "-o", str(tmp_path / "k2.yaml")]) == 0
    assert main(["check", str(tmp_path / "k2.yaml"), "-v", "--report", str(tmp_path / "r.json"),
                 "--plot", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    assert "readout y = w_out h + b_out (2 output(s))" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["readout"]["outputs"] == 2
    assert report["readout"]["max_abs_error"] < 1e-3
    assert report["readout"]["max_abs_reference"] > 0.1
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
