"""Random command streams for property, determinism and differential tests.

``Step`` values are abstract choices (indices, grid positions) made by hypothesis or a seeded
``random.Random``; ``to_command`` turns one into a concrete command against the current state, so
that updates and cancels mostly name orders that exist.
"""

from __future__ import annotations

import random
from typing import Any

from venue.core.commands import (
    CancelAllOrders, CancelOrder, CancelOrders, Command, Deposit, MultiOp, SubmitOrder, Tick,
    Transfer, UpdateOrder, Withdraw,
)
from venue.core.exchange import Exchange
from venue.core.orders import OrderType

from tests.core.harness import amt, px

SYMBOLS = ("tBTCUSD", "tETHBTC")
PRICES = {"tBTCUSD": [px(p) for p in range(95, 106)],
          "tETHBTC": [px(f"0.0{p}") for p in range(30, 37)]}
AMOUNTS = {"tBTCUSD": [amt(a) for a in ("0.001", "0.01", "0.1", "0.5", "1", "2.5")],
           "tETHBTC": [amt(a) for a in ("0.001", "0.05", "0.5", "1", "3")]}
TYPES = (
    OrderType.EXCHANGE_LIMIT, OrderType.EXCHANGE_LIMIT, OrderType.EXCHANGE_LIMIT,
    OrderType.EXCHANGE_MARKET, OrderType.EXCHANGE_IOC, OrderType.EXCHANGE_FOK,
    OrderType.EXCHANGE_STOP, OrderType.EXCHANGE_STOP_LIMIT, OrderType.EXCHANGE_TRAILING_STOP,
)
FLAG_CHOICES = (0, 0, 0, 64, 4096, 16384)
USERS = (1, 2, 3, 4)
KINDS = ("submit",) * 8 + ("update", "update", "cancel", "cancel_many", "cancel_all",
                             "transfer", "withdraw", "deposit", "tick", "multi")

Step = tuple[Any, ...]


def random_step(rng: random.Random) -> Step:
    return (rng.choice(KINDS), rng.randrange(1 << 30), rng.randrange(1 << 30),
            rng.randrange(1 << 30), rng.randrange(1 << 30), rng.randrange(1 << 30))


def _submit(user: int, a: int, b: int, c: int, now: int | None = None) -> SubmitOrder:
    symbol = SYMBOLS[a % len(SYMBOLS)]
    prices = PRICES[symbol]
    amounts = AMOUNTS[symbol]
    order_type = TYPES[b % len(TYPES)]
    price = prices[(b >> 4) % len(prices)]
    amount = amounts[(c >> 3) % len(amounts)] * (1 if c % 2 else -1)
    kind = order_type.base_kind
    flags = FLAG_CHOICES[(a >> 4) % len(FLAG_CHOICES)]
    extra: dict[str, Any] = {}
    if flags == 16384 and kind != "LIMIT":
        flags = 0
    if flags == 16384:
        extra["price_oco_stop"] = prices[(c >> 6) % len(prices)]
        if now is not None and (c >> 20) % 2:  # property streams: post-only OCO pairs too
            flags |= 4096
    if kind == "STOP LIMIT":
        extra["price_aux_limit"] = prices[(c >> 9) % len(prices)]
    if kind == "TRAILING STOP":
        extra["price_trailing"] = prices[1] - prices[0]
    if now is not None and (c >> 12) % 4 == 0:  # expires a few commands later (1 ms each)
        extra["tif_ts"] = now + 1 + (c >> 14) % 30
    return SubmitOrder(user, symbol, order_type, amount,
                       None if kind in ("MARKET", "TRAILING STOP") else price, flags=flags,
                       client_order_id=c % 5, group_id=a % 3, **extra)


def to_command(ex: Exchange, step: Step, now: int | None = None) -> Command:
    """The command for ``step``; with ``now`` (the command's ts), some orders get a tif."""
    kind, a, b, c, d, e = step
    user = USERS[a % len(USERS)]
    open_orders = [o for o in ex.engine.orders.values() if o.user_id == user]
    target = open_orders[b % len(open_orders)].id if open_orders else b % 50
    if kind == "submit":
        return _submit(user, b, c, d, now)
    if kind == "update":
        symbol_prices = PRICES[ex.engine.orders[target].symbol] if target in ex.engine.orders \
            else PRICES["tBTCUSD"]
        choice = c % 4
        if choice == 0:
            return UpdateOrder(user, target, price=symbol_prices[d % len(symbol_prices)])
        if choice == 1:
            order = ex.engine.orders.get(target)
            sign = 1 if order is None or order.is_buy else -1
            return UpdateOrder(user, target, amount=sign * AMOUNTS["tBTCUSD"][d % 6])
        if choice == 2:
            return UpdateOrder(user, target, delta=(d % 3 - 1) * amt("0.01"))
        return UpdateOrder(user, target, flags=(0, 64, 4096)[d % 3])
    if kind == "cancel":
        return CancelOrder(user, target)
    if kind == "cancel_many":
        return CancelOrders(user, order_ids=(target, c % 50), group_ids=(d % 3,))
    if kind == "cancel_all":
        return CancelAllOrders(user)
    if kind == "transfer":
        wallets = ("exchange", "margin", "funding")
        return Transfer(user, wallets[c % 3], wallets[(c + 1 + d % 2) % 3],
                        ("USD", "BTC", "ETH")[d % 3], amt(("1", "100", "0.5")[e % 3]))
    if kind == "withdraw":
        return Withdraw(user, ("USD", "BTC", "ETH")[c % 3], amt(("1", "50", "0.3")[d % 3]),
                        fee=amt("0.0001") * (e % 2))
    if kind == "deposit":
        return Deposit(user, ("USD", "BTC", "ETH")[c % 3], amt(("10", "500", "2")[d % 3]))
    if kind == "tick":
        return Tick()
    ops = tuple(_submit(user, b + i, c + 7 * i, d + 13 * i, now) for i in range(1 + e % 3))
    return MultiOp(user, ops + (CancelOrder(user, target),))


def funding() -> list[Command]:
    """Initial deposits for the four users (created separately)."""
    out: list[Command] = []
    for user in USERS:
        out += [Deposit(user, "USD", amt(2000)), Deposit(user, "BTC", amt(5)),
                Deposit(user, "ETH", amt(20))]
    return out
