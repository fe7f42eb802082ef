import fastifySwagger, { type SwaggerTransform } from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, onRouteHookHandler } from 'fastify'

/**
 * The demo's API reference: every route's TypeBox schema as an OpenAPI 3.1
 * document (`@fastify/swagger`, at `/docs/json`) and Swagger UI at `/docs`,
 * served from the package, so it works offline. Registered before any route:
 * @fastify/swagger collects routes as they are added.
 */

/** One tag per plugin whose routes the demo serves, and the demo's own: the sections of the reference. */
export const API_TAGS = [
  { name: 'session-cache', description: 'Sessions with a per-user index: create, read, touch, revoke one, log out everywhere (fastify-cachekit/session-cache).' },
  { name: 'authz-cache', description: 'Cached permission checks; role changes invalidate the user\'s cached decisions (fastify-cachekit/authz-cache).' },
  { name: 'oauth-state', description: 'One-time OAuth state tokens with PKCE, fail-closed: a state that cannot be checked is refused (fastify-cachekit/oauth-state).' },
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

const RateLimitRefusal = {
  description: 'Refused by the rate limiter (@fastify/rate-limit\'s body; `Retry-After` says when to come back)',
  headers: {
    'retry-after': { description: 'seconds until a request may pass', schema: { type: 'integer' } },
    'x-ratelimit-limit': { description: 'the policy\'s capacity', schema: { type: 'integer' } },
    'x-ratelimit-remaining': { schema: { type: 'integer' } },
    'x-ratelimit-reset': { description: 'seconds until a request may pass', schema: { type: 'integer' } }
  },
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } }
      }
    }
  }
}

interface DocumentedPolicy { max?: unknown, timeWindow?: unknown }

/**
 * The reference's view of a route: a rate-limited one (a `config.rateLimit`,
 * set by the rate-limit plugin from the demo's policies) documents its 429 and
 * says its policy. Only the document changes: the route's own response schemas,
 * which Fastify serialises with, stay as they are.
 */
const documentRateLimit: SwaggerTransform = ({ schema, url, route }) => {
  const policy = (route.config as { rateLimit?: DocumentedPolicy | false } | undefined)?.rateLimit
  if (typeof policy !== 'object' || policy === null) return { schema, url }
  const limit = typeof policy.max === 'number' && typeof policy.timeWindow === 'number'
    ? `${policy.max} per ${policy.timeWindow / 1000} s per client`
    : 'the default policy'
  const description = [(schema as { description?: string }).description, `Rate limit: ${limit}.`].filter(Boolean).join('\n\n')
  return { schema: { ...schema, description, response: { 429: RateLimitRefusal, ...(schema.response as object) } }, url }
}

/** Registers @fastify/swagger (OpenAPI 3.1) and Swagger UI at `prefix` (`/docs`, JSON at `/docs/json`). */
export async function registerOpenApi (app: FastifyInstance, prefix = '/docs'): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'cachekit demo',
        version: '0.1.0',
        description: 'The demo service of fastify-cachekit: Fastify plugins for the shared state a multi-instance service keeps in Redis. ' +
          'Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`; see docs/guide.md.'
      },
      tags: API_TAGS.map((tag) => ({ ...tag }))
    },
    transform: documentRateLimit
  })
  await app.register(fastifySwaggerUi, { routePrefix: prefix, uiConfig: { docExpansion: 'list', deepLinking: true } })
}
