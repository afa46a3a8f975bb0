"""Views never disagree with the core, even when the history stored more than the journal kept.

A corrupt journal tail is dropped by recovery (store/recovery.py), and a crash under durability
``os``/``none`` can lose journal records; the history store may already hold those commands'
trades, orders, ledger entries and candles. After the restart new commands reuse those seqs and
ids, so the server must re-derive its views from the journal: it then answers exactly what a
server started on the journal alone answers, and keeps doing so for new trades.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.e2e.conftest import RunningServer
from tests.e2e.test_auth_rest import Signed
from venue.config import load_settings
from venue.core.commands import SubmitOrder
from venue.core.numbers import parse_amount, parse_price
from venue.core.orders import OrderType
from venue.gateway.clock import ManualClock
from venue.store.journal import JOURNAL_FILE


def _settings(data_dir: Path) -> Any:
    return replace(load_settings(data_dir=data_dir, port=0), rate_limits=False, durability="full")


def _trade(server: RunningServer, seller: int, buyer: int, price: str) -> None:
    for user, amount in ((seller, "-0.01"), (buyer, "0.01")):
        server.submit(SubmitOrder(user, "tBTCUSD", OrderType.EXCHANGE_LIMIT, parse_amount(amount), parse_price(price)))


def _views(server: RunningServer, accounts: list[tuple[int, str, str]]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for path in ("trades/tBTCUSD/hist?limit=10000", "candles/trade:1m:tBTCUSD/hist", "ticker/tBTCUSD",
                 "book/tBTCUSD/R0?len=100"):
        with urllib.request.urlopen(f"{server.rest_url}/{path}", timeout=10) as response:
            answers[path] = json.loads(response.read())
    for user_id, key, secret in accounts:
        signed = Signed(server, key, secret)
        for path in ("auth/r/orders/hist", "auth/r/trades/hist", "auth/r/ledgers/hist", "auth/r/wallets"):
            answers[f"{user_id} {path}"] = signed.post(path, {})
    return answers


def test_a_dropped_journal_tail_makes_the_views_rebuild_from_the_journal(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = RunningServer(_settings(data_dir), clock=ManualClock())
    try:
        accounts = [server.create_account(name, {"USD": "100000", "BTC": "10"}) for name in ("s", "b")]
        (seller, _, _), (buyer, _, _) = accounts
        for i in range(10):
            _trade(server, seller, buyer, str(30_000 + i * 10))
        last_seq = server.ctx.sequencer.last_seq
    finally:
        server.close()  # the history stores everything, up to last_seq

    # the last four records rot (as a disk can): recovery drops them, the history still has them
    db = sqlite3.connect(data_dir / JOURNAL_FILE)
    db.execute("UPDATE journal SET crc = crc + 1 WHERE seq > ?", (last_seq - 4,))
    db.commit()
    db.close()
    journal_only = tmp_path / "journal-only"
    journal_only.mkdir()
    shutil.copy(data_dir / JOURNAL_FILE, journal_only / JOURNAL_FILE)

    # one clock for both (the same stamps for the new trades), and no Tick in between
    restarted = RunningServer(_settings(data_dir), clock=ManualClock())
    reference = RunningServer(_settings(journal_only), clock=ManualClock())
    try:
        assert restarted.ctx.sequencer.last_seq == last_seq - 4
        assert _views(restarted, accounts) == _views(reference, accounts)
        # new commands take the dropped seqs and ids: the views follow the core, not old rows
        for server_ in (restarted, reference):
            _trade(server_, seller, buyer, "31000")
        assert _views(restarted, accounts) == _views(reference, accounts)
    finally:
        restarted.close()
        reference.close()
    assert (data_dir / "history.sqlite.ahead").exists(), "the old history is kept for inspection"
