/** The slice of a pino-style logger the lib layer needs (no fastify import). */
export interface Logger {
  warn (details: object, message: string): void
}

export const DEFAULT_WARN_INTERVAL_MS = 10_000

/**
 * Warns at most once per interval per topic, with a count of what was
 * suppressed: a Redis outage under load must not write one line per request.
 */
export class ThrottledWarning {
  readonly #logger: Logger | undefined
  readonly #intervalMs: number
  readonly #topics = new Map<string, { last: number, suppressed: number }>()

  constructor (logger: Logger | undefined, intervalMs = DEFAULT_WARN_INTERVAL_MS) {
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
}
