"""A seeded simulated market: market makers keep every book two-sided, traders take liquidity.

Used by ``venue demo``. Participants are ordinary accounts whose orders go through the
sequencer like anybody else's (no back door into the core), so everything they do is journaled,
shows up in tickers, trades, candles and books, and can be watched with any Bitfinex client.

How one market moves (all integer arithmetic on raw 1e-8 values, no floats):
- prices live on a grid of ``tick`` = 10^(e−3) where 10^e ≤ reference price < 10^(e+1), so every
  grid price has at most 4–5 significant digits and passes the 5-significant-digit rule (§2.2);
- the mid price is a whole number of ticks doing a seeded random walk that is pulled back
  towards ``Market.reference_price``, so the simulation never drifts away (or drains a side);
- the maker quotes ``levels`` bids on the grid multiples of ``spacing`` ticks below the mid and
  as many asks above it; when the mid moves one tick at most one level per side changes, so the
  book churns like a real one instead of being rebuilt every step;
- the trader sends a small EXCHANGE MARKET order with probability ``trade_probability`` per step.

Determinism: each market draws from its own ``random.Random(seed + index)``, so the same seed
gives the same decisions step by step (the interleaving with other clients' orders still
depends on timing).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from venue.core.commands import CancelOrders, Command, SubmitOrder
from venue.core.events import Event, RequestRejected
from venue.core.orders import OrderType
from venue.core.symbols import Market, Registry

log = logging.getLogger(__name__)

Submit = Callable[[Command], Awaitable[list[Event]]]

# Funds each simulated account starts with, per currency (whole units). Large on purpose: the
# walk is mean-reverting, but makers must never run out while people watch.
SIM_DEPOSIT_UNITS = 100_000_000


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int = 1
    step_s: float = 0.25
    levels: int = 20
    spacing_ticks: int = 2
    trade_probability_pct: int = 60
    # the walk moves at most this many ticks a step and is pulled back beyond this distance
    max_step_ticks: int = 2
    band_pct: int = 3


def grid_tick(reference_price: int) -> int:
    """The price grid step for a market: 10^(e−3) of its reference price (raw units)."""
    digits = len(str(reference_price))  # raw = price × 1e8, so magnitude shifts by 8 digits
    exponent = digits - 1 - 3
    return 10 ** max(exponent, 0)


@dataclass(slots=True)
class MarketSim:
    """The state of one simulated market: its grid, mid, and random stream."""

    market: Market
    maker_id: int
    trader_id: int
    rng: random.Random
    config: SimConfig
    tick: int = 0
    reference_ticks: int = 0
    mid_ticks: int = 0

    def __post_init__(self) -> None:
        self.tick = grid_tick(self.market.reference_price)
        self.reference_ticks = self.market.reference_price // self.tick
        self.mid_ticks = self.reference_ticks

    # -- decisions (pure, given the random stream) ------------------------------------------

    def walk(self) -> None:
        """Move the mid one random step, pulled back towards the reference price."""
        step = self.rng.randint(-self.config.max_step_ticks, self.config.max_step_ticks)
        band = self.reference_ticks * self.config.band_pct // 100
        if self.mid_ticks - self.reference_ticks > band:
            step = -abs(step)
        elif self.reference_ticks - self.mid_ticks > band:
            step = abs(step)
        # never so low that the bid ladder would reach zero
        floor = self.config.levels * self.config.spacing_ticks + 2
        self.mid_ticks = max(floor, self.mid_ticks + step)

    def quotes(self) -> tuple[list[int], list[int]]:
        """Desired bid and ask prices (raw), best first, on the spacing grid around the mid."""
        g = self.config.spacing_ticks
        below = (self.mid_ticks - 1) // g * g  # the highest grid multiple strictly below the mid
        above = (self.mid_ticks // g + 1) * g  # the lowest one strictly above
        bids = [(below - i * g) * self.tick for i in range(self.config.levels)]
        asks = [(above + i * g) * self.tick for i in range(self.config.levels)]
        return [p for p in bids if p > 0], asks

    def level_amount(self) -> int:
        """A maker level's size: 10–200 minimum order sizes."""
        return self.market.min_order_size * self.rng.randint(10, 200)

    def trade_amount(self) -> int | None:
        """A taker order's signed size, or None when the trader sits this step out."""
        if self.rng.randrange(100) >= self.config.trade_probability_pct:
            return None
        size = self.market.min_order_size * self.rng.randint(2, 120)
        return size if self.rng.randrange(2) else -size


@dataclass(slots=True)
class SimCounters:
    steps: int = 0
    commands: int = 0
    rejected: int = 0


def _rejected(events: list[Event]) -> bool:
    return any(isinstance(e, RequestRejected) for e in events)


@dataclass(slots=True)
class Simulation:
    """All markets of the demo, stepped together."""

    submit: Submit
    exchange: Any
    markets: list[MarketSim]
    config: SimConfig
    counters: SimCounters = field(default_factory=SimCounters)

    async def _send(self, command: Command) -> list[Event]:
        events = await self.submit(command)
        self.counters.commands += 1
        if _rejected(events):
            self.counters.rejected += 1
        return events

    async def requote(self, sim: MarketSim) -> None:
        """Bring the maker's resting orders in line with the desired quotes."""
        bids, asks = sim.quotes()
        wanted = {p: 1 for p in bids} | {p: -1 for p in asks}
        resting = self.exchange.open_orders(sim.maker_id, sim.market.symbol)
        stale: list[int] = []
        have: set[int] = set()
        for order in resting:
            side = 1 if order.amount > 0 else -1
            if wanted.get(order.price) == side and order.price not in have:
                have.add(order.price)
            else:
                stale.append(order.id)
        if stale:
            await self._send(CancelOrders(sim.maker_id, order_ids=tuple(stale)))
        for price, side in wanted.items():
            if price not in have:
                await self._send(
                    SubmitOrder(
                        user_id=sim.maker_id,
                        symbol=sim.market.symbol,
                        type=OrderType.EXCHANGE_LIMIT,
                        amount=side * sim.level_amount(),
                        price=price,
                    )
                )

    async def trade(self, sim: MarketSim) -> None:
        amount = sim.trade_amount()
        if amount is None:
            return
        await self._send(
            SubmitOrder(
                user_id=sim.trader_id,
                symbol=sim.market.symbol,
                type=OrderType.EXCHANGE_MARKET,
                amount=amount,
            )
        )

    async def step(self) -> None:
        """One step of every market: walk, requote, maybe trade."""
        for sim in self.markets:
            sim.walk()
            await self.requote(sim)
            await self.trade(sim)
        self.counters.steps += 1

    async def run(self) -> None:
        """Step forever (until cancelled), every ``config.step_s`` seconds."""
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                # the demo must keep running; a failed step is logged and the next one retried
                log.exception("simulation step failed")
            await asyncio.sleep(self.config.step_s)


def sim_deposits(registry: Registry) -> dict[str, str]:
    """What each simulated account is funded with: every listed currency."""
    return {c.code: str(SIM_DEPOSIT_UNITS) for c in registry.currencies}


async def build_simulation(
    submit: Submit,
    exchange: Any,
    registry: Registry,
    config: SimConfig,
    create_account: Callable[[str, dict[str, str]], Awaitable[int]],
) -> Simulation:
    """Open one maker and one trader account per market (reusing them on a restart)."""
    markets = []
    for index, market in enumerate(registry.markets):
        ids = []
        for role in ("maker", "trader"):
            name = f"sim-{role}-{market.pair}"
            user = exchange.user_by_name(name)
            ids.append(user.user_id if user else await create_account(name, sim_deposits(registry)))
        markets.append(
            MarketSim(
                market=market,
                maker_id=ids[0],
                trader_id=ids[1],
                rng=random.Random(config.seed * 1_000_003 + index),
                config=config,
            )
        )
    return Simulation(submit=submit, exchange=exchange, markets=markets, config=config)

