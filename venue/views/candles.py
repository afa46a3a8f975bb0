"""Trade candles for every Bitfinex timeframe, per trading symbol (spec/bitfinex-v2.md §3.8).

A candle is ``(mts, open, close, high, low, volume)`` in raw ints — CLOSE before HIGH, as on the
wire; ``mts`` is the start of its period (ms, UTC); volume is the sum of |amount| in the base
currency. Only periods with at least one trade have a candle (Bitfinex leaves gaps empty).

Timeframes and their alignment (all UTC):
- ``1m 5m 15m 30m 1h 3h 6h 12h 1D``: multiples of their length since the epoch, so days start
  at midnight and 3h/6h/12h at 00:00;
- ``1W`` (alias ``7D``, the older name ccxt still sends): weeks start on **Monday 00:00**, the
  ISO and TradingView week (the epoch itself was a Thursday, so weeks are counted from
  1970-01-05);
- ``14D``: two-week periods counted from Monday 1970-01-05, so each starts on a Monday;
- ``1M``: calendar months, starting on the 1st at 00:00.

Persistence: candles are stored, not recomputed — ``take_dirty`` hands the candles changed
since the last flush to the history store (``views.history``), which writes them in the same
transaction as the last applied seq; at start-up ``load`` puts them back. Restart cost is then
proportional to the number of candles, not to the whole trade history.

Invariants: for each (symbol, timeframe) the candle starts are kept in ascending order and every
trade lands in exactly one candle per timeframe; trades arrive in sequence order, and a trade
older than the newest candle (never produced by the sequencer, whose clock does not go back)
still lands in the right candle.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from dataclasses import dataclass
from typing import Iterable, Sequence

from venue.core.events import Event, TradeExecuted

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
_MONDAY_EPOCH = 4 * DAY  # 1970-01-05, the first Monday after the epoch (a Thursday)
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()

# Bitfinex timeframe names, in the order the docs list them; 7D is accepted as 1W.
TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "3h", "6h", "12h", "1D", "1W", "14D", "1M")
ALIASES = {"7D": "1W"}
_FIXED = {
    "1m": MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "3h": 3 * HOUR,
    "6h": 6 * HOUR,
    "12h": 12 * HOUR,
    "1D": DAY,
}

Candle = tuple[int, int, int, int, int, int]
"""``(mts, open, close, high, low, volume)``, raw ints."""


def canonical_timeframe(name: str) -> str | None:
    """The timeframe under its current name (``7D`` → ``1W``), or None when unknown."""
    name = ALIASES.get(name, name)
    return name if name in TIMEFRAMES else None


def period_start(timeframe: str, ts: int) -> int:
    """Start (ms) of the period of ``timeframe`` that holds ``ts`` (see the module docstring)."""
    length = _FIXED.get(timeframe)
    if length is not None:
        return ts - ts % length
    if timeframe == "1W":
        return ts - (ts - _MONDAY_EPOCH) % WEEK
    if timeframe == "14D":
        return ts - (ts - _MONDAY_EPOCH) % (2 * WEEK)
    if timeframe == "1M":
        day = _dt.date.fromordinal(_EPOCH_ORDINAL + ts // DAY)
        first = day.replace(day=1)
        return (first.toordinal() - _EPOCH_ORDINAL) * DAY
    raise ValueError(f"unknown timeframe {timeframe!r}")


class _Series:
    """Candles of one (symbol, timeframe): starts ascending; start → [open, close, high, low, v]."""

    __slots__ = ("starts", "candles")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.candles: dict[int, list[int]] = {}

    def add(self, start: int, price: int, amount: int) -> None:
        candle = self.candles.get(start)
        if candle is None:
            self.candles[start] = [price, price, price, price, amount]
            if not self.starts or start > self.starts[-1]:
                self.starts.append(start)
            else:
                bisect.insort(self.starts, start)
            return
        candle[1] = price
        if price > candle[2]:
            candle[2] = price
        if price < candle[3]:
            candle[3] = price
        candle[4] += amount

    def put(self, candle: Candle) -> None:
        start = candle[0]
        if start not in self.candles:
            bisect.insort(self.starts, start)
        self.candles[start] = list(candle[1:])

    def get(self, start: int) -> Candle:
        o, c, h, low, v = self.candles[start]
        return (start, o, c, h, low, v)


@dataclass(frozen=True, slots=True)
class CandleChange:
    """A candle that changed in one apply (for WS ``candles`` channel updates, §7.4)."""

    symbol: str
    timeframe: str
    candle: Candle


class Candles:
    """Candles at every timeframe for every symbol that traded."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], _Series] = {}
        # Candles changed since the last ``take_dirty`` (for persistence by the history store).
        self._dirty: set[tuple[str, str, int]] = set()

    def _get(self, symbol: str, timeframe: str) -> _Series:
        series = self._series.get((symbol, timeframe))
        if series is None:
            series = self._series[(symbol, timeframe)] = _Series()
        return series

    def apply(self, seq: int, ts: int, events: Sequence[Event]) -> list[CandleChange]:
        """Fold the trades of one command in; return the candles they changed, one per
        (symbol, timeframe), in timeframe order."""
        touched: dict[tuple[str, str], int] = {}
        for event in events:
            if isinstance(event, TradeExecuted):
                for timeframe in TIMEFRAMES:
                    start = period_start(timeframe, event.ts)
                    self._get(event.symbol, timeframe).add(start, event.price, abs(event.amount))
                    touched[(event.symbol, timeframe)] = start
                    self._dirty.add((event.symbol, timeframe, start))
        return [
            CandleChange(symbol, timeframe, self._series[(symbol, timeframe)].get(start))
            for (symbol, timeframe), start in touched.items()
        ]

    def load(self, symbol: str, timeframe: str, candles: Iterable[Candle]) -> None:
        """Put stored candles back (at start-up, from the history store)."""
        series = self._get(symbol, timeframe)
        for candle in candles:
            series.put(candle)

    def take_dirty(self) -> list[tuple[str, str, Candle]]:
        """Candles changed since the last call, sorted, for persisting; clears the set."""
        dirty = sorted(self._dirty)
        self._dirty = set()
        return [(s, tf, self._series[(s, tf)].get(start)) for s, tf, start in dirty]

    # -- reads -----------------------------------------------------------------------------

    def last(self, symbol: str, timeframe: str) -> Candle | None:
        """The newest candle, or None when the symbol never traded (``section=last``)."""
        timeframe = canonical_timeframe(timeframe) or timeframe
        series = self._series.get((symbol, timeframe))
        if series is None or not series.starts:
            return None
        return series.get(series.starts[-1])

    def hist(
        self,
        symbol: str,
        timeframe: str,
        start: int | None = None,
        end: int | None = None,
        limit: int = 100,
        sort: int = -1,
    ) -> list[Candle]:
        """Candles with start ≤ mts ≤ end (§2.4), newest first unless ``sort`` is 1; at most
        ``limit`` of them, taken from the end the sort starts at (the caller validates limit)."""
        timeframe = canonical_timeframe(timeframe) or timeframe
        series = self._series.get((symbol, timeframe))
        if series is None:
            return []
        starts = series.starts
        lo = 0 if start is None else bisect.bisect_left(starts, start)
        hi = len(starts) if end is None else bisect.bisect_right(starts, end)
        if hi <= lo:
            return []
        if sort == 1:
            chosen = starts[lo : min(hi, lo + limit)]
        else:
            chosen = starts[max(lo, hi - limit) : hi][::-1]
        return [series.get(s) for s in chosen]

    def minutes(self, symbol: str, since: int) -> list[Candle]:
        """1m candles starting at or after ``since``, oldest first (to rebuild tickers)."""
        return self.hist(symbol, "1m", start=since, limit=10**9, sort=1)
