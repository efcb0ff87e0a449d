"""The Python API: one function per thing a user does, keyword-only options, SI units.

Each function is a thin, documented entry to a workflow; the command line
(:mod:`rnn2spice.cli`) is a thin layer over the same workflows.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from rnn2spice.circuit.compiler import CompiledNetwork, compile_rnn  # noqa: F401 (compile_rnn: part of the API)
from rnn2spice.circuit.realparts import Build  # noqa: F401 (part of the API)
from rnn2spice.errors import UsageError
from rnn2spice.network.load import load_spec
from rnn2spice.network.spec import RnnSpec, spec_from_dict
from rnn2spice.report import schematic as _schematic
from rnn2spice.workflows.ac import DEFAULT_POINTS_PER_DECADE, TOLERANCE, AcResult, ac_check
from rnn2spice.report.files import check_distinct, check_output, write_atomic
from rnn2spice.workflows import sweep as _sweep
from rnn2spice.workflows.build import (Bom, OpAmpError, SnapResult, SnapTrial, bom,  # noqa: F401 (part of the API)
                                     opamp_error, snap, snap_trial, value_warnings)
from rnn2spice.workflows.importers import import_model as _import_model
from rnn2spice.workflows.importers.detect import read_model
from rnn2spice.workflows.importers.network import INLINE_MAX_NEURONS, positive_seconds
from rnn2spice.workflows.importers.spec_writer import build_spec, check_matrix_file
from rnn2spice.workflows.kicad import KicadResult, kicad  # noqa: F401 (part of the API)
from rnn2spice.workflows.montecarlo import montecarlo  # noqa: F401 (part of the API)
from rnn2spice.workflows.realbuild import BuildCheck, check_build, compile_build  # noqa: F401 (part of the API)
from rnn2spice.workflows.stimulus import Stimulus, pulse_trials
from rnn2spice.workflows.study_result import StudyResult  # noqa: F401 (part of the API)
from rnn2spice.workflows.task import DEFAULT_DEAD_ZONE, DEFAULT_TOLERANCE, TaskResult, run_task, spec_dt


def load(path: str | os.PathLike, *, allow_outside_files: bool = False) -> RnnSpec:
    """Read and validate a spec file (YAML or JSON; docs/reference/spec.md).

    Matrix files it names (``{file: w.npy}``) are read relative to the spec and may not
    leave its directory unless ``allow_outside_files``.  Raises :class:`SpecError`.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"path must be the path of a spec file (got {type(path).__name__})")
    return load_spec(path, allow_outside=allow_outside_files)


def Network(*, name: str, tau: Any, w: Any, t_stop: float, w_in: Any = None, inputs: Sequence[dict] = (),
            convention: str = "paper", activation: str = "linear", bias: Any = None, h0: Any = None,
            t_step: float | None = None, capacitance: float | None = None, inductance: float | None = None,
            w_out: Any = None, b_out: Any = None, description: str = "", readout_of: str | None = None) -> RnnSpec:
    """Build and validate a network from arrays, with the keys and units of a spec file.

    ``tau`` (s, one number or n), ``w`` (n x n) and ``w_in`` (n x m) in 1/s for the
    ``paper`` convention, dimensionless for ``ctrnn`` (with ``bias``); ``inputs``: m
    waveform mappings such as ``{"kind": "step", "value": 1.0}`` (docs/reference/spec.md);
    ``t_stop``, ``t_step`` in s; ``capacitance`` (F per parallel cell) and ``inductance``
    (H per series loop) are the free design values.  ``w`` may be ``{"factors": [M, N]}``
    (w = M N, a low-rank coupling realised by r latent nodes); ``readout_of``: ``"state"`` or
    ``"rate"`` (docs/trained-networks.md).  Returns the same validated
    :class:`RnnSpec` that :func:`load` gives; raises :class:`SpecError` naming the field.
    """
    data: dict[str, Any] = {"name": name, "tau": tau, "w": w, "t_stop": t_stop, "inputs": list(inputs),
                            "convention": convention, "activation": activation, "description": description}
    optional = {"w_in": w_in, "bias": bias, "h0": h0, "t_step": t_step, "w_out": w_out, "b_out": b_out,
                "readout_of": readout_of}
    data.update({k: v for k, v in optional.items() if v is not None})
    circuit = {k: v for k, v in (("capacitance", capacitance), ("inductance", inductance)) if v is not None}
    if circuit:
        data["circuit"] = circuit
    return spec_from_dict(data)


def compile(net: RnnSpec, *, form: str = "parallel", coupling: str | None = None,  # noqa: A001 (the verb users expect)
            accuracy: str = "default", rtol: float | None = None, build: Build | None = None) -> CompiledNetwork:
    """The circuit of ``net``: ``.netlist`` (ngspice text), ``.circuit`` (the element IR),
    ``.realisation`` (what it costs), ``.state_probes``.

    ``form``: ``parallel`` (R||C cells, the state is a node voltage), ``series`` (R-L
    loops, a loop current) or ``opamp`` (inverting integrators); ``coupling``: ``vccs``
    (controlled sources), ``gyrator`` (resistors + gyrators, parallel linear networks) or
    ``resistor`` (the opamp form); None: the form's default; ``accuracy``: ``default`` (the step
    aims at relative error 1e-3) or ``high`` (1e-6); ``rtol``: any other target.
    ``build``: how it is built (:class:`Build`: ``snap``, ``opamp``, ``opamp_model``,
    ``activation_circuit``, ``temp``, ``supply``, ``footprint``: the CLI's options, THEORY.md 11);
    transistor blocks are trimmed by their curves measured in ngspice.
    """
    return compile_build(net, form=form, coupling=coupling, accuracy=accuracy, rtol=rtol, build=build)


def ac(net: RnnSpec, *, fmin: float | None = None, fmax: float | None = None,
       points_per_decade: int = DEFAULT_POINTS_PER_DECADE, form: str = "parallel", coupling: str | None = None,
       backend: str = "auto", timeout: float | None = None, tolerance: float = TOLERANCE,
       f_start: float | None = None, f_stop: float | None = None) -> AcResult:
    """ngspice's AC sweep (``fmin`` .. ``fmax`` Hz, as the command's ``--fmin``/``--fmax``)
    against the exact transfer matrix ``H(j 2 pi f) = (j 2 pi f I - A)^-1 w_in`` of a linear
    network; ``timeout`` in s.  ``f_start``/``f_stop`` are the old names (deprecated)."""
    old = [f"{o}= (now {n}=)" for o, n, given in (("f_start", "fmin", f_start), ("f_stop", "fmax", f_stop))
           if given is not None]
    if (f_start is not None and fmin is not None) or (f_stop is not None and fmax is not None):
        raise UsageError("give fmin and fmax, not also their old names f_start and f_stop")
    if old:
        warnings.warn(f"ac({', '.join(old)}) is deprecated: the names are those of --fmin and --fmax",
                      DeprecationWarning, stacklevel=2)
    fmin = f_start if fmin is None else fmin
    fmax = f_stop if fmax is None else fmax
    if fmin is None or fmax is None:
        raise UsageError("ac needs fmin and fmax (Hz), as --fmin and --fmax")
    return ac_check(net, f_start=fmin, f_stop=fmax, points_per_decade=points_per_decade, form=form,
                    coupling=coupling, backend=backend, timeout=timeout, tolerance=tolerance)


def task(net: RnnSpec, stimuli: Sequence[Stimulus] | None = None, *, dt: float | None = None, value: float = 1.0,
         trials: int = 1, seed: int = 0, noise: float = 0.0, form: str = "parallel", accuracy: str = "default",
         rtol: float | None = None,
         backend: str = "auto", timeout: float | None = None, tolerance: float = DEFAULT_TOLERANCE,
         dead_zone: float = DEFAULT_DEAD_ZONE, strict: bool = False, criterion: str = "decision",
         jobs: int | None = None, scheduler: str | None = None) -> TaskResult:
    """Run a trained network's task on the discrete network, the continuous reference and the circuit.

    ``stimuli``: trials to run (:func:`pulse_trials` makes them); by default ``trials``
    delayed-decision pulses of height ``value`` (seeded by ``seed``, input noise of std
    ``noise``).  ``dt`` (s) is the discrete network's step, by default the one ``import``
    recorded in the spec.  ``form``, ``accuracy``, ``rtol``: the circuit and its simulation
    target as in :func:`compile` (``rtol``: the relative error, dimensionless, ngspice's step
    aims at against the continuous reference; None: ``accuracy``'s, 1e-3 by default; 1e-2
    runs faster); ``backend``: ``auto``, ``shared`` or ``subprocess``; ``timeout`` (s) per
    ngspice run.  A trial passes when the circuit makes the discrete network's decision (mean
    readout over the response window, 0 within ``dead_zone`` of 0) and its readout is within
    ``tolerance`` (absolute, in readout units; default 0.05): its mean and final readout of the
    discrete network's, its whole trial of its continuous reference's (docs/how-to/import.md);
    ``strict``: also the largest difference from the discrete network over the window.  Trials run
    in ``jobs`` worker processes (default: every core; 1: in this process) or on a Dask
    ``scheduler`` (address or ``'local'``), with the same results trial by trial.
    ``criterion="trajectory"``: a trial passes when the circuit's readout follows the discrete
    network's over the response window (max and RMS difference <= ``tolerance``) instead of
    by its decision (docs/trained-networks.md).
    """
    step = spec_dt(net, dt)
    if stimuli is None:
        stimuli = pulse_trials(value, trials=trials, seed=seed, noise=noise, m=net.m)
    return run_task(net, list(stimuli), step, form=form, accuracy=accuracy, rtol=rtol, backend=backend, timeout=timeout,
                    tolerance=tolerance, dead_zone=dead_zone, strict=strict, criterion=criterion, jobs=jobs,
                    scheduler=scheduler)


def schematic(net: RnnSpec | CompiledNetwork, path: str | os.PathLike | None = None, *, form: str = "parallel",
              coupling: str | None = None, fmt: str | None = None, force: bool = False) -> bytes:
    """A schematic picture of a small network's circuit (at most 4 neurons), drawn with
    schemdraw (``pip install 'rnn2spice[schematic]'``) from the compiled elements: cells,
    loops or op-amp integrators, the coupling (controlled sources into one node or loop
    summed into one labelled source), inputs and activation blocks, with names and values.

    ``net``: a network (compiled in ``form`` / ``coupling``, None: the form's default) or a
    :class:`CompiledNetwork`.  ``path`` (``.svg`` or ``.png``) is written atomically; an
    existing file there is replaced only when it is a picture of that format rnn2spice wrote
    (or with ``force=True``).  Without ``path``, ``fmt`` (``"svg"``, the default, or
    ``"png"``).  Returns the image bytes.  Raises
    :class:`UsageError` for n > 4, :class:`MissingDependencyError` without schemdraw.
    """
    if isinstance(net, CompiledNetwork):
        compiled = net
    else:
        if not isinstance(net, RnnSpec):
            raise UsageError(f"net must be a Network or a CompiledNetwork (got {type(net).__name__})")
        _schematic.check_size(net.n, f"network {net.name}")
        compiled = compile_rnn(net, form=form, coupling=coupling)
    return _schematic.schematic(compiled, path, fmt=fmt, force=force)


def save(net: RnnSpec, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``net`` as a YAML spec file that :func:`load` reads back as the same network
    (every number exactly; ``net.save(path)`` is the same call).

    Networks of more than 8 neurons keep their matrices in ``<stem>.npz`` beside the spec
    (as ``rnn2spice import`` does).  Both files are written atomically.  An existing spec is
    replaced only when rnn2spice wrote it (``save`` or ``import``; its first line says so),
    an existing NPZ only when it is that spec's matrix file; ``force=True`` replaces any
    regular file.  Otherwise :class:`OutputError` names the file and nothing is written.
    Returns the spec's path.
    """
    if not isinstance(net, RnnSpec):
        raise UsageError(f"net must be a Network (got {type(net).__name__})")
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"path must be the path of a .yaml file (got {type(path).__name__})")
    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"path must be a .yaml or .yml file (got {str(path)!r})")
    check_output(path, "path", "spec", force=force)
    data = net.to_dict()
    arrays = {}
    if net.n > INLINE_MAX_NEURONS:
        npz = path.with_suffix(".npz")
        check_distinct({"path (matrices)": npz}, {"path": path})
        check_matrix_file(npz, path, "path (matrices)", force=force)
        for key in ("tau", "w", "w_in", "bias", "h0", "w_out", "b_out"):
            if key == "w" and net.w_factors is not None:  # a rank-r w stays factored
                arrays["w_M"], arrays["w_N"] = (np.asarray(f, dtype=float) for f in net.w_factors)
                data["w"] = {"factors": [{"file": npz.name, "key": "w_M"}, {"file": npz.name, "key": "w_N"}]}
            elif key in data:
                arrays[key] = np.asarray(getattr(net, key), dtype=float)
                data[key] = {"file": npz.name, "key": key}
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_atomic(npz, buf.getvalue(), field="path (matrices)")
    text = (f"# rnn2spice network {net.name}: rnn2spice.load() or `rnn2spice check` reads it\n"
            + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100))
    write_atomic(path, text, field="path")
    return path


# ``net.save(path)`` on every network, however it was made.  The method is attached here
# because writing files belongs to the report layer, above the network layer that defines
# RnnSpec (ARCHITECTURE.md: a module imports only from its own layer or the ones below).
RnnSpec.save = save


def import_model(model: str | os.PathLike, output: str | os.PathLike | None = None, *, dt: float,
                 tau: float | None = None, format: str | None = None, name: str | None = None,  # noqa: A002
                 t_stop: float | None = None, force: bool = False, keys: str | None = None,
                 convention: str | None = None, activation: str | None = None) -> RnnSpec:
    """A trained network (Keras HDF5, PyTorch state_dict, NPZ, PsychRNN) as a Network.

    Nothing is written unless ``output`` (a ``.yaml`` path) is given: then the spec (and,
    beyond 8 neurons, ``<stem>.npz``) is written as ``rnn2spice import`` writes it.  ``dt``
    (s) is the discrete network's step; ``tau`` (s) the continuous time constant (default
    ``dt``; required for PsychRNN); ``format``: ``keras``, ``torch``, ``npz``, ``psychrnn``
    (default: detected); ``keys``, ``convention``, ``activation``: as the command's
    ``--keys``, ``--convention``, ``--activation``.  The network's ``provenance`` records
    the source file, its sha256 and the mapping.
    """
    if output is not None:
        return _import_model(model, output, dt=dt, tau=tau, fmt=format, name=name, t_stop=t_stop, force=force,
                             keys=keys, convention=convention, activation=activation).spec
    model = Path(model)
    positive_seconds(dt, "dt")
    net = read_model(model, format, keys=keys, convention=convention, activation=activation)
    data, arrays = build_spec(net, source=model, dt=dt, tau=tau, name=name, t_stop=t_stop,
                              npz_name=None if net.n <= INLINE_MAX_NEURONS else "matrices.npz")
    for key, val in data.items():
        if isinstance(val, dict) and set(val) == {"file", "key"}:
            data[key] = arrays[val["key"]]
    return spec_from_dict(data)


def sweep(net: RnnSpec | str | os.PathLike | Mapping, params: Mapping[str, list], **options) -> StudyResult:
    """One study point per combination of ``params`` (``{"circuit.capacitance": [1e-9, 1e-8],
    "tolerance": ["5%"]}``), as ``rnn2spice sweep``.  ``net``: a Network, a spec file or a spec
    mapping; the options are :func:`montecarlo`'s (``runs``, ``tolerance``, ``jobs``, ...)."""
    if isinstance(net, RnnSpec):
        net = net.to_dict()
    return _sweep.sweep(net, params, **options)
