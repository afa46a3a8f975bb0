"""Public REST query parsing (spec §2.4, §3): golden cases in tests/golden/rest_queries.json, the
limit table, WS book parameters, and the calc endpoints' two input styles."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol._golden import case_ids, load_cases
from venue.core.symbols import load_registry
from venue.protocol import rest
from venue.protocol.errors import Code, ProtocolError

REGISTRY = load_registry()
CASES = load_cases("rest_queries.json")

CALLS: dict[str, Callable[..., Any]] = {
    "ticker": lambda args, params: rest.parse_ticker(args[0], REGISTRY),
    "tickers": lambda args, params: rest.parse_tickers(params, REGISTRY),
    "tickers_hist": lambda args, params: rest.parse_tickers_hist(params, REGISTRY),
    "trades": lambda args, params: rest.parse_trades(args[0], args[1], params, REGISTRY),
    "book": lambda args, params: rest.parse_book(args[0], args[1], params, REGISTRY),
    "candles": lambda args, params: rest.parse_candles(args[0], args[1], params, REGISTRY),
    "stats": lambda args, params: rest.parse_stats(args[0], args[1], params, REGISTRY),
}


def plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


@pytest.mark.parametrize(
    "case", [c for c in CASES if "expect" in c], ids=case_ids([c for c in CASES if "expect" in c])
)
def test_public_query_is_parsed_as_the_spec_describes(case: dict[str, Any]) -> None:
    assert plain(CALLS[case["call"]](case["args"], case["params"])) == case["expect"]


@pytest.mark.parametrize(
    "case", [c for c in CASES if "error" in c], ids=case_ids([c for c in CASES if "error" in c])
)
def test_bad_public_query_gets_the_bitfinex_error_body(case: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as caught:
        CALLS[case["call"]](case["args"], case["params"])
    assert caught.value.body() == case["error"]


@pytest.mark.parametrize(
    ("endpoint", "default", "maximum"),
    [
        ("trades", 125, 10000),
        ("candles", 100, 10000),
        ("stats1", 100, 10000),
        ("tickers_hist", 100, 250),
        ("status_deriv_hist", 100, 5000),
        ("liquidations", 100, 500),
        ("rankings", 125, 10000),
        ("funding_stats", 100, 250),
        ("orders_hist", 25, 2500),
        ("trades_hist", 25, 2500),
        ("ledgers_hist", 25, 2500),
        ("movements_hist", 25, 2500),
        ("positions_hist", 50, 50),
    ],
)
def test_limit_defaults_and_maxima_follow_the_table(
    endpoint: str, default: int, maximum: int
) -> None:
    assert rest.parse_limit({}, endpoint) == default
    assert rest.parse_limit({"limit": str(maximum)}, endpoint) == maximum
    with pytest.raises(ProtocolError, match="limit: invalid"):
        rest.parse_limit({"limit": str(maximum + 1)}, endpoint)


def test_history_accepts_json_numbers_from_auth_bodies() -> None:
    query = rest.parse_history({"end": 1700000000000, "limit": 10}, "trades_hist")
    assert (query.start, query.end, query.limit, query.sort) == (None, 1700000000000, 10, -1)


def test_history_refuses_a_boolean_limit() -> None:
    with pytest.raises(ProtocolError, match="limit: invalid"):
        rest.parse_history({"limit": True}, "trades_hist")


@pytest.mark.parametrize("length", ["1", "25", "100", "250", 25, 250])
def test_ws_book_length_accepts_strings_and_numbers_up_to_250(length: Any) -> None:
    assert rest.parse_book_length(length, ws=True) == int(length)


def test_ws_book_errors_use_the_book_codes() -> None:
    with pytest.raises(ProtocolError) as length_error:
        rest.parse_book_length("30", ws=True)
    with pytest.raises(ProtocolError) as precision_error:
        rest.parse_precision("P9", ws=True)
    assert (length_error.value.code, length_error.value.text) == (Code.BOOK_LENGTH, "len: invalid")
    assert (precision_error.value.code, precision_error.value.text) == (
        Code.BOOK_PRECISION,
        "prec: invalid",
    )


def test_candle_key_renders_back_canonically() -> None:
    assert rest.parse_candle_key("trade:7D:tBTCUSD", REGISTRY).key == "trade:1W:tBTCUSD"
    for timeframe in rest.TIMEFRAMES:
        assert rest.parse_candle_key(f"trade:{timeframe}:tETHUSD", REGISTRY).timeframe == timeframe


def test_stats_key_renders_back() -> None:
    for key in (
        "pos.size:1m:tTESTBTC:TESTUSD:long",
        "credits.size.sym:1m:fUSD:tBTCUSD",
        "vol.30d:30m:BFX",
    ):
        assert rest.parse_stats_key(key, REGISTRY).key == key


# -- calc (§3.14, §3.15) ---------------------------------------------------------------------


def test_trade_average_from_a_bfxapi_json_body_cuts_the_price_limit_to_five_digits() -> None:
    query = rest.parse_trade_average(
        {}, {"symbol": "tBTCUSD", "amount": "1.123", "price_limit": "24000.5"}, REGISTRY
    )
    assert query == rest.TradeAverageQuery("tBTCUSD", 112300000, 2400100000000)


def test_trade_average_from_a_node_query_string_with_empty_body() -> None:
    query = rest.parse_trade_average(
        {"symbol": "tBTCUSD", "amount": "-2", "rate_limit": "30000"}, {}, REGISTRY
    )
    assert query == rest.TradeAverageQuery("tBTCUSD", -200000000, 3000000000000)


@pytest.mark.parametrize(
    ("query", "body", "text"),
    [
        ({}, {"amount": "1"}, "symbol: invalid"),
        ({}, {"symbol": "fUSD", "amount": "1", "period": 2}, "symbol: invalid"),
        ({}, {"symbol": "tBTCUSD"}, "amount: invalid"),
        ({}, {"symbol": "tBTCUSD", "amount": "0"}, "amount: invalid"),
        ({}, {"symbol": "tBTCUSD", "amount": "x"}, "amount: invalid"),
        ({}, {"symbol": "tBTCUSD", "amount": 1e20}, "amount: invalid"),
        ({}, {"symbol": "tBTCUSD", "amount": "1", "price_limit": "1e40"}, "price_limit: invalid"),
        ({}, {"symbol": "tBTCUSD", "amount": "1", "price_limit": "-3"}, "price_limit: invalid"),
        ({"symbol": "tBTCUSD", "amount": "1", "rate_limit": "abc"}, {}, "rate_limit: invalid"),
        ({}, ["symbol"], "input: invalid"),
    ],
)
def test_trade_average_bad_input(query: dict[str, Any], body: Any, text: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        rest.parse_trade_average(query, body, REGISTRY)
    assert caught.value.body() == ["error", 10020, text]


def test_fx_of_two_listed_currencies() -> None:
    assert rest.parse_fx({}, {"ccy1": "BTC", "ccy2": "USD"}, REGISTRY) == rest.FxQuery("BTC", "USD")


@pytest.mark.parametrize(
    ("body", "text"),
    [({"ccy1": "BTC"}, "ccy2: invalid"), ({"ccy1": "XXX", "ccy2": "USD"}, "ccy1: invalid")],
)
def test_fx_bad_currency(body: dict[str, Any], text: str) -> None:
    with pytest.raises(ProtocolError, match=text):
        rest.parse_fx({}, body, REGISTRY)


_values = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.floats(allow_nan=False)
)


@settings(max_examples=200, deadline=None)
@given(
    call=st.sampled_from(sorted(CALLS)),
    args=st.lists(st.text(max_size=24), min_size=2, max_size=2),
    params=st.dictionaries(
        st.sampled_from(["limit", "start", "end", "sort", "symbols", "len"]), _values
    ),
)
def test_any_query_gives_a_query_or_a_protocol_error(
    call: str, args: list[str], params: dict[str, Any]
) -> None:
    try:
        CALLS[call](
            args[:1] if call == "ticker" else ([] if call.startswith("tickers") else args), params
        )
    except ProtocolError:
        pass
