import type { onRouteHookHandler } from 'fastify'

/**
 * The sections of the API reference (demo/openapi.ts), and the hook each
 * route plugin uses to file its routes under one. Kept apart from the
 * OpenAPI registration so a route file loads no swagger module.
 */

/** One tag per plugin whose routes the demo serves, and the demo's own: the sections of the reference. */
export const API_TAGS = [
  { name: 'session-cache', description: 'Sessions with a per-user index: create, read, touch, revoke one, log out everywhere (fastify-cachekit/session-cache).' },
  { name: 'authz-cache', description: 'Cached permission checks; role changes invalidate the user\'s cached decisions (fastify-cachekit/authz-cache).' },
  { name: 'oauth-state', description: 'One-time OAuth state tokens with PKCE, fail-closed: a state that cannot be checked is refused (fastify-cachekit/oauth-state).' },
  { name: 'cache', description: 'Cache-aside over a deliberately slow source: single flight, a load lock, stale-while-revalidate, tag invalidation (fastify-cachekit/cache).' },
  { name: 'metrics', description: 'Per-namespace counters as JSON and as Prometheus text (fastify-cachekit/metrics).' },
  { name: 'health', description: 'Liveness, readiness and the cache\'s health, for load balancers and Kubernetes probes.' },
  { name: 'dashboard', description: 'What the landing page at / shows, as JSON.' }
] as const

export type ApiTag = typeof API_TAGS[number]['name']

/**
 * An onRoute hook for a route plugin: every route it registers gets `tag`
 * (unless it names its own), so a route added to the plugin later lands in
 * the right section of the reference without anyone remembering to tag it.
 */
export function tagRoutes (tag: ApiTag): onRouteHookHandler {
  return (route) => {
    const schema = route.schema ?? {}
    if (schema.tags === undefined) route.schema = { ...schema, tags: [tag] }
  }
}
