"""What ngspice holds after loading a netlist: every device parameter as ngspice stores it.

:func:`device_values` loads netlist text into ``ngspice -b`` *without running its
analysis* and asks for ``@device[param]`` of every (device, param) pair it is given, so the
certificate (:mod:`rnn2spice.analysis.certificate`) can assemble the circuit from the
numbers the simulation will use instead of from its own reading of the text.

How.  The netlist is written to ``circuit.cir`` in a fresh temporary directory, and a
separate control file is generated there (the user's netlist itself never gets a
``.control`` section)::

    * rnn2spice inspect
    .control
    set numdgt=18
    source circuit.cir
    echo rnn2spice-loaded
    print line @r_0[resistance] @c_0[capacitance] ...     (scalars, in batches)
    print line @vx_0[coeffs]                               (one vector per line)
    echo rnn2spice-done
    quit
    .endc
    .end

``source`` parses and sets up the circuit but runs nothing; ``print line`` writes
``name = value`` (``name = ( v1 v2 ... )`` for a vector) with ``numdgt`` significant
digits, so every double comes back exactly (``printnum`` in src/misc/printnum.c prints
``%.*e``; 18 digits, 17 for a negative number, both enough for a double).  The output
format is the same in ngspice 39 and 46 (``com_print`` in src/frontend/postcoms.c).  A
query ngspice cannot answer (no such device or parameter) silently drops its whole
``print`` line, so unanswered queries are asked again one per line before they are
reported as missing.

Safety, as for the simulation (:mod:`rnn2spice.spice.ngspice`): ngspice runs with ``-n``
(no ``.spiceinit``; used when the binary lists the flag in ``--help``), in the temporary
directory as its working directory, and with ``HOME`` pointing there.  The binary is
``$RNN2SPICE_NGSPICE`` (else ``ngspice``), as for the ``'subprocess'`` backend.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rnn2spice.errors import NgspiceUnavailable, SimulationError
from rnn2spice.spice.batch import _binary_version, _ngspice_executable, popen_kwargs, with_parent_death
from rnn2spice.spice.log import _clean_lines, _excerpt, signal_name, with_saved_netlist
from rnn2spice.spice.scratch import scratch_dir

__all__ = ["DeviceValues", "device_values"]

#: Scalar queries per ``print line`` command (measured: 20 is as fast as any batch size).
BATCH = 20
_LOADED, _DONE = "rnn2spice-loaded", "rnn2spice-done"
_ANSWER = re.compile(r"^(@[^\s=\[\]]+\[[A-Za-z0-9_]+\]) = (.*)$")
_FLAG_LOCK = threading.Lock()
_NO_SPICEINIT: dict[str, bool] = {}


@dataclass(frozen=True, eq=False)
class DeviceValues:
    """ngspice's answers: ``values[(device, param)]`` is a float, or a tuple of floats for
    a vector parameter; ``missing`` lists the queries ngspice did not answer."""

    values: dict
    missing: tuple[tuple[str, str], ...]
    version: str                         # as ngspice reports it, e.g. '39'
    messages: tuple[str, ...] = ()       # ngspice's warnings and errors while loading
    seconds: float = 0.0                 # wall time of the ngspice runs
    runs: int = 1
    executable: str = field(default="")


def _query(device: str, param: str) -> str:
    return f"@{device}[{param}]"


def _has_no_spiceinit_flag(executable: str) -> bool:
    """Whether ``executable`` accepts ``-n`` (ngspice's 'do not read .spiceinit')."""
    with _FLAG_LOCK:
        if executable not in _NO_SPICEINIT:
            try:
                done = subprocess.run([executable, "--help"], capture_output=True, text=True, errors="replace",
                                      stdin=subprocess.DEVNULL, timeout=60)
                text = done.stdout + done.stderr
            except (OSError, subprocess.TimeoutExpired):
                text = ""
            _NO_SPICEINIT[executable] = bool(re.search(r"(^|\s)-n\b|--no-spiceinit", text))
        return _NO_SPICEINIT[executable]


def _control(scalars: list[str], vectors: list[str], batch: int) -> str:
    lines = ["* rnn2spice inspect", ".control", "set numdgt=18", "source circuit.cir", f"echo {_LOADED}"]
    for i in range(0, len(scalars), batch):
        lines.append("print line " + " ".join(scalars[i:i + batch]))
    lines += [f"print line {q}" for q in vectors]
    lines += [f"echo {_DONE}", "quit", ".endc", ".end", ""]
    return "\n".join(lines)


def _parse(stdout: str) -> dict[str, float | tuple[float, ...]]:
    """``{query: value}`` from ngspice's ``print line`` output (vectors may span lines)."""
    out: dict[str, float | tuple[float, ...]] = {}
    pending: tuple[str, list[str]] | None = None
    for line in stdout.splitlines():
        if pending is not None:
            name, words = pending
            words += line.replace(")", " ) ").split()
            if ")" in words:
                out[name] = tuple(float(w) for w in words[:words.index(")")])
                pending = None
            continue
        m = _ANSWER.match(line.strip())
        if not m:
            continue
        name, rest = m.group(1).lower(), m.group(2).strip()
        try:
            if rest.startswith("("):
                words = rest[1:].replace(")", " ) ").split()
                if ")" in words:
                    out[name] = tuple(float(w) for w in words[:words.index(")")])
                else:
                    pending = (name, words)
            else:
                out[name] = float(rest.split(",")[0])
        except ValueError:
            pending = None  # not a number: leave the query unanswered
    return out


def _run(executable: str, netlist: str, scalars: list[str], vectors: list[str], batch: int,
         timeout: float) -> tuple[dict, list[str], bool]:
    with scratch_dir(prefix="rnn2spice-inspect-") as tmp:
        Path(tmp, "circuit.cir").write_text(netlist, encoding="utf-8")
        Path(tmp, "inspect.cir").write_text(_control(scalars, vectors, batch), encoding="utf-8")
        args = [executable, "-b"] + (["-n"] if _has_no_spiceinit_flag(executable) else []) + ["inspect.cir"]
        env = dict(os.environ, HOME=tmp)
        try:
            done = subprocess.run(with_parent_death(args), cwd=tmp, env=env, capture_output=True, text=True, errors="replace",
                                  stdin=subprocess.DEVNULL, timeout=timeout, **popen_kwargs())
        except subprocess.TimeoutExpired:
            raise SimulationError(f"ngspice did not load the netlist within {timeout:g} s") from None
        except OSError as exc:
            raise NgspiceUnavailable(f"cannot run {executable}: {exc}") from None
    lines = _clean_lines(done.stdout) + _clean_lines(done.stderr)
    loaded = any(line.strip() == _LOADED for line in done.stdout.splitlines())
    finished = any(line.strip() == _DONE for line in done.stdout.splitlines())
    if done.returncode < 0:
        raise SimulationError(f"ngspice was killed by {signal_name(done.returncode)} while loading the netlist "
                              "to report its values", ngspice_message=_excerpt(lines))
    if done.returncode != 0 or not loaded or not finished:
        raise SimulationError("ngspice could not load the netlist to report its values"
                              + (f" (exit status {done.returncode})" if done.returncode else ""),
                              ngspice_message=_excerpt(lines))
    # What ngspice said while loading (warnings, ignored lines), without the answers.
    said = [line for line in _clean_lines(done.stderr)]
    head = done.stdout.split(_LOADED, 1)[0]
    said += [line for line in _clean_lines(head) if re.search(r"warning|error|ignored", line, re.IGNORECASE)]
    return _parse(done.stdout), said, True


def device_values(netlist: str, queries, *, vector_params=("coeffs",), timeout: float = 600.0) -> DeviceValues:
    """Load ``netlist`` into ngspice (nothing is run) and return the value of every
    ``(device, param)`` in ``queries`` as ngspice holds it (names as ngspice spells them,
    lower case; a subcircuit's devices as ``g.xg_0_1.g_a``).  Parameters named in
    ``vector_params`` are vectors (one query per ``print`` line).

    Raises :class:`SimulationError` when ngspice cannot be run or does not load the text; it
    names a kept copy of the netlist, so that ``ngspice -b FILE`` reproduces the failure."""
    try:
        return _device_values(netlist, queries, vector_params, timeout)
    except SimulationError as exc:
        raise with_saved_netlist(exc, netlist) from None


def _device_values(netlist: str, queries, vector_params, timeout: float) -> DeviceValues:
    executable = _ngspice_executable(None)
    version = _binary_version(executable)
    queries = [(d.lower(), p.lower()) for d, p in queries]
    names = {_query(d, p): (d, p) for d, p in queries}
    scalars = [q for q, (_, p) in names.items() if p not in vector_params]
    vectors = [q for q, (_, p) in names.items() if p in vector_params]
    start = time.perf_counter()
    answers, said, _ = _run(executable, netlist, scalars, vectors, BATCH, timeout)
    runs = 1
    lost = [q for q in scalars if q not in answers]
    if lost:  # one bad query drops its whole print line: ask the others again, one per line
        again, more, _ = _run(executable, netlist, [], lost, 1, timeout)
        answers.update(again)
        runs += 1
    values = {names[q]: answers[q] for q in names if q in answers}
    missing = tuple(names[q] for q in names if q not in answers)
    return DeviceValues(values, missing, version, tuple(dict.fromkeys(said)), time.perf_counter() - start, runs,
                        executable)
