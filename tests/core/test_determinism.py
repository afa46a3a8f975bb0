"""Determinism (design.md): the same command stream gives the same events and state hash in
fresh processes with different PYTHONHASHSEED values; snapshots round-trip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from venue.core.commands import CreateUser
from venue.core.exchange import Exchange

from tests.core import workload
from tests.core.harness import REGISTRY, Venue

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import hashlib, random
from venue.core.commands import CreateUser
from tests.core import workload
from tests.core.harness import Venue
v = Venue()
digest = hashlib.sha256()
for name in ("a", "b", "c", "d"):
    v.apply(CreateUser(name))
for command in workload.funding():
    v.apply(command)
rng = random.Random(99)
for _ in range(1500):
    for event in v.apply(workload.to_command(v.ex, workload.random_step(rng))):
        digest.update(repr(event).encode())
print(digest.hexdigest(), v.ex.state_hash())
"""


def _run(seed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True, timeout=120)
    return done.stdout.strip()


def test_the_same_stream_gives_the_same_events_and_hash_under_any_hash_seed() -> None:
    first, second = _run("1"), _run("4242")
    assert first == second
    assert len(first.split()) == 2


def test_snapshot_restore_gives_an_equal_state_hash_and_equal_futures() -> None:
    import random

    v = Venue()
    for name in ("a", "b", "c", "d"):
        v.apply(CreateUser(name))
    for command in workload.funding():
        v.apply(command)
    rng = random.Random(5)
    for _ in range(500):
        v.apply(workload.to_command(v.ex, workload.random_step(rng)))
    restored = Exchange.restore(REGISTRY, v.ex.snapshot())
    assert restored.state_hash() == v.ex.state_hash()
    for i in range(300):
        step = workload.random_step(rng)
        command = workload.to_command(v.ex, step)
        ts = v.ts + 1 + i
        assert restored.apply(command, seq=i, ts=ts) == v.ex.apply(command, seq=i, ts=ts)
    assert restored.state_hash() == v.ex.state_hash()


def test_state_hash_changes_when_state_changes() -> None:
    v = Venue()
    before = v.ex.state_hash()
    v.user("alice", USD="1")
    assert v.ex.state_hash() != before


def test_a_restored_exchange_reports_moved_trailing_stops_in_the_same_order() -> None:
    from venue.core.commands import SubmitOrder, UpdateOrder
    from venue.core.orders import OrderType

    from tests.core.harness import accepted_id, amt, px

    v = Venue()
    maker = v.user("maker", BTC="5", USD="100000")
    taker = v.user("taker", BTC="5", USD="100000")
    v.order(maker, "-0.01", "100")
    v.order(taker, "0.01", "100")
    u = v.user("u", BTC="1")
    first = accepted_id(v.order(u, "-0.1", None, "EXCHANGE TRAILING STOP",
                                price_trailing=px(5)))
    v.order(u, "-0.1", None, "EXCHANGE TRAILING STOP", price_trailing=px(5))
    v.apply(UpdateOrder(u, first, price_trailing=px(6)))  # re-registers the older stop
    v.order(maker, "-0.01", "110")
    restored = Exchange.restore(REGISTRY, v.ex.snapshot())
    assert restored.state_hash() == v.ex.state_hash()
    rise = SubmitOrder(taker, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amt("0.01"), px(110))
    ts = v.ts + 1
    assert restored.apply(rise, seq=1, ts=ts) == v.ex.apply(rise, seq=1, ts=ts)
