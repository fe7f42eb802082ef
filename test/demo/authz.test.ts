import { newEnforcer } from 'casbin'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY } from '../../demo/authz-policy.js'
import { BACKENDS, fileRedis } from '../helpers/backends.js'
import { demoApp } from '../helpers/demo.js'
import { faultyStore } from '../helpers/faulty-store.js'

// The demo's authorization, on Redis and in memory: the guards, the role
// routes, and two instances sharing one Redis.
const redis = await fileRedis()

const check = async (app: FastifyInstance, userId: string, resource: string, action: string): Promise<boolean> => {
  const res = await app.inject({ method: 'POST', url: '/authz/check', payload: { userId, resource, action } })
  return (res.json() as { allowed: boolean }).allowed
}

for (const backend of BACKENDS) {
  t.test(`demo app: ${backend}`, async (t) => {
    const app = await demoApp(t, backend)
    t.beforeEach(async () => { await app.cache.store.clear() })

    t.test('POST /authz/check follows the shipped policy', async (t) => {
      t.equal(await check(app, 'alice', 'anything', 'delete'), true, 'admin may do anything')
      t.equal(await check(app, 'bob', 'accounts', 'read'), true, 'user may read accounts')
      t.equal(await check(app, 'bob', 'accounts', 'write'), false)
      t.equal(await check(app, 'bob', 'reports', 'read'), false)
      t.equal(await check(app, 'carol', 'accounts', 'read'), false, 'no role, nothing')
      t.equal(await check(app, 'role:admin', 'accounts', 'read'), false, 'a subject cannot pose as a role')
      t.equal(await check(app, 'bob', 'accounts', 'read'), true)
      t.match(app.cacheMetrics.stats('authz'), { hits: 1 })
    })

    t.test('POST /authz/check refuses bad input with a 400', async (t) => {
      const res = await app.inject({ method: 'POST', url: '/authz/check', payload: { userId: 'bob', resource: 'accounts' } })
      t.equal(res.statusCode, 400)
      t.match(res.json(), { code: 'INVALID_ARGUMENT', detail: 'body.action: is required' })
      const control = await app.inject({ method: 'POST', url: '/authz/check', payload: { userId: 'bob\n', resource: 'accounts', action: 'read' } })
      t.equal(control.statusCode, 400, 'control characters are refused')
    })

    t.test('the guarded route answers 200, 403 and 401 as the policy says', async (t) => {
      const ok = await app.inject({ url: '/accounts/7', headers: { 'x-user-id': 'bob' } })
      t.equal(ok.statusCode, 200)
      t.same(ok.json(), { id: '7', owner: 'demo', balance: 0 })
      const denied = await app.inject({ url: '/accounts/7', headers: { 'x-user-id': 'carol' } })
      t.equal(denied.statusCode, 403)
      t.match(denied.headers['content-type'], /^application\/problem\+json/)
      t.same(denied.json(), { type: 'about:blank', title: 'Forbidden', status: 403, detail: 'not allowed to read accounts', instance: '/accounts/7', code: 'FORBIDDEN' })
      const anonymous = await app.inject({ url: '/accounts/7' })
      t.equal(anonymous.statusCode, 401)
      t.match(anonymous.json(), { title: 'Unauthorized', status: 401, code: 'UNAUTHORIZED' })
    })

    t.test('assigning and revoking a role changes the very next check', async (t) => {
      t.equal((await app.inject({ url: '/accounts/1', headers: { 'x-user-id': 'carol' } })).statusCode, 403)
      const put = await app.inject({ method: 'PUT', url: '/users/carol/roles/user' })
      t.equal(put.statusCode, 204)
      t.equal((await app.inject({ url: '/accounts/1', headers: { 'x-user-id': 'carol' } })).statusCode, 200)
      t.equal(await app.authz.hasRole('carol', 'user'), true)
      const del = await app.inject({ method: 'DELETE', url: '/users/carol/roles/user' })
      t.equal(del.statusCode, 204)
      t.equal((await app.inject({ url: '/accounts/1', headers: { 'x-user-id': 'carol' } })).statusCode, 403)
      t.equal(await app.authz.hasRole('carol', 'user'), false)
    })

    t.test('role routes refuse a subject posing as a role, and bad role names', async (t) => {
      const res = await app.inject({ method: 'PUT', url: '/users/role:admin/roles/admin' })
      t.equal(res.statusCode, 400)
      t.match(res.json(), { title: 'Bad Request', status: 400, detail: /role:/, code: 'INVALID_ARGUMENT' })
      t.equal((await app.inject({ method: 'PUT', url: '/users/carol/roles/ad%20min' })).statusCode, 400)
    })

    t.test('a policy edit (invalidateAll) shows in the next check', async (t) => {
      const policy = app.authz.policy
      if (policy === undefined) throw new Error('the demo has a casbin policy')
      t.equal(await check(app, 'bob', 'accounts', 'write'), false)
      t.same(await policy.addPolicy('user', 'accounts', 'write'), { ok: true, value: true })
      t.equal(await check(app, 'bob', 'accounts', 'write'), true)
      t.same(await policy.removePolicy('user', 'accounts', 'write'), { ok: true, value: true })
      t.equal(await check(app, 'bob', 'accounts', 'write'), false)
    })
  })
}

t.test('two instances sharing a Redis and a policy', async (t) => {
  // the enforcer stands for a policy both instances read (in production, a casbin database adapter)
  const enforcer = await newEnforcer(DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY)
  const one = await demoApp(t, 'redis', {}, { authzEnforcer: enforcer })
  const two = await demoApp(t, 'redis', {}, { authzEnforcer: enforcer })
  await redis.flush()

  t.equal(await check(two, 'dave', 'accounts', 'read'), false, 'instance two caches a deny')
  t.equal(await check(two, 'dave', 'accounts', 'read'), false)
  t.equal((await one.inject({ method: 'PUT', url: '/users/dave/roles/user' })).statusCode, 204)
  t.equal(await check(two, 'dave', 'accounts', 'read'), true, 'the very next check on instance two sees the role')
  t.equal(await check(two, 'dave', 'accounts', 'read'), true)
  t.equal((await one.inject({ method: 'DELETE', url: '/users/dave/roles/user' })).statusCode, 204)
  t.equal(await check(two, 'dave', 'accounts', 'read'), false, 'and the revocation')

  t.equal(await check(two, 'bob', 'reports', 'read'), false)
  await one.authz.policy?.addPolicy('user', 'reports', 'read')
  t.equal(await check(two, 'bob', 'reports', 'read'), true, 'a policy edit on one instance shows on the other')
  await one.authz.policy?.removePolicy('user', 'reports', 'read')
  t.equal(await check(two, 'bob', 'reports', 'read'), false)
})

t.test('with the store failing the demo answers from casbin, and role edits answer 503', async (t) => {
  const app = await demoApp(t, 'memory')
  faultyStore(t, app.cache.store).fail('UNAVAILABLE')
  t.equal(await check(app, 'bob', 'accounts', 'read'), true)
  t.equal(await check(app, 'bob', 'accounts', 'write'), false)
  t.equal(await check(app, 'carol', 'accounts', 'read'), false)
  t.equal((await app.inject({ url: '/accounts/1', headers: { 'x-user-id': 'bob' } })).statusCode, 200)
  t.equal((await app.inject({ url: '/accounts/1', headers: { 'x-user-id': 'carol' } })).statusCode, 403)
  const put = await app.inject({ method: 'PUT', url: '/users/carol/roles/user' })
  t.equal(put.statusCode, 503, 'the edit cannot be logged for the other instances: refused')
  t.match(put.json(), { status: 503, title: 'Service Unavailable', code: 'AUTHZ_UNAVAILABLE', detail: 'The authorization cache is unavailable; try again later.' })
  t.equal(await check(app, 'carol', 'accounts', 'read'), false, 'and undone here, so the instances still agree')
  t.ok(app.cacheMetrics.stats('authz').degraded >= 6, 'degraded answers are counted')
})
