"""Kill -9 of a real server under REST load: acknowledged orders and cancels survive.

``venue serve --data-dir D`` runs as a subprocess. Accounts are created offline first
(``venue account create`` on the stopped server's directory, store/tools.py). Clients place
crossing EXCHANGE LIMIT orders and cancel some through the authenticated REST API
(``auth/w/order/submit``, ``auth/w/order/cancel``, signed with HMAC-SHA384 as spec §3 says); a
``SUCCESS`` notification is an acknowledgement. The server is SIGKILLed at a random moment and
restarted on the same directory. After each kill:

- recovery drops nothing and equals (state hash) an uninterrupted replay of the journal;
- every acknowledged order id was accepted in the journal (``OrderAccepted``), every acknowledged
  cancel closed its order, and the restarted server lists the acknowledged open orders
  (``auth/r/orders``) that nothing closed afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from venue.core.exchange import Exchange
from venue.core.symbols import load_registry
from venue.store.journal import Journal
from venue.store.recovery import recover

ROOT = Path(__file__).resolve().parents[2]
DURABILITY = os.environ.get("VENUE_CRASH_DURABILITY", "full")  # "none" must make this test fail
TRIALS = 40 if os.environ.get("VENUE_LONG_TESTS") == "1" else 5


def venue(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    """The real command line: ``python -m venue …`` (uvloop, as in production)."""
    return subprocess.Popen(
        [sys.executable, "-m", "venue", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        **kwargs,
    )


def create_account(data_dir: Path, name: str) -> tuple[str, str]:
    proc = venue(
        "account", "create", name, "--deposit", "USD=10000000", "--deposit", "BTC=1000",
        "--json", "--data-dir", str(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    creds = json.loads(out)
    return creds["api_key"], creds["api_secret"]


class Client:
    """A minimal signed REST client (spec §3: "/api/v2/" + path + nonce + body)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, key: str, secret: str) -> None:
        self.session = session
        self.base = base
        self.key = key
        self.secret = secret.encode()
        self.nonce = time.time_ns() // 1000

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        self.nonce = max(self.nonce + 1, time.time_ns() // 1000)
        raw = json.dumps(body)
        payload = f"/api/v2/{path}{self.nonce}{raw}".encode()
        headers = {
            "bfx-nonce": str(self.nonce),
            "bfx-apikey": self.key,
            "bfx-signature": hmac.new(self.secret, payload, hashlib.sha384).hexdigest(),
            "content-type": "application/json",
        }
        async with self.session.post(f"{self.base}/{path}", data=raw, headers=headers) as response:
            return response.status, await response.json(content_type=None)


async def drive(client: Client, rng: random.Random, acked: dict[str, set[int]], stop: asyncio.Event) -> None:
    mine: list[int] = []
    while not stop.is_set():
        try:
            if mine and rng.random() < 0.3:
                order_id = mine.pop(rng.randrange(len(mine)))
                status, answer = await client.post("auth/w/order/cancel", {"id": order_id})
                if status == 200 and answer[6] == "SUCCESS":
                    acked["cancels"].add(order_id)
                continue
            side = 1 if rng.random() < 0.5 else -1
            price = 30_000 + rng.randrange(-10, 11) * 5
            amount = side * rng.randrange(1, 20) / 100
            body = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": str(amount), "price": str(price)}
            status, answer = await client.post("auth/w/order/submit", body)
            if status == 200 and answer[6] == "SUCCESS":
                order_id = answer[4][0][0]
                acked["orders"].add(order_id)
                mine.append(order_id)
        except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError):
            return  # the server was killed


def start_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    log_file = open(log, "ab")
    server = venue(
        "serve", "--data-dir", str(data_dir), "--port", "0", "--no-rate-limits", "--durability", DURABILITY,
        stdout=subprocess.PIPE, stderr=log_file,
    )
    log_file.close()
    assert server.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = server.stdout.readline().decode()
        if not line:
            break
        if line.strip().startswith("REST"):
            return server, line.split()[-1]
    server.kill()
    server.wait()
    raise AssertionError(f"server did not start: {log.read_text()[-3000:]}")


async def load_then_kill(server: subprocess.Popen[bytes], base: str, creds: list[tuple[str, str]], seed: int, after: float) -> dict[str, set[int]]:
    acked: dict[str, set[int]] = {"orders": set(), "cancels": set()}
    stop = asyncio.Event()
    rng = random.Random(seed)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        clients = [Client(session, base, key, secret) for key, secret in creds for _ in range(2)]
        tasks = [asyncio.create_task(drive(c, random.Random(rng.random()), acked, stop)) for c in clients]
        await asyncio.sleep(after)
        server.send_signal(signal.SIGKILL)
        server.wait()
        stop.set()
        await asyncio.gather(*tasks)
    return acked


async def open_orders(base: str, key: str, secret: str) -> set[int]:
    async with aiohttp.ClientSession() as session:
        status, answer = await Client(session, base, key, secret).post("auth/r/orders/tBTCUSD", {})
    assert status == 200, answer
    return {row[0] for row in answer}


def test_acknowledged_rest_orders_survive_kill_9(tmp_path: Path) -> None:
    registry = load_registry()
    rng = random.Random(7)
    all_acked: dict[str, set[int]] = {"orders": set(), "cancels": set()}
    checked = 0
    for trial in range(TRIALS):
        if trial % 10 == 0:
            # a fresh directory now and then: each check replays the whole journal from seq 1
            data_dir = tmp_path / f"data{trial}"
            data_dir.mkdir()
            creds = [create_account(data_dir, name) for name in ("maker", "taker")]
            all_acked = {"orders": set(), "cancels": set()}
            restarted = False
        server, base = start_server(data_dir, tmp_path / "server.log")
        try:
            if restarted:
                # the restarted server answers with what was acknowledged before the kill
                listed = set()
                for key, secret in creds:
                    listed |= asyncio.run(open_orders(base, key, secret))
                still_open = {oid for oid in all_acked["orders"] if oid in open_now}
                missing = sorted(still_open - listed)[:10]
                assert not missing, f"acknowledged open orders missing: {missing}"
            acked = asyncio.run(load_then_kill(server, base, creds, trial, rng.uniform(0.3, 1.2)))
        finally:
            if server.poll() is None:  # a failed check must not leave a server behind
                server.kill()
                server.wait()
            if server.stdout is not None:
                server.stdout.close()
        recovered = recover(data_dir, registry)
        assert recovered.dropped == 0
        exchange = Exchange(registry)
        accepted: set[int] = set()
        closed: set[int] = set()
        journal = Journal.open(data_dir, lock=False)
        for record in journal.read_from(1):
            for event in exchange.apply(record.command, seq=record.seq, ts=record.ts):
                name = type(event).__name__
                if name == "OrderAccepted":
                    accepted.add(event.order.id)
                elif name == "OrderClosed":
                    closed.add(event.order.id)
        journal.close()
        assert exchange.state_hash() == recovered.exchange.state_hash()
        assert acked["orders"] <= accepted, f"trial {trial}: lost orders {sorted(acked['orders'] - accepted)[:10]}"
        assert acked["cancels"] <= closed, f"trial {trial}: lost cancels {sorted(acked['cancels'] - closed)[:10]}"
        open_now = {o.id for o in recovered.exchange.open_orders(1)} | {o.id for o in recovered.exchange.open_orders(2)}
        for key in all_acked:
            all_acked[key] |= acked[key]
        checked += len(acked["orders"]) + len(acked["cancels"])
        restarted = True
    print(f"REST kill -9: {TRIALS} kills, {checked} acknowledged orders/cancels checked")
    assert checked > TRIALS * 20, "the load was too light to mean anything"
