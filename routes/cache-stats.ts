import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { tagRoutes } from '../demo/api-tags.js'

const NamespaceStats = Type.Object({
  hits: Type.Integer(),
  misses: Type.Integer(),
  errors: Type.Integer(),
  degraded: Type.Integer(),
  total: Type.Integer(),
  hitRate: Type.Number()
})

const statsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRoute', tagRoutes('metrics'))
  app.get('/cache/stats', {
    schema: { response: { 200: Type.Object({ namespaces: Type.Record(Type.String(), NamespaceStats) }) } }
  }, async () => ({ namespaces: app.cacheMetrics.snapshot() }))

  app.get('/metrics', {
    schema: { response: { 200: { description: 'Prometheus text exposition', content: { 'text/plain': { schema: Type.String() } } } } }
  }, async (_request, reply) => {
    return await reply.type('text/plain; version=0.0.4').send(app.cacheMetrics.toPrometheus())
  })
}

export default statsRoutes
