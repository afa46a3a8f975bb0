"""The journal codec (store/codec.py): every command type round-trips exactly, encoding is
deterministic, and malformed records are refused with CodecError (never another exception)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from venue.core.commands import COMMAND_TYPES, CancelOrder, CancelOrders, Deposit, MultiOp, SubmitOrder, Tick, UpdateOrder
from venue.core.orders import OrderType
from venue.core.preferences import PREFERENCE_COMMAND_TYPES
from venue.store.codec import VERSION, Codec, CodecError, DEFAULT_CODEC, decode, encode

ALL_TYPES = (*COMMAND_TYPES, *PREFERENCE_COMMAND_TYPES)

int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
json_leaf = st.none() | st.booleans() | int64 | st.text(max_size=8) | st.floats(allow_nan=False, allow_infinity=False)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
meta = st.none() | st.dictionaries(st.text(max_size=6), json_value, max_size=4)

# Plain ints are unbounded on purpose: amounts far beyond 64 bits must survive too.
st.register_type_strategy(int, st.integers())


def strategy_for(cls: type) -> st.SearchStrategy:
    names = {f.name for f in dataclasses.fields(cls)}
    if "meta" in names:
        return st.builds(cls, meta=meta)
    if cls is MultiOp:
        ops = st.one_of([strategy_for(c) for c in (SubmitOrder, UpdateOrder, CancelOrder, CancelOrders)])
        return st.builds(MultiOp, ops=st.lists(ops, max_size=4).map(tuple))
    return st.builds(cls)


# MultiOp's ops are built from the type hints: give them the same meta strategy.
any_command = st.one_of([strategy_for(cls) for cls in ALL_TYPES])


def same(a: object, b: object) -> bool:
    """Equality that also compares ``meta`` (excluded from dataclass equality)."""
    if a != b or type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            if not same(getattr(a, f.name), getattr(b, f.name)):
                return False
        return True
    if isinstance(a, tuple):
        return all(same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    return a == b


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_command_type_round_trips_exactly(cls: type, data: st.DataObject) -> None:
    command = data.draw(strategy_for(cls))
    assert same(decode(encode(command)), command)


@settings(max_examples=200, deadline=None)
@given(any_command)
def test_encoding_is_deterministic_and_canonical(command: object) -> None:
    record = encode(command)
    assert encode(decode(record)) == record
    assert orjson.loads(record)[0] == VERSION


def test_multiop_nests_its_operations_with_their_tags() -> None:
    command = MultiOp(
        user_id=7,
        ops=(
            SubmitOrder(7, "tBTCUSD", OrderType.EXCHANGE_LIMIT, 100_000_000, 3_000_000_000_000, meta={"aff_code": "x"}),
            CancelOrder(7, order_id=12),
        ),
    )
    record = encode(command)
    body = orjson.loads(record)
    assert body[:2] == [VERSION, "MultiOp"]
    assert body[3][0][0:5] == ["SubmitOrder", 7, "tBTCUSD", "EXCHANGE LIMIT", 100_000_000]
    back = decode(record)
    assert same(back, command)
    assert back.ops[0].type is OrderType.EXCHANGE_LIMIT


def test_ints_beyond_64_bits_are_written_as_text_and_read_back_as_ints() -> None:
    huge = 10**30
    command = SubmitOrder(1, "tBTCUSD", OrderType.LIMIT, huge, -huge)
    assert decode(encode(command)) == command
    assert f'"{huge}"'.encode() in encode(command)


def test_meta_keys_are_sorted_so_equal_commands_give_equal_bytes() -> None:
    a = SubmitOrder(1, "tBTCUSD", OrderType.LIMIT, 1, 1, meta={"b": 1, "a": 2})
    b = SubmitOrder(1, "tBTCUSD", OrderType.LIMIT, 1, 1, meta={"a": 2, "b": 1})
    assert encode(a) == encode(b)


@pytest.mark.parametrize(
    "record",
    [
        b"",
        b"not json",
        b"{}",
        b"[1]",
        b'[99, "Tick"]',
        b'[1, "NoSuchCommand"]',
        b'[1, "CancelOrder", "seven"]',
        b'[1, "SubmitOrder", 1, "tBTCUSD", "NOT A TYPE", 1]',
        b'[1, "Tick", 1]',
        b'[1, "SubmitOrder", 1]',  # required fields missing
        b'[1, "MultiOp", 1, [["Tick"]], 3]',
        b'[1, "MultiOp", 1, 5]',
    ],
)
def test_malformed_records_raise_codec_error(record: bytes) -> None:
    with pytest.raises(CodecError):
        decode(record)


def test_a_record_written_before_an_optional_field_was_added_takes_the_default() -> None:
    assert decode(b'[1, "CancelOrder", 3]') == CancelOrder(3)
    assert decode(b'[1, "Tick"]') == Tick()


def test_unregistered_types_are_refused_at_encode_time() -> None:
    @dataclass(frozen=True)
    class Strange:
        x: int

    with pytest.raises(CodecError):
        encode(Strange(1))


def test_a_codec_is_generic_over_registered_dataclasses() -> None:
    @dataclass(frozen=True)
    class Point:
        x: int
        tags: tuple[str, ...] = ()

    codec = Codec([Point])
    assert codec.decode(codec.encode(Point(2**70, ("a", "b")))) == Point(2**70, ("a", "b"))
    assert Point not in DEFAULT_CODEC.types


@settings(max_examples=200, deadline=None)
@given(any_command)
def test_the_one_call_fast_path_writes_the_same_bytes_as_the_generic_path(command: object) -> None:
    generic = DEFAULT_CODEC._encode_object(command)
    generic.insert(0, VERSION)
    assert encode(command) == orjson.dumps(generic, option=orjson.OPT_SORT_KEYS)


@pytest.mark.parametrize("amount", [2**53, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
def test_ints_near_the_64_bit_edges_give_the_same_bytes_on_both_paths(amount: int) -> None:
    # orjson writes 2**63 … 2**64-1 as numbers while the generic path writes them as text: the
    # one-call path must not take them (hypothesis found this only now and then)
    command = Deposit(1, "USD", amount)
    generic = DEFAULT_CODEC._encode_object(command)
    generic.insert(0, VERSION)
    assert encode(command) == orjson.dumps(generic, option=orjson.OPT_SORT_KEYS)
    assert decode(encode(command)) == command
