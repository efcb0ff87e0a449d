"""rnn2spice: recurrent neural networks as analog circuits, proven equal by ngspice simulation.

A network (THEORY.md section 1) compiles to an ngspice netlist (sections 2-4); the netlist
is certified from its text, simulated, and compared with the exact solution (section 6).
SI units throughout: seconds, 1/s for paper-form weights, volts/amperes per unit of state.

    >>> import rnn2spice
    >>> net = rnn2spice.load("netlists/damped-oscillator.yaml")         # doctest: +SKIP
    >>> result = rnn2spice.check(net, form="series")                    # doctest: +SKIP
    >>> result.passed, result.report()["rel_max_error"]                 # doctest: +SKIP

The API:

* :func:`load` a spec file, or build a :func:`Network` from arrays (both give an :class:`RnnSpec`);
* :func:`compile` it to a :class:`CompiledNetwork` (``.netlist`` text, ``.realisation``);
* :func:`verify` the netlist against the network (the equivalence certificate);
* :func:`simulate` it in ngspice (a :class:`Trajectory`), or :func:`check` it against
  the exact reference (a :class:`CheckResult`), :func:`ac` for the frequency response;
* :func:`import_model` a trained Keras / PyTorch / NPZ / PsychRNN network (nothing written unless asked), :func:`task` to run its
  task on network, reference and circuit;
* :func:`montecarlo` (every R, C, L within a tolerance, run after run) and :func:`sweep`
  (one run per parameter value) give a :class:`StudyResult`, on every core or a Dask cluster.
* building it: :func:`opamp_error` (single-pole op-amps, predicted and measured), :func:`snap`
  (R and C from an E series: the network the circuit then realises, predicted and simulated),
  :func:`snap_trial` (the same over one task trial: does the decision survive?), :func:`value_warnings`, :func:`bom` (bill of materials), and
  :func:`schematic` (an SVG or PNG picture of a small network's circuit), :func:`kicad` (a KiCad 9
  project KiCad itself checks and simulates: a :class:`KicadResult`).

A network saves itself (``net.save("net.yaml")``, ``net.to_dict()``).  Results carry their
numpy arrays and have ``.passed``, ``.report()`` (a JSON-ready dict), ``.summary()`` (text),
``.plot(ax=None)`` (a matplotlib Figure), a repr of a few lines and, in Jupyter, a small table.  Errors derive from :class:`Rnn2SpiceError`.
"""

import sys as _sys
from contextlib import nullcontext as _quietly

# `python -m rnn2spice`: the interpreter imports this package before __main__ can catch
# anything, so a Ctrl-C or SIGTERM during these seconds of imports is caught here instead --
# one line, exit 130 or 143, as the console script (rnn2spice_launch.py, which says why).
# Only then: a library import keeps Python's own KeyboardInterrupt.
_starting = _quietly
if _sys.argv[:1] == ["-m"]:
    try:
        from rnn2spice_launch import run_as_main as _run_as_main, starting as _starting_main
    except ImportError:  # the package without its launcher (copied by hand): Python's own handling
        pass
    else:
        if _run_as_main():
            _starting = _starting_main

with _starting():
    from rnn2spice._version import __version__
    from rnn2spice.analysis.certificate import Certificate
    from rnn2spice.api import (Bom, Build, BuildCheck, KicadResult, Network, OpAmpError, SnapResult, SnapTrial,
                               StudyResult, ac, bom, check, check_build, compile, import_model, kicad, load,
                               montecarlo, opamp_error, save, schematic, simulate, snap, snap_trial, sweep, task,
                               value_warnings, verify)
    from rnn2spice.circuit.compiler import CompiledNetwork, Realisation
    from rnn2spice.errors import (CertificateFailed, ComponentValueWarning, MissingDependencyError, ModelError,
                                  NetlistError, NgspiceUnavailable, OutputError, ReferenceSolverError, Rnn2SpiceError, SimulationError,
                                  SpecError, UnknownOptionError, UsageError)
    from rnn2spice.network.spec import RnnSpec, spec_from_dict
    from rnn2spice.network.waveform import Pulse, Pwl, Sine, Step
    from rnn2spice.spice.ngspice import BackendFallbackWarning, SolverFallbackWarning
    from rnn2spice.workflows.ac import AcResult
    from rnn2spice.workflows.importers import ImportResult
    from rnn2spice.workflows.pipeline import CheckResult, Trajectory
    from rnn2spice.workflows.stimulus import Stimulus, pulse_trials
    from rnn2spice.workflows.task import TaskResult
    from rnn2spice.workflows.verify import VerifyResult

__all__ = [
    "__version__",
    # networks
    "load", "Network", "save", "spec_from_dict", "RnnSpec", "Step", "Pulse", "Sine", "Pwl",
    # circuits
    "compile", "CompiledNetwork", "Realisation",
    # proofs and runs
    "verify", "VerifyResult", "Certificate", "simulate", "Trajectory", "check", "CheckResult",
    "ac", "AcResult",
    # trained networks
    "import_model", "ImportResult", "task", "TaskResult", "Stimulus", "pulse_trials",
    # many runs: component tolerances and parameter sweeps, on every core or a Dask cluster
    "montecarlo", "sweep", "StudyResult",
    # building it: op-amp non-idealities, preferred values, part ranges, bill of materials; a picture
    "opamp_error", "OpAmpError", "snap", "SnapResult", "snap_trial", "SnapTrial", "value_warnings", "bom", "Bom",
    "schematic", "kicad", "KicadResult",
    # real parts: op-amps by part, transistor activations, preferred values, the predicted build error
    "Build", "check_build", "BuildCheck",
    # errors
    "Rnn2SpiceError", "SpecError", "ModelError", "UsageError", "UnknownOptionError", "OutputError", "NetlistError",
    "SimulationError", "NgspiceUnavailable", "ReferenceSolverError", "CertificateFailed", "MissingDependencyError",
    "BackendFallbackWarning",
    "ComponentValueWarning",
    "SolverFallbackWarning",
]
