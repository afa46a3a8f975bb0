"""Exact numbers: amounts and prices as integers at a fixed scale of 1e-8.

Every amount, price, balance and fee inside core and views is an ``int`` counting units of
1e-8 ("raw"). Binary floats never enter: the protocol edge converts wire values with
``parse_amount`` / ``parse_price`` and renders them with ``to_text``.

Rules (spec/bitfinex-v2.md §2.2):
- amounts keep at most 8 decimals; more is rounded half-up to the 8th;
- prices keep at most 5 significant digits and 8 decimals; more is rounded half-up
  (the real exchange reports 9122.1687 as 9122.2, bitfinex-api-node#539);
- on the wire numbers are written in shortest form: ``100`` not ``100.0``, ``0.00005`` not
  ``5e-05``; inside order status texts a ``.0`` is kept on integral values (``8150.0``).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

SCALE = 100_000_000
DECIMALS = 8
PRICE_SIGNIFICANT_DIGITS = 5

_QUANTUM = Decimal(1).scaleb(-DECIMALS)
# Anything beyond this is absurd for an exchange and would only slow big-int arithmetic.
MAX_ABS_RAW = 10**15 * SCALE
# A numeric string as JSON clients write one: ASCII digits, optional sign, point and exponent.
# Decimal() alone also takes "1_000" (as 1000), non-ASCII digits ("١") and "Inf"/"NaN".
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class NumberError(ValueError):
    """A wire value that is not a finite decimal number."""


def to_decimal(value: object) -> Decimal:
    """A wire value (int, float, numeric string) as a finite Decimal.

    Floats go through ``repr`` so that 0.1 means 0.1, not its binary approximation.
    Booleans are refused: ``true`` is not a number on the wire.
    """
    if isinstance(value, bool):
        raise NumberError(f"not a number: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 64 or _NUMBER_TEXT.fullmatch(text) is None:
            raise NumberError(f"not a number: {value!r}")
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        raise NumberError(f"not a number: {value!r}")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise NumberError(f"not a number: {value!r}") from exc
    if not number.is_finite():
        raise NumberError(f"not a finite number: {value!r}")
    return number


def raw_from_decimal(number: Decimal) -> int:
    """A Decimal rounded half-up to 8 decimals, as raw units."""
    # Checked before quantize: beyond Decimal's 28-digit context quantize raises InvalidOperation.
    if number.adjusted() > 15:
        raise NumberError(f"number out of range: {number}")
    raw = int(number.quantize(_QUANTUM, rounding=ROUND_HALF_UP).scaleb(DECIMALS))
    if abs(raw) > MAX_ABS_RAW:
        raise NumberError(f"number out of range: {number}")
    return raw


def parse_amount(value: object) -> int:
    """A wire amount as raw units, rounded to 8 decimals. Sign is kept."""
    return raw_from_decimal(to_decimal(value))


def round_significant(number: Decimal, digits: int = PRICE_SIGNIFICANT_DIGITS) -> Decimal:
    """``number`` rounded half-up to ``digits`` significant digits (0 stays 0)."""
    if not number:
        return number
    exponent = number.adjusted() - digits + 1
    return number.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP)


def parse_price(value: object) -> int:
    """A wire price as raw units: 5 significant digits, then at most 8 decimals."""
    return raw_from_decimal(round_significant(to_decimal(value)))


def cut_price(raw: int, digits: int = PRICE_SIGNIFICANT_DIGITS) -> int:
    """A raw price rounded half-up to ``digits`` significant digits (for prices core computes)."""
    if raw == 0:
        return 0
    magnitude = len(str(abs(raw)))
    drop = magnitude - digits
    if drop <= 0:
        return raw
    step = 10**drop
    sign = -1 if raw < 0 else 1
    return sign * ((abs(raw) + step // 2) // step) * step


def to_text(raw: int) -> str:
    """Shortest decimal text of a raw value: ``100``, ``0.00005``, ``-1.5`` (never an exponent)."""
    sign = "-" if raw < 0 else ""
    whole, frac = divmod(abs(raw), SCALE)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:08d}".rstrip("0")


def to_status_text(raw: int) -> str:
    """Decimal text as written inside order status strings: integral values keep ``.0``."""
    text = to_text(raw)
    return text if "." in text else f"{text}.0"


def to_decimal_from_raw(raw: int) -> Decimal:
    """A raw value as an exact Decimal (for views that need arithmetic beyond 8 decimals)."""
    return Decimal(raw).scaleb(-DECIMALS)


def mul(amount: int, price: int) -> int:
    """amount × price in raw units, rounded half away from zero to 8 decimals."""
    product = amount * price
    sign = -1 if product < 0 else 1
    return sign * ((abs(product) + SCALE // 2) // SCALE)


def mul_ceil(amount: int, price: int) -> int:
    """|amount × price| in raw units rounded up: what a hold must cover so it is never short."""
    product = abs(amount * price)
    return -(-product // SCALE)


def fee(value: int, rate_ppm: int) -> int:
    """The fee on ``value`` (raw, positive) at ``rate_ppm`` parts per million, rounded half-up."""
    return (abs(value) * rate_ppm + 500_000) // 1_000_000
