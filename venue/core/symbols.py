"""Currencies, trading pairs and their rules, loaded from a config file shipped with the package.

A registry is plain immutable data. Symbols follow spec/bitfinex-v2.md §2.1: ``t`` + pair for
trading (``tBTCUSD``), a ``:`` between base and quote when either code is longer than three
letters (``tTESTBTC:TESTUSD``), ``f`` + currency for funding (``fUSD``).

Iteration order is the order of the config file, never a hash order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from venue.core.numbers import parse_amount, parse_price


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    name: str
    symbol: str
    method: str
    withdrawal_fee: int


@dataclass(frozen=True, slots=True)
class Market:
    """One trading pair. Sizes are raw base units; fees are parts per million."""

    symbol: str
    base: str
    quote: str
    min_order_size: int
    max_order_size: int
    maker_fee_ppm: int
    taker_fee_ppm: int
    reference_price: int
    margin: bool
    initial_margin: Decimal | None
    min_margin: Decimal | None

    @property
    def pair(self) -> str:
        """The symbol without its ``t``: ``BTCUSD``, ``TESTBTC:TESTUSD``."""
        return self.symbol[1:]

    @property
    def display_pair(self) -> str:
        """``BTC/USD``: how Bitfinex names a pair in its error texts."""
        return f"{self.base}/{self.quote}"


class Registry:
    """The listed currencies and markets, in config order, with lookups by code and symbol."""

    __slots__ = ("currencies", "markets", "_markets", "_currencies")

    def __init__(self, currencies: tuple[Currency, ...], markets: tuple[Market, ...]) -> None:
        self.currencies = currencies
        self.markets = markets
        self._markets = {m.symbol: m for m in markets}
        self._currencies = {c.code: c for c in currencies}

    def market(self, symbol: str) -> Market | None:
        """The market for a trading symbol, or None when it is not listed."""
        return self._markets.get(symbol)

    def currency(self, code: str) -> Currency | None:
        return self._currencies.get(code)

    def has_currency(self, code: str) -> bool:
        return code in self._currencies


def pair_symbol(base: str, quote: str) -> str:
    """The trading symbol for base/quote: ``tBTCUSD`` or ``tTESTBTC:TESTUSD``."""
    if len(base) > 3 or len(quote) > 3:
        return f"t{base}:{quote}"
    return f"t{base}{quote}"


def split_pair(symbol: str) -> tuple[str, str]:
    """Base and quote of a trading symbol (``tBTCUSD`` → BTC, USD)."""
    pair = symbol[1:] if symbol.startswith("t") else symbol
    if ":" in pair:
        base, quote = pair.split(":", 1)
        return base, quote
    if len(pair) != 6:
        raise ValueError(f"not a trading pair: {symbol!r}")
    return pair[:3], pair[3:]


def _ppm(text: str) -> int:
    return int(Decimal(text) * 1_000_000)


def registry_from_config(config: dict[str, Any]) -> Registry:
    """Build a registry from the parsed config (see ``markets.json`` for the format)."""
    currencies = tuple(
        Currency(
            code=c["code"],
            name=c["name"],
            symbol=c.get("symbol", c["code"]),
            method=c.get("method", c["code"]),
            withdrawal_fee=parse_amount(c.get("withdrawal_fee", "0")),
        )
        for c in config["currencies"]
    )
    known = {c.code for c in currencies}
    fees = config.get("fees", {})
    markets = []
    for m in config["markets"]:
        base, quote = split_pair(m["symbol"])
        if base not in known or quote not in known:
            raise ValueError(f"market {m['symbol']} names an unknown currency")
        markets.append(
            Market(
                symbol=m["symbol"],
                base=base,
                quote=quote,
                min_order_size=parse_amount(m["min_order_size"]),
                max_order_size=parse_amount(m["max_order_size"]),
                maker_fee_ppm=_ppm(m.get("maker_fee", fees.get("maker", "0.001"))),
                taker_fee_ppm=_ppm(m.get("taker_fee", fees.get("taker", "0.002"))),
                reference_price=parse_price(m.get("reference_price", "1")),
                margin=bool(m.get("margin", False)),
                initial_margin=Decimal(m["initial_margin"]) if "initial_margin" in m else None,
                min_margin=Decimal(m["min_margin"]) if "min_margin" in m else None,
            )
        )
    return Registry(currencies=currencies, markets=tuple(markets))


def load_registry(path: Path | None = None) -> Registry:
    """The registry from ``path``, or the one shipped with the package."""
    if path is None:
        text = resources.files("venue.core").joinpath("markets.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return registry_from_config(json.loads(text))
