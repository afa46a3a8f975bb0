"""The public channels on the TLS listener (``wss://``, what cryptofeed insists on, clients.md §1):
the same endpoint, the same frames, the fan-out writing through the TLS transport.

The client is ``websockets`` (bfxapi's transport, and cryptofeed's): leaving its context waits
for the closing handshake and the TCP close, so no TLS socket outlives the test."""

from __future__ import annotations

import asyncio
import random
import ssl
from dataclasses import replace

import orjson
import pytest
import websockets

from venue.config import Settings
from venue.gateway import tls

from tests.e2e.conftest import RunningServer
from tests.e2e.test_ws_public import RandomFlow, funded_users, submit_all
from tests.gateway.ws_harness import BookClient


@pytest.fixture
def server_settings(server_settings: Settings) -> Settings:
    return replace(server_settings, tls_port=0, self_signed=True)


async def test_book_channels_over_wss_keep_a_correct_book(server: RunningServer):
    port = server.server.tls_port
    assert port is not None
    trust = ssl.create_default_context(cafile=str(server.data_dir / tls.CERT_FILE))
    flow = RandomFlow(random.Random(3), funded_users(server), "tBTCUSD", "90000", "10")
    client = BookClient()
    async with websockets.connect(f"wss://127.0.0.1:{port}/ws/2", ssl=trust) as ws:
        info = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (info["event"], info["version"]) == ("info", 2)
        await ws.send('{"event":"conf","flags":196608}')  # SEQ_ALL | OB_CHECKSUM
        for prec in ("P0", "R0"):
            await ws.send(orjson.dumps({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD",
                                        "prec": prec, "len": "25", "subId": f"{prec}/25"}).decode())
        for _ in range(10):
            commands = flow.batch(20)
            flow.remember(commands, await submit_all(server, commands))
        while True:
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except asyncio.TimeoutError:
                break
            assert isinstance(text, str)
            client.feed(text)
    assert client.faults == []
    assert len(client.books) == 2 and client.checksums >= 10
