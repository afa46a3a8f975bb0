"""The markets and currencies registry shipped with the package (issue part 2, spec §2.1)."""

from __future__ import annotations

import pytest

from venue.core.numbers import parse_amount
from venue.core.symbols import load_registry, pair_symbol, registry_from_config, split_pair


def test_the_shipped_config_lists_the_required_markets_in_config_order() -> None:
    registry = load_registry()
    symbols = [m.symbol for m in registry.markets]
    for symbol in ("tBTCUSD", "tETHUSD", "tETHBTC", "tLTCUSD", "tXRPUSD", "tSOLUSD", "tBTCUST",
                   "tTESTBTC:TESTUSD"):
        assert symbol in symbols
    assert symbols.index("tBTCUSD") < symbols.index("tTESTBTC:TESTUSD")
    for market in registry.markets:
        assert registry.has_currency(market.base) and registry.has_currency(market.quote)
        assert 0 < market.min_order_size < market.max_order_size
        assert (market.maker_fee_ppm, market.taker_fee_ppm) == (1000, 2000)  # 0.1 % / 0.2 %


def test_market_sizes_are_exact_and_names_follow_bitfinex() -> None:
    registry = load_registry()
    btc = registry.market("tBTCUSD")
    test = registry.market("tTESTBTC:TESTUSD")
    assert btc is not None and test is not None
    assert (btc.min_order_size, btc.max_order_size) == (parse_amount("0.00004"),
                                                        parse_amount(2000))
    assert (btc.pair, btc.display_pair) == ("BTCUSD", "BTC/USD")
    assert (test.base, test.quote, test.pair) == ("TESTBTC", "TESTUSD", "TESTBTC:TESTUSD")
    assert registry.market("tBTCXYZ") is None and registry.market("btcusd") is None


def test_symbols_join_long_codes_with_a_colon() -> None:
    assert pair_symbol("BTC", "USD") == "tBTCUSD"
    assert pair_symbol("TESTBTC", "TESTUSD") == "tTESTBTC:TESTUSD"
    assert pair_symbol("AAVE", "UST") == "tAAVE:UST"
    assert split_pair("tAAVE:UST") == ("AAVE", "UST")
    with pytest.raises(ValueError):
        split_pair("tBTCUSDT")


def test_a_market_naming_an_unlisted_currency_is_refused() -> None:
    config = {"currencies": [{"code": "BTC", "name": "Bitcoin"}],
              "markets": [{"symbol": "tBTCUSD", "min_order_size": "0.001",
                           "max_order_size": "10"}]}
    with pytest.raises(ValueError):
        registry_from_config(config)
