import t from 'tap'
import healthRoutes from '../../routes/health.js'
import { until } from '../../harness/wait.js'
import { cachekitApp } from '../helpers/apps.js'
import { ownRedis } from '../helpers/backends.js'
import { demoApp } from '../helpers/demo.js'

// The Kubernetes probes: live while the process answers; ready once started,
// and still ready through a Redis outage (every instance shares that Redis)
// unless READINESS_FOLLOWS_REDIS; the body says what is degraded.

t.test('memory store: live, ready, nothing degraded', async (t) => {
  const app = await demoApp(t, 'memory')
  const live = await app.inject('/health/live')
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'live' })
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', cache: 'up', store: 'memory', followsRedis: false, degraded: [] })
  t.equal(ready.headers['x-ratelimit-limit'], undefined, 'probes are never rate limited')
})

t.test('Redis down: ready and degraded by default, 503 when readiness follows Redis; both recover', async (t) => {
  const redis = await ownRedis(t)
  await redis.kill()
  const tolerant = await demoApp(t, redis, { CACHE_COMMAND_TIMEOUT_MS: '100' })
  const strict = await demoApp(t, redis, { CACHE_COMMAND_TIMEOUT_MS: '100', READINESS_FOLLOWS_REDIS: 'true', RATE_LIMIT_ON_STORE_ERROR: 'closed' })

  const ready = await tolerant.inject('/health/ready')
  t.equal(ready.statusCode, 200, 'an outage alone does not pull the instance out')
  t.match(ready.json(), { status: 'ready', cache: 'down', store: 'redis', followsRedis: false })
  t.same(ready.json().degraded.map((d: { component: string }) => d.component), ['cache', 'session-cache', 'authz-cache', 'oauth-state', 'rate-limit'])
  t.match(ready.json().degraded.find((d: { component: string }) => d.component === 'rate-limit'), { effect: /"open"/ })
  t.equal((await tolerant.inject('/health/live')).statusCode, 200)
  t.equal((await tolerant.inject('/health')).json().status, 'degraded', '/health is as it was')

  const unready = await strict.inject('/health/ready')
  t.equal(unready.statusCode, 503)
  t.match(unready.json(), { status: 'not ready', cache: 'down', followsRedis: true })
  t.match(unready.json().degraded.find((d: { component: string }) => d.component === 'rate-limit'), { effect: /"closed"/ })
  t.equal((await strict.inject('/health/live')).statusCode, 200, 'live all the same: restarting would not bring Redis back')

  await redis.restart()
  await until('readiness follows Redis back', async () => (await strict.inject('/health/ready')).statusCode === 200)
  t.match((await strict.inject('/health/ready')).json(), { status: 'ready', cache: 'up', degraded: [] })
  await until('the tolerant instance sees Redis back', async () => (await tolerant.inject('/health/ready')).json().cache === 'up')
})

t.test('in an app with only the cache plugin: the probes name only what is there', async (t) => {
  const redis = await ownRedis(t)
  await redis.kill()
  const app = await cachekitApp(t, redis, { cache: { startupWaitMs: 0 } })
  await app.register(healthRoutes)
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json().degraded.map((d: { component: string }) => d.component), ['cache'])
  t.equal(ready.json().followsRedis, false, 'off unless asked')
})

t.test('@fastify/under-pressure fed as docs/demo.md says: an outage shows on /status, and no route turns 503', async (t) => {
  const { default: underPressure } = await import('@fastify/under-pressure')
  const redis = await ownRedis(t)
  await redis.kill()

  // what docs/demo.md advises: the health check answers an object (truthy) that says what is degraded
  const advised = await cachekitApp(t, redis, { cache: { startupWaitMs: 0 } })
  await advised.register(underPressure, {
    exposeStatusRoute: { url: '/status', routeOpts: {}, routeResponseSchemaOpts: { cache: { type: 'string' }, store: { type: 'string' } } },
    healthCheck: async (instance) => {
      const cache = await instance.cache.health()
      return { cache: cache.status, store: cache.store }
    }
  })
  advised.get('/work', async () => 'done')
  t.equal((await advised.inject('/work')).statusCode, 200, 'routes keep serving, degraded')
  t.same((await advised.inject('/status')).json(), { status: 'ok', cache: 'down', store: 'redis' })

  // the trap it avoids: a boolean health check on Redis sheds every request while Redis is down
  const trapped = await cachekitApp(t, redis, { cache: { startupWaitMs: 0 } })
  await trapped.register(underPressure, {
    healthCheckInterval: 60_000,
    healthCheck: async (instance) => (await instance.cache.health()).status === 'up'
  })
  trapped.get('/work', async () => 'done')
  t.equal((await trapped.inject('/work')).statusCode, 503)
})
