"""Public WebSocket channels against the whole server (spec §7, clients.md §4).

1. The official ``bitfinex-api-py`` client subscribes to book (P0 and R0), trades, ticker and
   candles on its bucket sockets while trades run through the core; the books it builds from
   snapshot + updates must equal the server's, and every ``checksum`` it reports must equal the
   checksum computed here from the numbers it received.
2. A raw aiohttp client with SEQ_ALL + OB_CHECKSUM keeps P0/R0 books of several lengths for
   thousands of random core changes (prices below 1; one book kept under 25 entries a side the
   whole time, so the checksum's short-side interleave is exercised) with no checksum or
   sequence fault, and ends with exactly the server's books.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from decimal import Decimal
from typing import Any, Callable

import aiohttp
import orjson
from bfxapi import Client

from venue.core.commands import CancelOrder, Command, SubmitOrder
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderType

from venue.config import Settings

from tests.e2e.conftest import RunningServer
from tests.gateway.ws_harness import BookClient

TIMEOUT = 10.0


def text(value: float | int) -> str:
    """The wire text of a number a client parsed as float (shortest form, no exponent)."""
    return format(Decimal(repr(value)).normalize(), "f")


def checksum_of(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    return zlib.crc32(":".join(parts).encode())  # bfxapi masks the checksum to unsigned


class FloatBook:
    """A book kept from bfxapi's parsed rows (P*: price-keyed; R0: id-keyed)."""

    def __init__(self, raw: bool) -> None:
        self.raw = raw
        self.entries: dict[Any, tuple[float, float]] = {}  # key → (price, amount)

    def snapshot(self, rows: list[Any]) -> None:
        self.entries.clear()
        for row in rows:
            self.update(row)

    def update(self, row: Any) -> None:
        if self.raw:
            if row.price == 0:
                self.entries.pop(row.order_id, None)
            else:
                self.entries[row.order_id] = (row.price, row.amount)
        elif row.count == 0:
            self.entries.pop(row.price, None)
        else:
            self.entries[row.price] = (row.price, row.amount)

    def sides(self) -> tuple[list[tuple[Any, float, float]], list[tuple[Any, float, float]]]:
        rows = [(k, p, a) for k, (p, a) in self.entries.items()]
        bids = sorted((r for r in rows if r[2] > 0), key=lambda r: (-r[1], r[0]))
        asks = sorted((r for r in rows if r[2] < 0), key=lambda r: (r[1], r[0]))
        return bids, asks

    def checksum(self) -> int:
        bids, asks = self.sides()
        key = (lambda r: str(r[0])) if self.raw else (lambda r: text(r[1]))
        return checksum_of([(key(r), text(r[2])) for r in bids], [(key(r), text(r[2])) for r in asks])

    def as_rows(self) -> list[tuple[int, int, int]]:
        bids, asks = self.sides()
        if self.raw:
            return [(k, parse_amount(repr(p)), parse_amount(repr(a))) for k, p, a in bids + asks]
        return [(parse_amount(repr(p)), parse_amount(repr(a))) for _, p, a in bids + asks]  # type: ignore[misc]


async def on_server(server: RunningServer, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the server's loop (its state is only touched there)."""

    async def call() -> Any:
        return fn()

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), server.loop))


async def submit_all(server: RunningServer, commands: list[Command]) -> list[list[Any]]:
    """Apply commands in order on the server loop (one journal batch) and wait until durable."""

    async def run() -> list[list[Any]]:
        futures = [server.ctx.sequencer.submit_nowait(c) for c in commands]
        return list(await asyncio.gather(*futures))

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), server.loop))


async def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def limit(user: int, symbol: str, amount: str, price: str) -> SubmitOrder:
    return SubmitOrder(user_id=user, symbol=symbol, type=OrderType.EXCHANGE_LIMIT,
                       amount=parse_amount(amount), price=parse_price(price))


class RandomFlow:
    """Seeded makers and takers on one symbol: adds on both sides, crosses, cancels."""

    def __init__(self, rng: random.Random, users: list[int], symbol: str, mid: str, step: str,
                 *, cancel: float = 0.3, depth: int = 30,
                 sizes: tuple[str, ...] = ("0.001", "0.01", "0.25", "0.5")) -> None:
        """``cancel``: the share of cancels among the commands; ``depth``: how many steps away
        from the mid an order may rest (a high ``cancel`` and a small ``depth`` keep it thin)."""
        self.rng = rng
        self.users = users
        self.symbol = symbol
        self.mid = Decimal(mid)
        self.step = Decimal(step)
        self.cancel = cancel
        self.depth = depth
        self.sizes = sizes
        self.open: list[tuple[int, int]] = []  # (user, order id)

    def batch(self, size: int) -> list[Command]:
        rng = self.rng
        out: list[Command] = []
        for _ in range(size):
            if self.open and rng.random() < self.cancel:
                user, oid = self.open.pop(rng.randrange(len(self.open)))
                out.append(CancelOrder(user_id=user, order_id=oid))
                continue
            side = rng.choice((1, -1))
            # mostly resting, sometimes through the spread (trades)
            offset = rng.randint(-3, self.depth) * self.step
            price = self.mid - offset if side > 0 else self.mid + offset
            amount = Decimal(rng.choice(self.sizes)) * side
            out.append(limit(rng.choice(self.users), self.symbol, str(amount), str(price)))
        return out

    def remember(self, commands: list[Command], results: list[list[Any]]) -> None:
        for command, events in zip(commands, results):
            if isinstance(command, SubmitOrder):
                for event in events:
                    order = getattr(event, "order", None)
                    if type(event).__name__ == "OrderAccepted" and order is not None and order.in_book:
                        self.open.append((command.user_id, order.id))


def funded_users(server: RunningServer, count: int = 3) -> list[int]:
    return [server.create_account(deposits={"USD": "10000000", "BTC": "1000", "ETH": "100000",
                                                     "XRP": "100000000"})[0]
            for _ in range(count)]


async def test_bfxapi_books_trades_ticker_and_candles_follow_the_core(server: RunningServer):
    users = funded_users(server)
    flow = RandomFlow(random.Random(11), users, "tBTCUSD", "90000", "10")
    first = flow.batch(20)
    flow.remember(first, await submit_all(server, first))

    bfx = Client(wss_host=server.ws_url)
    seen: dict[str, list[Any]] = {}
    books = {"P0": FloatBook(raw=False), "R0": FloatBook(raw=True)}
    checksum_faults: list[str] = []
    checks = {"P0": 0, "R0": 0}

    def record(name: str) -> Callable[..., None]:
        def handler(sub: Any, data: Any) -> None:
            seen.setdefault(name, []).append(data)

        return handler

    for name in ("t_trades_snapshot", "t_trade_execution", "t_trade_execution_update",
                 "t_ticker_update", "candles_snapshot", "candles_update"):
        bfx.wss.on(name, record(name))

    @bfx.wss.on("t_book_snapshot")
    def book_snapshot(sub: Any, rows: list[Any]) -> None:
        books["P0"].snapshot(rows)

    @bfx.wss.on("t_book_update")
    def book_update(sub: Any, row: Any) -> None:
        books["P0"].update(row)

    @bfx.wss.on("t_raw_book_snapshot")
    def raw_snapshot(sub: Any, rows: list[Any]) -> None:
        books["R0"].snapshot(rows)

    @bfx.wss.on("t_raw_book_update")
    def raw_update(sub: Any, row: Any) -> None:
        books["R0"].update(row)

    @bfx.wss.on("checksum")
    def checksum(sub: Any, value: int) -> None:
        prec = sub["prec"]
        checks[prec] += 1
        if books[prec].checksum() != value:
            checksum_faults.append(f"{prec} after {checks[prec]} checksums")

    subscribed: list[Any] = []
    bfx.wss.on("subscribed", subscribed.append)

    @bfx.wss.on("open")
    async def on_open() -> None:
        await bfx.wss.subscribe("book", symbol="tBTCUSD", prec="P0", len="25")
        await bfx.wss.subscribe("book", symbol="tBTCUSD", prec="R0", len="25")
        await bfx.wss.subscribe("trades", symbol="tBTCUSD")
        await bfx.wss.subscribe("ticker", symbol="tBTCUSD")
        await bfx.wss.subscribe("candles", key="trade:1m:tBTCUSD")

    task = asyncio.create_task(bfx.wss.start())
    try:
        await wait_until(lambda: len(subscribed) == 5 and "candles_snapshot" in seen)
        assert {s["channel"] for s in subscribed} == {"book", "trades", "ticker", "candles"}
        for _ in range(10):
            commands = flow.batch(15)
            flow.remember(commands, await submit_all(server, commands))

        def server_rows(prec: str) -> list[Any]:
            rows = server.ctx.market_data.books.snapshot("tBTCUSD", prec, 25)
            if prec == "R0":
                return rows
            return [(price, amount) for price, _, amount in rows]

        async def in_sync() -> bool:
            for prec in ("P0", "R0"):
                expected = await on_server(server, lambda prec=prec: server_rows(prec))
                if books[prec].as_rows() != expected:
                    return False
            return True

        deadline = asyncio.get_running_loop().time() + TIMEOUT
        while not await in_sync():
            assert asyncio.get_running_loop().time() < deadline, "books never matched the server's"
            await asyncio.sleep(0.05)
        assert checksum_faults == []
        assert checks["P0"] >= 5 and checks["R0"] >= 5  # one per publish; batches merge
        assert len(books["P0"].entries) > 5

        # every trade comes as te then tu with the same id (§7.4)
        assert len(seen.get("t_trade_execution", [])) > 0
        te_ids = [t.id for t in seen["t_trade_execution"]]
        assert te_ids == [t.id for t in seen["t_trade_execution_update"]]
        # the ticker and candle frames of the last publish follow its book frames on the same
        # socket: wait for them too, then they must show the last trade
        last_trade = seen["t_trade_execution"][-1]

        def last_candle() -> Any:
            return seen.get("candles_update", seen["candles_snapshot"][-1])[-1]

        await wait_until(lambda: seen["t_ticker_update"][-1].last_price == last_trade.price
                         and last_candle().close == last_trade.price)
    finally:
        await bfx.wss.close()
        task.cancel()
        try:
            await task
        except BaseException:
            pass


async def test_raw_socket_books_survive_thousands_of_core_changes(server: RunningServer):
    users = funded_users(server)
    rng = random.Random(5)
    flows = [RandomFlow(rng, users, "tETHBTC", "0.033", "0.00001"),  # prices below 1
             RandomFlow(rng, users, "tBTCUSD", "90000", "10"),
             # thin throughout: fewer than 25 entries a side, so the §7.5 interleave runs short
             RandomFlow(rng, users, "tXRPUSD", "0.55", "0.0001", cancel=0.5, depth=8,
                        sizes=("4", "10", "25.5", "100"))]
    client = BookClient()
    channels = [("tETHBTC", "P0", 25), ("tETHBTC", "R0", 25), ("tETHBTC", "P0", 1),
                ("tETHBTC", "R0", 100), ("tBTCUSD", "P0", 25), ("tBTCUSD", "R0", 250),
                ("tXRPUSD", "P0", 25), ("tXRPUSD", "R0", 25)]
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(server.ws_url)
        await ws.send_str('{"event":"conf","flags":196608}')  # SEQ_ALL | OB_CHECKSUM, as cryptofeed
        for symbol, prec, length in channels:
            await ws.send_str(orjson.dumps({"event": "subscribe", "channel": "book", "symbol": symbol,
                                            "prec": prec, "len": length,
                                            "subId": f"{symbol}/{prec}/{length}"}).decode())

        async def drain(quiet: float) -> None:
            while True:
                try:
                    msg = await ws.receive(timeout=quiet)
                except asyncio.TimeoutError:
                    return
                assert msg.type == aiohttp.WSMsgType.TEXT
                client.feed(msg.data)

        def thin_depth() -> int:
            """The most entries on any side of the thin book's P0 and R0 views."""
            book = server.ctx.market_data.books.book("tXRPUSD")
            return max(len(book.side(prec, side).keys) for prec in ("P0", "R0") for side in (0, 1))

        changes = 0
        thin_depths: list[int] = []
        for round_ in range(75):
            flow = flows[round_ % 3]
            commands = flow.batch(40)
            flow.remember(commands, await submit_all(server, commands))
            changes += len(commands)
            if flow.symbol == "tXRPUSD":
                thin_depths.append(await on_server(server, thin_depth))
            await drain(0.001)
        await drain(0.3)
        await ws.close()

    assert changes >= 3000
    assert 5 <= max(thin_depths) < 25  # the thin book really stayed under 25 entries a side
    assert client.faults == []
    assert len(client.books) == len(channels)
    assert client.checksums > 60  # about one per channel per publish round

    def server_books() -> dict[str, list[Any]]:
        books = server.ctx.market_data.books
        return {f"{s}/{p}/{n}": books.snapshot(s, p, n) for s, p, n in channels}

    expected = await on_server(server, server_books)
    for chan, local in client.books.items():
        sub_id = client.chan_of[chan]
        bids, asks = local.sorted_sides()
        got = [(int(k) if local.raw else parse_amount(k), parse_amount(price), parse_amount(amount))
               for k, price, amount in bids + asks]
        want = [(k, mid, amount) if local.raw else (k, k, amount) for k, mid, amount in expected[sub_id]]
        assert got == want, sub_id


TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "3h", "6h", "12h", "1D", "1W", "7D", "14D", "1M")


async def test_candles_of_every_timeframe_snapshot_as_rest_then_updates(server_settings: Settings):
    from venue.gateway.clock import ManualClock

    clock = ManualClock(start_ms=1_700_000_000_000)  # Tue 2023-11-14 22:13:20 UTC
    server = RunningServer(server_settings, clock=clock)
    try:
        await _candles_of_every_timeframe(server, clock)
    finally:
        server.close()


async def _candles_of_every_timeframe(server: RunningServer, clock: Any) -> None:
    seller, buyer = funded_users(server, 2)
    await submit_all(server, [limit(seller, "tBTCUSD", "-1", "90000"),
                              limit(buyer, "tBTCUSD", "0.2", "90000")])  # a first trade
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(server.ws_url)
        assert orjson.loads(await ws.receive_str(timeout=5))["event"] == "info"

        async def frames(count: int) -> list[Any]:
            """The next ``count`` frames, heartbeats left out (moving the manual clock makes
            every channel look silent for 15 s)."""
            out: list[Any] = []
            while len(out) < count:
                msg = orjson.loads(await ws.receive_str(timeout=5))
                if not (isinstance(msg, list) and msg[1] == "hb"):
                    out.append(msg)
            return out

        chans: dict[int, str] = {}
        snapshots: dict[str, Any] = {}
        for tf in TIMEFRAMES:
            await ws.send_str(orjson.dumps({"event": "subscribe", "channel": "candles",
                                            "key": f"trade:{tf}:tBTCUSD"}).decode())
        for msg in await frames(2 * len(TIMEFRAMES)):
            if isinstance(msg, dict):
                assert msg["event"] == "subscribed" and list(msg)[-1] == "key", msg
                chans[msg["chanId"]] = msg["key"].split(":")[1]
            else:
                snapshots[chans[msg[0]]] = msg[1]
        for tf in TIMEFRAMES:
            async with http.get(f"{server.rest_url}/candles/trade:{tf}:tBTCUSD/hist") as rest:
                assert snapshots[tf] == await rest.json(), tf  # newest first, the same candles
            assert snapshots[tf][0][2] == 90000, tf  # CLOSE of the newest: the trade's price

        # the same minute: every timeframe's current candle is replaced (same MTS)
        await submit_all(server, [limit(buyer, "tBTCUSD", "0.3", "90000")])
        updates = {chans[m[0]]: m[1] for m in await frames(len(TIMEFRAMES))}
        for tf in TIMEFRAMES:
            assert updates[tf][0] == snapshots[tf][0][0], tf
            assert (updates[tf][2], updates[tf][5]) == (90000, 0.5), tf  # CLOSE, VOLUME

        # 61 s later: a new 1m candle (new MTS); the weekly and monthly ones keep their MTS
        clock.advance(61)
        await submit_all(server, [limit(buyer, "tBTCUSD", "0.1", "90000")])
        later = {chans[m[0]]: m[1] for m in await frames(len(TIMEFRAMES))}
        assert later["1m"][0] == updates["1m"][0] + 60_000 and later["1m"][5] == 0.1
        for tf in ("1W", "7D", "14D", "1M"):
            assert later[tf][0] == updates[tf][0] and later[tf][5] == 0.6, tf
        await ws.close()
