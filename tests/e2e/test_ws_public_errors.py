"""Bad input on /ws/2 gets Bitfinex's error events and codes, never a dropped connection
(spec §7.3, §7.7, §7.8). One raw socket against the whole server."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from tests.e2e.conftest import RunningServer

CASES: list[tuple[Any, int, str]] = [
    ("{not json", 10000, "json: invalid"),
    ('{"event":"ping","pad":"' + "x" * 70_000 + '"}', 10000, "message: too big"),  # > 64 KiB
    ({"event": "dance"}, 10000, "event: invalid"),
    ({"event": "subscribe", "channel": "status", "key": "deriv:tBTCF0:USTF0"}, 10302, "channel: unknown"),
    ({"event": "subscribe", "channel": "ticker", "symbol": "tDOGEUSD"}, 10300, "symbol: invalid"),
    ({"event": "subscribe", "channel": "trades", "symbol": "btcusd"}, 10300, "symbol: invalid"),
    ({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "prec": "P5"}, 10011, "prec: invalid"),
    ({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "len": 10}, 10012, "len: invalid"),
    ({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "freq": "F2"}, 10020, "freq: invalid"),
    ({"event": "subscribe", "channel": "candles", "key": "trade:1x:tBTCUSD"}, 10300, "key: invalid"),
    ({"event": "unsubscribe", "chanId": 424242}, 10400, "unsubscribe: invalid"),
    ({"event": "conf", "flags": "all"}, 10050, "conf: invalid"),
    ([0, "on", None, {"symbol": "tBTCUSD"}], 10100, "auth: invalid"),
]


@pytest.fixture
async def socket(server: RunningServer):
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(server.ws_url)
        info = orjson.loads(await ws.receive_str(timeout=5))
        assert info["event"] == "info" and info["version"] == 2 and info["platform"] == {"status": 1}
        yield ws
        await ws.close()


async def ask(ws: aiohttp.ClientWebSocketResponse, message: Any) -> Any:
    await ws.send_str(message if isinstance(message, str) else orjson.dumps(message).decode())
    return orjson.loads(await ws.receive_str(timeout=5))


async def test_every_bad_request_gets_its_error_code_and_the_connection_stays(socket):
    for message, code, msg in CASES:
        reply = await ask(socket, message)
        assert (reply["event"], reply["code"], reply["msg"]) == ("error", code, msg), message
        if isinstance(message, dict) and message["event"] == "unsubscribe":
            # bitfinex-api-node#349: {event:"error",msg:"unsubscribe: invalid",chanId:…,code:10400}
            assert list(reply) == ["event", "msg", "chanId", "code"]
        elif isinstance(message, dict):
            # the request's own fields are echoed before event/msg/code (xchange-stream#254)
            echoed = [k for k in message if k != "event"]
            assert list(reply)[: len(echoed)] == echoed
    pong = await ask(socket, {"event": "ping", "cid": 9})
    assert pong["event"] == "pong" and pong["cid"] == 9


async def test_double_subscribe_is_dup_and_the_first_subscription_keeps_working(socket):
    first = await ask(socket, {"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "len": "25"})
    assert first["event"] == "subscribed"
    await socket.receive_str(timeout=5)  # its snapshot
    dup = await ask(socket, {"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "len": 25})
    assert (dup["code"], dup["msg"]) == (10301, "subscribe: dup")


async def test_channel_limit_of_30_per_connection(socket):
    symbols = ["tBTCUSD", "tETHUSD", "tETHBTC", "tLTCUSD"]
    accepted = 0
    for symbol in symbols:
        for prec in ("P0", "P1", "P2", "P3", "P4", "R0"):
            for length in (25, 100):
                if accepted == 30:
                    break
                reply = await ask(socket, {"event": "subscribe", "channel": "book", "symbol": symbol,
                                           "prec": prec, "len": length})
                assert reply["event"] == "subscribed", reply
                await socket.receive_str(timeout=5)  # snapshot
                accepted += 1
    refused = await ask(socket, {"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
    assert (refused["code"], refused["msg"]) == (10305, "subscribe: limit")
