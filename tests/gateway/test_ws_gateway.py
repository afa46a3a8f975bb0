"""/ws/2 over a real socket: snapshots then updates, checksums, seq, limits, fan-out plumbing.

The app here serves only the WS endpoint and is fed by a fake sequencer with real
``views.books``; tests/e2e runs the same channels against the whole server.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
import orjson
import pytest

from venue.core.events import OrderAccepted, OrderClosed, OrderUpdated, TradeExecuted
from venue.core.numbers import parse_amount, parse_price
from venue.gateway import ws as ws_gateway
from venue.gateway.fanout import Flusher, Outlet
from venue.gateway.ws import WsLimits
from venue.protocol.ws import OB_CHECKSUM, SEQ_ALL, SessionConfig, WsSession

from tests.gateway.ws_harness import (
    BookClient,
    FakeMarketData,
    LocalBook,
    lossless,
    make_ctx,
    order,
    start_server,
)

SEQ_CS = SEQ_ALL | OB_CHECKSUM


@pytest.fixture
async def served(tmp_path):
    ctx = make_ctx(tmp_path)
    server = await start_server(ctx)
    async with aiohttp.ClientSession() as http:
        yield ctx, server, http
    await server.close()


async def connect(server: Any, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(server.make_url("/ws/2"))
    info = orjson.loads(await ws.receive_str())
    assert info["event"] == "info" and info["version"] == 2 and info["platform"] == {"status": 1}
    return ws


async def request(ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]) -> Any:
    await ws.send_str(orjson.dumps(message).decode())
    return orjson.loads(await ws.receive_str(timeout=2))


async def receive_all(ws: aiohttp.ClientWebSocketResponse, quiet: float = 0.15) -> list[str]:
    """Every text frame until the socket is quiet for ``quiet`` seconds."""
    out: list[str] = []
    while True:
        try:
            msg = await ws.receive(timeout=quiet)
        except asyncio.TimeoutError:
            return out
        if msg.type != aiohttp.WSMsgType.TEXT:
            return out
        out.append(msg.data)


def p(text: str) -> int:
    return parse_price(text)


def a(text: str) -> int:
    return parse_amount(text)


# -- connection-level behaviour -----------------------------------------------------------------


async def test_first_frame_is_info_and_ping_gets_pong(served):
    ctx, server, http = served
    ws = await connect(server, http)
    pong = await request(ws, {"event": "ping", "cid": 42})
    assert pong["event"] == "pong" and pong["cid"] == 42 and isinstance(pong["ts"], int)
    await ws.close()


async def test_protocol_level_ping_gets_a_pong_with_the_same_payload(served):
    # ccxt, cryptofeed and websockets (bfxapi) keep connections alive with RFC 6455 pings and
    # drop them when no pong comes back (clients.md "Keep-alive")
    ctx, server, http = served
    ws = await http.ws_connect(server.make_url("/ws/2"), autoping=False)
    assert orjson.loads(await ws.receive_str(timeout=2))["event"] == "info"
    await ws.ping(b"keepalive-1")
    msg = await ws.receive(timeout=2)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.PONG, b"keepalive-1")
    await ws.close()


async def test_shutdown_tells_every_client_20051_then_closes_with_1001(tmp_path):
    ctx = make_ctx(tmp_path)
    server = await start_server(ctx)
    async with aiohttp.ClientSession() as http:
        ws = await connect(server, http)
        closing = asyncio.ensure_future(server.close())
        info = orjson.loads(await ws.receive_str(timeout=5))
        assert (info["event"], info["code"]) == ("info", 20051)  # bfxapi reconnects on it
        msg = await ws.receive(timeout=5)
        assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)
        await ws.close()
        await closing


async def test_per_ip_connection_rate_answers_http_429(tmp_path):
    ctx = make_ctx(tmp_path, WsLimits(connections_per_minute=2))
    server = await start_server(ctx)
    try:
        async with aiohttp.ClientSession() as http:
            first = await connect(server, http)
            second = await connect(server, http)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(server.make_url("/ws/2"))
            assert refused.value.status == 429
            await first.close()
            await second.close()
    finally:
        await server.close()


async def test_oversized_frame_gets_an_error_event_and_the_connection_keeps_working(tmp_path):
    ctx = make_ctx(tmp_path, WsLimits(max_message=1024, max_frame=8192))
    server = await start_server(ctx)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await connect(server, http)
            await ws.send_str('{"event":"ping","pad":"' + "x" * 2000 + '"}')
            assert orjson.loads(await ws.receive_str(timeout=2)) == {
                "event": "error", "msg": "message: too big", "code": 10000
            }
            await ws.send_bytes(b"[" + b"0," * 600 + b"0]")  # binary frames count bytes
            assert orjson.loads(await ws.receive_str(timeout=2))["msg"] == "message: too big"
            pong = await request(ws, {"event": "ping", "cid": 3})
            assert (pong["event"], pong["cid"]) == ("pong", 3)
            await ws.close()
    finally:
        await server.close()


async def test_frame_beyond_the_hard_limit_closes_with_1009(tmp_path):
    # a frame is buffered whole before it can be answered: past max_frame the connection goes
    ctx = make_ctx(tmp_path, WsLimits(max_message=1024, max_frame=4096))
    server = await start_server(ctx)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await connect(server, http)
            await ws.send_str('{"event":"ping","pad":"' + "x" * 5000 + '"}')
            msg = await ws.receive(timeout=2)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1009
    finally:
        await server.close()


def test_frame_limit_is_never_below_the_message_limit_and_0_switches_it_off():
    assert WsLimits().frame_limit == 1024 * 1024
    assert WsLimits(max_message=2_000_000).frame_limit == 2_000_000
    assert WsLimits(max_frame=0).frame_limit == 0


async def test_broadcast_info_reaches_every_connection(served):
    ctx, server, http = served
    sockets = [await connect(server, http) for _ in range(3)]
    told = await ws_gateway.broadcast_info(ctx, 20060, "Entering maintenance")
    assert told == 3
    for ws in sockets:
        assert orjson.loads(await ws.receive_str(timeout=2)) == {
            "event": "info", "code": 20060, "msg": "Entering maintenance"
        }
        await ws.close()
    # during maintenance new connections are told the platform is not operative
    late = await http.ws_connect(server.make_url("/ws/2"))
    assert orjson.loads(await late.receive_str(timeout=2))["platform"] == {"status": 0}
    await ws_gateway.broadcast_info(ctx, 20061, "Maintenance ended")
    assert orjson.loads(await late.receive_str(timeout=2))["code"] == 20061
    await late.close()
    again = await connect(server, http)
    await again.close()


# -- book channels --------------------------------------------------------------------------------


async def test_book_snapshot_then_updates_then_checksum(served):
    ctx, server, http = served
    seq = ctx.sequencer
    seq.release([OrderAccepted(order(1, "tBTCUSD", a("1"), p("100"))),
                 OrderAccepted(order(2, "tBTCUSD", a("-2"), p("101")))])
    ws = await connect(server, http)
    await request(ws, {"event": "conf", "flags": OB_CHECKSUM})
    reply = await request(ws, {"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "len": 25})
    chan = reply["chanId"]
    snapshot = await ws.receive_str(timeout=2)
    assert snapshot == f"[{chan},[[100,1,1],[101,1,-2]]]"
    book = LocalBook(raw=False)
    book.snapshot(lossless(snapshot)[1])
    cs = lossless(await ws.receive_str(timeout=2))
    assert cs[1] == "cs" and int(cs[2]) == book.checksum()

    seq.release([OrderAccepted(order(3, "tBTCUSD", a("0.5"), p("100")))])
    assert await ws.receive_str(timeout=2) == f"[{chan},[100,2,1.5]]"
    book.update(["100", "2", "1.5"])
    assert await ws.receive_str(timeout=2) == f'[{chan},"cs",{book.checksum()}]'
    seq.release([OrderClosed(order(2, "tBTCUSD", a("-2"), p("101")))])
    assert await ws.receive_str(timeout=2) == f"[{chan},[101,0,-1]]"
    book.update(["101", "0", "-1"])
    assert await ws.receive_str(timeout=2) == f'[{chan},"cs",{book.checksum()}]'
    await ws.close()


async def test_raw_book_never_shows_hidden_orders(served):
    ctx, server, http = served
    ws = await connect(server, http)
    reply = await request(ws, {"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "prec": "R0"})
    chan = reply["chanId"]
    assert await ws.receive_str(timeout=2) == f"[{chan},[]]"
    ctx.sequencer.release([OrderAccepted(order(7, "tBTCUSD", a("1"), p("99"), hidden=True)),
                           OrderAccepted(order(8, "tBTCUSD", a("1"), p("98")))])
    assert await receive_all(ws) == [f"[{chan},[8,98,1]]"]
    await ws.close()


async def test_f1_book_changes_only_on_the_batch_timer(served):
    ctx, server, http = served
    ws = await connect(server, http)
    reply = await request(ws, {"event": "subscribe", "channel": "book", "symbol": "tETHUSD", "freq": "F1"})
    chan = reply["chanId"]
    await ws.receive_str(timeout=2)  # empty snapshot
    ctx.sequencer.release([OrderAccepted(order(1, "tETHUSD", a("1"), p("3000")))])
    ctx.sequencer.release([OrderUpdated(order(1, "tETHUSD", a("2"), p("3000")))])
    assert await receive_all(ws) == []
    ctx.extras["ws_hub"].publish_f1()
    # the net change of the batch: the level as it stands now, once
    assert await receive_all(ws) == [f"[{chan},[3000,1,2]]"]
    await ws.close()


async def test_unsubscribed_channel_gets_no_more_updates(served):
    ctx, server, http = served
    ws = await connect(server, http)
    reply = await request(ws, {"event": "subscribe", "channel": "book", "symbol": "tBTCUSD"})
    await ws.receive_str(timeout=2)
    assert await request(ws, {"event": "unsubscribe", "chanId": reply["chanId"]}) == {
        "event": "unsubscribed", "status": "OK", "chanId": reply["chanId"]
    }
    ctx.sequencer.release([OrderAccepted(order(1, "tBTCUSD", a("1"), p("100")))])
    assert await receive_all(ws) == []
    assert ctx.extras["ws_hub"].stream_count() == 0
    await ws.close()


async def test_trades_channel_sends_te_then_tu_for_each_trade(served):
    ctx, server, http = served
    ws = await connect(server, http)
    reply = await request(ws, {"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
    chan = reply["chanId"]
    assert await ws.receive_str(timeout=2) == f"[{chan},[]]"
    trade = TradeExecuted(trade_id=5, symbol="tBTCUSD", ts=1574694478808, price=p("7245.3"),
                          amount=a("-0.005"), taker_order_id=2, maker_order_id=1,
                          taker_user_id=2, maker_user_id=1)
    ctx.sequencer.release([trade])
    assert await receive_all(ws) == [
        f'[{chan},"te",[5,1574694478808,-0.005,7245.3]]',
        f'[{chan},"tu",[5,1574694478808,-0.005,7245.3]]',
    ]
    # a later subscriber gets it in its snapshot, not as an update
    ws2 = await connect(server, http)
    reply2 = await request(ws2, {"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
    assert await ws2.receive_str(timeout=2) == f"[{reply2['chanId']},[[5,1574694478808,-0.005,7245.3]]]"
    await ws.close()
    await ws2.close()


# -- the random soak: local books from P0/R0 stay equal to the server's, every checksum matches ----


def random_changes(rng: random.Random, symbol: str, count: int, tick: str, base: str):
    """Batches of order events on ``symbol``: adds, amount changes, closes; thin and deep books."""
    live: dict[int, tuple[int, int]] = {}
    next_id = 1
    base_price = parse_price(base)
    step = parse_price(tick)
    for _ in range(count):
        batch = []
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.5 or not live:
                side = rng.choice((1, -1))
                offset = rng.randint(1, 40) * step
                price = base_price - offset if side > 0 else base_price + offset
                amount = side * parse_amount(str(rng.choice(("0.001", "0.5", "1", "2.25", "0.00005"))))
                live[next_id] = (price, amount)
                batch.append(OrderAccepted(order(next_id, symbol, amount, price, hidden=rng.random() < 0.05)))
                next_id += 1
            elif roll < 0.75:
                oid = rng.choice(sorted(live))
                price, amount = live[oid]
                amount = amount // 2 or amount
                live[oid] = (price, amount)
                batch.append(OrderUpdated(order(oid, symbol, amount, price)))
            else:
                oid = rng.choice(sorted(live))
                price, amount = live.pop(oid)
                batch.append(OrderClosed(order(oid, symbol, amount, price)))
        yield batch


@pytest.mark.parametrize(
    "symbol, tick, base",
    [("tBTCUSD", "10", "90000"), ("tETHBTC", "0.00001", "0.033")],  # prices below 1 too
)
async def test_local_books_from_p0_and_r0_track_thousands_of_changes(served, symbol, tick, base):
    ctx, server, http = served
    rng = random.Random(7)
    ws = await connect(server, http)
    await request(ws, {"event": "conf", "flags": SEQ_CS})
    client = BookClient()
    channels = [("P0", 25), ("R0", 25), ("P0", 1), ("P1", 100), ("R0", 250)]
    changes = random_changes(rng, symbol, 2000, tick, base)
    for batch in [next(changes) for _ in range(30)]:  # books start thin (< 25 levels)
        ctx.sequencer.release(batch)
    for i, batch in enumerate(changes):
        if i < len(channels) * 10 and i % 10 == 0:  # subscribe while the book keeps changing
            prec, length = channels[i // 10]
            await ws.send_str(orjson.dumps({"event": "subscribe", "channel": "book", "symbol": symbol,
                                            "prec": prec, "len": length,
                                            "subId": f"{prec}/{length}"}).decode())
        ctx.sequencer.release(batch)
        if i % 7 == 0:
            await asyncio.sleep(0)  # let some publishes happen mid-stream
            for text in await receive_all(ws, quiet=0.001):
                client.feed(text)
    for text in await receive_all(ws):
        client.feed(text)
    assert client.faults == []
    assert len(client.books) == len(channels)
    assert client.checksums > 500
    books = ctx.extras["ws_state"].books
    for chan, local in client.books.items():
        prec, length = client.chan_of[chan].split("/")
        bids, asks = local.sorted_sides()
        expected = books.snapshot(symbol, prec, int(length))
        got = [r for r in bids] + [r for r in asks]
        assert len(got) == len(expected)
        for row, (key, mid, amount) in zip(got, expected):
            if prec == "R0":
                assert (int(row[0]), parse_amount(row[1]), parse_amount(row[2])) == (key, mid, amount)
            else:
                assert (parse_amount(row[0]), parse_amount(row[2])) == (key, amount)
    await ws.close()


# -- output plumbing ------------------------------------------------------------------------------


class FakeTransport:
    def __init__(self, buffered: int = 0) -> None:
        self.writes: list[bytes] = []
        self.buffered = buffered

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered + sum(map(len, self.writes))


def plain_session() -> WsSession:
    return WsSession(SessionConfig(server_id="s"), is_listed=lambda s: True, now_ms=lambda: 0,
                     next_chan_id=lambda: 1)


async def test_frames_queued_in_one_tick_go_out_in_one_write():
    session = plain_session()
    transport = FakeTransport()
    flusher = Flusher()
    Outlet(session, transport, flusher).wake()  # type: ignore[arg-type]  # the info frame
    session.send_info(5000, "a")
    session.send_info(5000, "b")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(transport.writes) == 1
    data = transport.writes[0]
    # three text frames (info on connect + two) each with a 2-byte header
    assert data.count(b"\x81") == 3 and data.endswith(b'"msg":"b"}')


async def test_a_consumer_too_far_behind_is_dropped():
    session = plain_session()
    transport = FakeTransport(buffered=10_000)
    slow = []
    outlet = Outlet(session, transport, Flusher(), max_buffer=5_000, on_slow=lambda: slow.append(1))  # type: ignore[arg-type]
    outlet.wake()
    await asyncio.sleep(0)
    assert slow == [1]
    session.send_info(5000, "more")
    await asyncio.sleep(0)
    assert len(transport.writes) == 1  # nothing more is written once dropped


# -- ticker, candles, formats, heartbeats, slow consumers ------------------------------------------


async def served_with(tmp_path, **kwargs):
    ctx = make_ctx(tmp_path, **kwargs)
    return ctx, await start_server(ctx)


async def test_ticker_frames_are_full_tickers_sent_only_when_they_change(tmp_path):
    market = FakeMarketData()
    market.ticker = (p("100"), a("1"), p("101"), a("2"), 0, 0, p("100"), a("5"), p("100"), p("100"))
    ctx, server = await served_with(tmp_path, market_data=market)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await connect(server, http)
            reply = await request(ws, {"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
            chan = reply["chanId"]
            assert await ws.receive_str(timeout=2) == f"[{chan},[100,1,101,2,0,0,100,5,100,100]]"
            touch = [OrderAccepted(order(1, "tBTCUSD", a("1"), p("99")))]
            ctx.sequencer.release(touch)
            assert await receive_all(ws) == []  # the views' ticker did not change
            market.ticker = (p("100"), a("1"), p("101"), a("2"), p("1"), a("0.01"), p("101"),
                             a("6"), p("101"), p("100"))
            ctx.sequencer.release(touch)
            assert await receive_all(ws) == [f"[{chan},[100,1,101,2,1,0.01,101,6,101,100]]"]
            await ws.close()
    finally:
        await server.close()


async def test_candles_snapshot_newest_first_then_same_mts_replaces_and_new_mts_appends(tmp_path):
    market = FakeMarketData()
    market.candles = [(120_000, p("10"), p("11"), p("12"), p("9"), a("1")),
                      (60_000, p("8"), p("10"), p("10"), p("8"), a("2"))]
    ctx, server = await served_with(tmp_path, market_data=market)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await connect(server, http)
            reply = await request(ws, {"event": "subscribe", "channel": "candles", "key": "trade:1m:tBTCUSD"})
            chan = reply["chanId"]
            assert await ws.receive_str(timeout=2) == (
                f"[{chan},[[120000,10,11,12,9,1],[60000,8,10,10,8,2]]]"
            )
            market.candles[0] = (120_000, p("10"), p("13"), p("13"), p("9"), a("1.5"))
            trade = TradeExecuted(1, "tBTCUSD", 120_500, p("13"), a("0.5"), 2, 1, 2, 1)
            ctx.sequencer.release([trade])
            assert await receive_all(ws) == [f"[{chan},[120000,10,13,13,9,1.5]]"]
            market.candles.insert(0, (180_000, p("13"), p("14"), p("14"), p("13"), a("1")))
            ctx.sequencer.release([trade])
            assert await receive_all(ws) == [f"[{chan},[180000,13,14,14,13,1]]"]
            await ws.close()
    finally:
        await server.close()


async def test_each_subscriber_gets_its_own_format_from_one_rendering_per_variant(served):
    ctx, server, http = served
    plain = await connect(server, http)
    fancy = await connect(server, http)
    await request(fancy, {"event": "conf", "flags": 8 | 536870912})  # DEC_S | BULK_UPDATES
    chans = []
    for ws in (plain, fancy):
        reply = await request(ws, {"event": "subscribe", "channel": "book", "symbol": "tLTCUSD"})
        chans.append(reply["chanId"])
        await ws.receive_str(timeout=2)
    ctx.sequencer.release([OrderAccepted(order(1, "tLTCUSD", a("1.5"), p("90"))),
                           OrderAccepted(order(2, "tLTCUSD", a("-2"), p("91")))])
    assert await receive_all(plain) == [f"[{chans[0]},[90,1,1.5]]", f"[{chans[0]},[91,1,-2]]"]
    assert await receive_all(fancy) == [f'[{chans[1]},[["90",1,"1.5"],["91",1,"-2"]]]']
    await plain.close()
    await fancy.close()


async def test_silent_channels_get_heartbeats_after_15_seconds(tmp_path):
    from venue.gateway.clock import ManualClock

    clock = ManualClock()
    ctx, server = await served_with(tmp_path, clock=clock)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await connect(server, http)
            reply = await request(ws, {"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
            await ws.receive_str(timeout=2)
            hub = ctx.extras["ws_hub"]
            clock.advance(14)
            hub.tick()
            assert await receive_all(ws) == []
            clock.advance(1)
            hub.tick()
            assert await receive_all(ws) == [f'[{reply["chanId"]},"hb"]']
            await ws.close()
    finally:
        await server.close()


async def test_slow_consumer_is_closed_with_1008(served):
    ctx, server, http = served
    ws = await connect(server, http)
    [session] = ctx.extras["ws_hub"].sessions
    outlet = session.on_output.__self__
    outlet.on_slow()  # what a flush does when the unsent bytes pass the limit
    msg = await ws.receive(timeout=2)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert (msg.data, msg.extra) == (1008, "slow consumer")


async def test_a_failing_view_answers_subscribe_failed_and_keeps_the_connection(served):
    ctx, server, http = served
    state = ctx.extras["ws_state"]

    def broken(*args: Any) -> Any:
        raise RuntimeError("views bug")

    state.hub.market.trades = broken
    ws = await connect(server, http)
    reply = await request(ws, {"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
    error = orjson.loads(await ws.receive_str(timeout=2))
    assert (error["event"], error["code"], error["msg"], error["chanId"]) == (
        "error", 10300, "subscribe: failed", reply["chanId"]
    )
    pong = await request(ws, {"event": "ping", "cid": 1})
    assert pong["event"] == "pong"
    assert state.hub.stream_count() == 0
    await ws.close()


def test_connection_rate_allows_15_per_ip_per_sliding_minute():
    from venue.gateway.ws import ConnectionRate

    now = [0.0]
    rate = ConnectionRate(15, lambda: now[0])
    assert all(rate.allow("1.2.3.4") for _ in range(15))
    assert not rate.allow("1.2.3.4")
    assert rate.allow("5.6.7.8")  # per IP
    now[0] = 59.9
    assert not rate.allow("1.2.3.4")
    now[0] = 60.0
    assert rate.allow("1.2.3.4")
    assert ConnectionRate(0).allow("1.2.3.4")  # 0 switches the limit off


# -- no duplicate, no gap: a trades channel opened while a trade waits for its publish -------------


class _TradesMarket(FakeMarketData):
    """Views whose trade history already holds what the sequencer released (the views listener
    runs before the fan-out's deferred publish)."""

    def __init__(self) -> None:
        super().__init__()
        self.trades: list[tuple[int, int, int, int]] = []  # newest first

    def trade_rows(self, symbol: str, limit: int) -> list[tuple[int, int, int, int]]:
        return self.trades[:limit]


def _subscription(session: WsSession, message: dict[str, Any]) -> Any:
    session.receive_text(orjson.dumps(message))
    [subscribe] = session.requests_received()
    return subscribe.subscription


async def test_a_trades_channel_opened_before_the_publish_of_a_trade_in_its_snapshot_gets_it_once():
    from venue.gateway.fanout import Hub
    from venue.gateway.ws import ViewsMarket

    market = _TradesMarket()
    hub = Hub(ViewsMarket(market, market.books), lambda: 0)
    chan_ids = iter(range(1, 100))
    session = WsSession(SessionConfig(server_id="s"), is_listed=lambda s: True, now_ms=lambda: 0,
                        next_chan_id=lambda: next(chan_ids))
    # another channel of the symbol makes the hub collect its trades for the next publish
    hub.subscribe(session, _subscription(session, {"event": "subscribe", "channel": "book",
                                                   "symbol": "tBTCUSD"}))
    trade = TradeExecuted(trade_id=7, symbol="tBTCUSD", ts=1574694478808, price=p("7245.3"),
                          amount=a("0.5"), taker_order_id=2, maker_order_id=1,
                          taker_user_id=2, maker_user_id=1)
    market.trades.insert(0, (7, trade.ts, trade.amount, trade.price))  # the views saw it first
    hub.on_events(1, trade.ts, [trade])  # the fan-out publishes at the end of this loop tick
    trades = _subscription(session, {"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
    hub.subscribe(session, trades)  # before that publish: the snapshot already holds trade 7
    await asyncio.sleep(0)
    frames = [f for f in session.frames_to_send() if f.startswith(b"[%d," % trades.chan_id)]
    assert frames == [b"[%d,[[7,1574694478808,0.5,7245.3]]]" % trades.chan_id]


def test_f1_batches_never_come_closer_than_2_seconds_even_after_a_stall():
    from venue.gateway.fanout import Interval

    f1 = Interval(2.0, 0.0)
    assert [f1.due(t) for t in (1.0, 2.0, 3.0)] == [False, True, False]
    # the loop was held up for 6 s: one batch now, the next one 2 s later, no catch-up burst
    assert [f1.due(t) for t in (9.0, 10.0, 11.0, 12.0)] == [True, False, True, False]


def test_ws_limits_come_from_the_settings_and_rate_limits_off_lifts_the_ip_limit():
    from dataclasses import replace

    from venue.config import Settings

    settings = replace(Settings(), ws_connections_per_minute=5, ws_channel_limit=25,
                       ws_max_buffer=1000, ws_max_message=2000, ws_max_frame=3000)
    assert WsLimits.from_settings(settings) == WsLimits(5, 25, 1000, 2000, 3000)
    assert WsLimits.from_settings(replace(settings, rate_limits=False)).connections_per_minute == 0
