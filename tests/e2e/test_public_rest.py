"""The public REST API through the official bitfinex-api-py client, against a real server.

A trade made through the core (two accounts' crossing orders, submitted via the sequencer)
must show up with its exact values in trades, ticker, candles, book, stats and calc answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from bfxapi import Client
from bfxapi.rest.exceptions import GenericError, RequestParameterError

from venue.core.commands import SubmitOrder
from venue.core.events import TradeExecuted
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderType

from tests.e2e.conftest import RunningServer


def _limit(user_id: int, amount: str, price: str, symbol: str = "tBTCUSD") -> SubmitOrder:
    return SubmitOrder(
        user_id=user_id,
        symbol=symbol,
        type=OrderType.EXCHANGE_LIMIT,
        amount=parse_amount(amount),
        price=parse_price(price),
    )


@dataclass
class Market:
    """A BTCUSD market with one trade of 0.2 at 90000 (the taker bought) and a resting book."""

    server: RunningServer
    client: Client
    trade_ts: int
    trade_id: int
    ask_order_id: int
    bid_order_id: int


@pytest.fixture
def market(server: RunningServer) -> Iterator[Market]:
    seller, _, _ = server.create_account("seller", {"BTC": "2"})
    buyer, _, _ = server.create_account("buyer", {"USD": "100000"})
    ask = server.submit(_limit(seller, "-0.5", "90000"))
    bid = server.submit(_limit(buyer, "0.1", "89000"))
    taken = server.submit(_limit(buyer, "0.2", "90000"))
    (trade,) = [e for e in taken if isinstance(e, TradeExecuted)]
    server.run(_noop())  # let the views listener run before reading
    yield Market(
        server=server,
        client=Client(rest_host=server.rest_url),
        trade_ts=trade.ts,
        trade_id=trade.trade_id,
        ask_order_id=ask[0].order.id,  # type: ignore[union-attr]
        bid_order_id=bid[0].order.id,  # type: ignore[union-attr]
    )


async def _noop() -> None:
    return None


def test_platform_status_is_operative(server: RunningServer) -> None:
    assert Client(rest_host=server.rest_url).rest.public.get_platform_status().status == 1


def test_trade_appears_in_trades_hist(market: Market) -> None:
    (trade,) = market.client.rest.public.get_t_trades("tBTCUSD")
    assert trade.id == market.trade_id
    assert trade.mts == market.trade_ts
    assert trade.amount == 0.2  # > 0: the taker bought
    assert trade.price == 90000


def test_trade_appears_in_the_ticker(market: Market) -> None:
    ticker = market.client.rest.public.get_t_ticker("tBTCUSD")
    assert (ticker.bid, ticker.bid_size) == (89000, 0.1)
    assert (ticker.ask, ticker.ask_size) == (90000, 0.3)
    assert ticker.last_price == 90000
    assert ticker.volume == 0.2
    assert (ticker.high, ticker.low) == (90000, 90000)
    assert (ticker.daily_change, ticker.daily_change_relative) == (0, 0)


def test_tickers_for_several_symbols_dispatch_on_the_prefix(market: Market) -> None:
    tickers = market.client.rest.public.get_t_tickers(["tBTCUSD", "tETHUSD"])
    assert set(tickers) == {"tBTCUSD", "tETHUSD"}
    assert tickers["tBTCUSD"].last_price == 90000
    assert tickers["tETHUSD"].volume == 0
    everything = market.client.rest.public.get_t_tickers("ALL")
    assert "tTESTBTC:TESTUSD" in everything and len(everything) == 9


def test_trade_appears_in_candles_of_every_timeframe(market: Market) -> None:
    public = market.client.rest.public
    for tf in ("1m", "5m", "15m", "30m", "1h", "3h", "6h", "12h", "1D", "1W", "14D", "1M"):
        last = public.get_candles_last("tBTCUSD", tf)
        assert last.mts <= market.trade_ts
        assert (last.open, last.close, last.high, last.low, last.volume) == (90000, 90000, 90000, 90000, 0.2)
        (hist,) = public.get_candles_hist("tBTCUSD", tf)
        assert hist.mts == last.mts
    minute = public.get_candles_last("tBTCUSD", "1m")
    assert minute.mts == market.trade_ts - market.trade_ts % 60_000


def test_book_shows_the_resting_orders(market: Market) -> None:
    public = market.client.rest.public
    levels = public.get_t_book("tBTCUSD", "P0", len=25)
    assert [(lv.price, lv.count, lv.amount) for lv in levels] == [(89000, 1, 0.1), (90000, 1, -0.3)]
    raw = public.get_t_raw_book("tBTCUSD", len=25)
    assert [(r.order_id, r.price, r.amount) for r in raw] == [
        (market.bid_order_id, 89000, 0.1),
        (market.ask_order_id, 90000, -0.3),
    ]


def test_stats_vwap_is_the_trade_price(market: Market) -> None:
    stat = market.client.rest.public.get_stats_last("vwap:1d:tBTCUSD")
    assert stat.value == 90000
    assert [s.value for s in market.client.rest.public.get_stats_hist("vwap:1d:tBTCUSD")] == [90000]


def test_conf_lists_the_exchange_pairs(market: Market) -> None:
    pairs = market.client.rest.public.conf("pub:list:pair:exchange")
    assert pairs[:2] == ["BTCUSD", "ETHUSD"] and "TESTBTC:TESTUSD" in pairs


def test_market_average_price_walks_the_book(market: Market) -> None:
    public = market.client.rest.public
    bought = public.get_trading_market_average_price("tBTCUSD", "0.3")
    assert (bought.price_avg, bought.amount) == (90000, 0.3)
    sold = public.get_trading_market_average_price("tBTCUSD", "-0.05")
    assert (sold.price_avg, sold.amount) == (89000, -0.05)


def test_fx_rate_uses_the_last_trade(market: Market) -> None:
    assert market.client.rest.public.get_fx_rate("BTC", "USD").current_rate == 90000


def test_tickers_history_is_a_list_of_13_field_rows(market: Market) -> None:
    # no hour boundary has passed since the book formed: nothing sampled yet
    assert market.client.rest.public.get_tickers_history(["tBTCUSD"]) == []


def test_public_endpoints_accept_auth_headers(market: Market) -> None:
    _, key, secret = market.server.create_account("keyholder")
    authed = Client(rest_host=market.server.rest_url, api_key=key, api_secret=secret)
    assert authed.rest.public.get_t_ticker("tBTCUSD").last_price == 90000


def test_unknown_symbol_raises_request_parameter_error(server: RunningServer) -> None:
    public = Client(rest_host=server.rest_url).rest.public
    with pytest.raises(RequestParameterError):
        public.get_t_ticker("tNOPE")
    with pytest.raises(RequestParameterError):
        public.get_t_book("tBTCUSD", "P9", len=25)  # type: ignore[arg-type]
    with pytest.raises(RequestParameterError):
        public.get_t_trades("tBTCUSD", limit=20000)
    with pytest.raises(RequestParameterError):
        public.get_candles_hist("tBTCUSD", "2m")
    # the server keeps serving
    assert public.get_platform_status().status == 1


def test_funding_symbols_are_refused(server: RunningServer) -> None:
    public = Client(rest_host=server.rest_url).rest.public
    with pytest.raises(RequestParameterError):
        public.get_f_ticker("fUSD")
    with pytest.raises(RequestParameterError):
        public.get_f_book("fUSD", "P0", len=25)


def test_generic_error_class_is_not_used_for_parameter_errors(server: RunningServer) -> None:
    public = Client(rest_host=server.rest_url).rest.public
    with pytest.raises(RequestParameterError) as info:
        public.get_t_ticker("tNOPE")
    assert not isinstance(info.value, GenericError)


def test_tickers_history_samples_the_book_at_each_hour(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from venue.config import load_settings
    from venue.core.commands import Tick
    from venue.gateway.clock import ManualClock

    clock = ManualClock(start_ms=1_700_000_000_000)  # 22:13:20 UTC
    settings = replace(load_settings(data_dir=tmp_path, port=0), rate_limits=False, durability="os")
    server = RunningServer(settings, clock=clock)
    try:
        seller, _, _ = server.create_account("seller", {"BTC": "1"})
        buyer, _, _ = server.create_account("buyer", {"USD": "100000"})
        server.submit(_limit(seller, "-0.5", "90100"))
        server.submit(_limit(buyer, "0.5", "89900"))
        clock.advance(3600)
        server.submit(Tick())  # the first command of the new hour samples the book
        hour = 1_700_002_800_000  # 23:00 UTC
        (row,) = Client(rest_host=server.rest_url).rest.public.get_tickers_history(["tBTCUSD"])
        assert (row.symbol, row.bid, row.ask, row.mts) == ("tBTCUSD", 89900, 90100, hour)
    finally:
        server.close()


def test_derivatives_liquidations_leaderboards_and_funding_stats_are_empty(server: RunningServer) -> None:
    public = Client(rest_host=server.rest_url).rest.public
    assert public.get_derivatives_status("ALL") == {}
    assert public.get_derivatives_status_history("tBTCF0:USTF0") == []
    assert public.get_liquidations() == []
    assert public.get_leaderboards_hist("vol:3h:tBTCUSD") == []
    assert public.get_funding_stats("fUSD") == []
