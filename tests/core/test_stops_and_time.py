"""Stops, stop limits, trailing stops, OCO pairs and tif expiry (spec §6.1)."""

from __future__ import annotations

import pytest

from venue.core.commands import CancelOrder, SubmitOrder, Tick, UpdateOrder
from venue.core.events import OrderAccepted, OrderClosed, OrderUpdated
from venue.core.orders import OrderType

from tests.core.harness import (
    T0, Venue, accepted_id, amt, check_invariants, completed, last_state, of_type, px, rejection,
    trades,
)


@pytest.fixture
def v() -> Venue:
    return Venue()


def _trade_at(v: Venue, price: str, amount: str = "0.01") -> None:
    """Make the last price ``price`` with a small trade between two fresh users."""
    n = v.seq
    maker = v.user(f"tm{n}", BTC="1", USD="100000")
    taker = v.user(f"tt{n}", BTC="1", USD="100000")
    v.order(maker, f"-{amount}", price)
    assert trades(v.order(taker, amount, price))


def test_a_sell_stop_waits_then_becomes_a_market_order_when_the_last_price_falls(v: Venue) -> None:
    _trade_at(v, "100")
    bidder = v.user("bidder", USD="10000")
    v.order(bidder, "1", "95")
    u = v.user("u", BTC="1")
    events = v.order(u, "-0.5", "96", "EXCHANGE STOP")
    stop_id = accepted_id(events)
    assert not events[0].order.in_book and not trades(events)  # type: ignore[union-attr]
    assert v.balance(u, "BTC")[1] == amt("0.5")  # a pending sell stop holds its base
    maker = v.user("m", BTC="1")
    v.order(maker, "-0.01", "96")
    events = v.order(v.user("t", USD="1000"), "0.01", "96")  # last = 96 triggers the stop
    updated = [e.order for e in of_type(events, OrderUpdated) if e.order.id == stop_id]
    assert updated[0].type is OrderType.EXCHANGE_MARKET
    assert updated[0].type_prev is OrderType.EXCHANGE_STOP
    final = last_state(events, stop_id)
    assert final.status == "EXECUTED @ 95.0(-0.5)" and final.price == px(95)
    check_invariants(v)


def test_a_buy_stop_triggers_when_the_last_price_rises_to_it(v: Venue) -> None:
    _trade_at(v, "100")
    asker = v.user("asker", BTC="5")
    v.order(asker, "-1", "110")
    u = v.user("u", USD="1000")
    stop_id = accepted_id(v.order(u, "0.5", "105", "EXCHANGE STOP"))
    assert v.balance(u, "USD")[1] == amt(1000 - 52.5)
    v.order(asker, "-0.01", "105")
    events = v.order(v.user("t", USD="1000"), "0.01", "105")
    assert last_state(events, stop_id).status == "EXECUTED @ 110.0(0.5)"
    check_invariants(v)


def test_a_stop_limit_becomes_a_resting_limit_at_its_aux_price(v: Venue) -> None:
    _trade_at(v, "100")
    u = v.user("u", BTC="1")
    stop_id = accepted_id(v.order(u, "-0.5", "96", "EXCHANGE STOP LIMIT",
                                  price_aux_limit=px(95)))
    _trade_at(v, "96")
    state = v.ex.order(stop_id)
    assert state is not None and state.type is OrderType.EXCHANGE_LIMIT
    assert state.type_prev is OrderType.EXCHANGE_STOP_LIMIT
    assert state.price == px(95) and state.in_book and state.status == "ACTIVE"
    check_invariants(v)


def test_stops_cascade_within_one_command(v: Venue) -> None:
    _trade_at(v, "100")
    bidder = v.user("bidder", USD="10000")
    v.order(bidder, "0.5", "95")
    v.order(bidder, "0.5", "94")
    a = v.user("a", BTC="1")
    b = v.user("b", BTC="1")
    first = accepted_id(v.order(a, "-0.5", "98", "EXCHANGE STOP"))
    second = accepted_id(v.order(b, "-0.5", "96", "EXCHANGE STOP"))
    maker = v.user("m", BTC="1")
    v.order(maker, "-0.01", "98")
    events = v.order(v.user("t", USD="1000"), "0.01", "98")
    # the first stop sells at 95, which triggers the second one, which sells at 94
    assert last_state(events, first).status == "EXECUTED @ 95.0(-0.5)"
    assert last_state(events, second).status == "EXECUTED @ 94.0(-0.5)"
    assert v.ex.last_price("tBTCUSD") == px(94)
    check_invariants(v)


def test_a_stop_already_reached_triggers_at_once(v: Venue) -> None:
    _trade_at(v, "100")
    bidder = v.user("bidder", USD="10000")
    v.order(bidder, "1", "99")
    u = v.user("u", BTC="1")
    events = v.order(u, "-0.5", "101", "EXCHANGE STOP")
    assert last_state(events, accepted_id(events)).status == "EXECUTED @ 99.0(-0.5)"


def test_a_trailing_stop_follows_the_market_and_triggers_on_the_pullback(v: Venue) -> None:
    _trade_at(v, "100")
    bidder = v.user("bidder", USD="100000")
    v.order(bidder, "1", "90")
    u = v.user("u", BTC="1")
    stop_id = accepted_id(v.order(u, "-0.5", None, "EXCHANGE TRAILING STOP",
                                  price_trailing=px(5)))
    assert v.ex.order(stop_id).price == px(95)  # type: ignore[union-attr]
    _trade_at(v, "110")
    assert v.ex.order(stop_id).price == px(105)  # type: ignore[union-attr]
    _trade_at(v, "106")
    assert v.ex.order(stop_id) is not None
    maker = v.user("m", BTC="1")
    v.order(maker, "-0.01", "105")
    events = v.order(v.user("t", USD="1000"), "0.01", "105")
    assert last_state(events, stop_id).status == "EXECUTED @ 90.0(-0.5)"
    check_invariants(v)


def test_oco_places_a_limit_and_a_stop_linked_by_placed_id(v: Venue) -> None:
    _trade_at(v, "100")
    u = v.user("u", BTC="1")
    events = v.order(u, "-0.5", "110", flags=16384, price_oco_stop=px(90),
                     client_order_id=7, client_order_id_oco=8)
    limit, stop = (e.order for e in of_type(events, OrderAccepted))
    assert (limit.type, stop.type) == (OrderType.EXCHANGE_LIMIT, OrderType.EXCHANGE_STOP)
    assert limit.placed_id == stop.id and stop.placed_id == limit.id
    assert (limit.client_order_id, stop.client_order_id) == (7, 8)
    assert stop.price == px(90) and not stop.in_book
    assert v.ex.order(limit.id).in_book  # type: ignore[union-attr]
    assert completed(events).orders == (limit, stop)
    assert v.balance(u, "BTC")[1] == amt("0.5")  # the pair holds once
    check_invariants(v)


def test_a_fill_of_the_oco_limit_leg_cancels_the_stop_leg(v: Venue) -> None:
    _trade_at(v, "100")
    u = v.user("u", BTC="1")
    events = v.order(u, "-0.5", "110", flags=16384, price_oco_stop=px(90))
    limit, stop = (e.order for e in of_type(events, OrderAccepted))
    events = v.order(v.user("b", USD="1000"), "0.1", "110")
    assert last_state(events, stop.id).status == "CANCELED"
    assert last_state(events, limit.id).status == "PARTIALLY FILLED @ 110.0(-0.1)"
    check_invariants(v)


def test_triggering_the_oco_stop_leg_cancels_the_limit_leg(v: Venue) -> None:
    _trade_at(v, "100")
    bidder = v.user("bidder", USD="1000")
    v.order(bidder, "1", "89")
    u = v.user("u", BTC="1")
    events = v.order(u, "-0.5", "110", flags=16384, price_oco_stop=px(90))
    limit, stop = (e.order for e in of_type(events, OrderAccepted))
    _trade_at(v, "90")
    assert v.ex.order(limit.id) is None and v.ex.order(stop.id) is None
    assert v.balance(u, "BTC")[0] == amt("0.5")
    check_invariants(v)


def test_canceling_one_oco_leg_cancels_both(v: Venue) -> None:
    u = v.user("u", BTC="1")
    events = v.order(u, "-0.5", "110", flags=16384, price_oco_stop=px(90))
    limit, stop = (e.order for e in of_type(events, OrderAccepted))
    events = v.apply(CancelOrder(u, limit.id))
    assert [e.order.id for e in of_type(events, OrderClosed)] == [limit.id, stop.id]
    assert v.balance(u, "BTC") == (amt(1), amt(1))


def test_an_order_expires_at_its_tif_at_the_start_of_the_next_command(v: Venue) -> None:
    u = v.user("u", USD="1000")
    order_id = accepted_id(v.order(u, "0.5", "100", tif_ts=T0 + 1000))
    assert not of_type(v.apply(Tick(), at=T0 + 999), OrderClosed)
    events = v.apply(Tick(), at=T0 + 1000)
    assert [e.order.id for e in of_type(events, OrderClosed)] == [order_id]
    assert of_type(events, OrderClosed)[0].order.status == "CANCELED"
    assert v.balance(u, "USD") == (amt(1000), amt(1000))
    check_invariants(v)


def test_expiry_runs_before_the_command_that_brings_the_time(v: Venue) -> None:
    m = v.user("m", BTC="1")
    v.order(m, "-0.5", "100", tif_ts=T0 + 1000)
    buyer = v.user("buyer", USD="1000")
    events = v.apply(SubmitOrder(buyer, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amt("0.5"),
                                 px(100)), at=T0 + 2000)
    assert isinstance(events[0], OrderClosed) and not trades(events)


def test_a_triggered_buy_stop_that_can_no_longer_be_paid_is_closed_insufficient(v: Venue) -> None:
    _trade_at(v, "100")
    asker = v.user("asker", BTC="5")
    v.order(asker, "-1", "200")
    u = v.user("u", USD="60")
    stop_id = accepted_id(v.order(u, "0.5", "105", "EXCHANGE STOP"))  # holds 52.5 USD
    v.order(asker, "-0.01", "105")
    events = v.order(v.user("t", USD="1000"), "0.01", "105")
    closed = last_state(events, stop_id)
    assert closed.status == "INSUFFICIENT BALANCE (U1)" and closed.amount == amt("0.5")
    assert v.balance(u, "USD") == (amt(60), amt(60))
    check_invariants(v)


def test_changing_a_trailing_distance_moves_the_trigger(v: Venue) -> None:
    from venue.core.commands import UpdateOrder

    _trade_at(v, "100")
    u = v.user("u", BTC="1")
    stop_id = accepted_id(v.order(u, "-0.5", None, "EXCHANGE TRAILING STOP",
                                  price_trailing=px(5)))
    events = v.apply(UpdateOrder(u, stop_id, price_trailing=px(8)))
    state = of_type(events, OrderUpdated)[0].order
    assert (state.price_trailing, state.price) == (px(8), px(92))


def test_a_stop_order_reports_its_trigger_as_price_and_is_not_in_the_book(v: Venue) -> None:
    u = v.user("u", BTC="1")
    state = v.order(u, "-0.5", "96", "EXCHANGE STOP LIMIT", price_aux_limit=px(95))[0].order  # type: ignore[union-attr]
    assert (state.price, state.price_aux_limit, state.in_book) == (px(96), px(95), False)
    assert [o.id for o in v.ex.open_orders(u, "tBTCUSD")] == [state.id]
    assert v.ex.open_orders(u, "tETHUSD") == []


def test_a_trailing_stop_that_follows_the_market_reports_its_new_price_once(v: Venue) -> None:
    _trade_at(v, "100")
    u = v.user("u", BTC="1")
    stop_id = accepted_id(v.order(u, "-0.5", None, "EXCHANGE TRAILING STOP",
                                  price_trailing=px(5)))
    m = v.user("m", BTC="1")
    v.order(m, "-0.01", "108")
    v.order(m, "-0.01", "110")
    events = v.order(v.user("t", USD="1000"), "0.02", "110")  # trades at 108 then 110
    moved = [e.order for e in of_type(events, OrderUpdated) if e.order.id == stop_id]
    assert [(o.price, o.in_book, o.status) for o in moved] == [(px(105), False, "ACTIVE")]
    assert completed(events).request == "on"


def test_an_expiry_and_the_command_after_it_report_each_wallet_once(v: Venue) -> None:
    from venue.core.events import WalletChanged

    u = v.user("u", USD="1000")
    v.order(u, "0.5", "100", tif_ts=T0 + 1000)
    events = v.apply(SubmitOrder(u, "tBTCUSD", OrderType.EXCHANGE_LIMIT, amt("0.2"), px(100)),
                     at=T0 + 1000)
    assert isinstance(events[0], OrderClosed)
    wallets = of_type(events, WalletChanged)
    assert [(w.currency, w.balance, w.available) for w in wallets] == [
        ("USD", amt(1000), amt(980))]


def test_a_post_only_oco_limit_leg_that_would_take_cancels_its_stop_leg_too(v: Venue) -> None:
    bidder = v.user("bidder", USD="10000")
    v.order(bidder, "1", "100")
    u = v.user("u", BTC="1")
    events = v.order(u, "-0.5", "100", flags=16384 | 4096, price_oco_stop=px(90))
    limit, stop = (e.order for e in of_type(events, OrderAccepted))
    closed = [(e.order.id, e.order.status) for e in of_type(events, OrderClosed)]
    assert closed == [(limit.id, "POSTONLY CANCELED"), (stop.id, "CANCELED")]
    assert not trades(events) and v.ex.open_orders(u) == []
    assert v.balance(u, "BTC") == (amt(1), amt(1))
    check_invariants(v)


def test_a_post_only_update_of_an_oco_limit_leg_that_would_take_cancels_both(v: Venue) -> None:
    from venue.core.commands import UpdateOrder

    bidder = v.user("bidder", USD="10000")
    v.order(bidder, "1", "100")
    u = v.user("u", BTC="1")
    events = v.order(u, "-0.5", "110", flags=16384 | 4096, price_oco_stop=px(90))
    limit, stop = (e.order for e in of_type(events, OrderAccepted))
    events = v.apply(UpdateOrder(u, limit.id, price=px(100)))
    closed = [(e.order.id, e.order.status) for e in of_type(events, OrderClosed)]
    assert closed == [(limit.id, "POSTONLY CANCELED"), (stop.id, "CANCELED")]
    assert v.ex.open_orders(u) == []
    check_invariants(v)


def test_a_buy_trailing_stop_follows_the_market_down_and_triggers_on_the_rebound(v: Venue) -> None:
    _trade_at(v, "100")
    asker = v.user("asker", BTC="5")
    v.order(asker, "-1", "120")
    u = v.user("u", USD="1000")
    stop_id = accepted_id(v.order(u, "0.5", None, "EXCHANGE TRAILING STOP",
                                  price_trailing=px(5)))
    assert v.ex.order(stop_id).price == px(105)  # type: ignore[union-attr]
    assert v.balance(u, "USD")[1] == amt(1000 - 52.5)  # held at its trigger price
    _trade_at(v, "104")  # a rise short of the trigger: nothing moves, nothing triggers
    assert v.ex.order(stop_id).price == px(105)  # type: ignore[union-attr]
    _trade_at(v, "90")  # a new low: the trigger follows it down
    assert v.ex.order(stop_id).price == px(95)  # type: ignore[union-attr]
    assert v.balance(u, "USD")[1] == amt(1000 - 52.5)  # the hold never shrinks below need
    _trade_at(v, "94")
    assert v.ex.order(stop_id) is not None and v.ex.order(stop_id).price == px(95)  # type: ignore[union-attr]
    v.order(asker, "-0.01", "95")
    events = v.order(v.user("t", USD="1000"), "0.01", "95")  # last = 95 triggers it
    final = last_state(events, stop_id)
    assert final.type is OrderType.EXCHANGE_MARKET
    assert final.type_prev is OrderType.EXCHANGE_TRAILING_STOP
    assert final.status == "EXECUTED @ 120.0(0.5)"
    check_invariants(v)


def test_a_triggered_buy_stop_is_covered_for_its_whole_amount_not_only_what_the_book_holds(
    v: Venue,
) -> None:
    # The book holds 0.2 BTC at 110 (22 USD): the stop must still pay for all 0.5 BTC at 110
    # (55 USD) once it is a market order, as a new market buy would (exchange.py docstring).
    _trade_at(v, "100")
    asker = v.user("asker", BTC="5")
    v.order(asker, "-0.2", "110")
    u = v.user("u", USD="53")
    stop_id = accepted_id(v.order(u, "0.5", "105", "EXCHANGE STOP"))  # holds 52.5 USD
    v.order(asker, "-0.01", "105")
    events = v.order(v.user("t", USD="1000"), "0.01", "105")
    closed = last_state(events, stop_id)
    assert closed.status == "INSUFFICIENT BALANCE (U1)" and closed.amount == amt("0.5")
    assert not [t for t in trades(events) if stop_id in (t.taker_order_id, t.maker_order_id)]
    assert v.balance(u, "USD") == (amt(53), amt(53))
    check_invariants(v)


def test_an_oco_buy_holds_what_its_dearer_leg_needs_so_its_stop_leg_is_paid_for(
    v: Venue,
) -> None:
    # limit leg 0.5 @ 90 (45 USD), stop leg 0.5 @ 110 (55 USD): the pair holds 55
    _trade_at(v, "100")
    poor = v.user("poor", USD="50")
    before = v.ex.state_hash()
    r = rejection(v.order(poor, "0.5", "90", flags=16384, price_oco_stop=px(110)))
    assert (r.code, r.text) == (10001,
                                "Invalid order: not enough exchange balance for 0.5 BTCUSD at 110.0")
    assert v.ex.state_hash() == before
    u = v.user("u", USD="60")
    events = v.order(u, "0.5", "90", flags=16384, price_oco_stop=px(110))
    limit, stop = (e.order for e in of_type(events, OrderAccepted))
    assert v.balance(u, "USD") == (amt(60), amt(5))
    check_invariants(v)
    asker = v.user("asker", BTC="5")
    v.order(asker, "-1", "110")
    events = v.order(v.user("t", USD="1000"), "0.01", "110")  # last = 110 triggers the stop
    assert last_state(events, limit.id).status == "CANCELED"
    assert last_state(events, stop.id).status == "EXECUTED @ 110.0(0.5)"
    assert v.balance(u, "USD") == (amt(5), amt(5))
    check_invariants(v)


def test_the_first_fill_of_an_oco_buy_limit_leg_releases_what_the_stop_leg_held(
    v: Venue,
) -> None:
    _trade_at(v, "100")
    u = v.user("u", USD="60")
    events = v.order(u, "0.5", "90", flags=16384, price_oco_stop=px(110))
    limit, stop = (e.order for e in of_type(events, OrderAccepted))
    events = v.order(v.user("s", BTC="1"), "-0.1", "90")
    assert last_state(events, stop.id).status == "CANCELED"
    assert v.balance(u, "USD") == (amt(51), amt(51 - 36))  # 0.4 left @ 90 still held
    check_invariants(v)


def test_updating_an_oco_buy_leg_keeps_the_pair_holding_its_dearer_leg(v: Venue) -> None:
    _trade_at(v, "100")
    u = v.user("u", USD="60")
    events = v.order(u, "0.5", "90", flags=16384, price_oco_stop=px(110))
    limit, stop = (e.order for e in of_type(events, OrderAccepted))
    r = rejection(v.apply(UpdateOrder(u, stop.id, price=px(130))))  # 65 USD > 60
    assert (r.code, r.text) == (10001,
                                "Invalid order: not enough exchange balance for 0.5 BTCUSD at 130.0")
    assert completed(v.apply(UpdateOrder(u, stop.id, price=px(118))))  # 59 USD
    assert v.balance(u, "USD") == (amt(60), amt(1))
    assert completed(v.apply(UpdateOrder(u, limit.id, price=px(80))))  # still 59
    assert v.balance(u, "USD") == (amt(60), amt(1))
    check_invariants(v)
    assert completed(v.apply(UpdateOrder(u, limit.id, amount=amt("0.2"))))  # 16 + 43
    assert v.balance(u, "USD") == (amt(60), amt(1))
    check_invariants(v)
    assert completed(v.apply(UpdateOrder(u, stop.id, amount=amt("0.1"))))  # 16 + 0
    assert v.balance(u, "USD") == (amt(60), amt(44))
    check_invariants(v)
