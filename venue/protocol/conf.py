"""``GET /v2/conf/{key}[,{key}…]``: configuration values derived from the registry (spec §3.9).

Invariants:
- the answer has exactly one element per requested key, in request order (Node's
  ``currencies()`` only accepts an answer with exactly 6 elements; ccxt reads its 11 keys by
  index, clients.md §3);
- every key a supported client asks for has a value of the real shape, built from the listed
  currencies and markets in config order (never hash order): pair lists without the ``t``,
  sizes in ``pub:info:pair`` as strings with a decimal point (``"4.0"``), margins as numbers or
  null; venue lists no futures, securities or inactive pairs, so those lists are empty;
- a well-formed key venue does not know (``pub:…``) answers ``null`` in its slot, so the other
  keys of the same request still arrive where the client expects them. The spec records no real
  answer for unknown keys; this is venue's choice, made so one unsupported key never breaks a
  client's whole batch. A malformed key list (empty key, not ``pub:``, odd characters, more
  than ``MAX_KEYS`` keys) is ``10020 "keys: invalid"``.

The values are computed once per registry (``ConfTable``) and reused for every request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from venue.core.numbers import to_status_text
from venue.core.symbols import Registry
from venue.protocol.errors import invalid
from venue.protocol.wire import decimal_num, num

MAX_KEYS = 50
_KEY = re.compile(r"pub:[a-z0-9_.\-]+(?::[a-z0-9_.\-]+)*")

# Deposit confirmations venue reports in pub:info:tx:status (index 11): deposits are credited by
# the operator at once, so nothing is waited for.
_CONFIRMATIONS = 0


def parse_keys(path_part: str) -> tuple[str, ...]:
    """``pub:list:pair:exchange,pub:list:currency`` → the keys, in request order."""
    keys = tuple(path_part.split(","))
    if not path_part or len(keys) > MAX_KEYS or not all(_KEY.fullmatch(k) for k in keys):
        raise invalid("keys")
    return keys


def _methods(registry: Registry) -> list[tuple[str, list[str]]]:
    """Transfer methods and the currencies each moves, in config order."""
    grouped: dict[str, list[str]] = {}
    for currency in registry.currencies:
        grouped.setdefault(currency.method, []).append(currency.code)
    return list(grouped.items())


def _margin_currencies(registry: Registry) -> list[str]:
    used = {code for m in registry.markets if m.margin for code in (m.base, m.quote)}
    return [c.code for c in registry.currencies if c.code in used]


def _pair_info(registry: Registry) -> list[Any]:
    # [PAIR, [null, null, null, MIN_ORDER_SIZE, MAX_ORDER_SIZE, null, null, null, INITIAL_MARGIN,
    #  MIN_MARGIN]] — sizes are strings with a decimal point ("4.0", "100000.0") as on the real API.
    rows = []
    for m in registry.markets:
        initial = decimal_num(m.initial_margin) if m.initial_margin is not None else None
        minimum = decimal_num(m.min_margin) if m.min_margin is not None else None
        info = [
            None,
            None,
            None,
            to_status_text(m.min_order_size),
            to_status_text(m.max_order_size),
            None,
            None,
            None,
            initial,
            minimum,
        ]
        rows.append([m.pair, info])
    return rows


def _tx_status(registry: Registry) -> list[Any]:
    # [METHOD, DEP_STATUS, WD_STATUS, null×4, PAYMENT_ID_DEP, PAYMENT_ID_WD, null, null,
    #  DEPOSIT_CONFIRMATIONS_REQUIRED] — every method active (1) in venue.
    return [
        [method, 1, 1, None, None, None, None, 0, 0, None, None, _CONFIRMATIONS]
        for method, _ in _methods(registry)
    ]


_BUILDERS: dict[str, Callable[[Registry], Any]] = {
    "pub:list:pair:exchange": lambda r: [m.pair for m in r.markets],
    "pub:list:pair:margin": lambda r: [m.pair for m in r.markets if m.margin],
    "pub:list:pair:futures": lambda r: [],
    "pub:list:pair:securities": lambda r: [],
    "pub:list:pair:exchange:inactive": lambda r: [],
    "pub:list:pair:margin:inactive": lambda r: [],
    "pub:list:currency": lambda r: [c.code for c in r.currencies],
    "pub:list:currency:margin": _margin_currencies,
    "pub:list:competitions": lambda r: [],
    # API code → display symbol, only where they differ (``UST`` → ``USDt``).
    "pub:map:currency:sym": lambda r: [
        [c.code, c.symbol] for c in r.currencies if c.symbol != c.code
    ],
    "pub:map:currency:label": lambda r: [[c.code, c.name] for c in r.currencies],
    # No unit scaling, no derivative underlyings, no token pools, no explorers in a local venue.
    "pub:map:currency:unit": lambda r: [],
    "pub:map:currency:undl": lambda r: [],
    "pub:map:currency:pool": lambda r: [],
    "pub:map:currency:explorer": lambda r: [],
    "pub:map:currency:wfx": lambda r: [],
    "pub:map:currency:tx:fee": lambda r: [
        [c.code, [0, num(c.withdrawal_fee)]] for c in r.currencies
    ],
    "pub:map:tx:method": lambda r: [[method, codes] for method, codes in _methods(r)],
    "pub:info:tx:status": _tx_status,
    "pub:info:pair": _pair_info,
    "pub:info:pair:futures": lambda r: [],
    "pub:spec:margin": lambda r: {},
    "pub:fees": lambda r: {},
}

SUPPORTED_KEYS = tuple(_BUILDERS)


class ConfTable:
    """Every supported conf value for one registry, built once."""

    __slots__ = ("_values",)

    def __init__(self, registry: Registry) -> None:
        self._values = {key: build(registry) for key, build in _BUILDERS.items()}

    def value(self, key: str) -> Any:
        """The value of one key; ``None`` for a well-formed key venue does not serve."""
        return self._values.get(key)

    def answer(self, path_part: str) -> list[Any]:
        """The response body for ``conf/{path_part}``: one element per key, in order."""
        return [self._values.get(key) for key in parse_keys(path_part)]


def conf_values(path_part: str, registry: Registry) -> list[Any]:
    """One-off form of ``ConfTable(registry).answer(path_part)`` (tests, tools)."""
    return ConfTable(registry).answer(path_part)
