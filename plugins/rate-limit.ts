import fastifyRateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyRequest, onRouteHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { checkOptions } from '../lib/options.js'
import { TokenBucket } from '../lib/rate-limit/bucket.js'
import { rateLimitHeader, rateLimitPolicyHeader, refusalError, tooManyRequestsProblem } from '../lib/rate-limit/headers.js'
import { ipIdentity, userIdentity } from '../lib/rate-limit/identity.js'
import { tokenBucketStore, type LimitState } from '../lib/rate-limit/limiter-store.js'
import type { FailPolicy } from '../lib/rate-limit/policy.js'
import { tokenBucketScript } from '../lib/rate-limit/token-bucket.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The token bucket over the shared store: `take`, `peek`, `reset`. */
    tokenBucket: TokenBucket
  }
  interface FastifyRequest {
    /** The rate-limit decision taken for this request, or null when none was. */
    rateLimitDecision: LimitState | null
  }
}

/** Our extras in `config.rateLimit` (and in `rateLimit()` / `createRateLimit()` options). */
export interface TokenBucketRouteOptions {
  /** Tokens each request takes (default: the plugin's `cost`, 1). */
  cost?: number
  /** Fail policy of this limiter (default: the plugin's). */
  onStoreError?: FailPolicy
  /** Name of the bucket, instead of the route template (limiters sharing a name share buckets). */
  bucket?: string
}

// the module exports its namespace (`export =`), so its members are augmented at the top level
declare module '@fastify/rate-limit' {
  interface CreateRateLimitOptions extends TokenBucketRouteOptions {}
}

const FailPolicySchema = Type.Union([Type.Literal('open'), Type.Literal('closed'), Type.Literal('local')])
const TimeWindowSchema = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], { description: 'ms, or a string such as "1 minute"' })

export const RoutePolicySchema = Type.Object({
  max: Type.Integer({ minimum: 1, description: 'bucket capacity: requests allowed in a burst' }),
  timeWindow: TimeWindowSchema,
  cost: Type.Optional(Type.Integer({ minimum: 0 })),
  onStoreError: Type.Optional(FailPolicySchema),
  groupId: Type.Optional(Type.String({ minLength: 1 })),
  bucket: Type.Optional(Type.String({ minLength: 1 }))
}, { additionalProperties: false })

export const RateLimitPluginOptionsSchema = Type.Object({
  max: Type.Optional(Type.Integer({ default: 100, minimum: 1, description: 'default capacity (requests in a burst)' })),
  timeWindow: Type.Optional(Type.Union(TimeWindowSchema.anyOf, { default: 60_000, description: 'default time to refill a bucket from empty' })),
  global: Type.Optional(Type.Boolean({ default: true, description: 'limit every route without a policy of its own by the default policy' })),
  cost: Type.Optional(Type.Integer({ default: 1, minimum: 0, description: 'tokens a request takes' })),
  onStoreError: Type.Optional(Type.Union(FailPolicySchema.anyOf, { default: 'open', description: 'when the store fails: open (allow), closed (503), local (in-process bucket)' })),
  identity: Type.Optional(Type.Union([Type.Literal('ip'), Type.Literal('user')], { default: 'ip', description: 'default key: client IP, or the verified user falling back to IP' })),
  hashIdentities: Type.Optional(Type.Boolean({ default: false, description: 'identities enter Redis keys as keyed hashes' })),
  denyCacheSize: Type.Optional(Type.Integer({ default: 10_000, minimum: 0, description: 'refusals remembered in-process (0: off)' })),
  localBucketSize: Type.Optional(Type.Integer({ default: 10_000, minimum: 1, description: 'buckets the local fail policy keeps' })),
  draftHeaders: Type.Optional(Type.Boolean({ default: false, description: 'also send the IETF draft RateLimit-Policy and RateLimit headers' })),
  problemDetails: Type.Optional(Type.Boolean({ default: false, description: 'answer 429 with an RFC 9457 application/problem+json body' })),
  problemType: Type.Optional(Type.String({ default: 'about:blank', minLength: 1 })),
  routes: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Z]+ /' }), Type.Union([Type.Literal(false), RoutePolicySchema]), {
    description: 'policies by "METHOD /route/:template", for routes that set no config.rateLimit; false exempts a route'
  })),
  warnIntervalMs: Type.Optional(Type.Integer({ default: 10_000, minimum: 0 }))
}, { additionalProperties: false })

export type TokenBucketPluginOptions = Static<typeof RateLimitPluginOptionsSchema> & {
  /** Your own identity for a request (default: `identity`). */
  keyGenerator?: (request: FastifyRequest) => string | number | Promise<string | number>
  /** Anything else @fastify/rate-limit accepts (allowList, hook, errorResponseBuilder, onExceeded, addHeaders…). */
  rateLimitOptions?: Omit<RateLimitPluginOptions, 'store' | 'redis' | 'max' | 'timeWindow' | 'global' | 'keyGenerator' | 'skipOnError'>
}

type Resolved = Required<Omit<Static<typeof RateLimitPluginOptionsSchema>, 'routes'>> & Pick<Static<typeof RateLimitPluginOptionsSchema>, 'routes'>

/** Gives each new route its policy: its own config.rateLimit, else the map's, else the default one. */
function assignPolicies (opts: Resolved): onRouteHookHandler {
  const routes = opts.routes ?? {}
  return (route) => {
    const config = route.config as { rateLimit?: unknown } | undefined
    if (config?.rateLimit !== undefined) return
    let policy: Static<typeof RoutePolicySchema> | false | undefined
    for (const method of [route.method].flat()) {
      policy ??= routes[`${method} ${route.url}`] ?? (method === 'HEAD' ? routes[`GET ${route.url}`] : undefined)
    }
    const rateLimit = policy ?? (opts.global ? {} : undefined)
    if (rateLimit !== undefined) route.config = { ...config, rateLimit } as typeof route.config
  }
}

/**
 * Registers @fastify/rate-limit with the token bucket as its store and
 * decorates `fastify.tokenBucket` for direct use. Every route registered after
 * this plugin gets a policy (see `routes` and `global`); buckets are keyed by
 * route template and client identity.
 */
export default fp<TokenBucketPluginOptions>(async function cachekitRateLimit (fastify, options) {
  const { keyGenerator, rateLimitOptions, ...rest } = options
  const opts = checkOptions(RateLimitPluginOptionsSchema, rest, 'cachekit-rate-limit') as Resolved
  const bucket = new TokenBucket({
    store: fastify.cache.store,
    keys: fastify.cache.keys,
    metrics: fastify.cacheMetrics,
    logger: fastify.log,
    onStoreError: opts.onStoreError,
    denyCacheSize: opts.denyCacheSize,
    localBucketSize: opts.localBucketSize,
    warnIntervalMs: opts.warnIntervalMs
  })
  await fastify.cache.store.loadScripts([tokenBucketScript])
  fastify.decorate('tokenBucket', bucket)
  fastify.decorateRequest('rateLimitDecision', null)

  fastify.addHook('onRoute', assignPolicies(opts))
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const state = request.rateLimitDecision
    if (state === null) { done(null, payload); return }
    const { decision } = state
    // decided fail-open: the quota is unknown, so claim none
    if (decision.remaining === null) reply.removeHeader('x-ratelimit-remaining').removeHeader('x-ratelimit-reset')
    if (opts.draftHeaders) {
      reply.header('ratelimit-policy', rateLimitPolicyHeader(state.scope, decision.limit, state.windowMs))
      const current = rateLimitHeader(state.scope, decision)
      if (current !== undefined) reply.header('ratelimit', current)
    }
    if (opts.problemDetails && !decision.allowed && reply.statusCode === 429) {
      reply.type('application/problem+json')
      done(null, JSON.stringify(tooManyRequestsProblem(decision, request.url, opts.problemType)))
      return
    }
    done(null, payload)
  })

  await fastify.register(fastifyRateLimit, {
    errorResponseBuilder: (_request, context) => refusalError(context.statusCode, context.ttl),
    ...rateLimitOptions,
    global: false,
    max: opts.max,
    timeWindow: opts.timeWindow,
    skipOnError: false,
    keyGenerator: keyGenerator ?? (opts.identity === 'user' ? userIdentity : ipIdentity),
    store: tokenBucketStore(bucket, {
      cost: opts.cost,
      onStoreError: opts.onStoreError,
      hashIdentities: opts.hashIdentities,
      record: (request, state) => { (request as FastifyRequest).rateLimitDecision = state }
    }) as unknown as RateLimitPluginOptions['store']
  })
}, {
  fastify: '5.x',
  name: 'cachekit-rate-limit',
  dependencies: ['cachekit-cache'],
  decorators: { fastify: ['cache', 'cacheMetrics'] }
})
