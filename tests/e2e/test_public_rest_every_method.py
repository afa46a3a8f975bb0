"""Every public REST method of bitfinex-api-py (``bfxapi.rest.public``) against a real server.

test_public_rest.py follows one trade through the views; this module makes sure no method the
client offers is left out: the aggregated books at every precision (P1–P4 = 4, 3, 2, 1
significant figures, bids rounded down, asks up), the deep book (``len=250``), seed candles,
the conf keys the real clients ask for, the methods of markets venue does not list (funding,
derivatives, leaderboards) with their documented answers, and one bad input per method
(``RequestParameterError`` = code 10020, and the server keeps serving).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from bfxapi import Client
from bfxapi.rest.exceptions import RequestParameterError

from venue.core.commands import SubmitOrder
from venue.core.events import TradeExecuted
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderType

from tests.e2e.conftest import RunningServer


def _limit(user_id: int, amount: str, price: str) -> SubmitOrder:
    return SubmitOrder(
        user_id=user_id,
        symbol="tBTCUSD",
        type=OrderType.EXCHANGE_LIMIT,
        amount=parse_amount(amount),
        price=parse_price(price),
    )


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


async def _noop() -> None:
    return None


@dataclass
class Book:
    """tBTCUSD with four bids and four asks whose prices aggregate differently per precision,
    after one trade of 0.05 at 90005 (a buyer took part of the best ask)."""

    server: RunningServer
    public: Any  # bfxapi's RestPublicEndpoints
    best_bid_id: int
    best_ask_id: int
    trade_ts: int


# price → amount left resting (the best ask starts at -0.15; the trade takes 0.05 of it)
BIDS = [("89995", "0.1"), ("89991", "0.2"), ("89950", "0.3"), ("89400", "0.4")]
ASKS = [("90005", "-0.1"), ("90009", "-0.2"), ("90050", "-0.3"), ("90600", "-0.4")]


@pytest.fixture
def book(server: RunningServer) -> Iterator[Book]:
    seller, _, _ = server.create_account("seller", {"BTC": "5"})
    buyer, _, _ = server.create_account("buyer", {"USD": "500000"})
    ids = {}
    for price, amount in BIDS:
        ids[price] = server.submit(_limit(buyer, amount, price))[0].order.id  # type: ignore[attr-defined]
    for price, amount in ASKS:
        placed = "-0.15" if price == "90005" else amount
        ids[price] = server.submit(_limit(seller, placed, price))[0].order.id  # type: ignore[attr-defined]
    taken = server.submit(_limit(buyer, "0.05", "90005"))
    (trade,) = [e for e in taken if isinstance(e, TradeExecuted)]
    server.run(_noop())  # let the views listener run before reading
    yield Book(
        server=server,
        public=Client(rest_host=server.rest_url).rest.public,
        best_bid_id=ids["89995"],
        best_ask_id=ids["90005"],
        trade_ts=trade.ts,
    )


def _levels(public: Any, precision: str, length: int = 25) -> list[tuple[float, int, float]]:
    return [(lv.price, lv.count, lv.amount) for lv in public.get_t_book("tBTCUSD", precision, len=length)]


def test_p0_keeps_every_price(book: Book) -> None:
    assert _levels(book.public, "P0") == [
        (89995, 1, 0.1), (89991, 1, 0.2), (89950, 1, 0.3), (89400, 1, 0.4),
        (90005, 1, -0.1), (90009, 1, -0.2), (90050, 1, -0.3), (90600, 1, -0.4),
    ]  # fmt: skip


def test_p1_aggregates_to_four_significant_figures(book: Book) -> None:
    assert _levels(book.public, "P1") == [
        (89990, 2, 0.3), (89950, 1, 0.3), (89400, 1, 0.4),
        (90010, 2, -0.3), (90050, 1, -0.3), (90600, 1, -0.4),
    ]  # fmt: skip


def test_p2_aggregates_to_three_significant_figures(book: Book) -> None:
    assert _levels(book.public, "P2") == [
        (89900, 3, 0.6), (89400, 1, 0.4), (90100, 3, -0.6), (90600, 1, -0.4),
    ]  # fmt: skip


def test_p3_and_p4_aggregate_to_two_and_one_significant_figures(book: Book) -> None:
    assert _levels(book.public, "P3") == [(89000, 4, 1), (91000, 4, -1)]
    assert _levels(book.public, "P4") == [(80000, 4, 1), (100000, 4, -1)]


def test_len_is_the_number_of_entries_per_side(book: Book) -> None:
    assert _levels(book.public, "P0", 1) == [(89995, 1, 0.1), (90005, 1, -0.1)]
    assert len(_levels(book.public, "P0", 100)) == 8
    assert len(_levels(book.public, "P0", 250)) == 8  # the deep book (issue 3: len=250)
    raw = book.public.get_t_raw_book("tBTCUSD", len=1)
    assert [(r.order_id, r.price, r.amount) for r in raw] == [
        (book.best_bid_id, 89995, 0.1),
        (book.best_ask_id, 90005, -0.1),
    ]
    assert len(book.public.get_t_raw_book("tBTCUSD", len=250)) == 8


def test_seed_candles_are_the_candle_history(book: Book) -> None:
    (seed,) = book.public.get_seed_candles("tBTCUSD", "5m", limit=10)
    assert seed.mts == book.trade_ts - book.trade_ts % 300_000
    assert (seed.open, seed.close, seed.high, seed.low, seed.volume) == (90005, 90005, 90005, 90005, 0.05)
    assert book.public.get_candles_hist("tBTCUSD", "5m", limit=10) == [seed]


def test_get_tickers_reads_trading_rows_and_leaves_out_funding_symbols(book: Book) -> None:
    tickers = book.public.get_tickers(["tBTCUSD", "fUSD"])
    assert list(tickers) == ["tBTCUSD"]
    btc = tickers["tBTCUSD"]
    assert (btc.bid, btc.bid_size, btc.ask, btc.ask_size) == (89995, 1, 90005, 1)
    assert (btc.last_price, btc.volume, btc.high, btc.low) == (90005, 0.05, 90005, 90005)
    assert book.public.get_t_tickers(["tBTCUSD"]) == {"tBTCUSD": btc}


def test_funding_tickers_are_empty_because_venue_lists_no_funding_market(server: RunningServer) -> None:
    public = Client(rest_host=server.rest_url).rest.public
    assert public.get_f_tickers("ALL") == {}
    assert public.get_f_tickers(["fUSD", "fBTC"]) == {}


FUNDING_CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("get_f_ticker", lambda p: p.get_f_ticker("fUSD")),
    ("get_f_trades", lambda p: p.get_f_trades("fUSD", limit=10)),
    ("get_f_book", lambda p: p.get_f_book("fUSD", "P0", len=25)),
    ("get_f_raw_book", lambda p: p.get_f_raw_book("fUSD", len=25)),
    ("get_candles_hist funding key", lambda p: p.get_candles_hist("fUSD:p30", "1m")),
    ("get_funding_market_average_price", lambda p: p.get_funding_market_average_price("fUSD", "100", 2)),
]


@pytest.mark.parametrize("call", [c for _, c in FUNDING_CALLS], ids=[n for n, _ in FUNDING_CALLS])
def test_funding_symbols_are_refused_with_symbol_invalid(
    server: RunningServer, call: Callable[[Any], Any]
) -> None:
    public = Client(rest_host=server.rest_url).rest.public
    with pytest.raises(RequestParameterError, match="<symbol: invalid>"):
        call(public)
    assert public.get_platform_status().status == 1


def test_derivatives_liquidations_leaderboards_and_funding_stats_have_no_rows(server: RunningServer) -> None:
    public = Client(rest_host=server.rest_url).rest.public
    assert public.get_derivatives_status(["tBTCF0:USTF0", "tETHF0:USTF0"]) == {}
    assert public.get_derivatives_status_history("tBTCF0:USTF0", sort=1, limit=10) == []
    assert public.get_liquidations(limit=10) == []
    assert public.get_leaderboards_hist("plu:1w:tGLOBAL:USD", limit=10) == []
    assert public.get_funding_stats("fBTC", limit=10) == []


def test_last_sections_without_data_answer_an_empty_array(server: RunningServer) -> None:
    # bfxapi's get_leaderboards_last / get_stats_last cannot parse an empty answer (it expects
    # one row), but an empty leaderboard and a spot venue's position sizes have no row to give
    assert _get(f"{server.rest_url}/rankings/vol:3h:tBTCUSD/last") == (200, [])
    assert _get(f"{server.rest_url}/stats1/pos.size:1m:tBTCUSD:long/last") == (200, [])
    assert _get(f"{server.rest_url}/stats1/funding.size:1m:fUSD/hist") == (200, [])
    with pytest.raises(AssertionError):
        Client(rest_host=server.rest_url).rest.public.get_leaderboards_last("vol:3h:tBTCUSD")


CCXT_CURRENCY_KEYS = [
    "pub:list:currency", "pub:map:currency:sym", "pub:map:currency:label",
    "pub:map:currency:unit", "pub:map:currency:undl", "pub:map:currency:pool",
    "pub:map:currency:explorer", "pub:map:currency:tx:fee", "pub:map:tx:method",
    "pub:info:tx:status", "pub:list:currency:margin",
]  # fmt: skip


def test_conf_answers_the_keys_real_clients_ask_for(server: RunningServer) -> None:
    public = Client(rest_host=server.rest_url).rest.public
    currencies = public.conf("pub:list:currency")
    assert currencies[:3] == ["BTC", "ETH", "LTC"] and "TESTUSD" in currencies
    assert public.conf("pub:map:currency:sym") == [["UST", "USDt"]]
    assert ["BTC", "Bitcoin"] in public.conf("pub:map:currency:label")
    assert dict(public.conf("pub:map:currency:tx:fee"))["BTC"] == [0, 0.0004]
    assert ["WIRE", ["USD", "EUR"]] in public.conf("pub:map:tx:method")
    assert all(len(row) == 12 and row[1:3] == [1, 1] for row in public.conf("pub:info:tx:status"))
    pairs = dict(public.conf("pub:info:pair"))
    assert pairs["BTCUSD"][3:5] == ["0.00004", "2000.0"] and pairs["BTCUSD"][8:10] == [0.2, 0.1]
    assert "BTCUSD" in public.conf("pub:list:pair:margin")
    assert public.conf("pub:list:pair:futures") == []
    # ccxt's fetch_currencies asks all 11 keys at once and reads the answer by index
    status, answer = _get(f"{server.rest_url}/conf/{','.join(CCXT_CURRENCY_KEYS)}")
    assert status == 200 and len(answer) == 11
    assert answer[0] == currencies and answer[8] == public.conf("pub:map:tx:method")


BAD_INPUTS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("conf", lambda p: p.conf("list:currency"), "keys: invalid"),
    ("get_tickers", lambda p: p.get_tickers([]), "symbols: invalid"),
    ("get_t_ticker", lambda p: p.get_t_ticker("tBTCXYZ"), "symbol: invalid"),
    ("get_tickers_history", lambda p: p.get_tickers_history(["tBTCUSD"], limit=251), "limit: invalid"),
    ("get_t_trades", lambda p: p.get_t_trades("tBTCUSD", sort=0), "sort: invalid"),
    ("get_t_trades start", lambda p: p.get_t_trades("tBTCUSD", start="yesterday"), "start: invalid"),
    ("get_t_book", lambda p: p.get_t_book("tBTCUSD", "P0", len=500), "len: invalid"),
    ("get_t_raw_book", lambda p: p.get_t_raw_book("tBTCUSD", len=30), "len: invalid"),
    ("get_stats_hist", lambda p: p.get_stats_hist("vwap:1m:tBTCUSD"), "key: invalid"),
    ("get_stats_last", lambda p: p.get_stats_last("vol.1d:30m:BFX", limit=10001), "limit: invalid"),
    ("get_candles_last", lambda p: p.get_candles_last("tBTCUSD", "2h"), "timeframe: invalid"),
    ("get_seed_candles", lambda p: p.get_seed_candles("tBTCUSD", end="-1"), "end: invalid"),
    ("get_derivatives_status", lambda p: p.get_derivatives_status([]), "keys: invalid"),
    ("get_derivatives_status_history",
     lambda p: p.get_derivatives_status_history("tBTCF0:USTF0", limit=5001), "limit: invalid"),
    ("get_liquidations", lambda p: p.get_liquidations(limit=501), "limit: invalid"),
    ("get_leaderboards_hist", lambda p: p.get_leaderboards_hist("best:3h:tBTCUSD"), "key: invalid"),
    ("get_funding_stats", lambda p: p.get_funding_stats("fNOPE"), "symbol: invalid"),
    ("get_trading_market_average_price",
     lambda p: p.get_trading_market_average_price("tBTCUSD", "0"), "amount: invalid"),
    ("get_fx_rate", lambda p: p.get_fx_rate("BTC", "NOPE"), "ccy2: invalid"),
]  # fmt: skip


@pytest.mark.parametrize(
    "call,text", [(c, t) for _, c, t in BAD_INPUTS], ids=[n for n, _, _ in BAD_INPUTS]
)
def test_bad_input_is_a_parameter_error_and_the_server_keeps_serving(
    server: RunningServer, call: Callable[[Any], Any], text: str
) -> None:
    public = Client(rest_host=server.rest_url).rest.public
    with pytest.raises(RequestParameterError, match=f"<{text}>"):
        call(public)
    assert public.get_platform_status().status == 1
    assert public.get_t_ticker("tBTCUSD").bid == 0  # an empty book still has a full ticker
