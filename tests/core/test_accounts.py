"""Accounts, wallets and the ledger: deposits, withdrawals, transfers, keys (issue part 1)."""

from __future__ import annotations

from venue.core.commands import (
    CreateApiKey, CreateUser, Deposit, RevokeApiKey, Transfer, Withdraw,
)
from venue.core.events import (
    ApiKeyCreated, ApiKeyRevoked, LedgerEntryAdded, MovementRecorded, RequestCompleted,
    UserCreated, WalletChanged,
)
from venue.core.exchange import FEE_ACCOUNT_ID

from tests.core.harness import Venue, amt, check_invariants, completed, of_type, rejection

PERMS = (("orders", True, True), ("wallets", True, False))


def test_users_get_ids_from_a_counter_and_can_be_found_by_name() -> None:
    v = Venue()
    events = v.apply(CreateUser("alice", "a@example.com"))
    assert events == [UserCreated(1, "alice", "a@example.com", v.ts),
                      RequestCompleted(1, "user_create", ())]
    v.apply(CreateUser("bob"))
    assert v.ex.user_by_name("bob").user_id == 2  # type: ignore[union-attr]
    assert v.ex.user(1).email == "a@example.com"  # type: ignore[union-attr]
    assert v.ex.user(99) is None and v.ex.user_by_name("carol") is None


def test_a_taken_user_name_is_rejected() -> None:
    v = Venue()
    v.apply(CreateUser("alice"))
    before = v.ex.state_hash()
    r = rejection(v.apply(CreateUser("alice")))
    assert (r.code, r.text) == (10001, "name: taken")
    assert v.ex.state_hash() == before


def test_api_keys_are_stored_and_revoked() -> None:
    v = Venue()
    uid = v.user("alice")
    events = v.apply(CreateApiKey(uid, "k1", "s1", PERMS, "bot"))
    assert events[0] == ApiKeyCreated(uid, "k1", PERMS, v.ts)
    info = v.ex.api_key("k1")
    assert info is not None and info.secret == "s1" and not info.revoked
    assert of_type(v.apply(RevokeApiKey("k1")), ApiKeyRevoked)[0].key == "k1"
    assert v.ex.api_key("k1").revoked  # type: ignore[union-attr]
    r = rejection(v.apply(RevokeApiKey("k1")))
    assert (r.code, r.text) == (10100, "apikey: invalid")


def test_a_duplicate_api_key_or_unknown_user_is_rejected() -> None:
    v = Venue()
    uid = v.user("alice")
    v.apply(CreateApiKey(uid, "k1", "s1", PERMS))
    assert rejection(v.apply(CreateApiKey(uid, "k1", "s2", PERMS))).text == "apikey: invalid"
    assert rejection(v.apply(CreateApiKey(42, "k2", "s2", PERMS))).text == "user: invalid"


def test_deposit_credits_the_wallet_with_a_movement_and_a_ledger_line() -> None:
    v = Venue()
    uid = v.user("alice")
    events = v.apply(Deposit(uid, "BTC", amt("1.5")))
    movement, wallet, ledger, done = events
    assert isinstance(movement, MovementRecorded)
    assert (movement.amount, movement.status, movement.method) == (amt("1.5"), "COMPLETED",
                                                                   "BITCOIN")
    assert wallet == WalletChanged(uid, "exchange", "BTC", amt("1.5"), amt("1.5"),
                                   f"Deposit (BITCOIN) #{movement.movement_id} on wallet exchange")
    assert isinstance(ledger, LedgerEntryAdded)
    assert (ledger.amount, ledger.balance, ledger.category) == (amt("1.5"), amt("1.5"), 101)
    assert ledger.description == f"Deposit (BITCOIN) #{movement.movement_id} on wallet exchange"
    assert done == RequestCompleted(uid, "deposit", ())


def test_deposit_of_unknown_currency_or_bad_amount_or_wallet_is_rejected() -> None:
    v = Venue()
    uid = v.user("alice")
    before = v.ex.state_hash()
    assert rejection(v.apply(Deposit(uid, "DOGE", 1))).text == "currency: invalid"
    assert rejection(v.apply(Deposit(uid, "BTC", 0))).text == "amount: invalid"
    assert rejection(v.apply(Deposit(uid, "BTC", 1, wallet="savings"))).text == "wallet: invalid"
    assert rejection(v.apply(Deposit(77, "BTC", 1))).code == 10020
    assert v.ex.state_hash() == before


def test_withdrawal_debits_amount_and_fee_and_the_fee_goes_to_the_fee_account() -> None:
    v = Venue()
    uid = v.user("alice", BTC="1")
    events = v.apply(Withdraw(uid, "BTC", amt("0.5"), fee=amt("0.0004"), address="bc1q"))
    movement = of_type(events, MovementRecorded)[0]
    assert (movement.amount, movement.fee, movement.address) == (-amt("0.5"), -amt("0.0004"),
                                                                 "bc1q")
    lines = of_type(events, LedgerEntryAdded)
    assert [(l.user_id, l.amount, l.category) for l in lines] == [
        (uid, -amt("0.5"), 104), (uid, -amt("0.0004"), 254), (FEE_ACCOUNT_ID, amt("0.0004"), 254)]
    assert v.balance(uid, "BTC") == (amt("0.4996"), amt("0.4996"))
    assert v.balance(FEE_ACCOUNT_ID, "BTC") == (amt("0.0004"), amt("0.0004"))
    assert completed(events).request == "acc_wd"
    check_invariants(v)


def test_withdrawal_beyond_available_is_rejected_and_changes_nothing() -> None:
    v = Venue()
    uid = v.user("alice", BTC="1")
    v.order(uid, "-0.8", "90000")  # holds 0.8 BTC
    before = v.ex.state_hash()
    r = rejection(v.apply(Withdraw(uid, "BTC", amt("0.3"))))
    assert (r.code, r.text) == (10001, "Cannot withdraw 0.3 BTC from your exchange wallet. "
                                       "The available balance is only 0.2 BTC.")
    assert r.request == "acc_wd"
    assert v.ex.state_hash() == before


def test_transfer_moves_funds_between_wallets_with_bitfinex_descriptions() -> None:
    v = Venue()
    uid = v.user("alice", USD="100")
    events = v.apply(Transfer(uid, "exchange", "margin", "USD", amt("50")))
    lines = of_type(events, LedgerEntryAdded)
    assert [(l.wallet, l.amount, l.category, l.description) for l in lines] == [
        ("exchange", -amt(50), 51,
         "Transfer of 50.0 USD from wallet Exchange to Margin on wallet exchange"),
        ("margin", amt(50), 51,
         "Transfer of 50.0 USD from wallet Exchange to Margin on wallet margin"),
    ]
    assert [(w.wallet, w.balance) for w in v.ex.wallets(uid)] == [("exchange", amt(50)),
                                                                  ("margin", amt(50))]
    assert completed(events).request == "acc_tf"


def test_transfer_with_currency_to_converts_one_to_one() -> None:
    v = Venue()
    uid = v.user("alice", UST="10")
    v.apply(Transfer(uid, "exchange", "margin", "UST", amt(4), currency_to="USD"))
    assert [(w.wallet, w.currency, w.balance) for w in v.ex.wallets(uid)] == [
        ("exchange", "UST", amt(6)), ("margin", "USD", amt(4))]


def test_transfer_rejections() -> None:
    v = Venue()
    uid = v.user("alice", USD="100")
    before = v.ex.state_hash()
    r = rejection(v.apply(Transfer(uid, "exchange", "margin", "USD", amt(101))))
    assert (r.code, r.text) == (10001, "Cannot complete transfer. Exchange balance insufficient: "
                                       "the available balance is only 100.0 USD.")
    assert rejection(v.apply(Transfer(uid, "exchange", "exchange", "USD", 1))).text == \
        "wallet: invalid"
    assert rejection(v.apply(Transfer(uid, "exchange", "vault", "USD", 1))).text == \
        "wallet: invalid"
    assert rejection(v.apply(Transfer(uid, "exchange", "margin", "USD", -1))).text == \
        "amount: invalid"
    assert v.ex.state_hash() == before


def test_wallets_are_listed_by_wallet_then_currency() -> None:
    v = Venue()
    uid = v.user("alice", USD="1", BTC="1", ETH="1")
    v.apply(Transfer(uid, "exchange", "funding", "USD", 1))
    assert [(w.wallet, w.currency) for w in v.ex.wallets(uid)] == [
        ("exchange", "BTC"), ("exchange", "ETH"), ("exchange", "USD"), ("funding", "USD")]
