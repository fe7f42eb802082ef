import { defineScript, sha1, type ScriptContext } from '../scripts.js'

/**
 * The session cache's scripts (lua/session-*.lua) and their in-process twins,
 * which give the memory store the same answers. See each Lua file's header for
 * KEYS, ARGV and reply. Every multi-key script touches one user's keys only,
 * all under that user's hash tag: one Cluster slot.
 */

/** Sets a sorted set to expire with its highest score (Redis drops empty sets itself). */
function expireWithLast (ctx: ScriptContext, key: string): void {
  const last = ctx.zmaxScore(key)
  if (last !== null) ctx.pexpireat(key, last)
}

export const sessionSetScript = defineScript<boolean>('session-set', (ctx, keys, args) => {
  const [session, index, tombstones] = keys as [string, string, string]
  const [id, value, ttlArg] = args as [string, string, string]
  const now = ctx.nowMs()
  const ttl = Number(ttlArg)
  ctx.zremRangeByScore(tombstones, -Infinity, now)
  if (ctx.zscore(tombstones, id) !== null) return 0
  ctx.set(session, value, ttl)
  ctx.zremRangeByScore(index, -Infinity, now)
  ctx.zadd(index, now + ttl, id)
  expireWithLast(ctx, index)
  return 1
}, (reply) => reply === 1)

/** 1 written, 0 gone, -1 changed since read. */
export type TouchReply = 1 | 0 | -1

export const sessionTouchScript = defineScript<TouchReply>('session-touch', (ctx, keys, args) => {
  const [session, index] = keys as [string, string]
  const [id, readSha, value, ttlArg] = args as [string, string, string, string]
  const current = ctx.get(session)
  if (current === null) return 0
  if (sha1(current) !== readSha) return -1
  const now = ctx.nowMs()
  const ttl = Number(ttlArg)
  ctx.set(session, value, ttl)
  ctx.zremRangeByScore(index, -Infinity, now)
  ctx.zadd(index, now + ttl, id)
  expireWithLast(ctx, index)
  return 1
}, (reply) => Number(reply) as TouchReply)

export const sessionListScript = defineScript<string[]>('session-list', (ctx, keys) => {
  const index = keys[0] as string
  ctx.zremRangeByScore(index, -Infinity, ctx.nowMs())
  return ctx.zrangeByScore(index, -Infinity, Infinity)
}, (reply) => (reply as unknown[]).map(String))

export const sessionRevokeScript = defineScript<number>('session-revoke', (ctx, keys, args) => {
  const [index, tombstones, ...sessions] = keys as [string, string, ...string[]]
  const [keepArg, ...ids] = args as [string, ...string[]]
  const now = ctx.nowMs()
  const keep = now + Number(keepArg)
  let deleted = 0
  sessions.forEach((session, i) => {
    const id = ids[i] as string
    deleted += ctx.del(session)
    const forget = Math.max(keep, ctx.zscore(index, id) ?? 0, ctx.zscore(tombstones, id) ?? 0)
    ctx.zrem(index, id)
    ctx.zadd(tombstones, forget, id)
  })
  ctx.zremRangeByScore(index, -Infinity, now)
  expireWithLast(ctx, index)
  ctx.zremRangeByScore(tombstones, -Infinity, now)
  expireWithLast(ctx, tombstones)
  return deleted
}, (reply) => Number(reply))

export const sessionScripts = [sessionSetScript, sessionTouchScript, sessionListScript, sessionRevokeScript]
