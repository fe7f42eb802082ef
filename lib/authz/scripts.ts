import { defineScript, type ScriptContext } from '../scripts.js'

/** The two scripts behind the decision cache (see lua/authz-read.lua and lua/authz-write.lua). */

export type ReadReply =
  | { hit: true, allowed: boolean }
  /** The generations the read saw ('' for none): the write that follows must still see them. */
  | { hit: false, global: string, subject: string }

function isString (value: unknown): value is string {
  return typeof value === 'string'
}

export const authzRead = defineScript<ReadReply>(
  'authz-read',
  (ctx, keys) => {
    const [globalKey, subjectKey, decisionKey] = keys as [string, string, string]
    const g = ctx.get(globalKey)
    const s = ctx.get(subjectKey)
    if (g !== null && s !== null) {
      const d = ctx.get(decisionKey)
      const tag = `${g}:${s}:`
      if (d !== null && d.length === tag.length + 1 && d.startsWith(tag)) return ['hit', d.slice(-1)]
    }
    return ['miss', g ?? '', s ?? '']
  },
  (reply) => {
    if (!Array.isArray(reply) || !reply.every(isString)) throw new Error('expected an array of strings')
    if (reply[0] === 'hit' && reply.length === 2) return { hit: true, allowed: reply[1] === '1' }
    if (reply[0] === 'miss' && reply.length === 3) return { hit: false, global: reply[1] as string, subject: reply[2] as string }
    throw new Error(`unknown reply ${JSON.stringify(reply)}`)
  }
)

/** Creates the generation when the read saw none, else keeps it alive as long as the decision. */
function keepGeneration (ctx: ScriptContext, key: string, current: string | null, fresh: string, ttlMs: number, genTtlMs: number): string {
  if (current === null) {
    ctx.set(key, fresh, genTtlMs)
    return fresh
  }
  if (ctx.pttl(key) < ttlMs) ctx.pexpire(key, genTtlMs)
  return current
}

export const authzWrite = defineScript<boolean>(
  'authz-write',
  (ctx, keys, args) => {
    const [globalKey, subjectKey, decisionKey] = keys as [string, string, string]
    const [seenGlobal, seenSubject, allowed, ttl, freshGlobal, freshSubject, genTtl] = args as [string, string, string, string, string, string, string]
    const g = ctx.get(globalKey)
    const s = ctx.get(subjectKey)
    if ((g ?? '') !== seenGlobal || (s ?? '') !== seenSubject) return 0
    const ttlMs = Number(ttl)
    const genTtlMs = Number(genTtl)
    const global = keepGeneration(ctx, globalKey, g, freshGlobal, ttlMs, genTtlMs)
    const subject = keepGeneration(ctx, subjectKey, s, freshSubject, ttlMs, genTtlMs)
    ctx.set(decisionKey, `${global}:${subject}:${allowed}`, ttlMs)
    return 1
  },
  (reply) => {
    if (reply !== 0 && reply !== 1) throw new Error('expected 0 or 1')
    return reply === 1
  }
)

export const AUTHZ_SCRIPTS = [authzRead, authzWrite]
