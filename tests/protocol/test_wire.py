"""Wire numbers: shortest decimal text, never an exponent, never ``.0`` (spec §2.2, §7.5, §11)."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocol._golden import assert_same_wire
from venue.core.numbers import MAX_ABS_RAW, to_text
from venue.protocol import wire
from venue.protocol.errors import Code, ProtocolError


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (100 * 10**8, b"100"),
        (5000, b"0.00005"),
        (1, b"0.00000001"),
        (-1, b"-0.00000001"),
        (0, b"0"),
        (725470000000, b"7254.7"),
        (-31225457, b"-0.31225457"),
        (-150000000, b"-1.5"),
        (-(10**8), b"-1"),
        (40, b"0.0000004"),
    ],
)
def test_num_writes_the_shortest_plain_decimal(raw: int, text: bytes) -> None:
    assert wire.dumps(wire.num(raw)) == text
    assert wire.dumps([wire.num(raw)]) == b"[" + text + b"]"


@given(st.integers(min_value=-MAX_ABS_RAW, max_value=MAX_ABS_RAW))
def test_num_digits_are_exactly_core_to_text(raw: int) -> None:
    text = wire.dumps(wire.num(raw))
    assert text == to_text(raw).encode()
    assert b"e" not in text.lower()
    assert Decimal(text.decode()) * 10**8 == raw


def test_num_cache_stays_bounded() -> None:
    for raw in range(wire._CACHE_LIMIT + 10):
        wire.num(raw)
    assert len(wire._cache) <= wire._CACHE_LIMIT
    assert wire.dumps(wire.num(wire._CACHE_LIMIT + 5)) == to_text(wire._CACHE_LIMIT + 5).encode()


def test_floats_would_break_the_wire_which_is_why_num_exists() -> None:
    # orjson's float output is what venue must never send for money (spec §11).
    assert orjson.dumps([100.0, 0.0000001]) == b"[100.0,1e-7]"


def test_opt_num_writes_null_for_a_missing_value() -> None:
    assert wire.dumps([wire.opt_num(None), wire.opt_num(10**8)]) == b"[null,1]"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.2"), b"0.2"),
        (Decimal("0.150"), b"0.15"),
        (Decimal("1E-7"), b"0.0000001"),
        (Decimal("100"), b"100"),
        (Decimal("-0"), b"0"),
        (3, b"3"),
    ],
)
def test_decimal_num_writes_ratios_without_exponent_or_trailing_zeros(
    value: Decimal | int, text: bytes
) -> None:
    assert wire.dumps(wire.decimal_num(value)) == text


def test_loads_refuses_invalid_json_with_a_bitfinex_error() -> None:
    with pytest.raises(ProtocolError) as caught:
        wire.loads(b"{not json", what="body")
    assert caught.value.code == Code.PARAMS and caught.value.text == "body: invalid"


def test_loads_parses_valid_json() -> None:
    assert wire.loads('[0,"on",null,{"amount":"0.1"}]') == [0, "on", None, {"amount": "0.1"}]


def test_golden_comparison_tells_100_from_100_point_0() -> None:
    with pytest.raises(AssertionError):
        assert_same_wire(b"[100.0]", "[100]")
    with pytest.raises(AssertionError):
        assert_same_wire(b"[5e-05]", "[0.00005]")
    with pytest.raises(AssertionError):
        assert_same_wire(b'["1"]', "[1]")
    assert_same_wire(b"[0.00005,null]", "[0.00005, null]")
