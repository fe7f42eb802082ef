import fp from 'fastify-plugin'
import { CacheMetrics } from '../lib/metrics.js'

// This file is the `fastify-cachekit/metrics` entry point: the plugin and what its users need.
export * from '../lib/public/common.js'
export { CacheMetrics, type MetricsSnapshot, type NamespaceStats } from '../lib/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Per-namespace hit/miss/error/degraded counters of every cachekit plugin. */
    cacheMetrics: CacheMetrics
  }
}

/**
 * Decorates `fastify.cacheMetrics`; the other cachekit plugins count into it.
 * The cache plugin registers it when it is missing, so registering it yourself,
 * before or after the cache plugin, is optional; a second registration keeps
 * the counters already there.
 */
export default fp(async function cachekitMetrics (fastify) {
  if (!fastify.hasDecorator('cacheMetrics')) fastify.decorate('cacheMetrics', new CacheMetrics())
}, {
  fastify: '5.x',
  name: 'cachekit-metrics',
  decorators: {}
})
