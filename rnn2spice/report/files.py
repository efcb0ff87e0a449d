"""Writing results: never a half-written or clobbered file.

Every output goes to a temporary file in the target directory and is renamed over the
target only when complete (``os.replace`` is atomic on POSIX), so a failure at any
point leaves an existing file untouched.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from rnn2spice.errors import OutputError


def check_writable(path: str | os.PathLike, field: str = "output") -> Path:
    """Fail early, before any work, when ``path`` cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{field}: directory {str(parent)!r} of {str(path)!r} does not exist")
    if path.is_dir():
        raise OutputError(f"{field}: {str(path)!r} is a directory")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{field}: directory {str(parent)!r} is not writable")
    return path


def write_atomic(path: str | os.PathLike, data: str | bytes, field: str = "output") -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    path = check_writable(path, field)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"{field}: cannot write {str(path)!r}: {exc.strerror or exc}") from None
        raise


def waveforms_csv(time: np.ndarray, states: np.ndarray, names: list[str] | None = None) -> str:
    """CSV text with columns ``time,h0,...`` (model units), floats that round-trip."""
    names = names or [f"h{k}" for k in range(states.shape[1])]
    buf = io.StringIO()
    buf.write(",".join(["time", *names]) + "\n")
    for t, row in zip(time, states):
        buf.write(",".join(format(float(x), ".17g") for x in (t, *row)) + "\n")
    return buf.getvalue()


def json_text(obj: dict) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n"
