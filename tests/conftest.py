"""Shared helpers for the test suite.

Tests marked ``ngspice`` need the real simulator.  They are never skipped: on a machine
without ngspice they fail, which is what CI must see.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rnn2spice.network.spec import spec_from_dict

ROOT = Path(__file__).resolve().parents[1]
NETLISTS = ROOT / "netlists"
#: Trained Keras networks (MIT, see tests/data/keras-rnn/LICENSE and README.md), kept in the
#: repository so that a bare clone runs every test.
KERAS_DIR = ROOT / "tests" / "data" / "keras-rnn"

WAVEFORM_KINDS = ("step", "pulse", "sine", "pwl")

#: A valid 2-neuron spec that the hostile-input tests break one key at a time.
GOOD_SPEC = {
    "name": "good",
    "tau": 1.0e-3,
    "w": [[0.0, 1000.0], [-1000.0, 0.0]],
    "w_in": [[1000.0], [0.0]],
    "h0": [1.0, 0.0],
    "inputs": [{"kind": "step", "value": 1.0, "at": 1.0e-3}],
    "t_stop": 5.0e-3,
}


def waveform(kind: str, rng: np.random.Generator, t_stop: float) -> dict:
    """A random input waveform of the given kind over [0, t_stop]."""
    if kind == "step":
        return {"kind": "step", "value": float(rng.uniform(-1, 1)), "at": float(rng.uniform(0.1, 0.4) * t_stop),
                "rise": 1e-6 * t_stop}
    if kind == "pulse":
        return {"kind": "pulse", "low": 0.0, "high": float(rng.uniform(0.5, 1.5)), "delay": 0.1 * t_stop,
                "rise": 0.01 * t_stop, "fall": 0.02 * t_stop, "width": 0.15 * t_stop, "period": 0.4 * t_stop}
    if kind == "sine":
        return {"kind": "sine", "amplitude": float(rng.uniform(0.5, 1.5)), "frequency": float(rng.uniform(1, 4) / t_stop),
                "offset": float(rng.uniform(-0.2, 0.2)), "phase": float(rng.uniform(0, 360))}
    if kind == "pwl":
        times = np.sort(rng.uniform(0, t_stop, 6))
        return {"kind": "pwl", "points": [[float(t), float(v)] for t, v in zip(times, rng.uniform(-1, 1, 6))]}
    raise ValueError(kind)


def random_spec_dict(n: int, *, seed: int, kinds=("step",), convention: str = "paper",
                     activation: str = "linear", symmetric: bool = False, gain: float = 0.8) -> dict:
    """A random stable network: W = gain N(0,1)/sqrt(n), tau in [0.5, 2] ms, t_stop = 8 ms.

    Paper convention uses w = W / tau (1/s), so A = (W - I)/tau has eigenvalues with
    negative real parts whenever the spectral radius of W is below 1.
    """
    rng = np.random.default_rng(seed)
    tau = rng.uniform(0.5e-3, 2e-3, n)
    big_w = gain * rng.standard_normal((n, n)) / np.sqrt(n)
    if symmetric:
        big_w = (big_w + big_w.T) / 2.0
    m = len(kinds)
    big_u = rng.standard_normal((n, m))
    t_stop = 8e-3
    if convention == "paper":
        w, w_in = big_w / tau[:, None], big_u / tau[:, None]
        if symmetric:  # keep w symmetric in the paper convention: one common tau
            tau = np.full(n, 1e-3)
            w, w_in = big_w / 1e-3, big_u / 1e-3
    else:
        w, w_in = big_w, big_u
    data = {"name": f"rand{n}s{seed}", "tau": tau.tolist(), "w": w.tolist(), "convention": convention,
            "activation": activation, "h0": rng.uniform(-1, 1, n).tolist(), "t_stop": t_stop}
    if m:
        data["w_in"] = w_in.tolist()
        data["inputs"] = [waveform(k, rng, t_stop) for k in kinds]
    if convention == "ctrnn":
        data["bias"] = (0.2 * rng.standard_normal(n)).tolist()
    return data


def random_spec(n: int, **kwargs):
    return spec_from_dict(random_spec_dict(n, **kwargs))


@pytest.fixture
def tmp_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_files(root: Path, files: dict) -> None:
    """Write ``files`` (name -> text, bytes, or a callable that makes the file) under root."""
    for name, content in files.items():
        path = root / name
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def snapshot(root: Path) -> dict:
    """Every path under root (name -> bytes; None for a directory or a file the tests made
    unreadable), to prove nothing was created or changed."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() and os.access(p, os.R_OK) else None)
            for p in sorted(root.rglob("*"))}


def env_with(**changes) -> dict:
    """This process's environment with the checkout on PYTHONPATH and ``changes`` applied
    (a value of None removes the variable)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def _earlier_png() -> bytes:
    """A PNG header signed as rnn2spice signs its pictures (report/files.py sign_image)."""
    import zlib

    from rnn2spice.report.files import sign_image

    ihdr = b"IHDR" + (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    chunk = (13).to_bytes(4, "big") + ihdr + zlib.crc32(ihdr).to_bytes(4, "big")
    return sign_image(b"\x89PNG\r\n\x1a\n" + chunk, "png")


#: The first bytes of an earlier output of each kind, by file suffix: the output rule
#: (rnn2spice.report.files.check_output) replaces only a file of the kind an option writes,
#: recognised by its writer's signature (a report's generator key, a netlist's header
#: comment, a picture's creator tag, ...).
EARLIER_OUTPUT_HEADS = {
    ".json": b'{\n  "generator": "rnn2spice 0.0.1",\n  "passed": false,\n  "note": "an earlier report"\n}\n',
    ".cir": b"rnn2spice: earlier\n* rnn2spice 0.0.1 netlist of spec earlier\n",
    ".csv": b"time,h0\n",  # then rows of numbers: earlier_output
    ".png": _earlier_png(),
    ".pdf": b"%PDF-1.4\n%% an earlier figure\n/Creator (rnn2spice 0.0.1)\n",
    ".svg": b"<!-- Created by rnn2spice 0.0.1 -->\n<svg>\n",
    ".kicad_sch": b"(kicad_sch (version 20250114) (generator \"rnn2spice\"))\n",
    ".yaml": b"# rnn2spice network earlier: rnn2spice.load() or `rnn2spice check` reads it\n",
}


def earlier_output(name, marker: bytes = b"") -> bytes:
    """Content of an earlier rnn2spice output of the kind ``name``'s suffix says, then ``marker``
    (other suffixes: ``marker`` alone).  A waveform CSV is rnn2spice's only when every row is
    numbers as its writer spells them: ``marker`` is there one row per byte."""
    suffix = Path(str(name)).suffix.lower()
    if suffix == ".csv":
        return EARLIER_OUTPUT_HEADS[suffix] + b"".join(f"{k},{byte}\n".encode() for k, byte in enumerate(marker or b"0"))
    return EARLIER_OUTPUT_HEADS.get(suffix, b"") + marker
