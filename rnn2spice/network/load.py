"""Reading a spec file: size-checked text, strict YAML or JSON, then validation.

Layering inside ``rnn2spice.network`` (no cycle)::

    files.py  <-  spec.py  <-  load.py

This module is the top: it parses the spec text and hands the mapping to
:func:`~rnn2spice.network.spec.spec_from_dict`, which reads the ``.npy``/``.npz``/CSV
files the spec refers to through :mod:`~rnn2spice.network.files`.  Nothing in
``spec.py`` or ``files.py`` imports this module, so ``load_spec`` is imported from here
(``rnn2spice.network.load``), not from ``spec.py``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from rnn2spice.errors import SpecError
from rnn2spice.network.spec import MAX_SPEC_BYTES, RnnSpec, spec_from_dict

def load_spec(path: str | os.PathLike, *, allow_outside: bool = False) -> RnnSpec:
    """Read and validate a YAML (``.yaml``/``.yml``) or JSON (``.json``) spec file.

    Files the spec refers to are resolved relative to its directory and may not leave it
    unless ``allow_outside`` is true.
    """
    path = Path(path)
    try:
        text = _read_spec_text(path)
    except FileNotFoundError:
        raise SpecError("spec", str(path), "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError("spec", str(path), f"cannot read the file: {exc}") from None
    data = parse_text(text, path)
    return spec_from_dict(data, base_dir=path.resolve().parent, allow_outside=allow_outside)


def _read_spec_text(path: Path) -> str:
    """The spec's text; a directory, device, FIFO or oversized file is refused unread."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise SpecError("spec", str(path), "is not a regular file")
    if info.st_size > MAX_SPEC_BYTES:
        raise SpecError("spec", str(path), f"is {info.st_size} bytes; at most {MAX_SPEC_BYTES} are read")
    with open(path, "rb") as fh:
        raw = fh.read(MAX_SPEC_BYTES + 1)
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError("spec", str(path), f"is larger than {MAX_SPEC_BYTES} bytes")
    return raw.decode("utf-8")


def parse_text(text: str, path: Path | None = None) -> Any:
    """Parse spec text as JSON (``.json``) or YAML (anything else)."""
    where = str(path) if path is not None else "<spec>"
    if path is not None and path.suffix.lower() == ".json":
        try:
            return json.loads(text, object_pairs_hook=_json_mapping)
        except RecursionError:
            raise SpecError("spec", where, "malformed JSON: nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise SpecError("spec", where, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    import yaml

    try:
        return yaml.load(text, Loader=_strict_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise SpecError("spec", where, "malformed YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError("spec", where, f"malformed YAML{at}: {problem}") from None



def _json_mapping(pairs: list) -> dict:
    """JSON objects, refusing a key given twice (json keeps the last one silently)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise SpecError(key, key, "duplicate key: a key may appear only once in a mapping")
        out[key] = value
    return out


_STRICT_LOADER = None


def _strict_yaml_loader():
    """yaml.SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""
    global _STRICT_LOADER
    if _STRICT_LOADER is None:
        import yaml

        class StrictLoader(yaml.SafeLoader):
            def construct_mapping(self, node, deep=False):
                if isinstance(node, yaml.MappingNode):
                    seen: dict = {}
                    for key_node, _ in node.value:
                        if key_node.tag == "tag:yaml.org,2002:merge":
                            continue
                        key = self.construct_object(key_node, deep=deep)
                        try:
                            first = seen.setdefault(key, key_node.start_mark.line + 1)
                        except TypeError:
                            continue  # unhashable: SafeLoader reports it
                        if first != key_node.start_mark.line + 1:
                            raise SpecError(key, key, f"duplicate key at lines {first} and "
                                                      f"{key_node.start_mark.line + 1}: a key may appear only once "
                                                      "in a mapping")
                return super().construct_mapping(node, deep=deep)

        _STRICT_LOADER = StrictLoader
    return _STRICT_LOADER
