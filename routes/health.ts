import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'

export const HealthReply = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded')]),
  cache: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  store: Type.Union([Type.Literal('redis'), Type.Literal('memory')])
})

/** Always 200 while the process serves: a down cache is degraded, not dead (fail-open). */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', { schema: { response: { 200: HealthReply } } }, async () => {
    const health = await app.cache.health()
    return { status: health.status === 'up' ? 'healthy' : 'degraded', cache: health.status, store: health.store } as const
  })
}

export default healthRoutes
