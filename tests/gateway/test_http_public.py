"""Public REST endpoints in process, over real views fed with hand-built events (spec §3).

The e2e tests (tests/e2e/test_public_rest*.py) run the same endpoints through bfxapi against a
real server; these pin exact bytes and every bad-input answer quickly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from venue.core.events import Event, OrderAccepted, TradeExecuted
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderState, OrderType
from venue.gateway.app import build_app
from venue.gateway.http_public import walk_book
from venue.views.market_data import MarketData

from tests.gateway.fakes import RecordingSequencer, fake_context

T0 = 1_700_000_040_000  # a minute boundary


def _order(order_id: int, price: str, amount: str, symbol: str = "tBTCUSD") -> OrderState:
    return OrderState(
        id=order_id, user_id=1, symbol=symbol, type=OrderType.EXCHANGE_LIMIT, created_ts=T0,
        updated_ts=T0, amount=parse_amount(amount), amount_orig=parse_amount(amount),
        price=parse_price(price), status="ACTIVE", in_book=True,
    )  # fmt: skip


def _trade(trade_id: int, ts: int, price: str, amount: str, symbol: str = "tBTCUSD") -> TradeExecuted:
    return TradeExecuted(
        trade_id=trade_id, symbol=symbol, ts=ts, price=parse_price(price),
        amount=parse_amount(amount), taker_order_id=100 + trade_id, maker_order_id=1,
        taker_user_id=2, maker_user_id=1,
    )  # fmt: skip


class FeedingSequencer(RecordingSequencer):
    def __init__(self, market_data: MarketData) -> None:
        super().__init__()
        self.market_data = market_data

    def feed(self, ts: int, events: list[Event]) -> None:
        self.released_seq += 1
        self.market_data.apply(self.released_seq, ts, events)


@dataclass
class Harness:
    client: TestClient
    sequencer: FeedingSequencer

    async def get(self, path: str) -> tuple[int, Any]:
        response = await self.client.get(path)
        return response.status, orjson.loads(await response.read())

    async def raw(self, path: str) -> bytes:
        return await (await self.client.get(path)).read()

    async def post(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = await self.client.post(path, **kwargs)
        return response.status, orjson.loads(await response.read())


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Harness]:
    market_data = MarketData(fake_context(tmp_path).registry, None)
    sequencer = FeedingSequencer(market_data)
    ctx = fake_context(tmp_path, market_data=market_data, sequencer=sequencer)
    client = TestClient(TestServer(build_app(ctx)))
    await client.start_server()
    # a BTCUSD book: two bids, two asks; then one trade of 0.5 at 90000 and one of 0.25 at 90010
    sequencer.feed(T0, [OrderAccepted(_order(1, "89990", "1")), OrderAccepted(_order(2, "89980", "2"))])
    sequencer.feed(T0, [OrderAccepted(_order(3, "90010", "-1.5")), OrderAccepted(_order(4, "90020", "-3"))])
    sequencer.feed(T0 + 1000, [_trade(1, T0 + 1000, "90000", "0.5")])
    sequencer.feed(T0 + 61_000, [_trade(2, T0 + 61_000, "90010", "-0.25")])
    try:
        yield Harness(client, sequencer)
    finally:
        await client.close()
        market_data.close()


async def test_ticker_has_the_ten_values_in_spec_order(api: Harness) -> None:
    status, body = await api.get("/v2/ticker/tBTCUSD")
    assert status == 200
    # BID, BID_SIZE (25 levels), ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST, VOL,
    # HIGH, LOW
    assert body == [89990, 3, 90010, 4.5, 10, 0.0001, 90010, 0.75, 90010, 90000]


async def test_ticker_numbers_are_written_in_shortest_form(api: Harness) -> None:
    assert await api.raw("/v2/ticker/tBTCUSD") == b"[89990,3,90010,4.5,10,0.0001,90010,0.75,90010,90000]"


async def test_tickers_rows_start_with_the_symbol_and_keep_request_order(api: Harness) -> None:
    status, body = await api.get("/v2/tickers?symbols=tETHUSD,tBTCUSD,tNOPE")
    assert status == 200
    assert [row[0] for row in body] == ["tETHUSD", "tBTCUSD"]
    assert all(len(row) == 11 for row in body)
    assert body[1][1:] == [89990, 3, 90010, 4.5, 10, 0.0001, 90010, 0.75, 90010, 90000]


async def test_tickers_all_lists_every_market(api: Harness) -> None:
    _, body = await api.get("/v2/tickers?symbols=ALL")
    assert [row[0] for row in body][:3] == ["tBTCUSD", "tETHUSD", "tETHBTC"]
    assert len(body) == 9


async def test_trades_hist_newest_first_by_default(api: Harness) -> None:
    status, body = await api.get("/v2/trades/tBTCUSD/hist")
    assert status == 200
    assert body == [[2, T0 + 61_000, -0.25, 90010], [1, T0 + 1000, 0.5, 90000]]


async def test_trades_hist_sort_start_end_limit(api: Harness) -> None:
    _, oldest_first = await api.get("/v2/trades/tBTCUSD/hist?sort=1&limit=1")
    assert oldest_first == [[1, T0 + 1000, 0.5, 90000]]
    _, windowed = await api.get(f"/v2/trades/tBTCUSD/hist?start={T0 + 2000}&end={T0 + 61_000}")
    assert windowed == [[2, T0 + 61_000, -0.25, 90010]]


async def test_book_p0_lists_bids_best_first_then_asks(api: Harness) -> None:
    _, body = await api.get("/v2/book/tBTCUSD/P0?len=25")
    assert body == [[89990, 1, 1], [89980, 1, 2], [90010, 1, -1.5], [90020, 1, -3]]


async def test_book_len_1_gives_one_entry_per_side(api: Harness) -> None:
    _, body = await api.get("/v2/book/tBTCUSD/P0?len=1")
    assert body == [[89990, 1, 1], [90010, 1, -1.5]]


async def test_book_len_250_returns_the_deep_book(api: Harness) -> None:
    # 120 more bid levels below the two of the fixture: len=100 cuts, len=250 shows all 122
    deep = [OrderAccepted(_order(1000 + i, str(89000 - 10 * i), "0.01")) for i in range(120)]
    api.sequencer.feed(T0, deep)
    _, hundred = await api.get("/v2/book/tBTCUSD/P0?len=100")
    _, all_levels = await api.get("/v2/book/tBTCUSD/P0?len=250")
    _, raw = await api.get("/v2/book/tBTCUSD/R0?len=250")
    assert [len([r for r in hundred if r[2] > 0]), len(hundred)] == [100, 102]
    assert [len([r for r in all_levels if r[2] > 0]), len(all_levels)] == [122, 124]
    assert all_levels[121] == [87810, 1, 0.01] and len(raw) == 124


async def test_book_r0_rows_are_order_id_price_amount(api: Harness) -> None:
    _, body = await api.get("/v2/book/tBTCUSD/R0")
    assert body == [[1, 89990, 1], [2, 89980, 2], [3, 90010, -1.5], [4, 90020, -3]]


async def test_book_p2_aggregates_to_three_significant_figures(api: Harness) -> None:
    _, body = await api.get("/v2/book/tBTCUSD/P2")
    # bids round down, asks up (views/books.py): 89990, 89980 → 89900; 90010, 90020 → 90100
    assert body == [[89900, 2, 3], [90100, 2, -4.5]]


async def test_candles_last_and_hist(api: Harness) -> None:
    _, last = await api.get("/v2/candles/trade:1m:tBTCUSD/last")
    assert last == [T0 + 60_000, 90010, 90010, 90010, 90010, 0.25]
    _, hist = await api.get("/v2/candles/trade:1m:tBTCUSD/hist")
    assert hist == [
        [T0 + 60_000, 90010, 90010, 90010, 90010, 0.25],
        [T0, 90000, 90000, 90000, 90000, 0.5],
    ]
    _, hour = await api.get("/v2/candles/trade:1h:tBTCUSD/hist?sort=1")
    assert hour[0][1:] == [90000, 90010, 90010, 90000, 0.75]


async def test_candles_of_a_symbol_that_never_traded_are_empty(api: Harness) -> None:
    assert await api.get("/v2/candles/trade:1m:tETHUSD/last") == (200, [])
    assert await api.get("/v2/candles/trade:1D:tETHUSD/hist") == (200, [])


async def test_candles_accept_7D_as_the_old_name_of_1W(api: Harness) -> None:
    _, old = await api.get("/v2/candles/trade:7D:tBTCUSD/hist")
    _, new = await api.get("/v2/candles/trade:1W:tBTCUSD/hist")
    assert old == new and len(old) == 1


async def test_stats1_vwap_last(api: Harness) -> None:
    status, body = await api.get("/v2/stats1/vwap:1d:tBTCUSD/last")
    assert status == 200
    # (90000 × 0.5 + 90010 × 0.25) / 0.75
    assert body[1] == pytest.approx(90003.33333333)


async def test_stats1_position_keys_are_valid_but_empty(api: Harness) -> None:
    assert await api.get("/v2/stats1/pos.size:1m:tBTCUSD:long/hist") == (200, [])
    assert await api.get("/v2/stats1/pos.size:1m:tBTCUSD:long/last") == (200, [])


async def test_conf_answers_one_element_per_key_in_order(api: Harness) -> None:
    _, body = await api.get("/v2/conf/pub:list:pair:exchange,pub:list:currency")
    assert len(body) == 2
    assert body[0][:2] == ["BTCUSD", "ETHUSD"] and "TESTBTC:TESTUSD" in body[0]
    assert "BTC" in body[1] and "USD" in body[1]


async def test_calc_trade_avg_walks_the_asks_for_a_buy(api: Harness) -> None:
    status, body = await api.post("/v2/calc/trade/avg", json={"symbol": "tBTCUSD", "amount": "2"})
    assert status == 200
    # 1.5 at 90010 + 0.5 at 90020 = 180035 / 2
    assert body == [90012.5, 2]


async def test_calc_trade_avg_from_the_query_string_sell_side(api: Harness) -> None:
    status, body = await api.post("/v2/calc/trade/avg?symbol=tBTCUSD&amount=-1", json={})
    assert (status, body) == (200, [89990, -1])


async def test_calc_trade_avg_stops_at_the_price_limit(api: Harness) -> None:
    _, body = await api.post(
        "/v2/calc/trade/avg", json={"symbol": "tBTCUSD", "amount": "5", "price_limit": "90015"}
    )
    assert body == [90010, 1.5]


async def test_calc_fx_uses_the_last_trade_price_and_its_inverse(api: Harness) -> None:
    assert await api.post("/v2/calc/fx", json={"ccy1": "BTC", "ccy2": "USD"}) == (200, [90010])
    _, inverse = await api.post("/v2/calc/fx", json={"ccy1": "USD", "ccy2": "BTC"})
    assert inverse == [0.00001111]
    # ETH has not traded: its reference price (3000) is used
    assert await api.post("/v2/calc/fx", json={"ccy1": "ETH", "ccy2": "USD"}) == (200, [3000])


async def test_platform_status_ignores_auth_headers(api: Harness) -> None:
    response = await api.client.get(
        "/v2/platform/status", headers={"bfx-apikey": "x", "bfx-nonce": "1", "bfx-signature": "y"}
    )
    assert response.status == 200 and await response.read() == b"[1]"


BAD_REQUESTS = [
    ("/v2/ticker/tNOPE", "symbol: invalid"),
    ("/v2/ticker/fUSD", "symbol: invalid"),
    ("/v2/ticker/btcusd", "symbol: invalid"),
    ("/v2/tickers", "symbols: invalid"),
    ("/v2/trades/tNOPE/hist", "symbol: invalid"),
    ("/v2/trades/tBTCUSD/last", "section: invalid"),
    ("/v2/trades/tBTCUSD/hist?limit=10001", "limit: invalid"),
    ("/v2/trades/tBTCUSD/hist?limit=0", "limit: invalid"),
    ("/v2/trades/tBTCUSD/hist?limit=abc", "limit: invalid"),
    ("/v2/trades/tBTCUSD/hist?sort=2", "sort: invalid"),
    ("/v2/trades/tBTCUSD/hist?start=yesterday", "start: invalid"),
    ("/v2/trades/tBTCUSD/hist?end=-5", "end: invalid"),
    ("/v2/book/tBTCUSD/P5", "prec: invalid"),
    ("/v2/book/tBTCUSD/P0?len=30", "len: invalid"),
    ("/v2/book/tNOPE/P0", "symbol: invalid"),
    ("/v2/book/fUSD/P0", "symbol: invalid"),
    ("/v2/candles/trade:2m:tBTCUSD/hist", "timeframe: invalid"),
    ("/v2/candles/trade:1m:tBTCUSD/first", "section: invalid"),
    ("/v2/candles/trade:1m:tNOPE/hist", "symbol: invalid"),
    ("/v2/candles/nonsense/hist", "key: invalid"),
    ("/v2/candles/trade:1m:tBTCUSD/hist?limit=10001", "limit: invalid"),
    ("/v2/stats1/pos.size:1m:tBTCUSD/hist", "key: invalid"),
    ("/v2/stats1/vwap:1d:tBTCUSD", "path: invalid"),
    ("/v2/conf/nope", "keys: invalid"),
    ("/v2/tickers/hist?symbols=ALL&limit=251", "limit: invalid"),
    ("/v2/unknown", "path: invalid"),
]


@pytest.mark.parametrize("path,text", BAD_REQUESTS, ids=[p for p, _ in BAD_REQUESTS])
async def test_bad_request_is_http_500_error_10020(api: Harness, path: str, text: str) -> None:
    status, body = await api.get(path)
    assert (status, body) == (500, ["error", 10020, text])
    # and the server keeps answering
    assert (await api.get("/v2/platform/status")) == (200, [1])


BAD_POSTS = [
    ("/v2/calc/trade/avg", {"symbol": "tNOPE", "amount": "1"}, "symbol: invalid"),
    ("/v2/calc/trade/avg", {"symbol": "tBTCUSD"}, "amount: invalid"),
    ("/v2/calc/trade/avg", {"symbol": "tBTCUSD", "amount": "0"}, "amount: invalid"),
    ("/v2/calc/trade/avg", {"symbol": "tBTCUSD", "amount": "x"}, "amount: invalid"),
    ("/v2/calc/fx", {"ccy1": "BTC"}, "ccy2: invalid"),
    ("/v2/calc/fx", {"ccy1": "NOPE", "ccy2": "USD"}, "ccy1: invalid"),
    ("/v2/calc/fx", {"ccy1": "BTC", "ccy2": "TESTUSD"}, "ccy2: invalid"),
]


@pytest.mark.parametrize("path,body,text", BAD_POSTS)
async def test_bad_calc_input_is_http_500_error_10020(
    api: Harness, path: str, body: dict[str, str], text: str
) -> None:
    assert await api.post(path, json=body) == (500, ["error", 10020, text])


async def test_malformed_json_body_is_input_invalid(api: Harness) -> None:
    status, body = await api.post("/v2/calc/fx", data=b"{not json")
    assert (status, body) == (500, ["error", 10020, "input: invalid"])


def test_walk_book_fills_across_levels_and_rounds_the_average() -> None:
    asks = [(parse_price("10"), 1, -parse_amount("1")), (parse_price("11"), 1, -parse_amount("2"))]
    assert walk_book(asks, parse_amount("2"), None, buy=True) == (parse_price("10.5"), parse_amount("2"))
    assert walk_book(asks, parse_amount("9"), None, buy=True) == (
        parse_amount("10.66666667"),
        parse_amount("3"),
    )
    assert walk_book([], parse_amount("1"), None, buy=True) == (0, 0)


async def test_tickers_hist_has_hourly_best_bid_and_ask(api: Harness) -> None:
    hour = T0 - T0 % 3_600_000 + 3_600_000
    api.sequencer.feed(hour + 5, [])  # the first command of a new hour samples the book
    status, body = await api.get("/v2/tickers/hist?symbols=tBTCUSD,tETHUSD")
    assert status == 200
    assert body == [["tBTCUSD", 89990, None, 90010, None, None, None, None, None, None, None, None, hour]]


async def test_ticker_answer_follows_the_views_after_each_command(api: Harness) -> None:
    _, before = await api.get("/v2/ticker/tBTCUSD")
    api.sequencer.feed(T0 + 62_000, [_trade(3, T0 + 62_000, "90020", "1")])
    _, after = await api.get("/v2/ticker/tBTCUSD")
    assert before[6] == 90010 and after[6] == 90020
    assert after[7] == 1.75


@pytest.mark.parametrize(
    "path",
    [
        "/v2/status/deriv?keys=ALL",
        "/v2/status/deriv?keys=tBTCF0:USTF0",
        "/v2/status/deriv/tBTCF0:USTF0/hist",
        "/v2/liquidations/hist?limit=10",
        "/v2/rankings/vol:3h:tBTCUSD/hist",
        "/v2/rankings/plu:1w:tGLOBAL:USD/last",
        "/v2/funding/stats/fUSD/hist",
        "/v2/ext/vasps",
    ],
)
async def test_unlisted_market_kinds_answer_no_rows(api: Harness, path: str) -> None:
    assert await api.get(path) == (200, [])


@pytest.mark.parametrize(
    "path,text",
    [
        ("/v2/status/deriv", "keys: invalid"),
        ("/v2/liquidations/hist?limit=501", "limit: invalid"),
        ("/v2/rankings/nope:3h:tBTCUSD/hist", "key: invalid"),
        ("/v2/funding/stats/fNOPE/hist", "symbol: invalid"),
        ("/v2/funding/stats/fUSD/last", "section: invalid"),
    ],
)
async def test_unlisted_market_kinds_still_check_their_parameters(
    api: Harness, path: str, text: str
) -> None:
    assert await api.get(path) == (500, ["error", 10020, text])


async def test_conf_values_are_built_once_per_server(
    api: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from venue.protocol import conf

    built = []
    original = conf.ConfTable.__init__

    def counting(self: conf.ConfTable, registry: Any) -> None:
        built.append(registry)
        original(self, registry)

    monkeypatch.setattr(conf.ConfTable, "__init__", counting)
    for n in range(3):
        api.sequencer.feed(T0 + n, [])  # a new command each time: the answer cache is cold
        status, body = await api.get("/v2/conf/pub:list:currency")
        assert status == 200 and body[0][:2] == ["BTC", "ETH"]
    assert len(built) == 1
