"""The authenticated REST API: every ``POST /v2/auth/…`` endpoint (spec §4.2).

Each handler runs the same steps, in this order:
1. authenticate the raw request (``protocol.auth.authenticate_rest``: key, HMAC over the body
   bytes as received, per-key nonce shared with WS auth through ``nonce_tracker(ctx)``);
2. check the key's permission for the endpoint (the scope column of ``ENDPOINTS`` below);
3. parse the JSON body (empty body = ``{}``) with the protocol parsers;
4. writes: submit a command through the sequencer and render its events; reads: query the
   core's read methods, the preferences sub-state or the history view;
5. answer JSON once every command the answer may reflect is durable (read barrier,
   ``Sequencer.wait_released``); any refusal is raised as ``ProtocolError`` and rendered once
   by app.py's error middleware as HTTP 500 ``["error", CODE, "text"]`` (§9).

Invariants:
- the user is always the authenticated key's user: no input field can name another user, and
  every read filters by that user (another user's orders, trades, ledgers are never visible;
  cancelling them is refused by the core as "Order not found");
- REST order notifications follow §5: ``on-req`` DATA is a list of orders, ``ou-req`` and
  ``oc-req`` DATA one flat order, ``oc_multi-req`` a list; a refused submit/update/cancel is an
  error envelope, never an ERROR notification;
- margin, positions, derivatives and funding endpoints exist (never a 404) and answer
  ``["error", 10001, "action: disabled"]`` — the text Bitfinex gives paper accounts for
  actions they may not use (clients.md §6) — until venue implements them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from venue.core.commands import Transfer, Withdraw
from venue.core.events import MovementRecorded, RequestCompleted, RequestRejected
from venue.core.exchange import ApiKeyInfo
from venue.core.numbers import SCALE, NumberError, parse_price
from venue.core.preferences import (
    AlertDeleted,
    AlertSet,
    CreateDepositAddress,
    DeleteAlert,
    DeleteSettings,
    DepositAddressCreated,
    Preferences,
    SetAlert,
    SetSettings,
)
from venue.gateway.app import json_response
from venue.protocol import orders as order_inputs
from venue.protocol import private, serialize
from venue.protocol.auth import NonceTracker, authenticate_rest, permission_rows, require_permission
from venue.protocol.errors import Code, ProtocolError, invalid
from venue.protocol.wire import dumps, num

log = logging.getLogger(__name__)

NONCES_EXTRA = "nonces"  # ctx.extras key of the NonceTracker shared with WS auth
HISTORY_EXTRA = "history"  # where the private history view may be registered

TEXT_ACTION_DISABLED = "action: disabled"


def nonce_tracker(ctx: Any) -> NonceTracker:
    """The server's one ``NonceTracker`` (REST and WS auth of a key share its counter, §4.1)."""
    tracker = ctx.extras.get(NONCES_EXTRA)
    if tracker is None:
        tracker = ctx.extras[NONCES_EXTRA] = NonceTracker()
    return tracker


# -- request plumbing -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """One authenticated request as handlers see it."""

    ctx: Any
    key: ApiKeyInfo
    body: private.Body
    match: dict[str, str]

    @property
    def user_id(self) -> int:
        return self.key.user_id

    def now_ms(self) -> int:
        return int(self.ctx.clock.now_ms())


Handler = Callable[[AuthRequest], Awaitable[Any]]


def _signed_paths(request: web.Request) -> list[str]:
    """The path after ``/v2/`` as the client may have signed it: raw, then percent-decoded."""
    raw = request.raw_path.split("?", 1)[0]
    after = raw[4:] if raw.startswith("/v2/") else raw.lstrip("/")
    decoded = unquote(after)
    return [after] if decoded == after else [after, decoded]


def _authenticate(ctx: Any, request: web.Request, body: bytes) -> ApiKeyInfo:
    nonces = nonce_tracker(ctx)
    paths = _signed_paths(request)
    for index, path in enumerate(paths):
        try:
            return authenticate_rest(path, request.headers, body, ctx.exchange.api_key, nonces)
        except ProtocolError as exc:
            # A percent-encoded path may have been signed decoded; the nonce is untouched by a
            # failed signature, so trying the other form is safe.
            if exc.code != Code.AUTH_FAIL or index == len(paths) - 1:
                raise
    raise ProtocolError(Code.AUTH_FAIL, "apikey: invalid")  # pragma: no cover - loop returns


def _endpoint(ctx: Any, scope: str | None, write: bool, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        key = _authenticate(ctx, request, raw)
        if scope is not None:
            require_permission(key, scope, write)
        body = private.parse_body(raw)
        result = await handler(AuthRequest(ctx, key, body, dict(request.match_info)))
        # Reads of the core (wallets, open orders, the key itself) see commands that are applied
        # but not yet durable: the answer leaves only once what it may show is durable.
        wait_released = getattr(ctx.sequencer, "wait_released", None)
        if wait_released is not None:
            await wait_released(ctx.sequencer.last_seq)
        return json_response(dumps(result))

    return handle


async def _submit(req: AuthRequest, command: Any) -> list[Any]:
    events: list[Any] = await req.ctx.submit(command)
    return events


def _outcomes(events: list[Any], user_id: int) -> list[RequestCompleted | RequestRejected]:
    return [e for e in events if isinstance(e, (RequestCompleted, RequestRejected)) and e.user_id == user_id]


def _single_outcome(events: list[Any], user_id: int) -> RequestCompleted:
    """The request's success event; a rejection becomes the REST error envelope (§5)."""
    outcomes = _outcomes(events, user_id)
    if not outcomes:
        raise ProtocolError(Code.UNKNOWN, "unknown error")
    last = outcomes[-1]
    if isinstance(last, RequestRejected):
        raise ProtocolError(last.code, last.text)
    return last


# -- wallets and account ----------------------------------------------------------------------


async def wallets(req: AuthRequest) -> Any:
    return [serialize.wallet(w) for w in req.ctx.exchange.wallets(req.user_id)]


async def user_info(req: AuthRequest) -> Any:
    user = req.ctx.exchange.user(req.user_id)
    if user is None:  # a key whose user vanished cannot happen; answer like an unknown key
        raise ProtocolError(Code.AUTH_FAIL, "apikey: invalid")
    return private.user_info(user)


async def summary(req: AuthRequest) -> Any:
    markets = req.ctx.registry.markets
    maker = markets[0].maker_fee_ppm if markets else 1000
    taker = markets[0].taker_fee_ppm if markets else 2000
    return private.summary(maker, taker)


async def permissions(req: AuthRequest) -> Any:
    return permission_rows(req.key.permissions)


async def order_avail(req: AuthRequest) -> Any:
    """``auth/calc/order/avail`` (§4.2): the largest amount an order could have now.

    EXCHANGE: buying spends the quote wallet's available balance at ``rate`` (default: last
    price, else the market's reference price); selling offers the base wallet's available
    balance, returned negative (the sell sign, §2.2). MARGIN/DERIV: 0 (no margin trading yet);
    FUNDING: the funding wallet's available balance of the currency.
    """
    registry = req.ctx.registry
    kind = req.body.get("type")
    if not isinstance(kind, str) or kind.upper() not in ("EXCHANGE", "MARGIN", "DERIV", "FUNDING"):
        raise invalid("type")
    kind = kind.upper()
    sym = req.body.get("symbol")
    available = {(w.wallet, w.currency): w.available for w in req.ctx.exchange.wallets(req.user_id)}
    if kind == "FUNDING":
        if not isinstance(sym, str) or not sym.startswith("f") or not registry.has_currency(sym[1:]):
            raise invalid("symbol")
        return [num(available.get(("funding", sym[1:]), 0))]
    market = registry.market(sym) if isinstance(sym, str) else None
    if market is None:
        raise invalid("symbol")
    direction = private.opt_int(req.body, "dir", low=-1, high=1)
    if direction not in (1, -1):
        raise invalid("dir")
    if kind != "EXCHANGE":
        return [0]
    if direction < 0:
        return [num(-available.get(("exchange", market.base), 0))]
    rate = _rate(req, market)
    quote = available.get(("exchange", market.quote), 0)
    return [num(quote * SCALE // rate)]  # rounded down: never more than the balance buys


def _rate(req: AuthRequest, market: Any) -> int:
    if req.body.get("rate") is not None:
        try:
            rate = parse_price(req.body["rate"])
        except NumberError as exc:
            raise invalid("rate") from exc
        if rate <= 0:
            raise invalid("rate")
        return rate
    last = req.ctx.exchange.last_price(market.symbol)
    return int(last) if last else market.reference_price


async def transfer(req: AuthRequest) -> Any:
    registry = req.ctx.registry
    body = req.body
    wallet_from = private.wallet(body.get("from"), "from")
    wallet_to = private.wallet(body.get("to"), "to")
    cur = private.currency(registry, body.get("currency"))
    cur_to = None
    if body.get("currency_to") is not None:
        cur_to = private.currency(registry, body.get("currency_to"), "currency_to")
        if cur_to == cur:
            cur_to = None  # bfxapi always sends currency_to; same currency means no conversion
    amount = private.req_amount(body)
    if body.get("email_dst") is not None or body.get("user_id_dst") is not None:
        # Transfers to other users are not offered: a key only moves its own user's funds.
        raise invalid("user_id_dst")
    command = Transfer(req.user_id, wallet_from, wallet_to, cur, amount, cur_to)
    _single_outcome(await _submit(req, command), req.user_id)
    return serialize.transfer_notification(command, mts=req.now_ms(), registry=registry)


async def withdraw(req: AuthRequest) -> Any:
    registry = req.ctx.registry
    body = req.body
    wallet = private.wallet(body.get("wallet"), "wallet")
    cur = private.currency_of_method(registry, body.get("method"))
    amount = private.req_amount(body)
    if body.get("invoice") is not None:  # Lightning withdrawals name an invoice instead
        address = private.req_str(body, "invoice", max_len=2048)
    else:
        address = private.req_str(body, "address")
    currency = registry.currency(cur)
    fee = currency.withdrawal_fee if currency is not None else 0
    command = Withdraw(
        req.user_id,
        cur,
        amount,
        wallet=wallet,
        method=str(body["method"]).upper(),
        address=address,
        fee=fee,
        note=private.opt_str(body, "note") or "",
    )
    events = await _submit(req, command)
    _single_outcome(events, req.user_id)
    for event in events:
        if isinstance(event, MovementRecorded) and event.user_id == req.user_id:
            return serialize.withdrawal_notification(event, mts=req.now_ms())
    raise ProtocolError(Code.UNKNOWN, "unknown error")


# -- orders -----------------------------------------------------------------------------------


def _path_symbol(req: AuthRequest) -> str | None:
    sym = req.match.get("symbol")
    return None if sym is None else private.symbol(req.ctx.registry, sym)


async def active_orders(req: AuthRequest) -> Any:
    sym = _path_symbol(req)
    ids = private.id_list(req.body)
    gid = private.opt_int(req.body, "gid")
    cid = private.opt_int(req.body, "cid")
    cid_date = private.opt_str(req.body, "cid_date")
    rows = []
    for o in req.ctx.exchange.open_orders(req.user_id, sym):
        if ids is not None and o.id not in ids:
            continue
        if gid is not None and o.group_id != gid:
            continue
        if cid is not None and (o.client_order_id != cid or (cid_date is not None and o.client_order_date != cid_date)):
            continue
        rows.append(serialize.order(o))
    return rows


async def submit_order(req: AuthRequest) -> Any:
    command = order_inputs.parse_submit(req.body, user_id=req.user_id, now_ms=req.now_ms())
    outcome = _single_outcome(await _submit(req, command), req.user_id)
    return serialize.order_request_notification(outcome, mts=req.now_ms(), transport="rest")


async def update_order(req: AuthRequest) -> Any:
    command = order_inputs.parse_update(req.body, user_id=req.user_id, now_ms=req.now_ms())
    outcome = _single_outcome(await _submit(req, command), req.user_id)
    return serialize.order_request_notification(outcome, mts=req.now_ms(), transport="rest")


async def cancel_order(req: AuthRequest) -> Any:
    command = order_inputs.parse_cancel(req.body, user_id=req.user_id, now_ms=req.now_ms())
    outcome = _single_outcome(await _submit(req, command), req.user_id)
    return serialize.order_request_notification(outcome, mts=req.now_ms(), transport="rest")


async def cancel_orders(req: AuthRequest) -> Any:
    command = order_inputs.parse_cancel_multi(req.body, user_id=req.user_id, now_ms=req.now_ms())
    outcome = _single_outcome(await _submit(req, command), req.user_id)
    return serialize.order_request_notification(outcome, mts=req.now_ms(), transport="rest")


async def order_multi(req: AuthRequest) -> Any:
    """``ox_multi-req`` whose DATA lists one notification per op, each op succeeding or failing
    on its own (§4.2; the nesting is not confirmed by the spec)."""
    command = order_inputs.parse_multi(req.body, user_id=req.user_id, now_ms=req.now_ms())
    outcomes = _outcomes(await _submit(req, command), req.user_id)
    per_op = [o for o in outcomes if o.request != "ox_multi"]
    if not per_op and outcomes and isinstance(outcomes[-1], RequestRejected):
        raise ProtocolError(outcomes[-1].code, outcomes[-1].text)
    mts = req.now_ms()
    notes = [
        serialize.rejection_notification(o, mts=mts)
        if isinstance(o, RequestRejected)
        else serialize.order_request_notification(o, mts=mts, transport="rest")
        for o in per_op
    ]
    return serialize.multi_notification(mts, notes)


# -- history ----------------------------------------------------------------------------------


def _history(ctx: Any) -> Any:
    view = ctx.extras.get(HISTORY_EXTRA)
    if view is None and ctx.market_data is not None:
        view = getattr(ctx.market_data, "history", None)
    if view is None:
        raise ProtocolError(Code.NOT_READY, "history: not available")
    return view


async def orders_history(req: AuthRequest) -> Any:
    query = private.history_query(req.body)
    ids = private.id_list(req.body)
    rows = _history(req.ctx).orders(
        req.user_id,
        symbol=_path_symbol(req),
        ids=ids,
        start=query.start,
        end=query.end,
        limit=query.limit,
        sort=query.sort,
    )
    return [serialize.order(o) for o in rows]


async def order_trades(req: AuthRequest) -> Any:
    # ``{symbol}:{id}``: the symbol itself may hold a colon (tTESTBTC:TESTUSD), the id never.
    sym, _, order_id_text = req.match["spec"].rpartition(":")
    private.symbol(req.ctx.registry, sym)
    digits = order_id_text.isascii() and order_id_text.isdigit() and len(order_id_text) <= 19
    if not digits or int(order_id_text) > private.MAX_INT:  # 64-bit ids only
        raise invalid("id")
    rows = _history(req.ctx).account_trades(
        req.user_id, symbol=sym, order_id=int(order_id_text), limit=private.HISTORY_MAX_LIMIT, sort=-1
    )
    return [serialize.order_trade(t) for t in rows if t.user_id == req.user_id]


async def trades_history(req: AuthRequest) -> Any:
    query = private.history_query(req.body)
    rows = _history(req.ctx).account_trades(
        req.user_id,
        symbol=_path_symbol(req),
        start=query.start,
        end=query.end,
        limit=query.limit,
        sort=query.sort,
    )
    return [serialize.account_trade(t) for t in rows if t.user_id == req.user_id]


async def ledgers(req: AuthRequest) -> Any:
    query = private.history_query(req.body)
    cur = req.match.get("currency")
    if cur is not None:
        private.currency(req.ctx.registry, cur)
    category = private.opt_int(req.body, "category", low=1)
    wallet = private.wallet(req.body["wallet"], "wallet") if req.body.get("wallet") is not None else None
    # The wallet filter runs in the query, before the limit: ``limit`` rows of that wallet.
    rows = _history(req.ctx).ledgers(
        req.user_id,
        currency=cur,
        category=category,
        start=query.start,
        end=query.end,
        limit=query.limit,
        sort=query.sort,
        wallet=wallet,
    )
    return [serialize.ledger(e) for e in rows if e.user_id == req.user_id]


async def movements(req: AuthRequest) -> Any:
    query = private.history_query(req.body)
    cur = req.match.get("currency")
    if cur is not None:
        private.currency(req.ctx.registry, cur)
    history = _history(req.ctx)
    filters: dict[str, Any] = {}
    ids = private.id_list(req.body)
    address = private.opt_str(req.body, "address", max_len=2048)
    if ids is not None:
        filters["ids"] = ids
    if address is not None:
        filters["address"] = address
    rows = history.movements(
        req.user_id, currency=cur, start=query.start, end=query.end, limit=query.limit, sort=query.sort, **filters
    )
    return [serialize.movement(m) for m in rows if m.user_id == req.user_id]


# -- preferences: settings, alerts, deposit addresses -----------------------------------------


def _preferences(ctx: Any) -> Preferences:
    """The user preferences held by the core (read-only here; writes go through the sequencer)."""
    prefs: Preferences = ctx.exchange.preferences
    return prefs


async def _apply_preference(req: AuthRequest, command: Any) -> list[Any]:
    events = await _submit(req, command)
    for event in events:
        if isinstance(event, RequestRejected) and event.user_id == req.user_id:
            raise ProtocolError(event.code, event.text)
    return events


async def settings_read(req: AuthRequest) -> Any:
    keys = private.setting_keys(req.body, "keys")
    prefs = _preferences(req.ctx)
    return private.settings_rows(prefs.settings(req.user_id, keys))


async def settings_set(req: AuthRequest) -> Any:
    values = private.setting_values(req.body)
    await _apply_preference(req, SetSettings(req.user_id, values))
    return serialize.notification(req.now_ms(), "acc_ss", len(values), serialize.STATUS_SUCCESS, "")


async def settings_delete(req: AuthRequest) -> Any:
    # Three request shapes are in use (spec §4.2): {"settings":[keys]}, {"settings":{key:1}},
    # and Node's {"keys":[keys]}.
    field = "keys" if req.body.get("keys") is not None else "settings"
    keys = private.setting_keys(req.body, field)
    await _apply_preference(req, DeleteSettings(req.user_id, keys))
    return serialize.notification(req.now_ms(), "acc_sd", len(keys), serialize.STATUS_SUCCESS, "")


def _alert_type(body: private.Body) -> None:
    if body.get("type", "price") != "price":
        raise invalid("type")


async def alerts(req: AuthRequest) -> Any:
    _alert_type(req.body)
    prefs = _preferences(req.ctx)
    return [private.alert_row(a) for a in prefs.alerts(req.user_id)]


async def alert_set(req: AuthRequest) -> Any:
    _alert_type(req.body)
    sym = private.symbol(req.ctx.registry, req.body.get("symbol"))
    price = private.req_price(req.body)
    count = private.opt_int(req.body, "count", low=1, high=1_000_000) or 100
    events = await _apply_preference(req, SetAlert(req.user_id, sym, price, count))
    alert = next(e.alert for e in events if isinstance(e, AlertSet))
    return private.alert_row(alert)


async def alert_delete(req: AuthRequest) -> Any:
    key = req.match.get("key")
    if key is not None:
        sym, price_text = private.alert_key(key)
        body = {"symbol": sym, "price": price_text}
    else:
        body = req.body
    sym = private.symbol(req.ctx.registry, body.get("symbol"))
    price = private.req_price(body)
    events = await _apply_preference(req, DeleteAlert(req.user_id, sym, price))
    removed = any(isinstance(e, AlertDeleted) and e.removed for e in events)
    return [removed]


async def deposit_address(req: AuthRequest) -> Any:
    body = req.body
    wallet = private.wallet(body.get("wallet"), "wallet")
    cur = private.currency_of_method(req.ctx.registry, body.get("method"))
    renew = bool(private.opt_int(body, "op_renew", high=1) or 0)
    method = str(body["method"]).lower()
    events = await _apply_preference(req, CreateDepositAddress(req.user_id, cur, wallet, method, renew))
    created = next(e.deposit_address for e in events if isinstance(e, DepositAddressCreated))
    return serialize.deposit_address_notification(
        mts=req.now_ms(), method=created.method, currency=created.currency, address=created.address
    )


# -- not offered yet --------------------------------------------------------------------------


async def disabled(req: AuthRequest) -> Any:
    raise ProtocolError(Code.GENERIC, TEXT_ACTION_DISABLED)


# Margin, positions, derivatives and funding endpoints of spec §4.2 (and a few account extras):
# authenticated like the others, then "action: disabled".
DISABLED_PATHS: tuple[str, ...] = (
    "auth/r/info/margin/{key}",
    "auth/r/positions",
    "auth/w/position/claim",
    "auth/w/position/increase",
    "auth/r/position/increase/info",
    "auth/r/positions/hist",
    "auth/r/positions/snap",
    "auth/r/positions/audit",
    "auth/w/position/update/funding/type",
    "auth/w/deriv/collateral/set",
    "auth/calc/deriv/collateral/limits",
    "auth/calc/deriv/collateral/limit",
    "auth/r/funding/offers",
    "auth/r/funding/offers/hist",
    "auth/r/funding/offers/{symbol}",
    "auth/r/funding/offers/{symbol}/hist",
    "auth/w/funding/offer/submit",
    "auth/w/funding/offer/cancel",
    "auth/w/funding/offer/cancel/all",
    "auth/w/funding/close",
    "auth/w/funding/auto",
    "auth/w/funding/keep",
    "auth/r/funding/loans",
    "auth/r/funding/loans/hist",
    "auth/r/funding/loans/{symbol}",
    "auth/r/funding/loans/{symbol}/hist",
    "auth/r/funding/credits",
    "auth/r/funding/credits/hist",
    "auth/r/funding/credits/{symbol}",
    "auth/r/funding/credits/{symbol}/hist",
    "auth/r/funding/trades/hist",
    "auth/r/funding/trades/{symbol}/hist",
    "auth/r/info/funding/{key}",
    "auth/w/deposit/invoice",
    "auth/r/deposit/address/all",
    "auth/w/token",
    "auth/w/token/del",
    "auth/r/logins/hist",
    "auth/r/audit/hist",
    "auth/r/wallets/hist",
    "auth/r/movements/info",
    "auth/r/trades/calc",
    "auth/r/settings/core",
)

# (path after /v2/, scope, write, handler). Static paths come before the parametrised ones that
# could swallow them (aiohttp matches in registration order): ``orders/hist`` before
# ``orders/{symbol}``.
ENDPOINTS: tuple[tuple[str, str | None, bool, Handler], ...] = (
    ("auth/r/wallets", "wallets", False, wallets),
    ("auth/r/info/user", "account", False, user_info),
    ("auth/r/summary", "account", False, summary),
    ("auth/r/permissions", None, False, permissions),
    ("auth/calc/order/avail", "orders", False, order_avail),
    ("auth/w/transfer", "wallets", True, transfer),
    ("auth/w/withdraw", "withdraw", True, withdraw),
    ("auth/w/deposit/address", "wallets", True, deposit_address),
    ("auth/r/orders/hist", "orders", False, orders_history),
    ("auth/r/orders", "orders", False, active_orders),
    ("auth/r/orders/{symbol}/hist", "orders", False, orders_history),
    ("auth/r/orders/{symbol}", "orders", False, active_orders),
    ("auth/w/order/submit", "orders", True, submit_order),
    ("auth/w/order/update", "orders", True, update_order),
    ("auth/w/order/cancel/multi", "orders", True, cancel_orders),
    ("auth/w/order/cancel", "orders", True, cancel_order),
    ("auth/w/order/multi", "orders", True, order_multi),
    ("auth/r/order/{spec}/trades", "orders", False, order_trades),
    ("auth/r/trades/hist", "history", False, trades_history),
    ("auth/r/trades/{symbol}/hist", "history", False, trades_history),
    ("auth/r/ledgers/hist", "history", False, ledgers),
    ("auth/r/ledgers/{currency}/hist", "history", False, ledgers),
    ("auth/r/movements/hist", "history", False, movements),
    ("auth/r/movements/{currency}/hist", "history", False, movements),
    ("auth/r/settings", "settings", False, settings_read),
    ("auth/w/settings/set", "settings", True, settings_set),
    ("auth/w/settings/del", "settings", True, settings_delete),
    ("auth/r/alerts", "account", False, alerts),
    ("auth/w/alert/set", "account", True, alert_set),
    ("auth/w/alert/del", "account", True, alert_delete),
    ("auth/w/alert/{key}/del", "account", True, alert_delete),
)

# Paths that must be registered before a parametrised route of ENDPOINTS could match them.
_EARLY_DISABLED = ("auth/r/funding/offers/hist", "auth/r/funding/loans/hist", "auth/r/funding/credits/hist")


def add_routes(app: web.Application, ctx: Any) -> None:
    """Mount every ``POST /v2/auth/…`` route for ``ctx``'s server."""
    nonce_tracker(ctx)  # created now so WS auth finds the same tracker
    for path in _EARLY_DISABLED:
        app.router.add_post(f"/v2/{path}", _endpoint(ctx, None, False, disabled))
    for path, scope, write, handler in ENDPOINTS:
        app.router.add_post(f"/v2/{path}", _endpoint(ctx, scope, write, handler))
    for path in DISABLED_PATHS:
        if path not in _EARLY_DISABLED:
            app.router.add_post(f"/v2/{path}", _endpoint(ctx, None, False, disabled))

