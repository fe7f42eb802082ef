import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ComponentContext } from '../context.js'
import { fail, isOutage, ok, type Failure, type Result } from '../result.js'
import { ttlToMs } from '../ttl.js'
import type { Entry } from './envelope.js'
import { cacheClaim, cacheRelease } from './scripts.js'
import { SingleFlight } from './single-flight.js'

/**
 * Cache-aside that holds under load: the engine behind `cache.getOrSet`, `wrap`
 * and the typed namespaces' `getOrSet`.
 *
 * - single flight: concurrent misses for one key in this process run the loader once;
 * - `lock`: concurrent misses across instances run it once between them (SET NX PX,
 *   token-checked release); the others poll for the value, and take the lock over
 *   when it is freed without one, or run the loader themselves after `waitMs`;
 * - `grace`: past its TTL a value is served at once while one refresh runs; a failed
 *   refresh keeps the stale value;
 * - `timeout`: a soft bound on waiting for the loader: after it the stale value (or a
 *   TIMEOUT failure) answers while the loader finishes and caches in the background;
 * - a loader's error is a LOADER failure carrying it as `cause`, never cached.
 */

export interface LockOptions {
  /** How long the lock lives when its holder never releases it (a crash), in ms. Default 10,000. */
  ttlMs?: number
  /** How long a caller waits for another instance's value before running the loader itself, in ms. Default 5,000. */
  waitMs?: number
  /** Pause between two looks at the value while waiting, in ms. Default 10. */
  retryMs?: number
}

export interface GetOrSetOptions {
  /** Seconds the value is fresh. Default: the cache's `defaultTtl` (a namespace's `ttl`). */
  ttl?: number
  /** Shortens each TTL by a random part of up to this fraction (0–1), so keys written together do not expire together. */
  jitter?: number
  /** Seconds to cache a `null` or `undefined` answer ("not found"). Unset: not-found answers are not cached. */
  negativeTtl?: number
  /** Seconds past the TTL during which the stale value is served while one refresh runs (stale-while-revalidate). */
  grace?: number
  /**
   * Soft timeout in ms: a caller waits this long for the loader, then gets the stale
   * value (inside grace) or a TIMEOUT failure; the loader finishes and caches in the
   * background. With `grace` and a timeout, a stale value waits for a refresh up to
   * the timeout instead of being served at once.
   */
  timeout?: number
  /** Run the loader once across instances (a distributed lock); `true` for the defaults. */
  lock?: boolean | LockOptions
}

/** Where one key lives: what the engine needs from the cache or a namespace. */
export interface Slot<T> {
  /** Metrics namespace. */
  readonly namespace: string
  /** The full key: single flight and the lock are per slot id. */
  readonly id: string
  readonly lockKey: string
  /** The entry, or null when there is none (or none valid: a generation changed, a schema failed). */
  read: () => Promise<Result<Entry<T> | null>>
  write: (value: T, freshMs: number, graceMs: number) => Promise<Result<true>>
}

interface Resolved {
  ttlMs: number
  jitter: number
  negativeTtlMs: number | undefined
  graceMs: number
  timeoutMs: number | undefined
  lock: Required<LockOptions> | undefined
}

const DEFAULT_LOCK: Required<LockOptions> = { ttlMs: 10_000, waitMs: 5_000, retryMs: 10 }

function positiveMs (value: unknown, name: string): Result<number> {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
    ? ok(value)
    : fail('INVALID_ARGUMENT', `${name} must be a positive number of milliseconds, got ${String(value)}`)
}

/** The options as milliseconds, or INVALID_ARGUMENT naming the bad one. */
export function resolveOptions (options: GetOrSetOptions, defaultTtl: number): Result<Resolved> {
  const ttl = ttlToMs(options.ttl ?? defaultTtl, 'ttl')
  if (!ttl.ok) return ttl
  const jitter = options.jitter ?? 0
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) return fail('INVALID_ARGUMENT', `jitter must be a fraction in [0, 1], got ${String(jitter)}`)
  let negativeTtlMs: number | undefined
  if (options.negativeTtl !== undefined) {
    const n = ttlToMs(options.negativeTtl, 'negativeTtl')
    if (!n.ok) return n
    negativeTtlMs = n.value
  }
  let graceMs = 0
  if (options.grace !== undefined) {
    const g = ttlToMs(options.grace, 'grace')
    if (!g.ok) return g
    graceMs = g.value
  }
  let timeoutMs: number | undefined
  if (options.timeout !== undefined) {
    const t = positiveMs(options.timeout, 'timeout')
    if (!t.ok) return t
    timeoutMs = t.value
  }
  let lock: Required<LockOptions> | undefined
  if (options.lock !== undefined && options.lock !== false) {
    lock = { ...DEFAULT_LOCK, ...(options.lock === true ? {} : options.lock) }
    for (const name of ['ttlMs', 'waitMs', 'retryMs'] as const) {
      const checked = positiveMs(lock[name], `lock.${name}`)
      if (!checked.ok) return checked
    }
  }
  return ok({ ttlMs: ttl.value, jitter, negativeTtlMs, graceMs, timeoutMs, lock })
}

const token = (): string => randomBytes(12).toString('base64url')

export class CacheAside {
  readonly #context: ComponentContext
  readonly #flights = new SingleFlight()

  constructor (context: ComponentContext) {
    this.#context = context
  }

  async getOrSet<T> (slot: Slot<T>, loader: () => T | Promise<T>, options: Resolved): Promise<Result<T>> {
    const started = performance.now()
    const answer = await this.#getOrSet(slot, loader, options)
    this.#context.metrics.observe(slot.namespace, 'getOrSet', answer[1], performance.now() - started)
    return answer[0]
  }

  async #getOrSet<T> (slot: Slot<T>, loader: () => T | Promise<T>, o: Resolved): Promise<[Result<T>, string]> {
    const { metrics } = this.#context
    const read = await slot.read()
    let stale: Entry<T> | undefined
    if (read.ok && read.value !== null) {
      const entry = read.value
      const now = Date.now()
      if (now < entry.freshUntil) {
        metrics.hit(slot.namespace)
        return [ok(entry.value), 'hit']
      }
      if (now < entry.staleUntil) {
        stale = entry
        if (o.timeoutMs === undefined) {
          metrics.hit(slot.namespace)
          metrics.staleHit(slot.namespace)
          if (!this.#flights.has(slot.id)) this.#flights.run(slot.id, () => this.#load(slot, loader, o, { refresh: true })).catch(() => {})
          return [ok(entry.value), 'stale']
        }
      }
    }
    if (read.ok) metrics.miss(slot.namespace)
    else metrics.degraded(slot.namespace)
    // the store is down: answer from the loader, write nothing (the write would fail too)
    const flight = this.#flights.run(slot.id, () => this.#load(slot, loader, o, { write: read.ok || !isOutage(read.error) }))
    const loaded = o.timeoutMs === undefined ? await flight : await this.#within(flight, o.timeoutMs)
    if (loaded !== undefined && (loaded.ok || stale === undefined)) return [loaded, loaded.ok ? 'miss' : 'error']
    if (stale !== undefined) {
      // timed out, or the loader failed: the stale value answers
      metrics.hit(slot.namespace)
      metrics.staleHit(slot.namespace)
      return [ok(stale.value), 'stale']
    }
    return [fail('TIMEOUT', `the loader of ${slot.id} did not answer within ${o.timeoutMs as number} ms; it goes on in the background`), 'timeout']
  }

  /** The flight's answer, or undefined when `ms` pass first (the flight goes on). */
  async #within<T> (flight: Promise<T>, ms: number): Promise<T | undefined> {
    const timer = new AbortController()
    try {
      return await Promise.race([flight, sleep(ms, undefined, { signal: timer.signal, ref: false }).then(() => undefined, () => undefined)])
    } finally {
      timer.abort()
    }
  }

  /**
   * Runs the loader and writes its value; with a lock, only while holding it, else
   * waits for the holder's value. A refresh never waits: when another instance
   * holds the lock, that one refreshes.
   */
  async #load<T> (slot: Slot<T>, loader: () => T | Promise<T>, o: Resolved, mode: { refresh?: boolean, write?: boolean }): Promise<Result<T>> {
    const write = mode.write !== false
    if (o.lock === undefined || !write) return await this.#loadAndWrite(slot, loader, o, write)
    const { store, metrics } = this.#context
    const mine = token()
    const deadline = Date.now() + o.lock.waitMs
    let waited = false
    for (;;) {
      const claim = await store.runScript(cacheClaim, [slot.lockKey], [mine, o.lock.ttlMs])
      // a lock that cannot be taken (the store failing) is no reason not to answer
      if (!claim.ok) return await this.#loadAndWrite(slot, loader, o, true)
      if (claim.value === mine) {
        try {
          // the holder may have written its value and let go between our last look and this claim
          const written = waited ? await this.#written(slot) : undefined
          return written ?? await this.#loadAndWrite(slot, loader, o, true)
        } finally {
          await store.runScript(cacheRelease, [slot.lockKey], [mine])
        }
      }
      if (mode.refresh === true) return fail('INTERNAL', 'another instance is refreshing')
      if (!waited) { waited = true; metrics.lockWait(slot.namespace) }
      if (Date.now() >= deadline) return await this.#loadAndWrite(slot, loader, o, true)
      await sleep(o.lock.retryMs)
      const written = await this.#written(slot)
      if (written !== undefined) return written
    }
  }

  /** The slot's value when it is there and fresh (another instance loaded it), else undefined. */
  async #written<T> (slot: Slot<T>): Promise<Result<T> | undefined> {
    const r = await slot.read()
    return r.ok && r.value !== null && Date.now() < r.value.freshUntil ? ok(r.value.value) : undefined
  }

  async #loadAndWrite<T> (slot: Slot<T>, loader: () => T | Promise<T>, o: Resolved, write: boolean): Promise<Result<T>> {
    const value = await this.#runLoader(slot, loader)
    if (!value.ok || !write) return value
    const missing = value.value === null || value.value === undefined
    if (missing && o.negativeTtlMs === undefined) return value
    const freshMs = missing ? o.negativeTtlMs as number : o.ttlMs - Math.floor(Math.random() * o.jitter * o.ttlMs)
    await slot.write(value.value, Math.max(1, freshMs), missing ? 0 : o.graceMs)
    return value
  }

  async #runLoader<T> (slot: Slot<T>, loader: () => T | Promise<T>): Promise<Result<T>> {
    this.#context.metrics.loaderCall(slot.namespace)
    try {
      return ok(await loader())
    } catch (err) {
      const failure: Failure = fail('LOADER', `the loader of ${slot.id} failed: ${(err as Error)?.message ?? String(err)}`, err)
      return this.#context.failed(slot.namespace, failure, 'cache loader failed', { topic: 'cache-loader' })
    }
  }
}
