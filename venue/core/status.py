"""Order status texts, composed exactly as the real exchange writes them (spec §6.3.1).

An order keeps the list of its fills ``(price, signed amount)`` in the order they happened; its
status text is a pure function of that list and of why it closed:

- open, no fill: ``ACTIVE``;
- open, filled in part: ``PARTIALLY FILLED @ P(A)`` for the last fill, then, after a second
  fill, ``": was "`` and the earlier fills in chronological order — the same shape as the
  executed form (a real chain: ``PARTIALLY FILLED @ 1.6517(6.0): was PARTIALLY FILLED @
  1.65(6.0)``, then ``EXECUTED @ 1.6518(1.0): was PARTIALLY FILLED @ 1.65(6.0), PARTIALLY FILLED
  @ 1.6517(6.0), PARTIALLY FILLED @ 1.6517(6.0)``);
- executed: ``EXECUTED @ P(A)`` for the last fill, then ``": was "`` and the earlier fills;
- closed for a reason (``CANCELED``, ``IOC CANCELED``…): the reason alone, or the reason then
  ``" was: "`` and every fill in chronological order
  (``CANCELED was: PARTIALLY FILLED @ 6600.2(0.02799232)``).

A fill text holds only digits, ``.``, ``-``, ``(`` and ``)``, so the first ``": was "`` of a
text always ends its leading clause (the incremental forms below rely on it).

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
    if not fills:
        return ACTIVE
    text = f"{PARTIAL}{fill_text(fills[-1])}"
    if len(fills) > 1:
        text += ": was " + _partials(fills[:-1])
    return text


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
    if first:
        return clause
    # text = PARTIAL + last fill [+ ": was " + earlier fills]: the old last fill joins the list
    head, sep, earlier = text.partition(_WAS)
    return f"{clause}{_WAS}{earlier}, {head}" if sep else f"{clause}{_WAS}{head}"


def final_status(reason: str | None, fills: Sequence[Fill], text: str | None) -> str:
    """``executed_status(fills)`` (``reason`` None) or ``closed_status(reason, fills)``, given
    ``text`` = ``open_status(fills)`` when known (None: computed from ``fills``)."""
    if text is None or not fills:
        return executed_status(fills) if reason is None else closed_status(reason, fills)
    if reason is None:  # the open text with its leading PARTIALLY FILLED made EXECUTED
        return f"EXECUTED @ {text[len(PARTIAL):]}"
    head, sep, earlier = text.partition(_WAS)
    return f"{reason} was: {earlier}, {head}" if sep else f"{reason} was: {head}"


_WAS = ": was "
