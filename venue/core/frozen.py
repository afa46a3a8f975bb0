"""Fast constructors for the frozen slotted dataclasses made on the hot path.

A frozen slotted dataclass's ``__init__`` sets each field through ``object.__setattr__``, a
Python-level call per field; for the events built several times per fill that was the largest
share of a command's cost (bench/RESULTS-core.md). The constructors here build the object as an
instance of a private *twin* class with the very same ``__slots__`` (plain attribute stores,
which CPython specialises), then retype it with ``__class__`` assignment, which CPython allows
between classes of identical slot layout. The result is indistinguishable from an object made
by ``__init__``: same type, same fields, equal, same ``repr``, frozen afterwards
(tests/core/test_frozen.py).

``slot_twin(cls)`` gives the twin for code that fills the slots itself (``Order.state``).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, TypeVar

from venue.core.events import (
    AccountTrade, LedgerEntryAdded, OrderAccepted, OrderClosed, OrderUpdated, RequestCompleted,
    TradeExecuted, WalletChanged,
)

T = TypeVar("T")


def slot_twin(cls: type) -> type:
    """A plain (mutable) class with exactly the slots of the slotted dataclass ``cls``."""
    names = tuple(f.name for f in fields(cls))
    if tuple(getattr(cls, "__slots__", ())) != names:
        raise TypeError(f"{cls.__name__}: slots do not match its fields")
    twin = type(f"_{cls.__name__}Slots", (), {"__slots__": names, "__module__": __name__})
    probe: Any = object.__new__(twin)
    probe.__class__ = cls  # raises TypeError if the layouts were not compatible
    return twin


def _setter_constructor(cls: type[T]) -> Callable[..., T]:
    """Fallback: fill the slots of a fresh ``cls`` through its member descriptors."""
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


def positional_constructor(cls: type[T]) -> Callable[..., T]:
    """A function taking every field of the frozen slotted dataclass ``cls`` positionally."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    try:
        twin = slot_twin(cls)
    except TypeError:  # pragma: no cover - an interpreter without __class__ assignment
        return _setter_constructor(cls)
    # The field names are the parameters; the helpers' names start with "_" so no field
    # (dataclass fields here never do) can shadow them.
    assert not any(n.startswith("_") for n in names)
    body = "".join(f"    _obj.{n} = {n}\n" for n in names)
    source = (f"def construct({', '.join(names)}):\n    _obj = _new(_twin)\n{body}"
              f"    _obj.__class__ = _cls\n    return _obj\n")
    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    exec(source, namespace)  # noqa: S102 - source built from the dataclass's own field names
    construct: Callable[..., T] = namespace["construct"]
    construct.__qualname__ = construct.__name__ = f"new_{cls.__name__}"
    return construct


new_wallet_changed = positional_constructor(WalletChanged)
new_ledger_entry = positional_constructor(LedgerEntryAdded)
new_trade_executed = positional_constructor(TradeExecuted)
new_account_trade = positional_constructor(AccountTrade)
new_request_completed = positional_constructor(RequestCompleted)
new_order_accepted = positional_constructor(OrderAccepted)
new_order_updated = positional_constructor(OrderUpdated)
new_order_closed = positional_constructor(OrderClosed)
