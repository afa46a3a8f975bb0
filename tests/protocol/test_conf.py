"""conf/{keys} (spec §3.9, clients.md §3): one element per key, in order, with the real shapes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.protocol._golden import assert_same_wire, case_ids, load_cases
from venue.core.symbols import load_registry
from venue.protocol import conf
from venue.protocol.errors import ProtocolError
from venue.protocol.wire import dumps

REGISTRY = load_registry()
TABLE = conf.ConfTable(REGISTRY)
CASES = load_cases("conf.json")


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_conf_answer_matches_the_golden_value(case: dict[str, Any]) -> None:
    assert_same_wire(dumps(TABLE.answer(case["keys"])), case["wire"])


def test_every_supported_key_answers_with_a_value_not_null() -> None:
    answer = TABLE.answer(",".join(conf.SUPPORTED_KEYS))
    assert len(answer) == len(conf.SUPPORTED_KEYS)
    assert all(value is not None for value in answer)


def test_answer_has_one_element_per_key_even_when_keys_repeat() -> None:
    answer = TABLE.answer("pub:list:currency,pub:list:currency,pub:list:pair:margin")
    assert len(answer) == 3 and answer[0] == answer[1]


def test_pair_info_sizes_are_strings_with_a_decimal_point() -> None:
    for pair, info in TABLE.value("pub:info:pair"):
        assert isinstance(info[3], str) and "." in info[3], pair
        assert isinstance(info[4], str) and "." in info[4], pair
        assert len(info) >= 10


def test_cryptofeed_can_split_every_pair_it_is_given() -> None:
    # cryptofeed splits on ":" or else 3+3 characters (clients.md §3).
    for pair in TABLE.value("pub:list:pair:exchange"):
        base, quote = pair.split(":") if ":" in pair else (pair[:3], pair[3:])
        assert REGISTRY.has_currency(base) and REGISTRY.has_currency(quote)


def test_withdrawal_fee_sits_at_index_1_1() -> None:
    fees = dict(TABLE.value("pub:map:currency:tx:fee"))
    assert dumps(fees["BTC"][1]) == b"0.0004"


def test_one_off_helper_matches_the_table() -> None:
    assert dumps(conf.conf_values("pub:list:currency", REGISTRY)) == dumps(
        TABLE.answer("pub:list:currency")
    )


@pytest.mark.parametrize(
    "keys",
    [
        "",
        "pub:list:currency,",
        ",pub:list:currency",
        "list:currency",
        "pub:list:Currency",
        "pub:list currency",
        "pub:",
        "pub:list::currency",
        ",".join(["pub:list:currency"] * (conf.MAX_KEYS + 1)),
    ],
)
def test_malformed_key_list_is_keys_invalid(keys: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        TABLE.answer(keys)
    assert caught.value.body() == ["error", 10020, "keys: invalid"]
