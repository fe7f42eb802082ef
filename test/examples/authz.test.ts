import t from 'tap'
import { main as authzExample } from '../../examples/authz.js'
import { startRedis } from '../../harness/redis-server.js'

// docs/authz.md's runnable example must keep running, on both stores.
const redis = await startRedis()
t.teardown(() => redis.stop())

for (const [name, url] of [['memory', undefined], ['redis', redis.url]] as const) {
  t.test(`examples/authz.ts on ${name}`, async (t) => {
    const out = await authzExample(url)
    t.same(out, {
      bobReads: true,
      carolBefore: 403,
      carolAfter: 200,
      aliceAdmin: 200,
      stats: { hits: 0, misses: 4, errors: 0, degraded: 0, total: 4, hitRate: 0 }
    })
  })
}
