"""Request fields and answer arrays specific to the authenticated account endpoints (spec §4.2).

Order, trade, wallet, ledger, movement and notification arrays live in ``serialize.py``; this
module holds what only the account endpoints need: body field readers for history queries,
transfers, withdrawals, settings and alerts, and the user-info, summary, settings and alert
arrays.

Rules kept:
- every reader returns a value or raises ``ProtocolError(10020, "<field>: invalid")``; numbers
  are accepted as JSON numbers or numeric strings (spec §1); booleans are never numbers except
  where bfxapi sends them as 0/1;
- arrays keep the spec's lengths with ``null`` placeholders (user info ≥ 55 elements, §6.12);
- money goes through ``wire.num`` (shortest digits), fee rates through ``wire.decimal_num``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from venue.core.exchange import UserInfo
from venue.core.numbers import NumberError, parse_amount, parse_price
from venue.core.preferences import SETTING_KEY, Alert, canonical_json
from venue.core.symbols import Registry
from venue.protocol.errors import Code, ProtocolError, invalid
from venue.protocol.orders import int_field
from venue.protocol.wire import decimal_num, loads, num

Body = dict[str, Any]

# spec §2.4: auth history endpoints take at most 2500 rows; Node's default for ledgers and
# movements is 25, which venue uses for every auth history list.
HISTORY_DEFAULT_LIMIT = 25
HISTORY_MAX_LIMIT = 2500
USER_INFO_LENGTH = 55
# Integers go into SQLite queries (64-bit signed): anything larger is bad input, not a store error.
MAX_INT = (1 << 63) - 1
# Timestamps (ms): JS MAX_SAFE_INTEGER, as for nonces (spec §4.1) — clients compute them in JS doubles.
MAX_MTS = 9_007_199_254_740_991

# spec §4.2 auth/w/transfer: wallets exchange/margin/funding, legacy labels trading/deposit.
WALLET_ALIASES = {
    "exchange": "exchange",
    "margin": "margin",
    "trading": "margin",
    "funding": "funding",
    "deposit": "funding",
}


def parse_body(raw: bytes) -> Body:
    """The JSON object of a request body; an empty body is ``{}`` (bfxapi sends none, §4.1)."""
    if not raw.strip():
        return {}
    body = loads(raw, what="input")
    if not isinstance(body, dict):
        raise ProtocolError(Code.PARAMS, "input: invalid")
    return body


def _present(body: Body, field: str) -> bool:
    return body.get(field) is not None


def opt_int(body: Body, field: str, *, low: int = 0, high: int = MAX_INT) -> int | None:
    """An integer field (number or decimal string) within [low, high], or None when absent.

    Unlike order fields, booleans count as 0/1 here: flags such as ``op_renew`` arrive either way.
    """
    if not _present(body, field):
        return None
    value = body[field]
    return int_field(int(value) if isinstance(value, bool) else value, field, low=low, high=min(high, MAX_INT))


def req_str(body: Body, field: str, *, max_len: int = 128) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise invalid(field)
    return value.strip()


def opt_str(body: Body, field: str, *, max_len: int = 256) -> str | None:
    if not _present(body, field):
        return None
    value = body[field]
    if not isinstance(value, str) or len(value) > max_len:
        raise invalid(field)
    return value


def req_amount(body: Body, field: str = "amount") -> int:
    """A strictly positive amount (raw), rounded to 8 decimals."""
    if not _present(body, field):
        raise invalid(field)
    try:
        raw = parse_amount(body[field])
    except NumberError as exc:
        raise invalid(field) from exc
    if raw <= 0:
        raise invalid(field)
    return raw


def req_price(body: Body, field: str = "price") -> int:
    """A strictly positive price (raw), cut to 5 significant digits (§2.2)."""
    if not _present(body, field):
        raise invalid(field)
    try:
        raw = parse_price(body[field])
    except NumberError as exc:
        raise invalid(field) from exc
    if raw <= 0:
        raise invalid(field)
    return raw


def symbol(registry: Registry, value: object, field: str = "symbol") -> str:
    """A listed trading symbol, else ``symbol: invalid``."""
    if not isinstance(value, str) or registry.market(value) is None:
        raise invalid(field)
    return value


def currency(registry: Registry, value: object, field: str = "currency") -> str:
    if not isinstance(value, str) or not registry.has_currency(value):
        raise invalid(field)
    return value


def wallet(value: object, field: str) -> str:
    """A wallet name, legacy labels mapped (``trading`` → ``margin``)."""
    if not isinstance(value, str) or value.lower() not in WALLET_ALIASES:
        raise invalid(field)
    return WALLET_ALIASES[value.lower()]


def currency_of_method(registry: Registry, value: object, field: str = "method") -> str:
    """The currency a deposit/withdrawal method names: ``bitcoin`` → BTC (registry ``method``),
    or a currency code itself. Methods shared by several currencies (``WIRE``) are refused:
    no address can be given for them."""
    if not isinstance(value, str) or not value:
        raise invalid(field)
    wanted = value.upper()
    matches = [c.code for c in registry.currencies if c.method.upper() == wanted]
    if len(matches) == 1:
        return matches[0]
    if not matches and registry.has_currency(wanted):
        return wanted
    raise invalid(field)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """``start``/``end`` (ms, inclusive), ``limit``, ``sort`` (1 oldest first, -1 newest first)."""

    start: int | None
    end: int | None
    limit: int
    sort: int


def history_query(body: Body, *, default_limit: int = HISTORY_DEFAULT_LIMIT) -> HistoryQuery:
    """The §2.4 history parameters from an auth body (bfxapi sends start/end as strings)."""
    start = opt_int(body, "start", high=MAX_MTS)
    end = opt_int(body, "end", high=MAX_MTS)
    limit = opt_int(body, "limit", low=1, high=HISTORY_MAX_LIMIT)
    sort = opt_int(body, "sort", low=-1, high=1)
    if start is not None and end is not None and start > end:
        raise invalid("start")
    return HistoryQuery(
        start=start,
        end=end,
        limit=default_limit if limit is None else limit,
        sort=-1 if not sort else sort,
    )


def id_list(body: Body, field: str = "id") -> tuple[int, ...] | None:
    """An optional list of positive ids (numbers or strings), or None when absent."""
    if not _present(body, field):
        return None
    value = body[field]
    if not isinstance(value, list) or len(value) > 1000:
        raise invalid(field)
    ids = []
    for item in value:
        number = opt_int({field: item}, field, low=1)
        if number is None:
            raise invalid(field)
        ids.append(number)
    return tuple(ids)


def setting_keys(body: Body, field: str = "keys") -> tuple[str, ...]:
    """Setting keys from a list (``{"keys":[…]}``/``{"settings":[…]}``) or an object's keys
    (``{"settings":{"api:a":1}}``, the 2018 changelog form), each ``^api:[A-Za-z0-9_-]*$``."""
    value = body.get(field)
    if isinstance(value, dict):
        keys = list(value)
    elif isinstance(value, list):
        keys = value
    else:
        raise invalid(field)
    if len(keys) > 256 or not all(isinstance(k, str) and SETTING_KEY.match(k) for k in keys):
        raise invalid(field)
    return tuple(keys)


def setting_values(body: Body) -> tuple[tuple[str, str], ...]:
    """``{"settings":{"api:k":VALUE,…}}`` → (key, canonical JSON text) pairs."""
    value = body.get("settings")
    if not isinstance(value, dict) or not value or len(value) > 256:
        raise invalid("settings")
    pairs = []
    for key, item in value.items():
        if not SETTING_KEY.match(key):
            raise invalid("settings")
        pairs.append((key, canonical_json(item)))
    return tuple(pairs)


def alert_key(key: str) -> tuple[str, str]:
    """``price:tBTCUSD:20000`` (path form of alert deletion) → (symbol, price text)."""
    kind, _, rest = key.partition(":")
    sym, _, price = rest.rpartition(":")
    if kind != "price" or not sym or not price:
        raise invalid("key")
    return sym, price


# -- answers --------------------------------------------------------------------------------


def settings_rows(pairs: list[tuple[str, str]]) -> list[list[Any]]:
    """``[[KEY, VALUE], …]`` with each value decoded back from its stored JSON text."""
    return [[key, loads(text)] for key, text in pairs]


def alert_row(alert: Alert) -> list[Any]:
    """``[KEY, "price", SYMBOL, PRICE, COUNTDOWN]`` (§4.2 auth/r/alerts)."""
    return [alert.key, "price", alert.symbol, num(alert.price), alert.count]


def user_info(user: UserInfo) -> list[Any]:
    """The USER_INFO array, 55 elements (bfxapi 4.0.0 labels, spec §6.12).

    venue has no verification, groups or 2FA: such flags carry the values of a plain verified
    master account (the [jkorf] sample), the rest are null placeholders.
    """
    row: list[Any] = [None] * USER_INFO_LENGTH
    row[0] = user.user_id
    row[1] = user.email or f"{user.name}@venue.local"
    row[2] = user.name
    row[3] = user.created_ts
    row[4] = 1  # VERIFIED
    row[5] = 0  # VERIFICATION_LEVEL
    row[7] = "UTC"  # TIMEZONE
    row[8] = "en"  # LOCALE
    row[9] = "venue"  # COMPANY
    row[10] = 1  # EMAIL_VERIFIED
    row[14] = user.created_ts  # MTS_MASTER_ACCOUNT_CREATE
    row[16] = user.user_id  # MASTER_ACCOUNT_ID
    row[17] = 1  # INHERIT_MASTER_ACCOUNT_VERIFICATION
    row[18] = 1  # IS_GROUP_MASTER
    row[19] = 1  # GROUP_WITHDRAW_ENABLED
    row[22] = 0
    row[26] = []  # 2FA_MODES
    row[28] = 0
    row[38] = 0
    row[39] = 0
    row[54] = 0  # IS_MERCHANT_ENTERPRISE
    return row


def _rate(ppm: int) -> Any:
    return decimal_num(Decimal(ppm) / 1_000_000)


def summary(maker_fee_ppm: int, taker_fee_ppm: int) -> list[Any]:
    """``auth/r/summary`` (§4.2): fee rates; volumes and earnings are zero (not tracked)."""
    maker = _rate(maker_fee_ppm)
    taker = _rate(taker_fee_ppm)
    volume = {
        "curr": "Total (USD)",
        "vol": 0,
        "vol_safe": 0,
        "vol_maker": 0,
        "vol_BFX": 0,
        "vol_BFX_safe": 0,
        "vol_BFX_maker": 0,
    }
    return [
        None,
        None,
        None,
        None,
        [[maker, maker, maker, None, None, 0], [taker, taker, taker, None, None, taker]],
        [[volume], {}, 0],
        [None, {}, 0],
        None,
        None,
        {"leo_lev": 0, "leo_amount_avg": 0},
    ]
