"""A tiny deterministic stand-in for ``core.Exchange`` so store/sequencer tests do not depend on
the matching engine being finished. It keeps the contract that matters here: ``apply`` is a pure
function of (state, command, seq, ts), ``state_hash`` is equal for equal histories, and
``snapshot``/``restore`` round-trip the state exactly."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from venue.core.commands import (
    CancelOrder,
    CreateUser,
    Deposit,
    SubmitOrder,
    Withdraw,
)
from venue.core.orders import OrderState
from venue.core.events import OrderAccepted, RequestCompleted, RequestRejected, UserCreated, WalletChanged


class FakeExchange:
    def __init__(self, registry: Any = None) -> None:
        self.registry = registry
        self.users: dict[int, str] = {}
        self.balances: dict[str, int] = {}  # "user:currency" -> raw
        self.orders: dict[int, tuple[int, str, int, int | None]] = {}
        self.next_order_id = 1
        self.applied: list[tuple[int, int]] = []  # (seq, ts) of every command seen
        self.chain = ""  # hash chain over every (seq, ts, command) applied

    def apply(self, command: Any, *, seq: int, ts: int) -> list[Any]:
        self.applied.append((seq, ts))
        self.chain = hashlib.sha256((self.chain + repr((seq, ts, command))).encode()).hexdigest()
        if isinstance(command, CreateUser):
            user_id = len(self.users) + 1
            self.users[user_id] = command.name
            return [UserCreated(user_id, command.name, command.email, ts)]
        if isinstance(command, Deposit):
            key = f"{command.user_id}:{command.currency}"
            self.balances[key] = self.balances.get(key, 0) + command.amount
            return [
                WalletChanged(command.user_id, "exchange", command.currency, self.balances[key], self.balances[key]),
                RequestCompleted(command.user_id, "deposit"),
            ]
        if isinstance(command, Withdraw):
            key = f"{command.user_id}:{command.currency}"
            if self.balances.get(key, 0) < command.amount:
                return [RequestRejected(command.user_id, "acc_wd", 10001, "not enough balance", command)]
            self.balances[key] -= command.amount
            return [RequestCompleted(command.user_id, "acc_wd")]
        if isinstance(command, SubmitOrder):
            order_id = self.next_order_id
            self.next_order_id += 1
            self.orders[order_id] = (command.user_id, command.symbol, command.amount, command.price)
            order = OrderState(
                order_id, command.user_id, command.symbol, command.type, ts, ts,
                command.amount, command.amount, command.price or 0, "ACTIVE",
            )
            return [OrderAccepted(order), RequestCompleted(command.user_id, "on", (order,))]
        if isinstance(command, CancelOrder):
            if command.order_id not in self.orders:
                return [RequestRejected(command.user_id, "oc", 10001, "Order not found", command)]
            del self.orders[command.order_id]
            return [RequestCompleted(command.user_id, "oc")]
        if getattr(command, "explode", False):
            raise RuntimeError("core bug")
        return []

    def _state(self) -> dict[str, Any]:
        return {
            "users": sorted(self.users.items()),
            "balances": sorted(self.balances.items()),
            "orders": sorted((k, list(v)) for k, v in self.orders.items()),
            "next_order_id": self.next_order_id,
            "chain": self.chain,
        }

    def state_hash(self) -> str:
        return hashlib.sha256(orjson.dumps(self._state())).hexdigest()

    def snapshot(self) -> bytes:
        return orjson.dumps(self._state())

    @classmethod
    def restore(cls, registry: Any, data: bytes) -> "FakeExchange":
        state = orjson.loads(data)
        exchange = cls(registry)
        exchange.users = {int(k): v for k, v in state["users"]}
        exchange.balances = dict(state["balances"])
        exchange.orders = {int(k): tuple(v) for k, v in state["orders"]}  # type: ignore[misc]
        exchange.next_order_id = state["next_order_id"]
        exchange.chain = state["chain"]
        return exchange
