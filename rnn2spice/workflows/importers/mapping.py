"""Key mapping (``--keys``): which arrays of a state_dict or an ``.npz`` are W, U, b, ...

For files whose names or orientation differ from ``nn.RNN`` or the ``npz`` keys, e.g. a
rate RNN stored as ``rnn.w_rec``, ``rnn.w_inp`` (m x n), ``rnn.w_out`` (n x p) with scalar
gains ``rnn.w_inp_scale`` and ``rnn.w_out_scale``::

    --keys "W=rnn.w_rec,U=rnn.w_inp^T,U_scale=rnn.w_inp_scale,w_out=rnn.w_out^T,w_out_scale=rnn.w_out_scale"

Grammar: comma-separated ``TARGET=EXPR``.

* ``TARGET``: ``W`` (n x n, ``W[k, j]`` from j to k), ``U`` (alias ``W_in``, n x m; a vector of
  n is one input), ``b`` (n), ``w_out`` (p x n; a vector of n is one output), ``b_out`` (p),
  ``h0`` (n; ``x0`` is an alias), ``tau`` (s, a scalar or n).  ``W`` is required.
* ``EXPR``: terms joined by ``+`` and summed (e.g. ``b=rnn.bias_ih_l0+rnn.bias_hh_l0``); a
  term is a matrix product of factors ``KEY`` or ``KEY^T`` (transposed) joined by ``@``,
  scaled by numbers: ``NUMBER*`` before it, ``*NUMBER`` or ``/NUMBER`` after it (e.g.
  ``W=rnn.m@rnn.n/512``, ``w_out=rnn.w_out^T/512``).  Keys are the file's names exactly (any
  characters but white space and ``, = + ^ @ * /``).  Parsed by a small grammar, never
  evaluated.
* ``W`` given as products (``M@N``, or a sum of them) stays factored: the spec gets
  ``w: {factors: [M, N]}`` (a sum of products stacks its factors; a product of three or
  more keeps the first factor and multiplies out the rest) and the compiler realises the
  rank-r coupling with r latent nodes, O(n r) elements.  When r >= n / 2 a dense w costs no
  more and it is multiplied out (the provenance says so).
* ``TARGET_scale=KEY`` or ``TARGET_scale=NUMBER``: multiplies the target by a scalar (a
  one-element array of the file, or a number), after the sum and transposes.

Every other key of the file is left unused (listed in the provenance).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

import numpy as np

from rnn2spice.errors import ModelError, UsageError, clip, shown

TARGETS = ("W", "U", "b", "w_out", "b_out", "h0", "tau")
ALIASES = {"W_in": "U", "x0": "h0"}
#: The ImportedNetwork field (and provenance dataset name) of each target.
FIELDS = {"W": "w", "U": "w_in", "b": "bias", "w_out": "w_out", "b_out": "b_out", "h0": "h0", "tau": "tau"}
_KEY_RE = re.compile(r"[^\s,=+^@*/]+\Z")
_NUMBER_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\Z")
MAX_KEYS_TEXT = 10_000


@dataclass(frozen=True)
class Term:
    """One summand: ``scale * F_1 @ F_2 @ ...`` with factors (key, transposed)."""

    factors: tuple         # of (key, transpose)
    scale: float = 1.0

    def text(self) -> str:
        body = "@".join(f"{k}^T" if t else k for k, t in self.factors)
        return body if self.scale == 1.0 else f"{body}*{self.scale!r}"


@dataclass(frozen=True)
class KeyMapping:
    """Parsed ``--keys``: per target, the summed terms (:class:`Term`) and its scale."""

    terms: dict            # target -> tuple of Term
    scales: dict           # target -> key (str) or number (float)
    text: str

    def keys_used(self) -> set:
        used = {k for terms in self.terms.values() for term in terms for k, _ in term.factors}
        return used | {v for v in self.scales.values() if isinstance(v, str)}


def _number(token: str, target: str, expr: str) -> float:
    if not _NUMBER_RE.match(token):
        raise UsageError(f"--keys: {target}={shown(expr)}: {shown(token)} must be a number after * or /")
    value = float(token)
    if not math.isfinite(value):
        raise UsageError(f"--keys: {target}={shown(expr)}: {shown(token)} must be finite")
    return value


def _term(text: str, target: str, expr: str) -> Term:
    """``[NUMBER*]F@F...[*NUMBER|/NUMBER]...`` with F = KEY or KEY^T."""
    pieces = re.split(r"([*/])", text)  # alternating operands and operators
    scale = 1.0
    operands = [p.strip() for p in pieces[0::2]]
    ops = pieces[1::2]
    # a leading NUMBER* scales the term
    while len(operands) > 1 and ops and ops[0] == "*" and _NUMBER_RE.match(operands[0]):
        scale *= float(operands[0])
        operands, ops = operands[1:], ops[1:]
    body, rest = operands[0], list(zip(ops, operands[1:]))
    for op, tok in rest:
        value = _number(tok, target, expr)
        if op == "/":
            if value == 0.0:
                raise UsageError(f"--keys: {target}={shown(expr)}: division by 0")
            scale /= value
        else:
            scale *= value
    if not math.isfinite(scale):
        raise UsageError(f"--keys: {target}={shown(expr)}: the scale {scale!r} is not finite")
    factors = []
    for factor in body.split("@"):
        factor = factor.strip()
        transpose = factor.endswith("^T")
        key = factor[:-2].strip() if transpose else factor
        if not key or not _KEY_RE.match(key):
            raise UsageError(f"--keys: {target}={shown(expr)}: {shown(factor or text)} is not KEY or KEY^T "
                             "(a term is KEY[^T][@KEY[^T]...], scaled by *NUMBER or /NUMBER)")
        factors.append((key, transpose))
    return Term(tuple(factors), scale)


def parse_keys(text: str) -> KeyMapping:
    """Parse the ``--keys`` text (module docstring); UsageError naming the part that is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"--keys must be TARGET=KEY[^T][+KEY...],... (got {shown(text)})")
    if len(text) > MAX_KEYS_TEXT:
        raise UsageError(f"--keys: at most {MAX_KEYS_TEXT} characters (got {len(text)})")
    terms: dict = {}
    scales: dict = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        target, eq, expr = part.partition("=")
        target, expr = target.strip(), expr.strip()
        if not eq or not expr:
            raise UsageError(f"--keys: {shown(part)} must be TARGET=EXPR (e.g. W=rnn.w_rec)")
        scale = target.endswith("_scale")
        base = target[: -len("_scale")] if scale else target
        base = ALIASES.get(base, base)
        if base not in TARGETS:
            close = difflib.get_close_matches(base, TARGETS + tuple(ALIASES), n=1)
            raise UsageError(f"--keys: unknown target {shown(target)}; targets: {', '.join(TARGETS)} (and "
                             f"TARGET_scale)" + (f"; did you mean {close[0]!r}?" if close else ""))
        if scale:
            if base in scales:
                raise UsageError(f"--keys: {target} given twice")
            try:
                value = float(expr)
            except ValueError:
                value = None
            if value is not None:
                if not math.isfinite(value):
                    raise UsageError(f"--keys: {target}={shown(expr)} must be a finite number or a key")
                scales[base] = value
            else:
                if not _KEY_RE.match(expr):
                    raise UsageError(f"--keys: {target}={shown(expr)} must be one key (a scalar) or a number")
                scales[base] = expr
            continue
        if base in terms:
            raise UsageError(f"--keys: {target} given twice")
        terms[base] = tuple(_term(term.strip(), target, expr) for term in _split_sum(expr))
    if "W" not in terms:
        raise UsageError(f"--keys must map W (the recurrent matrix), e.g. W=rnn.weight_hh (got {shown(text)})")
    orphan = [t for t in scales if t not in terms]
    if orphan:
        raise UsageError(f"--keys: {orphan[0]}_scale is given but {orphan[0]} is not mapped")
    return KeyMapping(terms, scales, text)


def _split_sum(expr: str) -> list:
    """The summands of ``expr``: split at '+' except the sign of a number's exponent (1e+3)."""
    parts, start = [], 0
    for i, ch in enumerate(expr):
        if ch == "+" and not (i >= 2 and expr[i - 1] in "eE" and expr[i - 2].isdigit()
                              and re.search(r"[*/]\s*[-+]?[\d.]+[eE]\Z", expr[:i])):
            parts.append(expr[start:i])
            start = i + 1
    parts.append(expr[start:])
    return parts


def apply_mapping(mapping: KeyMapping, arrays: dict, file_name: str) -> tuple[dict, dict, list]:
    """(fields for ImportedNetwork, dataset names for the provenance, unused keys).

    ``arrays``: the file's arrays (float64 numpy).  Shapes are fixed up as documented (vectors
    for one input or one output) and checked against n from W.
    """
    def lookup(key: str, target: str) -> np.ndarray:
        if key not in arrays:
            close = difflib.get_close_matches(key, list(arrays), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the file holds {clip(', '.join(arrays), 200)}"
            raise ModelError(f"--keys {target}", key, f"is not a key of {file_name}{hint}")
        return arrays[key]

    def factor(key: str, transpose: bool, target: str) -> np.ndarray:
        arr = lookup(key, target)
        if transpose:
            if arr.ndim != 2:
                raise ModelError(f"--keys {target}", f"{key}^T", f"{key} has shape {arr.shape}: only a matrix "
                                 "can be transposed")
            arr = arr.T
        return arr

    def factors(term: Term, target: str) -> list:
        mats = [factor(k, t, target) for k, t in term.factors]
        for (key, _), a, b in zip(term.factors[1:], mats, mats[1:]):
            if a.ndim != 2 or b.ndim not in (1, 2) or a.shape[1] != b.shape[0]:
                raise ModelError(f"--keys {target}", key, f"has shape {b.shape} after a factor of shape {a.shape}: "
                                 "a matrix product A@B needs A's columns = B's rows")
        return mats

    out: dict = {}
    names: dict = {}
    w_factors = None
    for target, terms in mapping.terms.items():
        scale = mapping.scales.get(target)
        if scale is not None:
            if isinstance(scale, str):
                s = lookup(scale, f"{target}_scale")
                if s.size != 1:
                    raise ModelError(f"--keys {target}_scale", scale, f"has shape {s.shape}; a scale is one number")
                scale_value = float(s.reshape(-1)[0])
            else:
                scale_value = scale
        else:
            scale_value = 1.0
        evaluated = [(term, factors(term, target)) for term in terms]
        if target == "W" and all(len(mats) >= 2 for _, mats in evaluated):
            # low rank: sum_t s_t A_t B_t = [s_1 A_1 | s_2 A_2 | ...] [B_1; B_2; ...] (kept factored)
            lefts = [term.scale * scale_value * np.asarray(mats[0], dtype=float) for term, mats in evaluated]
            rights = [np.linalg.multi_dot(mats[1:]) if len(mats) > 2 else np.asarray(mats[1], dtype=float)
                      for _, mats in evaluated]
            if all(a.ndim == 2 and b.ndim == 2 for a, b in zip(lefts, rights)) and \
                    len({a.shape[0] for a in lefts}) == 1 and len({b.shape[1] for b in rights}) == 1:
                w_factors = (np.concatenate(lefts, axis=1), np.concatenate(rights, axis=0))
        total = None
        for (term, mats), (key, _) in zip(evaluated, (t.factors[0] for t in terms)):
            arr = mats[0] if len(mats) == 1 else np.linalg.multi_dot(mats) if len(mats) > 2 else mats[0] @ mats[1]
            arr = arr * term.scale if term.scale != 1.0 else arr
            if total is not None and arr.shape != total.shape:
                raise ModelError(f"--keys {target}", key, f"has shape {arr.shape}, the terms before it "
                                 f"{total.shape}: a sum needs equal shapes")
            total = arr if total is None else total + arr
        if scale is not None:
            total = total * scale_value
        out[target] = np.array(total, dtype=float)
        text = " + ".join(term.text() for term in terms)
        if scale is not None:
            text = f"({text}) * {scale}" if len(terms) > 1 else f"{text} * {scale}"
        names[FIELDS[target]] = f"{file_name}: {text}"

    w = out["W"]
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] == 0:
        raise ModelError(f"--keys W ({names['w']})", f"shape {w.shape}", "must be a square matrix (n x n); "
                         "add ^T or map another key")
    n = w.shape[0]
    fields = {"w": w}
    if w_factors is not None:
        rank = w_factors[0].shape[1]
        if 2 * rank < n:
            fields["w_factors"] = w_factors
        else:
            names["w"] += f" (rank {rank} >= n / 2 = {n / 2:g}: multiplied out, a dense w costs no more)"
    u = out.get("U")
    if u is None:
        u = np.zeros((n, 0))
    elif u.shape == (n,):
        u = u[:, None]
    elif u.ndim != 2 or u.shape[0] != n:
        hint = " (transpose it: U=KEY^T)" if u.ndim == 2 and u.shape[1] == n else ""
        raise ModelError(f"--keys U ({names['w_in']})", f"shape {u.shape}", f"must be (n, inputs) = ({n}, m){hint}")
    fields["w_in"] = u
    if "b" in out:
        b = out["b"].reshape(-1) if out["b"].size == n else out["b"]
        if b.shape != (n,):
            raise ModelError(f"--keys b ({names['bias']})", f"shape {out['b'].shape}", f"must have n = {n} entries")
        fields["bias"] = b
    if "w_out" in out:
        wo = out["w_out"]
        if wo.shape == (n,):
            wo = wo[None, :]
        if wo.ndim != 2 or wo.shape[1] != n:
            hint = " (transpose it: w_out=KEY^T)" if wo.ndim == 2 and wo.shape[0] == n else ""
            raise ModelError(f"--keys w_out ({names['w_out']})", f"shape {wo.shape}",
                             f"must be (outputs, n) = (p, {n}){hint}")
        fields["w_out"] = wo
        p = wo.shape[0]
        bo = out.get("b_out", np.zeros(p))
        bo = bo.reshape(-1) if bo.size == p else bo
        if bo.shape != (p,):
            raise ModelError(f"--keys b_out ({names['b_out']})", f"shape {out['b_out'].shape}",
                             f"must have p = {p} entries")
        fields["b_out"] = bo
    elif "b_out" in out:
        raise ModelError("--keys b_out", names["b_out"], "a readout bias needs w_out")
    if "h0" in out:
        h0 = out["h0"]
        if h0.size != n:
            raise ModelError(f"--keys h0 ({names['h0']})", f"shape {h0.shape}", f"must have n = {n} entries")
        fields["h0"] = h0.reshape(n)
    if "tau" in out:
        tau = out["tau"]
        tau = np.full(n, float(tau.reshape(-1)[0])) if tau.size == 1 else tau.reshape(-1)
        if tau.shape != (n,):
            raise ModelError(f"--keys tau ({names['tau']})", f"shape {out['tau'].shape}",
                             f"must be a scalar or have n = {n} entries")
        if not np.all(tau > 0):
            raise ModelError(f"--keys tau ({names['tau']})", float(np.min(tau)), "must be positive (seconds)")
        fields["tau"] = tau
    unused = [k for k in arrays if k not in mapping.keys_used()]
    return fields, names, unused
