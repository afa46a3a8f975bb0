"""The official Node client ``bitfinex-api-node`` (9.1.0, with bfx-api-node-rest 7.0.0) against venue.

Each test runs one script of ``tests/e2e/node/`` (a pinned npm package, installed by
``scripts/test`` with ``npm ci``) with ``node``, pointed at the ``server`` fixture exactly as the
README says (``new RESTv2({url: ROOT})``, ``new WSv2({url: WS_URL})``). The scripts check what
the client sees and print one JSON line ``{"result": …, "failures": […]}``; this module asserts
both the failures (none) and the values. Scripts that listen while the test drives trades print
JSON lines before the result and read one line per step on stdin.

Skipped (with the reason) only when ``node`` is not installed; a missing ``node_modules`` is an
error (run ``scripts/test`` or ``npm ci`` in ``tests/e2e/node``).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningServer
from tests.e2e.test_ws_public import RandomFlow, funded_users
from venue.core.commands import Command, SubmitOrder
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderType

NODE_DIR = Path(__file__).parent / "node"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (the Node client e2e tests need it)")


class NodeScript:
    """One running ``node SCRIPT CONFIG`` with its stdout read line by line on a thread."""

    def __init__(self, script: str, config: dict[str, Any]) -> None:
        assert (NODE_DIR / "node_modules" / "bitfinex-api-node").is_dir(), (
            f"{NODE_DIR}/node_modules is missing: run scripts/test or `npm ci` in {NODE_DIR}")
        self.proc = subprocess.Popen(
            [NODE or "node", script, json.dumps(config)], cwd=NODE_DIR, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._err: list[str] = []
        self._readers = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self._err.extend(self.proc.stderr)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._lines.append("")  # EOF
            self._cond.notify_all()

    def next(self, timeout: float = 20) -> dict[str, Any]:
        """The next JSON line the script printed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._lines, timeout):
                self.kill()
                raise AssertionError(f"no line from the Node script in {timeout} s")
            line = self._lines.pop(0)
        if not line:
            raise AssertionError(f"the Node script ended early: {self.stderr()}")
        return json.loads(line)

    def send(self, obj: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def stderr(self) -> str:
        self.kill()
        return "".join(self._err)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                try:
                    stream.close()
                except BrokenPipeError:
                    pass

    def result(self, timeout: float = 30) -> Any:
        """The script's final line: asserts it reported no failure and exited 0."""
        try:
            out = self.next(timeout)
            while "failures" not in out:
                out = self.next(timeout)
            assert out["failures"] == [], "\n".join(out["failures"])
            assert self.proc.wait(timeout) == 0, self.stderr()
        finally:
            self.kill()
        return out["result"]


def run_node(script: str, config: dict[str, Any], timeout: float = 30) -> Any:
    return NodeScript(script, config).result(timeout)


def rest_root(server: RunningServer) -> str:
    """README: the Node client takes the root without ``/v2``."""
    assert server.rest_url.endswith("/v2")
    return server.rest_url[: -len("/v2")]


def creds(server: RunningServer, deposits: dict[str, str]) -> dict[str, Any]:
    user_id, key, secret = server.create_account(deposits=deposits)
    return {"user": user_id, "key": key, "secret": secret}


def limit(user: int, symbol: str, amount: str, price: str, **kw: Any) -> SubmitOrder:
    return SubmitOrder(user_id=user, symbol=symbol, type=OrderType.EXCHANGE_LIMIT,
                       amount=parse_amount(amount), price=parse_price(price), **kw)


def order_id(events: list[Any]) -> int:
    return next(e.order.id for e in events if type(e).__name__ == "OrderAccepted")


def seed_btc_market(server: RunningServer) -> None:
    """Bids 89990 (0.5) / 89980 (0.3), asks 90010 (0.5 → 0.4 after a 0.1 buy) / 90020 (0.25)."""
    maker = server.create_account(deposits={"USD": "1000000", "BTC": "100"})[0]
    taker = server.create_account(deposits={"USD": "1000000", "BTC": "100"})[0]
    for command in (limit(maker, "tBTCUSD", "-0.5", "90010"), limit(maker, "tBTCUSD", "-0.25", "90020"),
                    limit(maker, "tBTCUSD", "0.5", "89990"), limit(maker, "tBTCUSD", "0.3", "89980"),
                    limit(taker, "tBTCUSD", "0.1", "90010")):
        server.submit(command)


def test_restv2_public_and_a_trade_between_two_accounts(server: RunningServer) -> None:
    seed_btc_market(server)
    alice = creds(server, {"USD": "10000"})
    bob = creds(server, {"ETH": "10"})
    out = run_node("rest.js", {"restRoot": rest_root(server), "alice": alice, "bob": bob})

    # BID_SIZE/ASK_SIZE: the sums of the 25 best levels (Bitfinex docs)
    assert out["ticker"] == {"bid": 89990, "bidSize": 0.8, "ask": 90010, "askSize": 0.65, "last": 90010,
                             "volume": 0.1, "high": 90010, "low": 90010}
    assert out["trades"] == [{"amount": 0.1, "price": 90010}]
    assert out["book"] == [[89990, 1, 0.5], [89980, 1, 0.3], [90010, 1, -0.4], [90020, 1, -0.25]]
    assert out["rawBook"] == [[89990, 0.5], [89980, 0.3], [90010, -0.4], [90020, -0.25]]
    assert out["candle"] == [90010, 90010, 90010, 90010, 0.1]
    assert out["tickersAll"] >= 2
    assert {"BTCUSD", "ETHUSD"} <= set(out["conf"]["pairs"]) and {"BTC", "ETH", "USD"} <= set(out["conf"]["currencies"])

    auth = out["auth"]
    assert auth["bid"] == [0.5, 3000, "ACTIVE"]
    amount, price, maker, fee, fee_currency = auth["trade"]
    assert (amount, price, maker) == (0.5, 3000, True)
    assert fee <= 0 and fee_currency == "ETH"
    assert auth["wallets"] == sorted([["exchange", "ETH", 0.5 + fee], ["exchange", "USD", 8500]])
    assert auth["ledgers"][0][0] == "ETH" and auth["ledgers"][0][2] == 0.5 + fee
    assert auth["usdLedgers"][0] == [-1500, 8500]


def submit_batch(server: RunningServer, commands: list[Command]) -> list[list[Any]]:
    """Apply ``commands`` in order on the server loop (one journal batch), once durable."""

    async def run() -> list[list[Any]]:
        return list(await asyncio.gather(*(server.ctx.sequencer.submit_nowait(c) for c in commands)))

    return server.run(run())


def trades_in(results: list[list[Any]]) -> int:
    return sum(1 for events in results for e in events if type(e).__name__ == "TradeExecuted")


def test_wsv2_managed_books_with_checksums_and_seq_audit_follow_trades_driven_from_python(
        server: RunningServer) -> None:
    users = funded_users(server)
    btc = RandomFlow(random.Random(5), users, "tBTCUSD", "90000", "10", depth=40)
    eth = RandomFlow(random.Random(6), users, "tETHUSD", "3000", "0.5", depth=40)
    for flow in (btc, eth):  # a book deeper than 25 levels a side before Node subscribes
        first = flow.batch(120)
        flow.remember(first, submit_batch(server, first))

    node = NodeScript("ws_public.js", {"wsUrl": server.ws_url, "restRoot": rest_root(server)})
    try:
        assert node.next()["ready"] is True
        made = 0
        for _ in range(60):  # small batches: venue sends one checksum per batch that changed a book
            for flow in (btc, eth):
                commands = flow.batch(8)
                results = submit_batch(server, commands)
                flow.remember(commands, results)
                if flow is btc:
                    made += trades_in(results)
        assert made > 20
        node.send({"trades": made})
    except BaseException:
        node.kill()
        raise
    out = node.result()

    assert out["errors"] == []
    counts = out["counts"]
    assert counts["te"] == made and counts["tu"] == made
    assert counts["cs"]["P0"] > 40 and counts["cs"]["R0"] > 40
    assert counts["book"]["P0"] > 100 and counts["book"]["R0"] > 100
    assert out["lastPubSeq"] > 500
    assert len(out["p0"]) == 50 and len(out["r0"]) == 50  # still deeper than 25 a side


def test_wsv2_auth_submit_update_fill_cancel_notifications_and_dead_man_switch(server: RunningServer) -> None:
    alice = creds(server, {"USD": "10000"})
    bob = creds(server, {"ETH": "10"})
    out = run_node("ws_auth.js", {"wsUrl": server.ws_url, "restRoot": rest_root(server), "alice": alice, "bob": bob})

    assert out["alice"] == {"on": 1, "ou": 2, "oc": 1, "te": 1, "tu": 1,
                            "n": ["on-req", "ou-req", "oc-req", "on-req"]}
    assert out["refused"].startswith("ERROR: ")
