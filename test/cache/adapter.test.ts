import t from 'tap'
import { Cache } from '../../lib/cache.js'
import { KeyBuilder } from '../../lib/keys.js'
import { CacheMetrics } from '../../lib/metrics.js'
import { storeBackends } from '../helpers/backends.js'
import { faultyStore } from '../helpers/faulty-store.js'
import { memoryStore } from '../helpers/stores.js'
import { ComponentContext } from '../../lib/context.js'

// fastify.cache: relative keys under the prefix, per-namespace metrics, fail-open helpers.
for (const { name, store } of await storeBackends('ck')) {
  t.test(`cache adapter: ${name}`, async (t) => {
    const metrics = new CacheMetrics()
    const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'ck' }), metrics }))
    t.beforeEach(async () => { await cache.clear(); metrics.reset() })

    t.test('keys are relative to the prefix', async (t) => {
      await cache.set('users:1', 'alice')
      t.same(await store.get('ck:users:1'), { ok: true, value: 'alice' })
      t.same(await cache.get('users:1'), { ok: true, value: 'alice' })
    })

    t.test('every operation, relative', async (t) => {
      t.same(await cache.setJson('users:2', { n: 2 }, { ttl: 30 }), { ok: true, value: true })
      t.same(await cache.getJson('users:2'), { ok: true, value: { n: 2 } })
      t.same(await cache.exists('users:2'), { ok: true, value: true })
      const ttl = await cache.ttl('users:2')
      t.ok(ttl.ok && ttl.value !== null && ttl.value <= 30)
      t.same(await cache.expire('users:2', 60), { ok: true, value: true })
      t.same(await cache.increment('hits:a'), { ok: true, value: 1 })
      t.same(await cache.increment('hits:a', 4), { ok: true, value: 5 })
      t.same(await cache.decrement('hits:a', 2), { ok: true, value: 3 })
      t.same(await cache.setMany([['posts:1', 'a'], ['posts:2', 'b']], { ttl: 10 }), { ok: true, value: true })
      t.same(await cache.getMany(['posts:1', 'posts:9', 'posts:2']), { ok: true, value: ['a', null, 'b'] })
      t.same(await cache.deletePattern('posts:*'), { ok: true, value: 2 })
      t.same(await cache.getDel('users:2'), { ok: true, value: '{"n":2}' })
      t.same(await cache.delete('hits:a'), { ok: true, value: true })
      t.ok((await cache.ping()).ok)
    })

    t.test('hits, misses and errors are counted per namespace', async (t) => {
      await cache.set('users:1', 'x')
      await cache.get('users:1')
      await cache.get('users:2')
      await cache.getMany(['posts:1', 'users:1'])
      await store.set('ck:bad:1', '{oops')
      await cache.getJson('bad:1')
      await cache.get('lonely')
      const s = metrics.snapshot()
      t.same([s.users?.hits, s.users?.misses], [2, 1])
      t.same([s.posts?.misses], [1])
      t.same([s.bad?.errors], [1], 'a DECODE failure is an error')
      t.same([s.default?.misses], [1], 'a key without a namespace counts as default')
    })

    t.test('bad keys are INVALID_ARGUMENT before any call', async (t) => {
      const results = await Promise.all([
        cache.get(''), cache.getJson(''), cache.set('', 'x'), cache.setJson('', 1), cache.delete(''), cache.exists(''),
        cache.expire('', 1), cache.ttl(''), cache.increment(''), cache.decrement(''), cache.getDel(''),
        cache.getMany(['ok', '']), cache.setMany([['', 'x']]), cache.deletePattern(''), cache.getMany('x' as unknown as string[])
      ])
      for (const r of results) t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
    })

    t.test('the plugins\' namespaces are fenced off', async (t) => {
      const refused = await Promise.all([
        cache.set('sess:{u}:1', 'x'), cache.get('authz:x'), cache.getMany(['users:1', 'oauth:s']),
        cache.setMany([['ratelimit:k', '1']]), cache.deletePattern('sess-rev:*'), cache.getDel('sess-idx:{u}')
      ])
      for (const r of refused) t.match(r, { ok: false, error: { code: 'INVALID_ARGUMENT', message: /belongs to a cachekit plugin/ } })
      for (const glob of ['*', 's*:x', '[a-z]*:1', '?:1', 'users']) {
        const r = await cache.deletePattern(glob)
        t.equal(!r.ok && r.error.code, glob === 'users' ? false : 'INVALID_ARGUMENT', `pattern ${glob}`)
      }
      // clear() leaves plugin keys (a session tombstone, say) in place
      await store.set('ck:sess-rev:{u}', 'tombstone')
      await cache.set('users:9', 'x')
      t.same(await cache.clear(), { ok: true, value: 1 })
      t.same(await store.get('ck:sess-rev:{u}'), { ok: true, value: 'tombstone' })
      await store.clear()
    })

    t.test('getOrSet: computes once, then serves the cache', async (t) => {
      let calls = 0
      const compute = async (): Promise<{ v: number }> => { calls++; return { v: 7 } }
      t.same(await cache.getOrSet('calc:1', compute, { ttl: 30 }), { ok: true, value: { v: 7 } })
      t.same(await cache.getOrSet('calc:1', compute), { ok: true, value: { v: 7 } })
      t.equal(calls, 1)
      t.same(await cache.getOrSet('calc:undef', () => undefined), { ok: true, value: undefined }, 'undefined is returned, not cached')
      t.same(await cache.exists('calc:undef'), { ok: true, value: false })
    })

    t.test('wrap: a cached function keyed by its arguments', async (t) => {
      let calls = 0
      const square = cache.wrap(async (n: number) => { calls++; return n * n }, { key: (n) => `sq:${n}`, ttl: 30 })
      t.same(await square(3), { ok: true, value: 9 })
      t.same(await square(3), { ok: true, value: 9 })
      t.same(await square(4), { ok: true, value: 16 })
      t.equal(calls, 2)
      const noTtl = cache.wrap((n: number) => n + 1, { key: (n) => `inc:${n}` })
      t.same(await noTtl(1), { ok: true, value: 2 })
      const ttl = await cache.ttl('inc:1')
      t.ok(ttl.ok && ttl.value !== null && ttl.value <= 300, 'default TTL applies')
    })

    t.test('loader errors reach the caller as a LOADER failure with the error as cause', async (t) => {
      const boom = new Error('db down')
      const r = await cache.getOrSet('boom:1', () => { throw boom })
      t.match(r, { ok: false, error: { code: 'LOADER', message: /db down/ } })
      t.equal(!r.ok && r.error.cause, boom)
    })

    t.test('defaults: its own metrics, a 300 s default TTL', async (t) => {
      const plain = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'ck' }) }))
      t.ok(plain.metrics instanceof CacheMetrics)
      t.equal(plain.defaultTtl, 300)
    })

    t.test('health', async (t) => {
      const h = await cache.health()
      t.equal(h.status, 'up')
      t.equal(h.store, name === 'cluster' ? 'redis' : name)
    })
  })
}

t.test('fail-open: with the store failing, helpers compute and methods return failures', async (t) => {
  const { store, close } = memoryStore('ck')
  t.teardown(close)
  const warnings: string[] = []
  const metrics = new CacheMetrics()
  const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'ck' }), metrics, logger: { warn: (_d, m) => { warnings.push(m) } } }))
  faultyStore(t, store).fail('UNAVAILABLE')

  t.same(await cache.getOrSet('users:1', () => 'fresh'), { ok: true, value: 'fresh' })
  const r = await cache.get('users:1')
  t.equal(!r.ok && r.error.code, 'UNAVAILABLE')
  const many = await cache.getMany(['users:1'])
  t.equal(many.ok, false)
  const h = await cache.health()
  t.equal(h.status, 'down')
  t.type(h.reason, 'string')
  const s = metrics.stats('users')
  t.ok(s.errors >= 3, 'failures counted')
  t.equal(s.degraded, 1, 'the computed answer is counted as degraded')
  t.equal(warnings.length, 1, 'warned once, not once per call')
})
