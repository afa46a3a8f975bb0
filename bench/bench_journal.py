"""Journal benchmark: what durability costs.

Measures, on this machine:
1. throughput — commands/s through Sequencer + Journal per durability setting (full, os, none),
   with a no-op core so only stamping, encoding, the group-committed SQLite write and the release
   are timed; also the average batch size per commit;
2. latency — arrival-to-durable (submit → future resolved = reply may leave) p50/p99/max at steady
   arrival rates, durability full;
3. recovery — per 1M journaled commands: reading + decoding the journal, and replaying through the
   real core (measured on a smaller count and scaled linearly); and with a snapshot: taking,
   writing and restoring a snapshot of N resting orders (scaled to 1M). Restarts at 1M resting
   orders in fresh processes: bench/bench_restart.py.

usage: .venv/bin/python bench/bench_journal.py [--quick] [--section throughput,latency,recovery]
Results are written up in bench/RESULTS-journal.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from venue.core.commands import CreateUser, Deposit, SubmitOrder  # noqa: E402
from venue.core.orders import OrderType  # noqa: E402
from venue.gateway.sequencer import Sequencer  # noqa: E402
from venue.store.codec import encode  # noqa: E402
from venue.store.journal import Journal, record_crc  # noqa: E402
from venue.store.snapshot import SnapshotStore  # noqa: E402

COIN = 100_000_000


class NullExchange:
    """A core that does nothing: isolates the journaling path."""

    def apply(self, command: object, *, seq: int, ts: int) -> list:
        return []


def order(i: int) -> SubmitOrder:
    price = (20_000 + i % 5_000) * COIN
    return SubmitOrder(1 + i % 50, "tBTCUSD", OrderType.EXCHANGE_LIMIT, 100_000 + i % 7, price)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


# -- 1. throughput ------------------------------------------------------------------------------


async def throughput(durability: str, n: int, window: int) -> tuple[float, float, float, float]:
    """(commands/s wall, commands per commit, loop-thread CPU µs/command, process CPU µs/command)."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(tmp, durability)
        sequencer = Sequencer(NullExchange(), journal)
        commands = [order(i) for i in range(n)]
        start = time.perf_counter()
        cpu_thread = time.thread_time()
        cpu_process = time.process_time()
        last = None
        for i, command in enumerate(commands, 1):
            last = sequencer.submit_nowait(command)
            if i % window == 0:
                await last  # let the loop breathe: replies go out, the writer catches up
        await last
        await journal.wait_durable(n)
        elapsed = time.perf_counter() - start
        loop_us = (time.thread_time() - cpu_thread) / n * 1e6
        process_us = (time.process_time() - cpu_process) / n * 1e6
        commits = journal.commits
        await sequencer.close()
    return n / elapsed, n / max(commits, 1), loop_us, process_us


async def commit_cost() -> None:
    """One record per commit, one at a time: the floor of arrival-to-durable latency."""
    for durability in ("full", "os"):
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal.open(tmp, durability)
            sequencer = Sequencer(NullExchange(), journal)
            times = []
            for i in range(500):
                start = time.perf_counter()
                await sequencer.submit(order(i))
                times.append((time.perf_counter() - start) * 1000)
            await sequencer.close()
        print(f"single command, nothing else queued, {durability}: p50 {percentile(times, 50):.2f} ms "
              f"p99 {percentile(times, 99):.2f} ms")


# -- 2. latency -----------------------------------------------------------------------------------


async def latency(rate: int, seconds: float, durability: str = "full") -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(tmp, durability)
        sequencer = Sequencer(NullExchange(), journal)
        latencies: list[float] = []
        per_tick = max(1, rate // 1000)  # arrivals every 1 ms
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        i = 0
        while loop.time() - start < seconds:
            target = int((loop.time() - start) * rate)
            while sent < target:
                arrival = time.perf_counter()
                future = sequencer.submit_nowait(order(i))
                future.add_done_callback(
                    lambda _f, t=arrival: latencies.append((time.perf_counter() - t) * 1000)
                )
                sent += 1
                i += 1
            await asyncio.sleep(0.001 if per_tick else 0)
        await sequencer.flush()
        await sequencer.close()
    return latencies


# -- 3. recovery ----------------------------------------------------------------------------------


def write_journal_fast(data_dir: str, n: int) -> None:
    """Bulk-write n SubmitOrder records (same format as the live writer)."""
    journal = Journal.open(data_dir, "none")
    conn = journal._conn
    conn.execute("BEGIN")
    rows = []
    for seq in range(1, n + 1):
        blob = encode(order(seq))
        rows.append((seq, 1_700_000_000_000, blob, record_crc(seq, 1_700_000_000_000, blob)))
        if len(rows) == 50_000:
            conn.executemany("INSERT INTO journal VALUES (?, ?, ?, ?)", rows)
            rows = []
    conn.executemany("INSERT INTO journal VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    journal.close()


def read_decode(data_dir: str) -> tuple[int, float]:
    journal = Journal.open(data_dir, lock=False)
    start = time.perf_counter()
    count = sum(1 for _ in journal.read_from(1))
    elapsed = time.perf_counter() - start
    journal.close()
    return count, elapsed


def real_core_numbers(resting: int, replay: int) -> dict[str, float]:
    from venue.core.exchange import Exchange
    from venue.core.symbols import load_registry

    registry = load_registry()
    exchange = Exchange(registry)
    exchange.apply(CreateUser("bench"), seq=1, ts=1)
    exchange.apply(Deposit(1, "USD", 10**20), seq=2, ts=1)
    seq = 2
    start = time.perf_counter()
    for i in range(resting):
        seq += 1
        # resting buys at 5000 price levels: the book grows, nothing trades
        command = SubmitOrder(1, "tBTCUSD", OrderType.EXCHANGE_LIMIT, 100_000, (20_000 + i % 5_000) * COIN)
        exchange.apply(command, seq=seq, ts=2)
    apply_us = (time.perf_counter() - start) / resting * 1e6
    start = time.perf_counter()
    payload = exchange.snapshot()
    take_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        store = SnapshotStore(tmp)
        start = time.perf_counter()
        store.write(seq, 2, payload)
        write_s = time.perf_counter() - start
        # the default: a forked child serializes; the sequencer waits only for fork()
        from venue.store.snapshot import Snapshotter

        forker = Snapshotter(exchange, None, SnapshotStore(Path(tmp) / "forked"), fork=True)
        start = time.perf_counter()
        pid = forker._fork_writer(seq, 2)
        fork_ms = (time.perf_counter() - start) * 1000
        _, status = os.waitpid(pid, 0)
        fork_total_s = time.perf_counter() - start
        assert status == 0
        start = time.perf_counter()
        loaded = store.load(store.list()[0])
        restored = Exchange.restore(registry, loaded.payload)
        restore_s = time.perf_counter() - start
    start = time.perf_counter()
    same = restored.state_hash() == exchange.state_hash()
    hash_s = (time.perf_counter() - start) / 2
    # replay speed on a journal of mixed load
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(tmp, "none")
        sequencer = Sequencer(Exchange(registry), journal, clock=lambda: 1_700_000_000_000)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.durability.load import LoadState

        state = LoadState(1)
        for _ in range(replay):
            _, _, events = sequencer.apply_sync(state.next_command())
            state.learn(events)
        journal.flush_sync()
        journal.close()
        from venue.store.recovery import recover

        result = recover(tmp, registry)
        replay_us = result.seconds / replay * 1e6
    return {
        "resting": resting,
        "apply_us": apply_us,
        "snapshot_bytes": len(payload),
        "take_s": take_s,
        "write_s": write_s,
        "restore_s": restore_s,
        "hash_s": hash_s,
        "same": float(same),
        "replay_us": replay_us,
        "fork_ms": fork_ms,
        "fork_total_s": fork_total_s,
    }


# -- main -----------------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--section", default="throughput,latency,recovery")
    args = parser.parse_args()
    sections = set(args.section.split(","))
    quick = args.quick
    print(f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    if "throughput" in sections:
        n = 30_000 if quick else 200_000
        for durability in ("full", "os", "none"):
            rates = [await throughput(durability, n, 2_000) for _ in range(1 if quick else 3)]
            best = max(rates, key=lambda r: r[0])
            print(f"throughput {durability:4}: {best[0]:>9,.0f} commands/s  "
                  f"(avg {best[1]:,.0f} commands per commit; CPU per command: loop thread "
                  f"{best[2]:.1f} us, whole process {best[3]:.1f} us; best of {len(rates)}, n={n})")
        await commit_cost()
    if "latency" in sections:
        for rate in (1_000, 10_000, 50_000):
            lat = await latency(rate, 1.0 if quick else 3.0)
            print(f"latency full @ {rate:>6}/s: p50 {percentile(lat, 50):.2f} ms  "
                  f"p99 {percentile(lat, 99):.2f} ms  max {max(lat):.2f} ms  "
                  f"mean {statistics.fmean(lat):.2f} ms  (n={len(lat)})")
    if "recovery" in sections:
        n = 100_000 if quick else 1_000_000
        with tempfile.TemporaryDirectory() as tmp:
            write_journal_fast(tmp, n)
            count, elapsed = read_decode(tmp)
            print(f"journal read+decode: {count:,} records in {elapsed:.2f} s "
                  f"= {elapsed / count * 1e6:.1f} us/record → {elapsed / count * 1e6:.1f} s per 1M")
        # in a thread: no running loop there, so the journal writes synchronously (offline mode)
        numbers = await asyncio.to_thread(
            real_core_numbers, 20_000 if quick else 100_000, 5_000 if quick else 20_000
        )
        scale = 1_000_000 / numbers["resting"]
        print(f"core apply (resting order): {numbers['apply_us']:.1f} us")
        print(f"core replay (mixed load, recover()): {numbers['replay_us']:.1f} us/command "
              f"→ {numbers['replay_us']:.0f} s per 1M commands without a snapshot")
        print(f"snapshot of {numbers['resting']:,} resting orders: {numbers['snapshot_bytes']:,} bytes; "
              f"take {numbers['take_s']:.2f} s, write+fsync {numbers['write_s']:.2f} s, "
              f"load+restore {numbers['restore_s']:.2f} s, state_hash {numbers['hash_s']:.2f} s, "
              f"equal={bool(numbers['same'])}")
        print(f"  forked snapshot (default): sequencer paused {numbers['fork_ms']:.1f} ms for fork(); "
              f"child done in {numbers['fork_total_s']:.2f} s")
        print(f"  scaled to 1M resting orders: take {numbers['take_s'] * scale:.1f} s, "
              f"restart from snapshot {numbers['restore_s'] * scale:.1f} s (+ tail replay)")


if __name__ == "__main__":
    asyncio.run(main())
