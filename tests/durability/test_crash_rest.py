"""Kill -9 of a real server under load through the real API: nothing acknowledged is lost.

``venue serve --data-dir D`` runs as a subprocess (uvloop, as in production). Accounts are
created offline first, on the stopped server's directory (store/tools.py, as ``venue account
create`` does). Then, until the server is SIGKILLed at a random moment:

- REST clients (one per account, so nonces grow per key) place crossing EXCHANGE LIMIT orders,
  cancel some, and now and then read their wallets, trades and ledgers, all signed with
  HMAC-SHA384 as spec §3 says;
- authenticated WebSocket clients place and cancel orders with ``on``/``oc`` input frames.

What the API told a client is what counts as acknowledged: a ``SUCCESS`` submit or cancel; an
``on``/``oc`` order frame; a ``tu`` account trade or a trades-history row; a ``wu`` wallet update
or a wallets row; a ledgers-history row. After each kill, against a replay of the journal from
seq 1 (no snapshot, no history store):

- recovery drops nothing and has the state hash of that uninterrupted replay;
- every acknowledged order was accepted, every acknowledged cancel or ``oc`` closed its order,
  every acknowledged trade and ledger entry was derived with exactly the fields the client saw,
  and every balance a client saw was a balance its wallet went through;
- nothing is half-applied: per currency the wallets (fee account included) still hold exactly
  what was deposited, no balance or available amount is negative.

The server is then restarted on the same directory. It must answer with everything acknowledged
so far (open orders and order history, trade and ledger history with the same rows, and every
balance seen among its ledger balances or the current ones), and its derived views — public
trades, candles, books and ticker, private order/trade/ledger history, wallets and open orders —
must answer exactly what a server started on a copy of the journal alone (everything re-derived
from seq 1) answers.

Every 10 kills start a fresh data directory; every second one runs a server that snapshots every
150 commands (kills land while a forked writer writes one) and compacts its journal. There seq 1
is gone, so recovery is compared with ``venue journal verify``'s replay from the oldest kept
snapshot (the acknowledged state is still checked through the restarted server's API).

20 kills in CI (about 30 s); VENUE_LONG_TESTS=1 runs 100, under durability ``os`` too.
``VENUE_CRASH_DURABILITY=none`` makes this test fail (acknowledged commands are lost).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import RunningServer
from venue.config import load_settings
from venue.core.events import AccountTrade, LedgerEntryAdded, OrderAccepted, OrderClosed, WalletChanged
from venue.core.exchange import FEE_ACCOUNT_ID, Exchange
from venue.core.numbers import parse_amount
from venue.core.symbols import load_registry
from venue.gateway.admin import create_account_sync
from venue.protocol import serialize
from venue.protocol.wire import dumps
from venue.store.journal import JOURNAL_FILE, Journal
from venue.store.recovery import recover
from venue.store.tools import open_offline, verify

ROOT = Path(__file__).resolve().parents[2]
DURABILITY = os.environ.get("VENUE_CRASH_DURABILITY", "full")  # "none" must make this test fail
LONG = os.environ.get("VENUE_LONG_TESTS") == "1"
TRIALS = 100 if LONG else 20
RESTARTS_PER_DIR = 10  # kills in a row on one data directory
REST_ACCOUNTS = ("rest0", "rest1", "rest2")
WS_ACCOUNTS = ("ws0", "ws1")
FUNDS = {"USD": "10000000", "BTC": "1000"}
HISTORY_LIMIT = 2500  # the most one history request returns (spec §2.4)
# The second data directory snapshots often (kills land while a forked writer writes one) and
# compacts its journal; the first never compacts, so it can be replayed from seq 1.
SNAPSHOTTING = """
snapshot_every = 150
snapshot_keep = 2
flush_interval_s = 0.05
"""


# -- what the clients were told -----------------------------------------------------------------


@dataclass
class Acked:
    orders: set[int] = field(default_factory=set)
    closed: set[int] = field(default_factory=set)  # acknowledged cancels and ``oc`` frames
    trades: dict[tuple[int, int], Any] = field(default_factory=dict)  # (user, trade id) → row
    ledgers: dict[tuple[int, int], Any] = field(default_factory=dict)  # (user, entry id) → row
    balances: set[tuple[int, str, str, Any]] = field(default_factory=set)  # user, wallet, cur, bal

    def merge(self, other: Acked) -> None:
        self.orders |= other.orders
        self.closed |= other.closed
        self.trades.update(other.trades)
        self.ledgers.update(other.ledgers)
        self.balances |= other.balances

    def count(self) -> int:
        return len(self.orders) + len(self.closed) + len(self.trades) + len(self.ledgers) + len(self.balances)


@dataclass(frozen=True)
class Account:
    user_id: int
    key: str
    secret: str


def create_accounts(data_dir: Path, registry: Any) -> dict[str, Account]:
    """On the stopped server's directory, as ``venue account create`` does without a server."""
    accounts = {}
    with open_offline(data_dir, registry) as session:
        for name in (*REST_ACCOUNTS, *WS_ACCOUNTS):
            creds = create_account_sync(session.apply, registry, name, FUNDS)
            accounts[name] = Account(creds.user_id, creds.api_key, creds.api_secret)
    return accounts


class Client:
    """A minimal signed REST client (spec §3: "/api/v2/" + path + nonce + body)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, account: Account) -> None:
        self.session = session
        self.base = base
        self.account = account
        self.secret = account.secret.encode()
        self.nonce = time.time_ns() // 1000

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.nonce = max(self.nonce + 1, time.time_ns() // 1000)
        raw = json.dumps(body)
        payload = f"/api/v2/{path}{self.nonce}{raw}".encode()
        headers = {
            "bfx-nonce": str(self.nonce),
            "bfx-apikey": self.account.key,
            "bfx-signature": hmac.new(self.secret, payload, hashlib.sha384).hexdigest(),
            "content-type": "application/json",
        }
        async with self.session.post(f"{self.base}/{path}", data=raw, headers=headers) as response:
            return response.status, await response.json(content_type=None)


def order_body(rng: random.Random) -> dict[str, Any]:
    side = 1 if rng.random() < 0.5 else -1
    price = 30_000 + rng.randrange(-10, 11) * 5  # a narrow band: buys and sells cross and trade
    amount = side * rng.randrange(1, 20) / 100
    return {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": str(amount), "price": str(price)}


async def drive_rest(client: Client, rng: random.Random, acked: Acked, stop: asyncio.Event) -> None:
    user = client.account.user_id
    mine: list[int] = []
    while not stop.is_set():
        try:
            roll = rng.random()
            if roll < 0.15:
                status, rows = await client.post("auth/r/wallets", {})
                if status == 200:
                    acked.balances |= {(user, row[0], row[1], row[2]) for row in rows}
            elif roll < 0.22:
                status, rows = await client.post("auth/r/trades/hist", {"limit": 100})
                if status == 200:
                    acked.trades.update({(user, row[0]): row for row in rows})
            elif roll < 0.29:
                status, rows = await client.post("auth/r/ledgers/hist", {"limit": 100})
                if status == 200:
                    acked.ledgers.update({(user, row[0]): row for row in rows})
            elif mine and roll < 0.5:
                order_id = mine.pop(rng.randrange(len(mine)))
                status, answer = await client.post("auth/w/order/cancel", {"id": order_id})
                if status == 200 and answer[6] == "SUCCESS":
                    acked.closed.add(order_id)
            else:
                status, answer = await client.post("auth/w/order/submit", order_body(rng))
                if status == 200 and answer[6] == "SUCCESS":
                    order_id = answer[4][0][0]
                    acked.orders.add(order_id)
                    mine.append(order_id)
        except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, ValueError):
            return  # the server was killed


def auth_frame(account: Account) -> str:
    nonce = time.time_ns() // 1000
    payload = f"AUTH{nonce}"
    signature = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha384).hexdigest()
    return json.dumps(
        {"event": "auth", "apiKey": account.key, "authSig": signature, "authNonce": nonce, "authPayload": payload}
    )


async def drive_ws(
    session: aiohttp.ClientSession, url: str, account: Account, rng: random.Random, acked: Acked, stop: asyncio.Event
) -> None:
    """Order entry over channel 0: one ``on``/``oc`` in flight, answered by its ``n``."""
    user = account.user_id
    answered: asyncio.Queue[Any] = asyncio.Queue()
    open_ids: list[int] = []
    cids = itertools.count(1)

    async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            await read_frames(ws)
        finally:
            answered.put_nowait(None)  # the connection is gone: the writer stops waiting

    async def read_frames(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(message.data)
            if isinstance(frame, dict):
                if frame.get("event") == "auth":
                    answered.put_nowait(frame)
                continue
            if frame[0] != 0 or len(frame) < 3:
                continue
            kind, data = frame[1], frame[2]
            if kind == "on":
                acked.orders.add(data[0])
                open_ids.append(data[0])
            elif kind == "oc":
                acked.closed.add(data[0])
                if data[0] in open_ids:
                    open_ids.remove(data[0])
            elif kind == "tu":
                acked.trades[(user, data[0])] = data
            elif kind == "wu":
                acked.balances.add((user, data[0], data[1], data[2]))
            elif kind == "ws":
                acked.balances |= {(user, row[0], row[1], row[2]) for row in data}
            elif kind == "n" and data[1] in ("on-req", "oc-req"):
                answered.put_nowait(data)

    try:
        async with session.ws_connect(url) as ws:
            reader = asyncio.create_task(read(ws))
            try:
                await ws.send_str(auth_frame(account))
                auth = await asyncio.wait_for(answered.get(), 5)
                if auth is None:
                    return
                assert auth.get("status") == "OK", auth
                while not stop.is_set():
                    if open_ids and rng.random() < 0.3:
                        frame = [0, "oc", None, {"id": open_ids[rng.randrange(len(open_ids))]}]
                    else:
                        frame = [0, "on", None, {**order_body(rng), "cid": next(cids)}]
                    await ws.send_str(json.dumps(frame))
                    if await asyncio.wait_for(answered.get(), 5) is None:
                        return
            finally:
                reader.cancel()
    except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, asyncio.CancelledError):
        return  # the server was killed


# -- the server --------------------------------------------------------------------------------


def start_server(data_dir: Path, log: Path, config: Path | None, durability: str) -> tuple[subprocess.Popen[bytes], str]:
    extra = ["--config", str(config)] if config is not None else []
    with open(log, "ab") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "venue", "serve", "--data-dir", str(data_dir), "--port", "0",
             "--no-rate-limits", "--durability", durability, *extra],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=log_file,
        )
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


async def load_then_kill(
    server: subprocess.Popen[bytes], base: str, accounts: dict[str, Account], seed: int, after: float
) -> Acked:
    acked = Acked()
    stop = asyncio.Event()
    rng = random.Random(seed)
    ws_url = base.replace("http://", "ws://").replace("/v2", "/ws/2")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        tasks = [
            asyncio.create_task(drive_rest(Client(session, base, accounts[name]), random.Random(rng.random()), acked, stop))
            for name in REST_ACCOUNTS
        ] + [
            asyncio.create_task(drive_ws(session, ws_url, accounts[name], random.Random(rng.random()), acked, stop))
            for name in WS_ACCOUNTS
        ]
        await asyncio.sleep(after)
        server.send_signal(signal.SIGKILL)
        await asyncio.to_thread(server.wait)
        stop.set()
        await asyncio.gather(*tasks)
    return acked


# -- the checks --------------------------------------------------------------------------------


def wire(row: Any) -> Any:
    """A row as a client parses it off the wire."""
    return json.loads(dumps(row))


@dataclass
class Replayed:
    exchange: Exchange
    accepted: set[int] = field(default_factory=set)
    closed: set[int] = field(default_factory=set)
    trades: dict[tuple[int, int], Any] = field(default_factory=dict)
    ledgers: dict[tuple[int, int], Any] = field(default_factory=dict)
    balances: set[tuple[int, str, str, Any]] = field(default_factory=set)


def replay_from_seq_one(data_dir: Path, registry: Any) -> Replayed:
    """The journal applied to a fresh core, with every event's wire form."""
    replayed = Replayed(Exchange(registry))
    journal = Journal.open(data_dir, lock=False)
    try:
        for record in journal.read_from(1):
            for event in replayed.exchange.apply(record.command, seq=record.seq, ts=record.ts):
                if isinstance(event, OrderAccepted):
                    replayed.accepted.add(event.order.id)
                elif isinstance(event, OrderClosed):
                    replayed.closed.add(event.order.id)
                elif isinstance(event, AccountTrade):
                    replayed.trades[(event.user_id, event.trade_id)] = wire(serialize.account_trade(event))
                elif isinstance(event, LedgerEntryAdded):
                    replayed.ledgers[(event.user_id, event.entry_id)] = wire(serialize.ledger(event))
                elif isinstance(event, WalletChanged):
                    replayed.balances.add((event.user_id, event.wallet, event.currency, wire(serialize.wallet(event))[2]))
    finally:
        journal.close()
    return replayed


def check_against_replay(trial: int, data_dir: Path, registry: Any, accounts: dict[str, Account], acked: Acked) -> None:
    recovered = recover(data_dir, registry)
    assert recovered.dropped == 0, f"trial {trial}: recovery dropped committed records"
    replayed = replay_from_seq_one(data_dir, registry)
    assert recovered.exchange.state_hash() == replayed.exchange.state_hash(), f"trial {trial}: recovery != replay"

    def lost(what: str, seen: Any, present: Any) -> None:
        missing = sorted(set(seen) - set(present))[:10]
        assert not missing, f"trial {trial}: acknowledged {what} lost after kill -9: {missing}"

    lost("orders", acked.orders, replayed.accepted)
    lost("cancels/closes", acked.closed, replayed.closed)
    lost("trades", acked.trades, replayed.trades)
    lost("ledger entries", acked.ledgers, replayed.ledgers)
    lost("balances", acked.balances, replayed.balances)
    for what, seen, present in (("trade", acked.trades, replayed.trades), ("ledger entry", acked.ledgers, replayed.ledgers)):
        changed = [key for key, row in seen.items() if present[key] != row][:5]
        assert not changed, f"trial {trial}: {what} rows differ from what was acknowledged: {changed}"

    check_conserved(trial, recovered.exchange, accounts)


def check_compacted(trial: int, data_dir: Path, registry: Any, accounts: dict[str, Account]) -> None:
    """A directory whose journal was compacted has no seq 1 to replay from: recovery (newest
    snapshot + tail) must equal the replay from the oldest kept snapshot (``venue journal verify``,
    which also checks the newest snapshot against that replay)."""
    recovered = recover(data_dir, registry)
    assert recovered.dropped == 0, f"trial {trial}: recovery dropped committed records"
    assert recovered.exchange.state_hash() == verify(data_dir, registry), f"trial {trial}: recovery != replay"
    check_conserved(trial, recovered.exchange, accounts)


def check_conserved(trial: int, exchange: Any, accounts: dict[str, Account]) -> None:
    """Nothing half-applied: whole commands only, so every unit deposited is still somewhere."""
    users = [FEE_ACCOUNT_ID, *(account.user_id for account in accounts.values())]
    totals: Counter[str] = Counter()
    for user in users:
        for wallet in exchange.wallets(user):
            assert wallet.balance >= 0 and wallet.available >= 0, (trial, user, wallet)
            totals[wallet.currency] += wallet.balance
    for currency, amount in FUNDS.items():
        assert totals[currency] == parse_amount(amount) * len(accounts), f"trial {trial}: {currency} not conserved"


def check_present(trial: int, answers: dict[str, Any], accounts: dict[str, Account], acked: Acked) -> None:
    """The restarted server answers with everything acknowledged before the kills: orders (open
    or in the order history), closes (order history), trades and ledger entries (same rows), and
    every balance a client saw (a ledger entry's balance, or the current one)."""
    full = HISTORY_LIMIT
    orders: set[int] = set()
    closed: set[int] = set()
    trades: dict[tuple[int, int], Any] = {}
    ledgers: dict[tuple[int, int], Any] = {}
    balances: set[tuple[int, str, str, Any]] = set()
    oldest = {"orders": 0, "trades": 0, "ledgers": 0}  # below these ids a full answer is cut off
    ledgers_cut: set[int] = set()  # users whose ledger history is longer than one answer
    for name, account in accounts.items():
        user = account.user_id

        def rows(path: str) -> list[Any]:
            status, answer = answers[f"{name} {path}"]
            assert status == 200, (trial, path, answer)
            return answer

        history = rows("auth/r/orders/hist")
        orders |= {row[0] for row in rows("auth/r/orders")} | {row[0] for row in history}
        closed |= {row[0] for row in history}
        trade_rows = rows("auth/r/trades/hist")
        trades.update({(user, row[0]): row for row in trade_rows})
        ledger_rows = rows("auth/r/ledgers/hist")
        ledgers.update({(user, row[0]): row for row in ledger_rows})
        balances |= {(user, row[2], row[1], row[6]) for row in ledger_rows}
        balances |= {(user, row[0], row[1], row[2]) for row in rows("auth/r/wallets")}
        for what, got in (("orders", history), ("trades", trade_rows), ("ledgers", ledger_rows)):
            if len(got) >= full:
                oldest[what] = max(oldest[what], min(row[0] for row in got))
        if len(ledger_rows) >= full:
            ledgers_cut.add(user)

    def lost(what: str, seen: Any, present: Any) -> None:
        missing = sorted(set(seen) - set(present))[:10]
        assert not missing, f"trial {trial}: acknowledged {what} missing after restart: {missing}"

    lost("orders", {i for i in acked.orders if i > oldest["orders"]}, orders)
    lost("closes", {i for i in acked.closed if i > oldest["orders"]}, closed)
    lost("trades", {k for k in acked.trades if k[1] > oldest["trades"]}, trades)
    lost("ledger entries", {k for k in acked.ledgers if k[1] > oldest["ledgers"]}, ledgers)
    lost("balances", {b for b in acked.balances if b[3] != 0 and b[0] not in ledgers_cut}, balances)
    for what, seen, present in (("trade", acked.trades, trades), ("ledger entry", acked.ledgers, ledgers)):
        changed = [key for key, row in seen.items() if key in present and present[key] != row][:5]
        assert not changed, f"trial {trial}: {what} rows differ from what was acknowledged: {changed}"


def views_of(base: str, accounts: dict[str, Account]) -> dict[str, Any]:
    """What the API answers about the market and every account (no side effects)."""

    async def ask() -> dict[str, Any]:
        answers: dict[str, Any] = {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for path in (
                "trades/tBTCUSD/hist?limit=10000",
                "candles/trade:1m:tBTCUSD/hist?limit=10000",
                "candles/trade:1h:tBTCUSD/last",
                "book/tBTCUSD/P0?len=100",
                "book/tBTCUSD/P2?len=100",
                "book/tBTCUSD/R0?len=100",
                "ticker/tBTCUSD",
            ):
                async with session.get(f"{base}/{path}") as response:
                    answers[path] = (response.status, await response.json(content_type=None))
            for name, account in accounts.items():
                client = Client(session, base, account)
                for path, body in (
                    ("auth/r/wallets", {}),
                    ("auth/r/orders", {}),
                    ("auth/r/orders/hist", {"limit": HISTORY_LIMIT}),
                    ("auth/r/trades/hist", {"limit": HISTORY_LIMIT}),
                    ("auth/r/ledgers/hist", {"limit": HISTORY_LIMIT}),
                ):
                    answers[f"{name} {path}"] = await client.post(path, body)
        return answers

    return asyncio.run(ask())


def reference_views(data_dir: Path, accounts: dict[str, Account]) -> dict[str, Any]:
    """The views of a server that has only the journal: everything re-derived from seq 1."""
    settings = replace(load_settings(data_dir=data_dir, port=0), rate_limits=False, durability="os")
    reference = RunningServer(settings)
    try:
        return views_of(reference.rest_url, accounts)
    finally:
        reference.close()


def copy_journal(data_dir: Path, into: Path) -> Path:
    """The journal files alone (no snapshot, no history), as they are while no server runs."""
    into.mkdir()
    for suffix in ("", "-wal", "-shm"):
        source = data_dir / (JOURNAL_FILE + suffix)
        if source.exists():
            shutil.copy(source, into / (JOURNAL_FILE + suffix))
    return into


@pytest.mark.parametrize("durability", [DURABILITY, *(["os"] if LONG else [])])
def test_acknowledged_api_commands_survive_kill_9(tmp_path: Path, durability: str) -> None:
    registry = load_registry()
    rng = random.Random(7)
    config = tmp_path / "snapshotting.toml"
    config.write_text(SNAPSHOTTING)
    checked = compared = present = 0
    kinds: Counter[str] = Counter()  # trials in which each kind of acknowledgement was checked
    started = time.monotonic()
    directories = [list(range(start, min(start + RESTARTS_PER_DIR, TRIALS))) for start in range(0, TRIALS, RESTARTS_PER_DIR)]
    for number, trials in enumerate(directories):
        data_dir = tmp_path / f"data{number}"
        compacting = number % 2 == 1
        server_config = config if compacting else None
        accounts = create_accounts(data_dir, registry)
        all_acked = Acked()
        for trial in [*trials, None]:  # None: a last restart to check the last kill
            restarted = trial != trials[0]
            if restarted and not compacting:
                reference_dir = copy_journal(data_dir, tmp_path / f"reference{number}-{trial}")
            server, base = start_server(data_dir, tmp_path / "server.log", server_config, durability)
            try:
                if restarted:
                    answers = views_of(base, accounts)
                    check_present(trial, answers, accounts, all_acked)
                    present += 1
                    if not compacting:
                        # the restarted server's views (history caught up from the journal, books
                        # from the core) answer exactly what views re-derived from seq 1 answer
                        expected = reference_views(reference_dir, accounts)
                        differ = [path for path in expected if answers[path] != expected[path]]
                        assert not differ, f"trial {trial}: views after restart differ from a fresh replay: {differ}"
                        compared += 1
                if trial is None:
                    break
                acked = asyncio.run(load_then_kill(server, base, accounts, trial, rng.uniform(0.2, 0.8)))
            finally:
                if server.poll() is None:  # a failed check (or the last restart) leaves no server
                    server.kill()
                    server.wait()
                if server.stdout is not None:
                    server.stdout.close()
            all_acked.merge(acked)
            if compacting:
                check_compacted(trial, data_dir, registry, accounts)
            else:
                check_against_replay(trial, data_dir, registry, accounts, all_acked)
            checked += acked.count()
            kinds.update(kind for kind in ("orders", "closed", "trades", "ledgers", "balances") if getattr(acked, kind))
            assert acked.orders, f"trial {trial}: no load reached the server"
        if compacting:
            journal = Journal.open(data_dir, lock=False)
            try:
                assert journal.compacted_through() > 0, "the snapshotting server never compacted its journal"
            finally:
                journal.close()
    print(
        f"API kill -9, durability {durability}: {TRIALS} kills, {checked} acknowledged orders/closes/trades/ledger entries/"
        f"balances checked, present after {present} restarts, views equal to a fresh replay after "
        f"{compared}, {time.monotonic() - started:.1f} s"
    )
    assert checked > TRIALS * 50, "the load was too light to mean anything"
    assert all(kinds[kind] >= TRIALS // 2 for kind in ("orders", "closed", "trades", "ledgers", "balances")), kinds
