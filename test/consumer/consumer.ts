// A Fastify app as a user of the published package writes it: every plugin
// registered, every decorator used, the @fastify/rate-limit options with our
// extras. .ci/consumer-check.sh type-checks it against the packed tarball's
// declarations (strict, skipLibCheck off) and runs it on the memory store.
// It lives in the repo but runs only in that scratch app (tap leaves it out).
import { strict as assert } from 'node:assert'
import Fastify from 'fastify'
import {
  authzPlugin,
  cachePlugin,
  metricsPlugin,
  oauthStatePlugin,
  personal,
  rateLimitPlugin,
  sessionCachePlugin,
  valueOr,
  type Decision,
  type Result,
  type Session
} from 'fastify-cachekit'
import cacheOnly, { type CachePluginOptions } from 'fastify-cachekit/cache'

const app = Fastify()
await app.register(metricsPlugin)
const cacheOptions: CachePluginOptions = { redisUrl: '' } // as from REDIS_URL= : the memory store
await app.register(cachePlugin, cacheOptions)
await app.register(sessionCachePlugin, { ttl: 3600 })
await app.register(authzPlugin, {
  decider: async (subject, resource, action) => subject === 'alice' && resource === 'accounts' && action === 'read',
  subject: (request) => request.headers['x-user'] as string | undefined
})
await app.register(oauthStatePlugin, { ttl: 60 })
await app.register(rateLimitPlugin, { max: 100, timeWindow: '1 minute' })
assert.equal(typeof cacheOnly, 'function', 'the subpath default export is the same kind of plugin')

app.get('/accounts/:id', {
  preHandler: app.authz.require('accounts', 'read'),
  config: { rateLimit: { max: 2, timeWindow: 60_000, cost: 1, bucket: 'accounts', onStoreError: 'local' } }
}, async (request) => {
  const remaining: number | null | undefined = request.rateLimitDecision?.decision.remaining
  return { remaining }
})
const peek = app.createRateLimit({ max: 5, timeWindow: 1000, cost: 1, bucket: 'direct', onStoreError: 'open' })
app.get('/peek', { config: { rateLimit: false } }, async (request) => await peek(request, { increment: false }))
await app.ready()

// the smoke the issue names: an empty redisUrl is the memory store, setMany takes a Record
const stored: Result<true> = await app.cache.setMany({ a: '1' })
assert.deepEqual(stored, { ok: true, value: true })
assert.deepEqual(await app.cache.get('a'), { ok: true, value: '1' })
assert.equal((await app.cache.health()).store, 'memory')
assert.equal(app.cacheMetrics.stats('default').hits, 1)

const created = await app.sessionCache.create({ userId: 'alice' })
assert.ok(created.ok)
const session: Session | null = valueOr(await app.sessionCache.get(created.value.id), null)
assert.equal(session?.userId, 'alice')

assert.equal(await app.authz.check('alice', 'accounts', 'read'), true)
assert.equal((await app.inject({ url: '/accounts/1', headers: { 'x-user': 'bob' } })).statusCode, 403)
const allowed = await app.inject({ url: '/accounts/1', headers: { 'x-user': 'alice' } })
assert.deepEqual([allowed.statusCode, allowed.json()], [200, { remaining: 0 }]) // bob's refused request took a token too
assert.equal((await app.inject('/peek')).json().isExceeded, false) // isAllowed means on the allow list

const state = await app.oauthState.create({ userId: 'alice', provider: 'github' })
assert.ok(state.ok)
assert.equal(valueOr(await app.oauthState.consume(state.value.state, { userId: 'alice' }), null)?.provider, 'github')

const taken: Result<Decision> = await app.tokenBucket.take(['login', personal('alice@example.com')], { capacity: 1, refillPerSecond: 1 })
assert.ok(taken.ok && taken.value.allowed)

await app.close()
console.log('consumer: every plugin registered and answered on the memory store')
