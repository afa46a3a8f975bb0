"""Hand-built core events for view tests (the views only read these fields)."""

from __future__ import annotations

from venue.core.events import (
    AccountTrade,
    LedgerEntryAdded,
    MovementRecorded,
    OrderAccepted,
    OrderClosed,
    OrderUpdated,
    TradeExecuted,
)
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderState, OrderType


def px(text: str) -> int:
    return parse_price(text)


def amt(text: str) -> int:
    return parse_amount(text)


def order(
    order_id: int,
    price: str,
    amount: str,
    *,
    symbol: str = "tBTCUSD",
    in_book: bool = True,
    hidden: bool = False,
    user_id: int = 1,
    ts: int = 1_700_000_000_000,
    status: str = "ACTIVE",
    amount_orig: str | None = None,
) -> OrderState:
    return OrderState(
        id=order_id,
        user_id=user_id,
        symbol=symbol,
        type=OrderType.EXCHANGE_LIMIT,
        created_ts=ts,
        updated_ts=ts,
        amount=amt(amount),
        amount_orig=amt(amount_orig if amount_orig is not None else amount),
        price=px(price),
        status=status,
        hidden=hidden,
        in_book=in_book,
    )


def accepted(*args: object, **kwargs: object) -> OrderAccepted:
    return OrderAccepted(order(*args, **kwargs))  # type: ignore[arg-type]


def updated(*args: object, **kwargs: object) -> OrderUpdated:
    return OrderUpdated(order(*args, **kwargs))  # type: ignore[arg-type]


def closed(*args: object, **kwargs: object) -> OrderClosed:
    kwargs.setdefault("in_book", False)
    return OrderClosed(order(*args, **kwargs))  # type: ignore[arg-type]


def trade(
    trade_id: int, ts: int, price: str, amount: str, symbol: str = "tBTCUSD"
) -> TradeExecuted:
    return TradeExecuted(
        trade_id=trade_id,
        symbol=symbol,
        ts=ts,
        price=px(price),
        amount=amt(amount),
        taker_order_id=1000 + trade_id,
        maker_order_id=2000 + trade_id,
        taker_user_id=1,
        maker_user_id=2,
    )


def account_trade(
    trade_id: int, user_id: int, ts: int, price: str, amount: str, order_id: int = 7,
    symbol: str = "tBTCUSD",
) -> AccountTrade:
    return AccountTrade(
        trade_id=trade_id,
        user_id=user_id,
        symbol=symbol,
        ts=ts,
        order_id=order_id,
        order_type="EXCHANGE LIMIT",
        order_price=px(price),
        amount=amt(amount),
        price=px(price),
        maker=False,
        fee=-amt("0.00001"),
        fee_currency="BTC",
        client_order_id=None,
    )


def ledger(entry_id: int, user_id: int, ts: int, currency: str = "USD", category: int = 5
           ) -> LedgerEntryAdded:
    return LedgerEntryAdded(
        entry_id=entry_id,
        user_id=user_id,
        currency=currency,
        wallet="exchange",
        ts=ts,
        amount=amt("10"),
        balance=amt("100"),
        description="Exchange 0.1 BTC for USD @ 100.0",
        category=category,
    )


def movement(movement_id: int, user_id: int, ts: int, currency: str = "BTC") -> MovementRecorded:
    return MovementRecorded(
        movement_id=movement_id,
        user_id=user_id,
        currency=currency,
        wallet="exchange",
        ts=ts,
        amount=amt("1.5"),
        fee=0,
        status="COMPLETED",
        method="BITCOIN",
        address="addr",
        tx_id="tx",
        note="",
    )
