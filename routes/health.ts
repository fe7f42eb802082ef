import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { tagRoutes } from '../demo/api-tags.js'

export const HealthReply = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded')]),
  cache: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  store: Type.Union([Type.Literal('redis'), Type.Literal('memory')])
})

/** The probes take no query: an unknown parameter is refused (400), not ignored. */
const NoQuery = Type.Object({}, { additionalProperties: false })

export const LiveReply = Type.Object({ status: Type.Literal('live') })

export const Degradation = Type.Object({
  component: Type.String({ description: 'a cachekit plugin' }),
  effect: Type.String({ description: 'what it does while Redis is down (its fail policy)' })
})

export const ReadyReply = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not ready')]),
  cache: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  store: Type.Union([Type.Literal('redis'), Type.Literal('memory')]),
  followsRedis: Type.Boolean({ description: 'whether a Redis outage makes this instance unready (READINESS_FOLLOWS_REDIS)' }),
  degraded: Type.Array(Degradation, { description: 'empty while Redis answers' })
})

export interface HealthRoutesOptions {
  /**
   * A Redis outage makes `/health/ready` answer 503. Off by default: every
   * instance shares the one Redis, so taking them all out of the load balancer
   * would turn a degraded service into no service.
   */
  readinessFollowsRedis?: boolean
}

/** What each registered plugin does while Redis is down: its fail policy, in words (docs/guide.md, "Failure"). */
export function degradations (app: FastifyInstance): Array<Static<typeof Degradation>> {
  const out = [{ component: 'cache', effect: 'lookups answer as misses; callers recompute (fail-open)' }]
  if (app.hasDecorator('sessionCache')) out.push({ component: 'session-cache', effect: 'reads fail (callers read their database); a revocation is never undone' })
  if (app.hasDecorator('authz')) out.push({ component: 'authz-cache', effect: 'every check asks the decider, uncached; never allowed by default' })
  if (app.hasDecorator('oauthState')) out.push({ component: 'oauth-state', effect: 'OAuth states are refused (503, fail-closed)' })
  if (app.hasDecorator('tokenBucket')) out.push({ component: 'rate-limit', effect: `decisions follow the fail policy "${app.tokenBucket.onStoreError}"` })
  return out
}

/**
 * `/health`: always 200 while the process serves: a down cache is degraded,
 * not dead (fail-open). `/health/live`: the process answers (a liveness
 * probe: touches nothing, so a slow Redis never gets a healthy process
 * restarted). `/health/ready`: this instance has finished starting (Fastify
 * answers only once every plugin has loaded, and 503 to new requests while it
 * closes) and can serve; a Redis outage alone does not make it unready unless
 * `readinessFollowsRedis`, and the body says what is degraded either way.
 */
const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (app, options) => {
  app.addHook('onRoute', tagRoutes('health'))
  const followsRedis = options.readinessFollowsRedis ?? false

  app.get('/health', { schema: { querystring: NoQuery, response: { 200: HealthReply } } }, async () => {
    const health = await app.cache.health()
    return { status: health.status === 'up' ? 'healthy' : 'degraded', cache: health.status, store: health.store } as const
  })

  app.get('/health/live', { schema: { querystring: NoQuery, response: { 200: LiveReply } } }, async () => ({ status: 'live' } as const))

  app.get('/health/ready', { schema: { querystring: NoQuery, response: { 200: ReadyReply, 503: ReadyReply } } }, async (_request, reply) => {
    const health = await app.cache.health()
    const up = health.status === 'up'
    const ready = up || !followsRedis
    return await reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not ready',
      cache: health.status,
      store: health.store,
      followsRedis,
      degraded: up ? [] : degradations(app)
    })
  })
}

export default healthRoutes
