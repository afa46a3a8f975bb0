"""Public order books: the raw book (R0) and the aggregated books P0–P4, per trading symbol.

Fed with core events (``Books.apply(seq, ts, events)``); derived state, rebuildable from the
journal or from the resting orders (``Books.seed``).

What a book holds (spec/bitfinex-v2.md §3.6, §7.4):
- R0: one entry per visible resting order, ``order id → (price, amount)``; amount signed
  (> 0 bid, < 0 ask).
- P0–P4: price levels with 5, 4, 3, 2, 1 significant figures: ``price → (count, amount)``,
  count = number of orders at the level, amount = their signed sum (asks negative).

Invariants:
- an order is in the book exactly when its last ``OrderState`` had ``in_book`` true, was not
  ``hidden`` and had a non-zero amount; hidden orders never appear in any view, not even as a
  count;
- every level holds at least one order (count > 0, amount ≠ 0); empty levels are removed;
- each side keeps its sort keys in a sorted list, best first: bids by price descending, asks by
  price ascending; R0 ties at one price are broken by order id ascending (the order §7.5 uses
  for checksums), so snapshots and checksums agree;
- nothing iterates in a hash-dependent order: rows come from sorted lists, never from sets.

Aggregation at coarse precision (P1–P4). Bitfinex publishes no formula; we round **bids down
and asks up** to the precision's significant figures. Reason: a level then never shows a price
better than any order it contains, so the aggregated book is never crossed or locked (with
half-up rounding a bid at 90 004 and an ask at 90 006 would both land on the P1 level 90 010 /
90 000 and clients would see a crossed book). P0 keeps the order prices, which the protocol
already cut to 5 significant figures; a longer computed price is rounded the same way.

WebSocket subscribers use ``TopBook`` (one per channel): it remembers the top ``length``
entries per side as last sent, collects the keys touched since, and ``updates()`` returns the
rows that turn the old view into the new one — changed levels, levels that leave the top
(deletes) and the levels that enter it in their place.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Sequence

from venue.core.events import ORDER_EVENTS, Event, OrderClosed
from venue.core.numbers import SCALE
from venue.core.orders import OrderState
from venue.views.checksum import CHECKSUM_DEPTH, book_checksum

PRECISIONS = ("P0", "P1", "P2", "P3", "P4")
RAW = "R0"
# Significant figures per aggregated precision (spec §3.6, from the 2020 WS book docs).
SIGNIFICANT_FIGURES = {"P0": 5, "P1": 4, "P2": 3, "P3": 2, "P4": 1}
TICKER_DEPTH = 25  # BID_SIZE / ASK_SIZE sum the 25 best levels (spec §3.2)

_FIGURES = tuple(SIGNIFICANT_FIGURES.items())

BID, ASK = 0, 1

Row = tuple[int, int, int]
"""A book row as raw ints: P* ``(price, count, amount)``, R0 ``(order_id, price, amount)``."""


@lru_cache(maxsize=65536)
def aggregate_price(price: int, figures: int, up: bool) -> int:
    """``price`` (raw) cut to ``figures`` significant figures: rounded up for asks, down for bids.

    Raw units are powers of ten of the real price, so significant figures of the raw int are
    those of the price (0.00012345 is raw 12345: five figures either way).
    """
    drop = len(str(price)) - figures
    if drop <= 0:
        return price
    step = 10**drop
    if up:
        return -(-price // step) * step
    return price // step * step


class _LevelSide:
    """One side of one aggregated precision: levels plus their sort keys, best first.

    Sort key = -price for bids, price for asks, so ascending keys are best-first on both sides.
    ``depth`` caches the absolute amount of the ``TICKER_DEPTH`` best levels (the ticker reads
    it after every book change); a change invalidates it only when it lands in those levels.
    """

    __slots__ = ("sign", "levels", "keys", "_depth", "top_version")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.levels: dict[int, list[int]] = {}  # price → [count, amount]
        self.keys: list[int] = []
        self._depth: int | None = 0
        # Bumped by every change that may land in the TICKER_DEPTH best levels (the best price
        # among them): equal versions mean the ticker's bid/ask columns cannot have moved.
        self.top_version = 0

    def add(self, price: int, amount: int) -> None:
        level = self.levels.get(price)
        key = -price if self.sign > 0 else price
        if level is None:
            self.levels[price] = [1, amount]
            index = bisect.bisect_left(self.keys, key)
            self.keys.insert(index, key)
        else:
            level[0] += 1
            level[1] += amount
            index = bisect.bisect_left(self.keys, key) if self._depth is not None else 0
        if index < TICKER_DEPTH:
            self._depth = None
            self.top_version += 1

    def remove(self, price: int, amount: int) -> None:
        level = self.levels[price]
        level[0] -= 1
        level[1] -= amount
        key = -price if self.sign > 0 else price
        if level[0] == 0:
            del self.levels[price]
            index = bisect.bisect_left(self.keys, key)
            del self.keys[index]
        else:
            index = bisect.bisect_left(self.keys, key) if self._depth is not None else 0
        if index < TICKER_DEPTH:
            self._depth = None
            self.top_version += 1

    def rebuild(self, entries: Iterable[tuple[int, int]]) -> None:
        """Replace the side's content by the levels of ``entries`` (level price, amount)."""
        levels: dict[int, list[int]] = {}
        for price, amount in entries:
            level = levels.get(price)
            if level is None:
                levels[price] = [1, amount]
            else:
                level[0] += 1
                level[1] += amount
        self.levels = levels
        self.keys = sorted(-price for price in levels) if self.sign > 0 else sorted(levels)
        self._depth = None
        self.top_version += 1

    def depth(self) -> int:
        """Absolute amount of the ``TICKER_DEPTH`` best levels."""
        if self._depth is None:
            levels = self.levels
            top = self.keys[:TICKER_DEPTH]
            prices = [-key for key in top] if self.sign > 0 else top
            self._depth = abs(sum(levels[price][1] for price in prices))
        return self._depth

    def key_of(self, price: int) -> int:
        return -price if self.sign > 0 else price

    def top_ids(self, length: int) -> list[int]:
        """Prices of the ``length`` best levels, best first."""
        if self.sign > 0:
            return [-key for key in self.keys[:length]]
        return self.keys[:length]

    def value(self, price: int) -> tuple[int, int] | None:
        level = self.levels.get(price)
        return None if level is None else (level[0], level[1])

    def rows(self, length: int) -> list[Row]:
        out: list[Row] = []
        for key in self.keys[:length]:
            price = -key if self.sign > 0 else key
            count, amount = self.levels[price]
            out.append((price, count, amount))
        return out


class _OrderSide:
    """One side of the raw book: order id → (price, amount), sort keys (±price, id) best first."""

    __slots__ = ("sign", "orders", "keys")

    def __init__(self, sign: int) -> None:
        self.sign = sign
        self.orders: dict[int, tuple[int, int]] = {}
        self.keys: list[tuple[int, int]] = []

    def _key(self, order_id: int, price: int) -> tuple[int, int]:
        return (-price if self.sign > 0 else price, order_id)

    def add(self, order_id: int, price: int, amount: int) -> None:
        self.orders[order_id] = (price, amount)
        bisect.insort(self.keys, self._key(order_id, price))

    def remove(self, order_id: int) -> None:
        price, _ = self.orders.pop(order_id)
        del self.keys[bisect.bisect_left(self.keys, self._key(order_id, price))]

    def key_of(self, order_id: int) -> tuple[int, int] | None:
        entry = self.orders.get(order_id)
        return None if entry is None else self._key(order_id, entry[0])

    def top_ids(self, length: int) -> list[int]:
        """Ids of the ``length`` best orders, best first."""
        return [key[1] for key in self.keys[:length]]

    def value(self, order_id: int) -> tuple[int, int] | None:
        return self.orders.get(order_id)

    def rows(self, length: int) -> list[Row]:
        orders = self.orders
        return [(key[1], *orders[key[1]]) for key in self.keys[:length]]


_Side = _LevelSide | _OrderSide


class SymbolBook:
    """The public book of one trading symbol at every precision.

    R0 and P0 are kept up to date on every change (the ticker reads P0 after each command).
    P1–P4 are *lazy* while no WS channel tracks them: a change only appends
    ``(price, amount, ±1)`` to ``_log``, and the first read of a lazy precision replays the log
    into all of them (or, when the log grew past ``_log_limit``, rebuilds them from
    ``visible``). A tracked precision is kept up to date on every change like P0, because its
    trackers must learn the touched keys. Reads go through ``side()``, so no caller sees a
    lazy precision out of date.
    """

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.visible: dict[int, tuple[int, int]] = {}  # order id → (price, amount)
        self.raw = (_OrderSide(1), _OrderSide(-1))
        self.levels = {prec: (_LevelSide(1), _LevelSide(-1)) for prec in PRECISIONS}
        self.trackers: list[TopBook] = []
        # Keys touched since the trackers were last told: (prec, side) → keys.
        self._touched: dict[tuple[str, int], set[int]] = {}
        # Precisions updated on every change (P0 always) and the lazy ones (see class doc).
        self._live: list[tuple[str, int]] = [f for f in _FIGURES if f[0] == "P0"]
        self._lazy: list[tuple[str, int]] = [f for f in _FIGURES if f[0] != "P0"]
        # Changes the lazy precisions have not seen; None: too many, rebuild from ``visible``.
        self._log: list[tuple[int, int, int]] | None = []

    # -- changes ---------------------------------------------------------------------------

    def put(self, order_id: int, price: int, amount: int) -> None:
        """Set a visible order (add, or replace its price/amount); amount 0 removes it."""
        old = self.visible.get(order_id)
        if old == (price, amount) or (old is None and amount == 0):
            return
        if old is not None:
            self._remove(order_id, *old)
        if amount != 0:
            self._add(order_id, price, amount)

    def drop(self, order_id: int) -> None:
        """Remove an order if it is in the book."""
        old = self.visible.get(order_id)
        if old is not None:
            self._remove(order_id, *old)

    def _add(self, order_id: int, price: int, amount: int) -> None:
        side = BID if amount > 0 else ASK
        self.visible[order_id] = (price, amount)
        self.raw[side].add(order_id, price, amount)
        tracked = bool(self.trackers)
        if tracked:
            self._touch(RAW, side, order_id)
        for prec, figures in self._live:
            level_price = aggregate_price(price, figures, side == ASK)
            self.levels[prec][side].add(level_price, amount)
            if tracked:
                self._touch(prec, side, level_price)
        if self._lazy:
            self._log_change(price, amount, 1)

    def _remove(self, order_id: int, price: int, amount: int) -> None:
        side = BID if amount > 0 else ASK
        del self.visible[order_id]
        self.raw[side].remove(order_id)
        tracked = bool(self.trackers)
        if tracked:
            self._touch(RAW, side, order_id)
        for prec, figures in self._live:
            level_price = aggregate_price(price, figures, side == ASK)
            self.levels[prec][side].remove(level_price, amount)
            if tracked:
                self._touch(prec, side, level_price)
        if self._lazy:
            self._log_change(price, amount, -1)

    # -- lazy precisions -------------------------------------------------------------------

    def _log_limit(self) -> int:
        # Past this a rebuild from ``visible`` costs less than replaying the log.
        return 2 * len(self.visible) + 256

    def _log_change(self, price: int, amount: int, delta: int) -> None:
        log = self._log
        if log is not None:
            log.append((price, amount, delta))
            if len(log) > self._log_limit():
                self._log = None

    def _catch_up(self) -> None:
        """Bring every lazy precision up to date (replay the log, or rebuild)."""
        log = self._log
        if log is None:
            visible = list(self.visible.values())
            for prec, figures in self._lazy:
                bids, asks = self.levels[prec]
                bids.rebuild(
                    (aggregate_price(price, figures, False), amount) for price, amount in visible if amount > 0
                )
                asks.rebuild(
                    (aggregate_price(price, figures, True), amount) for price, amount in visible if amount < 0
                )
        elif log:
            for prec, figures in self._lazy:
                sides = self.levels[prec]
                for price, amount, delta in log:
                    ask = amount < 0
                    level_price = aggregate_price(price, figures, ask)
                    if delta > 0:
                        sides[ask].add(level_price, amount)
                    else:
                        sides[ask].remove(level_price, amount)
        self._log = []

    def _set_live(self, prec: str, live: bool) -> None:
        """Keep ``prec`` up to date on every change (it has trackers) or make it lazy again."""
        if prec == RAW or prec == "P0":
            return
        entry = (prec, SIGNIFICANT_FIGURES[prec])
        if live == (entry in self._live):
            return
        self._catch_up()  # every precision is now up to date, the log is empty
        if live:
            self._lazy.remove(entry)
            self._live.append(entry)
        else:
            self._live.remove(entry)
            self._lazy.append(entry)

    def _touch(self, prec: str, side: int, key: int) -> None:
        touched = self._touched.get((prec, side))
        if touched is None:
            self._touched[(prec, side)] = {key}
        else:
            touched.add(key)

    def release_touched(self) -> None:
        """Hand the keys touched since the last call to every tracker of this book."""
        if not self._touched:
            return
        for tracker in self.trackers:
            for side in (BID, ASK):
                keys = self._touched.get((tracker.prec, side))
                if keys:
                    tracker.dirty[side].update(keys)
        self._touched = {}

    # -- reads -----------------------------------------------------------------------------

    def side(self, prec: str, side: int) -> _Side:
        if prec == RAW:
            return self.raw[side]
        log = self._log
        if (log is None or log) and prec != "P0":
            self._catch_up()
        return self.levels[prec][side]

    def snapshot(self, prec: str, length: int) -> list[Row]:
        """Bids best-first then asks best-first, ``length`` entries per side."""
        return self.side(prec, BID).rows(length) + self.side(prec, ASK).rows(length)

    def best(self, side: int) -> int | None:
        """The best visible order price of a side (exact, from the raw book)."""
        keys = self.raw[side].keys
        if not keys:
            return None
        return -keys[0][0] if side == BID else keys[0][0]

    def depth_amount(self, side: int, levels: int = TICKER_DEPTH) -> int:
        """Absolute amount of the ``levels`` best P0 levels of one side."""
        if levels == TICKER_DEPTH:
            return self.levels["P0"][side].depth()
        return abs(sum(row[2] for row in self.levels["P0"][side].rows(levels)))


class Books:
    """All public books, created on first use of a symbol."""

    def __init__(self) -> None:
        self._books: dict[str, SymbolBook] = {}

    def book(self, symbol: str) -> SymbolBook:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = SymbolBook(symbol)
        return book

    def symbols(self) -> list[str]:
        return sorted(self._books)

    def apply(self, seq: int, ts: int, events: Sequence[Event]) -> set[str]:
        """Fold one command's events into the books; return the symbols whose book changed.

        Trackers of those symbols learn which keys were touched; call ``TopBook.updates()``
        afterwards (at once for F0 channels, on the next flush for F1).
        """
        touched: set[str] = set()
        for event in events:
            kind = type(event)  # event classes are final: an exact type test is enough
            if kind in ORDER_EVENTS:
                order = event.order  # type: ignore[union-attr]
                book = self.book(order.symbol)
                if kind is OrderClosed or not _visible(order):
                    if order.id in book.visible:
                        book.drop(order.id)
                        touched.add(order.symbol)
                else:
                    if book.visible.get(order.id) != (order.price, order.amount):
                        book.put(order.id, order.price, order.amount)
                        touched.add(order.symbol)
        for symbol in touched:
            self._books[symbol].release_touched()
        return touched

    def seed(self, orders: Iterable[OrderState]) -> None:
        """Load resting orders (e.g. from a restored core) into empty books."""
        for order in orders:
            if _visible(order):
                self.book(order.symbol).put(order.id, order.price, order.amount)
        for book in self._books.values():
            book.release_touched()

    # -- reads -----------------------------------------------------------------------------

    def snapshot(self, symbol: str, prec: str, length: int) -> list[Row]:
        """The book as ``GET book/{symbol}/{prec}?len=`` and WS snapshots show it (§3.6)."""
        book = self._books.get(symbol)
        return [] if book is None else book.snapshot(prec, length)

    def checksum(self, symbol: str, prec: str) -> int:
        """The §7.5 checksum of the current book (25 best entries per side)."""
        book = self.book(symbol)
        return book_checksum(
            book.side(prec, BID).rows(CHECKSUM_DEPTH),
            book.side(prec, ASK).rows(CHECKSUM_DEPTH),
            raw=prec == RAW,
        )

    def best_bid(self, symbol: str) -> int | None:
        book = self._books.get(symbol)
        return None if book is None else book.best(BID)

    def best_ask(self, symbol: str) -> int | None:
        book = self._books.get(symbol)
        return None if book is None else book.best(ASK)

    def top_versions(self, symbol: str) -> tuple[int, int] | None:
        """``(bid, ask)`` versions of the P0 top (``_LevelSide.top_version``), None if unknown."""
        book = self._books.get(symbol)
        if book is None:
            return None
        bids, asks = book.levels["P0"]
        return (bids.top_version, asks.top_version)

    def depth_amount(self, symbol: str, side: int, levels: int = TICKER_DEPTH) -> int:
        book = self._books.get(symbol)
        return 0 if book is None else book.depth_amount(side, levels)

    def track(self, symbol: str, prec: str, length: int) -> TopBook:
        """A tracker for one WS book channel, starting from the book as it is now."""
        book = self.book(symbol)
        tracker = TopBook(book, prec, length)
        book.trackers.append(tracker)
        book._set_live(prec, True)
        return tracker

    def untrack(self, tracker: TopBook) -> None:
        book = tracker.book
        trackers = book.trackers
        if tracker in trackers:
            trackers.remove(tracker)
            if not any(t.prec == tracker.prec for t in trackers):
                book._set_live(tracker.prec, False)


def _visible(order: OrderState) -> bool:
    return order.in_book and not order.hidden and order.amount != 0


@dataclass
class _View:
    """What a subscriber holds for one side: identities best-first and their values."""

    ids: list[int] = field(default_factory=list)
    values: dict[int, tuple[int, int]] = field(default_factory=dict)


class TopBook:
    """The top ``length`` entries per side of one book at one precision, as last sent.

    ``rows()`` is the view the subscribers hold (send it as the snapshot to a new subscriber of
    the same channel); ``updates()`` brings the view up to date and returns the update rows
    (spec §7.4): P* ``(price, count, amount)`` with count 0 and amount ±1 deleting a level,
    R0 ``(order_id, price, amount)`` with price 0 and amount ±1 deleting an order (all raw
    ints like every other row, so the ±1 is ``±SCALE``). Deletes come first, then additions
    and changes best-first, so a client never holds more than ``length`` entries per side after
    applying them in order. A raw order whose price changed is deleted and added again.
    """

    def __init__(self, book: SymbolBook, prec: str, length: int) -> None:
        if prec != RAW and prec not in SIGNIFICANT_FIGURES:
            raise ValueError(f"unknown book precision {prec!r}")
        self.book = book
        self.prec = prec
        self.length = length
        self.dirty: tuple[set[int], set[int]] = (set(), set())
        self._views = (_View(), _View())
        for side in (BID, ASK):
            source = book.side(prec, side)
            view = self._views[side]
            view.ids = source.top_ids(length)
            view.values = {i: source.value(i) for i in view.ids}  # type: ignore[misc]

    @property
    def symbol(self) -> str:
        return self.book.symbol

    def rows(self) -> list[Row]:
        """The view as the subscribers hold it: bids best-first, then asks best-first."""
        out: list[Row] = []
        for view in self._views:
            out.extend((i, *view.values[i]) for i in view.ids)
        return out

    def sides(self) -> tuple[list[Row], list[Row]]:
        """The view split into (bids, asks), each best-first."""
        bids, asks = self._views
        return (
            [(i, *bids.values[i]) for i in bids.ids],
            [(i, *asks.values[i]) for i in asks.ids],
        )

    def checksum(self) -> int:
        """The §7.5 checksum of the view as sent: the entries the client holds.

        For ``length`` ≥ 25 this is the checksum of the 25 best entries; a ``len=1`` client
        only holds one entry per side, so it is checked against that (the only value it can
        verify).
        """
        bids, asks = self.sides()
        return book_checksum(bids[:CHECKSUM_DEPTH], asks[:CHECKSUM_DEPTH], raw=self.prec == RAW)

    def updates(self) -> list[Row]:
        """Rows that turn the view last sent into the current top of the book (may be empty)."""
        rows: list[Row] = []
        for side in (BID, ASK):
            dirty = self.dirty[side]
            if dirty:
                rows.extend(self._side_updates(side, dirty))
                dirty.clear()
        return rows

    def _side_updates(self, side: int, dirty: set[int]) -> list[Row]:
        source = self.book.side(self.prec, side)
        view = self._views[side]
        old = view.values
        if len(view.ids) == self.length and self._all_below(source, view, dirty):
            return []
        new_ids = source.top_ids(self.length)
        new_set = set(new_ids)
        # The ±1 of a delete row is an amount like any other: raw, so it renders as 1 / -1.
        delete_amount = SCALE if side == BID else -SCALE
        deletes: list[Row] = []
        for i in view.ids:
            if i not in new_set:
                deletes.append((i, 0, delete_amount))
                del old[i]
        raw = self.prec == RAW
        changes: list[Row] = []
        for i in new_ids:
            if i not in old or i in dirty:
                value = source.value(i)
                assert value is not None
                previous = old.get(i)
                if previous != value:
                    if raw and previous is not None and previous[0] != value[0]:
                        # An order that moved to another price is sent as delete + add: clients
                        # that replace a raw entry in place would otherwise keep their side
                        # out of price order and fail the §7.5 checksum.
                        deletes.append((i, 0, delete_amount))
                    old[i] = value
                    changes.append((i, *value))
        view.ids = new_ids
        return deletes + changes

    @staticmethod
    def _all_below(source: _Side, view: _View, dirty: set[int]) -> bool:
        """True when every touched key is outside a full view and worse than its last entry:
        such changes cannot alter the top (the common case deep in a busy book)."""
        if not view.ids:
            return False
        last = source.key_of(view.ids[-1])  # type: ignore[arg-type]
        if last is None:
            return False
        for i in dirty:
            if i in view.values:
                return False
            key = source.key_of(i)  # type: ignore[arg-type]
            if key is not None and key < last:  # type: ignore[operator]
                return False
        return True
