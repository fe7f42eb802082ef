import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Test } from 'tap'
import type { TestRedis } from '../../harness/redis-server.js'
import type { AuthzPluginOptions } from '../../plugins/authz-cache.js'
import cachePlugin, { type CachePluginOptions } from '../../plugins/cache.js'
import type { OAuthStatePluginOptions } from '../../plugins/oauth-state.js'
import type { TokenBucketPluginOptions } from '../../plugins/rate-limit.js'
import type { SessionCachePluginOptions } from '../../plugins/session-cache.js'
import { fileCluster, fileRedis, ON_CLUSTER, type BackendName } from './backends.js'

/** A backend by name (the file's Redis or Cluster, or memory), or a Redis of the test's own. */
export type AppBackend = BackendName | TestRedis

/** The cache plugin options that put an app on `backend`. */
export async function cacheOptionsFor (backend: AppBackend): Promise<CachePluginOptions> {
  if (backend === 'memory') return {}
  if (backend === 'redis' && !ON_CLUSTER) return { redisUrl: (await fileRedis()).url }
  if (backend === 'cluster' || backend === 'redis') {
    const cluster = await fileCluster()
    if (cluster === null) throw new Error('no Redis Cluster here: redis-server is needed to make one')
    return { client: await cluster.client() }
  }
  return { redisUrl: backend.url }
}

export interface CachekitAppOptions {
  fastify?: FastifyServerOptions
  /** Runs on the bare app before any plugin: hooks that must come first (one setting request.user, say). */
  before?: (app: FastifyInstance) => void
  cache?: CachePluginOptions
  /** Each plugin given options is registered after the cache plugin, in this order. */
  sessionCache?: SessionCachePluginOptions
  authz?: AuthzPluginOptions
  oauthState?: OAuthStatePluginOptions
  rateLimit?: TokenBucketPluginOptions
}

/**
 * A Fastify app on `backend` with the cachekit plugins asked for, closed when
 * `t` ends; not yet ready, so the test adds its routes. The other plugins are
 * imported only when asked for: each test file is a process that compiles
 * every module it loads.
 */
export async function cachekitApp (t: Test, backend: AppBackend, options: CachekitAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(options.fastify)
  t.teardown(() => app.close())
  options.before?.(app)
  await app.register(cachePlugin, { ...await cacheOptionsFor(backend), ...options.cache })
  if (options.sessionCache !== undefined) await app.register((await import('../../plugins/session-cache.js')).default, options.sessionCache)
  if (options.authz !== undefined) await app.register((await import('../../plugins/authz-cache.js')).default, options.authz)
  if (options.oauthState !== undefined) await app.register((await import('../../plugins/oauth-state.js')).default, options.oauthState)
  if (options.rateLimit !== undefined) await app.register((await import('../../plugins/rate-limit.js')).default, options.rateLimit)
  return app
}
