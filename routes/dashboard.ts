import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Cluster, Redis } from 'ioredis'
import fp from 'fastify-plugin'
import type { Decision, DecisionSource } from '../lib/rate-limit/token-bucket-script.js'
import type { RedisStore } from '../lib/store/redis-store.js'
import { METRICS_NAMESPACES } from '../lib/namespaces.js'
import { tagRoutes } from '../demo/api-tags.js'
import { Degradation, degradations } from './health.js'

/**
 * `GET /dashboard/data`: everything the landing page's dashboard shows, in one
 * JSON answer, read from the plugins' own numbers where they keep them and
 * counted here from the demo's traffic where they do not yet.
 *
 * Each panel has its one source function below (`namespaceStats`,
 * `cacheAsideStats`, `rateLimitStats`, …): when a plugin starts counting
 * something itself, its function is the one place to change. A number no
 * source measures yet is `null`, which the page shows as "n/a".
 */

/** A count or a figure; null when nothing in this build measures it (shown as "n/a"). */
const Measured = Type.Union([Type.Number(), Type.Null()])
const Count = Type.Integer({ minimum: 0 })

const NamespaceRow = Type.Object({
  namespace: Type.String(),
  hits: Count,
  misses: Count,
  errors: Count,
  degraded: Count,
  hitRate: Type.Number({ description: 'hits ÷ (hits + misses + errors), 0 when none' }),
  latencyMs: Measured
})

const PolicyRow = Type.Object({
  policy: Type.String({ description: 'the bucket\'s scope: the route template or group' }),
  limit: Count,
  windowMs: Count,
  allowed: Count,
  refused: Count,
  fromDenyCache: Type.Integer({ minimum: 0, description: 'refusals answered from this instance\'s memory, with no Redis call' }),
  failOpen: Type.Integer({ minimum: 0, description: 'let through because the store failed (policy open)' }),
  local: Type.Integer({ minimum: 0, description: 'decided by the in-process bucket because the store failed (policy local)' })
})

const NodeRow = Type.Object({
  node: Type.String(),
  connection: Type.String({ description: 'the client\'s connection status (ready, connecting, reconnecting, …)' }),
  circuit: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half-open')])
})

export const DashboardData = Type.Object({
  at: Type.Integer({ description: 'epoch ms of this snapshot' }),
  store: Type.Object({
    kind: Type.Union([Type.Literal('redis'), Type.Literal('memory')]),
    status: Type.Union([Type.Literal('up'), Type.Literal('down')]),
    latencyMs: Measured,
    degraded: Type.Array(Degradation, { description: 'what each plugin does while Redis is down; empty while it answers' })
  }),
  nodes: Type.Array(NodeRow, { description: 'circuit state per Redis node; empty on the memory store' }),
  namespaces: Type.Array(NamespaceRow),
  cacheAside: Type.Object({ staleServes: Measured, loaderCalls: Measured, lockWaits: Measured }),
  rateLimit: Type.Object({
    policies: Type.Array(PolicyRow),
    denyCacheEntries: Measured,
    failClosed: Measured
  }),
  sessions: Type.Object({ created: Count, revoked: Count, loggedOutEverywhere: Count, hits: Count, misses: Count }),
  authz: Type.Object({ hits: Count, misses: Count, decidedWithoutCache: Count, invalidations: Count }),
  oauth: Type.Object({ issued: Count, consumed: Count, refused: Count }),
  traffic: Type.Object({
    stepMs: Count,
    requests: Type.Array(Count, { description: 'requests answered per step (three minutes of seconds), oldest first; the last step is the current one' }),
    refused: Type.Array(Count, { description: '429 answers per step' }),
    errors: Type.Array(Count, { description: '5xx answers per step' })
  })
})

export type DashboardSnapshot = Static<typeof DashboardData>

/**
 * Requests, refusals and errors per second over the last minutes: a ring of
 * per-second buckets, each reset when the clock comes back round to it.
 */
export class TrafficSeries {
  readonly stepMs: number
  readonly #slots: number
  readonly #stamp: number[]
  readonly #counts: Array<[number, number, number]>

  constructor (slots = 180, stepMs = 1000) {
    this.stepMs = stepMs
    this.#slots = slots
    this.#stamp = new Array<number>(slots).fill(-1)
    this.#counts = Array.from({ length: slots }, () => [0, 0, 0])
  }

  #slot (step: number): [number, number, number] {
    const i = step % this.#slots
    if (this.#stamp[i] !== step) {
      this.#stamp[i] = step
      this.#counts[i] = [0, 0, 0]
    }
    return this.#counts[i] as [number, number, number]
  }

  record (statusCode: number, now = Date.now()): void {
    const slot = this.#slot(Math.floor(now / this.stepMs))
    slot[0]++
    if (statusCode === 429) slot[1]++
    if (statusCode >= 500) slot[2]++
  }

  /** The last `slots` steps, oldest first, ending with the current one. */
  series (now = Date.now()): DashboardSnapshot['traffic'] {
    const current = Math.floor(now / this.stepMs)
    const out: DashboardSnapshot['traffic'] = { stepMs: this.stepMs, requests: [], refused: [], errors: [] }
    for (let step = current - this.#slots + 1; step <= current; step++) {
      const i = step % this.#slots
      const [requests, refused, errors] = step >= 0 && this.#stamp[i] === step ? this.#counts[i] as [number, number, number] : [0, 0, 0]
      out.requests.push(requests)
      out.refused.push(refused)
      out.errors.push(errors)
    }
    return out
  }
}

/**
 * The events the demo counts from its routes' answers, by `METHOD url status`,
 * for what no plugin counts itself yet. When a route moves, or a plugin
 * starts counting and makes its rows here unnecessary, this table is the one
 * place to update.
 */
export const ROUTE_EVENTS: Record<string, RouteEvent> = {
  'POST /login 201': 'sessionCreated',
  'DELETE /me/sessions/:id 204': 'sessionRevoked',
  'DELETE /me/sessions 200': 'loggedOutEverywhere',
  'PUT /users/:userId/roles/:role 204': 'authzInvalidation',
  'DELETE /users/:userId/roles/:role 204': 'authzInvalidation',
  'POST /oauth/:provider/start 201': 'oauthIssued'
}

export type RouteEvent = 'sessionCreated' | 'sessionRevoked' | 'loggedOutEverywhere' | 'authzInvalidation' | 'oauthIssued'

/** Routes whose traffic is the dashboard watching itself, not the demo at work. */
const UNCOUNTED_URLS = new Set(['/dashboard/data'])

interface PolicyTally { limit: number, windowMs: number, allowed: number, refused: number, fromDenyCache: number, failOpen: number, local: number }

/** The tally each decision source adds to, besides allowed or refused. */
const SOURCE_TALLY: Partial<Record<DecisionSource, 'fromDenyCache' | 'failOpen' | 'local'>> = { 'deny-cache': 'fromDenyCache', open: 'failOpen', local: 'local' }

/** What the dashboard counts from the traffic it sees: the series, the route events, each policy's decisions. */
export class TrafficCounters {
  readonly series = new TrafficSeries()
  readonly events: Record<RouteEvent, number> = { sessionCreated: 0, sessionRevoked: 0, loggedOutEverywhere: 0, authzInvalidation: 0, oauthIssued: 0 }
  readonly policies = new Map<string, PolicyTally>()

  /** An onResponse hook: counts one answered request. */
  readonly onResponse = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const url = request.routeOptions.url
    if (request.routeOptions.schema?.hide === true || (url !== undefined && UNCOUNTED_URLS.has(url))) return
    this.series.record(reply.statusCode)
    const event = ROUTE_EVENTS[`${request.method} ${url ?? ''} ${reply.statusCode}`]
    if (event !== undefined) this.events[event]++
    const state = request.rateLimitDecision
    if (state !== null && state !== undefined) this.#tally(state.scope, state.decision.limit, state.windowMs, state.decision)
  }

  #tally (scope: string, limit: number, windowMs: number, decision: Decision): void {
    let tally = this.policies.get(scope)
    if (tally === undefined) {
      tally = { limit, windowMs, allowed: 0, refused: 0, fromDenyCache: 0, failOpen: 0, local: 0 }
      this.policies.set(scope, tally)
    }
    if (decision.allowed) tally.allowed++
    else tally.refused++
    const source = SOURCE_TALLY[decision.source]
    if (source !== undefined) tally[source]++
  }
}

// ---- one source function per panel: the places to wire new numbers in ----

/**
 * Store health: the same call as /health (a PING under the deadline, the
 * circuit first). The reason of an outage is the client library's text, which
 * belongs in the log, not in a response (lib/problem.ts): it is left out.
 */
async function storeStatus (app: FastifyInstance): Promise<DashboardSnapshot['store']> {
  const health = await app.cache.health()
  return {
    kind: health.store,
    status: health.status,
    latencyMs: health.latencyMs ?? null,
    degraded: health.status === 'up' ? [] : degradations(app)
  }
}

/** Circuit state per Redis node: the client's one breaker, or on a Cluster each master's. */
function redisNodes (app: FastifyInstance): DashboardSnapshot['nodes'] {
  if (app.cache.store.kind !== 'redis') return []
  const store = app.cache.store as unknown as RedisStore
  const client = store.client
  if (store.cluster) {
    return (client as Cluster).nodes('master').map((node) => {
      const name = `${node.options.host as string}:${node.options.port as number}`
      return { node: name, connection: node.status, circuit: store.circuitOf(name) }
    })
  }
  const node = `${(client as Redis).options.host as string}:${(client as Redis).options.port as number}`
  return [{ node, connection: client.status, circuit: store.breaker.state }]
}

/** Hit rate and mean latency per namespace, from the metrics plugin (latency: null where no operation is timed). */
function namespaceStats (app: FastifyInstance): DashboardSnapshot['namespaces'] {
  return Object.entries(app.cacheMetrics.detailedSnapshot()).map(([namespace, s]) => ({
    namespace, hits: s.hits, misses: s.misses, errors: s.errors, degraded: s.degraded, hitRate: s.hitRate, latencyMs: s.latencyMs
  }))
}

/** Stale serves, loader calls and lock waits of cache-aside, summed over the namespaces. */
function cacheAsideStats (app: FastifyInstance): DashboardSnapshot['cacheAside'] {
  const totals = app.cacheMetrics.totals()
  return { staleServes: totals.staleHits, loaderCalls: totals.loaderCalls, lockWaits: totals.lockWaits }
}

/** Decisions per policy (counted here from each request's decision), the deny cache, refusals under `closed`. */
function rateLimitStats (app: FastifyInstance, counters: TrafficCounters): DashboardSnapshot['rateLimit'] {
  const bucket = app.hasDecorator('tokenBucket') ? app.tokenBucket : undefined
  return {
    policies: [...counters.policies].map(([policy, tally]) => ({ policy, ...tally })).sort((a, b) => a.policy.localeCompare(b.policy)),
    denyCacheEntries: bucket?.denyCache.size ?? null,
    failClosed: bucket?.degraded.closed ?? null
  }
}

function sessionStats (app: FastifyInstance, counters: TrafficCounters): DashboardSnapshot['sessions'] {
  const s = app.cacheMetrics.stats(METRICS_NAMESPACES.sessions)
  return { created: counters.events.sessionCreated, revoked: counters.events.sessionRevoked, loggedOutEverywhere: counters.events.loggedOutEverywhere, hits: s.hits, misses: s.misses }
}

function authzStats (app: FastifyInstance, counters: TrafficCounters): DashboardSnapshot['authz'] {
  const s = app.cacheMetrics.stats(METRICS_NAMESPACES.authz)
  return { hits: s.hits, misses: s.misses, decidedWithoutCache: s.degraded, invalidations: counters.events.authzInvalidation }
}

/** Issued: counted from the start route; consumed and refused: the state store's own hits and misses. */
function oauthStats (app: FastifyInstance, counters: TrafficCounters): DashboardSnapshot['oauth'] {
  const s = app.cacheMetrics.stats(METRICS_NAMESPACES.oauth)
  return { issued: counters.events.oauthIssued, consumed: s.hits, refused: s.misses }
}

/** The whole snapshot `GET /dashboard/data` answers. */
export async function dashboardSnapshot (app: FastifyInstance, counters: TrafficCounters, now = Date.now()): Promise<DashboardSnapshot> {
  return {
    at: now,
    store: await storeStatus(app),
    nodes: redisNodes(app),
    namespaces: namespaceStats(app),
    cacheAside: cacheAsideStats(app),
    rateLimit: rateLimitStats(app, counters),
    sessions: sessionStats(app, counters),
    authz: authzStats(app, counters),
    oauth: oauthStats(app, counters),
    traffic: counters.series.series(now)
  }
}

/**
 * The dashboard's data route and its counting hook. Wrapped by fastify-plugin
 * so the hook sees every route of the app: register it before the routes.
 */
export default fp(async function dashboardRoutes (app) {
  const counters = new TrafficCounters()
  app.addHook('onResponse', counters.onResponse)
  await app.register(async (scope) => {
    scope.addHook('onRoute', tagRoutes('dashboard'))
    scope.get('/dashboard/data', { schema: { querystring: Type.Object({}, { additionalProperties: false }), response: { 200: DashboardData } } }, async () => await dashboardSnapshot(app, counters))
  })
}, { fastify: '5.x', name: 'cachekit-demo-dashboard', dependencies: ['cachekit-cache'] })
