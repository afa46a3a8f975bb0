"""The demo market (venue/sim): simulated makers keep every book two-sided around the reference
price, traders make trades, and all of it goes through the sequencer like any client's orders."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from venue.config import load_settings
from venue.core.numbers import parse_price, to_decimal_from_raw
from venue.core.symbols import load_registry
from venue.sim.market import MarketSim, SimConfig, Simulation, build_simulation, grid_tick

from tests.e2e.conftest import RunningServer

REGISTRY = load_registry()


def _sim(symbol: str, seed: int = 7) -> MarketSim:
    market = REGISTRY.market(symbol)
    assert market is not None
    return MarketSim(market, maker_id=1, trader_id=2, rng=random.Random(seed), config=SimConfig())


def _significant_digits(raw: int) -> int:
    return len(to_decimal_from_raw(raw).normalize().as_tuple().digits)


@pytest.mark.parametrize("market", REGISTRY.markets, ids=lambda m: m.symbol)
def test_quotes_are_two_sided_uncrossed_and_valid_prices(market) -> None:  # type: ignore[no-untyped-def]
    sim = _sim(market.symbol)
    for _ in range(200):
        sim.walk()
        bids, asks = sim.quotes()
        assert len(bids) == len(asks) == SimConfig().levels
        assert max(bids) < min(asks)
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        for price in bids + asks:
            # every quote passes the 5-significant-digit rule unchanged (spec §2.2)
            assert parse_price(str(to_decimal_from_raw(price))) == price
            assert _significant_digits(price) <= 5


@pytest.mark.parametrize("market", REGISTRY.markets, ids=lambda m: m.symbol)
def test_the_mid_stays_near_the_reference_price(market) -> None:  # type: ignore[no-untyped-def]
    sim = _sim(market.symbol)
    for _ in range(5000):
        sim.walk()
        drift = abs(Decimal(sim.mid_ticks * sim.tick) / market.reference_price - 1)
        assert drift < Decimal("0.035")


def test_a_one_tick_move_changes_at_most_one_level_per_side() -> None:
    sim = _sim("tBTCUSD")
    bids, asks = sim.quotes()
    sim.mid_ticks += 1
    moved_bids, moved_asks = sim.quotes()
    assert len(set(bids) ^ set(moved_bids)) <= 2 and len(set(asks) ^ set(moved_asks)) <= 2


def test_the_same_seed_makes_the_same_decisions() -> None:
    first, second = _sim("tETHUSD", seed=3), _sim("tETHUSD", seed=3)
    for _ in range(100):
        first.walk()
        second.walk()
        assert first.quotes() == second.quotes()
        assert first.trade_amount() == second.trade_amount()
        assert first.level_amount() == second.level_amount()


def test_grid_tick_is_a_thousandth_of_the_price_magnitude() -> None:
    assert grid_tick(parse_price("90000")) == parse_price("10")
    assert grid_tick(parse_price("3000")) == parse_price("1")
    assert grid_tick(parse_price("0.55")) == parse_price("0.0001")
    assert grid_tick(parse_price("0.033")) == parse_price("0.00001")


def test_the_simulation_makes_every_market_live(tmp_path: Path) -> None:
    settings = replace(load_settings(data_dir=tmp_path, port=0), rate_limits=False, durability="os")
    server = RunningServer(settings)
    try:
        ctx = server.ctx

        async def create(name: str, deposits: dict[str, str]) -> int:
            from venue.gateway import admin

            return (await admin.create_account(ctx.submit, ctx.registry, name, deposits)).user_id

        async def run_steps() -> Simulation:
            sim = await build_simulation(
                ctx.submit, ctx.exchange, ctx.registry, SimConfig(seed=5, trade_probability_pct=100), create
            )
            for _ in range(5):
                await sim.step()
            return sim

        sim = server.run(run_steps(), timeout=120)
        assert sim.counters.rejected == 0
        for market in REGISTRY.markets:
            bid = ctx.market_data.books.best_bid(market.symbol)
            ask = ctx.market_data.books.best_ask(market.symbol)
            assert bid is not None and ask is not None and bid < ask, market.symbol
            ticker = ctx.market_data.tickers.row(market.symbol)
            assert ticker.last_price > 0 and ticker.volume > 0, market.symbol
        assert ctx.stats.trades >= len(REGISTRY.markets) * 5
        assert ctx.stats.orders > 0
    finally:
        server.close()
