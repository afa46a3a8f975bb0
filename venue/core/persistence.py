"""The exchange's state as bytes and back: ``dump`` for ``Exchange.snapshot``, ``load`` for
``Exchange.restore`` (the durability layer stores these bytes; ``state_hash`` hashes them).

Invariants:
- canonical: JSON of plain lists and ints/strings/bools with sorted object keys, so equal
  states give equal bytes in any process and under any PYTHONHASHSEED (no pickle, no sets);
- complete: counters, users, keys, balances, open orders with their fills and holds, each
  market's last price and resting orders in priority order (best price first, oldest first),
  and the preferences sub-state; wallet holds and stop heaps are rebuilt from the orders;
- internal sequence numbers (queue and heap ordering keys) are not part of the state: only the
  order they encode is, so a restored exchange produces exactly the same future events.
"""

from __future__ import annotations

import json
from typing import Any

from venue.core.accounts import Accounts, ApiKey, User
from venue.core.book import Order
from venue.core.matching import Engine
from venue.core.orders import OrderType
from venue.core.preferences import Preferences

SNAPSHOT_VERSION = 1

_ORDER_FIELDS = (
    "id", "user_id", "symbol", "is_buy", "remaining", "orig", "price", "flags", "group_id",
    "client_order_id", "client_order_date", "tif_ts", "created_ts", "updated_ts", "filled",
    "filled_value", "price_trailing", "price_aux_limit", "hidden", "post_only", "placed_id",
    "meta", "hold", "stop_pending", "trail_ref", "routing",
)


def dump(accounts: Accounts, engine: Engine, preferences: Preferences) -> bytes:
    """The whole state as canonical JSON bytes."""
    data = {
        "version": SNAPSHOT_VERSION,
        "counters": [accounts.next_user_id, accounts.next_ledger_id, accounts.next_movement_id,
                     engine.next_order_id, engine.next_trade_id],
        "users": [[u.user_id, u.name, u.email, u.created_ts] for u in accounts.users.values()],
        "keys": [[k.key, k.secret, k.user_id, [list(p) for p in k.permissions], k.created_ts,
                  k.label, k.revoked] for k in accounts.keys.values()],
        "wallets": [[key[0], key[1], key[2], w.balance]
                    for key, w in sorted(accounts.wallets.items(), key=lambda kv: kv[0])],
        "orders": [_order_row(o) for o in engine.orders.values()],
        "markets": [
            [symbol, ms.last_price,
             [o.id for p in ms.bids.prices() for o in ms.bids.levels[p].orders()],
             [o.id for p in ms.asks.prices() for o in ms.asks.levels[p].orders()]]
            for symbol, ms in engine.markets.items()
        ],
        "preferences": preferences.snapshot_data(),
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def load(data: bytes, accounts: Accounts, engine: Engine) -> Preferences:
    """Fill the empty ``accounts`` and ``engine`` from ``data``; return the preferences."""
    state = json.loads(data)
    if state.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"unknown snapshot version: {state.get('version')!r}")
    (accounts.next_user_id, accounts.next_ledger_id, accounts.next_movement_id,
     engine.next_order_id, engine.next_trade_id) = state["counters"]
    for user_id, name, email, created in state["users"]:
        accounts.users[user_id] = User(user_id, name, email, created)
        accounts.names[name] = user_id
    for key, secret, user_id, perms, created, label, revoked in state["keys"]:
        accounts.keys[key] = ApiKey(key, secret, user_id,
                                    tuple((s, bool(r), bool(w)) for s, r, w in perms),
                                    created, label, revoked)
    for user_id, wallet, currency, balance in state["wallets"]:
        accounts.open_wallet((user_id, wallet, currency), balance)
    pending: list[Order] = []
    for row in state["orders"]:
        order, stop_pending = _order_from_row(row)
        engine.index(order)
        if stop_pending:
            pending.append(order)
        if order.hold:
            key = (order.user_id, "exchange", engine.hold_currency(order))
            accounts.wallets[key].hold += order.hold
    for symbol, last_price, bids, asks in state["markets"]:
        ms = engine.markets[symbol]
        ms.last_price = last_price
        for oid in bids + asks:
            engine.rest(ms, engine.orders[oid])
    for order in pending:
        engine.markets[order.symbol].stops.add(order, order.trail_ref)
    return Preferences.restore(state.get("preferences", {}))


def _order_row(order: Order) -> list[Any]:
    return [
        order.type.value,
        order.type_prev.value if order.type_prev is not None else None,
        [list(f) for f in order.fills],
        *(getattr(order, name) for name in _ORDER_FIELDS),
    ]


def _order_from_row(row: list[Any]) -> tuple[Order, bool]:
    """An order from its snapshot row, and whether it is a pending stop (StopBook re-adds it)."""
    type_value, type_prev, fills, *values = row
    fields = dict(zip(_ORDER_FIELDS, values, strict=True))
    order = Order(fields["id"], fields["user_id"], fields["symbol"], OrderType(type_value),
                  fields["is_buy"], fields["remaining"], fields["price"], fields["created_ts"])
    for name, value in fields.items():
        if name != "stop_pending":
            setattr(order, name, value)
    order.type_prev = OrderType(type_prev) if type_prev is not None else None
    order.fills = [(p, a) for p, a in fills]
    order.open_text = None  # derive the open status from the restored fills
    return order, bool(fields["stop_pending"])
