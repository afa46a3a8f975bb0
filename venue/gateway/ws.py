"""The WebSocket endpoint ``/ws/2``: aiohttp glue around ``protocol.ws.WsSession``.

Per connection: read a text frame, feed the session, carry out its requests (subscribe through
the fan-out hub, submit channel-0 commands through the sequencer), and let the connection's
``Outlet`` write whatever the session queued — once per loop tick. Protocol-level pings are
answered by aiohttp (``autoping``); the text ``{"event":"ping"}`` is the session's business.

Limits (spec §7.7), all configurable:
- new connections per IP: 15 per minute (the older "Requirements and Limitations" text) →
  HTTP 429 ``["error",11010,"ratelimit: error"]`` before the upgrade; off when the server runs
  with rate limits off (``Settings.rate_limits``) or ``ws_connections_per_minute`` is 0;
- channels per connection: 30 (``ws_channel_limit``; 0 = none) → ``subscribe: limit`` (10305);
- an incoming frame above 64 KiB is answered with ``{"event":"error","msg":"message: too big",
  "code":10000}`` and the connection keeps working (Bitfinex documents no limit, and no valid
  request comes near it); one above 1 MiB closes the connection with 1009 "message too big"
  (aiohttp's ``max_msg_size``: a frame is buffered whole before it can be answered, so this
  bounds the memory one client can make the server hold);
- unsent output above 4 MiB closes it with 1008 "slow consumer" (then aborts if the close
  handshake does not finish in 5 s: the close frame waits behind the backlog).

The numbers come from ``Settings`` fields ``ws_connections_per_minute``, ``ws_channel_limit``,
``ws_max_buffer``, ``ws_max_message`` and ``ws_max_frame`` when it has them (defaults above
otherwise), or from a ``WsLimits`` put in ``ctx.extras["ws_limits"]`` (tests, embedding programs).

On shutdown every connection is told ``20051`` (reconnect) and closed with 1001.

``broadcast_info(ctx, code, msg)`` queues ``{"event":"info","code":…,"msg":…}`` on every open
connection (20051 restart, 20060/20061 maintenance), for the admin endpoint and the CLI.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Sequence

from aiohttp import WSMsgType, web

from venue.core.commands import Command
from venue.core.events import ApiKeyRevoked, Event
from venue.gateway.app import CTX, WS_PATH, ServerContext, error_response
from venue.gateway.fanout import DEFAULT_MAX_BUFFER, SLOW_CONSUMER_CODE, Hub, Outlet
from venue.gateway.sequencer import SequencerStopped
from venue.protocol import channels as ch
from venue.protocol.errors import Code
from venue.protocol.ws import (
    DEFAULT_CHANNEL_LIMIT,
    Authenticated,
    Broadcast,
    SessionConfig,
    Submit,
    Subscribe,
    Unauthenticated,
    Unsubscribe,
    WsSession,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024  # larger frames get an error event
MAX_FRAME_BYTES = 1024 * 1024  # larger frames close the connection (1009)
REVOKED_KEY_CODE = 1008  # RFC 6455 policy violation: the credentials were withdrawn
DEFAULT_CONNECTIONS_PER_MINUTE = 15
CLOSE_TIMEOUT_S = 5.0
HUB_KEY = "ws_hub"
STATE_KEY = "ws_state"


# -- views adapter --------------------------------------------------------------------------------


def _ints(values: Any, count: int) -> tuple[int, ...] | None:
    if values is None:
        return None
    out = tuple(values)[:count]
    if len(out) < count or not all(isinstance(v, int) for v in out):
        return None
    return out


class ViewsMarket:
    """``fanout.MarketSource`` over ``ctx.market_data`` (the views facade).

    Books come from ``market_data.books`` (``views.books.Books``: ``track``/``untrack``) when
    the facade has them; otherwise from a private ``Books`` that this module feeds from its own
    sequencer listener, so the WS server works whatever the facade offers.
    """

    def __init__(self, market_data: Any, books: Any) -> None:
        self.market_data = market_data
        self.books = books

    def track(self, symbol: str, prec: str, length: int) -> Any:
        return self.books.track(symbol, prec, length)

    def untrack(self, tracker: Any) -> None:
        self.books.untrack(tracker)

    def ticker(self, symbol: str) -> Sequence[int] | None:
        read = getattr(self.market_data, "ticker_values", None)
        return None if read is None else _ints(read(symbol), 10)

    def trades(self, symbol: str, limit: int) -> Sequence[ch.TradeRow]:
        read = getattr(self.market_data, "trade_rows", None)
        return [] if read is None else [tuple(r) for r in read(symbol, limit)]  # type: ignore[misc]

    def candles(self, timeframe: str, symbol: str, limit: int) -> Sequence[ch.CandleRow]:
        read = getattr(self.market_data, "candle_rows", None)
        return [] if read is None else [tuple(r) for r in read(timeframe, symbol, limit)]  # type: ignore[misc]


# -- per-IP connection rate --------------------------------------------------------------------------


class ConnectionRate:
    """At most ``per_minute`` new connections per IP in any 60-second window (0 = no limit)."""

    def __init__(self, per_minute: int, monotonic: Any = time.monotonic) -> None:
        self.per_minute = per_minute
        self._monotonic = monotonic
        self._seen: dict[str, deque[float]] = {}

    def allow(self, ip: str) -> bool:
        if self.per_minute <= 0:
            return True
        now = self._monotonic()
        window = self._seen.setdefault(ip, deque())  # the times of its recent connections
        while window and window[0] <= now - 60.0:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        if len(self._seen) > 100_000:  # forget idle IPs rather than grow without bound
            for key in [k for k, v in self._seen.items() if v[-1] <= now - 60.0]:
                del self._seen[key]
        return True


@dataclass(frozen=True, slots=True)
class WsLimits:
    """The endpoint's limits; 0 switches a limit off."""

    connections_per_minute: int = DEFAULT_CONNECTIONS_PER_MINUTE
    channel_limit: int = DEFAULT_CHANNEL_LIMIT
    max_buffer: int = DEFAULT_MAX_BUFFER
    max_message: int = MAX_MESSAGE_BYTES
    max_frame: int = MAX_FRAME_BYTES

    @property
    def frame_limit(self) -> int:
        """aiohttp's ``max_msg_size`` (0 = none): never below ``max_message``, so every frame
        that limit refuses is still read and answered."""
        if self.max_frame <= 0:
            return 0
        return max(self.max_frame, self.max_message)

    @classmethod
    def from_settings(cls, settings: Any) -> "WsLimits":
        """Read ``ws_*`` settings when ``Settings`` has them; rate limits off ⇒ no IP limit."""
        limits = cls(
            connections_per_minute=int(
                getattr(settings, "ws_connections_per_minute", DEFAULT_CONNECTIONS_PER_MINUTE)
            ),
            channel_limit=int(getattr(settings, "ws_channel_limit", DEFAULT_CHANNEL_LIMIT)),
            max_buffer=int(getattr(settings, "ws_max_buffer", DEFAULT_MAX_BUFFER)),
            max_message=int(getattr(settings, "ws_max_message", MAX_MESSAGE_BYTES)),
            max_frame=int(getattr(settings, "ws_max_frame", MAX_FRAME_BYTES)),
        )
        if not getattr(settings, "rate_limits", True):
            limits = replace(limits, connections_per_minute=0)
        return limits


# -- server state -------------------------------------------------------------------------------------


class WsServer:
    """Everything the endpoint shares between connections of one server."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        # ctx.extras["ws_limits"] lets a test or an embedding program override the settings
        limits = ctx.extras.get("ws_limits") or WsLimits.from_settings(ctx.settings)
        self.limits: WsLimits = limits
        self.session_config = SessionConfig(
            server_id=str(uuid.uuid4()),
            channel_limit=limits.channel_limit if limits.channel_limit > 0 else None,
            max_message=limits.max_message if limits.max_message > 0 else None,
        )
        self.connection_rate = ConnectionRate(limits.connections_per_minute, ctx.clock.monotonic)
        self._chan_ids = itertools.count(1)
        self.books = self._books(ctx.market_data)
        self.hub = Hub(ViewsMarket(ctx.market_data, self.books), ctx.clock.now_ms)
        self.users: dict[int, list[WsSession]] = {}
        self.sockets: set[web.WebSocketResponse] = set()
        # the socket of each open session, to close it from the server side (revoked keys)
        self.connections: dict[WsSession, tuple[web.WebSocketResponse, asyncio.Transport]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: asyncio.Task[None] | None = None

    def _books(self, market_data: Any) -> Any:
        books = getattr(market_data, "books", None)
        if books is not None and hasattr(books, "track"):
            return books
        from venue.views.books import Books  # the gateway may import every layer (style §8.3)

        own = Books()
        self._own_books = own
        return own

    def next_chan_id(self) -> int:
        return next(self._chan_ids)

    def is_listed(self, symbol: str) -> bool:
        return self.ctx.registry.market(symbol) is not None

    # -- listeners --------------------------------------------------------------------------------

    def attach(self, sequencer: Any) -> None:
        """Register the sequencer listeners: own books (if any), the hub, channel 0."""
        own = getattr(self, "_own_books", None)
        if own is not None:
            sequencer.add_listener(own.apply)
        sequencer.add_listener(self.hub.on_events)
        sequencer.add_listener(self.on_account_events)

    def on_account_events(self, seq: int, ts: int, events: list[Event]) -> None:
        """Route one command's events to the channel 0 of every connection of its users."""
        if not self.users:
            return
        seen: set[int] = set()
        for event in events:
            if isinstance(event, ApiKeyRevoked):
                self._drop_key(event.user_id, event.key)
            user_id = getattr(event, "user_id", None)
            if user_id is None:
                order = getattr(event, "order", None)
                user_id = getattr(order, "user_id", None)
            if user_id is None or user_id in seen:
                continue
            seen.add(user_id)
            for session in self.users.get(user_id, ()):
                session.receive_applied(seq, ts, events)

    # -- sessions ---------------------------------------------------------------------------------

    def new_session(self) -> WsSession:
        return WsSession(
            self.session_config,
            is_listed=self.is_listed,
            now_ms=self.ctx.clock.now_ms,
            next_chan_id=self.next_chan_id,
            account=self._account_stream(),
        )

    def _account_stream(self) -> Any:
        if getattr(self.ctx.sequencer, "exchange", None) is None:
            return None  # no core to authenticate against (tests of the public channels)
        try:
            from venue.protocol.account_stream import AccountStream, StreamLimits
            from venue.protocol.auth import NonceTracker

            nonces = self.ctx.extras.setdefault("nonces", NonceTracker())
            extra: dict[str, Any] = {}
            if not getattr(self.ctx.settings, "rate_limits", True):
                extra["limits"] = StreamLimits.off()
            return AccountStream(
                reader=self.ctx.exchange, nonces=nonces, now_ms=self.ctx.clock.now_ms, **extra
            )
        except (ImportError, NotImplementedError):
            return None

    async def wait_acknowledged_state(self) -> None:
        """Before an auth or a ``calc``: the ``ps ws os …`` snapshots and ``wu``/``bu`` answers
        are read from the core, which also holds commands applied but not durable yet. Wait until it holds none, so a snapshot
        shows only what a crash cannot take back, and every later channel-0 update is newer
        than the snapshot (no order announced twice)."""
        wait = getattr(self.ctx.sequencer, "wait_caught_up", None)
        if wait is not None:
            try:
                await wait()
            except Exception:
                # the journal failed: the session answers the auth; commands are refused anyway
                log.warning("auth snapshot taken while the journal is failing", exc_info=True)

    def carry_out(self, session: WsSession) -> None:
        """Do what the session asked for after its last input."""
        for request in session.requests_received():
            if isinstance(request, Subscribe):
                self._subscribe(session, request.subscription)
            elif isinstance(request, Unsubscribe):
                self.hub.unsubscribe(session, request.subscription)
            elif isinstance(request, Submit):
                self.submit(request.commands, session)
            elif isinstance(request, Authenticated):
                self.users.setdefault(request.user_id, []).append(session)
            elif isinstance(request, Unauthenticated):
                self._forget_user_session(request.user_id, session)
            elif isinstance(request, Broadcast):
                for other in self.users.get(request.user_id, ()):
                    if other is not session:
                        for notification in request.notifications:
                            other.receive_broadcast(notification)

    def _subscribe(self, session: WsSession, sub: Any) -> None:
        try:
            self.hub.subscribe(session, sub)
        except Exception:
            # A bug in reading the views must not kill the connection or leave a channel that
            # never gets data: log it, forget the channel, answer with the generic failure code.
            log.exception("subscribing %s failed", sub.spec)
            self.hub.unsubscribe(session, sub)
            session.fail_subscription(sub, int(Code.SUB_FAIL), "subscribe: failed")

    def submit(self, commands: Sequence[Command], session: WsSession | None = None) -> None:
        """Submit in order; tasks start in creation order, so the sequencer stamps them so.

        When the sequencer cannot apply a command (the journal failed, or a bug), ``session``
        (the connection whose input it came from) answers the input with its ERROR
        notification — 11000 ``journal: unavailable``, as REST does, else 10000 — instead of
        leaving the client waiting for an answer that never comes.
        """
        detached = self._detached_submit()
        for command in commands:
            if detached is not None:
                # The hot path: apply now, no task, no future; channel 0 gets the events as a
                # sequencer listener once durable, and only a failure comes back here.
                on_error = functools.partial(self._command_error, command, session)
                try:
                    detached(command, on_error)
                except Exception as exc:  # not stamped: SequencerStopped, a codec error
                    on_error(exc)
                continue
            task = asyncio.get_running_loop().create_task(self.ctx.submit(command))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._submitted, command, session))

    def _detached_submit(self) -> Any:
        """``sequencer.submit_detached`` when commands may bypass ``ctx.submit``: the real
        sequencer, with neither ``ctx.submit`` nor ``sequencer.submit`` replaced (tests that
        replace one to inject failures, fakes without the method, keep the task path)."""
        ctx = self.ctx
        sequencer = ctx.sequencer
        detached = getattr(sequencer, "submit_detached", None)
        if detached is None or "submit" in getattr(sequencer, "__dict__", {}):
            return None
        if type(ctx).submit is not ServerContext.submit:
            return None
        return detached

    def _submitted(self, command: Command, session: WsSession | None, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        self._command_error(command, session, error)

    def _command_error(self, command: Command, session: WsSession | None, error: BaseException) -> None:
        if isinstance(error, SequencerStopped):
            log.critical("refusing a WebSocket command: the journal has failed")
            code, text = int(Code.NOT_READY), "journal: unavailable"
        else:
            log.error("a WebSocket command failed in the sequencer", exc_info=error)
            code, text = int(Code.UNKNOWN), "unknown error"
        if session is not None and not session.closed:
            session.command_failed(command, code, text)

    def closed(self, session: WsSession) -> None:
        """Forget a closed connection; dead-man switch commands go to the sequencer (§8.1)."""
        self.hub.drop_session(session)
        if session.authenticated_user is not None:
            self._forget_user_session(session.authenticated_user, session)
        commands = session.close_commands()
        if commands:
            self.submit(commands)

    def _forget_user_session(self, user_id: int, session: WsSession) -> None:
        sessions = self.users.get(user_id, [])
        if session in sessions:
            sessions.remove(session)
        if not sessions:
            self.users.pop(user_id, None)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, app: web.Application) -> None:
        self._timers = asyncio.get_running_loop().create_task(self.hub.run_timers())

    async def shutdown(self, app: web.Application) -> None:
        """Tell every client the server is stopping (20051: reconnect, §7.1), then close."""
        if self._timers is not None:
            self._timers.cancel()
        if not self.sockets:
            return
        self.hub.broadcast_info(int(Code.SERVER_STOPPING), "Stopping. Please try to reconnect")
        await asyncio.sleep(0)  # the flush of that info event runs before the close frames
        closing = [
            asyncio.ensure_future(ws.close(code=1001, message=b"server shutdown"))
            for ws in list(self.sockets)
        ]
        if closing:
            await asyncio.wait(closing, timeout=CLOSE_TIMEOUT_S)

    def close_slow(self, ws: web.WebSocketResponse, transport: asyncio.Transport, peer: str) -> None:
        """Close a connection that reads too slowly: 1008 "slow consumer", then abort if the
        close handshake does not finish (its close frame waits behind the unsent backlog)."""
        log.warning("closing the WebSocket connection of %s: slow consumer", peer)
        self._close(ws, transport, SLOW_CONSUMER_CODE, b"slow consumer")

    def _drop_key(self, user_id: int, key: str) -> None:
        """A revoked key stops working at once, on sockets it already authenticated too: they
        are closed with 1008 "apikey: revoked" (as any dropped connection, ``dms`` applies)."""
        for session in list(self.users.get(user_id, ())):
            account = session.account
            if account is not None and account.api_key == key and session in self.connections:
                ws, transport = self.connections[session]
                self._close(ws, transport, REVOKED_KEY_CODE, b"apikey: revoked")

    def _close(
        self, ws: web.WebSocketResponse, transport: asyncio.Transport, code: int, reason: bytes
    ) -> None:
        async def close() -> None:
            try:
                await asyncio.wait_for(ws.close(code=code, message=reason), CLOSE_TIMEOUT_S)
            except (asyncio.TimeoutError, ConnectionError):
                pass
            if not transport.is_closing():
                transport.abort()

        task = asyncio.get_running_loop().create_task(close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _reads_the_core(session: WsSession, data: str | bytes) -> bool:
    """Cheap pre-check (the session parses the frame properly) for the inputs answered from the
    core's state: an auth event (its snapshots) and, once authenticated, a ``calc`` input."""
    word = "auth" if session.authenticated_user is None else "calc"
    return (word in data) if isinstance(data, str) else (word.encode() in data)


async def handle(request: web.Request) -> web.StreamResponse:
    """One ``/ws/2`` connection from upgrade to close."""
    ctx = request.app[CTX]
    server: WsServer = ctx.extras[STATE_KEY]
    if not server.connection_rate.allow(request.remote or ""):
        return error_response(int(Code.RATE_LIMIT), "ratelimit: error", status=429)
    ws = web.WebSocketResponse(autoping=True, compress=False, max_msg_size=server.limits.frame_limit)
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    session = server.new_session()
    outlet = Outlet(
        session,
        transport,
        server.hub.flusher,
        max_buffer=server.limits.max_buffer,
        on_slow=lambda: server.close_slow(ws, transport, request.remote or ""),
    )
    outlet.wake()  # the info event was queued when the session was created
    server.hub.sessions.add(session)
    server.sockets.add(ws)
    server.connections[session] = (ws, transport)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT or message.type == WSMsgType.BINARY:
                if _reads_the_core(session, message.data):
                    await server.wait_acknowledged_state()
                session.receive_text(message.data)
                server.carry_out(session)
            elif message.type == WSMsgType.ERROR:
                break
    finally:
        server.sockets.discard(ws)
        server.connections.pop(session, None)
        outlet.dropped = True
        server.closed(session)
    return ws


def add_routes(app: web.Application, ctx: ServerContext) -> None:
    """Serve ``/ws/2`` and attach the fan-out to the sequencer."""
    server = WsServer(ctx)
    ctx.extras[STATE_KEY] = server
    ctx.extras[HUB_KEY] = server.hub
    if ctx.sequencer is not None:
        server.attach(ctx.sequencer)
    app.router.add_get(WS_PATH, handle)
    app.on_startup.append(server.start)
    app.on_shutdown.append(server.shutdown)


async def broadcast_info(ctx: ServerContext, code: int, msg: str) -> int:
    """Tell every open connection ``{"event":"info","code":code,"msg":msg}``; returns how many.

    Codes (spec §7.1): 20051 stopping/restarting (clients reconnect), 20060 maintenance starts,
    20061 maintenance ended (resubscribe advised). Between 20060 and 20061 new connections are
    greeted with ``"platform":{"status":0}`` (maintenance), as the real exchange does.
    """
    server: WsServer | None = ctx.extras.get(STATE_KEY)
    if server is None:
        return 0
    if code == int(Code.MAINTENANCE_START):
        server.session_config.platform_status = 0
    elif code == int(Code.MAINTENANCE_END):
        server.session_config.platform_status = 1
    return server.hub.broadcast_info(code, msg)
