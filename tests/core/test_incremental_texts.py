"""The engine's incremental shortcuts give exactly what the plain definitions give: order status
texts kept up to date fill by fill, ledger texts formatted once per fill, and an order moved
within a book side in one step."""

from __future__ import annotations

import random

from venue.core.book import BookSide, Order
from venue.core.ledger import exchange_text, fill_texts, trading_fee_text
from venue.core.numbers import to_status_text
from venue.core.orders import OrderType
from venue.core.status import (
    PARTIAL, closed_status, executed_status, extend_open, fill_text, final_status, open_status,
)


def test_status_texts_built_fill_by_fill_equal_the_texts_built_from_all_fills() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        fills = [(rng.randrange(1, 10**13), rng.choice((1, -1)) * rng.randrange(1, 10**10))
                 for _ in range(rng.randrange(1, 6))]
        text = "ACTIVE"
        for k in range(len(fills)):
            text = extend_open(text, PARTIAL + fill_text(fills[k]), k == 0)
            assert text == open_status(fills[:k + 1])
        assert final_status(None, fills, text) == executed_status(fills)
        assert final_status("IOC CANCELED", fills, text) == closed_status("IOC CANCELED", fills)
        assert final_status(None, fills, None) == executed_status(fills)
    assert final_status("CANCELED", [], "ACTIVE") == "CANCELED"


def test_fill_texts_are_the_exchange_and_trading_fee_texts() -> None:
    amount, price = 50_000_000, 815_000_000_000
    texts = fill_texts(to_status_text(amount), "BTC", "USD", "BTCUSD", to_status_text(price),
                       2000, 1000)
    assert texts == (exchange_text(amount, "BTC", "USD", price),
                     trading_fee_text(amount, "BTC", "BTCUSD", price, 2000),
                     trading_fee_text(amount, "BTC", "BTCUSD", price, 1000))
    assert texts[1] == ("Trading fees for 0.5 BTC (BTCUSD) @ 8150.0 on BFX (0.2%) on wallet "
                        "exchange")


def _levels(side: BookSide) -> list[tuple[int, int, int, list[int]]]:
    return [(p, side.levels[p].live, side.levels[p].total,
             [o.id for o in side.levels[p].orders()]) for p in side.prices()]


def test_requeue_is_remove_then_add_at_the_new_price() -> None:
    rng = random.Random(5)
    one, two = BookSide(is_bid=True), BookSide(is_bid=True)
    orders: dict[BookSide, list[Order]] = {one: [], two: []}
    for side in (one, two):
        for i in range(60):
            order = Order(i, 1, "tBTCUSD", OrderType.EXCHANGE_LIMIT, True, 10 + i, 100 + i % 9, 0)
            side.add(order, i + 1)
            orders[side].append(order)
    for seq in range(100, 3000):
        i, price = rng.randrange(60), 100 + rng.randrange(12)
        a, b = orders[one][i], orders[two][i]
        if price == a.price:
            continue
        one.requeue(a, price, seq)
        two.remove(b)
        b.price = price
        two.add(b, seq)
        assert _levels(one) == _levels(two)
        assert one.best() == two.best()
