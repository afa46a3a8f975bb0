"""Channel 0 driven by a real ``core.Exchange`` (spec §8.2 flows, §8.3 inputs).

No sockets and no sequencer: inputs go into ``AccountStream.receive_input``, the commands it
returns are applied to the exchange with increasing seq/ts, and every stream gets the events,
as the gateway's sequencer listener would hand them over.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from venue.core.commands import Command, CreateApiKey, CreateUser, Deposit, SubmitOrder
from venue.core.exchange import Exchange
from venue.core.numbers import parse_amount
from venue.core.orders import OrderType
from venue.core.symbols import load_registry
from venue.protocol.account_stream import AccountStream, Outgoing
from venue.protocol.auth import NonceTracker, full_permissions, read_only_permissions, sign
from venue.protocol.wire import dumps

TS = 1_750_000_000_000


class Venue:
    """An exchange, a clock and a seq counter; ``apply`` fans events out to every stream."""

    def __init__(self) -> None:
        self.exchange = Exchange(load_registry())
        self.nonces = NonceTracker()
        self.seq = 0
        self.ts = TS
        self.streams: list[AccountStream] = []
        self.received: dict[int, list[Outgoing]] = {}

    def apply(self, command: Command) -> list[Any]:
        self.seq += 1
        self.ts += 1
        events = self.exchange.apply(command, seq=self.seq, ts=self.ts)
        for stream in self.streams:
            self.received.setdefault(id(stream), []).extend(stream.frames_for(self.seq, self.ts, events))
        return events

    def account(self, name: str, *, read_only: bool = False) -> tuple[int, str, str]:
        (created,) = [e for e in self.apply(CreateUser(name)) if type(e).__name__ == "UserCreated"]
        user_id = created.user_id
        key, secret = f"key-{name}", f"secret-{name}"
        permissions = read_only_permissions() if read_only else full_permissions()
        self.apply(CreateApiKey(user_id, key, secret, permissions))
        self.apply(Deposit(user_id, "USD", parse_amount("100000")))
        self.apply(Deposit(user_id, "BTC", parse_amount("5")))
        return user_id, key, secret

    def connect(self, key: str, secret: str, **extra: Any) -> AccountStream:
        stream = AccountStream(reader=self.exchange, nonces=self.nonces, now_ms=lambda: self.ts)
        self.ts += 1
        payload = f"AUTH{self.ts}"
        out = stream.receive_auth(
            {"event": "auth", "apiKey": key, "authSig": sign(secret, payload.encode()), "authNonce": self.ts, "authPayload": payload, **extra}
        )
        assert orjson.loads(dumps(out[0].message))["status"] == "OK"
        self.streams.append(stream)
        self.received[id(stream)] = []
        return stream

    def send(self, stream: AccountStream, frame: list[Any]) -> list[Outgoing]:
        """Feed one input; immediate frames go to the stream's inbox, commands to the exchange."""
        result = stream.receive_input(frame)
        self.received[id(stream)].extend(result.frames)
        for command in result.commands:
            self.apply(command)
        return result.frames

    def take(self, stream: AccountStream) -> list[Any]:
        """Everything the stream sent since the last call, as the client would parse it."""
        frames = [orjson.loads(dumps(o.message)) for o in self.received[id(stream)]]
        self.received[id(stream)] = []
        return frames


def names(frames: list[Any]) -> list[str]:
    return [f"n:{f[2][1]}:{f[2][6]}" if f[1] == "n" else f[1] for f in frames]


def on(amount: str, price: str, **extra: Any) -> list[Any]:
    return [0, "on", None, {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": amount, "price": price, **extra}]


@pytest.fixture
def venue() -> Venue:
    return Venue()


def test_snapshot_shows_real_wallets_and_open_orders(venue: Venue) -> None:
    alice, key, secret = venue.account("alice")
    venue.apply(SubmitOrder(alice, "tBTCUSD", OrderType.EXCHANGE_LIMIT, parse_amount("1"), parse_amount("20000")))
    stream = AccountStream(reader=venue.exchange, nonces=venue.nonces, now_ms=lambda: venue.ts)
    payload = "AUTH1"
    out = [orjson.loads(dumps(o.message)) for o in stream.receive_auth(
        {"event": "auth", "apiKey": key, "authSig": sign(secret, payload.encode()), "authNonce": 1, "authPayload": payload}
    )]
    assert [f[1] for f in out[1:]] == ["ps", "ws", "os", "fos", "fcs", "fls"]
    assert ["exchange", "USD", 100000, 0, 80000, None, None] in out[2][2]
    assert [o[6] for o in out[3][2]] == [1]


def test_new_order_flow_is_n_on_req_then_on_then_the_hold(venue: Venue) -> None:
    _, key, secret = venue.account("alice")
    stream = venue.connect(key, secret)
    venue.send(stream, on("0.5", "20000", cid=99))
    frames = venue.take(stream)
    assert names(frames)[:3] == ["n:on-req:SUCCESS", "on", "wu"]
    assert frames[0][2][4][2] == 99 and frames[1][2][13] == "ACTIVE"
    assert frames[2][2][:5] == ["exchange", "USD", 100000, 0, 90000]


def test_fill_across_accounts_reaches_both_streams_in_bitfinex_order(venue: Venue) -> None:
    _, key_a, secret_a = venue.account("alice")
    _, key_b, secret_b = venue.account("bob")
    alice, bob = venue.connect(key_a, secret_a), venue.connect(key_b, secret_b)
    venue.send(alice, on("0.5", "20000", cid=1))
    venue.take(alice)
    venue.send(bob, on("-0.2", "20000", cid=2))
    assert names(venue.take(alice)) == ["te", "ou", "wu", "wu", "tu", "bu"]
    bob_frames = venue.take(bob)
    assert names(bob_frames) == ["n:on-req:SUCCESS", "on", "te", "oc", "wu", "wu", "tu", "bu"]
    te, tu = bob_frames[2][2], bob_frames[6][2]
    assert te[0] == tu[0] and te[8] == -1 and te[9:11] == [None, None]
    assert tu[9] == -8 and tu[10] == "USD"  # 0.2 % of 4000 USD, paid in the quote by a seller
    assert bob_frames[3][2][13] == "EXECUTED @ 20000.0(-0.2)"


def test_post_only_order_that_would_take_is_canceled(venue: Venue) -> None:
    _, key_a, secret_a = venue.account("alice")
    _, key_b, secret_b = venue.account("bob")
    alice, bob = venue.connect(key_a, secret_a), venue.connect(key_b, secret_b)
    venue.send(alice, on("0.5", "20000"))
    venue.send(bob, on("-0.5", "20000", flags=4096))
    frames = venue.take(bob)
    assert names(frames)[0] == "n:on-req:SUCCESS" and frames[0][2][4][13] == "ACTIVE"
    closed = [f for f in frames if f[1] == "oc"]
    assert len(closed) == 1 and closed[0][2][13] == "POSTONLY CANCELED"
    assert "te" not in names(frames)


def test_cancel_flow_is_n_oc_req_then_oc_canceled(venue: Venue) -> None:
    _, key, secret = venue.account("alice")
    stream = venue.connect(key, secret)
    venue.send(stream, on("0.5", "20000"))
    order_id = venue.take(stream)[1][2][0]
    venue.send(stream, [0, "oc", None, {"id": order_id}])
    frames = venue.take(stream)
    assert names(frames)[:2] == ["n:oc-req:SUCCESS", "oc"]
    assert frames[0][2][4][0] == order_id and frames[1][2][13] == "CANCELED"


def test_update_flow_is_n_ou_req_then_ou(venue: Venue) -> None:
    _, key, secret = venue.account("alice")
    stream = venue.connect(key, secret)
    venue.send(stream, on("0.5", "20000"))
    order_id = venue.take(stream)[1][2][0]
    venue.send(stream, [0, "ou", None, {"id": order_id, "price": "21000"}])
    frames = venue.take(stream)
    assert names(frames)[:2] == ["n:ou-req:SUCCESS", "ou"]
    assert frames[1][2][16] == 21000


def test_refused_order_is_an_error_notification_and_changes_nothing(venue: Venue) -> None:
    alice, key, secret = venue.account("alice")
    stream = venue.connect(key, secret)
    venue.send(stream, on("1000", "20000", cid=5))
    (frame,) = venue.take(stream)
    note = frame[2]
    assert note[1] == "on-req" and note[6] == "ERROR" and "not enough exchange balance" in note[7]
    assert len(note[4]) == 32 and note[4][2] == 5 and note[4][3] == "tBTCUSD" and note[4][6] == 1000
    assert venue.exchange.open_orders(alice) == []


def test_cancel_of_an_unknown_order_is_order_not_found(venue: Venue) -> None:
    _, key, secret = venue.account("alice")
    stream = venue.connect(key, secret)
    venue.send(stream, [0, "oc", None, {"id": 987654}])
    (frame,) = venue.take(stream)
    assert frame[2][1] == "oc-req" and frame[2][6:] == ["ERROR", "Order not found."] and frame[2][4][0] == 987654


def test_cancel_of_another_users_order_is_rejected(venue: Venue) -> None:
    _, key_a, secret_a = venue.account("alice")
    _, key_b, secret_b = venue.account("bob")
    alice, bob = venue.connect(key_a, secret_a), venue.connect(key_b, secret_b)
    venue.send(alice, on("0.5", "20000"))
    order_id = venue.take(alice)[1][2][0]
    venue.send(bob, [0, "oc", None, {"id": order_id}])
    assert names(venue.take(bob)) == ["n:oc-req:ERROR"]
    assert venue.take(alice) == []


def test_cancel_multi_and_multi_op_answers(venue: Venue) -> None:
    _, key, secret = venue.account("alice")
    stream = venue.connect(key, secret)
    venue.send(stream, on("0.1", "20000"))
    venue.send(stream, on("0.1", "19000"))
    venue.take(stream)
    venue.send(stream, [0, "oc_multi", None, {"all": 1}])
    frames = venue.take(stream)
    assert names(frames)[:3] == ["n:oc_multi-req:SUCCESS", "oc", "oc"]
    assert len(frames[0][2][4]) == 2
    venue.send(stream, [0, "ox_multi", None, [["on", on("0.1", "20000")[3]], ["oc", {"id": 424242}]]])
    assert names(venue.take(stream)) == ["n:on-req:SUCCESS", "on", "wu", "n:oc-req:ERROR"]


def test_rest_orders_of_the_same_user_show_on_the_stream_without_notifications(venue: Venue) -> None:
    alice, key, secret = venue.account("alice")
    stream = venue.connect(key, secret)
    venue.apply(SubmitOrder(alice, "tBTCUSD", OrderType.EXCHANGE_LIMIT, parse_amount("0.1"), parse_amount("20000")))
    assert names(venue.take(stream)) == ["on", "wu"]


def test_read_only_key_cannot_place_orders(venue: Venue) -> None:
    alice, _, _ = venue.account("alice")
    stream = venue.connect("key-alice", "secret-alice")
    venue.apply(CreateApiKey(alice, "ro", "ro-secret", read_only_permissions()))
    reader_stream = venue.connect("ro", "ro-secret")
    venue.send(reader_stream, on("0.1", "20000"))
    (frame,) = venue.take(reader_stream)
    assert frame[2][1] == "on-req" and frame[2][6:] == ["ERROR", "api_key: permission invalid"]
    assert venue.exchange.open_orders(alice) == [] and venue.take(stream) == []


def test_dead_man_switch_command_cancels_every_order(venue: Venue) -> None:
    alice, key, secret = venue.account("alice")
    stream = venue.connect(key, secret, dms=4)
    venue.send(stream, on("0.1", "20000"))
    venue.send(stream, on("0.1", "19000"))
    for command in stream.close_commands():
        venue.apply(command)
    assert venue.exchange.open_orders(alice) == []


def test_calc_answers_wallet_balance_and_margin_base_from_the_exchange(venue: Venue) -> None:
    _, key, secret = venue.account("alice")
    stream = venue.connect(key, secret)
    venue.send(stream, [0, "calc", None, [["wallet_exchange_USD"], ["balance"], ["margin_base"], ["funding_sym_fUSD"]]])
    frames = venue.take(stream)
    assert names(frames) == ["wu", "bu", "miu", "fiu"]
    assert frames[0][2][:5] == ["exchange", "USD", 100000, 0, 100000]
    assert frames[1][2] == [550000, 550000]  # 100000 USD + 5 BTC at the 90000 reference price
    assert frames[2][2] == ["base", [0, 0, 0, 0, 0]]
    assert frames[3][2] == ["sym", "fUSD", [0, 0, 0, 0]]  # no funding market: nothing lent or borrowed


def test_an_identical_rest_order_applied_first_does_not_take_the_ws_orders_notification(
    venue: Venue,
) -> None:
    alice, key, secret = venue.account("alice")
    stream = venue.connect(key, secret)
    result = stream.receive_input(on("0.1", "21000"))  # same symbol and side, no cid
    venue.apply(SubmitOrder(alice, "tBTCUSD", OrderType.EXCHANGE_LIMIT, parse_amount("0.1"), parse_amount("20000")))
    for command in result.commands:
        venue.apply(command)
    frames = venue.take(stream)
    assert names(frames) == ["on", "wu", "n:on-req:SUCCESS", "on", "wu"]
    assert frames[0][2][16] == 20000  # the REST order: order frames only
    assert frames[2][2][4][16] == 21000  # the notification is about the WS order
