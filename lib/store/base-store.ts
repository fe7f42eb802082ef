import { fail, ok, type Failure, type Result } from '../result.js'
import type { Script, ScriptArg } from '../scripts.js'
import { ttlToMs } from '../ttl.js'
import { entriesOf, type Entries } from './entries.js'
import type { DeletePatternOptions, SetOptions, Store, StoreHealth, StoreKind } from './store.js'

export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024

export interface BaseStoreOptions {
  prefix: string
  /** Values larger than this are refused with INVALID_ARGUMENT and not written. */
  maxValueBytes?: number
}

function checkKey (key: string): Result<true> {
  return typeof key === 'string' && key.length > 0
    ? ok(true)
    : fail('INVALID_ARGUMENT', 'key must be a non-empty string')
}

function checkDelta (by: number): Result<true> {
  return Number.isSafeInteger(by) ? ok(true) : fail('INVALID_ARGUMENT', `increment must be a safe integer, got ${String(by)}`)
}

/**
 * Validation and JSON are the same for every backend, so they live here once;
 * the backends implement only the raw operations, on input already checked.
 */
export abstract class BaseStore implements Store {
  abstract readonly kind: StoreKind
  abstract readonly cluster: boolean
  readonly prefix: string
  readonly maxValueBytes: number

  constructor (options: BaseStoreOptions) {
    this.prefix = options.prefix
    this.maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES
  }

  protected abstract rawGet (key: string): Promise<Result<string | null>>
  protected abstract rawSet (key: string, value: string, ttlMs: number | undefined): Promise<Result<true>>
  protected abstract rawDelete (key: string): Promise<Result<boolean>>
  protected abstract rawExists (key: string): Promise<Result<boolean>>
  protected abstract rawExpire (key: string, ttlMs: number): Promise<Result<boolean>>
  /** Milliseconds left, -1 for no expiry, -2 for missing (PTTL). */
  protected abstract rawPttl (key: string): Promise<Result<number>>
  protected abstract rawIncrement (key: string, by: number): Promise<Result<number>>
  protected abstract rawGetMany (keys: readonly string[]): Promise<Result<Array<string | null>>>
  protected abstract rawSetMany (entries: ReadonlyArray<readonly [string, string]>, ttlMs: number | undefined): Promise<Result<true>>
  protected abstract rawDeletePattern (glob: string, keep: ((key: string) => boolean) | undefined): Promise<Result<number>>
  protected abstract rawGetDel (key: string): Promise<Result<string | null>>
  protected abstract rawReplace (key: string, value: string): Promise<Result<string | null>>
  protected abstract rawRunScript<T> (script: Script<T>, keys: readonly string[], args: readonly ScriptArg[]): Promise<Result<T>>
  abstract ping (): Promise<Result<number>>
  abstract loadScripts (scripts: ReadonlyArray<Script<unknown>>): Promise<Result<true>>
  abstract close (): Promise<void>

  get (key: string): Promise<Result<string | null>> {
    return typeof key === 'string' && key.length > 0 ? this.rawGet(key) : Promise.resolve(checkKey(key) as Failure)
  }

  async set (key: string, value: string, options?: SetOptions): Promise<Result<true>> {
    const checked = this.#checkWrite(key, value, options)
    return checked.ok ? await this.rawSet(key, value, checked.value) : checked
  }

  async getJson<T = unknown> (key: string): Promise<Result<T | null>> {
    const raw = await this.get(key)
    if (!raw.ok || raw.value === null) return raw as Result<null>
    try {
      return ok(JSON.parse(raw.value) as T)
    } catch (err) {
      return fail('DECODE', `value at ${key} is not valid JSON`, err)
    }
  }

  async setJson (key: string, value: unknown, options?: SetOptions): Promise<Result<true>> {
    let encoded: string | undefined
    try {
      encoded = JSON.stringify(value)
    } catch (err) {
      return fail('ENCODE', `value for ${key} cannot be encoded as JSON: ${(err as Error).message}`, err)
    }
    if (encoded === undefined) return fail('ENCODE', `value for ${key} has no JSON form (${typeof value})`)
    return await this.set(key, encoded, options)
  }

  async delete (key: string): Promise<Result<boolean>> {
    const k = checkKey(key)
    return k.ok ? await this.rawDelete(key) : k
  }

  async exists (key: string): Promise<Result<boolean>> {
    const k = checkKey(key)
    return k.ok ? await this.rawExists(key) : k
  }

  async expire (key: string, ttl: number): Promise<Result<boolean>> {
    const k = checkKey(key)
    if (!k.ok) return k
    const ms = ttlToMs(ttl)
    return ms.ok ? await this.rawExpire(key, ms.value) : ms
  }

  async ttl (key: string): Promise<Result<number | null>> {
    const k = checkKey(key)
    if (!k.ok) return k
    const pttl = await this.rawPttl(key)
    if (!pttl.ok) return pttl
    return ok(pttl.value < 0 ? null : pttl.value / 1000)
  }

  async increment (key: string, by = 1): Promise<Result<number>> {
    const k = checkKey(key)
    if (!k.ok) return k
    const d = checkDelta(by)
    return d.ok ? await this.rawIncrement(key, by) : d
  }

  async decrement (key: string, by = 1): Promise<Result<number>> {
    const d = checkDelta(by)
    return d.ok ? await this.increment(key, -by) : d
  }

  async getMany (keys: readonly string[]): Promise<Result<Array<string | null>>> {
    if (!Array.isArray(keys)) return fail('INVALID_ARGUMENT', 'keys must be an array')
    if (keys.length === 0) return ok([])
    for (const key of keys) {
      const k = checkKey(key)
      if (!k.ok) return k
    }
    return await this.rawGetMany(keys)
  }

  async setMany (entries: Entries, options?: SetOptions): Promise<Result<true>> {
    const pairs = entriesOf(entries)
    if (!pairs.ok) return pairs
    const list = pairs.value
    let ttlMs: number | undefined
    for (const [key, value] of list) {
      const checked = this.#checkWrite(key, value, options)
      if (!checked.ok) return checked
      ttlMs = checked.value
    }
    if (list.length === 0) return ok(true)
    return await this.rawSetMany(list, ttlMs)
  }

  async deletePattern (glob: string, options: DeletePatternOptions = {}): Promise<Result<number>> {
    const k = checkKey(glob)
    return k.ok ? await this.rawDeletePattern(glob, options.keep) : k
  }

  async getDel (key: string): Promise<Result<string | null>> {
    const k = checkKey(key)
    return k.ok ? await this.rawGetDel(key) : k
  }

  replace (key: string, value: string): Promise<Result<string | null>> {
    const checked = this.#checkWrite(key, value, undefined)
    return checked.ok ? this.rawReplace(key, value) : Promise.resolve(checked)
  }

  async clear (): Promise<Result<number>> {
    return await this.rawDeletePattern(this.prefix + ':*', undefined)
  }

  runScript<T> (script: Script<T>, keys: readonly string[], args: readonly ScriptArg[]): Promise<Result<T>> {
    for (const key of keys) {
      if (typeof key !== 'string' || key.length === 0) return Promise.resolve(checkKey(key) as Failure)
    }
    return this.rawRunScript(script, keys, args)
  }

  async health (): Promise<StoreHealth> {
    const pong = await this.ping()
    return pong.ok ? { up: true, latencyMs: pong.value } : { up: false, reason: pong.error.message }
  }

  /** The TTL in ms (or undefined for none) when key and value may be written. */
  #checkWrite (key: string, value: string, options: SetOptions | undefined): Result<number | undefined> {
    const k = checkKey(key)
    if (!k.ok) return k
    if (typeof value !== 'string') return fail('INVALID_ARGUMENT', `value for ${key} must be a string (use setJson for objects)`)
    const size = value.length > this.maxValueBytes / 3 ? Buffer.byteLength(value) : value.length
    if (size > this.maxValueBytes) {
      return fail('INVALID_ARGUMENT', `value for ${key} is ${size} bytes, over the ${this.maxValueBytes}-byte limit`)
    }
    if (options?.ttl === undefined) return ok(undefined)
    return ttlToMs(options.ttl)
  }
}
