"""Per-IP, per-endpoint limits with a penalty (spec §9), on a hand-driven clock."""

from __future__ import annotations

from venue.gateway.clock import ManualClock
from venue.gateway.ratelimit import RateLimiter


def _limiter(enabled: bool = True) -> tuple[RateLimiter, ManualClock]:
    clock = ManualClock()
    return RateLimiter({"ticker": 3, "auth": 2}, clock, penalty_s=60, enabled=enabled), clock


def test_the_limit_resets_when_the_minute_is_over() -> None:
    limiter, clock = _limiter()
    assert all(limiter.allow("1.1.1.1", "ticker") for _ in range(3))
    clock.advance(60)
    assert all(limiter.allow("1.1.1.1", "ticker") for _ in range(3))


def test_going_over_blocks_for_the_penalty_even_after_the_window() -> None:
    limiter, clock = _limiter()
    for _ in range(3):
        limiter.allow("1.1.1.1", "ticker")
    assert not limiter.allow("1.1.1.1", "ticker")
    clock.advance(59.9)
    assert not limiter.allow("1.1.1.1", "ticker")
    clock.advance(0.1)
    assert limiter.allow("1.1.1.1", "ticker")


def test_ips_and_endpoints_count_apart() -> None:
    limiter, _ = _limiter()
    for _ in range(4):
        limiter.allow("1.1.1.1", "ticker")
    assert limiter.allow("2.2.2.2", "ticker")
    # auth endpoints share the number 2 but not the counter
    assert limiter.allow("1.1.1.1", "auth", "auth/r/wallets")
    assert limiter.allow("1.1.1.1", "auth", "auth/r/wallets")
    assert not limiter.allow("1.1.1.1", "auth", "auth/r/wallets")
    assert limiter.allow("1.1.1.1", "auth", "auth/r/orders")


def test_unknown_endpoints_and_a_disabled_limiter_never_refuse() -> None:
    limiter, _ = _limiter()
    assert all(limiter.allow("1.1.1.1", "conf") for _ in range(1000))
    off, _ = _limiter(enabled=False)
    assert all(off.allow("1.1.1.1", "ticker") for _ in range(1000))
