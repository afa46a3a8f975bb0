"""A tiny in-process app serving only /ws/2, fed by a fake sequencer (no core needed).

``FakeSequencer.release(events)`` hands events to the listeners exactly as the real sequencer
does after a command is durable, so the fan-out is exercised with real ``views.books``.
``LocalBook`` is an independent client-side book kept from the text of received frames (numbers
kept as the exact digit strings, as Node's managed books do) with its own checksum.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from venue.config import Settings
from venue.core.events import Event
from venue.core.orders import OrderState, OrderType
from venue.core.symbols import load_registry
from venue.gateway import ws as ws_gateway
from venue.gateway.app import CTX, ServerContext
from venue.gateway.clock import SystemClock
from venue.gateway.ratelimit import RateLimiter
from venue.gateway.ws import WsLimits


class FakeSequencer:
    def __init__(self) -> None:
        self.listeners: list[Any] = []
        self.seq = 0
        self.submitted: list[Any] = []
        self.exchange = None

    def add_listener(self, fn: Any) -> None:
        self.listeners.append(fn)

    async def submit(self, command: Any) -> list[Event]:
        self.submitted.append(command)
        return []

    def release(self, events: list[Event], ts: int = 1_700_000_000_000) -> None:
        self.seq += 1
        for fn in self.listeners:
            fn(self.seq, ts, events)


def make_ctx(
    tmp_path: Path, limits: WsLimits | None = None, clock: Any = None, market_data: Any = None
) -> ServerContext:
    base = replace(Settings(), rate_limits=False, data_dir=tmp_path)
    clock = clock or SystemClock()
    ctx = ServerContext(
        settings=base,
        sequencer=FakeSequencer(),
        market_data=market_data,
        registry=load_registry(),
        clock=clock,
        data_dir=tmp_path,
        admin_token="",
        rate_limiter=RateLimiter({}, clock, enabled=False),
    )
    if limits is not None:
        ctx.extras["ws_limits"] = limits
    return ctx


def make_app(ctx: ServerContext) -> web.Application:
    app = web.Application()
    app[CTX] = ctx
    ws_gateway.add_routes(app, ctx)
    return app


async def start_server(ctx: ServerContext) -> TestServer:
    server = TestServer(make_app(ctx))
    await server.start_server()
    return server


class FakeMarketData:
    """Views stand-in with settable ticker and candles (books: the real ``views.books``)."""

    def __init__(self) -> None:
        from venue.views.books import Books

        self.books = Books()
        self.ticker: tuple[int, ...] | None = None
        self.candles: list[tuple[int, ...]] = []  # newest first

    def ticker_values(self, symbol: str) -> tuple[int, ...] | None:
        return self.ticker

    def trade_rows(self, symbol: str, limit: int) -> list[tuple[int, int, int, int]]:
        return []

    def candle_rows(self, timeframe: str, symbol: str, limit: int) -> list[tuple[int, ...]]:
        return self.candles[:limit]


def order(
    order_id: int, symbol: str, amount: int, price: int, *, hidden: bool = False, in_book: bool = True
) -> OrderState:
    return OrderState(
        id=order_id,
        user_id=1,
        symbol=symbol,
        type=OrderType.EXCHANGE_LIMIT,
        created_ts=1,
        updated_ts=1,
        amount=amount,
        amount_orig=amount,
        price=price,
        status="ACTIVE",
        hidden=hidden,
        in_book=in_book,
    )


def lossless(text: str | bytes) -> Any:
    """JSON with every number kept as its exact text."""
    return json.loads(text, parse_float=str, parse_int=str)


class LocalBook:
    """A client's book for one channel, from snapshot + updates (spec §7.4), keyed by text."""

    def __init__(self, raw: bool) -> None:
        self.raw = raw
        self.bids: dict[str, tuple[str, str]] = {}  # key text → (price text, amount text)
        self.asks: dict[str, tuple[str, str]] = {}
        self.faults: list[str] = []

    def snapshot(self, rows: list[list[str]]) -> None:
        self.bids.clear()
        self.asks.clear()
        for row in rows:
            self.update(row)

    def update(self, row: list[str]) -> None:
        if self.raw:
            order_id, price, amount = row
            side = self.bids if not amount.startswith("-") else self.asks
            if price == "0":
                side.pop(order_id, None)
                (self.asks if side is self.bids else self.bids).pop(order_id, None)
            else:
                self.bids.pop(order_id, None)
                self.asks.pop(order_id, None)
                side[order_id] = (price, amount)
        else:
            price, count, amount = row
            side = self.bids if not amount.startswith("-") else self.asks
            other = self.asks if side is self.bids else self.bids
            if count == "0":
                side.pop(price, None)
            else:
                # A price is on one side only: a client keying its book by price alone would
                # lose this level if the other side's deletion had not come first.
                if price in other:
                    self.faults.append(f"level {price} added while still on the other side")
                side[price] = (price, amount)

    def sorted_sides(self) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
        from decimal import Decimal

        bids = [(k, *v) for k, v in self.bids.items()]
        asks = [(k, *v) for k, v in self.asks.items()]
        if self.raw:
            bids.sort(key=lambda r: (-Decimal(r[1]), int(r[0])))
            asks.sort(key=lambda r: (Decimal(r[1]), int(r[0])))
        else:
            bids.sort(key=lambda r: -Decimal(r[1]))
            asks.sort(key=lambda r: Decimal(r[1]))
        return bids, asks

    def checksum(self) -> int:
        """§7.5 computed here from the received digits, independently of the server's code."""
        bids, asks = self.sorted_sides()
        parts: list[str] = []
        for i in range(25):
            if i < len(bids):
                parts += [bids[i][0], bids[i][2]]
            if i < len(asks):
                parts += [asks[i][0], asks[i][2]]
        crc = zlib.crc32(":".join(parts).encode())
        return crc - (1 << 32) if crc >= 1 << 31 else crc


class BookClient:
    """A raw-socket client with SEQ_ALL + OB_CHECKSUM keeping one local book per channel."""

    def __init__(self) -> None:
        self.books: dict[str, LocalBook] = {}
        self.chan_of: dict[str, str] = {}
        self.seq = 0
        self.faults: list[str] = []
        self.checksums = 0

    def feed(self, text: str) -> None:
        msg = lossless(text)
        if isinstance(msg, dict):
            if msg["event"] == "subscribed":
                prec = msg["subId"].split("/")[-2]  # subId: "[symbol/]prec/len"
                self.books[msg["chanId"]] = LocalBook(raw=prec == "R0")
                self.chan_of[msg["chanId"]] = msg["subId"]
            return
        seq = int(msg[-1])
        if seq != self.seq + 1:
            self.faults.append(f"seq {seq} after {self.seq}")
        self.seq = seq
        book = self.books[msg[0]]
        body = msg[1:-1]
        if body[0] == "cs":
            self.checksums += 1
            if int(body[1]) != book.checksum():
                self.faults.append(f"checksum on {msg[0]}")
        elif body[0] == "hb":
            pass
        elif body[0] and isinstance(body[0][0], list):
            book.snapshot(body[0])
        elif body[0] == []:
            book.snapshot([])
        else:
            book.update(body[0])
        self.faults.extend(book.faults)
        book.faults.clear()
