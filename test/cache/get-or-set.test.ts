import t from 'tap'
import { until } from '../../harness/wait.js'
import { Cache } from '../../lib/cache.js'
import { encodeEntry } from '../../lib/cache/envelope.js'
import { cacheClaim, cacheRelease } from '../../lib/cache/scripts.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { CacheMetrics } from '../../lib/metrics.js'
import type { Store } from '../../lib/store/store.js'
import { fileRedis, storeBackends } from '../helpers/backends.js'
import { redisStore } from '../helpers/stores.js'

// Cache-aside under load: single flight, the load lock across instances,
// stale-while-revalidate, negative caching, jitter, the soft timeout, and
// loader errors that are answered but never cached. Each case on Redis and on
// the memory store; "instances" are Cache objects with their own state sharing
// one store (on Redis: their own connections too).

/** A promise and its resolve, to hold a loader until the test lets it go. */
function gate<T = void> (): { promise: Promise<T>, open: (value: T) => void } {
  let open!: (value: T) => void
  const promise = new Promise<T>((resolve) => { open = resolve })
  return { promise, open }
}

function cacheOn (store: Store, metrics = new CacheMetrics()): Cache {
  return new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'gos' }), metrics }))
}

for (const { name, store } of await storeBackends('gos')) {
  t.test(`getOrSet on ${name}`, async (t) => {
    const metrics = new CacheMetrics()
    const cache = cacheOn(store, metrics)
    t.beforeEach(async () => { await store.clear(); metrics.reset() })

    t.test('1,000 concurrent misses on one key run the loader once', async (t) => {
      let calls = 0
      const held = gate()
      const loader = async (): Promise<{ n: number }> => { calls++; await held.promise; return { n: 1 } }
      const all = Array.from({ length: 1000 }, async () => await cache.getOrSet('flight:1', loader, { ttl: 60 }))
      await until('all 1,000 have missed', () => metrics.stats('flight').misses === 1000, { everyMs: 1 })
      held.open()
      const answers = await Promise.all(all)
      t.equal(calls, 1)
      t.ok(answers.every((a) => a.ok && a.value.n === 1), 'every caller got the value')
      t.equal(metrics.details('flight').loaderCalls, 1)
      t.same(await cache.getOrSet('flight:1', loader), { ok: true, value: { n: 1 } }, 'then it is cached')
      t.equal(calls, 1)
    })

    t.test('a loader error is a LOADER failure for every waiting caller, and is not cached', async (t) => {
      let calls = 0
      const cause = new Error('source down')
      const held = gate()
      const failing = async (): Promise<number> => { calls++; await held.promise; throw cause }
      const all = Array.from({ length: 10 }, async () => await cache.getOrSet('err:1', failing))
      await until('all 10 have missed', () => metrics.stats('err').misses === 10, { everyMs: 1 })
      held.open()
      const answers = await Promise.all(all)
      t.equal(calls, 1)
      for (const a of answers) t.match(a, { ok: false, error: { code: 'LOADER', cause } })
      t.same(await store.exists('gos:err:1'), { ok: true, value: false }, 'nothing written')
      t.same(await cache.getOrSet('err:1', () => 5), { ok: true, value: 5 }, 'the next call runs the loader again')
      t.equal(metrics.details('err').errors, 1)
    })

    t.test('inside grace: the stale value is served at once while exactly one refresh runs', async (t) => {
      const now = Date.now()
      await store.set('gos:acct:1', encodeEntry({ value: 'old', freshUntil: now - 1, staleUntil: now + 60_000, generation: '', tags: [] }) as string, { ttl: 60 })
      let calls = 0
      const held = gate()
      const loader = async (): Promise<string> => { calls++; await held.promise; return 'new' }
      const answers = await Promise.all(Array.from({ length: 100 }, async () => await cache.getOrSet('acct:1', loader, { ttl: 60, grace: 60 })))
      t.ok(answers.every((a) => a.ok && a.value === 'old'), 'all 100 answered with the stale value')
      t.equal(calls, 1, 'one refresh')
      t.equal(metrics.details('acct').staleHits, 100)
      held.open()
      await until('the refresh is written', async () => { const v = await store.get('gos:acct:1'); return v.ok && v.value !== null && v.value.endsWith('"new"') })
      t.same(await cache.getOrSet('acct:1', loader, { ttl: 60, grace: 60 }), { ok: true, value: 'new' })
      t.equal(calls, 1)
    })

    t.test('inside grace: a failed refresh keeps the stale value', async (t) => {
      const now = Date.now()
      await store.set('gos:acct:2', encodeEntry({ value: 'old', freshUntil: now - 1, staleUntil: now + 60_000, generation: '', tags: [] }) as string, { ttl: 60 })
      let calls = 0
      const failing = async (): Promise<string> => { calls++; throw new Error('down') }
      t.same(await cache.getOrSet('acct:2', failing, { grace: 60 }), { ok: true, value: 'old' })
      await until('the refresh failed', () => metrics.details('acct').errors === 1)
      t.same(await cache.getOrSet('acct:2', failing, { grace: 60 }), { ok: true, value: 'old' }, 'still served')
      t.equal(calls >= 1, true)
      const raw = await store.get('gos:acct:2')
      t.match(raw, { ok: true, value: /"old"$/ }, 'the stale entry is kept')
    })

    t.test('negativeTtl caches "not found"; without it, not found is asked again', async (t) => {
      let calls = 0
      const none = (): null => { calls++; return null }
      t.same(await cache.getOrSet('neg:1', none), { ok: true, value: null })
      t.same(await cache.getOrSet('neg:1', none), { ok: true, value: null })
      t.equal(calls, 2)
      t.same(await cache.getOrSet('neg:2', none, { negativeTtl: 5 }), { ok: true, value: null })
      t.same(await cache.getOrSet('neg:2', none, { negativeTtl: 5 }), { ok: true, value: null })
      t.equal(calls, 3)
      const ttl = await store.ttl('gos:neg:2')
      t.ok(ttl.ok && ttl.value !== null && ttl.value <= 5, 'kept for negativeTtl, not ttl')
      t.same(await cache.getOrSet('neg:3', () => undefined, { negativeTtl: 5 }), { ok: true, value: undefined })
      t.same(await cache.getOrSet('neg:3', () => 'loaded', { negativeTtl: 5 }), { ok: true, value: undefined }, 'undefined is cached as undefined')
    })

    t.test('jitter shortens each TTL by up to its fraction; grace adds to the key\'s life', async (t) => {
      for (let i = 0; i < 20; i++) await cache.getOrSet(`jit:${i}`, () => i, { ttl: 100, jitter: 0.5 })
      const ttls = await Promise.all(Array.from({ length: 20 }, async (_, i) => await store.ttl(`gos:jit:${i}`)))
      for (const r of ttls) t.ok(r.ok && r.value !== null && r.value <= 100 && r.value > 49, `ttl ${JSON.stringify(r)}`)
      t.ok(new Set(ttls.map((r) => r.ok && Math.round(r.value as number))).size > 1, 'spread')
      await cache.getOrSet('jit:g', () => 1, { ttl: 10, grace: 100 })
      const g = await store.ttl('gos:jit:g')
      t.ok(g.ok && (g.value as number) > 100, 'the key lives ttl + grace')
    })

    t.test('soft timeout: TIMEOUT for the caller, the loader finishes and caches in the background', async (t) => {
      const held = gate<string>()
      const r = await cache.getOrSet('slow:1', async () => await held.promise, { timeout: 20 })
      t.match(r, { ok: false, error: { code: 'TIMEOUT' } })
      held.open('late')
      await until('the late value is cached', async () => (await store.exists('gos:slow:1')).ok && (await store.exists('gos:slow:1') as { value: boolean }).value)
      t.same(await cache.getOrSet('slow:1', () => 'other'), { ok: true, value: 'late' })
    })

    t.test('soft timeout with grace: the stale value answers after the timeout', async (t) => {
      const now = Date.now()
      await store.set('gos:slow:2', encodeEntry({ value: 'stale', freshUntil: now - 1, staleUntil: now + 60_000, generation: '', tags: [] }) as string, { ttl: 60 })
      const held = gate<string>()
      t.same(await cache.getOrSet('slow:2', async () => await held.promise, { grace: 60, timeout: 20 }), { ok: true, value: 'stale' })
      held.open('fresh')
      await until('the refresh is cached', async () => { const v = await store.get('gos:slow:2'); return v.ok && v.value !== null && v.value.endsWith('"fresh"') })
      const failed = await cache.getOrSet('slow:3', () => { throw new Error('x') }, { grace: 60, timeout: 1000 })
      t.match(failed, { ok: false, error: { code: 'LOADER' } }, 'no stale value: the failure')
    })

    t.test('with lock, two instances missing together run the loader once between them', async (t) => {
      const other = name === 'redis' ? await redisStore(await fileRedis(), 'gos') : undefined
      t.teardown(async () => { await other?.close() })
      const metricsA = new CacheMetrics()
      const metricsB = new CacheMetrics()
      const a = cacheOn(store, metricsA)
      const b = cacheOn(other?.store ?? store, metricsB)
      let calls = 0
      const held = gate()
      const loader = async (): Promise<string> => { calls++; await held.promise; return 'v' }
      const fromA = Array.from({ length: 500 }, async () => await a.getOrSet('locked:1', loader, { lock: { retryMs: 2 } }))
      await until('A holds the lock', () => calls === 1)
      const fromB = Array.from({ length: 500 }, async () => await b.getOrSet('locked:1', loader, { lock: { retryMs: 2 } }))
      await until('B waits for it', () => metricsB.details('locked').lockWaits === 1)
      held.open()
      const answers = await Promise.all([...fromA, ...fromB])
      t.equal(calls, 1, 'one loader call across both instances')
      t.ok(answers.every((x) => x.ok && x.value === 'v'))
      t.same(await store.exists('gos:cache-lock:locked:1'), { ok: true, value: false }, 'the lock is released')
    })

    t.test('with lock: a holder that fails frees the lock, and a waiter loads', async (t) => {
      const metricsB = new CacheMetrics()
      const a = cacheOn(store)
      const b = cacheOn(store, metricsB)
      const held = gate()
      const fromA = a.getOrSet('locked:2', async () => { await held.promise; throw new Error('A failed') }, { lock: { retryMs: 2 } })
      await until('A holds the lock', async () => { const e = await store.exists('gos:cache-lock:locked:2'); return e.ok && e.value })
      const fromB = b.getOrSet('locked:2', () => 'from B', { lock: { retryMs: 2 } })
      await until('B waits', () => metricsB.details('locked').lockWaits === 1)
      held.open()
      t.match(await fromA, { ok: false, error: { code: 'LOADER' } })
      t.same(await fromB, { ok: true, value: 'from B' })
    })

    t.test('with lock: a waiter that wins the lock after the holder wrote and let go answers the holder\'s value, without loading', async (t) => {
      await store.set('gos:cache-lock:locked:4', 'the holder', { ttl: 60 })
      // the race, made to happen: B's second look finds nothing, and just after it the holder writes its
      // value and releases the lock, so B's next claim wins a lock whose value is already there
      let reads = 0
      const racing = new Proxy(store, {
        get: (target, prop) => {
          const own = (target as unknown as Record<string | symbol, unknown>)[prop]
          if (prop !== 'get') return typeof own === 'function' ? own.bind(target) : own
          return async (key: string) => {
            const read = await target.get(key)
            if (key === 'gos:locked:4' && ++reads === 2) {
              const now = Date.now()
              await target.set(key, encodeEntry({ value: 'from the holder', freshUntil: now + 60_000, staleUntil: now + 60_000, generation: '', tags: [] }) as string, { ttl: 60 })
              await target.delete('gos:cache-lock:locked:4')
            }
            return read
          }
        }
      })
      const metricsB = new CacheMetrics()
      let calls = 0
      const b = cacheOn(racing, metricsB)
      t.same(await b.getOrSet('locked:4', () => { calls++; return 'from B' }, { lock: { retryMs: 2 } }), { ok: true, value: 'from the holder' })
      t.equal(calls, 0, 'B did not load')
      t.ok(reads >= 3, 'B looked again after winning the lock')
      t.equal(metricsB.details('locked').lockWaits, 1)
      t.same(await store.exists('gos:cache-lock:locked:4'), { ok: true, value: false }, 'B let its lock go')
    })

    t.test('with lock, a waiter runs the loader itself after waitMs', async (t) => {
      await store.set('gos:cache-lock:locked:3', 'someone else', { ttl: 60 })
      let calls = 0
      t.same(await cache.getOrSet('locked:3', () => { calls++; return 'mine' }, { lock: { waitMs: 30, retryMs: 5 } }), { ok: true, value: 'mine' })
      t.equal(calls, 1)
      t.same(await store.get('gos:cache-lock:locked:3'), { ok: true, value: 'someone else' }, 'another\'s lock is never released')
    })

    t.test('the lock scripts: claim answers the holder; release only with the holder\'s token', async (t) => {
      t.same(await store.runScript(cacheClaim, ['gos:l'], ['a', 60_000]), { ok: true, value: 'a' })
      t.same(await store.runScript(cacheClaim, ['gos:l'], ['b', 60_000]), { ok: true, value: 'a' })
      t.same(await store.runScript(cacheRelease, ['gos:l'], ['b']), { ok: true, value: false })
      t.same(await store.runScript(cacheRelease, ['gos:l'], ['a']), { ok: true, value: true })
      t.same(await store.runScript(cacheClaim, ['gos:g'], ['x', 0]), { ok: true, value: 'x' })
      t.same(await store.ttl('gos:g'), { ok: true, value: null }, 'TTL 0 means none')
    })

    t.test('bad options are INVALID_ARGUMENT, and the loader does not run', async (t) => {
      const bad = [{ ttl: 0 }, { jitter: 2 }, { negativeTtl: -1 }, { grace: Number.NaN }, { timeout: 0 }, { lock: { waitMs: -5 } }]
      for (const options of bad) {
        t.match(await cache.getOrSet('bad:1', () => t.fail('ran'), options), { ok: false, error: { code: 'INVALID_ARGUMENT' } }, JSON.stringify(options))
      }
      t.match(await cache.getOrSet('', () => 1), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
      t.match(await cache.getOrSet('sess:x', () => 1), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
    })

    t.test('a value written by setJson reads as fresh; a non-JSON one is a DECODE error and reloaded', async (t) => {
      await cache.setJson('plain:1', { a: 1 })
      t.same(await cache.getOrSet('plain:1', () => ({ a: 2 })), { ok: true, value: { a: 1 } })
      await store.set('gos:plain:2', '{oops')
      t.same(await cache.getOrSet('plain:2', () => 'fixed'), { ok: true, value: 'fixed' })
      t.same(await cache.getOrSet('plain:2', () => 'again'), { ok: true, value: 'fixed' }, 'overwritten')
    })

    t.test('values with no JSON form are answered but not cached', async (t) => {
      const fn = (): unknown => () => 1
      const r = await cache.getOrSet('fn:1', fn)
      t.ok(r.ok && typeof r.value === 'function')
      t.same(await store.exists('gos:fn:1'), { ok: true, value: false })
    })
  })
}
