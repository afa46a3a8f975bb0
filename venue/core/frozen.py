"""Fast constructors for the events made on the hot path.

A frozen slotted dataclass's ``__init__`` sets each field through ``object.__setattr__``, a
Python-level call per field; for the events built several times per fill that is a visible
share of a command's cost (bench/RESULTS-core.md). These constructors fill the same slots
directly, positionally, in the dataclass's field order: the objects are indistinguishable from
ones made by ``__init__`` (same type, same fields, equal and immutable afterwards).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, TypeVar

from venue.core.events import (
    AccountTrade, LedgerEntryAdded, RequestCompleted, TradeExecuted, WalletChanged,
)

T = TypeVar("T")


def positional_constructor(cls: type[T]) -> Callable[..., T]:
    """A function taking every field of the frozen slotted dataclass ``cls`` positionally."""
    setters = tuple(getattr(cls, f.name).__set__ for f in fields(cls))  # type: ignore[arg-type]
    new = object.__new__
    count = len(setters)

    def construct(*values: Any) -> T:
        if len(values) != count:
            raise TypeError(f"{cls.__name__} takes {count} values, got {len(values)}")
        obj = new(cls)
        for setter, value in zip(setters, values):
            setter(obj, value)
        return obj

    return construct


new_wallet_changed = positional_constructor(WalletChanged)
new_ledger_entry = positional_constructor(LedgerEntryAdded)
new_trade_executed = positional_constructor(TradeExecuted)
new_account_trade = positional_constructor(AccountTrade)
new_request_completed = positional_constructor(RequestCompleted)
