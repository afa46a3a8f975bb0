"""Users, API keys and wallets; every balance change goes through here and leaves a ledger line.

Invariants kept (checked by tests/core after every command):
- a wallet is keyed by (user id, wallet type, currency); it exists once it was first credited;
- ``hold`` of a wallet is the sum of the holds of the user's open orders on it;
- ``balance >= 0`` and ``available = balance - hold >= 0`` (callers validate before mutating);
- every change of a balance appends one ``LedgerEntryAdded`` whose ``balance`` is the balance
  right after that change;
- per currency, the sum of all balances (fee account included) changes only by deposits and
  withdrawals.

A ``Batch`` collects what one command (or one op of a multi-op) did to wallets: the ledger lines
in the order they happened and the wallets touched, so that ``flush`` emits one
``WalletChanged`` per wallet with its final state, then the ledger lines (events.py order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from venue.core.events import Event, LedgerEntryAdded
from venue.core.frozen import new_ledger_entry, new_wallet_changed

WalletKey = tuple[int, str, str]  # (user id, wallet type, currency)


class Wallet:
    """Mutable balance and hold of one wallet (internal; readers get ``WalletState`` copies)."""

    __slots__ = ("balance", "hold")

    def __init__(self, balance: int = 0, hold: int = 0) -> None:
        self.balance = balance
        self.hold = hold


@dataclass(slots=True)
class User:
    user_id: int
    name: str
    email: str
    created_ts: int


@dataclass(slots=True)
class ApiKey:
    key: str
    secret: str = field(repr=False)  # never in a log line
    user_id: int
    permissions: tuple[tuple[str, bool, bool], ...]
    created_ts: int
    label: str
    revoked: bool = False


class Batch:
    """What one command did, gathered for emission in events.py order."""

    __slots__ = ("ts", "events", "touched", "ledger")

    def __init__(self, ts: int) -> None:
        self.ts = ts
        self.events: list[Event] = []
        # insertion-ordered: the first touch fixes the wallet's place in the WalletChanged list
        self.touched: dict[WalletKey, str | None] = {}
        self.ledger: list[LedgerEntryAdded] = []


class Accounts:
    """The state of all accounts. Ids come from counters; iteration is insertion or sorted order."""

    __slots__ = ("users", "names", "keys", "wallets", "by_user", "next_user_id",
                 "next_ledger_id", "next_movement_id")

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.names: dict[str, int] = {}
        self.keys: dict[str, ApiKey] = {}
        self.wallets: dict[WalletKey, Wallet] = {}
        self.by_user: dict[int, list[WalletKey]] = {}  # each user's wallet keys, creation order
        self.next_user_id = 1  # 0 is the fee account (exchange.FEE_ACCOUNT_ID)
        self.next_ledger_id = 1
        self.next_movement_id = 1

    # -- reads ---------------------------------------------------------------------------------

    def available(self, user_id: int, wallet: str, currency: str) -> int:
        w = self.wallets.get((user_id, wallet, currency))
        return 0 if w is None else w.balance - w.hold

    def balance(self, user_id: int, wallet: str, currency: str) -> int:
        w = self.wallets.get((user_id, wallet, currency))
        return 0 if w is None else w.balance

    # -- changes -------------------------------------------------------------------------------

    def open_wallet(self, key: WalletKey, balance: int = 0) -> Wallet:
        """Create the wallet ``key`` (it did not exist)."""
        w = self.wallets[key] = Wallet(balance)
        self.by_user.setdefault(key[0], []).append(key)
        return w

    def change(
        self,
        batch: Batch,
        user_id: int,
        wallet: str,
        currency: str,
        amount: int,
        description: str,
        category: int,
    ) -> None:
        """Add ``amount`` (signed) to a balance and record the ledger line."""
        key = (user_id, wallet, currency)
        w = self.wallets.get(key)
        if w is None:
            w = self.open_wallet(key)
        w.balance += amount
        entry_id = self.next_ledger_id
        self.next_ledger_id = entry_id + 1
        batch.ledger.append(new_ledger_entry(entry_id, user_id, currency, wallet, batch.ts,
                                             amount, w.balance, description, category))
        batch.touched[key] = description

    def change_hold(self, batch: Batch, user_id: int, currency: str, amount: int) -> None:
        """Add ``amount`` (signed) to the hold of a user's exchange wallet (orders hold there)."""
        if not amount:
            return
        key = (user_id, "exchange", currency)
        w = self.wallets.get(key)
        if w is None:
            w = self.open_wallet(key)
        w.hold += amount
        if key not in batch.touched:
            batch.touched[key] = None

    def flush(self, batch: Batch) -> None:
        """Emit one WalletChanged per touched wallet (final state), then the ledger lines."""
        events = batch.events
        wallets = self.wallets
        for key, description in batch.touched.items():
            w = wallets[key]
            events.append(new_wallet_changed(key[0], key[1], key[2], w.balance,
                                             w.balance - w.hold, description))
        events.extend(batch.ledger)
        batch.touched = {}
        batch.ledger = []
