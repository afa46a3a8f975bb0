"""Rate limits on a real server (spec §9): per IP and endpoint, HTTP 429
``["error",11010,"ratelimit: error"]``, then a 60 s block."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import replace

import pytest
from bfxapi import Client

from venue.config import Settings

from tests.e2e.conftest import RunningServer


@pytest.fixture
def server_settings(server_settings: Settings) -> Settings:
    # the spec's numbers, except a small ticker limit so the test stays fast
    limits = {**server_settings.rate_limit_per_minute, "ticker": 5}
    return replace(server_settings, rate_limits=True, rate_limit_per_minute=limits)


def _get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_sixth_ticker_request_in_a_minute_is_refused_with_429(server: RunningServer) -> None:
    url = f"{server.rest_url}/ticker/tBTCUSD"
    for _ in range(5):
        assert _get(url)[0] == 200
    assert _get(url) == (429, ["error", 11010, "ratelimit: error"])
    # still blocked: the penalty lasts 60 s
    assert _get(url)[0] == 429
    # other endpoints keep their own counters
    assert _get(f"{server.rest_url}/book/tBTCUSD/P0") == (200, [])


def test_bfxapi_sees_the_rate_limit_as_an_error(server: RunningServer) -> None:
    public = Client(rest_host=server.rest_url).rest.public
    for _ in range(5):
        public.get_t_ticker("tBTCUSD")
    with pytest.raises(Exception) as info:
        public.get_t_ticker("tBTCUSD")
    assert "ratelimit" in str(info.value) or "11010" in str(info.value)
