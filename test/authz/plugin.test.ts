import { newEnforcer } from 'casbin'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY } from '../../demo/authz-policy.js'
import authzPlugin, { type AuthzPluginOptions } from '../../plugins/authz-cache.js'
import cachePlugin from '../../plugins/cache.js'
import authzRoutes from '../../routes/authz.js'
import { cachekitApp } from '../helpers/apps.js'

// The plugin on its own: guards over any decider, the subject they read, its options.

/** The plugin over `options`, on the memory store; request.user is the JSON of the x-user header. */
async function pluginApp (t: Test, options: AuthzPluginOptions): Promise<FastifyInstance> {
  return await cachekitApp(t, 'memory', {
    authz: options,
    before: (app) => {
      app.decorateRequest('user', null)
      app.addHook('onRequest', async (request) => {
        const header = request.headers['x-user']
        ;(request as { user?: unknown }).user = header === undefined ? undefined : JSON.parse(header as string)
      })
    }
  })
}

t.test('with a plain decider: default subject from request.user, role guard, no role routes', async (t) => {
  const app = await pluginApp(t, {
    decider: async (subject, resource, action) => subject === 'ann' && resource === 'docs' && action === 'read',
    roleDecider: async (subject, role) => subject === 'ann' && role === 'editor'
  })
  app.get('/docs', { preHandler: app.authz.require('docs', 'read') }, async () => 'docs')
  app.get('/edit', { preHandler: app.authz.requireRole('editor') }, async () => 'edit')
  app.get('/edit-as-header', { preHandler: app.authz.requireRole('editor', { subject: (r) => r.headers['x-as'] as string | undefined }) }, async () => 'edit')
  await app.register(authzRoutes)

  const get = async (url: string, user?: unknown, headers: Record<string, string> = {}): Promise<number> =>
    (await app.inject({ url, headers: { ...headers, ...(user === undefined ? {} : { 'x-user': JSON.stringify(user) }) } })).statusCode
  t.equal(await get('/docs', 'ann'), 200, 'a string user')
  t.equal(await get('/docs', { id: 'ann' }), 200, 'a user object with an id')
  t.equal(await get('/docs', { sub: 'ann', iss: 'https://issuer.example' }), 200, 'a JWT payload: its sub, as the rate limiter reads it')
  t.equal(await get('/docs', 'bob'), 403)
  t.equal(await get('/docs', 42), 403, 'a numeric id is a subject too')
  t.equal(await get('/docs', { name: 'ann' }), 401, 'an object without an id is nobody')
  t.equal(await get('/docs', ''), 401, 'an empty subject is nobody')
  t.equal(await get('/docs'), 401)
  t.equal(await get('/edit', 'ann'), 200)
  const denied = await app.inject({ url: '/edit', headers: { 'x-user': '"bob"' } })
  t.equal(denied.statusCode, 403)
  t.match(denied.json(), { detail: 'needs the role editor' })
  t.equal(await get('/edit-as-header', undefined, { 'x-as': 'ann' }), 200, 'a guard with its own subject getter')

  t.equal(app.authz.policy, undefined)
  const put = await app.inject({ method: 'PUT', url: '/users/ann/roles/editor' })
  t.equal(put.statusCode, 501)
  t.match(put.json(), { title: 'Not Implemented' })

  t.equal(await app.authz.check('ann', 'docs', 'read'), true)
  t.same(await app.authz.invalidateSubject('ann'), { ok: true, value: true })
  t.same(await app.authz.invalidateAll(), { ok: true, value: true })
  t.equal(app.authz.cache.allowTtl, 300)
})

t.test('a plugin-wide subject getter and options', async (t) => {
  const app = await pluginApp(t, { decider: async (subject) => subject === 'ann', subject: (r) => r.headers['x-who'] as string | undefined, allowTtl: 10, denyTtl: 5, shards: 2 })
  app.get('/x', { preHandler: app.authz.require('x', 'read') }, async () => 'x')
  t.equal((await app.inject({ url: '/x', headers: { 'x-who': 'ann' } })).statusCode, 200)
  t.equal((await app.inject({ url: '/x', headers: { 'x-who': 'bob' } })).statusCode, 403)
  t.equal(app.authz.cache.denyTtl, 5)
  t.equal(app.authz.cache.shards, 2)
})

t.test('registration refuses bad options', async (t) => {
  const register = async (options: AuthzPluginOptions): Promise<void> => {
    const app = Fastify({ logger: false })
    try {
      await app.register(cachePlugin)
      await app.register(authzPlugin, options)
      await app.ready()
    } finally {
      await app.close()
    }
  }
  await t.rejects(register({}), /either a decider or a casbin enforcer/)
  const enforcer = await newEnforcer(DEMO_AUTHZ_MODEL, DEMO_AUTHZ_POLICY)
  await t.rejects(register({ decider: async () => true, enforcer }), /either a decider or a casbin enforcer/)
  await t.rejects(register({ decider: async () => true, allowTtl: 0 }), /allowTtl/)
  await t.rejects(register({ decider: async () => true, denyTtl: 7200 }), /denyTtl/)
  await t.rejects(register({ decider: async () => true, unknown: 1 } as AuthzPluginOptions), /option/)
})
