import { personal } from '../keys.js'
import type { CacheError, Result } from '../result.js'
import { KEY_NAMESPACES } from '../namespaces.js'
import type { TokenBucket } from './token-bucket.js'
import { checkCost, windowPolicy, type BucketPolicy, type FailPolicy } from './policy.js'
import type { Decision } from './token-bucket-script.js'

/**
 * The token bucket as a store of @fastify/rate-limit. Its contract: the plugin
 * calls `new Store(globalParams)`, `child(routeParams)` per limited route (and
 * per `rateLimit()`/`createRateLimit()` given options), and per request
 * `incr(key, cb, timeWindow, max)` (or `read` to peek), expecting
 * `cb(err, { current, ttl })`: it refuses when `current > max` and reports
 * `ttl` ms as `x-ratelimit-reset` and `Retry-After` (seconds, rounded up).
 *
 * So a grant answers `current = max − remaining`, `ttl` = ms until full, and a
 * refusal `current = max + 1`, `ttl` = ms until the tokens are back.
 *
 * `incr` is not given the request, yet the decision belongs to it (headers,
 * the fail-open mark, problem details). The one value the plugin computes per
 * request and hands to the store unchanged is `timeWindow` (it calls a
 * function-valued `timeWindow(req, key)` just before `incr`). So each params
 * object's `timeWindow` becomes a function that files the request under a
 * negative ticket number and returns the ticket; `incr` redeems it for the
 * request and the real window. Real windows are never negative, so a store
 * called with a plain window still works (without a request to report to).
 */

/** What the decision of a request leaves on it, for headers and bodies. */
export interface LimitState {
  decision: Decision
  /** The bucket's name: the route template, group or limiter. */
  scope: string
  /** Milliseconds to refill from empty. */
  windowMs: number
}

type Window = number | ((req: unknown, key: string) => number | Promise<number>)

/** The options of @fastify/rate-limit this store reads (and rewrites: `timeWindow`). */
export interface LimiterParams {
  max: number | ((req: unknown, key: string) => number | Promise<number>)
  timeWindow: Window
  routeInfo?: { method?: string | string[], url?: string }
  groupId?: string
  /** Ours: tokens each request takes (default 1). */
  cost?: number
  /** Ours: fail policy of this limiter. */
  onStoreError?: FailPolicy
  /** Ours: the bucket's name, instead of the route template. */
  bucket?: string
}

export type LimiterCallback = (err: Error | null, result?: { current: number, ttl: number }) => void

export interface StoreDefaults {
  cost: number
  onStoreError?: FailPolicy
  /** Identities enter keys as keyed hashes. */
  hashIdentities: boolean
  /** Where a request's decision is left (e.g. a request decorator). */
  record: (request: unknown, state: LimitState) => void
}

/**
 * A store failure as the HTTP error @fastify/rate-limit throws: 503 for an
 * outage under `closed`, 500 for a policy the store refused. The message is
 * what the response says, so an outage gets a fixed one: the store's own
 * (ioredis' text) stays in `cause`, for the log.
 */
export class RateLimitStoreError extends Error {
  readonly statusCode: number
  readonly code: string

  constructor (error: CacheError) {
    const outage = error.code !== 'INVALID_ARGUMENT'
    super(outage ? 'Rate limiter unavailable; try again later.' : `Rate limit misconfigured: ${error.message}`, { cause: error })
    this.statusCode = outage ? 503 : 500
    this.code = outage ? 'RATE_LIMIT_UNAVAILABLE' : 'RATE_LIMIT_INVALID'
  }
}

const REAL_WINDOW = Symbol('cachekit.realTimeWindow')
type TicketWindow = ((req: unknown, key: string) => number | Promise<number>) & { [REAL_WINDOW]: Window }

class Tickets {
  #last = 0
  readonly #pending = new Map<number, { request: unknown, windowMs: number }>()

  /** Replaces `params.timeWindow` with a ticket issuer (once; inherited issuers are unwrapped). */
  install (params: LimiterParams): Window {
    const current = params.timeWindow
    const real = typeof current === 'function' && REAL_WINDOW in current ? (current as TicketWindow)[REAL_WINDOW] : current
    const issuer = (typeof real === 'function'
      ? async (req: unknown, key: string) => this.#issue(req, await real(req, key))
      : (req: unknown) => this.#issue(req, real)) as TicketWindow
    issuer[REAL_WINDOW] = real
    params.timeWindow = issuer
    return real
  }

  #issue (request: unknown, windowMs: number): number {
    const ticket = --this.#last
    this.#pending.set(ticket, { request, windowMs })
    return ticket
  }

  redeem (timeWindow: number): { request: unknown, windowMs: number } {
    const pending = this.#pending.get(timeWindow)
    if (pending === undefined) return { request: undefined, windowMs: timeWindow }
    this.#pending.delete(timeWindow)
    return pending
  }
}

interface Shared {
  bucket: TokenBucket
  defaults: StoreDefaults
  tickets: Tickets
  /** Names limiters that have neither route nor group nor bucket name. */
  anonymous: number
  /** Each route's limiter, by the route options @fastify/rate-limit made it for. */
  routes: WeakMap<object, TokenBucketLimiterStore>
}

function scopeOf (params: LimiterParams, shared: Shared): string {
  if (params.bucket !== undefined) return params.bucket
  if (params.groupId !== undefined) return `group ${params.groupId}`
  const route = params.routeInfo
  if (route?.url !== undefined) return `${[route.method].flat().join(',')} ${route.url}`
  return `limiter-${++shared.anonymous}`
}

export class TokenBucketLimiterStore {
  readonly scope: string
  readonly cost: number
  readonly onStoreError: FailPolicy | undefined
  readonly #shared: Shared
  readonly #groupId: string | undefined
  /** `<prefix>:ratelimit:<scope>`, built once: a request only appends its identity. */
  readonly #scopeKey: string
  #policy: BucketPolicy | undefined
  /** The policy and window of a static limit (numbers, not functions). */
  readonly #static: { policy: BucketPolicy, windowMs: number } | undefined

  constructor (params: LimiterParams, shared: Shared, scope: string) {
    this.#shared = shared
    this.scope = scope
    // @fastify/rate-limit appends a groupId only when it is not empty
    this.#groupId = params.groupId === '' ? undefined : params.groupId
    this.cost = params.cost ?? shared.defaults.cost
    this.onStoreError = params.onStoreError ?? shared.defaults.onStoreError
    // a bad bucket name is found here, at registration, like a bad static policy
    const scopeKey = shared.bucket.keys.key(KEY_NAMESPACES.rateLimit, scope)
    if (!scopeKey.ok) throw new TypeError(`rate limit bucket ${JSON.stringify(scope)}: ${scopeKey.error.message}`)
    this.#scopeKey = scopeKey.value
    const windowMs = shared.tickets.install(params)
    // a static policy is checked here, at registration: a bad one never serves
    if (typeof params.max === 'number' && typeof windowMs === 'number') {
      const policy = this.#policyFor(params.max, windowMs)
      if (policy instanceof Error) throw new TypeError(`rate limit of ${scope}: ${policy.message}`)
      this.#static = { policy, windowMs }
    }
  }

  incr (key: string | number, cb: LimiterCallback, timeWindow: number, max: number): void {
    this.#decide(key, cb, timeWindow, max, false)
  }

  /** Peeks: `{ increment: false }` in createRateLimit. */
  read (key: string | number, cb: LimiterCallback, timeWindow: number, max: number): void {
    this.#decide(key, cb, timeWindow, max, true)
  }

  child (params: LimiterParams): TokenBucketLimiterStore {
    const limiter = new TokenBucketLimiterStore(params, this.#shared, scopeOf(params, this.#shared))
    if (params.routeInfo !== undefined) this.#shared.routes.set(params.routeInfo, limiter)
    return limiter
  }

  /**
   * The fast path: the refusal the deny cache still holds for a request whose
   * keyGenerator gave `identity`, decided before @fastify/rate-limit runs and
   * exactly as `incr` would decide it (same key, policy and cost). Undefined
   * when there is none or the limit is dynamic: then `incr` decides.
   */
  standingRefusal (identity: string | number): LimitState | undefined {
    const limit = this.#static
    if (limit === undefined) return undefined
    const key = this.#bucketKey(String(identity))
    const decision = key.ok ? this.#shared.bucket.remembered(key.value, limit.policy, this.cost) : undefined
    return decision === undefined ? undefined : { decision, scope: this.scope, windowMs: limit.windowMs }
  }

  /** The store key of the bucket of `identity` in this limiter's scope. */
  #bucketKey (identity: string): Result<string> {
    return this.#shared.bucket.keys.extend(this.#scopeKey, this.#shared.defaults.hashIdentities ? personal(identity) : identity)
  }

  /** The policy for `max` per `windowMs`, reusing the last one (a static limit computes it once). */
  #policyFor (max: number, windowMs: number): BucketPolicy | CacheError {
    const last = this.#policy
    if (last !== undefined && last.capacity === max && last.windowMs === windowMs) return last
    const policy = windowPolicy(max, windowMs, this.onStoreError)
    if (!policy.ok) return policy.error
    const cost = checkCost(this.cost, policy.value)
    if (!cost.ok) return cost.error
    // remember it under the window asked for, so the next identical call matches
    this.#policy = { ...policy.value, windowMs }
    return this.#policy
  }

  #decide (key: string | number, cb: LimiterCallback, timeWindow: number, max: number, dryRun: boolean): void {
    const { bucket, defaults, tickets } = this.#shared
    const { request, windowMs } = tickets.redeem(timeWindow)
    const policy = this.#policyFor(max, windowMs)
    if (policy instanceof Error) { cb(new RateLimitStoreError(policy)); return }
    let identity = String(key)
    // @fastify/rate-limit appends the groupId to the key; the scope already names the group
    if (this.#groupId !== undefined && identity.endsWith(this.#groupId)) identity = identity.slice(0, -this.#groupId.length)
    const fullKey = this.#bucketKey(identity)
    if (!fullKey.ok) { cb(new RateLimitStoreError(fullKey.error)); return }
    bucket.decide(fullKey.value, policy, this.cost, dryRun).then((result) => {
      if (!result.ok) { cb(new RateLimitStoreError(result.error)); return }
      const decision = result.value
      if (request !== undefined) defaults.record(request, { decision, scope: this.scope, windowMs })
      cb(null, decision.allowed
        ? { current: max - (decision.remaining ?? 0), ttl: decision.resetMs }
        : { current: max + 1, ttl: decision.retryAfterMs })
    })
  }
}

export interface TokenBucketStoreClass {
  new (globalParams: LimiterParams): TokenBucketLimiterStore
  /** The limiter @fastify/rate-limit made for `route` (its route options), once it has. */
  limiterOf: (route: object) => TokenBucketLimiterStore | undefined
}

/** The store class to hand @fastify/rate-limit, bound to `bucket`. */
export function tokenBucketStore (bucket: TokenBucket, defaults: StoreDefaults): TokenBucketStoreClass {
  const shared: Shared = { bucket, defaults, tickets: new Tickets(), anonymous: 0, routes: new WeakMap() }
  return class CachekitRateLimitStore extends TokenBucketLimiterStore {
    static limiterOf (route: object): TokenBucketLimiterStore | undefined {
      return shared.routes.get(route)
    }

    constructor (globalParams: LimiterParams) {
      super(globalParams, shared, 'global')
    }
  }
}
