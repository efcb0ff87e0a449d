"""ngspice's number parsers, reproduced in Python, and number text that survives them.

ngspice does not read numbers with a correctly rounded ``strtod``.  Three paths matter for
the netlists rnn2spice writes (sources: ngspice 39.3 and 46, identical for plain decimals):

* **device and analysis values** (R, C, L, G, E, F, H, I, V cards, ``IC=``, ``m=``, the
  PULSE/SIN/PWL lists, ``.tran``): ``INPevaluate`` in ``src/spicelib/parser/inpeval.c``
  (also ``INPevaluateRKM_*`` there, the same arithmetic for a plain decimal).  Every digit
  is accumulated into a double, ``mantis = 10 * mantis + c - '0'`` (two roundings per
  digit once past 2^53), the exponent digits into a C ``int`` that wraps, and the result
  is ``sign * mantis * pow(10, expo1 + expo2)``: ``0.0019999999999999996`` reads as
  ``0.002``, ``1e-18446744073709551622`` as ``1e-06``.  :func:`inp_evaluate`.
* **options** (``.options reltol=...``): ``ft_numparse`` in
  ``src/frontend/parser/numparse.c``: integer part and fraction accumulated separately,
  ``val += fraction * pow(10, -digits)``, then ``* pow(10, exponent)``.  :func:`ft_numparse`.
* **subcircuit parameters** (the gyrator's ``g=``): numparam reads the text with
  ``sscanf("%lG")`` (correctly rounded), substitutes ``{g}`` / ``{-g}`` as
  ``sprintf("% 23.15e")`` (16 significant digits, ``double_to_string`` in
  ``src/frontend/numparam/xpressn.c``), and the G card reads that with ``INPevaluate``.
  :func:`numparam_value`.

* **numbers in a behavioural-source expression** (``I=g*tanh(V(z))``): ``inp_modify_exp``
  (src/frontend/inpcom.c, called by ``inp_bsource_compat``) reads each with
  ``INPevaluate`` and reprints it as ``%18.10e`` -- 11 significant digits -- before the
  expression parser reads it with ``INPevaluate`` again.  :func:`expression_value`.  The
  source's ``m=`` multiplier is a device value; ngspice's Jacobian of ``m=M
  I=G*tanh(V(z))`` at 0 is ``G * M`` (``ASRCload``: derivative times ``factor = m``), so
  :func:`tanh_gain_texts` writes the gain G as text and chooses M to make the product
  exact.

:func:`spice_text` chooses, among candidate decimal strings of a double (``'.17g'``, the
shortest round-trip ``repr``, other lengths, neighbouring last digits), the first that
Python's ``float`` reads as the double (the text states the value exactly) *and* the
ngspice path reads as exactly the same double.  About 2 % of doubles have no such text
(no decimal string inside the double's rounding interval comes out of the ngspice
arithmetic as that double); for them the text that ngspice reads nearest (one unit in
the last place away) is returned, and :func:`spice_exact` says whether a value is exact.
Values that must cancel exactly in the circuit are chosen among exact ones
(:mod:`rnn2spice.circuit.parallel`).

``pow`` is the C library's, as in ngspice (CPython's ``math.pow`` calls it).

:func:`choose_many` / :func:`spice_texts` make the same choice for an array of doubles in
bulk (numpy: :func:`inp_evaluate_many` reads many texts at once, double-double arithmetic
finds the 16..19-digit candidates), so that a dense coupling of 10^5..10^6 values is
written in about a second; the module is longer than 400 lines because the scalar
reference and its vectorised twin belong together (tests/test_spicenum_bulk.py compares
them element by element).
"""

from __future__ import annotations

import functools
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

__all__ = ["PATHS", "choose_many", "expression_value", "ft_numparse", "inp_evaluate", "inp_evaluate_many",
           "numparam_value", "read", "spice_exact", "spice_text", "spice_texts", "tanh_gain", "tanh_gain_texts"]

#: The number paths of ngspice that rnn2spice's netlists use.
PATHS = ("device", "option", "numparam")


def _wrap32(v: int) -> int:
    """A C ``int`` after two's-complement wrap-around (what ngspice's exponent loop does)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v


def _pow10(e: float) -> float:
    try:
        return math.pow(10.0, e)
    except OverflowError:
        return math.inf


def inp_evaluate(token: str) -> float:
    """The double ngspice's ``INPevaluate`` (src/spicelib/parser/inpeval.c) makes of a plain
    decimal ``token`` (sign, digits, point, ``e``/``d`` exponent; no unit suffix).

    Raises ValueError for text that is not such a decimal."""
    s, i, n = token, 0, len(token)
    sign = 1.0
    if n and s[0] == "+":
        i = 1
    elif n and s[0] == "-":
        i, sign = 1, -1.0
    if i >= n or not (s[i].isdigit() or s[i] == "."):
        raise ValueError(f"not a number: {token!r}")
    mantis = 0.0
    while i < n and "0" <= s[i] <= "9":
        mantis = (10.0 * mantis + float(ord(s[i]))) - 48.0   # 10 * mantis + *here - '0'
        i += 1
    if i == n:
        return mantis * sign
    expo1 = 0
    if s[i] == ".":
        i += 1
        if i == n:
            return mantis * sign
        while i < n and "0" <= s[i] <= "9":
            mantis = (10.0 * mantis + float(ord(s[i]))) - 48.0
            expo1 -= 1
            i += 1
    expo2, expsgn = 0, 1
    if i < n and s[i] in "eEdD":
        i += 1
        if i < n and s[i] == "+":
            i += 1
        elif i < n and s[i] == "-":
            i, expsgn = i + 1, -1
        while i < n and "0" <= s[i] <= "9":
            expo2 = _wrap32(10 * expo2 + ord(s[i]) - 48)
            i += 1
    if i != n:
        raise ValueError(f"not a plain decimal: {token!r}")
    p = _pow10(float(_wrap32(expo1 + _wrap32(expsgn * expo2))))
    return sign * mantis * p if not (mantis == 0.0 and math.isinf(p)) else math.nan


def _decimal_number(s: str, i: int) -> tuple[float, int] | None:
    """``get_decimal_number`` of src/frontend/parser/numparse.c: (value, next index)."""
    n, sign = len(s), 1.0
    if i < n and s[i] == "+":
        i += 1
    elif i < n and s[i] == "-":
        i, sign = i + 1, -1.0
    if i >= n or not (s[i].isdigit() or (s[i] == "." and i + 1 < n and s[i + 1].isdigit())):
        return None
    val = 0.0
    while i < n and "0" <= s[i] <= "9":
        val = val * 10.0 + float(ord(s[i]) - 48)
        i += 1
    if i < n and s[i] == ".":
        i += 1
        p0, numerator = i, 0.0
        while i < n and "0" <= s[i] <= "9":
            numerator = numerator * 10.0 + float(ord(s[i]) - 48)
            i += 1
        val += numerator * _pow10(float(p0 - i))
    return sign * val, i


def ft_numparse(token: str) -> float:
    """The double ngspice's ``ft_numparse`` (src/frontend/parser/numparse.c), which reads
    ``.options`` values, makes of a plain decimal ``token``.  Raises ValueError otherwise."""
    got = _decimal_number(token, 0)
    if got is None:
        raise ValueError(f"not a number: {token!r}")
    mant, i = got
    expo = 0.0
    if i < len(token) and token[i] in "eE":
        exp = _decimal_number(token, i + 1)
        if exp is not None:
            expo, i = exp
    if i != len(token):
        raise ValueError(f"not a plain decimal: {token!r}")
    return mant * (1.0 if expo == 0.0 else _pow10(expo))


def numparam_value(token: str) -> float:
    """The gain ngspice gives ``G_a`` of the gyrator subcircuit for ``g=token``: numparam
    reads the token correctly rounded, substitutes ``{g}`` as ``% 23.15e``
    (src/frontend/numparam/xpressn.c) and the G card reads that with INPevaluate."""
    return inp_evaluate(format(float(token), ".15e"))


def expression_value(token: str) -> float:
    """The value ngspice gives a number ``token`` inside a behavioural-source expression:
    INPevaluate, reprinted ``%18.10e`` (inp_modify_exp, src/frontend/inpcom.c), INPevaluate."""
    return inp_evaluate(format(inp_evaluate(token), ".10e"))


def tanh_gain(gain_token: str, m: float) -> float:
    """The small-signal gain ngspice uses for ``B.. I=<gain_token>*tanh(V(z)) m=<m>``."""
    return expression_value(gain_token) * m


_READERS = {"device": inp_evaluate, "option": ft_numparse, "numparam": numparam_value}


def read(token: str, path: str = "device") -> float:
    """The double ngspice makes of ``token`` on ``path`` ('device', 'option', 'numparam')."""
    return _READERS[path](token)


def _candidates(x: float):
    """Decimal strings of ``x`` that Python reads as ``x``: '.17g', repr, then every
    16..19-digit decimal inside x's rounding interval, nearest first."""
    yield format(x, ".17g")
    yield repr(x)
    if x == 0.0 or not math.isfinite(x):
        return
    ax, sg = abs(x), "-" if x < 0 else ""
    half = Decimal(math.ulp(ax)) / 2
    lo, hi, exact = Decimal(ax) - half, Decimal(ax) + half, Decimal(ax)
    top = math.floor(math.log10(ax))
    for digits in range(16, 20):
        e = top - (digits - 1)
        q = Decimal(1).scaleb(e)
        k_lo = int((lo / q).to_integral_value(rounding=ROUND_CEILING))
        k_hi = int((hi / q).to_integral_value(rounding=ROUND_FLOOR))
        mid = int((exact / q).to_integral_value())
        c = min(max(mid, k_lo), k_hi)  # the 200 nearest lie within 200 of c (a subnormal's range is huge)
        for k in sorted(range(max(k_lo, c - 200), min(k_hi, c + 200) + 1), key=lambda k: abs(k - mid))[:200]:
            yield _sci(sg, k, e)


def _sci(sign: str, k: int, e: int) -> str:
    """``sign k 10^e`` as scientific text ``d.ddd...e+X`` (ngspice reads the digit string and
    the total exponent, so this is the same number to it as ``{k}e{e}``)."""
    digits = str(k).rstrip("0") or "0"
    e += len(str(k)) - len(digits)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{e + len(digits) - 1:+03d}"


@functools.lru_cache(maxsize=1 << 16)
def _choose(x: float, path: str) -> tuple[str, bool]:
    reader = _READERS[path]
    best, best_miss = None, math.inf
    for text in _candidates(x):
        try:
            if float(text) != x:
                continue
            got = reader(text)
        except (ValueError, OverflowError):
            continue
        if got == x and (got != 0.0 or math.copysign(1.0, got) == math.copysign(1.0, x)):
            return text, True
        miss = abs(got - x) if math.isfinite(got) else math.inf
        if best is None or miss < best_miss:
            best, best_miss = text, miss
    return (best if best is not None else format(x, ".17g")), False


def spice_text(x: float, path: str = "device") -> str:
    """Decimal text of the finite double ``x`` that Python reads as ``x`` and ngspice's
    ``path`` reads as ``x`` too when any candidate does (else the nearest; see the module
    docstring)."""
    return _choose(float(x), path)[0]


def spice_exact(x: float, path: str = "device") -> bool:
    """Whether ngspice's ``path`` reads :func:`spice_text` of ``x`` as exactly ``x``."""
    return _choose(float(x), path)[1]


@functools.lru_cache(maxsize=1 << 14)
def tanh_gain_texts(gain: float) -> tuple[str, str]:
    """(text of the gain inside the expression, text of ``m``) such that ngspice's gain
    ``expression_value(gain text) * m`` is exactly ``gain`` (the nearest it can be
    otherwise).  The expression gets the gain rounded to 11 significant digits (which the
    reprint keeps) and ``m`` the rest; when that ``m`` (above 1, where doubles are half as
    dense) has no exact product, the gain rounded *up*, so that ``m`` is just below 1, where
    doubles are twice as dense as the gains they multiply and every gain has one."""
    gain = float(gain)
    if gain == 0.0 or not math.isfinite(gain):
        return spice_text(gain), "1"
    own = spice_text(gain)
    if expression_value(own) == gain:
        return own, "1"
    sg = "-" if gain < 0 else ""
    d = Decimal(abs(gain))
    e = d.adjusted() - 10
    unit = Decimal(1).scaleb(e)
    k = int((d / unit).to_integral_value(rounding=ROUND_CEILING))
    nearest = int((d / unit).to_integral_value())
    best = None
    for kk in dict.fromkeys((nearest, k, k + 1, k + 2, k + 3)):
        text = _sci(sg, kk, e)
        g1 = expression_value(text)
        if g1 == gain:
            return text, "1"
        m0 = gain / g1
        m = m0
        for _ in range(8):
            if g1 * m == gain and spice_exact(m):
                return text, spice_text(m)
            m = math.nextafter(m, math.inf if g1 * m < gain else -math.inf)
        if best is None:
            best = (text, spice_text(m0))
    return best


# ---------------------------------------------------------------------------- bulk (numpy)
#
# The same choice as :func:`_choose` for the device path, for an array of doubles at once:
# the candidates in the same order ('.17g', repr, then the 16..19-digit decimals of each
# level nearest first, at most 200 a level), each read by a numpy reproduction of
# INPevaluate's arithmetic, the first exact one (else the first nearest) taken.  The
# 16..19-digit windows come from double-double arithmetic; a value whose window edges or
# midpoint are too close to call (and powers of two, subnormals, |x| outside 1e-280 ..
# 1e280) is left to the scalar :func:`_choose`.  tests/test_spicenum_bulk.py compares the
# two element by element.

_POW_LO, _POW_HI = -400, 400
_DD = 300  # double-double powers of ten 10^-300 .. 10^300


def _pow_table():
    import numpy as np

    return np.array([_pow10(float(e)) for e in range(_POW_LO, _POW_HI + 1)])


@functools.lru_cache(maxsize=1)
def _tables():
    """pow(10, e) as ngspice computes it, and 10^s as a double-double (hi, lo)."""
    from fractions import Fraction

    import numpy as np

    pw = _pow_table()
    hi, lo = [], []
    for s in range(-_DD, _DD + 1):
        f = Fraction(10) ** s
        h = float(f)
        hi.append(h)
        lo.append(float(f - Fraction(h)))
    return pw, np.array(hi), np.array(lo)


def _pow10_many(e):
    import numpy as np

    pw = _tables()[0]
    idx = np.clip(e, _POW_LO - 1, _POW_HI + 1) - _POW_LO
    out = np.where(idx < 0, 0.0, np.inf)
    ok = (idx >= 0) & (idx < len(pw))
    out[ok] = pw[idx[ok]]
    return out


def inp_evaluate_many(tokens) -> "np.ndarray":
    """:func:`inp_evaluate` of every token (plain decimals as Python formats them: sign,
    digits, point, ``e`` exponent of at most 4 digits), vectorised."""
    import numpy as np

    tokens = list(tokens)
    if not tokens:
        return np.zeros(0)
    s = np.array(tokens, dtype="S")
    width = s.dtype.itemsize
    c = s.view(np.uint8).reshape(len(tokens), width)
    n = len(tokens)
    neg = c[:, 0] == ord("-")
    isdig = (c >= 48) & (c <= 57)
    ise = (c == ord("e")) | (c == ord("E")) | (c == ord("d")) | (c == ord("D"))
    has_e = ise.any(axis=1)
    epos = np.where(has_e, ise.argmax(axis=1), width)
    dot = c == ord(".")
    has_dot = dot.any(axis=1)
    dpos = np.where(has_dot, dot.argmax(axis=1), width)
    cols = np.arange(width)
    mant = isdig & (cols[None, :] < epos[:, None])
    mantis = np.zeros(n)
    last = int(epos.max()) if n else 0
    for j in range(min(last, width)):
        mj = mant[:, j]
        if mj.any():
            mantis = np.where(mj, (10.0 * mantis + c[:, j].astype(np.float64)) - 48.0, mantis)
    expo1 = -(mant & (cols[None, :] > dpos[:, None])).sum(axis=1)
    expdig = isdig & (cols[None, :] > epos[:, None])
    val = np.where(expdig, c.astype(np.int64) - 48, 0)
    place = np.cumsum(expdig[:, ::-1], axis=1)[:, ::-1]  # digits at or right of each column
    expo2 = (val * np.where(expdig, 10 ** np.maximum(place - 1, 0), 0)).sum(axis=1)
    epos_c = np.minimum(epos + 1, width - 1)
    expsgn = np.where(has_e & (c[np.arange(n), epos_c] == ord("-")), -1, 1)
    p = _pow10_many(expo1 + expsgn * expo2)
    sign = np.where(neg, -1.0, 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        out = sign * mantis * p
    return np.where((mantis == 0.0) & np.isinf(p), np.nan, out)


def _two_prod(a, b):
    """a * b as (product, rounding error), by Dekker's splitting (no FMA in numpy)."""
    import numpy as np

    p = a * b
    ca, cb = 134217729.0 * a, 134217729.0 * b
    ah, bh = ca - (ca - a), cb - (cb - b)
    al, bl = a - ah, b - bh
    err = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, np.asarray(err)


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _dd_floor(h, l):
    """floor of the double-double h + l (h < 2^64) as uint64, and the fraction left."""
    import numpy as np

    fh = np.floor(h)
    r = (h - fh) + l
    f = np.floor(r)
    frac = r - f
    k = fh.astype(np.uint64)
    fi = f.astype(np.int64)
    k = np.where(fi >= 0, k + np.abs(fi).astype(np.uint64), k - np.abs(fi).astype(np.uint64))
    return k, frac


_P10 = [10 ** i for i in range(20)]  # 10^19 < 2^64


def _digit_count(k):
    import numpy as np

    return np.searchsorted(np.array(_P10, dtype=np.uint64), k, side="right")


def _mantis_many(k):
    """The mantissa INPevaluate accumulates from the decimal digits of k (uint64 > 0)."""
    import numpy as np

    nd = _digit_count(k).astype(np.int64)
    t = np.maximum(nd - 15, 0)
    p10 = np.array(_P10, dtype=np.uint64)
    div = p10[t]
    pre = k // div
    rest = k - pre * div
    m = pre.astype(np.float64)
    for i in range(int(t.max()) if len(t) else 0):
        on = t > i
        d = (rest // p10[np.maximum(t - 1 - i, 0)]) % np.uint64(10)
        m = np.where(on, (10.0 * m + (48.0 + d.astype(np.float64))) - 48.0, m)
    return m


def _level_eval(k, e):
    """|value| INPevaluate gives ``_sci('', k, e)`` (k uint64 > 0, e int64)."""
    import numpy as np

    k = k.copy()
    e = e.copy()
    ten = np.uint64(10)
    z = (k % ten) == 0
    while z.any():
        k[z] //= ten
        e[z] += 1
        z = z & ((k % ten) == 0)
    with np.errstate(over="ignore", invalid="ignore"):
        return _mantis_many(k) * _pow10_many(e), k, e


_CAP = 200      # candidates per level (as :func:`_candidates`)
_CALL = 1e-7    # window edges / midpoint this close to a tie: left to the scalar path


def choose_many(values, path: str = "device") -> tuple[list[str], "np.ndarray"]:
    """(:func:`spice_text`, :func:`spice_exact`) of every value, the same as the scalar
    functions give (vectorised for the device path; non-finite values must not be given)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64).ravel()
    xl = x.tolist()
    if path != "device":
        got = [_choose(v, path) for v in xl]
        return [g[0] for g in got], np.array([g[1] for g in got], dtype=bool)
    texts = ["%.17g" % v for v in xl]
    n = len(xl)
    exact = np.ones(n, dtype=bool)
    if not n:
        return texts, exact
    ax = np.abs(x)
    with np.errstate(invalid="ignore"):
        got0 = np.abs(inp_evaluate_many(texts))
    exact = (got0 == ax)
    todo = np.nonzero(~exact)[0]
    if not len(todo):
        return texts, exact
    # candidate 1: repr
    reprs = [repr(xl[i]) for i in todo]
    with np.errstate(invalid="ignore"):
        got1 = np.abs(inp_evaluate_many(reprs))
    axt = ax[todo]
    ok1 = got1 == axt
    for i, r in zip(todo[ok1], np.asarray(reprs, dtype=object)[ok1]):
        texts[i] = r
        exact[i] = True
    miss0 = np.where(np.isfinite(got0[todo]), np.abs(got0[todo] - axt), np.inf)
    miss1 = np.where(np.isfinite(got1), np.abs(got1 - axt), np.inf)
    # best so far: candidate 0 or 1 (the first of equal misses)
    best_miss = np.where(miss1 < miss0, miss1, miss0)
    best_is_repr = miss1 < miss0
    rest = ~ok1
    idx, axr = todo[rest], axt[rest]
    best_miss, best_is_repr = best_miss[rest], best_is_repr[rest]
    if not len(idx):
        return texts, exact
    mant, expo = np.frexp(axr)
    scalar = (mant == 0.5) | (axr < 1e-280) | (axr > 1e280)
    top = np.floor(np.log10(np.where(scalar, 1.0, axr))).astype(np.int64)
    near = np.abs(np.log10(np.where(scalar, 1.0, axr)) - np.round(np.log10(np.where(scalar, 1.0, axr)))) < 1e-9
    for i in np.nonzero(near & ~scalar)[0]:
        top[i] = math.floor(math.log10(float(axr[i])))
    _, phi, plo = _tables()
    half = np.spacing(axr) / 2.0
    found = np.zeros(len(idx), dtype=bool)
    best_k = np.zeros(len(idx), dtype=np.uint64)
    best_e = np.zeros(len(idx), dtype=np.int64)
    best_lvl = np.full(len(idx), -1)
    for digits in range(16, 20):
        live = np.nonzero(~found & ~scalar)[0]
        if not len(live):
            break
        a = axr[live]
        e = top[live] - (digits - 1)
        s = np.clip(-e, -_DD, _DD) + _DD
        ph, pl = phi[s], plo[s]
        xh, xe = _two_prod(a, ph)
        xh, xl_ = _two_sum(xh, xe + a * pl)
        uh, ul = half[live] * ph, half[live] * pl
        lh, ll = _two_sum(xh, -uh)
        ll = ll + (xl_ - ul)
        hh, hl = _two_sum(xh, uh)
        hl = hl + (xl_ + ul)
        k_lo, f_lo = _dd_floor(lh, ll)
        k_hi, f_hi = _dd_floor(hh, hl)
        k_mid, f_mid = _dd_floor(xh, xl_)
        amb = ((f_lo < _CALL) | (f_lo > 1 - _CALL) | (f_hi < _CALL) | (f_hi > 1 - _CALL)
               | (np.abs(f_mid - 0.5) < _CALL))
        scalar[live[amb]] = True
        keep = ~amb
        live, e = live[keep], e[keep]
        k_lo = k_lo[keep] + np.uint64(1)           # ceil (the fraction is not 0)
        k_hi = k_hi[keep]
        mid = k_mid[keep] + (f_mid[keep] > 0.5).astype(np.uint64)
        da = k_lo.astype(np.int64) - mid.astype(np.int64)   # offsets are small: exact
        db = k_hi.astype(np.int64) - mid.astype(np.int64)
        cnt = np.clip(db - da + 1, 0, _CAP)
        has = cnt > 0
        live, e, da, db, cnt, mid = live[has], e[has], da[has], db[has], cnt[has], mid[has]
        if not len(live):
            continue
        starts = np.concatenate(([0], np.cumsum(cnt)[:-1]))
        grp = np.repeat(np.arange(len(live)), cnt)
        t = np.arange(int(cnt.sum())) - starts[grp]
        gda, gdb = da[grp], db[grp]
        sym = np.minimum(-gda, gdb)
        d = (t + 1) // 2
        off = np.where(t % 2 == 1, -d, d)
        off = np.where(t > 2 * sym, np.where(-gda > gdb, -(t - sym), t - sym), off)
        off = np.where(gda > 0, gda + t, np.where(gdb < 0, gdb - t, off))
        k = np.where(off >= 0, mid[grp] + np.abs(off).astype(np.uint64), mid[grp] - np.abs(off).astype(np.uint64))
        got, _, _ = _level_eval(k, e[grp])
        ga = axr[live][grp]
        hit = got == ga
        miss = np.where(np.isfinite(got), np.abs(got - ga), np.inf)
        big = np.iinfo(np.int64).max
        first_hit = np.minimum.reduceat(np.where(hit, t, big), starts)
        gmin = np.minimum.reduceat(miss, starts)
        first_min = np.minimum.reduceat(np.where(miss == gmin[grp], t, big), starts)
        pick = np.where(first_hit < big, first_hit, first_min)
        kp = k[starts + pick]
        now_hit = first_hit < big
        better = now_hit | (gmin < best_miss[live])
        upd = live[better]
        best_k[upd] = kp[better]
        best_e[upd] = e[better]
        best_lvl[upd] = digits
        best_miss[upd] = np.where(now_hit[better], 0.0, gmin[better])
        found[live[now_hit]] = True
    neg = (x[idx] < 0).tolist()
    repr_at = dict(zip(todo.tolist(), reprs))
    for j, (i, sc, lvl, bk, be, rp, fd) in enumerate(zip(idx.tolist(), scalar.tolist(), best_lvl.tolist(),
                                                         best_k.tolist(), best_e.tolist(), best_is_repr.tolist(),
                                                         found.tolist())):
        if sc:
            texts[i], exact[i] = _choose(xl[i], "device")
            continue
        if lvl >= 0:
            texts[i] = _sci("-" if neg[j] else "", bk, be)
        elif rp:
            texts[i] = repr_at[i]
        exact[i] = fd
    return texts, exact


def spice_texts(values, path: str = "device") -> list[str]:
    """:func:`spice_text` of every (finite) value, in bulk (:func:`choose_many`)."""
    return choose_many(values, path)[0]
