import type { ComponentContext } from './context.js'
import type { KeyBuilder } from './keys.js'
import type { CacheMetrics } from './metrics.js'
import { DEFAULT_NAMESPACE, RESERVED_NAMESPACES } from './namespaces.js'
import { fail, type Failure, type Result } from './result.js'
import { entriesOf, type Entries } from './store/entries.js'
import type { SetOptions, Store, StoreKind } from './store/store.js'
import { ttlOptionMs } from './ttl.js'

/**
 * The cache adapter behind `fastify.cache`: the store's operations on keys
 * relative to the prefix (`users:42` → `cachekit:users:42`), counted per
 * namespace (the key's first segment), with cache-aside helpers that fail open:
 * a cache failure is a miss and the caller's own computation answers.
 *
 * Its store, keys, metrics and log come from a ComponentContext (the cache
 * plugin builds one; without Fastify: `new Cache(new ComponentContext({ store }))`).
 */

export interface CacheOptions {
  /** TTL in seconds for `getOrSet`/`wrap` when the call gives none. Default 300. */
  defaultTtl?: number
}

export interface CacheHealth {
  status: 'up' | 'down'
  store: StoreKind
  latencyMs?: number
  reason?: string
}

export class Cache {
  /** What the other cachekit components are built with: the same store, keys, metrics and log. */
  readonly context: ComponentContext
  readonly store: Store
  readonly keys: KeyBuilder
  readonly metrics: CacheMetrics
  readonly defaultTtl: number

  /** Throws a TypeError for a bad `defaultTtl` (a configuration error). */
  constructor (context: ComponentContext, options: CacheOptions = {}) {
    this.context = context
    this.store = context.store
    this.keys = context.keys
    this.metrics = context.metrics
    this.defaultTtl = options.defaultTtl ?? 300
    ttlOptionMs('Cache', 'defaultTtl', this.defaultTtl)
  }

  /** The full key, or null when the key is invalid or in a plugin's namespace. */
  #full (key: string): string | null {
    const full = this.keys.rawKey(key)
    return full === null || RESERVED_NAMESPACES.has(this.namespaceOf(key)) ? null : full
  }

  /** Why `#full` refused a key, as a Failure. */
  #refused (key: string): Failure {
    const checked = this.keys.raw(key)
    return checked.ok
      ? fail('INVALID_ARGUMENT', `namespace "${this.namespaceOf(key)}" belongs to a cachekit plugin; use that plugin's API`)
      : checked
  }

  /** The namespace a relative key is counted under. */
  namespaceOf (key: string): string {
    const end = key.indexOf(':')
    return end <= 0 ? DEFAULT_NAMESPACE : key.slice(0, end)
  }

  /** A failed call on a key of `namespace`: counted, warned (throttled), answered. */
  #failed (namespace: string, failure: Failure): Failure {
    return this.context.failed(namespace, failure, 'cache degraded', { topic: 'cache' })
  }

  /** A lookup's result, counted as a hit, a miss or an error of `namespace`. */
  #counted<T> (namespace: string, result: Result<T | null>): Result<T | null> {
    if (!result.ok) return this.#failed(namespace, result)
    if (result.value === null) this.metrics.miss(namespace)
    else this.metrics.hit(namespace)
    return result
  }

  #write<T> (key: string, result: Result<T>): Result<T> {
    return result.ok ? result : this.#failed(this.namespaceOf(key), result)
  }

  get (key: string): Promise<Result<string | null>> {
    // the hot path: no Result for the key, the namespace found once, one promise chain
    const full = this.keys.rawKey(key)
    const namespace = this.namespaceOf(key)
    if (full === null || RESERVED_NAMESPACES.has(namespace)) return Promise.resolve(this.#refused(key))
    return this.store.get(full).then((result) => this.#counted(namespace, result))
  }

  async getJson<T = unknown> (key: string): Promise<Result<T | null>> {
    const full = this.#full(key)
    return full === null ? this.#refused(key) : this.#counted(this.namespaceOf(key), await this.store.getJson<T>(full))
  }

  async set (key: string, value: string, options?: SetOptions): Promise<Result<true>> {
    const full = this.#full(key)
    return full === null ? this.#refused(key) : this.#write(key, await this.store.set(full, value, options))
  }

  async setJson (key: string, value: unknown, options?: SetOptions): Promise<Result<true>> {
    const full = this.#full(key)
    return full === null ? this.#refused(key) : this.#write(key, await this.store.setJson(full, value, options))
  }

  async delete (key: string): Promise<Result<boolean>> {
    const full = this.#full(key)
    return full === null ? this.#refused(key) : this.#write(key, await this.store.delete(full))
  }

  async exists (key: string): Promise<Result<boolean>> {
    const full = this.#full(key)
    return full === null ? this.#refused(key) : this.#write(key, await this.store.exists(full))
  }

  async expire (key: string, ttl: number): Promise<Result<boolean>> {
    const full = this.#full(key)
    return full === null ? this.#refused(key) : this.#write(key, await this.store.expire(full, ttl))
  }

  async ttl (key: string): Promise<Result<number | null>> {
    const full = this.#full(key)
    return full === null ? this.#refused(key) : this.#write(key, await this.store.ttl(full))
  }

  async increment (key: string, by = 1): Promise<Result<number>> {
    const full = this.#full(key)
    return full === null ? this.#refused(key) : this.#write(key, await this.store.increment(full, by))
  }

  async decrement (key: string, by = 1): Promise<Result<number>> {
    const full = this.#full(key)
    return full === null ? this.#refused(key) : this.#write(key, await this.store.decrement(full, by))
  }

  async getDel (key: string): Promise<Result<string | null>> {
    const full = this.#full(key)
    return full === null ? this.#refused(key) : this.#counted(this.namespaceOf(key), await this.store.getDel(full))
  }

  async getMany (keys: readonly string[]): Promise<Result<Array<string | null>>> {
    if (!Array.isArray(keys)) return fail('INVALID_ARGUMENT', 'keys must be an array')
    const full: string[] = []
    for (const key of keys) {
      const k = this.#full(key)
      if (k === null) return this.#refused(key)
      full.push(k)
    }
    const values = await this.store.getMany(full)
    if (!values.ok) return this.#failed(this.namespaceOf(keys[0] as string), values)
    values.value.forEach((value, i) => {
      const namespace = this.namespaceOf(keys[i] as string)
      if (value === null) this.metrics.miss(namespace)
      else this.metrics.hit(namespace)
    })
    return values
  }

  /** Writes every pair: `{ a: '1' }`, a Map, or an iterable of `[key, value]` pairs. */
  async setMany (entries: Entries, options?: SetOptions): Promise<Result<true>> {
    const pairs = entriesOf(entries)
    if (!pairs.ok) return pairs
    const full: Array<[string, string]> = []
    let first = ''
    for (const [key, value] of pairs.value) {
      const k = this.#full(key)
      if (k === null) return this.#refused(key)
      if (full.length === 0) first = key
      full.push([k, value])
    }
    return this.#write(first, await this.store.setMany(full, options))
  }

  /**
   * Deletes keys matching a glob relative to the prefix (`users:*`), by SCAN.
   * The namespace (first segment) must be literal, so a pattern never reaches
   * into a plugin's keys.
   */
  async deletePattern (glob: string): Promise<Result<number>> {
    if (typeof glob !== 'string') return fail('INVALID_ARGUMENT', `pattern must be a string, got ${typeof glob}`)
    if (/[*?[\\]/.test(glob.slice(0, glob.indexOf(':') >>> 0))) {
      return fail('INVALID_ARGUMENT', `pattern "${glob}" must start with a literal namespace, such as "users:*"`)
    }
    const full = this.#full(glob)
    return full === null ? this.#refused(glob) : this.#write(glob, await this.store.deletePattern(full))
  }

  /** Deletes every cache key under the prefix; the plugins' keys (sessions, …) stay. */
  async clear (): Promise<Result<number>> {
    return await this.store.deletePattern(this.keys.everything, { keep: this.#reserved })
  }

  readonly #reserved = (fullKey: string): boolean => RESERVED_NAMESPACES.has(this.keys.namespaceOf(fullKey))

  async ping (): Promise<Result<number>> {
    return await this.store.ping()
  }

  async health (): Promise<CacheHealth> {
    const h = await this.store.health()
    return h.up
      ? { status: 'up', store: this.store.kind, latencyMs: h.latencyMs as number }
      : { status: 'down', store: this.store.kind, reason: h.reason as string }
  }

  /**
   * Cache-aside: the cached JSON value, or `compute()`'s, cached for next time.
   * Cache failures never reach the caller (they count as misses); only
   * `compute()`'s own rejection does.
   */
  async getOrSet<T> (key: string, compute: () => T | Promise<T>, options: SetOptions = {}): Promise<T> {
    const cached = await this.getJson<T>(key)
    if (cached.ok && cached.value !== null) return cached.value
    if (!cached.ok) this.metrics.degraded(this.namespaceOf(key))
    const value = await compute()
    if (value !== undefined) await this.setJson(key, value, { ttl: options.ttl ?? this.defaultTtl })
    return value
  }

  /** A cached version of `fn`: its arguments pick the key. */
  wrap<A extends unknown[], T> (
    fn: (...args: A) => T | Promise<T>,
    options: { key: (...args: A) => string, ttl?: number }
  ): (...args: A) => Promise<T> {
    return async (...args: A) => await this.getOrSet(options.key(...args), () => fn(...args), { ttl: options.ttl ?? this.defaultTtl })
  }
}
