"""``stats1`` series that make sense for a spot venue (spec/bitfinex-v2.md §3.7).

Keys served:
- ``vol.1d:30m:BFX``, ``vol.7d:30m:BFX``, ``vol.30d:30m:BFX`` — platform trade volume over the
  last 1, 7 or 30 days, in **USD**, sampled every 30 minutes. A sample at ``mts`` (a 30-minute
  boundary) sums the 30-minute buckets starting in (mts − window, mts]; ``last`` is the sample
  of the current bucket (it grows until the bucket closes). Samples run from the first bucket
  with a trade to the current one, every 30 minutes, zeros included.
- ``vwap:1d:{tSYMBOL}`` — volume-weighted average price of each UTC day with trades:
  Σ(price·|amount|) / Σ|amount|, rounded half-up to 8 decimals. ``last`` is the newest day.

USD valuation of a trade (documented choice; Bitfinex does not publish its method):
1. quote USD or UST (USDt, taken at par): the trade's notional, |amount| × price;
2. otherwise the base currency's USD price × |amount|, where a currency's USD price is the last
   trade price of ``t{CUR}USD`` (else ``t{CUR}UST``), else that market's configured reference
   price;
3. otherwise the quote currency's USD price × notional; with no price at all, 0.
Paper-trading pairs (currencies starting with ``TEST``) are not platform volume and count 0.
Prices used are those of trades applied before the one being valued, so the series is
deterministic for a given journal.

Invariant: bucket values are exact raw ints (1e-8 USD); nothing here uses floats.
"""

from __future__ import annotations

import bisect
from typing import Sequence

from venue.core.events import Event, TradeExecuted
from venue.core.numbers import SCALE, mul
from venue.core.symbols import Registry, pair_symbol, split_pair

MINUTE = 60_000
BUCKET = 30 * MINUTE
DAY = 24 * 60 * MINUTE
VOLUME_WINDOWS = {"vol.1d:30m:BFX": DAY, "vol.7d:30m:BFX": 7 * DAY, "vol.30d:30m:BFX": 30 * DAY}
USD_LIKE = frozenset({"USD", "UST"})

Point = tuple[int, int]
"""``(mts, value)`` with value in raw units."""


class Stats:
    """Platform volume buckets and daily VWAP sums, fed by public trades."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._last_price: dict[str, int] = {}
        self._volume: dict[int, int] = {}  # 30-minute bucket start → USD volume (raw)
        self._volume_starts: list[int] = []
        self._vwap: dict[str, dict[int, list[int]]] = {}  # symbol → day → [Σ p·|a|, Σ |a|]
        self._vwap_days: dict[str, list[int]] = {}
        self._now = 0
        self._dirty: set[tuple[str, int]] = set()

    # -- updates ---------------------------------------------------------------------------

    def apply(self, seq: int, ts: int, events: Sequence[Event]) -> None:
        self._now = max(self._now, ts)
        for event in events:
            if isinstance(event, TradeExecuted):
                self._add_trade(event)

    def _add_trade(self, trade: TradeExecuted) -> None:
        size = abs(trade.amount)
        value = self.usd_value(trade.symbol, size, trade.price)
        bucket = trade.ts - trade.ts % BUCKET
        if bucket not in self._volume:
            self._volume[bucket] = 0
            bisect.insort(self._volume_starts, bucket)
        self._volume[bucket] += value
        self._dirty.add(("vol", bucket))
        day = trade.ts - trade.ts % DAY
        days = self._vwap.setdefault(trade.symbol, {})
        sums = days.get(day)
        if sums is None:
            sums = days[day] = [0, 0]
            bisect.insort(self._vwap_days.setdefault(trade.symbol, []), day)
        sums[0] += trade.price * size  # exact, at scale 1e-16
        sums[1] += size
        self._dirty.add((f"vwap:{trade.symbol}", day))
        self._last_price[trade.symbol] = trade.price

    def seed_last_price(self, symbol: str, price: int) -> None:
        """The last trade price of a market, at start-up (for USD valuation)."""
        self._last_price[symbol] = price

    def load(self, series: str, mts: int, first: int, second: int) -> None:
        """Put a stored bucket back: ``vol`` (value, 0) or ``vwap:{symbol}`` (Σp·a, Σa)."""
        if series == "vol":
            if mts not in self._volume:
                bisect.insort(self._volume_starts, mts)
            self._volume[mts] = first
        else:
            symbol = series.removeprefix("vwap:")
            days = self._vwap.setdefault(symbol, {})
            if mts not in days:
                bisect.insort(self._vwap_days.setdefault(symbol, []), mts)
            days[mts] = [first, second]
        self._now = max(self._now, mts)

    def take_dirty(self) -> list[tuple[str, int, int, int]]:
        """Buckets changed since the last call as (series, mts, first, second), for storage."""
        out = []
        for series, mts in sorted(self._dirty):
            if series == "vol":
                out.append((series, mts, self._volume[mts], 0))
            else:
                first, second = self._vwap[series.removeprefix("vwap:")][mts]
                out.append((series, mts, first, second))
        self._dirty = set()
        return out

    # -- valuation -------------------------------------------------------------------------

    def usd_price(self, currency: str) -> int | None:
        """The USD price of one unit of ``currency`` (raw), or None when unknown."""
        if currency in USD_LIKE:
            return SCALE
        for quote in ("USD", "UST"):
            symbol = pair_symbol(currency, quote)
            last = self._last_price.get(symbol)
            if last is not None:
                return last
        for quote in ("USD", "UST"):
            market = self._registry.market(pair_symbol(currency, quote))
            if market is not None:
                return market.reference_price
        return None

    def usd_value(self, symbol: str, size: int, price: int) -> int:
        """USD value (raw) of |amount| = ``size`` traded at ``price`` on ``symbol``."""
        base, quote = split_pair(symbol)
        if base.startswith("TEST") or quote.startswith("TEST"):
            return 0
        notional = mul(size, price)
        if quote in USD_LIKE:
            return notional
        base_usd = self.usd_price(base)
        if base_usd is not None:
            return mul(size, base_usd)
        quote_usd = self.usd_price(quote)
        if quote_usd is not None:
            return mul(notional, quote_usd)
        return 0

    # -- reads -----------------------------------------------------------------------------

    @staticmethod
    def supports(key: str) -> bool:
        """True for the keys this venue serves (the caller answers others with an error)."""
        return key in VOLUME_WINDOWS or _vwap_symbol(key) is not None

    def last(self, key: str) -> Point | None:
        """``stats1/{key}/last``: the newest point, or None when there is no data."""
        points = self.hist(key, limit=1, sort=-1)
        return points[0] if points else None

    def hist(
        self, key: str, start: int | None = None, end: int | None = None, limit: int = 100,
        sort: int = -1,
    ) -> list[Point]:
        """``stats1/{key}/hist``: points with start ≤ mts ≤ end (§2.4)."""
        window = VOLUME_WINDOWS.get(key)
        if window is not None:
            return self._volume_hist(window, start, end, limit, sort)
        symbol = _vwap_symbol(key)
        if symbol is None:
            return []
        return self._vwap_hist(symbol, start, end, limit, sort)

    def _volume_hist(
        self, window: int, start: int | None, end: int | None, limit: int, sort: int
    ) -> list[Point]:
        if not self._volume_starts or limit <= 0:
            return []
        first = self._volume_starts[0]
        current = self._now - self._now % BUCKET
        lo = first if start is None else max(first, -(-start // BUCKET) * BUCKET)
        hi = current if end is None else min(current, end - end % BUCKET)
        if hi < lo:
            return []
        count = (hi - lo) // BUCKET + 1
        if count > limit:
            if sort == 1:
                hi = lo + (limit - 1) * BUCKET
            else:
                lo = hi - (limit - 1) * BUCKET
        # A running sum over [t - window + BUCKET, t] as t walks from lo to hi.
        span = window // BUCKET
        volume = self._volume
        total = sum(volume.get(lo - i * BUCKET, 0) for i in range(span))
        points = [(lo, total)]
        t = lo
        while t < hi:
            t += BUCKET
            total += volume.get(t, 0) - volume.get(t - span * BUCKET, 0)
            points.append((t, total))
        return points if sort == 1 else points[::-1]

    def _vwap_hist(
        self, symbol: str, start: int | None, end: int | None, limit: int, sort: int
    ) -> list[Point]:
        days = self._vwap_days.get(symbol, [])
        lo = 0 if start is None else bisect.bisect_left(days, start)
        hi = len(days) if end is None else bisect.bisect_right(days, end)
        chosen = days[lo:hi]
        chosen = chosen[:limit] if sort == 1 else chosen[::-1][:limit]
        sums = self._vwap[symbol] if chosen else {}
        return [(day, _vwap(*sums[day])) for day in chosen]


def _vwap(price_volume: int, volume: int) -> int:
    """Σ(p·a)/Σa with both at 1e-8: the quotient is already a raw price; round half-up."""
    if volume == 0:
        return 0
    quotient, remainder = divmod(price_volume, volume)
    return quotient + (1 if 2 * remainder >= volume else 0)


def _vwap_symbol(key: str) -> str | None:
    prefix = "vwap:1d:"
    if key.startswith(prefix) and key[len(prefix) :].startswith("t"):
        return key[len(prefix) :]
    return None
