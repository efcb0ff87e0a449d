"""A trained 100-neuron Keras network as a tanh circuit (THEORY.md 4), read with h5py here
independently of the importer: 20 ms with a pulse input, relative error <= 1e-3."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import KERAS_DIR
from rnn2spice.workflows.pipeline import check
from rnn2spice.network.spec import spec_from_dict


def read_keras(path):
    found = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                found[name] = np.array(obj)
        f.visititems(visit)
    def pick(suffix, layer):
        return next(v for k, v in found.items() if layer in k and k.split("/")[-1].split(":")[0] == suffix)
    return pick("kernel", "simple_rnn"), pick("recurrent_kernel", "simple_rnn"), \
        next((v for k, v in found.items() if "simple_rnn" in k and k.split("/")[-1].split(":")[0] == "bias"), None)


@pytest.mark.ngspice
@pytest.mark.parametrize("form", ["parallel", "series"])
def test_trained_keras_network_with_pulse(form):
    path = KERAS_DIR / "dm_delayed_ortho_bias_gap0.hdf5"
    assert path.exists(), f"shared test data missing: {path}"
    kernel, recurrent, bias = read_keras(path)
    n = recurrent.shape[0]
    assert n == 100 and bias is not None
    spec = spec_from_dict({
        "name": "keras-dm", "convention": "ctrnn", "activation": "tanh", "tau": 1e-3,
        "w": recurrent.T.tolist(), "w_in": kernel.T.tolist(), "bias": bias.tolist(), "t_stop": 20e-3,
        "inputs": [{"kind": "pulse", "low": 0, "high": 1, "delay": 2e-3, "rise": 2e-4, "fall": 2e-4,
                    "width": 5e-3, "period": 1.0}],
    })
    result = check(spec, form=form)
    assert result.comparison.rel_max_error <= 1e-3, result.report()
    # the pulse really moves the network: not a trivially quiet trajectory
    assert np.max(np.abs(result.reference)) > 0.1
