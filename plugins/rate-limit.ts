import fastifyRateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { checkOptions } from '../lib/options.js'
import { refusalError } from '../lib/rate-limit/headers.js'
import { ipIdentity, userIdentity } from '../lib/rate-limit/identity.js'
import { tokenBucketStore, type LimitState } from '../lib/rate-limit/limiter-store.js'
import { TokenBucket } from '../lib/rate-limit/token-bucket.js'
import { fastPath, fastPathFits, neutralOptions } from './rate-limit/fast-path.js'
import { RateLimitPluginOptionsSchema, type ResolvedOptions, type TokenBucketPluginOptions, type TokenBucketRouteOptions } from './rate-limit/options.js'
import { assignPolicies } from './rate-limit/policies.js'
import { decisionHeaders } from './rate-limit/response-headers.js'

// This file is the `fastify-cachekit/rate-limit` entry point: the plugin and what its users need.
// The plugin's parts are in rate-limit/: options (schemas), policies (each route's),
// fast-path (refusals answered from the deny cache), response-headers (onSend).
export * from '../lib/public/common.js'
export { TokenBucket, type TokenBucketOptions } from '../lib/rate-limit/token-bucket.js'
export type { CapacityPolicy, FailPolicy, RatePolicy, WindowPolicy } from '../lib/rate-limit/policy.js'
export type { Decision, DecisionSource } from '../lib/rate-limit/token-bucket-script.js'
export { RateLimitStoreError, type LimitState } from '../lib/rate-limit/limiter-store.js'
export { foldIp, ipIdentity, userIdentity, type IdentifiedRequest } from '../lib/rate-limit/identity.js'
export { userIdOf } from '../lib/request-user.js'
export { RateLimitPluginOptionsSchema, RoutePolicySchema, type TokenBucketPluginOptions, type TokenBucketRouteOptions } from './rate-limit/options.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The token bucket over the shared store: `take`, `peek`, `reset`. */
    tokenBucket: TokenBucket
  }
  interface FastifyRequest {
    /** The rate-limit decision taken for this request, or null when none was. */
    rateLimitDecision: LimitState | null
    /** The key the fast path generated, handed on to @fastify/rate-limit (so it is generated once). */
    rateLimitKey: unknown
  }
}

// the module exports its namespace (`export =`), so its members are augmented at the top level
declare module '@fastify/rate-limit' {
  interface CreateRateLimitOptions extends TokenBucketRouteOptions {}
}

/**
 * Registers @fastify/rate-limit with the token bucket as its store and
 * decorates `fastify.tokenBucket` for direct use. Every route registered after
 * this plugin gets a policy (see `routes` and `global`); buckets are keyed by
 * route template and client identity.
 */
export default fp<TokenBucketPluginOptions>(async function cachekitRateLimit (fastify, options) {
  const { keyGenerator, rateLimitOptions, ...rest } = options
  const opts = checkOptions(RateLimitPluginOptionsSchema, rest, 'cachekit-rate-limit') as ResolvedOptions
  const bucket = new TokenBucket(fastify.cache.context.withWarnInterval(opts.warnIntervalMs), {
    onStoreError: opts.onStoreError,
    denyCacheSize: opts.denyCacheSize,
    localBucketSize: opts.localBucketSize,
    maxBatch: opts.maxBatch
  })
  // a failure here is fine: EVALSHA reloads a script on NOSCRIPT
  await bucket.loadScripts()
  fastify.decorate('tokenBucket', bucket)
  fastify.decorateRequest('rateLimitDecision', null)
  fastify.decorateRequest('rateLimitKey', undefined)

  const generate = keyGenerator ?? (opts.identity === 'user' ? userIdentity : ipIdentity)
  const Store = tokenBucketStore(bucket, {
    cost: opts.cost,
    onStoreError: opts.onStoreError,
    hashIdentities: opts.hashIdentities,
    record: (request, state) => { (request as FastifyRequest).rateLimitDecision = state }
  })
  // the fast path answers refusals as the defaults make them: off when options would make them otherwise
  const fastPathOn = opts.denyCacheSize > 0 && neutralOptions(rateLimitOptions ?? {})

  const assign = assignPolicies(opts)
  fastify.addHook('onRoute', function (route) {
    assign(route)
    // @fastify/rate-limit's onRoute hook runs next and appends its hook right after this one
    if (fastPathOn && fastPathFits(route, this)) route.onRequest = [route.onRequest ?? []].flat().concat(fastPath(route, Store.limiterOf, generate))
  })
  fastify.addHook('onSend', decisionHeaders(opts))

  await fastify.register(fastifyRateLimit, {
    errorResponseBuilder: (_request, context) => refusalError(context.statusCode, context.ttl),
    ...rateLimitOptions,
    global: false,
    max: opts.max,
    timeWindow: opts.timeWindow,
    skipOnError: false,
    // the key the fast path generated for this request, if it ran, else a fresh one
    keyGenerator: (request) => {
      const key = request.rateLimitKey
      if (key === undefined) return generate(request) as string | number | Promise<string | number>
      request.rateLimitKey = undefined
      return key as string | number | Promise<string | number>
    },
    store: Store as unknown as RateLimitPluginOptions['store']
  })
}, {
  fastify: '5.x',
  name: 'cachekit-rate-limit',
  dependencies: ['cachekit-cache'],
  decorators: { fastify: ['cache'] }
})
