"""Order inputs → commands (spec §4.3, §4.2, §8.3): golden cases in tests/golden/order_inputs.json,
plus the limits and the fuzz property: any JSON gives a command or a ProtocolError, nothing else."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol._golden import case_ids, load_cases
from venue.core.commands import MultiOp
from venue.core.numbers import to_text
from venue.protocol import orders
from venue.protocol.errors import ProtocolError

CASES = load_cases("order_inputs.json")
NOW = 1_700_000_000_000

PARSERS: dict[str, Callable[..., Any]] = {
    "submit": orders.parse_submit,
    "update": orders.parse_update,
    "cancel": orders.parse_cancel,
    "cancel_multi": orders.parse_cancel_multi,
    "multi": orders.parse_multi,
    "ops": orders.parse_ops,
}
_RAW_FIELDS = {"amount", "price", "delta", "price_trailing", "price_aux_limit", "price_oco_stop"}


def describe(command: Any) -> dict[str, Any]:
    """A command as comparable plain data: raw numbers as decimal text, enums as their value."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(command):
        value = getattr(command, field.name)
        if field.name in _RAW_FIELDS and value is not None:
            value = to_text(value)
        elif hasattr(value, "value"):
            value = value.value
        elif field.name == "ops":
            value = [type(op).__name__ for op in value]
        elif isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        out[field.name] = value
    return out


def defaults(command_type: type) -> dict[str, Any]:
    result = {}
    for field in dataclasses.fields(command_type):
        if field.default is not dataclasses.MISSING:
            result[field.name] = (
                list(field.default) if isinstance(field.default, tuple) else field.default
            )
    return result


@pytest.mark.parametrize(
    "case", [c for c in CASES if "expect" in c], ids=case_ids([c for c in CASES if "expect" in c])
)
def test_client_input_becomes_the_expected_command(case: dict[str, Any]) -> None:
    command = PARSERS[case["parser"]](case["input"], user_id=42, now_ms=NOW)
    expected = {**defaults(type(command)), "user_id": 42, **case["expect"]}
    assert describe(command) == expected


@pytest.mark.parametrize(
    "case", [c for c in CASES if "error" in c], ids=case_ids([c for c in CASES if "error" in c])
)
def test_bad_input_gets_the_bitfinex_code_and_text(case: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as caught:
        PARSERS[case["parser"]](case["input"], user_id=42, now_ms=NOW)
    assert [int(caught.value.code), caught.value.text] == case["error"]


def test_user_id_comes_from_the_caller_never_from_the_input() -> None:
    command = orders.parse_submit(
        {"symbol": "tBTCUSD", "type": "LIMIT", "amount": "1", "price": "1", "user_id": 7},
        user_id=42,
        now_ms=NOW,
    )
    assert command.user_id == 42


def test_multi_accepts_75_ops_and_refuses_76() -> None:
    op = ["oc", {"id": 1}]
    assert len(orders.parse_ops([op] * 75, user_id=1, now_ms=NOW).ops) == 75
    with pytest.raises(ProtocolError) as caught:
        orders.parse_ops([op] * 76, user_id=1, now_ms=NOW)
    assert caught.value.text == "input: invalid"


def test_multi_ops_keep_their_order_and_user() -> None:
    multi = orders.parse_ops(
        [["oc", {"id": 3}], ["oc", {"id": 1}], ["oc", {"id": 2}]], user_id=9, now_ms=NOW
    )
    assert isinstance(multi, MultiOp) and multi.user_id == 9
    assert [op.order_id for op in multi.ops] == [3, 1, 2]  # type: ignore[union-attr]
    assert all(op.user_id == 9 for op in multi.ops)


@pytest.mark.parametrize(
    ("tif", "mts"),
    [
        ("2030-01-02 03:04:05", 1893553445000),
        ("2030-01-02T03:04:05", 1893553445000),
        ("2020-06-30", 1593475200000),
    ],
)
def test_tif_is_read_as_utc(tif: str, mts: int) -> None:
    assert orders.parse_tif(tif) == mts


@pytest.mark.parametrize("text", ["\uff12\uff10\uff13\uff10-01-02", "\u0662\u0660\u0663\u0660-01-02 03:04:05"])
def test_dates_with_non_ascii_digits_are_invalid(text: str) -> None:
    # strptime reads any Unicode digit; a cid_date is matched as given, so "２０３０-01-02" found no
    # order ("Order not found.") where it is a bad parameter (10020 cid_date: invalid)
    with pytest.raises(ProtocolError) as tif_error:
        orders.parse_tif(text)
    assert tif_error.value.text == "tif: invalid"
    with pytest.raises(ProtocolError) as date_error:
        orders.parse_cid_date(text[:10])
    assert date_error.value.text == "cid_date: invalid"


def test_null_fields_mean_absent() -> None:
    command = orders.parse_submit(
        {
            "symbol": "tBTCUSD",
            "type": "EXCHANGE MARKET",
            "amount": "1",
            "price": None,
            "cid": None,
            "tif": None,
            "lev": None,
        },
        user_id=1,
        now_ms=NOW,
    )
    assert command.price is None and command.client_order_id is None and command.tif_ts is None


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            ["LIMIT", "EXCHANGE LIMIT", "MARKET", "STOP LIMIT", "TRAILING STOP", "x"]
        )
        | _json,
        "symbol": st.sampled_from(["tBTCUSD", "fUSD", "t"]) | _json,
        "amount": st.sampled_from(["1", "-0.5", "1e3", "0x10", ""]) | _json,
        "price": st.sampled_from(["100", "1.23456789", "-5"]) | _json,
        "id": _json,
        "cid": _json,
        "gid": _json,
        "cid_date": _json,
        "flags": _json,
        "tif": _json,
        "lev": _json,
        "meta": _json,
        "price_aux_limit": _json,
        "price_trailing": _json,
        "all": _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(parser=st.sampled_from(sorted(PARSERS)), payload=_fields | _json)
def test_any_json_gives_a_command_or_a_protocol_error(parser: str, payload: Any) -> None:
    try:
        PARSERS[parser](payload, user_id=1, now_ms=NOW)
    except ProtocolError:
        pass


@pytest.mark.parametrize("flag", [1, True, "1", 1.0])
def test_cancel_multi_all_accepts_one_as_number_bool_or_string(flag: object) -> None:
    command = orders.parse_cancel_multi({"all": flag}, user_id=1, now_ms=NOW)
    assert command.all is True


@pytest.mark.parametrize("flag", [2, -1, "yes", "1.5", [1], 0.5])
def test_cancel_multi_all_refuses_anything_but_zero_or_one(flag: object) -> None:
    with pytest.raises(ProtocolError) as exc:
        orders.parse_cancel_multi({"all": flag}, user_id=1, now_ms=NOW)
    assert (int(exc.value.code), exc.value.text) == (10020, "all: invalid")


def _submit_with_meta(meta: object) -> Any:
    body = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.1", "price": "100", "meta": meta}
    return orders.parse_submit(body, user_id=1, now_ms=NOW)


def test_meta_flags_are_kept_as_0_or_1_whatever_their_json_type() -> None:
    command = _submit_with_meta({"aff_code": "venue-1", "make_visible": True, "protect_selfmatch": "1"})
    assert command.meta == {"aff_code": "venue-1", "make_visible": 1, "protect_selfmatch": 1}


@pytest.mark.parametrize(
    "meta",
    [
        {"aff_code": {"nested": [1.5]}},
        {"aff_code": 1e308},
        {"aff_code": "x" * 65},
        {"make_visible": "yes"},
        {"protect_selfmatch": 2},
    ],
)
def test_absurd_meta_values_are_refused(meta: object) -> None:
    with pytest.raises(ProtocolError) as exc:
        _submit_with_meta(meta)
    assert (int(exc.value.code), exc.value.text) == (10020, "meta: invalid")
