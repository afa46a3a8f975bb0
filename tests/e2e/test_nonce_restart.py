"""Nonce counters survive a restart: a signed request captured before it is refused after it.

Bitfinex keeps a key's nonce for good; venue keeps it in ``DATA_DIR/nonces.json`` (written on
the flush timer and at stop), so a replayed request gets 10114 ``nonce: small`` as on Bitfinex.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from pathlib import Path

import pytest

import requests

from venue.config import Settings
from venue.gateway.nonce_file import NONCE_FILE, load_nonces, save_nonces
from venue.protocol.auth import NonceTracker

from tests.e2e.conftest import RunningServer


def _signed(key: str, secret: str, path: str, nonce: int, body: bytes) -> dict[str, str]:
    message = f"/api/v2/{path}{nonce}".encode() + body
    return {
        "bfx-nonce": str(nonce),
        "bfx-apikey": key,
        "bfx-signature": hmac.new(secret.encode(), message, hashlib.sha384).hexdigest(),
        "content-type": "application/json",
    }


def _post(server: RunningServer, path: str, headers: dict[str, str], body: bytes) -> tuple[int, object]:
    response = requests.post(f"{server.rest_url}/{path}", data=body, headers=headers, timeout=10)
    return response.status_code, response.json()


def test_a_request_replayed_after_a_restart_gets_nonce_small(server_settings: Settings) -> None:
    first = RunningServer(server_settings)
    try:
        _, key, secret = first.create_account("replayed")
        body = b"{}"
        captured = _signed(key, secret, "auth/r/wallets", 1_000_000, body)
        status, wallets = _post(first, "auth/r/wallets", captured, body)
        assert status == 200 and ["exchange", "USD", 10000, 0, 10000, None, None] in [
            row[:7] for row in wallets  # type: ignore[union-attr]
        ]
    finally:
        first.close()

    second = RunningServer(replace(server_settings, port=0))
    try:
        assert _post(second, "auth/r/wallets", captured, body) == (500, ["error", 10114, "nonce: small"])
        fresh = _signed(key, secret, "auth/r/wallets", 1_000_001, body)
        assert _post(second, "auth/r/wallets", fresh, body)[0] == 200
    finally:
        second.close()


def test_the_flush_timer_saves_nonces_while_the_server_runs(server_settings: Settings) -> None:
    running = RunningServer(replace(server_settings, flush_interval_s=0.05))
    try:
        _, key, secret = running.create_account("flushed")
        body = b"{}"
        assert _post(running, "auth/r/wallets", _signed(key, secret, "auth/r/wallets", 77, body), body)[0] == 200
        path = running.data_dir / NONCE_FILE
        deadline = 50
        while deadline and not (path.exists() and json.loads(path.read_text()).get(key) == 77):
            running.run(_sleep(0.05))
            deadline -= 1
        assert json.loads(path.read_text()) == {key: 77}
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        running.close()


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def test_saved_counters_load_back_and_an_unreadable_file_starts_from_zero(tmp_path: Path) -> None:
    tracker = NonceTracker()
    tracker.advance("k1", 5)
    tracker.advance("k2", 9_007_199_254_740_991)
    save_nonces(tmp_path, tracker)
    assert not tracker.changed()
    loaded = load_nonces(tmp_path)
    assert (loaded.last("k1"), loaded.last("k2"), loaded.last("k3")) == (5, 9_007_199_254_740_991, 0)

    (tmp_path / NONCE_FILE).write_text('{"k1": 3, "k2": "7", "k3": 1.5, "k4": -1, "k5": true}')
    assert (load_nonces(tmp_path).last("k1"), load_nonces(tmp_path).last("k2")) == (3, 0)
    assert [load_nonces(tmp_path).last(k) for k in ("k3", "k4", "k5")] == [0, 0, 0]
    (tmp_path / NONCE_FILE).write_text("{torn")
    assert load_nonces(tmp_path).last("k1") == 0
    (tmp_path / NONCE_FILE).write_text("[1, 2]")
    assert load_nonces(tmp_path).last("k1") == 0


def test_a_reset_key_is_saved_without_its_counter(tmp_path: Path) -> None:
    tracker = NonceTracker({"gone": 10, "kept": 4})
    tracker.reset("gone")
    save_nonces(tmp_path, tracker)
    assert json.loads((tmp_path / NONCE_FILE).read_text()) == {"kept": 4}


def test_stop_waits_for_the_flush_timers_write_and_saves_the_newest_counters(
    server_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cancelling the flush task does not stop the thread writing nonces.json: stop() used to
    # write the same temporary file at the same time, and one os.replace then failed with
    # FileNotFoundError (stop() raised before closing the store; seen as a flaky e2e teardown).
    import threading

    from venue.gateway import server as server_module

    real_write = server_module.write_nonces
    in_thread = threading.Event()
    release = threading.Event()
    written = threading.Event()

    def slow_write(data_dir: Path, state: dict[str, int]) -> None:
        in_thread.set()
        release.wait(5)
        real_write(data_dir, state)
        written.set()

    monkeypatch.setattr(server_module, "write_nonces", slow_write)
    running = RunningServer(replace(server_settings, flush_interval_s=0.05))
    try:
        _, key, secret = running.create_account("racing")
        body = b"{}"
        assert _post(running, "auth/r/wallets", _signed(key, secret, "auth/r/wallets", 5, body), body)[0] == 200
        assert in_thread.wait(5)  # the flush timer's write is in its thread, held there
        assert _post(running, "auth/r/wallets", _signed(key, secret, "auth/r/wallets", 6, body), body)[0] == 200
        threading.Timer(0.3, release.set).start()  # let it finish while stop() is under way
    finally:
        running.close()  # raised FileNotFoundError when both writes overlapped
    assert written.wait(5)
    # the older state the thread held must not land after stop()'s newer one
    assert json.loads((running.data_dir / NONCE_FILE).read_text()) == {key: 6}
