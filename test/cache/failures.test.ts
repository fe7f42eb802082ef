import { Type } from '@sinclair/typebox'
import t from 'tap'
import { until } from '../../harness/wait.js'
import { Cache } from '../../lib/cache.js'
import { encodeEntry } from '../../lib/cache/envelope.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { CacheMetrics } from '../../lib/metrics.js'
import { fileRedis } from '../helpers/backends.js'
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
