import { isOutage, type Failure } from './result.js'

/** The slice of a pino-style logger the lib layer needs (no fastify import). */
export interface Logger {
  warn (details: object, message: string): void
}

/**
 * Warns at most once per interval per topic, with a count of what was
 * suppressed: a Redis outage under load must not write one line per request.
 */
export class ThrottledWarning {
  readonly #logger: Logger | undefined
  readonly #intervalMs: number
  readonly #topics = new Map<string, { last: number, suppressed: number }>()

  constructor (logger: Logger | undefined, intervalMs = 10_000) {
    this.#logger = logger
    this.#intervalMs = intervalMs
  }

  /** True when this call was logged. */
  warn (topic: string, details: object, message: string): boolean {
    const now = Date.now()
    const seen = this.#topics.get(topic)
    if (seen !== undefined && now - seen.last < this.#intervalMs) {
      seen.suppressed++
      return false
    }
    const suppressed = seen?.suppressed ?? 0
    this.#topics.set(topic, { last: now, suppressed: 0 })
    this.#logger?.warn({ ...details, topic, suppressed }, message)
    return true
  }

  /**
   * Warns (throttled, per `component` and error code) when `failure` is an
   * outage (TIMEOUT, UNAVAILABLE); bad data or bad input is not the operator's
   * concern. Answers the failure, so callers can return it.
   */
  outage (component: string, failure: Failure, message: string, details: object = {}): Failure {
    const { code } = failure.error
    if (isOutage(failure.error)) this.warn(`${component}:${code}`, { ...details, code }, `${message}: ${failure.error.message}`)
    return failure
  }
}
