"""Importers: trained discrete-time RNNs -> rnn2spice specs (CTRNN, tanh).

Sources (one reader per format, each documented in its module)
--------------------------------------------------------------
``keras``
    Keras HDF5, one ``SimpleRNN`` (+ ``Dense``): :mod:`~rnn2spice.workflows.importers.keras`.
``torch``
    PyTorch ``state_dict``, one ``nn.RNN`` (+ ``nn.Linear``):
    :mod:`~rnn2spice.workflows.importers.pytorch`.
``npz``
    numpy ``.npz`` archive of the matrices: :mod:`~rnn2spice.workflows.importers.npz`.
``psychrnn``
    PsychRNN weights (``model.save``, an ``.npz`` with ``W_rec``, ``W_in``, ``W_out``, masks and
    Dale matrices), a rate network: :mod:`~rnn2spice.workflows.importers.psychrnn`.
``--keys``
    any state_dict or ``.npz`` with other names or orientations:
    :mod:`~rnn2spice.workflows.importers.mapping`; zip files are read without trusting their
    pickles (:mod:`~rnn2spice.workflows.importers.archive`).

:mod:`~rnn2spice.workflows.importers.network` holds :class:`ImportedNetwork` and the shared
constants and checks, :mod:`~rnn2spice.workflows.importers.detect` picks the reader and
:mod:`~rnn2spice.workflows.importers.spec_writer` builds and writes the spec.

Mapping (THEORY.md 1): the discrete network ``h[k] = tanh(W h[k-1] + W_in x[k] + b)`` with
step ``dt`` becomes the CTRNN ``tau dh/dt = -h + tanh(W h + W_in x + b)`` with
``tau = dt`` unless given.  Its forward-Euler step of size ``tau`` *is* the discrete map,
so the input sample ``x[k]`` is held over ``[k dt, (k+1) dt)`` and ``h[k]`` corresponds to
``h((k+1) dt)``.  The two models share their fixed points but not their transients
(see ``rnn2spice task`` for how closely their readouts agree).

The spec is YAML; matrices of networks with more than :data:`INLINE_MAX_NEURONS` neurons
go to ``<spec stem>.npz`` beside it.  Its default input is one rectangular pulse
(height 1, 20 steps wide, at step 50, edges of one step) on input 0 and 0 on the others,
so that ``rnn2spice check`` exercises the dynamics; ``rnn2spice task`` replaces the inputs
by its stimuli.
"""

from __future__ import annotations

from rnn2spice.errors import MissingDependencyError, ModelError, OutputError, UsageError
from rnn2spice.workflows.importers.detect import detect_format, read_model
from rnn2spice.workflows.importers.keras import read_keras
from rnn2spice.workflows.importers.mapping import KeyMapping, parse_keys
from rnn2spice.workflows.importers.network import (CONTINUOUS_EQ, DEFAULT_STEPS, DISCRETE_EQ, FORMATS, HDF5_MAGIC,
                                                   IMPORT_ACTIVATIONS, IMPORT_CONVENTIONS, INLINE_MAX_NEURONS,
                                                   LINEAR_CONTINUOUS_EQ, LINEAR_DISCRETE_EQ, NPZ_KEYS,
                                                   RATE_CONTINUOUS_EQ, RATE_DISCRETE_EQ, ImportedNetwork,
                                                   positive_seconds)
from rnn2spice.workflows.importers.psychrnn import read_psychrnn
from rnn2spice.workflows.importers.npz import read_npz
from rnn2spice.workflows.importers.pytorch import TORCH_INSTALL, read_torch
from rnn2spice.workflows.importers.spec_writer import (ImportResult, build_spec, default_inputs, default_name,
                                                       import_model, npz_bytes, sha256_file, spec_yaml)

__all__ = [
    # importing a model
    "import_model", "ImportResult", "read_model", "detect_format", "ImportedNetwork",
    # readers
    "read_keras", "read_torch", "read_npz", "read_psychrnn", "TORCH_INSTALL", "parse_keys", "KeyMapping",
    # building and writing the spec
    "build_spec", "spec_yaml", "npz_bytes", "default_inputs", "default_name", "sha256_file", "positive_seconds",
    # constants
    "FORMATS", "INLINE_MAX_NEURONS", "DEFAULT_STEPS", "NPZ_KEYS", "HDF5_MAGIC",
    "DISCRETE_EQ", "LINEAR_DISCRETE_EQ", "CONTINUOUS_EQ", "LINEAR_CONTINUOUS_EQ", "RATE_DISCRETE_EQ",
    "RATE_CONTINUOUS_EQ", "IMPORT_CONVENTIONS", "IMPORT_ACTIVATIONS",
    # errors raised by the importers (re-exported for callers that catch them)
    "MissingDependencyError", "ModelError", "OutputError", "UsageError",
]
