"""Public REST endpoints under /v2/ (spec/bitfinex-v2.md §3).

Each endpoint parses its input with venue/protocol/rest.py (which raises ``ProtocolError`` with
Bitfinex's code and text, answered by the app's error boundary), reads from the views
(``ctx.market_data``: books, tickers, candles, stats, trade history) and renders with
venue/protocol/serialize.py, so field order, lengths and ``null`` placeholders are the spec's.
Nothing here changes state, so nothing goes through the sequencer. Auth headers are accepted
and ignored: bfxapi sends them on public GETs when it has credentials (spec §11).

Every GET answer depends only on the views (and the static registry), so it is cached by path
and query string until the next command is released to the views (``sequencer.released_seq``
moves): between two commands the views cannot change, so a cache hit is always the current
answer. This keeps the hot endpoints (ticker, book, trades) at the cost of the HTTP stack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from venue.core.numbers import SCALE, to_decimal_from_raw
from venue.gateway.app import CTX, ServerContext, json_response
from venue.protocol import rest, serialize
from venue.protocol.conf import ConfTable
from venue.protocol.errors import Code, ProtocolError, invalid
from venue.protocol.wire import dumps, num

_STATUS_OPERATIVE = b"[1]"  # §3.1: 1 = operative, 0 = maintenance
_STATUS_MAINTENANCE = b"[0]"
# ctx.extras key of the WebSocket server (venue/gateway/ws.py): its session config holds the
# platform status that ``venue announce maintenance-start``/``-end`` switches
_WS_STATE = "ws_state"
_DEEP = 10**9  # "every level" when walking a book


# -- the views, as this module uses them ------------------------------------------------------


def released_seq(ctx: ServerContext) -> int:
    """The seq of the last command the views have seen (answers may change after it)."""
    seq: int = ctx.sequencer.released_seq
    return seq


class _Cache:
    """Rendered answers valid until the views move on (see the module docstring).

    Keyed by the request target as sent (path and query, not decoded); only successful answers
    are kept (an error is raised before anything is stored), at most ``LIMIT`` of them per seq.
    """

    LIMIT = 4096  # odd parameter combinations cannot grow it without bound

    __slots__ = ("seq", "entries")

    def __init__(self) -> None:
        self.seq = -1
        self.entries: dict[str, bytes] = {}

    def get(self, seq: int, key: str) -> bytes | None:
        if seq != self.seq:
            self.seq = seq
            self.entries.clear()
            return None
        return self.entries.get(key)

    def put(self, key: str, body: bytes) -> None:
        if len(self.entries) < self.LIMIT:
            self.entries[key] = body


Handler = Callable[[web.Request], Awaitable[web.Response]]
_CACHE_EXTRA = "public_rest_cache"  # ctx.extras key of the _Cache


def _ctx(request: web.Request) -> ServerContext:
    return request.app[CTX]


def _market_data(ctx: ServerContext) -> Any:
    """The views facade (venue/views/market_data.py: books, tickers, candles, stats, history)."""
    return ctx.market_data


def _ticker_values(ctx: ServerContext, symbol: str) -> list[Any]:
    return serialize.ticker(_market_data(ctx).tickers.row(symbol))


def _last_price(ctx: ServerContext, symbol: str) -> int:
    """The last trade price of a market, or its configured reference price before any trade."""
    row = _market_data(ctx).tickers.row(symbol)
    if row.last_price:
        return int(row.last_price)
    market = ctx.registry.market(symbol)
    assert market is not None
    return market.reference_price


# -- GET endpoints: pure renderers (ctx, path parameters, query) → JSON bytes --------------------

Params = Mapping[str, str]
Render = Callable[[ServerContext, Params, Params], bytes]


def platform_status(ctx: ServerContext) -> int:
    """1 operative, 0 between an announced maintenance start (20060) and its end (20061)."""
    config = getattr(ctx.extras.get(_WS_STATE), "session_config", None)
    return int(getattr(config, "platform_status", 1))


def render_platform_status(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/platform/status`` → ``[1]``, or ``[0]`` during maintenance (§3.1) — the status
    new WebSocket connections are greeted with."""
    return _STATUS_OPERATIVE if platform_status(ctx) else _STATUS_MAINTENANCE


def render_ticker(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/ticker/{symbol}`` → the 10 trading ticker values (§3.3)."""
    parsed = rest.parse_ticker(path["symbol"], ctx.registry)
    return dumps(_ticker_values(ctx, parsed.symbol))


def render_tickers(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/tickers?symbols=…|ALL`` → one 11-value row per listed symbol (§3.2)."""
    parsed = rest.parse_tickers(query, ctx.registry)
    return dumps([[s, *_ticker_values(ctx, s)] for s in parsed.symbols])


def render_tickers_hist(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/tickers/hist`` → 13-value rows ``[SYMBOL, BID, null, ASK, null×8, MTS]`` (§3.4),
    from the views' hourly samples of the best bid and ask (one year back)."""
    parsed = rest.parse_tickers_hist(query, ctx.registry)
    h = parsed.history
    history = _market_data(ctx).history
    samples = history.tickers_hist(parsed.symbols, h.start, h.end, h.limit, h.sort)
    return dumps([serialize.tickers_hist_row(t.symbol, t.bid, t.ask, t.mts) for t in samples])


def render_trades(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/trades/{symbol}/hist`` → ``[ID, MTS, AMOUNT, PRICE]`` rows (§3.5)."""
    parsed = rest.parse_trades(path["symbol"], path["section"], query, ctx.registry)
    h = parsed.history
    found = _market_data(ctx).history.trades(parsed.symbol, h.start, h.end, h.limit, h.sort)
    return dumps([[t.id, t.mts, num(t.amount), num(t.price)] for t in found])


def render_book(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/book/{symbol}/{precision}?len=`` → bids best-first, then asks (§3.6)."""
    parsed = rest.parse_book(path["symbol"], path["precision"], query, ctx.registry)
    snapshot = _market_data(ctx).books.snapshot(parsed.symbol, parsed.precision, parsed.length)
    if parsed.precision == "R0":
        return dumps([serialize.raw_book_entry(*row) for row in snapshot])
    return dumps([serialize.book_level(*row) for row in snapshot])


def render_candles(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/candles/trade:{TF}:{symbol}/{last|hist}`` (§3.8).

    ``last`` is one candle (``[]`` before the first trade); ``hist`` a list.
    """
    parsed = rest.parse_candles(path["key"], path["section"], query, ctx.registry)
    series = _market_data(ctx).candles
    key = parsed.candle
    if parsed.section == "last":
        last = series.last(key.symbol, key.timeframe)
        return dumps([] if last is None else serialize.candle_values(*last))
    h = parsed.history
    found = series.hist(key.symbol, key.timeframe, h.start, h.end, h.limit, h.sort)
    return dumps([serialize.candle_values(*c) for c in found])


def render_stats1(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/stats1/{key}/{last|hist}`` → ``[MTS, VALUE]`` / a list of them (§3.7).

    Venue is a spot exchange: it serves the platform volume and VWAP keys; the position and
    funding keys are well-formed requests with no data (``[]``).
    """
    parsed = rest.parse_stats(path["key"], path["section"], query, ctx.registry)
    stats = _market_data(ctx).stats
    key = parsed.stats.key
    supported = stats.supports(key)
    if parsed.section == "last":
        point = stats.last(key) if supported else None
        return dumps([] if point is None else serialize.stat(*point))
    h = parsed.history
    points = stats.hist(key, h.start, h.end, h.limit, h.sort) if supported else []
    return dumps([serialize.stat(*p) for p in points])


_CONF_EXTRA = "public_conf_table"  # ctx.extras key of the ConfTable (built once per server)


def render_conf(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/conf/{keys}`` → one element per requested key, in request order (§3.9)."""
    table = ctx.extras.get(_CONF_EXTRA)
    if table is None:
        table = ctx.extras[_CONF_EXTRA] = ConfTable(ctx.registry)
    return dumps(table.answer(path["keys"]))


# -- endpoints of markets venue does not list (derivatives, funding, leaderboards) -----------------
# The requests are well-formed Bitfinex requests, so they get well-formed answers: no rows. A
# client polling them (bfxapi offers them all) sees an empty market rather than an error.

_RANKING_KEYS = ("plu_diff", "plu", "plr", "vol")  # §3.12


def render_status_deriv(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/status/deriv?keys=…|ALL`` (§3.10): venue lists no derivatives → ``[]``."""
    if not query.get("keys"):
        raise invalid("keys")
    return b"[]"


def render_status_deriv_hist(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/status/deriv/{key}/hist`` (§3.10): no derivatives → ``[]``."""
    if path["section"] != "hist":
        raise invalid("section")
    rest.parse_history(query, "status_deriv_hist")
    return b"[]"


def render_liquidations(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/liquidations/hist`` (§3.11): no margin liquidations → ``[]``."""
    rest.parse_history(query, "liquidations")
    return b"[]"


def render_rankings(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/rankings/{key}:{tf}:{symbol}/{section}`` (§3.12): no leaderboards → ``[]``."""
    if path["key"].split(":", 1)[0] not in _RANKING_KEYS:
        raise invalid("key")
    if path["section"] not in rest.SECTIONS:
        raise invalid("section")
    rest.parse_history(query, "rankings")
    return b"[]"


def render_funding_stats(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/funding/stats/{fSYMBOL}/hist`` (§3.13): no funding market yet → ``[]``."""
    rest.funding_currency(path["symbol"], ctx.registry)
    if path["section"] != "hist":
        raise invalid("section")
    rest.parse_history(query, "funding_stats")
    return b"[]"


def render_ext_vasps(ctx: ServerContext, path: Params, query: Params) -> bytes:
    """``GET /v2/ext/vasps`` (§3.16): the travel-rule VASPs a withdrawal may name; a local venue
    knows none → ``[]`` (each would be ``{"id": DID, "name": NAME}``)."""
    return b"[]"


# (route, renderer). ``{name}`` matches one non-empty path segment, as in aiohttp's router.
GET_ROUTES: tuple[tuple[str, Render], ...] = (
    ("/v2/platform/status", render_platform_status),
    ("/v2/tickers", render_tickers),
    ("/v2/tickers/hist", render_tickers_hist),
    ("/v2/ticker/{symbol}", render_ticker),
    ("/v2/trades/{symbol}/{section}", render_trades),
    ("/v2/book/{symbol}/{precision}", render_book),
    ("/v2/candles/{key}/{section}", render_candles),
    ("/v2/stats1/{key}/{section}", render_stats1),
    ("/v2/conf/{keys}", render_conf),
    ("/v2/status/deriv", render_status_deriv),
    ("/v2/status/deriv/{key}/{section}", render_status_deriv_hist),
    ("/v2/liquidations/hist", render_liquidations),
    ("/v2/rankings/{key}/{section}", render_rankings),
    ("/v2/funding/stats/{symbol}/{section}", render_funding_stats),
    ("/v2/ext/vasps", render_ext_vasps),
)


def _compile_routes() -> dict[tuple[str, int], list[tuple[tuple[str | None, ...], Render]]]:
    """Routes indexed by (first segment after /v2/, number of segments) for quick matching."""
    table: dict[tuple[str, int], list[tuple[tuple[str | None, ...], Render]]] = {}
    for route, render in GET_ROUTES:
        segments = route[len("/v2/") :].split("/")
        pattern = tuple(None if seg.startswith("{") else seg for seg in segments)
        names = tuple(seg[1:-1] for seg in segments if seg.startswith("{"))
        table.setdefault((segments[0], len(segments)), []).append(((*pattern, *names), render))
    return table


_ROUTE_TABLE = _compile_routes()


def match_get(path: str) -> tuple[Render, dict[str, str]] | None:
    """The renderer and path parameters for a decoded request path, None when no GET route
    matches (then aiohttp answers it, e.g. with the unknown-path error)."""
    if not path.startswith("/v2/"):
        return None
    segments = path[4:].split("/")
    candidates = _ROUTE_TABLE.get((segments[0], len(segments)))
    if candidates is None:
        return None
    for spec, render in candidates:
        pattern, names = spec[: len(segments)], spec[len(segments) :]
        values = []
        for want, got in zip(pattern, segments):
            if want is None:
                if not got or "{" in got or "}" in got:
                    break
                values.append(got)
            elif want != got:
                break
        else:
            return render, dict(zip(names, values))  # type: ignore[arg-type]
    return None


# Answers that depend on more than the views: an announcement changes them without a command.
UNCACHED: frozenset[Render] = frozenset({render_platform_status})


def get_answer(ctx: ServerContext, render: Render, path: Params, query: Params, key: str) -> bytes:
    """The body for a GET, from the cache when the views have not moved since it was made.

    Raises ``ProtocolError`` for bad input (never cached).
    """
    if render in UNCACHED:
        return render(ctx, path, query)
    cache: _Cache = ctx.extras[_CACHE_EXTRA]
    seq = released_seq(ctx)
    body = cache.get(seq, key)
    if body is None:
        body = render(ctx, path, query)
        if released_seq(ctx) == seq:  # nothing was released while the answer was built
            cache.put(key, body)
    return body


def first_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query parameters with the first value of a repeated name (what aiohttp's ``.get`` gives)."""
    values: dict[str, str] = {}
    for name, value in pairs:
        values.setdefault(name, value)
    return values


def _aiohttp_handler(render: Render) -> Handler:
    async def answer(request: web.Request) -> web.Response:
        ctx = _ctx(request)
        query = first_values(request.query.items())
        # the target exactly as sent: decoded forms can collide ("a=%26b" and "a=&b")
        return json_response(get_answer(ctx, render, request.match_info, query, request.raw_path))

    answer.__name__ = answer.__qualname__ = render.__name__.replace("render_", "")
    answer.__doc__ = render.__doc__
    return answer


# -- POST endpoints -----------------------------------------------------------------------------


async def _post_body(request: web.Request) -> Any:
    """The JSON body of a calc POST, None when empty (Node sends ``{}``, bfxapi a real body)."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError(Code.PARAMS, "input: invalid") from None


def walk_book(
    levels: list[tuple[int, int, int]], amount: int, limit: int | None, buy: bool
) -> tuple[int, int]:
    """(average price, amount filled) of taking ``amount`` from ``levels`` (best first).

    ``levels`` are P0 rows ``(price, count, signed amount)`` of the side that would be taken;
    a ``limit`` price stops the walk at levels worse than it. The average is the notional
    divided by the filled amount, rounded half-up to 8 decimals.
    """
    remaining = abs(amount)
    filled = notional = 0
    for price, _count, level_amount in levels:
        if limit is not None and (price > limit if buy else price < limit):
            break
        take = min(remaining, abs(level_amount))
        filled += take
        notional += take * price
        remaining -= take
        if remaining == 0:
            break
    if filled == 0:
        return 0, 0
    average = (notional * 2 + filled) // (2 * filled)
    return average, filled


async def calc_trade_avg(request: web.Request) -> web.Response:
    """``POST /v2/calc/trade/avg`` → ``[PRICE_AVG, AMOUNT]``: walk the book (§3.14).

    A buy (amount > 0) walks the asks from the best, a sell the bids; AMOUNT is the signed
    amount the book can fill (less than asked when the book, or the price limit, runs out).
    """
    ctx = _ctx(request)
    query = rest.parse_trade_average(request.query, await _post_body(request), ctx.registry)
    buy = query.amount > 0
    snapshot = _market_data(ctx).books.snapshot(query.symbol, "P0", _DEEP)
    side = [row for row in snapshot if (row[2] < 0) == buy]
    average, filled = walk_book(side, query.amount, query.price_limit, buy)
    return json_response(dumps(serialize.trade_average(average, filled if buy else -filled)))


def _rate_graph(ctx: ServerContext) -> dict[str, list[tuple[str, Decimal]]]:
    """currency → [(other currency, units of other per unit)], from every market's last price."""
    graph: dict[str, list[tuple[str, Decimal]]] = {}
    for market in ctx.registry.markets:
        price = to_decimal_from_raw(_last_price(ctx, market.symbol))
        if price <= 0:
            continue
        graph.setdefault(market.base, []).append((market.quote, price))
        graph.setdefault(market.quote, []).append((market.base, 1 / price))
    return graph


def fx_rate(ctx: ServerContext, source: str, target: str) -> int:
    """Units of ``target`` per unit of ``source`` (raw): through the fewest markets, using
    last trade prices (reference prices before the first trade)."""
    if source == target:
        return SCALE
    graph = _rate_graph(ctx)
    rates: dict[str, Decimal] = {source: Decimal(1)}
    frontier = [source]
    while frontier and target not in rates:
        following = []
        for currency in frontier:
            for other, rate in graph.get(currency, ()):
                if other not in rates:
                    rates[other] = rates[currency] * rate
                    following.append(other)
        frontier = following
    if target not in rates:
        raise invalid("ccy2")
    return int((rates[target] * SCALE).quantize(Decimal(1), rounding="ROUND_HALF_UP"))


async def calc_fx(request: web.Request) -> web.Response:
    """``POST /v2/calc/fx`` ``{"ccy1":"BTC","ccy2":"USD"}`` → ``[CURRENT_RATE]`` (§3.15)."""
    ctx = _ctx(request)
    query = rest.parse_fx(request.query, await _post_body(request), ctx.registry)
    rate = fx_rate(ctx, query.currency_from, query.currency_to)
    return json_response(dumps(serialize.fx_rate(rate)))


def add_routes(app: web.Application, ctx: ServerContext) -> None:
    """Register every public endpoint on ``app``."""
    ctx.extras.setdefault(_CACHE_EXTRA, _Cache())
    for route, render in GET_ROUTES:
        app.router.add_get(route, _aiohttp_handler(render))
    app.router.add_post("/v2/calc/trade/avg", calc_trade_avg)
    app.router.add_post("/v2/calc/fx", calc_fx)
