import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import cachePlugin from '../../plugins/cache.js'
import rateLimitPlugin, { type TokenBucketPluginOptions } from '../../plugins/rate-limit.js'
import { cachekitApp, type AppBackend } from '../helpers/apps.js'
import { BACKENDS, fileRedis, ownRedis } from '../helpers/backends.js'
import { faultyStore } from '../helpers/faulty-store.js'

// The plugin over HTTP (app.inject), on both backends where it applies.
const redis = await fileRedis()

async function makeApp (t: Test, backend: AppBackend, options: TokenBucketPluginOptions = {}, trustProxy = false, setup?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = await cachekitApp(t, backend, {
    fastify: { trustProxy },
    before: setup,
    // a short deadline only for a Redis of the test's own (it hangs it): on the
    // shared one, a slow moment of a loaded machine would time out and fail open
    cache: { prefix: 'rl', ...(typeof backend === 'object' ? { commandTimeoutMs: 100 } : {}) },
    rateLimit: options
  })
  app.get('/open', async () => ({ ok: true }))
  app.get('/accounts/:id', { config: { rateLimit: { max: 3, timeWindow: 3_600_000 } } }, async () => ({ ok: true }))
  app.get('/other', { config: { rateLimit: { max: 3, timeWindow: 3_600_000 } } }, async () => ({ ok: true }))
  app.post('/upload', { config: { rateLimit: { max: 10, timeWindow: 3_600_000, cost: 4 } } }, async () => ({ ok: true }))
  app.get('/g1', { config: { rateLimit: { max: 2, timeWindow: 3_600_000, groupId: 'g' } } }, async () => ({ ok: true }))
  app.get('/g2', { config: { rateLimit: { max: 2, timeWindow: 3_600_000, groupId: 'g' } } }, async () => ({ ok: true }))
  app.get('/free', { config: { rateLimit: false } }, async () => ({ ok: true }))
  app.get('/closed', { config: { rateLimit: { max: 3, timeWindow: 3_600_000, onStoreError: 'closed' } } }, async () => ({ ok: true }))
  app.get('/local', { config: { rateLimit: { max: 2, timeWindow: 3_600_000, onStoreError: 'local' } } }, async () => ({ ok: true }))
  await app.ready()
  return app
}
const get = (app: FastifyInstance, url: string, remoteAddress = '10.0.0.1', headers: Record<string, string> = {}) =>
  app.inject({ method: 'GET', url, remoteAddress, headers })

for (const backend of BACKENDS) {
  t.test(`plugin: ${backend}`, async (t) => {
    t.beforeEach(async () => { await redis.flush() })

    t.test('counts down per route template, refuses with headers that are not early', async (t) => {
      const app = await makeApp(t, backend)
      const replies = []
      for (let i = 0; i < 4; i++) replies.push(await get(app, `/accounts/${i}`))
      t.same(replies.map((r) => r.statusCode), [200, 200, 200, 429], 'a parameterised route is one bucket')
      t.same(replies.map((r) => r.headers['x-ratelimit-remaining']), ['2', '1', '0', '0'])
      t.equal(replies[0]?.headers['x-ratelimit-limit'], '3')
      t.equal(replies[0]?.headers['x-ratelimit-reset'], '1200', 'full again in 20 min (one token a 20 min)')
      t.equal(replies[3]?.headers['retry-after'], '1200', 'a token is back in 20 min, rounded up')
      t.match(replies[3]?.json(), { statusCode: 429, error: 'Too Many Requests', message: 'Rate limit exceeded, retry in 20 minutes' })
      t.equal(app.tokenBucket.denyCache.size, 1, 'the refusal is remembered')
      const again = await get(app, '/accounts/9')
      t.equal(again.statusCode, 429)
      t.equal(again.headers['retry-after'], '1200')
      t.equal((await get(app, '/other')).statusCode, 200, 'another route has its own bucket')
      t.equal((await get(app, '/accounts/1', '10.0.0.2')).statusCode, 200, 'another client has its own bucket')
      t.equal((await get(app, '/free')).headers['x-ratelimit-limit'], undefined, 'config.rateLimit false exempts')
      t.equal((await get(app, '/open')).headers['x-ratelimit-limit'], '1000', 'other routes get the default policy (1000 a minute, as @fastify/rate-limit)')
    })

    t.test('a custom cost; a group shares one bucket', async (t) => {
      const app = await makeApp(t, backend)
      const up = []
      for (let i = 0; i < 3; i++) up.push(await app.inject({ method: 'POST', url: '/upload', remoteAddress: '10.0.0.1' }))
      t.same(up.map((r) => [r.statusCode, r.headers['x-ratelimit-remaining']]), [[200, '6'], [200, '2'], [429, '0']])
      t.same([(await get(app, '/g1')).statusCode, (await get(app, '/g2')).statusCode, (await get(app, '/g1')).statusCode], [200, 200, 429])
    })

    t.test('rateLimit() and createRateLimit() get buckets of their own; read() peeks', async (t) => {
      const app = await cachekitApp(t, backend, { cache: { prefix: 'rl2' }, rateLimit: { global: false } })
      await app.after()
      const limiter = app.createRateLimit({ max: 2, timeWindow: 3_600_000 })
      t.throws(() => app.createRateLimit({ max: 2, timeWindow: 1000, bucket: 'bad\u0001name' }), /rate limit bucket/, 'a bad bucket name fails at once')
      const named = app.createRateLimit({ max: 2, timeWindow: 3_600_000, bucket: 'named' })
      app.get('/hooked', { onRequest: app.rateLimit({ max: 1, timeWindow: 3_600_000 }) }, async () => ({ ok: true }))
      app.get('/manual', async (request) => {
        const peek = await limiter(request, { increment: false })
        const took = await limiter(request)
        const other = await named(request)
        return { peek, took, other, decision: request.rateLimitDecision }
      })
      app.get('/unlimited', async () => ({ ok: true }))
      const hooked = [await get(app, '/hooked'), await get(app, '/hooked')]
      t.same(hooked.map((r) => r.statusCode), [200, 429])
      const first = (await get(app, '/manual')).json()
      t.same([first.peek.isExceeded, first.peek.remaining, first.peek.ttl, first.took.remaining, first.other.remaining], [false, 2, 0, 1, 1], 'a peek at a full bucket: every token there, nothing taken')
      t.match(first.decision, { scope: 'named', decision: { allowed: true, remaining: 1, source: 'store' } })
      await get(app, '/manual')
      const third = (await get(app, '/manual')).json()
      t.same([third.peek.isExceeded, third.took.isExceeded, third.took.ttlInSeconds], [true, true, 1800])
      t.equal((await get(app, '/unlimited')).headers['x-ratelimit-limit'], undefined, 'global: false limits nothing by default')
    })

    t.test('draft headers and a problem-details body, opt-in', async (t) => {
      const app = await makeApp(t, backend, { draftHeaders: true, problemDetails: true, problemType: 'https://example.com/rate-limited' })
      const ok = await get(app, '/accounts/1')
      t.equal(ok.headers['ratelimit-policy'], '"GET /accounts/:id";q=3;w=3600')
      t.equal(ok.headers.ratelimit, '"GET /accounts/:id";r=2;t=1200')
      for (let i = 0; i < 2; i++) await get(app, '/accounts/1')
      const refused = await get(app, '/accounts/1')
      t.equal(refused.statusCode, 429)
      t.equal(refused.headers['content-type'], 'application/problem+json')
      t.same(refused.json(), {
        type: 'https://example.com/rate-limited',
        title: 'Too Many Requests',
        status: 429,
        detail: 'Rate limit of 3 exceeded; retry in 1200 s.',
        instance: '/accounts/1',
        code: 'RATE_LIMITED',
        retryAfter: 1200
      })
      t.equal(refused.headers.ratelimit, '"GET /accounts/:id";r=0;t=1200')
      const plain = await makeApp(t, backend)
      const noDraft = await get(plain, '/accounts/1')
      t.equal(noDraft.headers['ratelimit-policy'], undefined, 'off by default')
    })

    t.test('identity: IP by default, proxies only when trusted, IPv6 by /64, users by id', async (t) => {
      const app = await makeApp(t, backend)
      const spoof = { 'x-forwarded-for': '203.0.113.9' }
      for (let i = 0; i < 3; i++) await get(app, '/accounts/1', '10.0.0.5', spoof)
      t.equal((await get(app, '/accounts/1', '10.0.0.5', { 'x-forwarded-for': '203.0.113.10' })).statusCode, 429, 'X-Forwarded-For is ignored without trustProxy')
      for (let i = 0; i < 3; i++) await get(app, '/accounts/1', '2001:db8:1:2::1')
      t.equal((await get(app, '/accounts/1', '2001:db8:1:2:ffff::9')).statusCode, 429, 'same /64, same bucket')
      t.equal((await get(app, '/accounts/1', '2001:db8:1:3::1')).statusCode, 200, 'another /64')

      const proxied = await makeApp(t, backend, {}, true)
      for (let i = 0; i < 3; i++) await get(proxied, '/accounts/1', '10.0.0.5', { 'x-forwarded-for': '203.0.113.20' })
      t.equal((await get(proxied, '/accounts/1', '10.0.0.5', { 'x-forwarded-for': '203.0.113.21' })).statusCode, 200, 'trusted proxy: the forwarded client counts')

      const byUser = await makeApp(t, backend, { identity: 'user', hashIdentities: true }, false, (app) => {
        app.addHook('onRequest', async (request) => {
          const id = request.headers['x-user']
          if (id !== undefined) (request as unknown as { user: unknown }).user = { id }
        })
      })
      for (let i = 0; i < 3; i++) await get(byUser, '/accounts/1', `10.1.0.${i}`, { 'x-user': 'alice' })
      t.equal((await get(byUser, '/accounts/1', '10.1.0.9', { 'x-user': 'alice' })).statusCode, 429, 'the user is limited wherever she comes from')
      t.equal((await get(byUser, '/accounts/1', '10.1.0.9')).statusCode, 200, 'anonymous: by IP')
    })

    t.test('policy map: by method and template, HEAD follows GET, false exempts', async (t) => {
      const app = await cachekitApp(t, backend, {
        cache: { prefix: 'rl3' },
        rateLimit: { routes: { 'POST /items/:id': { max: 1, timeWindow: '1 hour' }, 'GET /items/:id': { max: 2, timeWindow: 3_600_000 }, 'GET /health': false } }
      })
      app.route({ method: ['POST', 'PUT'], url: '/items/:id', handler: async () => ({ ok: true }) })
      app.get('/items/:id', async () => ({ ok: true }))
      app.get('/health', async () => ({ ok: true }))
      const post = [await app.inject({ method: 'POST', url: '/items/1' }), await app.inject({ method: 'POST', url: '/items/2' })]
      t.same(post.map((r) => r.statusCode), [200, 429])
      t.equal((await app.inject({ method: 'HEAD', url: '/items/1' })).headers['x-ratelimit-limit'], '2')
      t.equal((await app.inject({ method: 'GET', url: '/health' })).headers['x-ratelimit-limit'], undefined)
    })
  })
}

t.test('two app instances sharing one Redis: 300 concurrent requests, capacity 50, exactly 50 allowed', async (t) => {
  await redis.flush()
  const options: TokenBucketPluginOptions = { routes: { 'GET /open': { max: 50, timeWindow: 3_600_000 } } }
  const [one, two] = [await makeApp(t, 'redis', options), await makeApp(t, 'redis', options)]
  const replies = await Promise.all(Array.from({ length: 300 }, (_, i) => get(i % 2 === 0 ? one as FastifyInstance : two as FastifyInstance, '/open', '10.7.7.7')))
  const allowed = replies.filter((r) => r.statusCode === 200).length
  t.equal(allowed, 50)
  t.equal(replies.filter((r) => r.statusCode === 429).length, 250)
})

t.test('after SCRIPT FLUSH the next request is still limited correctly', async (t) => {
  await redis.flush()
  const app = await makeApp(t, 'redis')
  await get(app, '/accounts/1')
  await redis.client().script('FLUSH')
  const next = await get(app, '/accounts/1')
  t.same([next.statusCode, next.headers['x-ratelimit-remaining']], [200, '1'])
})

t.test('with the store failing, each fail policy does what it says', async (t) => {
  const app = await makeApp(t, 'memory', { draftHeaders: true })
  t.equal((await get(app, '/accounts/1')).statusCode, 200)
  faultyStore(t, app.cache.store).fail('UNAVAILABLE')

  const open = await get(app, '/accounts/1')
  t.equal(open.statusCode, 200, 'open (the default): allowed')
  // as @fastify/rate-limit reports a skipped error: the bucket full (everything passes meanwhile)
  t.equal(open.headers['x-ratelimit-remaining'], '3', 'reported full')
  t.equal(open.headers['x-ratelimit-reset'], '0')
  t.equal(open.headers.ratelimit, '"GET /accounts/:id";r=3;t=0')
  t.equal(open.headers['x-ratelimit-limit'], '3')

  const closed = await get(app, '/closed')
  t.equal(closed.statusCode, 503, 'closed: refused')
  t.match(closed.headers['content-type'], /^application\/problem\+json/)
  t.same(closed.json(), { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'The rate limiter is unavailable; try again later.', instance: '/closed', code: 'RATE_LIMIT_UNAVAILABLE' },
    'a stable code; the store\'s own message (the Redis client\'s text) stays out of the body')
  t.equal(closed.headers['retry-after'], '1')

  const local = [await get(app, '/local'), await get(app, '/local'), await get(app, '/local')]
  t.same(local.map((r) => [r.statusCode, r.headers['x-ratelimit-remaining']]), [[200, '1'], [200, '0'], [429, '0']], 'local: an in-process bucket')
  t.same(app.tokenBucket.degraded, { open: 1, closed: 1, local: 3 })
})

t.test('a pause (hung Redis) is decided within the deadline', async (t) => {
  const hung = await ownRedis(t)
  const app = await makeApp(t, hung)
  hung.pause()
  const r = await get(app, '/closed')
  t.equal(r.statusCode, 503)
})

t.test('misconfiguration fails at registration, bad keys are 500s not hangs', async (t) => {
  const bad = await cachekitApp(t, 'memory', { rateLimit: {} })
  t.throws(() => bad.get('/x', { config: { rateLimit: { max: 2, timeWindow: 1000, cost: 3 } } }, async () => ({})),
    /rate limit of GET \/x: cost 3 exceeds the capacity 2/)

  await t.rejects(async () => {
    const app = Fastify()
    await app.register(cachePlugin, {})
    await app.register(rateLimitPlugin, { identity: 'nobody' } as never)
    await app.ready()
  }, /cachekit-rate-limit: option identity/)

  await t.rejects(async () => {
    const app = Fastify()
    await app.register(cachePlugin, {})
    await app.register(rateLimitPlugin, { groupId: 7 } as never)
  }, /option groupId must be a string/)
  await t.rejects(async () => {
    const app = Fastify()
    await app.register(cachePlugin, {})
    await app.register(rateLimitPlugin, { keyGenerator: 'ip' } as never)
  }, /option keyGenerator must be a function/)

  const app = await cachekitApp(t, 'memory', { rateLimit: { keyGenerator: () => '' } })
  app.get('/half', { config: { rateLimit: { max: async () => 2.5, timeWindow: 1000 } } }, async () => ({}))
  app.get('/dyn', { config: { rateLimit: { max: async () => 0, timeWindow: 1000 } } }, async () => ({}))
  app.get('/k', async () => ({}))
  t.equal((await app.inject('/dyn')).statusCode, 429, 'a max of 0 refuses every request, as in @fastify/rate-limit')
  t.equal((await app.inject('/k')).statusCode, 200, 'an empty key is a bucket like any other, not a 500')
  const half = await app.inject('/half')
  t.same([half.statusCode, half.json().code], [500, 'RATE_LIMIT_INVALID'], 'a max that is no whole number, from a function: our misconfiguration, a 500')
})

t.test('dynamic max and timeWindow functions are honoured per request', async (t) => {
  const app = await cachekitApp(t, 'memory', { rateLimit: {} })
  app.get('/dyn', { config: { rateLimit: { max: async (req) => req.headers['x-plan'] === 'pro' ? 3 : 1, timeWindow: async () => 3_600_000 } } }, async () => ({}))
  t.same([(await app.inject({ url: '/dyn', remoteAddress: '1.1.1.1' })).statusCode, (await app.inject({ url: '/dyn', remoteAddress: '1.1.1.1' })).statusCode], [200, 429])
  const pro = { 'x-plan': 'pro' }
  t.equal((await app.inject({ url: '/dyn', remoteAddress: '1.1.1.2', headers: pro })).headers['x-ratelimit-remaining'], '2')
  t.equal((await app.inject({ url: '/dyn', remoteAddress: '1.1.1.2', headers: pro })).headers['x-ratelimit-remaining'], '1')
})
