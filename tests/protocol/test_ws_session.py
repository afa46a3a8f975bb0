"""WsSession without sockets: every event, error code, conf flag, seq numbering and heartbeat
(spec/bitfinex-v2.md §7, clients.md §4)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from venue.protocol import channels as ch
from venue.protocol.ws import (
    BULK_UPDATES,
    DEC_S,
    OB_CHECKSUM,
    SEQ_ALL,
    TIME_S,
    TIMESTAMP,
    SessionConfig,
    Subscribe,
    Unsubscribe,
    WsSession,
)

LISTED = {"tBTCUSD", "tETHUSD", "tTESTBTC:TESTUSD"}


class FakeClock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def __call__(self) -> int:
        return self.ms


def make_session(channel_limit: int | None = 30, clock: FakeClock | None = None) -> WsSession:
    ids = itertools.count(100)
    return WsSession(
        SessionConfig(server_id="test-server", channel_limit=channel_limit),
        is_listed=LISTED.__contains__,
        now_ms=clock or FakeClock(),
        next_chan_id=lambda: next(ids),
    )


def sent(session: WsSession) -> list[Any]:
    return [orjson.loads(f) for f in session.frames_to_send()]


def send(session: WsSession, message: Any) -> list[Any]:
    session.receive_text(orjson.dumps(message))
    return sent(session)


def connected(**kwargs: Any) -> WsSession:
    session = make_session(**kwargs)
    session.frames_to_send()  # the info event
    return session


# -- connection, ping, conf ----------------------------------------------------------------------


def test_info_event_with_version_2_is_the_first_frame():
    session = make_session()
    frames = session.frames_to_send()
    assert frames == [b'{"event":"info","version":2,"serverId":"test-server","platform":{"status":1}}']


def test_ping_is_answered_with_pong_carrying_ts_and_cid():
    clock = FakeClock()
    session = connected(clock=clock)
    assert send(session, {"event": "ping", "cid": 1234}) == [
        {"event": "pong", "ts": clock.ms, "cid": 1234}
    ]


def test_conf_reply_echoes_the_flags_received():
    session = connected()
    assert send(session, {"event": "conf", "flags": 131072}) == [
        {"event": "conf", "status": "OK", "flags": 131072}
    ]
    assert session.checksums


def test_conf_flags_are_cumulative_per_connection():
    session = connected()
    send(session, {"event": "conf", "flags": SEQ_ALL})
    send(session, {"event": "conf", "flags": OB_CHECKSUM})
    assert session.flags == SEQ_ALL | OB_CHECKSUM


def test_conf_with_non_integer_flags_is_error_10050():
    session = connected()
    [reply] = send(session, {"event": "conf", "flags": "many"})
    assert reply["event"] == "error" and reply["code"] == 10050
    for bad in (-8, True, 8.5, "-8", "", None):
        [reply] = send(session, {"event": "conf", "flags": bad})
        assert reply["code"] == 10050, bad
    assert session.flags == 0


def test_conf_flags_as_a_numeric_string_are_accepted():
    # Inputs take numbers as strings everywhere (spec §11); a C++ client quoted in public code
    # sends {"event":"conf","flags":"131072"} and the real exchange enables checksums for it.
    session = connected()
    assert send(session, {"event": "conf", "flags": "131072"}) == [
        {"event": "conf", "status": "OK", "flags": "131072"}
    ]
    assert session.checksums and session.flags == OB_CHECKSUM


@pytest.mark.parametrize(
    "flags, fmt", [(0, 0), (DEC_S, 2), (TIME_S, 1), (DEC_S | TIME_S, 3)]
)
def test_dec_s_and_time_s_choose_the_rendering_variant(flags, fmt):
    session = connected()
    send(session, {"event": "conf", "flags": flags})
    assert session.format == fmt


def test_bulk_updates_flag_is_remembered():
    session = connected()
    send(session, {"event": "conf", "flags": BULK_UPDATES})
    assert session.bulk


# -- bad input ---------------------------------------------------------------------------------


def test_invalid_json_is_error_10000():
    session = connected()
    session.receive_text("{not json")
    assert sent(session) == [{"event": "error", "msg": "json: invalid", "code": 10000}]


def test_frame_over_the_message_limit_is_error_10000_and_not_parsed():
    ids = itertools.count(100)
    session = WsSession(SessionConfig(server_id="s", max_message=64), is_listed=LISTED.__contains__,
                        now_ms=FakeClock(), next_chan_id=lambda: next(ids))
    session.frames_to_send()
    big = orjson.dumps({"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD", "pad": "x" * 40})
    session.receive_text(big)
    assert session.frames_to_send() == [b'{"event":"error","msg":"message: too big","code":10000}']
    assert session.requests_received() == [] and session.subscriptions == {}
    [reply] = send(session, {"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
    assert reply["event"] == "subscribed"


def test_unknown_event_is_error_10000_echoing_the_request():
    session = connected()
    assert send(session, {"event": "dance", "cid": 7}) == [
        {"cid": 7, "event": "error", "msg": "event: invalid", "code": 10000}
    ]


def test_array_on_a_public_channel_id_is_error_10000():
    session = connected()
    [reply] = send(session, [5, "hb"])
    assert reply["code"] == 10000


def test_channel_zero_input_without_account_support_is_auth_invalid():
    session = connected()
    assert send(session, [0, "on", None, {}]) == [
        {"event": "error", "msg": "auth: invalid", "code": 10100}
    ]


def test_auth_without_account_support_fails_with_chan_id_0():
    session = connected()
    [reply] = send(session, {"event": "auth", "apiKey": "x"})
    assert reply["event"] == "auth" and reply["status"] == "FAILED" and reply["chanId"] == 0


# -- subscribe ------------------------------------------------------------------------------------


def test_book_subscribed_reply_has_the_real_key_order_and_len_as_string():
    session = connected()
    request = {"event": "subscribe", "channel": "book", "symbol": "tETHUSD", "prec": "P0",
               "freq": "F0", "len": 25, "subId": 123}
    [reply] = send(session, request)
    assert list(reply) == ["event", "channel", "chanId", "symbol", "prec", "freq", "len", "subId", "pair"]
    assert reply == {"event": "subscribed", "channel": "book", "chanId": 100, "symbol": "tETHUSD",
                     "prec": "P0", "freq": "F0", "len": "25", "subId": 123, "pair": "ETHUSD"}
    [req] = session.requests_received()
    assert isinstance(req, Subscribe) and req.subscription.spec.length == 25


def test_book_defaults_are_p0_f0_len_25():
    session = connected()
    [reply] = send(session, {"event": "subscribe", "channel": "book", "symbol": "tBTCUSD"})
    assert (reply["prec"], reply["freq"], reply["len"]) == ("P0", "F0", "25")


def test_ticker_and_trades_replies_end_with_pair():
    session = connected()
    for channel in ("ticker", "trades"):
        [reply] = send(session, {"event": "subscribe", "channel": channel, "symbol": "tBTCUSD",
                                 "subId": "abc"})
        assert list(reply) == ["event", "channel", "chanId", "symbol", "subId", "pair"]
        assert reply["pair"] == "BTCUSD" and reply["subId"] == "abc"


def test_legacy_pair_field_is_accepted_with_or_without_t():
    session = connected()
    [a] = send(session, {"event": "subscribe", "channel": "ticker", "pair": "BTCUSD"})
    [b] = send(session, {"event": "subscribe", "channel": "trades", "pair": "tBTCUSD"})
    assert a["symbol"] == b["symbol"] == "tBTCUSD"


def test_colon_pairs_echo_pair_without_t():
    session = connected()
    [reply] = send(session, {"event": "subscribe", "channel": "ticker", "symbol": "tTESTBTC:TESTUSD"})
    assert reply["pair"] == "TESTBTC:TESTUSD"


def test_candles_reply_ends_with_key():
    session = connected()
    [reply] = send(session, {"event": "subscribe", "channel": "candles", "key": "trade:1m:tBTCUSD"})
    assert reply == {"event": "subscribed", "channel": "candles", "chanId": 100, "key": "trade:1m:tBTCUSD"}


@pytest.mark.parametrize("tf", ch.TIMEFRAMES)
def test_every_candle_timeframe_is_accepted(tf):
    session = connected()
    [reply] = send(session, {"event": "subscribe", "channel": "candles", "key": f"trade:{tf}:tBTCUSD"})
    assert reply["event"] == "subscribed"


@pytest.mark.parametrize(
    "request_fields, code, msg",
    [
        ({"channel": "weather", "symbol": "tBTCUSD"}, 10302, "channel: unknown"),
        ({"symbol": "tBTCUSD"}, 10302, "channel: unknown"),
        ({"channel": "ticker", "symbol": "tNOPE"}, 10300, "symbol: invalid"),
        ({"channel": "ticker"}, 10300, "symbol: invalid"),
        ({"channel": "book", "symbol": "tBTCUSD", "prec": "P9"}, 10011, "prec: invalid"),
        ({"channel": "book", "symbol": "tBTCUSD", "len": 50}, 10012, "len: invalid"),
        ({"channel": "book", "symbol": "tBTCUSD", "len": "abc"}, 10012, "len: invalid"),
        ({"channel": "book", "symbol": "tBTCUSD", "len": "\uff12\uff15"}, 10012, "len: invalid"),  # fullwidth 25
        ({"channel": "book", "symbol": "tBTCUSD", "len": 25.0}, 10012, "len: invalid"),
        ({"channel": "book", "symbol": "tBTCUSD", "freq": "F9"}, 10020, "freq: invalid"),
        ({"channel": "candles", "key": "trade:2m:tBTCUSD"}, 10300, "key: invalid"),
        ({"channel": "candles", "key": "trade:1m:tNOPE"}, 10300, "key: invalid"),
        ({"channel": "candles"}, 10300, "key: invalid"),
    ],
)
def test_bad_subscribe_is_an_error_event_echoing_the_request(request_fields, code, msg):
    session = connected()
    request = {"event": "subscribe", **request_fields}
    [reply] = send(session, request)
    expected = {k: v for k, v in request.items() if k != "event"}
    expected.update({"event": "error", "msg": msg, "code": code})
    assert reply == expected and list(reply) == list(expected)
    assert session.requests_received() == []


def test_second_subscribe_to_the_same_stream_is_dup_10301():
    session = connected()
    send(session, {"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "len": "25"})
    [reply] = send(session, {"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "len": 25})
    assert reply["code"] == 10301 and reply["msg"] == "subscribe: dup"


def test_same_symbol_at_another_precision_is_a_new_channel():
    session = connected()
    send(session, {"event": "subscribe", "channel": "book", "symbol": "tBTCUSD"})
    [reply] = send(session, {"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "prec": "R0"})
    assert reply["event"] == "subscribed"


def test_channel_limit_answers_10305():
    session = connected(channel_limit=2)
    send(session, {"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
    send(session, {"event": "subscribe", "channel": "ticker", "symbol": "tETHUSD"})
    [reply] = send(session, {"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
    assert reply["code"] == 10305 and reply["msg"] == "subscribe: limit"


def test_channel_limit_can_be_switched_off():
    session = connected(channel_limit=None)
    for i, tf in enumerate(ch.TIMEFRAMES * 3):
        send(session, {"event": "subscribe", "channel": "candles", "key": f"trade:{tf}:tBTCUSD",
                       "subId": i})
    assert len(session.subscriptions) == len(ch.TIMEFRAMES)  # the rest were duplicates


def test_unsubscribe_replies_ok_and_frees_the_stream():
    session = connected()
    [sub] = send(session, {"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
    session.requests_received()
    assert send(session, {"event": "unsubscribe", "chanId": sub["chanId"]}) == [
        {"event": "unsubscribed", "status": "OK", "chanId": sub["chanId"]}
    ]
    [req] = session.requests_received()
    assert isinstance(req, Unsubscribe)
    [again] = send(session, {"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
    assert again["event"] == "subscribed"


def test_unsubscribe_of_unknown_chan_id_is_10400_in_the_real_key_order():
    # bitfinex-api-node#349, a real frame: {event:"error",msg:"unsubscribe: invalid",chanId:3316,code:10400}
    session = connected()
    session.receive_text(b'{"event":"unsubscribe","chanId":999}')
    assert session.frames_to_send() == [
        b'{"event":"error","msg":"unsubscribe: invalid","chanId":999,"code":10400}'
    ]
    for bad in ("999", None, True, [100]):
        [reply] = send(session, {"event": "unsubscribe", "chanId": bad})
        assert (reply["code"], reply["msg"]) == (10400, "unsubscribe: invalid"), bad


def test_unsubscribe_takes_the_chan_id_as_a_numeric_string_too():
    session = connected()
    [sub] = send(session, {"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
    session.requests_received()
    assert send(session, {"event": "unsubscribe", "chanId": str(sub["chanId"])}) == [
        {"event": "unsubscribed", "status": "OK", "chanId": sub["chanId"]}
    ]
    [req] = session.requests_received()
    assert isinstance(req, Unsubscribe)


# -- channel frames, seq, timestamps, heartbeats ---------------------------------------------------


def subscribed(session: WsSession, **fields: Any):
    send(session, {"event": "subscribe", **fields})
    [req] = session.requests_received()
    return req.subscription


def test_channel_frames_start_with_the_chan_id():
    session = connected()
    sub = subscribed(session, channel="ticker", symbol="tBTCUSD")
    session.send_channel(sub, b"[1,2]", 5)
    assert session.frames_to_send() == [b"[100,[1,2]]"]


def test_seq_all_numbers_every_array_frame_from_1_across_channels_including_hb_and_cs():
    clock = FakeClock()
    session = connected(clock=clock)
    send(session, {"event": "conf", "flags": SEQ_ALL | OB_CHECKSUM})
    a = subscribed(session, channel="ticker", symbol="tBTCUSD")
    b = subscribed(session, channel="book", symbol="tBTCUSD")
    session.send_channel(a, b"[1]", clock.ms)
    session.send_channel(b, b"[7254.7,3,3.3]", clock.ms)
    session.send_channel(b, ch.render_checksum(-12), clock.ms)
    clock.ms += 15_000
    session.receive_tick(clock.ms)
    frames = sent(session)
    assert frames == [
        [100, [1], 1],
        [101, [7254.7, 3, 3.3], 2],
        [101, "cs", -12, 3],
        [100, "hb", 4],
        [101, "hb", 5],
    ]


def test_events_do_not_take_sequence_numbers():
    session = connected()
    send(session, {"event": "conf", "flags": SEQ_ALL})
    a = subscribed(session, channel="ticker", symbol="tBTCUSD")
    send(session, {"event": "ping", "cid": 1})
    session.send_channel(a, b"[1]", 0)
    assert sent(session) == [[100, [1], 1]]


def test_timestamp_flag_appends_ms_time_after_the_seq():
    session = connected()
    send(session, {"event": "conf", "flags": SEQ_ALL | TIMESTAMP})
    a = subscribed(session, channel="ticker", symbol="tBTCUSD")
    session.send_channel(a, b"[1]", 1581721279360)
    assert sent(session) == [[100, [1], 1, 1581721279360]]


def test_timestamp_flag_alone_appends_only_the_time():
    session = connected()
    send(session, {"event": "conf", "flags": TIMESTAMP})
    a = subscribed(session, channel="book", symbol="tBTCUSD")
    session.send_channel(a, b"[10335,2,1.25]", 1581721279360)
    assert sent(session) == [[100, [10335, 2, 1.25], 1581721279360]]


def test_heartbeat_only_after_15_seconds_of_silence_on_that_channel():
    clock = FakeClock()
    session = connected(clock=clock)
    a = subscribed(session, channel="ticker", symbol="tBTCUSD")
    b = subscribed(session, channel="trades", symbol="tBTCUSD")
    clock.ms += 10_000
    session.send_channel(a, b"[1]", clock.ms)
    session.frames_to_send()
    clock.ms += 5_000
    session.receive_tick(clock.ms)
    assert sent(session) == [[b.chan_id, "hb"]]  # a spoke 5 s ago
    clock.ms += 10_000
    session.receive_tick(clock.ms)
    assert sent(session) == [[a.chan_id, "hb"]]


def test_info_broadcast_reaches_the_session():
    session = connected()
    session.send_info(20051, "Stopping. Please try to reconnect")
    assert sent(session) == [{"event": "info", "code": 20051, "msg": "Stopping. Please try to reconnect"}]


def test_output_callback_fires_once_per_empty_to_non_empty_outbox():
    session = connected()
    calls = []
    session.on_output = lambda: calls.append(1)
    a = subscribed(session, channel="ticker", symbol="tBTCUSD")  # reply queued, then drained
    assert len(calls) == 1
    session.send_channel(a, b"[1]", 0)
    session.send_channel(a, b"[2]", 0)
    assert len(calls) == 2
    session.frames_to_send()
    session.send_channel(a, b"[3]", 0)
    assert len(calls) == 3


# -- channel 0 hosting (spec §8, §7.6) with a stand-in account stream ------------------------------

from venue.protocol.account_stream import InputResult, Kind, Outgoing  # noqa: E402
from venue.core.commands import CancelAllOrders  # noqa: E402
from venue.protocol.ws import Authenticated, Broadcast, Submit  # noqa: E402


class FakeAccount:
    """Just enough of ``AccountStream``: auth OK for key "good", canned frames."""

    def __init__(self) -> None:
        self.authenticated = False
        self.user_id: int | None = None
        self.inputs: list[Any] = []

    def receive_auth(self, message: dict[str, Any]) -> list[Outgoing]:
        if message.get("apiKey") != "good":
            return [Outgoing(Kind.EVENT, {"event": "auth", "status": "FAILED", "chanId": 0,
                                          "code": 10100, "msg": "apikey: invalid"})]
        self.authenticated, self.user_id = True, 7
        return [Outgoing(Kind.EVENT, {"event": "auth", "status": "OK", "chanId": 0, "userId": 7}),
                Outgoing(Kind.ACCOUNT, [0, "ws", []])]

    def receive_input(self, frame: list[Any]) -> InputResult:
        self.inputs.append(frame)
        return InputResult(commands=[CancelAllOrders(user_id=7)],
                           frames=[Outgoing(Kind.REQUEST, [0, "n", ["oc_multi-req"]])],
                           broadcast=[[0, "ucm-test"]] if frame[1] == "n" else [])

    def frames_for(self, seq: int, ts: int, events: Any) -> list[Outgoing]:
        return [Outgoing(Kind.ACCOUNT, [0, "wu", ["exchange", "USD"]]),
                Outgoing(Kind.NOTICE, [0, "n", ["ucm-x"]])]

    def receive_broadcast(self, note: list[Any]) -> list[Outgoing]:
        return [Outgoing(Kind.NOTICE, [0, "n", note])]

    def close_commands(self) -> list[Any]:
        return [CancelAllOrders(user_id=7)]


def account_session(**kwargs: Any) -> WsSession:
    ids = itertools.count(100)
    session = WsSession(SessionConfig(server_id="s", **kwargs), is_listed=LISTED.__contains__,
                        now_ms=FakeClock(), next_chan_id=lambda: next(ids), account=FakeAccount())
    session.frames_to_send()
    return session


def test_auth_ok_makes_the_connection_channel_0_of_its_user():
    session = account_session()
    frames = send(session, {"event": "auth", "apiKey": "good"})
    assert frames == [{"event": "auth", "status": "OK", "chanId": 0, "userId": 7}, [0, "ws", []]]
    assert session.requests_received() == [Authenticated(7)]


def test_failed_auth_is_passed_through_and_routes_nothing():
    session = account_session()
    [reply] = send(session, {"event": "auth", "apiKey": "bad"})
    assert reply["status"] == "FAILED" and session.requests_received() == []
    session.receive_applied(1, 1, [])
    assert session.frames_to_send() == []


def test_channel_0_takes_one_channel_slot_once_authenticated():
    session = account_session(channel_limit=1)
    send(session, {"event": "auth", "apiKey": "good"})
    [reply] = send(session, {"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
    assert reply["code"] == 10305


def test_channel_0_inputs_become_submit_requests_in_order():
    session = account_session()
    send(session, {"event": "auth", "apiKey": "good"})
    session.requests_received()
    assert send(session, [0, "oc_multi", None, {"all": 1}]) == [[0, "n", ["oc_multi-req"]]]
    assert session.requests_received() == [Submit((CancelAllOrders(user_id=7),))]


def test_user_notifications_are_broadcast_to_the_users_other_connections():
    session = account_session()
    send(session, {"event": "auth", "apiKey": "good"})
    session.requests_received()
    send(session, [0, "n", None, {"type": "ucm-test"}])
    requests = session.requests_received()
    assert Broadcast(7, ([0, "ucm-test"],)) in requests


def test_seq_all_on_channel_0_appends_pub_then_auth_seq_sharing_the_pub_counter():
    session = account_session()
    send(session, {"event": "conf", "flags": SEQ_ALL})
    [_, snapshot] = send(session, {"event": "auth", "apiKey": "good"})
    assert snapshot == [0, "ws", [], 1, 1]
    session.requests_received()
    pub = subscribed(session, channel="ticker", symbol="tBTCUSD")
    session.send_channel(pub, b"[1]", 0)
    session.receive_applied(5, 0, [])
    session.receive_text(b'[0,"oc",null,{"id":1}]')  # a *-req answer: only the current auth seq
    session.receive_applied(6, 0, [])
    frames = sent(session)
    assert frames == [
        [100, [1], 2],
        [0, "wu", ["exchange", "USD"], 3, 2],
        [0, "n", ["ucm-x"], 4, 2],  # notifications do not advance the auth seq
        [0, "n", ["oc_multi-req"], 2],
        [0, "wu", ["exchange", "USD"], 5, 3],
        [0, "n", ["ucm-x"], 6, 3],
    ]


def test_channel_0_heartbeat_carries_only_the_public_seq():
    clock = FakeClock()
    ids = itertools.count(100)
    session = WsSession(SessionConfig(server_id="s"), is_listed=LISTED.__contains__, now_ms=clock,
                        next_chan_id=lambda: next(ids), account=FakeAccount())
    send(session, {"event": "conf", "flags": SEQ_ALL})
    send(session, {"event": "auth", "apiKey": "good"})
    clock.ms += 15_000
    session.receive_tick(clock.ms)
    assert sent(session) == [[0, "hb", 2]]


def test_dead_man_switch_commands_come_from_the_account_stream_on_close():
    session = account_session()
    assert session.close_commands() == []  # not authenticated: nothing to cancel
    session = account_session()
    send(session, {"event": "auth", "apiKey": "good"})
    assert session.close_commands() == [CancelAllOrders(user_id=7)]
