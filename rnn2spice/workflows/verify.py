"""Proof of equivalence before simulation: certify a netlist against its network.

:func:`verify` compiles the network (or reads an existing netlist file) and hands the
netlist *text* to :mod:`rnn2spice.analysis.certificate`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from rnn2spice.analysis.certificate import TOLERANCE, Certificate, verify_netlist
from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import Realisation, compile_rnn
from rnn2spice.errors import UsageError
from rnn2spice.network.dale import dale_report
from rnn2spice.network.numbers import is_real
from rnn2spice.network.spec import RnnSpec
from rnn2spice.report.display import Displayed
from rnn2spice.workflows.pipeline import check_tolerance

#: Netlists larger than this are refused before reading (a 2000-neuron dense network is ~300 MB).
MAX_NETLIST_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, eq=False, repr=False)
class VerifyResult(Displayed):
    """A certificate with what it certified: the spec, the netlist's source and its realisation."""

    spec: RnnSpec
    certificate: Certificate
    source: str                       # "compiled, form ..., coupling ..." or the netlist file
    realisation: Realisation | None   # None for an existing netlist file

    SHOWN = ("n", "m", "form", "netlist")

    @property
    def passed(self) -> bool:
        return self.certificate.passed

    def _headline(self) -> str:
        return f"{self.spec.name}: certificate {'PASS' if self.passed else 'FAIL'}"

    def report(self) -> dict:
        """The JSON report of ``rnn2spice verify``."""
        spec, cert = self.spec, self.certificate
        return {"spec": spec.name, "n": spec.n, "m": spec.m, "netlist": self.source,
                "form": cert.form, "passed": cert.passed, "certificate": cert.as_dict(),
                "dale": dale_report(spec.w).as_dict(),
                "realisation": self.realisation.as_dict() if self.realisation is not None else None}

    def summary(self) -> str:
        spec, c = self.spec, self.certificate.counts
        lines = [f"spec {spec.name}: n = {spec.n}, m = {spec.m}, {spec.convention}/{spec.activation}; "
                 f"netlist: {self.source}",
                 (f"netlist elements: {c['elements']} ({c['resistors']} R of which {c['negative_resistors']} "
                  f"negative, {c['capacitors']} C, {c['inductors']} L, {c['gyrators']} gyrators, "
                  f"{c['vccs'] + c['cccs'] + c['vcvs'] + c['ccvs']} controlled sources, "
                  f"{c['behavioural_sources']} behavioural sources; {ir.ELEMENTS_MEANING})") if "resistors" in c
                 else "netlist elements: not counted (the netlist is refused)", dale_report(spec.w).describe()]
        if self.realisation is not None:
            lines.append(self.realisation.describe())
        lines.append(self.certificate.describe())
        return "\n".join(lines)


def read_netlist_file(path: str | os.PathLike) -> str:
    """The text of an existing netlist file (ASCII, regular, at most MAX_NETLIST_BYTES)."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"--netlist: {str(path)!r} is not a regular file")
        if info.st_size > MAX_NETLIST_BYTES:
            raise UsageError(f"--netlist: {str(path)!r} is larger than {MAX_NETLIST_BYTES} bytes")
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--netlist: cannot read {str(path)!r}: {exc}") from None


def verify(net: RnnSpec, *, form: str = "parallel", coupling: str | None = None,
           netlist: str | os.PathLike | None = None, tolerance: float = TOLERANCE,
           rtol: float | None = None) -> VerifyResult:
    """Certify that the circuit of ``net`` realises it (docs/certificate.md: the exact
    equations, A, B, drive, h0, every activation's argument map and gain, the numerics).

    ``coupling`` None: the form's own, as the compiler and ``rnn2spice verify`` choose it
    (``resistor`` for ``opamp``).  ``netlist``: certify this existing file instead of compiling
    (``form`` and ``coupling`` are then not used).  ``tolerance``: pass threshold on the relative discrepancies.
    ``rtol``: the model-level accuracy target whose ``.options`` and maximum step the
    netlist must be no looser than (None: the default accuracy's, 1e-3; a compiled circuit
    is compiled for it and held to its own options).
    """
    check_tolerance(tolerance)
    if rtol is not None and (not is_real(rtol) or not 1e-9 <= rtol <= 0.1):
        raise UsageError(f"rtol must be a relative error between 1e-9 and 0.1 (got {rtol!r})")
    if netlist is not None and not isinstance(netlist, (str, os.PathLike)):
        raise UsageError(f"netlist must be the path of a netlist file (got {type(netlist).__name__})")
    if netlist is not None:  # the analysis card is then checked against the spec's t_stop / t_step
        text, realisation, source, analysis, options = read_netlist_file(netlist), None, str(netlist), None, None
    else:
        compiled = compile_rnn(net, form=form, coupling=coupling, rtol=rtol)
        text, realisation = compiled.netlist, compiled.realisation
        source, analysis = f"compiled, form {form}, coupling {compiled.coupling}", compiled.circuit.analysis
        options = compiled.circuit.options
    return VerifyResult(net, verify_netlist(text, net, tolerance=tolerance, analysis=analysis, options=options,
                                            rtol=rtol), source, realisation)
