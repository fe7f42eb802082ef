import t from 'tap'
import { ThrottledWarning } from '../../lib/log-throttle.js'
import { CacheMetrics } from '../../lib/metrics.js'
import { sleep } from '../../harness/wait.js'

// Failure made visible: counters per namespace, their Prometheus text, and warnings
// throttled to one per interval.

t.test('counts per namespace with total and hit rate', async (t) => {
  const m = new CacheMetrics()
  m.hit('users'); m.hit('users'); m.miss('users'); m.error('users'); m.degraded('users')
  m.miss('posts', 3)
  t.same(m.stats('users'), { hits: 2, misses: 1, errors: 1, degraded: 1, total: 4, hitRate: 0.5 })
  t.same(m.stats('none'), { hits: 0, misses: 0, errors: 0, degraded: 0, total: 0, hitRate: 0 })
  t.same(Object.keys(m.snapshot()), ['posts', 'users'])
  m.reset('users')
  t.same(Object.keys(m.snapshot()), ['posts'])
  m.reset()
  t.same(m.snapshot(), {})
})

t.test('Prometheus exposition', async (t) => {
  const m = new CacheMetrics()
  m.hit('a"b')
  const text = await m.toPrometheus()
  t.match(text, '# TYPE cachekit_cache_hits_total counter')
  t.match(text, 'cachekit_cache_hits_total{namespace="a\\"b"} 1', 'label values are escaped by prom-client')
  t.match(text, 'cachekit_degraded_total{namespace="a\\"b"} 0')
})

t.test('throttled warnings: once per interval per topic, with the suppressed count', async (t) => {
  const lines: Array<{ details: Record<string, unknown>, message: string }> = []
  const w = new ThrottledWarning({ warn: (details, message) => { lines.push({ details: details as Record<string, unknown>, message }) } }, 50)
  t.ok(w.warn('redis', {}, 'down'))
  t.notOk(w.warn('redis', {}, 'down'))
  t.notOk(w.warn('redis', {}, 'down'))
  t.ok(w.warn('other', {}, 'other topic'))
  await sleep(60)
  t.ok(w.warn('redis', { n: 1 }, 'still down'))
  t.equal(lines.length, 3)
  t.same(lines[2]?.details, { n: 1, topic: 'redis', suppressed: 2 })
  t.ok(new ThrottledWarning(undefined).warn('x', {}, 'no logger is fine'))
})

t.test('a near cache\'s held series counts each hit as an L1 hit too', async (t) => {
  const m = new CacheMetrics()
  const near = m.series('users', 'getOrSet', 'hit', true)
  m.record(near, 0.01, true)
  m.record(near, 0.01, false)
  t.match(m.details('users'), { hits: 1, l1Hits: 1 })
  m.record(m.series('users', 'getOrSet', 'hit'), 0.2, true)
  t.match(m.details('users'), { hits: 2, l1Hits: 1 }, 'another series\' hits are not L1 hits')
})

t.test('a held series counts like timedHit, and finds its counters again after a reset', async (t) => {
  const m = new CacheMetrics()
  const hits = m.series('users', 'getOrSet', 'hit')
  m.record(hits, 0.2, true)
  m.timedHit('users', 'getOrSet', 0.2)
  t.equal(m.stats('users').hits, 2)
  t.equal(m.details('users').latencyMs, 0.2)
  m.reset('users')
  m.record(hits, 1, true)
  t.equal(m.stats('users').hits, 1, 'after reset(namespace): counted in the new counters')
  m.reset()
  m.record(hits, 1, false)
  t.match(m.details('users'), { hits: 0, latencyMs: 1 }, 'after reset(): observed, not counted as a hit')
  t.match(await m.toPrometheus(), 'cachekit_cache_operation_duration_seconds_count{namespace="users",operation="getOrSet",result="hit"} 1')
  m.registry.resetMetrics()
  m.record(hits, 1, true)
  t.match(await m.toPrometheus(), 'cachekit_cache_operation_duration_seconds_count{namespace="users",operation="getOrSet",result="hit"} 1', 'after the registry reset its metrics: in the exposition again')
})
