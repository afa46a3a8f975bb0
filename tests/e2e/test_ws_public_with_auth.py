"""Public channels and channel 0 on one connection (spec §7.6, §7.7, §8).

With SEQ_ALL, the public sequence is one counter for the whole connection: book frames,
checksums and channel-0 frames all take the next number; channel-0 frames add AUTH_SEQ after it.
An order placed over channel 0 shows up both in the account stream and in the public book.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

import aiohttp
import orjson

from tests.e2e.conftest import RunningServer


def auth_frame(key: str, secret: str, **extra: Any) -> str:
    nonce = str(time.time_ns() // 1000)
    payload = f"AUTH{nonce}"
    signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha384).hexdigest()
    return orjson.dumps({"event": "auth", "apiKey": key, "authSig": signature, "authNonce": nonce,
                         "authPayload": payload, **extra}).decode()


async def read_until(ws: aiohttp.ClientWebSocketResponse, done: Any, out: list[Any]) -> Any:
    while True:
        message = orjson.loads(await ws.receive_str(timeout=5))
        out.append(message)
        if done(message):
            return message


async def test_one_connection_numbers_public_and_account_frames_with_one_counter(server: RunningServer):
    _, key, secret = server.create_account("carol", {"USD": "100000"})
    frames: list[Any] = []
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(server.ws_url)
        await read_until(ws, lambda m: m.get("event") == "info", frames)
        await ws.send_str('{"event":"conf","flags":196608}')
        await read_until(ws, lambda m: isinstance(m, dict) and m.get("event") == "conf", frames)
        await ws.send_str(orjson.dumps({"event": "subscribe", "channel": "book",
                                        "symbol": "tBTCUSD", "prec": "R0"}).decode())
        sub = await read_until(ws, lambda m: isinstance(m, dict) and m.get("event") == "subscribed", frames)
        chan = sub["chanId"]
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "cs", frames)
        await ws.send_str(auth_frame(key, secret))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "fls", frames)
        order = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.5", "price": "80000"}
        await ws.send_str(orjson.dumps([0, "on", None, order]).decode())
        # the order reaches the account stream and the public raw book, in either order
        seen: set[str] = set()

        def both(m: Any) -> bool:
            if isinstance(m, list) and m[0] == 0 and m[1] == "on":
                seen.add("on")
            if isinstance(m, list) and m[0] == chan and m[1] == "cs":
                seen.add("cs")
            return seen == {"on", "cs"}

        await asyncio.wait_for(read_until(ws, both, frames), 10)
        await ws.close()

    arrays = [m for m in frames if isinstance(m, list)]
    public_seqs = []
    for m in arrays:
        if m[0] == 0 and m[1] == "n":
            continue  # an on-req notification carries only AUTH_SEQ (§7.6)
        public_seqs.append(m[-2] if m[0] == 0 else m[-1])
    assert public_seqs == list(range(1, len(public_seqs) + 1))
    auth_seqs = [m[-1] for m in arrays if m[0] == 0 and m[1] != "n"]
    assert auth_seqs == list(range(1, len(auth_seqs) + 1))
    book_rows = [m[1] for m in arrays if m[0] == chan and isinstance(m[1], list) and len(m[1]) == 3]
    assert [row[1:] for row in book_rows] == [[80000, 0.5]]
