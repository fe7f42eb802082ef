import { fail, ok, type Result } from '../result.js'

/**
 * A rate-limit policy, said either way round: a bucket of `capacity` tokens
 * refilled at `refillPerSecond`, or `max` requests per `timeWindow` ms (the
 * bucket holds `max` and refills fully in `timeWindow`). Both become one
 * BucketPolicy whose refill rate is whole microseconds per token, which is
 * what the script computes with.
 */

/** What to do when the store cannot answer: let through, refuse (503), or decide in-process. */
export type FailPolicy = 'open' | 'closed' | 'local'
export const FAIL_POLICIES: readonly FailPolicy[] = ['open', 'closed', 'local']

export interface CapacityPolicy {
  capacity: number
  refillPerSecond: number
  onStoreError?: FailPolicy
}

export interface WindowPolicy {
  max: number
  /** Milliseconds to refill the bucket from empty. */
  timeWindow: number
  onStoreError?: FailPolicy
}

export type RatePolicy = CapacityPolicy | WindowPolicy

export interface BucketPolicy {
  readonly capacity: number
  /** Refill rate: microseconds per token (integer ≥ 1). */
  readonly intervalUs: number
  /** Milliseconds to refill from empty. */
  readonly windowMs: number
  /** Unset: the limiter's default. */
  readonly onStoreError?: FailPolicy
}

/** Longest refill from empty we accept (about 31 years), keeping µs timestamps exact in doubles. */
export const MAX_WINDOW_US = 1e15
const MAX_CAPACITY = 1e9

function build (capacity: number, intervalUs: number, onStoreError: unknown): Result<BucketPolicy> {
  if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
    return fail('INVALID_ARGUMENT', `capacity (max) must be an integer from 1 to ${MAX_CAPACITY}, got ${String(capacity)}`)
  }
  if (!Number.isFinite(intervalUs) || intervalUs <= 0 || capacity * intervalUs > MAX_WINDOW_US) {
    return fail('INVALID_ARGUMENT', 'the refill rate must be positive and refill the bucket within 31 years')
  }
  if (onStoreError !== undefined && !FAIL_POLICIES.includes(onStoreError as FailPolicy)) {
    return fail('INVALID_ARGUMENT', `onStoreError must be one of ${FAIL_POLICIES.join(', ')}, got ${String(onStoreError)}`)
  }
  const interval = Math.max(1, Math.round(intervalUs))
  const policy: BucketPolicy = { capacity, intervalUs: interval, windowMs: capacity * interval / 1000 }
  return ok(onStoreError === undefined ? policy : { ...policy, onStoreError: onStoreError as FailPolicy })
}

/** `max` requests per `timeWindowMs`. */
export function windowPolicy (max: number, timeWindowMs: number, onStoreError?: FailPolicy): Result<BucketPolicy> {
  if (typeof timeWindowMs !== 'number' || !(timeWindowMs > 0)) {
    return fail('INVALID_ARGUMENT', `timeWindow must be a positive number of milliseconds, got ${String(timeWindowMs)}`)
  }
  return build(max, timeWindowMs * 1000 / max, onStoreError)
}

export function toBucketPolicy (policy: RatePolicy): Result<BucketPolicy> {
  if (typeof policy !== 'object' || policy === null) return fail('INVALID_ARGUMENT', 'a policy must be an object')
  if ('capacity' in policy) {
    const rate = policy.refillPerSecond
    if (typeof rate !== 'number' || !(rate > 0)) {
      return fail('INVALID_ARGUMENT', `refillPerSecond must be a positive number, got ${String(rate)}`)
    }
    return build(policy.capacity, 1e6 / rate, policy.onStoreError)
  }
  return windowPolicy(policy.max, policy.timeWindow, policy.onStoreError)
}

/** A cost the policy can ever pay: a whole number from 0 to the capacity. */
export function checkCost (cost: number, policy: BucketPolicy): Result<number> {
  if (!Number.isSafeInteger(cost) || cost < 0) return fail('INVALID_ARGUMENT', `cost must be a whole number ≥ 0, got ${String(cost)}`)
  if (cost > policy.capacity) return fail('INVALID_ARGUMENT', `cost ${cost} exceeds the capacity ${policy.capacity}: it could never be paid`)
  return ok(cost)
}
