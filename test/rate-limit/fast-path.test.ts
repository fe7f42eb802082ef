import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { TokenBucketPluginOptions } from '../../plugins/rate-limit.js'
import { sleep } from '../../harness/wait.js'
import { cachekitApp } from '../helpers/apps.js'
import { BACKENDS, fileRedis } from '../helpers/backends.js'

// The fast path: a refusal the deny cache still holds is answered before
// @fastify/rate-limit runs, and must be the very refusal the slow path gives.
const redis = await fileRedis()

interface Counted { app: FastifyInstance, storeCalls: () => number }

async function makeApp (t: Test, backend: 'redis' | 'memory', options: TokenBucketPluginOptions = {}, setup?: (app: FastifyInstance) => void): Promise<Counted> {
  const app = await cachekitApp(t, backend, { cache: { prefix: 'fp' }, rateLimit: { max: 1, timeWindow: 3_600_000, ...options } })
  setup?.(app)
  app.get('/default', async () => ({ ok: true }))
  app.get('/grouped', async () => ({ ok: true }))
  app.get('/own/:id', { config: { rateLimit: { max: 2, timeWindow: '1 hour', bucket: 'own' } } }, async () => ({ ok: true }))
  app.get('/dynamic', { config: { rateLimit: { max: () => 1, timeWindow: 3_600_000 } } }, async () => ({ ok: true }))
  app.get('/keyed', { config: { rateLimit: { max: 1, timeWindow: 3_600_000, keyGenerator: () => 'k' } } }, async () => ({ ok: true }))
  await app.ready()
  // the slow path asks the bucket; the fast path never does
  let calls = 0
  const decide = app.tokenBucket.decide.bind(app.tokenBucket)
  app.tokenBucket.decide = (...args) => { calls++; return decide(...args) }
  return { app, storeCalls: () => calls }
}
const get = (app: FastifyInstance, url: string, remoteAddress = '10.0.0.1') => app.inject({ method: 'GET', url, remoteAddress })
const withoutDate = (reply: LightMyRequestResponse) => ({ ...reply.headers, date: undefined })

for (const backend of BACKENDS) {
  t.test(`fast path: ${backend}`, async (t) => {
    t.beforeEach(async () => { await redis.flush() })

    t.test('a fast-path refusal is the slow-path refusal, byte for byte', async (t) => {
      const { app, storeCalls } = await makeApp(t, backend, { hashIdentities: true, routes: { 'GET /grouped': { max: 1, timeWindow: 3_600_000, groupId: 'team' } } })
      for (const url of ['/default', '/grouped', '/own/1']) {
        const limit = url === '/own/1' ? 2 : 1
        for (let i = 0; i < limit; i++) t.equal((await get(app, url)).statusCode, 200)
        const before = storeCalls()
        const slow = await get(app, url)
        t.equal(storeCalls(), before + 1, `${url}: the first refusal comes from the store`)
        const fast = await get(app, url)
        t.equal(storeCalls(), before + 1, `${url}: the next one from the fast path`)
        t.equal(slow.statusCode, 429)
        t.equal(fast.statusCode, 429)
        t.same(withoutDate(fast), withoutDate(slow))
        t.equal(fast.body, slow.body)
        t.equal(fast.headers['x-ratelimit-remaining'], '0')
        t.equal(fast.headers['x-ratelimit-limit'], String(limit))
        // not earlier than the truth: the bucket refills in an hour
        t.ok(Number(fast.headers['retry-after']) >= 3_600 * (limit === 1 ? 1 : 0.5) - 1)
        t.equal(fast.headers['retry-after'], fast.headers['x-ratelimit-reset'])
        t.same(JSON.parse(fast.body), { statusCode: 429, error: 'Too Many Requests', message: `Rate limit exceeded, retry in ${({ 3600: '1 hour', 1800: '30 minutes' } as Record<string, string>)[fast.headers['retry-after'] as string]}` })
        // another client is not refused by it
        t.equal((await get(app, url, '10.0.0.2')).statusCode, 200)
      }
    })

    t.test('problem details and draft headers on fast-path refusals', async (t) => {
      const { app, storeCalls } = await makeApp(t, backend, { draftHeaders: true, problemDetails: true, problemType: 'https://example.com/rate-limited' })
      t.equal((await get(app, '/default')).statusCode, 200)
      const slow = await get(app, '/default')
      const calls = storeCalls()
      const fast = await get(app, '/default')
      t.equal(storeCalls(), calls, 'answered by the fast path')
      t.same(withoutDate(fast), withoutDate(slow))
      t.equal(fast.body, slow.body)
      t.match(fast.headers['content-type'], /^application\/problem\+json/)
      t.match(fast.headers.ratelimit, /^"GET \/default";r=0;t=\d+$/)
      t.equal(fast.headers['ratelimit-policy'], '"GET /default";q=1;w=3600')
      t.match(JSON.parse(fast.body), { type: 'https://example.com/rate-limited', status: 429, instance: '/default', code: 'RATE_LIMITED' })
    })
  })
}

t.test('no fast path where the refusal could differ, and refusals stay right', async (t) => {
  t.test('dynamic max, or a keyGenerator of its own', async (t) => {
    const { app, storeCalls } = await makeApp(t, 'memory')
    for (const url of ['/dynamic', '/keyed']) {
      t.equal((await get(app, url)).statusCode, 200)
      const before = storeCalls()
      t.equal((await get(app, url)).statusCode, 429)
      t.equal((await get(app, url)).statusCode, 429)
      t.equal(storeCalls(), before + 2, `${url}: every refusal through @fastify/rate-limit`)
    }
  })

  const custom = {
    errorResponseBuilder: { rateLimitOptions: { errorResponseBuilder: () => ({ statusCode: 429, refused: true }) } },
    'hook other than onRequest': { rateLimitOptions: { hook: 'preHandler' as const } },
    'deny cache off': { denyCacheSize: 0 }
  }
  for (const [name, options] of Object.entries(custom)) {
    t.test(name, async (t) => {
      const { app, storeCalls } = await makeApp(t, 'memory', options)
      t.equal((await get(app, '/default')).statusCode, 200)
      const refusals = [await get(app, '/default'), await get(app, '/default')]
      t.equal(storeCalls(), 3)
      t.same(refusals.map((r) => r.statusCode), [429, 429])
      if (name === 'errorResponseBuilder') t.same(refusals.map((r) => r.json()), [{ statusCode: 429, refused: true }, { statusCode: 429, refused: true }])
    })
  }

  t.test('a custom error handler', async (t) => {
    const { app, storeCalls } = await makeApp(t, 'memory', {}, (app) => {
      app.setErrorHandler(async (error: Error, _request, reply) => await reply.code(429).send({ handled: error.message }))
    })
    t.equal((await get(app, '/default')).statusCode, 200)
    const refusals = [await get(app, '/default'), await get(app, '/default')]
    t.equal(storeCalls(), 3)
    t.match(refusals.map((r) => r.json()), [{ handled: /^Rate limit exceeded/ }, { handled: /^Rate limit exceeded/ }])
  })

  t.test('neutral options keep it on', async (t) => {
    const { app, storeCalls } = await makeApp(t, 'memory', { rateLimitOptions: { hook: 'onRequest', continueExceeding: false } })
    t.equal((await get(app, '/default')).statusCode, 200)
    t.equal((await get(app, '/default')).statusCode, 429)
    t.equal((await get(app, '/default')).statusCode, 429)
    t.equal(storeCalls(), 2)
  })
})

t.test('after the refusal window, requests reach the store again', async (t) => {
  const { app, storeCalls } = await makeApp(t, 'memory', { timeWindow: 150 })
  t.equal((await get(app, '/default')).statusCode, 200)
  t.equal((await get(app, '/default')).statusCode, 429)
  t.equal((await get(app, '/default')).statusCode, 429)
  t.equal(storeCalls(), 2)
  await sleep(250)
  t.equal((await get(app, '/default')).statusCode, 200)
  t.equal(storeCalls(), 3)
})

t.test('the key is generated once per request; async and unusable keys go the slow way', async (t) => {
  let generated = 0
  const keys: Record<string, () => unknown> = { '/sync': () => 'a', '/async': async () => 'b', '/empty': () => '' }
  const { app, storeCalls } = await makeApp(t, 'memory', {
    keyGenerator: (request) => { generated++; return (keys[request.url] ?? (() => request.ip))() as string }
  }, (app) => {
    for (const url of Object.keys(keys)) app.get(url, async () => ({ ok: true }))
  })
  t.equal((await get(app, '/sync')).statusCode, 200)
  t.equal(generated, 1)
  t.equal((await get(app, '/sync')).statusCode, 429)
  t.equal((await get(app, '/sync')).statusCode, 429)
  t.equal(storeCalls(), 2)
  t.equal((await get(app, '/async')).statusCode, 200)
  t.equal((await get(app, '/async')).statusCode, 429)
  t.equal((await get(app, '/async')).statusCode, 429)
  t.equal(storeCalls(), 5, 'an async key is decided by @fastify/rate-limit')
  t.same([(await get(app, '/empty')).statusCode, (await get(app, '/empty')).statusCode], [200, 429], 'an empty key is a bucket like any (hashed), not a 500')
  t.equal(generated, 8)
})

t.test('an empty groupId groups nothing: each client keeps its own bucket', async (t) => {
  const { app } = await makeApp(t, 'memory', {}, (app) => {
    app.get('/empty-group', { config: { rateLimit: { max: 1, timeWindow: 3_600_000, groupId: '' } } }, async () => ({ ok: true }))
  })
  t.equal((await get(app, '/empty-group', '10.0.0.1')).statusCode, 200)
  t.equal((await get(app, '/empty-group', '10.0.0.2')).statusCode, 200)
  t.equal((await get(app, '/empty-group', '10.0.0.1')).statusCode, 429)
})
