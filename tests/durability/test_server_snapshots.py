"""A real server snapshots on its configured schedule, compacts its journal, and restarts from a
snapshot with every acknowledged order, trade and ledger entry, public and private, intact."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningServer
from tests.e2e.test_auth_rest import Signed
from venue.config import ConfigError, load_settings
from venue.core.commands import SubmitOrder
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderType
from venue.store.journal import Journal
from venue.store.recovery import recover
from venue.store.snapshot import SnapshotStore
from venue.store.tools import verify


def _settings(data_dir: Path, **changes: Any) -> Any:
    base = replace(load_settings(data_dir=data_dir, port=0), rate_limits=False, durability="full")
    return replace(base, flush_interval_s=0.05, **changes)


def _views(server: RunningServer, accounts: list[tuple[int, str, str]]) -> dict[str, Any]:
    import urllib.request

    answers: dict[str, Any] = {}
    for path in ("trades/tBTCUSD/hist?limit=10000", "candles/trade:1m:tBTCUSD/hist", "book/tBTCUSD/R0?len=100"):
        with urllib.request.urlopen(f"{server.rest_url}/{path}", timeout=10) as response:
            answers[path] = json.loads(response.read())
    for user_id, key, secret in accounts:
        signed = Signed(server, key, secret)
        for path in ("auth/r/wallets", "auth/r/orders", "auth/r/orders/hist", "auth/r/trades/hist", "auth/r/ledgers/hist"):
            answers[f"{user_id} {path}"] = signed.post(path, {"limit": 2500})
    return answers


def test_the_server_snapshots_compacts_and_restarts_from_a_snapshot(tmp_path: Path) -> None:
    settings = _settings(tmp_path, snapshot_every=40, snapshot_keep=2)
    server = RunningServer(settings)
    try:
        accounts = [server.create_account(name, {"USD": "1000000", "BTC": "100"}) for name in ("a", "b")]
        for i in range(240):
            user_id = accounts[i % 2][0]
            side = 1 if i % 2 else -1
            server.submit(SubmitOrder(user_id, "tBTCUSD", OrderType.EXCHANGE_LIMIT,
                                      side * parse_amount("0.01"), parse_price(str(30_000 + (i % 7) * 5))))
            if i % 40 == 0:
                time.sleep(0.06)  # let the views store their batch: compaction waits for them
        snapshotter = server.server._store.snapshotter
        assert snapshotter is not None and snapshotter.every_commands == 40
        server.run(snapshotter.wait())
        before = _views(server, accounts)
        last_seq = server.ctx.sequencer.last_seq
    finally:
        server.close()

    kept = SnapshotStore(tmp_path).list()
    assert len(kept) == 2, "the newest snapshot_keep snapshots are kept"
    journal = Journal.open(tmp_path, lock=False)
    try:
        compacted = journal.compacted_through()
    finally:
        journal.close()
    assert 0 < compacted <= kept[-1].seq, "records the oldest kept snapshot covers are compacted"

    recovered = recover(tmp_path)
    assert recovered.snapshot_seq == kept[0].seq and recovered.last_seq == last_seq
    assert recovered.exchange.state_hash() == verify(tmp_path)

    restarted = RunningServer(settings)
    try:
        after = _views(restarted, accounts)
    finally:
        restarted.close()
    assert after == before

    # the newest snapshot rots: the next start falls back to the previous one (the journal still
    # holds everything after it) and answers the same
    newest = SnapshotStore(tmp_path).list()[0].path
    data = bytearray(newest.read_bytes())
    data[-10] ^= 0xFF
    newest.write_bytes(bytes(data))
    fallback = recover(tmp_path)
    assert fallback.snapshot_seq == kept[1].seq and fallback.skipped_snapshots
    restarted = RunningServer(settings)
    try:
        assert _views(restarted, accounts) == before
    finally:
        restarted.close()
    assert before["trades/tBTCUSD/hist?limit=10000"], "the orders traded"
    assert all(answer[0] == 200 for key, answer in before.items() if "auth/" in key)


def test_snapshot_settings_are_checked() -> None:
    with pytest.raises(ConfigError):
        load_settings(snapshot_keep=0)
    with pytest.raises(ConfigError):
        load_settings(snapshot_every=-1)
    assert load_settings(snapshot_every=0).snapshot_every == 0


def test_compaction_never_passes_what_the_history_has_on_disk(tmp_path: Path) -> None:
    """The history commits without fsync (synchronous=NORMAL); a power cut can take back its
    last batches, which must then be re-derived from the journal. So the compaction floor is
    the history's seq as of a checkpoint (which fsyncs the WAL), taken when compaction asks."""
    server = RunningServer(_settings(tmp_path, snapshot_every=10, snapshot_keep=2))
    try:
        server.create_account("a", {"USD": "1000"})
        history = server.ctx.market_data.history
        floor = server.server._store.snapshotter.compact_floor
        statements: list[str] = []

        async def ask_floor() -> int:
            history.flush()
            history._db.set_trace_callback(statements.append)
            try:
                return floor()
            finally:
                history._db.set_trace_callback(None)

        assert server.run(ask_floor()) == history.last_seq() > 0
        assert any("wal_checkpoint" in statement for statement in statements), statements
    finally:
        server.close()
