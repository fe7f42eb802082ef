import { dateIsFaked } from '../clock.js'
import type { ComponentContext } from '../context.js'
import type { KeyBuilder, KeyPart } from '../keys.js'
import type { CacheMetrics } from '../metrics.js'
import { degradedRateLimitNamespace, KEY_NAMESPACES, METRICS_NAMESPACES } from '../namespaces.js'
import { ok, type Result } from '../result.js'
import { MemoryData } from '../store/memory-data.js'
import type { Store } from '../store/store.js'
import { DenyCache } from './deny-cache.js'
import { TakeBatch } from './take-batch.js'
import { checkCost, toBucketPolicy, type BucketPolicy, type FailPolicy, type RatePolicy } from './policy.js'
import { MODE, tokenBucketScript, type BucketReply, type Decision } from './token-bucket-script.js'

/**
 * The direct token-bucket API (`fastify.tokenBucket`): take, peek and reset
 * over the shared store, with the fail policy applied when the store fails,
 * the deny cache in front, and an in-process bucket for the `local` policy.
 *
 * Its store, keys, metrics and log come from a ComponentContext: the plugin
 * passes `fastify.cache.context`; without Fastify,
 * `new TokenBucket(new ComponentContext({ store }), { onStoreError: 'local' })`.
 */

export interface TokenBucketOptions {
  /** Fail policy of policies that name none. Default `open`. */
  onStoreError?: FailPolicy
  /** Refusals remembered per instance (0: off). Default 10,000. */
  denyCacheSize?: number
  /**
   * Most buckets decided in one script call: the calls made in one event-loop
   * turn share an EVALSHA (single Redis node only). 1 sends each on its own.
   * Default 64.
   */
  maxBatch?: number
  /** Buckets the in-process stand-in keeps (policy `local`). Default 10,000. */
  localBucketSize?: number
  /**
   * Whose clock times the buckets on Redis: `auto` (the default: Redis TIME,
   * which every instance agrees on, except while this process's `Date` is
   * faked — a test suite faking timers — when the faked time is sent with
   * each call, so its buckets refill as the suite ticks its clock), `redis`
   * (always its TIME) or `process` (always this process's `Date.now()`: on
   * several instances it trusts their clocks to agree). The memory store
   * always keeps this process's time.
   */
  clock?: RateLimitClock
}

export type RateLimitClock = 'auto' | 'redis' | 'process'

const processNowUs = (): number => Math.floor(Date.now()) * 1000
const fakedNowUs = (): number | undefined => dateIsFaked() ? processNowUs() : undefined

export class TokenBucket {
  readonly context: ComponentContext
  readonly store: Store
  readonly keys: KeyBuilder
  readonly metrics: CacheMetrics
  readonly onStoreError: FailPolicy
  readonly clock: RateLimitClock
  readonly denyCache: DenyCache
  /** Degraded decisions (made without the store) since start, by fail policy. */
  readonly degraded: Record<FailPolicy, number> = { open: 0, closed: 0, local: 0 }
  readonly #local: MemoryData
  readonly #batch: TakeBatch

  constructor (context: ComponentContext, options: TokenBucketOptions = {}) {
    this.context = context
    this.store = context.store
    this.keys = context.keys
    this.metrics = context.metrics
    this.onStoreError = options.onStoreError ?? 'open'
    const onRedis = this.store.kind === 'redis'
    this.clock = options.clock ?? 'auto'
    this.denyCache = new DenyCache(options.denyCacheSize ?? 10_000)
    this.#local = new MemoryData(options.localBucketSize ?? 10_000)
    const nowUs = !onRedis || this.clock === 'redis' ? undefined : this.clock === 'process' ? processNowUs : fakedNowUs
    this.#batch = new TakeBatch(this.store, options.maxBatch, nowUs)
  }

  /** Loads the script ahead of first use (EVALSHA reloads on NOSCRIPT anyway). */
  async loadScripts (): Promise<Result<true>> {
    return await this.store.loadScripts([tokenBucketScript])
  }

  /** The store key of a bucket named `name` (one part, or several). */
  keyFor (name: string | readonly KeyPart[]): Result<string> {
    return typeof name === 'string' ? this.keys.key(KEY_NAMESPACES.rateLimit, name) : this.keys.key(KEY_NAMESPACES.rateLimit, ...name)
  }

  /** Takes `cost` tokens from the bucket `name`, or refuses. */
  async take (name: string | readonly KeyPart[], policy: RatePolicy, cost = 1): Promise<Result<Decision>> {
    return await this.#direct(name, policy, cost, false)
  }

  /** Would one token be granted now? Takes nothing and writes nothing. */
  async peek (name: string | readonly KeyPart[], policy: RatePolicy): Promise<Result<Decision>> {
    return await this.#direct(name, policy, 1, true)
  }

  /** Refills the bucket `name` at once; `false` when it was already full. */
  async reset (name: string | readonly KeyPart[]): Promise<Result<boolean>> {
    const key = this.keyFor(name)
    if (!key.ok) return key
    this.denyCache.forget(key.value)
    this.#local.del(key.value)
    return await this.store.delete(key.value)
  }

  async #direct (name: string | readonly KeyPart[], policy: RatePolicy, cost: number, dryRun: boolean): Promise<Result<Decision>> {
    const bucket = toBucketPolicy(policy)
    if (!bucket.ok) return bucket
    const key = this.keyFor(name)
    if (!key.ok) return key
    return await this.takeAt(key.value, bucket.value, cost, dryRun)
  }

  /**
   * The hot path, for callers holding a full key and a checked policy (the
   * @fastify/rate-limit store). `dryRun` looks without taking.
   */
  takeAt (key: string, policy: BucketPolicy, cost: number, dryRun = false): Promise<Result<Decision>> {
    const checked = checkCost(cost, policy)
    if (!checked.ok) return Promise.resolve(checked)
    return this.decide(key, policy, cost, dryRun)
  }

  /**
   * `takeAt` for a cost already checked against the policy (the limiter store
   * checks once per policy). `penalty` is the script's mode for refusals
   * (MODE: continue exceeding, exponential backoff, counting, ban; 0: none).
   * A bucket with a penalty is never answered from the deny cache: each of its
   * refusals must reach the store, which counts it. `lookedUp`: the caller has
   * just found no refusal for `key` in the deny cache (`remembered`).
   */
  decide (key: string, policy: BucketPolicy, cost: number, dryRun: boolean, penalty = 0, lookedUp = false): Promise<Result<Decision>> {
    const remembered = penalty === 0 && !lookedUp ? this.remembered(key, policy, cost) : undefined
    if (remembered !== undefined) return Promise.resolve(ok(remembered))
    const args = [policy.capacity, policy.intervalUs, cost, String(penalty + (dryRun ? MODE.dryRun : 0))]
    return this.#batch.run(key, args).then((reply) => {
      if (reply.ok) {
        const decision = this.#decision(reply.value, policy, 'store')
        if (!decision.allowed && penalty === 0) this.denyCache.remember(key, cost, decision.retryAfterMs, decision.resetMs, decision.remaining as number)
        return ok(decision)
      }
      // bad input is a bug to surface, not an outage to ride out
      if (reply.error.code === 'INVALID_ARGUMENT') return reply
      const failPolicy = policy.onStoreError ?? this.onStoreError
      this.degraded[failPolicy]++
      this.context.failed(METRICS_NAMESPACES.rateLimit, reply, `rate limiter store failed: deciding with fail policy "${failPolicy}"`,
        { topic: degradedRateLimitNamespace(failPolicy), details: { failPolicy } })
      this.metrics.degraded(degradedRateLimitNamespace(failPolicy))
      if (failPolicy === 'closed') return reply
      if (failPolicy === 'open') {
        return ok({ allowed: true, remaining: null, retryAfterMs: 0, resetMs: 0, limit: policy.capacity, source: 'open', refusals: 0 } satisfies Decision)
      }
      // the script's own twin on this instance's memory: the same answers, unshared
      const local = tokenBucketScript.decode(tokenBucketScript.twin(this.#local, [key], args.map(String)))
      return ok(this.#decision(local[0] as BucketReply, policy, 'local'))
    })
  }

  /** The refusal the deny cache still holds for `cost` tokens of `key`, if any: decided with no round trip. */
  remembered (key: string, policy: BucketPolicy, cost: number): Decision | undefined {
    const refusal = cost > 0 ? this.denyCache.refusal(key, cost) : undefined
    if (refusal === undefined) return undefined
    return { allowed: false, remaining: refusal.remaining, retryAfterMs: refusal.retryAfterMs, resetMs: refusal.resetMs, limit: policy.capacity, source: 'deny-cache', refusals: 1 }
  }

  #decision (reply: BucketReply, policy: BucketPolicy, source: Decision['source']): Decision {
    return { allowed: reply.allowed, remaining: reply.remaining, retryAfterMs: reply.retryAfterMs, resetMs: reply.resetMs, limit: policy.capacity, source, refusals: reply.refusals }
  }
}
