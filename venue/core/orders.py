"""Order vocabulary: types, flags, and the immutable order snapshot carried by events.

Type names and flag values are Bitfinex's own (spec/bitfinex-v2.md §6.1, §6.2), because they
are the domain's words, not wire abbreviations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntFlag
from typing import Any


class OrderType(str, Enum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"
    STOP_LIMIT = "STOP LIMIT"
    TRAILING_STOP = "TRAILING STOP"
    FOK = "FOK"
    IOC = "IOC"
    EXCHANGE_LIMIT = "EXCHANGE LIMIT"
    EXCHANGE_MARKET = "EXCHANGE MARKET"
    EXCHANGE_STOP = "EXCHANGE STOP"
    EXCHANGE_STOP_LIMIT = "EXCHANGE STOP LIMIT"
    EXCHANGE_TRAILING_STOP = "EXCHANGE TRAILING STOP"
    EXCHANGE_FOK = "EXCHANGE FOK"
    EXCHANGE_IOC = "EXCHANGE IOC"

    @property
    def is_exchange(self) -> bool:
        """True for types that trade the exchange (spot) wallet."""
        return self.value.startswith("EXCHANGE ")

    @property
    def base_kind(self) -> str:
        """The type without its wallet prefix: ``LIMIT``, ``STOP LIMIT``…"""
        return self.value.removeprefix("EXCHANGE ")


EXCHANGE_ORDER_TYPES = frozenset(t for t in OrderType if t.is_exchange)


class OrderFlag(IntFlag):
    HIDDEN = 64
    CLOSE = 512
    REDUCE_ONLY = 1024
    POST_ONLY = 4096
    OCO = 16384
    NO_VAR_RATES = 524288


KNOWN_FLAGS = int(
    OrderFlag.HIDDEN
    | OrderFlag.CLOSE
    | OrderFlag.REDUCE_ONLY
    | OrderFlag.POST_ONLY
    | OrderFlag.OCO
    | OrderFlag.NO_VAR_RATES
)


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order as it stands at one moment; the fields of Bitfinex's 32-element order array.

    Amounts and prices are raw fixed-point ints (core/numbers.py); times are ms.
    ``amount`` is the signed remaining amount (0 once executed), ``amount_orig`` the signed
    original. ``status`` is the full Bitfinex status text (§6.3.1). ``price`` is the limit or
    trigger price (for market orders: the last execution price). ``in_book`` tells whether the
    order currently rests in the public book (views use it; hidden orders rest but are never
    shown). Never mutated after creation.
    """

    id: int
    user_id: int
    symbol: str
    type: OrderType
    created_ts: int
    updated_ts: int
    amount: int
    amount_orig: int
    price: int
    status: str
    flags: int = 0
    group_id: int | None = None
    client_order_id: int | None = None
    client_order_date: str | None = None  # "YYYY-MM-DD" (UTC) of created_ts, for cancel by cid
    type_prev: OrderType | None = None
    tif_ts: int | None = None
    price_avg: int = 0
    price_trailing: int = 0
    price_aux_limit: int = 0
    hidden: bool = False
    placed_id: int | None = None
    meta: dict[str, Any] | None = field(default=None, compare=False)
    routing: str = "API>BFX"
    in_book: bool = False
