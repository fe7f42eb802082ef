import type { CacheError } from '../result.js'
import { KEY_NAMESPACES } from '../namespaces.js'
import type { TokenBucket } from './token-bucket.js'
import { checkCost, windowPolicy, type BucketPolicy, type FailPolicy } from './policy.js'
import { MODE, type Decision } from './token-bucket-script.js'

/**
 * The token bucket as a store of @fastify/rate-limit. Its contract: the plugin
 * calls `new Store(globalParams)`, `child(routeParams)` per limited route (and
 * per `rateLimit()`/`createRateLimit()` given options), and per request
 * `incr(key, cb, timeWindow, max)` (or `read` to peek), expecting
 * `cb(err, { current, ttl })`: it refuses when `current > max` and reports
 * `ttl` ms as `x-ratelimit-reset` and `Retry-After` (seconds, rounded up).
 *
 * So a grant answers `current = max − remaining`, `ttl` = ms until full, and a
 * refusal `current = max + n` (n: refusals in a row, counted with a ban or a
 * penalty, else 1), `ttl` = ms until the tokens are back.
 *
 * `incr` is not given the request, yet the decision belongs to it (headers,
 * the fail-open mark, problem details). The plugin calls a function-valued
 * `timeWindow(req, key)` just before `incr`. So each params object's
 * `timeWindow` becomes a function that files the request under its key and
 * answers the real window; `incr` takes the first request filed under its key
 * (see Tickets). A store called directly still works, with no request to report to.
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
  /** @fastify/rate-limit's word for open (true) or closed (false). */
  skipOnError?: boolean
  /** A refusal empties the bucket again (the refill restarts from it). */
  continueExceeding?: boolean
  /** The nth refusal in a row waits a whole window × 2^(n−1). */
  exponentialBackoff?: boolean
  /** Refusals in a row tolerated before a 403 (−1 or unset: no ban). */
  ban?: number
}

/** Milliseconds rounded up to whole seconds (never early). */
function wholeSeconds (ms: number): number {
  return Math.ceil(ms / 1000) * 1000
}

/** The script's mode for a limiter's refusals (0: a plain token bucket). */
function penaltyOf (params: LimiterParams): number {
  const ban = typeof params.ban === 'number' && Number.isFinite(params.ban) && params.ban >= 0 ? Math.trunc(params.ban) : -1
  return (params.continueExceeding === true ? MODE.continueExceeding : 0) +
    (params.exponentialBackoff === true ? MODE.exponentialBackoff : 0) +
    (ban >= 0 ? MODE.countRefusals + MODE.banUnit * (ban + 1) : 0)
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

/** A fail policy a route said with @fastify/rate-limit's words: `skipOnError: true` is open, an explicit `false` closed. */
function routeFailPolicy (params: LimiterParams): FailPolicy | undefined {
  if (params.skipOnError === true) return 'open'
  const own = (params.routeInfo as { config?: { rateLimit?: { skipOnError?: unknown } } } | undefined)?.config?.rateLimit
  return own?.skipOnError === false ? 'closed' : undefined
}

const REAL_WINDOW = Symbol('cachekit.realTimeWindow')
type TicketWindow = ((req: unknown, key: string) => number | Promise<number>) & { [REAL_WINDOW]: Window }

/**
 * A limiter's requests on their way to `incr`. @fastify/rate-limit calls
 * `timeWindow(req, key)` and then, after a fixed number of microtask turns
 * and nothing else, `incr(key, …)` with the window it got: so requests reach
 * `incr` in the order they asked for their window, and the first ticket of
 * the key is nearly always the oldest one. A queue (two arrays, a head)
 * rather than a map of queues by key: no map entry or array made and dropped
 * per request, and it empties every turn.
 */
class Tickets {
  #keys: string[] = []
  #requests: unknown[] = []
  #head = 0

  /** Replaces `params.timeWindow` with one that files the request (once; inherited ones are unwrapped); answers the real window. */
  install (params: LimiterParams): Window {
    const current = params.timeWindow
    const real = typeof current === 'function' && REAL_WINDOW in current ? (current as TicketWindow)[REAL_WINDOW] : current
    const issuer = (typeof real === 'function'
      ? async (req: unknown, key: string) => { const windowMs = await real(req, key); this.#file(req, key); return windowMs }
      : (req: unknown, key: string) => { this.#file(req, key); return real }) as TicketWindow
    issuer[REAL_WINDOW] = real
    params.timeWindow = issuer
    return real
  }

  #file (request: unknown, key: string | number): void {
    // a ticket nobody redeems (the window asked for by someone else) must not pile up
    if (this.#keys.length - this.#head >= MAX_TICKETS) this.#take(this.#head)
    this.#keys.push(String(key))
    this.#requests.push(request)
  }

  /** The request that asked for its window under `key` first, if any (a store called directly has none). */
  redeem (key: string | number): unknown {
    const id = String(key)
    const keys = this.#keys
    for (let i = this.#head; i < keys.length; i++) {
      if (keys[i] === id) return this.#take(i)
    }
    return undefined
  }

  #take (i: number): unknown {
    const request = this.#requests[i]
    if (i === this.#head) {
      this.#requests[i] = undefined
      if (++this.#head === this.#keys.length) { this.#keys.length = 0; this.#requests.length = 0; this.#head = 0 }
    } else {
      this.#keys.splice(i, 1)
      this.#requests.splice(i, 1)
    }
    return request
  }
}

/** Tickets a limiter holds at most (requests between their window and their take). */
const MAX_TICKETS = 10_000

interface Shared {
  bucket: TokenBucket
  defaults: StoreDefaults
  /** Names limiters that have neither route nor group nor bucket name. */
  anonymous: number
  /** Each route's limiter, by the route options @fastify/rate-limit made it for. */
  routes: WeakMap<object, TokenBucketLimiterStore>
}

function scopeOf (params: LimiterParams, shared: Shared): string {
  if (params.bucket !== undefined) return params.bucket
  if (params.groupId !== undefined) return `group ${params.groupId}`
  const route = params.routeInfo
  if (route?.url !== undefined) {
    // HEAD is GET without the body: it takes from GET's bucket
    const methods = [route.method].flat().map((method) => method === 'HEAD' ? 'GET' : method)
    return `${[...new Set(methods)].join(',')} ${route.url}`
  }
  return `limiter-${++shared.anonymous}`
}

export class TokenBucketLimiterStore {
  readonly scope: string
  readonly cost: number
  readonly onStoreError: FailPolicy | undefined
  /** The script's mode for refusals: continueExceeding, exponentialBackoff, ban. */
  readonly penalty: number
  readonly #shared: Shared
  readonly #tickets = new Tickets()
  readonly #groupId: string | undefined
  /** `<prefix>:ratelimit:<scope>`, built once: a request only appends its identity. */
  readonly #scopeKey: string
  #policy: BucketPolicy | undefined
  /** The policy and window of a static limit (numbers, not functions). */
  readonly #static: { policy: BucketPolicy, windowMs: number } | undefined
  /**
   * The identity the fast path last found no standing refusal for, and its
   * bucket key: the take that follows it (a few microtasks later) reuses the
   * key and skips the deny cache it has just looked in. Another request in
   * between only makes it miss; a refusal remembered in between only means
   * the store decides, which is always right.
   */
  #lookedUpIdentity: string | undefined
  #lookedUpKey = ''

  constructor (params: LimiterParams, shared: Shared, scope: string) {
    this.#shared = shared
    this.scope = scope
    // @fastify/rate-limit appends a groupId only when it is not empty
    this.#groupId = params.groupId === '' ? undefined : params.groupId
    this.cost = params.cost ?? shared.defaults.cost
    this.onStoreError = params.onStoreError ?? routeFailPolicy(params) ?? shared.defaults.onStoreError
    this.penalty = penaltyOf(params)
    // a bad bucket name is found here, at registration, like a bad static policy
    const scopeKey = shared.bucket.keys.key(KEY_NAMESPACES.rateLimit, scope)
    if (!scopeKey.ok) throw new TypeError(`rate limit bucket ${JSON.stringify(scope)}: ${scopeKey.error.message}`)
    this.#scopeKey = scopeKey.value
    const windowMs = this.#tickets.install(params)
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
    if (limit === undefined || this.penalty !== 0) return undefined
    const id = String(identity)
    const key = this.#bucketKey(id)
    const decision = this.#shared.bucket.remembered(key, limit.policy, this.cost)
    if (decision !== undefined) return { decision, scope: this.scope, windowMs: limit.windowMs }
    this.#lookedUpIdentity = id
    this.#lookedUpKey = key
    return undefined
  }

  /**
   * The store key of the bucket of `identity` in this limiter's scope: its
   * keyed hash (`hashIdentities`, the default), else the identity escaped, or
   * hashed all the same when it cannot be a key part (too long, control
   * characters): an identity comes from the client, and no client input may fail a request.
   */
  #bucketKey (identity: string): string {
    if (!this.#shared.defaults.hashIdentities) {
      const plain = this.#shared.bucket.keys.extend(this.#scopeKey, identity)
      if (plain.ok) return plain.value
    }
    return this.#scopeKey + ':' + this.#shared.bucket.keys.hash(identity)
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
    const { bucket, defaults } = this.#shared
    const request = this.#tickets.redeem(key)
    const windowMs = timeWindow
    // a max of 0 (or less) refuses every request, as in @fastify/rate-limit
    if (!(max >= 1)) { cb(null, { current: 1, ttl: windowMs }); return }
    const policy = this.#policyFor(max, windowMs)
    if (policy instanceof Error) { cb(new RateLimitStoreError(policy)); return }
    let identity = String(key)
    // @fastify/rate-limit appends the groupId to the key; the scope already names the group
    if (this.#groupId !== undefined && identity.endsWith(this.#groupId)) identity = identity.slice(0, -this.#groupId.length)
    const lookedUp = identity === this.#lookedUpIdentity
    this.#lookedUpIdentity = undefined
    const bucketKey = lookedUp ? this.#lookedUpKey : this.#bucketKey(identity)
    bucket.decide(bucketKey, policy, this.cost, dryRun, this.penalty, lookedUp).then((result) => {
      if (!result.ok) { cb(new RateLimitStoreError(result.error)); return }
      const decision = result.value
      if (request !== undefined) defaults.record(request, { decision, scope: this.scope, windowMs })
      // ttl in whole seconds, rounded up as the headers round it: what a body says agrees with what they say.
      // Decided fail-open (remaining unknown), the bucket is reported full, as @fastify/rate-limit reports a
      // skipped error: every request is let through meanwhile, so max is the least a client can count on
      cb(null, decision.allowed
        ? { current: max - (decision.remaining ?? max), ttl: decision.remaining === null ? 0 : wholeSeconds(decision.resetMs) }
        // refusals in a row above max: @fastify/rate-limit bans when they exceed `ban`
        : { current: max + Math.max(1, decision.refusals), ttl: wholeSeconds(decision.retryAfterMs) })
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
  const shared: Shared = { bucket, defaults, anonymous: 0, routes: new WeakMap() }
  return class CachekitRateLimitStore extends TokenBucketLimiterStore {
    static limiterOf (route: object): TokenBucketLimiterStore | undefined {
      return shared.routes.get(route)
    }

    constructor (globalParams: LimiterParams) {
      super(globalParams, shared, 'global')
    }
  }
}
