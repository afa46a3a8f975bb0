"""Public WebSocket channels: subscribe requests, subscribed replies, and row rendering.

What lives here (spec/bitfinex-v2.md §7.3–§7.5, clients.md §4):
- ``parse_subscribe(request, is_listed)`` turns a ``{"event":"subscribe",…}`` object into a
  ``ChannelSpec`` or raises ``SubscribeError`` carrying Bitfinex's code and text;
- ``subscribed_reply(spec, chan_id, request)`` builds the ``subscribed`` event with the real
  exchange's key order (``subId`` echoed, ``len`` as a string, ``pair``/``key`` last — cryptofeed
  joins the last key/value pair as strings, clients.md §4);
- ``render_*`` functions turn raw fixed-point rows into the JSON text of one channel message body,
  in one of four ``Format`` variants (the DEC_S and TIME_S conf flags, §7.2);
- ``book_checksum(prec, bids, asks)`` computes the §7.5 CRC-32 from exactly the digits that
  ``digits`` writes into the rows, and ``render_checksum`` the ``"cs"`` body.

Decisions where the spec is silent (kept here so they are made once):
- a bad ``freq`` is 10020 "freq: invalid" (Bitfinex documents no code for it; 10020 is its
  generic parameter error); a bad candle key is 10300 "key: invalid";
- channels venue does not serve — ``status`` (no derivatives) — are 10302 "channel: unknown";
  funding symbols (``fUSD``) are 10300 "symbol: invalid" (no public funding books yet);
- the checksum of a ``len=1`` book covers the one entry per side the client holds.

Invariants:
- numbers are rendered by ``digits`` only (the shortest form of ``core.numbers.to_text``: no
  ``.0``, no exponent), so a checksum computed by any client from the received text equals the
  one we send;
- ``ChannelSpec.key`` identifies the shared data stream: two subscriptions with equal keys receive
  byte-identical bodies (only the chanId prefix and the per-connection seq/ts tail differ).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

from venue.core.numbers import SCALE
from venue.protocol.errors import Code
from venue.protocol.wire import num_text

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
CHECKSUM_DEPTH = 25  # §7.5: the 25 best entries of each side


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
    length = whole_number(value)
    if length is None or length not in LENGTHS:
        raise SubscribeError(ERR_BOOK_LEN, "len: invalid")
    return length


def whole_number(value: object) -> int | None:
    """A non-negative integer given as a JSON number or a string of ASCII digits (inputs take
    numbers as strings everywhere, spec §11); None for anything else, bools included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


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

_CACHE_LIMIT = 1 << 16
_digits: dict[int, bytes] = {}


def format_of(dec_s: bool, time_s: bool) -> int:
    return (2 if dec_s else 0) | (1 if time_s else 0)


def digits(raw: int) -> bytes:
    """The wire digits of a raw 1e-8 value (``wire.num_text``: shortest, no ``.0``, no exponent).

    Book prices and amounts repeat constantly, so the text is cached (bounded: cleared when full,
    cheaper than LRU bookkeeping on every call). Both the rows and the checksum use this one
    function, which is what makes the checksum match the digits a client received (§7.5).
    """
    text = _digits.get(raw)
    if text is None:
        if len(_digits) >= _CACHE_LIMIT:
            _digits.clear()
        text = _digits[raw] = num_text(raw)
    return text


def _dec(raw: int, fmt: int) -> bytes:
    return b'"%b"' % digits(raw) if fmt & 2 else digits(raw)


def _time(ms: int, fmt: int) -> bytes:
    if not fmt & 1:
        return b"%d" % ms
    # TIME_S has no documented format; ISO 8601 in UTC with milliseconds is what the web UI shows.
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return f'"{moment.strftime("%Y-%m-%dT%H:%M:%S")}.{ms % 1000:03d}Z"'.encode()


_UNIT = SCALE  # raw 1
BookRow = tuple[int, int, int]  # P*: (price, count, amount); R0: (order_id, price, amount)


def book_row_text(prec: str, row: BookRow, fmt: int) -> bytes:
    """One book entry: ``[PRICE,COUNT,AMOUNT]`` (P*) or ``[ORDER_ID,PRICE,AMOUNT]`` (R0).

    A deletion (COUNT 0 for P*, PRICE 0 for R0) is written with AMOUNT exactly 1 or -1 (§7.4),
    whatever magnitude the row carries: only its sign says the side.
    """
    if prec == "R0":
        if row[1] == 0:
            return b"[%d,0,%b]" % (row[0], _dec(_UNIT if row[2] > 0 else -_UNIT, fmt))
        return b"[%d,%b,%b]" % (row[0], _dec(row[1], fmt), _dec(row[2], fmt))
    if row[1] == 0:
        return b"[%b,0,%b]" % (_dec(row[0], fmt), _dec(_UNIT if row[2] > 0 else -_UNIT, fmt))
    return b"[%b,%d,%b]" % (_dec(row[0], fmt), row[1], _dec(row[2], fmt))


def render_book_snapshot(prec: str, bids: Sequence[BookRow], asks: Sequence[BookRow], fmt: int) -> bytes:
    """Snapshot body: bids best-first then asks best-first (§7.4; Node's checksum needs it)."""
    return b"[%b]" % b",".join([book_row_text(prec, r, fmt) for r in (*bids, *asks)])


def render_book_update(prec: str, rows: Sequence[BookRow], fmt: int, bulk: bool) -> list[bytes]:
    """Update bodies: one per row, or one list of rows with BULK_UPDATES (§7.2)."""
    texts = [book_row_text(prec, r, fmt) for r in rows]
    if bulk and len(texts) > 1:
        return [b"[%b]" % b",".join(texts)]
    return texts


def book_deletion(key: int, is_bid: bool) -> BookRow:
    """The row that removes a level (COUNT 0, AMOUNT ±1) or a raw order (PRICE 0, AMOUNT ±1)."""
    # The key sits first in both layouts and the middle field is 0 in both (§7.4).
    return (key, 0, _UNIT if is_bid else -_UNIT)


_entries: dict[tuple[bool, int, int], bytes] = {}


def _entry(raw: bool, key: int, amount: int) -> bytes:
    """``key:amount`` of one checksum entry (cached: a view barely changes between updates)."""
    cache_key = (raw, key, amount)
    text = _entries.get(cache_key)
    if text is None:
        if len(_entries) >= _CACHE_LIMIT:
            _entries.clear()
        key_text = b"%d" % key if raw else digits(key)
        text = _entries[cache_key] = b"%b:%b" % (key_text, digits(amount))
    return text


def book_checksum(prec: str, bids: Sequence[BookRow], asks: Sequence[BookRow]) -> int:
    """§7.5: CRC-32 of the 25 best bids and asks interleaved, as a signed 32-bit integer.

    ``key:amount`` per entry, bid0 ask0 bid1 ask1 …; the key is the price for P* books and the
    order id for R0; ask amounts stay negative; a shorter side simply stops contributing. The
    digits come from ``digits``, the function that writes them on the wire, so the value is
    exactly what a client computes from the text.
    """
    raw = prec == "R0"
    bid_parts = [_entry(raw, r[0], r[2]) for r in bids[:CHECKSUM_DEPTH]]
    ask_parts = [_entry(raw, r[0], r[2]) for r in asks[:CHECKSUM_DEPTH]]
    common = min(len(bid_parts), len(ask_parts))
    parts = [part for pair in zip(bid_parts, ask_parts) for part in pair]
    parts += bid_parts[common:] or ask_parts[common:]
    crc = zlib.crc32(b":".join(parts))
    return crc - (1 << 32) if crc & 0x80000000 else crc


def render_checksum(checksum: int) -> bytes:
    return b'"cs",%d' % checksum


TradeRow = tuple[int, int, int, int]  # (id, mts, amount, price)


def trade_row_text(row: TradeRow, fmt: int) -> bytes:
    return b"[%d,%b,%b,%b]" % (row[0], _time(row[1], fmt), _dec(row[2], fmt), _dec(row[3], fmt))


def render_trades_snapshot(rows: Iterable[TradeRow], fmt: int) -> bytes:
    """Most recent first (§7.4)."""
    return b"[%b]" % b",".join([trade_row_text(r, fmt) for r in rows])


def render_trade_update(kind: str, row: TradeRow, fmt: int) -> bytes:
    """``"te",[…]`` or ``"tu",[…]`` — the same trade twice (§7.4: both carry the same ID today)."""
    return b'"%b",%b' % (kind.encode(), trade_row_text(row, fmt))


def render_ticker(values: Sequence[int], fmt: int) -> bytes:
    """``[BID,BID_SIZE,ASK,ASK_SIZE,DAILY_CHANGE,DAILY_CHANGE_RELATIVE,LAST_PRICE,VOLUME,HIGH,LOW]``."""
    return b"[%b]" % b",".join([_dec(v, fmt) for v in values])


CandleRow = tuple[int, int, int, int, int, int]  # (mts, open, close, high, low, volume)


def candle_row_text(row: Sequence[int], fmt: int) -> bytes:
    return b"[%b,%b]" % (_time(row[0], fmt), b",".join([_dec(v, fmt) for v in row[1:]]))


def render_candles_snapshot(rows: Iterable[Sequence[int]], fmt: int) -> bytes:
    """Newest first (§7.4)."""
    return b"[%b]" % b",".join([candle_row_text(r, fmt) for r in rows])


def render_candle_update(row: Sequence[int], fmt: int) -> bytes:
    return candle_row_text(row, fmt)
