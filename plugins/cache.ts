import fastifyRedis from '@fastify/redis'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Cache } from '../lib/cache.js'
import { ComponentContext } from '../lib/context.js'
import { DEFAULT_PREFIX, KeyBuilder, NAME_PATTERN } from '../lib/keys.js'
import { DEFAULT_WARN_INTERVAL_MS } from '../lib/log-throttle.js'
import { checkOptions } from '../lib/options.js'
import { withRequestBudget } from '../lib/request-budget.js'
import { DEFAULT_MAX_VALUE_BYTES } from '../lib/store/base-store.js'
import { MemoryStore } from '../lib/store/memory-store.js'
import { buildRedisClient, clientProblems, ClusterOptionSchema, createRedisClient, REDIS_URL_OR_EMPTY_PATTERN, SentinelOptionSchema, type ClusterConfig, type SentinelConfig } from '../lib/store/redis-client.js'
import { RedisStore, type RedisClient } from '../lib/store/redis-store.js'
import type { Store } from '../lib/store/store.js'
import metricsPlugin from './metrics.js'

// This file is the `fastify-cachekit/cache` entry point: the plugin and what its users need.
export * from '../lib/public/common.js'
export { Cache, type CacheHealth, type CacheOptions } from '../lib/cache.js'
export { CacheNamespace, type NamespaceOptions, type NamespaceSetOptions, type NamespaceGetOrSetOptions } from '../lib/cache/namespace.js'
export type { GetOrSetOptions, LockOptions } from '../lib/cache/aside.js'
export { NearCache, type NearCacheOptions, type NearCacheState } from '../lib/cache/near-cache.js'
export { MemoryStore, type MemoryStoreOptions } from '../lib/store/memory-store.js'
export { RedisStore, DEFAULT_COMMAND_TIMEOUT_MS, type RedisClient, type RedisStoreOptions } from '../lib/store/redis-store.js'
export { createRedisClient, redisClientOptions, type RedisClientOptions } from '../lib/store/redis-client.js'
export { createClusterClient, createSentinelClient, clusterClientOptions, type ClusterConfig, type SentinelConfig, type HostPort } from '../lib/store/redis-client.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The result-typed cache adapter; `cache.context` (store, keys, metrics, log) serves the other cachekit plugins. */
    cache: Cache
  }
}

export const CachePluginOptionsSchema = Type.Object({
  store: Type.Optional(Type.Union([Type.Literal('redis'), Type.Literal('memory')], { description: 'default: redis when a Redis is given, else memory' })),
  redisUrl: Type.Optional(Type.String({ pattern: REDIS_URL_OR_EMPTY_PATTERN, description: 'Redis to connect to (the plugin owns and closes that client); empty means none, as if unset' })),
  prefix: Type.Optional(Type.String({ default: DEFAULT_PREFIX, pattern: NAME_PATTERN })),
  hashSecret: Type.Optional(Type.String({ description: 'secret for hashing personal key parts' })),
  tlsCa: Type.Optional(Type.String({ minLength: 1, description: 'PEM of the CA that signed the Redis server certificate (a rediss:// redisUrl); default: Node\'s trusted CAs' })),
  commandTimeoutMs: Type.Optional(Type.Integer({ default: 250, minimum: 1, maximum: 60_000 })),
  connectTimeoutMs: Type.Optional(Type.Integer({ default: 1000, minimum: 1, maximum: 60_000 })),
  startupWaitMs: Type.Optional(Type.Integer({ default: 1000, minimum: 0, maximum: 2500, description: 'how long boot waits for a first connection before starting degraded' })),
  maxValueBytes: Type.Optional(Type.Integer({ default: DEFAULT_MAX_VALUE_BYTES, minimum: 1 })),
  memoryMaxEntries: Type.Optional(Type.Integer({ default: 100_000, minimum: 1 })),
  defaultTtl: Type.Optional(Type.Number({ default: 300, exclusiveMinimum: 0 })),
  failureThreshold: Type.Optional(Type.Integer({ default: 3, minimum: 1, description: 'consecutive outage failures that open the circuit' })),
  cooldownMs: Type.Optional(Type.Integer({ default: 1000, minimum: 1, description: 'how long the open circuit fails fast before probing' })),
  warnIntervalMs: Type.Optional(Type.Integer({ default: DEFAULT_WARN_INTERVAL_MS, minimum: 0, description: 'shortest gap between two warnings about the same failure, for every cachekit plugin that sets none' })),
  batchWrites: Type.Optional(Type.Boolean({ default: true, description: 'write the Redis commands of one pass of the event loop to the socket in one write (a single node without auto-pipelining); false writes each command on its own, as ioredis does' })),
  requestBudget: Type.Optional(Type.Boolean({ default: false, description: 'once a request has met one Redis failure, its later Redis calls fail at once (an AsyncLocalStorage scope per request: it costs every request some throughput, about 14 % on a rate-limited route in the bench)' })),
  cluster: Type.Optional(ClusterOptionSchema),
  sentinel: Type.Optional(SentinelOptionSchema)
}, { additionalProperties: false })

export type CachePluginOptions = Omit<Static<typeof CachePluginOptionsSchema>, 'cluster' | 'sentinel'> & {
  /** An existing ioredis client or Cluster to use (you keep ownership and close it). */
  client?: RedisClient
  /** A Redis Cluster to connect to (the plugin builds, owns and closes a tuned ioredis Cluster). */
  cluster?: ClusterConfig
  /** A Sentinel-managed primary to connect to (the plugin builds, owns and closes the client). */
  sentinel?: SentinelConfig
}

type Resolved = Required<Omit<Static<typeof CachePluginOptionsSchema>, 'store' | 'redisUrl' | 'hashSecret' | 'tlsCa' | 'cluster' | 'sentinel'>> &
  Pick<Static<typeof CachePluginOptionsSchema>, 'store' | 'redisUrl' | 'hashSecret' | 'tlsCa'> & Pick<CachePluginOptions, 'cluster' | 'sentinel'>

/** Boot's warning on a shared Redis without `hashSecret`. */
export const NO_HASH_SECRET = 'cachekit-cache: no hashSecret on a shared Redis: personal key parts (user ids, authz subjects, ' +
  'emails, IPs) are hashed with a public default secret, so anyone who can read the keys can confirm a guessed identity. ' +
  'Give every instance the same secret, made with: openssl rand -base64 32 (CACHE_KEY_HASH_SECRET in the demo)'

/** Resolves true once the client is ready, false when `ms` pass first. */
function readyWithin (client: RedisClient, ms: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true)
  return new Promise((resolve) => {
    const done = (ready: boolean): void => { clearTimeout(timer); client.off('ready', onReady); resolve(ready) }
    const onReady = (): void => { done(true) }
    const timer = setTimeout(() => { done(false) }, ms)
    client.on('ready', onReady)
  })
}

/** QUIT lets replies in flight arrive; a client that is not connected just stops reconnecting. */
async function closeClient (client: RedisClient): Promise<void> {
  if (client.status === 'ready') await Promise.allSettled([client.quit()])
  client.disconnect()
}

/** The store over a given client, the one @fastify/redis shares, or a new one (then this plugin owns it). */
function openRedis (fastify: FastifyInstance, opts: Resolved, given: RedisClient | undefined): { store: RedisStore, owned: boolean, shared: boolean } {
  const shared = fastify.hasDecorator('redis') ? (fastify.redis as unknown as RedisClient) : undefined
  const clientOptions = {
    commandTimeoutMs: opts.commandTimeoutMs,
    connectTimeoutMs: opts.connectTimeoutMs,
    ...(opts.tlsCa !== undefined ? { tls: { ca: opts.tlsCa } } : {})
  }
  const client = given ?? shared ?? buildRedisClient(opts, clientOptions) ?? createRedisClient(opts.redisUrl as string, clientOptions)
  const problems = given !== undefined || shared !== undefined ? clientProblems(client) : []
  if (problems.length > 0) fastify.log.warn({ problems }, 'cachekit-cache: the Redis client given breaks the fail policies')
  const store = new RedisStore({
    client,
    prefix: opts.prefix,
    maxValueBytes: opts.maxValueBytes,
    commandTimeoutMs: opts.commandTimeoutMs,
    batchWrites: opts.batchWrites,
    breaker: { failureThreshold: opts.failureThreshold, cooldownMs: opts.cooldownMs }
  })
  return { store, owned: given === undefined && shared === undefined, shared: shared !== undefined }
}

/**
 * Connects, and shares the client as `fastify.redis` through @fastify/redis.
 * It never waits longer than `startupWaitMs` for Redis: a fail-open service
 * boots degraded and heals when Redis comes back (ioredis keeps reconnecting).
 * Connection errors are warned through the context's throttle.
 */
async function connectRedis (fastify: FastifyInstance, redis: ReturnType<typeof openRedis>, context: ComponentContext, startupWaitMs: number): Promise<void> {
  const { store } = redis
  const { client } = store
  const onError = (err: Error): void => { context.warn('redis:error', { err: err.message }, 'Redis connection error') }
  client.on('error', onError)
  fastify.addHook('onClose', async () => {
    await store.close()
    client.off('error', onError)
    if (redis.owned) await closeClient(client)
  })
  if (client.status === 'wait') client.connect().catch(() => {})
  const ready = await readyWithin(client, startupWaitMs)
  if (!ready) fastify.log.warn({ waitedMs: startupWaitMs }, 'Redis not reachable at start-up: starting degraded, reconnecting in the background')

  if (!redis.shared) {
    // @fastify/redis waits for a ready connection and would hold the boot
    // while Redis is down; then the same client is shared under the same name
    if (ready) await fastify.register(fastifyRedis, { client: client as never, closeClient: false })
    else fastify.decorate('redis', client as never)
  }
}

export default fp<CachePluginOptions>(async function cachekitCache (fastify, options) {
  const { client, ...rest } = options
  const opts = checkOptions(CachePluginOptionsSchema, rest, 'cachekit-cache') as Resolved
  // `redisUrl: process.env.REDIS_URL` with the variable set but empty means no Redis, like unset
  if (opts.redisUrl === '') delete opts.redisUrl
  const topology = opts.cluster !== undefined || opts.sentinel !== undefined
  const kind = opts.store ?? (client !== undefined || opts.redisUrl !== undefined || topology || fastify.hasDecorator('redis') ? 'redis' : 'memory')
  if (kind === 'redis' && client === undefined && opts.redisUrl === undefined && !topology && !fastify.hasDecorator('redis')) {
    throw new TypeError('cachekit-cache: store "redis" needs redisUrl, client, or @fastify/redis registered first (or cluster, or sentinel)')
  }
  if (!fastify.hasDecorator('cacheMetrics')) await fastify.register(metricsPlugin)

  const redis = kind === 'redis' ? openRedis(fastify, opts, client) : undefined
  const store: Store = redis?.store ?? new MemoryStore({ prefix: opts.prefix, maxValueBytes: opts.maxValueBytes, maxEntries: opts.memoryMaxEntries })
  // the one context every cachekit component is built with: the other plugins take it from `fastify.cache.context`
  const context = new ComponentContext({
    store,
    keys: new KeyBuilder({ prefix: opts.prefix, hashSecret: opts.hashSecret }),
    metrics: fastify.cacheMetrics,
    logger: fastify.log,
    warnIntervalMs: opts.warnIntervalMs
  })
  if (redis !== undefined && (opts.hashSecret ?? '') === '') fastify.log.warn(NO_HASH_SECRET)
  // each request's outage budget: after one Redis failure its later calls fail fast (lib/request-budget.ts)
  // opt-in: AsyncLocalStorage makes every promise of the process a little dearer, so only who asks for it pays
  if (redis !== undefined && opts.requestBudget) fastify.addHook('onRequest', (_request, _reply, done) => { withRequestBudget(() => { done() }) })
  if (redis === undefined) fastify.addHook('onClose', async () => { await store.close() })
  else await connectRedis(fastify, redis, context, opts.startupWaitMs)

  const cache = new Cache(context, { defaultTtl: opts.defaultTtl })
  // the load lock's scripts; a Redis that is down loads them on first use (NOSCRIPT)
  if (redis !== undefined && redis.store.client.status === 'ready') await cache.loadScripts()
  fastify.addHook('onClose', async () => { await cache.close() })
  fastify.decorate('cache', cache)
}, {
  fastify: '5.x',
  name: 'cachekit-cache'
})
