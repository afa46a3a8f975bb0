"""Account-endpoint fields and arrays (protocol/private.py; spec §2.4, §4.2, §6.12)."""

from __future__ import annotations

import pytest

from venue.core.exchange import UserInfo
from venue.core.numbers import parse_price
from venue.core.preferences import Alert
from venue.core.symbols import load_registry
from venue.protocol import private
from venue.protocol.errors import ProtocolError
from venue.protocol.wire import dumps

REGISTRY = load_registry()


def _error(call, *args, **kwargs) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ProtocolError) as exc:
        call(*args, **kwargs)
    return int(exc.value.code), exc.value.text


def test_empty_body_is_an_empty_object_and_non_objects_are_refused() -> None:
    assert private.parse_body(b"") == {}
    assert private.parse_body(b"  ") == {}
    assert private.parse_body(b'{"a": 1}') == {"a": 1}
    assert _error(private.parse_body, b"[]") == (10020, "input: invalid")
    assert _error(private.parse_body, b"{") == (10020, "input: invalid")


def test_history_query_defaults_to_25_newest_first_and_accepts_strings() -> None:
    assert private.history_query({}) == private.HistoryQuery(None, None, 25, -1)
    assert private.history_query({"start": "10", "end": 20, "limit": "2500", "sort": 1}) == private.HistoryQuery(
        10, 20, 2500, 1
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [({"limit": 2501}, "limit"), ({"limit": 0}, "limit"), ({"sort": 2}, "sort"), ({"start": "x"}, "start"),
     ({"start": 5, "end": 4}, "start"), ({"end": 1.5}, "end"), ({"limit": True, "sort": []}, "sort")],
)
def test_bad_history_parameters_name_the_field(body: dict[str, object], field: str) -> None:
    assert _error(private.history_query, body) == (10020, f"{field}: invalid")


def test_setting_keys_accepts_the_three_shapes_in_use() -> None:
    assert private.setting_keys({"keys": ["api:a", "api:b"]}) == ("api:a", "api:b")
    assert private.setting_keys({"settings": ["api:a"]}, "settings") == ("api:a",)
    assert private.setting_keys({"settings": {"api:a": 1}}, "settings") == ("api:a",)
    assert _error(private.setting_keys, {"keys": ["user:a"]}) == (10020, "keys: invalid")
    assert _error(private.setting_keys, {}) == (10020, "keys: invalid")


def test_setting_values_are_stored_as_canonical_json() -> None:
    assert private.setting_values({"settings": {"api:x": {"b": 1, "a": [True, None]}}}) == (
        ("api:x", '{"a":[true,null],"b":1}'),
    )
    assert _error(private.setting_values, {"settings": {}}) == (10020, "settings: invalid")


def test_alert_key_of_the_path_form_splits_symbol_and_price() -> None:
    assert private.alert_key("price:tBTCUSD:20000") == ("tBTCUSD", "20000")
    assert private.alert_key("price:tTESTBTC:TESTUSD:1.5") == ("tTESTBTC:TESTUSD", "1.5")
    assert _error(private.alert_key, "volume:tBTCUSD:1") == (10020, "key: invalid")


def test_alert_row_has_the_price_in_shortest_form() -> None:
    row = private.alert_row(Alert(1, "tETHUSD", parse_price("220"), 100))
    assert dumps(row) == b'["price:tETHUSD:220","price","tETHUSD",220,100]'


def test_wallet_labels_include_the_legacy_names() -> None:
    assert private.wallet("trading", "from") == "margin"
    assert private.wallet("deposit", "to") == "funding"
    assert private.wallet("Exchange", "to") == "exchange"
    assert _error(private.wallet, "bank", "from") == (10020, "from: invalid")


def test_method_names_a_single_currency() -> None:
    assert private.currency_of_method(REGISTRY, "bitcoin") == "BTC"
    assert private.currency_of_method(REGISTRY, "TETHERUSE") == "UST"
    assert private.currency_of_method(REGISTRY, "eth") == "ETH"  # a currency code works too
    assert _error(private.currency_of_method, REGISTRY, "wire") == (10020, "method: invalid")  # USD and EUR


def test_user_info_is_55_long_with_id_email_name_and_creation() -> None:
    row = private.user_info(UserInfo(9, "dora", "d@example.com", 1_600_000_000_000))
    assert len(row) == private.USER_INFO_LENGTH == 55
    assert row[:4] == [9, "d@example.com", "dora", 1_600_000_000_000]
    assert row[26] == []


def test_summary_writes_fee_rates_as_decimals() -> None:
    text = dumps(private.summary(1000, 2000))
    assert text.startswith(b"[null,null,null,null,[[0.001,0.001,0.001,null,null,0],[0.002,0.002,0.002,null,null,0.002]]")


def test_amounts_and_prices_must_be_positive_numbers() -> None:
    assert private.req_amount({"amount": "0.123456789"}) == 12345679
    assert _error(private.req_amount, {"amount": "0"}) == (10020, "amount: invalid")
    assert _error(private.req_amount, {"amount": "abc"}) == (10020, "amount: invalid")
    assert private.req_price({"price": "9122.1687"}) == parse_price("9122.2")
    assert _error(private.req_price, {}) == (10020, "price: invalid")


@pytest.mark.parametrize("value", ["--5", "5-", "", " ", "1e3", "1.5", [], {}])
def test_integer_fields_refuse_garbage_with_a_parameter_error(value: object) -> None:
    with pytest.raises(ProtocolError) as refused:
        private.opt_int({"limit": value}, "limit")
    assert (refused.value.code, refused.value.text) == (10020, "limit: invalid")


def test_integer_fields_take_numbers_digit_strings_and_booleans() -> None:
    assert [private.opt_int({"n": v}, "n") for v in (3, "42", 7.0, True)] == [3, 42, 7, 1]
