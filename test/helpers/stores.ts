import { Redis } from 'ioredis'
import type { BreakerOptions } from '../../lib/breaker.js'
import { MemoryStore } from '../../lib/store/memory-store.js'
import { RedisStore } from '../../lib/store/redis-store.js'
import { redisClientOptions } from '../../lib/store/redis-client.js'
import type { Store } from '../../lib/store/store.js'
import type { TestCluster } from '../../harness/redis-cluster.js'
import type { TestRedis } from '../../harness/redis-server.js'

export interface StoreUnderTest {
  readonly name: 'redis' | 'memory' | 'cluster'
  readonly store: Store
  close (): Promise<void>
}

/** A RedisStore over a fresh client set up as the plugin sets one up. */
export async function redisStore (redis: TestRedis, prefix = 'test', options: { commandTimeoutMs?: number, breaker?: BreakerOptions } = {}): Promise<StoreUnderTest & { store: RedisStore, client: Redis }> {
  const client = new Redis(redis.url, redisClientOptions({ commandTimeoutMs: options.commandTimeoutMs }))
  client.on('error', () => {})
  await client.connect()
  const store = new RedisStore({ client, prefix, ...(options.breaker !== undefined ? { breaker: options.breaker } : {}) })
  return { name: 'redis', store, client, close: async () => { await store.close(); client.disconnect() } }
}

export function memoryStore (prefix = 'test'): StoreUnderTest & { store: MemoryStore } {
  const store = new MemoryStore({ prefix })
  return { name: 'memory', store, close: async () => { await store.close() } }
}

/** A RedisStore over an ioredis Cluster client. */
export async function clusterStore (cluster: TestCluster, prefix = 'test'): Promise<StoreUnderTest & { store: RedisStore }> {
  const client = await cluster.client()
  const store = new RedisStore({ client, prefix })
  return { name: 'cluster', store, close: async () => { await store.close(); client.disconnect() } }
}
