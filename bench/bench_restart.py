"""Restart benchmark: how long a fresh process needs to get the exchange back from a snapshot.

For each book (seeded):
- ``single``: bench_journal.py's book — one user, N resting EXCHANGE LIMIT buys on tBTCUSD
  spread over 5,000 price levels;
- ``varied``: 1,000 users, N resting orders on both sides of tBTCUSD (3/4) and tETHBTC (1/4),
  random amounts, client order ids, a few hidden orders and a few with an expiry (tif).

the state is built once through ``Exchange.apply``, snapshotted (``Exchange.snapshot``, timed)
and written with the store's ``SnapshotStore``; then ``--runs`` times a **fresh Python process**
(what a restart is: no warm allocator) loads the newest snapshot (read + length + sha256
check, store/snapshot.py) and restores it (``Exchange.restore``, then what ``recover`` does
after it: ``gc.freeze`` of a large state), each timed in wall-clock and
CPU seconds, and so are the next 200,000 small allocations (what the work after a restore pays
for garbage collections the restore left due). The parent checks once that the restored state
hash equals the live one.

usage: .venv/bin/python bench/bench_restart.py [--resting 1000000] [--runs 5] [--book both]
The core measured is the one on the import path: ``VENUE_ROOT=/path/to/other/tree`` measures
another checkout with this same script (before/after comparisons in one session).
Results: bench/RESULTS-journal.md §3.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.environ.get("VENUE_ROOT") or str(Path(__file__).resolve().parents[1])
sys.path.insert(0, ROOT)

COIN = 100_000_000


def build(book: str, resting: int):  # type: ignore[no-untyped-def]
    from venue.core.commands import CreateUser, Deposit, SubmitOrder
    from venue.core.exchange import Exchange
    from venue.core.orders import OrderType
    from venue.core.symbols import load_registry

    exchange = Exchange(load_registry())
    seq = 0

    def apply(command: object, ts: int) -> None:
        nonlocal seq
        seq += 1
        exchange.apply(command, seq=seq, ts=ts)  # type: ignore[arg-type]

    if book == "single":
        apply(CreateUser("bench"), 1)
        apply(Deposit(1, "USD", 10**20), 1)
        for i in range(resting):
            apply(SubmitOrder(1, "tBTCUSD", OrderType.EXCHANGE_LIMIT, 100_000,
                              (20_000 + i % 5_000) * COIN), 2)
        return exchange, seq
    rng = random.Random(3)
    t0 = 1_700_000_000_000
    for u in range(1, 1001):
        apply(CreateUser(f"user{u}"), t0)
        for currency, amount in (("USD", 10**18), ("BTC", 10**15), ("ETH", 10**16)):
            apply(Deposit(u, currency, amount), t0)
    for i in range(resting):
        buy = rng.random() < 0.5
        if i % 4:
            symbol = "tBTCUSD"
            price = (90_000 - 1 - rng.randrange(2_000) if buy else 90_001 + rng.randrange(2_000)) * COIN
        else:
            symbol = "tETHBTC"
            price = (2_999 - rng.randrange(500) if buy else 3_001 + rng.randrange(500)) * 1_000
        amount = rng.randrange(1, 10**7)
        apply(SubmitOrder(1 + rng.randrange(1000), symbol, OrderType.EXCHANGE_LIMIT,
                          amount if buy else -amount, price,
                          flags=64 if rng.random() < 0.05 else 0,
                          client_order_id=rng.randrange(10**12),
                          tif_ts=10**13 + i if rng.random() < 0.02 else None), t0 + i)
    return exchange, seq


def restore_only(data_dir: str) -> None:
    """The child: one restart, timed; prints a JSON line."""
    from venue.core.exchange import Exchange
    from venue.core.symbols import load_registry
    from venue.store import recovery
    from venue.store.snapshot import SnapshotStore

    registry = load_registry()
    store = SnapshotStore(data_dir)
    wall, cpu = time.perf_counter(), time.process_time()
    snapshot = store.load(store.list()[0])
    wall_load, cpu_load = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    if hasattr(recovery, "restore_snapshot"):  # as recover() restores (gc.freeze of a large state)
        exchange = recovery.restore_snapshot(Exchange, registry, snapshot.payload, freeze=True)
    else:  # older trees
        exchange = Exchange.restore(registry, snapshot.payload)
    wall_restore, cpu_restore = time.perf_counter() - wall, time.process_time() - cpu
    # what the next work pays for collections the restore left due (the tail replay would):
    # 200k small container allocations, timed
    wall = time.perf_counter()
    scratch = [[i] for i in range(200_000)]
    wall_after = time.perf_counter() - wall
    del scratch
    print(json.dumps({"load_wall": wall_load, "load_cpu": cpu_load, "restore_wall": wall_restore,
                      "restore_cpu": cpu_restore, "after_wall": wall_after,
                      "orders": len(exchange.engine.orders), "bytes": len(snapshot.payload)}))


def run_book(book: str, resting: int, runs: int) -> dict[str, float]:
    from venue.core.exchange import Exchange
    from venue.core.symbols import load_registry
    from venue.store.snapshot import SnapshotStore

    start = time.perf_counter()
    exchange, seq = build(book, resting)
    build_s = time.perf_counter() - start
    wall, cpu = time.perf_counter(), time.process_time()
    payload = exchange.snapshot()
    take_wall, take_cpu = time.perf_counter() - wall, time.process_time() - cpu
    with tempfile.TemporaryDirectory() as tmp:
        SnapshotStore(tmp).write(seq, 2, payload)
        check = Exchange.restore(load_registry(), payload)
        same = check.state_hash() == exchange.state_hash()
        del check, payload
        results = []
        for _ in range(runs):
            done = subprocess.run([sys.executable, __file__, "--restore-only", tmp],
                                  check=True, capture_output=True, text=True,
                                  env=dict(os.environ, VENUE_ROOT=ROOT))
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    out = {key: statistics.median(r[key] for r in results)
           for key in ("load_wall", "load_cpu", "restore_wall", "restore_cpu", "after_wall")}
    total = [r["load_wall"] + r["restore_wall"] for r in results]
    total_cpu = [r["load_cpu"] + r["restore_cpu"] for r in results]
    scale = 1_000_000 / resting
    print(f"{book:6} {resting:>9,} resting orders, {results[0]['bytes']:,} bytes snapshot "
          f"(built in {build_s:.0f} s; state hash equal after restore: {same})")
    print(f"       snapshot() {take_wall:.2f} s wall / {take_cpu:.2f} s CPU")
    print(f"       restart, median of {runs} fresh processes: load+sha256 "
          f"{out['load_wall']:.3f} s, restore {out['restore_wall']:.3f} s wall "
          f"({out['restore_cpu']:.3f} s CPU); total {statistics.median(total):.3f} s wall, "
          f"{statistics.median(total_cpu):.3f} s CPU → per 1M orders "
          f"{statistics.median(total) * scale:.2f} s wall, "
          f"{statistics.median(total_cpu) * scale:.2f} s CPU")
    print(f"       runs (wall): {' · '.join(f'{t:.3f}' for t in total)}; then 200k small "
          f"allocations: {out['after_wall']:.3f} s (collections the restore left due)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resting", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--book", default="both", choices=("single", "varied", "both"))
    parser.add_argument("--restore-only", metavar="DIR")
    args = parser.parse_args()
    if args.restore_only:
        restore_only(args.restore_only)
        return
    import platform

    print(f"# {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, core from {ROOT}")
    for book in (("single", "varied") if args.book == "both" else (args.book,)):
        run_book(book, args.resting, args.runs)
    print(f"# load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
