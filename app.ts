import fastifyEnv from '@fastify/env'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { EnvSchema, type Env } from './lib/config.js'
import type { RedisClient } from './lib/store/redis-store.js'
import cachePlugin from './plugins/cache.js'
import metricsPlugin from './plugins/metrics.js'
import cacheStatsRoutes from './routes/cache-stats.js'
import healthRoutes from './routes/health.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The validated environment (demo server only). */
    config: Env
  }
}

export interface BuildAppExtras {
  /** Fastify's logger option; defaults to LOG_LEVEL. */
  logger?: FastifyServerOptions['logger']
  /** Use this Redis client instead of connecting to REDIS_URL (tests, embedders). */
  redisClient?: RedisClient
}

/**
 * The demo app, unstarted: validates `env` as start-up does (a bad value
 * rejects with a message naming the variable), registers the plugins and the
 * routes. Used by server.ts, the tests, the benchmarks and embedders.
 */
export async function buildApp (env: Record<string, string | undefined> = process.env, extras: BuildAppExtras = {}): Promise<FastifyInstance> {
  // validate before building the server, so the log level itself is checked
  const probe = Fastify({ logger: false })
  await probe.register(fastifyEnv, { schema: EnvSchema, data: env, dotenv: false })
  const config = probe.config
  await probe.close()

  const app = Fastify({
    logger: extras.logger ?? { level: config.LOG_LEVEL },
    trustProxy: config.TRUST_PROXY
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.decorate('config', config)

  await app.register(metricsPlugin)
  await app.register(cachePlugin, {
    ...(extras.redisClient !== undefined ? { client: extras.redisClient } : {}),
    ...(config.REDIS_URL !== '' ? { redisUrl: config.REDIS_URL } : {}),
    ...(config.CACHE_KEY_HASH_SECRET !== '' ? { hashSecret: config.CACHE_KEY_HASH_SECRET } : {}),
    prefix: config.CACHE_KEY_PREFIX,
    commandTimeoutMs: config.CACHE_COMMAND_TIMEOUT_MS,
    defaultTtl: config.CACHE_DEFAULT_TTL_SECONDS
  })

  await app.register(healthRoutes)
  await app.register(cacheStatsRoutes)
  return app
}
