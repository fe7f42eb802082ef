import { newEnforcer } from 'casbin'
import { DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY } from '../../demo/authz-policy.js'
import { AuthzCache } from '../../lib/authz/authz-cache.js'
import { casbinDeciders } from '../../lib/authz/casbin.js'
import { AUTHZ_SCRIPTS } from '../../lib/authz/scripts.js'
import { ComponentContext } from '../../lib/context.js'
import { KeyBuilder } from '../../lib/keys.js'
import { benchStore, loopThroughput, type Scenario } from '../harness.js'

/** Roles × resources of the large policy: 200 roles, each granted 10 resources, 5,000 users. */
const LARGE_ROLES = 200
const LARGE_USERS = 5000

/**
 * A cached permission check (one EVALSHA: both generations and the decision)
 * against asking casbin directly, in process, with the demo's 4-line policy and
 * with a large one, and against an uncached check (a miss every time: read
 * script, casbin, write script). The issue sets no target: the figures show
 * where caching pays (a costly decider) and where it does not (a tiny
 * in-memory policy is faster than any network round trip).
 */
export const authzCheck: Scenario = {
  name: 'authz check in-process',
  ours: 'authz.check (cached)',
  unit: 'checks/s',
  async setup (ctx) {
    const { client, store } = await benchStore(ctx.redisUrl)
    await store.loadScripts(AUTHZ_SCRIPTS)
    const small = await newEnforcer(DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY)
    const large = await newEnforcer(DEMO_AUTHZ_MODEL)
    for (let r = 0; r < LARGE_ROLES; r++) {
      for (let i = 0; i < 10; i++) await large.addPolicy(`role:r${r}`, `res${r}-${i}`, 'read')
    }
    for (let u = 0; u < LARGE_USERS; u++) await large.addRoleForUser(`user${u}`, `role:r${u % LARGE_ROLES}`)
    const keys = new KeyBuilder()
    const cached = new AuthzCache(new ComponentContext({ store, keys }), { ...casbinDeciders(large) })
    const smallDecider = casbinDeciders(small).decider
    const largeDecider = casbinDeciders(large).decider
    const uncached = new AuthzCache(new ComponentContext({ store, keys }), { decider: smallDecider })
    const options = { durationMs: ctx.durationMs, concurrency: ctx.connections }
    let n = 0
    const expectTrue = (allowed: boolean): void => { if (!allowed) throw new Error('expected an allow') }
    return {
      variants: {
        'authz.check (cached)': async () => await loopThroughput(async () => { expectTrue(await cached.check('user7', 'res7-3', 'read')) }, options),
        'casbin enforce (demo policy)': async () => await loopThroughput(async () => { expectTrue(await smallDecider('bob', 'accounts', 'read')) }, options),
        [`casbin enforce (${LARGE_ROLES * 10} rules, ${LARGE_USERS} users)`]: async () =>
          await loopThroughput(async () => { expectTrue(await largeDecider('user7', 'res7-3', 'read')) }, options),
        // a fresh action each time: every check misses, asks casbin and caches
        'authz.check uncached (miss)': async () => await loopThroughput(async () => { await uncached.check('bob', 'accounts', `read${n++}`) }, options)
      },
      close: async () => { client.disconnect() }
    }
  }
}
