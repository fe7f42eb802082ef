import t from 'tap'
import { buildApp } from '../../demo/app.js'
import { startSentinel } from '../../harness/redis-sentinel.js'
import { sleep, until } from '../../harness/wait.js'
import { injector, tour } from './demo-tour.js'

// The primary behind Sentinel dies: calls fail within their deadline while
// there is no primary, and once the sentinel promotes the replica the demo
// finds it by itself and every plugin works again, the rate limiter enforcing.

const DEADLINE_MS = 250
/** As in failover.test.ts: the 50 ms plus 150 ms for this shared machine. */
const MARGIN_MS = 50 + 150

t.test('Sentinel promotes the replica: the demo follows with no manual step', async (t) => {
  const sentinel = await startSentinel()
  if (sentinel === null) { t.pass('skipped: no redis-server'); return }
  t.teardown(() => sentinel.stop())
  const app = await buildApp({
    LOG_LEVEL: 'silent',
    TRUST_PROXY: 'true',
    REDIS_SENTINELS: sentinel.sentinels.map(({ host, port }) => `${host}:${port}`).join(','),
    REDIS_SENTINEL_NAME: sentinel.name,
    CACHE_COMMAND_TIMEOUT_MS: String(DEADLINE_MS)
  })
  t.teardown(() => app.close())
  await app.ready()
  t.same(await tour(injector(app), 'erin', '10.0.0.1'), [], 'every plugin works on the first primary')

  const old = await sentinel.killPrimary()
  // no primary: each call fails, and fails within its deadline
  let slowest = 0
  let failed = 0
  const failingOver = sentinel.failedOver(old)
  const promoted = { yet: false }
  failingOver.then(() => { promoted.yet = true }, () => {})
  while (!promoted.yet) {
    const started = performance.now()
    const r = await app.cache.get('gap:probe')
    slowest = Math.max(slowest, performance.now() - started)
    if (!r.ok) failed++
    await sleep(20)
  }
  const next = await failingOver
  const promotedAt = performance.now()
  t.not(next, old, `the sentinel named a new primary (${old} → ${next})`)
  t.ok(failed > 0, `calls failed while there was no primary (${failed})`)
  t.ok(slowest <= DEADLINE_MS + MARGIN_MS, `each within its deadline + ${MARGIN_MS} ms (slowest ${slowest.toFixed(1)} ms)`)

  await until('the cache works on the new primary', async () => (await app.cache.set('after:failover', 'x')).ok, { withinMs: 10_000, everyMs: 10 })
  const healedMs = performance.now() - promotedAt
  t.comment(`Sentinel: ${failed} calls failed during the gap, slowest ${slowest.toFixed(1)} ms; the cache worked again ${Math.round(healedMs)} ms after the promotion was visible`)
  t.same(await tour(injector(app), 'frank', '10.0.0.2'), [], 'every plugin works on the new primary, the rate limit enforced')
})
