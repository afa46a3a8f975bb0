"""The authenticated account stream on WebSocket channel 0, sans-I/O (spec §8, §5, §7.6).

One ``AccountStream`` lives inside each WS connection (``protocol/ws.py`` hosts it). It never
touches a socket, a clock or the sequencer: the connection feeds it what arrives and what
happened, and sends what it hands back.

How the connection drives it::

    out = stream.receive_auth(message)            # {"event":"auth",…} → reply + snapshots
    result = stream.receive_input(frame)          # [0, "on", null, {…}] etc.
    #   result.frames    → send now (errors, calc answers)
    #   result.commands  → submit each through the sequencer, in order
    #   result.broadcast → give to receive_broadcast() of the same user's *other* streams
    out = stream.frames_for(seq, ts, events)      # after every applied command (any source)
    out = stream.receive_unauth()                 # {"event":"unauth"} → reply; channel 0 ends
    stream.close_commands()                       # on disconnect: dead-man switch (dms: 4)

Everything handed back is an ``Outgoing(kind, message)``; ``kind`` tells the connection how to
number the frame when SEQ_ALL is on (spec §7.6, checked exactly by Node's ``seqAudit``):

- ``EVENT``   — a JSON object (``{"event":"auth",…}``): never numbered;
- ``ACCOUNT`` — ``[0, TYPE, DATA]``: append PUB_SEQ then AUTH_SEQ, both advance by one;
- ``NOTICE``  — ``[0, "n", N]`` not answering a request (``ucm-*``): append PUB_SEQ (advances)
  and the current AUTH_SEQ (notifications never advance it);
- ``REQUEST`` — ``[0, "n", N]`` answering an input (``on-req``…, success or error): append only
  the current AUTH_SEQ; neither counter advances.
``ChannelZeroSequence`` implements exactly this; the session may use it.

Invariants:
- nothing but auth replies and errors leaves before a successful auth, and nothing of another
  user ever does (events are routed by ``user_id``);
- an input becomes either commands for the sequencer or an immediate answer, never both, and
  every check (rate, permission, parsing of every op) finishes before a command is returned, so
  a refused input changes nothing;
- the frames of one applied command come in the real exchange's order (spec §8.2): the
  request's ``n`` first, then ``on``/``ou``/``oc`` and ``te`` in event order, then ``wu``, then
  ``tu`` (same trade, with fee), then ``bu`` when the account's value moved;
- the API secret of an auth frame (Node sends ``apiSecret``) is never stored, logged or echoed;
- filters (auth ``filter``) and key read permissions only remove frames, never reorder them;
  answers to this connection's own requests are always sent (clients wait for them).
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NamedTuple, Protocol, Sequence

from venue.core.commands import (
    CancelAllOrders,
    CancelOrder,
    CancelOrders,
    Command,
    MultiOp,
    SubmitOrder,
    UpdateOrder,
)
from venue.core.events import (
    AccountTrade,
    Event,
    OrderAccepted,
    OrderClosed,
    OrderUpdated,
    RequestCompleted,
    RequestRejected,
    WalletChanged,
)
from venue.core.exchange import ApiKeyInfo, WalletState
from venue.core.numbers import SCALE
from venue.core.orders import OrderState
from venue.protocol import orders as order_inputs
from venue.protocol import serialize
from venue.protocol.auth import (
    TEXT_PERMISSION_INVALID,
    NonceTracker,
    caps,
    has_permission,
    verify_ws_auth,
)
from venue.protocol.errors import TEXT_INPUT_INVALID, TEXT_RATE_LIMIT, Code, ProtocolError
from venue.protocol.wire import num


class Kind(enum.Enum):
    """How a frame is numbered under SEQ_ALL (see the module docstring)."""

    EVENT = "event"
    ACCOUNT = "account"
    NOTICE = "notice"
    REQUEST = "request"


class Outgoing(NamedTuple):
    """One message to send: a dict (event) or a list (channel-0 frame), before numbering.

    Numbers inside are ``orjson.Fragment`` (exact digits); serialise with ``wire.dumps``.
    """

    kind: Kind
    message: Any


@dataclass(slots=True)
class InputResult:
    """What one channel-0 input produced.

    ``commands`` go to the sequencer in order (their events come back through
    ``frames_for``); ``frames`` are sent at once; ``broadcast`` holds notification arrays
    (``ucm-*``) for the same user's other connections (``receive_broadcast``).
    """

    commands: list[Command] = field(default_factory=list)
    frames: list[Outgoing] = field(default_factory=list)
    broadcast: list[list[Any]] = field(default_factory=list)


class AccountReader(Protocol):
    """The read-only part of ``core.Exchange`` the stream needs (snapshots, calc, valuation)."""

    def api_key(self, key: str) -> ApiKeyInfo | None: ...

    def wallets(self, user_id: int) -> list[WalletState]: ...

    def open_orders(self, user_id: int, symbol: str | None = None) -> list[OrderState]: ...

    def last_price(self, symbol: str) -> int | None: ...


# Parses one order input (type, payload, user_id, now_ms) into a command or raises ProtocolError.
OrderParser = Callable[[str, Any, int, int], Command]

_PARSERS: dict[str, Callable[..., Command]] = {
    "on": order_inputs.parse_submit,
    "ou": order_inputs.parse_update,
    "oc": order_inputs.parse_cancel,
    "oc_multi": order_inputs.parse_cancel_multi,
    "ox_multi": order_inputs.parse_ops,  # WS sends the list of ops itself (spec §8.3)
}


def parse_order_input(kind: str, payload: Any, user_id: int, now_ms: int) -> Command:
    """An order input's payload → its command (protocol/orders.py), or ProtocolError."""
    return _PARSERS[kind](payload, user_id=user_id, now_ms=now_ms)


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Per-connection input rate limits (token buckets: ``*_rate`` per second, ``*_burst`` at once).

    calc: at most 8 requests per second (spec §7.7). Orders: Bitfinex publishes no number; we
    allow 1,000 order operations per second with bursts of 2,000 per connection — far above what
    one real connection may do, low enough that a runaway client cannot monopolise the
    sequencer. Over the limit an order input is answered with its ``*-req`` ERROR notification,
    text ``ratelimit: error`` (REST's rate-limit text, spec §9), and nothing is submitted.
    """

    order_rate: int = 1000
    order_burst: int = 2000
    calc_rate: int = 8
    calc_burst: int = 8

    @classmethod
    def off(cls) -> "StreamLimits":
        """No practical limit: for servers run with rate limits switched off (tests, benches)."""
        return cls(order_rate=10**9, order_burst=10**9, calc_rate=10**9, calc_burst=10**9)


# -- wire words (spec §8.2, §8.3, §5) -----------------------------------------------------------

ORDER_INPUTS = ("on", "ou", "oc", "oc_multi", "ox_multi")
FUNDING_INPUTS = ("fon", "foc")
SNAPSHOTS = ("ps", "ws", "os", "fos", "fcs", "fls")  # Bitfinex's order after auth (spec §8.1)
MAX_CALC_ITEMS = 30  # spec §7.7
DMS_ENABLED = 4  # spec §8.1: "dms": 4 turns the dead-man switch on

_ORDER_FRAME = {OrderAccepted: "on", OrderUpdated: "ou", OrderClosed: "oc"}
FUNDING_OFFER_FIELDS = 21  # spec §6.8: bfxapi parses fon-req/foc-req DATA as an offer
WALLET_TYPES = ("exchange", "margin", "funding")

TEXT_AUTH_DUP = "auth: dup"
TEXT_AUTH_INVALID = "auth: invalid"
TEXT_UNAUTH_INVALID = "unauth: invalid"
TEXT_ACTION_DISABLED = "action: disabled"  # what Bitfinex answers for unavailable actions


# -- sequence numbers -----------------------------------------------------------------------------


class ChannelZeroSequence:
    """Appends SEQ_ALL numbers to channel-0 frames (spec §7.6).

    ``next_pub_seq`` is the connection's public counter (shared by all channels, heartbeats
    included); the AUTH_SEQ counter lives here, one per authenticated connection, from 1.
    """

    __slots__ = ("auth_seq",)

    def __init__(self) -> None:
        self.auth_seq = 0

    def number(self, out: Outgoing, next_pub_seq: Callable[[], int]) -> Any:
        """The message of ``out`` with its sequence numbers appended (a new list)."""
        kind = out.kind
        if kind is Kind.EVENT:
            return out.message
        if kind is Kind.ACCOUNT:
            self.auth_seq += 1
            return [*out.message, next_pub_seq(), self.auth_seq]
        if kind is Kind.NOTICE:
            return [*out.message, next_pub_seq(), self.auth_seq]
        return [*out.message, self.auth_seq]


# -- filters --------------------------------------------------------------------------------------


class _Filter:
    """What the auth ``filter`` list and the key's read permissions let through (spec §8.1).

    ``trading`` / ``trading-tBTCUSD``: orders, trades, positions, margin info; ``funding`` /
    ``funding-fUSD``: offers, credits, loans, funding info; ``wallet`` /
    ``wallet-exchange-BTC``: wallets; ``balance``: ``bu``; ``notify``: notifications that do not
    answer this connection's requests; ``algo``: nothing venue has. No filter: everything.
    """

    __slots__ = ("trading", "funding", "wallet", "balance", "notify", "symbols", "fsymbols", "wallets")

    def __init__(self, entries: Iterable[str] | None, permissions: tuple[tuple[str, bool, bool], ...]) -> None:
        everything = entries is None
        names = set() if entries is None else set(entries)
        self.symbols: set[str] = set()
        self.fsymbols: set[str] = set()
        self.wallets: set[tuple[str, str]] = set()
        for name in names:
            head, _, rest = name.partition("-")
            if head == "trading" and rest:
                self.symbols.add(rest)
            elif head == "funding" and rest:
                self.fsymbols.add(rest)
            elif head == "wallet" and rest:
                wallet, _, currency = rest.partition("-")
                self.wallets.add((wallet, currency))
        self.trading = (everything or "trading" in names) and has_permission(permissions, "orders")
        self.funding = (everything or "funding" in names) and has_permission(permissions, "funding")
        self.wallet = (everything or "wallet" in names) and has_permission(permissions, "wallets")
        self.balance = (everything or "balance" in names) and has_permission(permissions, "wallets")
        self.notify = everything or "notify" in names
        if not has_permission(permissions, "orders"):
            self.symbols.clear()
        if not has_permission(permissions, "wallets"):
            self.wallets.clear()

    def symbol(self, symbol: str) -> bool:
        return self.trading or symbol in self.symbols

    def wallet_of(self, wallet: str, currency: str) -> bool:
        return self.wallet or (wallet, currency) in self.wallets


def parse_filter(value: Any) -> list[str] | None:
    """The auth frame's ``filter``: absent or null means everything (bfxapi sends null)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProtocolError(Code.PARAMS, "filter: invalid")
    return value


def default_auth_id(key: str) -> str:
    """A uuid-shaped id derived from the key: stable per key, reveals nothing about it."""
    digest = hashlib.sha256(b"venue-auth-id:" + key.encode("utf-8")).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


class _Bucket:
    """A token bucket in thousandths of a token, driven by the injected ms clock."""

    __slots__ = ("rate", "capacity", "tokens", "last")

    def __init__(self, rate: int, burst: int) -> None:
        self.rate = rate  # tokens per second = thousandths per ms
        self.capacity = burst * 1000
        self.tokens = self.capacity
        self.last: int | None = None

    def take(self, now: int, count: int = 1) -> bool:
        if self.last is not None and now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        if self.last is None or now > self.last:
            self.last = now
        need = count * 1000
        if self.tokens < need:
            return False
        self.tokens -= need
        return True


# -- own requests ---------------------------------------------------------------------------------


class Outstanding:
    """Commands one connection submitted whose answer (``RequestCompleted``/``RequestRejected``)
    has not been seen yet: how a stream tells its own requests from the same user's REST or
    other-connection requests, which get no ``n`` here.

    A rejection carries its command, so it is found by identity. A completion carries only the
    orders it concerns, so it is found by what the request named: the symbol, client id and
    side of a submit; the order id of an update or cancel (or the client id of a cancel by
    cid); any ``oc_multi`` (oldest first among equals). A ``MultiOp`` is found through any of
    its ops. Lookups cost the same whatever the backlog; at most ``limit`` commands are kept,
    the oldest forgotten first (a command whose apply crashed never gets an answer).
    """

    __slots__ = ("limit", "_commands", "_owner", "_by_key")

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        # id(command) → (command, keys), oldest first (dicts keep insertion order)
        self._commands: dict[int, tuple[Command, tuple[Any, ...]]] = {}
        self._owner: dict[int, MultiOp] = {}  # id(op) → the MultiOp holding it
        self._by_key: dict[Any, deque[Command]] = {}

    def __len__(self) -> int:
        return len(self._commands)

    def add(self, command: Command) -> None:
        if len(self._commands) >= self.limit:
            oldest, _ = next(iter(self._commands.values()))
            self.remove(oldest)
        if isinstance(command, MultiOp):
            keys = tuple(key for op in command.ops for key in _command_keys(op))
            for op in command.ops:
                self._owner[id(op)] = command
        else:
            keys = _command_keys(command)
        self._commands[id(command)] = (command, keys)
        for key in keys:
            self._by_key.setdefault(key, deque()).append(command)

    def holds(self, command: Command) -> bool:
        entry = self._commands.get(id(command))
        return entry is not None and entry[0] is command

    def claim(self, event: RequestCompleted | RequestRejected) -> Command | None:
        """The submitted command ``event`` answers, or None. A plain command is forgotten at
        once; a ``MultiOp`` stays until ``remove`` (its other ops answer later in the batch)."""
        owner: Command | None = None
        given = getattr(event, "command", None)
        if given is not None:
            entry = self._commands.get(id(given))
            owner = entry[0] if entry is not None and entry[0] is given else self._owner.get(id(given))
        elif isinstance(event, RequestCompleted):
            for key in _event_keys(event):
                waiting = self._by_key.get(key)
                if waiting:
                    owner = waiting[0]
                    break
        if owner is not None and not isinstance(owner, MultiOp):
            self.remove(owner)
        return owner

    def remove(self, command: Command) -> None:
        entry = self._commands.pop(id(command), None)
        if entry is None:
            return
        if isinstance(command, MultiOp):
            for op in command.ops:
                self._owner.pop(id(op), None)
        for key in entry[1]:
            waiting = self._by_key.get(key)
            if waiting is not None:
                try:
                    waiting.remove(command)
                except ValueError:
                    pass
                if not waiting:
                    del self._by_key[key]


def _command_keys(command: Command) -> tuple[Any, ...]:
    """What a completed request of ``command`` is recognised by (see ``Outstanding``)."""
    if isinstance(command, SubmitOrder):
        return (("on", command.symbol, command.client_order_id, command.amount > 0),)
    if isinstance(command, UpdateOrder):
        return (("ou", command.order_id),)
    if isinstance(command, CancelOrder):
        if command.order_id is not None:
            return (("oc", command.order_id),)
        return (("oc-cid", command.client_order_id),)
    if isinstance(command, CancelOrders):
        return (("oc_multi",),)
    return ()


def _event_keys(event: RequestCompleted) -> list[Any]:
    """The keys a completed request may have been submitted under (``_command_keys``)."""
    request = event.request
    if request == "on":
        return [("on", o.symbol, o.client_order_id, o.amount_orig > 0) for o in event.orders]
    if request == "ou":
        return [("ou", o.id) for o in event.orders]
    if request == "oc":
        return [key for o in event.orders for key in (("oc", o.id), ("oc-cid", o.client_order_id))]
    if request == "oc_multi":
        return [("oc_multi",)]
    return []


# -- the stream -----------------------------------------------------------------------------------


class AccountStream:
    """Auth state, filters, snapshots, inputs and updates of channel 0 for one connection."""

    def __init__(
        self,
        *,
        reader: AccountReader,
        nonces: NonceTracker,
        now_ms: Callable[[], int],
        parse_order_input: OrderParser = parse_order_input,
        lookup_key: Callable[[str], ApiKeyInfo | None] | None = None,
        auth_id: Callable[[str], str] = default_auth_id,
        limits: StreamLimits = StreamLimits(),
    ) -> None:
        """Args:
        reader: read-only exchange (``sequencer.exchange``) for snapshots and calc.
        nonces: the ``NonceTracker`` shared with REST (one counter per key, spec §4.1).
        now_ms: the server clock (ms) for immediate notifications and rate limits.
        parse_order_input: ``(type, payload, user_id, now_ms) -> Command`` for on/ou/oc/
            oc_multi/ox_multi payloads, raising ``ProtocolError`` (default: protocol/orders.py).
        lookup_key: key → ``ApiKeyInfo``; defaults to ``reader.api_key``.
        auth_id: makes the reply's ``auth_id`` from the key.
        """
        self._reader = reader
        self._nonces = nonces
        self._now_ms = now_ms
        self._parse = parse_order_input
        self._lookup = lookup_key if lookup_key is not None else reader.api_key
        self._auth_id = auth_id
        self._orders_bucket = _Bucket(limits.order_rate, limits.order_burst)
        self._calc_bucket = _Bucket(limits.calc_rate, limits.calc_burst)
        self._clear_session()

    def _clear_session(self) -> None:
        """No authenticated session: the state before ``auth`` and after ``unauth``."""
        # Only the key's name and permissions are kept: never its secret (nor the frame's).
        self._key: str | None = None
        self._permissions: tuple[tuple[str, bool, bool], ...] = ()
        self._may_trade = False  # orders write (checked on every order input, so kept ready)
        self._user_id: int | None = None
        self._filter: _Filter | None = None
        self._dms = False
        # Commands this connection submitted whose request answer has not been seen yet.
        self._outstanding = Outstanding()
        # This account's balances as last seen (snapshot, then WalletChanged): ``bu`` is only
        # re-valued when one of them moved, never on a mere hold change.
        self._balances: dict[tuple[str, str], int] = {}
        self._last_balance: tuple[int, int] | None = None

    # -- state the connection reads -----------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        return self._user_id is not None

    @property
    def user_id(self) -> int | None:
        return self._user_id

    @property
    def api_key(self) -> str | None:
        """The key this connection authenticated with (to drop it when the key is revoked)."""
        return self._key

    @property
    def dead_man_switch(self) -> bool:
        """True when the auth frame asked for ``dms: 4`` (cancel all orders on disconnect) and
        the key may write orders (a read-only key's ``dms`` is ignored)."""
        return self._dms

    # -- auth -----------------------------------------------------------------------------------

    def receive_auth(self, message: dict[str, Any]) -> list[Outgoing]:
        """Answer ``{"event":"auth",…}`` (spec §8.1).

        Returns the OK reply followed by the snapshots ``ps ws os fos fcs fls``; or a FAILED
        reply (10100 ``apikey: invalid``, 10114 ``nonce: small``, 10020 ``filter: invalid``)
        and nothing else; or ``auth: dup`` when this connection is already authenticated.
        """
        if self._user_id is not None:
            return [_error_event(Code.AUTH_FAIL, TEXT_AUTH_DUP)]
        try:
            # The filter is checked before the signature so that a refused frame consumes
            # no nonce (verify_ws_auth consumes it last).
            entries = parse_filter(message.get("filter"))
            key = verify_ws_auth(message, self._lookup, self._nonces)
        except ProtocolError as exc:
            return [
                Outgoing(
                    Kind.EVENT,
                    {"event": "auth", "status": "FAILED", "chanId": 0, "code": int(exc.code), "msg": exc.text},
                )
            ]
        self._key = key.key
        self._permissions = key.permissions
        self._may_trade = has_permission(key.permissions, "orders", write=True)
        self._user_id = key.user_id
        self._filter = _Filter(entries, key.permissions)
        # The dead-man switch cancels orders, so only a key that may write orders can arm it:
        # otherwise a read-only key could cancel the account's orders by hanging up.
        self._dms = message.get("dms") == DMS_ENABLED and self._may_trade
        reply = {
            "event": "auth",
            "status": "OK",
            "chanId": 0,
            "userId": key.user_id,
            "auth_id": self._auth_id(key.key),
            "caps": caps(key.permissions),
        }
        # The value at auth is the baseline: ``bu`` is then sent only when it moves (spec §8.1).
        self._balances = {(w.wallet, w.currency): w.balance for w in self._reader.wallets(key.user_id)}
        aum = self._valuation(self._balances.items())
        self._last_balance = (aum, aum)
        return [Outgoing(Kind.EVENT, reply), *self._snapshots()]

    def receive_unauth(self) -> list[Outgoing]:
        """Answer ``{"event":"unauth"}`` (spec §7.1): ``{"event":"unauth","status":"OK","chanId":0}``
        and channel 0 ends — no more frames, inputs are ``auth: invalid`` again, and a new
        ``auth`` is accepted. Asked of a connection that is not authenticated: 10200
        ``unauth: invalid``.

        The dead-man switch is disarmed, not fired: the client ended the session on purpose on
        a connection that is still alive (``dms`` acts when the socket closes, §8.1). Answers to
        inputs still in flight are no longer sent (they belong to the ended session).
        """
        if self._user_id is None:
            return [_error_event(Code.UNAUTH_FAIL, TEXT_UNAUTH_INVALID)]
        self._clear_session()
        return [Outgoing(Kind.EVENT, {"event": "unauth", "status": "OK", "chanId": 0})]

    def _snapshots(self) -> list[Outgoing]:
        assert self._filter is not None and self._user_id is not None
        flt, uid = self._filter, self._user_id
        orders: list[Any] = []
        if flt.trading or flt.symbols:
            orders = [serialize.order(o) for o in self._reader.open_orders(uid) if flt.symbol(o.symbol)]
        wallets = [serialize.wallet(w) for w in self._reader.wallets(uid) if flt.wallet_of(w.wallet, w.currency)]
        rows: dict[str, list[Any]] = {"ps": [], "ws": wallets, "os": orders, "fos": [], "fcs": [], "fls": []}
        return [Outgoing(Kind.ACCOUNT, [0, name, rows[name]]) for name in SNAPSHOTS]

    # -- inputs ---------------------------------------------------------------------------------

    def receive_input(self, frame: list[Any]) -> InputResult:
        """Handle a channel-0 input ``[0, TYPE, MSG_ID, PAYLOAD]`` (spec §8.3).

        Order inputs (on, ou, oc, oc_multi, ox_multi) become commands, or an ERROR notification
        of their ``*-req`` type when rate-limited, not permitted or malformed. ``calc`` is
        answered at once from current state. ``n`` with a ``ucm-*`` type is broadcast.
        """
        result = InputResult()
        if self._user_id is None:
            result.frames.append(_error_event(Code.AUTH_FAIL, TEXT_AUTH_INVALID))
            return result
        kind = frame[1] if len(frame) > 1 else None
        payload = frame[3] if len(frame) > 3 else None
        if kind in ORDER_INPUTS:
            self._order_input(kind, payload, result)
        elif kind == "calc":
            self._calc_input(payload, result)
        elif kind == "n":
            self._user_notification(frame[2] if len(frame) > 2 else None, payload, result)
        elif kind in FUNDING_INPUTS:
            # The funding market is not open on venue yet: refuse like a disabled action.
            data = [None] * FUNDING_OFFER_FIELDS
            note = serialize.notification(self._now_ms(), f"{kind}-req", data, "ERROR", TEXT_ACTION_DISABLED)
            result.frames.append(Outgoing(Kind.REQUEST, [0, "n", note]))
        else:
            result.frames.append(_error_event(Code.PARAMS, TEXT_INPUT_INVALID))
        return result

    def _order_input(self, kind: str, payload: Any, result: InputResult) -> None:
        assert self._user_id is not None
        ops = len(payload) if kind == "ox_multi" and isinstance(payload, list) else 1
        if not self._orders_bucket.take(self._now_ms(), max(ops, 1)):
            result.frames.append(self._input_error(kind, payload, Code.RATE_LIMIT, TEXT_RATE_LIMIT))
            return
        if not self._may_trade:
            result.frames.append(self._input_error(kind, payload, Code.AUTH_FAIL, TEXT_PERMISSION_INVALID))
            return
        try:
            command = self._parse(kind, payload, self._user_id, self._now_ms())
        except ProtocolError as exc:
            result.frames.append(self._input_error(kind, payload, exc.code, exc.text))
            return
        self._outstanding.add(command)
        result.commands.append(command)

    def _input_error(self, kind: str, payload: Any, code: int, text: str) -> Outgoing:
        """The ``*-req`` ERROR notification of an input refused before it became a command."""
        note = serialize.input_error_notification(kind, payload, code, text, mts=self._now_ms())
        return Outgoing(Kind.REQUEST, [0, "n", note])

    def _calc_input(self, payload: Any, result: InputResult) -> None:
        assert self._user_id is not None
        items = _calc_items(payload)
        if items is None:
            result.frames.append(_error_event(Code.PARAMS, TEXT_INPUT_INVALID))
            return
        if not self._calc_bucket.take(self._now_ms()):
            result.frames.append(_error_event(Code.RATE_LIMIT, TEXT_RATE_LIMIT))
            return
        can_read_wallets = has_permission(self._permissions, "wallets")
        wallets = self._reader.wallets(self._user_id) if can_read_wallets else []
        for item in items:
            frame = self._calc_answer(item, wallets) if can_read_wallets else None
            if frame is not None:
                result.frames.append(Outgoing(Kind.ACCOUNT, frame))

    def _calc_answer(self, item: str, wallets: list[WalletState]) -> list[Any] | None:
        """One calc item's fresh value (spec §8.3). ``position_*`` gets no answer: venue has no
        positions. Unknown items and unlisted symbols get none either."""
        if item == "balance":
            aum = self._valuation(((w.wallet, w.currency), w.balance) for w in wallets)
            return [0, "bu", [num(aum), num(aum)]]
        if item == "margin_base":
            margin = self._valuation(((w.wallet, w.currency), w.balance) for w in wallets if w.wallet == "margin")
            # [USER_PL, USER_SWAPS, MARGIN_BALANCE, MARGIN_NET, MARGIN_MIN]: no positions, so no
            # P/L, swaps or required margin (spec §6.11; bfxapi needs all five).
            return [0, "miu", ["base", [0, 0, num(margin), num(margin), 0]]]
        if item.startswith("margin_sym_"):
            # [TRADABLE_BALANCE, GROSS_BALANCE, BUY, SELL, …] of margin trading on the pair: venue
            # has no margin trading yet, so nothing can be bought or sold on margin (spec §6.11).
            symbol = item[len("margin_sym_") :]
            if self._listed_market(symbol):
                return [0, "miu", ["sym", symbol, [0, 0, 0, 0, None, None, None, None]]]
            return None
        if item.startswith("funding_sym_"):
            # [YIELD_LOAN, YIELD_LEND, DURATION_LOAN, DURATION_LEND]: no funding market yet, so
            # no loans or lends and nothing earned or paid (spec §6.11).
            symbol = item[len("funding_sym_") :]
            if symbol.startswith("f") and self._listed_currency(symbol[1:]):
                return [0, "fiu", ["sym", symbol, [0, 0, 0, 0]]]
            return None
        if item.startswith("wallet_"):
            wallet, _, currency = item[len("wallet_") :].partition("_")
            for w in wallets:
                if w.wallet == wallet and w.currency == currency:
                    return [0, "wu", serialize.wallet(w)]
            if wallet in WALLET_TYPES and currency:
                return [0, "wu", serialize.wallet(WalletState(wallet, currency, 0, 0))]
        return None

    def command_failed(self, command: Command, code: int, text: str) -> list[Outgoing]:
        """The ERROR notification for one of this stream's commands that the sequencer could
        not apply (the journal failed: nothing was acknowledged, so nothing changed). Without
        it the client would wait forever for the answer of its input (Node's ``submitOrder``
        promise hangs). Commands this stream did not submit, or already answered, get nothing.
        """
        if self._user_id is None or not self._outstanding.holds(command):
            return []
        self._outstanding.remove(command)
        request = _REQUEST_NAMES.get(type(command))
        if request is None:
            return []
        refusal = RequestRejected(self._user_id, request, int(code), text, command, None)
        note = serialize.rejection_notification(refusal, mts=self._now_ms())
        return [Outgoing(Kind.REQUEST, [0, "n", note])]

    def _listed_market(self, symbol: str) -> bool:
        registry = getattr(self._reader, "registry", None)
        return registry is not None and registry.market(symbol) is not None

    def _listed_currency(self, code: str) -> bool:
        registry = getattr(self._reader, "registry", None)
        return registry is not None and registry.currency(code) is not None

    def _user_notification(self, message_id: Any, payload: Any, result: InputResult) -> None:
        """``[0,"n",MSG_ID,{"type":"ucm-…","info":{…}}]``: a user broadcast (spec §8.3)."""
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("type"), str)
            or not payload["type"].startswith("ucm-")
        ):
            result.frames.append(_error_event(Code.PARAMS, TEXT_INPUT_INVALID))
            return
        info = payload.get("info")
        note = serialize.notification(self._now_ms(), payload["type"], info, "SUCCESS", "", message_id=message_id)
        result.broadcast.append(note)

    def receive_broadcast(self, note: list[Any]) -> list[Outgoing]:
        """A ``ucm-*`` notification from another connection of the same user."""
        if self._filter is None or not self._filter.notify:
            return []
        return [Outgoing(Kind.NOTICE, [0, "n", note])]

    # -- updates --------------------------------------------------------------------------------

    def frames_for(
        self, seq: int, ts: int, events: Sequence[Event], *, command: Command | None = None
    ) -> list[Outgoing]:
        """Channel-0 frames for this account from one applied command's events (any source).

        Events are cut into requests at each ``RequestCompleted``/``RequestRejected``; a request
        this connection sent gets its ``n`` first, then its frames (spec §8.2 order). Events
        with no request (stops triggering, expiries) come last, as they are.

        ``command`` (optional) is the command that produced ``events`` when the caller knows
        it; otherwise this stream recognises its own requests among those it returned from
        ``receive_input`` (the rejected command itself, or the first outstanding command that
        the completed request describes).
        """
        uid = self._user_id
        if uid is None or not events:
            return []
        flt = self._filter
        assert flt is not None
        out: list[Outgoing] = []
        primary: list[Outgoing] = []
        wallets: dict[tuple[str, str], Outgoing] = {}
        trades: list[Outgoing] = []
        balance_moved = False
        rendered: dict[int, list[Any]] = {}  # id(OrderState) → its array, rendered once per call
        batch_owner: Command | None = None  # a MultiOp of ours: every request in it is ours
        if command is not None and self._outstanding.holds(command):
            batch_owner = command
        for event in events:
            event_type = type(event)
            if event_type in _ORDER_FRAME:
                order = event.order  # type: ignore[union-attr]
                if order.user_id == uid and flt.symbol(order.symbol):
                    primary.append(Outgoing(Kind.ACCOUNT, [0, _ORDER_FRAME[event_type], _render(order, rendered)]))
            elif event_type is AccountTrade:
                if event.user_id == uid and flt.symbol(event.symbol):  # type: ignore[union-attr]
                    primary.append(Outgoing(Kind.ACCOUNT, [0, "te", serialize.account_trade(event, with_fee=False)]))  # type: ignore[arg-type]
                    trades.append(Outgoing(Kind.ACCOUNT, [0, "tu", serialize.account_trade(event, with_fee=True)]))  # type: ignore[arg-type]
            elif event_type is WalletChanged:
                if event.user_id == uid:  # type: ignore[union-attr]
                    w: WalletChanged = event  # type: ignore[assignment]
                    key = (w.wallet, w.currency)
                    if self._balances.get(key) != w.balance:
                        self._balances[key] = w.balance
                        balance_moved = True
                    if flt.wallet_of(w.wallet, w.currency):
                        frame = [0, "wu", serialize.wallet(w)]
                        wallets.pop((w.wallet, w.currency), None)
                        wallets[(w.wallet, w.currency)] = Outgoing(Kind.ACCOUNT, frame)
            elif event_type is RequestCompleted or event_type is RequestRejected:
                if event.user_id != uid:  # type: ignore[union-attr]
                    continue
                owner = batch_owner or self._outstanding.claim(event)  # type: ignore[arg-type]
                if owner is not None:
                    if isinstance(owner, MultiOp):
                        batch_owner = owner
                    note = self._request_note(event, ts, rendered)  # type: ignore[arg-type]
                    if note is not None:
                        out.append(note)
                out += primary
                out += wallets.values()
                out += trades
                primary, trades = [], []
                wallets = {}
        out += primary
        out += wallets.values()
        out += trades
        if batch_owner is not None:
            self._outstanding.remove(batch_owner)
        if balance_moved and flt.balance:
            balance = self._balance_frame()
            if balance is not None:
                out.append(balance)
        return out

    def _request_note(
        self, event: RequestCompleted | RequestRejected, ts: int, rendered: dict[int, list[Any]]
    ) -> Outgoing | None:
        """The ``*-req`` notification answering one of our requests (spec §5, WS shapes).

        A successful ``ox_multi`` is told by its per-op notifications (spec §8.3), so it has
        none of its own; a refused one is ``ox_multi-req`` ERROR with null DATA.
        """
        if isinstance(event, RequestCompleted):
            request, orders = event.request, event.orders
            if request == "ox_multi" or (not orders and request != "oc_multi"):
                return None
            text = _SUCCESS_TEXTS.get(request)
            if text is not None:
                # The hot path (one order per request): its array is shared with the on/ou/oc
                # frame that follows, so it is rendered once.
                first = orders[0]
                data = _render(first, rendered)
                note = serialize.notification(ts, f"{request}-req", data, serialize.STATUS_SUCCESS, text(first))
                return Outgoing(Kind.REQUEST, [0, "n", note])
        note = serialize.request_notification(event, mts=ts, transport="ws")
        return Outgoing(Kind.REQUEST, [0, "n", note])

    def _balance_frame(self) -> Outgoing | None:
        """``bu`` when the account's value changed since the last one sent."""
        aum = self._valuation(self._balances.items())
        value = (aum, aum)
        if value == self._last_balance:
            return None
        self._last_balance = value
        return Outgoing(Kind.ACCOUNT, [0, "bu", [num(aum), num(aum)]])

    def _valuation(self, balances: Iterable[tuple[tuple[str, str], int]]) -> int:
        """Assets under management in USD (raw): each balance at its USD price.

        Prices: the last trade of ``<CUR>USD``, else of a pair with a currency that has one
        (``ETHBTC`` × ``BTCUSD``, ``BTCUST`` ÷ …), else the market's reference price; a currency
        with no route to USD counts 0. AUM_NET = AUM: spot wallets carry no liabilities.
        """
        total = 0
        for (_, currency), balance in balances:
            if balance:
                price = self._usd_price(currency)
                if price:
                    total += balance * price // SCALE
        return total

    def _usd_price(self, currency: str) -> int | None:
        if currency == "USD":
            return SCALE
        direct = self._price(f"t{currency}USD") if len(currency) <= 3 else self._price(f"t{currency}:USD")
        if direct:
            return direct
        registry = getattr(self._reader, "registry", None)
        if registry is None:
            return None
        for market in registry.markets:
            if market.base == currency and market.quote != "USD":
                quote_usd = self._price(_usd_symbol(market.quote))
                price = self._price(market.symbol)
                if quote_usd and price:
                    return price * quote_usd // SCALE
            elif market.quote == currency:
                base_usd = self._price(_usd_symbol(market.base))
                price = self._price(market.symbol)
                if base_usd and price:
                    return base_usd * SCALE // price
        return None

    def _price(self, symbol: str) -> int | None:
        """Last trade price of ``symbol``, else its reference price, else None if not listed."""
        try:
            last = self._reader.last_price(symbol)
        except (KeyError, ValueError):
            last = None
        if last:
            return last
        registry = getattr(self._reader, "registry", None)
        market = registry.market(symbol) if registry is not None else None
        return market.reference_price if market is not None else None

    # -- closing --------------------------------------------------------------------------------

    def close_commands(self) -> list[Command]:
        """Commands to submit when the socket closes: ``CancelAllOrders`` if ``dms: 4`` was set."""
        if self._user_id is not None and self._dms:
            return [CancelAllOrders(user_id=self._user_id)]
        return []


# -- helpers --------------------------------------------------------------------------------------


# The input TYPE each command answers to (its ``*-req`` notification type).
_REQUEST_NAMES: dict[type, str] = {
    SubmitOrder: "on",
    UpdateOrder: "ou",
    CancelOrder: "oc",
    CancelOrders: "oc_multi",
    MultiOp: "ox_multi",
}

_SUCCESS_TEXTS: dict[str, Callable[[OrderState], str]] = {
    "on": serialize.submit_text,
    "ou": serialize.update_text,
    "oc": lambda order: serialize.cancel_text(order.id),
}


def _render(order: OrderState, rendered: dict[int, list[Any]]) -> list[Any]:
    """``serialize.order(order)``, once per order snapshot within one ``frames_for`` call."""
    array = rendered.get(id(order))
    if array is None:
        array = rendered[id(order)] = serialize.order(order)
    return array


def _error_event(code: Code, text: str) -> Outgoing:
    return Outgoing(Kind.EVENT, {"event": "error", "msg": text, "code": int(code)})


def _usd_symbol(currency: str) -> str:
    return f"t{currency}USD" if len(currency) <= 3 else f"t{currency}:USD"


def _calc_items(payload: Any) -> list[str] | None:
    """``[["balance"],["wallet_exchange_BTC"],…]`` → item names; None when malformed."""
    if not isinstance(payload, list) or len(payload) > MAX_CALC_ITEMS:
        return None
    items = []
    for entry in payload:
        if isinstance(entry, list) and entry and isinstance(entry[0], str):
            items.append(entry[0])
        elif isinstance(entry, str):
            items.append(entry)
        else:
            return None
    return items
