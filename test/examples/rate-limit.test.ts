import t from 'tap'
import { startRedis } from '../../harness/redis-server.js'

// docs/rate-limit.md's runnable example must keep running, on both stores.
const redis = await startRedis()
t.teardown(() => redis.stop())

t.test('examples/rate-limit.ts runs on the memory store', async (t) => {
  const { main } = await import('../../examples/rate-limit.js')
  const out = await main('')
  t.same(out.logins, [200, 200, 200, 200, 200, 429], 'POST /login: 5 a minute per IP')
  t.same(out.accounts, [200, 200, 429])
  t.equal(out.retryAfter, '30', 'a token is back in 30 s')
  t.equal(out.draft, '"GET /accounts/:id";r=1;t=30')
  t.match(out.login, { ok: true, value: { allowed: true, remaining: 9, source: 'store' } })
})

t.test('examples/rate-limit.ts runs on Redis', async (t) => {
  const { main } = await import('../../examples/rate-limit.js')
  const out = await main(redis.url)
  t.same([out.logins, out.accounts], [[200, 200, 200, 200, 200, 429], [200, 200, 429]])
})
