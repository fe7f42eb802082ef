import { AsyncLocalStorage } from 'node:async_hooks'
import { fail, type Failure } from './result.js'

/**
 * A request's outage budget: once one of its Redis calls has failed for an
 * outage (a timeout, no connection), every later Redis call of the same
 * request fails fast instead of waiting for its own deadline. So an outage
 * costs a request at most one deadline, however many calls it makes (the rate
 * limiter's, then the route's), even before the circuit breaker has seen
 * enough failures to open.
 *
 * The budget follows the request through async calls (AsyncLocalStorage).
 * The cache plugin opens one per request (an `onRequest` hook); without
 * Fastify, wrap a unit of work in `withRequestBudget`. Outside one, nothing
 * is spent and every call tries Redis.
 */

interface Budget { spent: boolean }

const budgets = new AsyncLocalStorage<Budget>()

/** Runs `fn` with a fresh budget: the calls it makes, directly or not, share it. */
export function withRequestBudget<T> (fn: () => T): T {
  return budgets.run({ spent: false }, fn)
}

/** Has the current request already met an outage? False outside a request. */
export function budgetSpent (): boolean {
  return budgets.getStore()?.spent === true
}

/** The current request met an outage: its later Redis calls fail fast. No-op outside a request. */
export function spendBudget (): void {
  const budget = budgets.getStore()
  if (budget !== undefined) budget.spent = true
}

/** What a call answers when its request's budget is spent. */
export const BUDGET_SPENT: Failure = fail('UNAVAILABLE', 'this request already met a Redis failure: failing fast instead of waiting for another deadline')
