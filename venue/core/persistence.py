"""The exchange's state as bytes and back: ``dump`` for ``Exchange.snapshot``, ``load`` for
``Exchange.restore`` (the durability layer stores these bytes), ``dump_json`` for
``Exchange.state_hash``.

Two encodings of the same state:

- **version 2, columnar** (``dump``, what snapshots are written in): ``MAGIC``, one line of
  canonical JSON (the *head*: counters, API keys, markets, preferences and how each column is
  stored), then the column bodies back to back. Users, wallets, open orders, book levels and
  book queues are tables stored column by column: a column whose values are all equal is one
  JSON value in the head, an int column is little-endian int64 (JSON when a value does not
  fit), a column of few distinct values (strings, booleans, order types, optional ints) is the
  list of those values in the head plus a one- or two-byte code per row. Open orders are in
  their own (creation) order; each book side is its price levels (best first, with their
  number of orders) and the rows of its resting orders in queue order, so ``load`` builds every
  level from one slice, without searching, sorting or re-validating orders: the snapshot's
  sha256 (store/snapshot.py) is its integrity check, and ``load`` checks only the structure.
- **version 1, JSON** (``dump_json``): one canonical JSON document, an object per section and
  a positional row per order. ``state_hash`` hashes it, so the hash of a state does not depend
  on the snapshot encoding; ``load`` still reads it (snapshots written before version 2).

Invariants:
- canonical: equal states give equal bytes in any process and under any PYTHONHASHSEED (no
  pickle or marshal, no sets, every choice of column encoding made from the values alone);
- complete: counters, users, keys, balances (and, in version 2, wallet holds), open orders
  with their fills, each market's last price and resting orders in priority order, and the
  preferences sub-state; stop heaps, level totals (and, in version 1, wallet holds) are rebuilt
  from the orders;
- internal sequence numbers (queue and heap ordering keys) are not part of the state: only the
  order they encode is, so a restored exchange produces exactly the same future events.
"""

from __future__ import annotations

import gc
import json
import sys
from array import array
from collections import deque
from heapq import heapify
from itertools import repeat
from operator import attrgetter
from typing import Any

from venue.core.accounts import Accounts, ApiKey, User, Wallet
from venue.core.book import BASE_KIND, BookSide, Level, Order
from venue.core.matching import Engine
from venue.core.orders import OrderType
from venue.core.preferences import Preferences

SNAPSHOT_VERSION = 1  # the JSON encoding (dump_json); the columnar one is COLUMNAR_VERSION
COLUMNAR_VERSION = 2
MAGIC = b"VENUE-STATE-2\n"

_ORDER_FIELDS = (
    "id", "user_id", "symbol", "is_buy", "remaining", "orig", "price", "flags", "group_id",
    "client_order_id", "client_order_date", "tif_ts", "created_ts", "updated_ts", "filled",
    "filled_value", "price_trailing", "price_aux_limit", "hidden", "post_only", "placed_id",
    "meta", "hold", "stop_pending", "trail_ref", "routing",
)


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


# -- version 2: columnar -----------------------------------------------------------------------

# Column kinds: how a column may be stored besides "const" (all rows equal). INT: ints (codes
# when there are few distinct values, else int64, else JSON); OPT_INT: ints or None (the same,
# int64 only without None); CODES: strings, booleans, None (codes, else JSON); DOC: any JSON
# value per row (JSON; fills, meta, names).
INT, CODES, OPT_INT, DOC = "int", "codes", "opt_int", "doc"
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_BIG_ENDIAN = sys.byteorder == "big"
_CODE_TYPES = (("u8", "B", 1 << 8), ("u16", "H", 1 << 16))  # up to 65,536 distinct values

# Tables, in the order their column bodies follow the head; each in its columns' order.
_USER_COLUMNS = (("user_id", INT), ("name", DOC), ("email", CODES), ("created_ts", INT))
_WALLET_COLUMNS = (("user_id", INT), ("wallet", CODES), ("currency", CODES),
                   ("balance", INT), ("hold", INT))
_ORDER_COLUMNS = (
    ("type", CODES), ("type_prev", CODES), ("fills", DOC),
    ("id", INT), ("user_id", INT), ("symbol", CODES), ("is_buy", CODES), ("remaining", INT),
    ("orig", INT), ("price", INT), ("flags", CODES), ("group_id", OPT_INT),
    ("client_order_id", OPT_INT), ("client_order_date", CODES), ("tif_ts", OPT_INT),
    ("created_ts", INT), ("updated_ts", INT), ("filled", INT), ("filled_value", INT),
    ("price_trailing", INT), ("price_aux_limit", INT), ("hidden", CODES),
    ("post_only", CODES), ("placed_id", OPT_INT), ("meta", DOC), ("hold", INT),
    ("stop_pending", CODES), ("trail_ref", INT), ("routing", CODES),
)
# price levels of every book side (each market's bids best first, then its asks) with their
# number of orders; then the rows (in the order table) of the resting orders, queue by queue
_LEVEL_COLUMNS = (("price", INT), ("count", INT))
_QUEUE_COLUMNS = (("row", INT),)


def _i64(values: list[int]) -> bytes:
    a = array("q", values)
    if _BIG_ENDIAN:
        a.byteswap()
    return a.tobytes()


def _encode_column(values: list[Any], kind: str, blobs: list[bytes]) -> list[Any]:
    """The head entry of one column (its body, if any, is appended to ``blobs``)."""
    n = len(values)
    types = set(map(type, values))
    first = values[0] if n else None
    # one value for every row (ints never pass for bools here, nor the reverse)
    if n == 0 or (len(types) == 1 and values.count(first) == n
                  and (kind != DOC or first is None or first == [])):
        return ["const", first]
    if kind != DOC and types <= {str, bool, int, type(None)} and not {bool, int} <= types:
        # (with bools and ints apart, equal values are equal JSON: a dict can find them)
        distinct = dict.fromkeys(values)  # in order of first appearance
        if len(distinct) <= _CODE_TYPES[-1][2]:
            # few distinct values (prices, amounts, strings…): a code per row, decoded to
            # shared objects
            index = {value: code for code, value in enumerate(distinct)}
            for name, typecode, limit in _CODE_TYPES:
                if len(index) <= limit:
                    a = array(typecode, map(index.__getitem__, values))
                    if _BIG_ENDIAN:
                        a.byteswap()
                    blobs.append(a.tobytes())
                    return [name, len(blobs[-1]), list(distinct)]
        if kind != CODES and types <= {int} and min(values) >= _I64_MIN \
                and max(values) <= _I64_MAX:
            blobs.append(_i64(values))
            return ["i64", len(blobs[-1])]
    blobs.append(_json(values))
    return ["json", len(blobs[-1])]


# Int columns usually equal to an earlier column of their table (an unfilled order's ``orig``
# is its ``remaining``, an order never updated has ``updated_ts == created_ts``, a sell holds
# its remaining amount): stored as "like" that column plus the rows that differ, they are
# restored as a copy sharing its int objects (fewer objects, fewer bytes).
_LIKE = {"orig": "remaining", "updated_ts": "created_ts", "hold": "remaining"}


def _encode_table(kinds: tuple[tuple[str, str], ...], values: dict[str, list[Any]],
                  blobs: list[bytes]) -> list[Any]:
    n = len(values[kinds[0][0]])
    table: dict[str, Any] = {}
    for name, kind in kinds:
        column = values[name]
        like = _LIKE.get(name)
        if like in table and table[like][0] != "const" and kind == INT \
                and column.count(column[0]) != n:
            reference = values[like]
            differ = [[row, value] for row, (value, other) in enumerate(zip(column, reference))
                      if value != other or type(value) is not type(other)]
            if len(differ) * 8 <= n:
                blobs.append(_json(differ))
                table[name] = ["like", like, len(blobs[-1])]
                continue
        table[name] = _encode_column(column, kind, blobs)
    return [n, table]


def dump(accounts: Accounts, engine: Engine, preferences: Preferences) -> bytes:
    """The whole state in the canonical columnar encoding (version 2)."""
    enabled = gc.isenabled()
    gc.disable()  # large temporary lists: collections would only rescan the live state
    try:
        return _dump_columnar(accounts, engine, preferences)
    finally:
        if enabled:
            gc.enable()


def _dump_columnar(accounts: Accounts, engine: Engine, preferences: Preferences) -> bytes:
    blobs: list[bytes] = []
    users = list(accounts.users.values())
    wallets = sorted(accounts.wallets.items(), key=lambda kv: kv[0])
    orders = list(engine.orders.values())
    row_of = {o.id: i for i, o in enumerate(orders)}
    markets = []
    level_prices: list[int] = []
    level_counts: list[int] = []
    queue_rows: list[int] = []
    for symbol, ms in engine.markets.items():
        sides = []
        for side in (ms.bids, ms.asks):
            prices = side.prices()
            for price in prices:
                members = side.levels[price].orders()
                level_prices.append(price)
                level_counts.append(len(members))
                queue_rows.extend([row_of[o.id] for o in members])
            sides.append(len(prices))
        markets.append([symbol, ms.last_price, *sides])
    order_values: dict[str, list[Any]] = {
        "type": [o.type.value for o in orders],
        "type_prev": [None if o.type_prev is None else o.type_prev.value for o in orders],
        "fills": [[list(f) for f in o.fills] for o in orders],
    }
    for name in _ORDER_FIELDS:
        order_values[name] = list(map(attrgetter(name), orders))
    # the bodies follow the head in this order
    user_table = _encode_table(_USER_COLUMNS, {
        name: list(map(attrgetter(name), users)) for name, _ in _USER_COLUMNS}, blobs)
    wallet_table = _encode_table(_WALLET_COLUMNS, {
        "user_id": [k[0] for k, _ in wallets], "wallet": [k[1] for k, _ in wallets],
        "currency": [k[2] for k, _ in wallets], "balance": [w.balance for _, w in wallets],
        "hold": [w.hold for _, w in wallets]}, blobs)
    order_table = _encode_table(_ORDER_COLUMNS, order_values, blobs)
    level_table = _encode_table(_LEVEL_COLUMNS, {"price": level_prices, "count": level_counts},
                                blobs)
    queue_table = _encode_table(_QUEUE_COLUMNS, {"row": queue_rows}, blobs)
    head = {
        "version": COLUMNAR_VERSION,
        "counters": [accounts.next_user_id, accounts.next_ledger_id, accounts.next_movement_id,
                     engine.next_order_id, engine.next_trade_id],
        "keys": [[k.key, k.secret, k.user_id, [list(p) for p in k.permissions], k.created_ts,
                  k.label, k.revoked] for k in accounts.keys.values()],
        "markets": markets,
        "preferences": preferences.snapshot_data(),
        "users": user_table,
        "wallets": wallet_table,
        "orders": order_table,
        "levels": level_table,
        "queue": queue_table,
    }
    return b"".join((MAGIC, _json(head), b"\n", *blobs))


class _Const:
    """A column whose rows all hold ``value`` (kept unexpanded as long as possible)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


Column = Any  # list[Any] | _Const


def _rows(column: Column, n: int) -> Any:
    """An iterable of the ``n`` values of ``column``."""
    return repeat(column.value, n) if type(column) is _Const else column


def _as_list(column: Column, n: int) -> list[Any]:
    return [column.value] * n if type(column) is _Const else column


def _convert(column: Column, table: dict[Any, Any]) -> Column:
    """``column`` with each value replaced by ``table[value]``."""
    if type(column) is _Const:  # None: the constant of an empty table
        return _Const(None if column.value is None else table[column.value])
    return list(map(table.__getitem__, column))


class _Reader:
    """Column bodies of a version 2 snapshot, read in the order they were written."""

    def __init__(self, data: bytes, offset: int) -> None:
        self.view = memoryview(data)
        self.offset = offset

    def take(self, length: int) -> memoryview:
        start = self.offset
        end = self.offset = start + length
        if length < 0 or end > len(self.view):
            raise ValueError("snapshot: column body cut off")
        return self.view[start:end]

    def column(self, entry: list[Any], n: int) -> Column:
        """The values of one column: a list of ``n`` values, or a ``_Const``."""
        how = entry[0]
        if how == "const":
            return _Const(entry[1])
        body = self.take(entry[1])
        if how == "i64":
            values = array("q")
        elif how == "u8":
            values = array("B")
        elif how == "u16":
            values = array("H")
        elif how == "json":
            out = json.loads(bytes(body))
            if type(out) is not list or len(out) != n:
                raise ValueError("snapshot: bad column")
            return out
        else:
            raise ValueError(f"snapshot: unknown column encoding {how!r}")
        values.frombytes(body)
        if _BIG_ENDIAN:
            values.byteswap()
        if len(values) != n:
            raise ValueError("snapshot: column length")
        if how == "i64":
            return values.tolist()
        return list(map(entry[2].__getitem__, values))

    def table(self, spec: Any, names: tuple[tuple[str, str], ...]) -> tuple[int, dict[str, Column]]:
        n, entries = spec
        if not isinstance(n, int) or n < 0 or sorted(entries) != sorted(name for name, _ in names):
            raise ValueError("snapshot: bad table")
        # bodies come in the table's column order (the head's keys are sorted, not they)
        columns: dict[str, Column] = {}
        for name, _ in names:
            entry = entries[name]
            if entry[0] == "like":  # a copy of an earlier column, with the rows that differ
                reference = columns[entry[1]] if entry[1] in columns else None
                patches = json.loads(bytes(self.take(entry[2])))
                if type(reference) is not list or type(patches) is not list:
                    raise ValueError("snapshot: bad column")
                values = reference.copy()
                for row, value in patches:
                    values[row] = value
                columns[name] = values
            else:
                columns[name] = self.column(entry, n)
        return n, columns


def _load_columnar(data: bytes, accounts: Accounts, engine: Engine) -> Preferences:
    end = data.index(b"\n", len(MAGIC))
    head = json.loads(data[len(MAGIC):end])
    if head.get("version") != COLUMNAR_VERSION:
        raise ValueError(f"unknown snapshot version: {head.get('version')!r}")
    reader = _Reader(data, end + 1)
    (accounts.next_user_id, accounts.next_ledger_id, accounts.next_movement_id,
     engine.next_order_id, engine.next_trade_id) = head["counters"]
    n_users, users = reader.table(head["users"], _USER_COLUMNS)
    n_wallets, wallets = reader.table(head["wallets"], _WALLET_COLUMNS)
    n_orders, orders = reader.table(head["orders"], _ORDER_COLUMNS)
    n_levels, levels = reader.table(head["levels"], _LEVEL_COLUMNS)
    n_queued, queue = reader.table(head["queue"], _QUEUE_COLUMNS)
    if reader.offset != len(data):
        raise ValueError("snapshot: trailing bytes")

    user_ids = _as_list(users["user_id"], n_users)
    names = _as_list(users["name"], n_users)
    accounts.users = dict(zip(user_ids, map(User, user_ids, names, _rows(users["email"], n_users),
                                            _rows(users["created_ts"], n_users))))
    accounts.names = dict(zip(names, user_ids))
    for key, secret, user_id, perms, created, label, revoked in head["keys"]:
        accounts.keys[key] = ApiKey(key, secret, user_id,
                                    tuple((s, bool(r), bool(w)) for s, r, w in perms),
                                    created, label, revoked)

    keys = list(zip(*(_rows(wallets[name], n_wallets) for name in ("user_id", "wallet", "currency"))))
    accounts.wallets = dict(zip(keys, map(Wallet, _rows(wallets["balance"], n_wallets),
                                          _rows(wallets["hold"], n_wallets))))
    by_user = accounts.by_user
    for key in keys:
        wallet_keys = by_user.get(key[0])
        if wallet_keys is None:
            wallet_keys = by_user[key[0]] = []
        wallet_keys.append(key)

    _load_orders(n_orders, orders, head["markets"], n_levels, levels,
                 _as_list(queue["row"], n_queued), engine)
    return Preferences.restore(head.get("preferences", {}))


def _load_orders(n: int, col: dict[str, Column], markets: list[Any], n_levels: int,
                 levels: dict[str, Column], queued: list[int], engine: Engine) -> None:
    """Open orders, books and stops from their tables (see ``dump``)."""
    # each resting order's place in its queue: what BookSide.add gave it, in the same order
    if queued and min(queued) < 0:
        raise ValueError("snapshot: bad queue row")
    seqs = list(range(1, len(queued) + 1))  # one int object per seq, shared with the levels
    queue_seqs = [0] * n
    for seq, row in zip(seqs, queued):
        if queue_seqs[row]:
            raise ValueError("snapshot: an order queued twice")
        queue_seqs[row] = seq
    types = _convert(col["type"], _ORDER_TYPES)
    remaining = col["remaining"]
    tif_ts = col["tif_ts"]
    columns = {name: col[name] for name in _ORDER_FIELDS if name != "stop_pending"}
    columns.update(type=types, kind=_convert(types, BASE_KIND), fills=col["fills"],
                   type_prev=_convert(col["type_prev"], _ORDER_TYPES), queue_seq=queue_seqs)
    # the open orders (the table is in their order), by id and by user
    rows = _build_orders(n, columns, engine.orders, engine.by_user)
    if len(engine.orders) != n:
        raise ValueError("snapshot: duplicate order id")
    if type(tif_ts) is not _Const or tif_ts.value is not None:
        tif = [(ts, oid) for ts, oid in zip(_rows(tif_ts, n), _rows(col["id"], n))
               if ts is not None]
        heapify(tif)
        engine.tif_heap = tif

    # books: level by level, each queue one slice of the queued orders
    level_prices = _as_list(levels["price"], n_levels)
    level_counts = _as_list(levels["count"], n_levels)
    members = list(map(rows.__getitem__, queued))
    amounts = (remaining if type(remaining) is _Const
               else list(map(remaining.__getitem__, queued)))
    level = start = 0
    for symbol, last_price, n_bids, n_asks in markets:
        ms = engine.markets[symbol]
        ms.last_price = last_price
        for side, count in ((ms.bids, n_bids), (ms.asks, n_asks)):
            start = _fill_side(side, level_prices[level:level + count],
                               level_counts[level:level + count], seqs, members, amounts, start)
            level += count
    if level != n_levels or start != len(queued):
        raise ValueError("snapshot: book tables do not match")
    engine.queue_seq = len(queued)

    # pending stops, in the open orders' order (their heap tie-breaks follow it)
    stop_pending = col["stop_pending"]
    if type(stop_pending) is not _Const or stop_pending.value:
        for order, pending in zip(rows, _rows(stop_pending, n)):
            if pending:
                engine.markets[order.symbol].stops.add(order, order.trail_ref)


_ORDER_TYPES: dict[str | None, OrderType | None] = {None: None, **{t.value: t for t in OrderType}}


def _fill_side(side: BookSide, prices: list[int], counts: list[int], seqs: list[int],
               members: list[Order], amounts: Column, start: int) -> int:
    """Queue ``members[start:…]`` at ``prices`` (best first) as ``BookSide.add`` would have,
    with the queue sequence numbers ``seqs[start:…]``; returns where the next side starts.
    ``amounts``: the members' remaining amounts."""
    levels = side.levels
    sign = -1 if side.is_bid else 1
    previous = None
    for price, count in zip(prices, counts):
        if (previous is not None and price * sign <= previous * sign) or count <= 0:
            raise ValueError("snapshot: book side not in price order")
        previous = price
        level = levels[price] = Level(price)
        end = start + count
        level.queue = deque(zip(seqs[start:end], members[start:end]))
        level.live = count
        level.total = (amounts.value * count if type(amounts) is _Const
                       else sum(amounts[start:end]))
        start = end
    side.heap = [p * sign for p in prices]  # ascending keys: already a heap
    return start


def _order_defaults() -> dict[str, Any]:
    """What ``Order.__init__`` puts in the slots a snapshot does not hold (caches, internal
    keys), with the restore's own choices: the open status text is derived from the fills."""
    reserved = {"o", "out", "append", "new", "Order", "orders", "by_user", "p", "a", "build"}
    if reserved & set(Order.__slots__):  # names of the generated loop (_make_builder)
        raise TypeError(f"Order slots clash with _make_builder: {reserved & set(Order.__slots__)}")
    probe = Order(0, 0, "", OrderType.EXCHANGE_LIMIT, True, 0, 0, 0)
    defaults = {name: getattr(probe, name) for name in Order.__slots__}
    defaults["open_text"] = None
    for name, value in defaults.items():
        if isinstance(value, (list, dict, set)) and name != "fills":
            raise TypeError(f"Order.{name}: a mutable default cannot be shared by restored orders")
    return defaults


_ORDER_DEFAULTS = _order_defaults()
_builders: dict[tuple[str, ...], Any] = {}


def _build_orders(n: int, columns: dict[str, Column], orders: dict[int, Order],
                  by_user: dict[int, dict[int, Order]]) -> list[Order]:
    """``n`` orders whose slots come from ``columns`` (by slot name; the rest from
    ``_ORDER_DEFAULTS``), built by a loop made for the columns that vary, and entered in
    ``orders`` and ``by_user`` (as ``Engine.index`` does) in the same pass.

    An order has ~40 slots and a restore makes one per open order, so the per-slot cost
    decides the restart time: the generated loop stores each slot once with a plain attribute
    store, constants from local variables. The source is made of slot names only (never of
    snapshot data), which ``Order.__slots__`` fixes."""
    for name in ("fills", "meta"):  # mutable values: one object per order, never shared
        column = columns[name]
        if type(column) is _Const and column.value not in (None, []):
            raise ValueError(f"snapshot: bad {name} column")
    varying = tuple(name for name, column in columns.items() if type(column) is not _Const)
    if "queue_seq" not in varying:
        raise ValueError("snapshot: queue_seq must be a list")  # it drives the loop
    builder = _builders.get(varying)
    if builder is None:
        builder = _builders[varying] = _make_builder(varying)
    values = {name: column.value for name, column in columns.items()
              if type(column) is _Const and name != "fills"}  # constant fills: a new [] each
    for name, column in columns.items():
        if type(column) is not _Const and len(column) != n:
            raise ValueError(f"snapshot: column {name} has {len(column)} rows, not {n}")
    return builder(*(columns[name] for name in varying), orders=orders,  # type: ignore[no-any-return]
                   by_user=by_user, **values)


def _make_builder(varying: tuple[str, ...]) -> Any:
    slots = Order.__slots__
    constants = [name for name in slots if name not in varying and name not in ("resting", "fills")]
    lines = [f"def build({', '.join(f'{name}_' for name in varying)}, *, "
             f"{', '.join(f'{name}=_ORDER_DEFAULTS[{name!r}]' for name in constants)}, "
             "orders, by_user):",
             "    out = []",
             "    append = out.append",
             f"    for {', '.join(varying)}, in zip({', '.join(f'{name}_' for name in varying)}):",
             "        o = new(Order)"]
    for name in slots:
        if name == "resting":
            lines.append("        o.resting = queue_seq != 0")
        elif name == "fills":
            lines.append("        o.fills = [(p, a) for p, a in fills] if fills else []"
                         if "fills" in varying else "        o.fills = []")
        else:
            lines.append(f"        o.{name} = {name}")
    lines += ["        append(o)",
              "        orders[id] = o",
              "        try:",
              "            by_user[user_id][id] = o",
              "        except KeyError:",
              "            by_user[user_id] = {id: o}",
              "    return out"]
    namespace = {"new": object.__new__, "Order": Order, "_ORDER_DEFAULTS": _ORDER_DEFAULTS}
    exec("\n".join(lines), namespace)  # noqa: S102 — slot names only, see _build_orders
    return namespace["build"]


# -- version 1: JSON -----------------------------------------------------------------------------


def dump_json(accounts: Accounts, engine: Engine, preferences: Preferences) -> bytes:
    """The whole state as canonical JSON bytes (version 1; what ``state_hash`` hashes)."""
    data = {
        "version": SNAPSHOT_VERSION,
        "counters": [accounts.next_user_id, accounts.next_ledger_id, accounts.next_movement_id,
                     engine.next_order_id, engine.next_trade_id],
        "users": [[u.user_id, u.name, u.email, u.created_ts] for u in accounts.users.values()],
        "keys": [[k.key, k.secret, k.user_id, [list(p) for p in k.permissions], k.created_ts,
                  k.label, k.revoked] for k in accounts.keys.values()],
        "wallets": [[key[0], key[1], key[2], w.balance]
                    for key, w in sorted(accounts.wallets.items(), key=lambda kv: kv[0])],
        "orders": [_order_row(o) for o in engine.orders.values()],
        "markets": [
            [symbol, ms.last_price,
             [o.id for p in ms.bids.prices() for o in ms.bids.levels[p].orders()],
             [o.id for p in ms.asks.prices() for o in ms.asks.levels[p].orders()]]
            for symbol, ms in engine.markets.items()
        ],
        "preferences": preferences.snapshot_data(),
    }
    return _json(data)


def load(data: bytes, accounts: Accounts, engine: Engine) -> Preferences:
    """Fill the empty ``accounts`` and ``engine`` from ``data`` (either version); return the
    preferences. Raises ``ValueError`` (or ``KeyError``/``TypeError``) for a payload that is
    not a snapshot.

    The cyclic GC is paused meanwhile: the restore allocates an object or more per order, and
    collections over the growing heap would cost more than the restore itself. (The objects
    made meanwhile are then all in the youngest generation: the first collections afterwards
    traverse them; store/recovery.py freezes a large recovered state to spare that.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        if data.startswith(MAGIC):
            return _load_columnar(data, accounts, engine)
        return _load_json(data, accounts, engine)
    finally:
        if enabled:
            gc.enable()


def _load_json(data: bytes, accounts: Accounts, engine: Engine) -> Preferences:
    state = json.loads(data)
    if state.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"unknown snapshot version: {state.get('version')!r}")
    (accounts.next_user_id, accounts.next_ledger_id, accounts.next_movement_id,
     engine.next_order_id, engine.next_trade_id) = state["counters"]
    for user_id, name, email, created in state["users"]:
        accounts.users[user_id] = User(user_id, name, email, created)
        accounts.names[name] = user_id
    for key, secret, user_id, perms, created, label, revoked in state["keys"]:
        accounts.keys[key] = ApiKey(key, secret, user_id,
                                    tuple((s, bool(r), bool(w)) for s, r, w in perms),
                                    created, label, revoked)
    for user_id, wallet, currency, balance in state["wallets"]:
        accounts.open_wallet((user_id, wallet, currency), balance)
    pending: list[Order] = []
    for row in state["orders"]:
        order, stop_pending = _order_from_row(row)
        engine.index(order)
        if stop_pending:
            pending.append(order)
        if order.hold:
            key = (order.user_id, "exchange", engine.hold_currency(order))
            accounts.wallets[key].hold += order.hold
    for symbol, last_price, bids, asks in state["markets"]:
        ms = engine.markets[symbol]
        ms.last_price = last_price
        for oid in bids + asks:
            engine.rest(ms, engine.orders[oid])
    for order in pending:
        engine.markets[order.symbol].stops.add(order, order.trail_ref)
    return Preferences.restore(state.get("preferences", {}))


def _order_row(order: Order) -> list[Any]:
    return [
        order.type.value,
        order.type_prev.value if order.type_prev is not None else None,
        [list(f) for f in order.fills],
        *(getattr(order, name) for name in _ORDER_FIELDS),
    ]


def _order_from_row(row: list[Any]) -> tuple[Order, bool]:
    """An order from its snapshot row, and whether it is a pending stop (StopBook re-adds it)."""
    type_value, type_prev, fills, *values = row
    fields = dict(zip(_ORDER_FIELDS, values, strict=True))
    order = Order(fields["id"], fields["user_id"], fields["symbol"], OrderType(type_value),
                  fields["is_buy"], fields["remaining"], fields["price"], fields["created_ts"])
    for name, value in fields.items():
        if name != "stop_pending":
            setattr(order, name, value)
    order.type_prev = OrderType(type_prev) if type_prev is not None else None
    order.fills = [(p, a) for p, a in fills]
    order.open_text = None  # derive the open status from the restored fills
    return order, bool(fields["stop_pending"])
