"""24 h rolling tickers (spec §3.2): book columns, daily change, volume, high and low."""

from __future__ import annotations

from tests.views.builders import accepted, amt, px, trade
from venue.views.books import Books
from venue.views.ticker import Tickers, relative_change

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY  # a midnight


def make() -> tuple[Books, Tickers]:
    books = Books()
    return books, Tickers(books)


def feed(books: Books, tickers: Tickers, seq: int, ts: int, *events) -> list[str]:
    changed_books = books.apply(seq, ts, list(events))
    return tickers.apply(seq, ts, list(events), changed_books)


def test_ticker_of_a_symbol_that_never_traded_shows_only_its_book():
    books, tickers = make()
    feed(books, tickers, 1, T0, accepted(1, "100", "2"), accepted(2, "101", "-3"))
    assert tickers.row("tBTCUSD").values() == (
        px("100"), amt("2"), px("101"), amt("3"), 0, 0, 0, 0, 0, 0
    )


def test_daily_change_is_last_minus_first_price_of_the_window():
    books, tickers = make()
    feed(books, tickers, 1, T0, trade(1, T0, "100", "1"))
    feed(books, tickers, 2, T0 + HOUR, trade(2, T0 + HOUR, "120", "-0.5"))
    feed(books, tickers, 3, T0 + 2 * HOUR, trade(3, T0 + 2 * HOUR, "110", "0.25"))
    row = tickers.row("tBTCUSD")
    assert row.daily_change == px("10")
    assert row.daily_change_relative == amt("0.1")
    assert row.last_price == px("110")
    assert row.volume == amt("1.75")
    assert (row.high, row.low) == (px("120"), px("100"))


def test_relative_change_is_rounded_half_away_from_zero_to_four_decimals():
    assert relative_change(px("731.60645389"), px("9912.4")) == amt("0.0738")
    assert relative_change(-px("1"), px("3")) == amt("-0.3333")
    assert relative_change(px("1"), px("8")) == amt("0.125")
    assert relative_change(px("1"), px("20000")) == amt("0.0001")  # exactly 0.00005
    assert relative_change(-px("1"), px("20000")) == amt("-0.0001")
    assert relative_change(px("1"), px("30000")) == 0


def test_trades_leave_the_window_after_24_hours_even_without_new_trades():
    books, tickers = make()
    feed(books, tickers, 1, T0, trade(1, T0, "100", "1"))
    feed(books, tickers, 2, T0 + 12 * HOUR, trade(2, T0 + 12 * HOUR, "90", "2"))
    assert tickers.row("tBTCUSD").volume == amt("3")
    # A command without trades 24 h and one minute after the first trade expires it.
    changed = feed(books, tickers, 3, T0 + DAY + MIN)
    assert changed == ["tBTCUSD"]
    row = tickers.row("tBTCUSD")
    assert row.volume == amt("2")
    assert (row.high, row.low) == (px("90"), px("90"))
    assert row.daily_change == 0
    # Once everything has left: a flat day at the last price.
    feed(books, tickers, 4, T0 + 2 * DAY)
    row = tickers.row("tBTCUSD")
    assert (row.volume, row.daily_change, row.high, row.low, row.last_price) == (
        0, 0, px("90"), px("90"), px("90"))


def test_window_holds_the_current_minute_and_the_1439_before_it():
    books, tickers = make()
    feed(books, tickers, 1, T0 + 30_000, trade(1, T0 + 30_000, "100", "1"))
    feed(books, tickers, 2, T0 + DAY - 1)  # still in the window (minute T0 + 1439 min)
    assert tickers.row("tBTCUSD").volume == amt("1")
    feed(books, tickers, 3, T0 + DAY)
    assert tickers.row("tBTCUSD").volume == 0


def test_apply_reports_only_changed_tickers():
    books, tickers = make()
    assert feed(books, tickers, 1, T0, trade(1, T0, "100", "1", symbol="tETHUSD")) == ["tETHUSD"]
    assert feed(books, tickers, 2, T0 + 1, accepted(5, "99", "1")) == ["tBTCUSD"]
    # An order deep in the book changes BID_SIZE (25 best levels): reported.
    assert feed(books, tickers, 3, T0 + 2, accepted(6, "98", "1")) == ["tBTCUSD"]
    # Nothing changed: nothing reported.
    assert feed(books, tickers, 4, T0 + 3) == []


def test_high_and_low_recomputed_when_the_extreme_leaves():
    books, tickers = make()
    feed(books, tickers, 1, T0, trade(1, T0, "200", "1"))
    feed(books, tickers, 2, T0 + HOUR, trade(2, T0 + HOUR, "150", "1"))
    feed(books, tickers, 3, T0 + 2 * HOUR, trade(3, T0 + 2 * HOUR, "170", "1"))
    assert tickers.row("tBTCUSD").high == px("200")
    feed(books, tickers, 4, T0 + DAY + MIN)
    row = tickers.row("tBTCUSD")
    assert (row.high, row.low) == (px("170"), px("150"))
    assert row.daily_change == px("20")
