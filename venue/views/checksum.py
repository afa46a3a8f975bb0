"""Bitfinex book checksums (spec/bitfinex-v2.md §7.5), computed from the wire text of numbers.

Algorithm: take up to 25 best bids and 25 best asks; interleave
``bid0.key:bid0.amount:ask0.key:ask0.amount:bid1.key:…`` (key = price for P* books, order id for
R0 books; ask amounts negative, as on the wire; a side with fewer entries just stops
contributing); CRC-32 over the UTF-8 text; read as a signed 32-bit integer.

Invariant: every number is rendered with ``venue.core.numbers.to_text`` — the same shortest
text the protocol writes into book frames — because clients checksum the digits they received
(Node keeps the original digit strings, cryptofeed parses Decimals). Order ids are plain ints.

Rows are the books' raw-int rows: P* ``(price, count, amount)``, R0 ``(order_id, price,
amount)``, each side best-first (R0 ties broken by id ascending, which ``views.books`` keeps).
"""

from __future__ import annotations

import zlib
from typing import Sequence

from venue.core.numbers import to_text

CHECKSUM_DEPTH = 25


def _signed32(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


def checksum_text(
    bids: Sequence[tuple[int, int, int]], asks: Sequence[tuple[int, int, int]], raw: bool
) -> str:
    """The ``:``-joined text the CRC is taken over (exposed for tests and debugging)."""
    parts: list[str] = []
    for index in range(CHECKSUM_DEPTH):
        for side in (bids, asks):
            if index < len(side):
                row = side[index]
                # R0: the key is the order id, an integer written as is; P*: the price.
                parts.append(str(row[0]) if raw else to_text(row[0]))
                parts.append(to_text(row[2]))
    return ":".join(parts)


def book_checksum(
    bids: Sequence[tuple[int, int, int]], asks: Sequence[tuple[int, int, int]], raw: bool
) -> int:
    """The signed int32 checksum of a book given as best-first bid and ask rows."""
    return _signed32(zlib.crc32(checksum_text(bids, asks, raw).encode()))
