import { KeyBuilder } from './keys.js'
import { DEFAULT_WARN_INTERVAL_MS, ThrottledWarning, type Logger } from './log-throttle.js'
import { CacheMetrics } from './metrics.js'
import { spendBudget } from './request-budget.js'
import { isOutage, type ErrorCode, type Failure } from './result.js'
import type { Store } from './store/store.js'

/**
 * What every cachekit component works with: the shared store, the key
 * builder, the metrics it counts into, and the log with its warning throttle.
 *
 * The cache plugin builds one (`fastify.cache.context`) and every other plugin
 * hands that same one to its component, so all of them share one store, one
 * key schema, one set of counters and one throttle. Without Fastify, build it
 * yourself and pass it to each component you compose:
 *
 *     const context = new ComponentContext({ store: new MemoryStore({ prefix: 'app' }) })
 *     const sessions = new SessionCache(context, { ttl: 3600 })
 *     const states = new OAuthStateStore(context)
 */

export interface ComponentContextOptions {
  store: Store
  /** Default: a builder over the store's prefix (and the default hash secret). */
  keys?: KeyBuilder
  /** Default: counters of its own. */
  metrics?: CacheMetrics
  /** Where warnings go (a pino logger fits); default: nowhere. */
  logger?: Logger
  /** Shortest gap between two warnings about the same failure. Default 10,000 ms. */
  warnIntervalMs?: number
}

export interface FailureReport {
  /**
   * What the warning is throttled by, with the error code appended (default:
   * the namespace): one line per topic and code per interval, whatever the traffic.
   */
  topic?: string
  /** Added to the warning's details. */
  details?: object
}

/** Failures that refuse the caller's own input: the caller's to handle, not the operator's. */
const CALLERS: ReadonlySet<ErrorCode> = new Set(['INVALID_ARGUMENT', 'ENCODE'])

export class ComponentContext {
  readonly store: Store
  readonly keys: KeyBuilder
  readonly metrics: CacheMetrics
  readonly logger: Logger | undefined
  readonly warnIntervalMs: number
  readonly #warning: ThrottledWarning

  constructor (options: ComponentContextOptions) {
    this.store = options.store
    this.keys = options.keys ?? new KeyBuilder({ prefix: options.store.prefix })
    this.metrics = options.metrics ?? new CacheMetrics()
    this.logger = options.logger
    this.warnIntervalMs = options.warnIntervalMs ?? DEFAULT_WARN_INTERVAL_MS
    this.#warning = new ThrottledWarning(this.logger, this.warnIntervalMs)
  }

  /**
   * This context with a warning interval of its own (a plugin's
   * `warnIntervalMs`): same store, keys, metrics and logger. Itself when the
   * interval is not given or not different.
   */
  withWarnInterval (warnIntervalMs: number | undefined): ComponentContext {
    if (warnIntervalMs === undefined || warnIntervalMs === this.warnIntervalMs) return this
    return new ComponentContext({ store: this.store, keys: this.keys, metrics: this.metrics, logger: this.logger, warnIntervalMs })
  }

  /** Warns at most once per interval per topic; true when this call was logged. */
  warn (topic: string, details: object, message: string): boolean {
    return this.#warning.warn(topic, details, message)
  }

  /**
   * The one way a component reports a failure: counted as an error of
   * `namespace` in the metrics, warned (throttled per topic and error code;
   * not for a refusal of the caller's own input), and answered, so the
   * caller can `return context.failed(…)`.
   */
  failed (namespace: string, failure: Failure, message: string, report: FailureReport = {}): Failure {
    this.metrics.error(namespace)
    // the request's later Redis calls fail fast (lib/request-budget.ts)
    if (isOutage(failure.error)) spendBudget()
    const { code } = failure.error
    if (!CALLERS.has(code)) {
      this.#warning.warn(`${report.topic ?? namespace}:${code}`, { ...report.details, namespace, code }, `${message}: ${failure.error.message}`)
    }
    return failure
  }
}
