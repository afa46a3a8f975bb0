'use strict'

// WSv2 public channels with managed order books, OB checksums and sequence audit while the
// test moves the market. Config: {wsUrl, restRoot}. Protocol with the test:
//   prints {"ready": true} once subscribed with every snapshot in;
//   reads one line {"trades": N} when the test is done (N trades made on tBTCUSD meanwhile);
//   then waits until its books equal venue's REST books and prints the result.
// Any 'error' the client emits (checksum mismatch, bad sequence, unknown book) is a failure.

const { WSv2, RESTv2 } = require('bitfinex-api-node')
const { config, check, equal, run, lines, say, sleep, until } = require('./lib')

const P0 = 'tBTCUSD' // managed P0 book (books are managed per symbol)
const R0 = 'tETHUSD' // managed R0 book
const CANDLES = 'trade:1m:tBTCUSD'

// [price, count, amount] / [id, price, amount] rows, bids then asks, the top `len` of each side
function top (rows, raw, len) {
  const amount = r => r[2]
  const price = r => raw ? r[1] : r[0]
  const bids = rows.filter(r => amount(r) > 0).sort((a, b) => price(b) - price(a) || (raw ? a[0] - b[0] : 0))
  const asks = rows.filter(r => amount(r) < 0).sort((a, b) => price(a) - price(b) || (raw ? a[0] - b[0] : 0))
  return [...bids.slice(0, len), ...asks.slice(0, len)]
}

run(async () => {
  const next = lines()
  const errors = []
  const ws = new WSv2({ url: config.wsUrl, manageOrderBooks: true, manageCandles: true, seqAudit: true })
  const rest = new RESTv2({ url: config.restRoot })
  ws.on('error', (err) => errors.push(String(err && err.message ? err.message : err)))

  const counts = { book: {}, cs: {}, te: 0, tu: 0, ticker: 0, candle: 0 }
  const tradeEntries = []
  let tradesSnapshot = null
  let ticker = null
  let candles = null
  const subscribed = []
  ws.on('subscribed', (msg) => subscribed.push(msg))

  for (const [symbol, prec] of [[P0, 'P0'], [R0, 'R0']]) {
    counts.book[prec] = 0
    counts.cs[prec] = 0
    ws.onOrderBook({ symbol, prec, len: '25' }, () => { counts.book[prec]++ })
    ws.onOrderBookChecksum({ symbol, prec, len: '25' }, () => { counts.cs[prec]++ })
  }
  // 'trades' carries the snapshot first, then every tu (WSv2 wraps a single row in a list)
  const tradeUpdates = []
  ws.onTrades({ symbol: P0 }, (rows) => {
    if (tradesSnapshot === null) tradesSnapshot = rows
    else { counts.tu++; tradeUpdates.push(...rows) }
  })
  // WSv2 hands each te over as a one-row list
  ws.onTradeEntry({ symbol: P0 }, (rows) => { counts.te++; tradeEntries.push(...rows) })
  ws.onTicker({ symbol: P0 }, (t) => { counts.ticker++; ticker = t })
  ws.onCandle({ key: CANDLES }, (c) => { counts.candle++; candles = c })

  await ws.open()
  // The flags go out before any subscription. WSv2 sends every enabled flag at once
  // (SEQ_ALL from seqAudit | CHECKSUM) and venue, like Bitfinex, answers with the flags it got,
  // so the promise enableFlag returns (keyed by CHECKSUM alone) is not awaited here.
  ws.enableFlag(WSv2.flags.CHECKSUM).catch(() => {})
  await ws.subscribeOrderBook(P0, 'P0', '25')
  await ws.subscribeOrderBook(R0, 'R0', '25')
  await ws.subscribeTrades(P0)
  await ws.subscribeTicker(P0)
  await ws.subscribeCandles(CANDLES)
  await until(() => subscribed.length === 5 && counts.book.P0 && counts.book.R0 && tradesSnapshot && ticker && candles,
    'subscriptions and snapshots')
  check(ws.isFlagEnabled(WSv2.flags.CHECKSUM) && ws.isFlagEnabled(WSv2.flags.SEQ_ALL), 'flags enabled')
  const subs = Object.fromEntries(subscribed.map(s => [s.channel + (s.prec || ''), s]))
  equal([subs.bookP0.len, subs.bookR0.len, subs.bookP0.symbol, subs.candles.key], ['25', '25', P0, CANDLES], 'subscribed events')
  const snapshotIds = new Set(tradesSnapshot.map(t => t[0]))
  say({ ready: true, snapshotTrades: tradesSnapshot.length })

  const { trades: made } = JSON.parse(await next())

  // the last changes are on their way: wait until the managed books equal REST (top 25)
  const want = {}
  const got = {}
  const same = async () => {
    for (const [symbol, prec] of [[P0, 'P0'], [R0, 'R0']]) {
      want[prec] = top(await rest.orderBook({ symbol, prec }), prec === 'R0', 25)
      const ob = ws.getOB(symbol)
      got[prec] = top([...ob.bids, ...ob.asks], prec === 'R0', 25)
    }
    return JSON.stringify(want) === JSON.stringify(got)
  }
  const end = Date.now() + 5000
  while (!(await same()) && Date.now() < end) await sleep(50)
  equal(got.P0, want.P0, 'managed P0 book = REST book')
  equal(got.R0, want.R0, 'managed R0 book = REST book')
  await until(() => counts.te >= made, `${made} trade entries`)
  await sleep(100) // nothing more may come

  const restTrades = await rest.trades({ symbol: P0, limit: 10000, sort: 1 })
  const newTrades = restTrades.filter(t => !snapshotIds.has(t[0]))
  equal(tradeEntries.map(t => t[0]), newTrades.map(t => t[0]), 'te entries = REST trades after the snapshot (ids, in order)')
  equal(tradeEntries, newTrades, 'te entries = REST trades (values)')
  equal(tradeUpdates, newTrades, 'tu entries = REST trades')
  equal(ticker, (await rest.ticker({ symbol: P0 })), 'last ticker = REST ticker')
  const restCandles = await rest.candles({ timeframe: '1m', symbol: P0, section: 'last' })
  const lastCandle = candles[0] // managed candles: the whole set, newest first
  equal(lastCandle, restCandles, 'last candle update = REST last candle')
  const managed = ws.getCandles(CANDLES)
  const restHist = await rest.candles({ timeframe: '1m', symbol: P0, section: 'hist' })
  const n = Math.min(managed.length, restHist.length)
  check(n >= 1, 'managed candles')
  equal(managed.slice(0, n), restHist.slice(0, n), 'managed candles = REST candles')

  check(counts.cs.P0 > 0 && counts.cs.R0 > 0, 'checksums received for both books')
  check(ws._lastPubSeq > 100, `sequence audit ran (last pub seq ${ws._lastPubSeq})`)
  check(errors.length === 0, `client errors: ${errors.slice(0, 5).join('; ')}`)
  const lossless = ws.getLosslessOB(P0)
  const lastPubSeq = ws._lastPubSeq
  await ws.close()
  return {
    counts, errors, made, lastPubSeq,
    p0: got.P0, r0: got.R0, ticker, candle: lastCandle,
    losslessTopBid: lossless.bids[0], losslessTopAsk: lossless.asks[0]
  }
})
