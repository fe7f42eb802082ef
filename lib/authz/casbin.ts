import { fail, ok, type Result } from '../result.js'
import type { AuthzCache, Decider, RoleDecider } from './authz-cache.js'

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
 * Policy edits through the enforcer, each followed by the invalidation it
 * needs: a role change forgets the subject's decisions, a rule change forgets
 * all. Each answers whether the enforcer changed anything; a failure means the
 * edit was refused or, if the code is TIMEOUT/UNAVAILABLE, made but not yet
 * invalidated everywhere (the cache retries and asks the decider meanwhile).
 *
 * The enforcer's policy is per process: instances sharing a Redis must also
 * share the policy (a casbin database adapter, reloaded with `reload()` or a
 * casbin watcher) — the cache guarantees that no decision made before an
 * invalidation is served after it, not that every enforcer is up to date.
 */
export class CasbinPolicy {
  readonly #enforcer: CasbinEnforcer
  readonly #cache: AuthzCache
  readonly #prefix: string

  constructor (enforcer: CasbinEnforcer, cache: AuthzCache, options: CasbinOptions = {}) {
    this.#enforcer = enforcer
    this.#cache = cache
    this.#prefix = options.rolePrefix ?? DEFAULT_ROLE_PREFIX
  }

  async assignRole (subject: string, role: string): Promise<Result<boolean>> {
    return await this.#subjectEdit(subject, () => this.#enforcer.addRoleForUser(subject, this.#prefix + role))
  }

  async revokeRole (subject: string, role: string): Promise<Result<boolean>> {
    return await this.#subjectEdit(subject, () => this.#enforcer.deleteRoleForUser(subject, this.#prefix + role))
  }

  /** Lets `role` do `action` on `resource` (`*` for any). */
  async addPolicy (role: string, resource: string, action: string): Promise<Result<boolean>> {
    return await this.#globalEdit(() => this.#enforcer.addPolicy(this.#prefix + role, resource, action))
  }

  async removePolicy (role: string, resource: string, action: string): Promise<Result<boolean>> {
    return await this.#globalEdit(() => this.#enforcer.removePolicy(this.#prefix + role, resource, action))
  }

  /** Reloads the policy from the enforcer's adapter (someone else edited it) and forgets every decision. */
  async reload (): Promise<Result<boolean>> {
    return await this.#globalEdit(async () => { await this.#enforcer.loadPolicy(); return true })
  }

  async #subjectEdit (subject: string, edit: () => Promise<boolean>): Promise<Result<boolean>> {
    if (typeof subject !== 'string' || subject.startsWith(this.#prefix)) {
      return fail('INVALID_ARGUMENT', `subject must be a string not starting with ${JSON.stringify(this.#prefix)}`)
    }
    return await this.#edit(edit, () => this.#cache.invalidateSubject(subject))
  }

  async #globalEdit (edit: () => Promise<boolean>): Promise<Result<boolean>> {
    return await this.#edit(edit, () => this.#cache.invalidateAll())
  }

  /** Edits, then invalidates whatever the enforcer answered: invalidating too often is only a miss. */
  async #edit (edit: () => Promise<boolean>, invalidate: () => Promise<Result<true>>): Promise<Result<boolean>> {
    let changed: boolean
    try {
      changed = await edit()
    } catch (err) {
      return fail('INTERNAL', `casbin refused the policy edit: ${String(err)}`, err)
    }
    const invalidated = await invalidate()
    return invalidated.ok ? ok(changed) : invalidated
  }
}
