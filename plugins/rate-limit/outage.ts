import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { problem, sendProblem } from '../../lib/problem.js'
import { RateLimitStoreError } from '../../lib/rate-limit/limiter-store.js'

/**
 * The `closed` policy's refusals during an outage, answered as what they are:
 * an expected 503 (code RATE_LIMIT_UNAVAILABLE, problem details), not a thrown
 * error. A thrown 5xx goes to the error handler, which logs it at error level
 * with a stack, once per request: thousands of lines a second in an outage.
 * The failure itself is already counted and logged, throttled, where it
 * happened (TokenBucket, through the component context), as for `open`.
 */

type Hook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>

/** Seconds a client is told to wait before trying a limiter that is down. */
const RETRY_AFTER_SECONDS = 1

/**
 * Wraps the hook @fastify/rate-limit just added to `route` (the last of
 * `route[hook]`, called from an onRoute hook registered after it) so that an
 * outage refused by the store is answered here.
 */
export function answerOutages (route: RouteOptions, defaultHook: string): void {
  const config = (route.config as { rateLimit?: unknown } | undefined)?.rateLimit
  if (typeof config !== 'object' || config === null) return
  const name = ((config as { hook?: string }).hook ?? defaultHook) as 'onRequest'
  // @fastify/rate-limit's onRoute hook has just made it an array ending with its own hook
  const hooks = route[name] as unknown as Hook[]
  const limit = hooks[hooks.length - 1] as Hook
  hooks[hooks.length - 1] = function rateLimitOrOutage (request: FastifyRequest, reply: FastifyReply) {
    return limit(request, reply).catch((error: unknown) => {
      if (!(error instanceof RateLimitStoreError) || error.statusCode !== 503) throw error
      reply.header('retry-after', RETRY_AFTER_SECONDS)
      return sendProblem(reply, problem('RATE_LIMIT_UNAVAILABLE', 'The rate limiter is unavailable; try again later.', request.url))
    })
  }
}
