"""The application's error boundary and rate limits (spec/bitfinex-v2.md §9)."""

from __future__ import annotations

from pathlib import Path

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from venue.gateway.app import ServerContext, build_app, rate_limit_key
from venue.gateway.clock import ManualClock

from tests.gateway.fakes import fake_context


async def _client(ctx: ServerContext, extra: web.RouteTableDef | None = None) -> TestClient:
    app = build_app(ctx)
    if extra is not None:
        app.router.add_routes(extra)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_platform_status_is_operative(tmp_path: Path) -> None:
    client = await _client(fake_context(tmp_path))
    try:
        response = await client.get("/v2/platform/status")
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert await response.read() == b"[1]"
    finally:
        await client.close()


async def test_unknown_path_is_an_error_array_with_http_500(tmp_path: Path) -> None:
    client = await _client(fake_context(tmp_path))
    try:
        response = await client.get("/v2/no/such/endpoint")
        assert response.status == 500
        assert orjson.loads(await response.read()) == ["error", 10020, "path: invalid"]
    finally:
        await client.close()


async def test_wrong_method_is_an_error_array_with_http_500(tmp_path: Path) -> None:
    client = await _client(fake_context(tmp_path))
    try:
        response = await client.post("/v2/platform/status")
        assert response.status == 500
        assert orjson.loads(await response.read()) == ["error", 10020, "method: invalid"]
    finally:
        await client.close()


async def test_escaped_exception_becomes_error_array_without_stack_trace(tmp_path: Path) -> None:
    routes = web.RouteTableDef()

    @routes.get("/v2/boom")
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internal detail")

    client = await _client(fake_context(tmp_path), routes)
    try:
        response = await client.get("/v2/boom")
        body = await response.read()
        assert response.status == 500
        assert orjson.loads(body) == ["error", 10000, "unknown error"]
        assert b"secret" not in body and b"Traceback" not in body
        # the server keeps serving after the failure
        assert (await client.get("/v2/platform/status")).status == 200
    finally:
        await client.close()


async def test_over_the_limit_gets_429_ratelimit_error_and_60_s_block(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, rate_limits=True)
    assert isinstance(ctx.clock, ManualClock)
    client = await _client(ctx)
    try:
        # platform/status allows 30 requests per minute (§9)
        for _ in range(30):
            assert (await client.get("/v2/platform/status")).status == 200
        refused = await client.get("/v2/platform/status")
        assert refused.status == 429
        assert orjson.loads(await refused.read()) == ["error", 11010, "ratelimit: error"]
        # the window has passed, but the 60 s penalty started at the refusal
        ctx.clock.advance(59)
        assert (await client.get("/v2/platform/status")).status == 429
        ctx.clock.advance(60)
        assert (await client.get("/v2/platform/status")).status == 200
    finally:
        await client.close()


async def test_limits_count_per_endpoint(tmp_path: Path) -> None:
    ctx = fake_context(tmp_path, rate_limits=True)
    client = await _client(ctx)
    try:
        for _ in range(31):
            await client.get("/v2/platform/status")
        assert (await client.get("/v2/platform/status")).status == 429
        # another endpoint has its own counter and is not blocked
        assert (await client.get("/v2/conf/pub:list:currency")).status == 200
    finally:
        await client.close()


def test_rate_limit_keys_follow_the_spec_endpoint_names() -> None:
    assert rate_limit_key("/v2/platform/status") == ("platform/status", "platform/status")
    assert rate_limit_key("/v2/tickers") == ("tickers", "tickers")
    assert rate_limit_key("/v2/tickers/hist") == ("tickers/hist", "tickers/hist")
    assert rate_limit_key("/v2/ticker/tBTCUSD") == ("ticker", "ticker")
    assert rate_limit_key("/v2/book/tBTCUSD/P0") == ("book", "book")
    assert rate_limit_key("/v2/candles/trade:1m:tBTCUSD/hist") == ("candles", "candles")
    assert rate_limit_key("/v2/calc/trade/avg") == ("calc/trade/avg", "calc/trade/avg")
    assert rate_limit_key("/v2/calc/fx") == ("calc/fx", "calc/fx")
    assert rate_limit_key("/v2/auth/r/wallets") == ("auth", "auth/r/wallets")
    assert rate_limit_key("/ws/2") is None


async def test_a_failed_journal_answers_not_ready_and_the_server_keeps_reading(tmp_path: Path) -> None:
    from venue.gateway.sequencer import SequencerStopped

    routes = web.RouteTableDef()

    @routes.post("/v2/test/journal-write")
    async def submit(request: web.Request) -> web.Response:
        raise SequencerStopped("journal cannot write: disk full")

    client = await _client(fake_context(tmp_path), routes)
    try:
        response = await client.post("/v2/test/journal-write", data=b"{}")
        assert response.status == 500
        assert orjson.loads(await response.read()) == ["error", 11000, "journal: unavailable"]
        assert (await client.get("/v2/platform/status")).status == 200
    finally:
        await client.close()
