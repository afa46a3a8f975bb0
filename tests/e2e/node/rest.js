'use strict'

// RESTv2 (bfx-api-node-rest, as bitfinex-api-node pulls it) against venue: the public calls
// with and without `transform` models, then a trade between two accounts and every auth
// read that shows it. Config: {restRoot, alice: {key, secret}, bob: {key, secret}}.

const BFX = require('bitfinex-api-node')
const { RESTv2 } = BFX
const { Order } = require('bfx-api-node-models')
const { config, check, equal, run } = require('./lib')

const SYM = 'tBTCUSD'
const AUTH_SYM = 'tETHUSD'

run(async () => {
  const url = config.restRoot
  const raw = new RESTv2({ url })
  const models = new RESTv2({ url, transform: true })
  const out = {}

  // -- public -------------------------------------------------------------------------------
  const ticker = await raw.ticker({ symbol: SYM })
  const tickerModel = await models.ticker({ symbol: SYM })
  check(Array.isArray(ticker) && ticker.length === 10, 'raw ticker has 10 fields')
  equal(tickerModel.symbol, SYM, 'ticker model symbol')
  equal([tickerModel.bid, tickerModel.bidSize, tickerModel.ask, tickerModel.askSize, tickerModel.lastPrice, tickerModel.volume],
    [ticker[0], ticker[1], ticker[2], ticker[3], ticker[6], ticker[7]], 'ticker model = raw ticker')
  out.ticker = { bid: tickerModel.bid, bidSize: tickerModel.bidSize, ask: tickerModel.ask, askSize: tickerModel.askSize, last: tickerModel.lastPrice, volume: tickerModel.volume, high: tickerModel.high, low: tickerModel.low }

  const tickers = await raw.tickers({ symbols: [SYM, AUTH_SYM] })
  const tickersModels = await models.tickers({ symbols: [SYM, AUTH_SYM] })
  equal(tickers.map(t => t[0]), [SYM, AUTH_SYM], 'tickers symbols')
  equal(tickers[0].slice(1), ticker, 'tickers row = ticker')
  equal(tickersModels.map(t => t.symbol), [SYM, AUTH_SYM], 'tickers models symbols')
  out.tickersAll = (await raw.tickers()).length
  // the top-level BFX object passes `rest: {url}` to the RESTv2 it makes (clients.md §1)
  const viaBFX = await new BFX({ rest: { url } }).rest(2).ticker({ symbol: SYM })
  equal(viaBFX, ticker, 'new BFX({rest: {url}}).rest(2).ticker = RESTv2 ticker')

  const trades = await raw.trades({ symbol: SYM, limit: 10 })
  const tradeModels = await models.trades({ symbol: SYM, limit: 10, sort: -1 })
  equal(tradeModels.map(t => [t.id, t.mts, t.amount, t.price]), trades, 'trade models = raw trades')
  out.trades = tradeModels.map(t => ({ amount: t.amount, price: t.price }))

  const book = await raw.orderBook({ symbol: SYM, prec: 'P0' })
  out.book = book
  const rawBook = await raw.orderBook({ symbol: SYM, prec: 'R0' })
  out.rawBook = rawBook.map(r => [r[1], r[2]])

  const candles = await raw.candles({ timeframe: '1m', symbol: SYM, section: 'hist' })
  const candleModels = await models.candles({ timeframe: '1m', symbol: SYM, section: 'hist', query: { limit: 5 } })
  const last = await models.candles({ timeframe: '1m', symbol: SYM, section: 'last' })
  equal(candleModels.map(c => [c.mts, c.open, c.close, c.high, c.low, c.volume]), candles.slice(0, 5), 'candle models = raw candles')
  equal([last.mts, last.open, last.close, last.high, last.low, last.volume], candles[0], 'last candle = newest of hist')
  out.candle = candles[0].slice(1)

  const conf = await raw.conf({ keys: ['pub:list:pair:exchange', 'pub:list:currency'] })
  check(conf.length === 2, 'conf answers one element per key')
  check(conf[0].includes('BTCUSD') && conf[0].includes('ETHUSD'), 'pub:list:pair:exchange lists BTCUSD and ETHUSD')
  check(conf[1].includes('BTC') && conf[1].includes('USD'), 'pub:list:currency lists BTC and USD')
  const details = await models.symbolDetails()
  const btc = details.find(d => d.pair === 'BTCUSD')
  check(btc && Number(btc.minimumOrderSize) > 0, 'symbolDetails (models) has BTCUSD with a minimum order size')
  const currencies = await raw.currencies()
  check(Array.isArray(currencies) && currencies.length === 6, 'currencies() gets its six conf arrays')
  out.conf = { pairs: conf[0], currencies: conf[1] }

  // -- auth: alice bids with an Order model, bob sells into it with a raw packet --------------
  const alice = new RESTv2({ url, apiKey: config.alice.key, apiSecret: config.alice.secret, transform: true })
  const bob = new RESTv2({ url, apiKey: config.bob.key, apiSecret: config.bob.secret })

  const walletsBefore = await alice.wallets()
  equal(walletsBefore.map(w => [w.type, w.currency, w.balance, w.balanceAvailable]), [['exchange', 'USD', 10000, 10000]], 'alice wallets before')

  const bid = await alice.submitOrder({ order: new Order({ type: 'EXCHANGE LIMIT', symbol: AUTH_SYM, amount: 0.5, price: 3000 }) })
  check(bid instanceof Order && bid.id > 0, 'submitOrder (transform) answers an Order model')
  equal([bid.symbol, bid.amount, bid.amountOrig, bid.price, bid.status, bid.type], [AUTH_SYM, 0.5, 0.5, 3000, 'ACTIVE', 'EXCHANGE LIMIT'], 'alice bid')
  const spare = await alice.submitOrder({ order: new Order({ type: 'EXCHANGE LIMIT', symbol: AUTH_SYM, amount: 0.1, price: 2500, cid: 4242 }) })
  equal(spare.cid, 4242, 'cid kept')

  const active = await alice.activeOrders()
  equal(active.map(o => o.id).sort(), [bid.id, spare.id].sort(), 'alice active orders')

  const canceled = await alice.cancelOrder({ id: spare.id })
  // with transform the notification is a model; a REST cancel carries one flat order
  equal([canceled.type, canceled.status, canceled.notifyInfo[0], canceled.notifyInfo[13]], ['oc-req', 'SUCCESS', spare.id, 'CANCELED'], 'cancelOrder notification')
  equal((await alice.activeOrders()).map(o => o.id), [bid.id], 'active after cancel')

  const sell = await bob.submitOrder({ order: new Order({ type: 'EXCHANGE LIMIT', symbol: AUTH_SYM, amount: -0.5, price: 2990 }) })
  check(Array.isArray(sell) && sell[0] > 0, 'submitOrder (raw) answers an order array')
  equal([sell[3], sell[7], sell[16]], [AUTH_SYM, -0.5, 2990], 'bob sell as submitted')

  equal(await alice.activeOrders(), [], 'alice has no active order after the fill')
  const hist = await alice.orderHistory({ symbol: AUTH_SYM })
  const histById = Object.fromEntries(hist.map(o => [o.id, o]))
  check(histById[bid.id] && histById[bid.id].status.startsWith('EXECUTED @ 3000'), `bid executed in history: ${histById[bid.id] && histById[bid.id].status}`)
  check(histById[spare.id] && histById[spare.id].status === 'CANCELED', 'spare canceled in history')
  check(histById[bid.id] && histById[bid.id].priceAvg === 3000, 'average price 3000')

  const myTrades = await alice.accountTrades({ symbol: AUTH_SYM })
  equal(myTrades.map(t => [t.symbol, t.orderID, t.execAmount, t.execPrice, t.maker]), [[AUTH_SYM, bid.id, 0.5, 3000, true]], 'alice trades')
  const bobTrades = await bob.accountTrades({})
  equal(bobTrades.map(t => [t[1], t[3], t[4], t[5], t[8]]), [[AUTH_SYM, sell[0], -0.5, 3000, -1]], 'bob trades (raw, all symbols)')

  const wallets = await alice.wallets()
  const byCur = Object.fromEntries(wallets.map(w => [w.currency, w]))
  const fee = -myTrades[0].fee
  equal(byCur.USD.balance, 8500, 'alice USD after buying 0.5 ETH at 3000')
  check(Math.abs(byCur.ETH.balance - (0.5 - (myTrades[0].feeCurrency === 'ETH' ? fee : 0))) < 1e-9, `alice ETH ${byCur.ETH.balance}`)

  const ledgers = await alice.ledgers({ filters: 'ETH' })
  check(ledgers.length >= 1 && ledgers.every(l => l.currency === 'ETH'), 'ETH ledger entries')
  equal(ledgers[0].balance, byCur.ETH.balance, 'newest ETH ledger balance = wallet')
  const usdLedgers = await alice.ledgers({ filters: 'USD' })
  equal(usdLedgers[0].balance, 8500, 'newest USD ledger balance')

  out.auth = {
    bid: [bid.amount, bid.price, bid.status],
    trade: [myTrades[0].execAmount, myTrades[0].execPrice, myTrades[0].maker, myTrades[0].fee, myTrades[0].feeCurrency],
    wallets: wallets.map(w => [w.type, w.currency, w.balance]).sort(),
    ledgers: ledgers.map(l => [l.currency, l.amount, l.balance, l.wallet]),
    usdLedgers: usdLedgers.map(l => [l.amount, l.balance])
  }
  return out
})
