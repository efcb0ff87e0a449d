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

from rnn2spice.errors import SpecError, clip
from rnn2spice.network.files import recording_reads
from rnn2spice.network.spec import (MAX_ALIAS_NODES, MAX_SPEC_BYTES, MAX_SPEC_NODES, MAX_TOKEN_CHARS, HugeInteger,
                                    RnnSpec, spec_from_dict)


def load_spec_with_files(path: str | os.PathLike, *,
                         allow_outside: bool = False) -> tuple[RnnSpec, tuple[tuple[str, Path], ...]]:
    """:func:`load_spec`, and the files it read: ``("spec", the spec file)`` first, then
    ``(field, path)`` for every file the spec refers to (``w.file``, ``inputs[0].path``),
    resolved, in the order they were read."""
    with recording_reads() as reads:
        spec = load_spec(path, allow_outside=allow_outside)
    return spec, (("spec", Path(path).resolve()), *reads)


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
    """Parse spec text as JSON (``.json``) or YAML (anything else).

    Bounded cost: the text is at most :data:`~rnn2spice.network.spec.MAX_SPEC_BYTES` when
    read from a file; at most :data:`~rnn2spice.network.spec.MAX_SPEC_NODES` values are built
    (every use of a YAML alias counts its whole value again, and aliases may add at most
    :data:`~rnn2spice.network.spec.MAX_ALIAS_NODES`: a 500-byte "billion laughs" document
    is refused before it is built); an integer literal longer than
    :data:`~rnn2spice.network.spec.MAX_TOKEN_CHARS` is kept as a
    :class:`~rnn2spice.network.spec.HugeInteger`, which validation refuses as a number.
    """
    where = str(path) if path is not None else "<spec>"
    if path is not None and path.suffix.lower() == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_json_mapping, parse_int=_json_int)
        except RecursionError:
            raise SpecError("spec", where, "malformed JSON: nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise SpecError("spec", where, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        _count_values(data, where)
        return data
    import yaml

    if _ends_like_a_netlist(text):  # a YAML mapping cannot end in a bare ".end" line
        raise SpecError("spec", where, "is an ngspice netlist, not a spec (YAML or JSON); to certify a netlist "
                                       "against its spec: rnn2spice verify SPEC --netlist FILE")
    loader = _strict_yaml_loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_nodes(node, where)
        return loader.construct_document(node)
    except SpecError:
        raise
    except RecursionError:
        raise SpecError("spec", where, "malformed YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if "maximum nesting depth" in problem:  # libyaml's limit
            problem = "nested too deeply"
        raise SpecError("spec", where, f"malformed YAML{at}: {clip(problem)}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp with month 13
        raise SpecError("spec", where, f"malformed YAML: {clip(exc)}") from None
    finally:
        loader.dispose()


def _ends_like_a_netlist(text: str) -> bool:
    """Whether the text's last non-blank line is a SPICE ``.end`` card (read from the end only)."""
    tail = text[-200:].rstrip().rsplit("\n", 1)[-1].strip().lower()
    return tail == ".end"


def _count_nodes(root, where: str) -> None:
    """Refuse a YAML document of more than MAX_SPEC_NODES values once every alias is
    expanded, or whose aliases add more than MAX_ALIAS_NODES: counted on the composed node
    graph, before anything is constructed, and stopped at the limit (bounded work)."""
    import yaml

    seen: set[int] = set()
    total = aliased = 0
    stack = [(root, False)]
    while stack:
        node, via_alias = stack.pop()
        if id(node) in seen:  # a second use of an anchored node: an alias
            via_alias = True
        else:
            seen.add(id(node))
        total += 1
        if via_alias:
            aliased += 1
            if aliased > MAX_ALIAS_NODES:
                raise SpecError("spec", where, f"YAML aliases expand to more than {MAX_ALIAS_NODES} values "
                                               "(every use of an alias counts its whole value)")
        if total > MAX_SPEC_NODES:
            raise SpecError("spec", where, f"more than {MAX_SPEC_NODES} values; put large matrices in .npy/.npz "
                                           "files and long waveforms in CSV files")
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, via_alias) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, via_alias))
                stack.append((value, via_alias))


def _count_values(data, where: str) -> None:
    """Refuse parsed JSON of more than MAX_SPEC_NODES values (stopped at the limit)."""
    total = 0
    stack = [data]
    while stack:
        item = stack.pop()
        total += 1
        if total > MAX_SPEC_NODES:
            raise SpecError("spec", where, f"more than {MAX_SPEC_NODES} values; put large matrices in .npy/.npz "
                                           "files and long waveforms in CSV files")
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())


def _json_int(text: str):
    """JSON integers; one longer than MAX_TOKEN_CHARS (Python refuses to convert more than
    4300 digits, and no such number is a double) is kept unconverted for validation to refuse."""
    return HugeInteger(text) if len(text) > MAX_TOKEN_CHARS else int(text)


def _json_mapping(pairs: list) -> dict:
    """JSON objects, refusing a key given twice (json keeps the last one silently)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise SpecError(key, key, "duplicate key: a key may appear only once in a mapping")
        out[key] = value
    return out


_STRICT_LOADER = None
#: Integers below this magnitude hash to themselves (CPython: hash(k) = k mod 2^61 - 1): distinct
#: ones never share a hash.
_HASH_MODULUS = 2**61 - 1


def _check_key(key, where) -> None:
    """Refuse an integer mapping key (or !!set item) of 2^61 - 1 or more: such keys can be
    chosen to share one hash (k (2^61 - 1) for k = 0, 1, ...), and then every insertion probes
    all earlier keys: 36,000 of them in a 1 MB spec took 68 s.  No spec key is such a number."""
    if type(key) is int and abs(key) >= _HASH_MODULUS:
        raise SpecError("spec", clip(str(key), 40), f"mapping key at line {where.line + 1}: an integer key of "
                                                    "2^61 - 1 or more is refused")


def _strict_yaml_loader():
    """A safe YAML loader (libyaml's parser when PyYAML has it, else pure Python) that refuses
    duplicate keys (PyYAML keeps the last one silently), in block and flow mappings alike,
    and keeps an integer literal longer than MAX_TOKEN_CHARS as a HugeInteger."""
    global _STRICT_LOADER
    if _STRICT_LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

        class StrictLoader(base):
            def construct_mapping(self, node, deep=False):
                if isinstance(node, yaml.MappingNode):
                    seen: dict = {}
                    for key_node, _ in node.value:
                        if key_node.tag == "tag:yaml.org,2002:merge":
                            continue
                        key = self.construct_object(key_node, deep=deep)
                        _check_key(key, where=key_node.start_mark)
                        try:
                            first = seen.setdefault(key, key_node)
                        except TypeError:
                            continue  # unhashable: SafeLoader reports it
                        if first is not key_node:
                            a, b = first.start_mark, key_node.start_mark
                            at = (f"lines {a.line + 1} and {b.line + 1}" if a.line != b.line
                                  else f"line {a.line + 1}, columns {a.column + 1} and {b.column + 1}")
                            raise SpecError(key, key, f"duplicate key at {at}: a key may appear only once "
                                                      "in a mapping")
                return super().construct_mapping(node, deep=deep)

            def construct_yaml_int(self, node):
                if isinstance(node.value, str) and len(node.value) > MAX_TOKEN_CHARS:
                    return HugeInteger(node.value)
                return super().construct_yaml_int(node)

        StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
        _STRICT_LOADER = StrictLoader
    return _STRICT_LOADER
