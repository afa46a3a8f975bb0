"""Spot orders and matching: limit, market, IOC, FOK, post-only, hidden; fees and ledger lines;
every rejection with Bitfinex's code and text and no state change (issue part 2)."""

from __future__ import annotations

import pytest

from venue.core.commands import CancelOrder, Transfer
from venue.core.events import (
    AccountTrade, LedgerEntryAdded, OrderAccepted, OrderClosed, OrderUpdated, RequestCompleted,
    TradeExecuted, WalletChanged,
)
from venue.core.exchange import FEE_ACCOUNT_ID

from tests.core.harness import (
    Venue, accepted_id, amt, check_invariants, completed, last_state, of_type, px, rejection,
    trades,
)


@pytest.fixture
def v() -> Venue:
    return Venue()


def test_a_limit_order_that_does_not_cross_rests_and_holds_its_funds(v: Venue) -> None:
    uid = v.user("alice", USD="10000")
    events = v.order(uid, "0.5", "8000")
    accepted = events[0]
    assert isinstance(accepted, OrderAccepted)
    assert accepted.order.status == "ACTIVE" and accepted.order.in_book
    assert accepted.order.amount == amt("0.5") and accepted.order.price == px(8000)
    assert of_type(events, WalletChanged) == [
        WalletChanged(uid, "exchange", "USD", amt(10000), amt(6000), None)]
    assert completed(events) == RequestCompleted(uid, "on", (accepted.order,))
    assert [o.id for o in v.ex.open_orders(uid)] == [accepted.order.id]
    check_invariants(v)


def test_a_crossing_limit_trades_at_the_makers_price_and_settles_fees(v: Venue) -> None:
    seller = v.user("seller", BTC="1")
    buyer = v.user("buyer", USD="10000")
    maker_id = accepted_id(v.order(seller, "-1", "8150"))
    events = v.order(buyer, "0.5", "8200")
    taker_id = accepted_id(events)
    (trade,) = trades(events)
    assert (trade.price, trade.amount, trade.maker_order_id, trade.taker_order_id) == (
        px(8150), amt("0.5"), maker_id, taker_id)
    taker_side, maker_side = of_type(events, AccountTrade)
    # spec §6.4: the buyer pays its fee in base, the seller in quote; taker 0.2 %, maker 0.1 %.
    assert (taker_side.amount, taker_side.fee, taker_side.fee_currency, taker_side.maker) == (
        amt("0.5"), -amt("0.001"), "BTC", False)
    assert (maker_side.amount, maker_side.fee, maker_side.fee_currency, maker_side.maker) == (
        -amt("0.5"), -amt("4.075"), "USD", True)
    assert v.balance(buyer, "BTC") == (amt("0.499"), amt("0.499"))
    assert v.balance(buyer, "USD") == (amt(5925), amt(5925))  # the better price is not held
    assert v.balance(seller, "USD") == (amt("4070.925"), amt("4070.925"))
    assert v.balance(seller, "BTC") == (amt("0.5"), 0)
    assert v.balance(FEE_ACCOUNT_ID, "BTC")[0] == amt("0.001")
    assert v.balance(FEE_ACCOUNT_ID, "USD")[0] == amt("4.075")
    assert last_state(events, taker_id).status == "EXECUTED @ 8150.0(0.5)"
    assert last_state(events, maker_id).status == "PARTIALLY FILLED @ 8150.0(-0.5)"
    check_invariants(v)


def test_trade_events_come_in_the_documented_order(v: Venue) -> None:
    seller = v.user("seller", BTC="1")
    buyer = v.user("buyer", USD="10000")
    v.order(seller, "-1", "8150")
    events = v.order(buyer, "1", "8150")
    kinds = [type(e).__name__ for e in events]
    assert kinds[:6] == ["OrderAccepted", "TradeExecuted", "AccountTrade", "AccountTrade",
                         "OrderClosed", "OrderClosed"]
    first_wallet = kinds.index("WalletChanged")
    first_ledger = kinds.index("LedgerEntryAdded")
    assert first_wallet < first_ledger and kinds[-1] == "RequestCompleted"
    assert "WalletChanged" not in kinds[first_ledger:]
    touched = [(e.user_id, e.currency) for e in of_type(events, WalletChanged)]
    assert len(touched) == len(set(touched)), "one WalletChanged per wallet"


def test_trade_ledger_lines_use_bitfinex_descriptions(v: Venue) -> None:
    seller = v.user("seller", BTC="1")
    buyer = v.user("buyer", USD="10000")
    v.order(seller, "-0.5", "8150")
    events = v.order(buyer, "0.5", "8150")
    lines = [(l.user_id, l.currency, l.amount, l.category, l.description)
             for l in of_type(events, LedgerEntryAdded)]
    exchange = "Exchange 0.5 BTC for USD @ 8150.0 on wallet exchange"
    taker_fee = "Trading fees for 0.5 BTC (BTCUSD) @ 8150.0 on BFX (0.2%) on wallet exchange"
    maker_fee = "Trading fees for 0.5 BTC (BTCUSD) @ 8150.0 on BFX (0.1%) on wallet exchange"
    assert lines == [
        (buyer, "BTC", amt("0.5"), 5, exchange),
        (buyer, "USD", -amt(4075), 5, exchange),
        (buyer, "BTC", -amt("0.001"), 201, taker_fee),
        (seller, "BTC", -amt("0.5"), 5, exchange),
        (seller, "USD", amt(4075), 5, exchange),
        (seller, "USD", -amt("4.075"), 201, maker_fee),
        (FEE_ACCOUNT_ID, "BTC", amt("0.001"), 201, taker_fee),
        (FEE_ACCOUNT_ID, "USD", amt("4.075"), 201, maker_fee),
    ]
    # each line's balance is the wallet's balance right after it
    assert of_type(events, LedgerEntryAdded)[2].balance == amt("0.499")


def test_orders_at_one_price_fill_first_in_first_out(v: Venue) -> None:
    makers = [v.user(f"m{i}", BTC="1") for i in range(3)]
    ids = [accepted_id(v.order(m, "-0.1", "100")) for m in makers]
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.15", "100")
    assert [t.maker_order_id for t in trades(events)] == [ids[0], ids[1]]
    assert last_state(events, ids[1]).amount == -amt("0.05")
    assert v.ex.order(ids[2]).amount == -amt("0.1")  # type: ignore[union-attr]
    check_invariants(v)


def test_better_prices_fill_first(v: Venue) -> None:
    m = v.user("m", BTC="1")
    high = accepted_id(v.order(m, "-0.1", "102"))
    low = accepted_id(v.order(m, "-0.1", "101"))
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.2", "102")
    assert [(t.maker_order_id, t.price) for t in trades(events)] == [(low, px(101)),
                                                                     (high, px(102))]
    assert last_state(events, accepted_id(events)).status == (
        "EXECUTED @ 102.0(0.1): was PARTIALLY FILLED @ 101.0(0.1)")
    assert last_state(events, accepted_id(events)).price_avg == px("101.5")


def test_a_partially_filled_limit_rests_with_its_remainder(v: Venue) -> None:
    m = v.user("m", BTC="1")
    v.order(m, "-0.09", "16673")
    buyer = v.user("buyer", USD="100000")
    events = v.order(buyer, "1", "16680")
    state = last_state(events, accepted_id(events))
    assert isinstance(events[-1], RequestCompleted)
    assert state.status == "PARTIALLY FILLED @ 16673.0(0.09)"
    assert state.in_book and state.amount == amt("0.91") and state.amount_orig == amt(1)
    seller = v.user("seller", BTC="1")
    events = v.order(seller, "-0.91", "16680")
    assert last_state(events, state.id).status == (
        "EXECUTED @ 16680.0(0.91): was PARTIALLY FILLED @ 16673.0(0.09)")
    check_invariants(v)


def test_a_limit_filled_in_several_parts_keeps_its_last_fill_first_then_was(v: Venue) -> None:
    # spec §6.3.1's chain, fill by fill: the open status shows the last fill, then ": was " and
    # the earlier fills in chronological order, like the executed status that follows it.
    m = v.user("m", XRP="22")
    for price in ("1.65", "1.6517", "1.6517"):
        v.order(m, "-6", price, symbol="tXRPUSD")
    buyer = v.user("buyer", USD="100")
    events = v.order(buyer, "22", "1.6518", symbol="tXRPUSD")
    state = last_state(events, accepted_id(events))
    assert state.in_book and state.status == (
        "PARTIALLY FILLED @ 1.6517(6.0): was PARTIALLY FILLED @ 1.65(6.0), "
        "PARTIALLY FILLED @ 1.6517(6.0)")
    assert v.ex.order(state.id).status == state.status  # type: ignore[union-attr]
    events = v.order(m, "-4", "1.6518", symbol="tXRPUSD")  # the pair's minimum size is 4
    assert last_state(events, state.id).status == (
        "EXECUTED @ 1.6518(4.0): was PARTIALLY FILLED @ 1.65(6.0), "
        "PARTIALLY FILLED @ 1.6517(6.0), PARTIALLY FILLED @ 1.6517(6.0)")
    check_invariants(v)


def test_an_order_canceled_after_two_fills_lists_both_in_order(v: Venue) -> None:
    m = v.user("m", XRP="20")
    v.order(m, "-6", "1.65", symbol="tXRPUSD")
    v.order(m, "-6", "1.6517", symbol="tXRPUSD")
    buyer = v.user("buyer", USD="100")
    events = v.order(buyer, "19", "1.6518", symbol="tXRPUSD")
    oid = accepted_id(events)
    assert last_state(events, oid).status == (
        "PARTIALLY FILLED @ 1.6517(6.0): was PARTIALLY FILLED @ 1.65(6.0)")
    events = v.apply(CancelOrder(buyer, oid))
    assert of_type(events, OrderClosed)[0].order.status == (
        "CANCELED was: PARTIALLY FILLED @ 1.65(6.0), PARTIALLY FILLED @ 1.6517(6.0)")


def test_a_market_buy_walks_the_book_and_its_price_is_the_last_fill(v: Venue) -> None:
    m = v.user("m", BTC="2")
    v.order(m, "-0.5", "100")
    v.order(m, "-0.5", "110")
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.8", None, "EXCHANGE MARKET")
    closed = of_type(events, OrderClosed)[-1].order
    assert closed.status == "EXECUTED @ 110.0(0.3): was PARTIALLY FILLED @ 100.0(0.5)"
    assert closed.price == px(110)
    assert v.balance(buyer, "USD") == (amt(1000 - 50 - 33), amt(1000 - 50 - 33))
    check_invariants(v)


def test_a_market_buy_that_costs_more_than_available_is_rejected(v: Venue) -> None:
    m = v.user("m", BTC="2")
    v.order(m, "-1", "100")
    v.order(m, "-1", "200")
    buyer = v.user("buyer", USD="150")
    before = v.ex.state_hash()
    r = rejection(v.order(buyer, "1.5", None, "EXCHANGE MARKET"))
    assert (r.code, r.text) == (10001,
                                "Invalid order: not enough exchange balance for 1.5 BTCUSD at 200.0")
    assert v.ex.state_hash() == before


def test_a_market_buy_beyond_the_book_must_be_covered_for_its_whole_amount(v: Venue) -> None:
    # The issue: "Orders that would exceed the available balance are rejected with Bitfinex's
    # text, not partly accepted". What the book cannot fill is priced at its deepest ask.
    m = v.user("m", BTC="2")
    v.order(m, "-0.5", "100")
    v.order(m, "-0.5", "110", flags=64)  # hidden liquidity counts too
    buyer = v.user("buyer", USD="200")  # pays for the whole book (105), not for 3 BTC
    before = v.ex.state_hash()
    r = rejection(v.order(buyer, "3", None, "EXCHANGE MARKET"))
    assert (r.code, r.text) == (10001,
                                "Invalid order: not enough exchange balance for 3.0 BTCUSD at 110.0")
    assert v.ex.state_hash() == before
    rich = v.user("rich", USD="325")  # 50 + 55 for the book, 2 × 110 for the rest
    events = v.order(rich, "3", None, "EXCHANGE MARKET")
    closed = of_type(events, OrderClosed)[-1].order
    assert closed.status == ("CANCELED was: PARTIALLY FILLED @ 100.0(0.5), "
                             "PARTIALLY FILLED @ 110.0(0.5)")
    assert v.balance(rich, "USD") == (amt(220), amt(220))  # nothing stays held
    check_invariants(v)


def test_a_market_buy_on_an_empty_book_is_priced_at_the_reference_price(v: Venue) -> None:
    buyer = v.user("buyer", USD="1000")
    before = v.ex.state_hash()
    r = rejection(v.order(buyer, "0.1", None, "EXCHANGE MARKET"))  # tBTCUSD reference 90000
    assert (r.code, r.text) == (
        10001, "Invalid order: not enough exchange balance for 0.1 BTCUSD at 90000.0")
    assert v.ex.state_hash() == before
    events = v.order(buyer, "0.01", None, "EXCHANGE MARKET")  # 900 is covered: nothing to take
    assert of_type(events, OrderClosed)[0].order.status == "CANCELED"
    assert v.balance(buyer, "USD") == (amt(1000), amt(1000))


@pytest.mark.parametrize("amount, price, kind", [
    ("1.5", "200", "EXCHANGE IOC"),   # a buy is covered at its limit, whatever the book
    ("1.5", "200", "EXCHANGE FOK"),
    ("-2", None, "EXCHANGE MARKET"),  # a sell needs its whole amount of base
    ("-2", "90", "EXCHANGE IOC"),
])
def test_ioc_fok_and_market_sells_beyond_the_balance_are_refused_whole(
    v: Venue, amount: str, price: str | None, kind: str,
) -> None:
    m = v.user("m", BTC="5", USD="1000")
    v.order(m, "-1", "150")
    v.order(m, "1", "95")
    uid = v.user("u", USD="250", BTC="1")
    before = v.ex.state_hash()
    r = rejection(v.order(uid, amount, price, kind))
    assert r.code == 10001 and r.text.startswith("Invalid order: not enough exchange balance for ")
    assert v.ex.state_hash() == before


def test_a_market_order_without_enough_liquidity_fills_what_exists_then_cancels(v: Venue) -> None:
    m = v.user("m", USD="1000")
    v.order(m, "0.2", "100")
    seller = v.user("seller", BTC="1")
    events = v.order(seller, "-0.5", None, "EXCHANGE MARKET")
    closed = of_type(events, OrderClosed)[-1].order
    assert closed.status == "CANCELED was: PARTIALLY FILLED @ 100.0(-0.2)"
    assert closed.amount == -amt("0.3")
    assert v.balance(seller, "BTC") == (amt("0.8"), amt("0.8"))
    empty = v.order(seller, "-0.1", None, "EXCHANGE MARKET")
    assert of_type(empty, OrderClosed)[0].order.status == "CANCELED"
    check_invariants(v)


def test_ioc_fills_what_it_can_and_cancels_the_rest(v: Venue) -> None:
    m = v.user("m", BTC="1")
    v.order(m, "-0.2", "100")
    v.order(m, "-0.2", "105")
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.5", "101", "EXCHANGE IOC")
    closed = of_type(events, OrderClosed)[-1].order
    assert closed.status == "IOC CANCELED was: PARTIALLY FILLED @ 100.0(0.2)"
    assert v.balance(buyer, "USD")[1] == amt(980)  # nothing stays held
    nothing = v.order(buyer, "0.1", "99", "EXCHANGE IOC")
    assert of_type(nothing, OrderClosed)[0].order.status == "IOC CANCELED"
    assert not v.ex.open_orders(buyer)
    check_invariants(v)


def test_fok_that_cannot_fill_entirely_is_killed_without_trading(v: Venue) -> None:
    m = v.user("m", BTC="1")
    v.order(m, "-0.2", "100")
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.3", "100", "EXCHANGE FOK")
    assert not trades(events)
    assert of_type(events, OrderClosed)[0].order.status == "FILLORKILL CANCELED"
    assert v.balance(buyer, "USD") == (amt(1000), amt(1000))


def test_fok_that_can_fill_executes_entirely(v: Venue) -> None:
    m = v.user("m", BTC="1")
    v.order(m, "-0.2", "100")
    v.order(m, "-0.2", "101")
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.3", "101", "EXCHANGE FOK")
    assert of_type(events, OrderClosed)[-1].order.status.startswith("EXECUTED @ 101.0(0.1)")


def test_post_only_order_that_would_take_is_canceled(v: Venue) -> None:
    m = v.user("m", BTC="1")
    v.order(m, "-0.2", "100")
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.1", "100", flags=4096)
    assert isinstance(events[0], OrderAccepted) and events[0].order.status == "ACTIVE"
    assert of_type(events, OrderClosed)[0].order.status == "POSTONLY CANCELED"
    assert not trades(events)
    assert completed(events).orders[0].status == "ACTIVE"  # spec §8.2: on-req says ACTIVE
    assert v.balance(buyer, "USD") == (amt(1000), amt(1000))


def test_post_only_order_may_take_hidden_orders_and_rests_the_rest(v: Venue) -> None:
    m = v.user("m", BTC="1")
    hidden = accepted_id(v.order(m, "-0.05", "100", flags=64))
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.1", "100", flags=4096)
    assert [t.maker_order_id for t in trades(events)] == [hidden]
    state = last_state(events, accepted_id(events))
    assert state.status == "PARTIALLY FILLED @ 100.0(0.05)" and state.in_book


def test_post_only_order_crossing_hidden_then_visible_is_canceled(v: Venue) -> None:
    m = v.user("m", BTC="1")
    v.order(m, "-0.05", "100", flags=64)
    v.order(m, "-0.05", "101")
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.1", "101", flags=4096)
    assert not trades(events)
    assert of_type(events, OrderClosed)[0].order.status == "POSTONLY CANCELED"


def test_post_only_order_that_does_not_cross_rests(v: Venue) -> None:
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.1", "100", flags=4096)
    assert events[0].order.in_book and events[0].order.flags == 4096  # type: ignore[union-attr]


def test_hidden_order_rests_out_of_the_public_book_and_still_trades(v: Venue) -> None:
    m = v.user("m", BTC="1")
    events = v.order(m, "-0.2", "100", flags=64)
    state = events[0].order  # type: ignore[union-attr]
    assert state.hidden and state.in_book
    buyer = v.user("buyer", USD="1000")
    assert trades(v.order(buyer, "0.1", "100"))[0].maker_order_id == state.id


def test_book_orders_lists_resting_orders_in_priority_order(v: Venue) -> None:
    m = v.user("m", BTC="1", USD="1000")
    a = accepted_id(v.order(m, "0.1", "99"))
    b = accepted_id(v.order(m, "0.1", "100"))
    c = accepted_id(v.order(m, "0.1", "100"))
    d = accepted_id(v.order(m, "-0.1", "101"))
    bids, asks = v.ex.book_orders("tBTCUSD")
    assert [o.id for o in bids] == [b, c, a] and [o.id for o in asks] == [d]


def test_a_self_trade_settles_like_any_other(v: Venue) -> None:
    u = v.user("u", BTC="1", USD="1000")
    v.order(u, "-0.1", "100")
    events = v.order(u, "0.1", "100")
    assert len(trades(events)) == 1
    check_invariants(v)


# -- rejections ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "price", "kind", "symbol", "extra", "code", "text"),
    [
        ("1", "100", "EXCHANGE LIMIT", "tDOGEUSD", {}, 10020, "symbol: invalid"),
        ("0", "100", "EXCHANGE LIMIT", "tBTCUSD", {}, 10020, "amount: invalid"),
        ("0.1", "100", "EXCHANGE LIMIT", "tBTCUSD", {"flags": 2}, 10020, "flags: invalid"),
        ("0.1", None, "EXCHANGE LIMIT", "tBTCUSD", {}, 10020, "price: invalid"),
        # spec §5 (WS submit failure): a price that is there but not positive
        ("-1", "-12483", "EXCHANGE LIMIT", "tBTCUSD", {}, 10001, "Invalid price."),
        ("0.1", "0", "EXCHANGE STOP", "tBTCUSD", {}, 10001, "Invalid price."),
        ("0.1", None, "EXCHANGE IOC", "tBTCUSD", {}, 10020, "price: invalid"),
        ("0.1", "100", "EXCHANGE STOP LIMIT", "tBTCUSD", {}, 10020, "price_aux_limit: invalid"),
        ("0.1", None, "EXCHANGE TRAILING STOP", "tBTCUSD", {}, 10020,
         "price_trailing: invalid"),
        ("0.1", "100", "EXCHANGE LIMIT", "tBTCUSD", {"flags": 16384}, 10020,
         "price_oco_stop: invalid"),
        ("0.00001", "100", "EXCHANGE LIMIT", "tBTCUSD", {}, 10001,
         "Invalid order: minimum size for BTC/USD is 0.00004"),
        ("2001", "1", "EXCHANGE LIMIT", "tBTCUSD", {}, 10001,
         "Invalid order: maximum size for BTC/USD is 2000"),
        ("0.1", "100", "EXCHANGE LIMIT", "tBTCUSD", {"tif_ts": 1}, 10020, "tif: invalid"),
        ("0.1", "100", "LIMIT", "tBTCUSD", {}, 10001,
         "Invalid order: not enough tradable balance for 0.1 BTCUSD at 100.0"),
        ("0.1", None, "LIMIT", "tBTCUSD", {}, 10020, "price: invalid"),  # shape comes first
        ("0.00001", "100", "LIMIT", "tBTCUSD", {}, 10001,
         "Invalid order: minimum size for BTC/USD is 0.00004"),
    ],
)
def test_invalid_orders_are_rejected_with_bitfinex_codes_and_change_nothing(
    v: Venue, amount: str, price: str | None, kind: str, symbol: str, extra: dict[str, int],
    code: int, text: str,
) -> None:
    uid = v.user("alice", USD="1000", BTC="1")
    before = v.ex.state_hash()
    r = rejection(v.order(uid, amount, price, kind, symbol, **extra))
    assert (r.request, r.code, r.text) == ("on", code, text)
    assert v.ex.state_hash() == before


def test_an_order_beyond_the_available_balance_is_rejected_whole(v: Venue) -> None:
    uid = v.user("alice", USD="21")
    before = v.ex.state_hash()
    r = rejection(v.order(uid, "0.00235071", "9122.1687"))
    assert (r.code, r.text) == (
        10001, "Invalid order: not enough exchange balance for 0.00235071 BTCUSD at 9122.2")
    assert v.ex.state_hash() == before
    seller = v.user("bob", BTC="1")
    r = rejection(v.order(seller, "-1.5", "100"))
    assert r.text == "Invalid order: not enough exchange balance for 1.5 BTCUSD at 100.0"


@pytest.mark.parametrize("amount, price, kind, extra, shown", [
    ("1", "100", "LIMIT", {}, "1.0 BTCUSD at 100.0"),
    ("-0.5", "120", "LIMIT", {"flags": 16384, "price_oco_stop": px(90)}, "0.5 BTCUSD at 120.0"),
    ("1", None, "MARKET", {}, "1.0 BTCUSD at 110.0"),    # where buying it would end
    ("-1", None, "MARKET", {}, "1.0 BTCUSD at 105.0"),   # the last price
    ("1", "120", "STOP", {}, "1.0 BTCUSD at 120.0"),
    ("1", "120", "STOP LIMIT", {"price_aux_limit": px(121)}, "1.0 BTCUSD at 121.0"),
    ("-1", None, "TRAILING STOP", {"price_trailing": px(5)}, "1.0 BTCUSD at 100.0"),
    ("1", "100", "FOK", {}, "1.0 BTCUSD at 100.0"),
    ("1", "100", "IOC", {}, "1.0 BTCUSD at 100.0"),
])
def test_margin_orders_get_bitfinexs_not_enough_tradable_balance_and_change_nothing(
    v: Venue, amount: str, price: str | None, kind: str, extra: dict[str, int], shown: str,
) -> None:
    # spec §6.1: a non-EXCHANGE type without margin balance gets "not enough tradable balance"
    # (bitfinex-api-node#220); venue has no margin trading, so nothing is ever tradable, even
    # with funds in the margin wallet and in the exchange wallet.
    m = v.user("m", BTC="5", USD="1000")
    v.order(m, "-1", "105")
    v.order(m, "1", "105")  # last price 105
    v.order(m, "-0.5", "110")
    uid = v.user("u", USD="100000", BTC="10")
    v.apply(Transfer(uid, "exchange", "margin", "USD", amt(50000)))
    v.apply(Transfer(uid, "exchange", "margin", "BTC", amt(5)))
    before = v.ex.state_hash()
    r = rejection(v.order(uid, amount, price, kind, **extra))
    assert (r.request, r.code, r.text) == (
        "on", 10001, f"Invalid order: not enough tradable balance for {shown}")
    assert v.ex.state_hash() == before


def test_holds_of_open_orders_reduce_what_new_orders_can_use(v: Venue) -> None:
    uid = v.user("alice", USD="100")
    v.order(uid, "0.6", "100")
    r = rejection(v.order(uid, "0.5", "100"))
    assert r.text.startswith("Invalid order: not enough exchange balance")
    assert of_type(v.order(uid, "0.4", "100"), OrderAccepted)


def test_maker_update_events_name_the_maker(v: Venue) -> None:
    m = v.user("m", BTC="1")
    mid = accepted_id(v.order(m, "-1", "100"))
    buyer = v.user("buyer", USD="1000")
    events = v.order(buyer, "0.25", "100")
    updated = of_type(events, OrderUpdated)
    assert [u.order.id for u in updated] == [mid]
    assert updated[0].order.status == "PARTIALLY FILLED @ 100.0(-0.25)"
    assert isinstance(trades(events)[0], TradeExecuted)


def test_margin_only_flags_are_accepted_and_kept_on_exchange_orders(v: Venue) -> None:
    uid = v.user("alice", USD="1000")
    for flag in (512, 1024, 524288):
        state = v.order(uid, "0.1", "100", flags=flag)[0].order  # type: ignore[union-attr]
        assert state.flags == flag and state.in_book


def test_a_hidden_post_only_order_keeps_both_flags(v: Venue) -> None:
    uid = v.user("alice", USD="1000")
    state = v.order(uid, "0.1", "100", flags=64 | 4096)[0].order  # type: ignore[union-attr]
    assert state.flags == 4160 and state.hidden and state.in_book


def test_each_order_keeps_its_group_and_client_ids(v: Venue) -> None:
    uid = v.user("alice", USD="1000")
    state = v.order(uid, "0.1", "100", group_id=5, client_order_id=1700000000123)[0].order  # type: ignore[union-attr]
    assert (state.group_id, state.client_order_id, state.client_order_date) == (
        5, 1700000000123, "2023-11-14")


def test_fees_are_configured_per_market_and_default_to_the_config_wide_rates() -> None:
    import json
    from importlib import resources

    from venue.core.symbols import registry_from_config

    config = json.loads(resources.files("venue.core").joinpath("markets.json").read_text())
    for market in config["markets"]:
        if market["symbol"] == "tETHUSD":
            market["maker_fee"], market["taker_fee"] = "0.0005", "0.0025"
    v = Venue(registry_from_config(config))
    eth = v.ex.registry.market("tETHUSD")
    btc = v.ex.registry.market("tBTCUSD")
    assert eth is not None and (eth.maker_fee_ppm, eth.taker_fee_ppm) == (500, 2500)
    assert btc is not None and (btc.maker_fee_ppm, btc.taker_fee_ppm) == (1000, 2000)
    seller = v.user("seller", ETH="10")
    buyer = v.user("buyer", USD="10000")
    v.order(seller, "-2", "2000", symbol="tETHUSD")
    events = v.order(buyer, "2", "2000", symbol="tETHUSD")
    taker_side, maker_side = of_type(events, AccountTrade)
    assert (taker_side.fee, taker_side.fee_currency) == (-amt("0.005"), "ETH")  # 0.25 % of 2
    assert (maker_side.fee, maker_side.fee_currency) == (-amt(2), "USD")  # 0.05 % of 4000
    fee_lines = {l.description for l in of_type(events, LedgerEntryAdded) if l.category == 201}
    assert fee_lines == {
        "Trading fees for 2.0 ETH (ETHUSD) @ 2000.0 on BFX (0.25%) on wallet exchange",
        "Trading fees for 2.0 ETH (ETHUSD) @ 2000.0 on BFX (0.05%) on wallet exchange",
    }
    assert v.balance(FEE_ACCOUNT_ID, "ETH")[0] == amt("0.005")
    assert v.balance(FEE_ACCOUNT_ID, "USD")[0] == amt(2)
    check_invariants(v)


def test_a_fill_worth_less_than_1e_8_of_quote_writes_no_empty_ledger_line(v: Venue) -> None:
    # 0.00000001 ETH at 0.033 BTC is worth 3.3e-10 BTC: nothing moves in BTC, so no BTC line
    # (every ledger line is a balance change; the harness refuses lines of amount 0)
    seller = v.user("seller", ETH="1")
    buyer = v.user("buyer", BTC="1")
    v.order(seller, "-0.00100001", "0.033", symbol="tETHBTC")
    v.order(buyer, "0.001", "0.033", symbol="tETHBTC")
    events = v.order(buyer, "0.001", "0.033", symbol="tETHBTC")
    assert [t.amount for t in trades(events)] == [1]
    lines = of_type(events, LedgerEntryAdded)
    assert [(l.user_id, l.currency, l.amount) for l in lines] == [
        (buyer, "ETH", 1), (seller, "ETH", -1)]
    check_invariants(v)
