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
"""

from __future__ import annotations

import functools
import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

__all__ = ["PATHS", "expression_value", "ft_numparse", "inp_evaluate", "numparam_value", "read", "spice_exact",
           "spice_text", "tanh_gain", "tanh_gain_texts"]

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
        for k in sorted(range(k_lo, k_hi + 1), key=lambda k: abs(k - mid))[:200]:
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
