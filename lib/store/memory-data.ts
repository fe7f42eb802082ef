import { LRUCache } from 'lru-cache'
import { CacheError } from '../result.js'
import type { ScriptContext } from '../scripts.js'
import { globToRegExp } from './glob.js'

/**
 * The memory store's data: strings, sorted sets and hashes with Redis's
 * semantics (expiry, WRONGTYPE, empty collections vanish), bounded by an LRU.
 * Script twins run against this directly; every method is synchronous, so a
 * twin, like a Lua script, runs with nothing interleaved.
 */

type Data =
  | { type: 'string', value: string }
  | { type: 'zset', members: Map<string, number> }
  | { type: 'hash', fields: Map<string, string> }

interface Entry { data: Data, expiresAt: number | null }

const INTEGER = /^-?(?:0|[1-9]\d*)$/

function wrongType (key: string): CacheError {
  return new CacheError('INVALID_ARGUMENT', `WRONGTYPE key ${key} holds another kind of value`)
}

export class MemoryData implements ScriptContext {
  readonly #entries: LRUCache<string, Entry>

  constructor (maxEntries: number) {
    this.#entries = new LRUCache<string, Entry>({ max: maxEntries })
  }

  nowMs (): number {
    return Date.now()
  }

  #live (key: string): Entry | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  #typed<K extends Data['type']> (key: string, type: K): Extract<Data, { type: K }> | undefined {
    const entry = this.#live(key)
    if (entry === undefined) return undefined
    if (entry.data.type !== type) throw wrongType(key)
    return entry.data as Extract<Data, { type: K }>
  }

  /** Gets the collection at key, creating it (persistent) when missing. */
  #collection<K extends 'zset' | 'hash'> (key: string, type: K): Extract<Data, { type: K }> {
    const existing = this.#typed(key, type)
    if (existing !== undefined) return existing
    const data = (type === 'zset' ? { type, members: new Map() } : { type, fields: new Map() }) as Extract<Data, { type: K }>
    this.#entries.set(key, { data, expiresAt: null })
    return data
  }

  /** Redis removes a collection when its last member goes. */
  #dropIfEmpty (key: string, size: number): void {
    if (size === 0) this.#entries.delete(key)
  }

  get (key: string): string | null {
    return this.#typed(key, 'string')?.value ?? null
  }

  set (key: string, value: string, ttlMs?: number): void {
    this.#entries.set(key, { data: { type: 'string', value }, expiresAt: ttlMs === undefined ? null : Date.now() + ttlMs })
  }

  del (key: string): number {
    const had = this.#live(key) !== undefined
    this.#entries.delete(key)
    return had ? 1 : 0
  }

  exists (key: string): boolean {
    return this.#live(key) !== undefined
  }

  pttl (key: string): number {
    const entry = this.#live(key)
    if (entry === undefined) return -2
    return entry.expiresAt === null ? -1 : Math.max(0, entry.expiresAt - Date.now())
  }

  pexpire (key: string, ms: number): boolean {
    return this.pexpireat(key, Date.now() + ms)
  }

  pexpireat (key: string, atMs: number): boolean {
    const entry = this.#live(key)
    if (entry === undefined) return false
    if (atMs <= Date.now()) this.#entries.delete(key)
    else entry.expiresAt = atMs
    return true
  }

  incrBy (key: string, by: number): number {
    const entry = this.#live(key)
    let current = 0
    if (entry !== undefined) {
      if (entry.data.type !== 'string') throw wrongType(key)
      if (!INTEGER.test(entry.data.value)) throw new CacheError('INVALID_ARGUMENT', `value at ${key} is not an integer`)
      current = Number(entry.data.value)
    }
    const next = current + by
    if (!Number.isSafeInteger(next)) throw new CacheError('INVALID_ARGUMENT', `increment at ${key} would overflow`)
    if (entry === undefined) this.set(key, String(next))
    else entry.data = { type: 'string', value: String(next) }
    return next
  }

  zadd (key: string, score: number, member: string): number {
    const z = this.#collection(key, 'zset')
    const added = z.members.has(member) ? 0 : 1
    z.members.set(member, score)
    return added
  }

  zrem (key: string, member: string): number {
    const z = this.#typed(key, 'zset')
    if (z === undefined) return 0
    const removed = z.members.delete(member) ? 1 : 0
    this.#dropIfEmpty(key, z.members.size)
    return removed
  }

  zscore (key: string, member: string): number | null {
    return this.#typed(key, 'zset')?.members.get(member) ?? null
  }

  zrangeByScore (key: string, min: number, max: number): string[] {
    const z = this.#typed(key, 'zset')
    if (z === undefined) return []
    return [...z.members]
      .filter(([, score]) => score >= min && score <= max)
      // members are unique, so a tie in score is broken by the member, as Redis does
      .sort(([am, as], [bm, bs]) => as - bs || (am < bm ? -1 : 1))
      .map(([member]) => member)
  }

  zremRangeByScore (key: string, min: number, max: number): number {
    const z = this.#typed(key, 'zset')
    if (z === undefined) return 0
    let removed = 0
    for (const [member, score] of z.members) {
      if (score >= min && score <= max) { z.members.delete(member); removed++ }
    }
    this.#dropIfEmpty(key, z.members.size)
    return removed
  }

  zcard (key: string): number {
    return this.#typed(key, 'zset')?.members.size ?? 0
  }

  zmaxScore (key: string): number | null {
    const z = this.#typed(key, 'zset')
    if (z === undefined) return null
    let max: number | null = null
    for (const score of z.members.values()) if (max === null || score > max) max = score
    return max
  }

  hget (key: string, field: string): string | null {
    return this.#typed(key, 'hash')?.fields.get(field) ?? null
  }

  hset (key: string, field: string, value: string): number {
    const h = this.#collection(key, 'hash')
    const added = h.fields.has(field) ? 0 : 1
    h.fields.set(field, value)
    return added
  }

  hdel (key: string, field: string): number {
    const h = this.#typed(key, 'hash')
    if (h === undefined) return 0
    const removed = h.fields.delete(field) ? 1 : 0
    this.#dropIfEmpty(key, h.fields.size)
    return removed
  }

  hgetall (key: string): Record<string, string> {
    return Object.fromEntries(this.#typed(key, 'hash')?.fields ?? [])
  }

  /** Like GETDEL: the string value, removed. */
  getDel (key: string): string | null {
    const value = this.get(key)
    if (value !== null) this.#entries.delete(key)
    return value
  }

  /**
   * Like SET … XX KEEPTTL GET: writes the string only where the key exists,
   * keeping its expiry; the value it replaced, or null (nothing written).
   */
  replace (key: string, value: string): string | null {
    const entry = this.#live(key)
    if (entry === undefined) return null
    if (entry.data.type !== 'string') throw wrongType(key)
    const old = entry.data.value
    entry.data = { type: 'string', value }
    return old
  }

  /** Like MGET: nil for a missing key or one of another type. */
  getMany (keys: readonly string[]): Array<string | null> {
    return keys.map((key) => {
      const entry = this.#live(key)
      return entry?.data.type === 'string' ? entry.data.value : null
    })
  }

  deleteMatching (glob: string, keep?: (key: string) => boolean): number {
    const re = globToRegExp(glob)
    let deleted = 0
    for (const key of [...this.#entries.keys()]) {
      if (re.test(key) && keep?.(key) !== true) deleted += this.del(key)
    }
    return deleted
  }

  clearAll (): void {
    this.#entries.clear()
  }
}
