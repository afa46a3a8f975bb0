"""Pending stop orders of one market and when they trigger (spec §6.1).

- A buy stop triggers when the last trade price is >= its price, a sell stop when it is <= its
  price; STOP becomes a market order, STOP LIMIT a limit order at ``price_aux_limit``.
- A trailing stop keeps ``trail_ref``, the best last price seen since it was placed (highest
  for a sell, lowest for a buy), and its trigger price ``price`` = ``trail_ref`` ∓
  ``price_trailing``; it triggers like a stop at that price. Stops whose trigger moved during a
  command are kept in ``moved`` so the engine reports each once (OrderUpdated) at its end, in
  order id order (the order of ``trailing`` is not part of the snapshot).
- Fixed stops sit in two heaps with lazy deletion: an entry ``(key, seq, order id)`` is live only
  while the order is still pending with that ``stop_seq``. Triggered orders are returned sorted by
  order id, so the outcome never depends on heap layout (and a restored state triggers alike).
"""

from __future__ import annotations

from heapq import heappop, heappush

from venue.core.book import TRAILING_STOP, Order


class StopBook:
    __slots__ = ("buys", "sells", "trailing", "orders", "moved", "_seq")

    def __init__(self) -> None:
        self.buys: list[tuple[int, int, int]] = []  # (price, seq, id): lowest trigger on top
        self.sells: list[tuple[int, int, int]] = []  # (-price, seq, id): highest trigger on top
        self.trailing: dict[int, Order] = {}  # insertion (placement) order
        self.orders: dict[int, Order] = {}  # every pending stop of the market, by id
        self.moved: dict[int, Order] = {}  # trailing stops whose price moved, in move order
        self._seq = 0

    def __len__(self) -> int:
        return len(self.orders)

    def add(self, order: Order, last: int) -> None:
        """Register a pending stop (or re-register one whose prices changed)."""
        self._seq += 1
        order.stop_seq = self._seq
        order.stop_pending = True
        self.orders[order.id] = order
        if order.kind == TRAILING_STOP:
            order.trail_ref = last
            order.price = _trail_price(order)
            self.trailing[order.id] = order
        elif order.is_buy:
            heappush(self.buys, (order.price, self._seq, order.id))
        else:
            heappush(self.sells, (-order.price, self._seq, order.id))

    def remove(self, order: Order) -> None:
        """Forget a stop (triggered or cancelled); its heap entry dies in place."""
        order.stop_pending = False
        order.stop_seq = 0
        del self.orders[order.id]
        self.trailing.pop(order.id, None)

    def observe(self, price: int) -> None:
        """A trade at ``price``: trailing stops follow the market."""
        for order in self.trailing.values():
            if (price < order.trail_ref) if order.is_buy else (price > order.trail_ref):
                order.trail_ref = price
                order.price = _trail_price(order)
                self.moved[order.id] = order

    def triggered(self, last: int) -> list[Order]:
        """Pop every stop the last price ``last`` triggers, oldest order id first."""
        out: list[Order] = []
        orders = self.orders
        buys = self.buys
        while buys and buys[0][0] <= last:
            _, seq, oid = heappop(buys)
            order = orders.get(oid)
            if order is not None and order.stop_seq == seq:
                out.append(order)
        sells = self.sells
        while sells and -sells[0][0] >= last:
            _, seq, oid = heappop(sells)
            order = orders.get(oid)
            if order is not None and order.stop_seq == seq:
                out.append(order)
        for order in self.trailing.values():
            if (last >= order.price) if order.is_buy else (last <= order.price):
                out.append(order)
        for order in out:
            self.remove(order)
        out.sort(key=lambda o: o.id)
        return out


def _trail_price(order: Order) -> int:
    if order.is_buy:
        return order.trail_ref + order.price_trailing
    return max(order.trail_ref - order.price_trailing, 1)
