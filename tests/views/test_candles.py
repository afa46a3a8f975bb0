"""Candles (spec §3.8): every timeframe, aligned periods, last and hist queries."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.views.builders import amt, px, trade
from venue.views.candles import TIMEFRAMES, Candles, canonical_timeframe, period_start

MIN = 60_000


def ms(text: str) -> int:
    """'2024-03-14 15:37:12' (UTC) as ms."""
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1000


TS = ms("2024-03-14 15:37:12")  # a Thursday


@pytest.mark.parametrize(
    ("timeframe", "start"),
    [
        ("1m", "2024-03-14 15:37:00"),
        ("5m", "2024-03-14 15:35:00"),
        ("15m", "2024-03-14 15:30:00"),
        ("30m", "2024-03-14 15:30:00"),
        ("1h", "2024-03-14 15:00:00"),
        ("3h", "2024-03-14 15:00:00"),
        ("6h", "2024-03-14 12:00:00"),
        ("12h", "2024-03-14 12:00:00"),
        ("1D", "2024-03-14 00:00:00"),
        ("1W", "2024-03-11 00:00:00"),  # the Monday of that week
        ("1M", "2024-03-01 00:00:00"),
    ],
)
def test_period_start_of_each_timeframe(timeframe, start):
    assert period_start(timeframe, TS) == ms(start)


def test_two_week_periods_start_on_mondays_and_last_fourteen_days():
    start = period_start("14D", TS)
    assert datetime.fromtimestamp(start / 1000, tz=timezone.utc).weekday() == 0
    assert start <= TS < start + 14 * 24 * 60 * MIN
    assert period_start("14D", start + 14 * 24 * 60 * MIN) == start + 14 * 24 * 60 * MIN


def test_month_boundaries_follow_the_calendar():
    assert period_start("1M", ms("2024-02-29 23:59:59")) == ms("2024-02-01 00:00:00")
    assert period_start("1M", ms("2024-03-01 00:00:00")) == ms("2024-03-01 00:00:00")
    assert period_start("1M", ms("2023-12-31 23:59:59")) == ms("2023-12-01 00:00:00")


def test_7d_is_an_alias_of_1w():
    assert canonical_timeframe("7D") == "1W"
    assert canonical_timeframe("2h") is None


def test_candle_is_open_close_high_low_volume_of_the_period():
    candles = Candles()
    base = period_start("1m", TS)
    candles.apply(1, TS, [trade(1, base + 1000, "100", "1"), trade(2, base + 2000, "105", "-0.5")])
    candles.apply(2, TS, [trade(3, base + 3000, "95", "0.25"), trade(4, base + 4000, "101", "1")])
    assert candles.last("tBTCUSD", "1m") == (
        base, px("100"), px("101"), px("105"), px("95"), amt("2.75"))


def test_every_timeframe_gets_the_trade_and_reports_its_change():
    candles = Candles()
    changes = candles.apply(1, TS, [trade(1, TS, "100", "1")])
    assert [c.timeframe for c in changes] == list(TIMEFRAMES)
    for change in changes:
        assert change.candle == (period_start(change.timeframe, TS), px("100"), px("100"),
                                 px("100"), px("100"), amt("1"))
    assert candles.last("tBTCUSD", "7D") == candles.last("tBTCUSD", "1W")


def test_trades_in_a_new_period_open_a_new_candle():
    candles = Candles()
    candles.apply(1, TS, [trade(1, TS, "100", "1")])
    candles.apply(2, TS + MIN, [trade(2, TS + MIN, "102", "2")])
    assert [c[0] for c in candles.hist("tBTCUSD", "1m")] == [
        period_start("1m", TS) + MIN, period_start("1m", TS)]
    assert len(candles.hist("tBTCUSD", "1h")) == 1


def test_hist_window_limit_and_sort():
    candles = Candles()
    base = period_start("1m", TS)
    for i in range(10):
        candles.apply(i + 1, base + i * MIN, [trade(i + 1, base + i * MIN, str(100 + i), "1")])
    starts = [c[0] for c in candles.hist("tBTCUSD", "1m", limit=3)]
    assert starts == [base + 9 * MIN, base + 8 * MIN, base + 7 * MIN]
    starts = [c[0] for c in candles.hist("tBTCUSD", "1m", start=base + 2 * MIN, limit=3, sort=1)]
    assert starts == [base + 2 * MIN, base + 3 * MIN, base + 4 * MIN]
    starts = [c[0] for c in candles.hist("tBTCUSD", "1m", start=base + 2 * MIN,
                                         end=base + 4 * MIN)]
    assert starts == [base + 4 * MIN, base + 3 * MIN, base + 2 * MIN]
    assert candles.hist("tBTCUSD", "1m", start=base + 20 * MIN) == []
    assert candles.hist("tETHUSD", "1m") == []
    assert candles.last("tETHUSD", "1m") is None


def test_dirty_candles_are_handed_out_once_for_storage():
    candles = Candles()
    candles.apply(1, TS, [trade(1, TS, "100", "1"), trade(2, TS, "101", "1")])
    dirty = candles.take_dirty()
    assert len(dirty) == len(TIMEFRAMES)
    assert candles.take_dirty() == []
