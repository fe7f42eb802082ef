import { defineScript, type ScriptContext, type ScriptReply } from '../scripts.js'

/**
 * `lua/token-bucket.lua` and its in-process twin. Both keep a bucket as the
 * instant (µs) it will be full again and answer the same five integers per
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
  /** Refusals of this bucket in a row, this one included (0 when allowed); counted only with a penalty or a ban, else 1 for a refusal. */
  refusals: number
  source: DecisionSource
}

/** Lua's `tonumber`: NaN (Lua's nil) for anything that is not a number. */
function luaNumber (value: string | undefined): number {
  return value === undefined || value.trim() === '' ? NaN : Number(value)
}

const INVALID_COSTS = 'INVALID_ARGUMENT capacity, refill interval and cost must be numbers (capacity >= 1, interval >= 1, cost >= 0)'

/** The longest wait a penalty may set (µs, about 31 years), as in the script. */
const MAX_WAIT = 1e15

/** The bits of a bucket's mode argument (the script's fourth per bucket). */
export const MODE = { dryRun: 1, continueExceeding: 2, exponentialBackoff: 4, countRefusals: 8, banUnit: 16 } as const

function tokenBucketTwin (ctx: ScriptContext, keys: readonly string[], args: readonly string[]): ScriptReply {
  if (args.length !== 4 * keys.length && args.length !== 4 * keys.length + 1) {
    throw new Error(`INVALID_ARGUMENT expected four arguments per key (and optionally the time), got ${args.length} for ${keys.length}`)
  }
  // every bucket is parsed and checked before any is decided: a bad one writes nothing at all
  const num: number[] = []
  for (let i = 0; i + 4 <= args.length; i += 4) {
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

  // the caller's time (clock 'process'), else the store's
  let now = ctx.nowMs() * 1000
  if (args.length > 4 * keys.length) {
    now = luaNumber(args[args.length - 1])
    if (Number.isNaN(now) || now < 0 || !Number.isInteger(now)) throw new Error('INVALID_ARGUMENT the time must be whole microseconds since the epoch')
  }
  const reply: number[] = []
  keys.forEach((key, k) => {
    const capacity = num[3 * k] as number
    const interval = num[3 * k + 1] as number
    const cost = num[3 * k + 2] as number
    const mode = Number.isNaN(luaNumber(args[4 * k + 3])) ? 0 : luaNumber(args[4 * k + 3])
    const dry = mode % 2 === 1
    const stateful = mode >= 2
    const raw = ctx.get(key)
    let fullAt = NaN
    let streak = 0
    if (raw !== null) {
      const sep = raw.indexOf(':')
      if (sep === -1) fullAt = luaNumber(raw)
      else {
        fullAt = luaNumber(raw.slice(0, sep))
        const count = luaNumber(raw.slice(sep + 1))
        streak = Number.isNaN(count) ? 0 : count
      }
    }
    if (Number.isNaN(fullAt) || fullAt < now) { fullAt = now; streak = 0 }

    const window = capacity * interval
    const after = fullAt + cost * interval
    // a ban (mode 16 × (ban + 1)) holds until the bucket is full again
    const ban = Math.floor(mode / 16) - 1
    let banned = ban >= 0 && streak > ban && fullAt > now
    const allowed = after - now <= window && !banned
    let debt = fullAt - now
    let retryAfterMs = 0
    let refusals = 0
    if (allowed) {
      // a dry run reports the bucket as it stands: nothing taken
      if (!dry) {
        debt = after - now
        if (cost > 0 || (stateful && streak > 0)) ctx.set(key, String(after), Math.max(1, Math.ceil(debt / 1000)))
      }
    } else {
      refusals = 1
      if (stateful) {
        refusals = streak + 1
        if (!dry) {
          // a penalty: the bucket is full again only `refill` from now (tokens come back at the usual rate meanwhile)
          let refill = 0
          if (Math.floor(mode / 4) % 2 === 1) refill = Math.min(window * 2 ** (refusals - 1), MAX_WAIT)
          else if (Math.floor(mode / 2) % 2 === 1) refill = window
          if (ban >= 0 && refusals === ban + 1 && refill < window) refill = window
          if (now + refill > fullAt) fullAt = now + refill
          debt = fullAt - now
          banned = ban >= 0 && refusals > ban
          ctx.set(key, `${fullAt}:${refusals}`, Math.ceil(debt / 1000))
        }
      }
      // banned: no token before the bucket is full
      retryAfterMs = Math.ceil((banned ? debt : fullAt + cost * interval - now - window) / 1000)
    }
    reply.push(allowed ? 1 : 0, banned ? 0 : Math.max(0, capacity - Math.ceil(debt / interval)), retryAfterMs, Math.ceil(debt / 1000), refusals)
  })
  return reply
}

/** The reply for one bucket as the script gives it; `limit` and `source` are the caller's to add. */
export type BucketReply = Pick<Decision, 'allowed' | 'remaining' | 'retryAfterMs' | 'resetMs' | 'refusals'>

/** Five integers per bucket, in the order of the keys. */
function decodeBucketReplies (reply: unknown): BucketReply[] {
  if (!Array.isArray(reply) || reply.length === 0 || reply.length % 5 !== 0 || !reply.every((n) => typeof n === 'number')) {
    throw new Error('expected five integers per bucket')
  }
  const buckets: BucketReply[] = []
  for (let i = 0; i < reply.length; i += 5) {
    buckets.push({ allowed: reply[i] === 1, remaining: reply[i + 1] as number, retryAfterMs: reply[i + 2] as number, resetMs: reply[i + 3] as number, refusals: reply[i + 4] as number })
  }
  return buckets
}

export const tokenBucketScript = defineScript<BucketReply[]>('token-bucket', tokenBucketTwin, decodeBucketReplies)
