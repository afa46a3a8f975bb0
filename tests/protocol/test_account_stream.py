"""Channel 0 of an authenticated WebSocket, sans-I/O (spec/bitfinex-v2.md §8, §5, §7.6).

These tests drive ``AccountStream`` with hand-made core events and a fake read-only exchange,
so each frame and its order can be checked exactly as the spec quotes them.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import orjson
import pytest

from venue.core.commands import (
    CancelAllOrders,
    CancelOrder,
    CancelOrders,
    MultiOp,
    SubmitOrder,
    UpdateOrder,
)
from venue.core.events import (
    AccountTrade,
    OrderAccepted,
    OrderClosed,
    OrderUpdated,
    RequestCompleted,
    RequestRejected,
    TradeExecuted,
    WalletChanged,
)
from venue.core.exchange import ApiKeyInfo, WalletState
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderState, OrderType
from venue.core.symbols import load_registry
from venue.protocol.account_stream import (
    AccountStream,
    ChannelZeroSequence,
    Kind,
    Outgoing,
    Outstanding,
    StreamLimits,
    default_auth_id,
)
from venue.protocol.auth import NonceTracker, full_permissions, read_only_permissions, sign
from venue.protocol.wire import dumps

ALICE, BOB = 11, 12
KEY_A, SECRET_A = "alice-key", "alice-secret-value"
KEY_B, SECRET_B = "bob-key", "bob-secret-value"
KEY_RO, SECRET_RO = "readonly-key", "readonly-secret"
TS = 1_700_000_000_000
REGISTRY = load_registry()


def A(text: str) -> int:
    return parse_amount(text)


def P(text: str) -> int:
    return parse_price(text)


class FakeReader:
    """The read-only exchange surface the stream uses, with state set by each test."""

    def __init__(self) -> None:
        self.registry = REGISTRY
        self.keys = {
            KEY_A: ApiKeyInfo(KEY_A, SECRET_A, ALICE, full_permissions(), 0, False),
            KEY_B: ApiKeyInfo(KEY_B, SECRET_B, BOB, full_permissions(), 0, False),
            KEY_RO: ApiKeyInfo(KEY_RO, SECRET_RO, ALICE, read_only_permissions(), 0, False),
        }
        self.wallet_rows: dict[int, list[WalletState]] = {
            ALICE: [
                WalletState("exchange", "BTC", A("1.5"), A("1")),
                WalletState("exchange", "USD", A("10000"), A("10000")),
            ],
            BOB: [],
        }
        self.orders: dict[int, list[OrderState]] = {ALICE: [], BOB: []}
        self.prices: dict[str, int] = {}

    def api_key(self, key: str) -> ApiKeyInfo | None:
        return self.keys.get(key)

    def wallets(self, user_id: int) -> list[WalletState]:
        return list(self.wallet_rows.get(user_id, []))

    def open_orders(self, user_id: int, symbol: str | None = None) -> list[OrderState]:
        return [o for o in self.orders.get(user_id, []) if symbol is None or o.symbol == symbol]

    def last_price(self, symbol: str) -> int | None:
        return self.prices.get(symbol)


class Clock:
    def __init__(self) -> None:
        self.now = TS

    def __call__(self) -> int:
        return self.now


def make_stream(reader: FakeReader | None = None, nonces: NonceTracker | None = None, **kwargs: Any) -> AccountStream:
    return AccountStream(
        reader=reader or FakeReader(),
        nonces=nonces or NonceTracker(),
        now_ms=kwargs.pop("clock", None) or Clock(),
        **kwargs,
    )


def auth_message(key: str = KEY_A, secret: str = SECRET_A, nonce: int = 1_700_000_000_000_000, **extra: Any) -> dict[str, Any]:
    payload = extra.pop("payload", f"AUTH{nonce}")
    return {
        "event": "auth",
        "apiKey": key,
        "authSig": sign(secret, payload.encode()),
        "authNonce": nonce,
        "authPayload": payload,
        **extra,
    }


def wire(out: Outgoing) -> Any:
    """What the client sees: the message through the real JSON encoder and back."""
    return orjson.loads(dumps(out.message))


def texts(outs: list[Outgoing]) -> list[str]:
    return [dumps(o.message).decode() for o in outs]


def types_of(outs: list[Outgoing]) -> list[str]:
    """``[0,"on",…]`` → "on"; ``[0,"n",[…,"on-req",…]]`` → "n:on-req"; events → "event:<name>"."""
    names = []
    for out in outs:
        message = wire(out)
        if isinstance(message, dict):
            names.append(f"event:{message['event']}")
        elif message[1] == "n":
            names.append(f"n:{message[2][1]}")
        else:
            names.append(message[1])
    return names


def authed(reader: FakeReader | None = None, **kwargs: Any) -> AccountStream:
    auth = kwargs.pop("auth", {})
    stream = make_stream(reader, **kwargs)
    out = stream.receive_auth(auth_message(**auth))
    assert wire(out[0])["status"] == "OK"
    return stream


def order_state(**fields: Any) -> OrderState:
    values: dict[str, Any] = dict(
        id=501,
        user_id=ALICE,
        symbol="tBTCUSD",
        type=OrderType.EXCHANGE_LIMIT,
        created_ts=TS,
        updated_ts=TS,
        amount=A("0.5"),
        amount_orig=A("0.5"),
        price=P("30000"),
        status="ACTIVE",
        client_order_id=77,
    )
    values.update(fields)
    return OrderState(**values)


# -- auth (spec §8.1) -----------------------------------------------------------------------------


def test_auth_ok_reply_has_chan_id_0_user_id_auth_id_and_caps_objects() -> None:
    stream = make_stream()
    reply = wire(stream.receive_auth(auth_message())[0])
    assert reply["event"] == "auth" and reply["status"] == "OK" and reply["chanId"] == 0
    assert reply["userId"] == ALICE
    assert reply["auth_id"] == default_auth_id(KEY_A)
    assert len(reply["auth_id"].split("-")) == 5
    assert reply["caps"]["orders"] == {"read": 1, "write": 1}
    assert reply["caps"]["withdraw"] == {"read": 1, "write": 1}
    assert reply["caps"]["bfxpay"] == {"read": 0, "write": 0}
    assert stream.authenticated and stream.user_id == ALICE


def test_read_only_key_caps_say_no_write() -> None:
    reply = wire(make_stream().receive_auth(auth_message(KEY_RO, SECRET_RO))[0])
    assert reply["caps"]["orders"] == {"read": 1, "write": 0}


def test_snapshots_follow_the_reply_in_bitfinex_order_ps_ws_os_fos_fcs_fls() -> None:
    reader = FakeReader()
    reader.orders[ALICE] = [order_state()]
    out = make_stream(reader).receive_auth(auth_message())
    assert types_of(out) == ["event:auth", "ps", "ws", "os", "fos", "fcs", "fls"]
    assert all(o.kind is Kind.ACCOUNT for o in out[1:])
    assert texts(out)[1] == '[0,"ps",[]]'
    assert texts(out)[2] == '[0,"ws",[["exchange","BTC",1.5,0,1,null,null],["exchange","USD",10000,0,10000,null,null]]]'
    orders = wire(out[3])[2]
    assert len(orders) == 1 and len(orders[0]) == 32 and orders[0][0] == 501 and orders[0][13] == "ACTIVE"
    assert texts(out)[4:] == ['[0,"fos",[]]', '[0,"fcs",[]]', '[0,"fls",[]]']


def test_node_style_payload_with_the_nonce_twice_is_verified_as_sent() -> None:
    nonce = 1_700_000_000_000_123
    out = make_stream().receive_auth(auth_message(nonce=nonce, payload=f"AUTH{nonce}{nonce}"))
    assert wire(out[0])["status"] == "OK"


def test_bad_signature_fails_with_10100_apikey_invalid_and_nothing_else() -> None:
    message = auth_message()
    message["authSig"] = sign("wrong secret", message["authPayload"].encode())
    stream = make_stream()
    out = stream.receive_auth(message)
    assert [wire(o) for o in out] == [{"event": "auth", "status": "FAILED", "chanId": 0, "code": 10100, "msg": "apikey: invalid"}]
    assert not stream.authenticated


def test_unknown_key_fails_with_apikey_invalid() -> None:
    out = make_stream().receive_auth(auth_message("nobody", "x"))
    assert wire(out[0])["code"] == 10100 and wire(out[0])["msg"] == "apikey: invalid"


def test_nonce_not_larger_than_the_last_fails_with_10114_nonce_small() -> None:
    nonces = NonceTracker()
    reader = FakeReader()
    assert wire(make_stream(reader, nonces).receive_auth(auth_message(nonce=500))[0])["status"] == "OK"
    out = make_stream(reader, nonces).receive_auth(auth_message(nonce=500))
    assert wire(out[0]) == {"event": "auth", "status": "FAILED", "chanId": 0, "code": 10114, "msg": "nonce: small"}


def test_nonce_counter_is_shared_with_rest_through_the_tracker() -> None:
    nonces = NonceTracker()
    nonces.advance(KEY_A, 10_000)  # a REST request of the same key used 10000
    out = make_stream(nonces=nonces).receive_auth(auth_message(nonce=9_999))
    assert wire(out[0])["msg"] == "nonce: small"


def test_second_auth_on_the_same_socket_is_auth_dup() -> None:
    stream = authed()
    out = stream.receive_auth(auth_message(nonce=1_800_000_000_000_000))
    assert [wire(o) for o in out] == [{"event": "error", "msg": "auth: dup", "code": 10100}]
    assert [o.kind for o in out] == [Kind.EVENT]


def test_inputs_before_auth_are_auth_invalid() -> None:
    result = make_stream().receive_input([0, "on", None, {"type": "EXCHANGE LIMIT"}])
    assert result.commands == []
    assert [wire(o) for o in result.frames] == [{"event": "error", "msg": "auth: invalid", "code": 10100}]


def test_api_secret_in_the_auth_frame_is_never_echoed_or_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stream = make_stream()
    out = stream.receive_auth(auth_message(apiSecret=SECRET_A))
    failed = make_stream().receive_auth(auth_message(apiSecret=SECRET_A, nonce=1))
    everything = "".join(texts(out) + texts(failed)) + caplog.text + repr(vars(stream) if hasattr(stream, "__dict__") else "")
    assert SECRET_A not in everything


def test_filter_that_is_not_a_list_of_strings_fails_and_consumes_no_nonce() -> None:
    nonces = NonceTracker()
    reader = FakeReader()
    out = make_stream(reader, nonces).receive_auth(auth_message(nonce=42, filter="trading"))
    assert wire(out[0])["status"] == "FAILED" and wire(out[0])["msg"] == "filter: invalid"
    assert wire(make_stream(reader, nonces).receive_auth(auth_message(nonce=42))[0])["status"] == "OK"


def test_filter_trading_symbol_keeps_only_that_pairs_orders_and_no_wallets() -> None:
    reader = FakeReader()
    reader.orders[ALICE] = [order_state(id=1), order_state(id=2, symbol="tETHUSD")]
    stream = make_stream(reader)
    out = stream.receive_auth(auth_message(filter=["trading-tBTCUSD"]))
    assert [row[0] for row in wire(out[3])[2]] == [1]
    assert wire(out[2]) == [0, "ws", []]
    eth = order_state(id=3, symbol="tETHUSD")
    assert stream.frames_for(5, TS, [OrderAccepted(eth)]) == []
    assert types_of(stream.frames_for(6, TS, [OrderAccepted(order_state(id=4))])) == ["on"]


def test_filter_wallet_exchange_btc_keeps_only_that_wallet() -> None:
    stream = make_stream()
    out = stream.receive_auth(auth_message(filter=["wallet-exchange-BTC"]))
    assert [row[1] for row in wire(out[2])[2]] == ["BTC"]
    frames = stream.frames_for(
        7,
        TS,
        [
            WalletChanged(ALICE, "exchange", "USD", A("1"), A("1")),
            WalletChanged(ALICE, "exchange", "BTC", A("2"), A("2")),
        ],
    )
    assert [wire(f) for f in frames] == [[0, "wu", ["exchange", "BTC", 2, 0, 2, None, None]]]


def test_no_filter_means_everything_and_bfxapi_null_filter_too() -> None:
    out = make_stream().receive_auth(auth_message(filter=None))
    assert len(wire(out[2])[2]) == 2


def test_dms_4_asks_to_cancel_all_orders_when_the_socket_closes() -> None:
    stream = make_stream()
    stream.receive_auth(auth_message(dms=4))
    assert stream.dead_man_switch
    assert stream.close_commands() == [CancelAllOrders(user_id=ALICE)]


def test_dms_of_a_key_that_may_not_write_orders_is_ignored() -> None:
    # Cancelling on disconnect is an order write: a read-only key must not be able to cancel
    # the account's orders (placed with other keys) by connecting with dms 4 and hanging up.
    stream = make_stream()
    out = stream.receive_auth(auth_message(KEY_RO, SECRET_RO, dms=4))
    assert wire(out[0])["status"] == "OK"
    assert not stream.dead_man_switch
    assert stream.close_commands() == []


def test_unauth_ends_channel_0_and_a_new_auth_is_accepted() -> None:
    # spec §7.1: {"event":"unauth"} → {"event":"unauth","status":"OK","chanId":0}
    stream = make_stream()
    stream.receive_auth(auth_message(dms=4))
    (reply,) = stream.receive_unauth()
    assert reply.kind is Kind.EVENT and wire(reply) == {"event": "unauth", "status": "OK", "chanId": 0}
    assert not stream.authenticated and stream.api_key is None
    assert stream.close_commands() == []  # dms disarmed, not fired: the socket is still open
    events = [OrderAccepted(order_state())]
    assert stream.frames_for(1, TS, events) == []
    assert [wire(o) for o in stream.receive_input([0, "oc", None, {"id": 501}]).frames] == [
        {"event": "error", "msg": "auth: invalid", "code": 10100}
    ]
    out = stream.receive_auth(auth_message(nonce=1_800_000_000_000_000))
    assert wire(out[0])["status"] == "OK" and stream.authenticated


def test_unauth_without_auth_is_10200() -> None:
    assert [wire(o) for o in make_stream().receive_unauth()] == [
        {"event": "error", "msg": "unauth: invalid", "code": 10200}
    ]


def test_without_dms_closing_cancels_nothing() -> None:
    assert authed().close_commands() == []
    assert make_stream().close_commands() == []


# -- inputs (spec §8.3) ---------------------------------------------------------------------------


def test_on_input_becomes_a_submit_order_for_the_authenticated_user() -> None:
    stream = authed()
    result = stream.receive_input(
        [0, "on", None, {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.5", "price": 30000, "cid": 77}]
    )
    assert result.frames == []
    (command,) = result.commands
    assert isinstance(command, SubmitOrder)
    assert (command.user_id, command.symbol, command.amount, command.price, command.client_order_id) == (
        ALICE,
        "tBTCUSD",
        A("0.5"),
        P("30000"),
        77,
    )


def test_ou_oc_and_oc_multi_inputs_become_their_commands() -> None:
    stream = authed()
    (update,) = stream.receive_input([0, "ou", None, {"id": 501, "price": "31000"}]).commands
    (cancel,) = stream.receive_input([0, "oc", None, {"id": 501}]).commands
    (multi,) = stream.receive_input([0, "oc_multi", None, {"all": 1}]).commands
    assert update == UpdateOrder(user_id=ALICE, order_id=501, price=P("31000"))
    assert cancel == CancelOrder(user_id=ALICE, order_id=501)
    assert multi == CancelOrders(user_id=ALICE, all=True)


def test_ox_multi_input_becomes_one_multi_op_with_every_op() -> None:
    stream = authed()
    (command,) = stream.receive_input(
        [0, "ox_multi", None, [["on", {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "1", "price": "100"}], ["oc", {"id": 9}]]]
    ).commands
    assert isinstance(command, MultiOp) and len(command.ops) == 2


def test_malformed_on_payload_is_an_error_notification_echoing_the_request_and_no_command() -> None:
    stream = authed()
    result = stream.receive_input(
        [0, "on", None, {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "-1", "price": "abc", "cid": 555}]
    )
    assert result.commands == []
    (out,) = result.frames
    assert out.kind is Kind.REQUEST
    frame = wire(out)
    assert frame[:2] == [0, "n"]
    note = frame[2]
    assert len(note) == 8 and note[1] == "on-req" and note[6] == "ERROR" and note[7] == "price: invalid"
    data = note[4]
    assert len(data) == 32
    assert (data[2], data[3], data[6], data[8], data[16]) == (555, "tBTCUSD", -1, "EXCHANGE LIMIT", None)


def test_ox_multi_with_one_bad_op_submits_nothing() -> None:
    stream = authed()
    result = stream.receive_input(
        [0, "ox_multi", None, [["on", {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "1", "price": "100"}], ["xx", {}]]]
    )
    assert result.commands == []
    note = wire(result.frames[0])[2]
    assert note[1] == "ox_multi-req" and note[4] is None and note[6:] == ["ERROR", "input: invalid"]


def test_a_command_the_sequencer_could_not_apply_is_answered_once_with_its_error_notification() -> None:
    stream, other = authed(), authed(auth={"nonce": 1_900_000_000_000_000})
    (submit,) = stream.receive_input(
        [0, "on", None, {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "1", "price": "100", "cid": 5}]
    ).commands
    (multi,) = stream.receive_input([0, "ox_multi", None, [["oc", {"id": 1}], ["oc", {"id": 2}]]]).commands
    assert other.command_failed(submit, 11000, "journal: unavailable") == []  # not its command
    (out,) = stream.command_failed(submit, 11000, "journal: unavailable")
    assert out.kind is Kind.REQUEST
    note = wire(out)[2]
    assert note[1] == "on-req" and note[6:] == ["ERROR", "journal: unavailable"]
    assert len(note[4]) == 32 and (note[4][2], note[4][3]) == (5, "tBTCUSD")
    assert stream.command_failed(submit, 11000, "journal: unavailable") == []  # answered once
    (out,) = stream.command_failed(multi, 10000, "unknown error")
    assert wire(out)[2][1] == "ox_multi-req" and wire(out)[2][4] is None


def test_key_without_orders_write_gets_an_error_notification_and_submits_nothing() -> None:
    stream = make_stream()
    stream.receive_auth(auth_message(KEY_RO, SECRET_RO))
    result = stream.receive_input([0, "oc", None, {"id": 501}])
    assert result.commands == []
    note = wire(result.frames[0])[2]
    assert note[1] == "oc-req" and note[6] == "ERROR" and note[4][0] == 501 and len(note[4]) == 32


@pytest.mark.parametrize(
    "frame",
    [[0, "on"], [0, "on", None], [0, "on", None, None], [0, "on", None, []], [0, "oc", None, {"cid": 1}]],
)
def test_malformed_order_inputs_are_error_notifications_of_their_type(frame: list[Any]) -> None:
    result = authed().receive_input(frame)
    assert result.commands == []
    (out,) = result.frames
    note = wire(out)[2]
    assert note[1] == f"{frame[1]}-req" and note[6] == "ERROR" and len(note[4]) == 32


@pytest.mark.parametrize("frame", [[0], [0, 5, None, {}], [0, ["on"], None, {}], [0, {"a": 1}]])
def test_frames_without_a_known_input_type_are_input_invalid(frame: list[Any]) -> None:
    result = authed().receive_input(frame)
    assert result.commands == []
    assert [wire(o) for o in result.frames] == [{"event": "error", "msg": "input: invalid", "code": 10020}]


def test_unknown_input_type_is_an_error_event() -> None:
    result = authed().receive_input([0, "zz", None, {}])
    assert [wire(o) for o in result.frames] == [{"event": "error", "msg": "input: invalid", "code": 10020}]


def test_funding_offer_inputs_are_refused_with_a_21_field_offer() -> None:
    result = authed().receive_input([0, "fon", None, {"type": "LIMIT", "symbol": "fUSD"}])
    note = wire(result.frames[0])[2]
    assert note[1] == "fon-req" and note[6] == "ERROR" and len(note[4]) == 21
    assert result.commands == []


def test_order_inputs_over_the_rate_limit_get_ratelimit_error_notifications() -> None:
    clock = Clock()
    stream = authed(clock=clock, limits=StreamLimits(order_rate=10, order_burst=3))
    payload = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "1", "price": "100", "cid": 1}
    results = [stream.receive_input([0, "on", None, payload]) for _ in range(4)]
    assert [len(r.commands) for r in results] == [1, 1, 1, 0]
    note = wire(results[3].frames[0])[2]
    assert note[1] == "on-req" and note[6:] == ["ERROR", "ratelimit: error"]
    clock.now += 100  # 10 per second: one more after 100 ms
    assert len(stream.receive_input([0, "on", None, payload]).commands) == 1


# -- calc and user notifications ------------------------------------------------------------------


def test_calc_answers_wallets_and_balance_with_fresh_values() -> None:
    reader = FakeReader()
    reader.prices["tBTCUSD"] = P("40000")
    stream = authed(reader)
    result = stream.receive_input([0, "calc", None, [["wallet_exchange_BTC"], ["balance"], ["position_tBTCUSD"]]])
    assert result.commands == []
    assert texts(result.frames) == [
        '[0,"wu",["exchange","BTC",1.5,0,1,null,null]]',
        '[0,"bu",[70000,70000]]',  # 1.5 BTC × 40000 + 10000 USD
    ]


def test_calc_answers_margin_and_funding_symbols_with_miu_sym_and_fiu() -> None:
    # spec §8.3: margin_sym_* → miu sym, funding_sym_* → fiu (§6.11 layouts). venue trades spot
    # only, so there is no margin buying power and no funding yield; unlisted symbols get nothing.
    stream = authed()
    frames = stream.receive_input(
        [0, "calc", None, [["margin_sym_tBTCUSD"], ["funding_sym_fUSD"], ["margin_sym_tNOPE"], ["funding_sym_fNOPE"]]]
    ).frames
    assert texts(frames) == [
        '[0,"miu",["sym","tBTCUSD",[0,0,0,0,null,null,null,null]]]',
        '[0,"fiu",["sym","fUSD",[0,0,0,0]]]',
    ]
    assert all(out.kind is Kind.ACCOUNT for out in frames)


def test_balance_values_currencies_without_trades_at_the_reference_price() -> None:
    reader = FakeReader()  # no trades: BTC at its reference price 90000
    stream = authed(reader)
    (out,) = stream.receive_input([0, "calc", None, [["balance"]]]).frames
    assert wire(out) == [0, "bu", [145000, 145000]]


def test_calc_is_limited_to_8_per_second() -> None:
    clock = Clock()
    stream = authed(clock=clock)
    answers = [stream.receive_input([0, "calc", None, [["balance"]]]).frames for _ in range(9)]
    assert all(wire(a[0])[1] == "bu" for a in answers[:8])
    assert [wire(o) for o in answers[8]] == [{"event": "error", "msg": "ratelimit: error", "code": 11010}]
    clock.now += 1000
    assert wire(stream.receive_input([0, "calc", None, [["balance"]]]).frames[0])[1] == "bu"


def test_ucm_notification_is_broadcast_to_the_users_other_connections() -> None:
    sender, other = authed(), authed(auth={"nonce": 1_900_000_000_000_000})
    result = sender.receive_input([0, "n", 7, {"type": "ucm-test", "info": {"message": "hi"}}])
    assert result.frames == [] and result.commands == []
    (note,) = result.broadcast
    (out,) = other.receive_broadcast(note)
    assert out.kind is Kind.NOTICE
    frame = wire(out)
    assert frame[1] == "n" and frame[2][1] == "ucm-test" and frame[2][2] == 7 and frame[2][4] == {"message": "hi"}


def test_notification_without_ucm_type_is_an_error_event() -> None:
    result = authed().receive_input([0, "n", None, {"type": "hack", "info": {}}])
    assert result.broadcast == [] and wire(result.frames[0])["code"] == 10020


# -- updates (spec §8.2) --------------------------------------------------------------------------


def submit(stream: AccountStream, cid: int = 77, amount: str = "0.5") -> SubmitOrder:
    (command,) = stream.receive_input(
        [0, "on", None, {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": amount, "price": "30000", "cid": cid}]
    ).commands
    assert isinstance(command, SubmitOrder)
    return command


def test_new_order_gives_n_on_req_first_then_on() -> None:
    stream = authed()
    submit(stream)
    order = order_state()
    out = stream.frames_for(10, TS, [OrderAccepted(order), RequestCompleted(ALICE, "on", (order,))])
    assert types_of(out) == ["n:on-req", "on"]
    assert [o.kind for o in out] == [Kind.REQUEST, Kind.ACCOUNT]
    note = wire(out[0])[2]
    assert note[0] == TS and note[6] == "SUCCESS" and note[4][2] == 77 and len(note[4]) == 32
    assert note[7] == "Submitting exchange limit buy order for 0.5 BTC."


def test_the_same_users_rest_order_gives_on_but_no_notification_here() -> None:
    stream = authed()
    order = order_state()
    out = stream.frames_for(10, TS, [OrderAccepted(order), RequestCompleted(ALICE, "on", (order,))])
    assert types_of(out) == ["on"]


def test_a_notification_answers_each_request_once() -> None:
    stream = authed()
    submit(stream)
    order = order_state()
    events = [OrderAccepted(order), RequestCompleted(ALICE, "on", (order,))]
    assert types_of(stream.frames_for(10, TS, events)) == ["n:on-req", "on"]
    assert types_of(stream.frames_for(11, TS, events)) == ["on"]


def test_requests_are_matched_to_their_own_answers_when_two_are_outstanding() -> None:
    stream = authed()
    submit(stream, cid=1)
    submit(stream, cid=2)
    second = order_state(id=2, client_order_id=2)
    out = stream.frames_for(10, TS, [OrderAccepted(second), RequestCompleted(ALICE, "on", (second,))])
    assert wire(out[0])[2][4][2] == 2
    first = order_state(id=1, client_order_id=1)
    out = stream.frames_for(11, TS, [OrderAccepted(first), RequestCompleted(ALICE, "on", (first,))])
    assert wire(out[0])[2][4][2] == 1


def fill_events(maker: OrderState, taker: OrderState, price: int, amount: int) -> list[Any]:
    """What the core emits when ``taker`` (Bob) fills ``maker`` (Alice) (core/events.py order)."""
    maker_done = replace(maker, amount=0, status=f"EXECUTED @ 30000.0({amount / 1e8})", price_avg=price)
    taker_done = replace(taker, amount=0, status="EXECUTED @ 30000.0(-0.5)", price_avg=price)
    return [
        OrderAccepted(taker),
        TradeExecuted(900, "tBTCUSD", TS, price, -amount, taker.id, maker.id, BOB, ALICE),
        AccountTrade(900, BOB, "tBTCUSD", TS, taker.id, "EXCHANGE LIMIT", P("30000"), -amount, price, False, -A("30"), "USD", 88),
        AccountTrade(900, ALICE, "tBTCUSD", TS, maker.id, "EXCHANGE LIMIT", P("30000"), amount, price, True, -A("0.0005"), "BTC", 77),
        OrderClosed(maker_done),
        OrderClosed(taker_done),
        WalletChanged(BOB, "exchange", "BTC", A("0.5"), A("0.5")),
        WalletChanged(BOB, "exchange", "USD", A("14970"), A("14970")),
        WalletChanged(ALICE, "exchange", "BTC", A("1.9995"), A("1.9995"), "Exchange 0.5 BTC for USD @ 30000"),
        WalletChanged(ALICE, "exchange", "USD", A("-5000") + A("10000"), A("5000")),
        RequestCompleted(BOB, "on", (taker,)),
    ]


def test_fill_gives_te_then_oc_then_wu_then_tu_on_the_makers_stream() -> None:
    maker = order_state()
    taker = order_state(id=502, user_id=BOB, amount=-A("0.5"), amount_orig=-A("0.5"), client_order_id=88)
    reader = FakeReader()
    alice = authed(reader)
    reader.prices["tBTCUSD"] = P("30000")  # the trade moved the account's value
    out = alice.frames_for(20, TS, fill_events(maker, taker, P("30000"), A("0.5")))
    assert types_of(out) == ["te", "oc", "wu", "wu", "tu", "bu"]
    te, tu = wire(out[0])[2], wire(out[4])[2]
    assert te == [900, "tBTCUSD", TS, 501, 0.5, 30000, "EXCHANGE LIMIT", 30000, 1, None, None, 77]
    assert tu == [900, "tBTCUSD", TS, 501, 0.5, 30000, "EXCHANGE LIMIT", 30000, 1, -0.0005, "BTC", 77]
    assert wire(out[2])[2][5] == "Exchange 0.5 BTC for USD @ 30000"


def test_fill_caused_by_another_account_reaches_both_accounts_streams() -> None:
    maker = order_state()
    taker = order_state(id=502, user_id=BOB, amount=-A("0.5"), amount_orig=-A("0.5"), client_order_id=88)
    reader = FakeReader()
    bob = authed(reader, auth={"key": KEY_B, "secret": SECRET_B})
    (command,) = bob.receive_input(
        [0, "on", None, {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "-0.5", "price": "30000", "cid": 88}]
    ).commands
    events = fill_events(maker, taker, P("30000"), A("0.5"))
    out = bob.frames_for(20, TS, events)
    assert types_of(out) == ["n:on-req", "on", "te", "oc", "wu", "wu", "tu", "bu"]
    assert wire(out[2])[2][8] == -1 and wire(out[2])[2][4] == -0.5
    assert wire(out[6])[2][9:11] == [-30, "USD"]
    alice = authed(reader)
    assert "te" in types_of(alice.frames_for(20, TS, events))


def test_another_users_events_never_reach_this_stream() -> None:
    stream = authed()
    bob_order = order_state(id=9, user_id=BOB)
    events = [
        OrderAccepted(bob_order),
        WalletChanged(BOB, "exchange", "USD", 1, 1),
        RequestCompleted(BOB, "on", (bob_order,)),
    ]
    assert stream.frames_for(30, TS, events) == []


def test_unauthenticated_stream_gets_no_frames() -> None:
    assert make_stream().frames_for(1, TS, [OrderAccepted(order_state())]) == []


def test_cancel_gives_n_oc_req_then_oc_canceled() -> None:
    stream = authed()
    stream.receive_input([0, "oc", None, {"id": 501}])
    canceled = order_state(status="CANCELED")
    out = stream.frames_for(40, TS, [OrderClosed(canceled), RequestCompleted(ALICE, "oc", (canceled,))])
    assert types_of(out) == ["n:oc-req", "oc"]
    note = wire(out[0])[2]
    assert note[4][0] == 501 and note[7] == "Submitted for cancellation; waiting for confirmation (ID: 501)."
    assert wire(out[1])[2][13] == "CANCELED"


def test_post_only_that_would_take_gives_n_on_req_success_then_oc_postonly_canceled() -> None:
    stream = authed()
    submit(stream)
    active = order_state(flags=4096)
    canceled = replace(active, status="POSTONLY CANCELED")
    out = stream.frames_for(41, TS, [OrderAccepted(active), OrderClosed(canceled), RequestCompleted(ALICE, "on", (active,))])
    assert types_of(out) == ["n:on-req", "on", "oc"]
    assert wire(out[0])[2][6] == "SUCCESS" and wire(out[0])[2][4][13] == "ACTIVE"
    assert wire(out[2])[2][13] == "POSTONLY CANCELED"


def test_rejected_submit_gives_an_error_notification_with_the_requests_fields() -> None:
    stream = authed()
    command = submit(stream, amount="-2")
    text = "Invalid order: not enough exchange balance for -2.0 BTCUSD at 30000.0"
    out = stream.frames_for(42, TS, [RequestRejected(ALICE, "on", 10001, text, command)])
    (frame,) = [wire(o) for o in out]
    note = frame[2]
    assert note[1] == "on-req" and note[6] == "ERROR" and note[7] == text
    assert len(note[4]) == 32 and (note[4][2], note[4][3], note[4][6], note[4][8], note[4][16]) == (
        77,
        "tBTCUSD",
        -2,
        "EXCHANGE LIMIT",
        30000,
    )
    assert out[0].kind is Kind.REQUEST


def test_rejected_rest_request_of_the_same_user_is_not_shown_here() -> None:
    stream = authed()
    command = SubmitOrder(ALICE, "tBTCUSD", OrderType.EXCHANGE_LIMIT, A("1"), P("1"))
    assert stream.frames_for(43, TS, [RequestRejected(ALICE, "on", 10001, "x", command)]) == []


def test_update_gives_n_ou_req_then_ou() -> None:
    stream = authed()
    stream.receive_input([0, "ou", None, {"id": 501, "amount": "0.25"}])
    updated = order_state(amount=A("0.25"))
    out = stream.frames_for(44, TS, [OrderUpdated(updated), RequestCompleted(ALICE, "ou", (updated,))])
    assert types_of(out) == ["n:ou-req", "ou"]
    assert wire(out[0])[2][4][0] == 501


def test_cancel_multi_notification_lists_the_orders_then_one_oc_each() -> None:
    stream = authed()
    stream.receive_input([0, "oc_multi", None, {"id": [1, 2]}])
    first, second = order_state(id=1, status="CANCELED"), order_state(id=2, status="CANCELED")
    out = stream.frames_for(
        45, TS, [OrderClosed(first), OrderClosed(second), RequestCompleted(ALICE, "oc_multi", (first, second))]
    )
    assert types_of(out) == ["n:oc_multi-req", "oc", "oc"]
    assert [row[0] for row in wire(out[0])[2][4]] == [1, 2]


def test_multi_op_gives_one_notification_per_op_each_before_its_frames() -> None:
    stream = authed()
    (command,) = stream.receive_input(
        [0, "ox_multi", None, [["on", {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.5", "price": "30000", "cid": 77}], ["oc", {"id": 9}]]]
    ).commands
    assert isinstance(command, MultiOp)
    new = order_state()
    canceled = order_state(id=9, status="CANCELED", client_order_id=None)
    out = stream.frames_for(
        46,
        TS,
        [
            OrderAccepted(new),
            RequestCompleted(ALICE, "on", (new,)),
            OrderClosed(canceled),
            RequestCompleted(ALICE, "oc", (canceled,)),
        ],
    )
    assert types_of(out) == ["n:on-req", "on", "n:oc-req", "oc"]


def test_stop_triggering_without_a_request_is_sent_as_it_is() -> None:
    stream = authed()
    triggered = order_state(type=OrderType.EXCHANGE_STOP, status="ACTIVE")
    assert types_of(stream.frames_for(47, TS, [OrderUpdated(triggered)])) == ["ou"]


def test_balance_update_is_sent_only_when_the_value_changed() -> None:
    reader = FakeReader()
    stream = authed(reader)
    hold = [WalletChanged(ALICE, "exchange", "USD", A("10000"), A("9000"))]
    assert types_of(stream.frames_for(50, TS, hold)) == ["wu"]  # a hold moves no value
    reader.wallet_rows[ALICE][1] = WalletState("exchange", "USD", A("9000"), A("9000"))
    spent = [WalletChanged(ALICE, "exchange", "USD", A("9000"), A("9000"))]
    out = stream.frames_for(51, TS, spent)
    assert types_of(out) == ["wu", "bu"]
    assert wire(out[1]) == [0, "bu", [144000, 144000]]
    assert types_of(stream.frames_for(52, TS, spent)) == ["wu"]


def test_wallet_filter_without_balance_sends_no_bu() -> None:
    stream = make_stream()
    stream.receive_auth(auth_message(filter=["wallet"]))
    assert types_of(stream.frames_for(52, TS, [WalletChanged(ALICE, "exchange", "USD", 1, 1)])) == ["wu"]


def test_numbers_on_channel_0_are_written_in_shortest_form() -> None:
    stream = authed()
    order = order_state(amount=A("0.00005"), amount_orig=A("0.00005"), price=P("100"))
    (frame,) = texts(stream.frames_for(53, TS, [OrderAccepted(order)]))
    assert ",0.00005,0.00005," in frame and ',100,0,0,0,' in frame
    assert "e-" not in frame and "100.0" not in frame


# -- sequence numbers (spec §7.6) -----------------------------------------------------------------


def test_channel_zero_sequence_follows_node_seq_audit_rules() -> None:
    seq = ChannelZeroSequence()
    pub = iter(range(1, 100))

    def next_pub() -> int:
        return next(pub)

    account = Outgoing(Kind.ACCOUNT, [0, "on", []])
    request = Outgoing(Kind.REQUEST, [0, "n", ["on-req"]])
    notice = Outgoing(Kind.NOTICE, [0, "n", ["ucm-test"]])
    event = Outgoing(Kind.EVENT, {"event": "auth"})
    assert seq.number(event, next_pub) == {"event": "auth"}
    assert seq.number(account, next_pub) == [0, "on", [], 1, 1]
    assert seq.number(request, next_pub) == [0, "n", ["on-req"], 1]  # only AUTH_SEQ, no advance
    assert seq.number(account, next_pub) == [0, "on", [], 2, 2]
    assert seq.number(notice, next_pub) == [0, "n", ["ucm-test"], 3, 2]  # PUB advances, AUTH not
    assert seq.number(account, next_pub) == [0, "on", [], 4, 3]


def test_a_rest_cancel_completing_while_a_ws_cancel_is_outstanding_gets_no_notification() -> None:
    stream = authed()
    stream.receive_input([0, "oc", None, {"id": 501}])
    other = order_state(id=502, status="CANCELED")
    assert types_of(stream.frames_for(60, TS, [OrderClosed(other), RequestCompleted(ALICE, "oc", (other,))])) == ["oc"]
    mine = order_state(id=501, status="CANCELED")
    assert types_of(stream.frames_for(61, TS, [OrderClosed(mine), RequestCompleted(ALICE, "oc", (mine,))])) == [
        "n:oc-req",
        "oc",
    ]


def test_the_caller_may_name_the_command_that_produced_the_events() -> None:
    stream = authed()
    command = submit(stream, cid=5)
    order = order_state(client_order_id=None)  # nothing in the event ties it to the request
    events = [OrderAccepted(order), RequestCompleted(ALICE, "on", (order,))]
    assert types_of(stream.frames_for(62, TS, events, command=command)) == ["n:on-req", "on"]
    assert types_of(stream.frames_for(63, TS, events, command=command)) == ["on"]  # answered once


# -- recognising this connection's own requests -----------------------------------------------------


def test_outstanding_forgets_the_oldest_command_beyond_its_limit() -> None:
    outstanding = Outstanding(limit=2)
    first, second, third = (SubmitOrder(ALICE, "tBTCUSD", OrderType.EXCHANGE_LIMIT, A("1"), P("1"), client_order_id=i) for i in (1, 2, 3))
    for command in (first, second, third):
        outstanding.add(command)
    assert len(outstanding) == 2
    assert not outstanding.holds(first) and outstanding.holds(second) and outstanding.holds(third)
    done = order_state(client_order_id=1, amount_orig=A("1"))
    assert outstanding.claim(RequestCompleted(ALICE, "on", (done,))) is None


def test_a_rejected_op_is_found_through_its_multi_op() -> None:
    outstanding = Outstanding()
    cancel = CancelOrder(ALICE, order_id=5)
    multi = MultiOp(ALICE, (SubmitOrder(ALICE, "tBTCUSD", OrderType.EXCHANGE_LIMIT, A("1"), P("1")), cancel))
    outstanding.add(multi)
    assert outstanding.claim(RequestRejected(ALICE, "oc", 10001, "Order not found.", cancel)) is multi
    assert outstanding.holds(multi)  # its other ops may still answer in the same batch
    outstanding.remove(multi)
    assert len(outstanding) == 0


def test_an_equal_but_different_rejected_command_is_not_ours() -> None:
    outstanding = Outstanding()
    mine = CancelOrder(ALICE, order_id=5)
    outstanding.add(mine)
    lookalike = CancelOrder(ALICE, order_id=5)  # e.g. the same cancel sent over REST
    assert outstanding.claim(RequestRejected(ALICE, "oc", 10001, "Order not found.", lookalike)) is None
    assert outstanding.claim(RequestRejected(ALICE, "oc", 10001, "Order not found.", mine)) is mine


# -- fuzz: any input frame is answered, never raised ------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["EXCHANGE LIMIT", "EXCHANGE MARKET", "LIMIT", "x"]) | _json,
        "symbol": st.sampled_from(["tBTCUSD", "tETHUSD", "fUSD", ""]) | _json,
        "amount": st.sampled_from(["0.5", "-1", "0", "1e400", "abc"]) | _json,
        "price": st.sampled_from(["30000", "-1", "0.000000001"]) | _json,
        "id": st.integers(-5, 2**64) | _json,
        "cid": _json,
        "all": _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["on", "ou", "oc", "oc_multi", "ox_multi", "calc", "n", "fon", "zz"]) | _json,
    payload=_fields | _json | st.lists(st.tuples(st.sampled_from(["on", "oc", "xx"]), _fields).map(list), max_size=3),
)
def test_any_input_frame_becomes_commands_or_an_answer_never_an_exception(kind: Any, payload: Any) -> None:
    stream = authed()
    result = stream.receive_input([0, kind, None, payload])
    if kind != "calc":  # a calc of nothing known has nothing to answer
        assert bool(result.commands) != bool(result.frames) or result.broadcast
    assert not (result.commands and result.frames)
    for out in result.frames:
        dumps(out.message)  # every answer is valid JSON


def test_limits_can_be_switched_off_for_servers_without_rate_limits() -> None:
    stream = authed(limits=StreamLimits.off())
    payload = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "1", "price": "100"}
    assert all(stream.receive_input([0, "on", None, payload]).commands for _ in range(3000))
    assert all(stream.receive_input([0, "calc", None, [["balance"]]]).frames for _ in range(20))
