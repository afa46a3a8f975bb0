"""Numeric strings are ASCII decimals: what Python's Decimal() also reads is refused, not reinterpreted.

``Decimal("1_000")`` is 1000 and ``Decimal("١")`` (ARABIC-INDIC DIGIT ONE) is 1, so an order for
amount ``"1_000"`` was taken as 1000 BTC and one priced ``"١"`` as 1 USD. No JSON client writes
numbers so (JavaScript's ``Number("1_000")`` is NaN); they get the parameter error every other
non-number gets, ``["error",10020,"amount: invalid"]`` (REST) / an ERROR notification (WS), and
nothing changes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from tests.e2e.conftest import RunningServer
from tests.e2e.test_auth_rest import Signed
from tests.e2e.test_ws_auth import auth_frame, read_until

ORDER = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.001", "price": "1000"}
NOT_NUMBERS = ["1_000", "0.00_1", "\u0661", "\uff11", "1\u0660\u0660\u0660", "Inf", "sNaN"]


def _state(signed: Signed) -> tuple[Any, Any]:
    return signed.post("auth/r/wallets")[1], signed.post("auth/r/orders")[1]


@pytest.mark.parametrize("field", ["amount", "price"])
def test_rest_order_with_a_non_ascii_or_underscored_number_is_refused(server: RunningServer, field: str) -> None:
    _, key, secret = server.create_account("carol", {"USD": "10000000", "BTC": "10000"})
    signed = Signed(server, key, secret)
    before = _state(signed)
    for text in NOT_NUMBERS:
        status, body = signed.post("auth/w/order/submit", dict(ORDER, **{field: text}))
        assert (status, body) == (500, ["error", 10020, f"{field}: invalid"]), text
    assert _state(signed) == before


async def test_ws_order_with_an_underscored_amount_is_an_error_notification(server: RunningServer) -> None:
    user_id, key, secret = server.create_account("dave", {"USD": "10000000", "BTC": "10000"})
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(auth_frame(key, secret))
        await read_until(ws, lambda m: isinstance(m, list) and m[1] == "fls")
        await ws.send(json.dumps([0, "on", None, dict(ORDER, amount="-1_000", cid=5)]))
        seen = await read_until(ws, lambda m: isinstance(m, list) and m[1] == "n")
        note = seen[-1][2]
        assert note[1] == "on-req" and note[6:8] == ["ERROR", "amount: invalid"]
        await asyncio.sleep(0.05)
    assert server.ctx.exchange.open_orders(user_id) == []
