import type { ComponentContext } from '../context.js'
import { KEY_NAMESPACES } from '../namespaces.js'
import { ok, type Result, type Success } from '../result.js'
import { defineScript } from '../scripts.js'
import type { Store } from '../store/store.js'

/**
 * The policy log: every casbin edit made through `CasbinPolicy`, numbered, in
 * the store every instance shares. Each instance replays the edits it has not
 * applied yet before it decides on a cache miss, so no instance caches a
 * decision made with a policy older than the newest edit it could have seen;
 * the watcher (pub/sub) only makes the others replay sooner.
 */

export type PolicyEditOp = 'addRoleForUser' | 'deleteRoleForUser' | 'addPolicy' | 'removePolicy' | 'loadPolicy'

export interface PolicyEdit {
  op: PolicyEditOp
  args: string[]
}

const OPS = new Set<string>(['addRoleForUser', 'deleteRoleForUser', 'addPolicy', 'removePolicy', 'loadPolicy'])

export interface LogRead {
  /** How many edits the log holds. */
  version: number
  /** The edits after the caller's version, in order (null for one the log lost). */
  edits: Array<PolicyEdit | null>
}

function parseEdit (text: unknown): PolicyEdit | null {
  if (typeof text !== 'string' || text === '') return null
  try {
    const edit = JSON.parse(text) as PolicyEdit
    return OPS.has(edit.op) && Array.isArray(edit.args) && edit.args.every((a) => typeof a === 'string') ? edit : null
  } catch {
    return null
  }
}

export const policyLogAppend = defineScript<number>(
  'authz-log-append',
  (ctx, keys, args) => {
    const [versionKey, logKey] = keys as [string, string]
    const n = ctx.incrBy(versionKey, 1)
    ctx.hset(logKey, String(n), args[0] as string)
    return n
  },
  (reply) => {
    if (typeof reply !== 'number') throw new Error('expected an integer')
    return reply
  }
)

export const policyLogRead = defineScript<LogRead>(
  'authz-log-read',
  (ctx, keys, args) => {
    const [versionKey, logKey] = keys as [string, string]
    const version = Number(ctx.get(versionKey) ?? '0')
    const from = Number(args[0])
    const last = Math.min(version, from + Number(args[1]))
    const reply: Array<number | string> = [version]
    for (let i = from + 1; i <= last; i++) reply.push(ctx.hget(logKey, String(i)) ?? '')
    return reply
  },
  (reply) => {
    if (!Array.isArray(reply) || typeof reply[0] !== 'number') throw new Error('expected [version, …edits]')
    return { version: reply[0], edits: reply.slice(1).map(parseEdit) }
  }
)

export const POLICY_LOG_SCRIPTS = [policyLogAppend, policyLogRead]

/** Edits per read when catching up. */
const PAGE = 100

export class PolicyLog {
  readonly #store: Store
  readonly #keys: [string, string]
  /** The pub/sub channel edits are announced on (the version key's name). */
  readonly channel: string

  constructor (context: ComponentContext) {
    this.#store = context.store
    const key = (part: string): string => (context.keys.tagged(KEY_NAMESPACES.authz, 'authz-policy', part) as Success<string>).value
    this.#keys = [key('v'), key('log')]
    this.channel = this.#keys[0]
  }

  async append (edit: PolicyEdit): Promise<Result<number>> {
    return await this.#store.runScript(policyLogAppend, this.#keys, [JSON.stringify(edit)])
  }

  async since (applied: number): Promise<Result<LogRead>> {
    const read = await this.#store.runScript(policyLogRead, this.#keys, [applied, PAGE])
    return read.ok ? ok(read.value) : read
  }
}
