import type { Redis } from 'ioredis'
import t from 'tap'
import { startCluster } from '../../harness/redis-cluster.js'
import { until } from '../../harness/wait.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { TokenBucket } from '../../lib/rate-limit/token-bucket.js'
import { RedisStore } from '../../lib/store/redis-store.js'
import { commandCalls } from '../helpers/commandstats.js'

// On a Cluster the takes of one event-loop turn are batched per master: one
// script call for all the buckets one node holds, whatever their slots, and
// each bucket still decided exactly.

t.test('takes batched per node decide every bucket exactly', async (t) => {
  const cluster = await startCluster()
  if (cluster === null) { t.pass('skipped: no redis-server'); return }
  t.teardown(() => cluster.stop())
  const client = await cluster.client()
  const store = new RedisStore({ client, prefix: 'batch' })
  const bucket = new TokenBucket(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'batch' }) }))
  await until('the store knows the cluster runs Redis 7', () => store.crossSlotBatching)
  const masters = client.nodes('master') as Redis[]
  for (const node of masters) await node.config('RESETSTAT')

  // 60 buckets of 3 tokens, 5 takes each, all in one turn
  const takes = await Promise.all(Array.from({ length: 300 }, async (_, i) => await bucket.take(`b${i % 60}`, { max: 3, timeWindow: 60_000 })))
  t.ok(takes.every((d) => d.ok && d.value.remaining !== null), 'every take decided by Redis')
  const allowed = new Map<string, number>()
  takes.forEach((d, i) => { if (d.ok && d.value.allowed) allowed.set(`b${i % 60}`, (allowed.get(`b${i % 60}`) ?? 0) + 1) })
  t.same([...new Set(allowed.values())], [3], 'each bucket gave exactly its 3 tokens')
  t.equal(allowed.size, 60)

  const calls = await Promise.all(masters.map(async (node) => await commandCalls(node)))
  const scripts = calls.reduce((sum, c) => sum + (c.evalsha ?? 0) + (c.eval ?? 0), 0)
  t.ok(scripts < 60, `300 takes in ${scripts} script calls over ${masters.length} masters, not one each`)
  t.ok(calls.every((c) => (c.evalsha ?? 0) > 0), 'every master decided some')

  // a batch that fails (an invalid bucket) is decided one by one: only the bad take fails
  // before the version is known (or on Redis 6) a batch holds one slot's keys: still exact
  const early = new RedisStore({ client, prefix: 'batch-early' })
  t.equal(early.crossSlotBatching, false)
  t.not(early.batchGroup('a'), early.batchGroup('b'), 'keys of two slots, two groups')
  await early.close()

  const mixed = await Promise.all([bucket.take('ok-1', { max: 2, timeWindow: 1000 }), bucket.take('bad', { max: 2, timeWindow: 1000 }, 5), bucket.take('ok-2', { max: 2, timeWindow: 1000 })])
  t.same(mixed.map((d) => d.ok), [true, false, true])
})
