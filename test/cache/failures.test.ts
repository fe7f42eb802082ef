import { Type } from '@sinclair/typebox'
import t from 'tap'
import { until } from '../../harness/wait.js'
import { Cache } from '../../lib/cache.js'
import { CacheAside } from '../../lib/cache/aside.js'
import { encodeEntry } from '../../lib/cache/envelope.js'
import { CacheNamespace, type Reader } from '../../lib/cache/namespace.js'
import type { NearCache } from '../../lib/cache/near-cache.js'
import { fail } from '../../lib/result.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { CacheMetrics } from '../../lib/metrics.js'
import { fileRedis, ownRedis } from '../helpers/backends.js'
import { faultyStore } from '../helpers/faulty-store.js'
import { memoryStore, redisStore } from '../helpers/stores.js'

// Cache-aside when the store fails: namespaces answer failures (counted and
// warned through the context) or, for getOrSet, the loader's value; a lock that
// cannot be taken does not stop the load; bad stored data is an error, not a value.
// And the near cache's own paths: getOrSet answered from L1, and its misses.

t.test('namespaces on a failing store', async (t) => {
  const { store, close } = memoryStore('nf')
  t.teardown(close)
  const warnings: string[] = []
  const metrics = new CacheMetrics()
  const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'nf' }), metrics, logger: { warn: (_d, m) => { warnings.push(m) } } }))
  const ns = cache.namespace<string>('down', { ttl: 60 })
  await ns.set('k', 'v', { tags: ['a'] })
  const faults = faultyStore(t, store).fail('UNAVAILABLE')
  t.match(await ns.get('k'), { ok: false, error: { code: 'UNAVAILABLE' } })
  t.match(await ns.set('k', 'w'), { ok: false, error: { code: 'UNAVAILABLE' } })
  t.match(await ns.delete('k'), { ok: false, error: { code: 'UNAVAILABLE' } })
  t.match(await ns.invalidateAll(), { ok: false, error: { code: 'UNAVAILABLE' } })
  t.match(await ns.invalidateTags(['a']), { ok: false, error: { code: 'UNAVAILABLE' } })
  let calls = 0
  t.same(await ns.getOrSet('k', () => { calls++; return 'from the source' }), { ok: true, value: 'from the source' }, 'getOrSet answers from the loader')
  t.same(await ns.getOrSet('k', () => 'again', { lock: true }), { ok: true, value: 'again' }, 'with a lock too')
  t.equal(calls, 1)
  t.ok(metrics.stats('down').errors >= 7, 'each failure counted')
  t.equal(metrics.stats('down').degraded, 2)
  t.equal(warnings.length, 1, 'warned once')

  // only the tag generations fail after the value was read
  faults.heal()
  faults.fail('UNAVAILABLE', { only: ['getMany'] })
  t.match(await ns.get('k'), { ok: false })
  faults.heal()

  // the lock's claim fails: the loader runs anyway, and its value is written
  faults.fail('TIMEOUT', { only: ['runScript'] })
  t.same(await ns.getOrSet('locked', () => 'loaded', { lock: true }), { ok: true, value: 'loaded' })
  faults.heal()
  t.same(await ns.get('locked'), { ok: true, value: 'loaded' })

  // a write whose generation cannot be claimed is not made (the next read loads again)
  await ns.invalidateAll()
  await store.delete('nf:down:g')
  faults.fail('UNAVAILABLE', { only: ['runScript'] })
  t.same(await ns.getOrSet('nogen', () => 'x'), { ok: true, value: 'x' })
  faults.heal()
  t.same(await store.exists('nf:down:v:nogen'), { ok: true, value: false })
  // a plain set whose SET fails
  faults.fail('UNAVAILABLE', { only: ['set'] })
  t.match(await ns.set('k2', 'v'), { ok: false, error: { code: 'UNAVAILABLE' } })
  faults.heal()
})

t.test('bad stored data: a DECODE error, then the loader overwrites it', async (t) => {
  const { store, close } = memoryStore('bd')
  t.teardown(close)
  const metrics = new CacheMetrics()
  const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'bd' }), metrics }))
  const ns = cache.namespace<string>('bad', { ttl: 60 })
  await ns.set('k', 'v')
  await store.set('bd:bad:v:k', 'ck1|garbage')
  t.match(await ns.get('k'), { ok: false, error: { code: 'DECODE' } })
  t.same(await ns.getOrSet('k', () => 'fixed'), { ok: true, value: 'fixed' })
  t.same(await ns.get('k'), { ok: true, value: 'fixed' })
  // a value whose tag names cannot make a key is invalid, not an error
  const gen = await store.get('bd:bad:g')
  await store.set('bd:bad:v:odd', encodeEntry({ value: 'x', freshUntil: Date.now() + 60_000, staleUntil: Date.now() + 60_000, generation: gen.ok ? gen.value as string : '', tags: [['', 'g']] }) as string)
  t.same(await ns.get('odd'), { ok: true, value: null })
  // stale values are not answered by get
  await store.set('bd:bad:v:stale', encodeEntry({ value: 'x', freshUntil: Date.now() - 1, staleUntil: Date.now() + 60_000, generation: gen.ok ? gen.value as string : '', tags: [] }) as string)
  t.same(await ns.get('stale'), { ok: true, value: null })
  // values with no JSON form are not written
  t.match(await ns.set('fn', (() => 1) as unknown as string), { ok: false, error: { code: 'ENCODE' } })
  t.match(await cache.getOrSet('raw:fn', () => (() => 1) as unknown as string), { ok: true })
})

t.test('the near cache answers getOrSet without Redis, and misses what it must', async (t) => {
  const redis = await fileRedis()
  const { store, client, close } = await redisStore(redis, 'l1f')
  const metrics = new CacheMetrics()
  const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'l1f' }), metrics }))
  t.teardown(async () => { await cache.close(); await close() })
  const Schema = Type.Object({ n: Type.Number() })
  const ns = cache.namespace<{ n: number }>('near', { ttl: 60, l1: true, schema: Schema })
  t.ok(await ns.l1?.ready())
  let calls = 0
  const load = (): { n: number } => { calls++; return { n: calls } }
  t.same(await ns.getOrSet('k', load, { tags: ['t1'] }), { ok: true, value: { n: 1 } })
  // our own writes' invalidations may still be on their way: read until L1 holds it
  await until('answered from L1', async () => {
    t.same(await ns.getOrSet('k', load, { tags: ['t1'] }), { ok: true, value: { n: 1 } })
    return metrics.details('near').l1Hits >= 1
  })
  t.equal(calls, 1)
  // a tag invalidated elsewhere: L1 hears of it, and the value is loaded again
  await client.set('l1f:near:t:t1', 'changed')
  await until('the tag generation is dropped from L1', async () => (await ns.getOrSet('k', load, { tags: ['t1'] })).ok && calls === 2)
  // a value failing the schema, written by someone else: a miss from L1 too
  const gen = await client.get('l1f:near:g')
  await client.set('l1f:near:v:s', encodeEntry({ value: { n: 'one' }, freshUntil: Date.now() + 60_000, staleUntil: Date.now() + 60_000, generation: gen as string, tags: [] }) as string)
  await ns.get('s')
  await ns.get('s')
  t.same(await ns.getOrSet('s', () => ({ n: 9 })), { ok: true, value: { n: 9 } })
  // garbage in the value key: not an L1 hit, a DECODE error and a reload
  await client.set('l1f:near:v:g', 'ck1|garbage')
  await ns.get('g')
  await ns.get('g')
  t.same(await ns.getOrSet('g', () => ({ n: 7 })), { ok: true, value: { n: 7 } })
  // a bad key is refused before L1
  t.match(await ns.getOrSet('', load), { ok: false, error: { code: 'INVALID_ARGUMENT' } })
  // a missing generation (deleted by hand): a miss, a new generation, a load
  await client.del('l1f:near:g')
  await until('L1 drops the generation', async () => (await ns.get('k')).ok && (await ns.get('k') as { value: unknown }).value === null)
  t.same(await ns.getOrSet('k', () => ({ n: 42 })), { ok: true, value: { n: 42 } })
  t.equal(ns.l1?.state, 'up')
  await ns.l1?.close()
  t.equal(ns.l1?.state, 'closed')
  t.same(await ns.get('k'), { ok: true, value: { n: 42 } }, 'a closed near cache reads through')
})

t.test('a refresh never waits for another instance\'s lock; a loader may throw anything', async (t) => {
  const { store, close } = memoryStore('rf')
  t.teardown(close)
  const metrics = new CacheMetrics()
  const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'rf' }), metrics }))
  const now = Date.now()
  await store.set('rf:acct:1', encodeEntry({ value: 'old', freshUntil: now - 1, staleUntil: now + 60_000, generation: '', tags: [] }) as string, { ttl: 60 })
  await store.set('rf:cache-lock:acct:1', 'another instance', { ttl: 60 })
  let calls = 0
  t.same(await cache.getOrSet('acct:1', () => { calls++; return 'new' }, { grace: 60, lock: true }), { ok: true, value: 'old' })
  await until('the refresh gave way', async () => { const r = await cache.getOrSet('acct:1', () => 'x', { grace: 60, lock: true }); return r.ok && metrics.details('acct').staleHits === 2 })
  t.equal(calls, 0, 'the holder refreshes, not this instance')
  const thrown = await cache.getOrSet('str:1', () => { throw 'a string' }) // eslint-disable-line no-throw-literal
  t.match(thrown, { ok: false, error: { code: 'LOADER', message: /a string/, cause: 'a string' } })
})

t.test('namespace edges: its name, a failing second read, missing tag generations, not-found values, odd tags', async (t) => {
  const { store, close } = memoryStore('ne')
  t.teardown(close)
  const context = new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'ne' }) })
  t.throws(() => new CacheNamespace(context, new CacheAside(context), store, 'bad name', {}, 60), /cache.namespace: namespace must match/)
  t.throws(() => new CacheNamespace(context, new CacheAside(context), store, 'ok', { jitter: 3 }, 60), /jitter/)
  let reads = 0
  const flaky: Reader = { getMany: async (keys) => ++reads === 3 ? fail('UNAVAILABLE', 'the third read fails') : await store.getMany(keys) }
  const ns = new CacheNamespace<string | null>(context, new CacheAside(context), flaky, 'edges', {}, 60)
  await ns.set('k', 'v', { tags: ['t'] }) // read 1: the generations
  t.match(await ns.get('k'), { ok: false, error: { code: 'UNAVAILABLE' } }, 'read 2 (generation and value) answers, read 3 (the tag\'s generation) fails')
  t.same(await ns.get('k'), { ok: true, value: 'v' })
  await store.delete('ne:edges:t:t')
  t.same(await ns.get('k'), { ok: true, value: null }, 'a missing tag generation: a miss')
  t.same(await ns.getOrSet('none', () => null, { negativeTtl: 5 }), { ok: true, value: null })
  t.same(await ns.get('none'), { ok: true, value: null }, 'a cached not-found reads as null')
  t.match(await ns.set('k', 'v', { tags: ['x'.repeat(600)] }), { ok: false, error: { code: 'INVALID_ARGUMENT' } }, 'a tag too long for a key')
  const gen = await store.get('ne:edges:g')
  await store.set('ne:edges:v:odd', encodeEntry({ value: 'x', freshUntil: Date.now() + 60_000, staleUntil: Date.now() + 60_000, generation: gen.ok ? gen.value as string : '', tags: [['\u0001', 'g']] }) as string)
  t.same(await ns.get('odd'), { ok: true, value: null }, 'a stored tag that can make no key: invalid')
})

t.test('the near cache through outages: heartbeat, a dropped data connection, FLUSHALL', async (t) => {
  const own = await ownRedis(t)
  const { store, close } = await redisStore(own, 'hb', { commandTimeoutMs: 100 })
  // CLIENT LIST/KILL and FLUSHALL as the unrestricted user: the store's may not send them (CACHEKIT_TEST_REDIS_ACL=1)
  const client = own.client()
  const metrics = new CacheMetrics()
  const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'hb' }), metrics }))
  t.teardown(async () => { await cache.close(); await close() })
  const ns = cache.namespace<string>('beat', { ttl: 60, l1: { heartbeatMs: 30 } })
  const near = ns.l1 as NearCache
  t.ok(await near.ready())
  await ns.set('k', 'v')
  await until('held', async () => { await ns.getOrSet('k', () => 'x'); return metrics.details('beat').l1Hits >= 1 })

  // the data connection drops: tracking is turned on again over the same subscription
  const list = await client.call('CLIENT', 'LIST') as string
  const dataId = /id=(\d+) [^\n]*name=cachekit-l1-data/.exec(list)?.[1] as string
  await client.call('CLIENT', 'KILL', 'ID', dataId)
  await until('down', () => near.state !== 'up', { everyMs: 1 }).catch(() => {})
  t.ok(await near.ready(5000), 'up again')
  await ns.delete('k')
  await ns.invalidateTags(['t'])
  t.same(await ns.get('k'), { ok: true, value: null })
  await ns.set('k', 'w')
  await until('held again', async () => { const before = metrics.details('beat').l1Hits; await ns.getOrSet('k', () => 'x'); return metrics.details('beat').l1Hits > before })

  // FLUSHALL: Redis tells tracking clients to drop everything
  await client.flushall()
  await until('flushed', () => near.size === 0)
  t.same(await ns.get('k'), { ok: true, value: null })

  // a hung Redis: reads fall back to the store (and its deadline), the heartbeat marks L1 down
  await ns.set('k', 'x')
  await ns.get('k')
  own.pause()
  t.teardown(() => { own.resume() })
  t.match(await ns.get('not-held'), { ok: false, error: { code: 'TIMEOUT' } }, 'the tracked read timed out, the store too')
  await until('the heartbeat notices', () => near.state === 'down')
  own.resume()
  t.ok(await near.ready(5000), 'back after the pause')
  await near.close()
  t.match(await ns.getOrSet('k', () => 'y'), { ok: true }, 'a closed near cache reads through')
})
