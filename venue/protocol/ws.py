"""``WsSession``: the sans-I/O state of one Bitfinex v2 WebSocket connection (spec §7, §8).

The gateway drives it in the same order every time (websockets' sans-I/O shape)::

    session = WsSession(...)                   # the info event is queued at once (§7.1)
    session.receive_text(text)                 # one text frame from the client
    for request in session.requests_received(): ...   # Subscribe / Unsubscribe / Submit / …
    session.send_channel(sub, body, ts)        # channel data, rendered once per channel
    session.receive_tick(now_ms)               # heartbeats after 15 s of silence (§7.1)
    frames = session.frames_to_send()          # text frames, in order, to write in one go

What it keeps:
- **conf flags** (§7.2), cumulative per connection: DEC_S 8 and TIME_S 32 choose the body
  variant (``format``) the fan-out renders for this connection; TIMESTAMP 32768 appends a ms
  time to every array frame; SEQ_ALL 65536 appends the connection's sequence number; OB_CHECKSUM
  131072 asks for ``[chanId,"cs",N]`` after each book change; BULK_UPDATES 536870912 lets one
  book change go out as one list of rows.
- **subscriptions**: chanId → ``Subscription``; one per stream (``ChannelSpec.key``) — a second
  subscribe to the same stream is ``subscribe: dup`` (10301); at most ``channel_limit`` channels,
  channel 0 taking one slot once authenticated (§7.7) — more is ``subscribe: limit`` (10305).
- **sequence numbers** (§7.6): with SEQ_ALL, every array frame (data, ``hb``, ``cs``, channel 0)
  carries the next number of one per-connection counter that starts at 1, in the order frames
  are queued; channel-0 frames carry PUB_SEQ then AUTH_SEQ as ``account_stream.Kind`` says.
  With TIMESTAMP too, the time comes last: ``[chanId, …, SEQ, TS]``.
- **channel 0**: the optional ``AccountStream`` handles ``{"event":"auth"}`` and
  ``[0, TYPE, null, PAYLOAD]`` inputs; its commands come out as ``Submit`` requests. Its frames
  are rendered by the account stream (exact-digit JSON numbers): DEC_S and TIME_S change public
  channel bodies only; SEQ_ALL and TIMESTAMP apply to channel 0 as to every array frame.

Errors are answers, never exceptions: a frame longer than ``SessionConfig.max_message`` is 10000
"message: too big" (Bitfinex documents no size limit or code; 10000 is what any other
unreadable frame gets), invalid JSON is 10000 "json: invalid", an unknown event
10000 "event: invalid", a bad conf 10050 "conf: invalid", an unknown chanId on unsubscribe 10400
"unsubscribe: invalid", ``unauth`` on a connection that is not authenticated 10200;
subscribe errors carry their §7.8 codes; subscribe errors echo the request's own fields before
``event``/``msg``/``code`` (xchange-stream#254), the unsubscribe error has the real frame's
order ``event, msg, chanId, code`` (bitfinex-api-node#349). ``flags`` and ``chanId`` are taken
as numbers or numeric strings, like every numeric input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import orjson

from venue.core.commands import Command
from venue.core.events import Event
from venue.protocol.account_stream import Kind
from venue.protocol.channels import (
    ERR_SUB_LIMIT,
    ERR_SUB_MULTI,
    ERR_UNKNOWN,
    ERR_UNSUB_FAIL,
    ChannelSpec,
    SubscribeError,
    error_reply,
    format_of,
    parse_subscribe,
    subscribed_reply,
    whole_number,
)
from venue.protocol.errors import Code

# -- conf flags (spec §7.2) -----------------------------------------------------------------------

DEC_S = 8
TIME_S = 32
TIMESTAMP = 32768
SEQ_ALL = 65536
OB_CHECKSUM = 131072
BULK_UPDATES = 536870912

HEARTBEAT_MS = 15_000  # §7.1: [chanId,"hb"] after 15 s without a message on a channel
DEFAULT_CHANNEL_LIMIT = 30  # §7.7: the 2020 docs and Node's ws2_manager; bfxapi uses ≤ 25
PLATFORM_OPERATIVE = 1

_HB_BODY = b'"hb"'


# -- what the session hands to the gateway --------------------------------------------------------


@dataclass(slots=True, eq=False)
class Subscription:
    """One public channel of this connection. ``prefix`` is ``b"[<chanId>,"``, precomputed
    because every frame of the channel starts with it."""

    chan_id: int
    spec: ChannelSpec
    request: dict[str, Any]
    prefix: bytes
    last_sent_ms: int


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Start sending ``subscription`` its snapshot then its updates (the reply is queued)."""

    subscription: Subscription


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Stop sending ``subscription`` anything (the reply is queued)."""

    subscription: Subscription


@dataclass(frozen=True, slots=True)
class Submit:
    """Commands from a channel-0 input, to go through the sequencer in this order."""

    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class Broadcast:
    """``ucm-*`` notifications for the same user's other connections (spec §8.3 ``n``)."""

    user_id: int
    notifications: tuple[list[Any], ...]


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The connection is now channel 0 of ``user_id``: route that account's events here."""

    user_id: int


@dataclass(frozen=True, slots=True)
class Unauthenticated:
    """The connection's channel 0 ended (``unauth``): stop routing ``user_id``'s events here."""

    user_id: int


Request = Subscribe | Unsubscribe | Submit | Broadcast | Authenticated | Unauthenticated


@dataclass(slots=True)
class SessionConfig:
    """Per-server settings of every session."""

    server_id: str
    channel_limit: int | None = DEFAULT_CHANNEL_LIMIT  # None: no limit
    platform_status: int = PLATFORM_OPERATIVE
    heartbeat_ms: int = HEARTBEAT_MS
    # frames longer than this (characters of a text frame, bytes of a binary one) are answered
    # with 10000 "message: too big" and not parsed; None: no limit
    max_message: int | None = None


@dataclass(slots=True)
class _Counters:
    pub_seq: int = 0
    auth_seq: int = 0


class WsSession:
    """One connection's protocol state; see the module docstring for the calling order."""

    def __init__(
        self,
        config: SessionConfig,
        *,
        is_listed: Callable[[str], bool],
        now_ms: Callable[[], int],
        next_chan_id: Callable[[], int],
        account: Any = None,
    ) -> None:
        """``account``: an ``AccountStream`` (protocol/account_stream.py) or None when this
        server does not serve channel 0 (auth is then answered FAILED)."""
        self.config = config
        self._is_listed = is_listed
        self._now_ms = now_ms
        self._next_chan_id = next_chan_id
        self.account = account
        self.flags = 0
        self.format = 0
        self.checksums = False
        self.bulk = False
        self._tailed = False  # SEQ_ALL or TIMESTAMP: frames need a tail
        self._seq_all = False
        self._timestamps = False
        self._counters = _Counters()
        self._outbox: list[bytes] = []
        self._requests: list[Request] = []
        self.subscriptions: dict[int, Subscription] = {}
        self._by_key: dict[tuple[Any, ...], Subscription] = {}
        self._account_last_sent_ms = 0
        self.authenticated_user: int | None = None
        self.on_output: Callable[[], None] | None = None
        self.closed = False
        self._queue_event(
            {
                "event": "info",
                "version": 2,
                "serverId": config.server_id,
                "platform": {"status": config.platform_status},
            }
        )

    # -- the sans-I/O surface ------------------------------------------------------------------

    def receive_text(self, text: str | bytes) -> None:
        """Handle one text frame from the client. Never raises for bad input."""
        limit = self.config.max_message
        if limit is not None and len(text) > limit:
            self._queue_event(error_reply(ERR_UNKNOWN, "message: too big"))
            return
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._queue_event(error_reply(ERR_UNKNOWN, "json: invalid"))
            return
        if isinstance(message, dict):
            self._receive_event(message)
        elif isinstance(message, list) and message and message[0] == 0:
            self._receive_channel_zero(message)
        else:
            self._queue_event(error_reply(ERR_UNKNOWN, "event: invalid"))

    def requests_received(self) -> list[Request]:
        """What the gateway must do for the frames received so far (then forgotten)."""
        requests, self._requests = self._requests, []
        return requests

    def frames_to_send(self) -> list[bytes]:
        """Text frames (JSON bytes) to write, in order (then forgotten)."""
        frames, self._outbox = self._outbox, []
        return frames

    def receive_tick(self, now_ms: int) -> None:
        """Queue ``[chanId,"hb"]`` for every channel silent for ``heartbeat_ms`` (§7.1)."""
        limit = now_ms - self.config.heartbeat_ms
        for sub in self.subscriptions.values():
            if sub.last_sent_ms <= limit:
                self.send_channel(sub, _HB_BODY, now_ms)
        if self.authenticated_user is not None and self._account_last_sent_ms <= limit:
            self._account_last_sent_ms = now_ms
            # hb on channel 0 carries only the public seq (Node's seqAudit skips its auth seq)
            self._append(b"[0," + _HB_BODY + self._tail(now_ms))

    # -- channel data (called by the fan-out: the hot path) -------------------------------------

    def send_channel(self, sub: Subscription, body: bytes, ts: int) -> None:
        """Queue ``[chanId, <body>]`` (+ SEQ, + TS) for one of this connection's channels."""
        if self._tailed:
            frame = sub.prefix + body + self._tail(ts)
        else:
            frame = sub.prefix + body + b"]"
        sub.last_sent_ms = ts
        if not self._outbox and self.on_output is not None:
            self._outbox.append(frame)
            self.on_output()
        else:
            self._outbox.append(frame)

    def fail_subscription(self, sub: Subscription, code: int, msg: str) -> None:
        """The gateway could not serve ``sub``: forget it and send an error event echoing its
        request (the ``subscribed`` reply already went out, so the client also sees the chanId
        in the error and drops it)."""
        if self.subscriptions.pop(sub.chan_id, None) is not None:
            del self._by_key[sub.spec.key]
        self._queue_event(error_reply(code, msg, {**sub.request, "chanId": sub.chan_id}))

    def send_info(self, code: int, msg: str) -> None:
        """``{"event":"info","code":…,"msg":…}``: 20051 restart, 20060/20061 maintenance."""
        self._queue_event({"event": "info", "code": code, "msg": msg})

    # -- channel 0 (spec §8) ----------------------------------------------------------------------

    def send_account(self, outgoing: Iterable[Any]) -> None:
        """Queue ``account_stream.Outgoing`` items, numbering channel-0 frames per §7.6."""
        for out in outgoing:
            kind = out.kind
            if kind is Kind.EVENT:
                self._queue_event(out.message)
                continue
            now = self._now_ms()
            self._account_last_sent_ms = now
            body = orjson.dumps(out.message)
            if not self._tailed:
                self._append(body)
                continue
            tail = b""
            if self._seq_all:
                counters = self._counters
                if kind is Kind.ACCOUNT:
                    counters.pub_seq += 1
                    counters.auth_seq += 1
                    tail = b",%d,%d" % (counters.pub_seq, counters.auth_seq)
                elif kind is Kind.NOTICE:
                    counters.pub_seq += 1
                    tail = b",%d,%d" % (counters.pub_seq, counters.auth_seq)
                else:
                    tail = b",%d" % counters.auth_seq
            if self._timestamps:
                tail += b",%d" % now
            self._append(body[:-1] + tail + b"]")

    def receive_applied(self, seq: int, ts: int, events: Sequence[Event]) -> None:
        """Channel-0 frames for one applied command's events (authenticated sessions only)."""
        if self.account is None or self.authenticated_user is None:
            return
        self.send_account(self.account.frames_for(seq, ts, events))

    def command_failed(self, command: Command, code: int, text: str) -> None:
        """A command of this connection's ``Submit`` was not applied: answer its input with
        the ``*-req`` ERROR notification (``AccountStream.command_failed``)."""
        if self.account is not None and self.authenticated_user is not None:
            self.send_account(self.account.command_failed(command, code, text))

    def receive_broadcast(self, notification: list[Any]) -> None:
        if self.account is not None and self.authenticated_user is not None:
            self.send_account(self.account.receive_broadcast(notification))

    def close_commands(self) -> list[Command]:
        """Commands to submit now that the socket closed (dead-man switch, §8.1 ``dms: 4``)."""
        self.closed = True
        if self.account is None or self.authenticated_user is None:
            return []
        return list(self.account.close_commands())

    # -- internals ----------------------------------------------------------------------------------

    def _append(self, frame: bytes) -> None:
        if not self._outbox and self.on_output is not None:
            self._outbox.append(frame)
            self.on_output()
        else:
            self._outbox.append(frame)

    def _queue_event(self, event: dict[str, Any]) -> None:
        self._append(orjson.dumps(event))

    def _tail(self, ts: int) -> bytes:
        """``,SEQ`` and/or ``,TS`` then the closing bracket (§7.2, §7.6)."""
        if self._seq_all:
            self._counters.pub_seq += 1
            if self._timestamps:
                return b",%d,%d]" % (self._counters.pub_seq, ts)
            return b",%d]" % self._counters.pub_seq
        return b",%d]" % ts

    def _receive_event(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event == "subscribe":
            self._subscribe(message)
        elif event == "unsubscribe":
            self._unsubscribe(message)
        elif event == "ping":
            pong: dict[str, Any] = {"event": "pong", "ts": self._now_ms()}
            if "cid" in message:
                pong["cid"] = message["cid"]
            self._queue_event(pong)
        elif event == "conf":
            self._conf(message)
        elif event == "auth":
            self._auth(message)
        elif event == "unauth":
            self._unauth()
        else:
            self._queue_event(error_reply(ERR_UNKNOWN, "event: invalid", message))

    def _conf(self, message: dict[str, Any]) -> None:
        flags = whole_number(message.get("flags"))
        if flags is None:
            self._queue_event(error_reply(int(Code.CONF_FAIL), "conf: invalid", message))
            return
        # Flags are cumulative per connection (§7.2); the reply echoes the value received (a
        # number, or the numeric string some clients send), which is what Node's enableFlag
        # waits on.
        self.flags |= flags
        self._seq_all = bool(self.flags & SEQ_ALL)
        self._timestamps = bool(self.flags & TIMESTAMP)
        self._tailed = self._seq_all or self._timestamps
        self.checksums = bool(self.flags & OB_CHECKSUM)
        self.bulk = bool(self.flags & BULK_UPDATES)
        self.format = format_of(bool(self.flags & DEC_S), bool(self.flags & TIME_S))
        self._queue_event({"event": "conf", "status": "OK", "flags": message["flags"]})

    def _channels_in_use(self) -> int:
        return len(self.subscriptions) + (1 if self.authenticated_user is not None else 0)

    def _subscribe(self, message: dict[str, Any]) -> None:
        try:
            spec = parse_subscribe(message, self._is_listed)
            if spec.key in self._by_key:
                raise SubscribeError(ERR_SUB_MULTI, "subscribe: dup")
            limit = self.config.channel_limit
            if limit is not None and self._channels_in_use() >= limit:
                raise SubscribeError(ERR_SUB_LIMIT, "subscribe: limit")
        except SubscribeError as exc:
            self._queue_event(error_reply(exc.code, exc.msg, message))
            return
        chan_id = self._next_chan_id()
        sub = Subscription(chan_id, spec, message, b"[%d," % chan_id, self._now_ms())
        self.subscriptions[chan_id] = sub
        self._by_key[spec.key] = sub
        self._queue_event(subscribed_reply(spec, chan_id, message))
        self._requests.append(Subscribe(sub))

    def _unsubscribe(self, message: dict[str, Any]) -> None:
        chan_id = whole_number(message.get("chanId"))
        sub = self.subscriptions.pop(chan_id, None) if chan_id is not None else None
        if sub is None:
            # the real frame's key order (bitfinex-api-node#349): event, msg, chanId, code
            reply: dict[str, Any] = {"event": "error", "msg": "unsubscribe: invalid"}
            reply.update((k, v) for k, v in message.items() if k not in ("event", "msg", "code"))
            reply["code"] = ERR_UNSUB_FAIL
            self._queue_event(reply)
            return
        del self._by_key[sub.spec.key]
        self._queue_event({"event": "unsubscribed", "status": "OK", "chanId": chan_id})
        self._requests.append(Unsubscribe(sub))

    def _auth(self, message: dict[str, Any]) -> None:
        if self.account is None:
            self._queue_event(
                {
                    "event": "auth",
                    "status": "FAILED",
                    "chanId": 0,
                    "code": int(Code.AUTH_FAIL),
                    "msg": "apikey: invalid",
                }
            )
            return
        was_authenticated = self.account.authenticated
        outgoing = list(self.account.receive_auth(message))
        if not was_authenticated and self.account.authenticated:
            user_id = self.account.user_id
            self.authenticated_user = user_id
            self._account_last_sent_ms = self._now_ms()
            self._requests.append(Authenticated(user_id))
        self.send_account(outgoing)

    def _unauth(self) -> None:
        """§7.1: end channel 0; the channel slot it held is free again (§7.7)."""
        if self.account is None or self.authenticated_user is None:
            self._queue_event(error_reply(int(Code.UNAUTH_FAIL), "unauth: invalid"))
            return
        user_id = self.authenticated_user
        outgoing = list(self.account.receive_unauth())
        if not self.account.authenticated:
            self.authenticated_user = None
            self._requests.append(Unauthenticated(user_id))
        self.send_account(outgoing)

    def _receive_channel_zero(self, frame: list[Any]) -> None:
        if self.account is None:
            self._queue_event(error_reply(int(Code.AUTH_FAIL), "auth: invalid"))
            return
        result = self.account.receive_input(frame)
        self.send_account(result.frames)
        if result.commands:
            self._requests.append(Submit(tuple(result.commands)))
        if result.broadcast and self.authenticated_user is not None:
            self._requests.append(Broadcast(self.authenticated_user, tuple(result.broadcast)))
