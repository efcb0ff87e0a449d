"""SPICE raw files and vector names: what ngspice's waveforms look like to the rest.

:func:`parse_raw` reads the raw file ``ngspice -b -r`` writes (binary or ascii, one or
more plots); :func:`finish_vectors` gives the vectors of either backend their normalised
names (:func:`normalise_name`) and dtypes.
"""

from __future__ import annotations

import re

import numpy as np

def parse_raw(data: bytes) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Plots of a SPICE raw file (binary or ascii) as ``[(plotname, {name: array})]``.

    Binary data is float64 little-endian, point-major; complex plots store (re, im) pairs
    for every variable.  Names are returned as the file spells them.
    """
    plots = []
    pos = 0
    while pos < len(data):
        if not data[pos:].strip():
            break
        header: dict[str, str] = {}
        names: list[str] = []
        mode = None
        while mode is None:
            end = data.find(b"\n", pos)
            if end < 0:
                raise ValueError("raw file header ends before 'Binary:' or 'Values:'")
            line = data[pos:end].decode("latin-1").rstrip("\r")
            pos = end + 1
            if not line.strip():
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "variables":
                count = _header_int(header, "no. variables")
                first = value.split()
                if first:
                    names.append(first[1])
                while len(names) < count:
                    end = data.find(b"\n", pos)
                    if end < 0:
                        raise ValueError("raw file ends inside the variable list")
                    parts = data[pos:end].decode("latin-1").split()
                    pos = end + 1
                    if parts:
                        if len(parts) < 2:
                            raise ValueError(f"bad variable line {parts!r}")
                        names.append(parts[1])
            elif key in ("binary", "values"):
                mode = key
            else:
                header[key] = value.strip()
        count = len(names)
        points = _header_int(header, "no. points")
        is_complex = "complex" in header.get("flags", "").lower()
        width = 2 if is_complex else 1
        if mode == "binary":
            n_values = points * count * width
            if pos + 8 * n_values > len(data):
                raise ValueError(f"binary data shorter than {points} points x {count} variables")
            table = np.frombuffer(data, dtype="<f8", count=n_values, offset=pos).reshape(points, count, width)
            pos += 8 * n_values
        else:
            end = data.find(b"\nTitle:", pos)
            end = len(data) if end < 0 else end + 1
            tokens = data[pos:end].decode("latin-1").split()
            pos = end
            if len(tokens) != points * (count + 1):
                raise ValueError(f"ascii data has {len(tokens)} fields, expected {points * (count + 1)}")
            table = np.empty((points, count, width))
            for p in range(points):
                for k, token in enumerate(tokens[p * (count + 1) + 1 : (p + 1) * (count + 1)]):
                    table[p, k, :] = [float(x) for x in token.split(",")][:width]
        vectors: dict[str, np.ndarray] = {}
        for k, name in enumerate(names):
            if is_complex:
                vectors[name] = table[:, k, 0] + 1j * table[:, k, 1]
            else:
                vectors[name] = table[:, k, 0].copy()
        plots.append((header.get("plotname", ""), vectors))
    return plots


def _header_int(header: dict[str, str], key: str) -> int:
    try:
        return int(header[key].split()[0])
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"raw file header lacks a valid {key!r} line") from None


# --------------------------------------------------------------------------- vector names


def normalise_name(name: str) -> str:
    """'V(h0)' / 'h0' -> 'v(h0)'; 'vs_0#branch' / 'I(vs_0)' -> 'i(vs_0)'; scales unchanged."""
    key = name.strip().lower()
    if key in ("time", "frequency") or key.startswith("@"):
        return key
    if key.endswith("#branch"):
        return f"i({key[: -len('#branch')]})"
    if re.fullmatch(r"[vi]\(.+\)", key):
        return key
    return f"v({key})"


def finish_vectors(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Normalise names and dtypes; every array is an owned copy."""
    vectors: dict[str, np.ndarray] = {}
    for name, values in raw.items():
        key = normalise_name(name)
        if key == "frequency":
            # ngspice stores the AC scale as complex with an undefined imaginary part
            # (garbage in binary raw files): keep the real frequency only.
            vectors[key] = np.array(np.real(values), dtype=np.float64)
        elif np.iscomplexobj(values):
            vectors[key] = np.array(values, dtype=np.complex128)
        else:
            vectors[key] = np.array(values, dtype=np.float64)
    return vectors
