"""``venue account create`` and ``venue deposit`` against a running and a stopped server, and
the admin endpoint's guards."""

from __future__ import annotations

import json
import time
import os
import stat
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from venue.cli import main
from venue.config import load_settings
from venue.core.numbers import parse_amount
from venue.gateway import admin

from tests.e2e.conftest import RunningServer


def _settings(data_dir: Path):  # type: ignore[no-untyped-def]
    return replace(load_settings(data_dir=data_dir, port=0), rate_limits=False, durability="os")


def _create(data_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["account", "create", *args, "--json", "--data-dir", str(data_dir)]) == 0
    answer: dict[str, object] = json.loads(capsys.readouterr().out)
    return answer


def _balance(server: RunningServer, user_id: int, currency: str, wallet: str = "exchange") -> int:
    for w in server.ctx.exchange.wallets(user_id):
        if (w.wallet, w.currency) == (wallet, currency):
            return int(w.balance)
    return 0


def test_account_create_on_a_running_server_goes_through_the_admin_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = RunningServer(_settings(tmp_path))
    try:
        answer = _create(tmp_path, capsys, "alice", "--deposit", "USD=1500.5", "--deposit", "btc=0.25")
        assert set(answer) == {"user_id", "api_key", "api_secret"}
        user_id = int(answer["user_id"])  # type: ignore[call-overload]
        assert server.ctx.exchange.user_by_name("alice").user_id == user_id
        key = server.ctx.exchange.api_key(answer["api_key"])
        assert key is not None and key.secret == answer["api_secret"] and key.user_id == user_id
        assert all(read and write for _, read, write in key.permissions)
        assert _balance(server, user_id, "USD") == parse_amount("1500.5")
        assert _balance(server, user_id, "BTC") == parse_amount("0.25")

        assert main(["deposit", "alice", "USD", "99.5", "--data-dir", str(tmp_path)]) == 0
        assert "deposited 99.5 USD" in capsys.readouterr().out
        assert _balance(server, user_id, "USD") == parse_amount("1600")
    finally:
        server.close()


def test_account_create_on_a_stopped_server_writes_the_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    RunningServer(_settings(tmp_path)).close()  # a data directory that has seen a server
    answer = _create(tmp_path, capsys, "bob", "--deposit", "EUR=10", "--wallet", "margin")
    assert main(["deposit", "bob", "EUR", "5", "--wallet", "margin", "--data-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    server = RunningServer(_settings(tmp_path))
    try:
        user = server.ctx.exchange.user_by_name("bob")
        assert user is not None and user.user_id == answer["user_id"]
        assert server.ctx.exchange.api_key(answer["api_key"]).secret == answer["api_secret"]
        assert _balance(server, user.user_id, "EUR", "margin") == parse_amount("15")
    finally:
        server.close()


def test_account_create_prints_key_and_secret_for_people(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["account", "create", "carol", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "account carol (user id 1)" in out
    assert "API key" in out and "API secret" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--deposit", "NOPE=1"], "unknown currency 'NOPE'"),
        (["--deposit", "USD=-5"], "must be positive"),
        (["--deposit", "USD"], "CUR=AMOUNT"),
        (["--deposit", "USD=lots"], "must be a number"),
    ],
)
def test_bad_account_create_input_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["account", "create", "dave", *args, "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("venue: ") and message in err and "Traceback" not in err


def test_duplicate_account_name_is_refused_on_a_running_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = RunningServer(_settings(tmp_path))
    try:
        _create(tmp_path, capsys, "erin")
        assert main(["account", "create", "erin", "--data-dir", str(tmp_path)]) == 1
        assert capsys.readouterr().err.startswith("venue: ")
    finally:
        server.close()


def test_deposit_to_an_unknown_account_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = RunningServer(_settings(tmp_path))
    try:
        assert main(["deposit", "nobody", "USD", "1", "--data-dir", str(tmp_path)]) == 1
        assert "no account named 'nobody'" in capsys.readouterr().err
    finally:
        server.close()


def test_account_create_beside_a_server_without_admin_endpoint_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = RunningServer(replace(_settings(tmp_path), admin=False))
    try:
        # no server.json: the CLI does not post to an endpoint that is not there, and the
        # journal's lock refuses the offline path with a sentence
        assert not (tmp_path / admin.ENDPOINT_FILE).exists()
        assert main(["account", "create", "eve", "--data-dir", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("venue: ") and "in use by a running server" in err
        assert "Traceback" not in err and err.count("\n") == 1
    finally:
        server.close()


def test_an_answer_that_is_not_the_admin_endpoints_is_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a server.json left pointing at a server that answers Bitfinex errors on /admin/…
    other = RunningServer(replace(_settings(tmp_path / "other"), admin=False))
    try:
        (tmp_path / "mine").mkdir()
        admin.write_endpoint_file(tmp_path / "mine", "127.0.0.1", other.port)
        (tmp_path / "mine" / admin.TOKEN_FILE).write_text("0" * 64)
        assert main(["deposit", "eve", "USD", "1", "--data-dir", str(tmp_path / "mine")]) == 1
        err = capsys.readouterr().err
        assert err.startswith("venue: the server at 127.0.0.1:") and "HTTP 500" in err
        assert "path: invalid" in err and "Traceback" not in err
    finally:
        other.close()


def test_missing_data_directory_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["account", "create", "x", "--data-dir", str(tmp_path / "absent")]) == 1
    assert "no data directory" in capsys.readouterr().err


def test_admin_token_file_is_private(tmp_path: Path) -> None:
    token = admin.ensure_admin_token(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / admin.TOKEN_FILE).st_mode)
    assert mode == 0o600
    assert len(token) == 64 and admin.ensure_admin_token(tmp_path) == token


def test_admin_endpoint_refuses_a_wrong_token(tmp_path: Path) -> None:
    server = RunningServer(_settings(tmp_path))
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/admin/account",
            data=b'{"name":"mallory"}',
            headers={admin.TOKEN_HEADER: "0" * 64},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        info.value.close()
        assert info.value.code == 403
        assert server.ctx.exchange.user_by_name("mallory") is None
    finally:
        server.close()


def test_admin_endpoint_refuses_clients_that_are_not_on_loopback() -> None:
    assert admin._is_loopback("127.0.0.1") and admin._is_loopback("::1")
    assert not admin._is_loopback("192.168.1.5") and not admin._is_loopback(None)


def test_venue_demo_serves_a_live_market_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    import re
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "venue", "demo", "--port", "0", "--data-dir", str(tmp_path),
         "--status-interval", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not any(line.startswith("Ctrl-C") for line in lines):
            line = process.stdout.readline()
            assert line, f"demo ended early: {lines} {process.stderr.read() if process.stderr else ''}"
            lines.append(line.rstrip("\n"))
        banner = "\n".join(lines)
        rest_url = re.search(r"REST\s+(http://\S+/v2)", banner).group(1)  # type: ignore[union-attr]
        assert re.search(r"WebSocket\s+ws://\S+/ws/2", banner)
        key = re.search(r"API key\s+(\S+)", banner).group(1)  # type: ignore[union-attr]
        assert re.search(r"API secret\s+\S+", banner)
        status = process.stdout.readline()
        assert re.match(r"\[\d\d:\d\d:\d\d\] orders/s +[\d.]+ +trades/s +[\d.]+ +connections \d+", status)
        time.sleep(1.5)
        ticker = json.loads(urllib.request.urlopen(f"{rest_url}/ticker/tBTCUSD", timeout=10).read())
        book = json.loads(urllib.request.urlopen(f"{rest_url}/book/tETHUSD/P0", timeout=10).read())
        assert ticker[6] > 0 and ticker[7] > 0  # last price and volume: trades happened
        assert any(row[2] > 0 for row in book) and any(row[2] < 0 for row in book)
        saved = json.loads((tmp_path / "demo.json").read_text())
        assert saved["api_key"] == key
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_key_create_and_revoke_on_a_running_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = RunningServer(_settings(tmp_path))
    try:
        first = _create(tmp_path, capsys, "frank")
        assert main(["key", "create", "frank", "--json", "--data-dir", str(tmp_path)]) == 0
        second = json.loads(capsys.readouterr().out)
        assert second["user_id"] == first["user_id"] and second["api_key"] != first["api_key"]
        assert server.ctx.exchange.api_key(second["api_key"]).secret == second["api_secret"]
        assert main(["key", "revoke", str(first["api_key"]), "--data-dir", str(tmp_path)]) == 0
        assert "revoked" in capsys.readouterr().out
        assert server.ctx.exchange.api_key(first["api_key"]).revoked
        assert main(["key", "revoke", str(first["api_key"]), "--data-dir", str(tmp_path)]) == 1
        assert "already revoked" in capsys.readouterr().err
        assert main(["key", "create", "nobody", "--data-dir", str(tmp_path)]) == 1
        assert "no account named 'nobody'" in capsys.readouterr().err
    finally:
        server.close()


def test_key_create_and_revoke_on_a_stopped_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _create(tmp_path, capsys, "grace")
    assert main(["key", "create", "grace", "--json", "--data-dir", str(tmp_path)]) == 0
    second = json.loads(capsys.readouterr().out)
    assert main(["key", "revoke", str(first["api_key"]), "--data-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    server = RunningServer(_settings(tmp_path))
    try:
        assert server.ctx.exchange.api_key(first["api_key"]).revoked
        assert not server.ctx.exchange.api_key(second["api_key"]).revoked
    finally:
        server.close()


def test_journal_verify_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answer = _create(tmp_path, capsys, "heidi", "--deposit", "USD=5")
    assert main(["journal", "verify", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("journal ok, state hash ")
    assert main(["journal", "export", "--data-dir", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["type"] for line in lines] == ["CreateUser", "CreateApiKey", "Deposit"]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert lines[1]["command"]["secret"] != answer["api_secret"]  # redacted by default
    assert main(["journal", "export", "--secrets", "--from-seq", "2", "--data-dir", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["command"]["secret"] == answer["api_secret"] and len(lines) == 2


def test_serve_on_a_directory_in_use_is_one_line_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = RunningServer(_settings(tmp_path))
    try:
        assert main(["serve", "--port", "0", "--data-dir", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("venue: ") and "in use" in err and "Traceback" not in err
    finally:
        server.close()


def test_key_create_read_only_grants_no_write_permission(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = RunningServer(_settings(tmp_path))
    try:
        _create(tmp_path, capsys, "ivan")
        assert main(["key", "create", "ivan", "--read-only", "--json", "--data-dir", str(tmp_path)]) == 0
        made = json.loads(capsys.readouterr().out)
        key = server.ctx.exchange.api_key(made["api_key"])
        assert key is not None and not any(write for _, _, write in key.permissions)
        assert any(read for _, read, _ in key.permissions)
    finally:
        server.close()


def test_announce_reaches_connected_websocket_clients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    import aiohttp

    server = RunningServer(_settings(tmp_path))
    try:

        async def listen(codes: list[int]) -> list[dict[str, object]]:
            received: list[dict[str, object]] = []
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(server.ws_url) as ws:
                    hello = json.loads((await ws.receive()).data)
                    assert hello["event"] == "info" and hello["platform"] == {"status": 1}
                    for code, what in zip(codes, ("maintenance-start", "maintenance-end")):
                        args = ["announce", what, "--data-dir", str(tmp_path)]
                        assert await asyncio.to_thread(main, args) == 0
                        received.append(json.loads((await ws.receive(timeout=5)).data))
            return received

        events = asyncio.run(listen([20060, 20061]))
        assert [(e["event"], e["code"]) for e in events] == [("info", 20060), ("info", 20061)]
        assert "announced 20060 to 1 connection(s)" in capsys.readouterr().out
    finally:
        server.close()


def test_announce_without_a_running_server_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_path.mkdir(exist_ok=True)
    assert main(["announce", "restart", "--data-dir", str(tmp_path)]) == 1
    assert "nobody to announce to" in capsys.readouterr().err


def test_python_dash_m_venue_cli_runs_the_cli_like_python_dash_m_venue() -> None:
    import subprocess
    import sys

    from venue import __version__

    for module in ("venue", "venue.cli"):
        done = subprocess.run(
            [sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60
        )
        assert (done.returncode, done.stdout.strip().split()[-1]) == (0, __version__), module
