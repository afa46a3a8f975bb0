"""The sequencer's contract (docs/architecture.md, gateway/sequencer.py): stamps seq and ts,
applies in submit order, releases events to listeners in seq order, only after durability."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

import pytest

from venue.core.commands import CreateUser, Deposit, Tick, Withdraw
from venue.core.events import RequestRejected, UserCreated
from venue.gateway.clock import ManualClock
from venue.gateway.sequencer import Sequencer
from tests.store.fakes import FakeExchange


class HeldJournal:
    """A journal whose durability the test releases by hand."""

    waits_for_durability = True

    def __init__(self, last_seq: int = 0, last_ts: int = 0) -> None:
        self.last_seq = last_seq
        self.last_ts = last_ts
        self.records: list[tuple[int, int, object]] = []
        self.listeners: list[Callable[[int], None]] = []

    def append(self, seq: int, ts: int, command: object) -> None:
        self.records.append((seq, ts, command))

    def add_durable_listener(self, fn: Callable[[int], None]) -> None:
        self.listeners.append(fn)

    def make_durable(self, upto: int) -> None:
        for fn in self.listeners:
            fn(upto)


@dataclass(frozen=True)
class Explode:
    explode: bool = True


async def test_submit_stamps_increasing_seq_and_returns_the_events() -> None:
    clock = ManualClock(1_000)
    seq = Sequencer(FakeExchange(), clock=clock)
    events = await seq.submit(CreateUser("alice"))
    assert events == [UserCreated(1, "alice", "", 1_000)]
    clock.advance(0.005)
    await seq.submit(Tick())
    assert seq.exchange.applied == [(1, 1_000), (2, 1_005)]
    assert seq.last_seq == 2


async def test_ts_never_decreases_even_if_the_clock_does() -> None:
    times = iter([5_000, 4_000, 6_000])
    seq = Sequencer(FakeExchange(), clock=lambda: next(times))
    for _ in range(3):
        await seq.submit(Tick())
    assert [ts for _, ts in seq.exchange.applied] == [5_000, 5_000, 6_000]


async def test_seq_continues_after_the_journals_last_record() -> None:
    journal = HeldJournal(last_seq=41, last_ts=9_000)
    seq = Sequencer(FakeExchange(), journal, clock=lambda: 1_000)
    future = seq.submit_nowait(Tick())
    assert journal.records == [(42, 9_000, Tick())]  # ts kept at the journal's last stamp
    journal.make_durable(42)
    await future


async def test_listeners_see_every_command_in_seq_order() -> None:
    seen: list[tuple[int, int, list]] = []
    seq = Sequencer(FakeExchange(), clock=ManualClock(7))
    seq.add_listener(lambda s, ts, events: seen.append((s, ts, events)))
    await asyncio.gather(*(seq.submit(CreateUser(f"u{i}")) for i in range(5)))
    assert [s for s, _, _ in seen] == [1, 2, 3, 4, 5]
    assert seen[0][2] == [UserCreated(1, "u0", "", 7)]


async def test_nothing_is_released_before_its_journal_record_is_durable() -> None:
    journal = HeldJournal()
    seen: list[int] = []
    seq = Sequencer(FakeExchange(), journal, clock=ManualClock())
    seq.add_listener(lambda s, ts, events: seen.append(s))
    futures = [seq.submit_nowait(CreateUser(f"u{i}")) for i in range(3)]
    # applied at once, in submit order, and journaled first
    assert [r[0] for r in journal.records] == [1, 2, 3]
    assert len(seq.exchange.users) == 3
    await asyncio.sleep(0)
    assert seen == [] and not any(f.done() for f in futures)
    journal.make_durable(2)
    assert seen == [1, 2]
    assert futures[0].done() and futures[1].done() and not futures[2].done()
    journal.make_durable(3)
    assert seen == [1, 2, 3]
    assert (await futures[2])[0].name == "u2"


async def test_rejected_commands_are_journaled_and_released_like_any_other() -> None:
    journal = HeldJournal()
    seq = Sequencer(FakeExchange(), journal, clock=ManualClock())
    future = seq.submit_nowait(Withdraw(1, "BTC", 5))
    journal.make_durable(1)
    events = await future
    assert isinstance(events[0], RequestRejected)
    assert journal.records[0][0] == 1


async def test_a_failing_listener_does_not_stop_the_others() -> None:
    seen: list[int] = []

    def broken(s: int, ts: int, events: list) -> None:
        raise ValueError("boom")

    seq = Sequencer(FakeExchange(), clock=ManualClock())
    seq.add_listener(broken)
    seq.add_listener(lambda s, ts, events: seen.append(s))
    await seq.submit(Deposit(1, "BTC", 10))
    assert seen == [1]


async def test_a_core_exception_reaches_the_caller_but_keeps_the_sequence() -> None:
    journal = HeldJournal()
    seen: list[tuple[int, list]] = []
    seq = Sequencer(FakeExchange(), journal, clock=ManualClock())
    seq.add_listener(lambda s, ts, events: seen.append((s, events)))
    future = seq.submit_nowait(Explode())  # type: ignore[arg-type]
    journal.make_durable(1)
    with pytest.raises(RuntimeError, match="core bug"):
        await future
    assert seen == [(1, [])]
    assert journal.records[0][0] == 1  # still journaled: replay must see the same seqs
    assert seq.last_seq == 1


async def test_apply_sync_refuses_to_overtake_commands_waiting_for_durability() -> None:
    journal = HeldJournal()
    seq = Sequencer(FakeExchange(), journal, clock=ManualClock())
    future = seq.submit_nowait(Tick())
    with pytest.raises(RuntimeError, match="wait for durability"):
        seq.apply_sync(Tick())
    assert seq.last_seq == 1  # nothing was applied by the refused call
    journal.make_durable(1)
    await future


def test_submit_nowait_without_a_loop_applies_nothing() -> None:
    seq = Sequencer(FakeExchange(), clock=ManualClock())
    with pytest.raises(RuntimeError):
        seq.submit_nowait(Tick())
    assert seq.last_seq == 0


async def test_wait_released_returns_once_the_commit_holding_the_seq_is_released() -> None:
    journal = HeldJournal()
    seq = Sequencer(FakeExchange(), journal, clock=ManualClock(1_000))
    seq.submit_nowait(CreateUser("alice"))
    seq.submit_nowait(CreateUser("bob"))
    waiter = asyncio.ensure_future(seq.wait_released(1))
    await asyncio.sleep(0)
    assert not waiter.done()
    seq.submit_nowait(CreateUser("carol"))  # newer commands do not hold the reader back
    journal.make_durable(1)
    await asyncio.wait_for(waiter, 1)
    await seq.wait_released(1)  # already released: returns at once


async def test_wait_caught_up_waits_for_commands_applied_meanwhile() -> None:
    journal = HeldJournal()
    seq = Sequencer(FakeExchange(), journal, clock=ManualClock(1_000))
    seq.submit_nowait(CreateUser("alice"))
    waiter = asyncio.ensure_future(seq.wait_caught_up())
    await asyncio.sleep(0)
    seq.submit_nowait(CreateUser("bob"))
    journal.make_durable(1)
    await asyncio.sleep(0.01)
    assert not waiter.done(), "bob is applied but not durable: the core is not caught up"
    journal.make_durable(2)
    assert await asyncio.wait_for(waiter, 1) is True
    assert seq.released_seq == seq.last_seq == 2


async def test_wait_released_fails_when_the_journal_fails_first() -> None:
    from venue.gateway.sequencer import SequencerStopped

    class FailingJournal(HeldJournal):
        def add_failure_listener(self, fn: Callable[[BaseException], None]) -> None:
            self.fail = fn

    journal = FailingJournal()
    seq = Sequencer(FakeExchange(), journal, clock=ManualClock(1_000))
    seq.submit_nowait(CreateUser("alice")).add_done_callback(lambda f: f.exception())
    waiter = asyncio.ensure_future(seq.wait_released(1))
    await asyncio.sleep(0)
    journal.fail(OSError("disk full"))
    with pytest.raises(SequencerStopped):
        await asyncio.wait_for(waiter, 1)


async def test_a_reader_is_not_failed_by_a_submitter_that_gave_up() -> None:
    """A client that disconnects cancels its submit; readers waiting for that seq still get
    released when it is durable (no spurious 'journal failed')."""
    journal = HeldJournal()
    seq = Sequencer(FakeExchange(), journal, clock=ManualClock(1_000))
    submitter = asyncio.ensure_future(seq.submit(CreateUser("alice")))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(seq.wait_released(1))
    await asyncio.sleep(0)
    submitter.cancel()
    await asyncio.sleep(0.01)
    assert not waiter.done()
    journal.make_durable(1)
    await asyncio.wait_for(waiter, 1)


async def test_submit_detached_releases_after_durability_and_tells_only_failures() -> None:
    # The WebSocket gateway's path: no future per command; listeners get the events once
    # durable, in seq order with the other submits; ``on_error`` hears only of failures.
    journal = HeldJournal()
    seen: list[tuple[int, list]] = []
    errors: list[BaseException] = []
    seq = Sequencer(FakeExchange(), journal, clock=ManualClock())
    seq.add_listener(lambda s, ts, events: seen.append((s, events)))
    seq.submit_detached(CreateUser("u0"), errors.append)
    future = seq.submit_nowait(CreateUser("u1"))
    seq.submit_detached(Explode(), errors.append)  # type: ignore[arg-type]
    assert [r[0] for r in journal.records] == [1, 2, 3]  # journaled and applied at once
    assert seen == [] and errors == []
    journal.make_durable(2)
    assert [s for s, _ in seen] == [1, 2] and errors == []
    assert (await future)[0].name == "u1"
    journal.make_durable(3)
    assert seen[-1] == (3, [])
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)


async def test_submit_detached_hears_of_a_journal_failure_and_then_raises() -> None:
    from venue.gateway.sequencer import SequencerStopped

    journal = HeldJournal()
    failure_listeners: list[Callable[[BaseException], None]] = []
    journal.add_failure_listener = failure_listeners.append  # type: ignore[attr-defined]
    errors: list[BaseException] = []
    seq = Sequencer(FakeExchange(), journal, clock=ManualClock())
    seq.submit_detached(Tick(), errors.append)
    for fn in failure_listeners:
        fn(OSError("disk full"))
    assert len(errors) == 1 and isinstance(errors[0], SequencerStopped)
    with pytest.raises(SequencerStopped):
        seq.submit_detached(Tick(), errors.append)
