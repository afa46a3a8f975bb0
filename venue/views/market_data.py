"""``MarketData``: every view behind one ``apply(seq, ts, events)`` and one ``flush()``.

The gateway registers ``market_data.apply`` as a sequencer listener and calls ``flush()``
periodically (and at shutdown). ``apply`` returns a ``MarketUpdate`` telling the WS layer what
to push: books touched (then ask each ``TopBook`` for its ``updates()``), tickers changed,
candles changed, public trades.

Restart (views are derived state, §design "views"):
- history, candles and stats buckets are stored by ``flush()`` with the last applied seq; at
  start they are loaded back and tickers are rebuilt from the stored 1m candles of the last 24 h;
- the gateway then replays the journal from ``history.last_seq() + 1`` through ``apply``;
  commands at or below it only update the books (everything else already holds them);
- books are not stored. Either seed them with the core's resting orders (``seed_books``) and
  replay the tail, or replay the whole journal through ``apply``. Book entries are absolute
  states (an order's last price and amount), so seeding with the final state and then replaying
  any tail of the journal still ends in the final state.

Hourly ticker history (§3.4): when a command's ``ts`` enters a new hour, the best bid/ask of
every non-empty book *before* that command (the book as it stood at the top of the hour) is
recorded for each hour boundary passed since the last sample (at most one year of hours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from venue.core.events import Event, TradeExecuted
from venue.core.orders import OrderState
from venue.core.symbols import Registry
from venue.views.books import Books
from venue.views.candles import CandleChange, Candles
from venue.views.history import History, TickerSample
from venue.views.stats import Stats
from venue.views.ticker import Tickers

HOUR = 3_600_000
MAX_BACKFILL_HOURS = 366 * 24


@dataclass(slots=True)
class MarketUpdate:
    """What one applied command changed in the public views."""

    books: set[str] = field(default_factory=set)
    tickers: list[str] = field(default_factory=list)
    candles: list[CandleChange] = field(default_factory=list)
    trades: list[TradeExecuted] = field(default_factory=list)


class MarketData:
    """Books, tickers, candles, stats and history, fed together."""

    def __init__(self, registry: Registry, history_path: Path | str | None = None) -> None:
        self.registry = registry
        self.books = Books()
        self.candles = Candles()
        self.stats = Stats(registry)
        self.tickers = Tickers(self.books)
        self.history = History(history_path)
        self.history.add_flush_hook(self._stage)
        self._last_hour = self.history.last_ticker_sample_mts()
        self._load()

    def _load(self) -> None:
        stored = self.history.stored_candles()
        for (symbol, timeframe), candles in stored.items():
            self.candles.load(symbol, timeframe, candles)
        for series, mts, first, second in self.history.stored_stats():
            self.stats.load(series, mts, first, second)
        minutes = {symbol: c for (symbol, tf), c in stored.items() if tf == "1m" and c}
        if not minutes:
            return
        now = max(c[-1][0] for c in minutes.values())
        for symbol in sorted(minutes):
            last_price = minutes[symbol][-1][2]
            self.tickers.seed(symbol, minutes[symbol], last_price, now)
            self.stats.seed_last_price(symbol, last_price)

    def _stage(self, history: History) -> None:
        history.stage_candles(self.candles.take_dirty())
        history.stage_stats(self.stats.take_dirty())

    # -- updates ---------------------------------------------------------------------------

    def seed_books(self, orders: Iterable[OrderState]) -> None:
        """Load the core's resting orders into the books (at start-up, before any replay)."""
        self.books.seed(orders)

    def seed_books_from(self, exchange: Any) -> None:
        """Seed the books from a restored core's ``book_orders(symbol)`` for every market."""
        for market in self.registry.markets:
            bids, asks = exchange.book_orders(market.symbol)
            self.books.seed([*bids, *asks])

    def apply(self, seq: int, ts: int, events: Sequence[Event]) -> MarketUpdate:
        """Fold one applied command into every view."""
        update = MarketUpdate()
        if seq <= self.history.applied_seq():
            # Replay of a command whose other effects are already stored: books only.
            update.books = self.books.apply(seq, ts, events)
            return update
        self._sample_tickers(ts)
        update.books = self.books.apply(seq, ts, events)
        update.trades = [e for e in events if type(e) is TradeExecuted]
        if update.trades:
            update.candles = self.candles.apply(seq, ts, events)
            self.stats.apply(seq, ts, events)
        else:
            self.stats.apply(seq, ts, ())
        update.tickers = self.tickers.apply(seq, ts, events, update.books)
        self.history.apply(seq, ts, events)
        return update

    def _sample_tickers(self, ts: int) -> None:
        hour = ts - ts % HOUR
        if hour <= self._last_hour:
            return
        first = self._last_hour + HOUR if self._last_hour else hour
        first = max(first, hour - (MAX_BACKFILL_HOURS - 1) * HOUR)
        self._last_hour = hour
        samples = []
        for symbol in self.books.symbols():
            bid, ask = self.books.best_bid(symbol), self.books.best_ask(symbol)
            if bid is not None or ask is not None:
                samples.append((symbol, bid, ask))
        for mts in range(first, hour + 1, HOUR):
            for symbol, bid, ask in samples:
                self.history.stage_ticker_sample(TickerSample(symbol, bid, ask, mts))

    # -- reads in the shapes the gateway renders -------------------------------------------------

    def ticker_values(self, symbol: str) -> tuple[int, ...]:
        """The 10 ticker values (raw ints) in wire order (§3.3)."""
        return self.tickers.row(symbol).values()

    def public_trades(
        self, symbol: str, start: int | None = None, end: int | None = None, limit: int = 125,
        sort: int = -1,
    ) -> list[tuple[int, int, int, int]]:
        """``trades/{symbol}/hist`` rows ``(ID, MTS, AMOUNT, PRICE)`` (§3.5)."""
        return [
            (t.id, t.mts, t.amount, t.price)
            for t in self.history.trades(symbol, start, end, limit, sort)
        ]

    def trade_rows(self, symbol: str, limit: int) -> list[tuple[int, int, int, int]]:
        """The ``limit`` most recent public trades, newest first (WS trades snapshot)."""
        return self.public_trades(symbol, limit=limit)

    def candle_rows(self, timeframe: str, symbol: str, limit: int) -> list[tuple[int, ...]]:
        """The ``limit`` newest candles, newest first (WS candles snapshot, §7.4)."""
        return list(self.candles.hist(symbol, timeframe, limit=limit))

    def tickers_hist(
        self, symbols: Sequence[str] | None, start: int | None = None, end: int | None = None,
        limit: int = 100, sort: int = -1,
    ) -> list[tuple[str, int | None, int | None, int]]:
        """``tickers/hist`` rows ``(SYMBOL, BID, ASK, MTS)`` (§3.4); bid/ask None = empty side."""
        return [
            (s.symbol, s.bid, s.ask, s.mts)
            for s in self.history.tickers_hist(symbols, start, end, limit, sort)
        ]

    # -- persistence ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Store everything applied so far (one transaction)."""
        self.history.flush()

    def close(self) -> None:
        self.history.close()
