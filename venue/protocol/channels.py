"""Public WebSocket channels: subscribe requests, subscribed replies, and row rendering.

What lives here (spec/bitfinex-v2.md §7.3–§7.5, clients.md §4):
- ``parse_subscribe(request, is_listed)`` turns a ``{"event":"subscribe",…}`` object into a
  ``ChannelSpec`` or raises ``SubscribeError`` carrying Bitfinex's code and text;
- ``subscribed_reply(spec, chan_id, request)`` builds the ``subscribed`` event with the real
  exchange's key order (``subId`` echoed, ``len`` as a string, ``pair``/``key`` last — cryptofeed
  joins the last key/value pair as strings, clients.md §4);
- ``render_*`` functions turn raw fixed-point rows into the JSON text of one channel message body,
  in one of four ``Format`` variants (the DEC_S and TIME_S conf flags, §7.2);
- ``render_checksum(cs)`` writes the §7.5 ``"cs"`` body; the value itself comes from
  ``views.books.TopBook.checksum()``, computed with the same ``to_text`` digits as the rows here.

Invariants:
- numbers are rendered with ``core.numbers.to_text`` only: shortest form, no ``.0``, no exponent,
  so a checksum computed by any client from the received text equals the one we send;
- ``ChannelSpec.key`` identifies the shared data stream: two subscriptions with equal keys receive
  byte-identical bodies (only the chanId prefix and the per-connection seq/ts tail differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import orjson

from venue.core.numbers import SCALE, to_text
from venue.protocol.errors import Code

# -- codes (spec §7.8) -------------------------------------------------------------------------

ERR_UNKNOWN = int(Code.UNKNOWN)
ERR_PARAMS = int(Code.PARAMS)
ERR_BOOK_PREC = int(Code.BOOK_PRECISION)
ERR_BOOK_LEN = int(Code.BOOK_LENGTH)
ERR_SUB_FAIL = int(Code.SUB_FAIL)
ERR_SUB_MULTI = int(Code.SUB_MULTI)
ERR_SUB_UNKNOWN = int(Code.SUB_UNKNOWN)
ERR_SUB_LIMIT = int(Code.SUB_LIMIT)
ERR_UNSUB_FAIL = int(Code.UNSUB_FAIL)


class SubscribeError(Exception):
    """A subscribe request Bitfinex would refuse, with its code and message text."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg


# -- channel vocabulary -----------------------------------------------------------------------

TICKER = "ticker"
TRADES = "trades"
BOOK = "book"
CANDLES = "candles"
CHANNELS = (TICKER, TRADES, BOOK, CANDLES)

PRECISIONS = ("P0", "P1", "P2", "P3", "P4", "R0")
FREQUENCIES = ("F0", "F1")
LENGTHS = (1, 25, 100, 250)
# §3.8: newest docs list 1W, older ones (and ccxt) 7D; both are accepted and echoed as sent.
TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "3h", "6h", "12h", "1D", "1W", "7D", "14D", "1M")

DEFAULT_PREC = "P0"
DEFAULT_FREQ = "F0"
DEFAULT_LEN = 25


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One validated subscription: which stream, in which shape.

    ``symbol`` is always the ``t``-prefixed trading symbol; ``timeframe`` is set for candles only;
    ``prec``/``freq``/``length`` for books only.
    """

    channel: str
    symbol: str
    prec: str = ""
    freq: str = ""
    length: int = 0
    timeframe: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, int, str]:
        """The shared stream this subscription reads (equal keys ⇒ identical bodies)."""
        return (self.channel, self.symbol, self.prec, self.freq, self.length, self.timeframe)

    @property
    def candle_key(self) -> str:
        return f"trade:{self.timeframe}:{self.symbol}"

    @property
    def is_raw_book(self) -> bool:
        return self.prec == "R0"


# -- parsing ----------------------------------------------------------------------------------


def _symbol_of(request: dict[str, Any], is_listed: Callable[[str], bool]) -> str:
    """``symbol`` or legacy ``pair`` (with or without the ``t``), as a listed trading symbol."""
    raw = request.get("symbol")
    if raw is None:
        raw = request.get("pair")
    if not isinstance(raw, str) or not raw:
        raise SubscribeError(ERR_SUB_FAIL, "symbol: invalid")
    symbol = raw if raw.startswith("t") else f"t{raw}"
    if not is_listed(symbol):
        raise SubscribeError(ERR_SUB_FAIL, "symbol: invalid")
    return symbol


def _book_length(value: object) -> int:
    """``len`` as a number or a numeric string (clients.md §3: ccxt and cryptofeed send numbers)."""
    if value is None:
        return DEFAULT_LEN
    if isinstance(value, bool):
        raise SubscribeError(ERR_BOOK_LEN, "len: invalid")
    if isinstance(value, int):
        length = value
    elif isinstance(value, str) and value.isdigit():
        length = int(value)
    else:
        raise SubscribeError(ERR_BOOK_LEN, "len: invalid")
    if length not in LENGTHS:
        raise SubscribeError(ERR_BOOK_LEN, "len: invalid")
    return length


def _parse_candle_key(key: object, is_listed: Callable[[str], bool]) -> ChannelSpec:
    if not isinstance(key, str):
        raise SubscribeError(ERR_SUB_FAIL, "key: invalid")
    parts = key.split(":", 2)
    if len(parts) != 3 or parts[0] != "trade" or parts[1] not in TIMEFRAMES:
        raise SubscribeError(ERR_SUB_FAIL, "key: invalid")
    symbol = parts[2]
    if not symbol.startswith("t") or not is_listed(symbol):
        raise SubscribeError(ERR_SUB_FAIL, "key: invalid")
    return ChannelSpec(CANDLES, symbol, timeframe=parts[1])


def parse_subscribe(request: dict[str, Any], is_listed: Callable[[str], bool]) -> ChannelSpec:
    """Validate a subscribe request.

    Raises ``SubscribeError``: 10302 unknown channel, 10300 bad symbol or candle key, 10011 bad
    book precision, 10012 bad book length, 10020 bad book frequency (Bitfinex documents no
    dedicated code for ``freq``; 10020 is its generic "request parameters" code).
    """
    channel = request.get("channel")
    if channel not in CHANNELS:
        raise SubscribeError(ERR_SUB_UNKNOWN, "channel: unknown")
    if channel == CANDLES:
        return _parse_candle_key(request.get("key"), is_listed)
    symbol = _symbol_of(request, is_listed)
    if channel != BOOK:
        return ChannelSpec(channel, symbol)
    prec = request.get("prec", DEFAULT_PREC)
    if prec not in PRECISIONS:
        raise SubscribeError(ERR_BOOK_PREC, "prec: invalid")
    freq = request.get("freq", DEFAULT_FREQ)
    if freq not in FREQUENCIES:
        raise SubscribeError(ERR_PARAMS, "freq: invalid")
    return ChannelSpec(BOOK, symbol, prec=prec, freq=freq, length=_book_length(request.get("len")))


def subscribed_reply(spec: ChannelSpec, chan_id: int, request: dict[str, Any]) -> dict[str, Any]:
    """The ``subscribed`` event, keys in the real exchange's order (spec §7.3 table).

    ``subId`` is echoed whatever its type (bfxapi sends a uuid string and needs it back);
    ``len`` is a string (Node filters listeners with ``!==`` against ``"25"``).
    """
    reply: dict[str, Any] = {"event": "subscribed", "channel": spec.channel, "chanId": chan_id}
    if spec.channel == CANDLES:
        if "subId" in request:
            reply["subId"] = request["subId"]
        reply["key"] = request["key"]
        return reply
    reply["symbol"] = spec.symbol
    if spec.channel == BOOK:
        reply["prec"] = spec.prec
        reply["freq"] = spec.freq
        reply["len"] = str(spec.length)
    if "subId" in request:
        reply["subId"] = request["subId"]
    reply["pair"] = spec.symbol[1:]
    return reply


def error_reply(code: int, msg: str, request: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"event":"error",…}`` echoing the request's own fields first, as the real API does
    (xchange-stream#254: ``{"channel":"book",…,"event":"error",…,"msg":…,"code":10300}``)."""
    reply: dict[str, Any] = {}
    if request:
        reply.update((k, v) for k, v in request.items() if k not in ("event", "msg", "code"))
    reply["event"] = "error"
    reply["msg"] = msg
    reply["code"] = code
    return reply


# -- rendering --------------------------------------------------------------------------------

# A Format is the index of one rendering variant: bit 1 = DEC_S (decimals as strings),
# bit 0 = TIME_S (timestamps as date strings). Bodies are rendered once per variant in use.
FORMATS = 4
PLAIN = 0


def format_of(dec_s: bool, time_s: bool) -> int:
    return (2 if dec_s else 0) | (1 if time_s else 0)


def _dec(raw: int, fmt: int) -> str:
    text = to_text(raw)
    return f'"{text}"' if fmt & 2 else text


def _time(ms: int, fmt: int) -> str:
    if not fmt & 1:
        return str(ms)
    # TIME_S has no documented format; ISO 8601 in UTC with milliseconds is what the web UI shows.
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return f'"{moment.strftime("%Y-%m-%dT%H:%M:%S")}.{ms % 1000:03d}Z"'


_UNIT = SCALE  # raw 1
BookRow = tuple[int, int, int]  # P*: (price, count, amount); R0: (order_id, price, amount)


def book_row_text(prec: str, row: BookRow, fmt: int) -> str:
    """One book entry: ``[PRICE,COUNT,AMOUNT]`` (P*) or ``[ORDER_ID,PRICE,AMOUNT]`` (R0).

    A deletion (COUNT 0 for P*, PRICE 0 for R0) is written with AMOUNT exactly 1 or -1 (§7.4),
    whatever magnitude the row carries: only its sign says the side.
    """
    if prec == "R0":
        if row[1] == 0:
            return f"[{row[0]},0,{_dec(_UNIT if row[2] > 0 else -_UNIT, fmt)}]"
        return f"[{row[0]},{_dec(row[1], fmt)},{_dec(row[2], fmt)}]"
    if row[1] == 0:
        return f"[{_dec(row[0], fmt)},0,{_dec(_UNIT if row[2] > 0 else -_UNIT, fmt)}]"
    return f"[{_dec(row[0], fmt)},{row[1]},{_dec(row[2], fmt)}]"


def render_book_snapshot(prec: str, bids: Sequence[BookRow], asks: Sequence[BookRow], fmt: int) -> bytes:
    """Snapshot body: bids best-first then asks best-first (§7.4; Node's checksum needs it)."""
    rows = ",".join(book_row_text(prec, r, fmt) for r in (*bids, *asks))
    return f"[{rows}]".encode()


def render_book_update(prec: str, rows: Sequence[BookRow], fmt: int, bulk: bool) -> list[bytes]:
    """Update bodies: one per row, or one list of rows with BULK_UPDATES (§7.2)."""
    texts = [book_row_text(prec, r, fmt) for r in rows]
    if bulk and len(texts) > 1:
        return [f"[{','.join(texts)}]".encode()]
    return [t.encode() for t in texts]


def book_deletion(key: int, is_bid: bool) -> BookRow:
    """The row that removes a level (COUNT 0, AMOUNT ±1) or a raw order (PRICE 0, AMOUNT ±1)."""
    # The key sits first in both layouts and the middle field is 0 in both (§7.4).
    return (key, 0, 100_000_000 if is_bid else -100_000_000)


def render_checksum(checksum: int) -> bytes:
    return b'"cs",' + str(checksum).encode()


TradeRow = tuple[int, int, int, int]  # (id, mts, amount, price)


def trade_row_text(row: TradeRow, fmt: int) -> str:
    return f"[{row[0]},{_time(row[1], fmt)},{_dec(row[2], fmt)},{_dec(row[3], fmt)}]"


def render_trades_snapshot(rows: Sequence[TradeRow], fmt: int) -> bytes:
    """Most recent first (§7.4)."""
    return f"[{','.join(trade_row_text(r, fmt) for r in rows)}]".encode()


def render_trade_update(kind: str, row: TradeRow, fmt: int) -> bytes:
    """``"te",[…]`` or ``"tu",[…]`` — the same trade twice (§7.4: both carry the same ID today)."""
    return f'"{kind}",{trade_row_text(row, fmt)}'.encode()


def render_ticker(values: Sequence[int], fmt: int) -> bytes:
    """``[BID,BID_SIZE,ASK,ASK_SIZE,DAILY_CHANGE,DAILY_CHANGE_RELATIVE,LAST_PRICE,VOLUME,HIGH,LOW]``."""
    return f"[{','.join(_dec(v, fmt) for v in values)}]".encode()


CandleRow = tuple[int, int, int, int, int, int]  # (mts, open, close, high, low, volume)


def candle_row_text(row: CandleRow, fmt: int) -> str:
    return f"[{_time(row[0], fmt)},{','.join(_dec(v, fmt) for v in row[1:])}]"


def render_candles_snapshot(rows: Sequence[CandleRow], fmt: int) -> bytes:
    """Newest first (§7.4)."""
    return f"[{','.join(candle_row_text(r, fmt) for r in rows)}]".encode()


def render_candle_update(row: CandleRow, fmt: int) -> bytes:
    return candle_row_text(row, fmt).encode()


def dumps(obj: Any) -> bytes:
    """JSON text of an event object (orjson keeps dict insertion order)."""
    return orjson.dumps(obj)
