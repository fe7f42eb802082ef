import { fail, ok, type Result } from '../result.js'
import type { AuthzCache, Decider, RoleDecider } from './authz-cache.js'
import { PolicyLog, type PolicyEdit } from './policy-log.js'

/**
 * casbin as the decider behind an AuthzCache, and the policy edits that
 * invalidate by themselves. casbin is an optional peer dependency: this file
 * only names its types; you create the Enforcer (`newEnforcer(model, policy)`).
 *
 * Roles are casbin subjects named `<rolePrefix><role>` (default `role:admin`),
 * and a subject carrying that prefix is refused: in casbin a subject always
 * "has" the role named like itself, so without the prefix a user whose id is
 * `admin` would be an admin.
 */

/**
 * The slice of a casbin Enforcer the adapter uses, written out rather than
 * imported, so that these types compile for users who never install casbin.
 * A casbin `Enforcer` (or `SyncedEnforcer`, `CachedEnforcer`) fits it.
 */
export interface CasbinEnforcer {
  enforce (...request: unknown[]): Promise<boolean>
  getImplicitRolesForUser (name: string, ...domain: string[]): Promise<string[]>
  addRoleForUser (user: string, role: string, domain?: string): Promise<boolean>
  deleteRoleForUser (user: string, role: string, domain?: string): Promise<boolean>
  addPolicy (...params: string[]): Promise<boolean>
  removePolicy (...params: string[]): Promise<boolean>
  loadPolicy (): Promise<void>
}

export const DEFAULT_ROLE_PREFIX = 'role:'

export interface CasbinOptions {
  /** Prefix of role subjects in the policy (default `role:`). */
  rolePrefix?: string
}

export interface CasbinDeciders {
  decider: Decider
  roleDecider: RoleDecider
}

/** `check` and `hasRole` answered by the enforcer. */
export function casbinDeciders (enforcer: CasbinEnforcer, options: CasbinOptions = {}): CasbinDeciders {
  const prefix = options.rolePrefix ?? DEFAULT_ROLE_PREFIX
  return {
    decider: async (subject, resource, action) =>
      !subject.startsWith(prefix) && await enforcer.enforce(subject, resource, action),
    roleDecider: async (subject, role) =>
      !subject.startsWith(prefix) && (await enforcer.getImplicitRolesForUser(subject)).includes(prefix + role)
  }
}

/**
 * Policy edits through the enforcer that every instance agrees on. Each edit
 * is made on this enforcer, appended to the policy log in the shared store
 * (`PolicyLog`), and followed by the invalidation it needs: a role change
 * forgets the subject's decisions, a rule change forgets all. Every other
 * instance replays the log (`sync`) before it decides on a cache miss, and at
 * once when the watcher announces an edit, so a role change on one instance is
 * seen by the next check on every other. Each edit answers whether the
 * enforcer changed anything; a failure means the edit was refused: by casbin
 * (INTERNAL) or because the store could not log it (TIMEOUT/UNAVAILABLE, and
 * then this enforcer is put back as it was), or, if logged, not yet
 * invalidated everywhere (the cache retries and asks the decider meanwhile).
 *
 * Replaying calls the same enforcer methods (`addRoleForUser`…) on each
 * instance: right for a policy held in memory (a CSV file, as in the demo);
 * with a shared policy database, an adapter that saves on every edit would
 * save the replayed edit again.
 */
export class CasbinPolicy {
  readonly #enforcer: CasbinEnforcer
  readonly #cache: AuthzCache
  readonly #prefix: string
  readonly log: PolicyLog
  /** The log version this enforcer has applied. */
  #applied = 0
  /** Edits and replays, one at a time, in log order. */
  #queue: Promise<unknown> = Promise.resolve()
  /** Called with the version of each edit this instance logged (the watcher announces it). */
  onEdit: ((version: number) => void) | undefined

  constructor (enforcer: CasbinEnforcer, cache: AuthzCache, options: CasbinOptions = {}) {
    this.#enforcer = enforcer
    this.#cache = cache
    this.#prefix = options.rolePrefix ?? DEFAULT_ROLE_PREFIX
    this.log = new PolicyLog(cache.context)
  }

  /** The policy version this instance has applied. */
  get version (): number {
    return this.#applied
  }

  async assignRole (subject: string, role: string): Promise<Result<boolean>> {
    return await this.#subjectEdit(subject, { op: 'addRoleForUser', args: [subject, this.#prefix + role] })
  }

  async revokeRole (subject: string, role: string): Promise<Result<boolean>> {
    return await this.#subjectEdit(subject, { op: 'deleteRoleForUser', args: [subject, this.#prefix + role] })
  }

  /** Lets `role` do `action` on `resource` (`*` for any). */
  async addPolicy (role: string, resource: string, action: string): Promise<Result<boolean>> {
    return await this.#globalEdit({ op: 'addPolicy', args: [this.#prefix + role, resource, action] })
  }

  async removePolicy (role: string, resource: string, action: string): Promise<Result<boolean>> {
    return await this.#globalEdit({ op: 'removePolicy', args: [this.#prefix + role, resource, action] })
  }

  /** Reloads the policy from the enforcer's adapter (someone else edited it), on every instance, and forgets every decision. */
  async reload (): Promise<Result<boolean>> {
    return await this.#globalEdit({ op: 'loadPolicy', args: [] })
  }

  /**
   * Replays the edits other instances logged since this one last looked.
   * True when this enforcer is now as new as the log; false when the store
   * could not say (then a decision made now must not be cached).
   */
  async sync (): Promise<boolean> {
    return await this.#serial(async () => await this.#catchUp())
  }

  #serial<T> (work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work)
    this.#queue = next.catch(() => {})
    return next
  }

  async #catchUp (skip = 0): Promise<boolean> {
    for (;;) {
      const read = await this.log.since(this.#applied)
      if (!read.ok) return false
      const { version, edits } = read.value
      if (version < this.#applied) {
        // the log is gone (Redis flushed or replaced): back to the adapter's policy, then whatever is logged now
        await this.#enforcer.loadPolicy()
        this.#applied = 0
        continue
      }
      for (const edit of edits) {
        const n = this.#applied + 1
        // one failing replay (an edit the log lost, a refusing adapter) must not stop the others
        if (n !== skip && edit !== null) await this.#apply(edit).catch(() => false)
        this.#applied = n
      }
      if (this.#applied >= version) return true
    }
  }

  async #apply (edit: PolicyEdit): Promise<boolean> {
    const e = this.#enforcer
    const [a = '', b = '', c = ''] = edit.args
    switch (edit.op) {
      case 'addRoleForUser': return await e.addRoleForUser(a, b)
      case 'deleteRoleForUser': return await e.deleteRoleForUser(a, b)
      case 'addPolicy': return await e.addPolicy(a, b, c)
      case 'removePolicy': return await e.removePolicy(a, b, c)
      case 'loadPolicy': await e.loadPolicy(); return true
    }
  }

  /** What puts this enforcer back when the log refused an edit it made. */
  async #undo (edit: PolicyEdit): Promise<void> {
    const inverse: Partial<Record<PolicyEdit['op'], PolicyEdit['op']>> = {
      addRoleForUser: 'deleteRoleForUser', deleteRoleForUser: 'addRoleForUser', addPolicy: 'removePolicy', removePolicy: 'addPolicy'
    }
    const op = inverse[edit.op]
    if (op !== undefined) await this.#apply({ op, args: edit.args }).catch(() => false)
  }

  async #subjectEdit (subject: string, edit: PolicyEdit): Promise<Result<boolean>> {
    if (typeof subject !== 'string' || subject.startsWith(this.#prefix)) {
      return fail('INVALID_ARGUMENT', `subject must be a string not starting with ${JSON.stringify(this.#prefix)}`)
    }
    return await this.#edit(edit, () => this.#cache.invalidateSubject(subject))
  }

  async #globalEdit (edit: PolicyEdit): Promise<Result<boolean>> {
    return await this.#edit(edit, () => this.#cache.invalidateAll())
  }

  /**
   * Catches up, edits this enforcer, logs the edit, then invalidates whatever
   * the enforcer answered (invalidating too often is only a miss). The log
   * comes before the invalidation: an instance that reads the new generation
   * is sure to find the edit in the log.
   */
  async #edit (edit: PolicyEdit, invalidate: () => Promise<Result<true>>): Promise<Result<boolean>> {
    const logged = await this.#serial(async (): Promise<Result<boolean>> => {
      await this.#catchUp()
      let changed: boolean
      try {
        changed = await this.#apply(edit)
      } catch (err) {
        return fail('INTERNAL', `casbin refused the policy edit: ${String(err)}`, err)
      }
      const version = await this.log.append(edit)
      if (!version.ok) {
        if (changed) await this.#undo(edit)
        return version
      }
      // edits others logged in between are replayed now; ours is applied already
      await this.#catchUp(version.value)
      this.onEdit?.(version.value)
      return ok(changed)
    })
    if (!logged.ok) return logged
    const invalidated = await invalidate()
    return invalidated.ok ? logged : invalidated
  }
}
