import { LRUCache } from 'lru-cache'

/**
 * Remembered refusals. When the store refuses `cost` tokens with
 * `retryAfterMs`, no request of that cost or more can pass before then: other
 * instances can only take tokens, never add them. So until then this instance
 * answers such requests itself, with no round trip; an abusive client costs
 * memory lookups, not Redis calls. Bounded: the least recently used go first.
 */

interface Refusal {
  /** Epoch ms at which the store refused. */
  at: number
  /** Epoch ms before which a request of at least `cost` is refused. */
  until: number
  cost: number
  /** Epoch ms at which the bucket was to be full again. */
  fullAt: number
  remaining: number
}

export interface RememberedRefusal {
  retryAfterMs: number
  resetMs: number
  remaining: number
}

export class DenyCache {
  readonly #entries: LRUCache<string, Refusal>
  readonly #enabled: boolean

  /** `maxEntries` 0 turns the cache off. */
  constructor (maxEntries: number) {
    this.#entries = new LRUCache<string, Refusal>({ max: Math.max(1, maxEntries) })
    this.#enabled = maxEntries > 0
  }

  remember (key: string, cost: number, retryAfterMs: number, resetMs: number, remaining: number, now = Date.now()): void {
    if (this.#enabled) this.#entries.set(key, { at: now, until: now + retryAfterMs, cost, fullAt: now + resetMs, remaining })
  }

  /** The refusal still standing for a request of `cost` on `key`, if any. */
  refusal (key: string, cost: number, now = Date.now()): RememberedRefusal | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined || cost < entry.cost) return undefined
    // expired, or the clock went back (a test suite faking Date from 0): the store decides again
    if (entry.until <= now || now < entry.at) {
      this.#entries.delete(key)
      return undefined
    }
    return { retryAfterMs: entry.until - now, resetMs: entry.fullAt - now, remaining: entry.remaining }
  }

  forget (key: string): void {
    this.#entries.delete(key)
  }

  get size (): number {
    return this.#entries.size
  }
}
