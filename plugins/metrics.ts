import fp from 'fastify-plugin'
import { CacheMetrics } from '../lib/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Per-namespace hit/miss/error/degraded counters of every cachekit plugin. */
    cacheMetrics: CacheMetrics
  }
}

/** Decorates `fastify.cacheMetrics`; the other cachekit plugins count into it. */
export default fp(async function cachekitMetrics (fastify) {
  fastify.decorate('cacheMetrics', new CacheMetrics())
}, {
  fastify: '5.x',
  name: 'cachekit-metrics',
  decorators: {}
})
