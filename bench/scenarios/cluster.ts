import { startCluster } from '../../harness/redis-cluster.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { TokenBucket } from '../../lib/rate-limit/token-bucket.js'
import { tokenBucketScript } from '../../lib/rate-limit/token-bucket-script.js'
import { RedisStore } from '../../lib/store/redis-store.js'
import { benchStore, loopThroughput, type Scenario } from '../harness.js'

/**
 * `tokenBucket.take` in process over 1,000 buckets, on a 3 masters × 1 replica
 * Cluster (the client `cachePlugin({ cluster })` builds) against one Redis
 * node (batched: one EVALSHA per event-loop turn). On the Cluster the takes
 * headed for one master in one turn leave in one write (ioredis
 * auto-pipelining, per node), and each call's deadline is one queue, not one timer.
 */

const KEYS = 1000
const policy = { max: 1_000_000_000, timeWindow: 60_000 }

export const clusterTake: Scenario = {
  name: 'tokenBucket.take on a 3×2 cluster vs single node',
  ours: 'take on a 3×2 cluster',
  targets: { 'take on one node': 0.8 },
  unit: 'takes/s',
  async setup (ctx) {
    const cluster = await startCluster()
    if (cluster === null) throw new Error('the cluster scenario needs redis-server')
    const clusterClient = await cluster.client()
    const clusterStore = new RedisStore({ client: clusterClient, prefix: 'cachekit' })
    const single = await benchStore(ctx.redisUrl)
    const keys = new KeyBuilder()
    const onCluster = new TokenBucket(new ComponentContext({ store: clusterStore, keys }))
    const onNode = new TokenBucket(new ComponentContext({ store: single.store, keys }))
    await clusterStore.loadScripts([tokenBucketScript])
    const options = { durationMs: ctx.durationMs, concurrency: ctx.connections }
    const loop = (bucket: TokenBucket) => async () => {
      let n = 0
      return await loopThroughput(async () => {
        const d = await bucket.take(`c${n++ % KEYS}`, policy)
        if (!d.ok || d.value.remaining === null) throw new Error('a take failed')
      }, options)
    }
    return {
      variants: { 'take on a 3×2 cluster': loop(onCluster), 'take on one node': loop(onNode) },
      close: async () => { single.client.disconnect(); await cluster.stop() }
    }
  }
}
