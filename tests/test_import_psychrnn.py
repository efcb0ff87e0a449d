"""PsychRNN weights files: effective weights, Dale's law, the rate update, restricted unpickling.

The files are written here in PsychRNN's layout (``RNN.save`` = ``np.savez(**get_weights())``):
the effective W_rec / W_in / W_out (or raw ones: the importer applies the masks and Dale's law
again), the masks, Dale_rec / Dale_out, Adam slots, ``dale_ratio`` pickled as an object array
and ``transfer_function`` pickled as a reference to ``tensorflow.python.ops.gen_nn_ops.relu``
(a stand-in module: TensorFlow is not needed, and the importer never imports it).

The network: two excitatory pools A (0-2) and B (3-5) with self-excitation, each driving its
own inhibitory neuron (6, 7) that inhibits the other pool: a winner-take-all decision between
input 0 and input 1.  Readout y = mean relu(A) - 1.2: about +1 when A wins, -1.2 when B wins.
dt = 10 ms, tau = 100 ms (PsychRNN's defaults): alpha = 0.1.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rnn2spice.cli.app import main
from rnn2spice.errors import ModelError, UsageError
from rnn2spice.network.spec import RnnSpec
from rnn2spice.workflows.importers import import_model, read_model
from rnn2spice.workflows.task import run_discrete

DT, TAU, ALPHA = 0.01, 0.1, 0.1
N, M, P = 8, 2, 1
POOL_A, POOL_B = [0, 1, 2], [3, 4, 5]
STEPS, WINDOW = 300, (200, 300)


def effective_network():
    w = np.zeros((N, N))
    for pool, inh in ((POOL_A, 6), (POOL_B, 7)):
        for i in pool:
            w[i, pool] = 0.25
            w[inh, i] = 0.6
    w[POOL_B, 6] = -1.5
    w[POOL_A, 7] = -1.5
    u = np.zeros((N, M))
    u[POOL_A, 0] = 1.0
    u[POOL_B, 1] = 1.0
    w_out = np.zeros((P, N))
    w_out[0, POOL_A] = 1.0 / 3.0
    return {"W_rec": w, "W_in": u, "W_out": w_out, "b_rec": np.full(N, 0.05), "b_out": np.array([-1.2]),
            "init_state": np.full((1, N), 0.1)}


def fake_transfer_function(monkeypatch, name="relu", module="tensorflow.python.ops.gen_nn_ops"):
    """A function that pickles as a reference to ``module.name`` (stand-in modules, no TensorFlow)."""
    parts = module.split(".")
    for i in range(1, len(parts) + 1):
        monkeypatch.setitem(sys.modules, ".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))

    def f(x):
        return x

    f.__module__, f.__name__, f.__qualname__ = module, name, name
    setattr(sys.modules[module], name, f)
    return f


def write_psychrnn(path: Path, monkeypatch, *, dale_ratio=0.75, store_effective=True, transfer="relu",
                   pickled_ratio=True, seed=0, drop=(), extra=None):
    """A PsychRNN weights file whose effective network is :func:`effective_network`.

    The raw weights differ from the effective ones where PsychRNN's maps hide it: random
    signs (with Dale's law, |.| removes them) and junk where a connectivity mask is 0."""
    rng = np.random.default_rng(seed)
    eff = effective_network()
    dale = bool(dale_ratio)
    vec = np.ones(N)
    if dale_ratio is not None:
        vec[int(dale_ratio * N):] = -1.0
    dale_rec = np.diag(vec)
    dale_out = np.diag(np.where(vec > 0, 1.0, 0.0))
    masks = {"rec_connectivity": (eff["W_rec"] != 0).astype(float),
             "input_connectivity": (eff["W_in"] != 0).astype(float),
             "output_connectivity": np.ones((P, N))}
    masks["rec_connectivity"][0, 4] = 1.0  # connected, but trained to 0
    masks["output_connectivity"][0, POOL_B] = 0.0

    def raw(key, mask):
        signs = rng.choice([-1.0, 1.0], eff[key].shape) if dale else 1.0
        junk = rng.standard_normal(eff[key].shape) * (masks[mask] == 0)
        return eff[key] * signs + junk

    arrays = {"W_rec": raw("W_rec", "rec_connectivity"), "W_in": raw("W_in", "input_connectivity"),
              "W_out": raw("W_out", "output_connectivity"), "b_rec": eff["b_rec"], "b_out": eff["b_out"],
              "init_state": eff["init_state"], "Dale_rec": dale_rec, "Dale_out": dale_out, **masks}
    if dale:  # inhibitory neurons' readout weights are removed by Dale_out, whatever they are
        arrays["W_out"][0, 6:] = rng.standard_normal(2) * masks["output_connectivity"][0, 6:]
    if store_effective:  # what RNN.get_weights stores
        w = arrays["W_rec"] * masks["rec_connectivity"]
        u = arrays["W_in"] * masks["input_connectivity"]
        o = arrays["W_out"] * masks["output_connectivity"]
        if dale:
            w, u, o = np.abs(w) @ dale_rec, np.abs(u), np.abs(o) @ dale_out
        arrays.update(W_rec=w, W_in=u, W_out=o)
    for key in ("W_rec", "W_in", "W_out", "b_rec", "b_out", "init_state"):
        arrays[f"{key}/Adam"] = np.zeros_like(arrays[key])
        arrays[f"{key}/Adam_1"] = np.ones_like(arrays[key])
    arrays["dale_ratio"] = np.array(dale_ratio, dtype=object) if pickled_ratio else dale_ratio
    if transfer is not None:
        arrays["transfer_function"] = np.array(fake_transfer_function(monkeypatch, transfer), dtype=object)
    for key in drop:
        arrays.pop(key)
    arrays.update(extra or {})
    np.savez(path, **arrays)
    return arrays


def psychrnn_forward(arrays: dict, x: np.ndarray, dale: bool):
    """PsychRNN's Basic.forward_pass (models/basic.py) on the raw arrays, noise 0, relu."""
    w = arrays["W_rec"] * arrays["rec_connectivity"]
    u = arrays["W_in"] * arrays["input_connectivity"]
    o = arrays["W_out"] * arrays["output_connectivity"]
    if dale:
        w, u, o = np.abs(w) @ arrays["Dale_rec"], np.abs(u), np.abs(o) @ arrays["Dale_out"]
    relu = lambda z: np.maximum(z, 0.0)  # noqa: E731
    state = arrays["init_state"]  # (1, N): batch of one, row vectors as in TensorFlow
    states, outputs = [], []
    for k in range(x.shape[0]):
        state = (1 - ALPHA) * state + ALPHA * (relu(state) @ w.T + x[k][None] @ u.T + arrays["b_rec"])
        states.append(state[0])
        outputs.append((relu(state) @ o.T + arrays["b_out"])[0])
    return np.array(states), np.array(outputs)


def stimuli(coherence=0.2):
    """Two trials: input 0 stronger (A wins), input 1 stronger (B wins), from step 30."""
    out = np.zeros((2, STEPS, M))
    for trial, c in enumerate((coherence, -coherence)):
        out[trial, 30:, 0] = 0.5 + c
        out[trial, 30:, 1] = 0.5 - c
    return out


def rate_spec(net, dt=DT, tau=TAU) -> RnnSpec:
    """The RnnSpec of an imported rate network, built directly (not through spec validation)."""
    return RnnSpec(name="psy", tau=np.full(net.n, tau), w=net.w, w_in=net.w_in, inputs=(), t_stop=STEPS * dt,
                   convention="rate", activation=net.activation, bias=net.bias, h0=net.h0, w_out=net.w_out,
                   b_out=net.b_out, provenance={"mapping": {"dt": dt}})


def decision(mean, dead_zone=0.5):
    return 0 if abs(mean) < dead_zone else int(np.sign(mean))


# --------------------------------------------------------------------------- reading

DALE_CASES = [
    pytest.param({"dale_ratio": 0.75}, True, id="dale-pickled"),
    pytest.param({"dale_ratio": 0.75, "pickled_ratio": False}, True, id="dale-float"),
    pytest.param({"dale_ratio": 0.75, "store_effective": False}, True, id="dale-raw-weights"),
    pytest.param({"dale_ratio": None}, False, id="no-dale"),
    pytest.param({"dale_ratio": None, "store_effective": False}, False, id="no-dale-raw-weights"),
    pytest.param({"dale_ratio": 0.0, "pickled_ratio": False}, False, id="dale-ratio-0-is-off"),
    pytest.param({"dale_ratio": 0.75, "drop": ("dale_ratio",)}, False, id="old-file-without-dale_ratio"),
]


@pytest.mark.parametrize("kwargs, dale", DALE_CASES)
def test_effective_weights(tmp_path, monkeypatch, kwargs, dale):
    path = tmp_path / "psy.npz"
    arrays = write_psychrnn(path, monkeypatch, **kwargs)
    net = read_model(path)  # detected: W_rec, W_in, W_out
    assert (net.format, net.convention, net.activation) == ("psychrnn", "rate", "relu")
    w = arrays["W_rec"] * arrays["rec_connectivity"]
    u = arrays["W_in"] * arrays["input_connectivity"]
    o = arrays["W_out"] * arrays["output_connectivity"]
    if dale:
        w, u, o = np.abs(w) @ arrays["Dale_rec"], np.abs(u), np.abs(o) @ arrays["Dale_out"]
    np.testing.assert_array_equal(net.w, w)
    np.testing.assert_array_equal(net.w_in, u)
    np.testing.assert_array_equal(net.w_out, o)
    np.testing.assert_array_equal(net.h0, arrays["init_state"][0])
    np.testing.assert_array_equal(net.bias, arrays["b_rec"])
    d = net.details["dale"]
    assert d["applied"] is dale
    ratio = kwargs["dale_ratio"]
    n_e = N if ratio is None else int(ratio * N)  # PsychRNN builds Dale_rec from dale_ratio even when 0
    assert d["Dale_rec"] == {"excitatory (+1)": n_e, "inhibitory (-1)": N - n_e, "diagonal": True}
    if dale or kwargs.get("store_effective", True) or ratio is None:
        eff = effective_network()  # raw weights without Dale's law keep their junk only where masked
        np.testing.assert_allclose(net.w, eff["W_rec"], atol=0)
        np.testing.assert_allclose(net.w_in, eff["W_in"], atol=0)
        assert d["effective_W"]["obeys"] and (d["effective_W"]["excitatory"], d["effective_W"]["inhibitory"]) == (6, 2)
    assert net.details["stored_weights_effective"]["W_rec"] is kwargs.get("store_effective", True)
    assert net.details["ignored_keys"]["count"] == 12 and "W_rec/Adam" in net.details["ignored_keys"]["first"]
    assert net.details["transfer_function"] == "tensorflow.python.ops.gen_nn_ops.relu"


def test_discrete_model_is_psychrnn_update(tmp_path, monkeypatch):
    """run_discrete of a rate spec is PsychRNN's update, x[-1] = init_state; readout on relu(x)."""
    for kwargs, dale in ((dict(dale_ratio=0.75, store_effective=False), True), (dict(dale_ratio=None), False)):
        path = tmp_path / f"psy{dale}.npz"
        arrays = write_psychrnn(path, monkeypatch, **kwargs)
        spec = rate_spec(read_model(path))
        for x in stimuli():
            states, outputs = psychrnn_forward(arrays, x, dale)
            got = run_discrete(spec, x, DT)
            np.testing.assert_allclose(got, states, rtol=1e-12, atol=1e-14)
            y = np.maximum(got, 0) @ spec.w_out.T + spec.b_out
            np.testing.assert_allclose(y, outputs, rtol=1e-12, atol=1e-14)
        # dt from the provenance when not given
        np.testing.assert_array_equal(run_discrete(spec, stimuli()[0]), run_discrete(spec, stimuli()[0], DT))


@pytest.mark.parametrize("name, activation", [("tanh", "tanh"), ("sigmoid", "sigmoid"), ("softplus", "softplus")])
def test_transfer_function_names_the_activation(tmp_path, monkeypatch, name, activation):
    write_psychrnn(tmp_path / "p.npz", monkeypatch, transfer=name)
    net = read_model(tmp_path / "p.npz")
    assert net.activation == activation and net.details["activation_from"].endswith(name)
    assert read_model(tmp_path / "p.npz", activation="relu").activation == "relu"  # --activation wins


def test_no_transfer_function_is_relu_and_unknown_needs_the_option(tmp_path, monkeypatch):
    write_psychrnn(tmp_path / "p.npz", monkeypatch, transfer=None)
    net = read_model(tmp_path / "p.npz")
    assert net.activation == "relu" and "default" in net.details["activation_from"]
    write_psychrnn(tmp_path / "q.npz", monkeypatch, transfer="my_custom_gelu")
    with pytest.raises(ModelError) as info:
        read_model(tmp_path / "q.npz")
    assert "transfer_function" in str(info.value) and "my_custom_gelu" in str(info.value)
    assert "--activation" in str(info.value)
    assert read_model(tmp_path / "q.npz", activation="tanh").activation == "tanh"


@pytest.mark.parametrize("kwargs, words", [
    ({"drop": ("W_out",), "extra": {}}, None),  # detected as npz then: see below
    ({"extra": {"Dale_rec": np.eye(3)}}, ["Dale_rec", "(3, 3)", "(8, 8)"]),
    ({"extra": {"rec_connectivity": np.ones((8, 7))}}, ["rec_connectivity", "(8, 7)"]),
    ({"extra": {"W_in": np.ones((7, 2))}}, ["W_in", "(7, 2)", "N_rec"]),
    ({"extra": {"init_state": np.ones((1, 5))}}, ["init_state", "(1, 5)"]),
    ({"extra": {"dale_ratio": np.array(1.5, dtype=object)}}, ["dale_ratio", "1.5", "between 0 and 1"]),
    ({"extra": {"dale_ratio": np.array("half", dtype=object)}}, ["dale_ratio", "'half'", "None or a finite number"]),
    ({"extra": {"b_rec": np.array([np.nan] * 8)}}, ["b_rec[0]", "nan", "finite"]),
    ({"extra": {"W_rec": np.ones((8, 8), dtype=complex)}}, ["W_rec", "complex", "real"]),
])
def test_bad_files_name_the_field(tmp_path, monkeypatch, kwargs, words):
    path = tmp_path / "bad.npz"
    write_psychrnn(path, monkeypatch, **kwargs)
    with pytest.raises(ModelError) as info:
        read_model(path, "psychrnn")
    if words is None:
        words = ["W_out", "required", "PsychRNN"]
    for word in words:
        assert word in str(info.value), str(info.value)


def test_options_that_contradict_the_format(tmp_path, monkeypatch):
    path = tmp_path / "p.npz"
    write_psychrnn(path, monkeypatch)
    with pytest.raises(UsageError, match="rate network"):
        read_model(path, convention="ctrnn")
    with pytest.raises(UsageError, match="--activation"):
        read_model(path, activation="gelu")
    with pytest.raises(UsageError, match="--tau is required"):
        import_model(path, tmp_path / "p.yaml", dt=DT)
    assert not (tmp_path / "p.yaml").exists()


# --------------------------------------------------------------------------- restricted unpickling

def npy_bytes(payload: bytes) -> bytes:
    """A .npy of a 0-d object array whose pickle is ``payload``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": ()})
    return buf.getvalue() + payload


def hostile_pickle(marker: Path, module=b"os", name=b"system") -> bytes:
    """Protocol 2: ``module.name(f'touch {marker}')`` (GLOBAL, a string, TUPLE1, REDUCE)."""
    cmd = f"touch {marker}".encode()
    return (b"\x80\x02c" + module + b"\n" + name + b"\n" + b"X" + len(cmd).to_bytes(4, "little") + cmd
            + b"\x85R.")


@pytest.mark.parametrize("member", ["dale_ratio", "transfer_function"])
@pytest.mark.parametrize("module, name", [(b"os", b"system"), (b"posix", b"system"), (b"builtins", b"exec")])
def test_hostile_pickle_is_refused_not_run(tmp_path, monkeypatch, capsys, member, module, name):
    import pickletools

    marker = tmp_path / "pwned"
    payload = hostile_pickle(marker, module, name)
    pickletools.dis(payload, out=io.StringIO())  # well-formed: the refusal is not a parse error
    path = tmp_path / "psy.npz"
    write_psychrnn(path, monkeypatch, drop=(member,))
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(f"{member}.npy", npy_bytes(payload))
    with pytest.raises(ModelError) as info:
        read_model(path)
    text = str(info.value)
    assert member in text and f"{module.decode()}.{name.decode()}" in text and "refused" in text, text
    assert not marker.exists()
    out = tmp_path / "p.yaml"
    assert main(["import", str(path), "--dt", str(DT), "--tau", str(TAU), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "Traceback" not in err
    assert not marker.exists() and not out.exists()


def test_pickled_reference_as_an_item_is_a_name_only(tmp_path, monkeypatch):
    """A reference without a call (builtins.eval as the transfer function) is only a name."""
    path = tmp_path / "psy.npz"
    write_psychrnn(path, monkeypatch, transfer=None)
    ok = np.array(fake_transfer_function(monkeypatch, "eval", "builtins_stand_in"), dtype=object)
    np.savez(tmp_path / "one.npz", transfer_function=ok)
    with zipfile.ZipFile(tmp_path / "one.npz") as src, zipfile.ZipFile(path, "a") as zf:
        zf.writestr("transfer_function.npy", src.read("transfer_function.npy"))
    with pytest.raises(ModelError, match="builtins_stand_in.eval"):
        read_model(path)


# --------------------------------------------------------------------------- spec, continuous model, circuit
# These need the `rate` spec convention (network/spec.py, analysis/reference.py, network/readout.py).

def import_spec(tmp_path, monkeypatch, **kwargs):
    path = tmp_path / "psy.npz"
    write_psychrnn(path, monkeypatch, **kwargs)
    return import_model(path, tmp_path / "psy.yaml", dt=DT, tau=TAU).spec


def test_import_writes_a_rate_spec(tmp_path, monkeypatch, capsys):
    path = tmp_path / "psy.npz"
    write_psychrnn(path, monkeypatch)
    assert main(["import", str(path), "--dt", str(DT), "--tau", str(TAU), "-o", str(tmp_path / "psy.yaml")]) == 0
    err = capsys.readouterr().err
    assert "psychrnn (psychrnn-npz) -> rate/relu" in err and "dale_ratio 0.75 (Dale's law applied)" in err
    assert "Dale's law: obeyed (6 E, 2 I)" in err
    from rnn2spice.network.load import load_spec

    spec = load_spec(tmp_path / "psy.yaml")
    assert (spec.convention, spec.activation) == ("rate", "relu")
    np.testing.assert_array_equal(spec.tau, np.full(N, TAU))
    np.testing.assert_array_equal(spec.h0, np.full(N, 0.1))
    mapping = spec.provenance["mapping"]
    assert mapping["alpha"] == pytest.approx(ALPHA) and mapping["dt"] == DT and mapping["tau_from"] == "--tau"
    assert "relu(x[k-1])" in mapping["discrete"] and "alpha" in mapping["discrete"]
    assert "tau dx/dt = -x + W relu(x)" in mapping["continuous"]
    assert mapping["readout"] == "y = w_out f(x) + b_out"
    src = spec.provenance["source"]
    assert src["format"] == "psychrnn" and src["dale"]["dale_ratio"] == 0.75
    assert src["dale"]["Dale_out"]["not to readout (0)"] == 2
    text = (tmp_path / "psy.yaml").read_text()
    assert "# Discrete network:  x[k] = (1 - alpha) x[k-1]" in text


def solve_ivp_rate(spec, sspec, grid):
    """The rate network tau dx/dt = -x + W f(x) + W_in u + b by scipy's RK45 (an independent check)."""
    from scipy.integrate import solve_ivp

    from rnn2spice.network.activations import ACTIVATIONS

    f = ACTIVATIONS[spec.activation].f

    def rhs(t, h):
        u = np.array([w.value(np.array([t]), sspec.t_stop)[0] for w in sspec.inputs])
        return (-h + spec.w @ f(h) + spec.w_in @ u + spec.bias) / spec.tau

    sol = solve_ivp(rhs, (0.0, grid[-1]), spec.h0, t_eval=grid, max_step=DT / 10, rtol=1e-9, atol=1e-12)
    return sol.y.T


@pytest.mark.parametrize("dale_ratio", [0.75, None])
def test_continuous_reference_reproduces_the_discrete_update(tmp_path, monkeypatch, dale_ratio):
    """alpha = 0.1: the forward-Euler update and the continuous network agree over the window
    (scipy's RK45 as an independent witness, then rnn2spice's reference)."""
    from rnn2spice.network.readout import readout
    from rnn2spice.workflows.pipeline import solve_reference
    from rnn2spice.workflows.stimulus import stimulus_spec

    spec = import_spec(tmp_path, monkeypatch, dale_ratio=dale_ratio, store_effective=False)
    grid = (np.arange(STEPS) + 1) * DT
    s, e = WINDOW
    decisions = []
    for x in stimuli():
        sspec = stimulus_spec(spec, x, DT)
        y_disc = readout(spec, run_discrete(spec, x, DT))
        y_ivp = readout(spec, solve_ivp_rate(spec, sspec, grid))
        assert np.max(np.abs(y_ivp[s:e] - y_disc[s:e])) < 0.01  # the mapping itself (measured 8e-4)
        y_ref = readout(spec, solve_reference(sspec, grid))
        assert np.max(np.abs(y_ref - y_ivp)) < 1e-3, "rnn2spice's reference differs from scipy's RK45"
        assert np.max(np.abs(y_ref[s:e] - y_disc[s:e])) < 0.05
        assert abs(y_ref[s:e].mean() - y_disc[s:e].mean()) < 0.05
        assert decision(y_ref[s:e].mean()) == decision(y_disc[s:e].mean())
        decisions.append(decision(y_disc[s:e].mean()))
    assert decisions == [1, -1]


@pytest.mark.ngspice
def test_task_through_the_circuit(tmp_path, monkeypatch, capsys):
    path = tmp_path / "psy.npz"
    write_psychrnn(path, monkeypatch)
    assert main(["import", str(path), "--dt", str(DT), "--tau", str(TAU), "-o", str(tmp_path / "psy.yaml")]) == 0
    np.save(tmp_path / "x.npy", stimuli())
    report = tmp_path / "task.json"
    assert main(["task", str(tmp_path / "psy.yaml"), "--stimulus", str(tmp_path / "x.npy"),
                 "--window", f"{WINDOW[0]}:{WINDOW[1]}", "--report", str(report)]) == 0, capsys.readouterr().err
    data = json.loads(report.read_text())
    assert data["passed"] and [t["spice"]["decision"] for t in data["trials"]] == [[1], [-1]]
    for trial in data["trials"]:
        assert trial["differences"]["spice_vs_discrete"]["mean"] < 0.05
        assert trial["differences"]["spice_vs_reference"]["max_trial"] < 0.05


def test_dataclass_copy_keeps_rate_fields(tmp_path, monkeypatch):
    """The task's stimulus spec (dataclasses.replace) keeps convention, h0 and activation."""
    write_psychrnn(tmp_path / "p.npz", monkeypatch)
    spec = rate_spec(read_model(tmp_path / "p.npz"))
    copy = dataclasses.replace(spec, t_stop=1.0)
    assert copy.convention == "rate" and copy.activation == "relu"
    np.testing.assert_array_equal(copy.h0, spec.h0)
