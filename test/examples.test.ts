import t from 'tap'
import { main as cacheExample } from '../examples/cache.js'
import { startRedis } from './helpers/redis-server.js'

// The docs' runnable examples must keep running, on both stores.
const redis = await startRedis()
t.teardown(() => redis.stop())

for (const [name, url] of [['memory', undefined], ['redis', redis.url]] as const) {
  t.test(`examples/cache.ts on ${name}`, async (t) => {
    const out = await cacheExample(url)
    t.same(out.hit, { ok: true, value: 'hello' })
    t.same(out.miss, { ok: true, value: null })
    t.same(out.user, { id: 42, name: 'user 42' })
    t.same(out.counter, { ok: true, value: 1 })
    t.same(out.deleted, { ok: true, value: 1 })
    t.match(out.stats, { greetings: { hits: 1, misses: 1 } })
  })
}
