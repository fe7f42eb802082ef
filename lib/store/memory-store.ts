import { CacheError, fail, ok, toFailure, type Result } from '../result.js'
import { SCRIPT_ERROR, type Script, type ScriptArg, type ScriptContext } from '../scripts.js'
import { BaseStore, type BaseStoreOptions } from './base-store.js'
import { MemoryData } from './memory-data.js'

/**
 * The embedded store: in-process, bounded (least recently used keys go first),
 * with Redis's TTL semantics. The default when no REDIS_URL is set; the contract
 * tests hold it to the same answers as Redis.
 */

export interface MemoryStoreOptions extends BaseStoreOptions {
  /** Most keys kept; beyond it the least recently used go. */
  maxEntries?: number
}

export class MemoryStore extends BaseStore {
  readonly kind = 'memory' as const
  readonly cluster = false
  /** The primitives scripts' twins run against. */
  readonly data: MemoryData

  constructor (options: MemoryStoreOptions) {
    super(options)
    this.data = new MemoryData(options.maxEntries ?? 100_000)
  }

  // ---- Store operations: each runs the primitives synchronously, so each is atomic

  #do<T> (fn: () => T): Promise<Result<T>> {
    try {
      return Promise.resolve(ok(fn()))
    } catch (err) {
      return Promise.resolve(toFailure(err, 'INTERNAL'))
    }
  }

  protected rawGet (key: string): Promise<Result<string | null>> {
    return this.#do(() => this.data.get(key))
  }

  protected rawSet (key: string, value: string, ttlMs: number | undefined): Promise<Result<true>> {
    return this.#do(() => { this.data.set(key, value, ttlMs); return true as const })
  }

  protected rawDelete (key: string): Promise<Result<boolean>> {
    return this.#do(() => this.data.del(key) === 1)
  }

  protected rawExists (key: string): Promise<Result<boolean>> {
    return this.#do(() => this.data.exists(key))
  }

  protected rawExpire (key: string, ttlMs: number): Promise<Result<boolean>> {
    return this.#do(() => this.data.pexpire(key, ttlMs))
  }

  protected rawPttl (key: string): Promise<Result<number>> {
    return this.#do(() => this.data.pttl(key))
  }

  protected rawIncrement (key: string, by: number): Promise<Result<number>> {
    return this.#do(() => this.data.incrBy(key, by))
  }

  protected rawGetMany (keys: readonly string[]): Promise<Result<Array<string | null>>> {
    return this.#do(() => this.data.getMany(keys))
  }

  protected rawSetMany (entries: ReadonlyArray<readonly [string, string]>, ttlMs: number | undefined): Promise<Result<true>> {
    return this.#do(() => {
      for (const [key, value] of entries) this.data.set(key, value, ttlMs)
      return true as const
    })
  }

  protected rawDeletePattern (glob: string, keep: ((key: string) => boolean) | undefined): Promise<Result<number>> {
    return this.#do(() => this.data.deleteMatching(glob, keep))
  }

  protected rawGetDel (key: string): Promise<Result<string | null>> {
    return this.#do(() => this.data.getDel(key))
  }

  protected rawReplace (key: string, value: string): Promise<Result<string | null>> {
    return this.#do(() => this.data.replace(key, value))
  }

  protected async rawRunScript<T> (script: Script<T>, keys: readonly string[], args: readonly ScriptArg[]): Promise<Result<T>> {
    let reply: unknown
    try {
      // the twin sees ARGV as Lua does: strings
      reply = script.twin(this.data as ScriptContext, keys, args.map(String))
    } catch (err) {
      if (err instanceof CacheError) return toFailure(err, 'SCRIPT')
      const known = SCRIPT_ERROR.exec((err as Error).message)
      if (known !== null) return fail(known[1] as 'INVALID_ARGUMENT', known[2] as string, err)
      return fail('SCRIPT', `script ${script.name} failed: ${(err as Error).message}`, err)
    }
    try {
      return ok(script.decode(reply))
    } catch (err) {
      return fail('SCRIPT', `script ${script.name} gave an unexpected reply: ${(err as Error).message}`, err)
    }
  }

  async ping (): Promise<Result<number>> {
    return ok(0)
  }

  async loadScripts (): Promise<Result<true>> {
    return ok(true)
  }

  async close (): Promise<void> {
    this.data.clearAll()
  }
}
