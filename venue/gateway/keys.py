"""API key administration: ``venue key create NAME`` and ``venue key revoke KEY``.

Keys and secrets are drawn here with ``secrets`` (the core draws no randomness) and stored with
an ordinary ``CreateApiKey`` command, so they are journaled and replayed like everything else;
``RevokeApiKey`` marks a key revoked (the core keeps it, so its history stays attributable).

Like ``venue account create`` (admin.py), both commands work on a running server, through the
loopback-only, token-protected admin endpoint (``POST /admin/key``, ``POST /admin/key/revoke``),
and on a stopped one, through an offline journal session. Secrets are printed once, to the
operator, and never logged.

Permissions: every scope read+write by default (the same set as ``venue account create``);
``--read-only`` grants read on the trading scopes and write on none; ``--permissions`` takes
``SCOPE[:r|w|rw],…`` (``protocol.auth.parse_permissions``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from venue.core.commands import CreateApiKey, RevokeApiKey
from venue.gateway import admin
from venue.gateway.http_auth import NONCES_EXTRA
from venue.protocol.auth import Permissions, parse_permissions, read_only_permissions

KEY_LABEL = "venue key create"


@dataclass(frozen=True, slots=True)
class KeyCredentials:
    user_id: int
    api_key: str
    api_secret: str
    permissions: Permissions

    def as_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "permissions": [[scope, int(r), int(w)] for scope, r, w in self.permissions],
        }


def permissions_from_options(read_only: bool, spec: str | None) -> Permissions:
    """The permissions asked for on the command line or in an admin request."""
    if read_only and spec:
        raise admin.AdminError("give either --read-only or --permissions, not both")
    if read_only:
        return read_only_permissions()
    if spec:
        try:
            permissions = parse_permissions(spec)
        except ValueError as exc:
            raise admin.AdminError(str(exc)) from exc
        if not permissions:
            raise admin.AdminError("--permissions names no scope")
        return permissions
    return admin.ALL_PERMISSIONS


def create_key_command(exchange: Any, name: str, permissions: Permissions) -> tuple[CreateApiKey, KeyCredentials]:
    """A ``CreateApiKey`` with fresh credentials for account ``name`` (checked to exist)."""
    user = exchange.user_by_name(name)
    if user is None:
        raise admin.AdminError(f"no account named {name!r}")
    key, secret = admin.new_api_credentials()
    command = CreateApiKey(user.user_id, key, secret, permissions, label=KEY_LABEL)
    return command, KeyCredentials(user.user_id, key, secret, permissions)


def revoke_key_command(exchange: Any, key: str) -> RevokeApiKey:
    info = exchange.api_key(key)
    if info is None:
        raise admin.AdminError("no such API key")
    if info.revoked:
        raise admin.AdminError("that API key is already revoked")
    return RevokeApiKey(key)


def _raise_if_rejected(events: list[Any]) -> None:
    for event in events:
        if type(event).__name__ == "RequestRejected":
            raise admin.AdminError(str(getattr(event, "text", "rejected")))


async def create_key(submit: admin.Submit, exchange: Any, name: str, permissions: Permissions) -> KeyCredentials:
    command, creds = create_key_command(exchange, name, permissions)
    _raise_if_rejected(await submit(command))
    return creds


def create_key_sync(submit: admin.SubmitSync, exchange: Any, name: str, permissions: Permissions) -> KeyCredentials:
    command, creds = create_key_command(exchange, name, permissions)
    _raise_if_rejected(submit(command))
    return creds


async def revoke_key(submit: admin.Submit, exchange: Any, key: str) -> None:
    _raise_if_rejected(await submit(revoke_key_command(exchange, key)))


def revoke_key_sync(submit: admin.SubmitSync, exchange: Any, key: str) -> None:
    _raise_if_rejected(submit(revoke_key_command(exchange, key)))


# -- admin HTTP -------------------------------------------------------------------------------


def add_routes(app: web.Application, ctx: Any) -> None:
    """Mount ``POST /admin/key`` and ``POST /admin/key/revoke`` (same guard as admin.py)."""

    async def create(request: web.Request) -> web.Response:
        body = await admin.admin_body(request, ctx.admin_token)  # noqa: SLF001 - same guard
        if isinstance(body, web.Response):
            return body
        try:
            permissions = permissions_from_options(bool(body.get("read_only")), body.get("permissions"))
            creds = await create_key(ctx.submit, ctx.exchange, str(body.get("name", "")), permissions)
        except admin.AdminError as exc:
            return admin.refusal(str(exc), 400)  # noqa: SLF001
        return admin.answer(creds.as_json())  # noqa: SLF001

    async def revoke(request: web.Request) -> web.Response:
        body = await admin.admin_body(request, ctx.admin_token)  # noqa: SLF001
        if isinstance(body, web.Response):
            return body
        key = str(body.get("key", ""))
        try:
            await revoke_key(ctx.submit, ctx.exchange, key)
        except admin.AdminError as exc:
            return admin.refusal(str(exc), 400)  # noqa: SLF001
        # The key's nonce counter is dropped too: a revoked key never authenticates again.
        nonces = ctx.extras.get(NONCES_EXTRA)
        if nonces is not None:
            nonces.reset(key)
        return admin.answer({"revoked": key})  # noqa: SLF001

    app.router.add_post("/admin/key", create)
    app.router.add_post("/admin/key/revoke", revoke)


# -- command line -----------------------------------------------------------------------------

AdminPost = Callable[[Path, str, dict[str, Any]], "dict[str, Any] | None"]


def register_cli(
    commands: Any,
    *,
    add_data_dir: Callable[[argparse.ArgumentParser], None],
    data_dir_of: Callable[[argparse.Namespace], Path],
    admin_post: AdminPost,
    offline: Callable[[Path], Any],
) -> None:
    """Add ``venue key create`` and ``venue key revoke`` to the CLI's subcommands.

    The callables are cli.py's own helpers (data-dir option, admin POST to a running server,
    offline journal session), so both commands behave exactly like ``venue account create``.
    """
    key = commands.add_parser("key", help="manage API keys", description="Create and revoke API keys.")
    actions = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create",
        help="create an API key for an account",
        description="Create an API key for account NAME and print the key and its secret (shown "
        "once). Every permission by default; --read-only or --permissions narrow it.",
    )
    create.add_argument("name", metavar="NAME", help="account name")
    scope = create.add_mutually_exclusive_group()
    scope.add_argument("--read-only", action="store_true", help="read permissions only")
    scope.add_argument(
        "--permissions",
        metavar="SCOPE[:r|w|rw],…",
        help="e.g. orders:rw,wallets:r,history:r (scopes: account history orders positions "
        "funding settings wallets withdraw ui_withdraw bfxpay)",
    )
    create.add_argument("--json", action="store_true", help="print the credentials as JSON")
    add_data_dir(create)

    revoke = actions.add_parser(
        "revoke",
        help="revoke an API key",
        description="Revoke API key KEY: it fails authentication from then on.",
    )
    revoke.add_argument("key", metavar="KEY", help="the API key")
    revoke.add_argument("--json", action="store_true", help="print the result as JSON")
    add_data_dir(revoke)

    def cmd_create(args: argparse.Namespace) -> int:
        data_dir = data_dir_of(args)
        permissions = permissions_from_options(args.read_only, args.permissions)
        body = {"name": args.name, "read_only": args.read_only, "permissions": args.permissions}
        answer = admin_post(data_dir, "/admin/key", body)
        if answer is None:
            _require_data_dir(data_dir)
            with offline(data_dir) as session:
                answer = create_key_sync(session.apply, session.exchange, args.name, permissions).as_json()
        if args.json:
            print(json.dumps(answer))
        else:
            granted = ", ".join(f"{s}:{'r' if r else ''}{'w' if w else ''}" for s, r, w in answer["permissions"])
            print(f"API key for {args.name} (user id {answer['user_id']})")
            print(f"  API key     {answer['api_key']}")
            print(f"  API secret  {answer['api_secret']}")
            print(f"  permissions {granted}")
        return 0

    def cmd_revoke(args: argparse.Namespace) -> int:
        data_dir = data_dir_of(args)
        answer = admin_post(data_dir, "/admin/key/revoke", {"key": args.key})
        if answer is None:
            _require_data_dir(data_dir)
            with offline(data_dir) as session:
                revoke_key_sync(session.apply, session.exchange, args.key)
            answer = {"revoked": args.key}
        print(json.dumps(answer) if args.json else f"revoked {args.key}")
        return 0

    create.set_defaults(handler=cmd_create)
    revoke.set_defaults(handler=cmd_revoke)


def _require_data_dir(data_dir: Path) -> None:
    if not data_dir.is_dir():
        raise admin.AdminError(f"no data directory at {data_dir} (start a server or pass --data-dir)")
