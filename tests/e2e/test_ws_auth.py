"""The authenticated WebSocket with the official ``bitfinex-api-py`` client (spec §8, clients.md §4).

A real server on an ephemeral port; bfxapi connects to ``/ws/2`` exactly as it would to
Bitfinex, authenticates, places, updates and cancels orders with ``bfx.wss.inputs`` and gets
the account stream (``n``, ``on``/``ou``/``oc``, ``te``/``tu``, ``wu``) through its own parsers,
which assert the array lengths the real exchange uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any, Callable

import aiohttp
import pytest
import websockets
from bfxapi import Client
from bfxapi.exceptions import InvalidCredentialError

from tests.e2e.conftest import RunningServer

EVENTS = (
    "authenticated",
    "order_snapshot",
    "wallet_snapshot",
    "position_snapshot",
    "order_new",
    "order_update",
    "order_cancel",
    "trade_execution",
    "trade_execution_update",
    "wallet_update",
    "balance_update",
    "base_margin_info",
    "symbol_margin_info",
    "funding_info_update",
    "notification",
    "on-req-notification",
    "ou-req-notification",
    "oc-req-notification",
    "fon-req-notification",
    "foc-req-notification",
)

TIMEOUT = 10.0


class Recorder:
    """Starts a bfxapi WebSocket client and records every account event it emits, in order."""

    def __init__(self, server: RunningServer, key: str, secret: str, **options: Any) -> None:
        self.bfx = Client(wss_host=server.ws_url, api_key=key, api_secret=secret, **options)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        for name in EVENTS:
            self.bfx.wss.on(name, self._recorder(name))
        self.task: asyncio.Task[None] | None = None

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            self.events.append((name, args[0] if args else None))
            self._changed.set()

        return record

    async def start(self) -> "Recorder":
        self.task = asyncio.create_task(self.bfx.wss.start())
        await self.wait_for(lambda: self.names().count("wallet_snapshot") == 1)
        return self

    async def close(self) -> None:
        if self.bfx.wss.open:
            await self.bfx.wss.close()
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, TIMEOUT)
            except Exception:
                pass

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            if self.task is not None and self.task.done():
                self.task.result()  # raise what the client raised
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; events so far: {self.names()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def after(self, start: int) -> list[str]:
        return self.names()[start:]


@pytest.fixture
def alice(server: RunningServer) -> tuple[int, str, str]:
    return server.create_account("alice", {"USD": "100000", "BTC": "5"})


@pytest.fixture
def bob(server: RunningServer) -> tuple[int, str, str]:
    return server.create_account("bob", {"USD": "100000", "BTC": "5"})


async def test_bfxapi_authenticates_and_gets_the_snapshots(server: RunningServer, alice: tuple[int, str, str]) -> None:
    user_id, key, secret = alice
    client = await Recorder(server, key, secret).start()
    try:
        (reply,) = [data for name, data in client.events if name == "authenticated"]
        assert reply["status"] == "OK" and reply["chanId"] == 0 and reply["userId"] == user_id
        assert reply["caps"]["orders"] == {"read": 1, "write": 1}
        assert client.names()[:4] == ["authenticated", "position_snapshot", "wallet_snapshot", "order_snapshot"]
        wallets = {(w.wallet_type, w.currency): w.balance for w in client.events[2][1]}
        assert wallets[("exchange", "USD")] == 100000 and wallets[("exchange", "BTC")] == 5
    finally:
        await client.close()


async def test_bfxapi_with_a_wrong_secret_gets_invalid_credentials(server: RunningServer, alice: tuple[int, str, str]) -> None:
    _, key, _ = alice
    client = Recorder(server, key, "not-the-secret")
    with pytest.raises(InvalidCredentialError):
        await asyncio.wait_for(client.bfx.wss.start(), TIMEOUT)


async def test_order_placed_updated_and_canceled_over_ws(server: RunningServer, alice: tuple[int, str, str]) -> None:
    _, key, secret = alice
    client = await Recorder(server, key, secret).start()
    try:
        start = len(client.events)
        await client.bfx.wss.inputs.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.5", "20000", cid=4242)
        await client.wait_for(lambda: "wallet_update" in client.after(start))
        assert client.after(start) == ["on-req-notification", "order_new", "wallet_update"]
        assert client.events[start + 2][1].available_balance == 100000 - 0.5 * 20000  # the hold
        note = client.events[start][1]
        assert note.status == "SUCCESS" and note.data.cid == 4242 and note.data.symbol == "tBTCUSD"
        order = client.events[start + 1][1]
        assert order.amount == 0.5 and order.price == 20000 and order.order_status == "ACTIVE"

        start = len(client.events)
        await client.bfx.wss.inputs.update_order(order.id, price="21000")
        await client.wait_for(lambda: "wallet_update" in client.after(start))
        assert client.after(start) == ["ou-req-notification", "order_update", "wallet_update"]
        assert client.events[start + 2][1].available_balance == 100000 - 0.5 * 21000
        assert client.events[start + 1][1].price == 21000

        start = len(client.events)
        await client.bfx.wss.inputs.cancel_order(id=order.id)
        await client.wait_for(lambda: "wallet_update" in client.after(start))
        assert client.after(start) == ["oc-req-notification", "order_cancel", "wallet_update"]
        assert client.events[start + 2][1].available_balance == 100000
        assert client.events[start][1].data.id == order.id
        assert client.events[start + 1][1].order_status == "CANCELED"
    finally:
        await client.close()


async def test_every_bfxapi_cancel_form_and_the_funding_inputs_get_their_answers(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    _, key, secret = alice
    client = await Recorder(server, key, secret).start()
    inputs = client.bfx.wss.inputs
    today = time.strftime("%Y-%m-%d", time.gmtime())

    async def place(cid: int, gid: int | None = None) -> int:
        start = len(client.events)
        await inputs.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.1", "20000", cid=cid, gid=gid)
        await client.wait_for(lambda: "order_new" in client.after(start))
        return [d for n, d in client.events[start:] if n == "order_new"][0].id

    async def cancelled_by(call: Any) -> tuple[list[str], list[Any]]:
        start = len(client.events)
        await call
        await client.wait_for(lambda: "wallet_update" in client.after(start))
        events = client.events[start:]
        return [n for n, _ in events], [d for _, d in events]

    try:
        order_id = await place(cid=101)
        names, data = await cancelled_by(inputs.cancel_order(cid=101, cid_date=today))
        assert names == ["oc-req-notification", "order_cancel", "wallet_update"] and data[0].data.id == order_id
        for form in ({"id": [await place(cid=102)]}, {"cid": [(103, today)]}, {"gid": [7]}, {"all": True}):
            if "cid" in form:
                await place(cid=103)
            if "gid" in form:
                await place(cid=104, gid=7)
            if "all" in form:
                await place(cid=105)
            names, data = await cancelled_by(inputs.cancel_order_multi(**form))
            assert names == ["notification", "order_cancel", "wallet_update"], form
            assert data[0].type == "oc_multi-req" and data[0].status == "SUCCESS" and len(data[0].data) == 1
        # no funding market on venue: refused with a parseable 21-field offer, nothing else
        start = len(client.events)
        await inputs.submit_funding_offer("LIMIT", "fUSD", "100", "0.0002", 2)
        await inputs.cancel_funding_offer(1)
        await client.wait_for(lambda: "foc-req-notification" in client.after(start))
        assert client.after(start) == ["fon-req-notification", "foc-req-notification"]
        assert all(d.status == "ERROR" for _, d in client.events[start:])
    finally:
        await client.close()


async def test_refused_order_gets_an_error_notification_with_a_full_order(server: RunningServer, alice: tuple[int, str, str]) -> None:
    _, key, secret = alice
    client = await Recorder(server, key, secret).start()
    try:
        start = len(client.events)
        await client.bfx.wss.inputs.submit_order("EXCHANGE LIMIT", "tBTCUSD", "1000", "20000", cid=7)
        await client.wait_for(lambda: "on-req-notification" in client.after(start))
        note = client.events[start][1]
        assert note.status == "ERROR" and "balance" in note.text
        assert note.data.cid == 7 and note.data.symbol == "tBTCUSD" and note.data.amount == 1000
    finally:
        await client.close()


async def test_a_fill_reaches_both_accounts_with_te_order_wu_then_tu(
    server: RunningServer, alice: tuple[int, str, str], bob: tuple[int, str, str]
) -> None:
    maker = await Recorder(server, alice[1], alice[2]).start()
    taker = await Recorder(server, bob[1], bob[2]).start()
    try:
        await maker.bfx.wss.inputs.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.5", "20000", cid=1)
        await maker.wait_for(lambda: "order_new" in maker.names())
        m_start, t_start = len(maker.events), len(taker.events)
        await taker.bfx.wss.inputs.submit_order("EXCHANGE LIMIT", "tBTCUSD", "-0.5", "20000", cid=2)
        await taker.wait_for(lambda: "trade_execution_update" in taker.after(t_start))
        await maker.wait_for(lambda: "trade_execution_update" in maker.after(m_start))

        def account_frames(names: list[str]) -> list[str]:
            return [n for n in names if n not in ("balance_update",)]

        assert account_frames(maker.after(m_start)) == [
            "trade_execution",
            "order_cancel",
            "wallet_update",
            "wallet_update",
            "trade_execution_update",
        ]
        taker_names = account_frames(taker.after(t_start))
        assert taker_names[0] == "on-req-notification"
        assert taker_names.index("trade_execution") < taker_names.index("order_cancel")
        assert taker_names.index("order_cancel") < taker_names.index("wallet_update")
        assert taker_names[-1] == "trade_execution_update"

        te = [d for n, d in maker.events[m_start:] if n == "trade_execution"][0]
        tu = [d for n, d in maker.events[m_start:] if n == "trade_execution_update"][0]
        assert te.id == tu.id and te.maker == 1 and te.fee is None
        assert tu.fee < 0 and tu.fee_currency == "BTC" and tu.exec_amount == 0.5
        closed = [d for n, d in maker.events[m_start:] if n == "order_cancel"][0]
        assert closed.order_status.startswith("EXECUTED @ 20000.0(0.5)")
        taker_tu = [d for n, d in taker.events[t_start:] if n == "trade_execution_update"][0]
        assert taker_tu.maker == -1 and taker_tu.fee_currency == "USD"
    finally:
        await maker.close()
        await taker.close()


async def test_post_only_order_that_would_take_is_canceled(
    server: RunningServer, alice: tuple[int, str, str], bob: tuple[int, str, str]
) -> None:
    maker = await Recorder(server, alice[1], alice[2]).start()
    taker = await Recorder(server, bob[1], bob[2]).start()
    try:
        await maker.bfx.wss.inputs.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.5", "20000")
        await maker.wait_for(lambda: "order_new" in maker.names())
        start = len(taker.events)
        await taker.bfx.wss.inputs.submit_order("EXCHANGE LIMIT", "tBTCUSD", "-0.5", "20000", flags=4096)
        await taker.wait_for(lambda: "order_cancel" in taker.after(start))
        note = taker.events[start][1]
        assert taker.after(start)[0] == "on-req-notification" and note.status == "SUCCESS"
        closed = [d for n, d in taker.events[start:] if n == "order_cancel"][0]
        assert closed.order_status.startswith("POSTONLY CANCELED")
    finally:
        await maker.close()
        await taker.close()


# -- raw frames (what bfxapi cannot send) --------------------------------------------------------


def auth_frame(key: str, secret: str, **extra: Any) -> str:
    nonce = int(time.time() * 1_000_000)
    payload = f"AUTH{nonce}"
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha384).hexdigest()
    return json.dumps(
        {"event": "auth", "apiKey": key, "authSig": signature, "authNonce": nonce, "authPayload": payload, **extra}
    )


async def read_until(ws: Any, predicate: Callable[[Any], bool]) -> list[Any]:
    seen = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        seen.append(message)
        if predicate(message):
            return seen


async def test_dead_man_switch_cancels_the_orders_when_the_socket_closes(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    user_id, key, secret = alice
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(auth_frame(key, secret, dms=4, apiSecret=secret))
        replies = await read_until(ws, lambda m: isinstance(m, list) and m[1] == "fls")
        assert secret not in json.dumps(replies)
        order = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.1", "price": "20000"}
        await ws.send(json.dumps([0, "on", None, order]))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "on")
        assert len(server.ctx.exchange.open_orders(user_id)) == 1
    deadline = time.monotonic() + TIMEOUT
    while server.ctx.exchange.open_orders(user_id) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert server.ctx.exchange.open_orders(user_id) == []


async def test_without_dms_orders_stay_after_the_socket_closes(server: RunningServer, alice: tuple[int, str, str]) -> None:
    user_id, key, secret = alice
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(auth_frame(key, secret))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "fls")
        order = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.1", "price": "20000"}
        await ws.send(json.dumps([0, "on", None, order]))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "on")
    await asyncio.sleep(0.2)
    assert len(server.ctx.exchange.open_orders(user_id)) == 1


async def test_inputs_before_auth_and_a_second_auth_are_errors(server: RunningServer, alice: tuple[int, str, str]) -> None:
    _, key, secret = alice
    async with websockets.connect(server.ws_url) as ws:
        await read_until(ws, lambda m: isinstance(m, dict) and m.get("event") == "info")
        await ws.send(json.dumps([0, "oc", None, {"id": 1}]))
        (error,) = await read_until(ws, lambda m: True)
        assert error == {"event": "error", "msg": "auth: invalid", "code": 10100}
        await ws.send(auth_frame(key, secret))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "fls")
        await ws.send(auth_frame(key, secret))
        (dup,) = await read_until(ws, lambda m: True)
        assert dup == {"event": "error", "msg": "auth: dup", "code": 10100}


async def test_seq_all_numbers_channel_0_with_pub_and_auth_sequences(server: RunningServer, alice: tuple[int, str, str]) -> None:
    _, key, secret = alice
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(json.dumps({"event": "conf", "flags": 65536}))
        await read_until(ws, lambda m: isinstance(m, dict) and m.get("event") == "conf")
        await ws.send(auth_frame(key, secret))
        snapshots = await read_until(ws, lambda m: isinstance(m, list) and m[1] == "fls")
        frames = [m for m in snapshots if isinstance(m, list)]
        assert [f[-1] for f in frames] == [1, 2, 3, 4, 5, 6]  # AUTH_SEQ
        assert [f[-2] for f in frames] == [1, 2, 3, 4, 5, 6]  # PUB_SEQ
        order = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.1", "price": "20000"}
        await ws.send(json.dumps([0, "on", None, order]))
        got = await read_until(ws, lambda m: isinstance(m, list) and m[1] == "on")
        note = [m for m in got if m[1] == "n"][0]
        on = got[-1]
        assert note[-1] == 6 and len(note) == 4  # *-req: only AUTH_SEQ, not advanced
        assert on[-2:] == [7, 7]


async def test_calc_balance_is_answered_with_balance_update(server: RunningServer, alice: tuple[int, str, str]) -> None:
    _, key, secret = alice
    client = await Recorder(server, key, secret).start()
    try:
        start = len(client.events)
        await client.bfx.wss.inputs.calc("balance", "wallet_exchange_USD")
        await client.wait_for(lambda: "wallet_update" in client.after(start))
        assert client.after(start) == ["balance_update", "wallet_update"]  # in the order asked
        balance = client.events[start][1]
        assert balance.aum == balance.aum_net == 100000 + 5 * 90000  # BTC at its reference price
    finally:
        await client.close()


async def test_calc_margin_and_funding_items_reach_bfxapis_margin_and_funding_info(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    _, key, secret = alice
    client = await Recorder(server, key, secret).start()
    try:
        start = len(client.events)
        await client.bfx.wss.inputs.calc("margin_base", "margin_sym_tBTCUSD", "funding_sym_fUSD")
        await client.wait_for(lambda: "funding_info_update" in client.after(start))
        assert client.after(start) == ["base_margin_info", "symbol_margin_info", "funding_info_update"]
        margin, funding = client.events[start + 1][1], client.events[start + 2][1]
        assert margin.symbol == "tBTCUSD" and margin.tradable_balance == 0
        assert funding.symbol == "fUSD" and funding.yield_lend == 0
    finally:
        await client.close()


async def test_filter_without_trading_still_answers_requests_but_sends_no_orders(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    _, key, secret = alice
    client = await Recorder(server, key, secret, filters=["wallet"]).start()
    try:
        assert [len(d) for n, d in client.events if n == "order_snapshot"] == [0]
        start = len(client.events)
        await client.bfx.wss.inputs.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.5", "20000", cid=9)
        await client.wait_for(lambda: "wallet_update" in client.after(start))
        assert client.after(start) == ["on-req-notification", "wallet_update"]
    finally:
        await client.close()


async def test_user_notification_reaches_the_users_other_connection(server: RunningServer, alice: tuple[int, str, str]) -> None:
    _, key, secret = alice
    sender = await Recorder(server, key, secret).start()
    receiver = await Recorder(server, key, secret).start()
    try:
        await sender.bfx.wss.notify({"message": "hello"}, message_id=5)
        await receiver.wait_for(lambda: "notification" in receiver.names())
        note = [d for n, d in receiver.events if n == "notification"][0]
        assert note.type == "ucm-test" and note.message_id == 5 and note.data == {"message": "hello"}
        await asyncio.sleep(0.2)
        assert "notification" not in sender.names()
    finally:
        await sender.close()
        await receiver.close()


async def test_rest_and_ws_auth_of_one_key_share_the_nonce_counter(server: RunningServer, alice: tuple[int, str, str]) -> None:
    _, key, secret = alice
    nonce = str(int(time.time() * 1_000_000) + 10_000_000)  # ahead of what the WS frame will use
    signature = hmac.new(secret.encode(), f"/api/v2/auth/r/wallets{nonce}".encode(), hashlib.sha384).hexdigest()
    headers = {"bfx-nonce": nonce, "bfx-apikey": key, "bfx-signature": signature, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.rest_url}/auth/r/wallets", headers=headers) as response:
            assert response.status == 200
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(auth_frame(key, secret))
        replies = await read_until(ws, lambda m: isinstance(m, dict) and m.get("event") == "auth")
        assert replies[-1] == {"event": "auth", "status": "FAILED", "chanId": 0, "code": 10114, "msg": "nonce: small"}


async def test_seq_all_user_notifications_advance_pub_seq_but_not_auth_seq(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    _, key, secret = alice
    async with websockets.connect(server.ws_url) as receiver, websockets.connect(server.ws_url) as sender:
        await receiver.send(json.dumps({"event": "conf", "flags": 65536}))
        await receiver.send(auth_frame(key, secret))
        snapshots = [m for m in await read_until(receiver, lambda m: isinstance(m, list) and m[1] == "fls")]
        assert snapshots[-1][-2:] == [6, 6]
        await sender.send(auth_frame(key, secret))
        await read_until(sender, lambda m: isinstance(m, list) and m[1] == "fls")
        await sender.send(json.dumps([0, "n", None, {"type": "ucm-test", "info": {"a": 1}}]))
        (note,) = await read_until(receiver, lambda m: isinstance(m, list) and m[1] == "n")
        assert note[2][1] == "ucm-test" and note[-2:] == [7, 6]


async def test_revoking_a_key_closes_the_sockets_it_authenticated_and_only_those(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    from venue.core.commands import RevokeApiKey
    from venue.gateway import admin

    user_id, key, secret = alice
    other_key, other_secret = admin.new_api_credentials()
    await asyncio.to_thread(server.submit, admin.CreateApiKey(user_id, other_key, other_secret, admin.ALL_PERMISSIONS))
    async with websockets.connect(server.ws_url) as revoked, websockets.connect(server.ws_url) as kept:
        await revoked.send(auth_frame(key, secret))
        await read_until(revoked, lambda m: isinstance(m, list) and m[1] == "fls")
        await kept.send(auth_frame(other_key, other_secret))
        await read_until(kept, lambda m: isinstance(m, list) and m[1] == "fls")
        await asyncio.to_thread(server.submit, RevokeApiKey(key))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(revoked.recv(), TIMEOUT)
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "apikey: revoked")
        await kept.send(json.dumps({"event": "ping", "cid": 7}))
        pong = await read_until(kept, lambda m: isinstance(m, dict) and m.get("event") == "pong")
        assert pong[-1]["cid"] == 7


async def test_an_input_the_journal_cannot_record_is_answered_with_an_error_notification(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    # Errors are answers (design.md): when the sequencer cannot make a command durable the WS
    # client still gets its *-req ERROR notification (11000 "journal: unavailable", as REST
    # answers), instead of waiting forever; the connection stays open.
    from venue.gateway.sequencer import SequencerStopped

    user_id, key, secret = alice

    async def failing_submit(command: Any) -> Any:
        raise SequencerStopped("journal cannot write: disk full")

    async with websockets.connect(server.ws_url) as ws:
        await ws.send(auth_frame(key, secret))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "fls")
        server.ctx.sequencer.submit = failing_submit  # type: ignore[method-assign]
        try:
            order = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.1", "price": "20000", "cid": 99}
            await ws.send(json.dumps([0, "on", None, order]))
            (note,) = await read_until(ws, lambda m: True)
            assert note[:2] == [0, "n"]
            assert note[2][1] == "on-req" and note[2][6:] == ["ERROR", "journal: unavailable"]
            assert note[2][4][2] == 99 and len(note[2][4]) == 32
            await ws.send(json.dumps([0, "oc", None, {"id": 5}]))
            (note,) = await read_until(ws, lambda m: True)
            assert note[2][1] == "oc-req" and note[2][4][0] == 5 and note[2][6] == "ERROR"
        finally:
            del server.ctx.sequencer.submit
        await ws.send(json.dumps({"event": "ping", "cid": 1}))
        (pong,) = await read_until(ws, lambda m: True)
        assert pong["event"] == "pong"
    assert server.ctx.exchange.open_orders(user_id) == []


async def test_an_order_the_stopped_sequencer_refuses_is_answered_with_an_error_notification(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    # Same answer on the gateway's direct path (``Sequencer.submit_detached``): a sequencer
    # stopped by a journal failure refuses synchronously, and the input still gets its
    # on-req ERROR notification.
    user_id, key, secret = alice
    sequencer = server.ctx.sequencer
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(auth_frame(key, secret))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "fls")
        sequencer._failed = OSError("disk full")  # what _on_journal_failure records
        try:
            order = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.1", "price": "20000", "cid": 98}
            await ws.send(json.dumps([0, "on", None, order]))
            (note,) = await read_until(ws, lambda m: True)
            assert note[2][1] == "on-req" and note[2][6:] == ["ERROR", "journal: unavailable"]
            assert note[2][4][2] == 98
        finally:
            sequencer._failed = None
    assert server.ctx.exchange.open_orders(user_id) == []


async def test_unauth_stops_the_account_stream_on_a_live_connection(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    user_id, key, secret = alice
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(auth_frame(key, secret, dms=4))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "fls")
        order = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.1", "price": "20000"}
        await ws.send(json.dumps([0, "on", None, order]))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "on")
        await ws.send(json.dumps({"event": "unauth"}))
        replies = await read_until(ws, lambda m: isinstance(m, dict) and m.get("event") == "unauth")
        assert replies[-1] == {"event": "unauth", "status": "OK", "chanId": 0}
        # the account's events no longer reach this connection
        from venue.core.commands import CancelAllOrders

        await asyncio.to_thread(server.submit, CancelAllOrders(user_id=user_id))
        await ws.send(json.dumps({"event": "ping", "cid": 3}))
        (pong,) = await read_until(ws, lambda m: True)
        assert isinstance(pong, dict) and pong["event"] == "pong"  # no oc frame before it
        await ws.send(json.dumps([0, "on", None, order]))
        (error,) = await read_until(ws, lambda m: True)
        assert error == {"event": "error", "msg": "auth: invalid", "code": 10100}
        # authenticating again gives a fresh channel 0 (dms not asked this time)
        await ws.send(auth_frame(key, secret))
        frames = await read_until(ws, lambda m: isinstance(m, list) and m[1] == "fls")
        assert frames[0]["status"] == "OK"
        assert [m for m in frames if isinstance(m, list) and m[1] == "os"] == [[0, "os", []]]
        await ws.send(json.dumps([0, "on", None, order]))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "on")
    await asyncio.sleep(0.2)
    assert len(server.ctx.exchange.open_orders(user_id)) == 1  # the first dms went with the unauth


class NodeSeqAudit:
    """bitfinex-api-node's ``WSv2._validateMessageSeq`` (``seqAudit: true``), re-stated: the
    rules a SEQ_ALL connection must satisfy (spec §7.6). ``check`` returns an error text or None."""

    def __init__(self) -> None:
        self.last_pub = -1
        self.last_auth = -1

    def check(self, msg: Any) -> str | None:
        if not isinstance(msg, list) or not msg:
            return None
        chan0 = msg[0] == 0 and msg[1] != "hb"
        auth_seq = msg[-1] if chan0 else None
        body = msg[2] if len(msg) > 2 and isinstance(msg[2], list) else []
        is_req = msg[1] == "n" and len(body) > 1 and str(body[1]).endswith("-req")
        if not is_req:
            seq = msg[-2] if chan0 else msg[-1]
            if not isinstance(seq, int):
                return None
            if self.last_pub != -1 and seq != self.last_pub + 1:
                return f"invalid pub seq #; last {self.last_pub}, got {seq}"
            self.last_pub = seq
        if not isinstance(auth_seq, int) or auth_seq == 0:
            return None
        if msg[1] == "n":
            return None if auth_seq == self.last_auth else f"auth seq advanced on a notification: {msg}"
        if auth_seq == self.last_auth:
            return f"expected auth seq # advancement but got same seq: {auth_seq}"
        if self.last_auth != -1 and auth_seq != self.last_auth + 1:
            return f"invalid auth seq #; last {self.last_auth}, got {auth_seq}"
        self.last_auth = auth_seq
        return None


async def test_a_seq_all_session_passes_nodes_seq_audit_frame_by_frame(
    server: RunningServer, alice: tuple[int, str, str], bob: tuple[int, str, str]
) -> None:
    _, key, secret = alice
    audit, frames = NodeSeqAudit(), []

    async def read(ws: Any, predicate: Callable[[Any], bool]) -> list[Any]:
        got = await read_until(ws, predicate)
        for message in got:
            error = audit.check(message)
            assert error is None, (error, frames[-5:], message)
            frames.append(message)
        return got

    async with websockets.connect(server.ws_url) as ws, websockets.connect(server.ws_url) as other:
        await ws.send(json.dumps({"event": "conf", "flags": 65536}))
        await read(ws, lambda m: isinstance(m, dict) and m.get("event") == "conf")
        await ws.send(json.dumps({"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"}))
        await read(ws, lambda m: isinstance(m, list) and m[0] != 0)  # the trades snapshot
        await ws.send(auth_frame(key, secret))
        await read(ws, lambda m: isinstance(m, list) and m[1] == "fls")
        order = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.5", "price": "20000", "cid": 1}
        await ws.send(json.dumps([0, "on", None, order]))
        await read(ws, lambda m: isinstance(m, list) and m[1] == "on")
        await ws.send(json.dumps([0, "on", None, {**order, "amount": "1000"}]))  # refused: ERROR n
        await read(ws, lambda m: isinstance(m, list) and m[1] == "n")
        await ws.send(json.dumps([0, "oc", None, {"id": 424242}]))  # unknown order: ERROR n
        await read(ws, lambda m: isinstance(m, list) and m[1] == "n")
        # a fill caused by another account: account frames and public trades interleave
        await other.send(auth_frame(bob[1], bob[2]))
        await read_until(other, lambda m: isinstance(m, list) and m[1] == "fls")
        await other.send(json.dumps([0, "on", None, {**order, "amount": "-0.2", "cid": 2}]))
        await read(ws, lambda m: isinstance(m, list) and m[0] == 0 and m[1] == "tu")
        await ws.send(json.dumps([0, "ox_multi", None, [["oc", {"id": 1}], ["oc", {"id": 999}]]]))
        await read(ws, lambda m: isinstance(m, list) and m[1] == "n" and m[2][1] == "oc-req" and m[2][6] == "ERROR")
        other_alice = await websockets.connect(server.ws_url)
        try:
            await other_alice.send(auth_frame(key, secret))
            await read_until(other_alice, lambda m: isinstance(m, list) and m[1] == "fls")
            await other_alice.send(json.dumps([0, "n", None, {"type": "ucm-test", "info": {}}]))
            await read(ws, lambda m: isinstance(m, list) and m[1] == "n" and m[2][1] == "ucm-test")
        finally:
            await other_alice.close()
        await ws.send(json.dumps([0, "calc", None, [["balance"], ["wallet_exchange_USD"]]]))
        await read(ws, lambda m: isinstance(m, list) and m[1] == "wu" and m[2][1] == "USD" and m[2][5] is None)
    kinds = {m[1] if m[0] == 0 else "public" for m in frames if isinstance(m, list)}
    assert {"public", "on", "te", "tu", "wu", "oc", "n"} <= kinds
