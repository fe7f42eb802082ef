import Fastify from 'fastify'
import { Cluster, Redis } from 'ioredis'
import t from 'tap'
import { clientProblems, clusterClientOptions, createRedisClient, createSentinelClient } from '../../lib/store/redis-client.js'
import { RedisStore } from '../../lib/store/redis-store.js'
import cachePlugin from '../../plugins/cache.js'
import { fileRedis } from '../helpers/backends.js'

// The clients cachekit builds keep the outage model (no offline queue,
// bounded retries, a deadline); a client a user brings that breaks it is
// named in one warning at registration.

t.test('the clients cachekit builds have nothing to warn about', async (t) => {
  t.same(clientProblems(createRedisClient('redis://127.0.0.1:1')), [])
  t.same(clientProblems(new Cluster([{ host: '127.0.0.1', port: 1 }], clusterClientOptions())), [])
  const sentinel = createSentinelClient({ sentinels: [{ host: '127.0.0.1', port: 1 }], name: 'x' })
  t.same(clientProblems(sentinel), [])
  t.equal(sentinel.options.enableOfflineQueue, false)
  t.equal(sentinel.options.commandTimeout, 250)
  // a returning old primary answers READONLY: reconnect (and ask the sentinels), resend nothing
  t.equal(sentinel.options.reconnectOnError?.(new Error('READONLY You can\'t write against a read only replica.')), 1)
  t.equal(sentinel.options.reconnectOnError?.(new Error('ERR something else')), false)
  t.equal(sentinel.options.sentinelRetryStrategy?.(3), 150)
  t.equal(sentinel.options.sentinelRetryStrategy?.(100), 500, 'bounded backoff, for ever')
  t.equal(clusterClientOptions().clusterRetryStrategy?.(100), 500)
})

t.test('a Cluster store before the slot map is known: calls fail at once, nothing throws', async (t) => {
  const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], clusterClientOptions())
  cluster.on('error', () => {})
  const store = new RedisStore({ client: cluster, prefix: 'p' })
  t.teardown(async () => { await store.close(); cluster.disconnect() })
  t.equal(store.batchGroup('k'), '#' + String((await import('cluster-key-slot')).default('k')), 'no owner known yet: grouped by slot alone')
  t.equal((await store.get('k')).ok, false)
  t.equal((await store.setMany({ a: '1', b: '2' })).ok, false)
  t.equal((await store.getMany(['a', 'b'])).ok, false)
  t.equal(new RedisStore({ client: createRedisClient('redis://127.0.0.1:1'), prefix: 'p' }).batchGroup('k'), '', 'one group on a single node')
})

t.test('a bare client: offline queue and unbounded retries named', async (t) => {
  const bare = clientProblems(new Redis({ lazyConnect: true, maxRetriesPerRequest: null }))
  t.match(bare, [/enableOfflineQueue/, /maxRetriesPerRequest is null/])
  t.match(clientProblems(new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true })), [/enableOfflineQueue/, /maxRetriesPerRequest/])
})

t.test('registering a bare client warns once, naming both problems', async (t) => {
  const warnings: unknown[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { warnings.push(JSON.parse(line)) } } } })
  const client = new Redis((await fileRedis()).url)
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  await app.register(cachePlugin, { client })
  await app.ready()
  await app.close()
  const ours = warnings.filter((w) => String((w as { msg: string }).msg).includes('breaks the fail policies'))
  t.equal(ours.length, 1)
  t.match(ours[0], { problems: [/enableOfflineQueue/, /maxRetriesPerRequest/] })
})

t.test('one topology at a time', async (t) => {
  const app = Fastify()
  await t.rejects(async () => { await app.register(cachePlugin, { redisUrl: 'redis://127.0.0.1:1', cluster: { nodes: [{ host: '127.0.0.1', port: 1 }] } }).ready() }, /one of redisUrl, cluster and sentinel/)
  await app.close()
  const bad = Fastify()
  await t.rejects(async () => { await bad.register(cachePlugin, { cluster: { nodes: [] } }).ready() }, /cluster.nodes/)
  await bad.close()
})
