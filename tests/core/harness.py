"""A small driver for the exchange core in tests: a ticking clock, users with funds, and the
invariants of design.md checked on demand (``check_invariants``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from venue.core.commands import Command, CreateUser, Deposit, SubmitOrder
from venue.core.events import (
    Event, LedgerEntryAdded, MovementRecorded, OrderAccepted, OrderClosed, OrderUpdated, RequestCompleted,
    RequestRejected, TradeExecuted, WalletChanged,
)
from venue.core.exchange import Exchange
from venue.core.numbers import SCALE, parse_amount, parse_price
from venue.core.orders import OrderType
from venue.core.symbols import Registry, load_registry

REGISTRY = load_registry()
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def amt(text: str | int) -> int:
    return parse_amount(str(text))


def px(text: str | int) -> int:
    return parse_price(str(text))


class Venue:
    """An exchange with a clock that moves 1 ms per command, and a running record of the net
    external flow per currency (deposits − withdrawals) for the conservation check."""

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self.ex = Exchange(registry)
        self.ts = T0
        self.seq = 0
        self.external: Counter[str] = Counter()
        self.closed_ids: set[int] = set()
        self.ledger_balance: dict[tuple[int, str, str], int] = {}

    def apply(self, command: Command, *, at: int | None = None) -> list[Event]:
        self.seq += 1
        self.ts = at if at is not None else self.ts + 1
        events = self.ex.apply(command, seq=self.seq, ts=self.ts)
        self._check_ledger(events)
        for e in events:
            if isinstance(e, MovementRecorded):
                self.external[e.currency] += e.amount  # fee stays inside (fee account)
            if isinstance(e, OrderClosed):
                self.closed_ids.add(e.order.id)
        return events

    def _check_ledger(self, events: list[Event]) -> None:
        """Every ledger line moves its wallet's balance by its amount, and each WalletChanged
        shows the balance after the last ledger line of its flush (WalletChanged events come
        first, then the ledger lines they summarise; a multi-op flushes once per op)."""
        pending: list[WalletChanged] = []
        seen_ledger = False

        def settle() -> None:
            for w in pending:
                key = (w.user_id, w.wallet, w.currency)
                assert w.balance == self.ledger_balance.get(key, 0), w
                assert 0 <= w.available <= w.balance, w
            pending.clear()

        for e in events:
            if isinstance(e, WalletChanged):
                if seen_ledger:
                    settle()
                    seen_ledger = False
                pending.append(e)
            elif isinstance(e, LedgerEntryAdded):
                key = (e.user_id, e.wallet, e.currency)
                assert e.balance == self.ledger_balance.get(key, 0) + e.amount, e
                assert e.amount != 0 and e.ts == self.ts
                self.ledger_balance[key] = e.balance
                seen_ledger = True
            else:
                settle()
                seen_ledger = False
        settle()

    def user(self, name: str, **funds: str) -> int:
        events = self.apply(CreateUser(name))
        user_id = events[0].user_id  # type: ignore[union-attr]
        for currency, amount in funds.items():
            self.apply(Deposit(user_id, currency, amt(amount)))
        return user_id

    def order(self, user_id: int, amount: str, price: str | None = None,
              kind: str = "EXCHANGE LIMIT", symbol: str = "tBTCUSD", **kw: Any) -> list[Event]:
        return self.apply(SubmitOrder(user_id, symbol, OrderType(kind), amt(amount),
                                      px(price) if price is not None else None, **kw))

    def balance(self, user_id: int, currency: str) -> tuple[int, int]:
        for w in self.ex.wallets(user_id):
            if w.wallet == "exchange" and w.currency == currency:
                return w.balance, w.available
        return 0, 0


def of_type(events: list[Event], cls: type) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def rejection(events: list[Event]) -> RequestRejected:
    assert len(events) == 1 and isinstance(events[0], RequestRejected), events
    return events[0]


def completed(events: list[Event]) -> RequestCompleted:
    assert isinstance(events[-1], RequestCompleted), events
    return events[-1]


def accepted_id(events: list[Event]) -> int:
    return of_type(events, OrderAccepted)[0].order.id


def last_state(events: list[Event], order_id: int) -> Any:
    found = [e.order for e in events
             if isinstance(e, (OrderAccepted, OrderUpdated, OrderClosed)) and e.order.id == order_id]
    return found[-1]


def trades(events: list[Event]) -> list[TradeExecuted]:
    return of_type(events, TradeExecuted)


def check_invariants(venue: Venue) -> None:
    """design.md: book never crossed, FIFO per level, filled + remaining = original, holds
    match open orders and cover them, no negative balance or available, conservation."""
    ex = venue.ex
    engine = ex.engine
    holds: Counter[tuple[int, str]] = Counter()
    for order in engine.orders.values():
        assert not order.closed
        assert order.id not in venue.closed_ids, "a closed order came back"
        assert order.remaining > 0
        assert order.filled + order.remaining == order.orig
        assert sum(abs(a) for _, a in order.fills) == order.filled
        assert order.hold >= 0
        market = engine.markets[order.symbol].market
        if order.resting:
            if order.is_buy:
                assert order.hold >= order.remaining * order.price // SCALE
            else:
                assert order.hold == order.remaining
        holds[(order.user_id, market.quote if order.is_buy else market.base)] += order.hold
        if order.placed_id is not None and not order.fills:
            # an OCO leg that has not traded still has its partner (one never outlives the other)
            partner = engine.orders.get(order.placed_id)
            assert partner is not None and partner.placed_id == order.id, order.id
            if order.stop_pending:
                # the pair holds what its dearer leg needs: the stop leg, once triggered at
                # its price, is paid for whatever its limit leg costs
                need = (-(-(order.remaining * order.price) // SCALE) if order.is_buy
                        else order.remaining)
                assert order.hold + partner.hold >= need, order.id
    for symbol, ms in engine.markets.items():
        best_bid, best_ask = ms.bids.best(), ms.asks.best()
        if best_bid is not None and best_ask is not None:
            assert best_bid < best_ask, f"{symbol} crossed: {best_bid} >= {best_ask}"
        for side in (ms.bids, ms.asks):
            for price, level in side.levels.items():
                live = [(seq, o) for seq, o in level.queue if o.queue_seq == seq]
                assert live and len(live) == level.live
                seqs = [seq for seq, _ in live]
                assert seqs == sorted(seqs), "FIFO broken"
                assert all(o.price == price and o.resting and o.is_buy == side.is_bid
                           for _, o in live)
                assert level.total == sum(o.remaining for _, o in live)
    totals: Counter[str] = Counter()
    for (user_id, wallet, currency), w in ex.accounts.wallets.items():
        assert w.balance >= 0, (user_id, wallet, currency, w.balance)
        assert w.balance - w.hold >= 0, (user_id, wallet, currency, w.balance, w.hold)
        expected_hold = holds.get((user_id, currency), 0) if wallet == "exchange" else 0
        assert w.hold == expected_hold, (user_id, wallet, currency, w.hold, expected_hold)
        totals[currency] += w.balance
    for currency in set(totals) | set(venue.external):
        assert totals[currency] == venue.external[currency], currency
