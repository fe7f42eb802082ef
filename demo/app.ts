import fastifyEnv from '@fastify/env'
import fastifyStatic from '@fastify/static'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { newEnforcer } from 'casbin'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyServerOptions, type onRouteHookHandler } from 'fastify'
import type { CasbinEnforcer } from '../lib/authz/casbin.js'
import { DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY } from './authz-policy.js'
import { EnvSchema, parseHostPorts, type Env } from './config.js'
import { DEMO_OAUTH_PROVIDERS } from './oauth-providers.js'
import { registerOpenApi } from './openapi.js'
import { httpServerOptions, installHttpErrors } from './http.js'
import { parseEncryptionKeys } from '../lib/session/crypto.js'
import type { RedisClient } from '../lib/store/redis-store.js'
import authzPlugin from '../plugins/authz-cache.js'
import cachePlugin from '../plugins/cache.js'
import oauthStatePlugin from '../plugins/oauth-state.js'
import rateLimitPlugin from '../plugins/rate-limit.js'
import sessionCachePlugin from '../plugins/session-cache.js'
import metricsPlugin from '../plugins/metrics.js'
import authzRoutes from '../routes/authz.js'
import cacheStatsRoutes from '../routes/cache-stats.js'
import dashboardRoutes from '../routes/dashboard.js'
import healthRoutes from '../routes/health.js'
import oauthRoutes from '../routes/oauth.js'
import { DEMO_RATE_LIMITS } from './rate-limits.js'
import sessionRoutes from '../routes/sessions.js'
import accountRoutes from '../routes/accounts.js'

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
  /** The casbin enforcer of the authz demo; default: a fresh one over authz/model.conf and authz/policy.csv. */
  authzEnforcer?: CasbinEnforcer
  /** Called with every route as it is added, before the app's own hooks see it (tests enumerate the routes). */
  onRoute?: onRouteHookHandler
}

/** The CA file REDIS_TLS_CA_FILE names; a missing or unreadable file stops start-up with the variable named. */
function readCaFile (path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new Error(`REDIS_TLS_CA_FILE: cannot read ${path}: ${(err as Error).message}`)
  }
}

/** Where OAuth callback URLs come from: PUBLIC_BASE_URL, else the forwarded host behind a trusted proxy, else HOST:PORT. */
function publicBase (config: Env): { publicBaseUrl: string } | { trustForwardedHost: true } {
  if (config.PUBLIC_BASE_URL !== '') return { publicBaseUrl: config.PUBLIC_BASE_URL }
  if (config.TRUST_PROXY) return { trustForwardedHost: true }
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST
  return { publicBaseUrl: `http://${host}:${config.PORT}` }
}

/** REDIS_CLUSTER_NODES, else REDIS_SENTINELS (+ REDIS_SENTINEL_NAME), else REDIS_URL; none = the memory store. */
function redisTopology (config: Env): { redisUrl: string } | { cluster: { nodes: Array<{ host: string, port: number }> } } | { sentinel: { sentinels: Array<{ host: string, port: number }>, name: string } } | Record<string, never> {
  if (config.REDIS_CLUSTER_NODES !== '') return { cluster: { nodes: parseHostPorts(config.REDIS_CLUSTER_NODES) } }
  if (config.REDIS_SENTINELS !== '') return { sentinel: { sentinels: parseHostPorts(config.REDIS_SENTINELS), name: config.REDIS_SENTINEL_NAME } }
  if (config.REDIS_URL !== '') return { redisUrl: config.REDIS_URL }
  return {}
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
    trustProxy: config.TRUST_PROXY,
    ...httpServerOptions(config)
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.decorate('config', config)
  // before any route: it records each route's methods (405 with Allow); problem bodies for every error
  installHttpErrors(app)
  if (extras.onRoute !== undefined) app.addHook('onRoute', extras.onRoute)

  await app.register(metricsPlugin, { processMetrics: true })
  await app.register(cachePlugin, {
    ...(extras.redisClient !== undefined ? { client: extras.redisClient } : {}),
    ...redisTopology(config),
    ...(config.CACHE_KEY_HASH_SECRET !== '' ? { hashSecret: config.CACHE_KEY_HASH_SECRET } : {}),
    ...(config.REDIS_TLS_CA_FILE !== '' ? { tlsCa: readCaFile(config.REDIS_TLS_CA_FILE) } : {}),
    prefix: config.CACHE_KEY_PREFIX,
    commandTimeoutMs: config.CACHE_COMMAND_TIMEOUT_MS,
    // an outage costs a request at most one deadline (docs/reliability.md)
    requestBudget: true,
    defaultTtl: config.CACHE_DEFAULT_TTL_SECONDS
  })

  // before any route: it gives each demo route its policy (routes/rate-limits.ts);
  // global off, so routes an embedder or a benchmark adds are not limited unasked
  await app.register(rateLimitPlugin, {
    global: false,
    onStoreError: config.RATE_LIMIT_ON_STORE_ERROR,
    routes: DEMO_RATE_LIMITS
  })

  await app.register(oauthStatePlugin, { ttl: config.OAUTH_STATE_TTL_SECONDS })

  await app.register(sessionCachePlugin, {
    ttl: config.SESSION_TTL_SECONDS,
    encryptionKeys: parseEncryptionKeys(config.SESSION_ENCRYPTION_KEYS)
  })

  await app.register(authzPlugin, {
    enforcer: extras.authzEnforcer ?? await newEnforcer(DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY),
    allowTtl: config.AUTHZ_ALLOW_TTL_SECONDS,
    denyTtl: config.AUTHZ_DENY_TTL_SECONDS
  })

  // before any route: @fastify/swagger collects them as they are added
  await registerOpenApi(app)
  // the landing page and its dashboard (demo/public/, no build step); the dashboard's hook counts every route's traffic
  await app.register(fastifyStatic, { root: fileURLToPath(new URL('public', import.meta.url)), wildcard: false })
  await app.register(dashboardRoutes)
  await app.register(healthRoutes, { readinessFollowsRedis: config.READINESS_FOLLOWS_REDIS })
  await app.register(authzRoutes)
  await app.register(cacheStatsRoutes)
  await app.register(oauthRoutes, { providers: DEMO_OAUTH_PROVIDERS, ...publicBase(config) })
  await app.register(sessionRoutes, {
    secret: config.SESSION_SECRET !== '' ? config.SESSION_SECRET : randomBytes(32).toString('base64url'),
    maxAge: config.SESSION_TTL_SECONDS
  })
  await app.register(accountRoutes)
  return app
}
