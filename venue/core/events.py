"""Events: what happened. Past-tense names, plain frozen data, returned by ``Exchange.apply``.

The protocol layer turns them into Bitfinex frames and notifications; views fold them into
tickers, candles, books and history. An event never refers to mutable core state: orders travel
as ``OrderState`` snapshots. Every event that concerns one account names ``user_id`` so the
gateway can route it to that account's streams and nobody else's.

Order of events within one command (the real exchange's order, spec §8.2):
``OrderAccepted`` for a new order, then per fill ``TradeExecuted`` (public), ``AccountTrade``
for taker and maker, ``OrderUpdated``/``OrderClosed`` for the maker; then the taker's final
``OrderUpdated``/``OrderClosed``; then one ``WalletChanged`` per wallet touched (last state
only) and the ``LedgerEntryAdded`` lines; the request ends with ``RequestCompleted`` or is
refused with a lone ``RequestRejected``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from venue.core.commands import Command
from venue.core.orders import OrderState


@dataclass(frozen=True, slots=True)
class UserCreated:
    user_id: int
    name: str
    email: str
    ts: int


@dataclass(frozen=True, slots=True)
class ApiKeyCreated:
    user_id: int
    key: str
    permissions: tuple[tuple[str, bool, bool], ...]
    ts: int


@dataclass(frozen=True, slots=True)
class ApiKeyRevoked:
    user_id: int
    key: str
    ts: int


@dataclass(frozen=True, slots=True)
class OrderAccepted:
    """A new order entered the exchange (``on``)."""

    order: OrderState


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    """An open order changed: partial fill, amendment, stop triggered (``ou``)."""

    order: OrderState


@dataclass(frozen=True, slots=True)
class OrderClosed:
    """An order left the exchange: executed in full or cancelled, with its final status (``oc``)."""

    order: OrderState


# The events that carry an order's new state (exact-type tests: event classes are final).
ORDER_EVENTS = frozenset({OrderAccepted, OrderUpdated, OrderClosed})


@dataclass(frozen=True, slots=True)
class TradeExecuted:
    """A public trade. ``amount`` is signed by the taker's side (> 0 the taker bought)."""

    trade_id: int
    symbol: str
    ts: int
    price: int
    amount: int
    taker_order_id: int
    maker_order_id: int
    taker_user_id: int
    maker_user_id: int


@dataclass(frozen=True, slots=True)
class AccountTrade:
    """One side of a trade as its account sees it (``te``/``tu``).

    ``amount`` is signed from this account's side; ``fee`` is negative when paid (buyers pay in
    base, sellers in quote, spec §6.4); ``maker`` is True for the resting side.
    """

    trade_id: int
    user_id: int
    symbol: str
    ts: int
    order_id: int
    order_type: str
    order_price: int
    amount: int
    price: int
    maker: bool
    fee: int
    fee_currency: str
    client_order_id: int | None


@dataclass(frozen=True, slots=True)
class WalletChanged:
    """The new state of one wallet (``wu``). ``available`` = balance − holds."""

    user_id: int
    wallet: str
    currency: str
    balance: int
    available: int
    description: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntryAdded:
    """One balance change, with Bitfinex's description and ledger category (§6.7)."""

    entry_id: int
    user_id: int
    currency: str
    wallet: str
    ts: int
    amount: int
    balance: int
    description: str
    category: int


@dataclass(frozen=True, slots=True)
class MovementRecorded:
    """A deposit (amount > 0) or withdrawal (amount < 0) of a user (§6.10)."""

    movement_id: int
    user_id: int
    currency: str
    wallet: str
    ts: int
    amount: int
    fee: int
    status: str
    method: str
    address: str
    tx_id: str
    note: str


@dataclass(frozen=True, slots=True)
class RequestCompleted:
    """A user's request succeeded. ``request`` is the operation: ``on``, ``ou``, ``oc``,
    ``oc_multi``, ``acc_tf``, ``acc_wd``, ``deposit``…; ``orders`` are the orders it created,
    changed or cancelled, as the notification's DATA needs them."""

    user_id: int
    request: str
    orders: tuple[OrderState, ...] = ()
    # The command (or the op of a MultiOp) this answers, so a connection can tell its own
    # request's completion from an identical one sent elsewhere (notifications, spec §5).
    command: Command | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """A user's request was refused and changed nothing.

    ``code`` and ``text`` are Bitfinex's (e.g. 10001, "Invalid order: not enough exchange
    balance for 0.00235071 BTCUSD at 9122.2"); ``order`` is the order concerned when one exists
    (so notifications can echo its id), ``command`` the refused command.
    """

    user_id: int
    request: str
    code: int
    text: str
    command: Command
    order: OrderState | None = None


Event = Union[
    UserCreated,
    ApiKeyCreated,
    ApiKeyRevoked,
    OrderAccepted,
    OrderUpdated,
    OrderClosed,
    TradeExecuted,
    AccountTrade,
    WalletChanged,
    LedgerEntryAdded,
    MovementRecorded,
    RequestCompleted,
    RequestRejected,
]
