'use strict'

// WSv2 authenticated: alice (transform: true, seqAudit) places, updates and cancels an order
// over the socket and bob (raw arrays, dead-man switch) fills part of it; both see their
// on/ou/oc, te/tu, wu and notifications. Config: {wsUrl, restRoot, alice: {key, secret},
// bob: {key, secret}}. Bob's socket closes at the end with an order resting: the test checks
// that the dead-man switch canceled it.

const BFX = require('bitfinex-api-node')
const { WSv2, RESTv2 } = BFX
const { Order, Notification, Wallet } = require('bfx-api-node-models')
const { config, check, equal, run, sleep, until } = require('./lib')

const SYM = 'tETHUSD'

function recorder (ws, transform) {
  const seen = { errors: [], n: [], on: [], ou: [], oc: [], te: [], tu: [], wu: [], ws: null, os: null }
  ws.on('error', (err) => seen.errors.push(String(err && err.message ? err.message : err)))
  ws.onWalletSnapshot({}, (w) => { seen.ws = w })
  ws.onOrderSnapshot({}, (o) => { seen.os = o })
  ws.onOrderNew({}, (o) => seen.on.push(o))
  ws.onOrderUpdate({}, (o) => seen.ou.push(o))
  ws.onOrderClose({}, (o) => seen.oc.push(o))
  ws.onAccountTradeEntry({}, (t) => seen.te.push(t))
  ws.onAccountTradeUpdate({}, (t) => seen.tu.push(t))
  ws.onWalletUpdate({}, (w) => seen.wu.push(w))
  ws.onNotification({}, (n) => seen.n.push(n))
  return seen
}

run(async () => {
  const alice = new WSv2({ url: config.wsUrl, apiKey: config.alice.key, apiSecret: config.alice.secret, transform: true, seqAudit: true })
  // bob's socket through the top-level BFX object (`ws: {url, …}` reaches the WSv2 it makes)
  const bob = new BFX({ ws: { url: config.wsUrl, apiKey: config.bob.key, apiSecret: config.bob.secret } }).ws(2)
  check(bob instanceof WSv2, 'BFX.ws(2) is a WSv2')
  const a = recorder(alice)
  const b = recorder(bob)
  const authEvents = []
  alice.on('auth', (e) => authEvents.push(e))

  await alice.open()
  await alice.enableSequencing({ audit: true }) // conf SEQ_ALL, answered with its flags
  await alice.auth()
  await bob.open()
  await bob.auth(0, 4) // calc 0, dms 4: cancel bob's orders when this socket goes
  check(alice.isAuthenticated() && bob.isAuthenticated(), 'both authenticated')
  equal([authEvents[0].status, authEvents[0].chanId, authEvents[0].userId], ['OK', 0, config.alice.user], 'auth event')
  await until(() => a.ws && a.os && b.ws && b.os, 'ws and os snapshots')
  equal(a.ws.map(w => [w.type, w.currency, w.balance]), [['exchange', 'USD', 10000]], 'alice wallet snapshot (models)')
  equal(a.os, [], 'alice has no order')
  equal(b.ws.map(w => [w[0], w[1], w[2]]), [['exchange', 'ETH', 10]], 'bob wallet snapshot (raw)')

  // -- alice: submit (Order model), update, partial fill by bob, cancel --------------------
  const order = new Order({ type: 'EXCHANGE LIMIT', symbol: SYM, amount: 1, price: 2900, cid: 777 })
  const submitted = await alice.submitOrder(order)
  check(Array.isArray(submitted) && submitted[2] === 777 && submitted[0] > 0, `submitOrder resolves with the order: ${JSON.stringify(submitted)}`)
  const id = submitted[0]
  await until(() => a.on.length === 1, 'on')
  const on = a.on[0]
  check(on instanceof Order, 'on is an Order model')
  equal([on.id, on.cid, on.symbol, on.amount, on.amountOrig, on.price, on.status], [id, 777, SYM, 1, 1, 2900, 'ACTIVE'], 'on')

  const updated = await alice.updateOrder({ id, price: '2950', amount: '0.8' })
  equal([updated[0], updated[16], updated[6]], [id, 2950, 0.8], 'updateOrder resolves with the updated order')
  await until(() => a.ou.length === 1, 'ou after update')
  equal([a.ou[0].id, a.ou[0].price, a.ou[0].amount, a.ou[0].status], [id, 2950, 0.8, 'ACTIVE'], 'ou after update')

  const sell = await bob.submitOrder({ type: 'EXCHANGE LIMIT', symbol: SYM, amount: '-0.3', price: '2950' })
  const sellId = sell[0]
  await until(() => a.te.length === 1 && a.tu.length === 1 && a.ou.length === 2 && b.tu.length === 1 && b.oc.length === 1, 'the fill on both sides')
  const te = a.te[0]
  const tu = a.tu[0]
  equal([te.symbol, te.orderID, te.execAmount, te.execPrice, te.maker], [SYM, id, 0.3, 2950, true], 'alice auth-te')
  equal([tu.id, tu.orderID, tu.execAmount, tu.execPrice, tu.feeCurrency], [te.id, id, 0.3, 2950, 'ETH'], 'alice auth-tu')
  check(tu.fee <= 0, 'tu carries the fee')
  equal([a.ou[1].id, a.ou[1].amount, a.ou[1].amountOrig, a.ou[1].status], [id, 0.5, 0.8, 'PARTIALLY FILLED @ 2950.0(0.3)'], 'ou after the fill')
  equal([b.oc[0][0], b.oc[0][6], b.oc[0][13].split(' @ ')[0]], [sellId, 0, 'EXECUTED'], 'bob oc executed')
  equal([b.tu[0][1], b.tu[0][3], b.tu[0][4], b.tu[0][5], b.tu[0][8], b.tu[0][10]], [SYM, sellId, -0.3, 2950, -1, 'USD'], 'bob raw tu')
  await until(() => a.wu.some(w => w.currency === 'ETH') && b.wu.some(w => w[1] === 'USD'), 'wallet updates')
  const aEth = a.wu.filter(w => w.currency === 'ETH').pop()
  check(aEth instanceof Wallet && Math.abs(aEth.balance - (0.3 + tu.fee)) < 1e-12, `alice ETH wu ${aEth.balance}`)
  const bUsd = b.wu.filter(w => w[1] === 'USD').pop()
  check(Math.abs(bUsd[2] - (885 + b.tu[0][9])) < 1e-9, `bob USD wu ${bUsd[2]}`)

  const canceled = await alice.cancelOrder(id)
  equal(canceled[0], id, 'cancelOrder resolves with the order')
  await until(() => a.oc.length === 1, 'oc')
  equal([a.oc[0].id, a.oc[0].amount, a.oc[0].status], [id, 0.5, 'CANCELED was: PARTIALLY FILLED @ 2950.0(0.3)'], 'alice oc (Bitfinex keeps the fill in the status)')

  // -- notifications and a refused order -------------------------------------------------------
  let refused = null
  try {
    await alice.submitOrder(new Order({ type: 'EXCHANGE LIMIT', symbol: SYM, amount: 100, price: 2900, cid: 778 }))
  } catch (err) { refused = String(err.message) }
  check(refused && refused.startsWith('ERROR: '), `an order beyond the balance is refused: ${refused}`)
  await until(() => a.n.length >= 4, 'notifications')
  check(a.n.every(n => n instanceof Notification), 'notifications are models')
  equal(a.n.map(n => [n.type, n.status]), [['on-req', 'SUCCESS'], ['ou-req', 'SUCCESS'], ['oc-req', 'SUCCESS'], ['on-req', 'ERROR']], 'alice notifications')

  // -- dead-man switch: bob's resting order goes with his socket ------------------------------
  const resting = await bob.submitOrder({ type: 'EXCHANGE LIMIT', symbol: SYM, amount: '-1', price: '3500' })
  const lastPubSeq = alice._lastPubSeq
  const rest = new RESTv2({ url: config.restRoot, apiKey: config.bob.key, apiSecret: config.bob.secret })
  equal((await rest.activeOrders()).map(o => o[0]), [resting[0]], 'bob\'s order rests before his socket closes')
  await bob.close()
  const end = Date.now() + 5000
  let active = await rest.activeOrders()
  while (active.length && Date.now() < end) { await sleep(50); active = await rest.activeOrders() }
  equal(active, [], 'dms canceled bob\'s resting order')
  await alice.close()

  check(lastPubSeq > 0, `alice's sequence audit ran (${lastPubSeq})`)
  equal(a.errors, [], 'alice client errors')
  equal(b.errors, [], 'bob client errors')
  return {
    orderId: id,
    restingId: resting[0],
    alice: { on: a.on.length, ou: a.ou.length, oc: a.oc.length, te: a.te.length, tu: a.tu.length, n: a.n.map(n => n.type) },
    fee: tu.fee,
    refused
  }
})
