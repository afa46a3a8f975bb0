"""Bitfinex codes (spec §7.8, §9) and the REST error envelope."""

from __future__ import annotations

import pytest

from venue.protocol.errors import Code, ProtocolError, error_body, http_status, invalid

SPEC_CODES = {
    10000: "UNKNOWN",
    10001: "GENERIC",
    10008: "CONCURRENCY",
    10011: "BOOK_PRECISION",
    10012: "BOOK_LENGTH",
    10020: "PARAMS",
    10050: "CONF_FAIL",
    10100: "AUTH_FAIL",
    10111: "AUTH_PAYLOAD",
    10112: "AUTH_SIG",
    10113: "AUTH_HMAC",
    10114: "AUTH_NONCE",
    10200: "UNAUTH_FAIL",
    10300: "SUB_FAIL",
    10301: "SUB_MULTI",
    10302: "SUB_UNKNOWN",
    10305: "SUB_LIMIT",
    10400: "UNSUB_FAIL",
    10401: "UNSUB_NOT",
    11000: "NOT_READY",
    11010: "RATE_LIMIT",
    20051: "SERVER_STOPPING",
    20060: "MAINTENANCE_START",
    20061: "MAINTENANCE_END",
    5000: "INFO",
    110202: "COLLATERAL_MARKET_RISK",
}


@pytest.mark.parametrize(("value", "name"), sorted(SPEC_CODES.items()))
def test_every_spec_code_has_its_bitfinex_value(value: int, name: str) -> None:
    assert Code[name] == value


def test_no_code_outside_the_spec() -> None:
    assert {int(c) for c in Code} == set(SPEC_CODES)


def test_rest_error_body_is_the_three_element_envelope() -> None:
    assert error_body(Code.PARAMS, "limit: invalid") == ["error", 10020, "limit: invalid"]
    assert type(error_body(Code.PARAMS, "x")[1]) is int


def test_protocol_error_carries_code_and_text() -> None:
    error = ProtocolError(10114, "nonce: small")
    assert error.code is Code.AUTH_NONCE and error.text == "nonce: small"
    assert error.body() == ["error", 10114, "nonce: small"]


def test_invalid_builds_the_field_error() -> None:
    error = invalid("symbol")
    assert (error.code, error.text) == (Code.PARAMS, "symbol: invalid")


def test_rate_limit_is_http_429_everything_else_500() -> None:
    assert http_status(Code.RATE_LIMIT) == 429
    assert http_status(Code.PARAMS) == 500 and http_status(Code.AUTH_FAIL) == 500


def test_a_code_outside_the_enum_is_kept_not_a_crash() -> None:
    error = ProtocolError(10999, "something")
    assert error.code == 10999 and error.body() == ["error", 10999, "something"]
