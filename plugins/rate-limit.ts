import fastifyRateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { refusalError } from '../lib/rate-limit/headers.js'
import { ipIdentity, ipv6SubnetOf, userIdentity } from '../lib/rate-limit/identity.js'
import { tokenBucketStore, type LimitState } from '../lib/rate-limit/limiter-store.js'
import { TokenBucket } from '../lib/rate-limit/token-bucket.js'
import { METRICS_NAMESPACES } from '../lib/namespaces.js'
import { fastPath, fastPathFits, neutralOptions } from './rate-limit/fast-path.js'
import { splitOptions, type TokenBucketPluginOptions, type TokenBucketRouteOptions } from './rate-limit/options.js'
import { answerOutages } from './rate-limit/outage.js'
import { assignPolicies } from './rate-limit/policies.js'
import { decisionHeaders } from './rate-limit/response-headers.js'

// This file is the `fastify-cachekit/rate-limit` entry point: the plugin and what its users need.
// The plugin's parts are in rate-limit/: options (schemas), policies (each route's),
// fast-path (refusals answered from the deny cache), response-headers (onSend).
export * from '../lib/public/common.js'
export { TokenBucket, type RateLimitClock, type TokenBucketOptions } from '../lib/rate-limit/token-bucket.js'
export type { CapacityPolicy, FailPolicy, RatePolicy, WindowPolicy } from '../lib/rate-limit/policy.js'
export type { Decision, DecisionSource } from '../lib/rate-limit/token-bucket-script.js'
export { RateLimitStoreError, type LimitState } from '../lib/rate-limit/limiter-store.js'
export { clientIp, foldIp, ipIdentity, userIdentity, type IdentifiedRequest } from '../lib/rate-limit/identity.js'
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
 * decorates `fastify.tokenBucket` for direct use. It takes @fastify/rate-limit's
 * options as they are, at the top level, plus ours. Every route registered after
 * this plugin gets a policy (see `routes` and `global`); buckets are keyed by
 * route template and client identity. It may be registered several times.
 */
export default fp<TokenBucketPluginOptions>(async function cachekitRateLimit (fastify, options) {
  const { opts, peer } = splitOptions(options)
  if (peer.redis !== undefined && peer.store === undefined && peer.redis !== (fastify.cache.context.store as { client?: unknown }).client) {
    fastify.log.warn('cachekit-rate-limit: option redis is not used: buckets live in the cache plugin\'s store (give the cache plugin this client, or its URL)')
  }
  const bucket = new TokenBucket(fastify.cache.context.withWarnInterval(opts.warnIntervalMs), {
    onStoreError: opts.onStoreError,
    denyCacheSize: opts.denyCacheSize,
    localBucketSize: opts.localBucketSize,
    maxBatch: opts.maxBatch,
    clock: opts.clock
  })
  // a failure here is fine: EVALSHA reloads a script on NOSCRIPT
  await bucket.loadScripts()
  // a second limiter in the same context limits as well; the first keeps the decorator
  if (!fastify.hasDecorator('tokenBucket')) fastify.decorate('tokenBucket', bucket)
  if (!fastify.hasRequestDecorator('rateLimitDecision')) fastify.decorateRequest('rateLimitDecision', null)
  if (!fastify.hasRequestDecorator('rateLimitKey')) fastify.decorateRequest('rateLimitKey', undefined)

  // a store of your own replaces the token bucket: @fastify/rate-limit runs as it would alone (our `routes` map still applies)
  if (peer.store !== undefined) {
    fastify.addHook('onRoute', assignPolicies({ routes: opts.routes, global: false }))
    await fastify.register(fastifyRateLimit, { ...peer, global: opts.global })
    return
  }
  const assign = assignPolicies(opts)

  const generate = identityOf(peer.keyGenerator, opts.identity, peer.ipv6Subnet)
  // each decision is left on its request (headers, bodies, your code) and counted as it is made, by route policy
  // (not in an onResponse hook: any such hook costs every response of the app its listeners and timestamps)
  const metrics = fastify.cache.context.metrics
  const record = (request: unknown, state: LimitState): void => {
    (request as FastifyRequest).rateLimitDecision = state
    metrics.decision(METRICS_NAMESPACES.rateLimit, state.scope, state.decision.allowed ? 'allowed' : 'refused', state.decision.source)
  }
  const Store = tokenBucketStore(bucket, {
    cost: opts.cost,
    onStoreError: opts.onStoreError,
    hashIdentities: opts.hashIdentities,
    record
  })
  // the fast path answers refusals as the defaults make them: off when options would make them otherwise
  const fastPathOn = opts.denyCacheSize > 0 && neutralOptions(peer)

  fastify.addHook('onRoute', function (route) {
    assign(route)
    // @fastify/rate-limit's onRoute hook runs next and appends its hook right after this one
    if (fastPathOn && fastPathFits(route, this)) route.onRequest = [route.onRequest ?? []].flat().concat(fastPath(route, Store.limiterOf, generate, record))
  })
  // only when a response needs more than @fastify/rate-limit writes: any onSend hook costs every response a hook run
  if (opts.draftHeaders || opts.problemDetails) fastify.addHook('onSend', decisionHeaders(opts))

  await fastify.register(fastifyRateLimit, {
    errorResponseBuilder: (_request, context) => refusalError(context.statusCode, context.ttl),
    ...peer,
    global: false,
    // the store applies each limiter's fail policy (skipOnError included)
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
  // after @fastify/rate-limit's own onRoute hook: its hook is on the route by then
  const defaultHook = peer.hook ?? 'onRequest'
  fastify.addHook('onRoute', (route) => { answerOutages(route, defaultHook) })
}, {
  fastify: '5.x',
  name: 'cachekit-rate-limit',
  dependencies: ['cachekit-cache'],
  decorators: { fastify: ['cache'] }
})

/**
 * A request's identity: your `keyGenerator`, else the IP (IPv6 folded to the
 * route's `ipv6Subnet`, else the plugin's) or the user (`identity: 'user'`).
 */
function identityOf (keyGenerator: ((request: FastifyRequest) => unknown) | undefined, identity: 'ip' | 'user', ipv6Subnet: unknown): (request: FastifyRequest) => unknown {
  if (keyGenerator !== undefined) return keyGenerator
  const identify = identity === 'user' ? userIdentity : ipIdentity
  const subnet = ipv6SubnetOf(ipv6Subnet)
  return (request) => {
    const own = (request.routeOptions.config as { rateLimit?: { ipv6Subnet?: unknown } } | undefined)?.rateLimit?.ipv6Subnet
    return identify(request, own === undefined ? subnet : ipv6SubnetOf(own))
  }
}
