"""Channel bodies as the wire shows them (spec §7.4, §7.2 DEC_S/TIME_S, §11 number text)."""

from __future__ import annotations

import orjson

from venue.core.numbers import parse_amount, parse_price
from venue.protocol import channels as ch

PLAIN = ch.format_of(False, False)
DEC_S = ch.format_of(True, False)
TIME_S = ch.format_of(False, True)


def p(text: str) -> int:
    return parse_price(text)


def a(text: str) -> int:
    return parse_amount(text)


def test_book_rows_use_shortest_number_text():
    bids = [(p("100"), 1, a("0.00005"))]
    asks = [(p("0.00012345"), 2, a("-1.5"))]
    assert ch.render_book_snapshot("P0", bids, asks, PLAIN) == b"[[100,1,0.00005],[0.00012345,2,-1.5]]"


def test_raw_book_rows_put_the_order_id_first():
    rows = [(34006738527, p("8744.9"), a("0.25603413"))]
    assert ch.render_book_update("R0", rows, PLAIN, bulk=False) == [b"[34006738527,8744.9,0.25603413]"]


def test_deleting_a_level_is_count_0_amount_plus_or_minus_1():
    assert ch.render_book_update("P0", [ch.book_deletion(p("7254.5"), True)], PLAIN, False) == [
        b"[7254.5,0,1]"
    ]
    assert ch.render_book_update("R0", [ch.book_deletion(34753006045, False)], PLAIN, False) == [
        b"[34753006045,0,-1]"
    ]


def test_bulk_updates_send_several_rows_as_one_list():
    rows = [(p("1"), 1, a("1")), (p("2"), 1, a("-1"))]
    assert ch.render_book_update("P0", rows, PLAIN, bulk=True) == [b"[[1,1,1],[2,1,-1]]"]
    assert ch.render_book_update("P0", rows[:1], PLAIN, bulk=True) == [b"[1,1,1]"]


def test_dec_s_sends_decimals_as_strings_and_keeps_counts_and_ids_numbers():
    assert ch.render_book_update("P0", [(p("7254.7"), 3, a("3.3"))], DEC_S, False) == [
        b'["7254.7",3,"3.3"]'
    ]
    assert ch.render_trade_update("te", (401597395, 1574694478808, a("0.005"), p("7245.3")), DEC_S) == (
        b'"te",[401597395,1574694478808,"0.005","7245.3"]'
    )


def test_time_s_sends_timestamps_as_iso_dates():
    body = ch.render_trade_update("tu", (1, 1574694478808, a("1"), p("2")), TIME_S)
    assert body == b'"tu",[1,"2019-11-25T15:07:58.808Z",1,2]'


def test_trades_snapshot_and_update_layout():
    rows = [(401597393, 1574694475039, a("0.005"), p("7244.9"))]
    assert orjson.loads(ch.render_trades_snapshot(rows, PLAIN)) == [[401597393, 1574694475039, 0.005, 7244.9]]


def test_ticker_has_ten_values():
    values = [p("7254.7"), a("3.3"), p("7254.8"), a("-1"), p("-20"), a("-0.0027"), p("7254.8"),
              a("1000"), p("7300"), p("7200")]
    assert orjson.loads(b"[" + ch.render_ticker(values, PLAIN) + b"]")[0] == [
        7254.7, 3.3, 7254.8, -1, -20, -0.0027, 7254.8, 1000, 7300, 7200
    ]


def test_candle_close_comes_before_high():
    row = (1574698260000, p("7379.7855"), p("7383.8"), p("7388.3"), p("7379.7"), a("1.68829482"))
    assert ch.render_candle_update(row, PLAIN) == b"[1574698260000,7379.8,7383.8,7388.3,7379.7,1.68829482]"


def test_checksum_body():
    assert ch.render_checksum(-1234) == b'"cs",-1234'


def test_checksum_matches_the_reference_example_layout():
    # §7.5: "bid0.price:bid0.amount:ask0.price:ask0.amount:…", CRC-32, signed
    import zlib

    bids = [(p("7254.7"), 3, a("3.3")), (p("7254.6"), 1, a("0.00005"))]
    asks = [(p("7254.8"), 1, a("-100"))]
    text = b"7254.7:3.3:7254.8:-100:7254.6:0.00005"
    expected = zlib.crc32(text)
    expected = expected - (1 << 32) if expected >= 1 << 31 else expected
    assert ch.book_checksum("P0", bids, asks) == expected


def test_raw_book_checksum_uses_order_ids_as_keys():
    import zlib

    bids = [(34006738527, p("8744.9"), a("0.25603413"))]
    asks = [(34006738528, p("8745"), a("-1"))]
    expected = zlib.crc32(b"34006738527:0.25603413:34006738528:-1")
    expected = expected - (1 << 32) if expected >= 1 << 31 else expected
    assert ch.book_checksum("R0", bids, asks) == expected


def test_checksum_agrees_with_the_views_checksum_on_random_books():
    import random

    from venue.views.checksum import book_checksum as views_checksum

    rng = random.Random(3)
    for _ in range(200):
        bids = sorted({rng.randint(1, 10**13) for _ in range(rng.randint(0, 30))}, reverse=True)
        asks = sorted({rng.randint(10**13, 2 * 10**13) for _ in range(rng.randint(0, 30))})
        bid_rows = [(k, 1, rng.randint(1, 10**10)) for k in bids]
        ask_rows = [(k, 1, -rng.randint(1, 10**10)) for k in asks]
        for prec in ("P0", "R0"):
            assert ch.book_checksum(prec, bid_rows, ask_rows) == views_checksum(
                bid_rows[:25], ask_rows[:25], raw=prec == "R0"
            )
