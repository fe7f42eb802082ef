import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { tagRoutes } from '../demo/api-tags.js'

const Count = Type.Integer({ minimum: 0 })

const NamespaceStats = Type.Object({
  hits: Count,
  misses: Count,
  errors: Count,
  degraded: Count,
  staleHits: Count,
  loaderCalls: Count,
  lockWaits: Count,
  l1Hits: Count,
  l1Evictions: Count,
  total: Count,
  hitRate: Type.Number(),
  latencyMs: Type.Union([Type.Number(), Type.Null()], { description: 'mean latency of the timed operations, ms' })
})

/** GET /cache/stats (JSON, per namespace) and GET /metrics (Prometheus text: cachekit's metrics and the process's). */
const statsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRoute', tagRoutes('metrics'))
  app.get('/cache/stats', {
    schema: { response: { 200: Type.Object({ namespaces: Type.Record(Type.String(), NamespaceStats) }) } }
  }, async () => ({ namespaces: app.cacheMetrics.detailedSnapshot() }))

  app.get('/metrics', {
    schema: { response: { 200: { description: 'Prometheus text exposition', content: { 'text/plain': { schema: Type.String() } } } } }
  }, async (_request, reply) => {
    return await reply.type(app.cacheMetrics.contentType).send(await app.cacheMetrics.toPrometheus())
  })
}

export default statsRoutes
