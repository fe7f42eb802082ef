import t from 'tap'
import { KeyBuilder, personal } from '../../lib/keys.js'
import { CacheMetrics } from '../../lib/metrics.js'
import { TokenBucket } from '../../lib/rate-limit/token-bucket.js'
import { DenyCache } from '../../lib/rate-limit/deny-cache.js'
import { checkCost, toBucketPolicy, windowPolicy } from '../../lib/rate-limit/policy.js'
import { storeBackends } from '../helpers/backends.js'
import { faultyStore } from '../helpers/faulty-store.js'
import { zaddScript } from '../helpers/scripts.js'
import { memoryStore } from '../helpers/stores.js'
import { ComponentContext } from '../../lib/context.js'

// The token bucket behind fastify.tokenBucket: its policies, the deny cache that
// remembers refusals, take/peek/reset on every backend, and its fail policies.
const HOURLY = { capacity: 3, refillPerSecond: 1 / 3600 }
// every store is made before the first test starts: tap ends the root test when its queue runs dry
const backends = await storeBackends('bucket')

t.test('policies: both forms mean the same bucket; nonsense is refused', async (t) => {
  const a = toBucketPolicy({ capacity: 5, refillPerSecond: 1 / 12 })
  const b = toBucketPolicy({ max: 5, timeWindow: 60_000 })
  t.same(a, b, '5 per minute either way')
  t.same(a.ok && [a.value.capacity, a.value.intervalUs, a.value.windowMs], [5, 12_000_000, 60_000])
  t.same(windowPolicy(10, 1000, 'closed'), { ok: true, value: { capacity: 10, intervalUs: 100_000, windowMs: 1000, onStoreError: 'closed' } })
  t.same(toBucketPolicy({ max: 1000, timeWindow: 1 }), { ok: true, value: { capacity: 1000, intervalUs: 1, windowMs: 1 } }, 'at least 1 µs a token')
  const bad: unknown[] = [
    null, { capacity: 0, refillPerSecond: 1 }, { capacity: 1.5, refillPerSecond: 1 }, { capacity: 2, refillPerSecond: 0 },
    { capacity: 2, refillPerSecond: Infinity }, { capacity: 2, refillPerSecond: '1' }, { max: 5, timeWindow: -1 },
    { max: 5, timeWindow: '1 minute' }, { max: 5, timeWindow: 1e15 }, { max: 5, timeWindow: 1000, onStoreError: 'maybe' }
  ]
  for (const policy of bad) {
    const r = toBucketPolicy(policy as never)
    t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT', JSON.stringify(policy))
  }
  const p = windowPolicy(3, 1000)
  if (!p.ok) throw p.error
  t.same(checkCost(3, p.value), { ok: true, value: 3 })
  for (const cost of [4, -1, 1.5]) t.equal(checkCost(cost, p.value).ok, false, `cost ${cost}`)
})

t.test('deny cache: answers only for a cost at least as large, until the time is up, bounded', async (t) => {
  const cache = new DenyCache(2)
  cache.remember('a', 2, 1000, 5000, 1, 10_000)
  t.equal(cache.refusal('a', 1, 10_000), undefined, 'a smaller cost may still pass: ask the store')
  t.same(cache.refusal('a', 2, 10_400), { retryAfterMs: 600, resetMs: 4600, remaining: 1 })
  t.same(cache.refusal('a', 3, 10_400)?.retryAfterMs, 600)
  t.equal(cache.refusal('a', 2, 11_000), undefined, 'expired')
  t.equal(cache.size, 0, 'and dropped')
  cache.remember('b', 1, 1000, 1000, 0)
  cache.remember('c', 1, 1000, 1000, 0)
  t.equal(cache.size, 2, 'bounded')
  cache.forget('c')
  t.equal(cache.refusal('c', 1), undefined)
  const off = new DenyCache(0)
  off.remember('a', 1, 1000, 1000, 0)
  t.equal(off.refusal('a', 1), undefined, 'size 0 is off')
})

for (const backend of backends) {
  t.test(`TokenBucket: ${backend.name}`, async (t) => {
    const keys = new KeyBuilder({ prefix: 'bucket' })
    const bucket = new TokenBucket(new ComponentContext({ store: backend.store, keys }))
    t.beforeEach(async () => { await backend.store.clear() })

    t.test('take counts down, refuses, and the refusal is then answered from memory', async (t) => {
      const taken = []
      for (let i = 0; i < 4; i++) taken.push(await bucket.take('alice', HOURLY))
      t.same(taken.map((r) => r.ok && [r.value.allowed, r.value.remaining, r.value.source]),
        [[true, 2, 'store'], [true, 1, 'store'], [true, 0, 'store'], [false, 0, 'store']])
      t.same(taken[0]?.ok && taken[0].value.limit, 3)
      // behind its back the bucket is refilled; this instance still knows no token can be back yet
      await backend.store.clear()
      const cached = await bucket.take('alice', HOURLY)
      t.same(cached.ok && [cached.value.allowed, cached.value.source], [false, 'deny-cache'])
      t.ok(cached.ok && cached.value.retryAfterMs > 0 && cached.value.retryAfterMs <= 3_600_000, 'a token an hour')
      const free = await bucket.take('alice', HOURLY, 0)
      t.same(free.ok && [free.value.allowed, free.value.source], [true, 'store'], 'a cost of 0 always asks the store')
    })

    t.test('peek does not consume; reset refills and forgets the refusal', async (t) => {
      const first = await bucket.peek('bob', HOURLY)
      t.same(first.ok && [first.value.allowed, first.value.remaining, first.value.resetMs], [true, 3, 0], 'a full bucket: every token there, full now')
      const again = await bucket.peek('bob', HOURLY)
      t.same(again, first, 'peeking twice changes nothing')
      await bucket.take('bob', HOURLY, 3)
      const empty = await bucket.peek('bob', HOURLY)
      t.same(empty.ok && [empty.value.allowed, empty.value.remaining], [false, 0])
      t.same(await bucket.reset('bob'), { ok: true, value: true })
      const full = await bucket.take('bob', HOURLY)
      t.same(full.ok && [full.value.allowed, full.value.remaining, full.value.source], [true, 2, 'store'])
      t.same(await bucket.reset('nobody'), { ok: true, value: false })
    })

    t.test('keys are isolated, and may be built of parts (personal ones hashed)', async (t) => {
      await bucket.take(['login', personal('carol@example.com')], HOURLY, 3)
      const other = await bucket.take(['login', personal('dave@example.com')], HOURLY)
      t.same(other.ok && other.value.remaining, 2)
      const key = bucket.keyFor(['login', personal('carol@example.com')])
      t.ok(key.ok && !key.value.includes('carol'), 'no email in the key')
      t.same(await backend.store.exists(key.ok ? key.value : ''), { ok: true, value: true })
    })

    t.test('a key of the wrong type is INVALID_ARGUMENT, not an outage to ride out', async (t) => {
      const key = bucket.keyFor('typed')
      if (!key.ok) throw key.error
      await backend.store.runScript(zaddScript, [key.value], [1, 'm'])
      const r = await bucket.take('typed', HOURLY)
      t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
      t.same(bucket.degraded, { open: 0, closed: 0, local: 0 })
    })

    t.test('bad input is INVALID_ARGUMENT, never a decision', async (t) => {
      for (const r of [
        await bucket.take('x', HOURLY, 4),
        await bucket.take('x', { capacity: 0, refillPerSecond: 1 }),
        await bucket.take('', HOURLY),
        await bucket.peek('', HOURLY),
        await bucket.reset('')
      ]) t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
    })
  })
}

t.test('fail policies with the store failing: each does what it says, counted and logged once', async (t) => {
  const backend = memoryStore('outage')
  t.teardown(backend.close)
  const faults = faultyStore(t, backend.store)
  const warnings: Array<{ details: object, message: string }> = []
  const metrics = new CacheMetrics()
  const bucket = new TokenBucket(new ComponentContext({
    store: backend.store,
    keys: new KeyBuilder({ prefix: 'outage' }),
    metrics,
    logger: { warn: (details, message) => { warnings.push({ details, message }) } }
  }), { denyCacheSize: 0 })
  const before = await bucket.take('k', HOURLY, 3)
  t.same(before.ok && before.value.remaining, 0, 'while up, the bucket is emptied')
  faults.fail('UNAVAILABLE')

  const open = await bucket.take('k', HOURLY)
  t.same(open, { ok: true, value: { allowed: true, remaining: null, retryAfterMs: 0, resetMs: 0, limit: 3, source: 'open', refusals: 0 } }, 'open (the default) allows, claiming no quota')
  const closed = await bucket.take('k', { ...HOURLY, onStoreError: 'closed' })
  t.equal(!closed.ok && closed.error.code, 'UNAVAILABLE', 'closed refuses with the outage')
  const local = []
  for (let i = 0; i < 4; i++) local.push(await bucket.take('k', { ...HOURLY, onStoreError: 'local' }))
  t.same(local.map((r) => r.ok && [r.value.allowed, r.value.remaining, r.value.source]),
    [[true, 2, 'local'], [true, 1, 'local'], [true, 0, 'local'], [false, 0, 'local']], 'local: an in-process bucket stands in')
  await bucket.reset('k')
  const afterReset = await bucket.take('k', { ...HOURLY, onStoreError: 'local' })
  t.same(afterReset.ok && afterReset.value.remaining, 2, 'reset clears the local bucket too')

  t.same(bucket.degraded, { open: 1, closed: 1, local: 5 })
  t.equal(metrics.stats('ratelimit.local').degraded, 5)
  t.equal(metrics.stats('ratelimit').errors, 7)
  t.same(warnings.map((w) => (w.details as { failPolicy: string }).failPolicy), ['open', 'closed', 'local'], 'one warning per policy, not per request')
})

t.test('with the store hanging until its deadline, the local policy still decides', async (t) => {
  const backend = memoryStore('hung')
  t.teardown(backend.close)
  faultyStore(t, backend.store).hang(20)
  const bucket = new TokenBucket(new ComponentContext({ store: backend.store, keys: new KeyBuilder({ prefix: 'hung' }) }), { onStoreError: 'local' })
  const r = await bucket.take('k', HOURLY)
  t.same(r.ok && [r.value.allowed, r.value.source], [true, 'local'])
  t.same(bucket.degraded, { open: 0, closed: 0, local: 1 }, 'decided by the local bucket, counted')
})
