import { Counter, Registry, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client'

/**
 * Per-namespace counters of every cachekit component (hits, misses, errors,
 * degraded answers, and cache-aside's stale hits, loader calls, lock waits,
 * near-cache hits and evictions) and latency histograms per operation, in a
 * prom-client Registry: the caller's own, or one of this object's.
 *
 * The hot path only adds to plain numbers; the registry reads them when it is
 * scraped (each counter's `collect`), so counting costs no label lookup.
 * Labels are bounded: namespace, operation, result, never a key. Each instance
 * reports its own counts, as Prometheus expects.
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

/** NamespaceStats with cache-aside's and the near cache's counters and the mean latency. */
export interface NamespaceDetails extends NamespaceStats {
  /** Stale values served inside their grace window (counted as hits too). */
  staleHits: number
  /** Loader runs of getOrSet/wrap. */
  loaderCalls: number
  /** getOrSet calls that waited for another instance's loader (the distributed lock). */
  lockWaits: number
  /** Answers from the in-process near cache (L1), counted as hits too. */
  l1Hits: number
  /** Near-cache entries dropped: by Redis's invalidations, the size bound or a flush. */
  l1Evictions: number
  /** Mean latency of this namespace's timed operations in ms; null before the first. */
  latencyMs: number | null
}

const FIELDS = ['hits', 'misses', 'errors', 'degraded', 'staleHits', 'loaderCalls', 'lockWaits', 'l1Hits', 'l1Evictions'] as const
type Field = typeof FIELDS[number]
type Counters = Record<Field, number> & { latencySum: number, latencyCount: number }

export type MetricsSnapshot = Record<string, NamespaceStats>

export interface CacheMetricsOptions {
  /** Where the metrics are registered (your prom-client Registry); default: a registry of their own. */
  registry?: Registry
  /** Prefix of every metric name. Default `cachekit_`. */
  prefix?: string
}

/** The counters and their Prometheus names and help. */
const FAMILIES: Array<[Field, string, string]> = [
  ['hits', 'cache_hits_total', 'Cache lookups answered from the cache (stale and near-cache answers included).'],
  ['misses', 'cache_misses_total', 'Cache lookups that found nothing (or a value failing its schema).'],
  ['errors', 'cache_errors_total', 'Cache calls that failed (timeout, unavailable, bad data, a loader error).'],
  ['degraded', 'degraded_total', 'Answers given without the cache because it failed.'],
  ['staleHits', 'cache_stale_hits_total', 'Stale values served inside their grace window.'],
  ['loaderCalls', 'cache_loader_calls_total', 'Loader runs of getOrSet and wrap.'],
  ['lockWaits', 'cache_lock_waits_total', 'getOrSet calls that waited for another instance holding the load lock.'],
  ['l1Hits', 'cache_l1_hits_total', 'Lookups answered by the in-process near cache.'],
  ['l1Evictions', 'cache_l1_evictions_total', 'Near-cache entries dropped (invalidation, size bound, flush).']
]

/** Latency buckets in seconds: from 50 µs (a near-cache hit) to 2.5 s (a slow loader). */
const BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

type DecisionLabel = 'namespace' | 'policy' | 'outcome' | 'source'

interface Buckets { counts: number[], sum: number, count: number }

/**
 * One latency series (namespace, operation, result) with its namespace's
 * counters, found once and held by a hot path (`metrics.series()`), so a timed
 * hit costs no Map lookup.
 */
export interface Series {
  readonly namespace: string
  readonly operation: string
  readonly result: string
  /** Its hits are the near cache's answers: each also counts as an L1 hit. */
  readonly nearCache: boolean
}

/** A Series and what it found; a reset detaches those (`epoch` tells) and the next record finds them again. */
class HeldSeries implements Series {
  readonly namespace: string
  readonly operation: string
  readonly result: string
  readonly nearCache: boolean
  counters: Counters | undefined
  buckets: Buckets | undefined
  epoch = -1

  constructor (namespace: string, operation: string, result: string, nearCache: boolean) {
    this.namespace = namespace
    this.operation = operation
    this.result = result
    this.nearCache = nearCache
  }
}

/**
 * The latency histogram as a prom-client metric of our own: prom-client's
 * Histogram hashes a label object on every observe, which costs more than a
 * near-cache hit; here an observation is three Map lookups and a bucket scan,
 * and the exposition is made when the registry is scraped.
 */
function latencyMetric (name: string, latency: Map<string, Map<string, Map<string, Buckets>>>, onReset: () => void): object {
  const help = 'Latency of cache operations by namespace, operation and result.'
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset: () => { latency.clear(); onReset() },
    get: (): MetricObjectWithValues<MetricValueWithName<string>> => {
      const values: Array<MetricValueWithName<string>> = []
      for (const [namespace, operations] of latency) {
        for (const [operation, results] of operations) {
          for (const [result, b] of results) {
            const labels = { namespace, operation, result }
            let cumulative = 0
            BUCKETS.forEach((le, i) => {
              cumulative += b.counts[i] as number
              values.push({ metricName: name + '_bucket', labels: { ...labels, le }, value: cumulative })
            })
            values.push({ metricName: name + '_bucket', labels: { ...labels, le: '+Inf' }, value: b.count })
            values.push({ metricName: name + '_sum', labels, value: b.sum })
            values.push({ metricName: name + '_count', labels, value: b.count })
          }
        }
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values } as unknown as MetricObjectWithValues<MetricValueWithName<string>>
    }
  }
}

const empty = (): Counters => ({ hits: 0, misses: 0, errors: 0, degraded: 0, staleHits: 0, loaderCalls: 0, lockWaits: 0, l1Hits: 0, l1Evictions: 0, latencySum: 0, latencyCount: 0 })

export class CacheMetrics {
  /** The prom-client registry these metrics are in. */
  readonly registry: Registry
  readonly #namespaces = new Map<string, Counters>()
  /** namespace → operation → result → buckets: found without making a string or a label object per call. */
  readonly #latency = new Map<string, Map<string, Map<string, Buckets>>>()
  /** `namespace|policy|outcome|source` → decisions made (the rate limiter's, by policy). */
  readonly #decisions = new Map<string, { labels: Record<DecisionLabel, string>, count: number }>()
  /** The same rows by namespace → policy → outcome → source: found per request without making a string. */
  readonly #decisionRows = new Map<string, Map<string, Map<string, Map<string, { count: number }>>>>()
  /** Bumped by every reset: a Series held from before finds its counters again. */
  #epoch = 0

  constructor (options: CacheMetricsOptions = {}) {
    this.registry = options.registry ?? new Registry()
    const prefix = options.prefix ?? 'cachekit_'
    const namespaces = this.#namespaces
    for (const [field, name, help] of FAMILIES) {
      // eslint-disable-next-line no-new
      new Counter({
        name: prefix + name,
        help,
        labelNames: ['namespace'],
        registers: [this.registry],
        collect () {
          this.reset()
          for (const [namespace, c] of namespaces) this.inc({ namespace }, c[field])
        }
      })
    }
    this.registry.registerMetric(latencyMetric(prefix + 'cache_operation_duration_seconds', this.#latency, () => { this.#epoch++ }) as never)
    const decisions = this.#decisions
    // eslint-disable-next-line no-new
    new Counter({
      name: prefix + 'decisions_total',
      help: 'Decisions by component (namespace), policy and outcome: the rate limiter\'s allowed and refused requests per route policy, and where each was decided.',
      labelNames: ['namespace', 'policy', 'outcome', 'source'],
      registers: [this.registry],
      collect () {
        this.reset()
        for (const { labels, count } of decisions.values()) this.inc(labels, count)
      }
    })
  }

  #counters (namespace: string): Counters {
    let c = this.#namespaces.get(namespace)
    if (c === undefined) {
      c = empty()
      this.#namespaces.set(namespace, c)
    }
    return c
  }

  hit (namespace: string, n = 1): void { this.#counters(namespace).hits += n }
  miss (namespace: string, n = 1): void { this.#counters(namespace).misses += n }
  error (namespace: string, n = 1): void { this.#counters(namespace).errors += n }
  /** An answer given without the cache (fail-open, local fallback, decider). */
  degraded (namespace: string, n = 1): void { this.#counters(namespace).degraded += n }
  /** A stale value served inside its grace window (also count it as a hit). */
  staleHit (namespace: string, n = 1): void { this.#counters(namespace).staleHits += n }
  loaderCall (namespace: string, n = 1): void { this.#counters(namespace).loaderCalls += n }
  lockWait (namespace: string, n = 1): void { this.#counters(namespace).lockWaits += n }
  l1Hit (namespace: string, n = 1): void { this.#counters(namespace).l1Hits += n }
  l1Eviction (namespace: string, n = 1): void { this.#counters(namespace).l1Evictions += n }

  /**
   * One decision of `namespace` under `policy` (a route template, a group: bounded
   * by the app's routes, never a key or a client), with its `outcome` (allowed,
   * refused) and `source` (store, deny-cache, local, open).
   */
  decision (namespace: string, policy: string, outcome: string, source: string): void {
    const known = this.#decisionRows.get(namespace)?.get(policy)?.get(outcome)?.get(source)
    if (known !== undefined) { known.count++; return }
    const id = `${namespace}|${policy}|${outcome}|${source}`
    let row = this.#decisions.get(id)
    if (row === undefined) this.#decisions.set(id, row = { labels: { namespace, policy, outcome, source }, count: 0 })
    row.count++
    let policies = this.#decisionRows.get(namespace)
    if (policies === undefined) this.#decisionRows.set(namespace, policies = new Map())
    let outcomes = policies.get(policy)
    if (outcomes === undefined) policies.set(policy, outcomes = new Map())
    let sources = outcomes.get(outcome)
    if (sources === undefined) outcomes.set(outcome, sources = new Map())
    sources.set(source, row)
  }

  /** Decisions counted so far, one row per namespace, policy, outcome and source. */
  decisions (): Array<Record<DecisionLabel, string> & { count: number }> {
    return [...this.#decisions.values()].map(({ labels, count }) => ({ ...labels, count }))
  }

  /** One timed operation: `operation` (get, set, getOrSet, …) of `namespace` took `ms`, ending in `result` (hit, miss, stale, error, ok…). */
  observe (namespace: string, operation: string, result: string, ms: number): void {
    this.#into(this.#buckets(namespace, operation, result), this.#counters(namespace), ms)
  }

  /** A hit of `operation` that took `ms`: `hit` and `observe` in one (the hit paths). */
  timedHit (namespace: string, operation: string, ms: number): void {
    const c = this.#counters(namespace)
    c.hits++
    this.#into(this.#buckets(namespace, operation, 'hit'), c, ms)
  }

  /**
   * A series to hold for `record` (a hot path's own), e.g. ('users', 'getOrSet', 'hit');
   * `nearCache` when its hits are answers from the near cache (counted as L1 hits too).
   */
  series (namespace: string, operation: string, result: string, nearCache = false): Series {
    return new HeldSeries(namespace, operation, result, nearCache)
  }

  /**
   * One observation of a held series, `ms` long, counted as a hit too when
   * `hit`: what `timedHit` and `observe` do, without finding the counters.
   */
  record (series: Series, ms: number, hit: boolean): void {
    const held = series as HeldSeries
    let counters = held.counters
    let buckets = held.buckets
    if (held.epoch !== this.#epoch || counters === undefined || buckets === undefined) {
      held.counters = counters = this.#counters(held.namespace)
      held.buckets = buckets = this.#buckets(held.namespace, held.operation, held.result)
      held.epoch = this.#epoch
    }
    if (hit) {
      counters.hits++
      if (held.nearCache) counters.l1Hits++
    }
    this.#into(buckets, counters, ms)
  }

  #buckets (namespace: string, operation: string, result: string): Buckets {
    let operations = this.#latency.get(namespace)
    if (operations === undefined) { operations = new Map(); this.#latency.set(namespace, operations) }
    let results = operations.get(operation)
    if (results === undefined) { results = new Map(); operations.set(operation, results) }
    let buckets = results.get(result)
    if (buckets === undefined) {
      buckets = { counts: new Array<number>(BUCKETS.length).fill(0), sum: 0, count: 0 }
      results.set(result, buckets)
    }
    return buckets
  }

  #into (buckets: Buckets, c: Counters, ms: number): void {
    c.latencySum += ms
    c.latencyCount++
    const seconds = ms / 1000
    let i = 0
    while (i < BUCKETS.length && seconds > (BUCKETS[i] as number)) i++
    if (i < BUCKETS.length) buckets.counts[i]++
    buckets.sum += seconds
    buckets.count++
  }

  /** Hits, misses, errors, degraded, total and hit rate of one namespace. */
  stats (namespace: string): NamespaceStats {
    const { hits, misses, errors, degraded } = this.#namespaces.get(namespace) ?? empty()
    const total = hits + misses + errors
    return { hits, misses, errors, degraded, total, hitRate: total === 0 ? 0 : hits / total }
  }

  /** Every counter of one namespace, with its mean latency. */
  details (namespace: string): NamespaceDetails {
    const { latencySum, latencyCount, ...c } = this.#namespaces.get(namespace) ?? empty()
    return { ...c, ...this.stats(namespace), latencyMs: latencyCount === 0 ? null : latencySum / latencyCount }
  }

  snapshot (): MetricsSnapshot {
    const out: MetricsSnapshot = {}
    for (const namespace of [...this.#namespaces.keys()].sort()) out[namespace] = this.stats(namespace)
    return out
  }

  /** `details` of every namespace, by name. */
  detailedSnapshot (): Record<string, NamespaceDetails> {
    const out: Record<string, NamespaceDetails> = {}
    for (const namespace of [...this.#namespaces.keys()].sort()) out[namespace] = this.details(namespace)
    return out
  }

  /** Sums of every namespace's counters. */
  totals (): Record<Field, number> {
    const out = empty()
    for (const c of this.#namespaces.values()) for (const field of FIELDS) out[field] += c[field]
    const { latencySum, latencyCount, ...sums } = out
    return sums
  }

  /** Resets one namespace, or all of them (latency histograms included when all). */
  reset (namespace?: string): void {
    this.#epoch++
    if (namespace === undefined) {
      this.#namespaces.clear()
      this.#latency.clear()
      this.#decisions.clear()
      this.#decisionRows.clear()
    } else {
      this.#namespaces.delete(namespace)
    }
  }

  /** The Content-Type of `toPrometheus()`'s text. */
  get contentType (): string {
    return this.registry.contentType
  }

  /** Prometheus text exposition of the whole registry (these metrics and whatever else is registered in it). */
  async toPrometheus (): Promise<string> {
    return await this.registry.metrics()
  }
}
