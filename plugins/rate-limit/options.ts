import type { RateLimitPluginOptions } from '@fastify/rate-limit'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { checkOptions, WarnIntervalOptionSchema } from '../../lib/options.js'
import { FAIL_POLICIES, type FailPolicy } from '../../lib/rate-limit/policy.js'

/** The rate-limit plugin's options and route policies, as TypeBox schemas and the types users write. */

/** Our extras in `config.rateLimit` (and in `rateLimit()` / `createRateLimit()` options). */
export interface TokenBucketRouteOptions {
  /** Tokens each request takes (default: the plugin's `cost`, 1). */
  cost?: number
  /** Fail policy of this limiter (default: the plugin's; `skipOnError` true/false says open/closed). */
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

/** Default capacity and window: @fastify/rate-limit's. */
export const DEFAULT_MAX = 1000
export const DEFAULT_TIME_WINDOW = 60_000

/** Our own options (checked here; @fastify/rate-limit's are in PEER_OPTIONS). */
export const RateLimitPluginOptionsSchema = Type.Object({
  global: Type.Optional(Type.Boolean({ default: true, description: 'limit every route without a policy of its own by the default policy' })),
  cost: Type.Optional(Type.Integer({ default: 1, minimum: 0, description: 'tokens a request takes' })),
  onStoreError: Type.Optional(FailPolicySchema),
  identity: Type.Optional(Type.Union([Type.Literal('ip'), Type.Literal('user')], { default: 'ip', description: 'default key: client IP, or the verified user falling back to IP' })),
  hashIdentities: Type.Optional(Type.Boolean({ default: true, description: 'identities enter Redis keys as keyed hashes (CACHE_KEY_HASH_SECRET)' })),
  denyCacheSize: Type.Optional(Type.Integer({ default: 10_000, minimum: 0, description: 'refusals remembered in-process (0: off)' })),
  localBucketSize: Type.Optional(Type.Integer({ default: 10_000, minimum: 1, description: 'buckets the local fail policy keeps' })),
  clock: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('redis'), Type.Literal('process')], { default: 'auto', description: 'whose time refills the buckets on Redis: auto (its TIME, or the faked Date while a test suite fakes timers), redis (always its TIME), or process (always this process\'s Date.now(); several instances must keep their clocks in sync)' })),
  maxBatch: Type.Optional(Type.Integer({ default: 64, minimum: 1, maximum: 1000, description: 'most buckets decided in one EVALSHA (calls made in one event-loop turn share one; 1: off)' })),
  draftHeaders: Type.Optional(Type.Boolean({ default: false, description: 'also send the IETF draft RateLimit-Policy and RateLimit headers' })),
  problemDetails: Type.Optional(Type.Boolean({ default: false, description: 'answer 429 with an RFC 9457 application/problem+json body' })),
  problemType: Type.Optional(Type.String({ default: 'about:blank', minLength: 1 })),
  routes: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Z]+ /' }), Type.Union([Type.Literal(false), RoutePolicySchema]), {
    description: 'policies by "METHOD /route/:template", for routes that set no config.rateLimit; false exempts a route'
  })),
  warnIntervalMs: WarnIntervalOptionSchema
}, { additionalProperties: false })

/**
 * @fastify/rate-limit's options, taken at the top level as it takes them and
 * handed to it unchanged (it applies its own defaults and fallbacks: `NaN` or a
 * negative `max` → 1000, a string `timeWindow` parsed, functions called per request…).
 * `store`, `redis`, `cache` and `nameSpace` choose its storage: a `store` of your
 * own replaces the token bucket; the others are accepted and have no effect (the
 * cache plugin's store is the storage).
 */
export const PEER_OPTIONS = new Set(['max', 'timeWindow', 'hook', 'cache', 'store', 'redis', 'nameSpace', 'allowList', 'keyGenerator',
  'errorResponseBuilder', 'onExceeding', 'onExceeded', 'onBanReach', 'addHeaders', 'addHeadersOnExceeding', 'enableDraftSpec',
  'ban', 'continueExceeding', 'exponentialBackoff', 'ipv6Subnet', 'groupId', 'skipOnError', 'logLevel'])

type PeerOptions = Omit<RateLimitPluginOptions, 'global'>

export type TokenBucketPluginOptions = Static<typeof RateLimitPluginOptionsSchema> & PeerOptions & {
  /** Your own identity for a request (default: `identity`). */
  keyGenerator?: (request: FastifyRequest) => string | number | Promise<string | number>
  /** Earlier versions' nesting of @fastify/rate-limit's options: still read, the top level wins. */
  rateLimitOptions?: PeerOptions
}

/** The options once checked: every default filled in. */
export type ResolvedOptions = Required<Omit<Static<typeof RateLimitPluginOptionsSchema>, 'routes' | 'warnIntervalMs' | 'onStoreError'>> &
  Pick<Static<typeof RateLimitPluginOptionsSchema>, 'routes' | 'warnIntervalMs'> & { onStoreError: FailPolicy }

const PLUGIN = 'cachekit-rate-limit'

/** The one default fail policy: `onStoreError`, else `skipOnError` (true: open, false: closed), else open. */
export function failPolicyOf (onStoreError: unknown, skipOnError: unknown): FailPolicy | undefined {
  if (onStoreError !== undefined) return onStoreError as FailPolicy
  if (typeof skipOnError === 'boolean') return skipOnError ? 'open' : 'closed'
  return undefined
}

/**
 * Splits the options into ours (checked, defaults filled) and
 * @fastify/rate-limit's (passed on). Unknown names are refused, naming them.
 */
export function splitOptions (options: TokenBucketPluginOptions): { opts: ResolvedOptions, peer: PeerOptions } {
  const { rateLimitOptions, ...top } = options as TokenBucketPluginOptions & Record<string, unknown>
  const all: Record<string, unknown> = { ...rateLimitOptions, ...top }
  const ours: Record<string, unknown> = {}
  const peer: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(all)) {
    if (PEER_OPTIONS.has(name)) peer[name] = value
    else ours[name] = value
  }
  if (peer.groupId !== undefined && typeof peer.groupId !== 'string') throw new TypeError(`${PLUGIN}: option groupId must be a string`)
  if (peer.keyGenerator !== undefined && typeof peer.keyGenerator !== 'function') throw new TypeError(`${PLUGIN}: option keyGenerator must be a function`)
  const checked = checkOptions(RateLimitPluginOptionsSchema, ours, PLUGIN) as ResolvedOptions
  checked.onStoreError = failPolicyOf(checked.onStoreError, peer.skipOnError) ?? 'open'
  return { opts: checked, peer: peer as PeerOptions }
}
