"""Nothing a reply shows can be lost: authenticated reads wait for the durability of what they read.

The core applies a command before its journal batch is durable (group commit), so a read of the
core (wallets, open orders, the WebSocket auth snapshots) may see a command that a crash would
still take back. The journal writer is held here, a command is applied but not durable, and the
API is asked: an answer that shows it must not leave before it is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.conftest import RunningServer
from tests.e2e.test_auth_rest import Signed
from tests.e2e.test_ws_auth import auth_frame
from venue.config import load_settings
from venue.core.commands import Deposit, SubmitOrder
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderType


def _hold_the_journal_writer(server: RunningServer) -> threading.Event:
    """Make the journal's next batches wait until the returned event is set."""
    journal = server.ctx.sequencer.journal
    original = journal._write
    gate = threading.Event()

    def held_write(batch: Any) -> None:
        gate.wait(10)
        original(batch)

    journal._write = held_write
    return gate


def _ask_in_background(signed: Signed, path: str, gate: threading.Event) -> tuple[threading.Thread, dict[str, Any]]:
    seen: dict[str, Any] = {}

    def ask() -> None:
        status, answer = signed.post(path, {})
        seen["released_before_answer"] = gate.is_set()
        seen["status"], seen["answer"] = status, answer

    thread = threading.Thread(target=ask)
    thread.start()
    return thread, seen


def test_a_wallet_read_does_not_show_a_deposit_before_it_is_durable(tmp_path: Path) -> None:
    settings = replace(load_settings(data_dir=tmp_path, port=0), rate_limits=False, durability="full")
    server = RunningServer(settings)
    try:
        user_id, key, secret = server.create_account("reader", {"USD": "10000"})
        signed = Signed(server, key, secret)
        gate = _hold_the_journal_writer(server)

        async def deposit_not_awaited() -> Any:
            return server.ctx.sequencer.submit_nowait(Deposit(user_id, "USD", parse_amount("5000")))

        pending = server.run(deposit_not_awaited())
        assert server.ctx.exchange.wallets(user_id)[0].balance == parse_amount("15000")  # applied
        thread, seen = _ask_in_background(signed, "auth/r/wallets", gate)
        thread.join(0.5)
        gate.set()
        thread.join(10)
        assert seen["status"] == 200, seen
        balances = {(row[0], row[1]): row[2] for row in seen["answer"]}
        if balances[("exchange", "USD")] == 15000:
            assert seen["released_before_answer"], "the answer showed a deposit that was not durable yet"
        else:
            assert balances[("exchange", "USD")] == 10000
        server.run(_await(pending))
    finally:
        server.close()


def test_an_open_orders_read_does_not_list_an_order_before_it_is_durable(tmp_path: Path) -> None:
    settings = replace(load_settings(data_dir=tmp_path, port=0), rate_limits=False, durability="full")
    server = RunningServer(settings)
    try:
        user_id, key, secret = server.create_account("reader", {"USD": "10000"})
        signed = Signed(server, key, secret)
        gate = _hold_the_journal_writer(server)
        order = SubmitOrder(user_id, "tBTCUSD", OrderType.EXCHANGE_LIMIT, parse_amount("0.01"), parse_price("1000"))

        async def submit_not_awaited() -> Any:
            return server.ctx.sequencer.submit_nowait(order)

        pending = server.run(submit_not_awaited())
        assert server.ctx.exchange.open_orders(user_id)  # applied, resting
        thread, seen = _ask_in_background(signed, "auth/r/orders", gate)
        thread.join(0.5)
        gate.set()
        thread.join(10)
        assert seen["status"] == 200, seen
        if seen["answer"]:
            assert seen["released_before_answer"], "the answer listed an order that was not durable yet"
        server.run(_await(pending))
    finally:
        server.close()


async def _await(future: Any) -> Any:
    return await asyncio.wait_for(future, 10)


def test_a_ws_auth_snapshot_shows_only_durable_state_and_nothing_twice(tmp_path: Path) -> None:
    """The ``ws`` snapshot sent on auth must not show a deposit that is not durable yet; and the
    deposit, once durable, must not come again as a ``wu`` after a snapshot that held it."""
    settings = replace(load_settings(data_dir=tmp_path, port=0), rate_limits=False, durability="full")
    server = RunningServer(settings)
    try:
        user_id, key, secret = server.create_account("reader", {"USD": "10000"})
        gate = _hold_the_journal_writer(server)

        async def deposit_not_awaited() -> Any:
            return server.ctx.sequencer.submit_nowait(Deposit(user_id, "USD", parse_amount("5000")))

        pending = server.run(deposit_not_awaited())

        async def authenticate() -> tuple[bool, list[Any], list[Any]]:
            async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
                await ws.send_str(auth_frame(key, secret))
                while True:
                    frame = json.loads((await ws.receive(timeout=10)).data)
                    if isinstance(frame, list) and frame[1] == "ws":
                        released, snapshot = gate.is_set(), frame[2]
                        break
                later = []
                with contextlib.suppress(asyncio.TimeoutError):
                    while True:
                        later.append(json.loads((await ws.receive(timeout=0.5)).data))
                return released, snapshot, later

        threading.Timer(0.5, gate.set).start()
        released, snapshot, later = asyncio.run(authenticate())
        balance = {(row[0], row[1]): row[2] for row in snapshot}[("exchange", "USD")]
        if balance == 15000:
            assert released, "the auth snapshot showed a deposit that was not durable yet"
            again = [f for f in later if isinstance(f, list) and f[1] == "wu" and f[2][2] == 15000]
            assert not again, f"the deposit came twice: in the snapshot and as {again}"
        else:
            assert balance == 10000
        server.run(_await(pending))
    finally:
        server.close()


def test_a_ws_calc_answer_shows_only_durable_balances(tmp_path: Path) -> None:
    settings = replace(load_settings(data_dir=tmp_path, port=0), rate_limits=False, durability="full")
    server = RunningServer(settings)
    try:
        user_id, key, secret = server.create_account("reader", {"USD": "10000"})

        async def calc_while_a_deposit_is_not_durable() -> tuple[bool, Any]:
            async with aiohttp.ClientSession() as session, session.ws_connect(server.ws_url) as ws:
                await ws.send_str(auth_frame(key, secret))
                while True:  # authenticated, snapshots received
                    frame = json.loads((await ws.receive(timeout=10)).data)
                    if isinstance(frame, list) and frame[1] == "ws":
                        break
                gate = _hold_the_journal_writer(server)

                async def deposit_not_awaited() -> Any:
                    return server.ctx.sequencer.submit_nowait(Deposit(user_id, "USD", parse_amount("5000")))

                pending = await asyncio.wrap_future(
                    asyncio.run_coroutine_threadsafe(deposit_not_awaited(), server.loop)
                )
                threading.Timer(0.5, gate.set).start()
                await ws.send_str(json.dumps([0, "calc", None, [["wallet_exchange_USD"]]]))
                while True:
                    frame = json.loads((await ws.receive(timeout=10)).data)
                    if isinstance(frame, list) and frame[1] == "wu":
                        seen = gate.is_set(), frame[2]
                        break
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_await(pending), server.loop))
                return seen

        released, wallet = asyncio.run(calc_while_a_deposit_is_not_durable())
        if wallet[2] == 15000:
            assert released, "a calc answer showed a deposit that was not durable yet"
        else:
            assert wallet[2] == 10000
    finally:
        server.close()
