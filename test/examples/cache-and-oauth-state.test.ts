import t from 'tap'
import { main as cacheExample } from '../../examples/cache.js'
import { main as oauthExample } from '../../examples/oauth-state.js'
import { startRedis } from '../../harness/redis-server.js'

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

for (const [name, url] of [['memory', undefined], ['redis', redis.url]] as const) {
  t.test(`examples/oauth-state.ts on ${name}`, async (t) => {
    const out = await oauthExample(url)
    t.equal(out.stateLength, 43)
    t.equal(out.expiresIn, 600)
    t.same(out.accepted, { userId: 'alice', provider: 'github' })
    t.equal(out.verifierMatches, true)
    t.same(out.replay, { ok: true, value: null }, 'a replay is refused')
    t.same(out.stolen, { ok: true, value: null }, 'another user is refused')
    t.same(out.afterTheft, { ok: true, value: null }, 'and the state stays burned')
    t.match(out.malformed, { ok: false, error: { code: 'INVALID_ARGUMENT' } }, 'a malformed state is refused')
  })
}
