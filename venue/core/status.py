"""Order status texts, composed exactly as the real exchange writes them (spec §6.3.1).

An order keeps the list of its fills ``(price, signed amount)`` in the order they happened; its
status text is a pure function of that list and of why it closed:

- open, no fill: ``ACTIVE``;
- open, filled in part: ``PARTIALLY FILLED @ P(A)``, one clause per fill in chronological order,
  joined with ``", "`` (the real exchange's multi-fill chain, as in the ``was:`` lists);
- executed: ``EXECUTED @ P(A)`` for the last fill, then ``": was "`` and the earlier fills;
- closed for a reason (``CANCELED``, ``IOC CANCELED``…): the reason alone, or the reason then
  ``" was: "`` and the fills (``CANCELED was: PARTIALLY FILLED @ 6600.2(0.02799232)``).

Numbers inside status texts keep a ``.0`` on integral values (``16571.0(-1.0)``).
"""

from __future__ import annotations

from collections.abc import Sequence

from venue.core.numbers import to_status_text

ACTIVE = "ACTIVE"
EXECUTED = "EXECUTED"
CANCELED = "CANCELED"
POSTONLY_CANCELED = "POSTONLY CANCELED"
IOC_CANCELED = "IOC CANCELED"
FILLORKILL_CANCELED = "FILLORKILL CANCELED"
# A triggered stop that can no longer be paid for (spec §6.3.1: "rejected: no tradable balance").
INSUFFICIENT_BALANCE = "INSUFFICIENT BALANCE (U1)"

Fill = tuple[int, int]  # (price raw, signed amount raw)


def fill_text(fill: Fill) -> str:
    """``16680.0(0.91)``: one fill as written inside a status."""
    price, amount = fill
    return f"{to_status_text(price)}({to_status_text(amount)})"


def _partials(fills: Sequence[Fill]) -> str:
    return ", ".join(f"PARTIALLY FILLED @ {fill_text(f)}" for f in fills)


def open_status(fills: Sequence[Fill]) -> str:
    """Status of an order that is still open."""
    return _partials(fills) if fills else ACTIVE


def executed_status(fills: Sequence[Fill]) -> str:
    """Status of an order whose last fill completed it (``fills`` is never empty)."""
    text = f"EXECUTED @ {fill_text(fills[-1])}"
    if len(fills) > 1:
        text += ": was " + _partials(fills[:-1])
    return text


def closed_status(reason: str, fills: Sequence[Fill]) -> str:
    """Status of an order closed for ``reason`` before it was fully executed."""
    return f"{reason} was: {_partials(fills)}" if fills else reason


# -- incremental forms (the engine keeps an open order's status text up to date fill by fill) --

PARTIAL = "PARTIALLY FILLED @ "  # the clause of one fill: PARTIAL + fill_text(fill)


def extend_open(text: str, clause: str, first: bool) -> str:
    """``open_status(fills)`` given ``text`` = ``open_status(fills[:-1])`` and the new last
    fill's ``clause`` (``PARTIAL + fill_text(fill)``); ``first``: it is the only fill."""
    return clause if first else f"{text}, {clause}"


def final_status(reason: str | None, fills: Sequence[Fill], text: str | None) -> str:
    """``executed_status(fills)`` (``reason`` None) or ``closed_status(reason, fills)``, given
    ``text`` = ``open_status(fills)`` when known (None: computed from ``fills``)."""
    if text is None or not fills:
        return executed_status(fills) if reason is None else closed_status(reason, fills)
    if reason is not None:
        return f"{reason} was: {text}"
    # text = [partials of the earlier fills + ", "] + PARTIAL + fill_text(last fill); a fill
    # text holds only digits, ".", "-", "(" and ")", so the last PARTIAL starts the last clause
    earlier, _, last = text.rpartition(PARTIAL)
    if not earlier:
        return f"EXECUTED @ {last}"
    return f"EXECUTED @ {last}: was {earlier[:-2]}"
