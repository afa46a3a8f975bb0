"""MarketData: all views fed in one call; restart with stored history, candles and stats."""

from __future__ import annotations

from tests.views.builders import accepted, amt, closed, px, trade
from venue.core.symbols import load_registry
from venue.views.market_data import MarketData

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR


def test_apply_reports_books_tickers_candles_and_trades():
    md = MarketData(load_registry())
    update = md.apply(1, T0, [accepted(1, "100", "1"), accepted(2, "101", "-1")])
    assert update.books == {"tBTCUSD"} and update.tickers == ["tBTCUSD"]
    assert update.candles == [] and update.trades == []
    fill = trade(1, T0 + 5, "101", "0.5")
    update = md.apply(2, T0 + 5, [fill])
    assert update.trades == [fill]
    assert len(update.candles) == 12
    assert md.tickers.row("tBTCUSD").last_price == px("101")


def test_hourly_ticker_samples_record_the_book_at_each_hour_passed():
    md = MarketData(load_registry())
    md.apply(1, T0 + 10, [accepted(1, "100", "1"), accepted(2, "101", "-1")])
    md.apply(2, T0 + 3 * HOUR + 10, [closed(1, "100", "0")])
    samples = md.history.tickers_hist(None, sort=1)
    assert [(s.mts, s.bid, s.ask) for s in samples] == [
        (T0 + HOUR, px("100"), px("101")),
        (T0 + 2 * HOUR, px("100"), px("101")),
        (T0 + 3 * HOUR, px("100"), px("101")),  # before the command that closed the bid
    ]
    md.apply(3, T0 + 4 * HOUR, [])
    assert md.history.tickers_hist(None)[0].bid is None


def test_restart_restores_candles_stats_tickers_and_replays_only_the_tail(tmp_path):
    path = tmp_path / "h.sqlite"
    md = MarketData(load_registry(), path)
    md.apply(1, T0, [accepted(1, "100", "1")])
    md.apply(2, T0 + 60_000, [trade(1, T0 + 60_000, "100", "2")])
    md.flush()
    md.apply(3, T0 + 120_000, [trade(2, T0 + 120_000, "110", "-1")])  # not flushed
    candle_before = md.candles.last("tBTCUSD", "1h")
    ticker_before = md.tickers.row("tBTCUSD")
    vol_before = md.stats.last("vol.1d:30m:BFX")
    md.history._db.close()  # a crash: the buffer is lost

    again = MarketData(load_registry(), path)
    assert again.history.last_seq() == 2
    again.seed_books([accepted(1, "100", "1").order])  # the restored core's resting orders
    for seq, ts, events in [
        (1, T0, [accepted(1, "100", "1")]),
        (2, T0 + 60_000, [trade(1, T0 + 60_000, "100", "2")]),
        (3, T0 + 120_000, [trade(2, T0 + 120_000, "110", "-1")]),
    ]:
        again.apply(seq, ts, events)
    assert again.candles.last("tBTCUSD", "1h") == candle_before
    assert again.tickers.row("tBTCUSD") == ticker_before
    assert again.stats.last("vol.1d:30m:BFX") == vol_before
    assert [t.id for t in again.history.trades("tBTCUSD")] == [2, 1]
    assert again.books.snapshot("tBTCUSD", "P0", 25) == [(px("100"), 1, amt("1"))]
    again.close()


def test_restart_rebuilds_the_ticker_window_from_stored_minutes(tmp_path):
    path = tmp_path / "h.sqlite"
    md = MarketData(load_registry(), path)
    md.apply(1, T0, [trade(1, T0, "100", "1")])
    md.apply(2, T0 + HOUR, [trade(2, T0 + HOUR, "120", "3")])
    md.close()
    again = MarketData(load_registry(), path)
    row = again.tickers.row("tBTCUSD")
    assert (row.last_price, row.volume, row.daily_change, row.high, row.low) == (
        px("120"), amt("4"), px("20"), px("120"), px("100"))
    again.close()


def test_reads_in_the_shapes_the_gateway_renders():
    md = MarketData(load_registry())
    md.apply(1, T0, [accepted(1, "100", "1")])
    md.apply(2, T0 + 60_000, [trade(1, T0 + 60_000, "100", "2"), trade(2, T0 + 60_001, "101", "-1")])
    assert md.ticker_values("tBTCUSD") == (
        px("100"), amt("1"), 0, 0, px("1"), amt("0.01"), px("101"), amt("3"), px("101"), px("100"))
    assert md.public_trades("tBTCUSD") == [
        (2, T0 + 60_001, amt("-1"), px("101")), (1, T0 + 60_000, amt("2"), px("100"))]
    assert md.trade_rows("tBTCUSD", 1) == [(2, T0 + 60_001, amt("-1"), px("101"))]
    assert md.candle_rows("1m", "tBTCUSD", 5) == [
        (T0 + 60_000, px("100"), px("101"), px("101"), px("100"), amt("3"))]
    md.apply(3, T0 + HOUR, [])
    assert md.tickers_hist(["tBTCUSD"]) == [("tBTCUSD", px("100"), None, T0 + HOUR)]


def test_hourly_samples_continue_after_a_restart_without_duplicates(tmp_path):
    path = tmp_path / "h.sqlite"
    md = MarketData(load_registry(), path)
    md.apply(1, T0 + 10, [accepted(1, "100", "1")])
    md.apply(2, T0 + HOUR + 10, [])
    md.close()
    again = MarketData(load_registry(), path)
    again.seed_books([accepted(1, "100", "1").order])
    again.apply(3, T0 + HOUR + 20, [])
    again.apply(4, T0 + 2 * HOUR + 5, [])
    assert [s[3] for s in again.tickers_hist(None, sort=1)] == [T0 + HOUR, T0 + 2 * HOUR]
    assert again.stats.hist("vwap:1d:tBTCUSD") == []
    again.close()


def test_stats_survive_a_restart(tmp_path):
    path = tmp_path / "h.sqlite"
    md = MarketData(load_registry(), path)
    md.apply(1, T0, [trade(1, T0, "100", "1"), trade(2, T0 + 1, "103", "2")])
    vwap, vol = md.stats.last("vwap:1d:tBTCUSD"), md.stats.last("vol.7d:30m:BFX")
    md.close()
    again = MarketData(load_registry(), path)
    assert again.stats.last("vwap:1d:tBTCUSD") == vwap
    assert again.stats.last("vol.7d:30m:BFX") == vol == (T0, amt("306"))
    again.close()
