import AjvCompiler from '@fastify/ajv-compiler'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions, RouteOptions } from 'fastify'
import { PROBLEM_CODES, problem, sendProblem, type Problem, type ProblemCode, type ProblemReply } from '../lib/problem.js'
import type { Env } from './config.js'

/**
 * The demo's HTTP edges, the same for every route (the demo's and any a
 * merged plugin adds): strict input (no stripped properties, no coerced
 * bodies), one problem body for every 4xx and 5xx the app itself answers,
 * 405 with `Allow` for a known path asked with the wrong method, and the
 * server's timeouts.
 */

type Compile = (route: { httpPart?: string }) => unknown
interface AjvOptions { customOptions?: Record<string, unknown>, plugins?: unknown[] }

/**
 * Bodies are validated without type coercion (`{"userId": 123}` is refused,
 * never turned into "123"); path parameters and query strings keep Fastify's
 * coercion, since they arrive as text. Nothing is stripped anywhere: an
 * unknown property is refused and named (`removeAdditional: false`).
 */
const ajvFactory = AjvCompiler() as unknown as (externalSchemas: unknown, options: AjvOptions) => Compile
function buildValidator (externalSchemas: unknown, options: AjvOptions = {}): Compile {
  const custom = { ...options.customOptions, removeAdditional: false }
  const bodies = ajvFactory(externalSchemas, { ...options, customOptions: { ...custom, coerceTypes: false } })
  const others = ajvFactory(externalSchemas, { ...options, customOptions: custom })
  return (route) => (route.httpPart === 'body' ? bodies : others)(route)
}

/** Fastify's constructor options for the demo: validation, timeouts, and the body of a router-level error. */
export function httpServerOptions (config: Env): FastifyServerOptions {
  const options = {
    ajv: { customOptions: { removeAdditional: false } },
    schemaController: { compilersFactory: { buildValidator: buildValidator as never } },
    // a request (headers and body) must arrive within this, or it is answered 408 and the socket closed
    requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
    // an idle socket (no request in flight) is closed after this
    connectionTimeout: config.HTTP_CONNECTION_TIMEOUT_MS,
    keepAliveTimeout: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    // node checks the request timeout only while its headers timeout is no longer, and only every
    // connectionsCheckingInterval (default 30 s, which would let a 1 s timeout wait 30 s)
    http: { headersTimeout: config.HTTP_REQUEST_TIMEOUT_MS, connectionsCheckingInterval: Math.min(1000, config.HTTP_REQUEST_TIMEOUT_MS) },
    // a malformed URL (`/%zz`) is refused before routing: the same problem body
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      sendProblem(reply as ProblemReply<FastifyReply>, problem('INVALID_ARGUMENT', `url: ${error.message}`, request.raw.url as string))
    }
  }
  return options as FastifyServerOptions
}

/** An ajv error as `<part>.<path>: <rule>`, naming the field and what it broke. */
interface AjvError { instancePath: string, keyword: string, message?: string, params: Record<string, unknown> }

function fieldOf (part: string, error: AjvError): string {
  const path = error.instancePath.replace(/^\//, '').split('/').filter((p) => p !== '').join('.')
  const base = path === '' ? part : `${part}.${path}`
  if (error.keyword === 'required') return `${base}.${String(error.params.missingProperty)}`
  if (error.keyword === 'additionalProperties') return `${base}.${String(error.params.additionalProperty)}`
  return base
}

function ruleOf (error: AjvError): string {
  if (error.keyword === 'required') return 'is required'
  if (error.keyword === 'additionalProperties') return 'is not a known property (unknown properties are refused)'
  return error.message ?? error.keyword
}

/** The detail of a schema failure: every broken field, each with its rule. */
export function validationDetail (part: string, errors: AjvError[]): string {
  return errors.map((error) => `${fieldOf(part, error)}: ${ruleOf(error)}`).join('; ')
}

/** Fastify's own 4xx errors (body parsing), each with the field and the rule it broke. */
const FRAMEWORK_4XX: Record<string, { code: ProblemCode, detail: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'INVALID_ARGUMENT', detail: 'body: must be valid JSON, without __proto__ or constructor.prototype keys (content-type is application/json)' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'INVALID_ARGUMENT', detail: 'body: must not be empty when content-type is application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'INVALID_ARGUMENT', detail: 'content-length: must match the body\'s length' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'PAYLOAD_TOO_LARGE', detail: 'body: is larger than the server accepts' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_MEDIA_TYPE', detail: 'content-type: must be application/json' }
}

/** The problem body of an error reaching the app's error handler; null: let Fastify's default answer it. */
export function errorProblem (err: FastifyError, instance: string): Problem | null {
  if (err.validation !== undefined) return problem('INVALID_ARGUMENT', validationDetail(err.validationContext ?? 'request', err.validation as AjvError[]), instance)
  const status = err.statusCode ?? 500
  const known = err.code === undefined ? undefined : FRAMEWORK_4XX[err.code]
  if (known !== undefined) return problem(known.code, known.detail, instance)
  if (status >= 500) {
    // never the error's own text: it may carry a client library's or a dependency's internals;
    // its code stays when it is one of ours with that status (RATE_LIMIT_UNAVAILABLE, say)
    const own = err.code !== undefined && Object.hasOwn(PROBLEM_CODES, err.code) && PROBLEM_CODES[err.code as ProblemCode].status === status
    const code: ProblemCode = own ? err.code as ProblemCode : status === 503 ? 'UNAVAILABLE' : 'INTERNAL'
    return problem(code, status === 503 ? 'The service is unavailable; try again later.' : 'The server failed to answer.', instance)
  }
  return null
}

/** Every method a path answers, from the routes as they are added. */
export class RouteMethods {
  readonly #routes: Array<{ pattern: RegExp, methods: Set<string> }> = []
  readonly #byUrl = new Map<string, Set<string>>()

  readonly onRoute = (route: RouteOptions): void => {
    let methods = this.#byUrl.get(route.url)
    if (methods === undefined) {
      methods = new Set()
      this.#byUrl.set(route.url, methods)
      this.#routes.push({ pattern: patternOf(route.url), methods })
    }
    for (const method of [route.method].flat()) methods.add(method)
    if (methods.has('GET')) methods.add('HEAD')
  }

  /** The methods that answer `path` (no query), sorted; empty when no route matches it. */
  allowed (path: string): string[] {
    const out = new Set<string>()
    for (const { pattern, methods } of this.#routes) if (pattern.test(path)) for (const m of methods) out.add(m)
    return [...out].sort()
  }
}

/** A route URL (`/users/:userId/roles/:role`, `/docs/*`) as a regular expression over a request path. */
function patternOf (url: string): RegExp {
  const body = url.split('/').map((segment) => {
    if (segment === '*') return '.*'
    if (segment.startsWith(':')) return '[^/]+'
    return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  }).join('/')
  return new RegExp(`^${body}/?$`)
}

/**
 * Installs the route registry (call before any route is added), the
 * not-found handler (405 with Allow for a known path, else a 404 problem)
 * and the error handler (problem bodies; Fastify's default for the rest, such
 * as the rate limiter's own 429 body).
 */
export function installHttpErrors (app: FastifyInstance): RouteMethods {
  const routes = new RouteMethods()
  app.addHook('onRoute', routes.onRoute)

  app.setNotFoundHandler(async (request: FastifyRequest, reply: FastifyReply) => {
    const path = (request.raw.url as string).split('?')[0] as string
    const allowed = routes.allowed(path)
    if (allowed.length > 0) {
      return sendProblem(reply.header('allow', allowed.join(', ')), problem('METHOD_NOT_ALLOWED', `method: ${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`, request.url))
    }
    return sendProblem(reply, problem('NOT_FOUND', `url: no route answers ${request.method} ${path}`, request.url))
  })

  app.setErrorHandler(async (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const body = errorProblem(err, request.url)
    if (body === null) return await reply.send(err)
    // a 500 is our bug; a 503 is an outage the component already reported (counted, warned at most once per interval)
    if (body.status === 500) request.log.error({ err }, 'request failed')
    return sendProblem(reply, body)
  })
  return routes
}
