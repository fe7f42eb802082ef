import { Cluster } from 'ioredis'
import t from 'tap'
import { KeyBuilder } from '../../lib/keys.js'
import { TokenBucket } from '../../lib/rate-limit/token-bucket.js'
import { TakeBatch } from '../../lib/rate-limit/take-batch.js'
import { tokenBucketScript } from '../../lib/rate-limit/token-bucket-script.js'
import type { Result } from '../../lib/result.js'
import { RedisStore } from '../../lib/store/redis-store.js'
import type { Store } from '../../lib/store/store.js'
import { commandCalls } from '../helpers/commandstats.js'
import { fileRedis } from '../helpers/backends.js'
import { faultyStore } from '../helpers/faulty-store.js'
import { memoryStore, redisStore } from '../helpers/stores.js'
import { ComponentContext } from '../../lib/context.js'
import { EndOfTurn } from '../../lib/end-of-turn.js'
import { mock } from 'node:test'

// The calls made in one event-loop turn share one EVALSHA: counted on a real
// Redis with INFO commandstats, and each caller still gets its own answer.
const redis = await fileRedis()
const admin = redis.client()
const HOUR_PER_TOKEN = 3_600_000_000

/** EVALSHA calls since CONFIG RESETSTAT. */
async function evalshaCalls (): Promise<number> {
  return (await commandCalls(admin)).evalsha ?? 0
}

async function resetStats (): Promise<void> {
  await admin.config('RESETSTAT')
}

const takeArgs = (capacity: number, cost = 1): Array<string | number> => [capacity, HOUR_PER_TOKEN, cost, '0']

t.test('calls made together go out as one EVALSHA, in order, each answered on its own', async (t) => {
  const { store, close } = await redisStore(redis, 'batch')
  t.teardown(close)
  await store.loadScripts([tokenBucketScript])
  const batch = new TakeBatch(store)
  t.equal(batch.maxBatch, 64)
  await resetStats()
  // 20 takes of one 10-token bucket and one take of another, all in the same turn
  const calls = Array.from({ length: 20 }, () => batch.run('batch:hot', takeArgs(10)))
  calls.push(batch.run('batch:cold', takeArgs(5, 2)))
  const replies = await Promise.all(calls)
  t.equal(await evalshaCalls(), 1, 'one script call for all 21')
  const hot = replies.slice(0, 20).map((r) => r.ok && [r.value.allowed, r.value.remaining])
  t.same(hot, [...Array.from({ length: 10 }, (_, i) => [true, 9 - i]), ...Array.from({ length: 10 }, () => [false, 0])],
    'the hot bucket counts down in call order, then refuses')
  t.same(replies[20]?.ok && [replies[20].value.allowed, replies[20].value.remaining], [true, 3])
})

t.test('maxBatch bounds a call; 1 sends each on its own', async (t) => {
  const { store, close } = await redisStore(redis, 'batch')
  t.teardown(close)
  await store.loadScripts([tokenBucketScript])
  for (const [maxBatch, expected] of [[8, 3], [1, 20]] as const) {
    const batch = new TakeBatch(store, maxBatch)
    await store.clear()
    await resetStats()
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => batch.run(`batch:k${i}`, takeArgs(3))))
    t.equal(await evalshaCalls(), expected, `maxBatch ${maxBatch}: ${expected} calls for 20 takes`)
    t.ok(replies.every((r) => r.ok && r.value.allowed && r.value.remaining === 2), 'every one granted once')
  }
})

t.test('a bad entry fails alone; the others are decided once each', async (t) => {
  const { store, close } = await redisStore(redis, 'batch')
  t.teardown(close)
  const batch = new TakeBatch(store)
  const [a, bad, b] = await Promise.all([
    batch.run('batch:a', takeArgs(3)),
    batch.run('batch:bad', takeArgs(3, 4)),
    batch.run('batch:b', takeArgs(3))
  ])
  t.equal(!bad?.ok && bad.error.code, 'INVALID_ARGUMENT')
  t.same([a, b].map((r) => r?.ok && r.value.remaining), [2, 2])
  const again = await batch.run('batch:a', takeArgs(3, 0))
  t.same(again.ok && again.value.remaining, 2, 'the retried call did not take twice')
})

t.test('an outage fails every call of the batch', async (t) => {
  const { store, close } = await redisStore(redis, 'batch')
  t.teardown(close)
  await store.loadScripts([tokenBucketScript])
  const batch = new TakeBatch(store)
  const faults = faultyStore(t, store).fail('TIMEOUT', { only: ['runScript'] })
  const replies = await Promise.all(Array.from({ length: 5 }, (_, i) => batch.run(`batch:o${i}`, takeArgs(3))))
  t.same(faults.calls, ['runScript'], 'the five went out as one script call')
  t.same(replies.map((r) => !r.ok && r.error.code), Array(5).fill('TIMEOUT'))
})

t.test('a reply for the wrong number of buckets is a SCRIPT failure, not a crash', async (t) => {
  const { store, close } = await redisStore(redis, 'batch')
  t.teardown(close)
  // the real store, with one bucket's answer dropped from every reply
  const short = new Proxy(store, {
    get (target, property) {
      if (property !== 'runScript') return Reflect.get(target, property, target)
      return async (...args: Parameters<Store['runScript']>) => {
        const reply = await target.runScript(...args) as Result<unknown[]>
        return reply.ok ? { ok: true, value: reply.value.slice(1) } : reply
      }
    }
  })
  const batch = new TakeBatch(short)
  const replies = await Promise.all([batch.run('batch:s1', takeArgs(3)), batch.run('batch:s2', takeArgs(3))])
  t.same(replies.map((r) => !r.ok && r.error.code), ['SCRIPT', 'SCRIPT'])
  t.match(!replies[0]?.ok && replies[0].error.message, /answered for 1 buckets, not 2/)
})

t.test('batching on a Cluster (per node), none on the memory store', async (t) => {
  const cluster = new Cluster([{ host: '127.0.0.1', port: redis.port }], { lazyConnect: true })
  const onCluster = new RedisStore({ client: cluster, prefix: 'batch' })
  t.equal(onCluster.cluster, true)
  t.equal(new TakeBatch(onCluster, 64).maxBatch, 64, 'batched per node (store.batchGroup; test/cluster/batch.test.ts)')
  await onCluster.close()
  cluster.disconnect()
  const memory = memoryStore('batch')
  t.teardown(memory.close)
  t.equal(memory.store.cluster, false)
  t.equal(new TakeBatch(memory.store, 64).maxBatch, 1, 'no round trip to save')
})

t.test('the token bucket batches its takes: concurrent takes on one bucket stay exact', async (t) => {
  const { store, close } = await redisStore(redis, 'batch')
  t.teardown(close)
  await store.loadScripts([tokenBucketScript])
  const bucket = new TokenBucket(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'batch' }) }), { denyCacheSize: 0 })
  await resetStats()
  const decisions = await Promise.all(Array.from({ length: 100 }, () => bucket.take('shared', { capacity: 30, refillPerSecond: 1 / 3600 })))
  t.equal(decisions.filter((d) => d.ok && d.value.allowed).length, 30, 'exactly the capacity is granted')
  t.ok(await evalshaCalls() <= 2, 'in one or two script calls, not 100')
})

t.test('the end of a turn: once however often asked; by the message port when setImmediate is faked, and once only', async (t) => {
  let calls = 0
  const end = new EndOfTurn(() => { calls++ })
  end.schedule()
  end.schedule()
  await new Promise((resolve) => { setImmediate(resolve) })
  t.equal(calls, 1, 'Node\'s setImmediate: one call for the turn')

  mock.timers.enable({ apis: ['setImmediate'] })
  t.teardown(() => { mock.timers.reset() })
  end.schedule()
  // the faked setImmediate never fires on its own; the port does
  await new Promise((resolve) => { const wait = (): void => { if (calls === 2) resolve(null); else setTimeout(wait, 1) }; wait() })
  t.equal(calls, 2, 'called back by the port')
  mock.timers.tick(1)
  t.equal(calls, 2, 'the faked setImmediate, run later, finds nothing scheduled')
  mock.timers.reset()
})
