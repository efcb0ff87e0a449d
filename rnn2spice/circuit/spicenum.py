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
_CHUNK = 1 << 16  # candidates evaluated at once
_CALL = 1e-7    # window edges / midpoint this close to a tie: left to the scalar path
_G17, _REPR, _SCI = 0, 1, 2   # which candidate a value's text is: '.17g', repr, a level's _sci


def _scale(a, s):
    """a * 10^s as a double-double (|s| <= 300)."""
    _, phi, plo = _tables()
    ph, pl = phi[s + _DD], plo[s + _DD]
    xh, xe = _two_prod(a, ph)
    return _two_sum(xh, xe + a * pl)


def _strip(k):
    """k without its trailing decimal zeros, and how many there were (uint64, int64)."""
    import numpy as np

    k = k.copy()
    z = np.zeros(len(k), dtype=np.int64)
    ten = np.uint64(10)
    i = np.nonzero((k % ten == 0) & (k > 0))[0]
    while len(i):
        k[i] //= ten
        z[i] += 1
        i = i[k[i] % ten == 0]
    return k, z


def _g17_digits(a, top):
    """The 17 digits '%.17g' writes of each a (positive normal, 1e-280..1e280) as an integer
    (10^16 <= k < 10^17), its decimal exponent, the exponent of a itself, and whether the
    rounding was too close to call."""
    import numpy as np

    top = top.copy()
    k = np.zeros(len(a), dtype=np.uint64)
    f = np.zeros(len(a))
    todo = np.arange(len(a))
    lo16, hi17 = np.uint64(10 ** 16), np.uint64(10 ** 17)
    for _ in range(3):
        kk, ff = _dd_floor(*_scale(a[todo], 16 - top[todo]))
        k[todo], f[todo] = kk, ff
        low, high = kk < lo16, kk >= hi17
        top[todo[low]] -= 1
        top[todo[high]] += 1
        todo = todo[low | high]
        if not len(todo):
            break
    amb = np.abs(f - 0.5) < _CALL
    amb[todo] = True
    k = k + (f > 0.5).astype(np.uint64)
    carry = k == hi17
    k[carry] = lo16
    return k, top + carry, top, amb


def _shortest_digits(a, tt, k17, x17):
    """repr's digits of each a (the shortest decimal inside its rounding interval, nearest
    first): (integer k, decimal exponent of its first digit, too close to call)."""
    import numpy as np

    _, phi, plo = _tables()
    half = np.spacing(a) / 2.0
    k, x = k17.copy(), x17.copy()
    amb = np.zeros(len(a), dtype=bool)
    idx = np.arange(len(a))
    for d in range(16, 0, -1):          # exists(d) implies exists(d + 1): go down until none
        if not len(idx):
            break
        s = d - 1 - tt[idx]
        h, l = _scale(a[idx], s)
        ph, pl = phi[s + _DD], plo[s + _DD]
        uh, ul = half[idx] * ph, half[idx] * pl
        lh, ll = _two_sum(h, -uh)
        hh, hl = _two_sum(h, uh)
        k_lo, f_lo = _dd_floor(lh, ll + (l - ul))
        k_hi, f_hi = _dd_floor(hh, hl + (l + ul))
        k_mid, f_mid = _dd_floor(h, l)
        k_lo = k_lo + np.uint64(1)
        has = k_lo <= k_hi
        amb[idx] |= ((f_lo < _CALL) | (f_lo > 1 - _CALL) | (f_hi < _CALL) | (f_hi > 1 - _CALL)
                     | (has & (np.abs(f_mid - 0.5) < _CALL)))
        idx, s = idx[has], s[has]
        kk = np.clip(k_mid[has] + (f_mid[has] > 0.5).astype(np.uint64), k_lo[has], k_hi[has])
        k[idx] = kk
        x[idx] = tt[idx] + (_digit_count(kk).astype(np.int64) - d)
    return k, x, amb


def _mantis_pow(k, e):
    """|value| INPevaluate gives the digit string k (uint64, as written) times 10^e."""
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):
        return _mantis_many(k) * _pow10_many(e)


def _written(k, x, style):
    """(digit string as written, exponent of its last digit) of the text of stripped digits
    k with first-digit exponent x: positional '.17g' writes an integer's zeros, repr also
    '.0'; scientific text is the digits and the exponent (the same number to ngspice)."""
    import numpy as np

    nd = _digit_count(k).astype(np.int64)
    q = x - nd + 1
    if style == _SCI:
        return k, q
    sci = (x < -4) | (x >= (17 if style == _G17 else 16))
    whole = ~sci & (q >= 0)
    if not whole.any():
        return k, q
    p10 = np.array(_P10, dtype=np.uint64)
    t, q = k.copy(), q.copy()
    extra = 1 if style == _REPR else 0
    t[whole] = k[whole] * p10[q[whole] + extra]
    q[whole] = -extra
    return t, q


def _choose_bulk(x):
    """The device-path choice for every finite value of x: (kind, stripped digits, first-digit
    exponent, exact, {index: (text, exact)} of the values left to the scalar path)."""
    import numpy as np

    n = len(x)
    kind = np.full(n, _G17, dtype=np.int8)
    kdig = np.zeros(n, dtype=np.uint64)
    xexp = np.zeros(n, dtype=np.int64)
    exact = np.ones(n, dtype=bool)
    ax = np.abs(x)
    mant, _ = np.frexp(ax)
    regular = (mant != 0.5) & (ax >= 1e-280) & (ax <= 1e280)
    zero = ax == 0.0
    scalar = set(np.nonzero(~regular & ~zero)[0].tolist())
    ri = np.nonzero(regular)[0]
    a = ax[ri]
    lg = np.log10(a)
    top = np.floor(lg).astype(np.int64)          # as the scalar's math.floor(math.log10(x))
    for i in np.nonzero(np.abs(lg - np.round(lg)) < 1e-9)[0].tolist():
        top[i] = math.floor(math.log10(float(a[i])))
    k17, x17, tt, amb = _g17_digits(a, top)
    k17, _ = _strip(k17)
    t, q = _written(k17, x17, _G17)
    got0 = _mantis_pow(t, q)
    kdig[ri], xexp[ri] = k17, x17
    ok0 = got0 == a
    scalar.update(ri[amb].tolist())
    sel = np.nonzero(~ok0 & ~amb)[0]             # into ri / a
    if len(sel):
        kr, xr, amb1 = _shortest_digits(a[sel], tt[sel], k17[sel], x17[sel])
        kr, _ = _strip(kr)
        t, q = _written(kr, xr, _REPR)
        got1 = _mantis_pow(t, q)
        scalar.update(ri[sel[amb1]].tolist())
        a1, g0 = a[sel], got0[sel]
        ok1 = (got1 == a1) & ~amb1
        gi = ri[sel]
        exact[gi] = False
        kind[gi[ok1]] = _REPR
        kdig[gi[ok1]], xexp[gi[ok1]] = kr[ok1], xr[ok1]
        exact[gi[ok1]] = True
        miss0 = np.where(np.isfinite(g0), np.abs(g0 - a1), np.inf)
        miss1 = np.where(np.isfinite(got1), np.abs(got1 - a1), np.inf)
        rest = ~ok1 & ~amb1
        _levels(a1[rest], top[sel][rest], gi[rest], np.minimum(miss0, miss1)[rest], miss1[rest] < miss0[rest],
                kr[rest], xr[rest], kind, kdig, xexp, exact, scalar)
    zi = np.nonzero(zero)[0]
    kdig[zi], xexp[zi] = 0, 0
    return kind, kdig, xexp, exact, {i: _choose(float(x[i]), "device") for i in sorted(scalar)}


def _levels(axr, top, gi, best_miss, best_is_repr, kr, xr, kind, kdig, xexp, exact, scalar):
    """The 16..19-digit candidates of the values that neither '.17g' nor repr states exactly
    (as :func:`_candidates`): writes the choice into kind / kdig / xexp / exact."""
    import numpy as np

    n = len(axr)
    kind[gi[best_is_repr]] = _REPR
    kdig[gi[best_is_repr]], xexp[gi[best_is_repr]] = kr[best_is_repr], xr[best_is_repr]
    if not n:
        return
    _, phi, plo = _tables()
    half = np.spacing(axr) / 2.0
    found = np.zeros(n, dtype=bool)
    amb_all = np.zeros(n, dtype=bool)
    best_k = np.zeros(n, dtype=np.uint64)
    best_e = np.zeros(n, dtype=np.int64)
    best_lvl = np.full(n, -1)
    for digits in range(16, 20):
        live = np.nonzero(~found & ~amb_all)[0]
        if not len(live):
            break
        a = axr[live]
        e = top[live] - (digits - 1)
        s = np.clip(-e, -_DD, _DD)
        xh, xl_ = _scale(a, s)
        ph, pl = phi[s + _DD], plo[s + _DD]
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
        amb_all[live[amb]] = True
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
        ends = np.cumsum(cnt)
        g0 = 0
        while g0 < len(live):   # a chunk of groups at a time: the candidate arrays stay in cache
            g1 = max(int(np.searchsorted(ends, ends[g0] - cnt[g0] + _CHUNK, side="right")), g0 + 1)
            sl = slice(g0, g1)
            _level_chunk(axr, live[sl], e[sl], da[sl], db[sl], cnt[sl], mid[sl], digits,
                         best_miss, best_k, best_e, best_lvl, found)
            g0 = g1
    scalar.update(gi[amb_all].tolist())
    lv = best_lvl >= 0
    kind[gi[lv]] = _SCI
    kdig[gi[lv]] = best_k[lv]
    xexp[gi[lv]] = best_e[lv] + _digit_count(best_k[lv]).astype(np.int64) - 1
    exact[gi] = found


def _level_chunk(axr, live, e, da, db, cnt, mid, digits, best_miss, best_k, best_e, best_lvl, found):
    """The candidates of one level for the groups ``live`` (see :func:`_levels`)."""
    import numpy as np

    starts = np.concatenate(([0], np.cumsum(cnt)[:-1]))
    grp = np.repeat(np.arange(len(live)), cnt)
    t = np.arange(int(cnt.sum())) - starts[grp]
    gda, gdb = da[grp], db[grp]
    sym = np.minimum(-gda, gdb)
    d = (t + 1) // 2
    off = np.where(t % 2 == 1, -d, d)
    off = np.where(t > 2 * sym, np.where(-gda > gdb, -(t - sym), t - sym), off)
    off = np.where(gda > 0, gda + t, np.where(gdb < 0, gdb - t, off))
    got = _level_values(mid, e, da, db, grp, off, digits)
    ga = axr[live][grp]
    hit = got == ga
    miss = np.where(np.isfinite(got), np.abs(got - ga), np.inf)
    big = np.iinfo(np.int64).max
    first_hit = np.minimum.reduceat(np.where(hit, t, big), starts)
    gmin = np.minimum.reduceat(miss, starts)
    first_min = np.minimum.reduceat(np.where(miss == gmin[grp], t, big), starts)
    pick = np.where(first_hit < big, first_hit, first_min)
    now_hit = first_hit < big
    better = now_hit | (gmin < best_miss[live])
    upd = live[better]
    po = off[starts + pick][better]
    ks, z = _strip(np.where(po >= 0, mid[better] + np.abs(po).astype(np.uint64),
                            mid[better] - np.abs(po).astype(np.uint64)))
    best_k[upd] = ks
    best_e[upd] = e[better] + z
    best_lvl[upd] = digits
    best_miss[upd] = np.where(now_hit[better], 0.0, gmin[better])
    found[live[now_hit]] = True


@functools.lru_cache(maxsize=4)
def _extra_tables(extra: int):
    """For the last ``extra`` digits r (0 <= r < 10^extra) of a candidate: each digit's
    character code (float, 48 + d) and r's trailing zeros."""
    import numpy as np

    r = np.arange(10 ** extra)
    codes = np.stack([48.0 + (r // 10 ** (extra - 1 - j)) % 10 for j in range(extra)], axis=1)
    tz = np.zeros(len(r), dtype=np.int64)
    for j in range(1, extra + 1):
        tz += (r % 10 ** j == 0)
    return codes, tz


def _level_values(mid, e, da, db, grp, off, digits):
    """|value| INPevaluate gives the text of every candidate mid[grp] + off (times 10^e[grp],
    written without trailing zeros): the first 15 digits exactly, the last ``digits - 15`` as
    INPevaluate accumulates them (float arithmetic on the group's prefix, no per-candidate
    division); groups whose candidates do not all have ``digits`` digits the general way."""
    import numpy as np

    extra = digits - 15
    big = np.uint64(10 ** extra)
    pw = _tables()[0]
    got = np.empty(len(grp))
    lo_ok = (mid.astype(np.int64) + da) >= 10 ** (digits - 1)       # int64 holds 10^19 - 1
    hi_ok = (mid.astype(np.int64) + db) < (10 ** digits if digits < 19 else np.iinfo(np.int64).max)
    hi_ok &= mid < np.uint64(10 ** digits)
    fast = (lo_ok & hi_ok)[grp]
    slow = np.nonzero(~fast)[0]
    if len(slow):
        o = off[slow]
        m = mid[grp[slow]]
        k = np.where(o >= 0, m + np.abs(o).astype(np.uint64), m - np.abs(o).astype(np.uint64))
        ks, z = _strip(k)
        got[slow] = _mantis_pow(ks, e[grp[slow]] + z)
    f = np.nonzero(fast)[0]
    if not len(f):
        return got
    g = grp[f]
    pre_mid = (mid // big).astype(np.float64)
    rest_mid = (mid % big).astype(np.int64)
    rest = rest_mid[g] + off[f]
    carry = np.floor_divide(rest, 10 ** extra)
    rest -= carry * 10 ** extra
    m = pre_mid[g] + carry
    codes, tzs = _extra_tables(extra)
    tz = tzs[rest]
    c = codes[rest]
    for j in range(extra):
        m = np.where(j < extra - tz, (10.0 * m + c[:, j]) - 48.0, m)
    ee = e[g] + tz
    zero = np.nonzero(tz == extra)[0]           # the prefix's own trailing zeros
    while len(zero):
        z10 = np.nonzero(np.fmod(m[zero], 10.0) == 0.0)[0]
        zero = zero[z10]
        m[zero] /= 10.0
        ee[zero] += 1
    with np.errstate(over="ignore", invalid="ignore"):
        got[f] = m * pw[np.clip(ee, _POW_LO, _POW_HI) - _POW_LO]
    return got


# ---------------------------------------------------------------------------- bulk text
#
# Text as a uint8 matrix, one row per value, 0 bytes as holes: a row's text is its non-zero
# bytes in order, so rows of different lengths and whole lines (constant text, integers and
# numbers side by side) are built column by column and joined by dropping the holes.

@functools.lru_cache(maxsize=1)
def _quads():
    import numpy as np

    return np.frombuffer("".join(f"{i:04d}" for i in range(10000)).encode(), dtype=np.uint8).reshape(10000, 4)


def _digit_chars(k, width):
    """Right-aligned ASCII digits of k (non-negative ints < 10^width), leading zeros as
    digits: uint8 (len(k), width)."""
    import numpy as np

    quads = _quads()
    nq = -(-width // 4)
    out = np.empty((len(k), 4 * nq), dtype=np.uint8)
    k = np.asarray(k).astype(np.uint64)
    if width > 10:   # split once, then 4-digit chunks in int64
        hi, lo = (k // np.uint64(10 ** 12)).astype(np.int64), (k % np.uint64(10 ** 12)).astype(np.int64)
        parts = [(lo, 3), (hi, nq - 3)]
    else:
        parts = [(k.astype(np.int64), nq)]
    col = 4 * nq
    for v, m in parts:
        for _ in range(m):
            out[:, col - 4:col] = quads[v % 10000]
            v = v // 10000
            col -= 4
    return out[:, 4 * nq - width:]


def _int_chars(k):
    """Decimal text of non-negative integers, right-aligned with holes: uint8 (len, width)."""
    import numpy as np

    k = np.asarray(k, dtype=np.int64)
    top = int(k.max()) if len(k) else 0
    width = len(str(top))
    m = _digit_chars(k, width)
    nd = np.maximum(_digit_count(k.astype(np.uint64)), 1)
    m[np.arange(width)[None, :] < (width - nd)[:, None]] = 0
    return m


def _number_chars(kind, k, x, neg):
    """The text of every value (its choice: kind, stripped digits k, first-digit exponent x,
    sign) as a hole matrix."""
    import numpy as np

    n = len(k)
    nd = np.maximum(_digit_count(k), 1).astype(np.int64)
    r = _digit_chars(k, 19)
    cols = np.arange(19)
    d = np.take_along_axis(r, np.minimum(19 - nd[:, None] + cols[None, :], 18), axis=1)   # left-aligned
    d[cols[None, :] >= nd[:, None]] = 0
    sci = (kind == _SCI) | (x < -4) | (x >= np.where(kind == _G17, 17, 16))
    out = np.zeros((n, 42), dtype=np.uint8)
    out[:, 0] = np.where(neg, ord("-"), 0)
    si = np.nonzero(sci)[0]
    if len(si):
        ds, xs = d[si], x[si]
        blk = np.zeros((len(si), 26), dtype=np.uint8)
        blk[:, 0] = ds[:, 0]
        blk[:, 1] = np.where(nd[si] > 1, ord("."), 0)
        blk[:, 2:20] = ds[:, 1:19]
        blk[:, 20] = ord("e")
        blk[:, 21] = np.where(xs < 0, ord("-"), ord("+"))
        ex = _digit_chars(np.abs(xs), 3)
        ex[:, 0] = np.where(np.abs(xs) >= 100, ex[:, 0], 0)
        blk[:, 22:25] = ex
        out[si, 1:27] = blk[:, :26]
    pi = np.nonzero(~sci)[0]
    if len(pi):   # positional: integer places 16..0, '.', fraction places -1..-21
        dp, xp, ndp = d[pi], x[pi][:, None], nd[pi][:, None]
        p = np.arange(16, -22, -1)[None, :]
        i = xp - p                                  # index of the digit at place p
        dig = np.take_along_axis(dp, np.clip(i, 0, 18), axis=1)
        ch = np.where((i >= 0) & (i < ndp), dig, 0)
        ch = np.where((i >= ndp) & (p >= 0), ord("0"), ch)                 # an integer's zeros
        ch = np.where((i < 0) & (p <= 0), ord("0"), ch)                     # 0.000ddd
        frac = (xp - ndp + 1) < 0
        whole_repr = ~frac & (kind[pi] == _REPR)[:, None]
        ch = np.where((p == -1) & whole_repr, ord("0"), ch)
        dot = np.where(frac[:, 0] | whole_repr[:, 0], ord("."), 0)
        out[pi, 1:18] = ch[:, :17]
        out[pi, 18] = dot
        out[pi, 19:40] = ch[:, 17:]
    return out


def _join_rows(m, sep: str = "\n") -> str:
    """The rows of hole matrix m (their non-zero bytes) joined by ``sep``."""
    import numpy as np

    if not len(m):
        return ""
    full = np.concatenate([m, np.full((len(m), 1), ord(sep), dtype=np.uint8)], axis=1)
    return full[full != 0].tobytes().decode("ascii")[:-1]


def _chars(values):
    """(hole matrix of the device-path text of every finite value, exact)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64).ravel()
    kind, k, xe, exact, scal = _choose_bulk(x)
    m = _number_chars(kind, k, xe, np.signbit(x))
    zero = x == 0.0
    if zero.any():
        m[zero, 1:] = 0
        m[zero, 1] = ord("0")
    if scal:
        idx = np.fromiter(scal, dtype=np.int64, count=len(scal))
        texts = [t for t, _ in scal.values()]
        s = np.array(texts, dtype=f"S{m.shape[1]}")
        m[idx] = s.view(np.uint8).reshape(len(texts), m.shape[1])
        exact[idx] = [e for _, e in scal.values()]
    return m, exact


def choose_many(values, path: str = "device") -> tuple[list[str], "np.ndarray"]:
    """(:func:`spice_text`, :func:`spice_exact`) of every value, the same as the scalar
    functions give (vectorised for the device path; non-finite values must not be given)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64).ravel()
    if path != "device":
        got = [_choose(v, path) for v in x.tolist()]
        return [g[0] for g in got], np.array([g[1] for g in got], dtype=bool)
    if not len(x):
        return [], np.ones(0, dtype=bool)
    m, exact = _chars(x)
    return _join_rows(m).split("\n"), exact


def spice_texts(values, path: str = "device") -> list[str]:
    """:func:`spice_text` of every (finite) value, in bulk (:func:`choose_many`)."""
    return choose_many(values, path)[0]


def text_lines(*parts) -> str:
    """Lines of text built in bulk, joined by newlines (no newline after the last): each
    part is a str (the same in every line), an integer array (non-negative, decimal) or a
    float array (finite; the device-path text :func:`spice_text` of each value).  The
    arrays have one length, the number of lines."""
    import numpy as np

    n = next((len(p) for p in parts if not isinstance(p, str)), 0)
    if any(not isinstance(p, str) and len(p) != n for p in parts):
        raise ValueError("text_lines: arrays of different lengths")
    if n > _ROWS:   # a chunk of lines at a time: the arrays stay in cache
        return "\n".join(text_lines(*(p if isinstance(p, str) else p[i:i + _ROWS] for p in parts))
                         for i in range(0, n, _ROWS))
    if not n:
        return ""
    cols = []
    for p in parts:
        if isinstance(p, str):
            if p:
                b = np.frombuffer(p.encode("ascii"), dtype=np.uint8)
                cols.append(np.broadcast_to(b, (n, len(b))))
            continue
        a = np.asarray(p)
        cols.append(_int_chars(a) if a.dtype.kind in "iu" else _chars(a)[0])
    return _join_rows(np.concatenate(cols, axis=1))


_ROWS = 1 << 15  # lines built at once by :func:`text_lines`
