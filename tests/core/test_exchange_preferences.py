"""The exchange carries the preferences sub-state: its commands go through ``apply`` (so they
are journaled), and its state is part of the snapshot and the state hash."""

from __future__ import annotations

from venue.core.exchange import Exchange
from venue.core.preferences import CreateDepositAddress, SetAlert, SetSettings

from tests.core.harness import REGISTRY, Venue, px


def test_preference_commands_are_applied_by_the_exchange() -> None:
    v = Venue()
    uid = v.user("alice")
    events = v.apply(SetSettings(uid, (("api:theme", '"dark"'),)))
    assert events and type(events[0]).__name__ == "SettingsChanged"
    assert v.ex.preferences.settings(uid) == [("api:theme", '"dark"')]


def test_preferences_survive_snapshot_and_change_the_state_hash() -> None:
    v = Venue()
    uid = v.user("alice")
    before = v.ex.state_hash()
    v.apply(SetAlert(uid, "tBTCUSD", px(95000)))
    v.apply(CreateDepositAddress(uid, "BTC", "exchange", "BITCOIN"))
    assert v.ex.state_hash() != before
    restored = Exchange.restore(REGISTRY, v.ex.snapshot())
    assert restored.state_hash() == v.ex.state_hash()
    assert restored.preferences.alerts(uid) == v.ex.preferences.alerts(uid)
    assert restored.preferences.deposit_address(uid, "BTC") == \
        v.ex.preferences.deposit_address(uid, "BTC")
