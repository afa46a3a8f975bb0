"""The fast path for public GETs (server.FastPath) answers exactly what the aiohttp routes
answer, and hands everything else — with the bytes already read — to aiohttp."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from venue.config import load_settings
from venue.core.commands import SubmitOrder
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderType

from tests.e2e.conftest import RunningServer


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, RunningServer]]:
    """The same market on a fast-path server and on a plain aiohttp one."""
    running = []
    for fast in (True, False):
        data_dir: Path = tmp_path_factory.mktemp("fast" if fast else "plain")
        settings = replace(
            load_settings(data_dir=data_dir, port=0), rate_limits=False, durability="os", fast_path=fast
        )
        server = RunningServer(settings)
        seller, _, _ = server.create_account("seller", {"BTC": "1"})
        buyer, _, _ = server.create_account("buyer", {"USD": "100000"})
        order = SubmitOrder(seller, "tBTCUSD", OrderType.EXCHANGE_LIMIT, parse_amount("-0.5"), parse_price("90000"))
        server.submit(order)
        server.submit(replace(order, user_id=buyer, amount=parse_amount("0.1")))
        running.append(server)
    yield running[0], running[1]
    for server in running:
        server.close()


def _exchange(port: int, payload: bytes, responses: int = 1) -> list[tuple[int, dict[str, str], bytes]]:
    """Send raw bytes, read ``responses`` HTTP responses (Content-Length framed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        data = b""
        answers = []
        while len(answers) < responses:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            while b"\r\n\r\n" in data and len(answers) < responses:
                head, rest = data.split(b"\r\n\r\n", 1)
                lines = head.decode().split("\r\n")
                status = int(lines[0].split(" ")[1])
                headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
                length = int(headers.get("content-length", "0"))
                if len(rest) < length:
                    break
                answers.append((status, headers, rest[:length]))
                data = rest[length:]
        return answers


def _get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n{extra}\r\n".encode()


PATHS = [
    "/v2/platform/status",
    "/v2/ticker/tBTCUSD",
    "/v2/tickers?symbols=tBTCUSD,tETHUSD",
    "/v2/tickers?symbols=ALL",
    "/v2/book/tBTCUSD/P0?len=25",
    "/v2/book/tBTCUSD/R0",
    "/v2/trades/tBTCUSD/hist?limit=5&sort=1",
    "/v2/candles/trade:1m:tBTCUSD/hist",
    "/v2/candles/trade%3A1m%3AtBTCUSD/last",
    "/v2/candles/trade:1m:tTESTBTC:TESTUSD/hist",
    "/v2/stats1/vwap:1d:tBTCUSD/last",
    "/v2/conf/pub:list:pair:exchange,pub:list:currency",
    "/v2/ticker/tNOPE",
    "/v2/book/tBTCUSD/P9",
    "/v2/trades/tBTCUSD/hist?limit=99999",
    "/v2/trades/tBTCUSD/hist?limit=2&limit=99999",
    "/v2/tickers",
    "/v2/no/such/path",
    "/v2/ticker/",
    "/v2/ticker/tBTCUSD/",
]


@pytest.mark.parametrize("path", PATHS)
def test_fast_path_answers_like_aiohttp(servers: tuple[RunningServer, RunningServer], path: str) -> None:
    fast, plain = servers
    ((fast_status, fast_headers, fast_body),) = _exchange(fast.port, _get(path))
    ((plain_status, plain_headers, plain_body),) = _exchange(plain.port, _get(path))
    # trade ids, order ids and times differ between the two servers only in the trade row
    if "trades" not in path and "candles" not in path and "stats1" not in path:
        assert fast_body == plain_body
    assert fast_status == plain_status
    assert fast_headers["content-type"] == plain_headers["content-type"] == "application/json; charset=utf-8"
    assert "date" in fast_headers


def test_pipelined_requests_are_answered_in_order_across_the_hand_over(
    servers: tuple[RunningServer, RunningServer],
) -> None:
    fast, _ = servers
    body = b'{"ccy1":"BTC","ccy2":"USD"}'
    post = (
        b"POST /v2/calc/fx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    answers = _exchange(
        fast.port, _get("/v2/platform/status") + _get("/v2/ticker/tNOPE") + post + _get("/v2/platform/status"), 4
    )
    assert [(status, payload) for status, _, payload in answers] == [
        (200, b"[1]"),
        (500, b'["error",10020,"symbol: invalid"]'),
        (200, b"[90000]"),
        (200, b"[1]"),
    ]


def test_a_request_split_across_packets_is_answered(servers: tuple[RunningServer, RunningServer]) -> None:
    fast, _ = servers
    with socket.create_connection(("127.0.0.1", fast.port), timeout=10) as sock:
        request = _get("/v2/platform/status")
        sock.sendall(request[:10])
        sock.sendall(request[10:])
        assert sock.recv(4096).endswith(b"\r\n\r\n[1]")


def test_head_and_connection_close_are_left_to_aiohttp(servers: tuple[RunningServer, RunningServer]) -> None:
    fast, _ = servers
    ((status, headers, _),) = _exchange(fast.port, _get("/v2/platform/status", "Connection: close\r\n"))
    assert status == 200 and headers.get("connection", "").lower() == "close"
    with socket.create_connection(("127.0.0.1", fast.port), timeout=10) as sock:
        sock.sendall(b"HEAD /v2/platform/status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")


def test_the_same_request_again_sees_a_new_trade(servers: tuple[RunningServer, RunningServer]) -> None:
    fast, _ = servers
    ((_, _, before),) = _exchange(fast.port, _get("/v2/ticker/tBTCUSD"))
    buyer = fast.ctx.exchange.user_by_name("buyer").user_id
    fast.submit(
        SubmitOrder(buyer, "tBTCUSD", OrderType.EXCHANGE_LIMIT, parse_amount("0.2"), parse_price("90000"))
    )
    fast.run(_noop())
    ((_, _, after),) = _exchange(fast.port, _get("/v2/ticker/tBTCUSD"))
    assert before != after and b",0.3," in after  # the volume went from 0.1 to 0.3


async def _noop() -> None:
    return None


def test_idle_keep_alive_connections_are_closed(servers: tuple[RunningServer, RunningServer]) -> None:
    import time

    fast, _ = servers
    fast_path = fast.server._fast
    assert fast_path is not None
    with socket.create_connection(("127.0.0.1", fast.port), timeout=10) as sock:
        sock.sendall(_get("/v2/platform/status"))
        assert sock.recv(4096).endswith(b"[1]")

        async def sweep(now: float) -> int:
            return fast_path.close_idle(now)

        assert fast.run(sweep(time.monotonic())) == 0  # just active
        assert fast.run(sweep(time.monotonic() + 76)) >= 1
        assert sock.recv(4096) == b""  # closed by the server


def test_requests_that_decode_alike_are_not_confused(servers: tuple[RunningServer, RunningServer]) -> None:
    fast, plain = servers
    for server in (fast, plain):
        # one parameter "tBTCUSD&tETHUSD" (no listed symbol) versus two parameters
        ((_, _, encoded),) = _exchange(server.port, _get("/v2/tickers?symbols=tBTCUSD%26tETHUSD"))
        ((_, _, split),) = _exchange(server.port, _get("/v2/tickers?symbols=tBTCUSD&tETHUSD"))
        assert encoded == b"[]"
        assert split.startswith(b'[["tBTCUSD",')
        ((_, _, encoded_again),) = _exchange(server.port, _get("/v2/tickers?symbols=tBTCUSD%26tETHUSD"))
        assert encoded_again == b"[]"


def test_platform_status_follows_an_announced_maintenance(
    servers: tuple[RunningServer, RunningServer],
) -> None:
    from venue.gateway.ws import broadcast_info

    for server in servers:
        request = _get("/v2/platform/status")
        assert _exchange(server.port, request * 2, responses=2)[1][2] == b"[1]"  # memoised now
        try:
            server.run(broadcast_info(server.ctx, 20060, "Entering maintenance mode"))
            ((status, _, body),) = _exchange(server.port, request)
            assert (status, body) == (200, b"[0]")  # §3.1: 0 = maintenance
        finally:
            server.run(broadcast_info(server.ctx, 20061, "Maintenance ended"))
        assert _exchange(server.port, request)[0][2] == b"[1]"


def test_connection_keep_alive_is_answered_on_the_fast_path(
    servers: tuple[RunningServer, RunningServer],
) -> None:
    # requests (under bfxapi) sends "Connection: keep-alive" with every call: HTTP/1.1's default
    fast, _ = servers
    request = _get("/v2/ticker/tBTCUSD", "Connection: keep-alive\r\n")
    answers = _exchange(fast.port, request * 2, responses=2)
    assert [(status, headers["server"]) for status, headers, _ in answers] == [(200, "venue")] * 2
    assert answers[0][2] == answers[1][2] == _exchange(fast.port, _get("/v2/ticker/tBTCUSD"))[0][2]
