"""Property tests: random command streams keep every invariant after every command
(design.md "Conservation"), snapshots restore exactly, and a differential test against a
deliberately simple reference matcher."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collections import Counter

from venue.core.commands import CancelOrder, Command, CreateUser, SubmitOrder, UpdateOrder
from venue.core.events import (
    Event, OrderAccepted, OrderClosed, OrderUpdated, RequestCompleted, RequestRejected,
    TradeExecuted,
)
from venue.core.exchange import Exchange
from venue.core.orders import OrderType

from tests.core import workload
from tests.core.harness import REGISTRY, Venue, amt, check_invariants, px

steps = st.lists(
    st.tuples(st.sampled_from(workload.KINDS), *(st.integers(0, 1 << 30) for _ in range(5))),
    min_size=1, max_size=60,
)


def _funded_venue() -> Venue:
    v = Venue()
    for name in ("a", "b", "c", "d"):
        v.apply(CreateUser(name))
    for command in workload.funding():
        v.apply(command)
    return v


class EventChecks:
    """Checks made on the events of every command, from the outside: closed orders never
    trade again, every order snapshot's filled part (|original| − |remaining|) is exactly what
    its trades add up to, an executed order has nothing left and a cancelled one something."""

    def __init__(self) -> None:
        self.traded: Counter[int] = Counter()
        self.expired = 0

    def check(self, v: Venue, events: list[Event], closed_before: set[int]) -> None:
        for e in events:
            if isinstance(e, TradeExecuted):
                assert e.maker_order_id not in closed_before
                assert e.taker_order_id not in closed_before
                self.traded[e.maker_order_id] += abs(e.amount)
                self.traded[e.taker_order_id] += abs(e.amount)
            elif isinstance(e, (OrderAccepted, OrderUpdated, OrderClosed)):
                o = e.order
                assert abs(o.amount_orig) - abs(o.amount) == self.traded[o.id], o
                assert o.amount_orig and (o.amount == 0 or (o.amount > 0) == (o.amount_orig > 0)), o
                if isinstance(e, OrderClosed):
                    assert (o.amount == 0) == o.status.startswith("EXECUTED @ "), o
                    if o.tif_ts is not None and o.tif_ts <= v.ts:
                        self.expired += 1


def _apply_checked(v: Venue, command: Command, checks: EventChecks) -> list[Event]:
    """Apply ``command`` and check everything after it; a refused command (one lone
    RequestRejected) must leave the whole state exactly as it was (validate, then mutate)."""
    closed_before = set(v.closed_ids)
    before = v.ex.state_hash()
    events = v.apply(command)
    if len(events) == 1 and isinstance(events[0], RequestRejected):
        assert v.ex.state_hash() == before, events[0]
    checks.check(v, events, closed_before)
    check_invariants(v)
    return events


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_invariants_hold_after_every_command_of_a_random_stream(stream: list[tuple]) -> None:
    v = _funded_venue()
    checks = EventChecks()
    for step in stream:
        _apply_checked(v, workload.to_command(v.ex, step, now=v.ts + 1), checks)
    restored = Exchange.restore(REGISTRY, v.ex.snapshot())
    assert restored.state_hash() == v.ex.state_hash()
    follow = workload.to_command(v.ex, ("submit", 1, 2, 3, 4, 5))
    assert restored.apply(follow, seq=0, ts=v.ts + 1) == v.ex.apply(follow, seq=0, ts=v.ts + 1)


def test_a_long_seeded_stream_with_expiries_keeps_every_check_after_every_command() -> None:
    rng = random.Random(7)
    v = _funded_venue()
    checks = EventChecks()
    restored = None
    for i in range(1500):
        if i == 300:  # from here on a restored twin must answer every command identically
            restored = Exchange.restore(REGISTRY, v.ex.snapshot())
        command = workload.to_command(v.ex, workload.random_step(rng), now=v.ts + 1)
        if restored is not None:
            twin = restored.apply(command, seq=v.seq + 1, ts=v.ts + 1)
        events = _apply_checked(v, command, checks)
        if restored is not None:
            assert twin == events, i
    assert restored is not None and restored.state_hash() == v.ex.state_hash()
    assert checks.expired > 20, "the stream must exercise tif expiry"


def test_a_long_seeded_stream_keeps_the_invariants() -> None:
    rng = random.Random(20240601)
    v = _funded_venue()
    for _ in range(3000):
        v.apply(workload.to_command(v.ex, workload.random_step(rng)))
        check_invariants(v)
    restored = Exchange.restore(REGISTRY, v.ex.snapshot())
    assert restored.snapshot() == v.ex.snapshot()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(90, 99), st.integers(101, 115), st.integers(20, 600),
       st.booleans())
def test_an_accepted_oco_buy_is_always_covered_whichever_leg_runs(
    tenths: int, limit: int, stop: int, usd: int, fill_limit_first: bool,
) -> None:
    """An OCO buy is accepted exactly when the balance covers its dearer leg; once accepted,
    its stop leg triggered at its price executes in full (never INSUFFICIENT BALANCE) and its
    limit leg fills, with every invariant kept after every command."""
    v = Venue()
    checks = EventChecks()
    seed = v.user("seed", BTC="100", USD="100000")
    v.apply(SubmitOrder(seed, "tBTCUSD", OrderType.EXCHANGE_LIMIT, -amt("0.01"), px(100)))
    v.apply(SubmitOrder(seed, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amt("0.01"), px(100)))
    u = v.user("u", USD=str(usd))
    amount = amt(tenths) // 10
    events = _apply_checked(v, SubmitOrder(u, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amount,
                                           px(limit), flags=16384, price_oco_stop=px(stop)),
                            checks)
    dearer = amount * max(limit, stop)  # raw USD: a raw amount times a whole price
    if amt(usd) < dearer:
        assert isinstance(events[0], RequestRejected) and "exchange balance" in events[0].text
        return
    limit_id, stop_id = (e.order.id for e in events if isinstance(e, OrderAccepted))
    assert v.balance(u, "USD")[1] == amt(usd) - dearer
    if fill_limit_first:
        _apply_checked(v, SubmitOrder(seed, "tBTCUSD", OrderType.EXCHANGE_LIMIT, -amount,
                                      px(limit)), checks)
        assert limit_id in v.closed_ids and stop_id in v.closed_ids
        return
    _apply_checked(v, SubmitOrder(seed, "tBTCUSD", OrderType.EXCHANGE_LIMIT, -amt(10), px(stop)),
                   checks)
    events = _apply_checked(v, SubmitOrder(seed, "tBTCUSD", OrderType.EXCHANGE_LIMIT,
                                           amt("0.01"), px(stop)), checks)
    closed = {e.order.id: e.order for e in events if isinstance(e, OrderClosed)}
    assert closed[limit_id].status == "CANCELED"
    assert closed[stop_id].status.startswith("EXECUTED @ "), closed[stop_id].status


# -- differential test against a reference matcher -----------------------------------------------


class ReferenceBook:
    """The simplest correct matcher: a list of resting orders, scanned in full every time."""

    def __init__(self) -> None:
        # [id, is_buy, price, remaining, arrival, flags]
        self.resting: list[list[int]] = []
        self.arrival = 0

    def submit(self, oid: int, kind: str, amount: int, price: int | None, flags: int = 0
               ) -> list[tuple]:
        is_buy = amount > 0
        left = abs(amount)

        def crosses(o: list[int]) -> bool:
            if o[1] == is_buy:
                return False
            return price is None or (o[2] <= price if is_buy else o[2] >= price)

        candidates = sorted((o for o in self.resting if crosses(o)),
                            key=lambda o: (o[2] if is_buy else -o[2], o[4]))
        if kind == "FOK" and sum(o[3] for o in candidates) < left:
            return []
        if flags & 4096 and any(not o[5] & 64 for o in candidates):
            return []  # post-only would take a visible order (it may take hidden ones)
        fills = []
        for o in candidates:
            if not left:
                break
            take = min(left, o[3])
            fills.append((o[0], o[2], take))
            o[3] -= take
            left -= take
        self.resting = [o for o in self.resting if o[3]]
        if left and kind == "LIMIT":
            self.arrival += 1
            self.resting.append([oid, is_buy, price, left, self.arrival,  # type: ignore[list-item]
                                 flags])
        return fills

    def find(self, oid: int) -> list[int]:
        return next(o for o in self.resting if o[0] == oid)

    def cancel(self, oid: int) -> None:
        self.resting.remove(self.find(oid))

    def amend(self, oid: int, price: int | None = None, remaining: int | None = None
              ) -> list[tuple]:
        """The update rules of exchange.py: a smaller amount keeps the order's place; a new
        price or a larger amount sends it to the back of its level, and a new price that
        crosses trades at once, as a new taker would."""
        o = self.find(oid)
        new_price = o[2] if price is None else price
        new_left = o[3] if remaining is None else remaining
        if new_price == o[2] and new_left <= o[3]:
            o[3] = new_left
            return []
        self.resting.remove(o)
        return self.submit(oid, "LIMIT", new_left if o[1] else -new_left, new_price, o[5])

    def book(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(id, remaining) of bids and asks, each in priority order: best price, then oldest."""
        bids = sorted((o for o in self.resting if o[1]), key=lambda o: (-o[2], o[4]))
        asks = sorted((o for o in self.resting if not o[1]), key=lambda o: (o[2], o[4]))
        return [(o[0], o[3]) for o in bids], [(o[0], o[3]) for o in asks]


def _book(v: Venue) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    bids, asks = v.ex.book_orders("tBTCUSD")
    return [(o.id, abs(o.amount)) for o in bids], [(o.id, abs(o.amount)) for o in asks]


def _fills(events: list) -> list[tuple]:
    return [(e.maker_order_id, e.price, abs(e.amount)) for e in events
            if isinstance(e, TradeExecuted)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(("LIMIT", "LIMIT", "MARKET", "IOC", "FOK")),
                          st.integers(1, 30), st.booleans(), st.integers(95, 105)),
                min_size=1, max_size=80))
def test_matching_agrees_with_a_simple_reference_matcher(orders: list[tuple]) -> None:
    v = Venue()
    whale = v.user("whale", BTC="100000", USD="100000000")
    reference = ReferenceBook()
    for kind, size, buy, price in orders:
        amount = amt(size) // 10 * (1 if buy else -1)
        limit = None if kind == "MARKET" else px(price)
        events = v.apply(SubmitOrder(whale, "tBTCUSD", OrderType("EXCHANGE " + kind), amount,
                                     limit))
        oid = next(e.order.id for e in events if isinstance(e, OrderAccepted))
        assert _fills(events) == reference.submit(oid, kind, amount, limit)
        assert _book(v) == reference.book()
    check_invariants(v)


# few prices, so that levels hold several orders and their order within a level matters
_submits = st.tuples(st.just("submit"), st.sampled_from(("LIMIT", "LIMIT", "MARKET", "IOC", "FOK")),
                     st.integers(1, 30), st.booleans(), st.integers(98, 102),
                     st.sampled_from((0, 0, 64, 4096)))
_changes = st.tuples(st.sampled_from(("cancel", "price", "amount")), st.integers(0, 999),
                     st.integers(98, 102), st.integers(1, 30))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_submits, _submits, _changes), min_size=1, max_size=80))
def test_cancels_and_updates_agree_with_the_reference_matcher(ops: list[tuple]) -> None:
    _compare_with_the_reference(ops)


def test_long_seeded_streams_of_cancels_and_updates_agree_with_the_reference_matcher() -> None:
    # hypothesis keeps its lists short; these streams are long enough to stack several orders
    # on a level before one of them is resized or moved
    for seed in range(60):
        rng = random.Random(seed)
        ops: list[tuple] = []
        for _ in range(80):
            if rng.random() < 0.6:
                ops.append(("submit", rng.choice(("LIMIT", "LIMIT", "MARKET", "IOC", "FOK")),
                            rng.randint(1, 30), rng.random() < 0.5, rng.randint(98, 102),
                            rng.choice((0, 0, 64, 4096))))
            else:
                ops.append((rng.choice(("cancel", "price", "amount")), rng.randrange(1000),
                            rng.randint(98, 102), rng.randint(1, 30)))
        _compare_with_the_reference(ops)


def _compare_with_the_reference(ops: list[tuple]) -> None:
    """Every fill (maker, price, amount) and the whole book in priority order after each
    command, with hidden and post-only orders, orders cancelled, moved to other prices
    (crossing ones trade) and resized."""
    v = Venue()
    whale = v.user("whale", BTC="100000", USD="100000000")
    reference = ReferenceBook()
    for op in ops:
        if op[0] == "submit":
            _, kind, size, buy, price, flags = op
            amount = amt(size) // 10 * (1 if buy else -1)
            limit = None if kind == "MARKET" else px(price)
            events = v.apply(SubmitOrder(whale, "tBTCUSD", OrderType("EXCHANGE " + kind), amount,
                                         limit, flags=flags))
            oid = next(e.order.id for e in events if isinstance(e, OrderAccepted))
            expected = reference.submit(oid, kind, amount, limit, flags)
        else:
            kind, pick, price, size = op
            if not reference.resting:
                continue
            oid, is_buy = reference.resting[pick % len(reference.resting)][:2]
            if kind == "cancel":
                events = v.apply(CancelOrder(whale, oid))
                reference.cancel(oid)
                expected = []
            elif kind == "price":
                events = v.apply(UpdateOrder(whale, oid, price=px(price)))
                expected = reference.amend(oid, price=px(price))
            else:
                remaining = amt(size) // 10
                events = v.apply(UpdateOrder(whale, oid,
                                             amount=remaining if is_buy else -remaining))
                expected = reference.amend(oid, remaining=remaining)
            assert isinstance(events[-1], RequestCompleted), events[-1]
        assert _fills(events) == expected
        assert _book(v) == reference.book()
    check_invariants(v)
