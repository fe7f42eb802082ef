import { Type, type Static } from '@sinclair/typebox'
import fp from 'fastify-plugin'
import { collectDefaultMetrics, type Registry } from 'prom-client'
import { CacheMetrics } from '../lib/metrics.js'
import { checkOptions } from '../lib/options.js'

// This file is the `fastify-cachekit/metrics` entry point: the plugin and what its users need.
export * from '../lib/public/common.js'
export { CacheMetrics, type CacheMetricsOptions, type MetricsSnapshot, type NamespaceDetails, type NamespaceStats } from '../lib/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Counters and latency histograms of every cachekit plugin, in a prom-client Registry (`cacheMetrics.registry`). */
    cacheMetrics: CacheMetrics
  }
}

export const MetricsPluginOptionsSchema = Type.Object({
  prefix: Type.Optional(Type.String({ default: 'cachekit_', pattern: '^[a-zA-Z_:][a-zA-Z0-9_:]*$', description: 'prefix of every metric name' })),
  processMetrics: Type.Optional(Type.Boolean({ default: false, description: 'also register prom-client\'s default process metrics (CPU, memory, event loop, GC) in the registry' }))
}, { additionalProperties: false })

export type MetricsPluginOptions = Static<typeof MetricsPluginOptionsSchema> & {
  /** Your prom-client Registry: cachekit's metrics are registered in it. Default: a registry of their own. */
  registry?: Registry
}

/**
 * Decorates `fastify.cacheMetrics`; the other cachekit plugins count into it.
 * The cache plugin registers it when it is missing, so registering it yourself,
 * before or after the cache plugin, is optional; a second registration keeps
 * the counters already there. Pass `registry` to have the metrics in your own
 * prom-client Registry; serve them with `await fastify.cacheMetrics.toPrometheus()`.
 */
export default fp<MetricsPluginOptions>(async function cachekitMetrics (fastify, options) {
  if (fastify.hasDecorator('cacheMetrics')) return
  const { registry, ...rest } = options
  const opts = checkOptions(MetricsPluginOptionsSchema, rest, 'cachekit-metrics') as Required<Static<typeof MetricsPluginOptionsSchema>>
  const metrics = new CacheMetrics({ registry, prefix: opts.prefix })
  if (opts.processMetrics) collectDefaultMetrics({ register: metrics.registry })
  fastify.decorate('cacheMetrics', metrics)
}, {
  fastify: '5.x',
  name: 'cachekit-metrics',
  decorators: {}
})
