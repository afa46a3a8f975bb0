"""Rendering: every layout of spec §3, §5, §6 checked field by field against the spec's examples
(tests/golden/serialize.json), plus the rules the examples alone do not pin down."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from bfxapi.types import serializers as bfx
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol._golden import assert_same_wire, case_ids, load_cases, lossless
from venue.core.commands import CancelOrder, CancelOrders, SubmitOrder, Transfer, UpdateOrder
from venue.core.events import (
    AccountTrade,
    LedgerEntryAdded,
    MovementRecorded,
    RequestCompleted,
    RequestRejected,
    TradeExecuted,
    WalletChanged,
)
from venue.core.exchange import WalletState
from venue.core.numbers import parse_amount
from venue.core.orders import OrderState, OrderType
from venue.core.symbols import load_registry
from venue.protocol import serialize
from venue.protocol.wire import dumps

REGISTRY = load_registry()
CASES = load_cases("serialize.json")
_RAW_FIELDS = {
    "amount",
    "amount_orig",
    "price",
    "price_avg",
    "price_trailing",
    "price_aux_limit",
    "order_price",
    "fee",
    "balance",
    "available",
    "bid",
    "bid_size",
    "ask",
    "ask_size",
    "daily_change",
    "last_price",
    "volume",
    "high",
    "low",
    "open",
    "close",
    "value",
}


def _raw(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        k: parse_amount(v) if k in _RAW_FIELDS and v is not None else v for k, v in fields.items()
    }


def make_order(fields: dict[str, Any]) -> OrderState:
    values = _raw(fields)
    values["type"] = OrderType(values["type"])
    if values.get("type_prev") is not None:
        values["type_prev"] = OrderType(values["type_prev"])
    values.setdefault("user_id", 1)
    return OrderState(**values)


@dataclasses.dataclass(frozen=True)
class _Ticker:
    bid: int | None
    bid_size: int
    ask: int | None
    ask_size: int
    daily_change: int
    daily_change_relative: Decimal
    last_price: int | None
    volume: int
    high: int | None
    low: int | None


def _ticker(fields: dict[str, Any]) -> _Ticker:
    values = _raw(fields)
    values["daily_change_relative"] = Decimal(fields["daily_change_relative"])
    return _Ticker(**values)


@dataclasses.dataclass(frozen=True)
class _Candle:
    mts: int
    open: int
    close: int
    high: int
    low: int
    volume: int


def _account_trade(fields: dict[str, Any]) -> AccountTrade:
    return AccountTrade(user_id=1, **_raw(fields))


def _request_completed(case: dict[str, Any]) -> Any:
    event = RequestCompleted(
        user_id=1, request=case["request"], orders=tuple(make_order(o) for o in case["orders"])
    )
    return serialize.order_request_notification(event, mts=case["mts"], transport=case["transport"])


def _request_rejected_submit(case: dict[str, Any]) -> Any:
    cmd = case["command"]
    command = SubmitOrder(
        user_id=1,
        symbol=cmd["symbol"],
        type=OrderType(cmd["type"]),
        amount=parse_amount(cmd["amount"]),
        price=parse_amount(cmd["price"]),
        client_order_id=cmd["client_order_id"],
    )
    event = RequestRejected(
        user_id=1, request="on", code=case["code"], text=case["text"], command=command
    )
    return serialize.rejection_notification(event, mts=case["mts"])


def _transfer(case: dict[str, Any]) -> Any:
    command = Transfer(
        user_id=1,
        wallet_from=case["wallet_from"],
        wallet_to=case["wallet_to"],
        currency=case["currency"],
        amount=parse_amount(case["amount"]),
    )
    return serialize.transfer_notification(
        command, mts=case["mts"], registry=REGISTRY, updated_mts=case["updated_mts"]
    )


RENDERERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "order": lambda c: serialize.order(make_order(c)),
    "request_completed": _request_completed,
    "request_rejected_submit": _request_rejected_submit,
    "transfer": _transfer,
    "account_trade": lambda c: serialize.account_trade(_account_trade(c)),
    "account_trade_te": lambda c: serialize.account_trade(_account_trade(c), with_fee=False),
    "order_trade": lambda c: serialize.order_trade(_account_trade(c)),
    "public_trade": lambda c: serialize.public_trade(
        TradeExecuted(
            symbol="tBTCUSD",
            taker_order_id=1,
            maker_order_id=2,
            taker_user_id=1,
            maker_user_id=2,
            **_raw(c),
        )
    ),
    "wallet": lambda c: serialize.wallet(WalletChanged(user_id=1, **_raw(c))),
    "ledger": lambda c: serialize.ledger(LedgerEntryAdded(user_id=1, **_raw(c))),
    "movement": lambda c: serialize.movement(MovementRecorded(user_id=1, **_raw(c))),
    "tickers_row": lambda c: serialize.tickers_row(
        c["symbol"], _ticker({k: v for k, v in c.items() if k != "symbol"})
    ),
    "ticker": lambda c: serialize.ticker(_ticker(c)),
    "tickers_hist_row": lambda c: serialize.tickers_hist_row(
        c["symbol"], parse_amount(c["bid"]), parse_amount(c["ask"]), c["mts"]
    ),
    "candle": lambda c: serialize.candle(_Candle(**_raw(c))),
    "book_level": lambda c: serialize.book_level(
        parse_amount(c["price"]), c["count"], parse_amount(c["amount"])
    ),
    "raw_book_entry": lambda c: serialize.raw_book_entry(
        c["order_id"], parse_amount(c["price"]), parse_amount(c["amount"])
    ),
    "book_level_removed": lambda c: serialize.book_level_removed(
        parse_amount(c["price"]), c["is_bid"]
    ),
    "raw_book_entry_removed": lambda c: serialize.raw_book_entry_removed(
        c["order_id"], c["is_bid"]
    ),
    "stat": lambda c: serialize.stat(c["mts"], parse_amount(c["value"])),
    "fx_rate": lambda c: serialize.fx_rate(parse_amount(c["rate"])),
}


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_rendering_matches_the_spec_example_field_by_field(case: dict[str, Any]) -> None:
    rendered = RENDERERS[case["render"]](case["input"])
    assert_same_wire(dumps(rendered), case["wire"])


def test_every_golden_renderer_is_exercised() -> None:
    assert {case["render"] for case in CASES} == set(RENDERERS)


# -- lengths and real-client parsing -------------------------------------------------------------

ORDER = make_order(
    {
        "id": 7,
        "client_order_id": 9,
        "symbol": "tBTCUSD",
        "created_ts": 1,
        "updated_ts": 2,
        "amount": "0.5",
        "amount_orig": "1",
        "type": "EXCHANGE LIMIT",
        "status": "PARTIALLY FILLED @ 100.0(0.5)",
        "price": "100",
        "group_id": 3,
        "tif_ts": 1700000000000,
        "hidden": True,
        "placed_id": 8,
        "type_prev": "EXCHANGE MARKET",
        "flags": 64,
        "price_avg": "100",
        "meta": {"aff_code": "x"},
    }
)
TRADE = _account_trade(
    {
        "trade_id": 1,
        "symbol": "tBTCUSD",
        "ts": 5,
        "order_id": 7,
        "amount": "0.5",
        "price": "100",
        "order_type": "EXCHANGE LIMIT",
        "order_price": "100",
        "maker": True,
        "fee": "-0.0005",
        "fee_currency": "BTC",
        "client_order_id": 9,
    }
)


def test_order_array_is_32_long_with_every_field_in_its_slot() -> None:
    row = lossless(dumps(serialize.order(ORDER)))
    assert len(row) == 32
    assert row[0] == "7" and row[1] == "3" and row[2] == "9" and row[3] == "tBTCUSD"
    assert row[8] == "EXCHANGE LIMIT" and row[9] == "EXCHANGE MARKET" and row[10] == "1700000000000"
    assert row[12] == "64" and row[13] == "PARTIALLY FILLED @ 100.0(0.5)"
    assert row[16] == "100" and row[17] == "100" and row[18] == "0" and row[19] == "0"
    assert row[23] == "0" and row[24] == "1" and row[25] == "8" and row[28] == "API>BFX"
    assert row[31] == {"aff_code": "x"}
    assert all(row[i] is None for i in (11, 14, 15, 20, 21, 22, 26, 27, 29, 30))


def test_bfxapi_parses_our_order_trade_wallet_ledger_and_movement_arrays() -> None:
    order = bfx.Order.parse(*lossless_floats(serialize.order(ORDER)))
    assert order.id == 7 and order.cid == 9 and order.order_status.startswith("PARTIALLY FILLED")
    assert (
        order.amount == 0.5
        and order.amount_orig == 1
        and order.hidden == 1
        and order.placed_id == 8
    )
    trade = bfx.Trade.parse(*lossless_floats(serialize.account_trade(TRADE)))
    assert (
        trade.maker == 1 and trade.fee == -0.0005 and trade.fee_currency == "BTC" and trade.cid == 9
    )
    order_trade = bfx.OrderTrade.parse(*lossless_floats(serialize.order_trade(TRADE)))
    assert order_trade.exec_amount == 0.5
    wallet = bfx.Wallet.parse(
        *lossless_floats(serialize.wallet(WalletState("exchange", "BTC", 150000000, 100000000)))
    )
    assert wallet.balance == 1.5 and wallet.available_balance == 1 and wallet.last_change is None
    ledger = bfx.Ledger.parse(
        *lossless_floats(
            serialize.ledger(LedgerEntryAdded(1, 2, "BTC", "exchange", 3, 4, 5, "Deposit", 101))
        )
    )
    assert ledger.description == "Deposit"
    movement = bfx.Movement.parse(
        *lossless_floats(
            serialize.movement(
                MovementRecorded(
                    1, 2, "BTC", "exchange", 3, -100, 4, "COMPLETED", "bitcoin", "addr", "tx", ""
                )
            )
        )
    )
    assert (
        movement.amount == -0.000001
        and movement.fees == -0.00000004
        and movement.currency_name == "BITCOIN"
    )


def lossless_floats(row: list[Any]) -> list[Any]:
    """What a client decoding our JSON sees (floats), for feeding bfxapi's serializers."""
    import json

    decoded: list[Any] = json.loads(dumps(row))
    return decoded


def test_wallet_state_without_description_renders_null_last_change() -> None:
    assert lossless(dumps(serialize.wallet(WalletState("margin", "USD", 0, 0)))) == [
        "margin",
        "USD",
        "0",
        "0",
        "0",
        None,
        None,
    ]


def test_te_and_tu_carry_the_same_trade_and_differ_only_in_the_fee_slots() -> None:
    te = serialize.account_trade(TRADE, with_fee=False)
    tu = serialize.account_trade(TRADE)
    assert len(te) == len(tu) == 12
    assert [i for i in range(12) if dumps(te[i]) != dumps(tu[i])] == [9, 10]
    assert te[9] is None and te[10] is None


def test_account_trade_marks_a_taker_with_minus_one() -> None:
    taker = AccountTrade(1, 1, "tBTCUSD", 1, 1, "EXCHANGE MARKET", 0, 1, 1, False, 0, "BTC", None)
    assert serialize.account_trade(taker)[8] == -1


def test_ticker_with_an_empty_book_writes_null_prices_and_zero_sizes() -> None:
    class Empty:
        bid = ask = last_price = high = low = None
        bid_size = ask_size = daily_change = volume = 0
        daily_change_relative = Decimal("0")

    assert dumps(serialize.ticker(Empty())) == b"[null,0,null,0,0,0,null,0,null,null]"


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (Decimal("0.0738"), b"0.0738"),
        (Decimal("-0.030700"), b"-0.0307"),
        (Decimal("1E-7"), b"0.0000001"),
        (Decimal("2.50"), b"2.5"),
        (Decimal("1E+2"), b"100"),
        (7380000, b"0.0738"),
    ],
)
def test_daily_change_relative_is_written_in_shortest_plain_form(
    ratio: Decimal | int, text: bytes
) -> None:
    assert dumps(serialize.ratio(ratio)) == text


# -- notifications -------------------------------------------------------------------------------


def _order(**overrides: Any) -> OrderState:
    fields: dict[str, Any] = {
        "id": 11,
        "symbol": "tBTCUSD",
        "created_ts": 1,
        "updated_ts": 1,
        "amount": "1",
        "amount_orig": "1",
        "type": "EXCHANGE LIMIT",
        "status": "ACTIVE",
        "price": "100",
        "client_order_id": 5,
    }
    fields.update(overrides)
    return make_order(fields)


def test_notification_has_eight_elements_and_bfxapi_reads_it() -> None:
    row = serialize.order_request_notification(
        RequestCompleted(1, "on", (_order(),)), mts=5, transport="rest"
    )
    assert len(row) == 8
    parsed = bfx._Notification(bfx.Order).parse(*lossless_floats(row))
    assert parsed.status == "SUCCESS" and parsed.data.id == 11


def test_rest_submit_of_an_oco_pair_lists_both_orders() -> None:
    limit, stop = _order(id=1), _order(id=2, type="EXCHANGE STOP")
    row = serialize.order_request_notification(
        RequestCompleted(1, "on", (limit, stop)), mts=5, transport="rest"
    )
    assert [o[0] for o in row[4]] == [1, 2]


def test_ws_submit_data_is_the_flat_order_so_node_can_read_the_cid_at_index_2() -> None:
    row = serialize.order_request_notification(
        RequestCompleted(1, "on", (_order(),)), mts=5, transport="ws"
    )
    assert len(row[4]) == 32 and row[4][2] == 5


@pytest.mark.parametrize("transport", ["rest", "ws"])
def test_update_and_cancel_data_is_one_flat_order_on_both_transports(transport: Any) -> None:
    for request in ("ou", "oc"):
        row = serialize.order_request_notification(
            RequestCompleted(1, request, (_order(),)), mts=5, transport=transport
        )
        assert row[1] == f"{request}-req" and len(row[4]) == 32 and row[4][0] == 11


@pytest.mark.parametrize("transport", ["rest", "ws"])
def test_cancel_multi_data_is_a_list_of_orders(transport: Any) -> None:
    orders = (_order(id=1), _order(id=2), _order(id=3))
    row = serialize.order_request_notification(
        RequestCompleted(1, "oc_multi", orders), mts=5, transport=transport
    )
    assert row[1] == "oc_multi-req" and [o[0] for o in row[4]] == [1, 2, 3]
    assert row[7] == "Submitting 3 order cancellations."


@pytest.mark.parametrize(
    ("order", "text"),
    [
        (_order(), "Submitting exchange limit buy order for 1.0 BTC."),
        (
            _order(amount="-0.25", amount_orig="-0.25", type="LIMIT", symbol="tETHUSD"),
            "Submitting limit sell order for -0.25 ETH.",
        ),
        (
            _order(symbol="tTESTBTC:TESTUSD", type="EXCHANGE MARKET"),
            "Submitting exchange market buy order for 1.0 TESTBTC.",
        ),
    ],
)
def test_submit_text_follows_the_spec_composition(order: OrderState, text: str) -> None:
    assert serialize.submit_text(order) == text


def test_update_text_names_the_absolute_remaining_amount() -> None:
    order = _order(amount="-0.3", amount_orig="-0.5")
    assert (
        serialize.update_text(order)
        == "Submitting update to exchange limit sell order for 0.3 BTC."
    )


def test_ws_update_error_echoes_the_order_id_so_node_can_match_it() -> None:
    command = UpdateOrder(user_id=1, order_id=42, price=parse_amount("100"))
    event = RequestRejected(1, "ou", 10001, "Order not found.", command)
    row = serialize.rejection_notification(event, mts=9)
    assert (
        row[6] == "ERROR" and row[7] == "Order not found." and len(row[4]) == 32 and row[4][0] == 42
    )


def test_ws_cancel_error_by_cid_echoes_the_cid() -> None:
    event = RequestRejected(
        1,
        "oc",
        10001,
        "Order not found.",
        CancelOrder(1, client_order_id=77, client_order_date="2024-01-01"),
    )
    row = serialize.rejection_notification(event, mts=9)
    assert row[4][0] is None and row[4][2] == 77 and row[4][23] == 0


def test_ws_update_error_on_an_existing_order_renders_that_order() -> None:
    event = RequestRejected(
        1,
        "ou",
        10001,
        "Invalid order: minimum size for BTC/USD is 0.00004",
        UpdateOrder(1, 11),
        _order(),
    )
    assert serialize.rejection_notification(event, mts=9)[4][13] == "ACTIVE"


def test_multi_request_error_has_null_data() -> None:
    event = RequestRejected(1, "oc_multi", 10020, "input: invalid", CancelOrders(1))
    assert dumps(serialize.rejection_notification(event, mts=1525700930498)) == (
        b'[1525700930498,"oc_multi-req",null,null,null,null,"ERROR","input: invalid"]'
    )


def test_rest_rejection_is_the_error_envelope_not_a_notification() -> None:
    text = "Invalid order: not enough exchange balance for 0.00235071 BTCUSD at 9122.2"
    event = RequestRejected(
        1,
        "on",
        10001,
        text,
        SubmitOrder(1, "tBTCUSD", OrderType.EXCHANGE_LIMIT, 235071, 912220000000),
    )
    assert serialize.rest_error(event) == ["error", 10001, text]


def test_input_error_notification_echoes_what_the_payload_carried() -> None:
    payload = {
        "cid": 555,
        "symbol": "tBTCUSD",
        "amount": "-1",
        "type": "EXCHANGE LIMIT",
        "price": "oops",
    }
    row = serialize.input_error_notification("on", payload, 10020, "price: invalid", mts=1)
    assert row[1] == "on-req" and row[6] == "ERROR" and row[7] == "price: invalid"
    assert dumps(row[4]) == dumps(
        serialize.order_echo(
            client_order_id=555, symbol="tBTCUSD", amount=-100000000, order_type="EXCHANGE LIMIT"
        )
    )


def test_input_error_notification_survives_a_payload_that_is_not_an_object() -> None:
    row = serialize.input_error_notification("oc", "garbage", 10020, "input: invalid", mts=1)
    assert row[4] == serialize.order_echo() and len(row[4]) == 32


def test_withdrawal_notification_layout() -> None:
    m = MovementRecorded(
        9, 1, "BTC", "exchange", 3, -50000000, 40000, "PROCESSING", "BITCOIN", "addr", "", ""
    )
    row = lossless(dumps(serialize.withdrawal_notification(m, mts=3)))
    assert row[1] == "acc_wd-req" and row[4] == [
        "9",
        None,
        "bitcoin",
        None,
        "exchange",
        "0.5",
        None,
        None,
        "0.0004",
    ]


def test_deposit_address_notification_layout() -> None:
    row = serialize.deposit_address_notification(
        mts=3, method="BITCOIN", currency="BTC", address="bc1q"
    )
    assert row[1] == "acc_dep" and row[4] == [None, "bitcoin", "BTC", None, "bc1q", None]
    assert bfx.DepositAddress.parse(*row[4]).address == "bc1q"


def test_notification_types_of_the_spec() -> None:
    assert [
        serialize.notification_type(r)
        for r in ("on", "ou", "oc", "oc_multi", "ox_multi", "acc_tf", "acc_wd")
    ] == ["on-req", "ou-req", "oc-req", "oc_multi-req", "ox_multi-req", "acc_tf", "acc_wd-req"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=10,
)
_order_fields = st.dictionaries(
    st.sampled_from(["id", "gid", "cid", "symbol", "amount", "type", "price"]), _json, max_size=7
)


@settings(max_examples=300, deadline=None)
@given(
    request=st.sampled_from(["on", "ou", "oc", "oc_multi", "ox_multi"]),
    payload=_order_fields | _json,
)
def test_input_error_notification_never_fails_whatever_the_payload(
    request: str, payload: Any
) -> None:
    row = serialize.input_error_notification(request, payload, 10020, "input: invalid", mts=1)
    dumps(row)
    assert len(row) == 8 and row[6] == "ERROR"
    if request in ("on", "ou", "oc"):
        assert len(row[4]) == 32


def test_input_error_echo_drops_ids_no_json_encoder_could_write() -> None:
    row = serialize.input_error_notification(
        "on", {"gid": -(2**63) - 1, "cid": 2**64}, 10020, "x", mts=1
    )
    assert row[4][1] is None and row[4][2] is None
    dumps(row)
