"""WsSession under arbitrary input: it answers everything, never raises, and keeps SEQ_ALL
contiguous whatever the mix of requests and channel traffic (spec §7.6, design "Errors are
answers")."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from venue.protocol.ws import SEQ_ALL, SessionConfig, WsSession

LISTED = {"tBTCUSD", "tETHUSD"}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=8),
                    st.sampled_from(["tBTCUSD", "tETHUSD", "P0", "R0", "F1", "25", "trade:1m:tBTCUSD"]))
values = st.one_of(scalars, st.lists(st.integers(-9, 9), max_size=2),
                   st.dictionaries(st.text(max_size=2), st.integers(-9, 9), max_size=2))
requests = st.fixed_dictionaries(
    {"event": st.sampled_from(["subscribe", "unsubscribe", "conf", "ping", "auth", "unauth", "x"])},
    optional={
        "channel": st.one_of(st.sampled_from(["book", "ticker", "trades", "candles", "status"]), values),
        "symbol": values, "pair": values, "prec": values, "freq": values, "len": values,
        "key": values, "chanId": st.one_of(st.integers(0, 12), values), "flags": values,
        "cid": values, "subId": values,
    },
)
inputs = st.one_of(
    requests.map(lambda r: orjson.dumps(r)),
    st.lists(scalars, max_size=4).map(lambda r: orjson.dumps(r)),
    st.binary(max_size=30),
    st.just(b"[0,\"on\",null,{}]"),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(inputs, st.booleans()), max_size=40))
def test_any_input_gets_json_answers_and_seq_all_stays_contiguous(steps: list[tuple[bytes, bool]]):
    ids = itertools.count(1)
    session = WsSession(SessionConfig(server_id="fuzz", channel_limit=5), is_listed=LISTED.__contains__,
                        now_ms=lambda: 0, next_chan_id=lambda: next(ids))
    session.receive_text(b'{"event":"conf","flags":65536}')
    last_seq = 0
    for data, publish in steps:
        session.receive_text(data)
        session.requests_received()
        if publish:
            for sub in list(session.subscriptions.values()):
                session.send_channel(sub, b"[1,2,3]", 0)
            session.receive_tick(10**9)
        for frame in session.frames_to_send():
            message: Any = orjson.loads(frame)
            if isinstance(message, dict):
                assert "event" in message  # bfxapi indexes message["event"] on every object
            else:
                assert message[-1] == last_seq + 1
                last_seq = message[-1]
    assert len(session.subscriptions) <= 5  # the channel limit holds
