import Fastify from 'fastify'
import { Registry } from 'prom-client'
import t from 'tap'
import type { AccountList } from '../../routes/accounts.js'
import cachePlugin from '../../plugins/cache.js'
import metricsPlugin from '../../plugins/metrics.js'
import { demoApp } from '../helpers/demo.js'
import { until } from '../../harness/wait.js'
import { faultyStore } from '../helpers/faulty-store.js'

// GET /metrics: Prometheus text whose counters match the operations done, for
// cachekit's cache-aside and for every other plugin (they count through the
// shared context), with the process's default metrics; /cache/stats as JSON.

interface Sample { name: string, labels: Record<string, string>, value: number }

/** Parses the Prometheus text exposition format (0.0.4), failing on any line that is not in it. */
function parsePrometheus (text: string): { samples: Sample[], types: Map<string, string> } {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (meta !== null) {
      if (meta[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(meta[3] as string)) throw new Error(`bad TYPE line: ${line}`)
        types.set(meta[2] as string, meta[3] as string)
      }
      continue
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))(?: \d+)?$/.exec(line)
    if (sample === null) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k as string] = v as string
    samples.push({ name: sample[1] as string, labels, value: Number(sample[3]) })
  }
  return { samples, types }
}

const value = (samples: Sample[], name: string, labels: Record<string, string>): number | undefined =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

for (const backend of ['memory', 'redis'] as const) {
  t.test(`/metrics on ${backend}: parses, and counts what was done`, async (t) => {
    const app = await demoApp(t, backend)
    await app.cache.store.clear()
    // a stampede on the slow source: 40 concurrent misses, one load
    const replies = await Promise.all(Array.from({ length: 40 }, async () => await app.inject('/users/u1/accounts')))
    t.same(replies.map((r) => r.statusCode), Array(40).fill(200))
    t.equal(new Set(replies.map((r) => r.json<AccountList>().loadedAt)).size, 1, 'one load answered all 40')
    t.equal((await app.inject('/users/u1/accounts')).statusCode, 200)
    // the other plugins count through the same metrics: a sign-in and its session read back, an authz check
    const login = await app.inject({ method: 'POST', url: '/login', payload: { userId: 'u1' } })
    t.equal(login.statusCode, 201)
    const cookies = { sessionId: login.cookies.find((c) => c.name === 'sessionId')?.value ?? '' }
    t.equal((await app.inject({ url: '/me/sessions', cookies })).statusCode, 200)
    await app.inject({ method: 'POST', url: '/authz/check', payload: { userId: 'bob', resource: 'accounts', action: 'read' } })
    t.equal((await app.inject({ method: 'DELETE', url: '/users/u1/accounts/cache' })).statusCode, 204)
    t.equal((await app.inject('/users/u1/accounts')).statusCode, 200, 'reloaded after its tag was invalidated')

    const answer = await app.inject('/metrics')
    t.equal(answer.statusCode, 200)
    t.match(answer.headers['content-type'], /^text\/plain; version=0\.0\.4/)
    const { samples, types } = parsePrometheus(answer.body)
    const stats = app.cacheMetrics.details('accounts')
    t.equal(types.get('cachekit_cache_hits_total'), 'counter')
    t.equal(types.get('cachekit_cache_operation_duration_seconds'), 'histogram')
    t.equal(value(samples, 'cachekit_cache_loader_calls_total', { namespace: 'accounts' }), stats.loaderCalls)
    t.equal(value(samples, 'cachekit_cache_misses_total', { namespace: 'accounts' }), stats.misses)
    t.equal(value(samples, 'cachekit_cache_hits_total', { namespace: 'accounts' }), stats.hits)
    t.same([stats.misses + stats.hits, stats.loaderCalls], [42, 2], '42 lookups: the stampede\'s 40 and one load, a hit, a miss after the invalidation and one load')
    t.equal(value(samples, 'cachekit_cache_stale_hits_total', { namespace: 'accounts' }), 0)
    t.equal(value(samples, 'cachekit_cache_operation_duration_seconds_count', { namespace: 'accounts', operation: 'getOrSet', result: 'miss' }), stats.misses)
    t.equal(value(samples, 'cachekit_cache_operation_duration_seconds_count', { namespace: 'accounts', operation: 'getOrSet', result: 'hit' }), stats.hits)
    t.equal(value(samples, 'cachekit_cache_operation_duration_seconds_count', { namespace: 'accounts', operation: 'invalidateTags', result: 'ok' }), 1)
    t.ok((value(samples, 'cachekit_cache_hits_total', { namespace: 'sessions' }) ?? 0) >= 1, 'the session cache\'s hits')
    t.equal(value(samples, 'cachekit_cache_misses_total', { namespace: 'authz' }), app.cacheMetrics.stats('authz').misses, 'the authz cache\'s misses')
    t.ok(samples.some((s) => s.name === 'process_cpu_user_seconds_total'), 'the process\'s default metrics')
    t.equal(value(samples, 'cachekit_decisions_total', { namespace: 'ratelimit', policy: 'POST /login', outcome: 'allowed', source: 'store' }), 1, 'the rate limiter\'s decision, by policy and outcome')
    t.equal(value(samples, 'cachekit_decisions_total', { namespace: 'ratelimit', policy: 'GET /users/:userId/accounts', outcome: 'allowed' }), 42)
    t.same(app.cacheMetrics.decisions().find((d) => d.policy === 'POST /login'), { namespace: 'ratelimit', policy: 'POST /login', outcome: 'allowed', source: 'store', count: 1 })
    t.ok(samples.every((s) => s.labels.key === undefined), 'no key is ever a label')

    const json = (await app.inject('/cache/stats')).json<{ namespaces: Record<string, { loaderCalls: number }> }>()
    t.equal(json.namespaces.accounts?.loaderCalls, stats.loaderCalls, '/cache/stats says the same, as JSON')
  })
}

t.test('stale inside grace through the demo route: the old list at once, one refresh', async (t) => {
  const app = await demoApp(t, 'memory')
  t.equal((await app.inject('/users/u3/accounts')).statusCode, 200)
  // age the entry: rewrite it with its fresh time in the past, generations kept
  const raw = await app.cache.store.get('cachekit:accounts:v:u3')
  const aged = (raw.ok ? raw.value as string : '').replace(/^ck1\|\d+\|\d+\|/, `ck1|${Date.now() - 1}|${Date.now() + 60_000}|`)
  await app.cache.store.set('cachekit:accounts:v:u3', aged, { ttl: 60 })
  const first = (await app.inject('/users/u3/accounts')).json<AccountList>()
  const stale = await Promise.all(Array.from({ length: 20 }, async () => (await app.inject('/users/u3/accounts')).json<AccountList>()))
  t.ok(stale.every((s) => s.loadedAt === first.loadedAt), 'every answer is the stale list')
  await until('the refresh is written', async () => (await app.inject('/users/u3/accounts')).json<AccountList>().loadedAt !== first.loadedAt)
  const d = app.cacheMetrics.details('accounts')
  t.equal(d.loaderCalls, 2, 'the first load and exactly one refresh')
  t.ok(d.staleHits >= 21)
  const dashboard = (await app.inject('/dashboard/data')).json<{ cacheAside: { staleServes: number, loaderCalls: number } }>()
  t.equal(dashboard.cacheAside.staleServes, d.staleHits)
  t.equal(dashboard.cacheAside.loaderCalls, 2)
})

t.test('your own prom-client Registry holds cachekit\'s metrics', async (t) => {
  const registry = new Registry()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(metricsPlugin, { registry })
  await app.register(cachePlugin)
  const ns = app.cache.namespace<number>('mine', { ttl: 10 })
  await ns.getOrSet('k', () => 1)
  await ns.getOrSet('k', () => 1)
  const text = await registry.metrics()
  t.match(text, 'cachekit_cache_loader_calls_total{namespace="mine"} 1')
  t.match(text, 'cachekit_cache_hits_total{namespace="mine"} 1')
  t.equal(app.cacheMetrics.registry, registry)
  const bad = Fastify()
  t.teardown(() => bad.close())
  await t.rejects(async () => { await bad.register(metricsPlugin, { prefix: 'bad-prefix' }) }, /option prefix/, 'options are checked')
})

t.test('the slow source\'s failures: a LOADER failure is a 500 problem, an invalidation on a failing store a 503', async (t) => {
  const app = await demoApp(t, 'memory')
  const failed = await app.inject('/users/down-1/accounts')
  t.equal(failed.statusCode, 500)
  t.match(failed.json(), { code: 'INTERNAL', instance: '/users/down-1/accounts' })
  t.notMatch(failed.body, /provider of down-1 is down/, 'the loader\'s own message stays in the log')
  faultyStore(t, app.cache.store).fail('UNAVAILABLE')
  const refused = await app.inject({ method: 'DELETE', url: '/users/u1/accounts/cache' })
  t.equal(refused.statusCode, 503)
  t.equal((await app.inject('/users/u9/accounts')).statusCode, 200, 'reads fail open: the source answers')
})

t.test('metrics: registering the plugin twice keeps the counters; resetting the registry resets the latencies', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(metricsPlugin)
  const first = app.cacheMetrics
  await app.register(metricsPlugin)
  await app.ready()
  t.equal(app.cacheMetrics, first)
  first.observe('x', 'get', 'hit', 0.2)
  first.observe('x', 'get', 'hit', 5000)
  t.match(await first.toPrometheus(), 'cachekit_cache_operation_duration_seconds_bucket{namespace="x",operation="get",result="hit",le="+Inf"} 2')
  t.match(await first.toPrometheus(), 'cachekit_cache_operation_duration_seconds_bucket{namespace="x",operation="get",result="hit",le="2.5"} 1')
  first.registry.resetMetrics()
  t.notMatch(await first.toPrometheus(), 'namespace="x",operation="get"')
  first.decision('ratelimit', 'GET /x', 'refused', 'deny-cache')
  first.decision('ratelimit', 'GET /x', 'refused', 'deny-cache')
  t.match(await first.toPrometheus(), 'cachekit_decisions_total{namespace="ratelimit",policy="GET /x",outcome="refused",source="deny-cache"} 2')
  first.reset()
  t.same(first.decisions(), [])
})
