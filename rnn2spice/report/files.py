"""Writing results: nothing lost, nothing destroyed.

What an output path names decides how it is written (:func:`output_target`):

* **a new path, or an existing regular file** (one link): the data go to a temporary file
  in the same directory, which is renamed over the target only when complete
  (``os.replace`` is atomic on POSIX), so a failure at any point leaves an existing file
  untouched.  An existing file keeps its permission bits and, where allowed, its owner and
  group; a new file gets ``0666 & ~umask`` (the temporary is created with mode 0666 and the
  kernel applies the umask and any default ACL).
* **a symbolic link** (or a chain of them) **to a regular file**: the file it points to is
  replaced as above; the link stays a link.  A **dangling** link, or a loop, is refused:
  creating a file wherever a link points is how a symlink attack works.
* **a character device** (``/dev/null``, a terminal) **or a FIFO**: written through -- opened
  for writing (no creation, no rename) and written; a FIFO waits for its reader.  So is a
  path naming an open descriptor (``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``) even
  when the shell redirected it to a regular file: the data are appended, as writing to the
  descriptor would (``>> log`` keeps the log).
* **refused**: a directory, a block device (a report is never meant to go over a disk), a
  socket, a regular file with more than one hard link (renaming would split the links and
  writing in place could not be atomic), a missing or unwritable directory.

:func:`check_distinct` refuses an output that is an input of the same run or another output
(same path after resolving links, or the same inode: a hard link).

:func:`check_output` is the one output rule every writing option and every API function that
writes obeys (issue 19; the API through :func:`write_file`): ``-`` is standard output for the
kinds that allow it; an existing file is replaced only when it is of the kind the option
writes or with ``force``.  A kind (:data:`OUTPUT_KINDS`) is recognised positively, by the
signature its writer puts in the file (:data:`GENERATOR` in a report's first key, a
netlist's header comment, a figure's software tag, a spec's first line, a waveform CSV's
exact header and its writer's spelling of every number, a BOM's header and rows), so that a
file that merely looks alike (package.json, a hand-written netlist, someone's photo) is
never replaced.

The module is longer than 400 lines: where an output may go (:func:`output_target`), how it
is written (atomically or through) and whether an existing file may be replaced (the kinds)
are one rule, read and changed together.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import secrets
import stat
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn2spice._version import __version__
from rnn2spice.errors import OutputError, clip, shown

#: Target kinds of :class:`OutputTarget`.
NEW, FILE, THROUGH = "new", "file", "through"

_DESCRIPTOR = re.compile(r"/(proc/(self|thread-self|\d+)(/task/\d+)?|dev)/fd/\d+")


@dataclass(frozen=True)
class OutputTarget:
    """Where an output goes.  ``kind``: ``"new"`` (no file yet), ``"file"`` (an existing
    regular file, replaced atomically) or ``"through"`` (a character device, a FIFO or an open
    descriptor, written in place).  ``real`` is the file that is created, replaced or opened (links resolved)."""

    path: Path
    real: Path
    kind: str
    info: os.stat_result | None


def output_target(path: str | os.PathLike, field: str = "output", *, several_links_ok: bool = False) -> OutputTarget:
    """What writing ``path`` would do; raises :class:`OutputError` when it may not be written.

    ``several_links_ok``: do not refuse a file with several hard links (yet) -- for a first
    check made before the run's inputs are all known, so that a later
    :func:`check_distinct` can name the input it is linked to.
    """
    path = Path(path)
    shown = str(path)
    try:
        info = os.stat(path)  # follows symbolic links
    except FileNotFoundError:
        info = None
    except ValueError:  # a NUL byte
        raise OutputError(f"{field}: {shown!r} is not a valid path") from None
    except OSError as exc:  # a loop of links, a name too long, a file used as a directory, ...
        raise OutputError(f"{field}: cannot write {shown!r}: {exc.strerror or exc}") from None
    if info is None:
        if os.path.islink(path):
            raise OutputError(f"{field}: {shown!r} is a symbolic link to {os.readlink(path)!r}, which does not "
                              "exist; rnn2spice does not create files through dangling links (write to the "
                              "target path itself)")
        real = Path(os.path.realpath(path))
        if not real.parent.is_dir():
            parent = path.parent if str(path.parent) else Path(".")
            raise OutputError(f"{field}: directory {str(parent)!r} of {shown!r} does not exist")
        _check_directory(real, shown, field)
        return OutputTarget(path, real, NEW, None)
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise OutputError(f"{field}: {shown!r} is a directory")
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or (stat.S_ISREG(mode) and _names_descriptor(path)):
        if not os.access(path, os.W_OK):
            raise OutputError(f"{field}: {shown!r} is not writable")
        return OutputTarget(path, path, THROUGH, info)
    if stat.S_ISBLK(mode):
        raise OutputError(f"{field}: {shown!r} is a block device; rnn2spice does not write over a disk")
    if not stat.S_ISREG(mode):
        raise OutputError(f"{field}: {shown!r} is a socket or other special file, not a regular file, "
                          "character device or FIFO")
    real = Path(os.path.realpath(path))
    try:
        same = os.path.samestat(os.stat(real), info)
    except OSError:
        same = False
    if not same:  # e.g. /proc/self/fd/N naming a deleted file
        raise OutputError(f"{field}: cannot tell which file {shown!r} names; write to a plain path")
    if info.st_nlink > 1 and not several_links_ok:
        raise OutputError(f"{field}: {shown!r} has {info.st_nlink} hard links; replacing it would split them "
                          "and writing in place would not be atomic; remove the other links or write "
                          "to another path")
    _check_directory(real, shown, field)
    return OutputTarget(path, real, FILE, info)


def _check_directory(real: Path, shown: str, field: str) -> None:
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise OutputError(f"{field}: directory {str(real.parent)!r} of {shown!r} is not writable")
    # os.access says yes to root everywhere (/proc, read-only mounts): create the temporary
    # file the write will need, now, before any work, and remove it
    try:
        fd, probe = tempfile.mkstemp(prefix=".rnn2spice-probe-", dir=real.parent)
    except OSError as exc:
        raise OutputError(f"{field}: cannot create files in directory {str(real.parent)!r} of {shown!r}: "
                          f"{exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def check_writable(path: str | os.PathLike, field: str = "output", *, several_links_ok: bool = False) -> Path:
    """Fail early, before any work, when ``path`` cannot be written (see :func:`output_target`)."""
    output_target(path, field, several_links_ok=several_links_ok)
    return Path(path)


def check_distinct(outputs: Mapping[str, str | os.PathLike],
                   inputs: Mapping[str, str | os.PathLike] | None = None) -> None:
    """Refuse an output that is one of the ``inputs`` or another of the ``outputs``.

    Both map a field name (``--report``, ``the spec``) to a path.  Two paths are the same
    file when they resolve to the same path (``os.path.realpath``) or, when they exist, to
    the same inode (hard links).  Outputs that are written through (a character device
    such as ``/dev/null``, a FIFO) may be shared by several outputs, never by an input.
    """
    seen: list[tuple[str, Path, tuple, bool]] = []
    for label, path in (inputs or {}).items():
        seen.append((label, Path(path), _identity(path), True))
    for field, path in outputs.items():
        ident = _identity(path)
        for label, other, other_ident, is_input in seen:
            if not _same(ident, other_ident):
                continue
            if is_input:
                raise OutputError(f"{field}: {str(path)!r} is the same file as {label} ({str(other)!r}), an input "
                                  "of this run; writing it would destroy the input; choose another path")
            if not ident[2]:
                raise OutputError(f"{field}: {str(path)!r} is the same file as {label} ({str(other)!r}); "
                                  "give each output its own file")
        seen.append((field, Path(path), ident, False))


def _identity(path) -> tuple:
    """(real path, (st_dev, st_ino) or None, written through?) of a path."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        real = os.path.abspath(path)
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return real, None, False
    through = stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode) or _names_descriptor(path)
    return real, (info.st_dev, info.st_ino), through


def _same(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] or (a[1] is not None and a[1] == b[1])


def write_atomic(path: str | os.PathLike, data: str | bytes, field: str = "output") -> None:
    """Write ``data`` to ``path``: atomically to a regular file, through to a device or FIFO."""
    target = output_target(path, field)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if target.kind == THROUGH:
        _write_through(target, raw, field)
    else:
        _replace(target, raw, field)


def _write_through(target: OutputTarget, raw: bytes, field: str) -> None:
    """Open an existing device, FIFO or descriptor for appending (no O_CREAT) and write."""
    try:
        fd = os.open(target.path, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "wb") as fh:
            if target.info is not None and not os.path.samestat(os.fstat(fd), target.info):
                raise OutputError(f"{field}: {str(target.path)!r} changed while being written; nothing written")
            fh.write(raw)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{field}: cannot write {str(target.path)!r}: {exc.strerror or exc}") from None


def _names_descriptor(path) -> bool:
    """Whether ``path`` or a link on its way is ``/dev/fd/N`` or ``/proc/<pid>/fd/N`` (an open
    descriptor, e.g. ``/dev/stdout``)."""
    current = os.path.abspath(path)
    for _ in range(40):
        if _DESCRIPTOR.fullmatch(current):
            return True
        try:
            link = os.readlink(current)
        except OSError:  # not a link (any more)
            return False
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
    return False


def _replace(target: OutputTarget, raw: bytes, field: str) -> None:
    """Temporary file beside ``target.real``, owner and mode of the old file, fsync, rename."""
    real, old = target.real, target.info
    tmp = None
    try:
        fd, tmp = _create_temp(real, 0o600 if old is not None else 0o666)
        with os.fdopen(fd, "wb") as fh:
            if old is not None:
                _keep_owner_and_mode(fh.fileno(), old)
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, real)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"{field}: cannot write {str(target.path)!r}: {exc.strerror or exc}") from None
        raise


def _create_temp(real: Path, mode: int) -> tuple[int, str]:
    """A new file ``.<name>.<random>.tmp`` beside ``real``, created with ``mode`` (& ~umask)."""
    for _ in range(100):
        tmp = str(real.parent / f".{real.name[:200]}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {str(real)!r}")


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    """Give the temporary the old file's owner and group where allowed, then its permission bits."""
    now = os.fstat(fd)
    if (now.st_uid, now.st_gid) != (old.st_uid, old.st_gid):
        try:
            os.fchown(fd, old.st_uid, old.st_gid)
        except PermissionError:
            try:
                os.fchown(fd, -1, old.st_gid)  # a member of the group may still set it
            except PermissionError:
                pass
    os.fchmod(fd, stat.S_IMODE(old.st_mode) & 0o777)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Bytes at the start of an existing file that its kind is judged from (an SVG's signature
#: comes after its XML prolog; a PNG's text chunk after its header).
HEAD_BYTES = 2048
#: Bytes at the end of an existing file, for kinds signed there (a PDF's document information).
TAIL_BYTES = 2048
#: What every file rnn2spice writes carries, so that it can tell its own files from anyone
#: else's (the output rule replaces only its own, :func:`check_output`): ``rnn2spice X.Y.Z``.
GENERATOR = f"rnn2spice {__version__}"


def _sample(path: str | os.PathLike, field: str, tail: bool, head_bytes: int = HEAD_BYTES) -> bytes | None:
    """The first ``head_bytes`` of ``path`` (and, with ``tail``, its last TAIL_BYTES after
    them); None when ``path`` is not a regular file."""
    try:
        if not Path(path).is_file():
            return None
        with open(path, "rb") as fh:
            head = fh.read(head_bytes)
            if not tail:
                return head
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(len(head), size - TAIL_BYTES))
            return head + fh.read(TAIL_BYTES)
    except OSError as exc:
        raise OutputError(f"{field}: cannot read {clip(str(path))!r}: {exc.strerror or exc}") from None


def check_replaceable(path: str | os.PathLike, field: str, is_ours, what: str, *, hint: str = "",
                      tail: bool = False, head_bytes: int = HEAD_BYTES) -> None:
    """Refuse (:class:`OutputError`) to replace an existing regular file unless ``is_ours``
    (a predicate on its first ``head_bytes`` bytes, and with ``tail`` its last TAIL_BYTES after
    them) says it is an earlier output of this kind (``what``: 'a PNG figure'), so a spec, a
    matrix file or a report named by mistake survives.  ``hint``: another way out, named in
    the message (``", or pass --force"``)."""
    sample = _sample(path, field, tail, head_bytes)
    if sample is not None and not is_ours(sample):  # outside _sample's try: OutputError is an OSError too
        raise OutputError(f"{field}: {clip(str(path))!r} exists and is not {what}; "
                          f"refusing to replace it (remove it, choose another name{hint})")


def is_png(head: bytes) -> bool:
    """Any PNG picture (its signature)."""
    return head.startswith(PNG_SIGNATURE)


# --------------------------------------------------------------------------- signatures
# Each kind is recognised positively, by what the writer itself puts there (issue 19): a
# report's "generator" key, a netlist's header comment, a CSV's header and number spelling, a spec's first
# comment line, a picture's software/creator tag.  A file that merely looks like one
# (package.json, a hand-written netlist, a photo) is not of the kind.

_REPORT_HEAD = ('{\n  "generator": "rnn2spice ').encode()


#: Report kinds (the "kind" key) that are an output kind of their own (a study's results file,
#: :func:`reserve_report_kinds`): a plain ``--report`` never replaces one of them.
_RESERVED_REPORT_KINDS: set[bytes] = set()
_REPORT_KIND = re.compile(rb'\{\n  "generator": "rnn2spice [^"\n]*",\n  "kind": "([^"\n]*)"')


def reserve_report_kinds(kinds) -> None:
    """Keep JSON reports of these ``kinds`` from the plain ``report`` output kind (a ``verify
    --report r.json`` replaced a montecarlo results file)."""
    _RESERVED_REPORT_KINDS.update(k.encode() for k in kinds)


def _is_report(head: bytes) -> bool:
    """A JSON report :func:`json_text` wrote (its first key is ``"generator": "rnn2spice ..."``),
    of a kind no other output kind reserves."""
    if not head.startswith(_REPORT_HEAD):
        return False
    kind = _REPORT_KIND.match(head)
    return kind is None or kind.group(1) not in _RESERVED_REPORT_KINDS


def is_json_report(kinds) -> Callable[[bytes], bool]:
    """A predicate: the bytes open a JSON report of :func:`json_text` whose "kind" (its second
    key) is one of ``kinds``."""
    pattern = re.compile(rb'\{\n  "generator": "rnn2spice [^"\n]*",\n  "kind": "(' +
                         b"|".join(re.escape(k.encode()) for k in kinds) + rb')"')
    return lambda head: pattern.match(head) is not None


_NETLIST_COMMENT = re.compile(rb"\* rnn2spice \S+ netlist of spec ")


def _is_netlist(head: bytes) -> bool:
    """A netlist rnn2spice wrote: its title line ``rnn2spice: NAME`` and below it the comment
    ``* rnn2spice X.Y.Z netlist of spec NAME`` (circuit/compiler.py)."""
    lines = head.split(b"\n", 2)
    return len(lines) > 2 and lines[0].startswith(b"rnn2spice: ") and _NETLIST_COMMENT.match(lines[1]) is not None


#: How much of an existing CSV the waveform signature reads: its header and first row (at
#: most ~25 bytes a number) for thousands of neurons; its last TAIL_BYTES come after.
CSV_HEAD_BYTES = 1 << 20
#: Rows of the head judged (all of the tail's): enough for the signature, a few ms at most.
CSV_ROWS_JUDGED = 200


def _is_waveforms(sample: bytes) -> bool:
    """A CSV of :func:`waveforms_csv`, recognised by its header ``time,h0,h1,...,h{n-1}``
    exactly *and* by its first CSV_ROWS_JUDGED rows (within CSV_HEAD_BYTES) and those in its
    last TAIL_BYTES being what that writer makes: n + 1 numbers, each spelled as ``format(x, '.17g')`` spells it
    (``0.10000000000000001``, not ``0.1`` or ``1.000e-01``), a time column that does not go
    back, ``\n`` line ends, a final newline.

    The format has no comment or generator line on purpose: its documented first line is the
    header (docs/reference/commands.md), which pandas, spreadsheets and ``np.genfromtxt(names=
    True)`` read as the column names; a ``# rnn2spice X.Y.Z`` line above it would become the
    column names there.  So the writer's own number spelling is the signature: a CSV someone
    else wrote with the same header (pandas' shortest repr, numpy's ``%.18e``, hand-typed
    decimals) is refused, unless every number in it happens to be spelled alike (integers,
    short binary fractions such as 0.5) -- the rule's stated limit."""
    if not sample.endswith(b"\n") or b"\r" in sample:
        return False
    head, tail = sample[:CSV_HEAD_BYTES], sample[CSV_HEAD_BYTES:]
    lines = head.split(b"\n")
    names = lines[0].split(b",")
    if len(names) < 2 or names[0] != b"time" or names[1:] != [f"h{k}".encode() for k in range(len(names) - 1)]:
        return False
    # the head's last piece is empty (a final newline) or cut; the tail's first piece may be
    # cut (or follow the head exactly): neither is judged.  Time goes forward within each.
    runs = [lines[1:-1][:CSV_ROWS_JUDGED], tail.split(b"\n")[1:-1] if tail else []]
    if not runs[0]:
        return False
    for rows in runs:
        previous = -math.inf
        for row in rows:
            fields = row.split(b",")
            if len(fields) != len(names):
                return False
            try:
                values = [float(f) for f in fields]
            except ValueError:
                return False
            if values[0] < previous or any(format(v, ".17g").encode() != f for v, f in zip(values, fields)):
                return False
            previous = values[0]
    return True


#: The header lines of a bill of materials (workflows/build.py: the parts list, the order list).
BOM_HEADERS = (b"designator,kind,exact_value,chosen_value,unit,tolerance,count", b"Designators,Qty,Value,Part,Footprint")


def _is_bom(head: bytes) -> bool:
    """A bill of materials of workflows/build.py: one of its exact headers, and every
    complete row in the sample as its writer makes it -- the orderable list's ``Qty`` is the
    number of its ``Designators``; the parts list's kind is a resistor, capacitor or
    reference, its values Python's ``repr`` of a float and its count 1.  (A header alone
    would let another tool's CSV with the same column names be replaced.)"""
    lines = head.decode("utf-8", "replace").split("\n")
    header = lines[0].rstrip("\r").encode()
    rows = [line.rstrip("\r") for line in lines[1:-1]]  # the last piece: empty, or cut by the sample
    if header not in BOM_HEADERS or not rows:
        return False
    try:
        parsed = list(csv.reader(rows))
        if header == BOM_HEADERS[1]:  # Designators,Qty,Value,Part,Footprint
            return all(len(r) == 5 and r[1].isdigit() and int(r[1]) == len(r[0].split()) >= 1 for r in parsed)
        return all(len(r) == 7 and r[1] in ("resistor", "capacitor", "reference") and r[6] == "1"
                   and all(repr(float(v)) == v for v in (r[2], r[3])) and (r[5] == "" or repr(float(r[5])) == r[5])
                   for r in parsed)
    except ValueError:  # a value that is not a number
        return False


#: The first line of a spec rnn2spice wrote: ``import`` (workflows/importers/spec_writer.py)
#: or ``Network.save`` (api.py).
SPEC_HEADS = (b"# Written by rnn2spice import from ", b"# rnn2spice network ")


def _is_spec(head: bytes) -> bool:
    return head.startswith(SPEC_HEADS)


def _is_own_png(head: bytes) -> bool:
    """A PNG that :func:`sign_image` signed: a ``Software`` text chunk naming rnn2spice."""
    return head.startswith(PNG_SIGNATURE) and b"tEXtSoftware\x00rnn2spice " in head


def _is_own_pdf(sample: bytes) -> bool:
    """A PDF whose document information names rnn2spice as its creator (at its end)."""
    return sample.startswith(b"%PDF-") and b"/Creator (rnn2spice " in sample


_SVG_SIGNATURE = b"<!-- Created by rnn2spice "


def _is_own_svg(head: bytes) -> bool:
    """An SVG that :func:`sign_image` signed: the comment ``<!-- Created by rnn2spice ... -->``
    in its prolog."""
    return _SVG_SIGNATURE in head and b"<svg" in head


def sign_image(data: bytes, fmt: str) -> bytes:
    """``data`` (a PNG or SVG picture) with rnn2spice's signature, by which the output rule
    knows it again: a ``Software`` text chunk after a PNG's header, a comment after an SVG's
    XML declaration (or first).  PDF figures are signed by matplotlib (``Creator``); other
    bytes are returned as they are."""
    if fmt == "png" and data.startswith(PNG_SIGNATURE) and not _is_own_png(data[:HEAD_BYTES]):
        header_end = len(PNG_SIGNATURE) + 8 + int.from_bytes(data[8:12], "big") + 4  # length, type, data, CRC
        body = b"tEXt" + b"Software\x00" + GENERATOR.encode()
        chunk = len(body[4:]).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
        return data[:header_end] + chunk + data[header_end:]
    if fmt == "svg" and not _is_own_svg(data[:HEAD_BYTES]):
        comment = _SVG_SIGNATURE + f"{__version__} -->\n".encode()
        if data.startswith(b"<?xml"):
            end = data.index(b"?>") + 2
            return data[:end] + b"\n" + comment + data[end:].lstrip(b"\n")
        return comment + data
    return data


# --------------------------------------------------------------------------- the output rule

#: The path meaning standard output (for the kinds that allow it: reports, CSV and netlists).
STDOUT = "-"


@dataclass(frozen=True)
class OutputKind:
    """A kind of file a command writes: ``what`` it is (for messages), ``is_ours`` (a
    predicate on an existing file's first ``head_bytes`` bytes, and with ``tail`` its last
    TAIL_BYTES after them: an earlier output of this kind, which may be replaced) and whether
    ``-`` (standard output) may stand for it."""

    name: str
    what: str
    is_ours: Callable[[bytes], bool]
    stdout: bool = False
    tail: bool = False
    head_bytes: int = HEAD_BYTES


#: Every kind of file the commands write (name -> OutputKind); :func:`register_output_kind` adds one.
OUTPUT_KINDS: dict[str, OutputKind] = {}


def register_output_kind(name: str, what: str, is_ours: Callable[[bytes], bool], *, stdout: bool = False,
                         tail: bool = False, head_bytes: int = HEAD_BYTES) -> OutputKind:
    """Add (or replace) a kind of output (a new command's file type) to :data:`OUTPUT_KINDS`.
    ``is_ours`` must recognise the kind positively, by a signature its writer puts there."""
    OUTPUT_KINDS[name] = kind = OutputKind(name, what, is_ours, stdout, tail, head_bytes)
    return kind


register_output_kind("report", "a JSON report written by rnn2spice", _is_report, stdout=True)
register_output_kind("csv", "a CSV of waveforms written by rnn2spice (header time,h0,..., numbers as it spells them)",
                     _is_waveforms, stdout=True, tail=True, head_bytes=CSV_HEAD_BYTES)
register_output_kind("bom", "a bill of materials written by rnn2spice (header designator,kind,... or "
                            "Designators,Qty,...)", _is_bom, stdout=True)
register_output_kind("netlist", "a netlist written by rnn2spice", _is_netlist, stdout=True)
register_output_kind("spec", "a spec written by rnn2spice (import or save)", _is_spec)
register_output_kind("png", "a PNG picture written by rnn2spice", _is_own_png)
register_output_kind("pdf", "a PDF document written by rnn2spice", _is_own_pdf, tail=True)
register_output_kind("svg", "an SVG picture written by rnn2spice", _is_own_svg)

#: Figure formats by file extension.
FIGURE_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def figure_format(path: str | os.PathLike, field: str = "plot") -> str:
    """``png``, ``pdf`` or ``svg`` from the extension of ``path``; OutputError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in FIGURE_FORMATS:
        raise OutputError(f"{field}: cannot tell the figure format of {clip(str(path))!r}: its name must end in "
                          f"{', '.join(FIGURE_FORMATS)} (got {suffix or 'no extension'!r})")
    return FIGURE_FORMATS[suffix]


def force_hint(field: str) -> str:
    """How the caller overrides the output rule, in its own words: the command line names its
    options (``--output``, ``the journal of --output``) and says ``--force``; the Python API
    names its arguments (``output``, ``path``) and says ``force=True``."""
    return "--force" if "--" in field else "force=True"


def check_output(path: str | os.PathLike, field: str, kind: str, *, force: bool = False,
                 several_links_ok: bool = False) -> None:
    """The one output rule (issue 19), checked before any work: ``-`` is standard output
    (for the kinds that allow it); any other path must be writable
    (:func:`output_target`), and an existing regular file there is replaced only when it is
    of ``kind`` (an earlier output of the same kind: its writer's signature) or ``force`` is
    set; otherwise :class:`OutputError` names the file and what it is not."""
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    spec = OUTPUT_KINDS[kind]
    if str(path) == STDOUT:
        if not spec.stdout:
            raise OutputError(f"{field}: '-' (standard output) is for reports, CSV and netlists, not {spec.what}; "
                              "give a file name")
        return
    target = output_target(path, field, several_links_ok=several_links_ok)
    if not force and target.kind == FILE:  # a device, FIFO or open descriptor is written through, not replaced
        check_replaceable(path, field, spec.is_ours, spec.what, hint=f", or pass {force_hint(field)}",
                          tail=spec.tail, head_bytes=spec.head_bytes)


def write_file(path: str | os.PathLike, data: str | bytes, *, field: str, kind: str, force: bool = False) -> Path:
    """Write an output of ``kind`` for the Python API, where no command line has checked it:
    :func:`check_output` (an existing file is replaced only when it is of ``kind``, or with
    ``force``), then :func:`write_atomic`.  Every API function that writes a file comes here."""
    if not isinstance(path, (str, os.PathLike)):
        raise OutputError(f"{field}: must be a file path (got {shown(path)})")
    if str(path) == STDOUT:  # the API writes files; '-' would be a file named '-'
        path = Path(".") / STDOUT
    check_output(path, field, kind, force=force)
    write_atomic(path, data, field=field)
    return Path(path)


def write_figure(path: str | os.PathLike, data: bytes, field: str = "plot", *, force: bool = False) -> Path:
    """Write figure bytes (in the format of ``path``'s extension, :func:`figure_format`) with
    the output rule of their kind (:func:`write_file`)."""
    if not isinstance(path, (str, os.PathLike)):
        raise OutputError(f"{field}: must be a file path (got {shown(path)})")
    return write_file(path, data, field=field, kind=figure_format(path, field), force=force)


def waveforms_csv(time: np.ndarray, states: np.ndarray, names: list[str] | None = None) -> str:
    """CSV text with columns ``time,h0,...`` (model units), floats that round-trip."""
    names = names or [f"h{k}" for k in range(states.shape[1])]
    buf = io.StringIO()
    buf.write(",".join(["time", *names]) + "\n")
    for t, row in zip(time, states):
        buf.write(",".join(format(float(x), ".17g") for x in (t, *row)) + "\n")
    return buf.getvalue()


def json_text(obj: dict) -> str:
    """A report as strict JSON (RFC 8259), which has no NaN or infinity: a non-finite number
    is written as the string ``"inf"``, ``"-inf"`` or ``"nan"`` (as the certificate already
    writes them); numpy scalars and arrays as numbers and lists.  Its first key is
    ``"generator": "rnn2spice X.Y.Z"``: the signature by which the output rule knows a report
    of rnn2spice's (:func:`check_output`)."""
    return json.dumps(_strict_json({"generator": GENERATOR, **obj}), indent=2, sort_keys=False,
                      allow_nan=False) + "\n"


def _strict_json(value):
    """``value`` with every non-finite float replaced by its name (see :func:`json_text`)."""
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return _strict_json(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        return x if math.isfinite(x) else ("nan" if x != x else "inf" if x > 0 else "-inf")
    return value
