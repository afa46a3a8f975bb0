"""Signatures, nonces and permissions (spec/bitfinex-v2.md §4.1, §8.1; clients.md §2)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from venue.core.accounts import ApiKey
from venue.core.commands import CreateApiKey
from venue.core.exchange import ApiKeyInfo
from venue.protocol.auth import (
    MAX_NONCE,
    NonceTracker,
    authenticate_rest,
    caps,
    full_permissions,
    has_permission,
    parse_nonce,
    parse_permissions,
    permission_rows,
    read_only_permissions,
    require_permission,
    sign,
    signature_payload,
    verify_ws_auth,
)
from venue.protocol.errors import ProtocolError

KEY = "k" * 43
SECRET = "s3cr3t-" * 6


def _info(permissions=None, revoked: bool = False) -> ApiKeyInfo:  # type: ignore[no-untyped-def]
    return ApiKeyInfo(
        key=KEY,
        secret=SECRET,
        user_id=7,
        permissions=full_permissions() if permissions is None else permissions,
        created_ts=0,
        revoked=revoked,
    )


def _lookup(info: ApiKeyInfo):  # type: ignore[no-untyped-def]
    return lambda key: info if key == info.key else None


def _headers(path: str, nonce: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Exactly what bfxapi's middleware computes (its own code path, not ours)."""
    message = f"/api/v2/{path}{nonce}" + body.decode()
    digest = hmac.new(secret.encode("utf8"), message.encode("utf8"), hashlib.sha384).hexdigest()
    return {"bfx-nonce": nonce, "bfx-signature": digest, "bfx-apikey": KEY}


def _error(exc: pytest.ExceptionInfo[ProtocolError]) -> tuple[int, str]:
    return int(exc.value.code), exc.value.text


# -- signatures -------------------------------------------------------------------------------


def test_signature_payload_has_the_api_prefix_the_nonce_and_the_raw_body() -> None:
    body = b'{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"0.1","price":"10000"}'
    assert signature_payload("auth/w/order/submit", "1700000000000000", body) == (
        b"/api/v2/auth/w/order/submit1700000000000000" + body
    )


def test_signature_is_lowercase_hex_hmac_sha384() -> None:
    digest = sign(SECRET, b"/api/v2/auth/r/wallets1")
    assert digest == hmac.new(SECRET.encode(), b"/api/v2/auth/r/wallets1", hashlib.sha384).hexdigest()
    assert len(digest) == 96 and digest == digest.lower()


def test_request_signed_like_bfxapi_without_a_body_is_accepted() -> None:
    info = _info()
    headers = _headers("auth/r/wallets", "1700000000000001", b"")
    assert authenticate_rest("auth/r/wallets", headers, b"", _lookup(info), NonceTracker()) is info


def test_body_with_spaced_separators_is_verified_as_received_not_reserialised() -> None:
    body = json.dumps({"symbol": "tBTCUSD", "amount": "0.5"}).encode()  # ", " and ": "
    headers = _headers("auth/w/order/submit", "5", body)
    info = authenticate_rest("auth/w/order/submit", headers, body, _lookup(_info()), NonceTracker())
    assert info.user_id == 7


def test_headers_are_found_whatever_their_case() -> None:
    headers = {k.replace("apikey", "apiKey").upper(): v for k, v in _headers("auth/r/wallets", "9", b"").items()}
    assert authenticate_rest("auth/r/wallets", headers, b"", _lookup(_info()), NonceTracker()).key == KEY


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "other path", "other body", "missing signature", "unknown key", "no key"],
)
def test_bad_signature_or_unknown_key_is_apikey_invalid(tamper: str) -> None:
    body = b'{"id":1}'
    headers = _headers("auth/w/order/cancel", "10", body)
    path = "auth/w/order/cancel"
    if tamper == "wrong secret":
        headers = _headers(path, "10", body, secret="nope")
    elif tamper == "other path":
        path = "auth/w/order/submit"
    elif tamper == "other body":
        body = b'{"id":2}'
    elif tamper == "missing signature":
        del headers["bfx-signature"]
    elif tamper == "unknown key":
        headers["bfx-apikey"] = "someone-else"
    elif tamper == "no key":
        del headers["bfx-apikey"]
    with pytest.raises(ProtocolError) as exc:
        authenticate_rest(path, headers, body, _lookup(_info()), NonceTracker())
    assert _error(exc) == (10100, "apikey: invalid")


def test_revoked_key_is_apikey_invalid() -> None:
    info = _info(revoked=True)
    with pytest.raises(ProtocolError) as exc:
        authenticate_rest("auth/r/wallets", _headers("auth/r/wallets", "1", b""), b"", _lookup(info), NonceTracker())
    assert _error(exc) == (10100, "apikey: invalid")


# -- nonces -----------------------------------------------------------------------------------


def test_nonce_must_grow_per_key() -> None:
    nonces = NonceTracker()
    lookup = _lookup(_info())
    authenticate_rest("auth/r/wallets", _headers("auth/r/wallets", "100", b""), b"", lookup, nonces)
    for repeated in ("100", "99"):
        with pytest.raises(ProtocolError) as exc:
            authenticate_rest("auth/r/wallets", _headers("auth/r/wallets", repeated, b""), b"", lookup, nonces)
        assert _error(exc) == (10114, "nonce: small")
    authenticate_rest("auth/r/wallets", _headers("auth/r/wallets", "101", b""), b"", lookup, nonces)
    assert nonces.last(KEY) == 101


def test_nonces_of_different_keys_are_independent() -> None:
    nonces = NonceTracker()
    nonces.advance("a", 1000)
    nonces.advance("b", 1)
    assert (nonces.last("a"), nonces.last("b")) == (1000, 1)


def test_failed_signature_does_not_consume_the_nonce() -> None:
    nonces = NonceTracker()
    lookup = _lookup(_info())
    with pytest.raises(ProtocolError):
        authenticate_rest("auth/r/wallets", _headers("auth/r/wallets", "500", b"", "bad"), b"", lookup, nonces)
    assert nonces.last(KEY) == 0
    authenticate_rest("auth/r/wallets", _headers("auth/r/wallets", "500", b""), b"", lookup, nonces)


def test_reset_lets_a_key_start_its_nonce_again() -> None:
    nonces = NonceTracker()
    nonces.advance(KEY, MAX_NONCE)
    nonces.reset(KEY)
    nonces.advance(KEY, 1)
    assert nonces.last(KEY) == 1


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "0", str(MAX_NONCE + 1), "", True, 2.5, None])
def test_malformed_nonce_is_refused(value: object) -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_nonce(value)
    assert _error(exc) == (10114, "nonce: invalid")


def test_nonce_up_to_js_max_safe_integer_is_accepted_as_string_or_number() -> None:
    assert parse_nonce("9007199254740991") == MAX_NONCE
    assert parse_nonce(1700000000000000) == 1700000000000000


# -- WS auth ----------------------------------------------------------------------------------


def _ws_frame(payload: str, nonce: object, secret: str = SECRET) -> dict[str, object]:
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha384).hexdigest()
    return {"event": "auth", "apiKey": KEY, "authSig": sig, "authPayload": payload, "authNonce": nonce}


def test_ws_auth_verifies_the_payload_as_sent_including_nodes_doubled_nonce() -> None:
    nonces = NonceTracker()
    frame = _ws_frame("AUTH17000000000000001700000000000000", 1700000000000000)
    frame["apiSecret"] = SECRET  # Node spreads it into the frame; it is ignored
    assert verify_ws_auth(frame, _lookup(_info()), nonces).user_id == 7
    assert verify_ws_auth(_ws_frame("AUTH1700000000000001", "1700000000000001"), _lookup(_info()), nonces)


def test_ws_auth_shares_the_nonce_counter_with_rest() -> None:
    nonces = NonceTracker()
    lookup = _lookup(_info())
    authenticate_rest("auth/r/wallets", _headers("auth/r/wallets", "2000", b""), b"", lookup, nonces)
    with pytest.raises(ProtocolError) as exc:
        verify_ws_auth(_ws_frame("AUTH1999", 1999), lookup, nonces)
    assert _error(exc) == (10114, "nonce: small")


@pytest.mark.parametrize("field", ["authSig", "authPayload", "apiKey"])
def test_ws_auth_with_a_missing_field_is_apikey_invalid(field: str) -> None:
    frame = _ws_frame("AUTH1", 1)
    del frame[field]
    with pytest.raises(ProtocolError) as exc:
        verify_ws_auth(frame, _lookup(_info()), NonceTracker())
    assert _error(exc) == (10100, "apikey: invalid")


def test_ws_auth_with_a_wrong_signature_is_apikey_invalid() -> None:
    with pytest.raises(ProtocolError) as exc:
        verify_ws_auth(_ws_frame("AUTH1", 1, secret="x"), _lookup(_info()), NonceTracker())
    assert _error(exc) == (10100, "apikey: invalid")


def test_errors_never_contain_the_secret() -> None:
    frame = _ws_frame("AUTH1", 1, secret="x")
    frame["apiSecret"] = SECRET
    with pytest.raises(ProtocolError) as exc:
        verify_ws_auth(frame, _lookup(_info()), NonceTracker())
    assert SECRET not in repr(exc.value) and SECRET not in str(exc.value)


def test_records_holding_a_secret_never_show_it_in_their_repr() -> None:
    """Log lines format commands and keys with %r (the sequencer logs a command that made
    ``apply`` raise): the secret must not be part of any repr."""
    records = [
        _info(),
        CreateApiKey(7, KEY, SECRET, full_permissions(), label="venue key create"),
        ApiKey(KEY, SECRET, 7, full_permissions(), 0, "venue key create"),
    ]
    for record in records:
        assert SECRET not in repr(record) and KEY in repr(record)
    assert records[1] == CreateApiKey(7, KEY, SECRET, full_permissions(), label="venue key create")
    assert records[1] != CreateApiKey(7, KEY, "other", full_permissions(), label="venue key create")


# -- permissions ------------------------------------------------------------------------------


def test_read_only_key_may_read_but_not_write() -> None:
    info = _info(read_only_permissions())
    require_permission(info, "wallets")
    with pytest.raises(ProtocolError) as exc:
        require_permission(info, "orders", write=True)
    assert _error(exc) == (10001, "api_key: permission invalid")


def test_unnamed_scope_is_denied() -> None:
    assert not has_permission((("orders", True, True),), "withdraw", write=True)
    assert not has_permission((("orders", True, True),), "withdraw")


def test_permissions_rows_and_caps_list_every_scope_with_0_or_1() -> None:
    perms = parse_permissions("orders:rw,wallets:r,withdraw:w")
    rows = permission_rows(perms)
    assert rows[:3] == [["account", 0, 0], ["history", 0, 0], ["orders", 1, 1]]
    assert ["wallets", 1, 0] in rows and ["withdraw", 0, 1] in rows
    assert caps(perms)["orders"] == {"read": 1, "write": 1}
    assert caps(perms)["account"] == {"read": 0, "write": 0}


def test_permission_spec_parsing() -> None:
    assert parse_permissions("wallets, orders:r") == (("orders", True, False), ("wallets", True, True))
    with pytest.raises(ValueError, match="was 'trading:rw'"):
        parse_permissions("trading:rw")
    with pytest.raises(ValueError):
        parse_permissions("orders:x")
