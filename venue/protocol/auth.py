"""Authentication of REST requests and WS auth frames: signatures, nonces, key permissions.

Sans-I/O: callers pass the header mapping, the raw body bytes, a key lookup function and a
``NonceTracker``; these functions answer with the key's ``ApiKeyInfo`` or raise
``ProtocolError`` with Bitfinex's code and text.

Wire rules (spec/bitfinex-v2.md §4.1, §8.1; clients.md §2):
- REST signature = lowercase hex HMAC-SHA384(secret, ``"/api/v2/" + path after /v2/ + nonce +
  raw body``). The body is the exact bytes received, possibly empty (bfxapi sends no body for
  argument-less calls and signs without one); never a re-serialisation.
- WS signature = HMAC-SHA384(secret, ``authPayload`` exactly as sent) — Node sends
  ``AUTH<n><n>``, others ``AUTH<n>``; ``authNonce`` (number or string) is the replay guard.
- Nonces are integers 1 … 9007199254740991 (JS MAX_SAFE_INTEGER), strictly increasing per key,
  one counter shared by REST and WS auth of the same key (as on Bitfinex: mixing them gives
  ``nonce: small``).
- Unknown key, revoked key, bad signature: 10100 ``apikey: invalid``; nonce not larger than
  the last: 10114 ``nonce: small``.

Invariants:
- signatures are compared in constant time (``hmac.compare_digest``);
- a nonce is consumed only after the signature checked out, so a caller without the secret
  cannot burn a key's nonces;
- secrets never leave this module in an error text, a repr or a log line.

Permission failures (spec §4.1 calls the v2 text a gap; v1 answered HTTP 403 "This API key
does not have permission for this action"): venue answers ``["error", 10001, "api_key:
permission invalid"]``, the answer ccxt's bitfinex exception table records from the live API
(``'10001': PermissionDenied, // api_key: permission invalid (#10001)``). ccxt thus raises
PermissionDenied; bfxapi raises GenericError (it maps 10001 that way). A key without the
permission is a valid key: answering 10100 would tell clients their credentials are wrong.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from venue.core.exchange import ApiKeyInfo
from venue.protocol.errors import TEXT_APIKEY_INVALID, TEXT_NONCE_SMALL, Code, ProtocolError

SIGNATURE_PREFIX = "/api/v2/"
MAX_NONCE = 9_007_199_254_740_991  # spec §4.1: JS MAX_SAFE_INTEGER

CODE_AUTH = Code.AUTH_FAIL
CODE_NONCE = Code.AUTH_NONCE
TEXT_NONCE_INVALID = "nonce: invalid"
TEXT_PERMISSION_INVALID = "api_key: permission invalid"
CODE_PERMISSION = Code.GENERIC

HEADER_NONCE = "bfx-nonce"
HEADER_APIKEY = "bfx-apikey"
HEADER_SIGNATURE = "bfx-signature"

# spec §4.1 "Key capabilities": the scopes of auth/r/permissions, in the order venue lists them.
SCOPES: tuple[str, ...] = (
    "account",
    "history",
    "orders",
    "positions",
    "funding",
    "settings",
    "wallets",
    "withdraw",
    "ui_withdraw",
    "bfxpay",
)
# What ``venue key create`` grants by default: everything an API trading client can use.
FULL_SCOPES: tuple[str, ...] = (
    "account",
    "history",
    "orders",
    "positions",
    "funding",
    "settings",
    "wallets",
    "withdraw",
)

Permissions = tuple[tuple[str, bool, bool], ...]
KeyLookup = Callable[[str], "ApiKeyInfo | None"]


# -- signatures -------------------------------------------------------------------------------


def signature_payload(path_after_v2: str, nonce: str, body: bytes) -> bytes:
    """The bytes a REST request signs: ``/api/v2/`` + path after ``/v2/`` + nonce + body."""
    return (SIGNATURE_PREFIX + path_after_v2 + nonce).encode("utf-8") + body


def sign(secret: str, payload: bytes) -> str:
    """Lowercase hex HMAC-SHA384 of ``payload`` keyed with the secret's UTF-8 bytes."""
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha384).hexdigest()


def signature_matches(secret: str, payload: bytes, signature: str) -> bool:
    """True when ``signature`` is the payload's signature (constant-time comparison).

    Upper-case hex is accepted too: the digest is the same number, and clients that upper-case
    it would otherwise fail for no security reason.
    """
    expected = sign(secret, payload)
    try:
        given = signature.lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode("ascii"), given)


# -- nonces -----------------------------------------------------------------------------------


def parse_nonce(value: object) -> int:
    """A nonce from a header or an ``authNonce`` field: a decimal integer 1 … MAX_NONCE.

    Raises ProtocolError(10114, "nonce: invalid") for anything else (floats, signs, text).
    """
    if isinstance(value, bool):
        raise ProtocolError(CODE_NONCE, TEXT_NONCE_INVALID)
    if isinstance(value, int):
        nonce = value
    elif isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 16:
            raise ProtocolError(CODE_NONCE, TEXT_NONCE_INVALID)
        nonce = int(text)
    else:
        raise ProtocolError(CODE_NONCE, TEXT_NONCE_INVALID)
    if not 0 < nonce <= MAX_NONCE:
        raise ProtocolError(CODE_NONCE, TEXT_NONCE_INVALID)
    return nonce


class NonceTracker:
    """The last nonce accepted per API key; one tracker per server, shared by REST and WS.

    Memory is one int per key that ever authenticated. The server keeps the counters across
    restarts (``venue/gateway/nonce_file.py``), as Bitfinex does: a signed request captured
    before a restart cannot be replayed after it, and a client that sent a huge nonce recovers
    the way it does on Bitfinex, with a new key (clients.md §6). ``changed()`` tells the
    server whether there is anything new to save.
    """

    __slots__ = ("_last", "_changed")

    def __init__(self, last: Mapping[str, int] | None = None) -> None:
        self._last: dict[str, int] = dict(last or {})
        self._changed = False

    def last(self, key: str) -> int:
        return self._last.get(key, 0)

    def check(self, key: str, nonce: int) -> None:
        """Raise ProtocolError(10114, "nonce: small") unless ``nonce`` is above the last one."""
        if nonce <= self._last.get(key, 0):
            raise ProtocolError(CODE_NONCE, TEXT_NONCE_SMALL)

    def advance(self, key: str, nonce: int) -> None:
        """Record ``nonce`` as used (call after ``check`` and after the signature verified)."""
        self.check(key, nonce)
        self._last[key] = nonce
        self._changed = True

    def reset(self, key: str) -> None:
        """Forget a key's nonce (administrative: lets a client restart its counter lower)."""
        if self._last.pop(key, None) is not None:
            self._changed = True

    def changed(self) -> bool:
        return self._changed

    def mark_changed(self) -> None:
        self._changed = True

    def take_state(self) -> dict[str, int]:
        """A copy of every key's last nonce, marking the tracker saved."""
        self._changed = False
        return dict(self._last)


# -- REST and WS authentication ---------------------------------------------------------------


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Header ``name`` looked up case-insensitively (clients send ``bfx-apiKey`` and the like)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None


def _active_key(lookup: KeyLookup, key: object) -> ApiKeyInfo:
    if not isinstance(key, str) or not key:
        raise ProtocolError(CODE_AUTH, TEXT_APIKEY_INVALID)
    info = lookup(key)
    if info is None or info.revoked:
        raise ProtocolError(CODE_AUTH, TEXT_APIKEY_INVALID)
    return info


def authenticate_rest(
    path_after_v2: str,
    headers: Mapping[str, str],
    body: bytes,
    lookup: KeyLookup,
    nonces: NonceTracker,
) -> ApiKeyInfo:
    """Check a REST request's ``bfx-*`` headers against its path and raw body.

    Args:
        path_after_v2: the URL path without ``/v2/`` (``auth/r/wallets``), unquoted.
        headers: the request headers (any mapping; looked up case-insensitively).
        body: the raw body bytes as received (``b""`` when none).
    Returns the key's info; its nonce has been consumed.
    Raises ProtocolError 10100 ``apikey: invalid`` (missing/unknown/revoked key, bad or
    missing signature) or 10114 (nonce missing, malformed or not larger than the last).
    """
    info = _active_key(lookup, header(headers, HEADER_APIKEY))
    nonce_text = header(headers, HEADER_NONCE)
    signature = header(headers, HEADER_SIGNATURE)
    if nonce_text is None:
        raise ProtocolError(CODE_NONCE, TEXT_NONCE_INVALID)
    if signature is None:
        raise ProtocolError(CODE_AUTH, TEXT_APIKEY_INVALID)
    payload = signature_payload(path_after_v2, nonce_text, body)
    if not signature_matches(info.secret, payload, signature):
        raise ProtocolError(CODE_AUTH, TEXT_APIKEY_INVALID)
    nonces.advance(info.key, parse_nonce(nonce_text))
    return info


def verify_ws_auth(message: Mapping[str, Any], lookup: KeyLookup, nonces: NonceTracker) -> ApiKeyInfo:
    """Check a WS ``{"event":"auth",…}`` frame (spec §8.1); return the key's info.

    The signature is verified over ``authPayload`` exactly as sent; ``authNonce`` (number or
    numeric string) must grow per key. Extra fields (``apiSecret`` from Node, ``calc``,
    ``filter``, ``dms``) are ignored — and never logged by this module.
    Raises ProtocolError 10100 ``apikey: invalid`` or 10114 ``nonce: small``/``nonce: invalid``.
    """
    info = _active_key(lookup, message.get("apiKey"))
    payload = message.get("authPayload")
    signature = message.get("authSig")
    if not isinstance(payload, str) or not isinstance(signature, str):
        raise ProtocolError(CODE_AUTH, TEXT_APIKEY_INVALID)
    if not signature_matches(info.secret, payload.encode("utf-8"), signature):
        raise ProtocolError(CODE_AUTH, TEXT_APIKEY_INVALID)
    nonces.advance(info.key, parse_nonce(message.get("authNonce")))
    return info


# -- permissions ------------------------------------------------------------------------------


def has_permission(permissions: Permissions, scope: str, write: bool = False) -> bool:
    """True when the key may read (or, with ``write``, write) ``scope``."""
    for name, can_read, can_write in permissions:
        if name == scope:
            return can_write if write else can_read
    return False


def require_permission(info: ApiKeyInfo, scope: str, write: bool = False) -> None:
    """Raise ProtocolError(10001, "api_key: permission invalid") when ``info`` lacks it."""
    if not has_permission(info.permissions, scope, write):
        raise ProtocolError(CODE_PERMISSION, TEXT_PERMISSION_INVALID)


def permission_rows(permissions: Permissions) -> list[list[Any]]:
    """``auth/r/permissions`` rows ``[SCOPE, READ, WRITE]`` for every scope, 0/1 values."""
    return [
        [scope, int(has_permission(permissions, scope)), int(has_permission(permissions, scope, True))]
        for scope in SCOPES
    ]


def caps(permissions: Permissions) -> dict[str, dict[str, int]]:
    """The WS auth reply's ``caps`` object: ``{"orders":{"read":1,"write":1},…}`` (spec §8.1)."""
    return {
        scope: {
            "read": int(has_permission(permissions, scope)),
            "write": int(has_permission(permissions, scope, True)),
        }
        for scope in SCOPES
    }


def full_permissions() -> Permissions:
    """Read and write on every scope a trading client uses (``FULL_SCOPES``)."""
    return tuple((scope, True, True) for scope in FULL_SCOPES)


def read_only_permissions() -> Permissions:
    """Read on every scope of ``FULL_SCOPES``, write on none."""
    return tuple((scope, True, False) for scope in FULL_SCOPES)


def parse_permissions(spec: str | Iterable[str]) -> Permissions:
    """Permissions from ``"orders:rw,wallets:r,withdraw:w"`` (or a list of such items).

    Each item is ``SCOPE`` (read and write), ``SCOPE:r``, ``SCOPE:w`` or ``SCOPE:rw``; the
    result lists every scope of ``SCOPES`` that was named, in ``SCOPES`` order.
    Raises ValueError naming the bad item.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    granted: dict[str, tuple[bool, bool]] = {}
    for raw_item in items:
        item = raw_item.strip()
        if not item:
            continue
        scope, _, mode = item.partition(":")
        scope = scope.strip().lower()
        mode = (mode.strip().lower() or "rw") if _ else "rw"
        if scope not in SCOPES or not mode or set(mode) - {"r", "w"}:
            raise ValueError(f"permission must be SCOPE[:r|w|rw] with SCOPE in {SCOPES}, was {item!r}")
        read, write = granted.get(scope, (False, False))
        granted[scope] = (read or "r" in mode, write or "w" in mode)
    return tuple((scope, *granted[scope]) for scope in SCOPES if scope in granted)
