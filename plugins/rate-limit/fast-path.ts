import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify'
import { refusalBody } from '../../lib/rate-limit/headers.js'
import type { LimitState, TokenBucketLimiterStore } from '../../lib/rate-limit/limiter-store.js'
import { RoutePolicySchema } from './options.js'

/**
 * The fast path: a refusal the deny cache still holds is answered before
 * @fastify/rate-limit runs, with the very bytes it would send, and without a
 * ticket, a store call, a thrown error or the error handler. Under abuse most
 * requests are such refusals, so this is where an abusive client's cost is decided.
 */

/** @fastify/rate-limit options that leave a refusal as it is (so the fast path may answer it). */
const NEUTRAL_OPTIONS = new Set(['max', 'timeWindow', 'keyGenerator', 'skipOnError', 'groupId', 'logLevel', 'continueExceeding', 'exponentialBackoff', 'ipv6Subnet', 'nameSpace', 'cache', 'redis'])
/** The route policy keys a fast path understands (anything else, e.g. a keyGenerator of its own, may change the refusal). */
const POLICY_KEYS = new Set(Object.keys(RoutePolicySchema.properties))

/** Whether these @fastify/rate-limit options leave refusals as the defaults make them. */
export function neutralOptions (options: Record<string, unknown>): boolean {
  return Object.keys(options).every((name) => NEUTRAL_OPTIONS.has(name) || (name === 'hook' && options.hook === 'onRequest'))
}

/**
 * Whether `route` (registered on `instance`) may have a fast path: a policy
 * made only of keys we understand, and Fastify's default error handler (any
 * other handler may answer a refusal otherwise).
 */
export function fastPathFits (route: RouteOptions, instance: FastifyInstance): boolean {
  const policy = (route.config as { rateLimit?: unknown } | undefined)?.rateLimit
  if (typeof policy !== 'object' || policy === null || !Object.keys(policy).every((name) => POLICY_KEYS.has(name))) return false
  return route.errorHandler === undefined && instance.errorHandler.name === 'defaultErrorHandler'
}

/** The 429 as Fastify's default error handler serialises `refusalError`: the same bytes, without the throw. */
function refuse (reply: FastifyReply, state: LimitState): void {
  const seconds = Math.ceil(state.decision.retryAfterMs / 1000)
  reply.code(429)
    .header('x-ratelimit-limit', state.decision.limit)
    .header('x-ratelimit-remaining', 0)
    .header('x-ratelimit-reset', seconds)
    .header('retry-after', seconds)
    .type('application/json; charset=utf-8')
    .send(refusalBody(state.decision.retryAfterMs))
}

/**
 * The fast path of a route: an onRequest hook placed just before
 * @fastify/rate-limit's own. When the deny cache still refuses the request's
 * bucket, it answers the 429 itself and, by not calling `done`, stops the
 * later hooks; otherwise it leaves the key it generated for @fastify/rate-limit.
 */
export function fastPath (route: RouteOptions, limiterOf: (route: object) => TokenBucketLimiterStore | undefined,
  generate: (request: FastifyRequest) => unknown, record: (request: FastifyRequest, state: LimitState) => void): onRequestHookHandler {
  let limiter: TokenBucketLimiterStore | undefined
  return function rateLimitFastPath (request, reply, done) {
    limiter ??= limiterOf(route) as TokenBucketLimiterStore
    const key = generate(request)
    request.rateLimitKey = key
    const state = typeof key === 'string' || typeof key === 'number' ? limiter.standingRefusal(key) : undefined
    if (state === undefined) { done(); return }
    record(request, state)
    refuse(reply, state)
  }
}
