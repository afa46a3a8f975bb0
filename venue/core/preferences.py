"""Per-user preferences: API settings, price alerts and deposit addresses.

A small deterministic sub-state beside the exchange's accounts and books. It has its own
commands (defined here), applied through ``Preferences.apply(command, ts) -> list[Event]``,
and its own snapshot (``snapshot_data`` / ``Preferences.restore``) and state digest.

Rules it keeps (design.md, the same as ``Exchange``):
- no I/O, no clock, no randomness: deposit addresses are derived from a counter in the state
  with SHA-256, so the same journal always yields the same addresses;
- iteration never depends on hashing: every listing is sorted by an explicit key;
- validate, then mutate: a refused command returns one ``RequestRejected`` and changes nothing;
- setting values are opaque JSON *texts* (canonical form chosen by the protocol layer), so no
  float ever enters the core; prices of alerts are raw fixed-point ints (core/numbers.py).

Wire facts (spec/bitfinex-v2.md §4.2): settings keys look like ``api:<name>``; an alert's key
is ``price:<SYMBOL>:<PRICE>``, its countdown starts at 100 unless the user gives ``count``;
deposit addresses are per user and currency (``op_renew`` makes a new one).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Union

from venue.core.events import RequestRejected
from venue.core.numbers import to_text

# spec §4.2 auth/r/settings: "keys must match ^api:[A-Za-z0-9_-]*$".
SETTING_KEY = re.compile(r"^api:[A-Za-z0-9_-]*$")
MAX_SETTINGS_PER_USER = 256
MAX_SETTING_VALUE_CHARS = 16_384
MAX_ALERTS_PER_USER = 250
DEFAULT_ALERT_COUNT = 100  # spec §4.2 auth/w/alert/set: COUNTDOWN(100)

_ERR_GENERIC = 10001  # spec §9: business rejections
_ERR_PARAMS = 10020  # spec §9: parameter errors


# -- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetSettings:
    """Store settings; ``values`` pairs a key (``api:…``) with the canonical JSON text of its
    value. Existing keys are overwritten."""

    user_id: int
    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class DeleteSettings:
    user_id: int
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetAlert:
    """Create (or re-arm) the price alert for ``symbol`` at ``price`` (raw)."""

    user_id: int
    symbol: str
    price: int
    count: int = DEFAULT_ALERT_COUNT


@dataclass(frozen=True, slots=True)
class DeleteAlert:
    user_id: int
    symbol: str
    price: int


@dataclass(frozen=True, slots=True)
class CreateDepositAddress:
    """Give the user a deposit address for ``currency``; ``renew`` replaces an existing one."""

    user_id: int
    currency: str
    wallet: str
    method: str
    renew: bool = False


PreferenceCommand = Union[SetSettings, DeleteSettings, SetAlert, DeleteAlert, CreateDepositAddress]
PREFERENCE_COMMAND_TYPES: tuple[type, ...] = (
    SetSettings,
    DeleteSettings,
    SetAlert,
    DeleteAlert,
    CreateDepositAddress,
)


# -- events and values ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    user_id: int
    symbol: str
    price: int
    count: int

    @property
    def key(self) -> str:
        """``price:tBTCUSD:20000`` — the price written in shortest wire form."""
        return alert_key(self.symbol, self.price)


@dataclass(frozen=True, slots=True)
class DepositAddress:
    user_id: int
    currency: str
    wallet: str
    method: str
    address: str
    created_ts: int


@dataclass(frozen=True, slots=True)
class SettingsChanged:
    """Settings were written (``acc_ss``); ``keys`` in request order."""

    user_id: int
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SettingsDeleted:
    """Settings were removed (``acc_sd``); ``keys`` are those asked for, present or not."""

    user_id: int
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AlertSet:
    alert: Alert


@dataclass(frozen=True, slots=True)
class AlertDeleted:
    """``removed`` is False when no such alert existed (nothing changed)."""

    user_id: int
    symbol: str
    price: int
    removed: bool


@dataclass(frozen=True, slots=True)
class DepositAddressCreated:
    deposit_address: DepositAddress


PreferenceEvent = Union[
    SettingsChanged, SettingsDeleted, AlertSet, AlertDeleted, DepositAddressCreated, RequestRejected
]


def alert_key(symbol: str, price: int) -> str:
    return f"price:{symbol}:{to_text(price)}"


def canonical_json(value: Any) -> str:
    """The one JSON text a setting value is stored as (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- the state --------------------------------------------------------------------------------


class Preferences:
    """Settings, alerts and deposit addresses of every user."""

    __slots__ = ("_settings", "_alerts", "_addresses", "_address_owner", "_address_counter")

    def __init__(self) -> None:
        self._settings: dict[int, dict[str, str]] = {}
        self._alerts: dict[int, dict[tuple[str, int], Alert]] = {}
        self._addresses: dict[tuple[int, str], DepositAddress] = {}
        self._address_owner: dict[str, int] = {}
        self._address_counter = 0

    # -- apply --------------------------------------------------------------------------------

    def apply(self, command: PreferenceCommand, ts: int) -> list[Any]:
        """Apply one command stamped with its time (ms); return its events."""
        if isinstance(command, SetSettings):
            return self._set_settings(command)
        if isinstance(command, DeleteSettings):
            return self._delete_settings(command)
        if isinstance(command, SetAlert):
            return self._set_alert(command)
        if isinstance(command, DeleteAlert):
            return self._delete_alert(command)
        if isinstance(command, CreateDepositAddress):
            return self._create_deposit_address(command, ts)
        raise TypeError(f"not a preference command: {type(command).__name__}")

    def _set_settings(self, command: SetSettings) -> list[Any]:
        current = self._settings.get(command.user_id, {})
        for key, value in command.values:
            if not SETTING_KEY.match(key):
                return [_reject(command, "acc_ss", _ERR_PARAMS, "settings: invalid")]
            if len(value) > MAX_SETTING_VALUE_CHARS:
                return [_reject(command, "acc_ss", _ERR_PARAMS, "settings: invalid")]
        new_keys = {key for key, _ in command.values} - current.keys()
        if len(current) + len(new_keys) > MAX_SETTINGS_PER_USER:
            return [_reject(command, "acc_ss", _ERR_GENERIC, "settings: limit")]
        stored = self._settings.setdefault(command.user_id, {})
        for key, value in command.values:
            stored[key] = value
        return [SettingsChanged(command.user_id, tuple(key for key, _ in command.values))]

    def _delete_settings(self, command: DeleteSettings) -> list[Any]:
        if any(not SETTING_KEY.match(key) for key in command.keys):
            return [_reject(command, "acc_sd", _ERR_PARAMS, "settings: invalid")]
        stored = self._settings.get(command.user_id)
        if stored is not None:
            for key in command.keys:
                stored.pop(key, None)
            if not stored:
                del self._settings[command.user_id]
        return [SettingsDeleted(command.user_id, command.keys)]

    def _set_alert(self, command: SetAlert) -> list[Any]:
        if command.price <= 0:
            return [_reject(command, "alert_set", _ERR_PARAMS, "price: invalid")]
        if command.count <= 0:
            return [_reject(command, "alert_set", _ERR_PARAMS, "count: invalid")]
        alerts = self._alerts.get(command.user_id, {})
        slot = (command.symbol, command.price)
        if slot not in alerts and len(alerts) >= MAX_ALERTS_PER_USER:
            return [_reject(command, "alert_set", _ERR_GENERIC, "alert: limit")]
        alert = Alert(command.user_id, command.symbol, command.price, command.count)
        self._alerts.setdefault(command.user_id, {})[slot] = alert
        return [AlertSet(alert)]

    def _delete_alert(self, command: DeleteAlert) -> list[Any]:
        alerts = self._alerts.get(command.user_id)
        slot = (command.symbol, command.price)
        removed = alerts is not None and alerts.pop(slot, None) is not None
        if alerts is not None and not alerts:
            del self._alerts[command.user_id]
        return [AlertDeleted(command.user_id, command.symbol, command.price, removed)]

    def _create_deposit_address(self, command: CreateDepositAddress, ts: int) -> list[Any]:
        slot = (command.user_id, command.currency)
        existing = self._addresses.get(slot)
        if existing is not None and not command.renew:
            # The same address again: Bitfinex hands out one address until it is renewed.
            return [DepositAddressCreated(existing)]
        self._address_counter += 1
        address = DepositAddress(
            user_id=command.user_id,
            currency=command.currency,
            wallet=command.wallet,
            method=command.method,
            address=_derive_address(command.user_id, command.currency, self._address_counter),
            created_ts=ts,
        )
        self._addresses[slot] = address
        self._address_owner[address.address] = command.user_id
        return [DepositAddressCreated(address)]

    # -- reads --------------------------------------------------------------------------------

    def settings(self, user_id: int, keys: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
        """(key, JSON text) pairs: the asked keys that exist, in request order; all when None."""
        stored = self._settings.get(user_id, {})
        if keys is None:
            return sorted(stored.items())
        seen: set[str] = set()
        found = []
        for key in keys:
            if key in stored and key not in seen:
                seen.add(key)
                found.append((key, stored[key]))
        return found

    def alerts(self, user_id: int) -> list[Alert]:
        """The user's alerts ordered by (symbol, price)."""
        stored = self._alerts.get(user_id, {})
        return [stored[slot] for slot in sorted(stored)]

    def deposit_address(self, user_id: int, currency: str) -> DepositAddress | None:
        return self._addresses.get((user_id, currency))

    def address_owner(self, address: str) -> int | None:
        """The user an address was issued to (every address ever issued, renewed ones too)."""
        return self._address_owner.get(address)

    # -- persistence --------------------------------------------------------------------------

    def snapshot_data(self) -> dict[str, Any]:
        """Plain JSON-able data, every list sorted, so equal states give equal snapshots."""
        return {
            "settings": [
                [user_id, sorted(values.items())] for user_id, values in sorted(self._settings.items())
            ],
            "alerts": [
                [a.user_id, a.symbol, a.price, a.count]
                for user_id in sorted(self._alerts)
                for a in self.alerts(user_id)
            ],
            "addresses": [
                [a.user_id, a.currency, a.wallet, a.method, a.address, a.created_ts]
                for _, a in sorted(self._addresses.items())
            ],
            "address_owner": sorted(self._address_owner.items()),
            "address_counter": self._address_counter,
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Preferences:
        """The state ``snapshot_data`` described; an empty dict gives an empty state."""
        state = cls()
        data = {**cls().snapshot_data(), **data}  # snapshots taken before a field existed
        for user_id, values in data["settings"]:
            state._settings[int(user_id)] = {str(k): str(v) for k, v in values}
        for user_id, symbol, price, count in data["alerts"]:
            alert = Alert(int(user_id), str(symbol), int(price), int(count))
            state._alerts.setdefault(alert.user_id, {})[(alert.symbol, alert.price)] = alert
        for user_id, currency, wallet, method, address, created_ts in data["addresses"]:
            entry = DepositAddress(
                int(user_id), str(currency), str(wallet), str(method), str(address), int(created_ts)
            )
            state._addresses[(entry.user_id, entry.currency)] = entry
        for address, owner in data["address_owner"]:
            state._address_owner[str(address)] = int(owner)
        state._address_counter = int(data["address_counter"])
        return state

    def state_digest(self) -> str:
        """SHA-256 hex of the canonical snapshot: the contribution to ``Exchange.state_hash``."""
        text = json.dumps(self.snapshot_data(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _derive_address(user_id: int, currency: str, counter: int) -> str:
    """A simulated address: looks like a hex account, never collides (counter is unique)."""
    digest = hashlib.sha256(f"venue:{user_id}:{currency}:{counter}".encode()).hexdigest()
    return f"v{digest[:39]}"


def _reject(command: PreferenceCommand, request: str, code: int, text: str) -> RequestRejected:
    # RequestRejected.command is typed for core commands; preference commands travel in it too,
    # which is harmless: consumers only read code/text/user_id from a rejection.
    return RequestRejected(
        user_id=command.user_id,
        request=request,
        code=code,
        text=text,
        command=command,  # type: ignore[arg-type]
    )
