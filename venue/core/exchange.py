"""The exchange as a deterministic state machine: ``Exchange.apply(command, seq, ts) -> events``.

Rules it keeps (design.md):
- no I/O, no clock, no randomness: ``ts`` (ms) and ``seq`` come with each command; ids come
  from counters in the state;
- never iterates in an order that depends on hashing;
- validate, then mutate: a refused command returns a lone ``RequestRejected`` and leaves no trace;
- after every command the book is not crossed, no balance or available balance is negative,
  and each order's filled + remaining = original.

This module is the contract the other layers rely on; its read methods are what the gateway and
protocol layers use to answer queries without going through the journal.
"""

from __future__ import annotations

from dataclasses import dataclass

from venue.core.commands import Command
from venue.core.events import Event
from venue.core.orders import OrderState
from venue.core.symbols import Registry

FEE_ACCOUNT_ID = 0  # the exchange's own account: fees land in its wallets


@dataclass(frozen=True, slots=True)
class UserInfo:
    user_id: int
    name: str
    email: str
    created_ts: int


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key: str
    secret: str
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


class Exchange:
    """Accounts, wallets, order books and matching for every listed market."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        raise NotImplementedError

    def apply(self, command: Command, *, seq: int, ts: int) -> list[Event]:
        """Apply one command stamped with its sequence number and time (ms); return its events."""
        raise NotImplementedError

    def state_hash(self) -> str:
        """Hex digest of the whole state; equal for equal journals in any process."""
        raise NotImplementedError

    # -- reads (no mutation) -------------------------------------------------------------------

    def user(self, user_id: int) -> UserInfo | None:
        raise NotImplementedError

    def user_by_name(self, name: str) -> UserInfo | None:
        raise NotImplementedError

    def api_key(self, key: str) -> ApiKeyInfo | None:
        raise NotImplementedError

    def wallets(self, user_id: int) -> list[WalletState]:
        """The user's wallets that ever held funds, ordered by (wallet, currency)."""
        raise NotImplementedError

    def open_orders(self, user_id: int, symbol: str | None = None) -> list[OrderState]:
        """The user's open orders (resting or pending stops), oldest first."""
        raise NotImplementedError

    def order(self, order_id: int) -> OrderState | None:
        """An open order by id, or None once it is closed or if it never existed."""
        raise NotImplementedError

    def last_price(self, symbol: str) -> int | None:
        raise NotImplementedError
