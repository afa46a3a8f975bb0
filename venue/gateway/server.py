"""One running venue: store, core, sequencer, views and the HTTP/WS listeners in one process.

``VenueServer(settings).start()`` opens (or recovers) the data directory, builds the
``ServerContext``, serves the app on ``settings.port`` (and on ``settings.tls_port`` over TLS
when asked), and runs two periodic jobs: a ``Tick`` command every ``tick_interval_s`` (tif
expiry when nobody trades) and a views flush every ``flush_interval_s`` (history batches).
``stop()`` undoes all of it in reverse order; it is safe to call twice.

Everything runs on the event loop that called ``start()``; the only thread-safe entry point is
``submit_threadsafe``, for code running on another thread.

On the plain port a ``FastPath`` protocol answers public GETs itself and hands every other
request to aiohttp (see its docstring); the TLS port is plain aiohttp.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import ssl
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from venue.config import Settings
from venue.core.commands import Command, Tick
from venue.core.events import Event
from venue.core.symbols import Registry, load_registry
from venue.gateway import admin, http_public, keys
from venue.store.journal import ensure_private_dir
from venue.gateway.app import (
    CODE_RATE_LIMIT,
    AppRunner,
    CODE_UNKNOWN,
    ServerContext,
    build_app,
    error_body,
    rate_limit_key,
)
from venue.gateway.clock import Clock, SystemClock
from venue.gateway.http_auth import NONCES_EXTRA
from venue.gateway.nonce_file import load_nonces, save_nonces, write_nonces
from venue.gateway.ratelimit import RateLimiter
from venue.protocol.errors import ProtocolError, http_status

log = logging.getLogger(__name__)


HISTORY_FILE = "history.sqlite"


class Backend:
    """The stateful half of a server: journal, core, sequencer and views, wired together.

    The views are the sequencer's first listener, so every later listener (the WS fan-out)
    sees views that already hold the command it is told about.
    """

    def __init__(
        self, sequencer: Any, market_data: Any, journal: Any = None, snapshotter: Any = None
    ) -> None:
        self.sequencer = sequencer
        self.market_data = market_data
        self.journal = journal
        self.snapshotter = snapshotter

    async def close(self) -> None:
        """Release what is applied, let the last snapshot finish, flush the views, close the
        journal and the history."""
        with contextlib.suppress(Exception):
            # bounded: a journal that failed would never become durable
            await asyncio.wait_for(self.sequencer.flush(), timeout=10)
        if self.snapshotter is not None:
            with contextlib.suppress(Exception):
                await self.snapshotter.wait()
        if self.journal is not None:
            await self.journal.aclose()
        if self.market_data is not None:
            self.market_data.flush()
            self.market_data.close()


def _resting_orders(exchange: Any, registry: Registry) -> list[Any]:
    """Every order resting in the core's books (the views skip hidden ones)."""
    orders: list[Any] = []
    for market in registry.markets:
        bids, asks = exchange.book_orders(market.symbol)
        orders.extend(bids)
        orders.extend(asks)
    return orders


def _rebuild_views(
    data_dir: Path, registry: Registry, market_data: Any, views_seq: int, recovered: Any
) -> Any:
    """The views stored commands the journal does not have: a corrupt tail that recovery
    dropped, or a crash under durability ``os``/``none`` that lost journal records the views had
    already stored. New commands will reuse those seqs (and trade, order and ledger ids), and
    rows and candle aggregates cannot be taken back one by one: set the history file aside
    (``history.sqlite.ahead``, for inspection) and re-derive every view from the journal."""
    from venue.store.recovery import RecoveryError, replay_events
    from venue.views.market_data import MarketData

    log.warning(
        "the history holds commands up to seq %d but the journal ends at %d: rebuilding the "
        "views from the journal (the old history is kept as %s.ahead)",
        views_seq, recovered.last_seq, HISTORY_FILE,
    )
    market_data.close()
    path = data_dir / HISTORY_FILE
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            source.replace(path.with_name(f"{path.name}.ahead{suffix}"))
    fresh = MarketData(registry, path)
    try:
        replay_events(data_dir, registry, 0, fresh.apply, upto_seq=recovered.last_seq)
    except RecoveryError:
        # compacted: what came before the oldest snapshot exists nowhere any more
        recovered.views_gap = True
    return fresh


def open_backend(settings: Settings, registry: Registry, clock: Clock) -> Backend:
    """Recover the core from the data directory and attach the views.

    Recovery replays the journal tail once and feeds the views with the re-derived events of
    every command they have not stored yet (venue/store/recovery.py). Books are not stored: when
    the core can list its resting orders they are seeded from them after recovery, otherwise the
    views see the whole journal replayed (``MarketData.apply`` only updates books for commands
    whose other effects it already holds).
    """
    from venue.core.exchange import Exchange
    from venue.gateway.sequencer import Sequencer
    from venue.store.journal import Journal
    from venue.store.recovery import recover
    from venue.store.snapshot import SnapshotStore, Snapshotter
    from venue.views.market_data import MarketData

    data_dir = settings.data_dir
    # the journal first: its lock refuses a second process on the same directory
    journal = Journal.open(data_dir, settings.durability)
    try:
        market_data = MarketData(registry, data_dir / HISTORY_FILE)
    except BaseException:
        journal.close()
        raise
    try:
        seed_books = hasattr(Exchange, "book_orders")
        views_seq = market_data.history.last_seq() if seed_books else 0
        recovered = recover(
            data_dir,
            registry,
            journal=journal,
            views_last_seq=views_seq,
            on_events=market_data.apply,
        )
        if views_seq > recovered.last_seq:
            market_data = _rebuild_views(data_dir, registry, market_data, views_seq, recovered)
        if recovered.views_gap:
            log.warning(
                "journal records the views had not stored were compacted away: history and "
                "candles may miss trades before seq %d",
                recovered.snapshot_seq,
            )
        exchange = recovered.exchange
        if seed_books:
            market_data.seed_books(_resting_orders(exchange, registry))
        sequencer = Sequencer(
            exchange, journal, clock, last_seq=recovered.last_seq, last_ts=recovered.last_ts
        )
        sequencer.add_listener(market_data.apply)
        snapshotter = None
        if settings.snapshot_every > 0:
            snapshotter = Snapshotter(
                exchange,
                journal,
                SnapshotStore(data_dir, keep=settings.snapshot_keep),
                every_commands=settings.snapshot_every,
                every_seconds=settings.snapshot_interval_s,
                # compaction must leave the views every record they have not stored on disk
                # yet (a power cut may take back what is stored but not synced)
                compact_floor=market_data.history.sync,
            )
            sequencer.add_after_apply(snapshotter.after_apply)
    except BaseException:
        market_data.close()
        journal.close()
        raise
    return Backend(sequencer, market_data, journal, snapshotter)


# -- the fast path for public GETs ----------------------------------------------------------------

_MAX_HEAD = 16 * 1024  # a longer request head is aiohttp's to refuse (431)
# An idle keep-alive connection is closed after this long, as aiohttp does with its own.
KEEPALIVE_TIMEOUT_S = 75.0
_MAX_WRITE_BUFFER = 4 * 1024 * 1024  # a client that sends and never reads is cut off
_REASONS = {200: b"OK", 429: b"Too Many Requests", 500: b"Internal Server Error"}
# Requests that need aiohttp's full HTTP handling: a body, an upgrade, a non-default connection.
_HAND_OVER_HEADERS = (b"content-length", b"transfer-encoding", b"upgrade", b"connection", b"expect")


class _DateHeader:
    """The ``Date`` header value, formatted once per second."""

    __slots__ = ("second", "_value")

    def __init__(self) -> None:
        self.second = -1
        self._value = b""

    def value(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self._value = formatdate(now, usegmt=True).encode()
        return self._value


class FastPath:
    """Answers public REST GETs on the plain listener without aiohttp's per-request machinery.

    Why: on small machines aiohttp's request/response objects cost several times more than
    rendering a cached ticker (bench/RESULTS-rest.md). What: an asyncio protocol that reads
    request heads, and for a plain ``GET /v2/<public endpoint>`` (HTTP/1.1, no body, no
    upgrade) answers with the same renderers, cache, rate limits and error shapes as the aiohttp
    routes (http_public.get_answer, app.rate_limit_key, app.error_body). Anything else — POSTs,
    /v2/auth, /ws/2, /admin, unknown paths, odd requests — hands the connection, with the bytes
    already received, to aiohttp's own protocol for good.

    Invariant: an answer from here is byte-for-byte the body aiohttp would send, with the same
    status; only the header set is smaller (Content-Type, Content-Length, Date, Server).
    """

    _MEMO_LIMIT = 1024

    def __init__(self, ctx: ServerContext, aiohttp_factory: Any) -> None:
        self.ctx = ctx
        self.aiohttp_factory = aiohttp_factory
        self.date = _DateHeader()
        self.connections: set[_FastProtocol] = set()
        # request head → (released seq, Date second, rate-limit key, full response): clients
        # poll with byte-identical requests, and between two commands (within one second) the
        # answer cannot differ, so only the rate limit and the counters need to run again
        self._memo: dict[bytes, tuple[int, int, tuple[str, str] | None, bytes]] = {}

    def protocol(self) -> asyncio.Protocol:
        return _FastProtocol(self)

    def answer(self, head: bytes, ip: str) -> bytes | None:
        """The full HTTP response for one request head, or None to hand the connection over."""
        memo = self._memo.get(head)
        if memo is not None:
            seq, second, limit_key, response = memo
            if seq == http_public.released_seq(self.ctx) and second == int(time.time()):
                ctx = self.ctx
                ctx.stats.requests += 1
                if limit_key is not None and ctx.rate_limiter.enabled:
                    if not ctx.rate_limiter.allow(ip, limit_key[0], limit_key[1]):
                        return self._response(429, error_body(CODE_RATE_LIMIT, "ratelimit: error"))
                return response
        seq = http_public.released_seq(self.ctx)
        response, memo_path = self._answer(head, ip)
        if memo_path is not None:
            if len(self._memo) >= self._MEMO_LIMIT:
                self._memo.clear()
            self._memo[head] = (seq, self.date.second, rate_limit_key(memo_path), response)
        return response

    def _answer(self, head: bytes, ip: str) -> tuple[bytes | None, str | None]:
        """The response (None: hand the request to aiohttp) and, when that response may be
        memoised until the next command (a 200 of a cached route), the decoded path."""
        line_end = head.find(b"\r\n")
        request_line = head if line_end < 0 else head[:line_end]
        parts = request_line.split(b" ")
        if len(parts) != 3 or parts[0] != b"GET" or parts[2] != b"HTTP/1.1":
            return None, None
        if line_end >= 0:
            for header in head[line_end + 2 :].split(b"\r\n"):
                name, _, value = header.partition(b":")
                name = name.strip().lower()
                if name in _HAND_OVER_HEADERS:
                    if name == b"connection" and value.strip().lower() == b"keep-alive":
                        continue  # HTTP/1.1's default, sent by requests (bfxapi) on every call
                    return None, None
        try:
            target = parts[1].decode("ascii")
        except UnicodeDecodeError:
            return None, None
        raw_path, _, raw_query = target.partition("?")
        path = unquote(raw_path)
        matched = http_public.match_get(path)
        if matched is None:
            return None, None
        render, path_params = matched
        ctx = self.ctx
        ctx.stats.requests += 1
        if ctx.rate_limiter.enabled:
            key = rate_limit_key(path)
            if key is not None and not ctx.rate_limiter.allow(ip, key[0], key[1]):
                return self._response(429, error_body(CODE_RATE_LIMIT, "ratelimit: error")), None
        query = http_public.first_values(parse_qsl(raw_query, keep_blank_values=True))
        try:
            body = http_public.get_answer(ctx, render, path_params, query, target)
        except ProtocolError as exc:
            return self._response(http_status(exc.code), error_body(int(exc.code), exc.text)), None
        except Exception:
            log.exception("unhandled error answering GET %s", target)
            return self._response(500, error_body(CODE_UNKNOWN, "unknown error")), None
        # an answer that can change without a command is never memoised
        return self._response(200, body), (None if render in http_public.UNCACHED else path)

    def _response(self, status: int, body: bytes) -> bytes:
        return b"".join((
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"Content-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\n" % len(body),
            b"Date: ", self.date.value(), b"\r\nServer: venue\r\n\r\n",
            body,
        ))  # fmt: skip

    def close_all(self) -> None:
        for connection in list(self.connections):
            connection.close()

    def close_idle(self, now: float, timeout: float = KEEPALIVE_TIMEOUT_S) -> int:
        """Close the connections that have sent nothing for ``timeout`` seconds; how many."""
        idle = [c for c in self.connections if now - c.last_active >= timeout]
        for connection in idle:
            connection.close()
        return len(idle)


class _FastProtocol(asyncio.Protocol):
    """One connection on the fast path until it is handed to aiohttp (see ``FastPath``)."""

    __slots__ = ("fast", "transport", "buffer", "ip", "last_active")

    def __init__(self, fast: FastPath) -> None:
        self.fast = fast
        self.transport: Any = None  # asyncio's or uvloop's transport (not a common base class)
        self.buffer = b""
        self.ip = ""
        self.last_active = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.ip = peer[0] if peer else ""
        self.fast.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fast.connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        self.last_active = time.monotonic()
        buffer = self.buffer + data if self.buffer else data
        while buffer:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    self._hand_over(buffer)
                    return
                break
            response = self.fast.answer(buffer[:end], self.ip)
            if response is None:
                self._hand_over(buffer)
                return
            transport.write(response)
            buffer = buffer[end + 4 :]
        self.buffer = buffer
        if transport.get_write_buffer_size() > _MAX_WRITE_BUFFER:
            transport.close()

    def _hand_over(self, buffer: bytes) -> None:
        """Give the connection and the unanswered bytes to aiohttp, for good."""
        transport = self.transport
        assert transport is not None
        self.fast.connections.discard(self)
        self.transport = None
        self.buffer = b""
        protocol = self.fast.aiohttp_factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(buffer)

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()



class VenueServer:
    """Owns every resource of a running server; see the module docstring for the lifecycle."""

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, registry: Registry | None = None
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.registry = registry or load_registry(settings.markets_file)
        self.ctx: ServerContext | None = None
        self.app: web.Application | None = None
        self.port: int | None = None
        self.tls_port: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # the nonce file write running in a thread, if any: stop() waits for it before its own
        # write (both use the same temporary file, and the newer state must land last)
        self._nonce_write: asyncio.Future[None] | None = None
        self._store: Any = None
        self._fast: FastPath | None = None
        self._fast_server: asyncio.base_events.Server | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> ServerContext:
        """Open the data, start listening; returns the context handlers share.

        If any step fails (port in use, unreadable certificate…) everything opened so far is
        closed again before the error propagates, so the data directory is not left locked.
        """
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> ServerContext:
        self.loop = asyncio.get_running_loop()
        data_dir = self.settings.data_dir
        ensure_private_dir(data_dir)
        self._store = open_backend(self.settings, self.registry, self.clock)
        ctx = ServerContext(
            settings=self.settings,
            sequencer=self._store.sequencer,
            market_data=self._store.market_data,
            registry=self.registry,
            clock=self.clock,
            data_dir=data_dir,
            admin_token=admin.ensure_admin_token(data_dir),
            rate_limiter=RateLimiter(
                self.settings.rate_limit_per_minute,
                self.clock,
                penalty_s=self.settings.rate_limit_penalty_s,
                enabled=self.settings.rate_limits,
            ),
        )
        ctx.sequencer.add_listener(ctx.stats.on_events)
        ctx.extras[NONCES_EXTRA] = load_nonces(data_dir)
        self.ctx = ctx
        app = build_app(ctx)
        if self.settings.admin:
            admin.add_routes(app, ctx)
            keys.add_routes(app, ctx)
        self.app = app
        runner = AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        if self.settings.fast_path:
            self._fast = FastPath(ctx, runner.server)
            self._fast_server = await asyncio.get_running_loop().create_server(
                self._fast.protocol, self.settings.host, self.settings.port, reuse_address=True
            )
            self.port = int(self._fast_server.sockets[0].getsockname()[1])
        else:
            site = web.TCPSite(runner, self.settings.host, self.settings.port, reuse_address=True)
            await site.start()
            self.port = _bound_port(site)
        if self.settings.tls_port is not None:
            tls_site = web.TCPSite(
                runner,
                self.settings.host,
                self.settings.tls_port,
                ssl_context=self._ssl_context(),
                reuse_address=True,
            )
            await tls_site.start()
            self.tls_port = _bound_port(tls_site)
        if self.settings.admin:
            # server.json tells the CLI where the admin endpoint is; without that endpoint the
            # CLI must not try it (it falls back to the journal, which the lock then refuses)
            admin.write_endpoint_file(data_dir, self.settings.host, self.port)
        self._tasks = [
            asyncio.create_task(
                self._every(self.settings.tick_interval_s, self._tick), name="tick"
            ),
            asyncio.create_task(
                self._every(self.settings.flush_interval_s, self._flush), name="views-flush"
            ),
        ]
        if self._fast is not None:
            self._tasks.append(
                asyncio.create_task(self._every(15.0, self._close_idle), name="close-idle")
            )
        return ctx

    async def stop(self) -> None:
        """Stop listening, stop the periodic jobs, flush and close the data."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._fast_server is not None:
            self._fast_server.close()
            assert self._fast is not None
            self._fast.close_all()
            await self._fast_server.wait_closed()
            self._fast_server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.settings.admin:
            admin.remove_endpoint_file(self.settings.data_dir)
        if self._nonce_write is not None:
            # cancelling the flush task does not stop its thread; wait for its write to finish
            with contextlib.suppress(Exception):
                await self._nonce_write
            self._nonce_write = None
        if self.ctx is not None and NONCES_EXTRA in self.ctx.extras:
            save_nonces(self.settings.data_dir, self.ctx.extras[NONCES_EXTRA])
        if self._store is not None:
            await self._store.close()
            self._store = None

    # -- urls -------------------------------------------------------------------------------

    def _url_host(self) -> str:
        host = self.settings.host
        if host in ("0.0.0.0", "", "::"):
            return "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def rest_url(self) -> str:
        """The REST base including /v2, as bfxapi wants it (clients.md §1)."""
        return f"http://{self._url_host()}:{self.port}/v2"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host()}:{self.port}/ws/2"

    @property
    def tls_rest_url(self) -> str | None:
        return None if self.tls_port is None else f"https://{self._url_host()}:{self.tls_port}/v2"

    @property
    def tls_ws_url(self) -> str | None:
        return None if self.tls_port is None else f"wss://{self._url_host()}:{self.tls_port}/ws/2"

    # -- commands ---------------------------------------------------------------------------

    def submit_threadsafe(self, command: Command) -> list[Event]:
        """Submit from another thread and wait for the events (tests, CLI)."""
        if self.loop is None or self.ctx is None:
            raise RuntimeError("the server is not running")
        future: concurrent.futures.Future[list[Event]] = asyncio.run_coroutine_threadsafe(
            self.ctx.submit(command), self.loop
        )
        return future.result(timeout=30)

    # -- internals --------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        from venue.gateway import tls

        cert, key = self.settings.tls_cert, self.settings.tls_key
        if self.settings.self_signed:
            cert, key = tls.ensure_self_signed(self.settings.data_dir)
        assert cert is not None and key is not None  # Settings.validate guarantees it
        return tls.server_context(Path(cert), Path(key))

    async def _every(self, interval_s: float, job: Any) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                # a failing periodic job must not take the server down; it is retried next time
                log.exception("periodic job %s failed", getattr(job, "__name__", job))

    async def _tick(self) -> None:
        assert self.ctx is not None
        await self.ctx.submit(Tick())

    async def _close_idle(self) -> None:
        if self._fast is not None:
            self._fast.close_idle(time.monotonic())

    async def _flush(self) -> None:
        assert self.ctx is not None
        await self._save_nonces()
        flush = getattr(self.ctx.market_data, "flush", None)
        if flush is not None:
            result = flush()
            if asyncio.iscoroutine(result):
                await result


    async def _save_nonces(self) -> None:
        assert self.ctx is not None
        tracker = self.ctx.extras.get(NONCES_EXTRA)
        if tracker is None or not tracker.changed():
            return
        state = tracker.take_state()
        write = asyncio.ensure_future(asyncio.to_thread(write_nonces, self.settings.data_dir, state))
        self._nonce_write = write
        try:
            await asyncio.shield(write)
        except BaseException:
            tracker.mark_changed()  # not saved: the next flush tries again
            raise


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here; its sockets know the port
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        return int(sock.getsockname()[1])
    raise RuntimeError("the listener has no socket")
