"""Offline tools (store/tools.py): journal verify/export and writes to a stopped server."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import orjson
import pytest

from venue.core.commands import CreateApiKey, CreateUser, Deposit, MultiOp, CancelOrder
from venue.store.journal import Journal, JournalLocked, journal_path
from venue.store.snapshot import SnapshotStore
from venue.store.tools import VerifyError, apply_offline, export, open_offline, verify
from tests.store.fakes import FakeExchange
from tests.store.test_recovery import commands, write_journal


def test_verify_returns_the_hash_of_a_full_replay(tmp_path: Path) -> None:
    live = write_journal(tmp_path, commands(60), snapshot_at=(20, 40))
    assert verify(tmp_path, object(), exchange_type=FakeExchange) == live.state_hash()


def test_verify_on_a_compacted_journal_starts_from_the_oldest_snapshot(tmp_path: Path) -> None:
    live = write_journal(tmp_path, commands(60), snapshot_at=(20, 40))
    journal = Journal.open(tmp_path)
    journal.compact_through(20)
    journal.close()
    assert verify(tmp_path, object(), exchange_type=FakeExchange) == live.state_hash()


def test_verify_catches_a_snapshot_that_disagrees_with_the_journal(tmp_path: Path) -> None:
    write_journal(tmp_path, commands(60), snapshot_at=(20,))
    SnapshotStore(tmp_path).write(40, 0, FakeExchange().snapshot())  # a valid file, wrong state
    with pytest.raises(VerifyError, match="snapshot 40 differs"):
        verify(tmp_path, object(), exchange_type=FakeExchange)


def test_verify_reports_a_corrupt_record_and_changes_nothing(tmp_path: Path) -> None:
    write_journal(tmp_path, commands(10))
    with sqlite3.connect(journal_path(tmp_path)) as db:
        db.execute("UPDATE journal SET ts = ts + 1 WHERE seq = 5")
    with pytest.raises(VerifyError, match="record 5: checksum"):
        verify(tmp_path, object(), exchange_type=FakeExchange)
    with sqlite3.connect(journal_path(tmp_path)) as db:
        assert db.execute("SELECT count(*) FROM journal").fetchone()[0] == 12


def test_export_writes_one_json_line_per_record(tmp_path: Path) -> None:
    cmds = [CreateUser("alice"), Deposit(1, "USD", 10**30), MultiOp(1, (CancelOrder(1, order_id=3),))]
    write_journal(tmp_path, cmds)
    out = io.BytesIO()
    assert export(tmp_path, out) == 3
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert lines[0]["type"] == "CreateUser" and lines[0]["command"] == {"name": "alice", "email": ""}
    assert lines[1]["command"]["amount"] == str(10**30)
    assert lines[2]["command"]["ops"] == [["CancelOrder", 1, 3, None, None]]


def test_export_redacts_api_secrets_unless_asked(tmp_path: Path) -> None:
    write_journal(tmp_path, [CreateApiKey(1, "k", "s3cr3t", (("orders", True, True),))])
    out = io.BytesIO()
    export(tmp_path, out)
    assert b"s3cr3t" not in out.getvalue() and b"<redacted>" in out.getvalue()
    out = io.BytesIO()
    export(tmp_path, out, secrets=True)
    assert orjson.loads(out.getvalue())["command"]["secret"] == "s3cr3t"


def test_apply_offline_journals_durably_and_the_next_start_sees_it(tmp_path: Path) -> None:
    write_journal(tmp_path, commands(10))
    [[created], _] = apply_offline(
        tmp_path, [CreateUser("carol"), Deposit(3, "USD", 5)], object(), exchange_type=FakeExchange
    )
    assert created.name == "carol"
    journal = Journal.open(tmp_path)
    records = list(journal.read_from(13))
    journal.close()
    assert [r.command for r in records] == [CreateUser("carol"), Deposit(3, "USD", 5)]
    with open_offline(tmp_path, object(), exchange_type=FakeExchange) as session:
        assert session.exchange.users[3] == "carol" and session.last_seq == 14


def test_offline_writes_are_refused_while_a_server_holds_the_directory(tmp_path: Path) -> None:
    running = Journal.open(tmp_path)
    with pytest.raises(JournalLocked, match="in use"):
        apply_offline(tmp_path, [CreateUser("x")], object(), exchange_type=FakeExchange)
    running.close()
    apply_offline(tmp_path, [CreateUser("x")], object(), exchange_type=FakeExchange)


def test_a_file_that_is_not_a_journal_is_a_verify_error(tmp_path: Path) -> None:
    journal_path(tmp_path).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(VerifyError, match="unreadable"):
        verify(tmp_path, object(), exchange_type=FakeExchange)
    with pytest.raises(VerifyError, match="unreadable"):
        export(tmp_path, io.BytesIO())
    with pytest.raises(VerifyError, match="no data directory"):
        verify(tmp_path / "missing", object(), exchange_type=FakeExchange)
