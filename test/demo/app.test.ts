import { Redis } from 'ioredis'
import t from 'tap'
import { buildApp } from '../../demo/app.js'
import { until } from '../../harness/wait.js'
import { demoApp } from '../helpers/demo.js'
import { fileRedis, ownRedis } from '../helpers/backends.js'

// The demo app: its endpoints, its configuration, and how it rides out a Redis outage.

t.test('memory store: /health, /cache/stats, /metrics', async (t) => {
  const app = await demoApp(t, 'memory')
  const health = await app.inject('/health')
  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'healthy', cache: 'up', store: 'memory' })
  await app.cache.set('users:1', 'x')
  await app.cache.get('users:1')
  await app.cache.get('users:2')
  const stats = await app.inject('/cache/stats')
  t.match(stats.json(), { namespaces: { users: { hits: 1, misses: 1, errors: 0, degraded: 0, total: 2, hitRate: 0.5, staleHits: 0, loaderCalls: 0, lockWaits: 0, latencyMs: null } } }, 'plain gets are not timed')
  const metrics = await app.inject('/metrics')
  t.match(metrics.headers['content-type'], /^text\/plain/)
  t.match(metrics.body, 'cachekit_cache_hits_total{namespace="users"} 1')
})

t.test('Redis store: healthy, and cache calls reach Redis under the prefix', async (t) => {
  const app = await demoApp(t, 'redis', { CACHE_KEY_PREFIX: 'demo' })
  t.same((await app.inject('/health')).json(), { status: 'healthy', cache: 'up', store: 'redis' })
  await app.cache.set('users:1', 'x')
  t.equal(await (await fileRedis()).client().get('demo:users:1'), 'x')
  t.equal(app.redis.status, 'ready', 'the connection is shared as fastify.redis')
})

t.test('Redis down at start-up: boots degraded, fails calls, heals without a restart', async (t) => {
  const redis = await ownRedis(t)
  await redis.kill()
  const app = await demoApp(t, redis, { CACHE_COMMAND_TIMEOUT_MS: '100' })
  await app.ready()
  t.same((await app.inject('/health')).json(), { status: 'degraded', cache: 'down', store: 'redis' })
  const r = await app.cache.get('users:1')
  t.equal(!r.ok && r.error.code, 'UNAVAILABLE')
  t.equal(app.redis, app.cache.store.kind === 'redis' ? (app.cache.store as unknown as { client: unknown }).client : null, 'shared even while down')

  await redis.restart()
  await until('/health is healthy again', async () => (await app.inject('/health')).json().status === 'healthy')
  t.same((await app.inject('/health')).json(), { status: 'healthy', cache: 'up', store: 'redis' })
  t.same(await app.cache.set('users:1', 'back'), { ok: true, value: true })
})

t.test('buildApp with a client of the embedder and a hash secret', async (t) => {
  const client = new Redis((await fileRedis()).url, { lazyConnect: true, commandTimeout: 200 })
  client.on('error', () => {})
  const app = await buildApp({ LOG_LEVEL: 'silent', CACHE_KEY_HASH_SECRET: 'pepper' }, { redisClient: client })
  t.equal(app.cache.store.kind, 'redis')
  t.equal(app.cache.keys.hash('x'), new (await import('../../lib/keys.js')).KeyBuilder({ hashSecret: 'pepper' }).hash('x'))
  await app.close()
  t.equal(client.status, 'ready', 'the embedder closes its own client')
  client.disconnect()
})

t.test('a hung Redis makes /health degraded instead of hanging it', async (t) => {
  const redis = await ownRedis(t)
  const app = await demoApp(t, redis, { CACHE_COMMAND_TIMEOUT_MS: '100' })
  t.equal((await app.inject('/health')).json().status, 'healthy')
  redis.pause()
  t.equal((await app.inject('/health')).json().status, 'degraded')
  redis.resume()
  await until('/health is healthy again', async () => (await app.inject('/health')).json().status === 'healthy')
})

t.test('bad environment values stop start-up with a message naming the variable', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ REDIS_URL: 'http://example' }, /REDIS_URL/],
    [{ CACHE_COMMAND_TIMEOUT_MS: '5' }, /CACHE_COMMAND_TIMEOUT_MS/],
    [{ SESSION_TTL_SECONDS: '1' }, /SESSION_TTL_SECONDS/],
    [{ CACHE_KEY_PREFIX: 'a:b' }, /CACHE_KEY_PREFIX/]
  ]
  for (const [env, message] of cases) await t.rejects(buildApp(env), message, JSON.stringify(env))
})

t.test('the demo limits POST /login to 5 a minute per client IP; /health is not limited', async (t) => {
  const app = await demoApp(t, 'memory')
  const statuses = []
  for (let i = 0; i < 6; i++) {
    statuses.push((await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' }, remoteAddress: '10.20.0.1' })).statusCode)
  }
  t.same(statuses.slice(5), [429])
  t.ok(statuses.slice(0, 5).every((s) => s !== 429), 'the first five pass the limiter')
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.headers['x-ratelimit-limit'], undefined)
  const stats = await app.inject({ method: 'GET', url: '/cache/stats' })
  t.equal(stats.headers['x-ratelimit-limit'], '60')
})
