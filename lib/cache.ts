import type { TSchema } from '@sinclair/typebox'
import { CacheAside, resolveOptions, type GetOrSetOptions, type Slot } from './cache/aside.js'
import { decodeEntry, encodeEntry, freshValue, NOT_FRESH, type Entry } from './cache/envelope.js'
import { CacheNamespace, type NamespaceOptions, type Reader } from './cache/namespace.js'
import { NearCache } from './cache/near-cache.js'
import { CACHE_SCRIPTS } from './cache/scripts.js'
import { wallClock } from './clock.js'
import type { ComponentContext } from './context.js'
import { NAME_PATTERN, type KeyBuilder } from './keys.js'
import type { CacheMetrics, Series } from './metrics.js'
import { DEFAULT_NAMESPACE, KEY_NAMESPACES, RESERVED_NAMESPACES } from './namespaces.js'
import { fail, ok, type Failure, type Result } from './result.js'
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
  readonly #aside: CacheAside
  /** Names of the typed namespaces made so far: raw keys may not enter them. */
  readonly #typed = new Map<string, CacheNamespace<any>>()
  readonly #nearCaches: NearCache[] = []
  /**
   * Each namespace's getOrSet hit series, or null for a namespace whose raw keys
   * are refused (a plugin's, a typed one): found once per namespace, so a hit
   * costs one lookup. As many entries as namespaces in the metrics; a name's
   * entry is dropped when a typed namespace takes that name.
   */
  readonly #hits = new Map<string, Series | null>()

  /** Throws a TypeError for a bad `defaultTtl` (a configuration error). */
  constructor (context: ComponentContext, options: CacheOptions = {}) {
    this.context = context
    this.store = context.store
    this.keys = context.keys
    this.metrics = context.metrics
    this.defaultTtl = options.defaultTtl ?? 300
    ttlOptionMs('Cache', 'defaultTtl', this.defaultTtl)
    this.#aside = new CacheAside(context)
  }

  /** Loads the cache's scripts (the load lock, generations) ahead of first use. */
  async loadScripts (): Promise<Result<true>> {
    return await this.store.loadScripts(CACHE_SCRIPTS)
  }

  /** The full key, or null when the key is invalid or in a plugin's namespace. */
  #full (key: string): string | null {
    const full = this.keys.rawKey(key)
    if (full === null) return null
    const namespace = this.namespaceOf(key)
    return RESERVED_NAMESPACES.has(namespace) || this.#typed.has(namespace) ? null : full
  }

  /** Why `#full` refused a key, as a Failure. */
  #refused (key: string): Failure {
    const checked = this.keys.raw(key)
    if (!checked.ok) return checked
    const namespace = this.namespaceOf(key)
    return this.#typed.has(namespace)
      ? fail('INVALID_ARGUMENT', `namespace "${namespace}" is a typed namespace; use cache.namespace('${namespace}')`)
      : fail('INVALID_ARGUMENT', `namespace "${namespace}" belongs to a cachekit plugin; use that plugin's API`)
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
    if (full === null || RESERVED_NAMESPACES.has(namespace) || this.#typed.has(namespace)) return Promise.resolve(this.#refused(key))
    return this.store.get(full).then((result) => this.#counted(namespace, result))
  }

  /** The getOrSet hit series of a raw key's namespace, or null when its raw keys are refused. */
  #hitsOf (key: string): Series | null {
    const namespace = this.namespaceOf(key)
    let hits = this.#hits.get(namespace)
    if (hits === undefined) {
      hits = RESERVED_NAMESPACES.has(namespace) || this.#typed.has(namespace) ? null : this.metrics.series(namespace, 'getOrSet', 'hit')
      this.#hits.set(namespace, hits)
    }
    return hits
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
   * Cache-aside: the cached value, or `loader()`'s, cached for next time, with
   * single flight, and optionally a lock across instances, stale-while-revalidate
   * (`grace`), a soft `timeout`, `jitter` and `negativeTtl` (lib/cache/aside.ts).
   * A cache failure is a miss (the loader answers, counted as degraded); the
   * loader's own error is a LOADER failure with the error as its `cause`, never cached.
   */
  getOrSet<T> (key: string, loader: () => T | Promise<T>, options: GetOrSetOptions = {}): Promise<Result<T>> {
    // the hit path, as cheap as `get`'s: the namespace found once (with its hit
    // series), one GET, one promise chain, the envelope read in place and its
    // JSON parsed once, one clock read at each end (the wall clock is derived
    // from the second), the hit recorded into the held series; no option
    // parsing (options are checked when a load needs them)
    const full = this.keys.rawKey(key)
    const hits = full === null ? null : this.#hitsOf(key)
    if (full === null || hits === null) return Promise.resolve(this.#refused(key))
    const started = performance.now()
    return this.store.get(full).then((raw) => {
      if (raw.ok && raw.value !== null) {
        const ended = performance.now()
        const value = freshValue<T>(raw.value, wallClock(ended))
        if (value !== NOT_FRESH) {
          this.metrics.record(hits, ended - started, true)
          return { ok: true, value }
        }
      }
      return this.#load(key, full, raw, loader, options)
    })
  }

  /** getOrSet past its first read (a miss, a stale value, a failed read): the options checked, the engine run. */
  #load<T> (key: string, full: string, raw: Result<string | null>, loader: () => T | Promise<T>, options: GetOrSetOptions): Result<T> | Promise<Result<T>> {
    const resolved = resolveOptions(options, this.defaultTtl)
    if (!resolved.ok) return resolved
    return this.#aside.getOrSet(this.#slot<T>(key, full, raw), loader, resolved.value)
  }

  /** Where getOrSet keeps a raw key: the entry at the key, its lock under `cache-lock`. `first` is a read already made. */
  #slot<T> (key: string, full: string, first?: Result<string | null>): Slot<T> {
    const namespace = this.namespaceOf(key)
    let pending = first
    return {
      namespace,
      id: full,
      lockKey: `${this.keys.prefix}:${KEY_NAMESPACES.cacheLock}:${key}`,
      read: async (): Promise<Result<Entry<T> | null>> => {
        const raw = pending ?? await this.store.get(full)
        pending = undefined
        if (!raw.ok) return this.#failed(namespace, raw)
        if (raw.value === null) return raw as Result<null>
        try {
          return ok(decodeEntry<T>(raw.value))
        } catch (err) {
          return this.#failed(namespace, fail('DECODE', `value at ${full} is not JSON`, err))
        }
      },
      write: async (value, freshMs, graceMs) => {
        const now = Date.now()
        const encoded = encodeEntry({ value, freshUntil: now + freshMs, staleUntil: now + freshMs + graceMs, generation: '', tags: [] })
        if (encoded === undefined) return fail('ENCODE', `value for ${full} has no JSON form`)
        return this.#write(key, await this.store.set(full, encoded, { ttl: (freshMs + graceMs) / 1000 }))
      }
    }
  }

  /** A cached version of `fn`: its arguments pick the key; answers as getOrSet does. */
  wrap<A extends unknown[], T> (
    fn: (...args: A) => T | Promise<T>,
    options: GetOrSetOptions & { key: (...args: A) => string }
  ): (...args: A) => Promise<Result<T>> {
    const { key, ...rest } = options
    return async (...args: A) => await this.getOrSet(key(...args), () => fn(...args), rest)
  }

  /**
   * A typed namespace (lib/cache/namespace.ts): values checked against `schema`
   * on read, `invalidateAll()` and `invalidateTags()` in a constant number of
   * commands, an optional near cache (`l1`). One object per name: asking again
   * answers the same one. Raw keys (`cache.get('<name>:…')`) are refused in it
   * from then on. Throws a TypeError for a bad name or option (a configuration error).
   */
  namespace<T = unknown> (name: string, options: NamespaceOptions<TSchema> = {}): CacheNamespace<T> {
    const existing = this.#typed.get(name)
    if (existing !== undefined) return existing as CacheNamespace<T>
    if (typeof name !== 'string' || !new RegExp(NAME_PATTERN).test(name) || RESERVED_NAMESPACES.has(name)) {
      throw new TypeError(`cache.namespace: name must match ${NAME_PATTERN} and not be a plugin's (${[...RESERVED_NAMESPACES].join(', ')}), got ${JSON.stringify(name)}`)
    }
    let reader: Reader = this.store
    if (options.l1 !== undefined && options.l1 !== false && this.store.kind === 'redis') {
      const near = new NearCache(this.context, name, options.l1 === true ? {} : options.l1)
      this.#nearCaches.push(near)
      reader = near
    }
    const ns = new CacheNamespace<T>(this.context, this.#aside, reader, name, options, this.defaultTtl)
    this.#typed.set(name, ns)
    this.#hits.delete(name)
    return ns
  }

  /** Stops the near caches' connections (the plugin calls it on close). */
  async close (): Promise<void> {
    await Promise.all(this.#nearCaches.map(async (near) => { await near.close() }))
  }
}
