// The public surface of fastify-cachekit: every plugin, the lib types, buildApp.
export { buildApp, type BuildAppExtras } from './app.js'
export { default as cachePlugin, CachePluginOptionsSchema, type CachePluginOptions } from './plugins/cache.js'
export { default as metricsPlugin } from './plugins/metrics.js'

export { Cache, type CacheHealth, type CacheOptions } from './lib/cache.js'
export { CacheMetrics, type MetricsSnapshot, type NamespaceStats } from './lib/metrics.js'
export { KeyBuilder, personal, type KeyBuilderOptions, type KeyPart, type PersonalPart } from './lib/keys.js'
export { CacheError, fail, ok, isOutage, valueOr, type ErrorCode, type Failure, type Result, type Success } from './lib/result.js'
export { CircuitBreaker, type BreakerOptions, type BreakerState } from './lib/breaker.js'
export { defineScript, type Script, type ScriptContext, type ScriptReply } from './lib/scripts.js'
export { EnvSchema, type Env } from './lib/config.js'
export * from './lib/store/index.js'
