"""24-hour rolling tickers for trading symbols (spec/bitfinex-v2.md §3.2, §7.4).

Row fields, raw ints: ``BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE,
LAST_PRICE, VOLUME, HIGH, LOW``.

- BID/ASK: best visible order prices; BID_SIZE/ASK_SIZE: absolute amount of the 25 best P0
  levels of each side (§3.2). An empty side reads 0 (clients parse numbers at every position).
- The window: one-minute buckets; the window at time ``now`` holds the 1440 minutes up to and
  including the current one. Buckets are exact (open, high, low, volume) ints.
- DAILY_CHANGE = LAST_PRICE − the first trade price of the window (the "price 24 h ago").
  DAILY_CHANGE_RELATIVE = DAILY_CHANGE / that price, a fraction **rounded half away from zero
  to 4 decimals**, the precision real frames show (0.0738, -0.0307).
- VOLUME, HIGH, LOW: over the window. With no trade in the window: change 0, volume 0, and
  HIGH = LOW = LAST_PRICE (a flat day); LAST_PRICE is the last trade ever (0 before the first).

Invariants: ``volume`` equals the sum of the window's bucket volumes, ``high``/``low`` their
extremes; buckets leave the window when any later command's ``ts`` moves time on — even a
command without trades — so a quiet market's ticker still decays to zero volume.

``apply`` returns the symbols whose row changed (compared with the row last reported), so the
WS layer pushes only those.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Sequence

from venue.core.events import Event, TradeExecuted
from venue.core.numbers import SCALE
from venue.views.books import ASK, BID, Books
from venue.views.candles import Candle

MINUTE = 60_000
WINDOW_MINUTES = 24 * 60
RELATIVE_DECIMALS = 4


@dataclass(frozen=True, slots=True)
class TickerRow:
    bid: int
    bid_size: int
    ask: int
    ask_size: int
    daily_change: int
    daily_change_relative: int
    last_price: int
    volume: int
    high: int
    low: int

    def values(self) -> tuple[int, ...]:
        """The 10 values in wire order."""
        return (
            self.bid,
            self.bid_size,
            self.ask,
            self.ask_size,
            self.daily_change,
            self.daily_change_relative,
            self.last_price,
            self.volume,
            self.high,
            self.low,
        )


def relative_change(change: int, base: int) -> int:
    """change / base as raw units, rounded half away from zero to 4 decimals."""
    if base == 0:
        return 0
    unit = 10**RELATIVE_DECIMALS
    numerator = abs(change) * unit
    quotient, remainder = divmod(numerator, abs(base))
    if 2 * remainder >= abs(base):
        quotient += 1
    sign = -1 if (change < 0) != (base < 0) else 1
    return sign * quotient * (SCALE // unit)


class _Window:
    """The minute buckets of one symbol: deque of [minute, open, high, low, volume]."""

    __slots__ = ("buckets", "volume", "high", "low", "last")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()
        self.volume = 0
        self.high = 0
        self.low = 0
        self.last = 0

    def add(self, minute: int, price: int, amount: int) -> None:
        self.last = price
        if not self.buckets:
            self.high = self.low = price
        if self.buckets and self.buckets[-1][0] == minute:
            bucket = self.buckets[-1]
            bucket[2] = max(bucket[2], price)
            bucket[3] = min(bucket[3], price)
            bucket[4] += amount
        else:
            self.buckets.append([minute, price, price, price, amount])
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += amount

    def put(self, minute: int, open_: int, high: int, low: int, volume: int) -> None:
        self.buckets.append([minute, open_, high, low, volume])
        self.volume += volume
        self._recompute_extremes()

    def expire(self, oldest_minute: int) -> bool:
        """Drop buckets older than ``oldest_minute``; True when something left the window."""
        buckets = self.buckets
        if not buckets or buckets[0][0] >= oldest_minute:
            return False
        while buckets and buckets[0][0] < oldest_minute:
            self.volume -= buckets.popleft()[4]
        self._recompute_extremes()
        return True

    def _recompute_extremes(self) -> None:
        if self.buckets:
            self.high = max(b[2] for b in self.buckets)
            self.low = min(b[3] for b in self.buckets)
        else:
            self.high = self.low = 0

    def first_price(self) -> int | None:
        return self.buckets[0][1] if self.buckets else None


class Tickers:
    """Rolling 24 h tickers, reading bid/ask from the books view."""

    def __init__(self, books: Books) -> None:
        self._books = books
        self._windows: dict[str, _Window] = {}
        self._reported: dict[str, tuple[int, ...]] = {}
        self._minute = 0  # the current minute (ms) as of the last apply
        # The books' top versions when each symbol's row was last computed: a book change
        # below the TICKER_DEPTH best levels moves no ticker column (most orders rest deep).
        self._top_versions: dict[str, tuple[int, int] | None] = {}

    def apply(
        self, seq: int, ts: int, events: Sequence[Event], book_symbols: Iterable[str] = ()
    ) -> list[str]:
        """Fold one command in; return the symbols (sorted) whose ticker row changed.

        ``book_symbols`` are the symbols whose book changed in this command (from
        ``Books.apply``): their bid/ask columns may have moved.
        """
        candidates: set[str] = set()
        if book_symbols:
            top_versions = self._books.top_versions
            seen = self._top_versions
            for symbol in book_symbols:
                versions = top_versions(symbol)
                if versions is None or seen.get(symbol) != versions:
                    candidates.add(symbol)
        minute = ts - ts % MINUTE
        if minute > self._minute:
            self._minute = minute
            oldest = minute - (WINDOW_MINUTES - 1) * MINUTE
            for symbol, window in self._windows.items():
                if window.expire(oldest):
                    candidates.add(symbol)
        for event in events:
            if isinstance(event, TradeExecuted):
                window = self._windows.get(event.symbol)
                if window is None:
                    window = self._windows[event.symbol] = _Window()
                trade_minute = event.ts - event.ts % MINUTE
                window.add(trade_minute, event.price, abs(event.amount))
                candidates.add(event.symbol)
        changed = []
        for symbol in sorted(candidates):
            self._top_versions[symbol] = self._books.top_versions(symbol)
            values = self.row(symbol).values()
            if self._reported.get(symbol) != values:
                self._reported[symbol] = values
                changed.append(symbol)
        return changed

    def seed(self, symbol: str, minutes: Iterable[Candle], last_price: int, now: int) -> None:
        """Rebuild a window from stored 1m candles (oldest first) at start-up."""
        window = self._windows[symbol] = _Window()
        self._top_versions.pop(symbol, None)  # the row changed: recompute on the next apply
        self._minute = max(self._minute, now - now % MINUTE)
        oldest = self._minute - (WINDOW_MINUTES - 1) * MINUTE
        for mts, open_, _close, high, low, volume in minutes:
            if mts >= oldest:
                window.put(mts, open_, high, low, volume)
        window.last = last_price

    def has_traded(self, symbol: str) -> bool:
        window = self._windows.get(symbol)
        return window is not None and window.last != 0

    def row(self, symbol: str) -> TickerRow:
        """The ticker of ``symbol`` now (a symbol that never traded has zeros but its book)."""
        books = self._books
        window = self._windows.get(symbol) or _Window()
        last = window.last
        first = window.first_price()
        if first is None:
            change, relative, high, low = 0, 0, last, last
        else:
            change = last - first
            relative = relative_change(change, first)
            high, low = window.high, window.low
        return TickerRow(
            bid=books.best_bid(symbol) or 0,
            bid_size=books.depth_amount(symbol, BID),
            ask=books.best_ask(symbol) or 0,
            ask_size=books.depth_amount(symbol, ASK),
            daily_change=change,
            daily_change_relative=relative,
            last_price=last,
            volume=window.volume,
            high=high,
            low=low,
        )
