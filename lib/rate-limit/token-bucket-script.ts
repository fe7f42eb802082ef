import { defineScript, type ScriptContext, type ScriptReply } from '../scripts.js'

/**
 * `lua/token-bucket.lua` and its in-process twin. Both keep a bucket as the
 * instant (µs) it will be full again and answer the same four integers per
 * bucket (one call may decide for several); the parity tests hold them together.
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

const INVALID_COSTS = 'INVALID_ARGUMENT capacity, refill interval and cost must be numbers (capacity >= 1, interval >= 1, cost >= 0)'

function tokenBucketTwin (ctx: ScriptContext, keys: readonly string[], args: readonly string[]): ScriptReply {
  if (args.length !== 4 * keys.length) {
    throw new Error(`INVALID_ARGUMENT expected four arguments per key, got ${args.length} for ${keys.length}`)
  }
  // every bucket is parsed and checked before any is decided: a bad one writes nothing at all
  const num: number[] = []
  for (let i = 0; i < args.length; i += 4) {
    const capacity = luaNumber(args[i])
    const interval = luaNumber(args[i + 1])
    const cost = luaNumber(args[i + 2])
    if (Number.isNaN(capacity) || Number.isNaN(interval) || Number.isNaN(cost) || capacity < 1 || interval < 1 || cost < 0) {
      throw new Error(INVALID_COSTS)
    }
    if (cost > capacity) {
      throw new Error(`INVALID_ARGUMENT cost ${args[i + 2] as string} exceeds the capacity ${args[i] as string}: it could never be paid`)
    }
    num.push(capacity, interval, cost)
  }

  const now = ctx.nowMs() * 1000
  const reply: number[] = []
  keys.forEach((key, k) => {
    const capacity = num[3 * k] as number
    const interval = num[3 * k + 1] as number
    const cost = num[3 * k + 2] as number
    const stored = luaNumber(ctx.get(key) ?? undefined)
    const fullAt = Number.isNaN(stored) || stored < now ? now : stored

    const after = fullAt + cost * interval
    const allowed = after - now <= capacity * interval
    let debt = fullAt - now
    let retryAfterMs = 0
    if (allowed) {
      debt = after - now
      if (cost > 0 && args[4 * k + 3] !== '1') ctx.set(key, String(after), Math.ceil(debt / 1000))
    } else {
      retryAfterMs = Math.ceil((after - now - capacity * interval) / 1000)
    }
    reply.push(allowed ? 1 : 0, Math.max(0, capacity - Math.ceil(debt / interval)), retryAfterMs, Math.ceil(debt / 1000))
  })
  return reply
}

/** The reply for one bucket as the script gives it; `limit` and `source` are the caller's to add. */
export type BucketReply = Pick<Decision, 'allowed' | 'remaining' | 'retryAfterMs' | 'resetMs'>

/** Four integers per bucket, in the order of the keys. */
function decodeBucketReplies (reply: unknown): BucketReply[] {
  if (!Array.isArray(reply) || reply.length === 0 || reply.length % 4 !== 0 || !reply.every((n) => typeof n === 'number')) {
    throw new Error('expected four integers per bucket')
  }
  const buckets: BucketReply[] = []
  for (let i = 0; i < reply.length; i += 4) {
    buckets.push({ allowed: reply[i] === 1, remaining: reply[i + 1] as number, retryAfterMs: reply[i + 2] as number, resetMs: reply[i + 3] as number })
  }
  return buckets
}

export const tokenBucketScript = defineScript<BucketReply[]>('token-bucket', tokenBucketTwin, decodeBucketReplies)
