import fastifySwagger, { type SwaggerTransform } from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { API_TAGS } from './api-tags.js'

/**
 * The demo's API reference: every route's TypeBox schema as an OpenAPI 3.1
 * document (`@fastify/swagger`, at `/docs/json`) and Swagger UI at `/docs`,
 * served from the package, so it works offline. Registered before any route:
 * @fastify/swagger collects routes as they are added.
 */

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
