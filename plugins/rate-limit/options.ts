import type { RateLimitPluginOptions } from '@fastify/rate-limit'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { WarnIntervalOptionSchema } from '../../lib/options.js'
import { FAIL_POLICIES, type FailPolicy } from '../../lib/rate-limit/policy.js'

/** The rate-limit plugin's options and route policies, as TypeBox schemas and the types users write. */

/** Our extras in `config.rateLimit` (and in `rateLimit()` / `createRateLimit()` options). */
export interface TokenBucketRouteOptions {
  /** Tokens each request takes (default: the plugin's `cost`, 1). */
  cost?: number
  /** Fail policy of this limiter (default: the plugin's). */
  onStoreError?: FailPolicy
  /** Name of the bucket, instead of the route template (limiters sharing a name share buckets). */
  bucket?: string
}

export const FailPolicySchema = Type.Union(FAIL_POLICIES.map((policy) => Type.Literal(policy)))
const TimeWindowSchema = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], { description: 'ms, or a string such as "1 minute"' })

export const RoutePolicySchema = Type.Object({
  max: Type.Integer({ minimum: 1, description: 'bucket capacity: requests allowed in a burst' }),
  timeWindow: TimeWindowSchema,
  cost: Type.Optional(Type.Integer({ minimum: 0 })),
  onStoreError: Type.Optional(FailPolicySchema),
  groupId: Type.Optional(Type.String({ minLength: 1 })),
  bucket: Type.Optional(Type.String({ minLength: 1 }))
}, { additionalProperties: false })

export type RoutePolicy = Static<typeof RoutePolicySchema>

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

/** The options once checked: every default filled in. */
export type ResolvedOptions = Required<Omit<Static<typeof RateLimitPluginOptionsSchema>, 'routes' | 'warnIntervalMs'>> &
  Pick<Static<typeof RateLimitPluginOptionsSchema>, 'routes' | 'warnIntervalMs'>
