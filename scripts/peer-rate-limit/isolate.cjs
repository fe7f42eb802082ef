'use strict'

// Preloaded (--require) by scripts/peer-rate-limit.sh: each test of the suite
// starts and ends with real timers. The suite resets its fake clock at the end
// of a test body, so one failing test would leave timers faked for the rest of
// its file and fail (or hang) every later test that fakes them.

const nodeTest = require('node:test')
const { mock } = nodeTest

function isolated (fn) {
  if (typeof fn !== 'function') return fn
  return async function (...args) {
    mock.timers.reset()
    try {
      return await fn.apply(this, args)
    } finally {
      mock.timers.reset()
    }
  }
}

function wrap (register) {
  return function (...args) {
    const last = args.length - 1
    args[last] = isolated(args[last])
    return register.apply(this, args)
  }
}

const test = wrap(nodeTest.test)
Object.assign(test, nodeTest.test)
nodeTest.test = test
nodeTest.it = wrap(nodeTest.it)
