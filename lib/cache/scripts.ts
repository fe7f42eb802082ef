import { defineScript } from '../scripts.js'

/** The cache's two scripts (lua/cache-claim.lua, lua/cache-release.lua) with their in-process twins. */

/** SET NX PX that answers the value now at the key: the caller's when it set it. */
export const cacheClaim = defineScript<string>(
  'cache-claim',
  (ctx, keys, args) => {
    const key = keys[0] as string
    const current = ctx.get(key)
    if (current !== null) return current
    const ttlMs = Number(args[1])
    ctx.set(key, args[0] as string, ttlMs === 0 ? undefined : ttlMs)
    return args[0] as string
  },
  (reply) => String(reply)
)

/** Deletes the lock only while it holds the caller's token. */
export const cacheRelease = defineScript<boolean>(
  'cache-release',
  (ctx, keys, args) => ctx.get(keys[0] as string) === args[0] ? ctx.del(keys[0] as string) : 0,
  (reply) => reply === 1
)

export const CACHE_SCRIPTS = [cacheClaim, cacheRelease]
