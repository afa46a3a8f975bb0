"""Preferences sub-state: settings, price alerts, deposit addresses (spec §4.2)."""

from __future__ import annotations

import subprocess
import sys

from venue.core.events import RequestRejected
from venue.core.numbers import parse_price
from venue.core.preferences import (
    MAX_ALERTS_PER_USER,
    AlertDeleted,
    AlertSet,
    CreateDepositAddress,
    DeleteAlert,
    DeleteSettings,
    DepositAddressCreated,
    Preferences,
    SetAlert,
    SetSettings,
    SettingsChanged,
    SettingsDeleted,
    canonical_json,
)

TS = 1_700_000_000_000


def test_settings_are_stored_and_read_back_in_request_order() -> None:
    prefs = Preferences()
    events = prefs.apply(
        SetSettings(1, (("api:b", canonical_json({"x": 1})), ("api:a", canonical_json("v")))), TS
    )
    assert events == [SettingsChanged(1, ("api:b", "api:a"))]
    assert prefs.settings(1, ("api:a", "api:b", "api:missing")) == [
        ("api:a", '"v"'),
        ("api:b", '{"x":1}'),
    ]


def test_setting_with_a_key_outside_the_api_namespace_is_rejected_and_changes_nothing() -> None:
    prefs = Preferences()
    before = prefs.state_digest()
    events = prefs.apply(SetSettings(1, (("api:ok", "1"), ("user:bad", "2"))), TS)
    assert len(events) == 1 and isinstance(events[0], RequestRejected)
    assert (events[0].code, events[0].text) == (10020, "settings: invalid")
    assert prefs.state_digest() == before


def test_deleting_settings_removes_only_the_named_keys() -> None:
    prefs = Preferences()
    prefs.apply(SetSettings(1, (("api:a", "1"), ("api:b", "2"))), TS)
    assert prefs.apply(DeleteSettings(1, ("api:a", "api:none")), TS) == [
        SettingsDeleted(1, ("api:a", "api:none"))
    ]
    assert prefs.settings(1) == [("api:b", "2")]


def test_settings_of_one_user_are_invisible_to_another() -> None:
    prefs = Preferences()
    prefs.apply(SetSettings(1, (("api:a", "1"),)), TS)
    assert prefs.settings(2, ("api:a",)) == []
    prefs.apply(DeleteSettings(2, ("api:a",)), TS)
    assert prefs.settings(1) == [("api:a", "1")]


def test_alert_key_writes_the_price_in_shortest_form() -> None:
    prefs = Preferences()
    [event] = prefs.apply(SetAlert(1, "tETHUSD", parse_price("220")), TS)
    assert isinstance(event, AlertSet)
    assert event.alert.key == "price:tETHUSD:220"
    assert event.alert.count == 100


def test_alerts_are_listed_by_symbol_then_price_and_deleted_by_key() -> None:
    prefs = Preferences()
    prefs.apply(SetAlert(1, "tETHUSD", parse_price("300")), TS)
    prefs.apply(SetAlert(1, "tBTCUSD", parse_price("90000.5")), TS)
    prefs.apply(SetAlert(1, "tETHUSD", parse_price("200")), TS)
    assert [a.key for a in prefs.alerts(1)] == [
        "price:tBTCUSD:90001",
        "price:tETHUSD:200",
        "price:tETHUSD:300",
    ]
    assert prefs.apply(DeleteAlert(1, "tETHUSD", parse_price("200")), TS) == [
        AlertDeleted(1, "tETHUSD", parse_price("200"), True)
    ]
    assert prefs.apply(DeleteAlert(1, "tETHUSD", parse_price("200")), TS) == [
        AlertDeleted(1, "tETHUSD", parse_price("200"), False)
    ]
    assert len(prefs.alerts(1)) == 2


def test_alert_beyond_the_per_user_limit_is_rejected() -> None:
    prefs = Preferences()
    for i in range(MAX_ALERTS_PER_USER):
        prefs.apply(SetAlert(1, "tBTCUSD", parse_price(1000 + i)), TS)
    [event] = prefs.apply(SetAlert(1, "tBTCUSD", parse_price(5000)), TS)
    assert isinstance(event, RequestRejected) and event.text == "alert: limit"
    # Re-arming an existing alert is not a new one.
    [event] = prefs.apply(SetAlert(1, "tBTCUSD", parse_price(1000), count=5), TS)
    assert isinstance(event, AlertSet) and event.alert.count == 5


def test_deposit_address_is_stable_until_renewed_and_unique_per_user() -> None:
    prefs = Preferences()
    [first] = prefs.apply(CreateDepositAddress(1, "BTC", "exchange", "bitcoin"), TS)
    [again] = prefs.apply(CreateDepositAddress(1, "BTC", "exchange", "bitcoin"), TS + 1)
    [other] = prefs.apply(CreateDepositAddress(2, "BTC", "exchange", "bitcoin"), TS + 2)
    [renewed] = prefs.apply(CreateDepositAddress(1, "BTC", "exchange", "bitcoin", renew=True), TS)
    assert isinstance(first, DepositAddressCreated)
    assert isinstance(again, DepositAddressCreated) and isinstance(renewed, DepositAddressCreated)
    assert isinstance(other, DepositAddressCreated)
    assert again.deposit_address == first.deposit_address
    addresses = {
        first.deposit_address.address,
        other.deposit_address.address,
        renewed.deposit_address.address,
    }
    assert len(addresses) == 3
    assert prefs.deposit_address(1, "BTC") == renewed.deposit_address
    assert prefs.address_owner(first.deposit_address.address) == 1
    assert prefs.address_owner(other.deposit_address.address) == 2


def _populated() -> Preferences:
    prefs = Preferences()
    prefs.apply(SetSettings(2, (("api:z", "[1,2]"),)), TS)
    prefs.apply(SetSettings(1, (("api:a", '"x"'),)), TS)
    prefs.apply(SetAlert(1, "tBTCUSD", parse_price(90000)), TS)
    prefs.apply(CreateDepositAddress(1, "ETH", "exchange", "ethereum"), TS)
    return prefs


def test_snapshot_restore_gives_the_same_state_and_digest() -> None:
    prefs = _populated()
    restored = Preferences.restore(prefs.snapshot_data())
    assert restored.state_digest() == prefs.state_digest()
    assert restored.settings(1) == prefs.settings(1)
    assert restored.alerts(1) == prefs.alerts(1)
    assert restored.deposit_address(1, "ETH") == prefs.deposit_address(1, "ETH")
    # The counter survives, so the next address differs from every earlier one.
    [event] = restored.apply(CreateDepositAddress(1, "ETH", "exchange", "ethereum", True), TS)
    assert isinstance(event, DepositAddressCreated)
    assert event.deposit_address.address != prefs.deposit_address(1, "ETH").address  # type: ignore[union-attr]


def test_digest_does_not_depend_on_the_hash_seed() -> None:
    script = (
        "from tests.core.test_preferences import _populated;"
        "print(_populated().state_digest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1
    assert digests.pop().strip() == _populated().state_digest()
