"""Public channel fan-out: one rendering per channel update, one socket write per connection tick.

Data path (design.md "Performance shape", stack-bench §2d)::

    sequencer listener (seq, ts, events)  ─▶  Hub.on_events: note touched symbols and trades,
                                              schedule one publish for this loop tick
    Hub.publish (call_soon)               ─▶  per stream with subscribers: compute the update
                                              (book: TopBook.updates(), trades: te/tu, …),
                                              render its body ONCE per format variant in use,
                                              hand it to every subscriber's WsSession
    WsSession.send_channel                ─▶  b"[chanId," + body + seq/ts tail + b"]"
    Outlet (one per connection)           ─▶  all frames queued in this tick go out in ONE
                                              transport.write (several WS frames joined)

Invariants:
- **no gap**: a subscriber's snapshot is taken from the stream's own "as last sent" state in the
  same synchronous step that registers it, so every later update applies to exactly the
  snapshot it received (books: ``views.books.TopBook``; trades: the stream's ring of recent
  trades). Ticker and candle frames are whole values that replace what they name (a ticker, a
  candle by MTS), so their snapshots can be read fresh from the views;
- views are read only from the deferred publish, never inside the sequencer listener: by then
  every listener of the released commands (the views first of all) has run;
- F1 book streams change only on the 2-second timer, F0 streams on every publish;
- book updates put every deletion before any addition (a level can change sides between two
  updates), and the ``cs`` frame that follows them is computed with ``channels.book_checksum``
  from the same digits the rows were written with (§7.5);
- a connection whose unsent bytes exceed ``max_buffer`` is closed with 1008 "slow consumer"
  instead of buffering without bound (websockets' broadcast advice: never block the fan-out).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from typing import Any, Callable, Protocol, Sequence

from venue.core.events import ORDER_EVENTS, Event, TradeExecuted
from venue.protocol import channels as ch
from venue.protocol.ws import Subscription, WsSession


log = logging.getLogger(__name__)

F1_INTERVAL_S = 2.0  # spec §7.3: F1 = at most one batch every 2 s
TRADES_SNAPSHOT = 30  # the real exchange's trades snapshot holds the 30 most recent trades
CANDLES_SNAPSHOT = 240
DEFAULT_MAX_BUFFER = 4 * 1024 * 1024  # unsent bytes per connection before it is dropped
SLOW_CONSUMER_CODE = 1008  # RFC 6455 policy violation: the client reads too slowly


class MarketSource(Protocol):
    """What the fan-out reads from the views (adapted from ``ctx.market_data``)."""

    def track(self, symbol: str, prec: str, length: int) -> Any: ...

    def untrack(self, tracker: Any) -> None: ...

    def ticker(self, symbol: str) -> Sequence[int] | None: ...

    def trades(self, symbol: str, limit: int) -> Sequence[ch.TradeRow]: ...

    def candles(self, timeframe: str, symbol: str, limit: int) -> Sequence[ch.CandleRow]: ...


# -- streams: one per distinct ChannelSpec.key with at least one subscriber ------------------------


class _Stream:
    """Subscribers of one channel key and the delivery loop shared by every kind."""

    __slots__ = ("spec", "subscribers")

    def __init__(self, spec: ch.ChannelSpec) -> None:
        self.spec = spec
        self.subscribers: dict[Subscription, WsSession] = {}

    def deliver(self, render: Callable[[int], bytes], ts: int) -> None:
        """Render the body once per format in use and queue it to every subscriber."""
        bodies: list[bytes | None] = [None] * ch.FORMATS
        for sub, session in self.subscribers.items():
            fmt = session.format
            body = bodies[fmt]
            if body is None:
                body = bodies[fmt] = render(fmt)
            session.send_channel(sub, body, ts)

    def snapshot(self, session: WsSession, sub: Subscription, ts: int) -> None:
        raise NotImplementedError


class _BookStream(_Stream):
    __slots__ = ("tracker", "dirty")

    def __init__(self, spec: ch.ChannelSpec, tracker: Any) -> None:
        super().__init__(spec)
        self.tracker = tracker
        self.dirty = False

    def checksum_body(self) -> bytes:
        """The ``"cs"`` body for the view the subscribers hold (§7.5), from the wire digits."""
        bids, asks = self.tracker.sides()
        return ch.render_checksum(ch.book_checksum(self.spec.prec, bids, asks))

    def snapshot(self, session: WsSession, sub: Subscription, ts: int) -> None:
        bids, asks = self.tracker.sides()
        session.send_channel(sub, ch.render_book_snapshot(self.spec.prec, bids, asks, session.format), ts)
        if session.checksums:
            session.send_channel(sub, ch.render_checksum(ch.book_checksum(self.spec.prec, bids, asks)), ts)

    def publish(self, ts: int) -> None:
        """Bring the subscribers' view up to date: update rows, then the checksum (§7.5)."""
        self.dirty = False
        rows = self.tracker.updates()
        if not rows:
            return
        rows = _deletions_first(rows)
        prec = self.spec.prec
        variants: dict[tuple[int, bool], list[bytes]] = {}
        checksum: bytes | None = None
        for sub, session in self.subscribers.items():
            variant = (session.format, session.bulk)
            bodies = variants.get(variant)
            if bodies is None:
                bodies = variants[variant] = ch.render_book_update(prec, rows, *variant)
            for body in bodies:
                session.send_channel(sub, body, ts)
            if session.checksums:
                if checksum is None:
                    checksum = self.checksum_body()
                session.send_channel(sub, checksum, ts)


def _deletions_first(rows: list[ch.BookRow]) -> list[ch.BookRow]:
    """All deletions before any addition, across both sides.

    A P* level can change sides between two updates (the ask at 90010 is taken, then a bid rests
    at 90010). Clients that key a book by price alone would drop the new bid if its addition came
    before the old ask's deletion, so every deletion goes first (both layouts have the deletion
    marker, COUNT or PRICE 0, in the middle field; §7.4).
    """
    deletions = [row for row in rows if row[1] == 0]
    if not deletions or len(deletions) == len(rows):
        return rows
    return deletions + [row for row in rows if row[1] != 0]


class _TradesStream(_Stream):
    """Trades of one symbol. ``last_id`` is the newest trade the subscribers hold: the history
    read when the stream opens may already contain trades whose publish is still pending (the
    views listener runs before the deferred publish), and those must not come again as ``te``.
    Trade ids grow with every trade (one counter in the core), so "newer" is "larger id"."""

    __slots__ = ("recent", "last_id")

    def __init__(self, spec: ch.ChannelSpec, history: Sequence[ch.TradeRow]) -> None:
        super().__init__(spec)
        self.recent: deque[ch.TradeRow] = deque(history[:TRADES_SNAPSHOT], maxlen=TRADES_SNAPSHOT)
        self.last_id = max((row[0] for row in self.recent), default=0)

    def snapshot(self, session: WsSession, sub: Subscription, ts: int) -> None:
        session.send_channel(sub, ch.render_trades_snapshot(self.recent, session.format), ts)

    def publish(self, trade: ch.TradeRow, ts: int) -> None:
        """``te`` then ``tu`` for the same trade (§7.4; ccxt reads te, Node both)."""
        if trade[0] <= self.last_id:
            return  # already in the snapshot this stream's subscribers received
        self.last_id = trade[0]
        self.recent.appendleft(trade)
        self.deliver(lambda fmt: ch.render_trade_update("te", trade, fmt), ts)
        self.deliver(lambda fmt: ch.render_trade_update("tu", trade, fmt), ts)


class _TickerStream(_Stream):
    __slots__ = ("last",)

    def __init__(self, spec: ch.ChannelSpec, current: Sequence[int] | None) -> None:
        super().__init__(spec)
        self.last = tuple(current) if current is not None else None

    def snapshot(self, session: WsSession, sub: Subscription, ts: int) -> None:
        # Every ticker frame is a full ticker (§7.4); a market with no ticker yet sends nothing.
        if self.last is not None:
            session.send_channel(sub, ch.render_ticker(self.last, session.format), ts)

    def publish(self, current: Sequence[int] | None, ts: int) -> None:
        if current is None:
            return
        values = tuple(current)
        if values == self.last:
            return
        self.last = values
        self.deliver(lambda fmt: ch.render_ticker(values, fmt), ts)


class _CandlesStream(_Stream):
    """Candle updates are idempotent (same MTS replaces), so snapshots are read fresh."""

    __slots__ = ("last", "read")

    def __init__(self, spec: ch.ChannelSpec, read: Callable[[int], Sequence[ch.CandleRow]]) -> None:
        super().__init__(spec)
        self.read = read
        self.last: dict[int, tuple[int, ...]] = {}
        self._remember(read(2))

    def _remember(self, rows: Sequence[ch.CandleRow]) -> None:
        # only the two newest candles can still change (one period boundary per publish)
        for row in rows[:2]:
            self.last[row[0]] = tuple(row)
        for mts in sorted(self.last)[:-2]:
            del self.last[mts]

    def snapshot(self, session: WsSession, sub: Subscription, ts: int) -> None:
        rows = self.read(CANDLES_SNAPSHOT)
        session.send_channel(sub, ch.render_candles_snapshot(rows, session.format), ts)

    def publish(self, ts: int) -> None:
        """Send the candles that changed, oldest first (same MTS replaces, new MTS appends)."""
        newest = self.read(2)
        for row in reversed(newest[:2]):
            values = tuple(row)
            if self.last.get(values[0]) != values:
                self.last[values[0]] = values
                self.deliver(lambda fmt, r=values: ch.render_candle_update(r, fmt), ts)  # type: ignore[misc]
        self._remember(newest)


# -- per-connection output -----------------------------------------------------------------------


_SHORT_HEADERS = [bytes((0x81, size)) for size in range(126)]  # most channel frames are short


def ws_text_frame(payload: bytes) -> bytes:
    """The header of an unmasked, unfragmented RFC 6455 text frame for ``payload`` (§5.2:
    FIN + opcode 1, then the 7-bit, 16-bit or 64-bit payload length; servers never mask)."""
    size = len(payload)
    if size < 126:
        return _SHORT_HEADERS[size]
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)


class Outlet:
    """Writes one session's queued frames to its transport, all of one tick in one write."""

    __slots__ = ("session", "transport", "max_buffer", "on_slow", "_scheduled", "_flusher", "dropped")

    def __init__(
        self,
        session: WsSession,
        transport: asyncio.Transport,
        flusher: "Flusher",
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        on_slow: Callable[[], None] | None = None,
    ) -> None:
        self.session = session
        self.transport = transport
        self.max_buffer = max_buffer
        self.on_slow = on_slow
        self._scheduled = False
        self._flusher = flusher
        self.dropped = False
        session.on_output = self.wake

    def wake(self) -> None:
        """The session has output: flush it at the end of this loop tick (once)."""
        if not self._scheduled:
            self._scheduled = True
            self._flusher.add(self)

    def flush(self) -> None:
        self._scheduled = False
        frames = self.session.frames_to_send()
        if not frames or self.dropped:
            return
        transport = self.transport
        if transport.is_closing():
            return
        headers = _SHORT_HEADERS
        if len(frames) == 1:
            frame = frames[0]
            size = len(frame)
            data = (headers[size] if size < 126 else ws_text_frame(frame)) + frame
        else:
            parts: list[bytes] = []
            append = parts.append
            for frame in frames:
                size = len(frame)
                append(headers[size] if size < 126 else ws_text_frame(frame))
                append(frame)
            data = b"".join(parts)
        transport.write(data)
        if transport.get_write_buffer_size() > self.max_buffer:
            self.dropped = True
            if self.on_slow is not None:
                self.on_slow()


class Flusher:
    """Collects outlets woken during a loop tick and flushes them in one callback.

    The hub's publish also calls ``run`` itself right after queueing a channel update, so the
    frames of a publish go out in the same loop tick instead of one loop iteration (and every
    callback and I/O event queued in between) later. The scheduled callback then finds nothing
    to do, or flushes what was queued after that direct run (still before the next poll)."""

    __slots__ = ("_pending", "_loop", "_armed")

    def __init__(self) -> None:
        self._pending: list[Outlet] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._armed = False  # a scheduled run has not started yet

    def add(self, outlet: Outlet) -> None:
        if not self._armed:
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._scheduled_run)
            self._armed = True
        self._pending.append(outlet)

    def _scheduled_run(self) -> None:
        self._armed = False
        self.run()

    def run(self) -> None:
        pending, self._pending = self._pending, []
        for outlet in pending:
            try:
                outlet.flush()
            except Exception:  # one broken socket must not stop the others' output
                log.exception("writing to a WebSocket connection failed")


class Interval:
    """A period that never fires twice within ``seconds``: after the loop was held up, the next
    F1 batch is one period after the late one, not a burst of catch-up batches (§7.3: F1 sends
    at most one batch every 2 s)."""

    __slots__ = ("seconds", "next")

    def __init__(self, seconds: float, start: float) -> None:
        self.seconds = seconds
        self.next = start + seconds

    def due(self, now: float) -> bool:
        if now < self.next:
            return False
        self.next = now + self.seconds
        return True


# -- the hub ---------------------------------------------------------------------------------------


class Hub:
    """All public streams of one server and the sessions subscribed to them."""

    def __init__(self, market: MarketSource, now_ms: Callable[[], int]) -> None:
        self.market = market
        self.now_ms = now_ms
        self.flusher = Flusher()
        self.sessions: set[WsSession] = set()
        self._streams: dict[tuple[Any, ...], _Stream] = {}
        self._by_symbol: dict[str, list[_Stream]] = {}
        self._dirty: dict[str, None] = {}  # insertion-ordered set: publish order is event order
        self._trades: list[TradeExecuted] = []
        self._scheduled = False
        self._f1_dirty = False

    # -- subscriptions ---------------------------------------------------------------------------

    def subscribe(self, session: WsSession, sub: Subscription) -> None:
        """Register ``sub`` and queue its snapshot, in one synchronous step (no gap)."""
        stream = self._streams.get(sub.spec.key)
        if stream is None:
            stream = self._open(sub.spec)
        stream.subscribers[sub] = session
        stream.snapshot(session, sub, self.now_ms())

    def unsubscribe(self, session: WsSession, sub: Subscription) -> None:
        stream = self._streams.get(sub.spec.key)
        if stream is None or stream.subscribers.pop(sub, None) is None:
            return
        if not stream.subscribers:
            self._close(stream)

    def drop_session(self, session: WsSession) -> None:
        """Forget every subscription of a closed connection."""
        self.sessions.discard(session)
        for sub in list(session.subscriptions.values()):
            self.unsubscribe(session, sub)

    def _open(self, spec: ch.ChannelSpec) -> _Stream:
        market = self.market
        stream: _Stream
        if spec.channel == ch.BOOK:
            stream = _BookStream(spec, market.track(spec.symbol, spec.prec, spec.length))
        elif spec.channel == ch.TRADES:
            stream = _TradesStream(spec, market.trades(spec.symbol, TRADES_SNAPSHOT))
        elif spec.channel == ch.TICKER:
            stream = _TickerStream(spec, market.ticker(spec.symbol))
        else:
            tf, symbol = spec.timeframe, spec.symbol
            stream = _CandlesStream(spec, lambda limit: market.candles(tf, symbol, limit))
        self._streams[spec.key] = stream
        self._by_symbol.setdefault(spec.symbol, []).append(stream)
        return stream

    def _close(self, stream: _Stream) -> None:
        del self._streams[stream.spec.key]
        streams = self._by_symbol[stream.spec.symbol]
        streams.remove(stream)
        if not streams:
            del self._by_symbol[stream.spec.symbol]
        if isinstance(stream, _BookStream):
            self.market.untrack(stream.tracker)

    # -- updates -----------------------------------------------------------------------------------

    def on_events(self, seq: int, ts: int, events: list[Event]) -> None:
        """Sequencer listener: remember what changed; publish once at the end of this tick."""
        by_symbol = self._by_symbol
        if not by_symbol:
            return  # no public stream at all: nothing can be dirty
        for event in events:
            kind = type(event)  # event classes are final: an exact type test is enough
            if kind is TradeExecuted:
                if event.symbol in by_symbol:  # type: ignore[union-attr]
                    self._trades.append(event)  # type: ignore[arg-type]
                    self._dirty[event.symbol] = None  # type: ignore[union-attr]
            elif kind in ORDER_EVENTS:
                symbol = event.order.symbol  # type: ignore[union-attr]
                if symbol in by_symbol:
                    self._dirty[symbol] = None
        if self._dirty and not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # called outside the event loop (a synchronous replay)
                self.publish()
                return
            self._scheduled = True
            loop.call_soon(self._publish_and_flush)

    def _publish_and_flush(self) -> None:
        """The deferred publish, then its frames to the sockets in the same callback: the first
        connection's write no longer waits for another loop iteration (and its I/O poll)."""
        try:
            self.publish()
        finally:
            self.flusher.run()

    def publish(self) -> None:
        """Send every stream's update for the commands released since the last publish."""
        self._scheduled = False
        ts = self.now_ms()
        trades, self._trades = self._trades, []
        dirty, self._dirty = self._dirty, {}
        for trade in trades:
            row = (trade.trade_id, trade.ts, trade.amount, trade.price)
            for stream in self._by_symbol.get(trade.symbol, ()):
                if isinstance(stream, _TradesStream):
                    stream.publish(row, ts)
        for symbol in dirty:
            for stream in list(self._by_symbol.get(symbol, ())):
                try:
                    self._publish_stream(stream, ts)
                except Exception:  # one stream's bug must not starve the others
                    log.exception("publishing %s failed", stream.spec)

    def _publish_stream(self, stream: _Stream, ts: int) -> None:
        market = self.market
        spec = stream.spec
        if isinstance(stream, _BookStream):
            if spec.freq == "F1":
                stream.dirty = True
                self._f1_dirty = True
            else:
                stream.publish(ts)
        elif isinstance(stream, _TickerStream):
            stream.publish(market.ticker(spec.symbol), ts)
        elif isinstance(stream, _CandlesStream):
            stream.publish(ts)

    def publish_f1(self) -> None:
        """The 2-second batch of F1 book channels (net change since their last batch)."""
        if not self._f1_dirty:
            return
        self._f1_dirty = False
        ts = self.now_ms()
        for stream in list(self._streams.values()):
            if isinstance(stream, _BookStream) and stream.dirty:
                stream.publish(ts)

    def tick(self) -> None:
        """Heartbeats (§7.1) for every connection."""
        now = self.now_ms()
        for session in list(self.sessions):
            session.receive_tick(now)

    def broadcast_info(self, code: int, msg: str) -> int:
        """Queue an info event on every connection; returns how many were told."""
        for session in self.sessions:
            session.send_info(code, msg)
        return len(self.sessions)

    def stream_count(self) -> int:
        return len(self._streams)

    async def run_timers(self, tick_s: float = 1.0) -> None:
        """Heartbeats every ``tick_s`` and F1 batches at most every 2 s, until cancelled."""
        loop = asyncio.get_running_loop()
        f1 = Interval(F1_INTERVAL_S, loop.time())
        while True:
            await asyncio.sleep(tick_s)
            try:
                if f1.due(loop.time()):
                    self.publish_f1()
                self.tick()
            except Exception:
                log.exception("WebSocket timers failed")
