import fastifyRedis from '@fastify/redis'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import t from 'tap'
import { cachePlugin, metricsPlugin, oauthStatePlugin, sessionCachePlugin } from '../../index.js'
import { cachekitApp } from '../helpers/apps.js'
import { fileRedis, storeBackends } from '../helpers/backends.js'

// What users pass to the plugins: what each forgives (an empty REDIS_URL, plugins in
// either order, a Record to setMany) and what it refuses, naming itself.

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

// The cache plugin: a Redis of your own, or one @fastify/redis holds, and its options checked.
t.test('cache plugin options are validated and named in the error', async (t) => {
  const app = Fastify()
  app.register(cachePlugin, { commandTimeoutMs: -1 })
  await t.rejects(async () => { await app.ready() }, /cachekit-cache: option commandTimeoutMs/)
  const typo = Fastify()
  typo.register(cachePlugin, { prefx: 'x' } as never)
  await t.rejects(async () => { await typo.ready() }, /cachekit-cache: option prefx/)
  const bare = Fastify()
  bare.register(cachePlugin, { store: 'redis' })
  await t.rejects(async () => { await bare.ready() }, /needs redisUrl, client, or @fastify\/redis/)
})

t.test('a client you pass is used and left open for you to close', async (t) => {
  const redis = await fileRedis()
  const client = new Redis(redis.url, { lazyConnect: true, commandTimeout: 200 })
  client.on('error', () => {})
  const app = Fastify()
  await app.register(cachePlugin, { client, prefix: 'mine' })
  await app.cache.set('k:1', 'v')
  t.equal(await redis.client().get('mine:k:1'), 'v')
  await app.close()
  t.equal(client.status, 'ready', 'still open')
  client.disconnect()
})

t.test('@fastify/redis registered first: its connection is adopted', async (t) => {
  const redis = await fileRedis()
  const app = Fastify()
  await app.register(fastifyRedis, { url: redis.url, commandTimeout: 200 })
  await app.register(cachePlugin)
  t.equal(app.cache.store.kind, 'redis')
  await app.cache.set('k:1', 'v')
  t.equal(await app.redis.get('cachekit:k:1'), 'v')
  await app.close()
})

t.test('memory store options', async (t) => {
  const app = Fastify()
  await app.register(cachePlugin, { store: 'memory', memoryMaxEntries: 2, prefix: 'm' })
  await app.cache.set('a', '1'); await app.cache.set('b', '2'); await app.cache.set('c', '3')
  t.same(await app.cache.getMany(['a', 'b', 'c']), { ok: true, value: [null, '2', '3'] }, 'bounded: the oldest went')
  await app.close()
})

for (const { name, store } of await storeBackends('opts')) {
  t.test(`setMany takes a Record, a Map or pairs; anything else is INVALID_ARGUMENT (${name})`, async (t) => {
    const { cache } = await cachekitApp(t, name, { cache: { prefix: 'opts' } })
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

// The other plugins check their options at registration and name themselves in the error.
t.test('session cache plugin options are checked at registration', async (t) => {
  const badTtl = Fastify({ logger: false })
  await badTtl.register(cachePlugin)
  await t.rejects(async () => { await badTtl.register(sessionCachePlugin, { ttl: -1 }).ready() }, /cachekit-session-cache: option ttl/)
  const badKey = Fastify({ logger: false })
  await badKey.register(cachePlugin)
  await t.rejects(async () => { await badKey.register(sessionCachePlugin, { encryptionKeys: [{ id: 'k', key: 'c2hvcnQ=' }] }).ready() }, /cachekit-session-cache: encryption key k must be 32 bytes/)
  const fine = Fastify({ logger: false })
  await fine.register(cachePlugin)
  await fine.register(sessionCachePlugin)
  t.equal(fine.sessionCache.ttlMs, 30 * 24 * 3600_000)
  await fine.close()
  await badTtl.close()
  await badKey.close()
})

t.test('oauth state plugin options are validated, and the cache plugin is required', async (t) => {
  const bad = Fastify()
  await bad.register(cachePlugin)
  await t.rejects(async () => { await bad.register(oauthStatePlugin, { ttl: 0 }) }, /cachekit-oauth-state: option ttl/)
  await bad.close()

  const alone = Fastify()
  await t.rejects(async () => { await alone.register(oauthStatePlugin) }, /'cache' required by 'cachekit-oauth-state'/)
  await alone.close()

  const defaults = Fastify()
  await defaults.register(cachePlugin)
  await defaults.register(oauthStatePlugin)
  t.equal(defaults.oauthState.ttl, 600)
  t.equal(defaults.oauthState.store, defaults.cache.store, 'shares the cache plugin store')
  await defaults.close()
})
