"""The journal (store/journal.py): append/read, group commit, durability modes, checks on read."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from venue.core.commands import CancelOrder, CreateUser, Deposit, Tick
from venue.gateway.clock import ManualClock
from venue.gateway.sequencer import Sequencer, SequencerStopped
from venue.store.journal import CorruptRecord, Journal, JournalFailed, Record, journal_path
from tests.store.fakes import FakeExchange


async def test_appended_records_read_back_in_order_after_reopen(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(1, 1_000, CreateUser("alice"))
    journal.append(2, 1_001, Deposit(1, "BTC", 5))
    journal.append(3, 1_001, Tick())
    await journal.wait_durable(3)
    await journal.aclose()
    again = Journal.open(tmp_path)
    assert (again.last_seq, again.last_ts) == (3, 1_001)
    assert list(again.read_from(2)) == [Record(2, 1_001, Deposit(1, "BTC", 5)), Record(3, 1_001, Tick())]
    again.close()


async def test_append_refuses_a_gap_or_a_repeat(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(1, 1, Tick())
    with pytest.raises(ValueError, match="out of order"):
        journal.append(3, 1, Tick())
    with pytest.raises(ValueError, match="out of order"):
        journal.append(1, 1, Tick())
    await journal.aclose()


@pytest.mark.parametrize("durability", ["full", "os", "none"])
async def test_every_durability_mode_keeps_every_record_across_a_clean_close(tmp_path: Path, durability: str) -> None:
    journal = Journal.open(tmp_path, durability)
    sequencer = Sequencer(FakeExchange(), journal, clock=ManualClock())
    await asyncio.gather(*(sequencer.submit(Deposit(1, "BTC", i)) for i in range(1, 201)))
    await sequencer.close()
    reopened = Journal.open(tmp_path)
    assert [r.command.amount for r in reopened.read_from(1)] == list(range(1, 201))
    reopened.close()


async def test_pragmas_follow_the_durability_setting(tmp_path: Path) -> None:
    expected = {"full": 2, "os": 1, "none": 0}  # sqlite's numbers for FULL, NORMAL, OFF
    for durability, level in expected.items():
        journal = Journal(tmp_path / f"{durability}.sqlite3", durability)
        assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == level
        assert journal._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        journal.close()
    with pytest.raises(ValueError):
        Journal(tmp_path / "x.sqlite3", "sometimes")


async def test_with_durability_none_replies_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, "none")
    sequencer = Sequencer(FakeExchange(), journal, clock=ManualClock())
    future = sequencer.submit_nowait(Tick())
    assert future.done()  # released before any await: nothing waited for a commit
    await sequencer.close()


async def test_concurrent_submits_share_a_few_commits(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, "full")
    sequencer = Sequencer(FakeExchange(), journal, clock=ManualClock())
    await asyncio.gather(*(sequencer.submit(Deposit(1, "BTC", 1)) for _ in range(2_000)))
    assert journal.durable_seq == 2_000
    # 2000 commands arrived in one loop turn: the first commit takes the first record(s), the
    # rest join the following batches instead of paying a commit each (a few batches, not 2000;
    # how many depends on thread scheduling).
    assert journal.commits <= 40
    await sequencer.close()


async def test_replies_wait_for_the_commit_that_holds_them(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, "full")
    released: list[int] = []
    sequencer = Sequencer(FakeExchange(), journal, clock=ManualClock())

    def check_durable(seq: int, ts: int, events: list) -> None:
        # at release time the record must be readable from another connection
        with sqlite3.connect(journal_path(tmp_path)) as other:
            assert other.execute("SELECT max(seq) FROM journal").fetchone()[0] >= seq
        released.append(seq)

    sequencer.add_listener(check_durable)
    await asyncio.gather(*(sequencer.submit(Tick()) for _ in range(50)))
    assert released == list(range(1, 51))
    await sequencer.close()


async def test_wait_durable_returns_once_committed(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(1, 5, Tick())
    journal.append(2, 5, Tick())
    await asyncio.wait_for(journal.wait_durable(2), 5)
    assert journal.durable_seq == 2
    await journal.wait_durable(1)  # already durable: returns at once
    await journal.aclose()


async def test_a_garbled_row_fails_its_checksum_on_read(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    for seq in range(1, 4):
        journal.append(seq, 5, CancelOrder(1, order_id=seq))
    await journal.aclose()
    with sqlite3.connect(journal_path(tmp_path)) as db:
        db.execute("UPDATE journal SET cmd = ? WHERE seq = 3", (b'[1,"CancelOrder",1,9]',))
    reopened = Journal.open(tmp_path)
    records = reopened.read_from(1)
    assert next(records).seq == 1 and next(records).seq == 2
    with pytest.raises(CorruptRecord) as error:
        next(records)
    assert error.value.seq == 3 and "checksum" in error.value.reason
    reopened.close()


async def test_a_gap_in_the_stored_seqs_is_reported(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    for seq in range(1, 5):
        journal.append(seq, 5, Tick())
    await journal.aclose()
    with sqlite3.connect(journal_path(tmp_path)) as db:
        db.execute("DELETE FROM journal WHERE seq = 2")
    reopened = Journal.open(tmp_path)
    with pytest.raises(CorruptRecord) as error:
        list(reopened.read_from(1))
    assert error.value.seq == 2
    reopened.close()


async def test_truncate_after_drops_the_tail_and_moves_last_seq(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    for seq in range(1, 6):
        journal.append(seq, 100 + seq, Tick())
    await journal.aclose()
    reopened = Journal.open(tmp_path)
    assert reopened.truncate_after(3) == 2
    assert (reopened.last_seq, reopened.last_ts) == (3, 103)
    reopened.append(4, 200, Tick())  # the sequence continues after the cut
    reopened.close()
    assert [r.seq for r in Journal.open(tmp_path).read_from(1)] == [1, 2, 3, 4]


async def test_compaction_deletes_old_records_but_keeps_the_sequence(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    for seq in range(1, 11):
        journal.append(seq, 5, Tick())
    await journal.wait_durable(10)
    journal.compact_through(6)
    journal.append(11, 5, Tick())
    await journal.aclose()
    reopened = Journal.open(tmp_path)
    assert reopened.compacted_through() == 6
    assert reopened.first_seq() == 7
    assert [r.seq for r in reopened.read_from(1)] == [7, 8, 9, 10, 11]
    reopened.close()
    # a fully compacted journal still knows where the sequence stands
    empty = Journal.open(tmp_path)
    empty.compact_through(11)
    empty.close()
    assert Journal.open(tmp_path).last_seq == 11


async def test_a_writer_failure_stops_the_sequencer_and_acknowledges_nothing(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    sequencer = Sequencer(FakeExchange(), journal, clock=ManualClock())
    await sequencer.submit(Tick())

    def broken_write(batch: list) -> None:
        raise OSError(28, "No space left on device")

    journal._write = broken_write  # type: ignore[method-assign]
    with pytest.raises(SequencerStopped):
        await sequencer.submit(Tick())
    with pytest.raises(SequencerStopped):
        await sequencer.submit(Tick())
    with pytest.raises(JournalFailed):
        journal.append(3, 5, Tick())
    await sequencer.close()


def test_offline_use_without_a_loop_writes_on_flush(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    sequencer = Sequencer(FakeExchange(), journal, clock=ManualClock())
    sequencer.apply_sync(CreateUser("offline"))
    journal.flush_sync()
    journal.close()
    assert [r.command for r in Journal.open(tmp_path).read_from(1)] == [CreateUser("offline")]


async def test_a_closed_journal_refuses_appends(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(1, 1, Tick())
    await journal.aclose()
    with pytest.raises(JournalFailed, match="closed"):
        journal.append(2, 1, Tick())


async def test_flush_sync_inside_a_running_loop_waits_for_the_writer(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    sequencer = Sequencer(FakeExchange(), journal, clock=ManualClock())
    sequencer.apply_sync(CreateUser("in-loop"))  # starts the writer thread (a loop runs)
    journal.flush_sync()
    with sqlite3.connect(journal_path(tmp_path)) as other:
        assert other.execute("SELECT count(*) FROM journal").fetchone()[0] == 1
    await journal.aclose()


async def test_a_failed_compaction_does_not_stop_the_journal(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(1, 1, Tick())
    await journal.wait_durable(1)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN")
        raise sqlite3.OperationalError("disk I/O error during compaction")

    with journal._cond:
        journal._tasks.append(broken)
        journal._cond.notify()
    journal.append(2, 1, Tick())
    await asyncio.wait_for(journal.wait_durable(2), 5)
    assert journal.failed is None
    await journal.aclose()


def test_the_data_directory_is_private_because_the_journal_holds_api_secrets(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    journal = Journal.open(data_dir, "none")
    try:
        assert data_dir.stat().st_mode & 0o777 == 0o700
    finally:
        journal.close()
