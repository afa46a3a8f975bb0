"""History store: §2.4 queries, batched writes with last_seq, and survival across restarts."""

from __future__ import annotations

from tests.views.builders import account_trade, amt, closed, ledger, movement, px, trade
from venue.views.history import History, PublicTrade, TickerSample

T = 1_700_000_000_000


def filled(history: History) -> History:
    history.apply(1, T, [trade(i, T + i * 1000, str(100 + i), "1") for i in range(1, 6)])
    history.apply(2, T, [trade(10, T + 3000, "50", "-2", symbol="tLTCUSD")])
    return history


def test_public_trades_newest_first_by_default():
    history = filled(History())
    rows = history.trades("tBTCUSD")
    assert [r.id for r in rows] == [5, 4, 3, 2, 1]
    assert rows[0] == PublicTrade(5, T + 5000, amt("1"), px("105"))


def test_start_and_end_are_inclusive_and_limit_cuts_from_the_sorted_end():
    history = filled(History())
    assert [r.id for r in history.trades("tBTCUSD", start=T + 2000, end=T + 4000)] == [4, 3, 2]
    assert [r.id for r in history.trades("tBTCUSD", limit=2, sort=1)] == [1, 2]
    assert [r.id for r in history.trades("tBTCUSD", limit=2)] == [5, 4]
    assert [r.id for r in history.trades("tBTCUSD", start=T + 4000, sort=1)] == [4, 5]
    assert [r.id for r in history.trades("tLTCUSD")] == [10]
    assert history.trades("tETHUSD") == []


def test_same_millisecond_trades_are_ordered_by_id():
    history = History()
    history.apply(1, T, [trade(7, T, "100", "1"), trade(8, T, "100", "1"), trade(9, T, "100", "1")])
    assert [r.id for r in history.trades("tBTCUSD")] == [9, 8, 7]
    assert [r.id for r in history.trades("tBTCUSD", sort=1)] == [7, 8, 9]


def test_closed_orders_are_kept_per_user_with_their_final_state():
    history = History()
    history.apply(1, T, [closed(1, "100", "0", amount_orig="1", ts=T, status="EXECUTED @ 100.0(1.0)")])
    history.apply(2, T, [closed(2, "101", "0.5", amount_orig="1", ts=T + 5, status="CANCELED"),
                         closed(3, "102", "1", ts=T + 9, user_id=2, symbol="tETHUSD")])
    orders = history.orders(1)
    assert [o.id for o in orders] == [2, 1]
    assert orders[1] == closed(1, "100", "0", amount_orig="1", ts=T,
                               status="EXECUTED @ 100.0(1.0)").order
    assert [o.id for o in history.orders(1, ids=[1])] == [1]
    assert history.orders(1, ids=[]) == []
    assert history.orders(1, symbol="tETHUSD") == []
    assert [o.id for o in history.orders(2, symbol="tETHUSD")] == [3]


def test_account_trades_ledgers_and_movements_filter_by_user():
    history = History()
    history.apply(1, T, [
        account_trade(1, 1, T, "100", "1", order_id=7),
        account_trade(1, 2, T, "100", "-1", order_id=8),
        account_trade(2, 1, T + 1, "101", "1", order_id=9, symbol="tETHUSD"),
        ledger(1, 1, T), ledger(2, 1, T + 1, currency="BTC", category=201), ledger(3, 2, T),
        movement(1, 1, T), movement(2, 2, T, currency="USD"),
    ])
    assert [(t.trade_id, t.order_id) for t in history.account_trades(1)] == [(2, 9), (1, 7)]
    assert history.account_trades(1, symbol="tBTCUSD")[0] == account_trade(1, 1, T, "100", "1",
                                                                           order_id=7)
    assert [t.order_id for t in history.account_trades(2)] == [8]
    assert [t.trade_id for t in history.account_trades(1, order_id=9)] == [2]
    assert [e.entry_id for e in history.ledgers(1)] == [2, 1]
    assert [e.entry_id for e in history.ledgers(1, currency="USD")] == [1]
    assert [e.entry_id for e in history.ledgers(1, category=201)] == [2]
    assert history.movements(1) == [movement(1, 1, T)]
    assert history.movements(1, currency="USD") == []


def test_ticker_samples_filter_by_symbols_and_time():
    history = History()
    history.stage_ticker_sample(TickerSample("tBTCUSD", px("100"), px("101"), T))
    history.stage_ticker_sample(TickerSample("tETHUSD", None, px("3"), T))
    history.stage_ticker_sample(TickerSample("tBTCUSD", px("102"), px("103"), T + 3_600_000))
    assert history.tickers_hist(["tETHUSD"]) == [TickerSample("tETHUSD", None, px("3"), T)]
    assert [s.mts for s in history.tickers_hist(["tBTCUSD"], sort=1)] == [T, T + 3_600_000]
    assert len(history.tickers_hist(None)) == 3
    assert len(history.tickers_hist(None, end=T)) == 2


def test_flush_stores_rows_with_the_last_seq_and_a_restart_reads_them(tmp_path):
    path = tmp_path / "history.sqlite"
    history = History(path)
    assert history.last_seq() == 0
    filled(history)
    assert history.last_seq() == 0  # buffered only
    history.flush()
    assert history.last_seq() == 2
    history.apply(3, T, [trade(11, T + 9000, "1", "1")])  # never flushed: lost on "crash"
    history._db.close()

    reopened = History(path)
    assert reopened.last_seq() == 2
    assert [r.id for r in reopened.trades("tBTCUSD")] == [5, 4, 3, 2, 1]
    # The gateway replays from last_seq + 1; replaying older commands changes nothing.
    reopened.apply(2, T, [trade(10, T + 3000, "50", "-2", symbol="tLTCUSD")])
    reopened.apply(3, T, [trade(11, T + 9000, "1", "1")])
    assert [r.id for r in reopened.trades("tBTCUSD")] == [11, 5, 4, 3, 2, 1]
    assert [r.id for r in reopened.trades("tLTCUSD")] == [10]
    assert reopened.last_seq() == 3
    reopened.close()


def test_gateway_names_closed_orders_order_trades_and_wallet_filter():
    history = History()
    history.apply(1, T, [
        closed(1, "100", "0", ts=T), closed(2, "100", "0", ts=T + 1),
        account_trade(1, 1, T, "100", "1", order_id=7), account_trade(2, 1, T + 1, "100", "1", order_id=7),
        account_trade(3, 1, T + 2, "100", "1", order_id=8),
        ledger(1, 1, T),
    ])
    assert [o.id for o in history.closed_orders(1, ids=[2])] == [2]
    assert [t.trade_id for t in history.order_trades(1, 7)] == [2, 1]
    assert [e.entry_id for e in history.ledgers(1, wallet="exchange")] == [1]
    assert history.ledgers(1, wallet="margin") == []
