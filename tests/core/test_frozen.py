"""The fast event constructors build objects indistinguishable from the dataclasses' own."""

from __future__ import annotations

import dataclasses

import pytest

from venue.core.book import Order
from venue.core.events import WalletChanged
from venue.core.frozen import new_wallet_changed
from venue.core.orders import OrderState, OrderType


def test_a_fast_wallet_event_equals_one_built_by_its_dataclass() -> None:
    fast = new_wallet_changed(1, "exchange", "USD", 10, 5, "x")
    assert type(fast) is WalletChanged
    assert fast == WalletChanged(1, "exchange", "USD", 10, 5, "x")
    assert repr(fast) == repr(WalletChanged(1, "exchange", "USD", 10, 5, "x"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.balance = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        new_wallet_changed(1, "exchange")


def test_an_order_snapshot_equals_the_dataclass_built_from_the_same_values() -> None:
    order = Order(7, 2, "tBTCUSD", OrderType.EXCHANGE_LIMIT, False, 5, 100, 1000)
    order.fills.append((100, -2))
    order.filled, order.filled_value, order.remaining = 2, 200, 3
    order.open_text = None
    state = order.state()
    expected = OrderState(
        id=7, user_id=2, symbol="tBTCUSD", type=OrderType.EXCHANGE_LIMIT, created_ts=1000,
        updated_ts=1000, amount=-3, amount_orig=-5, price=100,
        status="PARTIALLY FILLED @ 0.000001(-0.00000002)", price_avg=100,
    )
    assert state == expected and repr(state) == repr(expected)
