/**
 * Concurrent calls for one key share one run: the first call starts it, the
 * others get its promise, and the key is free again once it settles.
 */
export class SingleFlight {
  readonly #flights = new Map<string, Promise<unknown>>()

  run<T> (key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.#flights.get(key)
    if (running !== undefined) return running as Promise<T>
    const flight = fn().finally(() => { this.#flights.delete(key) })
    this.#flights.set(key, flight)
    return flight
  }

  /** Is a run for `key` in flight? */
  has (key: string): boolean {
    return this.#flights.has(key)
  }
}
