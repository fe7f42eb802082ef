import { defineScript, type ScriptContext, type ScriptReply } from '../scripts.js'

/**
 * `lua/token-bucket.lua` and its in-process twin. Both keep a bucket as the
 * instant (µs) it will be full again and answer the same four integers; the
 * parity tests hold them together.
 */

/** Where a decision came from. */
export type DecisionSource =
  /** The shared store (Redis, or the memory store when that is the backend). */
  | 'store'
  /** This instance's deny cache: a refusal remembered, no round trip. */
  | 'deny-cache'
  /** The store failed and the in-process bucket decided (fail policy `local`). */
  | 'local'
  /** The store failed and the request was let through (fail policy `open`). */
  | 'open'

export interface Decision {
  allowed: boolean
  /** Whole tokens left after this decision; `null` when unknown (fail-open). */
  remaining: number | null
  /** Milliseconds until the cost could be paid, rounded up; 0 when allowed. */
  retryAfterMs: number
  /** Milliseconds until the bucket is full again, rounded up. */
  resetMs: number
  /** The bucket's capacity. */
  limit: number
  source: DecisionSource
}

/** Lua's `tonumber`: NaN (Lua's nil) for anything that is not a number. */
function luaNumber (value: string | undefined): number {
  return value === undefined || value.trim() === '' ? NaN : Number(value)
}

function tokenBucketTwin (ctx: ScriptContext, keys: readonly string[], args: readonly string[]): ScriptReply {
  const key = keys[0] as string
  const capacity = luaNumber(args[0])
  const interval = luaNumber(args[1])
  const cost = luaNumber(args[2])
  if (Number.isNaN(capacity) || Number.isNaN(interval) || Number.isNaN(cost) || capacity < 1 || interval < 1 || cost < 0) {
    throw new Error('INVALID_ARGUMENT capacity, refill interval and cost must be numbers (capacity >= 1, interval >= 1, cost >= 0)')
  }
  if (cost > capacity) {
    throw new Error(`INVALID_ARGUMENT cost ${args[2] as string} exceeds the capacity ${args[0] as string}: it could never be paid`)
  }

  const now = ctx.nowMs() * 1000
  const stored = luaNumber(ctx.get(key) ?? undefined)
  const fullAt = Number.isNaN(stored) || stored < now ? now : stored

  const burst = capacity * interval
  const after = fullAt + cost * interval
  const allowed = after - now <= burst
  let debt = fullAt - now
  let retryAfterMs = 0
  if (allowed) {
    debt = after - now
    if (cost > 0 && args[3] !== '1') ctx.set(key, String(after), Math.ceil(debt / 1000))
  } else {
    retryAfterMs = Math.ceil((after - now - burst) / 1000)
  }

  const remaining = Math.max(0, capacity - Math.ceil(debt / interval))
  return [allowed ? 1 : 0, remaining, retryAfterMs, Math.ceil(debt / 1000)]
}

/** The reply as the script gives it; `limit` and `source` are the caller's to add. */
export type BucketReply = Pick<Decision, 'allowed' | 'remaining' | 'retryAfterMs' | 'resetMs'>

function decodeBucketReply (reply: unknown): BucketReply {
  if (!Array.isArray(reply) || reply.length !== 4 || !reply.every((n) => typeof n === 'number')) {
    throw new Error('expected four integers')
  }
  const [allowed, remaining, retryAfterMs, resetMs] = reply as [number, number, number, number]
  return { allowed: allowed === 1, remaining, retryAfterMs, resetMs }
}

export const tokenBucketScript = defineScript<BucketReply>('token-bucket', tokenBucketTwin, decodeBucketReply)
