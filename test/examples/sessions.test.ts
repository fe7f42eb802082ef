import t from 'tap'
import { main as sessionsExample } from '../../examples/sessions.js'
import { startRedis } from '../../harness/redis-server.js'

// docs/sessions.md's runnable example must keep running, on both stores.
const redis = await startRedis()
t.teardown(() => redis.stop())

for (const [name, url] of [['memory', undefined], ['redis', redis.url]] as const) {
  t.test(`examples/sessions.ts on ${name}`, async (t) => {
    t.same(await sessionsExample(url), {
      readBack: 'Firefox',
      fromDatabase: 'stored',
      cartBack: ['book'],
      dateBack: 1_700_000_000_123,
      sessionsBefore: 2,
      loggedOut: 1,
      lateWrite: 'revoked',
      phoneAfter: null,
      laptopIp: '203.0.113.8'
    })
  })
}

t.test('examples/sessions.ts with Redis down carries on without the cache', async (t) => {
  const down = await startRedis()
  await down.kill()
  t.teardown(() => down.stop())
  t.same(await sessionsExample(down.url), { cacheDown: true })
})
