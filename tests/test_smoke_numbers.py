"""The wire number rules of spec §2.2, at the core's edge."""

from venue.core.numbers import cut_price, parse_amount, parse_price, to_status_text, to_text


def test_prices_keep_five_significant_digits_rounding_half_up():
    assert to_text(parse_price("9122.1687")) == "9122.2"
    assert to_text(parse_price("0.000123456")) == "0.00012346"
    assert to_text(parse_price(100.0)) == "100"


def test_amounts_keep_eight_decimals_and_shortest_text():
    assert to_text(parse_amount(0.00005)) == "0.00005"
    assert to_text(parse_amount("-1.500000004")) == "-1.5"
    assert to_status_text(parse_amount(8150)) == "8150.0"


def test_cut_price_on_raw_values():
    assert cut_price(parse_price("1234.5") * 10 + 7) == parse_price("12345")
