import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

/**
 * A Redis script is one object with two faces: its Lua source (lua/<name>.lua),
 * run with EVALSHA on Redis, and an in-process twin that gives the same replies
 * on the memory store. The parity tests hold the twin to the Lua's answers.
 */

export type ScriptArg = string | number

/** What a twin may do to the memory store: Redis commands with Redis semantics. */
export interface ScriptContext {
  /** Milliseconds since the epoch: the memory store's stand-in for Redis TIME. */
  nowMs (): number
  get (key: string): string | null
  /** Without `ttlMs` the key persists (like SET without PX). */
  set (key: string, value: string, ttlMs?: number): void
  del (key: string): number
  exists (key: string): boolean
  /** -2 for a missing key, -1 for a key without expiry. */
  pttl (key: string): number
  pexpire (key: string, ms: number): boolean
  /** Sets an absolute expiry in epoch milliseconds. */
  pexpireat (key: string, atMs: number): boolean
  incrBy (key: string, by: number): number
  zadd (key: string, score: number, member: string): number
  zrem (key: string, member: string): number
  zscore (key: string, member: string): number | null
  zrangeByScore (key: string, min: number, max: number): string[]
  zremRangeByScore (key: string, min: number, max: number): number
  zcard (key: string): number
  /** Highest score in the set, or null when empty. */
  zmaxScore (key: string): number | null
  hget (key: string, field: string): string | null
  hset (key: string, field: string, value: string): number
  hdel (key: string, field: string): number
  hgetall (key: string): Record<string, string>
}

/** A Redis reply as Lua can produce it: integers, strings, nil, nested arrays. */
export type ScriptReply = number | string | null | ScriptReply[]

export interface Script<T> {
  readonly name: string
  readonly lua: string
  readonly sha: string
  /** Same KEYS/ARGV, same reply, against the memory store. */
  readonly twin: (ctx: ScriptContext, keys: readonly string[], args: readonly string[]) => ScriptReply
  /** Turns the raw reply into the caller's type; a throw is a SCRIPT failure. */
  readonly decode: (reply: unknown) => T
}

const LUA_DIR = new URL('../lua/', import.meta.url)

export function loadLua (name: string): string {
  return readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8')
}

export function sha1 (source: string): string {
  return createHash('sha1').update(source).digest('hex')
}

/** A script whose Lua lives in `lua/<name>.lua` (or is given as `lua`). */
export function defineScript<T> (
  name: string,
  twin: Script<T>['twin'],
  decode: Script<T>['decode'],
  lua: string = loadLua(name)
): Script<T> {
  return { name, lua, sha: sha1(lua), twin, decode }
}

/**
 * Errors a script raises on purpose start with one of our error codes
 * (`redis.error_reply('INVALID_ARGUMENT cost exceeds capacity')`), so both faces
 * can report bad input the same way.
 */
export const SCRIPT_ERROR = /^(?:ERR )?(INVALID_ARGUMENT|DECODE|ENCODE) (.*)$/s
