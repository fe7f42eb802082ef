import { CacheError } from './result.js'

/**
 * Deadlines for many calls at once: a call is filed under the slice of time
 * its deadline falls in, and one timer per slice rejects, with a TIMEOUT
 * CacheError, the calls of that slice still unsettled when it ends. A timer per
 * call (setTimeout, Promise.race, clearTimeout) cost about 0.4 µs of CPU per
 * store call; a call filed under a shared slice costs a fraction of that.
 *
 * A slice ends no later than the deadlines filed under it: a hung call fails
 * after at least `ms - slice` and at most `ms` (plus the event loop's lateness,
 * as any timer), never after its deadline. The slice is a sixteenth of the
 * store's deadline, at least 1 ms and at most 10 ms.
 *
 * The work itself is not cancelled: a Redis command may still run, so callers
 * must never retry non-idempotent work after a timeout.
 */

/** One call waiting under a slice, linked in that slice's list while unsettled. */
class Waiter {
  prev: Waiter | null = null
  next: Waiter | null = null
  /** The slice it is filed under; null once settled or timed out. */
  slice: Slice | null
  readonly reject: (err: CacheError) => void
  readonly ms: number

  constructor (slice: Slice, reject: (err: CacheError) => void, ms: number) {
    this.slice = slice
    this.reject = reject
    this.ms = ms
  }

  /** Settled: out of its slice at once, so nothing of a finished call is kept until the slice ends. */
  unlink (): void {
    const slice = this.slice
    if (slice === null) return
    if (this.prev === null) slice.head = this.next
    else this.prev.next = this.next
    if (this.next !== null) this.next.prev = this.prev
    this.prev = this.next = this.slice = null
  }
}

/** The unsettled calls whose deadlines fall in one slice of time. */
class Slice {
  head: Waiter | null = null

  add (reject: (err: CacheError) => void, ms: number): Waiter {
    const waiter = new Waiter(this, reject, ms)
    waiter.next = this.head
    if (this.head !== null) this.head.prev = waiter
    this.head = waiter
    return waiter
  }
}

/** The longest slice: a deadline is never cut shorter than by this. */
export const MAX_SLICE_MS = 10

export class Deadlines {
  /** The deadline of `bound` when the call names none, in ms. */
  readonly ms: number
  readonly #slice: number
  readonly #what: string
  /** Slice number (end time ÷ slice length) → the calls whose deadline falls in it. */
  readonly #slices = new Map<number, Slice>()

  constructor (ms: number, what = 'command') {
    this.ms = ms
    this.#slice = Math.min(MAX_SLICE_MS, Math.max(1, Math.floor(ms / 16)))
    this.#what = what
  }

  /** How many slices have a timer running (each ends with its timer). */
  get pending (): number {
    return this.#slices.size
  }

  /**
   * `promise`'s outcome, or a rejection with a TIMEOUT CacheError once `ms`
   * have passed (what is left of a call's deadline: a retry inside one call).
   */
  bound<T> (promise: Promise<T>, ms = this.ms): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter = this.#sliceFor(ms).add(reject, ms)
      promise.then((value) => { waiter.unlink(); resolve(value) }, (err: unknown) => { waiter.unlink(); reject(err) })
    })
  }

  /** The slice that ends at or before a deadline `ms` from now, its timer started with it. */
  #sliceFor (ms: number): Slice {
    const now = performance.now()
    const n = Math.floor((now + ms) / this.#slice)
    let slice = this.#slices.get(n)
    if (slice === undefined) {
      slice = new Slice()
      this.#slices.set(n, slice)
      setTimeout(this.#end, Math.max(0, n * this.#slice - now), n).unref()
    }
    return slice
  }

  readonly #end = (n: number): void => {
    const slice = this.#slices.get(n)
    this.#slices.delete(n)
    let waiter = slice?.head ?? null
    while (waiter !== null) {
      const next = waiter.next
      waiter.prev = waiter.next = waiter.slice = null
      waiter.reject(new CacheError('TIMEOUT', `${this.#what} exceeded its ${waiter.ms} ms deadline`))
      waiter = next
    }
  }
}
