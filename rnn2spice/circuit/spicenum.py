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

:func:`choose_many`, :func:`spice_texts` and :func:`text_lines` make the same choice for an
array of doubles in bulk (numpy: each value's 19-digit form, in double-double arithmetic,
gives every shorter rounding and window by integer division; a level's candidates are
read as rows of ten sharing a prefix, once per distinct accumulated mantissa), about a
million values a second with the text (the 249,001 VCCS cards of a dense 499-neuron
network in about 0.2 s); :func:`inp_evaluate_many` reads many texts at once.  The module
is longer than 400 lines because the scalar reference and its vectorised twin belong
together (tests/test_spicenum_bulk.py compares them element by element).
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
# INPevaluate's arithmetic, the first exact one (else the first nearest) taken.  Every
# rounding and window comes from the value's 19-digit form (:func:`_digits19`); a level's
# candidates are rows of ten 10 p + d (:func:`_level_chunk`).  Once '.17g' or repr misses
# by one ulp (no text can miss by less), only an exact candidate can change the choice.
# A value whose window edges or midpoint are too close to call (and powers of two,
# subnormals, |x| outside 1e-280 .. 1e280, and the few just below a power of ten, whose
# floor(log10) the scalar rounds up) is left to the scalar :func:`_choose`.
# tests/test_spicenum_bulk.py compares the two element by element.

_POW_LO, _POW_HI = -400, 400
_DD = 300  # double-double powers of ten 10^-300 .. 10^300


@functools.lru_cache(maxsize=1)
def _tables():
    """pow(10, e) as ngspice computes it (e = _POW_LO.._POW_HI: 0 and inf at the ends, as
    beyond them), and 10^s as a double-double (hi, lo), s = -_DD.._DD (Python's int / int
    is correctly rounded, so the hi part is and the lo part is the rounded remainder)."""
    import numpy as np

    pw = np.array([_pow10(float(e)) for e in range(_POW_LO, _POW_HI + 1)])
    hi, lo = [], []
    for s in range(-_DD, _DD + 1):
        num, den = (10 ** s, 1) if s >= 0 else (1, 10 ** -s)
        h = num / den
        hn, hd = h.as_integer_ratio()
        hi.append(h)
        lo.append((num * hd - hn * den) / (den * hd))
    return pw, np.array(hi), np.array(lo)


def _pow10_many(e):
    """pow(10, e) as ngspice computes it, for every int e."""
    import numpy as np

    return _tables()[0][np.clip(e, _POW_LO, _POW_HI) - _POW_LO]


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


_P10 = [10 ** i for i in range(20)]  # 10^19 < 2^64


def _digit_count(k):
    """Decimal digits of each k (uint64; 0 for 0)."""
    return _p10u().searchsorted(k, side="right")


def _mantis_many(k):
    """The mantissa INPevaluate accumulates from the decimal digits of k (uint64 > 0): all but
    the last four digits (at most 15) exactly, then four steps of its loop (leading zeros
    of a short k are steps from 0 that keep 0)."""
    import numpy as np

    p = np.uint64(10 ** 4)
    q = k // p
    r = (k - q * p).astype(np.int64)
    codes = _rest_codes(4)[0]
    m = q.astype(np.float64)
    for i in range(4):
        m = (10.0 * m + codes[i][r]) - 48.0
    return m


_CAP = 200      # candidates per level (as :func:`_candidates`)
_CHUNK = 1 << 15  # rows of ten candidates evaluated at once
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
    i = np.nonzero((k // ten * ten == k) & (k > 0))[0]   # (// by a constant is fast, % is not)
    while len(i):
        ki = k[i] // ten
        k[i] = ki
        z[i] += 1
        i = i[ki // ten * ten == ki]
    return k, z


def _big_floor(h, l):
    """floor of the double-double h + l (h an integer below 2^64, |l| < 2^63) as uint64, and
    the fraction left."""
    import numpy as np

    f = np.floor(l)
    return h.astype(np.uint64) + f.astype(np.int64).astype(np.uint64), l - f   # wraps for f < 0: exact


def _digits19(a, top):
    """Each a (positive normal, 1e-280..1e280) at 19 significant digits, X = a 10^(18 - T)
    with T its decimal exponent (10^T <= a < 10^(T+1); top is an estimate): floor(X), its
    fraction (within ~1e-12), T, and whether T was not found.  The rounding of every
    shorter length follows by integer division, floor(Y / 10^j) = floor(floor(Y) / 10^j)
    (:func:`_rounded`; so too the window edges, :func:`_window19`)."""
    import numpy as np

    T = top.copy()
    n = len(a)
    k, f = np.zeros(n, dtype=np.uint64), np.zeros(n)
    todo = np.arange(n)
    lo19, hi19 = np.uint64(10 ** 18), np.uint64(10 ** 19)
    for _ in range(3):
        h, l = _scale(a[todo], 18 - T[todo])
        high = h >= 1.8e19                       # beyond uint64: the estimate was low
        kk, ff = _big_floor(np.where(high, 0.0, h), l)
        high |= kk >= hi19
        low = ~high & (kk < lo19)
        k[todo], f[todo] = kk, ff
        T[todo[high]] += 1
        T[todo[low]] -= 1
        todo = todo[high | low]
        if not len(todo):
            break
    amb = np.zeros(n, dtype=bool)
    amb[todo] = True
    return k, f, T, amb


def _window19(a, k19, f19, T):
    """floor(X - u) and floor(X + u) of each a's 19-digit form X = k19 + f19 (u: half an ulp
    of a at that scale, below 2^11), and whether either is too close to call (a fraction
    within _CALL of 0 or 1; otherwise no shorter length's window edge is either)."""
    import numpy as np

    _, phi, plo = _tables()
    s = 18 - T + _DD
    half = np.spacing(a) / 2.0
    uh = half * phi[s]                          # exact: half is a power of two
    ui = np.floor(uh)
    uf = (uh - ui) + half * plo[s]              # u's fraction
    ui = ui.astype(np.uint64)
    g = f19 - uf
    c = np.floor(g)
    f_lo = g - c
    k_lo = k19 - ui + c.astype(np.int64).astype(np.uint64)   # wraps for c = -1: exact
    g = f19 + uf
    c = np.floor(g)
    f_hi = g - c
    k_hi = k19 + ui + c.astype(np.int64).astype(np.uint64)
    amb = (f_lo < _CALL) | (f_lo > 1 - _CALL) | (f_hi < _CALL) | (f_hi > 1 - _CALL)
    return k_lo, k_hi, amb


def _rounded(k19, f19, j):
    """X / 10^j rounded to the nearest integer (X = k19 + f19), and whether that is too close
    to call (X / 10^j within _CALL of a half)."""
    import numpy as np

    if not j:
        return k19 + (f19 > 0.5).astype(np.uint64), np.abs(f19 - 0.5) < _CALL
    p = np.uint64(10 ** j)
    q = k19 // p
    r = k19 - q * p
    h = np.uint64(10 ** j // 2)
    amb = ((r == h) & (f19 < _CALL)) | ((r == h - np.uint64(1)) & (f19 > 1 - _CALL))
    return q + (r >= h).astype(np.uint64), amb


def _shortest_digits(k19, f19, k_lo, k_hi, T, k17, x17, nd17):
    """repr's digits of each value (the shortest decimal inside its rounding interval,
    nearest first) from its 19-digit form (:func:`_digits19`, :func:`_window19`): (integer
    k, decimal exponent of its first digit, number of digits, too close to call)."""
    import numpy as np

    p10 = _p10u()
    k, x = k17.copy(), x17.copy()
    nd = nd17.copy()
    amb = np.zeros(len(k), dtype=bool)
    idx = np.arange(len(k))
    for d in range(16, 0, -1):          # exists(d) implies exists(d + 1): go down until none
        p = np.uint64(10 ** (19 - d))
        lo = k_lo[idx] // p + np.uint64(1)      # ceil (the fraction is not 0)
        hi = k_hi[idx] // p
        has = lo <= hi
        idx = idx[has]
        if not len(idx):
            break
        mid, amb[idx] = _rounded(k19[idx], f19[idx], 19 - d)
        kk = np.clip(mid, lo[has], hi[has])
        up = kk == p10[d]                # 10^d: one digit more, the exponent one up
        k[idx] = kk
        x[idx] = T[idx] + up
        nd[idx] = d + up
    return k, x, nd, amb


def _mantis_pow(k, e):
    """|value| INPevaluate gives the digit string k (uint64, as written) times 10^e."""
    import numpy as np

    with np.errstate(over="ignore", invalid="ignore"):
        return _mantis_many(k) * _pow10_many(e)


def _written(k, x, style, nd):
    """(digit string as written, exponent of its last digit) of the text of stripped digits
    k (nd of them) with first-digit exponent x: positional '.17g' writes an integer's
    zeros, repr also '.0'; scientific text is the digits and the exponent (the same number
    to ngspice)."""
    q = x - nd + 1
    sci = (x < -4) | (x >= (17 if style == _G17 else 16))
    whole = ~sci & (q >= 0)
    if not whole.any():
        return k, q
    p10 = _p10u()
    t, q = k.copy(), q.copy()
    extra = 1 if style == _REPR else 0
    t[whole] = k[whole] * p10[q[whole] + extra]
    q[whole] = -extra
    return t, q


def _choose_bulk(x):
    """The device-path choice for every finite value of x: (kind, stripped digits, their
    number, first-digit exponent, exact, {index: (text, exact)} of the values left to the
    scalar path)."""
    import numpy as np

    n = len(x)
    kind = np.full(n, _G17, dtype=np.int8)
    kdig = np.zeros(n, dtype=np.uint64)
    ndig = np.ones(n, dtype=np.int64)
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
    k19, f19, tt, amb = _digits19(a, top)
    k17, amb17 = _rounded(k19, f19, 2)
    amb |= amb17
    carry = k17 == np.uint64(10 ** 17)
    k17[carry] = np.uint64(10 ** 16)
    x17 = tt + carry
    k17, z = _strip(k17)
    nd17 = 17 - z
    t, q = _written(k17, x17, _G17, nd17)
    got0 = _mantis_pow(t, q)
    kdig[ri], ndig[ri], xexp[ri] = k17, nd17, x17
    ok0 = got0 == a
    sel = np.nonzero(~ok0 & ~amb)[0]             # into ri / a
    k_lo, k_hi, amb_w = _window19(a[sel], k19[sel], f19[sel], tt[sel])
    amb[sel[amb_w]] = True
    scalar.update(ri[amb].tolist())
    keep = ~amb_w
    sel, k_lo, k_hi = sel[keep], k_lo[keep], k_hi[keep]
    if len(sel):
        w = k19[sel], f19[sel], k_lo, k_hi
        kr, xr, nr, amb1 = _shortest_digits(*w, tt[sel], k17[sel], x17[sel], nd17[sel])
        scalar.update(ri[sel[amb1]].tolist())
        keep = ~amb1
        sel, kr, xr, nr = sel[keep], kr[keep], xr[keep], nr[keep]
        w = tuple(v[keep] for v in w)
        kr, z = _strip(kr)
        nr -= z
        t, q = _written(kr, xr, _REPR, nr)
        got1 = _mantis_pow(t, q)
        a1, g0 = a[sel], got0[sel]
        ok1 = got1 == a1
        gi = ri[sel]
        exact[gi] = False
        kind[gi[ok1]] = _REPR
        kdig[gi[ok1]], ndig[gi[ok1]], xexp[gi[ok1]] = kr[ok1], nr[ok1], xr[ok1]
        exact[gi[ok1]] = True
        miss0 = np.where(np.isfinite(g0), np.abs(g0 - a1), np.inf)
        miss1 = np.where(np.isfinite(got1), np.abs(got1 - a1), np.inf)
        rest = ~ok1
        odd = rest & (top[sel] != tt[sel])       # the scalar's levels count from its own exponent
        scalar.update(gi[odd].tolist())
        rest &= ~odd
        _levels(a1[rest], top[sel][rest], gi[rest], np.minimum(miss0, miss1)[rest], miss1[rest] < miss0[rest],
                (kr[rest], nr[rest], xr[rest]), tuple(v[rest] for v in w), (kind, kdig, ndig, xexp, exact), scalar)
    zi = np.nonzero(zero)[0]
    kdig[zi], xexp[zi] = 0, 0
    return kind, kdig, ndig, xexp, exact, {i: _choose(float(x[i]), "device") for i in sorted(scalar)}


def _levels(axr, top, gi, best_miss, best_is_repr, rep, w19, choice, scalar):
    """The 16..19-digit candidates of the values that neither '.17g' nor repr states exactly
    (as :func:`_candidates`; rep: repr's digits, their number and exponent; w19: their
    19-digit form, :func:`_digits19`, at the exponent ``top``): writes the choice into
    ``choice`` (kind, digits, their number, exponent, exact) at the indices gi, or adds gi
    to ``scalar`` (a midpoint too close to call)."""
    import numpy as np

    kind, kdig, ndig, xexp, exact = choice
    n = len(axr)
    kind[gi[best_is_repr]] = _REPR
    for a, b in zip((kdig, ndig, xexp), rep):
        a[gi[best_is_repr]] = b[best_is_repr]
    if not n:
        return
    k19, f19, k_lo19, k_hi19 = w19
    # A text ngspice does not read as x is at least one ulp off (x is no power of two, and no
    # double lies nearer): after a miss of one ulp only an exact candidate changes the choice.
    near = best_miss > np.spacing(axr)
    found = np.zeros(n, dtype=bool)
    amb_all = np.zeros(n, dtype=bool)
    best_k = np.zeros(n, dtype=np.uint64)
    best_e = np.zeros(n, dtype=np.int64)
    best_lvl = np.full(n, -1)
    for digits in range(16, 20):
        live = np.nonzero(~found & ~amb_all)[0]
        mid, amb = _rounded(k19[live], f19[live], 19 - digits)
        amb_all[live[amb]] = True
        live, mid = live[~amb], mid[~amb]
        if not len(live):
            break
        e = top[live] - (digits - 1)
        p = np.uint64(10 ** (19 - digits))
        k_lo = k_lo19[live] // p + np.uint64(1)    # ceil (the fraction is not 0)
        k_hi = k_hi19[live] // p
        da = k_lo.astype(np.int64) - mid.astype(np.int64)   # offsets are small: exact
        db = k_hi.astype(np.int64) - mid.astype(np.int64)
        oa, ob = _capped(da, db)
        has = oa <= ob
        live, e, oa, ob, mid = live[has], e[has], oa[has], ob[has], mid[has]
        if not len(live):
            continue
        ends = np.cumsum(((mid + ob.astype(np.uint64)) // np.uint64(10) - (mid + oa.astype(np.uint64)) // np.uint64(10))
                         .astype(np.int64) + 1)
        g0 = 0
        while g0 < len(live):   # a chunk of groups at a time: the candidate arrays stay in cache
            g1 = max(int(np.searchsorted(ends, (ends[g0 - 1] if g0 else 0) + _CHUNK, side="right")), g0 + 1)
            sl = slice(g0, g1)
            _level_chunk(axr, live[sl], e[sl], oa[sl], ob[sl], mid[sl], digits, near,
                         best_miss, best_k, best_e, best_lvl, found)
            g0 = g1
    scalar.update(gi[amb_all].tolist())
    lv = (best_lvl >= 0) & ~amb_all
    nd = _digit_count(best_k[lv]).astype(np.int64)
    kind[gi[lv]] = _SCI
    kdig[gi[lv]], ndig[gi[lv]] = best_k[lv], nd
    xexp[gi[lv]] = best_e[lv] + nd - 1
    exact[gi] = found


def _capped(da, db):
    """The offsets from mid (first, last) of the candidates one level tries in the window
    mid + da .. mid + db: the _CAP nearest, the lower first of two as near (as
    :func:`_candidates`): all of a short window, else -_CAP/2 .. _CAP/2 - 1 moved inside."""
    import numpy as np

    short = db - da < _CAP
    lo = np.where(short, da, np.minimum(np.maximum(da, -(_CAP // 2)), db - (_CAP - 1)))
    return lo, np.where(short, db, lo + (_CAP - 1))


@functools.lru_cache(maxsize=5)
def _rest_codes(t: int):
    """For every r < 10^t written with t digits: the character code (float, 48 + digit) of
    each place (one row per place) and r's trailing zeros (t for 0)."""
    import numpy as np

    r = np.arange(10 ** t)
    codes = np.stack([48.0 + (r // 10 ** (t - 1 - i)) % 10 for i in range(t)])
    tz = np.zeros(len(r), dtype=np.int64)
    for i in range(1, t + 1):
        tz += r % 10 ** i == 0
    return codes, tz


_NONE = 1 << 40   # rank of "no candidate"
_CODES19 = [48.0 + d for d in range(1, 10)]   # the character codes of the digits 1..9


@functools.lru_cache(maxsize=1)
def _best_rank():
    """[(place + 1) * 1024 + bits]: the rank 2 |d - place| + (d > place) of the first in the
    level's order of the last digits d set in ``bits`` (_NONE if none), for a row of ten
    candidates with mid at digit ``place`` (-1: the row is above mid, 10: below)."""
    import numpy as np

    d = np.arange(10)
    place = np.arange(-1, 11)[:, None, None]
    key = 2 * np.abs(d - place) + (d > place)              # (place, 1, digit)
    on = (np.arange(1024)[None, :, None] >> d) & 1 == 1    # (1, bits, digit)
    return np.where(on, key, _NONE).min(axis=2).ravel()


def _level_chunk(axr, live, e, oa, ob, mid, digits, near, best_miss, best_k, best_e, best_lvl, found):
    """The candidates mid + oa .. mid + ob (times 10^e) of the groups ``live`` (see
    :func:`_levels`) as rows of ten, one per prefix p = k // 10.  INPevaluate reads 10 p + d
    as one more step of its loop on p's mantissa M(p), and 10 p as p's own text: so a row
    is M(p), and the many prefixes with the same M(p) (once M is past 2^53) are evaluated
    once.  A candidate's rank in the level's order is 2 |k - mid| + (k > mid)."""
    import numpy as np

    ten = np.uint64(10)
    lo_k = mid + oa.astype(np.uint64)            # wraps for a negative offset: exact modulo 2^64
    hi_k = mid + ob.astype(np.uint64)
    p0 = lo_k // ten
    p1 = hi_k // ten
    lod = (lo_k - p0 * ten).astype(np.int64)
    hid = (hi_k - p1 * ten).astype(np.int64)
    npf = (p1 - p0).astype(np.int64) + 1
    starts = np.concatenate(([0], np.cumsum(npf)[:-1]))
    last = starts + npf - 1
    rows = int(npf.sum())
    grp = np.repeat(np.arange(len(live)), npf)
    j = np.arange(rows) - starts[grp]
    m, ms, z = _prefix_mantis(p0, p1, grp, j, digits - 1)
    pw = _tables()[0]
    ga = axr[live]
    # rows with the same M(p) (consecutive in a group) give the same values
    new = np.ones(rows, dtype=bool)
    new[1:] = m[1:] != m[:-1]
    new[starts] = True
    uid = np.cumsum(new) - 1
    ug = grp[new]
    cells = (10.0 * m[new])[:, None] + _CODES19
    cells -= 48.0
    cells *= pw[e - _POW_LO][ug][:, None]
    v0 = ms * pw[e[grp] + 1 + z - _POW_LO]        # 10 p is written as p without its zeros
    bits = (_pack(cells == ga[ug][:, None]) << 1)[uid] | (v0 == ga[grp])
    bits[starts] &= 1023 - ((1 << lod) - 1)      # the first and last rows: only the digits in the run
    bits[last] &= (1 << (hid + 1)) - 1
    place = (lod - oa)[grp] - 10 * j              # mid - 10 p, row by row
    first = _first(bits, place, starts)
    now_hit = first >= 0
    miss = np.zeros(len(live))
    nr = np.nonzero(~now_hit & near[live])[0]    # no exact text: the first nearest counts
    if len(nr):
        r = np.nonzero((~now_hit & near[live])[grp])[0]
        rstarts = np.concatenate(([0], np.cumsum(npf[nr])[:-1]))
        allv = np.concatenate([v0[r][:, None], cells[uid[r]]], axis=1)
        mr = np.where(np.isfinite(allv), np.abs(allv - ga[grp[r]][:, None]), np.inf)
        inr = np.full(rows, 1023)                # the digits of a row inside the run
        inr[starts] &= 1023 - ((1 << lod) - 1)
        inr[last] &= (1 << (hid + 1)) - 1
        mr[((inr[r][:, None] >> np.arange(10)) & 1) == 0] = np.inf
        gmin = np.minimum.reduceat(mr.min(axis=1), rstarts)
        first[nr] = _first(_pack(mr == np.repeat(gmin, npf[nr])[:, None]) & inr[r], place[r], rstarts)
        miss[nr] = gmin
    better = now_hit.copy()
    better[nr] = miss[nr] < best_miss[live[nr]]
    upd = live[better]
    sc = first[better]
    po = np.where(sc % 2 == 1, (sc - 1) // 2, -(sc // 2))
    ks, zs = _strip(mid[better] + po.astype(np.uint64))
    best_k[upd] = ks
    best_e[upd] = e[better] + zs
    best_lvl[upd] = digits
    best_miss[upd] = miss[better]
    found[live[now_hit]] = True


def _pack(b):
    """Each row of the bool matrix b (at most 16 columns) as the bits of an int64 (rows
    padded to 16 bits, then packed at once: packing row by row is slow)."""
    import numpy as np

    pad = np.zeros((len(b), 16), dtype=bool)
    pad[:, :b.shape[1]] = b
    return np.packbits(pad.ravel(), bitorder="little").view(np.uint16).astype(np.int64)


def _first(bits, place, starts):
    """The rank (2 |k - mid| + (k > mid), -1 if none) of each group's first candidate of
    those set in ``bits``, a row of ten for each prefix p, ``place`` = mid - 10 p, groups
    beginning at rows ``starts``.  A row wholly above (below) mid ranks as if mid were just
    below (above) it, plus twice the distance."""
    import numpy as np

    score = np.full(len(bits), _NONE)
    i = np.nonzero(bits)[0]                      # (most rows have none)
    pl = place[i]
    pc = np.clip(pl, -1, 10)
    score[i] = _best_rank()[(pc + 1) * 1024 + bits[i]] + 2 * np.abs(pl - pc)
    first = np.minimum.reduceat(score, starts)
    return np.where(first < _NONE, first, -1)


def _prefix_mantis(p0, p1, grp, j, nd):
    """(M(p), M of p without its trailing zeros, how many) of every row's prefix
    p = p0[grp] + j, M being INPevaluate's mantissa of the digits.  Groups whose prefixes
    all have nd digits: the first 15 digits exactly, the rest from a table (the loop's
    state before the last z digits is the mantissa of p without them); others by
    :func:`_mantis_many`."""
    import numpy as np

    t = nd - 15
    p10 = np.uint64(10 ** t)
    hq = p0 // p10
    rest = (p0 - hq * p10).astype(np.int64)[grp] + j
    carry = rest // (10 ** t)
    rest -= carry * 10 ** t
    m = hq.astype(np.float64)[grp] + carry
    z = np.zeros(len(m), dtype=np.int64)
    ms = m
    if t:
        codes, tzs = _rest_codes(t)
        z = tzs[rest]
        states = [m]
        for i in range(t):
            m = (10.0 * m + codes[i][rest]) - 48.0
            states.append(m)
        ms = m.copy()
        for r in range(1, t):
            zi = np.nonzero(z == r)[0]
            ms[zi] = states[t - r][zi]
    hz = np.nonzero(z == t)[0]                   # the zeros run into the head (exact)
    if len(hz):
        hs, hzz = _strip(hq[grp[hz]] + carry[hz].astype(np.uint64))
        ms = ms.copy()
        ms[hz] = hs.astype(np.float64)
        z[hz] += hzz
    odd = (p0 < np.uint64(10 ** (nd - 1))) | (p1 >= np.uint64(10 ** nd))
    if odd.any():
        r = np.nonzero(odd[grp])[0]
        p = p0[grp[r]] + j[r].astype(np.uint64)
        m[r] = _mantis_many(p)
        ks, z[r] = _strip(p)
        ms[r] = _mantis_many(ks)
    return m, ms, z


# ---------------------------------------------------------------------------- bulk text
#
# Text as a uint8 matrix, one row per value, 0 bytes as holes: a row's text is its non-zero
# bytes in order, so rows of different lengths and whole lines (constant text, integers and
# numbers side by side) are built column by column and joined by dropping the holes.

@functools.lru_cache(maxsize=1)
def _text_tables():
    """The four ASCII digits of every n < 10^4 as one uint32 word, with leading zeros and
    with holes for them (0 as '0'); 'e+dd' / 'e-ddd' of every exponent _POW_LO.._POW_HI as
    an uint64 word (five bytes with holes, three zero bytes)."""
    import numpy as np

    n = np.arange(10 ** 4)[:, None]
    quads = (48 + n // np.array([1000, 100, 10, 1]) % 10).astype(np.uint8)
    holes = quads * ((n >= np.array([1000, 100, 10, 0])) | (np.arange(4) == 3))
    e = np.arange(_POW_LO, _POW_HI + 1)[:, None]
    a = np.abs(e)
    exps = np.zeros((len(e), 8), dtype=np.uint8)
    exps[:, :1] = ord("e")
    exps[:, 1:2] = np.where(e < 0, ord("-"), ord("+"))
    three = a >= 100
    digs = (48 + a // np.array([100, 10, 1]) % 10).astype(np.uint8)
    exps[:, 2:5] = np.where(three, digs, np.concatenate([digs[:, 1:], np.zeros_like(a, dtype=np.uint8)], axis=1))
    return quads.view(np.uint32).ravel(), holes.view(np.uint32).ravel(), exps.view(np.uint64).ravel()


def _digits20(k):
    """The 20 ASCII digits of each k (uint64), leading zeros included: uint8 (len(k), 20)."""
    import numpy as np

    quads = _text_tables()[0]
    out = np.empty((len(k), 5), dtype=np.uint32)
    hi = k // np.uint64(10 ** 12)
    lo = (k - hi * np.uint64(10 ** 12)).astype(np.int64)
    hi = hi.astype(np.int64)
    h1 = hi // 10 ** 4
    out[:, 0], out[:, 1] = quads[h1], quads[hi - h1 * 10 ** 4]
    l1 = lo // 10 ** 8
    lo -= l1 * 10 ** 8
    l2 = lo // 10 ** 4
    out[:, 2], out[:, 3], out[:, 4] = quads[l1], quads[l2], quads[lo - l2 * 10 ** 4]
    return out.view(np.uint8)


def _int_width(k) -> int:
    """Characters of the largest of the non-negative integers k (at least 1)."""
    return len(str(int(k.max()))) if len(k) else 1


def _int_chars(k, out):
    """Decimal text of non-negative integers, right-aligned with holes, written into out
    (uint8, (len, width))."""
    import numpy as np

    k = k.astype(np.int64, copy=False)
    width = out.shape[1]
    if width <= 4:
        out[:] = _text_tables()[1][k].view(np.uint8).reshape(len(k), 4)[:, 4 - width:]
    else:
        nd = np.maximum(_digit_count(k.astype(np.uint64)), 1)
        np.multiply(_digits20(k.astype(np.uint64))[:, 20 - width:], np.arange(width - 1, -1, -1) < nd[:, None],
                    out=out)


@functools.lru_cache(maxsize=1)
def _p10u():
    """10^i as uint64, i = 0..19."""
    import numpy as np

    return np.array(_P10, dtype=np.uint64)


def _layout(chosen):
    """(which of the chosen values are written in scientific form, the width of their text
    matrix)."""
    import numpy as np

    kind, _, _, xe, _, scal = chosen
    sci = (kind == _SCI) | (xe < -4) | (xe >= np.where(kind == _G17, 17, 16))
    return sci, max([26 if sci.all() else 39] + [len(t) for t, _ in scal.values()])


def _number_chars(x, chosen, layout, out):
    """Writes the text of every value x (``chosen``: its :func:`_choose_bulk`) into the hole
    matrix out (zeros, :func:`_layout`'s width): the sign, then scientific text
    (d.ddd e+XX) or positional; returns exact."""
    import numpy as np

    kind, k, nd, xe, exact, scal = chosen
    sci, width = layout
    np.multiply(np.signbit(x).view(np.uint8), np.uint8(45), out=out[:, 0])        # '-'
    si = np.nonzero(sci)[0]
    if len(si) == len(x):
        _sci_chars(k, xe, nd, out[:, 1:26])
    else:
        out[si, 1:26] = _sci_chars(k[si], xe[si], nd[si], np.empty((len(si), 25), dtype=np.uint8))
        pi = np.nonzero(~sci)[0]
        out[pi, 1:39] = _positional_chars(kind[pi], k[pi], xe[pi], nd[pi])
    zero = np.nonzero(x == 0.0)[0]
    if len(zero):
        out[zero, 1:] = 0
        out[zero, 1] = ord("0")
    if scal:
        idx = np.fromiter(scal, dtype=np.int64, count=len(scal))
        texts = [t for t, _ in scal.values()]
        out[idx] = np.array(texts, dtype=f"S{width}").view(np.uint8).reshape(len(texts), width)
        exact = exact.copy()
        exact[idx] = [e for _, e in scal.values()]
    return exact


@functools.lru_cache(maxsize=1)
def _digit_masks():
    """[nd]: 0xFF for each of the 18 digits after the first that a number of nd digits has."""
    import numpy as np

    return (np.arange(1, 19)[None, :] < np.arange(21)[:, None]).astype(np.uint8) * np.uint8(255)


def _sci_chars(k, x, nd, out):
    """d.ddd...e+XX of stripped digits k (nd of them), first-digit exponent x, written into
    out (uint8, (len, 25))."""
    import numpy as np

    d = _digits20(k * _p10u()[19 - nd])                # left-aligned from column 1
    out[:, 0] = d[:, 1]
    np.multiply((nd > 1).view(np.uint8), np.uint8(46), out=out[:, 1])  # '.'
    np.bitwise_and(d[:, 2:20], _digit_masks()[nd], out=out[:, 2:20])
    out[:, 20:] = _text_tables()[2][x - _POW_LO].view(np.uint8).reshape(len(x), 8)[:, :5]
    return out


def _positional_chars(kind, k, x, nd):
    """Positional text (as '.17g' / repr write it) of stripped digits k (nd <= 17 of them),
    first-digit exponent -4 <= x <= 16: the integer part right-aligned in columns 0..16,
    '.', then the fraction (0.000ddd: its zeros in columns 18..20, holes where fewer):
    uint8 (len, 38)."""
    import numpy as np

    p10 = _p10u()
    n = len(k)
    out = np.zeros((n, 38), dtype=np.uint8)
    fd = nd - x - 1                                    # fraction digits (x >= 0)
    up = (x >= 0) & (fd > 0)
    ip = np.where(up, k // p10[np.clip(fd, 0, 19)], k * p10[np.clip(-fd, 0, 19)])   # the integer part (x >= 0)
    whole = x >= 0
    out[:, :17] = _digits20(np.where(whole, ip, 0).astype(np.uint64))[:, 3:] * (np.arange(16, -1, -1) <= x[:, None])
    out[~whole, 16] = ord("0")
    repr_whole = whole & (fd <= 0) & (kind == _REPR)
    out[:, 17] = np.where(~whole | up | repr_whole, ord("."), 0)
    out[repr_whole, 18] = ord("0")
    f = np.where(up, k - ip * p10[np.clip(fd, 0, 19)], 0) * p10[np.clip(19 - fd, 0, 19)]
    out[:, 18:34] |= _digits20(f.astype(np.uint64))[:, 1:17] * (np.arange(16) < np.where(up, fd, 0)[:, None])
    lo = np.nonzero(~whole)[0]                         # 0.000ddd
    if len(lo):
        out[lo, 18:21] = (np.arange(3) < -x[lo, None] - 1).view(np.uint8) * np.uint8(48)
        out[lo, 21:] = _digits20(k[lo] * p10[19 - nd[lo]])[:, 1:18] * (np.arange(17) < nd[lo, None])
    return out


def _join_rows(m, sep: str = "\n") -> str:
    """The rows of hole matrix m (their non-zero bytes) joined by ``sep``."""
    import numpy as np

    if not len(m):
        return ""
    full = np.concatenate([m, np.full((len(m), 1), ord(sep), dtype=np.uint8)], axis=1)
    return _holeless(full)[:-1]


def _holeless(m) -> str:
    """The non-zero bytes of m, in order, as text."""
    return m[m != 0].tobytes().decode("ascii")


def _chars(values):
    """(hole matrix of the device-path text of every finite value, exact)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64).ravel()
    chosen = _choose_bulk(x)
    layout = _layout(chosen)
    out = np.zeros((len(x), layout[1]), dtype=np.uint8)
    return out, _number_chars(x, chosen, layout, out)


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
    items = []   # (what, the text / the integers / the values, width)
    for p in parts:
        if isinstance(p, str):
            if p:
                items.append(("s", np.frombuffer(p.encode("ascii"), dtype=np.uint8), len(p)))
        else:
            a = np.asarray(p)
            items.append(("i", a, _int_width(a)) if a.dtype.kind in "iu" else ("f", a.astype(np.float64).ravel(), 0))
    out = []
    for i in range(0, n, _ROWS):   # a chunk of lines at a time: the arrays stay in cache
        j = min(i + _ROWS, n)
        cols = []
        for what, v, w in items:
            if what == "f":
                x = v[i:j]
                chosen = _choose_bulk(x)
                layout = _layout(chosen)
                cols.append((what, (x, chosen, layout), layout[1]))
            else:
                cols.append((what, v if what == "s" else v[i:j], w))
        m = np.zeros((j - i, sum(w for _, _, w in cols) + 1), dtype=np.uint8)
        m[:, -1] = ord("\n")
        ends = np.cumsum([w for _, _, w in cols]).tolist()
        for (what, v, w), c in reversed(list(zip(cols, ends))):   # right to left: see _int_words
            if what == "s":
                m[:, c - w:c] = v
            elif what == "i" and w <= 4 <= c:
                _int_words(v, m, c)
            elif what == "i":
                _int_chars(v, m[:, c - w:c])
            else:
                _number_chars(*v, m[:, c - w:c])
        out.append(_holeless(m))
    if out:
        out[-1] = out[-1][:-1]   # no newline after the last line
    return "".join(out)


def _int_words(k, m, end):
    """Writes integers below 10^4 right-aligned with holes into the columns of m that end at
    column ``end``, one four-byte word a row: the leading holes of a shorter field land in
    the columns before it, which text_lines writes afterwards (it goes right to left)."""
    import numpy as np

    words = np.ndarray((len(m),), dtype=np.uint32, buffer=m, offset=end - 4, strides=(m.strides[0],))
    np.take(_text_tables()[1], k, out=words)


_ROWS = 1 << 15  # lines built at once by :func:`text_lines`
