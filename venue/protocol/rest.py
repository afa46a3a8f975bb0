"""Public REST input → small frozen queries (spec §2.4, §3, §9). Sans-I/O.

Each ``parse_*`` takes the path parts and query parameters exactly as received (strings; a
``Mapping[str, str]`` such as aiohttp's ``request.query``) and returns a frozen dataclass, or
raises ``ProtocolError`` with Bitfinex's code and text — ``10020 "<field>: invalid"`` for a bad
parameter (``limit: invalid`` is the real answer to a too-large limit, §2.4), never a stack
trace. The only state consulted is the ``Registry`` (which symbols and currencies are listed).

Decisions where the spec is silent (documented so they can be revisited):
- a symbol that is not listed, a funding symbol (``fUSD``: venue has no funding market yet) and a
  malformed one are all ``10020 "symbol: invalid"``;
- ``tickers``/``tickers/hist`` silently leave out symbols that are not listed (the real API
  answers rows only for symbols it knows); a missing ``symbols`` parameter is an error;
- ``start`` > ``end`` is not an error: the answer is simply empty;
- endpoints the spec lists with no default limit use 100 (public) / 25 (auth history,
  Node's default for ledgers and movements).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from venue.core.numbers import NumberError, parse_amount, parse_price
from venue.core.symbols import Market, Registry
from venue.protocol.errors import Code, ProtocolError, invalid

Params = Mapping[str, Any]

# -- limits (§2.4): endpoint → (default, max) ---------------------------------------------------

LIMITS: dict[str, tuple[int, int]] = {
    "trades": (125, 10000),
    "candles": (100, 10000),
    "stats1": (100, 10000),
    "tickers_hist": (100, 250),
    "status_deriv_hist": (100, 5000),
    "liquidations": (100, 500),
    "rankings": (125, 10000),
    "funding_stats": (100, 250),
    # authenticated history (JSON body, same rules)
    "orders_hist": (25, 2500),
    "trades_hist": (25, 2500),
    "ledgers_hist": (25, 2500),
    "movements_hist": (25, 2500),
    "funding_hist": (25, 500),
    "positions_hist": (50, 50),
    "positions_snap": (50, 500),
    "positions_audit": (250, 250),
    "logins_hist": (25, 250),
    "audit_hist": (25, 500),
}

BOOK_PRECISIONS = ("P0", "P1", "P2", "P3", "P4", "R0")
# The spec's REST table lists 1/25/100, but the real REST book answers len=250 too (clients
# fetch the deep book that way, e.g. ``book/fUSD/P0?len=250``) and the issue asks for it, so
# both transports take the same lengths; only the error code differs (§7.8 on WS).
WS_BOOK_LENGTHS = (1, 25, 100, 250)
REST_BOOK_LENGTHS = WS_BOOK_LENGTHS
DEFAULT_BOOK_LENGTH = 25

# Candle timeframes of the newest docs; ``7D`` is the older name of ``1W`` (ccxt still sends it).
TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "3h", "6h", "12h", "1D", "1W", "14D", "1M")
TIMEFRAME_ALIASES = {"7D": "1W"}
SECTIONS = ("last", "hist")

_INTEGER = re.compile(r"-?[0-9]{1,19}")
MAX_MTS = 9007199254740991  # JS MAX_SAFE_INTEGER: anything larger is not a time


# -- small readers ------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A parameter as text: aiohttp gives str; JSON bodies may give numbers."""
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | str):
        return str(value).strip()
    return None


def _integer(params: Params, field: str) -> int | None:
    """An optional integer parameter; present but not an integer → ``<field>: invalid``."""
    if field not in params or params[field] is None:
        return None
    text = _text(params[field])
    if text is None or not _INTEGER.fullmatch(text):
        raise invalid(field)
    return int(text)


# -- symbols ----------------------------------------------------------------------------------


def trading_market(symbol: Any, registry: Registry, *, field: str = "symbol") -> Market:
    """A listed trading symbol (``tBTCUSD``) → its market; anything else is ``symbol: invalid``."""
    market = registry.market(symbol) if isinstance(symbol, str) else None
    if market is None:
        raise invalid(field)
    return market


def funding_currency(symbol: Any, registry: Registry, *, field: str = "symbol") -> str:
    """A funding symbol ``f<CUR>`` of a listed currency → the currency code."""
    if (
        not isinstance(symbol, str)
        or not symbol.startswith("f")
        or not registry.has_currency(symbol[1:])
    ):
        raise invalid(field)
    return symbol[1:]


# -- history queries (§2.4) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """``start``/``end`` in ms (None = unbounded / now), ``limit``, ``sort`` 1 ascending or -1."""

    start: int | None
    end: int | None
    limit: int
    sort: int


def parse_limit(params: Params, endpoint: str) -> int:
    """``limit`` within 1..max for ``endpoint`` (table §2.4); absent → the endpoint's default."""
    default, maximum = LIMITS[endpoint]
    limit = _integer(params, "limit")
    if limit is None:
        return default
    if limit < 1 or limit > maximum:
        raise invalid("limit")
    return limit


def parse_sort(params: Params) -> int:
    """``sort``: ``1`` oldest first, ``-1`` newest first (default -1)."""
    sort = _integer(params, "sort")
    if sort is None:
        return -1
    if sort not in (1, -1):
        raise invalid("sort")
    return sort


def _mts(params: Params, field: str) -> int | None:
    value = _integer(params, field)
    if value is not None and not 0 <= value <= MAX_MTS:
        raise invalid(field)
    return value


def parse_history(params: Params, endpoint: str) -> HistoryQuery:
    """``start``, ``end``, ``limit``, ``sort`` of a history endpoint (public query or auth body)."""
    return HistoryQuery(
        start=_mts(params, "start"),
        end=_mts(params, "end"),
        limit=parse_limit(params, endpoint),
        sort=parse_sort(params),
    )


# -- ticker, tickers, trades --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TickerQuery:
    symbol: str


def parse_ticker(symbol: str, registry: Registry) -> TickerQuery:
    """``GET ticker/{symbol}``: a listed trading symbol."""
    return TickerQuery(trading_market(symbol, registry).symbol)


@dataclass(frozen=True, slots=True)
class TickersQuery:
    """The listed trading symbols asked for, in request order (registry order for ``ALL``)."""

    symbols: tuple[str, ...]


def _symbol_list(params: Params, registry: Registry) -> tuple[str, ...]:
    text = _text(params.get("symbols"))
    if not text:
        raise invalid("symbols")
    if text == "ALL":
        return tuple(m.symbol for m in registry.markets)
    chosen: list[str] = []
    for symbol in text.split(","):
        symbol = symbol.strip()
        if registry.market(symbol) is not None and symbol not in chosen:
            chosen.append(symbol)
    return tuple(chosen)


def parse_tickers(params: Params, registry: Registry) -> TickersQuery:
    """``GET tickers?symbols=tBTCUSD,tETHUSD`` or ``symbols=ALL`` (§3.2)."""
    return TickersQuery(_symbol_list(params, registry))


@dataclass(frozen=True, slots=True)
class TickersHistQuery:
    symbols: tuple[str, ...]
    history: HistoryQuery


def parse_tickers_hist(params: Params, registry: Registry) -> TickersHistQuery:
    """``GET tickers/hist?symbols=…&start&end&limit&sort`` (§3.4; limit ≤ 250, default 100)."""
    return TickersHistQuery(_symbol_list(params, registry), parse_history(params, "tickers_hist"))


@dataclass(frozen=True, slots=True)
class TradesQuery:
    symbol: str
    history: HistoryQuery


def parse_trades(symbol: str, section: str, params: Params, registry: Registry) -> TradesQuery:
    """``GET trades/{symbol}/hist`` (§3.5; limit ≤ 10000, default 125)."""
    if section != "hist":
        raise invalid("section")
    return TradesQuery(trading_market(symbol, registry).symbol, parse_history(params, "trades"))


# -- book ---------------------------------------------------------------------------------------


def parse_precision(value: Any, *, ws: bool = False) -> str:
    """``P0``–``P4`` or ``R0`` (§3.6); WS answers a bad one with code 10011 (§7.8)."""
    if value in BOOK_PRECISIONS:
        return str(value)
    if ws:
        raise ProtocolError(Code.BOOK_PRECISION, "prec: invalid")
    raise invalid("prec")


def parse_book_length(value: Any, *, ws: bool = False) -> int:
    """``len`` 1/25/100/250 (§3.6, §7.3), as a number or a numeric string.

    Absent means 25. WS answers a bad length with code 10012 (§7.8).
    """
    if value is None:
        return DEFAULT_BOOK_LENGTH
    text = _text(value)
    allowed = WS_BOOK_LENGTHS if ws else REST_BOOK_LENGTHS
    if text is not None and _INTEGER.fullmatch(text) and int(text) in allowed:
        return int(text)
    if ws:
        raise ProtocolError(Code.BOOK_LENGTH, "len: invalid")
    raise invalid("len")


@dataclass(frozen=True, slots=True)
class BookQuery:
    symbol: str
    precision: str
    length: int


def parse_book(symbol: str, precision: str, params: Params, registry: Registry) -> BookQuery:
    """``GET book/{symbol}/{precision}?len=1|25|100|250``."""
    market = trading_market(symbol, registry)
    return BookQuery(
        market.symbol, parse_precision(precision), parse_book_length(params.get("len"))
    )


# -- candles (§3.8) -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CandleKey:
    """``trade:{TF}:{symbol}``; ``timeframe`` is canonical (``7D`` becomes ``1W``)."""

    timeframe: str
    symbol: str

    @property
    def key(self) -> str:
        return f"trade:{self.timeframe}:{self.symbol}"


def parse_timeframe(value: str) -> str:
    """A candle timeframe, canonical; unknown → ``timeframe: invalid``."""
    value = TIMEFRAME_ALIASES.get(value, value)
    if value not in TIMEFRAMES:
        raise invalid("timeframe")
    return value


def parse_candle_key(key: Any, registry: Registry) -> CandleKey:
    """``trade:1m:tBTCUSD`` (the symbol may hold a colon: ``trade:1m:tTESTBTC:TESTUSD``).

    Funding candle keys (``trade:1m:fUSD:p30``) name no listed market here: ``symbol: invalid``.
    """
    if not isinstance(key, str):
        raise invalid("key")
    parts = key.split(":", 2)
    if len(parts) != 3 or parts[0] != "trade":
        raise invalid("key")
    timeframe = parse_timeframe(parts[1])
    market = trading_market(parts[2], registry)
    return CandleKey(timeframe, market.symbol)


@dataclass(frozen=True, slots=True)
class CandlesQuery:
    candle: CandleKey
    section: str
    history: HistoryQuery


def parse_candles(key: str, section: str, params: Params, registry: Registry) -> CandlesQuery:
    """``GET candles/{key}/{last|hist}`` (§3.8; limit ≤ 10000, default 100, sort default -1)."""
    if section not in SECTIONS:
        raise invalid("section")
    return CandlesQuery(parse_candle_key(key, registry), section, parse_history(params, "candles"))


# -- stats1 (§3.7) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatsKey:
    """One stats series: ``name`` (``pos.size``…), ``size`` (``1m``…), ``symbol``, ``side``."""

    name: str
    size: str
    symbol: str
    side: str | None = None

    @property
    def key(self) -> str:
        tail = f":{self.side}" if self.side else ""
        return f"{self.name}:{self.size}:{self.symbol}{tail}"


# name → (size, what the symbol part holds)
STATS_KEYS: dict[str, tuple[str, str]] = {
    "pos.size": ("1m", "pair+side"),
    "funding.size": ("1m", "funding"),
    "credits.size": ("1m", "funding"),
    "credits.size.sym": ("1m", "funding+pair"),
    "vol.1d": ("30m", "platform"),
    "vol.7d": ("30m", "platform"),
    "vol.30d": ("30m", "platform"),
    "vwap": ("1d", "pair"),
}


def parse_stats_key(key: Any, registry: Registry) -> StatsKey:
    """``pos.size:1m:tBTCUSD:long``, ``funding.size:1m:fUSD``, ``credits.size.sym:1m:fUSD:tBTCUSD``,
    ``vol.1d:30m:BFX``, ``vwap:1d:tBTCUSD`` (table §3.7). Anything else: ``key: invalid``."""
    if not isinstance(key, str):
        raise invalid("key")
    parts = key.split(":", 2)
    if len(parts) != 3 or parts[0] not in STATS_KEYS:
        raise invalid("key")
    name, size, rest = parts
    expected_size, shape = STATS_KEYS[name]
    if size != expected_size:
        raise invalid("key")
    if shape == "pair":
        return StatsKey(name, size, trading_market(rest, registry).symbol)
    if shape == "pair+side":
        symbol, _, side = rest.rpartition(":")
        if side not in ("long", "short"):
            raise invalid("key")
        return StatsKey(name, size, trading_market(symbol, registry).symbol, side)
    if shape == "funding":
        funding_currency(rest, registry)
        return StatsKey(name, size, rest)
    if shape == "funding+pair":
        funding, sep, pair = rest.partition(":t")
        if not sep:
            raise invalid("key")
        funding_currency(funding, registry)
        return StatsKey(name, size, funding, trading_market("t" + pair, registry).symbol)
    if rest != "BFX":
        raise invalid("key")
    return StatsKey(name, size, rest)


@dataclass(frozen=True, slots=True)
class StatsQuery:
    stats: StatsKey
    section: str
    history: HistoryQuery


def parse_stats(key: str, section: str, params: Params, registry: Registry) -> StatsQuery:
    """``GET stats1/{key}/{last|hist}`` — the section is mandatory (§3.7)."""
    if section not in SECTIONS:
        raise invalid("section")
    return StatsQuery(parse_stats_key(key, registry), section, parse_history(params, "stats1"))


# -- calc (§3.14, §3.15) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TradeAverageQuery:
    """``calc/trade/avg`` for a trading pair: ``amount`` > 0 buys, < 0 sells; optional limit."""

    symbol: str
    amount: int
    price_limit: int | None


def _merged(query: Params, body: Any) -> dict[str, Any]:
    # Node sends the inputs as a query string with body {}; bfxapi sends a JSON body (§3.14).
    merged: dict[str, Any] = dict(query)
    if isinstance(body, dict):
        merged.update({k: v for k, v in body.items() if v is not None})
    elif body is not None:
        raise ProtocolError(Code.PARAMS, "input: invalid")
    return merged


def parse_trade_average(query: Params, body: Any, registry: Registry) -> TradeAverageQuery:
    """``POST calc/trade/avg``: ``symbol``, ``amount`` (not 0), ``price_limit``/``rate_limit``."""
    params = _merged(query, body)
    market = trading_market(params.get("symbol"), registry)
    try:
        amount = parse_amount(params["amount"])
    except (KeyError, NumberError, ArithmeticError):
        raise invalid("amount") from None
    if amount == 0:
        raise invalid("amount")
    limit_field = "price_limit" if params.get("price_limit") is not None else "rate_limit"
    price_limit: int | None = None
    if params.get(limit_field) is not None:
        try:
            price_limit = parse_price(params[limit_field])
        except (NumberError, ArithmeticError):
            raise invalid(limit_field) from None
        if price_limit <= 0:
            raise invalid(limit_field)
    return TradeAverageQuery(market.symbol, amount, price_limit)


@dataclass(frozen=True, slots=True)
class FxQuery:
    currency_from: str
    currency_to: str


def parse_fx(query: Params, body: Any, registry: Registry) -> FxQuery:
    """``POST calc/fx`` ``{"ccy1":"BTC","ccy2":"USD"}`` — both listed currencies."""
    params = _merged(query, body)
    codes = []
    for field in ("ccy1", "ccy2"):
        code = params.get(field)
        if not isinstance(code, str) or not registry.has_currency(code):
            raise invalid(field)
        codes.append(code)
    return FxQuery(codes[0], codes[1])
