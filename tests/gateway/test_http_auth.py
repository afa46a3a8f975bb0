"""The authenticated REST routes over HTTP, against a small fake core (spec §4, §5, §9).

The fake stands in for ``core.Exchange`` and the history view with just enough behaviour to
drive every handler: the routes, authentication, permissions, parsing and rendering under
test are the real ones. tests/e2e/test_auth_rest.py repeats the important paths against the
real server with the official client.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from venue.config import load_settings
from venue.core.commands import (
    CancelOrder,
    CancelOrders,
    MultiOp,
    SubmitOrder,
    Transfer,
    UpdateOrder,
    Withdraw,
)
from venue.core.events import (
    AccountTrade,
    LedgerEntryAdded,
    MovementRecorded,
    OrderAccepted,
    RequestCompleted,
    RequestRejected,
)
from venue.core.exchange import ApiKeyInfo, UserInfo, WalletState
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderState
from venue.core.preferences import PREFERENCE_COMMAND_TYPES, Preferences, SetAlert, SetSettings
from venue.core.symbols import load_registry
from aiohttp import web

from venue.gateway import http_auth
from venue.gateway.app import CTX, ServerContext, error_middleware
from venue.gateway.clock import ManualClock
from venue.gateway.http_auth import HISTORY_EXTRA
from venue.gateway.ratelimit import RateLimiter
from venue.protocol.auth import full_permissions, read_only_permissions

REGISTRY = load_registry()
A = 1  # user ids
B = 2


@dataclass
class FakeExchange:
    """Keys, wallets and open orders of two users; order commands answered like the core."""

    keys: dict[str, ApiKeyInfo] = field(default_factory=dict)
    balances: dict[tuple[int, str, str], int] = field(default_factory=dict)
    orders: dict[int, OrderState] = field(default_factory=dict)
    ids: Any = field(default_factory=lambda: itertools.count(100))
    preferences: Preferences = field(default_factory=Preferences)  # held by the core, as in Exchange

    def api_key(self, key: str) -> ApiKeyInfo | None:
        return self.keys.get(key)

    def user(self, user_id: int) -> UserInfo | None:
        return UserInfo(user_id, f"user{user_id}", "", 1_600_000_000_000)

    def wallets(self, user_id: int) -> list[WalletState]:
        return [
            WalletState(w, c, raw, raw)
            for (u, w, c), raw in sorted(self.balances.items())
            if u == user_id
        ]

    def open_orders(self, user_id: int, symbol: str | None = None) -> list[OrderState]:
        return [o for o in self.orders.values() if o.user_id == user_id and symbol in (None, o.symbol)]

    def order(self, order_id: int) -> OrderState | None:
        return self.orders.get(order_id)

    def last_price(self, symbol: str) -> int | None:
        return None

    def apply(self, command: Any, ts: int) -> list[Any]:
        if isinstance(command, SubmitOrder):
            if command.amount > 0 and command.price and command.price * command.amount // 10**8 > self.balances.get(
                (command.user_id, "exchange", "USD"), 0
            ):
                return [RequestRejected(command.user_id, "on", 10001, "Invalid order: not enough exchange balance", command)]
            order = OrderState(
                id=next(self.ids), user_id=command.user_id, symbol=command.symbol, type=command.type,
                created_ts=ts, updated_ts=ts, amount=command.amount, amount_orig=command.amount,
                price=command.price or 0, status="ACTIVE", client_order_id=command.client_order_id,
                meta=command.meta,
            )
            self.orders[order.id] = order
            return [OrderAccepted(order), RequestCompleted(command.user_id, "on", (order,))]
        if isinstance(command, (CancelOrder, UpdateOrder)):
            request = "oc" if isinstance(command, CancelOrder) else "ou"
            order = self.orders.get(command.order_id or 0)
            if order is None or order.user_id != command.user_id:
                return [RequestRejected(command.user_id, request, 10001, "Order not found.", command)]
            if isinstance(command, CancelOrder):
                del self.orders[order.id]
                order = replace(order, status="CANCELED")
            else:
                order = replace(order, price=command.price or order.price)
                self.orders[order.id] = order
            return [RequestCompleted(command.user_id, request, (order,))]
        if isinstance(command, CancelOrders):
            mine = [o for o in self.orders.values() if o.user_id == command.user_id and (command.all or o.id in command.order_ids)]
            for o in mine:
                del self.orders[o.id]
            return [RequestCompleted(command.user_id, "oc_multi", tuple(replace(o, status="CANCELED") for o in mine))]
        if isinstance(command, MultiOp):
            return [e for op in command.ops for e in self.apply(op, ts)]
        if isinstance(command, Transfer):
            source = (command.user_id, command.wallet_from, command.currency)
            if self.balances.get(source, 0) < command.amount:
                return [RequestRejected(command.user_id, "acc_tf", 10001, "Invalid transfer: not enough balance", command)]
            self.balances[source] -= command.amount
            target = (command.user_id, command.wallet_to, command.currency_to or command.currency)
            self.balances[target] = self.balances.get(target, 0) + command.amount
            return [RequestCompleted(command.user_id, "acc_tf")]
        if isinstance(command, Withdraw):
            source = (command.user_id, command.wallet, command.currency)
            self.balances[source] = self.balances.get(source, 0) - command.amount - command.fee
            movement = MovementRecorded(
                7, command.user_id, command.currency, command.wallet, ts, -command.amount, command.fee,
                "PROCESSING", command.method, command.address, "", command.note,
            )
            return [movement, RequestCompleted(command.user_id, "acc_wd")]
        if isinstance(command, PREFERENCE_COMMAND_TYPES):
            return self.preferences.apply(command, ts)
        raise AssertionError(f"unexpected command {command!r}")


class FakeSequencer:
    def __init__(self, exchange: FakeExchange, clock: ManualClock) -> None:
        self.exchange = exchange
        self.clock = clock
        self.commands: list[Any] = []

    async def submit(self, command: Any) -> list[Any]:
        self.commands.append(command)
        return self.exchange.apply(command, self.clock.now_ms())


TRADE = AccountTrade(
    trade_id=5, user_id=A, symbol="tBTCUSD", ts=1_700_000_000_000, order_id=100, order_type="EXCHANGE LIMIT",
    order_price=parse_price(90000), amount=parse_amount("0.1"), price=parse_price(90000), maker=True,
    fee=-parse_amount("0.0001"), fee_currency="BTC", client_order_id=None,
)


class FakeHistory:
    """The query methods of views/history.py ``History``, recording what they were asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, dict[str, Any]]] = []

    def orders(self, user_id: int, **query: Any) -> list[OrderState]:
        self.calls.append(("orders", user_id, query))
        return []

    def account_trades(self, user_id: int, **query: Any) -> list[AccountTrade]:
        self.calls.append(("trades", user_id, query))
        if user_id != A or query.get("order_id") not in (None, TRADE.order_id):
            return []
        return [TRADE]

    def ledgers(self, user_id: int, **query: Any) -> list[LedgerEntryAdded]:
        self.calls.append(("ledgers", user_id, query))
        return [LedgerEntryAdded(9, user_id, "USD", "exchange", 1, parse_amount(100), parse_amount(100), "Deposit", 101)]

    def movements(self, user_id: int, **query: Any) -> list[MovementRecorded]:
        self.calls.append(("movements", user_id, query))
        return []


@dataclass
class Api:
    client: TestClient
    exchange: FakeExchange
    sequencer: FakeSequencer
    history: FakeHistory
    nonce: Any = field(default_factory=lambda: itertools.count(1_000_000))

    async def post(self, path: str, body: Any = None, *, key: str = "keyA", secret: str | None = None,
                   raw: bytes | None = None, nonce: str | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (b"" if body is None else orjson.dumps(body))
        nonce = nonce or str(next(self.nonce))
        secret = secret if secret is not None else self.exchange.keys[key].secret if key in self.exchange.keys else "x"
        signature = hmac.new(secret.encode(), f"/api/v2/{path}{nonce}".encode() + data, hashlib.sha384).hexdigest()
        headers = {"bfx-nonce": nonce, "bfx-apikey": key, "bfx-signature": signature, "content-type": "application/json"}
        response = await self.client.post(f"/v2/{path}", data=data, headers=headers)
        return response.status, orjson.loads(await response.read())


def _key(name: str, user_id: int, permissions: Any = None, revoked: bool = False) -> ApiKeyInfo:
    return ApiKeyInfo(name, f"secret-{name}", user_id, permissions or full_permissions(), 0, revoked)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    clock = ManualClock()
    exchange = FakeExchange()
    exchange.keys = {
        "keyA": _key("keyA", A),
        "keyB": _key("keyB", B),
        "readA": _key("readA", A, read_only_permissions()),
        "gone": _key("gone", A, revoked=True),
    }
    exchange.balances = {(A, "exchange", "USD"): parse_amount(10000), (B, "exchange", "BTC"): parse_amount(1)}
    sequencer = FakeSequencer(exchange, clock)
    history = FakeHistory()
    ctx = ServerContext(
        settings=load_settings(data_dir=tmp_path),
        sequencer=sequencer,
        market_data=None,
        registry=REGISTRY,
        clock=clock,
        data_dir=tmp_path,
        admin_token="t",
        rate_limiter=RateLimiter({}, clock, enabled=False),
    )
    ctx.extras[HISTORY_EXTRA] = history
    # A tiny app with the real error boundary and only the routes under test (style.md §8.9).
    app = web.Application(middlewares=[error_middleware])
    app[CTX] = ctx
    http_auth.add_routes(app, ctx)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Api(client, exchange, sequencer, history)
    finally:
        await client.close()


SUBMIT = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.01", "price": "90000"}


# -- authentication ---------------------------------------------------------------------------


async def test_wallets_without_a_body_are_the_users_own(api: Api) -> None:
    status, body = await api.post("auth/r/wallets")
    assert status == 200
    assert body == [["exchange", "USD", 10000, 0, 10000, None, None]]


async def test_bad_signature_is_http_500_apikey_invalid(api: Api) -> None:
    assert await api.post("auth/r/wallets", secret="wrong") == (500, ["error", 10100, "apikey: invalid"])


async def test_unknown_and_revoked_keys_are_apikey_invalid(api: Api) -> None:
    assert await api.post("auth/r/wallets", key="nobody") == (500, ["error", 10100, "apikey: invalid"])
    assert await api.post("auth/r/wallets", key="gone") == (500, ["error", 10100, "apikey: invalid"])


async def test_repeated_nonce_is_nonce_small(api: Api) -> None:
    assert (await api.post("auth/r/wallets", nonce="5000000"))[0] == 200
    assert await api.post("auth/r/wallets", nonce="5000000") == (500, ["error", 10114, "nonce: small"])


async def test_read_only_key_cannot_submit_but_can_read(api: Api) -> None:
    assert await api.post("auth/w/order/submit", SUBMIT, key="readA") == (500, ["error", 10001, "api_key: permission invalid"])
    assert (await api.post("auth/r/orders", {}, key="readA"))[0] == 200
    assert api.sequencer.commands == []


async def test_permissions_lists_every_scope(api: Api) -> None:
    status, rows = await api.post("auth/r/permissions", key="readA")
    assert status == 200
    assert ["orders", 1, 0] in rows and ["withdraw", 1, 0] in rows and ["bfxpay", 0, 0] in rows


# -- bad input --------------------------------------------------------------------------------


async def test_malformed_json_is_a_parameter_error(api: Api) -> None:
    assert await api.post("auth/w/order/submit", raw=b"{not json") == (500, ["error", 10020, "input: invalid"])
    assert await api.post("auth/w/order/submit", raw=b"[1,2]") == (500, ["error", 10020, "input: invalid"])


async def test_missing_and_mistyped_fields_name_the_field(api: Api) -> None:
    assert await api.post("auth/w/order/submit", {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "price": "1"}) == (
        500, ["error", 10020, "amount: invalid"])
    assert await api.post("auth/w/order/cancel", {"id": "abc"}) == (500, ["error", 10020, "id: invalid"])
    assert await api.post("auth/r/orders/tNOPE", {}) == (500, ["error", 10020, "symbol: invalid"])
    assert await api.post("auth/r/trades/hist", {"limit": 100000}) == (500, ["error", 10020, "limit: invalid"])


# -- orders -----------------------------------------------------------------------------------


async def test_submit_answers_on_req_with_a_list_of_orders_and_keeps_aff_code(api: Api) -> None:
    status, note = await api.post("auth/w/order/submit", {**SUBMIT, "cid": 42, "meta": {"aff_code": "abc"}})
    assert status == 200
    assert note[1] == "on-req" and note[6] == "SUCCESS" and len(note) == 8
    [order] = note[4]
    assert len(order) == 32 and order[2] == 42 and order[6] == 0.01 and order[16] == 90000
    assert order[31] == {"aff_code": "abc"}
    assert api.sequencer.commands[0].user_id == A


async def test_submit_refused_by_the_core_is_an_error_envelope(api: Api) -> None:
    big = {**SUBMIT, "amount": "5"}
    assert await api.post("auth/w/order/submit", big) == (
        500, ["error", 10001, "Invalid order: not enough exchange balance"])


async def test_cancel_answers_with_a_flat_order(api: Api) -> None:
    _, note = await api.post("auth/w/order/submit", SUBMIT)
    order_id = note[4][0][0]
    status, note = await api.post("auth/w/order/cancel", {"id": order_id})
    assert status == 200 and note[1] == "oc-req" and note[4][0] == order_id and note[4][13] == "CANCELED"


async def test_another_user_can_neither_see_nor_cancel_an_order(api: Api) -> None:
    _, note = await api.post("auth/w/order/submit", SUBMIT)
    order_id = note[4][0][0]
    assert await api.post("auth/r/orders", {}, key="keyB") == (200, [])
    assert await api.post("auth/r/orders", {"id": [order_id]}, key="keyB") == (200, [])
    assert await api.post("auth/w/order/cancel", {"id": order_id}, key="keyB") == (500, ["error", 10001, "Order not found."])
    assert [row[0] for row in (await api.post("auth/r/orders/tBTCUSD", {}))[1]] == [order_id]


async def test_cancel_multi_all_lists_the_cancelled_orders(api: Api) -> None:
    await api.post("auth/w/order/submit", SUBMIT)
    await api.post("auth/w/order/submit", SUBMIT)
    status, note = await api.post("auth/w/order/cancel/multi", {"all": 1})
    assert status == 200 and note[1] == "oc_multi-req" and len(note[4]) == 2


async def test_multi_op_answers_one_notification_per_op(api: Api) -> None:
    status, note = await api.post("auth/w/order/multi", {"ops": [["on", SUBMIT], ["oc", {"id": 999}]]})
    assert status == 200 and note[1] == "ox_multi-req"
    first, second = note[4]
    assert first[1] == "on-req" and first[6] == "SUCCESS"
    assert second[1] == "oc-req" and second[6] == "ERROR" and second[7] == "Order not found."


async def test_numbers_as_strings_or_numbers_are_accepted(api: Api) -> None:
    status, note = await api.post("auth/w/order/submit", {**SUBMIT, "amount": 0.01, "price": 90000})
    assert status == 200 and note[4][0][6] == 0.01


# -- history ----------------------------------------------------------------------------------


async def test_history_queries_are_for_the_key_owner_only(api: Api) -> None:
    _, trades = await api.post("auth/r/trades/tBTCUSD/hist", {"limit": 10, "sort": 1, "start": "1"})
    assert trades[0][:2] == [5, "tBTCUSD"] and trades[0][9] == -0.0001 and len(trades[0]) == 12
    assert await api.post("auth/r/trades/hist", {}, key="keyB") == (200, [])
    assert api.history.calls[0] == ("trades", A, {"symbol": "tBTCUSD", "start": 1, "end": None, "limit": 10, "sort": 1})
    assert await api.post("auth/r/order/tBTCUSD:100/trades", key="keyB") == (200, [])
    _, rows = await api.post("auth/r/order/tBTCUSD:100/trades")
    assert rows[0][3] == 100 and rows[0][6] is None


async def test_ledgers_and_movements_pass_currency_and_category(api: Api) -> None:
    _, rows = await api.post("auth/r/ledgers/USD/hist", {"category": 101})
    assert rows == [[9, "USD", "exchange", 1, None, 100, 100, None, "Deposit"]]
    assert api.history.calls[-1][2]["category"] == 101 and api.history.calls[-1][2]["currency"] == "USD"
    assert await api.post("auth/r/movements/XXX/hist", {}) == (500, ["error", 10020, "currency: invalid"])
    assert await api.post("auth/r/movements/hist", {}) == (200, [])


# -- account ----------------------------------------------------------------------------------


async def test_user_info_has_at_least_55_fields(api: Api) -> None:
    _, info = await api.post("auth/r/info/user")
    assert len(info) >= 55 and info[0] == A and info[2] == "user1"


async def test_summary_reports_the_fee_rates(api: Api) -> None:
    _, summary = await api.post("auth/r/summary")
    assert summary[4][0][0] == 0.001 and summary[4][1][0] == 0.002


async def test_transfer_moves_funds_and_answers_acc_tf(api: Api) -> None:
    status, note = await api.post("auth/w/transfer", {"from": "exchange", "to": "trading", "currency": "USD",
                                                      "currency_to": "USD", "amount": "50"})
    assert status == 200 and note[1] == "acc_tf"
    assert note[4][1:8] == ["exchange", "margin", None, "USD", None, None, 50]
    assert api.exchange.balances[(A, "margin", "USD")] == parse_amount(50)


async def test_transfer_with_a_bad_wallet_is_refused(api: Api) -> None:
    assert await api.post("auth/w/transfer", {"from": "bank", "to": "margin", "currency": "USD", "amount": 1}) == (
        500, ["error", 10020, "from: invalid"])


async def test_withdraw_answers_acc_wd_req_with_the_fee(api: Api) -> None:
    status, note = await api.post("auth/w/withdraw", {"wallet": "exchange", "method": "bitcoin", "amount": "0.1",
                                                      "address": "bc1qxyz"}, key="keyB")
    assert status == 200 and note[1] == "acc_wd-req"
    assert note[4] == [7, None, "bitcoin", None, "exchange", 0.1, None, None, 0.0004]


async def test_order_avail_for_an_exchange_buy_is_the_quote_balance_at_the_rate(api: Api) -> None:
    assert await api.post("auth/calc/order/avail", {"symbol": "tBTCUSD", "type": "EXCHANGE", "dir": 1, "rate": "80000"}) == (
        200, [0.125])
    assert await api.post("auth/calc/order/avail", {"symbol": "tBTCUSD", "type": "EXCHANGE", "dir": -1}, key="keyB") == (
        200, [-1])


# -- preferences ------------------------------------------------------------------------------


async def test_settings_round_trip(api: Api) -> None:
    status, note = await api.post("auth/w/settings/set", {"settings": {"api:bot": {"on": True, "n": 1.5}}})
    assert status == 200 and note[1] == "acc_ss" and note[4] == 1
    assert await api.post("auth/r/settings", {"keys": ["api:bot", "api:none"]}) == (200, [["api:bot", {"n": 1.5, "on": True}]])
    assert await api.post("auth/r/settings", {"keys": ["api:bot"]}, key="keyB") == (200, [])
    _, note = await api.post("auth/w/settings/del", {"keys": ["api:bot"]})
    assert note[1] == "acc_sd"
    assert await api.post("auth/r/settings", {"keys": ["api:bot"]}) == (200, [])
    assert await api.post("auth/r/settings", {"keys": ["bot"]}) == (500, ["error", 10020, "keys: invalid"])


async def test_alerts_set_list_and_delete_by_path(api: Api) -> None:
    assert await api.post("auth/w/alert/set", {"type": "price", "symbol": "tBTCUSD", "price": 95000}) == (
        200, ["price:tBTCUSD:95000", "price", "tBTCUSD", 95000, 100])
    assert await api.post("auth/r/alerts", {"type": "price"}) == (200, [["price:tBTCUSD:95000", "price", "tBTCUSD", 95000, 100]])
    assert await api.post("auth/r/alerts", {"type": "price"}, key="keyB") == (200, [])
    assert await api.post("auth/w/alert/price:tBTCUSD:95000/del", {}) == (200, [True])
    assert await api.post("auth/w/alert/del", {"symbol": "tBTCUSD", "price": "95000"}) == (200, [False])


async def test_deposit_address_is_stable_per_user_and_currency(api: Api) -> None:
    body = {"wallet": "exchange", "method": "bitcoin", "op_renew": 0}
    _, first = await api.post("auth/w/deposit/address", body)
    _, again = await api.post("auth/w/deposit/address", body)
    _, other = await api.post("auth/w/deposit/address", body, key="keyB")
    assert first[1] == "acc_dep" and first[4][1:3] == ["bitcoin", "BTC"] and len(first[4]) == 6
    assert first[4][4] == again[4][4] != other[4][4]
    assert await api.post("auth/w/deposit/address", {"wallet": "exchange", "method": "wire"}) == (
        500, ["error", 10020, "method: invalid"])


async def test_margin_and_funding_endpoints_answer_action_disabled(api: Api) -> None:
    for path in ("auth/r/positions", "auth/r/funding/offers/fUSD", "auth/r/funding/offers/hist", "auth/r/info/margin/base"):
        assert await api.post(path, {}) == (500, ["error", 10001, "action: disabled"])
    # still authenticated first
    assert await api.post("auth/r/positions", {}, secret="bad") == (500, ["error", 10100, "apikey: invalid"])


async def test_preferences_held_by_the_core_are_changed_through_the_sequencer(api: Api) -> None:
    await api.post("auth/w/settings/set", {"settings": {"api:x": 1}})
    await api.post("auth/w/alert/set", {"type": "price", "symbol": "tETHUSD", "price": "3000.5"})
    assert [type(c) for c in api.sequencer.commands] == [SetSettings, SetAlert]
    assert api.sequencer.commands[0].user_id == A
    assert api.exchange.preferences.settings(A) == [("api:x", "1")]
    assert await api.post("auth/r/alerts", {}) == (200, [["price:tETHUSD:3000.5", "price", "tETHUSD", 3000.5, 100]])
