import { newEnforcer } from 'casbin'
import t from 'tap'
import { DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY } from '../../demo/authz-policy.js'
import { AuthzCache } from '../../lib/authz/authz-cache.js'
import { casbinDeciders, CasbinPolicy } from '../../lib/authz/casbin.js'
import { policyLogAppend, policyLogRead } from '../../lib/authz/policy-log.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import type { Store } from '../../lib/store/store.js'
import { faultyStore } from '../helpers/faulty-store.js'
import { memoryStore } from '../helpers/stores.js'

// The policy log: instances with an enforcer each, one store between them,
// agree on every edit however it reaches them, and survive a log that lost
// entries or was lost altogether.

async function instance (store: Store): Promise<{ cache: AuthzCache, policy: CasbinPolicy }> {
  const enforcer = await newEnforcer(DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY)
  const holder: { policy?: CasbinPolicy } = {}
  const cache = new AuthzCache(new ComponentContext({ store, keys: new KeyBuilder({ prefix: 'log' }) }), {
    ...casbinDeciders(enforcer),
    freshPolicy: async () => await (holder.policy as CasbinPolicy).sync()
  })
  const policy = new CasbinPolicy(enforcer, cache)
  holder.policy = policy
  return { cache, policy }
}

t.test('an edit on one instance decides the next check on another, which replays the log', async (t) => {
  const { store, close } = memoryStore('log')
  t.teardown(close)
  const a = await instance(store)
  const b = await instance(store)
  t.equal(await b.cache.check('erin', 'accounts', 'read'), false, 'b caches a deny')
  t.same(await a.policy.assignRole('erin', 'user'), { ok: true, value: true })
  t.equal(a.policy.version, 1)
  t.equal(b.policy.version, 0, 'b has not looked yet')
  t.equal(await b.cache.check('erin', 'accounts', 'read'), true, 'the next check on b replays and allows')
  t.equal(b.policy.version, 1)
  t.same(await b.policy.addPolicy('user', 'reports', 'read'), { ok: true, value: true })
  t.equal(await a.cache.check('erin', 'reports', 'read'), true, 'and the other way round')
  t.same(await a.policy.reload(), { ok: true, value: true })
  t.equal(await b.cache.check('erin', 'accounts', 'read'), false, 'a reload reaches every instance: back to the file')
})

t.test('a lost entry is skipped, a lost log starts the policy over', async (t) => {
  const { store, close } = memoryStore('log')
  t.teardown(close)
  const a = await instance(store)
  const b = await instance(store)
  await a.policy.assignRole('fay', 'user')
  // an entry nobody can read: the version moves on, the bad entry is skipped
  const keys = ['log:authz:{authz-policy}:v', 'log:authz:{authz-policy}:log']
  t.same(await store.runScript(policyLogAppend, keys, ['not json']), { ok: true, value: 2 })
  t.equal(await b.policy.sync(), true)
  t.equal(b.policy.version, 2)
  t.equal(await b.cache.hasRole('fay', 'user'), true)
  // a version with no entry behind it (an entry lost): skipped as well
  t.same(await store.increment(keys[0] as string), { ok: true, value: 3 })
  t.equal(await b.policy.sync(), true)
  t.equal(b.policy.version, 3)
  // the store is emptied (a flushed Redis): each instance goes back to its adapter's policy
  await store.clear()
  t.equal(await b.policy.sync(), true)
  t.equal(b.policy.version, 0)
  t.equal(await b.cache.hasRole('fay', 'user'), false)
})

t.test('the log decodes only well-formed edits', async (t) => {
  const read = policyLogRead.decode([5, '', 'x', '{"op":"nope","args":[]}', '{"op":"addPolicy","args":"x"}', '{"op":"addPolicy","args":[1]}', '{"op":"addPolicy","args":["a","b","c"]}'])
  t.same(read, { version: 5, edits: [null, null, null, null, null, { op: 'addPolicy', args: ['a', 'b', 'c'] }] })
  t.throws(() => policyLogRead.decode('x'), /expected \[version/)
  t.throws(() => policyLogAppend.decode('x'), /expected an integer/)
})

t.test('a store that cannot be read: the answer comes from the local policy and is not cached', async (t) => {
  const { store, close } = memoryStore('log')
  t.teardown(close)
  const a = await instance(store)
  const faults = faultyStore(t, store)
  faults.fail('UNAVAILABLE', { only: ['runScript'] })
  t.equal(await a.policy.sync(), false)
  t.equal(await a.cache.check('bob', 'accounts', 'read'), true)
  // an edit logged, whose invalidation then fails: the edit stands, the failure is answered
  faults.heal()
  faults.fail('UNAVAILABLE', { only: ['set'] })
  const edit = await a.policy.assignRole('gus', 'user')
  t.equal(!edit.ok && edit.error.code, 'UNAVAILABLE')
  faults.heal()
  t.equal(await a.cache.check('gus', 'accounts', 'read'), true)
})
