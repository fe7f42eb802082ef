import type { FastifyInstance } from 'fastify'
import { mock } from 'node:test'
import { Writable } from 'node:stream'
import t from 'tap'
import rateLimitPlugin from '../../plugins/rate-limit.js'
import { cachekitApp } from '../helpers/apps.js'
import { BACKENDS, fileRedis } from '../helpers/backends.js'
import { faultyStore } from '../helpers/faulty-store.js'

// Moving from @fastify/rate-limit: its options, written as its users write
// them, at the top level; its answers where a token bucket gives the same ones;
// and what a client may send never failing a request.
const redis = await fileRedis()
const HOUR = 3_600_000

const from = (app: FastifyInstance, remoteAddress: string, url = '/', headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') =>
  app.inject({ method, url, remoteAddress, headers })

for (const backend of BACKENDS) {
  t.test(`compat: ${backend}`, async (t) => {
    t.beforeEach(async () => { await redis.flush() })

    t.test('an existing @fastify/rate-limit registration, options unchanged, boots and behaves', async (t) => {
      const banned: string[] = []
      const exceeded: string[] = []
      let validated = 0
      const app = await cachekitApp(t, backend, {
        rateLimit: {
          global: true,
          max: 3,
          timeWindow: '1 minute',
          ban: 1,
          hook: 'preHandler',
          cache: 10_000,
          allowList: ['10.9.9.9'],
          ...(backend === 'redis' ? { redis: redis.client() } : {}),
          nameSpace: 'myapp-ratelimit-',
          continueExceeding: false,
          skipOnError: true,
          keyGenerator: (request) => (request.headers['x-api-key'] as string | undefined) ?? request.ip,
          errorResponseBuilder: (_request, context) => ({ statusCode: context.statusCode, error: context.ban ? 'Banned' : 'Slow down', retryIn: context.after }),
          onBanReach: (_request, key) => { banned.push(key) },
          onExceeded: (_request, key) => { exceeded.push(key) },
          enableDraftSpec: true,
          addHeadersOnExceeding: { 'ratelimit-limit': true, 'ratelimit-remaining': true, 'ratelimit-reset': false },
          addHeaders: { 'ratelimit-limit': true, 'ratelimit-remaining': true, 'ratelimit-reset': true, 'retry-after': true }
        }
      })
      app.addHook('preValidation', async () => { validated++ })
      app.get('/', async () => ({ ok: true }))
      const key = { 'x-api-key': 'k1' }
      const allowed = [await from(app, '10.0.0.1', '/', key), await from(app, '10.0.0.2', '/', key), await from(app, '10.0.0.3', '/', key)]
      t.same(allowed.map((r) => [r.statusCode, r.headers['ratelimit-limit'], r.headers['ratelimit-remaining'], r.headers['ratelimit-reset']]),
        [[200, '3', '2', undefined], [200, '3', '1', undefined], [200, '3', '0', undefined]], 'its keyGenerator and its header choices')
      const refused = await from(app, '10.0.0.4', '/', key)
      t.equal(refused.statusCode, 429)
      t.same(refused.json(), { statusCode: 429, error: 'Slow down', retryIn: '20 seconds' }, 'its errorResponseBuilder, with its context')
      t.same([refused.headers['retry-after'], refused.headers['ratelimit-reset'], refused.headers['x-ratelimit-limit']], ['20', '20', undefined], 'draft-spec names only')
      const ban = await from(app, '10.0.0.4', '/', key)
      t.same([ban.statusCode, ban.json().error], [403, 'Banned'], 'ban: 1 tolerates one refusal in a row, then 403')
      t.same(banned, ['k1'])
      t.same(exceeded, ['k1', 'k1'])
      t.equal((await from(app, '10.0.0.4', '/', { 'x-api-key': 'k2' })).statusCode, 200, 'another key has its own bucket')
      const listed = []
      for (let i = 0; i < 5; i++) listed.push((await from(app, '10.9.9.9')).statusCode)
      t.same(listed, [200, 200, 200, 200, 200], 'allowList')
      t.equal(validated, 11, 'hook: preHandler, so refused requests were validated first')
    })

    t.test('functions for max and timeWindow at the plugin level; NaN falls back; string windows', async (t) => {
      const app = await cachekitApp(t, backend, {
        rateLimit: { max: (request) => request.headers['x-plan'] === 'pro' ? 5 : 2, timeWindow: async () => HOUR }
      })
      app.get('/', async () => ({ ok: true }))
      app.get('/nan', { config: { rateLimit: { max: Number.NaN, timeWindow: Number.NaN } } }, async () => ({ ok: true }))
      app.get('/text', { config: { rateLimit: { max: 2, timeWindow: '2 minutes' } } }, async () => ({ ok: true }))
      t.equal((await from(app, '10.0.0.1', '/', { 'x-plan': 'pro' })).headers['x-ratelimit-remaining'], '4')
      t.equal((await from(app, '10.0.0.2')).headers['x-ratelimit-remaining'], '1')
      const nan = await from(app, '10.0.0.1', '/nan')
      t.same([nan.statusCode, nan.headers['x-ratelimit-limit'], nan.headers['x-ratelimit-reset']], [200, '1000', '1'], 'NaN: 1000 per minute, a token back every 60 ms')
      t.equal((await from(app, '10.0.0.1', '/text')).headers['x-ratelimit-reset'], '60', '"2 minutes" for 2 tokens: one back each minute')

      const nanPlugin = await cachekitApp(t, backend, { rateLimit: { max: Number.NaN, timeWindow: Number.NaN } })
      nanPlugin.get('/', async () => ({ ok: true }))
      t.equal((await from(nanPlugin, '10.0.0.1')).headers['x-ratelimit-limit'], '1000', 'NaN at the plugin level: the defaults')
    })

    t.test('the default refusal says what @fastify/rate-limit says', async (t) => {
      const app = await cachekitApp(t, backend, { rateLimit: { max: 1, timeWindow: 60_000 } })
      app.get('/', async () => ({ ok: true }))
      await from(app, '10.0.0.1')
      const refused = await from(app, '10.0.0.1')
      t.equal(refused.headers['content-type'], 'application/json; charset=utf-8')
      t.same(refused.json(), { statusCode: 429, error: 'Too Many Requests', message: 'Rate limit exceeded, retry in 1 minute' })
      const again = await from(app, '10.0.0.1')
      t.equal(again.body, refused.body, 'the fast path says the same')
    })

    t.test('HEAD takes from the bucket of its GET', async (t) => {
      const app = await cachekitApp(t, backend, { rateLimit: { global: false } })
      app.get('/doc', { config: { rateLimit: { max: 2, timeWindow: HOUR } } }, async () => ({ ok: true }))
      const replies = [await from(app, '10.0.0.1', '/doc'), await from(app, '10.0.0.1', '/doc', {}, 'HEAD'), await from(app, '10.0.0.1', '/doc', {}, 'HEAD'), await from(app, '10.0.0.1', '/doc')]
      t.same(replies.map((r) => [r.statusCode, r.headers['x-ratelimit-remaining']]), [[200, '1'], [200, '0'], [429, '0'], [429, '0']])
    })

    t.test('several limiters in one context all apply; the first keeps the decorator', async (t) => {
      const app = await cachekitApp(t, backend, { rateLimit: { max: 5, timeWindow: HOUR } })
      const first = app.tokenBucket
      await app.register(rateLimitPlugin, { max: 2, timeWindow: HOUR, keyGenerator: () => 'everyone' })
      app.get('/', async () => ({ ok: true }))
      t.same([(await from(app, '10.0.0.1')).statusCode, (await from(app, '10.0.0.2')).statusCode, (await from(app, '10.0.0.3')).statusCode], [200, 200, 429],
        'the second limiter (one bucket for everyone) refuses the third client')
      t.equal(app.tokenBucket, first)
    })

    t.test('ipv6Subnet at the plugin level and per route', async (t) => {
      const app = await cachekitApp(t, backend, { rateLimit: { max: 1, timeWindow: HOUR, ipv6Subnet: 48 } })
      app.get('/', async () => ({ ok: true }))
      app.get('/exact', { config: { rateLimit: { max: 1, timeWindow: HOUR, ipv6Subnet: 128 } } }, async () => ({ ok: true }))
      t.same([(await from(app, '2001:db8:abcd:12::1')).statusCode, (await from(app, '2001:db8:abcd:13::1')).statusCode, (await from(app, '2001:db8:abce::1')).statusCode],
        [200, 429, 200], 'one /48, one bucket')
      t.same([(await from(app, '2001:db8:abcd:12::1', '/exact')).statusCode, (await from(app, '2001:db8:abcd:12::2', '/exact')).statusCode], [200, 200], '/128: each address')
    })

    t.test('exponentialBackoff: each refusal in a row doubles the wait; ban: 403 with onBanReach', async (t) => {
      const reached: string[] = []
      const app = await cachekitApp(t, backend, { rateLimit: { global: false, onBanReach: (_request, key) => { reached.push(key) } } })
      app.get('/backoff', { config: { rateLimit: { max: 1, timeWindow: 10_000, exponentialBackoff: true } } }, async () => ({ ok: true }))
      app.get('/ban', { config: { rateLimit: { max: 1, timeWindow: HOUR, ban: 2 } } }, async () => ({ ok: true }))
      await from(app, '10.0.0.1', '/backoff')
      const waits = []
      for (let i = 0; i < 4; i++) waits.push(Number((await from(app, '10.0.0.1', '/backoff')).headers['retry-after']))
      t.same(waits.map((w) => Math.round(w / 10)), [1, 2, 4, 8], 'about 10, 20, 40, 80 s')
      const ban = []
      for (let i = 0; i < 5; i++) ban.push((await from(app, '10.0.0.1', '/ban')).statusCode)
      t.same(ban, [200, 429, 429, 403, 403], 'two refusals tolerated, then banned')
      t.same(reached, ['10.0.0.1', '10.0.0.1'])
    })

    t.test('continueExceeding: each refusal empties the bucket again, and is never answered from memory', async (t) => {
      const app = await cachekitApp(t, backend, { rateLimit: { max: 1, timeWindow: HOUR, continueExceeding: true } })
      app.get('/', async () => ({ ok: true }))
      await from(app, '10.0.0.1')
      const waits = []
      for (let i = 0; i < 3; i++) waits.push((await from(app, '10.0.0.1')).headers['retry-after'])
      t.same(waits, ['3600', '3600', '3600'], 'the refill starts again at each refusal')
      t.equal(app.tokenBucket.denyCache.size, 0)
    })

    t.test('a store of your own replaces the token bucket', async (t) => {
      const calls: string[] = []
      class CountingStore {
        readonly #counts = new Map<string, number>()
        incr (key: string, cb: (err: Error | null, result?: { current: number, ttl: number }) => void): void {
          calls.push(key)
          const current = (this.#counts.get(key) ?? 0) + 1
          this.#counts.set(key, current)
          cb(null, { current, ttl: 1000 })
        }

        child (): CountingStore { return this }
      }
      const app = await cachekitApp(t, backend, { rateLimit: { max: 1, timeWindow: HOUR, store: CountingStore as never } })
      app.get('/', async () => ({ ok: true }))
      t.same([(await from(app, '10.0.0.1')).statusCode, (await from(app, '10.0.0.1')).statusCode], [200, 429])
      t.same(calls, ['10.0.0.1', '10.0.0.1'])
    })

    t.test('peek: the tokens there now, nothing taken', async (t) => {
      const app = await cachekitApp(t, backend, { rateLimit: { global: false } })
      await app.after()
      const limiter = app.createRateLimit({ max: 5, timeWindow: HOUR })
      app.get('/', async (request) => ({ peek: await limiter(request, { increment: false }), take: await limiter(request), after: await limiter(request, { increment: false }) }))
      const { peek, take, after } = (await from(app, '10.0.0.1')).json()
      t.match(peek, { remaining: 5, ttl: 0, isExceeded: false, timeWindow: HOUR, max: 5 }, 'a full bucket peeks as full, with the real window')
      t.match(take, { remaining: 4, ttl: 720_000 })
      t.match(after, { remaining: 4, ttl: 720_000 })
    })

    t.test('ttl is in whole seconds, rounded up as the headers round it', async (t) => {
      const app = await cachekitApp(t, backend, { rateLimit: { global: false } })
      await app.after()
      const limiter = app.createRateLimit({ max: 3, timeWindow: 1000 })
      app.get('/', async (request) => ({ take: await limiter(request), exact: request.rateLimitDecision?.decision.resetMs }))
      const { take, exact } = (await from(app, '10.0.0.1')).json()
      t.match(take, { remaining: 2, ttl: 1000, ttlInSeconds: 1 }, 'full again in 334 ms: 1 s')
      t.ok(exact > 300 && exact <= 334, `the exact figure stays on the request's decision (${String(exact)} ms)`)
    })

    t.test('client input never fails a request: long and forged forwarded values, long keys', async (t) => {
      const app = await cachekitApp(t, backend, { fastify: { trustProxy: true }, rateLimit: { max: 2, timeWindow: HOUR } })
      app.get('/', async () => ({ ok: true }))
      const long = await from(app, '10.0.0.7', '/', { 'x-forwarded-for': '1'.repeat(600) })
      t.equal(long.statusCode, 200, 'an X-Forwarded-For of 600 characters')
      t.equal((await from(app, '10.0.0.7', '/', { 'x-forwarded-for': 'not-an-ip' })).statusCode, 200, 'one that is no IP')
      t.equal((await from(app, '10.0.0.7')).statusCode, 429,
        'both counted as absent: they took from the bucket of the connection\'s address')
      t.equal((await from(app, '10.0.0.8', '/', { 'x-forwarded-for': '203.0.113.5' })).statusCode, 200, 'a real forwarded IP counts')

      const keyed = await cachekitApp(t, backend, { rateLimit: { max: 1, timeWindow: HOUR, hashIdentities: false, keyGenerator: (request) => String(request.headers['x-key']) } })
      keyed.get('/', async () => ({ ok: true }))
      t.same([(await from(keyed, '10.0.0.1', '/', { 'x-key': 'k'.repeat(5000) })).statusCode, (await from(keyed, '10.0.0.1', '/', { 'x-key': 'k'.repeat(5000) })).statusCode],
        [200, 429], 'a 5,000-character key is hashed, and limits as any')
    })
  })
}

t.test('identities enter Redis keys as keyed hashes by default', async (t) => {
  await redis.flush()
  const app = await cachekitApp(t, 'redis', { cache: { prefix: 'hk' }, fastify: { trustProxy: true }, rateLimit: { max: 5, timeWindow: HOUR } })
  app.get('/', async () => ({ ok: true }))
  await from(app, '10.0.0.1', '/', { 'x-forwarded-for': '192.0.2.77' })
  const keys = await redis.client().keys('hk:*')
  t.equal(keys.length, 1)
  t.notMatch(keys[0], '192.0.2.77', `no IP in ${keys[0] ?? ''}`)
  t.match(keys[0], /^hk:ratelimit:GET \/:[A-Za-z0-9_-]{22}$/)

  const clear = await cachekitApp(t, 'redis', { cache: { prefix: 'hc' }, rateLimit: { max: 5, timeWindow: HOUR, hashIdentities: false } })
  clear.get('/', async () => ({ ok: true }))
  await from(clear, '192.0.2.78')
  t.same(await redis.client().keys('hc:*'), ['hc:ratelimit:GET /:192.0.2.78'], 'hashIdentities: false keeps them in clear')
})

t.test('batching on Redis answers under fake timers', async (t) => {
  await redis.flush()
  const app = await cachekitApp(t, 'redis', { rateLimit: { max: 3, timeWindow: HOUR } })
  app.get('/', async () => ({ ok: true }))
  await app.ready()
  t.ok(app.tokenBucket.context.store.kind === 'redis')
  // as sinon or node:test do in users' suites: a faked setImmediate never fires on its own
  mock.timers.enable({ apis: ['setImmediate', 'setTimeout', 'setInterval'] })
  t.teardown(() => { mock.timers.reset() })
  const replies = await Promise.all([from(app, '10.0.0.1'), from(app, '10.0.0.1'), from(app, '10.0.0.1'), from(app, '10.0.0.1')])
  mock.timers.reset()
  t.same(replies.map((r) => r.statusCode).sort(), [200, 200, 200, 429], 'every request answered, by one shared bucket')
})

t.test('fake timers on Redis: the default and clock \'process\' refill with the faked Date; clock \'redis\' keeps Redis TIME', async (t) => {
  await redis.flush()
  // 2 a second: a token back every 500 ms
  const processClock = await cachekitApp(t, 'redis', { cache: { prefix: 'cp' }, rateLimit: { max: 2, timeWindow: 1000, clock: 'process' } })
  processClock.get('/', async () => ({ ok: true }))
  const autoClock = await cachekitApp(t, 'redis', { cache: { prefix: 'ca' }, rateLimit: { max: 2, timeWindow: 1000 } })
  autoClock.get('/', async () => ({ ok: true }))
  const redisClock = await cachekitApp(t, 'redis', { cache: { prefix: 'cr' }, rateLimit: { max: 2, timeWindow: 1000, clock: 'redis' } })
  redisClock.get('/', async () => ({ ok: true }))
  await processClock.ready()
  await autoClock.ready()
  await redisClock.ready()
  t.equal(processClock.tokenBucket.clock, 'process')
  t.equal(autoClock.tokenBucket.clock, 'auto', 'auto is the default')
  t.equal(redisClock.tokenBucket.clock, 'redis')
  // as a user's suite does: Date at 0, moved only by tick
  mock.timers.enable({ apis: ['Date', 'setTimeout', 'setInterval', 'setImmediate'], now: 0 })
  t.teardown(() => { mock.timers.reset() })
  const burst = async (app: FastifyInstance) => [(await from(app, '10.0.0.1')).statusCode, (await from(app, '10.0.0.1')).statusCode, (await from(app, '10.0.0.1')).statusCode]
  for (const app of [processClock, autoClock, redisClock]) t.same(await burst(app), [200, 200, 429], `${app.tokenBucket.clock}: a burst of 3 on a bucket of 2`)
  // a whole hour of faked time: Redis TIME has moved by milliseconds
  mock.timers.tick(HOUR)
  t.same(await burst(processClock), [200, 200, 429], 'clock process: the faked hour refilled the bucket')
  t.same(await burst(autoClock), [200, 200, 429], 'default: Date is faked, so the faked hour refilled the bucket')
  const stuck = await from(redisClock, '10.0.0.1')
  t.equal(stuck.statusCode, 429, 'clock redis: the bucket is timed by Redis, where no time has passed')
  t.ok(Number(stuck.headers['retry-after']) >= 1, 'and it says so: a wait of Redis time')
  mock.timers.reset()
  for (const prefix of ['cp', 'ca']) {
    const fullAt = Number(await redis.client().get((await redis.client().keys(`${prefix}:ratelimit:*`))[0] as string))
    t.ok(fullAt > HOUR * 1000 && fullAt < 2 * HOUR * 1000, `${prefix}: the faked instant (µs of faked time) is stored: ${fullAt}`)
  }
  t.equal((await from(processClock, '10.0.0.1')).statusCode, 200, 'timers real again: real time is far past the faked hour, so the bucket is full')
})

t.test('the default clock sends no time while Date is real, and the faked time while it is faked', async (t) => {
  await redis.flush()
  const app = await cachekitApp(t, 'redis', { cache: { prefix: 'cs' }, rateLimit: { max: 5, timeWindow: HOUR } })
  app.get('/', async () => ({ ok: true }))
  await app.ready()
  // watch the arguments the real store is given (it still runs the script on Redis)
  const store = app.tokenBucket.store
  const sent: number[] = []
  const runScript = store.runScript.bind(store)
  store.runScript = (async (script: Parameters<typeof runScript>[0], keys: Parameters<typeof runScript>[1], args: Parameters<typeof runScript>[2]) => {
    if (script.name === 'token-bucket') sent.push(args.length - 4 * keys.length)
    return await runScript(script, keys, args)
  }) as typeof store.runScript
  t.teardown(() => { store.runScript = runScript })
  t.equal((await from(app, '10.0.0.1')).statusCode, 200)
  t.same(sent, [0], 'real Date: no time sent, Redis TIME decides')
  mock.timers.enable({ apis: ['Date'], now: 5000 })
  t.teardown(() => { mock.timers.reset() })
  t.equal((await from(app, '10.0.0.2')).statusCode, 200)
  mock.timers.reset()
  t.same(sent, [0, 1], 'faked Date: the time is sent')
  const keys = await redis.client().keys('cs:ratelimit:*')
  const values = await Promise.all(keys.map(async (k) => Number(await redis.client().get(k))))
  t.ok(values.some((v) => v === 5000 * 1000 + HOUR * 1000 / 5), `the faked instant is stored: ${values.join(', ')}`)
})

t.test('clock must be auto, redis or process', async (t) => {
  await t.rejects(cachekitApp(t, 'memory', { rateLimit: { clock: 'wall' as 'redis' } }), /clock/)
})

t.test('the deny cache drops a refusal when the clock goes back (a suite faking Date from 0)', async (t) => {
  await redis.flush()
  const app = await cachekitApp(t, 'redis', { rateLimit: { max: 1, timeWindow: HOUR } })
  app.get('/', async () => ({ ok: true }))
  t.same([(await from(app, '10.0.0.1')).statusCode, (await from(app, '10.0.0.1')).statusCode], [200, 429])
  t.equal(app.tokenBucket.denyCache.size, 1, 'the refusal is remembered, on real time')
  await redis.flush()
  mock.timers.enable({ apis: ['Date'], now: 0 })
  t.teardown(() => { mock.timers.reset() })
  const after = await from(app, '10.0.0.1')
  mock.timers.reset()
  t.equal(after.statusCode, 200, 'asked Redis again (emptied), not answered with a wait of 56 years')
})

t.test('skipOnError is open (true) or closed (false), at the plugin level and per route', async (t) => {
  const app = await cachekitApp(t, 'memory', { rateLimit: { max: 5, timeWindow: HOUR } })
  app.get('/default', async () => ({ ok: true }))
  app.get('/closed', { config: { rateLimit: { max: 5, timeWindow: HOUR, skipOnError: false } } }, async () => ({ ok: true }))
  app.get('/open', { config: { rateLimit: { max: 5, timeWindow: HOUR, skipOnError: true } } }, async () => ({ ok: true }))
  const strict = await cachekitApp(t, 'memory', { rateLimit: { max: 5, timeWindow: HOUR, skipOnError: false } })
  strict.get('/', async () => ({ ok: true }))
  await app.ready()
  await strict.ready()
  faultyStore(t, app.cache.store).fail('UNAVAILABLE')
  faultyStore(t, strict.cache.store).fail('UNAVAILABLE')
  t.same([(await from(app, '10.0.0.1', '/default')).statusCode, (await from(app, '10.0.0.1', '/closed')).statusCode, (await from(app, '10.0.0.1', '/open')).statusCode],
    [200, 503, 200], 'a route\'s own skipOnError: false is honoured under an open plugin')
  t.equal((await from(strict, '10.0.0.1')).statusCode, 503, 'skipOnError: false at the plugin level: closed')
})

t.test('closed refusals in an outage: a stable 503, counted, and logged like the open ones (throttled warnings, no errors)', async (t) => {
  const lines: Array<{ level: number, msg: string }> = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line)); done() } })
  const app = await cachekitApp(t, 'memory', { fastify: { logger: { level: 'info', stream } }, rateLimit: { max: 5, timeWindow: HOUR, onStoreError: 'closed' } })
  app.get('/', async () => ({ ok: true }))
  await app.ready()
  faultyStore(t, app.cache.store).fail('UNAVAILABLE')
  const replies = []
  for (let i = 0; i < 50; i++) replies.push(await from(app, `10.0.1.${i}`))
  t.same(new Set(replies.map((r) => r.statusCode)), new Set([503]))
  t.same(replies[0]?.json(), { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'The rate limiter is unavailable; try again later.', instance: '/', code: 'RATE_LIMIT_UNAVAILABLE' })
  t.equal(app.tokenBucket.degraded.closed, 50, 'each one counted')
  t.same(lines.filter((l) => l.level >= 50).map((l) => l.msg), [], 'nothing at error level')
  const warnings = lines.filter((l) => l.level === 40)
  t.equal(warnings.length, 1, 'one throttled warning')
  t.match(warnings[0]?.msg, /rate limiter store failed: deciding with fail policy "closed"/)
})
