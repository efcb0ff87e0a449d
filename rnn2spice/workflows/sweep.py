"""Parameter sweeps: one study point per combination of parameter values.

``sweep(spec, {"circuit.capacitance": [1e-9, 1e-8]})`` compiles and runs the network once
per value (``runs`` Monte Carlo runs per point when a ``tolerance`` is given).  Every point
is a spec mapping re-validated by :func:`~rnn2spice.network.spec.spec_from_dict` and a fresh
compile -- never a hand-made circuit -- so a value the spec or the compiler refuses is
refused here with the same error, naming the parameter and value.

Parameters (:data:`PARAMETERS`):

* spec keys: ``tau`` (s: a value for every neuron, or ``x2`` / ``*2`` to scale the spec's
  own), ``t_stop``, ``t_step`` (s), ``circuit.capacitance`` (F), ``circuit.inductance`` (H);
* options: ``accuracy`` (default, high), ``rtol``, ``form``, ``coupling``, ``tolerance``
  (relative, ``5%`` or ``0.05``), ``distribution`` (uniform, normal), ``threshold``.

Several parameters make the Cartesian product of their values, the first varying slowest.

With a task ``stimulus`` every point runs that trial and its runs are scored on their decision
too (:mod:`rnn2spice.workflows.study_decision`); ``t_stop`` and ``t_step`` are then the
stimulus's and cannot be swept.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.circuit.tolerance import check_distribution, check_tolerance
from rnn2spice.errors import SpecError, UsageError, shown
from rnn2spice.network.load import load_spec, parse_text
from rnn2spice.network.spec import spec_from_dict
from rnn2spice.workflows.study import MAX_MEMBERS, Point, check_runs, check_threshold, run_study
from rnn2spice.workflows.study_decision import compile_point, load_decision
from rnn2spice.workflows.study_result import StudyResult
from rnn2spice.workflows.task import DEFAULT_DEAD_ZONE

SPEC_PARAMETERS = ("tau", "t_stop", "t_step", "circuit.capacitance", "circuit.inductance")
OPTION_PARAMETERS = ("accuracy", "rtol", "form", "coupling", "tolerance", "distribution", "threshold")
PARAMETERS = SPEC_PARAMETERS + OPTION_PARAMETERS
_TEXT_PARAMETERS = ("accuracy", "form", "coupling", "distribution")
_PERCENT_PARAMETERS = ("tolerance", "threshold", "rtol")


def parse_number(text: str, name: str, *, percent: bool = False) -> float:
    """A finite number (``5%`` = 0.05 where ``percent``), else UsageError naming ``name`` and ``text``."""
    raw = text.strip()
    scale = 1.0
    if percent and raw.endswith("%"):
        raw, scale = raw[:-1].strip(), 0.01
    try:
        value = float(raw) * scale
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UsageError(f"{name}: {shown(text)} is not a number" + (" (or a percentage such as 5%)" if percent else ""))
    return value


def parse_param(text: str, flag: str = "--param") -> tuple[str, list]:
    """``PATH=v1,v2,...`` as ``(PATH, values)``: numbers for numeric parameters, ``('x', f)``
    for a ``tau`` scaling ``x2``/``*2``, text for the others."""
    if not isinstance(text, str) or "=" not in text:
        raise UsageError(f"{flag} must be PATH=v1,v2,... (got {shown(text)})")
    path, _, values = text.partition("=")
    path = path.strip()
    check_parameter(path, f"{flag} {shown(text)}")
    items = [v.strip() for v in values.split(",")]
    if not values.strip() or any(not v for v in items):
        raise UsageError(f"{flag} {path}: give one or more comma-separated values (got {shown(values)})")
    return path, [parse_value(path, v, f"{flag} {path}") for v in items]


def check_parameter(path, flag: str = "--param") -> str:
    if path not in PARAMETERS:
        import difflib

        near = difflib.get_close_matches(str(path), PARAMETERS, n=1)
        raise UsageError(f"{flag}: unknown parameter {shown(path)}" + (f" (did you mean {near[0]!r}?)" if near else "")
                         + f"; known: {', '.join(PARAMETERS)}")
    return path


def parse_value(path: str, text, name: str):
    """One value of parameter ``path`` from its text (or as given, when not a string)."""
    if not isinstance(text, str):
        return text
    if path in _TEXT_PARAMETERS:
        return text
    if path == "tau" and text[:1] in ("x", "*"):
        return ("x", parse_number(text[1:], f"{name} (a scaling x{text[1:]})"))
    return parse_number(text, name, percent=path in _PERCENT_PARAMETERS)


def _show_value(value) -> Any:
    return f"x{value[1]:g}" if isinstance(value, tuple) else value


def sweep(spec: str | os.PathLike | Mapping, params: Mapping[str, list], *, runs: int = 1,
          tolerance: float = 0.0, distribution: str = "uniform", seed: int = 0, form: str = "parallel",
          coupling: str | None = None, accuracy: str = "default", rtol: float | None = None,
          threshold: float | None = None, pass_fraction: float = 1.0, base_dir: str | os.PathLike = ".",
          allow_outside_files: bool = False, backend: str = "auto", timeout: float | None = None,
          jobs: int | None = None, scheduler: str | None = None, output: str | os.PathLike | None = None,
          resume: bool = False, force: bool = False, progress: Callable[[int, int, dict], None] | None = None,
          stimulus=None,
          dt: float | None = None, window: tuple[int, int | None] | None = None, trial: int | None = None,
          dead_zone: float = DEFAULT_DEAD_ZONE, time_scale: float | None = None,
          state_scale: float | None = None) -> StudyResult:
    """Every combination of ``params`` (``{"circuit.capacitance": [1e-9, 1e-8], "tolerance":
    ["5%"]}``; texts are parsed like the command line's) as a study point (module docstring).

    ``spec``: a spec file (its matrix files relative to it) or a spec mapping (relative to
    ``base_dir``): every point is that mapping with the point's values, validated again.  The
    other options are the points' defaults, as for :func:`~rnn2spice.workflows.montecarlo.montecarlo`
    (``runs`` per point; a point without tolerance runs its circuit as compiled, and passes
    at its accuracy target unless ``threshold`` says otherwise).  ``stimulus``, ``dt``,
    ``window``, ``trial``, ``dead_zone``: a task trial at every point, as for ``montecarlo``;
    ``output``, ``resume``, ``force`` likewise.  ``time_scale``, ``state_scale``: the spec's
    ``circuit.time_scale`` / ``circuit.state_scale`` at every point (as ``--time-scale`` overrides
    the spec's; a ``circuit.time_scale`` parameter overrides it in turn).
    """
    if not isinstance(params, Mapping) or not params:  # a list of pairs is not "none"
        got = "none" if isinstance(params, Mapping) else f"a {type(params).__name__}"
        raise UsageError(f"params must map one or more parameters to their values, e.g. "
                         f"{{'circuit.capacitance': [1e-9, 1e-8]}} (got {got})")
    grid = {}
    for path, values in params.items():
        check_parameter(path, "params")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        values = [parse_value(path, v, f"params[{path!r}]") for v in values]
        if not values:
            raise UsageError(f"params[{path!r}] has no values")
        grid[path] = values
    check_runs(runs)
    data, base_dir = _spec_mapping(spec, base_dir, allow_outside_files)
    scales = {k: v for k, v in (("time_scale", time_scale), ("state_scale", state_scale)) if v is not None}
    if scales:  # validated with the spec, at every point, naming circuit.<key>
        circuit = data.get("circuit") if isinstance(data.get("circuit"), dict) else {}
        data["circuit"] = {**circuit, **scales}
        spec_from_dict(data, base_dir=base_dir, allow_outside=allow_outside_files)
    combos = list(itertools.product(*grid.values()))
    if len(combos) * runs > MAX_MEMBERS:
        raise UsageError(f"the sweep has {len(combos)} points x {runs} runs; at most {MAX_MEMBERS} runs")
    defaults = {"tolerance": tolerance, "distribution": distribution, "threshold": threshold, "form": form,
                "coupling": coupling, "accuracy": accuracy, "rtol": rtol}
    decision = None
    if stimulus is not None:
        swept = [k for k in grid if k in ("t_stop", "t_step")]
        if swept:
            raise UsageError(f"{', '.join(swept)} cannot be swept with a stimulus: the trial sets the time span")
        decision = load_decision(spec_from_dict(data, base_dir=base_dir, allow_outside=allow_outside_files), stimulus,
                                 dt=dt, window=window, trial=trial, dead_zone=dead_zone)
    elif (dt, window, trial) != (None, None, None):
        raise UsageError("dt, window and trial apply to a stimulus; none is given")
    points = [_point(data, dict(zip(grid, combo)), defaults, base_dir, allow_outside_files, decision)
              for combo in combos]
    return run_study("sweep", points, list(range(runs)), seed=seed, backend=backend, timeout=timeout, jobs=jobs,
                     scheduler=scheduler, output=output, resume=resume, pass_fraction=pass_fraction,
                     progress=progress, force=force)


def _spec_mapping(spec, base_dir, allow_outside: bool) -> tuple[dict, Path]:
    if isinstance(spec, Mapping):
        spec_from_dict(dict(spec), base_dir=base_dir, allow_outside=allow_outside)  # the nominal must be valid
        return copy.deepcopy(dict(spec)), Path(base_dir)
    if not isinstance(spec, (str, os.PathLike)):
        raise UsageError(f"spec must be a spec file or a spec mapping (a validated network cannot be swept: "
                         f"its values are re-validated per point) (got {type(spec).__name__})")
    path = Path(spec)
    load_spec(path, allow_outside=allow_outside)  # size limits, parse and validation errors as for every command
    return parse_text(path.read_text(encoding="utf-8"), path), path.resolve().parent


def _point(data: dict, values: dict, defaults: dict, base_dir: Path, allow_outside: bool, decision=None) -> Point:
    shown_values = {k: _show_value(v) for k, v in values.items()}
    where = ", ".join(f"{k}={v}" for k, v in shown_values.items())
    point = copy.deepcopy(data)
    opts = dict(defaults)
    try:
        for path, value in values.items():
            if path in OPTION_PARAMETERS:
                opts[path] = value
            elif path == "tau" and isinstance(value, tuple):
                nominal = spec_from_dict(data, base_dir=base_dir, allow_outside=allow_outside).tau
                point["tau"] = [float(t) * value[1] for t in nominal]
            elif path.startswith("circuit."):
                circuit = point.get("circuit") or {}
                if not isinstance(circuit, dict):
                    circuit = {}
                point["circuit"] = {**circuit, path.split(".", 1)[1]: value}
            else:
                point[path] = value
        net = spec_from_dict(point, base_dir=base_dir, allow_outside=allow_outside)
        tol = check_tolerance(opts["tolerance"], "tolerance")
        check_distribution(opts["distribution"], "distribution")
        check_threshold(opts["threshold"], "threshold")
        options = dict(form=opts["form"], coupling=opts["coupling"], accuracy=opts["accuracy"], rtol=opts["rtol"])
        compiled = compile_rnn(net, **options) if decision is None else compile_point(net, decision, **options)
    except SpecError as exc:
        raise SpecError(exc.field, exc.value, f"{exc.problem} (sweep point {where})") from None
    except UsageError as exc:
        raise UsageError(f"sweep point {where}: {exc}") from None
    return Point(compiled, tol, opts["distribution"], opts["threshold"], shown_values, decision)
