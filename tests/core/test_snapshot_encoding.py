"""Snapshots (venue/core/persistence.py): the columnar encoding restores exactly the state the
JSON encoding describes — every slot of every order, the books, stops, holds, the order of
every table — the restored exchange behaves identically, old JSON snapshots still load, and a
damaged payload is refused rather than half-loaded."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from venue.core import persistence
from venue.core.book import Order
from venue.core.commands import CreateApiKey, CreateUser, Deposit, SubmitOrder
from venue.core.exchange import Exchange
from venue.core.orders import OrderType

from tests.core import workload
from tests.core.harness import REGISTRY, Venue, amt, px


def _random_venue(seed: int, steps: int) -> tuple[Venue, random.Random]:
    v = Venue()
    for name in ("a", "b", "c", "d"):
        v.apply(CreateUser(name))
    for command in workload.funding():
        v.apply(command)
    rng = random.Random(seed)
    for _ in range(steps):
        v.apply(workload.to_command(v.ex, workload.random_step(rng)))
    return v, rng


def _v1(ex: Exchange) -> bytes:
    return persistence.dump_json(ex.accounts, ex.engine, ex.preferences)


CACHES = {"hold_currency"}  # filled on first use (the JSON restore fills it for holds)


def _order_slots(order: Order, skip: set[str] = CACHES) -> dict[str, Any]:
    return {name: getattr(order, name) for name in Order.__slots__ if name not in skip}


def _book(ex: Exchange) -> list[Any]:
    out = []
    for symbol, ms in ex.engine.markets.items():
        for side in (ms.bids, ms.asks):
            levels = [(p, side.levels[p].live, side.levels[p].total,
                       [o.id for o in side.levels[p].orders()]) for p in side.prices()]
            out.append((symbol, side.best(), levels, sorted(p * side._sign for p in side.levels)))
        stops = ms.stops
        out.append((symbol, sorted(stops.orders), list(stops.trailing), sorted(stops.buys),
                    sorted(stops.sells)))
    return out


def _assert_same_state(restored: Exchange, other: Exchange) -> None:
    """Equal in everything the future depends on, not only in the state hash."""
    assert restored.state_hash() == other.state_hash()
    assert list(restored.engine.orders) == list(other.engine.orders)
    for oid, order in restored.engine.orders.items():
        assert _order_slots(order) == _order_slots(other.engine.orders[oid]), oid
    assert {u: list(d) for u, d in restored.engine.by_user.items()} == \
        {u: list(d) for u, d in other.engine.by_user.items()}
    assert sorted(restored.engine.tif_heap) == sorted(other.engine.tif_heap)
    assert _book(restored) == _book(other)
    assert list(restored.accounts.wallets) == list(other.accounts.wallets)
    assert [(w.balance, w.hold) for w in restored.accounts.wallets.values()] == \
        [(w.balance, w.hold) for w in other.accounts.wallets.values()]
    assert restored.accounts.by_user == other.accounts.by_user
    assert restored.accounts.users == other.accounts.users
    assert restored.accounts.names == other.accounts.names
    assert restored.accounts.keys == other.accounts.keys


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_columnar_snapshot_restores_what_the_json_snapshot_restores(seed: int) -> None:
    v, rng = _random_venue(seed, 400 + 150 * seed)
    data = v.ex.snapshot()
    assert data.startswith(persistence.MAGIC)
    restored = Exchange.restore(REGISTRY, data)
    from_json = Exchange.restore(REGISTRY, _v1(v.ex))
    _assert_same_state(restored, from_json)
    assert restored.state_hash() == v.ex.state_hash()
    assert restored.snapshot() == data  # canonical: the same state, the same bytes
    for i in range(300):  # and the same futures
        command = workload.to_command(v.ex, workload.random_step(rng))
        ts = v.ts + 1 + i
        expected = v.ex.apply(command, seq=i, ts=ts)
        assert restored.apply(command, seq=i, ts=ts) == expected
        assert from_json.apply(command, seq=i, ts=ts) == expected
    assert restored.state_hash() == v.ex.state_hash()
    assert restored.snapshot() == v.ex.snapshot()


def test_restored_orders_match_the_live_ones_slot_by_slot() -> None:
    v, _ = _random_venue(7, 800)
    restored = Exchange.restore(REGISTRY, v.ex.snapshot())
    caches = CACHES | {"queue_seq", "stop_seq", "open_text"}  # internal keys and caches
    for oid, order in v.ex.engine.orders.items():
        assert _order_slots(restored.engine.orders[oid], caches) == _order_slots(order, caches)
        assert restored.engine.orders[oid].state() == order.state()


def test_unusual_values_round_trip() -> None:
    """Big ints (beyond int64), meta dicts, tif, API keys, odd names, one-row tables."""
    v = Venue()
    v.apply(CreateUser("zoë \"q\"\n"))
    v.apply(CreateUser("b"))
    v.apply(CreateApiKey(1, "k1", "s1", (("orders", True, True), ("wallets", True, False))))
    v.apply(Deposit(1, "USD", 10**30))
    v.apply(Deposit(2, "BTC", amt(1000)))
    v.apply(SubmitOrder(1, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amt(3), px(100), flags=64,
                        client_order_id=2**40, tif_ts=v.ts + 10_000,
                        meta={"b": 1, "a": [1, "x"]}))
    v.apply(SubmitOrder(1, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amt(5), px(99), group_id=7))
    v.apply(SubmitOrder(2, "tBTCUSD", OrderType.EXCHANGE_LIMIT, -amt(1), px(100)))  # fills
    v.apply(SubmitOrder(2, "tBTCUSD", OrderType.EXCHANGE_STOP, -amt(1), px(90)))
    v.apply(SubmitOrder(2, "tBTCUSD", OrderType.EXCHANGE_TRAILING_STOP, -amt(1),
                        price_trailing=px(5)))
    data = v.ex.snapshot()
    restored = Exchange.restore(REGISTRY, data)
    _assert_same_state(restored, Exchange.restore(REGISTRY, _v1(v.ex)))
    assert restored.snapshot() == data
    assert restored.engine.orders[1].meta == {"a": [1, "x"], "b": 1}
    assert restored.engine.orders[1].fills == v.ex.engine.orders[1].fills != []


def test_one_order_and_empty_states_round_trip() -> None:
    empty = Exchange(REGISTRY)
    assert Exchange.restore(REGISTRY, empty.snapshot()).snapshot() == empty.snapshot()
    v = Venue()
    v.user("a", USD="100")
    v.order(1, "0.1", "100")
    restored = Exchange.restore(REGISTRY, v.ex.snapshot())
    _assert_same_state(restored, Exchange.restore(REGISTRY, _v1(v.ex)))
    assert restored.snapshot() == v.ex.snapshot()


def test_a_json_snapshot_still_loads() -> None:
    """Snapshots written before the columnar encoding (version 1) restore to the same state."""
    v, _ = _random_venue(11, 600)
    restored = Exchange.restore(REGISTRY, _v1(v.ex))
    assert restored.state_hash() == v.ex.state_hash()
    assert restored.snapshot() == v.ex.snapshot()


def test_the_state_hash_is_the_hash_of_the_json_encoding() -> None:
    import hashlib

    v, _ = _random_venue(3, 300)
    assert v.ex.state_hash() == hashlib.sha256(_v1(v.ex)).hexdigest()


@pytest.mark.parametrize("damage", ["truncate", "trailing", "head", "magic_only", "book"])
def test_a_damaged_payload_is_refused(damage: str) -> None:
    v, _ = _random_venue(5, 300)
    data = v.ex.snapshot()
    if damage == "truncate":
        bad = data[:-3]
    elif damage == "trailing":
        bad = data + b"\0"
    elif damage == "head":
        bad = data.replace(b'"version":2', b'"version":9', 1)
    elif damage == "magic_only":
        bad = persistence.MAGIC
    else:  # more resting orders than there are orders
        end = data.index(b"\n", len(persistence.MAGIC))
        head = json.loads(data[len(persistence.MAGIC):end])
        head["markets"][0][2] += 10**6
        bad = persistence.MAGIC + persistence._json(head) + data[end:]
    with pytest.raises((ValueError, KeyError, TypeError, IndexError)):
        Exchange.restore(REGISTRY, bad)


@pytest.mark.parametrize("seed", [21, 22])
def test_round_trip_at_every_checkpoint_of_a_stream(seed: int) -> None:
    """Many different states: stops pending or not, partly filled orders, OCO pairs, hidden and
    post-only orders, empty and busy books."""
    v, rng = _random_venue(seed, 0)
    for step in range(1, 1201):
        v.apply(workload.to_command(v.ex, workload.random_step(rng)))
        if step % 40 == 0:
            data = v.ex.snapshot()
            restored = Exchange.restore(REGISTRY, data)
            _assert_same_state(restored, Exchange.restore(REGISTRY, _v1(v.ex)))
            assert restored.snapshot() == data



def test_snapshot_bytes_do_not_depend_on_the_hash_seed() -> None:
    """Canonical bytes: the same stream snapshots to the same bytes in fresh processes with
    different PYTHONHASHSEED values (set and dict orders never leak into the encoding)."""
    import hashlib
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    script = (
        "import hashlib\n"
        "from tests.core.test_snapshot_encoding import _random_venue\n"
        "v, _ = _random_venue(13, 700)\n"
        "print(hashlib.sha256(v.ex.snapshot()).hexdigest())\n"
    )
    out = []
    for seed in ("0", "777"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(root))
        done = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, check=True,
                              capture_output=True, text=True, timeout=120)
        out.append(done.stdout.strip())
    v, _ = _random_venue(13, 700)
    assert out[0] == out[1] == hashlib.sha256(v.ex.snapshot()).hexdigest()
