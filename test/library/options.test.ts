import Fastify from 'fastify'
import t from 'tap'
import { cachePlugin, metricsPlugin } from '../../index.js'
import { startRedis } from '../../harness/redis-server.js'
import { bothStores } from '../helpers/stores.js'

// What users really pass: an empty REDIS_URL, plugins in either order, a Record to setMany.

t.test('redisUrl: "" means the memory store, as if unset', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cachePlugin, { redisUrl: '' })
  t.equal(app.cache.store.kind, 'memory')
  const explicit = Fastify()
  t.teardown(() => explicit.close())
  await explicit.register(cachePlugin, { redisUrl: undefined })
  t.equal(explicit.cache.store.kind, 'memory')
})

t.test('metricsPlugin may come before or after cachePlugin, and counts either way', async (t) => {
  for (const order of [[metricsPlugin, cachePlugin], [cachePlugin, metricsPlugin]] as const) {
    const app = Fastify()
    t.teardown(() => app.close())
    for (const plugin of order) await app.register(plugin as typeof cachePlugin)
    await app.cache.get('users:1')
    t.equal(app.cacheMetrics.stats('users').misses, 1)
  }
})

const redis = await startRedis()
t.teardown(() => redis.stop())

for (const { name, store, close } of await bothStores(redis, 'opts')) {
  t.test(`setMany takes a Record, a Map or pairs; anything else is INVALID_ARGUMENT (${name})`, async (t) => {
    t.teardown(close)
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(cachePlugin, { prefix: 'opts', ...(name === 'redis' ? { redisUrl: redis.url } : {}) })
    const cache = app.cache
    t.same(await cache.setMany({ a: '1', b: '2' }), { ok: true, value: true })
    t.same(await cache.setMany(new Map([['c', '3']])), { ok: true, value: true })
    t.same(await cache.setMany([['d', '4']]), { ok: true, value: true })
    t.same(await cache.setMany((function * () { yield ['e', '5'] as const })()), { ok: true, value: true })
    t.same(await cache.getMany(['a', 'b', 'c', 'd', 'e']), { ok: true, value: ['1', '2', '3', '4', '5'] })
    t.same(await store.setMany({ 'opts:f': '6' }), { ok: true, value: true }, 'the store takes a Record too')
    t.same(await store.get('opts:f'), { ok: true, value: '6' })

    const junk: unknown[] = [42, 'ab', null, undefined, true, [['only-key']], [1, 2], [[1, 'x']], { a: 1 }]
    for (const input of junk) {
      const result = await cache.setMany(input as Record<string, string>)
      t.equal(result.ok ? 'ok' : result.error.code, 'INVALID_ARGUMENT', `setMany(${JSON.stringify(input)})`)
      const direct = await store.setMany(input as Record<string, string>)
      t.equal(direct.ok ? 'ok' : direct.error.code, 'INVALID_ARGUMENT', `store.setMany(${JSON.stringify(input)})`)
    }
    for (const input of [42, 'a', null, undefined, { 0: 'a' }, [1]]) {
      const result = await cache.getMany(input as unknown as string[])
      t.equal(result.ok ? 'ok' : result.error.code, 'INVALID_ARGUMENT', `getMany(${JSON.stringify(input)})`)
    }
    for (const input of [42, null, undefined, {}]) {
      const result = await cache.deletePattern(input as string)
      t.equal(result.ok ? 'ok' : result.error.code, 'INVALID_ARGUMENT', `deletePattern(${JSON.stringify(input)})`)
    }
  })
}
