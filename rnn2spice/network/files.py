"""Reading the files a spec refers to: ``.npy``/``.npz`` matrices and CSV waveforms.

Layering inside ``rnn2spice.network`` (no cycle)::

    files.py  <-  spec.py  <-  load.py

This module is the bottom: it imports only :mod:`rnn2spice.errors` and numpy.
:func:`~rnn2spice.network.spec.spec_from_dict` builds a :class:`_Files` resolver from its
``base_dir`` / ``allow_outside`` arguments, so it works on its own (no spec file needed),
and :mod:`~rnn2spice.network.load` reads the spec file itself and then calls it.

While :func:`recording_reads` is active, every file a spec refers to is recorded as
``(field, path)`` when it is resolved (``w.file``, ``inputs[0].path``), so that
:func:`~rnn2spice.network.load.load_spec_with_files` can tell a caller which files a spec
load read (the command line refuses to write an output over one of them).

The two size limits enforced while reading (before any large allocation) are defined
here and re-exported by :mod:`~rnn2spice.network.spec` with the other limits, as is
:func:`_did_you_mean`, which the ``.npz`` key message shares with the validation.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
import stat
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from rnn2spice.errors import SpecError, clip

#: Every size limit an environment variable raises: variable -> its default (filled by
#: :func:`_limit`; the documentation's table of environment variables reads it).
LIMIT_DEFAULTS: dict[str, int] = {}


def _limit(variable: str, default: int) -> int:
    """A size limit: ``default``, or the positive integer in the environment ``variable``
    (read once, at import; anything but a positive integer leaves the default), so that a user stopped by a limit can raise it."""
    LIMIT_DEFAULTS[variable] = default
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:  # read at import, where no error can be reported: the documented default
        return default
    return value if value >= 1 else default


#: How a message names the way to raise a limit (``var``: its environment variable).
LIMIT_NOTE = " (a limit against hostile input: raise it with the environment variable {var})"
#: Refuse larger networks before allocating n^2 memory: a budget of memory and netlist size
#: (a dense 2000-neuron network is 32 MB per matrix copy and ~200 MB of netlist).  Raised by
#: the environment variable RNN2SPICE_MAX_NEURONS.
MAX_NEURONS = _limit("RNN2SPICE_MAX_NEURONS", 2000)
MAX_PWL_POINTS = 200_000
#: Knots of all inputs together (a PWL or CSV point, 4 per pulse period, 2 per step): 20
#: inputs naming the same 200 000-point CSV file would otherwise compile into a 150 MB
#: netlist.  A CSV file is read no further than the room the inputs before it leave.
MAX_TOTAL_POINTS = 200_000


#: Bytes a CSV file (a ``kind: file`` input or ``--stimulus``) may have: checked against its
#: size before a byte is read (200 000 rows of two full-precision numbers are ~10 MB; without a
#: limit a sparse 6 GB file was read line by line into memory).  Raised by RNN2SPICE_MAX_CSV_BYTES.
MAX_CSV_BYTES = _limit("RNN2SPICE_MAX_CSV_BYTES", 64_000_000)
#: Bytes one line of a text input file may have (csv.reader reads a whole line before it
#: looks at it: one 6 GB line is 6 GB of memory).
MAX_LINE_BYTES = 65_536


def open_regular(path, field: str, shown: object, limit: int, *, var: str = ""):
    """``path`` opened for binary reading, after refusing (:class:`SpecError` naming ``field``
    and ``shown``) anything but a regular file of at most ``limit`` bytes.  Opened without
    blocking (a FIFO with no writer would hang ``open``) and checked on the open descriptor
    (no swap between the check and the read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SpecError(field, shown, "file not found") from None
    except OSError as exc:
        raise SpecError(field, shown, f"cannot be read: {clip(exc.strerror or exc)}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(field, shown, "is not a regular file (a directory, FIFO or device is refused)")
        if info.st_size > limit:
            raise SpecError(field, shown, f"is {info.st_size:,} bytes; at most {limit:,} are read"
                            + (LIMIT_NOTE.format(var=var) if var else ""))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, field: str, shown: object, limit: int, *, var: str = "") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (:func:`open_regular`); at most
    ``limit + 1`` are read, so a file that grows after the check is refused too."""
    with open_regular(path, field, shown, limit, var=var) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise SpecError(field, shown, f"is larger than {limit:,} bytes" + (LIMIT_NOTE.format(var=var) if var else ""))
    return data


def csv_lines(path, field: str, shown: object):
    """The UTF-8 lines of a CSV file for :func:`csv.reader`: a regular file of at most
    :data:`MAX_CSV_BYTES`, each line at most :data:`MAX_LINE_BYTES` (checked before it is
    decoded), so reading costs at most a line's bytes more than the rows kept."""
    var = "RNN2SPICE_MAX_CSV_BYTES"
    with open_regular(path, field, shown, MAX_CSV_BYTES, var=var) as fh:
        total = 0
        for lineno in range(1, 1 << 62):
            line = fh.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            total += len(line)
            if total > MAX_CSV_BYTES:
                raise SpecError(field, shown, f"is larger than {MAX_CSV_BYTES:,} bytes" + LIMIT_NOTE.format(var=var))
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                raise SpecError(field, shown, f"line {lineno} is longer than {MAX_LINE_BYTES:,} bytes")
            yield line.decode("utf-8")


def _did_you_mean(word: object, choices) -> str:
    if not isinstance(word, str) or len(word) > 100:  # no key is that long: no quadratic matching
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


_READS: ContextVar[list | None] = ContextVar("rnn2spice_spec_reads", default=None)


@contextmanager
def recording_reads():
    """Collect ``(field, resolved path)`` of every file a spec refers to while the block runs."""
    reads: list[tuple[str, Path]] = []
    token = _READS.set(reads)
    try:
        yield reads
    finally:
        _READS.reset(token)


class _Files:
    """Resolves file references of a spec relative to its directory."""

    def __init__(self, base: Path, allow_outside: bool):
        self.base = base
        self.allow_outside = allow_outside

    def resolve(self, raw: Any, where: str) -> Path:
        if not isinstance(raw, str) or not raw or "\x00" in raw or len(raw) > 4096:
            raise SpecError(where, raw, "must be a non-empty file path")
        try:
            path = (self.base / raw).resolve()
            if not self.allow_outside and not path.is_relative_to(self.base):
                raise SpecError(where, raw, f"resolves outside the spec's directory {self.base}; "
                                            "pass --allow-outside-files to permit it")
            if not path.exists():
                raise SpecError(where, raw, "file not found")
            if not path.is_file():
                raise SpecError(where, raw, "is not a regular file")
        except OSError as exc:  # a name too long, a loop of links, ...
            raise SpecError(where, raw, f"cannot access the file: {clip(exc.strerror or exc)}") from None
        reads = _READS.get()
        if reads is not None:
            reads.append((where, path))
        return path


def _array_from_file(ref: dict, where: str, files: _Files) -> np.ndarray:
    """The array of a ``{file: ..., key: ...}`` reference; the caller has checked its keys."""
    path = files.resolve(ref.get("file"), f"{where}.file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            if "key" in ref:
                raise SpecError(f"{where}.key", ref["key"], "only allowed with a .npz file")
            with open(path, "rb") as fh:
                shape, dtype = _npy_header(fh)
            _check_size(shape, where)
            _check_dtype(dtype, where)
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            key = ref.get("key")
            if not isinstance(key, str):
                raise SpecError(f"{where}.key", key, "a .npz file needs the name of the array as key")
            with np.load(path, allow_pickle=False) as archive:
                if key not in archive.files:
                    raise SpecError(f"{where}.key", key, f"not in {path.name}; it holds {', '.join(archive.files) or 'nothing'}"
                                    + _did_you_mean(key, archive.files))
                with archive.zip.open(key + ".npy") as fh:
                    shape, dtype = _npy_header(fh)
                _check_size(shape, where)
                _check_dtype(dtype, where)
                arr = archive[key]
                _check_compression(arr, archive.zip.getinfo(key + ".npy").compress_size, where, path.name)
                return arr
    except SpecError:
        raise
    except Exception as exc:  # corrupt or non-numpy file: name it, no traceback
        raise SpecError(f"{where}.file", ref.get("file"), f"cannot read as a numpy array: {exc}") from None
    raise SpecError(f"{where}.file", ref.get("file"), "must be a .npy or .npz file")


#: A compressed .npz member may hold at most this many non-zero values per byte it occupies
#: in the file (beyond :data:`FREE_VALUES`): trained weights are floats that compress
#: little (random float64: ~0.13 values per byte, float32: ~0.3), while 4e6 equal values
#: in a 70 kB file would compile into ~200 MB of netlist.  The cost of a spec stays
#: bounded by the bytes it brings.  Raised by RNN2SPICE_MAX_VALUES_PER_BYTE.
MAX_VALUES_PER_BYTE = _limit("RNN2SPICE_MAX_VALUES_PER_BYTE", 64)
#: Non-zero values any member may hold whatever its compression (the budget of rnn2spice
#: before issue 20: a dense network of 500 neurons).
FREE_VALUES = 250_000


def _check_compression(arr: np.ndarray, stored: int, where: str, name: str) -> None:
    """Refuse a member with more non-zero values than its stored bytes can honestly hold."""
    nonzero = int(np.count_nonzero(arr))
    if nonzero > FREE_VALUES and nonzero > MAX_VALUES_PER_BYTE * max(stored, 1):
        raise SpecError(where, f"{nonzero} non-zero values in {stored} bytes of {name}",
                        f"compressed more than {MAX_VALUES_PER_BYTE}-fold: refused as hostile input (each "
                        f"non-zero weight is a netlist element){LIMIT_NOTE.format(var='RNN2SPICE_MAX_VALUES_PER_BYTE')}")


def _npy_header(fh) -> tuple[tuple, np.dtype]:
    """Shape and dtype of a .npy stream without reading its data (size checks come first)."""
    version = np.lib.format.read_magic(fh)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(fh)
    return shape, dtype


def _check_size(shape, where: str) -> None:
    if len(shape) > 2:
        raise SpecError(where, f"shape {tuple(shape)}", "must have at most 2 dimensions")
    if any(d > 10 * MAX_NEURONS for d in shape) or math.prod(shape) > MAX_NEURONS * MAX_NEURONS:
        raise SpecError(where, f"shape {tuple(shape)}", f"too large: at most {MAX_NEURONS} neurons are supported"
                        + LIMIT_NOTE.format(var="RNN2SPICE_MAX_NEURONS"))


def _check_dtype(dtype, where: str) -> None:
    if dtype.kind not in "fiu":
        raise SpecError(where, f"dtype {dtype}", "must hold real numbers (float or int)")


def _read_csv(path: Path, where: str, max_points: int = MAX_PWL_POINTS, note: str = "") -> list:
    """[t, v] rows of a CSV waveform file (an optional header line is skipped); reading
    stops after ``max_points`` rows (``note`` says why in the message)."""
    rows = []
    try:
        for lineno, row in enumerate(csv.reader(csv_lines(path, where, path.name)), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 2:
                raise SpecError(where, path.name, f"line {lineno}: expected 2 columns t,v, found {len(row)}")
            try:
                rows.append([float(row[0]), float(row[1])])
            except ValueError:
                if rows or lineno > 1:
                    raise SpecError(where, path.name, f"line {lineno}: not a number: {','.join(row)[:60]!r}") from None
            if len(rows) > max_points:
                raise SpecError(where, path.name, f"more than {max_points} points{note}")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(where, path.name, f"cannot read: {exc}") from None
    except csv.Error as exc:  # NUL bytes, a field beyond csv's size limit, ...
        raise SpecError(where, path.name, f"not a readable CSV file: {exc}") from None
    if not rows:
        raise SpecError(where, path.name, "holds no t,v rows")
    return rows
