"""Core data and events → Bitfinex's positional arrays and notifications (spec §3, §5, §6).

Every function here is pure and returns plain lists ready for ``wire.dumps``. Rules kept:
- arrays have exactly the spec's length, with JSON ``null`` in every unused slot (§2.3): order
  32, account/order trade 12, public trade 4, wallet 7, ledger 9, movement 22, notification 8,
  ticker 10 (11 with the symbol in ``tickers``), tickers-hist row 13, candle 6, book row 3,
  stats 2 — clients index by position and bfxapi asserts minimum lengths (§11);
- money (raw 1e-8 ints) goes through ``wire.num`` so the JSON carries the shortest digits;
  ratios given as ``Decimal`` go through ``wire.decimal_num``; ids, counts and times (ms) are
  plain ints;
- nothing here reads core state; what a renderer needs is passed in.

Transport differences of notification DATA (§5, the clients depend on them):
REST ``on-req`` DATA is a list of orders; WS ``on-req``/``ou-req``/``oc-req`` and REST
``ou-req``/``oc-req`` DATA is one flat order; ``oc_multi-req`` DATA is a list of orders on both.
A refused request is an ``["error", code, text]`` body on REST but an ``ERROR`` notification on
WS whose order array is still 32 long and echoes what the client sent (CID, SYMBOL, AMOUNT,
TYPE, PRICE; ID for update/cancel).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal, Protocol

import orjson

from venue.core.commands import (
    CancelOrder,
    Command,
    SubmitOrder,
    Transfer,
    UpdateOrder,
)
from venue.core.events import (
    AccountTrade,
    LedgerEntryAdded,
    MovementRecorded,
    RequestCompleted,
    RequestRejected,
    TradeExecuted,
    WalletChanged,
)
from venue.core.numbers import NumberError, parse_amount, parse_price, to_status_text
from venue.core.orders import OrderState
from venue.core.symbols import Registry, split_pair
from venue.protocol.errors import error_body
from venue.protocol.wire import decimal_num, num, opt_num

Transport = Literal["rest", "ws"]
Row = list[Any]

ORDER_LENGTH = 32
NOTIFICATION_LENGTH = 8

STATUS_SUCCESS = "SUCCESS"
STATUS_ERROR = "ERROR"

# Core request names (RequestCompleted/RequestRejected.request) → notification TYPE (§5).
NOTIFICATION_TYPES: dict[str, str] = {
    "on": "on-req",
    "ou": "ou-req",
    "oc": "oc-req",
    "oc_multi": "oc_multi-req",
    "ox_multi": "ox_multi-req",
    "acc_tf": "acc_tf",
    "acc_wd": "acc_wd-req",
    "acc_dep": "acc_dep",
}

_DIGITS = re.compile(r"[0-9]{1,19}")  # str.isdigit() also accepts "²", which int() refuses

WITHDRAWAL_TEXT = "Your withdrawal request has been successfully submitted."


def notification_type(request: str) -> str:
    """The notification TYPE for a core request name (``on`` → ``on-req``)."""
    return NOTIFICATION_TYPES.get(
        request, request if request.endswith("-req") else f"{request}-req"
    )


# -- orders (§6.3) ----------------------------------------------------------------------------


def order(o: OrderState) -> Row:
    """The 32-element order array of §6.3 (NOTIFY 0, HIDDEN 0/1, ROUTING, META)."""
    return [
        o.id,
        o.group_id,
        o.client_order_id,
        o.symbol,
        o.created_ts,
        o.updated_ts,
        num(o.amount),
        num(o.amount_orig),
        o.type.value,
        o.type_prev.value if o.type_prev is not None else None,
        o.tif_ts,
        None,
        o.flags,
        o.status,
        None,
        None,
        num(o.price),
        num(o.price_avg),
        num(o.price_trailing),
        num(o.price_aux_limit),
        None,
        None,
        None,
        0,
        1 if o.hidden else 0,
        o.placed_id,
        None,
        None,
        o.routing,
        None,
        None,
        o.meta if o.meta else None,
    ]


def order_echo(
    *,
    order_id: int | None = None,
    group_id: int | None = None,
    client_order_id: int | None = None,
    symbol: str | None = None,
    amount: int | None = None,
    order_type: str | None = None,
    price: int | None = None,
) -> Row:
    """A 32-long order array that only echoes what a refused request named (§5 WS failures).

    Real frame: ``[null,null,555,"tBTCUSD",null,null,-1,null,"EXCHANGE LIMIT",null,…,-12483,…,0,…]``
    — everything else null except NOTIFY (index 23), which stays 0.
    """
    row: Row = [None] * ORDER_LENGTH
    row[0] = order_id
    row[1] = group_id
    row[2] = client_order_id
    row[3] = symbol
    row[6] = opt_num(amount)
    row[8] = order_type
    row[16] = opt_num(price)
    row[23] = 0
    return row


def order_echo_from_command(command: Command | None) -> Row:
    """The echo array for a refused order command (submit, update or cancel)."""
    if isinstance(command, SubmitOrder):
        return order_echo(
            group_id=command.group_id,
            client_order_id=command.client_order_id,
            symbol=command.symbol,
            amount=command.amount,
            order_type=command.type.value,
            price=command.price,
        )
    if isinstance(command, UpdateOrder):
        return order_echo(
            order_id=command.order_id,
            group_id=command.group_id,
            client_order_id=command.client_order_id,
            amount=command.amount,
            price=command.price,
        )
    if isinstance(command, CancelOrder):
        return order_echo(order_id=command.order_id, client_order_id=command.client_order_id)
    return order_echo()


def order_echo_from_payload(request: str, payload: object) -> Row:
    """The echo array for an input the protocol layer refused before it became a command.

    Best effort over the raw payload: fields that are missing or unreadable stay null, so an
    error about a field can still be reported with everything else the client sent.
    """
    if not isinstance(payload, dict):
        return order_echo()
    return order_echo(
        order_id=_int_or_none(payload.get("id")) if request in ("ou", "oc") else None,
        group_id=_int_or_none(payload.get("gid")),
        client_order_id=_int_or_none(payload.get("cid")),
        symbol=payload.get("symbol") if isinstance(payload.get("symbol"), str) else None,
        amount=_number_or_none(payload.get("amount"), parse_amount),
        order_type=payload.get("type") if isinstance(payload.get("type"), str) else None,
        price=_number_or_none(payload.get("price"), parse_price),
    )


def _int_or_none(value: object) -> int | None:
    """An id echoed back only if it is one: a non-negative int that JSON encoders can write."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and 0 <= value < 1 << 63:
        return value
    return None


def _number_or_none(value: object, parse: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(parse(value))
    except (NumberError, ArithmeticError):
        return None


# -- trades (§6.4, §3.5) ------------------------------------------------------------------------


def public_trade(t: TradeExecuted) -> Row:
    """``[ID, MTS, AMOUNT, PRICE]``: exactly 4 (Node takes 5 as funding); amount signed by taker."""
    return [t.trade_id, t.ts, num(t.amount), num(t.price)]


def account_trade(t: AccountTrade, *, with_fee: bool = True) -> Row:
    """The 12-element account trade (``tu``, REST trades hist); ``with_fee=False`` gives ``te``.

    ``[ID, SYMBOL, MTS, ORDER_ID, EXEC_AMOUNT, EXEC_PRICE, ORDER_TYPE, ORDER_PRICE, MAKER, FEE,
    FEE_CURRENCY, CID]`` — MAKER 1 maker / -1 taker; ``te`` has FEE and FEE_CURRENCY null (§6.4).
    """
    return [
        t.trade_id,
        t.symbol,
        t.ts,
        t.order_id,
        num(t.amount),
        num(t.price),
        t.order_type,
        num(t.order_price),
        1 if t.maker else -1,
        num(t.fee) if with_fee else None,
        t.fee_currency if with_fee else None,
        t.client_order_id,
    ]


def order_trade(t: AccountTrade) -> Row:
    """A row of ``auth/r/order/{sym}:{id}/trades``: 12 fields, ORDER_TYPE/PRICE null (§6.4)."""
    return [
        t.trade_id,
        t.symbol,
        t.ts,
        t.order_id,
        num(t.amount),
        num(t.price),
        None,
        None,
        1 if t.maker else -1,
        num(t.fee),
        t.fee_currency,
        t.client_order_id,
    ]


# -- wallets, ledgers, movements (§6.6, §6.7, §6.10) ---------------------------------------------


class WalletLike(Protocol):
    """``WalletChanged`` or ``exchange.WalletState``: what a wallet row needs."""

    @property
    def wallet(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def balance(self) -> int: ...
    @property
    def available(self) -> int: ...


def wallet(w: WalletLike) -> Row:
    """``[WALLET_TYPE, CURRENCY, BALANCE, UNSETTLED_INTEREST, AVAILABLE_BALANCE, LAST_CHANGE,
    LAST_CHANGE_META]`` — unsettled interest 0 (no margin funding yet), description when known."""
    description = w.description if isinstance(w, WalletChanged) else None
    return [w.wallet, w.currency, num(w.balance), 0, num(w.available), description, None]


def ledger(e: LedgerEntryAdded) -> Row:
    """``[ID, CURRENCY, WALLET, MTS, null, AMOUNT, BALANCE, null, DESCRIPTION]``."""
    return [
        e.entry_id,
        e.currency,
        e.wallet,
        e.ts,
        None,
        num(e.amount),
        num(e.balance),
        None,
        e.description,
    ]


def movement(m: MovementRecorded) -> Row:
    """The 22-element movement. CURRENCY_NAME is the transfer method's name (``ETHEREUM``, as in the
    docs example); FEES are negative when charged, as on the real API."""
    row: Row = [None] * 22
    row[0] = m.movement_id
    row[1] = m.currency
    row[2] = m.method.upper() if m.method else m.currency
    row[5] = m.ts
    row[6] = m.ts
    row[9] = m.status
    row[12] = num(m.amount)
    row[13] = num(-abs(m.fee))
    row[16] = m.address or None
    row[20] = m.tx_id or None
    row[21] = m.note or None
    return row


# -- market data (§3, §7.4) -------------------------------------------------------------------


class TickerLike(Protocol):
    """What a trading ticker needs (raw ints; ``daily_change_relative`` Decimal or raw int)."""

    @property
    def bid(self) -> int | None: ...
    @property
    def bid_size(self) -> int: ...
    @property
    def ask(self) -> int | None: ...
    @property
    def ask_size(self) -> int: ...
    @property
    def daily_change(self) -> int: ...
    @property
    def daily_change_relative(self) -> Decimal | int: ...
    @property
    def last_price(self) -> int | None: ...
    @property
    def volume(self) -> int: ...
    @property
    def high(self) -> int | None: ...
    @property
    def low(self) -> int | None: ...


def ratio(value: Decimal | int) -> orjson.Fragment:
    """A ratio: a Decimal as shortest plain text; an int is a raw 1e-8 value."""
    if isinstance(value, Decimal):
        return decimal_num(value)
    return num(value)


def ticker(t: TickerLike) -> Row:
    """``[BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME,
    HIGH, LOW]`` — REST ``ticker/{sym}`` and every WS ticker frame (§3.3, §7.4)."""
    return [
        opt_num(t.bid),
        num(t.bid_size),
        opt_num(t.ask),
        num(t.ask_size),
        num(t.daily_change),
        ratio(t.daily_change_relative),
        opt_num(t.last_price),
        num(t.volume),
        opt_num(t.high),
        opt_num(t.low),
    ]


def tickers_row(symbol: str, t: TickerLike) -> Row:
    """A ``tickers`` row: the symbol, then the 10 ticker values (§3.2)."""
    return [symbol, *ticker(t)]


def tickers_hist_row(symbol: str, bid: int | None, ask: int | None, mts: int) -> Row:
    """``[SYMBOL, BID, null, ASK, null×8, MTS]`` — 13 elements (§3.4)."""
    return [
        symbol,
        opt_num(bid),
        None,
        opt_num(ask),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        mts,
    ]


class CandleLike(Protocol):
    @property
    def mts(self) -> int: ...
    @property
    def open(self) -> int: ...
    @property
    def close(self) -> int: ...
    @property
    def high(self) -> int: ...
    @property
    def low(self) -> int: ...
    @property
    def volume(self) -> int: ...


def candle(c: CandleLike) -> Row:
    """``[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]`` — CLOSE before HIGH (§3.8)."""
    return [c.mts, num(c.open), num(c.close), num(c.high), num(c.low), num(c.volume)]


def candle_values(mts: int, open_: int, close: int, high: int, low: int, volume: int) -> Row:
    """The same candle array from loose values."""
    return [mts, num(open_), num(close), num(high), num(low), num(volume)]


def book_level(price: int, count: int, amount: int) -> Row:
    """Aggregated (P0–P4) book row ``[PRICE, COUNT, AMOUNT]``; AMOUNT > 0 bid, < 0 ask (§3.6)."""
    return [num(price), count, num(amount)]


def book_level_removed(price: int, is_bid: bool) -> Row:
    """A level deletion ``[PRICE, 0, 1]`` (bid) / ``[PRICE, 0, -1]`` (ask) (§7.4)."""
    return [num(price), 0, 1 if is_bid else -1]


def raw_book_entry(order_id: int, price: int, amount: int) -> Row:
    """R0 book row ``[ORDER_ID, PRICE, AMOUNT]`` (§3.6)."""
    return [order_id, num(price), num(amount)]


def raw_book_entry_removed(order_id: int, is_bid: bool) -> Row:
    """An R0 deletion ``[ORDER_ID, 0, ±1]``: PRICE 0 deletes, AMOUNT tells the side (§7.4)."""
    return [order_id, 0, 1 if is_bid else -1]


def stat(mts: int, value: int) -> Row:
    """A stats1 point ``[MTS, VALUE]`` (§3.7)."""
    return [mts, num(value)]


def trade_average(price_avg: int, amount: int) -> Row:
    """``calc/trade/avg`` answer ``[PRICE_AVG, AMOUNT]`` (§3.14)."""
    return [num(price_avg), num(amount)]


def fx_rate(rate: int | Decimal) -> Row:
    """``calc/fx`` answer ``[CURRENT_RATE]`` (§3.15)."""
    return [ratio(rate)]


# -- notifications (§5) -------------------------------------------------------------------------


def notification(
    mts: int,
    type_: str,
    data: Any,
    status: str,
    text: str,
    *,
    message_id: int | None = None,
    code: int | None = None,
) -> Row:
    """``[MTS, TYPE, MESSAGE_ID, null, DATA, CODE, STATUS, TEXT]`` (8 elements)."""
    return [mts, type_, message_id, None, data, code, status, text]


def _side(amount: int) -> str:
    return "buy" if amount > 0 else "sell"


def _base(symbol: str) -> str:
    try:
        return split_pair(symbol)[0]
    except ValueError:
        return symbol


def submit_text(o: OrderState) -> str:
    """``Submitting exchange limit buy order for 0.1 BTC.`` — type in lower case, the signed
    original amount as the exchange writes it (``-2.5``, ``1.0``), the base currency (§5)."""
    return (
        f"Submitting {o.type.value.lower()} {_side(o.amount_orig)} order for "
        f"{to_status_text(o.amount_orig)} {_base(o.symbol)}."
    )


def update_text(o: OrderState) -> str:
    """``Submitting update to exchange limit buy order for 0.1 BTC.`` (absolute amount, §5)."""
    return (
        f"Submitting update to {o.type.value.lower()} {_side(o.amount_orig)} order for "
        f"{to_status_text(abs(o.amount))} {_base(o.symbol)}."
    )


def cancel_text(order_id: int) -> str:
    """``Submitted for cancellation; waiting for confirmation (ID: 1747566428).`` (§5)."""
    return f"Submitted for cancellation; waiting for confirmation (ID: {order_id})."


def cancel_multi_text(count: int) -> str:
    """``Submitting 3 order cancellations.`` (§5)."""
    return f"Submitting {count} order cancellations."


def multi_op_text(count: int) -> str:
    """Success text of ``ox_multi-req``. Not quoted by the spec; venue's wording (clients never
    parse texts, §5)."""
    return f"Submitting {count} order operations."


def order_request_notification(event: RequestCompleted, *, mts: int, transport: Transport) -> Row:
    """The SUCCESS notification of an order request (``on``/``ou``/``oc``/``oc_multi``).

    DATA shape by transport (§5): REST submit → list of orders (two for OCO); WS submit and both
    transports' update/cancel → one flat order; ``oc_multi`` → list of orders.
    """
    request = event.request
    orders = event.orders
    type_ = notification_type(request)
    first = orders[0] if orders else None
    if request == "on":
        text = submit_text(first) if first else "Submitting order."
        if transport == "rest":
            data: Any = [order(o) for o in orders]
        else:
            data = order(first) if first else order_echo()
    elif request == "ou":
        text = update_text(first) if first else "Submitting update."
        data = order(first) if first else order_echo()
    elif request == "oc":
        text = cancel_text(first.id) if first else cancel_text(0)
        data = order(first) if first else order_echo()
    elif request == "oc_multi":
        text = cancel_multi_text(len(orders))
        data = [order(o) for o in orders]
    else:
        text = multi_op_text(len(orders)) if request == "ox_multi" else ""
        data = [order(o) for o in orders]
    return notification(mts, type_, data, STATUS_SUCCESS, text)


def rejection_notification(event: RequestRejected, *, mts: int) -> Row:
    """The WS ERROR notification of a refused request (REST answers ``rest_error`` instead).

    Single-order requests keep a 32-long order array: the order concerned when the core names
    one (so an update/cancel echoes its ID), else the fields of the refused command. Multi
    requests carry null DATA, as in the real frame
    ``[…,"ox_multi-req",null,null,null,null,"ERROR","input: invalid"]``.
    """
    request = event.request
    data: Any
    if request in ("on", "ou", "oc"):
        if event.order is not None and request != "on":
            data = order(event.order)
        else:
            data = order_echo_from_command(event.command)
    else:
        data = None
    return notification(mts, notification_type(request), data, STATUS_ERROR, event.text)


def input_error_notification(
    request: str, payload: object, code: int, text: str, *, mts: int
) -> Row:
    """The WS ERROR notification for an input the protocol layer refused (``ProtocolError``).

    ``request`` is the input TYPE (``on``, ``ou``, ``oc``, ``oc_multi``, ``ox_multi``);
    the order array echoes whatever the payload carried. ``code`` is not written: the
    notification's CODE slot is null on the real API (§5), the text says what was wrong.
    """
    data: Any = order_echo_from_payload(request, payload) if request in ("on", "ou", "oc") else None
    return notification(mts, notification_type(request), data, STATUS_ERROR, text)


def rest_error(event: RequestRejected) -> list[object]:
    """A refused REST request: ``["error", CODE, TEXT]`` with HTTP 500, not a notification (§5)."""
    return error_body(event.code, event.text)


def request_notification(
    event: RequestCompleted | RequestRejected,
    *,
    mts: int,
    transport: Transport,
) -> Row:
    """The notification for an order request's outcome (REST rejections: use ``rest_error``)."""
    if isinstance(event, RequestRejected):
        return rejection_notification(event, mts=mts)
    return order_request_notification(event, mts=mts, transport=transport)


def multi_notification(mts: int, notifications: Sequence[Row]) -> Row:
    """``ox_multi-req``: DATA is the list of per-op notifications (§4.2; nesting unconfirmed)."""
    return notification(
        mts, "ox_multi-req", list(notifications), STATUS_SUCCESS, multi_op_text(len(notifications))
    )


# -- account requests (§4.2) --------------------------------------------------------------------


def _wallet_label(wallet_name: str) -> str:
    return wallet_name[:1].upper() + wallet_name[1:]


def transfer_notification(
    command: Transfer, *, mts: int, registry: Registry, updated_mts: int | None = None
) -> Row:
    """``acc_tf``: ``[MTS_UPDATED, WALLET_FROM, WALLET_TO, null, CURRENCY, CURRENCY_TO, null,
    AMOUNT]`` and ``"50.0 US Dollar transferred from Margin to Exchange"`` (§4.2).

    ``updated_mts`` (default ``mts``) is the transfer's own time; the real example shows it one
    millisecond after the notification's.
    """
    currency = registry.currency(command.currency)
    name = currency.name if currency is not None else command.currency
    data = [
        mts if updated_mts is None else updated_mts,
        command.wallet_from,
        command.wallet_to,
        None,
        command.currency,
        command.currency_to,
        None,
        num(command.amount),
    ]
    text = (
        f"{to_status_text(command.amount)} {name} transferred from "
        f"{_wallet_label(command.wallet_from)} to {_wallet_label(command.wallet_to)}"
    )
    return notification(mts, "acc_tf", data, STATUS_SUCCESS, text)


def withdrawal_notification(m: MovementRecorded, *, mts: int) -> Row:
    """``acc_wd-req``: ``[WITHDRAWAL_ID, null, METHOD, PAYMENT_ID, WALLET, AMOUNT, null, null,
    WITHDRAWAL_FEE]`` — method in lower case (``bitcoin``), amount and fee positive."""
    data = [
        m.movement_id,
        None,
        m.method.lower(),
        None,
        m.wallet,
        num(abs(m.amount)),
        None,
        None,
        num(abs(m.fee)),
    ]
    return notification(mts, "acc_wd-req", data, STATUS_SUCCESS, WITHDRAWAL_TEXT)


def deposit_address_notification(
    *, mts: int, method: str, currency: str, address: str, pool_address: str | None = None
) -> Row:
    """``acc_dep``: ``[null, METHOD, CURRENCY_CODE, null, ADDRESS, POOL_ADDRESS]`` (§4.2)."""
    data = [None, method.lower(), currency, None, address, pool_address]
    return notification(mts, "acc_dep", data, STATUS_SUCCESS, "")
