"""The aiohttp application: shared server context, route modules, and the one error boundary.

``build_app(ctx)`` mounts the public REST routes (http_public.py) and, when their modules are
present, the authenticated REST routes (http_auth.py) and the WebSocket endpoint (ws.py); each
route module exposes ``add_routes(app, ctx)`` and finds the context again with
``request.app[CTX]``.

Rules this module keeps (spec/bitfinex-v2.md §9, style.md §8.7):
- every error answer has Bitfinex's shape, HTTP 500 ``["error", CODE, "text"]``: a
  ``ProtocolError`` raised by a handler, an unknown path, a wrong method, and any exception that
  escapes a handler (logged here with its stack trace, never put on the wire);
- a request aiohttp's HTTP parser refuses (a request line or header over 8190 bytes, a bad
  method, chunk size or Content-Length) is answered the same way, ``["error",10020,"request:
  invalid"]``, by ``AnsweringRequestHandler`` (logged at debug level: the peer's fault, not ours);
- a client that leaves mid-request (ConnectionResetError while its body is read) is logged at
  debug level only: nobody is left to answer, nothing was applied;
- a request refused by the rate limiter is answered HTTP 429 ``["error",11010,"ratelimit: error"]``
  before its handler runs;
- handlers never touch core state directly: writes go through ``ctx.sequencer.submit``, reads come
  from the views (``ctx.market_data``) or the exchange's read methods (``ctx.exchange``).
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from venue.config import Settings
from venue.core.commands import Command
from venue.core.events import Event, OrderAccepted, TradeExecuted
from venue.core.symbols import Registry
from venue.gateway.clock import Clock
from venue.gateway.ratelimit import RateLimiter
from venue.gateway.sequencer import SequencerStopped
from venue.protocol.errors import Code, ProtocolError, http_status

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
WS_PATH = "/ws/2"

# Bitfinex codes used at this boundary (spec §9); venue/protocol/errors.py holds the full list.
CODE_UNKNOWN = 10000
CODE_PARAMS = 10020
CODE_RATE_LIMIT = 11010


@dataclass(slots=True)
class ServerStats:
    """Counters for the demo's status line; only the event loop thread writes them."""

    connections: int = 0  # open WebSocket connections
    requests: int = 0  # HTTP requests answered (WS upgrades included)
    orders: int = 0  # orders accepted by the exchange
    trades: int = 0  # public trades executed

    def on_events(self, seq: int, ts: int, events: list[Event]) -> None:
        """Sequencer listener: count accepted orders and executed trades."""
        for event in events:
            kind = type(event)  # event classes are final: an exact type test is enough
            if kind is OrderAccepted:
                self.orders += 1
            elif kind is TradeExecuted:
                self.trades += 1


@dataclass(slots=True)
class ServerContext:
    """What every handler may use. One per running server.

    ``sequencer``: the single writer (``await submit(command) -> events``, ``.exchange``).
    ``market_data``: the views facade (tickers, books, candles, trade history).
    """

    settings: Settings
    sequencer: Any
    market_data: Any
    registry: Registry
    clock: Clock
    data_dir: Path
    admin_token: str
    rate_limiter: RateLimiter
    stats: ServerStats = field(default_factory=ServerStats)
    # anything else a route module wants to keep per server (e.g. the WS fan-out hub)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def exchange(self) -> Any:
        """The core, for read-only queries (never call ``apply`` on it)."""
        return self.sequencer.exchange

    @property
    def views(self) -> Any:
        """Alias of ``market_data`` (the name docs/architecture.md uses)."""
        return self.market_data

    async def submit(self, command: Command) -> list[Event]:
        """Send a command through the sequencer; its events once durable."""
        result: list[Event] = await self.sequencer.submit(command)
        return result


CTX: web.AppKey[ServerContext] = web.AppKey("venue_ctx", ServerContext)


def error_body(code: int, text: str) -> bytes:
    """The wire form of an error: ``["error",CODE,"text"]``."""
    return orjson.dumps(["error", code, text])


def error_response(code: int, text: str, status: int = 500) -> web.Response:
    """Bitfinex's REST error answer (HTTP 500 unless told otherwise)."""
    return web.Response(
        body=error_body(code, text), status=status, content_type=JSON_CONTENT_TYPE, charset="utf-8"
    )


def json_response(body: bytes) -> web.Response:
    """A successful answer whose body is already JSON bytes.

    ``application/json; charset=utf-8`` is the header the real API sends (spec §1).
    """
    return web.Response(body=body, content_type=JSON_CONTENT_TYPE, charset="utf-8")


def rate_limit_key(path: str) -> tuple[str, str] | None:
    """(limit name, endpoint key) of a request path, None for paths without a limit.

    The limit name selects the requests-per-minute number (config.DEFAULT_RATE_LIMITS); the
    endpoint key separates counters, so that every authenticated endpoint has its own 90/min
    as on Bitfinex (§4.2) while sharing the one "auth" number.
    """
    if not path.startswith("/v2/"):
        return None
    rest = path[4:]
    if rest.startswith("auth/"):
        return "auth", rest
    parts = rest.split("/")
    head = parts[0]
    if head in ("platform", "calc", "status") and len(parts) > 1:
        name = f"{head}/{parts[1]}"
        if head == "calc" and len(parts) > 2:
            name = f"calc/{parts[1]}/{parts[2]}"
        return name, name
    if head == "tickers" and len(parts) > 1 and parts[1] == "hist":
        return "tickers/hist", "tickers/hist"
    return head, head


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _http_exception_answer(exc: web.HTTPException) -> web.Response:
    # Unknown paths and wrong methods are bad requests like any other (spec §9 error shape).
    if exc.status == 404:
        return error_response(CODE_PARAMS, "path: invalid")
    if exc.status == 405:
        return error_response(CODE_PARAMS, "method: invalid")
    if exc.status == 413:
        return error_response(CODE_PARAMS, "body: too large")
    if exc.status < 400:
        raise exc  # redirects and the like are not errors
    return error_response(CODE_PARAMS, "request: invalid")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one error boundary (style.md §8.7) plus rate limits and request counters."""
    ctx = request.app[CTX]
    ctx.stats.requests += 1
    if ctx.rate_limiter.enabled:
        key = rate_limit_key(request.path)
        if key is not None:
            name, endpoint = key
            if not ctx.rate_limiter.allow(request.remote or "", name, endpoint):
                return error_response(CODE_RATE_LIMIT, "ratelimit: error", status=429)
    is_ws = request.path == WS_PATH
    if is_ws:
        ctx.stats.connections += 1
    try:
        return await handler(request)
    except ProtocolError as exc:
        return error_response(int(exc.code), exc.text, http_status(exc.code))
    except web.HTTPException as exc:
        return _http_exception_answer(exc)
    except (HttpProcessingError, web.RequestPayloadError) as exc:
        # the body could not be read as sent (e.g. a Content-Encoding that does not decode):
        # bad input, answered without a stack trace; the connection's state is unknown, so it closes
        log.debug("unreadable request body for %s %s: %s", request.method, request.path, exc)
        answer = error_response(CODE_PARAMS, "request: invalid")
        answer.force_close()
        return answer
    except ConnectionResetError:
        # the client went away mid-request (closed or reset while sending its body): there is
        # nobody to answer and nothing was applied; not a server fault, so no stack trace
        log.debug("client left during %s %s", request.method, request.path)
        answer = error_response(CODE_PARAMS, "request: invalid")
        answer.force_close()
        return answer
    except SequencerStopped:
        # the journal failed: nothing more can be made durable, so nothing is accepted; 11000
        # (ERR_READY, spec §7.8) is Bitfinex's "not ready, try later"
        log.critical("refusing %s %s: the journal has failed", request.method, request.path)
        return error_response(int(Code.NOT_READY), "journal: unavailable")
    except Exception:
        log.exception("unhandled error answering %s %s", request.method, request.path)
        return error_response(CODE_UNKNOWN, "unknown error")
    finally:
        if is_ws:
            ctx.stats.connections -= 1


class AnsweringRequestHandler(web.RequestHandler):
    """aiohttp's per-connection protocol, answering what its HTTP parser refuses in Bitfinex's shape.

    aiohttp answers an unparsable request (line or header too long, bad method, bad chunk size)
    itself, before any middleware, with a text/plain 400 and a stack trace in the log. Here it
    gets HTTP 500 ``["error",10020,"request: invalid"]`` and a debug line; the connection still
    closes, as the parser's state is lost. Server faults (status 500/504) keep aiohttp's handling.
    """

    __slots__ = ()

    def log_exception(self, *args: Any, **kw: Any) -> None:
        # After the answer, aiohttp reads what is left of the body and logs its failure with a
        # stack trace; a body that does not decode is the peer's fault, already answered.
        exc = kw.get("exc_info")
        if isinstance(exc, (HttpProcessingError, web.RequestPayloadError)):
            log.debug("unreadable request from a peer: %s", exc)
            return
        super().log_exception(*args, **kw)

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        log.debug("malformed HTTP request from %s: %s", request.remote, message or exc)
        answer = error_response(CODE_PARAMS, "request: invalid")
        answer.force_close()
        return answer


def _answering_handler(server: web.Server) -> web.RequestHandler:
    # what web.Server.__call__ does, with the subclass
    return AnsweringRequestHandler(server, loop=server._loop, **server._kwargs)


class AppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections are ``AnsweringRequestHandler``s.

    Sites (``web.TCPSite``) take their protocol factory from ``runner.server``; the connections
    still register with the runner's own ``web.Server``, so shutdown works as before.
    """

    @property
    def server(self) -> Any:
        server = super().server
        return None if server is None else functools.partial(_answering_handler, server)


def _mount_optional(app: web.Application, ctx: ServerContext, module_name: str) -> bool:
    """Mount ``module_name.add_routes`` if that module exists; True when mounted."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the module exists but one of its imports is missing: a real error
        log.warning("%s is not available; its routes are not served", module_name)
        return False
    module.add_routes(app, ctx)
    return True


def build_app(ctx: ServerContext) -> web.Application:
    """The application serving REST under /v2/… and WebSocket at /ws/2 for ``ctx``."""
    app = web.Application(middlewares=[error_middleware], client_max_size=1024 * 1024)
    app[CTX] = ctx
    from venue.gateway import http_public

    http_public.add_routes(app, ctx)
    _mount_optional(app, ctx, "venue.gateway.http_auth")
    _mount_optional(app, ctx, "venue.gateway.ws")
    return app
