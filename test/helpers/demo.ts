import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { TestRedis } from '../../harness/redis-server.js'
import { buildApp, type BuildAppExtras } from '../../demo/app.js'
import { fileRedis } from './backends.js'

/** The demo app on `backend` (REDIS_URL set for a Redis), logging nothing, with `env` on top; closed when `t` ends. */
export async function demoApp (t: Test, backend: 'redis' | 'memory' | TestRedis, env: Record<string, string> = {}, extras?: BuildAppExtras): Promise<FastifyInstance> {
  const redisUrl = backend === 'memory' ? undefined : backend === 'redis' ? (await fileRedis()).url : backend.url
  const app = await buildApp({ LOG_LEVEL: 'silent', ...(redisUrl === undefined ? {} : { REDIS_URL: redisUrl }), ...env }, extras)
  t.teardown(() => app.close())
  return app
}
