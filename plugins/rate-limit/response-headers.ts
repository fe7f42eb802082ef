import type { onSendHookHandler } from 'fastify'
import { PROBLEM_CONTENT_TYPE } from '../../lib/problem.js'
import { rateLimitHeader, rateLimitPolicyHeader, tooManyRequestsProblem } from '../../lib/rate-limit/headers.js'
import type { ResolvedOptions } from './options.js'

/**
 * What a response says about its request's decision, beyond the headers
 * @fastify/rate-limit writes (an onSend hook): the IETF draft headers with
 * `draftHeaders`, and the problem-details 429 with `problemDetails`.
 */
export function decisionHeaders (opts: Pick<ResolvedOptions, 'draftHeaders' | 'problemDetails' | 'problemType'>): onSendHookHandler {
  return function rateLimitHeaders (request, reply, payload, done) {
    const state = request.rateLimitDecision
    if (state === null) { done(null, payload); return }
    const { decision } = state
    if (opts.draftHeaders) {
      reply.header('ratelimit-policy', rateLimitPolicyHeader(state.scope, decision.limit, state.windowMs))
      reply.header('ratelimit', rateLimitHeader(state.scope, decision))
    }
    if (opts.problemDetails && !decision.allowed && reply.statusCode === 429) {
      reply.type(PROBLEM_CONTENT_TYPE)
      done(null, JSON.stringify(tooManyRequestsProblem(decision, request.url, opts.problemType)))
      return
    }
    done(null, payload)
  }
}
