"""A user's vendor op-amp model, ``--opamp-model FILE.lib:SUBCKT``: read, scanned, refused when unsafe.

Vendor libraries are plain SPICE, but SPICE can do more than describe a circuit: ``.control``
blocks run commands (``shell`` among them), ``.include`` / ``.lib`` pull in other files.  The
subcircuit ``SUBCKT`` is taken from the file alone (its lines from ``.subckt SUBCKT`` to the
matching ``.ends``) and every line is scanned: a control statement, an include, an analysis,
a nested subcircuit, a non-printable character or a shell word anywhere in it is refused
with a :class:`~rnn2spice.errors.UsageError` naming the file, the line number and its text
(exit 2).  The pins must be five, in the order the library's op-amps use (``+in -in V+ V-
out``, the order of most vendor models).
"""

from __future__ import annotations

import re
from pathlib import Path

from rnn2spice.circuit import ir
from rnn2spice.errors import UsageError
from rnn2spice.network.files import read_regular

#: Dot cards allowed inside a user's subcircuit: device models, parameters, functions, its end.
ALLOWED_DOT = (".model", ".param", ".func", ".ends")
#: Words that have no place in a circuit description (ngspice control language, scripting).
FORBIDDEN_WORDS = re.compile(r"\b(shell|system|exec|source|codemodel|setcs|load)\b|`", re.IGNORECASE)
_PRINTABLE = re.compile(r"[\x20-\x7e\t]*\Z")
_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{0,63}\Z")
#: Largest model file read (bytes).
MAX_BYTES = 2_000_000


def scan_lines(lines, where: str, first_line: int = 1) -> None:
    """UsageError naming the line when any of ``lines`` (a subcircuit, ``.subckt`` first)
    is outside what a device description needs (module docstring)."""
    for i, line in enumerate(lines, start=first_line):
        shown = line if len(line) <= 100 else line[:97] + "..."
        if not isinstance(line, str) or not _PRINTABLE.match(line):
            raise UsageError(f"{where} line {i}: non-printable characters are refused: {shown!r}")
        stripped = line.strip()
        if not stripped or stripped.startswith("*"):
            continue
        if FORBIDDEN_WORDS.search(stripped.split(";")[0]):
            raise UsageError(f"{where} line {i}: a control or shell word is refused in a model: {shown!r}")
        if stripped.startswith("."):
            card = stripped.split()[0].lower()
            if i == first_line and card == ".subckt":
                continue
            if card not in ALLOWED_DOT:
                raise UsageError(f"{where} line {i}: {card} is refused in a model (control statements, includes, "
                                 f"analyses and nested subcircuits are; allowed: {', '.join(ALLOWED_DOT)}): {shown!r}")


def read_subcircuit(spec: str) -> ir.SubcircuitText:
    """``FILE.lib:SUBCKT`` -> the scanned subcircuit (module docstring)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise UsageError(f"--opamp-model must be FILE.lib:SUBCKT (got {spec!r})")
    file, _, name = spec.rpartition(":")
    if not _IDENT.match(name):
        raise UsageError(f"--opamp-model subcircuit name must be letters, digits and _ (got {name!r})")
    path = Path(file)
    # a regular file only, and at most MAX_BYTES + 1 bytes read (/dev/zero was read whole)
    data = read_regular(path, "--opamp-model", file, MAX_BYTES)
    text = data.decode("latin-1")
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    start = None
    for i, line in enumerate(lines):
        tokens = line.split()
        if len(tokens) >= 2 and tokens[0].lower() == ".subckt" and tokens[1].lower() == name.lower():
            start = i
            break
    if start is None:
        raise UsageError(f"--opamp-model {file!r} has no .subckt {name}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].split()[:1]
                and lines[i].split()[0].lower() == ".ends"), None)
    if end is None:
        raise UsageError(f"--opamp-model {file!r}: .subckt {name} (line {start + 1}) has no .ends")
    body = lines[start:end + 1]
    scan_lines(body, f"--opamp-model {file}", first_line=start + 1)
    body = _with_models(body, lines, start, file)
    header = body[0].split()
    pins = tuple(t for t in header[2:] if "=" not in t and t.lower() != "params:")
    if len(pins) != 5 or not all(_IDENT.match(p) for p in pins):
        raise UsageError(f"--opamp-model {file} line {start + 1}: subcircuit {name} must have 5 pins (+in -in V+ V- "
                         f"out) (got {len(pins)}): {body[0][:100]!r}")
    return ir.SubcircuitText(name, pins, tuple(body))


def _cards(lines, first: int) -> list[str]:
    """The card starting at ``lines[first]`` with its ``+`` continuation lines (comments between
    them skipped)."""
    out = [lines[first]]
    for line in lines[first + 1:]:
        stripped = line.strip()
        if stripped.startswith("+"):
            out.append(line)
        elif stripped and not stripped.startswith("*"):
            break
    return out


def _with_models(body: list[str], lines: list[str], start: int, file: str) -> list[str]:
    """``body`` with the ``.model`` cards it uses copied in before ``.ends`` from elsewhere in
    the file (vendors often define them after the subcircuit), each scanned; an instance of
    another subcircuit, or a device whose model the file does not define, is refused naming
    its line (it was ngspice's several-line rejection, exit 3, after the netlist was written)."""
    where = f"--opamp-model {file}"
    local = {ln.split()[1].lower() for ln in body if len(ln.split()) > 1 and ln.split()[0].lower() == ".model"}
    outside: dict[str, int] = {}
    for i, line in enumerate(lines):
        tokens = line.split()
        if len(tokens) > 1 and tokens[0].lower() == ".model" and not start <= i < start + len(body):
            outside.setdefault(tokens[1].lower(), i)
    added: list[str] = []
    for offset, line in enumerate(body):
        stripped = line.strip()
        if offset == 0 or not stripped or stripped[0] in "*.+":
            continue
        tokens = stripped.split(";")[0].split()
        kind = tokens[0][0].upper()
        number = start + 1 + offset
        if kind == "X":
            raise UsageError(f"{where} line {number}: an instance of another subcircuit is refused (only the "
                             f"lines of the one subcircuit are taken from the file): {stripped[:100]!r}")
        if kind not in "DQMJZ":
            continue
        names = [t.lower() for t in tokens[1:] if "=" not in t]
        if any(t in local for t in names):
            continue
        pulled = [t for t in names if t in outside]
        if not pulled:
            raise UsageError(f"{where} line {number}: the device's model is not defined in the file: "
                             f"{stripped[:100]!r}")
        index = outside[pulled[0]]
        cards = _cards(lines, index)
        scan_lines(cards, where, first_line=index + 1)
        added.extend(cards)
        local.add(pulled[0])
    return body[:-1] + added + body[-1:]
