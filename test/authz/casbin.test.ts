import { newEnforcer, type Adapter } from 'casbin'
import t from 'tap'
import { DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY } from '../../demo/authz-policy.js'
import { AuthzCache } from '../../lib/authz/authz-cache.js'
import { casbinDeciders, CasbinPolicy } from '../../lib/authz/casbin.js'
import { KeyBuilder } from '../../lib/keys.js'
import { fileRedis, storeBackends } from '../helpers/backends.js'
import { memoryStore, redisStore } from '../helpers/stores.js'
import { ComponentContext } from '../../lib/context.js'

// The casbin adapter: deciders over an Enforcer, and edits that invalidate by themselves.
for (const { name, store } of await storeBackends('authz-casbin')) {
  t.test(`casbin adapter: ${name}`, async (t) => {
    t.beforeEach(async () => { await store.clear() })
    const keys = new KeyBuilder({ prefix: 'authz-casbin' })

    const setup = async (): Promise<{ cache: AuthzCache, policy: CasbinPolicy, enforces: () => number }> => {
      const enforcer = await newEnforcer(DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY)
      const { decider, roleDecider } = casbinDeciders(enforcer)
      let enforces = 0
      const cache = new AuthzCache(new ComponentContext({ store, keys }), { decider: async (...args) => { enforces++; return await decider(...args) }, roleDecider })
      return { cache, policy: new CasbinPolicy(enforcer, cache), enforces: () => enforces }
    }

    t.test('the shipped RBAC policy, cached', async (t) => {
      const { cache, enforces } = await setup()
      t.equal(await cache.check('alice', 'payroll', 'approve'), true)
      t.equal(await cache.check('bob', 'accounts', 'read'), true)
      t.equal(await cache.check('bob', 'accounts', 'write'), false)
      t.equal(await cache.check('carol', 'accounts', 'read'), false)
      t.equal(await cache.check('role:user', 'accounts', 'read'), false, 'role subjects are refused')
      t.equal(await cache.check('bob', 'accounts', 'read'), true)
      t.equal(enforces(), 5)
      t.equal(await cache.hasRole('alice', 'admin'), true)
      t.equal(await cache.hasRole('bob', 'admin'), false)
      t.equal(await cache.hasRole('role:admin', 'admin'), false)
    })

    t.test('assignRole and revokeRole invalidate the subject', async (t) => {
      const { cache, policy } = await setup()
      t.equal(await cache.check('carol', 'accounts', 'read'), false)
      t.same(await policy.assignRole('carol', 'user'), { ok: true, value: true })
      t.equal(await cache.check('carol', 'accounts', 'read'), true)
      t.same(await policy.assignRole('carol', 'user'), { ok: true, value: false }, 'already held: nothing changed')
      t.same(await policy.revokeRole('carol', 'user'), { ok: true, value: true })
      t.equal(await cache.check('carol', 'accounts', 'read'), false)
      const posing = await policy.assignRole('role:user', 'admin')
      t.equal(!posing.ok && posing.error.code, 'INVALID_ARGUMENT')
    })

    t.test('policy edits and reload invalidate everything', async (t) => {
      const { cache, policy } = await setup()
      t.equal(await cache.check('bob', 'reports', 'read'), false)
      t.same(await policy.addPolicy('user', 'reports', 'read'), { ok: true, value: true })
      t.equal(await cache.check('bob', 'reports', 'read'), true)
      t.same(await policy.reload(), { ok: true, value: true }, 'back to the file')
      t.equal(await cache.check('bob', 'reports', 'read'), false)
      t.same(await policy.removePolicy('user', 'reports', 'read'), { ok: true, value: false })
    })
  })
}

t.test('an edit casbin refuses is an INTERNAL failure, and nothing is invalidated', async (t) => {
  // a policy database that loads but refuses every write
  const refusing: Adapter = {
    loadPolicy: async () => {},
    savePolicy: async () => { throw new Error('policy database is read-only') },
    addPolicy: async () => { throw new Error('policy database is read-only') },
    removePolicy: async () => { throw new Error('policy database is read-only') },
    removeFilteredPolicy: async () => { throw new Error('policy database is read-only') }
  }
  const enforcer = await newEnforcer(DEMO_AUTHZ_MODEL, refusing)
  const { store, close } = memoryStore('authz-casbin')
  t.teardown(close)
  const cache = new AuthzCache(new ComponentContext({ store, keys: new KeyBuilder() }), { decider: casbinDeciders(enforcer).decider })
  let invalidations = 0
  const original = cache.invalidateSubject.bind(cache)
  cache.invalidateSubject = async (subject) => { invalidations++; return await original(subject) }
  const r = await new CasbinPolicy(enforcer, cache).assignRole('ann', 'user')
  t.equal(!r.ok && r.error.code, 'INTERNAL')
  t.match(!r.ok && r.error.message, /casbin refused the policy edit: Error: policy database is read-only/)
  t.equal(invalidations, 0)
})

t.test('a custom role prefix', async (t) => {
  const enforcer = await newEnforcer(DEMO_AUTHZ_MODEL)
  await enforcer.addPolicy('group/editors', 'docs', 'write')
  const { decider, roleDecider } = casbinDeciders(enforcer, { rolePrefix: 'group/' })
  const { store, close } = await redisStore(await fileRedis(), 'authz-casbin')
  t.teardown(close)
  const cache = new AuthzCache(new ComponentContext({ store, keys: new KeyBuilder() }), { decider, roleDecider })
  const policy = new CasbinPolicy(enforcer, cache, { rolePrefix: 'group/' })
  t.same(await policy.assignRole('ann', 'editors'), { ok: true, value: true })
  t.equal(await cache.check('ann', 'docs', 'write'), true)
  t.equal(await cache.hasRole('ann', 'editors'), true)
  t.equal(await cache.check('group/editors', 'docs', 'write'), false)
})
