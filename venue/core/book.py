"""Orders as the engine holds them, and one side of a price-time priority order book.

``Order`` is the engine's mutable record; events carry immutable ``OrderState`` snapshots made
by ``Order.state``. Amounts inside ``Order`` are unsigned (``remaining``, ``orig``) with the side
in ``is_buy``; snapshots put the sign back.

``BookSide`` keeps, per price, a FIFO queue of resting orders:
- ``levels`` maps price → ``Level``; a level exists only while it has a live order;
- the best price comes from a heap of prices with lazy deletion (a price whose level is gone is
  popped when it reaches the top; the heap is rebuilt when stale entries outnumber live ones);
- removal is O(1): queue entries are ``(seq, order)`` and an entry is live only while
  ``order.queue_seq == seq``, so a removed or re-queued order leaves a dead entry that is
  skipped (and compacted away when dead entries pile up);
- within a level orders trade in the order they were queued (time priority); nothing here
  iterates in hash order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import fields
from heapq import heapify, heappop, heappush
from typing import Any

from venue.core.frozen import slot_twin
from venue.core.orders import OrderState, OrderType
from venue.core.status import Fill, open_status

# Kinds: the order type without its wallet prefix (OrderType.base_kind), as constants.
LIMIT = "LIMIT"
MARKET = "MARKET"
IOC = "IOC"
FOK = "FOK"
STOP = "STOP"
STOP_LIMIT = "STOP LIMIT"
TRAILING_STOP = "TRAILING STOP"
STOP_KINDS = frozenset((STOP, STOP_LIMIT, TRAILING_STOP))
# OrderType.base_kind as a plain dict lookup (the property costs an enum access and a string op).
BASE_KIND: dict[OrderType, str] = {t: t.base_kind for t in OrderType}
TYPE_TEXT: dict[OrderType, str] = {t: t.value for t in OrderType}  # same, for OrderType.value


class Order:
    """One open (or just closed) order. Mutated only by the engine, within one command."""

    __slots__ = (
        "id", "user_id", "symbol", "type", "kind", "is_buy", "remaining", "orig", "price",
        "flags", "group_id", "client_order_id", "client_order_date", "type_prev", "tif_ts",
        "created_ts", "updated_ts", "fills", "filled", "filled_value", "price_trailing",
        "price_aux_limit", "hidden", "post_only", "placed_id", "meta", "hold", "queue_seq",
        "resting", "stop_pending", "stop_seq", "trail_ref", "status", "closed", "routing",
        "open_text", "hold_currency",
    )

    def __init__(
        self,
        order_id: int,
        user_id: int,
        symbol: str,
        order_type: OrderType,
        is_buy: bool,
        amount: int,
        price: int,
        ts: int,
    ) -> None:
        self.id = order_id
        self.user_id = user_id
        self.symbol = symbol
        self.type = order_type
        self.kind = BASE_KIND[order_type]
        self.is_buy = is_buy
        self.remaining = amount
        self.orig = amount
        self.price = price
        self.flags = 0
        self.group_id: int | None = None
        self.client_order_id: int | None = None
        self.client_order_date: str | None = None
        self.type_prev: OrderType | None = None
        self.tif_ts: int | None = None
        self.created_ts = ts
        self.updated_ts = ts
        self.fills: list[Fill] = []
        self.filled = 0
        self.filled_value = 0  # Σ amount × price, at scale 1e-16, for PRICE_AVG
        self.price_trailing = 0
        self.price_aux_limit = 0
        self.hidden = False
        self.post_only = False
        self.placed_id: int | None = None
        self.meta: dict[str, Any] | None = None
        self.hold = 0  # what this order holds in its paying currency (quote to buy, base to sell)
        self.queue_seq = 0  # 0 = not queued in a book level
        self.resting = False
        self.stop_pending = False
        self.stop_seq = 0
        self.trail_ref = 0  # best last price seen by a trailing stop (peak for sells, trough buys)
        self.status: str | None = None  # set when closed; open orders derive theirs from fills
        self.closed = False
        self.routing = "API>BFX"
        self.open_text: str | None = "ACTIVE"  # cached open status; None = recompute from fills
        self.hold_currency: str | None = None  # cached by Engine.hold_currency

    @property
    def signed_remaining(self) -> int:
        return self.remaining if self.is_buy else -self.remaining

    def price_avg(self) -> int:
        """Average fill price, rounded half-up to 1e-8; 0 before the first fill."""
        if not self.filled:
            return 0
        return (2 * self.filled_value + self.filled) // (2 * self.filled)

    def state(self) -> OrderState:
        """An immutable snapshot of this order for events and reads.

        Built by filling the slots of a twin of ``OrderState`` and retyping it
        (venue/core/frozen.py): the frozen dataclass's ``__init__`` costs several microseconds
        per call, and a snapshot is made for almost every event (bench/RESULTS-core.md). The
        values are exactly the constructor's.
        """
        status = self.status
        if status is None:
            status = self.open_text
            if status is None:
                status = self.open_text = open_status(self.fills)
        s: Any = _new(_StateSlots)
        s.id = self.id
        s.user_id = self.user_id
        s.symbol = self.symbol
        s.type = self.type
        s.created_ts = self.created_ts
        s.updated_ts = self.updated_ts
        if self.is_buy:
            s.amount = self.remaining
            s.amount_orig = self.orig
        else:
            s.amount = -self.remaining
            s.amount_orig = -self.orig
        s.price = self.price
        s.status = status
        s.flags = self.flags
        s.group_id = self.group_id
        s.client_order_id = self.client_order_id
        s.client_order_date = self.client_order_date
        s.type_prev = self.type_prev
        s.tif_ts = self.tif_ts
        filled = self.filled
        s.price_avg = (2 * self.filled_value + filled) // (2 * filled) if filled else 0
        s.price_trailing = self.price_trailing
        s.price_aux_limit = self.price_aux_limit
        s.hidden = self.hidden
        s.placed_id = self.placed_id
        s.meta = self.meta
        s.routing = self.routing
        s.in_book = self.resting
        s.__class__ = OrderState
        return s  # type: ignore[return-value]


# OrderState's fields in declaration order (what its __init__ takes positionally).
_STATE_FIELDS = (
    "id", "user_id", "symbol", "type", "created_ts", "updated_ts", "amount", "amount_orig",
    "price", "status", "flags", "group_id", "client_order_id", "client_order_date", "type_prev",
    "tif_ts", "price_avg", "price_trailing", "price_aux_limit", "hidden", "placed_id", "meta",
    "routing", "in_book",
)
assert _STATE_FIELDS == tuple(f.name for f in fields(OrderState)), "OrderState changed"
_StateSlots = slot_twin(OrderState)
_new = object.__new__


class Level:
    """Resting orders at one price, oldest first."""

    __slots__ = ("price", "queue", "live", "total")

    def __init__(self, price: int) -> None:
        self.price = price
        self.queue: deque[tuple[int, Order]] = deque()
        self.live = 0  # number of live entries
        self.total = 0  # Σ remaining of live orders

    def head(self) -> Order:
        """The oldest live order (the level has at least one)."""
        queue = self.queue
        while True:
            seq, order = queue[0]
            if order.queue_seq == seq:
                return order
            queue.popleft()

    def orders(self) -> list[Order]:
        """Live orders in time priority."""
        return [o for seq, o in self.queue if o.queue_seq == seq]


class BookSide:
    """Bids (``is_bid``) or asks of one market."""

    __slots__ = ("is_bid", "levels", "heap", "_sign")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, Level] = {}
        self.heap: list[int] = []  # prices (negated for bids so the heap top is the best)
        self._sign = -1 if is_bid else 1

    def best(self) -> int | None:
        """The best price with a live order, or None for an empty side."""
        heap = self.heap
        levels = self.levels
        sign = self._sign
        while heap:
            price = heap[0] * sign
            if price in levels:
                return price
            heappop(heap)
        return None

    def add(self, order: Order, seq: int) -> None:
        """Queue ``order`` at the back of its price level."""
        price = order.price
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            heap = self.heap
            heappush(heap, price * self._sign)
            if len(heap) > 64 + 2 * len(self.levels):
                self._rebuild_heap()
        level.queue.append((seq, order))
        level.live += 1
        level.total += order.remaining
        order.queue_seq = seq
        order.resting = True

    def remove(self, order: Order) -> None:
        """Take ``order`` out of the book (its queue entry dies in place)."""
        level = self.levels[order.price]
        order.queue_seq = 0
        order.resting = False
        level.live -= 1
        level.total -= order.remaining
        if not level.live:
            del self.levels[order.price]
        elif len(level.queue) > 16 + 2 * level.live:
            level.queue = deque(e for e in level.queue if e[1].queue_seq == e[0])

    def requeue(self, order: Order, price: int, seq: int) -> None:
        """Move resting ``order`` to the back of the level at ``price``: exactly ``remove``,
        then ``order.price = price``, then ``add`` (one call on the hot path of order moves)."""
        levels = self.levels
        remaining = order.remaining
        old = order.price
        level = levels[old]
        level.live -= 1
        level.total -= remaining
        target = levels.get(price)
        if not level.live:
            del levels[old]
            if target is None:
                # the emptied level object serves the new price (no live entry refers to it):
                # the same state as deleting it and creating a fresh one
                level.queue.clear()
                level.price = price
                target = levels[price] = level
                heap = self.heap
                heappush(heap, price * self._sign)
                if len(heap) > 64 + 2 * len(levels):
                    self._rebuild_heap()
        elif len(level.queue) > 16 + 2 * level.live:
            level.queue = deque(e for e in level.queue if e[1].queue_seq == e[0])
        order.price = price
        if target is None:
            target = levels[price] = Level(price)
            heap = self.heap
            heappush(heap, price * self._sign)
            if len(heap) > 64 + 2 * len(levels):
                self._rebuild_heap()
        target.queue.append((seq, order))
        target.live += 1
        target.total += remaining
        order.queue_seq = seq
        order.resting = True

    def reduce(self, order: Order, amount: int) -> None:
        """``order`` (resting) lost ``amount`` of its remaining in place (fill or decrease)."""
        self.levels[order.price].total -= amount

    def prices(self) -> list[int]:
        """Live prices, best first."""
        return sorted(self.levels, reverse=self.is_bid)

    def _rebuild_heap(self) -> None:
        sign = self._sign
        self.heap = [p * sign for p in self.levels]
        heapify(self.heap)
