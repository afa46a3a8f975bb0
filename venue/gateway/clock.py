"""The one place that reads wall time.

Everything in the gateway that needs "now" (the sequencer's command stamps, the periodic Tick,
the default ``end`` of history queries, rate-limit windows) asks a ``Clock``. Tests swap in a
``ManualClock`` they advance by hand, so time-dependent behaviour (tif expiry, candle buckets,
rate-limit penalties) is testable without sleeping.

Invariant: ``now_ms()`` never goes backwards for one clock object, even if the system clock is
stepped back (NTP), because command timestamps feed candles and history ordering.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of time in UTC milliseconds (ms) and a monotonic seconds counter."""

    def now_ms(self) -> int:
        """UTC milliseconds since the epoch, never decreasing."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for intervals and rate-limit windows."""
        ...


class SystemClock:
    """Wall time, clamped so it never runs backwards."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = 0

    def now_ms(self) -> int:
        now = time.time_ns() // 1_000_000
        if now < self._last:
            # the system clock was stepped back: stay on the last value rather than reorder history
            return self._last
        self._last = now
        return now

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to (tests)."""

    __slots__ = ("_ms",)

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._ms = start_ms

    def now_ms(self) -> int:
        return self._ms

    def monotonic(self) -> float:
        return self._ms / 1000

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backwards)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back, was asked to move {seconds} s")
        self._ms += round(seconds * 1000)

    def set_ms(self, ms: int) -> None:
        """Jump to ``ms`` if it is not in the past."""
        if ms < self._ms:
            raise ValueError(f"a clock cannot go back, was asked to move to {ms} from {self._ms}")
        self._ms = ms
