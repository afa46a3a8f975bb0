"""The authenticated REST API against a real server, driven by the official bfxapi client.

Endpoints bfxapi 4.0.0 does not wrap (settings, alerts, permissions, summary, order/multi) are
called with a small signer that signs exactly like the clients do (spec §4.1).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

import pytest
import requests
from bfxapi import Client
from bfxapi.exceptions import InvalidCredentialError
from bfxapi.rest.exceptions import GenericError, RequestParameterError

from tests.e2e.conftest import RunningServer
from venue.core.commands import CreateApiKey, RevokeApiKey
from venue.protocol.auth import read_only_permissions

class _Nonces:
    """µs wall-clock nonces, bumped when not larger than the last (bfx-api-node-util's rule), so
    they interleave with bfxapi's own ``round(time() * 1e6)`` nonces on the same key."""

    def __init__(self) -> None:
        self.last = 0

    def __next__(self) -> int:
        self.last = max(round(time.time() * 1_000_000), self.last + 1)
        return self.last


_nonces = _Nonces()


class Signed:
    """A raw signed caller (µs nonces from one shared counter, like one bfxapi process)."""

    def __init__(self, server: RunningServer, key: str, secret: str) -> None:
        self.base = server.rest_url
        self.key = key
        self.secret = secret

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None, nonce: str | None = None,
             secret: str | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
        nonce = nonce or str(next(_nonces))
        message = f"/api/v2/{path}{nonce}".encode() + data
        signature = hmac.new((secret or self.secret).encode(), message, hashlib.sha384).hexdigest()
        headers = {"bfx-nonce": nonce, "bfx-apikey": self.key, "bfx-signature": signature,
                   "Content-Type": "application/json"}
        response = requests.post(f"{self.base}/{path}", data=data, headers=headers, timeout=10)
        return response.status_code, response.json()


def _client(server: RunningServer, key: str, secret: str) -> Client:
    return Client(rest_host=server.rest_url, api_key=key, api_secret=secret)


def _wallets(client: Client) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {
        (w.wallet_type, w.currency): (Decimal(str(w.balance)), Decimal(str(w.available_balance)))
        for w in client.rest.auth.get_wallets()
    }


@pytest.fixture
def alice(server: RunningServer) -> tuple[int, str, str]:
    return server.create_account("alice", {"USD": "10000"})


@pytest.fixture
def bob(server: RunningServer) -> tuple[int, str, str]:
    return server.create_account("bob", {"BTC": "1"})


# -- the two-account trade ----------------------------------------------------------------------


def test_resting_bid_filled_by_another_accounts_sell_shows_in_wallets_orders_trades_and_ledgers(
    server: RunningServer, alice: tuple[int, str, str], bob: tuple[int, str, str]
) -> None:
    a = _client(server, alice[1], alice[2])
    b = _client(server, bob[1], bob[2])

    bid = a.rest.auth.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD", amount="0.1", price="90000", cid=7,
                                   meta={"aff_code": "venue-e2e"})
    assert bid.status == "SUCCESS" and bid.data.order_status == "ACTIVE"
    assert bid.data.meta == {"aff_code": "venue-e2e"}
    # The bid holds 9000 USD: balance unchanged, available reduced.
    assert _wallets(a)[("exchange", "USD")] == (Decimal(10000), Decimal(1000))

    ask = b.rest.auth.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD", amount="-0.1", price="90000")
    assert ask.status == "SUCCESS"

    # Fees (spec §6.4): the buyer pays in base (maker 0.1 %), the seller in quote (taker 0.2 %).
    assert _wallets(a) == {("exchange", "USD"): (Decimal(1000), Decimal(1000)),
                           ("exchange", "BTC"): (Decimal("0.0999"), Decimal("0.0999"))}
    assert _wallets(b) == {("exchange", "BTC"): (Decimal("0.9"), Decimal("0.9")),
                           ("exchange", "USD"): (Decimal(8982), Decimal(8982))}

    assert a.rest.auth.get_orders() == [] and b.rest.auth.get_orders() == []
    [closed] = a.rest.auth.get_orders_history()
    assert closed.id == bid.data.id and closed.order_status.startswith("EXECUTED @ 90000.0(0.1)")
    assert closed.cid == 7 and closed.amount == 0 and closed.amount_orig == 0.1
    assert closed.meta == {"aff_code": "venue-e2e"}
    assert [o.id for o in b.rest.auth.get_orders_history(symbol="tBTCUSD")] == [ask.data.id]

    [a_trade] = a.rest.auth.get_trades_history(symbol="tBTCUSD")
    [b_trade] = b.rest.auth.get_trades_history()
    assert (a_trade.order_id, a_trade.exec_amount, a_trade.exec_price, a_trade.maker) == (bid.data.id, 0.1, 90000, 1)
    assert (a_trade.fee, a_trade.fee_currency, a_trade.cid) == (-0.0001, "BTC", 7)
    assert (b_trade.exec_amount, b_trade.maker, b_trade.fee, b_trade.fee_currency) == (-0.1, -1, -18, "USD")
    assert a_trade.id == b_trade.id

    [order_trade] = a.rest.auth.get_order_trades("tBTCUSD", bid.data.id)
    assert order_trade.id == a_trade.id and order_trade.fee == -0.0001

    btc_ledger = a.rest.auth.get_ledgers("BTC")
    assert [entry.amount for entry in btc_ledger] and btc_ledger[0].balance == 0.0999
    assert sum(Decimal(str(e.amount)) for e in btc_ledger) == Decimal("0.0999")
    usd_ledger = b.rest.auth.get_ledgers("USD")
    assert sum(Decimal(str(e.amount)) for e in usd_ledger) == Decimal(8982)

    # Isolation: B sees none of A's history, even when asking for A's order id.
    assert b.rest.auth.get_orders_history(ids=[bid.data.id]) == []
    assert b.rest.auth.get_order_trades("tBTCUSD", bid.data.id) == []
    a_entries = {e.id for e in a.rest.auth.get_ledgers(limit=2500)}
    b_entries = b.rest.auth.get_ledgers(limit=2500)
    assert a_entries and not a_entries & {e.id for e in b_entries}
    assert sum(Decimal(str(e.amount)) for e in b_entries if e.currency == "BTC") == Decimal("0.9")


# -- orders -----------------------------------------------------------------------------------


def test_update_cancel_and_cancel_multi(server: RunningServer, alice: tuple[int, str, str]) -> None:
    a = _client(server, alice[1], alice[2])
    first = a.rest.auth.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD", amount=0.01, price=80000).data
    second = a.rest.auth.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD", amount="0.01", price="80000", gid=3).data

    updated = a.rest.auth.update_order(first.id, price="81000")
    assert updated.type == "ou-req" and updated.data.id == first.id and updated.data.price == 81000

    cancelled = a.rest.auth.cancel_order(id=first.id)
    assert cancelled.type == "oc-req" and cancelled.data.id == first.id

    multi = a.rest.auth.cancel_order_multi(gid=[3])
    assert multi.type == "oc_multi-req" and [o.id for o in multi.data] == [second.id]
    assert a.rest.auth.get_orders() == []


def test_order_multi_runs_each_op(server: RunningServer, alice: tuple[int, str, str]) -> None:
    signed = Signed(server, alice[1], alice[2])
    order = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.01", "price": "80000"}
    status, note = signed.post("auth/w/order/multi", {"ops": [["on", order], ["oc", {"id": 999999}]]})
    assert status == 200 and note[1] == "ox_multi-req"
    placed, refused = note[4]
    assert placed[1] == "on-req" and placed[6] == "SUCCESS" and len(placed[4][0]) == 32
    assert refused[1] == "oc-req" and refused[6] == "ERROR"


def test_submit_beyond_the_balance_is_an_http_500_invalid_order(server: RunningServer, alice: tuple[int, str, str]) -> None:
    status, body = Signed(server, alice[1], alice[2]).post(
        "auth/w/order/submit", {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "1", "price": "90000"})
    assert status == 500 and body[:2] == ["error", 10001] and body[2].startswith("Invalid order:")


def test_another_user_cannot_cancel_or_list_an_order(
    server: RunningServer, alice: tuple[int, str, str], bob: tuple[int, str, str]
) -> None:
    a = _client(server, alice[1], alice[2])
    b = _client(server, bob[1], bob[2])
    order = a.rest.auth.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD", amount="0.01", price="80000").data
    assert b.rest.auth.get_orders(ids=[order.id]) == []
    with pytest.raises(GenericError, match="Order not found"):
        b.rest.auth.cancel_order(id=order.id)
    with pytest.raises(GenericError, match="Order not found"):
        b.rest.auth.update_order(order.id, price="81000")
    assert b.rest.auth.cancel_order_multi(id=[order.id]).data == []
    assert b.rest.auth.cancel_order_multi(all=True).data == []
    assert b.rest.auth.get_orders_history(ids=[order.id]) == []
    [still] = a.rest.auth.get_orders(symbol="tBTCUSD")
    assert (still.id, still.price, still.order_status) == (order.id, 80000, "ACTIVE")


# -- authentication and bad input ---------------------------------------------------------------


def test_wrong_secret_unknown_key_and_revoked_key_are_10100(server: RunningServer, alice: tuple[int, str, str]) -> None:
    with pytest.raises(InvalidCredentialError):
        _client(server, alice[1], "not-the-secret").rest.auth.get_wallets()
    assert Signed(server, "unknown-key", "x").post("auth/r/wallets") == (500, ["error", 10100, "apikey: invalid"])
    server.submit(RevokeApiKey(alice[1]))
    assert Signed(server, alice[1], alice[2]).post("auth/r/wallets") == (500, ["error", 10100, "apikey: invalid"])


def test_nonce_not_above_the_last_is_10114(server: RunningServer, alice: tuple[int, str, str]) -> None:
    signed = Signed(server, alice[1], alice[2])
    nonce = str(next(_nonces))
    assert signed.post("auth/r/wallets", nonce=nonce)[0] == 200
    assert signed.post("auth/r/wallets", nonce=nonce) == (500, ["error", 10114, "nonce: small"])


def test_read_only_key_reads_but_cannot_trade_or_withdraw(server: RunningServer, alice: tuple[int, str, str]) -> None:
    server.submit(CreateApiKey(alice[0], "read-only-key", "read-only-secret", read_only_permissions()))
    client = _client(server, "read-only-key", "read-only-secret")
    assert _wallets(client)[("exchange", "USD")] == (Decimal(10000), Decimal(10000))
    # ccxt maps 10001 + this text to PermissionDenied; bfxapi maps 10001 to GenericError.
    with pytest.raises(GenericError, match="api_key: permission invalid"):
        client.rest.auth.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD", amount="0.01", price="80000")
    signed = Signed(server, "read-only-key", "read-only-secret")
    assert signed.post("auth/w/withdraw", {"wallet": "exchange", "method": "bitcoin", "amount": "1", "address": "x"}) == (
        500, ["error", 10001, "api_key: permission invalid"])
    assert client.rest.auth.get_orders() == []  # the refused order left no trace
    status, rows = signed.post("auth/r/permissions")
    assert status == 200 and ["orders", 1, 0] in rows and ["withdraw", 1, 0] in rows


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        (b"{oops", ["error", 10020, "input: invalid"]),
        (b'"text"', ["error", 10020, "input: invalid"]),
        (b'{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","price":"1"}', ["error", 10020, "amount: invalid"]),
        (b'{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"abc","price":"1"}', ["error", 10020, "amount: invalid"]),
        (b'{"type":"NOPE","symbol":"tBTCUSD","amount":"1","price":"1"}', ["error", 10020, "type: invalid"]),
    ],
)
def test_bad_order_bodies_get_the_field_error(server: RunningServer, alice: tuple[int, str, str], raw: bytes,
                                              answer: list[Any]) -> None:
    assert Signed(server, alice[1], alice[2]).post("auth/w/order/submit", raw=raw) == (500, answer)


def test_bfxapi_maps_parameter_errors(server: RunningServer, alice: tuple[int, str, str]) -> None:
    a = _client(server, alice[1], alice[2])
    with pytest.raises(RequestParameterError, match="limit: invalid"):
        a.rest.auth.get_trades_history(limit=1_000_000)
    with pytest.raises(RequestParameterError, match="symbol: invalid"):
        a.rest.auth.get_orders(symbol="tNOPE")


# -- account --------------------------------------------------------------------------------


def test_user_info_summary_and_order_availability(server: RunningServer, alice: tuple[int, str, str]) -> None:
    a = _client(server, alice[1], alice[2])
    info = a.rest.auth.get_user_info()
    assert info.id == alice[0] and info.username == "alice"
    avail = a.rest.auth.get_balance_available_for_orders_or_offers("tBTCUSD", "EXCHANGE", dir=1, rate="80000")
    assert avail.amount == 0.125
    status, summary = Signed(server, alice[1], alice[2]).post("auth/r/summary")
    assert status == 200 and summary[4][0][0] == 0.001 and summary[4][1][0] == 0.002


def test_transfer_then_withdrawal_and_movements(server: RunningServer, bob: tuple[int, str, str]) -> None:
    b = _client(server, bob[1], bob[2])
    moved = b.rest.auth.transfer_between_wallets("exchange", "funding", "BTC", "BTC", "0.25")
    assert moved.type == "acc_tf" and moved.status == "SUCCESS"
    assert (moved.data.wallet_from, moved.data.wallet_to, moved.data.amount) == ("exchange", "funding", 0.25)
    assert _wallets(b)[("funding", "BTC")] == (Decimal("0.25"), Decimal("0.25"))

    out = b.rest.auth.submit_wallet_withdrawal("exchange", "bitcoin", "bc1qvenue", "0.1")
    assert out.type == "acc_wd-req" and out.data.amount == 0.1 and out.data.withdrawal_fee == 0.0004
    # 1 − 0.25 transferred − 0.1 withdrawn − 0.0004 fee
    assert _wallets(b)[("exchange", "BTC")][0] == Decimal("0.6496")
    movements = b.rest.auth.get_movements(currency="BTC")
    assert [m.amount for m in movements if m.amount < 0] == [-0.1]
    assert b.rest.auth.get_movements(currency="USD") == []


def test_deposit_address_is_per_user_and_currency(
    server: RunningServer, alice: tuple[int, str, str], bob: tuple[int, str, str]
) -> None:
    a = _client(server, alice[1], alice[2])
    b = _client(server, bob[1], bob[2])
    first = a.rest.auth.get_deposit_address("exchange", "bitcoin")
    assert first.type == "acc_dep" and first.data.currency_code == "BTC" and first.data.address
    assert a.rest.auth.get_deposit_address("exchange", "bitcoin").data.address == first.data.address
    assert b.rest.auth.get_deposit_address("exchange", "bitcoin").data.address != first.data.address
    assert a.rest.auth.get_deposit_address("exchange", "bitcoin", op_renew=True).data.address != first.data.address


def test_settings_and_alerts(server: RunningServer, alice: tuple[int, str, str], bob: tuple[int, str, str]) -> None:
    a = Signed(server, alice[1], alice[2])
    b = Signed(server, bob[1], bob[2])
    status, note = a.post("auth/w/settings/set", {"settings": {"api:grid": {"levels": 5}}})
    assert status == 200 and note[1] == "acc_ss"
    assert a.post("auth/r/settings", {"keys": ["api:grid"]}) == (200, [["api:grid", {"levels": 5}]])
    assert b.post("auth/r/settings", {"keys": ["api:grid"]}) == (200, [])
    assert a.post("auth/w/settings/del", {"settings": ["api:grid"]})[1][1] == "acc_sd"
    assert a.post("auth/r/settings", {"keys": ["api:grid"]}) == (200, [])

    assert a.post("auth/w/alert/set", {"type": "price", "symbol": "tBTCUSD", "price": "95000"}) == (
        200, ["price:tBTCUSD:95000", "price", "tBTCUSD", 95000, 100])
    assert a.post("auth/r/alerts", {"type": "price"})[1] == [["price:tBTCUSD:95000", "price", "tBTCUSD", 95000, 100]]
    assert b.post("auth/r/alerts", {"type": "price"}) == (200, [])
    assert a.post("auth/w/alert/price:tBTCUSD:95000/del", {}) == (200, [True])
    assert a.post("auth/r/alerts", {"type": "price"}) == (200, [])


def test_margin_endpoints_answer_action_disabled(server: RunningServer, alice: tuple[int, str, str]) -> None:
    with pytest.raises(GenericError, match="action: disabled"):
        _client(server, alice[1], alice[2]).rest.auth.get_positions()


def test_transfer_and_withdrawal_beyond_the_balance_are_refused_without_a_trace(
    server: RunningServer, bob: tuple[int, str, str]
) -> None:
    signed = Signed(server, bob[1], bob[2])
    before = _wallets(_client(server, bob[1], bob[2]))
    movements_before = _client(server, bob[1], bob[2]).rest.auth.get_movements()
    # Texts with "available balance is only", which ccxt maps to InsufficientFunds (before it
    # looks at code 10001) whatever the wallet.
    assert signed.post("auth/w/transfer", {"from": "exchange", "to": "margin", "currency": "BTC", "amount": "2"}) == (
        500, ["error", 10001, "Cannot complete transfer. Exchange balance insufficient: the available balance is "
                              "only 1.0 BTC."])
    assert signed.post("auth/w/withdraw", {"wallet": "exchange", "method": "bitcoin", "amount": "5",
                                           "address": "bc1q"}) == (
        500, ["error", 10001, "Cannot withdraw 5.0004 BTC from your exchange wallet. The available balance is only "
                              "1.0 BTC."])
    assert signed.post("auth/w/withdraw", {"wallet": "funding", "method": "bitcoin", "amount": "0.5",
                                           "address": "bc1q"}) == (
        500, ["error", 10001, "Cannot withdraw 0.5004 BTC from your funding wallet. The available balance is only "
                              "0.0 BTC."])
    assert signed.post("auth/w/withdraw", {"wallet": "exchange", "method": "bitcoin", "amount": "-1",
                                           "address": "bc1q"}) == (500, ["error", 10020, "amount: invalid"])
    assert signed.post("auth/w/withdraw", {"wallet": "exchange", "method": "bitcoin", "amount": "0.1"}) == (
        500, ["error", 10020, "address: invalid"])
    assert _wallets(_client(server, bob[1], bob[2])) == before
    assert _client(server, bob[1], bob[2]).rest.auth.get_movements() == movements_before


def test_settings_alerts_and_addresses_survive_a_restart(server_settings: Any) -> None:
    first = RunningServer(server_settings)
    try:
        user = first.create_account("carol", {"USD": "1"})
        signed = Signed(first, user[1], user[2])
        signed.post("auth/w/settings/set", {"settings": {"api:kept": [1, "two"]}})
        signed.post("auth/w/alert/set", {"type": "price", "symbol": "tETHUSD", "price": "3100"})
        address = signed.post("auth/w/deposit/address", {"wallet": "exchange", "method": "ethereum"})[1][4][4]
    finally:
        first.close()
    second = RunningServer(server_settings)
    try:
        signed = Signed(second, user[1], user[2])
        assert signed.post("auth/r/settings", {"keys": ["api:kept"]}) == (200, [["api:kept", [1, "two"]]])
        assert signed.post("auth/r/alerts", {})[1] == [["price:tETHUSD:3100", "price", "tETHUSD", 3100, 100]]
        assert signed.post("auth/w/deposit/address", {"wallet": "exchange", "method": "ethereum"})[1][4][4] == address
    finally:
        second.close()


# -- more endpoints through bfxapi, with values --------------------------------------------------


def test_cancel_by_cid_and_date_and_cancel_multi_by_id_and_all(server: RunningServer, alice: tuple[int, str, str]) -> None:
    a = _client(server, alice[1], alice[2])
    placed = [a.rest.auth.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD", amount="0.01", price="80000",
                                       cid=100 + n).data for n in range(4)]
    today = time.strftime("%Y-%m-%d", time.gmtime(placed[0].mts_create / 1000))

    by_cid = a.rest.auth.cancel_order(cid=100, cid_date=today)
    assert by_cid.type == "oc-req" and by_cid.status == "SUCCESS" and by_cid.data.id == placed[0].id
    with pytest.raises(RequestParameterError, match="cid_date: invalid"):
        a.rest.auth.cancel_order(cid=101)

    by_ids = a.rest.auth.cancel_order_multi(id=[placed[1].id, placed[2].id])
    assert by_ids.status == "SUCCESS" and sorted(o.id for o in by_ids.data) == [placed[1].id, placed[2].id]
    assert [o.id for o in a.rest.auth.get_orders()] == [placed[3].id]

    everything = a.rest.auth.cancel_order_multi(all=True)
    assert [o.id for o in everything.data] == [placed[3].id]
    assert a.rest.auth.get_orders() == []
    cancelled = {o.id: o.order_status for o in a.rest.auth.get_orders_history(limit=10)}
    assert cancelled == {o.id: "CANCELED" for o in placed}
    assert _wallets(a)[("exchange", "USD")] == (Decimal(10000), Decimal(10000))  # every hold released


def test_movements_list_admin_deposits_and_ledgers_filter_by_category(
    server: RunningServer, bob: tuple[int, str, str]
) -> None:
    b = _client(server, bob[1], bob[2])
    [deposit] = b.rest.auth.get_movements()
    assert (deposit.currency, deposit.amount, deposit.status, deposit.fees) == ("BTC", 1, "COMPLETED", 0)
    assert b.rest.auth.get_movements(currency="BTC")[0].id == deposit.id

    b.rest.auth.submit_wallet_withdrawal("exchange", "bitcoin", "bc1qvenue", "0.5")
    [withdrawal, first] = b.rest.auth.get_movements()  # newest first
    assert first.id == deposit.id
    assert (withdrawal.amount, withdrawal.fees, withdrawal.destination_address) == (-0.5, -0.0004, "bc1qvenue")

    [credit] = b.rest.auth.get_ledgers("BTC", category=101)
    assert (credit.amount, credit.balance) == (1, 1)
    assert [e.amount for e in b.rest.auth.get_ledgers(category=104)] == [-0.5]
    assert [e.amount for e in b.rest.auth.get_ledgers(category=254)] == [-0.0004]
    assert b.rest.auth.get_ledgers("BTC", category=201) == []


def test_balance_available_for_a_sell_and_for_funding(server: RunningServer, bob: tuple[int, str, str]) -> None:
    b = _client(server, bob[1], bob[2])
    b.rest.auth.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD", amount="-0.25", price="99000")
    assert b.rest.auth.get_balance_available_for_orders_or_offers("tBTCUSD", "EXCHANGE", dir=-1).amount == -0.75
    b.rest.auth.transfer_between_wallets("exchange", "funding", "BTC", "BTC", "0.1")
    assert b.rest.auth.get_balance_available_for_orders_or_offers("fBTC", "FUNDING").amount == 0.1
    assert b.rest.auth.get_balance_available_for_orders_or_offers("tBTCUSD", "EXCHANGE", dir=-1).amount == -0.65


def test_alert_deleted_with_nodes_body_form(server: RunningServer, alice: tuple[int, str, str]) -> None:
    a = Signed(server, alice[1], alice[2])
    a.post("auth/w/alert/set", {"type": "price", "symbol": "tETHUSD", "price": 3000.5, "count": 3})
    assert a.post("auth/r/alerts", {"type": "price"}) == (200, [["price:tETHUSD:3000.5", "price", "tETHUSD", 3000.5, 3]])
    assert a.post("auth/w/alert/del", {"symbol": "tETHUSD", "price": "3000.5"}) == (200, [True])
    assert a.post("auth/w/alert/del", {"symbol": "tETHUSD", "price": "3000.5"}) == (200, [False])
    assert a.post("auth/r/alerts", {"type": "price"}) == (200, [])


# -- signatures, nonces, permissions ---------------------------------------------------------------


def _signed_headers(key: str, secret: str, path: str, body: bytes, nonce: str | None = None) -> dict[str, str]:
    nonce = nonce or str(next(_nonces))
    signature = hmac.new(secret.encode(), f"/api/v2/{path}{nonce}".encode() + body, hashlib.sha384).hexdigest()
    return {"bfx-nonce": nonce, "bfx-apikey": key, "bfx-signature": signature, "Content-Type": "application/json"}


def test_a_signature_binds_the_body_and_the_path(server: RunningServer, alice: tuple[int, str, str]) -> None:
    order = json.dumps({"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.01", "price": "80000"}).encode()
    bigger = order.replace(b'"0.01"', b'"0.1"')
    url = f"{server.rest_url}/auth/w/order/submit"

    headers = _signed_headers(alice[1], alice[2], "auth/w/order/submit", order)
    tampered = requests.post(url, data=bigger, headers=headers, timeout=10)
    assert (tampered.status_code, tampered.json()) == (500, ["error", 10100, "apikey: invalid"])

    # A valid signature of another endpoint (here: reading wallets) does not authorise a submit.
    headers = _signed_headers(alice[1], alice[2], "auth/r/wallets", order)
    replayed = requests.post(url, data=order, headers=headers, timeout=10)
    assert (replayed.status_code, replayed.json()) == (500, ["error", 10100, "apikey: invalid"])

    for missing in ("bfx-apikey", "bfx-signature"):
        headers = _signed_headers(alice[1], alice[2], "auth/w/order/submit", order)
        del headers[missing]
        answer = requests.post(url, data=order, headers=headers, timeout=10)
        assert (answer.status_code, answer.json()) == (500, ["error", 10100, "apikey: invalid"])

    # Header names in another case, body signed as sent: accepted, and nothing was placed before.
    headers = {name.upper(): value for name, value in _signed_headers(alice[1], alice[2], "auth/w/order/submit",
                                                                       order).items()}
    accepted = requests.post(url, data=order, headers=headers, timeout=10)
    assert accepted.status_code == 200 and accepted.json()[6] == "SUCCESS"
    assert [o.amount for o in _client(server, alice[1], alice[2]).rest.auth.get_orders()] == [0.01]


def test_nonces_must_grow_and_stay_within_js_safe_integers(server: RunningServer, alice: tuple[int, str, str]) -> None:
    signed = Signed(server, alice[1], alice[2])
    high = str(next(_nonces) + 1_000_000)
    assert signed.post("auth/r/wallets", nonce=high)[0] == 200
    assert signed.post("auth/r/wallets", nonce=str(int(high) - 1)) == (500, ["error", 10114, "nonce: small"])
    assert signed.post("auth/r/wallets", nonce="9007199254740992") == (500, ["error", 10114, "nonce: invalid"])
    assert signed.post("auth/r/wallets", nonce="12.5") == (500, ["error", 10114, "nonce: invalid"])
    # A bad signature does not burn a nonce: the same nonce, correctly signed, still works.
    nonce = str(int(high) + 1)
    assert signed.post("auth/r/wallets", nonce=nonce, secret="wrong") == (500, ["error", 10100, "apikey: invalid"])
    assert signed.post("auth/r/wallets", nonce=nonce)[0] == 200
    # bfxapi's own µs nonces are smaller than the one used above: refused until time catches up.
    with pytest.raises(RuntimeError, match="nonce: small"):
        _client(server, alice[1], alice[2]).rest.auth.get_wallets()


def test_each_endpoint_needs_its_own_scope(server: RunningServer, alice: tuple[int, str, str]) -> None:
    denied = (500, ["error", 10001, "api_key: permission invalid"])
    server.submit(CreateApiKey(alice[0], "orders-only", "orders-secret", (("orders", True, True),)))
    server.submit(CreateApiKey(alice[0], "wallets-only", "wallets-secret", (("wallets", True, True),)))
    orders_only = Signed(server, "orders-only", "orders-secret")
    wallets_only = Signed(server, "wallets-only", "wallets-secret")

    status, note = orders_only.post("auth/w/order/submit", {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD",
                                                            "amount": "0.01", "price": "80000"})
    assert status == 200 and note[6] == "SUCCESS"
    for path in ("auth/r/wallets", "auth/r/trades/hist", "auth/r/ledgers/hist", "auth/r/movements/hist",
                 "auth/r/info/user", "auth/r/settings"):
        assert orders_only.post(path, {}) == denied, path
    assert orders_only.post("auth/w/transfer", {"from": "exchange", "to": "funding", "currency": "USD",
                                                "amount": "1"}) == denied

    assert wallets_only.post("auth/r/wallets")[0] == 200
    assert wallets_only.post("auth/r/orders", {}) == denied
    assert wallets_only.post("auth/w/order/cancel/multi", {"all": 1}) == denied
    assert wallets_only.post("auth/w/withdraw", {"wallet": "exchange", "method": "bitcoin", "amount": "1",
                                                 "address": "x"}) == denied
    status, _ = wallets_only.post("auth/w/transfer", {"from": "exchange", "to": "funding", "currency": "USD",
                                                      "amount": "1"})
    assert status == 200
    # Both keys act on the same account: the order placed by one is seen by the other's owner.
    assert [w[:3] for w in wallets_only.post("auth/r/wallets")[1]] == [["exchange", "USD", 9999], ["funding", "USD", 1]]
    # The permissions endpoint answers for any valid key.
    status, rows = wallets_only.post("auth/r/permissions")
    assert status == 200 and ["wallets", 1, 1] in rows and ["orders", 0, 0] in rows


def test_ledgers_filtered_by_wallet_fill_the_limit(server: RunningServer, bob: tuple[int, str, str]) -> None:
    signed = Signed(server, bob[1], bob[2])
    signed.post("auth/w/transfer", {"from": "exchange", "to": "funding", "currency": "BTC", "amount": "0.1"})
    for _ in range(3):  # newer entries in other wallets
        signed.post("auth/w/transfer", {"from": "exchange", "to": "margin", "currency": "BTC", "amount": "0.01"})
    status, rows = signed.post("auth/r/ledgers/hist", {"wallet": "funding", "limit": 1})
    assert status == 200 and [(r[2], r[5], r[6]) for r in rows] == [("funding", 0.1, 0.1)]
    status, rows = signed.post("auth/r/ledgers/BTC/hist", {"wallet": "exchange", "limit": 2})
    assert [(r[2], r[5], r[6]) for r in rows] == [("exchange", -0.01, 0.87), ("exchange", -0.01, 0.88)]


def test_orders_history_window_is_on_the_creation_time(server: RunningServer, alice: tuple[int, str, str]) -> None:
    """Spec §4.2: auth/r/orders/hist filters on MTS_CREATE (newest created first)."""
    a = _client(server, alice[1], alice[2])
    older = a.rest.auth.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD", amount="0.01", price="80000").data
    time.sleep(0.01)
    newer = a.rest.auth.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD", amount="0.01", price="80000").data
    assert newer.mts_create > older.mts_create
    a.rest.auth.cancel_order(id=newer.id)
    time.sleep(0.01)
    a.rest.auth.cancel_order(id=older.id)  # the older order is the last one updated

    assert [o.id for o in a.rest.auth.get_orders_history()] == [newer.id, older.id]
    assert [o.id for o in a.rest.auth.get_orders_history(start=str(newer.mts_create))] == [newer.id]
    assert [o.id for o in a.rest.auth.get_orders_history(end=str(older.mts_create))] == [older.id]


def test_movements_filter_by_id_and_address(server: RunningServer, bob: tuple[int, str, str]) -> None:
    b = _client(server, bob[1], bob[2])
    first = b.rest.auth.submit_wallet_withdrawal("exchange", "bitcoin", "bc1qfirst", "0.1").data
    second = b.rest.auth.submit_wallet_withdrawal("exchange", "bitcoin", "bc1qsecond", "0.2").data
    signed = Signed(server, bob[1], bob[2])
    status, rows = signed.post("auth/r/movements/hist", {"id": [first.withdrawal_id]})
    assert status == 200 and [(r[0], r[12], r[16]) for r in rows] == [(first.withdrawal_id, -0.1, "bc1qfirst")]
    status, rows = signed.post("auth/r/movements/BTC/hist", {"address": "bc1qsecond"})
    assert status == 200 and [(r[0], r[12]) for r in rows] == [(second.withdrawal_id, -0.2)]
    assert signed.post("auth/r/movements/hist", {"address": "bc1qnobody"}) == (200, [])
    assert signed.post("auth/r/movements/hist", {"id": "x"}) == (500, ["error", 10020, "id: invalid"])


_NOT_YET: dict[str, Any] = {
    "get_login_history": lambda a: a.get_login_history(),
    "get_base_margin_info": lambda a: a.get_base_margin_info(),
    "get_symbol_margin_info": lambda a: a.get_symbol_margin_info("tBTCUSD"),
    "get_all_symbols_margin_info": lambda a: a.get_all_symbols_margin_info(),
    "claim_position": lambda a: a.claim_position(1),
    "increase_position": lambda a: a.increase_position("tBTCUSD", 1),
    "get_increase_position_info": lambda a: a.get_increase_position_info("tBTCUSD", 1),
    "get_positions_history": lambda a: a.get_positions_history(),
    "get_positions_snapshot": lambda a: a.get_positions_snapshot(),
    "get_positions_audit": lambda a: a.get_positions_audit(),
    "set_derivative_position_collateral": lambda a: a.set_derivative_position_collateral("tBTCF0:USTF0", 1),
    "get_derivative_position_collateral_limits": lambda a: a.get_derivative_position_collateral_limits("tBTCF0:USTF0"),
    "get_funding_offers": lambda a: a.get_funding_offers(symbol="fUSD"),
    "submit_funding_offer": lambda a: a.submit_funding_offer("LIMIT", "fUSD", 100, 0.001, 2),
    "cancel_funding_offer": lambda a: a.cancel_funding_offer(1),
    "cancel_all_funding_offers": lambda a: a.cancel_all_funding_offers("USD"),
    "submit_funding_close": lambda a: a.submit_funding_close(1),
    "toggle_auto_renew": lambda a: a.toggle_auto_renew(status=True, currency="USD"),
    "toggle_keep_funding": lambda a: a.toggle_keep_funding("credit", ids=[1]),
    "get_funding_offers_history": lambda a: a.get_funding_offers_history(),
    "get_funding_loans": lambda a: a.get_funding_loans(),
    "get_funding_loans_history": lambda a: a.get_funding_loans_history(symbol="fUSD"),
    "get_funding_credits": lambda a: a.get_funding_credits(symbol="fUSD"),
    "get_funding_credits_history": lambda a: a.get_funding_credits_history(),
    "get_funding_trades_history": lambda a: a.get_funding_trades_history(symbol="fUSD"),
    "get_funding_info": lambda a: a.get_funding_info("fUSD"),
    "generate_deposit_invoice": lambda a: a.generate_deposit_invoice("exchange", "LNX", 1),
}


def test_every_bfxapi_margin_funding_and_position_call_answers_action_disabled(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    """Until margin and funding land, each of bfxapi's calls reaches a route (never a 404 or a
    ``path: invalid``) and gets ``["error", 10001, "action: disabled"]``, changing nothing."""
    a = _client(server, alice[1], alice[2]).rest.auth
    for name, call in _NOT_YET.items():
        with pytest.raises(GenericError, match="action: disabled"):
            call(a)
    assert _wallets(_client(server, alice[1], alice[2])) == {("exchange", "USD"): (Decimal(10000), Decimal(10000))}


HUGE = 10**23


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("auth/r/orders/hist", {"id": [HUGE]}, "id"),
        ("auth/r/orders", {"id": [HUGE]}, "id"),
        ("auth/r/orders", {"gid": HUGE}, "gid"),
        ("auth/r/ledgers/hist", {"category": HUGE}, "category"),
        ("auth/r/trades/hist", {"end": HUGE}, "end"),
        ("auth/r/trades/tBTCUSD/hist", {"start": str(HUGE)}, "start"),
        ("auth/r/movements/hist", {"id": [HUGE]}, "id"),
        ("auth/r/order/tBTCUSD:9999999999999999999/trades", None, "id"),
    ],
)
def test_absurd_integers_in_queries_are_parameter_errors(
    server: RunningServer, alice: tuple[int, str, str], path: str, body: Any, field: str
) -> None:
    """Values beyond 64 bits (or JS-safe timestamps) are refused as the field's error, not an
    unknown error from the store."""
    assert Signed(server, alice[1], alice[2]).post(path, body) == (500, ["error", 10020, f"{field}: invalid"])


def test_endpoints_bfxapi_does_not_wrap_through_its_own_signed_transport(
    server: RunningServer, alice: tuple[int, str, str]
) -> None:
    """summary, permissions, settings, alerts and order/multi have no bfxapi method; its
    middleware (the same signing, JSON encoding and error mapping) still reaches them."""
    post = _client(server, alice[1], alice[2]).rest.auth._m.post  # noqa: SLF001 - bfxapi's transport

    summary = post("auth/r/summary")
    assert len(summary) == 10 and summary[4] == [[0.001, 0.001, 0.001, None, None, 0], [0.002, 0.002, 0.002, None, None, 0.002]]
    assert summary[9] == {"leo_lev": 0, "leo_amount_avg": 0}
    rows = post("auth/r/permissions")
    assert [row[0] for row in rows] == ["account", "history", "orders", "positions", "funding", "settings", "wallets",
                                        "withdraw", "ui_withdraw", "bfxpay"]
    assert ["orders", 1, 1] in rows

    note = post("auth/w/settings/set", body={"settings": {"api:bot": {"on": True}, "api:n": 3}})
    assert note[1] == "acc_ss" and note[4] == 2 and note[6] == "SUCCESS" and len(note) == 8
    assert post("auth/r/settings", body={"keys": ["api:bot", "api:n", "api:none"]}) == [["api:bot", {"on": True}],
                                                                                         ["api:n", 3]]
    assert post("auth/w/settings/del", body={"keys": ["api:n"]})[1] == "acc_sd"
    assert post("auth/r/settings", body={"keys": ["api:n"]}) == []

    assert post("auth/w/alert/set", body={"type": "price", "symbol": "tBTCUSD", "price": Decimal("91234.567")}) == [
        "price:tBTCUSD:91235", "price", "tBTCUSD", 91235, 100]
    assert post("auth/r/alerts", body={"type": "price"}) == [["price:tBTCUSD:91235", "price", "tBTCUSD", 91235, 100]]
    assert post("auth/w/alert/del", body={"symbol": "tBTCUSD", "price": 91235}) == [True]
    assert post("auth/r/alerts", body={"type": "price"}) == []

    order = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": Decimal("0.01"), "price": 80000, "cid": 5}
    note = post("auth/w/order/multi", body={"ops": [["on", order], ["on", {**order, "cid": 6}]]})
    assert note[1] == "ox_multi-req" and note[6] == "SUCCESS" and [n[4][0][2] for n in note[4]] == [5, 6]
    placed = [n[4][0][0] for n in note[4]]
    note = post("auth/w/order/multi", body={"ops": [["oc", {"id": placed[0]}], ["oc_multi", {"id": [placed[1]]}]]})
    assert [(n[1], n[6]) for n in note[4]] == [("oc-req", "SUCCESS"), ("oc_multi-req", "SUCCESS")]
    assert _client(server, alice[1], alice[2]).rest.auth.get_orders() == []
