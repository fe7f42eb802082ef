import t from 'tap'
import { until } from '../../harness/wait.js'
import dashboardRoutes, { TrafficSeries, type DashboardSnapshot } from '../../routes/dashboard.js'
import { cachekitApp } from '../helpers/apps.js'
import { fileCluster, fileRedis, ownRedis } from '../helpers/backends.js'
import { demoApp } from '../helpers/demo.js'

// The landing page and the numbers its dashboard polls (GET /dashboard/data):
// each panel moves when the demo's routes are used, on the memory store, on
// Redis, and while Redis is down.

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0)

t.test('GET / is the landing page: links to the reference and the probes, nothing loaded from elsewhere', async (t) => {
  const app = await demoApp(t, 'memory')
  const page = await app.inject('/')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  for (const link of ['/docs', '/docs/json', '/health/ready', '/health/live', '/metrics', '/dashboard/data']) t.match(page.body, `href="${link}"`, `links to ${link}`)
  const loaded = [...page.body.matchAll(/<(?:script|link)[^>]+(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string)
  t.same(loaded.sort(), ['/dashboard.js', '/style.css'])
  for (const asset of loaded) {
    const answer = await app.inject(asset)
    t.equal(answer.statusCode, 200, asset)
    t.notMatch(answer.body, /(src|url)\(?["']?https?:\/\//, `${asset} fetches nothing from another host`)
  }
})

t.test('memory store: every panel counts what the demo\'s routes do', async (t) => {
  const app = await demoApp(t, 'memory')
  const data = async (): Promise<DashboardSnapshot> => (await app.inject('/dashboard/data')).json()
  const before = await data()
  t.match(before.store, { kind: 'memory', status: 'up', latencyMs: Number, degraded: [] })
  t.same(before.nodes, [], 'no Redis, no circuit')
  t.same(before.cacheAside, { staleServes: 0, loaderCalls: 0, lockWaits: 0 }, 'cache-aside counted from the start')
  t.equal(sum(before.traffic.requests), 0)
  t.equal(before.traffic.requests.length, 180, 'three minutes of seconds')

  // a login burst: 5 pass, the 6th is refused by the store, the 7th from the deny cache
  const logins = []
  for (let i = 0; i < 7; i++) logins.push(await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' } }))
  t.same(logins.map((r) => r.statusCode), [201, 201, 201, 201, 201, 429, 429])
  // one of the five devices lists its sessions, signs another out, then logs out everywhere
  const cookies = { sessionId: logins[0]?.cookies.find((c) => c.name === 'sessionId')?.value as string }
  const listed = await app.inject({ method: 'GET', url: '/me/sessions', cookies })
  const other = listed.json().sessions.find((s: { current: boolean }) => !s.current).id as string
  t.equal((await app.inject({ method: 'DELETE', url: `/me/sessions/${other}`, cookies })).statusCode, 204)
  t.equal((await app.inject({ method: 'DELETE', url: '/me/sessions', cookies })).statusCode, 200)
  // authz: a role change, then the same check twice (computed, then cached)
  t.equal((await app.inject({ method: 'PUT', url: '/users/carol/roles/user' })).statusCode, 204)
  for (let i = 0; i < 2; i++) t.equal((await app.inject({ url: '/accounts/a1', headers: { 'x-user-id': 'carol' } })).statusCode, 200)
  // OAuth: issue, consume, replay
  const state = (await app.inject({ method: 'POST', url: '/oauth/demo/start', payload: { userId: 'u1' } })).json().state as string
  for (let i = 0; i < 2; i++) await app.inject(`/oauth/demo/callback?code=c&state=${encodeURIComponent(state)}`)
  // not the demo at work: unknown routes count, the dashboard's own polls and the reference's files do not
  t.equal((await app.inject('/nowhere')).statusCode, 404)
  await app.inject('/docs/json')
  await app.inject('/style.css')

  const after = await data()
  t.equal(sum(after.traffic.requests), 7 + 3 + 3 + 3 + 1, 'every request of the demo\'s routes, none of the page\'s')
  t.equal(sum(after.traffic.refused), 2)
  t.equal(sum(after.traffic.errors), 0)
  t.same(after.rateLimit.policies.find((p) => p.policy === 'POST /login'),
    { policy: 'POST /login', limit: 5, windowMs: 60_000, allowed: 5, refused: 2, fromDenyCache: 1, failOpen: 0, local: 0 })
  t.equal(after.rateLimit.denyCacheEntries, 1)
  t.equal(after.rateLimit.failClosed, 0)
  t.match(after.sessions, { created: 5, revoked: 1, loggedOutEverywhere: 1 })
  t.same(after.authz, { hits: 1, misses: 1, decidedWithoutCache: 0, invalidations: 1 })
  t.same(after.oauth, { issued: 1, consumed: 1, refused: 1 })
  t.same(after.namespaces.map((n) => n.namespace), ['authz', 'oauth', 'sessions'])
  t.match(after.namespaces[0], { hits: 1, misses: 1, hitRate: 0.5, latencyMs: null })
})

t.test('on Redis: the node, its connection and its circuit', async (t) => {
  const redis = await fileRedis()
  const app = await demoApp(t, 'redis')
  const data = (await app.inject('/dashboard/data')).json<DashboardSnapshot>()
  t.match(data.store, { kind: 'redis', status: 'up', degraded: [] })
  t.type(data.store.latencyMs, 'number')
  t.same(data.nodes, [{ node: new URL(redis.url).host, connection: 'ready', circuit: 'closed' }])
})

t.test('Redis down: the page shows the outage, the open circuit and the fail-open decisions', async (t) => {
  const redis = await ownRedis(t)
  await redis.kill()
  const app = await demoApp(t, redis, { CACHE_COMMAND_TIMEOUT_MS: '100' })
  const data = async (): Promise<DashboardSnapshot> => {
    const answer = await app.inject('/dashboard/data')
    t.equal(answer.statusCode, 200, 'the dashboard answers through the outage')
    return answer.json()
  }
  const first = await data()
  t.same(Object.keys(first.store).sort(), ['degraded', 'kind', 'latencyMs', 'status'], 'no client-library text')
  t.match(first.store, { kind: 'redis', status: 'down', latencyMs: null })
  t.ok(first.store.degraded.some((d) => d.component === 'oauth-state'), 'it says what each plugin does meanwhile')
  // each poll pings; consecutive failures open the circuit
  await until('the circuit opens', async () => (await data()).nodes[0]?.circuit !== 'closed')

  const login = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' } })
  t.equal(login.statusCode, 503, 'the session cannot be stored')
  const after = await data()
  t.match(after.rateLimit.policies.find((p) => p.policy === 'POST /login'), { allowed: 1, failOpen: 1 })
  t.equal(sum(after.traffic.errors), 1)
  t.ok(after.namespaces.some((n) => n.namespace === 'ratelimit.open' && n.degraded === 1), 'the fail-open decision is counted by the metrics too')
})

t.test('on a Cluster each master is a node with its own circuit', async (t) => {
  const cluster = await fileCluster()
  if (cluster === null) { t.pass('skipped: no redis-server'); return }
  const app = await demoApp(t, 'memory', {}, { redisClient: await cluster.client() })
  const data = (await app.inject('/dashboard/data')).json<DashboardSnapshot>()
  t.same(data.nodes.map((n) => n.node).sort(), cluster.masters().map((port) => `127.0.0.1:${port}`).sort())
  t.ok(data.nodes.every((n) => n.circuit === 'closed' && n.connection === 'ready'))
})

t.test('in an app without the rate limiter: its numbers are n/a, the traffic is still counted', async (t) => {
  const app = await cachekitApp(t, 'memory')
  await app.register(dashboardRoutes)
  app.get('/x', async () => 'x')
  await app.inject('/x')
  const data = (await app.inject('/dashboard/data')).json<DashboardSnapshot>()
  t.same(data.rateLimit, { policies: [], denyCacheEntries: null, failClosed: null })
  t.equal(sum(data.traffic.requests), 1)
})

t.test('TrafficSeries: one slot per second, oldest first, a slot forgotten when its second comes round again', async (t) => {
  const series = new TrafficSeries(3, 1000)
  series.record(200, 10_000)
  series.record(429, 10_500)
  series.record(503, 11_000)
  t.same(series.series(11_999), { stepMs: 1000, requests: [0, 2, 1], refused: [0, 1, 0], errors: [0, 0, 1] })
  t.same(series.series(13_000).requests, [1, 0, 0], 'second 10 has left the window')
  series.record(200, 13_000) // the slot second 10 used
  t.same(series.series(13_000).requests, [1, 0, 1])
  t.same(series.series(500).requests, [0, 0, 0], 'before the epoch\'s third second: nothing, no stale slot')
})
