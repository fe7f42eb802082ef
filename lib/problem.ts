import { Type, type Static } from '@sinclair/typebox'
import type { ErrorCode, Failure } from './result.js'

/**
 * The one HTTP error body of cachekit: RFC 9457 problem details, served as
 * `application/problem+json`, from every route of the demo, every authz guard
 * and the rate limiter's opt-in `problemDetails` 429. Framework-free: the
 * plugins and routes send it with `sendProblem(reply, body)`.
 *
 * `code` is stable and machine-readable; each has one status:
 *
 * | code               | status | when |
 * | ------------------ | ------ | ---- |
 * | `INVALID_ARGUMENT` | 400    | the request's input was refused (the detail says why) |
 * | `UNAUTHORIZED`     | 401    | a guarded route without an authenticated subject |
 * | `FORBIDDEN`        | 403    | the subject may not do this |
 * | `NOT_FOUND`        | 404    | no such resource |
 * | `RATE_LIMITED`     | 429    | the rate limit refused the request |
 * | `INTERNAL`         | 500    | a fault on our side: bad stored data, a script, a dependency's error |
 * | `NOT_IMPLEMENTED`  | 501    | the app was set up without what this route needs |
 * | `UNAVAILABLE`      | 503    | the store timed out or is unreachable: try again later |
 * | `METHOD_NOT_ALLOWED` | 405  | a known path asked with another method (the `Allow` header lists them) |
 * | `PAYLOAD_TOO_LARGE` | 413   | the body is larger than the server accepts |
 * | `UNSUPPORTED_MEDIA_TYPE` | 415 | a body in a content type the route does not parse |
 * | `CACHE_UNAVAILABLE`, `SESSION_CACHE_UNAVAILABLE`, `AUTHZ_UNAVAILABLE`, `OAUTH_STATE_UNAVAILABLE` | 503 | `UNAVAILABLE`, naming the component whose store is down |
 * | `RATE_LIMIT_UNAVAILABLE` | 503 | the rate limiter's store failed and its policy is `closed` |
 *
 * The detail of an outage or a fault is a fixed sentence naming the service,
 * never the error's own message: that carries client-library and server
 * internals (ioredis' "Stream isn't writeable…", key names, a dependency's
 * text), which belong in the log, not in a response.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** Each code's one status and title (the status's reason phrase, as RFC 9457 asks with `about:blank`). */
export const PROBLEM_CODES = {
  INVALID_ARGUMENT: { status: 400, title: 'Bad Request' },
  UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  NOT_FOUND: { status: 404, title: 'Not Found' },
  RATE_LIMITED: { status: 429, title: 'Too Many Requests' },
  INTERNAL: { status: 500, title: 'Internal Server Error' },
  NOT_IMPLEMENTED: { status: 501, title: 'Not Implemented' },
  UNAVAILABLE: { status: 503, title: 'Service Unavailable' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method Not Allowed' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Content Too Large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported Media Type' },
  CACHE_UNAVAILABLE: { status: 503, title: 'Service Unavailable' },
  SESSION_CACHE_UNAVAILABLE: { status: 503, title: 'Service Unavailable' },
  AUTHZ_UNAVAILABLE: { status: 503, title: 'Service Unavailable' },
  OAUTH_STATE_UNAVAILABLE: { status: 503, title: 'Service Unavailable' },
  RATE_LIMIT_UNAVAILABLE: { status: 503, title: 'Service Unavailable' }
} as const

export type ProblemCode = keyof typeof PROBLEM_CODES

export const ProblemSchema = Type.Object({
  type: Type.String({ description: 'a URI naming the kind of problem; about:blank by default' }),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  instance: Type.String({ description: 'the request URL' }),
  code: Type.Union(Object.keys(PROBLEM_CODES).map((code) => Type.Literal(code as ProblemCode))),
  retryAfter: Type.Optional(Type.Integer({ description: 'seconds to wait, as in Retry-After (429 only)' }))
}, { description: 'RFC 9457 problem details' })

export type Problem = Static<typeof ProblemSchema>

/** A route's response entry for a problem body, by content type: `response: { 404: ProblemResponse }`. */
export const ProblemResponse = {
  description: 'RFC 9457 problem details',
  content: { 'application/problem+json': { schema: ProblemSchema } }
}

export interface ProblemExtras {
  /** Default `about:blank`. */
  type?: string
  retryAfter?: number
}

export function problem (code: ProblemCode, detail: string, instance: string, extras: ProblemExtras = {}): Problem {
  const { status, title } = PROBLEM_CODES[code]
  const body: Problem = { type: extras.type ?? 'about:blank', title, status, detail, instance, code }
  if (extras.retryAfter !== undefined) body.retryAfter = extras.retryAfter
  return body
}

/** The one Failure → HTTP mapping: bad input is the caller's (400), an outage 503, anything else our fault (500). */
const PROBLEM_OF_ERROR: Record<ErrorCode, ProblemCode> = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  TIMEOUT: 'UNAVAILABLE',
  UNAVAILABLE: 'UNAVAILABLE',
  DECODE: 'INTERNAL',
  ENCODE: 'INTERNAL',
  SCRIPT: 'INTERNAL',
  INTERNAL: 'INTERNAL',
  LOADER: 'INTERNAL'
}

/**
 * The problem body of a failed call to `service` (named in the detail: "the
 * session cache"). Only an INVALID_ARGUMENT keeps its message, which is ours
 * and tells the caller what to fix. An outage answers `unavailable`, a 503 code
 * naming the component (`OAUTH_STATE_UNAVAILABLE`); default `UNAVAILABLE`.
 */
export function failureProblem (failure: Failure, instance: string, service: string, unavailable: ProblemCode = 'UNAVAILABLE'): Problem {
  const mapped = PROBLEM_OF_ERROR[failure.error.code]
  const code = mapped === 'UNAVAILABLE' ? unavailable : mapped
  const detail = code === 'INVALID_ARGUMENT'
    ? failure.error.message
    : mapped === 'UNAVAILABLE'
      ? `The ${service} is unavailable; try again later.`
      : `The ${service} failed to answer.`
  return problem(code, detail, instance)
}

/** The slice of a reply `sendProblem` uses (a FastifyReply fits): status, content type, body. */
export interface ProblemReply<R> {
  code (statusCode: number): { type (contentType: string): { send (payload: Problem): R } }
}

/** Answers with `body`: its status, `application/problem+json`. What `send` answers (a FastifyReply) comes back. */
export function sendProblem<R> (reply: ProblemReply<R>, body: Problem): R {
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body)
}
