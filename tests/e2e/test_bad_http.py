"""Malformed HTTP gets Bitfinex's error shape, not aiohttp's text/plain page and a logged traceback.

Two places answered before venue's error middleware could: aiohttp's HTTP parser (an over-long
request line or header, an unknown method, a bad chunk size or Content-Length: a text/plain 400
and "Error handling request" with a stack trace in the log) and a body that does not decode as
its Content-Encoding says (``request.read()`` raised into the middleware's catch-all: 10000
"unknown error" and ``log.exception``). Bitfinex's text for these is unknown; venue answers HTTP
500 ``["error",10020,"request: invalid"]``, the generic parameter error it already uses for
other unparsable requests (app._http_exception_answer).
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import time
import urllib.request

import pytest

from tests.e2e.conftest import RunningServer

EXPECTED = ["error", 10020, "request: invalid"]


def _exchange(server: RunningServer, raw: bytes) -> tuple[bytes, bytes]:
    """Send raw bytes on a fresh connection; (status line, body) of the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        while True:  # every answer here closes the connection
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0], body


LONG = b"A" * 9000  # over aiohttp's 8190-byte line limit

MALFORMED = {
    "long request line (POST)": b"POST /v2/auth/r/wallets?x=" + LONG + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "long request line (WS upgrade)": b"GET /ws/2?" + LONG + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "long header": b"GET /v2/ticker/tBTCUSD HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nX: " + LONG + b"\r\n\r\n",
    "unknown method": b"BREW /v2/ticker/tBTCUSD HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad chunk size": b"POST /v2/calc/fx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "bad Content-Length": b"POST /v2/auth/r/wallets HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "bad HTTP version": b"GET /v2/ticker/tBTCUSD HTTP/9.9\r\nHost: x\r\n\r\n",
    "undecodable gzip body": b"POST /v2/calc/fx HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Content-Encoding: gzip\r\n\r\nabcde",
    "undecodable deflate body (auth)": b"POST /v2/auth/w/order/submit HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Content-Encoding: deflate\r\n\r\nabcde",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_http_gets_the_error_shape_and_no_traceback(
    server: RunningServer, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    status, body = _exchange(server, raw)
    assert status.split(b" ")[1] == b"500", status
    assert json.loads(body) == EXPECTED
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
    # the server keeps serving
    with urllib.request.urlopen(f"{server.rest_url}/platform/status", timeout=5) as answer:
        assert json.loads(answer.read()) == [1]


@pytest.mark.parametrize("path", ["/v2/auth/w/order/submit", "/v2/calc/fx"])
@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
def test_a_client_leaving_mid_body_is_not_a_logged_error(
    server: RunningServer, path: str, reset: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # request.read() raised ConnectionResetError into the middleware's catch-all, which logged
    # "unhandled error" with a stack trace for every client that hung up while sending a body
    caplog.set_level(logging.INFO)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode() + b'{"type":')
    time.sleep(0.1)  # the handler is waiting for the rest of the body
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    time.sleep(0.2)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
    with urllib.request.urlopen(f"{server.rest_url}/platform/status", timeout=5) as answer:
        assert json.loads(answer.read()) == [1]
