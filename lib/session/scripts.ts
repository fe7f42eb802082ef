import { defineScript, sha1, type ScriptContext } from '../scripts.js'

/**
 * The session cache's scripts (lua/session-*.lua) and their in-process twins,
 * which give the memory store the same answers. See each Lua file's header for
 * KEYS, ARGV and reply. A script touching several keys is only ever given keys
 * of one Cluster slot (or runs on a single node, where any keys may go together).
 */

/** Sets a sorted set to expire with its highest score (Redis drops empty sets itself). */
function expireWithLast (ctx: ScriptContext, key: string): void {
  const last = ctx.zmaxScore(key)
  if (last !== null) ctx.pexpireat(key, last)
}

function indexAdd (ctx: ScriptContext, index: string, id: string, ttl: number): void {
  const now = ctx.nowMs()
  ctx.zremRangeByScore(index, -Infinity, now)
  ctx.zadd(index, now + ttl, id)
  expireWithLast(ctx, index)
}

function indexRemove (ctx: ScriptContext, index: string, ids: readonly string[]): number {
  let removed = 0
  for (const id of ids) removed += ctx.zrem(index, id)
  ctx.zremRangeByScore(index, -Infinity, ctx.nowMs())
  expireWithLast(ctx, index)
  return removed
}

export const sessionSetScript = defineScript<boolean>('session-set', (ctx, keys, args) => {
  const [session, tombstone, index] = keys as [string, string, string | undefined]
  const [id, value, ttlArg] = args as [string, string, string]
  if (ctx.exists(tombstone)) return 0
  ctx.set(session, value, Number(ttlArg))
  if (index !== undefined) indexAdd(ctx, index, id, Number(ttlArg))
  return 1
}, (reply) => reply === 1)

export const sessionIndexAddScript = defineScript<true>('session-index-add', (ctx, keys, args) => {
  indexAdd(ctx, keys[0] as string, args[0] as string, Number(args[1]))
  return 1
}, () => true)

export const sessionIndexRemoveScript = defineScript<number>('session-index-remove', (ctx, keys, args) => {
  return indexRemove(ctx, keys[0] as string, args)
}, (reply) => Number(reply))

/** 1 written, 0 gone, -1 changed since read. */
export type TouchReply = 1 | 0 | -1

export const sessionTouchScript = defineScript<TouchReply>('session-touch', (ctx, keys, args) => {
  const [session, index] = keys as [string, string | undefined]
  const [id, readSha, value, ttlArg] = args as [string, string, string, string]
  const current = ctx.get(session)
  if (current === null) return 0
  if (sha1(current) !== readSha) return -1
  ctx.set(session, value, Number(ttlArg))
  if (index !== undefined) indexAdd(ctx, index, id, Number(ttlArg))
  return 1
}, (reply) => Number(reply) as TouchReply)

export const sessionListScript = defineScript<string[]>('session-list', (ctx, keys) => {
  const index = keys[0] as string
  ctx.zremRangeByScore(index, -Infinity, ctx.nowMs())
  return ctx.zrangeByScore(index, -Infinity, Infinity)
}, (reply) => (reply as unknown[]).map(String))

export const sessionRevokeScript = defineScript<number>('session-revoke', (ctx, keys, args) => {
  const [windowArg, ...ids] = args as [string, ...string[]]
  const pairs = Math.floor(keys.length / 2)
  let deleted = 0
  for (let i = 0; i < pairs; i++) {
    deleted += ctx.del(keys[2 * i] as string)
    ctx.set(keys[2 * i + 1] as string, '1', Number(windowArg))
  }
  const index = keys[2 * pairs]
  if (index !== undefined) indexRemove(ctx, index, ids)
  return deleted
}, (reply) => Number(reply))

export const sessionDeleteScript = defineScript<string | null>('session-delete', (ctx, keys, args) => {
  const [session, tombstone] = keys as [string, string]
  const value = ctx.get(session)
  ctx.del(session)
  ctx.set(tombstone, '1', Number(args[0]))
  return value
}, (reply) => reply === null || reply === undefined ? null : String(reply))

export const sessionScripts = [
  sessionSetScript, sessionIndexAddScript, sessionIndexRemoveScript, sessionTouchScript,
  sessionListScript, sessionRevokeScript, sessionDeleteScript
]
