import t, { type Test } from 'tap'
import { startCluster, type TestCluster } from '../../harness/redis-cluster.js'
import { startRedis, type TestRedis } from '../../harness/redis-server.js'
import { redisChannels, redisCommands } from '../../lib/store/redis-acl.js'
import { clusterStore, memoryStore, redisStore, type StoreUnderTest } from './stores.js'

/**
 * Where the tests keep their state. A test file shares one private Redis (and
 * one Cluster, for suites that must hold on a Cluster too), started on first
 * use and stopped when the file's tests end. A test that kills, pauses or
 * restarts a Redis starts one of its own with ownRedis.
 */

export type BackendName = 'redis' | 'memory' | 'cluster'

/**
 * CACHEKIT_TEST_CLUSTER=1 (`npm run test:cluster`): the suites' Redis is the
 * file's 3×2 Cluster: storeBackends adds it, and apps and the demo on 'redis' use it.
 */
export const ON_CLUSTER = process.env.CACHEKIT_TEST_CLUSTER === '1'

/** The backends a suite compares: a single Redis node and the memory store (a Cluster joins through storeBackends). */
export const BACKENDS = ['redis', 'memory'] as const

let redis: Promise<TestRedis> | undefined
let cluster: Promise<TestCluster | null> | undefined

/**
 * With CACHEKIT_TEST_REDIS_ACL=1, every private Redis serves the code as a user
 * restricted to cachekit's commands (lib/store/redis-acl.ts), on any key (the
 * tests use many prefixes); `client()` stays the unrestricted default user.
 */
function startTestRedis (): Promise<TestRedis> {
  if (process.env.CACHEKIT_TEST_REDIS_ACL !== '1') return startRedis()
  return startRedis([], { user: { name: 'cachekit', password: 'acl-test', rules: ['allkeys', 'resetchannels', ...redisChannels().map((c) => `&${c}`), '-@all', ...redisCommands().map((c) => `+${c}`)] } })
}

/** The private Redis this test file shares. */
export async function fileRedis (): Promise<TestRedis> {
  if (redis === undefined) {
    // on the cluster switch, a suite's flush between tests empties the cluster too
    const started = ON_CLUSTER
      ? startTestRedis().then(async (r) => { const c = await fileCluster(); return { ...r, flush: async () => { await r.flush(); await c?.flush() } } })
      : startTestRedis()
    redis = started
    t.teardown(async () => { await (await started).stop() })
  }
  return await redis
}

/** The Redis Cluster this test file shares, or null where redis-server cannot make one. */
export async function fileCluster (): Promise<TestCluster | null> {
  if (cluster === undefined) {
    const started = startCluster()
    cluster = started
    t.teardown(async () => { await (await started)?.stop() })
  }
  return await cluster
}

/** A private Redis for one test, to kill, pause or restart; stopped when `test` ends. */
export async function ownRedis (test: Test): Promise<TestRedis> {
  const own = await startTestRedis()
  test.teardown(() => own.stop())
  return own
}

/**
 * A store on each backend, for suites that must answer the same on each: the
 * file's Redis, the memory store and, with `cluster`, the file's Cluster where
 * one can start. All keys under `prefix`; closed when the file's tests end.
 * At the top of a file, make them before the first test: tap ends a file when
 * its queue of tests runs dry.
 */
export async function storeBackends (prefix = 'test', options: { cluster?: boolean } = {}): Promise<StoreUnderTest[]> {
  const stores: StoreUnderTest[] = [await redisStore(await fileRedis(), prefix), memoryStore(prefix)]
  const onCluster = (options.cluster ?? ON_CLUSTER) ? await fileCluster() : null
  if (onCluster !== null) stores.push(await clusterStore(onCluster, prefix))
  t.teardown(async () => { for (const { close } of stores) await close() })
  return stores
}
