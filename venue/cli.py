"""The ``venue`` command: run an exchange, run the demo, administer accounts.

One function per command (``cmd_<name>``), each documented by its argparse help, which
tests/test_cli_docs.py checks against README.md. Commands:

- ``venue serve``: run the exchange (REST /v2/…, WebSocket /ws/2, optional TLS listener);
- ``venue demo``: the same plus simulated market makers and traders and a funded demo account;
- ``venue account create NAME``: a new account with an all-permissions API key, optionally funded;
- ``venue deposit NAME CUR AMOUNT``: credit an account's wallet;
- ``venue key create NAME`` / ``venue key revoke KEY``: API keys;
- ``venue journal verify`` / ``venue journal export``: check or dump the journal.

Administration works on a running server (through its loopback-only admin endpoint, whose
address and token are in the data directory) and on a stopped one (the commands are applied to
the journal directly). Errors are printed as one line on stderr with exit status 1 or 2, never
as a stack trace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from venue import __version__
from venue.config import ConfigError, Settings, load_settings
from venue.gateway import admin, keys

DATA_DIR_ENV = "VENUE_DATA_DIR"
DEFAULT_DATA_DIR = "venue-data"
DEMO_FILE = "demo.json"
DEMO_ACCOUNT = "demo"
DEMO_DEPOSITS = {"USD": "100000", "BTC": "10", "ETH": "100", "UST": "100000", "EUR": "100000",
                 "TESTUSD": "100000", "TESTBTC": "10", "LTC": "1000", "XRP": "100000",
                 "SOL": "1000"}  # fmt: skip


class CliError(Exception):
    """A command that cannot be done; its text is printed on stderr (exit status 1)."""


# -- parser -----------------------------------------------------------------------------------


def _default_data_dir() -> str:
    return os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"data directory (journal, history, admin token); default ${DATA_DIR_ENV} or "
        f"./{DEFAULT_DATA_DIR}",
    )


def _add_listen(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help=f"HTTP/WS port (default {port})")
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")
    tls = parser.add_argument_group("TLS (a second listener serving the same API over https/wss)")
    tls.add_argument("--tls-port", type=int, default=None, help="port of the TLS listener")
    tls.add_argument("--tls-cert", type=Path, default=None, help="PEM certificate (chain)")
    tls.add_argument("--tls-key", type=Path, default=None, help="PEM private key")
    tls.add_argument(
        "--self-signed",
        action="store_true",
        default=None,
        help="make (once) a self-signed certificate for 127.0.0.1 and localhost in the data "
        "directory (cert.pem, key.pem) and use it",
    )
    parser.add_argument(
        "--durability",
        choices=("full", "os", "none"),
        default=None,
        help="when a command counts as stored: full = fsync'd (default), os = written to the "
        "OS, none = in memory only",
    )
    parser.add_argument(
        "--no-rate-limits",
        dest="rate_limits",
        action="store_false",
        default=None,
        help="switch off Bitfinex's per-IP request limits",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="venue",
        description="venue: a self-hosted exchange that serves the Bitfinex API v2. Point any "
        "Bitfinex client (bitfinex-api-py, ccxt, bitfinex-api-node, cryptofeed) at it by "
        "changing only its base URLs.",
    )
    parser.add_argument("--version", action="version", version=f"venue {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the exchange",
        description="Run the exchange: REST at http://HOST:PORT/v2/…, WebSocket at "
        "ws://HOST:PORT/ws/2, optionally the same over TLS on --tls-port. Stops cleanly on "
        "Ctrl-C or SIGTERM.",
    )
    _add_listen(serve, 8080)
    _add_data_dir(serve)
    serve.set_defaults(handler=cmd_serve)

    demo = commands.add_parser(
        "demo",
        help="run the exchange with a live simulated market and a funded demo account",
        description="Run the exchange with simulated market makers and traders on every listed "
        "pair, so books, trades, tickers and candles are live within seconds. Prints the REST "
        "and WebSocket URLs and the API key and secret of a funded demo account, then a status "
        "line every few seconds, until Ctrl-C. Without --data-dir the data lives in a fresh "
        "temporary directory that is removed on exit.",
    )
    _add_listen(demo, 8080)
    _add_data_dir(demo)
    demo.add_argument("--seed", type=int, default=1, help="random seed of the simulation")
    demo.add_argument(
        "--status-interval", type=float, default=5.0, help="seconds between status lines"
    )
    demo.set_defaults(handler=cmd_demo)

    account = commands.add_parser(
        "account", help="manage accounts", description="Create and manage accounts."
    )
    account_commands = account.add_subparsers(
        dest="account_command", metavar="ACTION", required=True
    )
    create = account_commands.add_parser(
        "create",
        help="create an account with an all-permissions API key",
        description="Create account NAME, give it an API key with every permission, fund it "
        "with --deposit, and print the key and secret. Works on a running server (through its "
        "loopback admin endpoint) and on a stopped one (writing to its journal).",
    )
    create.add_argument("name", metavar="NAME", help="account name (unique)")
    create.add_argument(
        "--deposit",
        action="append",
        default=[],
        metavar="CUR=AMOUNT",
        help="credit AMOUNT of currency CUR (repeatable), e.g. --deposit USD=10000",
    )
    create.add_argument(
        "--wallet",
        choices=admin.WALLETS,
        default="exchange",
        help="wallet the deposits go to (default exchange)",
    )
    create.add_argument(
        "--json", action="store_true", help='print {"user_id":…,"api_key":…,"api_secret":…}'
    )
    _add_data_dir(create)
    create.set_defaults(handler=cmd_account_create)

    deposit = commands.add_parser(
        "deposit",
        help="credit an account's wallet",
        description="Credit AMOUNT of currency CUR to account NAME's wallet, on a running or a "
        "stopped server.",
    )
    deposit.add_argument("name", metavar="NAME", help="account name")
    deposit.add_argument("currency", metavar="CUR", help="currency code, e.g. USD")
    deposit.add_argument("amount", metavar="AMOUNT", help="amount, e.g. 1000 or 0.5")
    deposit.add_argument(
        "--wallet", choices=admin.WALLETS, default="exchange", help="wallet (default exchange)"
    )
    deposit.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_data_dir(deposit)
    deposit.set_defaults(handler=cmd_deposit)

    keys.register_cli(
        commands,
        add_data_dir=_add_data_dir,
        data_dir_of=_data_dir,
        admin_post=_admin_post,
        offline=_offline,
    )

    announce = commands.add_parser(
        "announce",
        help="tell connected WebSocket clients about a restart or maintenance",
        description="Send Bitfinex's info event to every WebSocket connection of the running "
        "server: restart = 20051 (clients reconnect), maintenance-start = 20060 (new "
        "connections and GET /v2/platform/status see platform status 0), maintenance-end = "
        "20061 (resubscribe advised).",
    )
    announce.add_argument("what", choices=tuple(ANNOUNCEMENTS), metavar="WHAT",
                          help="restart | maintenance-start | maintenance-end")  # fmt: skip
    announce.add_argument("--msg", default=None, help="the text sent with the code")
    _add_data_dir(announce)
    announce.set_defaults(handler=cmd_announce)

    journal = commands.add_parser(
        "journal",
        help="check or export the journal",
        description="Offline tools on a data directory's journal (safe beside a running server: "
        "they only read).",
    )
    journal_commands = journal.add_subparsers(
        dest="journal_command", metavar="ACTION", required=True
    )
    verify = journal_commands.add_parser(
        "verify",
        help="replay the journal and print the state hash",
        description="Replay the journal (and check the newest snapshot against the replay) and "
        "print the final state hash; exit status 1 when a record or snapshot does not check out.",
    )
    _add_data_dir(verify)
    verify.set_defaults(handler=cmd_journal_verify)
    export = journal_commands.add_parser(
        "export",
        help="write the journal as JSON lines",
        description="Write every journal record as one JSON line "
        '({"seq":…,"ts":…,"type":…,"command":{…}}) to standard output. API secrets are '
        "redacted unless --secrets is given.",
    )
    export.add_argument(
        "--from-seq", type=int, default=1, help="first sequence number to export (default 1)"
    )
    export.add_argument("--secrets", action="store_true", help="include API secrets in clear")
    _add_data_dir(export)
    export.set_defaults(handler=cmd_journal_export)
    return parser


# -- settings ---------------------------------------------------------------------------------


def _settings(args: argparse.Namespace, data_dir: Path | None = None) -> Settings:
    """Defaults, then --config, then the options; the data directory from the options, else
    $VENUE_DATA_DIR, else the config file, else ./venue-data."""
    env_dir = os.environ.get(DATA_DIR_ENV)
    return load_settings(
        args.config,
        host=args.host,
        port=args.port,
        data_dir=data_dir or args.data_dir or (Path(env_dir) if env_dir else None),
        tls_port=args.tls_port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        self_signed=args.self_signed,
        durability=args.durability,
        rate_limits=args.rate_limits,
    )


def _data_dir(args: argparse.Namespace) -> Path:
    return (args.data_dir or Path(_default_data_dir())).expanduser().resolve()


def _run(coro: Any) -> Any:
    """Run the top coroutine on uvloop (the server's loop of choice, design.md)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep working without it
        return asyncio.run(coro)
    return uvloop.run(coro)


async def _wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _print_listening(server: Any) -> None:
    print(f"  REST       {server.rest_url}")
    print(f"  WebSocket  {server.ws_url}")
    if server.tls_port is not None:
        print(f"  REST TLS   {server.tls_rest_url}")
        print(f"  WS TLS     {server.tls_ws_url}")
    print(f"  data dir   {server.settings.data_dir}")


# -- serve ------------------------------------------------------------------------------------


def _tune_gc() -> None:
    """Move the recovered state out of the cyclic GC's sight and make its passes rarer.

    Measured in bench/RESULTS-core.md: +14 % core throughput and a sixth of the GC time.
    Only long-running server commands do this; tests keep Python's defaults.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_serve(args: argparse.Namespace) -> int:
    """venue serve: run until Ctrl-C / SIGTERM."""
    _configure_logging()
    settings = _settings(args)
    _run(_serve(settings))
    return 0


async def _serve(settings: Settings) -> None:
    from venue.gateway.server import VenueServer

    server = VenueServer(settings)
    await server.start()
    _tune_gc()
    print(f"venue {__version__} serving the Bitfinex API v2", flush=True)
    _print_listening(server)
    sys.stdout.flush()
    try:
        await _wait_for_stop_signal()
    finally:
        print("stopping…", flush=True)
        await server.stop()


# -- demo -------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    """venue demo: server + simulated market + demo account."""
    _configure_logging()
    temporary: tempfile.TemporaryDirectory[str] | None = None
    data_dir = args.data_dir
    if data_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="venue-demo-")
        data_dir = Path(temporary.name)
    try:
        settings = _settings(args, data_dir)
        _run(_demo(settings, args.seed, args.status_interval))
    finally:
        if temporary is not None:
            temporary.cleanup()
    return 0


async def _demo_credentials(server: Any) -> admin.Credentials:
    """The demo account's credentials: reused from demo.json, or created and saved there."""
    ctx = server.ctx
    path = ctx.data_dir / DEMO_FILE
    if path.exists():
        saved = json.loads(path.read_text("utf-8"))
        if ctx.exchange.api_key(saved["api_key"]) is not None:
            return admin.Credentials(saved["user_id"], saved["api_key"], saved["api_secret"])
    name = DEMO_ACCOUNT
    suffix = 1
    while ctx.exchange.user_by_name(name) is not None:
        suffix += 1
        name = f"{DEMO_ACCOUNT}{suffix}"
    deposits = {c: a for c, a in DEMO_DEPOSITS.items() if ctx.registry.has_currency(c)}
    creds = await admin.create_account(ctx.submit, ctx.registry, name, deposits)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(creds.as_json(), out)
    return creds


async def _demo(settings: Settings, seed: int, status_interval: float) -> None:
    from venue.gateway.server import VenueServer
    from venue.sim.market import SimConfig, build_simulation

    server = VenueServer(settings)
    ctx = await server.start()
    _tune_gc()
    try:
        creds = await _demo_credentials(server)

        async def create_sim_account(name: str, deposits: dict[str, str]) -> int:
            made = await admin.create_account(ctx.submit, ctx.registry, name, deposits)
            return made.user_id

        simulation = await build_simulation(
            ctx.submit, ctx.exchange, ctx.registry, SimConfig(seed=seed), create_sim_account
        )
        _print_demo_banner(server, creds)
        sim_task = asyncio.create_task(simulation.run(), name="simulation")
        status_task = asyncio.create_task(_status_lines(ctx, status_interval), name="status")
        try:
            await _wait_for_stop_signal()
        finally:
            for task in (sim_task, status_task):
                task.cancel()
            await asyncio.gather(sim_task, status_task, return_exceptions=True)
    finally:
        print("stopping…", flush=True)
        await server.stop()


def _print_demo_banner(server: Any, creds: admin.Credentials) -> None:
    print(f"venue {__version__} demo: a live Bitfinex API v2 exchange with simulated traders")
    _print_listening(server)
    print()
    print("Demo account (funded exchange wallet), ready to paste:")
    print(f"  API key     {creds.api_key}")
    print(f"  API secret  {creds.api_secret}")
    print()
    print("Try:")
    print(f"  curl {server.rest_url}/ticker/tBTCUSD")
    print(
        f'  python -c "from bfxapi import Client; '
        f"print(Client(rest_host='{server.rest_url}').rest.public.get_t_ticker('tBTCUSD'))\""
    )
    print("Ctrl-C stops the demo.", flush=True)


async def _status_lines(ctx: Any, interval: float) -> None:
    stats = ctx.stats
    last_orders, last_trades, last_t = stats.orders, stats.trades, time.monotonic()
    while True:
        await asyncio.sleep(interval)
        now = time.monotonic()
        elapsed = max(now - last_t, 1e-9)
        orders_rate = (stats.orders - last_orders) / elapsed
        trades_rate = (stats.trades - last_trades) / elapsed
        last_orders, last_trades, last_t = stats.orders, stats.trades, now
        print(
            f"[{time.strftime('%H:%M:%S')}] orders/s {orders_rate:6.1f}  trades/s "
            f"{trades_rate:6.1f}  connections {stats.connections}  seq "
            f"{getattr(ctx.sequencer, 'last_seq', '?')}",
            flush=True,
        )


# -- administration ---------------------------------------------------------------------------


def _parse_deposit_options(values: Sequence[str]) -> dict[str, str]:
    deposits: dict[str, str] = {}
    for value in values:
        currency, sep, amount = value.partition("=")
        if not sep or not currency or not amount:
            raise CliError(f"--deposit must look like CUR=AMOUNT, was {value!r}")
        deposits[currency.strip().upper()] = amount.strip()
    return deposits


def _admin_post(data_dir: Path, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """POST to the running server's admin endpoint; None when no server is running there."""
    endpoint = admin.read_endpoint_file(data_dir)
    if endpoint is None:
        return None
    host, port = endpoint
    request = urllib.request.Request(
        f"http://{host}:{port}{path}",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            admin.TOKEN_HEADER: admin.read_admin_token(data_dir),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        with exc:  # the error holds the response's socket: close it
            try:
                payload = json.loads(exc.read())
            except ValueError:
                payload = None
        # the admin endpoint answers {"error": text}; anything else (a Bitfinex error array
        # from a server without the endpoint) is not an answer to this command
        if isinstance(payload, dict) and "error" in payload:
            raise CliError(str(payload["error"])) from None
        raise CliError(
            f"the server at {host}:{port} did not accept the command (HTTP {exc.code}: "
            f"{json.dumps(payload) if payload is not None else exc.reason})"
        ) from None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None  # server.json is stale: the server is gone


@contextlib.contextmanager
def _offline(data_dir: Path) -> Iterator[Any]:
    """An offline session on a stopped server's journal (venue/store/tools.py)."""
    from venue.store import tools
    from venue.store.journal import JournalLocked

    with contextlib.ExitStack() as stack:
        try:
            session = stack.enter_context(tools.open_offline(data_dir))
        except JournalLocked:
            raise CliError(
                f"{data_dir} is in use by a running server that does not answer on its admin "
                "endpoint; stop it or run the command where it runs"
            ) from None
        yield session


def cmd_account_create(args: argparse.Namespace) -> int:
    """venue account create NAME [--deposit CUR=AMOUNT …] [--wallet W] [--json]."""
    data_dir = _data_dir(args)
    deposits = _parse_deposit_options(args.deposit)
    body = {"name": args.name, "deposits": deposits, "wallet": args.wallet}
    answer = _admin_post(data_dir, "/admin/account", body)
    if answer is None:
        _require_data_dir(data_dir)
        with _offline(data_dir) as session:
            creds = admin.create_account_sync(
                session.apply, session.registry, args.name, deposits, args.wallet
            )
        answer = creds.as_json()
    if args.json:
        print(json.dumps(answer))
    else:
        print(f"account {args.name} (user id {answer['user_id']})")
        print(f"  API key     {answer['api_key']}")
        print(f"  API secret  {answer['api_secret']}")
    return 0


def cmd_deposit(args: argparse.Namespace) -> int:
    """venue deposit NAME CUR AMOUNT [--wallet W]."""
    data_dir = _data_dir(args)
    body = {
        "name": args.name,
        "currency": args.currency.upper(),
        "amount": args.amount,
        "wallet": args.wallet,
    }
    answer = _admin_post(data_dir, "/admin/deposit", body)
    if answer is None:
        _require_data_dir(data_dir)
        with _offline(data_dir) as session:
            command = admin.deposit_command(
                session.exchange, session.registry, args.name, body["currency"], args.amount,
                args.wallet,
            )  # fmt: skip
            admin.raise_if_rejected(session.apply(command))
        answer = admin.deposit_summary(command)
    if args.json:
        print(json.dumps(answer))
    else:
        print(
            f"deposited {answer['amount']} {answer['currency']} to {args.name}'s "
            f"{answer['wallet']} wallet"
        )
    return 0


ANNOUNCEMENTS = {
    "restart": (20051, "Stopping. Please try to reconnect"),
    "maintenance-start": (20060, "Entering maintenance mode"),
    "maintenance-end": (20061, "Maintenance ended"),
}


def cmd_announce(args: argparse.Namespace) -> int:
    """venue announce WHAT [--msg TEXT]: only a running server has connections to tell."""
    code, default_msg = ANNOUNCEMENTS[args.what]
    body = {"code": code, "msg": args.msg or default_msg}
    answer = _admin_post(_data_dir(args), "/admin/announce", body)
    if answer is None:
        raise CliError(
            "no running server with an admin endpoint for this data directory: nobody to "
            "announce to"
        )
    print(f"announced {code} to {answer['connections']} connection(s)")
    return 0


def cmd_journal_verify(args: argparse.Namespace) -> int:
    """venue journal verify: replay and print the state hash."""
    from venue.store import tools

    data_dir = _data_dir(args)
    _require_data_dir(data_dir)
    try:
        state_hash = tools.verify(data_dir)
    except tools.VerifyError as exc:
        raise CliError(f"journal does not verify: {exc}") from None
    print(f"journal ok, state hash {state_hash}")
    return 0


def cmd_journal_export(args: argparse.Namespace) -> int:
    """venue journal export: JSON lines on standard output."""
    from venue.store import tools

    data_dir = _data_dir(args)
    _require_data_dir(data_dir)
    try:
        tools.export(data_dir, sys.stdout.buffer, from_seq=args.from_seq, secrets=args.secrets)
    except tools.VerifyError as exc:
        raise CliError(f"journal cannot be exported: {exc}") from None
    sys.stdout.buffer.flush()
    return 0


def _require_data_dir(data_dir: Path) -> None:
    if not data_dir.is_dir():
        raise CliError(f"no data directory at {data_dir} (start a server or pass --data-dir)")


# -- entry point ------------------------------------------------------------------------------


def _startup_errors() -> tuple[type[Exception], ...]:
    """Errors that mean "cannot start here", reported in one line (no stack trace)."""
    from venue.gateway.tls import TlsError
    from venue.store.journal import JournalLocked
    from venue.store.recovery import RecoveryError

    return (TlsError, JournalLocked, RecoveryError)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
        return status
    except (CliError, ConfigError, admin.AdminError, *_startup_errors()) as exc:
        print(f"venue: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"venue: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # ``python -m venue.cli …`` behaves like ``python -m venue …``
    sys.exit(main())
