"""What every command shares: exit codes, the spec argument, option groups, output checks.

Only the command line knows exit codes: 0 pass, 1 mismatch beyond tolerance (or a failed
certificate), 2 bad input or usage, 3 simulator or reference-solver failure, 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
from pathlib import Path

from rnn2spice.errors import (BudgetExceeded, CertificateFailed, ReferenceSolverError, SimulationError, SpecError,
                             UsageError)
from rnn2spice.network.load import load_spec_with_files
from rnn2spice.report.figures import figure_bytes
from rnn2spice.report.files import (STDOUT, check_distinct, check_output, check_writable, figure_format, json_text,
                                    write_atomic, write_figure)
from rnn2spice.workflows.importers import positive_seconds
from rnn2spice.workflows.task import trial_spec

EXIT_PASS, EXIT_MISMATCH, EXIT_USAGE, EXIT_SIMULATION, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: Exit code after SIGTERM (128 + the signal's number, as a shell reports it); SIGINT: 130.
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwound like Ctrl-C (ngspice children killed, temporary directories
    removed, pool workers ended by the ``finally`` blocks on the way), exit 128 + 15."""


def interrupted(exc: KeyboardInterrupt) -> tuple[str, int]:
    """What an interrupted command says and its exit code: SIGTERM (:class:`Terminated`)
    143, SIGINT (Ctrl-C) 130 -- the one place that tells them apart, so that a command
    catching the interrupt to say more (montecarlo: where its finished runs are) exits as
    ``main`` would."""
    if isinstance(exc, Terminated):
        return "terminated (SIGTERM)", EXIT_TERMINATED
    return "interrupted", EXIT_INTERRUPTED


def exit_code(exc: BaseException) -> int:
    """The exit code of an error: 1 for a failed certificate (a mismatch), 3 when ngspice or
    the reference solver failed or went beyond a cost budget (as beyond --timeout), 2 for
    everything else."""
    if isinstance(exc, CertificateFailed):
        return EXIT_MISMATCH
    if isinstance(exc, (SimulationError, ReferenceSolverError, BudgetExceeded)):
        return EXIT_SIMULATION
    return EXIT_USAGE


def verdict_code(passed: bool) -> int:
    return EXIT_PASS if passed else EXIT_MISMATCH


def add_spec_command(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand whose first argument is a spec file."""
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("spec", type=Path, help="network spec (.yaml, .yml or .json)")
    p.add_argument("--allow-outside-files", action="store_true",
                   help="let the spec refer to files outside its own directory")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output file even when it is not of the kind the option writes "
                        "(by default only an earlier output of that kind is replaced)")
    return p


def circuit_options(p, accuracy: bool = True) -> None:
    p.add_argument("--form", default="parallel", choices=("parallel", "series", "opamp"),
                   help="parallel: R||C cells, voltages are the state; series: R-L loops, currents; "
                        "opamp: inverting integrators, op-amp outputs are the state")
    p.add_argument("--coupling", default=None, choices=("vccs", "gyrator", "resistor"),
                   help="vccs: controlled sources; gyrator: resistors + gyrators (parallel, linear); resistor: "
                        "input resistors (opamp form); default: vccs, resistor for --form opamp")
    p.add_argument("--time-scale", type=float, default=None, metavar="K",
                   help="the circuit runs K times faster than the model (tau / K; results in model time); "
                        "overrides the spec's circuit.time_scale (default 1)")
    p.add_argument("--state-scale", type=float, default=None, metavar="S",
                   help="S volts (amperes in the series form) per unit of state (results in model units); "
                        "overrides the spec's circuit.state_scale (default 1)")
    if accuracy:
        p.add_argument("--accuracy", default="default", choices=("default", "high"),
                       help="default aims at relative error 1e-3, high at 1e-6 (smaller step, tight tolerances)")
        p.add_argument("--rtol", type=float, default=None, metavar="X",
                       help="aim at this model-level relative error instead (1e-9 .. 0.1): the maximum "
                            "step follows from the network's rates; check redoes a run that misses it")


def build_options(p) -> None:
    """How the circuit is built (one group, shared by every command that compiles; THEORY.md 11):
    the API's :class:`rnn2spice.Build` keywords, same names."""
    from rnn2spice.circuit.eseries import SERIES
    from rnn2spice.circuit.partlib import ABSTRACT_OPAMPS, OPAMPS
    from rnn2spice.circuit.realparts import ACTIVATION_CIRCUITS

    g = p.add_argument_group("build from real parts (--form opamp)")
    g.add_argument("--snap", default=None, choices=tuple(SERIES),
                   help="every R and C at its nearest IEC 60063 preferred value (the netlist written is the snapped one)")
    g.add_argument("--opamp", default=None, metavar="PART",
                   help=f"op-amp: {' | '.join(ABSTRACT_OPAMPS + tuple(OPAMPS))} (library macro-models with data-sheet "
                        "parameters; default: the spec's circuit.opamp)")
    g.add_argument("--opamp-model", dest="opamp_model", default=None, metavar="FILE.lib:SUBCKT",
                   help="your vendor's op-amp subcircuit (pins +in -in V+ V- out), scanned: control statements "
                        "and includes are refused")
    g.add_argument("--activation-circuit", dest="activation_circuit", default="behavioural",
                   choices=ACTIVATION_CIRCUITS,
                   help="behavioural: a B source per neuron; transistor: tanh by a 2N3904 differential pair, "
                        "sigmoid by its single-ended output, relu by a precision rectifier (1N4148)")
    g.add_argument("--temp", type=float, default=27.0, metavar="DEGC",
                   help="device temperature (degC, default 27): V_T of the transistors")
    g.add_argument("--supply", default=None, metavar="NEG,POS",
                   help="supply rails in volts: --supply -12,12, --supply -12 12 or --supply=-12,12 (default: the spec's "
                        "circuit.supply, else -12,12)")


def build_from_args(args):
    """The :class:`~rnn2spice.circuit.realparts.Build` of the options of :func:`build_options`."""
    from rnn2spice.circuit.realparts import Build

    supply = None
    if getattr(args, "supply", None) is not None:
        try:
            low, high = (float(x) for x in args.supply.split(","))
        except ValueError:
            raise UsageError(f"--supply must be NEG,POS in volts, e.g. -12,12 (got {args.supply!r})") from None
        supply = (low, high)
    try:
        return Build(snap=args.snap, opamp=args.opamp, opamp_model=args.opamp_model,
                     activation_circuit=args.activation_circuit, temp=args.temp, supply=supply,
                     footprint=getattr(args, "footprint", "tht"))
    except UsageError as exc:
        text = str(exc)
        for key in ("snap", "opamp_model", "opamp", "activation_circuit", "temp", "supply", "footprint"):
            if text.startswith(key + " "):
                raise UsageError("--" + key.replace("_", "-") + text[len(key):]) from None
        raise


def sim_options(p) -> None:
    p.add_argument("--backend", default="auto", choices=("auto", "shared", "subprocess"),
                   help="ngspice shared library via PySpice, or `ngspice -b` (auto: shared if it loads)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="give up on ngspice after this many seconds")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (shown on a terminal for runs longer than 2 s)")


def stimulus_options(p) -> None:
    """``--stimulus FILE`` (a trial's samples, held for dt, replace the spec's inputs),
    ``--dt`` and ``--trial`` (check, simulate)."""
    p.add_argument("--stimulus", type=Path, default=None, metavar="FILE",
                   help="run a trial instead of the spec's inputs: samples (.npy or CSV, one per dt, one column per "
                        "input) held for dt each, as `task` runs them; t_stop = steps x dt")
    p.add_argument("--dt", default=None, metavar="SECONDS",
                   help="with --stimulus: time per sample (default: the spec's provenance.mapping.dt)")
    p.add_argument("--trial", type=int, default=0, metavar="K",
                   help="with --stimulus: which trial of a file of several (default 0)")
    # montecarlo and sweep have a --stimulus of their own (a decision, not the spec's inputs):
    # load_spec_arg replaces the inputs only for the commands registered here.
    p.set_defaults(stimulus_replaces_inputs=True)


def load_spec_arg(args):
    """The spec of ``args``; refuses an output that :func:`check_outputs` checked for ``args``
    when it is one of the files the spec refers to (a matrix, a CSV waveform).  With
    ``--stimulus`` (:func:`stimulus_options`) the spec runs that trial."""
    spec, files = load_spec_with_files(args.spec, allow_outside=args.allow_outside_files)
    spec = _scaled(spec, getattr(args, "time_scale", None), getattr(args, "state_scale", None))
    stimulus = getattr(args, "stimulus", None) if getattr(args, "stimulus_replaces_inputs", False) else None
    if isinstance(stimulus, Path):
        dt = positive_seconds(args.dt, "--dt") if args.dt is not None else None
        spec = trial_spec(spec, stimulus, dt=dt, trial=args.trial)
        files = files + (("--stimulus", stimulus.resolve()),)
    elif getattr(args, "dt", None) is not None and getattr(args, "stimulus_replaces_inputs", False):
        raise UsageError("--dt applies to --stimulus FILE only (the spec's inputs carry their own times)")
    args.spec_files = {"the spec": Path(args.spec), **{f"the spec's {field}": path for field, path in files[1:]}}
    outputs = {flag: path for flag, path in (getattr(args, "checked_outputs", None) or {}).items()
               if not is_stdout(path)}
    if outputs:
        check_distinct(outputs, {f"the spec's {field}": path for field, path in files[1:]})
        kinds = getattr(args, "checked_kinds", {})
        for flag, path in outputs.items():  # now also a file with several hard links, and its kind
            if flag in kinds:
                check_output(path, flag, kinds[flag], force=bool(getattr(args, "force", False)))
            else:
                check_writable(path, field=flag)
    return spec


def _scaled(spec, time_scale, state_scale):
    """The spec with --time-scale / --state-scale applied (THEORY.md 5); a bad value is a
    UsageError naming the flag and the spec key."""
    try:
        return spec.with_scales(time_scale, state_scale)
    except SpecError as exc:
        flag = "--time-scale" if exc.field == "circuit.time_scale" else "--state-scale"
        raise UsageError(f"{flag} ({exc})") from None


#: The kind of file each output option writes (report/files.py OUTPUT_KINDS); ``--output``
#: differs by command and is given to :func:`check_outputs` (``kinds={"output": "csv"}``),
#: ``--plot`` follows its extension.
OPTION_KINDS = {"report": "report", "netlist": "netlist"}


def is_stdout(path) -> bool:
    """Whether an output path is ``-`` (standard output)."""
    return path is not None and str(path) == STDOUT


def check_outputs(args=None, inputs: dict | None = None, *, kinds: dict | None = None, **paths) -> dict:
    """Check every requested output location before doing any work: the one output rule.

    Each output (``report=args.report``; ``None`` = not requested) is of a kind
    (:data:`OPTION_KINDS`, ``kinds`` for ``output``, the extension for ``plot``: png, pdf,
    svg) and obeys :func:`~rnn2spice.report.files.check_output`: ``-`` is standard output
    (reports, CSV, netlists; at most one output may use it), any other path must be
    writable, an existing file there is replaced only when it is of that kind or with
    ``--force`` (``args.force``).  No output may be an input of the run (the spec
    ``args.spec`` and ``inputs``, e.g. ``{"--netlist": path}``) or another output: same
    path after resolving links, or a hard link to it.  The outputs are kept on ``args``
    (``args.checked_outputs``) so that :func:`load_spec_arg` also refuses the files the spec
    names; until then an output with several hard links passes, so that the message can name
    the input it is linked to.  Returns the outputs by flag.
    """
    kinds = {**OPTION_KINDS, **(kinds or {})}
    outputs = {f"--{field.replace('_', '-')}": path for field, path in paths.items() if path is not None}
    to_stdout = [flag for flag, path in outputs.items() if is_stdout(path)]
    if len(to_stdout) > 1:
        raise UsageError(f"{' and '.join(to_stdout)} both name standard output ('-'); at most one output may")
    sources = {}
    if getattr(args, "spec", None) is not None:
        sources["the spec"] = args.spec
    sources.update({label: path for label, path in (inputs or {}).items() if path is not None})
    model = getattr(args, "opamp_model", None)
    if isinstance(model, str) and ":" in model:  # the op-amp library is read: never an output
        sources["--opamp-model"] = model.rpartition(":")[0]
    check_distinct({flag: path for flag, path in outputs.items() if not is_stdout(path)}, sources)
    later = args is not None and sources.get("the spec") is not None
    force = bool(getattr(args, "force", False))
    checked_kinds = {}
    for field, path in paths.items():
        if path is None:
            continue
        flag = f"--{field.replace('_', '-')}"
        kind = figure_format(path, flag) if field == "plot" else kinds.get(field)
        if kind is None:
            raise ValueError(f"no output kind for {flag}")  # a command that forgot to say
        checked_kinds[flag] = kind
        if later and not is_stdout(path):
            # the kind of an existing file is judged in load_spec_arg, after the refusal of an
            # output that is one of the spec's files (which says more: which input it is)
            check_writable(path, field=flag, several_links_ok=True)
        else:
            check_output(path, flag, kind, force=force, several_links_ok=later)
    if args is not None:
        args.checked_outputs = outputs
        args.checked_kinds = checked_kinds
    return outputs


def write_output(path, data: str | bytes, field: str) -> None:
    """Write an output: to standard output for ``-``, else atomically (report/files.py)."""
    if is_stdout(path):
        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return
    write_atomic(path, data, field=field)


def summary_stream(args):
    """Where a command's summary lines go: standard error when an output took standard output."""
    taken = any(is_stdout(path) for path in (getattr(args, "checked_outputs", None) or {}).values())
    return sys.stderr if taken else sys.stdout


def plot_bytes(result, path) -> bytes:
    """``result.plot()`` (a matplotlib Figure) in the format of ``path``'s extension (png, pdf, svg)."""
    return figure_bytes(result.plot(), figure_format(path, "--plot"))


#: Longest --timeout (s), about 11.6 days; the operating system's timers take at most
#: ~9.2e9 s (a longer one ended in an OverflowError traceback).
MAX_TIMEOUT = 1e6


def check_timeout(timeout) -> None:
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(f"--timeout must be a positive finite number of seconds, at most {MAX_TIMEOUT:g} "
                         f"(got {timeout!r})")


def check_tolerance(tolerance, flag: str = "--tolerance") -> None:
    if tolerance is not None and not (tolerance > 0 and math.isfinite(tolerance)):
        raise UsageError(f"{flag} must be a positive number (got {tolerance!r})")


def finish(args, result, summary: str | None = None) -> int:
    """Print a result's summary (``summary``, or its ``summary()``; to standard error when
    ``--report -`` takes standard output), write its --report (JSON) and --plot (PNG, PDF or
    SVG by extension) when asked; the exit code of its verdict."""
    print(result.summary() if summary is None else summary, file=summary_stream(args))
    if args.report is not None:
        write_output(args.report, json_text(result.report()), field="--report")
    write_plot(args, result)
    return verdict_code(result.passed)


def write_plot(args, result) -> None:
    """Write ``result.plot()`` to ``--plot`` when asked, by the output rule of figures
    (report/files.py write_figure; checked before the run by :func:`check_outputs`)."""
    if getattr(args, "plot", None) is not None:
        write_figure(args.plot, plot_bytes(result, args.plot), "--plot", force=bool(getattr(args, "force", False)))
