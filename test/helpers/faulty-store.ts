import type { Test } from 'tap'
import { sleep } from '../../harness/wait.js'
import { fail, type ErrorCode } from '../../lib/result.js'
import type { Store } from '../../lib/store/store.js'

/**
 * A store that fails on demand: chosen calls answer a Failure with the code
 * asked for (TIMEOUT, UNAVAILABLE, …) without reaching the store, or hang
 * until a deadline and then answer TIMEOUT. For the fail-policy cases, which
 * need a failure, not an outage: they run in milliseconds. What only a real
 * outage shows (the deadline, the breaker, reconnecting, booting while Redis
 * is down, NOSCRIPT) is tested against a Redis the test kills or pauses.
 *
 * The store is changed in place, not wrapped in another object: the plugins
 * take `fastify.cache.store` at registration, so only the object every
 * component already holds reaches them all. Its own methods come back when
 * the test ends.
 */

/** The store methods that answer a Result: the calls a fault can answer instead. */
export const RESULT_METHODS = [
  'get', 'set', 'getJson', 'setJson', 'delete', 'exists', 'expire', 'ttl', 'increment', 'decrement',
  'getMany', 'setMany', 'deletePattern', 'getDel', 'replace', 'ping', 'clear', 'runScript', 'loadScripts'
] as const satisfies ReadonlyArray<keyof Store>

export type StoreMethod = typeof RESULT_METHODS[number]

export interface FaultOptions {
  /** Only calls of these methods fail (default: every one). */
  only?: readonly StoreMethod[]
}

/** The faults told, the latest first: a call gets the first that applies to it. */
interface Fault { code: ErrorCode, hangMs: number, only: readonly StoreMethod[] | undefined }

/** Stores made faulty and not yet restored: a second layer would outlive the test. */
const faulty = new WeakSet<Store>()

export class StoreFaults {
  /** Every call the store received since it was made faulty, faulted or not, in order. */
  readonly calls: StoreMethod[] = []
  readonly #faults: Fault[] = []

  constructor (t: Test, store: Store) {
    if (faulty.has(store)) throw new Error('this store is already faulty: use the StoreFaults made for it')
    faulty.add(store)
    t.teardown(() => { faulty.delete(store) })
    const methods = store as unknown as Record<StoreMethod, (...args: unknown[]) => Promise<unknown>>
    for (const method of RESULT_METHODS) {
      const own = Object.getOwnPropertyDescriptor(store, method)
      const original = methods[method]
      methods[method] = async (...args: unknown[]): Promise<unknown> => {
        this.calls.push(method)
        const fault = this.#faults.find((f) => f.only === undefined || f.only.includes(method))
        if (fault === undefined) return await original.apply(store, args)
        if (fault.hangMs > 0) await sleep(fault.hangMs)
        return fail(fault.code, `${method} failed on purpose: ${fault.code} from a faulty store`)
      }
      t.teardown(() => {
        if (own === undefined) delete (methods as Partial<typeof methods>)[method]
        else Object.defineProperty(store, method, own)
      })
    }
  }

  /** From now on, calls (of `only`) answer a Failure with `code`, until heal(). */
  fail (code: ErrorCode, options: FaultOptions = {}): this {
    this.#faults.unshift({ code, hangMs: 0, only: options.only })
    return this
  }

  /** From now on, calls (of `only`) wait `deadlineMs`, then answer TIMEOUT, as a hung server past its deadline. */
  hang (deadlineMs: number, options: FaultOptions = {}): this {
    this.#faults.unshift({ code: 'TIMEOUT', hangMs: deadlineMs, only: options.only })
    return this
  }

  /** Every fault lifted: calls reach the store again. */
  heal (): void {
    this.#faults.length = 0
  }
}

/** Makes `store` faulty on demand until `t` ends; nothing fails until told to. */
export function faultyStore (t: Test, store: Store): StoreFaults {
  return new StoreFaults(t, store)
}
