"""The fast path for price-only moves of resting orders does exactly what the general update
path does: same events, same state, on random streams and on the benchmark's workload."""

from __future__ import annotations

import random

from venue.core.commands import CreateUser, UpdateOrder
from venue.core.events import OrderUpdated, RequestCompleted, RequestRejected

from tests.core import workload
from tests.core.harness import Venue, accepted_id, amt, of_type, px, rejection


def _pair() -> tuple[Venue, Venue]:
    fast, slow = Venue(), Venue()
    slow.ex.fast_moves = False
    for v in (fast, slow):
        for name in ("a", "b", "c", "d"):
            v.apply(CreateUser(name))
        for command in workload.funding():
            v.apply(command)
    return fast, slow


def test_fast_and_general_update_paths_agree_on_a_random_stream() -> None:
    fast, slow = _pair()
    rng = random.Random(11)
    moves = 0
    for _ in range(2000):
        step = workload.random_step(rng)
        if rng.random() < 0.5:  # mostly price-only moves of live orders
            step = ("update", step[1], step[2], 0, step[4], step[5])
        command = workload.to_command(fast.ex, step)
        assert command == workload.to_command(slow.ex, step)
        moves += isinstance(command, UpdateOrder) and command.price is not None
        assert fast.apply(command) == slow.apply(command)
    assert fast.ex.state_hash() == slow.ex.state_hash()
    assert moves > 500


def test_a_move_keeps_the_hold_exact_for_a_partially_filled_buy() -> None:
    for flag in (True, False):
        v = Venue()
        v.ex.fast_moves = flag
        u = v.user("u", USD="1000")
        oid = accepted_id(v.order(u, "1", "100"))
        s = v.user("s", BTC="1")
        v.order(s, "-0.25", "100")
        events = v.apply(UpdateOrder(u, oid, price=px(90)))
        assert of_type(events, OrderUpdated)[0].order.price == px(90)
        assert isinstance(events[-1], RequestCompleted)
        assert v.balance(u, "USD") == (amt(975), amt(975 - 67.5))


def test_a_move_beyond_the_balance_is_still_rejected() -> None:
    v = Venue()
    u = v.user("u", USD="100")
    oid = accepted_id(v.order(u, "0.5", "100"))
    before = v.ex.state_hash()
    r = rejection(v.apply(UpdateOrder(u, oid, price=px(300))))
    assert isinstance(r, RequestRejected) and r.text.endswith("for 0.5 BTCUSD at 300.0")
    assert v.ex.state_hash() == before
