/**
 * Per-namespace counters: hits, misses and errors of cache lookups, plus
 * degraded answers (a decision made without Redis). Kept in-process: each
 * instance reports its own, as Prometheus expects.
 */

export interface NamespaceStats {
  hits: number
  misses: number
  errors: number
  degraded: number
  /** hits + misses + errors: every lookup, answered or not. */
  total: number
  /** hits ÷ total, 0 when there were none. */
  hitRate: number
}

interface Counters { hits: number, misses: number, errors: number, degraded: number }

export type MetricsSnapshot = Record<string, NamespaceStats>

export class CacheMetrics {
  readonly #namespaces = new Map<string, Counters>()

  #counters (namespace: string): Counters {
    let c = this.#namespaces.get(namespace)
    if (c === undefined) {
      c = { hits: 0, misses: 0, errors: 0, degraded: 0 }
      this.#namespaces.set(namespace, c)
    }
    return c
  }

  hit (namespace: string, n = 1): void { this.#counters(namespace).hits += n }
  miss (namespace: string, n = 1): void { this.#counters(namespace).misses += n }
  error (namespace: string, n = 1): void { this.#counters(namespace).errors += n }
  /** An answer given without the cache (fail-open, local fallback, decider). */
  degraded (namespace: string, n = 1): void { this.#counters(namespace).degraded += n }

  stats (namespace: string): NamespaceStats {
    const c = this.#namespaces.get(namespace) ?? { hits: 0, misses: 0, errors: 0, degraded: 0 }
    const total = c.hits + c.misses + c.errors
    return { ...c, total, hitRate: total === 0 ? 0 : c.hits / total }
  }

  snapshot (): MetricsSnapshot {
    const out: MetricsSnapshot = {}
    for (const namespace of [...this.#namespaces.keys()].sort()) out[namespace] = this.stats(namespace)
    return out
  }

  /** Resets one namespace, or all of them. */
  reset (namespace?: string): void {
    if (namespace === undefined) this.#namespaces.clear()
    else this.#namespaces.delete(namespace)
  }

  /** Prometheus text exposition (version 0.0.4). */
  toPrometheus (): string {
    const lines: string[] = []
    const families: Array<[keyof Counters, string, string]> = [
      ['hits', 'cachekit_cache_hits_total', 'Cache lookups answered from the cache.'],
      ['misses', 'cachekit_cache_misses_total', 'Cache lookups that found nothing.'],
      ['errors', 'cachekit_cache_errors_total', 'Cache calls that failed (timeout, unavailable, bad data).'],
      ['degraded', 'cachekit_degraded_total', 'Answers given without the cache because it failed.']
    ]
    const snapshot = this.snapshot()
    for (const [field, name, help] of families) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`)
      for (const [namespace, stats] of Object.entries(snapshot)) {
        lines.push(`${name}{namespace="${namespace.replace(/["\\\n]/g, '_')}"} ${stats[field]}`)
      }
    }
    return lines.join('\n') + '\n'
  }
}
