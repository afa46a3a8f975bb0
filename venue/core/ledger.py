"""Ledger descriptions and categories, in Bitfinex's words (spec §6.7).

Every balance change of every wallet (the fee account's included) is one ledger line with a
category and a description the real exchange would write, e.g.
``Exchange 0.5 BTC for USD @ 8150.0 on wallet exchange`` (category 5) or
``Trading fees for 0.5 BTC (BTCUSD) @ 8150.0 on BFX (0.2%) on wallet exchange`` (201).
Amounts and prices in descriptions keep a ``.0`` on integral values, as in the real texts.
"""

from __future__ import annotations

from venue.core.numbers import to_status_text, to_text

CATEGORY_EXCHANGE = 5
CATEGORY_TRANSFER = 51
CATEGORY_DEPOSIT = 101
CATEGORY_WITHDRAWAL = 104
CATEGORY_TRADING_FEE = 201
CATEGORY_WITHDRAWAL_FEE = 254

WALLETS = ("exchange", "margin", "funding")


def exchange_text(amount: int, base: str, quote: str, price: int, wallet: str = "exchange") -> str:
    """``Exchange 0.5 BTC for USD @ 8150.0 on wallet exchange`` (both legs of a trade)."""
    return (
        f"Exchange {to_status_text(abs(amount))} {base} for {quote} @ {to_status_text(price)}"
        f" on wallet {wallet}"
    )


def fee_percent(rate_ppm: int) -> str:
    """``0.2`` for 2000 ppm: the rate as Bitfinex prints it in fee descriptions."""
    return to_text(rate_ppm * 10_000)  # ppm → percent at the 1e-8 scale: ppm / 10^4 * 10^8


def trading_fee_text(
    amount: int, base: str, pair: str, price: int, rate_ppm: int, wallet: str = "exchange"
) -> str:
    """``Trading fees for 0.5 BTC (BTCUSD) @ 8150.0 on BFX (0.2%) on wallet exchange``."""
    return (
        f"Trading fees for {to_status_text(abs(amount))} {base} ({pair}) @ "
        f"{to_status_text(price)} on BFX ({fee_percent(rate_ppm)}%) on wallet {wallet}"
    )


def deposit_text(method: str, movement_id: int, wallet: str) -> str:
    """``Deposit (BITCOIN) #12 on wallet exchange``."""
    return f"Deposit ({method}) #{movement_id} on wallet {wallet}"


def withdrawal_text(method: str, movement_id: int, wallet: str) -> str:
    """``Withdrawal (BITCOIN) #13 on wallet exchange`` (mirrors the deposit wording)."""
    return f"Withdrawal ({method}) #{movement_id} on wallet {wallet}"


def withdrawal_fee_text(method: str, movement_id: int, wallet: str) -> str:
    """``Withdrawal fee (BITCOIN) #13 on wallet exchange``."""
    return f"Withdrawal fee ({method}) #{movement_id} on wallet {wallet}"


def transfer_text(amount: int, currency: str, wallet_from: str, wallet_to: str, wallet: str) -> str:
    """``Transfer of 50.0 USD from wallet Exchange to Margin on wallet exchange``."""
    return (
        f"Transfer of {to_status_text(abs(amount))} {currency} from wallet "
        f"{wallet_from.capitalize()} to {wallet_to.capitalize()} on wallet {wallet}"
    )


_FEE_PERCENT: dict[int, str] = {}  # rate ppm -> fee_percent(rate): a pure cache


def fill_texts(
    amount_text: str, base: str, quote: str, pair: str, price_text: str, buyer_rate: int,
    seller_rate: int,
) -> tuple[str, str, str]:
    """``exchange_text`` and the buyer's and seller's ``trading_fee_text`` of one fill (exchange
    wallet) from the fill's ``to_status_text`` of |amount| and of price: the same strings, with
    the numbers formatted once per fill."""
    percents = _FEE_PERCENT
    buyer_percent = percents.get(buyer_rate)
    if buyer_percent is None:
        buyer_percent = percents[buyer_rate] = fee_percent(buyer_rate)
    seller_percent = percents.get(seller_rate)
    if seller_percent is None:
        seller_percent = percents[seller_rate] = fee_percent(seller_rate)
    fees = f"Trading fees for {amount_text} {base} ({pair}) @ {price_text} on BFX ("
    return (f"Exchange {amount_text} {base} for {quote} @ {price_text} on wallet exchange",
            f"{fees}{buyer_percent}%) on wallet exchange",
            f"{fees}{seller_percent}%) on wallet exchange")
