"""Public books (spec §3.6, §7.4): R0 and P0–P4 snapshots, and WS top-N updates."""

from __future__ import annotations

import random

import pytest

from tests.views.builders import accepted, amt, closed, px, updated
from venue.views.books import ASK, BID, Books, TopBook, aggregate_price

T = 1_700_000_000_000


def book_with(*events: object) -> Books:
    books = Books()
    books.apply(1, T, list(events))  # type: ignore[arg-type]
    return books


def test_raw_book_lists_each_resting_order_bids_then_asks_best_first():
    books = book_with(
        accepted(1, "100", "1"),
        accepted(2, "101", "2"),
        accepted(3, "103", "-1.5"),
        accepted(4, "102", "-0.5"),
    )
    assert books.snapshot("tBTCUSD", "R0", 25) == [
        (2, px("101"), amt("2")),
        (1, px("100"), amt("1")),
        (4, px("102"), amt("-0.5")),
        (3, px("103"), amt("-1.5")),
    ]


def test_raw_book_breaks_price_ties_by_order_id():
    books = book_with(accepted(9, "100", "1"), accepted(3, "100", "1"), accepted(5, "100", "2"))
    assert [row[0] for row in books.snapshot("tBTCUSD", "R0", 25)] == [3, 5, 9]


def test_p0_levels_count_orders_and_sum_amounts_asks_negative():
    books = book_with(
        accepted(1, "100", "1"),
        accepted(2, "100", "0.25"),
        accepted(3, "99", "3"),
        accepted(4, "105", "-1"),
        accepted(5, "105", "-2"),
    )
    assert books.snapshot("tBTCUSD", "P0", 25) == [
        (px("100"), 2, amt("1.25")),
        (px("99"), 1, amt("3")),
        (px("105"), 2, amt("-3")),
    ]


def test_len_counts_entries_per_side():
    books = book_with(*(accepted(i, str(100 - i), "1") for i in range(1, 6)),
                      *(accepted(10 + i, str(200 + i), "-1") for i in range(1, 6)))
    rows = books.snapshot("tBTCUSD", "P0", 2)
    assert rows == [
        (px("99"), 1, amt("1")), (px("98"), 1, amt("1")),
        (px("201"), 1, amt("-1")), (px("202"), 1, amt("-1")),
    ]


@pytest.mark.parametrize(
    ("prec", "bid_level", "ask_level"),
    [
        ("P0", "90123", "90127"),
        ("P1", "90120", "90130"),
        ("P2", "90100", "90200"),
        ("P3", "90000", "91000"),
        ("P4", "90000", "100000"),
    ],
)
def test_coarse_precisions_round_bids_down_and_asks_up(prec, bid_level, ask_level):
    books = book_with(accepted(1, "90123", "1"), accepted(2, "90127", "-1"))
    assert books.snapshot("tBTCUSD", prec, 25) == [
        (px(bid_level), 1, amt("1")),
        (px(ask_level), 1, amt("-1")),
    ]


def test_aggregation_merges_orders_into_one_level():
    books = book_with(accepted(1, "90123", "1"), accepted(2, "90121", "2"), accepted(3, "90110", "1"))
    assert books.snapshot("tBTCUSD", "P1", 25) == [
        (px("90120"), 2, amt("3")),
        (px("90110"), 1, amt("1")),
    ]
    assert books.snapshot("tBTCUSD", "P3", 25) == [(px("90000"), 3, amt("4"))]


def test_prices_below_one_aggregate_by_significant_figures():
    books = book_with(
        accepted(1, "0.00012345", "100", symbol="tXRPUSD"),
        accepted(2, "0.00012399", "-50", symbol="tXRPUSD"),
        accepted(3, "0.54321", "1", symbol="tXRPUSD"),
    )
    assert books.snapshot("tXRPUSD", "P2", 25) == [
        (px("0.543"), 1, amt("1")),
        (px("0.000123"), 1, amt("100")),
        (px("0.000124"), 1, amt("-50")),
    ]
    assert books.snapshot("tXRPUSD", "P4", 25)[-1] == (px("0.0002"), 1, amt("-50"))


def test_ask_rounded_up_across_a_power_of_ten():
    assert aggregate_price(px("9999.5"), 4, True) == px("10000")
    assert aggregate_price(px("9999.5"), 4, False) == px("9999")


def test_hidden_orders_never_appear_at_any_precision():
    books = book_with(accepted(1, "100", "1", hidden=True), accepted(2, "101", "-1"))
    for prec in ("R0", "P0", "P1", "P2", "P3", "P4"):
        assert books.snapshot("tBTCUSD", prec, 25) == books.snapshot("tBTCUSD", prec, 25)[-1:]
        assert all(row[2] < 0 for row in books.snapshot("tBTCUSD", prec, 25))
    assert books.best_bid("tBTCUSD") is None


def test_order_not_in_book_is_not_shown():
    books = book_with(accepted(1, "100", "1", in_book=False))
    assert books.snapshot("tBTCUSD", "R0", 25) == []


def test_partial_fill_shrinks_level_and_close_removes_it():
    books = book_with(accepted(1, "100", "1"), accepted(2, "100", "2"))
    books.apply(2, T, [updated(1, "100", "0.4", amount_orig="1")])
    assert books.snapshot("tBTCUSD", "P0", 25) == [(px("100"), 2, amt("2.4"))]
    books.apply(3, T, [closed(2, "100", "0", amount_orig="2")])
    assert books.snapshot("tBTCUSD", "P0", 25) == [(px("100"), 1, amt("0.4"))]
    books.apply(4, T, [closed(1, "100", "0")])
    assert books.snapshot("tBTCUSD", "P0", 25) == []
    assert books.snapshot("tBTCUSD", "R0", 25) == []


def test_amended_price_moves_the_order():
    books = book_with(accepted(1, "100", "1"))
    books.apply(2, T, [updated(1, "98", "1")])
    assert books.snapshot("tBTCUSD", "R0", 25) == [(1, px("98"), amt("1"))]
    assert books.snapshot("tBTCUSD", "P0", 25) == [(px("98"), 1, amt("1"))]


def test_order_updated_to_hidden_leaves_the_book():
    books = book_with(accepted(1, "100", "1"))
    books.apply(2, T, [updated(1, "100", "1", hidden=True)])
    assert books.snapshot("tBTCUSD", "R0", 25) == []


def test_ticker_depth_sums_25_best_levels():
    books = book_with(*(accepted(i, str(1000 - i), "1") for i in range(1, 31)),
                      accepted(99, "2000", "-0.5"), accepted(98, "2001", "-0.25"))
    assert books.best_bid("tBTCUSD") == px("999")
    assert books.best_ask("tBTCUSD") == px("2000")
    assert books.depth_amount("tBTCUSD", BID) == amt("25")
    assert books.depth_amount("tBTCUSD", ASK) == amt("0.75")


def test_apply_reports_only_symbols_whose_book_changed():
    books = Books()
    assert books.apply(1, T, [accepted(1, "100", "1"), accepted(2, "5", "1", symbol="tLTCUSD")]) == {
        "tBTCUSD", "tLTCUSD"}
    assert books.apply(2, T, [updated(1, "100", "1")]) == set()


def test_seed_loads_resting_orders():
    books = Books()
    books.seed([accepted(1, "100", "1").order, accepted(2, "100", "1", hidden=True).order])
    assert books.snapshot("tBTCUSD", "R0", 25) == [(1, px("100"), amt("1"))]


# -- top-N updates ---------------------------------------------------------------------------


class ClientBook:
    """A subscriber's book as a client keeps it: snapshot, then updates applied in order."""

    def __init__(self, raw: bool, rows: list[tuple[int, int, int]]) -> None:
        self.raw = raw
        self.sides: tuple[dict[int, tuple[int, int]], dict[int, tuple[int, int]]] = ({}, {})
        for row in rows:
            self.apply(row)

    def apply(self, row: tuple[int, int, int]) -> None:
        key, a, b = row
        if self.raw:  # [ID, PRICE, AMOUNT], price 0 deletes, amount ±1 says the side
            side = self.sides[0 if b > 0 else 1]
            if a == 0:
                del side[key]
            else:
                side[key] = (a, b)
        else:  # [PRICE, COUNT, AMOUNT], count 0 deletes
            side = self.sides[0 if b > 0 else 1]
            if a == 0:
                del side[key]
            else:
                side[key] = (a, b)

    def rows(self) -> list[tuple[int, int, int]]:
        bids, asks = self.sides
        if self.raw:
            b = sorted(bids.items(), key=lambda kv: (-kv[1][0], kv[0]))
            a = sorted(asks.items(), key=lambda kv: (kv[1][0], kv[0]))
        else:
            b = sorted(bids.items(), key=lambda kv: -kv[0])
            a = sorted(asks.items(), key=lambda kv: kv[0])
        return [(k, *v) for k, v in b] + [(k, *v) for k, v in a]


def test_deleted_level_is_sent_with_count_zero_and_the_next_level_enters():
    books = book_with(accepted(1, "100", "1"), accepted(2, "99", "1"), accepted(3, "101", "-1"))
    top = books.track("tBTCUSD", "P0", 1)
    assert top.rows() == [(px("100"), 1, amt("1")), (px("101"), 1, amt("-1"))]
    books.apply(2, T, [closed(1, "100", "0"), closed(3, "101", "0")])
    assert top.updates() == [
        (px("100"), 0, amt("1")),
        (px("99"), 1, amt("1")),
        (px("101"), 0, amt("-1")),
    ]


def test_raw_delete_is_sent_with_price_zero():
    books = book_with(accepted(7, "100", "1"), accepted(8, "101", "-2"))
    top = books.track("tBTCUSD", "R0", 25)
    books.apply(2, T, [closed(7, "100", "0"), closed(8, "101", "0")])
    assert top.updates() == [(7, 0, amt("1")), (8, 0, amt("-1"))]


def test_change_outside_the_top_sends_nothing():
    books = book_with(accepted(1, "100", "1"), accepted(2, "99", "1"))
    top = books.track("tBTCUSD", "P0", 1)
    books.apply(2, T, [accepted(3, "98", "1"), updated(2, "99", "0.5")])
    assert top.updates() == []


def test_untracked_book_stops_collecting():
    books = book_with(accepted(1, "100", "1"))
    top = books.track("tBTCUSD", "P0", 25)
    books.untrack(top)
    books.apply(2, T, [accepted(2, "99", "1")])
    assert top.updates() == []


def _random_events(rng: random.Random, live: dict[int, tuple[str, str]], next_id: list[int]):
    """One command's worth of random book changes on a narrow price band (many ties)."""
    events = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.45 or not live:
            next_id[0] += 1
            side = rng.choice((1, -1))
            base = 1000 if side > 0 else 1010
            price = str(base - side * rng.randint(0, 30)) + rng.choice(("", ".5"))
            amount = str(side * rng.randint(1, 500) / 100)
            live[next_id[0]] = (price, amount)
            events.append(accepted(next_id[0], price, amount, hidden=rng.random() < 0.05))
        elif roll < 0.75:
            order_id = rng.choice(sorted(live))
            price, _ = live.pop(order_id)
            events.append(closed(order_id, price, "0"))
        else:
            order_id = rng.choice(sorted(live))
            price, amount = live[order_id]
            sign = 1 if not amount.startswith("-") else -1
            if rng.random() < 0.5:
                amount = str(sign * rng.randint(1, 500) / 100)
            else:
                price = str(float(price) - sign * rng.randint(-3, 3))
            live[order_id] = (price, amount)
            events.append(updated(order_id, price, amount))
    return events


@pytest.mark.parametrize("prec", ["P0", "P2", "R0"])
@pytest.mark.parametrize("length", [1, 25])
@pytest.mark.parametrize("every", [1, 7])  # 1 = F0 (after each command), 7 = F1-like batching
def test_snapshot_plus_updates_reproduce_the_book_at_every_step(prec, length, every):
    rng = random.Random(f"{prec}-{length}-{every}")
    books = Books()
    live: dict[int, tuple[str, str]] = {}
    next_id = [0]
    for seq in range(1, 60):  # a warm book before subscribing
        books.apply(seq, T, _random_events(rng, live, next_id))
    top = books.track("tBTCUSD", prec, length)
    client = ClientBook(prec == "R0", books.snapshot("tBTCUSD", prec, length))
    assert client.rows() == top.rows()
    for seq in range(60, 2060):
        books.apply(seq, T, _random_events(rng, live, next_id))
        if seq % every:
            continue
        for row in top.updates():
            client.apply(row)
            assert len(client.sides[0]) <= length + 1 and len(client.sides[1]) <= length + 1
        expected = books.snapshot("tBTCUSD", prec, length)
        assert client.rows() == expected, f"diverged at seq {seq}"
        p0 = books.snapshot("tBTCUSD", "P0", 25)
        assert books.depth_amount("tBTCUSD", BID) == sum(r[2] for r in p0 if r[2] > 0)
        assert books.depth_amount("tBTCUSD", ASK) == -sum(r[2] for r in p0 if r[2] < 0)
        assert top.rows() == expected
        assert all(len(side) <= length for side in client.sides)


def test_top_book_rejects_unknown_precision():
    with pytest.raises(ValueError):
        TopBook(Books().book("tBTCUSD"), "P9", 25)


def test_raw_order_moved_to_another_price_is_deleted_then_added():
    books = book_with(accepted(1, "100", "1"), accepted(2, "99", "1"))
    top = books.track("tBTCUSD", "R0", 25)
    books.apply(2, T, [updated(1, "98", "1"), updated(2, "99", "0.5")])
    assert top.updates() == [(1, 0, amt("1")), (2, px("99"), amt("0.5")), (1, px("98"), amt("1"))]


def _levels_from_scratch(visible: dict[int, tuple[int, int]], figures: int, length: int) -> list[tuple[int, int, int]]:
    levels: dict[tuple[int, int], list[int]] = {}
    for price, amount in visible.values():
        side = BID if amount > 0 else ASK
        level = levels.setdefault((side, aggregate_price(price, figures, side == ASK)), [0, 0])
        level[0] += 1
        level[1] += amount
    bids = sorted(((p, *v) for (s, p), v in levels.items() if s == BID), key=lambda r: -r[0])
    asks = sorted(((p, *v) for (s, p), v in levels.items() if s == ASK), key=lambda r: r[0])
    return [tuple(r) for r in bids[:length]] + [tuple(r) for r in asks[:length]]  # type: ignore[misc]


@pytest.mark.parametrize("seed", range(6))
def test_coarse_precisions_kept_lazily_read_like_eager_ones(seed: int):
    # P1–P4 are only brought up to date when read or tracked (replaying the changes, or
    # rebuilding after many): whatever the mix of changes, reads, tracking and untracking,
    # every read equals the book aggregated from scratch, and trackers keep working.
    rng = random.Random(seed)
    books = Books()
    book = books.book("tBTCUSD")
    expected: dict[int, tuple[int, int]] = {}
    trackers: list[TopBook] = []
    figures = {"P0": 5, "P1": 4, "P2": 3, "P3": 2, "P4": 1}
    rare = seed % 2 == 1  # reads and tracking rare: the log overflows and P1–P4 are rebuilt
    for step in range(2000):
        roll = rng.random()
        if rare and 0.9 <= roll < 0.998:
            roll = 0.5
        if roll < 0.55 or not expected:
            order_id = rng.randrange(1, 400)
            price = rng.randrange(90_000, 110_000) * 10**8 // 10 * 10
            amount = rng.choice([1, -1]) * rng.randrange(1, 10**8)
            book.put(order_id, price, amount)
            expected[order_id] = (price, amount)
        elif roll < 0.9:
            order_id = rng.choice(sorted(expected))
            book.drop(order_id)
            del expected[order_id]
        elif roll < 0.96:
            prec = rng.choice(list(figures))
            assert book.snapshot(prec, 25) == _levels_from_scratch(expected, figures[prec], 25), step
        elif roll < 0.98 or not trackers:
            trackers.append(books.track("tBTCUSD", rng.choice(["P1", "P2", "P3", "P4"]), 25))
        else:
            books.untrack(trackers.pop(rng.randrange(len(trackers))))
        book.release_touched()
        for tracker in trackers:
            tracker.updates()
            assert tracker.rows() == _levels_from_scratch(expected, figures[tracker.prec], 25), step
    for prec in figures:
        assert book.snapshot(prec, 250) == _levels_from_scratch(expected, figures[prec], 250)
