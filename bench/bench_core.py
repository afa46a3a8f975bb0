"""Throughput and latency of the exchange core (a benchmark, not a test).

Workload (exchange-core's mix, seeded): 1,000 funded accounts, about 1,000 resting orders per
side of tBTCUSD, then N commands: ~82 % order moves (UpdateOrder with a new price on the same
side of the book), ~9 % new GTC limit orders, ~6 % cancels, ~3 % IOC orders that cross the
spread. Balance checks are on (every order holds funds).

Method: the command stream is generated once by running it against a scratch exchange (so
updates and cancels name live orders); every measured run replays that exact stream on a fresh
exchange built by the same setup, timing only ``Exchange.apply``. Throughput is the median of
``--runs`` replays; per-command latency comes from one extra replay timing each ``apply``.
Replays are deterministic: every run ends with the same state hash (checked).

    .venv/bin/python bench/bench_core.py                 # 1M commands, 5 runs
    .venv/bin/python bench/bench_core.py --commands 100000 --runs 3
    .venv/bin/python bench/bench_core.py --commands 200000 --digest   # differential check

``--digest`` only prints a SHA-256 over the ``repr`` of every event the replay returns (resting
orders and stream) and the final state hash: equal digests before and after a change of the
core mean it returned exactly the same events (types, field values, order) on this workload.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform
import random
import statistics
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable

from venue.core.commands import (
    CancelOrder, Command, CreateUser, Deposit, SubmitOrder, UpdateOrder,
)
from venue.core.events import OrderAccepted, OrderClosed
from venue.core.exchange import Exchange
from venue.core.numbers import SCALE, fee, mul_ceil
from venue.core.orders import OrderType
from venue.core.symbols import load_registry

SYMBOL = "tBTCUSD"
ACCOUNTS = 1000
PER_SIDE = 1000
MID = 90_000  # whole dollars
SPREAD_TICKS = 1000  # bids live in [MID-1000, MID-1], asks in [MID+1, MID+1000]
T0 = 1_700_000_000_000


def setup() -> tuple[Exchange, list[Command]]:
    """A fresh exchange with funded accounts; returns it and the resting-order commands."""
    ex = Exchange(load_registry())
    ts = T0
    for i in range(ACCOUNTS):
        ts += 1
        ex.apply(CreateUser(f"user{i}"), seq=0, ts=ts)
    for user in range(1, ACCOUNTS + 1):
        ts += 1
        ex.apply(Deposit(user, "USD", 10**9 * SCALE), seq=0, ts=ts)
        ex.apply(Deposit(user, "BTC", 10**5 * SCALE), seq=0, ts=ts)
    return ex, []


def _price(dollars: int) -> int:
    return dollars * SCALE


class Generator:
    """Produces the seeded command stream while tracking which orders are live."""

    def __init__(self, ex: Exchange, seed: int) -> None:
        self.ex = ex
        self.rng = random.Random(seed)
        self.live: list[int] = []
        self.where: dict[int, int] = {}
        self.side: dict[int, bool] = {}
        self.owner: dict[int, int] = {}
        self.ts = T0 + 10_000
        self.commands: list[tuple[Command, int]] = []

    def _track(self, events: list) -> None:
        for e in events:
            if isinstance(e, OrderAccepted):
                oid = e.order.id
                if e.order.in_book or e.order.status == "ACTIVE":
                    self.where[oid] = len(self.live)
                    self.live.append(oid)
                    self.side[oid] = e.order.amount > 0
                    self.owner[oid] = e.order.user_id
            elif isinstance(e, OrderClosed):
                oid = e.order.id
                idx = self.where.pop(oid, None)
                if idx is not None:
                    last = self.live.pop()
                    if last != oid:
                        self.live[idx] = last
                        self.where[last] = idx

    def emit(self, command: Command) -> None:
        self.ts += 1
        self.commands.append((command, self.ts))
        self._track(self.ex.apply(command, seq=0, ts=self.ts))

    def new_limit(self, buy: bool | None = None) -> Command:
        rng = self.rng
        if buy is None:
            buy = rng.random() < 0.5
        user = rng.randint(1, ACCOUNTS)
        amount = rng.randint(1, 100) * SCALE // 100
        if buy:
            return SubmitOrder(user, SYMBOL, OrderType.EXCHANGE_LIMIT, amount,
                               _price(MID - rng.randint(1, SPREAD_TICKS)))
        return SubmitOrder(user, SYMBOL, OrderType.EXCHANGE_LIMIT, -amount,
                           _price(MID + rng.randint(1, SPREAD_TICKS)))

    def initial_book(self) -> None:
        for i in range(2 * PER_SIDE):
            self.emit(self.new_limit(buy=i % 2 == 0))

    def step(self) -> None:
        rng = self.rng
        r = rng.random()
        if not self.live or r < 0.09:
            self.emit(self.new_limit())
        elif r < 0.91:
            oid = self.live[rng.randrange(len(self.live))]
            offset = rng.randint(1, SPREAD_TICKS)
            price = MID - offset if self.side[oid] else MID + offset
            self.emit(UpdateOrder(self.owner[oid], oid, price=_price(price)))
        elif r < 0.97:
            oid = self.live[rng.randrange(len(self.live))]
            self.emit(CancelOrder(self.owner[oid], oid))
        else:
            buy = rng.random() < 0.5
            user = rng.randint(1, ACCOUNTS)
            amount = rng.randint(1, 50) * SCALE // 100
            price = MID + SPREAD_TICKS if buy else MID - SPREAD_TICKS
            self.emit(SubmitOrder(user, SYMBOL, OrderType.EXCHANGE_IOC,
                                  amount if buy else -amount, _price(price)))


def build_stream(n: int, seed: int) -> tuple[list[tuple[Command, int]], list[tuple[Command, int]],
                                              str]:
    ex, _ = setup()
    gen = Generator(ex, seed)
    gen.initial_book()
    book_commands = gen.commands
    gen.commands = []
    for _ in range(n):
        gen.step()
    return book_commands, gen.commands, ex.state_hash()


gc_time: list[float] = []  # seconds spent in each collection of the current run
_gc_started = [0.0]


def _on_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        gc_time.append(time.perf_counter() - _gc_started[0])


gc.callbacks.append(_on_gc)


def replay(book: list[tuple[Command, int]], stream: list[tuple[Command, int]], *,
           gc_tuned: bool, per_command: bool = False) -> tuple[float, float, list[int], str]:
    """Replay ``stream`` after ``book`` on a fresh exchange: (wall s, CPU s, latencies ns, hash).

    CPU time is reported beside wall time because the benchmark machine may be shared.
    """
    ex, _ = setup()
    apply = ex.apply
    for command, ts in book:
        apply(command, seq=0, ts=ts)
    gc.collect()
    if gc_tuned:
        gc.freeze()
        old = gc.get_threshold()
        gc.set_threshold(100_000, 50, 1000)
    gc_time.clear()  # count only collections during the measured commands
    latencies: list[int] = []
    try:
        if per_command:
            clock = time.perf_counter_ns
            for command, ts in stream:
                t = clock()
                apply(command, seq=0, ts=ts)
                latencies.append(clock() - t)
            elapsed = sum(latencies) / 1e9
            cpu = elapsed
        else:
            start = time.perf_counter()
            cpu_start = time.process_time()
            for command, ts in stream:
                apply(command, seq=0, ts=ts)
            elapsed = time.perf_counter() - start
            cpu = time.process_time() - cpu_start
    finally:
        if gc_tuned:
            gc.set_threshold(*old)
            gc.unfreeze()
    return elapsed, cpu, latencies, ex.state_hash()


def int_vs_decimal(n: int = 300_000) -> tuple[float, float]:
    """ops/s of the hot arithmetic of one fill (value, hold, two fees) with ints vs Decimal."""
    rng = random.Random(1)
    pairs = [(rng.randint(1, 10**8), rng.randint(10**12, 10**13)) for _ in range(n)]
    start = time.perf_counter()
    for amount, price in pairs:
        value = amount * price // SCALE
        mul_ceil(amount, price)
        fee(amount, 2000)
        fee(value, 1000)
    ints = n / (time.perf_counter() - start)
    q = Decimal("0.00000001")
    dpairs = [(Decimal(a).scaleb(-8), Decimal(p).scaleb(-8)) for a, p in pairs]
    taker, maker = Decimal("0.002"), Decimal("0.001")
    start = time.perf_counter()
    for amount, price in dpairs:
        value = (amount * price).quantize(q, rounding="ROUND_DOWN")
        (amount * price).quantize(q, rounding="ROUND_CEILING")
        (amount * taker).quantize(q, rounding=ROUND_HALF_UP)
        (value * maker).quantize(q, rounding=ROUND_HALF_UP)
    decimals = n / (time.perf_counter() - start)
    return ints, decimals


def event_floor(n: int = 200_000) -> float:
    """µs per command spent only on building the events an order move must return
    (one OrderState snapshot, OrderUpdated, WalletChanged, RequestCompleted): a floor for
    this event model in CPython, whatever the matching code does."""
    from venue.core.book import Order
    from venue.core.frozen import new_order_updated, new_request_completed, new_wallet_changed

    # the constructors the core uses (venue/core/frozen.py), not the dataclasses' __init__
    order = Order(1, 1, SYMBOL, OrderType.EXCHANGE_LIMIT, True, SCALE, _price(MID), T0)
    start = time.perf_counter()
    for _ in range(n):
        state = order.state()
        new_order_updated(state)
        new_wallet_changed(1, "exchange", "USD", 5, 5, None)
        new_request_completed(1, "ou", (state,))
    return (time.perf_counter() - start) / n * 1e6


def events_digest(book: list[tuple[Command, int]], stream: list[tuple[Command, int]]) -> tuple[str, str]:
    """(SHA-256 of the repr of every event of a replay, final state hash)."""
    ex, _ = setup()
    h = hashlib.sha256()
    for command, ts in book + stream:
        h.update(repr(ex.apply(command, seq=0, ts=ts)).encode())
    return h.hexdigest(), ex.state_hash()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()} "
            f"({platform.python_implementation()}), {platform.system()} {platform.release()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--digest", action="store_true",
                        help="print the events digest and state hash of one replay, then stop")
    args = parser.parse_args()
    say: Callable[[str], None] = lambda s: print(s, flush=True)  # noqa: E731

    say(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")
    say(f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    t = time.perf_counter()
    book, stream, expected = build_stream(args.commands, args.seed)
    kinds: dict[str, int] = {}
    for command, _ in stream:
        name = type(command).__name__
        if isinstance(command, SubmitOrder):
            name += f"({command.type.base_kind})"
        kinds[name] = kinds.get(name, 0) + 1
    say(f"stream: {len(stream)} commands after {len(book)} resting orders, "
        f"generated in {time.perf_counter() - t:.1f}s; mix: "
        + ", ".join(f"{k} {100 * v / len(stream):.1f}%" for k, v in sorted(kinds.items())))
    if args.digest:
        events, state = events_digest(book, stream)
        assert state == expected, "replay diverged"
        say(f"events digest {events}; state hash {state}")
        return

    # Default and tuned GC runs alternate so that drifting load on a shared machine hits both.
    results: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for _ in range(args.runs):
        for tuned in (False, True):
            elapsed, cpu, _, digest = replay(book, stream, gc_tuned=tuned)
            assert digest == expected, "replay diverged"
            results[tuned].append((len(stream) / elapsed, len(stream) / cpu, sum(gc_time)))
    for tuned in (False, True):
        rows = results[tuned]
        wall = [r[0] for r in rows]
        cpu_rates = [r[1] for r in rows]
        pauses = [r[2] for r in rows]
        label = "gc.freeze + thresholds (100000, 50, 1000)" if tuned else "default gc"
        say(f"throughput, {label}: median {statistics.median(wall):,.0f} ops/s wall, "
            f"{statistics.median(cpu_rates):,.0f} ops/s CPU; time in GC median "
            f"{statistics.median(pauses):.2f}s per run "
            f"(wall runs: {', '.join(f'{r:,.0f}' for r in wall)}; "
            f"CPU runs: {', '.join(f'{r:,.0f}' for r in cpu_rates)}; "
            f"GC s: {', '.join(f'{p:.2f}' for p in pauses)})")

    _, _, latencies, digest = replay(book, stream, gc_tuned=True, per_command=True)
    assert digest == expected
    latencies.sort()
    n = len(latencies)
    say(f"latency per command (gc tuned): p50 {latencies[n // 2] / 1000:.1f} us, "
        f"p99 {latencies[int(n * 0.99)] / 1000:.1f} us, "
        f"p99.9 {latencies[int(n * 0.999)] / 1000:.1f} us, max {latencies[-1] / 1000:.0f} us")

    floor = event_floor()
    say(f"event construction floor per order move: {floor:.2f} us "
        f"(= at most {1e6 / floor:,.0f} ops/s with nothing else done)")
    ints, decimals = int_vs_decimal()
    say(f"fill arithmetic: int fixed-point {ints:,.0f}/s, Decimal {decimals:,.0f}/s "
        f"(int is {ints / decimals:.1f}x faster)")


if __name__ == "__main__":
    main()
