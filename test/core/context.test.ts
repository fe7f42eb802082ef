import Fastify from 'fastify'
import t from 'tap'
import { authzPlugin, cachePlugin, oauthStatePlugin, rateLimitPlugin, sessionCachePlugin } from '../../index.js'
import { Cache } from '../../lib/cache.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { CacheMetrics } from '../../lib/metrics.js'
import { fail } from '../../lib/result.js'
import { memoryStore } from '../helpers/stores.js'

// The one context every component is built with, and its one failure helper.

interface Line { details: Record<string, unknown>, message: string }

function recording (): { lines: Line[], logger: { warn: (details: object, message: string) => void } } {
  const lines: Line[] = []
  return { lines, logger: { warn: (details, message) => { lines.push({ details: details as Record<string, unknown>, message }) } } }
}

t.test('defaults: keys over the store\'s prefix, counters of its own, a 10 s throttle', async (t) => {
  const { store } = memoryStore('ctx')
  const context = new ComponentContext({ store })
  t.equal(context.keys.prefix, 'ctx')
  t.ok(context.metrics instanceof CacheMetrics)
  t.equal(context.logger, undefined)
  t.equal(context.warnIntervalMs, 10_000)
  t.ok(context.warn('topic', {}, 'no logger is fine'))
})

t.test('failed counts, warns once per topic and code, and answers the failure', async (t) => {
  const { lines, logger } = recording()
  const context = new ComponentContext({ store: memoryStore().store, logger })
  const timeout = fail('TIMEOUT', 'Command timed out')
  t.equal(context.failed('users', timeout, 'cache degraded'), timeout, 'the same failure, to return')
  context.failed('users', timeout, 'cache degraded')
  context.failed('orders', fail('UNAVAILABLE', 'down'), 'cache degraded', { topic: 'users', details: { extra: 1 } })
  context.failed('sessions', fail('DECODE', 'not JSON'), 'session entry treated as a miss')
  t.same(lines, [
    { details: { namespace: 'users', code: 'TIMEOUT', topic: 'users:TIMEOUT', suppressed: 0 }, message: 'cache degraded: Command timed out' },
    { details: { extra: 1, namespace: 'orders', code: 'UNAVAILABLE', topic: 'users:UNAVAILABLE', suppressed: 0 }, message: 'cache degraded: down' },
    { details: { namespace: 'sessions', code: 'DECODE', topic: 'sessions:DECODE', suppressed: 0 }, message: 'session entry treated as a miss: not JSON' }
  ], 'bad data is the operator\'s concern too; the repeat is suppressed')
  t.match(context.metrics.snapshot(), { users: { errors: 2 }, orders: { errors: 1 }, sessions: { errors: 1 } })
})

t.test('a refusal of the caller\'s own input is counted, not warned', async (t) => {
  const { lines, logger } = recording()
  const context = new ComponentContext({ store: memoryStore().store, logger })
  context.failed('users', fail('INVALID_ARGUMENT', 'value too large'), 'cache degraded')
  context.failed('users', fail('ENCODE', 'circular'), 'cache degraded')
  t.same(lines, [])
  t.equal(context.metrics.stats('users').errors, 2)
})

t.test('withWarnInterval: the same context, or one sharing everything but the throttle', async (t) => {
  const { lines, logger } = recording()
  const context = new ComponentContext({ store: memoryStore().store, keys: new KeyBuilder({ prefix: 'x' }), logger, warnIntervalMs: 60_000 })
  t.equal(context.withWarnInterval(undefined), context)
  t.equal(context.withWarnInterval(60_000), context)
  const eager = context.withWarnInterval(0)
  t.not(eager, context)
  t.equal(eager.warnIntervalMs, 0)
  t.equal(eager.store, context.store)
  t.equal(eager.keys, context.keys)
  t.equal(eager.metrics, context.metrics)
  t.equal(eager.logger, context.logger)
  context.warn('t', {}, 'a')
  context.warn('t', {}, 'b')
  eager.warn('t', {}, 'c')
  eager.warn('t', {}, 'd')
  t.same(lines.map((l) => l.message), ['a', 'c', 'd'])
})

t.test('a lib component composes without Fastify', async (t) => {
  const context = new ComponentContext({ store: memoryStore('plain').store })
  const cache = new Cache(context)
  t.equal(cache.context, context)
  t.equal(cache.store, context.store)
  t.same(await cache.set('users:1', 'ann'), { ok: true, value: true })
  t.equal(context.metrics.stats('users').total, 0, 'writes are not lookups')
  t.same(await cache.get('users:1'), { ok: true, value: 'ann' })
  t.equal(context.metrics.stats('users').hits, 1)
  t.throws(() => new Cache(context, { defaultTtl: 0 }), { name: 'TypeError', message: /^Cache: defaultTtl / })
})

t.test('the cache plugin builds the context once; every plugin uses it', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cachePlugin, { prefix: 'one', warnIntervalMs: 5000 })
  await app.register(sessionCachePlugin)
  await app.register(oauthStatePlugin)
  await app.register(authzPlugin, { decider: async () => true })
  await app.register(rateLimitPlugin, { warnIntervalMs: 0 })
  const { context } = app.cache
  t.equal(context.store, app.cache.store)
  t.equal(context.metrics, app.cacheMetrics)
  t.equal(context.warnIntervalMs, 5000)
  t.equal(app.sessionCache.context, context, 'no warnIntervalMs of its own: the very same context')
  t.equal(app.oauthState.context, context)
  t.equal(app.authz.cache.context, context)
  const own = app.tokenBucket.context
  t.not(own, context, 'a warnIntervalMs of its own: its own throttle')
  t.equal(own.warnIntervalMs, 0)
  t.equal(own.store, context.store)
  t.equal(own.metrics, context.metrics)
})
