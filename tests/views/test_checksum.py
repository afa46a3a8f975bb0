"""Book checksums (spec §7.5): CRC-32 of the interleaved wire text, signed int32."""

from __future__ import annotations

import json
import zlib
from decimal import Decimal

from tests.views.builders import accepted
from venue.views.books import Books
from venue.views.checksum import book_checksum, checksum_text

T = 1_700_000_000_000


def wire_number(raw: int) -> str:
    """How a raw value is written in JSON (shortest, no exponent), derived independently."""
    text = format(Decimal(raw).scaleb(-8).normalize(), "f")
    return text


def client_checksum(snapshot_json: str) -> int:
    """What a lossless client (Node's managed book) computes from a P*/R0 snapshot frame."""
    rows = json.loads(snapshot_json, parse_float=str, parse_int=str)
    bids = [r for r in rows if not r[-1].startswith("-")][:25]
    asks = [r for r in rows if r[-1].startswith("-")][:25]
    parts: list[str] = []
    for i in range(25):
        for side in (bids, asks):
            if i < len(side):
                parts += [side[i][0], side[i][-1]]
    value = zlib.crc32(":".join(parts).encode())
    return value - 2**32 if value >= 2**31 else value


def snapshot_json(rows, raw: bool) -> str:
    if raw:
        return "[" + ",".join(f"[{r[0]},{wire_number(r[1])},{wire_number(r[2])}]" for r in rows) + "]"
    return "[" + ",".join(f"[{wire_number(r[0])},{r[1]},{wire_number(r[2])}]" for r in rows) + "]"


def sample_books() -> Books:
    books = Books()
    events = []
    for i in range(1, 41):
        events.append(accepted(i, str(9000 - i * 0.5), str(0.00005 * i)))
        events.append(accepted(100 + i, str(9001 + i), str(-0.1 * i)))
    events += [accepted(200, "8999.5", "3"), accepted(201, "9002", "-0.00000001")]
    books.apply(1, T, events)
    return books


def test_golden_checksums_of_small_books():
    # Values fixed once with zlib.crc32 over the texts, read as signed int32.
    bid, ask = [(6000_00000000, 1, 100000000)], [(6001_00000000, 1, -100000000)]
    assert checksum_text(bid, ask, raw=False) == "6000:1:6001:-1"
    assert book_checksum(bid, ask, raw=False) == -1787501261
    bid, ask = [(9000_00000000, 2, 50000000)], [(9001_50000000, 1, -5000)]
    assert checksum_text(bid, ask, raw=False) == "9000:0.5:9001.5:-0.00005"
    assert book_checksum(bid, ask, raw=False) == -402042700


def test_p0_checksum_matches_a_client_reading_the_wire_text():
    books = sample_books()
    for prec in ("P0", "P1", "P2", "P3", "P4"):
        rows = books.snapshot("tBTCUSD", prec, 25)
        assert books.checksum("tBTCUSD", prec) == client_checksum(snapshot_json(rows, raw=False))


def test_r0_checksum_uses_order_ids_sorted_by_price_then_id():
    books = sample_books()
    rows = books.snapshot("tBTCUSD", "R0", 25)
    text = checksum_text(rows[:25], rows[25:], raw=True)
    # 1 and 200 rest at 8999.5, 101 and 201 at 9002: the lower id comes first.
    assert text.startswith("1:0.00005:101:-0.1:200:3:201:-0.00000001:")
    assert books.checksum("tBTCUSD", "R0") == client_checksum(snapshot_json(rows, raw=True))


def test_thin_book_skips_missing_slots():
    books = Books()
    books.apply(1, T, [accepted(1, "100", "1"), accepted(2, "101", "-1"), accepted(3, "102", "-2")])
    assert checksum_text(
        *_split(books.snapshot("tBTCUSD", "P0", 25)), raw=False
    ) == "100:1:101:-1:102:-2"


def test_tracker_checksum_covers_what_the_subscriber_holds():
    books = sample_books()
    top = books.track("tBTCUSD", "P0", 1)
    rows = top.rows()
    assert top.checksum() == client_checksum(snapshot_json(rows, raw=False))
    assert books.track("tBTCUSD", "P0", 100).checksum() == books.checksum("tBTCUSD", "P0")


def _split(rows):
    bids = [r for r in rows if r[2] > 0]
    asks = [r for r in rows if r[2] < 0]
    return bids, asks
