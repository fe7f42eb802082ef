import t from 'tap'
import { AuthzCache, type Decider } from '../../lib/authz/authz-cache.js'
import { AUTHZ_SCRIPTS } from '../../lib/authz/scripts.js'
import { KeyBuilder } from '../../lib/keys.js'
import { CacheMetrics } from '../../lib/metrics.js'
import type { Store } from '../../lib/store/store.js'
import { commandCalls } from '../helpers/commandstats.js'
import { startRedis } from '../../harness/redis-server.js'
import { redisStore } from '../helpers/stores.js'

// What only a real Redis can show: the command count of an invalidation, and
// answers that stay correct while Redis is down, hung or back.
const redis = await startRedis()
t.teardown(() => redis.stop())
const keys = new KeyBuilder({ prefix: 'authz-redis' })
const admin = redis.client()

async function waitUntilUp (store: Store): Promise<void> {
  for (let i = 0; i < 100 && !(await store.ping()).ok; i++) await new Promise((resolve) => setTimeout(resolve, 50))
}

function grantsDecider (grants: Set<string>): Decider & { calls: number } {
  const decider = Object.assign(async (subject: string, resource: string, action: string): Promise<boolean> => {
    decider.calls++
    return grants.has(`${subject} ${resource} ${action}`)
  }, { calls: 0 })
  return decider
}

t.test('invalidateSubject sends the same commands with 10 and with 10,000 cached decisions', async (t) => {
  const { store, close } = await redisStore(redis, 'authz-redis')
  t.teardown(close)
  await store.loadScripts(AUTHZ_SCRIPTS)
  const decider = grantsDecider(new Set())
  const cache = new AuthzCache({ store, keys, decider })

  const measure = async (decisions: number): Promise<Record<string, number>> => {
    await redis.flush()
    // the first decision creates the generations; concurrent first misses would
    // see them appear and, unable to tell that from an invalidation, not cache
    await cache.check('ann', 'doc0', 'read')
    for (let start = 1; start < decisions; start += 500) {
      const batch = Array.from({ length: Math.min(500, decisions - start) }, (_, i) => cache.check('ann', `doc${start + i}`, 'read'))
      await Promise.all(batch)
    }
    t.equal(await admin.dbsize(), decisions + 2, `${decisions} decisions cached (plus two generations)`)
    await admin.config('RESETSTAT')
    t.same(await cache.invalidateSubject('ann'), { ok: true, value: true })
    return await commandCalls(admin)
  }

  const few = await measure(10)
  const many = await measure(10_000)
  t.same(few, { set: 1 }, 'one SET')
  t.same(many, few, 'the same with 10,000 decisions')
  const before = decider.calls
  await cache.check('ann', 'doc9999', 'read')
  await cache.check('ann', 'doc0', 'read')
  t.equal(decider.calls - before, 2, 'and every one of them is forgotten')
})

t.test('invalidateAll sends one command per shard, however many decisions', async (t) => {
  const { store, close } = await redisStore(redis, 'authz-redis')
  t.teardown(close)
  const cache = new AuthzCache({ store, keys, decider: grantsDecider(new Set()), shards: 4 })
  await redis.flush()
  await Promise.all(Array.from({ length: 2000 }, (_, i) => cache.check(`user${i % 50}`, `doc${i}`, 'read')))
  await admin.config('RESETSTAT')
  t.same(await cache.invalidateAll(), { ok: true, value: true })
  const calls = await commandCalls(admin)
  t.same(calls, { set: 4 })
})

t.test('a hit is one round trip: one EVALSHA', async (t) => {
  const { store, close } = await redisStore(redis, 'authz-redis')
  t.teardown(close)
  const cache = new AuthzCache({ store, keys, decider: grantsDecider(new Set(['ann doc read'])) })
  await redis.flush()
  await cache.check('ann', 'doc', 'read')
  await admin.config('RESETSTAT')
  t.equal(await cache.check('ann', 'doc', 'read'), true)
  const calls = await commandCalls(admin)
  t.same(calls, { evalsha: 1, get: 3 }, 'one EVALSHA (the three GETs run inside it)')
})

t.test('with Redis down the decider answers, correctly, and it is counted', async (t) => {
  const { store, close } = await redisStore(redis, 'authz-redis')
  t.teardown(close)
  const metrics = new CacheMetrics()
  const grants = new Set(['ann doc read'])
  const decider = grantsDecider(grants)
  const cache = new AuthzCache({ store, keys, decider, metrics })
  await redis.flush()
  t.equal(await cache.check('ann', 'doc', 'read'), true)
  await redis.kill()
  t.teardown(async () => { await redis.restart() })
  for (let i = 0; i < 5; i++) {
    t.equal(await cache.check('ann', 'doc', 'read'), true, 'allowed by the decider')
    t.equal(await cache.check('bob', 'doc', 'read'), false, 'denied by the decider, never allowed by default')
  }
  t.equal(decider.calls, 11)
  t.match(metrics.stats('authz'), { degraded: 10, errors: 10 })
  grants.clear()
  t.equal(await cache.check('ann', 'doc', 'read'), false, 'a policy change shows at once')
  const r = await cache.invalidateSubject('ann')
  t.equal(!r.ok && r.error.code, 'UNAVAILABLE', 'an invalidation that cannot reach Redis says so')

  await redis.restart()
  await waitUntilUp(store)
  grants.add('ann doc read')
  t.equal(await cache.check('ann', 'doc', 'read'), true, 'back on the cache once Redis is back')
  t.equal(await cache.check('ann', 'doc', 'read'), true)
  t.equal(decider.calls, 13, 'the last answer was a hit')
})

t.test('a decision whose write fails is still answered', async (t) => {
  const { store, close } = await redisStore(redis, 'authz-redis')
  t.teardown(close)
  const metrics = new CacheMetrics()
  const cache = new AuthzCache({ store, keys, metrics, decider: async () => { await redis.kill(); return true } })
  t.teardown(async () => { await redis.restart() })
  t.equal(await cache.check('ann', 'doc', 'read'), true)
  t.match(metrics.stats('authz'), { misses: 1, errors: 1 })
})

t.test('a failed invalidation is retried, and this instance asks the decider until it gets through', async (t) => {
  const a = await redisStore(redis, 'authz-redis')
  const b = await redisStore(redis, 'authz-redis')
  t.teardown(async () => { await a.close(); await b.close() })
  const grants = new Set(['ann doc read'])
  const decideA = grantsDecider(grants)
  const metrics = new CacheMetrics()
  const cacheA = new AuthzCache({ store: a.store, keys, decider: decideA, metrics })
  const cacheB = new AuthzCache({ store: b.store, keys, decider: grantsDecider(grants) })
  await redis.flush()
  t.equal(await cacheB.check('ann', 'doc', 'read'), true, 'instance B caches an allow')

  // the revocation's invalidation cannot get through: Redis hangs
  grants.delete('ann doc read')
  redis.pause()
  const r = await cacheA.invalidateSubject('ann')
  t.equal(!r.ok && r.error.code, 'TIMEOUT')
  t.equal(await cacheA.check('ann', 'doc', 'read'), false, 'A asks the decider while it owes an invalidation')
  redis.resume()
  await waitUntilUp(a.store)

  t.equal(await cacheA.check('ann', 'doc', 'read'), false, 'A retries (invalidateAll) before its next check')
  t.equal(await cacheB.check('ann', 'doc', 'read'), false, 'and B no longer serves the old allow')
  const callsBefore = decideA.calls
  t.equal(await cacheA.check('ann', 'doc', 'read'), false)
  t.equal(decideA.calls, callsBefore, 'once settled, A is back on the cache')
  t.ok(metrics.stats('authz').degraded >= 1)
})
