"""Recovery (store/recovery.py): newest valid snapshot + journal tail gives the state an
uninterrupted replay gives; torn tails and damaged snapshots are survived."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from venue.core.commands import CancelOrder, CreateUser, Deposit, SubmitOrder, Withdraw
from venue.core.orders import OrderType
from venue.gateway.clock import ManualClock
from venue.gateway.sequencer import Sequencer
from venue.store.journal import Journal, journal_path
from venue.store.recovery import RecoveryError, recover, replay_events
from venue.store.snapshot import SnapshotStore
from tests.store.fakes import FakeExchange


def commands(n: int) -> list:
    """A deterministic mix, rejections included (withdrawals beyond the balance)."""
    out: list = [CreateUser("alice"), CreateUser("bob")]
    for i in range(n):
        user = 1 + i % 2
        kind = i % 5
        if kind == 0:
            out.append(Deposit(user, "USD", 1_000 + i))
        elif kind == 1:
            out.append(SubmitOrder(user, "tBTCUSD", OrderType.EXCHANGE_LIMIT, 10 + i, 100 + i))
        elif kind == 2:
            out.append(CancelOrder(user, order_id=i // 2))
        elif kind == 3:
            out.append(Withdraw(user, "USD", 5_000))
        else:
            out.append(Withdraw(user, "USD", 1))
    return out


def write_journal(data_dir: Path, cmds: list, *, snapshot_at: tuple[int, ...] = ()) -> FakeExchange:
    """Apply ``cmds`` offline, journaling them, writing snapshots after the given seqs."""
    journal = Journal.open(data_dir)
    exchange = FakeExchange()
    sequencer = Sequencer(exchange, journal, clock=ManualClock())
    store = SnapshotStore(data_dir, keep=10)
    for command in cmds:
        seq, ts, _ = sequencer.apply_sync(command)
        if seq in snapshot_at:
            journal.flush_sync()
            store.write(seq, ts, exchange.snapshot())
    journal.flush_sync()
    journal.close()
    return exchange


def full_replay_hash(data_dir: Path) -> str:
    exchange = FakeExchange()
    journal = Journal.open(data_dir)
    for record in journal.read_from(1):
        exchange.apply(record.command, seq=record.seq, ts=record.ts)
    journal.close()
    return exchange.state_hash()


def test_recovery_without_snapshots_replays_everything(tmp_path: Path) -> None:
    live = write_journal(tmp_path, commands(100))
    result = recover(tmp_path, object(), exchange_type=FakeExchange)
    assert result.snapshot_seq is None and result.replayed == 102 and result.last_seq == 102
    assert result.exchange.state_hash() == live.state_hash()


def test_recovery_starts_from_the_newest_snapshot_and_equals_a_full_replay(tmp_path: Path) -> None:
    live = write_journal(tmp_path, commands(100), snapshot_at=(30, 60))
    result = recover(tmp_path, object(), exchange_type=FakeExchange)
    assert result.snapshot_seq == 60 and result.replayed == 42
    assert result.exchange.state_hash() == live.state_hash() == full_replay_hash(tmp_path)
    assert result.last_ts == live.applied[-1][1]


def test_a_corrupt_newest_snapshot_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    live = write_journal(tmp_path, commands(100), snapshot_at=(30, 60))
    newest = SnapshotStore(tmp_path).list()[0].path
    newest.write_bytes(newest.read_bytes()[:-10])  # half-written
    result = recover(tmp_path, object(), exchange_type=FakeExchange)
    assert result.snapshot_seq == 30
    assert "snapshot-00000000000000000060.snap" in result.skipped_snapshots[0]
    assert result.exchange.state_hash() == live.state_hash()


def test_when_every_snapshot_is_bad_recovery_replays_from_seq_one(tmp_path: Path) -> None:
    live = write_journal(tmp_path, commands(50), snapshot_at=(10, 20))
    for info in SnapshotStore(tmp_path).list():
        info.path.write_bytes(b"garbage")
    result = recover(tmp_path, object(), exchange_type=FakeExchange)
    assert result.snapshot_seq is None and len(result.skipped_snapshots) == 2
    assert result.exchange.state_hash() == live.state_hash()


def test_a_snapshot_that_restore_refuses_is_skipped(tmp_path: Path) -> None:
    live = write_journal(tmp_path, commands(50), snapshot_at=(10,))
    SnapshotStore(tmp_path).write(20, 0, b"valid checksum, but not a state")
    result = recover(tmp_path, object(), exchange_type=FakeExchange)
    assert result.snapshot_seq == 10
    assert result.exchange.state_hash() == live.state_hash()


def test_a_snapshot_ahead_of_the_journal_is_not_used(tmp_path: Path) -> None:
    write_journal(tmp_path, commands(20), snapshot_at=(10,))
    live = FakeExchange()
    SnapshotStore(tmp_path).write(500, 0, live.snapshot())  # the journal never reached 500
    result = recover(tmp_path, object(), exchange_type=FakeExchange)
    assert result.snapshot_seq == 10 and result.last_seq == 22
    # deleted: once new commands reach seq 500 it would look valid for another history
    assert [info.seq for info in SnapshotStore(tmp_path).list()] == [10]


def test_snapshots_past_a_dropped_corrupt_tail_are_deleted(tmp_path: Path) -> None:
    write_journal(tmp_path, commands(40), snapshot_at=(10, 30))
    with sqlite3.connect(journal_path(tmp_path)) as db:
        db.execute("UPDATE journal SET crc = crc + 1 WHERE seq = 20")
    fed: list[int] = []
    result = recover(tmp_path, object(), exchange_type=FakeExchange, views_last_seq=15,
                     on_events=lambda seq, ts, events: fed.append(seq))
    assert result.snapshot_seq == 10 and result.last_seq == 19 and result.dropped == 23
    assert fed == [16, 17, 18, 19]
    assert [info.seq for info in SnapshotStore(tmp_path).list()] == [10]


def test_no_snapshot_and_a_compacted_journal_refuses_to_start(tmp_path: Path) -> None:
    write_journal(tmp_path, commands(20), snapshot_at=(10,))
    journal = Journal.open(tmp_path)
    journal.compact_through(10)
    journal.close()
    SnapshotStore(tmp_path).list()[0].path.write_bytes(b"rotten")
    with pytest.raises(RecoveryError, match="compacted through seq 10"):
        recover(tmp_path, object(), exchange_type=FakeExchange)


def test_a_garbled_last_record_is_dropped_and_the_rest_recovered(tmp_path: Path) -> None:
    cmds = commands(40)
    write_journal(tmp_path, cmds)
    with sqlite3.connect(journal_path(tmp_path)) as db:
        db.execute("UPDATE journal SET cmd = substr(cmd, 1, 7) WHERE seq = 42")
    result = recover(tmp_path, object(), exchange_type=FakeExchange)
    assert (result.last_seq, result.dropped) == (41, 1)
    expected = write_journal(tmp_path / "clean", cmds[:41])
    assert result.exchange.state_hash() == expected.state_hash()
    journal = Journal.open(tmp_path)
    assert journal.last_seq == 41  # the bad record is gone: the next command gets 42
    journal.close()


def test_a_torn_wal_frame_loses_only_the_unfinished_transaction(tmp_path: Path) -> None:
    """Simulate a crash in the middle of a commit: copy the database and its WAL while the
    journal is open (as a kill -9 would leave them) and cut the WAL inside its last frame."""
    live = tmp_path / "live"
    journal = Journal.open(live)
    exchange = FakeExchange()
    sequencer = Sequencer(exchange, journal, clock=ManualClock())
    cmds = commands(30)
    for command in cmds[:20]:
        sequencer.apply_sync(command)
    journal.flush_sync()  # commit 1: seq 1..20
    for command in cmds[20:]:
        sequencer.apply_sync(command)
    journal.flush_sync()  # commit 2: seq 21..32
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(str(journal_path(live)) + suffix, str(journal_path(crashed)) + suffix)
    journal.close()
    wal = Path(str(journal_path(crashed)) + "-wal")
    wal.write_bytes(wal.read_bytes()[:-100])  # the last frame of commit 2 is torn
    result = recover(crashed, object(), exchange_type=FakeExchange)
    assert result.last_seq == 20 and result.dropped == 0
    assert result.exchange.state_hash() == write_journal(tmp_path / "clean", cmds[:20]).state_hash()


def test_an_intact_record_this_version_cannot_read_is_not_deleted(tmp_path: Path) -> None:
    from venue.store.journal import record_crc

    write_journal(tmp_path, commands(5))
    future = b'[2,"FromTheFuture"]'
    with sqlite3.connect(journal_path(tmp_path)) as db:
        db.execute("INSERT INTO journal VALUES (8, 1, ?, ?)", (future, record_crc(8, 1, future)))
    with pytest.raises(RecoveryError, match="refusing to delete"):
        recover(tmp_path, object(), exchange_type=FakeExchange)
    journal = Journal.open(tmp_path)
    assert journal.last_seq == 8
    journal.close()


def test_views_catch_up_gets_exactly_the_events_after_their_last_seq(tmp_path: Path) -> None:
    write_journal(tmp_path, commands(100), snapshot_at=(30, 60, 90))
    fed: list[int] = []
    result = recover(
        tmp_path, object(), exchange_type=FakeExchange, views_last_seq=45,
        on_events=lambda seq, ts, events: fed.append(seq),
    )
    assert result.snapshot_seq == 30  # newest snapshot at or before the views' position
    assert fed == list(range(46, 103))
    assert result.exchange.state_hash() == full_replay_hash(tmp_path)


def test_views_catch_up_rederives_the_same_events_as_live(tmp_path: Path) -> None:
    cmds = commands(30)
    journal = Journal.open(tmp_path)
    sequencer = Sequencer(FakeExchange(), journal, clock=ManualClock())
    live_events = {}
    sequencer.add_listener(lambda seq, ts, events: live_events.__setitem__(seq, (ts, events)))
    for command in cmds:
        sequencer.apply_sync(command)
    journal.flush_sync()
    journal.close()
    replayed = {}
    last = replay_events(tmp_path, object(), 10, lambda seq, ts, ev: replayed.__setitem__(seq, (ts, ev)), exchange_type=FakeExchange)
    assert last == 32
    assert replayed == {seq: v for seq, v in live_events.items() if seq > 10}


def test_views_ahead_of_a_compacted_gap_are_reported(tmp_path: Path) -> None:
    write_journal(tmp_path, commands(40), snapshot_at=(20, 30))
    journal = Journal.open(tmp_path)
    journal.compact_through(20)
    journal.close()
    result = recover(tmp_path, object(), exchange_type=FakeExchange, views_last_seq=5, on_events=lambda *a: None)
    assert result.views_gap and result.snapshot_seq == 30
