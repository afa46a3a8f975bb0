"""Market-data and history views: derived state folded from core events.

Every view has ``apply(seq, ts, events)``, called after each applied command, and read methods
for the REST and WS layers. ``market_data.MarketData`` holds them all behind one ``apply`` and
one ``flush``. Modules: ``books`` (R0, P0–P4, WS top-N trackers), ``checksum`` (§7.5),
``ticker`` (24 h rolling), ``candles`` (all timeframes), ``stats`` (stats1), ``history``
(SQLite store of trades, hourly tickers, candles, stats and private history).
"""
