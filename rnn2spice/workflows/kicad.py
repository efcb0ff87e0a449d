"""A network's circuit as a KiCad 9 project: ``rnn2spice kicad`` and :func:`rnn2spice.kicad`.

The circuit is compiled as for every other command (form, coupling, accuracy: the same
``.tran`` and ``.options``), optionally with every R and C at its preferred value
(``snap``) or from real parts (``build``: the compiler's, issue 21), and handed to the KiCad
writer (:mod:`rnn2spice.circuit.kicad`).  The states are the nets ``h0 ... h{n-1}`` (the
op-amp form's outputs ``o<k>`` are renamed; the series form's states are the currents
through the sense sources ``Vs_<k>``).  :attr:`KicadResult.netlist` is rnn2spice's own
netlist of exactly the circuit drawn, so KiCad's SPICE export can be checked against it
(tests/test_kicad.py, docs/kicad.md).

Nothing is written unless every file can be: each existing file among the outputs must be
a file of its kind (a KiCad schematic, project, symbol library, or this writer's model
library), else :class:`OutputError` names it; an existing ``sym-lib-table`` that is not
exactly the writer's is left alone (the schematic then still opens and simulates; KiCad's
ERC warns that the library ``rnn2spice`` is not configured).

Real-part builds (issue 21: ``build``, the CLI's build options) are drawn too: op-amp
macro-models as 5-pin op-amp symbols over the model library, transistors and diodes
(:mod:`rnn2spice.circuit.kicad_parts`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import CompiledNetwork, compile_rnn
from rnn2spice.circuit.realparts import Build
from rnn2spice.circuit.kicad import MAX_INPUTS, MAX_NEURONS, OPTIONAL_FILES, SYMBOL_TABLE_TEXT, write_kicad
from rnn2spice.circuit.writer import write_netlist
from rnn2spice.errors import OutputError, UsageError, clip
from rnn2spice.network.spec import RnnSpec
from rnn2spice.report.display import Displayed
from rnn2spice.report.files import check_distinct, check_output as check_output_rule, check_writable, register_output_kind, write_atomic

SUFFIX = ".kicad_sch"
#: file suffix -> the output kind (report/files.py) of the files the KiCad writer writes, each
#: recognised by the writer's own signature (circuit/kicad.py): a schematic or symbol library
#: whose generator is rnn2spice, the project file as the writer starts it, the model library's
#: first comment.  A file KiCad itself saved (generator eeschema) is the user's work now: it is
#: replaced only with ``force``.
_KINDS = {".kicad_sch": "kicad_sch", ".kicad_pro": "kicad_pro", ".kicad_sym": "kicad_sym", ".lib": "kicad_lib"}
register_output_kind("kicad_sch", "a KiCad schematic written by rnn2spice",
                     lambda data: re.match(rb'\(kicad_sch \(version \d+\) \(generator "rnn2spice"\)', data) is not None)
register_output_kind("kicad_sym", "a KiCad symbol library written by rnn2spice",
                     lambda data: re.match(rb'\(kicad_symbol_lib \(version \d+\) \(generator "rnn2spice"\)', data)
                     is not None)
register_output_kind("kicad_pro", "a KiCad project file written by rnn2spice",
                     lambda data: re.match(rb'\{\n  "meta": \{\n    "filename": "[^"\n]*\.kicad_pro",', data) is not None)
register_output_kind("kicad_lib", "a model library written by rnn2spice",
                     lambda data: re.match(rb"\* rnn2spice \S+ models of ", data) is not None)


@dataclass(frozen=True, eq=False, repr=False)
class KicadResult(Displayed):
    """What :func:`kicad` wrote."""

    SHOWN = ("schematic", "parts", "sheets", "snap")

    compiled: CompiledNetwork
    circuit: ir.Circuit                 # the circuit drawn (the compiled one, or snapped)
    schematic: Path                     # the root sheet
    files: tuple[Path, ...]             # every file written, the root sheet first
    skipped: tuple[Path, ...] = ()      # optional files left alone (another sym-lib-table)
    rename: dict = field(default_factory=dict)   # IR node -> net name on the sheets
    snap: str | None = None

    passed = True

    @property
    def spec(self) -> RnnSpec:
        """The network drawn."""
        return self.compiled.spec

    @property
    def netlist(self) -> str:
        """rnn2spice's own netlist of the circuit drawn."""
        return write_netlist(self.circuit)

    @property
    def sheets(self) -> int:
        return sum(1 for f in self.files if f.suffix == SUFFIX)

    @property
    def parts(self) -> int:
        return ir.count(self.circuit.elements)

    def state_vectors(self) -> tuple[str, ...]:
        """The states as vectors of KiCad's netlist in ngspice: ``v(h0)`` or ``i(vs_0)``."""
        return tuple(f"v({self.rename.get(p.target, p.target).lower()})" if p.kind == "voltage"
                     else f"i({p.target.lower()})" for p in self.compiled.state_probes)

    def summary(self) -> str:
        c = self.compiled
        lines = [c.summary_head(),
                 f"KiCad project {self.schematic.with_suffix('.kicad_pro')}: {self.parts} parts on "
                 f"{self.sheets} sheet{'s' if self.sheets != 1 else ''}"
                 + (f", R and C snapped to {self.snap}" if self.snap else "")
                 + "; states " + ", ".join(self.state_vectors()),
                 "wrote " + ", ".join(f.name for f in self.files)]
        if self.skipped:
            lines.append(f"left {', '.join(str(f) for f in self.skipped)} alone (not rnn2spice's): KiCad's ERC "
                         "will warn that the symbol library 'rnn2spice' is not configured")
        return "\n".join(lines)

    def report(self) -> dict:
        return {"kind": "kicad", **self.compiled.describe(), "schematic": str(self.schematic),
                "files": [str(f) for f in self.files], "skipped": [str(f) for f in self.skipped],
                "parts": self.parts, "sheets": self.sheets, "snap": self.snap, "states": list(self.state_vectors())}


def check_output(output, field: str = "output") -> Path:
    """``output`` as a path of a ``.kicad_sch`` file (UsageError otherwise)."""
    if not isinstance(output, (str, os.PathLike)):
        raise UsageError(f"{field} must be the path of a .kicad_sch file (got {type(output).__name__})")
    path = Path(os.fspath(output))
    if path.suffix != SUFFIX or path.name == SUFFIX:
        raise UsageError(f"{field} must name a KiCad schematic file, NAME{SUFFIX} (got {clip(str(path))!r})")
    return path


def check_size(spec: RnnSpec) -> None:
    """UsageError naming n or m when the network is larger than the KiCad writer supports."""
    if spec.n > MAX_NEURONS:
        raise UsageError(f"spec {spec.name}: n = {spec.n} neurons; KiCad schematics support at most "
                         f"{MAX_NEURONS} neurons (one sheet per neuron)")
    if spec.m > MAX_INPUTS:
        raise UsageError(f"spec {spec.name}: m = {spec.m} inputs; KiCad schematics support at most {MAX_INPUTS}")


def kicad(spec: RnnSpec, *, output: str | os.PathLike, form: str = "parallel", coupling: str | None = None,
          accuracy: str = "default", rtol: float | None = None, snap: str | None = None,
          build: Build | None = None, field: str = "output", force: bool = False,
          inputs: dict | None = None) -> KicadResult:
    """Write ``spec``'s circuit as a KiCad 9 project: ``output`` (``DIR/NAME.kicad_sch``, the
    root sheet) and beside it ``NAME.kicad_pro``, ``rnn2spice.kicad_sym`` with a
    ``sym-lib-table`` naming it, the sheets ``NAME-neuron<k>.kicad_sch`` beyond 4 neurons and
    the model library ``NAME.lib`` where a subcircuit is used (ideal op-amps, gyrators).

    ``form``, ``coupling``, ``accuracy``, ``rtol`` and ``build`` (real parts: a
    :class:`rnn2spice.Build`) as :func:`rnn2spice.compile`; ``snap`` (``E24`` ...) is
    ``build.snap``: every R and C at its nearest preferred value.  Raises
    :class:`UsageError` for an unsupported size, form or coupling and :class:`OutputError`
    for an existing file that is not of its kind (one rnn2spice wrote); nothing is written
    then.  ``force=True`` replaces every file there, a ``sym-lib-table`` of the user's too,
    but never a file this run reads: ``inputs`` (name -> path, e.g. the spec and its files)
    and ``build.opamp_model``'s library.
    """
    path = check_output(output, field)
    if not isinstance(spec, RnnSpec):
        raise UsageError(f"network must be a Network (rnn2spice.load or rnn2spice.Network) (got {type(spec).__name__})")
    check_size(spec)
    if snap is not None:
        if build is not None and build.snap not in (None, snap):
            raise UsageError(f"snap {snap!r} and build.snap {build.snap!r} both choose the series; give one")
        build = dataclasses.replace(build or Build(), snap=snap)
    compiled = compile_rnn(spec, form=form, coupling=coupling, accuracy=accuracy, rtol=rtol, build=build)
    circuit = compiled.circuit
    snap = build.snap if build is not None else None
    rename = {p.target: f"h{k}" for k, p in enumerate(compiled.state_probes)
              if p.kind == "voltage" and p.target != f"h{k}"}
    texts = write_kicad(circuit, name=path.name[:-len(SUFFIX)], rename=rename, neurons=spec.n)
    folder = path.parent
    writes, skipped = [], []
    for name, text in texts.items():
        target = folder / name
        if name in OPTIONAL_FILES:
            if not force and target.exists() and _read(target, field) != text.encode():
                skipped.append(target)
                continue
            check_writable(target, field)
        else:
            check_output_rule(target, field, _KINDS[Path(name).suffix], force=force)
        writes.append((target, text))
    sources = dict(inputs or {})
    if build is not None and build.opamp_model:
        # named as the caller names things: --opamp-model on the command line, opamp_model in the API
        sources["--opamp-model" if field.startswith("--") else "build.opamp_model"] = build.opamp_model.rpartition(":")[0]
    check_distinct({f"{field} ({target.name})": target for target, _ in writes}, sources)
    for target, text in writes:
        write_atomic(target, text, field=field)
    return KicadResult(compiled, circuit, path, tuple(t for t, _ in writes), tuple(skipped), rename, snap)


def _read(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()[:len(SYMBOL_TABLE_TEXT) + 1]
    except OSError as exc:
        raise OutputError(f"{field}: cannot read {clip(str(path))!r}: {exc.strerror or exc}") from None
