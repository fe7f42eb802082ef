import { randomBytes } from 'node:crypto'
import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { wallClock } from '../clock.js'
import type { ComponentContext } from '../context.js'
import type { KeyPart } from '../keys.js'
import type { Series } from '../metrics.js'
import { fail, ok, type Failure, type Result } from '../result.js'
import { ttlToMs } from '../ttl.js'
import { resolveOptions, type CacheAside, type GetOrSetOptions, type Slot } from './aside.js'
import { decodeEntry, encodeEntry, type Entry } from './envelope.js'
import { NearCache, type NearCacheOptions } from './near-cache.js'
import { cacheClaim } from './scripts.js'

/**
 * A typed namespace: `cache.namespace<T>('accounts', { ttl, schema })`. Its keys:
 *
 * - `<prefix>:<name>:v:<key>`: a value, in the envelope of envelope.ts, carrying the
 *   namespace's generation (and its tags' generations) at write time;
 * - `<prefix>:<name>:g`: the namespace's generation. `invalidateAll()` replaces it: one
 *   SET, however many keys, and every value written under the old one reads as a miss;
 * - `<prefix>:<name>:t:<tag>`: a tag's generation; `invalidateTags(tags)` replaces
 *   each: one SET per tag, no SCAN.
 *
 * A read is one MGET of the generation and the value (plus the tags' generations
 * for a tagged value): a generation that is missing or changed makes the value a
 * miss. getOrSet reads the generations before running the loader and writes under
 * those, so a value loaded across an invalidation is never valid after it.
 */

/** How a namespace reads keys: the store, or the near cache in front of it. */
export interface Reader {
  getMany: (keys: readonly string[]) => Promise<Result<Array<string | null>>>
}

export interface NamespaceOptions<S extends TSchema = TSchema> extends Omit<GetOrSetOptions, 'ttl'> {
  /** Seconds a value is fresh. Default: the cache's `defaultTtl`. */
  ttl?: number
  /** Values are checked against it on read; a value that fails is a counted miss. */
  schema?: S
  /** An in-process near cache in front of Redis, kept coherent by Redis (Redis only; not on a Cluster). */
  l1?: boolean | NearCacheOptions
}

export interface NamespaceSetOptions {
  /** Seconds; default the namespace's ttl. */
  ttl?: number
  /** Tags the value is filed under: `invalidateTags` of any of them makes it a miss. */
  tags?: readonly string[]
}

export type NamespaceGetOrSetOptions = GetOrSetOptions & { tags?: readonly string[] }

const TAG = /^[^,=|\u0000-\u001f\u007f]{1,1024}$/ // eslint-disable-line no-control-regex

const freshGeneration = (): string => randomBytes(8).toString('hex')

export class CacheNamespace<T = unknown> {
  readonly name: string
  readonly ttl: number
  /** The near cache in front of Redis, when `l1` was asked for on a Redis store. */
  readonly l1: NearCache | undefined
  readonly #context: ComponentContext
  readonly #aside: CacheAside
  readonly #reader: Reader
  readonly #defaults: Omit<GetOrSetOptions, 'ttl'>
  readonly #check: ((value: unknown) => boolean) | undefined
  readonly #generationKey: string
  /** `<prefix>:<name>:v`: the values' keys start with it. */
  readonly #valuePrefix: string
  readonly #prefix: string
  /** The L1 hit path's series, held: a hit recorded without a lookup. */
  readonly #l1Hits: Series

  /** Made by `cache.namespace()`; throws a TypeError for a bad name or option. */
  constructor (context: ComponentContext, aside: CacheAside, reader: Reader, name: string, options: NamespaceOptions, defaultTtl: number) {
    const generation = context.keys.key(name, 'g')
    if (!generation.ok) throw new TypeError(`cache.namespace: ${generation.error.message}`)
    const { ttl, schema, l1: _l1, ...defaults } = options
    this.name = name
    this.ttl = ttl ?? defaultTtl
    const checked = resolveOptions({ ...defaults, ttl: this.ttl }, defaultTtl)
    if (!checked.ok) throw new TypeError(`cache.namespace ${name}: ${checked.error.message}`)
    this.#context = context
    this.#aside = aside
    this.#reader = reader
    this.l1 = reader instanceof NearCache ? reader : undefined
    this.#defaults = defaults
    this.#generationKey = generation.value
    this.l1?.pin(this.#generationKey)
    this.#prefix = generation.value.slice(0, -1)
    this.#valuePrefix = this.#prefix + 'v'
    this.#l1Hits = context.metrics.series(name, 'getOrSet', 'hit', true)
    if (schema !== undefined) {
      const compiled = TypeCompiler.Compile(schema)
      this.#check = (value) => compiled.Check(value)
    }
  }

  #valueKey (key: KeyPart): Result<string> {
    return this.#context.keys.extend(this.#valuePrefix, key)
  }

  #tagKeys (tags: readonly string[]): Result<string[]> {
    if (!Array.isArray(tags)) return fail('INVALID_ARGUMENT', 'tags must be an array of strings')
    const out: string[] = []
    for (const tag of tags) {
      if (typeof tag !== 'string' || !TAG.test(tag)) return fail('INVALID_ARGUMENT', `tag must be a string without , = | or control characters, got ${JSON.stringify(tag)}`)
      const k = this.#context.keys.extend(this.#prefix + 't', tag)
      if (!k.ok) return k
      out.push(k.value)
    }
    return ok(out)
  }

  #failed (failure: Failure): Failure {
    return this.#context.failed(this.name, failure, 'cache degraded', { topic: 'cache' })
  }

  #timed<R> (operation: string, started: number, result: Result<R>, outcome?: string): Result<R> {
    this.#context.metrics.observe(this.name, operation, outcome ?? (result.ok ? 'ok' : 'error'), performance.now() - started)
    return result
  }

  /**
   * Reads a value and the generations it needs: the namespace's, the tags'
   * (`tags`) and those the entry itself names. `generations` gets what was
   * read ('' for missing), for the write that may follow.
   */
  async #read (valueKey: string, tags: readonly string[], tagKeys: readonly string[], generations: Map<string, string>): Promise<Result<Entry<T> | null>> {
    const read = await this.#reader.getMany([this.#generationKey, valueKey, ...tagKeys])
    if (!read.ok) return this.#failed(read)
    const [gen, raw] = read.value as [string | null, string | null]
    generations.set('', gen ?? '')
    tags.forEach((tag, i) => generations.set(tag, read.value[i + 2] ?? ''))
    if (raw === null || gen === null) return ok(null)
    let entry: Entry<T>
    try {
      entry = decodeEntry<T>(raw)
    } catch (err) {
      return this.#failed(fail('DECODE', `value at ${valueKey} is not a cache entry`, err))
    }
    if (entry.generation !== gen) return ok(null)
    const unknown = entry.tags.filter(([tag]) => !generations.has(tag))
    if (unknown.length > 0) {
      const keys = this.#tagKeys(unknown.map(([tag]) => tag))
      if (!keys.ok) return ok(null)
      const more = await this.#reader.getMany(keys.value)
      if (!more.ok) return this.#failed(more)
      unknown.forEach(([tag], i) => generations.set(tag, more.value[i] ?? ''))
    }
    for (const [tag, tagGen] of entry.tags) if (generations.get(tag) !== tagGen) return ok(null)
    if (this.#check !== undefined && entry.value !== null && entry.value !== undefined && !this.#check(entry.value)) return ok(null)
    return ok(entry)
  }

  /**
   * The generation at `key`, created when missing; '' when that fails or, with
   * `strict`, when another caller made one since the read (an invalidation may
   * have come between the read and this write: the value must not be written).
   */
  async #claim (key: string, strict: boolean): Promise<string> {
    const mine = freshGeneration()
    const claimed = await this.#context.store.runScript(cacheClaim, [key], [mine, 0])
    this.l1?.forget([key])
    return claimed.ok && (!strict || claimed.value === mine) ? claimed.value : ''
  }

  async #write (valueKey: string, value: unknown, freshMs: number, graceMs: number, tags: readonly string[], tagKeys: readonly string[], generations: Map<string, string>, strict = true): Promise<Result<true>> {
    let generation = generations.get('') as string
    if (generation === '') generation = await this.#claim(this.#generationKey, strict)
    const tagged: Array<[string, string]> = []
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i] as string
      let gen = generations.get(tag) as string
      if (gen === '') gen = await this.#claim(tagKeys[i] as string, strict)
      tagged.push([tag, gen])
    }
    // a generation made by another caller since the read: not written, the next read loads again
    if (generation === '' || tagged.some(([, gen]) => gen === '')) return ok(true)
    const now = Date.now()
    const encoded = encodeEntry({ value, freshUntil: now + freshMs, staleUntil: now + freshMs + graceMs, generation, tags: tagged })
    if (encoded === undefined) return fail('ENCODE', `value for ${valueKey} has no JSON form`)
    const written = await this.#context.store.set(valueKey, encoded, { ttl: (freshMs + graceMs) / 1000 })
    this.l1?.forget([valueKey])
    return written.ok ? written : this.#failed(written)
  }

  /** The fresh value, or null: missing, expired, invalidated, or failing the schema (each a counted miss). */
  async get (key: KeyPart): Promise<Result<T | null>> {
    const started = performance.now()
    const valueKey = this.#valueKey(key)
    if (!valueKey.ok) return valueKey
    const entry = await this.#read(valueKey.value, [], [], new Map())
    if (!entry.ok) return this.#timed('get', started, entry)
    if (entry.value === null || Date.now() >= entry.value.freshUntil) {
      this.#context.metrics.miss(this.name)
      return this.#timed('get', started, ok(null), 'miss')
    }
    this.#context.metrics.hit(this.name)
    return this.#timed('get', started, ok(entry.value.value ?? null), 'hit')
  }

  async set (key: KeyPart, value: T, options: NamespaceSetOptions = {}): Promise<Result<true>> {
    const started = performance.now()
    const valueKey = this.#valueKey(key)
    if (!valueKey.ok) return valueKey
    const ttl = ttlToMs(options.ttl ?? this.ttl)
    if (!ttl.ok) return ttl
    const tags = options.tags ?? []
    const tagKeys = this.#tagKeys(tags)
    if (!tagKeys.ok) return tagKeys
    const gens = await this.#reader.getMany([this.#generationKey, ...tagKeys.value])
    if (!gens.ok) return this.#timed('set', started, this.#failed(gens))
    const generations = new Map<string, string>([['', gens.value[0] ?? '']])
    tags.forEach((tag, i) => generations.set(tag, gens.value[i + 1] ?? ''))
    return this.#timed('set', started, await this.#write(valueKey.value, value, ttl.value, 0, tags, tagKeys.value, generations, false))
  }

  /**
   * A fresh, valid entry for `key` wholly from the near cache, synchronously, or
   * undefined: the L1 hit path, with no await and no JSON.parse (the decoded
   * entry is kept with the reply, so L1 answers share one object: do not mutate it).
   */
  #nearHit (l1: NearCache, key: KeyPart, now: number): Entry<T> | undefined {
    const gen = l1.peekPinned(this.#generationKey)
    if (gen === undefined || gen.value === null) return undefined
    const valueKey = this.#valueKey(key)
    if (!valueKey.ok) return undefined
    const held = l1.peek(valueKey.value)
    if (held === undefined || held.value === null) return undefined
    let entry = held.entry as (Entry<T> & { valid?: boolean }) | undefined
    if (entry === undefined) {
      try {
        entry = decodeEntry<T>(held.value)
      } catch {
        return undefined
      }
      entry.valid = this.#check === undefined || entry.value === null || entry.value === undefined || this.#check(entry.value)
      held.entry = entry
    }
    // a tagged value takes the general path (its tags' generations, from L1 as well)
    if (entry.valid !== true || entry.generation !== gen.value || entry.tags.length > 0 || now >= entry.freshUntil) return undefined
    return entry
  }

  /** Cache-aside in this namespace; the namespace's options are the defaults of the call's. */
  getOrSet (key: KeyPart, loader: () => T | Promise<T>, options: NamespaceGetOrSetOptions = {}): Promise<Result<T>> {
    const l1 = this.l1
    if (l1 !== undefined) {
      // one clock read at each end: the wall clock (freshness) is derived from the first
      const started = performance.now()
      const entry = this.#nearHit(l1, key, wallClock(started))
      if (entry !== undefined) {
        this.#context.metrics.record(this.#l1Hits, performance.now() - started, true)
        return Promise.resolve({ ok: true, value: entry.value })
      }
    }
    return this.#getOrSet(key, loader, options)
  }

  async #getOrSet (key: KeyPart, loader: () => T | Promise<T>, options: NamespaceGetOrSetOptions): Promise<Result<T>> {
    const valueKey = this.#valueKey(key)
    if (!valueKey.ok) return valueKey
    const { tags = [], ...rest } = options
    const resolved = resolveOptions({ ...this.#defaults, ...rest }, this.ttl)
    if (!resolved.ok) return resolved
    const tagKeys = this.#tagKeys(tags)
    if (!tagKeys.ok) return tagKeys
    // what the read saw, '' for missing: the write that follows must still see it
    const generations = new Map<string, string>([['', ''], ...tags.map((tag) => [tag, ''] as [string, string])])
    const full = valueKey.value
    const slot: Slot<T> = {
      namespace: this.name,
      id: full,
      lockKey: this.#context.keys.prefix + ':cache-lock:' + full.slice(this.#context.keys.prefix.length + 1),
      read: () => this.#read(full, tags, tagKeys.value, generations),
      write: (value, freshMs, graceMs) => this.#write(full, value, freshMs, graceMs, tags, tagKeys.value, generations)
    }
    return await this.#aside.getOrSet(slot, loader, resolved.value)
  }

  /** A cached version of `fn` in this namespace: its arguments pick the key. */
  wrap<A extends unknown[]> (fn: (...args: A) => T | Promise<T>, options: NamespaceGetOrSetOptions & { key: (...args: A) => KeyPart }): (...args: A) => Promise<Result<T>> {
    const { key, ...rest } = options
    return async (...args: A) => await this.getOrSet(key(...args), () => fn(...args), rest)
  }

  async delete (key: KeyPart): Promise<Result<boolean>> {
    const started = performance.now()
    const valueKey = this.#valueKey(key)
    if (!valueKey.ok) return valueKey
    const deleted = await this.#context.store.delete(valueKey.value)
    this.l1?.forget([valueKey.value])
    return this.#timed('delete', started, deleted.ok ? deleted : this.#failed(deleted))
  }

  /** Makes every value of the namespace a miss: one SET of its generation, however many keys. */
  async invalidateAll (): Promise<Result<true>> {
    const started = performance.now()
    const done = await this.#context.store.set(this.#generationKey, freshGeneration())
    this.l1?.forget([this.#generationKey])
    return this.#timed('invalidateAll', started, done.ok ? done : this.#failed(done))
  }

  /** Makes every value filed under any of `tags` a miss: one SET per tag, no SCAN. */
  async invalidateTags (tags: readonly string[]): Promise<Result<true>> {
    const started = performance.now()
    const tagKeys = this.#tagKeys(tags)
    if (!tagKeys.ok) return tagKeys
    const done = await this.#context.store.setMany(tagKeys.value.map((key) => [key, freshGeneration()] as [string, string]))
    this.l1?.forget(tagKeys.value)
    return this.#timed('invalidateTags', started, done.ok ? done : this.#failed(done))
  }
}

/** The value type a namespace's schema stands for. */
export type SchemaValue<S extends TSchema> = Static<S>
