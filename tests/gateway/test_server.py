"""A whole server: TLS listener, periodic Tick, restart with the same data directory."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from venue.config import Settings, load_settings
from venue.core.commands import SubmitOrder
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderType
from venue.gateway import tls

from tests.e2e.conftest import RunningServer


def _settings(data_dir: Path, **changes: object) -> Settings:
    base = replace(load_settings(data_dir=data_dir, port=0), rate_limits=False, durability="os")
    return replace(base, **changes)  # type: ignore[arg-type]


def _get(url: str, context: ssl.SSLContext | None = None) -> object:
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return json.loads(response.read())


def test_self_signed_tls_listener_serves_the_same_api(tmp_path: Path) -> None:
    server = RunningServer(_settings(tmp_path, tls_port=0, self_signed=True))
    try:
        assert server.server.tls_port is not None
        trust = ssl.create_default_context(cafile=str(tmp_path / tls.CERT_FILE))
        # the certificate names 127.0.0.1 (an IP subjectAltName), so verification passes
        assert _get(f"https://127.0.0.1:{server.server.tls_port}/v2/platform/status", trust) == [1]
        assert _get(f"https://localhost:{server.server.tls_port}/v2/platform/status", trust) == [1]
        assert _get(f"{server.rest_url}/platform/status") == [1]
        key_mode = (tmp_path / tls.KEY_FILE).stat().st_mode & 0o777
        assert key_mode == 0o600
    finally:
        server.close()


def test_self_signed_certificate_is_made_once_and_reused(tmp_path: Path) -> None:
    cert, key = tls.ensure_self_signed(tmp_path)
    first = cert.read_bytes()
    assert tls.ensure_self_signed(tmp_path) == (cert, key)
    assert cert.read_bytes() == first


def test_a_tick_is_submitted_every_interval_when_nobody_trades(tmp_path: Path) -> None:
    server = RunningServer(_settings(tmp_path, tick_interval_s=0.05))
    try:
        before = server.ctx.sequencer.last_seq
        time.sleep(0.5)
        assert server.ctx.sequencer.last_seq >= before + 3
    finally:
        server.close()


_HISTORY_PATHS = [
    *(f"candles/trade:{tf}:tETHUSD/hist" for tf in ("1m", "5m", "15m", "30m", "1h", "3h", "6h",
                                                    "12h", "1D", "1W", "14D", "1M")),
    "stats1/vwap:1d:tETHUSD/hist",
    "stats1/vol.1d:30m:BFX/hist?sort=1&limit=1",  # the first bucket: later ones may open
]


def test_book_trades_and_accounts_survive_a_restart(tmp_path: Path) -> None:
    server = RunningServer(_settings(tmp_path))
    try:
        seller, _, _ = server.create_account("seller", {"ETH": "10"})
        buyer, key, _ = server.create_account("buyer", {"USD": "10000"})
        order = SubmitOrder(seller, "tETHUSD", OrderType.EXCHANGE_LIMIT, parse_amount("-2"), parse_price("3001"))
        server.submit(order)
        server.submit(replace(order, user_id=buyer, amount=parse_amount("0.5")))
        book = _get(f"{server.rest_url}/book/tETHUSD/P0")
        trades = _get(f"{server.rest_url}/trades/tETHUSD/hist")
        ticker = _get(f"{server.rest_url}/ticker/tETHUSD")
        history = {path: _get(f"{server.rest_url}/{path}") for path in _HISTORY_PATHS}
    finally:
        server.close()
    assert book == [[3001, 1, -1.5]]
    assert all(len(answer) == 1 for answer in history.values()), history
    restarted = RunningServer(_settings(tmp_path))
    try:
        assert _get(f"{restarted.rest_url}/book/tETHUSD/P0") == book
        assert _get(f"{restarted.rest_url}/trades/tETHUSD/hist") == trades
        assert _get(f"{restarted.rest_url}/ticker/tETHUSD") == ticker
        # candles of every timeframe and the stats series come back from the history store
        assert {path: _get(f"{restarted.rest_url}/{path}") for path in _HISTORY_PATHS} == history
        assert restarted.ctx.exchange.api_key(key) is not None
    finally:
        restarted.close()


def test_a_port_in_use_fails_start_and_leaves_the_data_directory_usable(tmp_path: Path) -> None:
    import pytest
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            RunningServer(_settings(tmp_path, port=port))
    # the journal lock was released: a server starts on the same directory
    RunningServer(_settings(tmp_path)).close()


def test_websocket_connections_are_counted_for_the_demo_status_line(tmp_path: Path) -> None:
    import asyncio

    import aiohttp

    server = RunningServer(_settings(tmp_path))
    try:

        async def connect_and_count() -> tuple[int, object]:
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(server.ws_url) as ws:
                    info = await ws.receive_json(timeout=10)
                    return server.ctx.stats.connections, info

        open_count, info = asyncio.run(connect_and_count())
        assert open_count == 1
        assert isinstance(info, dict) and info.get("event") == "info" and info.get("version") == 2
        deadline = time.monotonic() + 5
        while server.ctx.stats.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.ctx.stats.connections == 0
    finally:
        server.close()
