import { execFileSync } from 'node:child_process'
import t, { type Test } from 'tap'
import { until } from '../../harness/wait.js'
import { Cache } from '../../lib/cache.js'
import { encodeEntry } from '../../lib/cache/envelope.js'
import { NearCache } from '../../lib/cache/near-cache.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { CacheMetrics } from '../../lib/metrics.js'
import type { Store } from '../../lib/store/store.js'
import { fileRedis, ownRedis } from '../helpers/backends.js'
import { memoryStore, redisStore } from '../helpers/stores.js'

// The near cache (L1): answers from this process while Redis says nothing
// changed, evicted in every instance by any client's write (a plain redis-cli
// SET included), flushed and bypassed while its invalidation connection is down.

const redis = await fileRedis()

async function instance (t: Test, metrics = new CacheMetrics()): Promise<{ cache: Cache, metrics: CacheMetrics }> {
  const { store, close } = await redisStore(redis, 'l1')
  const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'l1' }), metrics }))
  t.teardown(async () => { await cache.close(); await close() })
  return { cache, metrics }
}

/** An entry as cachekit writes it, under the namespace's current generation. */
async function entryFor (store: Store, namespace: string, value: unknown): Promise<string> {
  const gen = await store.get(`l1:${namespace}:g`)
  return encodeEntry({ value, freshUntil: Date.now() + 60_000, staleUntil: Date.now() + 60_000, generation: gen.ok ? gen.value as string : '', tags: [] }) as string
}

t.test('a write by redis-cli evicts the entry in a second instance', async (t) => {
  const a = await instance(t)
  const b = await instance(t)
  const nsA = a.cache.namespace<string>('hot', { ttl: 60, l1: true })
  const nsB = b.cache.namespace<string>('hot', { ttl: 60, l1: { maxEntries: 100 } })
  t.ok(await nsA.l1?.ready(), 'A tracking')
  t.ok(await nsB.l1?.ready(), 'B tracking')
  await nsA.set('k', 'one')
  t.same(await nsB.get('k'), { ok: true, value: 'one' })
  t.same(await nsB.get('k'), { ok: true, value: 'one' })
  t.equal(b.metrics.details('hot').l1Hits, 1, 'the second read came from B\'s memory')
  t.equal(nsB.l1?.size, 2, 'the generation and the value are held')

  execFileSync('redis-cli', ['-p', String(redis.port), 'SET', 'l1:hot:v:k', await entryFor(a.cache.store, 'hot', 'two')])
  await until('B hears of the write', () => nsB.l1?.size === 1)
  t.ok(b.metrics.details('hot').l1Evictions >= 1, 'counted as an eviction')
  t.same(await nsB.get('k'), { ok: true, value: 'two' }, 'B reads the new value')

  // invalidateAll from A: one SET of the generation, heard by B
  await nsA.invalidateAll()
  await until('B drops the generation', async () => (await nsB.get('k')).ok && (await nsB.get('k') as { value: unknown }).value === null)
  t.pass('B sees the invalidation')
})

t.test('values pushing each other out of a full L1 never push out the namespace\'s generation', async (t) => {
  const { cache, metrics } = await instance(t)
  const ns = cache.namespace<number>('small', { ttl: 60, l1: { maxEntries: 2 } })
  t.ok(await ns.l1?.ready())
  for (let i = 0; i < 5; i++) {
    await ns.set(`k${i}`, i)
    t.same(await ns.get(`k${i}`), { ok: true, value: i })
  }
  t.equal(ns.l1?.size, 3, 'two values (the LRU is full) and the generation beside them')
  t.equal(metrics.details('small').l1Evictions, 4, 'three values pushed out, and the generation\'s "not there" let go when the first write made it: each counted once')
  await Promise.all(Array.from({ length: 20 }, async () => await ns.get('missing')))
  t.equal(metrics.details('small').l1Evictions, 5, 'twenty reads of one key replacing each other\'s reply: one more value pushed out, nothing else counted')
  const before = metrics.details('small').l1Hits
  t.same(await ns.getOrSet('k4', () => -1), { ok: true, value: 4 })
  t.equal(metrics.details('small').l1Hits, before + 1, 'a hit from memory: the generation was still held')
  await ns.invalidateAll()
  t.equal(ns.l1?.size, 2, 'the generation let go at once by this instance\'s own invalidation')
  t.equal(metrics.details('small').l1Evictions, 6, 'and the generation let go, counted')
})

t.test('while the invalidation connection is down, L1 is flushed and bypassed; it comes back', async (t) => {
  const own = await ownRedis(t)
  const { store, close } = await redisStore(own, 'l1')
  // the test's own commands as the unrestricted user; the door closed on the store's user: the default one's
  // password, or the ACL user turned off (CACHEKIT_TEST_REDIS_ACL=1)
  const client = own.client()
  const user = decodeURIComponent(new URL(own.url).username)
  const door = async (open: boolean): Promise<void> => {
    if (user === '') await client.config('SET', 'requirepass', open ? '' : 'closed-for-now')
    else await client.call('ACL', 'SETUSER', user, open ? 'on' : 'off')
  }
  const metrics = new CacheMetrics()
  const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'l1' }), metrics }))
  t.teardown(async () => { await cache.close(); await close() })
  const ns = cache.namespace<string>('flaky', { ttl: 60, l1: true })
  const near = ns.l1 as NearCache
  t.ok(await near.ready())
  await ns.set('k', 'one')
  // the invalidations of our own write may still be on their way: read until L1 holds it
  await until('answered from L1', async () => { await ns.get('k'); return metrics.details('flaky').l1Hits >= 1 })
  // connections already open stay; a new one (the reconnection) is refused until the password goes
  await door(false)
  await client.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await until('the near cache notices', () => near.state === 'down')
  t.equal(near.size, 0, 'flushed')
  // while down every read goes to Redis: a write nobody announces is seen at once
  const hitsBefore = metrics.details('flaky').l1Hits
  for (const value of ['two', 'three']) {
    await client.set('l1:flaky:v:k', await entryFor(store, 'flaky', value))
    t.same(await ns.get('k'), { ok: true, value })
    t.same(await ns.get('k'), { ok: true, value })
  }
  t.equal(near.state, 'down')
  t.equal(metrics.details('flaky').l1Hits, hitsBefore, 'no L1 answers while down')
  await door(true)
  t.ok(await near.ready(5000), 'tracking is back after the reconnection')
  await ns.get('k')
  t.same(await ns.get('k'), { ok: true, value: 'three' })
  t.equal(metrics.details('flaky').l1Hits, hitsBefore + 1, 'and L1 answers again')
})

t.test('a read whose key is invalidated while it is in flight is not kept', async (t) => {
  const a = await instance(t)
  const ns = a.cache.namespace<string>('racing', { ttl: 60, l1: true })
  const near = ns.l1 as NearCache
  t.ok(await near.ready())
  await ns.set('k', 'v')
  near.flush()
  const reading = near.getMany(['l1:racing:v:k'])
  near.flush() // as an invalidation arriving before the reply would
  t.match(await reading, { ok: true })
  t.equal(near.size, 0)
})

t.test('not on a Cluster; not needed on the memory store', async (t) => {
  const fakeCluster = { kind: 'redis', cluster: true, prefix: 'x' } as unknown as Store
  t.throws(() => new NearCache(new ComponentContext({ store: fakeCluster }), 'ns'), /not supported on a Redis Cluster/)
  t.throws(() => new NearCache(new ComponentContext({ store: memoryStore('x').store }), 'ns'), /needs a Redis store/)
  const { store, close } = memoryStore('l1')
  t.teardown(close)
  const cache = new Cache(new ComponentContext({ store }))
  const ns = cache.namespace<string>('mem', { l1: true })
  t.equal(ns.l1, undefined, 'the memory store is already in-process')
  await ns.set('k', 'v')
  t.same(await ns.get('k'), { ok: true, value: 'v' })
})
