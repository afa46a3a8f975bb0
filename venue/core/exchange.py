"""The exchange as a deterministic state machine: ``Exchange.apply(command, seq, ts) -> events``.

Rules it keeps (design.md):
- no I/O, no clock, no randomness: ``ts`` (ms) and ``seq`` come with each command; ids come
  from counters in the state;
- never iterates in an order that depends on hashing;
- validate, then mutate: a refused command returns a lone ``RequestRejected`` and leaves no trace
  (only orders whose tif passed are cancelled first, because time passed whatever the command);
- after every command the book is not crossed, no balance or available balance is negative,
  and each order's filled + remaining = original.

Order of work inside ``apply``: first every order whose ``tif_ts`` <= ``ts`` is cancelled
(``CANCELED``), then the command runs. A successful command ends with ``RequestCompleted``
(``Tick`` ends with nothing); its wallet events come right before that: one ``WalletChanged``
per wallet touched by the command or the expiries, final state, then the ledger lines. When
the command is refused, the expiries' wallet events follow the ``RequestRejected``. A
``MultiOp`` runs its ops one after the other, each op with its own wallet events and its own
``RequestCompleted``/``RequestRejected``.

Choices the spec leaves open, made here:
- UpdateOrder priority: a price change or an amount increase sends the order to the back of its
  (new) level; an amount decrease, or a change of flags/gid/cid/tif alone, keeps its place. An
  update whose new price crosses the book trades at once as a taker (a post-only order is then
  closed ``POSTONLY CANCELED``).
- A stop whose trigger price is already reached when placed (or amended) triggers at once.
- Margin (non-EXCHANGE) types are refused until margin trading exists, as Bitfinex refuses a
  margin order without margin funds (spec §6.1, bitfinex-api-node#220/#262): after the same
  shape and size checks as any order, 10001 ``Invalid order: not enough tradable balance for
  {amount} {PAIR} at {price}`` (price as in the exchange balance text below), whatever the
  margin wallet holds (its tradable balance is 0: no positions, no funding). ccxt maps that
  text by its "Invalid order" prefix to InvalidOrder, as it does against Bitfinex itself (its
  InsufficientFunds phrases are "not enough exchange balance" / "available balance is only").
- Balance checks at submit (``not enough exchange balance for {amount} {PAIR} at {price}``):
  a buy must be covered at its limit (IOC/FOK too), a STOP LIMIT at its aux limit, a STOP or
  TRAILING STOP at its trigger, a sell by its whole amount of base; a market buy by the cost
  of walking the asks now, hidden ones included, with what the book cannot fill priced at the
  deepest ask (the reference price on an empty book) — refused whole rather than partly
  accepted; the text then shows that price. No fee is added: buyers pay theirs in base.
  A triggered stop is checked the same way and closes ``INSUFFICIENT BALANCE (U1)`` if the
  market moved beyond what it holds.
- An OCO pair holds what its dearer leg needs, max(limit leg, stop leg at its trigger): the
  limit leg holds its own cost, the stop leg the rest (``Engine.oco_top_up``), released when
  the first fill or trigger of one leg closes the other. A buy stop above its limit leg is then
  paid for when it triggers at its price (only a book that moved beyond the trigger can still
  close it ``U1``, as any stop). Bitfinex documents nothing on how an OCO is funded; this is
  the choice that never accepts a pair it cannot run. The refusal text shows the stop price
  when the stop leg is the dearer one. Price-only moves of an OCO buy leg take the general
  update path (the partner's hold changes with the price).
- Post-only orders are closed ``POSTONLY CANCELED`` if they would take a visible resting order;
  hidden liquidity alone does not stop them, they take it and rest the remainder (spec §6.1).
- CLOSE/REDUCE_ONLY/NO_VAR_RATES flags are accepted and kept on exchange orders; they only mean
  something for margin orders.

This module is the contract the other layers rely on; its read methods are what the gateway and
protocol layers use to answer queries without going through the journal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from venue.core import persistence
from venue.core.accounts import Accounts, ApiKey, Batch, User
from venue.core.book import (
    BASE_KIND, LIMIT, MARKET, STOP, STOP_KINDS, STOP_LIMIT, TRAILING_STOP, Order,
)
from venue.core.commands import (
    CancelAllOrders, CancelOrder, CancelOrders, Command, CreateApiKey, CreateUser, Deposit,
    MultiOp, RevokeApiKey, SubmitOrder, Tick, Transfer, UpdateOrder, Withdraw,
)
from venue.core.events import (
    ApiKeyCreated, ApiKeyRevoked, Event, MovementRecorded, RequestCompleted, RequestRejected,
    UserCreated,
)
from venue.core.frozen import (
    new_order_accepted, new_order_updated, new_request_completed, new_wallet_changed,
)
from venue.core.ledger import (
    CATEGORY_DEPOSIT, CATEGORY_TRANSFER, CATEGORY_WITHDRAWAL, CATEGORY_WITHDRAWAL_FEE, WALLETS,
    deposit_text, transfer_text, withdrawal_fee_text, withdrawal_text,
)
from venue.core.matching import FEE_ACCOUNT_ID, Engine, MarketState
from venue.core.numbers import SCALE, mul_ceil, to_status_text, to_text
from venue.core.orders import EXCHANGE_ORDER_TYPES, KNOWN_FLAGS, OrderFlag, OrderState, OrderType
from venue.core.preferences import PREFERENCE_COMMAND_TYPES, Preferences
from venue.core.symbols import Market, Registry

__all__ = ["FEE_ACCOUNT_ID", "ApiKeyInfo", "Exchange", "UserInfo", "WalletState"]

# Flag bits as plain ints: IntFlag arithmetic builds enum objects on the hot path.
_HIDDEN = int(OrderFlag.HIDDEN)
_POST_ONLY = int(OrderFlag.POST_ONLY)
_OCO = int(OrderFlag.OCO)
MAX_MULTI_OPS = 75  # spec §4.2 auth/w/order/multi

# Bitfinex codes (spec §9): 10001 business refusal, 10020 bad parameter, 10100 auth.
ERR_GENERIC = 10001
ERR_PARAMS = 10020
ERR_AUTH = 10100
ORDER_NOT_FOUND = "Order not found."
# A price that is there but not positive (spec §5, WS submit failure for price -12483); a
# missing or unreadable one is the parameter error "price: invalid".
INVALID_PRICE = "Invalid price."
EXCHANGE = "exchange"  # the wallet orders trade and hold in


@dataclass(frozen=True, slots=True)
class UserInfo:
    user_id: int
    name: str
    email: str
    created_ts: int


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key: str
    secret: str = field(repr=False)  # never in a log line
    user_id: int
    permissions: tuple[tuple[str, bool, bool], ...]
    created_ts: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class WalletState:
    wallet: str
    currency: str
    balance: int
    available: int


class _Refusal(Exception):
    """A validation failure inside the core: becomes a RequestRejected, never escapes apply."""

    def __init__(self, code: int, text: str, order: OrderState | None = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.order = order


def utc_day(ts: int) -> str:
    """``YYYY-MM-DD`` of a ms timestamp, in UTC (the cid_date of an order created then)."""
    day = ts // 86_400_000
    cached = _last_day[0]
    if cached[0] != day:  # commands come in time order: about one strftime per day
        text = datetime.fromtimestamp(ts // 1000, tz=timezone.utc).strftime("%Y-%m-%d")
        cached = _last_day[0] = (day, text)  # one tuple: consistent for any reader
    return cached[1]


_last_day: list[tuple[int, str]] = [(-1 << 62, "")]  # (day number, its text): a pure cache


class Exchange:
    """Accounts, wallets, order books and matching for every listed market."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.accounts = Accounts()
        self.engine = Engine(registry, self.accounts)
        self.fast_moves = True  # tests turn it off to compare with the general update path
        # Settings, alerts and deposit addresses (venue/core/preferences.py): journaled like
        # every command and part of the snapshot and state hash.
        self.preferences = Preferences()
        self._handlers: dict[type, Callable[[Batch, Any], None]] = {
            CreateUser: self._create_user,
            CreateApiKey: self._create_api_key,
            RevokeApiKey: self._revoke_api_key,
            Deposit: self._deposit,
            Withdraw: self._withdraw,
            Transfer: self._transfer,
            SubmitOrder: self._submit_order,
            UpdateOrder: self._update_order,
            CancelOrder: self._cancel_order,
            CancelOrders: self._cancel_orders,
            MultiOp: self._multi_op,
            CancelAllOrders: self._cancel_all_orders,
            Tick: self._tick,
        }
        for preference_type in PREFERENCE_COMMAND_TYPES:
            self._handlers[preference_type] = self._preference

    # -- apply ---------------------------------------------------------------------------------

    def apply(self, command: Command, *, seq: int, ts: int) -> list[Event]:
        """Apply one command stamped with its sequence number and time (ms); return its events."""
        if type(command) is UpdateOrder and self.fast_moves:
            heap = self.engine.tif_heap
            if not heap or heap[0][0] > ts:  # no expiry due: the move is the whole command
                events = self._fast_move(command, ts)
                if events is not None:
                    return events
        batch = Batch(ts)
        engine = self.engine
        if engine.tif_heap and engine.tif_heap[0][0] <= ts:
            engine.expire(batch, ts)  # its wallet changes join the command's (one per wallet)
        handler = self._handlers.get(type(command))
        if handler is None:
            raise TypeError(f"not a command: {command!r}")
        handler(batch, command)
        if batch.touched:  # expiries before a refused command, a Tick or a preference command
            self.accounts.flush(batch)
        return batch.events

    def _run(self, batch: Batch, user_id: int, request: str, command: Any,
             body: Callable[[Batch, Any], tuple[OrderState, ...]]) -> None:
        """Run ``body(batch, command)`` (validate, then mutate); a refusal becomes a lone
        RequestRejected, a success ends with the wallet events and RequestCompleted."""
        try:
            orders = body(batch, command)
        except _Refusal as refusal:
            batch.events.append(RequestRejected(user_id, request, refusal.code, refusal.text,
                                                command, refusal.order))
            return
        self.accounts.flush(batch)
        batch.events.append(new_request_completed(user_id, request, orders, command))

    # -- accounts ------------------------------------------------------------------------------

    def _create_user(self, batch: Batch, cmd: CreateUser) -> None:
        accounts = self.accounts
        if not cmd.name or cmd.name in accounts.names:
            code, text = (ERR_GENERIC, "name: taken") if cmd.name else (ERR_PARAMS,
                                                                         "name: invalid")
            batch.events.append(RequestRejected(0, "user_create", code, text, cmd, None))
            return
        user_id = accounts.next_user_id
        accounts.next_user_id = user_id + 1
        accounts.users[user_id] = User(user_id, cmd.name, cmd.email, batch.ts)
        accounts.names[cmd.name] = user_id
        batch.events.append(UserCreated(user_id, cmd.name, cmd.email, batch.ts))
        batch.events.append(RequestCompleted(user_id, "user_create", (), cmd))

    def _require_user(self, user_id: int) -> None:
        if user_id not in self.accounts.users:
            raise _Refusal(ERR_PARAMS, "user: invalid")

    def _create_api_key(self, batch: Batch, cmd: CreateApiKey) -> None:
        def body(_batch: Batch, _cmd: Any) -> tuple[OrderState, ...]:
            self._require_user(cmd.user_id)
            if not cmd.key or cmd.key in self.accounts.keys:
                raise _Refusal(ERR_PARAMS, "apikey: invalid")
            self.accounts.keys[cmd.key] = ApiKey(cmd.key, cmd.secret, cmd.user_id,
                                                 tuple(cmd.permissions), batch.ts, cmd.label)
            batch.events.append(ApiKeyCreated(cmd.user_id, cmd.key, tuple(cmd.permissions),
                                              batch.ts))
            return ()

        self._run(batch, cmd.user_id, "key_create", cmd, body)

    def _revoke_api_key(self, batch: Batch, cmd: RevokeApiKey) -> None:
        key = self.accounts.keys.get(cmd.key)
        user_id = key.user_id if key is not None else 0

        def body(_batch: Batch, _cmd: Any) -> tuple[OrderState, ...]:
            if key is None or key.revoked:
                raise _Refusal(ERR_AUTH, "apikey: invalid")
            key.revoked = True
            batch.events.append(ApiKeyRevoked(key.user_id, key.key, batch.ts))
            return ()

        self._run(batch, user_id, "key_revoke", cmd, body)

    def _check_wallet_args(self, user_id: int, currency: str, amount: int, *wallets: str) -> None:
        self._require_user(user_id)
        if not self.registry.has_currency(currency):
            raise _Refusal(ERR_PARAMS, "currency: invalid")
        for wallet in wallets:
            if wallet not in WALLETS:
                raise _Refusal(ERR_PARAMS, "wallet: invalid")
        if amount <= 0:
            raise _Refusal(ERR_PARAMS, "amount: invalid")

    def _method(self, currency: str, method: str) -> str:
        if method:
            return method
        known = self.registry.currency(currency)
        return known.method if known is not None else currency

    def _next_movement_id(self) -> int:
        mid = self.accounts.next_movement_id
        self.accounts.next_movement_id = mid + 1
        return mid

    def _deposit(self, batch: Batch, cmd: Deposit) -> None:
        def body(_batch: Batch, _cmd: Any) -> tuple[OrderState, ...]:
            self._check_wallet_args(cmd.user_id, cmd.currency, cmd.amount, cmd.wallet)
            method = self._method(cmd.currency, cmd.method)
            mid = self._next_movement_id()
            batch.events.append(MovementRecorded(
                mid, cmd.user_id, cmd.currency, cmd.wallet, batch.ts, cmd.amount, 0, "COMPLETED",
                method, cmd.address, cmd.tx_id, ""))
            self.accounts.change(batch, cmd.user_id, cmd.wallet, cmd.currency, cmd.amount,
                                 deposit_text(method, mid, cmd.wallet), CATEGORY_DEPOSIT)
            return ()

        self._run(batch, cmd.user_id, "deposit", cmd, body)

    def _withdraw(self, batch: Batch, cmd: Withdraw) -> None:
        def body(_batch: Batch, _cmd: Any) -> tuple[OrderState, ...]:
            self._check_wallet_args(cmd.user_id, cmd.currency, cmd.amount, cmd.wallet)
            if cmd.fee < 0:
                raise _Refusal(ERR_PARAMS, "fee: invalid")
            accounts = self.accounts
            available = accounts.available(cmd.user_id, cmd.wallet, cmd.currency)
            if available < cmd.amount + cmd.fee:
                raise _Refusal(ERR_GENERIC, _withdrawal_balance_text(cmd, available))
            method = self._method(cmd.currency, cmd.method)
            mid = self._next_movement_id()
            batch.events.append(MovementRecorded(
                mid, cmd.user_id, cmd.currency, cmd.wallet, batch.ts, -cmd.amount, -cmd.fee,
                "COMPLETED", method, cmd.address, "", cmd.note))
            accounts.change(batch, cmd.user_id, cmd.wallet, cmd.currency, -cmd.amount,
                            withdrawal_text(method, mid, cmd.wallet), CATEGORY_WITHDRAWAL)
            if cmd.fee:
                text = withdrawal_fee_text(method, mid, cmd.wallet)
                accounts.change(batch, cmd.user_id, cmd.wallet, cmd.currency, -cmd.fee, text,
                                CATEGORY_WITHDRAWAL_FEE)
                accounts.change(batch, FEE_ACCOUNT_ID, "exchange", cmd.currency, cmd.fee,
                                withdrawal_fee_text(method, mid, "exchange"),
                                CATEGORY_WITHDRAWAL_FEE)
            return ()

        self._run(batch, cmd.user_id, "acc_wd", cmd, body)

    def _transfer(self, batch: Batch, cmd: Transfer) -> None:
        def body(_batch: Batch, _cmd: Any) -> tuple[OrderState, ...]:
            self._check_wallet_args(cmd.user_id, cmd.currency, cmd.amount, cmd.wallet_from,
                                    cmd.wallet_to)
            currency_to = cmd.currency_to or cmd.currency
            if not self.registry.has_currency(currency_to):
                raise _Refusal(ERR_PARAMS, "currency_to: invalid")
            if cmd.wallet_from == cmd.wallet_to and currency_to == cmd.currency:
                raise _Refusal(ERR_PARAMS, "wallet: invalid")
            accounts = self.accounts
            available = accounts.available(cmd.user_id, cmd.wallet_from, cmd.currency)
            if available < cmd.amount:
                raise _Refusal(ERR_GENERIC, _transfer_balance_text(cmd, available))
            for wallet, currency, amount in ((cmd.wallet_from, cmd.currency, -cmd.amount),
                                             (cmd.wallet_to, currency_to, cmd.amount)):
                text = transfer_text(cmd.amount, cmd.currency, cmd.wallet_from, cmd.wallet_to,
                                     wallet)
                accounts.change(batch, cmd.user_id, wallet, currency, amount, text,
                                CATEGORY_TRANSFER)
            return ()

        self._run(batch, cmd.user_id, "acc_tf", cmd, body)

    # -- orders: submit ------------------------------------------------------------------------

    def _submit_order(self, batch: Batch, cmd: SubmitOrder) -> None:
        self._run(batch, cmd.user_id, "on", cmd, self._place)

    def _place(self, batch: Batch, cmd: SubmitOrder) -> tuple[OrderState, ...]:
        # need: what the new order must hold (required_hold of the order built below; nothing
        # changes the book or the balances in between); top_up: what an OCO stop leg holds
        ms, need, top_up = self._validate_submit(batch, cmd)
        engine = self.engine
        ts = batch.ts
        is_buy = cmd.amount > 0
        kind = BASE_KIND[cmd.type]
        # a market order's PRICE is its execution price (spec §6.1), not what the client sent
        order = self._new_order(cmd, cmd.type, is_buy, 0 if kind == MARKET else cmd.price or 0,
                                ts)
        order.client_order_id = cmd.client_order_id
        if kind == STOP_LIMIT:
            order.price_aux_limit = cmd.price_aux_limit or 0
        if kind == TRAILING_STOP:
            order.price_trailing = cmd.price_trailing or 0
            order.trail_ref = ms.reference_price()
            order.price = _trail_price(is_buy, order.trail_ref, order.price_trailing)
        accepted: list[OrderState] = []

        def announce(state: OrderState) -> Event:
            accepted.append(state)
            return new_order_accepted(state)

        if cmd.flags & _OCO:
            stop = self._new_order(cmd, OrderType.EXCHANGE_STOP, is_buy, cmd.price_oco_stop or 0,
                                   ts)
            stop.client_order_id = cmd.client_order_id_oco
            order.placed_id = stop.id
            stop.placed_id = order.id
            engine.index(order)
            engine.index(stop)
            engine.set_hold(batch, order, need)
            engine.set_hold(batch, stop, top_up)
            accepted.append(order.state())
            accepted.append(stop.state())
            batch.events.append(new_order_accepted(accepted[0]))
            batch.events.append(new_order_accepted(accepted[1]))
            ms.stops.add(stop, ms.reference_price())
            engine.execute(batch, ms, order, None)
        elif kind in STOP_KINDS:
            engine.index(order)
            engine.set_hold(batch, order, need)
            ms.stops.add(order, order.trail_ref)
            batch.events.append(announce(order.state()))
        else:
            engine.index(order)
            engine.set_hold(batch, order, need)
            engine.execute(batch, ms, order, announce)
        engine.run_triggers(batch, ms)
        return tuple(accepted)

    def _new_order(self, cmd: SubmitOrder, order_type: OrderType, is_buy: bool, price: int,
                   ts: int) -> Order:
        order = Order(self.engine.new_order_id(), cmd.user_id, cmd.symbol, order_type, is_buy,
                      abs(cmd.amount), price, ts)
        order.flags = cmd.flags
        order.hidden = bool(cmd.flags & _HIDDEN)
        order.post_only = bool(cmd.flags & _POST_ONLY)
        order.group_id = cmd.group_id
        order.client_order_date = cmd.client_order_date or utc_day(ts)
        order.tif_ts = cmd.tif_ts
        order.meta = cmd.meta
        return order

    def _validate_submit(self, batch: Batch, cmd: SubmitOrder) -> tuple[MarketState, int, int]:
        market = self.registry.market(cmd.symbol)
        if market is None:
            raise _Refusal(ERR_PARAMS, "symbol: invalid")
        if cmd.user_id not in self.accounts.users:
            raise _Refusal(ERR_PARAMS, "user: invalid")
        if cmd.amount == 0:
            raise _Refusal(ERR_PARAMS, "amount: invalid")
        if cmd.flags < 0 or cmd.flags & ~KNOWN_FLAGS:
            raise _Refusal(ERR_PARAMS, "flags: invalid")
        kind = BASE_KIND[cmd.type]
        if kind != MARKET and kind != TRAILING_STOP:
            if cmd.price is None:
                raise _Refusal(ERR_PARAMS, "price: invalid")
            if cmd.price <= 0:
                raise _Refusal(ERR_GENERIC, INVALID_PRICE)
        if kind == STOP_LIMIT and (cmd.price_aux_limit is None or cmd.price_aux_limit <= 0):
            raise _Refusal(ERR_PARAMS, "price_aux_limit: invalid")
        if kind == TRAILING_STOP and (cmd.price_trailing is None or cmd.price_trailing <= 0):
            raise _Refusal(ERR_PARAMS, "price_trailing: invalid")
        if cmd.flags & _OCO:
            if kind != LIMIT:
                raise _Refusal(ERR_PARAMS, "flags: invalid")
            if cmd.price_oco_stop is None or cmd.price_oco_stop <= 0:
                raise _Refusal(ERR_PARAMS, "price_oco_stop: invalid")
        if cmd.tif_ts is not None and cmd.tif_ts <= batch.ts:
            raise _Refusal(ERR_PARAMS, "tif: invalid")
        self._check_size(market, abs(cmd.amount))
        ms = self.engine.markets[market.symbol]
        is_buy = cmd.amount > 0
        price = cmd.price or 0
        if kind == TRAILING_STOP:
            price = _trail_price(is_buy, ms.reference_price(), cmd.price_trailing or 0)
        if cmd.type not in EXCHANGE_ORDER_TYPES:
            # No margin trading yet, so nothing is tradable on margin: a well-formed margin
            # order gets Bitfinex's answer to one without margin funds (module docstring).
            raise _Refusal(ERR_GENERIC, _balance_text(
                market, abs(cmd.amount), self._shown_price(ms, cmd, kind, price), "tradable"))
        need = self.engine.hold_for(ms, is_buy, kind, abs(cmd.amount), price,
                                    cmd.price_aux_limit or 0)
        top_up = 0
        if cmd.flags & _OCO:  # the pair holds what its dearer leg needs (Engine.oco_top_up)
            stop_need = self.engine.hold_for(ms, is_buy, STOP, abs(cmd.amount),
                                             cmd.price_oco_stop or 0, 0)
            top_up = self.engine.oco_top_up(stop_need, need)
        currency = market.quote if is_buy else market.base
        if need + top_up > self.accounts.available(cmd.user_id, "exchange", currency):
            # an OCO pair is refused for its stop leg when that is the dearer one
            shown = ((cmd.price_oco_stop or 0) if top_up
                     else self._shown_price(ms, cmd, kind, price))
            raise _Refusal(ERR_GENERIC, _balance_text(market, abs(cmd.amount), shown))
        return ms, need, top_up

    def _shown_price(self, ms: MarketState, cmd: SubmitOrder, kind: str, price: int) -> int:
        """The price a balance refusal names: the limit (STOP LIMIT: its aux limit; STOP and
        TRAILING STOP: the trigger); for a market order where its cost estimate ends, the
        deepest ask it would take to buy (``market_buy_cost``), the reference price to sell."""
        if kind == MARKET:
            if cmd.amount > 0:
                return self.engine.market_buy_cost(ms, cmd.amount)[1]
            return ms.reference_price()
        if kind == STOP_LIMIT:
            return cmd.price_aux_limit or 0
        return price

    @staticmethod
    def _check_size(market: Market, amount: int) -> None:
        if amount < market.min_order_size:
            raise _Refusal(ERR_GENERIC, f"Invalid order: minimum size for {market.display_pair}"
                                        f" is {to_text(market.min_order_size)}")
        if amount > market.max_order_size:
            raise _Refusal(ERR_GENERIC, f"Invalid order: maximum size for {market.display_pair}"
                                        f" is {to_text(market.max_order_size)}")

    # -- orders: update ------------------------------------------------------------------------

    def _update_order(self, batch: Batch, cmd: UpdateOrder) -> None:
        if self.fast_moves and cmd.price is not None and _is_price_only(cmd):
            order = self.engine.orders.get(cmd.order_id)
            if (order is not None and order.resting and order.user_id == cmd.user_id
                    and self._move(batch, order, cmd)):
                return
        self._run(batch, cmd.user_id, "ou", cmd, self._amend)

    def _move(self, batch: Batch, order: Order, cmd: UpdateOrder) -> bool:
        """Fast path of the commonest command, a resting limit order moved to a new price that
        does not cross (bench/RESULTS-core.md: ~82 % of a market maker's traffic).

        Returns False, having changed nothing, whenever the general ``_amend`` path is needed
        (same price, crossing price, not enough balance, bad price); otherwise does exactly what
        ``_amend`` would do and emits the same events (tests/core/test_fast_path.py).
        """
        price = cmd.price
        assert price is not None  # _is_price_only checked it
        if price <= 0 or price == order.price:
            return False
        engine = self.engine
        ms = engine.markets[order.symbol]
        if order.is_buy:
            best = ms.asks.best()
            if (best is not None and price >= best) or order.placed_id is not None:
                return False  # an OCO leg: its new price changes its partner's hold
            need = mul_ceil(order.remaining, price)
            extra = need - order.hold
            if extra > 0 and extra > self.accounts.available(order.user_id, "exchange",
                                                             engine.hold_currency(order)):
                return False
            side = ms.bids
        else:
            best = ms.bids.best()
            if best is not None and price <= best:
                return False
            need = order.hold
            side = ms.asks
        side.remove(order)  # a price change loses time priority (module docstring)
        order.price = price
        order.updated_ts = batch.ts
        if need != order.hold:
            engine.set_hold(batch, order, need)
        engine.rest(ms, order)
        state = order.state()
        batch.events.append(new_order_updated(state))
        # no trade happened, so the last price and every stop stay as they were
        self.accounts.flush(batch)
        batch.events.append(new_request_completed(order.user_id, "ou", (state,), cmd))
        return True

    def _fast_move(self, cmd: UpdateOrder, ts: int) -> list[Event] | None:
        """``_move`` as a whole command (no expiry due, so no batch is needed): the same checks
        and the same events, built directly. None, having changed nothing, when the general
        path is needed (tests/core/test_fast_path.py compares both)."""
        price = cmd.price
        if (price is None or price <= 0 or cmd.amount is not None or cmd.delta is not None
                or cmd.price_aux_limit is not None or cmd.price_trailing is not None
                or cmd.flags is not None or cmd.group_id is not None
                or cmd.client_order_id is not None or cmd.tif_ts is not None
                or cmd.leverage is not None or cmd.meta is not None):
            return None  # not a price-only update (_is_price_only)
        engine = self.engine
        order = engine.orders.get(cmd.order_id)
        if (order is None or not order.resting or order.user_id != cmd.user_id
                or price == order.price):
            return None
        ms = engine.markets[order.symbol]
        user_id = order.user_id
        if order.is_buy:
            asks = ms.asks
            heap = asks.heap
            # BookSide.best(), its common case inlined: the heap top is a live level
            best = heap[0] if heap and heap[0] in asks.levels else asks.best()
            if (best is not None and price >= best) or order.placed_id is not None:
                return None  # crossing, or an OCO leg (its partner's hold changes)
            need = -(-(order.remaining * price) // SCALE)  # mul_ceil: the hold at the new price
            delta = need - order.hold
            side = ms.bids
        else:
            bids = ms.bids
            heap = bids.heap
            best = -heap[0] if heap and -heap[0] in bids.levels else bids.best()
            if best is not None and price <= best:
                return None
            need = order.hold  # a sell holds its base amount, whatever the price
            delta = 0
            side = ms.asks
        if not delta:
            engine.queue_seq += 1
            side.requeue(order, price, engine.queue_seq)  # loses time priority (docstring)
            order.updated_ts = ts
            state = order.state()
            return [new_order_updated(state), new_request_completed(user_id, "ou", (state,), cmd)]
        currency = order.hold_currency or engine.hold_currency(order)
        wallet = self.accounts.wallets.get((user_id, EXCHANGE, currency))
        if wallet is None or (delta > 0 and delta > wallet.balance - wallet.hold):
            return None
        # -- mutate (nothing above changed state) --
        order.hold = need
        wallet.hold += delta
        engine.queue_seq += 1
        side.requeue(order, price, engine.queue_seq)
        order.updated_ts = ts
        state = order.state()
        balance = wallet.balance
        return [new_order_updated(state),
                new_wallet_changed(user_id, EXCHANGE, currency, balance, balance - wallet.hold,
                                   None),
                new_request_completed(user_id, "ou", (state,), cmd)]

    def _own_order(self, user_id: int, order_id: int | None) -> Order:
        order = self.engine.orders.get(order_id) if order_id is not None else None
        # Another user's order is "not found" too: never reveal that it exists.
        if order is None or order.user_id != user_id:
            raise _Refusal(ERR_GENERIC, ORDER_NOT_FOUND)
        return order

    def _amend(self, batch: Batch, cmd: UpdateOrder) -> tuple[OrderState, ...]:
        order = self._own_order(cmd.user_id, cmd.order_id)
        engine = self.engine
        ms = engine.markets[order.symbol]
        market = ms.market

        def refuse(code: int, text: str) -> _Refusal:
            return _Refusal(code, text, order.state())  # nothing changed yet: the current state

        remaining = order.remaining
        if cmd.amount is not None or cmd.delta is not None:
            signed = cmd.amount if cmd.amount is not None else order.signed_remaining
            signed += cmd.delta or 0
            if signed == 0 or (signed > 0) != order.is_buy:
                raise refuse(ERR_PARAMS, "amount: invalid")
            remaining = abs(signed)
            try:
                self._check_size(market, remaining)
            except _Refusal as refusal:
                raise refuse(refusal.code, refusal.text) from None
        kind = order.kind
        price = order.price
        if cmd.price is not None:
            if cmd.price <= 0:
                raise refuse(ERR_GENERIC, INVALID_PRICE)
            if kind != TRAILING_STOP:
                price = cmd.price
        aux = order.price_aux_limit
        if cmd.price_aux_limit is not None:
            if cmd.price_aux_limit <= 0:
                raise refuse(ERR_PARAMS, "price_aux_limit: invalid")
            if kind == STOP_LIMIT:
                aux = cmd.price_aux_limit
        trailing = order.price_trailing
        if cmd.price_trailing is not None:
            if cmd.price_trailing <= 0:
                raise refuse(ERR_PARAMS, "price_trailing: invalid")
            if kind == TRAILING_STOP:
                trailing = cmd.price_trailing
                price = _trail_price(order.is_buy, order.trail_ref, trailing)
        flags = order.flags
        if cmd.flags is not None:
            if cmd.flags < 0 or cmd.flags & ~KNOWN_FLAGS or (
                    (cmd.flags ^ order.flags) & _OCO):
                raise refuse(ERR_PARAMS, "flags: invalid")
            flags = cmd.flags
        if cmd.tif_ts is not None and cmd.tif_ts <= batch.ts:
            raise refuse(ERR_PARAMS, "tif: invalid")
        need = engine.hold_for(ms, order.is_buy, kind, remaining, price, aux)
        extra = 0  # what the order's OCO partner must hold more (or less, < 0)
        partner = engine.orders.get(order.placed_id) if order.placed_id is not None else None
        partner_need = 0
        if partner is not None:  # a live OCO pair holds what its dearer leg needs
            if order.stop_pending:  # the stop leg: only beyond what the limit leg holds
                need = engine.oco_top_up(need, partner.hold)
            else:
                partner_need = engine.oco_top_up(engine.required_hold(ms, partner), need)
                extra = partner_need - partner.hold
        currency = engine.hold_currency(order)
        if need - order.hold + extra > self.accounts.available(order.user_id, "exchange",
                                                               currency):
            shown = aux if kind == STOP_LIMIT else price
            raise refuse(ERR_GENERIC, _balance_text(market, remaining, shown))

        # -- mutate (nothing above changed state) --
        book = ms.bids if order.is_buy else ms.asks
        moves = order.resting and (price != order.price or remaining > order.remaining)
        if order.resting:
            if moves:
                engine.unrest(ms, order)
            elif remaining < order.remaining:
                book.reduce(order, order.remaining - remaining)  # keeps its place (§ docstring)
        order.remaining = remaining
        order.orig = order.filled + remaining
        order.price = price
        order.price_aux_limit = aux
        order.price_trailing = trailing
        order.flags = flags
        order.hidden = bool(flags & _HIDDEN)
        order.post_only = bool(flags & _POST_ONLY)
        if cmd.group_id is not None:
            order.group_id = cmd.group_id
        if cmd.client_order_id is not None:
            order.client_order_id = cmd.client_order_id
        if cmd.meta is not None:
            order.meta = cmd.meta
        if cmd.tif_ts is not None:
            order.tif_ts = cmd.tif_ts
            engine.index_tif(order)
        order.updated_ts = batch.ts
        engine.set_hold(batch, order, need)
        if extra:
            assert partner is not None
            engine.set_hold(batch, partner, partner_need)
        updated: list[OrderState] = []

        def announce(state: OrderState) -> Event:
            updated.append(state)
            return new_order_updated(state)

        if order.stop_pending:
            ms.stops.remove(order)
            ms.stops.add(order, order.trail_ref if kind == TRAILING_STOP else 0)
            batch.events.append(announce(order.state()))
        elif moves or not order.resting:
            engine.execute(batch, ms, order, announce)
        else:
            batch.events.append(announce(order.state()))
        engine.run_triggers(batch, ms)
        return tuple(updated)

    # -- orders: cancel ------------------------------------------------------------------------

    def _find_by_cid(self, user_id: int, cid: int, cid_date: str | None) -> Order | None:
        """The user's newest open order with this cid on that UTC day."""
        user_orders = self.engine.by_user.get(user_id)
        if not user_orders or cid_date is None:
            return None
        for order in reversed(user_orders.values()):
            if order.client_order_id == cid and order.client_order_date == cid_date:
                return order
        return None

    def _cancel_order(self, batch: Batch, cmd: CancelOrder) -> None:
        def body(_batch: Batch, _cmd: Any) -> tuple[OrderState, ...]:
            if cmd.order_id is not None:
                order = self._own_order(cmd.user_id, cmd.order_id)
            else:
                found = None
                if cmd.client_order_id is not None:
                    found = self._find_by_cid(cmd.user_id, cmd.client_order_id,
                                              cmd.client_order_date)
                if found is None:
                    raise _Refusal(ERR_GENERIC, ORDER_NOT_FOUND)
                order = found
            return (self.engine.cancel(batch, order),)

        self._run(batch, cmd.user_id, "oc", cmd, body)

    def _cancel_many(self, batch: Batch, targets: list[Order]) -> tuple[OrderState, ...]:
        done: list[OrderState] = []
        for order in targets:
            if not order.closed:
                done.append(self.engine.cancel(batch, order))
        return tuple(done)

    def _cancel_orders(self, batch: Batch, cmd: CancelOrders) -> None:
        def body(_batch: Batch, _cmd: Any) -> tuple[OrderState, ...]:
            user_orders = self.engine.by_user.get(cmd.user_id, {})
            chosen: dict[int, Order] = {}
            if cmd.all:
                chosen.update(user_orders)
            for oid in cmd.order_ids:
                order = user_orders.get(oid)
                if order is not None:
                    chosen[oid] = order
            if cmd.group_ids:
                groups = cmd.group_ids
                for order in user_orders.values():
                    if order.group_id is not None and order.group_id in groups:
                        chosen[order.id] = order
            for cid, cid_date in cmd.client_order_ids:
                found = self._find_by_cid(cmd.user_id, cid, cid_date)
                if found is not None:
                    chosen[found.id] = found
            return self._cancel_many(batch, list(chosen.values()))

        self._run(batch, cmd.user_id, "oc_multi", cmd, body)

    def _cancel_all_orders(self, batch: Batch, cmd: CancelAllOrders) -> None:
        def body(_batch: Batch, _cmd: Any) -> tuple[OrderState, ...]:
            user_orders = self.engine.by_user.get(cmd.user_id, {})
            return self._cancel_many(batch, list(user_orders.values()))

        self._run(batch, cmd.user_id, "oc_multi", cmd, body)

    def _multi_op(self, batch: Batch, cmd: MultiOp) -> None:
        ops = cmd.ops
        valid = 0 < len(ops) <= MAX_MULTI_OPS and all(
            isinstance(op, (SubmitOrder, UpdateOrder, CancelOrder, CancelOrders))
            and op.user_id == cmd.user_id for op in ops)
        if not valid:
            batch.events.append(RequestRejected(cmd.user_id, "ox_multi", ERR_GENERIC,
                                                "ops: invalid", cmd, None))
            return
        for op in ops:
            self._handlers[type(op)](batch, op)

    def _preference(self, batch: Batch, cmd: Any) -> None:
        """Settings, alerts, deposit addresses: the preferences sub-state answers itself."""
        batch.events.extend(self.preferences.apply(cmd, batch.ts))

    def _tick(self, batch: Batch, cmd: Tick) -> None:
        """Time passed: expiries already ran in ``apply``."""

    # -- reads (no mutation) -------------------------------------------------------------------

    def user(self, user_id: int) -> UserInfo | None:
        u = self.accounts.users.get(user_id)
        return None if u is None else UserInfo(u.user_id, u.name, u.email, u.created_ts)

    def user_by_name(self, name: str) -> UserInfo | None:
        user_id = self.accounts.names.get(name)
        return None if user_id is None else self.user(user_id)

    def api_key(self, key: str) -> ApiKeyInfo | None:
        k = self.accounts.keys.get(key)
        if k is None:
            return None
        return ApiKeyInfo(k.key, k.secret, k.user_id, k.permissions, k.created_ts, k.revoked)

    def wallets(self, user_id: int) -> list[WalletState]:
        """The user's wallets that ever held funds, ordered by (wallet, currency)."""
        wallets = self.accounts.wallets
        found = []
        for key in sorted(self.accounts.by_user.get(user_id, ())):
            w = wallets[key]
            found.append(WalletState(key[1], key[2], w.balance, w.balance - w.hold))
        return found

    def open_orders(self, user_id: int, symbol: str | None = None) -> list[OrderState]:
        """The user's open orders (resting or pending stops), oldest first."""
        user_orders = self.engine.by_user.get(user_id)
        if not user_orders:
            return []
        return [o.state() for o in user_orders.values() if symbol is None or o.symbol == symbol]

    def order(self, order_id: int) -> OrderState | None:
        """An open order by id, or None once it is closed or if it never existed."""
        order = self.engine.orders.get(order_id)
        return None if order is None else order.state()

    def last_price(self, symbol: str) -> int | None:
        ms = self.engine.markets.get(symbol)
        return None if ms is None else ms.last_price

    def book_orders(self, symbol: str) -> tuple[list[OrderState], list[OrderState]]:
        """Resting orders of a market (hidden ones included), bids then asks, each best price
        first and oldest first within a price: the raw book in priority order."""
        ms = self.engine.markets.get(symbol)
        if ms is None:
            return [], []
        sides = []
        for side in (ms.bids, ms.asks):
            sides.append([o.state() for p in side.prices() for o in side.levels[p].orders()])
        return sides[0], sides[1]

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state as canonical bytes, columnar (venue/core/persistence.py)."""
        return persistence.dump(self.accounts, self.engine, self.preferences)

    @classmethod
    def restore(cls, registry: Registry, data: bytes) -> Exchange:
        """An exchange in exactly the state ``snapshot`` described (equal ``state_hash``)."""
        ex = cls(registry)
        ex.preferences = persistence.load(data, ex.accounts, ex.engine)
        return ex

    def state_hash(self) -> str:
        """Hex digest of the whole state; equal for equal journals in any process.

        It hashes the state's canonical JSON (``persistence.dump_json``), not the snapshot
        bytes, so a state hash does not change with the snapshot encoding."""
        return hashlib.sha256(persistence.dump_json(self.accounts, self.engine,
                                                    self.preferences)).hexdigest()


def _is_price_only(cmd: UpdateOrder) -> bool:
    """Whether an update changes nothing but the price."""
    return (cmd.amount is None and cmd.delta is None and cmd.price_aux_limit is None
            and cmd.price_trailing is None and cmd.flags is None and cmd.group_id is None
            and cmd.client_order_id is None and cmd.tif_ts is None and cmd.leverage is None
            and cmd.meta is None)


def _trail_price(is_buy: bool, reference: int, distance: int) -> int:
    """Trigger price of a trailing stop (triggers.py keeps it moving afterwards)."""
    return reference + distance if is_buy else max(reference - distance, 1)


def _withdrawal_balance_text(cmd: Withdraw, available: int) -> str:
    """``Cannot withdraw 100.0027 ETH from your exchange wallet. The available balance is only
    0.0 ETH.`` — the amount includes the fee. Bitfinex's wording (ccxt PR #2691 quotes it, and
    ccxt maps "available balance is only" to InsufficientFunds), without its closing advice."""
    return (f"Cannot withdraw {to_status_text(cmd.amount + cmd.fee)} {cmd.currency} from your "
            f"{cmd.wallet} wallet. The available balance is only "
            f"{to_status_text(max(available, 0))} {cmd.currency}.")


def _transfer_balance_text(cmd: Transfer, available: int) -> str:
    """``Cannot complete transfer. Exchange balance insufficient: the available balance is only
    0.5 BTC.`` — Bitfinex's text (JKorf/Bitfinex.Net#147) plus the balance clause that ccxt maps
    to InsufficientFunds whatever the wallet (its other phrase names the exchange wallet only)."""
    return (f"Cannot complete transfer. {cmd.wallet_from.capitalize()} balance insufficient: the "
            f"available balance is only {to_status_text(max(available, 0))} {cmd.currency}.")


def _balance_text(market: Market, amount: int, price: int, balance: str = "exchange") -> str:
    """``Invalid order: not enough exchange balance for 0.00235071 BTCUSD at 9122.2``
    (bitfinex-api-node#539); for a margin order ``balance`` is "tradable": ``Invalid order: not
    enough tradable balance for 1.0 IOTETH at 0.002107`` (bitfinex-api-node#220, spec §5)."""
    return (f"Invalid order: not enough {balance} balance for {to_status_text(amount)} "
            f"{market.pair} at {to_status_text(price)}")
