"""The views fed by the real core: the public book always equals the core's visible resting
orders, and trades reach tickers, candles and history."""

from __future__ import annotations

import random

import pytest

from venue.core.commands import CancelOrder, CreateUser, Deposit, SubmitOrder, UpdateOrder
from venue.core.events import OrderAccepted, TradeExecuted
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderFlag, OrderType
from venue.core.symbols import load_registry
from venue.views.books import aggregate_price
from venue.views.market_data import MarketData

exchange_module = pytest.importorskip("venue.core.exchange")
T0 = 1_700_000_000_000
REGISTRY = load_registry()


def make_exchange():
    try:
        return exchange_module.Exchange(REGISTRY)
    except NotImplementedError:
        pytest.skip("core Exchange not implemented yet")


def expected_raw(exchange, symbol):
    bids, asks = exchange.book_orders(symbol)
    rows = []
    for side, sign in ((bids, 1), (asks, -1)):
        visible = [o for o in side if not o.hidden]
        visible.sort(key=lambda o: (-sign * o.price, o.id))
        rows += [(o.id, o.price, o.amount) for o in visible]
    return rows


def expected_levels(exchange, symbol, figures):
    levels: dict[tuple[int, int], list[int]] = {}
    bids, asks = exchange.book_orders(symbol)
    for order in [*bids, *asks]:
        if order.hidden:
            continue
        side = 0 if order.amount > 0 else 1
        price = aggregate_price(order.price, figures, side == 1)
        level = levels.setdefault((side, price), [0, 0])
        level[0] += 1
        level[1] += order.amount
    bid_rows = sorted(((p, *v) for (s, p), v in levels.items() if s == 0), key=lambda r: -r[0])
    ask_rows = sorted(((p, *v) for (s, p), v in levels.items() if s == 1), key=lambda r: r[0])
    return [tuple(r) for r in bid_rows + ask_rows]


def test_random_workload_keeps_views_equal_to_the_core():
    exchange = make_exchange()
    md = MarketData(REGISTRY)
    rng = random.Random(7)
    seq = 0
    ts = T0

    def run(command):
        nonlocal seq, ts
        seq += 1
        ts += rng.randint(1, 20_000)
        events = exchange.apply(command, seq=seq, ts=ts)
        md.apply(seq, ts, events)
        return events

    users = []
    for name in ("alice", "bob", "carol"):
        events = run(CreateUser(name))
        user_id = events[0].user_id
        run(Deposit(user_id, "USD", parse_amount("10000000")))
        run(Deposit(user_id, "BTC", parse_amount("1000")))
        users.append(user_id)

    open_ids: list[tuple[int, int]] = []
    trades = []
    top = md.books.track("tBTCUSD", "P0", 25)
    for _ in range(600):
        roll = rng.random()
        user = rng.choice(users)
        if roll < 0.6 or not open_ids:
            buy = rng.random() < 0.5
            price = parse_price(str(rng.randint(99_900, 100_100) / 10))
            amount = parse_amount(str(rng.randint(1, 300) / 100)) * (1 if buy else -1)
            flags = int(OrderFlag.HIDDEN) if rng.random() < 0.1 else 0
            events = run(SubmitOrder(user, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amount, price,
                                     flags=flags))
        elif roll < 0.8:
            owner, order_id = rng.choice(open_ids)
            events = run(CancelOrder(owner, order_id))
        else:
            owner, order_id = rng.choice(open_ids)
            price = parse_price(str(rng.randint(99_900, 100_100) / 10))
            events = run(UpdateOrder(owner, order_id, price=price))
        for event in events:
            if isinstance(event, OrderAccepted):
                open_ids.append((event.order.user_id, event.order.id))
            if isinstance(event, TradeExecuted):
                trades.append(event)
        live = {o.id for s in exchange.book_orders("tBTCUSD") for o in s}
        open_ids = [(u, i) for u, i in open_ids if i in live]
        assert md.books.snapshot("tBTCUSD", "R0", 10_000) == expected_raw(exchange, "tBTCUSD")
        top.updates()
        assert top.rows() == md.books.snapshot("tBTCUSD", "P0", 25)
    for prec, figures in (("P0", 5), ("P1", 4), ("P3", 2)):
        assert md.books.snapshot("tBTCUSD", prec, 10_000) == expected_levels(
            exchange, "tBTCUSD", figures)
    assert len(trades) > 50, "the workload should trade"
    stored = md.public_trades("tBTCUSD", limit=10_000, sort=1)
    assert [t[0] for t in stored] == [t.trade_id for t in trades]
    row = md.tickers.row("tBTCUSD")
    assert row.last_price == trades[-1].price
    assert md.candles.last("tBTCUSD", "1m")[2] == trades[-1].price
    window = [t for t in trades if t.ts - t.ts % 60_000 >= ts - ts % 60_000 - 1439 * 60_000]
    assert row.volume == sum(abs(t.amount) for t in window)


def test_books_seeded_from_a_core_match_books_fed_by_its_events():
    exchange = make_exchange()
    fed = MarketData(REGISTRY)
    seq = 0

    def run(command):
        nonlocal seq
        seq += 1
        events = exchange.apply(command, seq=seq, ts=T0 + seq)
        fed.apply(seq, T0 + seq, events)
        return events

    user = run(CreateUser("dave"))[0].user_id
    run(Deposit(user, "USD", parse_amount("1000000")))
    run(Deposit(user, "ETH", parse_amount("1000")))
    for i in range(20):
        side = 1 if i % 2 else -1
        price = parse_price(str(3000 - side * (5 + i)))
        flags = int(OrderFlag.HIDDEN) if i % 7 == 0 else 0
        run(SubmitOrder(user, "tETHUSD", OrderType.EXCHANGE_LIMIT, side * parse_amount("0.5"),
                        price, flags=flags))
    seeded = MarketData(REGISTRY)
    seeded.seed_books_from(exchange)
    for prec in ("R0", "P0", "P2", "P4"):
        assert seeded.books.snapshot("tETHUSD", prec, 100) == fed.books.snapshot("tETHUSD", prec, 100)
    assert len(seeded.books.snapshot("tETHUSD", "R0", 100)) == 17  # 3 of 20 are hidden
