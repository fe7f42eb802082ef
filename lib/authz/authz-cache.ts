import { randomBytes } from 'node:crypto'
import type { ComponentContext } from '../context.js'
import type { KeyBuilder, KeyPart } from '../keys.js'
import type { CacheMetrics } from '../metrics.js'
import { KEY_NAMESPACES, METRICS_NAMESPACES } from '../namespaces.js'
import { ok, type Failure, type Result, type Success } from '../result.js'
import type { Store } from '../store/store.js'
import { ttlOptionMs } from '../ttl.js'
import { AUTHZ_SCRIPTS, authzRead, authzWrite, type ReadReply } from './scripts.js'

/**
 * Cached permission checks over a pluggable decider.
 *
 * A decision is cached under a key per (subject, resource, action) and tagged
 * with the two generations current when it was asked for: the global one
 * (bumped by `invalidateAll`) and the subject's (bumped by `invalidateSubject`).
 * One script reads both generations and the decision together, so a hit is one
 * round trip and a decision made before an invalidation never matches after it.
 * Invalidating is one SET of a fresh random generation per key, however many
 * decisions are cached: the stale ones simply stop matching and expire.
 *
 * Failure policy: when Redis fails the decider answers (never "allow" by
 * default); when the decider fails the answer is deny, and it is not cached.
 *
 * Its store, keys, metrics and log come from a ComponentContext: the plugin
 * passes `fastify.cache.context`; without Fastify,
 * `new AuthzCache(new ComponentContext({ store }), { decider })`.
 */

/** Answers whether `subject` may do `action` on `resource`. A rejection counts as deny. */
export type Decider = (subject: string, resource: string, action: string) => Promise<boolean>
/** Answers whether `subject` holds `role`. */
export type RoleDecider = (subject: string, role: string) => Promise<boolean>

export const DEFAULT_ALLOW_TTL = 300
export const DEFAULT_DENY_TTL = 60
export const MAX_DECISION_TTL = 3600
export const MAX_SHARDS = 1024

export interface AuthzCacheOptions {
  decider: Decider
  /** For `hasRole`; without one every role check is a deny. */
  roleDecider?: RoleDecider
  /** Seconds an allow is cached (0 < ttl ≤ 3600, default 300). */
  allowTtl?: number
  /** Seconds a deny is cached (0 < ttl ≤ 3600, default 60). */
  denyTtl?: number
  /**
   * How many hash-tag groups the decisions are spread over (default 1). On a
   * Redis Cluster each group is one slot; `invalidateAll` costs one command per
   * group. Every instance sharing a Redis must use the same number.
   */
  shards?: number
  /**
   * Brings the decider's policy up to date with every instance's edits before
   * it decides on a miss (`CasbinPolicy.sync`); false when it could not say,
   * and then the decision is answered but not cached.
   */
  freshPolicy?: () => Promise<boolean>
}

interface DecisionKeys { global: string, subject: string, decision: string }

/** A generation nobody else will draw: a stale decision can never match it by chance. */
function freshGeneration (): string {
  return randomBytes(8).toString('hex')
}

export class AuthzCache {
  readonly allowTtl: number
  readonly denyTtl: number
  readonly shards: number
  readonly metrics: CacheMetrics
  readonly context: ComponentContext
  readonly #store: Store
  readonly #keys: KeyBuilder
  readonly #decider: Decider
  readonly #roleDecider: RoleDecider
  readonly #freshPolicy: (() => Promise<boolean>) | undefined
  readonly #allowMs: number
  readonly #denyMs: number
  /** Generations outlive every decision: a decision is only valid while its generations exist. */
  readonly #genTtlMs: number
  readonly #tags: string[]
  readonly #globalKeys: string[]
  /** Invalidations that failed, and how many of them a later `invalidateAll` covered. */
  #failedInvalidations = 0
  #coveredInvalidations = 0

  /** Throws a TypeError for bad options (TTLs, shards): a configuration error. */
  constructor (context: ComponentContext, options: AuthzCacheOptions) {
    this.allowTtl = options.allowTtl ?? DEFAULT_ALLOW_TTL
    this.denyTtl = options.denyTtl ?? DEFAULT_DENY_TTL
    this.#allowMs = ttlOptionMs('AuthzCache', 'allowTtl', this.allowTtl, MAX_DECISION_TTL)
    this.#denyMs = ttlOptionMs('AuthzCache', 'denyTtl', this.denyTtl, MAX_DECISION_TTL)
    this.#genTtlMs = 2 * Math.max(this.#allowMs, this.#denyMs)
    this.shards = options.shards ?? 1
    if (!Number.isInteger(this.shards) || this.shards < 1 || this.shards > MAX_SHARDS) {
      throw new TypeError(`AuthzCache: shards must be an integer in [1, ${MAX_SHARDS}], got ${String(this.shards)}`)
    }
    this.context = context
    this.#store = context.store
    this.#keys = context.keys
    this.metrics = context.metrics
    this.#decider = options.decider
    this.#roleDecider = options.roleDecider ?? (async () => false)
    this.#freshPolicy = options.freshPolicy
    this.#tags = Array.from({ length: this.shards }, (_, i) => `authz-${i}`)
    this.#globalKeys = this.#tags.map((tag) => {
      const key = this.#keys.tagged(KEY_NAMESPACES.authz, tag, 'g')
      if (!key.ok) throw new TypeError(`AuthzCache: the key builder rejects the authz keys: ${key.error.message}`)
      return key.value
    })
  }

  /** Loads the scripts ahead of first use (EVALSHA reloads on NOSCRIPT anyway). */
  async loadScripts (): Promise<Result<true>> {
    return await this.#store.loadScripts(AUTHZ_SCRIPTS)
  }

  /** Whether `subject` may do `action` on `resource`. Never throws; anything uncertain is a deny. */
  async check (subject: string, resource: string, action: string): Promise<boolean> {
    return await this.#decide(subject, ['d', resource, action], () => this.#decider(subject, resource, action))
  }

  /** Whether `subject` holds `role`, cached like `check` and invalidated with it. */
  async hasRole (subject: string, role: string): Promise<boolean> {
    return await this.#decide(subject, ['r', role], () => this.#roleDecider(subject, role))
  }

  /** The key a `check` decision is cached under (for inspection and tests). */
  decisionKey (subject: string, resource: string, action: string): Result<string> {
    const keys = this.#keysFor(subject, ['d', resource, action])
    return keys.ok ? ok(keys.value.decision) : keys
  }

  /** Forgets every cached decision about `subject`: one SET, however many there are. */
  async invalidateSubject (subject: string): Promise<Result<true>> {
    const keys = this.#keysFor(subject, [])
    if (!keys.ok) return keys
    const done = await this.#store.set(keys.value.subject, freshGeneration(), { ttl: this.#genTtlMs / 1000 })
    return done.ok ? done : this.#invalidationFailed(done)
  }

  /** Forgets every cached decision (the policy changed): one SET per shard. */
  async invalidateAll (): Promise<Result<true>> {
    const covering = this.#failedInvalidations
    const results = await Promise.all(this.#globalKeys.map(async (key) => await this.#store.set(key, freshGeneration(), { ttl: this.#genTtlMs / 1000 })))
    const failed = results.find((r): r is Failure => !r.ok)
    if (failed !== undefined) return this.#invalidationFailed(failed)
    this.#coveredInvalidations = Math.max(this.#coveredInvalidations, covering)
    return ok(true)
  }

  /**
   * A failed invalidation may leave a decision cached that is now wrong. Until
   * an `invalidateAll` gets through, this instance asks the decider for
   * everything, and it retries that `invalidateAll` before each check.
   */
  #invalidationFailed (failure: Failure): Failure {
    this.#failedInvalidations++
    return this.context.failed(METRICS_NAMESPACES.authz, failure, 'authz invalidation failed', { topic: 'authz:invalidate' })
  }

  async #owesInvalidation (): Promise<boolean> {
    if (this.#failedInvalidations === this.#coveredInvalidations) return false
    return !(await this.invalidateAll()).ok
  }

  #keysFor (subject: string, parts: KeyPart[]): Result<DecisionKeys> {
    // the subject's keyed hash, once: it picks the shard and enters both keys
    const who = this.#keys.hashed(subject, 'subject')
    if (!who.ok) return who
    const shard = this.shards === 1 ? 0 : Buffer.from(who.value, 'base64url').readUInt32BE(0) % this.shards
    const tag = this.#tags[shard] as string
    // shard tag, 's' and a base64url hash: parts the builder never refuses
    const subjectKey = (this.#keys.tagged(KEY_NAMESPACES.authz, tag, 's', who.value) as Success<string>).value
    if (parts.length === 0) return ok({ global: this.#globalKeys[shard] as string, subject: subjectKey, decision: subjectKey })
    const decision = this.#keys.tagged(KEY_NAMESPACES.authz, tag, parts[0] as string, who.value, ...parts.slice(1))
    if (!decision.ok) return decision
    return ok({ global: this.#globalKeys[shard] as string, subject: subjectKey, decision: decision.value })
  }

  async #decide (subject: string, parts: KeyPart[], ask: () => Promise<boolean>): Promise<boolean> {
    const keys = this.#keysFor(subject, parts)
    if (!keys.ok) {
      this.context.warn('authz:argument', { code: keys.error.code }, `authz check denied: ${keys.error.message}`)
      return false
    }
    if (await this.#owesInvalidation()) {
      this.metrics.degraded(METRICS_NAMESPACES.authz)
      return (await this.#ask(ask)) === true
    }
    const { global, subject: subjectKey, decision } = keys.value
    const read = await this.#store.runScript(authzRead, [global, subjectKey, decision], [])
    if (!read.ok) {
      this.context.failed(METRICS_NAMESPACES.authz, read, 'authz cache unavailable, asking the decider', { topic: 'authz:read' })
      this.metrics.degraded(METRICS_NAMESPACES.authz)
      return (await this.#ask(ask)) === true
    }
    if (read.value.hit) {
      this.metrics.hit(METRICS_NAMESPACES.authz)
      return read.value.allowed
    }
    this.metrics.miss(METRICS_NAMESPACES.authz)
    const started = Date.now()
    // the policy must be at least as new as the generations just read: an edit
    // is logged before its invalidation, so catching up with the log now means
    // a decision cached under these generations was made with the current policy
    const fresh = this.#freshPolicy === undefined || await this.#freshPolicy().catch(() => false)
    const allowed = await this.#ask(ask)
    if (allowed === null) return false
    // a decider slower than a generation's lifetime could outlive an invalidation unseen
    if (fresh && Date.now() - started < this.#genTtlMs / 2) await this.#remember(keys.value, read.value, allowed)
    return allowed
  }

  /** The decider's answer, or null when it failed or answered something other than a boolean. */
  async #ask (ask: () => Promise<boolean>): Promise<boolean | null> {
    try {
      const answer: unknown = await ask()
      if (typeof answer === 'boolean') return answer
      this.context.warn('authz:decider', {}, `authz decider answered ${typeof answer}, not a boolean: denied`)
    } catch (err) {
      this.context.warn('authz:decider', { err: String(err) }, 'authz decider failed: denied, not cached')
    }
    return null
  }

  async #remember (keys: DecisionKeys, seen: ReadReply & { hit: false }, allowed: boolean): Promise<void> {
    const written = await this.#store.runScript(authzWrite, [keys.global, keys.subject, keys.decision], [
      seen.global,
      seen.subject,
      allowed ? '1' : '0',
      allowed ? this.#allowMs : this.#denyMs,
      seen.global === '' ? freshGeneration() : '',
      seen.subject === '' ? freshGeneration() : '',
      this.#genTtlMs
    ])
    if (!written.ok) this.context.failed(METRICS_NAMESPACES.authz, written, 'authz decision not cached', { topic: 'authz:write' })
  }
}
