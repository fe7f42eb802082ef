import { problem, type Problem } from '../problem.js'
import type { Decision } from './token-bucket-script.js'

/**
 * What a response says about the limit, beyond the `x-ratelimit-*` and
 * `Retry-After` headers @fastify/rate-limit writes: the IETF draft structured
 * headers (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy` and
 * `RateLimit`) and the opt-in problem-details body of a refusal (the shared
 * one of lib/problem.ts, code RATE_LIMITED).
 */

/** An RFC 8941 sf-string. */
function sfString (value: string): string {
  return '"' + value.replace(/[\\"]/g, (c) => '\\' + c).replace(/[^\x20-\x7e]/g, '?') + '"'
}

function seconds (ms: number): number {
  return Math.ceil(ms / 1000)
}

/** `RateLimit-Policy: "<name>";q=<capacity>;w=<seconds to refill from empty>` */
export function rateLimitPolicyHeader (name: string, limit: number, windowMs: number): string {
  return `${sfString(name)};q=${limit};w=${seconds(windowMs)}`
}

/**
 * `RateLimit: "<name>";r=<remaining>;t=<seconds>`: `t` is when a refused
 * request may retry, else when the bucket is full. Decided fail-open (the
 * quota unknown), the bucket is reported full, as the x-ratelimit headers report it.
 */
export function rateLimitHeader (name: string, decision: Decision): string {
  if (decision.remaining === null) return `${sfString(name)};r=${decision.limit};t=0`
  const remaining = decision.allowed ? decision.remaining : 0
  return `${sfString(name)};r=${remaining};t=${seconds(decision.allowed ? decision.resetMs : decision.retryAfterMs)}`
}

/** The RFC 9457 body of a 429 (`problemDetails: true`), with `retryAfter` in seconds as in Retry-After. */
export function tooManyRequestsProblem (decision: Decision, instance: string, type = 'about:blank'): Problem {
  const retryAfter = seconds(decision.retryAfterMs)
  return problem('RATE_LIMITED', `Rate limit of ${decision.limit} exceeded; retry in ${retryAfter} s.`, instance, { type, retryAfter })
}

const UNITS: ReadonlyArray<[string, number]> = [['year', 31_557_600_000], ['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000], ['second', 1000]]

/**
 * A duration in words as @fastify/rate-limit words it (`1 second`, `2 minutes`,
 * `1 hour`: the largest unit it reaches, rounded to a whole number; under a second, `ms`).
 */
export function inWords (ms: number): string {
  if (!(ms >= 1000)) return `${ms} ms`
  const [unit, size] = UNITS.find(([, size]) => ms >= size) as [string, number]
  const n = Math.round(ms / size)
  return `${n} ${unit}${n === 1 ? '' : 's'}`
}

/** The message of a refusal (of `refusalError`), retrying after `ttlMs` (whole seconds, rounded up): @fastify/rate-limit's words. */
export function refusalMessage (ttlMs: number): string {
  return `Rate limit exceeded, retry in ${inWords(seconds(ttlMs) * 1000)}`
}

/** Refusal bodies by seconds to wait: under abuse the same few are sent again and again. */
const bodies = new Map<number, string>()
const MAX_BODIES = 1024

/**
 * The JSON body Fastify's default error handler makes of `refusalError(429, ttlMs)`
 * (the message is plain ASCII, so it needs no escaping). Made once per number
 * of seconds: a string built per refusal costs a measurable share of the
 * fast path (it is concatenated, measured and flattened on every write).
 */
export function refusalBody (ttlMs: number): string {
  const wait = seconds(ttlMs)
  let body = bodies.get(wait)
  if (body === undefined) {
    if (bodies.size >= MAX_BODIES) bodies.clear()
    body = '{"statusCode":429,"error":"Too Many Requests","message":"' + refusalMessage(ttlMs) + '"}'
    bodies.set(wait, body)
  }
  return body
}

/**
 * The error @fastify/rate-limit throws for a refusal. A refusal is expected,
 * not a bug: no stack trace is captured, which is most of what an Error costs,
 * and under abuse this is the hot path.
 */
export function refusalError (statusCode: number, ttlMs: number): Error & { statusCode: number } {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  const error = new Error(refusalMessage(ttlMs)) as Error & { statusCode: number }
  Error.stackTraceLimit = limit
  error.statusCode = statusCode
  return error
}
