"""Order entry over the authenticated WebSocket: throughput and order-to-notification latency.

What it measures (results go to bench/RESULTS-ws-orders.md):
- **one at a time**: one connection sends ``[0,"on",null,{…}]``, waits for its ``on-req``
  notification, sends the next — the latency floor of the whole path (JSON, session, parser,
  sequencer, journal commit, core, channel-0 rendering, socket writes);
- **open loop** at fixed offered rates: K connections send on a fixed schedule whatever the
  server does; latency is measured from the *scheduled* send time to the arrival of the order's
  ``on-req`` notification (no coordinated omission), accepted = SUCCESS notifications per
  second of measurement.

The server is a real ``venue serve`` in a child process (its own CPU, uvloop, journal with the
chosen durability — ``full`` = fsync'd group commit, the production default); the load runs in
this process on uvloop with aiohttp. Orders are resting EXCHANGE LIMIT orders (buys far below
and sells far above the reference price, so nothing matches); between levels each connection
cancels all its orders (``oc_multi {"all":1}``) so the book does not grow without bound.

    .venv/bin/python bench/bench_ws_orders.py                       # the standard set
    .venv/bin/python bench/bench_ws_orders.py --rates 10000,30000 --seconds 5 --durability os
    .venv/bin/python bench/bench_ws_orders.py --filter notify        # channel 0 answers only
    .venv/bin/python bench/bench_ws_orders.py --in-process           # CPU per stage, no sockets

``--in-process`` times the channel-0 slice of the path without sockets, sequencer or views:
JSON decode of the input, ``AccountStream.receive_input`` (parsing included), ``Exchange.apply``,
``AccountStream.frames_for`` and ``wire.dumps`` of the frames — CPU time (``process_time``), so
the figures hold even on a busy machine.

Seeded (``--seed``): prices and sides come from ``random.Random(seed)``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parent.parent
SYMBOL = "tBTCUSD"


# -- server ---------------------------------------------------------------------------------------


class Server:
    """``venue serve`` in a child process on an ephemeral port, with a fresh data directory."""

    def __init__(self, durability: str) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="venue-bench-ws-"))
        self.durability = durability
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        # BENCH_PROFILE=/path/out.prof runs the server under cProfile (for finding hot spots).
        profile = os.environ.get("BENCH_PROFILE")
        prefix = ["-m", "cProfile", "-o", profile] if profile else []
        command = [
            sys.executable, *prefix, "-m", "venue", "serve", "--port", "0", "--data-dir", str(self.data_dir),
            "--durability", self.durability, "--no-rate-limits",
        ]
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        endpoint = self.data_dir / "server.json"
        deadline = time.monotonic() + 30
        while not endpoint.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"server did not start: {err[-2000:]}")
            time.sleep(0.05)
        time.sleep(0.1)
        self.port = int(json.loads(endpoint.read_text())["port"])

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/2"

    def cpu_seconds(self) -> float:
        """User + system CPU the server process used so far (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    async def create_account(self, http: aiohttp.ClientSession, name: str) -> tuple[str, str]:
        token = (self.data_dir / "admin.token").read_text().strip()
        body = {"name": name, "deposits": {"USD": "1000000000", "BTC": "1000000"}}
        async with http.post(
            f"http://127.0.0.1:{self.port}/admin/account", json=body, headers={"X-Venue-Admin-Token": token}
        ) as response:
            data = await response.json(content_type=None)
        return data["api_key"], data["api_secret"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# -- clients --------------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies_ns: list[int] = field(default_factory=list)
    accepted: int = 0
    refused: int = 0
    refusal_texts: dict[str, int] = field(default_factory=dict)


class Connection:
    """One authenticated socket; remembers when each cid was due and records its answer."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.due: dict[int, int] = {}
        self.stats = Stats()
        self.waiter: asyncio.Future[None] | None = None
        self.reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        prefix = '[0,"n",'
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = message.data
            if not data.startswith(prefix):
                continue
            note = orjson.loads(data)[2]
            kind = note[1]
            if kind != "on-req":
                continue
            now = time.perf_counter_ns()
            order = note[4]
            cid = order[2] if isinstance(order, list) and len(order) > 2 else None
            due = self.due.pop(cid, None) if cid is not None else None
            if note[6] == "SUCCESS":
                self.stats.accepted += 1
            else:
                self.stats.refused += 1
                self.stats.refusal_texts[note[7]] = self.stats.refusal_texts.get(note[7], 0) + 1
            if due is not None:
                self.stats.latencies_ns.append(now - due)
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)

    def reset(self) -> Stats:
        stats, self.stats = self.stats, Stats()
        self.due.clear()
        return stats


def auth_frame(key: str, secret: str, nonce: int, filters: list[str] | None) -> str:
    payload = f"AUTH{nonce}"
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha384).hexdigest()
    return json.dumps(
        {"event": "auth", "apiKey": key, "authSig": sig, "authNonce": nonce, "authPayload": payload, "filter": filters}
    )


async def connect(
    http: aiohttp.ClientSession, server: Server, key: str, secret: str, nonce: int, filters: list[str] | None
) -> Connection:
    ws = await http.ws_connect(server.ws_url, max_msg_size=0, autoping=True)
    await ws.send_str(auth_frame(key, secret, nonce, filters))
    while True:
        message = await ws.receive()
        if message.type != aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"connection closed during auth: {message}")
        data = orjson.loads(message.data)
        if isinstance(data, dict) and data.get("event") == "auth" and data.get("status") != "OK":
            raise RuntimeError(f"auth failed: {data}")
        if isinstance(data, list) and data[1] == "fls":
            break
    connection = Connection(ws)
    connection.reader = asyncio.get_running_loop().create_task(connection.read())
    return connection


class OrderFactory:
    """Seeded resting orders: buys 10000–19999, sells 200000–299990 (the book never crosses)."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.cid = 0

    def next(self) -> tuple[int, str]:
        self.cid += 1
        if self.random.random() < 0.5:
            amount, price = "0.001", str(self.random.randrange(10000, 20000))
        else:
            amount, price = "-0.001", str(self.random.randrange(20000, 30000) * 10)
        frame = (
            '[0,"on",null,{"type":"EXCHANGE LIMIT","symbol":"%s","amount":"%s","price":"%s","cid":%d}]'
            % (SYMBOL, amount, price, self.cid)
        )
        return self.cid, frame


async def cancel_all(connections: list[Connection]) -> None:
    for c in connections:
        await c.ws.send_str('[0,"oc_multi",null,{"all":1}]')
    await asyncio.sleep(1.0)


# -- runs -----------------------------------------------------------------------------------------


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[index] / 1000.0  # µs


@dataclass
class Result:
    name: str
    offered: float | None
    seconds: float
    sent: int
    accepted: int
    refused: int
    p50_us: float
    p99_us: float
    p999_us: float
    max_us: float
    server_cpu_us_per_order: float
    unanswered: int
    refusals: dict[str, int]

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.seconds

    def row(self) -> str:
        offered = "one at a time" if self.offered is None else f"{self.offered:,.0f}/s"
        return (
            f"| {self.name} | {offered} | {self.accepted_per_s:,.0f}/s | {self.p50_us:,.0f} | {self.p99_us:,.0f} | "
            f"{self.p999_us:,.0f} | {self.max_us:,.0f} | {self.server_cpu_us_per_order:,.1f} | {self.unanswered} |"
        )


def summarize(name: str, offered: float | None, seconds: float, sent: int, stats: list[Stats], cpu: float, unanswered: int) -> Result:
    latencies = sorted(v for s in stats for v in s.latencies_ns)
    accepted = sum(s.accepted for s in stats)
    refused = sum(s.refused for s in stats)
    refusals: dict[str, int] = {}
    for s in stats:
        for text, count in s.refusal_texts.items():
            refusals[text] = refusals.get(text, 0) + count
    return Result(
        name, offered, seconds, sent, accepted, refused,
        percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(latencies, 0.999),
        (latencies[-1] / 1000.0) if latencies else float("nan"),
        cpu * 1e6 / max(accepted + refused, 1), unanswered, refusals,
    )


async def one_at_a_time(server: Server, connection: Connection, orders: OrderFactory, count: int) -> Result:
    loop = asyncio.get_running_loop()
    cpu0 = server.cpu_seconds()
    start = time.perf_counter()
    for _ in range(count):
        cid, frame = orders.next()
        connection.waiter = loop.create_future()
        connection.due[cid] = time.perf_counter_ns()
        await connection.ws.send_str(frame)
        await asyncio.wait_for(connection.waiter, 10)
    seconds = time.perf_counter() - start
    cpu = server.cpu_seconds() - cpu0
    stats = connection.reset()
    return summarize("1 connection, closed loop", None, seconds, count, [stats], cpu, 0)


async def open_loop(
    server: Server, connections: list[Connection], orders: OrderFactory, rate: float, seconds: float, warmup: float
) -> Result:
    """Send at ``rate`` orders/s spread over the connections on a fixed schedule."""
    interval_ns = int(1e9 / rate)
    k = len(connections)
    start = time.perf_counter_ns()
    warm_end = start + int(warmup * 1e9)
    end = warm_end + int(seconds * 1e9)
    sent = 0
    i = 0
    cpu0 = None
    while True:
        now = time.perf_counter_ns()
        if cpu0 is None and now >= warm_end:
            cpu0 = server.cpu_seconds()
            for c in connections:
                c.reset()
            sent = 0
        if now >= end:
            break
        # Send everything that is due; the due time, not the send time, starts the clock.
        due = start + i * interval_ns
        while due <= now:
            connection = connections[i % k]
            cid, frame = orders.next()
            connection.due[cid] = due
            await connection.ws.send_str(frame)
            sent += 1
            i += 1
            due = start + i * interval_ns
        await asyncio.sleep(max(0.0, (due - time.perf_counter_ns()) / 1e9))
    # Give late answers a moment; those still missing are counted as unanswered.
    await asyncio.sleep(1.0)
    cpu = server.cpu_seconds() - (cpu0 or 0.0)
    unanswered = sum(len(c.due) for c in connections)
    stats = [c.reset() for c in connections]
    return summarize(f"{k} connections, open loop", rate, seconds, sent, stats, cpu, unanswered)


async def run(args: argparse.Namespace) -> list[Result]:
    server = Server(args.durability)
    server.start()
    results: list[Result] = []
    try:
        async with aiohttp.ClientSession() as http:
            accounts = [await server.create_account(http, f"bench{i}") for i in range(args.connections)]
            filters = None if args.filter is None else args.filter.split(",")
            nonce = int(time.time() * 1e6)
            connections = [
                await connect(http, server, key, secret, nonce + n, filters) for n, (key, secret) in enumerate(accounts)
            ]
            orders = OrderFactory(args.seed)
            # warm the server (imports, caches) before measuring anything
            await one_at_a_time(server, connections[0], orders, 200)
            await cancel_all(connections)
            results.append(await one_at_a_time(server, connections[0], orders, args.single))
            print(results[-1].row(), flush=True)
            await cancel_all(connections)
            for rate in args.rates:
                results.append(await open_loop(server, connections, orders, rate, args.seconds, args.warmup))
                print(results[-1].row(), flush=True)
                if results[-1].refusals:
                    print("   refusals:", results[-1].refusals, flush=True)
                await cancel_all(connections)
            for c in connections:
                await c.ws.close()
    finally:
        server.stop()
    return results


def in_process(orders_count: int, seed: int) -> None:
    """CPU per order of each channel-0 stage, in this process (see the module docstring)."""
    sys.path.insert(0, str(ROOT))
    from venue.core.commands import CreateApiKey, CreateUser, Deposit
    from venue.core.exchange import Exchange
    from venue.core.numbers import parse_amount
    from venue.core.symbols import load_registry
    from venue.protocol.account_stream import AccountStream, StreamLimits
    from venue.protocol.auth import NonceTracker, full_permissions, sign
    from venue.protocol.wire import dumps

    exchange = Exchange(load_registry())
    seq = 0

    def apply(command: Any) -> list[Any]:
        nonlocal seq
        seq += 1
        return exchange.apply(command, seq=seq, ts=1_750_000_000_000 + seq)

    user_id = apply(CreateUser("bench"))[0].user_id
    apply(CreateApiKey(user_id, "k", "s", full_permissions()))
    apply(Deposit(user_id, "USD", parse_amount("1000000000")))
    apply(Deposit(user_id, "BTC", parse_amount("1000000")))
    unlimited = StreamLimits(order_rate=10**9, order_burst=10**9)
    stream = AccountStream(reader=exchange, nonces=NonceTracker(), now_ms=lambda: 1, limits=unlimited)
    stream.receive_auth({"event": "auth", "apiKey": "k", "authSig": sign("s", b"AUTH1"), "authNonce": 1, "authPayload": "AUTH1"})
    factory = OrderFactory(seed)
    texts = [factory.next()[1] for _ in range(orders_count)]
    clock = time.process_time
    t_decode = t_input = t_apply = t_frames = t_dumps = 0.0
    frames_sent = 0
    chunk = 500  # stages are timed over chunks: a clock read per order would cost as much as a stage
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        t0 = clock()
        frames = [orjson.loads(text) for text in part]
        t1 = clock()
        results = [stream.receive_input(frame) for frame in frames]
        t2 = clock()
        applied = []
        for result in results:
            events = apply(result.commands[0])
            applied.append((seq, events))
        t3 = clock()
        outs = [stream.frames_for(s, s, events) for s, events in applied]
        t4 = clock()
        for out in outs:
            for o in out:
                dumps(o.message)
        t5 = clock()
        frames_sent += sum(len(out) for out in outs)
        t_decode += t1 - t0
        t_input += t2 - t1
        t_apply += t3 - t2
        t_frames += t4 - t3
        t_dumps += t5 - t4
    n = len(texts)
    total = t_decode + t_input + t_apply + t_frames + t_dumps
    print(f"# in-process, {n} resting EXCHANGE LIMIT orders, seed={seed}; CPU µs per order (process_time)")
    print("| stage | µs/order |")
    print("|---|---|")
    for name, value in (
        ("JSON decode of the input frame", t_decode),
        ("AccountStream.receive_input (incl. protocol/orders.py parsing)", t_input),
        ("Exchange.apply", t_apply),
        (f"AccountStream.frames_for ({frames_sent / n:.1f} frames/order)", t_frames),
        ("wire.dumps of those frames", t_dumps),
        ("total", total),
    ):
        print(f"| {name} | {value / n * 1e6:.1f} |")
    print(f"implied ceiling of this slice alone: {n / total:,.0f} orders/s on one core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32, help="K authenticated connections (default 32)")
    parser.add_argument("--rates", default="1000,10000,20000,30000,40000", help="offered orders/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each rate")
    parser.add_argument("--single", type=int, default=2000, help="orders in the one-at-a-time run")
    parser.add_argument("--durability", choices=("full", "os", "none"), default="full")
    parser.add_argument("--filter", default=None, help="auth filter, e.g. notify (default: everything)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--in-process", action="store_true", help="CPU per stage without sockets (see above)")
    parser.add_argument("--orders", type=int, default=20000, help="orders for --in-process")
    args = parser.parse_args()
    if args.in_process:
        in_process(args.orders, args.seed)
        return
    args.rates = [float(r) for r in args.rates.split(",") if r]
    if uvloop is not None:
        uvloop.install()
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs; durability={args.durability}; K={args.connections}; filter={args.filter}; seed={args.seed}"
    )
    print("| run | offered | accepted | p50 µs | p99 µs | p99.9 µs | max µs | server CPU µs/order | unanswered |")
    print("|---|---|---|---|---|---|---|---|---|")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
