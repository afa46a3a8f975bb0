"""Snapshots (store/snapshot.py): checksummed files at a journal position, newest K kept,
written only once the journal holds their seq."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from venue.core.commands import Deposit, Tick
from venue.gateway.clock import ManualClock
from venue.gateway.sequencer import Sequencer, open_sequencer
from venue.store.journal import Journal
from venue.store.snapshot import CorruptSnapshot, SnapshotStore, Snapshotter
from tests.store.fakes import FakeExchange


def test_a_snapshot_reads_back_with_its_position(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.write(42, 1_700_000_000_123, b"state bytes")
    [info] = store.list()
    snapshot = store.load(info)
    assert (snapshot.seq, snapshot.ts, snapshot.payload) == (42, 1_700_000_000_123, b"state bytes")


def test_list_is_newest_first_and_ignores_temp_files(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    for seq in (5, 100, 20):
        store.write(seq, 0, b"x")
    (store.dir / "snapshot-00000000000000000200.4242.tmp").write_bytes(b"half")
    assert [info.seq for info in store.list()] == [100, 20, 5]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],  # half-written: cut short
        lambda data: data[:-3] + b"XYZ",  # garbled payload
        lambda data: b"",  # empty file
        lambda data: b"NOTASNAP\n" + data[11:],  # wrong magic
        lambda data: data[:20],  # header cut off
    ],
    ids=["truncated", "garbled", "empty", "magic", "header"],
)
def test_a_damaged_snapshot_fails_its_check(tmp_path: Path, damage) -> None:
    store = SnapshotStore(tmp_path)
    path = store.write(7, 0, b"some exchange state" * 10)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptSnapshot):
        store.load(store.list()[0])


def test_prune_keeps_the_newest_k(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=2)
    for seq in (1, 2, 3, 4):
        store.write(seq, 0, b"x")
    kept = store.prune()
    assert [info.seq for info in kept] == [4, 3]
    assert [info.seq for info in store.list()] == [4, 3]


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "in-process"])
async def test_snapshotter_snapshots_every_n_commands_and_compacts_the_journal(tmp_path: Path, fork: bool) -> None:
    journal = Journal.open(tmp_path)
    exchange = FakeExchange()
    sequencer = Sequencer(exchange, journal, clock=ManualClock())
    store = SnapshotStore(tmp_path, keep=2)
    snapshotter = Snapshotter(exchange, journal, store, every_commands=10, every_seconds=1e9, fork=fork)
    sequencer.add_after_apply(snapshotter.after_apply)
    for i in range(1, 36):
        await sequencer.submit(Deposit(1, "BTC", i))
        await snapshotter.wait()
    assert snapshotter.written == [10, 20, 30]
    assert [info.seq for info in store.list()] == [30, 20]
    await sequencer.close()
    reopened = Journal.open(tmp_path)
    assert reopened.compacted_through() == 20  # records the oldest kept snapshot covers
    assert reopened.first_seq() == 21
    reopened.close()
    # the file holds the state as of its seq, not as of when the child happened to run
    restored = FakeExchange.restore(None, store.load(store.list()[0]).payload)
    assert restored.applied == [] and restored.chain == snapshot_chain_at(30)


def snapshot_chain_at(seq: int) -> str:
    exchange = FakeExchange()
    clock = ManualClock()
    for i in range(1, seq + 1):
        exchange.apply(Deposit(1, "BTC", i), seq=i, ts=clock.now_ms())
    return exchange.chain


class Unserializable(FakeExchange):
    def snapshot(self) -> bytes:
        raise RuntimeError("cannot serialize")


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "in-process"])
async def test_a_failed_snapshot_leaves_no_file_and_the_sequencer_goes_on(tmp_path: Path, fork: bool) -> None:
    journal = Journal.open(tmp_path)
    exchange = Unserializable()
    sequencer = Sequencer(exchange, journal, clock=ManualClock())
    store = SnapshotStore(tmp_path)
    snapshotter = Snapshotter(exchange, journal, store, every_commands=2, fork=fork)
    sequencer.add_after_apply(snapshotter.after_apply)
    for _ in range(4):
        await sequencer.submit(Tick())
        await snapshotter.wait()
    assert store.list() == [] and list(store.dir.glob("*.tmp")) == []
    assert sequencer.last_seq == 4
    await sequencer.close()


async def test_compaction_never_passes_the_floor(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    exchange = FakeExchange()
    sequencer = Sequencer(exchange, journal, clock=ManualClock())
    store = SnapshotStore(tmp_path, keep=2)
    snapshotter = Snapshotter(exchange, journal, store, every_commands=5, compact_floor=lambda: 3)
    sequencer.add_after_apply(snapshotter.after_apply)
    for _ in range(20):
        await sequencer.submit(Tick())
        await snapshotter.wait()
    await sequencer.close()
    reopened = Journal.open(tmp_path)
    assert reopened.compacted_through() == 3
    reopened.close()


async def test_a_snapshot_is_written_only_after_the_journal_holds_its_seq(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    exchange = FakeExchange()
    sequencer = Sequencer(exchange, journal, clock=ManualClock())
    store = SnapshotStore(tmp_path)
    snapshotter = Snapshotter(exchange, journal, store, every_commands=10**9)
    sequencer.submit_nowait(Tick())
    task = snapshotter.take(1, 0)
    assert store.list() == []  # the record is not committed yet: nothing written
    await task
    assert journal.durable_seq >= 1 and [i.seq for i in store.list()] == [1]
    await sequencer.close()


async def test_open_sequencer_restarts_from_snapshot_plus_tail(tmp_path: Path) -> None:
    sequencer = await open_sequencer(tmp_path, object(), exchange_type=FakeExchange, snapshot_every=7, clock=ManualClock())
    for i in range(1, 24):
        await sequencer.submit(Deposit(1, "BTC", i))
        await sequencer.snapshotter.wait()
    expected = sequencer.exchange.state_hash()
    await sequencer.close()
    again = await open_sequencer(tmp_path, object(), exchange_type=FakeExchange, snapshot_every=7)
    assert again.recovered.snapshot_seq == 21
    assert again.recovered.replayed == 2
    assert again.exchange.state_hash() == expected
    assert again.last_seq == 23
    await again.submit(Tick())
    await again.close()


def test_a_forked_snapshot_writer_does_not_keep_the_data_directory_locked(tmp_path: Path) -> None:
    """Kill -9 of a server while its forked writer still serializes a big state: the restarted
    server must be able to lock the directory at once, not when the orphan finishes."""

    class SlowExchange:
        def snapshot(self) -> bytes:
            time.sleep(3)
            return b"state"

    journal = Journal.open(tmp_path)
    snapshotter = Snapshotter(SlowExchange(), journal, SnapshotStore(tmp_path), fork=True)
    pid = snapshotter._fork_writer(1, 1)
    try:
        journal.close()  # the server is gone; its writer child still runs
        time.sleep(0.5)  # the child is well into its snapshot
        again = Journal.open(tmp_path)  # JournalLocked if the child held the lock
        again.close()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_a_forked_snapshot_writer_does_not_keep_the_servers_sockets(tmp_path: Path) -> None:
    """Kill -9 of a server while its forked writer still runs: the port must be free for the
    restarted server (and clients must see their connections close), not held by the orphan."""
    import socket

    class SlowExchange:
        def snapshot(self) -> bytes:
            time.sleep(3)
            return b"state"

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    journal = Journal.open(tmp_path)
    snapshotter = Snapshotter(SlowExchange(), journal, SnapshotStore(tmp_path), fork=True)
    pid = snapshotter._fork_writer(1, 1)
    try:
        listener.close()  # the server is gone; its writer child still runs
        journal.close()
        time.sleep(0.5)  # the child is well into its snapshot
        again = socket.socket()
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            again.bind(("127.0.0.1", port))
            again.listen()  # EADDRINUSE if the child still listens on the port
        finally:
            again.close()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
