import type { Result } from '../result.js'
import type { Script, ScriptArg } from '../scripts.js'
import type { Entries } from './entries.js'

/** TTLs are seconds; fractions are kept to the millisecond. */
export interface SetOptions { ttl?: number }

export type StoreKind = 'redis' | 'memory'

export interface DeletePatternOptions {
  /** Keys for which this answers true are left in place. */
  keep?: (key: string) => boolean
}

export interface StoreHealth {
  up: boolean
  /** Round-trip time of the probe, when it answered. */
  latencyMs?: number
  /** Why it is down. */
  reason?: string
}

/**
 * The one contract every component is written against. Keys are full keys
 * (made by the KeyBuilder); values are strings. No method throws.
 */
export interface Store {
  readonly kind: StoreKind
  /** A Redis Cluster: one command or script may only touch keys of one slot. */
  readonly cluster: boolean
  /** The key prefix this store owns; `clear()` removes only keys under it. */
  readonly prefix: string

  get (key: string): Promise<Result<string | null>>
  set (key: string, value: string, options?: SetOptions): Promise<Result<true>>
  getJson<T = unknown> (key: string): Promise<Result<T | null>>
  setJson (key: string, value: unknown, options?: SetOptions): Promise<Result<true>>
  /** `false` when there was nothing to delete. */
  delete (key: string): Promise<Result<boolean>>
  exists (key: string): Promise<Result<boolean>>
  /** `false` when the key does not exist. */
  expire (key: string, ttl: number): Promise<Result<boolean>>
  /** Seconds left, or `null` for a missing key or one that never expires. */
  ttl (key: string): Promise<Result<number | null>>
  increment (key: string, by?: number): Promise<Result<number>>
  decrement (key: string, by?: number): Promise<Result<number>>
  /** Values in the order of `keys`, `null` for each miss. */
  getMany (keys: readonly string[]): Promise<Result<Array<string | null>>>
  /** Writes every pair; `entries` is a plain object, a Map or an iterable of `[key, value]` pairs. */
  setMany (entries: Entries, options?: SetOptions): Promise<Result<true>>
  /**
   * Deletes every key matching a SCAN glob, except those `keep` spares;
   * answers how many were deleted.
   */
  deletePattern (glob: string, options?: DeletePatternOptions): Promise<Result<number>>
  /** Atomic read-and-delete. */
  getDel (key: string): Promise<Result<string | null>>
  /**
   * Writes `value` only where `key` exists, keeping its expiry (`SET … XX
   * KEEPTTL GET`): the value it replaced, or `null` when the key was not
   * there (nothing written).
   */
  replace (key: string, value: string): Promise<Result<string | null>>
  /** Round trip in milliseconds. */
  ping (): Promise<Result<number>>
  /** Deletes every key under the prefix (never FLUSHDB). */
  clear (): Promise<Result<number>>
  /** Runs a script: EVALSHA on Redis, the in-process twin in memory. */
  runScript<T> (script: Script<T>, keys: readonly string[], args: readonly ScriptArg[]): Promise<Result<T>>
  /** Loads scripts ahead of first use (SCRIPT LOAD); a no-op in memory. */
  loadScripts (scripts: ReadonlyArray<Script<unknown>>): Promise<Result<true>>
  health (): Promise<StoreHealth>
  close (): Promise<void>
  /**
   * Which script calls `key` may share (a batch of keys in one call): the
   * Cluster node that owns its slot now; one group for a single node. Keys
   * of one group may go to one `runScript` whatever their slots.
   */
  batchGroup? (key: string): string
}
