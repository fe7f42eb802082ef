// The root of fastify-cachekit: every plugin and everything its users need.
// Each `plugins/*.ts` file is also an entry point of its own
// (`fastify-cachekit/cache`, `…/session-cache`, …); this file is their union.
// It loads no optional peer (casbin) and nothing of the demo.
export { default as authzPlugin } from './plugins/authz-cache.js'
export { default as cachePlugin } from './plugins/cache.js'
export { default as metricsPlugin } from './plugins/metrics.js'
export { default as oauthStatePlugin } from './plugins/oauth-state.js'
export { default as rateLimitPlugin } from './plugins/rate-limit.js'
export { default as sessionCachePlugin } from './plugins/session-cache.js'
export * from './plugins/authz-cache.js'
export * from './plugins/cache.js'
export * from './plugins/metrics.js'
export * from './plugins/oauth-state.js'
export * from './plugins/rate-limit.js'
export * from './plugins/session-cache.js'
