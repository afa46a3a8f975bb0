"""Commands: what the exchange is asked to do. Imperative names, plain frozen data.

A command carries no time and no sequence: the sequencer passes both to
``Exchange.apply(command, seq=…, ts=…)`` and journals them with it. Amounts and prices are raw
fixed-point ints already cut to the spec's precision by the protocol layer; everything else the
core still checks (symbol listed, sizes, balances, ownership) and answers with a rejection event.

Every command that acts for a user names ``user_id``; the core never trusts it for anything but
ownership checks, which is why the gateway fills it from the authenticated key, never from input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from venue.core.orders import OrderType


# -- accounts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateUser:
    """Open an account. The user id comes from a counter in the state."""

    name: str
    email: str = ""


@dataclass(frozen=True, slots=True)
class CreateApiKey:
    """Store an API key. Key and secret are generated outside the core (it draws no randomness).

    ``permissions`` maps a scope (account, orders, funding, settings, wallets, withdraw,
    history, positions, …) to (read, write).
    """

    user_id: int
    key: str
    secret: str = field(repr=False)  # never in a log line (commands are logged with %r)
    permissions: tuple[tuple[str, bool, bool], ...]
    label: str = ""


@dataclass(frozen=True, slots=True)
class RevokeApiKey:
    key: str


@dataclass(frozen=True, slots=True)
class Deposit:
    """Credit a wallet from outside (administrative)."""

    user_id: int
    currency: str
    amount: int
    wallet: str = "exchange"
    method: str = ""
    address: str = ""
    tx_id: str = ""


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Debit a wallet to outside; ``fee`` is charged on top and goes to the fee account."""

    user_id: int
    currency: str
    amount: int
    wallet: str = "exchange"
    method: str = ""
    address: str = ""
    fee: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move funds between two wallets of one user (``currency_to`` converts 1:1, e.g. UST→USTF0)."""

    user_id: int
    wallet_from: str
    wallet_to: str
    currency: str
    amount: int
    currency_to: str | None = None


# -- orders -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    """Place an order. ``amount`` > 0 buys, < 0 sells. ``price`` is None for market orders.

    ``tif_ts`` is the auto-cancel time in ms; ``client_order_date`` the UTC day of the cid
    ("YYYY-MM-DD"), filled by the protocol layer from the command time when not given.
    """

    user_id: int
    symbol: str
    type: OrderType
    amount: int
    price: int | None = None
    flags: int = 0
    group_id: int | None = None
    client_order_id: int | None = None
    price_trailing: int | None = None
    price_aux_limit: int | None = None
    price_oco_stop: int | None = None
    client_order_id_oco: int | None = None
    tif_ts: int | None = None
    leverage: int | None = None
    meta: dict[str, Any] | None = field(default=None, compare=False)
    # Added by the core issue: the UTC day of the cid when the client named one; None = the day
    # of the command's ts (the core derives it; no clock involved).
    client_order_date: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateOrder:
    """Change an open order. ``amount`` sets the new remaining amount (signed), ``delta`` adds
    to it; None leaves a field as it is."""

    user_id: int
    order_id: int
    amount: int | None = None
    delta: int | None = None
    price: int | None = None
    price_aux_limit: int | None = None
    price_trailing: int | None = None
    flags: int | None = None
    group_id: int | None = None
    client_order_id: int | None = None
    tif_ts: int | None = None
    leverage: int | None = None
    meta: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one order, by id or by client id and its UTC day."""

    user_id: int
    order_id: int | None = None
    client_order_id: int | None = None
    client_order_date: str | None = None


@dataclass(frozen=True, slots=True)
class CancelOrders:
    """Cancel many orders: by ids, group ids, (cid, date) pairs, or all of the user's."""

    user_id: int
    order_ids: tuple[int, ...] = ()
    group_ids: tuple[int, ...] = ()
    client_order_ids: tuple[tuple[int, str], ...] = ()
    all: bool = False


OrderOp = Union[SubmitOrder, UpdateOrder, CancelOrder, CancelOrders]


@dataclass(frozen=True, slots=True)
class MultiOp:
    """Up to 75 order operations of one user, applied one after the other (not atomically:
    each op succeeds or fails on its own, as on Bitfinex)."""

    user_id: int
    ops: tuple[OrderOp, ...]


@dataclass(frozen=True, slots=True)
class CancelAllOrders:
    """Cancel every open order of a user (dead-man switch on a closed connection)."""

    user_id: int


@dataclass(frozen=True, slots=True)
class Tick:
    """Nothing but the passing of time: lets tif expiries happen when no one trades."""


Command = Union[
    CreateUser,
    CreateApiKey,
    RevokeApiKey,
    Deposit,
    Withdraw,
    Transfer,
    SubmitOrder,
    UpdateOrder,
    CancelOrder,
    CancelOrders,
    MultiOp,
    CancelAllOrders,
    Tick,
]

COMMAND_TYPES: tuple[type, ...] = (
    CreateUser,
    CreateApiKey,
    RevokeApiKey,
    Deposit,
    Withdraw,
    Transfer,
    SubmitOrder,
    UpdateOrder,
    CancelOrder,
    CancelOrders,
    MultiOp,
    CancelAllOrders,
    Tick,
)
