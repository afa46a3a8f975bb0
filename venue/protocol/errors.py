"""Bitfinex error and info codes, and the one exception type the protocol layer raises.

Invariants:
- every code the spec names (spec/bitfinex-v2.md §7.8 WS codes, §9 REST codes, §3.1/§10) is a
  member of ``Code`` with Bitfinex's numeric value; nothing else is;
- a ``ProtocolError`` always carries a ``Code`` and the exact text the client will see, so the
  gateway can answer with ``["error", code, text]`` (REST, HTTP 500) or
  ``{"event":"error","code":…,"msg":…}`` / an ``ERROR`` notification (WS) without looking
  further; it never holds a stack trace or internal detail.

Texts follow Bitfinex's "<field>: <problem>" style (``limit: invalid``, ``nonce: small``,
``symbol: invalid``); ``invalid(field)`` builds the common parameter error.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """Numeric codes as Bitfinex sends them (names after the spec's ERR_/EVT_ labels)."""

    # -- errors (spec §7.8, §9) --
    UNKNOWN = 10000  # ERR_UNK: unknown event / error
    GENERIC = 10001  # ERR_GENERIC: business rejections ("Invalid order: …", "Order not found.")
    CONCURRENCY = 10008  # ERR_CONCURRENCY
    BOOK_PRECISION = 10011  # unknown book precision (WS)
    BOOK_LENGTH = 10012  # unknown book length (WS)
    PARAMS = 10020  # ERR_PARAMS: request parameters ("limit: invalid")
    CONF_FAIL = 10050  # ERR_CONF_FAIL
    AUTH_FAIL = 10100  # ERR_AUTH_FAIL ("apikey: invalid", "auth: dup", "auth: invalid")
    AUTH_PAYLOAD = 10111  # ERR_AUTH_PAYLOAD
    AUTH_SIG = 10112  # ERR_AUTH_SIG
    AUTH_HMAC = 10113  # ERR_AUTH_HMAC
    AUTH_NONCE = 10114  # ERR_AUTH_NONCE ("nonce: small")
    UNAUTH_FAIL = 10200  # ERR_UNAUTH_FAIL
    SUB_FAIL = 10300  # ERR_SUB_FAIL (generic; "symbol: invalid" on subscribe)
    SUB_MULTI = 10301  # ERR_SUB_MULTI ("subscribe: dup")
    SUB_UNKNOWN = 10302  # ERR_SUB_UNK: unknown channel
    SUB_LIMIT = 10305  # ERR_SUB_LIMIT ("subscribe: limit")
    UNSUB_FAIL = 10400  # ERR_UNSUB_FAIL: channel not found
    UNSUB_NOT = 10401  # ERR_UNSUB_NOT: not subscribed
    NOT_READY = 11000  # ERR_READY: not ready, try later
    RATE_LIMIT = 11010  # "ratelimit: error" (REST, HTTP 429; spec §9)
    COLLATERAL_MARKET_RISK = 110202  # "collateral: market risk" (spec §4.2 derivatives)
    # -- info events (spec §7.1, §7.8) --
    INFO = 5000  # EVT_INFO
    SERVER_STOPPING = 20051  # EVT_STOP: reconnect
    MAINTENANCE_START = 20060  # EVT_RESYNC_START; also REST ["error",20060,"maintenance"]
    MAINTENANCE_END = 20061  # EVT_RESYNC_STOP


_CODE_VALUES = frozenset(int(c) for c in Code)

# Texts the spec quotes verbatim; kept here so every layer writes them the same way.
TEXT_APIKEY_INVALID = "apikey: invalid"
TEXT_NONCE_SMALL = "nonce: small"
TEXT_RATE_LIMIT = "ratelimit: error"
TEXT_MAINTENANCE = "maintenance"
TEXT_INPUT_INVALID = "input: invalid"
TEXT_COLLATERAL_MARKET_RISK = "collateral: market risk"


class ProtocolError(Exception):
    """A request Bitfinex would refuse, with the code and text to send back.

    Raised by the parsers in this package; caught once, by the gateway, and rendered with
    ``error_body`` (REST) or as a WS error event / ERROR notification.
    """

    __slots__ = ("code", "text")

    def __init__(self, code: Code | int, text: str) -> None:
        super().__init__(code, text)
        # A code the enum does not list (a core rejection may carry one) is kept as a plain int
        # rather than turning an answer into a crash.
        self.code: Code | int = Code(code) if code in _CODE_VALUES else int(code)
        self.text = text

    def __str__(self) -> str:
        return f"{int(self.code)} {self.text}"

    def __repr__(self) -> str:
        return f"ProtocolError({int(self.code)}, {self.text!r})"

    def body(self) -> list[object]:
        """The REST error body ``["error", CODE, TEXT]`` (spec §9)."""
        return error_body(self.code, self.text)


def invalid(field: str) -> ProtocolError:
    """The parameter error for ``field``: ``ProtocolError(10020, "<field>: invalid")`` (§9)."""
    return ProtocolError(Code.PARAMS, f"{field}: invalid")


def error_body(code: Code | int, text: str) -> list[object]:
    """``["error", CODE, TEXT]``, sent with HTTP 500 (HTTP 429 for 11010), spec §9.

    The code is a plain ``int`` so any JSON encoder writes it as a number.
    """
    return ["error", int(code), text]


def http_status(code: Code | int) -> int:
    """The HTTP status of a REST error: 429 for rate limiting, 500 for everything else (§9)."""
    return 429 if int(code) == Code.RATE_LIMIT else 500
