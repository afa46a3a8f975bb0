"""Order inputs (spec §4.3, §4.2 orders table, §8.3) → ``venue.core.commands``.

One parser per input, shared by REST bodies and WS payloads: REST ``auth/w/order/submit`` and WS
``on``, ``order/update``/``ou``, ``order/cancel``/``oc``, ``order/cancel/multi``/``oc_multi``,
``order/multi`` (``{"ops": […]}``) / WS ``ox_multi`` (the list itself).

Rules kept:
- the result is a command or a ``ProtocolError``; never another exception. A missing or
  unreadable field is ``ProtocolError(10020, "<field>: invalid")``; unknown extra fields are
  ignored (Node sends ``meta: {}``, bfxapi sends what the caller passed);
- numbers may arrive as JSON numbers or numeric strings (§1, §4.3); amounts are rounded to 8
  decimals and prices cut to 5 significant digits here, once (``core.numbers``);
- only the *shape* of a request is judged here; whether the symbol is listed, the size big
  enough, the balance sufficient, the order one's own — the core decides and answers with a
  rejection event, so REST and WS get the same business texts;
- ``user_id`` always comes from the caller (the authenticated key), never from the input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from venue.core.commands import (
    CancelOrder,
    CancelOrders,
    MultiOp,
    OrderOp,
    SubmitOrder,
    UpdateOrder,
)
from venue.core.numbers import NumberError, parse_amount, parse_price
from venue.core.orders import OrderType
from venue.protocol.errors import TEXT_INPUT_INVALID, Code, ProtocolError, invalid

MAX_MULTI_OPS = 75  # §4.2 auth/w/order/multi
MAX_CANCEL_IDS = 1000  # not in the spec; bounds the work one request can ask for
INT45_LIMIT = 1 << 45  # gid and cid are int45 (§4.3)
MAX_LEVERAGE = 100

# Order types whose PRICE is required (§4.3: the limit price, or the trigger for stops).
_PRICED_KINDS = frozenset({"LIMIT", "STOP", "STOP LIMIT", "FOK", "IOC"})
_META_KEYS = ("aff_code", "make_visible", "protect_selfmatch")
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,19}")
MAX_ID = (1 << 63) - 1

Payload = dict[str, Any]


def _payload(value: object) -> Payload:
    if not isinstance(value, dict):
        raise ProtocolError(Code.PARAMS, TEXT_INPUT_INVALID)
    return value


def _present(payload: Payload, field: str) -> bool:
    # bfxapi drops null keys and Node never sends them, but a null must still mean "absent".
    return payload.get(field) is not None


# Parsed numeric *strings*, per parser: clients repeat the same amounts and prices (a bot
# quotes a handful of levels), and Decimal parsing is most of the cost of an order input.
# Only str keys: True == 1 == 1.0 as dict keys, but they do not parse alike. Both parsers are
# pure, only successes are kept, and the tables are emptied when full (bounded memory).
_PARSED_MAX = 65_536
_PARSED: dict[Callable[[object], int], dict[str, int]] = {parse_amount: {}, parse_price: {}}


def _number(payload: Payload, field: str, parse: Callable[[object], int]) -> int:
    value = payload.get(field)
    if type(value) is str:
        table = _PARSED.get(parse)
        if table is not None:
            raw = table.get(value)
            if raw is None:
                try:
                    raw = parse(value)
                except (NumberError, ArithmeticError):
                    raise invalid(field) from None
                if len(table) >= _PARSED_MAX:
                    table.clear()
                table[value] = raw
            return raw
    try:
        return parse(payload[field])
    # core.numbers lets decimal.InvalidOperation (an ArithmeticError) escape for values beyond
    # Decimal's 28-digit context, e.g. 1e20; that is bad input too, not a crash.
    except (KeyError, NumberError, ArithmeticError):
        raise invalid(field) from None


def _opt_number(payload: Payload, field: str, parse: Callable[[object], int]) -> int | None:
    return _number(payload, field, parse) if _present(payload, field) else None


def int_field(value: object, field: str, *, low: int = 0, high: int | None = None) -> int:
    """An integer field: a JSON integer or a string of digits (bools are not numbers)."""
    if isinstance(value, bool):
        raise invalid(field)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise invalid(field)
    if number < low or (high is not None and number > high):
        raise invalid(field)
    return number


def _opt_int(payload: Payload, field: str, *, low: int = 0, high: int | None = None) -> int | None:
    return int_field(payload[field], field, low=low, high=high) if _present(payload, field) else None


def _opt_id45(payload: Payload, field: str) -> int | None:
    return _opt_int(payload, field, high=INT45_LIMIT - 1)


def parse_tif(value: object) -> int:
    """``"YYYY-MM-DD HH:MM:SS"`` (UTC) or, on WS, a bare date ``"YYYY-MM-DD"`` → ms (§4.3, §8.3)."""
    if not isinstance(value, str) or not value.isascii():  # strptime also reads "٢٠٣٠" as 2030
        raise invalid("tif")
    text = value.strip()
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
        return int(moment.timestamp()) * 1000
    raise invalid("tif")


def parse_cid_date(value: object, field: str = "cid_date") -> str:
    """A cid's UTC day, ``"YYYY-MM-DD"``, checked to be a real date and returned as given."""
    # ASCII only: strptime also reads other digits ("２０２６-12-03"), which no cid date equals
    if not isinstance(value, str) or not value.isascii():
        raise invalid(field)
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise invalid(field) from None
    if len(value) != 10:
        raise invalid(field)
    return value


def _opt_tif(payload: Payload) -> int | None:
    return parse_tif(payload["tif"]) if _present(payload, "tif") else None


MAX_AFF_CODE = 64  # affiliate codes are short tokens; the bound keeps journal records small


def _meta(payload: Payload) -> dict[str, Any] | None:
    """The meta keys venue keeps (§4.3): ``aff_code`` (a string, reported back in the order's
    META), ``make_visible`` and ``protect_selfmatch`` (0/1 as a number, string or bool, kept
    as an int). Other keys are dropped; a kept key with another shape is ``meta: invalid``."""
    if not _present(payload, "meta"):
        return None
    meta = payload["meta"]
    if not isinstance(meta, dict):
        raise invalid("meta")
    kept: dict[str, Any] = {}
    for key in _META_KEYS:
        value = meta.get(key)
        if value is None:
            continue
        if key == "aff_code":
            if not isinstance(value, str) or len(value) > MAX_AFF_CODE:
                raise invalid("meta")
            kept[key] = value
        else:
            kept[key] = int(value) if isinstance(value, bool) else int_field(value, "meta", high=1)
    return kept or None


_ORDER_TYPES = {t.value: t for t in OrderType}  # a dict lookup is ~10x cheaper than Enum(value)
_PRICED_TYPES = frozenset(t for t in OrderType if t.base_kind in _PRICED_KINDS)


def _order_type(payload: Payload) -> OrderType:
    value = payload.get("type")
    order_type = _ORDER_TYPES.get(value) if isinstance(value, str) else None
    if order_type is None:
        raise invalid("type")
    return order_type


def _symbol(payload: Payload) -> str:
    # Only the shape: a trading symbol (``t…``). Whether it is listed is the core's answer.
    value = payload.get("symbol")
    if not isinstance(value, str) or len(value) < 2 or not value.startswith("t") or len(value) > 40:
        raise invalid("symbol")
    return value


_COMMON_KEYS = frozenset({"type", "symbol", "amount", "price", "cid", "gid", "flags"})


def parse_submit(payload: object, *, user_id: int, now_ms: int) -> SubmitOrder:
    """A REST submit body or WS ``on`` payload → ``SubmitOrder``.

    ``price`` is required for limit-like and stop types and ignored for market and trailing
    types; ``price_aux_limit`` is required for STOP LIMIT, ``price_trailing`` for TRAILING STOP,
    ``price_oco_stop`` when the OCO flag (16384) is set. ``now_ms`` is the command's time; it is
    part of the signature so every parser is called alike (tif is absolute, nothing defaults
    from it today).
    """
    del now_ms
    body = _payload(payload)
    order_type = _order_type(body)
    symbol = _symbol(body)
    amount = _number(body, "amount", parse_amount)
    kind = order_type.base_kind
    price: int | None
    if order_type in _PRICED_TYPES:
        price = _number(body, "price", parse_price)
    else:
        # MARKET ignores price (§6.1); TRAILING STOP moves by price_trailing. A garbage value
        # is still an error: a client that sent one meant something by it.
        price = _opt_number(body, "price", parse_price)
        if kind == "MARKET":
            price = None
    # The usual input carries only type, symbol, amount, price, cid, gid and flags: the other
    # fields are then absent (None) and their parsers are skipped; the checks below run in the
    # same order either way, so the same field is named.
    extra = not _COMMON_KEYS.issuperset(body)
    price_aux_limit = _opt_number(body, "price_aux_limit", parse_price) if extra else None
    if kind == "STOP LIMIT" and price_aux_limit is None:
        raise invalid("price_aux_limit")
    price_trailing = _opt_number(body, "price_trailing", parse_price) if extra else None
    if kind == "TRAILING STOP" and price_trailing is None:
        raise invalid("price_trailing")
    flags = _opt_int(body, "flags", high=(1 << 31) - 1) or 0
    price_oco_stop = _opt_number(body, "price_oco_stop", parse_price) if extra else None
    if flags & 16384 and price_oco_stop is None:
        raise invalid("price_oco_stop")
    return SubmitOrder(
        user_id=user_id,
        symbol=symbol,
        type=order_type,
        amount=amount,
        price=price,
        flags=flags,
        group_id=_opt_id45(body, "gid"),
        client_order_id=_opt_id45(body, "cid"),
        price_trailing=price_trailing,
        price_aux_limit=price_aux_limit,
        price_oco_stop=price_oco_stop,
        client_order_id_oco=_opt_id45(body, "cid_oco") if extra else None,
        tif_ts=_opt_tif(body) if extra else None,
        leverage=_opt_int(body, "lev", low=1, high=MAX_LEVERAGE) if extra else None,
        meta=_meta(body) if extra else None,
    )


def parse_update(payload: object, *, user_id: int, now_ms: int) -> UpdateOrder:
    """A REST update body or WS ``ou`` payload → ``UpdateOrder`` (``id`` required).

    ``amount`` sets the new remaining amount, ``delta`` adds to it (§8.3); ``cid_date`` in the
    input only qualifies ``cid`` and is not needed to change it.
    """
    del now_ms
    body = _payload(payload)
    if not _present(body, "id"):
        raise invalid("id")
    return UpdateOrder(
        user_id=user_id,
        order_id=int_field(body["id"], "id", low=1, high=MAX_ID),
        amount=_opt_number(body, "amount", parse_amount),
        delta=_opt_number(body, "delta", parse_amount),
        price=_opt_number(body, "price", parse_price),
        price_aux_limit=_opt_number(body, "price_aux_limit", parse_price),
        price_trailing=_opt_number(body, "price_trailing", parse_price),
        flags=_opt_int(body, "flags", high=(1 << 31) - 1),
        group_id=_opt_id45(body, "gid"),
        client_order_id=_opt_id45(body, "cid"),
        tif_ts=_opt_tif(body),
        leverage=_opt_int(body, "lev", low=1, high=MAX_LEVERAGE),
        meta=_meta(body),
    )


def parse_cancel(payload: object, *, user_id: int, now_ms: int) -> CancelOrder:
    """``{id}`` or ``{cid, cid_date}`` → ``CancelOrder``. A cid without its date is an error
    (§4.2: the cid is only unique within its UTC day)."""
    del now_ms
    body = _payload(payload)
    if _present(body, "id"):
        return CancelOrder(user_id=user_id, order_id=int_field(body["id"], "id", low=1, high=MAX_ID))
    if _present(body, "cid"):
        cid = int_field(body["cid"], "cid", high=INT45_LIMIT - 1)
        if not _present(body, "cid_date"):
            raise invalid("cid_date")
        return CancelOrder(
            user_id=user_id, client_order_id=cid, client_order_date=parse_cid_date(body["cid_date"])
        )
    raise invalid("id")


def _id_list(value: object, field: str, *, low: int) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_CANCEL_IDS:
        raise invalid(field)
    return tuple(int_field(item, field, low=low, high=MAX_ID) for item in items)


def _cid_list(value: object) -> tuple[tuple[int, str], ...]:
    if not isinstance(value, list) or len(value) > MAX_CANCEL_IDS:
        raise invalid("cid")
    pairs = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise invalid("cid")
        pairs.append((int_field(item[0], "cid", high=INT45_LIMIT - 1), parse_cid_date(item[1])))
    return tuple(pairs)


def parse_cancel_multi(payload: object, *, user_id: int, now_ms: int) -> CancelOrders:
    """``{id:[…]}``, ``{gid:[…]}``, ``{cid:[[CID,"YYYY-MM-DD"],…]}`` or ``{all:1}`` → CancelOrders.

    The selectors may be combined; ``all`` accepts 0/1 as a number or string, or a JSON bool
    (bfxapi sends bools as 0/1).
    """
    del now_ms
    body = _payload(payload)
    everything = False
    if _present(body, "all"):
        flag = body["all"]
        # 1 as a number, a string (§1: numbers may arrive as strings) or JSON true.
        everything = bool(int(flag) if isinstance(flag, bool) else int_field(flag, "all", high=1))
    order_ids = _id_list(body["id"], "id", low=1) if _present(body, "id") else ()
    group_ids = _id_list(body["gid"], "gid", low=0) if _present(body, "gid") else ()
    client_ids = _cid_list(body["cid"]) if _present(body, "cid") else ()
    if not (everything or order_ids or group_ids or client_ids):
        raise invalid("id")
    return CancelOrders(
        user_id=user_id,
        order_ids=order_ids,
        group_ids=group_ids,
        client_order_ids=client_ids,
        all=everything,
    )


_OP_PARSERS: dict[str, Callable[..., OrderOp]] = {
    "on": parse_submit,
    "ou": parse_update,
    "oc": parse_cancel,
    "oc_multi": parse_cancel_multi,
}


def parse_ops(ops: object, *, user_id: int, now_ms: int) -> MultiOp:
    """A list of ``[OP, PAYLOAD]`` (WS ``ox_multi`` payload) → ``MultiOp``; at most 75 ops.

    A malformed list or an unknown op is ``10020 input: invalid`` (the real WS answer, §5); a bad
    field inside an op is reported with that field's own text.
    """
    if not isinstance(ops, list) or not ops or len(ops) > MAX_MULTI_OPS:
        raise ProtocolError(Code.PARAMS, TEXT_INPUT_INVALID)
    parsed: list[OrderOp] = []
    for entry in ops:
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not isinstance(entry[0], str)  # a list or object here is unhashable
            or entry[0] not in _OP_PARSERS
        ):
            raise ProtocolError(Code.PARAMS, TEXT_INPUT_INVALID)
        parser = _OP_PARSERS[entry[0]]
        parsed.append(parser(entry[1], user_id=user_id, now_ms=now_ms))
    return MultiOp(user_id=user_id, ops=tuple(parsed))


def parse_multi(payload: object, *, user_id: int, now_ms: int) -> MultiOp:
    """A REST ``auth/w/order/multi`` body ``{"ops": [...]}`` → ``MultiOp``."""
    body = _payload(payload)
    return parse_ops(body.get("ops"), user_id=user_id, now_ms=now_ms)
