"""Administration: accounts, API keys and deposits, over a loopback-only HTTP endpoint.

The CLI (``venue account create``, ``venue deposit``, ``venue key create|revoke``) talks to a
running server through ``POST /admin/account``, ``/admin/deposit``, ``/admin/key`` and
``/admin/key/revoke``. They refuse any client that is not on the loopback interface and any
request without the admin token, which lives in the data directory (``admin.token``, file
mode 0600): whoever may read the data directory may administer the
exchange, nobody else. ``server.json`` beside it tells the CLI where the running server listens.

API keys and secrets are drawn here with ``secrets`` (the core draws no randomness) and passed
in ``CreateApiKey``. Every account step is an ordinary command through the sequencer, so it is
journaled and replayed like a trade.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from venue.core.commands import Command, CreateApiKey, CreateUser, Deposit
from venue.protocol.auth import SCOPES
from venue.core.events import Event, RequestRejected, UserCreated
from venue.core.numbers import NumberError, parse_amount, to_text
from venue.core.symbols import Registry

TOKEN_FILE = "admin.token"
ENDPOINT_FILE = "server.json"
TOKEN_HEADER = "X-Venue-Admin-Token"
WALLETS = ("exchange", "margin", "funding")

# Every scope a Bitfinex key can carry (the auth event's "caps"), granted read and write.
ALL_PERMISSIONS: tuple[tuple[str, bool, bool], ...] = tuple((scope, True, True) for scope in SCOPES)


class AdminError(ValueError):
    """An administrative request that cannot be done, with the reason in words."""


@dataclass(frozen=True, slots=True)
class Credentials:
    user_id: int
    api_key: str
    api_secret: str

    def as_json(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "api_key": self.api_key, "api_secret": self.api_secret}


# -- token and endpoint files -----------------------------------------------------------------


def ensure_admin_token(data_dir: Path) -> str:
    """The admin token of ``data_dir``, created (mode 0600) on first use."""
    path = data_dir / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_admin_token(data_dir)
    token = secrets.token_hex(32)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token


def read_admin_token(data_dir: Path) -> str:
    return (data_dir / TOKEN_FILE).read_text("utf-8").strip()


def write_endpoint_file(data_dir: Path, host: str, port: int) -> None:
    """Tell the CLI where this data directory's server listens."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"  # the admin endpoint only answers on loopback anyway
    text = json.dumps({"host": host, "port": port, "pid": os.getpid()})
    (data_dir / ENDPOINT_FILE).write_text(text + "\n", "utf-8")


def remove_endpoint_file(data_dir: Path) -> None:
    (data_dir / ENDPOINT_FILE).unlink(missing_ok=True)


def read_endpoint_file(data_dir: Path) -> tuple[str, int] | None:
    """(host, port) of the server running on ``data_dir``, None when none is recorded."""
    try:
        data = json.loads((data_dir / ENDPOINT_FILE).read_text("utf-8"))
        return str(data["host"]), int(data["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


# -- account steps, shared by the admin endpoint, the offline CLI and the tests -------------


_CREDENTIAL_ALPHABET = string.ascii_letters + string.digits


def _credential() -> str:
    # Letters and digits only, like Bitfinex's keys: a key starting with "-" would be taken for
    # an option by `venue key revoke KEY` (43 characters of 62 ≈ 256 bits).
    return "".join(secrets.choice(_CREDENTIAL_ALPHABET) for _ in range(43))


def new_api_credentials() -> tuple[str, str]:
    """A fresh (api_key, api_secret), 43 letters and digits each."""
    return _credential(), _credential()


def parse_deposits(registry: Registry, deposits: Mapping[str, object]) -> list[tuple[str, int]]:
    """``{"USD": "10000"}`` → [("USD", raw)], checked: listed currency, positive amount."""
    parsed = []
    for currency, amount in deposits.items():
        if not registry.has_currency(currency):
            raise AdminError(f"unknown currency {currency!r}")
        try:
            raw = parse_amount(amount)
        except NumberError as exc:
            raise AdminError(
                f"deposit amount for {currency} must be a number, was {amount!r}"
            ) from exc
        if raw <= 0:
            raise AdminError(f"deposit amount for {currency} must be positive, was {amount}")
        parsed.append((currency, raw))
    return parsed


def check_wallet(wallet: str) -> str:
    if wallet not in WALLETS:
        raise AdminError(f"wallet must be one of {', '.join(WALLETS)}, was {wallet!r}")
    return wallet


def _rejection(events: list[Event]) -> str | None:
    for event in events:
        if isinstance(event, RequestRejected):
            return event.text
    return None


def user_id_of(events: list[Event]) -> int:
    """The id in the ``UserCreated`` event of a ``CreateUser`` command."""
    for event in events:
        if isinstance(event, UserCreated):
            return event.user_id
    raise AdminError(_rejection(events) or "the account was not created")


def raise_if_rejected(events: list[Event]) -> None:
    """Raise AdminError with the rejection text if the command was refused."""
    text = _rejection(events)
    if text is not None:
        raise AdminError(text)


Submit = Callable[[Command], Awaitable[list[Event]]]
SubmitSync = Callable[[Command], list[Event]]


def _account_setup(
    user_id: int, funds: list[tuple[str, int]], wallet: str
) -> tuple[Credentials, list[Command]]:
    """Fresh credentials and the commands that store the key and make the deposits."""
    key, secret = new_api_credentials()
    commands: list[Command] = [CreateApiKey(user_id, key, secret, ALL_PERMISSIONS, label="venue cli")]
    commands += [Deposit(user_id, cur, raw, wallet=wallet, method="admin") for cur, raw in funds]
    return Credentials(user_id, key, secret), commands


async def create_account(
    submit: Submit,
    registry: Registry,
    name: str,
    deposits: Mapping[str, object],
    wallet: str = "exchange",
) -> Credentials:
    """Create user ``name``, an all-permissions API key, and fund ``wallet``."""
    funds = parse_deposits(registry, deposits)
    check_wallet(wallet)
    _check_name(name)
    user_id = user_id_of(await submit(CreateUser(name=name)))
    credentials, commands = _account_setup(user_id, funds, wallet)
    for command in commands:
        raise_if_rejected(await submit(command))
    return credentials


def create_account_sync(
    submit: SubmitSync,
    registry: Registry,
    name: str,
    deposits: Mapping[str, object],
    wallet: str = "exchange",
) -> Credentials:
    """``create_account`` for offline tools that apply commands synchronously."""
    funds = parse_deposits(registry, deposits)
    check_wallet(wallet)
    _check_name(name)
    user_id = user_id_of(submit(CreateUser(name=name)))
    credentials, commands = _account_setup(user_id, funds, wallet)
    for command in commands:
        raise_if_rejected(submit(command))
    return credentials


def _check_name(name: str) -> None:
    if not name or len(name) > 64 or not name.isprintable():
        raise AdminError(f"account name must be 1 to 64 printable characters, was {name!r}")


def deposit_command(
    exchange: Any, registry: Registry, name: str, currency: str, amount: object, wallet: str
) -> Deposit:
    """The ``Deposit`` for ``venue deposit NAME CUR AMOUNT``, checked against the exchange."""
    user = exchange.user_by_name(name)
    if user is None:
        raise AdminError(f"no account named {name!r}")
    ((code, raw),) = parse_deposits(registry, {currency: amount})
    return Deposit(user.user_id, code, raw, wallet=check_wallet(wallet), method="admin")


def deposit_summary(command: Deposit) -> dict[str, Any]:
    return {
        "user_id": command.user_id,
        "currency": command.currency,
        "amount": to_text(command.amount),
        "wallet": command.wallet,
    }


# -- HTTP -------------------------------------------------------------------------------------


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def answer(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def refusal(text: str, status: int) -> web.Response:
    return answer({"error": text}, status)


async def admin_body(request: web.Request, token: str) -> dict[str, Any] | web.Response:
    """The JSON body of an authorised admin request, or the refusal to send."""
    if not _is_loopback(request.remote):
        return refusal("admin: loopback only", 403)
    given = request.headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return refusal("admin: token invalid", 403)
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return refusal("admin: body must be a JSON object", 400)
    if not isinstance(body, dict):
        return refusal("admin: body must be a JSON object", 400)
    return body


# Info codes the operator may announce to WebSocket clients (spec §7.1, §7.8).
ANNOUNCE_CODES = frozenset({20051, 20060, 20061})


def add_routes(app: web.Application, ctx: Any) -> None:
    """Mount ``POST /admin/account`` and ``POST /admin/deposit`` for ``ctx``'s server."""

    async def account(request: web.Request) -> web.Response:
        body = await admin_body(request, ctx.admin_token)
        if isinstance(body, web.Response):
            return body
        try:
            deposits = body.get("deposits") or {}
            if not isinstance(deposits, dict):
                raise AdminError("deposits must be an object {CURRENCY: AMOUNT}")
            creds = await create_account(
                ctx.submit,
                ctx.registry,
                str(body.get("name", "")),
                deposits,
                str(body.get("wallet", "exchange")),
            )
        except AdminError as exc:
            return refusal(str(exc), 400)
        return answer(creds.as_json())

    async def deposit(request: web.Request) -> web.Response:
        body = await admin_body(request, ctx.admin_token)
        if isinstance(body, web.Response):
            return body
        try:
            command = deposit_command(
                ctx.exchange,
                ctx.registry,
                str(body.get("name", "")),
                str(body.get("currency", "")),
                body.get("amount"),
                str(body.get("wallet", "exchange")),
            )
            raise_if_rejected(await ctx.submit(command))
        except AdminError as exc:
            return refusal(str(exc), 400)
        return answer(deposit_summary(command))

    async def announce(request: web.Request) -> web.Response:
        body = await admin_body(request, ctx.admin_token)
        if isinstance(body, web.Response):
            return body
        code = body.get("code")
        if code not in ANNOUNCE_CODES:
            return refusal(f"code must be one of {sorted(ANNOUNCE_CODES)}, was {code!r}", 400)
        from venue.gateway.ws import broadcast_info

        reached = await broadcast_info(ctx, int(code), str(body.get("msg", "")))
        return answer({"code": code, "connections": reached})

    app.router.add_post("/admin/account", account)
    app.router.add_post("/admin/deposit", deposit)
    app.router.add_post("/admin/announce", announce)
