import fastifyRateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { checkOptions, WarnIntervalOptionSchema } from '../lib/options.js'
import { TokenBucket } from '../lib/rate-limit/token-bucket.js'
import { rateLimitHeader, rateLimitPolicyHeader, refusalBody, refusalError, tooManyRequestsProblem } from '../lib/rate-limit/headers.js'
import { ipIdentity, userIdentity } from '../lib/rate-limit/identity.js'
import { tokenBucketStore, type LimitState, type TokenBucketLimiterStore } from '../lib/rate-limit/limiter-store.js'
import type { FailPolicy } from '../lib/rate-limit/policy.js'
import { tokenBucketScript } from '../lib/rate-limit/token-bucket-script.js'

// This file is the `fastify-cachekit/rate-limit` entry point: the plugin and what its users need.
export * from '../lib/public/common.js'
export { TokenBucket, type TokenBucketOptions } from '../lib/rate-limit/token-bucket.js'
export type { CapacityPolicy, FailPolicy, RatePolicy, WindowPolicy } from '../lib/rate-limit/policy.js'
export type { Decision, DecisionSource } from '../lib/rate-limit/token-bucket-script.js'
export { RateLimitStoreError, type LimitState } from '../lib/rate-limit/limiter-store.js'
export { foldIp, ipIdentity, userIdentity, type IdentifiedRequest } from '../lib/rate-limit/identity.js'
export { userIdOf } from '../lib/request-user.js'

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
  maxBatch: Type.Optional(Type.Integer({ default: 64, minimum: 1, maximum: 1000, description: 'most buckets decided in one EVALSHA (calls made in one event-loop turn share one; 1: off)' })),
  draftHeaders: Type.Optional(Type.Boolean({ default: false, description: 'also send the IETF draft RateLimit-Policy and RateLimit headers' })),
  problemDetails: Type.Optional(Type.Boolean({ default: false, description: 'answer 429 with an RFC 9457 application/problem+json body' })),
  problemType: Type.Optional(Type.String({ default: 'about:blank', minLength: 1 })),
  routes: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Z]+ /' }), Type.Union([Type.Literal(false), RoutePolicySchema]), {
    description: 'policies by "METHOD /route/:template", for routes that set no config.rateLimit; false exempts a route'
  })),
  warnIntervalMs: WarnIntervalOptionSchema
}, { additionalProperties: false })

export type TokenBucketPluginOptions = Static<typeof RateLimitPluginOptionsSchema> & {
  /** Your own identity for a request (default: `identity`). */
  keyGenerator?: (request: FastifyRequest) => string | number | Promise<string | number>
  /** Anything else @fastify/rate-limit accepts (allowList, hook, errorResponseBuilder, onExceeded, addHeaders…). */
  rateLimitOptions?: Omit<RateLimitPluginOptions, 'store' | 'redis' | 'max' | 'timeWindow' | 'global' | 'keyGenerator' | 'skipOnError'>
}

type Resolved = Required<Omit<Static<typeof RateLimitPluginOptionsSchema>, 'routes' | 'warnIntervalMs'>> & Pick<Static<typeof RateLimitPluginOptionsSchema>, 'routes' | 'warnIntervalMs'>

/** Gives each new route its policy: its own config.rateLimit, else the map's, else the default one. */
function assignPolicies (opts: Resolved): (route: RouteOptions) => void {
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

/** @fastify/rate-limit options that leave a refusal as it is (so the fast path may answer it). */
const NEUTRAL_OPTIONS = new Set(['continueExceeding', 'exponentialBackoff', 'ipv6Subnet', 'nameSpace', 'cache'])
/** The route policy keys a fast path understands (anything else, e.g. a keyGenerator of its own, may change the refusal). */
const POLICY_KEYS = new Set(Object.keys(RoutePolicySchema.properties))

function neutral (options: Record<string, unknown>): boolean {
  return Object.keys(options).every((name) => NEUTRAL_OPTIONS.has(name) || (name === 'hook' && options.hook === 'onRequest'))
}

/** The 429 as Fastify's default error handler serialises `refusalError`: the same bytes, without the throw. */
function refuse (reply: FastifyReply, state: LimitState): void {
  const seconds = Math.ceil(state.decision.retryAfterMs / 1000)
  reply.code(429)
    .header('x-ratelimit-limit', state.decision.limit)
    .header('x-ratelimit-remaining', 0)
    .header('x-ratelimit-reset', seconds)
    .header('retry-after', seconds)
    .type('application/json; charset=utf-8')
    .send(refusalBody(state.decision.retryAfterMs))
}

/**
 * The fast path of a route: an onRequest hook placed just before
 * @fastify/rate-limit's own. When the deny cache still refuses the request's
 * bucket, it answers the 429 itself (no ticket, store call, thrown error or
 * error handler) and, by not calling `done`, stops the later hooks;
 * otherwise it leaves the key it generated for @fastify/rate-limit.
 */
function fastPath (route: RouteOptions, limiterOf: (route: object) => TokenBucketLimiterStore | undefined,
  generate: (request: FastifyRequest) => unknown): onRequestHookHandler {
  let limiter: TokenBucketLimiterStore | undefined
  return function rateLimitFastPath (request, reply, done) {
    limiter ??= limiterOf(route) as TokenBucketLimiterStore
    const key = generate(request)
    request.rateLimitKey = key
    const state = typeof key === 'string' || typeof key === 'number' ? limiter.standingRefusal(key) : undefined
    if (state === undefined) { done(); return }
    request.rateLimitDecision = state
    refuse(reply, state)
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
  const context = fastify.cache.context.withWarnInterval(opts.warnIntervalMs)
  const bucket = new TokenBucket(context, {
    onStoreError: opts.onStoreError,
    denyCacheSize: opts.denyCacheSize,
    localBucketSize: opts.localBucketSize,
    maxBatch: opts.maxBatch
  })
  await context.store.loadScripts([tokenBucketScript])
  fastify.decorate('tokenBucket', bucket)
  fastify.decorateRequest('rateLimitDecision', null)

  const generate = keyGenerator ?? (opts.identity === 'user' ? userIdentity : ipIdentity)
  const Store = tokenBucketStore(bucket, {
    cost: opts.cost,
    onStoreError: opts.onStoreError,
    hashIdentities: opts.hashIdentities,
    record: (request, state) => { (request as FastifyRequest).rateLimitDecision = state }
  })
  // the fast path answers refusals as the defaults make them: off when options, or the error handler, would make them otherwise
  const fastPathOn = opts.denyCacheSize > 0 && neutral(rateLimitOptions ?? {})
  fastify.decorateRequest('rateLimitKey', undefined)

  const assign = assignPolicies(opts)
  fastify.addHook('onRoute', function (route) {
    assign(route)
    const policy = (route.config as { rateLimit?: unknown } | undefined)?.rateLimit
    if (!fastPathOn || typeof policy !== 'object' || policy === null || !Object.keys(policy).every((name) => POLICY_KEYS.has(name))) return
    if (route.errorHandler !== undefined || this.errorHandler.name !== 'defaultErrorHandler') return
    // @fastify/rate-limit's onRoute hook runs next and appends its hook right after this one
    route.onRequest = [route.onRequest ?? []].flat().concat(fastPath(route, Store.limiterOf, generate))
  })
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
