"""Persisted history in SQLite: public trades, hourly tickers, candles and stats buckets, and each
account's closed orders, trades, ledger entries and movements.

Writes are batched: ``apply(seq, ts, events)`` only buffers rows; ``flush()`` writes everything
buffered in **one transaction** together with the last applied ``seq``. So after a crash the
store holds exactly the effects of commands 1..``last_seq()``, and the gateway replays the
journal from ``last_seq() + 1``; commands at or below it are skipped (``apply`` returns without
buffering), which makes replays idempotent. Hooks registered with ``add_flush_hook`` stage rows
of other views (candles, stats) into the same transaction.

Queries follow spec/bitfinex-v2.md §2.4: ``start``/``end`` in ms, both inclusive; ``limit``
(validated by the caller); ``sort`` 1 oldest first, −1 (default) newest first; ties at one ms
are ordered by id in the same direction. A query first flushes the buffer, so a client always
reads its own writes.

Storage rules: the database is a file in WAL mode (``None`` = in-memory, for tests); amounts
and prices are raw ints (they fit in 64 bits: at most 10^15 units of 1e-8 would not, and the
core bounds sizes far below that); private records are stored as JSON of their event or
``OrderState`` and rebuilt into the same types on read; stats sums, which exceed 64 bits, are
stored as decimal text.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from venue.core.events import (
    AccountTrade,
    Event,
    LedgerEntryAdded,
    MovementRecorded,
    OrderClosed,
    TradeExecuted,
)
from venue.core.orders import OrderState, OrderType
from venue.views.candles import Candle

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY, symbol TEXT NOT NULL, mts INTEGER NOT NULL,
    amount INTEGER NOT NULL, price INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS trades_symbol_mts ON trades (symbol, mts, id);
CREATE TABLE IF NOT EXISTS ticker_hist (
    symbol TEXT NOT NULL, mts INTEGER NOT NULL, bid INTEGER, ask INTEGER,
    PRIMARY KEY (symbol, mts));
CREATE INDEX IF NOT EXISTS ticker_hist_mts ON ticker_hist (mts, symbol);
CREATE TABLE IF NOT EXISTS candles (
    symbol TEXT NOT NULL, timeframe TEXT NOT NULL, mts INTEGER NOT NULL,
    open INTEGER NOT NULL, close INTEGER NOT NULL, high INTEGER NOT NULL,
    low INTEGER NOT NULL, volume INTEGER NOT NULL,
    PRIMARY KEY (symbol, timeframe, mts));
CREATE TABLE IF NOT EXISTS stats (
    series TEXT NOT NULL, mts INTEGER NOT NULL, first TEXT NOT NULL, second TEXT NOT NULL,
    PRIMARY KEY (series, mts));
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, symbol TEXT NOT NULL,
    mts INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_user_mts ON orders (user_id, mts, id);
CREATE TABLE IF NOT EXISTS account_trades (
    trade_id INTEGER NOT NULL, user_id INTEGER NOT NULL, order_id INTEGER NOT NULL,
    symbol TEXT NOT NULL, mts INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (user_id, trade_id));
CREATE INDEX IF NOT EXISTS account_trades_user_mts ON account_trades (user_id, mts, trade_id);
CREATE INDEX IF NOT EXISTS account_trades_order ON account_trades (user_id, order_id);
CREATE TABLE IF NOT EXISTS ledgers (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, currency TEXT NOT NULL,
    wallet TEXT NOT NULL, category INTEGER NOT NULL, mts INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledgers_user_mts ON ledgers (user_id, mts, id);
CREATE TABLE IF NOT EXISTS movements (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, currency TEXT NOT NULL,
    mts INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS movements_user_mts ON movements (user_id, mts, id);
"""


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """A row of ``trades/{symbol}/hist``: ``[ID, MTS, AMOUNT, PRICE]`` (§3.5), raw ints."""

    id: int
    mts: int
    amount: int
    price: int


@dataclass(frozen=True, slots=True)
class TickerSample:
    """A row of ``tickers/hist`` (§3.4): best bid and ask at the top of an hour (None = empty)."""

    symbol: str
    bid: int | None
    ask: int | None
    mts: int


def _to_json(record: Any) -> str:
    return json.dumps({f.name: getattr(record, f.name) for f in fields(record)})


def _order_from_json(text: str) -> OrderState:
    data = json.loads(text)
    data["type"] = OrderType(data["type"])
    if data.get("type_prev") is not None:
        data["type_prev"] = OrderType(data["type_prev"])
    return OrderState(**data)


def _window(
    column: str, start: int | None, end: int | None, sort: int, tie: str
) -> tuple[str, list[int], str]:
    """SQL for the §2.4 time window: a WHERE fragment, its parameters, and the ORDER BY."""
    clauses, params = [], []
    if start is not None:
        clauses.append(f"{column} >= ?")
        params.append(start)
    if end is not None:
        clauses.append(f"{column} <= ?")
        params.append(end)
    direction = "ASC" if sort == 1 else "DESC"
    return " AND ".join(clauses), params, f"ORDER BY {column} {direction}, {tie} {direction}"


def _where(*parts: str) -> str:
    kept = [p for p in parts if p]
    return ("WHERE " + " AND ".join(kept)) if kept else ""


# The event types ``History.apply`` stores (exact types: event classes are final).
_HISTORY_EVENTS = frozenset({TradeExecuted, AccountTrade, OrderClosed, LedgerEntryAdded, MovementRecorded})


class History:
    """The history store. One instance per process; used from the event-loop thread only."""

    def __init__(self, path: Path | str | None = None) -> None:
        # check_same_thread off: the store may be opened by one thread (start-up) and used by
        # the event-loop thread afterwards; it is never used by two threads at once.
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path), isolation_level=None,
            check_same_thread=False,
        )
        self._file = path is not None
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            # The journal is the source of truth: history is rebuilt from it after a power loss,
            # so NORMAL (durable across process crashes in WAL mode) is enough.
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
        self._last_seq = int(row[0]) if row else 0
        self._applied_seq = self._last_seq
        self._closed = False
        self._hooks: list[Callable[[History], None]] = []
        self._trades: list[tuple[int, str, int, int, int]] = []
        self._tickers: list[tuple[str, int, int | None, int | None]] = []
        self._candles: list[tuple[str, str, int, int, int, int, int, int]] = []
        self._stats: list[tuple[str, int, str, str]] = []
        self._orders: list[tuple[int, int, str, int, str]] = []
        self._account_trades: list[tuple[int, int, int, str, int, str]] = []
        self._ledgers: list[tuple[int, int, str, str, int, int, str]] = []
        self._movements: list[tuple[int, int, str, int, str]] = []

    def close(self) -> None:
        """Flush and close; closing twice is harmless."""
        if self._closed:
            return
        self.flush()
        self._db.close()
        self._closed = True

    # -- writes ----------------------------------------------------------------------------

    def last_seq(self) -> int:
        """The last command whose effects are stored (0 for a new store)."""
        return self._last_seq

    def sync(self) -> int:
        """Make what is stored survive a power loss too, and return the seq it holds.

        The store commits with ``synchronous=NORMAL``: a commit reaches the OS, not the disk. A
        checkpoint first fsyncs the WAL (then copies it into the database file), so after it
        everything committed is on disk. Journal compaction must not pass this seq (server.py):
        records that a power cut took from the history must still be in the journal to
        re-derive them. Costs one checkpoint; called once per snapshot."""
        if not self._closed and self._file:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return self._last_seq

    def applied_seq(self) -> int:
        """The last command applied (buffered or stored)."""
        return self._applied_seq

    def add_flush_hook(self, hook: Callable[[History], None]) -> None:
        """Call ``hook(history)`` at the start of every flush, to stage other views' rows."""
        self._hooks.append(hook)

    def apply(self, seq: int, ts: int, events: Sequence[Event]) -> None:
        """Buffer the history rows of one command; commands already applied are skipped."""
        if seq <= self._applied_seq:
            return
        self._applied_seq = seq
        for event in events:
            if type(event) not in _HISTORY_EVENTS:
                continue  # most events of an order (accepted, wallet, request) store nothing
            if isinstance(event, TradeExecuted):
                self._trades.append(
                    (event.trade_id, event.symbol, event.ts, event.amount, event.price)
                )
            elif isinstance(event, AccountTrade):
                self._account_trades.append(
                    (event.trade_id, event.user_id, event.order_id, event.symbol, event.ts,
                     _to_json(event))
                )
            elif isinstance(event, OrderClosed):
                order = event.order
                self._orders.append(
                    (order.id, order.user_id, order.symbol, order.created_ts, _to_json(order))
                )
            elif isinstance(event, LedgerEntryAdded):
                self._ledgers.append(
                    (event.entry_id, event.user_id, event.currency, event.wallet, event.category,
                     event.ts, _to_json(event))
                )
            elif isinstance(event, MovementRecorded):
                self._movements.append(
                    (event.movement_id, event.user_id, event.currency, event.ts, _to_json(event))
                )

    def stage_ticker_sample(self, sample: TickerSample) -> None:
        self._tickers.append((sample.symbol, sample.mts, sample.bid, sample.ask))

    def stage_candles(self, rows: Iterable[tuple[str, str, Candle]]) -> None:
        self._candles.extend((symbol, tf, *candle) for symbol, tf, candle in rows)

    def stage_stats(self, rows: Iterable[tuple[str, int, int, int]]) -> None:
        self._stats.extend((series, mts, str(a), str(b)) for series, mts, a, b in rows)

    def flush(self) -> None:
        """Write everything buffered and the applied seq in one transaction."""
        for hook in self._hooks:
            hook(self)
        if self._applied_seq == self._last_seq and not self._pending():
            return
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR REPLACE INTO trades VALUES (?,?,?,?,?)", self._trades)
            db.executemany("INSERT OR REPLACE INTO ticker_hist VALUES (?,?,?,?)", self._tickers)
            db.executemany("INSERT OR REPLACE INTO candles VALUES (?,?,?,?,?,?,?,?)", self._candles)
            db.executemany("INSERT OR REPLACE INTO stats VALUES (?,?,?,?)", self._stats)
            db.executemany("INSERT OR REPLACE INTO orders VALUES (?,?,?,?,?)", self._orders)
            db.executemany(
                "INSERT OR REPLACE INTO account_trades VALUES (?,?,?,?,?,?)", self._account_trades
            )
            db.executemany("INSERT OR REPLACE INTO ledgers VALUES (?,?,?,?,?,?,?)", self._ledgers)
            db.executemany("INSERT OR REPLACE INTO movements VALUES (?,?,?,?,?)", self._movements)
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_seq', ?)", (str(self._applied_seq),)
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._last_seq = self._applied_seq
        for buffer in (self._trades, self._tickers, self._candles, self._stats, self._orders,
                       self._account_trades, self._ledgers, self._movements):
            buffer.clear()

    def _pending(self) -> bool:
        return bool(
            self._trades or self._tickers or self._candles or self._stats or self._orders
            or self._account_trades or self._ledgers or self._movements
        )

    # -- loads at start-up -------------------------------------------------------------------

    def stored_candles(self) -> dict[tuple[str, str], list[Candle]]:
        """All stored candles per (symbol, timeframe), oldest first."""
        out: dict[tuple[str, str], list[Candle]] = {}
        for symbol, tf, *candle in self._db.execute(
            "SELECT symbol, timeframe, mts, open, close, high, low, volume FROM candles "
            "ORDER BY symbol, timeframe, mts"
        ):
            out.setdefault((symbol, tf), []).append(tuple(candle))  # type: ignore[arg-type]
        return out

    def stored_stats(self) -> list[tuple[str, int, int, int]]:
        return [
            (series, mts, int(a), int(b))
            for series, mts, a, b in self._db.execute(
                "SELECT series, mts, first, second FROM stats ORDER BY series, mts"
            )
        ]

    def last_ticker_sample_mts(self) -> int:
        row = self._db.execute("SELECT MAX(mts) FROM ticker_hist").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- public queries ----------------------------------------------------------------------

    def trades(
        self, symbol: str, start: int | None = None, end: int | None = None, limit: int = 125,
        sort: int = -1,
    ) -> list[PublicTrade]:
        """``trades/{symbol}/hist`` (§3.5)."""
        self.flush()
        where, params, order = _window("mts", start, end, sort, "id")
        rows = self._db.execute(
            f"SELECT id, mts, amount, price FROM trades {_where('symbol = ?', where)} "
            f"{order} LIMIT ?",
            [symbol, *params, limit],
        )
        return [PublicTrade(*row) for row in rows]

    def tickers_hist(
        self, symbols: Sequence[str] | None = None, start: int | None = None,
        end: int | None = None, limit: int = 100, sort: int = -1,
    ) -> list[TickerSample]:
        """``tickers/hist`` (§3.4): hourly samples; ``symbols`` None means ALL."""
        self.flush()
        where, params, order = _window("mts", start, end, sort, "symbol")
        symbol_clause = ""
        if symbols is not None:
            if not symbols:
                return []
            symbol_clause = f"symbol IN ({','.join('?' * len(symbols))})"
            params = [*symbols, *params]
        rows = self._db.execute(
            f"SELECT symbol, bid, ask, mts FROM ticker_hist {_where(symbol_clause, where)} "
            f"{order} LIMIT ?",
            [*params, limit],
        )
        return [TickerSample(*row) for row in rows]

    # -- private queries ---------------------------------------------------------------------

    def _user_rows(
        self, table: str, user_id: int, filters: dict[str, Any], tie: str,
        start: int | None, end: int | None, limit: int, sort: int,
        ids: Sequence[int] | None = None,
    ) -> list[str]:
        """The JSON ``data`` of one user's rows in ``table``: equality ``filters`` (None values
        are ignored), an optional ``id IN ids``, the §2.4 window on ``mts``, sorted and limited."""
        self.flush()
        where, params, order = _window("mts", start, end, sort, tie)
        clauses = ["user_id = ?"]
        head: list[Any] = [user_id]
        for column, value in filters.items():
            if value is not None:
                clauses.append(f"{column} = ?")
                head.append(value)
        if ids is not None:
            if not ids:
                return []
            clauses.append(f"id IN ({','.join('?' * len(ids))})")
            head.extend(ids)
        rows = self._db.execute(
            f"SELECT data FROM {table} {_where(*clauses, where)} {order} LIMIT ?",
            [*head, *params, limit],
        )
        return [row[0] for row in rows]

    def orders(
        self, user_id: int, symbol: str | None = None, ids: Sequence[int] | None = None,
        start: int | None = None, end: int | None = None, limit: int = 2500, sort: int = -1,
    ) -> list[OrderState]:
        """``auth/r/orders/hist``: the user's closed orders; the window and the order are on
        MTS_CREATE (spec §4.2 "filters on MTS_CREATE"). Rows stored before this rule carry
        their close time instead."""
        rows = self._user_rows("orders", user_id, {"symbol": symbol}, "id", start, end, limit, sort, ids)
        return [_order_from_json(data) for data in rows]

    def closed_orders(
        self, user_id: int, symbol: str | None = None, start: int | None = None,
        end: int | None = None, limit: int = 2500, ids: Sequence[int] | None = None,
        sort: int = -1,
    ) -> list[OrderState]:
        """Alias of ``orders`` under the name the gateway uses."""
        return self.orders(user_id, symbol, ids, start, end, limit, sort)

    def order_trades(self, user_id: int, order_id: int, sort: int = -1) -> list[AccountTrade]:
        """``auth/r/order/{symbol}:{id}/trades``: every trade of one of the user's orders."""
        return self.account_trades(user_id, order_id=order_id, limit=-1, sort=sort)

    def account_trades(
        self, user_id: int, symbol: str | None = None, order_id: int | None = None,
        start: int | None = None, end: int | None = None, limit: int = 2500, sort: int = -1,
    ) -> list[AccountTrade]:
        """``auth/r/trades[/{symbol}]/hist`` and ``auth/r/order/{symbol}:{id}/trades``."""
        filters = {"symbol": symbol, "order_id": order_id}
        rows = self._user_rows("account_trades", user_id, filters, "trade_id", start, end, limit, sort)
        return [AccountTrade(**json.loads(data)) for data in rows]

    def ledgers(
        self, user_id: int, currency: str | None = None, category: int | None = None,
        start: int | None = None, end: int | None = None, limit: int = 25, sort: int = -1,
        wallet: str | None = None,
    ) -> list[LedgerEntryAdded]:
        """``auth/r/ledgers[/{currency}]/hist`` with the optional ``category`` (§6.7) and
        ``wallet`` filters."""
        filters = {"currency": currency, "category": category, "wallet": wallet}
        rows = self._user_rows("ledgers", user_id, filters, "id", start, end, limit, sort)
        return [LedgerEntryAdded(**json.loads(data)) for data in rows]

    def movements(
        self, user_id: int, currency: str | None = None, start: int | None = None,
        end: int | None = None, limit: int = 25, sort: int = -1,
        ids: Sequence[int] | None = None, address: str | None = None,
    ) -> list[MovementRecorded]:
        """``auth/r/movements[/{currency}]/hist`` (§6.10), optionally only the movements ``ids``
        or those to/from ``address`` (§4.2 body fields ``id`` and ``address``)."""
        filters = {"currency": currency, "json_extract(data, '$.address')": address}
        rows = self._user_rows("movements", user_id, filters, "id", start, end, limit, sort, ids)
        return [MovementRecorded(**json.loads(data)) for data in rows]
