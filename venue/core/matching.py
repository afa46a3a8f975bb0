"""Matching: every market's book and stops, the open orders, fills and their settlement.

Rules this module keeps (the exchange validates commands before it calls in here):
- price-time priority: a taker trades with the best price first and, within a price, with the
  oldest queued order first; the trade price is the maker's price;
- a limit order rests only after nothing it crosses is left, so the book is never crossed;
- each fill settles at once in the exchange wallets: the buyer pays ``amount × price`` (rounded
  down to 1e-8, so the holds computed with rounding up always cover it) and receives the base
  minus its fee; the seller delivers the base and receives the quote minus its fee (spec §6.4:
  buyers pay fees in base, sellers in quote); fees go to the fee account; the taker pays
  ``taker_fee_ppm``, the maker ``maker_fee_ppm``;
- an order's ``hold`` is what it still reserves in the currency it pays with; every fill
  consumes hold, every close releases the rest; ``filled + remaining = orig`` always;
- stops trigger on the last trade price after each taker finished, cascading until no stop
  triggers (``run_triggers``); a triggered STOP/TRAILING STOP becomes an EXCHANGE MARKET order,
  a STOP LIMIT an EXCHANGE LIMIT at ``price_aux_limit``, keeping its id (TYPE_PREV = old type);
  a trailing stop whose price followed the market and is still pending gets one OrderUpdated
  at the end of the command with its new price;
- OCO: the limit leg and the stop leg name each other in ``placed_id``; the first fill of one
  leg, the triggering of the stop leg, or the cancel/expiry of either (a post-only limit leg
  closed ``POSTONLY CANCELED`` included) cancels the other; the limit leg holds what it needs,
  the stop leg only what it needs beyond that (``oco_top_up``): the pair holds max of both;
- a market order that runs out of liquidity closes with ``CANCELED`` (after its fills:
  ``CANCELED was: PARTIALLY FILLED @ …``), the status ccxt and Node map to "canceled"; a market
  buy is only accepted (or, triggered from a stop, only run) when the balance covers its whole
  amount (``market_buy_cost``), so it never stops short for want of funds;
- self-trades are allowed (Bitfinex only prevents them on request), they settle like any other.

Event order follows events.py: OrderAccepted/OrderUpdated (announce) first, then per fill
TradeExecuted, AccountTrade taker, AccountTrade maker, the maker's OrderUpdated/OrderClosed;
then the taker's final OrderUpdated/OrderClosed.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Callable

from venue.core.accounts import Accounts, Batch
from venue.core.book import (
    FOK, IOC, LIMIT, MARKET, STOP_LIMIT, TYPE_TEXT, BookSide, Order,
)
from venue.core.events import Event
from venue.core.frozen import (
    new_account_trade, new_order_closed, new_order_updated, new_trade_executed,
)
from venue.core.ledger import CATEGORY_EXCHANGE, CATEGORY_TRADING_FEE, fill_texts
from venue.core.numbers import SCALE, fee, mul_ceil, to_status_text
from venue.core.orders import OrderState, OrderType
from venue.core.status import (
    CANCELED, FILLORKILL_CANCELED, INSUFFICIENT_BALANCE, IOC_CANCELED, POSTONLY_CANCELED,
    PARTIAL, extend_open, final_status,
)
from venue.core.symbols import Market, Registry
from venue.core.triggers import StopBook

FEE_ACCOUNT_ID = 0
EXCHANGE_WALLET = "exchange"

Announce = Callable[[OrderState], Event]


class MarketState:
    """One market: its two book sides, its pending stops and its last trade price."""

    __slots__ = ("market", "bids", "asks", "stops", "last_price")

    def __init__(self, market: Market) -> None:
        self.market = market
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.stops = StopBook()
        self.last_price: int | None = None

    def reference_price(self) -> int:
        """Last trade price, or the configured reference before the first trade."""
        return self.last_price if self.last_price is not None else self.market.reference_price


class Engine:
    """Open orders of all markets and the matching of takers against makers."""

    def __init__(self, registry: Registry, accounts: Accounts) -> None:
        self.accounts = accounts
        self.markets: dict[str, MarketState] = {m.symbol: MarketState(m) for m in registry.markets}
        self.orders: dict[int, Order] = {}  # open orders by id (ids grow: creation order)
        self.by_user: dict[int, dict[int, Order]] = {}
        self.tif_heap: list[tuple[int, int]] = []  # (tif_ts, order id), lazily deleted
        self.next_order_id = 1
        self.next_trade_id = 1
        self.queue_seq = 0

    # -- bookkeeping -------------------------------------------------------------------------

    def new_order_id(self) -> int:
        oid = self.next_order_id
        self.next_order_id = oid + 1
        return oid

    def index(self, order: Order) -> None:
        """Make ``order`` open: findable by id and among its user's orders (creation order)."""
        self.orders[order.id] = order
        user_orders = self.by_user.get(order.user_id)
        if user_orders is None:
            user_orders = self.by_user[order.user_id] = {}
        user_orders[order.id] = order
        self.index_tif(order)

    def index_tif(self, order: Order) -> None:
        """Schedule the expiry of ``order`` at its ``tif_ts`` (older entries die lazily)."""
        if order.tif_ts is not None:
            heappush(self.tif_heap, (order.tif_ts, order.id))

    def _unindex(self, order: Order) -> None:
        del self.orders[order.id]
        user_orders = self.by_user[order.user_id]
        del user_orders[order.id]
        if not user_orders:
            del self.by_user[order.user_id]

    def hold_currency(self, order: Order) -> str:
        """The currency ``order`` pays with: quote to buy, base to sell."""
        currency = order.hold_currency
        if currency is None:
            market = self.markets[order.symbol].market
            currency = order.hold_currency = market.quote if order.is_buy else market.base
        return currency

    def set_hold(self, batch: Batch, order: Order, amount: int) -> None:
        """Make ``order`` reserve exactly ``amount`` of its paying currency."""
        delta = amount - order.hold
        if delta:
            order.hold = amount
            self.accounts.change_hold(batch, order.user_id, self.hold_currency(order), delta)

    def rest(self, ms: MarketState, order: Order) -> None:
        self.queue_seq += 1
        (ms.bids if order.is_buy else ms.asks).add(order, self.queue_seq)

    def unrest(self, ms: MarketState, order: Order) -> None:
        (ms.bids if order.is_buy else ms.asks).remove(order)

    # -- what an order needs -----------------------------------------------------------------

    def market_buy_cost(self, ms: MarketState, amount: int) -> tuple[int, int]:
        """What buying ``amount`` at market must be covered by now, and the price it ends at.

        Walks the asks, hidden ones included, best first; per level ``floor(total × price)``
        bounds the sum of the per-fill rounded-down values. The part the book cannot fill is
        priced at the deepest ask walked (the reference price when there is no ask): a market
        order must be covered for its whole amount, it is refused rather than partly accepted
        (Bitfinex: "We reject orders if there is insufficient balance to fill them",
        bitfinex-api-node#443), even though that part will be cancelled for want of liquidity.
        No fee is added: a buyer pays its fee in the base it receives (spec §6.4).
        """
        cost = 0
        worst = 0
        left = amount
        asks = ms.asks
        for price in asks.prices():
            take = min(left, asks.levels[price].total)
            cost += take * price // SCALE
            worst = price
            left -= take
            if not left:
                return cost, worst
        worst = worst or ms.reference_price()
        return cost + mul_ceil(left, worst), worst

    def fillable(self, ms: MarketState, is_buy: bool, amount: int, limit: int) -> bool:
        """Whether ``amount`` can be filled now at ``limit`` or better (FOK)."""
        side = ms.asks if is_buy else ms.bids
        left = amount
        for price in side.prices():
            if (price > limit) if is_buy else (price < limit):
                return False
            left -= side.levels[price].total
            if left <= 0:
                return True
        return False

    def required_hold(self, ms: MarketState, order: Order) -> int:
        """What ``order`` must reserve in its present form, on its own (the stop leg of a live
        OCO pair holds less: ``oco_top_up``)."""
        return self.hold_for(
            ms, order.is_buy, order.kind, order.remaining, order.price, order.price_aux_limit)

    def hold_for(
        self, ms: MarketState, is_buy: bool, kind: str, remaining: int, price: int, aux: int,
    ) -> int:
        """What an order of this shape must reserve: base to sell; quote to buy, at its limit
        (STOP LIMIT: its aux limit; STOP and TRAILING STOP: their trigger price), or for a
        market buy the cost of walking the book now."""
        if not is_buy:
            return remaining
        if kind == MARKET:
            return self.market_buy_cost(ms, remaining)[0]
        if kind == STOP_LIMIT:
            return mul_ceil(remaining, aux)
        return mul_ceil(remaining, price)

    @staticmethod
    def oco_top_up(stop_need: int, limit_hold: int) -> int:
        """What the stop leg of an OCO pair holds beyond its limit leg's ``limit_hold``: the
        pair reserves what its dearer leg needs, max(limit, stop), so whichever leg runs is
        paid for (a buy stop above its limit costs more); the first fill or trigger of one
        leg closes the other, and its hold with it."""
        return stop_need - limit_hold if stop_need > limit_hold else 0

    # -- placing -----------------------------------------------------------------------------

    def crosses(self, ms: MarketState, order: Order) -> bool:
        """Whether ``order`` would take liquidity now."""
        if order.is_buy:
            best = ms.asks.best()
            return best is not None and (order.kind == MARKET or best <= order.price)
        best = ms.bids.best()
        return best is not None and (order.kind == MARKET or best >= order.price)

    def _crosses_visible(self, ms: MarketState, order: Order) -> bool:
        """Whether ``order`` would take a visible (not hidden) resting order now."""
        side = ms.asks if order.is_buy else ms.bids
        for price in side.prices():
            if order.kind != MARKET and (
                    (price > order.price) if order.is_buy else (price < order.price)):
                return False
            if any(not o.hidden for o in side.levels[price].orders()):
                return True
        return False

    def execute(
        self, batch: Batch, ms: MarketState, order: Order, announce: Announce | None
    ) -> None:
        """Run a live (non-stop) order: announce it, match it, rest or close what is left.

        ``announce`` makes the first event (OrderAccepted for a new order, OrderUpdated for an
        amended or triggered one); None when the caller already announced the order, e.g. the
        limit leg of an OCO pair, which is accepted together with its stop leg.
        """
        events = batch.events
        kind = order.kind
        crossing = self.crosses(ms, order)
        if kind == LIMIT and not crossing:
            if not order.resting:
                self.rest(ms, order)
            events.append((announce or new_order_updated)(order.state()))
            return
        if order.resting:
            self.unrest(ms, order)
        if kind == MARKET:
            best = (ms.asks if order.is_buy else ms.bids).best()
            if best is not None:
                order.price = best
        if announce is not None:
            events.append(announce(order.state()))
        if order.post_only and crossing and self._crosses_visible(ms, order):
            # spec §6.1: post-only trades only as maker, except against hidden orders
            self.close(batch, order, POSTONLY_CANCELED)
            self.cancel_partner(batch, order)  # the limit leg of an OCO pair takes its stop
            return
        if kind == FOK and not self.fillable(ms, order.is_buy, order.remaining, order.price):
            self.close(batch, order, FILLORKILL_CANCELED)
            return
        if crossing:
            self._match(batch, ms, order)
        if order.closed:
            return
        if not order.remaining:
            self.close(batch, order, None)
        elif kind == LIMIT:
            self.rest(ms, order)
            events.append(new_order_updated(order.state()))
        elif kind == IOC:
            self.close(batch, order, IOC_CANCELED)
        else:
            self.close(batch, order, CANCELED)

    def _match(self, batch: Batch, ms: MarketState, taker: Order) -> None:
        is_buy = taker.is_buy
        book = ms.asks if is_buy else ms.bids
        levels = book.levels
        limit = None if taker.kind == MARKET else taker.price
        while taker.remaining:
            best = book.best()
            if best is None:
                break
            if limit is not None and ((best > limit) if is_buy else (best < limit)):
                break
            level = levels[best]
            while taker.remaining and level.live:
                maker = level.head()
                amount = taker.remaining if taker.remaining < maker.remaining else maker.remaining
                self._fill(batch, ms, book, taker, maker, amount)
                if taker.closed:
                    return

    def _fill(
        self, batch: Batch, ms: MarketState, book: BookSide, taker: Order, maker: Order,
        amount: int,
    ) -> None:
        market = ms.market
        base = market.base
        quote = market.quote
        price = maker.price
        value = amount * price // SCALE
        ts = batch.ts
        events = batch.events
        accounts = self.accounts
        trade_id = self.next_trade_id
        self.next_trade_id = trade_id + 1

        book.reduce(maker, amount)
        # numbers as status and ledger texts write them, formatted once for the whole fill
        amount_text = to_status_text(amount)
        price_text = to_status_text(price)
        for order in (taker, maker):
            order.remaining -= amount
            order.filled += amount
            order.filled_value += amount * price
            fills = order.fills
            if order.is_buy:
                fills.append((price, amount))
                clause = f"{PARTIAL}{price_text}({amount_text})"  # PARTIAL + fill_text(fill)
            else:
                fills.append((price, -amount))
                clause = f"{PARTIAL}{price_text}(-{amount_text})"
            text = order.open_text
            if text is not None:  # keep the open status current: append this fill's clause
                order.open_text = extend_open(text, clause, len(fills) == 1)
            order.updated_ts = ts
        if taker.kind == MARKET:
            taker.price = price

        if taker.is_buy:
            buyer, seller = taker, maker
            buyer_rate, seller_rate = market.taker_fee_ppm, market.maker_fee_ppm
        else:
            buyer, seller = maker, taker
            buyer_rate, seller_rate = market.maker_fee_ppm, market.taker_fee_ppm
        buyer.hold -= value
        accounts.change_hold(batch, buyer.user_id, quote, -value)
        seller.hold -= amount
        accounts.change_hold(batch, seller.user_id, base, -amount)

        fee_buyer = fee(amount, buyer_rate)
        fee_seller = fee(value, seller_rate)
        text, buyer_fee_text, seller_fee_text = fill_texts(
            amount_text, base, quote, market.pair, price_text, buyer_rate, seller_rate)
        change = accounts.change
        for order in (taker, maker):
            user = order.user_id
            # a dust fill (amount × price below 1e-8) moves no quote: no ledger line for it
            if order is buyer:
                change(batch, user, EXCHANGE_WALLET, base, amount, text, CATEGORY_EXCHANGE)
                if value:
                    change(batch, user, EXCHANGE_WALLET, quote, -value, text, CATEGORY_EXCHANGE)
                if fee_buyer:
                    change(batch, user, EXCHANGE_WALLET, base, -fee_buyer, buyer_fee_text,
                           CATEGORY_TRADING_FEE)
            else:
                change(batch, user, EXCHANGE_WALLET, base, -amount, text, CATEGORY_EXCHANGE)
                if value:
                    change(batch, user, EXCHANGE_WALLET, quote, value, text, CATEGORY_EXCHANGE)
                if fee_seller:
                    change(batch, user, EXCHANGE_WALLET, quote, -fee_seller, seller_fee_text,
                           CATEGORY_TRADING_FEE)
        if fee_buyer:
            change(batch, FEE_ACCOUNT_ID, EXCHANGE_WALLET, base, fee_buyer, buyer_fee_text,
                   CATEGORY_TRADING_FEE)
        if fee_seller:
            change(batch, FEE_ACCOUNT_ID, EXCHANGE_WALLET, quote, fee_seller, seller_fee_text,
                   CATEGORY_TRADING_FEE)

        symbol = market.symbol
        signed = amount if taker.is_buy else -amount
        events.append(new_trade_executed(trade_id, symbol, ts, price, signed, taker.id,
                                         maker.id, taker.user_id, maker.user_id))
        for order, is_maker in ((taker, False), (maker, True)):
            paid = fee_buyer if order is buyer else fee_seller
            events.append(new_account_trade(
                trade_id, order.user_id, symbol, ts, order.id, TYPE_TEXT[order.type],
                order.price, amount if order.is_buy else -amount, price, is_maker, -paid,
                base if order is buyer else quote, order.client_order_id,
            ))
        ms.last_price = price
        if ms.stops.trailing:
            ms.stops.observe(price)

        if maker.remaining:
            events.append(new_order_updated(maker.state()))
        else:
            self.close(batch, maker, None)
        # OCO (spec §6.1): the first fill of either leg cancels the other one.
        for order in (maker, taker):
            if order.placed_id is not None and len(order.fills) == 1:
                self.cancel_partner(batch, order)

    # -- closing -----------------------------------------------------------------------------

    def close(self, batch: Batch, order: Order, reason: str | None) -> OrderState:
        """Take ``order`` out of the exchange with status ``reason`` (None: executed); returns
        its final snapshot (the one in the OrderClosed event)."""
        ms = self.markets[order.symbol]
        if order.resting:
            self.unrest(ms, order)
        if order.stop_pending:
            ms.stops.remove(order)
        self.set_hold(batch, order, 0)
        order.status = final_status(reason, order.fills, order.open_text)
        order.closed = True
        order.updated_ts = batch.ts
        self._unindex(order)
        state = order.state()
        batch.events.append(new_order_closed(state))
        return state

    def cancel(self, batch: Batch, order: Order) -> OrderState:
        """Cancel an open order (and its OCO partner); returns the order's final snapshot
        (closing the partner changes nothing of the order itself)."""
        state = self.close(batch, order, CANCELED)
        self.cancel_partner(batch, order)
        return state

    def cancel_partner(self, batch: Batch, order: Order) -> None:
        pid = order.placed_id
        if pid is None:
            return
        partner = self.orders.get(pid)
        if partner is not None:
            self.close(batch, partner, CANCELED)

    def expire(self, batch: Batch, ts: int) -> None:
        """Cancel every order whose tif is at or before ``ts``, earliest tif first."""
        heap = self.tif_heap
        while heap and heap[0][0] <= ts:
            tif, oid = heappop(heap)
            order = self.orders.get(oid)
            if order is not None and order.tif_ts == tif:
                self.cancel(batch, order)

    # -- stops -------------------------------------------------------------------------------

    def run_triggers(self, batch: Batch, ms: MarketState) -> None:
        """Trigger stops on the last price until none is left to trigger (cascade)."""
        stops = ms.stops
        while stops.orders and ms.last_price is not None:
            fired = stops.triggered(ms.last_price)
            if not fired:
                break
            for order in fired:
                if not order.closed:
                    self._trigger(batch, ms, order)
        if stops.moved:
            # trailing stops that followed the market and are still pending: their new price,
            # oldest order first (not in StopBook order: an amended stop is re-added at the
            # end, and a restored snapshot re-adds in id order; the events must not differ)
            for order in sorted(stops.moved.values(), key=_order_id):
                if order.stop_pending:
                    order.updated_ts = batch.ts
                    batch.events.append(new_order_updated(order.state()))
            stops.moved = {}

    def _trigger(self, batch: Batch, ms: MarketState, order: Order) -> None:
        self.cancel_partner(batch, order)  # an OCO stop leg that triggers cancels the limit leg
        order.placed_id = None
        order.type_prev = order.type
        if order.kind == STOP_LIMIT:
            order.type = OrderType.EXCHANGE_LIMIT
            order.kind = LIMIT
            order.price = order.price_aux_limit
        else:
            order.type = OrderType.EXCHANGE_MARKET
            order.kind = MARKET
        order.updated_ts = batch.ts
        self.set_hold(batch, order, 0)
        need = self.required_hold(ms, order)
        if need > self.accounts.available(order.user_id, EXCHANGE_WALLET,
                                          self.hold_currency(order)):
            self.close(batch, order, INSUFFICIENT_BALANCE)
            return
        self.set_hold(batch, order, need)
        self.execute(batch, ms, order, new_order_updated)


def _order_id(order: Order) -> int:
    return order.id
