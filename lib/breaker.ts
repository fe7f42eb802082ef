/**
 * A circuit breaker: after `failureThreshold` consecutive outage failures it
 * opens and every call fails fast for `cooldownMs`; then one probe is let
 * through (half-open) and its outcome closes or re-opens the circuit. This is
 * what keeps a hung Redis from costing every request a full command timeout.
 */

export interface BreakerOptions {
  failureThreshold?: number
  cooldownMs?: number
}

export type BreakerState = 'closed' | 'open' | 'half-open'

export class CircuitBreaker {
  readonly failureThreshold: number
  readonly cooldownMs: number
  #failures = 0
  #openedAt = 0
  #state: BreakerState = 'closed'
  #probing = false

  constructor (options: BreakerOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 3
    this.cooldownMs = options.cooldownMs ?? 1000
  }

  get state (): BreakerState {
    if (this.#state === 'open') {
      const elapsed = Date.now() - this.#openedAt
      // a clock gone back (a test suite faking Date from 0) must not hold the circuit open until it catches up
      if (elapsed >= this.cooldownMs || elapsed < 0) this.#state = 'half-open'
    }
    return this.#state
  }

  /** May a call go through now? In half-open, only one probe at a time. */
  allow (): boolean {
    const state = this.state
    if (state === 'closed') return true
    if (state === 'open' || this.#probing) return false
    this.#probing = true
    return true
  }

  success (): void {
    this.#failures = 0
    this.#probing = false
    this.#state = 'closed'
  }

  failure (): void {
    this.#probing = false
    this.#failures++
    if (this.#state === 'half-open' || this.#failures >= this.failureThreshold) {
      this.#state = 'open'
      this.#openedAt = Date.now()
    }
  }

  /** The connection came back: stop failing fast. */
  reset (): void {
    this.success()
  }
}
