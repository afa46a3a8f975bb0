"""UpdateOrder and its priority rules; cancel by id, by cid, many, all; multi-op (spec §8.3)."""

from __future__ import annotations

import pytest

from venue.core.commands import (
    CancelAllOrders, CancelOrder, CancelOrders, MultiOp, SubmitOrder, Tick, UpdateOrder,
)
from venue.core.events import OrderClosed, OrderUpdated, RequestCompleted, RequestRejected
from venue.core.exchange import utc_day
from venue.core.orders import OrderType

from tests.core.harness import (
    T0, Venue, accepted_id, amt, check_invariants, completed, last_state, of_type, px, rejection,
    trades,
)


@pytest.fixture
def v() -> Venue:
    return Venue()


def _three_bids(v: Venue) -> tuple[int, list[int]]:
    u = v.user("u", USD="10000")
    return u, [accepted_id(v.order(u, "0.1", "100")) for _ in range(3)]


def _fill_order(v: Venue) -> list[int]:
    seller = v.user(f"s{v.seq}", BTC="1")
    return [t.maker_order_id for t in trades(v.order(seller, "-0.1", "100"))]


def test_an_amount_decrease_keeps_time_priority(v: Venue) -> None:
    u, (a, b, c) = _three_bids(v)
    events = v.apply(UpdateOrder(u, a, amount=amt("0.05")))
    state = of_type(events, OrderUpdated)[0].order
    assert state.amount == amt("0.05") and state.amount_orig == amt("0.05")
    assert completed(events).request == "ou"
    assert _fill_order(v) == [a, b]
    check_invariants(v)


def test_an_amount_increase_loses_time_priority(v: Venue) -> None:
    u, (a, b, c) = _three_bids(v)
    v.apply(UpdateOrder(u, a, delta=amt("0.1")))
    assert _fill_order(v) == [b]
    assert _fill_order(v) == [c]
    assert _fill_order(v) == [a]
    check_invariants(v)


def test_a_price_change_loses_time_priority(v: Venue) -> None:
    u, (a, b, c) = _three_bids(v)
    v.apply(UpdateOrder(u, a, price=px(99)))
    v.apply(UpdateOrder(u, a, price=px(100)))
    assert [_fill_order(v) for _ in range(3)] == [[b], [c], [a]]


def test_a_flag_change_alone_keeps_time_priority(v: Venue) -> None:
    u, (a, b, c) = _three_bids(v)
    events = v.apply(UpdateOrder(u, a, flags=64))
    assert of_type(events, OrderUpdated)[0].order.hidden
    assert _fill_order(v) == [a]


def test_an_update_to_a_crossing_price_trades_at_once(v: Venue) -> None:
    seller = v.user("seller", BTC="1")
    ask = accepted_id(v.order(seller, "-0.1", "105"))
    u = v.user("u", USD="1000")
    bid = accepted_id(v.order(u, "0.1", "100"))
    events = v.apply(UpdateOrder(u, bid, price=px(106)))
    assert [(t.maker_order_id, t.price) for t in trades(events)] == [(ask, px(105))]
    assert last_state(events, bid).status == "EXECUTED @ 105.0(0.1)"
    assert v.balance(u, "USD")[1] == v.balance(u, "USD")[0]  # nothing left on hold
    check_invariants(v)


def test_an_update_that_needs_more_balance_than_available_is_rejected(v: Venue) -> None:
    u = v.user("u", USD="100")
    oid = accepted_id(v.order(u, "0.5", "100"))
    before = v.ex.state_hash()
    r = rejection(v.apply(UpdateOrder(u, oid, amount=amt("1.1"))))
    assert (r.request, r.code, r.text) == (
        "ou", 10001, "Invalid order: not enough exchange balance for 1.1 BTCUSD at 100.0")
    assert r.order is not None and r.order.id == oid
    assert v.ex.state_hash() == before


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        ({"amount": -amt("0.1")}, 10020, "amount: invalid"),
        ({"delta": -amt("0.5")}, 10020, "amount: invalid"),
        ({"price": -1}, 10001, "Invalid price."),  # spec §5: a price that is not positive
        ({"price": 0}, 10001, "Invalid price."),
        ({"flags": 3}, 10020, "flags: invalid"),
        ({"amount": amt("0.00001")}, 10001, "Invalid order: minimum size for BTC/USD is 0.00004"),
        ({"tif_ts": 5}, 10020, "tif: invalid"),
    ],
)
def test_invalid_updates_are_rejected_and_change_nothing(
    v: Venue, change: dict[str, int], code: int, text: str
) -> None:
    u = v.user("u", USD="1000")
    oid = accepted_id(v.order(u, "0.5", "100"))
    before = v.ex.state_hash()
    r = rejection(v.apply(UpdateOrder(u, oid, **change)))
    assert (r.code, r.text) == (code, text)
    assert v.ex.state_hash() == before


def test_updating_or_canceling_another_users_order_says_not_found(v: Venue) -> None:
    owner = v.user("owner", USD="1000")
    oid = accepted_id(v.order(owner, "0.5", "100"))
    thief = v.user("thief", USD="1000")
    before = v.ex.state_hash()
    for command in (UpdateOrder(thief, oid, price=px(1)), CancelOrder(thief, oid),
                    CancelOrder(thief, 424242)):
        r = rejection(v.apply(command))
        assert (r.code, r.text, r.order) == (10001, "Order not found.", None)
    assert v.ex.state_hash() == before


def test_cancel_releases_the_hold_and_reports_the_canceled_order(v: Venue) -> None:
    u = v.user("u", USD="1000")
    oid = accepted_id(v.order(u, "0.5", "100"))
    events = v.apply(CancelOrder(u, oid))
    closed = of_type(events, OrderClosed)[0].order
    assert closed.status == "CANCELED" and not closed.in_book
    assert completed(events) == RequestCompleted(u, "oc", (closed,))
    assert v.balance(u, "USD") == (amt(1000), amt(1000))
    assert v.ex.order(oid) is None and not v.ex.open_orders(u)
    r = rejection(v.apply(CancelOrder(u, oid)))
    assert r.text == "Order not found."


def test_cancel_after_a_partial_fill_says_what_was_filled(v: Venue) -> None:
    u = v.user("u", USD="10000")
    oid = accepted_id(v.order(u, "0.1", "6600.2"))
    seller = v.user("s", BTC="1")
    v.order(seller, "-0.02799232", "6600.2")
    closed = of_type(v.apply(CancelOrder(u, oid)), OrderClosed)[0].order
    assert closed.status == "CANCELED was: PARTIALLY FILLED @ 6600.2(0.02799232)"


def test_cancel_by_client_id_and_its_utc_day(v: Venue) -> None:
    u = v.user("u", USD="1000")
    oid = accepted_id(v.order(u, "0.1", "100", client_order_id=55))
    day = utc_day(T0)
    assert day == "2023-11-14"
    assert rejection(v.apply(CancelOrder(u, client_order_id=55,
                                         client_order_date="2023-11-15"))).text == \
        "Order not found."
    events = v.apply(CancelOrder(u, client_order_id=55, client_order_date=day))
    assert of_type(events, OrderClosed)[0].order.id == oid


def test_cancel_many_by_ids_groups_and_client_ids(v: Venue) -> None:
    u = v.user("u", USD="10000")
    a = accepted_id(v.order(u, "0.1", "100"))
    b = accepted_id(v.order(u, "0.1", "100", group_id=9))
    c = accepted_id(v.order(u, "0.1", "100", client_order_id=3))
    d = accepted_id(v.order(u, "0.1", "100"))
    events = v.apply(CancelOrders(u, order_ids=(a, 999), group_ids=(9,),
                                  client_order_ids=((3, utc_day(T0)),)))
    assert [o.id for o in completed(events).orders] == [a, b, c]
    assert completed(events).request == "oc_multi"
    assert [o.id for o in v.ex.open_orders(u)] == [d]
    events = v.apply(CancelOrders(u, all=True))
    assert [o.id for o in completed(events).orders] == [d]


def test_cancel_all_orders_is_the_dead_man_switch(v: Venue) -> None:
    u = v.user("u", USD="10000")
    ids = [accepted_id(v.order(u, "0.1", p)) for p in ("100", "101")]
    other = v.user("o", USD="1000")
    kept = accepted_id(v.order(other, "0.1", "100"))
    events = v.apply(CancelAllOrders(u))
    assert [e.order.id for e in of_type(events, OrderClosed)] == ids
    assert [o.id for o in v.ex.open_orders(other)] == [kept]


def test_multi_op_runs_each_op_with_its_own_answer(v: Venue) -> None:
    u = v.user("u", USD="1000")
    oid = accepted_id(v.order(u, "0.1", "100"))
    ops = (
        SubmitOrder(u, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amt("0.1"), px(90)),
        CancelOrder(u, 4242),
        UpdateOrder(u, oid, price=px(95)),
        CancelOrders(u, order_ids=(oid,)),
    )
    events = v.apply(MultiOp(u, ops))
    answers = [(type(e).__name__, e.request) for e in events
               if isinstance(e, (RequestCompleted, RequestRejected))]
    assert answers == [("RequestCompleted", "on"), ("RequestRejected", "oc"),
                       ("RequestCompleted", "ou"), ("RequestCompleted", "oc_multi")]
    check_invariants(v)


def test_multi_op_with_too_many_ops_is_rejected_whole(v: Venue) -> None:
    u = v.user("u", USD="1000")
    before = v.ex.state_hash()
    op = SubmitOrder(u, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amt("0.001"), px(90))
    r = rejection(v.apply(MultiOp(u, (op,) * 76)))
    assert (r.request, r.code, r.text) == ("ox_multi", 10001, "ops: invalid")
    assert rejection(v.apply(MultiOp(u, ()))).text == "ops: invalid"
    assert v.ex.state_hash() == before
    assert len(of_type(v.apply(MultiOp(u, (op,) * 75)), RequestCompleted)) == 75


def test_updating_a_pending_stop_moves_its_trigger(v: Venue) -> None:
    u = v.user("u", BTC="1")
    oid = accepted_id(v.order(u, "-0.5", "90", "EXCHANGE STOP"))
    events = v.apply(UpdateOrder(u, oid, price=px(80)))
    assert of_type(events, OrderUpdated)[0].order.price == px(80)
    assert v.ex.order(oid).price == px(80)  # type: ignore[union-attr]
    check_invariants(v)


def test_an_update_of_a_partially_filled_order_sets_its_remaining_and_keeps_its_fills(
    v: Venue,
) -> None:
    u = v.user("u", USD="10000")
    oid = accepted_id(v.order(u, "1", "100"))
    v.order(v.user("s", BTC="1"), "-0.3", "100")
    events = v.apply(UpdateOrder(u, oid, amount=amt("0.2")))  # spec §8.3: the new remaining
    state = of_type(events, OrderUpdated)[0].order
    assert (state.amount, state.amount_orig) == (amt("0.2"), amt("0.5"))
    assert state.status == "PARTIALLY FILLED @ 100.0(0.3)"
    assert v.balance(u, "USD")[1] == amt(10000 - 30 - 20)  # holds only the new remaining
    events = v.order(v.user("s2", BTC="1"), "-0.5", "100")
    assert last_state(events, oid).status == (
        "EXECUTED @ 100.0(0.2): was PARTIALLY FILLED @ 100.0(0.3)")
    check_invariants(v)


def test_a_delta_adds_to_the_signed_remaining_of_a_sell(v: Venue) -> None:
    u = v.user("u", BTC="1")
    oid = accepted_id(v.order(u, "-0.5", "100"))
    state = of_type(v.apply(UpdateOrder(u, oid, delta=-amt("0.2"))), OrderUpdated)[0].order
    assert state.amount == -amt("0.7") and v.balance(u, "BTC")[1] == amt("0.3")
    state = of_type(v.apply(UpdateOrder(u, oid, delta=amt("0.6"))), OrderUpdated)[0].order
    assert state.amount == -amt("0.1") and v.balance(u, "BTC")[1] == amt("0.9")
    check_invariants(v)


def test_an_update_of_group_client_id_and_tif_keeps_priority_and_the_new_tif_expires(
    v: Venue,
) -> None:
    u, (a, b, c) = _three_bids(v)
    events = v.apply(UpdateOrder(u, a, group_id=4, client_order_id=77, tif_ts=T0 + 500))
    state = of_type(events, OrderUpdated)[0].order
    assert (state.group_id, state.client_order_id, state.tif_ts) == (4, 77, T0 + 500)
    assert _fill_order(v) == [a]
    d = accepted_id(v.order(u, "0.1", "100", tif_ts=T0 + 400))
    v.apply(UpdateOrder(u, d, tif_ts=T0 + 600))  # a later tif replaces the earlier one
    assert v.ex.order(d) is not None
    closed = of_type(v.apply(Tick(), at=T0 + 550), OrderClosed)
    assert closed == [] and v.ex.order(d) is not None
    closed = of_type(v.apply(Tick(), at=T0 + 600), OrderClosed)
    assert [e.order.id for e in closed] == [d]


def test_a_post_only_order_moved_to_a_crossing_price_is_closed_postonly_canceled(
    v: Venue,
) -> None:
    seller = v.user("seller", BTC="1")
    v.order(seller, "-0.1", "105")
    u = v.user("u", USD="1000")
    oid = accepted_id(v.order(u, "0.1", "100", flags=4096))
    events = v.apply(UpdateOrder(u, oid, price=px(105)))
    assert not trades(events)
    assert last_state(events, oid).status == "POSTONLY CANCELED"
    assert v.balance(u, "USD") == (amt(1000), amt(1000))
    check_invariants(v)
