import t from 'tap'
import { buildApp } from '../../demo/app.js'
import { startCluster } from '../../harness/redis-cluster.js'
import { startSentinel } from '../../harness/redis-sentinel.js'
import { injector, tour } from './demo-tour.js'

// The demo server from its environment alone, on a Redis Cluster of three
// masters with a replica each and behind Sentinel: every plugin answers.

t.test('REDIS_CLUSTER_NODES: the demo serves every plugin from a 3×2 cluster', async (t) => {
  const cluster = await startCluster()
  if (cluster === null) { t.pass('skipped: no redis-server'); return }
  t.teardown(() => cluster.stop())
  const nodes = cluster.nodes.slice(0, 2).map(({ host, port }) => `${host}:${port}`).join(',')
  const app = await buildApp({ LOG_LEVEL: 'silent', TRUST_PROXY: 'true', REDIS_CLUSTER_NODES: nodes })
  t.teardown(() => app.close())
  await app.ready()
  t.equal(app.cache.store.cluster, true, 'the store knows it is on a Cluster')
  t.same((await app.inject('/health')).json(), { status: 'healthy', cache: 'up', store: 'redis' })
  t.same(await tour(injector(app), 'carol'), [])
  // keys land on more than one master: this is a cluster, not one node
  for (let i = 0; i < 30; i++) await app.cache.set(`spread:${i}`, 'x')
  const holding = cluster.masters().filter((port) => Number(cluster.cli(port, 'dbsize').trim()) > 0)
  t.ok(holding.length >= 2, `keys on ${holding.length} masters`)
})

t.test('REDIS_SENTINELS: the demo serves every plugin from the primary the sentinel names', async (t) => {
  const sentinel = await startSentinel()
  if (sentinel === null) { t.pass('skipped: no redis-server'); return }
  t.teardown(() => sentinel.stop())
  const sentinels = sentinel.sentinels.map(({ host, port }) => `${host}:${port}`).join(',')
  const app = await buildApp({ LOG_LEVEL: 'silent', TRUST_PROXY: 'true', REDIS_SENTINELS: sentinels, REDIS_SENTINEL_NAME: sentinel.name })
  t.teardown(() => app.close())
  await app.ready()
  t.equal(app.cache.store.cluster, false)
  t.same((await app.inject('/health')).json(), { status: 'healthy', cache: 'up', store: 'redis' })
  t.same(await tour(injector(app), 'dave'), [])
})

t.test('bad topology variables stop start-up naming the variable', async (t) => {
  await t.rejects(buildApp({ LOG_LEVEL: 'silent', REDIS_CLUSTER_NODES: 'localhost' }), /REDIS_CLUSTER_NODES/)
  await t.rejects(buildApp({ LOG_LEVEL: 'silent', REDIS_SENTINELS: 'a:1,,b' }), /REDIS_SENTINELS/)
})
