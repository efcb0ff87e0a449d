"""Reading zip archives of arrays without trusting them: ``.npz`` members and torch zip files.

Nothing here calls :func:`pickle.load` on the file's bytes with the ordinary unpickler (which
imports and calls whatever the pickle names) nor ``np.load(allow_pickle=True)``.

* :class:`NpzArchive`: the members of an ``.npz`` read one at a time, shape and type from the
  ``.npy`` header checked before any data.  Numeric arrays are read with
  ``allow_pickle=False``; an object array (``np.savez`` pickles ``None`` or a function, e.g.
  PsychRNN's ``dale_ratio`` and ``transfer_function``) is decoded by
  :class:`_ObjectArrayUnpickler`, whose ``find_class`` hands back inert stand-ins (never the
  real ``numpy`` callables) for the three names numpy's array pickle uses, and a
  :class:`GlobalRef` (a name, which refuses to be called) for anything else.  The values
  that can come out are ``None``, numbers, strings and :class:`GlobalRef` names.
* :func:`read_torch_zip`: a ``torch.save`` zip file (``<name>/data.pkl`` and the raw storages
  ``<name>/data/<key>``) read without torch.  :class:`_TorchUnpickler` accepts
  ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` (a stand-in that slices the
  storage with numpy, bounds checked), ``torch._utils._rebuild_parameter`` (an
  ``nn.Parameter``: its tensor) and the ``torch.<Type>Storage`` names (dtype markers),
  and refuses every other global before it is imported.

The cost of a hostile file is bounded before anything of its size is built (issue 19):
every echo of a decoded value goes through :func:`~rnn2spice.errors.shown` (a bounded repr:
a list that doubles 64 times costs 80 characters, not 2^64); a tensor is rebuilt as a
read-only *view* of its storage and the bytes all of a file's tensors will occupy once
converted (their logical size, elements x 8 bytes of float64, not their storage: 10,000
zero-stride 2000 x 2000 tensors over one 8-byte storage are 320 GB) are counted against
:data:`MAX_TENSOR_BYTES` before any is copied; and :func:`check_nesting` refuses a decoded
structure nested deeper than :data:`MAX_DEPTH` or of more than :data:`MAX_NODES` containers
and values (walked without recursion, stopping at the first excess).

The module is longer than 400 lines: the two restricted unpicklers share the stand-ins, the
archive checks and the cost bounds, which are read together when judging what a hostile file
can make them do.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import zipfile
from pathlib import Path

import numpy as np

from rnn2spice.errors import ModelError, clip, shown
from rnn2spice.network.files import LIMIT_NOTE, MAX_NEURONS, _npy_header

#: An archive may unpack to at most this many bytes (from its directory, before reading) ...
MAX_ARCHIVE_BYTES = 256 * 2**20
#: ... in at most this many members.
MAX_MEMBERS = 10_000
#: A pickled object array or a torch data.pkl is read only up to this size.
MAX_PICKLE_BYTES = 2**20
#: Items of one decoded object array.
MAX_OBJECT_ITEMS = 1000
#: The tensors of one file may occupy at most this many bytes once converted to float64
#: (four full 2000 x 2000 matrices), counted from their shapes before any is built.
MAX_TENSOR_BYTES = 4 * MAX_NEURONS * MAX_NEURONS * 8
#: A decoded structure may nest containers at most this deep (a checkpoint with an optimiser
#: state is 4 deep: {"optimizer_state_dict": {"state": {0: {"exp_avg": tensor}}}}) ...
MAX_DEPTH = 12
#: ... and hold at most this many containers and values, shared ones counted each time met.
MAX_NODES = 100_000

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def check_array_shape(shape, dtype, where: str) -> None:
    """A real array of at most 2 dimensions and MAX_NEURONS^2 entries, from its header."""
    if len(shape) > 2:
        raise ModelError(where, f"shape {tuple(shape)}", "must have at most 2 dimensions")
    if any(d > 10 * MAX_NEURONS for d in shape) or math.prod(shape) > MAX_NEURONS * MAX_NEURONS:
        raise ModelError(where, f"shape {tuple(shape)}", f"too large: at most {MAX_NEURONS} neurons are supported"
                             + LIMIT_NOTE.format(var="RNN2SPICE_MAX_NEURONS"))
    if dtype.kind not in "fiub":
        raise ModelError(where, f"dtype {dtype}", "must hold real numbers")


def _open_zip(path: Path, what: str) -> zipfile.ZipFile:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise ModelError("model", path.name, f"cannot read the file: {clip(exc.strerror or exc)}") from None
    if head not in _ZIP_MAGIC:
        raise ModelError("model", path.name, f"cannot read as {what}: not a zip file")
    try:
        zf = zipfile.ZipFile(path)
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        raise ModelError("model", path.name, f"cannot read as {what}: {clip(exc)}") from None
    if len(infos) > MAX_MEMBERS:
        zf.close()
        raise ModelError("model", path.name, f"holds {len(infos)} zip members; at most {MAX_MEMBERS} are read")
    total = sum(info.file_size for info in infos)
    if total > MAX_ARCHIVE_BYTES:
        zf.close()
        raise ModelError("model", path.name, f"unpacks to {total} bytes; at most {MAX_ARCHIVE_BYTES} are read")
    return zf


def check_nesting(obj, where: str) -> None:
    """Refuse a decoded structure (dicts, lists, tuples and their subclasses) nested deeper
    than MAX_DEPTH or with more than MAX_NODES entries, shared ones counted each time they are
    met (a list holding the same list twice, 64 times over, is 2^64 entries to anything that
    walks it).  Iterative and stops at the first excess: the cost is bounded by the limits."""
    stack = [(obj, 0)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ModelError(where, "decoded structure", f"holds more than {MAX_NODES} values (shared ones "
                             "counted each time they are met); a state_dict is a flat mapping of names to tensors")
        if isinstance(value, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise ModelError(where, "decoded structure", f"nested more than {MAX_DEPTH} levels deep; a "
                                 "state_dict is a flat mapping of names to tensors")
            children = list(value.keys()) + list(value.values()) if isinstance(value, dict) else value
            if len(children) > MAX_NODES:
                raise ModelError(where, f"a container of {len(children)} entries", f"at most {MAX_NODES} are read")
            stack.extend((child, depth + 1) for child in children)


def check_tensor_bytes(total: int, where: str) -> None:
    """Refuse tensors whose logical float64 size (elements x 8 bytes) exceeds MAX_TENSOR_BYTES."""
    if total > MAX_TENSOR_BYTES:
        raise ModelError(where, f"tensors of {total} bytes", f"too large: the file's tensors would occupy more than "
                         f"{MAX_TENSOR_BYTES} bytes as float64 (logical size, elements x 8 bytes, counted "
                         "before building any)")


# --------------------------------------------------------------------------- keys

#: Integers below this magnitude hash to themselves (CPython: hash(k) = k mod 2^61 - 1), so
#: distinct ones never share a hash.
_HASH_MODULUS = 2**61 - 1


def _check_key(key) -> None:
    """Refuse a mapping key or set item that could share its hash with many others: a pickle
    of 75,000 integer keys k (2^61 - 1) (1 MB) makes every insertion probe all the earlier
    keys (minutes of CPU); tuples and floats can be chosen to collide as well.  A state_dict
    or an optimiser state needs strings and small integers only."""
    if key is None or type(key) is str or (type(key) in (int, bool) and abs(key) < _HASH_MODULUS):
        return
    raise pickle.UnpicklingError(f"refused: a mapping key or set item {shown(key, 40)} of type "
                                 f"{type(key).__name__} (only strings and integers below 2^61 - 1 are read)")


class _KeyCheckingUnpickler(pickle._Unpickler):
    """Python's own unpickler (the C one inserts keys where no check can reach) with every
    dict and set insertion going through :func:`_check_key` first."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def _load_dict(self):
        items = self.pop_mark()
        for key in items[::2]:
            _check_key(key)
        self.append({items[i]: items[i + 1] for i in range(0, len(items), 2)})

    def _load_setitem(self):
        _check_key(self.stack[-2])
        pickle._Unpickler.load_setitem(self)

    def _load_setitems(self):
        items = self.pop_mark()
        for key in items[::2]:
            _check_key(key)
        target = self.stack[-1]
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _load_set_items(self, frozen: bool):
        items = self.pop_mark()
        for item in items:
            _check_key(item)
        if frozen:
            self.append(frozenset(items))
        else:
            target = self.stack[-1]
            for item in items:
                target.add(item)

    dispatch[pickle.DICT[0]] = _load_dict
    dispatch[pickle.SETITEM[0]] = _load_setitem
    dispatch[pickle.SETITEMS[0]] = _load_setitems
    dispatch[pickle.ADDITEMS[0]] = lambda self: self._load_set_items(False)
    dispatch[pickle.FROZENSET[0]] = lambda self: self._load_set_items(True)


def _ordered_dict(*args, **kwargs):
    """``collections.OrderedDict`` as torch pickles it: called with no arguments (its items come
    by SETITEMS, checked); anything else is refused."""
    if args or kwargs:
        raise pickle.UnpicklingError("refused: OrderedDict called with arguments")
    return collections.OrderedDict()


# --------------------------------------------------------------------------- stand-ins

class GlobalRef:
    """A name a pickle refers to (``module.name``), never imported; calling it is refused."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        object.__setattr__(self, "module", module)
        object.__setattr__(self, "name", name)

    def __setattr__(self, key, value):
        raise pickle.UnpicklingError(f"refused: the pickle modifies {self}")

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError(f"refused: the pickle calls {self} (only None, numbers and names are read)")

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"

    __repr__ = __str__


class _NdarrayMarker:
    """Stands for ``numpy.ndarray`` as the first argument of ``_reconstruct``."""


class _DType:
    """Stands for ``numpy.dtype('O8', False, True)`` of an object array."""

    def __init__(self, code, align=False, copy=True):
        if code != "O8":
            raise pickle.UnpicklingError(f"refused: dtype {shown(code, 40)} (only object arrays are pickled)")

    def __setstate__(self, state):
        if not isinstance(state, tuple):
            raise pickle.UnpicklingError("refused: malformed dtype state")


class _ObjectArray:
    """What numpy's ``_reconstruct(ndarray, (0,), b'b')`` and its BUILD state leave: the items."""

    def __init__(self):
        self.shape: tuple = ()
        self.items: list = []

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError("refused: malformed array state")
        _, shape, dtype, _, data = state
        if not isinstance(dtype, _DType) or not isinstance(data, list):
            raise pickle.UnpicklingError("refused: not an object array")
        if not (isinstance(shape, tuple) and all(isinstance(d, int) and 0 <= d <= MAX_OBJECT_ITEMS for d in shape)
                and math.prod(shape) == len(data) <= MAX_OBJECT_ITEMS):
            raise pickle.UnpicklingError(f"refused: object array of shape {shown(shape, 40)} "
                                         f"with {len(data)} items")
        for item in data:
            if not (item is None or isinstance(item, (bool, int, float, str, GlobalRef))):
                raise pickle.UnpicklingError(f"refused: an item of type {type(item).__name__} "
                                             "(only None, numbers, strings and names are read)")
        self.shape, self.items = shape, data


def _reconstruct(cls, shape, code):
    if cls is not _NdarrayMarker or shape != (0,) or code != b"b":
        raise pickle.UnpicklingError("refused: _reconstruct with unexpected arguments")
    return _ObjectArray()


_NUMPY_NAMES = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): _NdarrayMarker,
    ("numpy", "dtype"): _DType,
}


class _ObjectArrayUnpickler(_KeyCheckingUnpickler):
    """numpy's pickle of an object array, rebuilt from inert stand-ins (module docstring)."""

    def find_class(self, module, name):
        stand_in = _NUMPY_NAMES.get((module, name))
        return stand_in if stand_in is not None else GlobalRef(str(module), str(name))

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused: persistent references")


def decode_object_array(data: bytes, where: str) -> tuple[tuple, list]:
    """(shape, items) of a pickled numpy object array, through the stand-ins only."""
    if len(data) > MAX_PICKLE_BYTES:
        raise ModelError(where, f"{len(data)} bytes of pickle", f"at most {MAX_PICKLE_BYTES} are read")
    try:
        obj = _ObjectArrayUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        raise ModelError(where, "pickled object", f"not read: {clip(exc)}") from None
    except Exception as exc:  # truncated, malformed, a stand-in used the wrong way
        raise ModelError(where, "pickled object", f"not read: malformed pickle ({type(exc).__name__}: "
                                                  f"{clip(exc, 100)})") from None
    if not isinstance(obj, _ObjectArray):
        raise ModelError(where, f"a pickled {type(obj).__name__}", "not read: expected a numpy object array")
    return obj.shape, obj.items


# --------------------------------------------------------------------------- .npz

class NpzArchive:
    """An ``.npz`` archive read member by member (module docstring).  Use as a context manager."""

    def __init__(self, path: Path):
        self.path = path
        self._zip = _open_zip(path, "an NPZ archive")
        self._members = {}
        for info in self._zip.infolist():
            if not info.filename.endswith(".npy"):
                self._zip.close()
                raise ModelError(f"{path.name}: member", clip(info.filename, 100),
                                 "is not a .npy array; an .npz archive holds only .npy members")
            self._members[info.filename[:-4]] = info
        self.keys = list(self._members)
        self._headers: dict = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._zip.close()

    def where(self, key: str) -> str:
        return f"{self.path.name}: {clip(key, 100)}"

    def header(self, key: str) -> tuple[tuple, np.dtype]:
        if key not in self._headers:
            try:
                with self._zip.open(self._members[key]) as member:
                    self._headers[key] = _npy_header(member)
            except Exception as exc:
                raise ModelError(self.where(key), "unreadable .npy header", clip(exc)) from None
        return self._headers[key]

    def array(self, key: str) -> np.ndarray:
        """A numeric member as float64 (shape and dtype checked from its header first)."""
        shape, dtype = self.header(key)
        if dtype.hasobject:
            raise ModelError(self.where(key), "a pickled object", "must be a numeric array")
        check_array_shape(shape, dtype, self.where(key))
        try:
            with self._zip.open(self._members[key]) as member:
                arr = np.lib.format.read_array(member, allow_pickle=False)
        except Exception as exc:
            raise ModelError(self.where(key), f"shape {tuple(shape)}", f"cannot be read: {clip(exc)}") from None
        return arr

    def object_items(self, key: str) -> tuple[tuple, list]:
        """(shape, items) of a member: a pickled object array, decoded by the stand-ins only,
        or a small numeric array (its items as Python numbers)."""
        shape, dtype = self.header(key)
        if not dtype.hasobject:
            arr = self.array(key)
            if arr.size > MAX_OBJECT_ITEMS:
                raise ModelError(self.where(key), f"shape {arr.shape}", "must be a scalar")
            return arr.shape, arr.reshape(-1).tolist()
        info = self._members[key]
        if info.file_size > MAX_PICKLE_BYTES:
            raise ModelError(self.where(key), f"{info.file_size} bytes", f"at most {MAX_PICKLE_BYTES} are read")
        try:
            with self._zip.open(info) as member:
                _npy_header(member)
                data = member.read(MAX_PICKLE_BYTES + 1)
        except Exception as exc:
            raise ModelError(self.where(key), "unreadable member", clip(exc)) from None
        return decode_object_array(data, self.where(key))


# --------------------------------------------------------------------------- torch zip

#: torch storage types and the little-endian numpy dtypes of their raw bytes.
_STORAGE_DTYPES = {
    "DoubleStorage": "f8", "FloatStorage": "f4", "HalfStorage": "f2", "BFloat16Storage": "bf16",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "b1",
}


class _Unknown(pickle.UnpicklingError):
    """The pickle names something the restricted reader does not rebuild (not a cost or
    consistency problem: torch, where installed, may still read the file)."""


class _StorageType:
    """Stands for ``torch.<Type>Storage``: only its element type is used."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError(f"refused: the pickle calls torch.{self.name}")


class _Storage:
    def __init__(self, data: np.ndarray, key: str):
        self.data, self.key = data, key


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    """``nn.Parameter(data)`` (a dict of ``model.named_parameters()`` saved as is): its data."""
    if not isinstance(data, np.ndarray) or not isinstance(requires_grad, bool) or backward_hooks:
        raise pickle.UnpicklingError("refused: a parameter that is not a plain tensor")
    return data


class _TorchUnpickler(_KeyCheckingUnpickler):
    def __init__(self, fh, zf: zipfile.ZipFile, prefix: str, little: bool, where: str):
        super().__init__(fh)
        self._zf, self._prefix, self._little, self._where = zf, prefix, little, where
        self._storages: dict = {}
        self.tensors = 0
        self.tensor_bytes = 0  # logical float64 bytes of the tensors rebuilt so far

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return _ordered_dict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise _Unknown(f"refused global {clip(str(module), 80)}.{clip(str(name), 80)} (only tensors, "
                                     "parameters, their storages and OrderedDict are rebuilt)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"refused persistent id {shown(pid, 80)}")
        _, stype, key, _, numel = pid
        if key in self._storages:
            return self._storages[key]
        code = _STORAGE_DTYPES[stype.name]
        member = f"{self._prefix}data/{key}"
        try:
            info = self._zf.getinfo(member)
        except KeyError:
            raise pickle.UnpicklingError(f"storage {clip(key, 40)} has no member {clip(member, 100)}") from None
        size = 2 if code == "bf16" else int(code[1:])
        if not 0 <= numel <= MAX_NEURONS * MAX_NEURONS or info.file_size != numel * size:
            raise pickle.UnpicklingError(f"storage {clip(key, 40)}: {info.file_size} bytes for {numel} elements "
                                         f"of torch.{stype.name}")
        raw = self._zf.read(info)
        order = "<" if self._little else ">"
        if code == "bf16":  # bfloat16: the upper 16 bits of a float32
            halves = np.frombuffer(raw, dtype=order + "u2").astype(np.uint32) << 16
            data = halves.view(np.float32)
        elif code == "b1":
            data = np.frombuffer(raw, dtype=np.uint8).astype(bool)
        else:
            data = np.frombuffer(raw, dtype=order + code)
        self._storages[key] = storage = _Storage(data, key)
        return storage

    def _rebuild_tensor_v2(self, storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
        ints = lambda t: isinstance(t, tuple) and all(isinstance(v, int) and v >= 0 for v in t)  # noqa: E731
        if not (isinstance(storage, _Storage) and isinstance(offset, int) and offset >= 0 and ints(size)
                and ints(stride) and len(size) == len(stride) <= 2):
            raise pickle.UnpicklingError("refused: a tensor with unexpected arguments (at most 2 dimensions)")
        self.tensors += 1
        if self.tensors > MAX_MEMBERS:
            raise pickle.UnpicklingError(f"more than {MAX_MEMBERS} tensors")
        if math.prod(size) > MAX_NEURONS * MAX_NEURONS:
            raise pickle.UnpicklingError(f"a tensor of shape {size}: too large")
        self.tensor_bytes += 8 * math.prod(size)
        check_tensor_bytes(self.tensor_bytes, self._where)
        last = offset + sum((d - 1) * s for d, s in zip(size, stride)) if math.prod(size) else offset - 1
        if last >= storage.data.size:
            raise pickle.UnpicklingError(f"a tensor of shape {size} beyond its storage of {storage.data.size} elements")
        item = storage.data.itemsize
        # a read-only view: nothing of the tensor's (logical) size is built here; the caller
        # copies the tensors it uses, after the whole file is counted
        return np.lib.stride_tricks.as_strided(storage.data[offset:] if math.prod(size) else storage.data[:0],
                                               shape=size, strides=tuple(s * item for s in stride), writeable=False)


def read_torch_zip(path: Path, *, unknown_ok: bool = False) -> dict | None:
    """The state_dict (name -> read-only numpy array view) of a ``torch.save`` zip file,
    without torch.  Its tensors' logical size and its nesting are checked (module docstring).
    ``unknown_ok``: return None, not an error, when the pickle names something the stand-ins
    do not rebuild (a check before ``torch.load``, which may know it)."""
    with _open_zip(path, "a PyTorch zip file") as zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkls) != 1:
            raise ModelError("model", path.name, f"holds {len(pkls)} data.pkl members; a torch.save zip file has one")
        prefix = pkls[0][: -len("data.pkl")]
        info = zf.getinfo(pkls[0])
        if info.file_size > MAX_PICKLE_BYTES:
            raise ModelError(f"{path.name}: {clip(pkls[0], 100)}", f"{info.file_size} bytes",
                             f"at most {MAX_PICKLE_BYTES} are read")
        little = True
        if prefix + "byteorder" in zf.namelist():
            order = zf.read(prefix + "byteorder")[:16]
            if order not in (b"little", b"big"):
                raise ModelError(f"{path.name}: {prefix}byteorder", shown(order, 40), "must be little or big")
            little = order == b"little"
        where = f"{path.name}: {clip(pkls[0], 100)}"
        unpickler = _TorchUnpickler(io.BytesIO(zf.read(info)), zf, prefix, little, where)
        try:
            obj = unpickler.load()
        except _Unknown as exc:
            if unknown_ok:
                return None
            raise ModelError(where, "pickle", f"not read: {clip(exc)}") from None
        except pickle.UnpicklingError as exc:
            raise ModelError(where, "pickle", f"not read: {clip(exc)}") from None
        except ModelError:
            raise
        except Exception as exc:  # truncated, malformed
            raise ModelError(where, "pickle", f"not read: malformed ({type(exc).__name__}: {clip(exc, 100)})") from None
    check_nesting(obj, where)
    return obj
