"""``venue key create`` / ``venue key revoke`` helpers (gateway/keys.py)."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from venue.core.commands import CreateApiKey, RevokeApiKey
from venue.core.events import ApiKeyCreated, ApiKeyRevoked, RequestRejected
from venue.core.exchange import ApiKeyInfo, UserInfo
from venue.gateway import admin, keys


class Accounts:
    """Just the reads keys.py needs, and the two commands it sends."""

    def __init__(self) -> None:
        self.users = {"alice": UserInfo(3, "alice", "", 0)}
        self.keys: dict[str, ApiKeyInfo] = {}
        self.sent: list[Any] = []

    def user_by_name(self, name: str) -> UserInfo | None:
        return self.users.get(name)

    def api_key(self, key: str) -> ApiKeyInfo | None:
        return self.keys.get(key)

    def apply(self, command: Any) -> list[Any]:
        self.sent.append(command)
        if isinstance(command, CreateApiKey):
            self.keys[command.key] = ApiKeyInfo(command.key, command.secret, command.user_id, command.permissions, 0, False)
            return [ApiKeyCreated(command.user_id, command.key, command.permissions, 0)]
        if isinstance(command, RevokeApiKey):
            info = self.keys[command.key]
            self.keys[command.key] = ApiKeyInfo(info.key, info.secret, info.user_id, info.permissions, 0, True)
            return [ApiKeyRevoked(info.user_id, command.key, 0)]
        return [RequestRejected(0, "x", 10001, "no", command)]


def test_default_key_has_every_permission_and_fresh_credentials() -> None:
    accounts = Accounts()
    first = keys.create_key_sync(accounts.apply, accounts, "alice", keys.permissions_from_options(False, None))
    second = keys.create_key_sync(accounts.apply, accounts, "alice", keys.permissions_from_options(False, None))
    assert first.user_id == 3 and first.permissions == admin.ALL_PERMISSIONS
    assert first.api_key != second.api_key and first.api_secret != second.api_secret
    assert accounts.keys[first.api_key].secret == first.api_secret


def test_read_only_and_explicit_permissions() -> None:
    assert all(not write for _, _, write in keys.permissions_from_options(True, None))
    assert keys.permissions_from_options(False, "orders:r,wallets") == (("orders", True, False), ("wallets", True, True))
    with pytest.raises(admin.AdminError):
        keys.permissions_from_options(True, "orders")
    with pytest.raises(admin.AdminError, match="was 'banana'"):
        keys.permissions_from_options(False, "banana")


def test_key_for_an_unknown_account_is_refused() -> None:
    accounts = Accounts()
    with pytest.raises(admin.AdminError, match="no account named 'bob'"):
        keys.create_key_sync(accounts.apply, accounts, "bob", admin.ALL_PERMISSIONS)
    assert accounts.sent == []


def test_revoke_marks_the_key_revoked_once() -> None:
    accounts = Accounts()
    creds = keys.create_key_sync(accounts.apply, accounts, "alice", admin.ALL_PERMISSIONS)
    keys.revoke_key_sync(accounts.apply, accounts, creds.api_key)
    assert accounts.keys[creds.api_key].revoked
    with pytest.raises(admin.AdminError, match="already revoked"):
        keys.revoke_key_sync(accounts.apply, accounts, creds.api_key)
    with pytest.raises(admin.AdminError, match="no such API key"):
        keys.revoke_key_sync(accounts.apply, accounts, "nope")


class Session:
    def __init__(self, accounts: Accounts) -> None:
        self.exchange = accounts
        self.apply = accounts.apply


def _cli(accounts: Accounts, tmp_path: Path) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="venue")
    commands = parser.add_subparsers(dest="command", required=True)

    @contextlib.contextmanager
    def offline(data_dir: Path) -> Iterator[Session]:
        yield Session(accounts)

    keys.register_cli(
        commands,
        add_data_dir=lambda p: p.add_argument("--data-dir", default=str(tmp_path)),
        data_dir_of=lambda args: Path(args.data_dir),
        admin_post=lambda data_dir, path, body: None,  # no running server: offline path
        offline=offline,
    )
    return parser


def test_cli_creates_a_read_only_key_and_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    accounts = Accounts()
    args = _cli(accounts, tmp_path).parse_args(["key", "create", "alice", "--read-only", "--json"])
    assert args.handler(args) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["user_id"] == 3 and ["orders", 1, 0] in answer["permissions"]
    assert accounts.keys[answer["api_key"]].secret == answer["api_secret"]


def test_cli_revokes_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    accounts = Accounts()
    creds = keys.create_key_sync(accounts.apply, accounts, "alice", admin.ALL_PERMISSIONS)
    args = _cli(accounts, tmp_path).parse_args(["key", "revoke", creds.api_key])
    assert args.handler(args) == 0
    assert capsys.readouterr().out.strip() == f"revoked {creds.api_key}"
    assert accounts.keys[creds.api_key].revoked


def test_cli_refuses_read_only_together_with_permissions(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        _cli(Accounts(), tmp_path).parse_args(["key", "create", "alice", "--read-only", "--permissions", "orders"])


class Ctx:
    """What keys.add_routes reads from the server context."""

    def __init__(self, accounts: Accounts) -> None:
        self.exchange = accounts
        self.admin_token = "token"
        self.extras: dict[str, Any] = {}

    async def submit(self, command: Any) -> list[Any]:
        return self.exchange.apply(command)


async def test_admin_routes_create_and_revoke_keys_for_loopback_callers_with_the_token() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from venue.protocol.auth import NonceTracker

    accounts = Accounts()
    ctx = Ctx(accounts)
    ctx.extras["nonces"] = nonces = NonceTracker()
    app = web.Application()
    keys.add_routes(app, ctx)
    async with TestClient(TestServer(app)) as client:
        headers = {admin.TOKEN_HEADER: "token"}
        refused = await client.post("/admin/key", json={"name": "alice"}, headers={admin.TOKEN_HEADER: "nope"})
        assert refused.status == 403 and accounts.sent == []

        created = await client.post("/admin/key", json={"name": "alice", "permissions": "orders:r"}, headers=headers)
        answer = await created.json()
        assert created.status == 200 and answer["permissions"] == [["orders", 1, 0]]
        assert accounts.keys[answer["api_key"]].permissions == (("orders", True, False),)

        nonces.advance(answer["api_key"], 99)
        revoked = await client.post("/admin/key/revoke", json={"key": answer["api_key"]}, headers=headers)
        assert revoked.status == 200 and accounts.keys[answer["api_key"]].revoked
        assert nonces.last(answer["api_key"]) == 0

        unknown = await client.post("/admin/key", json={"name": "zed"}, headers=headers)
        assert unknown.status == 400 and (await unknown.json()) == {"error": "no account named 'zed'"}


def test_generated_credentials_are_letters_and_digits_so_no_key_reads_as_a_cli_option() -> None:
    for _ in range(200):
        for credential in admin.new_api_credentials():
            assert len(credential) == 43 and credential.isalnum() and credential.isascii()
