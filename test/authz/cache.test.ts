import t from 'tap'
import { AuthzCache, type AuthzCacheOptions, type Decider } from '../../lib/authz/authz-cache.js'
import { AUTHZ_SCRIPTS, authzRead, authzWrite } from '../../lib/authz/scripts.js'
import { KeyBuilder } from '../../lib/keys.js'
import { CacheMetrics } from '../../lib/metrics.js'
import type { Store } from '../../lib/store/store.js'
import { sleep } from '../../harness/wait.js'
import { cachekitApp } from '../helpers/apps.js'
import { fileCluster, fileRedis, storeBackends } from '../helpers/backends.js'
import { commandCalls } from '../helpers/commandstats.js'
import { faultyStore } from '../helpers/faulty-store.js'
import { memoryStore, redisStore } from '../helpers/stores.js'
import { ComponentContext } from '../../lib/context.js'

// The decision cache on every backend (a Cluster too: each script's keys share
// one hash tag): what is cached, for how long, and what an invalidation forgets.
const redis = await fileRedis()
const backends = await storeBackends('authz-test', { cluster: true })

/** A decider over a table of "subject resource action" grants, counting its calls. */
function tableDecider (grants: Set<string>): Decider & { calls: string[] } {
  const calls: string[] = []
  const decider = async (subject: string, resource: string, action: string): Promise<boolean> => {
    calls.push(`${subject} ${resource} ${action}`)
    return grants.has(`${subject} ${resource} ${action}`)
  }
  return Object.assign(decider, { calls })
}

for (const { name, store } of backends) {
  t.test(`authz cache: ${name}`, async (t) => {
    t.beforeEach(async () => { await store.clear() })
    const keys = new KeyBuilder({ prefix: 'authz-test' })
    const make = (decider: Decider, { metrics, ...options }: Partial<AuthzCacheOptions> & { metrics?: CacheMetrics } = {}): AuthzCache =>
      new AuthzCache(new ComponentContext({ store, keys, metrics }), { decider, ...options })

    t.test('a miss asks the decider and caches; the hit does not ask again', async (t) => {
      const decider = tableDecider(new Set(['ann doc read']))
      const metrics = new CacheMetrics()
      const cache = make(decider, { metrics })
      t.equal(await cache.check('ann', 'doc', 'read'), true)
      t.equal(await cache.check('ann', 'doc', 'read'), true)
      t.equal(await cache.check('ann', 'doc', 'write'), false)
      t.equal(await cache.check('ann', 'doc', 'write'), false)
      t.same(decider.calls, ['ann doc read', 'ann doc write'], 'the decider was asked once per decision')
      t.match(metrics.stats('authz'), { hits: 2, misses: 2, errors: 0, degraded: 0 })
    })

    t.test('allow and deny are cached with their own TTLs', async (t) => {
      const cache = make(tableDecider(new Set(['ann doc read'])), { allowTtl: 120, denyTtl: 30 })
      await cache.check('ann', 'doc', 'read')
      await cache.check('ann', 'doc', 'write')
      const allowTtl = await store.ttl((cache.decisionKey('ann', 'doc', 'read') as { value: string }).value)
      const denyTtl = await store.ttl((cache.decisionKey('ann', 'doc', 'write') as { value: string }).value)
      t.ok(allowTtl.ok && allowTtl.value !== null && allowTtl.value > 119 && allowTtl.value <= 120, `allow ttl ${JSON.stringify(allowTtl)}`)
      t.ok(denyTtl.ok && denyTtl.value !== null && denyTtl.value > 29 && denyTtl.value <= 30, `deny ttl ${JSON.stringify(denyTtl)}`)
    })

    t.test('a deny expires on its own TTL while the allow stays', async (t) => {
      const decider = tableDecider(new Set(['ann doc read']))
      const cache = make(decider, { allowTtl: 60, denyTtl: 0.1 })
      await cache.check('ann', 'doc', 'read')
      await cache.check('ann', 'doc', 'write')
      await sleep(150)
      t.equal(await cache.check('ann', 'doc', 'read'), true)
      t.equal(await cache.check('ann', 'doc', 'write'), false)
      t.same(decider.calls, ['ann doc read', 'ann doc write', 'ann doc write'], 'only the deny was asked again')
    })

    t.test('a decider error denies and is not cached', async (t) => {
      let calls = 0
      const cache = make(async () => {
        calls++
        if (calls === 1) throw new Error('policy store down')
        return true
      })
      t.equal(await cache.check('ann', 'doc', 'read'), false, 'the error denies')
      t.equal(await cache.check('ann', 'doc', 'read'), true, 'the next check asks again')
      t.equal(await cache.check('ann', 'doc', 'read'), true)
      t.equal(calls, 2, 'the good answer was cached, the error was not')
    })

    t.test('a decider answering something other than a boolean denies, uncached', async (t) => {
      let calls = 0
      const cache = make((async () => { calls++; return 'yes' }) as unknown as Decider)
      t.equal(await cache.check('ann', 'doc', 'read'), false)
      t.equal(await cache.check('ann', 'doc', 'read'), false)
      t.equal(calls, 2)
    })

    t.test('invalidateSubject forgets that subject only', async (t) => {
      const grants = new Set(['ann doc read', 'bob doc read'])
      const decider = tableDecider(grants)
      const cache = make(decider)
      await cache.check('ann', 'doc', 'read')
      await cache.check('bob', 'doc', 'read')
      grants.delete('ann doc read')
      t.same(await cache.invalidateSubject('ann'), { ok: true, value: true })
      t.equal(await cache.check('ann', 'doc', 'read'), false, 'the very next check sees the change')
      t.equal(await cache.check('bob', 'doc', 'read'), true)
      t.same(decider.calls, ['ann doc read', 'bob doc read', 'ann doc read'], 'bob stayed cached')
    })

    t.test('invalidateAll forgets every decision', async (t) => {
      const grants = new Set(['ann doc read', 'bob doc read'])
      const decider = tableDecider(grants)
      const cache = make(decider)
      await cache.check('ann', 'doc', 'read')
      await cache.check('bob', 'doc', 'read')
      grants.clear()
      t.same(await cache.invalidateAll(), { ok: true, value: true })
      t.equal(await cache.check('ann', 'doc', 'read'), false)
      t.equal(await cache.check('bob', 'doc', 'read'), false)
      t.equal(decider.calls.length, 4)
    })

    t.test('a decision made while an invalidation ran is not cached', async (t) => {
      const grants = new Set(['ann doc read'])
      const late: { cache?: AuthzCache } = {} // the decider needs the cache it is made for
      let invalidateDuring: 'subject' | 'all' | undefined
      const decider = async (subject: string, resource: string, action: string): Promise<boolean> => {
        const answer = grants.has(`${subject} ${resource} ${action}`)
        // the policy changes after the decider read it: its answer is already stale
        if (invalidateDuring !== undefined) {
          grants.clear()
          if (invalidateDuring === 'subject') await late.cache?.invalidateSubject(subject)
          else await late.cache?.invalidateAll()
          invalidateDuring = undefined
        }
        return answer
      }
      const cache = make(decider)
      late.cache = cache
      invalidateDuring = 'subject'
      t.equal(await cache.check('ann', 'doc', 'read'), true, 'the stale answer is returned once (it was true when asked)')
      t.equal(await cache.check('ann', 'doc', 'read'), false, 'but it was not cached')
      grants.add('ann doc read')
      await cache.invalidateSubject('ann')
      t.equal(await cache.check('ann', 'doc', 'read'), true)
      invalidateDuring = 'all'
      await cache.invalidateSubject('ann')
      t.equal(await cache.check('ann', 'doc', 'read'), true)
      t.equal(await cache.check('ann', 'doc', 'read'), false, 'not cached across an invalidateAll either')
    })

    t.test('a decider slower than the generation lifetime is not cached', async (t) => {
      let calls = 0
      const cache = make(async () => { calls++; await sleep(80); return true }, { allowTtl: 0.05, denyTtl: 0.05 })
      t.equal(await cache.check('ann', 'doc', 'read'), true)
      t.equal(await cache.check('ann', 'doc', 'read'), true)
      t.equal(calls, 2)
    })

    t.test('generations live as long as the decisions that carry them', async (t) => {
      const decider = tableDecider(new Set(['ann doc read']))
      // short TTLs make short-lived generations; a longer decision must extend them
      await make(decider, { allowTtl: 0.05, denyTtl: 0.05 }).check('ann', 'doc', 'read')
      const long = make(decider, { allowTtl: 60, denyTtl: 60 })
      t.equal(await long.check('ann', 'doc', 'write'), false)
      await sleep(150)
      t.equal(await long.check('ann', 'doc', 'write'), false)
      t.same(decider.calls, ['ann doc read', 'ann doc write'], 'still a hit after the first generations would have expired')
    })

    t.test('roles are cached, invalidated with the subject, and denied without a role decider', async (t) => {
      const roles = new Set(['ann admin'])
      let calls = 0
      const cache = make(tableDecider(new Set()), { roleDecider: async (subject, role) => { calls++; return roles.has(`${subject} ${role}`) } })
      t.equal(await cache.hasRole('ann', 'admin'), true)
      t.equal(await cache.hasRole('ann', 'admin'), true)
      t.equal(calls, 1)
      roles.clear()
      await cache.invalidateSubject('ann')
      t.equal(await cache.hasRole('ann', 'admin'), false)
      t.equal(await make(tableDecider(new Set())).hasRole('zed', 'admin'), false, 'no role decider: no roles')
    })

    t.test('identifiers the key builder refuses are denied without asking', async (t) => {
      const decider = tableDecider(new Set(['ann  read']))
      const cache = make(decider)
      t.equal(await cache.check('', 'doc', 'read'), false)
      t.equal(await cache.check('ann', '', 'read'), false)
      t.equal(await cache.check('ann', 'doc', 'x'.repeat(600)), false)
      t.equal(await cache.check('ann\n', 'doc', 'read'), false)
      t.same(decider.calls, [])
      const r = await cache.invalidateSubject('')
      t.equal(!r.ok && r.error.code, 'INVALID_ARGUMENT')
      t.equal(cache.decisionKey('ann', '', 'x').ok, false)
    })

    t.test('keys: one hash tag per shard, subjects hashed, spread over shards', async (t) => {
      const single = make(tableDecider(new Set()))
      const key = (single.decisionKey('ann@example.com', 'doc', 'read') as { value: string }).value
      t.match(key, /^authz-test:authz:\{authz-0\}:d:[A-Za-z0-9_-]{22}:doc:read$/)
      t.notMatch(key, /ann/, 'the subject is not written in clear')
      const sharded = make(tableDecider(new Set()), { shards: 8 })
      const tags = new Set(Array.from({ length: 64 }, (_, i) => /\{(authz-\d+)\}/.exec((sharded.decisionKey(`user${i}`, 'doc', 'read') as { value: string }).value)?.[1]))
      t.ok(tags.size > 1, `subjects spread over ${tags.size} shards`)
    })

    t.test('with shards, invalidateAll still forgets everything', async (t) => {
      const grants = new Set(Array.from({ length: 16 }, (_, i) => `user${i} doc read`))
      const decider = tableDecider(grants)
      const cache = make(decider, { shards: 4 })
      for (let i = 0; i < 16; i++) await cache.check(`user${i}`, 'doc', 'read')
      for (let i = 0; i < 16; i++) await cache.check(`user${i}`, 'doc', 'read')
      t.equal(decider.calls.length, 16, 'all cached')
      grants.clear()
      await cache.invalidateAll()
      for (let i = 0; i < 16; i++) t.equal(await cache.check(`user${i}`, 'doc', 'read'), false)
      t.equal(decider.calls.length, 32)
    })
  })
}

t.test('the plugin on a Cluster client: decisions cached, invalidations through', { skip: await fileCluster() === null ? 'no Redis Cluster here' : false }, async (t) => {
  const grants = new Set(['ann doc read'])
  const decider = tableDecider(grants)
  const app = await cachekitApp(t, 'cluster', { authz: { decider } })
  t.equal(await app.authz.check('ann', 'doc', 'read'), true)
  t.equal(await app.authz.check('ann', 'doc', 'read'), true)
  t.same(decider.calls, ['ann doc read'], 'the second check was a hit')
  grants.clear()
  t.same(await app.authz.invalidateSubject('ann'), { ok: true, value: true })
  t.equal(await app.authz.check('ann', 'doc', 'read'), false)
})

t.test('options are checked', async (t) => {
  const store = {} as Store
  const keys = new KeyBuilder()
  const decider: Decider = async () => true
  t.throws(() => new AuthzCache(new ComponentContext({ store, keys }), { decider, allowTtl: 0 }), /allowTtl/)
  t.throws(() => new AuthzCache(new ComponentContext({ store, keys }), { decider, denyTtl: 3601 }), /denyTtl/)
  t.throws(() => new AuthzCache(new ComponentContext({ store, keys }), { decider, denyTtl: 0.0001 }), /denyTtl/)
  t.throws(() => new AuthzCache(new ComponentContext({ store, keys }), { decider, allowTtl: Number.NaN }), /allowTtl/)
  t.throws(() => new AuthzCache(new ComponentContext({ store, keys }), { decider, shards: 0 }), /shards/)
  t.throws(() => new AuthzCache(new ComponentContext({ store, keys }), { decider, shards: 1.5 }), /shards/)
  t.throws(() => new AuthzCache(new ComponentContext({ store, keys }), { decider, shards: 2000 }), /shards/)
  t.throws(() => new AuthzCache(new ComponentContext({ store, keys: new KeyBuilder({ maxPartLength: 3 }) }), { decider }), /key builder/)
  const cache = new AuthzCache(new ComponentContext({ store, keys }), { decider })
  t.equal(cache.allowTtl, 300)
  t.equal(cache.denyTtl, 60)
  t.equal(cache.shards, 1)
})

t.test('script replies are decoded strictly', async (t) => {
  t.same(authzRead.decode(['hit', '1']), { hit: true, allowed: true })
  t.same(authzRead.decode(['hit', '0']), { hit: true, allowed: false })
  t.same(authzRead.decode(['miss', 'a', '']), { hit: false, global: 'a', subject: '' })
  t.throws(() => authzRead.decode('hit'), /array of strings/)
  t.throws(() => authzRead.decode(['hit', 1]), /array of strings/)
  t.throws(() => authzRead.decode(['hit']), /unknown reply/)
  t.throws(() => authzRead.decode(['miss', 'a']), /unknown reply/)
  t.equal(authzWrite.decode(1), true)
  t.equal(authzWrite.decode(0), false)
  t.throws(() => authzWrite.decode('1'), /0 or 1/)
})

const keys = new KeyBuilder({ prefix: 'authz-redis' })

// When the store fails: the decider answers (never allow by default), and an
// invalidation that could not be sent is owed until it gets through.
t.test('with the store failing the decider answers, correctly, and it is counted', async (t) => {
  const { store, close } = memoryStore('authz-redis')
  t.teardown(close)
  const faults = faultyStore(t, store)
  const metrics = new CacheMetrics()
  const grants = new Set(['ann doc read'])
  const decider = tableDecider(grants)
  const cache = new AuthzCache(new ComponentContext({ store, keys, metrics }), { decider })
  t.equal(await cache.check('ann', 'doc', 'read'), true)
  faults.fail('UNAVAILABLE')
  for (let i = 0; i < 5; i++) {
    t.equal(await cache.check('ann', 'doc', 'read'), true, 'allowed by the decider')
    t.equal(await cache.check('bob', 'doc', 'read'), false, 'denied by the decider, never allowed by default')
  }
  t.equal(decider.calls.length, 11)
  t.match(metrics.stats('authz'), { degraded: 10, errors: 10 })
  grants.clear()
  t.equal(await cache.check('ann', 'doc', 'read'), false, 'a policy change shows at once')
  const r = await cache.invalidateSubject('ann')
  t.equal(!r.ok && r.error.code, 'UNAVAILABLE', 'an invalidation that cannot reach the store says so')

  faults.heal()
  grants.add('ann doc read')
  t.equal(await cache.check('ann', 'doc', 'read'), true, 'back on the cache once the store is back')
  t.equal(await cache.check('ann', 'doc', 'read'), true)
  t.equal(decider.calls.length, 13, 'the last answer was a hit')
})

t.test('a decision whose write fails is still answered', async (t) => {
  const { store, close } = memoryStore('authz-redis')
  t.teardown(close)
  const faults = faultyStore(t, store)
  const metrics = new CacheMetrics()
  const cache = new AuthzCache(new ComponentContext({ store, keys, metrics }), { decider: async () => { faults.fail('UNAVAILABLE'); return true } })
  t.equal(await cache.check('ann', 'doc', 'read'), true)
  t.match(metrics.stats('authz'), { misses: 1, errors: 1 })
})

t.test('a failed invalidation is retried, and this instance asks the decider until it gets through', async (t) => {
  const a = await redisStore(redis, 'authz-redis')
  const b = await redisStore(redis, 'authz-redis')
  t.teardown(async () => { await a.close(); await b.close() })
  const faults = faultyStore(t, a.store)
  const grants = new Set(['ann doc read'])
  const decideA = tableDecider(grants)
  const metrics = new CacheMetrics()
  const cacheA = new AuthzCache(new ComponentContext({ store: a.store, keys, metrics }), { decider: decideA })
  const cacheB = new AuthzCache(new ComponentContext({ store: b.store, keys }), { decider: tableDecider(grants) })
  await redis.flush()
  t.equal(await cacheB.check('ann', 'doc', 'read'), true, 'instance B caches an allow')

  // the revocation's invalidation cannot get through: A's calls time out,
  // and none reaches Redis (a hung Redis might still run them when it wakes)
  grants.delete('ann doc read')
  faults.fail('TIMEOUT')
  const r = await cacheA.invalidateSubject('ann')
  t.equal(!r.ok && r.error.code, 'TIMEOUT')
  t.equal(await cacheA.check('ann', 'doc', 'read'), false, 'A asks the decider while it owes an invalidation')
  faults.heal()

  t.equal(await cacheA.check('ann', 'doc', 'read'), false, 'A retries (invalidateAll) before its next check')
  t.equal(await cacheB.check('ann', 'doc', 'read'), false, 'and B no longer serves the old allow')
  const callsBefore = decideA.calls.length
  t.equal(await cacheA.check('ann', 'doc', 'read'), false)
  t.equal(decideA.calls.length, callsBefore, 'once settled, A is back on the cache')
  t.ok(metrics.stats('authz').degraded >= 1)
})

// What a shared Redis shows: the commands an invalidation or a hit sends.
const admin = redis.client()

t.test('invalidateSubject sends the same commands with 10 and with 10,000 cached decisions', async (t) => {
  const { store, close } = await redisStore(redis, 'authz-redis')
  t.teardown(close)
  await store.loadScripts(AUTHZ_SCRIPTS)
  const decider = tableDecider(new Set())
  const cache = new AuthzCache(new ComponentContext({ store, keys }), { decider })

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
  const before = decider.calls.length
  await cache.check('ann', 'doc9999', 'read')
  await cache.check('ann', 'doc0', 'read')
  t.equal(decider.calls.length - before, 2, 'and every one of them is forgotten')
})

t.test('invalidateAll sends one command per shard, however many decisions', async (t) => {
  const { store, close } = await redisStore(redis, 'authz-redis')
  t.teardown(close)
  const cache = new AuthzCache(new ComponentContext({ store, keys }), { decider: tableDecider(new Set()), shards: 4 })
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
  const cache = new AuthzCache(new ComponentContext({ store, keys }), { decider: tableDecider(new Set(['ann doc read'])) })
  await redis.flush()
  await cache.check('ann', 'doc', 'read')
  await admin.config('RESETSTAT')
  t.equal(await cache.check('ann', 'doc', 'read'), true)
  const calls = await commandCalls(admin)
  t.same(calls, { evalsha: 1, get: 3 }, 'one EVALSHA (the three GETs run inside it)')
})
