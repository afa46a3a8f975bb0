'use strict'

// Shared by the scripts run from tests/e2e/test_node_client.py. Each script gets its
// configuration as one JSON argument, checks what it sees with `check`, prints one JSON line
// `{"result": …, "failures": […]}` on stdout and exits 1 when a check failed or it crashed.

const assert = require('assert')

const config = JSON.parse(process.argv[2] || '{}')
const failures = []

function check (cond, what) {
  if (!cond) failures.push(what)
  return cond
}

function equal (actual, expected, what) {
  try {
    assert.deepStrictEqual(actual, expected)
    return true
  } catch (e) {
    failures.push(`${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`)
    return false
  }
}

function finish (result) {
  process.stdout.write(JSON.stringify({ result, failures }) + '\n')
  process.exit(failures.length ? 1 : 0)
}

function run (main) {
  const timer = setTimeout(() => {
    failures.push(`timed out after ${config.timeoutMs || 20000} ms`)
    finish(null)
  }, config.timeoutMs || 20000)
  main().then((result) => { clearTimeout(timer); finish(result) }, (err) => {
    failures.push(`crashed: ${err && err.stack ? err.stack : JSON.stringify(err)}`)
    finish(null)
  })
}

// Lines from the test on stdin, one promise per line.
function lines () {
  const waiting = []
  const queued = []
  let buf = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk) => {
    buf += chunk
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      if (waiting.length) waiting.shift()(line)
      else queued.push(line)
    }
  })
  return () => queued.length ? Promise.resolve(queued.shift()) : new Promise((resolve) => waiting.push(resolve))
}

// Tell the test something (one JSON line) before the final result.
function say (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function until (cond, what, ms = 5000) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`waited ${ms} ms for ${what}`)
    await sleep(10)
  }
}

module.exports = { config, check, equal, finish, run, lines, say, sleep, until }
