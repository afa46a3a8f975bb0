"""A seeded load of accounts, deposits, orders (crossing, so trades happen), cancels and refused
withdrawals, for the crash tests. Shared by the child process (which submits it) and the tests.

``LoadState`` learns order ids from the events it is given, so the same generator drives the
real core (``OrderAccepted`` events) and the test fake.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from venue.core.commands import (
    CancelOrder,
    CreateUser,
    Deposit,
    SubmitOrder,
    Withdraw,
)
from venue.core.orders import OrderType

COIN = 100_000_000  # raw units per 1 (core/numbers.py: 1e-8)


def events_digest(events: list[Any]) -> str:
    """A short fingerprint of a command's events (equal events, equal digest)."""
    return hashlib.sha256(repr(events).encode()).hexdigest()[:16]


class LoadState:
    """Per-process client state: known users and open order ids."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.users: list[int] = []
        self.open_orders: list[tuple[int, int]] = []  # (user_id, order_id)

    def learn(self, events: list[Any]) -> None:
        for event in events:
            name = type(event).__name__
            if name == "UserCreated":
                self.users.append(event.user_id)
            order = getattr(event, "order", None)
            if order is None or name == "RequestRejected":
                continue
            if name == "OrderAccepted":
                self.open_orders.append((order.user_id, order.id))
            elif name == "OrderClosed":
                key = (order.user_id, order.id)
                if key in self.open_orders:
                    self.open_orders.remove(key)

    def next_command(self) -> Any:
        rng = self.rng
        if len(self.users) < 4 or rng.random() < 0.01:
            return CreateUser(f"load{rng.randrange(10**9)}", "")
        user = rng.choice(self.users)
        roll = rng.random()
        if roll < 0.12:
            currency = rng.choice(("USD", "BTC"))
            amount = rng.randrange(1, 50) * (1_000 * COIN if currency == "USD" else COIN)
            return Deposit(user, currency, amount)
        if roll < 0.70:
            side = 1 if rng.random() < 0.5 else -1
            # prices around 30000 with a small spread, so buys and sells cross and trade
            price = (30_000 + rng.randrange(-20, 21) * 5) * COIN
            amount = side * rng.randrange(1, 20) * COIN // 100
            return SubmitOrder(user, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amount, price)
        if roll < 0.92 and self.open_orders:
            owner, order_id = self.open_orders[rng.randrange(len(self.open_orders))]
            return CancelOrder(owner, order_id=order_id)
        # mostly refused (too much): rejections are journaled like everything else
        return Withdraw(user, "USD", rng.randrange(1, 10**6) * COIN)
