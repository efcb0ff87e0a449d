"""The Python API: one function per thing a user does, keyword-only options, SI units.

Each function is a thin, documented entry to a workflow; the command line
(:mod:`rnn2spice.cli`) is a thin layer over the same workflows.  Options are named as the
command's (``--activation-circuit`` is ``activation_circuit=``) and take the values it takes
(``tolerance="5%"``); tests/test_api_options.py holds every command's options equal to its
function's keywords.  A keyword a function does not take is an :class:`UnknownOptionError`
naming the nearest one.  The module is longer than 400 lines because it is the one curated
list of those entry points (each a few lines over its workflow), which a user reads as one page.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import io
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from rnn2spice.circuit.compiler import CompiledNetwork, compile_rnn  # noqa: F401 (compile_rnn: part of the API)
from rnn2spice.circuit.realparts import Build  # noqa: F401 (part of the API)
from rnn2spice.errors import SpecError, UnknownOptionError, UsageError, shown
from rnn2spice.network.load import load_spec
from rnn2spice.network.spec import RnnSpec, spec_from_dict
from rnn2spice.report import schematic as _schematic
from rnn2spice.workflows.ac import DEFAULT_POINTS_PER_DECADE, TOLERANCE, AcResult, ac_check
from rnn2spice.report.files import check_distinct, check_output, write_atomic
from rnn2spice.workflows import sweep as _sweep
from rnn2spice.workflows import build as _build
from rnn2spice.workflows.build import (Bom, OpAmpError, SnapResult, SnapTrial,  # noqa: F401 (part of the API)
                                     opamp_error, snap, snap_trial, value_warnings)
from rnn2spice.workflows.importers import import_model as _import_model
from rnn2spice.workflows.importers.detect import read_model
from rnn2spice.workflows.importers.network import INLINE_MAX_NEURONS, positive_seconds
from rnn2spice.workflows.importers.spec_writer import build_spec, check_matrix_file
from rnn2spice.workflows import kicad as _kicad
from rnn2spice.workflows import montecarlo as _montecarlo
from rnn2spice.workflows import pipeline as _pipeline
from rnn2spice.workflows import verify as _verify
from rnn2spice.workflows.kicad import KicadResult  # noqa: F401 (part of the API)
from rnn2spice.workflows.lowrank import check_truncated
from rnn2spice.workflows.pipeline import CheckResult, Trajectory
from rnn2spice.workflows.realbuild import BuildCheck, check_build, compile_build  # noqa: F401 (part of the API)
from rnn2spice.workflows.sweep import parse_number
from rnn2spice.workflows.verify import VerifyResult
from rnn2spice.workflows.stimulus import Stimulus, pulse_trials
from rnn2spice.workflows.study_result import StudyResult  # noqa: F401 (part of the API)
from rnn2spice.workflows.task import DEFAULT_DEAD_ZONE, DEFAULT_TOLERANCE, TaskResult, run_task, spec_dt


#: Keywords that name a file: a path (text or os.PathLike), or None where that is their default.
_PATHS = ("path", "model", "output", "netlist_path", "netlist")


def _options(func=None, *, names=None, passes=None):
    """``func`` with its keywords checked first: a keyword it does not take is an
    :class:`UnknownOptionError` naming the nearest one (as a spec file's unknown key is),
    instead of Python's bare TypeError.  ``names``: the keywords, when ``func`` passes
    ``**options`` on (to ``passes``, whose defaults are read too).  A switch (a keyword whose
    default is True or False) takes True or False only: ``refine="no"`` had meant refine;
    ``progress`` takes a callable, a file (:data:`_PATHS`) a path: a bare TypeError from deep
    inside the run otherwise."""
    if func is None:
        return functools.partial(_options, names=names, passes=passes)
    params = dict(inspect.signature(func).parameters)
    own = tuple(n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
    positional = [n for n, p in params.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    # its own keywords (``net=`` too) and those it passes on
    known = own + tuple(n for n in (names or ()) if n not in own)
    defaults = {n: p.default for n, p in inspect.signature(passes).parameters.items()} if passes else {}
    defaults.update((n, p.default) for n, p in params.items())
    switches = {n for n, d in defaults.items() if isinstance(d, bool)}

    @functools.wraps(func)
    def checked(*args, **kwargs):
        for key in kwargs:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; it takes {', '.join(known)}"
                raise UnknownOptionError(f"{func.__name__}() has no option {key!r}{hint}")
        for key, value in [*zip(positional, args), *kwargs.items()]:
            if key in switches and not isinstance(value, (bool, np.bool_)):
                raise UsageError(f"{key} must be True or False (got {shown(value)})")
            if key == "progress" and value is not None and not callable(value):
                raise UsageError(f"progress must be a function told the run's progress, or None "
                                 f"(got {shown(value)})")
            if key in _PATHS and not isinstance(value, (str, os.PathLike)) \
                    and not (value is None and defaults.get(key) is None):
                raise UsageError(f"{key} must be a file path{' or None' if defaults.get(key) is None else ''} "
                                 f"(got {shown(value)})")
        return func(*args, **kwargs)
    return checked


def _build_of(build: Build | None, **flat) -> Build | None:
    """The :class:`Build` of ``build=`` or of its keywords given one by one as the command's
    options (``opamp="TL072", activation_circuit="transistor"``); not both.  ``supply`` may be
    ``(neg, pos)`` or the command's text ``"-12,12"``."""
    given = {k: v for k, v in flat.items() if v is not None}
    if build is not None:
        if not isinstance(build, Build):
            raise UsageError(f"build must be a rnn2spice.Build (got {type(build).__name__})")
        if given:
            raise UsageError(f"give build or {', '.join(given)} (the build's own fields), not both")
        return build
    if not given:
        return None
    if isinstance(given.get("supply"), str):
        try:
            low, high = (float(x) for x in given["supply"].split(","))
        except ValueError:
            raise UsageError(f"supply must be NEG,POS in volts, e.g. -12,12 (got {given['supply']!r})") from None
        given["supply"] = (low, high)
    return Build(**given)


def _not_compiled(net, build: Build | None, **given) -> None:
    """Refuse options a :class:`CompiledNetwork` has fixed already (its build, form, scales)
    instead of dropping them: ``check(compiled, snap="E24")`` had run the unsnapped circuit and
    passed."""
    if not isinstance(net, CompiledNetwork):
        return
    names = [k for k, v in given.items() if v is not None] + (["build"] if build is not None else [])
    if names:
        raise UsageError(f"{', '.join(names)} cannot be given with an already compiled network (it is "
                         f"{net.form}/{net.coupling}, built as it was compiled): give them to rnn2spice.compile, "
                         "or pass the Network")


def _network(net) -> None:
    """Refuse anything but a Network where only a Network is taken (ac and task had raised a
    bare AttributeError for a CompiledNetwork)."""
    if not isinstance(net, RnnSpec):
        raise UsageError(f"network must be a Network (rnn2spice.load or rnn2spice.Network) "
                         f"(got {type(net).__name__})")


def _scaled(net, time_scale: float | None, state_scale: float | None):
    """``net`` with ``time_scale`` / ``state_scale`` (THEORY.md 5) applied, as --time-scale and
    --state-scale apply them to the spec."""
    if time_scale is None and state_scale is None:
        return net
    if not isinstance(net, RnnSpec):
        raise UsageError(f"time_scale and state_scale scale a Network, not a {type(net).__name__}: give them "
                         "when compiling")
    return net.with_scales(time_scale, state_scale)


def _fraction(value, name: str):
    """A relative value given as the command takes it: a number or a text, ``"5%"`` or ``"0.05"``."""
    return parse_number(value, name, percent=True) if isinstance(value, str) else value


@_options
def load(path: str | os.PathLike, *, allow_outside_files: bool = False) -> RnnSpec:
    """Read and validate a spec file (YAML or JSON; docs/reference/spec.md).

    Matrix files it names (``{file: w.npy}``) are read relative to the spec and may not
    leave its directory unless ``allow_outside_files``.  Raises :class:`SpecError`.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"path must be the path of a spec file (got {type(path).__name__})")
    return load_spec(path, allow_outside=allow_outside_files)


@_options
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
    if inputs is None:
        inputs = ()
    if isinstance(inputs, (Mapping, str, bytes)):  # list() of one waveform's mapping is its keys
        raise SpecError("inputs", inputs, "must be a list of waveform mappings, one per input (one input: "
                                          "[{'kind': 'step', 'value': 1.0}])")
    data: dict[str, Any] = {"name": name, "tau": tau, "w": w, "t_stop": t_stop, "inputs": list(inputs),
                            "convention": convention, "activation": activation, "description": description}
    optional = {"w_in": w_in, "bias": bias, "h0": h0, "t_step": t_step, "w_out": w_out, "b_out": b_out,
                "readout_of": readout_of}
    data.update({k: v for k, v in optional.items() if v is not None})
    circuit = {k: v for k, v in (("capacitance", capacitance), ("inductance", inductance)) if v is not None}
    if circuit:
        data["circuit"] = circuit
    return spec_from_dict(data)


@_options
def compile(net: RnnSpec, *, form: str = "parallel", coupling: str | None = None,  # noqa: A001 (the verb users expect)
            accuracy: str = "default", rtol: float | None = None, build: Build | None = None,
            time_scale: float | None = None, state_scale: float | None = None, snap: str | None = None,
            opamp: str | None = None, opamp_model: str | None = None, activation_circuit: str | None = None,
            temp: float | None = None, supply: Any = None) -> CompiledNetwork:
    """The circuit of ``net``: ``.netlist`` (ngspice text), ``.circuit`` (the element IR),
    ``.realisation`` (what it costs), ``.state_probes``.

    ``form``: ``parallel`` (R||C cells, the state is a node voltage), ``series`` (R-L
    loops, a loop current) or ``opamp`` (inverting integrators); ``coupling``: ``vccs``
    (controlled sources), ``gyrator`` (resistors + gyrators, parallel linear networks) or
    ``resistor`` (the opamp form); None: the form's default; ``accuracy``: ``default`` (the step
    aims at relative error 1e-3) or ``high`` (1e-6); ``rtol``: any other target.
    ``build``: how it is built (:class:`Build`: ``snap``, ``opamp``, ``opamp_model``,
    ``activation_circuit``, ``temp``, ``supply``, ``footprint``: the CLI's options, THEORY.md 11),
    or those fields as keywords of their own (``snap="E24", opamp="TL072"``; ``temp`` in degC,
    ``supply`` (neg, pos) in V or ``"-12,12"``); transistor blocks are trimmed by their curves
    measured in ngspice.  ``time_scale`` / ``state_scale``: as the spec's ``circuit.`` keys
    (THEORY.md 5).
    """
    build = _build_of(build, snap=snap, opamp=opamp, opamp_model=opamp_model,
                      activation_circuit=activation_circuit, temp=temp, supply=supply)
    return compile_build(_scaled(net, time_scale, state_scale), form=form, coupling=coupling, accuracy=accuracy,
                         rtol=rtol, build=build)


@_options
def simulate(net, *, form: str | None = None, coupling: str | None = None, accuracy: str | None = None,
             rtol: float | None = None, backend: str = "auto", timeout: float | None = None,
             netlist_path: str | os.PathLike | None = None, progress=None, build: Build | None = None,
             time_scale: float | None = None, state_scale: float | None = None, snap: str | None = None,
             opamp: str | None = None, opamp_model: str | None = None, activation_circuit: str | None = None,
             temp: float | None = None, supply: Any = None) -> Trajectory:
    """Run the circuit of ``net`` (a network, compiled here as :func:`compile` compiles it with
    the same options, or a :class:`CompiledNetwork`) in ngspice: a :class:`Trajectory` in model
    time (s) and units.  ``timeout`` in s; ``progress(fraction)`` is told the run's progress; on
    failure the :class:`SimulationError` names the netlist (``netlist_path``, or a kept copy)."""
    _not_compiled(net, build, snap=snap, opamp=opamp, opamp_model=opamp_model, activation_circuit=activation_circuit,
                  temp=temp, supply=supply)
    build = _build_of(build, snap=snap, opamp=opamp, opamp_model=opamp_model,
                      activation_circuit=activation_circuit, temp=temp, supply=supply)
    net = _scaled(net, time_scale, state_scale)
    if build is not None or rtol is not None:
        net = _pipeline._compiled(net, form, coupling, accuracy, rtol) if build is None else \
            compile_build(net, form=form or "parallel", coupling=coupling, accuracy=accuracy or "default", rtol=rtol,
                          build=build)
        form = coupling = accuracy = None
    return _pipeline.simulate(net, form=form, coupling=coupling, accuracy=accuracy, backend=backend, timeout=timeout,
                              netlist_path=netlist_path, progress=progress)


@_options
def check(net, *, form: str | None = None, coupling: str | None = None, accuracy: str | None = None,
          rtol: float | None = None, backend: str = "auto", tolerance: float | None = None,
          timeout: float | None = None, netlist_path: str | os.PathLike | None = None, refine: bool = True,
          progress=None, rank: int | None = None, build: Build | None = None, time_scale: float | None = None,
          state_scale: float | None = None, snap: str | None = None, opamp: str | None = None,
          opamp_model: str | None = None, activation_circuit: str | None = None, temp: float | None = None,
          supply: Any = None) -> CheckResult | BuildCheck:
    """Compile ``net`` (unless compiled already), certify, simulate, compare with the exact
    reference (:func:`rnn2spice.workflows.pipeline.check`): a :class:`CheckResult`.

    ``rtol``: the relative error to aim at (default: ``accuracy``'s, 1e-3 or 1e-6); a run that
    misses it is redone with a smaller step unless ``refine=False``; ``tolerance``: the pass
    threshold (relative, default the target); ``timeout`` in s.  ``rank``: truncate a dense
    ``w`` to rank ``rank`` by SVD first (its predicted effect is in the result).  A build of
    real parts or preferred values (``build`` or its fields ``snap``, ``opamp``, ...: see
    :func:`compile`), or a :class:`CompiledNetwork` compiled with one, is checked against its own
    prediction, as ``rnn2spice check --opamp ...`` (:func:`check_build`, a :class:`BuildCheck`;
    ``form`` as the command's: ``parallel`` unless given, op-amps by part need ``"opamp"``).
    """
    _not_compiled(net, build, form=form, coupling=coupling, accuracy=accuracy, rtol=rtol, snap=snap, opamp=opamp,
                  opamp_model=opamp_model, activation_circuit=activation_circuit, temp=temp, supply=supply)
    build = _build_of(build, snap=snap, opamp=opamp, opamp_model=opamp_model,
                      activation_circuit=activation_circuit, temp=temp, supply=supply)
    if isinstance(net, CompiledNetwork) and net.build is not None and net.build != Build():
        build = net.build  # compiled with preferred values or real parts: judged as such, as the command does
    net = _scaled(net, time_scale, state_scale)
    if build is not None and build != Build():
        given = [k for k, v in (("rank", rank), ("tolerance", tolerance)) if v is not None]
        if given:
            raise UsageError(f"{' and '.join(given)} apply to the ideal circuit; a build of real parts or preferred "
                             "values is checked against its own prediction: give one of them")
        if not isinstance(net, CompiledNetwork):  # the form as the command's: parallel unless given
            net = compile_build(net, form=form or "parallel", coupling=coupling, accuracy=accuracy or "default",
                                rtol=rtol, build=build)
        return check_build(net, backend=backend, timeout=timeout, netlist_path=netlist_path, progress=progress)
    options = dict(form=form, coupling=coupling, accuracy=accuracy, rtol=rtol, backend=backend, tolerance=tolerance,
                   timeout=timeout, netlist_path=netlist_path, refine=refine, progress=progress)
    if rank is not None:
        if not isinstance(net, RnnSpec):
            raise UsageError(f"rank truncates a Network's w, not a {type(net).__name__}")
        return check_truncated(net, rank, **options)
    return _pipeline.check(net, **options)


@_options
def verify(net: RnnSpec, *, form: str = "parallel", coupling: str | None = None,
           netlist: str | os.PathLike | None = None, tolerance: float = _verify.TOLERANCE, rtol: float | None = None,
           time_scale: float | None = None, state_scale: float | None = None) -> VerifyResult:
    """Certify that the circuit of ``net`` realises it (docs/certificate.md): a
    :class:`VerifyResult`.  ``coupling`` None: the form's own (``resistor`` for ``opamp``);
    ``netlist``: certify this existing file instead of compiling; ``tolerance``: the pass
    threshold on the relative discrepancies; ``rtol``: the accuracy target the netlist's
    numerics must be no looser than (None: 1e-3)."""
    return _verify.verify(_scaled(net, time_scale, state_scale), form=form, coupling=coupling, netlist=netlist,
                          tolerance=tolerance, rtol=rtol)


@_options
def ac(net: RnnSpec, *, fmin: float | None = None, fmax: float | None = None,
       points_per_decade: int = DEFAULT_POINTS_PER_DECADE, form: str = "parallel", coupling: str | None = None,
       backend: str = "auto", timeout: float | None = None, tolerance: float = TOLERANCE,
       f_start: float | None = None, f_stop: float | None = None, time_scale: float | None = None,
       state_scale: float | None = None) -> AcResult:
    """ngspice's AC sweep (``fmin`` .. ``fmax`` Hz, as the command's ``--fmin``/``--fmax``)
    against the exact transfer matrix ``H(j 2 pi f) = (j 2 pi f I - A)^-1 w_in`` of a linear
    network; ``timeout`` in s.  ``f_start``/``f_stop`` are the old names (deprecated)."""
    old = [f"{o}= (now {n}=)" for o, n, given in (("f_start", "fmin", f_start), ("f_stop", "fmax", f_stop))
           if given is not None]
    if (f_start is not None and fmin is not None) or (f_stop is not None and fmax is not None):
        raise UsageError("give fmin and fmax, not also their old names f_start and f_stop")
    if old:
        warnings.warn(f"ac({', '.join(old)}) is deprecated: the names are those of --fmin and --fmax",
                      DeprecationWarning, stacklevel=3)
    _network(net)
    fmin = f_start if fmin is None else fmin
    fmax = f_stop if fmax is None else fmax
    if fmin is None or fmax is None:
        raise UsageError("ac needs fmin and fmax (Hz), as --fmin and --fmax")
    return ac_check(_scaled(net, time_scale, state_scale), f_start=fmin, f_stop=fmax, points_per_decade=points_per_decade, form=form,
                    coupling=coupling, backend=backend, timeout=timeout, tolerance=tolerance)


@_options
def task(net: RnnSpec, stimuli: Sequence[Stimulus] | None = None, *, dt: float | None = None, value: float = 1.0,
         trials: int = 1, seed: int = 0, noise: float = 0.0, form: str = "parallel", coupling: str | None = None,
         accuracy: str = "default",
         rtol: float | None = None,
         backend: str = "auto", timeout: float | None = None, tolerance: float = DEFAULT_TOLERANCE,
         dead_zone: float = DEFAULT_DEAD_ZONE, strict: bool = False, criterion: str = "decision",
         jobs: int | None = None, scheduler: str | None = None, time_scale: float | None = None,
         state_scale: float | None = None) -> TaskResult:
    """Run a trained network's task on the discrete network, the continuous reference and the circuit.

    ``stimuli``: trials to run (:func:`pulse_trials` makes them); by default ``trials``
    delayed-decision pulses of height ``value`` (seeded by ``seed``, input noise of std
    ``noise``).  ``dt`` (s) is the discrete network's step, by default the one ``import``
    recorded in the spec.  ``form``, ``accuracy``, ``rtol``: the circuit and its simulation
    target as in :func:`compile` (``coupling`` None: the form's own; ``rtol``: the relative error, dimensionless, ngspice's step
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
    _network(net)
    net = _scaled(net, time_scale, state_scale)
    step = spec_dt(net, dt)
    if stimuli is None:
        stimuli = pulse_trials(value, trials=trials, seed=seed, noise=noise, m=net.m)
    return run_task(net, list(stimuli), step, form=form, coupling=coupling, accuracy=accuracy, rtol=rtol,
                    backend=backend, timeout=timeout, tolerance=tolerance, dead_zone=dead_zone, strict=strict,
                    criterion=criterion, jobs=jobs, scheduler=scheduler)


@_options
def schematic(net: RnnSpec | CompiledNetwork, path: str | os.PathLike | None = None, *, form: str | None = None,
              coupling: str | None = None, fmt: str | None = None, force: bool = False,
              time_scale: float | None = None, state_scale: float | None = None) -> bytes:
    """A schematic picture of a small network's circuit (at most 4 neurons), drawn with
    schemdraw (``pip install 'rnn2spice[schematic]'``) from the compiled elements: cells,
    loops or op-amp integrators, the coupling (controlled sources into one node or loop
    summed into one labelled source), inputs and activation blocks, with names and values.

    ``net``: a network (compiled in ``form``, default ``parallel``, and ``coupling``, None: the
    form's default) or a :class:`CompiledNetwork` (then neither, nor a scale).  ``path``
    (``.svg`` or ``.png``) is written atomically; an existing file there is replaced only when
    it is a picture of that format rnn2spice wrote (or with ``force=True``).  Without ``path``,
    ``fmt`` (``"svg"``, the default, or ``"png"``).  Returns the image bytes.  Raises
    :class:`UsageError` for n > 4, :class:`MissingDependencyError` without schemdraw.
    """
    if isinstance(net, CompiledNetwork):
        _not_compiled(net, None, form=form, coupling=coupling, time_scale=time_scale, state_scale=state_scale)
        compiled = net
    else:
        if not isinstance(net, RnnSpec):
            raise UsageError(f"net must be a Network or a CompiledNetwork (got {type(net).__name__})")
        net = _scaled(net, time_scale, state_scale)
        _schematic.check_size(net.n, f"network {net.name}")
        compiled = compile_rnn(net, form=form or "parallel", coupling=coupling)
    return _schematic.schematic(compiled, path, fmt=fmt, force=force)


@_options
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
        # beside the file the spec is written to: through a link that is the link's target (as
        # import does), where the spec's relative reference to its matrices resolves
        npz = (Path(os.path.realpath(path)) if path.is_symlink() else path).with_suffix(".npz")
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


@_options
def import_model(model: str | os.PathLike, output: str | os.PathLike | None = None, *, dt: float,
                 tau: float | None = None, format: str | None = None, name: str | None = None,  # noqa: A002
                 t_stop: float | None = None, force: bool = False, keys: str | None = None,
                 convention: str | None = None, activation: str | None = None,
                 readout: str | None = None) -> RnnSpec:
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
                             keys=keys, convention=convention, activation=activation, readout=readout,
                             field="output").spec
    model = Path(model)
    positive_seconds(dt, "dt")
    net = read_model(model, format, keys=keys, convention=convention, activation=activation, readout=readout)
    data, arrays = build_spec(net, source=model, dt=dt, tau=tau, name=name, t_stop=t_stop,
                              npz_name=None if net.n <= INLINE_MAX_NEURONS else "matrices.npz")
    for key, val in data.items():
        if isinstance(val, dict) and set(val) == {"file", "key"}:
            data[key] = arrays[val["key"]]
    return spec_from_dict(data)


@_options(names=[n for n in inspect.signature(_sweep.sweep).parameters if n != "spec"], passes=_sweep.sweep)
def sweep(net: RnnSpec | str | os.PathLike | Mapping, params: Mapping[str, list], **options) -> StudyResult:
    """One study point per combination of ``params`` (``{"circuit.capacitance": [1e-9, 1e-8],
    "tolerance": ["5%"]}``), as ``rnn2spice sweep``.  ``net``: a Network, a spec file or a spec
    mapping; the options are :func:`montecarlo`'s (``runs``, ``tolerance``, ``jobs``, ...);
    ``tolerance`` and ``threshold`` also as the command takes them (``"5%"``)."""
    if isinstance(net, RnnSpec):
        net = net.to_dict()
    for key in ("tolerance", "threshold"):
        if key in options:
            options[key] = _fraction(options[key], key)
    return _sweep.sweep(net, params, **options)


@_options(names=[*(n for n in inspect.signature(_montecarlo.montecarlo).parameters if n != "net"), "time_scale",
                 "state_scale", "snap", "opamp", "opamp_model", "activation_circuit", "temp", "supply"],
          passes=_montecarlo.montecarlo)
def montecarlo(net, *, runs: int = _montecarlo.DEFAULT_RUNS, tolerance: float | str = _montecarlo.DEFAULT_TOLERANCE,
               build: Build | None = None, time_scale: float | None = None, state_scale: float | None = None,
               threshold: float | str | None = None, snap: str | None = None, opamp: str | None = None,
               opamp_model: str | None = None, activation_circuit: str | None = None, temp: float | None = None,
               supply: Any = None, output: str | os.PathLike | None = None, **options) -> StudyResult:
    """``runs`` runs of the circuit of ``net`` with every R, C, L within the relative
    ``tolerance`` (0.05, or as the command takes it: ``"5%"``) and scores against the nominal
    reference (:func:`rnn2spice.workflows.montecarlo.montecarlo`: ``distribution``, ``seed``,
    ``run``, ``form``, ``coupling``, ``accuracy``, ``rtol``, ``pass_fraction``, ``backend``,
    ``timeout`` (s), ``jobs``, ``scheduler``, ``resume``, ``force``, ``progress``,
    ``stimulus``, ``dt`` (s), ``window``, ``trial``, ``dead_zone``).  ``threshold``: relative, as
    ``tolerance``.  ``build`` or its fields (``snap``, ``opamp``, ...: see :func:`compile`): a
    circuit of real parts.  ``output``: the results file (JSON), its journal beside it."""
    _not_compiled(net, build, snap=snap, opamp=opamp, opamp_model=opamp_model, activation_circuit=activation_circuit,
                  temp=temp, supply=supply, time_scale=time_scale, state_scale=state_scale)
    build = _build_of(build, snap=snap, opamp=opamp, opamp_model=opamp_model,
                      activation_circuit=activation_circuit, temp=temp, supply=supply)
    return _montecarlo.montecarlo(_scaled(net, time_scale, state_scale), runs=runs,
                                  tolerance=_fraction(tolerance, "tolerance"), build=build,
                                  threshold=_fraction(threshold, "threshold"), output=output, **options)


@_options
def bom(spec: RnnSpec, *, form: str = "opamp", snap: str | None = None, series: str | None = None,
        build: Build | None = None, opamp: str | None = None, opamp_model: str | None = None,
        activation_circuit: str | None = None, temp: float | None = None, supply: Any = None,
        footprint: str | None = None) -> Bom:
    """The parts of ``spec`` built in ``form``: a :class:`Bom` (:func:`rnn2spice.workflows.build.bom`),
    each R and C with its exact value and, with ``snap`` (``E12`` .. ``E96``), its nearest
    preferred value.  The build's fields as keywords (``opamp="TL072"``,
    ``activation_circuit="transistor"``, ``temp`` degC, ``supply``, ``footprint``), as the
    command's options: a build of real parts then takes ``snap`` into its compiled values, as
    ``rnn2spice bom --opamp TL072 --snap E24`` does; or a whole ``build``."""
    if build is None and any(v is not None for v in (opamp, opamp_model, activation_circuit, temp, supply,
                                                     footprint)):
        build = _build_of(None, snap=snap, opamp=opamp, opamp_model=opamp_model,
                          activation_circuit=activation_circuit, temp=temp, supply=supply, footprint=footprint)
        if build.real:  # as the command: real parts are built from the snapped values
            return _build.bom(spec, form=form, build=build)
        build = dataclasses.replace(build, snap=None)
    else:
        build = _build_of(build, opamp=opamp, opamp_model=opamp_model, activation_circuit=activation_circuit,
                          temp=temp, supply=supply, footprint=footprint)
    if series is not None:
        warnings.warn("bom(series=...) is deprecated: use snap=, as --snap", DeprecationWarning, stacklevel=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return _build.bom(spec, form=form, snap=snap, series=series, build=build)
    return _build.bom(spec, form=form, snap=snap, build=build)


@_options
def kicad(spec: RnnSpec, *, output: str | os.PathLike, form: str = "parallel", coupling: str | None = None,
          accuracy: str = "default", rtol: float | None = None, snap: str | None = None, build: Build | None = None,
          force: bool = False, time_scale: float | None = None, state_scale: float | None = None,
          opamp: str | None = None, opamp_model: str | None = None, activation_circuit: str | None = None,
          temp: float | None = None, supply: Any = None, field: str = "output",
          inputs: dict | None = None) -> KicadResult:
    """Write ``spec``'s circuit as a KiCad 9 project at ``output`` (``DIR/NAME.kicad_sch``;
    :func:`rnn2spice.workflows.kicad.kicad`).  ``form``, ``coupling``, ``accuracy``, ``rtol``,
    ``time_scale``, ``state_scale``, ``build`` or its fields (``snap``, ``opamp``, ...) as
    :func:`compile`."""
    build = _build_of(build, opamp=opamp, opamp_model=opamp_model, activation_circuit=activation_circuit,
                      temp=temp, supply=supply)
    return _kicad.kicad(_scaled(spec, time_scale, state_scale), output=output, form=form, coupling=coupling,
                        accuracy=accuracy, rtol=rtol, snap=snap, build=build, field=field, force=force,
                        inputs=inputs)
