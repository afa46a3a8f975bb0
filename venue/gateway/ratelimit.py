"""Per-IP, per-endpoint request limits (spec/bitfinex-v2.md §9).

Each (client IP, endpoint name) pair may make ``limit`` requests per 60-second window; the
window opens at the pair's first request. The request that goes over the limit, and every
request in the following ``penalty_s`` seconds, is refused: the gateway answers HTTP 429
``["error",11010,"ratelimit: error"]``, as the real exchange was observed to (ccxt#6384).

Invariants:
- O(1) work and memory per request (a window start, a count and a block deadline per pair);
  entries whose window and penalty have both expired are pruned when the table grows;
- an endpoint without a configured limit, or a disabled limiter, never refuses anything;
- time comes from the injected clock's monotonic counter (tests advance it by hand).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from venue.gateway.clock import Clock

WINDOW_S = 60.0
_PRUNE_AT = 100_000  # entries; pruning walks the table, so do it rarely


@dataclass(slots=True)
class _Window:
    start: float
    count: int
    blocked_until: float


class RateLimiter:
    """Counts requests per (ip, endpoint) and says whether the next one may pass."""

    __slots__ = ("enabled", "_limits", "_penalty_s", "_clock", "_windows")

    def __init__(
        self,
        limits: Mapping[str, int],
        clock: Clock,
        *,
        penalty_s: float = 60.0,
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self._limits = dict(limits)
        self._penalty_s = penalty_s
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    def limit(self, endpoint: str) -> int | None:
        """Requests per minute allowed on ``endpoint``, None when unlimited."""
        return self._limits.get(endpoint)

    def allow(self, ip: str, name: str, endpoint: str | None = None) -> bool:
        """Count one request; False when it must be refused (limit reached or IP blocked).

        ``name`` selects the limit; ``endpoint`` (default: ``name``) selects the counter, so
        endpoints sharing one number (every auth endpoint has 90/min, §4.2) count apart.
        """
        if not self.enabled:
            return True
        limit = self._limits.get(name)
        if limit is None:
            return True
        now = self._clock.monotonic()
        key = (ip, endpoint or name)
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= _PRUNE_AT:
                self._prune(now)
            self._windows[key] = _Window(start=now, count=1, blocked_until=0.0)
            return True
        if now < window.blocked_until:
            return False
        if now - window.start >= WINDOW_S:
            window.start = now
            window.count = 0
        window.count += 1
        if window.count > limit:
            # §9: going over the limit blocks the IP on this endpoint for the penalty time
            window.blocked_until = now + self._penalty_s
            window.start = window.blocked_until
            window.count = 0
            return False
        return True

    def reset(self) -> None:
        """Forget every window and block (tests, or an operator's admin call)."""
        self._windows.clear()

    def _prune(self, now: float) -> None:
        expired = [
            key
            for key, w in self._windows.items()
            if now >= w.blocked_until and now - w.start >= WINDOW_S
        ]
        for key in expired:
            del self._windows[key]
