import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { Cache } from '../../lib/cache.js'
import { benchStore, httpThroughput, loopThroughput, startServer, type Scenario } from '../harness.js'

/** fastify.cache.get against a raw ioredis GET on the same client, in one process. */
export const cacheGetInProcess: Scenario = {
  name: 'cache.get in-process (hit)',
  ours: 'cache.get',
  targets: { 'ioredis get': 0.95 },
  unit: 'ops/s',
  async setup (ctx) {
    const { client, store } = await benchStore(ctx.redisUrl)
    const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder() }))
    const seed = async (): Promise<void> => { await client.set('cachekit:bench:value', 'x'.repeat(100)) }
    const options = { durationMs: ctx.durationMs, concurrency: ctx.connections }
    return {
      variants: {
        'cache.get': async () => { await seed(); return await loopThroughput(() => cache.get('bench:value'), options) },
        'ioredis get': async () => { await seed(); return await loopThroughput(() => client.get('cachekit:bench:value'), options) }
      },
      close: async () => { client.disconnect() }
    }
  }
}

/** An HTTP route doing one cache.get against one doing one raw ioredis GET. */
export const cacheGetHttp: Scenario = {
  name: 'cache.get over HTTP (hit)',
  ours: 'route: cache.get',
  targets: { 'route: ioredis get': 0.95 },
  unit: 'req/s',
  async setup (ctx) {
    const server = await startServer('cache', { REDIS_URL: ctx.redisUrl })
    const load = { durationMs: ctx.durationMs, connections: ctx.connections }
    return {
      variants: {
        'route: cache.get': async () => (await httpThroughput({ ...load, url: server.url + '/bench/cache-get' })).rps,
        'route: ioredis get': async () => (await httpThroughput({ ...load, url: server.url + '/bench/raw-get' })).rps
      },
      close: async () => { await server.close() }
    }
  }
}
