import { defineScript } from '../../lib/scripts.js'

/** Small scripts of the tests' own, to prove the runner apart from any feature. */

// KEYS[1] sorted set; ARGV[1] score, ARGV[2] member. Reply: members added.
export const zaddScript = defineScript<number>(
  'test-zadd',
  (ctx, keys, args) => ctx.zadd(keys[0] as string, Number(args[0]), args[1] as string),
  (reply) => reply as number,
  "return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])"
)

// KEYS[1] counter; ARGV[1] step. Reply: { new value, server time in ms as a string }.
export const stampedIncrScript = defineScript<{ value: number, nowMs: number }>(
  'test-stamped-incr',
  (ctx, keys, args) => [ctx.incrBy(keys[0] as string, Number(args[0])), String(ctx.nowMs())],
  (reply) => {
    const [value, now] = reply as [number, string]
    if (typeof value !== 'number') throw new Error('value is not an integer')
    return { value, nowMs: Number(now) }
  },
  `local t = redis.call('TIME')
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
return { v, tostring(t[1] * 1000 + math.floor(t[2] / 1000)) }`
)

// Raises one of our own error codes from inside the script.
export const refuseScript = defineScript<never>(
  'test-refuse',
  () => { throw new Error('INVALID_ARGUMENT refused on purpose') },
  () => { throw new Error('unreachable') },
  "return redis.error_reply('INVALID_ARGUMENT refused on purpose')"
)

// Replies with something its decoder rejects.
export const oddReplyScript = defineScript<number>(
  'test-odd-reply',
  () => 'not a number',
  (reply) => { if (typeof reply !== 'number') throw new Error('expected an integer'); return reply },
  "return 'not a number'"
)

// A Lua runtime error (calling an unknown command): a SCRIPT failure.
export const brokenScript = defineScript<number>(
  'test-broken',
  () => { throw new Error('Unknown Redis command called from script') },
  (reply) => reply as number,
  "return redis.call('NOSUCHCOMMAND')"
)
