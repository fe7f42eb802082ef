import type { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import type { ComponentContext } from '../context.js'
import { ok, type Result } from '../result.js'
import type { RedisStore } from '../store/redis-store.js'
import type { Reader } from './namespace.js'

/**
 * A near cache (L1): a bounded LRU of raw Redis replies in this process, in
 * front of Redis, kept coherent by Redis itself (server-assisted client-side
 * caching on RESP2):
 *
 * - its own data connection reads with `CLIENT TRACKING on REDIRECT <id>`, so Redis
 *   remembers every key it read;
 * - an invalidation connection, subscribed to `__redis__:invalidate`, hears of every
 *   write to those keys, by any client (cachekit or `redis-cli`), and evicts them;
 * - a read in flight when its key is invalidated is not kept;
 * - while either connection is down (or between a reconnection and tracking being on
 *   again) the LRU is flushed and bypassed: reads go to the store;
 * - a heartbeat PINGs the invalidation connection; no PONG within `heartbeatMs` counts
 *   as down, so a silently dead connection bounds staleness too.
 *
 * Staleness bound: while both connections are up, an entry outlives a write by the
 * invalidation's delivery (one message on loopback); when the invalidation connection
 * dies silently, by at most 2 × `heartbeatMs`. Tracking is per node, so a Cluster is refused.
 */

export interface NearCacheOptions {
  /** Most entries kept. Default 10,000. */
  maxEntries?: number
  /** Interval of the invalidation connection's PING, and how long its PONG may take, in ms. Default 1,000. */
  heartbeatMs?: number
}

export type NearCacheState = 'starting' | 'up' | 'down' | 'closed'

/** What the near cache holds per key: Redis's reply, and the namespace's decoded entry once it made one (hits skip JSON.parse). */
export interface Held { readonly value: string | null, entry?: unknown }

const CHANNEL = '__redis__:invalidate'

/** A read in flight for one key: how many wait on it, and whether the key was invalidated meanwhile. */
interface Flight { invalidated: boolean, readers: number }

export class NearCache implements Reader {
  readonly namespace: string
  readonly #context: ComponentContext
  readonly #store: RedisStore
  readonly #lru: LRUCache<string, Held>
  readonly #data: Redis
  readonly #invalidations: Redis
  /**
   * Keys held outside the LRU, never pushed out by values: the namespace's
   * generation, which every hit reads (`pin`). Undefined while not held.
   */
  readonly #pinned = new Map<string, Held | undefined>()
  /** Keys with a read in flight → invalidated meanwhile? */
  readonly #inflight = new Map<string, Flight>()
  readonly #heartbeat: NodeJS.Timeout
  #state: NearCacheState = 'starting'
  /** CLIENT ID of the invalidation connection once it is subscribed; undefined while it is not. */
  #subscriber: number | undefined
  /** Bumped at every flush: a read that started before one is not kept. */
  #epoch = 0
  #awaitingPong = false

  constructor (context: ComponentContext, namespace: string, options: NearCacheOptions = {}) {
    const store = context.store as RedisStore
    if (store.kind !== 'redis') throw new TypeError('near cache (l1): needs a Redis store; the memory store is in-process already')
    if (store.cluster) throw new TypeError(`near cache (l1) of namespace ${namespace}: not supported on a Redis Cluster (client tracking is per node); use the namespace without l1`)
    this.namespace = namespace
    this.#context = context
    this.#store = store
    const metrics = context.metrics
    this.#lru = new LRUCache({
      max: options.maxEntries ?? 10_000,
      // a reply replaced by a newer read of the same key is not an entry dropped
      dispose: (_value, _key, reason) => { if (reason !== 'set') metrics.l1Eviction(namespace) }
    })
    const client = store.client as Redis
    // RESP2: invalidations arrive as Pub/Sub messages on the redirect connection
    this.#data = client.duplicate({ protocol: 2, lazyConnect: true, enableAutoPipelining: true, connectionName: 'cachekit-l1-data' })
    this.#invalidations = client.duplicate({ protocol: 2, lazyConnect: true, autoResubscribe: false, enableOfflineQueue: true, connectionName: 'cachekit-l1-invalidations' })
    for (const connection of [this.#data, this.#invalidations]) {
      connection.on('error', (err: Error) => { context.warn('near-cache:error', { namespace, err: err.message }, 'near cache connection error') })
      connection.on('close', () => {
        if (connection === this.#invalidations) this.#subscriber = undefined
        this.#down()
      })
      connection.on('ready', () => { this.#track().catch(() => {}) })
    }
    // the one channel it subscribes to: a list of keys, or nil when Redis flushed them all (FLUSHALL, …)
    this.#invalidations.on('messageBuffer', (_channel: Buffer, keys: Buffer[] | null) => {
      if (!Array.isArray(keys)) this.flush()
      else for (const key of keys) this.#invalidate(key.toString())
    })
    const heartbeatMs = options.heartbeatMs ?? 1000
    this.#heartbeat = setInterval(() => { this.#beat() }, heartbeatMs)
    this.#heartbeat.unref()
    this.#data.connect().catch(() => {})
    this.#invalidations.connect().catch(() => {})
  }

  get state (): NearCacheState {
    return this.#state
  }

  /** Entries held now, pinned ones included. */
  get size (): number {
    let pinned = 0
    for (const held of this.#pinned.values()) if (held !== undefined) pinned++
    return this.#lru.size + pinned
  }

  /** Holds `key` outside the LRU from now on: a key every hit reads (a generation) is never pushed out by values. */
  pin (key: string): void {
    this.#pinned.set(key, this.#lru.get(key))
    this.#lru.delete(key)
  }

  /** Lets go of a pinned key's value, counted as an eviction as the LRU counts its own. */
  #drop (key: string): void {
    if (this.#pinned.get(key) === undefined) return
    this.#pinned.set(key, undefined)
    this.#context.metrics.l1Eviction(this.namespace)
  }

  // Nothing is held unless the near cache is up: going down flushes both the
  // LRU and the pinned keys, and no read is kept while it is not up. So the
  // two peeks below need not ask for the state.

  /** `peek` for a pinned key: one Map lookup. */
  peekPinned (key: string): Held | undefined {
    return this.#pinned.get(key)
  }

  /** The held reply for `key`, or undefined: the synchronous hit path. It counts nothing. */
  peek (key: string): Held | undefined {
    return this.#lru.get(key)
  }

  /** Resolves once tracking is on (true), or false after `ms`. */
  async ready (ms = 2000): Promise<boolean> {
    const until = Date.now() + ms
    while (this.#state !== 'up' && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5))
    return this.#state === 'up'
  }

  /** Turns tracking on once both connections are ready: the invalidation one subscribed, the data one redirecting to it. */
  async #track (): Promise<void> {
    if (this.#state === 'closed' || this.#data.status !== 'ready' || this.#invalidations.status !== 'ready') return
    try {
      // a subscribed connection (RESP2) answers no CLIENT ID: ask before subscribing, once per connection
      if (this.#subscriber === undefined) {
        const id = await this.#invalidations.client('ID')
        await this.#invalidations.subscribe(CHANNEL)
        this.#subscriber = id
      }
      await this.#data.client('TRACKING', 'ON', 'REDIRECT', String(this.#subscriber))
      if (this.#data.status === 'ready' && this.#invalidations.status === 'ready' && (this.#state as NearCacheState) !== 'closed') {
        this.flush()
        this.#state = 'up'
      }
    /* c8 ignore start: a connection dropping between these calls; its 'close' and next 'ready' run this again */
    } catch (err) {
      this.#context.warn('near-cache:track', { namespace: this.namespace, err: (err as Error).message }, 'near cache could not turn tracking on; bypassed')
    }
    /* c8 ignore stop */
  }

  #down (): void {
    if (this.#state === 'closed') return
    this.#state = 'down'
    this.flush()
  }

  #beat (): void {
    if (this.#state !== 'up') return
    if (this.#awaitingPong) {
      // no PONG within a beat: the invalidation connection may be dead without a close; reconnect
      this.#awaitingPong = false
      this.#down()
      this.#invalidations.disconnect(true)
      return
    }
    this.#awaitingPong = true
    this.#invalidations.ping().then(() => { this.#awaitingPong = false }, () => {})
  }

  #invalidate (key: string): void {
    const flight = this.#inflight.get(key)
    if (flight !== undefined) flight.invalidated = true
    if (this.#pinned.has(key)) this.#drop(key)
    else this.#lru.delete(key)
  }

  /**
   * Drops `keys` now, as Redis's invalidation will: this instance's own writes
   * are read back at once, not after the message arrives.
   */
  forget (keys: readonly string[]): void {
    for (const key of keys) this.#invalidate(key)
  }

  /** Drops every entry; reads in flight are not kept. */
  flush (): void {
    this.#epoch++
    for (const flight of this.#inflight.values()) flight.invalidated = true
    for (const key of this.#pinned.keys()) this.#drop(key)
    this.#lru.clear()
  }

  /** Values in key order: from the LRU where held, the rest in one tracked MGET (kept when no invalidation crossed it). */
  async getMany (keys: readonly string[]): Promise<Result<Array<string | null>>> {
    if (this.#state !== 'up') return await this.#store.getMany(keys)
    const out: Array<string | null> = new Array(keys.length)
    const missing: string[] = []
    const at: number[] = []
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string
      const held = this.#pinned.has(key) ? this.#pinned.get(key) : this.#lru.get(key)
      if (held === undefined) { missing.push(keys[i] as string); at.push(i) } else out[i] = held.value
    }
    if (missing.length === 0) {
      this.#context.metrics.l1Hit(this.namespace)
      return ok(out)
    }
    const epoch = this.#epoch
    const flights = missing.map((key) => {
      let flight = this.#inflight.get(key)
      if (flight === undefined) { flight = { invalidated: false, readers: 0 }; this.#inflight.set(key, flight) }
      flight.readers++
      return flight
    })
    let values: Array<string | null>
    try {
      values = await this.#data.mget(...missing)
    } catch {
      this.#release(missing, flights)
      // the tracked connection failed (its deadline, a drop): the store answers this one
      return await this.#store.getMany(keys)
    }
    const keep = this.#state === 'up' && epoch === this.#epoch
    missing.forEach((key, j) => {
      const value = values[j] ?? null
      out[at[j] as number] = value
      if (keep && !(flights[j] as Flight).invalidated) {
        if (this.#pinned.has(key)) this.#pinned.set(key, { value })
        else this.#lru.set(key, { value })
      }
    })
    this.#release(missing, flights)
    return ok(out)
  }

  #release (keys: string[], flights: Flight[]): void {
    keys.forEach((key, j) => {
      const flight = flights[j] as { readers: number }
      if (--flight.readers === 0 && this.#inflight.get(key) === flight) this.#inflight.delete(key)
    })
  }

  async close (): Promise<void> {
    this.#state = 'closed'
    clearInterval(this.#heartbeat)
    this.flush()
    for (const connection of [this.#data, this.#invalidations]) {
      if (connection.status === 'ready') await Promise.allSettled([connection.quit()])
      connection.disconnect()
    }
  }
}
