"""stats1 (spec §3.7): platform volume in USD, sampled every 30 minutes, and daily VWAP."""

from __future__ import annotations

from tests.views.builders import amt, px, trade
from venue.core.symbols import load_registry
from venue.views.stats import Stats

MIN = 60_000
BUCKET = 30 * MIN
DAY = 24 * 60 * MIN
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY


def make() -> Stats:
    return Stats(load_registry())


def test_volume_of_usd_quoted_trades_is_their_notional():
    stats = make()
    stats.apply(1, T0, [trade(1, T0, "100", "2"), trade(2, T0 + MIN, "50", "-1",
                                                         symbol="tLTCUSD")])
    assert stats.last("vol.1d:30m:BFX") == (T0, amt("250"))


def test_non_usd_pairs_are_valued_with_the_base_usd_price():
    stats = make()
    stats.apply(1, T0, [trade(1, T0, "3000", "0.1", symbol="tETHUSD")])
    stats.apply(2, T0, [trade(2, T0, "0.05", "2", symbol="tETHBTC")])
    # 300 USD from ETHUSD, then 2 ETH at the last ETHUSD price 3000.
    assert stats.last("vol.1d:30m:BFX") == (T0, amt("6300"))


def test_paper_trading_pairs_are_not_platform_volume():
    stats = make()
    stats.apply(1, T0, [trade(1, T0, "90000", "1", symbol="tTESTBTC:TESTUSD")])
    assert stats.last("vol.1d:30m:BFX") == (T0, 0)


def test_rolling_volume_windows_sampled_every_30_minutes():
    stats = make()
    stats.apply(1, T0, [trade(1, T0, "100", "1")])
    stats.apply(2, T0 + DAY, [trade(2, T0 + DAY, "100", "2")])
    one_day = stats.hist("vol.1d:30m:BFX", limit=10_000, sort=1)
    assert len(one_day) == 49  # T0 … T0 + 1 day, every 30 minutes
    assert one_day[0] == (T0, amt("100"))
    assert one_day[47] == (T0 + 47 * BUCKET, amt("100"))
    assert one_day[48] == (T0 + DAY, amt("200"))  # the first trade left the 1-day window
    assert stats.last("vol.7d:30m:BFX") == (T0 + DAY, amt("300"))
    assert stats.hist("vol.30d:30m:BFX", start=T0 + BUCKET, end=T0 + 2 * BUCKET) == [
        (T0 + 2 * BUCKET, amt("100")), (T0 + BUCKET, amt("100"))]
    assert stats.hist("vol.1d:30m:BFX", limit=2) == [
        (T0 + DAY, amt("200")), (T0 + DAY - BUCKET, amt("100"))]


def test_vwap_per_day():
    stats = make()
    stats.apply(1, T0, [trade(1, T0, "100", "1"), trade(2, T0 + MIN, "103", "-2")])
    stats.apply(2, T0 + DAY, [trade(3, T0 + DAY, "110", "1")])
    assert stats.hist("vwap:1d:tBTCUSD", sort=1) == [(T0, px("102")), (T0 + DAY, px("110"))]
    assert stats.last("vwap:1d:tBTCUSD") == (T0 + DAY, px("110"))
    assert stats.last("vwap:1d:tETHUSD") is None


def test_vwap_rounds_half_up_at_8_decimals():
    stats = make()
    stats.apply(1, T0, [trade(1, T0, "1", "1"), trade(2, T0, "2", "2")])
    assert stats.last("vwap:1d:tBTCUSD") == (T0, amt("1.66666667"))


def test_unknown_keys_are_not_supported():
    assert make().supports("vol.1d:30m:BFX")
    assert make().supports("vwap:1d:tBTCUSD")
    assert not make().supports("pos.size:1m:tBTCUSD:long")
    assert make().last("vol.1d:30m:BFX") is None
