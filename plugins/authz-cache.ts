import { Type, type Static } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AuthzCache, DEFAULT_ALLOW_TTL, DEFAULT_DENY_TTL, MAX_DECISION_TTL, MAX_SHARDS, type Decider, type RoleDecider } from '../lib/authz/authz-cache.js'
import { casbinDeciders, CasbinPolicy, DEFAULT_ROLE_PREFIX, type CasbinEnforcer } from '../lib/authz/casbin.js'
import { POLICY_LOG_SCRIPTS } from '../lib/authz/policy-log.js'
import { PolicyWatcher } from '../lib/authz/policy-watcher.js'
import type { RedisStore } from '../lib/store/redis-store.js'
import { checkOptions, WarnIntervalOptionSchema } from '../lib/options.js'
import { problem, sendProblem } from '../lib/problem.js'
import { userIdOf } from '../lib/request-user.js'
import type { Result } from '../lib/result.js'

// This file is the `fastify-cachekit/authz-cache` entry point: the plugin and what its users need.
export * from '../lib/public/common.js'
export { AuthzCache, DEFAULT_ALLOW_TTL, DEFAULT_DENY_TTL, MAX_DECISION_TTL, type AuthzCacheOptions, type Decider, type RoleDecider } from '../lib/authz/authz-cache.js'
export { userIdOf } from '../lib/request-user.js'
export { casbinDeciders, CasbinPolicy, DEFAULT_ROLE_PREFIX, type CasbinDeciders, type CasbinEnforcer, type CasbinOptions } from '../lib/authz/casbin.js'

/** Reads the acting subject from a request; undefined when nobody is authenticated. */
export type SubjectGetter = (request: FastifyRequest) => string | undefined

export interface GuardOptions {
  /** Overrides the plugin's subject getter for this guard. */
  subject?: SubjectGetter
}

export type AuthzGuard = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>

export interface Authz {
  /** The lib object: TTLs, metrics, `decisionKey`. */
  readonly cache: AuthzCache
  /** casbin policy edits that invalidate by themselves; undefined when the plugin was given a plain decider. */
  readonly policy: CasbinPolicy | undefined
  check (subject: string, resource: string, action: string): Promise<boolean>
  hasRole (subject: string, role: string): Promise<boolean>
  invalidateSubject (subject: string): Promise<Result<true>>
  invalidateAll (): Promise<Result<true>>
  /** A preHandler: 401 without a subject, 403 unless the subject may do `action` on `resource`. */
  require (resource: string, action: string, options?: GuardOptions): AuthzGuard
  /** A preHandler: 401 without a subject, 403 unless the subject holds `role`. */
  requireRole (role: string, options?: GuardOptions): AuthzGuard
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Cached permission checks, invalidation, route guards. */
    authz: Authz
  }
}

export const AuthzPluginOptionsSchema = Type.Object({
  allowTtl: Type.Optional(Type.Number({ default: DEFAULT_ALLOW_TTL, exclusiveMinimum: 0, maximum: MAX_DECISION_TTL, description: 'seconds an allow is cached' })),
  denyTtl: Type.Optional(Type.Number({ default: DEFAULT_DENY_TTL, exclusiveMinimum: 0, maximum: MAX_DECISION_TTL, description: 'seconds a deny is cached' })),
  shards: Type.Optional(Type.Integer({ default: 1, minimum: 1, maximum: MAX_SHARDS, description: 'hash-tag groups (Cluster slots) the decisions spread over' })),
  rolePrefix: Type.Optional(Type.String({ default: DEFAULT_ROLE_PREFIX, minLength: 1, description: 'prefix of role subjects in the casbin policy' })),
  warnIntervalMs: WarnIntervalOptionSchema
}, { additionalProperties: false })

export type AuthzPluginOptions = Static<typeof AuthzPluginOptionsSchema> & {
  /** Answers permission checks; give this or `enforcer`. */
  decider?: Decider
  /** Answers `hasRole`/`requireRole` next to a plain decider (default: no roles). */
  roleDecider?: RoleDecider
  /** A casbin Enforcer: decides, and `fastify.authz.policy` edits it. */
  enforcer?: CasbinEnforcer
  /** Default: `userSubject`, the user's `id`, else its `sub`, else `request.user` itself when a string or number. */
  subject?: SubjectGetter
}

type Resolved = Required<Omit<Static<typeof AuthzPluginOptionsSchema>, 'warnIntervalMs'>> & Pick<Static<typeof AuthzPluginOptionsSchema>, 'warnIntervalMs'>

/** `request.user` as a subject (see `userIdOf`): its `id`, else its `sub`, else the user itself when a string or number. */
export const userSubject: SubjectGetter = (request) => userIdOf((request as { user?: unknown }).user)

export default fp<AuthzPluginOptions>(async function cachekitAuthz (fastify, options) {
  const { decider, roleDecider, enforcer, subject, ...rest } = options
  const opts = checkOptions(AuthzPluginOptionsSchema, rest, 'cachekit-authz') as Resolved
  if ((decider === undefined) === (enforcer === undefined)) {
    throw new TypeError('cachekit-authz: give either a decider or a casbin enforcer')
  }
  const deciders = enforcer === undefined ? { decider: decider as Decider, roleDecider } : casbinDeciders(enforcer, { rolePrefix: opts.rolePrefix })
  // with casbin, every instance replays the shared policy log before it decides on a miss
  let policy: CasbinPolicy | undefined
  const cache = new AuthzCache(fastify.cache.context.withWarnInterval(opts.warnIntervalMs), {
    ...deciders,
    allowTtl: opts.allowTtl,
    denyTtl: opts.denyTtl,
    shards: opts.shards,
    ...(enforcer !== undefined ? { freshPolicy: async () => await (policy as CasbinPolicy).sync() } : {})
  })
  // a failure here is fine: EVALSHA reloads a script on NOSCRIPT
  await cache.loadScripts()
  if (enforcer !== undefined) {
    policy = new CasbinPolicy(enforcer, cache, { rolePrefix: opts.rolePrefix })
    await fastify.cache.store.loadScripts(POLICY_LOG_SCRIPTS)
    const store = fastify.cache.store
    if (store.kind === 'redis') {
      const synced = policy
      const watcher = new PolicyWatcher((store as RedisStore).client, policy.log.channel, () => { synced.sync().catch(() => {}) })
      policy.onEdit = (version) => { watcher.announce(version) }
      await watcher.start()
      fastify.addHook('onClose', async () => { watcher.close() })
    }
    // edits made before this instance started
    await policy.sync()
  }

  const defaultSubject = subject ?? userSubject
  const guard = (decide: (subject: string) => Promise<boolean>, denied: string, guardOptions: GuardOptions): AuthzGuard => {
    const getSubject = guardOptions.subject ?? defaultSubject
    return async (request, reply) => {
      const who = getSubject(request)
      if (who === undefined || who === '') return sendProblem(reply, problem('UNAUTHORIZED', 'this route needs an authenticated subject', request.url))
      if (!(await decide(who))) return sendProblem(reply, problem('FORBIDDEN', denied, request.url))
      return undefined
    }
  }

  fastify.decorate('authz', {
    cache,
    policy,
    check: async (who, resource, action) => await cache.check(who, resource, action),
    hasRole: async (who, role) => await cache.hasRole(who, role),
    invalidateSubject: async (who) => await cache.invalidateSubject(who),
    invalidateAll: async () => await cache.invalidateAll(),
    require: (resource, action, guardOptions = {}) =>
      guard(async (who) => await cache.check(who, resource, action), `not allowed to ${action} ${resource}`, guardOptions),
    requireRole: (role, guardOptions = {}) =>
      guard(async (who) => await cache.hasRole(who, role), `needs the role ${role}`, guardOptions)
  } satisfies Authz)
}, {
  fastify: '5.x',
  name: 'cachekit-authz',
  dependencies: ['cachekit-cache'],
  decorators: { fastify: ['cache'] }
})
