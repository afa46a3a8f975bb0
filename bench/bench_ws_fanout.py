"""WebSocket fan-out benchmark: N subscribers on one busy book (not a test; see RESULTS-ws.md).

Two processes, as on a real box: the **server** (the real /ws/2 endpoint: ``gateway.ws`` +
``fanout.Hub`` + ``views.books`` fed by a fake sequencer, uvloop) and one **client** process
holding all N connections with a minimal asyncio WebSocket client (frames are counted from
their headers; only ``te`` probes are parsed). Every subscriber has conf OB_CHECKSUM (what
bfxapi sends) and two channels: ``book`` tBTCUSD P0 len 25 and ``trades`` tBTCUSD.

Each publish round changes 1–3 orders at the top of the book (→ book update rows + a ``cs``
frame per subscriber) and executes one probe trade whose MTS field carries the server's
``time.time_ns() // 1000`` (µs) at release time (→ ``te`` + ``tu`` per subscriber). The client
computes publish→receive latency from the ``te`` probes.

Phases per N:
- **max**: rounds as fast as the server can publish, ``--batch`` (10) commands per loop tick
  as a journal group commit releases them (book changes of one tick merge into one net update;
  every trade is sent), throttled only when some connection has more than 1 MiB unsent (so
  nobody is dropped); reports frames delivered per second and server CPU per delivery;
- **paced**: one command per round, a fixed number of rounds per second (default: about 100k
  deliveries/s in total); reports p50/p99/max publish→receive latency.

``--inproc`` measures only the server side (hub, sessions, outlets writing to a null transport):
CPU µs per delivery without the kernel, the least noisy number on a shared machine.

Usage: ``python bench/bench_ws_fanout.py [--subscribers 10 100 1000] [--seconds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import platform
import random
import struct
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SYMBOL = "tBTCUSD"
SCALE = 100_000_000


# -- server process --------------------------------------------------------------------------------


def _pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def server_main(conn: Any, seed: int, per_frame_writes: bool = False, cpu: int | None = None) -> None:
    import uvloop

    _pin(cpu)
    uvloop.install()
    if per_frame_writes:
        _write_each_frame_alone()
    asyncio.run(_serve(conn, seed))


def _write_each_frame_alone() -> None:
    """Baseline for the coalescing measurement: one transport.write per frame."""
    from venue.gateway import fanout

    def flush(self: Any) -> None:
        self._scheduled = False
        frames = self.session.frames_to_send()
        if not frames or self.dropped or self.transport.is_closing():
            return
        for frame in frames:
            self.transport.write(fanout.ws_text_frame(frame) + frame)

    fanout.Outlet.flush = flush  # type: ignore[method-assign]


async def _serve(conn: Any, seed: int) -> None:
    import tempfile

    from aiohttp import web

    from venue.config import Settings
    from venue.core.events import OrderAccepted, OrderUpdated, TradeExecuted
    from venue.core.orders import OrderState, OrderType
    from venue.core.symbols import load_registry
    from venue.gateway import ws as ws_gateway
    from venue.gateway.app import CTX, ServerContext
    from venue.gateway.clock import SystemClock
    from venue.gateway.ratelimit import RateLimiter

    class Sequencer:
        def __init__(self) -> None:
            self.listeners: list[Any] = []
            self.seq = 0
            self.exchange = None

        def add_listener(self, fn: Any) -> None:
            self.listeners.append(fn)

        def release(self, events: list[Any], ts: int) -> None:
            self.seq += 1
            for fn in self.listeners:
                fn(self.seq, ts, events)

    clock = SystemClock()
    sequencer = Sequencer()
    ctx = ServerContext(
        settings=replace(Settings(), rate_limits=False, data_dir=Path(tempfile.gettempdir())),
        sequencer=sequencer,
        market_data=None,
        registry=load_registry(),
        clock=clock,
        data_dir=Path(tempfile.gettempdir()),
        admin_token="",
        rate_limiter=RateLimiter({}, clock, enabled=False),
    )
    ctx.extras["ws_limits"] = ws_gateway.WsLimits(
        connections_per_minute=0, channel_limit=30, max_buffer=256 * 1024 * 1024
    )
    app = web.Application()
    app[CTX] = ctx
    ws_gateway.add_routes(app, ctx)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state: ws_gateway.WsServer = ctx.extras[ws_gateway.STATE_KEY]

    def make(order_id: int, amount: int, price: int) -> OrderState:
        return OrderState(id=order_id, user_id=1, symbol=SYMBOL, type=OrderType.EXCHANGE_LIMIT,
                          created_ts=1, updated_ts=1, amount=amount, amount_orig=amount,
                          price=price, status="ACTIVE", in_book=True)

    rng = random.Random(seed)
    mid = 90_000 * SCALE
    tick = 10 * SCALE
    orders: dict[int, tuple[int, int]] = {}
    seed_events = []
    for i in range(1, 101):  # 50 levels a side, the top 25 of each side churn
        side = 1 if i % 2 else -1
        price = mid - side * (1 + (i // 2) % 50) * tick
        amount = side * rng.choice((1, 5, 25, 50)) * SCALE // 100
        orders[i] = (price, amount)
        seed_events.append(OrderAccepted(make(i, amount, price)))
    sequencer.release(seed_events, clock.now_ms())
    trade_id = 0

    def round_events() -> list[Any]:
        nonlocal trade_id
        events: list[Any] = []
        for _ in range(rng.randint(1, 3)):
            oid = rng.randint(1, 100)
            price, amount = orders[oid]
            if abs(mid - price) > 25 * tick:  # keep the churn inside the top 25 levels
                price = mid - (1 if amount > 0 else -1) * rng.randint(1, 24) * tick
            amount = (1 if amount > 0 else -1) * rng.choice((1, 5, 25, 50, 75)) * SCALE // 100
            orders[oid] = (price, amount)
            events.append(OrderUpdated(make(oid, amount, price)))
        trade_id += 1
        probe_us = time.time_ns() // 1000
        released.append(probe_us)
        events.append(TradeExecuted(trade_id=trade_id, symbol=SYMBOL, ts=probe_us,
                                    price=mid, amount=SCALE // 1000, taker_order_id=0,
                                    maker_order_id=0, taker_user_id=2, maker_user_id=1))
        return events

    def backlog() -> int:
        sessions = state.hub.sessions
        return max((o.transport.get_write_buffer_size() for o in _outlets(sessions)), default=0)

    def _outlets(sessions: Any) -> Any:
        for session in sessions:
            outlet = getattr(session.on_output, "__self__", None)
            if outlet is not None:
                yield outlet

    # Server-side latency: from a round's release (the probe's MTS) to the return of the flush
    # that handed the last connection's bytes of that round to the kernel. This is the part of
    # publish→receive the server owns; the rest is the kernel and the (single-process) client.
    released: list[int] = []
    server_lat: list[int] = []
    from venue.gateway import fanout

    flusher_run = fanout.Flusher.run  # Flusher has __slots__: wrap the class's method

    def timed_run(self: Any) -> None:
        flusher_run(self)
        if released:
            now = time.time_ns() // 1000
            server_lat.extend(now - t for t in released)
            released.clear()

    fanout.Flusher.run = timed_run  # type: ignore[method-assign]

    loop = asyncio.get_running_loop()
    conn.send(port)
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "stop":
            break
        _, mode, rate, seconds, batch = command
        throttled = 0
        rounds = 0
        released.clear()
        server_lat.clear()
        cpu0 = time.process_time()
        start = time.perf_counter()
        end = start + seconds
        if mode == "max":
            while time.perf_counter() < end:
                for _ in range(batch):  # commands released together, as one journal commit does
                    sequencer.release(round_events(), clock.now_ms())
                rounds += batch
                await asyncio.sleep(0)
                if rounds % 16 == 0 and backlog() > 1024 * 1024:
                    throttled += 1
                    await asyncio.sleep(0.0005)
        else:
            interval = 1.0 / rate
            next_at = start
            while next_at < end:
                sequencer.release(round_events(), clock.now_ms())
                rounds += 1
                next_at += interval
                delay = next_at - time.perf_counter()
                await asyncio.sleep(max(delay, 0))
        elapsed = time.perf_counter() - start
        await asyncio.sleep(0.5)  # let the last frames drain
        conn.send({"rounds": rounds, "elapsed": elapsed, "cpu": time.process_time() - cpu0,
                   "throttled": throttled, "server_lat": list(server_lat)})
    await runner.cleanup()


# -- client process -----------------------------------------------------------------------------------


class BenchClient(asyncio.Protocol):
    """A bare WebSocket client: handshake, two subscriptions, frame counting, ``te`` probes."""

    def __init__(self, port: int, stats: dict[str, Any], ready: asyncio.Future[None]) -> None:
        self.port = port
        self.stats = stats
        self.ready = ready
        self.buffer = bytearray()
        self.open = False
        self.subscribed = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (f"GET /ws/2 HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )

    def send_text(self, text: bytes) -> None:
        # client frames must be masked; a zero mask leaves the payload as is (RFC 6455 §5.3)
        assert len(text) < 126
        assert self.transport is not None
        self.transport.write(bytes((0x81, 0x80 | len(text))) + b"\0\0\0\0" + text)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            del buffer[: end + 4]
            self.open = True
            self.send_text(b'{"event":"conf","flags":131072}')
            self.send_text(b'{"event":"subscribe","channel":"book","symbol":"tBTCUSD","len":"25"}')
            self.send_text(b'{"event":"subscribe","channel":"trades","symbol":"tBTCUSD"}')
        stats = self.stats
        pos = 0
        size = len(buffer)
        frames = 0
        while size - pos >= 2:
            length = buffer[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = struct.unpack_from("!H", buffer, pos + 2)[0]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = struct.unpack_from("!Q", buffer, pos + 2)[0]
                head = 10
            if size - pos < head + length:
                break
            start = pos + head
            frames += 1
            if stats["measuring"]:
                # a te probe: [chanId,"te",[ID,MTS_US,…]]
                te = buffer.find(b'"te",[', start, start + length)
                if te >= 0:
                    fields = bytes(buffer[te + 6 : start + length]).split(b",", 2)
                    stats["latencies"].append(time.time_ns() // 1000 - int(fields[1]))
            elif not self.ready.done():
                if buffer.find(b'"subscribed"', start, start + length) >= 0:
                    self.subscribed += 1
                    if self.subscribed == 2:
                        self.ready.set_result(None)
            pos = start + length
        del buffer[:pos]
        stats["frames"] += frames


def client_main(conn: Any, port: int, count: int, cpu: int | None = None) -> None:
    import uvloop

    _pin(cpu)
    uvloop.install()
    asyncio.run(_clients(conn, port, count))


async def _clients(conn: Any, port: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    stats: dict[str, Any] = {"frames": 0, "latencies": [], "measuring": False}
    clients = []
    for batch in range(0, count, 100):
        readies = []
        for _ in range(min(100, count - batch)):
            ready: asyncio.Future[None] = loop.create_future()
            await loop.create_connection(lambda r=ready: BenchClient(port, stats, r), "127.0.0.1", port)
            readies.append(ready)
        await asyncio.wait_for(asyncio.gather(*readies), 30)
        clients.extend(readies)
    await asyncio.sleep(0.3)
    conn.send("ready")
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "stop":
            break
        if command == "start":
            stats["frames"] = 0
            stats["latencies"] = []
            stats["measuring"] = True
            cpu0 = time.process_time()
        elif command == "report":
            stats["measuring"] = False
            conn.send({"frames": stats["frames"], "latencies": stats["latencies"],
                       "cpu": time.process_time() - cpu0})


# -- in-process: the server's own cost per delivery, without the kernel -----------------------------


class _NullTransport:
    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


async def inproc(subscribers: int, rounds: int) -> tuple[float, int]:
    """CPU seconds and deliveries for ``rounds`` publish rounds to ``subscribers`` sessions."""
    from venue.core.events import OrderAccepted, OrderUpdated, TradeExecuted
    from venue.core.orders import OrderState, OrderType
    from venue.gateway.fanout import Hub, Outlet
    from venue.gateway.ws import ViewsMarket
    from venue.protocol.ws import SessionConfig, WsSession
    from venue.views.books import Books

    def make(order_id: int, amount: int, price: int) -> OrderState:
        return OrderState(id=order_id, user_id=1, symbol=SYMBOL, type=OrderType.EXCHANGE_LIMIT,
                          created_ts=1, updated_ts=1, amount=amount, amount_orig=amount,
                          price=price, status="ACTIVE", in_book=True)

    books = Books()
    hub = Hub(ViewsMarket(None, books), lambda: 1)
    rng = random.Random(1)
    mid, tick = 90_000 * SCALE, 10 * SCALE
    orders: dict[int, tuple[int, int]] = {}
    seed = []
    for i in range(1, 101):
        side = 1 if i % 2 else -1
        price = mid - side * (1 + (i // 2) % 50) * tick
        amount = side * rng.choice((1, 5, 25, 50)) * SCALE // 100
        orders[i] = (price, amount)
        seed.append(OrderAccepted(make(i, amount, price)))
    books.apply(1, 1, seed)
    chan_ids = iter(range(1, 10**9))
    counted: list[WsSession] = []
    for _ in range(subscribers):
        session = WsSession(SessionConfig("bench"), is_listed=lambda s: True, now_ms=lambda: 1,
                            next_chan_id=lambda: next(chan_ids))
        Outlet(session, _NullTransport(), hub.flusher)  # type: ignore[arg-type]
        for text in (b'{"event":"conf","flags":196608}',
                     b'{"event":"subscribe","channel":"book","symbol":"tBTCUSD","len":"25"}',
                     b'{"event":"subscribe","channel":"trades","symbol":"tBTCUSD"}'):
            session.receive_text(text)
        for request in session.requests_received():
            hub.subscribe(session, request.subscription)  # type: ignore[union-attr]
        counted.append(session)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    # SEQ_ALL numbers every frame, so the sessions' counters count the deliveries for free
    before = sum(session._counters.pub_seq for session in counted)
    cpu0 = time.process_time()
    for trade_id in range(rounds):
        events: list[Any] = []
        for _ in range(rng.randint(1, 3)):
            oid = rng.randint(1, 100)
            price, amount = orders[oid]
            if abs(mid - price) > 25 * tick:
                price = mid - (1 if amount > 0 else -1) * rng.randint(1, 24) * tick
            amount = (1 if amount > 0 else -1) * rng.choice((1, 5, 25, 50, 75)) * SCALE // 100
            orders[oid] = (price, amount)
            events.append(OrderUpdated(make(oid, amount, price)))
        events.append(TradeExecuted(trade_id, SYMBOL, 1, mid, SCALE // 1000, 0, 0, 2, 1))
        books.apply(1, 1, events)
        hub.on_events(1, 1, events)
        await asyncio.sleep(0)  # publish
        await asyncio.sleep(0)  # flush
    cpu = time.process_time() - cpu0
    deliveries = sum(session._counters.pub_seq for session in counted) - before
    return cpu, deliveries


# -- orchestration ------------------------------------------------------------------------------------


def percentile(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_phase(
    server: Any, client: Any, mode: str, rate: float, seconds: float, batch: int = 1
) -> dict[str, Any]:
    client.send("start")
    time.sleep(0.05)
    server.send(("run", mode, rate, seconds, batch))
    done = server.recv()
    client.send("report")
    seen = client.recv()
    latencies = seen["latencies"]
    return {
        "rounds/s": done["rounds"] / done["elapsed"],
        "frames/s": seen["frames"] / done["elapsed"],
        "server_cpu": done["cpu"] / done["elapsed"],
        "server_us_per_delivery": done["cpu"] * 1e6 / max(seen["frames"], 1),
        "client_cpu": seen["cpu"] / done["elapsed"],
        "p50_ms": percentile(latencies, 0.50) / 1000,
        "p99_ms": percentile(latencies, 0.99) / 1000,
        "max_ms": (max(latencies) / 1000) if latencies else float("nan"),
        "probes": len(latencies),
        "srv_p50_ms": percentile(done["server_lat"], 0.50) / 1000,
        "srv_p99_ms": percentile(done["server_lat"], 0.99) / 1000,
        "throttled": done["throttled"],
    }


def bench(
    subscribers: int,
    seconds: float,
    paced_deliveries: float,
    batch: int,
    per_frame: bool = False,
    pin: bool = False,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    server_end, server_conn = ctx.Pipe()
    server_cpu, client_cpu = (0, 1) if pin else (None, None)
    server = ctx.Process(target=server_main, args=(server_conn, 1, per_frame, server_cpu), daemon=True)
    server.start()
    port = server_end.recv()
    client_end, client_conn = ctx.Pipe()
    client = ctx.Process(
        target=client_main, args=(client_conn, port, subscribers, client_cpu), daemon=True
    )
    client.start()
    assert client_end.recv() == "ready"
    try:
        result_max = run_phase(server_end, client_end, "max", 0, seconds, batch)
        # frames per round per subscriber ≈ frames/s ÷ rounds/s ÷ N
        per_round = result_max["frames/s"] / max(result_max["rounds/s"], 1) / subscribers
        rate = paced_deliveries / (per_round * subscribers)
        result_paced = run_phase(server_end, client_end, "paced", rate, seconds)
        result_paced["rate"] = rate
    finally:
        server_end.send("stop")
        client_end.send("stop")
        server.join(5)
        client.join(5)
    return {"max": result_max, "paced": result_paced}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--paced", type=float, default=100_000.0,
                        help="deliveries per second in the latency phase (default 100k)")
    parser.add_argument("--batch", type=int, default=10,
                        help="commands released per loop tick in the max phase (default 10)")
    parser.add_argument("--pin", action="store_true",
                        help="pin the server to CPU 0 and the client to CPU 1")
    parser.add_argument("--per-frame-writes", action="store_true",
                        help="baseline: one socket write per frame instead of one per tick")
    parser.add_argument("--inproc", action="store_true",
                        help="server-side cost only: hub + sessions + outlets, no sockets")
    args = parser.parse_args()
    print(f"# {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}")
    if args.inproc:
        print("| N | rounds | deliveries | server CPU µs/delivery | deliveries/s of one core |")
        print("|---:|---:|---:|---:|---:|")
        for n in args.subscribers:
            rounds = max(50, 200_000 // (n * 5))
            cpu, deliveries = asyncio.run(inproc(n, rounds))
            print(f"| {n} | {rounds} | {deliveries:,} | {cpu * 1e6 / deliveries:.2f} | "
                  f"{deliveries / cpu:,.0f} |", flush=True)
        return
    print("| N | max: frames/s | rounds/s | server CPU | server µs/delivery | client CPU | "
          "paced: deliveries/s | p50 ms | p99 ms | max ms | probes | server p50 ms | server p99 ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.subscribers:
        result = bench(n, args.seconds, args.paced, args.batch, args.per_frame_writes, args.pin)
        m, p = result["max"], result["paced"]
        print(f"| {n} | {m['frames/s']:,.0f} | {m['rounds/s']:,.0f} | {m['server_cpu']:.2f} | "
              f"{m['server_us_per_delivery']:.2f} | {m['client_cpu']:.2f} | "
              f"{p['frames/s']:,.0f} | {p['p50_ms']:.2f} | "
              f"{p['p99_ms']:.2f} | {p['max_ms']:.2f} | {p['probes']:,} | "
              f"{p['srv_p50_ms']:.2f} | {p['srv_p99_ms']:.2f} |", flush=True)
        print(f"  (max phase throttled {m['throttled']} times)", file=sys.stderr)


if __name__ == "__main__":
    main()
