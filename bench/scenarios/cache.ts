import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { Cache } from '../../lib/cache.js'
import { RedisStore } from '../../lib/store/redis-store.js'
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

// ---- cache-aside (issue 13): getOrSet hits, near-cache hits, stampedes, L1 staleness ----

type Bento = import('bentocache').BentoCache<Record<string, import('bentocache').BentoStore>>

/** bentocache over the same Redis: `redis` (L2 only) and `tiered` (memory L1 + Redis L2 + its bus). */
async function bento (redisUrl: string): Promise<Bento> {
  const { BentoCache, bentostore } = await import('bentocache')
  const { redisDriver, redisBusDriver } = await import('bentocache/drivers/redis')
  const { memoryDriver } = await import('bentocache/drivers/memory')
  const { hostname, port } = new URL(redisUrl)
  const connection = { host: hostname, port: Number(port) }
  return new BentoCache({
    default: 'redis',
    stores: {
      redis: bentostore().useL2Layer(redisDriver({ connection })),
      tiered: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })).useL2Layer(redisDriver({ connection })).useBus(redisBusDriver({ connection }))
    }
  }) as unknown as Bento
}

const VALUE = { id: 'acct-1', provider: 'demo-bank', balance: 1200, currency: 'EUR', name: 'checking' }

function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}

/**
 * `measure` with the process's CPU time per operation recorded under `name`:
 * what this process spends on each call, which other processes' load moves far
 * less than throughput (the Redis server is another process).
 */
async function withCpu (cpu: Record<string, number[]>, name: string, measure: () => Promise<number>): Promise<number> {
  const before = process.cpuUsage()
  const started = performance.now()
  const perSecond = await measure()
  const used = process.cpuUsage(before)
  ;(cpu[name] ??= []).push((used.user + used.system) / (perSecond * (performance.now() - started) / 1000))
  return perSecond
}

const cpuNote = (cpu: Record<string, number[]>): string =>
  `client CPU per operation (µs, median of rounds): ${Object.entries(cpu).map(([name, us]) => `${name} ${percentile(us, 0.5).toFixed(2)}`).join('; ')}`

/**
 * cache.getOrSet answered from Redis, against a raw ioredis GET and bentocache's getOrSet on the same Redis.
 * Two more variants show what is compared: the store batches a turn's writes to the socket
 * (`batchWrites`), a raw GET does not, so the same getOrSet with batchWrites off, and a raw GET
 * on a client that batches too (ioredis auto-pipelining), are measured beside them.
 * Notes: this process's CPU time per call of each variant.
 */
export const getOrSetHit: Scenario = {
  name: 'getOrSet in-process (hit, no L1)',
  ours: 'cache.getOrSet',
  targets: { 'ioredis get': 0.95, 'bentocache getOrSet': 1.0 },
  unit: 'ops/s',
  async setup (ctx) {
    const { client, store } = await benchStore(ctx.redisUrl)
    const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder() }))
    const unbatched = new Cache(new ComponentContext({ store: new RedisStore({ client, prefix: 'cachekit', batchWrites: false }), keys: new KeyBuilder() }))
    const pipelined = await benchStore(ctx.redisUrl, { autoPipelining: true })
    const b = await bento(ctx.redisUrl)
    const options = { durationMs: ctx.durationMs, concurrency: ctx.connections }
    const loader = (): typeof VALUE => VALUE
    const cpu: Record<string, number[]> = {}
    return {
      variants: {
        'cache.getOrSet': async () => {
          await cache.getOrSet('bench:aside', loader, { ttl: 600 })
          return await withCpu(cpu, 'cache.getOrSet', async () => await loopThroughput(() => cache.getOrSet('bench:aside', loader, { ttl: 600 }), options))
        },
        'ioredis get': async () => {
          await client.set('cachekit:bench:raw', JSON.stringify(VALUE))
          return await withCpu(cpu, 'ioredis get', async () => await loopThroughput(() => client.get('cachekit:bench:raw'), options))
        },
        // what any getOrSet must do at least: the GET and the JSON.parse of the value
        'ioredis get + JSON.parse': async () => {
          await client.set('cachekit:bench:raw', JSON.stringify(VALUE))
          return await withCpu(cpu, 'ioredis get + JSON.parse', async () => await loopThroughput(() => client.get('cachekit:bench:raw').then((raw) => JSON.parse(raw as string) as unknown), options))
        },
        'bentocache getOrSet': async () => {
          await b.getOrSet({ key: 'bench:bento', factory: loader, ttl: '10m' })
          return await withCpu(cpu, 'bentocache getOrSet', async () => await loopThroughput(() => b.getOrSet({ key: 'bench:bento', factory: loader, ttl: '10m' }), options))
        },
        'cache.getOrSet, batchWrites off': async () => {
          await unbatched.getOrSet('bench:aside', loader, { ttl: 600 })
          return await withCpu(cpu, 'cache.getOrSet, batchWrites off', async () => await loopThroughput(() => unbatched.getOrSet('bench:aside', loader, { ttl: 600 }), options))
        },
        'ioredis get, auto-pipelined client': async () => {
          await client.set('cachekit:bench:raw', JSON.stringify(VALUE))
          return await withCpu(cpu, 'ioredis get, auto-pipelined client', async () => await loopThroughput(() => pipelined.client.get('cachekit:bench:raw'), options))
        }
      },
      notes: () => [cpuNote(cpu)],
      close: async () => { await b.disconnectAll(); client.disconnect(); pipelined.client.disconnect() }
    }
  }
}

/**
 * A namespace's getOrSet answered from the near cache (L1), against the same
 * namespace without L1 (a Redis hit) and bentocache's tiered store (memory L1).
 * Notes: p99 staleness of L1 after a write by another instance.
 */
export const nearCacheHit: Scenario = {
  name: 'getOrSet in-process (L1 hit)',
  ours: 'namespace.getOrSet, L1',
  targets: { 'namespace.getOrSet, Redis': 20, 'bentocache tiered getOrSet': 1.0 },
  unit: 'ops/s',
  async setup (ctx) {
    const { client, store } = await benchStore(ctx.redisUrl)
    const cache = new Cache(new ComponentContext({ store, keys: new KeyBuilder() }))
    const near = cache.namespace<typeof VALUE>('bench-l1', { ttl: 600, l1: true })
    const far = cache.namespace<typeof VALUE>('bench-l2', { ttl: 600 })
    await near.l1?.ready()
    const b = await bento(ctx.redisUrl)
    const tiered = b.use('tiered')
    const options = { durationMs: ctx.durationMs, concurrency: ctx.connections }
    const loader = (): typeof VALUE => VALUE
    const notes: string[] = []
    return {
      variants: {
        'namespace.getOrSet, L1': async () => {
          await near.getOrSet('k', loader)
          await near.getOrSet('k', loader)
          return await loopThroughput(() => near.getOrSet('k', loader), options)
        },
        'namespace.getOrSet, Redis': async () => {
          await far.getOrSet('k', loader)
          return await loopThroughput(() => far.getOrSet('k', loader), options)
        },
        'bentocache tiered getOrSet': async () => {
          await tiered.getOrSet({ key: 'bench:tiered', factory: loader, ttl: '10m' })
          return await loopThroughput(() => tiered.getOrSet({ key: 'bench:tiered', factory: loader, ttl: '10m' }), options)
        }
      },
      notes: () => notes,
      close: async () => {
        notes.push(await measureStaleness(ctx.redisUrl))
        await cache.close()
        await b.disconnectAll()
        client.disconnect()
      }
    }
  }
}

/** p99 time from another instance's acknowledged write to this instance's L1 answering the new value (loopback). */
async function measureStaleness (redisUrl: string, samples = 300): Promise<string> {
  const a = await benchStore(redisUrl)
  const b = await benchStore(redisUrl)
  const reader = new Cache(new ComponentContext({ store: a.store, keys: new KeyBuilder() })).namespace<number>('bench-stale', { ttl: 600, l1: true })
  const writerCache = new Cache(new ComponentContext({ store: b.store, keys: new KeyBuilder() }))
  const writer = writerCache.namespace<number>('bench-stale', { ttl: 600 })
  await reader.l1?.ready()
  const lags: number[] = []
  let spins = 0
  for (let i = 1; i <= samples; i++) {
    await writer.set('k', i - 1)
    await reader.get('k')
    await reader.get('k') // held in L1 now
    await writer.set('k', i)
    const written = performance.now()
    for (;;) {
      const r = await reader.get('k')
      if (r.ok && r.value === i) break
      spins++
      await new Promise((resolve) => setImmediate(resolve))
    }
    lags.push(performance.now() - written)
  }
  await reader.l1?.close()
  a.client.disconnect()
  b.client.disconnect()
  return `L1 staleness after a write by another instance (loopback, ${samples} writes): p50 ${percentile(lags, 0.5).toFixed(3)} ms, p99 ${percentile(lags, 0.99).toFixed(3)} ms, max ${Math.max(...lags).toFixed(3)} ms (${spins} stale reads in all)`
}

/**
 * Loader calls per 1,000 concurrent misses on one key, as "misses answered per
 * loader call" (higher is better): one instance, and two instances (two caches
 * with their own connections and state) missing together; ours with `lock`.
 * The loader takes 20 ms, as a slow source does.
 */
export const stampede: Scenario = {
  name: 'stampede: 1,000 concurrent misses per instance',
  ours: 'cachekit lock, 2 instances',
  unit: 'misses per load',
  async setup (ctx) {
    const instances = await Promise.all([benchStore(ctx.redisUrl), benchStore(ctx.redisUrl)])
    const caches = instances.map(({ store }) => new Cache(new ComponentContext({ store, keys: new KeyBuilder() })))
    const bentos = [await bento(ctx.redisUrl), await bento(ctx.redisUrl)]
    const counts: Record<string, number[]> = {}
    let round = 0
    const run = async (name: string, n: number, call: (i: number, key: string, loader: () => Promise<number>) => Promise<unknown>): Promise<number> => {
      let loads = 0
      const key = `stampede:${name.replace(/\W+/g, '-')}:${round++}`
      const loader = async (): Promise<number> => { loads++; await new Promise((resolve) => setTimeout(resolve, 20)); return 1 }
      await Promise.all(Array.from({ length: n }, async (_, j) => await Promise.all(Array.from({ length: 1000 }, async () => await call(j, key, loader)))))
      ;(counts[name] ??= []).push(loads)
      return (n * 1000) / loads
    }
    return {
      variants: {
        'cachekit, 1 instance': async () => await run('cachekit, 1 instance', 1, async (i, key, loader) => await caches[i]?.getOrSet(key, loader, { ttl: 60 })),
        'cachekit lock, 2 instances': async () => await run('cachekit lock, 2 instances', 2, async (i, key, loader) => await caches[i]?.getOrSet(key, loader, { ttl: 60, lock: true })),
        'bentocache, 1 instance': async () => await run('bentocache, 1 instance', 1, async (i, key, loader) => await bentos[i]?.getOrSet({ key, factory: loader, ttl: '1m' })),
        'bentocache, 2 instances': async () => await run('bentocache, 2 instances', 2, async (i, key, loader) => await bentos[i]?.getOrSet({ key, factory: loader, ttl: '1m' }))
      },
      notes: () => [`stampede loader calls per round (1,000 concurrent misses per instance): ${Object.entries(counts).map(([name, n]) => `${name}: ${n.join(', ')}`).join('; ')}`],
      close: async () => {
        for (const b of bentos) await b.disconnectAll()
        for (const { client } of instances) client.disconnect()
      }
    }
  }
}
