import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { TestRedis } from '../../harness/redis-server.js'
import { buildApp, type BuildAppExtras } from '../../demo/app.js'
import { fileCluster, fileRedis, ON_CLUSTER } from './backends.js'

/** The demo app on `backend` (REDIS_URL set for a Redis), logging nothing, with `env` on top; closed when `t` ends. */
export async function demoApp (t: Test, backend: 'redis' | 'memory' | TestRedis, env: Record<string, string> = {}, extras?: BuildAppExtras): Promise<FastifyInstance> {
  const cluster = backend === 'redis' && ON_CLUSTER ? await fileCluster() : null
  const redisUrl = backend === 'memory' || cluster !== null ? undefined : backend === 'redis' ? (await fileRedis()).url : backend.url
  const topology = cluster !== null
    ? { REDIS_CLUSTER_NODES: cluster.nodes.map(({ host, port }) => `${host}:${port}`).join(',') }
    : redisUrl === undefined ? {} : { REDIS_URL: redisUrl }
  const app = await buildApp({ LOG_LEVEL: 'silent', ...topology, ...env }, extras)
  t.teardown(() => app.close())
  return app
}
