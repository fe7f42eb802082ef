import t from 'tap'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { TokenBucket } from '../../lib/rate-limit/token-bucket.js'
import { budgetSpent, spendBudget, withRequestBudget } from '../../lib/request-budget.js'
import { fail } from '../../lib/result.js'
import { MemoryStore } from '../../lib/store/memory-store.js'
import { fileRedis, ownRedis } from '../helpers/backends.js'
import { demoApp } from '../helpers/demo.js'
import { LogCapture } from '../helpers/log-capture.js'
import { redisStore } from '../helpers/stores.js'
import { zaddScript } from '../helpers/scripts.js'

// A request that has met one Redis failure fails its later Redis calls fast,
// so an outage costs it at most one deadline, whatever the number of calls.

t.test('in one request, the calls after an outage failure fail fast; other requests still try', async (t) => {
  const redis = await ownRedis(t)
  // a high threshold: the breaker stays closed, so what fails fast is the budget
  const { store, close } = await redisStore(redis, 'bud', { commandTimeoutMs: 100, breaker: { failureThreshold: 1000 } })
  t.teardown(close)
  redis.pause()
  t.teardown(() => { redis.resume() })

  const codes = await withRequestBudget(async () => {
    const out: string[] = []
    for (const call of [() => store.get('bud:a'), () => store.get('bud:a'), () => store.set('bud:b', 'v'), () => store.runScript(zaddScript, ['bud:z'], [1, 'm'])]) {
      const r = await call()
      out.push(r.ok ? 'ok' : `${r.error.code}:${/already met a Redis failure/.test(r.error.message) ? 'budget' : 'redis'}`)
    }
    return out
  })
  t.same(codes, ['TIMEOUT:redis', 'UNAVAILABLE:budget', 'UNAVAILABLE:budget', 'UNAVAILABLE:budget'], 'one deadline, then fail fast')
  t.equal(store.breaker.state, 'closed', 'the breaker did not do it')

  const other = await withRequestBudget(async () => await store.get('bud:a'))
  t.match(other, { ok: false, error: { code: 'TIMEOUT' } }, 'a fresh request tries Redis again')
  const outside = await store.get('bud:a')
  t.match(outside, { ok: false, error: { code: 'TIMEOUT' } }, 'outside a request, no budget applies')
})

t.test('a batched rate-limiter take reads its request\'s budget too (a batch is sent outside the request)', async (t) => {
  const redis = await fileRedis()
  const { store, close } = await redisStore(redis, 'budb')
  t.teardown(close)
  const bucket = new TokenBucket(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'budb' }) }))
  const policy = { capacity: 5, refillPerSecond: 1, onStoreError: 'closed' } as const
  const spent = await withRequestBudget(async () => {
    spendBudget() // as if this request had already met an outage
    return await bucket.take('spent', policy)
  })
  t.match(spent, { ok: false, error: { code: 'UNAVAILABLE', message: /already met a Redis failure/ } }, 'failed fast, policy closed')
  t.equal(await redis.client().exists('budb:ratelimit:spent'), 0, 'Redis never asked')
  const fresh = await withRequestBudget(async () => await bucket.take('fresh', policy))
  t.match(fresh, { ok: true, value: { allowed: true, source: 'store' } }, 'a request with its budget whole is decided in Redis')
})

t.test('a component\'s reported outage spends the budget; bad input does not', async (t) => {
  const context = new ComponentContext({ store: new MemoryStore({ prefix: 'b' }) })
  t.equal(budgetSpent(), false, 'no request, nothing spent')
  t.same(await withRequestBudget(async () => {
    context.failed('ns', fail('INVALID_ARGUMENT', 'bad'), 'x')
    const afterBad = budgetSpent()
    context.failed('ns', fail('TIMEOUT', 'slow'), 'x')
    return [afterBad, budgetSpent()]
  }), [false, true])
  context.failed('ns', fail('UNAVAILABLE', 'down'), 'outside any request: nothing to spend')
  t.equal(budgetSpent(), false)
})

t.test('the demo: a request meeting the limiter and the state store in an outage waits for one deadline only', async (t) => {
  const redis = await ownRedis(t)
  const logs = new LogCapture()
  const app = await demoApp(t, redis, { CACHE_COMMAND_TIMEOUT_MS: '100' }, { logger: { level: 'warn', stream: logs.stream } })
  await app.ready()
  redis.pause()
  t.teardown(() => { redis.resume() })
  const res = await app.inject({ method: 'POST', url: '/oauth/demo/start', payload: { userId: 'alice' } })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'OAUTH_STATE_UNAVAILABLE')
  const reports = logs.atLeast(40).map((line) => line.msg)
  t.ok(reports.some((msg) => /rate limiter store failed.*timed out/.test(msg)), 'the limiter met the deadline')
  t.ok(reports.some((msg) => /already met a Redis failure/.test(msg)), 'the state store then failed fast')
})

t.test('over real HTTP too: a body parsed from the socket keeps the request\'s budget', async (t) => {
  const redis = await ownRedis(t)
  const logs = new LogCapture()
  const app = await demoApp(t, redis, { CACHE_COMMAND_TIMEOUT_MS: '100' }, { logger: { level: 'warn', stream: logs.stream } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  redis.pause()
  t.teardown(() => { redis.resume() })
  const res = await fetch(`http://127.0.0.1:${port}/oauth/demo/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'alice' }) })
  t.equal(res.status, 503)
  t.ok(logs.atLeast(40).some((line) => /already met a Redis failure/.test(line.msg)), 'the state store failed fast')
})
